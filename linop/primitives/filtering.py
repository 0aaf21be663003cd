"""N-d convolution with a constant kernel, and IIR filtering with constant coefficients.

``convolve_nd(x; kernel, mode, method)`` is, over all axes of ``x`` (the kernel
has as many axes), either the ``"full"`` convolution ``x * kernel`` or the
``"valid"`` cross-correlation of ``x`` with ``kernel`` (no conjugation). The two
are each other's transpose with the same kernel, so the primitive transposes
into itself. ``method`` ("auto", "direct", "fft", "oa") only picks SciPy's
algorithm.

``lfilter(x; b, a, axis, reverse)`` is ``scipy.signal.lfilter(b, a, x, axis)``
from a zero state; with ``reverse`` it runs over the reversed signal and
reverses the result. The filter matrix is lower-triangular Toeplitz, so its
transpose is the reversed filter: ``Hᵀ = J H J``, and the primitive transposes
into itself with ``reverse`` toggled.
"""
from __future__ import annotations

import numpy as np

from ..ir import Const, ShapeDtype
from .base import Primitive

__all__ = ["convolve_nd", "convolve_nd_p", "lfilter", "lfilter_p"]


# Kernels with at most this many taps run as a sum of shifted slices (fast for small
# kernels, where SciPy's N-d direct method is slow); longer ones go to SciPy.
SHIFTED_SUM_MAX_TAPS = 64


def _shifted_sum(x, k):
    """Valid cross-correlation of ``x`` with a small kernel ``k``: one slice per tap."""
    out_shape = tuple(n - m + 1 for n, m in zip(x.shape, k.shape))
    out = np.zeros(out_shape, x.dtype)
    for idx in np.ndindex(*k.shape):
        w = k[idx]
        if w != 0:
            out += w * x[tuple(slice(i, i + o) for i, o in zip(idx, out_shape))]
    return out


def _full_convolve(x, k, method):
    import scipy.signal as sig

    if method == "direct" and k.size <= SHIFTED_SUM_MAX_TAPS:
        padded = np.pad(x, [(m - 1, m - 1) for m in k.shape])
        return _shifted_sum(padded, np.flip(k))
    if method == "oa":
        return sig.oaconvolve(x, k, "full")
    if method == "fft":
        return sig.fftconvolve(x, k, "full")
    return sig.convolve(x, k, "full", method=method)


def _valid_correlate(x, k, method):
    import scipy.signal as sig

    if method == "direct" and k.size <= SHIFTED_SUM_MAX_TAPS:
        return _shifted_sum(x, k)
    flipped = np.flip(k)
    if method == "oa":
        return sig.oaconvolve(x, flipped, "valid")
    if method == "fft":
        return sig.fftconvolve(x, flipped, "valid")
    return sig.convolve(x, flipped, "valid", method=method)


class ConvolveND(Primitive):
    """Full convolution or valid cross-correlation of ``x`` with a constant kernel."""

    name = "convolve_nd"

    def impl(self, x, *, kernel, mode, method):
        k = kernel.value
        if 0 in x.shape or 0 in k.shape:
            return np.zeros(self.abstract_eval(ShapeDtype(x.shape, x.dtype), kernel=kernel,
                                               mode=mode, method=method).shape, x.dtype)
        run = _full_convolve if mode == "full" else _valid_correlate
        return np.asarray(run(x, k, method)).astype(x.dtype, copy=False)

    def abstract_eval(self, x, *, kernel, mode, method):
        k = kernel.value
        if k.ndim != x.ndim or k.dtype != x.dtype:
            raise TypeError(f"convolve_nd: kernel {kernel.aval.short()} does not match {x.short()}")
        if mode == "full":
            shape = tuple(n + m - 1 for n, m in zip(x.shape, k.shape))
        else:
            if any(n < m for n, m in zip(x.shape, k.shape)):
                raise ValueError(f"convolve_nd: valid mode needs {x.short()} at least {k.shape}")
            shape = tuple(n - m + 1 for n, m in zip(x.shape, k.shape))
        return ShapeDtype(shape, x.dtype)

    def transpose(self, ct, x, *, kernel, mode, method):
        return (convolve_nd(ct, kernel, "valid" if mode == "full" else "full", method),)

    def batch(self, size, x, *, kernel, mode, method):
        return convolve_nd(x, Const(kernel.value[np.newaxis]), mode, method)


convolve_nd_p = ConvolveND()


def convolve_nd(x, kernel, mode: str, method: str = "auto"):
    """Record or compute a full convolution / valid correlation with a constant kernel.

    Parameters
    ----------
    x : Tracer or numpy.ndarray
    kernel : array_like or Const
        Same number of axes and dtype as ``x``.
    mode : {"full", "valid"}
    method : {"auto", "direct", "fft", "oa"}
    """
    if not isinstance(kernel, Const):
        kernel = Const(kernel)
    return convolve_nd_p.bind(x, kernel=kernel, mode=mode, method=method)


class LFilter(Primitive):
    """``scipy.signal.lfilter(b, a, x, axis)`` from a zero state (optionally reversed)."""

    name = "lfilter"

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
