"""Strided slice, its transpose (zero padding with interior padding), slice updates, concatenate."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..ir import Eqn, ShapeDtype
from ..core import zeros
from .arithmetic import add_p, neg, neg_p, sub_p
from ..core import Primitive, selection_jacobians, sparse_identity

__all__ = ["slice_", "pad", "concatenate", "update_slice", "slice_p", "pad_p", "concatenate_p",
           "update_slice_p", "add_slice_p"]


def _count(start: int, stop: int, step: int) -> int:
    return max(0, (stop - start + step - 1) // step)


def _index(starts, stops, steps) -> tuple:
    """The basic index ``x[start:stop:step, ...]`` of a slice primitive's parameters."""
    return tuple(slice(a, b, s) for a, b, s in zip(starts, stops, steps))


class Slice(Primitive):
    """``x[start:stop:step, ...]`` with positive steps and normalised bounds."""

    name = "slice"
    returns_view = True
    returns_fresh = False
    real_linear = False

    def emit(self, args, avals, bind, *, starts, stops, steps):
        index = _index(starts, stops, steps)
        return f"{args[0]}[{bind(index)}]"

    def impl(self, x, *, starts, stops, steps):
        return x[_index(starts, stops, steps)]

    def abstract_eval(self, x, *, starts, stops, steps):
        return ShapeDtype(tuple(_count(a, b, s) for a, b, s in zip(starts, stops, steps)), x.dtype)

    def sparse_jacobian(self, x, **params):
        return selection_jacobians(self, [x], self.abstract_eval(x, **params), params)

    def transpose(self, ct, x, *, starts, stops, steps):
        lo, hi, interior = [], [], []
        for dim, a, n, s in zip(x.shape, starts, ct.shape, steps):
            if n == 0:
                lo.append(0), hi.append(dim), interior.append(0)
                continue
            last = a + (n - 1) * s
            lo.append(a), hi.append(dim - last - 1), interior.append(s - 1)
        return (pad(ct, tuple(lo), tuple(hi), tuple(interior)),)

    def batch(self, size, x, *, starts, stops, steps):
        return slice_(x, (0,) + starts, (size,) + stops, (1,) + steps)


class Pad(Primitive):
    """Zero padding: ``lo`` before, ``hi`` after and ``interior`` between elements."""

    name = "pad"
    returns_fresh = True
    returns_view = False
    real_linear = False

    def emit(self, args, avals, bind, *, lo, hi, interior):
        shape = _padded_shape(avals[0].shape, lo, hi, interior)
        index = _interior_index(avals[0].shape, lo, interior)
        return f"{bind(_pad_into_zeros)}({args[0]}, {bind(shape)}, {bind(index)})"

    def impl(self, x, *, lo, hi, interior):
        return _pad_into_zeros(x, _padded_shape(x.shape, lo, hi, interior),
                               _interior_index(x.shape, lo, interior))

    def abstract_eval(self, x, *, lo, hi, interior):
        return ShapeDtype(_padded_shape(x.shape, lo, hi, interior), x.dtype)

    def sparse_jacobian(self, x, **params):
        return selection_jacobians(self, [x], self.abstract_eval(x, **params), params)

    def transpose(self, ct, x, *, lo, hi, interior):
        index = _interior_index(x.shape, lo, interior)
        return (slice_(ct, tuple(i.start for i in index), tuple(i.stop for i in index),
                       tuple(i.step for i in index)),)

    def batch(self, size, x, *, lo, hi, interior):
        return pad(x, (0,) + lo, (0,) + hi, (0,) + interior)

    def fuse_into(self, eqn, consumer, producer, uses):
        """``t + pad(p)``, ``t - pad(p)`` and ``t - pad(-p)`` become one ``add_slice`` into ``t``."""
        return _accumulation_of_pad(eqn, consumer, producer, uses)


def _accumulation_of_pad(eqn, consumer, producer, uses):
    padded = eqn.out
    x, y = consumer.inputs if len(consumer.inputs) == 2 else (None, None)
    if x is y or consumer.prim not in (add_p, sub_p) or (consumer.prim is sub_p and x is padded):
        return None
    target = y if x is padded else x
    source, sign = eqn.inputs[0], 1 if consumer.prim is add_p else -1
    negation = producer.get(source.id)
    if negation is not None and negation.prim is neg_p and uses.get(source.id) == 1:
        source, sign = negation.inputs[0], -sign
    index = _interior_index(source.aval.shape, eqn.params["lo"], eqn.params["interior"])
    params = {"starts": tuple(i.start for i in index), "stops": tuple(i.stop for i in index),
              "steps": tuple(i.step for i in index), "sign": sign}
    return Eqn(add_slice_p, (target, source), params, consumer.out, consumer.source)


def _pad_into_zeros(x, shape, index):
    out = np.zeros(shape, x.dtype)
    out[index] = x
    return out


def _padded_shape(shape, lo, hi, interior):
    return tuple(l + h + n + max(n - 1, 0) * i for n, l, h, i in zip(shape, lo, hi, interior))


def _interior_index(shape, lo, interior):
    return tuple(slice(l, l + max(n - 1, 0) * (i + 1) + (1 if n else 0), i + 1)
                 for n, l, i in zip(shape, lo, interior))


class UpdateSlice(Primitive):
    """``x`` with ``x[start:stop:step, ...]`` replaced by ``v`` (positive steps)."""

    name = "update_slice"
    returns_fresh = True
    returns_view = False
    real_linear = False

    def impl(self, x, v, *, starts, stops, steps):
        out = np.array(x, copy=True)
        out[_index(starts, stops, steps)] = v
        return out

    def abstract_eval(self, x, v, *, starts, stops, steps):
        shape = tuple(_count(a, b, s) for a, b, s in zip(starts, stops, steps))
        if v.shape != shape or v.dtype != x.dtype:
            raise TypeError(f"update_slice: the update must be {ShapeDtype(shape, x.dtype).short()}, "
                            f"got {v.short()}")
        return x

    def sparse_jacobian(self, x, v, **params):
        return selection_jacobians(self, [x, v], self.abstract_eval(x, v, **params), params)

    def transpose(self, ct, x, v, *, starts, stops, steps):
        cleared = update_slice(ct, zeros(v.shape, v.dtype), starts, stops, steps)
        return cleared, slice_(ct, starts, stops, steps)

    def batch(self, size, x, v, *, starts, stops, steps):
        return update_slice(x, v, (0,) + starts, (size,) + stops, (1,) + steps)

    def emit_inplace(self, args, avals, bind, *, starts, stops, steps):
        index = _index(starts, stops, steps)
        return f"{args[0]}[{bind(index)}] = {args[1]}"

    def absorb(self, eqn, producer, uses):
        """``y[i] += v`` (``update_slice(t, t[i] + v)``, or ``-``) becomes one ``add_slice`` into ``t``."""
        return _accumulation_of_update(eqn, producer, uses)

    def fold_into(self, inner, eqn):
        """An update of a slice that the previous update wrote: the previous one is overwritten."""
        if inner.prim is not self or inner.params != eqn.params:
            return None
        return Eqn(self, (inner.inputs[0], eqn.inputs[1]), eqn.params, eqn.out, eqn.source)


def _accumulation_of_update(eqn, producer, uses):
    target, update = eqn.inputs
    combine = producer.get(update.id)
    if combine is None or combine.prim not in (add_p, sub_p) or uses.get(update.id) != 1:
        return None
    for position, (part, other) in enumerate([combine.inputs, combine.inputs[::-1]]):
        read = producer.get(part.id)
        if (read is not None and read.prim is slice_p and read.inputs[0] is target
                and read.params == eqn.params and uses.get(part.id) == 1 and part is not other):
            if combine.prim is sub_p and position == 1:
                return None  # v - t[i] is not an accumulation
            sign = 1 if combine.prim is add_p else -1
            return Eqn(add_slice_p, (target, other), dict(eqn.params, sign=sign), eqn.out, eqn.source)
    return None


class AddSlice(Primitive):
    """``x`` with ``v`` added to (``sign=1``) or subtracted from (``sign=-1``) a strided slice.

    Made by :func:`linop.passes.fuse_for_execution` from ``x + pad(v)``: the
    executor then accumulates into ``x`` in place when it owns ``x``.
    """

    name = "add_slice"
    returns_fresh = True
    returns_view = False
    real_linear = False

    def emit_inplace(self, args, avals, bind, *, starts, stops, steps, sign):
        index = _index(starts, stops, steps)
        return f"{args[0]}[{bind(index)}] {'+=' if sign > 0 else '-='} {args[1]}"

    def impl(self, x, v, *, starts, stops, steps, sign):
        out = np.array(x, copy=True)
        index = _index(starts, stops, steps)
        if sign > 0:
            out[index] += v
        else:
            out[index] -= v
        return out

    def abstract_eval(self, x, v, *, starts, stops, steps, sign):
        return UpdateSlice.abstract_eval(self, x, v, starts=starts, stops=stops, steps=steps)

    def sparse_jacobian(self, x, v, *, starts, stops, steps, sign):
        index = _index(starts, stops, steps)
        rows = np.arange(x.size).reshape(x.shape)[index].ravel()
        into = sp.csr_matrix((np.full(rows.size, sign, x.dtype), (rows, np.arange(rows.size))),
                             shape=(x.size, v.size))
        return [sparse_identity(x.size, x.dtype), into]

    def transpose(self, ct, x, v, *, starts, stops, steps, sign):
        part = slice_(ct, starts, stops, steps)
        return ct, (part if sign > 0 else neg(part))

    def batch(self, size, x, v, *, starts, stops, steps, sign):
        return add_slice_p.bind(x, v, starts=(0,) + starts, stops=(size,) + stops,
                                steps=(1,) + steps, sign=sign)


class Concatenate(Primitive):
    """Join arrays of one dtype along an existing axis."""

    name = "concatenate"
    returns_fresh = True
    returns_view = False
    real_linear = False

    def impl(self, *xs, axis):
        return np.concatenate(xs, axis=axis)

    def abstract_eval(self, *xs, axis):
        first = xs[0]
        for x in xs[1:]:
            same = all(a == b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != axis)
            if x.dtype != first.dtype or x.ndim != first.ndim or not same:
                raise TypeError(f"concatenate: incompatible {first.short()} and {x.short()}")
        total = sum(x.shape[axis] for x in xs)
        return ShapeDtype(first.shape[:axis] + (total,) + first.shape[axis + 1:], first.dtype)

    def sparse_jacobian(self, *xs, axis):
        return selection_jacobians(self, list(xs), self.abstract_eval(*xs, axis=axis), {"axis": axis})

    def transpose(self, ct, *xs, axis):
        outs, offset = [], 0
        for x in xs:
            starts = tuple(offset if i == axis else 0 for i in range(x.ndim))
            stops = tuple(offset + x.shape[axis] if i == axis else d for i, d in enumerate(ct.shape))
            outs.append(slice_(ct, starts, stops, (1,) * x.ndim))
            offset += x.shape[axis]
        return tuple(outs)

    def batch(self, size, *xs, axis):
        return concatenate(xs, axis + 1)


slice_p, pad_p, concatenate_p, update_slice_p = Slice(), Pad(), Concatenate(), UpdateSlice()
add_slice_p = AddSlice()


def slice_(x, starts, stops, steps):
    """Record or compute a strided slice; a no-op for the full slice."""
    starts, stops, steps = (tuple(int(v) for v in t) for t in (starts, stops, steps))
    if all(a == 0 and b == d and s == 1 for a, b, s, d in zip(starts, stops, steps, x.shape)):
        return x
    return slice_p.bind(x, starts=starts, stops=stops, steps=steps)


def pad(x, lo, hi, interior=None):
    """Record or compute zero padding; a no-op when nothing is added."""
    lo, hi = tuple(int(v) for v in lo), tuple(int(v) for v in hi)
    interior = tuple(int(v) for v in interior) if interior is not None else (0,) * len(lo)
    if not any(lo) and not any(hi) and not any(interior):
        return x
    return pad_p.bind(x, lo=lo, hi=hi, interior=interior)


def concatenate(xs, axis):
    """Record or compute a concatenation along ``axis``."""
    xs = tuple(xs)
    if len(xs) == 1:
        return xs[0]
    return concatenate_p.bind(*xs, axis=int(axis))


def update_slice(x, v, starts, stops, steps):
    """Record or compute ``x`` with the strided slice replaced by ``v``."""
    starts, stops, steps = (tuple(int(i) for i in t) for t in (starts, stops, steps))
    return update_slice_p.bind(x, v, starts=starts, stops=stops, steps=steps)
