"""The NumPy adapter: lowers NumPy functions and ufuncs on tracers to primitives.

Each submodule registers the NumPy functions of one family with
:func:`implements` (for ``__array_function__``) or :func:`implements_ufunc`
(for ``__array_ufunc__``). Anything not registered raises
:class:`~linop.errors.UnsupportedFunctionError`, or
:class:`~linop.errors.NonLinearError` when the function is known to be
non-linear.
"""
from __future__ import annotations

from ._registry import (HANDLED_FUNCTIONS, HANDLED_UFUNCS, dispatch_function, dispatch_ufunc,
                        implements, implements_ufunc, supported_functions)
from . import elementwise, shape, reductions, contraction, joining, indexing, creation, complex  # noqa: F401,E501
from . import fft, stencils, advanced_indexing, selection, signal, linalg, histograms  # noqa: F401,E501

__all__ = ["HANDLED_FUNCTIONS", "HANDLED_UFUNCS", "dispatch_function", "dispatch_ufunc",
           "implements", "implements_ufunc", "supported_functions"]
