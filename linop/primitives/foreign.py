"""A foreign linear operator as one opaque step: ``linear_operator``.

``linear_operator(x; op, mode, axis)`` applies a SciPy-compatible operator
(``scipy.sparse.linalg.LinearOperator``, a PyLops operator, anything with
``shape``, ``dtype``, ``matvec``/``rmatvec``/``matmat``/``rmatmat``) along axis
``axis`` of ``x``. The operator is held by reference (:class:`OperatorConst`):
it is called when the program runs, so a program follows later changes of the
operator's state.

``mode`` names which matrix is applied, for ``L`` the operator's matrix:

====== ======================= ============================ ==============
mode   matrix                  computed as                  transpose mode
====== ======================= ============================ ==============
``A``  ``L``                   ``matvec``/``matmat``        ``T``
``H``  ``L^H``                 ``rmatvec``/``rmatmat``      ``C``
``T``  ``L^T``                 ``conj(rmatvec(conj(x)))``   ``A``
``C``  ``conj(L)``             ``conj(matvec(conj(x)))``    ``H``
====== ======================= ============================ ==============

so the transpose of a step is a table look-up and transposing twice gives the
step back. The input already has the result dtype ``result_type(x, op.dtype)``
(the caller converts it), so the step maps one dtype onto itself. A real
operator applied to complex values gets the complex-linear extension
``L Re(x) + i L Im(x)`` (one ``matmat`` call on the real and imaginary parts).
"""
from __future__ import annotations

import math
import pickle

import numpy as np

from ..errors import ForeignOperatorError
from ..ir import Const, ShapeDtype
from .base import Primitive

__all__ = ["OperatorConst", "linear_operator", "linear_operator_p", "MODES", "operator_dtype"]

#: mode -> (the transpose's mode, whether the adjoint methods run, whether values are conjugated)
MODES = {"A": ("T", False, False), "H": ("C", True, False),
         "T": ("A", True, True), "C": ("H", False, True)}


def operator_dtype(op) -> np.dtype:
    """The dtype of a foreign operator as NumPy's dtype (PyLops allows strings)."""
    return np.dtype(op.dtype)


def _is_complex(dtype) -> bool:
    return np.issubdtype(dtype, np.complexfloating)


class OperatorConst(Const):
    """A foreign linear operator held by reference in an equation's parameters.

    Two of them are equal when they hold the same object. Pickling pickles the
    operator; one that does not pickle raises :class:`ForeignOperatorError`.

    Parameters
    ----------
    operator : object with ``shape``, ``dtype``, ``matvec``, ``rmatvec``, ``matmat``, ``rmatmat``
    """

    __slots__ = ()
    always_named = True

    def __init__(self, operator):
        self.value = operator

    def captured(self, captures) -> "OperatorConst":
        """``self``: a foreign operator is held by reference, never snapshotted."""
        return self

    @property
    def is_captured(self) -> bool:
        """Always true: the reference is what the program keeps."""
        return True

    @property
    def aval(self) -> ShapeDtype:
        """The operator's shape ``(m, n)`` and dtype."""
        return ShapeDtype(tuple(self.value.shape), operator_dtype(self.value))

    def describe(self) -> str:
        """Text form used by the printer, e.g. ``operator MatrixMult f64[3,4]``."""
        return f"operator {type(self.value).__name__} {self.aval.short()}"

    def __eq__(self, other) -> bool:
        return isinstance(other, OperatorConst) and other.value is self.value

    def __hash__(self):
        return id(self.value)

    def __repr__(self) -> str:
        return f"OperatorConst({self.describe()})"

    def __reduce__(self):
        try:
            pickle.dumps(self.value)
        except Exception as exc:  # noqa: BLE001 - any pickling failure gets the same advice
            raise ForeignOperatorError(
                f"cannot pickle a program that calls the foreign operator {self.describe()}: "
                f"the operator is held by reference and does not pickle ({exc}). Build the "
                "operator from module-level functions or classes so that it pickles, or "
                "rebuild the program where it is used.") from exc
        return (OperatorConst, (self.value,))


def _call(op, X, adjoint: bool):
    """``op`` (or its adjoint) on the columns of ``X`` (n, k); ``matvec`` for one column."""
    if X.shape[1] == 1:
        y = (op.rmatvec if adjoint else op.matvec)(X[:, 0])
        return np.asarray(y).reshape(-1, 1)
    return np.asarray((op.rmatmat if adjoint else op.matmat)(X))


def _apply_columns(op, X, mode, out_rows, dtype):
    _, adjoint, conjugate = MODES[mode]
    if _is_complex(X.dtype) and not _is_complex(operator_dtype(op)):
        k = X.shape[1]
        Y = _apply_columns(op, np.concatenate([X.real, X.imag], axis=1), mode, out_rows,
                           np.empty(0, dtype).real.dtype)
        return (Y[:, :k] + 1j * Y[:, k:]).astype(dtype, copy=False)
    if conjugate:
        X = np.conj(X)
    Y = _call(op, X, adjoint)
    if Y.shape != (out_rows, X.shape[1]):
        raise ForeignOperatorError(
            f"the foreign operator {type(op).__name__} of shape {tuple(op.shape)} returned an "
            f"array of shape {Y.shape} for {X.shape[1]} column(s) of length {X.shape[0]}; "
            f"expected {(out_rows, X.shape[1])}")
    if _is_complex(Y.dtype) and not _is_complex(dtype):
        raise ForeignOperatorError(
            f"the foreign operator {type(op).__name__} has the real dtype "
            f"{operator_dtype(op)} but returned complex values for a real input; give the "
            "operator its true (complex) dtype")
    if conjugate:
        Y = np.conj(Y)
    return Y.astype(dtype, copy=False)


def _sizes(op, mode):
    m, n = op.shape
    return (n, m) if MODES[mode][1] else (m, n)


class LinearOperatorStep(Primitive):
    """A foreign operator (held by reference) applied along ``axis`` in mode ``mode``."""

    name = "linear_operator"
    returns_fresh = True

    def impl(self, x, *, op, mode, axis):
        L = op.value
        out_rows, _ = _sizes(L, mode)
        moved = np.moveaxis(x, axis, 0)
        rest = moved.shape[1:]
        cols = moved.reshape(moved.shape[0], math.prod(rest))  # -1 fails for empty arrays
        Y = _apply_columns(L, cols, mode, out_rows, x.dtype)
        return np.ascontiguousarray(np.moveaxis(Y.reshape((out_rows,) + rest), 0, axis))

    def abstract_eval(self, x, *, op, mode, axis):
        out_rows, in_rows = _sizes(op.value, mode)
        if not 0 <= axis < x.ndim or x.shape[axis] != in_rows:
            raise ValueError(f"linear_operator: {op.describe()} in mode {mode} does not fit "
                             f"axis {axis} of {x.short()}")
        if np.result_type(x.dtype, op.aval.dtype) != x.dtype:
            raise TypeError(f"linear_operator: the input {x.short()} must already have the "
                            f"result dtype of {op.describe()}")
        return ShapeDtype(x.shape[:axis] + (out_rows,) + x.shape[axis + 1:], x.dtype)

    def transpose(self, ct, x, *, op, mode, axis):
        return (linear_operator_p.bind(ct, op=op, mode=MODES[mode][0], axis=axis),)

    def batch(self, size, x, *, op, mode, axis):
        return linear_operator_p.bind(x, op=op, mode=mode, axis=axis + 1)

    def real_linear_only_for(self, params) -> bool:
        """Whether the step is linear over the reals only (PyLops' ``clinear=False``)."""
        return getattr(params["op"].value, "clinear", True) is False


linear_operator_p = LinearOperatorStep()


def linear_operator(x, op, mode: str = "A", axis: int = 0):
    """Record or compute the foreign operator ``op`` applied along ``axis`` of ``x``.

    Parameters
    ----------
    x : Tracer or numpy.ndarray
        ``x.shape[axis]`` is the operator's number of columns (rows for modes
        ``H`` and ``T``). When traced, its dtype must already be
        ``result_type(x.dtype, op.dtype)``.
    op : operator or OperatorConst
    mode : {"A", "H", "T", "C"}
        The operator, its adjoint, its transpose or its conjugate.
    axis : int
    """
    if mode not in MODES:
        raise ValueError(f"linear_operator: mode must be one of {sorted(MODES)}, got {mode!r}")
    if not isinstance(op, OperatorConst):
        op = OperatorConst(op)
    axis = int(axis) % max(len(x.shape), 1)
    return linear_operator_p.bind(x, op=op, mode=mode, axis=axis)
