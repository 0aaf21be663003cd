"""``matmat`` with 16 columns against 16 ``matvec`` calls, swept over operator sizes.

For the operators of ``benchmarks/suite.py`` (dense, 1-D derivative, 2-D Laplacian,
3-D 7-point stencil, FFT blur, gather, multi-coil MRI, cumsum, the 16-element chain,
the tomography rotate model, the row-loop model) at sizes from a few hundred elements
up to the suite's ``--small`` sizes, and for each executor (NumPy, and fused when numba
is installed), it prints the time of 16 ``A.matvec(x)`` calls on 16 contiguous vectors
(the loop's best case: a column ``X[:, j]`` of a C-ordered ``X`` is strided, which the
fused executor copies) and of one ``A.matmat(X)`` on the same columns, ``X`` C-ordered
and F-ordered, and their ratios (``--adjoint``: ``rmatvec`` and ``rmatmat``). The last
lines say, per operator and executor, the sizes at which ``matmat`` is at least 4x
faster than the 16 calls.

A fused call costs a microsecond or two of overhead, and 16 columns of a memory-bound
operator leave the caches where one vector stays in them: ``matmat`` gains most where
the per-call overhead is a large part of a call, at small sizes. Where a call's work is a
library call (the MRI operator's FFTs), ``matmat`` gains at most what one batched library
call saves over 16 small ones (``scipy.fft``'s own overhead per call), which shrinks fast
as the images grow: there only the smallest sizes reach 4x.

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/bench_matmat.py`` (``--only NAME`` for
some operators, ``--executor numpy`` for one executor).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402  (the operators and the timer of the benchmark suite)

import linop  # noqa: E402
import linop.scipy.ndimage as lnd  # noqa: E402
from linop.fused import numba_installed  # noqa: E402

K = 16
TARGET = 4.0


def _dense(n, rng):
    matrix = rng.standard_normal((n, n))
    return lambda x: matrix @ x, np.zeros(n)


def _blur(n, rng):
    kernel = np.fft.rfft2(np.exp(-np.add.outer(np.arange(n) ** 2, np.arange(n) ** 2) / 8.0))
    return lambda x: np.fft.irfft2(np.fft.rfft2(x) * kernel, s=x.shape), np.zeros((n, n))


def _gather(n, rng):
    idx = rng.integers(0, n, size=3 * n // 10)
    return lambda x: x[idx], np.zeros(n)


def _mri(n, rng):
    sens = (rng.standard_normal((4, n, n)) + 1j * rng.standard_normal((4, n, n))) / 4
    mask = rng.random((n, n)) < 0.3
    return lambda x: np.fft.fft2(sens * x, norm="ortho") * mask, np.zeros((n, n), complex)


def _tomography(n, rng):
    angles = np.linspace(0.0, 180.0, 4, endpoint=False)
    return (lambda x: np.stack([lnd.rotate(x, a, reshape=False, order=1).sum(axis=0)
                                for a in angles]), np.zeros((n, n)))


def _of(fun, shape):
    return lambda n, rng: (fun, np.zeros(shape(n)))


#: (name, operator factory ``(size, rng) -> (function, example input)``, sizes): the last
#: size is the one ``suite.py --small`` runs.
OPERATORS = [
    ("dense A@x n", _dense, (16, 32, 64, 128, 300)),
    ("1-D derivative n", _of(suite.derivative, lambda n: n), (256, 1024, 4096, 10_000)),
    ("2-D Laplacian n^2", _of(suite.laplacian, lambda n: (n, n)), (16, 32, 64, 100)),
    ("3-D 7-point n^3", _of(suite.stencil3, lambda n: (n, n, n)), (6, 10, 16, 24)),
    ("FFT blur n^2", _blur, (16, 32, 64, 128)),
    ("gather x[idx] n", _gather, (256, 1024, 4096, 10_000)),
    ("MRI 4 coils n^2", _mri, (8, 16, 32, 64)),
    ("cumsum n", _of(suite.cumsum, lambda n: n), (256, 1024, 4096, 10_000)),
    ("16-element 30-op chain", _of(suite.chain16, lambda n: n), (16,)),
    ("tomography rotate n^2", _tomography, (16, 32)),
    ("row loop n^2", _of(suite.row_loop, lambda n: (n, n)), (16, 32, 64)),
]


def measure(fun, x0, executor, adjoint, budget):
    """Seconds of 16 single calls and of ``matmat`` on C- and F-ordered columns."""
    A = linop.aslinearoperator(fun, x0, executor=executor)
    one, many = (A.rmatvec, A.rmatmat) if adjoint else (A.matvec, A.matmat)
    rows = A.shape[0] if adjoint else A.shape[1]
    rng = np.random.default_rng(1)
    X = rng.standard_normal((rows, K))
    if A.dtype.kind == "c":
        X = X + 1j * rng.standard_normal((rows, K))
    X = X.astype(A.dtype)
    XF = np.asfortranarray(X)
    vectors = [np.ascontiguousarray(X[:, j]) for j in range(K)]
    loop = lambda: [one(x) for x in vectors]  # noqa: E731
    want = np.stack(loop(), axis=1)
    scale = max(np.linalg.norm(want), 1e-300)
    for Y in (many(X), many(XF)):  # the same columns as the loop, to rounding
        assert np.linalg.norm(Y - want) <= 1e-10 * scale, "matmat differs from the loop"
    return [suite.best_time(f, budget=budget) for f in (loop, lambda: many(X), lambda: many(XF))]


def run(only, executors, adjoint, budget) -> list:
    results = []
    rng = np.random.default_rng(0)
    for name, make, sizes in OPERATORS:
        if only and not any(o.lower() in name.lower() for o in only):
            continue
        for n in sizes:
            fun, x0 = make(n, rng)
            for executor in executors:
                loop, c, f = measure(fun, x0, executor, adjoint, budget)
                results.append(dict(name=name, n=n, executor=executor, c=loop / c, f=loop / f))
                print(f"{name:<24} n={n:>6} {executor:<6} 16 calls {loop * 1e3:8.3f} ms | "
                      f"matmat C {c * 1e3:8.3f} ms {loop / c:5.1f}x | F {f * 1e3:8.3f} ms "
                      f"{loop / f:5.1f}x", flush=True)
    return results


def reached(results) -> None:
    """Per operator and executor, the sizes where matmat (C-ordered X) is >= TARGET x faster."""
    print(f"\nsizes where matmat16 (C-ordered X) is >= {TARGET:.0f}x faster than 16 calls:")
    keys = dict.fromkeys((r["name"], r["executor"]) for r in results)
    for name, executor in keys:
        rows = [r for r in results if (r["name"], r["executor"]) == (name, executor)]
        good = [str(r["n"]) for r in rows if r["c"] >= TARGET]
        ratios = " ".join(f"{r['n']}:{r['c']:.1f}x" for r in rows)
        print(f"  {name:<24} {executor:<6} {', '.join(good) or 'none':<18} ({ratios})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="operators whose name contains one of these")
    parser.add_argument("--executor", choices=("numpy", "numba"), action="append",
                        help="the executors to run (default: numpy, and numba when installed)")
    parser.add_argument("--adjoint", action="store_true", help="rmatvec and rmatmat instead")
    parser.add_argument("--budget", type=float, default=0.15,
                        help="seconds spent timing each measurement")
    args = parser.parse_args(argv)
    executors = args.executor or (["numpy", "numba"] if numba_installed() else ["numpy"])
    reached(run(args.only, executors, args.adjoint, args.budget))


if __name__ == "__main__":
    main()
