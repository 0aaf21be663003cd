"""``dct[axes, kind, type, norm, orthogonalize, inverse]``: SciPy's discrete cosine and sine transforms.

One primitive covers ``scipy.fft``'s ``dctn``/``dstn`` (``kind``), types 1–4, every
``norm`` and ``orthogonalize``, and the inverses ``idctn``/``idstn`` (``inverse``):
each is a real matrix applied along every axis of ``axes``; complex input is
transformed in its real and imaginary parts, so the map is complex-linear.

Transposes. Every one of these matrices factors as ``M = s · diag(a) · O · diag(b)``
with ``O`` the orthonormal transform (``norm="ortho"``, orthogonalized) of the
same kind and, for the inverses, of the transposed type, ``s`` a scalar and
``a``, ``b`` weights that differ from 1 only at the first and/or last entry
(:func:`factors`). ``O`` of type 1 or 4 is symmetric and ``O`` of type 2 is the
transpose of type 3, so ``Mᵀ = s · diag(b) · O_{type'} · diag(a)``: the
orthonormal transform of the transposed type between two scalings. When both
weights are 1, ``Mᵀ`` is one call of the same direction and norm, of the
transposed type, orthogonalized.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft

from ..core import Primitive
from .arithmetic import mul
from .complex import real_dtype

__all__ = ["dct", "dct_p", "factors", "TRANSPOSED_TYPE"]

#: The type whose orthonormal matrix is the transpose of a type's orthonormal matrix.
TRANSPOSED_TYPE = {1: 1, 2: 3, 3: 2, 4: 4}

#: The unnormalised (``norm="backward"``) transform is ``sqrt(L) · diag(1/r) · O · diag(c)``
#: with ``L`` the :func:`_period`; ``r`` and ``c`` (rows, columns) are 1 except 1/sqrt(2) at
#: the named ends of the axis. Types not listed have ``r = c = 1``.
_END_WEIGHTS = {("dct", 1): ("both", "both"), ("dct", 2): ("first", None),
                ("dct", 3): (None, "first"), ("dst", 2): ("last", None),
                ("dst", 3): (None, "last")}


def _period(kind: str, type: int, n: int) -> int:
    """The normalisation length of a transform (SciPy's ``2(n-1)``, ``2(n+1)`` or ``2n``)."""
    if type == 1:
        return 2 * (n - 1) if kind == "dct" else 2 * (n + 1)
    return 2 * n


def _end_weights(where, n: int) -> np.ndarray:
    w = np.ones(n)
    if where in ("first", "both"):
        w[0] = math.sqrt(0.5)
    if where in ("last", "both"):
        w[-1] = math.sqrt(0.5)
    return w


def factors(kind: str, type: int, n: int, norm: str, orthogonalize: bool, inverse: bool):
    """The factors of SciPy's transform matrix around the orthonormal transform.

    Parameters
    ----------
    kind : {"dct", "dst"}
    type : {1, 2, 3, 4}
    n : int
        The length of the transformed axis (at least 2 for a type-1 DCT).
    norm : {"backward", "ortho", "forward"}
    orthogonalize : bool
    inverse : bool
        ``idct``/``idst`` rather than ``dct``/``dst``.

    Returns
    -------
    s : float
    a, b : ndarray
        float64 weights of length ``n``, 1 except at the first and/or last entry.
    otype : int
        ``M = s · diag(a) · O · diag(b)``, where ``M`` is the matrix of
        ``scipy.fft.{i}{kind}(·, type, norm=norm, orthogonalize=orthogonalize)`` on
        ``n`` points and ``O`` that of ``scipy.fft.{kind}(·, otype, norm="ortho")``.
    """
    length = _period(kind, type, n)
    s = math.sqrt(length) / {"backward": 1.0, "ortho": math.sqrt(length), "forward": length}[norm]
    rows, cols = (None, None) if orthogonalize else _END_WEIGHTS.get((kind, type), (None, None))
    a, b = 1 / _end_weights(rows, n), _end_weights(cols, n)
    if not inverse:
        return s, a, b, type
    return 1 / s, 1 / b, 1 / a, TRANSPOSED_TYPE[type]


def _along(v: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    return v.reshape((-1,) + (1,) * (ndim - axis - 1))


def _scale(x, vectors, axes, scalar):
    """``x`` times each non-constant vector along its axis, the first one also times ``scalar``.

    Returns the scaled ``x`` and the factor still to apply (``scalar`` times the constant
    vectors' values when no vector was applied, else 1).
    """
    dtype = real_dtype(x.dtype)
    for v, axis in zip(vectors, axes):
        if np.any(v != v[0]):
            x, scalar = mul(x, _along((v * scalar).astype(dtype), axis, x.ndim)), 1.0
        else:
            scalar *= v[0]
    return x, scalar


class DCT(Primitive):
    """SciPy's ``{i}{dct,dst}n`` of ``type`` over ``axes`` (distinct, non-negative, non-empty)."""

    name = "dct"
    returns_fresh = True
    returns_view = False
    real_linear = False

    def impl(self, x, *, axes, kind, type, norm, orthogonalize, inverse):
        fn = getattr(sfft, ("i" if inverse else "") + kind + "n")
        options = dict(type=type, axes=axes, norm=norm, orthogonalize=orthogonalize)
        if not np.iscomplexobj(x):
            return fn(x, **options)
        out = np.empty_like(x)
        out.real, out.imag = fn(x.real, **options), fn(x.imag, **options)
        return out

    def dask_impl(self, dk, x, *, axes, **params):
        # separable: one axis at a time, only that axis rechunked whole (as the FFTs)
        for axis in axes:
            x = dk.along_axes(self, x, (axis,), dict(params, axes=(axis,)))
        return x

    def abstract_eval(self, x, *, axes, kind, type, norm, orthogonalize, inverse):
        if kind not in ("dct", "dst") or type not in TRANSPOSED_TYPE or not axes or \
                len(set(axes)) != len(axes) or any(not 0 <= a < x.ndim for a in axes):
            raise ValueError(f"dct: bad parameters kind={kind!r} type={type!r} axes={axes}")
        if x.dtype not in (np.float32, np.float64, np.complex64, np.complex128):
            raise TypeError(f"dct: input must be float32/64 or complex64/128, got {x.short()}")
        if kind == "dct" and type == 1 and any(x.shape[a] < 2 for a in axes):
            raise ValueError(f"dct: a type-1 DCT needs at least 2 points per axis, got {x.short()}")
        return x

    def transpose(self, ct, x, *, axes, kind, type, norm, orthogonalize, inverse):
        per_axis = [factors(kind, type, x.shape[a], norm, orthogonalize, inverse) for a in axes]
        otype = TRANSPOSED_TYPE[per_axis[0][3]]
        if all(np.all(f[1] == 1) and np.all(f[2] == 1) for f in per_axis):
            return (dct(ct, axes, kind, TRANSPOSED_TYPE[type], norm, True, inverse),)
        y, left = _scale(ct, [f[1] for f in per_axis], axes, math.prod(f[0] for f in per_axis))
        y, left = _scale(dct(y, axes, kind, otype, "ortho", True, False),
                         [f[2] for f in per_axis], axes, left)
        return (y if left == 1.0 else mul(y, np.asarray(left, real_dtype(y.dtype))),)

    def batch(self, size, x, *, axes, kind, type, norm, orthogonalize, inverse):
        return dct(x, tuple(a + 1 for a in axes), kind, type, norm, orthogonalize, inverse)


dct_p = DCT()


def dct(x, axes, kind="dct", type=2, norm="backward", orthogonalize=False, inverse=False):
    """Record or compute SciPy's ``{i}{kind}n(x, type, axes=axes, norm=norm, orthogonalize=...)``."""
    return dct_p.bind(x, axes=tuple(int(a) for a in axes), kind=str(kind), type=int(type),
                      norm=str(norm), orthogonalize=bool(orthogonalize), inverse=bool(inverse))
