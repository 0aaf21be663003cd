"""Randomised chains of region steps on Dask against NumPy, forward and transposed.

Each example draws a random program: a pool of values grown by strided slices (negative
steps included), reversals, transposes, zero pads with interior padding, slice updates
and slice accumulations (``=``, ``+=``, ``-=``) whose updates cross block boundaries,
products, quotients and masks with constants of lower rank and with length-1 axes,
conjugates, real parts, sums of two values; now and then a step with no region rule (an
FFT, a cumulative sum, a roll, a matrix product, a gather) reads a value in the middle,
and the program returns several values (intermediates among them). The program then runs
on Dask arrays cut into random (uneven, unit-length) blocks and must give what the NumPy
executor gives; so must its transpose and its batched forms (leading and trailing batch
axis). ``LINOP_FUZZ_EXAMPLES`` sets the number of examples (default 150);
``LINOP_FUZZ_TABLE=1`` runs every program of the shared table (default: one in twenty).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import linop
from linop.batching import batch_columns, batch_program
from linop.primitives.slice import pad

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

EXAMPLES = int(os.environ.get("LINOP_FUZZ_EXAMPLES", "150"))


def _random_chunks(rng, shape):
    """Random blocks along each axis: uneven, often of length 1."""
    chunks = []
    for n in shape:
        if n == 0:
            chunks.append((0,))
            continue
        sizes, left = [], n
        while left:
            s = int(rng.choice([1, 1, 2, 3, 5, 7, n]))
            s = min(s, left)
            sizes.append(s)
            left -= s
        chunks.append(tuple(sizes))
    return tuple(chunks)


def _random_slice(rng, n):
    """A non-empty basic slice of a length-``n`` axis, steps of either sign up to beyond a block."""
    step = int(rng.choice([1, 1, 2, 3, 4, 9, -1, -2, -3, -7]))
    while True:
        a, b = sorted(int(v) for v in rng.integers(0, n + 1, 2))
        if b > a:
            break
    if rng.random() < 0.2:
        a, b = 0, n
    if step > 0:
        return slice(a, b, step)
    return slice(b - 1, a - 1 if a > 0 else None, step)


def _random_constant(rng, shape, dtype, kind):
    """A constant that broadcasts to ``shape``: of lower rank, with length-1 axes."""
    rank = int(rng.integers(0, len(shape) + 1))
    cshape = tuple(1 if rng.random() < 0.3 else n for n in shape[len(shape) - rank:])
    if kind == "mask":
        return rng.random(cshape) > 0.4
    c = rng.standard_normal(cshape) + 1.5
    if np.issubdtype(dtype, np.complexfloating) and rng.random() < 0.5:
        c = c + 1j * rng.standard_normal(cshape)
    return c.astype(dtype)


class _Recipe:
    """A random program written in NumPy: replayed on tracers by ``linop.trace``."""

    def __init__(self, rng):
        self.rng = rng
        self.steps = [self._draw() for _ in range(int(rng.integers(2, 15)))]

    def _draw(self):
        r = self.rng
        kind = r.choice(["slice", "rev", "transpose", "pad", "mul", "div", "mask", "neg",
                         "conj", "add", "update", "update", "accumulate", "other"],)
        return kind, int(r.integers(1 << 30))

    def __call__(self, x):
        pool = [x]
        for kind, seed in self.steps:
            rng = np.random.default_rng(seed)
            v = pool[-1] if rng.random() < 0.6 else pool[int(rng.integers(len(pool)))]
            made = self._step(rng, kind, v, pool)
            if made is not None and made.size and made.ndim:
                pool.append(made)
        picks = np.random.default_rng(len(self.steps)).permutation(len(pool) - 1)[:2] + 1
        outs = [pool[-1]] + [pool[int(k)] for k in picks if k != len(pool) - 1]
        return tuple(o * 1 if o is x else o for o in outs)

    def _step(self, rng, kind, v, pool):
        dtype = np.dtype(v.dtype)
        if kind == "slice":
            return v[tuple(_random_slice(rng, n) for n in v.shape)]
        if kind == "rev":
            return np.flip(v, axis=int(rng.integers(v.ndim)))
        if kind == "transpose":
            return np.transpose(v, rng.permutation(v.ndim))
        if kind == "pad":
            lo, hi, interior = (tuple(int(i) for i in rng.integers(0, 4, v.ndim)) for _ in "lhi")
            return pad(v, lo, hi, interior)
        if kind in ("mul", "div"):
            c = _random_constant(rng, v.shape, dtype, kind)
            return v * c if kind == "mul" else v / c
        if kind == "mask":
            return np.where(_random_constant(rng, v.shape, dtype, "mask"), v, 0)
        if kind == "neg":
            return -v
        if kind == "conj":
            if np.issubdtype(dtype, np.complexfloating):
                return v.conj() if rng.random() < 0.5 else v.real * 1
            return v.astype(np.complex128 if dtype == np.float64 else np.complex64) * (1 - 2j)
        if kind == "add":
            w = _same_shape(rng, v, pool)
            return v + w if rng.random() < 0.5 else v - w
        if kind in ("update", "accumulate"):
            return _updated(rng, kind, v, pool)
        return _other(rng, v)


def _same_shape(rng, v, pool):
    """A value of ``v``'s shape: from the pool (reversed, cut) or ``v`` itself."""
    for w in rng.permutation(len(pool)):
        w = pool[int(w)]
        if w.ndim == v.ndim and all(m >= n for m, n in zip(w.shape, v.shape)):
            offsets = [int(rng.integers(0, m - n + 1)) for m, n in zip(w.shape, v.shape)]
            part = w[tuple(slice(o, o + n) for o, n in zip(offsets, v.shape))]
            return part[::-1] if rng.random() < 0.3 else part
    return v[tuple(slice(None, None, -1) for _ in v.shape)]


def _updated(rng, kind, v, pool):
    """A copy of ``v`` with a random strided slice set (or added to, subtracted from)."""
    index = tuple(_random_slice(rng, n) for n in v.shape)
    y = v * 1  # a fresh copy on tracers
    target = y[index]
    src = _same_shape(rng, target, pool)
    if np.issubdtype(src.dtype, np.complexfloating) and not np.issubdtype(y.dtype,
                                                                           np.complexfloating):
        src = src.real
    if kind == "update":
        y[index] = src
    elif rng.random() < 0.5:
        y[index] += src
    else:
        y[index] -= src
    return y


def _other(rng, v):
    """A step with no region rule: its input is a segment's output, its output a segment's input."""
    axis = int(rng.integers(v.ndim))
    choice = int(rng.integers(5))
    if choice == 0:
        return np.fft.fft(v, axis=axis)
    if choice == 1:
        return np.cumsum(v, axis=axis)
    if choice == 2:
        return np.roll(v, int(rng.integers(-3, 4)), axis=axis)
    if choice == 3:
        n = v.shape[-1]
        return v @ rng.standard_normal((n, int(rng.integers(1, 5)))).astype(v.dtype)
    order = rng.integers(0, v.shape[axis], v.shape[axis] + 1)
    return np.take(v, order, axis=axis)


def _tolerance(*dtypes):
    """Rounding allowed: loose where any of ``dtypes`` is single precision."""
    return 2e-4 if any(np.dtype(d) in (np.float32, np.complex64) for d in dtypes) else 1e-10


def _close(got, want, dtype, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, what
    scale = max(1.0, float(np.max(np.abs(want), initial=0)))
    tol = _tolerance(dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale,
                               err_msg=what)


def _random_array(rng, shape, dtype):
    x = rng.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def _on_dask(program, args, rng, packed=False):
    """``program`` on Dask copies of ``args`` in random blocks (one tuple argument if
    ``packed``), computed; and whether any of its tasks ran a region chain."""
    lazy = [da.from_array(a, chunks=_random_chunks(rng, a.shape)) for a in args]
    outs = program(tuple(lazy)) if packed else program(*lazy)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    regions = any(isinstance(k, tuple) and "region" in str(k[0])
                  for o in outs for k in dict(o.__dask_graph__()))
    return list(dask.compute(*outs)), regions


def _as_list(outs):
    return list(outs) if isinstance(outs, (list, tuple)) else [outs]


SHAPES = [(1,), (7,), (13,), (29,), (1, 7), (6, 1), (5, 9), (8, 11), (14, 17), (1, 7, 3),
          (4, 6, 5), (3, 1, 8), (9, 8, 7)]
DTYPES = [np.float64, np.complex128, np.float32, np.complex64]


def _example(seed):
    rng = np.random.default_rng(seed)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    dtype = DTYPES[int(rng.integers(len(DTYPES)))]
    recipe = _Recipe(rng)
    x = _random_array(rng, shape, dtype)
    return rng, recipe, x, dtype


@pytest.fixture(scope="module")
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def test_random_region_chains_equal_numpy(synchronous):
    hits = 0
    for seed in range(EXAMPLES):
        rng, recipe, x, dtype = _example(seed)
        program = linop.trace(recipe, x)
        what = f"seed {seed}:\n{program}"
        want = _as_list(program(x))
        got, regions = _on_dask(program, [x], rng)
        hits += regions
        for g, w in zip(got, want):
            _close(g, w, dtype, "forward, " + what)

        transposed = linop.transpose(program)
        cts = [_random_array(rng, v.shape, v.dtype) for v in program.out_avals]
        want = _as_list(transposed(tuple(cts)))
        got, regions = _on_dask(transposed, cts, rng, packed=True)
        hits += regions
        for g, w in zip(got, want):
            _close(g, w, dtype, "transpose, " + what)
    assert hits >= EXAMPLES // 2, "too few examples ran a region chain: the test would be vacuous"


def test_random_region_chains_batched_equal_numpy(synchronous):
    for seed in range(1000, 1000 + max(4, EXAMPLES // 4)):
        rng, recipe, x, dtype = _example(seed)
        program = linop.trace(recipe, x)
        size = int(rng.integers(1, 4))
        for batched, axis in ((batch_program(program, size)[0], 0),
                              (batch_columns(program, size), -1)):
            xs = np.stack([_random_array(rng, x.shape, dtype) for _ in range(size)], axis=axis)
            want = _as_list(batched(xs))
            got, _ = _on_dask(batched, [xs], rng)
            for g, w in zip(got, want):
                _close(g, w, dtype, f"batched (axis {axis}), seed {seed}:\n{program}")


def test_table_programs_in_random_blocks_equal_numpy(synchronous):
    """The programs of the shared table (every primitive), forward and transposed, on Dask
    arrays in random blocks, each in one random dtype of its table."""
    from harness import random_args, table_cases

    from linop.pytree import tree_flatten, tree_unflatten

    rng = np.random.default_rng(7)
    cases = table_cases()
    stride = 1 if os.environ.get("LINOP_FUZZ_TABLE") == "1" else 20
    for name, case in cases[int(rng.integers(stride))::stride]:
        dtype = np.dtype(case.dtypes[int(rng.integers(len(case.dtypes)))])
        primals = case.primals(dtype)
        program = linop.trace(case.fun, *primals)
        for prog, leaves in ((program, tree_flatten(random_args(primals, seed=3))[0]),
                             (linop.transpose(program), None)):
            if leaves is None:
                leaves = [_random_array(rng, v.shape, v.dtype) for v in prog.in_avals]
            leaves = [np.asarray(a) for a in leaves]
            want = tree_flatten(prog(*tree_unflatten(prog.in_tree, leaves)))[0]
            lazy = [da.from_array(a, chunks=_random_chunks(rng, a.shape)) for a in leaves]
            got = dask.compute(*tree_flatten(prog(*tree_unflatten(prog.in_tree, lazy)))[0])
            for g, w in zip(got, want):
                _close(g, w, dtype, f"table case {name} ({dtype}), {prog}")


def _positive(index, n):
    """The slice ``index`` of a length-``n`` axis as one with a positive step (the same
    elements, in increasing order)."""
    start, stop, step = index.indices(n)
    count = len(range(start, stop, step))
    if step < 0:
        start, step = start + step * (count - 1), -step
    return slice(start, start + step * (count - 1) + 1, step)


def _direct_slice_updates(rng, shape):
    """A program of ``update_slice`` and ``add_slice`` (both signs) recorded directly: the
    passes make ``add_slice`` only for the NumPy executor, so the NumPy programs above
    never reach its region rule."""
    from linop.primitives.slice import add_slice_p, update_slice

    plans = [(tuple(_positive(_random_slice(rng, n), n) for n in shape),
              int(rng.choice([0, 1, -1]))) for _ in range(int(rng.integers(1, 5)))]

    def fun(x):
        y = x * 2
        for index, sign in plans:
            target = y[index]
            v = np.flip(x[tuple(slice(0, n) for n in target.shape)], 0) * 3
            starts = tuple(s.start for s in index)
            stops = tuple(s.stop for s in index)
            steps = tuple(s.step for s in index)
            y = (update_slice(y, v, starts, stops, steps) if sign == 0 else
                 add_slice_p.bind(y, v, starts=starts, stops=stops, steps=steps, sign=sign))
        return y

    return fun


def test_direct_slice_updates_equal_numpy(synchronous):
    rng, hits = np.random.default_rng(5), 0
    for _ in range(max(10, EXAMPLES // 3)):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        dtype = DTYPES[int(rng.integers(len(DTYPES)))]
        x = _random_array(rng, shape, dtype)
        program = linop.trace(_direct_slice_updates(rng, shape), x)
        assert program(x).shape == shape
        got, regions = _on_dask(program, [x], rng)
        hits += regions
        _close(got[0], program(x), dtype, f"forward, {program}")
        transposed = linop.transpose(program)
        ct = _random_array(rng, shape, dtype)
        got, _ = _on_dask(transposed, [ct], rng)
        _close(got[0], transposed(ct)[0], dtype, f"transpose, {program}")
    assert hits > 10, "too few examples ran a region chain: the test would be vacuous"


def _assign_after_strided_slice(a):
    g = a[::-1][0:9:9] * 1
    g[0:1:2] = g[0:1:2] - a[2:3]
    return g


def _gather_after_strided_slice(a):
    return np.take(a[1:7:9], [0, 0])


@pytest.mark.parametrize("fun,chunks", [(_assign_after_strided_slice, (5, 1, 23)),
                                        (_gather_after_strided_slice, (2, 27))],
                         ids=["assign", "gather"])
def test_empty_blocks_of_strided_slices_are_dropped(synchronous, fun, chunks):
    """Dask's strided slice of ``(5, 1, 23)`` blocks leaves blocks ``(1, 0)``: Dask's slice
    assignment and indexing with a NumPy index fail on an empty block (with a string in
    place of a block, and a division by zero): the run's layouts drop empty blocks."""
    x = np.arange(29.0)
    program = linop.trace(fun, x)
    y = program(da.from_array(x, chunks=chunks))
    assert all(0 not in c for c in y.chunks)
    np.testing.assert_array_equal(y.compute(), program(x))
