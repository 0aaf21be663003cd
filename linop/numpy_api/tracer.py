"""The NumPy-facing tracer: a traced array with the ndarray facade and NumPy's protocols.

A :class:`Tracer` stands for an array that is linear in the traced function's
inputs. NumPy routes every call on it to linop through ``__array_ufunc__`` and
``__array_function__``; the adapter modules of :mod:`linop.numpy_api` lower the
call to primitives. Its ndarray methods and properties (``x.sum()``, ``x.T``,
``x.real``...) are registered by the adapter modules next to the functions they
stand for (:func:`~linop.numpy_api.implements` with ``method=``,
:func:`~linop.numpy_api.implements_method`) and installed on the class when the
adapter is imported. Its view semantics (writes through views) are those of
:class:`~linop.numpy_api.views.MutableTracer`.
"""
from __future__ import annotations

import sys

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from ..errors import ConversionError, NonLinearError, UnsupportedFunctionError, user_location
from .registry import NONLINEAR_FUNCTIONS, dispatch_function, dispatch_ufunc
from .conversion import conversion_error, explained_by_caller
from .indexing import getitem, setitem
from .shape import infer_shape
from .views import MutableTracer, reshape_in_place

__all__ = ["Tracer", "DEFERRED_TYPES", "ARRAY_REQUESTS", "OPERAND_PRODUCTS"]

#: Array types whose NumPy protocols take precedence over a Tracer's: when one of them takes
#: part in a call, a Tracer answers NotImplemented so that NumPy asks that type (the batched
#: values of :mod:`linop.batched`, an interpretation one level above linear tracing). Such a
#: type also answers ``tracer[index]`` for an index that holds one of its values, through its
#: ``index_into(tracer, index)``, and gives the error for a traced function that returns one
#: of its values through its ``traced_output_error(path, location)``.
DEFERRED_TYPES: set = set()

#: Functions ``answer(frame, tracer) -> value | None`` asked when library code running in
#: ``frame`` converts a tracer with ``np.asarray``: :mod:`linop.scipy` registers the answer
#: that makes SciPy's sparse operators defer to the tracer's reflected operator.
ARRAY_REQUESTS: list = []

#: Functions ``product(name, tracer, other) -> result | None`` for the operators ``@`` and
#: ``*`` (``name``: ``"__matmul__"``, ``"__rmul__"``...) with operands that NumPy's protocols
#: do not route (``NotImplemented`` hands the operator to Python's reflected call):
#: :mod:`linop.foreign` registers SciPy's and PyLops' operators, :mod:`linop.scipy` SciPy's
#: sparse matrices.
OPERAND_PRODUCTS: list = []


def _product(name: str):
    """The operator ``name`` of NumPy's mixin, first offered to :data:`OPERAND_PRODUCTS`."""
    fallback = getattr(NDArrayOperatorsMixin, name)

    def operator(self, other):
        for product in OPERAND_PRODUCTS:
            result = product(name, self, other)
            if result is not None:
                return result
        return fallback(self, other)

    operator.__name__ = name
    return operator


class Tracer(MutableTracer, NDArrayOperatorsMixin):
    """A traced array: a shape, a dtype and a variable of the IR, but no values.

    Users never build tracers; :func:`linop.trace` and the functions built on it pass
    them to the user's function in place of arrays.

    Parameters
    ----------
    builder : Builder
        The trace the tracer records into.
    var : Var
        Its IR variable.
    view : optional
        For a view of another traced array, the link through which writes reach it.
    """

    __slots__ = ()
    __array_priority__ = 1000

    # -- array attributes ---------------------------------------------------
    def _set_shape(self, value):
        reshape_in_place(self, infer_shape(self.size, value))

    # The getter is the base class's own (no extra call: shape is read on every operation).
    shape = property(MutableTracer.shape.fget, _set_shape, doc="""\
        Shape, as for an ndarray; ``x.shape = (2, 3)`` reshapes ``x`` in place.

        Setting the shape keeps the elements in C order, as NumPy does, and views made
        from ``x`` before keep reading and writing the same elements. NumPy refuses the
        assignment when the array's memory layout needs a copy (``AttributeError``);
        a traced array has no layout, so it is always allowed here.
        """)
    del _set_shape

    @property
    def size(self) -> int:
        """Number of elements."""
        return self.aval.size

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

    __hash__ = object.__hash__

    # -- indexing; the other ndarray methods are the adapter's (numpy_api.registry.METHODS)
    def __getitem__(self, index):
        if DEFERRED_TYPES:  # an index of a deferred type (per-example indices) indexes for us
            for item in index if isinstance(index, tuple) else (index,):
                if type(item) in DEFERRED_TYPES:
                    return type(item).index_into(self, index)
        return getitem(self, index)

    def __setitem__(self, index, value):
        self.builder.check_open()
        setitem(self, index, value)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __abs__(self):
        return np.absolute(self)

    def __pow__(self, other):
        return np.power(self, other)

    # -- NumPy protocols ----------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if DEFERRED_TYPES and any(type(a) in DEFERRED_TYPES
                                  for a in inputs + tuple(kwargs.get("out", None) or ())):
            return NotImplemented
        return dispatch_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if DEFERRED_TYPES and not DEFERRED_TYPES.isdisjoint(types):
            return NotImplemented
        return dispatch_function(func, args, kwargs)

    def __array__(self, dtype=None, copy=None):
        caller = sys._getframe(1)
        for answer in ARRAY_REQUESTS:
            value = answer(caller, self)
            if value is not None:
                return value
        raise conversion_error("np.asarray / np.array", self, caller)

    # -- products with operands that NumPy's protocols do not route ---------
    __matmul__ = _product("__matmul__")
    __rmatmul__ = _product("__rmatmul__")
    __mul__ = _product("__mul__")
    __rmul__ = _product("__rmul__")

    def __bool__(self):
        self.builder.check_open()
        raise NonLinearError(
            f"at {user_location()}: the truth value of a traced array is not known while tracing "
            "(bool(x), `if x...`, `while x...`, `and`/`or`). Control flow that depends on the "
            "input's values is not linear; make the branch depend on constants only.")

    def __float__(self):
        raise conversion_error("float()", self, sys._getframe(1))

    def __int__(self):
        raise conversion_error("int()", self, sys._getframe(1))

    def __complex__(self):
        raise conversion_error("complex()", self, sys._getframe(1))

    def __index__(self):
        raise conversion_error("use as an index", self, sys._getframe(1))

    def tolist(self):
        """Not available while tracing: raises :class:`~linop.errors.ConversionError`."""
        raise conversion_error("x.tolist()", self, sys._getframe(1))

    def item(self, *args):
        """Not available while tracing: raises :class:`~linop.errors.ConversionError`."""
        raise conversion_error("x.item()", self, sys._getframe(1))

    def __reduce__(self):
        raise ConversionError("a traced array cannot be pickled; pickle the Program instead")

    def __getattr__(self, name):
        # Only reached for attributes a Tracer lacks: name the ndarray feature that is missing.
        if name.startswith("__") or not hasattr(np.ndarray, name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.builder.check_open()
        explained = explained_by_caller(sys._getframe(1))
        if explained is not None:
            raise explained
        if name in NONLINEAR_FUNCTIONS or name in ("cumprod", "nonzero", "argmax", "argmin"):
            raise NonLinearError(
                f"x.{name}() at {user_location()} is not linear in the traced array x. linop "
                "traces linear maps only: apply it to constants, outside the traced function.")
        alternative = f"Use np.{name}(x, ...) if linop supports it (see the support table), or " \
            if hasattr(np, name) else "Rewrite it with supported NumPy functions, or "
        raise UnsupportedFunctionError(
            f"x.{name} at {user_location()} is not supported on traced arrays. {alternative}"
            "register a custom linear function with @linop.custom_linear.")
