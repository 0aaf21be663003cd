"""The batching interpretation: per-example values of ``vmap`` flowing eagerly through NumPy.

When ``vmap``'s function is not linear in a mapped argument (per-example *data*:
weights, matrices, masks, FFT filters), the mapped arguments become
:class:`BatchedArray` values: an array (or tracer) whose leading axis is the
batch, shown to the function as one example (``x.shape`` is the per-example
shape). NumPy's protocols route every call on them here, where it is computed
for the whole batch at once: elementwise ufuncs, basic indexing, reshapes and
transposes by moving the batch axis along; functions whose batched arguments
are all linear values by tracing one example and batching the program; any
other NumPy function example by example, the results stacked. Each of these is
exact, so data-only code gives what a Python loop over the examples gives.

Linear values meeting batched data. When a linear value that is not batched
(a tracer of a trace started inside the vmapped function, e.g. the input of a
:func:`linop.linear_transpose` there) meets a batched value, it is first
broadcast over the batch axis with :data:`batch_broadcast_p`. The inner
program is then the stack of the per-example linear functions, and the
``batch_broadcast`` marks where it took an example-independent input. Its
transpose :data:`unbatch_p` turns the summed-over-nothing cotangent back into a
batched value (:func:`run_batched` evaluates it so): transposes are per example,
and ``reduce_axes`` sums over the named axis afterwards (:func:`sum_level`).

Nested vmaps. Each eager ``vmap`` is a :class:`BatchLevel`; a value batched at
several levels is nested, the innermost level outside
(``BatchedArray(inner, BatchedArray(outer, core))``), and the axes of its core
are ordered outermost level first. An operation is handled by the innermost
level present among its arguments; the values of that level are unwrapped and
the operation is applied to them, which may reach the next level.
"""
from __future__ import annotations

import itertools
import numbers
import threading

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from . import tracing
from .batching import axes_prefix, batch_program
from .errors import BatchingError, LinopError, user_location
from .ir import ShapeDtype
from .primitives import shape as S
from .primitives.base import Primitive, is_tracer
from .pytree import tree_flatten, tree_unflatten

__all__ = ["BatchLevel", "BatchedArray", "batch_broadcast_p", "unbatch_p", "levels_of", "core_of",
           "wrap", "lift", "arrange", "sum_level", "run_batched", "run_eager", "active_level",
           "apply_function"]


# -- levels ---------------------------------------------------------------------------------------
_local = threading.local()
_serials = itertools.count(1)


def _active() -> dict:
    levels = getattr(_local, "levels", None)
    if levels is None:
        levels = _local.levels = {}
    return levels


class BatchLevel:
    """One eager ``vmap``: its batch size and axis name, and its place in the nesting.

    Use as a context manager around the call of the vmapped function; values of a
    level are refused after it exits.

    Attributes
    ----------
    size : int
    axis_name : hashable or None
    serial : int
        Increases with nesting (an inner vmap's level has a larger serial).
    outer_builders : frozenset
        Ids of the traces active when the vmap started: their tracers are
        broadcast plainly (the batch is part of their function), while tracers of
        traces started inside get a ``batch_broadcast`` boundary.
    """

    def __init__(self, size: int, axis_name=None):
        self.size = int(size)
        self.axis_name = axis_name
        self.serial = next(_serials)
        self.outer_builders = frozenset(id(b) for b in tracing.active_builders())
        self.active = False

    def __enter__(self):
        self.active = True
        _active()[self.serial] = self
        return self

    def __exit__(self, *exc):
        self.active = False
        _active().pop(self.serial, None)

    def __repr__(self) -> str:
        name = "" if self.axis_name is None else f" {self.axis_name!r}"
        return f"<vmap axis{name} of size {self.size}>"


def active_level(serial: int) -> BatchLevel:
    """The active level with ``serial``, or a clear error when its vmap has returned."""
    level = _active().get(serial)
    if level is None:
        raise BatchingError(
            f"at {user_location()}: a program that transposes per-example values of a linop.vmap "
            "ran after that vmap returned; call it inside the vmapped function")
    return level


def _check_active(level: BatchLevel):
    if not level.active:
        raise BatchingError(
            f"at {user_location()}: a per-example value of {level} was used after that vmap "
            "returned (it was stored outside the function); return it from the function instead")


# -- the boundary primitives --------------------------------------------------------------------
def _lead_swap(ndim):
    return (1, 0) + tuple(range(2, ndim))


class BatchBroadcast(Primitive):
    """Broadcast a linear value over the batch axis of an eager vmap (a new leading axis).

    It marks where an example-independent linear value meets per-example data, so
    that its transpose (:class:`Unbatch`) can keep cotangents per example.
    """

    name = "batch_broadcast"

    def impl(self, x, *, level, axis_name, size):
        return np.broadcast_to(x, (size,) + np.shape(x))

    def abstract_eval(self, x, *, level, axis_name, size):
        return ShapeDtype((size,) + x.shape, x.dtype)

    def transpose(self, ct, x, *, level, axis_name, size):
        return (unbatch_p.bind(ct, level=level, axis_name=axis_name, size=size),)

    def batch(self, n, x, *, level, axis_name, size):
        return S.transpose(self.bind(x, level=level, axis_name=axis_name, size=size),
                           _lead_swap(x.ndim + 1))


class Unbatch(Primitive):
    """The transpose of :class:`BatchBroadcast`: the leading axis becomes the vmap's batch axis.

    Only :func:`run_batched`, inside the vmap of that axis, can run it: the result
    is a per-example value, not an array.
    """

    name = "unbatch"

    def impl(self, x, *, level, axis_name, size):
        raise LinopError(
            f"a transposed program with per-example cotangents over vmap axis {axis_name!r} ran "
            "outside linop's batching interpretation; call the linear_transpose result instead")

    def abstract_eval(self, x, *, level, axis_name, size):
        return ShapeDtype(x.shape[1:], x.dtype)

    def transpose(self, ct, x, *, level, axis_name, size):
        return (batch_broadcast_p.bind(ct, level=level, axis_name=axis_name, size=size),)

    def batch(self, n, x, *, level, axis_name, size):
        return self.bind(S.transpose(x, _lead_swap(x.ndim)), level=level, axis_name=axis_name,
                         size=size)


batch_broadcast_p = BatchBroadcast()
unbatch_p = Unbatch()


# -- nesting ------------------------------------------------------------------------------------
def levels_of(x) -> list:
    """The levels ``x`` is batched over, outermost first (the order of its core's axes)."""
    levels = []
    while isinstance(x, BatchedArray):
        levels.append(x.level)
        x = x.val
    return levels[::-1]


def core_of(x):
    """The array or tracer inside the nested batched value ``x``."""
    while isinstance(x, BatchedArray):
        x = x.val
    return x


def wrap(core, levels, writeable=True):
    """Nest ``core`` (axes: ``levels`` outermost first, then one example) into batched values."""
    for level in levels:
        core = BatchedArray(level, core, writeable)
    return core


def _broadcast_axis(core, position, size):
    shape = tuple(core.shape)
    expanded = S.reshape(core, shape[:position] + (1,) + shape[position:])
    return S.broadcast_to(expanded, shape[:position] + (size,) + shape[position:])


def lift(x, level: BatchLevel):
    """``x`` (not batched over ``level``) broadcast over it, with the boundary where it is linear.

    Tracers of traces started inside ``level``'s vmap get a ``batch_broadcast``
    equation; data and tracers of enclosing traces a plain broadcast.
    """
    levels, core = levels_of(x), core_of(x)
    position = sum(1 for l in levels if l.serial < level.serial)
    if is_tracer(core) and id(core._builder) not in level.outer_builders:
        core = batch_broadcast_p.bind(core, level=level.serial, axis_name=level.axis_name,
                                      size=level.size)
        core = S.transpose(core, _move(0, position, core.ndim))
    else:
        core = _broadcast_axis(core if is_tracer(core) else np.asarray(core), position, level.size)
    return wrap(core, sorted(levels + [level], key=lambda l: l.serial))


def _move(src, dst, ndim):
    perm = [i for i in range(ndim) if i != src]
    perm.insert(dst, src)
    return tuple(perm)


def arrange(x, plain_levels):
    """``x`` with the batch axes of ``plain_levels`` as leading per-example axes (outermost first).

    Levels ``x`` is not batched over are broadcast first; the other levels stay
    batched. Used to give a transposed program its per-example cotangent.
    """
    for level in plain_levels:
        if level not in levels_of(x):
            x = lift(x, level)
    levels, core = levels_of(x), core_of(x)
    keep = [l for l in levels if l not in plain_levels]
    order = [levels.index(l) for l in keep] + [levels.index(l) for l in plain_levels]
    perm = order + list(range(len(levels), core.ndim))
    return wrap(S.transpose(core, perm), keep)


def _unbatch(x, level: BatchLevel):
    """The leading per-example axis of ``x`` becomes ``level``'s batch axis."""
    levels, core = levels_of(x), core_of(x)
    position = sum(1 for l in levels if l.serial < level.serial)
    core = S.transpose(core, _move(len(levels), position, core.ndim))
    return wrap(core, sorted(levels + [level], key=lambda l: l.serial))


def sum_level(x, level: BatchLevel):
    """Sum ``x`` over ``level``'s batch axis (``reduce_axes``); unchanged if not batched over it."""
    levels = levels_of(x)
    if level not in levels:
        return x
    core = S.reduce_sum(core_of(x), (levels.index(level),))
    return wrap(core, [l for l in levels if l is not level])


# -- evaluating a transposed program on batched values ------------------------------------------
def _flat_batch(values, levels):
    """Every value as a core with all ``levels``' axes merged into one leading axis."""
    sizes = tuple(l.size for l in levels)
    cores = []
    for v in values:
        for level in levels:
            if level not in levels_of(v):
                v = lift(v, level)
        core = core_of(v)
        merged = (int(np.prod(sizes, dtype=np.int64)),) + tuple(core.shape[len(levels):])
        cores.append(S.reshape(core, merged))
    return cores, sizes


def _batched_eqn(eqn, values):
    levels = sorted({l for v in values for l in levels_of(v)}, key=lambda l: l.serial)
    for level in levels:
        _check_active(level)
    cores, sizes = _flat_batch(values, levels)
    out = eqn.prim.batch(cores[0].shape[0], *cores, **eqn.params)
    return wrap(S.reshape(out, sizes + tuple(eqn.out.aval.shape)), levels)


def run_batched(program, inputs) -> list:
    """Run ``program`` on inputs that may be batched values; outputs may be batched.

    Equations on batched values run through their primitive's batching rule (all
    levels merged into one batch axis); ``unbatch`` makes its input per-example.
    """
    env = {v.id: x for v, x in zip(program.invars, inputs)}
    for eqn in program.eqns:
        values = [env[v.id] for v in eqn.inputs]
        if eqn.prim is unbatch_p:
            out = _unbatch(values[0], active_level(eqn.params["level"]))
        elif any(isinstance(v, BatchedArray) for v in values):
            out = _batched_eqn(eqn, values)
        else:
            out = eqn.prim.bind(*values, **eqn.params)
        env[eqn.out.id] = out
    return [env[v.id] for v in program.outvars]


# -- the batched value --------------------------------------------------------------------------
def _conversion(what: str) -> BatchingError:
    return BatchingError(
        f"at {user_location()}: {what} needs the numbers of a per-example value of linop.vmap, "
        "which differ between examples, so Python cannot take one path for all of them. Keep the "
        "computation in NumPy functions on the value (np.where instead of if, for example), or "
        "loop over the examples yourself.")


def _is_basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, slice)
               or (isinstance(i, (numbers.Integral, np.integer)) and not isinstance(i, (bool, np.bool_)))
               for i in items)


def _lead(index):
    return (slice(None),) + (index if isinstance(index, tuple) else (index,))


class BatchedArray(NDArrayOperatorsMixin):
    """A per-example value of an eager :func:`linop.vmap`: ``val`` holds all examples.

    It looks like one example (``shape``, ``dtype``, NumPy functions, operators,
    indexing); ``val``'s leading axis runs over the examples of ``level``. Users
    never build one: ``vmap`` passes them to the function in place of mapped data.

    Parameters
    ----------
    level : BatchLevel
    val : ndarray, Tracer or BatchedArray (of an enclosing vmap)
    writeable : bool
        Whether ``x[...] = ...`` may write into ``val`` (``False`` for vmap's own
        arguments, so that the caller's arrays are never changed, and for results
        that NumPy would return as views but that were computed as copies).
    """

    __slots__ = ("val", "level", "writeable")
    __array_priority__ = 2000
    __hash__ = object.__hash__

    def __init__(self, level: BatchLevel, val, writeable: bool = True):
        self.level = level
        self.val = val
        self.writeable = writeable

    # -- array attributes ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """Shape of one example."""
        return tuple(self.val.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        """Dtype."""
        return self.val.dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions of one example."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements of one example."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.dtype.itemsize

    @property
    def T(self):
        """Transpose of each example (a view), as ``ndarray.T``."""
        return np.transpose(self)

    @property
    def mT(self):
        """Matrix transpose of each example's last two axes, as ``ndarray.mT``."""
        return np.swapaxes(self, -1, -2)

    @property
    def real(self):
        """Real part of each example (a view), as ``ndarray.real``."""
        return self._same_batch(self.val.real, self.writeable)

    @property
    def imag(self):
        """Imaginary part of each example, as ``ndarray.imag``."""
        return self._same_batch(self.val.imag, self.writeable and np.iscomplexobj(self.val))

    def _same_batch(self, val, writeable=True):
        return BatchedArray(self.level, val, writeable)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        return f"BatchedArray<{self.dtype}{list(self.shape)}, {self.level}>"

    # -- indexing -------------------------------------------------------------------------------
    def __getitem__(self, index):
        if _is_basic_index(index):
            _check_active(self.level)
            return self._same_batch(self.val[_lead(index)], self.writeable)
        return apply_function(_getitem, (self, index), {})

    @staticmethod
    def index_into(array, index):
        """``array[index]`` where ``index`` holds batched values (per-example indices)."""
        return apply_function(_getitem, (array, index), {})

    def __setitem__(self, index, value):
        if not self.writeable:
            raise BatchingError(
                f"at {user_location()}: this per-example array of linop.vmap is read-only (it is "
                "vmap's argument, which is never written, or a result that NumPy gives as a view "
                "but that was computed as a copy); write into x.copy() instead")
        leaves, tree = tree_flatten((index, value))
        level = _top_level([self] + leaves)
        if level is not self.level:
            raise BatchingError(
                f"at {user_location()}: a value batched over {level} was written into an array "
                f"that is not (batched over {self.level} only); make the target batched too, "
                "for example with np.zeros_like(value)")
        index, value = tree_unflatten(tree, _lift_linear(leaves, level))
        if _is_basic_index(index):
            if _is_mapped(value, level):
                region = np.broadcast_to(np.empty((), bool), self.shape)[index].ndim
                value = _pad(value.val, region)
            self.val[_lead(index)] = value
            return
        for b in range(level.size):
            example = [l.val[b] if _is_mapped(l, level) else l for l in (index, value)]
            self.val[b][example[0]] = example[1]

    # -- ndarray methods ----------------------------------------------------------------------
    def reshape(self, *shape, order="C"):
        """As ``ndarray.reshape``."""
        if len(shape) == 1 and not isinstance(shape[0], (numbers.Integral, np.integer)):
            shape = shape[0]
        return np.reshape(self, shape, order=order)

    def ravel(self, order="C"):
        """As ``ndarray.ravel``."""
        return np.ravel(self, order)

    def transpose(self, *axes):
        """As ``ndarray.transpose``."""
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], (int, np.integer))):
            axes = axes[0]
        return np.transpose(self, axes or None)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        """As ``ndarray.astype`` (elementwise, so the batch axis passes through)."""
        _check_active(self.level)
        return self._same_batch(self.val.astype(dtype, order=order, casting=casting, copy=copy))

    def copy(self, order="C"):
        """As ``ndarray.copy``: a writeable copy of every example."""
        _check_active(self.level)
        return self._same_batch(self.val.copy())

    def conj(self):
        """As ``ndarray.conj``."""
        return np.conjugate(self)

    conjugate = conj

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __getattr__(self, name):
        # Other ndarray methods (x.sum(axis=0), x.cumsum(), x.dot(y), ...) run per example.
        method = getattr(np.ndarray, name, None) if not name.startswith("__") else None
        if not callable(method):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

        def per_example(*args, **kwargs):
            return apply_function(_method(name), (self,) + args, kwargs)

        return per_example

    # -- conversions: values differ between examples ------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise _conversion("np.asarray / np.array (or a SciPy function that converts its input, "
                          "or a NumPy array indexed by it: use np.take_along_axis(a, i, axis))")

    def __bool__(self):
        raise _conversion("bool() (an if, while, and, or)")

    def __float__(self):
        raise _conversion("float()")

    def __int__(self):
        raise _conversion("int()")

    def __complex__(self):
        raise _conversion("complex()")

    def __index__(self):
        raise _conversion("use as a Python index (index a NumPy array by per-example indices "
                          "with np.take_along_axis(a, i, axis), which NumPy dispatches)")

    def tolist(self):
        """Not available: raises :class:`~linop.errors.BatchingError`."""
        raise _conversion("x.tolist()")

    def item(self, *args):
        """Not available: raises :class:`~linop.errors.BatchingError`."""
        raise _conversion("x.item()")

    # -- NumPy protocols ----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and ufunc.signature is None and \
                set(kwargs) <= {"dtype", "casting", "order", "subok"}:
            return _elementwise(ufunc, inputs, kwargs)
        if ufunc is np.matmul and method == "__call__" and not kwargs:
            return _matmul(*inputs)
        return apply_function(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        rule = _VECTORISED.get(func)
        if rule is not None:
            out = rule(*args, **kwargs)
            if out is not NotImplemented:
                return out
        return apply_function(func, args, kwargs)


tracing.DEFERRED_TYPES.add(BatchedArray)


def _getitem(x, index):
    return x[index]


def _method(name):
    def call(x, *args, **kwargs):
        return getattr(x, name)(*args, **kwargs)
    call.__name__ = name
    return call


# -- applying a function to batched arguments ---------------------------------------------------
def _top_level(leaves) -> BatchLevel:
    level = max((l.level for l in leaves if isinstance(l, BatchedArray)), key=lambda l: l.serial)
    _check_active(level)
    return level


def _lift_linear(leaves, level):
    """Broadcast every linear value not batched over ``level`` (it meets batched values)."""
    out = []
    for leaf in leaves:
        mapped = isinstance(leaf, BatchedArray) and leaf.level is level
        if not mapped and is_tracer(core_of(leaf)):
            leaf = lift(leaf, level)
        out.append(leaf)
    return out


def _is_mapped(leaf, level) -> bool:
    return isinstance(leaf, BatchedArray) and leaf.level is level


def _pad(val, ndim):
    """``val`` (batch axis first) with ones inserted after the batch axis up to ``ndim`` per example."""
    per = tuple(val.shape[1:])
    shape = (val.shape[0],) + (1,) * (ndim - len(per)) + per
    return val if shape == tuple(val.shape) else np.reshape(val, shape)


def _ndim(x) -> int:
    return x.ndim if isinstance(x, BatchedArray) or is_tracer(x) else np.ndim(x)


def _elementwise(fn, inputs, kwargs):
    """A broadcasting elementwise function: batched operands keep the batch axis in front."""
    level = _top_level(inputs)
    inputs = _lift_linear(list(inputs), level)
    ndim = max(_ndim(x) for x in inputs)
    args = [_pad(x.val, ndim) if _is_mapped(x, level) else x for x in inputs]
    out = fn(*args, **kwargs)
    if isinstance(out, tuple):
        return tuple(BatchedArray(level, o) for o in out)
    return BatchedArray(level, out)


def _matmul(a, b):
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
    a2, b2 = [_pad(x, stack) if mapped else x for x, mapped in operands]
    out = np.matmul(a2, b2)
    drop = tuple(ax for ax, n in zip((-2, -1), ndims) if n == 1)
    return BatchedArray(level, np.squeeze(out, drop) if drop else out)


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
    from .tracing import trace_flat

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
        views.extend(tracing.is_view(o) or any(o is t for t in tracers) for o in outs)
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
    from .primitives.arithmetic import zeros_p

    return like._builder.add_eqn(zeros_p, (), {"shape": tuple(np.shape(zeros)),
                                               "dtype": np.asarray(zeros).dtype})


def _looped(fn, leaves, tree, mapped, level):
    """``fn`` example by example, the results stacked along the batch axis."""
    if level.size == 0:
        raise BatchingError(
            f"at {user_location()}: {getattr(fn, '__name__', fn)} on a per-example value of an "
            "empty vmap batch: it is computed example by example, and with no example its result "
            "shape is unknown. Skip the call for an empty batch.")
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
            f"at {user_location()}: {getattr(fn, '__name__', fn)} wrote into a read-only "
            "per-example array of linop.vmap (vmap's argument, or a result NumPy gives as a view "
            "but that was computed as a copy); write into x.copy() instead")
    return _stack(results, inputs, level, fn)


def _stack(results, inputs, level, fn):
    flat = [tree_flatten(r) for r in results]
    tree = flat[0][1]
    name = getattr(fn, "__name__", repr(fn))
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
            "shape, or loop over the examples yourself.")
    shares = any(isinstance(x, np.ndarray) and (not x.flags.writeable or any(
        np.may_share_memory(x, i) for i in ins)) for x, ins in zip(column, inputs))
    shares = shares or any(tracing.is_view(x) or isinstance(x, BatchedArray) and not x.writeable
                           for x in column)
    return BatchedArray(level, np.stack(column), writeable=not shares)


# -- vectorised NumPy functions (exact: the batch axis is moved along) ---------------------------
def _where(condition, x=None, y=None, /):
    if x is None and y is None:
        return NotImplemented
    return _elementwise(np.where, (condition, x, y), {})


def _transpose(a, axes=None):
    if not isinstance(a, BatchedArray) or (axes is not None and any(
            isinstance(ax, BatchedArray) for ax in np.atleast_1d(np.asarray(axes, dtype=object)))):
        return NotImplemented
    n = a.ndim
    axes = tuple(range(n))[::-1] if axes is None else tuple(int(ax) for ax in axes)
    if sorted(ax % n for ax in axes) != list(range(n)) or len(axes) != n:
        return NotImplemented  # let NumPy raise its own error, example by example
    _check_active(a.level)
    return a._same_batch(np.transpose(a.val, (0,) + tuple(ax % n + 1 for ax in axes)), a.writeable)


def _swapaxes(a, axis1, axis2):
    if not isinstance(a, BatchedArray):
        return NotImplemented
    n = a.ndim
    if not (-n <= axis1 < n and -n <= axis2 < n):
        return NotImplemented
    _check_active(a.level)
    return a._same_batch(np.swapaxes(a.val, axis1 % n + 1, axis2 % n + 1), a.writeable)


def _reshape_target(shape, size):
    shape = (shape,) if isinstance(shape, (numbers.Integral, np.integer)) else tuple(shape)
    shape = tuple(int(d) for d in shape)
    unknown = [i for i, d in enumerate(shape) if d == -1]
    if len(unknown) == 1:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or size % known:
            return None
        shape = shape[:unknown[0]] + (size // known,) + shape[unknown[0] + 1:]
    if len(unknown) > 1 or any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.int64)) != size:
        return None
    return shape


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if not isinstance(a, BatchedArray) or order != "C" or copy is not None:
        return NotImplemented
    target = _reshape_target(newshape if shape is None else shape, a.size)
    if target is None:
        return NotImplemented  # NumPy's own error, example by example
    _check_active(a.level)
    val = a.val
    return a._same_batch(np.reshape(val, (val.shape[0],) + target), a.writeable)


def _ravel(a, order="C"):
    if not isinstance(a, BatchedArray) or order != "C":
        return NotImplemented
    return _reshape(a, (a.size,))


def _moveaxis(a, source, destination):
    if not isinstance(a, BatchedArray):
        return NotImplemented
    n = a.ndim
    src, dst = np.atleast_1d(source).tolist(), np.atleast_1d(destination).tolist()
    if len(src) != len(dst) or not all(isinstance(i, int) and -n <= i < n for i in src + dst):
        return NotImplemented
    _check_active(a.level)
    return a._same_batch(np.moveaxis(a.val, [i % n + 1 for i in src], [i % n + 1 for i in dst]),
                         a.writeable)


def _broadcast_to(array, shape, subok=False):
    if not isinstance(array, BatchedArray):
        return NotImplemented
    shape = (shape,) if isinstance(shape, (numbers.Integral, np.integer)) else tuple(shape)
    _check_active(array.level)
    val = _pad(array.val, len(shape)) if len(shape) >= array.ndim else array.val
    return array._same_batch(np.broadcast_to(val, (val.shape[0],) + shape), False)


_VECTORISED = {np.where: _where, np.transpose: _transpose, np.swapaxes: _swapaxes,
               np.reshape: _reshape, np.ravel: _ravel, np.moveaxis: _moveaxis,
               np.broadcast_to: _broadcast_to}


# -- the eager vmap -------------------------------------------------------------------------------
def _argument(leaf, axis, level):
    """A mapped argument as a read-only batched value (the caller's array is never written)."""
    if isinstance(leaf, BatchedArray) or is_tracer(leaf):
        return BatchedArray(level, np.moveaxis(leaf, axis, 0), writeable=False)
    val = np.moveaxis(np.asarray(leaf), axis, 0).view()
    val.flags.writeable = False
    return BatchedArray(level, val, writeable=False)


def _output(out, level, axis, k):
    if isinstance(out, BatchedArray) and out.level.serial > level.serial:
        _check_active(out.level)
    if isinstance(out, BatchedArray) and out.level is level:
        if axis is None:
            raise ValueError(f"vmap: output leaf {k} depends on the batch but out_axes is None for it")
        out = out.val
    else:
        if axis is None:
            return out
        if not isinstance(out, BatchedArray) and not is_tracer(out):
            out = np.asarray(out)
        out = np.broadcast_to(out[None], (level.size,) + tuple(out.shape))
    axis = int(axis)
    if not -len(out.shape) <= axis < len(out.shape):
        raise ValueError(f"vmap: out_axes {axis} is out of range for an output of "
                         f"{len(out.shape)} dimensions")
    out = np.moveaxis(out, 0, axis)
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        out = np.array(out)
    elif isinstance(out, BatchedArray) and not out.writeable:
        out = out.copy()
    return out


def run_eager(call, out_axes):
    """Run a :class:`~linop.batching.VmapCall` in the batching interpretation.

    Mapped arguments become :class:`BatchedArray` values; the function runs once
    on them; outputs batched over this vmap get their batch axis at ``out_axes``,
    the others are broadcast (or returned as they are where ``out_axes`` is ``None``).
    """
    with BatchLevel(call.size, call.axis_name) as level:
        leaves = [leaf if axis is None else _argument(leaf, axis, level)
                  for leaf, axis in zip(call.leaves, call.axes)]
        out = call.fun(*tree_unflatten(call.in_tree, leaves))
        outs, out_tree = tree_flatten(out)
        out_axes_leaves = axes_prefix(out_axes, out, "out_axes")
        final = [_output(o, level, ax, k) for k, (o, ax) in enumerate(zip(outs, out_axes_leaves))]
    return tree_unflatten(out_tree, final)
