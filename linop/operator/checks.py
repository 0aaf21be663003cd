"""Checks for users: the dense matrix of an operator and the dot test of its adjoint."""
from __future__ import annotations

import numbers
import operator

import numpy as np

from ..errors import user_location
from ..testing import DotTestError, precision_bits
from .layout import is_complex

__all__ = ["todense", "dottest"]


def _batch_size(batch_size) -> int:
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"todense at {user_location()}: batch_size must be a positive integer "
                        f"(the number of columns computed at once, e.g. 256), got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"todense at {user_location()}: batch_size must be a positive integer "
                         f"(the number of columns computed at once, e.g. 256), got {batch_size}")
    return operator.index(batch_size)


def todense(A, batch_size=256) -> np.ndarray:
    """The dense matrix of a linear operator, ``batch_size`` columns at a time.

    Parameters
    ----------
    A : LinearOperator
        Any SciPy operator (``matmat`` is used; traced operators run one
        batched program per chunk).
    batch_size : int
        A positive number of columns per chunk.

    Returns
    -------
    numpy.ndarray
        Shape ``A.shape``, dtype ``A.dtype``.

    Raises
    ------
    TypeError, ValueError
        ``batch_size`` is not a positive integer.
    """
    batch_size = _batch_size(batch_size)
    m, n = A.shape
    out = np.empty((m, n), A.dtype)
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        E = np.zeros((n, stop - start), A.dtype)
        E[np.arange(start, stop), np.arange(stop - start)] = 1
        out[:, start:stop] = A.matmat(E)
    return out


def _dottest_tolerance(A) -> float:
    dtypes = [np.dtype(A.dtype)]
    for program in (getattr(A, "flat_program", None), getattr(A, "adjoint_program", None)):
        if program is not None:
            dtypes += [v.aval.dtype for v in program.invars + program.outvars]
            dtypes += [e.out.aval.dtype for e in program.eqns]
    bits = precision_bits(dtypes)
    return 5e-2 if bits <= 16 else 1e-4 if bits <= 32 else 1e-10


def dottest(A, rtol=None, complex_vectors=None, seed=0, raise_error=True) -> float:
    """Dot test ``<A x, y> = <x, A^H y>`` on random vectors.

    Parameters
    ----------
    A : LinearOperator
    rtol : float, optional
        Tolerance; by default 1e-10 in double, 1e-4 in single and 5e-2 in half
        precision, after the least precise dtype any step of the operator's programs uses.
    complex_vectors : bool, optional
        Also test complex vectors (by default: always, since real operators
        must give the complex-linear extension too).
    seed : int
    raise_error : bool
        Raise :class:`linop.testing.DotTestError` beyond ``rtol``.

    Returns
    -------
    float
        The largest relative error measured.
    """
    rng = np.random.default_rng(seed)
    m, n = A.shape
    rtol = rtol if rtol is not None else _dottest_tolerance(A)
    kinds = [False, True] if complex_vectors is None else ([False] + ([True] if complex_vectors else []))
    if is_complex(A.dtype):
        kinds = [True]
    worst = 0.0
    for cplx in kinds:
        x = rng.standard_normal(n) + (1j * rng.standard_normal(n) if cplx else 0)
        y = rng.standard_normal(m) + (1j * rng.standard_normal(m) if cplx else 0)
        lhs = np.vdot(y, A.matvec(x))
        rhs = np.vdot(A.rmatvec(y), x)
        err = abs(lhs - rhs) / max(abs(lhs), abs(rhs), 1e-300)
        worst = max(worst, float(err))
        if raise_error and not err <= rtol:
            raise DotTestError(f"dot test failed ({'complex' if cplx else 'real'} vectors): "
                               f"<A x, y> = {lhs!r}, <x, A^H y> = {rhs!r}, relative error "
                               f"{err:.3g} > {rtol:g}")
    return worst
