"""Weighted counting: ``np.bincount(x, weights=w)``, ``np.histogram``, ``np.histogram2d`` and
``np.histogramdd`` with ``weights=w``.

All are linear in the weights when the samples are constants: each weight is
added into the bin of its sample, which is one ``scatter_add`` with indices
computed once, with NumPy, when the call is traced. NumPy's own functions, run
on the constant samples, give the bins and raise NumPy's exceptions.
"""
from __future__ import annotations

import numpy as np

from ..errors import LinopError
from ..primitives.gather import gather, scatter_add
from ..primitives import shape as S
from ..primitives.slice import slice_
from ..core import is_tracer
from .registry import implements
from .util import nonlinear, to_dtype

__all__ = ["bincount", "histogram", "histogram2d", "histogramdd"]


def _refuse_traced_samples(what, *samples):
    if any(is_tracer(s) or isinstance(s, (list, tuple)) and any(map(is_tracer, s))
           for s in samples):
        raise nonlinear(what, "the counts are piecewise constant in the sample values, which is "
                        "not linear; only the weights may be traced")


def _refuse_density(what, density):
    if density:
        raise nonlinear(f"{what}(..., weights=traced, density=True)", "density divides by "
                        "the sum of the weights, which is not linear. Use density=False and "
                        "divide by the bin widths and the total weight outside the traced "
                        "function.")


@implements(np.bincount)
def bincount(x, weights=None, minlength=0):
    """``np.bincount(x, weights=w)`` with constant ``x``: linear in ``w`` (result float64).

    An empty ``x`` gives NumPy's integer zeros of length ``minlength``, whatever the weights.
    """
    _refuse_traced_samples("np.bincount(x, ...) with traced x", x)
    idx = np.asarray(x)
    counts = np.bincount(idx, minlength=minlength)  # NumPy's checks of x and minlength
    if idx.size == 0:  # NumPy ignores the weights of an empty list: integer zeros
        return counts
    if weights.ndim != 1:
        raise ValueError("object too deep for desired array" if weights.ndim > 1 else
                         "object of too small depth for desired array")
    if weights.shape[0] != idx.shape[0]:
        raise ValueError("The weights and list don't have the same length.")
    if np.issubdtype(weights.dtype, np.complexfloating):
        raise TypeError(f"Cannot cast array data from {weights.dtype!r} to dtype('float64') "
                        "according to the rule 'safe'")
    w = to_dtype(weights, np.float64, "np.bincount")
    return scatter_add(w, idx.astype(np.intp), 0, counts.shape[0])


@implements(np.histogram)
def histogram(a, bins=10, range=None, density=None, weights=None):
    """``np.histogram(a, bins, range, weights=w)`` with constant ``a``: linear in ``w``.

    ``density=True`` divides by the sum of the weights, which is not linear.
    """
    _refuse_traced_samples("np.histogram(a, ...) with traced a, bins or range", a, bins, range)
    _refuse_density("np.histogram", density)
    a = np.asarray(a)
    if tuple(weights.shape) != a.shape:
        raise ValueError("weights should have the same shape as a.")
    # NumPy's checks for weighted data (no automatic bin estimation), then NumPy's bins.
    np.histogram_bin_edges(a, bins, range, weights=np.zeros(a.shape, weights.dtype))
    counts, edges = np.histogram(a, bins, range)
    samples = a.reshape(-1)
    n_bins = edges.shape[0] - 1
    bin_of = np.searchsorted(edges, samples, side="right") - 1
    bin_of[samples == edges[-1]] = n_bins - 1  # the last bin includes its right edge
    inside = (samples >= edges[0]) & (samples <= edges[-1])
    if not np.array_equal(np.bincount(bin_of[inside], minlength=n_bins), counts):
        raise LinopError(f"np.histogram: linop's bin assignment disagrees with NumPy's for "
                         f"these samples; please report this with the bins {bins!r}")
    w = S.reshape(weights, (samples.shape[0],))
    if not inside.all():
        w = gather(w, np.flatnonzero(inside), 0)
    return scatter_add(w, bin_of[inside], 0, n_bins), edges


def _sample_matrix(sample) -> np.ndarray:
    """The ``(N, D)`` samples, as NumPy's ``histogramdd`` reads ``sample``."""
    if len(getattr(sample, "shape", ())) == 2:
        return np.asarray(sample)
    return np.atleast_2d(sample).T


@implements(np.histogramdd)
def histogramdd(sample, bins=10, range=None, density=None, weights=None):
    """``np.histogramdd(sample, bins, range, weights=w)`` with constant samples: linear in ``w``
    (result float64, as NumPy's); ``density=True`` is not linear."""
    _refuse_traced_samples("np.histogramdd(sample, ...) with traced sample, bins or range",
                           sample, bins, range)
    _refuse_density("np.histogramdd", density)
    counts, edges = np.histogramdd(sample, bins, range)  # NumPy's checks and edges
    samples = _sample_matrix(sample)
    n_bins = np.array([len(e) + 1 for e in edges], np.intp)  # an outlier bin on each end
    positions = []
    for i, e in enumerate(edges):
        position = np.searchsorted(e, samples[:, i], side="right")
        position[samples[:, i] == e[-1]] -= 1  # the last bin includes its right edge
        positions.append(position)
    flat = np.ravel_multi_index(tuple(positions), n_bins)
    core = tuple(slice(1, -1) for _ in n_bins)
    if not np.array_equal(np.bincount(flat, minlength=n_bins.prod()).reshape(n_bins)[core],
                          counts):
        raise LinopError("np.histogramdd: linop's bin assignment disagrees with NumPy's for "
                         "these samples; please report this with the bins")
    hist = S.reshape(bincount(flat, weights, int(n_bins.prod())), tuple(n_bins))
    d = len(n_bins)
    return slice_(hist, (1,) * d, tuple(n_bins - 1), (1,) * d), edges


@implements(np.histogram2d)
def histogram2d(x, y, bins=10, range=None, density=None, weights=None):
    """``np.histogram2d(x, y, bins, range, weights=w)`` with constant ``x``, ``y``: linear in
    ``w`` (result float64, as NumPy's); ``density=True`` is not linear."""
    _refuse_traced_samples("np.histogram2d(x, y, ...) with traced x, y, bins or range",
                           x, y, bins, range)
    try:
        n = len(bins)
    except TypeError:
        n = 1
    if n not in (1, 2):
        edges = np.asarray(bins)
        bins = [edges, edges]
    hist, edges = histogramdd([x, y], bins, range, density, weights)
    return hist, edges[0], edges[1]
