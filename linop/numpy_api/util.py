"""Helpers shared by the adapter modules: promotion, casting, broadcasting, axes."""
from __future__ import annotations

import numbers
import operator
import sys

import numpy as np

from ..errors import AffineError, NonLinearError, UnsupportedFunctionError, user_location
from ..core import is_tracer, zeros
from ..primitives import complex as C, shape as S

__all__ = ["fresh", "distinct", "any_tracer", "promote_dtype", "shape_of", "dtype_of",
           "to_dtype", "to_linear", "broadcast_linear", "normalize_axis", "normalize_axes",
           "constant", "nonlinear", "unsupported", "check_linear_dtype"]


def fresh(x):
    """A new tracer on ``x``'s current value: writes to it do not reach ``x`` (a NumPy copy)."""
    return type(x)(x.builder, x.var)


def distinct(out, x):
    """``out``, or a fresh tracer when a lowering handed back its input ``x`` itself.

    NumPy functions return new arrays (or views), never the input object, so that a
    later write to the result must not write into ``x``.
    """
    return fresh(x) if out is x else out


def any_tracer(*xs) -> bool:
    """Whether any of ``xs`` is traced."""
    return any(is_tracer(x) for x in xs)


def _promotion_operand(x):
    if is_tracer(x):
        return x.dtype
    if isinstance(x, (np.dtype, type, str)):
        return x
    if isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.generic):
        return x  # Python scalars are weakly typed (NEP 50)
    return np.asarray(x)


def promote_dtype(*xs) -> np.dtype:
    """NumPy 2's result dtype of ``xs`` (Python scalars weak, as in NEP 50)."""
    return np.result_type(*(_promotion_operand(x) for x in xs))


def shape_of(x) -> tuple:
    """Shape of a tracer, array or scalar."""
    return tuple(x.shape) if is_tracer(x) else np.shape(x)


def dtype_of(x) -> np.dtype:
    """Dtype of a tracer or array; NumPy's default dtype for a Python scalar."""
    return x.dtype if is_tracer(x) else np.asarray(x).dtype


def check_linear_dtype(dtype, what: str):
    """Refuse integer and boolean dtypes for traced values."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.inexact):
        raise NonLinearError(
            f"{what} at {user_location()} would give a traced array of dtype {dtype}; rounding to "
            "integers or booleans is not linear. Keep traced arrays floating or complex.")


def to_dtype(x, dtype, what="a conversion"):
    """Convert a tracer to ``dtype``: promotion and real→complex; complex→real refused."""
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if np.issubdtype(x.dtype, np.complexfloating) and not np.issubdtype(dtype, np.complexfloating):
        raise UnsupportedFunctionError(
            f"{what} at {user_location()} would cast a complex traced array to {dtype}, discarding "
            "the imaginary part. Take x.real (or np.real(x)) explicitly.")
    check_linear_dtype(dtype, what)
    return C.convert(x, dtype)


def broadcast_linear(x, shape):
    """Broadcast a tracer to ``shape``."""
    return S.broadcast_to(x, shape)


def to_linear(x, dtype, shape, what: str):
    """A tracer of ``dtype`` and ``shape`` from a tracer or a zero constant."""
    if is_tracer(x):
        return broadcast_linear(to_dtype(x, dtype, what), shape)
    arr = np.asarray(x)
    if np.any(arr != 0):
        raise AffineError(
            f"{what} at {user_location()} combines a traced array with a non-zero constant, which "
            "makes the map affine, not linear. Subtract the constant from your data outside the "
            "function instead.")
    return zeros(shape, dtype)


def constant(x, dtype=None) -> np.ndarray:
    """A constant operand as an ndarray (optionally cast)."""
    return np.asarray(x, dtype=dtype)


def normalize_axis(axis, ndim: int, what: str = "axis") -> int:
    """A non-negative axis, with NumPy's AxisError for bad ones."""
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def normalize_axes(axis, ndim: int) -> tuple:
    """Non-negative sorted axes from ``None``, an int or a sequence."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, numbers.Integral) or np.ndim(axis) == 0:
        return (normalize_axis(axis, ndim),)
    axes = tuple(normalize_axis(a, ndim) for a in axis)
    if len(set(axes)) != len(axes):
        raise ValueError("duplicate value in 'axis'")
    return tuple(sorted(axes))


def nonlinear(what: str, hint: str) -> NonLinearError:
    """A :class:`NonLinearError` naming ``what`` and the user's code."""
    return NonLinearError(f"{what} at {user_location()}: {hint}")


def unsupported(what: str, hint: str = "") -> UnsupportedFunctionError:
    """An :class:`UnsupportedFunctionError` naming ``what`` and the user's code."""
    return UnsupportedFunctionError(
        f"{what} at {user_location()} is not supported by linop on traced arrays. {hint}".rstrip())


def is_scipy_sparse(obj) -> bool:
    """Whether ``obj`` is a SciPy sparse matrix/array (without importing SciPy)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(obj)
