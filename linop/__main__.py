"""``python -m linop``: deblur a synthetic image with a traced forward model (and show the IR).

``python -m linop demo`` builds a phantom image, blurs it with a forward model
written in plain NumPy, adds noise, wraps the model with
:func:`linop.aslinearoperator`, checks the adjoint with a dot test and solves
the damped least-squares problem with ``scipy.sparse.linalg.lsqr``.
``python -m linop demo --ir`` prints the forward and transposed IR of a small
example instead.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import linop
from linop.testing import dot_test_function


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


def make_stencil_blur(sigma: float):
    """Separable Gaussian blur with slicing (zero boundaries); used when FFTs are not traced."""
    radius = max(1, int(round(2.5 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()

    def smooth(img, axis):
        out = taps[radius] * img
        for k in range(1, radius + 1):
            lo = [slice(None)] * 2
            hi = [slice(None)] * 2
            lo[axis], hi[axis] = slice(k, None), slice(None, -k)
            shifted = np.zeros_like(img)
            shifted[tuple(lo)] = img[tuple(hi)]
            shifted[tuple(hi)] += img[tuple(lo)]
            out = out + taps[radius + k] * shifted
        return out

    def blur(img):
        return smooth(smooth(img, 0), 1)
    return blur


def _fft_traceable(blur, n) -> bool:
    try:
        linop.trace(blur, np.zeros((n, n)))
        return True
    except linop.LinopError:
        return False


# -- the demo ----------------------------------------------------------------------------------
class _Stages:
    def __init__(self, total: int):
        self.total, self.k, self.t0 = total, 0, time.perf_counter()

    def start(self, what: str):
        self.k += 1
        self.t = time.perf_counter()
        print(f"[{self.k}/{self.total}] {what} ...", end="", flush=True)

    def done(self, detail: str = ""):
        print(f" done in {time.perf_counter() - self.t:.2f} s{'; ' + detail if detail else ''}",
              flush=True)


def demo_deblur(args) -> int:
    """The image deblurring demo; returns the exit status."""
    from scipy.sparse.linalg import lsqr

    n = args.size
    rng = np.random.default_rng(args.seed)
    stages = _Stages(6)

    stages.start(f"building a {n}x{n} phantom image")
    truth = phantom(n)
    stages.done(f"{n * n} unknowns")

    stages.start("tracing the NumPy forward model (Gaussian blur)")
    blur = make_fft_blur(n, args.sigma)
    kind = "FFT (np.fft.rfft2/irfft2)"
    if not _fft_traceable(blur, n):
        blur, kind = make_stencil_blur(args.sigma), "separable stencil"
    A = linop.aslinearoperator(blur, np.zeros((n, n)))
    stages.done(f"{kind}, {len(A.program.eqns)} forward / {len(A.adjoint_program.eqns)} adjoint "
                f"equations, operator {A.shape[0]}x{A.shape[1]} {A.dtype}")

    stages.start("simulating the data: blur + noise")
    clean = blur(truth)
    noise = args.noise * np.linalg.norm(clean) / np.sqrt(clean.size) * rng.standard_normal(clean.shape)
    data = clean + noise
    stages.done(f"noise level {args.noise:g} (relative)")

    stages.start("dot test <A x, y> = <x, A^H y>")
    err = linop.dottest(A)
    stages.done(f"relative error {err:.1e} (real and complex vectors)")

    stages.start(f"solving with scipy.sparse.linalg.lsqr (damp={args.damp:g}, "
                 f"at most {args.iters} iterations)")
    result = lsqr(A, data.ravel(), damp=args.damp, iter_lim=args.iters, atol=1e-8, btol=1e-8)
    x = result[0].reshape(n, n)
    stages.done(f"{result[2]} iterations ({_LSQR_STOP.get(result[1], f'istop={result[1]}')})")

    stages.start("comparing with the true image")
    rel = np.linalg.norm(x - truth) / np.linalg.norm(truth)
    rel_data = np.linalg.norm(data - truth) / np.linalg.norm(truth)
    stages.done()
    print(f"\nrelative error of the blurred data:   {rel_data:.3f}")
    print(f"relative error of the reconstruction: {rel:.3f}")
    print(f"total time: {time.perf_counter() - stages.t0:.2f} s")
    if args.plot:
        _plot(args.plot, truth, data, x, rel_data, rel)
    return 0


def _plot(path, truth, data, x, rel_data, rel):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"--plot {path}: matplotlib is not installed (pip install matplotlib); no figure saved")
        return
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
    for ax, img, title in zip(axes, (truth, data, x), (
            "true image", f"blurred + noise (error {rel_data:.2f})",
            f"lsqr reconstruction (error {rel:.2f})")):
        ax.imshow(img, cmap="gray", vmin=truth.min(), vmax=truth.max())
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"figure saved to {path}")


def demo_ir(args) -> int:
    """Print the forward and transposed IR of a small regulariser, and its dot test."""
    def gradient(img):
        """Forward differences along both axes: a typical regulariser."""
        gx = np.zeros_like(img)
        gx[:, :-1] = img[:, 1:] - img[:, :-1]
        gy = img[1:, :] - img[:-1, :]
        return gx, 0.5 * gy

    x = np.zeros((4, 5))
    program = linop.trace(gradient, x)
    print("Forward program:")
    print(program)
    print("\nTransposed program:")
    print(linop.transpose(program))
    err = dot_test_function(gradient, x)
    print(f"\nDot test <A x, y> = <x, A^T y>: relative error {err:.2e}")
    return 0


# scipy.sparse.linalg.lsqr's `istop` codes, in words.
_LSQR_STOP = {
    0: "x = 0 is the solution",
    1: "converged: residual small enough",
    2: "converged: least-squares solution",
    3: "stopped: condition number too large",
    4: "converged to machine precision",
    5: "converged to machine precision (least squares)",
    6: "stopped: condition number too large for machine precision",
    7: "iteration limit reached",
}


def main(argv=None) -> int:
    """Entry point of ``python -m linop``."""
    parser = argparse.ArgumentParser(prog="python -m linop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="deblur a synthetic image with lsqr on a traced NumPy model")
    demo.add_argument("--size", type=int, default=256, help="image size (pixels per side)")
    demo.add_argument("--iters", type=int, default=100, help="maximum lsqr iterations")
    demo.add_argument("--damp", type=float, default=0.02, help="lsqr damping (Tikhonov)")
    demo.add_argument("--noise", type=float, default=0.01, help="relative noise level")
    demo.add_argument("--sigma", type=float, default=2.0, help="blur width in pixels")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the noise")
    demo.add_argument("--plot", metavar="OUT.png", help="save a figure (needs matplotlib)")
    demo.add_argument("--ir", action="store_true",
                      help="print the IR of a small example instead of deblurring")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("demo", "-h", "--help"):
        argv = ["demo"] + argv  # the demo is the default command
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.size < 8:
            parser.error("--size must be at least 8")
        return demo_ir(args) if args.ir else demo_deblur(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
