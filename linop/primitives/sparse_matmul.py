"""Products with a constant sparse matrix along one axis: ``sparse_matmul``.

``sparse_matmul(x; S, axis)`` applies the constant ``m × n`` SciPy sparse matrix
``S`` to axis ``axis`` of ``x`` (whose length is ``n``): the result has ``m``
in that place. Its transpose applies ``S.T`` to the same axis, never
densifying ``S``. Index maps with weights (interpolation, boundary handling,
permutations) are sparse matrices too, so gathers and weighted scatter-adds
are both this primitive.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..ir import Const, ShapeDtype
from ..snapshots import Captures, is_snapshot, values_equal
from ..core import Primitive

__all__ = ["SparseConst", "sparse_matmul", "sparse_matmul_p", "apply_sparse", "captured_matrix"]


class SparseConst(Const):
    """A constant SciPy sparse matrix held by an equation's parameters.

    Held as CSR or CSC (both give fast products and a free transpose). Once
    captured (:meth:`captured`), its ``data``, ``indices`` and ``indptr`` are
    snapshots in canonical form (sorted indices, no duplicates), so
    that equality is cheap and exact; the caller's matrix is only read.
    The printer always names it: ``c0:sparse f64[3,4] nnz=7``.

    Parameters
    ----------
    matrix : scipy.sparse matrix or array, 2-D
    """

    __slots__ = ()
    always_named = True

    def __init__(self, matrix):
        import scipy.sparse as sp

        if matrix.format not in ("csr", "csc"):
            matrix = matrix.tocsr()
        self.value = sp.csr_array(matrix) if matrix.format == "csr" else sp.csc_array(matrix)

    def captured(self, captures) -> "SparseConst":
        """This matrix with snapshots of its arrays, in canonical form (``self`` if it already is)."""
        m = self.value
        parts = _snapshots(m, captures)
        if all(p is a for p, a in zip(parts, _arrays(m))):
            return self
        frozen = _assemble(m, parts)
        if not frozen.has_canonical_format:
            canonical = frozen.copy()
            canonical.sum_duplicates()
            canonical.sort_indices()
            parts = _snapshots(canonical, captures)
            frozen = _assemble(canonical, parts)
        key = (m.format, m.shape) + tuple(id(p) for p in parts)
        return captures.unique(SparseConst(frozen), key)

    @property
    def is_captured(self) -> bool:
        """Whether ``data``, ``indices`` and ``indptr`` are snapshots."""
        return all(is_snapshot(a) for a in _arrays(self.value))

    @property
    def T(self) -> "SparseConst":
        """The transposed matrix (CSR ↔ CSC, no copy of the data)."""
        return SparseConst(self.value.T)

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return int(self.value.nnz)

    def describe(self) -> str:
        """Text form used by the printer, e.g. ``sparse f64[3,4] nnz=7``."""
        return f"sparse {self.aval.short()} nnz={self.nnz}"

    def __eq__(self, other) -> bool:
        if not isinstance(other, SparseConst):
            return False
        a, b = self.value, other.value
        if a.shape != b.shape or a.dtype != b.dtype or a.nnz != b.nnz:
            return False
        if b.format != a.format:
            b = b.asformat(a.format)
        return (np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
                and values_equal(a.data, b.data))

    def __hash__(self):
        return hash((self.value.shape, self.value.dtype.str, self.nnz))

    def __repr__(self) -> str:
        return f"SparseConst({self.describe()})"


def captured_matrix(matrix):
    """A CSR or CSC copy of the sparse ``matrix`` made of snapshots, in canonical form.

    Its transpose (and, for a real matrix, its conjugate) shares those snapshots,
    so programs that capture both hold one copy.
    """
    return SparseConst(matrix).captured(Captures()).value


def _arrays(m) -> tuple:
    return m.data, m.indices, m.indptr


def _snapshots(m, captures) -> tuple:
    return tuple(captures.array(a) for a in _arrays(m))


def _assemble(m, parts):
    """A matrix of ``m``'s format and shape made of exactly the arrays ``parts``."""
    frozen = type(m)(tuple(parts), shape=m.shape)
    # SciPy's constructor may convert index dtypes; keep the snapshots themselves.
    frozen.data, frozen.indices, frozen.indptr = parts
    return frozen


def apply_sparse(matrix, x: np.ndarray, axis: int) -> np.ndarray:
    """``matrix`` applied to axis ``axis`` of the array ``x`` (NumPy/SciPy only).

    Parameters
    ----------
    matrix : scipy sparse matrix, shape (m, n)
    x : numpy.ndarray with ``x.shape[axis] == n``
    axis : int, non-negative

    Returns
    -------
    numpy.ndarray
        ``x.shape`` with ``m`` at ``axis``; dtype ``result_type(matrix, x)``.
    """
    moved = np.moveaxis(x, axis, 0)
    rest = moved.shape[1:]
    flat = moved.reshape(moved.shape[0], math.prod(rest))  # -1 fails for empty arrays
    out = np.asarray(matrix @ flat).reshape((matrix.shape[0],) + rest)
    return np.moveaxis(out, 0, axis)


def _out_dtype(dtype, S: SparseConst) -> np.dtype:
    return np.result_type(dtype, S.value.dtype)


class SparseMatmul(Primitive):
    """``S`` (a constant sparse matrix) applied along axis ``axis`` of ``x``."""

    name = "sparse_matmul"
    returns_fresh = False
    returns_view = False
    real_linear = False

    def impl(self, x, *, S, axis):
        out = apply_sparse(S.value, x, axis)
        return out.astype(_out_dtype(x.dtype, S), copy=False)

    def dask_impl(self, dk, x, *, S, axis):
        return dk.sparse_along(S.value, x, axis, _out_dtype(x.dtype, S))

    def abstract_eval(self, x, *, S, axis):
        m, n = S.value.shape
        if not 0 <= axis < x.ndim or x.shape[axis] != n:
            raise ValueError(f"sparse_matmul: matrix {S.describe()} does not fit axis {axis} of {x.short()}")
        shape = x.shape[:axis] + (m,) + x.shape[axis + 1:]
        return ShapeDtype(shape, _out_dtype(x.dtype, S))

    def sparse_jacobian(self, x, *, S, axis):
        # S along one axis: kron(I_before, S, I_after) over C-order elements
        out = self.abstract_eval(x, S=S, axis=axis).dtype
        before, after = math.prod(x.shape[:axis]), math.prod(x.shape[axis + 1:])
        J = sp.kron(sp.identity(before, out), sp.csr_matrix(S.value).astype(out))
        return [sp.kron(J, sp.identity(after, out), format="csr")]

    def transpose(self, ct, x, *, S, axis):
        if ct.dtype != x.dtype:
            raise TypeError(f"sparse_matmul: input {x.short()} must have the result dtype {ct.dtype}")
        return (sparse_matmul(ct, S.T, axis),)

    def batch(self, size, x, *, S, axis):
        return sparse_matmul(x, S, axis + 1)


sparse_matmul_p = SparseMatmul()


def sparse_matmul(x, S, axis: int):
    """Record or compute ``S`` applied along ``axis`` of ``x``.

    Parameters
    ----------
    x : Tracer or numpy.ndarray
        When traced, its dtype must already be ``result_type(x, S)`` so that
        the transpose maps back onto the same dtype.
    S : scipy sparse matrix or SparseConst
    axis : int
    """
    if not isinstance(S, SparseConst):
        S = SparseConst(S)
    axis = int(axis) % max(len(x.shape), 1)
    return sparse_matmul_p.bind(x, S=S, axis=axis)
