"""``scipy.fft`` on traced arrays: SciPy's signatures and semantics, linop's primitives.

Every function of ``scipy.fft`` is here under its own name and signature. On
arrays each one is SciPy's; on traced arrays

* the Fourier transforms (``fft``, ``ifft``, ``rfft``, ``irfft``, ``hfft``,
  ``ihfft`` and their 2-d and n-d forms) record linop's FFT primitives, with
  SciPy's rules (``s`` without ``axes`` means the last axes, repeated axes are an
  error, float16 computes in float32);
* the cosine and sine transforms (``dct``, ``idct``, ``dst``, ``idst`` and
  ``dctn``, ``idctn``, ``dstn``, ``idstn``; types 1–4, every ``norm`` and
  ``orthogonalize``) record the ``dct`` primitive (:mod:`linop.primitives.dct`),
  whose transpose is exact in every combination. As in SciPy, complex data is
  transformed in its real and imaginary parts, and ``orthogonalize`` is then
  left at its default (``norm == "ortho"``): SciPy does not pass it on there;
* ``fht``/``ifht`` (the fast Hankel transform, linear in the data) are
  ``rfft``, a constant spectral factor and ``irfft``;
* ``fftshift``/``ifftshift`` are rolls.

``overwrite_x`` and ``workers`` are accepted (and checked, as SciPy checks
``workers``) and change nothing of a traced result; ``plan`` must be ``None``.
Functions that take no array (``fftfreq``, ``rfftfreq``, ``next_fast_len``,
``prev_fast_len``, ``fhtoffset``, ``get_workers``, ``set_workers`` and the
backend controls) are SciPy's own.

Calling ``scipy.fft`` itself on a traced array works too: while linop traces a
function, :func:`tracer_backend` is active, a ``scipy.fft`` backend (SciPy's
``uarray`` mechanism, as ``scipy.fft.set_backend``) that takes the calls whose
array is traced and returns ``NotImplemented`` for every other call, which then
runs on SciPy's own backend (or one the user set) unchanged. The backend is set
per thread and only inside a trace; outside a trace ``scipy.fft`` is untouched.
"""
from __future__ import annotations

import inspect
import operator
import os

import numpy as np
import scipy.fft as _sfft
from scipy.fft import (fftfreq, rfftfreq, next_fast_len, prev_fast_len, fhtoffset, get_workers,
                       set_workers, set_backend, skip_backend, set_global_backend,
                       register_backend)

from ..errors import user_location
from ..numpy_api import fft as _npfft
from ..core import is_tracer
from ..numpy_api.util import fresh, normalize_axis, to_dtype, unsupported
from ..primitives.dct import dct as dct_primitive
from ._calls import linear_in

__all__ = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2",
           "fftn", "ifftn", "rfftn", "irfftn", "hfft2", "ihfft2", "hfftn", "ihfftn",
           "dct", "idct", "dst", "idst", "dctn", "idctn", "dstn", "idstn", "fht", "ifht",
           "fftshift", "ifftshift", "fftfreq", "rfftfreq", "next_fast_len", "prev_fast_len",
           "fhtoffset", "get_workers", "set_workers", "set_backend", "skip_backend",
           "set_global_backend", "register_backend", "tracer_backend"]


def _check_common(x, norm, workers, plan, kind):
    """SciPy's checks of ``plan``, ``norm``, ``workers`` and a real input (for ``kind`` r2c).

    None of them changes a traced result; they are made so that a call that SciPy refuses
    is refused here too, with SciPy's exception.
    """
    if plan is not None:
        raise NotImplementedError("Passing a precomputed plan is not yet supported by scipy.fft "
                                  "functions")
    if norm not in (None, "backward", "ortho", "forward"):
        raise ValueError(f'Invalid norm value {norm!r}, should be "backward", "ortho" or '
                         '"forward"')
    if workers is not None:
        workers, cpus = operator.index(workers), os.cpu_count() or 1
        if workers < -cpus:
            raise ValueError(f"workers value out of range; got {workers}, must not be less than "
                             f"{-cpus}")
        if workers == 0:
            raise ValueError("workers must not be zero")
    if kind == "r2c" and np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError("x must be a real sequence")


def _half_precision_real(x, name):
    """SciPy computes float16 data in float32 (the real output of ``irfft``, every real transform)."""
    if x.dtype == np.float16:
        return to_dtype(x, np.float32, f"scipy.fft.{name}")
    return x


def _check_n(n, kind):
    """SciPy's check of a 1-d length ``n`` (c2r transforms check the ``n // 2 + 1`` inputs)."""
    if n is None:
        return
    n = operator.index(n)
    kept = n // 2 + 1 if kind == "c2r" else n
    if kept < 1:
        raise ValueError(f"invalid number of data points ({kept}) specified")


def _one_d(name, lowering, kind, x, n, axis, norm, overwrite_x, workers, plan):
    """A 1-d transform: SciPy on arrays, ``lowering`` (from linop's numpy.fft) on tracers.

    ``kind`` is ``"c2c"``, ``"r2c"`` (real input) or ``"c2r"`` (real output).
    """
    if not is_tracer(x):
        return getattr(_sfft, name)(x, n, axis, norm, overwrite_x, workers, plan=plan)
    _check_common(x, norm, workers, plan, kind)
    _check_n(n, kind)
    if kind == "c2r":
        x = _half_precision_real(x, name)
    return lowering(x, n=n, axis=axis, norm=norm)


def _iterable_of_int(value, what):
    try:
        return [operator.index(v) for v in (value if np.ndim(value) else [value])]
    except TypeError:
        raise ValueError(f"{what} must be a scalar or iterable of integers") from None


def _shape_and_axes(x, s, axes):
    """SciPy's resolution of ``s`` and ``axes`` for the n-d transforms."""
    ndim = x.ndim
    if axes is not None:
        axes = [a + ndim if a < 0 else a for a in _iterable_of_int(axes, "axes")]
        if any(a >= ndim or a < 0 for a in axes):
            raise ValueError("axes exceeds dimensionality of input")
        if len(set(axes)) != len(axes):
            raise ValueError("all axes must be unique")
    if s is not None:
        s = _iterable_of_int(s, "shape")
        if axes and len(axes) != len(s):
            raise ValueError("when given, axes and shape arguments have to be of the same length")
        if axes is None:
            if len(s) > ndim:
                raise ValueError("shape requires more axes than are present")
            axes = list(range(ndim - len(s), ndim))
        s = [x.shape[a] if n == -1 else n for n, a in zip(s, axes)]
    elif axes is None:
        axes = list(range(ndim))
    sizes = s if s is not None else [x.shape[a] for a in axes]
    if any(n < 1 for n in sizes):
        raise ValueError(f"invalid number of data points ({list(sizes)}) specified")
    return s, axes


def _n_d(name, lowering, kind, x, s, axes, norm, overwrite_x, workers, plan):
    """An n-d transform: SciPy on arrays, ``lowering`` with SciPy's ``s``/``axes`` rules on tracers."""
    if not is_tracer(x):
        return getattr(_sfft, name)(x, s, axes, norm, overwrite_x, workers, plan=plan)
    _check_common(x, norm, workers, plan, kind)
    s, axes = _shape_and_axes(x, s, axes)
    if kind != "c2c" and not axes:
        raise ValueError("at least 1 axis must be transformed")
    if kind == "c2r":
        x = _half_precision_real(x, name)
    return lowering(x, s=s, axes=axes, norm=norm)


def fft(x, n=None, axis=-1, norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.fft``, the 1-d discrete Fourier transform; traced ``x`` records linop's FFT primitives."""
    return _one_d("fft", _npfft.fft, "c2c", x, n, axis, norm, overwrite_x, workers, plan)


def ifft(x, n=None, axis=-1, norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.ifft``, the inverse of :func:`fft`; traced ``x`` records linop's FFT primitives."""
    return _one_d("ifft", _npfft.ifft, "c2c", x, n, axis, norm, overwrite_x, workers, plan)


def rfft(x, n=None, axis=-1, norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.rfft``, the 1-d transform of real input (half spectrum); traced ``x`` records linop's FFT primitives."""
    return _one_d("rfft", _npfft.rfft, "r2c", x, n, axis, norm, overwrite_x, workers, plan)


def irfft(x, n=None, axis=-1, norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.irfft``, the inverse of :func:`rfft` (real output); traced ``x`` records linop's FFT primitives."""
    return _one_d("irfft", _npfft.irfft, "c2r", x, n, axis, norm, overwrite_x, workers, plan)


def hfft(x, n=None, axis=-1, norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.hfft``, the transform of a Hermitian-symmetric signal (real output); traced ``x`` records linop's FFT primitives."""
    return _one_d("hfft", _npfft.hfft, "c2r", x, n, axis, norm, overwrite_x, workers, plan)


def ihfft(x, n=None, axis=-1, norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.ihfft``, the inverse of :func:`hfft`; traced ``x`` records linop's FFT primitives."""
    return _one_d("ihfft", _npfft.ihfft, "r2c", x, n, axis, norm, overwrite_x, workers, plan)


def fft2(x, s=None, axes=(-2, -1), norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.fft2``, the 2-d transform; traced ``x`` records linop's FFT primitives."""
    return _n_d("fft2", _npfft.fftn, "c2c", x, s, axes, norm, overwrite_x, workers, plan)


def ifft2(x, s=None, axes=(-2, -1), norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.ifft2``, the inverse of :func:`fft2`; traced ``x`` records linop's FFT primitives."""
    return _n_d("ifft2", _npfft.ifftn, "c2c", x, s, axes, norm, overwrite_x, workers, plan)


def rfft2(x, s=None, axes=(-2, -1), norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.rfft2``, the 2-d transform of real input; traced ``x`` records linop's FFT primitives."""
    return _n_d("rfft2", _npfft.rfftn, "r2c", x, s, axes, norm, overwrite_x, workers, plan)


def irfft2(x, s=None, axes=(-2, -1), norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.irfft2``, the inverse of :func:`rfft2`; traced ``x`` records linop's FFT primitives."""
    return _n_d("irfft2", _npfft.irfftn, "c2r", x, s, axes, norm, overwrite_x, workers, plan)


def fftn(x, s=None, axes=None, norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.fftn``, the n-d transform; traced ``x`` records linop's FFT primitives."""
    return _n_d("fftn", _npfft.fftn, "c2c", x, s, axes, norm, overwrite_x, workers, plan)


def ifftn(x, s=None, axes=None, norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.ifftn``, the inverse of :func:`fftn`; traced ``x`` records linop's FFT primitives."""
    return _n_d("ifftn", _npfft.ifftn, "c2c", x, s, axes, norm, overwrite_x, workers, plan)


def rfftn(x, s=None, axes=None, norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.rfftn``, the n-d transform of real input; traced ``x`` records linop's FFT primitives."""
    return _n_d("rfftn", _npfft.rfftn, "r2c", x, s, axes, norm, overwrite_x, workers, plan)


def irfftn(x, s=None, axes=None, norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.irfftn``, the inverse of :func:`rfftn`; traced ``x`` records linop's FFT primitives."""
    return _n_d("irfftn", _npfft.irfftn, "c2r", x, s, axes, norm, overwrite_x, workers, plan)


def hfft2(x, s=None, axes=(-2, -1), norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.hfft2``, the 2-d transform of a Hermitian-symmetric signal (real output); traced ``x`` records linop's FFT primitives."""
    return _n_d("hfft2", _npfft.hfftn, "c2r", x, s, axes, norm, overwrite_x, workers, plan)


def ihfft2(x, s=None, axes=(-2, -1), norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.ihfft2``, the inverse of :func:`hfft2`; traced ``x`` records linop's FFT primitives."""
    return _n_d("ihfft2", _npfft.ihfftn, "r2c", x, s, axes, norm, overwrite_x, workers, plan)


def hfftn(x, s=None, axes=None, norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.hfftn``, the n-d transform of a Hermitian-symmetric signal (real output); traced ``x`` records linop's FFT primitives."""
    return _n_d("hfftn", _npfft.hfftn, "c2r", x, s, axes, norm, overwrite_x, workers, plan)


def ihfftn(x, s=None, axes=None, norm=None, overwrite_x=False, workers=None, *, plan=None):
    """``scipy.fft.ihfftn``, the inverse of :func:`hfftn`; traced ``x`` records linop's FFT primitives."""
    return _n_d("ihfftn", _npfft.ihfftn, "r2c", x, s, axes, norm, overwrite_x, workers, plan)


# -- cosine and sine transforms ------------------------------------------------------------

_REAL_TRANSFORMS = {"dct": ("dct", False), "idct": ("dct", True), "dst": ("dst", False),
                    "idst": ("dst", True)}


def _transform_type(type, kind):
    """SciPy's DCT/DST ``type`` (an integer 1–4): TypeError for non-integers, ValueError else."""
    type = operator.index(type)
    if type not in (1, 2, 3, 4):
        raise ValueError(f"invalid {kind.upper()} type {type}: scipy.fft has {kind.upper()} types "
                         "1, 2, 3 and 4")
    return type


def _orthogonalize(orthogonalize, norm, x) -> bool:
    """The orthogonalization SciPy applies: its default ``norm == "ortho"`` unless asked, and
    always for complex data, whose real and imaginary parts SciPy transforms without passing
    ``orthogonalize`` on."""
    if orthogonalize is None or np.issubdtype(x.dtype, np.complexfloating):
        return norm == "ortho"
    return bool(orthogonalize)


def _real_transform(name, x, axes, type, norm, orthogonalize):
    """The ``dct`` primitive for SciPy's ``name`` (``dct``... ``idstn``) of ``x`` over ``axes``."""
    kind, inverse = _REAL_TRANSFORMS[name.rstrip("n")]
    type = _transform_type(type, kind)
    if kind == "dct" and type == 1 and any(x.shape[a] < 2 for a in axes):
        raise RuntimeError(f"scipy.fft.{name} at {user_location()}: a type-1 DCT needs at least 2 "
                           f"points along each transformed axis, got shape {x.shape} (SciPy "
                           "raises 'zero-length FFT requested'). Use another type or pad the data.")
    norm = "backward" if norm is None else norm
    return dct_primitive(x, axes, kind, type, norm, _orthogonalize(orthogonalize, norm, x), inverse)


def _real_1d(name, x, type, n, axis, norm, overwrite_x, workers, orthogonalize):
    """A 1-d DCT/DST: SciPy on arrays, the ``dct`` primitive (after cropping/padding) on tracers."""
    if not is_tracer(x):
        return getattr(_sfft, name)(x, type, n, axis, norm, overwrite_x, workers,
                                    orthogonalize=orthogonalize)
    x = _half_precision_real(x, name)
    _check_common(x, norm, workers, None, "r2r")
    axis = normalize_axis(axis, x.ndim)
    n = x.shape[axis] if n is None else operator.index(n)
    _check_n(n, "r2r")
    return _real_transform(name, _npfft.crop_or_pad(x, axis, n), (axis,), type, norm,
                           orthogonalize)


def _real_nd(name, x, type, s, axes, norm, overwrite_x, workers, orthogonalize):
    """An n-d DCT/DST: SciPy on arrays, one ``dct`` primitive over ``axes`` on tracers."""
    if not is_tracer(x):
        return getattr(_sfft, name)(x, type, s, axes, norm, overwrite_x, workers,
                                    orthogonalize=orthogonalize)
    data = _half_precision_real(x, name)
    s, axes = _shape_and_axes(data, s, axes)
    if not axes:
        return fresh(x)  # SciPy hands back its input, in its own dtype
    for n, axis in zip(s or (), axes):
        data = _npfft.crop_or_pad(data, axis, n)
    _check_common(data, norm, workers, None, "r2r")
    return _real_transform(name, data, tuple(axes), type, norm, orthogonalize)


def dct(x, type=2, n=None, axis=-1, norm=None, overwrite_x=False, workers=None,
        orthogonalize=None):
    """``scipy.fft.dct``, the discrete cosine transform of types 1–4; traced ``x`` records linop's ``dct`` primitive."""
    return _real_1d("dct", x, type, n, axis, norm, overwrite_x, workers, orthogonalize)


def idct(x, type=2, n=None, axis=-1, norm=None, overwrite_x=False, workers=None,
         orthogonalize=None):
    """``scipy.fft.idct``, the inverse of :func:`dct`; traced ``x`` records linop's ``dct`` primitive."""
    return _real_1d("idct", x, type, n, axis, norm, overwrite_x, workers, orthogonalize)


def dst(x, type=2, n=None, axis=-1, norm=None, overwrite_x=False, workers=None,
        orthogonalize=None):
    """``scipy.fft.dst``, the discrete sine transform of types 1–4; traced ``x`` records linop's ``dct`` primitive."""
    return _real_1d("dst", x, type, n, axis, norm, overwrite_x, workers, orthogonalize)


def idst(x, type=2, n=None, axis=-1, norm=None, overwrite_x=False, workers=None,
         orthogonalize=None):
    """``scipy.fft.idst``, the inverse of :func:`dst`; traced ``x`` records linop's ``dct`` primitive."""
    return _real_1d("idst", x, type, n, axis, norm, overwrite_x, workers, orthogonalize)


def dctn(x, type=2, s=None, axes=None, norm=None, overwrite_x=False, workers=None, *,
         orthogonalize=None):
    """``scipy.fft.dctn``, the n-d discrete cosine transform; traced ``x`` records one ``dct`` primitive."""
    return _real_nd("dctn", x, type, s, axes, norm, overwrite_x, workers, orthogonalize)


def idctn(x, type=2, s=None, axes=None, norm=None, overwrite_x=False, workers=None,
          orthogonalize=None):
    """``scipy.fft.idctn``, the inverse of :func:`dctn`; traced ``x`` records one ``dct`` primitive."""
    return _real_nd("idctn", x, type, s, axes, norm, overwrite_x, workers, orthogonalize)


def dstn(x, type=2, s=None, axes=None, norm=None, overwrite_x=False, workers=None,
         orthogonalize=None):
    """``scipy.fft.dstn``, the n-d discrete sine transform; traced ``x`` records one ``dct`` primitive."""
    return _real_nd("dstn", x, type, s, axes, norm, overwrite_x, workers, orthogonalize)


def idstn(x, type=2, s=None, axes=None, norm=None, overwrite_x=False, workers=None,
          orthogonalize=None):
    """``scipy.fft.idstn``, the inverse of :func:`dstn`; traced ``x`` records one ``dct`` primitive."""
    return _real_nd("idstn", x, type, s, axes, norm, overwrite_x, workers, orthogonalize)


# -- fast Hankel transform -------------------------------------------------------------------

def _power_law(n, dln, exponent, offset=0.0):
    """``exp(exponent * ((j - (n-1)/2) * dln + offset))`` for ``j = 0 .. n-1`` (float64)."""
    return np.exp(exponent * ((np.arange(n, dtype=np.float64) - (n - 1) / 2) * dln + offset))


def _bias_weights(n, dln, offset, bias, inverse):
    """The power-law weights FFTLog applies before and after its convolution (``bias``)."""
    sign = 1 if inverse else -1
    return (_power_law(n, dln, sign * bias, offset if inverse else 0.0),
            _power_law(n, dln, sign * bias, 0.0 if inverse else offset))


def _spectral_factor(n, dln, mu, offset, bias, inverse):
    """What FFTLog multiplies the ``rfft`` of the biased data by: SciPy's coefficients ``u``
    (``1 / conj(u)`` for the inverse), read off SciPy's public ``fht``/``ifht`` of a unit
    impulse, which is that factor's ``irfft`` reversed once the bias weights are undone."""
    before, after = _bias_weights(n, dln, offset, bias, inverse)
    impulse = np.zeros(n)
    impulse[0] = 1 / before[0]
    response = (_sfft.ifht if inverse else _sfft.fht)(impulse, dln, mu, offset=offset, bias=bias)
    return _sfft.rfft((response / after)[::-1])


def _hankel(a, dln, mu, offset, bias, inverse):
    """FFTLog on a traced ``a`` along its last axis: a convolution in log space, applied
    with ``rfft``, SciPy's spectral factor and ``irfft``, reversed, between the power-law
    weights of ``bias``."""
    n = a.shape[-1]
    before, after = _bias_weights(n, dln, offset, bias, inverse)
    if bias != 0:
        a = a * before
    spectrum = _npfft.rfft(a) * _spectral_factor(n, dln, mu, offset, bias, inverse)
    out = _npfft.irfft(to_dtype(spectrum, np.result_type(a.dtype, 1j), "scipy.fft.fht"), n)[..., ::-1]
    if bias != 0:
        out = out * after
    return out


@linear_in("a")
def fht(a, dln, mu, offset=0.0, bias=0.0):
    """``scipy.fft.fht``, the fast Hankel transform along the last axis; linear in ``a`` (traced: ``rfft``, a constant factor, ``irfft``)."""
    if not is_tracer(a):
        return _sfft.fht(a, dln, mu, offset, bias)
    return _hankel(a, dln, mu, offset, bias, inverse=False)


@linear_in("A")
def ifht(A, dln, mu, offset=0.0, bias=0.0):
    """``scipy.fft.ifht``, the inverse of :func:`fht`; linear in ``A``."""
    if not is_tracer(A):
        return _sfft.ifht(A, dln, mu, offset, bias)
    return _hankel(A, dln, mu, offset, bias, inverse=True)


# -- shifts ----------------------------------------------------------------------------------

def fftshift(x, axes=None):
    """``scipy.fft.fftshift``: the zero frequency moved to the centre (a roll on traced ``x``)."""
    return _npfft.fftshift(x, axes) if is_tracer(x) else _sfft.fftshift(x, axes)


def ifftshift(x, axes=None):
    """``scipy.fft.ifftshift``, the inverse of :func:`fftshift` (a roll on traced ``x``)."""
    return _npfft.ifftshift(x, axes) if is_tracer(x) else _sfft.ifftshift(x, axes)


# -- the scipy.fft backend -------------------------------------------------------------------

#: What the backend runs for each of scipy.fft's dispatched functions.
_TRACED = {f.__name__: f for f in (fft, ifft, rfft, irfft, hfft, ihfft, fft2, ifft2, rfft2,
                                   irfft2, fftn, ifftn, rfftn, irfftn, hfft2, ihfft2, hfftn,
                                   ihfftn, dct, idct, dst, idst, dctn, idctn, dstn, idstn, fht,
                                   ifht)}
#: The name of the array argument of scipy.fft's functions, when passed by keyword.
_ARRAY_KEYWORDS = ("x", "a", "A")


class _TracerBackend:
    """A ``scipy.fft`` backend for traced arrays; every other call is left to SciPy."""

    __ua_domain__ = "numpy.scipy.fft"

    @staticmethod
    def __ua_function__(method, args, kwargs):
        x = args[0] if args else next((kwargs[k] for k in _ARRAY_KEYWORDS if k in kwargs), None)
        if not is_tracer(x):
            return NotImplemented
        name = method.__name__
        traced = _TRACED.get(name)
        if traced is None:  # a function of a newer SciPy than linop knows
            raise unsupported(f"scipy.fft.{name}", "linop traces these scipy.fft functions: "
                              f"{', '.join(sorted(_TRACED))}. If the map is linear, register it "
                              "with @linop.custom_linear together with its transpose.")
        return traced(*args, **kwargs)


def tracer_backend():
    """A context manager that routes ``scipy.fft`` calls on traced arrays to linop.

    :func:`linop.trace` enters it around the traced function; calls on
    anything but a traced array go on to SciPy's backends unchanged.
    """
    return _sfft.set_backend(_TracerBackend)


# -- the parameters, described once ----------------------------------------------------------
#: ``name: (type, description)`` of every parameter of this module's transforms.
_PARAMETERS = {
    "x": ("array_like or Tracer", "The data, traced or not."),
    "a": ("array_like or Tracer", "The periodic, logarithmically spaced data (last axis), traced or not."),
    "A": ("array_like or Tracer", "The transformed data (last axis), traced or not."),
    "type": ("{1, 2, 3, 4}, optional", "The transform's type."),
    "n": ("int, optional", "Length of the transformed axis of the output: the input is cropped or "
                           "padded with zeros to it, as SciPy does."),
    "s": ("sequence of ints, optional", "Lengths of the transformed axes of the output (cropping "
                                        "or zero padding); without ``axes``, the last ``len(s)`` axes."),
    "axis": ("int, optional", "The transformed axis."),
    "axes": ("int or sequence of ints, optional", "The transformed (or shifted) axes; SciPy's "
                                                  "default for each function."),
    "norm": ('{"backward", "ortho", "forward"}, optional', "Normalisation, as in SciPy "
                                                           "(``None`` is ``\"backward\"``)."),
    "overwrite_x": ("bool, optional", "Accepted; a traced result does not depend on it."),
    "workers": ("int, optional", "Checked as SciPy checks it; a traced result does not depend on it."),
    "orthogonalize": ("bool, optional", "SciPy's orthogonalisation of types 1 and 4 (default: "
                                        "when ``norm=\"ortho\"``)."),
    "plan": ("None", "Precomputed plans are not supported, as in SciPy."),
    "dln": ("float", "The uniform logarithmic spacing of the data."),
    "mu": ("float", "The order of the Hankel transform."),
    "offset": ("float, optional", "The offset of the uniform logarithmic spacing of the output."),
    "bias": ("float, optional", "The exponent of the power-law bias."),
}


def _document_parameters(function):
    """Append numpydoc Parameters and Returns sections, from :data:`_PARAMETERS`, to ``function``."""
    lines = ["", "", "Parameters", "----------"]
    for name in inspect.signature(function).parameters:
        kind, text = _PARAMETERS[name]
        lines += [f"{name} : {kind}", f"    {text}"]
    lines += ["", "Returns", "-------", "ndarray or Tracer",
              "    SciPy's result for array data; for traced data, a traced array of SciPy's "
              "shape and dtype."]
    function.__doc__ = function.__doc__.rstrip() + "\n".join(lines) + "\n"


for _name in __all__:  # this module's transforms and shifts (not SciPy's re-exported helpers)
    if getattr(globals()[_name], "__module__", None) == __name__ and _name != "tracer_backend":
        _document_parameters(globals()[_name])
del _name
