"""Advanced indexing: integer arrays and boolean masks, ``take``, ``compress``, writes.

Reads lower to one ``gather`` on an axis made by merging the indexed axes
(after slicing, inserting ``None`` axes and, where NumPy moves the broadcast
index dimensions to the front, a transpose). Writes lower to ``mask`` plus
``scatter_add`` over flat positions.

NumPy itself decides every question of semantics: each function first applies
the user's index to a cheap stand-in array (a broadcast boolean, or
``arange`` of the positions), so shapes, bounds, broadcasting and the
exceptions raised are NumPy's own.

Writes follow NumPy: ``y[idx] = v`` with a repeated position keeps the value
of the *last* occurrence (in C order of ``y[idx]``), and ``y[idx] += v`` adds
once per position (it is ``y[idx] = y[idx] + v``); only ``np.add.at``
accumulates repeats.
"""
from __future__ import annotations

import operator

import numpy as np

from ..errors import ArrayAssignmentError, LinopError, user_location
from ..primitives import arithmetic as A, shape as S
from ..primitives.gather import gather, scatter_add
from ..core import is_tracer
from .registry import implements, implements_method, implements_ufunc_method
from .util import fresh, nonlinear, normalize_axis, shape_of, to_linear, unsupported
from .basic_index import BasicIndex, value_for
from .views import assign

__all__ = ["AdvancedIndex", "getitem", "setitem", "take", "take_along_axis", "put_along_axis",
           "compress", "add_at", "scatter_at", "flat_positions", "write_positions",
           "refuse_traced_index", "refuse_plain_target"]


# -- checking and probing indices ----------------------------------------------------------
def _contains_tracer(obj) -> bool:
    if is_tracer(obj):
        return True
    if isinstance(obj, (tuple, list)):
        return any(_contains_tracer(o) for o in obj)
    return False


def refuse_traced_index(index, what: str):
    """Raise :class:`NonLinearError` when ``index`` contains a traced array."""
    if _contains_tracer(index):
        raise nonlinear(what, "an index computed from the input is data-dependent, which is not "
                        "linear. Indices, masks and conditions must be constants.")


def _stand_in(shape) -> np.ndarray:
    """A read-only array of ``shape`` that costs one byte, for NumPy to index."""
    return np.broadcast_to(np.zeros((), bool), shape)


def flat_positions(shape, index) -> np.ndarray:
    """``arange(size).reshape(shape)[index]``: the flat position of each selected element."""
    size = int(np.prod(shape, dtype=np.int64))
    return np.arange(size, dtype=np.intp).reshape(shape)[index]


def _ravel(x):
    return S.reshape(x, (x.size,))


# -- reading: x[index] ---------------------------------------------------------------------
def _classify(entry):
    """``(kind, value)`` of one entry of an index NumPy has already accepted."""
    if entry is None:
        return "new", None
    if entry is Ellipsis:
        return "ellipsis", None
    if isinstance(entry, slice):
        return "slice", entry
    if isinstance(entry, (bool, np.bool_)):
        return "bool0", bool(entry)
    if isinstance(entry, (list, tuple, np.ndarray)):
        arr = np.asarray(entry)
        if arr.dtype == bool:
            return ("bool0", bool(arr)) if arr.ndim == 0 else ("mask", arr)
        if arr.size == 0 and not np.issubdtype(arr.dtype, np.integer):
            arr = arr.astype(np.intp)  # an empty list indexes as an empty integer array
        return ("int", int(arr)) if arr.ndim == 0 else ("array", arr)
    return "int", operator.index(entry)


class _Layout:
    """Per-axis plan of an index on ``x`` with its ``None`` axes inserted.

    Attributes
    ----------
    shape : list of int
        Shape of ``x`` with a length-1 axis for each ``None`` and scalar boolean.
    slices : list of slice
        One per axis of that shape (``slice(None)`` on advanced axes).
    advanced : list of (int, ndarray)
        Each advanced axis with its integer index array.
    entries : list of int
        Positions in the index of the advanced entries (NumPy's placement rule).
    """

    def __init__(self, entries, shape):
        self.shape, self.slices, self.advanced, self.entries = [], [], [], []
        consumed = sum(v.ndim if k == "mask" else 1 for k, v in entries
                       if k in ("slice", "int", "array", "mask"))
        axes = iter(shape)
        for pos, (kind, value) in enumerate(entries):
            if kind == "new":
                self._axis(1)
            elif kind == "bool0":  # a new axis indexed by [0] (True) or [] (False)
                self._axis(1, np.zeros(int(value), np.intp), pos)
            elif kind == "ellipsis":
                for _ in range(len(shape) - consumed):
                    self._axis(next(axes))
            elif kind == "slice":
                self._axis(next(axes), sl=value)
            else:
                arrays = np.nonzero(value) if kind == "mask" else (np.asarray(value),)
                for arr in arrays:
                    self._axis(next(axes), arr, pos)
        for dim in axes:  # an implicit trailing ellipsis
            self._axis(dim)

    def _axis(self, dim, index=None, pos=None, sl=slice(None)):
        if index is not None:
            self.advanced.append((len(self.shape), index))
            if not self.entries or self.entries[-1] != pos:
                self.entries.append(pos)
        self.shape.append(dim)
        self.slices.append(sl)


class AdvancedIndex:
    """A validated advanced index, lowered to slice + gather.

    Parameters
    ----------
    index : object
        Any index NumPy accepts, with at least one integer array or boolean.
    shape : tuple of int
        Shape of the indexed array.

    Attributes
    ----------
    out_shape : tuple of int
        Shape of ``x[index]``, as NumPy computes it.
    """

    def __init__(self, index, shape):
        self.out_shape = _stand_in(shape)[index].shape  # NumPy's checks and errors
        entries = [_classify(e) for e in (index if isinstance(index, tuple) else (index,))]
        layout = _Layout(entries, shape)
        self.expanded_shape = tuple(layout.shape)
        self.basic = BasicIndex(tuple(layout.slices), self.expanded_shape)
        self.axes = [a for a, _ in layout.advanced]
        # NumPy keeps the broadcast index dimensions in place only when the advanced
        # entries are next to each other in the index; otherwise they go first.
        self.in_place = layout.entries[-1] - layout.entries[0] + 1 == len(layout.entries)
        dims = [self.basic.sliced_shape[a] for a in self.axes]
        self.flat = _merged_index([arr for _, arr in layout.advanced], dims)

    def read(self, x):
        """``x[index]`` on a tracer or an array."""
        y = self.basic.read(S.reshape(x, self.expanded_shape))
        k, axes = len(self.axes), self.axes
        if not self.in_place:
            rest = [a for a in range(y.ndim) if a not in axes]
            y = S.transpose(y, axes + rest)
            axes = list(range(k))
        first = axes[0]
        merged = int(np.prod([y.shape[a] for a in axes], dtype=np.int64))
        y = S.reshape(y, tuple(y.shape[:first]) + (merged,) + tuple(y.shape[first + k:]))
        out = gather(y, self.flat, first)
        if tuple(out.shape) != tuple(self.out_shape):
            raise LinopError(f"advanced indexing produced shape {tuple(out.shape)} where NumPy "
                             f"gives {self.out_shape}; this is a bug in linop, please report it")
        return out


def _merged_index(arrays, dims) -> np.ndarray:
    """Row-major flat index into the merged axes ``dims`` of broadcast index ``arrays``."""
    arrays = np.broadcast_arrays(*[np.asarray(a, np.intp) for a in arrays])
    flat = np.zeros(arrays[0].shape, np.intp)
    for arr, dim in zip(arrays, dims):
        flat = flat * dim + np.where(arr < 0, arr + dim, arr)
    return flat


def getitem(x, index):
    """``x[index]`` for an index with integer arrays or booleans: a copy, as in NumPy.

    Parameters
    ----------
    x : Tracer
    index : object
        Integers, slices, ``None``, ``...``, integer arrays and boolean masks
        (constants).

    Returns
    -------
    Tracer
    """
    refuse_traced_index(index, "indexing with a traced array")
    return AdvancedIndex(index, tuple(x.shape)).read(x)


# -- writing: x[index] = value, np.add.at, np.put_along_axis ------------------------------
def _last_occurrences(positions) -> np.ndarray | None:
    """Indices of the last occurrence of each distinct position, or None if none repeats."""
    if positions.size <= 1:
        return None
    rev = positions[::-1]
    _, first_in_rev = np.unique(rev, return_index=True)
    if first_in_rev.size == positions.size:
        return None
    return np.sort(positions.size - 1 - first_in_rev)


def write_positions(x, positions, values):
    """A new value of ``x`` with ``values`` stored at the flat ``positions`` (same shape).

    Repeated positions keep the last value, as NumPy's ``x[idx] = v`` does.
    """
    positions = positions.reshape(-1)
    values = S.reshape(values, (positions.size,))
    if positions.size == 0:
        return fresh(x)
    keep = _last_occurrences(positions)
    if keep is not None:
        values, positions = gather(values, keep, 0), positions[keep]
    written = np.zeros(x.size, bool)
    written[positions] = True
    stored = S.reshape(scatter_add(values, positions, 0, x.size), x.shape)
    if written.all():
        return stored
    return A.add(A.mask(x, ~written.reshape(x.shape)), stored)


def setitem(x, index, value):
    """The new value of ``x`` after ``x[index] = value`` (advanced ``index``).

    Parameters
    ----------
    x : Tracer
    index : object
        A constant advanced index.
    value : Tracer or array_like
        Broadcast to ``x[index].shape`` and cast to ``x.dtype`` as NumPy does.

    Returns
    -------
    Tracer
        The full new value of ``x``; the caller assigns it.
    """
    refuse_traced_index(index, "assignment with a traced index")
    positions = flat_positions(tuple(x.shape), index)
    values = value_for(x, positions.shape, value)
    return write_positions(x, positions, values)


def refuse_plain_target(target, what: str):
    """Raise :class:`ArrayAssignmentError` when ``what`` would write into a plain array."""
    if not is_tracer(target):
        raise ArrayAssignmentError(
            f"at {user_location()}: {what} writes a traced array into a plain NumPy array (for "
            "example one made by np.zeros(n)), which linop cannot record. Create the target from "
            "the input instead: y = np.zeros_like(x, shape=(n,)), then call it on y.")


@implements_ufunc_method(np.add, "at")
def add_at(a, indices, b=None, **kwargs):
    """``np.add.at(a, indices, b)``: unbuffered addition, repeated indices accumulate.

    Updates the traced ``a`` in place and returns ``None``, as NumPy does.
    """
    if b is None:
        raise ValueError("second operand needed for ufunc")
    if kwargs:
        raise TypeError(f"at() got an unexpected keyword argument {next(iter(kwargs))!r}")
    scatter_at(a, indices, b, "np.add.at")


def scatter_at(a, indices, b, what: str):
    """Add ``b`` into the traced ``a`` at ``indices`` in place, repeats accumulating (``what``)."""
    refuse_plain_target(a, what)
    refuse_traced_index(indices, f"{what} with a traced index")
    positions = flat_positions(tuple(a.shape), indices)
    vshape = shape_of(b)
    try:
        fits = S.broadcast_shapes(vshape, positions.shape) == positions.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError("array is not broadcastable to correct shape")
    values = to_linear(b, a.dtype, positions.shape, what)
    added = scatter_add(S.reshape(values, (positions.size,)), positions.reshape(-1), 0, a.size)
    assign(a, A.add(a, S.reshape(added, a.shape)))


@implements(np.put_along_axis)
def put_along_axis(arr, indices, values, axis):
    """``np.put_along_axis``: ``arr`` (traced) is updated in place; the last write wins."""
    refuse_plain_target(arr, "np.put_along_axis")
    refuse_traced_index(indices, "np.put_along_axis with traced indices")
    positions = np.take_along_axis(flat_positions(tuple(arr.shape), ...), indices, axis)
    assign(arr, write_positions(arr, positions, value_for(arr, positions.shape, values)))


# -- functions that read ------------------------------------------------------------------
@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    """``np.take_along_axis`` with constant ``indices``."""
    refuse_traced_index(indices, "np.take_along_axis with traced indices")
    positions = np.take_along_axis(flat_positions(tuple(arr.shape), ...), indices, axis)
    return gather(_ravel(arr), positions, 0)


def _axis_probe(shape, axis) -> np.ndarray:
    """``arange(n)`` along ``axis`` with length-1 axes elsewhere (NumPy names the right axis)."""
    n = shape[axis]
    return np.arange(n, dtype=np.intp).reshape((1,) * axis + (n,) + (1,) * (len(shape) - axis - 1))


def _prepare_axis(a, axis, what):
    if is_tracer(axis):
        raise nonlinear(f"{what} with a traced axis", "the axis must be a Python integer")
    if axis is None:
        return _ravel(a), 0
    return a, normalize_axis(axis, a.ndim)


def _out_unsupported(out, what):
    if out is not None:
        raise unsupported(f"{what} with out=", "Assign the result instead: y[...] = result.")


@implements(np.take, method="take")
def take(a, indices, axis=None, out=None, mode="raise"):
    """``np.take`` with constant ``indices`` and modes raise, wrap and clip."""
    refuse_traced_index(indices, "np.take with traced indices")
    _out_unsupported(out, "np.take")
    a, axis = _prepare_axis(a, axis, "np.take")
    picked = np.take(_axis_probe(a.shape, axis), indices, axis=axis, mode=mode)
    idx = picked.reshape(np.shape(indices))
    return gather(a, idx, axis)


@implements_method("compress")
def compress_method(x, condition, axis=None, out=None):
    """``x.compress(condition)``, as ``ndarray.compress``."""
    return np.compress(condition, x, axis=axis, out=out)


@implements(np.compress)
def compress(condition, a, axis=None, out=None):
    """``np.compress`` with a constant ``condition``."""
    refuse_traced_index(condition, "np.compress with a traced condition")
    _out_unsupported(out, "np.compress")
    a = a if is_tracer(a) else np.asarray(a)
    a, axis = _prepare_axis(a, axis, "np.compress")
    picked = np.compress(condition, _axis_probe(a.shape, axis), axis=axis)
    return gather(a, picked.reshape(-1), axis)
