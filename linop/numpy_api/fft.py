"""``numpy.fft`` on traced arrays.

Every transform lowers to the three FFT primitives of
:mod:`linop.primitives.fft`, with NumPy's cropping and zero padding (``n``,
``s``) as ``slice``/``pad`` in front. The n-dimensional transforms over
distinct axes are one primitive each (``rfft2`` stays one ``rfft`` call);
repeated axes, which NumPy transforms repeatedly, are lowered one axis at a
time in NumPy's order. ``fftshift``/``ifftshift`` are rolls. :func:`hfftn` and
:func:`ihfftn`, the n-dimensional Hermitian transforms that NumPy lacks, and
:func:`crop_or_pad` (the ``n`` argument) serve :mod:`linop.scipy.fft`.
"""
from __future__ import annotations

import warnings

import operator

import numpy as np

from ..primitives import complex as C, fft as F, slice as SL
from ..core import is_tracer
from .registry import implements
from .util import fresh, normalize_axis, to_dtype, unsupported
from .stencils import roll

_NORMS = ("backward", "ortho", "forward")


# -- argument handling ------------------------------------------------------------------

def _norm(norm) -> str:
    if norm is None:
        return "backward"
    if norm not in _NORMS:
        raise ValueError(f'Invalid norm value {norm}; should be "backward","ortho" or "forward".')
    return norm


def _check_n(n) -> int:
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
    return n


def _check_input(a, out, what):
    if out is not None:
        raise unsupported(f"{what}(..., out=...)", "Assign the returned array instead.")
    if not is_tracer(a):
        raise unsupported(f"{what} on a non-traced array mixed with traced arguments")


def _complex(a, what):
    """``a`` as NumPy's complex result dtype (real inputs are promoted)."""
    return to_dtype(a, np.result_type(a.dtype, 1j), what)


def _real_input(a, what):
    """``a`` for a real-input transform; complex input is a TypeError, as in NumPy."""
    if np.issubdtype(a.dtype, np.complexfloating):
        raise TypeError(f"{what}: ufunc 'rfft' not supported for the input types, and the inputs "
                        "could not be safely coerced to any supported types according to the "
                        "casting rule ''safe'' (the input is complex; pass x.real explicitly)")
    return to_dtype(a, np.result_type(a.dtype, np.float32), what)


def _real_output_dtype(a) -> np.dtype:
    """NumPy's dtype of a real-output transform of ``a`` (float16 stays float16)."""
    return np.result_type(C.real_dtype(a.dtype), 1.0)


def crop_or_pad(x, axis: int, n: int):
    """Crop or zero-pad ``x`` along ``axis`` to length ``n`` (NumPy's ``n`` argument)."""
    d = x.shape[axis]
    if n < d:
        stops = tuple(n if i == axis else s for i, s in enumerate(x.shape))
        return SL.slice_(x, (0,) * x.ndim, stops, (1,) * x.ndim)
    if n > d:
        hi = tuple(n - d if i == axis else 0 for i in range(x.ndim))
        return SL.pad(x, (0,) * x.ndim, hi)
    return x


def _cook_nd(a, s, axes, invreal=False):
    """NumPy's resolution of ``s`` and ``axes`` (including its deprecation warnings)."""
    shape = a.shape
    if s is None:
        shapeless = True
        s = list(shape) if axes is None else [shape[ax] for ax in axes]
    else:
        shapeless = False
    s = list(s)
    if axes is None:
        if not shapeless:
            warnings.warn("`axes` should not be `None` if `s` is not `None` (Deprecated in NumPy "
                          "2.0). In a future version of NumPy, this will raise an error and `s[i]` "
                          "will correspond to the size along the transformed axis specified by "
                          "`axes[i]`. To retain current behaviour, pass a sequence [0, ..., k-1] "
                          "to `axes` for an array of dimension k.", DeprecationWarning, stacklevel=4)
        axes = list(range(-len(s), 0))
    axes = list(axes)
    if len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    axes = [normalize_axis(ax, a.ndim) for ax in axes]
    if invreal and shapeless:
        s[-1] = (shape[axes[-1]] - 1) * 2
    if None in s:
        warnings.warn("Passing an array containing `None` values to `s` is deprecated in NumPy "
                      "2.0 and will raise an error in a future version of NumPy.",
                      DeprecationWarning, stacklevel=4)
        default = [shape[ax] for ax in axes]
        if invreal:
            default[-1] = (shape[axes[-1]] - 1) * 2
        s = [d if n is None else n for n, d in zip(s, default)]
    s = [shape[ax] if n == -1 else operator.index(n) for n, ax in zip(s, axes)]
    return s, axes


# -- one-dimensional transforms ---------------------------------------------------------

def _c2c(a, n, axis, norm, sign, what):
    x = _complex(a, what)
    axis = normalize_axis(axis, x.ndim)
    n = _check_n(x.shape[axis] if n is None else n)
    return F.fft(crop_or_pad(x, axis, n), (axis,), sign, _norm(norm))


def _r2c(a, n, axis, norm, sign, what):
    x = _real_input(a, what)
    axis = normalize_axis(axis, x.ndim)
    n = _check_n(x.shape[axis] if n is None else n)
    return F.rfft(crop_or_pad(x, axis, n), (axis,), sign, _norm(norm))


def _c2r(a, n, axis, norm, sign, what):
    out_dtype = _real_output_dtype(a)
    x = _complex(a, what)
    axis = normalize_axis(axis, x.ndim)
    n = _check_n((x.shape[axis] - 1) * 2 if n is None else n)
    y = F.irfft(crop_or_pad(x, axis, n // 2 + 1), (axis,), n, sign, _norm(norm))
    return C.convert(y, out_dtype)


@implements(np.fft.fft)
def fft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.fft``."""
    _check_input(a, out, "np.fft.fft")
    return _c2c(a, n, axis, norm, -1, "np.fft.fft")


@implements(np.fft.ifft)
def ifft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.ifft``."""
    _check_input(a, out, "np.fft.ifft")
    return _c2c(a, n, axis, norm, 1, "np.fft.ifft")


@implements(np.fft.rfft)
def rfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.rfft`` (real input)."""
    _check_input(a, out, "np.fft.rfft")
    return _r2c(a, n, axis, norm, -1, "np.fft.rfft")


@implements(np.fft.irfft)
def irfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.irfft``: real-linear (the imaginary parts of DC and Nyquist are ignored)."""
    _check_input(a, out, "np.fft.irfft")
    return _c2r(a, n, axis, norm, 1, "np.fft.irfft")


@implements(np.fft.hfft)
def hfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.hfft``: real-linear, like ``irfft``."""
    _check_input(a, out, "np.fft.hfft")
    return _c2r(a, n, axis, norm, -1, "np.fft.hfft")


@implements(np.fft.ihfft)
def ihfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.ihfft`` (real input)."""
    _check_input(a, out, "np.fft.ihfft")
    return _r2c(a, n, axis, norm, 1, "np.fft.ihfft")


# -- n-dimensional transforms -----------------------------------------------------------

def _c2c_nd(a, s, axes, norm, sign, what):
    s, axes = _cook_nd(a, s, axes)
    if not axes:
        return fresh(a)
    norm = _norm(norm)
    if len(set(axes)) < len(axes):
        for n, ax in reversed(list(zip(s, axes))):
            a = _c2c(a, n, ax, norm, sign, what)
        return a
    x = _complex(a, what)
    for n, ax in zip(s, axes):
        x = crop_or_pad(x, ax, _check_n(n))
    return F.fft(x, tuple(sorted(axes)), sign, norm)


def _r2c_nd(a, s, axes, norm, what, sign=-1):
    s, axes = _cook_nd(a, s, axes)
    if not axes:
        raise IndexError("list index out of range")
    norm = _norm(norm)
    if len(set(axes)) < len(axes):
        a = _r2c(a, s[-1], axes[-1], norm, sign, what)
        for n, ax in reversed(list(zip(s[:-1], axes[:-1]))):
            a = _c2c(a, n, ax, norm, sign, what)
        return a
    x = _real_input(a, what)
    for n, ax in zip(s, axes):
        x = crop_or_pad(x, ax, _check_n(n))
    return F.rfft(x, tuple(axes), sign, norm)


def _c2r_nd(a, s, axes, norm, what, sign=1):
    s, axes = _cook_nd(a, s, axes, invreal=True)
    if not axes:
        raise IndexError("list index out of range")
    norm = _norm(norm)
    if len(set(axes)) < len(axes):
        for n, ax in zip(s[:-1], axes[:-1]):
            a = _c2c(a, n, ax, norm, sign, what)
        return _c2r(a, s[-1], axes[-1], norm, sign, what)
    x = _complex(a, what)
    # NumPy runs the complex transforms of the leading axes first: their complex result
    # (complex64 for float16 data) sets the output dtype; one axis is a plain irfft.
    out_dtype = _real_output_dtype(a) if len(axes) == 1 else C.real_dtype(x.dtype)
    for n, ax in zip(s[:-1], axes[:-1]):
        x = crop_or_pad(x, ax, _check_n(n))
    n = _check_n(s[-1])
    x = crop_or_pad(x, axes[-1], n // 2 + 1)
    return C.convert(F.irfft(x, tuple(axes), n, sign, norm), out_dtype)


@implements(np.fft.fftn)
def fftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.fftn``."""
    _check_input(a, out, "np.fft.fftn")
    return _c2c_nd(a, s, axes, norm, -1, "np.fft.fftn")


@implements(np.fft.ifftn)
def ifftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.ifftn``."""
    _check_input(a, out, "np.fft.ifftn")
    return _c2c_nd(a, s, axes, norm, 1, "np.fft.ifftn")


@implements(np.fft.fft2)
def fft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.fft2``."""
    _check_input(a, out, "np.fft.fft2")
    return _c2c_nd(a, s, axes, norm, -1, "np.fft.fft2")


@implements(np.fft.ifft2)
def ifft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.ifft2``."""
    _check_input(a, out, "np.fft.ifft2")
    return _c2c_nd(a, s, axes, norm, 1, "np.fft.ifft2")


@implements(np.fft.rfftn)
def rfftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.rfftn`` (real input)."""
    _check_input(a, out, "np.fft.rfftn")
    return _r2c_nd(a, s, axes, norm, "np.fft.rfftn")


@implements(np.fft.rfft2)
def rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.rfft2`` (real input)."""
    _check_input(a, out, "np.fft.rfft2")
    return _r2c_nd(a, s, axes, norm, "np.fft.rfft2")


@implements(np.fft.irfftn)
def irfftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.irfftn``: real-linear."""
    _check_input(a, out, "np.fft.irfftn")
    return _c2r_nd(a, s, axes, norm, "np.fft.irfftn")


@implements(np.fft.irfft2)
def irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.irfft2``: real-linear."""
    _check_input(a, out, "np.fft.irfft2")
    return _c2r_nd(a, s, axes, norm, "np.fft.irfft2")


def hfftn(a, s=None, axes=None, norm=None):
    """The n-d ``hfft`` that NumPy lacks (SciPy's ``hfftn``): ``irfftn`` with the forward sign.

    ``s`` and ``axes`` follow :func:`irfftn`; real-linear, like it.
    """
    return _c2r_nd(a, s, axes, norm, "scipy.fft.hfftn", sign=-1)


def ihfftn(a, s=None, axes=None, norm=None):
    """The n-d ``ihfft`` that NumPy lacks (SciPy's ``ihfftn``): ``rfftn`` with the inverse sign."""
    return _r2c_nd(a, s, axes, norm, "scipy.fft.ihfftn", sign=1)


# -- shifts ---------------------------------------------------------------------------

def _shift(x, axes, sign):
    if axes is None:
        axes = tuple(range(x.ndim))
        shifts = [sign * (d // 2) for d in x.shape]
    elif np.ndim(axes) == 0:
        shifts = sign * (x.shape[axes] // 2)
    else:
        shifts = [sign * (x.shape[ax] // 2) for ax in axes]
    return roll(x, shifts, axes)


@implements(np.fft.fftshift)
def fftshift(x, axes=None):
    """``np.fft.fftshift``: a roll by half of each axis."""
    return _shift(x, axes, 1)


@implements(np.fft.ifftshift)
def ifftshift(x, axes=None):
    """``np.fft.ifftshift``: the inverse roll."""
    return _shift(x, axes, -1)
