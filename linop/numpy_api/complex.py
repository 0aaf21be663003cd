"""Real and imaginary parts (real-linear, views as in NumPy)."""
from __future__ import annotations

import numpy as np

from ..core import zeros, zeros_p
from ..primitives import complex as C
from .views import make_view
from .registry import implements, implements_method
from .util import fresh


def _is_complex(x) -> bool:
    return np.issubdtype(x.dtype, np.complexfloating)


def real_part(x):
    """``x.real``: a writable view for complex ``x``; ``x`` itself (a view) for real ``x``."""
    if not _is_complex(x):
        out = fresh(x)
        return make_view(x, out, lambda b: b, lambda b, new: new, "view", "x.real")
    return make_view(x, C.real(x), C.real, lambda b, new: C.make_complex(new, C.imag(b)),
                     "view", "x.real")


def imag_part(x):
    """``x.imag``: a writable view for complex ``x``; read-only zeros for real ``x``."""
    if not _is_complex(x):
        out = x.builder.add_eqn(zeros_p, (), {"shape": tuple(x.shape), "dtype": x.dtype})
        return make_view(x, out, lambda b: zeros(b.shape, b.dtype), None, "readonly", "x.imag")
    return make_view(x, C.imag(x), C.imag, lambda b, new: C.make_complex(C.real(b), new),
                     "view", "x.imag")


def _set_real(x, value):
    x.real[...] = value


def _set_imag(x, value):
    x.imag[...] = value


implements_method("real")(property(real_part, _set_real,
                                   doc="Real part (a view, real-linear), as ``ndarray.real``."))
implements_method("imag")(property(imag_part, _set_imag,
                                   doc="Imaginary part (a view, real-linear), as ``ndarray.imag``."))


@implements_method("conj", "conjugate")
def conj_method(x):
    """``x.conj()`` (real-linear); a view of ``x`` itself for real ``x``, as in NumPy."""
    if not _is_complex(x):
        return make_view(x, type(x)(x.builder, x.var), lambda b: b, lambda b, new: new, "view",
                         "x.conj()")
    return np.conjugate(x)



@implements(np.real)
def real(val):
    """``np.real``."""
    return real_part(val)


@implements(np.imag)
def imag(val):
    """``np.imag``."""
    return imag_part(val)
