"""Computing one NumPy call on batched values, for all examples at once.

Broadcasting elementwise ufuncs and ``@`` keep the batch axis in front; a
function whose batched arguments are all linear values is traced on one
example and its program batched; any other function runs example by example,
the results stacked. Each is exact, so data-only code gives what a Python loop
over the examples gives.

Linear values meeting batched data: a linear value that is not batched (a
tracer of a trace started inside the vmapped function, e.g. the input of a
:func:`linop.linear_transpose` there) is first broadcast over the batch axis
with :data:`~linop.batched.levels.batch_broadcast_p` (:func:`lift`), which marks
where the stack of per-example linear maps took an example-independent input.
"""
from __future__ import annotations

import numpy as np

from ..numpy_api.views import is_view
from ..tracing import trace_flat
from ..batching import batch_program
from ..errors import BatchingError, user_location
from ..ir import ShapeDtype
from ..primitives import shape as S
from ..core import is_tracer, zeros_p
from ..pytree import tree_flatten, tree_unflatten
from .levels import BatchLevel, batch_broadcast_p, check_active
from .value import NUMPY_CALLS, BatchedArray, core_of, is_basic_index, lead, levels_of, wrap

__all__ = ["lift", "move_axis_perm", "pad_batch", "elementwise"]


# -- broadcasting over a level ------------------------------------------------------------------
def _broadcast_axis(core, position, size):
    shape = tuple(core.shape)
    expanded = S.reshape(core, shape[:position] + (1,) + shape[position:])
    return S.broadcast_to(expanded, shape[:position] + (size,) + shape[position:])


def move_axis_perm(src, dst, ndim) -> tuple:
    """The permutation that moves axis ``src`` to position ``dst``."""
    perm = [i for i in range(ndim) if i != src]
    perm.insert(dst, src)
    return tuple(perm)


def lift(x, level: BatchLevel):
    """``x`` (not batched over ``level``) broadcast over it, with the boundary where it is linear.

    Tracers of traces started inside ``level``'s vmap get a ``batch_broadcast``
    equation; data and tracers of enclosing traces a plain broadcast.
    """
    levels, core = levels_of(x), core_of(x)
    position = sum(1 for l in levels if l.serial < level.serial)
    if is_tracer(core) and id(core.builder) not in level.outer_builders:
        core = batch_broadcast_p.bind(core, level=level.serial, axis_name=level.axis_name,
                                      size=level.size)
        core = S.transpose(core, move_axis_perm(0, position, core.ndim))
    else:
        core = _broadcast_axis(core if is_tracer(core) else np.asarray(core), position, level.size)
    return wrap(core, sorted(levels + [level], key=lambda l: l.serial))


def _top_level(leaves) -> BatchLevel:
    level = max((l.level for l in leaves if isinstance(l, BatchedArray)), key=lambda l: l.serial)
    check_active(level)
    return level


def _lift_linear(leaves, level):
    """Broadcast every linear value not batched over ``level`` (it meets batched values)."""
    out = []
    for leaf in leaves:
        if not _is_mapped(leaf, level) and is_tracer(core_of(leaf)):
            leaf = lift(leaf, level)
        out.append(leaf)
    return out


def _is_mapped(leaf, level) -> bool:
    return isinstance(leaf, BatchedArray) and leaf.level is level


def pad_batch(val, ndim):
    """``val`` (batch axis first) with ones inserted after the batch axis up to ``ndim`` per example."""
    per = tuple(val.shape[1:])
    shape = (val.shape[0],) + (1,) * (ndim - len(per)) + per
    return val if shape == tuple(val.shape) else np.reshape(val, shape)


def _ndim(x) -> int:
    return x.ndim if isinstance(x, BatchedArray) or is_tracer(x) else np.ndim(x)


def _shape(x) -> tuple:
    return tuple(x.shape) if isinstance(x, BatchedArray) or is_tracer(x) else np.shape(x)


def _describe(fn) -> str:
    """The NumPy operation ``fn`` stands for, as the user wrote it."""
    what = getattr(fn, "linop_what", None)
    if what is not None:
        return what
    name = getattr(fn, "__name__", None)
    return f"np.{name}" if name else repr(fn)


# -- elementwise and matmul ---------------------------------------------------------------------
def _check_broadcast(ufunc, inputs):
    shapes = [_shape(x) for x in inputs if x is not None]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " ".join(str(s) for s in shapes)
        raise ValueError(
            f"{_describe(ufunc)} at {user_location()}: operands could not be broadcast together "
            f"with shapes {listed} (the shapes of one example of linop.vmap)") from None


def elementwise(fn, inputs, kwargs):
    """A broadcasting elementwise function: batched operands keep the batch axis in front."""
    level = _top_level(inputs)
    _check_broadcast(fn, inputs)
    inputs = _lift_linear(list(inputs), level)
    ndim = max(_ndim(x) for x in inputs)
    args = [pad_batch(x.val, ndim) if _is_mapped(x, level) else x for x in inputs]
    out = fn(*args, **kwargs)
    if isinstance(out, tuple):
        return tuple(BatchedArray(level, o) for o in out)
    return BatchedArray(level, out)


def matmul(a, b):
    """``a @ b`` with the batch axis kept in front: 1-D operands promoted as NumPy does, stacks padded."""
    level = _top_level([a, b])
    a, b = _lift_linear([a, b], level)
    ndims = [_ndim(a), _ndim(b)]
    if 0 in ndims:
        return apply_function(np.matmul, (a, b), {})  # NumPy's own error, example by example
    operands = []
    for x, ndim, axis in zip((a, b), ndims, (-2, -1)):
        mapped = _is_mapped(x, level)
        x = x.val if mapped else x if is_tracer(x) else np.asarray(x)
        if ndim == 1:
            x = np.expand_dims(x, axis)
        operands.append((x, mapped))
    stack = max(max(ndims), 2)
    a2, b2 = [pad_batch(x, stack) if mapped else x for x, mapped in operands]
    out = np.matmul(a2, b2)
    drop = tuple(ax for ax, n in zip((-2, -1), ndims) if n == 1)
    return BatchedArray(level, np.squeeze(out, drop) if drop else out)


# -- any other function -------------------------------------------------------------------------
def apply_function(fn, args, kwargs):
    """``fn(*args, **kwargs)`` for batched arguments: traced and batched when linear, else looped."""
    leaves, tree = tree_flatten((tuple(args), dict(kwargs)))
    level = _top_level(leaves)
    leaves = _lift_linear(leaves, level)
    mapped = [_is_mapped(l, level) for l in leaves]
    linear_only = all(is_tracer(l.val) for l, m in zip(leaves, mapped) if m) and not any(
        isinstance(l, BatchedArray) for l, m in zip(leaves, mapped) if not m)
    if linear_only:
        out = _traced(fn, leaves, tree, mapped, level)
        if out is not NotImplemented:
            return out
    return _looped(fn, leaves, tree, mapped, level)


class _NotArrays(Exception):
    """The function returned something other than arrays, or wrote into an argument: it is looped."""


def _traced(fn, leaves, tree, mapped, level):
    """Trace ``fn`` on one example of its linear batched arguments; run the batched program."""
    vals = [l.val for l, m in zip(leaves, mapped) if m]
    avals = [ShapeDtype(tuple(v.shape[1:]), v.dtype) for v in vals]
    views = []

    def one_example(*tracers):
        it = iter(tracers)
        args, kwargs = tree_unflatten(tree, [next(it) if m else l for l, m in zip(leaves, mapped)])
        before = [t.var for t in tracers]
        out = fn(*args, **kwargs)
        outs = tree_flatten(out)[0]
        if not all(is_tracer(o) for o in outs) or any(t.var is not v for t, v in zip(tracers, before)):
            raise _NotArrays  # not arrays, or it wrote into an argument (out=, np.copyto)
        views.extend(is_view(o) or any(o is t for t in tracers) for o in outs)
        return out

    one_example.__wrapped__ = fn
    try:
        program = trace_flat(one_example, tree_flatten(tuple(avals))[1], avals)
    except _NotArrays:
        return NotImplemented
    batched, _ = batch_program(program, level.size)
    outs = [o if is_tracer(o) else _traced_zeros(vals[0], o) for o in batched.call_flat(vals)]
    return tree_unflatten(program.out_tree, [BatchedArray(level, o, not v)
                                             for o, v in zip(outs, views)])


def _traced_zeros(like, zeros):
    """A tracer of ``like``'s trace for an output that does not depend on the inputs (zeros_like)."""
    return like.builder.add_eqn(zeros_p, (), {"shape": tuple(np.shape(zeros)),
                                              "dtype": np.asarray(zeros).dtype})


def _looped(fn, leaves, tree, mapped, level):
    """``fn`` example by example, the results stacked along the batch axis."""
    if level.size == 0:
        return _empty_batch(fn, leaves, tree, mapped, level)
    read_only = [(l.val, l.val.var) for l, m in zip(leaves, mapped)
                 if m and not l.writeable and is_tracer(l.val)]
    results, inputs = [], []
    for b in range(level.size):
        example = [l.val[b] if m else l for l, m in zip(leaves, mapped)]
        args, kwargs = tree_unflatten(tree, example)
        results.append(fn(*args, **kwargs))
        inputs.append([e for e in example if isinstance(e, np.ndarray)])
    if any(val.var is not var for val, var in read_only):
        raise BatchingError(
            f"at {user_location()}: {_describe(fn)} wrote into a read-only per-example array of "
            "linop.vmap (vmap's argument, or a result NumPy gives as a view but that was computed "
            "as a copy); write into x.copy() instead")
    return _stack(results, inputs, level, fn)


def _empty_batch(fn, leaves, tree, mapped, level):
    """``fn`` for a batch of no examples: its result shape from one example of zeros.

    The functions looped here are NumPy's, which have no effects besides their
    result, so evaluating them on a stand-in example is not observable. Where
    the stand-in is refused (``np.linalg.inv`` of zeros), the shape is unknown.
    """
    try:
        if any(m and is_tracer(l.val) for l, m in zip(leaves, mapped)):
            raise ValueError("a traced value has no example to stand in")
        example = [np.zeros(l.val.shape[1:], l.val.dtype) if m else l for l, m in zip(leaves, mapped)]
        args, kwargs = tree_unflatten(tree, example)
        with np.errstate(all="ignore"):
            result = fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - any refusal of the stand-in: the shape is unknown
        raise BatchingError(
            f"at {user_location()}: {_describe(fn)} on a per-example value of an empty vmap "
            "batch: it is computed example by example, and with no example (and an example of "
            "zeros refused) its result shape is unknown. Skip the call for an empty batch.") from None
    leaves_out, out_tree = tree_flatten(result)
    return tree_unflatten(out_tree, [_empty_column(leaf, level) for leaf in leaves_out])


def _empty_column(leaf, level):
    if not _arraylike(leaf) and not isinstance(leaf, (bool, int, float, complex, np.generic)):
        return leaf
    arr = leaf if is_tracer(leaf) else np.asarray(leaf)
    return BatchedArray(level, np.zeros((0,) + tuple(arr.shape), arr.dtype))


def _stack(results, inputs, level, fn):
    flat = [tree_flatten(r) for r in results]
    tree = flat[0][1]
    name = _describe(fn)
    if any(t != tree for _, t in flat):
        raise BatchingError(f"at {user_location()}: {name} returned results of different "
                            "structures for different examples of the vmap; they cannot be stacked")
    columns = zip(*(leaves for leaves, _ in flat))
    return tree_unflatten(tree, [_stack_column(list(c), inputs, level, name) for c in columns])


def _arraylike(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic, BatchedArray)) or is_tracer(x)


def _stack_column(column, inputs, level, name):
    if not any(_arraylike(x) for x in column):
        first = column[0]
        if all(x is first or (type(x) is type(first) and x == first) for x in column):
            return first  # the same Python object for every example (np.shape, np.ndim, dtypes)
        column = [np.asarray(x) for x in column]
    shapes = {tuple(np.shape(x)) if not _arraylike(x) else tuple(x.shape) for x in column}
    if len(shapes) > 1:
        raise BatchingError(
            f"at {user_location()}: {name} gave results of different shapes {sorted(shapes)} for "
            "different examples of the vmap; a batch needs one shape. Pad or mask to a common "
            "shape (np.where(mask, x, 0) instead of x[mask]), or loop over the examples yourself.")
    shares = any(isinstance(x, np.ndarray) and (not x.flags.writeable or any(
        np.may_share_memory(x, i) for i in ins)) for x, ins in zip(column, inputs))
    shares = shares or any(is_view(x) or isinstance(x, BatchedArray) and not x.writeable
                           for x in column)
    return BatchedArray(level, np.stack(column), writeable=not shares)


# -- writing into a batched value ---------------------------------------------------------------
def setitem(target, index, value):
    """``target[index] = value`` for a writeable batched ``target``."""
    leaves, tree = tree_flatten((index, value))
    level = _top_level([target] + leaves)
    if level is not target.level:
        raise BatchingError(
            f"at {user_location()}: a value batched over {level} was written into an array "
            f"that is not (batched over {target.level} only); make the target batched too, "
            "for example with np.zeros_like(value)")
    index, value = tree_unflatten(tree, _lift_linear(leaves, level))
    if is_basic_index(index):
        if _is_mapped(value, level):
            region = np.broadcast_to(np.empty((), bool), target.shape)[index].ndim
            value = pad_batch(value.val, region)
        target.val[lead(index)] = value
        return
    for b in range(level.size):
        example = [l.val[b] if _is_mapped(l, level) else l for l in (index, value)]
        target.val[b][example[0]] = example[1]


def _getitem(x, index):
    return x[index]


_getitem.linop_what = "indexing (x[index])"


def _method(name):
    def call(x, *args, **kwargs):
        return getattr(x, name)(*args, **kwargs)
    call.__name__ = name
    call.linop_what = f"the ndarray method x.{name}()"
    return call


def _ufunc_method(ufunc, name):
    method = getattr(ufunc, name)

    def call(*args, **kwargs):
        return method(*args, **kwargs)
    call.__name__ = name
    call.linop_what = f"np.{ufunc.__name__}.{name}"
    return call


NUMPY_CALLS.elementwise = elementwise
NUMPY_CALLS.matmul = matmul
NUMPY_CALLS.apply = apply_function
NUMPY_CALLS.setitem = setitem
NUMPY_CALLS.getitem = _getitem
NUMPY_CALLS.method = _method
NUMPY_CALLS.ufunc_method = _ufunc_method
