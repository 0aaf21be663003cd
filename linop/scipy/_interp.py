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
zeros), built straight into snapshots (:func:`linop.snapshots.new_snapshots`),
so that capturing them copies nothing. The tests compare them with SciPy on
every order and mode.

Where numba is installed (the extra ``linop[fast]``), the kernel of
:mod:`linop.scipy._interp_kernels` writes each matrix in one pass over its points
(taps, weights, products and columns of every row, straight into the snapshots),
which gives the same matrices bit for bit and writes their memory once; the NumPy
path below builds them in blocks of points, in several passes. Either way the taps
that leave the signal are folded by the NumPy code here. ``LINOP_INTERP_NUMBA=0`` in
the environment switches the kernel off (:data:`NUMBA_ENV`), and so does numba's own
``NUMBA_DISABLE_JIT``; a kernel that fails warns once
(:class:`~linop.errors.InterpolationKernelWarning`) and NumPy takes over.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import warnings

import numpy as np
import scipy.sparse as _sp

from ..errors import InterpolationKernelWarning, user_location
from ..snapshots import new_snapshot, new_snapshots
from ._splines import weights_into

__all__ = ["fold_coordinates", "affine_coordinates", "taps_matrix", "point_taps_matrix",
           "NUMBA_ENV", "numba_kernels"]

#: The environment variable that switches the numba kernel off when set to ``0``.
NUMBA_ENV = "LINOP_INTERP_NUMBA"
#: The matrix dtypes the numba kernel builds (numba has no float16 or long double).
_KERNEL_DTYPES = frozenset({np.dtype(np.float32), np.dtype(np.float64)})
#: ``"module"``: the kernel module once imported; ``"failed"``: set when a kernel failed.
_KERNELS: dict = {}

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


def _interior_taps(cc, n, order, idx, w):
    """Taps and weights of folded coordinates ``cc`` into ``idx``/``w`` (``(order + 1, P)``)
    as if the signal were unbounded; returns the points whose taps leave ``[0, n)``."""
    base = np.floor(cc if order & 1 else cc + 0.5)
    weights_into(cc - base if order else cc, order, w)
    start = base.astype(np.int64)
    start -= order // 2
    np.add(start[None, :], np.arange(order + 1)[:, None], out=idx)
    return np.flatnonzero((start < 0) | (start > n - 1 - order))


def _fold_edges(idx, w, edge, n, mode, order):
    """Fold the taps of points ``edge`` into the signal, in place.

    The taps of each point are sorted, and a position repeated by the folding carries
    its weight once (the repeats get 0).
    """
    if not edge.size:
        return
    taps, weights = idx[:, edge], w[:, edge]
    outside = _fold_taps(taps, n, mode)
    if mode == "grid-constant":
        weights[outside] = 0.0
        np.clip(taps, 0, n - 1, out=taps)
    elif order:
        _merge_duplicates(taps, weights)
    idx[:, edge], w[:, edge] = taps, weights


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
    dtype = np.dtype(dtype)
    P = coords.shape[1]
    rows = list(coords)
    folded = [fold_coordinates(c, n, mode) for c, n in zip(rows, in_shape)]
    inside = functools.reduce(np.logical_and, [f[1] for f in folded])
    strides = np.array([np.prod(in_shape[h + 1:], dtype=np.int64) for h in range(len(in_shape))],
                       np.int64)
    n_cols = int(np.prod(in_shape, dtype=np.int64))
    kernels = numba_kernels() if dtype in _KERNEL_DTYPES else None
    if kernels is not None:
        unchanged = all(f[0] is c for f, c in zip(folded, rows))  # nearest, constant, ...
        cc = np.ascontiguousarray(coords) if unchanged else np.stack([f[0] for f in folded])
        try:
            return _kernel_csr(kernels, cc, inside, in_shape, mode, order, strides, n_cols, dtype)
        except Exception as error:  # numba could not compile or run it: NumPy builds the matrix
            _KERNELS["failed"] = True
            warnings.warn(InterpolationKernelWarning(
                f"the numba kernel of the interpolation matrices failed at {user_location()} "
                f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                f"NumPy builds them from now on, with the same results (set {NUMBA_ENV}=0 to "
                "skip the kernel)"), stacklevel=2)
    points = np.arange(P) if inside.all() else np.flatnonzero(inside)
    cc = [c if len(points) == P else c[points] for c, _ in folded]
    taps, weights = _folded_taps(cc, in_shape, mode, order)
    return _csr(P, points, taps, weights, strides, n_cols, dtype)


def _folded_taps(cc, in_shape, mode, order):
    """Taps and weights of folded coordinates ``cc`` (``d`` arrays of ``m``), folded into
    the signal: two lists of ``d`` arrays ``(order + 1, m)``."""
    shape = (order + 1, len(cc[0]))
    taps, weights = [], []
    for h, n in enumerate(in_shape):
        idx, w = np.empty(shape, np.int64), np.empty(shape)
        _fold_edges(idx, w, _interior_taps(cc[h], n, order, idx, w), n, mode, order)
        taps.append(idx)
        weights.append(w)
    return taps, weights


def numba_kernels():
    """The module of the numba kernel (:mod:`linop.scipy._interp_kernels`), or ``None`` where
    it is not used: numba is not installed, ``$LINOP_INTERP_NUMBA`` is ``0``, numba's
    ``NUMBA_DISABLE_JIT`` is set, or the kernel failed before in this process. Imports
    numba on first use."""
    if os.environ.get(NUMBA_ENV, "1").strip() == "0" or _KERNELS.get("failed"):
        return None
    if "module" not in _KERNELS:
        module = None
        if importlib.util.find_spec("numba") is not None:
            module = importlib.import_module(f"{__package__}._interp_kernels")
            if module.numba.config.DISABLE_JIT:
                module = None
        _KERNELS["module"] = module
    return _KERNELS["module"]


def _rounds_to_zero(dtype) -> float:
    """The largest float64 magnitude that rounds to zero in ``dtype`` (float32 or float64)."""
    if dtype == np.float64:
        return 0.0
    return float(np.finfo(dtype).smallest_subnormal) / 2  # exact; ties round to even: 0


def _kernel_csr(kernels, cc, inside, in_shape, mode, order, strides, n_cols, dtype):
    """:func:`_csr` of the points ``inside`` at folded coordinates ``cc`` (``(d, P)``),
    written by the numba kernel in one pass; the taps of points with some outside the
    signal are folded here first."""
    P, width = cc.shape[1], (order + 1) ** len(in_shape)
    m = int(np.count_nonzero(inside))
    edges = np.empty(m, np.int64)
    edges = edges[:kernels.edge_points(cc, inside, np.array(in_shape, np.int64), order, edges)]
    edge_taps, edge_weights = _folded_taps(cc[:, edges], in_shape, mode, order)
    # point-major, as the kernel reads them
    edge_taps = np.ascontiguousarray(np.stack(edge_taps).transpose(0, 2, 1))
    edge_weights = np.ascontiguousarray(np.stack(edge_weights).transpose(0, 2, 1))
    index = _index_dtype(n_cols, m * width)

    def fill(indptr, data, cols):
        nnz = kernels.csr_rows(cc, inside, strides, order, edges, edge_taps, edge_weights,
                               _rounds_to_zero(dtype), indptr, data, cols)
        return None, nnz, nnz

    indptr, data, cols = new_snapshots(
        [((P + 1,), index), ((m * width,), dtype), ((m * width,), index)], fill, lazy=True)
    return _sp.csr_array((data, cols, indptr), shape=(P, n_cols))


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
            if k == len(grids) - 1:  # the last sum straight into the result
                np.add(acc, g * matrix[h, k], out=coords[h])
            else:
                acc = acc + g * matrix[h, k]
        if not grids:
            coords[h] = acc
    return coords.reshape(matrix.shape[0], -1)
