"""Checks for users' own linear functions and operators.

* :func:`dense_matrix` builds the matrix of a linear NumPy function by applying
  it to a basis, in real coordinates, with plain NumPy (no linop).
* :func:`check_transpose` compares ``linear_transpose`` against that oracle.
* :func:`dot_test_function` runs the dot test ``<f(x), t> = <x, fᵀ(t)>``.
"""
from __future__ import annotations

import numpy as np

from .api import linear_transpose
from .errors import LinopError
from .ir import ShapeDtype
from .pytree import tree_flatten, tree_unflatten
from .tracing import primal_avals

__all__ = ["DotTestError", "dense_matrix", "real_coords", "from_real_coords", "check_transpose",
           "dot_test_function", "random_like", "precision_bits", "tolerance_for"]


class DotTestError(LinopError, AssertionError):
    """A dot test or transpose check failed beyond its tolerance."""


def _avals(primals):
    return primal_avals(primals, "testing")


def _is_complex(dtype) -> bool:
    return np.issubdtype(dtype, np.complexfloating)


def real_coords(leaves) -> np.ndarray:
    """Real coordinates of a list of arrays: real parts, then imaginary parts of complex ones.

    Parameters
    ----------
    leaves : sequence of array_like

    Returns
    -------
    numpy.ndarray
        One float64 vector: each array's real part raveled, followed (for a complex array)
        by its imaginary part.
    """
    parts = []
    for leaf in leaves:
        arr = np.asarray(leaf)
        parts.append(np.ravel(arr.real).astype(np.float64))
        if _is_complex(arr.dtype):
            parts.append(np.ravel(arr.imag).astype(np.float64))
    return np.concatenate(parts) if parts else np.zeros(0)


def _sign(avals) -> np.ndarray:
    """+1 on real coordinates, -1 on imaginary ones (the real pairing Re(a·b))."""
    parts = []
    for aval in avals:
        parts.append(np.ones(aval.size))
        if _is_complex(aval.dtype):
            parts.append(-np.ones(aval.size))
    return np.concatenate(parts) if parts else np.zeros(0)


def from_real_coords(vec, avals) -> list:
    """Arrays of ``avals`` from real coordinates (inverse of :func:`real_coords`).

    Parameters
    ----------
    vec : numpy.ndarray
        Real coordinates, as :func:`real_coords` lays them out.
    avals : sequence of ShapeDtype
        Shapes and dtypes of the arrays.

    Returns
    -------
    list of numpy.ndarray
    """
    out, k = [], 0
    for aval in avals:
        n = aval.size
        re = vec[k:k + n]
        k += n
        if _is_complex(aval.dtype):
            re = re + 1j * vec[k:k + n]
            k += n
        out.append(np.asarray(re).reshape(aval.shape).astype(aval.dtype))
    return out


def dense_matrix(fun, *primals) -> np.ndarray:
    """The real matrix of ``fun`` in real coordinates, by applying it to a basis.

    Parameters
    ----------
    fun : callable
        Linear (over the reals at least), written with NumPy.
    *primals
        Example arguments (only shapes and dtypes are read).

    Returns
    -------
    numpy.ndarray
        ``M`` with ``real_coords(fun(x)) = M @ real_coords(x)``.
    """
    in_tree, avals = _avals(primals)
    n = sum(a.size * (2 if _is_complex(a.dtype) else 1) for a in avals)
    cols = []
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        args = tree_unflatten(in_tree, from_real_coords(e, avals))
        out_leaves, _ = tree_flatten(fun(*args))
        cols.append(real_coords(out_leaves))
    if not cols:  # no inputs: the matrix has no columns, but its rows still count
        out_leaves, _ = tree_flatten(fun(*tree_unflatten(in_tree, from_real_coords(np.zeros(0), avals))))
        return np.zeros((real_coords(out_leaves).size, 0))
    return np.stack(cols, axis=1)


def random_like(aval: ShapeDtype, rng) -> np.ndarray:
    """Random normal values of ``aval``'s shape and dtype (complex parts both random).

    Parameters
    ----------
    aval : ShapeDtype
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
    """
    x = rng.standard_normal(aval.shape)
    if _is_complex(aval.dtype):
        x = x + 1j * rng.standard_normal(aval.shape)
    return np.asarray(x).astype(aval.dtype)


def precision_bits(dtypes) -> int:
    """Bits of the least precise floating or complex dtype among ``dtypes`` (64 if none).

    Parameters
    ----------
    dtypes : iterable of dtype-like
        Integer and boolean dtypes are ignored.

    Returns
    -------
    int
    """
    sizes = [np.finfo(np.dtype(d)).bits for d in dtypes if np.issubdtype(np.dtype(d), np.inexact)]
    return min(sizes, default=64)


def tolerance_for(dtypes) -> float:
    """1e-12 for double precision, 1e-5 with single precision, 1e-2 with half precision.

    Parameters
    ----------
    dtypes : iterable of dtype-like
        The least precise of them decides (see :func:`precision_bits`).

    Returns
    -------
    float
    """
    smallest = precision_bits(dtypes)
    return 1e-2 if smallest <= 16 else 1e-5 if smallest <= 32 else 1e-12


def check_transpose(fun, *primals, rtol=None, seed=0):
    """Check ``linop.linear_transpose(fun, *primals)`` against the dense oracle.

    The transpose ``T`` must satisfy ``Re(sum(fun(x) * t)) = Re(sum(x * T(t)))``
    (JAX's convention: a bilinear pairing, no conjugation), which for a
    complex-linear ``fun`` with matrix ``M`` is ``T(t) = M.T @ t``. An operator that is zero
    to rounding must have a transpose that is zero to the same tolerance.

    Parameters
    ----------
    fun : callable
        Linear (over the reals at least), written with NumPy.
    *primals
        Example arguments (only shapes and dtypes are read).
    rtol : float, optional
        Tolerance on the relative error; default :func:`tolerance_for` the dtypes involved.
    seed : int, optional
        Seed of the random cotangent.

    Returns
    -------
    float
        The relative error measured.

    Raises
    ------
    DotTestError
        When the error exceeds ``rtol``.
    """
    rng = np.random.default_rng(seed)
    in_tree, avals = _avals(primals)
    f_t = linear_transpose(fun, *primals)
    out_avals = f_t.program.out_avals
    M = dense_matrix(fun, *primals)
    t_leaves = [random_like(a, rng) for a in out_avals]
    t = tree_unflatten(f_t.program.out_tree, t_leaves)
    got_leaves, _ = tree_flatten(f_t(t))
    for g, a in zip(got_leaves, avals):
        if np.asarray(g).dtype != a.dtype or np.shape(g) != a.shape:
            raise DotTestError(f"transpose returned {np.asarray(g).dtype}{np.shape(g)}, expected "
                               f"{a.dtype}{a.shape}")
    got = real_coords(got_leaves)
    t_coords = real_coords(t_leaves)
    want = _sign(avals) * (M.T @ (_sign(out_avals) * t_coords))
    rtol = rtol if rtol is not None else tolerance_for([a.dtype for a in avals + out_avals])
    # An operator that is zero up to rounding (say a gradient of a wrapped mean) has a dense
    # oracle of rounding noise: relative errors mean nothing there, so both sides must be
    # zero to within the tolerance on the scale of the cotangent instead.
    rounding_floor = rtol * np.linalg.norm(t_coords)
    if np.linalg.norm(want) <= rounding_floor:
        err = np.linalg.norm(got - want) / max(rounding_floor, 1e-300)
        if not np.isfinite(err) or err > 1.0:
            raise DotTestError(
                f"transpose should be zero (the operator is zero to rounding) but has norm "
                f"{np.linalg.norm(got):.3g}")
        return 0.0
    err = np.linalg.norm(got - want) / np.linalg.norm(want)
    if not np.isfinite(err) or err > rtol:
        raise DotTestError(f"transpose differs from the dense oracle: relative error {err:.3g} > {rtol:g}")
    return float(err)


def dot_test_function(fun, *primals, rtol=None, seed=0) -> float:
    """Dot test ``Re<f(x), t> = Re<x, fᵀ(t)>`` on random inputs (no dense matrix).

    Parameters
    ----------
    fun : callable
        Linear (over the reals at least), written with NumPy.
    *primals
        Example arguments (only shapes and dtypes are read).
    rtol : float, optional
        Tolerance on the relative error; default 1000 times :func:`tolerance_for` the
        inputs' dtypes (the two sums accumulate rounding over every element).
    seed : int, optional
        Seed of the random ``x`` and ``t``.

    Returns
    -------
    float
        The relative error.

    Raises
    ------
    DotTestError
    """
    rng = np.random.default_rng(seed)
    in_tree, avals = _avals(primals)
    f_t = linear_transpose(fun, *primals)
    x_leaves = [random_like(a, rng) for a in avals]
    y_leaves, _ = tree_flatten(fun(*tree_unflatten(in_tree, x_leaves)))
    t_leaves = [random_like(a, rng) for a in f_t.program.out_avals]
    xt_leaves, _ = tree_flatten(f_t(tree_unflatten(f_t.program.out_tree, t_leaves)))
    lhs = sum(np.real(np.sum(np.asarray(y, np.complex128) * t)) for y, t in zip(y_leaves, t_leaves))
    rhs = sum(np.real(np.sum(np.asarray(x, np.complex128) * t)) for x, t in zip(x_leaves, xt_leaves))
    scale = max(abs(lhs), abs(rhs), 1e-300)
    err = abs(lhs - rhs) / scale
    rtol = rtol if rtol is not None else 1e3 * tolerance_for([a.dtype for a in avals])
    if err > rtol:
        raise DotTestError(f"dot test failed: <f(x), t> = {lhs:.12g}, <x, fT(t)> = {rhs:.12g}, "
                           f"relative error {err:.3g} > {rtol:g}")
    return float(err)
