"""``scipy.sparse`` matrices and arrays as constants of a linear map.

SciPy's sparse classes do not dispatch through NumPy's protocols. linop makes
``S @ x``, ``x @ S``, ``S.dot(x)`` and, for the ``spmatrix`` classes, ``S * x``
and ``x * S`` work on a traced ``x``: SciPy's ``_matmul_dispatch`` is made to
return ``NotImplemented`` for a tracer (see :func:`opaque_for_sparse_dispatch`),
so Python calls the tracer's reflected operator, which lands in
:func:`traced_matmul`. The product is one ``sparse_matmul`` equation whose
transpose applies ``S.T``: ``S`` is never densified.

Sparse solves with a constant matrix live in :mod:`linop.scipy.sparse.linalg`
(``splu``, ``spsolve``, ``factorized``, SciPy's signatures).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as _sp

from ...core import is_tracer
from ...numpy_api.util import to_dtype, unsupported
from ...primitives.sparse_matmul import SparseConst, sparse_matmul

__all__ = ["matmul", "dot", "traced_matmul", "is_sparse", "opaque_for_sparse_dispatch",
           "SparseConst", "sparse_matmul", "linalg"]

# SciPy functions that turn an unknown operand into an array with np.asanyarray and
# return NotImplemented when that gives a 0-d object array.
_DEFERRING = frozenset({"_matmul_dispatch"})
_SHAPE_ONLY = frozenset({"dot"})
_ELEMENTWISE = frozenset({"multiply", "_multiply_2d_with_broadcasting"})


def is_sparse(obj) -> bool:
    """Whether ``obj`` is a SciPy sparse matrix or array.

    Parameters
    ----------
    obj : object
        Anything.

    Returns
    -------
    bool
    """
    return _sp.issparse(obj)


def opaque_for_sparse_dispatch(frame, tracer):
    """What ``Tracer.__array__`` returns when SciPy sparse code asks for the array.

    Parameters
    ----------
    frame : frame
        The Python frame that called ``np.asanyarray(tracer)``.
    tracer : Tracer

    Returns
    -------
    numpy.ndarray or None
        A 0-d object array (which makes SciPy return ``NotImplemented`` so that
        the tracer's reflected operator runs) when called from SciPy's matmul
        dispatch; a zero-memory object array of the tracer's shape when called
        from ``coo_array.dot`` (which only reads the shape, then uses ``@``);
        ``None`` otherwise (the caller then raises its usual error).

    Raises
    ------
    UnsupportedFunctionError
        For the element-wise product of a sparse array and a tracer.
    """
    if frame.f_globals.get("__name__", "").startswith("scipy.sparse.linalg"):
        return None  # operators, not matrices: linop.foreign routes tracers before this point
    name = frame.f_code.co_name
    if name in _DEFERRING:
        return np.empty((), dtype=object)
    if name in _SHAPE_ONLY:
        return np.broadcast_to(np.empty((), dtype=object), tracer.shape)
    if name in _ELEMENTWISE:
        raise unsupported("the element-wise product of a scipy.sparse array and a traced array",
                          "Use S @ x for the matrix product, or S.toarray() * x (densifies S).")
    return None


def _check_sparse(S):
    if S.ndim != 2:
        raise unsupported(f"a product with a {S.ndim}-d scipy.sparse array",
                          "Only 2-d sparse matrices and arrays are supported.")


def _sparse_left(S, x):
    """``S @ x`` with SciPy's shape rules (x traced)."""
    M, N = S.shape
    prefix = "matmul: dimension mismatch with signature"
    if x.ndim == 0:
        raise ValueError("Scalar operands are not allowed, use '*' instead")
    if x.ndim > 2:
        if S.format != "coo":
            raise ValueError("could not interpret dimensions")
        if x.shape[-2] != N:
            raise ValueError(f"{prefix} (n,k={N}),(k={x.shape[-2]},m)->(n,m)")
        return sparse_matmul(x, S, x.ndim - 2)
    if x.shape[0] != N:
        sig = "1?)->(n,1?)" if x.ndim == 1 or x.shape[1] == 1 else "m)->(n,m)"
        raise ValueError(f"{prefix} (n,k={N}),(k={x.shape[0]},{sig}")
    return sparse_matmul(x, S, 0)


def _sparse_right(x, S):
    """``x @ S`` with SciPy's shape rules (x traced): ``(S.T @ x.T).T``."""
    ST = SparseConst(S.T)
    if x.ndim == 0:
        raise ValueError("Scalar operands are not allowed, use '*' instead")
    if x.ndim > 2 and S.format != "coo":
        raise ValueError("could not interpret dimensions")
    N = S.shape[0]
    if x.shape[-1] != N:
        sig = "1?)->(n,1?)" if x.ndim == 1 or x.shape[0] == 1 else "m)->(n,m)"
        raise ValueError(f"matmul: dimension mismatch with signature (n,k={S.shape[1]}),"
                         f"(k={x.shape[-1]},{sig}")
    return sparse_matmul(x, ST, x.ndim - 1)


def traced_matmul(x, S, sparse_on_left: bool):
    """The product of a tracer ``x`` and a constant sparse ``S``.

    Parameters
    ----------
    x : Tracer
    S : scipy sparse matrix or array, 2-d
    sparse_on_left : bool
        ``S @ x`` when true, ``x @ S`` otherwise.

    Returns
    -------
    Tracer
        Shape and dtype as SciPy gives for a dense ``x``.
    """
    _check_sparse(S)
    if not np.issubdtype(S.dtype, np.number) and S.dtype != np.bool_:
        raise TypeError(f"unsupported sparse dtype {S.dtype}")
    res = np.result_type(S.dtype, x.dtype)
    x = to_dtype(x, res, "a product with a scipy.sparse matrix")
    return _sparse_left(S, x) if sparse_on_left else _sparse_right(x, S)


def traced_mul(x, S, sparse_on_left: bool):
    """``S * x`` or ``x * S``: a matrix product for ``spmatrix``, refused for ``sparray``."""
    if isinstance(S, _sp.spmatrix):
        if x.ndim == 0:
            raise unsupported("scaling a scipy.sparse matrix by a traced scalar",
                              "The result would be a sparse matrix of traced values.")
        return traced_matmul(x, S, sparse_on_left)
    raise unsupported("the element-wise product of a scipy.sparse array and a traced array",
                      "Use S @ x for the matrix product, or S.toarray() * x (densifies S).")


def matmul(a, b):
    """``a @ b`` where one operand may be a SciPy sparse matrix and the other a tracer.

    Parameters
    ----------
    a, b : array_like, scipy sparse matrix or Tracer

    Returns
    -------
    numpy.ndarray, sparse matrix or Tracer
        Exactly ``a @ b`` on plain operands.
    """
    if is_tracer(b) and is_sparse(a):
        return traced_matmul(b, a, True)
    if is_tracer(a) and is_sparse(b):
        return traced_matmul(a, b, False)
    return a @ b


def dot(a, b):
    """``a.dot(b)`` for a sparse ``a`` (as :func:`matmul` for a traced ``b``).

    Parameters
    ----------
    a : scipy sparse matrix or array
    b : array_like or Tracer
    """
    if is_tracer(b) and is_sparse(a):
        return traced_matmul(b, a, True)
    return a.dot(b)


def __getattr__(name):
    # linalg loads on first use, as SciPy's own submodule does.
    if name == "linalg":
        import importlib

        return importlib.import_module(f"{__name__}.linalg")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
