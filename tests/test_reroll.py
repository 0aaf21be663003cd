"""Loop re-rolling (linop.reroll): Python loops of slice writes run as strided writes, exactly.

Each model is run three ways on the same random input, forward and adjoint: the NumPy
executor's plan (re-rolled), the program equation by equation (``replay`` on arrays,
never re-rolled) and the plain NumPy function or the dense oracle. Each row also says
how many slice writes the executed program may keep, so that a lost pass (or one that
re-rolls what it must not) fails here.
"""
from __future__ import annotations

import numpy as np
import pytest

import linop
from linop.core import replay
from linop.execute import compile_plan
from linop.passes import fuse_for_execution, rebase_writes
from linop.primitives.slice import add_slice_p
from linop import reroll
from linop.reroll import reroll_loops
from linop.testing import check_transpose, dense_matrix

from harness import Case, check_all, case_id

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

W = np.random.default_rng(7).standard_normal(5)


def row_loop(x):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] = 2.0 * x[i] - x[i - 1]  # i - 1 = -1 wraps: row 0 is not in the progression
    return y


def row_loop_backwards(x):
    y = np.zeros_like(x)
    for i in reversed(range(1, x.shape[0])):
        y[i] = x[i] - 0.5 * x[i - 1]
    return y


def step_two(x):
    y = np.zeros_like(x)
    for i in range(0, x.shape[0] - 1, 2):
        y[i] = x[i] + 3.0 * x[i + 1]
    return y


def column_loop(x):
    y = np.zeros_like(x)
    for j in range(1, x.shape[1]):
        y[:, j] = x[:, j] - x[:, j - 1]
    return y


def transposing_loop(x):
    """Rows of ``x`` become columns of ``y``, the columns read backwards."""
    y = np.zeros_like(x, shape=(x.shape[1], x.shape[0]))
    for i in range(x.shape[0]):
        y[:, i] = 2.0 * x[x.shape[0] - 1 - i]
    return y


def middle_axis_3d(x):
    y = np.zeros_like(x)
    for k in range(1, x.shape[1]):
        y[:, k, :] = 2.0 * x[:, k, :] + x[:, k - 1, :]
    return y


def nested_loops(x):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            y[i, j] = 2.0 * x[i, j] - x[i, j - 1]  # wraps in j
    return y


def recurrence(x):
    """Each row reads the row the previous iteration wrote: must not be re-rolled."""
    y = np.zeros_like(x)
    y[0] = x[0]
    for i in range(1, x.shape[0]):
        y[i] = 0.5 * y[i - 1] + x[i]
    return y


def reads_two_back(x):
    """Reads what the loop wrote two iterations before (a gap in the dependence)."""
    y = np.zeros_like(x)
    y[0], y[1] = x[0], x[1]
    for i in range(2, x.shape[0]):
        y[i] = x[i] - y[i - 2]
    return y


def overlapping_writes(x):
    """Each write overwrites half of the previous one: the last one wins, element by element."""
    y = np.zeros_like(x)
    for i in range(x.shape[0] - 1):
        y[i:i + 2] = 2.0 * x[i:i + 2]
    return y


def overlapping_accumulations(x):
    y = x * 1.0
    for i in range(x.shape[0] - 1):
        y[i:i + 2] += 0.5 * x[i]
    return y


def adjoint_loop(x):
    """The row loop's adjoint written by hand: ``y[i - 1]`` reads what the previous iteration
    wrote (``y[i] += ...``), so it is not re-rolled."""
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] += 2.0 * x[i]
        y[i - 1] -= x[i]
    return y


def regrouped_pairs(x):
    """``y[i] += a; y[i + 1] += b``: re-rolled as pairs (row i + 1 takes b, then the next a)."""
    y = x * 3.0
    for i in range(x.shape[0] - 1):
        y[i:i + 1] += 0.1 * x[i:i + 1]
        y[i + 1:i + 2] += 0.7 * x[i:i + 1]
    return y


def accumulations_in_order(x):
    """A chain of accumulations only, ``y[i] += a_i; y[i + 1] += b_i``: regrouping from the
    first pair would add ``a`` before ``b`` to a row that took ``b`` first; the pass must find
    the grouping that keeps each row's order (or none)."""
    y = x * 3.0
    for i in range(x.shape[0] - 1):
        y = add_slice_p.bind(y, 0.1 * x[i:i + 1], sign=1, **_row(i, x.shape))
        y = add_slice_p.bind(y, 0.7 * x[i:i + 1], sign=1, **_row(i + 1, x.shape))
    return y


def _row(i, shape):
    return {"starts": (i, 0), "stops": (i + 1, shape[1]), "steps": (1, 1)}


def interleaved(x):
    y = np.zeros_like(x, shape=(2 * x.shape[0],) + x.shape[1:])
    for i in range(x.shape[0]):
        y[2 * i] = x[i]
        y[2 * i + 1] = -3.0 * x[i]
    return y


def weights_per_row(x):
    """A constant of its own per iteration: not one computation, no re-roll."""
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] = (i + 1.0) * x[i]
    return y


def shared_operand(x):
    """Every iteration also reads one array computed before the loop, and a constant vector."""
    total = x.sum(axis=0)
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] = W * x[i] + total
    return y


def reduction_per_row(x):
    y = np.zeros_like(x, shape=(x.shape[0],))
    for i in range(x.shape[0]):
        y[i] = x[i].sum()
    return y


def permuted_rows(x):
    """Rows written in an order with no constant step."""
    y = np.zeros_like(x)
    for i in [3, 0, 4, 1, 2]:
        y[i] = x[i] + x[(i + 1) % 5]
    return y


def zeros_written(x):
    """Each iteration writes a constant (zeros): a value with no leaves at all."""
    y = x * 2.0
    for i in range(1, x.shape[0] - 1):
        y[i] = 0.0
    return y


def rotated_rows(x):
    """Two writes per row (each row rotated by one): iterations of two writes."""
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i, 1:] = 2.0 * x[i, :-1]
        y[i, 0] = x[i, -1]
    return y


def complex_rows(x):
    y = np.zeros_like(x)
    for i in range(1, x.shape[0]):
        y[i] = 1j * x[i] + x[i - 1]
    return y


# (name, function, input shape, dtype, at most how many writes forward / adjoint keep
#  (None: as many as without re-rolling, i.e. nothing re-rolled), exact)
ROWS = [
    ("rows", row_loop, (12, 5), np.float64, 2, 4, True),
    ("rows backwards", row_loop_backwards, (12, 5), np.float64, 1, 3, True),
    ("step two", step_two, (10, 3), np.float64, 1, 3, True),
    ("columns", column_loop, (4, 12), np.float64, 1, 4, True),
    ("rows to columns reversed", transposing_loop, (6, 4), np.float64, 1, 2, True),
    ("3-d middle axis", middle_axis_3d, (2, 12, 3), np.float64, 1, 4, True),
    ("nested loops", nested_loops, (5, 6), np.float64, 2, 8, True),
    ("recurrence", recurrence, (7, 3), np.float64, None, None, True),
    ("reads two back", reads_two_back, (7, 3), np.float64, None, None, True),
    ("overlapping writes", overlapping_writes, (7, 3), np.float64, None, None, True),
    ("overlapping accumulations", overlapping_accumulations, (7, 3), np.float64, None, None,
     True),
    ("hand-written adjoint", adjoint_loop, (7, 3), np.float64, None, None, True),
    ("regrouped pairs", regrouped_pairs, (8, 3), np.float64, 4, None, True),
    ("accumulations in order", accumulations_in_order, (8, 3), np.float64, 4, 2, True),
    ("interleaved writes", interleaved, (6, 3), np.float64, 2, 2, True),
    ("weights per row", weights_per_row, (6, 3), np.float64, None, None, True),
    ("shared operand", shared_operand, (6, 5), np.float64, 1, 2, True),
    ("reduction per row", reduction_per_row, (6, 5), np.float64, 1, 2, False),
    ("permuted rows", permuted_rows, (5, 3), np.float64, None, None, True),
    ("zeros written", zeros_written, (8, 3), np.float64, 1, 1, True),
    ("rotated rows", rotated_rows, (8, 3), np.float64, 2, 3, True),
    ("complex rows", complex_rows, (12, 4), np.complex128, 1, 4, True),
    ("float32 rows", row_loop, (12, 4), np.float32, 2, 4, True),
]


def _writes(program) -> int:
    return sum(e.prim.strided_access == "write" for e in program.eqns)


def _directions(fun, shape, dtype):
    op = linop.aslinearoperator(fun, np.zeros(shape, dtype), executor="numpy")
    return op, [("forward", op.flat_program), ("adjoint", op.adjoint_program)]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_rerolled_plan_equals_the_program_run_equation_by_equation(row):
    _, fun, shape, dtype, *_, exact = row
    _, programs = _directions(fun, shape, dtype)
    rng = np.random.default_rng(3)
    for direction, program in programs:
        (aval,) = program.in_avals
        x = rng.standard_normal(aval.shape).astype(aval.dtype)
        if np.iscomplexobj(x):
            x = x + 1j * rng.standard_normal(aval.shape)
        want = replay(program, [x])[0]
        got = compile_plan(program)([x])[0]
        assert got.dtype == want.dtype
        if exact:
            np.testing.assert_array_equal(got, want, err_msg=direction)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13, err_msg=direction)


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_rerolled_writes_are_counted(row):
    _, fun, shape, dtype, forward, adjoint, _ = row
    _, programs = _directions(fun, shape, dtype)
    for (direction, program), most in zip(programs, (forward, adjoint)):
        executed = fuse_for_execution(rebase_writes(program))
        rerolled = reroll_loops(executed)
        if most is None:
            assert rerolled is executed or _writes(rerolled) == _writes(executed), direction
        else:
            assert _writes(rerolled) <= most < _writes(executed), (direction, _writes(rerolled))


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_numpy_executor_matches_the_dense_oracle(row):
    _, fun, shape, dtype, *_ = row
    op, _ = _directions(fun, shape, dtype)
    x = np.zeros(shape, dtype)
    M = dense_matrix(fun, x)
    if np.iscomplexobj(x):  # the oracle's real coordinates: compare through the function
        rng = np.random.default_rng(0)
        v = rng.standard_normal(x.size) + 1j * rng.standard_normal(x.size)
        np.testing.assert_allclose(op.matvec(v), fun(v.reshape(shape)).ravel(), atol=1e-12)
        u = rng.standard_normal(op.shape[0]) + 1j * rng.standard_normal(op.shape[0])
        np.testing.assert_allclose(np.vdot(u, op.matvec(v)), np.vdot(op.rmatvec(u), v),
                                   rtol=1e-12)
    else:
        tol = 1e-5 if dtype == np.float32 else 1e-12
        columns = np.column_stack([op.matvec(e) for e in np.eye(x.size, dtype=dtype)])
        rows = np.column_stack([op.rmatvec(e) for e in np.eye(M.shape[0], dtype=dtype)])
        np.testing.assert_allclose(columns, M, atol=tol)
        np.testing.assert_allclose(rows, M.T, atol=tol)
    check_transpose(fun, x)


def test_long_loop_is_one_strided_write():
    """The benchmark's model at its size: row 0 apart, the other 255 rows as one write."""
    op, programs = _directions(row_loop, (256, 16), np.float64)
    rerolled = reroll_loops(fuse_for_execution(rebase_writes(op.flat_program)))
    assert _writes(rerolled) == 2 and len(rerolled.eqns) < 30
    x = np.random.default_rng(1).standard_normal((256, 16))
    np.testing.assert_array_equal(op.matvec(x.ravel()), row_loop(x).ravel())
    np.testing.assert_array_equal(op.rmatvec(x.ravel()),
                                  (2.0 * x - np.roll(x, -1, axis=0)).ravel())


CASES = [
    Case("reroll rows", row_loop, ((6, 3),)),
    Case("reroll columns", column_loop, ((3, 6),)),
    Case("reroll nested", nested_loops, ((4, 5),)),
    Case("reroll regrouped pairs", regrouped_pairs, ((6, 2),)),
]


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_table(param):
    check_all(*param)


_INDEX = st.tuples(st.sampled_from([1, 1, 1, -1, 2, 0]), st.integers(-3, 3))  # a * i + b, wrapped
_BODY_WRITE = st.tuples(st.sampled_from(["=", "+=", "-="]), _INDEX, _INDEX, _INDEX,
                        st.sampled_from([0.5, -2.0, 3.0]), st.sampled_from([False, False, True]))


def _random_loop(n, loop, body, start_from_x):
    """A row loop: each iteration writes ``y[row] op= c * x[r1] + x[r2]`` (or reads ``y``)."""
    def fun(x):
        y = x * 3.0 if start_from_x else np.zeros_like(x)
        for i in range(*loop):
            for op, (aw, bw), (a1, b1), (a2, b2), c, reads_y in body:
                row, r1, r2 = (aw * i + bw) % n, (a1 * i + b1) % n, (a2 * i + b2) % n
                value = c * x[r1] + (y[r2] if reads_y else x[r2])
                if op == "=":
                    y[row] = value
                elif op == "+=":
                    y[row] += value
                else:
                    y[row] -= value
        return y
    return fun


@settings(max_examples=80, deadline=None)
@given(n=st.integers(6, 11), loop=st.sampled_from([(0, 11), (1, 9), (0, 11, 2), (10, -1, -1)]),
       body=st.lists(_BODY_WRITE, min_size=1, max_size=3), start_from_x=st.booleans())
def test_random_row_loops_run_exactly_as_recorded(n, loop, body, start_from_x):
    loop = tuple(min(max(v, -1), n) if k < 2 else v for k, v in enumerate(loop))
    fun = _random_loop(n, loop, body, start_from_x)
    x = np.random.default_rng(0).standard_normal((n, 3))
    for block in (reroll.BLOCK_ELEMENTS, 24):  # 24: runs cut into blocks of 4 to 8 iterations
        default, reroll.BLOCK_ELEMENTS = reroll.BLOCK_ELEMENTS, block
        try:
            _, programs = _directions(fun, (n, 3), np.float64)
            for direction, program in programs:
                (aval,) = program.in_avals
                v = np.random.default_rng(1).standard_normal(aval.shape)
                np.testing.assert_array_equal(compile_plan(program)([v])[0],
                                              replay(program, [v])[0], err_msg=direction)
        finally:
            reroll.BLOCK_ELEMENTS = default
    np.testing.assert_allclose(programs[0][1](x.ravel()), fun(x).ravel(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(300, 1000), (6, 20000)])
def test_long_runs_are_cut_into_blocks_that_stay_small(shape):
    """Whole-array temporaries of a large array cost more than a loop over cached rows:
    a run writes about ``BLOCK_ELEMENTS`` per block, and rows larger than a block's
    share stay a loop."""
    from linop.reroll import BLOCK_ELEMENTS, MIN_RUN
    rows_per_block = BLOCK_ELEMENTS // shape[1]
    blocks = -(-(shape[0] - 1) // rows_per_block) if rows_per_block >= MIN_RUN else shape[0] - 1
    writes = 1 + blocks  # row 0 (its i - 1 wraps) apart
    assert (shape == (300, 1000)) == (1 < blocks < shape[0] - 1)  # one case of each kind
    op, programs = _directions(row_loop, shape, np.float64)
    rerolled = reroll_loops(fuse_for_execution(rebase_writes(op.flat_program)))
    assert _writes(rerolled) == writes
    x = np.random.default_rng(2).standard_normal(shape)
    np.testing.assert_array_equal(op.matvec(x.ravel()), row_loop(x).ravel())
    for _, program in programs:
        v = np.random.default_rng(3).standard_normal(program.in_avals[0].shape)
        np.testing.assert_array_equal(compile_plan(program)([v])[0], replay(program, [v])[0])
