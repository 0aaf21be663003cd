"""Algebra on traced operators: the flat programs of ``A @ B``, ``A + B``, ``alpha * A``,
``A.T``, ``A ** k`` and ``A^H A``, and the executor such a result runs with.

Each function traces a function that calls the operands' programs, so the
result is again one program the executor sees whole. They return the triple
``(forward, adjoint, dtype)`` that :class:`linop.operator.TracedLinearOperator`
is built from; operands are traced operators (anything with ``shape``,
``dtype``, ``flat_program``, ``adjoint_program`` and ``at_precision``).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import ExecutorError, user_location
from ..primitives import arithmetic as A, complex as C
from .flat import lifted, program_fn, trace_vector_fn

__all__ = ["common_dtype", "common_executor", "composed", "summed", "scaled", "power",
           "transposed", "normal"]


def common_dtype(ops) -> np.dtype:
    """The result dtype of the operators ``ops``."""
    return np.result_type(*[op.dtype for op in ops])


def common_executor(ops, what: str) -> str:
    """The executor of an operator made from the traced operators ``ops`` (``A @ B``, blocks).

    ``"auto"`` (the default of :func:`linop.aslinearoperator`) states no preference: the
    result runs with the one other name the operands use, or with ``"auto"`` when they all
    use it. Operands made from matrices or SciPy/PyLops operators use ``"auto"`` unless
    :func:`linop.aslinearoperator` was given another name for them.

    Parameters
    ----------
    ops : sequence of TracedLinearOperator
    what : str
        The operation, for the error message (``"A + B"``).

    Raises
    ------
    ExecutorError
        When two operands name different executors (``"numpy"`` and ``"numba"``): the
        result is one program, run by one executor, and neither choice may be dropped
        silently.
    """
    chosen = list(dict.fromkeys(op.executor for op in ops if op.executor != "auto"))
    if len(chosen) > 1:
        names = " and ".join(repr(name) for name in chosen)
        raise ExecutorError(
            f"{what} at {user_location()}: the operands run with different executors, {names}, "
            "and the result is one program run by one executor: make them agree, e.g. "
            f"B.with_executor({chosen[0]!r}) for an operand B that runs with "
            f"{chosen[1]!r}, or B.with_executor('auto') to let the others decide")
    return chosen[0] if chosen else "auto"


def composed(left, right) -> tuple:
    """``left @ right``."""
    if left.shape[1] != right.shape[0]:
        raise ValueError(f"cannot compose operators of shapes {left.shape} and {right.shape}")
    dtype = common_dtype([left, right])
    fa, aa = lifted(left, dtype)
    fb, ab = lifted(right, dtype)
    fwd = trace_vector_fn(lambda v: fa(fb(v)), right.shape[1], dtype)
    adj = trace_vector_fn(lambda w: ab(aa(w)), left.shape[0], dtype)
    return fwd, adj, dtype


def summed(left, right) -> tuple:
    """``left + right``."""
    if left.shape != right.shape:
        raise ValueError(f"cannot add operators of shapes {left.shape} and {right.shape}")
    dtype = common_dtype([left, right])
    fa, aa = lifted(left, dtype)
    fb, ab = lifted(right, dtype)
    fwd = trace_vector_fn(lambda v: A.add(fa(v), fb(v)), left.shape[1], dtype)
    adj = trace_vector_fn(lambda w: A.add(aa(w), ab(w)), left.shape[0], dtype)
    return fwd, adj, dtype


def _scalar_dtype(op, alpha) -> np.dtype:
    """The dtype of ``alpha * op`` (Python scalars weak, as NumPy promotes them)."""
    alpha_arr = np.asarray(alpha)
    if alpha_arr.dtype == object and isinstance(alpha, numbers.Number):
        alpha_arr = np.asarray(complex(alpha) if isinstance(alpha, complex) else float(alpha))
    if alpha_arr.dtype.kind not in "fciub":
        raise TypeError(f"cannot scale an operator by {alpha!r}")
    dtype = np.result_type(op.dtype, alpha if isinstance(alpha, (int, float, complex))
                           and not isinstance(alpha, np.generic) else alpha_arr.dtype)
    if not np.issubdtype(dtype, np.inexact):
        dtype = np.result_type(dtype, np.float64)
    return dtype


def scaled(op, alpha) -> tuple:
    """``alpha * op`` for a scalar ``alpha``."""
    dtype = _scalar_dtype(op, alpha)
    f, a = lifted(op, dtype)
    c = np.asarray(alpha, dtype)
    fwd = trace_vector_fn(lambda v: A.mul(f(v), c), op.shape[1], dtype)
    adj = trace_vector_fn(lambda w: A.mul(a(w), np.conj(c)), op.shape[0], dtype)
    return fwd, adj, dtype


def power(op, k) -> tuple:
    """``op ** k`` for a square ``op`` and an integer ``k >= 0``."""
    if op.shape[0] != op.shape[1]:
        raise ValueError(f"only square operators have powers, got shape {op.shape}")
    f, a = program_fn(op.flat_program), program_fn(op.adjoint_program)

    def repeat(g):
        def h(v):
            for _ in range(k):
                v = g(v)
            return v
        return h
    n = op.shape[0]
    return (trace_vector_fn(repeat(f), n, op.dtype), trace_vector_fn(repeat(a), n, op.dtype),
            op.dtype)


def transposed(op) -> tuple:
    """``op.T`` of a complex operator: ``conj ∘ op^H ∘ conj``."""
    m, n = op.shape
    f, a = program_fn(op.flat_program), program_fn(op.adjoint_program)
    fwd = trace_vector_fn(lambda v: C.conj(a(C.conj(v))), m, op.dtype)
    adj = trace_vector_fn(lambda w: C.conj(f(C.conj(w))), n, op.dtype)
    return fwd, adj, op.dtype


def normal(op) -> tuple:
    """``op^H op`` (self-adjoint: the same program both ways)."""
    f, a = program_fn(op.flat_program), program_fn(op.adjoint_program)
    prog = trace_vector_fn(lambda v: a(f(v)), op.shape[1], op.dtype)
    return prog, prog, op.dtype
