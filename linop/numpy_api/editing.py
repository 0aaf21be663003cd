"""Arrays edited into new ones: ``append``, ``insert``, ``delete``, ``resize``, ``extract``, ``block``.

Where elements move in ways NumPy's index arithmetic decides (``insert``,
``delete``, ``extract``), NumPy itself is run on *labels*: integer arrays that
hold each element's flat position, so that the result's labels say where every
output element comes from; the traced result is one ``gather`` of those
positions. Shapes, broadcasting of the inserted values and every exception are
therefore NumPy's. ``np.block`` is first run by NumPy on zero stand-ins of the
traced blocks (its checks, result shape and dtype), then assembled with
concatenations.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import LinopError
from ..core import is_tracer, zeros
from ..primitives import slice as SL, shape as S
from ..primitives.gather import gather
from .registry import implements
from .util import distinct, shape_of, to_dtype, to_linear
from .advanced_indexing import refuse_traced_index
from .indexing import stack_sequence
from .joining import concatenate

__all__ = ["append", "insert", "delete", "resize", "extract", "block"]


def _labels(shape, start: int = 0) -> np.ndarray:
    """``arange(start, start + size).reshape(shape)``: each element's flat position."""
    return np.arange(start, start + math.prod(shape), dtype=np.intp).reshape(shape)


def _flat(x):
    return S.reshape(x, (x.size,))


def _linear(x, dtype, what: str):
    """A tracer of ``dtype`` from a tracer or a zero constant (else an affine error)."""
    if is_tracer(x):
        return to_dtype(x, dtype, what)
    arr = np.asarray(x)
    return to_linear(arr, dtype, arr.shape, what)


def _taken(source, labels: np.ndarray):
    """``source`` (1-D) at ``labels``, shaped like ``labels``."""
    if labels.size == source.shape[0] and np.array_equal(labels.reshape(-1),
                                                         np.arange(labels.size)):
        return S.reshape(source, labels.shape)
    return gather(source, labels, 0)


@implements(np.append)
def append(arr, values, axis=None):
    """``np.append``: a concatenation (of the flattened arrays when ``axis`` is None)."""
    arr, values = stack_sequence(arr), stack_sequence(values)
    if axis is None:
        if len(shape_of(arr)) != 1:
            arr = _flat(arr) if is_tracer(arr) else np.ravel(arr)
        values = _flat(values) if is_tracer(values) else np.ravel(values)
        axis = len(shape_of(arr)) - 1
    return concatenate((arr, values), axis=axis)


@implements(np.insert)
def insert(arr, obj, values, axis=None):
    """``np.insert``: ``values`` (traced, or zero) cast to ``arr``'s dtype, placed where NumPy
    places them."""
    refuse_traced_index(obj, "np.insert with traced positions")
    values = stack_sequence(values)
    dtype = arr.dtype if is_tracer(arr) else np.asarray(arr).dtype
    arr_shape = shape_of(arr)
    values_shape = shape_of(values)
    size = math.prod(arr_shape)
    labels = np.insert(_labels(arr_shape), obj, _labels(values_shape, size), axis=axis)
    values = _linear(values if is_tracer(values) else np.asarray(values).astype(dtype),
                     dtype, "np.insert(values=...)")
    arr = _linear(arr, dtype, "np.insert(arr)")
    return _taken(SL.concatenate([_flat(arr), _flat(values)], 0), labels)


@implements(np.delete)
def delete(arr, obj, axis=None):
    """``np.delete``: the elements NumPy keeps."""
    refuse_traced_index(obj, "np.delete with traced positions")
    labels = np.delete(_labels(arr.shape), obj, axis=axis)
    return distinct(_taken(_flat(arr), labels), arr)


@implements(np.extract)
def extract(condition, arr):
    """``np.extract`` with a constant condition: the flattened elements where it holds."""
    refuse_traced_index(condition, "np.extract with a traced condition")
    labels = np.extract(condition, _labels(arr.shape))
    return gather(_flat(arr), labels, 0)


@implements(np.resize)
def resize(a, new_shape):
    """``np.resize``: the flattened array repeated cyclically to fill ``new_shape``."""
    if isinstance(new_shape, (int, np.integer)):
        new_shape = (new_shape,)
    new_shape = tuple(new_shape)
    new_size = 1
    for dim in new_shape:
        new_size *= dim
        if dim < 0:
            raise ValueError("all elements of `new_shape` must be non-negative")
    if a.size == 0 or new_size == 0:
        return zeros(new_shape, a.dtype)
    repeats = -(-new_size // a.size)
    tiled = S.reshape(S.broadcast_to(S.reshape(a, (1, a.size)), (repeats, a.size)),
                      (repeats * a.size,))
    if repeats * a.size != new_size:
        tiled = SL.slice_(tiled, (0,), (new_size,), (1,))
    return S.reshape(tiled, new_shape)


# -- np.block ---------------------------------------------------------------------------------
def _stand_ins(arrays):
    """The nested lists with each tracer replaced by zeros of its shape and dtype."""
    if isinstance(arrays, list):
        return [_stand_ins(a) for a in arrays]
    if is_tracer(arrays):
        return np.zeros(arrays.shape, arrays.dtype)
    return arrays


def _list_depth(arrays) -> int:
    depth = 0
    while isinstance(arrays, list):
        arrays = arrays[0]
        depth += 1
    return depth


def _block_leaf(item, ndim: int, dtype):
    """A block as a tracer of ``dtype`` with ``ndim`` dimensions (leading ones prepended)."""
    if not is_tracer(item):
        arr = np.array(item, ndmin=ndim)
        return to_linear(arr, dtype, arr.shape, "np.block with a constant block")
    shape = (1,) * (ndim - item.ndim) + tuple(item.shape)
    return to_dtype(S.reshape(item, shape), dtype, "np.block")


def _assemble(arrays, depth: int, max_depth: int, ndim: int, dtype):
    if depth < max_depth:
        parts = [_assemble(a, depth + 1, max_depth, ndim, dtype) for a in arrays]
        return parts[0] if len(parts) == 1 else SL.concatenate(parts, ndim - (max_depth - depth))
    return _block_leaf(arrays, ndim, dtype)


@implements(np.block)
def block(arrays):
    """``np.block`` of traced blocks and zero constants (NumPy checks the nesting and shapes)."""
    reference = np.block(_stand_ins(arrays))
    out = _assemble(arrays, 0, _list_depth(arrays), reference.ndim, reference.dtype)
    if tuple(out.shape) != reference.shape:
        raise LinopError(f"np.block assembled shape {tuple(out.shape)} where NumPy gives "
                         f"{reference.shape}; this is a bug in linop, please report it")
    return distinct(out, arrays)
