"""Interpolation matrices of ``scipy.ndimage``'s geometric transforms, spline orders 0–5.

The rules are those of ``ni_interpolation.c`` and ``ni_splines.c``, vectorised
over all points at once:

* a coordinate ``c`` along an axis of length ``n`` is folded into range by
  the boundary mode (``map_coordinate``; not for ``nearest`` and
  ``grid-constant``), or marks the point as outside (``constant``: the output
  is zero there);
* the ``order + 1`` taps start at ``floor(c) - order // 2`` (odd orders) or
  ``floor(c + 0.5) - order // 2`` (even orders), with SciPy's B-spline weights
  (the last one is ``1`` minus the others);
* taps outside the signal are folded again, by whole-sample symmetry for
  ``constant``, ``wrap`` and ``mirror``, by the mode itself otherwise; for
  ``grid-constant`` they read zero.

Matrices come out as CSR in canonical form (sorted, no duplicates, no stored
zeros), built straight into snapshots (:func:`linop.snapshots.new_snapshot`),
so that capturing them copies nothing. The tests compare them with SciPy on
every order and mode.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as _sp

from ..snapshots import new_snapshot

__all__ = ["fold_coordinates", "spline_weights", "affine_coordinates", "taps_matrix",
           "point_taps_matrix"]

# How taps outside the signal are folded (``_get_spline_boundary_mode``).
_TAP_MODE = {"constant": "mirror", "wrap": "mirror", "grid-mirror": "reflect"}


def _fold_below(v, n, mode):
    """SciPy's ``map_coordinate`` for values ``v < 0`` (``n > 1``)."""
    if mode == "mirror":
        s2 = 2 * n - 2
        v = s2 * np.trunc(-v / s2) + v
        return np.where(v <= 1 - n, v + s2, -v)
    if mode == "reflect":
        s2 = 2 * n
        v = np.where(v < -s2, s2 * np.trunc(-v / s2) + v, v)
        # SciPy keeps tiny negative coordinates just inside: -v - 1 would be exactly -1.
        return np.where(v < -n, v + s2, np.where(v > -1e-15, 1e-15, -v) - 1)
    if mode == "wrap":
        return v + (n - 1) * (np.trunc(-v / (n - 1)) + 1)
    return v + n * (np.trunc((-1 - v) / n) + 1)  # grid-wrap


def _fold_above(v, n, mode):
    """SciPy's ``map_coordinate`` for values ``v > n - 1`` (``n > 1``)."""
    if mode == "mirror":
        s2 = 2 * n - 2
        v = v - s2 * np.trunc(v / s2)
        return np.where(v >= n, s2 - v, v)
    if mode == "reflect":
        s2 = 2 * n
        v = v - s2 * np.trunc(v / s2)
        return np.where(v >= n, s2 - v - 1, v)
    if mode == "wrap":
        return v - (n - 1) * np.trunc(v / (n - 1))
    return v - n * np.trunc(v / n)  # grid-wrap


def _map_coordinate(c, n, mode):
    """SciPy's ``map_coordinate`` on a float array (a new array) for the folding modes
    (``mirror``, ``reflect``, ``wrap``, ``grid-wrap``)."""
    c = np.array(c, dtype=np.float64)
    lo, hi = c < 0, c > n - 1
    if n <= 1:
        c[lo | hi] = 0.0
    else:
        with np.errstate(invalid="ignore"):  # inf folds to NaN, which marks the point outside
            c[lo] = _fold_below(c[lo], n, mode)
            c[hi] = _fold_above(c[hi], n, mode)
    return c


def fold_coordinates(coords, n: int, mode: str):
    """Coordinates folded into range as SciPy folds them before interpolating.

    Parameters
    ----------
    coords : array of float
    n : int
        Axis length.
    mode : str
        ``grid-mirror`` is ``reflect`` here, as in SciPy.

    Returns
    -------
    folded : float64 array
        ``nearest`` and ``grid-constant`` coordinates are left as they are.
    inside : bool array
        False where the output is zero: outside ``[0, n - 1]`` in ``constant`` mode, and
        at non-finite coordinates (SciPy gives ``cval`` for NaN; for ``inf`` its folding
        is undefined).
    """
    mode = "reflect" if mode == "grid-mirror" else mode
    coords = np.asarray(coords, dtype=np.float64)
    if mode in ("nearest", "grid-constant"):
        return coords, np.isfinite(coords)
    if mode == "constant":  # map_coordinate's -1 marks exactly the points outside [0, n - 1]
        return coords, (coords >= 0) & (coords <= n - 1)
    folded = _map_coordinate(coords, n, mode)
    return folded, folded > -1.0


def spline_weights(c, order: int, base=None):
    """SciPy's B-spline weights of the ``order + 1`` taps for coordinates ``c`` (``get_spline_interpolation_weights``).

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
    if order == 0:
        w[...] = 1.0
        return w
    if base is None:
        base = np.floor(c if order & 1 else c + 0.5)
    x = c - base
    _SPLINES[order](x, 1.0 - x, w)
    # All weights add to 1, so SciPy takes the last one as 1 minus the others.
    np.subtract(1.0, w[0], out=w[order])
    for i in range(1, order):
        w[order] -= w[i]
    return w


def _weights_1(x, z, w):
    w[0] = z


def _weights_2(x, z, w):
    w[1] = 0.75 - x * x
    y = 0.5 - x
    w[0] = 0.5 * y * y


def _weights_3(x, z, w):
    w[1] = (x * x * (x - 2.0) * 3.0 + 4.0) / 6.0
    w[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0
    w[0] = z * z * z / 6.0


def _quartic_side(y):
    return y * (y * (y * (5.0 - y) / 6.0 - 1.25) + 5.0 / 24.0) + 55.0 / 96.0


def _weights_4(x, z, w):
    t = x * x
    w[2] = t * (t * 0.25 - 0.625) + 115.0 / 192.0
    w[1] = _quartic_side(1.0 + x)
    w[3] = _quartic_side(z)
    y = 0.5 - x
    t = y * y
    w[0] = t * t / 24.0


def _quintic_inner(y):
    t = y * y
    return t * (t * (0.25 - y / 12.0) - 0.5) + 0.55


def _quintic_outer(y):
    return y * (y * (y * (y * (y / 24.0 - 0.375) + 1.25) - 1.75) + 0.625) + 0.425


def _weights_5(x, z, w):
    w[2] = _quintic_inner(x)
    w[3] = _quintic_inner(z)
    w[1] = _quintic_outer(x + 1.0)
    w[4] = _quintic_outer(z + 1.0)
    t = z * z
    w[0] = z * t * t / 120.0


_SPLINES = {1: _weights_1, 2: _weights_2, 3: _weights_3, 4: _weights_4, 5: _weights_5}


def _fold_taps(idx, n, mode):
    """Tap positions outside ``[0, n)`` folded by ``mode``'s tap rule, in place; returns where."""
    out = (idx < 0) | (idx >= n)
    if not out.any():
        return out
    mode = _TAP_MODE.get(mode, mode)
    if mode == "nearest":
        np.clip(idx, 0, n - 1, out=idx)
    elif mode != "grid-constant":
        idx[out] = _map_coordinate(idx[out], n, mode).astype(np.int64)
    return out


def _merge_duplicates(idx, w):
    """Sort the taps of each point (column) and merge equal positions into the first, in place.

    The merged repeats keep their position with weight 0.
    """
    order = np.argsort(idx, axis=0, kind="stable")
    sub_i = np.take_along_axis(idx, order, axis=0).T
    sub_w = np.take_along_axis(w, order, axis=0).T
    lines = np.arange(sub_i.shape[0])
    head = np.zeros(sub_i.shape[0], np.int64)
    for k in range(1, sub_i.shape[1]):
        same = sub_i[:, k] == sub_i[:, k - 1]
        head = np.where(same, head, k)
        sub_w[lines[same], head[same]] += sub_w[same, k]
        sub_w[same, k] = 0.0
    idx[...], w[...] = sub_i.T, sub_w.T


def _axis_taps(cc, n, mode, order):
    """Tap positions and weights of folded coordinates ``cc``: ``(order + 1, P)`` each.

    The taps of each point are sorted, and a position repeated by the folding carries
    its weight once (the repeats get 0).
    """
    base = np.floor(cc if order & 1 else cc + 0.5)
    w = spline_weights(cc, order, base)
    start = base.astype(np.int64)
    start -= order // 2
    idx = start[None, :] + np.arange(order + 1)[:, None]
    edge = np.flatnonzero((start < 0) | (start > n - 1 - order))  # points with taps outside
    if edge.size:
        taps, weights = idx[:, edge], w[:, edge]
        outside = _fold_taps(taps, n, mode)
        if mode == "grid-constant":
            weights[outside] = 0.0
            np.clip(taps, 0, n - 1, out=taps)
        elif order:
            _merge_duplicates(taps, weights)
        idx[:, edge], w[:, edge] = taps, weights
    return idx, w


def _index_dtype(*sizes):
    return np.int32 if max(sizes, default=0) < np.iinfo(np.int32).max else np.int64


def _tensor_product(factors, combine):
    """``combine`` over all tap combinations: shape ``(K ** d, P)`` from ``d`` factors ``(K, P)``."""
    d = len(factors)
    K, P = factors[0].shape
    acc = factors[0].reshape((K,) + (1,) * (d - 1) + (P,))
    for h in range(1, d):
        acc = combine(acc, factors[h].reshape((1,) * h + (K,) + (1,) * (d - h - 1) + (P,)))
    return acc.reshape(K ** d, P)


# Matrix entries per block of points: a block's tap-major products and their transpose stay
# in cache, and only the matrix itself is written to main memory.
_BLOCK_ENTRIES = 1 << 15


def _blocks(m, width):
    """``(start, stop)`` of the blocks of points."""
    step = max(1, _BLOCK_ENTRIES // width)
    return [(s, min(s + step, m)) for s in range(0, m, step)]


def _products(factors, combine, start, stop, dtype):
    """The tap-major ``(K ** d, stop - start)`` tensor products of points ``start:stop``."""
    return _tensor_product([f[:, start:stop] for f in factors], combine).astype(dtype, copy=False)


def _all_products_nonzero(weights, dtype) -> bool:
    """The common case, decided without temporaries: all weights positive, and the product
    of the smallest ones does not underflow in ``dtype``."""
    smallest = np.float64(1.0)
    for w in weights:
        lowest = w.min(initial=1.0)
        if not lowest > 0:
            return False
        smallest = smallest * lowest
    return bool(np.asarray(smallest).astype(dtype))


def _row_counts(weights, dtype, blocks):
    """The number of non-zero entries of each point's row, or ``None`` if none is zero.

    A product of one weight per axis is zero where a factor is, and otherwise only if it
    underflows in ``dtype``; that is possible only if the product of the smallest non-zero
    magnitudes underflows (products are monotone in each factor), and then the products
    themselves are counted.
    """
    if _all_products_nonzero(weights, dtype):
        return None
    smallest, zero_points = np.float64(1.0), []
    for w in weights:
        zeros = np.flatnonzero(w == 0)  # rare: at the borders and on exact grid points
        magnitude = np.abs(w)
        magnitude.reshape(-1)[zeros] = np.inf
        smallest = smallest * magnitude.min(initial=1.0)
        zero_points.append(zeros % w.shape[1])
    if np.asarray(smallest).astype(dtype):
        if not any(z.size for z in zero_points):
            return None
        counts = np.ones(weights[0].shape[1], np.int64)
        for w, z in zip(weights, zero_points):
            counts *= w.shape[0] - np.bincount(z, minlength=w.shape[1])
        return counts
    return np.concatenate([np.count_nonzero(_products(weights, np.multiply, s, e, dtype), axis=0)
                           for s, e in blocks])


def _fill_data(out, weights, blocks, dirty):
    """Write the weight products row by row into ``out``, zeros left out.

    Returns the ``keep`` mask of every block (``None`` for blocks without zeros), in
    row-major order, for :func:`_fill_cols`.
    """
    keeps, pos = [], 0
    for (s, e), has_zeros in zip(blocks, dirty):
        block = _products(weights, np.multiply, s, e, out.dtype)
        keep = None
        if has_zeros:
            keep = np.empty(block.shape[::-1], bool)
            np.not_equal(block.T, 0, out=keep)
        pos = _put_rows(out, pos, block, keep)
        keeps.append(keep)
    return keeps


def _fill_cols(out, offsets, blocks, keeps):
    """Write the column indices (sums of the axes' offsets) row by row into ``out``, leaving
    out the entries that ``keeps`` (from :func:`_fill_data`) leaves out."""
    pos = 0
    for (s, e), keep in zip(blocks, keeps):
        pos = _put_rows(out, pos, _products(offsets, np.add, s, e, out.dtype), keep)


def _put_rows(out, pos, block, keep):
    """Write the tap-major ``block`` point by point into ``out`` from ``pos`` (its entries where
    ``keep`` is true, if given); returns the position after them."""
    if keep is None:
        stop = pos + block.size
        np.copyto(out[pos:stop].reshape(block.shape[::-1]), block.T)
        return stop
    kept = np.ascontiguousarray(block.T)[keep]
    out[pos:pos + kept.size] = kept
    return pos + kept.size


def _csr(n_rows, points, taps, weights, strides, n_cols, dtype):
    """The ``n_rows × n_cols`` CSR matrix with the tensor-product taps of ``points``.

    ``taps[h]``/``weights[h]`` are the ``(K, len(points))`` taps of axis ``h``; row
    ``points[i]`` holds column ``Σ_h taps[h][k_h, i] * strides[h]`` with weight
    ``Π_h weights[h][k_h, i]`` for every combination ``(k_0, k_1, …)``, in that
    (sorted) order, zero weights left out. The row counts come first (from the
    weights), so that the entries are written once, block by block of points, straight
    into snapshots of their final size; within a block the products are computed
    tap-major, so that NumPy's loops run over the points.
    """
    m = len(points)
    width = taps[0].shape[0] ** len(taps)
    index = _index_dtype(n_cols, m * width)
    blocks = _blocks(m, width)
    counts = _row_counts(weights, dtype, blocks)
    if counts is None:
        nnz, dirty = m * width, [False] * len(blocks)
    else:
        nnz = int(counts.sum())
        dirty = [bool((counts[s:e] < width).any()) for s, e in blocks]
    keeps = []
    data = new_snapshot((nnz,), dtype,
                        lambda out: keeps.extend(_fill_data(out, weights, blocks, dirty)))
    offsets = [np.multiply(t, s, dtype=index) for t, s in zip(taps, strides)]
    cols = new_snapshot((nnz,), index, lambda out: _fill_cols(out, offsets, blocks, keeps))
    indptr = new_snapshot((n_rows + 1,), index,
                          lambda out: _fill_indptr(out, points, counts, width))
    return _sp.csr_array((data, cols, indptr), shape=(n_rows, n_cols))


def _fill_indptr(out, points, counts, width):
    out[0] = 0
    if counts is None and len(points) == len(out) - 1:
        np.multiply(np.arange(1, len(out)), width, out=out[1:])
        return
    per_row = np.zeros(len(out) - 1, out.dtype)
    per_row[points] = width if counts is None else counts
    np.cumsum(per_row, out=out[1:])


def taps_matrix(coords, n: int, mode: str, order: int, dtype):
    """The ``len(coords) × n`` sparse interpolation matrix along one axis.

    Parameters
    ----------
    coords : 1-d array of float
        Coordinates along the axis (padding already added).
    n : int
        Axis length.
    mode : str
    order : int, 0–5
    dtype : numpy dtype of the matrix
    """
    return point_taps_matrix(np.asarray(coords, dtype=np.float64)[None, :], (n,), mode, order, dtype)


def point_taps_matrix(coords, in_shape, mode: str, order: int, dtype):
    """The ``P × prod(in_shape)`` sparse matrix interpolating at ``P`` points.

    Parameters
    ----------
    coords : float array, shape ``(ndim, P)``
    in_shape : tuple of int
    mode : str
    order : int, 0–5
    dtype : numpy dtype of the matrix
    """
    coords = np.asarray(coords, dtype=np.float64)
    P = coords.shape[1]
    folded = [fold_coordinates(c, n, mode) for c, n in zip(coords, in_shape)]
    inside = functools.reduce(np.logical_and, [f[1] for f in folded])
    points = np.arange(P) if inside.all() else np.flatnonzero(inside)
    taps, weights = [], []
    for (cc, _), n in zip(folded, in_shape):
        idx, w = _axis_taps(cc if len(points) == P else cc[points], n, mode, order)
        taps.append(idx)
        weights.append(w)
    strides = [int(np.prod(in_shape[h + 1:], dtype=np.int64)) for h in range(len(in_shape))]
    n_cols = int(np.prod(in_shape, dtype=np.int64))
    return _csr(P, points, taps, weights, strides, n_cols, dtype)


def affine_coordinates(matrix, offset, out_shape):
    """Input coordinates ``offset + matrix @ o`` for every output index ``o``, shape ``(ndim, P)``.

    Summed in SciPy's order (offset first, then one output axis after the other),
    so that coordinates on a rounding tie (order 0) or a border round exactly as
    in SciPy.
    """
    out_shape = tuple(int(s) for s in out_shape)
    grids = [np.arange(s, dtype=np.float64).reshape((-1,) + (1,) * (len(out_shape) - k - 1))
             for k, s in enumerate(out_shape)]
    coords = np.empty((matrix.shape[0],) + out_shape)
    for h in range(matrix.shape[0]):
        acc = np.float64(offset[h])
        for k, g in enumerate(grids):
            acc = acc + g * matrix[h, k]
        coords[h] = acc
    return coords.reshape(matrix.shape[0], -1)
