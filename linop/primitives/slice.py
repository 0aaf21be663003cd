"""Strided slice, its transpose (zero padding with interior padding), slice updates, concatenate."""
from __future__ import annotations

import numpy as np

from ..ir import Eqn, ShapeDtype
from ..core import zeros
from .arithmetic import add_p, neg, neg_p, sub_p
from ..core import Placement, Primitive, Scaling, strided_window

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

    strided_access = "read"

    def impl(self, x, *, starts, stops, steps):
        return x[_index(starts, stops, steps)]

    def array_impl(self, ns, x, *, starts, stops, steps):
        return x[_index(starts, stops, steps)]

    fused_form = "element"

    def fused_element(self, loop, index, *, starts, stops, steps):
        return loop.read(0, [loop.affine(i, a, s) for i, a, s in zip(index, starts, steps)])

    def abstract_eval(self, x, *, starts, stops, steps):
        return ShapeDtype(tuple(_count(a, b, s) for a, b, s in zip(starts, stops, steps)), x.dtype)

    moves_elements = True

    def element_map(self, x, *, starts, stops, steps):
        return [(d, 0, 1, a, s, _count(a, b, s))
                for d, (a, b, s) in enumerate(zip(starts, stops, steps))]

    def transpose(self, ct, x, *, starts, stops, steps):
        return (pad(ct, **_slice_placement(x.shape, starts, steps, ct.shape)),)

    def batch(self, size, x, *, starts, stops, steps):
        return slice_(x, (0,) + starts, (size,) + stops, (1,) + steps)

    def batch_last(self, size, x, *, starts, stops, steps):
        return slice_(x, starts + (0,), stops + (size,), steps + (1,))

    def fold_into(self, inner, eqn):
        """A slice that misses a slice update reads around it; a slice inside a pad slices its input."""
        return _slice_through(inner, eqn)


def _slice_through(inner, eqn):
    """The slice ``eqn`` of ``inner``'s result read from ``inner``'s input, or ``None``.

    The slice of ``pad(x)`` that is exactly ``x`` is ``x`` itself (the transpose of
    ``y[i] += v`` makes such pairs).
    """
    if inner.prim in (update_slice_p, add_slice_p):
        if not _slices_disjoint(eqn.params, inner.params):
            return None
        return Eqn(slice_p, (inner.inputs[0],), eqn.params, eqn.out, eqn.source)
    if inner.prim is pad_p and not any(inner.params["interior"]):
        return _slice_inside_pad(inner.inputs[0], inner.params["lo"], eqn)
    return None


def _slice_inside_pad(x, lo, eqn):
    """``eqn`` (a slice of ``x`` padded by ``lo`` before) as a slice of ``x``, or ``None``."""
    starts, stops = [], []
    for a, b, s, before, dim in zip(eqn.params["starts"], eqn.params["stops"],
                                    eqn.params["steps"], lo, x.aval.shape):
        n = _count(a, b, s)
        if n == 0 or a < before or a + (n - 1) * s - before >= dim:
            return None
        starts.append(a - before), stops.append(a + (n - 1) * s - before + 1)
    if eqn.out.aval == x.aval and all(a == 0 for a in starts) and all(
            s == 1 for s in eqn.params["steps"]):
        return x
    params = {"starts": tuple(starts), "stops": tuple(stops), "steps": eqn.params["steps"]}
    return Eqn(slice_p, (x,), params, eqn.out, eqn.source)


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

    fused_form = "element"

    def fused_element(self, loop, index, *, lo, hi, interior):
        shape = loop.out_aval.shape
        steps = tuple(i + 1 for i in interior)
        inside, inner = _strided_members(loop, index, shape, lo, steps, loop.in_avals[0].shape)
        return loop.select([(inside, lambda: loop.read(0, inner))])

    def impl(self, x, *, lo, hi, interior):
        return _pad_into_zeros(x, _padded_shape(x.shape, lo, hi, interior),
                               _interior_index(x.shape, lo, interior))

    def array_impl(self, ns, x, *, lo, hi, interior):
        return _zeros_around(ns.xp, _interleave_zeros(ns.xp, x, interior), lo, hi)

    def dask_impl(self, dk, x, *, lo, hi, interior):
        return dk.da.pad(_interleave_zeros(dk.xp, x, interior), list(zip(lo, hi)), mode="constant")

    def abstract_eval(self, x, *, lo, hi, interior):
        return ShapeDtype(_padded_shape(x.shape, lo, hi, interior), x.dtype)

    moves_elements = True

    def element_map(self, x, *, lo, hi, interior):
        return [(d, l, i + 1, 0, 1, n) for d, (n, l, i) in enumerate(zip(x.shape, lo, interior))]

    def transpose(self, ct, x, *, lo, hi, interior):
        index = _interior_index(x.shape, lo, interior)
        return (slice_(ct, tuple(i.start for i in index), tuple(i.stop for i in index),
                       tuple(i.step for i in index)),)

    def batch(self, size, x, *, lo, hi, interior):
        return pad(x, (0,) + lo, (0,) + hi, (0,) + interior)

    def batch_last(self, size, x, *, lo, hi, interior):
        return pad(x, lo + (0,), hi + (0,), interior + (0,))

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


def _strided_members(loop, index, sizes, starts, steps, counts):
    """The predicate "``index`` lies on the strided slice" and the index inside the slice.

    ``sizes`` are the axis lengths of the array ``index`` runs over; the slice has
    ``counts`` elements per axis from ``starts`` every ``steps``.
    """
    conditions, inner = [], []
    for i, size, start, step, count in zip(index, sizes, starts, steps, counts):
        if start == 0 and step == 1 and count == size:
            inner.append(i)
            continue
        if count == 0:
            return "False", ["0"] * len(index)
        j = loop.temp(f"{i} - {loop.int(start)}") if start else i
        if start:
            conditions.append(f"{j} >= 0")
        if step == 1:
            conditions.append(f"{j} < {loop.int(count)}")
            inner.append(j)
        else:
            conditions.append(f"{j} % {loop.int(step)} == 0")
            conditions.append(f"{j} < {loop.int((count - 1) * step + 1)}")
            inner.append(f"{j} // {loop.int(step)}")
    return " and ".join(conditions) or "True", inner


def _zeros_around(xp, x, lo, hi):
    """``x`` with ``lo[a]`` zeros before and ``hi[a]`` after along each axis ``a`` (array API)."""
    for axis, (before, after) in enumerate(zip(lo, hi)):
        if before or after:
            zeros = [xp.zeros(x.shape[:axis] + (n,) + x.shape[axis + 1:], dtype=x.dtype)
                     for n in (before, after)]
            x = xp.concat([zeros[0], x, zeros[1]], axis=axis)
    return x


def _interleave_zeros(xp, x, interior):
    """``x`` with ``interior[a]`` zeros between neighbours along each axis ``a`` (array API)."""
    for axis, gap in enumerate(interior):
        n = x.shape[axis]
        if gap and n > 1:
            spread = xp.stack([x] + [xp.zeros_like(x)] * gap, axis=axis + 1)
            spread = xp.reshape(spread, x.shape[:axis] + (n * (gap + 1),) + x.shape[axis + 1:])
            x = spread[(slice(None),) * axis + (slice(0, n * (gap + 1) - gap),)]
    return x


def _slice_as_pad(shape, starts, stops, steps) -> dict:
    """The ``pad`` parameters that put a strided slice's values back in place."""
    lo, hi, interior = [], [], []
    for dim, a, b, s in zip(shape, starts, stops, steps):
        n = _count(a, b, s)
        last = a + (n - 1) * s
        lo.append(a if n else 0), hi.append(dim - last - 1 if n else dim)
        interior.append(s - 1 if n else 0)
    return {"lo": tuple(lo), "hi": tuple(hi), "interior": tuple(interior)}


def _placed_slice(ns, x, v, params):
    """``v`` padded into zeros shaped like ``x``, and where it lands (namespace arrays)."""
    pad_params = _slice_as_pad(x.shape, params["starts"], params["stops"], params["steps"])
    aval = ShapeDtype(tuple(x.shape), np.dtype(v.dtype))
    padded = ns.apply(pad_p, [v], pad_params, aval)
    region = ns.apply(pad_p, [ns.xp.ones_like(v, dtype=bool)], pad_params,
                      ShapeDtype(aval.shape, np.dtype(bool)))
    return padded, region


def _pad_into_zeros(x, shape, index):
    out = np.zeros(shape, x.dtype)
    out[index] = x
    return out


def _slice_placement(shape, starts, steps, counts) -> dict:
    """The ``pad`` parameters that place a slice's ``counts`` elements back into ``shape``."""
    lo, hi, interior = [], [], []
    for dim, a, n, s in zip(shape, starts, counts, steps):
        if n == 0:
            lo.append(0), hi.append(dim), interior.append(0)
            continue
        last = a + (n - 1) * s
        lo.append(a), hi.append(dim - last - 1), interior.append(s - 1)
    return {"lo": tuple(lo), "hi": tuple(hi), "interior": tuple(interior)}


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

    def array_impl(self, ns, x, v, **params):
        padded, region = _placed_slice(ns, x, v, params)
        return ns.xp.where(region, padded, x)

    def region_reads(self, box, x, v, *, starts, stops, steps, **sign):
        """The output's box reads ``x`` there and the part of ``v`` written into it."""
        windows = _slice_windows(box, starts, steps, v.shape)
        return [box, None if windows is None else tuple(windows)]

    def region_impl(self, box, out, in_avals, x, v, *, starts, stops, steps):
        result = np.array(x, copy=True)
        if v is not None:
            result[_slice_places(box, starts, steps, in_avals[1].shape)] = v
        return result

    def dask_impl(self, dk, x, v, *, starts, stops, steps):
        out = x.copy()  # Dask's item assignment: each block takes the part of v it holds
        out[_index(starts, stops, steps)] = v
        return out

    fused_form = "element"

    def fused_element(self, loop, index, *, starts, stops, steps):
        counts = loop.in_avals[1].shape
        inside, inner = _strided_members(loop, index, loop.out_aval.shape, starts, steps, counts)
        return loop.select([(inside, lambda: loop.read(1, inner))], lambda: loop.read(0, index))

    fused_updates = True
    strided_access = "write"

    def fused_update(self, loop, name, *, starts, stops, steps):
        _write_slice(loop, name, "=", starts, steps)

    def abstract_eval(self, x, v, *, starts, stops, steps):
        shape = tuple(_count(a, b, s) for a, b, s in zip(starts, stops, steps))
        if v.shape != shape or v.dtype != x.dtype:
            raise TypeError(f"update_slice: the update must be {ShapeDtype(shape, x.dtype).short()}, "
                            f"got {v.short()}")
        return x

    moves_elements = True

    def transpose(self, ct, x, v, *, starts, stops, steps):
        cleared = update_slice(ct, zeros(v.shape, v.dtype), starts, stops, steps)
        return cleared, slice_(ct, starts, stops, steps)

    def batch(self, size, x, v, *, starts, stops, steps):
        return update_slice(x, v, (0,) + starts, (size,) + stops, (1,) + steps)

    def batch_last(self, size, x, v, *, starts, stops, steps):
        return update_slice(x, v, starts + (0,), stops + (size,), steps + (1,))

    def emit_inplace(self, args, avals, bind, *, starts, stops, steps):
        index = _index(starts, stops, steps)
        return f"{args[0]}[{bind(index)}] = {args[1]}"

    def overwrites(self, eqn, earlier):
        """An earlier update of (or accumulation into) a slice inside the one ``eqn`` writes."""
        return (earlier.prim in (update_slice_p, add_slice_p)
                and _slice_within(earlier.params, eqn.params, eqn.inputs[0].aval.shape))

    def absorb(self, eqn, producer, uses):
        """``y[i] += v`` (``update_slice(t, t[i] + v)``, or ``-``) becomes one ``add_slice`` into ``t``."""
        return _accumulation_of_update(eqn, producer, uses)

    def fold_into(self, inner, eqn):
        """An update of a slice that the previous update wrote: the previous one is overwritten."""
        if inner.prim is not self or inner.params != eqn.params:
            return None
        return Eqn(self, (inner.inputs[0], eqn.inputs[1]), eqn.params, eqn.out, eqn.source)


def _slice_windows(box, starts, steps, counts):
    """Per axis, the range of the slice's elements that land in ``box``; ``None`` if none do."""
    windows = [strided_window(lo, hi, a, s, n)
               for (lo, hi), a, s, n in zip(box, starts, steps, counts)]
    return None if any(t0 == t1 for t0, t1 in windows) else windows


def _slice_places(box, starts, steps, counts) -> tuple:
    """The index, relative to ``box``, of the slice's elements that land in ``box``."""
    index = []
    for (lo, _), (t0, t1), a, s in zip(box, _slice_windows(box, starts, steps, counts),
                                       starts, steps):
        first = a + s * t0 - lo
        index.append(slice(first, first + s * (t1 - t0 - 1) + 1, s))
    return tuple(index)


def _write_slice(loop, name, op, starts, steps) -> None:
    """Fused loops over input 1 that write (``op`` ``=``, ``+=``, ``-=``) its elements into a slice of ``name``."""
    with loop.nest(loop.in_avals[1].shape) as index:
        target = [loop.affine(i, a, s) for i, a, s in zip(index, starts, steps)]
        loop.emit(f"{loop.at(name, target)} {op} {loop.read(1, index)}")


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


def _slice_within(inner, outer, shape) -> bool:
    """Whether every element of the strided slice ``inner`` lies in the strided slice ``outer``."""
    axes = list(zip(inner["starts"], inner["stops"], inner["steps"],
                    outer["starts"], outer["stops"], outer["steps"]))
    if any(_count(a, b, s) == 0 for a, b, s, *_ in axes):
        return True
    for a, b, s, c, d, t in axes:
        n, m = _count(a, b, s), _count(c, d, t)
        last, outer_last = a + (n - 1) * s, c + (m - 1) * t
        if m == 0 or a < c or last > outer_last or (a - c) % t or (n > 1 and s % t):
            return False
    return True


def _slices_disjoint(first, second) -> bool:
    """Whether two strided slices of one array share no element (``False`` when unsure)."""
    for a, b, s, c, d, t in zip(first["starts"], first["stops"], first["steps"],
                                second["starts"], second["stops"], second["steps"]):
        n, m = _count(a, b, s), _count(c, d, t)
        if n == 0 or m == 0 or a + (n - 1) * s < c or c + (m - 1) * t < a:
            return True
        if n * m <= 1 << 20 and not np.intersect1d(np.arange(a, b, s), np.arange(c, d, t)).size:
            return True
    return False


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

    fused_form = "element"

    def fused_element(self, loop, index, *, starts, stops, steps, sign):
        counts = loop.in_avals[1].shape
        inside, inner = _strided_members(loop, index, loop.out_aval.shape, starts, steps, counts)
        x = loop.read(0, index)
        op = "+" if sign > 0 else "-"
        return loop.select([(inside, lambda: f"{x} {op} {loop.read(1, inner)}")], lambda: x)

    fused_updates = True
    strided_access = "write"

    def fused_update(self, loop, name, *, starts, stops, steps, sign):
        _write_slice(loop, name, "+=" if sign > 0 else "-=", starts, steps)

    def impl(self, x, v, *, starts, stops, steps, sign):
        out = np.array(x, copy=True)
        index = _index(starts, stops, steps)
        if sign > 0:
            out[index] += v
        else:
            out[index] -= v
        return out

    region_reads = UpdateSlice.region_reads

    def region_impl(self, box, out, in_avals, x, v, *, starts, stops, steps, sign):
        result = np.array(x, copy=True)
        if v is not None:
            index = _slice_places(box, starts, steps, in_avals[1].shape)
            if sign > 0:
                result[index] += v
            else:
                result[index] -= v
        return result

    def array_impl(self, ns, x, v, *, sign, **params):
        padded, region = _placed_slice(ns, x, v, params)
        return ns.xp.where(region, x + padded if sign > 0 else x - padded, x)

    def abstract_eval(self, x, v, *, starts, stops, steps, sign):
        return UpdateSlice.abstract_eval(self, x, v, starts=starts, stops=stops, steps=steps)

    def sparse_jacobian(self, x, v, *, starts, stops, steps, sign):
        return [Scaling(), Placement(pad_p, _slice_placement(x.shape, starts, steps, v.shape), sign)]

    def transpose(self, ct, x, v, *, starts, stops, steps, sign):
        part = slice_(ct, starts, stops, steps)
        return ct, (part if sign > 0 else neg(part))

    def batch(self, size, x, v, *, starts, stops, steps, sign):
        return add_slice_p.bind(x, v, starts=(0,) + starts, stops=(size,) + stops,
                                steps=(1,) + steps, sign=sign)

    def batch_last(self, size, x, v, *, starts, stops, steps, sign):
        return add_slice_p.bind(x, v, starts=starts + (0,), stops=stops + (size,),
                                steps=steps + (1,), sign=sign)


class Concatenate(Primitive):
    """Join arrays of one dtype along an existing axis."""

    name = "concatenate"
    returns_fresh = True
    returns_view = False
    real_linear = False

    def impl(self, *xs, axis):
        return np.concatenate(xs, axis=axis)

    def array_impl(self, ns, *xs, axis):
        return ns.xp.concat(list(xs), axis=axis)

    fused_form = "element"

    def fused_element(self, loop, index, *, axis):
        branches, offset = [], 0
        for k, x in enumerate(loop.in_avals):
            inner = list(index)
            inner[axis] = f"{index[axis]} - {loop.int(offset)}" if offset else index[axis]
            offset += x.shape[axis]
            branches.append((f"{index[axis]} < {loop.int(offset)}",
                             lambda k=k, inner=inner: loop.read(k, inner)))
        last = branches.pop()[1]
        return loop.select(branches, last)

    def abstract_eval(self, *xs, axis):
        first = xs[0]
        for x in xs[1:]:
            same = all(a == b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != axis)
            if x.dtype != first.dtype or x.ndim != first.ndim or not same:
                raise TypeError(f"concatenate: incompatible {first.short()} and {x.short()}")
        total = sum(x.shape[axis] for x in xs)
        return ShapeDtype(first.shape[:axis] + (total,) + first.shape[axis + 1:], first.dtype)

    moves_elements = True

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

    def batch_last(self, size, *xs, axis):
        return concatenate(xs, axis)


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
