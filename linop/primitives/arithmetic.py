"""Elementwise linear primitives: add, sub, neg, multiply/divide by a constant, mask."""
from __future__ import annotations

import numpy as np

from ..ir import Const, Eqn, ShapeDtype
from ..snapshots import new_snapshot
from ..core import Primitive, Scaling

__all__ = ["add", "sub", "neg", "mul", "div", "mask",
           "add_p", "sub_p", "neg_p", "mul_p", "div_p", "mask_p"]


def _same_aval(x: ShapeDtype, y: ShapeDtype, name: str) -> ShapeDtype:
    if x != y:
        raise TypeError(f"{name}: operands must have equal shape and dtype, got {x.short()} and {y.short()}")
    return x


def _keeps_aval(x: ShapeDtype, c) -> bool:
    """Whether ``x * c`` has ``x``'s shape and dtype, so that ``x *= c`` computes the same."""
    return (np.result_type(x.dtype, c) == x.dtype
            and np.broadcast_shapes(np.shape(c), x.shape) == x.shape)


def _constant_region(value, box):
    """The part of the constant ``value`` that meets the elements in ``box`` of an array it
    broadcasts to (right-aligned; axes of length 1 stay whole)."""
    lead = len(box) - np.ndim(value)
    return value[tuple(slice(None) if n == 1 else slice(*box[lead + d])
                       for d, n in enumerate(np.shape(value)))]


class Add(Primitive):
    """``x + y`` for operands of equal shape and dtype."""

    name = "add"
    elementwise = True
    returns_fresh = True
    commutative = True
    returns_view = False
    real_linear = False

    def emit(self, args, avals, bind):
        return f"{args[0]} + {args[1]}"

    def emit_inplace(self, args, avals, bind):
        return f"{args[0]} += {args[1]}"

    fused_form = "element"

    def fused_element(self, loop, index):
        return f"{loop.read(0, index)} + {loop.read(1, index)}"

    def impl(self, x, y):
        return x + y

    def array_impl(self, ns, x, y):
        return x + y

    def abstract_eval(self, x, y):
        return _same_aval(x, y, self.name)

    def sparse_jacobian(self, x, y):
        return [Scaling(), Scaling()]

    def transpose(self, ct, x, y):
        return ct, ct

    def batch(self, size, x, y):
        return add(x, y)


class Sub(Primitive):
    """``x - y`` for operands of equal shape and dtype."""

    name = "sub"
    elementwise = True
    returns_fresh = True
    returns_view = False
    real_linear = False

    def emit(self, args, avals, bind):
        return f"{args[0]} - {args[1]}"

    def emit_inplace(self, args, avals, bind):
        return f"{args[0]} -= {args[1]}"

    fused_form = "element"

    def fused_element(self, loop, index):
        return f"{loop.read(0, index)} - {loop.read(1, index)}"

    def impl(self, x, y):
        return x - y

    def array_impl(self, ns, x, y):
        return x - y

    def abstract_eval(self, x, y):
        return _same_aval(x, y, self.name)

    def sparse_jacobian(self, x, y):
        return [Scaling(), Scaling(-1)]

    def transpose(self, ct, x, y):
        return ct, neg(ct)

    def batch(self, size, x, y):
        return sub(x, y)


class Neg(Primitive):
    """``-x``."""

    name = "neg"
    elementwise = True
    returns_fresh = True
    returns_view = False
    real_linear = False

    def emit(self, args, avals, bind):
        return f"-{args[0]}"

    def emit_inplace(self, args, avals, bind):
        return f"{bind(np.negative)}({args[0]}, out={args[0]})"

    fused_form = "element"

    def fused_element(self, loop, index):
        return f"-{loop.read(0, index)}"

    def impl(self, x):
        return -x

    def array_impl(self, ns, x):
        return -x

    def abstract_eval(self, x):
        return x

    def sparse_jacobian(self, x):
        return [Scaling(-1)]

    def transpose(self, ct, x):
        return (neg(ct),)

    def batch(self, size, x):
        return neg(x)

    def fuse_into(self, eqn, consumer, producer, uses):
        """``y + (-x)`` and ``(-x) + y`` become ``y - x``, ``y - (-x)`` becomes ``y + x``,
        ``(-x) * c`` becomes ``x * (-c)`` for a scalar ``c``, both real or both complex.

        Exact: IEEE subtraction is the addition of the negated operand, and a product
        changes only its sign with the sign of a factor (a real factor of a complex product
        would gain an imaginary ``+0``, whose sign does not follow). Left to the other
        operand's producer when that one fuses into ``consumer`` (``t + pad(p)``).
        """
        negated, (x,) = eqn.out, eqn.inputs
        if consumer.prim is mul_p:
            c = consumer.params["c"].value
            # unsigned -c wraps; an array would grow the plan
            if c.size != 1 or c.dtype.kind not in "fc" or c.dtype.kind != x.aval.dtype.kind:
                return None
            minus_c = new_snapshot(c.shape, c.dtype, lambda out: np.negative(c, out=out))
            return Eqn(mul_p, (x,), {"c": Const(minus_c)}, consumer.out, consumer.source)
        for v in consumer.inputs:
            other = producer.get(v.id)
            if (v is not negated and other is not None and other.prim is not self
                    and uses.get(v.id) == 1
                    and other.prim.fuse_into(other, consumer, producer, uses) is not None):
                return None
        if consumer.prim is add_p:
            kept = [v for v in consumer.inputs if v is not negated]
            return Eqn(sub_p, (kept[0], x), {}, consumer.out, consumer.source) \
                if len(kept) == 1 else None
        if consumer.prim is sub_p and consumer.inputs[1] is negated \
                and consumer.inputs[0] is not negated:
            return Eqn(add_p, (consumer.inputs[0], x), {}, consumer.out, consumer.source)
        return None


class Mul(Primitive):
    """``x * c`` with a constant ``c`` that broadcasts to ``x`` (no conjugation on transpose)."""

    name = "mul"
    elementwise = True
    returns_fresh = True
    returns_view = False
    real_linear = False

    def emit(self, args, avals, bind, *, c):
        return f"{args[0]} * {bind(c.value)}"

    def emit_inplace(self, args, avals, bind, *, c):
        return f"{args[0]} *= {bind(c.value)}" if _keeps_aval(avals[0], c.value) else None

    fused_form = "element"

    def fused_element(self, loop, index, *, c):
        product = f"{loop.read(0, index)} * {loop.const_at(c.value, index)}"
        return loop.cast(product) if loop.const_dtype_differs(c.value) else product

    def impl(self, x, *, c):
        return x * c.value

    def region_impl(self, box, out, in_avals, x, *, c):
        return x * _constant_region(c.value, box)

    def array_impl(self, ns, x, *, c):
        return x * ns.constant(c.value, like=x)

    def abstract_eval(self, x, *, c):
        return x

    def sparse_jacobian(self, x, *, c):
        return [Scaling(self.impl(np.ones((1,) * x.ndim, x.dtype), c=c))]

    def transpose(self, ct, x, *, c):
        return (mul(ct, c),)

    def batch(self, size, x, *, c):
        return mul(x, c)

    def fold_into(self, inner, eqn):
        """``mul(mul(v, a), c)`` is ``mul(v, a * c)`` (unless ``a * c`` is a bigger array)."""
        if inner.prim is not self:
            return None
        a, c = inner.params["c"].value, eqn.params["c"].value
        if np.broadcast_shapes(a.shape, c.shape) not in (a.shape, c.shape):
            return None
        # keep the constant in the precision of the data, so the folded mul does not upcast
        data = inner.inputs[0].aval.dtype
        kind = np.result_type(a, c)
        dtype = data if np.issubdtype(kind, np.complexfloating) else np.finfo(data).dtype
        # computed straight into the snapshot: no temporary the size of the constant
        product = new_snapshot(np.broadcast_shapes(a.shape, c.shape), dtype,
                               lambda out: np.multiply(a, c, out=out, casting="unsafe"))
        return Eqn(self, inner.inputs, {"c": Const(product)}, eqn.out, eqn.source)


class Div(Primitive):
    """``x / c`` with a constant ``c`` that broadcasts to ``x``."""

    name = "div"
    elementwise = True
    returns_fresh = True
    returns_view = False
    real_linear = False

    def emit(self, args, avals, bind, *, c):
        return f"{args[0]} / {bind(c.value)}"

    def emit_inplace(self, args, avals, bind, *, c):
        return f"{args[0]} /= {bind(c.value)}" if _keeps_aval(avals[0], c.value) else None

    fused_form = "element"

    def fused_element(self, loop, index, *, c):
        quotient = f"{loop.read(0, index)} / {loop.const_at(c.value, index)}"
        return loop.cast(quotient) if loop.const_dtype_differs(c.value) else quotient

    def impl(self, x, *, c):
        return x / c.value

    def region_impl(self, box, out, in_avals, x, *, c):
        return x / _constant_region(c.value, box)

    def array_impl(self, ns, x, *, c):
        return x / ns.constant(c.value, like=x)

    def abstract_eval(self, x, *, c):
        return x

    def sparse_jacobian(self, x, *, c):
        return [Scaling(self.impl(np.ones((1,) * x.ndim, x.dtype), c=c))]

    def transpose(self, ct, x, *, c):
        return (div(ct, c),)

    def batch(self, size, x, *, c):
        return div(x, c)


class Mask(Primitive):
    """``where(m, x, 0)`` with a constant boolean ``m`` that broadcasts to ``x``."""

    name = "mask"
    elementwise = True
    returns_fresh = True
    returns_view = False
    real_linear = False

    def impl(self, x, *, m):
        return np.where(m.value, x, x.dtype.type(0))

    def region_impl(self, box, out, in_avals, x, *, m):
        return np.where(_constant_region(m.value, box), x, x.dtype.type(0))

    def array_impl(self, ns, x, *, m):
        return ns.xp.where(ns.constant(m.value, like=x), x, np.dtype(x.dtype).type(0))

    fused_form = "element"

    def fused_element(self, loop, index, *, m):
        return loop.select([(loop.const_at(m.value, index), lambda: loop.read(0, index))])

    def abstract_eval(self, x, *, m):
        return x

    def sparse_jacobian(self, x, *, m):
        return [Scaling(self.impl(np.ones((1,) * x.ndim, x.dtype), m=m))]

    def transpose(self, ct, x, *, m):
        return (mask(ct, m),)

    def batch(self, size, x, *, m):
        return mask(x, m)


add_p, sub_p, neg_p = Add(), Sub(), Neg()
mul_p, div_p, mask_p = Mul(), Div(), Mask()


def _const(c, dtype=None) -> Const:
    if isinstance(c, Const):
        return c
    return Const(np.asarray(c, dtype=dtype))


def add(x, y):
    """Record or compute ``x + y``."""
    return add_p.bind(x, y)


def sub(x, y):
    """Record or compute ``x - y``."""
    return sub_p.bind(x, y)


def neg(x):
    """Record or compute ``-x``."""
    return neg_p.bind(x)


def mul(x, c):
    """Record or compute ``x * c`` for a constant ``c``."""
    return mul_p.bind(x, c=_const(c))


def div(x, c):
    """Record or compute ``x / c`` for a constant ``c``."""
    return div_p.bind(x, c=_const(c))


def mask(x, m):
    """Record or compute ``where(m, x, 0)`` for a constant boolean ``m``."""
    return mask_p.bind(x, m=_const(m, bool))
