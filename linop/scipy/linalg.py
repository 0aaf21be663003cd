"""``scipy.linalg``'s linear functions: solves with constant matrices, structured products.

Linear in the right-hand side, with the matrix (or its factors) a constant
factorised once while tracing and captured by value:

* ``solve_triangular(a, b)``, ``cho_solve((c, lower), b)`` and
  ``lu_solve((lu, piv), b)`` record ``triangular_solve`` equations (and a
  permutation as a sparse product for ``lu_solve``); their transposes are the
  transposed solves with the same factors.
* ``solve(a, b, assume_a=...)`` LU-factorises the matrix SciPy's structure reads
  (a triangle, the diagonal, the tridiagonal part...) and records ``lu_solve``.
* ``solve_banded`` and ``solveh_banded`` factorise the band as a sparse matrix
  (SuperLU, :mod:`linop.scipy.sparse.linalg`), never the dense matrix.
* ``solve_circulant`` runs SciPy's own NumPy code on the traced ``b``.

Structured matrices: ``matmul_toeplitz((c, r), x)`` is one FFT-based convolution
and never forms the matrix. ``toeplitz`` and ``circulant`` return the matrix SciPy
returns, an ndarray: ``toeplitz(c, r) @ x`` with a traced ``x`` is then a dense
product, as in SciPy (use ``matmul_toeplitz`` for large matrices; a circulant is
``toeplitz(c, np.roll(c[::-1], 1))``). Returning an ndarray keeps every other use
of the matrix (indexing, ``.T``, NumPy functions) SciPy's; a matrix-like object
whose ``@`` switched to FFTs would not be. With a traced ``c`` or ``r`` they
gather the traced matrix. ``block_diag`` of traced blocks (zero constant blocks
allowed) pads and concatenates them.

Without a traced argument every function simply calls SciPy.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as _sla
import scipy.sparse as _sp

from ..core import is_tracer, zeros
from ..numpy_api.util import to_dtype, to_linear, unsupported
from ..primitives import arithmetic as A, shape as S
from ..primitives.convolve_nd import convolve_nd
from ..primitives.lu_solve import lu_factors, lu_solve as solve_with_factors
from ..primitives.slice import concatenate, pad, slice_
from ..primitives.sparse_matmul import sparse_matmul
from ..primitives.triangular_solve import triangular_solve
from ._calls import linear_in
from .sparse.linalg import splu

__all__ = ["solve_triangular", "cho_solve", "lu_solve", "solve", "solve_banded", "solveh_banded",
           "matmul_toeplitz", "toeplitz", "circulant", "solve_circulant", "block_diag"]

_TRANS = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2}


def _zeros_for(x):
    return np.zeros(x.shape, x.dtype) if is_tracer(x) else x


def _rhs_axis(what, b, matrix):
    """The axis of ``b`` that a solve with the 2-d ``matrix`` acts on (SciPy: ``(..., n, k)`` batches)."""
    if np.ndim(matrix) > 2:
        raise unsupported(f"{what} with a stack of matrices",
                          "Solve with each matrix in a loop, or use linop.scipy.linalg.solve (or "
                          "np.linalg.solve), which take stacks of matrices.")
    return 0 if b.ndim <= 2 else b.ndim - 2


def _solve(b, a, lower, trans, unit_diagonal, dtype, axis):
    """``op(a)⁻¹ b`` along ``axis`` for ``trans`` in 0 (a), 1 (a.T), 2 (a.conj().T)."""
    a = np.asarray(a, dtype=dtype)
    if trans == 2:
        a, trans = a.conj(), 1
    return triangular_solve(b, a, lower, trans, unit_diagonal, axis)


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
    if not is_tracer(b):
        return _sla.solve_triangular(a, b, trans, lower, unit_diagonal, overwrite_b, check_finite)
    ref = _sla.solve_triangular(a, _zeros_for(b), trans, lower, unit_diagonal, False, check_finite)
    axis = _rhs_axis(what, b, a)
    x = to_dtype(b, ref.dtype, what)
    return _solve(x, a, lower, _TRANS[trans], unit_diagonal, ref.dtype, axis)


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
    if not is_tracer(b):
        return _sla.cho_solve(c_and_lower, b, overwrite_b, check_finite)
    ref = _sla.cho_solve(c_and_lower, _zeros_for(b), False, check_finite)
    axis = _rhs_axis(what, b, c)
    x = to_dtype(b, ref.dtype, what)
    if lower:   # A = L L^H
        y = _solve(x, c, True, 0, False, ref.dtype, axis)
        return _solve(y, c, True, 2, False, ref.dtype, axis)
    y = _solve(x, c, False, 2, False, ref.dtype, axis)  # A = U^H U
    return _solve(y, c, False, 0, False, ref.dtype, axis)


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
    if not is_tracer(b):
        return _sla.lu_solve(lu_and_piv, b, trans, overwrite_b, check_finite)
    ref = _sla.lu_solve(lu_and_piv, _zeros_for(b), trans, False, check_finite)
    axis = _rhs_axis(what, b, lu)
    x = to_dtype(b, ref.dtype, what)
    swaps = _row_swaps(piv, np.shape(lu)[0])
    trans = _TRANS[trans]
    if trans == 0:   # a = P L U:  x = U⁻¹ L⁻¹ Pᵀ b (P applied as LAPACK's row swaps)
        y = sparse_matmul(x, swaps, axis)
        y = _solve(y, lu, True, 0, True, ref.dtype, axis)
        return _solve(y, lu, False, 0, False, ref.dtype, axis)
    y = _solve(x, lu, False, trans, False, ref.dtype, axis)
    y = _solve(y, lu, True, trans, True, ref.dtype, axis)
    return sparse_matmul(y, swaps.T, axis)


# -- solve: the matrix SciPy's structure reads, factorised once ---------------------------
_STRUCTURES = {None: "gen", "general": "gen", "gen": "gen", "banded": "gen", "diagonal": "diagonal",
               "tridiagonal": "tridiagonal", "upper triangular": "upper", "lower triangular": "lower",
               "pos": "her", "positive definite": "her", "sym": "sym", "symmetric": "sym",
               "her": "her", "hermitian": "her"}


def _mirrored(a, lower, conjugate):
    """The symmetric (or Hermitian) matrix held by ``a``'s lower or upper triangle."""
    tri = np.tril(a) if lower else np.triu(a)
    strict = np.tril(a, -1) if lower else np.triu(a, 1)
    other = np.swapaxes(strict, -1, -2)
    full = tri + (other.conj() if conjugate else other)
    if conjugate and np.iscomplexobj(full):  # LAPACK reads the real part of the diagonal only
        n = full.shape[-1]
        full[..., range(n), range(n)] = full[..., range(n), range(n)].real
    return full


def _structured_matrix(a, assume_a, lower):
    """The matrix that ``scipy.linalg.solve(a, b, assume_a=..., lower=...)`` solves with."""
    structure = _STRUCTURES[assume_a]
    n = a.shape[-1]
    offset = np.arange(n)[None, :] - np.arange(n)[:, None]
    if structure == "diagonal":
        return np.where(offset == 0, a, 0)
    if structure == "tridiagonal":
        return np.where(abs(offset) <= 1, a, 0)
    if structure in ("upper", "lower"):
        return np.triu(a) if structure == "upper" else np.tril(a)
    if structure in ("sym", "her"):
        return _mirrored(a, lower, structure == "her")
    return a


@linear_in("b")
def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True, assume_a=None,
          transposed=False):
    """``scipy.linalg.solve`` with a constant ``a`` and a traced ``b``.

    The matrix SciPy solves with (the triangle ``assume_a`` and ``lower`` name, the
    diagonal or tridiagonal part...) is LU-factorised once while tracing; the
    program solves with the factors (``lu_solve``), its transpose with the
    transposed factors. Stacks of matrices and right-hand sides broadcast as in SciPy.

    Parameters
    ----------
    a : array_like, (..., n, n), constant
    b : array_like or Tracer, (n,) or (..., n, k)
    lower, overwrite_a, overwrite_b, check_finite, assume_a, transposed
        As in SciPy (``overwrite_*`` have no effect on a traced ``b``).

    Returns
    -------
    ndarray or Tracer
    """
    what = "scipy.linalg.solve"
    if not is_tracer(b):
        return _sla.solve(a, b, lower, overwrite_a, overwrite_b, check_finite, assume_a, transposed)
    ref = _sla.solve(a, _zeros_for(b), lower, False, False, check_finite, assume_a, transposed)
    a = np.atleast_2d(np.asarray(a))
    x = to_dtype(b, ref.dtype, what)
    if a.size == 1:  # SciPy divides by a 1 × 1 matrix, broadcasting any b
        column = S.reshape(x, x.shape + (1,)) if b.ndim == 1 else x
        shape = np.broadcast_shapes(column.shape, a.shape)
        out = A.div(S.broadcast_to(column, shape), np.broadcast_to(a, shape).astype(ref.dtype))
        return S.reshape(out, ref.shape)
    matrix = _structured_matrix(a, assume_a, lower)
    if transposed:
        matrix = np.swapaxes(matrix, -1, -2)
    if b.ndim == 1:
        x = S.reshape(x, (b.shape[0], 1))
    batch = np.broadcast_shapes(matrix.shape[:-2], x.shape[:-2])
    x = S.broadcast_to(x, batch + x.shape[-2:])
    lu, piv = lu_factors(np.broadcast_to(matrix, batch + matrix.shape[-2:]))
    return S.reshape(solve_with_factors(x, lu, piv, 0), ref.shape)


# -- banded solves: a sparse LU factorisation made once -----------------------------------
def _banded_solve(what, matrix, b, ref):
    """``matrix⁻¹ b`` (axis -2 of a stack ``b``) with one SuperLU factorisation, in double precision."""
    compute = np.result_type(matrix.dtype, ref.dtype, np.float64)
    lu = splu(_sp.csc_array(matrix, dtype=compute))
    x = to_dtype(b, compute, what)
    if b.ndim <= 2:
        return to_dtype(lu.solve(x), ref.dtype, what)
    perm = (b.ndim - 2,) + tuple(range(b.ndim - 2)) + (b.ndim - 1,)
    moved = S.transpose(x, perm)
    columns = int(np.prod(moved.shape[1:]))
    y = S.reshape(lu.solve(S.reshape(moved, (b.shape[-2], columns))), moved.shape)
    return to_dtype(S.transpose(y, tuple(int(i) for i in np.argsort(perm))), ref.dtype, what)


def _band_matrix(ab, offsets, n):
    return _sp.dia_array((np.asarray(ab), offsets), shape=(n, n))


@linear_in("b")
def solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    """``scipy.linalg.solve_banded`` with a constant band matrix and a traced ``b``.

    The band (LAPACK's storage, ``ab[u + i - j, j] == a[i, j]``) is factorised once
    while tracing as a sparse matrix (SuperLU); the transpose solves with the
    transposed factors. Never forms the dense matrix.

    Parameters
    ----------
    l_and_u : (int, int)
    ab : array_like, (l + u + 1, n), constant
    b : array_like or Tracer, (n,), (n, k) or (..., n, k)
    overwrite_ab, overwrite_b, check_finite
        As in SciPy.
    """
    what = "scipy.linalg.solve_banded"
    if not is_tracer(b):
        return _sla.solve_banded(l_and_u, ab, b, overwrite_ab, overwrite_b, check_finite)
    ref = _sla.solve_banded(l_and_u, ab, _zeros_for(b), False, False, check_finite)
    ab = np.asarray(ab)
    _rhs_axis(what, b, ab)
    lower, upper = (int(v) for v in l_and_u)
    matrix = _band_matrix(ab, upper - np.arange(ab.shape[0]), ab.shape[-1])
    return _banded_solve(what, matrix, b, ref)


@linear_in("b")
def solveh_banded(ab, b, overwrite_ab=False, overwrite_b=False, lower=False, check_finite=True):
    """``scipy.linalg.solveh_banded`` with a constant Hermitian band matrix and a traced ``b``.

    Parameters
    ----------
    ab : array_like, (u + 1, n), constant
        Upper form ``ab[u + i - j, j] == a[i, j]`` (``i <= j``), or lower form
        ``ab[i - j, j] == a[i, j]`` (``i >= j``) with ``lower=True``.
    b : array_like or Tracer, (n,), (n, k) or (..., n, k)
    overwrite_ab, overwrite_b, lower, check_finite
        As in SciPy.
    """
    what = "scipy.linalg.solveh_banded"
    if not is_tracer(b):
        return _sla.solveh_banded(ab, b, overwrite_ab, overwrite_b, lower, check_finite)
    ref = _sla.solveh_banded(ab, _zeros_for(b), False, False, lower, check_finite)
    ab = np.array(ab)
    _rhs_axis(what, b, ab)
    if ab.ndim != 2:
        raise unsupported(f"{what} with a {ab.ndim}-d ab",
                          "SciPy reads such an ab as a band of one column, which is not the "
                          "matrix meant; pass the band as a 2-d (u + 1, n) array (a diagonal "
                          "matrix is ab[None]).")
    rows, n = ab.shape
    diagonal_row = 0 if lower else rows - 1
    ab[diagonal_row] = ab[diagonal_row].real  # LAPACK reads the real part of the diagonal only
    offsets = -np.arange(rows) if lower else rows - 1 - np.arange(rows)
    triangle = _band_matrix(ab, offsets, n)
    strict = _sp.tril(triangle, -1) if lower else _sp.triu(triangle, 1)
    return _banded_solve(what, triangle + strict.conj().T, b, ref)


# -- Toeplitz and circulant products without the matrix ------------------------------------
@linear_in("x")
def matmul_toeplitz(c_or_cr, x, check_finite=False, workers=None):
    """``scipy.linalg.matmul_toeplitz`` with a constant Toeplitz matrix and a traced ``x``.

    ``T x`` is a convolution of ``x`` with ``[r[:0:-1], c]``: the program holds one
    ``convolve_nd`` equation (FFT-based when large), never the ``len(c) × len(r)``
    matrix, and its transpose is the correlation with the same kernel. A circulant
    matrix ``circulant(c)`` is ``toeplitz(c, np.roll(c[::-1], 1))``: multiply by it
    with ``matmul_toeplitz((c, np.roll(c[::-1], 1)), x)``.

    Parameters
    ----------
    c_or_cr : array_like or (array_like, array_like), constant
        The first column ``c`` (then ``r = conj(c)``), or ``(c, r)`` with the first
        row ``r`` (``r[0]`` is ignored); 1-d.
    x : array_like or Tracer, (len(r),), (len(r), k) or (..., len(r), k)
    check_finite, workers
        As in SciPy.

    Returns
    -------
    ndarray or Tracer
        float64, or complex128 when anything is complex (SciPy's rule).
    """
    what = "scipy.linalg.matmul_toeplitz"
    c, r = c_or_cr if isinstance(c_or_cr, tuple) else (c_or_cr, np.conjugate(c_or_cr))
    if not is_tracer(x):
        return _sla.matmul_toeplitz(c_or_cr, x, check_finite, workers)
    ref = _sla.matmul_toeplitz(c_or_cr, _zeros_for(x), check_finite, workers)
    c, r = np.asarray(c), np.asarray(r)
    if c.ndim != 1 or r.ndim != 1:
        raise unsupported(f"{what} with stacks of Toeplitz matrices",
                          "Pass 1-d c and r, and multiply by each matrix in a loop.")
    if x.size == 0:
        return zeros(ref.shape, ref.dtype)
    axis = 0 if x.ndim <= 2 else x.ndim - 2
    kernel = np.concatenate([r[:0:-1], c]).astype(ref.dtype)
    kernel = kernel.reshape(tuple(kernel.size if i == axis else 1 for i in range(x.ndim)))
    full = convolve_nd(to_dtype(x, ref.dtype, what), kernel, "full", "auto")
    starts = [r.size - 1 if i == axis else 0 for i in range(x.ndim)]
    return slice_(full, starts, [s + n for s, n in zip(starts, ref.shape)], [1] * x.ndim)


@linear_in("c", "r")
def toeplitz(c, r=None):
    """``scipy.linalg.toeplitz``, also for a traced first column and/or row.

    The matrix is a gather from ``c`` and ``r`` (linear in them jointly; with
    ``r=None`` it holds ``conj(c)``, so it is then only real-linear in a complex
    ``c``). A product ``toeplitz(c, r) @ x`` of a constant matrix with a traced
    ``x`` forms the matrix (as SciPy does); for large matrices use
    :func:`matmul_toeplitz`, which never does.

    Parameters
    ----------
    c : array_like or Tracer, (..., m)
        First column; leading axes are a stack of matrices, as in SciPy.
    r : array_like or Tracer, (..., n), optional
        First row (``r[0]`` is ignored); ``conj(c)`` when omitted.
    """
    if not (is_tracer(c) or is_tracer(r)):
        return _sla.toeplitz(c, r)
    ref = _sla.toeplitz(_zeros_for(c), None if r is None else _zeros_for(r))
    c = np.atleast_1d(c)
    r = np.conjugate(c) if r is None else np.atleast_1d(r)
    batch = ref.shape[:-2]
    c = np.broadcast_to(c, batch + c.shape[-1:])
    r = np.broadcast_to(r, batch + r.shape[-1:])
    values = np.concatenate((c[..., ::-1], r[..., 1:]), axis=-1)
    index = np.arange(r.shape[-1])[None, :] - np.arange(c.shape[-1])[:, None] + c.shape[-1] - 1
    return values[..., index]


@linear_in("c")
def circulant(c):
    """``scipy.linalg.circulant``, also for a traced first column.

    The matrix is a gather from ``c``. A product ``circulant(c) @ x`` of a constant
    matrix with a traced ``x`` forms the matrix (as SciPy does); for large ones use
    ``matmul_toeplitz((c, np.roll(c[::-1], 1)), x)``, or ``np.fft`` (a circulant
    product is a circular convolution), which never do.

    Parameters
    ----------
    c : array_like or Tracer, (..., n)
        First column; leading axes are a stack of matrices, as in SciPy.
    """
    if not is_tracer(c):
        return _sla.circulant(c)
    n = c.shape[-1] if c.ndim else 1
    c = c if c.ndim else np.reshape(c, (1,))
    index = (np.arange(n)[:, None] - np.arange(n)[None, :]) % n
    return c[..., index]


@linear_in("b")
def solve_circulant(c, b, singular="raise", tol=None, caxis=-1, baxis=0, outaxis=0):
    """``scipy.linalg.solve_circulant`` with a constant ``c`` and a traced ``b``.

    SciPy's own implementation runs on the traced ``b``: it is written with NumPy
    (FFTs, a division by the constant eigenvalues), which linop traces, so every
    option, dtype and error is SciPy's.

    Parameters
    ----------
    c : array_like, constant
    b : array_like or Tracer
    singular, tol, caxis, baxis, outaxis
        As in SciPy.
    """
    return _sla.solve_circulant(c, b, singular, tol, caxis, baxis, outaxis)


# -- block_diag of traced blocks -----------------------------------------------------------
def _as_block(a):
    """A block as SciPy reads it: at least 2-d (1-d is a row)."""
    if is_tracer(a):
        return S.reshape(a, (1,) * max(0, 2 - a.ndim) + tuple(a.shape))
    return np.atleast_2d(np.asarray(a))


@linear_in("arrs")
def block_diag(*arrs):
    """``scipy.linalg.block_diag`` of traced (and zero constant) blocks.

    Parameters
    ----------
    *arrs : array_like or Tracer
        Blocks, at least 2-d after SciPy's promotion (0-d and 1-d blocks are rows);
        leading axes broadcast as a stack, as in SciPy. Constant blocks must be zero
        (a non-zero one makes the map affine: :class:`~linop.AffineError`).
    """
    what = "scipy.linalg.block_diag"
    if not any(is_tracer(a) for a in arrs):
        return _sla.block_diag(*arrs)
    ref = _sla.block_diag(*(_zeros_for(a) for a in arrs))
    blocks = [_as_block(a) for a in arrs]
    batch = ref.shape[:-2]
    columns = ref.shape[-1]
    rows, start = [], 0
    for block in blocks:
        shape = batch + tuple(block.shape[-2:])
        block = to_linear(block, ref.dtype, shape, what)
        width = shape[-1]
        rows.append(pad(block, (0,) * (len(shape) - 1) + (start,),
                        (0,) * (len(shape) - 1) + (columns - start - width,)))
        start += width
    return concatenate(rows, len(batch))
