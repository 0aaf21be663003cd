"""SciPy's iterative solvers on traced operators, against dense answers."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import linalg as spla

import linop

N = 30
RNG = np.random.default_rng(5)
WEIGHTS = 1.0 + RNG.random(N)


def blur(x):
    """A symmetric positive definite stencil: weighted identity plus a smoothing."""
    y = (WEIGHTS + 1.0) * x
    y[1:] += 0.3 * x[:-1]
    y[:-1] += 0.3 * x[1:]
    return y


def tall(x):
    """A full-column-rank tall map: x, its differences, and a scaled copy."""
    return np.concatenate([x, x[1:] - x[:-1], 0.5 * x[::-1]])


def nonsymmetric(x):
    """A well-conditioned non-symmetric map: diagonal plus a one-sided shift."""
    y = 3.0 * x
    y[1:] += x[:-1]
    return y


@pytest.fixture(scope="module")
def ops():
    z = np.zeros(N)
    return {name: linop.aslinearoperator(f, z) for name, f in
            [("blur", blur), ("tall", tall), ("nonsym", nonsymmetric)]}


def test_lsqr_and_lsmr(ops):
    A = ops["tall"]
    M = A.todense()
    x_true = RNG.standard_normal(N)
    b = M @ x_true
    x = spla.lsqr(A, b, atol=1e-12, btol=1e-12, iter_lim=1000)[0]
    np.testing.assert_allclose(x, x_true, rtol=1e-7, atol=1e-8)
    x = spla.lsmr(A, b, atol=1e-12, btol=1e-12, maxiter=1000)[0]
    np.testing.assert_allclose(x, x_true, rtol=1e-7, atol=1e-8)
    damp = 0.5
    x = spla.lsqr(A, b, damp=damp, atol=1e-12, btol=1e-12, iter_lim=1000)[0]
    want = np.linalg.solve(M.T @ M + damp ** 2 * np.eye(N), M.T @ b)
    np.testing.assert_allclose(x, want, rtol=1e-7, atol=1e-8)


def test_cg_on_normal_operator(ops):
    A = ops["tall"]
    N_op = A.normal()
    assert isinstance(N_op, linop.TracedLinearOperator)
    M = A.todense()
    b = RNG.standard_normal(N)
    x, info = spla.cg(N_op, b, rtol=1e-12, maxiter=1000)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(M.T @ M, b), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("solver", ["gmres", "bicgstab"])
def test_nonsymmetric_solvers(ops, solver):
    A = ops["nonsym"]
    b = RNG.standard_normal(N)
    x, info = getattr(spla, solver)(A, b, rtol=1e-12, maxiter=1000)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(A.todense(), b), rtol=1e-7, atol=1e-8)


def test_minres(ops):
    A = ops["blur"]
    b = RNG.standard_normal(N)
    x, info = spla.minres(A, b, rtol=1e-12, maxiter=1000)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(A.todense(), b), rtol=1e-7, atol=1e-8)


def test_eigsh(ops):
    A = ops["blur"]
    want = np.linalg.eigvalsh(A.todense())
    got = np.sort(spla.eigsh(A, k=4, which="LA", tol=1e-12)[0])
    np.testing.assert_allclose(got, want[-4:], rtol=1e-9)


def test_svds(ops):
    A = ops["tall"]
    want = np.linalg.svd(A.todense(), compute_uv=False)
    got = np.sort(spla.svds(A, k=5, tol=1e-12, random_state=0)[1])[::-1]
    np.testing.assert_allclose(got, want[:5], rtol=1e-9)


def test_lobpcg_uses_matmat(ops):
    A = ops["blur"]
    calls = {"matmat": 0}
    original = A.matmat

    def counting(X):
        calls["matmat"] += 1
        return original(X)
    A.matmat = counting
    try:
        X0 = np.random.default_rng(0).standard_normal((N, 3))
        vals = spla.lobpcg(A, X0, largest=True, tol=1e-10, maxiter=500)[0]
    finally:
        del A.matmat
    want = np.linalg.eigvalsh(A.todense())[-3:]
    np.testing.assert_allclose(np.sort(vals), want, rtol=1e-7)
    assert calls["matmat"] > 0


def test_complex_operator_with_gmres():
    K = np.eye(6) * 4 + 0.5j * np.diag(np.ones(5), 1)
    A = linop.aslinearoperator(lambda z: K @ z, np.zeros(6, complex))
    b = RNG.standard_normal(6) + 1j * RNG.standard_normal(6)
    x, info = spla.gmres(A, b, rtol=1e-12)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(K, b), rtol=1e-8)
