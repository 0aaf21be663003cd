"""Shape primitives: reshape, transpose, broadcast_to, reduce_sum, rev."""
from __future__ import annotations

import numpy as np

from ..ir import ShapeDtype
from ..core import Primitive, selection_jacobians, transposed_selection_jacobians

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


class Reshape(Primitive):
    """C-order reshape."""

    name = "reshape"
    returns_view = True
    returns_fresh = False
    real_linear = False

    def emit(self, args, avals, bind, *, shape):
        return f"{args[0]}.reshape({bind(shape)})"

    def impl(self, x, *, shape):
        return np.reshape(x, shape)

    def abstract_eval(self, x, *, shape):
        if int(np.prod(shape, dtype=np.int64)) != x.size:
            raise ValueError(f"reshape: cannot reshape {x.short()} into {shape}")
        return ShapeDtype(shape, x.dtype)

    def sparse_jacobian(self, x, *, shape):
        return selection_jacobians(self, [x], self.abstract_eval(x, shape=shape), {"shape": shape})

    def transpose(self, ct, x, *, shape):
        return (reshape(ct, x.shape),)

    def batch(self, size, x, *, shape):
        return reshape(x, (size,) + shape)


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

    def abstract_eval(self, x, *, perm):
        return ShapeDtype(tuple(x.shape[p] for p in perm), x.dtype)

    def sparse_jacobian(self, x, *, perm):
        return selection_jacobians(self, [x], self.abstract_eval(x, perm=perm), {"perm": perm})

    def transpose(self, ct, x, *, perm):
        return (transpose(ct, tuple(int(i) for i in np.argsort(perm))),)

    def batch(self, size, x, *, perm):
        return transpose(x, (0,) + tuple(p + 1 for p in perm))


class BroadcastTo(Primitive):
    """NumPy broadcasting of ``x`` to ``shape`` (right-aligned)."""

    name = "broadcast_to"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def impl(self, x, *, shape):
        return np.broadcast_to(x, shape)

    def abstract_eval(self, x, *, shape):
        broadcast_shapes(x.shape, shape)
        return ShapeDtype(shape, x.dtype)

    def sparse_jacobian(self, x, *, shape):
        return selection_jacobians(self, [x], self.abstract_eval(x, shape=shape), {"shape": shape})

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


class ReduceSum(Primitive):
    """Sum over ``axes`` (sorted, non-negative), dropping them."""

    name = "reduce_sum"
    returns_fresh = True
    returns_view = False
    real_linear = False

    def emit(self, args, avals, bind, *, axes):
        return f"{bind(np.add.reduce)}({args[0]}, {bind(axes)})"

    def impl(self, x, *, axes):
        return np.sum(x, axis=axes)

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

    def abstract_eval(self, x, *, axes):
        return x

    def sparse_jacobian(self, x, *, axes):
        return selection_jacobians(self, [x], self.abstract_eval(x, axes=axes), {"axes": axes})

    def transpose(self, ct, x, *, axes):
        return (rev(ct, axes),)

    def batch(self, size, x, *, axes):
        return rev(x, tuple(a + 1 for a in axes))


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
