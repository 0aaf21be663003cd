"""Multirate filtering of ``scipy.signal`` on traced arrays: upfirdn, resample_poly, decimate.

``upfirdn(h, x)`` upsamples ``x`` (zeros between samples), convolves with ``h``
and keeps every ``down``-th sample: bilinear in ``(h, x)``, so either may be
traced with the other constant. Its boundary modes extend ``x`` before
upsampling; every mode is a linear extension, held as a sparse matrix whose
edge rows are read off SciPy's own extension of unit signals.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.signal as _sig
import scipy.sparse as _sp

from ..core import is_tracer
from ..errors import AffineError, InvalidArgumentError, user_location
from ..numpy_api.util import nonlinear, to_dtype
from ..primitives import slice as SL
from ..primitives.convolve_nd import convolve_nd
from ..primitives.sparse_matmul import sparse_matmul
from ._calls import linear_in
from ._filters import any_traced, cast_to, filtfilt, lfilter, probe, real_part_dtype, sosfilt, \
    sosfiltfilt

__all__ = ["upfirdn", "resample_poly", "decimate", "upfirdn_output_length"]


def upfirdn_output_length(len_h: int, n: int, up: int, down: int) -> int:
    """Length of ``upfirdn``'s output for a filter of ``len_h`` taps and ``n`` samples."""
    return ((n - 1) * up + len_h - 1) // down + 1


def _pads(len_h, n, up, down):
    """Samples of the extended signal needed before and after ``x`` (``pre``, ``post``)."""
    out = upfirdn_output_length(len_h, n, up, down)
    return (len_h - 1) // up, max(0, ((out - 1) * down) // up - (n - 1))


def _delay(k: int) -> np.ndarray:
    """A delay by ``k`` samples: ``upfirdn`` then shows the ``k`` extended samples before the start."""
    h = np.zeros(k + 1)
    h[k] = 1.0
    return h


def _advance(k: int) -> np.ndarray:
    """A pass-through filter of ``k + 1`` taps: ``upfirdn`` then shows ``k`` extended samples after the end."""
    h = np.zeros(k + 1)
    h[0] = 1.0
    return h


def _edge_columns(n, pad):
    """The samples an extension by ``pad`` may read: both ends, or all when they meet."""
    reach = pad + 2
    if 2 * reach >= n:
        return np.arange(n)
    return np.concatenate([np.arange(reach), np.arange(n - reach, n)])


def extension_rows(n: int, pre: int, post: int, mode: str, dtype) -> _sp.csr_array:
    """The ``(pre + n + post) × n`` matrix of ``upfirdn``'s boundary ``mode`` (``cval`` 0).

    Its edge rows come from SciPy's extension of the unit signals of the edge
    samples (``upfirdn`` with a delay filter reads the extension off exactly).
    """
    cols = _edge_columns(n, max(pre, post))
    basis = np.zeros((cols.size, n))
    basis[np.arange(cols.size), cols] = 1.0
    entries = [(np.arange(pre, pre + n), np.arange(n), np.ones(n))]  # the signal itself
    if pre:
        left = _sig.upfirdn(_delay(pre), basis, axis=1, mode=mode)[:, :pre]
        r, c = np.nonzero(left)
        entries.append((c, cols[r], left[r, c]))
    if post:
        right = _sig.upfirdn(_advance(post), basis, axis=1, mode=mode)[:, n:n + post]
        r, c = np.nonzero(right)
        entries.append((pre + n + c, cols[r], right[r, c]))
    rows, src, vals = (np.concatenate(part) for part in zip(*entries))
    return _sp.csr_array((vals.astype(dtype), (rows, src)), shape=(pre + n + post, n))


def _constant_extension(x, pre, post, axis, mode, cval):
    """A constant signal extended by SciPy's own ``upfirdn`` boundary handling."""
    parts = [x]
    if pre:
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, pre)
        parts.insert(0, _sig.upfirdn(_delay(pre), x, axis=axis, mode=mode, cval=cval)[tuple(index)])
    if post:
        index = [slice(None)] * x.ndim
        n = x.shape[axis]
        index[axis] = slice(n, n + post)
        parts.append(_sig.upfirdn(_advance(post), x, axis=axis, mode=mode, cval=cval)[tuple(index)])
    return np.concatenate(parts, axis).astype(x.dtype)


def _along_axis(h, axis, ndim):
    shape = [1] * ndim
    shape[axis] = -1
    return h.reshape(shape) if not is_tracer(h) else np.reshape(h, tuple(shape))


def _upsample(x, up, axis):
    """Insert ``up - 1`` zeros between samples along ``axis``."""
    if up == 1:
        return x
    nd = len(x.shape)
    interior = [0] * nd
    interior[axis] = up - 1
    if is_tracer(x):
        return SL.pad(x, [0] * nd, [0] * nd, interior)
    shape = list(x.shape)
    shape[axis] = (x.shape[axis] - 1) * up + 1
    out = np.zeros(shape, x.dtype)
    index = [slice(None)] * nd
    index[axis] = slice(None, None, up)
    out[tuple(index)] = x
    return out


@linear_in("h", "x")
def upfirdn(h, x, up=1, down=1, axis=-1, mode="constant", cval=0):
    """``scipy.signal.upfirdn``, linear in whichever of ``h`` and ``x`` is traced.

    Parameters
    ----------
    h : array_like or Tracer, 1-d
        The filter; traced only with a constant ``x``.
    x : array_like or Tracer
    up, down : int
    axis : int
    mode : str
        Every boundary mode of SciPy's ``upfirdn``; with a traced ``x``,
        ``mode="constant"`` needs ``cval=0`` (else the map is affine).
    cval : float

    Returns
    -------
    Tracer
        Of SciPy's shape and dtype.
    """
    if not any_traced(h, x):
        return _sig.upfirdn(h, x, up=up, down=down, axis=axis, mode=mode, cval=cval)
    what = "scipy.signal.upfirdn"
    if is_tracer(h) and is_tracer(x):
        raise nonlinear(what, "both h and x are traced, which is bilinear, not linear. Make one "
                              "of them a constant.")
    _refuse_one_sample_reflection(x, axis, mode, what)
    ref = probe(_sig.upfirdn, h, x, up=up, down=down, axis=axis, mode=mode, cval=cval)
    return cast_to(_upfirdn(h, x, int(up), int(down), axis, mode, cval, ref.dtype, what), ref, what)


def _refuse_one_sample_reflection(x, axis, mode, what):
    """SciPy's reflecting extensions of a one-sample signal divide by zero in C (SIGFPE)."""
    shape = x.shape if is_tracer(x) else np.shape(x)
    if str(mode).lower() in ("reflect", "antireflect") and shape and shape[axis] == 1:
        raise InvalidArgumentError(
            f"{what} at {user_location()}: {mode!r} reflects about the end samples, which a "
            f"signal of one sample along axis {axis} does not have (SciPy itself crashes the "
            "interpreter on this input). Use mode='symmetric' or 'edge', which repeat the sample.")


def _upfirdn(h, x, up, down, axis, mode, cval, dtype, what):
    """The traced ``upfirdn`` (arguments validated by SciPy already)."""
    nd = len(x.shape) if is_tracer(x) else np.ndim(x)
    axis = axis % nd
    n = x.shape[axis] if is_tracer(x) else np.shape(x)[axis]
    len_h = h.shape[0] if is_tracer(h) else len(np.atleast_1d(h))
    pre, post = _pads(len_h, n, up, down)
    mode = mode.lower()
    if is_tracer(x):
        x = to_dtype(x, dtype, what)
        if mode == "constant" and cval != 0 and (pre or post):
            raise AffineError(
                f"{what} at {user_location()}: mode='constant' with cval={cval!r} pads the traced "
                "signal with a non-zero constant, which makes the map affine, not linear. Use "
                "cval=0 (and add the padding's contribution outside the function).")
        if pre or post:
            x = sparse_matmul(x, extension_rows(n, pre, post, mode, real_part_dtype(dtype)), axis)
        kernel = _along_axis(np.asarray(h, dtype), axis, nd)
        full = convolve_nd(_upsample(x, up, axis), kernel, "full", "auto")
    else:
        signal = _constant_extension(np.asarray(x, dtype), pre, post, axis, mode, cval)
        taps = _along_axis(to_dtype(h, dtype, what), axis, nd)
        full = convolve_nd(taps, _upsample(signal, up, axis), "full", "auto")
    out = upfirdn_output_length(len_h, n, up, down)
    starts = [0] * nd
    stops = list(full.shape)
    steps = [1] * nd
    starts[axis] = pre * up
    stops[axis] = pre * up + (out - 1) * down + 1
    steps[axis] = down
    return SL.slice_(full, starts, stops, steps)


_BACKGROUNDS = {"mean": np.mean, "median": np.median, "minimum": np.min, "maximum": np.max}


def _background(x, padtype, axis, what):
    """The value ``resample_poly`` subtracts before filtering and adds back (``None`` if none)."""
    if padtype not in _BACKGROUNDS:
        return None
    if is_tracer(x) and padtype != "mean":
        raise nonlinear(f"{what} with padtype={padtype!r}",
                        f"the {padtype} of the traced signal is not linear in it. Use "
                        "padtype='mean', 'line', 'constant' or another extension mode.")
    return _BACKGROUNDS[padtype](x, axis=axis, keepdims=True)


def _resample_filter(window, x_dtype, up, down):
    """``resample_poly``'s filter ``h`` (before scaling) and its half length."""
    if isinstance(window, list) or is_tracer(window) or isinstance(window, np.ndarray):
        h = window if is_tracer(window) else np.array(window)
        size = h.shape[0] if is_tracer(h) else h.size
        return h, (size - 1) // 2
    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = _sig.firwin(2 * half_len + 1, 1.0 / max_rate, window=window)
    if np.issubdtype(x_dtype, np.inexact):
        h = h.astype(x_dtype)
    return h, half_len


@linear_in("x", "window")
def resample_poly(x, up, down, axis=0, window=("kaiser", 5.0), padtype="constant", cval=None):
    """``scipy.signal.resample_poly``, linear in ``x`` (or in an array ``window``, ``x`` constant).

    Parameters
    ----------
    x : array_like or Tracer
    up, down : int
    axis : int
    window : str, tuple, array_like or Tracer
        A traced array is the filter itself (then ``x`` must be constant).
    padtype : str
        ``"constant"``, ``"mean"``, ``"line"`` or any ``upfirdn`` mode; ``"median"``,
        ``"minimum"`` and ``"maximum"`` are not linear in a traced ``x``.
    cval : float, optional
        Only 0 (or ``None``) is linear for a traced ``x``.
    """
    if not any_traced(x, window):
        return _sig.resample_poly(x, up, down, axis=axis, window=window, padtype=padtype, cval=cval)
    what = "scipy.signal.resample_poly"
    if is_tracer(x) and is_tracer(window):
        raise nonlinear(what, "both x and window are traced, which is bilinear, not linear. Make "
                              "one of them a constant.")
    _refuse_one_sample_reflection(x, axis, padtype, what)
    ref = probe(_sig.resample_poly, x, up, down, axis=axis, window=window, padtype=padtype,
                cval=cval)
    dtype = ref.dtype
    nd = len(x.shape) if is_tracer(x) else np.ndim(x)
    axis = axis % nd
    g = math.gcd(int(up), int(down))
    up, down = int(up) // g, int(down) // g
    if up == down == 1:
        if not is_tracer(x):
            raise AffineError(f"{what} at {user_location()}: with up == down the result is a copy "
                              "of the constant x, not a linear function of the traced window.")
        return cast_to(np.copy(x), ref, what)
    x_dtype = x.dtype if is_tracer(x) else np.asarray(x).dtype
    h, half_len = _resample_filter(window, x_dtype, up, down)
    h = h * up
    n_in = x.shape[axis] if is_tracer(x) else np.shape(x)[axis]
    n_out = n_in * up // down + bool(n_in * up % down)
    pre_pad = down - half_len % down
    post_pad = 0
    len_h = h.shape[0]
    pre_remove = (half_len + pre_pad) // down
    while upfirdn_output_length(len_h + pre_pad + post_pad, n_in, up, down) < n_out + pre_remove:
        post_pad += 1
    h = np.pad(h, (pre_pad, post_pad))
    background = _background(x, padtype, axis, what)
    mode, fill = ("constant", 0) if padtype in _BACKGROUNDS else (padtype, cval or 0)
    if background is not None:
        x = x - background
    if not is_tracer(x):
        x = np.asarray(x)
    y = _upfirdn(h, x, up, down, axis, mode, fill, dtype, what)
    index = [slice(None)] * nd
    index[axis] = slice(pre_remove, pre_remove + n_out)
    y = y[tuple(index)]
    if background is not None:
        y = y + background
    return cast_to(y, ref, what)


def _dlti_filter(system, result_type):
    """``decimate``'s filter from an ``lti``-like system: ``("fir"|"tf"|"sos", coefficients)``."""
    zpk = system.to_zpk()
    if zpk.poles.shape[0] == 0:
        tf = system.to_tf()
        return "fir", (tf.num, tf.den)
    if any(np.iscomplex(zpk.poles)) or np.iscomplex(zpk.gain):
        tf = system.to_tf()
        return "tf", (tf.num, tf.den)
    return "sos", np.asarray(_sig.zpk2sos(zpk.zeros, zpk.poles, zpk.gain), dtype=result_type)


@linear_in("x")
def decimate(x, q, n=None, ftype="iir", axis=-1, zero_phase=True):
    """``scipy.signal.decimate`` of a traced signal (FIR, IIR or a ``dlti`` system).

    Parameters
    ----------
    x : array_like or Tracer
    q : int
    n : int, optional
    ftype : {"iir", "fir"} or scipy.signal.dlti
    axis : int
    zero_phase : bool
    """
    if not is_tracer(x):
        return _sig.decimate(x, q, n=n, ftype=ftype, axis=axis, zero_phase=zero_phase)
    what = "scipy.signal.decimate"
    ref = probe(_sig.decimate, x, q, n=n, ftype=ftype, axis=axis, zero_phase=zero_phase)
    result_type = x.dtype
    if isinstance(ftype, _sig.dlti):
        kind, coefs = _dlti_filter(ftype, result_type)
    elif ftype == "fir":
        taps = 20 * q if n is None else n
        kind = "fir"
        coefs = (np.asarray(_sig.firwin(taps + 1, 1.0 / q, window="hamming"), result_type),
                 np.asarray(1.0, result_type))
    else:
        kind = "sos"
        coefs = np.asarray(_sig.cheby1(8 if n is None else n, 0.05, 0.8 / q, output="sos"),
                           result_type)
    ax = axis % len(x.shape)
    index = [slice(None)] * len(x.shape)
    if kind == "fir":
        b = coefs[0] / coefs[1]
        if zero_phase:
            y = resample_poly(x, 1, q, axis=axis, window=b)
        else:
            y = upfirdn(b, x, up=1, down=q, axis=axis)
            index[ax] = slice(None, x.shape[ax] // q + bool(x.shape[ax] % q))
    else:
        if kind == "sos":
            y = sosfiltfilt(coefs, x, axis=axis) if zero_phase else sosfilt(coefs, x, axis=axis)
        else:
            y = filtfilt(*coefs, x, axis=axis) if zero_phase else lfilter(*coefs, x, axis=axis)
        index[ax] = slice(None, None, q)
    return cast_to(y[tuple(index)], ref, what)
