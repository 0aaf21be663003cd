"""``scipy.signal``'s linear functions for traced arrays.

Convolutions live here; filters (``lfilter`` ... ``detrend``) in
:mod:`linop.scipy._filters`, multirate filtering in :mod:`linop.scipy._multirate`,
FFT-based functions in :mod:`linop.scipy._spectral`.

Each function takes SciPy's signature. Without a traced argument it simply
calls SciPy. With one traced operand (the other, the kernel or the filter
coefficients, constant) it first runs SciPy on zeros of the traced shape: that
validates the arguments with SciPy's own exceptions and gives the exact output
shape and dtype; then it records ``convolve_nd`` / ``lfilter`` / slicing
equations, whose transposes are exact.
"""
from __future__ import annotations

import numpy as np
import scipy.signal as _sig

from ..core import is_tracer, zeros
from ..errors import AffineError, user_location
from ..numpy_api.util import nonlinear, to_dtype, unsupported
from ..primitives import complex as C, shape as S, slice as SL
from ..primitives.convolve_nd import convolve_nd
from ..primitives.sparse_matmul import sparse_matmul
from ._boundary import extension_matrix
from ._calls import linear_in
from ._filters import detrend, filtfilt, lfilter, probe, savgol_filter, sosfilt, sosfiltfilt
from ._multirate import decimate, resample_poly, upfirdn
from ._spectral import hilbert, istft, resample, stft

__all__ = ["convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d", "correlate2d",
           "lfilter", "sosfilt", "filtfilt", "sosfiltfilt", "savgol_filter", "detrend",
           "upfirdn", "resample_poly", "decimate", "resample", "hilbert", "stft", "istft"]

# The functions of the private modules are this module's: their errors and docs name it.
for _function in (lfilter, sosfilt, filtfilt, sosfiltfilt, savgol_filter, detrend, upfirdn,
                  resample_poly, decimate, resample, hilbert, stft, istft):
    _function.__module__ = __name__
del _function


# -- helpers ---------------------------------------------------------------------
def _one_traced(in1, in2, what):
    if is_tracer(in1) and is_tracer(in2):
        raise nonlinear(what, "both operands are traced, which is bilinear, not linear. "
                              "One operand (the kernel) must be a constant.")
    return is_tracer(in1) or is_tracer(in2)


def _conj(x):
    if is_tracer(x):
        return C.conj(x) if np.iscomplexobj(np.zeros(0, x.dtype)) else x
    return np.conj(x)


def _rev_all(x):
    return S.rev(x, range(x.ndim)) if is_tracer(x) else np.flip(x)


def _centered(x, shape, round_up=False):
    """The centred window of ``shape`` (SciPy's ``_centered``; ``round_up`` for correlate2d)."""
    starts = [(n - m + round_up) // 2 for n, m in zip(x.shape, shape)]
    return SL.slice_(x, starts, [s + m for s, m in zip(starts, shape)], [1] * len(shape))


def _full_convolution(in1, in2, dtype, method):
    """Full N-d convolution of a traced and a constant operand (commutative)."""
    x, k = (in1, in2) if is_tracer(in1) else (in2, in1)
    x = to_dtype(x, dtype, "a convolution")
    return convolve_nd(x, np.asarray(k, dtype=dtype), "full", method)


def _cast(x, dtype):
    return x if x.dtype == dtype else to_dtype(x, dtype, "a convolution")


def _zero_d_product(in1, in2):
    return in1 * in2


# -- convolve / correlate -------------------------------------------------------------
@linear_in("in1", "in2")
def convolve(in1, in2, mode="full", method="auto"):
    """``scipy.signal.convolve`` with one traced operand.

    Parameters
    ----------
    in1, in2 : array_like or Tracer
        Exactly one may be traced; the other is a constant kernel.
    mode : {"full", "valid", "same"}
    method : {"auto", "direct", "fft"}

    Returns
    -------
    ndarray or Tracer
        What SciPy returns (shape and dtype).
    """
    if not _one_traced(in1, in2, "scipy.signal.convolve"):
        return _sig.convolve(in1, in2, mode=mode, method=method)
    ref = probe(_sig.convolve, in1, in2, mode=mode, method=method)
    if np.ndim(in1) == 0:
        return _cast(_zero_d_product(in1, in2), ref.dtype)
    full = _full_convolution(in1, in2, ref.dtype, method)
    return _centered(full, ref.shape)


@linear_in("in1", "in2")
def correlate(in1, in2, mode="full", method="auto"):
    """``scipy.signal.correlate`` with one traced operand (``in2`` is conjugated, as in SciPy).

    Parameters
    ----------
    in1, in2 : array_like or Tracer
        Exactly one may be traced. A traced complex ``in2`` makes the map
        real-linear only (it is conjugated).
    mode : {"full", "valid", "same"}
    method : {"auto", "direct", "fft"}
    """
    if not _one_traced(in1, in2, "scipy.signal.correlate"):
        return _sig.correlate(in1, in2, mode=mode, method=method)
    ref = probe(_sig.correlate, in1, in2, mode=mode, method=method)
    if np.ndim(in1) == 0:
        return _cast(_zero_d_product(in1, _conj(in2)), ref.dtype)
    full = _full_convolution(in1, _rev_all(_conj(in2)), ref.dtype, method)
    return _centered(full, ref.shape)


def _check_axes_broadcast(in1, in2, axes, what):
    if axes is None or np.ndim(in1) == 0:
        return
    conv = {int(a) % np.ndim(in1) for a in np.atleast_1d(axes)}
    for i, (n, m) in enumerate(zip(np.shape(in1), np.shape(in2))):
        if i not in conv and n != 1 and m != 1:
            raise unsupported(f"{what} with axes={axes!r} and equal non-convolved axis {i} of length {n}",
                              "That is a different kernel per slice; loop over the slices instead.")


@linear_in("in1", "in2")
def fftconvolve(in1, in2, mode="full", axes=None):
    """``scipy.signal.fftconvolve`` with one traced operand.

    Parameters
    ----------
    in1, in2 : array_like or Tracer
    mode : {"full", "valid", "same"}
    axes : int or sequence of int, optional
        Axes to convolve over; along the others one operand must have length 1.
    """
    return _fft_family(_sig.fftconvolve, "fft", in1, in2, mode, axes)


@linear_in("in1", "in2")
def oaconvolve(in1, in2, mode="full", axes=None):
    """``scipy.signal.oaconvolve`` (overlap-add) with one traced operand.

    Parameters
    ----------
    in1, in2 : array_like or Tracer
    mode : {"full", "valid", "same"}
    axes : int or sequence of int, optional
    """
    return _fft_family(_sig.oaconvolve, "oa", in1, in2, mode, axes)


def _fft_family(scipy_fn, method, in1, in2, mode, axes):
    """The shared body of ``fftconvolve`` and ``oaconvolve`` (they differ only in speed)."""
    what = f"scipy.signal.{scipy_fn.__name__}"
    if not _one_traced(in1, in2, what):
        return scipy_fn(in1, in2, mode=mode, axes=axes)
    ref = probe(scipy_fn, in1, in2, mode=mode, axes=axes)
    if np.ndim(in1) == 0:
        return _cast(_zero_d_product(in1, in2), ref.dtype)
    if 0 in np.shape(in1) or 0 in np.shape(in2):
        return zeros(ref.shape, ref.dtype)
    _check_axes_broadcast(in1, in2, axes, what)
    return _centered(_full_convolution(in1, in2, ref.dtype, method), ref.shape)


# -- 2-d with boundaries -------------------------------------------------------------
def _swap_needed(mode, s1, s2):
    return mode == "valid" and not all(a >= b for a, b in zip(s1, s2))


def _extend_traced(x, pads, boundary):
    for axis, p in enumerate(pads):
        if p:
            x = sparse_matmul(x, extension_matrix(x.shape[axis], p, p, boundary, C.real_dtype(x.dtype)), axis)
    return x


def _extend_constant(a, pads, boundary, fillvalue):
    width = [(p, p) for p in pads]
    if boundary == "fill":
        return np.pad(a, width, mode="constant", constant_values=fillvalue)
    return np.pad(a, width, mode="wrap" if boundary in ("wrap", "circular") else "symmetric")


def _convolve2d_core(a, b, mode, boundary, fillvalue, flip, ref, what):
    """SciPy's ``_convolve2d(a, b, flip, mode, boundary)``: ``a`` is extended by the boundary."""
    dtype = ref.dtype
    pads = [0] * 2 if mode == "valid" else [m - 1 for m in np.shape(b)]
    if is_tracer(a):
        if boundary == "fill" and fillvalue != 0 and mode != "valid":
            raise AffineError(
                f"{what} at {user_location()}: boundary='fill' with fillvalue={fillvalue!r} adds a "
                "constant border, which makes the map affine, not linear. Use fillvalue=0 (and "
                "add the border's contribution to your data outside the function).")
        a = to_dtype(a, dtype, what)
        a_ext = _extend_traced(a, pads, "fill" if boundary == "fill" else boundary)
        kernel = np.asarray(b, dtype=dtype)
        kernel = np.flip(kernel) if flip else kernel
        out_full = convolve_nd(a_ext, kernel, "valid", "direct")
    else:
        a_ext = np.asarray(_extend_constant(np.asarray(a), pads, boundary, fillvalue), dtype=dtype)
        b = to_dtype(b, dtype, what)
        b = b if flip else S.rev(b, (0, 1))
        full = convolve_nd(b, a_ext, "full", "direct")
        n2 = b.shape
        out_full = SL.slice_(full, [m - 1 for m in n2], [L for L in a_ext.shape], [1, 1])
    # A correlation is a convolution with the flipped kernel, so its 'same' window is mirrored.
    return _centered(out_full, ref.shape, round_up=not flip)


def _boundary_name(boundary):
    return {"symmetric": "symm", "circular": "wrap"}.get(boundary, boundary)


@linear_in("in1", "in2")
def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """``scipy.signal.convolve2d`` with one traced operand.

    Parameters
    ----------
    in1, in2 : array_like or Tracer, 2-d
    mode : {"full", "valid", "same"}
    boundary : {"fill", "wrap", "symm"}
        With ``fill`` on a traced ``in1`` only ``fillvalue=0`` is linear.
    fillvalue : scalar
    """
    if not _one_traced(in1, in2, "scipy.signal.convolve2d"):
        return _sig.convolve2d(in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue)
    ref = probe(_sig.convolve2d, in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue)
    if _swap_needed(mode, np.shape(in1), np.shape(in2)):
        in1, in2 = in2, in1
    return _convolve2d_core(in1, in2, mode, _boundary_name(boundary), fillvalue, True, ref,
                            "scipy.signal.convolve2d")


@linear_in("in1", "in2")
def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """``scipy.signal.correlate2d`` with one traced operand (``in2`` conjugated, as in SciPy).

    Parameters
    ----------
    in1, in2 : array_like or Tracer, 2-d
    mode : {"full", "valid", "same"}
    boundary : {"fill", "wrap", "symm"}
    fillvalue : scalar
    """
    if not _one_traced(in1, in2, "scipy.signal.correlate2d"):
        return _sig.correlate2d(in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue)
    ref = probe(_sig.correlate2d, in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue)
    swapped = _swap_needed(mode, np.shape(in1), np.shape(in2))
    if swapped:
        in1, in2 = in2, in1
    out = _convolve2d_core(in1, _conj(in2), mode, _boundary_name(boundary), fillvalue, False, ref,
                           "scipy.signal.correlate2d")
    return S.rev(out, (0, 1)) if swapped else out
