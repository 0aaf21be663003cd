"""
Preconditioning a NumPy model with its exact sparse matrix
==========================================================

A variable-coefficient Poisson problem ``-div(k grad u) = f`` on a square, written
as plain NumPy (differences of slices), is turned into a linear operator by linop.
Conjugate gradients needs many iterations on it; a preconditioner needs the
operator's matrix or diagonal. ``A.tosparse()`` derives the **exact** sparse matrix
from the traced program (at the cost of a few operator applications, not one per
unknown), so that Jacobi (``A.diagonal()``) and algebraic multigrid (``pyamg``,
where installed) can be built from the NumPy model itself.

Run ``python tutorials/poisson_amg.py`` (``--small``, or ``LINOP_TUTORIAL_SMALL=1``, for a
quick run).
"""
import argparse
import os
import time

import numpy as np
from scipy.sparse.linalg import LinearOperator, cg

import linop


def conductivity(n):
    """A smooth coefficient field with a high-contrast inclusion."""
    y, x = np.mgrid[0:1:n * 1j, 0:1:n * 1j]
    k = 1.0 + 0.5 * np.sin(3 * np.pi * x) * np.cos(2 * np.pi * y)
    k[(x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.04] = 50.0
    return k


def make_model(k):
    """``u -> -div(k grad u)`` with zero Dirichlet values outside the grid (plain NumPy)."""
    kx = 0.5 * (k[:, 1:] + k[:, :-1])          # coefficients on the vertical cell faces
    ky = 0.5 * (k[1:, :] + k[:-1, :])          # and on the horizontal ones

    def model(u):
        flux_x = kx * (u[:, 1:] - u[:, :-1])
        flux_y = ky * (u[1:, :] - u[:-1, :])
        out = np.zeros_like(u)                   # minus the divergence of the fluxes
        out[:, :-1] -= flux_x
        out[:, 1:] += flux_x
        out[:-1, :] -= flux_y
        out[1:, :] += flux_y
        out[:, 0] += 2 * k[:, 0] * u[:, 0]      # the boundary faces, to the zero exterior
        out[:, -1] += 2 * k[:, -1] * u[:, -1]
        out[0, :] += 2 * k[0, :] * u[0, :]
        out[-1, :] += 2 * k[-1, :] * u[-1, :]
        return out

    return model


def solve(A, b, M=None, rtol=1e-8):
    """``cg`` with an iteration counter; returns (solution, iterations, seconds)."""
    count = [0]

    def callback(_):
        count[0] += 1

    start = time.perf_counter()
    x, info = cg(A, b, rtol=rtol, maxiter=5000, M=M, callback=callback)
    if info < 0:
        raise RuntimeError(f"cg failed (info={info})")
    return x, count[0], time.perf_counter() - start


def main(n=128):
    k = conductivity(n)
    model = make_model(k)
    A = linop.aslinearoperator(model, np.zeros((n, n)))
    linop.dottest(A)                                  # the adjoint is exact
    rng = np.random.default_rng(0)
    b = rng.standard_normal(A.shape[0])

    start = time.perf_counter()
    S = A.tosparse()                                  # exact, from the program
    t_sparse = time.perf_counter() - start
    probe = rng.standard_normal(A.shape[1])
    print(f"{n}x{n} grid: {A.shape[0]} unknowns; tosparse {1e3 * t_sparse:.1f} ms, "
          f"nnz {S.nnz}, |S x - A x| / |A x| = "
          f"{np.linalg.norm(S @ probe - A @ probe) / np.linalg.norm(A @ probe):.1e}")

    results = {}
    _, results["none"], _ = solve(A, b)
    d = A.diagonal()                                  # Jacobi from the exact diagonal
    jacobi = LinearOperator(A.shape, matvec=lambda r: r / d, dtype=A.dtype)
    _, results["Jacobi"], _ = solve(A, b, jacobi)
    try:
        import pyamg
    except ImportError:
        print("pyamg is not installed: skipping the multigrid preconditioner")
    else:
        amg = pyamg.smoothed_aggregation_solver(S.tocsr())
        _, results["AMG (pyamg)"], _ = solve(A, b, amg.aspreconditioner())
    for name, iterations in results.items():
        print(f"  cg iterations, preconditioner {name:<12} {iterations:5d}")
    return results


def figure(n, results):
    """The coefficient field and the iterations each preconditioner needs."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: the figure is skipped")
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    image = ax1.imshow(conductivity(n), cmap="magma")
    fig.colorbar(image, ax=ax1, label="k")
    ax1.set_title("conductivity k", fontsize=10)
    ax1.set_axis_off()
    ax2.bar(list(results), list(results.values()))
    ax2.set_ylabel("cg iterations to 1e-8")
    ax2.set_yscale("log")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Preconditioning a NumPy model with its exact sparse matrix")
    parser.add_argument("--small", action="store_true", help="a 32x32 grid (for tests)")
    small = parser.parse_args().small or os.environ.get("LINOP_TUTORIAL_SMALL") == "1"
    size = 32 if small else 128
    figure(size, main(size))
