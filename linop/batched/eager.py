"""The eager vmap: the mapped arguments flow through the function as batched values."""
from __future__ import annotations

import numpy as np

from ..batching import axes_prefix
from ..core import is_tracer
from ..pytree import tree_flatten, tree_unflatten
from .levels import BatchLevel, check_active
from .value import BatchedArray

__all__ = ["run_eager"]


def _argument(leaf, axis, level):
    """A mapped argument as a read-only batched value (the caller's array is never written)."""
    if isinstance(leaf, BatchedArray) or is_tracer(leaf):
        return BatchedArray(level, np.moveaxis(leaf, axis, 0), writeable=False)
    val = np.moveaxis(np.asarray(leaf), axis, 0).view()
    val.flags.writeable = False
    return BatchedArray(level, val, writeable=False)


def _output(out, level, axis, k):
    if isinstance(out, BatchedArray) and out.level.serial > level.serial:
        check_active(out.level)
    if isinstance(out, BatchedArray) and out.level is level:
        if axis is None:
            raise ValueError(f"vmap: output leaf {k} depends on the batch but out_axes is None for it")
        out = out.val
    else:
        if axis is None:
            return out
        if not isinstance(out, BatchedArray) and not is_tracer(out):
            out = np.asarray(out)
        out = np.broadcast_to(out[None], (level.size,) + tuple(out.shape))
    axis = int(axis)
    if not -len(out.shape) <= axis < len(out.shape):
        raise ValueError(f"vmap: out_axes {axis} is out of range for an output of "
                         f"{len(out.shape)} dimensions")
    out = np.moveaxis(out, 0, axis)
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        out = np.array(out)
    elif isinstance(out, BatchedArray) and not out.writeable:
        out = out.copy()
    return out


def run_eager(call, out_axes):
    """Run a :class:`~linop.batching.VmapCall` in the batching interpretation.

    Mapped arguments become :class:`~linop.batched.value.BatchedArray` values;
    the function runs once on them; outputs batched over this vmap get their
    batch axis at ``out_axes``, the others are broadcast (or returned as they are
    where ``out_axes`` is ``None``).
    """
    with BatchLevel(call.size, call.axis_name) as level:
        leaves = [leaf if axis is None else _argument(leaf, axis, level)
                  for leaf, axis in zip(call.leaves, call.axes)]
        out = call.fun(*tree_unflatten(call.in_tree, leaves))
        outs, out_tree = tree_flatten(out)
        out_axes_leaves = axes_prefix(out_axes, out, "out_axes")
        final = [_output(o, level, ax, k) for k, (o, ax) in enumerate(zip(outs, out_axes_leaves))]
    return tree_unflatten(out_tree, final)
