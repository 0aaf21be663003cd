r"""
The transpose of any NumPy code: ``linear_transpose`` and ``vmap``
==================================================================

``linop.linear_transpose(fun, *primals)`` has the semantics of ``jax.linear_transpose``, for
plain NumPy code: it traces ``fun`` once (from the primals' shapes and dtypes only) into a
program of linear primitives, transposes the program, and returns a function of one
cotangent that runs the transposed program, with no forward pass. This tutorial walks
through the specification's example, pytrees, the dtype rule, NumPy's in-place idioms (with
the program printed before and after transposing), and per-example transposes under
``linop.vmap`` with named axes and ``reduce_axes``.

Run ``python tutorials/transpose_numpy.py`` (``--small``, or ``LINOP_TUTORIAL_SMALL=1``, for
a quick run).
"""
import argparse
import collections
import os
import sys
import time
import types

import numpy as np

import linop
from linop.testing import check_transpose, dense_matrix

parser = argparse.ArgumentParser(description="The transpose of any NumPy code")
parser.add_argument("--small", action="store_true", help="small sizes (for tests)")
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
# The specification's example
# ---------------------------
# The primals may be any objects with ``shape`` and ``dtype``: only those are read. The
# transpose of ``(x, y) ↦ 0.5 x − 0.5 y`` maps a cotangent ``t`` to ``(0.5 t, −0.5 t)``,
# in the primals' dtype (``float32``), as a tuple shaped like the primals.

f = lambda x, y: 0.5 * x - 0.5 * y
scalar = types.SimpleNamespace(shape=(), dtype=np.dtype(np.float32))
f_transpose = linop.linear_transpose(f, scalar, scalar)
result = f_transpose(1.0)
print(result)
assert [r.dtype for r in result] == [np.float32, np.float32]
assert [float(r) for r in result] == [0.5, -0.5]

# %%
# Pytrees
# -------
# Inputs and outputs may be nested tuples, lists, dicts and namedtuples of arrays. The
# transpose takes a cotangent with the structure of the *output* and returns a tuple with
# one entry per primal, each with that primal's structure.

Signal = collections.namedtuple("Signal", ["values", "weights"])


def mix(signal, extra):
    """Linear in every leaf of both arguments."""
    return {"total": signal.values + 2 * signal.weights[::-1], "head": extra["a"][:2] - signal.values[1:3]}


primal = (Signal(np.zeros(4), np.zeros(4)), {"a": np.zeros(3)})
mix_t = linop.linear_transpose(mix, *primal)
cotangent = {"total": np.ones(4), "head": np.array([10.0, 20.0])}
signal_ct, extra_ct = mix_t(cotangent)
print(f"{type(signal_ct).__name__}: values {signal_ct.values}, weights {signal_ct.weights}; "
      f"extra {extra_ct}")
assert isinstance(signal_ct, Signal) and set(extra_ct) == {"a"}
np.testing.assert_array_equal(signal_ct.values, [1, -9, -19, 1])
np.testing.assert_array_equal(extra_ct["a"], [10, 20, 0])

# %%
# The dtype rule: the transpose returns exactly the primals' dtypes
# -----------------------------------------------------------------
# Even where that truncates. A real input multiplied by a complex constant gives a complex
# output; the transpose (for the real pairing ``Re(sum(a * b))``) keeps the **real part** of
# ``(1 + 2j) t``. A ``float32`` input promoted to ``float64`` inside the function gets a
# ``float32`` cotangent back, **rounded**. Use primals of the dtype you want back.

to_complex = linop.linear_transpose(lambda x: (1 + 2j) * x, np.zeros(2))
(real_ct,) = to_complex(np.array([1j, 1.0 + 0j]))
print(f"real input, complex output: transpose of [1j, 1] is {real_ct} ({real_ct.dtype})")
np.testing.assert_array_equal(real_ct, [-2.0, 1.0])

promoted = linop.linear_transpose(lambda x: x.astype(np.float64) / 3, np.zeros(2, np.float32))
(rounded,) = promoted(np.array([1.0, 2.0]))
print(f"float32 input, float64 output: transpose of [1, 2] is {rounded!r}")
assert rounded.dtype == np.float32 and rounded[0] == np.float32(1 / 3)

# %%
# In-place idioms, and the program before and after transposing
# -------------------------------------------------------------
# A finite-difference operator written the way NumPy code is written: a zero array filled by
# slice assignments, an in-place update at one end, a write through a view
# (``out[::2]`` is a view in NumPy, so scaling it scales ``out``) and an unbuffered
# ``np.add.at`` whose repeated index accumulates. Each write becomes a functional update in
# the program; transposing turns every slice into a padding, every update into a slice of
# the cotangent and the scatter-add into a gather.

m = 8


def stencil(u):
    out = np.zeros_like(u)
    out[1:-1] = u[2:] - 2 * u[1:-1] + u[:-2]         # interior second differences
    out[0] = u[1] - u[0]                             # one-sided at the ends
    out[-1] += u[-2] - u[-1]
    view = out[::2]                                  # a view: writing through it updates out
    view *= 0.5
    np.add.at(out, [0, 0, 3], u[:3])                 # index 0 twice: both values are added
    return out


program = linop.trace(stencil, np.zeros(m))
print("the traced program:")
print(program)
print("its transpose:")
print(linop.transpose(program))
error = check_transpose(stencil, np.zeros(m))
print(f"transpose against the dense matrix: relative error {error:.1e}")

matrix = dense_matrix(stencil, np.zeros(m))
stencil_t = linop.linear_transpose(stencil, np.zeros(m))
transpose_matrix = np.stack([stencil_t(e)[0] for e in np.eye(m)], axis=1)
assert np.array_equal(transpose_matrix, matrix.T)

# %%
# ``linop.vmap``: named axes, per-example data and ``reduce_axes``
# ----------------------------------------------------------------
# Least squares with per-example design matrices ``X_b`` and shared weights ``w``: the
# prediction ``w ↦ X_b w`` is linear in ``w`` with the data ``X_b`` as constants, and the
# gradient of ``½||X_b w − y_b||²`` is its transpose applied to the residual. Under
# ``linop.vmap(..., axis_name="batch")`` the data are per example; the transpose is then
# **per example** (one gradient per example, for per-example clipping, say), unless
# ``reduce_axes=("batch",)`` asks for the sum over the batch of the cotangents of ``w``, which
# the forward broadcast to every example (the batch gradient, returned once with
# ``out_axes=None``).

batch, features, rows = (16, 5, 4) if SMALL else (512, 20, 8)
rng = np.random.default_rng(5)
X = rng.standard_normal((batch, rows, features))
w_true = rng.standard_normal(features)
Y = X @ w_true + 0.1 * rng.standard_normal((batch, rows))
w0 = np.zeros(features)
residual = X @ w0 - Y                                   # at w0 the residuals are -Y


def per_example_gradient(x, r):
    return linop.linear_transpose(lambda w: x @ w, w0)(r)[0]


def batch_gradient(x, r):
    return linop.linear_transpose(lambda w: x @ w, w0, reduce_axes=("batch",))(r)[0]


start = time.perf_counter()
grads = linop.vmap(per_example_gradient, axis_name="batch")(X, residual)
total = linop.vmap(batch_gradient, axis_name="batch", out_axes=None)(X, residual)
seconds = time.perf_counter() - start
print(f"{batch} examples of {rows}x{features}: per-example gradients {grads.shape}, "
      f"batch gradient {total.shape} ({1e3 * seconds:.1f} ms)")
np.testing.assert_allclose(grads, np.einsum("brf,br->bf", X, residual), rtol=1e-12, atol=1e-12)
np.testing.assert_allclose(total, np.einsum("brf,br->f", X, residual), rtol=1e-12, atol=1e-12)

# %%
# A name that no enclosing ``vmap`` binds is almost always a typo: linop raises
# ``linop.UnboundAxisError`` where JAX would silently sum nothing.


def typo(x, r):
    return linop.linear_transpose(lambda w: x @ w, w0, reduce_axes=("bacth",))(r)[0]


try:
    linop.vmap(typo, axis_name="batch", out_axes=None)(X, residual)
except linop.UnboundAxisError as exc:
    print(f"UnboundAxisError: {str(exc).splitlines()[0]}")
else:
    raise AssertionError("an unbound axis name must raise")

# %%
# The matrices
# ------------
# The stencil's matrix (from its action on a basis), the matrix of its transpose (from
# ``linear_transpose``), and the per-example gradients with their sum.

if plt is not None:
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
    limit = np.abs(matrix).max()
    for ax, (title, image) in zip(axes[:2], [("stencil", matrix), ("linear_transpose(stencil)", transpose_matrix)]):
        ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("input index")
        ax.set_ylabel("output index")
    shown = min(batch, 32)
    axes[2].plot(grads[:shown, :min(features, 6)], ".", alpha=0.6)
    axes[2].set_prop_cycle(None)
    axes[2].plot(np.full((2, min(features, 6)), [[0], [shown - 1]]),
                 np.tile(total[:min(features, 6)] / batch, (2, 1)), "-")
    axes[2].set_xlabel("example")
    axes[2].set_title("per-example gradients (dots), mean (lines)", fontsize=10)
    if matplotlib.get_backend().lower() != "agg":
        plt.show()
