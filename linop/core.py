"""The trace model: primitives, tracers, the builder that records equations, ``bind``.

This is the bottom of linop above the IR (it imports only :mod:`linop.errors`,
:mod:`linop.pytree` and :mod:`linop.ir`). Every interpretation is written with it:
tracing (:mod:`linop.tracing`, with the NumPy-facing tracer of :mod:`linop.numpy_api`),
the reverse pass (:mod:`linop.transpose`) and batching (:mod:`linop.batching`).

A primitive carries all of its rules in one class:

* ``impl(*arrays, **params)``: run it with NumPy;
* ``abstract_eval(*avals, **params)``: its output shape and dtype;
* ``transpose(ct, *avals, **params)``: the cotangents of its inputs, one per
  input (``None`` for a zero), written with ``bind`` so that it records
  equations when ``ct`` is traced;
* ``batch(size, *xs, **params)``: the same operation applied to inputs that
  carry a leading batch axis of length ``size``.

Every input of a primitive is linear; constants are parameters.
"""
from __future__ import annotations

import contextlib
import importlib
import threading

import numpy as np
import scipy.sparse as sp

from .errors import AffineError, EscapedTracerError, LinopError, TracerMixError, user_location
from .ir import Const, Eqn, Program, ShapeDtype, Var
from .snapshots import Captures

__all__ = ["Primitive", "lookup_primitive", "TracerBase", "Builder", "bind", "is_tracer",
           "current_builder", "active_builders", "building", "zeros", "zeros_p",
           "zeros_or_affine", "replay", "Scaling", "Placement", "transposed_selection_jacobians",
           "aval_of", "strided_window"]


def _with_trailing_axis(param):
    """An array constant that broadcasts against a value as it did before that value gained
    a trailing batch axis (a 0-d one as it is); any other parameter unchanged."""
    if isinstance(param, Const) and param.value.ndim:
        return Const(param.value[..., None])
    return param


class Primitive:
    """A linear building block of the IR; subclasses define its rules."""

    name = "primitive"
    #: Whether ``impl`` always returns a new, writeable array that aliases no input
    #: (the compiled executor may then update it in place).
    returns_fresh = False
    #: Whether ``impl`` returns a view of its (single) input, never a copy of other memory.
    returns_view = False
    #: Whether the inputs may be swapped (the executor then updates whichever one it owns).
    commutative = False
    #: Whether parameters may hold constants inside tuples, lists and dicts (user-defined
    #: primitives, whose parameters are the user's keyword arguments). The builder then
    #: captures those too; otherwise it captures top-level parameter values only.
    nested_constants = False
    #: Whether the primitive is linear over the reals but not over the complex numbers
    #: (``real``, ``imag``, ``conj``, ``complex``): no complex matrix represents it on
    #: complex values (see :func:`linop.operator.real_linear_steps`).
    real_linear = False
    #: Whether it is conjugate-linear, ``f(a x) = conj(a) f(x)`` (``conj``): two such
    #: steps in a row make a complex-linear map.
    conjugate_linear = False

    def real_linear_for(self, params) -> bool:
        """Whether an equation of this primitive with ``params`` is only real-linear.

        The default is :attr:`real_linear`; a primitive whose linearity depends on
        its parameters (a foreign operator's ``clinear`` flag) overrides this.
        """
        return self.real_linear

    def emit(self, args, avals, bind, **params):
        """Python source for ``impl`` on variables named ``args``, for the compiled executor.

        Parameters
        ----------
        args : list of str
            Names of the input variables in the generated code.
        avals : list of ShapeDtype
            Their shapes and dtypes.
        bind : callable
            ``bind(value)`` stores a constant in the generated code's namespace and
            returns its name.

        Returns
        -------
        str or None
            An expression that computes exactly what ``impl`` computes, or ``None``
            to call ``impl`` itself.
        """
        return None

    def emit_inplace(self, args, avals, bind, **params):
        """A statement that turns the array named ``args[0]`` into the result, in place.

        The executor uses it when it owns the first input (a fresh array nobody
        else reads). Same arguments as :meth:`emit`.

        Returns
        -------
        str or None
            The statement, or ``None`` when the primitive cannot work in place.
        """
        return None

    def overwrites(self, eqn, earlier) -> bool:
        """Whether ``eqn`` (of this primitive) writes again every element ``earlier`` changed.

        Both equations have the same first input ``x``; ``earlier`` computes a new
        version of ``x`` (a slice update, an accumulation into a slice). When ``eqn``'s
        result does not depend on those elements of ``x``, it may read ``earlier``'s
        output instead (:func:`linop.passes.rebase_writes`). The default is ``False``.
        """
        return False

    def fold_into(self, inner, eqn):
        """``eqn`` (of this primitive) merged with ``inner``, the producer of its first input.

        Used by :func:`linop.passes.fold_chains`.

        Returns
        -------
        Eqn, Var or None
            One equation computing ``eqn.out`` from ``inner``'s inputs, a variable
            (one of ``inner``'s inputs) whose value ``eqn.out`` is, or ``None``.
        """
        return None

    def fuse_into(self, eqn, consumer, producer, uses):
        """``consumer`` rewritten to absorb ``eqn`` (of this primitive), for the executor.

        Used by :func:`linop.passes.fuse_for_execution` when ``eqn``'s output is
        read once, by ``consumer``.

        Parameters
        ----------
        eqn, consumer : Eqn
        producer : dict
            The equation that computed each variable so far, by variable id.
        uses : dict
            How many times each variable is read, by variable id.

        Returns
        -------
        Eqn or None
            An equation computing ``consumer.out`` without ``eqn``, or ``None``.
        """
        return None

    def absorb(self, eqn, producer, uses):
        """``eqn`` (of this primitive) rewritten to absorb producers of its inputs, for the executor.

        Used by :func:`linop.passes.fuse_for_execution`; the counterpart of
        :meth:`fuse_into` for rules the consumer knows. Same arguments and result.
        """
        return None

    def promoted_params(self, params: dict, promote) -> dict | None:
        """``params`` for inputs of a higher precision, or ``None`` to keep the recorded one.

        Used by :func:`linop.precision.promote_program`, which checks the result
        with :meth:`abstract_eval`. The default promotes dtype-valued parameters
        (``zeros``, ``convert``) and keeps constants as they are: a ``float32``
        constant applied to a ``float64`` value computes in ``float64``, as NumPy does.

        Parameters
        ----------
        params : dict
        promote : callable
            ``promote(dtype)``: the dtype at the higher precision (integers unchanged).
        """
        if not any(isinstance(v, np.dtype) for v in params.values()):
            return params
        return {k: promote(v) if isinstance(v, np.dtype) else v for k, v in params.items()}

    #: How the fused executor (:mod:`linop.fused`) compiles this primitive into loops:
    #: ``"element"`` (each output element is an expression of input elements, written by
    #: :meth:`fused_element`), ``"loops"`` (it writes its output with loops of its own,
    #: :meth:`fused_loops`: running sums, accumulations), or ``None`` (a library call, run
    #: with ``impl``: FFTs, dense and sparse products).
    fused_form = None
    #: Whether :meth:`fused_element` reads one input element for several output elements
    #: (broadcasts, gathers): a computed input is then stored first, not recomputed.
    fused_repeats_inputs = False
    #: Whether ``impl`` (a library call) takes a keyword ``workers``, the number of threads
    #: it may run on (one without it), and computes the same result, bit for bit, with any
    #: number: the fused executor then measures whether several threads pay (FFTs).
    threaded_impl = False
    #: Whether ``impl`` takes a keyword ``overwrite_x``: with ``True`` it may write its result
    #: into the memory of its (first) input, which it destroys, instead of a new array, with
    #: the same values bit for bit. The fused executor passes it for a buffer of the plan's
    #: own that nothing reads afterwards (FFTs: no 8 MB allocation per call).
    overwrite_impl = False

    def fused_element(self, loop, index, **params) -> str:
        """One output element as an expression of input elements (``fused_form = "element"``).

        Parameters
        ----------
        loop : linop.fused.codegen.Loop
            The kernel being written: ``loop.read(k, index)`` is input ``k``'s element at
            ``index``, ``loop.int(n)`` an integer parameter, ``loop.const_at(array, index)``
            a constant's element (broadcast right-aligned), ``loop.select(branches)`` a
            conditional value (bounds as predicates), ``loop.temp(expr)`` a local.
        index : list of str
            The output element's index, one integer expression per axis.

        Returns
        -------
        str
            A numba expression of the element (cast to the output dtype by the caller).
        """
        raise LinopError(f"primitive {self.name} has no fused element rule")

    def fused_loops(self, loop, **params):
        """Write the whole output with loops (required when ``fused_form = "loops"``).

        ``loop.output(zeros)`` allocates the output, ``loop.nest(shape)`` opens loops
        over a shape (a context manager giving the index), ``loop.emit(line)`` writes a
        statement and ``loop.read(k, index)`` reads an input element in those loops.
        An ``"element"`` primitive may define it too, for when its output is stored (a
        reshape then loops over its input's shape, sparing index arithmetic).

        Returns
        -------
        None, or NotImplemented
            ``NotImplemented`` (the default) lets :meth:`fused_element` write the output.
        """
        return NotImplemented

    #: How an equation touches the strided slice of its input 0 that its ``starts``,
    #: ``stops`` and ``steps`` parameters name: ``"read"`` (the output is that slice),
    #: ``"write"`` (the output is input 0 with each element of the slice combined with the
    #: matching element of input 1 alone, every other element unchanged), or ``None``.
    #: :mod:`linop.reroll` re-rolls runs of such writes that a Python loop left.
    strided_access = None

    #: Whether the output is input 0 with some elements changed (slice writes and
    #: accumulations): the fused executor then writes a long chain of them into one
    #: buffer, each with :meth:`fused_update`, instead of testing every element
    #: against every write.
    fused_updates = False

    def fused_update(self, loop, name, **params) -> None:
        """Change the elements of the array ``name``, which holds input 0, into the output's
        (required when :attr:`fused_updates`): loops over the changed elements only,
        written with ``loop.nest``, ``loop.read`` and ``loop.emit``."""
        raise LinopError(f"primitive {self.name} has no fused update rule")

    #: Whether every output element is one input element or a zero that ``impl`` fills in,
    #: with no arithmetic (slices, pads, reshapes, transposes, gathers, concatenations).
    #: :func:`linop.tosparse` then carries each element's column indices and coefficients
    #: through ``batch`` (which must work on integer arrays too) instead of multiplying
    #: matrices, and needs no :meth:`sparse_jacobian`.
    moves_elements = False

    #: Whether the output is the input's elements in the same C order (a reshape):
    #: :func:`linop.tosparse` then keeps every row's entries as they are.
    keeps_flat_order = False

    def element_map(self, x, **params):
        """Where each output element is read from, axis by axis, or ``None`` (the default).

        Used by :func:`linop.tosparse` on a primitive with :attr:`moves_elements` and one
        input ``x`` (a ShapeDtype) to move structured slots without running ``batch``.
        A list with one entry ``(axis, out_first, out_step, in_first, in_step, count)``
        per output axis: along that output axis, position ``out_first + out_step * t``
        reads position ``in_first + in_step * t`` along input axis ``axis`` (``None``: the
        output axis is new, ``in_first = in_step = 0``), for ``t`` in ``range(count)``;
        every other output element is zero. Each input axis is named once.
        """
        return None

    def sparse_jacobian(self, *in_avals, **params):
        """The exact sparse matrix of each input, or ``None`` for no structural rule.

        Used by :func:`linop.tosparse`. For inputs of ``in_avals`` (ShapeDtype) and
        output ``out``, the result is a list with one rule ``J_k`` per input such that
        ``out.ravel() = sum_k J_k @ in_k.ravel()``: a ``scipy.sparse`` matrix of shape
        ``(out.size, in_k.size)`` over C-order flattened elements, a :class:`Scaling`
        (an element-wise factor, for inputs of the output's shape), a :class:`Placement`
        (the input placed as a primitive that moves elements places it) or ``None``
        (the input does not contribute). A real-linear primitive (``real``, ``conj``, ...)
        gives a pair ``(J_k, K_k)`` instead, meaning ``J_k @ in_k.ravel() +
        K_k @ conj(in_k.ravel())``. With ``None`` (the default) ``tosparse`` probes
        ``impl`` on the identity instead, up to its ``dense_limit``. Primitives that
        only move elements set :attr:`moves_elements` instead;
        :func:`transposed_selection_jacobians` covers those whose transpose does.
        """
        return None

    #: Whether the output has the shape of every input and each of its elements is
    #: computed from the inputs' elements at the same index only (``add``, ``neg``,
    #: ``real``, products with a constant): the output's elements in a box then read the
    #: inputs in that box (:meth:`region_reads`).
    elementwise = False

    def region_reads(self, box, *in_avals, **params):
        """The box of each input that the output's elements in ``box`` read, or ``None``.

        Used by backends that compute a program's blocks one box at a time
        (:mod:`linop.dask_exec` runs a chain of slices, pads, slice updates and elementwise
        steps as one task per output block). ``box`` is a tuple of ``(start, stop)`` per
        output axis (not empty); the result holds one box per input, ``None`` for an
        input none of whose elements the output's elements in ``box`` read. ``None`` (the
        default for primitives that are not :attr:`elementwise` and have no usable
        :meth:`element_map`) means the primitive has no region rule.
        """
        if self.elementwise:
            return [box] * len(in_avals)
        mapping = _region_map(self, in_avals, params)
        if mapping is None:
            return None
        windows = _map_windows(box, mapping)
        if windows is None:
            return [None]
        read = [None] * len(mapping)
        for (t0, t1), (axis, _, _, in_first, in_step, _) in zip(windows, mapping):
            first, last = in_first + in_step * t0, in_first + in_step * (t1 - 1)
            read[axis] = (min(first, last), max(first, last) + 1)
        return [tuple(read)]

    def region_impl(self, box, out, in_avals, *xs, **params):
        """The output's elements in ``box`` from each input's elements in its box of
        :meth:`region_reads` (``None`` where that gave ``None``): a NumPy array of the
        box's shape. ``out`` and ``in_avals`` are the whole output's and inputs' ShapeDtypes."""
        if self.elementwise:
            return self.impl(*xs, **params)
        shape = tuple(hi - lo for lo, hi in box)
        if xs[0] is None:
            return np.zeros(shape, out.dtype)
        mapping = _region_map(self, in_avals, params)
        picks, places = [None] * len(mapping), []
        for (lo, _), (t0, t1), (axis, out_first, out_step, _, in_step, _) in zip(
                box, _map_windows(box, mapping), mapping):
            start = out_first + out_step * t0 - lo
            places.append(slice(start, start + out_step * (t1 - t0 - 1) + 1, out_step))
            picks[axis] = slice(None, None, in_step)  # the read box ends at the positions read
        part = np.transpose(xs[0][tuple(picks)], [m[0] for m in mapping])
        if part.shape == shape:
            return part
        result = np.zeros(shape, out.dtype)
        result[tuple(places)] = part
        return result

    def array_impl(self, ns, *xs, **params):
        """The result on arrays of another array library, written against its array API.

        Used by :func:`linop.namespace.run_on_backend` for non-NumPy inputs. ``ns`` is a
        :class:`linop.namespace.Backend`: ``ns.xp`` is the inputs' array-API namespace and
        ``ns.constant(value, like)`` brings a captured NumPy constant over (once). The
        default runs :meth:`impl` on whole NumPy copies of the inputs
        (:meth:`~linop.namespace.Backend.whole`): correct for every primitive, but it
        gathers each input in one place.
        """
        return ns.whole(self, xs, params, self.abstract_eval(*(aval_of(x) for x in xs), **params))

    def dask_impl(self, dk, *xs, **params):
        """The result on Dask arrays; the default is :meth:`array_impl`.

        Overridden where Dask needs its own chunk-aware operation. ``dk`` is a
        :class:`linop.dask_exec.DaskBackend` (a :class:`~linop.namespace.Backend` with
        ``dk.da``, the ``dask.array`` module, and chunk-aware helpers such as
        ``dk.along_axes``, ``dk.sparse_along`` and ``dk.elementwise``).
        """
        return self.array_impl(dk, *xs, **params)

    def bind(self, *args, **params):
        """Apply the primitive: record an equation on tracers, compute on arrays."""
        return bind(self, args, params)

    def impl(self, *xs, **params):  # pragma: no cover - every subclass overrides
        """The result on arrays, computed with NumPy."""
        raise LinopError(f"primitive {self.name} has no implementation")

    def abstract_eval(self, *avals, **params) -> ShapeDtype:  # pragma: no cover
        """The output's shape and dtype (a ShapeDtype) for inputs of ``avals``."""
        raise LinopError(f"primitive {self.name} has no shape rule")

    def transpose(self, ct, *avals, **params) -> tuple:  # pragma: no cover
        """The cotangent of each input (``None`` for zero) given ``ct``, written with ``bind``."""
        raise LinopError(f"primitive {self.name} has no transpose rule")

    def batch(self, size, *xs, **params):  # pragma: no cover
        """The result for inputs that carry a leading batch axis of length ``size``."""
        raise LinopError(f"primitive {self.name} has no batching rule")

    def batch_last(self, size, *xs, **params):
        """The result for inputs that carry a *trailing* batch axis of length ``size``, or ``None``.

        ``matmat`` runs programs batched this way on C-ordered columns (see
        :func:`linop.batching.batch_columns`): every value then has the batch axis last,
        in memory innermost, so that loops over a value read the columns of one element
        side by side. ``None`` (the default, but for :attr:`elementwise` primitives, whose
        array constants gain a trailing axis of length 1) means the primitive has no such
        rule: the batching moves the batch axis to the front for its :meth:`batch` rule
        and back after it.
        """
        if not self.elementwise:
            return None
        return self.bind(*xs, **{k: _with_trailing_axis(v) for k, v in params.items()})

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self):
        # Primitives are singletons: pickle them by module and attribute name.
        return (lookup_primitive, (type(self).__module__, self.name))


def aval_of(x) -> ShapeDtype:
    """The shape and dtype of an array of any library (read from ``.shape`` and ``.dtype``)."""
    return ShapeDtype(tuple(x.shape), np.dtype(x.dtype))


class Scaling:
    """The sparse rule ``out = factor * x``, element by element (a diagonal matrix).

    Returned by :meth:`Primitive.sparse_jacobian` for an input of the output's shape.

    Parameters
    ----------
    factor : int, float, complex or numpy.ndarray
        Broadcasts to the input's shape (right-aligned, as in NumPy). A Python number
        keeps the coefficients' dtype (NumPy's weak scalars); an array's dtype takes
        part in the result's (``imag`` scales by ``np.asarray(-0.5j, dtype)``).
    """

    __slots__ = ("factor",)

    def __init__(self, factor=1):
        self.factor = factor if isinstance(factor, (int, float, complex)) else np.asarray(factor)

    def __repr__(self):
        return f"Scaling({self.factor!r})"


class Placement:
    """The sparse rule ``out = factor * prim(x)`` for a primitive ``prim`` that moves elements.

    Returned by :meth:`Primitive.sparse_jacobian` where an input lands in the output
    as another primitive would place it (``add_slice`` adds its update as ``pad``
    places it); ``prim`` sets :attr:`Primitive.moves_elements`.

    Parameters
    ----------
    prim : Primitive
    params : dict
        ``prim``'s parameters.
    factor : int, float or complex
        A Python number (it keeps the coefficients' dtype).
    """

    __slots__ = ("prim", "params", "factor")

    def __init__(self, prim, params, factor=1):
        self.prim, self.params, self.factor = prim, params, factor

    def __repr__(self):
        return f"Placement({self.prim.name}, {self.params!r}, {self.factor!r})"


def transposed_selection_jacobians(prim: Primitive, in_avals, out_aval, params) -> list:
    """The matrices of a primitive whose transpose is a selection (sums, scatters).

    The ``transpose`` rule runs on arrays holding each output element's 1-based
    position; every input element then names the output element it adds into
    (0: none). The matrices are CSR, of ``out_aval``'s dtype.
    """
    ct = np.arange(1, out_aval.size + 1, dtype=np.float64).reshape(out_aval.shape)
    real_avals = [ShapeDtype(a.shape, np.float64) for a in in_avals]
    cts = prim.transpose(ct, *real_avals, **params)
    result = []
    for a, c in zip(in_avals, cts):
        codes = np.zeros(a.size) if c is None else np.broadcast_to(c, a.shape).ravel()
        cols = np.flatnonzero(codes)
        rows = np.rint(codes[cols]).astype(np.int64) - 1
        result.append(sp.csr_matrix((np.ones(cols.size, out_aval.dtype), (rows, cols)),
                                    shape=(out_aval.size, a.size)))
    return result


def lookup_primitive(module: str, name: str) -> Primitive:
    """The primitive named ``name`` defined in ``module`` (how pickled primitives load)."""
    mod = importlib.import_module(module)
    for value in vars(mod).values():
        if isinstance(value, Primitive) and value.name == name:
            return value
    raise LinopError(f"cannot find primitive {name!r} in {module}")


class TracerBase:
    """A traced value: the trace (:class:`Builder`) it records into and its IR variable.

    This is all that the reverse pass and batching need; :mod:`linop.numpy_api`
    subclasses it with the NumPy-facing tracer that users' functions receive.
    """

    __slots__ = ("_builder", "_var")

    def __init__(self, builder: "Builder", var: Var):
        self._builder = builder
        self._var = var

    @property
    def builder(self) -> "Builder":
        """The trace this tracer records into."""
        return self._builder

    @property
    def var(self) -> Var:
        """The IR variable holding this tracer's value."""
        return self._var

    @property
    def aval(self) -> ShapeDtype:
        """Shape and dtype."""
        return self._var.aval

    def rebind(self, var: Var):
        """Make ``var`` the IR variable holding this tracer's value.

        Used by mutable tracers when a write (``x[...] = v``, ``x.shape = ...``, a
        write through a view) replaces the value; ``var`` has this tracer's trace.
        """
        self._var = var

    @property
    def shape(self) -> tuple:
        """Shape."""
        return self._var.aval.shape

    @property
    def dtype(self) -> np.dtype:
        """Dtype."""
        return self._var.aval.dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self._var.aval.shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}<{self.aval.short()}>"


class Builder:
    """Collects the equations of one trace.

    Parameters
    ----------
    tracer_class : type, optional
        The :class:`TracerBase` subclass of this trace's values (tracing user
        functions passes the NumPy-facing tracer; the reverse pass and batching,
        which only ``bind``, keep the default).

    Attributes
    ----------
    eqns : list of Eqn
    source : str or None
        When set, the ``file:line`` recorded on new equations (used while
        transposing, so that adjoint equations name the forward code).
    closed : bool
        Set by :meth:`close` when the trace has ended: recording then raises.
    captures : Captures
        The constants this trace has captured: every equation's parameters hold
        snapshots, taken when the equation is recorded.
    """

    def __init__(self, tracer_class: type = TracerBase):
        self.tracer_class = tracer_class
        self.eqns: list[Eqn] = []
        self.source: str | None = None
        self.closed = False
        self.captures = Captures()

    def close(self):
        """End the trace: later uses of its tracers raise :class:`~linop.errors.EscapedTracerError`."""
        self.closed = True

    def check_open(self):
        """Raise :class:`~linop.errors.EscapedTracerError` if the trace has ended."""
        if self.closed:
            raise EscapedTracerError(
                f"at {user_location()}: a traced array is used after the trace that made it "
                "ended. It escaped the traced function (stored in a global, a list, an attribute "
                "or a closure) and has no values. Return it from the function instead, or do "
                "this computation inside the traced function.")

    def new_input(self, aval: ShapeDtype):
        """A tracer for a fresh input variable of this trace."""
        return self.tracer_class(self, Var(aval))

    def add_eqn(self, prim: Primitive, inputs: tuple, params: dict):
        """Append ``prim(inputs; params)`` and return a tracer of its output.

        Constants in ``params`` are captured by value here (:class:`~linop.snapshots.Captures`).
        """
        if self.closed:
            self.check_open()
        params = self.captures.params(params, prim.nested_constants)
        out = Var(prim.abstract_eval(*(v.aval for v in inputs), **params))
        source = self.source if self.source is not None else user_location()
        self.eqns.append(Eqn(prim, inputs, params, out, source))
        return self.tracer_class(self, out)


# -- the builder stack: each thread traces with its own stack of builders --------
_local = threading.local()


def _builder_stack() -> list:
    stack = getattr(_local, "builders", None)
    if stack is None:
        stack = _local.builders = []
    return stack


def current_builder() -> Builder | None:
    """The builder of the innermost active trace of this thread, or ``None``."""
    stack = _builder_stack()
    return stack[-1] if stack else None


def active_builders() -> tuple:
    """The builders of every active trace of this thread, outermost first."""
    return tuple(_builder_stack())


@contextlib.contextmanager
def building(builder: Builder):
    """Make ``builder`` the current trace of this thread inside the ``with`` block."""
    stack = _builder_stack()
    stack.append(builder)
    try:
        yield builder
    finally:
        stack.pop()


# -- bind ------------------------------------------------------------------------
def is_tracer(x) -> bool:
    """Whether ``x`` is a traced value."""
    return isinstance(x, TracerBase)


def bind(prim: Primitive, args, params):
    """Apply ``prim``: record an equation if any input is traced, else run ``impl``."""
    builder = None
    for a in args:
        if isinstance(a, TracerBase):
            if builder is None:
                builder = a.builder
            elif a.builder is not builder:
                raise TracerMixError(
                    f"{prim.name}: values from two different traces met at {user_location()}. "
                    "This happens when a function being traced uses a traced value of an "
                    "enclosing trace (for example a closure over the outer function's input); "
                    "pass that value as an explicit argument instead.")
    if builder is None:
        return prim.impl(*args, **params)
    inputs = []
    for a in args:
        if not isinstance(a, TracerBase):
            a = zeros_or_affine(builder, a, prim)
        inputs.append(a.var)
    return builder.add_eqn(prim, tuple(inputs), params)


def strided_window(lo: int, hi: int, first: int, step: int, count: int) -> tuple:
    """The range ``(t0, t1)`` of the ``t`` in ``range(count)`` whose position
    ``first + step * t`` (``step > 0``) lies in ``[lo, hi)``; ``t0 == t1`` when none does."""
    t0 = max(0, -(-(lo - first) // step))
    t1 = min(count, (hi - 1 - first) // step + 1)
    return t0, max(t0, t1)


def _region_map(prim, in_avals, params):
    """``prim``'s :meth:`~Primitive.element_map` when it maps every input axis to one output
    axis with a positive output step (slices, pads, transposes, reversals), else ``None``."""
    if not prim.moves_elements or len(in_avals) != 1:
        return None
    mapping = prim.element_map(in_avals[0], **params)
    if mapping is None or len(mapping) != in_avals[0].ndim:
        return None
    if sorted(m[0] if m[0] is not None else -1 for m in mapping) != list(range(len(mapping))):
        return None
    return mapping if all(m[2] > 0 and m[4] != 0 for m in mapping) else None


def _map_windows(box, mapping):
    """Per output axis, the range of ``t`` of ``mapping`` inside ``box``; ``None`` if empty."""
    windows = [strided_window(lo, hi, out_first, out_step, count)
               for (lo, hi), (_, out_first, out_step, _, _, count) in zip(box, mapping)]
    return None if any(t0 == t1 for t0, t1 in windows) else windows


# -- zeros: the primitive that every interpretation needs ------------------------
class Zeros(Primitive):
    """An array of zeros: the only primitive without inputs (a linear map from nothing)."""

    name = "zeros"
    returns_fresh = True
    returns_view = False
    real_linear = False

    def impl(self, *, shape, dtype):
        return np.zeros(shape, dtype)

    def abstract_eval(self, *, shape, dtype):
        return ShapeDtype(shape, dtype)

    fused_form = "element"

    def fused_element(self, loop, index, *, shape, dtype):
        return loop.zero()

    def transpose(self, ct, *, shape, dtype):
        return ()

    def sparse_jacobian(self, *, shape, dtype):
        return []

    def array_impl(self, ns, *, shape, dtype):
        return ns.xp.zeros(shape, dtype=dtype)

    def region_reads(self, box, *, shape, dtype):
        return []

    def region_impl(self, box, out, in_avals, *, shape, dtype):
        return np.zeros(tuple(hi - lo for lo, hi in box), dtype)


zeros_p = Zeros()


def zeros(shape, dtype):
    """Record or compute ``zeros(shape, dtype)`` in the current trace, if any."""
    builder = current_builder()
    params = {"shape": tuple(shape), "dtype": np.dtype(dtype)}
    if builder is None:
        return zeros_p.impl(**params)
    return builder.add_eqn(zeros_p, (), params)


def zeros_or_affine(builder: Builder, value, prim: Primitive):
    """Turn a constant met by a linear primitive into a traced zero, or refuse it."""
    arr = np.asarray(value)
    if np.any(arr != 0):
        raise AffineError(
            f"{prim.name} received a non-zero constant where a linear value is needed, at "
            f"{user_location()}: the map is affine, not linear. Move the constant out of "
            "the function (subtract it from your data instead).")
    return builder.add_eqn(zeros_p, (), {"shape": arr.shape, "dtype": arr.dtype})


# -- replaying a program ---------------------------------------------------------
def replay(program: Program, args: list) -> list:
    """Run ``program`` equation by equation with ``bind`` on ``args`` (one per input).

    On tracers this records the program into their trace, each equation with the
    ``file:line`` it was first recorded at; the inputs must already have the
    program's input shapes and dtypes.
    """
    env = {v.id: a for v, a in zip(program.invars, args)}
    builder = next((a.builder for a in args if is_tracer(a)), None)
    if builder is None:
        for eqn in program.eqns:
            env[eqn.out.id] = eqn.prim.bind(*(env[v.id] for v in eqn.inputs), **eqn.params)
        return [env[v.id] for v in program.outvars]
    outer = builder.source
    try:
        for eqn in program.eqns:
            # a replayed equation keeps naming the user's line that made it
            builder.source = eqn.source if eqn.source is not None else outer
            env[eqn.out.id] = eqn.prim.bind(*(env[v.id] for v in eqn.inputs), **eqn.params)
    finally:
        builder.source = outer
    return [env[v.id] for v in program.outvars]
