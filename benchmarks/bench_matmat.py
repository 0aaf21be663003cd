"""``matmat`` with 16 columns against 16 ``matvec`` calls on a stencil operator.

``matmat`` runs one batched program over all columns; the loop runs the
per-vector program 16 times. Small (n=256) and large (n=1e6) operators, with
the columns C-ordered (NumPy's default: the program batched with the batch axis
last takes them as they are) and F-ordered (the batch axis in front, on ``X.T``).

Run: ``python benchmarks/bench_matmat.py``
"""
from __future__ import annotations

import time

import numpy as np

import linop

K = 16


def stencil(x):
    """A 1-D second-difference stencil with a weighted centre (zero boundaries)."""
    y = np.zeros_like(x)
    y[1:-1] = 2.0 * x[1:-1] - x[:-2] - x[2:]
    y[0] = x[0]
    y[-1] = x[-1]
    return y


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(n, repeat, order):
    A = linop.aslinearoperator(stencil, np.zeros(n))
    X = np.asarray(np.random.default_rng(0).standard_normal((n, K)), order=order)
    loop = lambda: np.stack([A.matvec(X[:, j]) for j in range(K)], axis=1)
    batched = lambda: A.matmat(X)
    assert np.allclose(loop(), batched())
    rloop = lambda: np.stack([A.rmatvec(X[:, j]) for j in range(K)], axis=1)
    rbatched = lambda: A.rmatmat(X)
    assert np.allclose(rloop(), rbatched())
    t_loop, t_mat = best(loop, repeat), best(batched, repeat)
    t_rloop, t_rmat = best(rloop, repeat), best(rbatched, repeat)
    print(f"n={n:>8} {order}: 16 x matvec {t_loop * 1e3:9.3f} ms | matmat {t_mat * 1e3:9.3f} ms | "
          f"speed-up {t_loop / t_mat:5.2f}x")
    print(f"{'':12} 16 x rmatvec {t_rloop * 1e3:8.3f} ms | rmatmat {t_rmat * 1e3:8.3f} ms | "
          f"speed-up {t_rloop / t_rmat:5.2f}x")


def main():
    for order in "CF":
        run(256, repeat=200, order=order)
        run(1_000_000, repeat=5, order=order)


if __name__ == "__main__":
    main()
