"""Indexing: ``x[...]`` reads, ``y[...] = v`` writes, ``np.where``.

Basic indices (integers, slices with any step, ``...``, ``None``) are handled by
:mod:`linop.numpy_api.basic_index` and give views; advanced ones (integer arrays,
boolean masks) by :mod:`linop.numpy_api.advanced_indexing`.
"""
from __future__ import annotations

import numpy as np

from ..errors import AffineError, user_location
from ..primitives import arithmetic as A, shape as S
from .views import assign, make_view
from ..core import is_tracer
from .registry import implements
from .util import distinct, nonlinear, promote_dtype, shape_of, to_linear
from . import advanced_indexing
from .basic_index import BasicIndex, is_basic


def getitem(x, index):
    """``x[index]``: a view for basic indices, a copy for advanced ones (as in NumPy)."""
    if not is_basic(index, x.ndim):
        return advanced_indexing.getitem(x, index)
    idx = BasicIndex(index, x.shape)
    out = distinct(idx.read(x), x)
    if _is_single_element(index, x.ndim) or (x.ndim == 0 and index == ()):
        return out  # NumPy returns a scalar: a copy, not a view
    return make_view(x, out, lambda b: idx.read(b), lambda b, new: idx.write(b, new),
                     "view", "indexing")


def setitem(x, index, value):
    """``x[index] = value``: NumPy's casting and broadcasting of ``value``.

    A (nested) list or tuple that holds traced arrays is stacked first, as NumPy
    converts it to one array: ``y[0:2] = [x[1], x[0]]``.
    """
    stacked = stack_sequence(value)
    if not is_basic(index, x.ndim):
        assign(x, advanced_indexing.setitem(x, index, stacked))
        return
    idx = BasicIndex(index, x.shape)
    if _is_single_element(index, x.ndim) and len(shape_of(stacked)) > 0:
        raise ValueError("setting an array element with a sequence.")
    if stacked is not value and len(shape_of(stacked)) > len(idx.out_shape):
        raise ValueError("setting an array element with a sequence. The requested array would "
                         f"exceed the maximum number of dimension of {len(idx.out_shape)}.")
    value = stacked
    assign(x, idx.write(x, value))


def _holds_tracer(value) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_holds_tracer(v) for v in value)
    return is_tracer(value)


def stack_sequence(value):
    """A list or tuple holding tracers as one stacked tracer; anything else unchanged.

    NumPy converts an assigned (nested) sequence to one array; the non-zero
    constants in it would make the write affine, and are refused.
    """
    if not isinstance(value, (list, tuple)) or not _holds_tracer(value):
        return value
    items = [stack_sequence(v) for v in value]
    for v in items:
        if not is_tracer(v) and np.any(np.asarray(v) != 0):
            raise AffineError(
                f"the assignment at {user_location()} writes a list that holds traced arrays and "
                f"the non-zero constant {np.asarray(v)!r}, which makes the map affine, not "
                "linear. Assign the traced items alone (y[i] = x[1]) and add the constant to "
                "the result outside the traced function.")
    shapes = {shape_of(v) for v in items}
    if len(shapes) > 1:
        raise ValueError("setting an array element with a sequence. The requested array has an "
                         f"inhomogeneous shape: the items have shapes {sorted(shapes)}")
    return np.stack(items)


def _is_single_element(index, ndim) -> bool:
    """Whether ``index`` is one integer per axis (NumPy then assigns a scalar element)."""
    entries = index if isinstance(index, tuple) else (index,)
    return len(entries) == ndim and ndim > 0 and all(
        not isinstance(e, (slice, type(None), type(Ellipsis))) for e in entries)


@implements(np.where)
def where(condition, x=None, y=None):
    """``np.where(mask, x, y)`` with a constant mask; each branch linear or zero."""
    if x is None and y is None:
        raise nonlinear("np.where(condition)", "the positions of non-zero elements depend on the "
                        "values, which is not linear")
    if is_tracer(condition):
        raise nonlinear("np.where(condition, ...)", "a condition computed from the input makes "
                        "the result data-dependent (like a ReLU), which is not linear. The "
                        "condition must be a constant.")
    cond = np.asarray(condition, bool)
    res = promote_dtype(x, y)
    shape = S.broadcast_shapes(cond.shape, shape_of(x), shape_of(y))
    cond = np.broadcast_to(cond, shape)
    parts = []
    for branch, m in ((x, cond), (y, ~cond)):
        if is_tracer(branch):
            parts.append(A.mask(to_linear(branch, res, shape, "np.where"), m))
        else:
            to_linear(np.where(m, branch, 0), res, shape, "np.where with a non-zero constant branch")
    if len(parts) == 2:
        return A.add(*parts)
    return parts[0]
