"""``A.tosparse()`` against one ``matvec`` and against probing with ``todense``, side by side.

Operators: a 2-D 5-point Laplacian (1000², 10⁶ unknowns), a 3-D 7-point stencil
(100³) and a 128² parallel-beam tomography model (``linop.scipy.ndimage.rotate``,
order 1, 32 angles). For each: the time of ``tosparse`` as a multiple of one
``matvec`` run by NumPy (``executor="numpy"``; target: at most 50 for the
stencils), the same against the default executor (numba's fused loops where
numba is installed, a few times faster than NumPy on stencils) and, where the size
allows, against probing every column with ``todense(method="probe")``. The ratios
are medians over rounds that each time both sides back to back, so that a loaded
machine slows both alike; the times shown are the best ones.

Run: ``python benchmarks/bench_tosparse.py`` (``--small`` for small sizes).
"""
from __future__ import annotations

import argparse
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


def run(name, fun, shape, probe):
    A = linop.aslinearoperator(fun, np.zeros(shape), executor="numpy")
    default = linop.aslinearoperator(fun, np.zeros(shape))
    x = np.random.default_rng(0).standard_normal(A.shape[1])
    default.matvec(x)                                   # compiles, where it compiles
    rounds = [(best(lambda: A.tosparse(), repeat=1), best(lambda: A.matvec(x)),
               best(lambda: default.matvec(x))) for _ in range(ROUNDS)]
    t_sparse, t_matvec, t_default = np.min(rounds, axis=0)
    numpy_ratio, default_ratio = np.median([(s / m, s / d) for s, m, d in rounds], axis=0)
    S = A.tosparse()
    err = np.linalg.norm(S @ x - A.matvec(x)) / np.linalg.norm(A.matvec(x))
    line = (f"{name:<24} n={A.shape[1]:>8} nnz={S.nnz:>8}  tosparse {1e3 * t_sparse:7.1f} ms "
            f"= {numpy_ratio:5.1f} NumPy matvecs ({1e3 * t_matvec:.1f} ms; {default_ratio:4.0f} "
            f"of the default executor's, {1e3 * t_default:.2f} ms)  |Sx-Ax|/|Ax| {err:.0e}")
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
