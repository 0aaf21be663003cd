"""NumPy adapter: ``np.convolve`` and ``np.correlate`` with one traced operand.

Both are lowered to the ``convolve`` primitive in ``"full"`` mode (or
``"valid"`` directly when that is NumPy's window), followed by a slice that
selects NumPy's window for the requested mode. ``np.correlate`` is a
convolution with the conjugated, reversed second operand; when the second
operand is the traced one, the conjugation makes the map real-linear only.
"""
from __future__ import annotations

import numpy as np

from ..primitives import complex as C, shape as S
from ..primitives.convolve import convolve as convolve_prim
from ..primitives.slice import slice_
from ..core import is_tracer
from .registry import implements
from .util import constant, nonlinear, to_dtype, check_linear_dtype


def _probe(func, a, v, mode):
    """Run NumPy on tiny zero arrays of the same rank and emptiness: NumPy's own errors."""
    def tiny(x):
        shape = tuple(min(d, 1) for d in np.shape(x))
        return np.zeros(shape, np.asarray(x).dtype if not is_tracer(x) else x.dtype)
    func(tiny(a), tiny(v), mode)


def _mode_name(func, mode) -> str:
    """NumPy's reading of ``mode`` (strings by first letter, or 0/1/2), by its output length."""
    length = func(np.ones(2), np.ones(2), mode).shape[0]
    return {1: "valid", 2: "same", 3: "full"}[length]


def _window(n: int, m: int, mode: str, correlate_swapped: bool):
    """Start and length of NumPy's output inside the full convolution of lengths ``n``, ``m``."""
    short, long_ = min(n, m), max(n, m)
    if mode == "full":
        return 0, n + m - 1
    if mode == "valid":
        return short - 1, long_ - short + 1
    # NumPy centres "same" on the longer operand; np.correlate computes a swapped
    # pair as the reversed correlation, which moves the window by one for even lengths.
    return (short // 2 if correlate_swapped else (short - 1) // 2), long_


def _linear_and_kernel(a, v, what):
    if is_tracer(a) and is_tracer(v):
        raise nonlinear(what, "both operands are traced: a convolution of two traced arrays is "
                              "bilinear, not linear. One operand must be a constant.")
    return (a, v) if is_tracer(a) else (v, a)


def _as_1d(x):
    """``np.array(x, ndmin=1)`` for a tracer."""
    return S.reshape(x, (1,)) if x.ndim == 0 else x


def _result_dtype(x, c):
    return np.result_type(x.dtype, constant(c).dtype)


def _full_convolution(x, kernel, mode, start, length):
    """``full(x * kernel)[start:start + length]``, using the valid primitive when it is exactly that."""
    n, m = x.shape[0], kernel.shape[0]
    if n >= m and start == m - 1 and length == n - m + 1:
        return convolve_prim(x, kernel, "valid")
    out = convolve_prim(x, kernel, "full")
    return slice_(out, (start,), (start + length,), (1,))


@implements(np.convolve)
def convolve(a, v, mode="full"):
    """``np.convolve(a, v, mode)`` with one traced operand; every mode, either order."""
    _probe(np.convolve, a, v, mode)
    mode = _mode_name(np.convolve, mode)
    x, c = _linear_and_kernel(a, v, "np.convolve")
    res = _result_dtype(x, c)
    check_linear_dtype(res, "np.convolve")
    x = _as_1d(to_dtype(x, res, "np.convolve"))
    kernel = np.array(constant(c), dtype=res, ndmin=1)
    n, m = x.shape[0], kernel.shape[0]
    start, length = _window(n, m, mode, False)
    return _full_convolution(x, kernel, mode, start, length)


@implements(np.correlate)
def correlate(a, v, mode="valid"):
    """``np.correlate(a, v, mode)`` with one traced operand (``v`` is conjugated, as in NumPy).

    With ``v`` traced and complex, the map is real-linear (it conjugates ``v``).
    """
    a, v = (x if is_tracer(x) else np.asarray(x) for x in (a, v))
    _probe(np.correlate, a, v, mode)
    mode = _mode_name(np.correlate, mode)
    _linear_and_kernel(a, v, "np.correlate")
    res = np.result_type(*(x.dtype if is_tracer(x) else constant(x).dtype for x in (a, v)))
    check_linear_dtype(res, "np.correlate")
    n, m = a.shape[0], v.shape[0]
    # correlate(a, v) = full convolution of a with conj(v)[::-1], windowed.
    if is_tracer(a):
        x = to_dtype(a, res, "np.correlate")
        kernel = np.conj(np.asarray(constant(v), dtype=res))[::-1].copy()
    else:
        x = to_dtype(v, res, "np.correlate")
        if np.issubdtype(res, np.complexfloating):
            x = C.conj(x)
        x = S.rev(x, (0,))
        kernel = np.asarray(constant(a), dtype=res)
    start, length = _window(n, m, mode, m > n)
    return _full_convolution(x, kernel, mode, start, length)
