r"""
Image deblurring with a regularised least-squares solve
=======================================================

A camera blurs an image by convolving it with its point-spread function (PSF). Here the blur
is written in plain NumPy, as a product in the Fourier domain; linop traces that function into
an operator ``A`` with an exact adjoint, and the deblurred image is the solution of

.. math::

    \min_x \; \|A x - b\|^2 + \lambda^2 \|D x\|^2,

where ``D`` is either the identity (Tikhonov) or the image gradient, written in NumPy too. The
stacked operator ``linop.vstack([A, λ D])`` goes straight into LSQR. We compare the two
regularisers over a range of weights ``λ``.

Run ``python tutorials/deblurring.py`` (``--small``, or ``LINOP_TUTORIAL_SMALL=1``, for a
quick run).
"""
import argparse
import os
import sys
import time

import numpy as np

import linop
from linop import solvers

parser = argparse.ArgumentParser(description="Image deblurring with a regularised least-squares solve")
parser.add_argument("--small", action="store_true", help="a 48x48 image (for tests)")
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
# The image and the blur
# ----------------------
# A piecewise-constant test image (ellipses of different intensities, as in the Shepp–Logan
# phantom) and a Gaussian PSF of a few pixels. The blur is periodic: a product of the image's
# spectrum with the PSF's transfer function, computed with ``np.fft.rfft2``/``irfft2``.

n = 48 if SMALL else 128


def phantom(n):
    """Ellipses on a disc: sharp edges that a blur smears and a regulariser must keep."""
    y, x = np.mgrid[-1:1:n * 1j, -1:1:n * 1j]
    image = np.zeros((n, n))
    for value, cx, cy, ax, ay, angle in [(1.0, 0, 0, 0.69, 0.92, 0), (-0.8, 0, -0.02, 0.66, 0.87, 0),
                                         (-0.2, 0.22, 0, 0.11, 0.31, -18), (-0.2, -0.22, 0, 0.16, 0.41, 18),
                                         (0.3, 0, 0.35, 0.21, 0.25, 0), (0.3, 0, -0.6, 0.05, 0.05, 0)]:
        c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        u, v = (x - cx) * c + (y - cy) * s, -(x - cx) * s + (y - cy) * c
        image[(u / ax) ** 2 + (v / ay) ** 2 <= 1] += value
    return image


def gaussian_transfer(n, width):
    """The half-spectrum of a periodic Gaussian PSF of ``width`` pixels (sums to one)."""
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    return np.exp(-2 * (np.pi * width) ** 2 * (fx ** 2 + fy ** 2))


psf_width = 1.5 if SMALL else 2.0
transfer = gaussian_transfer(n, psf_width)


def blur(image):
    """The forward model, in plain NumPy."""
    return np.fft.irfft2(np.fft.rfft2(image) * transfer, s=image.shape)


truth = phantom(n)
rng = np.random.default_rng(0)
clean = blur(truth)
noise_level = 0.02 * np.abs(clean).max()
data = clean + noise_level * rng.standard_normal(clean.shape)
print(f"{n}x{n} image, Gaussian PSF of {psf_width} px, noise {noise_level:.3g} "
      f"(SNR {20 * np.log10(np.linalg.norm(clean) / np.linalg.norm(data - clean)):.1f} dB)")

# %%
# The operators and their dot tests
# ---------------------------------
# ``linop.aslinearoperator`` traces ``blur`` once on an example image; the adjoint is the
# transposed program (here: the same product with the transfer function, read backwards
# through the FFTs). The gradient ``D`` returns a *pair* of arrays, the vertical and the
# horizontal differences; the operator's output vector is their concatenation.
# ``linop.dottest`` checks ``<A x, y> = <x, A^H y>`` on random real and complex vectors.

A = linop.aslinearoperator(blur, np.zeros((n, n)))


def gradient(image):
    """Forward differences along both axes (no wrap-around)."""
    return np.diff(image, axis=0), np.diff(image, axis=1)


D = linop.aslinearoperator(gradient, np.zeros((n, n)))
I = linop.aslinearoperator(lambda image: image, np.zeros((n, n)))
for name, op in [("blur A", A), ("gradient D", D)]:
    print(f"dot test of {name:<10} {op.shape}: relative error {linop.dottest(op):.1e}")

# %%
# Solving for a range of weights
# ------------------------------
# For each weight, ``linop.vstack([A, lam * D])`` is one traced operator; the right-hand side
# is the data followed by zeros for the regularisation rows. (With the identity for ``D``,
# Tikhonov, this is LSQR's own ``damp=lam``.) ``linop.solvers.lsqr`` follows
# ``scipy.sparse.linalg.lsqr`` step by step; its ``callback`` sees every iterate, so we record
# the error of each one for the convergence curves below.


def relative_error(x):
    return np.linalg.norm(x - truth.ravel()) / np.linalg.norm(truth)


def solve(penalty, lam, iter_lim):
    K = linop.vstack([A, lam * penalty])
    rhs = np.concatenate([data.ravel(), np.zeros(penalty.shape[0])])
    errors = []
    start = time.perf_counter()
    x, istop, itn = solvers.lsqr(K, rhs, iter_lim=iter_lim,
                                 callback=lambda xk: errors.append(relative_error(xk)))[:3]
    return x, itn, time.perf_counter() - start, errors


weights = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]
iter_lim = 150 if SMALL else 200
results = {}
print(f"{'regulariser':<12}{'lambda':>8}{'iterations':>12}{'seconds':>9}{'error':>8}")
for reg_name, op in [("Tikhonov", I), ("gradient", D)]:
    for lam in weights:
        x, itn, seconds, errors = solve(op, lam, iter_lim)
        results[reg_name, lam] = (relative_error(x), x, errors)
        print(f"{reg_name:<12}{lam:8.0e}{itn:12d}{seconds:9.2f}{results[reg_name, lam][0]:8.3f}")

best = {reg: min(weights, key=lambda lam: results[reg, lam][0]) for reg in ("Tikhonov", "gradient")}
data_error = relative_error(data.ravel())
print(f"the blurred data themselves: error {data_error:.3f}")
for reg, lam in best.items():
    print(f"best {reg} weight {lam:g}: error {results[reg, lam][0]:.3f}")

# Both penalties trade noise against blur: too small a weight amplifies the noise beyond the
# data's own error, too large a weight blurs again, and the best weight lies in between.
for reg, lam in best.items():
    assert results[reg, lam][0] < 0.9 * data_error
    assert results[reg, weights[0]][0] > data_error
    assert results[reg, weights[-1]][0] > results[reg, lam][0]

# %%
# Truth, data and reconstructions
# -------------------------------
# Too small a weight amplifies the noise, too large a weight blurs again. At their best
# weights the two quadratic penalties are close on this piecewise-constant image: the
# gradient penalty leaves smoother flat regions, and both round the edges. Sharp edges need a
# non-quadratic penalty (total variation, or the L1 penalty of the seismic tutorial, solved
# with the same ``matvec``/``rmatvec``).

if plt is not None:
    shown = [("truth", truth), (f"data (error {data_error:.2f})", data)]
    for reg, lam in [("Tikhonov", best["Tikhonov"]), ("gradient", weights[0]),
                     ("gradient", best["gradient"]), ("gradient", weights[-1])]:
        err, x = results[reg, lam][:2]
        shown.append((f"{reg}, λ={lam:g}\n(error {err:.2f})", x.reshape(n, n)))
    fig, axes = plt.subplots(2, 3, figsize=(9, 6.4), layout="constrained")
    for ax, (title, image) in zip(axes.flat, shown):
        ax.imshow(image, cmap="gray", vmin=-0.1, vmax=1.1)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()

# %%
# Error against the weight, and convergence
# -----------------------------------------
# With a small weight the error first falls, then rises as LSQR starts to fit the noise
# (semi-convergence); a well-chosen weight makes the iteration converge to a good image.

if plt is not None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    for reg, marker in [("Tikhonov", "o"), ("gradient", "s")]:
        ax1.semilogx(weights, [results[reg, lam][0] for lam in weights], marker=marker, label=reg)
    ax1.axhline(data_error, color="gray", linestyle=":", label="blurred data")
    ax1.set_xlabel("λ")
    ax1.set_ylabel("relative error")
    ax1.legend()
    for lam in weights:
        ax2.plot(results["gradient", lam][2], label=f"λ={lam:g}")
    ax2.set_ylim(0, 2 * data_error)
    ax2.set_xlabel("LSQR iteration")
    ax2.set_ylabel("relative error of the iterate")
    ax2.set_title("gradient regulariser", fontsize=10)
    ax2.legend(fontsize=8)
    if matplotlib.get_backend().lower() != "agg":
        plt.show()
