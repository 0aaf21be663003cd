r"""
Coming from PyLops
==================

`PyLops <https://pylops.readthedocs.io>`_ builds linear operators from classes, each with a
hand-written ``_matvec`` and ``_rmatvec``. linop derives the same operator, adjoint included,
from the NumPy (or SciPy) code of the forward model. This tutorial writes one problem both
ways: a blurred image of which only 30% of the pixels were recorded, recovered with a
Laplacian penalty,

.. math::

    \min_x \; \|R\, C x - d\|^2 + \lambda^2 \|\Delta x\|^2 ,

(``C`` a 2-D convolution, ``R`` the pixel selection, ``Δ`` the Laplacian), compares results and
timings side by side, and mixes PyLops operators into linop blocks and traced functions.
Without PyLops installed the PyLops parts are skipped (with a note) and linop solves alone.

Run ``python tutorials/from_pylops.py`` (``--small``, or ``LINOP_TUTORIAL_SMALL=1``, for a
quick run).
"""
import argparse
import os
import sys
import time

import numpy as np

import linop
from linop import solvers
from linop.scipy import signal

parser = argparse.ArgumentParser(description="Coming from PyLops")
parser.add_argument("--small", action="store_true", help="a 40x40 image (for tests)")
SMALL = parser.parse_args().small or os.environ.get("LINOP_TUTORIAL_SMALL") == "1"

try:
    import matplotlib
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    print("matplotlib is not installed: the figures are skipped")

try:
    import pylops
except ImportError:
    pylops = None
    print("PyLops is not installed (pip install pylops): its side of the comparison is skipped")

# %%
# The data
# --------
# A smooth image with a few sharp features, blurred by a 5x5 Hann kernel; 30% of its pixels,
# with noise.

n = 40 if SMALL else 160
rng = np.random.default_rng(6)
y, x = np.mgrid[0:1:n * 1j, 0:1:n * 1j]
truth = np.sin(3 * np.pi * x) * np.cos(2 * np.pi * y) + 1.5 * np.exp(-((x - 0.6) ** 2 + (y - 0.3) ** 2) / 0.01)
kernel = np.outer(np.hanning(7)[1:-1], np.hanning(7)[1:-1])
kernel /= kernel.sum()
observed = np.sort(rng.choice(n * n, size=int(0.3 * n * n), replace=False))
lam = 0.3

# %%
# The linop way: the forward model in NumPy
# -----------------------------------------
# ``fftconvolve(..., mode="same")`` with zero boundaries (through ``linop.scipy.signal``, which
# accepts traced arrays), then the recorded pixels; the Laplacian as differences of slices.
# ``aslinearoperator`` traces each function once; ``linop.vstack`` stacks them into one
# traced operator, and ``linop.solvers.lsqr`` (SciPy's LSQR, step for step) solves.


def blur_and_sample(image):
    return signal.fftconvolve(image, kernel, mode="same").ravel()[observed]


def laplacian(u):
    """Second differences along both axes, zero on the rows/columns at the edges (PyLops'
    ``Laplacian(edge=False)``)."""
    out = np.zeros_like(u)
    out[1:-1, :] += u[2:, :] - 2 * u[1:-1, :] + u[:-2, :]
    out[:, 1:-1] += u[:, 2:] - 2 * u[:, 1:-1] + u[:, :-2]
    return out


A = linop.aslinearoperator(blur_and_sample, np.zeros((n, n)))
Lap = linop.aslinearoperator(laplacian, np.zeros((n, n)))
data = blur_and_sample(truth) + 0.02 * rng.standard_normal(observed.size)
print(f"{n}x{n} image, {observed.size} recorded pixels; dot tests: A {linop.dottest(A):.1e}, "
      f"Laplacian {linop.dottest(Lap):.1e}")
rhs = np.concatenate([data, np.zeros(n * n)])
iterations = 200 if SMALL else 300


def solve(K):
    start = time.perf_counter()
    x = solvers.lsqr(K, rhs, iter_lim=iterations, atol=1e-10, btol=1e-10)[0]
    return x, time.perf_counter() - start


K = linop.vstack([A, lam * Lap])
x_linop, t_first = solve(K)
t_linop = solve(K)[1]


def relative_error(image):
    return np.linalg.norm(np.ravel(image) - truth.ravel()) / np.linalg.norm(truth)


print(f"linop: {iterations} LSQR iterations in {t_linop:.2f} s ({t_first:.2f} s the first time, "
      f"which compiles the fused kernels when numba is installed), relative error "
      f"{relative_error(x_linop):.3f}")
assert relative_error(x_linop) < 0.1

# %%
# The PyLops way: operators from classes
# --------------------------------------
# The same model from PyLops' building blocks: ``Convolve2D`` (with the kernel's centre as
# ``offset``, which gives ``mode="same"``; by default it calls ``fftconvolve`` too),
# ``Restriction`` and ``Laplacian``. Both forward models give the same numbers, to rounding,
# and so do both solutions. The table times one application of each (the fastest of a few).

timings = {}


def best_time(apply, vector, repeats=7):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        apply(vector)
        times.append(time.perf_counter() - start)
    return min(times)


u = rng.standard_normal(n * n)
v = rng.standard_normal(A.shape[0])
timings["NumPy function"] = (best_time(lambda w: blur_and_sample(w.reshape(n, n)), u), np.nan)
timings["linop"] = (best_time(A.matvec, u), best_time(A.rmatvec, v))

if pylops is not None:
    C = pylops.signalprocessing.Convolve2D((n, n), h=kernel, offset=(2, 2))
    R = pylops.Restriction(n * n, observed)
    P = R @ C
    P_lap = pylops.Laplacian((n, n), edge=False)
    print(f"forward models: max |linop - PyLops| = {np.abs(A @ u - P @ u).max():.1e} (blur), "
          f"{np.abs(Lap @ u - P_lap @ u).max():.1e} (Laplacian)")
    assert np.allclose(A @ u, P @ u) and np.allclose(A.H @ v, np.ravel(P.H @ v))
    timings["PyLops"] = (best_time(P.matvec, u), best_time(P.rmatvec, v))
    x_pylops, t_pylops = solve(pylops.VStack([P, lam * P_lap]))
    difference = np.linalg.norm(x_pylops - x_linop) / np.linalg.norm(x_linop)
    print(f"PyLops: {iterations} LSQR iterations in {t_pylops:.2f} s; "
          f"relative difference to linop's solution {difference:.1e}")
    assert difference < 1e-8
else:
    print("(skipped: the PyLops operators and their timings)")

print(f"{'':<16}{'forward (ms)':>14}{'adjoint (ms)':>14}")
for name, (forward, adjoint) in timings.items():
    print(f"{name:<16}{1e3 * forward:14.3f}{1e3 * adjoint:14.3f}")

# %%
# Mixing PyLops operators into linop
# ----------------------------------
# A PyLops operator can be a block of ``linop.vstack``/``hstack``/``block_diag``/``block``,
# or be applied to a traced array inside a NumPy function (``P @ x``): linop records it as one
# step whose transpose calls the operator's own ``rmatvec``. The result is one traced
# operator, dot-tested like any other.

if pylops is not None:
    mixed = linop.vstack([A, lam * P_lap])                        # linop model, PyLops penalty
    inside = linop.aslinearoperator(lambda image: R @ (C @ image.ravel()), np.zeros((n, n)))
    print(inside.program)
    print(f"vstack([linop A, PyLops Laplacian]): {type(mixed).__name__}, dot test "
          f"{linop.dottest(mixed):.1e}; PyLops inside a traced function: dot test "
          f"{linop.dottest(inside):.1e}")
    x_mixed, t_mixed = solve(mixed)
    assert np.linalg.norm(x_mixed - x_linop) / np.linalg.norm(x_linop) < 1e-8
    print(f"mixed operator: LSQR in {t_mixed:.2f} s, same solution")
else:
    print("(skipped: mixing PyLops operators into linop blocks)")

# %%
# Truth, data and reconstruction; timings
# ---------------------------------------

if plt is not None:
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), layout="constrained")
    recorded = np.full(n * n, np.nan)
    recorded[observed] = data
    for ax, (title, image) in zip(axes, [("truth", truth), ("data: 30% of the blurred pixels", recorded),
                                         (f"reconstruction ({relative_error(x_linop):.3f})", x_linop)]):
        ax.imshow(np.reshape(image, (n, n)), cmap="viridis", vmin=truth.min(), vmax=truth.max())
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()

    fig, ax = plt.subplots(figsize=(5.5, 3.2), layout="constrained")
    names = list(timings)
    positions = np.arange(len(names))
    ax.bar(positions - 0.2, [1e3 * timings[k][0] for k in names], width=0.4, label="forward")
    ax.bar(positions + 0.2, [1e3 * np.nan_to_num(timings[k][1]) for k in names], width=0.4, label="adjoint")
    ax.set_xticks(positions, names)
    ax.set_ylabel("ms per application")
    ax.legend()
    if matplotlib.get_backend().lower() != "agg":
        plt.show()
