"""The numba kernel of :mod:`linop.scipy._interp`'s interpolation matrices (extra ``linop[fast]``).

:func:`csr_rows` writes a whole CSR matrix in one pass over its points: the taps and
weights of each point inside the signal, their products and columns, straight into
the matrix. It computes what :mod:`linop.scipy._interp`'s NumPy path computes over all
points at once, with the same formulas in the same order (the spline weights are
:func:`linop.scipy._splines.weights_into` itself, compiled) and no ``fastmath``: numba
does not contract a product and a sum into one rounding, so both paths give the same
bits (the tests compare them entry by entry). Points whose taps leave the signal come
with their taps already folded by the NumPy code. This module imports numba;
:mod:`linop.scipy._interp` imports it only when numba is installed, and the machine
code is cached on disk (``cache=True``).
"""
from __future__ import annotations

import numba
import numpy as np

from ._splines import weights_into

__all__ = ["edge_points", "csr_rows"]

_JIT = dict(cache=True, nogil=True, error_model="numpy")
#: The per-point helpers are inlined into the loop (numba's calls pass arrays with
#: reference counting, which costs more than the work of one point).
_INLINE = dict(_JIT, inline="always")
_weights = numba.njit(**_INLINE)(weights_into)

#: Taps from this magnitude on are left to NumPy (its ``int64`` conversion decides them).
_LARGEST_BASE = 2.0 ** 62


@numba.njit(**_INLINE)
def _base(c, order):
    """The tap that the ``order + 1`` taps of coordinate ``c`` are centred on, as a float."""
    return np.floor(c) if order & 1 else np.floor(c + 0.5)


@numba.njit(**_JIT)
def edge_points(cc, inside, shape, order, edges):
    """The points ``j`` with ``inside[j]`` (columns of ``cc``, ``(d, P)``) that have a tap
    outside ``[0, shape[h])`` along some axis ``h``, or too far out for an ``int64`` tap,
    into ``edges``; returns how many."""
    half = order // 2
    count = 0
    for j in range(cc.shape[1]):
        if not inside[j]:
            continue
        for h in range(cc.shape[0]):
            base = _base(cc[h, j], order)
            if not abs(base) < _LARGEST_BASE:
                break
            start = np.int64(base) - half
            if start < 0 or start > shape[h] - 1 - order:
                break
        else:
            continue
        edges[count] = j
        count += 1
    return count


@numba.njit(**_INLINE)
def _point_taps(cc, j, order, taps, w):
    """The taps ``taps[h, k]`` and weights ``w[h, k]`` of point ``j`` (inside the signal)."""
    half = order // 2
    for h in range(cc.shape[0]):
        c = cc[h, j]
        base = _base(c, order)
        _weights(c - base, order, w[h])
        start = np.int64(base) - half
        for k in range(order + 1):
            taps[h, k] = start + k


@numba.njit(**_INLINE)
def _entries_2(taps, w, strides, tiny, data, cols, pos):
    """:func:`_entries` for two axes (the common case: images), without the odometer."""
    K = w.shape[1]
    s0, s1 = strides[0], strides[1]
    start = pos
    for k0 in range(K):
        a, c = w[0, k0], taps[0, k0] * s0
        for k1 in range(K):
            value = a * w[1, k1]
            if not abs(value) <= tiny:  # a NaN is kept, as NumPy's != 0 keeps it
                data[pos] = value
                cols[pos] = c + taps[1, k1] * s1
                pos += 1
    return pos - start


@numba.njit(**_JIT)
def _entries(taps, w, strides, tiny, data, cols, pos, k, product, column):
    """Write the non-zero entries of one point's row from ``data[pos]``/``cols[pos]``, in
    column order: the products ``((w[0, k0] * w[1, k1]) * w[2, k2]) …`` (in float64, then
    rounded to ``data``'s dtype) at the columns ``Σ_h taps[h, k_h] * strides[h]``, ``k0``
    slowest, left out where they round to zero: where their magnitude is at most ``tiny``
    (0 for float64, half the smallest subnormal for float32: exactly the float64 values
    that round to zero). Returns how many; ``k``, ``product``, ``column`` are scratch of
    length ``d``."""
    d, K = w.shape
    k[:] = 0
    count = 0
    h = 0  # the axes from h on need their prefix product and column again
    while True:
        for g in range(h, d):
            if g == 0:
                product[0], column[0] = w[0, k[0]], taps[0, k[0]] * strides[0]
            else:
                product[g] = product[g - 1] * w[g, k[g]]
                column[g] = column[g - 1] + taps[g, k[g]] * strides[g]
        if not abs(product[d - 1]) <= tiny:
            data[pos + count] = product[d - 1]
            cols[pos + count] = column[d - 1]
            count += 1
        h = d - 1
        while h >= 0 and k[h] == K - 1:
            k[h] = 0
            h -= 1
        if h < 0:
            return count
        k[h] += 1


@numba.njit(**_JIT)
def csr_rows(cc, inside, strides, order, edges, edge_taps, edge_weights, tiny, indptr, data, cols):
    """Write the CSR matrix whose row ``j`` interpolates at point ``j`` where ``inside[j]``
    (the other rows are empty); returns its number of entries.

    ``cc`` (``(d, P)``) are the points' folded coordinates. The taps and weights of
    points ``edges`` (sorted) are ``edge_taps[:, e]``/``edge_weights[:, e]``
    (``(d, len(edges), K)``, folded into the signal); the others' are computed here.
    Entries that are zero in ``data``'s dtype (magnitude at most ``tiny``, see
    :func:`_entries`) are left out, so ``data`` and ``cols`` (room for ``K ** d`` entries
    per point inside) may be filled only in part.
    """
    d, P = cc.shape
    K = order + 1
    taps = np.empty((d, K), np.int64)
    w = np.empty((d, K))
    k = np.empty(d, np.int64)
    product = np.empty(d)
    column = np.empty(d, np.int64)
    pos = 0
    e = 0
    for j in range(P):
        indptr[j] = pos
        if not inside[j]:
            continue
        if e < edges.shape[0] and edges[e] == j:
            taps[:, :] = edge_taps[:, e]
            w[:, :] = edge_weights[:, e]
            e += 1
        else:
            _point_taps(cc, j, order, taps, w)
        if d == 2:
            pos += _entries_2(taps, w, strides, tiny, data, cols, pos)
        else:
            pos += _entries(taps, w, strides, tiny, data, cols, pos, k, product, column)
    indptr[P] = pos
    return pos
