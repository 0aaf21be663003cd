"""Benchmark: tracing a tomography model of ``rotate`` calls vs evaluating it with SciPy.

The model projects a ``n × n`` image at ``angles`` angles:
``np.stack([rotate(img, a, reshape=False, order=k).sum(axis=0) for a in angles])``.
For spline orders 1 and 3, side by side in one run:

* plain SciPy: time and peak memory of one evaluation;
* linop: time and peak memory of ``linop.trace`` of the same model, and the size of
  the interpolation matrices it holds (their ``data``, ``indices`` and ``indptr``);
* the traced operator's ``matvec``/``rmatvec`` time against one plain evaluation.

Times are the best of several runs, plain and traced alternating, as wall-clock time
and as this process's CPU time (``time.process_time``, which a machine shared with
other work disturbs less). Peak memory is the growth of the process's peak resident
memory (Linux: ``/proc/self/clear_refs`` resets it), since large snapshots live in
memory maps that ``tracemalloc`` does not see; elsewhere ``tracemalloc``'s peak.

The matrices are built by the numba kernel where numba is installed, else (or with
``--numpy``) by NumPy. The first trace in a process also pays one-off costs (imports
such as ``scipy.signal`` and numba itself, the kernel loaded from numba's disk cache or,
on a machine's first run, compiled, which takes a minute; caches): a warm-up trace takes
them, and they are reported apart.

Targets: trace time ≤ 2 × one plain evaluation, trace peak memory ≤ 2 × the
interpolation matrices' size.

Run: ``python benchmarks/bench_ndimage_trace.py`` (256², 180 angles; order 3 holds about
2 GB of matrices) or ``--small`` (64², 30 angles); ``--numpy`` builds the matrices
without numba.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import os
import sys
import time
import tracemalloc

import numpy as np
import scipy.ndimage as sn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import linop  # noqa: E402
from linop.primitives.sparse_matmul import SparseConst  # noqa: E402
from linop.scipy import ndimage as ln  # noqa: E402
from linop.scipy._interp import NUMBA_ENV, numba_kernels  # noqa: E402


def model(ndimage, angles, order):
    """The projection model with ``ndimage`` (``scipy.ndimage`` or ``linop.scipy.ndimage``)."""
    def project(img):
        return np.stack([ndimage.rotate(img, a, reshape=False, order=order).sum(axis=0)
                         for a in angles])
    return project


def timed(fn, repeats):
    """``(best wall seconds, best CPU seconds, last result)`` of ``repeats`` calls of ``fn()``."""
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        out = None
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, out


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _release_free_memory():
    """Hand freed heap memory back to the system, so that reusing it does not hide growth."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


def peak_bytes(fn):
    """Peak memory growth while ``fn()`` runs, and how it was measured: resident memory,
    or ``tracemalloc`` where the peak cannot be reset. The result is dropped."""
    _release_free_memory()
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # resets the peak resident size to the current one
        before = _status_bytes("VmRSS")
    except OSError:
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1], "tracemalloc"
        finally:
            tracemalloc.stop()
    fn()
    return _status_bytes("VmHWM") - before, "RSS"


def matrix_bytes(program) -> int:
    """Bytes of the distinct sparse matrices held by ``program``'s equations."""
    seen, total = set(), 0
    for eqn in program.eqns:
        for value in eqn.params.values():
            if isinstance(value, SparseConst):
                for a in (value.value.data, value.value.indices, value.value.indptr):
                    if id(a) not in seen:
                        seen.add(id(a))
                        total += a.nbytes
    return total


def run(n, n_angles, order, repeats):
    """Measure one configuration; returns a dict of results."""
    angles = np.linspace(0.0, 180.0, n_angles, endpoint=False)
    img = np.random.default_rng(0).standard_normal((n, n))
    plain = model(sn, angles, order)
    traced = model(ln, angles, order)
    spec = linop.ShapeDtype((n, n), np.float64)
    t_plain = c_plain = t_trace = c_trace = float("inf")
    for _ in range(repeats):  # alternating, so that both see the same load
        wall, cpu, expected = timed(lambda: plain(img), 1)
        t_plain, c_plain = min(t_plain, wall), min(c_plain, cpu)
        wall, cpu, program = timed(lambda: linop.trace(traced, spec), 1)
        t_trace, c_trace = min(t_trace, wall), min(c_trace, cpu)
        sizes = matrix_bytes(program)
        del program
    m_plain, how = peak_bytes(lambda: plain(img))
    m_trace, how = peak_bytes(lambda: linop.trace(traced, spec))
    A = linop.aslinearoperator(traced, spec)
    y = np.random.default_rng(1).standard_normal(A.shape[0])
    t_matvec, _, got = timed(lambda: A.matvec(img.ravel()), repeats)
    t_rmatvec, _, _ = timed(lambda: A.rmatvec(y), repeats)
    error = np.abs(got - expected.ravel()).max() / np.abs(expected).max()
    return dict(order=order, how=how, t_plain=t_plain, c_plain=c_plain, m_plain=m_plain, t_trace=t_trace,
                c_trace=c_trace, m_trace=m_trace, sizes=sizes, t_matvec=t_matvec,
                t_rmatvec=t_rmatvec, error=error)


def report(n, n_angles, r):
    mb = 2.0 ** 20
    print(f"order {r['order']}, {n_angles} rotations of {n}x{n}:")
    print(f"  plain SciPy evaluation   {r['t_plain']:8.3f} s   (CPU {r['c_plain']:.3f} s)"
          f"   peak {r['m_plain'] / mb:8.1f} MB ({r['how']})")
    print(f"  linop.trace              {r['t_trace']:8.3f} s   (CPU {r['c_trace']:.3f} s)"
          f"   peak {r['m_trace'] / mb:8.1f} MB   (matrices {r['sizes'] / mb:.1f} MB)")
    print(f"  trace / plain time       {r['t_trace'] / r['t_plain']:8.2f}     (target <= 2; "
          f"CPU time {r['c_trace'] / r['c_plain']:.2f})")
    print(f"  trace peak / matrices    {r['m_trace'] / r['sizes']:8.2f}     (target <= 2)")
    print(f"  matvec  / plain time     {r['t_matvec'] / r['t_plain']:8.2f}     "
          f"({r['t_matvec']:.3f} s; rmatvec {r['t_rmatvec']:.3f} s, "
          f"{r['t_rmatvec'] / r['t_plain']:.2f} x plain)")
    print(f"  max relative difference to SciPy {r['error']:.1e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="64x64 image, 30 angles")
    parser.add_argument("--orders", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--repeats", type=int, default=None, help="runs per measurement")
    parser.add_argument("--numpy", action="store_true",
                        help="build the interpolation matrices with NumPy, not the numba kernel")
    args = parser.parse_args(argv)
    if args.numpy:
        os.environ[NUMBA_ENV] = "0"
    n, n_angles, repeats = (64, 30, 3) if args.small else (256, 180, 3)
    repeats = args.repeats or repeats
    warm_up = model(ln, [10.0], 3)
    first, _, _ = timed(lambda: linop.trace(warm_up, linop.ShapeDtype((8, 8), np.float64)), 1)
    again, _, _ = timed(lambda: linop.trace(warm_up, linop.ShapeDtype((8, 8), np.float64)), 1)
    builder = "the numba kernel" if numba_kernels() is not None else "NumPy"
    print(f"interpolation matrices built by {builder}")
    print(f"one-off cost of the first trace in this process (imports, the numba kernel loaded "
          f"or compiled, caches): {first - again:.3f} s (not counted below)")
    for order in args.orders:
        report(n, n_angles, run(n, n_angles, order, repeats))


if __name__ == "__main__":
    main()
