"""``cumsum[axis, reverse]``: running sum along ``axis``, from the end when ``reverse``.

Its transpose is the running sum in the other direction.
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive

__all__ = ["cumsum", "cumsum_p"]


class Cumsum(Primitive):
    """Running sum along ``axis`` (from the end when ``reverse``)."""

    name = "cumsum"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def emit(self, args, avals, bind, *, axis, reverse):
        if not reverse:
            return f"{args[0]}.cumsum({axis})"
        flip = bind((slice(None),) * axis + (slice(None, None, -1),))  # np.flip's view
        return f"{args[0]}[{flip}].cumsum({axis})[{flip}]"

    def impl(self, x, *, axis, reverse):
        if not reverse:
            return np.cumsum(x, axis=axis)
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)

    def array_impl(self, ns, x, *, axis, reverse):
        xp = ns.xp
        if not reverse:
            return xp.cumulative_sum(x, axis=axis)
        return xp.flip(xp.cumulative_sum(xp.flip(x, axis=axis), axis=axis), axis=axis)

    fused_form = "loops"

    def fused_loops(self, loop, *, axis, reverse):
        x = loop.in_avals[0]
        out = loop.output(zeros=False)
        if axis == x.ndim - 1:  # along the innermost loop: the running sum stays in a local
            with loop.nest(x.shape[:-1], parallel=True) as outer:  # rows are independent
                total = loop.temp(loop.additive_identity())  # keeps a leading -0.0
                with loop.nest(x.shape[-1:], reverse=(0,) if reverse else ()) as inner:
                    loop.emit(f"{total} = {total} + {loop.read(0, outer + inner)}")
                    loop.emit(f"{loop.at(out, outer + inner)} = {total}")
            return
        with loop.nest(x.shape, reverse=(axis,) if reverse else ()) as index:
            value = loop.read(0, index)
            previous = list(index)
            previous[axis] = f"{index[axis]} {'+' if reverse else '-'} 1"
            first = f"{index[axis]} == {loop.int(x.shape[axis] - 1 if reverse else 0)}"
            loop.emit(f"{loop.at(out, index)} = {value} if {first} "
                      f"else {loop.at(out, previous)} + {value}")

    def abstract_eval(self, x, *, axis, reverse):
        if not 0 <= axis < x.ndim:
            raise ValueError(f"cumsum: axis {axis} out of range for {x.short()}")
        return x

    def transpose(self, ct, x, *, axis, reverse):
        return (cumsum(ct, axis, not reverse),)

    def batch(self, size, x, *, axis, reverse):
        return cumsum(x, axis + 1, reverse)

    def batch_last(self, size, x, *, axis, reverse):
        return cumsum(x, axis, reverse)


cumsum_p = Cumsum()


def cumsum(x, axis, reverse=False):
    """Record or compute a running sum along ``axis``."""
    return cumsum_p.bind(x, axis=int(axis), reverse=bool(reverse))
