r"""
Seismic sparse-spike deconvolution with ISTA and FISTA
======================================================

A seismic trace is, to first order, the Earth's reflectivity (a few spikes, one per interface
between rock layers) convolved with the source wavelet. Recovering the spikes is
*sparse-spike deconvolution*:

.. math::

    \min_r \; \tfrac12 \|W r - d\|^2 + \alpha \|r\|_1 ,

with the convolution ``W`` by a Ricker wavelet. The ``L1`` penalty has no gradient at zero,
so Krylov solvers do not apply; the iterative shrinkage-thresholding algorithm (ISTA) and its
accelerated version (FISTA, Beck and Teboulle 2009) need only ``W.matvec`` and
``W.rmatvec``, which linop derives from the NumPy convolution.

Run ``python tutorials/seismic_deconvolution.py`` (``--small``, or ``LINOP_TUTORIAL_SMALL=1``,
for a quick run).
"""
import argparse
import os
import sys
import time

import numpy as np

import linop
from linop import solvers
from linop.scipy import signal

parser = argparse.ArgumentParser(description="Seismic sparse-spike deconvolution with ISTA and FISTA")
parser.add_argument("--small", action="store_true", help="a 160-sample, 16-trace gather (for tests)")
SMALL = parser.parse_args().small or os.environ.get("LINOP_TUTORIAL_SMALL") == "1"

try:
    import matplotlib
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    print("matplotlib is not installed: the figures are skipped")

# %%
# The wavelet and a reflectivity gather
# -------------------------------------
# A Ricker wavelet (the second derivative of a Gaussian) of peak frequency 25 Hz, sampled
# every 4 ms. The reflectivity of a gather of traces: a few layers whose two-way times vary
# smoothly along the line (dips, a gentle anticline), with reflection coefficients of either
# sign, one spike per layer and trace.

dt = 0.004
nt, nx = (160, 16) if SMALL else (400, 80)
t = np.arange(nt) * dt


def ricker(f0, dt):
    tw = np.arange(-1.0 / f0, 1.0 / f0 + dt / 2, dt)
    a = (np.pi * f0 * tw) ** 2
    return (1 - 2 * a) * np.exp(-a)


wavelet = ricker(25.0, dt)
rng = np.random.default_rng(3)
position = np.linspace(-1, 1, nx)
reflectivity = np.zeros((nt, nx))
layers = [(0.15, 0.02, 0.0, 0.8), (0.25, -0.03, -0.04, -0.6), (0.33, 0.0, -0.06, 0.5),
          (0.42, 0.04, 0.0, -0.7), (0.5, -0.02, 0.03, 0.9), (0.58, 0.01, 0.02, 0.4)]
for t0, dip, bend, coefficient in layers:
    times = (t0 + dip * position + bend * (1 - position ** 2)) * t[-1]
    samples = np.round(times / dt).astype(int)
    reflectivity[samples, np.arange(nx)] += coefficient * (1 + 0.1 * rng.standard_normal(nx))
print(f"{nt} samples x {nx} traces, dt = {1e3 * dt:g} ms, Ricker wavelet of 25 Hz "
      f"({wavelet.size} samples), {np.count_nonzero(reflectivity)} spikes")

# %%
# The 1-D and the 2-D convolution
# -------------------------------
# One trace: ``np.convolve(r, wavelet, mode="same")``. The whole gather: SciPy's 2-D
# convolution with the wavelet as a one-column kernel, through ``linop.scipy.signal``
# (linop's mirror of ``scipy.signal``, which accepts traced arrays). ``linop.vmap`` of the
# 1-D model over the traces gives the same operator, as one batched program.


def trace_model(r):
    return np.convolve(r, wavelet, mode="same")


def gather_model(r):
    return signal.convolve(r, wavelet[:, None], mode="same")


W1 = linop.aslinearoperator(trace_model, np.zeros(nt))
W = linop.aslinearoperator(gather_model, np.zeros((nt, nx)))
per_trace = linop.vmap(trace_model, in_axes=1, out_axes=1)
print(f"dot tests: one trace {linop.dottest(W1):.1e}, gather {linop.dottest(W):.1e}")
difference = np.abs(per_trace(reflectivity) - W.apply(reflectivity)).max()
print(f"vmap of the 1-D model vs the 2-D convolution: max difference {difference:.1e}")
assert difference < 1e-12

clean = W.apply(reflectivity)
noise = 0.1 * np.sqrt(np.mean(clean ** 2)) * rng.standard_normal(clean.shape)
data = clean + noise
print(f"noise: {np.linalg.norm(noise) / np.linalg.norm(clean):.1%} of the signal")

# %%
# ISTA and FISTA with ``matvec`` and ``rmatvec``
# ----------------------------------------------
# Each iteration takes a gradient step on the data misfit, ``r - W^T (W r - d) / L``, then
# shrinks every sample towards zero by ``α / L`` (soft thresholding). The step needs the
# Lipschitz constant ``L = ||W||²``, here from a few power iterations on ``W.normal()``.
# FISTA adds a momentum step, for an ``O(1/k²)`` decrease of the objective instead of ``O(1/k)``.


def largest_eigenvalue(N, iterations=30):
    v = rng.standard_normal(N.shape[1])
    for _ in range(iterations):
        v = N.matvec(v)
        v /= np.linalg.norm(v)
    return float(v @ N.matvec(v))


def soft_threshold(v, threshold):
    return np.sign(v) * np.maximum(np.abs(v) - threshold, 0.0)


def objective(r):
    return 0.5 * np.linalg.norm(W.matvec(r) - d) ** 2 + alpha * np.abs(r).sum()


def ista(iterations, accelerated):
    r = np.zeros(W.shape[1])
    z, momentum = r.copy(), 1.0
    history = []
    for _ in range(iterations):
        gradient = W.rmatvec(W.matvec(z) - d)
        r_next = soft_threshold(z - gradient / L, alpha / L)
        if accelerated:
            momentum_next = (1 + np.sqrt(1 + 4 * momentum ** 2)) / 2
            z = r_next + (momentum - 1) / momentum_next * (r_next - r)
            momentum = momentum_next
        else:
            z = r_next
        r = r_next
        history.append(objective(r))
    return r, history


d = data.ravel()
L = 1.01 * largest_eigenvalue(W.normal())
alpha = 0.05 * np.abs(W.rmatvec(d)).max()
iterations = 150 if SMALL else 300
solutions, histories = {}, {}
for name, accelerated in [("ISTA", False), ("FISTA", True)]:
    start = time.perf_counter()
    solutions[name], histories[name] = ista(iterations, accelerated)
    print(f"{name}: {iterations} iterations in {time.perf_counter() - start:.2f} s, "
          f"objective {histories[name][-1]:.4f}")

# %%
# Against least squares
# ---------------------
# Damped least squares (``linop.solvers.lsqr``, at the best of a few damping values) recovers
# a band-limited, ringing version of the reflectivity; the ``L1`` penalty recovers isolated
# spikes.


def relative_error(r):
    return np.linalg.norm(r - reflectivity.ravel()) / np.linalg.norm(reflectivity)


def recovered_spikes(r, tolerance=1):
    """The fraction of true spikes with a recovered spike of the same sign within ±1 sample."""
    r = r.reshape(nt, nx)
    found = 0
    rows, cols = np.nonzero(reflectivity)
    for i, j in zip(rows, cols):
        window = r[max(i - tolerance, 0):i + tolerance + 1, j]
        found += np.any(np.sign(window) * np.sign(reflectivity[i, j]) * np.abs(window)
                        > 0.25 * abs(reflectivity[i, j]))
    return found / len(rows)


least_squares = min((solvers.lsqr(W, d, damp=damp, iter_lim=200)[0] for damp in (0.1, 0.3, 1.0, 3.0)),
                    key=relative_error)
for name, r in [("least squares", least_squares), ("ISTA", solutions["ISTA"]),
                ("FISTA", solutions["FISTA"])]:
    print(f"{name:<14} relative error {relative_error(r):.3f}, spikes recovered "
          f"{recovered_spikes(r):.0%}, nonzeros {np.count_nonzero(np.abs(r) > 1e-3)}")

early = iterations // 5
assert histories["FISTA"][early] < histories["ISTA"][early]
assert histories["FISTA"][-1] <= histories["ISTA"][-1] * (1 + 1e-9)
assert relative_error(solutions["FISTA"]) < 0.6 * relative_error(least_squares)
assert recovered_spikes(solutions["FISTA"]) > 0.9

# %%
# The gather
# ----------
# Reflectivity, data and the FISTA result as images (time down, as geophysicists plot), one
# trace, and the objective of both methods: FISTA reaches in tens of iterations what ISTA
# needs hundreds for.


if plt is not None:
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), sharey=True, layout="constrained")
    for ax, (title, gather) in zip(axes, [("reflectivity", reflectivity), ("data (noisy)", data),
                                          ("FISTA", solutions["FISTA"].reshape(nt, nx))]):
        limit = np.abs(gather).max()
        ax.imshow(gather, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto",
                  extent=(-0.5, nx - 0.5, t[-1], 0), interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("trace")
    axes[0].set_ylabel("two-way time (s)")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    j = nx // 2
    ax1.plot(t, data[:, j], color="0.6", label="data")
    ax1.plot(t, least_squares.reshape(nt, nx)[:, j], label="least squares")
    ax1.stem(t, reflectivity[:, j], linefmt="k-", markerfmt="ko", basefmt=" ", label="truth")
    fista_trace = solutions["FISTA"].reshape(nt, nx)[:, j]
    nonzero = np.abs(fista_trace) > 1e-3
    ax1.plot(t[nonzero], fista_trace[nonzero], "r.", label="FISTA")
    ax1.set_xlabel("two-way time (s)")
    ax1.set_title(f"trace {j}", fontsize=10)
    ax1.legend(fontsize=8)
    best = min(min(h) for h in histories.values())
    for name, history in histories.items():
        ax2.semilogy(np.arange(1, iterations + 1), np.array(history) - best + 1e-12, label=name)
    ax2.set_xlabel("iteration")
    ax2.set_ylabel("objective − best")
    ax2.legend()
    if matplotlib.get_backend().lower() != "agg":
        plt.show()
