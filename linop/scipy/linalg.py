"""``scipy.linalg``'s solves with constant factors, linear in the right-hand side.

``solve_triangular(a, b)``, ``cho_solve((c, lower), b)`` and
``lu_solve((lu, piv), b)`` with a traced ``b`` record ``triangular_solve``
equations (and a permutation as a sparse product for ``lu_solve``); their
transposes are the transposed solves with the same factors. Without a traced
argument they simply call SciPy.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as _sla
import scipy.sparse as _sp

from ..core import is_tracer
from ..numpy_api.util import nonlinear, to_dtype, unsupported
from ..primitives.sparse_matmul import sparse_matmul
from ..primitives.triangular_solve import triangular_solve
from ._calls import linear_in

__all__ = ["solve_triangular", "cho_solve", "lu_solve"]

_TRANS = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2}


def _zeros_for(x):
    return np.zeros(x.shape, x.dtype) if is_tracer(x) else x


def _constant_factor(what, *factors):
    if any(is_tracer(f) for f in factors):
        raise nonlinear(what, "the matrix (or its factors) is traced: a solve is not linear in the "
                              "matrix. Only the right-hand side b may be traced.")


def _check_b(what, b, n):
    if b.ndim == 0 or b.shape[0] != n:
        return  # SciPy's own probe raised already for a real mismatch
    if b.ndim > 2:
        raise unsupported(f"{what} with a {b.ndim}-d right-hand side", "Pass b of shape (n,) or (n, k).")


def _solve(b, a, lower, trans, unit_diagonal, dtype):
    """``op(a)⁻¹ b`` for ``trans`` in 0 (a), 1 (a.T), 2 (a.conj().T)."""
    a = np.asarray(a, dtype=dtype)
    if trans == 2:
        a, trans = a.conj(), 1
    return triangular_solve(b, a, lower, trans, unit_diagonal, 0)


@linear_in("b")
def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    """``scipy.linalg.solve_triangular`` with a constant ``a`` and a traced ``b``.

    Parameters
    ----------
    a : array_like, (n, n), constant
    b : array_like or Tracer, (n,) or (n, k)
    trans : {0, 1, 2, 'N', 'T', 'C'}
    lower, unit_diagonal, overwrite_b, check_finite
        As in SciPy (``overwrite_b`` has no effect on a traced ``b``).

    Returns
    -------
    ndarray or Tracer
    """
    what = "scipy.linalg.solve_triangular"
    _constant_factor(what, a)
    if not is_tracer(b):
        return _sla.solve_triangular(a, b, trans, lower, unit_diagonal, overwrite_b, check_finite)
    ref = _sla.solve_triangular(a, _zeros_for(b), trans, lower, unit_diagonal, False, check_finite)
    _check_b(what, b, np.shape(a)[0])
    x = to_dtype(b, ref.dtype, what)
    return _solve(x, a, lower, _TRANS[trans], unit_diagonal, ref.dtype)


@linear_in("b")
def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """``scipy.linalg.cho_solve`` with a constant Cholesky factor and a traced ``b``.

    Parameters
    ----------
    c_and_lower : (c, lower)
        The factor from ``scipy.linalg.cho_factor``.
    b : array_like or Tracer
    overwrite_b, check_finite
        As in SciPy.
    """
    what = "scipy.linalg.cho_solve"
    c, lower = c_and_lower
    _constant_factor(what, c)
    if not is_tracer(b):
        return _sla.cho_solve(c_and_lower, b, overwrite_b, check_finite)
    ref = _sla.cho_solve(c_and_lower, _zeros_for(b), False, check_finite)
    _check_b(what, b, np.shape(c)[0])
    x = to_dtype(b, ref.dtype, what)
    if lower:   # A = L L^H
        y = _solve(x, c, True, 0, False, ref.dtype)
        return _solve(y, c, True, 2, False, ref.dtype)
    y = _solve(x, c, False, 2, False, ref.dtype)  # A = U^H U
    return _solve(y, c, False, 0, False, ref.dtype)


def _row_swaps(piv, n):
    """The permutation matrix that applies LAPACK's row interchanges ``piv`` in order."""
    perm = np.arange(n)
    for i, p in enumerate(np.asarray(piv)):
        perm[[i, p]] = perm[[p, i]]
    return _sp.csr_array((np.ones(n), (np.arange(n), perm)), shape=(n, n))


@linear_in("b")
def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """``scipy.linalg.lu_solve`` with constant LU factors and a traced ``b``.

    Parameters
    ----------
    lu_and_piv : (lu, piv)
        The factors from ``scipy.linalg.lu_factor``.
    b : array_like or Tracer
    trans : {0, 1, 2}
        Solve ``a x = b``, ``a.T x = b`` or ``a.conj().T x = b``.
    overwrite_b, check_finite
        As in SciPy.
    """
    what = "scipy.linalg.lu_solve"
    lu, piv = lu_and_piv
    _constant_factor(what, lu, piv)
    if not is_tracer(b):
        return _sla.lu_solve(lu_and_piv, b, trans, overwrite_b, check_finite)
    ref = _sla.lu_solve(lu_and_piv, _zeros_for(b), trans, False, check_finite)
    n = np.shape(lu)[0]
    _check_b(what, b, n)
    x = to_dtype(b, ref.dtype, what)
    swaps = _row_swaps(piv, n)
    trans = _TRANS[trans]
    if trans == 0:   # a = P L U:  x = U⁻¹ L⁻¹ Pᵀ b (P applied as LAPACK's row swaps)
        y = sparse_matmul(x, swaps, 0)
        y = _solve(y, lu, True, 0, True, ref.dtype)
        return _solve(y, lu, False, 0, False, ref.dtype)
    y = _solve(x, lu, False, trans, False, ref.dtype)
    y = _solve(y, lu, True, trans, True, ref.dtype)
    return sparse_matmul(y, swaps.T, 0)
