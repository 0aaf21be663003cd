"""SciPy's B-spline interpolation weights (``get_spline_interpolation_weights`` of ``ni_splines.c``).

:func:`weights_into` holds the formulas of every order once, in a form that runs both on
NumPy arrays (all points at once, :func:`spline_weights`) and on one point's scalars in
the numba kernels of :mod:`linop.scipy._interp_kernels`: plain arithmetic in a fixed
order, so that both give the same bits.
"""
from __future__ import annotations

import numpy as np

__all__ = ["weights_into", "spline_weights"]


def weights_into(x, order, w):
    """Write the ``order + 1`` weights of fractional offset ``x`` into ``w[0], …, w[order]``.

    Parameters
    ----------
    x : float or float64 array
        ``c - floor(c)`` (odd orders) or ``c - floor(c + 0.5)`` (even orders); unused
        for order 0.
    order : int, 0–5
    w : float64 array
        ``w[k]`` receives the weight of tap ``k`` (a scalar or an array shaped like ``x``).
    """
    if order == 0:
        w[0] = 1.0
        return
    z = 1.0 - x
    if order == 1:
        w[0] = z
    elif order == 2:
        w[1] = 0.75 - x * x
        y = 0.5 - x
        w[0] = 0.5 * y * y
    elif order == 3:
        w[1] = (x * x * (x - 2.0) * 3.0 + 4.0) / 6.0
        w[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0
        w[0] = z * z * z / 6.0
    elif order == 4:
        t = x * x
        w[2] = t * (t * 0.25 - 0.625) + 115.0 / 192.0
        y = 1.0 + x
        w[1] = y * (y * (y * (5.0 - y) / 6.0 - 1.25) + 5.0 / 24.0) + 55.0 / 96.0
        w[3] = z * (z * (z * (5.0 - z) / 6.0 - 1.25) + 5.0 / 24.0) + 55.0 / 96.0
        y = 0.5 - x
        t = y * y
        w[0] = t * t / 24.0
    else:
        t = x * x
        w[2] = t * (t * (0.25 - x / 12.0) - 0.5) + 0.55
        t = z * z
        w[3] = t * (t * (0.25 - z / 12.0) - 0.5) + 0.55
        y = x + 1.0
        w[1] = y * (y * (y * (y * (y / 24.0 - 0.375) + 1.25) - 1.75) + 0.625) + 0.425
        y = z + 1.0
        w[4] = y * (y * (y * (y * (y / 24.0 - 0.375) + 1.25) - 1.75) + 0.625) + 0.425
        t = z * z
        w[0] = z * t * t / 120.0
    # All weights add to 1, so SciPy takes the last one as 1 minus the others.
    w[order] = 1.0 - w[0]
    for i in range(1, order):
        w[order] -= w[i]


def spline_weights(c, order: int, base=None):
    """SciPy's B-spline weights of the ``order + 1`` taps for coordinates ``c``.

    Parameters
    ----------
    c : float64 array
    order : int, 0–5
    base : float64 array, optional
        ``floor(c)`` (odd orders) or ``floor(c + 0.5)`` (even orders), if already known.

    Returns
    -------
    float64 array, shape ``(order + 1,) + c.shape``
        Tap first, so that every NumPy loop runs over the points.
    """
    c = np.asarray(c, dtype=np.float64)
    w = np.empty((order + 1,) + c.shape)
    if order and base is None:
        base = np.floor(c if order & 1 else c + 0.5)
    weights_into(c - base if order else c, order, w)
    return w
