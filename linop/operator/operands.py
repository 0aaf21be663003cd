"""Other operands of operators: dense and sparse matrices and foreign (SciPy, PyLops) operators.

Their flat programs: a matrix becomes a constant of the program (captured by
value), a foreign operator an opaque step that calls it at run time (unless its
matrix is known, see :func:`linop.foreign.apply_operator`).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator as scipy_aslinearoperator

from .. import foreign
from ..errors import ForeignOperatorError
from ..snapshots import snapshot
from ..primitives import complex as C
from ..primitives.sparse_matmul import captured_matrix
from .flat import trace_vector_fn

__all__ = ["is_sparse", "is_matrix", "is_operator", "operand_programs"]


def is_sparse(obj) -> bool:
    """Whether ``obj`` is a SciPy sparse matrix or array."""
    return sp.issparse(obj)


def is_matrix(obj) -> bool:
    """A 2-d ndarray, ``np.matrix`` or SciPy sparse matrix (an operand of blocks and sums)."""
    return (isinstance(obj, np.ndarray) and obj.ndim == 2) or (is_sparse(obj) and obj.ndim == 2)


def is_operator(obj) -> bool:
    """Whether ``obj`` is a SciPy (traced ones included) or PyLops linear operator."""
    return foreign.is_linear_operator(obj)


def _inexact(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    return dtype if np.issubdtype(dtype, np.inexact) else np.result_type(dtype, np.float64)


def _programs_of(apply, shape, dtype) -> tuple:
    """The flat programs of ``apply(v, mode)`` (forward mode "A", adjoint mode "H")."""
    m, n = shape
    fwd = trace_vector_fn(lambda v: apply(v, "A"), n, dtype)
    adj = trace_vector_fn(lambda w: apply(w, "H"), m, dtype)
    return fwd, adj, dtype


def _matrix_programs(M) -> tuple:
    dtype = _inexact(M.dtype)
    # One snapshot serves both programs (np.matrix becomes a plain array): the adjoint of a
    # real matrix is a transposed view of it, so it holds no second copy.
    M = snapshot(np.asarray(M)) if isinstance(M, np.ndarray) else captured_matrix(M)
    adjoint = M.T if M.dtype.kind != "c" else M.conj().T

    def apply(v, mode):
        Mm = M if mode == "A" else adjoint
        return C.convert(Mm @ v, dtype) if np.result_type(Mm.dtype, dtype) != dtype else Mm @ v
    return _programs_of(apply, M.shape, dtype)


def _foreign_programs(L) -> tuple:
    dtype = foreign.vector_dtype(L)
    return _programs_of(lambda v, mode: foreign.apply_operator(L, v, mode), tuple(L.shape), dtype)


def operand_programs(obj, what) -> tuple:
    """The flat programs ``(forward, adjoint, dtype)`` of a matrix or foreign operator ``obj``.

    Parameters
    ----------
    obj : 2-d array, np.matrix, SciPy sparse matrix, or a SciPy or PyLops linear operator
        (or an object with ``shape``, ``matvec`` and ``rmatvec``)
    what : str
        Name of the caller, for the error message.

    Raises
    ------
    ForeignOperatorError
        ``obj`` is none of those.
    """
    if isinstance(obj, np.ndarray) and obj.ndim == 2:
        if obj.dtype.kind not in "fciub":
            raise TypeError(f"{what}: a matrix must be numeric, got dtype {obj.dtype}")
        return _matrix_programs(obj)
    if is_sparse(obj) and obj.ndim == 2:
        return _matrix_programs(obj.tocsr())
    if foreign.is_linear_operator(obj):
        return _foreign_programs(obj)
    if hasattr(obj, "shape") and hasattr(obj, "matvec") and hasattr(obj, "rmatvec"):
        return _foreign_programs(scipy_aslinearoperator(obj))
    raise ForeignOperatorError(
        f"{what}: expected linop.TracedLinearOperator objects, 2-d arrays, sparse matrices or "
        f"SciPy/PyLops linear operators, got {type(obj).__name__}"
        f"{f' with shape {np.shape(obj)}' if isinstance(obj, np.ndarray) else ''}; wrap a "
        "NumPy function with linop.aslinearoperator(fun, example_input) first")
