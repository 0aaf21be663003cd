"""SciPy's linear functions for traced arrays, under SciPy's own paths and signatures.

SciPy functions do not dispatch through NumPy's protocols, so linop offers the
linear ones here: ``linop.scipy.signal.convolve(x, k)`` works like
``scipy.signal.convolve`` on plain arrays (it simply calls SciPy and returns
what SciPy returns) and records primitives with exact transposes on tracers.
``scipy.sparse`` matrices need no wrapper: ``S @ x``, ``x @ S`` and
``S.dot(x)`` work on tracers directly (see :mod:`linop.scipy.sparse`).

Submodules: :mod:`~linop.scipy.signal`, :mod:`~linop.scipy.ndimage`,
:mod:`~linop.scipy.sparse`, :mod:`~linop.scipy.linalg`.
"""
import importlib

__all__ = ["signal", "ndimage", "sparse", "linalg"]


def __getattr__(name):
    # Submodules load on first use: importing scipy.signal/ndimage costs about a second.
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
