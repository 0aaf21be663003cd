"""Triangular solves with a constant matrix: ``triangular_solve``.

``triangular_solve(x; a, lower, trans, unit_diagonal, axis)`` solves
``op(a) y = x`` along axis ``axis`` of ``x`` with ``op(a) = a`` (``trans=0``)
or ``a.T`` (``trans=1``), reading only the ``lower`` or upper triangle of the
constant ``a``. The map ``x ↦ op(a)⁻¹ x`` has the transpose
``op(a)⁻ᵀ``: the same primitive with ``trans`` toggled. (Conjugate transposes
are expressed by passing ``conj(a)`` with ``trans=1``.)
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Const
from ..core import Primitive

__all__ = ["triangular_solve", "triangular_solve_p"]


class TriangularSolve(Primitive):
    """``op(a)⁻¹ x`` along one axis of ``x`` for a constant triangular ``a``."""

    name = "triangular_solve"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def dask_impl(self, dk, x, **params):
        return dk.along_axes(self, x, (params["axis"],), params)  # the solved axis whole

    def impl(self, x, *, a, lower, trans, unit_diagonal, axis):
        import scipy.linalg as sla

        moved = np.moveaxis(x, axis, 0)
        flat = moved.reshape(moved.shape[0], math.prod(moved.shape[1:]))
        y = sla.solve_triangular(a.value, flat, trans=trans, lower=lower,
                                 unit_diagonal=unit_diagonal, check_finite=False)
        return np.moveaxis(y.reshape(moved.shape), 0, axis).astype(x.dtype, copy=False)

    def abstract_eval(self, x, *, a, lower, trans, unit_diagonal, axis):
        n = a.value.shape[0]
        if a.value.shape != (n, n) or x.shape[axis] != n or a.value.dtype != x.dtype:
            raise ValueError(f"triangular_solve: matrix {a.aval.short()} does not fit axis {axis} "
                             f"of {x.short()}")
        return x

    def transpose(self, ct, x, *, a, lower, trans, unit_diagonal, axis):
        return (triangular_solve(ct, a, lower, 1 - trans, unit_diagonal, axis),)

    def batch(self, size, x, *, a, lower, trans, unit_diagonal, axis):
        return triangular_solve(x, a, lower, trans, unit_diagonal, axis + 1)


triangular_solve_p = TriangularSolve()


def triangular_solve(x, a, lower: bool, trans: int, unit_diagonal: bool, axis: int = 0):
    """Record or compute ``op(a)⁻¹ x`` along ``axis`` (``trans`` 0 or 1).

    Parameters
    ----------
    x : Tracer or numpy.ndarray
    a : array_like or Const
        Square, of ``x``'s dtype; only one triangle is read.
    lower, unit_diagonal : bool
    trans : {0, 1}
    axis : int
    """
    a = a if isinstance(a, Const) else Const(a)
    return triangular_solve_p.bind(x, a=a, lower=bool(lower), trans=int(trans),
                                   unit_diagonal=bool(unit_diagonal), axis=int(axis))
