"""Batching programs: ``vmap``'s traced path, and named axes (``psum`` for ``reduce_axes``).

``vmap(fun)`` (:func:`linop.vmap`, with :class:`VmapCall`) traces ``fun`` once on
one example (the mapped axes removed), then *batches the Program*: every
equation is re-emitted through its primitive's ``batch`` rule on inputs that carry a leading batch axis. Values
that do not depend on a mapped argument stay unbatched until they meet a
batched one (then they are broadcast along the batch axis).

Named axes. While ``vmap(..., axis_name=name)`` traces its function, a frame
records the axis name and which inputs are mapped over it. A transpose made by
:func:`linop.linear_transpose` with ``reduce_axes=(name,)`` inside that frame
emits :data:`psum_p` on the cotangent of every input that was *not* mapped over
``name`` (the forward broadcast it over the axis). ``psum`` means "sum over the
named axis if the value is batched over it, else leave it as it is" (JAX's
``reduce_axes`` rule); the batching pass of that ``vmap`` resolves it to a sum
over the batch axis, with an unbatched result.

Functions that are not linear in a mapped argument (per-example data) are run
by the batching interpretation of :mod:`linop.batched` instead.
"""
from __future__ import annotations

import numbers
import threading

import numpy as np

from .errors import LinopError
from .ir import Program, ShapeDtype
from .primitives import shape as S
from .core import Builder, Primitive, building, is_tracer, zeros
from .passes import eliminate_dead_code
from .pytree import tree_flatten, tree_unflatten

__all__ = ["VmapCall", "axes_prefix", "batch_columns", "batch_program", "reduce_named_axes",
           "primal_named_axes", "psum", "psum_p", "traced_vmap_axes"]


# -- the named-axis reduction primitive -------------------------------------------------
class Psum(Primitive):
    """Sum over the named vmap axis ``axis_name`` when the value is batched over it.

    Only the batching pass of the ``vmap`` that owns ``axis_name`` can run it;
    it is its own transpose (sum over the axis ↔ broadcast over the axis, as
    JAX's ``psum``).
    """

    name = "psum"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def impl(self, x, *, axis_name):
        raise LinopError(
            f"psum over the named axis {axis_name!r} ran outside linop.vmap(..., axis_name="
            f"{axis_name!r}); a program made with reduce_axes=({axis_name!r},) can only run "
            "under that vmap")

    def abstract_eval(self, x, *, axis_name):
        return x

    def transpose(self, ct, x, *, axis_name):
        return (psum(ct, axis_name),)

    def batch(self, size, x, *, axis_name):
        # Batched over another (inner) axis: the named sum is elementwise in that axis.
        return psum(x, axis_name)


psum_p = Psum()


def psum(x, axis_name):
    """Record the named-axis sum of ``x`` over ``axis_name`` (see :class:`Psum`)."""
    return psum_p.bind(x, axis_name=axis_name)


# -- frames of active named vmaps -------------------------------------------------------
class _Frame:
    __slots__ = ("axis_name", "builder", "input_names")

    def __init__(self, axis_name):
        self.axis_name = axis_name
        self.builder = None
        self.input_names: dict[int, frozenset] = {}


_local = threading.local()


def _frames() -> list:
    frames = getattr(_local, "frames", None)
    if frames is None:
        frames = _local.frames = []
    return frames


def _active_names() -> set:
    return {f.axis_name for f in _frames() if f.axis_name is not None}


def traced_vmap_axes():
    """The axis names of the traced vmaps running now, or ``None`` when none is running."""
    frames = _frames()
    return {f.axis_name for f in frames if f.axis_name is not None} if frames else None


def _mapped_names(x) -> frozenset:
    """Named axes a value of a vmap trace is mapped over (through its inputs)."""
    if not is_tracer(x):
        return frozenset()
    frame = next((f for f in _frames() if f.builder is x.builder), None)
    if frame is None:
        return frozenset()
    need = {x.var.id}
    for eqn in reversed(frame.builder.eqns):
        if eqn.out.id in need:
            need.update(v.id for v in eqn.inputs)
    names = frozenset()
    for vid in need:
        names |= frame.input_names.get(vid, frozenset())
    return names


def primal_named_axes(primals) -> list:
    """For each leaf of ``primals``, the named vmap axes it is mapped over."""
    leaves, _ = tree_flatten(tuple(primals))
    if not _frames():
        return [frozenset()] * len(leaves)
    return [_mapped_names(leaf) for leaf in leaves]


def reduce_named_axes(outs, reduce_axes, mapped_axes=None):
    """Sum cotangents over the active named axes in ``reduce_axes``.

    Called by :class:`linop.api.LinearTranspose` after running a transposed
    program. Outside :func:`vmap` with ``axis_name`` no named axis is active
    and the cotangents are returned unchanged.

    Parameters
    ----------
    outs : list
        Cotangents of the primal inputs (arrays or tracers).
    reduce_axes : tuple
        Axis names to reduce over.
    mapped_axes : list of frozenset, optional
        For each input, the named axes its primal was mapped over; those
        inputs keep per-example cotangents (the forward did not broadcast them).

    Returns
    -------
    list
    """
    if not reduce_axes:
        return outs
    active = _active_names()
    names = [n for n in reduce_axes if n in active]
    if not names:
        return outs
    result = []
    for i, out in enumerate(outs):
        if is_tracer(out):
            skip = mapped_axes[i] if mapped_axes is not None else frozenset()
            for name in names:
                if name not in skip:
                    out = psum(out, name)
        result.append(out)
    return result


# -- batching a program -----------------------------------------------------------------
def _broadcast_batch(x, size):
    return S.broadcast_to(S.reshape(x, (1,) + tuple(x.shape)), (size,) + tuple(x.shape))


def _batch_eqn(eqn, vals, size, axis_name):
    """Batch one equation; ``vals`` are (value, batched) pairs. Returns (value, batched)."""
    if eqn.prim is psum_p and eqn.params["axis_name"] == axis_name and axis_name is not None:
        x, batched = vals[0]
        return (S.reduce_sum(x, (0,)) if batched else x), False
    if not any(b for _, b in vals):
        return eqn.prim.bind(*(x for x, _ in vals), **eqn.params), False
    xs = [x if b else _broadcast_batch(x, size) for x, b in vals]
    out = eqn.prim.batch(size, *xs, **eqn.params)
    return _checked(out, eqn, (size,) + eqn.out.aval.shape, "batching"), True


def _checked(out, eqn, want: tuple, rule: str):
    """``out``, the result of ``eqn``'s ``rule`` rule, if it has shape ``want`` and the equation's dtype."""
    if tuple(out.shape) != want or out.dtype != eqn.out.aval.dtype:
        raise LinopError(
            f"the {rule} rule of {eqn.prim.name} (from {eqn.source}) returned "
            f"{out.dtype}{tuple(out.shape)}, expected {eqn.out.aval.dtype}{want}; this is a bug "
            "in linop, please report it")
    return out


def batch_program(program: Program, size: int, batched=None, axis_name=None,
                  broadcast_outputs=True):
    """The batched version of ``program``: inputs and outputs gain a leading axis.

    Parameters
    ----------
    program : Program
    size : int
        Length of the batch axis.
    batched : sequence of bool, optional
        Which inputs carry the batch axis (all by default).
    axis_name : hashable, optional
        The named axis this batch stands for (resolves ``psum`` over it).
    broadcast_outputs : bool
        Broadcast unbatched outputs along the batch axis.

    Returns
    -------
    batched_program : Program
        Flat inputs and outputs (a tuple of leaves each).
    out_batched : list of bool
        Which outputs carry the batch axis.
    """
    size = int(size)
    batched = [True] * len(program.invars) if batched is None else [bool(b) for b in batched]
    builder = Builder()
    ins = [builder.new_input(ShapeDtype(((size,) if b else ()) + v.aval.shape, v.aval.dtype))
           for v, b in zip(program.invars, batched)]
    env = {v.id: (t, b) for v, t, b in zip(program.invars, ins, batched)}
    with building(builder):
        for eqn in program.eqns:
            builder.source = eqn.source
            env[eqn.out.id] = _batch_eqn(eqn, [env[v.id] for v in eqn.inputs], size, axis_name)
        builder.source = None
        outs, flags = [], []
        for v in program.outvars:
            x, b = env[v.id]
            if not b and broadcast_outputs:
                x, b = _broadcast_batch(x, size), True
            if not is_tracer(x):  # a constant zero
                x = zeros(np.shape(x), np.asarray(x).dtype)
            outs.append(x)
            flags.append(b)
    tree_in = tree_flatten(tuple(t.aval for t in ins))[1]
    tree_out = tree_flatten(tuple(o.aval for o in outs))[1]
    result = Program([t.var for t in ins], builder.eqns, [o.var for o in outs], tree_in, tree_out)
    return eliminate_dead_code(result), flags


def batch_columns(program: Program, size: int) -> Program:
    """The batched version of ``program`` with the batch axis *last*: ``(n,)`` becomes ``(n, size)``.

    SciPy's ``matmat`` hands a C-ordered ``(n, k)`` matrix of columns: this program
    takes it as it is, and every value in it carries the batch axis last (innermost in
    memory), so that the NumPy executor's steps and the fused executor's loops run over
    the ``k`` columns of each element side by side, and a reshape of the input is a
    view. Each equation is re-emitted through its primitive's
    :meth:`~linop.core.Primitive.batch_last` rule; a primitive without one runs its
    :meth:`~linop.core.Primitive.batch` rule between transposes that move the batch
    axis to the front and back (views with NumPy, index maps in fused loops).

    Parameters
    ----------
    program : Program
        Every input and output batched.
    size : int
        The number of columns.

    Returns
    -------
    Program
    """
    size = int(size)
    builder = Builder()
    ins = [builder.new_input(ShapeDtype(v.aval.shape + (size,), v.aval.dtype))
           for v in program.invars]
    env = {v.id: (t, True) for v, t in zip(program.invars, ins)}
    fronts: dict = {}  # value id -> the same value with the batch axis in front, where made
    with building(builder):
        for eqn in program.eqns:
            builder.source = eqn.source
            env[eqn.out.id] = _batch_last_eqn(eqn, [env[v.id] for v in eqn.inputs], size,
                                              fronts)
        builder.source = None
        outs = []
        for v in program.outvars:
            x, batched = env[v.id]
            if not batched:
                x = _broadcast_last(x, size)
            outs.append(x if is_tracer(x) else zeros(np.shape(x), np.asarray(x).dtype))
    tree_in = tree_flatten(tuple(t.aval for t in ins))[1]
    tree_out = tree_flatten(tuple(o.aval for o in outs))[1]
    result = Program([t.var for t in ins], builder.eqns, [o.var for o in outs], tree_in, tree_out)
    return eliminate_dead_code(result)


def _broadcast_last(x, size):
    shape = tuple(np.shape(x))
    return S.broadcast_to(S.reshape(x, shape + (1,)), shape + (size,))


def _front_of(x, fronts):
    """``x`` (batch axis last) with the batch axis in front: kept in ``fronts`` or transposed."""
    front = fronts.get(id(x))
    return _move_to_front(x, len(x.shape) - 1) if front is None else front


def _batch_last_eqn(eqn, vals, size, fronts):
    """Batch one equation with the batch axis last; ``vals`` are (value, batched) pairs.

    A primitive without a batch-last rule runs its batch-first rule; its result, moved
    to the back, is kept in ``fronts`` with the batch axis in front too, so that the
    next such step reads it without a pair of transposes.
    """
    if not any(b for _, b in vals):
        return eqn.prim.bind(*(x for x, _ in vals), **eqn.params), False
    xs = [x if b else _broadcast_last(x, size) for x, b in vals]
    out = eqn.prim.batch_last(size, *xs, **eqn.params)
    if out is None:
        front = eqn.prim.batch(size, *(_front_of(x, fronts) for x in xs), **eqn.params)
        out = _move_from_front(front, len(front.shape) - 1)
        fronts[id(out)] = front
    return _checked(out, eqn, eqn.out.aval.shape + (size,), "batch-last"), True


# -- vmap -----------------------------------------------------------------------------------
def axes_prefix(spec, arg, what):
    """Per-leaf axes of ``arg`` from the prefix ``spec`` (an int/None or a matching container)."""
    if spec is None or isinstance(spec, numbers.Integral):
        return [spec] * len(tree_flatten(arg)[0])
    if isinstance(spec, dict) and isinstance(arg, dict):
        if set(spec) != set(arg):
            raise ValueError(f"vmap: {what} has keys {sorted(spec)} but the argument has keys "
                             f"{sorted(arg)}")
        return [a for k in sorted(arg) for a in axes_prefix(spec[k], arg[k], f"{what}[{k!r}]")]
    if isinstance(spec, (tuple, list)) and isinstance(arg, (tuple, list)):
        if len(spec) != len(arg):
            raise ValueError(f"vmap: {what} has {len(spec)} entries but the argument has {len(arg)}")
        return [a for i, (s, x) in enumerate(zip(spec, arg))
                for a in axes_prefix(s, x, f"{what}[{i}]")]
    raise ValueError(f"vmap: {what} = {spec!r} must be an int, None, or a container matching "
                     f"the argument's structure")


def _in_axes_per_leaf(in_axes, args) -> list:
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if isinstance(in_axes, tuple):
        if len(in_axes) != len(args):
            raise ValueError(f"vmap: in_axes has {len(in_axes)} entries but the function was "
                             f"called with {len(args)} positional arguments")
        return [a for i, (s, x) in enumerate(zip(in_axes, args))
                for a in axes_prefix(s, x, f"in_axes[{i}]")]
    return axes_prefix(in_axes, args, "in_axes")


def _leaf_shape_dtype(leaf):
    if is_tracer(leaf) or (not isinstance(leaf, np.ndarray) and hasattr(leaf, "shape")
                           and hasattr(leaf, "dtype")):
        return tuple(leaf.shape), np.dtype(leaf.dtype)
    arr = np.asarray(leaf)
    return arr.shape, arr.dtype


def _move_to_front(x, axis):
    if not is_tracer(x) and not (hasattr(x, "shape") and hasattr(x, "dtype")):
        x = np.asarray(x)
    if axis == 0:
        return x
    ndim = len(x.shape)
    perm = (axis,) + tuple(i for i in range(ndim) if i != axis)
    return S.transpose(x, perm)


def _move_from_front(x, axis):
    ndim = len(x.shape)
    if axis == 0:
        return x
    perm = list(range(1, ndim))
    perm.insert(axis, 0)
    return S.transpose(x, perm)


class VmapCall:
    """One call of a vmapped function: its arguments resolved against ``in_axes``.

    :func:`linop.vmap` first traces the function on one example with the mapped
    arguments as linear inputs (:meth:`trace`, then :meth:`run` batches the
    program); where that is not possible, it hands the call to the batching
    interpretation (:func:`linop.batched.run_eager`).

    Attributes
    ----------
    fun : callable
    leaves : list
        The arguments' leaves; ``in_tree`` their structure.
    axes : list of int or None
        Mapped axis of each leaf (non-negative), ``None`` for an unmapped one.
    size : int
        Length of the mapped axes.
    axis_name : hashable or None
    """

    def __init__(self, fun, args, in_axes, axis_name):
        self.fun = fun
        self.axis_name = axis_name
        self.leaves, self.in_tree = tree_flatten(tuple(args))
        axes = _in_axes_per_leaf(in_axes, args)
        self.size, self.axes = None, []
        for i, (leaf, axis) in enumerate(zip(self.leaves, axes)):
            if axis is not None:
                shape = _leaf_shape_dtype(leaf)[0]
                if not -len(shape) <= axis < max(len(shape), 1) or not shape:
                    raise ValueError(f"vmap: in_axes {axis} is out of range for argument leaf {i} "
                                     f"of shape {shape}")
                axis %= len(shape)
                if self.size is None:
                    self.size = shape[axis]
                elif shape[axis] != self.size:
                    raise ValueError(f"vmap: mapped axes have different sizes: {self.size} and "
                                     f"{shape[axis]} (argument leaf {i}, shape {shape}, axis {axis})")
            self.axes.append(axis)
        if self.size is None:
            raise ValueError("vmap: no argument is mapped (every in_axes is None); map at least one")

    def traceable(self) -> bool:
        """Whether every mapped leaf can be a linear input (a floating or complex dtype)."""
        return all(np.issubdtype(_leaf_shape_dtype(leaf)[1], np.inexact)
                   for leaf, axis in zip(self.leaves, self.axes) if axis is not None)

    def trace(self, trace_flat):
        """Trace the function on one example, linear in the mapped arguments.

        Parameters
        ----------
        trace_flat : callable
            The tracing of a Python function into a Program
            (:func:`linop.tracing.trace_flat`; batching sits below tracing).

        Returns
        -------
        program : Program
        inputs : list
            The program's inputs (mapped leaves with the batch axis in front, then
            unmapped traced leaves, in argument order).
        flags : list of bool
            Which inputs are batched.

        Raises
        ------
        LinopError
            Where the function is not linear in a mapped argument.
        """
        per_example, inputs, is_input, flags = [], [], [], []
        for leaf, axis in zip(self.leaves, self.axes):
            shape, dtype = _leaf_shape_dtype(leaf)
            if axis is None:
                is_input.append(is_tracer(leaf))
                if is_tracer(leaf):
                    per_example.append(ShapeDtype(shape, dtype))
                    inputs.append(leaf)
                    flags.append(False)
                continue
            per_example.append(ShapeDtype(shape[:axis] + shape[axis + 1:], dtype))
            inputs.append(_move_to_front(leaf, axis))
            is_input.append(True)
            flags.append(True)
        axis_name, leaves, in_tree, fun = self.axis_name, self.leaves, self.in_tree, self.fun
        frame = _Frame(axis_name)
        outer_names = [_mapped_names(x) for x in inputs]

        def one_example(*tracers):
            frame.builder = tracers[0].builder if tracers else None
            for t, b, outer in zip(tracers, flags, outer_names):
                own = frozenset([axis_name]) if (b and axis_name is not None) else frozenset()
                frame.input_names[t.var.id] = own | outer
            it = iter(tracers)
            full = [next(it) if inp else leaf for inp, leaf in zip(is_input, leaves)]
            return fun(*tree_unflatten(in_tree, full))

        one_example.__wrapped__ = fun  # errors name the user's function, not this wrapper

        flat_tree = tree_flatten(tuple(per_example))[1]
        _frames().append(frame)
        try:
            program = trace_flat(one_example, flat_tree, per_example)
        finally:
            _frames().pop()
        return program, inputs, flags

    def signature(self) -> tuple:
        """What decides whether the traced path can work: structure, axes, shapes, dtypes, kinds."""
        return (self.in_tree, tuple(self.axes),
                tuple((type(leaf), *_leaf_shape_dtype(leaf)) for leaf in self.leaves))

    def run(self, program, inputs, flags, out_axes):
        """Batch ``program`` (from :meth:`trace`) and run it; outputs placed by ``out_axes``."""
        size = self.size
        batched, out_flags = batch_program(program, size, flags, self.axis_name,
                                           broadcast_outputs=False)
        outs = batched.call_flat(inputs)
        out_axes_leaves = axes_prefix(out_axes, tree_unflatten(program.out_tree, outs), "out_axes")
        final = []
        for k, (o, b, ax) in enumerate(zip(outs, out_flags, out_axes_leaves)):
            if ax is None:
                if b:
                    raise ValueError(f"vmap: output leaf {k} depends on the batch but out_axes is "
                                     "None for it")
                final.append(o)
                continue
            if not b:
                o = _broadcast_batch(o, size)
            ax = int(ax)
            if not -o.ndim <= ax < o.ndim:
                raise ValueError(f"vmap: out_axes {ax} is out of range for an output of "
                                 f"{o.ndim} dimensions")
            o = _move_from_front(o, ax % o.ndim)
            if isinstance(o, np.ndarray) and not o.flags.writeable:
                o = np.array(o)
            final.append(o)
        return tree_unflatten(program.out_tree, final)
