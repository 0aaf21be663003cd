"""NumPy against Dask (1 and 2 workers) for one 3-D operator application and its adjoint.

Two operators on ``n³`` float64 volumes: the 7-point stencil (a Laplacian written with
slices) and an FFT blur (``irfftn(rfftn(x) * H)``). For each: the time of ``A.apply`` and
``A.apply_adjoint`` with NumPy, then on a ``distributed.LocalCluster`` of 1 and 2 worker
processes (one thread each) holding the volume in blocks of ``chunk³`` (64³ by default,
whatever ``n``); and the peak memory: NumPy's (``tracemalloc``) and, per worker, the peak
of its resident size above its idle size (sampled every 5 ms on the worker) while ``A x``
and ``A^H x`` are computed and reduced to a number, and the peak bytes of the task results
it held meanwhile ("keys": distinct arrays, a result that is a view of another, such as a
block handed on or the slabs cut from it, counting nothing). At a fixed block size the
stencil's working memory should not grow with ``n``: no task holds more than a few blocks,
and a worker is handed a few tasks at a time. The FFT blur's grows with the volume: its
passes along the three axes are transposes of one another, so each worker holds its share
of the spectrum at once (docs/dask.md, *Measured*).

Run: ``python benchmarks/bench_dask.py`` (256³ and 512³; 512³ float64 is 1 GiB per volume:
it needs about 8 GiB free) or ``--small`` (64³ and 128³); ``--sizes 128 256`` picks sizes,
``--workers 2`` the clusters, ``--chunk 32`` the block edge, ``--repeat 1`` the repeats,
``--operators stencil`` the operators.
"""
from __future__ import annotations

import argparse
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


def _start_sampling(dask_worker, interval=0.005):
    """On a worker: sample its resident size every ``interval`` seconds until stopped."""
    import threading

    import psutil

    process, state = psutil.Process(), {"peak": 0, "keys": 0, "run": True}
    idle_keys = _held_bytes(dask_worker)

    def sample():
        while state["run"]:
            state["peak"] = max(state["peak"], process.memory_info().rss)
            state["keys"] = max(state["keys"], _held_bytes(dask_worker) - idle_keys)
            time.sleep(interval)

    state["thread"] = threading.Thread(target=sample, daemon=True)
    state["thread"].start()
    dask_worker.linop_memory_sampler = state
    return process.memory_info().rss


def _held_bytes(dask_worker):
    """The bytes of the distinct arrays behind the task results a worker holds: a result
    that is a view of another (a block handed on under another key, the slabs cut from a
    block) adds nothing, unlike in ``distributed``'s own count (``state.nbytes``)."""
    while True:
        try:
            values = list(getattr(dask_worker.data, "fast", dask_worker.data).values())
            break
        except RuntimeError:  # the worker's thread changed the data meanwhile
            continue
    seen, total = set(), 0
    for value in values:
        for array in value if isinstance(value, tuple) else (value,):
            while isinstance(getattr(array, "base", None), np.ndarray):
                array = array.base
            if isinstance(array, np.ndarray) and id(array) not in seen:
                seen.add(id(array))
                total += array.nbytes
    return total


def _stop_sampling(dask_worker):
    """On a worker: stop the sampler; its peak resident size, and the peak bytes of the
    task results it held beyond those held when sampling started."""
    state = dask_worker.linop_memory_sampler
    state["run"] = False
    state["thread"].join()
    return state["peak"], state["keys"]


def _drop_replicas(client, wait=0.5):
    """Have ``distributed`` drop the copies of blocks that workers fetched from others (its
    active memory manager does so every 2 s): idle sizes are then those of each worker's
    own blocks, and copies fetched while ``A x`` is computed count as its working memory."""
    client.amm.run_once()
    time.sleep(wait)


def bench_dask(A, n, chunks, workers, repeat):
    """Time per apply/adjoint (results persisted, as a solver keeps them) and, per worker,
    the peak resident size above its idle size while the blocks of ``A x`` are computed and
    reduced (no result kept: the working memory of the operator itself)."""
    import dask.array as da
    import distributed

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  memory_limit=None) as cluster, distributed.Client(cluster) as client:
        x = da.random.default_rng(0).standard_normal((n, n, n), chunks=chunks).persist()
        distributed.wait(x)

        def run(fn):
            y = fn(x).persist()
            distributed.wait(y)
            del y

        run(A.apply)  # the first call ships the constants
        forward = _timed(lambda: run(A.apply), repeat)
        adjoint = _timed(lambda: run(A.apply_adjoint), repeat)
        working, keys = {}, {}
        for fn in (A.apply, A.apply_adjoint):
            _drop_replicas(client)
            idle = client.run(_start_sampling)
            fn(x).sum().compute()
            peaks = client.run(_stop_sampling)
            for w, (rss, results) in peaks.items():
                working[w] = max(working.get(w, 0), rss - idle[w])
                keys[w] = max(keys.get(w, 0), results)
        held = client.run(lambda dask_worker: sum(
            getattr(v, "nbytes", 0) for v in dask_worker.data.values()))
    return forward, adjoint, [f"{_gib(working[w])} (keys {_gib(keys[w])}, holds {_gib(held[w])})"
                              for w in working]


def _gib(nbytes):
    return f"{nbytes / 2 ** 30:.2f}"


def main(sizes, repeat, chunk, worker_counts, operators=("stencil", "blur")):
    print(f"{'operator':8} {'n':>4} {'engine':10} {'apply s':>8} {'adjoint s':>9}  peak GiB: "
          "NumPy's allocations; per worker, the peak resident size above idle while A x and "
          f"A^H x are computed (blocks of {chunk}^3; keys: the peak bytes of task results it "
          "held meanwhile beyond x's, views counted once; holds: what it holds afterwards, "
          "its blocks of x)")
    for n in sizes:
        chunks = (min(chunk, n),) * 3
        for name, fn in [("stencil", stencil), ("blur", make_blur(n))]:
            if name not in operators:
                continue
            A = linop.aslinearoperator(fn, np.zeros((n, n, n)))
            x = np.random.default_rng(0).standard_normal((n, n, n))
            rows = [("numpy", bench_numpy(A, x, repeat))]
            del x
            for workers in worker_counts:
                rows.append((f"dask x{workers}", bench_dask(A, n, chunks, workers, repeat)))
            for engine, (forward, adjoint, peaks) in rows:
                print(f"{name:8} {n:4d} {engine:10} {forward:8.3f} {adjoint:9.3f}  "
                      f"{'  '.join(peaks)}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="64^3 and 128^3")
    parser.add_argument("--sizes", type=int, nargs="*", help="volume sizes n (n^3 voxels)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=64, help="block edge (blocks of chunk^3)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2],
                        help="worker process counts")
    parser.add_argument("--operators", nargs="*", choices=["stencil", "blur"],
                        default=["stencil", "blur"], help="the operators to run")
    args = parser.parse_args()
    main(args.sizes or ([64, 128] if args.small else [256, 512]), args.repeat, args.chunk,
         args.workers, args.operators)
