"""NumPy against Dask (1 and 2 workers) for one 3-D operator application and its adjoint.

Two operators on ``n³`` float64 volumes: the 7-point stencil (a Laplacian written with
slices) and an FFT blur (``irfftn(rfftn(x) * H)``). For each: the time of ``A.apply`` and
``A.apply_adjoint`` with NumPy, then on a ``distributed.LocalCluster`` of 1 and 2 worker
processes (one thread each) holding the volume in blocks of ``n/2`` (stencil) or
``n/4``-thick slabs; and the peak memory: NumPy's (``tracemalloc``) and each worker's peak
resident size (and its size when idle, holding its blocks of the volume): the block size
bounds the growth, not the volume size.

Run: ``python benchmarks/bench_dask.py`` (256³ and 512³; 512³ float64 is 1 GiB per volume:
it needs about 8 GiB free) or ``--small`` (64³ and 128³); ``--sizes 256`` picks sizes.
"""
from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

import linop


def stencil(x):
    """The 7-point Laplacian with zero boundaries."""
    y = -6 * x
    y[1:] += x[:-1]
    y[:-1] += x[1:]
    y[:, 1:] += x[:, :-1]
    y[:, :-1] += x[:, 1:]
    y[:, :, 1:] += x[:, :, :-1]
    y[:, :, :-1] += x[:, :, 1:]
    return y


def make_blur(n):
    f, h = np.fft.fftfreq(n), np.fft.rfftfreq(n)
    transfer = np.exp(-20 * (f[:, None, None] ** 2 + f[None, :, None] ** 2 + h ** 2))

    def blur(x):
        return np.fft.irfftn(np.fft.rfftn(x) * transfer, s=x.shape, axes=(0, 1, 2))

    return blur


def _timed(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_numpy(A, x, repeat):
    tracemalloc.start()
    forward = _timed(lambda: A.apply(x), repeat)
    adjoint = _timed(lambda: A.apply_adjoint(x), repeat)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return forward, adjoint, [_gib(peak)]


def _peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_dask(A, n, chunks, workers, repeat):
    import dask.array as da
    import distributed

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  memory_limit=None) as cluster, distributed.Client(cluster) as client:
        x = da.random.default_rng(0).standard_normal((n, n, n), chunks=chunks).persist()
        distributed.wait(x)
        before = client.run(_peak_rss)

        def run(fn):
            y = fn(x).persist()
            distributed.wait(y)
            del y

        run(A.apply)  # the first call ships the constants
        forward = _timed(lambda: run(A.apply), repeat)
        adjoint = _timed(lambda: run(A.apply_adjoint), repeat)
        peaks = client.run(_peak_rss)
    return forward, adjoint, [f"{_gib(peaks[w])} (idle {_gib(before[w])})" for w in peaks]


def _gib(nbytes):
    return f"{nbytes / 2 ** 30:.2f}"


def main(sizes, repeat):
    print(f"{'operator':8} {'n':>4} {'engine':10} {'apply s':>8} {'adjoint s':>9}  peak GiB: "
          "NumPy's allocations; each worker's resident size (idle: with its blocks of x)")
    for n in sizes:
        operators = [("stencil", stencil, (n // 2,) * 3), ("blur", make_blur(n), (n // 4, n, n))]
        for name, fn, chunks in operators:
            A = linop.aslinearoperator(fn, np.zeros((n, n, n)))
            x = np.random.default_rng(0).standard_normal((n, n, n))
            rows = [("numpy", bench_numpy(A, x, repeat))]
            del x
            for workers in (1, 2):
                rows.append((f"dask x{workers}", bench_dask(A, n, chunks, workers, repeat)))
            for engine, (forward, adjoint, peaks) in rows:
                print(f"{name:8} {n:4d} {engine:10} {forward:8.3f} {adjoint:9.3f}  "
                      f"{'  '.join(peaks)}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="64^3 and 128^3")
    parser.add_argument("--sizes", type=int, nargs="*", help="volume sizes n (n^3 voxels)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    main(args.sizes or ([64, 128] if args.small else [256, 512]), args.repeat)
