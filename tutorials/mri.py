r"""
Multi-coil Cartesian MRI: a complex operator and its adjoint
============================================================

An MRI scanner with several receive coils measures, for each coil, the Fourier transform of
the image weighted by the coil's (complex) sensitivity map, on a subset of the k-space rows
(skipping rows is what makes a scan faster). The forward model is two lines of NumPy:

.. math::

    y_c = M \, F \, (S_c \, x), \qquad c = 1, \dots, C,

with the coil maps ``S_c``, the 2-D FFT ``F`` and the row selection ``M``. linop traces it into
a complex operator; conjugate gradients on its normal operator ``A^H A`` (``A.normal()``,
one self-adjoint program) reconstructs the image from about a third of the data (SENSE).

The tutorial ends with the difference between an adjoint (``A.rmatvec``, which conjugates) and a
transpose (``linop.linear_transpose``, which does not), and what the wrong one does to a solver.

Run ``python tutorials/mri.py`` (``--small``, or ``LINOP_TUTORIAL_SMALL=1``, for a quick run).
"""
import argparse
import os
import sys
import time

import numpy as np
from scipy.sparse.linalg import LinearOperator

import linop
from linop import solvers

parser = argparse.ArgumentParser(description="Multi-coil Cartesian MRI")
parser.add_argument("--small", action="store_true", help="a 48x48 image, 4 coils (for tests)")
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
# A complex image, coil maps and a sampling mask
# ----------------------------------------------
# MR images are complex: a magnitude times a smooth phase (from field inhomogeneity). Each
# coil sees the image through a smooth complex sensitivity, strongest near the coil; the maps
# are normalised so that ``sum_c |S_c|^2 = 1``. The mask keeps the central rows of k-space
# (the contrast) and a random third of the others (R ≈ 3).

n = 48 if SMALL else 128
n_coils = 4 if SMALL else 8
rng = np.random.default_rng(2)
y, x = np.mgrid[-1:1:n * 1j, -1:1:n * 1j]


def phantom():
    image = np.zeros((n, n))
    for value, cx, cy, ax, ay in [(1.0, 0, 0, 0.7, 0.9), (-0.6, 0, 0, 0.6, 0.8), (0.4, -0.25, 0.1, 0.15, 0.35),
                                  (0.4, 0.25, 0.1, 0.15, 0.35), (0.5, 0, -0.45, 0.2, 0.12)]:
        image[((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1] += value
    return image * np.exp(1j * np.pi / 3 * (x + 0.5 * y ** 2))


def coil_maps():
    maps = []
    for c in range(n_coils):
        angle = 2 * np.pi * c / n_coils
        distance2 = (x - 1.5 * np.cos(angle)) ** 2 + (y - 1.5 * np.sin(angle)) ** 2
        maps.append(np.exp(-distance2 / 0.5) * np.exp(1j * (angle + 0.5 * np.pi * (x * np.cos(angle) + y * np.sin(angle)))))
    maps = np.array(maps)
    return maps / np.sqrt((np.abs(maps) ** 2).sum(axis=0))


truth = phantom()
coils = coil_maps()
centre = np.arange(n // 2 - n // 16, n // 2 + n // 16)
others = np.setdiff1d(np.arange(n), centre)
rows = np.sort(np.concatenate([centre, rng.choice(others, size=len(others) // 3, replace=False)]))
rows = np.fft.ifftshift(np.arange(n))[rows]          # k-space rows in FFT order (0 = centre)
print(f"{n}x{n} image, {n_coils} coils, {len(rows)} of {n} k-space rows "
      f"(acceleration {n / len(rows):.1f})")

# %%
# The forward model and its operator
# ----------------------------------
# ``norm="ortho"`` makes the FFT unitary. The integer row index is a gather, whose adjoint
# scatters the data back into a zero-filled k-space. The operator is complex (``complex128``);
# its dot test runs with complex vectors.


def forward(image):
    return np.fft.fft2(coils * image, norm="ortho")[:, rows, :]


A = linop.aslinearoperator(forward, np.zeros((n, n), complex))
print(f"A: {A.shape}, {A.dtype}; dot test {linop.dottest(A):.1e}")

clean = forward(truth)
sigma = 0.05 * np.linalg.norm(clean) / np.sqrt(clean.size)        # 5% of the RMS signal
data = clean + sigma * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape))


def relative_error(image):
    return np.linalg.norm(np.ravel(image) - truth.ravel()) / np.linalg.norm(truth)


# %%
# Zero-filled and SENSE reconstructions
# -------------------------------------
# ``A^H y`` (zero-filled k-space, inverse FFT, coil-combined with the conjugate maps) is the
# starting point of every scanner; it aliases, since rows are missing. SENSE solves the
# regularised normal equations ``(A^H A + λ I) x = A^H y`` with conjugate gradients.
# ``A.normal()`` is one traced, self-adjoint program (FFT, row selection and its scatter,
# inverse FFT per coil), so CG's Hermitian assumption holds; adding ``λ I`` (the identity
# traced like any function) keeps one program. Without ``λ`` CG first improves the image,
# then fits the noise.

zero_filled = A.rmatvec(data.ravel())
identity = linop.aslinearoperator(lambda image: image, np.zeros((n, n), complex))
lam = 0.02
histories = {}
for name, N in [("A^H A", A.normal()), (f"A^H A + {lam} I", A.normal() + lam * identity)]:
    print(f"{name}: {type(N).__name__} {N.shape}; dot test {linop.dottest(N):.1e}")
    history = histories[name] = []
    start = time.perf_counter()
    sense, info = solvers.cg(N, zero_filled, rtol=1e-6, maxiter=60,
                             callback=lambda xk: history.append(relative_error(xk)))
    print(f"  CG: {len(history)} iterations (info {info}) in {time.perf_counter() - start:.2f} s, "
          f"relative error {relative_error(sense):.3f} (best iterate {min(history):.3f} at "
          f"iteration {1 + int(np.argmin(history))})")
print(f"zero-filled: relative error {relative_error(zero_filled):.3f}")
assert info == 0 and relative_error(sense) < 0.7 * relative_error(zero_filled)

# %%
# Why ``rmatvec`` conjugates and ``linear_transpose`` does not
# ------------------------------------------------------------
# ``linop.linear_transpose(forward, image)`` follows JAX: it is the **transpose** ``A^T``, for
# the bilinear pairing ``sum(u * v)``, with no complex conjugation. That is what automatic
# differentiation needs (cotangents of complex functions). A solver needs the **adjoint**
# ``A^H = conj(A^T conj(.))``, for the inner product ``vdot(u, v)``: that is ``A.rmatvec``.
# For a real operator the two coincide; here they do not.

forward_t = linop.linear_transpose(forward, np.zeros((n, n), complex))
u = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
v = rng.standard_normal(data.shape) + 1j * rng.standard_normal(data.shape)
(transposed,) = forward_t(v)
adjoint = A.rmatvec(v.ravel()).reshape(n, n)

bilinear = abs(np.sum(forward(u) * v) - np.sum(u * transposed)) / abs(np.sum(forward(u) * v))
sesquilinear = abs(np.vdot(v, forward(u)) - np.vdot(adjoint, u)) / abs(np.vdot(v, forward(u)))
conjugated = np.abs(adjoint - np.conj(forward_t(np.conj(v))[0])).max()
print(f"sum(A u * v) vs sum(u * A^T v): {bilinear:.1e};  vdot(v, A u) vs vdot(A^H v, u): "
      f"{sesquilinear:.1e};  |A^H v - conj(A^T conj v)|: {conjugated:.1e}")
assert bilinear < 1e-12 and sesquilinear < 1e-12 and conjugated < 1e-12

# %%
# An operator whose "adjoint" is the transpose fails the dot test, and CG on
# ``A^T A`` (complex symmetric, not Hermitian) goes astray:

wrong = LinearOperator(A.shape, matvec=A.matvec, dtype=A.dtype,
                       rmatvec=lambda w: forward_t(w.reshape(data.shape))[0].ravel())
wrong_error = linop.dottest(wrong, raise_error=False)
wrong_normal = LinearOperator(N.shape, matvec=lambda z: wrong.rmatvec(A.matvec(z)), dtype=A.dtype)
wrong_history = []
solvers.cg(wrong_normal + lam * identity, wrong.rmatvec(data.ravel()), maxiter=len(history),
           callback=lambda xk: wrong_history.append(relative_error(xk)))
print(f"with the transpose in place of the adjoint: dot test error {wrong_error:.2f}, "
      f"CG error after {len(wrong_history)} iterations {wrong_history[-1]:.2f}")
assert wrong_error > 1e-3
assert min(wrong_history) > relative_error(sense)

# %%
# The images
# ----------
# Magnitudes: the truth, the first coil's view, the aliased zero-filled image and SENSE; and
# the error of each CG iterate, with the Hermitian normal operator and with the wrong one.

if plt is not None:
    fig, axes = plt.subplots(1, 5, figsize=(13, 3.0), layout="constrained")
    mask = np.zeros(n)
    mask[rows] = 1
    panels = [("truth |x|", np.abs(truth)), ("coil 1 map |S_1|", np.abs(coils[0])),
              ("k-space rows sampled", np.fft.fftshift(np.tile(mask[:, None], (1, n)))),
              (f"zero-filled ({relative_error(zero_filled):.2f})", np.abs(zero_filled.reshape(n, n))),
              (f"SENSE, CG ({relative_error(sense):.2f})", np.abs(sense.reshape(n, n)))]
    for ax, (title, image) in zip(axes, panels):
        ax.imshow(image, cmap="gray", vmin=0, vmax=max(1.0, image.max()) if "k-space" not in title else 1)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()

    fig, ax = plt.subplots(figsize=(5, 3.4), layout="constrained")
    for name, history in histories.items():
        ax.plot(np.arange(1, len(history) + 1), history, label=f"CG on {name}")
    ax.plot(np.arange(1, len(wrong_history) + 1), wrong_history,
            label=f"CG on A^T A + {lam} I (linear_transpose)")
    ax.axhline(relative_error(zero_filled), color="gray", linestyle=":", label="zero-filled")
    ax.set_xlabel("CG iteration")
    ax.set_ylabel("relative error")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    if matplotlib.get_backend().lower() != "agg":
        plt.show()
