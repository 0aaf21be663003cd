"""Shape functions: reshape, ravel, transposes, squeeze, expand_dims, atleast_*, broadcast, flip.

Functions that return views in NumPy return view tracers here (see
:mod:`linop.tracing`), so that writes through them behave as in NumPy.
"""
from __future__ import annotations

import operator

import numpy as np

from ..primitives import shape as S
from .views import make_view
from ..core import is_tracer
from .registry import implements, implements_method
from .util import fresh, normalize_axes, normalize_axis, promote_dtype, shape_of, unsupported


def shape_tuple(shape) -> tuple:
    """A shape argument as a tuple of ints, with NumPy's ``TypeError`` for anything else."""
    if shape is None:
        raise TypeError("Use () not None as shape arguments")
    if not isinstance(shape, (bool, np.bool_)):
        try:
            return (operator.index(shape),)
        except TypeError:
            pass
    try:
        dims = list(shape)
    except TypeError:
        raise TypeError("expected a sequence of integers or a single integer, "
                        f"got '{shape!r}'") from None
    if any(isinstance(d, (bool, np.bool_)) for d in dims):
        raise TypeError("an integer is required")
    dims = tuple(operator.index(d) for d in dims)
    if len(dims) > 64:
        raise ValueError(f"maximum supported dimension for an ndarray is currently 64, found "
                         f"{len(dims)}")
    return dims


def infer_shape(size: int, shape) -> tuple:
    """Check ``shape`` and resolve its unknown (negative) dimension as NumPy does."""
    shape = shape_tuple(shape)
    unknown = [i for i, d in enumerate(shape) if d < 0]
    if len(unknown) > 1:
        raise ValueError("can only specify one unknown dimension")
    known = int(np.prod([d for d in shape if d >= 0], dtype=np.int64))
    if unknown and known != 0 and size % known == 0:
        shape = tuple(size // known if d < 0 else d for d in shape)
    elif unknown or known != size:
        text = ",".join("newaxis" if d < 0 else str(d) for d in shape)
        raise ValueError(f"cannot reshape array of size {size} into shape ({text}"
                         f"{',' if len(shape) == 1 else ''})")
    return shape


def reshape_raw(x, shape, order="C"):
    """Reshape without view bookkeeping (``order`` C or F)."""
    shape = infer_shape(x.size, shape)
    if order == "C":
        return S.reshape(x, shape)
    if order == "F":
        rev_in = tuple(range(x.ndim))[::-1]
        y = S.reshape(S.transpose(x, rev_in), shape[::-1])
        return S.transpose(y, tuple(range(len(shape)))[::-1])
    if order in ("A", "K"):
        raise unsupported(f"reshape/ravel with order={order!r}",
                          "Its result depends on the memory layout of the array, which a traced "
                          "array does not have; pass order='C' or order='F'.")
    raise ValueError(f"order must be one of 'C', 'F', 'A', got {order!r}")


@implements_method("reshape")
def reshape_method(x, *args, shape=None, order="C", copy=None):
    """``x.reshape(2, 3)``, ``x.reshape((2, 3))``, ``x.reshape(shape=...)``, as ``ndarray.reshape``."""
    if shape is None:
        if not args:
            raise TypeError("reshape() takes exactly 1 argument (0 given)")
        shape = args[0] if len(args) == 1 else args
        if shape is None:  # as ndarray.reshape(None): the same shape
            shape = x.shape
    return np.reshape(x, shape, order=order, copy=copy)


@implements(np.reshape)
def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    """``np.reshape``: NumPy returns a view or a copy depending on the memory layout.

    A traced array has no layout, so the result is an *ambiguous* view: reading it
    works, but writing through it, or reading it after ``a`` was modified, raises
    :class:`~linop.errors.ViewWriteError` instead of guessing.
    """
    shape = newshape if shape is None else shape
    if shape is None:
        raise TypeError("reshape() missing required argument 'shape'")
    out = reshape_raw(a, shape, order)
    if out is a:
        out = fresh(a)
    if copy:
        return out
    return make_view(a, out, lambda b: reshape_raw(b, shape, order), None, "ambiguous", "reshape")


@implements(np.ravel, method="ravel")
def ravel(a, order="C"):
    """``np.ravel``."""
    return reshape(a, (-1,), order)


@implements_method("flatten")
def flatten(a, order="C"):
    """``x.flatten()``: always a copy."""
    return fresh(reshape_raw(a, (-1,), order))


def _transpose_view(a, perm, what):
    inverse = tuple(int(i) for i in np.argsort(perm))
    out = S.transpose(a, perm)
    if out is a:
        out = fresh(a)
    return make_view(a, out, lambda b: S.transpose(b, perm),
                     lambda b, new: S.transpose(new, inverse), "view", what)


@implements_method("transpose")
def transpose_method(x, *axes):
    """``x.transpose(1, 0)``, ``x.transpose((1, 0))``, ``x.transpose()``, as ``ndarray.transpose``."""
    if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], (int, np.integer))):
        axes = axes[0]
    return np.transpose(x, axes or None)


implements_method("T")(property(np.transpose, doc="Transpose (a view), as ``ndarray.T``."))
implements_method("mT")(property(np.matrix_transpose,
                                 doc="Transpose of the last two axes (a view), as ``ndarray.mT``."))


@implements(np.transpose, np.permute_dims)
def transpose(a, axes=None):
    """``np.transpose`` and ``np.permute_dims`` (NumPy's alias): a view."""
    if axes is None:
        perm = tuple(range(a.ndim))[::-1]
    else:
        if isinstance(axes, (int, np.integer)):  # NumPy takes one integer as one axis
            axes = (axes,)
        if len(axes) != a.ndim:
            raise ValueError("axes don't match array")
        perm = tuple(normalize_axis(ax, a.ndim) for ax in axes)
        if len(set(perm)) != len(perm):
            raise ValueError("repeated axis in transpose")
    return _transpose_view(a, perm, "transpose")


@implements(np.matrix_transpose, np.linalg.matrix_transpose)
def matrix_transpose(x, /):
    """``np.matrix_transpose``, ``np.linalg.matrix_transpose`` and ``x.mT``: a view."""
    if x.ndim < 2:
        raise ValueError(f"Input array must be at least 2-dimensional, but it is {x.ndim}")
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return _transpose_view(x, perm, "matrix_transpose")


@implements(np.swapaxes, method="swapaxes")
def swapaxes(a, axis1, axis2):
    """``np.swapaxes``."""
    i, j = normalize_axis(axis1, a.ndim), normalize_axis(axis2, a.ndim)
    perm = list(range(a.ndim))
    perm[i], perm[j] = perm[j], perm[i]
    return _transpose_view(a, tuple(perm), "swapaxes")


@implements(np.moveaxis)
def moveaxis(a, source, destination):
    """``np.moveaxis``."""
    src = normalize_axes_ordered(source, a.ndim)
    dst = normalize_axes_ordered(destination, a.ndim)
    if len(src) != len(dst):
        raise ValueError("`source` and `destination` arguments must have the same number of elements")
    order = [n for n in range(a.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return _transpose_view(a, tuple(order), "moveaxis")


def normalize_axes_ordered(axis, ndim):
    """Axes as given (not sorted), normalised to non-negative."""
    if np.ndim(axis) == 0:
        return (normalize_axis(axis, ndim),)
    return tuple(normalize_axis(a, ndim) for a in axis)


def _shape_view(a, new_shape, what):
    out = S.reshape(a, new_shape)
    if out is a:
        out = fresh(a)
    return make_view(a, out, lambda b: S.reshape(b, new_shape),
                     lambda b, new: S.reshape(new, b.shape), "view", what)


@implements(np.squeeze, method="squeeze")
def squeeze(a, axis=None):
    """``np.squeeze``."""
    if axis is None:
        axes = tuple(i for i, d in enumerate(a.shape) if d == 1)
    else:
        axes = normalize_axes(axis, a.ndim)
        if any(a.shape[i] != 1 for i in axes):
            raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return _shape_view(a, tuple(d for i, d in enumerate(a.shape) if i not in axes), "squeeze")


@implements(np.expand_dims)
def expand_dims(a, axis):
    """``np.expand_dims``."""
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    ndim = a.ndim + len(axes)
    axes = normalize_axes(axes, ndim)
    it = iter(a.shape)
    new_shape = tuple(1 if i in axes else next(it) for i in range(ndim))
    return _shape_view(a, new_shape, "expand_dims")


def _atleast(arys, n, place):
    outs = []
    for a in arys:
        if not is_tracer(a):
            outs.append({1: np.atleast_1d, 2: np.atleast_2d, 3: np.atleast_3d}[n](a))
        elif a.ndim >= n:
            outs.append(a)
        else:
            outs.append(_shape_view(a, place(a.shape), f"atleast_{n}d"))
    return outs[0] if len(outs) == 1 else tuple(outs)


@implements(np.atleast_1d)
def atleast_1d(*arys):
    """``np.atleast_1d``."""
    return _atleast(arys, 1, lambda s: s or (1,))


@implements(np.atleast_2d)
def atleast_2d(*arys):
    """``np.atleast_2d``."""
    return _atleast(arys, 2, lambda s: (1,) * (2 - len(s)) + s)


@implements(np.atleast_3d)
def atleast_3d(*arys):
    """``np.atleast_3d`` (a 1-D ``(N,)`` becomes ``(1, N, 1)``, 2-D ``(M, N)`` becomes ``(M, N, 1)``)."""
    def place(s):
        return {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)]
    return _atleast(arys, 3, place)


@implements(np.broadcast_to)
def broadcast_to(array, shape, subok=False):
    """``np.broadcast_to``: a read-only view."""
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    out = S.broadcast_to(array, shape)
    if out is array:
        out = fresh(array)
    return make_view(array, out, lambda b: S.broadcast_to(b, shape), None, "readonly", "broadcast_to")


@implements(np.broadcast_arrays)
def broadcast_arrays(*args, subok=False):
    """``np.broadcast_arrays``: tracers become read-only views, constants stay arrays."""
    shape = S.broadcast_shapes(*(shape_of(a) for a in args))
    return tuple(broadcast_to(a, shape) if is_tracer(a) else np.broadcast_to(a, shape) for a in args)


@implements(np.flip)
def flip(m, axis=None):
    """``np.flip``: a view."""
    axes = normalize_axes(axis, m.ndim)
    out = S.rev(m, axes)
    if out is m:
        out = fresh(m)
    return make_view(m, out, lambda b: S.rev(b, axes), lambda b, new: S.rev(new, axes), "view", "flip")


@implements(np.fliplr)
def fliplr(m):
    """``np.fliplr``."""
    if m.ndim < 2:
        raise ValueError("Input must be >= 2-d.")
    return flip(m, 1)


@implements(np.flipud)
def flipud(m):
    """``np.flipud``."""
    if m.ndim < 1:
        raise ValueError("Input must be >= 1-d.")
    return flip(m, 0)


@implements(np.shape)
def shape(a):
    """``np.shape``: concrete."""
    return tuple(a.shape)


@implements(np.ndim)
def ndim(a):
    """``np.ndim``: concrete."""
    return a.ndim


@implements(np.size)
def size(a, axis=None):
    """``np.size``: concrete."""
    return a.size if axis is None else a.shape[axis]


@implements(np.iscomplexobj)
def iscomplexobj(x):
    """``np.iscomplexobj``: from the dtype."""
    return bool(np.issubdtype(x.dtype, np.complexfloating))


@implements(np.isrealobj)
def isrealobj(x):
    """``np.isrealobj``: from the dtype."""
    return not iscomplexobj(x)


@implements(np.result_type)
def result_type(*arrays_and_dtypes):
    """``np.result_type`` with tracers standing for their dtypes."""
    return promote_dtype(*arrays_and_dtypes)
