"""Gather along one axis with constant integer indices, and its transpose, scatter-add.

``gather(x, idx, axis)`` is ``np.take(x, idx, axis=axis)`` for a constant,
non-negative, in-bounds integer array ``idx`` of any shape: the output has
shape ``x.shape[:axis] + idx.shape + x.shape[axis+1:]``. Every advanced
indexing operation (``x[idx]``, ``x[mask]``, ``take``, ``take_along_axis``,
``compress``, ...) lowers to it, usually on an axis made by merging the
indexed axes.

``scatter_add(u, idx, axis, size)`` is its transpose: it adds the slices of
``u`` into an array of zeros whose ``axis`` has length ``size``, repeated
indices accumulating. It runs at ``np.bincount`` speed; the flat positions it
needs are computed once when the equation is recorded, not on every call.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..ir import Const, ShapeDtype
from ..snapshots import writeable_alias
from ..core import Primitive, transposed_selection_jacobians

__all__ = ["gather", "scatter_add", "gather_p", "scatter_add_p"]


class Gather(Primitive):
    """``np.take(x, idx, axis=axis)`` with a constant in-bounds index array ``idx``."""

    name = "gather"
    returns_fresh = False
    returns_view = False
    real_linear = False

    # np.take copies read-only indices on every call: the plan binds a writeable alias once.
    def emit(self, args, avals, bind, *, idx, axis):
        taken = f"{args[0]}.take({bind(writeable_alias(idx.value))}, {axis})"  # np.take's method
        if idx.value.ndim == 0:  # x[0-d index] would be a view: take copies
            return taken
        return f"({taken} if {args[0]}.flags.c_contiguous else {args[0]}[{bind(_key(idx, axis))}])"

    def impl(self, x, *, idx, axis):
        if idx.value.ndim == 0 or x.flags.c_contiguous:
            return np.take(x, writeable_alias(idx.value), axis=axis)
        return x[_key(idx, axis)]

    def array_impl(self, ns, x, *, idx, axis):
        flat = ns.constants.get(idx.value, "flat", lambda: ns.xp.asarray(idx.value.reshape(-1)))
        taken = ns.xp.take(x, flat, axis=axis)
        return ns.xp.reshape(taken, x.shape[:axis] + idx.value.shape + x.shape[axis + 1:])

    def dask_impl(self, dk, x, *, idx, axis):
        # Dask plans the blocks of an indexing with a NumPy index
        taken = x[(slice(None),) * axis + (idx.value.reshape(-1),)]
        return dk.xp.reshape(taken, x.shape[:axis] + idx.value.shape + x.shape[axis + 1:])

    fused_form = "element"
    fused_repeats_inputs = True

    def fused_element(self, loop, index, *, idx, axis):
        k = idx.value.ndim
        position = loop.const_at(idx.value, index[axis:axis + k])
        return loop.read(0, index[:axis] + [position] + index[axis + k:])

    def abstract_eval(self, x, *, idx, axis):
        return ShapeDtype(x.shape[:axis] + idx.value.shape + x.shape[axis + 1:], x.dtype)

    moves_elements = True

    def transpose(self, ct, x, *, idx, axis):
        return (scatter_add(ct, idx, axis, x.shape[axis]),)

    def batch(self, size, x, *, idx, axis):
        return gather(x, idx, axis + 1)

    def batch_last(self, size, x, *, idx, axis):
        return gather(x, idx, axis)


class ScatterAdd(Primitive):
    """Zeros with ``axis`` of length ``size``, plus ``u``'s slices added at ``idx``.

    Parameters ``flat`` (the flat output position of every element of ``u``,
    or ``None`` when that is ``idx`` itself) and ``unique`` (no position
    repeats) are derived from the others by :func:`scatter_add`.
    """

    name = "scatter_add"
    returns_fresh = False
    returns_view = False
    real_linear = False

    # np.bincount copies read-only positions on every call: the plan binds a writeable alias once.
    def emit(self, args, avals, bind, *, idx, axis, size, flat, unique):
        shape = _scatter_shape(avals[0].shape, idx.value.ndim, axis, size)
        positions = bind(_positions(idx, flat))
        dtype = avals[0].dtype
        if unique or not (np.issubdtype(dtype, np.floating) and dtype.itemsize <= 8):
            return f"{bind(_scatter)}({args[0]}, {positions}, {shape!r}, {unique})"
        # _accumulate's bincount, its dtype decided here rather than on every call
        n = math.prod(shape)
        summed = f"{bind(np.bincount)}({positions}, {args[0]}.reshape(-1), minlength={n})"
        if dtype != np.float64:
            summed += f".astype({bind(dtype)})"
        return summed if len(shape) == 1 else f"{summed}.reshape({bind(shape)})"

    fused_form = "loops"

    def fused_loops(self, loop, *, idx, axis, size, flat, unique):
        u = loop.in_avals[0]
        out = loop.output(zeros=True, flat=True)
        positions = loop.const(_positions(idx, flat))
        with loop.nest(u.shape, parallel=unique) as index:  # no position repeated: no race
            loop.emit(f"{out}[{positions}[{loop.flat_index(index, u.shape)}]] += "
                      f"{loop.read(0, index)}")

    def impl(self, u, *, idx, axis, size, flat, unique):
        shape = _scatter_shape(u.shape, idx.value.ndim, axis, size)
        return _scatter(u, _positions(idx, flat), shape, unique)

    def dask_impl(self, dk, u, *, idx, axis, size, flat, unique):
        # the scatter is the sparse matrix with a one at (idx[k], k), applied along axis
        k = idx.value.ndim
        m = idx.value.size
        u = dk.xp.reshape(u, u.shape[:axis] + (m,) + u.shape[axis + k:])
        S = dk.constants.get(idx.value, ("scatter", size), lambda: _scatter_matrix(idx.value, size))
        return dk.sparse_along(S, u, axis, np.dtype(u.dtype), key=idx.value)

    def abstract_eval(self, u, *, idx, axis, size, flat, unique):
        return ShapeDtype(_scatter_shape(u.shape, idx.value.ndim, axis, size), u.dtype)

    def sparse_jacobian(self, u, **params):
        return transposed_selection_jacobians(self, [u], self.abstract_eval(u, **params), params)

    def transpose(self, ct, u, *, idx, axis, size, flat, unique):
        return (gather(ct, idx, axis),)

    def batch(self, n, u, *, idx, axis, size, flat, unique):
        return scatter_add(u, idx, axis + 1, size)

    def batch_last(self, n, u, *, idx, axis, size, flat, unique):
        return scatter_add(u, idx, axis, size)


def _key(idx: Const, axis: int) -> tuple:
    """The index ``x[key]`` equal to ``np.take(x, idx, axis)`` for an ``idx`` of one or more dimensions.

    ``np.take`` copies an input that is not C-contiguous whole before it gathers (a
    batched program runs on a transposed view of the caller's columns); indexing
    reads only the elements it takes.
    """
    return (slice(None),) * axis + (writeable_alias(idx.value),)


def _scatter_matrix(idx, size):
    """The ``size × idx.size`` matrix that adds element ``k`` into row ``idx[k]``."""
    cols = np.arange(idx.size)
    return sp.csr_array((np.ones(idx.size), (idx.reshape(-1), cols)), shape=(size, idx.size))


def _scatter_shape(ushape, index_ndim, axis, size):
    return tuple(ushape[:axis]) + (size,) + tuple(ushape[axis + index_ndim:])


def _positions(idx: Const, flat) -> np.ndarray:
    """The flat output position of every element of ``u``, as a writeable alias of the snapshot."""
    return writeable_alias((idx if flat is None else flat).value).reshape(-1)


def _scatter(u, positions, shape, unique):
    """Zeros of ``shape`` with ``u``'s elements added at the flat ``positions``."""
    values = u.reshape(-1)
    n = math.prod(shape)
    if unique:
        out = np.zeros(n, u.dtype)
        out[positions] = values
    else:
        out = _accumulate(positions, values, n)
    return out.reshape(shape)


def _accumulate(positions, values, n):
    """``out[positions[k]] += values[k]`` over ``n`` slots, with ``np.bincount``."""
    dtype = values.dtype
    # bincount sums in float64: narrower floats are rounded back once at the end; long
    # double (and its complex) would lose precision, so they accumulate with np.add.at.
    if np.issubdtype(dtype, np.complexfloating) and dtype.itemsize <= 16:
        out = np.empty(n, dtype)
        out.real = np.bincount(positions, values.real, minlength=n)
        out.imag = np.bincount(positions, values.imag, minlength=n)
        return out
    if np.issubdtype(dtype, np.floating) and dtype.itemsize <= 8:
        return np.bincount(positions, values, minlength=n).astype(dtype, copy=False)
    out = np.zeros(n, dtype)
    np.add.at(out, positions, values)
    return out


gather_p, scatter_add_p = Gather(), ScatterAdd()


def _as_index(idx) -> Const:
    if isinstance(idx, Const):
        return idx
    return Const(np.array(idx, dtype=np.intp, order="C", copy=None))


def gather(x, idx, axis):
    """Record or compute ``np.take(x, idx, axis=axis)``.

    Parameters
    ----------
    x : Tracer or ndarray
    idx : array_like of int or Const
        Non-negative indices smaller than ``x.shape[axis]`` (not checked here:
        the adapter validates indices with NumPy's rules before calling).
    axis : int
        A non-negative axis of ``x``.
    """
    return gather_p.bind(x, idx=_as_index(idx), axis=int(axis))


def scatter_add(u, idx, axis, size):
    """Record or compute the transpose of :func:`gather`.

    Parameters
    ----------
    u : Tracer or ndarray
        Shaped like ``gather``'s output: ``pre + idx.shape + post``.
    idx : array_like of int or Const
        Non-negative indices smaller than ``size``; repeats accumulate.
    axis : int
        Position of the indexed axis in the output (``len(pre)``).
    size : int
        Length of that axis in the output.

    Returns
    -------
    Tracer or ndarray
        Of shape ``pre + (size,) + post``.
    """
    idx, axis, size = _as_index(idx), int(axis), int(size)
    pre = math.prod(u.shape[:axis])
    post = math.prod(u.shape[axis + idx.value.ndim:])
    flat = None
    if pre * post != 1:
        flat = Const(_flat_positions(idx.value.reshape(-1), pre, size, post))
    return scatter_add_p.bind(u, idx=idx, axis=axis, size=size, flat=flat,
                              unique=_no_repeats(idx.value, size))


def _flat_positions(idx, pre, size, post):
    """Flat position in a ``(pre, size, post)`` array of each element of a ``(pre, m, post)``."""
    rows = np.arange(pre, dtype=np.intp)[:, None, None] * size
    cols = np.arange(post, dtype=np.intp)[None, None, :]
    return ((rows + idx[None, :, None]) * post + cols).reshape(-1)


def _no_repeats(idx, size) -> bool:
    if idx.size <= 1:
        return True
    if idx.size > size:
        return False
    return bool(np.bincount(idx.reshape(-1), minlength=size).max() <= 1)
