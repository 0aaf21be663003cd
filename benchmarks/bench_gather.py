"""Transpose of ``x[idx]`` (a scatter-add) against ``np.bincount``, timed side by side.

3e5 random indices (with repeats) into 1e6 float64 elements. Both sides are
timed alternately in one run; the median of the repeats is reported, with the
ratio linop / bincount (target: within 1.2x).

Run: ``python benchmarks/bench_gather.py``
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import linop  # noqa: E402

N, M, REPEATS = 1_000_000, 300_000, 101


def main():
    rng = np.random.default_rng(0)
    idx = rng.integers(0, N, M)
    y = rng.standard_normal(M)

    f_t = linop.linear_transpose(lambda x: x[idx], linop.ShapeDtype((N,), np.float64))
    print(f_t.transposed)
    program = f_t.transposed

    def via_linop():
        return program.call_flat([y])[0]

    def via_linear_transpose():
        return f_t(y)[0]

    def via_bincount():
        return np.bincount(idx, y, minlength=N)

    want = via_bincount()
    assert np.allclose(via_linop(), want) and np.allclose(via_linear_transpose(), want)

    funcs = {"bincount": via_bincount, "linop program": via_linop,
             "linear_transpose call": via_linear_transpose}
    times = {name: [] for name in funcs}
    order = list(funcs)
    for _ in range(REPEATS):
        rng.shuffle(order)  # no side always runs right after another (cache and allocator)
        for name in order:
            fun = funcs[name]
            start = time.perf_counter()
            fun()
            times[name].append(time.perf_counter() - start)
    base = np.median(times["bincount"])
    print(f"scatter-add of {M:.0e} values into {N:.0e} float64 slots, median of {REPEATS}:")
    for name, ts in times.items():
        med = np.median(ts)
        print(f"  {name:<22} {1e3 * med:8.3f} ms   ratio {med / base:5.2f}x")


if __name__ == "__main__":
    main()
