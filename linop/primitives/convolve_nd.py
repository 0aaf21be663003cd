"""N-d convolution with a constant kernel.

``convolve_nd(x; kernel, mode, method)`` is, over all axes of ``x`` (the kernel
has as many axes), either the ``"full"`` convolution ``x * kernel`` or the
``"valid"`` cross-correlation of ``x`` with ``kernel`` (no conjugation). The two
are each other's transpose with the same kernel, so the primitive transposes
into itself. ``method`` ("auto", "direct", "fft", "oa") only picks SciPy's
algorithm.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from ..ir import Const, ShapeDtype
from ..core import Primitive

__all__ = ["convolve_nd", "convolve_nd_p"]


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


def _correlate_block(x, k, *, flip, method):
    """The valid cross-correlation of one (halo-extended) block with ``k`` (flipped: convolution)."""
    return np.asarray(_valid_correlate(x, np.flip(k) if flip else k, method)).astype(
        x.dtype, copy=False)


class ConvolveND(Primitive):
    """Full convolution or valid cross-correlation of ``x`` with a constant kernel."""

    name = "convolve_nd"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def impl(self, x, *, kernel, mode, method):
        k = kernel.value
        if 0 in x.shape or 0 in k.shape:
            return np.zeros(self.abstract_eval(ShapeDtype(x.shape, x.dtype), kernel=kernel,
                                               mode=mode, method=method).shape, x.dtype)
        run = _full_convolve if mode == "full" else _valid_correlate
        return np.asarray(run(x, k, method)).astype(x.dtype, copy=False)

    def dask_impl(self, dk, x, *, kernel, mode, method):
        # a valid correlation over windows of the kernel's size: each block reads the edge of
        # the next one; the full convolution is that on the zero-padded input, kernel flipped
        k = kernel.value
        if 0 in k.shape:  # an empty kernel: zeros, as impl gives them
            return super().dask_impl(dk, x, kernel=kernel, mode=mode, method=method)
        if mode == "full":
            x = dk.da.pad(x, [(m - 1, m - 1) for m in k.shape])
        block = functools.partial(_correlate_block, flip=mode == "full", method=method)
        return dk.windowed(block, x, k.shape, dk.shipped(k), dtype=x.dtype)

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

    def sparse_jacobian(self, x, *, kernel, mode, method):
        out = self.abstract_eval(x, kernel=kernel, mode=mode, method=method)
        return _banded_matrix(x, out, kernel.value, mode)

    def transpose(self, ct, x, *, kernel, mode, method):
        return (convolve_nd(ct, kernel, "valid" if mode == "full" else "full", method),)

    def batch(self, size, x, *, kernel, mode, method):
        return convolve_nd(x, Const(kernel.value[np.newaxis]), mode, method)


convolve_nd_p = ConvolveND()


def _strides(shape) -> np.ndarray:
    """C-order element strides of ``shape``."""
    return np.array([int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))],
                    np.int64)


def _banded_matrix(x, out, k, mode):
    """``[matrix]`` of the full convolution / valid correlation, or ``None`` when denser than half.

    The full convolution adds ``k[t] * x[p]`` into ``out[p + t]``; the valid correlation
    reads ``k[t] * x[i + t]`` into ``out[i]``: one band per nonzero tap.
    """
    taps = np.argwhere(k)
    inner = x if mode == "full" else out          # whose every element meets every tap
    if 2 * len(taps) * inner.size > out.size * x.size:
        return None                                 # dense: probed under tosparse's dense_limit
    outer = out if mode == "full" else x
    grid = np.indices(inner.shape).reshape(len(inner.shape), -1).T
    shifted = (grid @ _strides(outer.shape))[None, :] + (taps @ _strides(outer.shape))[:, None]
    own = np.broadcast_to(np.arange(inner.size), shifted.shape)
    rows, cols = (shifted, own) if mode == "full" else (own, shifted)
    vals = np.broadcast_to(k[tuple(taps.T)][:, None], rows.shape)
    return [sp.csr_matrix((vals.ravel(), (rows.ravel(), cols.ravel())), shape=(out.size, x.size))]


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
