"""Shift-like primitives: ``cumsum`` (running sum) and ``roll`` (cyclic shift).

* ``cumsum[axis, reverse]``: running sum along ``axis``, from the end when
  ``reverse``; its transpose is the running sum in the other direction.
* ``roll[shifts, axes]``: cyclic shift, as ``np.roll``; its transpose is the
  roll by the opposite shifts. (A roll could be written with two slices and a
  concatenate, but then its transpose would be two pads and an add.)
"""
from __future__ import annotations

import numpy as np

from .base import Primitive

__all__ = ["cumsum", "roll", "cumsum_p", "roll_p"]


class Cumsum(Primitive):
    """Running sum along ``axis`` (from the end when ``reverse``)."""

    name = "cumsum"

    def impl(self, x, *, axis, reverse):
        if not reverse:
            return np.cumsum(x, axis=axis)
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)

    def abstract_eval(self, x, *, axis, reverse):
        if not 0 <= axis < x.ndim:
            raise ValueError(f"cumsum: axis {axis} out of range for {x.short()}")
        return x

    def transpose(self, ct, x, *, axis, reverse):
        return (cumsum(ct, axis, not reverse),)

    def batch(self, size, x, *, axis, reverse):
        return cumsum(x, axis + 1, reverse)


class Roll(Primitive):
    """Cyclic shift by ``shifts`` along ``axes`` (distinct, non-negative; shifts in ``[0, n)``)."""

    name = "roll"

    def impl(self, x, *, shifts, axes):
        return np.roll(x, shifts, axes)

    def abstract_eval(self, x, *, shifts, axes):
        if len(set(axes)) != len(axes) or any(not 0 <= a < x.ndim for a in axes):
            raise ValueError(f"roll: bad axes {axes} for {x.short()}")
        return x

    def transpose(self, ct, x, *, shifts, axes):
        return (roll(ct, tuple(-s for s in shifts), axes),)

    def batch(self, size, x, *, shifts, axes):
        return roll(x, shifts, tuple(a + 1 for a in axes))


cumsum_p, roll_p = Cumsum(), Roll()


def cumsum(x, axis, reverse=False):
    """Record or compute a running sum along ``axis``."""
    return cumsum_p.bind(x, axis=int(axis), reverse=bool(reverse))


def roll(x, shifts, axes):
    """Record or compute a cyclic shift; shifts are reduced modulo the axis lengths.

    A no-op (the input itself) when every shift is a multiple of its axis length.
    """
    pairs = {}
    for s, a in zip(shifts, axes):
        a = int(a)
        pairs[a] = pairs.get(a, 0) + int(s)
    kept = [(s % x.shape[a], a) for a, s in sorted(pairs.items()) if x.shape[a] and s % x.shape[a]]
    if not kept:
        return x
    return roll_p.bind(x, shifts=tuple(s for s, _ in kept), axes=tuple(a for _, a in kept))
