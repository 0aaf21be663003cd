"""``scipy.fft`` on traced arrays: SciPy's signatures, linop's FFT primitives.

The transforms that ``numpy.fft`` also has (``fft``, ``ifft``, ``rfft``,
``irfft``, ``hfft``, ``ihfft`` and their 2-d and n-d forms) are offered here
with SciPy's signatures (``axis``/``axes``, ``n``/``s``, ``norm``,
``overwrite_x``, ``workers``, ``plan``) and SciPy's rules (``s`` without
``axes`` means the last axes, repeated axes are an error). On arrays they
call SciPy; on traced arrays they record linop's FFT primitives.

Calling ``scipy.fft`` itself on a traced array works too: while linop traces a
function, :func:`tracer_backend` is active, a ``scipy.fft`` backend (SciPy's
``uarray`` mechanism, as ``scipy.fft.set_backend``) that takes the calls whose
array is traced and returns ``NotImplemented`` for every other call, which then
runs on SciPy's own backend unchanged. The backend is set per thread and only
inside a trace; outside a trace ``scipy.fft`` is untouched. SciPy transforms
without a NumPy counterpart (``dct``, ``dst``, ``hfftn``, ``fht`` ...) raise
:class:`~linop.errors.UnsupportedFunctionError` on traced arrays.
"""
from __future__ import annotations

import operator
import os

import numpy as np
import scipy.fft as _sfft

from ..numpy_api import fft as _npfft
from ..core import is_tracer
from ..numpy_api.util import to_dtype, unsupported

__all__ = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2",
           "fftn", "ifftn", "rfftn", "irfftn", "tracer_backend"]


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


def _half_precision_real(x, lowering):
    """SciPy computes the real output of ``irfft``/``hfft`` of float16 data in float32."""
    if x.dtype == np.float16:
        return to_dtype(x, np.float32, f"scipy.fft.{lowering.__name__}")
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
        x = _half_precision_real(x, lowering)
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
        if any(n < 1 for n in s):
            raise ValueError(f"invalid number of data points ({s}) specified")
    elif axes is None:
        axes = list(range(ndim))
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
        x = _half_precision_real(x, lowering)
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


_TRACED = {f.__name__: f for f in (fft, ifft, rfft, irfft, hfft, ihfft, fft2, ifft2, rfft2,
                                   irfft2, fftn, ifftn, rfftn, irfftn)}


class _TracerBackend:
    """A ``scipy.fft`` backend for traced arrays; every other call is left to SciPy."""

    __ua_domain__ = "numpy.scipy.fft"

    @staticmethod
    def __ua_function__(method, args, kwargs):
        x = args[0] if args else kwargs.get("x")
        if not is_tracer(x):
            return NotImplemented
        name = method.__name__
        traced = _TRACED.get(name)
        if traced is None:
            raise unsupported(f"scipy.fft.{name}", "linop traces the scipy.fft transforms that "
                              f"numpy.fft also has ({', '.join(sorted(_TRACED))}). If the map is "
                              "linear, register it with @linop.custom_linear together with its "
                              "transpose.")
        return traced(*args, **kwargs)


def tracer_backend():
    """A context manager that routes ``scipy.fft`` calls on traced arrays to linop.

    :func:`linop.trace` enters it around the traced function; calls on
    anything but a traced array go on to SciPy's backends unchanged.
    """
    return _sfft.set_backend(_TracerBackend)
