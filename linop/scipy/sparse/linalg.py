"""Sparse solves with a constant matrix on traced right-hand sides, under SciPy's names.

``x = S⁻¹ b`` is linear in ``b``. SciPy's ``splu``/``spsolve``/``factorized``
cannot see a tracer (``SuperLU.solve`` is compiled code), so linop offers the
same functions here: on arrays they call SciPy and return what SciPy returns;
on a traced ``b`` they record one opaque ``linear_operator`` step whose
transpose solves with ``trans='T'`` (and whose adjoint with ``trans='H'``),
using the factorisation made once when ``splu`` (or ``spsolve``, or
``factorized``) was called::

    from linop.scipy.sparse.linalg import splu
    lu = splu(S)                              # factorises S once
    A = linop.aslinearoperator(lambda b: lu.solve(b[::2]), np.zeros(2 * n))

Pickling a program that holds a solve stores the matrix and factorises again
when the solve first runs after unpickling.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as _sp
import scipy.sparse.linalg as _spla
from scipy.sparse.linalg import LinearOperator

from ...errors import NonLinearError, user_location
from ...foreign import apply_operator
from ...core import is_tracer

__all__ = ["splu", "spsolve", "factorized", "SuperLU", "SolveOperator"]

_MODES = {"N": "A", "T": "T", "H": "H"}


class SolveOperator(LinearOperator):
    """``S⁻¹`` for a constant square sparse ``S``, as a SciPy operator; factorised once.

    Parameters
    ----------
    matrix : scipy sparse matrix or array, square
    options : dict
        Keyword arguments of :func:`scipy.sparse.linalg.splu`.
    lu : scipy.sparse.linalg.SuperLU, optional
        The factorisation of ``matrix`` with ``options``, when already made.
    """

    def __init__(self, matrix, options, lu=None):
        super().__init__(matrix.dtype, matrix.shape)
        self.matrix = matrix
        self.options = dict(options)
        self._lu = lu

    @property
    def lu(self):
        """SciPy's ``SuperLU`` factorisation (made on first use after unpickling)."""
        if self._lu is None:
            self._lu = _spla.splu(self.matrix, **self.options)
        return self._lu

    def _matvec(self, x):
        return self.lu.solve(np.asarray(x))

    def _matmat(self, X):
        return self.lu.solve(np.asarray(X))

    def _rmatvec(self, x):
        return self.lu.solve(np.asarray(x), trans="H")

    def _rmatmat(self, X):
        return self.lu.solve(np.asarray(X), trans="H")

    def _adjoint(self):
        return LinearOperator(self.shape, matvec=self._rmatvec, rmatvec=self._matvec,
                              matmat=self._rmatmat, rmatmat=self._matmat, dtype=self.dtype)

    def __reduce__(self):
        return (SolveOperator, (self.matrix, self.options))


class SuperLU:
    """SciPy's ``SuperLU`` whose :meth:`solve` also takes traced right-hand sides.

    Every attribute of SciPy's object (``shape``, ``nnz``, ``perm_r``,
    ``perm_c``, ``L``, ``U``) is available unchanged.

    Parameters
    ----------
    operator : SolveOperator
        The factorisation (SciPy's ``SuperLU`` as ``operator.lu``) and its solves.
    """

    def __init__(self, operator: SolveOperator):
        self.operator = operator

    def __getattr__(self, name):
        if name == "operator":  # not set yet (unpickling): no recursion through lu
            raise AttributeError(name)
        return getattr(self.operator.lu, name)

    def solve(self, rhs, trans="N"):
        """Solve ``S x = rhs`` (``S^T x = rhs`` for ``trans='T'``, ``S^H x = rhs`` for ``'H'``).

        Parameters
        ----------
        rhs : numpy.ndarray or Tracer
            Shape ``(n,)`` or ``(n, k)``; its dtype must cast safely to the
            factorisation's dtype (SciPy's rule).
        trans : {"N", "T", "H"}

        Returns
        -------
        numpy.ndarray or Tracer
            Shape of ``rhs``, the factorisation's dtype.
        """
        if not is_tracer(rhs):
            return self.operator.lu.solve(rhs, trans)
        if trans not in _MODES:
            raise ValueError(f"solve: trans must be 'N', 'T' or 'H', got {trans!r}")
        n = self.operator.shape[0]
        dtype = self.operator.dtype
        if rhs.ndim not in (1, 2) or rhs.shape[0] != n:
            raise ValueError(f"solve at {user_location()}: the right-hand side must have shape "
                             f"({n},) or ({n}, k), got {tuple(rhs.shape)}")
        if not np.can_cast(rhs.dtype, dtype, "safe"):
            raise TypeError(f"solve at {user_location()}: the factorisation is {dtype} and SciPy "
                            f"does not cast a {rhs.dtype} right-hand side to it ('safe' rule). "
                            f"Factorise S.astype({np.result_type(rhs.dtype, dtype).name}) or "
                            f"convert the right-hand side with .astype({dtype.name})")
        return apply_operator(self.operator, rhs, _MODES[trans])


def _square_csc(A, what):
    if is_tracer(A):
        raise NonLinearError(f"{what} at {user_location()}: the matrix is traced, but a solve is "
                             "linear in the right-hand side only; the matrix must be a constant")
    A = _sp.csc_array(A) if not _sp.issparse(A) or A.format != "csc" else A.copy()
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{what} at {user_location()}: the matrix must be square, got shape "
                         f"{A.shape}")
    return A


def splu(A, permc_spec=None, diag_pivot_thresh=None, relax=None, panel_size=None, options=None):
    """:func:`scipy.sparse.linalg.splu` whose ``solve`` also takes traced right-hand sides.

    Parameters
    ----------
    A : sparse matrix or array, square
        Factorised once, here; a copy is kept (later changes to ``A`` do not
        reach the factorisation, as in SciPy).
    permc_spec, diag_pivot_thresh, relax, panel_size, options
        As for SciPy.

    Returns
    -------
    SuperLU
    """
    kwargs = {k: v for k, v in dict(permc_spec=permc_spec, diag_pivot_thresh=diag_pivot_thresh,
                                    relax=relax, panel_size=panel_size, options=options).items()
              if v is not None}
    A = _square_csc(A, "splu")
    return SuperLU(SolveOperator(A, kwargs, lu=_spla.splu(A, **kwargs)))


def spsolve(A, b, permc_spec=None, use_umfpack=True):
    """:func:`scipy.sparse.linalg.spsolve`; a traced ``b`` records the solve.

    Parameters
    ----------
    A : sparse matrix or array, square, constant
    b : numpy.ndarray, sparse, or Tracer of shape ``(n,)`` or ``(n, k)``
    permc_spec, use_umfpack
        As for SciPy (a traced ``b`` always uses SuperLU).

    Returns
    -------
    numpy.ndarray or Tracer
        As SciPy: shape ``(n,)`` for ``b`` of shape ``(n,)`` or ``(n, 1)``,
        dtype ``result_type(A, b)`` (SciPy upcasts both).
    """
    if not is_tracer(b) and not is_tracer(A):
        return _spla.spsolve(A, b, permc_spec=permc_spec, use_umfpack=use_umfpack)
    A = _square_csc(A, "spsolve")
    n = A.shape[0]
    if b.ndim not in (1, 2):
        raise ValueError(f"spsolve at {user_location()}: the right-hand side must be 1-d, shape "
                         f"({n},), or 2-d, shape ({n}, k), got a {b.ndim}-d array of shape "
                         f"{tuple(b.shape)}; reshape it to ({n}, -1) and back")
    if b.shape[0] != n:
        raise ValueError(f"spsolve at {user_location()}: matrix - rhs dimension mismatch "
                         f"({A.shape} - {b.shape[0] if b.ndim else b.shape})")
    dtype = np.result_type(A.dtype, b.dtype)
    kwargs = {} if permc_spec is None else {"permc_spec": permc_spec}
    x = splu(A.astype(dtype), **kwargs).solve(b.astype(dtype) if b.dtype != dtype else b)
    return x.reshape(n) if b.ndim == 2 and b.shape[1] == 1 else x


def factorized(A):
    """:func:`scipy.sparse.linalg.factorized` with SuperLU: a ``solve(b)`` that takes tracers.

    Parameters
    ----------
    A : sparse matrix or array, square (factorised once, here)

    Returns
    -------
    callable
        ``solve(b)``: :meth:`SuperLU.solve` of the factorisation.
    """
    return splu(A).solve
