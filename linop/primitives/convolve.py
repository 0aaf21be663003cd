"""One-dimensional convolution with a constant kernel along the last axis.

``convolve(x; kernel, mode)`` computes, for every row ``x[..., :]``, NumPy's
``np.convolve(row, kernel, mode)`` with ``mode`` either ``"full"`` (length
``n + m - 1``) or ``"valid"`` (length ``n - m + 1``, requires ``n >= m``).
Every other window (NumPy's ``"same"``, the swapped operands of
``np.convolve``) is a slice of ``"full"``, which the adapter takes.

The two modes are each other's transpose with the reversed kernel:
``full(k)ᵀ = valid(k[::-1])`` and ``valid(k)ᵀ = full(k[::-1])``, so the
primitive transposes into itself and transposing twice restores the kernel.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..ir import Const, ShapeDtype
from ..core import Primitive

__all__ = ["convolve", "convolve_p", "convolve_rows"]

# Kernels up to this length are applied directly (O(n*m)); longer ones via FFT.
DIRECT_MAX_TAPS = 64


def _out_len(n: int, m: int, mode: str) -> int:
    return n + m - 1 if mode == "full" else n - m + 1


def convolve_rows(x: np.ndarray, kernel: np.ndarray, mode: str) -> np.ndarray:
    """``np.convolve(row, kernel, mode)`` for every row along the last axis of ``x``.

    Parameters
    ----------
    x : numpy.ndarray
        At least 1-D; the last axis is convolved.
    kernel : numpy.ndarray
        1-D, of ``x``'s dtype.
    mode : {"full", "valid"}

    Returns
    -------
    numpy.ndarray
        Same dtype as ``x``.
    """
    n, m = x.shape[-1], kernel.shape[0]
    if x.ndim == 1 and (m <= DIRECT_MAX_TAPS or n <= DIRECT_MAX_TAPS):
        return np.convolve(x, kernel, mode).astype(x.dtype, copy=False)
    if m <= DIRECT_MAX_TAPS:
        return _shifted_sum(x, kernel, mode)
    from scipy.signal import oaconvolve

    # FFTs in double precision keep single-precision results as accurate as direct sums.
    wide = np.result_type(x.dtype, np.float64)
    k = kernel.astype(wide).reshape((1,) * (x.ndim - 1) + (m,))
    out = oaconvolve(x.astype(wide, copy=False), k, mode=mode, axes=-1)
    return np.asarray(out).astype(x.dtype, copy=False)


def _shifted_sum(x, kernel, mode):
    """Direct convolution as a sum of ``m`` shifted, scaled copies (vectorised over rows)."""
    n, m = x.shape[-1], kernel.shape[0]
    if mode == "full":
        out = np.zeros(x.shape[:-1] + (n + m - 1,), x.dtype)
        for j, k in enumerate(kernel):
            out[..., j:j + n] += k * x
        return out
    length = n - m + 1
    out = np.zeros(x.shape[:-1] + (length,), x.dtype)
    for j, k in enumerate(kernel):
        start = m - 1 - j
        out += k * x[..., start:start + length]
    return out


class Convolve(Primitive):
    """``np.convolve(x[..., :], kernel, mode)`` along the last axis, ``mode`` full or valid."""

    name = "convolve"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def impl(self, x, *, kernel, mode):
        return convolve_rows(x, kernel.value, mode)

    def dask_impl(self, dk, x, **params):
        return dk.along_axes(self, x, (x.ndim - 1,), params)  # rows whole, the rest split

    def abstract_eval(self, x, *, kernel, mode):
        n, m = x.shape[-1], kernel.value.shape[0]
        if mode not in ("full", "valid") or (mode == "valid" and n < m):
            raise ValueError(f"convolve: bad mode {mode!r} for lengths {n} and {m}")
        if kernel.value.dtype != x.dtype:
            raise TypeError(f"convolve: kernel dtype {kernel.value.dtype} != input {x.short()}")
        return ShapeDtype(x.shape[:-1] + (_out_len(n, m, mode),), x.dtype)

    def sparse_jacobian(self, x, *, kernel, mode):
        return _banded_matrix(x, kernel.value, mode)

    def transpose(self, ct, x, *, kernel, mode):
        flipped = Const(kernel.value[::-1])  # a view of the captured kernel: shared, not copied
        return (convolve(ct, flipped, "valid" if mode == "full" else "full"),)

    def batch(self, size, x, *, kernel, mode):
        return convolve(x, kernel, mode)


convolve_p = Convolve()


def _banded_matrix(x, k, mode):
    """``[matrix]`` of the convolution of every row, or ``None`` when denser than half.

    One band per nonzero tap ``j``: ``"full"`` adds ``k[j] * x[r, p]`` into
    ``out[r, p + j]``, ``"valid"`` reads ``k[j] * x[r, i + m - 1 - j]`` into ``out[r, i]``.
    """
    n, m = x.shape[-1], k.shape[0]
    length = _out_len(n, m, mode)
    out_size = int(np.prod(x.shape[:-1], dtype=np.int64)) * length
    taps = np.flatnonzero(k)[:, None]
    own = np.arange(x.size if mode == "full" else out_size)     # meets every tap
    if 2 * taps.size * own.size > out_size * x.size:
        return None                                 # dense: probed under tosparse's dense_limit
    row, i = np.divmod(own, max(n if mode == "full" else length, 1))
    if mode == "full":
        rows, cols = row * length + i + taps, np.broadcast_to(own, (taps.size, own.size))
    else:
        rows, cols = np.broadcast_to(own, (taps.size, own.size)), row * n + i + m - 1 - taps
    vals = np.broadcast_to(k[taps], rows.shape)
    return [sp.csr_matrix((vals.ravel(), (rows.ravel(), cols.ravel())), shape=(out_size, x.size))]


def convolve(x, kernel, mode: str):
    """Record or compute the convolution of ``x``'s last axis with a constant 1-D kernel."""
    if not isinstance(kernel, Const):
        kernel = Const(np.asarray(kernel))
    return convolve_p.bind(x, kernel=kernel, mode=mode)
