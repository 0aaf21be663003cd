"""Tracers and ``trace``: NumPy code on tracers records a :class:`~linop.ir.Program`.

A :class:`Tracer` stands for an array that is linear in the traced function's
inputs. NumPy routes every call on it to linop through ``__array_ufunc__`` and
``__array_function__``; :mod:`linop.numpy_api` lowers the call to primitives.

Tracers are mutable like NumPy arrays (``y[1:] = x[:-1]``): a write replaces
the tracer's variable with a new one. Tracers made by basic indexing,
transposes, ``reshape``, ``real``/``imag`` and the like are *views* of their
base, as in NumPy: a write through a view updates the base, and a view reads
the base's current value. Where NumPy's choice between view and copy depends on
memory layout that a tracer does not have, a write raises
:class:`~linop.errors.ViewWriteError` instead of guessing.
"""
from __future__ import annotations

import contextlib
import dis
import sys
import threading

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from .errors import (ArrayAssignmentError, ConversionError, LinopError, NonLinearError, AffineError,
                     EscapedTracerError, TracerMixError, ViewWriteError, user_location)
from .ir import Program, ShapeDtype, Var
from .passes import simplify
from .foreign import ensure_hooks, is_linear_operator
from .primitives.base import Builder, is_tracer
from .pytree import TreeDef, leaf_paths, tree_flatten, tree_unflatten

__all__ = ["Tracer", "trace", "trace_flat", "current_builder", "active_builders", "is_view",
           "DEFERRED_TYPES"]

_local = threading.local()  # each thread traces with its own stack of builders

#: Array types whose NumPy protocols take precedence over a Tracer's: when one of them takes
#: part in a call, a Tracer answers NotImplemented so that NumPy asks that type (the batched
#: values of :mod:`linop.batched`, an interpretation one level above linear tracing). Such a
#: type also answers ``tracer[index]`` for an index that holds one of its values, through its
#: ``index_into(tracer, index)``, and gives the error for a traced function that returns one
#: of its values through its ``traced_output_error(path, location)``.
DEFERRED_TYPES: set = set()


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


class _ViewLink:
    __slots__ = ("base", "forward", "writeback", "kind", "base_stamp", "what", "base_shape")

    def __init__(self, base, forward, writeback, kind, what):
        self.base, self.forward, self.writeback = base, forward, writeback
        self.kind, self.what = kind, what
        self.base_stamp = base._stamp()
        self.base_shape = base.shape

    def source(self):
        """The base as this view was made from it: ``base.shape = ...`` keeps the elements."""
        base = self.base
        if base.shape == self.base_shape:
            return base
        from .primitives.shape import reshape

        return reshape(base, self.base_shape)

    def new_base(self, value):
        """The base's new value after ``value`` was written through this view."""
        new = self.writeback(self.source(), value)
        if self.base.shape != self.base_shape:
            from .primitives.shape import reshape

            new = reshape(new, self.base.shape)
        return new


def _sparse_aware(name: str, product: str, sparse_on_left: bool):
    """The operator ``name`` of NumPy's mixin, sending SciPy sparse operands to linop.scipy.sparse."""
    fallback = getattr(NDArrayOperatorsMixin, name)

    def operator(self, other):
        if is_linear_operator(other):
            return NotImplemented  # the operator's own reflected method applies it (linop.foreign)
        if _is_scipy_sparse(other):
            from .scipy import sparse

            return getattr(sparse, product)(self, other, sparse_on_left=sparse_on_left)
        return fallback(self, other)

    operator.__name__ = name
    return operator


class Tracer(NDArrayOperatorsMixin):
    """A traced array: a shape, a dtype and a variable of the IR, but no values.

    Users never build tracers; :func:`trace` and the functions built on it pass
    them to the user's function in place of arrays.
    """

    __slots__ = ("_builder", "_var", "_version", "_view", "_unknown_since", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, builder: Builder, var: Var, view: _ViewLink | None = None):
        self._builder = builder
        self._var = var
        self._version = 0
        self._view = view
        self._unknown_since = None  # set when a layout-dependent view of it was written

    # -- identity ---------------------------------------------------------
    @property
    def builder(self) -> Builder:
        """The trace (:class:`~linop.primitives.base.Builder`) this tracer records into."""
        return self._builder

    @property
    def var(self) -> Var:
        """The IR variable holding this tracer's current value."""
        if self._unknown_since is not None:
            raise ViewWriteError(
                f"at {user_location()}: this array was written through {self._unknown_since}. "
                "NumPy returns a view or a copy there depending on memory layout, so whether the "
                "write reached this array is ambiguous; call .copy() when you make the view (to "
                "write into a separate array), or write into this array directly.")
        link = self._view
        if link is not None and link.base_stamp != link.base._stamp():
            self._refresh()
        return self._var

    def _mark_unknown(self, what: str):
        """This array and the arrays it views may have been written by an ambiguous view."""
        self._unknown_since = what
        self._version += 1  # views of it re-read it, and so raise
        if self._view is not None:
            self._view.base._mark_unknown(what)

    def _stamp(self):
        link = self._view
        return (self._version, link.base._stamp()) if link is not None else self._version

    def _refresh(self):
        link = self._view
        if link.kind == "ambiguous":
            raise ViewWriteError(
                f"at {user_location()}: this array was made by {link.what} of an array that was "
                "modified afterwards. NumPy returns a view or a copy here depending on memory "
                "layout, so its value is ambiguous; call .copy() when you create it, or create "
                "it after the modification.")
        fresh = link.forward(link.source())
        self._var = fresh.var
        link.base_stamp = link.base._stamp()

    def _assign(self, value: "Tracer"):
        """Replace this array's contents by ``value`` (same shape and dtype), through views.

        Through a layout-dependent ("ambiguous") view the write is kept by the view
        alone, which becomes an array of its own, and the arrays it viewed become
        unreadable: NumPy may or may not have written into them.
        """
        link = self._view
        if link is not None and link.kind == "ambiguous":
            link.base._mark_unknown(f"the result of {link.what} made from it")
            self._view = None
        elif link is not None:
            if link.kind != "view":
                reason = ("it is read-only in NumPy too" if link.kind == "readonly" else
                          "NumPy may return a view here (depending on memory layout or the "
                          "operation), whose writes linop cannot reproduce")
                raise ViewWriteError(
                    f"at {user_location()}: cannot write into the result of {link.what}: {reason}. "
                    "Write into the original array, or call .copy() first.")
            link.base._assign(link.new_base(value))
            link.base_stamp = link.base._stamp()
        self._var = value.var
        self._version += 1

    # -- array attributes ---------------------------------------------------
    @property
    def aval(self) -> ShapeDtype:
        """Shape and dtype."""
        return self._var.aval

    @property
    def shape(self) -> tuple:
        """Shape, as for an ndarray; ``x.shape = (2, 3)`` reshapes ``x`` in place.

        Setting the shape keeps the elements in C order, as NumPy does, and views made
        from ``x`` before keep reading and writing the same elements. NumPy refuses the
        assignment when the array's memory layout needs a copy (``AttributeError``);
        a traced array has no layout, so it is always allowed here.
        """
        return self._var.aval.shape

    @shape.setter
    def shape(self, value):
        from .numpy_api.shape import infer_shape
        from .primitives.shape import reshape

        old, new = self.shape, infer_shape(self.size, value)
        reshaped = reshape(self, new)
        link = self._view
        if link is not None:  # a view of another array: its view functions see the new shape
            forward, writeback = link.forward, link.writeback
            link.forward = lambda b: reshape(forward(b), new)
            if writeback is not None:
                link.writeback = lambda b, value: writeback(b, reshape(value, old))
        self._var = reshaped.var
        self._version += 1  # views of this array re-read it (through ViewLink.source)

    @property
    def dtype(self) -> np.dtype:
        """Dtype, as for an ndarray."""
        return self._var.aval.dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return self._var.aval.size

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes of the array's elements."""
        return self.size * self.itemsize

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        return f"Tracer<{self.aval.short()}>"

    __hash__ = object.__hash__

    # -- ndarray methods: each one calls the NumPy function, which linop traces ---------
    def __getitem__(self, index):
        if DEFERRED_TYPES:  # an index of a deferred type (per-example indices) indexes for us
            for item in index if isinstance(index, tuple) else (index,):
                if type(item) in DEFERRED_TYPES:
                    return type(item).index_into(self, index)
        from .numpy_api.indexing import getitem

        return getitem(self, index)

    def __setitem__(self, index, value):
        from .numpy_api.indexing import setitem

        self._builder.check_open()
        setitem(self, index, value)

    @property
    def T(self):
        """Transpose (a view), as ``ndarray.T``."""
        return np.transpose(self)

    @property
    def mT(self):
        """Matrix transpose of the last two axes (a view), as ``ndarray.mT``."""
        return np.matrix_transpose(self)

    @property
    def real(self):
        """Real part (a view, real-linear), as ``ndarray.real``."""
        from .numpy_api.complex import real_part

        return real_part(self)

    @real.setter
    def real(self, value):
        self.real[...] = value

    @property
    def imag(self):
        """Imaginary part (a view, real-linear), as ``ndarray.imag``."""
        from .numpy_api.complex import imag_part

        return imag_part(self)

    @imag.setter
    def imag(self, value):
        self.imag[...] = value

    def reshape(self, *args, shape=None, order="C", copy=None):
        """As ``ndarray.reshape`` (``x.reshape(2, 3)``, ``x.reshape((2, 3))``, ``shape=``)."""
        if shape is None:
            if not args:
                raise TypeError("reshape() takes exactly 1 argument (0 given)")
            shape = args[0] if len(args) == 1 else args
            if shape is None:  # as ndarray.reshape(None): the same shape
                shape = self.shape
        return np.reshape(self, shape, order=order, copy=copy)

    def ravel(self, order="C"):
        """As ``ndarray.ravel``."""
        return np.ravel(self, order)

    def flatten(self, order="C"):
        """As ``ndarray.flatten`` (a copy)."""
        from .numpy_api.shape import flatten

        return flatten(self, order)

    def transpose(self, *axes):
        """As ``ndarray.transpose``."""
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], (int, np.integer))):
            axes = axes[0]
        return np.transpose(self, axes or None)

    def swapaxes(self, axis1, axis2):
        """As ``ndarray.swapaxes``."""
        return np.swapaxes(self, axis1, axis2)

    def squeeze(self, axis=None):
        """As ``ndarray.squeeze``."""
        return np.squeeze(self, axis)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        """As ``ndarray.sum``."""
        return np.sum(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        """As ``ndarray.mean``."""
        return np.mean(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None, out=None):
        """As ``ndarray.trace``."""
        return np.trace(self, offset, axis1, axis2, dtype, out)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        """As ``ndarray.diagonal`` (a read-only view)."""
        return np.diagonal(self, offset, axis1, axis2)

    def dot(self, b, out=None):
        """As ``ndarray.dot``."""
        return np.dot(self, b, out=out)

    def conj(self):
        """As ``ndarray.conj`` (real-linear); a view of ``x`` itself for real ``x``, as in NumPy."""
        if not np.issubdtype(self.dtype, np.complexfloating):
            return make_view(self, Tracer(self._builder, self.var), lambda b: b, lambda b, new: new,
                             "view", "x.conj()")
        return np.conjugate(self)

    conjugate = conj

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        """As ``ndarray.astype``: floating and real→complex conversions are linear."""
        from .numpy_api.creation import astype

        return astype(self, dtype, order, casting, subok, copy)

    def copy(self, order="C"):
        """As ``ndarray.copy``."""
        return np.copy(self)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def cumsum(self, axis=None, dtype=None, out=None):
        """As ``ndarray.cumsum``."""
        return np.cumsum(self, axis=axis, dtype=dtype, out=out)

    def repeat(self, repeats, axis=None):
        """As ``ndarray.repeat``."""
        return np.repeat(self, repeats, axis=axis)

    def take(self, indices, axis=None, out=None, mode="raise"):
        """As ``ndarray.take``."""
        return np.take(self, indices, axis=axis, out=out, mode=mode)

    def compress(self, condition, axis=None, out=None):
        """As ``ndarray.compress``."""
        return np.compress(condition, self, axis=axis, out=out)

    def __abs__(self):
        return np.absolute(self)

    def __pow__(self, other):
        return np.power(self, other)

    # -- NumPy protocols ----------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if DEFERRED_TYPES and any(type(a) in DEFERRED_TYPES
                                  for a in inputs + tuple(kwargs.get("out", None) or ())):
            return NotImplemented
        from .numpy_api import dispatch_ufunc

        return dispatch_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if DEFERRED_TYPES and not DEFERRED_TYPES.isdisjoint(types):
            return NotImplemented
        from .numpy_api import dispatch_function

        return dispatch_function(func, args, kwargs)

    def __array__(self, dtype=None, copy=None):
        import sys

        caller = sys._getframe(1)
        if caller.f_globals.get("__name__", "").startswith("scipy.sparse"):
            # SciPy's sparse operators: let them return NotImplemented (linop.scipy.sparse).
            from .scipy.sparse import opaque_for_sparse_dispatch

            opaque = opaque_for_sparse_dispatch(caller, self)
            if opaque is not None:
                return opaque
        raise _conversion_error("np.asarray / np.array", self, caller)

    # -- products with scipy.sparse constants (see linop.scipy.sparse) --------
    __matmul__ = _sparse_aware("__matmul__", "traced_matmul", sparse_on_left=False)
    __rmatmul__ = _sparse_aware("__rmatmul__", "traced_matmul", sparse_on_left=True)
    __mul__ = _sparse_aware("__mul__", "traced_mul", sparse_on_left=False)
    __rmul__ = _sparse_aware("__rmul__", "traced_mul", sparse_on_left=True)

    def __bool__(self):
        self._builder.check_open()
        raise NonLinearError(
            f"at {user_location()}: the truth value of a traced array is not known while tracing "
            "(bool(x), `if x...`, `while x...`, `and`/`or`). Control flow that depends on the "
            "input's values is not linear; make the branch depend on constants only.")

    def __float__(self):
        raise _conversion_error("float()", self, sys._getframe(1))

    def __int__(self):
        raise _conversion_error("int()", self, sys._getframe(1))

    def __complex__(self):
        raise _conversion_error("complex()", self, sys._getframe(1))

    def __index__(self):
        raise _conversion_error("use as an index", self, sys._getframe(1))

    def tolist(self):
        """Not available while tracing: raises :class:`~linop.errors.ConversionError`."""
        raise _conversion_error("x.tolist()", self, sys._getframe(1))

    def item(self, *args):
        """Not available while tracing: raises :class:`~linop.errors.ConversionError`."""
        raise _conversion_error("x.item()", self, sys._getframe(1))

    def __reduce__(self):
        raise ConversionError("a traced array cannot be pickled; pickle the Program instead")

    def __getattr__(self, name):
        # Only reached for attributes a Tracer lacks: name the ndarray feature that is missing.
        if name.startswith("__") or not hasattr(np.ndarray, name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self._builder.check_open()
        explained = _explained_by_caller(sys._getframe(1))
        if explained is not None:
            raise explained
        from .numpy_api._registry import NONLINEAR_FUNCTIONS

        if name in NONLINEAR_FUNCTIONS or name in ("cumprod", "nonzero", "argmax", "argmin"):
            raise NonLinearError(
                f"x.{name}() at {user_location()} is not linear in the traced array x. linop "
                "traces linear maps only: apply it to constants, outside the traced function.")
        from .errors import UnsupportedFunctionError

        alternative = f"Use np.{name}(x, ...) if linop supports it (see the support table), or " \
            if hasattr(np, name) else "Rewrite it with supported NumPy functions, or "
        raise UnsupportedFunctionError(
            f"x.{name} at {user_location()} is not supported on traced arrays. {alternative}"
            "register a custom linear function with @linop.custom_linear.")


def _user_opname():
    """Name of the bytecode instruction the user's frame is executing."""
    from .errors import library_dirs

    frame = sys._getframe(1)
    skip = library_dirs()
    while frame is not None and frame.f_code.co_filename.startswith(skip):
        frame = frame.f_back
    if frame is None:
        return None
    for ins in dis.get_instructions(frame.f_code):
        if ins.offset == frame.f_lasti:
            return ins.opname
    return None


#: Functions ``explain(frame) -> LinopError | None`` asked, innermost caller frame first,
#: why a traced array was converted to values, asked for an ndarray attribute it lacks, or
#: given to a non-linear NumPy function by library code: :mod:`linop.scipy` registers one
#: that names the SciPy function called with a traced argument and what to use instead.
CONVERSION_EXPLAINERS: list = []


def _explained_by_caller(frame):
    """The error that an explainer (or NumPy's index tricks) gives for a call from ``frame``."""
    for explain in CONVERSION_EXPLAINERS:
        error = explain(frame)
        if error is not None:
            return error
    if _in_axis_concatenator(frame):
        return ConversionError(
            f"at {user_location()}: np.r_[...] and np.c_[...] convert each of their items with "
            "np.array, which needs values, so a traced array cannot be one of the items. Use "
            "the functions they stand for, which linop traces: np.concatenate((a, b)) for "
            "np.r_[a, b], np.column_stack((a, b)) for np.c_[a, b] (or np.hstack, np.vstack, "
            "np.stack).")
    return None


def _in_axis_concatenator(frame) -> bool:
    """Whether ``frame`` runs NumPy's ``np.r_``/``np.c_`` (``AxisConcatenator.__getitem__``)."""
    return (frame.f_code.co_qualname == "AxisConcatenator.__getitem__"
            and frame.f_globals.get("__name__", "").startswith("numpy."))


def _conversion_error(what: str, tracer: Tracer, caller) -> ConversionError:
    tracer._builder.check_open()
    explained = _explained_by_caller(caller)
    if explained is not None:
        return explained
    where = user_location()
    opname = _user_opname()
    if opname in ("BINARY_SUBSCR", "BINARY_SLICE"):
        return NonLinearError(
            f"at {where}: a traced array is used as an index into a constant array. Which "
            "elements are picked would depend on the input's values, which is not linear. "
            "Indices must be constants.")
    if opname in ("STORE_SUBSCR", "STORE_SLICE"):
        return ArrayAssignmentError(
            f"at {where}: a traced array was assigned into a plain NumPy array (for example one "
            "made by np.zeros(n)). NumPy copies the values into its own memory, which linop "
            "cannot record. Create the output from the input instead: "
            "y = np.zeros_like(x, shape=(n,)) (add dtype=... if needed), then y[...] = ...")
    return ConversionError(
        f"at {where}: {what} needs the values of a traced array, which are not known while "
        "tracing: only its shape and dtype are. Keep the computation in NumPy functions on the "
        "array itself (they are traced; build arrays from traced pieces with np.stack or "
        "np.concatenate), or compute what you need from constants.")


def _is_scipy_sparse(obj) -> bool:
    """Whether ``obj`` is a SciPy sparse matrix/array (without importing SciPy)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(obj)


Builder.tracer_class = Tracer


def is_view(x) -> bool:
    """Whether the tracer ``x`` is a view of another traced array (writes reach that array)."""
    return is_tracer(x) and x._view is not None


def make_view(base: Tracer, result: Tracer, forward, writeback, kind: str, what: str) -> Tracer:
    """Mark ``result`` as a view of ``base`` (``kind``: view, readonly or ambiguous)."""
    if not is_tracer(base):
        return result
    if kind == "view" and base._view is not None and base._view.kind == "ambiguous":
        kind = "ambiguous"
    result._view = _ViewLink(base, forward, writeback, kind, what)
    return result


# -- tracing a function --------------------------------------------------------
#: Context-manager factories entered around every traced function, for libraries with a
#: dispatch mechanism of their own: :mod:`linop.scipy` registers the ``scipy.fft`` backend
#: that routes SciPy's transforms of traced arrays to linop.
TRACE_CONTEXTS: list = []


def trace_flat(fun, in_tree: TreeDef, in_avals, out_what="output") -> Program:
    """Trace ``fun`` on inputs of structure ``in_tree`` and abstract values ``in_avals``.

    Parameters
    ----------
    fun : callable
    in_tree : TreeDef
        Structure of the positional arguments (a tuple).
    in_avals : list of ShapeDtype

    Returns
    -------
    Program
    """
    ensure_hooks()  # PyLops' operators, once PyLops is imported
    builder = Builder()
    tracers = [builder.new_input(a) for a in in_avals]
    invars = [t._var for t in tracers]
    try:
        with building(builder), contextlib.ExitStack() as hooks:
            for hook in TRACE_CONTEXTS:
                hooks.enter_context(hook())
            out = _call_user_function(fun, tree_unflatten(in_tree, tracers))
            leaves, out_tree = tree_flatten(out)
            paths = leaf_paths(out_tree, out_what)
            outvars = [_output_var(builder, leaf, path, fun) for leaf, path in zip(leaves, paths)]
    finally:
        builder.close()  # a tracer that escaped the function must not record into this trace
    program = Program(invars, builder.eqns, outvars, in_tree, out_tree)
    return simplify(program)


def _call_user_function(fun, args):
    """Call ``fun``; surface linop's own error where NumPy wrapped it in one of its own.

    NumPy turns errors raised while it converts a value (``y[0] = tracer`` on a plain
    array) into ``ValueError("setting an array element with a sequence")``; the
    linop error it wraps says what happened and what to do.
    """
    from .errors import LinopError

    try:
        return fun(*args)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, LinopError) or not isinstance(exc.__cause__, LinopError):
            raise
        raise exc.__cause__.with_traceback(exc.__traceback__) from None


def _function_location(fun) -> str:
    import inspect

    code = getattr(inspect.unwrap(fun), "__code__", None)
    if code is None:
        return user_location()
    return f"{code.co_filename}:{code.co_firstlineno}"


def _output_var(builder: Builder, leaf, path: str, fun) -> Var:
    if is_tracer(leaf):
        if leaf.builder is not builder and leaf.builder.closed:
            raise EscapedTracerError(
                f"{path} of the function at {_function_location(fun)} is a traced array of a "
                "trace that has ended: it escaped an earlier traced function (stored in a "
                "global, a list, an attribute or a closure) and has no values. Return values "
                "computed from this function's own arguments.")
        if leaf.builder is not builder:
            raise TracerMixError(
                f"{path} of the function at {_function_location(fun)} is a traced value of "
                "another trace; a function must return values computed from its own arguments")
        return leaf.var
    if type(leaf) in DEFERRED_TYPES:
        raise leaf.traced_output_error(path, _function_location(fun))
    try:
        arr = np.asarray(leaf)
    except LinopError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything NumPy cannot convert
        raise TypeError(f"{path} is not an array: got {type(leaf).__name__}") from exc
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{path} is not a numeric array: got {type(leaf).__name__} ({arr.dtype})")
    if np.any(arr != 0):
        raise AffineError(
            f"{path} of the function at {_function_location(fun)} is a non-zero constant that does "
            "not depend on the inputs: the function is not linear. A linear function maps zero to zero; return only values computed "
            "from the arguments.")
    from .primitives.arithmetic import zeros_p

    return builder.add_eqn(zeros_p, (), {"shape": arr.shape, "dtype": arr.dtype}).var


def trace(fun, *primals) -> Program:
    """Trace a linear NumPy function into a :class:`~linop.ir.Program`.

    Parameters
    ----------
    fun : callable
        A function of arrays that is linear in all of its arguments.
    *primals
        Example arguments: arrays, scalars, :class:`~linop.ShapeDtype` or any
        object with ``shape`` and ``dtype``, nested in tuples, lists, dicts,
        namedtuples and ``None``. Only shapes and dtypes are read.

    Returns
    -------
    Program
        Printable, callable with the same arguments as ``fun``.

    Examples
    --------
    >>> import numpy as np, linop
    >>> p = linop.trace(lambda x: 2 * x[1:] - x[:-1], np.zeros(4))
    >>> np.allclose(p(np.arange(4.0)), [2, 3, 4])
    True
    """
    from .api import primal_avals

    in_tree, avals = primal_avals(primals)
    return trace_flat(fun, in_tree, avals)
