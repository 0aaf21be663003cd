"""Constants are captured by value when the trace records them (JAX's semantics).

The mutation table: every primitive that takes a constant, reached through the NumPy, SciPy
and custom_linear paths. Each row builds its constants, traces a function that uses them and
mutates them right after the use, mutates them again after tracing, and checks the forward
program, the transposed program and the operator's matvec/rmatvec against the dense oracle of
the function as it was at trace time.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

import linop
from linop.ir import Const, Program
from linop.snapshots import is_snapshot, snapshot, writeable_alias
from linop.primitives.sparse_matmul import SparseConst
from linop.scipy import linalg as lsl
from linop.scipy import ndimage as lnd
from linop.scipy import signal as lss
from linop.testing import dense_matrix

from harness import table_cases

N = 6
X = linop.ShapeDtype((N,), np.float64)


# -- how constants are changed behind linop's back ----------------------------------------

def mutate(value) -> None:
    """Change ``value``'s contents in place (keeping indices valid and matrices regular)."""
    if isinstance(value, (tuple, list)):
        for v in value:
            mutate(v)
    elif isinstance(value, dict):
        for v in value.values():
            mutate(v)
    elif sp.issparse(value):
        value.data *= -2
    elif value.dtype == bool:
        value[...] = ~value
    elif np.issubdtype(value.dtype, np.integer):
        value[...] = value[::-1].copy()
    else:
        value *= -2


# -- custom_linear functions whose keyword arguments are constants -------------------------

@linop.custom_linear(out=lambda x, **kw: linop.ShapeDtype(x.shape, x.dtype))
def scale_by(x, *, w):
    return x * w


@scale_by.def_transpose
def _scale_by_t(y, *, w):
    return y * w


@linop.custom_linear(out=lambda x, **kw: linop.ShapeDtype(x.shape, x.dtype))
def scale_by_pair(x, *, pair, weights):
    return x * pair[0] + x * pair[1] * weights[0]


@scale_by_pair.def_transpose
def _scale_by_pair_t(y, *, pair, weights):
    return y * pair[0] + y * pair[1] * weights[0]


@linop.custom_linear(out=lambda x, *, S: linop.ShapeDtype((S.shape[0],), x.dtype))
def sparse_apply(x, *, S):
    return S @ x


@sparse_apply.def_transpose
def _sparse_apply_t(y, *, S):
    return S.T @ y


# -- the table ----------------------------------------------------------------------------

@dataclass
class Row:
    """A function of ``x`` (shape ``(N,)``) built on constants made by ``make(rng)``."""

    name: str
    make: object
    build: object


def _spd(rng, n=N):
    a = rng.standard_normal((n, n))
    return a @ a.T + n * np.eye(n)


def _sparse(rng, fmt):
    return sp.random(4, N, density=0.5, format=fmt, random_state=rng) + sp.eye(4, N, format=fmt)


def _fft_filter(c):
    return np.fft.irfft(np.fft.rfft(c["x"]) * c["K"], n=N)


ROWS = [
    Row("mul", lambda r: {"w": r.standard_normal(N)}, lambda c: lambda x: x * c["w"]),
    Row("mul_left_broadcast", lambda r: {"w": r.standard_normal((2, 1))},
        lambda c: lambda x: (c["w"] * x).ravel()),
    Row("div", lambda r: {"w": 1 + r.random(N)}, lambda c: lambda x: x / c["w"]),
    Row("where_mask", lambda r: {"m": r.random(N) > 0.5}, lambda c: lambda x: np.where(c["m"], x, 0)),
    Row("sum_where", lambda r: {"m": r.random(N) > 0.5},
        lambda c: lambda x: np.sum(x, where=c["m"], keepdims=True)),
    Row("average_weights", lambda r: {"w": 1 + r.random(N)},
        lambda c: lambda x: np.average(x, weights=c["w"], keepdims=True)),
    Row("matmul", lambda r: {"C": r.standard_normal((4, N))}, lambda c: lambda x: c["C"] @ x),
    Row("matmul_right", lambda r: {"C": r.standard_normal((N, 3))}, lambda c: lambda x: x @ c["C"]),
    Row("einsum", lambda r: {"C": r.standard_normal((4, N))},
        lambda c: lambda x: np.einsum("ij,j->i", c["C"], x)),
    Row("tensordot", lambda r: {"C": r.standard_normal((N, 2, 2))},
        lambda c: lambda x: np.tensordot(x, c["C"], axes=1).ravel()),
    Row("kron", lambda r: {"C": r.standard_normal((2, 2))}, lambda c: lambda x: np.kron(c["C"], x)),
    Row("outer", lambda r: {"w": r.standard_normal(3)}, lambda c: lambda x: np.outer(c["w"], x).ravel()),
    Row("polyval_points", lambda r: {"t": r.standard_normal(4)},
        lambda c: lambda x: np.polyval(x, c["t"])),
    Row("fancy_index", lambda r: {"i": r.integers(0, N, 8)}, lambda c: lambda x: x[c["i"]]),
    Row("take", lambda r: {"i": r.integers(0, N, 5)}, lambda c: lambda x: np.take(x, c["i"])),
    Row("bool_index", lambda r: {"m": np.arange(N) % 2 == 0}, lambda c: lambda x: x[c["m"]]),
    Row("index_add", lambda r: {"i": r.integers(0, 3, N)},
        lambda c: lambda x: _index_add(x, c["i"])),
    Row("interp", lambda r: {"q": np.sort(r.random(4)) * (N - 1), "p": np.arange(N, dtype=float)},
        lambda c: lambda x: np.interp(c["q"], c["p"], x)),
    Row("np_convolve", lambda r: {"k": r.standard_normal(3)}, lambda c: lambda x: np.convolve(x, c["k"])),
    Row("np_correlate", lambda r: {"k": r.standard_normal(3)},
        lambda c: lambda x: np.correlate(x, c["k"], "same")),
    Row("signal_convolve", lambda r: {"k": r.standard_normal(3)}, lambda c: lambda x: lss.convolve(x, c["k"])),
    Row("signal_fftconvolve", lambda r: {"k": r.standard_normal(4)},
        lambda c: lambda x: lss.fftconvolve(x, c["k"], mode="same")),
    Row("signal_convolve2d", lambda r: {"k": r.standard_normal((2, 2))},
        lambda c: lambda x: lss.convolve2d(x.reshape(2, 3), c["k"]).ravel()),
    Row("lfilter", lambda r: {"b": r.standard_normal(3), "a": np.array([1.0, -0.5, 0.25])},
        lambda c: lambda x: lss.lfilter(c["b"], c["a"], x)),
    Row("ndimage_convolve", lambda r: {"k": r.standard_normal(3)},
        lambda c: lambda x: lnd.convolve(x, c["k"], mode="reflect")),
    Row("ndimage_correlate1d", lambda r: {"k": r.standard_normal(3)},
        lambda c: lambda x: lnd.correlate1d(x, c["k"], mode="wrap")),
    Row("ndimage_map_coordinates", lambda r: {"q": r.random((1, 4)) * (N - 1)},
        lambda c: lambda x: lnd.map_coordinates(x, c["q"], order=1)),
    Row("solve_triangular", lambda r: {"A": np.tril(_spd(r))},
        lambda c: lambda x: lsl.solve_triangular(c["A"], x, lower=True)),
    Row("np_linalg_solve", lambda r: {"A": _spd(r)}, lambda c: lambda x: np.linalg.solve(c["A"], x)),
    Row("sparse_csr", lambda r: {"S": _sparse(r, "csr")}, lambda c: lambda x: c["S"] @ x),
    Row("sparse_csc", lambda r: {"S": _sparse(r, "csc")}, lambda c: lambda x: c["S"] @ x),
    Row("sparse_coo", lambda r: {"S": _sparse(r, "coo")}, lambda c: lambda x: c["S"] @ x),
    Row("sparse_right", lambda r: {"S": _sparse(r, "csr").T.tocsr()}, lambda c: lambda x: x @ c["S"]),
    Row("fft_filter", lambda r: {"K": r.standard_normal(N // 2 + 1) + 1j * r.standard_normal(N // 2 + 1)},
        lambda c: lambda x: _fft_filter({"x": x, "K": c["K"]})),
    Row("complex_constant_real_part", lambda r: {"B": r.standard_normal((3, N)) + 1j * r.standard_normal((3, N))},
        lambda c: lambda x: np.real(c["B"] @ x)),
    Row("custom_array_kwarg", lambda r: {"w": r.standard_normal(N)}, lambda c: lambda x: scale_by(x, w=c["w"])),
    Row("custom_nested_kwargs", lambda r: {"pair": (r.standard_normal(N), r.standard_normal(N)),
                                           "weights": [r.standard_normal(N)]},
        lambda c: lambda x: scale_by_pair(x, pair=c["pair"], weights=c["weights"])),
    Row("custom_sparse_kwarg", lambda r: {"S": _sparse(r, "csr")}, lambda c: lambda x: sparse_apply(x, S=c["S"])),
]


def _index_add(x, idx):
    y = np.zeros_like(x, shape=(3,))
    np.add.at(y, idx, x)
    return y


def _consts(row, seed=0):
    return row.make(np.random.default_rng(seed))


def _used_then_mutated(fun, consts):
    def traced(x):
        y = fun(x)
        mutate(consts)  # right after the use, while tracing
        return y
    return traced


def _transposed_matrix(program):
    out = program.out_avals[0]
    pt = linop.transpose(program)
    return dense_matrix(lambda t: pt(t)[0], out)


def _assert_close(got, want, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300)
    assert err < 1e-10, f"{what}: relative error {err:.3g}"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_mutation_after_use_and_after_tracing(row):
    M = dense_matrix(row.build(_consts(row)), X)   # the function as it is at trace time
    consts = _consts(row)
    program = linop.trace(_used_then_mutated(row.build(consts), consts), X)
    mutate(consts)                                 # after tracing
    _assert_close(dense_matrix(program, X), M, "forward")
    _assert_close(_transposed_matrix(program), M.T, "transpose")
    _assert_close(dense_matrix(lambda x: linop.transpose(linop.transpose(program))(x), X), M,
                  "double transpose")


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_operator_matvec_and_rmatvec_keep_trace_time_constants(row):
    M = dense_matrix(row.build(_consts(row)), X)
    consts = _consts(row)
    A = linop.aslinearoperator(row.build(consts), np.zeros(N))
    mutate(consts)
    eye_in, eye_out = np.eye(A.shape[1]), np.eye(A.shape[0])
    _assert_close(np.stack([A.matvec(e) for e in eye_in], axis=1), M, "matvec")
    _assert_close(np.stack([A.rmatvec(e) for e in eye_out], axis=1), M.T, "rmatvec")


def _param_leaves(value):
    if isinstance(value, (tuple, list)):
        for v in value:
            yield from _param_leaves(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _param_leaves(v)
    else:
        yield value


def assert_constants_captured(program: Program, where: str) -> int:
    """Every constant of ``program`` is a snapshot; no array escaped ``Const``."""
    from linop.custom import CustomLinear

    seen = 0
    for eqn in program.eqns:
        custom = isinstance(getattr(eqn.prim, "owner", None), CustomLinear)
        for leaf in _param_leaves(eqn.params):
            if isinstance(leaf, Const):
                seen += 1
                assert leaf.is_captured, f"{where}: {eqn.prim.name} holds an uncaptured {leaf!r}"
            elif isinstance(leaf, np.ndarray):
                # custom_linear keyword arguments inside containers stay plain arrays, frozen
                assert custom and is_snapshot(leaf), \
                    f"{where}: {eqn.prim.name} holds a raw array parameter"
            else:
                assert not sp.issparse(leaf) or custom, \
                    f"{where}: {eqn.prim.name} holds a raw sparse matrix parameter"
    return seen


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_table_programs_hold_only_captured_constants(row):
    program = linop.trace(row.build(_consts(row)), X)
    assert assert_constants_captured(program, "forward") > 0 or row.name.startswith("custom")
    assert_constants_captured(linop.transpose(program), "transpose")


TABLE_CASES = table_cases()


@pytest.mark.parametrize("name,case", TABLE_CASES, ids=[n for n, _ in TABLE_CASES])
def test_every_table_program_holds_only_captured_constants(name, case):
    dtype = np.dtype(case.dtypes[-1])
    program = linop.trace(case.fun, *case.primals(dtype))
    assert_constants_captured(program, "forward")
    transposed = linop.transpose(program)
    assert_constants_captured(transposed, "transpose")
    assert_constants_captured(linop.transpose(transposed), "double transpose")


# -- the examples of the issue --------------------------------------------------------------

def test_one_buffer_reused_in_a_loop():
    W = np.random.default_rng(1).standard_normal((3, N))

    def forward(x):
        w = np.empty(N)
        out = []
        for k in range(3):
            w[:] = W[k]
            out.append(w * x)
        return np.stack(out)

    p = linop.trace(forward, X)
    x = np.random.default_rng(2).standard_normal(N)
    np.testing.assert_allclose(p(x), W * x)
    assert len(p.consts) == 3


def test_constant_scaled_in_place_between_two_uses():
    C0 = np.random.default_rng(3).standard_normal((4, N))
    C = C0.copy()

    def f(x):
        a = C @ x
        C[...] *= 2
        return a + C @ x

    p = linop.trace(f, X)
    x = np.ones(N)
    np.testing.assert_allclose(p(x), 3 * C0 @ x)


def test_mask_flipped_between_uses():
    m = np.arange(N) % 3 == 0
    m0 = m.copy()

    def f(x):
        a = np.where(m, x, 0)
        m[:] = ~m
        return a + 2 * np.where(m, x, 0)

    p = linop.trace(f, X)
    x = np.arange(1.0, N + 1)
    np.testing.assert_allclose(p(x), np.where(m0, x, 0) + 2 * np.where(~m0, x, 0))


def test_fft_filter_changed_after_tracing_keeps_matvec_and_rmatvec_consistent():
    rng = np.random.default_rng(4)
    K = rng.standard_normal(N // 2 + 1) + 1j * rng.standard_normal(N // 2 + 1)
    K0 = K.copy()
    A = linop.aslinearoperator(lambda x: np.fft.irfft(np.fft.rfft(x) * K, n=N), np.zeros(N))
    K *= 2
    x, y = rng.standard_normal(N), rng.standard_normal(N)
    np.testing.assert_allclose(A.matvec(x), np.fft.irfft(np.fft.rfft(x) * K0, n=N))
    assert abs(np.dot(A.matvec(x), y) - np.dot(x, A.rmatvec(y))) < 1e-12 * np.linalg.norm(x) * np.linalg.norm(y)


# -- storage: once per trace, shared when safe, never materialised -------------------------

def test_constant_used_twice_is_stored_once():
    C = np.random.default_rng(5).standard_normal((N, N))
    p = linop.trace(lambda x: C @ x + C @ (C @ x), X)
    assert len(p.consts) == 1
    assert not np.shares_memory(p.consts[0], C)
    assert "c1" not in p.pprint()


def test_equal_values_from_different_arrays_are_stored_once():
    p = linop.trace(lambda x: x * np.linspace(1, 2, N) + x[::-1] * np.linspace(1, 2, N), X)
    assert len(p.consts) == 1


def test_transposing_shares_the_captured_constants():
    C = np.random.default_rng(6).standard_normal((4, N))
    k = np.arange(1.0, 4.0)
    p = linop.trace(lambda x: np.convolve(C @ x, k), X)
    pt = linop.transpose(p)
    assert_constants_captured(pt, "transpose")
    for c in pt.consts:
        assert any(np.shares_memory(c, f) for f in p.consts)


def test_broadcast_constant_is_not_materialised():
    w = np.random.default_rng(7).standard_normal((1, 300))
    big = np.broadcast_to(w, (300, 300))
    p = linop.trace(lambda x: x * big, linop.ShapeDtype((300, 300), np.float64))
    (c,) = p.consts
    assert c.shape == (300, 300) and is_snapshot(c)
    root = c
    while isinstance(root, np.ndarray):
        root = root.base
    assert len(root) == w.nbytes
    expected = big * 3.0
    w[...] = 0
    np.testing.assert_allclose(p(np.full((300, 300), 3.0)), expected)


def test_read_only_view_of_a_writeable_array_is_copied():
    w = np.arange(1.0, N + 1)
    view = w.view()
    view.flags.writeable = False
    p = linop.trace(lambda x: x * view, X)
    w[...] = 0
    np.testing.assert_allclose(p(np.ones(N)), np.arange(1.0, N + 1))


def test_user_array_over_bytes_is_shared():
    w = np.frombuffer(np.arange(1.0, N + 1).tobytes(), np.float64)
    p = linop.trace(lambda x: x * w, X)
    assert np.shares_memory(p.consts[0], w)


def test_snapshot_is_a_private_copy():
    a = np.arange(6.0).reshape(2, 3)[:, ::2]
    s = snapshot(a)
    assert is_snapshot(s) and snapshot(s) is s and is_snapshot(s[::-1])
    assert not np.shares_memory(s, a)
    np.testing.assert_array_equal(s, a)
    a[...] = -1
    np.testing.assert_array_equal(s, [[0, 2], [3, 5]])


def test_snapshots_are_read_only_for_good():
    idx = snapshot(np.array([2, 0, 1]))
    assert not idx.flags.writeable and idx.flags.aligned and is_snapshot(idx)
    assert snapshot(np.ones(3, np.clongdouble)).flags.aligned
    for view in (idx, idx[::-1], np.broadcast_to(idx, (2, 3))):
        with pytest.raises(ValueError):
            view.setflags(write=True)
        with pytest.raises(ValueError):
            view[0] = 5
    np.testing.assert_array_equal(idx, [2, 0, 1])


def test_program_constants_cannot_be_changed_through_the_program():
    W = np.arange(6.0).reshape(2, 3)
    p = linop.trace(lambda x: W @ x, np.zeros(3))
    S = p.consts[0]
    q = linop.trace(lambda x: S @ x, np.zeros(3))  # a snapshot is shared, not copied
    assert q.consts[0] is S or np.shares_memory(q.consts[0], S)
    with pytest.raises(ValueError):
        S *= 2
    with pytest.raises(ValueError):
        p.consts[0][0, 0] = 100.0
    u = pickle.loads(pickle.dumps(p))
    assert is_snapshot(u.consts[0]) and not u.consts[0].flags.writeable
    np.testing.assert_array_equal(p(np.ones(3)), [3.0, 12.0])
    np.testing.assert_array_equal(q(np.ones(3)), [3.0, 12.0])


def test_writeable_alias_shares_the_snapshot_and_leaves_other_arrays_alone():
    s = snapshot(np.arange(10))[2:8:2]
    alias = writeable_alias(s)
    assert alias.flags.writeable and np.shares_memory(alias, s)
    np.testing.assert_array_equal(alias, s)
    assert alias.strides == s.strides
    plain = np.arange(3)
    assert writeable_alias(plain) is plain


@pytest.mark.parametrize("direction", ["gather", "scatter"])
def test_gather_and_scatter_do_not_copy_their_indices_per_call(direction):
    # np.take and np.bincount copy read-only index arrays on every call: the plans hand them
    # writeable aliases of the snapshots, so a call allocates only its result
    import tracemalloc

    n = 1_000_000
    idx = np.random.default_rng(0).integers(0, 1000, n)
    p = linop.trace(lambda x: x[idx], np.zeros(1000))
    if direction == "scatter":
        p = linop.transpose(p)
    x = np.ones(p.in_avals[0].shape)
    p(x)  # compiled
    tracemalloc.start()
    try:
        out = p(x)[0] if direction == "scatter" else p(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < out.nbytes + idx.nbytes // 2


def test_users_sparse_matrix_is_never_modified():
    # duplicates and unsorted indices: SciPy canonicalises in place, linop must not
    data, indices, indptr = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2, 0, 2, 1]), np.array([0, 3, 4])
    S = sp.csr_matrix((data, indices, indptr), shape=(2, 3))
    before = [a.copy() for a in (S.data, S.indices, S.indptr)]
    p = linop.trace(lambda x: S @ x, linop.ShapeDtype((3,), np.float64))
    for a, b in zip((S.data, S.indices, S.indptr), before):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(p(np.array([1.0, 10.0, 100.0])), S.toarray() @ [1.0, 10.0, 100.0])
    (c,) = [c for e in p.eqns for c in e.params.values() if isinstance(c, SparseConst)]
    assert c.is_captured and c.value.has_canonical_format


def test_sparse_matrix_used_twice_is_stored_once():
    S = _sparse(np.random.default_rng(8), "csr")
    p = linop.trace(lambda x: S @ x + S @ (2 * x), X)
    consts = [c for e in p.eqns for c in e.params.values() if isinstance(c, SparseConst)]
    assert len(consts) == 2 and consts[0] is consts[1]


def test_unpickled_program_holds_captured_constants():
    S = _sparse(np.random.default_rng(9), "csc")
    C = np.random.default_rng(9).standard_normal((N, 4))
    p = linop.trace(lambda x: (S @ x) @ C.T[:, :4], X)
    q = pickle.loads(pickle.dumps(p))
    assert q == p
    assert_constants_captured(q, "unpickled")


# -- Program equality and hashing ---------------------------------------------------------

@pytest.mark.parametrize("const", [
    np.array([1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0]),
    np.array([np.nan]),
    np.array([complex(np.nan, 1.0), 2.0, 3.0, 4.0, 5.0, 6.0, complex(1.0, np.nan)]),
], ids=["real_nan", "small_nan", "complex_nan"])
def test_programs_with_nan_constants_equal_themselves(const):
    shape = linop.ShapeDtype(const.shape, np.complex128)
    p = linop.trace(lambda x: x * const, shape)
    q = linop.trace(lambda x: x * const, shape)
    assert p == p and p == q and hash(p) == hash(q) and len({p, q}) == 1


def test_complex_nan_parts_are_compared_separately():
    shape = linop.ShapeDtype((7,), np.complex128)
    a = np.ones(7, complex)
    b = a.copy()
    a[0], b[0] = complex(np.nan, 1.0), complex(1.0, np.nan)
    assert linop.trace(lambda x: x * a, shape) != linop.trace(lambda x: x * b, shape)


def test_sparse_nan_constants_equal_themselves():
    S = sp.csr_array(np.array([[np.nan, 0.0, 1.0], [0.0, 2.0, 0.0]]))
    shape = linop.ShapeDtype((3,), np.float64)
    p, q = linop.trace(lambda x: S @ x, shape), linop.trace(lambda x: S @ x, shape)
    assert p == q and hash(p) == hash(q) and len({p, q}) == 1


def test_programs_with_different_constants_differ():
    shape = linop.ShapeDtype((N,), np.float64)
    w = np.arange(N, dtype=float)
    p = linop.trace(lambda x: x * w, shape)
    w[0] = 10
    assert p != linop.trace(lambda x: x * w, shape)


@pytest.mark.parametrize("n", [3, 20], ids=["inline", "named"])
def test_signed_zeros_differ_and_nan_payloads_do_not(n):
    # bitwise equal or both NaN: 1 / x tells -0.0 from 0.0, nothing tells NaN payloads apart
    shape = linop.ShapeDtype((n,), np.float64)
    a = np.ones(n)
    a[0] = 0.0
    b = a.copy()
    b[0] = -0.0
    assert linop.trace(lambda x: x / a, shape) != linop.trace(lambda x: x / b, shape)
    c, d = a.copy(), a.copy()
    c[1] = np.nan
    d[1:2].view(np.uint64)[0] = np.float64(np.nan).view(np.uint64) | 1  # another payload
    assert linop.trace(lambda x: x * c, shape) == linop.trace(lambda x: x * d, shape)


def test_equal_text_but_different_output_structure_differ():
    p, q = linop.trace(lambda x: 2 * x, X), linop.trace(lambda x: (2 * x,), X)
    assert p.pprint() == q.pprint() and p != q


# -- ShapeDtype edges ---------------------------------------------------------------------

@pytest.mark.parametrize("shape,dtype", [
    ((2**32, 2**32), np.float64),
    ((2**32, 2**32), np.uint8),
    ((2**60,), np.float64),
    ((0, 2**62, 2**62), np.float64),
    ((2**63,), np.uint8),
    ((0, 2**63), np.float64),
    ((1,) * 65, np.float64),
    ((-1, 3), np.float64),
    ((True, 2), np.float64),
    ((np.bool_(True),), np.float64),
], ids=str)
def test_shapedtype_refuses_what_numpy_refuses(shape, dtype):
    with pytest.raises(Exception) as numpy_error:
        np.empty(shape, dtype)
    with pytest.raises(type(numpy_error.value)) as ours:
        linop.ShapeDtype(shape, dtype)
    assert str(ours.value).split(":")[0] == str(numpy_error.value).split(":")[0]


@pytest.mark.parametrize("shape", [(2**31, 2**31), (2**40, 0, 2**20), (1,) * 64, ()], ids=str)
def test_shapedtype_size_is_exact(shape):
    aval = linop.ShapeDtype(shape, np.uint8)
    assert aval.size == int(np.prod(shape, dtype=object)) == np.broadcast_to(np.uint8(0), shape).size
    assert isinstance(aval.size, int)


@pytest.mark.parametrize("fun", [
    lambda x: x[None],
    lambda x: x[..., None],
    lambda x: np.expand_dims(x, 0),
    lambda x: x.reshape((1,) * 65),
], ids=["none", "ellipsis_none", "expand_dims", "reshape"])
def test_more_than_64_axes_fail_like_numpy(fun):
    with pytest.raises(Exception) as numpy_error:
        fun(np.zeros((1,) * 64))
    with pytest.raises(type(numpy_error.value)):
        linop.trace(fun, linop.ShapeDtype((1,) * 64, np.float64))


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
def test_large_buffer_changed_between_uses_gives_two_constants(dtype):
    n = 1000  # above the size from which captures are remembered by memory address
    w = np.linspace(1, 2, n).astype(dtype)
    w0 = w.copy()
    w[3] = np.nan

    def f(x):
        a = x * w[None]          # a new view object of the same memory
        b = x * w[None]          # unchanged: the same snapshot
        w[5] = -7                # one element changes
        return a + b + x * w[None]

    p = linop.trace(f, linop.ShapeDtype((1, n), dtype))
    assert len(p.consts) == 2
    w1 = w0.copy()
    w1[3] = np.nan
    w2 = w1.copy()
    w2[5] = -7
    w[...] = 0
    np.testing.assert_allclose(p(np.ones((1, n), dtype))[0], 2 * w1 + w2, rtol=1e-6)


def test_pickled_broadcast_constant_stays_compact():
    w = np.random.default_rng(0).standard_normal(500)
    p = linop.trace(lambda x: x * np.broadcast_to(w, (500, 500)), np.zeros((500, 500)))
    data = pickle.dumps(p)
    assert len(data) < 10 * w.nbytes  # not the 2 MB of the broadcast array
    q = pickle.loads(data)
    (c,) = q.consts
    assert c.shape == (500, 500) and c.strides[0] == 0 and is_snapshot(c)
    assert q == p


def test_scalings_fold_into_one_new_constant_without_temporaries():
    import tracemalloc

    M = np.random.default_rng(0).standard_normal((500, 400))  # 1.6 MB
    x0 = np.zeros((500, 400), np.float32)
    tracemalloc.start()
    try:
        p = linop.trace(lambda x: x * M * 0.5, x0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (c,) = p.consts
    assert is_snapshot(c) and not c.flags.writeable
    np.testing.assert_array_equal(c, M * 0.5)
    assert peak < 2.6 * M.nbytes  # the first snapshot and the product; no third copy


# -- custom_linear keyword arguments ------------------------------------------------------

@linop.custom_linear(out=lambda x, **kw: linop.ShapeDtype(x.shape, x.dtype))
def _scale_by_container(x, *, w):
    return np.asarray(x * w["w"][0] if isinstance(w, dict) else x * (w.a + w.b))


@_scale_by_container.def_transpose
def _scale_by_container_t(y, *, w):
    return np.asarray(y * w["w"][0] if isinstance(w, dict) else y * (w.a + w.b))


def test_custom_linear_kwargs_in_container_subclasses_are_captured():
    from collections import OrderedDict, namedtuple

    Pair = namedtuple("Pair", "a b")
    a, b, w = np.arange(1.0, 4.0), np.ones(3), np.ones(3)
    p = linop.trace(lambda x: _scale_by_container(x, w=Pair(a, b)), np.zeros(3))
    q = linop.trace(lambda x: _scale_by_container(x, w=OrderedDict(w=[w])), np.zeros(3))
    a *= 100
    w *= 5
    np.testing.assert_array_equal(p(np.ones(3)), [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(linop.transpose(p)(np.ones(3))[0], [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(q(np.ones(3)), [1.0, 1.0, 1.0])


@linop.custom_linear(out=lambda x, **kw: linop.ShapeDtype(x.shape, x.dtype))
def _scale_masked(x, *, w, nested):
    return np.asarray(x * (nested[0] if w is None else w))


def test_custom_linear_masked_array_kwarg_keeps_its_mask():
    m = np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0])
    expected = np.asarray(np.ones(3) * m)
    for kwargs in ({"w": m, "nested": None}, {"w": None, "nested": (m,)}):
        p = linop.trace(lambda x: _scale_masked(x, **kwargs), np.zeros(3))
        m.data[0] = 7.0  # captured: later writes do not reach the program
        np.testing.assert_array_equal(p(np.ones(3)), expected)
        m.data[0] = 1.0


# -- higher precision from the captured program ------------------------------------------

@pytest.mark.parametrize("case", ["function", "dense", "sparse", "adjoint_of_adjoint"])
def test_float64_vectors_use_the_constants_captured_at_float32(case):
    C = np.arange(6, dtype=np.float32).reshape(2, 3)
    S = sp.csr_array(C)
    make = {"function": lambda: linop.aslinearoperator(lambda x: C @ x, np.zeros(3, np.float32)),
            "dense": lambda: linop.aslinearoperator(C),
            "sparse": lambda: linop.aslinearoperator(S),
            "adjoint_of_adjoint": lambda: linop.aslinearoperator(C).H.H}[case]
    A = make()
    C *= 100
    S.data *= 100
    for x in (np.ones(3, np.float32), np.ones(3)):
        y = A.matvec(x)
        assert y.dtype == x.dtype
        np.testing.assert_array_equal(y, [3.0, 12.0])
    z = A.rmatvec(np.ones(2))
    assert z.dtype == np.float64
    np.testing.assert_array_equal(z, [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(A.matmat(np.ones((3, 2))), [[3.0, 3.0], [12.0, 12.0]])


def test_promoted_program_computes_at_the_higher_precision():
    from linop.precision import promote_program

    w = np.float32(1 / 3)
    p = linop.trace(lambda x: x * w, np.zeros(2, np.float32))
    q = promote_program(p, np.float64)
    assert q.in_avals[0].dtype == np.float64 and q.out_avals[0].dtype == np.float64
    x = np.full(2, 1 + 2.0**-30)
    np.testing.assert_array_equal(q(x), x * np.float64(w))  # not rounded to float32
    assert all(c.dtype == np.float32 for c in q.consts)  # the captured constant, unconverted


def test_unpickled_operator_promotes_too():
    C = np.arange(6, dtype=np.float32).reshape(2, 3) / 3
    A = pickle.loads(pickle.dumps(linop.aslinearoperator(lambda x: C @ x, np.zeros(3, np.float32))))
    x = np.full(3, 1 + 2.0**-30)
    np.testing.assert_allclose(A.matvec(x), C.astype(np.float64) @ x, rtol=1e-15)


@linop.custom_linear(out=lambda x: linop.ShapeDtype(x.shape, np.float32))
def _float32_only(x):
    return (x * np.float32(2)).astype(np.float32)


@_float32_only.def_transpose
def _float32_only_t(y):
    return y * np.float32(2)


def test_step_with_a_declared_dtype_runs_at_its_own_precision():
    A = linop.aslinearoperator(lambda x: _float32_only(x) + np.convolve(x, np.float32([1, 2]))[:3],
                               np.zeros(3, np.float32))
    x = np.array([1.0, 2.0, 3.0])
    y = A.matvec(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, 2 * x + np.convolve(x, [1.0, 2.0])[:3])
    np.testing.assert_allclose(A.rmatvec(x), 2 * x + np.correlate(np.r_[x, 0], [1.0, 2.0]))


def test_dense_matrix_operator_holds_one_copy():
    import gc
    import tracemalloc

    M = np.random.default_rng(0).standard_normal((600, 500))  # 2.4 MB
    gc.collect()
    tracemalloc.start()
    try:
        A = linop.aslinearoperator(M)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 1.3 * M.nbytes
    np.testing.assert_allclose(A.rmatvec(np.ones(600)), M.T @ np.ones(600))
    Z = M + 1j * M
    B = linop.aslinearoperator(Z)
    np.testing.assert_allclose(B.rmatvec(np.ones(600)), Z.conj().T @ np.ones(600))
