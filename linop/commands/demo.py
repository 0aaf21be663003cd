"""``python -m linop demo``: deblur a synthetic image with a traced forward model (or show the IR).

The demo builds a phantom image, blurs it with a forward model written in plain NumPy, adds
noise, wraps the model with :func:`linop.aslinearoperator`, checks the adjoint with a dot test
and solves the damped least-squares problem with ``scipy.sparse.linalg.lsqr`` until its
stopping rule holds. ``--ir`` prints the forward and transposed IR of a small example instead.
"""
from __future__ import annotations

import time

import numpy as np

from ..operator import aslinearoperator, dottest
from ..testing import dot_test_function
from ..tracing import trace
from ..transpose import transpose
from .check import Progress


# -- the synthetic image and the forward model ------------------------------------------------
def phantom(n: int) -> np.ndarray:
    """A Shepp-Logan-like phantom: ellipses of constant intensity on an ``n x n`` grid."""
    # (intensity, semi-axis a, semi-axis b, centre x, centre y, rotation in degrees)
    ellipses = [(1.0, 0.69, 0.92, 0.0, 0.0, 0), (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0),
                (-0.2, 0.11, 0.31, 0.22, 0.0, -18), (-0.2, 0.16, 0.41, -0.22, 0.0, 18),
                (0.1, 0.21, 0.25, 0.0, 0.35, 0), (0.1, 0.046, 0.046, 0.0, 0.1, 0),
                (0.1, 0.046, 0.023, -0.08, -0.605, 0), (0.1, 0.023, 0.046, 0.06, -0.605, 0)]
    y, x = np.mgrid[1:-1:n * 1j, -1:1:n * 1j]
    img = np.zeros((n, n))
    for value, a, b, cx, cy, deg in ellipses:
        t = np.deg2rad(deg)
        u = (x - cx) * np.cos(t) + (y - cy) * np.sin(t)
        v = -(x - cx) * np.sin(t) + (y - cy) * np.cos(t)
        img[(u / a) ** 2 + (v / b) ** 2 <= 1] += value
    return img


def gaussian_psf(n: int, sigma: float) -> np.ndarray:
    """A normalised Gaussian point-spread function centred at index (0, 0) (periodic)."""
    d = np.minimum(np.arange(n), n - np.arange(n))
    g = np.exp(-0.5 * (d / sigma) ** 2)
    psf = np.outer(g, g)
    return psf / psf.sum()


def make_fft_blur(n: int, sigma: float):
    """Periodic Gaussian blur written with ``np.fft.rfft2`` / ``irfft2``."""
    kernel = np.fft.rfft2(gaussian_psf(n, sigma))

    def blur(img):
        return np.fft.irfft2(np.fft.rfft2(img) * kernel, s=img.shape)
    return blur


# -- the demo ----------------------------------------------------------------------------------
def demo_deblur(args) -> int:
    """The image deblurring demo; returns the exit status."""
    from scipy.sparse.linalg import lsqr

    n = args.size
    rng = np.random.default_rng(args.seed)
    stages = Progress(6)

    stages.start(f"building a {n}x{n} phantom image")
    truth = phantom(n)
    stages.done(f"{n * n} unknowns")

    stages.start("tracing the NumPy forward model (Gaussian blur)")
    blur = make_fft_blur(n, args.sigma)
    A = aslinearoperator(blur, np.zeros((n, n)))
    stages.done(f"np.fft.rfft2/irfft2, {len(A.program.eqns)} forward / {len(A.adjoint_program.eqns)} adjoint "
                f"equations, operator {A.shape[0]}x{A.shape[1]} {A.dtype}")

    stages.start("simulating the data: blur + noise")
    clean = blur(truth)
    noise = args.noise * np.linalg.norm(clean) / np.sqrt(clean.size) * rng.standard_normal(clean.shape)
    data = clean + noise
    stages.done(f"noise level {args.noise:g} (relative)")

    stages.start("dot test <A x, y> = <x, A^H y>")
    err = dottest(A)
    stages.done(f"relative error {err:.1e} (real and complex vectors)")

    stages.start(f"solving with scipy.sparse.linalg.lsqr (damp={args.damp:g}, "
                 f"atol=btol={args.tol:g}, at most {args.iters} iterations)")
    result = lsqr(A, data.ravel(), damp=args.damp, iter_lim=args.iters, atol=args.tol,
                  btol=args.tol)
    x = result[0].reshape(n, n)
    stages.done(f"{result[2]} iterations ({LSQR_STOP.get(result[1], f'istop={result[1]}')})")

    stages.start("comparing with the true image")
    rel = np.linalg.norm(x - truth) / np.linalg.norm(truth)
    rel_data = np.linalg.norm(data - truth) / np.linalg.norm(truth)
    stages.done()
    print(f"\nrelative error of the blurred data:   {rel_data:.3f}")
    print(f"relative error of the reconstruction: {rel:.3f}")
    print(f"total time: {time.perf_counter() - stages.started:.2f} s")
    if args.plot:
        fig = figure(truth, data, x, rel_data, rel)
        fig.savefig(args.plot, dpi=100)
        print(f"figure saved to {args.plot}")
    return 0


def figure(truth, data, x, rel_data, rel):
    """Truth, data and reconstruction side by side (titles on two lines, never clipped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.8))
    # Fixed margins with room for two-line titles: the layout engines place square images'
    # titles above the figure on their first pass.
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.85, wspace=0.06)
    titles = ("true image", f"blurred + noise\nrelative error {rel_data:.2f}",
              f"lsqr reconstruction\nrelative error {rel:.2f}")
    for ax, img, title in zip(axes, (truth, data, x), titles):
        ax.imshow(img, cmap="gray", vmin=truth.min(), vmax=truth.max())
        ax.set_title(title)
        ax.axis("off")
    return fig


def demo_ir(args) -> int:
    """Print the forward and transposed IR of a small regulariser, and its dot test."""
    def gradient(img):
        """Forward differences along both axes: a typical regulariser."""
        gx = np.zeros_like(img)
        gx[:, :-1] = img[:, 1:] - img[:, :-1]
        gy = img[1:, :] - img[:-1, :]
        return gx, 0.5 * gy

    x = np.zeros((4, 5))
    program = trace(gradient, x)
    print("Forward program:")
    print(program)
    print("\nTransposed program:")
    print(transpose(program))
    err = dot_test_function(gradient, x)
    print(f"\nDot test <A x, y> = <x, A^T y>: relative error {err:.2e}")
    return 0


# scipy.sparse.linalg.lsqr's `istop` codes, in words.
LSQR_STOP = {
    0: "x = 0 is the solution",
    1: "converged: residual small enough",
    2: "converged: least-squares solution",
    3: "stopped: condition number too large",
    4: "converged to machine precision",
    5: "converged to machine precision (least squares)",
    6: "stopped: condition number too large for machine precision",
    7: "iteration limit reached",
}
