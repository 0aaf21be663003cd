"""SciPy's linear functions for traced arrays, under SciPy's own paths and signatures.

SciPy functions do not dispatch through NumPy's protocols, so linop offers the
linear ones here: ``linop.scipy.signal.convolve(x, k)`` works like
``scipy.signal.convolve`` on plain arrays (it simply calls SciPy and returns
what SciPy returns) and records primitives with exact transposes on tracers.
``scipy.sparse`` matrices need no wrapper: ``S @ x``, ``x @ S`` and
``S.dot(x)`` work on tracers directly (see :mod:`linop.scipy.sparse`).

Submodules: :mod:`~linop.scipy.signal`, :mod:`~linop.scipy.ndimage`,
:mod:`~linop.scipy.sparse`, :mod:`~linop.scipy.linalg`, :mod:`~linop.scipy.fft`.
``scipy.fft`` itself also works on traced arrays inside a trace (see
:mod:`linop.scipy.fft`).
"""
import importlib

from ..tracing import CONVERSION_EXPLAINERS, TRACE_CONTEXTS
from ._calls import explain_scipy_call

__all__ = ["signal", "ndimage", "sparse", "linalg", "fft"]


def _scipy_fft_backend():
    """The ``scipy.fft`` backend for traced arrays (imports scipy.fft on the first trace)."""
    from .fft import tracer_backend

    return tracer_backend()


TRACE_CONTEXTS.append(_scipy_fft_backend)
CONVERSION_EXPLAINERS.append(explain_scipy_call)


def __getattr__(name):
    # Submodules load on first use: importing scipy.signal/ndimage costs about a second.
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
