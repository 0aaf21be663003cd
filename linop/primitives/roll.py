"""``roll[shifts, axes]``: cyclic shift, as ``np.roll``.

Its transpose is the roll by the opposite shifts. (A roll could be written with two
slices and a concatenate, but then its transpose would be two pads and an add.)
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive

__all__ = ["roll", "roll_p"]


class Roll(Primitive):
    """Cyclic shift by ``shifts`` along ``axes`` (distinct, non-negative; shifts in ``[0, n)``)."""

    name = "roll"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def impl(self, x, *, shifts, axes):
        return np.roll(x, shifts, axes)

    def array_impl(self, ns, x, *, shifts, axes):
        return ns.xp.roll(x, shift=shifts, axis=axes)

    fused_form = "element"

    def fused_element(self, loop, index, *, shifts, axes):
        inner = list(index)
        for s, a in zip(shifts, axes):
            i, n = index[a], loop.in_avals[0].shape[a]
            inner[a] = loop.temp(f"{i} - {loop.int(s)} if {i} >= {loop.int(s)} "
                                 f"else {i} + {loop.int(n - s)}")
        return loop.read(0, inner)

    def abstract_eval(self, x, *, shifts, axes):
        if len(set(axes)) != len(axes) or any(not 0 <= a < x.ndim for a in axes):
            raise ValueError(f"roll: bad axes {axes} for {x.short()}")
        return x

    moves_elements = True

    def transpose(self, ct, x, *, shifts, axes):
        return (roll(ct, tuple(-s for s in shifts), axes),)

    def batch(self, size, x, *, shifts, axes):
        return roll(x, shifts, tuple(a + 1 for a in axes))

    def batch_last(self, size, x, *, shifts, axes):
        return roll(x, shifts, axes)


roll_p = Roll()


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
