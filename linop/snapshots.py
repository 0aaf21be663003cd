"""Snapshots: private, read-only copies of the constants a trace captures.

A program keeps the values its constants had when the trace recorded them, whatever
the caller does to its arrays afterwards. A snapshot is a read-only array over memory
that only linop holds (:func:`is_snapshot`); :class:`Captures` takes the snapshots of
one trace, storing equal constants once. Below :mod:`linop.ir`, whose
:class:`~linop.ir.Const` is the :class:`Capturable` that holds them.
"""
from __future__ import annotations

import copy
import math
import mmap
import weakref

import numpy as np

__all__ = ["Capturable", "Captures", "snapshot", "is_snapshot", "new_snapshot", "new_snapshots",
           "writeable_alias", "values_equal", "compact"]


class Capturable:
    """A parameter value that captures itself: :meth:`Captures.value` and
    :meth:`Captures.params` hand it to its :meth:`captured` (:class:`linop.ir.Const`).
    """

    __slots__ = ()

    def captured(self, captures: "Captures"):
        """This value with its arrays snapshotted by ``captures``; by default ``self``, a
        value held by reference."""
        return self


class _SnapshotBuffer(bytearray):
    """Memory that only linop's snapshots view: no user code holds it."""

    __slots__ = ()


class _FreshSnapshotBuffer(mmap.mmap):
    """Like :class:`_SnapshotBuffer`, for large snapshots computed in place with
    ``new_snapshots(..., lazy=True)``: a private anonymous mapping, whose pages the
    system commits on first write, so that the values are written once and room left
    unwritten costs no memory (a ``bytearray`` is zero-filled first)."""


# Lazy snapshots from this many bytes get a _FreshSnapshotBuffer: below it, a mapping's page
# granularity and system call cost more than the zero-fill they save.
_FRESH_BYTES = 1 << 17
_MAP_FLAGS = {"flags": mmap.MAP_PRIVATE} if hasattr(mmap, "MAP_PRIVATE") else {}
_BUFFER_TYPES = (_SnapshotBuffer, _FreshSnapshotBuffer)


def _memory_owner(array: np.ndarray):
    """The object at the end of ``array``'s chain of ``base`` arrays (``None`` if it owns its data)."""
    base = array.base
    while isinstance(base, np.ndarray):
        base = base.base
    return base


def _snapshot_buffer(array: np.ndarray):
    """The private buffer under a snapshot (or a view of one), else ``None``."""
    base = _memory_owner(array)
    if type(base) is memoryview and base.readonly and type(base.obj) in _BUFFER_TYPES:
        return base.obj
    return None


def is_snapshot(array: np.ndarray) -> bool:
    """Whether nothing outside linop can change ``array``'s values.

    True for snapshots (:func:`snapshot`) and their views: read-only arrays
    over a read-only view of memory that only linop holds (their ``WRITEABLE``
    flag cannot be set again); and for arrays over a ``bytes`` object, which
    nothing can change. A read-only view of a writeable array is not (its base
    can still be written), nor is a read-only array that owns its memory (its
    ``WRITEABLE`` flag can be set again).
    """
    return _snapshot_buffer(array) is not None or type(_memory_owner(array)) is bytes


def writeable_alias(array: np.ndarray) -> np.ndarray:
    """A writeable array over the same memory as the snapshot ``array`` (no copy).

    For NumPy functions that copy read-only arguments on every call
    (``np.take``'s indices, ``np.bincount``'s positions): primitives hand them
    this alias instead, made once when a plan is compiled. Never write through it.

    Parameters
    ----------
    array : numpy.ndarray
        A snapshot or a view of one; any other array is returned as it is.
    """
    buffer = _snapshot_buffer(array)
    if buffer is None or array.size == 0:
        return array
    start = np.frombuffer(buffer, np.uint8).__array_interface__["data"][0]
    offset = array.__array_interface__["data"][0] - start
    return np.ndarray(array.shape, array.dtype, buffer=buffer, offset=offset,
                      strides=array.strides)


def _frozen(buffer, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """The read-only snapshot array over the start of ``buffer`` (C order)."""
    view = memoryview(buffer).toreadonly()
    return np.frombuffer(view[:math.prod(shape) * dtype.itemsize], dtype).reshape(shape)


def _fresh_buffer(nbytes: int, lazy: bool):
    """Private memory for a snapshot about to be written (committed on write if ``lazy``)."""
    if lazy and nbytes >= _FRESH_BYTES:
        return _FreshSnapshotBuffer(-1, nbytes, **_MAP_FLAGS)
    return _SnapshotBuffer(nbytes)


def new_snapshot(shape, dtype, fill) -> np.ndarray:
    """A snapshot computed straight into linop's memory (no copy of a temporary).

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy.dtype
    fill : callable
        ``fill(out)`` writes the values into ``out``, a writeable C-ordered array
        of ``shape`` and ``dtype`` (e.g. ``np.multiply(a, b, out=out)``); ``out``
        must not be kept. Its initial values are undefined: ``fill`` must write
        every element.

    Returns
    -------
    numpy.ndarray
        The read-only snapshot of what ``fill`` wrote (see :func:`is_snapshot`).
    """
    def fill_all(out):
        fill(out)  # whatever it returns (``np.multiply(..., out=out)`` returns ``out``)

    return new_snapshots([(shape, dtype)], fill_all)[0]


def new_snapshots(specs, fill, lazy: bool = False) -> tuple:
    """Several snapshots computed together by one call (see :func:`new_snapshot`).

    Parameters
    ----------
    specs : sequence of ``(shape, dtype)``
    fill : callable
        ``fill(*outs)`` writes the values into ``outs``, one writeable C-ordered
        array per spec, whose initial values are undefined; none may be kept. It
        returns ``None`` when it filled them all, or, for a result of unknown size
        written into room for the largest, how many leading rows of each it filled
        (``None`` for all): each snapshot is then those rows.
    lazy : bool
        Give large snapshots memory that the system commits page by page where it
        is first written (a private memory map), instead of memory that is zeroed
        first: for a ``fill`` that writes its values once and may leave room
        unused, which then costs address space, not memory. (Without ``lazy``,
        memory that the process freed before is reused, already committed, which
        is faster for a ``fill`` that writes in several passes.)

    Returns
    -------
    tuple of numpy.ndarray
        The read-only snapshots of what ``fill`` wrote, in the order of ``specs``.
    """
    specs = [(tuple(shape), np.dtype(dtype)) for shape, dtype in specs]
    buffers, outs = [], []
    for shape, dtype in specs:
        if dtype.hasobject or dtype.itemsize == 0:
            buffers.append(None)
            outs.append(np.empty(shape, dtype))
        else:
            buffers.append(_fresh_buffer(math.prod(shape) * dtype.itemsize, lazy))
            outs.append(np.ndarray(shape, dtype, buffer=buffers[-1]))
    rows = fill(*outs)
    rows = [None] * len(specs) if rows is None else list(rows)
    if len(rows) != len(specs) or any(
            n is not None and not 0 <= n <= (spec[0][0] if spec[0] else 0) for n, spec in zip(rows, specs)):
        raise ValueError(f"new_snapshots: fill returned {rows!r} for arrays of shapes "
                         f"{[spec[0] for spec in specs]}: expected None or one row count (or None) each")
    done = []
    for (shape, dtype), buffer, out, n in zip(specs, buffers, outs, rows):
        if n is not None:
            shape = (n,) + shape[1:]
            out = out[:n]
        done.append(_private_copy(out) if buffer is None else _frozen(buffer, shape, dtype))
    return tuple(done)


def compact(array: np.ndarray) -> np.ndarray:
    """The values ``array`` really holds: broadcast (zero-stride) axes reduced to length 1."""
    return array[tuple(slice(0, 1) if s == 0 else slice(None) for s in array.strides)]


def _copy_into_buffer(core: np.ndarray) -> tuple:
    """``(buffer, array)``: a read-only copy of ``core`` in linop's own memory (one copy, C order)."""
    if core.dtype.hasobject or core.dtype.itemsize == 0:
        return None, _private_copy(core)
    buffer = _SnapshotBuffer(core.nbytes)
    np.ndarray(core.shape, core.dtype, buffer=buffer)[...] = core
    return buffer, _frozen(buffer, core.shape, core.dtype)


def _broadcast_back(frozen: np.ndarray, shape: tuple) -> np.ndarray:
    return frozen if frozen.shape == shape else np.broadcast_to(frozen, shape)


# Arrays above this many bytes are remembered by identity, so that capturing one again
# compares it with its snapshot instead of copying it.
_LARGE = 4096
_UINTS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _memory_key(array: np.ndarray):
    """``(key, owner)``: which memory ``array`` views (owner, address, layout), or ``None``."""
    owner = array
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    try:
        weakref.ref(owner)
    except TypeError:
        return None
    address = array.__array_interface__["data"][0]
    return (id(owner), address, array.shape, array.strides, array.dtype), owner


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` (same dtype and shape) hold the same bytes, element by element."""
    if a.dtype.hasobject:
        return False
    if np.iscomplexobj(a) and a.dtype.itemsize // 2 in _UINTS:
        return _same_bits(a.real, b.real) and _same_bits(a.imag, b.imag)
    uint = _UINTS.get(a.dtype.itemsize)
    return uint is not None and bool(np.array_equal(a.view(uint), b.view(uint)))


def _private_copy(array: np.ndarray) -> np.ndarray:
    # Object arrays (and zero-size items) cannot live in bytes: a read-only private copy instead.
    copy = array.copy()
    copy.setflags(write=False)
    return copy


def snapshot(array) -> np.ndarray:
    """A private copy of ``array``'s current values (``array`` itself if already a snapshot).

    A broadcast array (``np.broadcast_to``) is copied once per distinct value
    and broadcast again, never materialised.

    Parameters
    ----------
    array : array_like

    Returns
    -------
    numpy.ndarray
        Same shape, dtype and values; see :func:`is_snapshot`.
    """
    return Captures().array(np.asarray(array))


def values_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Same shape, dtype and bits, element by element, except that any NaN equals any NaN.

    So ``-0.0`` differs from ``0.0`` (``1 / x`` tells them apart) while NaNs with
    different payloads are equal (real and imaginary parts compared separately).
    """
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if np.iscomplexobj(a):
        return values_equal(a.real, b.real) and values_equal(a.imag, b.imag)
    if not np.issubdtype(a.dtype, np.inexact):
        return bool(np.array_equal(a, b))
    uint = _UINTS.get(a.dtype.itemsize)
    if uint is None:  # long double: padding bytes carry no value
        return bool(np.all((a == b) & (np.signbit(a) == np.signbit(b)) | (np.isnan(a) & np.isnan(b))))
    same = a.view(uint) == b.view(uint)
    return bool(same.all() or np.all(same | (np.isnan(a) & np.isnan(b))))


# Parameter types that never hold a constant (NumPy dtypes included).
_PLAIN = frozenset({int, float, complex, bool, str, type(None), slice, np.dtype}
                   | {type(np.dtype(c)) for c in "?bhilqBHILQefdgFDG"})


_CONTAINERS = frozenset({tuple, list, dict})
_CONTAINER_BASES = (tuple, list, dict)
# What a primitive without nested constants keeps as it is, unsearched.
_KEPT_AT_TOP = _PLAIN | _CONTAINERS


def _is_sparse_matrix(value) -> bool:
    return type(value).__module__.startswith("scipy.sparse") and hasattr(value, "tocsr")


class Captures:
    """The constants captured by one trace (:attr:`linop.core.Builder.captures`): snapshots,
    each stored once.

    A constant is captured when the trace records an equation that uses it:
    whatever the caller does to its arrays afterwards, the program keeps the
    values of that moment. Constants with equal dtype, shape and bytes share one
    snapshot (and one :class:`~linop.ir.Const`), so a constant used twice is stored once;
    a buffer changed between two uses gives two snapshots. Immutable arrays
    (earlier snapshots and their views) are used as they are.
    """

    __slots__ = ("_entries", "_consts", "_seen")

    def __init__(self):
        self._entries: dict = {}
        self._consts: dict = {}
        self._seen: dict = {}

    def _entry(self, value: np.ndarray) -> list:
        """``[bytes, snapshot, its shared wrapper or None]`` for the current values of ``value``."""
        where = _memory_key(value) if value.nbytes > _LARGE else None
        if where is not None:
            seen = self._seen.get(where[0])
            if seen is not None and seen[0]() is where[1] and _same_bits(value, seen[1][1]):
                return seen[1]  # the same memory again, unchanged: no new copy
        shape = value.shape
        core = compact(value) if shape and 0 in value.strides else value
        data, frozen = _copy_into_buffer(core)
        if data is None:
            return [None, _broadcast_back(frozen, shape), None]
        # Keyed by a sample of the bytes (hashing all of a large array costs more than copying
        # it); candidates are compared in full.
        sample = (bytes(data[:64]), bytes(data[-64:]))
        bucket = self._entries.setdefault((core.dtype, core.shape, shape) + sample, [])
        for entry in bucket:
            if entry[0] == data:
                break
        else:
            entry = [data, _broadcast_back(frozen, shape), None]
            bucket.append(entry)
        if where is not None:
            self._seen[where[0]] = (weakref.ref(where[1]), entry)
        return entry

    def array(self, value: np.ndarray) -> np.ndarray:
        """A snapshot of the current values of ``value`` (an ndarray)."""
        return value if is_snapshot(value) else self._entry(value)[1]

    def shared(self, value: np.ndarray, wrap):
        """The one ``wrap(snapshot)`` of this trace for ``value``'s current values.

        :meth:`linop.ir.Const.captured` passes ``wrap=Const``, so that a constant used
        twice is one :class:`~linop.ir.Const`.
        """
        entry = self._entry(value)
        if entry[2] is None:
            entry[2] = wrap(entry[1])
        return entry[2]

    def unique(self, const: Capturable, key: tuple) -> Capturable:
        """The constant already captured under ``key`` (ids of its snapshots), else ``const``."""
        return self._consts.setdefault((type(const),) + key, const)

    def value(self, value, nested: bool = True):
        """A parameter value with the constants in it captured.

        :class:`Capturable` objects (:class:`~linop.ir.Const`), arrays and SciPy sparse
        matrices are captured;
        with ``nested``, so are those inside tuples, lists and dicts (their
        subclasses too: named tuples, ``OrderedDict``), and lists and dicts are
        copied with their type (the caller may mutate them). Other objects are kept.
        """
        kind = type(value)
        if kind in _PLAIN:
            return value
        if isinstance(value, Capturable):
            return value.captured(self)
        if kind is np.ndarray:
            return self.array(value)
        if nested and isinstance(value, _CONTAINER_BASES):
            return self._container(value)
        if isinstance(value, np.ndarray):  # a subclass (masked, matrix): keep its type
            return _private_copy(value)
        if _is_sparse_matrix(value):
            return value.copy()
        return value

    def _container(self, value):
        kind = type(value)
        if isinstance(value, tuple):
            items = tuple(self.value(v) for v in value)
            if all(a is b for a, b in zip(items, value)):
                return value
            if kind is tuple:
                return items
            return kind._make(items) if hasattr(kind, "_make") else kind(items)
        copied = copy.copy(value)  # the same type (and a defaultdict its factory)
        if isinstance(value, list):
            copied[:] = [self.value(v) for v in value]
        else:
            for k, v in value.items():
                copied[k] = self.value(v)
        return copied

    def params(self, params: dict, nested: bool = False) -> dict:
        """``params`` with its constants captured (the same dict when nothing changes).

        Parameters
        ----------
        params : dict
        nested : bool
            Also search tuples, lists and dicts (see :meth:`value`).
        """
        captured = None
        kept = _PLAIN if nested else _KEPT_AT_TOP
        for key, value in params.items():
            if type(value) in kept:
                continue
            new = value.captured(self) if isinstance(value, Capturable) else self.value(value, nested)
            if new is not value:
                if captured is None:
                    captured = dict(params)
                captured[key] = new
        return params if captured is None else captured
