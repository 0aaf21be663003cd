"""Checks for users: the dense matrix of an operator and the dot test of its adjoint."""
from __future__ import annotations

import numbers
import operator

import numpy as np

from ..errors import LinopError, user_location
from ..testing import DotTestError, precision_bits
from .layout import is_complex
from .sparse import program_matrix

__all__ = ["todense", "dottest"]


def _batch_size(batch_size) -> int:
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"todense at {user_location()}: batch_size must be a positive integer "
                        f"(the number of columns computed at once, e.g. 256), got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"todense at {user_location()}: batch_size must be a positive integer "
                         f"(the number of columns computed at once, e.g. 256), got {batch_size}")
    return operator.index(batch_size)


#: From this many columns on, ``todense(method="auto")`` composes the sparse matrix instead of probing.
SPARSE_FROM_COLUMNS = 1024


def _via_sparse(A, method):
    """The dense matrix from the program's sparse structure, or ``None`` to probe."""
    program = getattr(A, "flat_program", None)
    if method == "probe" or program is None or (method == "auto" and A.shape[1] < SPARSE_FROM_COLUMNS):
        return None
    try:
        return program_matrix(program, dense_limit=0).toarray()
    except LinopError:
        if method == "sparse":
            raise
        return None


def todense(A, batch_size=256, method="auto", progress=False) -> np.ndarray:
    """The dense matrix of a linear operator, ``batch_size`` columns at a time.

    Parameters
    ----------
    A : LinearOperator
        Any SciPy operator (``matmat`` is used; traced operators run one
        batched program per chunk).
    batch_size : int
        A positive number of columns per chunk.
    method : {"auto", "sparse", "probe"}
        ``"probe"`` applies ``A`` to the columns of the identity; ``"sparse"`` composes
        the exact sparse matrix of a traced operator from its program (see
        :func:`linop.tosparse`; every step needs a structural rule) and expands it;
        ``"auto"`` (default) does the latter for traced operators with at least
        ``SPARSE_FROM_COLUMNS`` columns whose steps all have structural rules.
    progress : bool
        Print one line per chunk of probed columns (for long probing).

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
    if method not in ("auto", "sparse", "probe"):
        raise ValueError(f"todense at {user_location()}: method must be 'auto', 'sparse' or "
                         f"'probe', got {method!r}")
    dense = _via_sparse(A, method)
    if dense is not None:
        return dense
    m, n = A.shape
    out = np.empty((m, n), A.dtype)
    for start in range(0, n, batch_size):
        if progress:
            print(f"todense: columns {start}..{min(n, start + batch_size)} of {n}", flush=True)
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
                               f"<A x, y> = {lhs:.12g}, <x, A^H y> = {rhs:.12g}, relative error "
                               f"{err:.3g} > {rtol:g}")
    return worst
