"""Solving with a constant matrix: ``lu_solve``, the lowering of ``np.linalg.solve``.

``lu_solve(x; lu, piv, trans)`` returns ``A⁻¹ x`` (``trans=0``) or ``A⁻ᵀ x``
(``trans=1``, no conjugation) for the constant matrix ``A`` whose LU
factorisation (LAPACK ``getrf``: ``lu`` and the pivots ``piv``) is held as
parameters: the matrix is factorised once, when the program is traced, and
every call costs one pair of triangular solves. ``x`` has shape
``(..., M, K)``; a stack of matrices ``lu`` of shape ``(B..., M, M)`` applies
to the matching trailing batch axes of ``x``. Single-precision inputs are
solved in double precision and rounded once, as NumPy does.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..ir import Const
from ..core import Primitive

__all__ = ["lu_solve", "lu_solve_p", "lu_factors"]


def lu_factors(a: np.ndarray) -> tuple[Const, Const]:
    """LU factors and pivots of a (stack of) square matrices, in double precision.

    Parameters
    ----------
    a : numpy.ndarray
        Shape ``(B..., M, M)``; NumPy has already refused singular matrices.

    Returns
    -------
    (Const, Const)
        ``lu`` of shape ``(B..., M, M)`` (float64 or complex128) and ``piv``
        of shape ``(B..., M)``.
    """
    from scipy.linalg import lu_factor

    comp = np.complex128 if np.iscomplexobj(a) else np.float64
    a = np.asarray(a, comp)
    lu = np.empty(a.shape, comp)
    piv = np.empty(a.shape[:-1], np.int32)
    for idx in np.ndindex(a.shape[:-2]):
        lu[idx], piv[idx] = lu_factor(a[idx], check_finite=False)
    return Const(lu), Const(piv)


def _solve_2d(lu, piv, x, trans):
    """Solve with one factorised matrix for ``x`` of shape ``(..., M, K)``."""
    from scipy.linalg import lu_solve as scipy_lu_solve

    if np.iscomplexobj(x) and not np.iscomplexobj(lu):
        # A real matrix solves the real and imaginary parts separately.
        return _solve_2d(lu, piv, x.real, trans) + 1j * _solve_2d(lu, piv, x.imag, trans)
    m = lu.shape[0]
    moved = np.moveaxis(x, -2, 0)
    flat = moved.reshape(m, math.prod(moved.shape[1:]))  # -1 fails for empty arrays
    if flat.shape[1] == 0 or m == 0:
        return np.zeros(x.shape, lu.dtype)
    # SciPy's getrs wrapper turns the pivots to 1-based in place and back: calls sharing one
    # pivot array from several threads (Dask blocks) corrupt each other, so each gets a copy
    r = scipy_lu_solve((lu, piv.copy()), flat, trans=trans, check_finite=False)
    return np.moveaxis(r.reshape(moved.shape), 0, -2)


def _solve(x, lu, piv, *, trans):
    """``A⁻¹ x`` or ``A⁻ᵀ x`` from the factors ``lu``, ``piv`` (one matrix or a stack)."""
    comp = np.result_type(lu.dtype, x.dtype, np.float64)
    xc = x.astype(comp, copy=False)
    if lu.ndim == 2:
        return _solve_2d(lu, piv, xc, trans).astype(x.dtype, copy=False)
    out = np.empty(x.shape, comp)
    for idx in np.ndindex(lu.shape[:-2]):
        where = (Ellipsis,) + idx + (slice(None), slice(None))
        out[where] = _solve_2d(lu[idx], piv[idx], xc[where], trans)
    return out.astype(x.dtype, copy=False)


class LUSolve(Primitive):
    """``A⁻¹ x`` (``trans=0``) or ``A⁻ᵀ x`` (``trans=1``) from ``A``'s constant LU factors."""

    name = "lu_solve"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def dask_impl(self, dk, x, *, lu, piv, trans):
        # the solved axis (and the batch axes the stack of matrices runs over) whole in each
        # block; the right-hand sides (last axis) and leading batch axes stay split
        axes = tuple(range(x.ndim - lu.value.ndim, x.ndim - 1))
        params = dict(lu=lu, piv=piv, trans=trans)
        block = functools.partial(_solve, trans=trans)
        return dk.along_axes(self, x, axes, params, block, dk.shipped(lu.value),
                             dk.shipped(piv.value))

    def impl(self, x, *, lu, piv, trans):
        return _solve(x, lu.value, piv.value, trans=trans)

    def abstract_eval(self, x, *, lu, piv, trans):
        shape = lu.value.shape
        nb = len(shape) - 2
        if x.ndim < 2 + nb or x.shape[-2] != shape[-1] or x.shape[x.ndim - 2 - nb:-2] != shape[:-2]:
            raise ValueError(f"lu_solve: right-hand side {x.short()} does not match matrices {shape}")
        return x

    def transpose(self, ct, x, *, lu, piv, trans):
        return (lu_solve(ct, lu, piv, 1 - trans),)

    def batch(self, size, x, *, lu, piv, trans):
        return lu_solve(x, lu, piv, trans)


lu_solve_p = LUSolve()


def lu_solve(x, lu, piv, trans=0):
    """Record or compute ``A⁻¹ x`` (or ``A⁻ᵀ x``) from the factors of :func:`lu_factors`."""
    return lu_solve_p.bind(x, lu=lu, piv=piv, trans=int(trans))
