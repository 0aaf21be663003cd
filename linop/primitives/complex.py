"""Dtype conversion and the real-linear complex primitives: real, imag, conj, complex."""
from __future__ import annotations

import numpy as np

from ..ir import Const, ShapeDtype
from ..core import Primitive, Scaling
from .arithmetic import mul, neg

__all__ = ["convert", "real", "imag", "conj", "make_complex",
           "convert_p", "real_p", "imag_p", "conj_p", "complex_p", "real_dtype"]


def real_dtype(dtype) -> np.dtype:
    """The real dtype of the same precision (float64 for complex128)."""
    dtype = np.dtype(dtype)
    return np.empty(0, dtype).real.dtype


class Convert(Primitive):
    """Change the floating dtype: float32↔float64, real→complex, complex64↔complex128."""

    name = "convert"
    elementwise = True
    returns_fresh = True
    returns_view = False
    real_linear = False

    def emit(self, args, avals, bind, *, dtype):
        return f"{args[0]}.astype({bind(dtype)})"

    def impl(self, x, *, dtype):
        return x.astype(dtype)

    def array_impl(self, ns, x, *, dtype):
        return ns.xp.astype(x, dtype)

    fused_form = "element"

    def fused_element(self, loop, index, *, dtype):
        return loop.cast(loop.read(0, index))

    def abstract_eval(self, x, *, dtype):
        return ShapeDtype(x.shape, dtype)

    def sparse_jacobian(self, x, *, dtype):
        return [Scaling(np.ones((), dtype))]

    def transpose(self, ct, x, *, dtype):
        if np.issubdtype(dtype, np.complexfloating) and not np.issubdtype(x.dtype, np.complexfloating):
            ct = real(ct)
        return (convert(ct, x.dtype),)

    def batch(self, size, x, *, dtype):
        return convert(x, dtype)


class Real(Primitive):
    """Real part of a complex array (real-linear)."""

    name = "real"
    elementwise = True
    returns_fresh = True
    real_linear = True
    returns_view = False

    def impl(self, x):
        return x.real.copy()

    def array_impl(self, ns, x):
        return ns.xp.real(x)

    fused_form = "element"

    def fused_element(self, loop, index):
        return f"{loop.read(0, index)}.real"

    def abstract_eval(self, x):
        return ShapeDtype(x.shape, real_dtype(x.dtype))

    def sparse_jacobian(self, x):
        # real(v) = (v + conj(v)) / 2, exactly (halving is exact)
        half = Scaling(np.asarray(0.5, x.dtype))
        return [(half, half)]

    def transpose(self, ct, x):
        return (convert(ct, x.dtype),)

    def batch(self, size, x):
        return real(x)


class Imag(Primitive):
    """Imaginary part of a complex array (real-linear)."""

    name = "imag"
    elementwise = True
    returns_fresh = True
    real_linear = True
    returns_view = False

    def impl(self, x):
        return x.imag.copy()

    def array_impl(self, ns, x):
        return ns.xp.imag(x)

    fused_form = "element"

    def fused_element(self, loop, index):
        return f"{loop.read(0, index)}.imag"

    def abstract_eval(self, x):
        return ShapeDtype(x.shape, real_dtype(x.dtype))

    def sparse_jacobian(self, x):
        # imag(v) = (v - conj(v)) / 2i, exactly
        dtype = np.result_type(x.dtype, np.complex64)
        return [(Scaling(np.asarray(-0.5j, dtype)), Scaling(np.asarray(0.5j, dtype)))]

    def transpose(self, ct, x):
        # Re(imag(x) * t) = Re(x * (-1j * t)).
        return (mul(convert(ct, x.dtype), Const(np.asarray(-1j, x.dtype))),)

    def batch(self, size, x):
        return imag(x)


class Conj(Primitive):
    """Complex conjugate (real-linear)."""

    name = "conj"
    elementwise = True
    returns_fresh = True
    real_linear = True
    conjugate_linear = True
    returns_view = False

    def emit(self, args, avals, bind):
        return f"{bind(np.conj)}({args[0]})"

    def impl(self, x):
        return np.conj(x)

    def array_impl(self, ns, x):
        return ns.xp.conj(x)

    fused_form = "element"

    def fused_element(self, loop, index):
        return f"{loop.read(0, index)}.conjugate()"

    def abstract_eval(self, x):
        return x

    def sparse_jacobian(self, x):
        return [(None, Scaling(np.ones((), x.dtype)))]

    def transpose(self, ct, x):
        return (conj(ct),)

    def batch(self, size, x):
        return conj(x)


class Complex(Primitive):
    """``a + 1j * b`` from two real arrays of equal shape and dtype (real-linear)."""

    name = "complex"
    elementwise = True
    returns_fresh = True
    real_linear = True
    returns_view = False

    fused_form = "element"

    def fused_element(self, loop, index):
        return loop.cast(f"complex({loop.read(0, index)}, {loop.read(1, index)})")

    def impl(self, a, b):
        out = np.empty(a.shape, np.result_type(a.dtype, np.complex64))
        out.real = a
        out.imag = b
        return out

    def dask_impl(self, dk, a, b):
        return dk.elementwise(self, (a, b), {})

    def abstract_eval(self, a, b):
        if a != b:
            raise TypeError(f"complex: parts must match, got {a.short()} and {b.short()}")
        return ShapeDtype(a.shape, np.result_type(a.dtype, np.complex64))

    def sparse_jacobian(self, a, b):
        # complex(a, b) = a + 1j b on real parts: complex-linear in each real input
        out = self.abstract_eval(a, b).dtype
        return [Scaling(np.ones((), out)), Scaling(np.asarray(1j, out))]

    def transpose(self, ct, a, b):
        return real(ct), neg(imag(ct))

    def batch(self, size, a, b):
        return make_complex(a, b)


convert_p, real_p, imag_p, conj_p, complex_p = Convert(), Real(), Imag(), Conj(), Complex()


def convert(x, dtype):
    """Record or compute a dtype conversion; a no-op when the dtype already matches."""
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    return convert_p.bind(x, dtype=dtype)


def real(x):
    """Record or compute the real part."""
    return real_p.bind(x)


def imag(x):
    """Record or compute the imaginary part."""
    return imag_p.bind(x)


def conj(x):
    """Record or compute the complex conjugate."""
    return conj_p.bind(x)


def make_complex(a, b):
    """Record or compute ``a + 1j * b``."""
    return complex_p.bind(a, b)
