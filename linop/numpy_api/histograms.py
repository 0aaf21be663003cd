"""Weighted counting: ``np.bincount(x, weights=w)`` and ``np.histogram(a, weights=w)``.

Both are linear in the weights when the samples are constants: each weight is
added into the bin of its sample, which is one ``scatter_add`` with indices
computed once, with NumPy, when the call is traced. NumPy's own functions, run
on the constant samples, give the bins and raise NumPy's exceptions.
"""
from __future__ import annotations

import numpy as np

from ..errors import LinopError
from ..primitives.gather import gather, scatter_add
from ..primitives import shape as S
from ..core import is_tracer
from .registry import implements
from .util import nonlinear, to_dtype

__all__ = ["bincount", "histogram"]


def _refuse_traced_samples(what, *samples):
    if any(is_tracer(s) for s in samples):
        raise nonlinear(what, "the counts are piecewise constant in the sample values, which is "
                        "not linear; only the weights may be traced")


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
    if density:
        raise nonlinear("np.histogram(..., weights=traced, density=True)", "density divides by "
                        "the sum of the weights, which is not linear. Use density=False and "
                        "divide by the bin widths and the total weight outside the traced "
                        "function.")
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
