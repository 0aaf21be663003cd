"""Krylov solvers whose vectors stay in the array library of the data: ``cg``, ``cgls``,
``lsqr``, ``lsmr``.

On NumPy vectors they follow :func:`scipy.sparse.linalg.cg`, :func:`scipy.sparse.linalg.lsqr`
and :func:`scipy.sparse.linalg.lsmr` step for step (the same iterates to rounding, the same
stopping rules, ``info``/``istop`` codes and return tuples), in SciPy's dtypes: a vector
SciPy updates in place keeps its dtype (a float32 one stays float32 whatever the operator
or preconditioner returns), one it recomputes takes the wider dtype. On Dask vectors
every vector stays a lazy Dask array held in (cluster) memory: each iteration's new
vectors are persisted together with the scalars the iteration needs, so the task graph
of an iterate is its blocks, whatever the iteration count (a lazily chained Krylov loop
would grow its graph with every step). The operator must accept such vectors: an operator
from :func:`linop.aslinearoperator` does (its programs run on Dask arrays).

Every solver takes ``callback(x)`` (SciPy's, once per iteration) and ``progress``, called
once per iteration as ``progress(iteration, residual_norm)``; :func:`print_progress` is a
ready-made iteration log.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.sparse.linalg import aslinearoperator

from .errors import NamespaceError, user_location
from .namespace import backend_for

__all__ = ["cg", "cgls", "lsqr", "lsmr", "print_progress"]

_EPS = np.finfo(np.float64).eps


def print_progress(iteration: int, residual: float) -> None:
    """An iteration log: one line per iteration with the residual norm.

    Pass it as ``progress=`` to a solver of this module.

    Parameters
    ----------
    iteration : int
        The iteration count when the solver reports (each solver's ``progress`` says when).
    residual : float
        The norm that solver reports: ``‖r‖`` for ``cg``, ``‖Aᴴr‖`` for ``cgls``, SciPy's
        ``r1norm``/``normr`` for ``lsqr``/``lsmr``.
    """
    print(f"{iteration:6d}  residual {residual:.6e}")


class _Vectors:
    """What a solver does with its vectors: NumPy's functions, or Dask's kept in memory."""

    def __init__(self, like):
        self.backend = backend_for((like,))
        self.xp = np if self.backend is None else self.backend.xp
        self.lazy = self.backend is not None and hasattr(self.backend, "persist")

    def norm(self, v):
        if self.backend is None:
            return np.linalg.norm(v)
        return self.value(self.xp.linalg.vector_norm(v))

    def dot(self, a, b):
        if self.backend is None:
            return np.vdot(a, b) if np.iscomplexobj(a) else np.dot(a, b)
        return self.value(self.xp.vecdot(a, b) if np.issubdtype(a.dtype, np.complexfloating)
                          else self.xp.sum(a * b))

    def value(self, scalar):
        """A 0-d array of the namespace as a NumPy scalar."""
        if self.lazy:
            scalar = scalar.compute()
        return np.asarray(scalar)[()]

    def settle(self, *vectors):
        """``vectors`` computed and held in memory (Dask), as they are (NumPy)."""
        if not self.lazy:
            return vectors
        return self.backend.persist(*vectors)

    def zeros(self, like, dtype):
        if self.backend is None:
            return np.zeros(like.shape[0], dtype)
        if like.dtype.kind == "c" and np.dtype(dtype).kind != "c":
            like = self.xp.real(like)  # Dask would warn of a complex-to-real cast of its meta
        return self.xp.zeros_like(like, dtype=dtype)

    def asarray(self, v, dtype):
        if self.backend is None:
            return np.asarray(v).astype(dtype, copy=True)
        return self.xp.astype(v, dtype) if v.dtype != dtype else v

    def copy(self, v):
        """``v`` in its own dtype, not shared with the caller (Dask arrays are never written)."""
        return np.array(v, copy=True, ndmin=1) if self.backend is None else v

    def kept(self, y, dtype):
        """``y`` rounded to ``dtype`` as NumPy writes it to an ``out=`` array of that dtype.

        SciPy updates its vectors in place (``x += a * p``), so each vector keeps its dtype
        and every result is rounded to it (a float64 step rounded to a float32 vector).
        A result of another kind (complex into a real vector, where NumPy would raise)
        stays as it is.
        """
        if y.dtype == dtype or not np.can_cast(y.dtype, dtype, "same_kind"):
            return y
        return y.astype(dtype) if self.backend is None else self.xp.astype(y, dtype)

    def scaled_plus(self, v, a, w):
        """``a v + w`` as SciPy's in-place ``v *= a; v += w``: rounded to ``v``'s dtype twice."""
        return self.kept(self.kept(v * a, v.dtype) + w, v.dtype)

    def check(self, y, what):
        """``y`` (an operator's result) must stay in the vectors' library."""
        if self.backend is not None and backend_for((y,)) is None:
            raise NamespaceError(
                f"{what} at {user_location()}: the operator turned the {self.backend.name} "
                f"vector into {type(y).__name__}, which gathers the data in one place. Use an "
                "operator that runs on these arrays (linop.aslinearoperator of the forward "
                "function does).")
        return y


def _operator(A):
    return A if hasattr(A, "matvec") and hasattr(A, "rmatvec") else aslinearoperator(A)


def _vector(b):
    if backend_for((b,)) is None:
        b = np.asarray(b)
        if b.ndim > 1:
            b = b.squeeze()
    return b


def _system_dtype(A, b) -> np.dtype:
    """SciPy's ``cg`` dtype: single or double precision, real or complex, from ``A`` and ``b``.

    Each dtype outside float32/float64/complex64/complex128 counts as float64 (complex128
    for a complex one, whose imaginary part SciPy would drop), then the wider of the two.
    """
    def standard(dtype):
        dtype = np.dtype(dtype)
        if dtype.char in "fdFD":
            return dtype
        return np.dtype(np.complex128 if dtype.kind == "c" else np.float64)
    return np.result_type(standard(A.dtype), standard(b.dtype))


def _tolerance(name, b_norm, atol, rtol) -> float:
    if atol is None or atol < 0:
        raise ValueError(f"linop.solvers.{name} called with invalid atol={atol!r}; atol must be "
                         "a real, non-negative number")
    return max(float(atol), float(rtol) * float(b_norm))


def cg(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None,
       progress=None):
    """Conjugate gradients for a Hermitian positive definite ``A``; ``scipy.sparse.linalg.cg``.

    Parameters
    ----------
    A : LinearOperator or matrix
        ``(n, n)``; for Dask vectors an operator that runs on them.
    b : array, shape (n,)
        NumPy or Dask.
    x0 : array, optional
        Starting guess (zeros by default).
    rtol, atol : float
        Stop when ``||r|| < max(atol, rtol * ||b||)``.
    maxiter : int, optional
        At most this many iterations (``10 n`` by default).
    M : LinearOperator, optional
        Preconditioner (approximating the inverse of ``A``).
    callback : callable, optional
        ``callback(x)`` after each iteration.
    progress : callable, optional
        ``progress(iteration, residual_norm)`` at the start of each iteration.

    Returns
    -------
    x : array
        The solution, in ``b``'s array library, in SciPy's dtype: float32, float64, complex64
        or complex128 from ``A``'s and ``b``'s (any other counts as double precision).
    info : int
        ``0`` converged, ``maxiter`` when the iteration limit was reached.
    """
    A = _operator(A)
    b = _vector(b)
    vs = _Vectors(b)
    dtype = _system_dtype(A, b)
    b = vs.asarray(b, dtype)
    x = vs.zeros(b, dtype) if x0 is None else vs.asarray(x0, dtype)
    psolve = (lambda r: r) if M is None else _operator(M).matvec
    b_norm = vs.norm(b)
    tol = _tolerance("cg", b_norm, atol, rtol)
    if b_norm == 0:
        return b, 0
    maxiter = 10 * b.shape[0] if maxiter is None else maxiter
    r = b - vs.check(A.matvec(x), "cg") if x0 is not None else b
    rho_prev = p = None
    for iteration in range(maxiter):
        r_norm = vs.norm(r)
        if progress is not None:
            progress(iteration, float(r_norm))
        if r_norm < tol:
            return x, 0
        z = psolve(r)
        rho = vs.dot(r, z)
        p = vs.kept(z, r.dtype) if iteration == 0 else vs.scaled_plus(p, rho / rho_prev, z)
        (p,) = vs.settle(p)
        (q,) = vs.settle(vs.check(A.matvec(p), "cg"))
        alpha = rho / vs.dot(p, q)
        x, r = vs.settle(vs.kept(x + alpha * p, x.dtype), vs.kept(r - alpha * q, r.dtype))
        rho_prev = rho
        if callback is not None:
            callback(x)
    return x, maxiter


def cgls(A, b, x0=None, *, damp=0.0, rtol=1e-5, atol=0.0, iter_lim=None, callback=None,
         progress=None):
    """Least squares ``min ||A x - b||² + damp² ||x||²`` by conjugate gradients on the normal
    equations (CGLS: ``A`` and ``A^H`` once each per iteration, never ``A^H A`` formed).

    Stopping rule: with ``s = A^H (b - A x) - damp² x`` (the normal-equation residual,
    whose norm is ``||A^H b||`` at ``x = 0``), stop when
    ``||s|| <= max(atol, rtol * ||s_0||)``, or after ``iter_lim`` iterations.

    Parameters
    ----------
    A : LinearOperator or matrix
        ``(m, n)``; for Dask vectors an operator that runs on them.
    b : array, shape (m,)
    x0 : array, optional
    damp : float
        Tikhonov damping.
    rtol, atol : float
        See the stopping rule.
    iter_lim : int, optional
        ``2 n`` by default (as ``lsqr``).
    callback : callable, optional
        ``callback(x)`` after each iteration.
    progress : callable, optional
        ``progress(iteration, normal_residual_norm)`` after each iteration.

    Returns
    -------
    x : array
        In :func:`cg`'s dtype; every vector stays in it, whatever ``A`` returns.
    istop : int
        ``0``: ``A^H b - damp² x0 = 0``, ``x0`` (zeros by default) is the solution;
        ``1``: the stopping rule holds; ``7``: the iteration limit was reached
        (``lsqr``'s codes for the same situations).
    itn : int
        Iterations run.
    r1norm : float
        ``||b - A x||``.
    snorm : float
        ``||A^H (b - A x) - damp² x||``.
    """
    A = _operator(A)
    b = _vector(b)
    vs = _Vectors(b)
    dtype = _system_dtype(A, b)
    b = vs.asarray(b, dtype)
    damp2 = float(damp) ** 2

    def apply(operator, v):  # the vectors stay in the system's dtype, whatever A returns
        return vs.kept(vs.check(operator(v), "cgls"), dtype)

    if x0 is None:
        x, r = vs.zeros(vs.check(A.rmatvec(b), "cgls"), dtype), b
    else:
        x = vs.asarray(x0, dtype)
        r = b - apply(A.matvec, x)
    s = apply(A.rmatvec, r) - damp2 * x
    x, r, s = vs.settle(x, r, s)
    gamma = vs.norm(s) ** 2
    tol = _tolerance("cgls", math.sqrt(gamma), atol, rtol)
    iter_lim = 2 * x.shape[0] if iter_lim is None else iter_lim
    if gamma == 0:
        return x, 0, 0, float(vs.norm(r)), 0.0
    p, istop, itn = s, 7, 0
    while itn < iter_lim:
        itn += 1
        (q,) = vs.settle(apply(A.matvec, p))
        delta = vs.norm(q) ** 2 + (damp2 * vs.norm(p) ** 2 if damp2 else 0)
        alpha = gamma / delta
        x, r = x + alpha * p, r - alpha * q
        s = apply(A.rmatvec, r) - damp2 * x
        x, r, s = vs.settle(x, r, s)
        gamma, gamma_prev = vs.norm(s) ** 2, gamma
        if progress is not None:
            progress(itn, math.sqrt(gamma))
        if callback is not None:
            callback(x)
        if math.sqrt(gamma) <= tol:
            istop = 1
            break
        (p,) = vs.settle(s + (gamma / gamma_prev) * p)
    return x, istop, itn, float(vs.norm(r)), float(math.sqrt(gamma))


def _givens(a, b):
    """``(c, s, r)`` with ``[c s; -s c] [a; b] = [r; 0]``, computed without overflow."""
    if b == 0:
        return np.sign(a), 0, abs(a)
    if a == 0:
        return 0, np.sign(b), abs(b)
    if abs(b) > abs(a):
        t = a / b
        s = np.sign(b) / math.sqrt(1 + t * t)
        return s * t, s, b / s
    t = b / a
    c = np.sign(a) / math.sqrt(1 + t * t)
    return c, c * t, a / c


class _LSQRState:
    """The scalars of Paige and Saunders' LSQR recurrences between iterations."""

    def __init__(self, alfa, beta, damp):
        self.alfa, self.beta, self.damp = alfa, beta, damp
        self.rhobar, self.phibar = alfa, beta
        self.anorm = self.acond = self.ddnorm = self.res2 = 0
        self.xnorm = self.xxnorm = self.z = 0
        self.cs2, self.sn2 = -1, 0
        self.rnorm = self.r1norm = self.r2norm = beta
        self.arnorm = alfa * beta

    def rotate(self):
        """Eliminate the damping and the new subdiagonal; the step's weights for ``w``."""
        if self.damp > 0:
            rhobar1 = math.sqrt(self.rhobar ** 2 + self.damp ** 2)
            cs1, sn1 = self.rhobar / rhobar1, self.damp / rhobar1
            psi, self.phibar = sn1 * self.phibar, cs1 * self.phibar
        else:
            rhobar1, psi = self.rhobar, 0.0
        cs, sn, rho = _givens(rhobar1, self.beta)
        theta = sn * self.alfa
        self.rhobar = -cs * self.alfa
        phi = cs * self.phibar
        self.phibar = sn * self.phibar
        self.tau = sn * phi
        self.psi, self.rho, self.theta, self.phi = psi, rho, theta, phi
        return phi / rho, -theta / rho

    def estimate_norms(self, dk_norm):
        """Update the estimates of ``||x||``, ``cond(A)``, ``||r||`` and ``||A^H r||``."""
        self.ddnorm = self.ddnorm + dk_norm ** 2
        delta, gambar = self.sn2 * self.rho, -self.cs2 * self.rho
        rhs = self.phi - delta * self.z
        zbar = rhs / gambar
        self.xnorm = math.sqrt(self.xxnorm + zbar ** 2)
        gamma = math.sqrt(gambar ** 2 + self.theta ** 2)
        self.cs2, self.sn2 = gambar / gamma, self.theta / gamma
        self.z = rhs / gamma
        self.xxnorm = self.xxnorm + self.z ** 2
        self.acond = self.anorm * math.sqrt(self.ddnorm)
        self.res2 = self.res2 + self.psi ** 2
        self.rnorm = math.sqrt(self.phibar ** 2 + self.res2)
        self.arnorm = self.alfa * abs(self.tau)
        if self.damp > 0:
            r1sq = self.rnorm ** 2 - self.damp ** 2 * self.xxnorm
            self.r1norm = -math.sqrt(-r1sq) if r1sq < 0 else math.sqrt(r1sq)
        else:
            self.r1norm = self.rnorm
        self.r2norm = self.rnorm

    def stop_code(self, itn, iter_lim, bnorm, atol, btol, ctol):
        """LSQR's ``istop``: the most significant of its tests that holds (0 for none)."""
        test1 = self.rnorm / bnorm
        test2 = self.arnorm / (self.anorm * self.rnorm + _EPS)
        test3 = 1 / (self.acond + _EPS)
        t1 = test1 / (1 + self.anorm * self.xnorm / bnorm)
        rtol = btol + atol * self.anorm * self.xnorm / bnorm
        tests = [(test1 <= rtol, 1), (test2 <= atol, 2), (test3 <= ctol, 3), (1 + t1 <= 1, 4),
                 (1 + test2 <= 1, 5), (1 + test3 <= 1, 6), (itn >= iter_lim, 7)]
        return next((code for holds, code in tests if holds), 0)


def lsqr(A, b, damp=0.0, atol=1e-6, btol=1e-6, conlim=1e8, iter_lim=None, show=False,
         calc_var=False, x0=None, *, callback=None, progress=None):
    """LSQR (Paige and Saunders) for ``min ||A x - b||² + damp² ||x||²``; ``scipy.sparse.linalg.lsqr``.

    Parameters
    ----------
    A : LinearOperator or matrix
        ``(m, n)``; for Dask vectors an operator that runs on them.
    b : array, shape (m,)
        NumPy or Dask.
    damp, atol, btol, conlim, iter_lim, calc_var, x0
        As :func:`scipy.sparse.linalg.lsqr`.
    show : bool
        Print an iteration log (:func:`print_progress`).
    callback : callable, optional
        ``callback(x)`` after each iteration.
    progress : callable, optional
        ``progress(iteration, r1norm)`` after each iteration.

    Returns
    -------
    tuple
        ``(x, istop, itn, r1norm, r2norm, anorm, acond, arnorm, xnorm, var)`` with
        SciPy's meanings (``istop`` 0–7).
    """
    A = _operator(A)
    b = _vector(b)
    vs = _Vectors(b)
    if show and progress is None:
        progress = print_progress
    n = A.shape[1]
    iter_lim = 2 * n if iter_lim is None else iter_lim
    ctol = 1 / conlim if conlim > 0 else 0
    bnorm = vs.norm(b)
    u = b
    if x0 is None:
        x, beta = None, bnorm
    else:
        x = vs.asarray(x0, np.result_type(x0.dtype))
        (u,) = vs.settle(u - vs.check(A.matvec(x), "lsqr"))
        beta = vs.norm(u)
    if beta > 0:
        u = (1 / beta) * u
        (v,) = vs.settle(vs.check(A.rmatvec(u), "lsqr"))
        alfa = vs.norm(v)
    else:
        v, alfa = (vs.zeros(vs.check(A.rmatvec(b), "lsqr"), np.float64) if x is None else x), 0
    if x is None:
        x = vs.zeros(v, np.float64)
    var = vs.zeros(v, np.float64)
    if alfa > 0:
        v = (1 / alfa) * v
    w = v
    state = _LSQRState(alfa, beta, damp)
    if state.arnorm == 0:
        return x, 0, 0, beta, beta, 0, 0, 0, 0, var
    istop, itn = 0, 0
    while itn < iter_lim:
        itn += 1
        previous_alfa = state.alfa
        u, v, state.alfa, state.beta = _bidiagonalization_step(A, vs, u, v, state.alfa, "lsqr")
        if state.beta > 0:
            state.anorm = math.sqrt(state.anorm ** 2 + previous_alfa ** 2 + state.beta ** 2
                                    + damp ** 2)
        t1, t2 = state.rotate()
        dk = (1 / state.rho) * w
        x, w = x + t1 * w, v + t2 * w
        if calc_var:
            var = var + dk ** 2
        x, w, u, v, var = vs.settle(x, w, u, v, var)
        state.estimate_norms(vs.norm(dk))
        istop = state.stop_code(itn, iter_lim, bnorm, atol, btol, ctol)
        if progress is not None:
            progress(itn, float(state.r1norm))
        if callback is not None:
            callback(x)
        if istop != 0:
            break
    return (x, istop, itn, state.r1norm, state.r2norm, state.anorm, state.acond, state.arnorm,
            state.xnorm, var)


def _bidiagonalization_step(A, vs, u, v, alpha, what, in_place=False):
    """One Golub–Kahan step of LSQR and LSMR: ``(u, v, alpha, beta)`` after it.

    ``u`` becomes ``A v - alpha u`` normalised (``beta`` its norm); then, if ``beta > 0``,
    ``v`` becomes ``Aᴴ u - beta v`` normalised (``alpha`` its norm; unchanged otherwise).
    ``in_place`` rounds as SciPy's ``lsmr`` (``u *= -alpha; u += A v``: ``u`` and ``v`` keep
    their dtypes), otherwise as its ``lsqr`` (``u = A v - alpha u``: the wider dtype).
    """
    def plus(a, y, z):  # a y + z
        return vs.scaled_plus(y, a, z) if in_place else z + a * y

    def scaled(a, y):
        return vs.kept(a * y, y.dtype) if in_place else a * y

    (u,) = vs.settle(plus(-alpha, u, vs.check(A.matvec(v), what)))
    beta = vs.norm(u)
    if beta > 0:
        u = scaled(1 / beta, u)
        (v,) = vs.settle(plus(-beta, v, vs.check(A.rmatvec(u), what)))
        alpha = vs.norm(v)
        if alpha > 0:
            v = scaled(1 / alpha, v)
    return u, v, alpha, beta


class _LSMRState:
    """The scalars of Fong and Saunders' LSMR recurrences between iterations."""

    def __init__(self, alpha, beta, damp):
        self.alpha, self.beta, self.damp = alpha, beta, damp
        self.zetabar, self.alphabar = alpha * beta, alpha
        self.rho = self.rhobar = self.cbar = 1
        self.sbar = 0
        self.betadd, self.betad = beta, 0
        self.rhodold, self.tautildeold, self.thetatilde = 1, 0, 0
        self.zeta = self.d = 0
        self.normA2 = alpha * alpha
        self.maxrbar, self.minrbar = 0, 1e100
        self.normA, self.condA, self.normx = math.sqrt(self.normA2), 1, 0
        self.normr, self.normar = beta, alpha * beta
        self.itn = 0

    def rotate(self):
        """Rotations of the new bidiagonal column; the weights of the ``hbar``, ``x`` and ``h``
        updates: ``hbar = h + c_hbar hbar``, ``x = x + c_x hbar``, ``h = v + c_h h``."""
        chat, shat, alphahat = _givens(self.alphabar, self.damp)
        rhoold, rhobarold, zetaold = self.rho, self.rhobar, self.zeta
        c, s, self.rho = _givens(alphahat, self.beta)
        thetanew = s * self.alpha
        self.alphabar = c * self.alpha
        thetabar = self.sbar * self.rho
        rhotemp = self.cbar * self.rho
        self.cbar, self.sbar, self.rhobar = _givens(self.cbar * self.rho, thetanew)
        self.zeta = self.cbar * self.zetabar
        self.zetabar = -self.sbar * self.zetabar
        self._estimate_residual(chat, shat, c, s, thetabar, zetaold)
        self._estimate_operator(rhobarold, rhotemp)
        return (-(thetabar * self.rho / (rhoold * rhobarold)), self.zeta / (self.rho * self.rhobar),
                -(thetanew / self.rho))

    def _estimate_residual(self, chat, shat, c, s, thetabar, zetaold):
        """``||r||`` from the rotations applied to the right-hand side (and ``||A^H r||``)."""
        betaacute = chat * self.betadd
        betacheck = -shat * self.betadd
        betahat = c * betaacute
        self.betadd = -s * betaacute
        thetatildeold = self.thetatilde
        ctildeold, stildeold, rhotildeold = _givens(self.rhodold, thetabar)
        self.thetatilde = stildeold * self.rhobar
        self.rhodold = ctildeold * self.rhobar
        self.betad = -stildeold * self.betad + ctildeold * betahat
        self.tautildeold = (zetaold - thetatildeold * self.tautildeold) / rhotildeold
        taud = (self.zeta - self.thetatilde * self.tautildeold) / self.rhodold
        self.d = self.d + betacheck * betacheck
        self.normr = math.sqrt(self.d + (self.betad - taud) ** 2 + self.betadd * self.betadd)
        self.normar = abs(self.zetabar)

    def _estimate_operator(self, rhobarold, rhotemp):
        """Running estimates of ``||A||_F`` and ``cond(A)``."""
        self.normA2 = self.normA2 + self.beta * self.beta
        self.normA = math.sqrt(self.normA2)
        self.normA2 = self.normA2 + self.alpha * self.alpha
        # minrbar's start, 1e100, overflows to inf in a comparison with a float32 scalar (as in
        # SciPy, where it warns): the comparison's outcome is still right.
        with np.errstate(over="ignore"):
            self.maxrbar = max(self.maxrbar, rhobarold)
            if self.itn > 1:
                self.minrbar = min(self.minrbar, rhobarold)
            self.condA = max(self.maxrbar, rhotemp) / min(self.minrbar, rhotemp)

    def stop_code(self, maxiter, normb, atol, btol, ctol):
        """LSMR's ``istop``: the most significant of its tests that holds (0 for none)."""
        test1 = self.normr / normb
        test2 = self.normar / (self.normA * self.normr) if self.normA * self.normr != 0 else math.inf
        test3 = 1 / self.condA
        t1 = test1 / (1 + self.normA * self.normx / normb)
        rtol = btol + atol * self.normA * self.normx / normb
        tests = [(test1 <= rtol, 1), (test2 <= atol, 2), (test3 <= ctol, 3), (1 + t1 <= 1, 4),
                 (1 + test2 <= 1, 5), (1 + test3 <= 1, 6), (self.itn >= maxiter, 7)]
        return next((code for holds, code in tests if holds), 0)


def lsmr(A, b, damp=0.0, atol=1e-6, btol=1e-6, conlim=1e8, maxiter=None, show=False, x0=None,
         *, callback=None, progress=None):
    """LSMR (Fong and Saunders) for ``min ||A x - b||² + damp² ||x||²``; ``scipy.sparse.linalg.lsmr``.

    MINRES on the normal equations in exact arithmetic: ``||A^H r||`` decreases monotonically,
    so it can stop earlier than LSQR for the same ``atol``.

    Parameters
    ----------
    A : LinearOperator or matrix
        ``(m, n)``; for Dask vectors an operator that runs on them.
    b : array, shape (m,)
        NumPy or Dask.
    damp, atol, btol, conlim, maxiter, x0
        As :func:`scipy.sparse.linalg.lsmr` (``maxiter`` defaults to ``min(m, n)``).
    show : bool
        Print an iteration log (:func:`print_progress`).
    callback : callable, optional
        ``callback(x)`` after each iteration.
    progress : callable, optional
        ``progress(iteration, normr)`` after each iteration.

    Returns
    -------
    tuple
        ``(x, istop, itn, normr, normar, normA, condA, normx)`` with SciPy's meanings
        (``istop`` 0–7, as :func:`lsqr`'s).

    Notes
    -----
    The dtypes are SciPy's: ``u`` and ``v`` keep ``b``'s and ``Aᴴu``'s (float32 for float32
    data), ``x`` is float64 or wider (``x0``'s dtype when given). Where SciPy's in-place
    updates fail (a complex ``A`` with a real ``b``), the vectors here become complex.
    """
    A = _operator(A)
    b = _vector(b)
    vs = _Vectors(b)
    if show and progress is None:
        progress = print_progress
    m, n = A.shape
    maxiter = min(m, n) if maxiter is None else maxiter
    dtype = _lsmr_dtype(A, b, x0)
    ctol = 1 / conlim if conlim > 0 else 0
    u = b  # as SciPy's: u and v keep b's and Aᴴb's dtypes, x and hbar take dtype
    normb = vs.norm(u)
    if x0 is None:
        x, beta = None, normb
    else:
        x = vs.copy(x0)
        (u,) = vs.settle(u - vs.check(A.matvec(x), "lsmr"))
        beta = vs.norm(u)
    if beta > 0:
        u = (1 / beta) * u
        (v,) = vs.settle(vs.check(A.rmatvec(u), "lsmr"))
        alpha = vs.norm(v)
    else:
        v = vs.zeros(vs.check(A.rmatvec(u), "lsmr"), dtype) if x is None else vs.zeros(x, dtype)
        alpha = 0
    if x is None:
        x = vs.zeros(v, dtype)
    if alpha > 0:
        v = (1 / alpha) * v
    state = _LSMRState(alpha, beta, damp)
    if state.normar == 0:
        return x, 0, 0, state.normr, state.normar, state.normA, state.condA, state.normx
    if normb == 0:
        return (vs.zeros(x, x.dtype), 0, 0, state.normr, state.normar, state.normA, state.condA,
                state.normx)
    h, hbar = v, vs.zeros(v, dtype)
    istop = 0
    while state.itn < maxiter:
        state.itn += 1
        u, v, state.alpha, state.beta = _bidiagonalization_step(A, vs, u, v, state.alpha, "lsmr",
                                                                in_place=True)
        c_hbar, c_x, c_h = state.rotate()
        hbar = vs.scaled_plus(hbar, c_hbar, h)
        x, h = vs.kept(x + c_x * hbar, x.dtype), vs.scaled_plus(h, c_h, v)
        x, h, hbar, u, v = vs.settle(x, h, hbar, u, v)
        state.normx = vs.norm(x)
        istop = state.stop_code(maxiter, normb, atol, btol, ctol)
        if progress is not None:
            progress(state.itn, float(state.normr))
        if callback is not None:
            callback(x)
        if istop > 0:
            break
    return (x, istop, state.itn, state.normr, state.normar, state.normA, state.condA,
            state.normx)


def _lsmr_dtype(A, b, x0) -> np.dtype:
    """SciPy's: the result type of ``A``, ``b`` (and ``x0``) and float64."""
    dtypes = [A.dtype, b.dtype, np.float64] + ([] if x0 is None else [x0.dtype])
    return np.result_type(*dtypes)
