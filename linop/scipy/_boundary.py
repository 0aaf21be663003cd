"""Index maps of the boundary modes of scipy.signal and scipy.ndimage, as sparse matrices.

A boundary mode extends a 1-d signal of length ``n`` beyond its ends. Every
extension is linear: sample ``i`` (any integer) of the extended signal is
either a sample of the signal or zero. :func:`extend_index` gives that map,
:func:`weights_matrix` turns (index, weight) lists into a sparse matrix for
``sparse_matmul``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as _sp

__all__ = ["extend_index", "weights_matrix", "extension_matrix"]

_HALF_SAMPLE = {"reflect", "symm", "symmetric", "grid-mirror"}
_WHOLE_SAMPLE = {"mirror"}
_PERIODIC = {"wrap", "grid-wrap", "circular"}
_EDGE = {"nearest"}
_ZERO = {"constant", "grid-constant", "fill"}


def extend_index(idx, n: int, mode: str):
    """The source sample of extended positions ``idx`` of a length-``n`` signal.

    Parameters
    ----------
    idx : array of int
        Positions, possibly outside ``[0, n)``.
    n : int
        Signal length (> 0).
    mode : str
        ``reflect``/``symm``/``grid-mirror`` (d c b a | a b c d | d c b a),
        ``mirror`` (d c b | a b c d | c b a), ``wrap``/``grid-wrap``
        (periodic), ``nearest`` (edge value), ``constant``/``grid-constant``/
        ``fill`` (zero outside).

    Returns
    -------
    source : array of int
        Index into the signal (clipped into range where ``valid`` is false).
    valid : array of bool
        False where the extended sample is zero.
    """
    idx = np.asarray(idx, dtype=np.int64)
    valid = np.ones(idx.shape, bool)
    if mode in _HALF_SAMPLE:
        r = np.mod(idx, 2 * n)
        src = np.where(r < n, r, 2 * n - 1 - r)
    elif mode in _WHOLE_SAMPLE:
        if n == 1:
            src = np.zeros_like(idx)
        else:
            r = np.mod(idx, 2 * n - 2)
            src = np.where(r < n, r, 2 * n - 2 - r)
    elif mode in _PERIODIC:
        src = np.mod(idx, n)
    elif mode in _EDGE:
        src = np.clip(idx, 0, n - 1)
    elif mode in _ZERO:
        valid = (idx >= 0) & (idx < n)
        src = np.clip(idx, 0, n - 1)
    else:
        raise ValueError(f"unknown boundary mode {mode!r}")
    return src, valid


def weights_matrix(rows, cols, weights, shape, dtype):
    """A CSR matrix with entries ``weights`` at ``(rows, cols)`` (duplicates summed, zeros dropped).

    Parameters
    ----------
    rows, cols : arrays of int
    weights : array
    shape : (int, int)
    dtype : numpy dtype
    """
    rows, cols, weights = np.broadcast_arrays(rows, cols, np.asarray(weights, dtype=dtype))
    rows, cols, weights = rows.ravel(), cols.ravel(), weights.ravel()
    keep = weights != 0
    m = _sp.coo_array((weights[keep], (rows[keep], cols[keep])), shape=shape, dtype=dtype).tocsr()
    # No stored zeros (duplicates that cancel included): a product with the matrix then never
    # computes 0 * inf, so non-finite samples stay where they are.
    m.eliminate_zeros()
    return m


def extension_matrix(n: int, before: int, after: int, mode: str, dtype=np.float64):
    """The ``(before + n + after) × n`` 0/1 matrix that extends a signal by ``mode``."""
    positions = np.arange(-before, n + after)
    src, valid = extend_index(positions, n, mode)
    return weights_matrix(np.arange(positions.size), src, valid.astype(dtype),
                          (positions.size, n), dtype)
