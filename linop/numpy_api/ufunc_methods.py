"""Methods of the linear ufuncs: ``outer``, ``reduceat``, ``accumulate`` and ``at``.

``np.add.at`` and ``np.add.reduce`` live with the functions they generalise
(:mod:`~linop.numpy_api.advanced_indexing`, :mod:`~linop.numpy_api.reductions`);
this module holds the other methods of ``add``, ``subtract``, ``multiply``,
``divide`` and ``negative`` that are linear in their traced operands.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..primitives import arithmetic as A, shape as S
from ..primitives.gather import gather, scatter_add
from ..core import is_tracer, zeros
from .registry import implements_ufunc_method
from .util import nonlinear, normalize_axis, shape_of, to_dtype
from .advanced_indexing import flat_positions, refuse_plain_target, refuse_traced_index, scatter_at
from .stencils import cumsum
from .views import assign

__all__ = ["ufunc_outer", "subtract_at", "negative_at", "multiply_at", "add_reduceat",
           "add_accumulate", "subtract_accumulate"]

#: The ufuncs whose ``outer`` is linear in its traced operands (divide: by a constant).
LINEAR_OUTER_UFUNCS = (np.add, np.subtract, np.multiply, np.divide)


# -- outer --------------------------------------------------------------------------------
def _reshaped(x, shape):
    return S.reshape(x, shape) if is_tracer(x) else np.reshape(x, shape)


def ufunc_outer(ufunc):
    """The handler of ``ufunc.outer``: ``ufunc(a[..., None, ...], b[None, ..., ...], **kwargs)``."""
    def outer(a, b, /, **kwargs):
        sa, sb = shape_of(a), shape_of(b)
        return ufunc(_reshaped(a, sa + (1,) * len(sb)), _reshaped(b, (1,) * len(sa) + sb),
                     **kwargs)
    outer.__name__ = f"{ufunc.__name__}_outer"
    outer.__doc__ = (f"``np.{ufunc.__name__}.outer(a, b)``: the ufunc on every pair of elements; "
                     "keywords (``dtype=``...) as for the ufunc itself.")
    return outer


for _ufunc in LINEAR_OUTER_UFUNCS:
    implements_ufunc_method(_ufunc, "outer")(ufunc_outer(_ufunc))
del _ufunc


# -- at -----------------------------------------------------------------------------------
def _no_keywords(kwargs):
    if kwargs:
        raise TypeError(f"at() got an unexpected keyword argument {next(iter(kwargs))!r}")


@implements_ufunc_method(np.subtract, "at")
def subtract_at(a, indices, b=None, **kwargs):
    """``np.subtract.at(a, indices, b)``: ``a[indices] -= b`` with repeats accumulating."""
    if b is None:
        raise ValueError("second operand needed for ufunc")
    _no_keywords(kwargs)
    negated = np.negative(b) if is_tracer(b) else -np.asarray(b)
    scatter_at(a, indices, negated, "np.subtract.at")


@implements_ufunc_method(np.negative, "at")
def negative_at(a, indices, b=None, **kwargs):
    """``np.negative.at(a, indices)``: negates once per occurrence of each index."""
    if b is not None:
        raise ValueError("second operand provided when ufunc is unary")
    _no_keywords(kwargs)
    refuse_plain_target(a, "np.negative.at")
    refuse_traced_index(indices, "np.negative.at with a traced index")
    counts = np.bincount(flat_positions(tuple(a.shape), indices).reshape(-1), minlength=a.size)
    sign = np.where(counts % 2 == 1, -1, 1).astype(a.dtype).reshape(a.shape)
    assign(a, A.mul(a, sign))


@implements_ufunc_method(np.multiply, "at")
def multiply_at(a, indices, b=None, **kwargs):
    """``np.multiply.at(a, indices, b)`` with a constant ``b``: each occurrence multiplies once."""
    if b is None:
        raise ValueError("second operand needed for ufunc")
    _no_keywords(kwargs)
    if is_tracer(a) and is_tracer(b):
        raise nonlinear("np.multiply.at(a, indices, b) with traced a and b",
                        "the product of two traced arrays is not linear. The factor b must be a "
                        "constant.")
    refuse_plain_target(a, "np.multiply.at")
    refuse_traced_index(indices, "np.multiply.at with a traced index")
    factor = np.ones(a.shape, a.dtype)
    np.multiply.at(factor, indices, b)  # NumPy's products, casting and errors
    assign(a, A.mul(a, factor))


def _single_axis(array, axis, method: str):
    """The one axis of ``ufunc.accumulate``/``reduceat`` (``None`` or a 1-tuple allowed, as
    in NumPy)."""
    if array.ndim == 0:
        raise TypeError(f"cannot {method} on a scalar")
    if axis is None or not isinstance(axis, numbers.Integral) and np.ndim(axis) == 1:
        axes = tuple(range(array.ndim)) if axis is None else tuple(axis)
        if len(axes) != 1:
            raise ValueError(f"{method} does not allow multiple axes")
        axis = axes[0]
    return normalize_axis(axis, array.ndim)


# -- reduceat -----------------------------------------------------------------------------
def _segments(indices, n):
    """``(rows, cols)``: element ``cols[k]`` of the axis goes into output ``rows[k]``.

    NumPy's rule: output ``i`` sums ``[indices[i], indices[i+1])`` when that range is
    not empty, and is the single element ``indices[i]`` otherwise; the last one runs to
    the end of the axis.
    """
    starts = np.asarray(indices, np.intp).reshape(-1)
    ends = np.append(starts[1:], n)
    lengths = np.where(ends > starts, ends - starts, 1)
    firsts = np.cumsum(lengths) - lengths  # where each output's elements begin in rows/cols
    total = int(lengths.sum())
    # Both as running sums of their steps (faster than np.repeat): rows step by one at each
    # output's first element, cols by one within an output and jump to its start between.
    rows = np.zeros(total, np.intp)
    rows[firsts[1:]] = 1
    cols = np.ones(total, np.intp)
    cols[firsts] = starts - np.append(0, starts[:-1] + lengths[:-1] - 1)
    return np.cumsum(rows), np.cumsum(cols)


@implements_ufunc_method(np.add, "reduceat")
def add_reduceat(array, indices, axis=0, dtype=None):
    """``np.add.reduceat``: sums over the slices ``array[indices[i]:indices[i+1]]`` along ``axis``.

    ``indices`` are constant; a non-increasing pair gives the single element
    ``array[indices[i]]``, as in NumPy. Lowered to one ``gather`` and one
    ``scatter_add`` along ``axis``.
    """
    refuse_traced_index(indices, "np.add.reduceat with traced indices")
    stand_in = np.broadcast_to(np.zeros((), array.dtype), array.shape)
    probe = np.add.reduceat(stand_in, indices, axis=axis, dtype=dtype)  # NumPy's checks
    axis = _single_axis(array, axis, "reduceat")
    x = array if dtype is None else to_dtype(array, dtype, "np.add.reduceat(dtype=...)")
    rows, cols = _segments(indices, array.shape[axis])
    if rows.size == 0:
        return zeros(probe.shape, x.dtype)
    return scatter_add(gather(x, cols, axis), rows, axis, probe.shape[axis])


# -- accumulate ---------------------------------------------------------------------------
@implements_ufunc_method(np.add, "accumulate")
def add_accumulate(array, axis=0, dtype=None):
    """``np.add.accumulate``: ``cumsum`` along one axis (the first by default)."""
    return cumsum(array, axis=_single_axis(array, axis, "accumulate"), dtype=dtype)


@implements_ufunc_method(np.subtract, "accumulate")
def subtract_accumulate(array, axis=0, dtype=None):
    """``np.subtract.accumulate``: ``x[0], x[0] - x[1], x[0] - x[1] - x[2], ...`` along ``axis``.

    Lowered to the running sum of ``x`` with its elements after the first negated
    (the same additions NumPy performs).
    """
    axis = _single_axis(array, axis, "accumulate")
    x = array if dtype is None else to_dtype(array, dtype, "np.subtract.accumulate(dtype=...)")
    n = x.shape[axis]
    sign = np.where(np.arange(n) == 0, 1, -1).astype(x.dtype)
    sign = sign.reshape((n,) + (1,) * (x.ndim - axis - 1))
    return cumsum(A.mul(x, sign), axis=axis)
