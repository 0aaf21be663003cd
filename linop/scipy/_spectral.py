"""FFT-based functions of ``scipy.signal`` on traced arrays: resample, hilbert, stft, istft.

Each is a chain of FFTs, constant weights, selections of frequency bins and,
for the short-time transforms, a gather of overlapping segments (``stft``)
or their overlap-add, a constant sparse matrix (``istft``). The frequency and
time arrays these functions return are constants.
"""
from __future__ import annotations

import numpy as np
import scipy.fft as _fft
import scipy.signal as _sig
import scipy.sparse as _sp

from ..core import is_tracer, zeros
from ..numpy_api.util import to_dtype
from ..primitives.sparse_matmul import sparse_matmul
from . import fft as lfft
from ._calls import linear_in
from ._filters import cast_to, detrend as _detrend, extend, probe, real_part_dtype

__all__ = ["resample", "hilbert", "stft", "istft"]


def _window_weights(window, n_x):
    """``resample``'s spectral window ``W`` (length ``n_x``), or ``None``."""
    if window is None:
        return None
    if callable(window):
        return np.asarray(window(_fft.fftfreq(n_x)))
    if hasattr(window, "shape"):
        return np.array(window)
    return _fft.fftshift(_sig.get_window(window, n_x)).astype(np.float64)


def _bin_map(num, n_x, m, m2):
    """The ``num × n_x`` matrix that maps a two-sided spectrum onto ``num`` bins (SciPy's rule)."""
    rows = list(range(m2))
    cols = list(range(m2))
    vals = [1.0] * m2
    if m2 < m:
        k = m - m2
        rows += list(range(num - k, num))
        cols += list(range(n_x - k, n_x))
        vals += [1.0] * k
    if m % 2 == 0:
        half = m // 2
        if num < n_x:  # down-sampling: the pair of bins at +-m/2 becomes one
            rows.append(num - half), cols.append(n_x - half), vals.append(1.0)
        elif n_x < num:  # up-sampling: the unpaired bin is split into a pair
            vals[rows.index(half)] = 0.5
            rows.append(num - half), cols.append(half), vals.append(0.5)
    return _sp.csr_array((vals, (rows, cols)), shape=(num, n_x))


@linear_in("x")
def resample(x, num, t=None, axis=0, window=None, domain="time"):
    """``scipy.signal.resample`` (Fourier method) of a traced signal.

    Parameters
    ----------
    x : array_like or Tracer
    num : int
    t : array_like, optional
        Constant sample positions; the resampled positions are returned too.
    axis : int
    window : array_like, callable, str or tuple, optional
    domain : {"time", "freq"}

    Returns
    -------
    Tracer, or (Tracer, ndarray) when ``t`` is given
    """
    if not is_tracer(x):
        return _sig.resample(x, num, t=t, axis=axis, window=window, domain=domain)
    what = "scipy.signal.resample"
    ref = probe(_sig.resample, x, num, t=t, axis=axis, window=window, domain=domain)
    y_ref = ref[0] if t is not None else ref
    ax = axis % len(x.shape)
    x = np.moveaxis(x, ax, -1)
    n_x = x.shape[-1]
    s_fac = n_x / num
    m = min(num, n_x)
    m2 = m // 2 + 1
    W = _window_weights(window, n_x)
    last = len(x.shape) - 1
    if domain == "time" and not np.issubdtype(x.dtype, np.complexfloating):
        X = lfft.rfft(x)
        n_X = X.shape[-1]
        weights = np.ones(n_X)
        if W is not None:
            folded = np.array(W, dtype=np.result_type(W, np.float64))
            folded[1:n_X] += np.flip(W[-n_X + 1:]) if n_X > 1 else 0
            folded[1:n_X] /= 2
            weights = weights * folded[:n_X]
        weights = weights[:m2]
        if m % 2 == 0 and num != n_x:
            weights[m // 2] *= 2 if num < n_x else 0.5
        X = X[..., :m2] * (weights / s_fac).astype(real_part_dtype(X.dtype))
        y = lfft.irfft(X, n=num)
    else:
        X = lfft.fft(x) if domain == "time" else x
        if W is not None:
            X = X * np.asarray(W).astype(real_part_dtype(X.dtype) if np.isrealobj(W) else X.dtype)
        Y = sparse_matmul(X, _bin_map(num, n_x, m, m2).astype(real_part_dtype(X.dtype)), last)
        y = lfft.ifft(Y * np.asarray(1 / s_fac, real_part_dtype(Y.dtype)), n=num)
    y = cast_to(np.moveaxis(y, -1, ax), y_ref, what)
    return (y, ref[1]) if t is not None else y


@linear_in("x")
def hilbert(x, N=None, axis=-1):
    """``scipy.signal.hilbert``: the analytic signal of a real traced signal.

    Parameters
    ----------
    x : array_like or Tracer
        Real.
    N : int, optional
        Number of Fourier components (default ``x.shape[axis]``).
    axis : int
    """
    if not is_tracer(x):
        return _sig.hilbert(x, N=N, axis=axis)
    what = "scipy.signal.hilbert"
    ref = probe(_sig.hilbert, x, N=N, axis=axis)
    ax = axis % len(x.shape)
    N = x.shape[ax] if N is None else int(N)
    h = np.zeros(N, real_part_dtype(ref.dtype))
    h[0] = 1
    h[1:(N + 1) // 2] = 2
    if N % 2 == 0:
        h[N // 2] = 1
    shape = [1] * len(x.shape)
    shape[ax] = N
    spectrum = lfft.fft(x, N, axis=ax) * h.reshape(shape)
    return cast_to(lfft.ifft(spectrum, axis=ax), ref, what)


def _segments(window, nperseg, length):
    """SciPy's window and segment length for ``stft`` (``_triage_segments``)."""
    if isinstance(window, (str, tuple)):
        nperseg = 256 if nperseg is None else nperseg
        nperseg = min(nperseg, length)
        return _sig.get_window(window, nperseg), nperseg
    win = np.asarray(window)
    return win, win.shape[0] if nperseg is None else nperseg


def _detrended(seg, detrend, axis):
    """``stft``'s detrending of the segments (last axis), linear for every linear choice."""
    if not detrend:
        return seg
    if not callable(detrend):
        return _detrend(seg, type=detrend, axis=-1)
    if axis != -1:
        return np.moveaxis(detrend(np.moveaxis(seg, -1, axis)), axis, -1)
    return detrend(seg)


@linear_in("x")
def stft(x, fs=1.0, window="hann_periodic", nperseg=256, noverlap=None, nfft=None,
         detrend=False, return_onesided=True, boundary="zeros", padded=True, axis=-1,
         scaling="spectrum"):
    """``scipy.signal.stft`` of a traced signal: ``(f, t, Zxx)`` with constant ``f`` and ``t``.

    Parameters
    ----------
    x : array_like or Tracer
    fs : float
    window : str, tuple or array_like
    nperseg, noverlap, nfft : int, optional
    detrend : False, "constant", "linear" or callable
        A callable is traced on the segments, so it must be linear.
    return_onesided : bool
    boundary : {"zeros", "even", "odd", "constant", None}
    padded : bool
    axis : int
    scaling : {"spectrum", "psd"}
    """
    if not is_tracer(x):
        return _sig.stft(x, fs=fs, window=window, nperseg=nperseg, noverlap=noverlap, nfft=nfft,
                         detrend=detrend, return_onesided=return_onesided, boundary=boundary,
                         padded=padded, axis=axis, scaling=scaling)
    what = "scipy.signal.stft"
    freqs, times, z_ref = probe(_sig.stft, x, fs=fs, window=window, nperseg=nperseg,
                                noverlap=noverlap, nfft=nfft, detrend=detrend,
                                return_onesided=return_onesided, boundary=boundary,
                                padded=padded, axis=axis, scaling=scaling)
    if 0 in x.shape:
        return freqs, times, zeros(z_ref.shape, z_ref.dtype)
    axis = int(axis)
    if len(x.shape) > 1 and axis != -1:
        x = np.moveaxis(x, axis, -1)
    win, nperseg = _segments(window, None if nperseg is None else int(nperseg), x.shape[-1])
    nfft = nperseg if nfft is None else int(nfft)
    noverlap = nperseg // 2 if noverlap is None else int(noverlap)
    nstep = nperseg - noverlap
    if boundary is not None:
        x = extend(x, nperseg // 2, boundary, len(x.shape) - 1)
    if padded:
        nadd = (-(x.shape[-1] - nperseg) % nstep) % nperseg
        x = np.pad(x, [(0, 0)] * (len(x.shape) - 1) + [(0, nadd)])
    if nperseg == 1 and noverlap == 0:
        seg = x[..., np.newaxis]
    else:
        count = (x.shape[-1] - nperseg) // nstep + 1
        seg = x[..., np.arange(count)[:, None] * nstep + np.arange(nperseg)]
    seg = _detrended(seg, detrend, axis)
    outdtype = z_ref.dtype
    if scaling == "psd":
        scale = 1.0 / (fs * (win * win).sum())
    else:
        scale = 1.0 / win.sum() ** 2
    twosided = np.issubdtype(x.dtype, np.complexfloating) or not return_onesided
    taper = win * np.sqrt(scale)
    if twosided:
        seg = to_dtype(seg, np.result_type(seg.dtype, np.complex64), what)
        result = lfft.fft(seg * taper.astype(seg.dtype), n=nfft)
    else:
        result = lfft.rfft(seg * np.real(taper).astype(real_part_dtype(outdtype)), n=nfft)
    if axis < 0:
        axis -= 1
    result = np.moveaxis(result, -1, axis)
    return freqs, times, cast_to(result, z_ref, what)


def _overlap_add(nperseg, nseg, nstep, dtype):
    """The sparse matrix that adds segment ``(p, i)`` (C order, ``p`` first) at ``i*nstep + p``."""
    p, i = np.meshgrid(np.arange(nperseg), np.arange(nseg), indexing="ij")
    length = nperseg + (nseg - 1) * nstep
    return _sp.csr_array((np.ones(p.size, dtype), ((i * nstep + p).ravel(), (p * nseg + i).ravel())),
                         shape=(length, nperseg * nseg))


@linear_in("Zxx")
def istft(Zxx, fs=1.0, window="hann_periodic", nperseg=None, noverlap=None, nfft=None,
          input_onesided=True, boundary=True, time_axis=-1, freq_axis=-2, scaling="spectrum"):
    """``scipy.signal.istft`` of a traced spectrogram: ``(t, x)`` with constant ``t``.

    Parameters
    ----------
    Zxx : array_like or Tracer, at least 2-d
    fs : float
    window : str, tuple or array_like
    nperseg, noverlap, nfft : int, optional
    input_onesided : bool
    boundary : bool
    time_axis, freq_axis : int
    scaling : {"spectrum", "psd"}
    """
    if not is_tracer(Zxx):
        return _sig.istft(Zxx, fs=fs, window=window, nperseg=nperseg, noverlap=noverlap,
                          nfft=nfft, input_onesided=input_onesided, boundary=boundary,
                          time_axis=time_axis, freq_axis=freq_axis, scaling=scaling)
    what = "scipy.signal.istft"
    times, x_ref = probe(_sig.istft, Zxx, fs=fs, window=window, nperseg=nperseg,
                         noverlap=noverlap, nfft=nfft, input_onesided=input_onesided,
                         boundary=boundary, time_axis=time_axis, freq_axis=freq_axis,
                         scaling=scaling)
    Z = to_dtype(Zxx, np.result_type(Zxx.dtype, np.complex64), what)
    nd = len(Z.shape)
    freq_axis, time_axis = int(freq_axis), int(time_axis)
    nseg = Z.shape[time_axis]
    n_default = 2 * (Z.shape[freq_axis] - 1) if input_onesided else Z.shape[freq_axis]
    nperseg = n_default if nperseg is None else int(nperseg)
    if nfft is None:
        nfft = nperseg if input_onesided and nperseg == n_default + 1 else n_default
    nfft = int(nfft)
    noverlap = nperseg // 2 if noverlap is None else int(noverlap)
    nstep = nperseg - noverlap
    if time_axis != nd - 1 or freq_axis != nd - 2:
        freq_axis, time_axis = freq_axis % nd, time_axis % nd
        outer = [k for k in range(nd) if k not in (freq_axis, time_axis)]
        Z = np.transpose(Z, outer + [freq_axis, time_axis])
    if isinstance(window, (str, tuple)):
        win = _sig.get_window(window, nperseg)
    else:
        win = np.asarray(window)
    inverse = lfft.irfft if input_onesided else lfft.ifft
    xsubs = inverse(Z, axis=-2, n=nfft)[..., :nperseg, :]
    rdtype = real_part_dtype(xsubs.dtype)
    gain = win.sum() if scaling == "spectrum" else np.sqrt(fs * sum(win ** 2))
    weighted = xsubs * (gain * win).astype(rdtype)[:, None]
    flat = np.reshape(weighted, tuple(weighted.shape[:-2]) + (nperseg * nseg,))
    x = sparse_matmul(flat, _overlap_add(nperseg, nseg, nstep, rdtype), len(flat.shape) - 1)
    norm = _overlap_add(nperseg, nseg, nstep, np.float64) @ np.tile(win ** 2, (nseg, 1)).T.ravel()
    if boundary:
        x = x[..., nperseg // 2:-(nperseg // 2)]
        norm = norm[nperseg // 2:-(nperseg // 2)]
    x = x / np.where(norm > 1e-10, norm, 1.0).astype(rdtype)
    if len(x.shape) > 1 and time_axis != nd - 1:
        if freq_axis < time_axis:
            time_axis -= 1
        x = np.moveaxis(x, -1, time_axis)
    return times, cast_to(x, x_ref, what)
