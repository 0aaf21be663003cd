"""Indexing: ``x[...]`` reads, ``y[...] = v`` writes, in-place ufuncs, ``np.where``.

Basic indexing (integers, slices with any step, ``...``, ``None``) lowers to
``slice`` / ``rev`` / ``reshape`` and its writes to ``update_slice``.
Advanced indexing (integer arrays, boolean masks) is handled by
:mod:`linop.numpy_api.advanced_indexing` when that module is present.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import AffineError, ArrayAssignmentError, user_location
from ..primitives import arithmetic as A, shape as S, slicing as SL
from ..tracing import make_view
from ._registry import implements
from ._util import (distinct, is_tracer, nonlinear, promote_dtype, shape_of, to_dtype, to_linear,
                    unsupported)


#: NumPy's limit on the number of axes of an array.
MAX_DIMS = 64


class BasicIndex:
    """A normalised basic index: per-axis ``(start, stop, step)`` plus the result's shape.

    Attributes
    ----------
    starts, stops, steps : tuple of int
        Positive-step slices of the base, one per base axis.
    flips : tuple of int
        Axes to reverse after slicing (negative steps).
    sliced_shape : tuple of int
        Shape after slicing, integer axes kept with length 1.
    out_shape : tuple of int
        Shape of ``x[index]``.
    """

    def __init__(self, index, shape):
        index = _expand_ellipsis(index, len(shape))
        starts, stops, steps, flips, out_shape = [], [], [], [], []
        axis = 0
        for entry in index:
            if entry is None:
                out_shape.append(1)
                continue
            dim = shape[axis]
            if isinstance(entry, slice):
                start, stop, step = entry.indices(dim)
                n = len(range(start, stop, step))
                if step < 0:
                    if n:
                        start, stop, step = start + (n - 1) * step, start + 1, -step
                        flips.append(axis)
                    else:
                        start, stop, step = 0, 0, 1
                out_shape.append(n)
            else:
                i = int(entry)
                if not -dim <= i < dim:
                    raise IndexError(f"index {i} is out of bounds for axis {axis} with size {dim}")
                i %= dim
                start, stop, step = i, i + 1, 1
            starts.append(start), stops.append(stop), steps.append(step)
            axis += 1
        self.starts, self.stops, self.steps = tuple(starts), tuple(stops), tuple(steps)
        self.flips = tuple(flips)
        self.sliced_shape = tuple(len(range(a, b, s)) for a, b, s in zip(starts, stops, steps))
        self.out_shape = tuple(out_shape_with_ints(index, shape))
        if len(self.out_shape) > MAX_DIMS:
            raise IndexError(f"number of dimensions must be within [0, {MAX_DIMS}], indexing "
                             f"result would have {len(self.out_shape)}")

    def read(self, x):
        """``x[index]`` on a tracer or an array."""
        y = SL.slice_(x, self.starts, self.stops, self.steps)
        y = S.rev(y, self.flips)
        return S.reshape(y, self.out_shape)

    @property
    def empty(self) -> bool:
        """Whether the index selects no element."""
        return 0 in self.sliced_shape


def out_shape_with_ints(index, shape):
    """Shape of ``x[index]`` for an expanded basic index."""
    axis = 0
    for entry in index:
        if entry is None:
            yield 1
            continue
        if isinstance(entry, slice):
            yield len(range(*entry.indices(shape[axis])))
        axis += 1


def _expand_ellipsis(index, ndim):
    if not isinstance(index, tuple):
        index = (index,)
    index = tuple(_as_basic(i) for i in index)
    n_ell = sum(1 for i in index if i is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    if used > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, but {used} "
                         "were indexed")
    fill = (slice(None),) * (ndim - used)
    if n_ell:
        k = index.index(Ellipsis)
        return index[:k] + fill + index[k + 1:]
    return index + fill


def _as_basic(entry):
    if entry is None or entry is Ellipsis or isinstance(entry, slice):
        return entry
    if isinstance(entry, (bool, np.bool_)):
        raise _Advanced()
    if isinstance(entry, numbers.Integral):
        return int(entry)
    if isinstance(entry, np.ndarray) and entry.ndim == 0 and np.issubdtype(entry.dtype, np.integer):
        return int(entry)
    if is_tracer(entry):
        raise nonlinear("indexing with a traced array", "an index computed from the input is "
                        "data-dependent, which is not linear. Indices must be constants.")
    raise _Advanced()


class _Advanced(Exception):
    """Internal signal: the index is not basic."""


def _is_basic(index, ndim):
    try:
        _expand_ellipsis(index, ndim)
        return True
    except _Advanced:
        return False


def _advanced():
    from . import advanced_indexing

    return advanced_indexing if hasattr(advanced_indexing, "getitem") else None


def getitem(x, index):
    """``x[index]``: a view for basic indices, a copy for advanced ones (as in NumPy)."""
    if not _is_basic(index, x.ndim):
        adv = _advanced()
        if adv is None:
            raise unsupported("indexing with integer arrays or boolean masks")
        return adv.getitem(x, index)
    idx = BasicIndex(index, x.shape)
    out = distinct(idx.read(x), x)
    if _is_single_element(index, x.ndim) or (x.ndim == 0 and index == ()):
        return out  # NumPy returns a scalar: a copy, not a view
    return make_view(x, out, lambda b: idx.read(b), lambda b, new: _write(b, idx, new),
                     "view", "indexing")


def setitem(x, index, value):
    """``x[index] = value``: NumPy's casting and broadcasting of ``value``.

    A (nested) list or tuple that holds traced arrays is stacked first, as NumPy
    converts it to one array: ``y[0:2] = [x[1], x[0]]``.
    """
    stacked = _stack_sequence(value)
    if not _is_basic(index, x.ndim):
        adv = _advanced()
        if adv is None:
            raise unsupported("assignment with integer arrays or boolean masks")
        x._assign(adv.setitem(x, index, stacked))
        return
    idx = BasicIndex(index, x.shape)
    if _is_single_element(index, x.ndim) and len(shape_of(stacked)) > 0:
        raise ValueError("setting an array element with a sequence.")
    if stacked is not value and len(shape_of(stacked)) > len(idx.out_shape):
        raise ValueError("setting an array element with a sequence. The requested array would "
                         f"exceed the maximum number of dimension of {len(idx.out_shape)}.")
    value = stacked
    x._assign(_write(x, idx, value))


def _holds_tracer(value) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_holds_tracer(v) for v in value)
    return is_tracer(value)


def _stack_sequence(value):
    """A list or tuple holding tracers as one stacked tracer; anything else unchanged."""
    if not isinstance(value, (list, tuple)) or not _holds_tracer(value):
        return value
    items = [_stack_sequence(v) for v in value]
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


def _value_for(x, shape, value):
    vshape = shape_of(value)
    try:
        S.broadcast_shapes(vshape, shape)
        if len(vshape) > len(shape) and any(d != 1 for d in vshape[:len(vshape) - len(shape)]):
            raise ValueError
    except ValueError:
        raise ValueError(f"could not broadcast input array from shape {vshape} into shape "
                         f"{shape}") from None
    if is_tracer(value):
        value = to_dtype(value, x.dtype, "assignment into an array")
        if len(vshape) > len(shape):
            value = S.reshape(value, vshape[len(vshape) - len(shape):])
        return S.broadcast_to(value, shape)
    return to_linear(value, x.dtype, shape, "assignment of a constant")


def _write(x, idx: BasicIndex, value):
    """A new value of ``x`` with ``value`` written at the basic index ``idx``."""
    v = _value_for(x, idx.out_shape, value)
    if idx.empty:
        return x
    v = S.rev(S.reshape(v, idx.sliced_shape), idx.flips)
    return SL.update_slice(x, v, idx.starts, idx.stops, idx.steps)


def write_ufunc_out(ufunc, out, result):
    """Complete ``np.ufunc(..., out=y)`` (including ``y += x``) by writing into ``y``."""
    target = out[0] if isinstance(out, tuple) else out
    if not is_tracer(target):
        raise ArrayAssignmentError(
            f"at {user_location()}: np.{ufunc.__name__} writes a traced result into a plain NumPy "
            "array (for example y += x where y = np.zeros(n)). Create y from the input with "
            "y = np.zeros_like(x, shape=(n,)) instead.")
    if not is_tracer(result):
        result = to_linear(result, target.dtype, target.shape, f"np.{ufunc.__name__}")
    if not np.can_cast(result.dtype, target.dtype, "same_kind"):
        raise TypeError(f"Cannot cast ufunc {ufunc.__name__!r} output from {result.dtype!r} to "
                        f"{target.dtype!r} with casting rule 'same_kind'")
    if tuple(result.shape) != tuple(target.shape):
        raise ValueError(f"non-broadcastable output operand with shape {target.shape} doesn't "
                         f"match the broadcast shape {result.shape}")
    target._assign(to_dtype(result, target.dtype, "an in-place operation"))
    return target


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
