"""``linear_transpose`` and ``vmap``, and the handling of primals and cotangents."""
from __future__ import annotations

import functools
import weakref

import numpy as np

from . import batched as B
from .batching import VmapCall, primal_named_axes, reduce_named_axes, traced_vmap_axes
from .errors import LinopError, UnboundAxisError, user_location
from .execute import conform
from .fused import check_executor
from .ir import ShapeDtype
from .pytree import leaf_paths, tree_flatten, tree_unflatten
from .tracing import primal_avals, trace_flat
from .transpose import transpose

__all__ = ["linear_transpose", "vmap", "LinearTranspose"]


def _check_reduce_axes(reduce_axes) -> tuple:
    if isinstance(reduce_axes, str) or not isinstance(reduce_axes, (tuple, list)):
        raise TypeError(f"linear_transpose: reduce_axes must be a tuple of axis names, got "
                        f"{reduce_axes!r}; write reduce_axes=({reduce_axes!r},)")
    for name in reduce_axes:
        try:
            hash(name)
        except TypeError:
            raise TypeError(f"linear_transpose: axis names in reduce_axes must be hashable, got "
                            f"{name!r}") from None
    return tuple(reduce_axes)


def _check_bound_axes(reduce_axes, what: str):
    """Refuse a name in ``reduce_axes`` that no running vmap binds (only while a vmap runs).

    Checked when the transpose is called, where the sum happens (a transpose may
    be made in an outer vmap and called in an inner one that binds the name).

    At the top level nothing is batched and ``reduce_axes`` has nothing to sum,
    as in ``jax.linear_transpose``; inside a vmap an unknown name is a typo or
    a missing ``axis_name``, which would otherwise silently sum nothing.
    """
    if not reduce_axes:
        return
    traced, eager = traced_vmap_axes(), B.active_levels()
    if traced is None and not eager:
        return
    bound = (traced or set()) | {l.axis_name for l in eager if l.axis_name is not None}
    unbound = [name for name in reduce_axes if name not in bound]
    if unbound:
        names = ", ".join(repr(n) for n in sorted(bound, key=repr)) or "none"
        raise UnboundAxisError(
            f"{what} at {user_location()}: reduce_axes names the unbound axis "
            f"{unbound[0]!r}: no enclosing linop.vmap has axis_name={unbound[0]!r} (the running "
            f"vmaps bind: {names}). Pass axis_name={unbound[0]!r} to the vmap whose batch should "
            "be summed, or correct the name.")


class LinearTranspose:
    """The callable that :func:`linear_transpose` returns.

    Call it with one cotangent shaped like ``fun(*primals)``; it returns a
    tuple shaped like ``primals``, with exactly the primals' dtypes.

    Attributes
    ----------
    program : Program
        The traced forward program.
    transposed : Program
        Its transpose, which the call runs (no forward pass).
    reduce_axes : tuple
    executor : str or None
        The executor that runs the transposed program (``None``: the default, ``"auto"``).
    mapped_axes : list or None
        For each primal leaf, the named axes it is mapped over (only with ``reduce_axes``).
    out_levels : list of list
        For each output leaf, the levels of eager vmaps (:mod:`linop.batched`) it is
        batched over: per-example data of those vmaps entered ``fun`` as constants,
        and the program's output carries their batch axes in front, outermost first.
    in_levels : list of list
        For each primal leaf, the eager vmap levels it is mapped over.
    """

    def __init__(self, program, transposed, in_tree, in_avals, reduce_axes, mapped_axes=None,
                 out_levels=None, in_levels=None, executor=None):
        self.program = program
        self.executor = executor
        self.transposed = transposed
        self.in_tree = in_tree
        self.in_avals = in_avals
        self.reduce_axes = reduce_axes
        self.mapped_axes = mapped_axes
        self.out_levels = out_levels or [[] for _ in program.outvars]
        self.in_levels = in_levels or [[] for _ in in_avals]
        self._batched = any(self.out_levels)

    def __call__(self, cotangent):
        _check_bound_axes(self.reduce_axes, "the linear_transpose result")
        if self._batched or any(isinstance(l, B.BatchedArray) for l in tree_flatten(cotangent)[0]):
            return self._call_batched(cotangent)
        leaves = self._check_cotangent(cotangent)
        outs = self.transposed.call_flat(leaves, self.executor)
        outs = reduce_named_axes(outs, self.reduce_axes, self.mapped_axes)
        outs = [_cast_exact(o, aval) for o, aval in zip(outs, self.in_avals)]
        return tree_unflatten(self.in_tree, outs)

    def _check_cotangent(self, cotangent) -> list:
        program = self.program
        leaves, tree = tree_flatten(cotangent)
        if tree != program.out_tree:
            raise TypeError(
                "linear_transpose: the cotangent must have the structure of fun's output, "
                f"{program.out_tree}; got {tree}")
        paths = leaf_paths(tree, "cotangent")
        return [conform(leaf, aval, f"linear_transpose: {path} (an output of fun)")
                for leaf, aval, path in zip(leaves, program.out_avals, paths)]

    def _call_batched(self, cotangent):
        """Per-example transposes (cotangent or constants batched by eager vmaps).

        The cotangent's batch axes that the output carries become the program's
        leading axes; the others stay batched while the transposed program runs.
        Then cotangents of primals that ``fun`` broadcast over a named axis in
        ``reduce_axes`` are summed over it.
        """
        leaves, tree = tree_flatten(cotangent)
        if tree != self.program.out_tree:
            raise TypeError(
                "linear_transpose: the cotangent must have the structure of fun's output, "
                f"{self.program.out_tree}; got {tree}")
        cts = []
        for leaf, aval, levels, path in zip(leaves, self.program.out_avals, self.out_levels,
                                            leaf_paths(tree, "cotangent")):
            name = f"linear_transpose: {path} (an output of fun)"
            per_example = ShapeDtype(aval.shape[len(levels):], aval.dtype)
            if isinstance(leaf, B.BatchedArray):
                if tuple(leaf.shape) != per_example.shape:
                    raise ValueError(f"{name} must have shape {per_example.shape}, got "
                                     f"{tuple(leaf.shape)}")
                core = B.core_of(leaf)
                core = conform(core, ShapeDtype(tuple(core.shape), aval.dtype), name)
                leaf = B.wrap(core, B.levels_of(leaf))
            else:
                leaf = conform(leaf, per_example, name)
            cts.append(B.arrange(leaf, levels))
        outs = B.run_batched(self.transposed, cts)
        result = []
        for out, aval, levels, names in zip(outs, self.in_avals, self.in_levels,
                                            self.mapped_axes or [None] * len(outs)):
            for level in B.levels_of(out):
                if level.axis_name in self.reduce_axes and level not in levels:
                    out = B.sum_level(out, level)
            core = reduce_named_axes([B.core_of(out)], self.reduce_axes,
                                     None if names is None else [names])[0]
            result.append(B.wrap(_cast_exact(core, aval), B.levels_of(out)))
        return tree_unflatten(self.in_tree, result)

    def __repr__(self) -> str:
        return f"<linear transpose of\n{self.program}>"


def _cast_exact(x, aval: ShapeDtype):
    """Give ``x`` exactly ``aval.dtype``, truncating complex→real and double→single."""
    if x.dtype == aval.dtype:
        return x
    if np.issubdtype(x.dtype, np.complexfloating) and not np.issubdtype(aval.dtype, np.complexfloating):
        x = x.real
    return x.astype(aval.dtype)


def linear_transpose(fun, *primals, reduce_axes=(), executor=None):
    """Transpose a linear NumPy function, with ``jax.linear_transpose`` semantics.

    Parameters
    ----------
    fun : callable
        A function that is linear in all of its arguments, written with NumPy.
    *primals
        Arrays, scalars, :class:`ShapeDtype` or objects with ``shape`` and
        ``dtype``, nested in tuples, lists, dicts, namedtuples and ``None``.
        Only shapes and dtypes are read. Integer dtypes raise ``TypeError``.
    reduce_axes : tuple of str, optional
        Named batch axes (from :func:`linop.vmap` with ``axis_name``) over which
        the transpose sums the cotangent of inputs that ``fun`` broadcast over
        that axis. At the top level (no ``vmap`` running) it changes nothing;
        when the transpose is called inside a ``vmap``, a name that no enclosing
        ``vmap`` binds raises :class:`~linop.errors.UnboundAxisError` (JAX would
        ignore it silently).
    executor : {"auto", "numpy", "numba"}, optional
        What runs the transposed program (see :func:`linop.aslinearoperator`); default
        ``"auto"``. Inside a ``vmap`` with per-example data the program runs equation by
        equation whatever the executor.

    Returns
    -------
    LinearTranspose
        A callable taking one cotangent shaped like ``fun(*primals)`` and
        returning a tuple shaped like ``primals`` with exactly their dtypes.
        No forward pass is run: the call executes the transposed program.

    Raises
    ------
    NonLinearError, AffineError, UnsupportedFunctionError, ConversionError
        While tracing ``fun``, with the NumPy call and ``file:line``.
    UnboundAxisError
        From the call of the result inside a ``vmap``, for a name in ``reduce_axes``
        that no enclosing ``vmap`` binds.

    Examples
    --------
    >>> import numpy as np, linop
    >>> f = lambda x, y: 0.5 * x - 0.5 * y
    >>> s = linop.ShapeDtype((), np.float32)
    >>> linop.linear_transpose(f, s, s)(1.0)
    (array(0.5, dtype=float32), array(-0.5, dtype=float32))
    """
    reduce_axes = _check_reduce_axes(reduce_axes)
    if executor is not None:
        executor = check_executor(executor)
    in_tree, avals = primal_avals(primals, "linear_transpose")
    out_levels = []
    program = trace_flat(_unbatching_outputs(fun, out_levels), in_tree, avals)
    primal_leaves = tree_flatten(tuple(primals))[0]
    mapped_axes = None
    if reduce_axes:  # inputs that keep per-example cotangents
        mapped_axes = primal_named_axes([B.core_of(leaf) for leaf in primal_leaves])
    in_levels = [B.levels_of(leaf) for leaf in primal_leaves]
    return LinearTranspose(program, transpose(program), in_tree, avals, reduce_axes, mapped_axes,
                           out_levels, in_levels, executor)


def _unbatching_outputs(fun, out_levels: list):
    """``fun`` with outputs batched by eager vmaps replaced by their cores (levels in ``out_levels``).

    Per-example data of an enclosing vmap, used as constants, makes the traced
    function the stack of per-example functions: its outputs carry the batch axes.
    """
    @functools.wraps(fun)
    def unbatched(*args):
        leaves, tree = tree_flatten(fun(*args))
        out_levels[:] = [B.levels_of(leaf) for leaf in leaves]
        return tree_unflatten(tree, [B.core_of(leaf) for leaf in leaves])

    return unbatched


def vmap(fun, in_axes=0, out_axes=0, axis_name=None):
    """Vectorise a NumPy function over a batch axis.

    Where ``fun`` is linear in its mapped arguments, it is traced once on a single
    example and the resulting program is batched with each primitive's batching
    rule: the batch runs as one program on whole arrays, not as a Python loop.
    Otherwise (mapped arguments used as per-example *data*: multipliers, matrices,
    masks, FFT filters, integer indices) the mapped arguments flow through ``fun``
    as batched values (:mod:`linop.batched`): NumPy computes each call for all
    examples at once where that is exact, and example by example otherwise, and
    linear functions traced inside ``fun`` (:func:`linear_transpose`) become the
    per-example stack of their linear maps.

    Parameters
    ----------
    fun : callable
    in_axes : int, None, or a tuple with one entry per positional argument
        Axis of each argument to map over. Entries may be pytree prefixes
        (an entry for a whole container, or a matching container). ``None``
        marks an argument that is not mapped: arrays are then plain constants
        of ``fun`` (closed over), traced values stay unbatched.
    out_axes : int, None or a pytree prefix of the output
        Where the batch axis goes in each output; ``None`` requires that the
        output does not depend on the batch (for example after a
        ``reduce_axes`` sum) and returns it without a batch axis.
    axis_name : hashable, optional
        Names the batch axis, for :func:`linear_transpose`'s ``reduce_axes``
        called inside ``fun``.

    Returns
    -------
    callable
        Same arguments as ``fun``, with the mapped axes added.

    Raises
    ------
    BatchingError
        Where ``fun`` needs Python values of per-example data (``if x.sum() > 0``,
        ``float(x)``, writing one into a plain NumPy array), examples give results of
        different shapes, or ``linop.trace`` / ``linop.aslinearoperator`` is applied
        inside ``fun`` to a function of per-example data.

    Notes
    -----
    Whether a floating mapped argument is a linear input or data cannot be
    told from the arguments, so the traced path is tried first. Where ``fun``
    is not linear in a mapped argument, that attempt stops at the first
    non-linear use and ``fun`` runs again on batched values: on the first call
    with a given argument signature, ``fun``'s side effects before that point
    (counters, list appends, prints, random draws, tracers it stores) happen
    twice, and values computed from them see the doubled state. Later calls of
    the same function with the same signature, integer or boolean mapped data,
    and arguments batched by an enclosing ``vmap`` run ``fun`` once. Keep side
    effects out of ``fun`` (pass random numbers in as a mapped argument).

    Examples
    --------
    >>> import numpy as np, linop
    >>> f = linop.vmap(lambda x: x[1:] - x[:-1])
    >>> f(np.array([[0., 1., 3.], [1., 1., 1.]]))
    array([[1., 2.],
           [0., 0.]])

    Per-example transposes, summed over the batch with ``reduce_axes``:

    >>> def grad(x, ct):
    ...     return linop.linear_transpose(lambda w: x * w, np.zeros(2),
    ...                                   reduce_axes=("batch",))(ct)[0]
    >>> linop.vmap(grad, axis_name="batch", out_axes=None)(np.ones((3, 2)), np.ones((3, 2)))
    array([3., 3.])
    """

    @functools.wraps(fun)
    def batched_fun(*args):
        call = VmapCall(fun, args, in_axes, axis_name)
        if _traced_first(call):
            try:
                traced = call.trace(trace_flat)
            except LinopError:
                _remember_untraceable(call)  # not linear in a mapped argument: per-example data
            else:
                return call.run(*traced, out_axes)
        return B.run_eager(call, out_axes)

    return batched_fun


#: For each vmapped function, the calls (axis name and argument signature) whose traced
#: attempt failed: they go to the batching interpretation directly, so ``fun`` runs once.
_UNTRACEABLE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _call_key(call) -> tuple:
    return (call.axis_name, call.signature())


def _remember_untraceable(call):
    try:
        known = _UNTRACEABLE.setdefault(call.fun, set())
    except TypeError:  # a callable that takes no weak references: nothing is remembered
        return
    if len(known) >= 64:
        known.clear()
    known.add(_call_key(call))


def _traced_first(call) -> bool:
    """Whether ``vmap`` tries the traced path first for ``call``.

    Not where a mapped leaf is not floating or complex (it cannot be a linear
    input), nor where an argument is a per-example value of an enclosing eager
    vmap (a plain tracer of the traced path would lose its batch level), nor for
    an argument signature whose traced attempt already failed for this function.
    """
    if not call.traceable():
        return False
    if any(isinstance(leaf, B.BatchedArray) for leaf in call.leaves):
        return False
    try:
        known = _UNTRACEABLE.get(call.fun, ())
    except TypeError:
        return True
    return _call_key(call) not in known
