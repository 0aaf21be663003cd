"""Basic indices (integers, slices with any step, ``...``, ``None``) and the values written at them.

A :class:`BasicIndex` reads with ``slice`` / ``rev`` / ``reshape`` and writes with
``update_slice``; :func:`value_for` casts and broadcasts an assigned value as NumPy does.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..primitives import shape as S, slice as SL
from ..core import is_tracer
from .util import nonlinear, shape_of, to_dtype, to_linear


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

    def write(self, x, value):
        """A new value of ``x`` with ``value`` written at this index."""
        v = value_for(x, self.out_shape, value)
        if self.empty:
            return x
        v = S.rev(S.reshape(v, self.sliced_shape), self.flips)
        return SL.update_slice(x, v, self.starts, self.stops, self.steps)


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


def is_basic(index, ndim) -> bool:
    """Whether ``index`` is a basic index (integers, slices, ``...``, ``None``) for ``ndim`` axes."""
    try:
        _expand_ellipsis(index, ndim)
        return True
    except _Advanced:
        return False


def value_for(x, shape, value):
    """``value`` as a tracer of ``x``'s dtype and of ``shape``, to write into ``x``.

    NumPy's broadcasting of an assigned value (leading length-1 axes dropped); a
    constant must be zero.
    """
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
