"""The ``axes=``, ``axis=`` and ``keepdims=`` keywords of generalized ufuncs (``np.vecdot``...).

A generalized ufunc works on the core axes of its operands (the last ones by
default). These keywords choose other core axes, which is the same as moving
them to the end, calling the ufunc, and moving the output's core axes back:
that is how they are lowered here, so each ufunc's own adapter only ever sees
its core axes last. NumPy validates the keywords itself, on stand-in arrays,
so its errors and its result shape are the reference.
"""
from __future__ import annotations

import numpy as np

from ..core import is_tracer
from ..errors import LinopError
from ..primitives import shape as S
from .util import normalize_axis, shape_of

__all__ = ["CORE_AXES_KEYWORDS", "call_with_core_axes", "stand_in"]

#: The keywords of a generalized ufunc that choose its core axes.
CORE_AXES_KEYWORDS = ("axes", "axis", "keepdims")


def stand_in(x):
    """A zero array with the shape and dtype of the tracer ``x``, for NumPy to check a call
    on (a constant stays itself)."""
    if is_tracer(x):
        return np.broadcast_to(np.zeros((), x.dtype), x.shape)
    return x


def _moved(x, source, destination):
    """``np.moveaxis(x, source, destination)``; a tracer's result is a new array, not a view."""
    ndim = len(shape_of(x))
    source = [normalize_axis(a, ndim) for a in source]
    destination = [normalize_axis(a, ndim) for a in destination]
    order = [n for n in range(ndim) if n not in source]
    for dst, src in sorted(zip(destination, source)):
        order.insert(dst, src)
    return S.transpose(x, order) if is_tracer(x) else np.transpose(x, order)


def _entry(entry) -> tuple:
    return (int(entry),) if np.ndim(entry) == 0 else tuple(int(a) for a in entry)


def _input_core_axes(ufunc, inputs, axes, axis):
    """The core axes of each input, as NumPy reads the keywords (already validated)."""
    if axes is not None:
        return [_entry(e) for e in axes[:ufunc.nin]]
    if axis is not None:
        return [(int(axis),)] * ufunc.nin
    core = _signature_core_counts(ufunc.signature)
    return [tuple(range(-min(k, len(shape_of(x))), 0)) for k, x in zip(core, inputs)]


def _signature_core_counts(signature: str) -> list:
    """Number of core dimensions of each input of a gufunc signature ``(n),(n)->()``."""
    inputs = signature.split("->")[0]
    return [0 if not part.strip("()") else part.count(",") + 1
            for part in inputs.replace("),(", ")|(").split("|")]


def _output_core_axes(axes, axis, nin, count):
    """The output's core axes: given, implied by ``axis``, or the last ``count`` ones."""
    if axes is not None and len(axes) > nin:
        return _entry(axes[nin])
    if axis is not None and count:
        return (int(axis),)
    return tuple(range(-count, 0))


def call_with_core_axes(ufunc, call, inputs, kwargs):
    """``ufunc(*inputs, axes=..., axis=..., keepdims=...)`` through ``call`` on core-last operands.

    Parameters
    ----------
    ufunc : numpy.ufunc
        A generalized ufunc (its ``signature`` is not ``None``).
    call : callable
        Runs the ufunc's adapter on operands whose core axes are last.
    inputs : tuple
        The operands (tracers and constants).
    kwargs : dict
        The keywords of :data:`CORE_AXES_KEYWORDS` that the caller passed.
    """
    probe = ufunc(*(stand_in(x) for x in inputs), **kwargs)  # NumPy's checks and errors
    axes, axis = kwargs.get("axes"), kwargs.get("axis")
    keepdims = bool(kwargs.get("keepdims", False))
    cores = _input_core_axes(ufunc, inputs, axes, axis)
    moved = [_moved(x, core, range(-len(core), 0)) for x, core in zip(inputs, cores)]
    result = call(*moved)
    batch = max(len(shape_of(m)) - len(core) for m, core in zip(moved, cores))
    count = result.ndim - batch
    if keepdims:
        count = len(cores[0])
        result = S.reshape(result, tuple(result.shape) + (1,) * count)
    out_core = _output_core_axes(axes, axis, ufunc.nin, count)
    result = _moved(result, range(-count, 0), out_core)
    if tuple(result.shape) != probe.shape:
        raise LinopError(f"np.{ufunc.__name__} with {sorted(kwargs)} gave shape "
                         f"{tuple(result.shape)} where NumPy gives {probe.shape}; this is a bug "
                         "in linop, please report it")
    return result
