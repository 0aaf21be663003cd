"""The per-example value of an eager ``vmap``: :class:`BatchedArray`, and its nesting.

A :class:`BatchedArray` holds all examples of a value (``val``, batch axis
first) and shows NumPy one example. NumPy's protocols hand every call on it to
:data:`NUMPY_CALLS` (computed by :mod:`linop.batched.calls`) or to an exact
rule in :data:`VECTORISED` (:mod:`linop.batched.vectorised`).

Nested vmaps: a value batched at several levels is nested, the innermost level
outside (``BatchedArray(inner, BatchedArray(outer, core))``), and the axes of
its core are ordered outermost level first.
"""
from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from ..numpy_api.tracer import DEFERRED_TYPES
from ..errors import BatchingError, user_location
from .levels import BatchLevel, check_active

__all__ = ["BatchedArray", "NUMPY_CALLS", "VECTORISED", "levels_of", "core_of", "wrap",
           "is_basic_index", "lead"]

#: NumPy functions with an exact rule on batched values: ``func -> rule(*args, **kwargs)``,
#: which returns ``NotImplemented`` where it does not apply (filled by linop.batched.vectorised).
VECTORISED: dict = {}


class NumpyCalls:
    """How NumPy calls on batched values are computed (installed by :mod:`linop.batched.calls`).

    Attributes
    ----------
    elementwise : callable
        ``elementwise(ufunc, inputs, kwargs)`` for broadcasting elementwise ufuncs.
    matmul : callable
        ``matmul(a, b)``.
    apply : callable
        ``apply(fn, args, kwargs)`` for any other function.
    setitem : callable
        ``setitem(target, index, value)``.
    getitem : callable
        The function ``x[index]`` that ``apply`` computes for advanced indices.
    method : callable
        ``method(name)``: the function calling ndarray method ``name``.
    ufunc_method : callable
        ``ufunc_method(ufunc, name)``: the function calling ``ufunc.name`` (``np.add.at``).
    """

    elementwise = matmul = apply = setitem = getitem = method = ufunc_method = None


NUMPY_CALLS = NumpyCalls()


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


def _conversion(what: str, instead: str = "") -> BatchingError:
    instead = instead or ("Keep the computation in NumPy functions on the value (np.where "
                          "instead of if, for example), or loop over the examples yourself")
    return BatchingError(
        f"at {user_location()}: {what} needs the numbers of a per-example value of linop.vmap, "
        f"which differ between examples, so Python cannot take one path for all of them. "
        f"{instead}.")


def is_basic_index(index) -> bool:
    """Whether ``index`` is basic (ints, slices, ``None``, ``...``): a view, batch axis kept."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, slice)
               or (isinstance(i, (numbers.Integral, np.integer)) and not isinstance(i, (bool, np.bool_)))
               for i in items)


def lead(index):
    """``index`` for the core: a full slice over the batch axis in front."""
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
        return self.same_batch(self.val.real, self.writeable)

    @property
    def imag(self):
        """Imaginary part of each example, as ``ndarray.imag``."""
        return self.same_batch(self.val.imag, self.writeable and np.iscomplexobj(self.val))

    def same_batch(self, val, writeable=True):
        """A batched array of the same vmap level holding ``val``.

        Parameters
        ----------
        val : ndarray, Tracer or BatchedArray
            The values of all examples, batch axis first (as ``self.val``).
        writeable : bool, optional
            Whether writes into the result are allowed (``False`` for read-only
            results such as broadcasts, as in NumPy).

        Returns
        -------
        BatchedArray
        """
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
        if is_basic_index(index):
            check_active(self.level)
            return self.same_batch(self.val[lead(index)], self.writeable)
        return NUMPY_CALLS.apply(NUMPY_CALLS.getitem, (self, index), {})

    @staticmethod
    def index_into(array, index):
        """``array[index]`` where ``index`` holds batched values (per-example indices)."""
        return NUMPY_CALLS.apply(NUMPY_CALLS.getitem, (array, index), {})

    def __setitem__(self, index, value):
        if not self.writeable:
            raise BatchingError(
                f"at {user_location()}: this per-example array of linop.vmap is read-only (it is "
                "vmap's argument, which is never written, or a result that NumPy gives as a view "
                "but that was computed as a copy); write into x.copy() instead")
        NUMPY_CALLS.setitem(self, index, value)

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
        check_active(self.level)
        return self.same_batch(self.val.astype(dtype, order=order, casting=casting, copy=copy))

    def copy(self, order="C"):
        """As ``ndarray.copy``: a writeable copy of every example."""
        check_active(self.level)
        return self.same_batch(self.val.copy())

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
            return NUMPY_CALLS.apply(NUMPY_CALLS.method(name), (self,) + args, kwargs)

        return per_example

    # -- conversions: values differ between examples ------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise _conversion(
            "np.asarray / np.array, writing it into a NumPy array (out[i] = value), indexing a "
            "NumPy array by it, or a SciPy function that converts its input",
            "Write into a per-example array instead (out = np.zeros_like(x), or build the result "
            "with np.concatenate / np.stack), index with np.take_along_axis(a, i, axis), and use "
            "linop.scipy's functions, which NumPy dispatches")

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

    def traced_output_error(self, path: str, location: str) -> BatchingError:
        """The error for a function traced into one Program that returns this value."""
        return BatchingError(
            f"{path} of the function at {location} depends on per-example data of "
            f"linop.vmap ({self.level}): linop.trace and linop.aslinearoperator build one Program "
            "or operator for all examples, which cannot hold per-example data. Inside the "
            "vmapped function use linop.linear_transpose (it keeps one linear map per example) "
            "or apply the function directly; or build the operator outside the vmap, over the "
            "stacked data.")

    # -- NumPy protocols ----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and ufunc.signature is None and \
                set(kwargs) <= {"dtype", "casting", "order", "subok"}:
            return NUMPY_CALLS.elementwise(ufunc, inputs, kwargs)
        if ufunc is np.matmul and method == "__call__" and not kwargs:
            return NUMPY_CALLS.matmul(*inputs)
        return NUMPY_CALLS.apply(NUMPY_CALLS.ufunc_method(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        rule = VECTORISED.get(func)
        if rule is not None:
            out = rule(*args, **kwargs)
            if out is not NotImplemented:
                return out
        return NUMPY_CALLS.apply(func, args, kwargs)


DEFERRED_TYPES.add(BatchedArray)
