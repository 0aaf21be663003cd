"""Array creation from a traced array: zeros_like, empty_like, ones_like, full_like, copy."""
from __future__ import annotations

import numpy as np

from ..core import zeros_p
from .registry import implements, implements_method
from .util import distinct, fresh, to_dtype


def _like_shape(a, shape):
    if shape is None:
        return tuple(a.shape)
    return (int(shape),) if np.ndim(shape) == 0 else tuple(int(d) for d in shape)


@implements(np.zeros_like)
def zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """``np.zeros_like``: a traced array of zeros, ready to be written into."""
    dtype = np.dtype(dtype) if dtype is not None else a.dtype
    builder = a.builder
    return builder.add_eqn(zeros_p, (), {"shape": _like_shape(a, shape), "dtype": dtype})


@implements(np.empty_like)
def empty_like(prototype, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """``np.empty_like``: zeros (uninitialised memory is never read as data by linop)."""
    return zeros_like(prototype, dtype, order, subok, shape)


@implements(np.ones_like)
def ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """``np.ones_like``: a constant array (it does not depend on the values of ``a``)."""
    return np.ones(_like_shape(a, shape), dtype if dtype is not None else a.dtype)


@implements(np.full_like)
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """``np.full_like``: a constant array (it does not depend on the values of ``a``)."""
    return np.full(_like_shape(a, shape), fill_value, dtype if dtype is not None else a.dtype)


@implements(np.copy, method="copy")
def copy(a, order="K", subok=False):
    """``np.copy``: a new array that writes do not share with ``a``."""
    return fresh(a)


@implements_method("astype")
def astype(x, dtype, order="K", casting="unsafe", subok=True, copy=True):
    """``x.astype(dtype)``: floating and real→complex conversions."""
    dtype = np.dtype(dtype)
    if dtype == x.dtype:
        return fresh(x) if copy else x
    if not np.can_cast(x.dtype, dtype, casting):
        raise TypeError(f"Cannot cast array data from {x.dtype!r} to {dtype!r} according to the "
                        f"rule {casting!r}")
    out = to_dtype(x, dtype, f"x.astype({dtype.name})")
    return distinct(out, x)


@implements(np.astype)
def astype_function(x, dtype, /, *, copy=True, device=None):
    """``np.astype(x, dtype)``: the array-API spelling of ``x.astype(dtype)`` (unsafe casting).

    Conversions follow the tracer's rules: floating precision and real→complex
    are linear; complex→real (discarding the imaginary part) is refused, and
    integer or boolean results are not linear.
    """
    if device not in (None, "cpu"):
        raise ValueError(f'Device not understood. Only "cpu" is allowed, but received: {device}')
    dtype = np.dtype(dtype)
    if dtype == x.dtype:
        return fresh(x) if copy else x
    return distinct(to_dtype(x, dtype, f"np.astype(x, {dtype.name})"), x)
