"""Joining and splitting: concatenate (np.concat), stack, hstack, vstack, dstack, column_stack,
split, unstack."""
from __future__ import annotations

import numpy as np

from ..primitives import slice as SL, shape as S
from ..core import is_tracer
from .registry import implements
from .util import fresh, normalize_axis, promote_dtype, shape_of, to_linear, unsupported
from .indexing import getitem
from .shape import atleast_1d, atleast_2d, atleast_3d, expand_dims


@implements(np.concatenate)
def concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """``np.concatenate``: constant pieces must be zero (else the map is affine)."""
    if out is not None:
        raise unsupported("np.concatenate(..., out=...)", "Assign the result instead.")
    arrays = list(arrays)
    if axis is None:
        arrays = [S.reshape(a, (a.size,)) if is_tracer(a) else np.ravel(a) for a in arrays]
        axis = 0
    shapes = [shape_of(a) for a in arrays]
    ndim = len(shapes[0])
    if ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    if any(len(s) != ndim for s in shapes):
        raise ValueError("all the input array dimensions except for the concatenation axis must "
                         "match exactly, but the arrays have different numbers of dimensions")
    axis = normalize_axis(axis, ndim)
    for s in shapes[1:]:
        if any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis):
            raise ValueError("all the input array dimensions except for the concatenation axis "
                             f"must match exactly, got {shapes[0]} and {s}")
    res = np.dtype(dtype) if dtype is not None else promote_dtype(*arrays)
    parts = [to_linear(a, res, s, "np.concatenate") for a, s in zip(arrays, shapes)]
    out_ = SL.concatenate(parts, axis)
    return fresh(out_)


def _expand(a, axis):
    return expand_dims(a, axis) if is_tracer(a) else np.expand_dims(a, axis)


@implements(np.stack)
def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """``np.stack``."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to stack")
    shapes = {shape_of(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError("all input arrays must have the same shape")
    axis = normalize_axis(axis, len(shapes.pop()) + 1)
    return concatenate([_expand(a, axis) for a in arrays], axis, out, dtype=dtype)


def _atleast(a, n):
    fn = {1: atleast_1d, 2: atleast_2d, 3: atleast_3d}[n]
    return fn(a) if is_tracer(a) else {1: np.atleast_1d, 2: np.atleast_2d, 3: np.atleast_3d}[n](a)


@implements(np.hstack)
def hstack(tup, *, dtype=None, casting="same_kind"):
    """``np.hstack``."""
    arrs = [_atleast(a, 1) for a in tup]
    axis = 0 if len(shape_of(arrs[0])) == 1 else 1
    return concatenate(arrs, axis, dtype=dtype)


@implements(np.vstack)
def vstack(tup, *, dtype=None, casting="same_kind"):
    """``np.vstack``."""
    return concatenate([_atleast(a, 2) for a in tup], 0, dtype=dtype)


@implements(np.dstack)
def dstack(tup):
    """``np.dstack``."""
    return concatenate([_atleast(a, 3) for a in tup], 2)


@implements(np.column_stack)
def column_stack(tup):
    """``np.column_stack``: 1-D arrays become columns."""
    cols = []
    for a in tup:
        if len(shape_of(a)) < 2:
            n = int(np.prod(shape_of(a), dtype=np.int64))
            a = S.reshape(a, (n, 1)) if is_tracer(a) else np.reshape(a, (n, 1))
        cols.append(a)
    return concatenate(cols, 1)


def _split_points(n, indices_or_sections, even):
    if np.ndim(indices_or_sections) == 0:
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.")
        if even and n % sections:
            raise ValueError("array split does not result in an equal division")
        base, extra = divmod(n, sections)
        sizes = [base + 1] * extra + [base] * (sections - extra)
        return list(np.cumsum([0] + sizes))
    points = [int(i) for i in indices_or_sections]
    return [0] + points + [n]


@implements(np.unstack)
def unstack(x, /, *, axis=0):
    """``np.unstack``: the slices along ``axis``, each a view of ``x`` (as in NumPy)."""
    if x.ndim == 0:
        raise ValueError("Input array must be at least 1-d.")
    axis = normalize_axis(axis, x.ndim)
    pre = (slice(None),) * axis
    return tuple(getitem(x, pre + (i,)) for i in range(x.shape[axis]))


@implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    """``np.array_split``: views of the input."""
    axis = normalize_axis(axis, ary.ndim)
    pts = _split_points(ary.shape[axis], indices_or_sections, even=False)
    pre = (slice(None),) * axis
    return [getitem(ary, pre + (slice(a, b),)) for a, b in zip(pts[:-1], pts[1:])]


@implements(np.split)
def split(ary, indices_or_sections, axis=0):
    """``np.split``: equal division required for a number of sections."""
    axis = normalize_axis(axis, ary.ndim)
    _split_points(ary.shape[axis], indices_or_sections, even=True)
    return array_split(ary, indices_or_sections, axis)


@implements(np.hsplit)
def hsplit(ary, indices_or_sections):
    """``np.hsplit``."""
    if ary.ndim == 0:
        raise ValueError("hsplit only works on arrays of 1 or more dimensions")
    return split(ary, indices_or_sections, 1 if ary.ndim > 1 else 0)


@implements(np.vsplit)
def vsplit(ary, indices_or_sections):
    """``np.vsplit``."""
    if ary.ndim < 2:
        raise ValueError("vsplit only works on arrays of 2 or more dimensions")
    return split(ary, indices_or_sections, 0)


@implements(np.dsplit)
def dsplit(ary, indices_or_sections):
    """``np.dsplit``."""
    if ary.ndim < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return split(ary, indices_or_sections, 2)
