"""Benchmark: tracing plus transposing a 100-equation program (target: well under 50 ms).

Run: ``python benchmarks/bench_trace.py``
"""
from __future__ import annotations

import statistics
import time

import numpy as np

import linop


def chain(x):
    """50 flips and 50 scalings: a 100-equation program."""
    for _ in range(50):
        x = x[::-1] * 1.01
    return x


def main(repeats: int = 30) -> None:
    """Print the median time of ``linear_transpose`` on :func:`chain`."""
    linop.linear_transpose(chain, np.zeros(8))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f_t = linop.linear_transpose(chain, np.zeros(8))
        times.append(time.perf_counter() - start)
    n = len(f_t.program.eqns) + len(f_t.transposed.eqns)
    print(f"trace + transpose of {len(f_t.program.eqns)} equations ({n} in both programs): "
          f"median {1e3 * statistics.median(times):.2f} ms over {repeats} runs (target < 50 ms)")


if __name__ == "__main__":
    main()
