"""IIR filtering with constant coefficients.

``lfilter(x; b, a, axis, reverse)`` is ``scipy.signal.lfilter(b, a, x, axis)``
from a zero state; with ``reverse`` it runs over the reversed signal and
reverses the result. The filter matrix is lower-triangular Toeplitz, so its
transpose is the reversed filter: ``Hᵀ = J H J``, and the primitive transposes
into itself with ``reverse`` toggled.
"""
from __future__ import annotations

import numpy as np

from ..ir import Const
from ..core import Primitive

__all__ = ["lfilter", "lfilter_p"]


class LFilter(Primitive):
    """``scipy.signal.lfilter(b, a, x, axis)`` from a zero state (optionally reversed)."""

    name = "lfilter"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def dask_impl(self, dk, x, **params):
        # a recursion along one axis: that axis whole in each block, the others split
        return dk.along_axes(self, x, (params["axis"],), params)

    def impl(self, x, *, b, a, axis, reverse):
        import scipy.signal as sig

        if x.shape[axis] == 0:
            return x.copy()
        if reverse:
            x = np.flip(x, axis)
        y = sig.lfilter(b.value, a.value, x, axis=axis)
        if reverse:
            y = np.flip(y, axis)
        return np.ascontiguousarray(y).astype(x.dtype, copy=False)

    def abstract_eval(self, x, *, b, a, axis, reverse):
        return x

    def transpose(self, ct, x, *, b, a, axis, reverse):
        return (lfilter(ct, b, a, axis, not reverse),)

    def batch(self, size, x, *, b, a, axis, reverse):
        return lfilter(x, b, a, axis + 1, reverse)


lfilter_p = LFilter()


def lfilter(x, b, a, axis: int, reverse: bool = False):
    """Record or compute an IIR filter with constant coefficients from a zero state.

    Parameters
    ----------
    x : Tracer or numpy.ndarray
    b, a : array_like or Const
        1-D coefficients of ``x``'s dtype (``a[0] != 0``).
    axis : int, non-negative
    reverse : bool
        Filter the reversed signal and reverse the result.
    """
    b = b if isinstance(b, Const) else Const(b)
    a = a if isinstance(a, Const) else Const(a)
    return lfilter_p.bind(x, b=b, a=a, axis=int(axis), reverse=bool(reverse))
