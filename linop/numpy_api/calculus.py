"""Finite differences and quadrature: ``np.gradient``, ``np.ediff1d``, ``np.trapezoid``.

``np.gradient`` along one axis is a banded matrix with at most three entries a row
(central differences inside, one-sided ones at the edges). Its entries are NumPy's own:
``np.gradient`` is run once, on five comb-shaped probes, and every row's stencil,
which spans at most five neighbouring columns, is read off the probe whose teeth
fall on each column. The matrix is applied with ``sparse_matmul`` (its transpose
applies the transposed matrix), and NumPy's validation of spacings, axes and
``edge_order`` runs on the probes, so its exceptions are NumPy's.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.lib.array_utils import normalize_axis_tuple

from ..primitives import arithmetic as A, slice as SL, shape as S
from ..primitives import complex as C
from ..primitives.complex import real_dtype
from ..primitives.sparse_matmul import sparse_matmul
from ..core import is_tracer
from .registry import implements
from .util import shape_of, to_dtype, to_linear, unsupported
from .reductions import sum as sum_
from .stencils import diff
from .indexing import stack_sequence

__all__ = ["gradient", "ediff1d", "trapezoid"]

#: A row of ``np.gradient``'s matrix reaches at most two columns either side of its diagonal.
_REACH = 2
_PROBES = 2 * _REACH + 1
#: SciPy's sparse matrices hold no float16: half-precision data is differentiated in float32.
_SPARSE_LEAST = np.float32


# -- np.gradient ------------------------------------------------------------------------------
def _spacings(varargs, axes) -> list:
    """One spacing (a scalar or a 1-D coordinate array) per axis, as NumPy pairs them."""
    n = len(varargs)
    if n == 0:
        return [1.0] * len(axes)
    if n == 1 and np.ndim(varargs[0]) == 0:
        return list(varargs) * len(axes)
    if n == len(axes):
        return list(varargs)
    raise TypeError("invalid number of arguments")


def gradient_matrix(n: int, spacing, edge_order: int, dtype) -> sp.csr_array:
    """The ``n × n`` matrix of ``np.gradient`` along an axis of length ``n`` with ``spacing``.

    Parameters
    ----------
    n : int
    spacing : scalar or 1-D array_like
        As ``np.gradient`` takes it for one axis (a step, or the coordinates).
    edge_order : int
    dtype : numpy.dtype
        Dtype of the matrix (NumPy computes the weights in float64, or complex128 for
        complex spacings, and casts the result).
    """
    # Complex weights (complex spacings) need complex probes: NumPy writes into an array of
    # the probes' dtype and would drop their imaginary part.
    combs = (np.arange(n)[:, None] % _PROBES == np.arange(_PROBES)[None, :]).astype(
        np.result_type(np.float64, dtype))
    weights = np.gradient(combs, spacing, axis=0, edge_order=edge_order)
    rows = np.repeat(np.arange(n), _PROBES)
    cols = (np.arange(n)[:, None] + np.arange(-_REACH, _REACH + 1)[None, :]).reshape(-1)
    inside = (cols >= 0) & (cols < n)
    rows, cols = rows[inside], cols[inside]
    values = weights[rows, cols % _PROBES].astype(dtype)
    matrix = sp.csr_array((values, (rows, cols)), shape=(n, n))
    matrix.eliminate_zeros()
    return matrix


def _matrix_dtype(f_dtype, spacing) -> np.dtype:
    """Real weights for real data (NumPy casts a complex result into a real output)."""
    if np.issubdtype(f_dtype, np.complexfloating) and np.iscomplexobj(spacing):
        return f_dtype
    return real_dtype(f_dtype)


@implements(np.gradient)
def gradient(f, *varargs, axis=None, edge_order=1):
    """``np.gradient`` of a traced array (constant spacings or coordinates).

    Returns one array for one axis, else a tuple with one array per axis, as NumPy
    does; each has ``f``'s dtype.
    """
    if not is_tracer(f) or any(map(is_tracer, varargs)):
        raise unsupported("np.gradient with traced spacings", "The spacings and coordinates "
                          "must be constants; only the sampled values may be traced.")
    axes = tuple(range(f.ndim)) if axis is None else normalize_axis_tuple(axis, f.ndim)
    spacings = _spacings(varargs, axes)
    if edge_order > 2:
        raise ValueError("'edge_order' greater than 2 not supported")
    outs = []
    for ax, spacing in zip(axes, spacings):
        work = np.result_type(_matrix_dtype(f.dtype, spacing), _SPARSE_LEAST)
        matrix = gradient_matrix(f.shape[ax], spacing, edge_order, work)
        out = sparse_matmul(to_dtype(f, np.result_type(f.dtype, work)), matrix, ax)
        outs.append(out if out.dtype == f.dtype else C.convert(out, f.dtype))
    return outs[0] if len(outs) == 1 else tuple(outs)


# -- np.ediff1d -------------------------------------------------------------------------------
def _edge_piece(value, dtype, name):
    """``to_begin``/``to_end`` raveled in ``ary``'s dtype: traced, or constant zeros."""
    value = stack_sequence(value)
    if not np.can_cast(value.dtype if is_tracer(value) else np.asanyarray(value), dtype,
                       casting="same_kind"):
        raise TypeError(f"dtype of `{name}` must be compatible with input `ary` under the "
                        "`same_kind` rule.")
    size = int(np.prod(shape_of(value), dtype=np.int64))
    if is_tracer(value):
        return to_dtype(S.reshape(value, (size,)), dtype, f"np.ediff1d({name}=...)")
    return to_linear(np.ravel(value), dtype, (size,), f"np.ediff1d({name}=...)")


@implements(np.ediff1d)
def ediff1d(ary, to_end=None, to_begin=None):
    """``np.ediff1d``: differences of the flattened array (in its dtype), with zero or
    traced ``to_begin``/``to_end`` (non-zero constants would make the map affine)."""
    if is_tracer(ary):
        flat = S.reshape(ary, (ary.size,))
        n = flat.shape[0]
        body = A.sub(SL.slice_(flat, (min(n, 1),), (n,), (1,)),
                     SL.slice_(flat, (0,), (max(n - 1, 0),), (1,)))
    else:
        steps = np.ediff1d(ary)
        body = to_linear(steps, steps.dtype, steps.shape, "np.ediff1d of a constant array")
    parts = [body]
    if to_begin is not None:
        parts.insert(0, _edge_piece(to_begin, body.dtype, "to_begin"))
    if to_end is not None:
        parts.append(_edge_piece(to_end, body.dtype, "to_end"))
    return parts[0] if len(parts) == 1 else SL.concatenate(parts, 0)


# -- np.trapezoid -----------------------------------------------------------------------------
def _spacing_along(x, y_ndim, axis):
    """NumPy's ``d``: ``diff(x)`` shaped along ``axis`` (1-D ``x``), else ``diff(x, axis)``."""
    if is_tracer(x):
        if x.ndim == 1:
            shape = [1] * y_ndim
            shape[axis] = x.shape[0] - 1
            return S.reshape(diff(x), tuple(shape))
        return diff(x, axis=axis)
    x = np.asanyarray(x)
    if x.ndim == 1:
        d = np.diff(x)
        shape = [1] * y_ndim
        shape[axis] = d.shape[0]
        return d.reshape(shape)
    return np.diff(x, axis=axis)


@implements(np.trapezoid)
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """``np.trapezoid``: linear in ``y`` with constant ``x``/``dx``, or in ``x``/``dx``
    with constant ``y`` (both traced is a product, refused as not linear).

    The arithmetic is NumPy's own, ``sum(d * (y[1:] + y[:-1]) / 2.0)`` along ``axis``,
    so dtypes promote as in NumPy.
    """
    if not is_tracer(y):
        y = np.asanyarray(y)
    nd = len(shape_of(y))
    d = dx if x is None else _spacing_along(x, nd, axis)
    upper = [slice(None)] * nd
    lower = [slice(None)] * nd
    upper[axis] = slice(1, None)
    lower[axis] = slice(None, -1)
    return sum_(d * (y[tuple(upper)] + y[tuple(lower)]) / 2.0, axis)
