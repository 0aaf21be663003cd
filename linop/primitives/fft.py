"""Fast Fourier transforms: complex ``fft``, real-to-half-spectrum ``rfft``, and back ``irfft``.

Three primitives cover all of ``numpy.fft`` (cropping and zero padding are
``slice``/``pad`` in front of them). Each has a ``sign`` (the sign of the
exponent, ``-1`` for the forward direction) and NumPy's ``norm``, which scales
the forward direction (``sign=-1``) or the inverse one (``sign=+1``):

* ``fft[axes, sign, norm]``: ``fftn`` (``sign=-1``) or ``ifftn`` (``sign=+1``).
* ``rfft[axes, sign, norm]``: real input, the half spectrum along ``axes[-1]``;
  ``rfftn`` (``sign=-1``) or the n-dimensional ``ihfft`` (``sign=+1``).
* ``irfft[axes, n, sign, norm]``: a half spectrum to a real output of length
  ``n`` along ``axes[-1]``; ``irfftn`` (``sign=+1``) or the n-dimensional
  ``hfft`` (``sign=-1``).

Transposes (JAX's convention, the real pairing ``Re(sum(y * t))``):

* The DFT matrix is symmetric, so ``fft`` is its own transpose.
* ``rfft``'s transpose is ``irfft`` of the same sign and norm applied to the
  cotangent with the bins that ``irfft`` counts twice (all but DC and, for even
  ``n``, Nyquist) halved; ``irfft``'s transpose is ``rfft`` followed by doubling
  those bins. :func:`linop.passes.fold_chains` merges the weights into an
  adjacent constant multiplication when there is one, so that the transpose of a Fourier-domain filter
  ``irfft(rfft(x) * K)`` is again one ``rfft``, one ``mul`` and one ``irfft``.

The implementations call ``scipy.fft`` (pocketfft), which has the n-dimensional
Hermitian transforms natively and keeps single precision. pocketfft splits the 1-d
transforms of each axis among its ``workers`` threads and computes each one the same way
whichever thread runs it, so the fused executor may run a large transform on several
(``threaded_impl``): results are identical. Batched with the batch axis last
(``batch_last``, for ``matmat`` on C-ordered columns) the transforms run over the same
axes, strided: pocketfft copies groups of them into contiguous buffers, and that costs
about what transforms over contiguous axes cost (and gives the same values), less than
moving the batch axis to the front and back. A complex transform may write its result into
its input (``overwrite_impl``, :func:`transform_in_place`), with the same values: both
executors let it when the input is a buffer of their own that nothing reads afterwards.
(scipy's real transforms always allocate their result.)
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft as sfft

from ..ir import ShapeDtype
from .arithmetic import mul
from ..core import Primitive
from .complex import real_dtype

__all__ = ["fft", "rfft", "irfft", "fft_p", "rfft_p", "irfft_p", "half_spectrum_weights",
           "transform_in_place"]


def complex_dtype(dtype) -> np.dtype:
    """The complex dtype of the same precision as ``dtype``."""
    return np.result_type(np.dtype(dtype), np.complex64)


def half_spectrum_weights(n: int, dtype) -> np.ndarray:
    """How often each bin of a half spectrum of a length-``n`` signal counts in the full one.

    ``1`` for DC and, for even ``n``, the Nyquist bin; ``2`` for the others.
    """
    c = np.full(n // 2 + 1, 2, dtype)
    c[0] = 1
    if n % 2 == 0:
        c[-1] = 1
    return c


def _along(weights: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """``weights`` shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    return weights.reshape((-1,) + (1,) * (ndim - axis - 1))


def _check(axes, sign, norm):
    if sign not in (-1, 1):
        raise ValueError(f"fft: sign must be -1 or +1, got {sign}")
    if norm not in ("backward", "ortho", "forward"):
        raise ValueError(f"fft: invalid norm {norm!r}")
    if len(set(axes)) != len(axes) or not axes:
        raise ValueError(f"fft: axes must be distinct and non-empty, got {axes}")


class FFT(Primitive):
    """Complex DFT over ``axes``: ``fftn`` (``sign=-1``) or ``ifftn`` (``sign=+1``)."""

    name = "fft"
    returns_fresh = False
    returns_view = False
    real_linear = False
    threaded_impl = True
    overwrite_impl = True  # scipy's real transforms ignore overwrite_x: rfft, irfft do not

    def impl(self, x, *, axes, sign, norm, workers=1, overwrite_x=False):
        fn = sfft.fftn if sign < 0 else sfft.ifftn
        return fn(x, axes=axes, norm=norm, workers=workers, overwrite_x=overwrite_x)

    def emit_inplace(self, args, avals, bind, *, axes, sign, norm):
        transform = functools.partial(transform_in_place, axes=axes, sign=sign, norm=norm)
        return f"{bind(transform)}({args[0]})"

    def dask_impl(self, dk, x, *, axes, sign, norm):
        return _one_axis_at_a_time(dk, x, axes, sign, norm)

    def abstract_eval(self, x, *, axes, sign, norm):
        _check(axes, sign, norm)
        if not np.issubdtype(x.dtype, np.complexfloating):
            raise TypeError(f"fft: input must be complex, got {x.short()}")
        return x

    def transpose(self, ct, x, *, axes, sign, norm):
        return (fft(ct, axes, sign, norm),)

    def batch(self, size, x, *, axes, sign, norm):
        return fft(x, tuple(a + 1 for a in axes), sign, norm)

    def batch_last(self, size, x, *, axes, sign, norm):
        return fft(x, axes, sign, norm)  # pocketfft runs strided transforms as fast


class RFFT(Primitive):
    """Real input to the half spectrum along ``axes[-1]``: ``rfftn`` or (``sign=+1``) ``ihfftn``."""

    name = "rfft"
    returns_fresh = False
    returns_view = False
    real_linear = False
    threaded_impl = True

    def impl(self, x, *, axes, sign, norm, workers=1):
        fn = sfft.rfftn if sign < 0 else sfft.ihfftn
        return fn(x, axes=axes, norm=norm, workers=workers)

    def dask_impl(self, dk, x, *, axes, sign, norm):
        # the real-to-half transform along the last axis first, then complex ones
        half = dk.along_axes(self, x, (axes[-1],), {"axes": axes[-1:], "sign": sign, "norm": norm})
        return _one_axis_at_a_time(dk, half, axes[:-1], sign, norm)

    def abstract_eval(self, x, *, axes, sign, norm):
        _check(axes, sign, norm)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"rfft: input must be real, got {x.short()}")
        shape = list(x.shape)
        shape[axes[-1]] = shape[axes[-1]] // 2 + 1
        return ShapeDtype(tuple(shape), complex_dtype(x.dtype))

    def transpose(self, ct, x, *, axes, sign, norm):
        n = x.shape[axes[-1]]
        w = 1 / half_spectrum_weights(n, x.dtype)
        return (irfft(mul(ct, _along(w, axes[-1], x.ndim)), axes, n, sign, norm),)

    def batch(self, size, x, *, axes, sign, norm):
        return rfft(x, tuple(a + 1 for a in axes), sign, norm)

    def batch_last(self, size, x, *, axes, sign, norm):
        return rfft(x, axes, sign, norm)


class IRFFT(Primitive):
    """Half spectrum to a real signal of length ``n`` along ``axes[-1]``: ``irfftn`` or ``hfftn``.

    Only real-linear: the parts of the input that a real signal cannot have
    (the imaginary part of DC and, for even ``n``, of Nyquist) are ignored.
    """

    name = "irfft"
    returns_fresh = False
    returns_view = False
    real_linear = False
    threaded_impl = True

    def impl(self, x, *, axes, n, sign, norm, workers=1):
        fn = sfft.irfftn if sign > 0 else sfft.hfftn
        s = [x.shape[a] for a in axes[:-1]] + [n]
        return fn(x, s=s, axes=axes, norm=norm, workers=workers)

    def dask_impl(self, dk, x, *, axes, n, sign, norm):
        # complex transforms first, the half-to-real one along the last axis at the end
        x = _one_axis_at_a_time(dk, x, axes[:-1], sign, norm)
        return dk.along_axes(self, x, (axes[-1],),
                             {"axes": axes[-1:], "n": n, "sign": sign, "norm": norm})

    def abstract_eval(self, x, *, axes, n, sign, norm):
        _check(axes, sign, norm)
        if not np.issubdtype(x.dtype, np.complexfloating):
            raise TypeError(f"irfft: input must be complex, got {x.short()}")
        if n < 1 or x.shape[axes[-1]] != n // 2 + 1:
            raise ValueError(f"irfft: an output of length {n} needs {n // 2 + 1} input bins, "
                             f"got {x.shape[axes[-1]]}")
        shape = list(x.shape)
        shape[axes[-1]] = n
        return ShapeDtype(tuple(shape), real_dtype(x.dtype))

    def transpose(self, ct, x, *, axes, n, sign, norm):
        c = half_spectrum_weights(n, ct.dtype)
        return (mul(rfft(ct, axes, sign, norm), _along(c, axes[-1], x.ndim)),)

    def batch(self, size, x, *, axes, n, sign, norm):
        return irfft(x, tuple(a + 1 for a in axes), n, sign, norm)

    def batch_last(self, size, x, *, axes, n, sign, norm):
        return irfft(x, axes, n, sign, norm)


fft_p, rfft_p, irfft_p = FFT(), RFFT(), IRFFT()


def _one_axis_at_a_time(dk, x, axes, sign, norm):
    """A complex n-d transform on Dask arrays as 1-d passes, each rechunking only its axis.

    (pocketfft's n-d transforms are these same passes.)
    """
    for a in axes:
        x = dk.along_axes(fft_p, x, (a,), {"axes": (a,), "sign": sign, "norm": norm})
    return x


def transform_in_place(x, *, axes, sign, norm):
    """Overwrite the complex array ``x`` with its ``fft`` (same parameters), allocating nothing.

    pocketfft writes the transform into ``x`` itself when allowed to (``overwrite_x``),
    with the values it computes into a new array; should it return other memory, that
    is copied into ``x``.
    """
    y = fft_p.impl(x, axes=axes, sign=sign, norm=norm, overwrite_x=True)
    if y.ctypes.data != x.ctypes.data or y.strides != x.strides:
        x[...] = y


def fft(x, axes, sign, norm="backward"):
    """Record or compute a complex DFT over ``axes`` (distinct, non-negative)."""
    return fft_p.bind(x, axes=tuple(int(a) for a in axes), sign=int(sign), norm=str(norm))


def rfft(x, axes, sign, norm="backward"):
    """Record or compute a real-input DFT keeping the half spectrum along ``axes[-1]``."""
    return rfft_p.bind(x, axes=tuple(int(a) for a in axes), sign=int(sign), norm=str(norm))


def irfft(x, axes, n, sign, norm="backward"):
    """Record or compute a half-spectrum DFT with a real output of length ``n`` along ``axes[-1]``."""
    return irfft_p.bind(x, axes=tuple(int(a) for a in axes), n=int(n), sign=int(sign),
                        norm=str(norm))
