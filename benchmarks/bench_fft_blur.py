"""Transpose of a 1024x1024 FFT blur: linop's derived adjoint vs the hand-written one.

The forward model is ``irfft2(rfft2(x) * K, s=x.shape)``. Its transpose, derived
by ``linop.linear_transpose``, is compared with the hand-written
``irfft2(rfft2(y) * conj(K), s=y.shape)``; both are timed side by side
(interleaved, several repeats) and the ratio of the medians is printed. The
target is a ratio of at most 1.1.

linop runs its FFTs with ``scipy.fft``; the hand-written baseline is timed
both with ``numpy.fft`` (what a user would write) and with ``scipy.fft`` (the
same FFT library, which isolates linop's own overhead).

Run: ``python benchmarks/bench_fft_blur.py [--size N] [--repeats R]``
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.fft as sfft

import linop


def make_problem(size: int, seed: int = 0):
    """A Gaussian blur kernel's transfer function and a random image of ``size x size``."""
    rng = np.random.default_rng(seed)
    u = np.fft.fftfreq(size)
    psf = np.exp(-(u[:, None] ** 2 + u[None, :] ** 2) * size ** 2 / 8.0)
    K = np.fft.rfft2(psf / psf.sum())
    return K, rng.standard_normal((size, size))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    K, y = make_problem(args.size)
    shape = y.shape

    def blur(x):
        return np.fft.irfft2(np.fft.rfft2(x) * K, s=x.shape)

    blur_t = linop.linear_transpose(blur, np.zeros(shape))
    print("transposed program:")
    print(blur_t.transposed)

    def derived():
        return blur_t(y)[0]

    def by_hand_numpy():
        return np.fft.irfft2(np.fft.rfft2(y) * np.conj(K), s=shape)

    def by_hand_scipy():
        return sfft.irfft2(sfft.rfft2(y) * np.conj(K), s=shape)

    want = by_hand_numpy()
    err = np.linalg.norm(derived() - want) / np.linalg.norm(want)
    print(f"relative difference derived vs hand-written: {err:.2e}")

    candidates = {"linop transpose": derived, "hand-written (numpy.fft)": by_hand_numpy,
                  "hand-written (scipy.fft)": by_hand_scipy}
    times = {name: [] for name in candidates}
    for fn in candidates.values():  # warm-up (plans, caches)
        fn()
    for _ in range(args.repeats):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {name: float(np.median(t)) for name, t in times.items()}
    for name, t in med.items():
        print(f"{name:28s} median {t * 1e3:8.2f} ms over {args.repeats} repeats")
    ratio = med["linop transpose"] / med["hand-written (numpy.fft)"]
    same_lib = med["linop transpose"] / med["hand-written (scipy.fft)"]
    print(f"ratio linop / hand-written (numpy.fft): {ratio:.3f}  (target <= 1.1)")
    print(f"ratio linop / hand-written (scipy.fft, same FFT library): {same_lib:.3f}")


if __name__ == "__main__":
    main()
