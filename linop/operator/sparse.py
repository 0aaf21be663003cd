"""The exact sparse matrix of a flat program, composed from each primitive's own matrix.

Every variable ``v`` of a flat program ``dtype[n] -> dtype[m]`` is held as
``v = P_v x + Q_v conj(x)`` with CSR matrices over the flat input ``x``
(``Q_v`` is absent unless a real-linear step such as ``conj`` occurs). Inputs
start at the identity; each equation applies the matrices its primitive gives
(:meth:`linop.core.Primitive.sparse_jacobian`), so the cost grows with the
number of nonzeros, never with ``n`` products. A primitive without a rule is
probed once on the identity (its ``batch`` rule), up to ``dense_limit``
elements of its matrix. For a real input ``conj(x) = x`` and the matrix is
``P + Q``; a complex program must end with ``Q = 0``.
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from ..core import sparse_identity
from ..errors import DenseMatrixError, LinopError, user_location
from .layout import is_complex

__all__ = ["DEFAULT_DENSE_LIMIT", "program_matrix", "tosparse", "check_dense_limit"]

#: The largest dense matrix (in elements) of one step that :func:`program_matrix` probes.
DEFAULT_DENSE_LIMIT = 2 ** 22


def check_dense_limit(dense_limit, what) -> int:
    """``dense_limit`` as a non-negative int, else a ``TypeError``/``ValueError`` naming ``what``."""
    if isinstance(dense_limit, (bool, np.bool_)) or not isinstance(dense_limit, numbers.Integral) \
            or dense_limit < 0:
        raise TypeError(f"{what} at {user_location()}: dense_limit must be a non-negative integer "
                        f"(elements of one step's dense matrix, e.g. 2**22), got {dense_limit!r}")
    return int(dense_limit)


def _probed(eqn, avals, dense_limit) -> list:
    """Each input's matrix of ``eqn``, from its ``batch`` rule applied to the identity."""
    out = eqn.out.aval
    result = []
    for k, a in enumerate(avals):
        if a.size * out.size > dense_limit:
            raise DenseMatrixError(
                f"tosparse: the step {eqn.prim.name} (at {eqn.source or 'an unknown location'}) "
                f"has no sparse structure rule and its dense matrix would have "
                f"{out.size} x {a.size} = {a.size * out.size} elements, more than dense_limit="
                f"{dense_limit}. Pass a larger dense_limit= to tosparse to probe it anyway, or "
                "write that step with operations of known structure (slices, stencils, gathers, "
                "sparse matrices).")
        J = _probe(eqn, avals, k, np.eye(a.size, dtype=a.dtype))
        if is_complex(a.dtype):
            # f(v) = J v + K conj(v), probed on e and on 1j e: exact also for steps that are
            # linear over the reals only (irfft drops the imaginary part of its zero frequency)
            Ji = _probe(eqn, avals, k, 1j * np.eye(a.size, dtype=a.dtype))
            K = (J + 1j * Ji) / 2
            rounding = 1e3 * np.finfo(a.dtype).eps * np.abs(J).max(initial=0)
            if np.abs(K).max(initial=0) <= rounding:     # complex-linear up to rounding
                result.append(sp.csr_matrix(J))
            else:
                result.append((sp.csr_matrix((J - 1j * Ji) / 2), sp.csr_matrix(K)))
        else:
            result.append(sp.csr_matrix(J))
    return result


def _probe(eqn, avals, k, basis) -> np.ndarray:
    out = eqn.out.aval
    n = basis.shape[0]
    if n == 0:
        return np.zeros((out.size, 0), out.dtype)
    batch = [np.zeros((n,) + b.shape, b.dtype) for b in avals]
    batch[k] = basis.reshape((n,) + avals[k].shape)
    return np.asarray(eqn.prim.batch(n, *batch, **eqn.params)).reshape(n, out.size).T


def _apply(J, P, Q):
    """``(J P, J Q)`` with ``None`` for a zero."""
    if J is None:
        return None, None
    return (None if P is None else J @ P), (None if Q is None else J @ Q)


def _add(a, b):
    return b if a is None else a if b is None else a + b


def _last_uses(program) -> dict:
    last = {}
    for i, eqn in enumerate(program.eqns):
        for v in eqn.inputs:
            last[v] = i
    for v in program.outvars:
        last[v] = len(program.eqns)
    return last


def program_matrix(program, dense_limit=DEFAULT_DENSE_LIMIT) -> sp.csr_matrix:
    """The exact matrix of a flat program ``dtype[n] -> dtype[m]`` (CSR, no explicit zeros).

    Parameters
    ----------
    program : Program
        One flat input vector, one flat output vector.
    dense_limit : int
        The largest dense matrix (elements) probed for a step without a structural rule.

    Raises
    ------
    DenseMatrixError
        A step without a structural rule has a larger matrix than ``dense_limit``.
    """
    (x,), (y,) = program.invars, program.outvars
    n = x.aval.size
    P, Q = {x: sparse_identity(n, x.aval.dtype)}, {x: None}
    last = _last_uses(program)
    for i, eqn in enumerate(program.eqns):
        avals = [v.aval for v in eqn.inputs]
        rules = eqn.prim.sparse_jacobian(*avals, **eqn.params)
        if rules is None:
            rules = _probed(eqn, avals, dense_limit)
        p = q = None
        for v, rule in zip(eqn.inputs, rules):
            J, K = rule if isinstance(rule, tuple) else (rule, None)
            jp, jq = _apply(J, P[v], Q[v])
            kq, kp = _apply(K, None if Q[v] is None else Q[v].conj(), P[v].conj())
            p, q = _add(_add(p, jp), kq), _add(_add(q, jq), kp)
        P[eqn.out] = sp.csr_matrix((eqn.out.aval.size, n), dtype=eqn.out.aval.dtype) \
            if p is None else sp.csr_matrix(p)
        Q[eqn.out] = None if q is None else sp.csr_matrix(q)
        for v in set(eqn.inputs):
            if last.get(v) == i:
                del P[v], Q[v]
    return _finished(P[y], Q[y], x.aval.dtype, y.aval.dtype)


def _finished(P, Q, in_dtype, out_dtype) -> sp.csr_matrix:
    if Q is not None:
        if is_complex(in_dtype):
            Q = sp.csr_matrix(Q)
            Q.eliminate_zeros()
            if Q.nnz:
                raise LinopError("tosparse: the program is only real-linear in its complex input "
                                 "(it conjugates, or takes real or imaginary parts, without "
                                 "undoing it), so no complex matrix represents it; build the "
                                 "operator with real_coords=True")
        else:
            P = P + Q
    if is_complex(P.dtype) and not is_complex(out_dtype):
        P = P.real
    M = sp.csr_matrix(P, dtype=out_dtype)
    M.sum_duplicates()
    M.eliminate_zeros()
    return M


def tosparse(A, format="csr", dense_limit=DEFAULT_DENSE_LIMIT):
    """The exact ``scipy.sparse`` matrix of a traced operator, derived from its program.

    The matrix is composed step by step from each primitive's own sparse matrix
    (slices, pads, stencils, gathers and scatters, sparse products, element-wise
    scaling, reshapes, transposes, ...), at a cost that grows with the number of
    nonzeros rather than with ``n`` products. A step without a structural rule
    (an FFT, a dense contraction) is probed on the identity when its dense matrix
    has at most ``dense_limit`` elements.

    Parameters
    ----------
    A : TracedLinearOperator
        An operator from :func:`linop.aslinearoperator` (or algebra on such operators).
    format : str
        A ``scipy.sparse`` format name: ``"csr"`` (default), ``"csc"``, ``"coo"``, ...
    dense_limit : int
        The largest dense matrix (in elements) of one step that may be probed.

    Returns
    -------
    scipy.sparse matrix
        Shape ``A.shape``, dtype ``A.dtype``; duplicates summed and exact zeros
        (also from cancellation) dropped, so its structure is that of the true matrix.

    Raises
    ------
    DenseMatrixError
        A step without a structural rule has a dense matrix above ``dense_limit``;
        the message names the primitive and the line of code that made it.
    TypeError
        ``A`` is not a traced operator, or ``dense_limit`` is not a non-negative integer.
    """
    if not hasattr(A, "flat_program"):
        raise TypeError(f"tosparse at {user_location()}: {type(A).__name__} is not a traced "
                        "operator; wrap it with linop.aslinearoperator first")
    dense_limit = check_dense_limit(dense_limit, "tosparse")
    M = program_matrix(A.flat_program, dense_limit)
    try:
        return M.asformat(format)
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"tosparse at {user_location()}: unknown sparse format {format!r} "
                         "(use 'csr', 'csc', 'coo', 'lil', 'dok', 'dia' or 'bsr')") from err
