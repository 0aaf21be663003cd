"""``linop.vmap``: batched programs equal a loop on every table row; named axes and ``reduce_axes``."""
from __future__ import annotations

import importlib
import pathlib

import numpy as np
import pytest

import linop
from harness import Case, assert_tree_close, random_args
from linop.pytree import tree_flatten, tree_unflatten
from linop.testing import tolerance_for

_HERE = pathlib.Path(__file__).parent


# -- the tables of every test module ------------------------------------------------------
def table_cases():
    """All :class:`harness.Case` rows of ``tests/test_*.py``, and the modules that failed to import."""
    cases, broken = [], []
    for path in sorted(_HERE.glob("test_*.py")):
        try:
            module = importlib.import_module(path.stem)
        except Exception as exc:  # noqa: BLE001 - another module's problem, reported as a skip
            broken.append((path.stem, f"{type(exc).__name__}: {exc}"))
            continue
        cases += [(path.stem, c) for c in getattr(module, "CASES", ()) if isinstance(c, Case)]
    return cases, broken


def representative_dtypes(dtypes):
    """One real and one complex dtype of a row (double precision preferred), to bound run time.

    Batching and operator wrapping do not depend on the precision; the tables'
    own tests cover every dtype.
    """
    dtypes = [np.dtype(d) for d in dtypes]
    picked = []
    for kind in "fc":
        of_kind = [d for d in dtypes if d.kind == kind]
        if of_kind:
            picked.append(max(of_kind, key=lambda d: d.itemsize))
    return picked


def case_params(keep=lambda case: True):
    """pytest params ``(module, case, dtype)`` for the rows that pass ``keep``."""
    cases, _ = table_cases()
    return [(mod, case, d) for mod, case in cases if keep(case)
            for d in representative_dtypes(case.dtypes)]


def param_id(param):
    """pytest id of a ``(module, case, dtype)`` param."""
    mod, case, dtype = param
    return f"{mod}:{case.name}-{dtype.name}"


def _rtol(primals):
    tol = tolerance_for([l.dtype for l in tree_flatten(primals)[0]])
    return 1e-4 if tol > 1e-10 else 1e-10


def test_tables_import():
    cases, broken = table_cases()
    assert any(mod == "test_table" for mod, _ in cases) or broken, "no table found"
    if broken:
        pytest.skip(f"test modules that do not import right now: {broken}")


BATCH = 3


@pytest.mark.parametrize("param", case_params(), ids=param_id)
def test_vmap_equals_loop(param):
    _, case, dtype = param
    primals = case.primals(dtype)
    examples = [random_args(primals, seed=s) for s in range(BATCH)]
    leaves = [tree_flatten(e)[0] for e in examples]
    tree = tree_flatten(examples[0])[1]
    stacked = tree_unflatten(tree, [np.stack(ls) for ls in zip(*leaves)])
    got = linop.vmap(case.fun)(*stacked)
    outs = [case.fun(*e) for e in examples]
    out_leaves = [tree_flatten(o)[0] for o in outs]
    want = tree_unflatten(tree_flatten(outs[0])[1],
                          [np.stack([np.asarray(l) for l in ls]) for ls in zip(*out_leaves)])
    assert_tree_close(got, want, _rtol(primals))


# -- in_axes / out_axes -----------------------------------------------------------------------
def diff(x):
    return x[1:] - x[:-1]


def test_in_axes_out_axes_move_the_batch_axis():
    X = np.random.default_rng(0).standard_normal((4, 3))
    got = linop.vmap(diff, in_axes=1, out_axes=1)(X)
    np.testing.assert_allclose(got, np.stack([diff(X[:, j]) for j in range(3)], axis=1))
    got = linop.vmap(diff, in_axes=-1, out_axes=-1)(X)
    np.testing.assert_allclose(got, np.diff(X, axis=0))


def test_unmapped_constant_argument_is_closed_over():
    M = np.random.default_rng(1).standard_normal((2, 3))
    X = np.random.default_rng(2).standard_normal((5, 3))
    got = linop.vmap(lambda A, x: A @ x, in_axes=(None, 0))(M, X)
    np.testing.assert_allclose(got, X @ M.T)


def test_pytree_in_axes_prefix():
    X = np.ones((2, 3))
    Y = np.arange(6.0).reshape(3, 2)
    got = linop.vmap(lambda d: d["a"] + d["b"], in_axes=({"a": 0, "b": 1},))({"a": X, "b": Y})
    np.testing.assert_allclose(got, X + Y.T)


def test_unbatched_output_is_broadcast():
    got = linop.vmap(lambda x, y: (x * 2, y), in_axes=(0, None))(np.ones((3, 2)), np.zeros(4))
    assert got[1].shape == (3, 4) and not np.any(got[1])


def test_vmap_inside_trace_records_one_batched_program():
    p = linop.trace(linop.vmap(diff), np.zeros((5, 4)))
    assert all(e.prim.name != "psum" for e in p.eqns)
    x = np.random.default_rng(3).standard_normal((5, 4))
    np.testing.assert_allclose(p(x), np.diff(x, axis=1))
    # and it transposes
    t = linop.linear_transpose(linop.vmap(diff), np.zeros((5, 4)))
    y = np.random.default_rng(4).standard_normal((5, 3))
    (got,) = t(y)
    want = np.stack([linop.linear_transpose(diff, np.zeros(4))(r)[0] for r in y])
    np.testing.assert_allclose(got, want)


def test_nested_vmap():
    X = np.random.default_rng(5).standard_normal((2, 3, 4))
    got = linop.vmap(linop.vmap(diff))(X)
    np.testing.assert_allclose(got, np.diff(X, axis=2))


def test_vmap_errors():
    with pytest.raises(ValueError, match="different sizes"):
        linop.vmap(lambda x, y: x + y)(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="no argument is mapped"):
        linop.vmap(diff, in_axes=None)(np.ones(3))
    with pytest.raises(ValueError, match="out of range"):
        linop.vmap(diff, in_axes=2)(np.ones((2, 3)))


# -- named axes and reduce_axes -------------------------------------------------------------
RNG = np.random.default_rng(7)
M34 = RNG.standard_normal((3, 4))
CT = RNG.standard_normal((5, 3))
X4 = linop.ShapeDtype((4,), np.float64)


def matvec(x):
    return M34 @ x


def transpose_in_vmap(reduce_axes, out_axes=0):
    def per_example(ct):
        return linop.linear_transpose(matvec, X4, reduce_axes=reduce_axes)(ct)[0]
    return linop.vmap(per_example, axis_name="batch", out_axes=out_axes)(CT)


def test_named_axis_default_is_per_example():
    loop = np.stack([linop.linear_transpose(matvec, X4)(ct)[0] for ct in CT])
    np.testing.assert_allclose(transpose_in_vmap(()), loop)
    with pytest.raises(linop.UnboundAxisError, match="'other'"):
        transpose_in_vmap(("other",))  # no vmap binds it: refused, not silently per example


def test_reduce_axes_sums_over_the_named_axis():
    explicit = sum(M34.T @ ct for ct in CT)
    got = transpose_in_vmap(("batch",))
    np.testing.assert_allclose(got, np.broadcast_to(explicit, (5, 4)))
    got = transpose_in_vmap(("batch",), out_axes=None)
    assert got.shape == (4,)
    np.testing.assert_allclose(got, explicit)


def test_reduce_axes_keeps_per_example_for_mapped_primals():
    def per_example(x, ct):
        return linop.linear_transpose(matvec, x, reduce_axes=("batch",))(ct)[0]
    got = linop.vmap(per_example, axis_name="batch")(np.zeros((5, 4)), CT)
    np.testing.assert_allclose(got, CT @ M34)


def test_reduce_axes_mixed_inputs():
    # f(x, y) = M x + y, x unmapped (reduced), y mapped (per example)
    def per_example(y0, ct):
        f = lambda x, y: M34 @ x + y
        return linop.linear_transpose(f, X4, y0, reduce_axes=("batch",))(ct)
    gx, gy = linop.vmap(per_example, axis_name="batch")(np.zeros((5, 3)), CT)
    np.testing.assert_allclose(gx, np.broadcast_to(CT.sum(0) @ M34, (5, 4)))
    np.testing.assert_allclose(gy, CT)


def test_reduce_axes_outside_vmap_changes_nothing():
    (got,) = linop.linear_transpose(matvec, X4, reduce_axes=("batch",))(CT[0])
    np.testing.assert_allclose(got, M34.T @ CT[0])


def test_reduce_axes_in_nested_vmap_sums_the_outer_axis_only():
    cts = RNG.standard_normal((2, 5, 3))

    def inner(ct):
        return linop.linear_transpose(matvec, X4, reduce_axes=("outer",))(ct)[0]
    got = linop.vmap(linop.vmap(inner, axis_name="inner"), axis_name="outer")(cts)
    want = np.einsum("obi,ij->bj", cts, M34)
    np.testing.assert_allclose(got, np.broadcast_to(want, (2, 5, 4)))


def test_psum_outside_its_vmap_is_a_clear_error():
    def per_example(ct):
        return linop.linear_transpose(matvec, X4, reduce_axes=("batch",))(ct)[0]
    program = None

    def capture(ct):
        nonlocal program
        program = linop.trace(per_example, linop.ShapeDtype((3,), np.float64))
        return ct
    linop.vmap(capture, axis_name="batch")(CT)
    assert any(e.prim.name == "psum" for e in program.eqns)
    with pytest.raises(linop.LinopError, match="outside linop.vmap"):
        program(CT[0])


def test_unmapped_traced_argument_stays_unbatched_until_it_meets_the_batch():
    def f(X, y):
        return linop.vmap(lambda x, y: (x + 2 * y, y[::-1]), in_axes=(0, None), out_axes=(0, None))(X, y)
    p = linop.trace(f, np.zeros((5, 3)), np.zeros(3))
    mul = [e for e in p.eqns if e.prim.name == "mul"]
    assert mul and all(e.inputs[0].aval.shape == (3,) for e in mul)  # scaled before broadcasting
    X, y = np.random.default_rng(8).standard_normal((5, 3)), np.arange(3.0)
    a, b = p(X, y)
    np.testing.assert_allclose(a, X + 2 * y)
    np.testing.assert_allclose(b, y[::-1])
