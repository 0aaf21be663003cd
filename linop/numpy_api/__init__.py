"""The NumPy adapter: lowers NumPy functions and ufuncs on tracers to primitives.

Each submodule registers the NumPy functions of one family with
:func:`implements` (for ``__array_function__``; ``method=`` also makes it the tracer's
ndarray method), :func:`implements_method` (ndarray methods and properties of the
tracer, :mod:`linop.numpy_api.tracer`), :func:`implements_ufunc`
(for ``__array_ufunc__``) or :func:`implements_ufunc_method` (for ``np.add.at`` and
the other ufunc methods). Anything not registered raises
:class:`~linop.errors.UnsupportedFunctionError`, or
:class:`~linop.errors.NonLinearError` when the function is known to be
non-linear.
"""
from __future__ import annotations

from .registry import (HANDLED_FUNCTIONS, HANDLED_UFUNCS, METHODS, UFUNC_METHODS,
                        dispatch_function, dispatch_ufunc, implements, implements_method,
                        implements_ufunc, implements_ufunc_method, install_methods,
                        supported_functions)
from . import elementwise, shape, reductions, contraction, joining, indexing, creation, complex  # noqa: F401,E501
from . import fft, stencils, advanced_indexing, selection, signal, linalg, histograms  # noqa: F401,E501
from . import inplace, ufunc_methods  # noqa: F401
from . import calculus, editing, functional  # noqa: F401
from .tracer import Tracer
from . import index_tricks  # noqa: F401  (answers a tracer's np.array request in np.r_/np.c_)

__all__ = ["HANDLED_FUNCTIONS", "HANDLED_UFUNCS", "METHODS", "UFUNC_METHODS", "Tracer",
           "dispatch_function", "dispatch_ufunc", "implements", "implements_method",
           "implements_ufunc", "implements_ufunc_method", "supported_functions"]

install_methods(Tracer)
