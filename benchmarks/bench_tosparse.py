"""``A.tosparse()`` against one ``matvec`` and against probing with ``todense``, side by side.

Operators: a 2-D 5-point Laplacian (1000², 10⁶ unknowns), a 3-D 7-point stencil
(100³) and a 128² parallel-beam tomography model (``linop.scipy.ndimage.rotate``,
order 1, 32 angles). For each: the time of ``tosparse`` as a multiple of one
``matvec`` run by NumPy (``executor="numpy"``; target: at most 50 for the
stencils), the same against numba's fused loops (``executor="numba"``, where numba
is installed; a few times faster than NumPy on stencils), the time of
``A.normal().diagonal()`` and of ``todense`` (composed from the sparse matrix,
where the dense matrix fits) and, where the size allows, against probing every
column with ``todense(method="probe")``. The ratios are medians over rounds that
each time both sides back to back, so that a loaded machine slows both alike; the
times shown are the best ones.

Run: ``python benchmarks/bench_tosparse.py`` (``--small`` for small sizes).
"""
from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np

import linop
from linop.scipy import ndimage


def laplacian_2d(u):
    out = 4.0 * u
    out[1:, :] -= u[:-1, :]
    out[:-1, :] -= u[1:, :]
    out[:, 1:] -= u[:, :-1]
    out[:, :-1] -= u[:, 1:]
    return out


def stencil_3d(u):
    out = 6.0 * u
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(1, None), slice(None, -1)
        out[tuple(lo)] -= u[tuple(hi)]
        out[tuple(hi)] -= u[tuple(lo)]
    return out


def tomography(angles):
    def project(img):
        return np.stack([ndimage.rotate(img, a, reshape=False, order=1).sum(axis=0) for a in angles])
    return project


#: Rounds of tosparse and matvecs timed back to back.
ROUNDS = 5


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def fused_operator(fun, shape):
    """The operator run by numba's fused loops, or ``None`` without numba."""
    if importlib.util.find_spec("numba") is None:
        return None
    return linop.aslinearoperator(fun, np.zeros(shape), executor="numba")


#: The largest dense matrix (elements) that ``todense`` is timed on.
DENSE_UP_TO = 2 ** 27


def run(name, fun, shape, probe):
    A = linop.aslinearoperator(fun, np.zeros(shape), executor="numpy")
    fused = fused_operator(fun, shape) or A
    x = np.random.default_rng(0).standard_normal(A.shape[1])
    fused.matvec(x)                                     # compiles
    rounds = [(best(lambda: A.tosparse(), repeat=1), best(lambda: A.matvec(x)),
               best(lambda: fused.matvec(x))) for _ in range(ROUNDS)]
    t_sparse, t_matvec, t_fused = np.min(rounds, axis=0)
    numpy_ratio, fused_ratio = np.median([(s / m, s / d) for s, m, d in rounds], axis=0)
    S = A.tosparse()
    err = np.linalg.norm(S @ x - A.matvec(x)) / np.linalg.norm(A.matvec(x))
    N = A.normal()
    t_diag = best(lambda: N.diagonal(), repeat=2)
    diag_err = np.abs(N.diagonal() - np.asarray(S.multiply(S).sum(axis=0)).ravel()).max()
    line = (f"{name:<24} n={A.shape[1]:>8} nnz={S.nnz:>8}  tosparse {1e3 * t_sparse:7.1f} ms "
            f"= {numpy_ratio:5.1f} NumPy matvecs ({1e3 * t_matvec:.2f} ms) = {fused_ratio:5.1f} "
            f"{'fused' if fused is not A else 'NumPy'} matvecs ({1e3 * t_fused:.2f} ms)  "
            f"|Sx-Ax|/|Ax| {err:.0e}; normal().diagonal() {1e3 * t_diag:.1f} ms (err {diag_err:.0e})")
    if A.shape[0] * A.shape[1] <= DENSE_UP_TO:
        t_dense = best(lambda: linop.todense(A), repeat=1)
        line += f"; todense {1e3 * t_dense:.0f} ms"
    if probe:
        t_probe = best(lambda: linop.todense(A, method="probe"), repeat=1)
        line += f"; todense probing {t_probe / t_sparse:6.1f}x slower"
    print(line)


def main(small: bool):
    n2, n3, nt, k = (64, 16, 32, 8) if small else (1000, 100, 128, 32)
    angles = np.linspace(0.0, 180.0, k, endpoint=False)
    run("2-D Laplacian", laplacian_2d, (n2, n2), probe=small)
    run("3-D 7-point stencil", stencil_3d, (n3, n3, n3), probe=small)
    run(f"tomography ({k} angles)", tomography(angles), (nt, nt), probe=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="tosparse against matvec and todense")
    parser.add_argument("--small", action="store_true", help="small sizes (seconds)")
    main(parser.parse_args().small)
