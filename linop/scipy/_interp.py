"""Interpolation taps of ``scipy.ndimage``'s geometric transforms for spline order 0 and 1.

For a coordinate ``c`` along an axis of length ``n`` SciPy first folds ``c``
into range according to the boundary mode (or marks the point as outside, for
``constant``), then takes ``order + 1`` taps starting at ``floor(c)`` (order 1)
or ``floor(c + 0.5)`` (order 0), with the B-spline weights ``1 - t, t``, and
folds taps that fall outside the signal again. These functions reproduce those
rules with NumPy, vectorised over many coordinates; the tests compare them
with SciPy on every mode.
"""
from __future__ import annotations

import numpy as np

from ._boundary import weights_matrix

__all__ = ["axis_taps", "taps_matrix", "point_taps_matrix"]


def _trunc_int(v):
    return np.trunc(v)


def _fold_coordinate(c, n, mode):
    """Fold coordinates outside ``[0, n-1]``; ``-1`` marks a point outside (constant mode)."""
    c = np.array(c, dtype=np.float64, copy=True)
    lo, hi = c < 0, c > n - 1
    if mode == "grid-constant":
        return c
    if mode == "constant":
        c[lo | hi] = -1.0
        return c
    if mode == "nearest":
        c[lo], c[hi] = 0.0, float(n - 1)
        return c
    if n <= 1:
        c[lo | hi] = 0.0
        return c
    out = c.copy()
    if mode == "mirror":
        s2 = 2 * n - 2
        v = s2 * _trunc_int(-c[lo] / s2) + c[lo]
        out[lo] = np.where(v <= 1 - n, v + s2, -v)
        v = c[hi] - s2 * _trunc_int(c[hi] / s2)
        out[hi] = np.where(v >= n, s2 - v, v)
    elif mode in ("reflect", "grid-mirror"):
        s2 = 2 * n
        v = c[lo]
        v = np.where(v < -s2, s2 * _trunc_int(-v / s2) + v, v)
        # SciPy keeps tiny negative coordinates just inside: -v - 1 would be exactly -1.
        out[lo] = np.where(v < -n, v + s2, np.where(v > -1e-15, 1e-15, -v) - 1)
        v = c[hi] - s2 * _trunc_int(c[hi] / s2)
        out[hi] = np.where(v >= n, s2 - v - 1, v)
    elif mode == "wrap":
        sz = n - 1
        out[lo] = c[lo] + sz * (_trunc_int(-c[lo] / sz) + 1)
        out[hi] = c[hi] - sz * _trunc_int(c[hi] / sz)
    elif mode == "grid-wrap":
        out[lo] = c[lo] + n * (_trunc_int((-1 - c[lo]) / n) + 1)
        out[hi] = c[hi] - n * _trunc_int(c[hi] / n)
    else:
        raise RuntimeError(f"boundary mode not supported: {mode!r}")
    return out


def _fold_tap(idx, n, mode):
    """Fold integer tap positions into ``[0, n)``; ``valid`` false for zero taps."""
    valid = np.ones(idx.shape, bool)
    if mode == "grid-constant":
        valid = (idx >= 0) & (idx < n)
        return np.clip(idx, 0, n - 1), valid
    if n <= 1:
        return np.zeros_like(idx), valid
    if mode in ("reflect", "grid-mirror"):
        r = np.mod(idx, 2 * n)
        return np.where(r < n, r, 2 * n - 1 - r), valid
    if mode == "grid-wrap":
        return np.mod(idx, n), valid
    r = np.mod(idx, 2 * n - 2)  # every other mode folds taps by whole-sample symmetry
    return np.where(r < n, r, 2 * n - 2 - r), valid


def axis_taps(coords, n: int, mode: str, order: int):
    """Tap indices and weights of coordinates along one axis.

    Parameters
    ----------
    coords : array of float
    n : int
        Axis length.
    mode : str
        One of SciPy's interpolation boundary modes.
    order : {0, 1}

    Returns
    -------
    idx : int array, shape ``coords.shape + (order + 1,)``
    weights : float64 array, same shape (zero for taps that read nothing)
    """
    coords = np.asarray(coords, dtype=np.float64)
    cc = _fold_coordinate(coords, n, mode)
    outside = cc <= -1.0 if mode != "grid-constant" else np.zeros(cc.shape, bool)
    cc = np.where(outside, 0.0, cc)
    if order == 1:
        start = np.floor(cc)
        t = cc - start
        weights = np.stack([1.0 - t, t], axis=-1)
    else:
        start = np.floor(cc + 0.5)
        weights = np.ones(cc.shape + (1,))
    start = start.astype(np.int64)
    idx = start[..., None] + np.arange(order + 1)
    idx, valid = _fold_tap(idx, n, mode)
    weights = np.where(valid & ~outside[..., None], weights, 0.0)
    return idx, weights


def taps_matrix(coords, n: int, mode: str, order: int, dtype):
    """The ``len(coords) × n`` sparse interpolation matrix along one axis."""
    idx, w = axis_taps(coords, n, mode, order)
    rows = np.broadcast_to(np.arange(len(coords))[:, None], idx.shape)
    return weights_matrix(rows, idx, w, (len(coords), n), dtype)


def point_taps_matrix(coords, in_shape, mode: str, order: int, dtype):
    """The ``P × prod(in_shape)`` sparse matrix interpolating at ``P`` points.

    Parameters
    ----------
    coords : float array, shape ``(ndim, P)``
    in_shape : tuple of int
    """
    coords = np.asarray(coords, dtype=np.float64)
    P = coords.shape[1]
    flat = np.zeros((P, 1), np.int64)
    weight = np.ones((P, 1))
    for axis, n in enumerate(in_shape):
        idx, w = axis_taps(coords[axis], n, mode, order)
        taps = flat.shape[1] * idx.shape[-1]  # explicit: reshape(P, -1) fails when P == 0
        flat = (flat[:, :, None] * n + idx[:, None, :]).reshape(P, taps)
        weight = (weight[:, :, None] * w[:, None, :]).reshape(P, taps)
    rows = np.broadcast_to(np.arange(P)[:, None], flat.shape)
    return weights_matrix(rows, flat, weight, (P, int(np.prod(in_shape, dtype=np.int64))), dtype)
