"""Forward models that several test modules share (plain NumPy functions)."""
from __future__ import annotations


def laplacian_7point(x):
    """The 3-D 7-point stencil with zero boundaries, written with slice updates."""
    y = -6 * x
    y[1:] += x[:-1]
    y[:-1] += x[1:]
    y[:, 1:] += x[:, :-1]
    y[:, :-1] += x[:, 1:]
    y[:, :, 1:] += x[:, :, :-1]
    y[:, :, :-1] += x[:, :, 1:]
    return y
