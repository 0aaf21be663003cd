"""The traced pipeline of ``scipy.ndimage``'s geometric transforms: prefilter, then interpolate.

For spline orders 2–5 with ``prefilter=True``, SciPy first turns the image into
B-spline coefficients (``spline_filter`` along every interpolated axis), after
padding it by 12 samples for ``nearest`` (edge values) and ``grid-constant``
(zeros), then interpolates those coefficients with ``(order + 1)`` taps per
axis at the padded coordinates. SciPy filters in float64; here the filter runs
in the working dtype, so that a float32 model stays float32. Here each of those
steps is one linear equation: the padding a ``sparse_matmul`` with an extension
matrix, the prefilter a ``spline_filter`` per axis (an IIR filter, applied as
SciPy applies it, with its exact transpose), the interpolation a
``sparse_matmul`` with the matrix of :mod:`linop.scipy._interp`. Keeping the
prefilter apart keeps the interpolation matrix sparse (its product with the
dense prefilter would not be), and lets one prefilter serve every transform of
the same image.
"""
from __future__ import annotations

import math

from ..primitives import shape as S
from ..primitives.complex import real_dtype
from ..primitives.sparse_matmul import sparse_matmul
from ..primitives.spline_filter import spline_filter
from ._boundary import extension_matrix
from ._interp import point_taps_matrix, taps_matrix

__all__ = ["resample_separable", "resample_points"]

# Samples SciPy pads the image with before prefiltering (``_prepad_for_spline_filter``), and how.
_PREPAD = {"nearest": (12, "nearest"), "grid-constant": (12, "constant")}


def _coefficients(x, axes, order, mode, prefilter):
    """SciPy's padding and spline prefilter of tracer ``x`` along ``axes``; returns ``(x, npad)``."""
    if not prefilter or order < 2:
        return x, 0
    npad, rule = _PREPAD.get(mode, (0, None))
    if npad:
        for axis in axes:
            pad = extension_matrix(x.shape[axis], npad, npad, rule, real_dtype(x.dtype))
            x = sparse_matmul(x, pad, axis)
    for axis in axes:
        x = spline_filter(x, order, mode, axis)
    return x, npad


def resample_separable(x, coords_per_axis, mode: str, order: int, prefilter: bool):
    """Resampling at a grid of coordinates, one axis after the other (``zoom``, ``shift``).

    Parameters
    ----------
    x : Tracer
    coords_per_axis : list of 1-d float arrays
        The input coordinates of the output samples along each axis.
    mode, order, prefilter
        As in SciPy.
    """
    x, npad = _coefficients(x, range(x.ndim), order, mode, prefilter)
    for axis, coords in enumerate(coords_per_axis):
        M = taps_matrix(coords + npad, x.shape[axis], mode, order, real_dtype(x.dtype))
        x = sparse_matmul(x, M, axis)
    return x


def resample_points(x, coords, out_shape, mode: str, order: int, prefilter: bool, lead: int = 0):
    """Resampling of the trailing axes of ``x`` at arbitrary points.

    Parameters
    ----------
    x : Tracer
        Its first ``lead`` axes are carried along (the planes of ``rotate``).
    coords : float array, shape ``(x.ndim - lead, P)``
    out_shape : tuple of int
        The shape the ``P`` points take in the output.
    mode, order, prefilter
        As in SciPy.
    lead : int
    """
    x, npad = _coefficients(x, range(lead, x.ndim), order, mode, prefilter)
    grid = tuple(x.shape[lead:])
    M = point_taps_matrix(coords + npad if npad else coords, grid, mode, order, real_dtype(x.dtype))
    before = tuple(x.shape[:lead])
    flat = S.reshape(x, before + (math.prod(grid),))
    return S.reshape(sparse_matmul(flat, M, lead), before + tuple(out_shape))
