"""``matmat``/``rmatmat`` of traced operators: one batched program equals the column-by-column loop.

Every row of the table's sweep subset (:func:`harness.sweep_cases`, which exercises every
primitive forward and adjoint) runs as an operator on 1 and 16 columns, C- and F-ordered:
the batched result equals ``matvec``/``rmatvec`` of each column to rounding, has the same
dtype, does not share memory with ``X`` and leaves ``X`` unchanged.
"""
from __future__ import annotations

import numpy as np
import pytest

import linop
from harness import sweep_cases
from linop.testing import tolerance_for

RNG = np.random.default_rng(5)


def _dtype_for(index, case):
    """A real dtype for even rows, a complex one for odd rows (where the row has both)."""
    dtypes = [np.dtype(d) for d in case.dtypes]
    kinds = [d for d in dtypes if d.kind == ("c" if index % 2 else "f")] or dtypes
    return max(kinds, key=lambda d: d.itemsize)


def _operator(case, dtype, executor):
    primals = case.primals(dtype)
    try:
        return linop.aslinearoperator(case.fun, *primals, executor=executor)
    except linop.RealLinearError:  # real-linear in complex leaves: real coordinates
        return linop.aslinearoperator(case.fun, *primals, real_coords=True, executor=executor)


def _columns(shape, dtype, order):
    X = RNG.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        X = X + 1j * RNG.standard_normal(shape)
    return np.asarray(X.astype(dtype), order=order)


def _check_against_loop(apply_many, apply_one, X, rtol):
    before = X.copy()
    got = apply_many(X)
    want = np.stack([apply_one(X[:, j]) for j in range(X.shape[1])], axis=1)
    np.testing.assert_array_equal(X, before)  # X is not written to
    assert not np.shares_memory(got, X)
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = max(np.linalg.norm(want), 1e-30)
    assert np.linalg.norm(got - want) / scale <= rtol
    got[...] = 0  # the result is the caller's to write, and writing it leaves X as it was
    np.testing.assert_array_equal(X, before)


def _rtol(A):
    return 1e-4 if tolerance_for([A.dtype]) > 1e-10 else 1e-11


SWEEP = sweep_cases()


@pytest.mark.parametrize("row", SWEEP, ids=[name for _, name, _ in SWEEP])
def test_matmat_equals_the_loop_of_matvecs_on_table_rows(row):
    index, _, case = row
    # "numpy" runs the batch-last program as batched; "auto" (with numba installed) the form
    # for the fused executor, its edge reshapes on the batch-last side (run with NumPy first)
    A = _operator(case, _dtype_for(index, case), ("numpy", "auto")[index // 2 % 2])
    rtol = _rtol(A)
    for order in "CF":
        for k in (1, 16):
            _check_against_loop(A.matmat, A.matvec, _columns((A.shape[1], k), A.dtype, order),
                                rtol)
            _check_against_loop(A.rmatmat, A.rmatvec, _columns((A.shape[0], k), A.dtype, order),
                                rtol)


def _stencil(x):
    y = np.zeros_like(x)
    y[1:-1] = 2.0 * x[1:-1] - x[:-2] - x[2:]
    y[0] = x[0]
    return y


@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative strides", "read-only"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_matmat_on_any_layout_of_x(layout, dtype):
    A = linop.aslinearoperator(_stencil, np.zeros(40, dtype))
    X = _columns((40, 33), dtype, "C")
    X = {"C": X[:, :16], "F": np.asfortranarray(X[:, :16]), "strided": X[:, ::2],
         "negative strides": X[::-1, 15::-1], "read-only": X[:, :16]}[layout]
    if layout == "read-only":
        X = X.copy()
        X.flags.writeable = False
    _check_against_loop(A.matmat, A.matvec, X, _rtol(A))
    _check_against_loop(A.rmatmat, A.rmatvec, X, _rtol(A))


@pytest.mark.parametrize("op_dtype, x_dtype", [
    (np.float64, np.complex128),  # a real map on the real and imaginary parts
    (np.float32, np.complex64),
    (np.float32, np.float64),  # computed at the higher precision
    (np.float32, np.complex128),
    (np.complex64, np.float64),
    (np.float64, np.int64),
])
@pytest.mark.parametrize("order", ["C", "F"])
def test_matmat_dtypes_follow_matvec(op_dtype, x_dtype, order):
    A = linop.aslinearoperator(_stencil, np.zeros(30, op_dtype))
    X = np.asarray(_columns((30, 16), np.complex128, "C").real.astype(x_dtype)
                   if np.dtype(x_dtype).kind != "c" else _columns((30, 16), x_dtype, "C"),
                   order=order)
    want_dtype = np.result_type(x_dtype, op_dtype)
    assert A.matvec(X[:, 0]).dtype == want_dtype
    _check_against_loop(A.matmat, A.matvec, X, 1e-5)
    _check_against_loop(A.rmatmat, A.rmatvec, X, 1e-5)


def _stencil3(x):
    inner = (x[2:, 1:-1, 1:-1] + x[:-2, 1:-1, 1:-1] + x[1:-1, 2:, 1:-1] + x[1:-1, :-2, 1:-1]
             + x[1:-1, 1:-1, 2:] - 6.0 * x[1:-1, 1:-1, 1:-1])
    return np.pad(inner, 1)


def _two_leaves(a, b):
    return {"s": np.fft.fft(a, norm="ortho")[::2] * 2.0, "t": (a[1:] - b[:-1]).reshape(3, 3)}


@pytest.mark.parametrize("executor", ["numpy", "numba", "auto"])
@pytest.mark.parametrize("fun, args", [
    (_stencil3, (np.zeros((6, 5, 4)),)),
    (_stencil3, (np.zeros((6, 5, 4), np.complex64),)),
    (_two_leaves, (np.zeros(10, complex), np.zeros(10, complex))),
], ids=["stencil3", "stencil3-complex64", "two-leaves"])
def test_matmat_with_every_executor(executor, fun, args):
    """Each executor runs its form of the batched program (the fused one's reshapes last)."""
    if executor == "numba":
        pytest.importorskip("numba")
    A = linop.aslinearoperator(fun, *args, executor=executor)
    for order in "CF":
        for k in (1, 16):
            _check_against_loop(A.matmat, A.matvec, _columns((A.shape[1], k), A.dtype, order),
                                _rtol(A))
            _check_against_loop(A.rmatmat, A.rmatvec, _columns((A.shape[0], k), A.dtype, order),
                                _rtol(A))


def test_batch_columns_puts_the_batch_axis_last():
    A = linop.aslinearoperator(_stencil3, np.zeros((6, 5, 4)))
    batched = linop.batching.batch_columns(A.flat_program, 7)
    assert [v.aval.shape for v in batched.invars] == [(120, 7)]
    assert [v.aval.shape for v in batched.outvars] == [(120, 7)]
    X = _columns((120, 7), np.float64, "C")
    want = np.stack([A.matvec(X[:, j]) for j in range(7)], axis=1)
    np.testing.assert_allclose(batched.call_flat([X], "numpy")[0], want, rtol=1e-13, atol=1e-13)


def _row_loop(x):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] = 2.0 * x[i] - x[i - 1]
    return y


def _chain(x):
    y = 1.5 * x
    for k in range(3):
        y = np.roll(y, 1) - 0.5 * y[::-1]
    return np.concatenate([y[::2], y[1::2]]) + np.cumsum(y) * np.arange(16.0)


_IDX = np.array([3, 0, 7, 7, 2, 9, 1])

#: Operators whose primitives all have batch-last rules: in their batched programs every
#: value carries the batch axis last (no transposes), forward and adjoint. The last field:
#: whether the result has the layout of ``X`` (BLAS writes a product of columns transposed).
BATCH_LAST = [
    ("stencil", _stencil, np.zeros(40), True),
    ("stencil3", _stencil3, np.zeros((6, 5, 4)), True),
    ("row loop", _row_loop, np.zeros((8, 6)), True),
    ("chain", _chain, np.zeros(16), True),
    ("cumsum", lambda x: np.cumsum(x[::-1], axis=1), np.zeros((5, 6)), True),
    ("gather", lambda x: x[_IDX] * 2.0, np.zeros(10), True),
    ("dense", lambda x: RNG.standard_normal((7, 10)) @ x, np.zeros(10), False),
    ("broadcast and sum", lambda x: (x * np.arange(4.0)[:, None]).sum(axis=0) + x[0],
     np.zeros((4, 3)), True),
]


@pytest.mark.parametrize("fun, x0", [c[1:3] for c in BATCH_LAST], ids=[c[0] for c in BATCH_LAST])
def test_batch_columns_keeps_the_batch_axis_last_in_every_value(fun, x0):
    A = linop.aslinearoperator(fun, x0)
    for program in (A.flat_program, A.adjoint_program):
        batched = linop.batching.batch_columns(program, 5)
        assert all(e.prim.name != "transpose" for e in batched.eqns), batched
        assert all(e.out.aval.shape[-1:] == (5,) for e in batched.eqns
                   if e.out.aval.shape != ()), batched


class _RecordedPlan:
    """A plan that records the arrays it is run on."""

    def __init__(self, plan, seen):
        self.plan, self.seen = plan, seen

    def run(self, *arrays):
        self.seen.extend(arrays)
        return self.plan.run(*arrays)


@pytest.mark.parametrize("executor", ["numpy", "numba"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("fun, x0, same_layout", [c[1:] for c in BATCH_LAST],
                         ids=[c[0] for c in BATCH_LAST])
def test_matmat_runs_its_program_on_x_itself(monkeypatch, executor, order, fun, x0, same_layout):
    """No copy of ``X``: the batched program gets a C-contiguous view of ``X`` (``X`` or
    ``X.T``), which neither executor copies; the result is C-ordered for C-ordered ``X``
    and equals the loop of matvecs."""
    if executor == "numba":
        pytest.importorskip("numba")
    import linop.operator.traced as traced

    seen = []
    plan_for = traced.plan_for
    monkeypatch.setattr(traced, "plan_for", lambda p, ex: _RecordedPlan(plan_for(p, ex), seen))
    A = linop.aslinearoperator(fun, x0, executor=executor)
    X = _columns((A.shape[1], 16), np.float64, order)
    Y = A.matmat(X)
    assert len(seen) == 1 and seen[0].flags.c_contiguous and np.shares_memory(seen[0], X)
    if same_layout:
        assert Y.flags.c_contiguous if order == "C" else Y.flags.f_contiguous
    _check_against_loop(A.matmat, A.matvec, X, _rtol(A))
    _check_against_loop(A.rmatmat, A.rmatvec, _columns((A.shape[0], 16), np.float64, order),
                        _rtol(A))


def test_matmat_result_is_c_ordered_for_c_ordered_columns():
    """The batched program runs on a view of ``X``: for an element-wise map no copy reorders it."""
    A = linop.aslinearoperator(lambda x: 3.0 * x[1:] - x[:-1], np.zeros(50))
    Y = A.matmat(_columns((50, 16), np.float64, "C"))
    assert Y.flags.c_contiguous


def test_matmat_batches_each_program_once_per_column_count_and_layout(monkeypatch):
    import linop.operator.traced as traced

    made = []

    def counted(name):
        make = getattr(linop.batching, name)
        return lambda program, size, *args, **kwargs: made.append((name, size)) or \
            make(program, size, *args, **kwargs)

    for name in ("batch_program", "batch_columns"):
        monkeypatch.setattr(traced, name, counted(name))
    A = linop.aslinearoperator(_stencil, np.zeros(20), executor="numpy")
    X = _columns((20, 16), np.float64, "C")
    for _ in range(3):
        A.matmat(X)
        A.matmat(np.asfortranarray(X))  # the batch axis in front: X.T is C-ordered
        A.rmatmat(X)
        A.matmat(X[:, :3])
    assert sorted(made) == [("batch_columns", 3), ("batch_columns", 16), ("batch_columns", 16),
                            ("batch_program", 16)]
