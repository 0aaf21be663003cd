"""``aslinearoperator``: traced operators from NumPy functions, matrices and foreign operators."""
from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

from ..errors import user_location
from ..fused import check_executor
from ..primitives.complex import real_dtype
from ..tracing import primal_avals, trace_flat
from .classify import check_complex_linear
from .flat import adjoint_of, forward_flat
from .layout import Source, is_complex
from .operands import is_matrix, is_operator
from .traced import TracedLinearOperator, as_traced_operator

__all__ = ["aslinearoperator"]


def aslinearoperator(fun, *primals, real_coords=False, executor="auto") -> LinearOperator:
    """Trace a linear NumPy function into a SciPy ``LinearOperator``.

    Parameters
    ----------
    fun : callable, or a matrix or operator
        Linear in all of its arguments, written with NumPy. Called with no
        ``primals``, a 2-d array, ``np.matrix`` or SciPy sparse matrix gives the
        traced operator of that matrix, a PyLops operator a traced operator that
        calls it, and a SciPy ``LinearOperator`` is returned unchanged, as
        ``scipy.sparse.linalg.aslinearoperator`` does.
    *primals
        Example arguments (arrays, scalars, :class:`linop.ShapeDtype`, objects
        with ``shape`` and ``dtype``, in pytrees); only shapes and dtypes are
        read.
    real_coords : bool, optional
        Expose the operator on real coordinates (complex leaves split into
        real parts then imaginary parts). Required when ``fun`` has complex
        inputs or outputs but is only real-linear (it uses ``np.real``,
        ``np.imag``, ``np.conj`` ...); allowed for any function.
    executor : {"auto", "numpy", "numba"} or None, optional
        What runs ``matvec``/``rmatvec``/``matmat``: ``"numba"`` compiles fused loops
        (the extra ``linop[fast]``), ``"numpy"`` runs NumPy code, ``"auto"`` (default;
        ``None`` means it too, as everywhere ``executor=`` is taken) fuses programs
        worth compiling when numba is installed (see :mod:`linop.fused.executor`). A traced operator given as ``fun`` is returned
        as it is for ``"auto"`` (it keeps its own executor), else as
        ``fun.with_executor(executor)``; other SciPy operators run no program of
        linop's and ignore it.

    Returns
    -------
    TracedLinearOperator
        ``shape = (m, n)`` with ``n`` (``m``) the total size of the input
        (output) leaves, in :func:`linop.pytree.tree_flatten` order, each
        ravelled in C order. ``dtype`` is the result dtype of all leaves (real
        when ``real_coords``). An integer matrix gives a ``float64`` operator.

    Raises
    ------
    RealLinearError
        ``fun`` is only real-linear on complex values and ``real_coords`` is
        false.
    NonLinearError, AffineError, UnsupportedFunctionError
        While tracing ``fun``.
    TypeError
        A matrix or operator was given together with ``primals``, or an array
        that is not 2-d.
    ExecutorError
        ``executor`` is not one of the names above, or is ``"numba"`` without numba.

    Examples
    --------
    >>> import numpy as np, linop
    >>> A = linop.aslinearoperator(lambda x: x[1:] - x[:-1], np.zeros(4))
    >>> A.shape
    (3, 4)
    >>> A.rmatvec(np.ones(3))
    array([-1.,  0.,  0.,  1.])
    >>> linop.aslinearoperator(np.eye(2)).shape
    (2, 2)
    """
    executor = "auto" if executor is None else executor
    check_executor(executor)
    if (not primals and not callable(fun)) or is_matrix(fun) or is_operator(fun):
        if primals:
            raise TypeError(f"aslinearoperator: a {type(fun).__name__} is an operator already; "
                            "call linop.aslinearoperator(M) without example arguments")
        if isinstance(fun, TracedLinearOperator) and executor != "auto":
            return fun.with_executor(executor)
        if isinstance(fun, LinearOperator):
            return fun
        return as_traced_operator(fun, "aslinearoperator", executor)
    if not primals:
        raise TypeError(f"aslinearoperator at {user_location()}: example inputs are needed to "
                        f"trace {getattr(fun, '__name__', type(fun).__name__)}: pass arrays (or "
                        "linop.ShapeDtype) of the shapes and dtypes it takes, e.g. "
                        "linop.aslinearoperator(fun, np.zeros(n))")
    in_tree, in_avals = primal_avals(primals, "aslinearoperator")
    return _from_function(fun, in_tree, in_avals, real_coords, executor)


def _from_function(fun, in_tree, in_avals, real_coords, executor) -> TracedLinearOperator:
    program = trace_flat(fun, in_tree, in_avals)
    out_avals = program.out_avals
    avals = list(in_avals) + list(out_avals)
    if not avals or not in_avals:
        raise TypeError("aslinearoperator: the function needs at least one array input")
    dtype = np.result_type(*[a.dtype for a in avals])
    any_complex = is_complex(dtype)
    if any_complex and not real_coords:
        check_complex_linear(program)
    if real_coords:
        dtype = real_dtype(dtype)
    coords = real_coords and any_complex
    flat = forward_flat(program, in_avals, out_avals, dtype, coords)
    adjoint = adjoint_of(flat, flat.outvars[0].aval.shape[0], dtype)
    return TracedLinearOperator(flat, adjoint, dtype,
                                Source(program, list(in_avals), list(out_avals), coords),
                                executor=executor)
