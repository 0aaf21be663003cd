"""
Deconvolving a 3-D volume on a Dask cluster
===========================================

The forward model is plain NumPy: a Gaussian blur applied in the Fourier domain. linop
traces it once into a program and derives the adjoint; the same program then runs on
**Dask arrays**, block by block, on a ``distributed`` cluster (here two workers on this
machine, over the loopback interface). ``linop.solvers.cgls`` keeps every vector of the
least-squares solve on the cluster, persisting each iteration so that the task graph stays
as small in the last iteration as in the first; the result matches the NumPy solve.

Run ``python tutorials/dask_deconvolution.py`` (``--small``, or ``LINOP_TUTORIAL_SMALL=1``, for
a quick run).
"""
import argparse
import os
import time

import numpy as np

import linop
from linop import solvers


def phantom(n):
    """Two boxes and a ball in an ``n³`` volume."""
    z, y, x = np.mgrid[0:1:n * 1j, 0:1:n * 1j, 0:1:n * 1j]
    volume = ((abs(x - 0.3) < 0.15) & (abs(y - 0.5) < 0.3) & (abs(z - 0.5) < 0.2)).astype(float)
    volume += 0.5 * (((x - 0.7) ** 2 + (y - 0.4) ** 2 + (z - 0.5) ** 2) < 0.02)
    return volume


def gaussian_transfer(n, width):
    """The half-spectrum transfer function of a Gaussian blur of ``width`` voxels."""
    f = np.fft.fftfreq(n)
    h = np.fft.rfftfreq(n)
    r2 = f[:, None, None] ** 2 + f[None, :, None] ** 2 + h[None, None, :] ** 2
    return np.exp(-2 * (np.pi * width) ** 2 * r2)


def make_blur(n, width=2.0):
    transfer = gaussian_transfer(n, width)

    def blur(volume):
        """The forward model, in plain NumPy."""
        return np.fft.irfftn(np.fft.rfftn(volume) * transfer, s=volume.shape, axes=(0, 1, 2))

    return blur


def main(n, iterations, small=False):
    import dask.array as da
    import distributed

    blur = make_blur(n)
    truth = phantom(n)
    rng = np.random.default_rng(0)
    data = blur(truth) + 0.01 * rng.standard_normal(truth.shape)
    A = linop.aslinearoperator(blur, np.zeros(truth.shape))

    start = time.perf_counter()
    x_numpy = solvers.cgls(A, data.ravel(), damp=0.05, iter_lim=iterations)[0]
    numpy_time = time.perf_counter() - start

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        # slabs of the volume: the flat vector cut at whole z-planes
        b = da.from_array(data.ravel(), chunks=n * n * max(1, n // 4))
        start = time.perf_counter()
        x_dask, istop, itn, rnorm, snorm = solvers.cgls(
            A, b, damp=0.05, iter_lim=iterations,
            progress=None if small else solvers.print_progress)
        x_dask = x_dask.compute()
        dask_time = time.perf_counter() - start

    difference = np.linalg.norm(x_dask - x_numpy) / np.linalg.norm(x_numpy)
    error = np.linalg.norm(x_dask - truth.ravel()) / np.linalg.norm(truth)
    print(f"{n}^3 volume, {itn} CGLS iterations (istop={istop}): NumPy {numpy_time:.2f} s, "
          f"Dask on 2 workers {dask_time:.2f} s")
    print(f"Dask vs NumPy solution: relative difference {difference:.2e}")
    print(f"reconstruction error {error:.3f} (blurred data: "
          f"{np.linalg.norm(data - truth) / np.linalg.norm(truth):.3f})")
    _figure(truth, data, x_dask.reshape(truth.shape))
    return {"difference": difference, "error": error,
            "data_error": np.linalg.norm(data - truth) / np.linalg.norm(truth)}


def _figure(truth, data, solution):
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return
    middle = truth.shape[0] // 2
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    for ax, image, title in zip(axes, [truth, data, solution],
                                ["truth", "blurred + noise", "CGLS on Dask"]):
        ax.imshow(image[middle], cmap="gray")
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    plt.show()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Deconvolving a 3-D volume on a Dask cluster")
    parser.add_argument("--small", action="store_true", help="a 24^3 volume, a few iterations")
    if parser.parse_args().small or os.environ.get("LINOP_TUTORIAL_SMALL") == "1":
        main(24, 6, small=True)
    else:
        main(96, 30)
