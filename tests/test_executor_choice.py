"""``executor=``: kept by every operator derived from traced operators; bad names refused."""
import importlib.util

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator as scipy_operator

import linop
from linop import ir
from linop.errors import ExecutorError
from linop.fused import executor as fused_executor
from linop.operator import traced

EXECUTORS = ["numpy", "auto"] + (["numba"] if importlib.util.find_spec("numba") else [])
BAD_NAMES = ["", "NUMBA", 3, [], "jax"]


def _operands(executor):
    """A real 3x4 difference ``A``, a square 3x3 ``S`` and a complex 3x4 ``C``."""
    A = linop.aslinearoperator(lambda x: x[1:] - x[:-1], np.zeros(4), executor=executor)
    S = linop.aslinearoperator(lambda x: 2.0 * x[::-1], np.zeros(3), executor=executor)
    C = linop.aslinearoperator(lambda x: (1 + 2j) * x[:3], np.zeros(4, complex), executor=executor)
    return A, S, C


#: name -> the derived operator of the operands (A 3x4, S 3x3, C complex 3x4).
DERIVED = {
    "S @ A": lambda A, S, C: S @ A,
    "S.dot(A)": lambda A, S, C: S.dot(A),
    "A + A": lambda A, S, C: A + A,
    "A - A": lambda A, S, C: A - A,
    "3 * A": lambda A, S, C: 3 * A,
    "A * 3": lambda A, S, C: A * 3,
    "A / 2": lambda A, S, C: A / 2,
    "-A": lambda A, S, C: -A,
    "A.H": lambda A, S, C: A.H,
    "A.T": lambda A, S, C: A.T,
    "C.T (complex)": lambda A, S, C: C.T,
    "C.H (complex)": lambda A, S, C: C.H,
    "(A.H @ A) ** 2": lambda A, S, C: (A.H @ A) ** 2,
    "S ** 0": lambda A, S, C: S ** 0,
    "A.normal()": lambda A, S, C: A.normal(),
    "at_precision": lambda A, S, C: linop.aslinearoperator(
        lambda x: x[1:] - x[:-1], np.zeros(4, np.float32), executor=A.executor
    ).at_precision(np.float64),
    "block": lambda A, S, C: linop.block([[A, None], [None, S]]),
    "hstack": lambda A, S, C: linop.hstack([S, A]),
    "vstack": lambda A, S, C: linop.vstack([A, 2 * A]),
    "block_diag": lambda A, S, C: linop.block_diag([A, S]),
    # operands that are not traced (matrices, SciPy operators) have no choice of their own
    "A + ndarray": lambda A, S, C: A + np.ones((3, 4)),
    "ndarray - A": lambda A, S, C: np.ones((3, 4)) - A,
    "A @ SciPy operator": lambda A, S, C: A @ scipy_operator(np.eye(4)),
    "sparse @ A": lambda A, S, C: sp.eye(3, format="csr") @ A,
    "A + SciPy operator": lambda A, S, C: A + scipy_operator(np.ones((3, 4))),
    "vstack with a matrix": lambda A, S, C: linop.vstack([A, np.ones((2, 4))]),
    "aslinearoperator(A + A)": lambda A, S, C: linop.aslinearoperator(A + A),
}


@pytest.fixture
def plans_for(monkeypatch):
    """The executor names that ``matvec``/``rmatvec`` asked ``plan_for`` for (NumPy plans run)."""
    asked = []

    def spy(program, executor):
        asked.append(executor)
        return fused_executor.plan_for(program, "numpy")  # no compilation: the choice is tested

    monkeypatch.setattr(traced, "plan_for", spy)
    return asked


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("name", list(DERIVED))
def test_derived_operators_run_with_their_operands_executor(name, executor, plans_for):
    op = DERIVED[name](*_operands(executor))
    assert isinstance(op, linop.TracedLinearOperator)
    assert op.executor == executor
    m, n = op.shape
    op.matvec(np.ones(n, op.dtype))
    op.rmatvec(np.ones(m, op.dtype))
    assert plans_for == [executor, executor]


#: name -> the operator of ``A`` and ``B`` (of shape 3x4) that one operation makes.
COMBINED = {
    "A @ B": lambda A, B: A @ B.H,
    "A + B": lambda A, B: A + B,
    "A - B": lambda A, B: A - B,
    "block": lambda A, B: linop.block([[A], [B]]),
    "hstack": lambda A, B: linop.hstack([A, B]),
}


@pytest.fixture
def other_executor(monkeypatch):
    """A second registered executor besides "numpy" (runs NumPy), so no test needs numba."""
    monkeypatch.setitem(ir.EXECUTORS, "other", ir.EXECUTORS["numpy"])
    return "other"


@pytest.mark.parametrize("name", list(COMBINED))
def test_operands_with_different_executors_are_a_clear_error(name, other_executor):
    A, _, _ = _operands("numpy")
    B = A.with_executor(other_executor)
    with pytest.raises(ExecutorError, match=r"test_executor_choice\.py:\d+: the operands run "
                                            r"with different executors, 'numpy' and 'other'.*"
                                            r"with_executor"):
        COMBINED[name](A, B)


@pytest.mark.parametrize("name", list(COMBINED))
def test_auto_defers_to_the_operand_that_names_an_executor(name, other_executor):
    A, _, _ = _operands("auto")
    B = A.with_executor(other_executor)
    assert COMBINED[name](A, B).executor == other_executor
    assert COMBINED[name](B, A).executor == other_executor
    assert COMBINED[name](A, A).executor == "auto"


def test_with_executor_shares_the_programs(other_executor):
    A, _, _ = _operands("numpy")
    B = A.with_executor(other_executor)
    assert A.with_executor("numpy") is A and A.executor == "numpy"
    assert B.flat_program is A.flat_program and B.adjoint_program is A.adjoint_program
    assert B.H.executor == other_executor
    np.testing.assert_array_equal(B.apply_adjoint(np.ones(3)), A.apply_adjoint(np.ones(3)))
    N = A.normal().with_executor(other_executor)
    np.testing.assert_array_equal(N.diagonal(), A.normal().diagonal())


def test_aslinearoperator_of_a_traced_operator_sets_an_explicit_executor(other_executor):
    A, _, _ = _operands("numpy")
    assert linop.aslinearoperator(A) is A  # "auto", the default, states no preference
    assert linop.aslinearoperator(A, executor="auto") is A
    assert linop.aslinearoperator(A, executor=other_executor).executor == other_executor
    assert linop.aslinearoperator(np.eye(2), executor="numpy").executor == "numpy"


def _program():
    return linop.trace(lambda x: 2.0 * x[::2], np.zeros(4))


#: name -> a call of each public entry point that takes ``executor=`` with ``bad``.
ENTRY_POINTS = {
    "Program.__call__": lambda bad: _program()(np.ones(4), executor=bad),
    "Program.call_flat": lambda bad: _program().call_flat([np.ones(4)], bad),
    "ir.executor": lambda bad: ir.executor(bad),
    "aslinearoperator": lambda bad: linop.aslinearoperator(np.negative, np.zeros(2),
                                                           executor=bad),
    "linear_transpose": lambda bad: linop.linear_transpose(np.negative, np.zeros(2),
                                                           executor=bad),
    "with_executor": lambda bad: linop.aslinearoperator(np.negative,
                                                        np.zeros(2)).with_executor(bad),
}


@pytest.mark.parametrize("bad", BAD_NAMES, ids=repr)
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_bad_executor_names_are_clear_errors_everywhere(entry, bad):
    with pytest.raises(ExecutorError,
                       match=r"(?s)test_executor_choice\.py:\d+.*'numpy'.*'auto'"):
        ENTRY_POINTS[entry](bad)


def test_linear_transpose_takes_none_for_the_default():
    x = np.arange(2.0)
    got = linop.linear_transpose(lambda v: 2.0 * v[::2], np.zeros(4), executor=None)(x)
    want = linop.linear_transpose(lambda v: 2.0 * v[::2], np.zeros(4), executor="numpy")(x)
    np.testing.assert_array_equal(got[0], want[0])


def test_aslinearoperator_takes_none_for_the_default():
    A = linop.aslinearoperator(lambda v: 2.0 * v[::2], np.zeros(4), executor=None)
    assert A.executor == "auto"
    assert linop.aslinearoperator(A.with_executor("numpy"), executor=None).executor == "numpy"
