"""In-place execution: chains of writes run in one buffer, and nothing aliases what it must not.

The NumPy executor writes ``update_slice``/``add_slice``/``add``/``sub`` in place when
:func:`linop.passes.plan_buffers` finds the buffer owned and unread afterwards. These tests
check the generated source does so for write chains, and that it never writes an input,
a buffer that a later read (or a view) still needs, or returns outputs sharing memory.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import linop
from linop.execute import compile_plan
from linop.testing import check_transpose

from harness import Case, check_all, case_id

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402


def row_loop(x):
    y = np.zeros_like(x)
    y[0] = x[0] - x[1]
    for i in range(1, x.shape[0] - 1):
        y[i] = 2.0 * x[i] - 0.5 * (x[i - 1] + x[i + 1])
    y[-1] = x[-1] - x[-2]
    return y


def weighted_row_loop(x):
    """:func:`row_loop` with a weight of its own per row: no loop re-rolling applies."""
    y = np.zeros_like(x)
    y[0] = x[0] - x[1]
    for i in range(1, x.shape[0] - 1):
        y[i] = (2.0 + i) * x[i] - 0.5 * (x[i - 1] + x[i + 1])
    y[-1] = x[-1] - x[-2]
    return y


def laplacian(x):
    y = np.zeros_like(x)
    y[1:-1, 1:-1] = x[:-2, 1:-1] + x[2:, 1:-1] + x[1:-1, :-2] + x[1:-1, 2:] - 4 * x[1:-1, 1:-1]
    return y


def accumulated_laplacian(x):
    y = np.zeros_like(x)
    y[1:-1, 1:-1] = -4.0 * x[1:-1, 1:-1]
    y[1:-1, 1:-1] += x[:-2, 1:-1]
    y[1:-1, 1:-1] += x[2:, 1:-1]
    y[1:-1, 1:-1] += x[1:-1, :-2]
    y[1:-1, 1:-1] += x[1:-1, 2:]
    return y


def version_also_output(x):
    """An intermediate version of the chain is returned as well as the last one."""
    y = np.zeros_like(x)
    y[0] = x[1]
    first = y.copy()
    y[1] = 3 * x[0]
    y[2:] += x[2:]
    return first, y


def read_after_later_write(x):
    """A slice of an early version is read after later writes to the same slice."""
    y = 2 * x
    old = y[0:2].copy()
    y[1:3] = x[1:3]
    y[0:2] += x[2:4]
    return y, 5 * old


def input_written(x):
    """The chain starts from the input itself: the input must stay unchanged."""
    y = x.copy()
    y[0] = 0
    y[1:] += x[:-1]
    return y


def views_of_one_result(x):
    y = 2 * x
    return y, y[1:], y.reshape(2, -1)


CASES = [
    Case("inplace-row-loop", row_loop, ((6, 3),)),
    Case("inplace-laplacian", laplacian, ((5, 6),)),
    Case("inplace-accumulated-laplacian", accumulated_laplacian, ((5, 6),)),
    Case("inplace-version-also-output", version_also_output, ((5, 2),)),
    Case("inplace-read-after-later-write", read_after_later_write, ((6,),)),
    Case("inplace-input-written", input_written, ((5, 2),)),
    Case("inplace-views-of-one-result", views_of_one_result, ((6,),)),
]


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_table(param):
    case, dtype = param
    check_all(case, dtype)


def _plan_source(program):
    return compile_plan(program).source


def _updates(source):
    """Lines of the plan that write into a slice of an existing array."""
    return re.findall(r"^\s+v\d+\[k\d+\] (?:=|\+=|-=) ", source, re.M)


def _no_impl_of(program, prim):
    """Whether the plan of ``program`` never calls ``prim``'s (copying) ``impl``."""
    namespace = compile_plan(program).run.__globals__
    calls = [v for v in namespace.values() if getattr(v, "func", v) == prim.impl]
    return not calls


def _operator(fun, shape):
    return linop.aslinearoperator(fun, np.zeros(shape), executor="numpy")


def test_forward_row_loop_writes_rows_into_one_buffer():
    from linop.primitives.slice import update_slice_p
    A = _operator(weighted_row_loop, (8, 3))
    source = _plan_source(A.flat_program)
    assert len(_updates(source)) == 8, source
    assert _no_impl_of(A.flat_program, update_slice_p)


def test_adjoint_row_loop_accumulates_in_place():
    from linop.primitives.slice import update_slice_p
    A = _operator(weighted_row_loop, (8, 3))
    source = _plan_source(A.adjoint_program)
    assert _no_impl_of(A.adjoint_program, update_slice_p), source
    assert len(re.findall(r"\] \+= ", source)) >= 7, source  # one per row but the first


def test_accumulated_laplacian_forward_is_one_buffer():
    from linop.primitives.slice import add_slice_p, update_slice_p
    A = _operator(accumulated_laplacian, (6, 7))
    source = _plan_source(A.flat_program)
    assert _no_impl_of(A.flat_program, update_slice_p), source
    assert _no_impl_of(A.flat_program, add_slice_p), source
    assert len(_updates(source)) == 5, source


def test_view_read_after_an_update_is_copied_not_aliased():
    program = linop.trace(read_after_later_write, np.zeros(8))
    source = _plan_source(program)
    assert "_copy(" in source and _updates(source), source
    x = np.arange(8.0)
    for got, want in zip(program(x), read_after_later_write(x)):
        np.testing.assert_array_equal(got, want)


def test_inputs_are_never_written():
    program = linop.trace(input_written, np.zeros((5, 2)))
    x = np.arange(10.0).reshape(5, 2)
    keep = x.copy()
    out = program(x)
    np.testing.assert_array_equal(x, keep)
    np.testing.assert_array_equal(out, input_written(keep))
    assert not np.shares_memory(out, x)


@pytest.mark.parametrize("fun,shape", [(views_of_one_result, (6,)),
                                       (version_also_output, (5, 2)),
                                       (read_after_later_write, (6,))])
def test_outputs_share_no_memory(fun, shape):
    program = linop.trace(fun, np.zeros(shape))
    x = np.random.default_rng(0).standard_normal(shape)
    outs = program(x)
    for i, a in enumerate(outs):
        assert not np.shares_memory(a, x)
        assert a.flags.writeable
        for b in outs[i + 1:]:
            assert not np.shares_memory(a, b)
    for got, want in zip(outs, fun(x)):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_writes_into_zeros_are_rebased_onto_the_newest_version():
    """``y[s] = a; y[s] += b`` folds into two writes into the zeros; rebased, they chain."""
    from linop.passes import fuse_for_execution, rebase_writes
    A = _operator(accumulated_laplacian, (6, 7))
    rebased = fuse_for_execution(rebase_writes(A.flat_program))
    zeros = [e.out for e in rebased.eqns if e.prim.name == "zeros"]
    assert len(zeros) == 1
    assert sum(zeros[0] in e.inputs for e in rebased.eqns) == 1


def test_slice_missing_an_update_reads_around_it():
    """The adjoint of a write chain reads each row of the cotangent, not of copies of it."""
    A = _operator(row_loop, (8, 3))
    assert not any(e.prim.name == "update_slice" for e in A.adjoint_program.eqns)


# -- random chains of writes, against NumPy -------------------------------------------------

_N = 6
_spans = st.tuples(st.integers(0, _N - 1), st.integers(1, _N), st.integers(1, 3)).map(
    lambda t: slice(min(t[0], t[1] - 1), max(t[0] + 1, t[1]), t[2]))
_steps = st.one_of(
    st.tuples(st.just("set"), _spans, st.floats(-2, 2, allow_nan=False)),
    st.tuples(st.just("add"), _spans, st.floats(-2, 2, allow_nan=False)),
    st.tuples(st.just("sub"), _spans, st.floats(-2, 2, allow_nan=False)),
    st.tuples(st.just("keep"), _spans, st.just(0.0)),   # a copy of a slice, used at the end
    st.tuples(st.just("view"), _spans, st.just(0.0)),   # a view of y, used at the end
    st.tuples(st.just("out"), _spans, st.just(0.0)),    # this version is also an output
    st.tuples(st.just("scale"), _spans, st.floats(-2, 2, allow_nan=False)),
    st.tuples(st.just("read"), _spans, st.just(0.0)),   # y[s] written into x's copy
)


def _chain(steps, start):
    """A NumPy function: a chain of writes into ``y`` (zeros, a copy of x or 2 x)."""
    def fun(x):
        y = {"zeros": np.zeros_like, "copy": np.copy, "double": lambda a: 2 * a}[start](x)
        kept, outs = [], []
        z = x.copy()
        for kind, s, c in steps:
            n = len(range(*s.indices(_N)))
            src = x[:n] if kind != "read" else None
            if kind == "set":
                y[s] = c * src
            elif kind == "add":
                y[s] += c * src
            elif kind == "sub":
                y[s] -= src
            elif kind == "keep":
                kept.append(y[s].copy())
            elif kind == "view":
                kept.append(y[s])
            elif kind == "out":
                outs.append(y.copy())
            elif kind == "scale":
                y = y * c
            else:
                z[:n] = y[s]
        return (y, z, *outs, *[k.sum(axis=0) for k in kept])
    return fun


@settings(max_examples=60, deadline=None)
@given(st.lists(_steps, min_size=1, max_size=8), st.sampled_from(["zeros", "copy", "double"]))
def test_random_write_chains_match_numpy(steps, start):
    fun = _chain(steps, start)
    x = np.random.default_rng(len(steps)).standard_normal((_N, 2))
    keep = x.copy()
    program = linop.trace(fun, np.zeros((_N, 2)))
    outs = program(x)
    np.testing.assert_array_equal(x, keep)
    for got, want in zip(outs, fun(keep)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for i, a in enumerate(outs):
        assert not np.shares_memory(a, x)
        for b in outs[i + 1:]:
            assert not np.shares_memory(a, b)
    transposed = linop.transpose(program)
    cts = [np.random.default_rng(i).standard_normal(o.shape) for i, o in enumerate(outs)]
    kept = [c.copy() for c in cts]
    transposed(tuple(cts))
    for c, k in zip(cts, kept):
        np.testing.assert_array_equal(c, k)
    check_transpose(fun, np.zeros((_N, 2)))


# -- the slice relations the rewrites rely on, against explicit index sets --------------------

_slice_params = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 8), st.integers(1, 3)),
                         min_size=2, max_size=2)


def _elements(params, shape):
    marks = np.zeros(shape, bool)
    marks[tuple(slice(a, b, s) for a, b, s in params)] = True
    return set(zip(*np.nonzero(marks)))


def _as_params(spec):
    return {"starts": tuple(a for a, _, _ in spec), "stops": tuple(b for _, b, _ in spec),
            "steps": tuple(s for _, _, s in spec)}


def _slice_eqns(first, second, shape):
    """A write of slice ``second`` after a write of ``first``, and a read of ``first``."""
    from linop.ir import Eqn, ShapeDtype, Var
    from linop.primitives.slice import slice_p, update_slice_p
    x = Var(ShapeDtype(shape, np.dtype(np.float64)))
    def write(spec, base):
        n = tuple(len(range(a, b, s)) for a, b, s in spec)
        v = Var(ShapeDtype(n, np.dtype(np.float64)))
        return Eqn(update_slice_p, (base, v), _as_params(spec), Var(base.aval))
    earlier = write(first, x)
    later = write(second, x)
    read = Eqn(slice_p, (earlier.out,), _as_params(first), Var(earlier.inputs[1].aval))
    return earlier, later, read


@settings(max_examples=300, deadline=None)
@given(_slice_params, _slice_params)
def test_slice_rules_match_index_sets(first, second):
    """``overwrites`` and the slice-through-update fold agree with explicit index sets."""
    shape = (8, 8)
    first = [(min(a, 7), max(min(b, 8), min(a, 7) + 1), s) for a, b, s in first]
    second = [(min(a, 7), max(min(b, 8), min(a, 7) + 1), s) for a, b, s in second]
    a, b = _elements(first, shape), _elements(second, shape)
    earlier, later, _ = _slice_eqns(first, second, shape)
    assert later.prim.overwrites(later, earlier) == (a <= b)
    # a read of slice ``second`` of ``earlier``'s result folds through it only when disjoint
    _, _, read = _slice_eqns(second, first, shape)
    read = type(read)(read.prim, (earlier.out,), _as_params(second), read.out)
    folded = read.prim.fold_into(earlier, read)
    if folded is not None:
        assert not a & b and folded.inputs[0] is earlier.inputs[0]
    else:
        assert a & b  # exact for slices this small


def test_operator_calls_return_fresh_arrays():
    # the fast paths of matvec, rmatvec and A @ x run the plan straight away: still a copy
    A = linop.aslinearoperator(lambda x: x, np.zeros(4), executor="numpy")
    x = np.arange(4.0)
    results = [A.matvec(x), A.rmatvec(x), A @ x, A.H @ x, A.dot(x), A.matvec(x)]
    for y in results:
        assert type(y) is np.ndarray and y.shape == (4,) and not np.shares_memory(y, x)
        np.testing.assert_array_equal(y, x)
    assert not np.shares_memory(results[0], results[-1])
    assert A.matvec(np.arange(4)).dtype == np.float64  # other dtypes take the checked path
    assert A.matvec(x[:, None]).shape == (4, 1)


def test_a_at_x_names_itself_in_the_errors_of_non_numeric_vectors():
    # the vector fast path of A @ x and A.dot must leave those errors to the checked path
    A = linop.aslinearoperator(lambda x: 2 * x, np.zeros(4), executor="numpy")
    for call in (A.__matmul__, A.dot):
        with pytest.raises(TypeError, match=r"^A @ x at .*test_inplace_exec\.py:\d+: expected a "
                                            r"numeric vector"):
            call(np.array(list("abcd")))


def _copied_view_then_update(x):
    y = 2 * x
    v = y.reshape(4, 1).copy()                 # a view of y in the plan (x[:, None])
    y[1:3] += x[:2]
    y[0] -= x[3]
    return y, v


def _unit_sum_then_update(x):
    s = x.sum(axis=1)                          # runs as x.reshape(3) + 0
    s[0] = 0 * s[0]
    return s, x.reshape(1, 3), x[:, 0]


def _negations(x, y):
    n = -x
    return y + n, n + y[::-1], y - (-x) * 2.0, n


# outputs that are views of one another or of the input in the plan (unit-axis reshapes run as
# indexing), buffers updated while a view of them is read, negations folded into sums
VIEW_CASES = [
    ("copied-view-then-update", _copied_view_then_update, [np.arange(1.0, 5.0)]),
    ("unit-sum-then-update", _unit_sum_then_update, [np.array([[-0.0], [2.0], [-3.0]])]),
    ("negations-minus-zero", _negations, [np.array([0.0, -0.0, 1.0]), np.array([-0.0, -0.0, 2.0])]),
    ("negations-complex", _negations, [np.array([0.0, -0.0, 1.0]),
                                       np.array([complex(-0.0, -0.0), complex(0.0, -0.0), 2j])]),
]


@pytest.mark.parametrize("fun, args", [c[1:] for c in VIEW_CASES], ids=[c[0] for c in VIEW_CASES])
def test_plans_of_views_and_folded_negations_match_numpy(fun, args):
    program = linop.trace(fun, *args)
    kept = [a.copy() for a in args]
    got = program.call_flat(args, "numpy")
    expected = fun(*[a.copy() for a in args])
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)
        np.testing.assert_array_equal(np.signbit(g.real), np.signbit(e.real))
        np.testing.assert_array_equal(np.signbit(np.imag(g)), np.signbit(np.imag(e)))
        assert not any(np.shares_memory(g, a) for a in args)
    assert not any(np.shares_memory(g, h) for i, g in enumerate(got) for h in got[:i])
    for a, k in zip(args, kept):
        np.testing.assert_array_equal(a, k)
