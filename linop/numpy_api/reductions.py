"""Reductions: sum, nansum, mean, average, trace, diagonal."""
from __future__ import annotations

import numpy as np

from ..errors import AffineError, user_location
from ..primitives import arithmetic as A, shape as S
from ..primitives.slice import slice_
from .views import make_view
from ..core import is_tracer
from .registry import implements, implements_ufunc_method
from .util import (constant, distinct, nonlinear, normalize_axes, normalize_axis, promote_dtype,
                   to_dtype, unsupported)


def _keep(x, axes, keepdims):
    if not keepdims:
        return x
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return S.reshape(x, shape)


def _reduce_dtype(a, dtype):
    if dtype is None:
        return a.dtype
    return np.dtype(dtype)


def _check_out(out, name):
    if out is not None:
        raise unsupported(f"{name}(..., out=...)", "Assign the result instead: y[...] = np.sum(x, ...).")


@implements(np.sum, method="sum")
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    """``np.sum`` (``initial`` must be 0; ``where`` a constant mask)."""
    return summation(a, axis, dtype, out, keepdims, initial, where, "np.sum")


def summation(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue,
              where=np._NoValue, what="np.sum"):
    """The sum behind ``np.sum``, ``np.mean`` and ``np.add.reduce``; errors name ``what``."""
    _check_out(out, what)
    if initial is not np._NoValue and initial != 0:
        raise AffineError(f"{what}(..., initial={initial!r}) at {user_location()} adds a constant: "
                          "the map is affine. Use initial=0 (the default).")
    axes = normalize_axes(axis, a.ndim)
    x = to_dtype(a, _reduce_dtype(a, dtype), f"{what}(dtype=...)")
    if is_tracer(where):
        raise nonlinear(f"{what}(..., where=traced)", "a mask computed from the input makes the "
                        "sum data-dependent, which is not linear. The mask must be a constant.")
    if where is not np._NoValue and where is not True:
        x = A.mask(x, np.broadcast_to(constant(where, bool), x.shape))
    out_ = distinct(S.reduce_sum(x, axes), x)
    return _keep(out_, axes, keepdims)


@implements(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=np._NoValue, initial=np._NoValue,
           where=np._NoValue):
    """``np.nansum``: ``np.sum`` on the operator's domain, which holds no NaN.

    A traced array has no values, so no position is known to be NaN: the map is the sum
    (see "NaN-ignoring reductions" in docs/semantics.md).
    """
    keep = False if keepdims is np._NoValue else keepdims
    return summation(a, axis, dtype, out, keep, initial, where, "np.nansum")


@implements_ufunc_method(np.add, "reduce")
def add_reduce(array, axis=0, dtype=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    """``np.add.reduce``: the sum over ``axis`` (the first one by default)."""
    return summation(array, axis, dtype, None, keepdims, initial, where, "np.add.reduce")


@implements(np.mean, method="mean")
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=np._NoValue):
    """``np.mean``: the sum divided by the count (as NumPy computes it)."""
    _check_out(out, "np.mean")
    axes = normalize_axes(axis, a.ndim)
    total = summation(a, axis=axes, dtype=dtype, keepdims=keepdims, where=where, what="np.mean")
    if where is not np._NoValue and where is not True:
        count = np.sum(np.broadcast_to(constant(where, bool), a.shape), axis=axes, keepdims=keepdims)
    else:
        count = int(np.prod([a.shape[i] for i in axes], dtype=np.int64))
    return A.div(total, constant(count, total.dtype))


@implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """``np.average`` with constant weights."""
    if is_tracer(weights):
        raise nonlinear("np.average(..., weights=traced)", "the weights must be constants: "
                        "a weighted average by traced weights is bilinear")
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        scl = np.asarray(a.size / max(avg.size, 1), avg.dtype)
        return (avg, np.broadcast_to(scl, avg.shape).copy()) if returned else avg
    w = constant(weights)
    res = promote_dtype(a, w)
    if np.issubdtype(res, np.integer):
        res = np.result_type(res, np.float64)
    if w.shape != a.shape:
        if axis is None:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        if w.ndim != 1 or w.shape[0] != a.shape[normalize_axis(axis, a.ndim)]:
            raise ValueError("Shape of weights must be consistent with shape of a along specified axis.")
        ax = normalize_axis(axis, a.ndim)
        w = w.reshape((1,) * ax + w.shape + (1,) * (a.ndim - ax - 1))
    w = w.astype(res)
    num = sum(A.mul(S.broadcast_to(to_dtype(a, res), a.shape), w), axis=axis, keepdims=keepdims)
    scl = np.sum(np.broadcast_to(w, a.shape), axis=axis, keepdims=keepdims, dtype=res)
    if np.any(scl == 0.0):
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    avg = A.div(num, scl)
    return (avg, np.broadcast_to(scl, avg.shape).copy()) if returned else avg


def diagonal_raw(a, offset=0, axis1=0, axis2=1):
    """The diagonal as a strided slice of the flattened pair of axes (no view bookkeeping).

    The diagonal axis comes last, as in NumPy.
    """
    i, j = normalize_axis(axis1, a.ndim), normalize_axis(axis2, a.ndim)
    if i == j:
        raise ValueError("axis1 and axis2 cannot be the same")
    n, m = a.shape[i], a.shape[j]
    k = max(0, min(n + min(offset, 0), m - max(offset, 0)))
    rest = [d for d in range(a.ndim) if d not in (i, j)]
    x = S.transpose(a, tuple(rest) + (i, j))
    lead = tuple(a.shape[d] for d in rest)
    x = S.reshape(x, lead + (n * m,))
    start = max(-offset, 0) * m + max(offset, 0)
    stop = start + (k - 1) * (m + 1) + 1 if k else start
    return slice_(x, (0,) * len(lead) + (start,), lead + (stop,), (1,) * len(lead) + (m + 1,))


@implements(np.diagonal, method="diagonal")
def diagonal(a, offset=0, axis1=0, axis2=1):
    """``np.diagonal``: a read-only view, as in NumPy."""
    out = diagonal_raw(a, offset, axis1, axis2)
    return make_view(a, out, lambda b: diagonal_raw(b, offset, axis1, axis2), None, "readonly",
                     "diagonal")


@implements(np.trace, method="trace")
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """``np.trace``: the sum of a diagonal."""
    _check_out(out, "np.trace")
    d = diagonal_raw(a, offset, axis1, axis2)
    return sum(d, axis=-1, dtype=dtype)
