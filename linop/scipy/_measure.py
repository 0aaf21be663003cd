"""``scipy.ndimage``'s labelled sums and means of a traced input, with constant labels.

``sum_labels(input, labels, index)`` and ``mean(...)`` are linear in ``input``
when ``labels`` and ``index`` are constants. SciPy's rules are kept exactly:
without ``labels`` the whole input is one group, without ``index`` every label
greater than zero is, a scalar ``index`` selects one label (these three give
the input's dtype for a sum, as ``ndarray.sum``), and an array ``index`` gives
one float64 result per entry (SciPy's ``bincount``), 0 for a label that does not
occur. Labels are matched as SciPy matches them: integer labels by their value
(an ``index`` cast to int), other labels by equality with ``index``.

A mean over an empty group is NaN in SciPy whatever the input: not a linear
function of it, so it is refused with :class:`~linop.AffineError`.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as _sp

from ..errors import AffineError, user_location
from ..numpy_api.util import to_dtype
from ..primitives import arithmetic as A, shape as S
from ..primitives.sparse_matmul import sparse_matmul

__all__ = ["labelled_sum"]


def _integer_labels(labels) -> bool:
    """Whether SciPy uses the labels' values as group numbers (its ``bincount`` branch)."""
    int_size = np.dtype(int).itemsize
    dt = labels.dtype
    castable = ((np.issubdtype(dt, np.signedinteger) and dt.itemsize <= int_size)
                or (np.issubdtype(dt, np.unsignedinteger) and dt.itemsize < int_size))
    return castable and labels.min() >= 0 and labels.max() <= labels.size


def _groups(labels, index):
    """Group number of every element, and the group each ``index`` entry selects (-1: none)."""
    flat = labels.ravel()
    if _integer_labels(labels):
        selected = np.asanyarray(index, np.int_).ravel()
        found = (selected >= 0) & (selected <= flat.max())
        return flat.astype(np.int64), np.where(found, selected, -1)
    unique, group = np.unique(flat, return_inverse=True)
    wanted = np.asanyarray(index).ravel()
    selected = np.searchsorted(unique, wanted)
    selected[selected >= unique.size] = 0
    found = unique[selected] == wanted
    return group.reshape(-1), np.where(found, selected, -1)


def _selection_matrix(group, selected, mean):
    """Row ``k`` sums (or averages) the elements of group ``selected[k]``."""
    order = np.argsort(group, kind="stable")
    ordered = group[order]
    lo = np.searchsorted(ordered, selected, "left")
    counts = np.where(selected >= 0, np.searchsorted(ordered, selected, "right") - lo, 0)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    within = np.arange(indptr[-1]) - np.repeat(indptr[:-1] - lo, counts)
    data = np.repeat(1.0 / np.maximum(counts, 1) if mean else np.ones(counts.size), counts)
    matrix = _sp.csr_array((data, order[within], indptr), shape=(selected.size, group.size))
    return matrix, counts


def _empty_mean(what, where):
    return AffineError(
        f"{what} at {user_location()}: {where} has no element, and SciPy's mean there is "
        "NaN (0/0) whatever the input: a constant, not a linear function of the input. Pass "
        "only labels that occur, or use sum_labels and divide by the counts yourself.")


def _single_group(x, mask, mean, what):
    """The sum (or mean) of the elements of ``x`` where ``mask`` holds (all of them for ``None``)."""
    total = S.reduce_sum(x if mask is None else A.mask(x, mask), tuple(range(x.ndim)))
    if not mean:
        return total
    count = x.size if mask is None else int(np.count_nonzero(mask))
    if count == 0:
        raise _empty_mean(what, "the selected group")
    out = to_dtype(total, np.result_type(total.dtype, np.float64), what)
    return A.div(out, np.float64(count))


def labelled_sum(input, labels, index, mean, what):
    """``sum_labels`` (or ``mean`` for ``mean=True``) of a traced ``input``.

    Parameters
    ----------
    input : Tracer
    labels : array_like or None
        Constant; broadcast against ``input`` as SciPy does.
    index : scalar, array_like or None
        Constant.
    mean : bool
    what : str
        The public name, for errors.

    Returns
    -------
    Tracer
        0-d for a single group, else of ``np.shape(index)``.
    """
    if labels is None:
        return _single_group(input, None, mean, what)
    labels = np.asarray(labels)
    shape = np.broadcast_shapes(input.shape, labels.shape)
    x = S.broadcast_to(input, shape) if tuple(input.shape) != shape else input
    labels = np.broadcast_to(labels, shape)
    if index is None:
        return _single_group(x, labels > 0, mean, what)
    if np.isscalar(index):
        return _single_group(x, labels == index, mean, what)
    group, selected = _groups(labels, index)
    matrix, counts = _selection_matrix(group, selected, mean)
    if mean and np.any(counts == 0):
        missing = np.asanyarray(index).ravel()[counts == 0]
        raise _empty_mean(what, f"the label(s) {missing.tolist()} of index")
    flat = S.reshape(to_dtype(x, np.float64, what), (x.size,))
    return S.reshape(sparse_matmul(flat, matrix, 0), np.shape(index))
