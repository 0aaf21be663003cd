"""Linear ufuncs: add, subtract, multiply and divide by constants, negative, conjugate."""
from __future__ import annotations

import numpy as np

from ..primitives import arithmetic as A, complex as C, shape as S
from ..core import is_tracer
from .registry import implements_ufunc
from .util import (check_linear_dtype, constant, fresh, nonlinear, promote_dtype, shape_of,
                   to_dtype, to_linear)


def _result(x, y, dtype):
    res = np.dtype(dtype) if dtype is not None else promote_dtype(x, y)
    return res, S.broadcast_shapes(shape_of(x), shape_of(y))


@implements_ufunc(np.add)
def add(x, y, dtype=None):
    """``x + y``: both linear, or one of them a zero constant."""
    res, shape = _result(x, y, dtype)
    check_linear_dtype(res, "np.add")
    return _combine(A.add, x, y, res, shape, "np.add (x + c)")


@implements_ufunc(np.subtract)
def subtract(x, y, dtype=None):
    """``x - y``: both linear, or one of them a zero constant."""
    res, shape = _result(x, y, dtype)
    check_linear_dtype(res, "np.subtract")
    return _combine(A.sub, x, y, res, shape, "np.subtract (x - c)")


def _combine(op, x, y, res, shape, what):
    if is_tracer(x) and is_tracer(y):
        return op(to_linear(x, res, shape, what), to_linear(y, res, shape, what))
    if is_tracer(x):
        to_linear(y, res, shape, what)  # raises unless y is zero
        return fresh(to_linear(x, res, shape, what))
    to_linear(x, res, shape, what)
    out = to_linear(y, res, shape, what)
    return A.neg(out) if op is A.sub else fresh(out)


@implements_ufunc(np.multiply)
def multiply(x, y, dtype=None):
    """``x * c`` or ``c * x`` with a constant ``c``."""
    if is_tracer(x) and is_tracer(y):
        raise nonlinear("np.multiply (x * y)",
                        "the product of two traced arrays is not linear (x * x is quadratic). "
                        "One factor must be a constant (computed without the inputs).")
    t, c = (x, y) if is_tracer(x) else (y, x)
    res, shape = _result(x, y, dtype)
    check_linear_dtype(res, "np.multiply")
    return A.mul(to_linear(t, res, shape, "np.multiply"), constant(c, res))


@implements_ufunc(np.divide)
def divide(x, y, dtype=None):
    """``x / c`` with a constant ``c``."""
    if is_tracer(y):
        raise nonlinear("np.divide (c / x)",
                        "dividing by a traced array is not linear (1 / x). Only division of a "
                        "traced array by a constant is linear.")
    res, shape = _result(x, y, dtype)
    check_linear_dtype(res, "np.divide")
    return A.div(to_linear(x, res, shape, "np.divide"), constant(y, res))


@implements_ufunc(np.negative)
def negative(x, dtype=None):
    """``-x``."""
    return A.neg(_cast(x, dtype))


@implements_ufunc(np.positive)
def positive(x, dtype=None):
    """``+x`` (a copy)."""
    return fresh(_cast(x, dtype))


@implements_ufunc(np.conjugate)
def conjugate(x, dtype=None):
    """Complex conjugate (real-linear); the identity on real arrays."""
    x = _cast(x, dtype)
    return C.conj(x) if np.issubdtype(x.dtype, np.complexfloating) else fresh(x)


def _cast(x, dtype):
    if dtype is None:
        return x
    return to_dtype(x, dtype, "dtype=")
