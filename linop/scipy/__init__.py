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

from ..numpy_api.util import is_scipy_sparse
from ..numpy_api.conversion import CONVERSION_EXPLAINERS
from ..numpy_api.tracer import ARRAY_REQUESTS, OPERAND_PRODUCTS
from ..tracing import TRACE_CONTEXTS
from ._calls import explain_scipy_call
from .fft import tracer_backend

__all__ = ["signal", "ndimage", "sparse", "linalg", "fft"]


def _sparse_array_request(frame, tracer):
    """SciPy's sparse operators asking for a tracer's values: make them defer to the tracer."""
    if not frame.f_globals.get("__name__", "").startswith("scipy.sparse"):
        return None
    from .sparse import opaque_for_sparse_dispatch

    return opaque_for_sparse_dispatch(frame, tracer)


def _sparse_product(name, tracer, other):
    """``tracer @ S``, ``S * tracer``... with a SciPy sparse ``S`` (see :mod:`linop.scipy.sparse`)."""
    if not is_scipy_sparse(other):
        return None
    from . import sparse

    product = sparse.traced_matmul if "matmul" in name else sparse.traced_mul
    return product(tracer, other, sparse_on_left=name.startswith("__r"))


TRACE_CONTEXTS.append(tracer_backend)
CONVERSION_EXPLAINERS.append(explain_scipy_call)
ARRAY_REQUESTS.append(_sparse_array_request)
OPERAND_PRODUCTS.append(_sparse_product)


def __getattr__(name):
    # Submodules load on first use: importing scipy.signal/ndimage costs about a second.
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
