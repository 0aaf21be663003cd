"""In-place writes into traced arrays: ``np.put``, ``np.place``, ``np.putmask``, ``np.copyto``,
``np.fill_diagonal`` and ``x.flat``.

Each write replaces the target's value (through views, as
:func:`~linop.numpy_api.views.assign` does for ``x[idx] = v``) by one
``gather`` of the written values and one masked ``scatter_add``
(:func:`~linop.numpy_api.advanced_indexing.write_positions`).

NumPy itself decides which element receives which value: each function runs
once on a *probe*, an integer array of the target's shape filled with ``-1``,
with ``arange(values.size)`` (in the values' shape) in place of the values. The
probe then holds, at each written position, the index of the value NumPy
stored there, so cycling of short values, the last write winning, the modes of
``np.put``, ``wrap=`` of ``np.fill_diagonal`` and every exception are NumPy's.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import AffineError, ConversionError, user_location
from ..primitives import arithmetic as A, shape as S
from ..primitives.gather import gather
from ..core import is_tracer
from .registry import implements, implements_method
from .util import shape_of, to_dtype, to_linear
from .advanced_indexing import refuse_plain_target, refuse_traced_index, write_positions
from .basic_index import value_for
from .indexing import stack_sequence
from .views import assign

__all__ = ["put", "place", "putmask", "copyto", "fill_diagonal", "FlatIterator"]


def _probe(shape, values, write):
    """Flat positions NumPy's ``write(target, sources)`` stores to, and which value each gets."""
    nv = int(np.prod(shape_of(values), dtype=np.int64))
    probe = np.full(shape, -1, np.intp)
    write(probe, np.arange(nv, dtype=np.intp).reshape(shape_of(values)))
    flat = probe.reshape(-1)
    positions = np.flatnonzero(flat >= 0)
    return positions, flat[positions]


def _written_values(a, values, sources, what: str):
    """The values stored in ``a`` (``values`` flattened and picked by ``sources``), as tracers."""
    if is_tracer(values):
        v = to_dtype(values, a.dtype, what)
        return gather(S.reshape(v, (v.size,)), sources, 0)
    picked = np.asarray(values).reshape(-1)[sources]
    return to_linear(picked, a.dtype, picked.shape, what)


def _write(a, values, write, what: str):
    """Replace ``a``'s value by NumPy's ``write(a, values)`` (``a`` traced, through views)."""
    values = stack_sequence(values)
    refuse_plain_target(a, what)
    positions, sources = _probe(tuple(a.shape), values, write)
    assign(a, write_positions(a, positions, _written_values(a, values, sources, what)))


@implements(np.put, method="put")
def put(a, ind, v, mode="raise"):
    """``np.put(a, ind, v, mode)`` (also ``a.put``): ``a.flat[ind] = v``, ``v`` repeated cyclically.

    ``ind`` is constant; ``mode`` ``'raise'``, ``'wrap'`` or ``'clip'`` as in NumPy;
    a repeated index keeps the last value. Updates the traced ``a`` in place.
    """
    refuse_traced_index(ind, "np.put with traced indices")
    _write(a, v, lambda t, s: np.put(t, ind, s, mode=mode), "np.put")


@implements(np.place)
def place(arr, mask, vals):
    """``np.place(arr, mask, vals)``: the first ``mask.sum()`` values (cycled) where ``mask`` is set.

    ``mask`` is a constant of ``arr``'s size. Updates the traced ``arr`` in place.
    """
    refuse_traced_index(mask, "np.place with a traced mask")
    _write(arr, vals, lambda t, s: np.place(t, mask, s), "np.place")


@implements(np.putmask)
def putmask(a, /, mask, values):
    """``np.putmask(a, mask, values)``: ``a.flat[n] = values.flat[n % values.size]`` where ``mask``.

    ``mask`` is a constant of ``a``'s size. Updates the traced ``a`` in place.
    """
    refuse_traced_index(mask, "np.putmask with a traced mask")
    _write(a, values, lambda t, s: np.putmask(t, mask, s), "np.putmask")


@implements(np.fill_diagonal)
def fill_diagonal(a, val, wrap=False):
    """``np.fill_diagonal(a, val, wrap)``: ``val`` (traced, or the constant 0) on the diagonal.

    A non-zero constant ``val`` makes the map affine and is refused: fill with 0 and
    add the constant diagonal outside the traced function.
    """
    refuse_plain_target(a, "np.fill_diagonal")
    if not is_tracer(val) and np.any(np.asarray(val) != 0):
        raise AffineError(
            f"np.fill_diagonal(a, {np.asarray(val)!r}) at {user_location()} writes a non-zero "
            "constant into a traced array, which makes the map affine, not linear. Fill with 0 "
            "here and add the constant diagonal (for example c * np.eye(n)) to the result "
            "outside the traced function.")
    _write(a, val, lambda t, s: np.fill_diagonal(t, s, wrap=wrap), "np.fill_diagonal")


@implements(np.copyto)
def copyto(dst, src, casting="same_kind", where=True):
    """``np.copyto(dst, src, casting, where)``: ``src`` broadcast into the traced ``dst``.

    ``where`` is a constant mask (broadcast to ``dst``); ``casting`` is checked as
    NumPy does. A constant ``src`` must be zero where it is written.
    """
    refuse_plain_target(dst, "np.copyto")
    refuse_traced_index(where, "np.copyto with a traced where=")
    src = stack_sequence(src)
    stand_in = np.broadcast_to(np.zeros((), src.dtype), src.shape) if is_tracer(src) else src
    with warnings.catch_warnings():  # the checks only: a complex src is refused below
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        np.copyto(np.zeros(dst.shape, dst.dtype), stand_in, casting=casting, where=where)
    mask = np.broadcast_to(np.asarray(where, bool), dst.shape)
    if is_tracer(src):
        value = value_for(dst, tuple(dst.shape), src)
    else:
        written = np.where(mask, np.asarray(src), 0)
        value = to_linear(written, dst.dtype, tuple(dst.shape), "np.copyto of a constant")
    if not mask.all():
        value = A.add(A.mask(dst, ~mask), A.mask(value, mask))
    assign(dst, value)


# -- x.flat ------------------------------------------------------------------------------
class FlatIterator:
    """``x.flat`` of a traced array: reads and writes ``x`` as if it were 1-D (C order).

    ``x.flat[index]`` is a copy (a 0-d array for an integer index), as NumPy's
    ``flatiter`` gives; ``x.flat[index] = v`` writes into ``x`` (and so into the
    arrays ``x`` is a view of), ``v`` flattened and repeated cyclically.
    """

    __slots__ = ("base",)

    def __init__(self, base):
        self.base = base

    def __len__(self) -> int:
        return self.base.size

    def __iter__(self):
        return (self[i] for i in range(self.base.size))

    def __getitem__(self, index):
        refuse_traced_index(index, "x.flat[...] with a traced index")
        x = self.base
        positions = np.arange(x.size, dtype=np.intp).reshape(x.shape).flat[index]
        return gather(S.reshape(x, (x.size,)), np.asarray(positions), 0)

    def __setitem__(self, index, value):
        refuse_traced_index(index, "x.flat[...] = v with a traced index")
        x = self.base
        x.builder.check_open()
        _write(x, value, lambda t, s: t.flat.__setitem__(index, s), "x.flat[...] = v")

    def copy(self):
        """A flattened copy of the base array, as ``flatiter.copy``."""
        return self[...]

    def __array__(self, dtype=None, copy=None):
        self.base.builder.check_open()
        raise ConversionError(
            f"at {user_location()}: x.flat of a traced array was used as an array (np.asarray "
            "or a NumPy function called on it), which needs its values. Use x.ravel() (or "
            "x.flat[...]) instead, which linop traces.")


def _get_flat(x):
    return FlatIterator(x)


def _set_flat(x, value):
    FlatIterator(x)[...] = value


implements_method("flat")(property(_get_flat, _set_flat, doc="""\
    A 1-D iterator over the array (``numpy.flatiter``): ``x.flat[i]`` reads, ``x.flat[i] = v``
    and ``x.flat = v`` write into ``x``."""))
