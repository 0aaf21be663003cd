"""Shape primitives: reshape, transpose, broadcast_to, reduce_sum, rev."""
from __future__ import annotations

import numpy as np

from ..ir import Eqn, ShapeDtype
from ..core import Primitive, transposed_selection_jacobians

__all__ = ["broadcast_shapes", "reshape", "transpose", "broadcast_to", "reduce_sum", "rev",
           "reshape_p", "transpose_p", "broadcast_to_p", "reduce_sum_p", "rev_p"]


def broadcast_shapes(*shapes) -> tuple:
    """``np.broadcast_shapes`` without its limit of 32 dimensions (arrays may have 64)."""
    if all(len(s) <= 32 for s in shapes):
        return np.broadcast_shapes(*shapes)
    shapes = [tuple(s) for s in shapes]
    ndim = max(len(s) for s in shapes)
    out, source = [1] * ndim, [0] * ndim
    for i, shape in enumerate(shapes):
        for j, d in enumerate(shape, ndim - len(shape)):
            if d == 1 or d == out[j]:
                continue
            if out[j] != 1:
                raise ValueError("shape mismatch: objects cannot be broadcast to a single shape.  "
                                 f"Mismatch is between arg {source[j]} with shape "
                                 f"{shapes[source[j]]} and arg {i} with shape {shape}.")
            out[j], source[j] = d, i
    return tuple(out)


def _unit_axes_index(old, new):
    """The basic index reshaping ``old`` into ``new`` by dropping and inserting axes of length 1.

    ``x[index]`` is then the view ``x.reshape(new)``; ``None`` when the reshape does more
    than that, or its result is 0-d (indexing would give a NumPy scalar).
    """
    if not new or [d for d in old if d != 1] != [d for d in new if d != 1]:
        return None
    index, i, j = [], 0, 0
    while i < len(old) or j < len(new):
        if j < len(new) and new[j] == 1:
            index.append(None)
            j += 1
        elif old[i] == 1:
            index.append(0)
            i += 1
        else:
            index.append(slice(None))
            i, j = i + 1, j + 1
    while index and index[-1] == slice(None):
        index.pop()
    return tuple(index)


class Reshape(Primitive):
    """C-order reshape."""

    name = "reshape"
    returns_view = True
    returns_fresh = False
    real_linear = False

    def emit(self, args, avals, bind, *, shape):
        index = _unit_axes_index(avals[0].shape, shape)
        if index is not None:  # indexing makes the same view about twice as fast
            return f"{args[0]}[{bind(index)}]"
        return f"{args[0]}.reshape({bind(shape)})"

    def impl(self, x, *, shape):
        return np.reshape(x, shape)

    def array_impl(self, ns, x, *, shape):
        return ns.xp.reshape(x, shape)

    def dask_impl(self, dk, x, *, shape):
        try:
            return dk.xp.reshape(x, shape)
        except NotImplementedError:  # Dask splits axes unevenly in two passes only
            return dk.xp.reshape(dk.xp.reshape(x, (-1,)), shape)

    fused_form = "element"

    def fused_element(self, loop, index, *, shape):
        view = loop.view(0, shape)  # an array read through a view: no flat index arithmetic
        if view is not None:
            return loop.at(view, index)
        return loop.read(0, _reshaped_index(loop, index, shape, loop.in_avals[0].shape))

    def fused_loops(self, loop, *, shape):
        """Stored: written through a view of the input's shape, in the input's order."""
        x = loop.in_avals[0]
        view = loop.temp(f"{loop.output(zeros=False)}.reshape({loop.shape_tuple(x.shape)})")
        with loop.nest(x.shape, parallel=True) as index:  # each element written once
            loop.emit(f"{loop.at(view, index)} = {loop.read(0, index)}")

    def abstract_eval(self, x, *, shape):
        if int(np.prod(shape, dtype=np.int64)) != x.size:
            raise ValueError(f"reshape: cannot reshape {x.short()} into {shape}")
        return ShapeDtype(shape, x.dtype)

    moves_elements = True
    keeps_flat_order = True

    def transpose(self, ct, x, *, shape):
        return (reshape(ct, x.shape),)

    def fuse_into(self, eqn, consumer, producer, uses):
        """A reshape read only by a reshape: one reshape of the first one's input."""
        if consumer.prim is not self:
            return None
        return Eqn(self, eqn.inputs, consumer.params, consumer.out, consumer.source)

    def batch(self, size, x, *, shape):
        return reshape(x, (size,) + shape)

    def batch_last(self, size, x, *, shape):
        return reshape(x, shape + (size,))


class Transpose(Primitive):
    """Axis permutation: ``out.shape[i] = x.shape[perm[i]]``."""

    name = "transpose"
    returns_view = True
    returns_fresh = False
    real_linear = False

    def emit(self, args, avals, bind, *, perm):
        return f"{args[0]}.transpose({bind(perm)})"

    def impl(self, x, *, perm):
        return np.transpose(x, perm)

    def array_impl(self, ns, x, *, perm):
        return ns.xp.permute_dims(x, perm)

    fused_form = "element"

    def fused_element(self, loop, index, *, perm):
        inner = [None] * len(perm)
        for i, p in enumerate(perm):
            inner[p] = index[i]
        return loop.read(0, inner)

    def abstract_eval(self, x, *, perm):
        return ShapeDtype(tuple(x.shape[p] for p in perm), x.dtype)

    moves_elements = True

    def element_map(self, x, *, perm):
        return [(p, 0, 1, 0, 1, x.shape[p]) for p in perm]

    def transpose(self, ct, x, *, perm):
        return (transpose(ct, tuple(int(i) for i in np.argsort(perm))),)

    def batch(self, size, x, *, perm):
        return transpose(x, (0,) + tuple(p + 1 for p in perm))

    def batch_last(self, size, x, *, perm):
        return transpose(x, tuple(perm) + (len(perm),))


class BroadcastTo(Primitive):
    """NumPy broadcasting of ``x`` to ``shape`` (right-aligned)."""

    name = "broadcast_to"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def impl(self, x, *, shape):
        return np.broadcast_to(x, shape)

    def array_impl(self, ns, x, *, shape):
        return ns.xp.broadcast_to(x, shape)

    fused_form = "element"
    fused_repeats_inputs = True

    def fused_element(self, loop, index, *, shape):
        x = loop.in_avals[0]
        lead = len(shape) - x.ndim
        return loop.read(0, ["0" if d == 1 else index[lead + j] for j, d in enumerate(x.shape)])

    def abstract_eval(self, x, *, shape):
        if broadcast_shapes(x.shape, shape) != tuple(shape):
            raise ValueError(f"cannot broadcast an array of shape {tuple(x.shape)} to shape "
                             f"{tuple(shape)}")
        return ShapeDtype(shape, x.dtype)

    moves_elements = True

    def transpose(self, ct, x, *, shape):
        lead = len(shape) - len(x.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, d in enumerate(x.shape) if d == 1 and shape[lead + i] != 1)
        summed = reduce_sum(ct, axes) if axes else ct
        return (reshape(summed, x.shape),)

    def batch(self, size, x, *, shape):
        lead = len(shape) - (x.ndim - 1)
        x = reshape(x, (size,) + (1,) * lead + x.shape[1:])
        return broadcast_to(x, (size,) + shape)

    def batch_last(self, size, x, *, shape):
        return broadcast_to(x, shape + (size,))  # right-aligned: the batch axes meet


class ReduceSum(Primitive):
    """Sum over ``axes`` (sorted, non-negative), dropping them."""

    name = "reduce_sum"
    returns_fresh = True
    returns_view = False
    real_linear = False

    def emit(self, args, avals, bind, *, axes):
        x = avals[0]
        if x.dtype.kind in "fc" and len(axes) < x.ndim and all(x.shape[a] == 1 for a in axes):
            # a sum of one element adds the identity +0 (-0 becomes +0): the same, unreduced
            kept = tuple(d for i, d in enumerate(x.shape) if i not in axes)
            return f"{args[0]}.reshape({bind(kept)}) + {bind(x.dtype.type(0))}"
        return f"{bind(np.add.reduce)}({args[0]}, {bind(axes)})"

    def impl(self, x, *, axes):
        return np.sum(x, axis=axes)

    def array_impl(self, ns, x, *, axes):
        return ns.xp.sum(x, axis=axes)

    fused_form = "loops"

    def fused_loops(self, loop, *, axes):
        """The input's elements added to their sums in C order, the loop over the first
        kept axis outermost: its iterations write disjoint sums (a parallel loop), and
        each sum adds its elements in the same order as a loop in C order would."""
        shape = loop.in_avals[0].shape
        out = loop.output(zeros=True)
        order = [a for a in range(len(shape)) if a not in axes][:1]
        order += [a for a in range(len(shape)) if a not in order]
        with loop.nest([shape[a] for a in order], parallel=len(axes) < len(shape)) as nested:
            index = [nested[order.index(a)] for a in range(len(shape))]
            kept = [i for a, i in enumerate(index) if a not in axes]
            loop.emit(f"{loop.at(out, kept)} += {loop.read(0, index)}")

    def abstract_eval(self, x, *, axes):
        return ShapeDtype(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)

    def sparse_jacobian(self, x, *, axes):
        return transposed_selection_jacobians(self, [x], self.abstract_eval(x, axes=axes),
                                              {"axes": axes})

    def transpose(self, ct, x, *, axes):
        kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        return (broadcast_to(reshape(ct, kept), x.shape),)

    def batch(self, size, x, *, axes):
        return reduce_sum(x, tuple(a + 1 for a in axes))

    def batch_last(self, size, x, *, axes):
        return reduce_sum(x, axes)


class Rev(Primitive):
    """Reverse the order of elements along ``axes``."""

    name = "rev"
    returns_view = True
    returns_fresh = False
    real_linear = False

    def emit(self, args, avals, bind, *, axes):
        index = tuple(slice(None, None, -1) if i in axes else slice(None)
                      for i in range(avals[0].ndim))
        return f"{args[0]}[{bind(index)}]"

    def impl(self, x, *, axes):
        return np.flip(x, axes)

    def array_impl(self, ns, x, *, axes):
        return ns.xp.flip(x, axis=axes)

    fused_form = "element"

    def fused_element(self, loop, index, *, axes):
        x = loop.in_avals[0]
        return loop.read(0, [f"{loop.int(x.shape[a] - 1)} - {i}" if a in axes else i
                             for a, i in enumerate(index)])

    def abstract_eval(self, x, *, axes):
        return x

    moves_elements = True

    def element_map(self, x, *, axes):
        flipped = {a % x.ndim for a in axes}
        return [(d, 0, 1, n - 1, -1, n) if d in flipped else (d, 0, 1, 0, 1, n)
                for d, n in enumerate(x.shape)]

    def transpose(self, ct, x, *, axes):
        return (rev(ct, axes),)

    def batch(self, size, x, *, axes):
        return rev(x, tuple(a + 1 for a in axes))

    def batch_last(self, size, x, *, axes):
        return rev(x, axes)


def _reshaped_index(loop, index, out_shape, in_shape) -> list:
    """The input index of a C-order reshape: axes matched in groups of equal size."""
    if 0 in in_shape:
        return ["0"] * len(in_shape)
    outs = [(i, d) for i, d in zip(index, out_shape) if d != 1]
    ins = [a for a, d in enumerate(in_shape) if d != 1]
    result = ["0"] * len(in_shape)
    while ins:
        group_in, group_out = [ins.pop(0)], [outs.pop(0)]
        n_in, n_out = in_shape[group_in[0]], group_out[0][1]
        while n_in != n_out:
            if n_in < n_out:
                group_in.append(ins.pop(0))
                n_in *= in_shape[group_in[-1]]
            else:
                group_out.append(outs.pop(0))
                n_out *= group_out[-1][1]
        if len(group_in) == 1 and len(group_out) == 1:
            result[group_in[0]] = group_out[0][0]
            continue
        flat = group_out[0][0]
        for i, d in group_out[1:]:
            flat = f"({flat}) * {loop.int(d)} + {i}"
        flat = loop.temp(flat)
        stride = n_in
        for a in group_in:
            stride //= in_shape[a]
            term = f"{flat} // {loop.int(stride)}" if stride != 1 else flat
            result[a] = f"({term}) % {loop.int(in_shape[a])}" if a != group_in[0] else term
    return result


reshape_p, transpose_p, broadcast_to_p = Reshape(), Transpose(), BroadcastTo()
reduce_sum_p, rev_p = ReduceSum(), Rev()


def reshape(x, shape):
    """Record or compute a reshape; a no-op when the shape already matches."""
    shape = tuple(int(d) for d in shape)
    if tuple(x.shape) == shape:
        return x
    return reshape_p.bind(x, shape=shape)


def transpose(x, perm):
    """Record or compute an axis permutation; a no-op for the identity."""
    perm = tuple(int(p) for p in perm)
    if perm == tuple(range(len(perm))):
        return x
    return transpose_p.bind(x, perm=perm)


def broadcast_to(x, shape):
    """Record or compute a broadcast; a no-op when the shape already matches."""
    shape = tuple(int(d) for d in shape)
    if tuple(x.shape) == shape:
        return x
    return broadcast_to_p.bind(x, shape=shape)


def reduce_sum(x, axes):
    """Record or compute a sum over ``axes``."""
    axes = tuple(sorted(int(a) for a in axes))
    if not axes:
        return x
    return reduce_sum_p.bind(x, axes=axes)


def rev(x, axes):
    """Record or compute a flip along ``axes``."""
    axes = tuple(sorted(int(a) for a in axes if x.shape[a] > 1))
    if not axes:
        return x
    return rev_p.bind(x, axes=axes)
