r"""
Your own primitive: a recursive filter with ``linop.custom_linear``
===================================================================

Some linear kernels are not NumPy expressions: here, an *edge-aware recursive filter*, the
first-order recursion

.. math::

    y_0 = b_0 x_0, \qquad y_i = a_i \, y_{i-1} + b_i \, x_i \quad (b_i = 1 - a_i),

whose coefficients ``a_i`` change from sample to sample (small across the edges of a guide
image, so that it smooths along structures but not across them; the recursive form of the
domain-transform filter of Gastal and Oliveira, 2011). ``scipy.signal.lfilter`` needs constant
coefficients, and a loop over samples on traced arrays would record one equation per sample.

``linop.custom_linear`` makes the loop one primitive: you write the function on arrays and its
transpose, ``.check()`` dot-tests the pair, and the primitive then composes with everything
linop traces (NumPy code around it, ``aslinearoperator``, ``vmap``, blocks, solvers).

Run ``python tutorials/custom_primitive.py`` (``--small``, or ``LINOP_TUTORIAL_SMALL=1``, for a
quick run).
"""
import argparse
import os
import sys

import numpy as np

import linop
from linop import solvers
from linop.testing import DotTestError

parser = argparse.ArgumentParser(description="Your own primitive: a recursive filter")
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

# %%
# The kernel and its transpose
# ----------------------------
# The recursion runs along axis 0 (vectorised over the other axis). Written as a matrix,
# ``y = (I - S_a)^{-1} diag(b) x`` where ``(S_a y)_i = a_i y_{i-1}``; so the transpose is
# ``diag(b) (I - S_a)^{-T}``: the recursion runs **backwards**, and sample ``j`` receives
# ``a_{j+1} z_{j+1}`` (the coefficient of the *next* sample). The coefficients are a keyword
# argument: a constant of the primitive, passed unchanged to both functions. The ``out`` rule
# gives the output's shape and dtype without calling the kernel.


def same_shape(x, **params):
    return linop.ShapeDtype(x.shape, x.dtype)


@linop.custom_linear(out=same_shape)
def recursive_filter(x, *, a):
    """Causal first-order recursion along axis 0 with per-sample coefficients ``a``."""
    b = 1 - a
    y = np.empty_like(x)
    y[0] = b[0] * x[0]
    for i in range(1, x.shape[0]):
        y[i] = a[i] * y[i - 1] + b[i] * x[i]
    return y


@recursive_filter.def_transpose
def recursive_filter_t(ct, *, a):
    """The transpose: the anti-causal recursion, with the next sample's coefficient."""
    z = np.empty_like(ct)
    z[-1] = ct[-1]
    for j in range(ct.shape[0] - 2, -1, -1):
        z[j] = ct[j] + a[j + 1] * z[j + 1]
    return (1 - a) * z


n = 40 if SMALL else 128
rng = np.random.default_rng(4)
a_example = rng.uniform(0.2, 0.95, size=(n, n))
print(f"recursive_filter: dot test {recursive_filter.check(np.zeros((n, n)), a=a_example):.1e} "
      f"(real and complex inputs)")

# %%
# What a wrong transpose looks like
# ---------------------------------
# The index shift is easy to get wrong: here the transpose uses ``a_j`` where it should use
# ``a_{j+1}``. With **constant** coefficients the two are the same matrix, and the dot test
# passes; with varying coefficients it fails, and ``.check()`` says by how much. Test with
# the general case.


@linop.custom_linear(out=same_shape)
def filter_with_bug(x, *, a):
    return recursive_filter(x, a=a)


@filter_with_bug.def_transpose
def filter_with_bug_t(ct, *, a):
    z = np.empty_like(ct)
    z[-1] = ct[-1]
    for j in range(ct.shape[0] - 2, -1, -1):
        z[j] = ct[j] + a[j] * z[j + 1]              # the bug: a[j] instead of a[j + 1]
    return (1 - a) * z


constant = np.full((n, n), 0.8)
print(f"wrong transpose, constant coefficients: dot test "
      f"{filter_with_bug.check(np.zeros((n, n)), a=constant):.1e} (passes: the bug is invisible)")
try:
    filter_with_bug.check(np.zeros((n, n)), a=a_example)
except DotTestError as error:
    message = str(error)
    print(f"wrong transpose, varying coefficients:\n  DotTestError: {message}")
else:
    raise AssertionError("the dot test must catch the wrong transpose")

# %%
# The same failure through an operator: ``linop.dottest(A, raise_error=False)`` returns the
# relative error of ``<A x, y>`` against ``<x, A^H y>`` (rounding, ~1e-16, for a correct
# adjoint). Each line below is a model built from one of the two primitives.

good_error = linop.dottest(linop.aslinearoperator(lambda x: recursive_filter(x, a=a_example),
                                                  np.zeros((n, n))))
bad_error = linop.dottest(linop.aslinearoperator(lambda x: filter_with_bug(x, a=a_example),
                                                 np.zeros((n, n))), raise_error=False)
print(f"operator dot test: correct transpose {good_error:.1e}, wrong transpose {bad_error:.1e}")
assert good_error < 1e-12 and bad_error > 1e-3

# %%
# An edge-aware smoother in NumPy around the primitive
# ----------------------------------------------------
# A smoothing pass along one axis is the causal filter followed by the same filter run
# backwards (on the reversed signal, ``u[::-1]``, with the coefficients of the reversed
# couplings); along the other axis we transpose the image with ``.T``. The coefficients come
# from a *guide* image (say, an anatomical scan that shows where the edges are):
# ``a_i = a_0^{1 + k |g_i - g_{i-1}|}``, nearly zero across an edge. linop traces the NumPy
# code around the primitive and transposes it with the primitive's own transpose.


def truth_and_guide(n):
    """A smooth background with two objects; the guide knows only where the objects are."""
    y, x = np.mgrid[0:1:n * 1j, 0:1:n * 1j]
    disc = (x - 0.35) ** 2 + (y - 0.4) ** 2 < 0.06
    box = (abs(x - 0.72) < 0.12) & (abs(y - 0.7) < 0.2)
    image = 0.3 + 0.4 * x + 0.1 * np.sin(6 * y)
    image[disc] = 1.0 + 0.1 * np.sin(6 * y[disc])
    image[box] = 0.05
    return image, 0.5 * disc + 1.0 * box


def coefficients(guide, a0=0.8, k=40.0):
    """Coefficients along axis 0 for both passes: causal, and anti-causal (reversed order)."""
    jumps = np.abs(np.diff(guide, axis=0, prepend=guide[:1]))
    causal = a0 ** (1 + k * jumps)
    return causal, np.roll(causal[::-1], 1, axis=0)


def smooth_axis0(u, a):
    causal, anticausal = a
    u = recursive_filter(u, a=causal)
    return recursive_filter(u[::-1], a=anticausal)[::-1]


def smoother(u, a_rows, a_cols):
    return smooth_axis0(smooth_axis0(u, a_rows).T, a_cols).T


truth, guide = truth_and_guide(n)
a_rows, a_cols = coefficients(guide), coefficients(guide.T)


print(linop.trace(lambda u: smoother(u, a_rows, a_cols), np.zeros((n, n))))

# %%
# Inpainting from a quarter of the pixels
# ---------------------------------------
# The data are 25% of the pixels, noisy. We look for the image as a smoothed field,
# ``x = S u``, and fit ``min ||M S u - d||² + damp² ||u||²`` with LSQR: once with the
# edge-aware smoother (coefficients from the guide), once with a plain one (constant
# coefficients, which smooths across the edges).

observed = rng.random((n, n)) < 0.25
data = truth[observed] + 0.02 * rng.standard_normal(observed.sum())


def reconstruct(a_rows, a_cols):
    A = linop.aslinearoperator(lambda u: smoother(u, a_rows, a_cols)[observed], np.zeros((n, n)))
    linop.dottest(A)
    u = solvers.lsqr(A, data, damp=1e-2, iter_lim=300)[0]
    return smoother(u.reshape(n, n), a_rows, a_cols)


def relative_error(image):
    return np.linalg.norm(image - truth) / np.linalg.norm(truth)


plain = coefficients(np.zeros((n, n)))
results = {"plain smoother": reconstruct(plain, plain), "edge-aware smoother": reconstruct(a_rows, a_cols)}
for name, image in results.items():
    print(f"{name:<20} relative error {relative_error(image):.3f}")
assert relative_error(results["edge-aware smoother"]) < 0.8 * relative_error(results["plain smoother"])

# %%
# The images
# ----------

if plt is not None:
    fig, axes = plt.subplots(1, 5, figsize=(13, 3.0), layout="constrained")
    samples = np.full((n, n), np.nan)
    samples[observed] = data
    panels = [("truth", truth), ("guide (edges)", guide), ("data: 25% of the pixels", samples)]
    panels += [(f"{name} ({relative_error(image):.3f})", image) for name, image in results.items()]
    for ax, (title, image) in zip(axes, panels):
        ax.imshow(image, cmap="viridis", vmin=0, vmax=1.1)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    if matplotlib.get_backend().lower() != "agg":
        plt.show()
