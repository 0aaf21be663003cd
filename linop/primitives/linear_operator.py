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
``L Re(x) + i L Im(x)`` (one ``matmat`` call on the real and imaginary parts),
the only choice that keeps the step linear over the complex numbers and its
transpose exact; a real PyLops operator called directly on a complex array
drops the imaginary part instead (with a ``ComplexWarning``).

At run time the step calls the base class's own ``matvec``/``matmat`` (or
``rmatvec``/``rmatmat``) of SciPy's or PyLops' ``LinearOperator``, never a
subclass's override of those public methods (the override was traced already),
skips the call for zero columns, copies a result that shares memory with its
input (an identity), and raises :class:`ForeignOperatorError` for the adjoint
of an operator that has none.
"""
from __future__ import annotations

import math
import pickle

import numpy as np

from ..errors import ForeignOperatorError
from ..ir import Const, ShapeDtype
from ..core import Primitive

__all__ = ["OperatorConst", "linear_operator", "linear_operator_p", "MODES", "operator_dtype",
           "base_classes", "base_method", "overrides", "lacks_adjoint", "no_adjoint_error"]

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

    Two of them are equal when they hold the same object, or operators with
    equal ``structural_key()`` (traced operators: equal programs). Pickling pickles the
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

    def _key(self):
        """The operator's ``structural_key()`` where it has one (a traced operator is its
        programs, so an unpickled copy is the same operator); else the object itself."""
        key = getattr(self.value, "structural_key", None)
        return key() if key is not None else None

    def __eq__(self, other) -> bool:
        if not isinstance(other, OperatorConst):
            return False
        if other.value is self.value:
            return True
        key = self._key()
        return key is not None and key == other._key()

    def __hash__(self):
        key = self._key()
        return id(self.value) if key is None else hash(key)

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


def base_classes() -> tuple:
    """SciPy's ``LinearOperator`` and, once imported, PyLops' (linop never imports PyLops)."""
    import sys

    from scipy.sparse.linalg import LinearOperator

    pylops = sys.modules.get("pylops.linearoperator")
    base = getattr(pylops, "LinearOperator", None) if pylops is not None else None
    return (LinearOperator,) if base is None else (LinearOperator, base)


def _defining_class(cls, name):
    return next((c for c in cls.__mro__ if name in c.__dict__), None)


def overrides(op, name) -> bool:
    """Whether ``type(op)`` defines ``name`` itself, below SciPy's or PyLops' base class."""
    return _defining_class(type(op), name) not in base_classes()


def base_method(op, name):
    """The base class's own (unhooked) method ``name`` bound to ``op``; ``op.name`` otherwise.

    A subclass may override the public ``matvec`` and call ``super().matvec``:
    the recorded step stands for that base-class call, so it must not call the
    override again when the program runs.
    """
    cls = _defining_class(type(op), name)
    if cls is None or cls not in base_classes():
        for base in base_classes():
            if isinstance(op, base):
                cls = base
                break
        else:
            return getattr(op, name)
    method = cls.__dict__[name]
    return getattr(method, "linop_original", method).__get__(op, type(op))


def lacks_adjoint(op) -> bool:
    """Whether ``op`` was given no adjoint (SciPy's ``LinearOperator(shape, matvec=...)``)."""
    from scipy.sparse.linalg import LinearOperator

    if not isinstance(op, LinearOperator):
        return False
    if getattr(op, "_CustomLinearOperator__rmatvec_impl", True) is None:
        return True
    return not overrides(op, "_rmatvec") and not overrides(op, "_adjoint") and \
        not overrides(op, "rmatvec")


def no_adjoint_error(op, what) -> ForeignOperatorError:
    """The error for an adjoint (or transpose) of an operator that has none."""
    return ForeignOperatorError(
        f"{what}: the foreign operator {type(op).__name__} of shape {tuple(op.shape)} has no "
        "adjoint (it defines no rmatvec), but its adjoint or transpose is needed (rmatvec, "
        "L.H, L.T, x @ L, linear_transpose, or the rmatvec of an operator built from it). "
        "Give it one: LinearOperator(shape, matvec=..., rmatvec=..., dtype=...), or define "
        "_rmatvec in the subclass")


def _columns_one_by_one(vector, X):
    return np.stack([np.asarray(vector(X[:, j])).reshape(-1) for j in range(X.shape[1])], axis=1)


def _call(op, X, adjoint: bool):
    """``op`` (or its adjoint) on the columns of ``X`` (n, k), as the base class computes it.

    One column goes to the base class's ``matvec``; several to its ``matmat``,
    unless the operator overrides the public vector method while keeping the
    base class's ``_matmat`` (which would call the override once per column).
    """
    vector, matrix = ("rmatvec", "rmatmat") if adjoint else ("matvec", "matmat")
    if adjoint and lacks_adjoint(op):
        raise no_adjoint_error(op, "running the program")
    try:
        if X.shape[1] == 1:
            return np.asarray(base_method(op, vector)(X[:, 0])).reshape(-1, 1)
        if overrides(op, vector) and not overrides(op, "_" + matrix):
            return _columns_one_by_one(base_method(op, vector), X)
        return np.asarray(base_method(op, matrix)(X))
    except NotImplementedError as exc:
        if adjoint:
            raise no_adjoint_error(op, "running the program") from exc
        raise


def _apply_columns(op, X, mode, out_rows, dtype):
    _, adjoint, conjugate = MODES[mode]
    if X.shape[1] == 0:  # SciPy's default _matmat cannot stack zero columns
        return np.zeros((out_rows, 0), dtype)
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
    returns_view = False
    real_linear = False

    def dask_impl(self, dk, x, **params):
        # the operator's axis whole in each block; the columns along the other axes split
        return dk.along_axes(self, x, (params["axis"],), params)

    def impl(self, x, *, op, mode, axis):
        L = op.value
        out_rows, _ = _sizes(L, mode)
        moved = np.moveaxis(x, axis, 0)
        rest = moved.shape[1:]
        cols = moved.reshape(moved.shape[0], math.prod(rest))  # -1 fails for empty arrays
        Y = _apply_columns(L, cols, mode, out_rows, x.dtype)
        out = np.ascontiguousarray(np.moveaxis(Y.reshape((out_rows,) + rest), 0, axis))
        # an operator may hand back its input (an identity): the result must be fresh
        return out.copy() if np.may_share_memory(out, x) else out

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

    def real_linear_for(self, params) -> bool:
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
