"""The levels of eager ``vmap`` calls, and the primitives that mark where a level begins.

Each eager ``vmap`` is a :class:`BatchLevel`, active (registered in a thread-local
table) while its function runs. :data:`batch_broadcast_p` broadcasts a linear
value that does not depend on the examples over a level's batch axis; its
transpose :data:`unbatch_p` turns a cotangent's leading axis back into the batch
axis (only :func:`linop.batched.programs.run_batched` can evaluate it).
"""
from __future__ import annotations

import itertools
import threading

import numpy as np

from ..errors import BatchingError, LinopError, user_location
from ..ir import ShapeDtype
from ..primitives import shape as S
from ..core import Primitive, active_builders

__all__ = ["BatchLevel", "active_level", "active_levels", "check_active", "batch_broadcast_p",
           "unbatch_p"]

_local = threading.local()
_serials = itertools.count(1)


def _active() -> dict:
    levels = getattr(_local, "levels", None)
    if levels is None:
        levels = _local.levels = {}
    return levels


def active_levels() -> list:
    """The levels of the eager vmaps running now in this thread, outermost first."""
    return sorted(_active().values(), key=lambda level: level.serial)


class BatchLevel:
    """One eager ``vmap``: its batch size and axis name, and its place in the nesting.

    Use as a context manager around the call of the vmapped function; values of a
    level are refused after it exits.

    Attributes
    ----------
    size : int
    axis_name : hashable or None
    serial : int
        Increases with nesting (an inner vmap's level has a larger serial).
    outer_builders : frozenset
        Ids of the traces active when the vmap started: their tracers are
        broadcast plainly (the batch is part of their function), while tracers of
        traces started inside get a ``batch_broadcast`` boundary.
    """

    def __init__(self, size: int, axis_name=None):
        self.size = int(size)
        self.axis_name = axis_name
        self.serial = next(_serials)
        self.outer_builders = frozenset(id(b) for b in active_builders())
        self.active = False

    def __enter__(self):
        self.active = True
        _active()[self.serial] = self
        return self

    def __exit__(self, *exc):
        self.active = False
        _active().pop(self.serial, None)

    def __repr__(self) -> str:
        name = "" if self.axis_name is None else f" {self.axis_name!r}"
        return f"<vmap axis{name} of size {self.size}>"


def active_level(serial: int) -> BatchLevel:
    """The active level with ``serial``, or a clear error when its vmap has returned."""
    level = _active().get(serial)
    if level is None:
        raise BatchingError(
            f"at {user_location()}: a program that transposes per-example values of a linop.vmap "
            "ran after that vmap returned; call it inside the vmapped function")
    return level


def check_active(level: BatchLevel):
    """Refuse a value of ``level`` once its vmap has returned (it was stored outside)."""
    if not level.active:
        raise BatchingError(
            f"at {user_location()}: a per-example value of {level} was used after that vmap "
            "returned (it was stored outside the function); return it from the function instead")


def _lead_swap(ndim):
    return (1, 0) + tuple(range(2, ndim))


class BatchBroadcast(Primitive):
    """Broadcast a linear value over the batch axis of an eager vmap (a new leading axis).

    It marks where an example-independent linear value meets per-example data, so
    that its transpose (:class:`Unbatch`) can keep cotangents per example.
    """

    name = "batch_broadcast"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def impl(self, x, *, level, axis_name, size):
        return np.broadcast_to(x, (size,) + np.shape(x))

    def abstract_eval(self, x, *, level, axis_name, size):
        return ShapeDtype((size,) + x.shape, x.dtype)

    def transpose(self, ct, x, *, level, axis_name, size):
        return (unbatch_p.bind(ct, level=level, axis_name=axis_name, size=size),)

    def batch(self, n, x, *, level, axis_name, size):
        return S.transpose(self.bind(x, level=level, axis_name=axis_name, size=size),
                           _lead_swap(x.ndim + 1))


class Unbatch(Primitive):
    """The transpose of :class:`BatchBroadcast`: the leading axis becomes the vmap's batch axis.

    Only :func:`linop.batched.programs.run_batched`, inside the vmap of that axis,
    can run it: the result is a per-example value, not an array.
    """

    name = "unbatch"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def impl(self, x, *, level, axis_name, size):
        raise LinopError(
            f"a transposed program with per-example cotangents over vmap axis {axis_name!r} ran "
            "outside linop's batching interpretation; call the linear_transpose result instead")

    def abstract_eval(self, x, *, level, axis_name, size):
        return ShapeDtype(x.shape[1:], x.dtype)

    def transpose(self, ct, x, *, level, axis_name, size):
        return (batch_broadcast_p.bind(ct, level=level, axis_name=axis_name, size=size),)

    def batch(self, n, x, *, level, axis_name, size):
        return self.bind(S.transpose(x, _lead_swap(x.ndim)), level=level, axis_name=axis_name,
                         size=size)


batch_broadcast_p = BatchBroadcast()
unbatch_p = Unbatch()
