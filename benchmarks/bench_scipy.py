"""Benchmark: linop.scipy operators (forward and adjoint programs) against calling SciPy directly.

Run: ``python benchmarks/bench_scipy.py``

For each operator it prints the median time of SciPy's own forward call, of the
traced forward Program and of the transposed (adjoint) Program on the same
input, plus the one-off trace + transpose time.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import scipy.ndimage as sn
import scipy.signal as ss
import scipy.sparse as sp

import linop
from linop.scipy import ndimage as ln, signal as ls

rng = np.random.default_rng(0)
IMG = rng.standard_normal((256, 256))
SIG = rng.standard_normal(100_000)
S = sp.random(20_000, 20_000, density=5e-4, random_state=1, format="csr")
K5 = rng.standard_normal((5, 5))
B, A = ss.butter(4, 0.2)
SOS = ss.butter(8, 0.2, output="sos")

CASES = [
    ("sparse S @ x (20k x 20k, nnz 200k)", lambda x: S @ x, lambda x: S @ x, rng.standard_normal(20_000)),
    ("signal.convolve2d 256^2 * 5x5 same symm", lambda x: ls.convolve2d(x, K5, "same", "symm"),
     lambda x: ss.convolve2d(x, K5, "same", "symm"), IMG),
    ("signal.fftconvolve 256^2 * 64^2 same", lambda x: ls.fftconvolve(x, IMG[:64, :64], "same"),
     lambda x: ss.fftconvolve(x, IMG[:64, :64], "same"), IMG),
    ("signal.lfilter 1e5 (butter 4)", lambda x: ls.lfilter(B, A, x), lambda x: ss.lfilter(B, A, x), SIG),
    ("signal.sosfilt 1e5 (butter 8)", lambda x: ls.sosfilt(SOS, x), lambda x: ss.sosfilt(SOS, x), SIG),
    ("ndimage.gaussian_filter 256^2 sigma 2", lambda x: ln.gaussian_filter(x, 2.0),
     lambda x: sn.gaussian_filter(x, 2.0), IMG),
    ("ndimage.correlate 256^2 * 5x5 reflect", lambda x: ln.correlate(x, K5),
     lambda x: sn.correlate(x, K5), IMG),
    ("ndimage.rotate 256^2 30deg order 1", lambda x: ln.rotate(x, 30.0, order=1),
     lambda x: sn.rotate(x, 30.0, order=1), IMG),
    ("ndimage.zoom 256^2 x1.5 order 1", lambda x: ln.zoom(x, 1.5, order=1),
     lambda x: sn.zoom(x, 1.5, order=1), IMG),
    ("ndimage.map_coordinates 256^2 order 1",
     lambda x: ln.map_coordinates(x, COORDS, order=1, mode="reflect"),
     lambda x: sn.map_coordinates(x, COORDS, order=1, mode="reflect"), IMG),
]
COORDS = rng.uniform(-10, 266, size=(2, 256, 256))


def _median(fn, arg, repeats):
    fn(arg)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(repeats: int = 7) -> None:
    """Print one line per operator: SciPy, forward Program, adjoint Program, trace+transpose (ms)."""
    print(f"{'operator':44s} {'scipy':>8s} {'forward':>8s} {'adjoint':>8s} {'trace+T':>8s}   (ms, median)")
    for name, ours, theirs, x in CASES:
        start = time.perf_counter()
        forward = linop.trace(ours, x)
        adjoint = linop.transpose(forward)
        setup = 1e3 * (time.perf_counter() - start)
        y = forward(x)
        print(f"{name:44s} {_median(theirs, x, repeats):8.2f} {_median(forward, x, repeats):8.2f} "
              f"{_median(adjoint, y, repeats):8.2f} {setup:8.1f}")


if __name__ == "__main__":
    main()
