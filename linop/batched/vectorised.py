"""Exact rules for NumPy functions on batched values: the batch axis is moved along.

Each rule returns ``NotImplemented`` where it does not apply (then the call is
computed by :func:`linop.batched.calls.apply_function`, which also gives NumPy's
own errors for invalid arguments, example by example).
"""
from __future__ import annotations

import numbers

import numpy as np

from .calls import elementwise, pad_batch
from .levels import check_active
from .value import VECTORISED, BatchedArray

__all__: list = []


def _where(condition, x=None, y=None, /):
    if x is None and y is None:
        return NotImplemented
    return elementwise(np.where, (condition, x, y), {})


def _transpose(a, axes=None):
    if not isinstance(a, BatchedArray) or (axes is not None and any(
            isinstance(ax, BatchedArray) for ax in np.atleast_1d(np.asarray(axes, dtype=object)))):
        return NotImplemented
    n = a.ndim
    axes = tuple(range(n))[::-1] if axes is None else tuple(int(ax) for ax in axes)
    if sorted(ax % n for ax in axes) != list(range(n)) or len(axes) != n:
        return NotImplemented  # let NumPy raise its own error, example by example
    check_active(a.level)
    return a.same_batch(np.transpose(a.val, (0,) + tuple(ax % n + 1 for ax in axes)), a.writeable)


def _swapaxes(a, axis1, axis2):
    if not isinstance(a, BatchedArray):
        return NotImplemented
    n = a.ndim
    if not (-n <= axis1 < n and -n <= axis2 < n):
        return NotImplemented
    check_active(a.level)
    return a.same_batch(np.swapaxes(a.val, axis1 % n + 1, axis2 % n + 1), a.writeable)


def _reshape_target(shape, size):
    shape = (shape,) if isinstance(shape, (numbers.Integral, np.integer)) else tuple(shape)
    shape = tuple(int(d) for d in shape)
    unknown = [i for i, d in enumerate(shape) if d == -1]
    if len(unknown) == 1:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or size % known:
            return None
        shape = shape[:unknown[0]] + (size // known,) + shape[unknown[0] + 1:]
    if len(unknown) > 1 or any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.int64)) != size:
        return None
    return shape


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if not isinstance(a, BatchedArray) or order != "C" or copy is not None:
        return NotImplemented
    target = _reshape_target(newshape if shape is None else shape, a.size)
    if target is None:
        return NotImplemented  # NumPy's own error, example by example
    check_active(a.level)
    val = a.val
    return a.same_batch(np.reshape(val, (val.shape[0],) + target), a.writeable)


def _ravel(a, order="C"):
    if not isinstance(a, BatchedArray) or order != "C":
        return NotImplemented
    return _reshape(a, (a.size,))


def _moveaxis(a, source, destination):
    if not isinstance(a, BatchedArray):
        return NotImplemented
    n = a.ndim
    src, dst = np.atleast_1d(source).tolist(), np.atleast_1d(destination).tolist()
    if len(src) != len(dst) or not all(isinstance(i, int) and -n <= i < n for i in src + dst):
        return NotImplemented
    check_active(a.level)
    return a.same_batch(np.moveaxis(a.val, [i % n + 1 for i in src], [i % n + 1 for i in dst]),
                         a.writeable)


def _broadcast_to(array, shape, subok=False):
    if not isinstance(array, BatchedArray):
        return NotImplemented
    shape = (shape,) if isinstance(shape, (numbers.Integral, np.integer)) else tuple(shape)
    check_active(array.level)
    val = pad_batch(array.val, len(shape)) if len(shape) >= array.ndim else array.val
    return array.same_batch(np.broadcast_to(val, (val.shape[0],) + shape), False)


VECTORISED.update({np.where: _where, np.transpose: _transpose, np.swapaxes: _swapaxes,
                   np.reshape: _reshape, np.ravel: _ravel, np.moveaxis: _moveaxis,
                   np.broadcast_to: _broadcast_to})
