"""In-place writes: a row-loop model and an in-place Laplacian against plain NumPy, side by side.

Two models written the way NumPy users write them, with ``y[...] = ...`` into
``np.zeros_like(x)``:

* **row loop** (256×256): ``y[i] = 2 x[i] - (x[i-1] + x[i+1]) / 2`` in a Python loop over
  the rows, a chain of one slice update per row (which the NumPy executor re-rolls,
  :mod:`linop.reroll`, into one write of strided slices: the vectorised form's time and
  temporaries, about three arrays at the peak);
* **Laplacian** (2000×2000): ``y[1:-1, 1:-1] = x[:-2, 1:-1] + ... - 4 x[1:-1, 1:-1]``;
* **accumulated Laplacian** (2000×2000): the same as ``y[1:-1, 1:-1] = -4 x[1:-1, 1:-1]``
  followed by four ``y[1:-1, 1:-1] += ...`` (a chain of writes into one slice).

For each, the operator's ``matvec`` and ``rmatvec`` (NumPy executor) are timed alternately
with the plain function and a hand-written adjoint in one run (best of the repeats,
shuffled order), and the peak memory of one call (``tracemalloc``, inputs allocated
beforehand) is reported in arrays of the model's size. Targets: row-loop ``matvec`` within
1.5x of the plain function; peak memory of the Laplacian at most NumPy's plus one array.

Run: ``python benchmarks/bench_inplace.py [--small]`` (``--small``: 64×64 and 200×200,
a few repeats; a check that the script runs). ``PYTHONPATH=<other checkout>`` measures
another version of linop (the repository root is only a fallback on ``sys.path``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import linop  # noqa: E402


def row_loop(x):
    """Each row a combination of its neighbours, one ``y[i] = ...`` per row."""
    y = np.zeros_like(x)
    y[0] = x[0] - x[1]
    for i in range(1, x.shape[0] - 1):
        y[i] = 2.0 * x[i] - 0.5 * (x[i - 1] + x[i + 1])
    y[-1] = x[-1] - x[-2]
    return y


def row_loop_adjoint(y):
    """The adjoint of :func:`row_loop`, written by hand with the same row loop."""
    x = np.zeros_like(y)
    x[0] += y[0]
    x[1] -= y[0]
    for i in range(1, y.shape[0] - 1):
        x[i] += 2.0 * y[i]
        x[i - 1] -= 0.5 * y[i]
        x[i + 1] -= 0.5 * y[i]
    x[-1] += y[-1]
    x[-2] -= y[-1]
    return x


def laplacian(x):
    """The 5-point Laplacian of the interior, written into zeros."""
    y = np.zeros_like(x)
    y[1:-1, 1:-1] = (x[:-2, 1:-1] + x[2:, 1:-1] + x[1:-1, :-2] + x[1:-1, 2:]
                     - 4.0 * x[1:-1, 1:-1])
    return y


def accumulated_laplacian(x):
    """:func:`laplacian` as a chain of accumulations into the interior."""
    y = np.zeros_like(x)
    y[1:-1, 1:-1] = -4.0 * x[1:-1, 1:-1]
    y[1:-1, 1:-1] += x[:-2, 1:-1]
    y[1:-1, 1:-1] += x[2:, 1:-1]
    y[1:-1, 1:-1] += x[1:-1, :-2]
    y[1:-1, 1:-1] += x[1:-1, 2:]
    return y


def laplacian_adjoint(y):
    """The adjoint of :func:`laplacian`, written by hand."""
    x = np.zeros_like(y)
    c = y[1:-1, 1:-1]
    x[:-2, 1:-1] += c
    x[2:, 1:-1] += c
    x[1:-1, :-2] += c
    x[1:-1, 2:] += c
    x[1:-1, 1:-1] -= 4.0 * c
    return x


def operator(fun, n):
    """The operator of ``fun`` on ``n×n`` float64 arrays, run by the NumPy executor."""
    try:
        return linop.aslinearoperator(fun, np.zeros((n, n)), executor="numpy")
    except TypeError:  # a version of linop from before the executor option
        return linop.aslinearoperator(fun, np.zeros((n, n)))


def best_times(funcs: dict, repeats: int, rng) -> dict:
    """Best wall time of each zero-argument function, run alternately in shuffled order."""
    times = {name: float("inf") for name in funcs}
    order = list(funcs)
    for _ in range(repeats):
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            funcs[name]()
            times[name] = min(times[name], time.perf_counter() - start)
    return times


def peak_bytes(fun) -> int:
    """Peak memory traced while ``fun()`` runs, beyond what was allocated before."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fun()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def compare(title, fun, adjoint, n, repeats, rng):
    """Time and memory of one model: linop's matvec/rmatvec against ``fun``/``adjoint``."""
    A = operator(fun, n)
    x, y = rng.standard_normal(n * n), rng.standard_normal(n * n)
    X, Y = x.reshape(n, n), y.reshape(n, n)
    assert np.allclose(A.matvec(x), fun(X).ravel())
    assert np.allclose(A.rmatvec(y), adjoint(Y).ravel())
    calls = {"numpy forward": lambda: fun(X), "numpy adjoint": lambda: adjoint(Y),
             "linop matvec": lambda: A.matvec(x), "linop rmatvec": lambda: A.rmatvec(y)}
    times = best_times(calls, repeats, rng)
    array = n * n * 8
    peaks = {name: peak_bytes(call) / array for name, call in calls.items()}
    print(f"{title} {n}x{n} ({len(A.flat_program.eqns)} equations forward, "
          f"{len(A.adjoint_program.eqns)} adjoint), best of {repeats}:")
    for name in calls:
        print(f"  {name:<14} {1e3 * times[name]:9.3f} ms   peak {peaks[name]:5.2f} arrays")
    print(f"  ratios: matvec / forward {times['linop matvec'] / times['numpy forward']:5.2f}x, "
          f"rmatvec / adjoint {times['linop rmatvec'] / times['numpy adjoint']:5.2f}x, "
          f"rmatvec / forward {times['linop rmatvec'] / times['numpy forward']:5.2f}x")
    print(f"  peak memory: matvec {peaks['linop matvec']:.2f} vs {peaks['numpy forward']:.2f} "
          f"arrays, rmatvec {peaks['linop rmatvec']:.2f} vs {peaks['numpy adjoint']:.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows_n, lap_n, repeats = (64, 200, 3) if args.small else (256, 2000, 15)
    print(f"linop from {os.path.dirname(linop.__file__)}")
    compare("row loop", row_loop, row_loop_adjoint, rows_n, repeats, rng)
    compare("Laplacian", laplacian, laplacian_adjoint, lap_n, repeats, rng)
    compare("accumulated Laplacian", accumulated_laplacian, laplacian_adjoint, lap_n, repeats, rng)


if __name__ == "__main__":
    main()
