"""Differential tests: ``linop.linear_transpose`` agrees with ``jax.linear_transpose``.

Each case is written once against an array namespace ``xp`` and run with
``numpy`` (for linop) and ``jax.numpy`` (for JAX). Values, dtypes and the tree
structure of the result must agree. Skipped when JAX is not installed.
"""
from __future__ import annotations

import numpy as np
import pytest

import linop
from linop.pytree import tree_flatten

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

rng = np.random.default_rng(7)
A = rng.standard_normal((3, 4))
Bc = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
MASK = rng.standard_normal((3, 4)) > 0

CASES = [
    ("spec_example", lambda xp, x, y: 0.5 * x - 0.5 * y, [(), ()]),
    ("matmul", lambda xp, x: xp.asarray(A) @ x, [(4, 2)]),
    ("matmul_complex", lambda xp, x: x @ xp.asarray(Bc), [(3, 4)]),
    ("sum_mean", lambda xp, x: xp.sum(x, axis=0) + xp.mean(x, axis=0), [(3, 4)]),
    ("transpose_reshape", lambda xp, x: xp.transpose(x).reshape(-1)[::2], [(3, 4)]),
    ("slices", lambda xp, x: x[1:, ::-2] * 3, [(3, 5)]),
    ("index_none", lambda xp, x: x[None, 1, :, None], [(3, 4)]),
    ("concatenate_stack", lambda xp, x, y: xp.concatenate([x, xp.stack([y, y])]), [(2, 3), (3,)]),
    ("einsum", lambda xp, x: xp.einsum("ij,kj->ik", x, xp.asarray(A)), [(2, 4)]),
    ("einsum_diag", lambda xp, x: xp.einsum("ii->i", x), [(4, 4)]),
    ("where", lambda xp, x, y: xp.where(xp.asarray(MASK), x, y), [(3, 4), (3, 4)]),
    ("real_imag_conj", lambda xp, x: xp.real(x) + 2 * xp.imag(x) + xp.real(xp.conj(x) * 1j), [(4,)]),
    ("astype_complex", lambda xp, x: x.astype(xp.complex128) * (1 + 2j), [(4,)]),
    ("kron", lambda xp, x: xp.kron(xp.asarray(A[:2, :2]), x), [(2, 3)]),
    ("tensordot", lambda xp, x: xp.tensordot(x, xp.asarray(A), axes=([0], [0])), [(3, 2)]),
    ("trace_diagonal", lambda xp, x: xp.trace(x) + xp.diagonal(x, 1).sum(), [(4, 4)]),
    ("flip_broadcast", lambda xp, x: xp.broadcast_to(xp.flip(x, 0), (2, 3, 4)), [(3, 4)]),
    ("swap_moveaxis", lambda xp, x: xp.moveaxis(xp.swapaxes(x, 0, 2), 0, 1), [(2, 3, 4)]),
    ("dict_out", lambda xp, x: {"a": x[0] * 2, "b": (x.sum(), x[1:])}, [(3,)]),
    ("dict_in", lambda xp, d: d["u"] @ xp.asarray(A) - d["v"], [{"u": (3,), "v": (4,)}]),
    ("unused", lambda xp, x, y: 2 * x, [(3,), (2,)]),
]

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


def _specs(spec, dtype):
    if isinstance(spec, dict):
        return {k: _specs(v, dtype) for k, v in spec.items()}
    return linop.ShapeDtype(spec, dtype)


def _jax_spec(s):
    if isinstance(s, dict):
        return {k: _jax_spec(v) for k, v in s.items()}
    return jax.ShapeDtypeStruct(s.shape, s.dtype)


def _real_only(name):
    return name in ("astype_complex",)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,fun,specs", CASES, ids=[c[0] for c in CASES])
def test_agrees_with_jax(name, fun, specs, dtype):
    if _real_only(name) and np.issubdtype(dtype, np.complexfloating):
        pytest.skip("real inputs only")
    if name == "real_imag_conj" and not np.issubdtype(dtype, np.complexfloating):
        pytest.skip("complex inputs only")
    primals = [_specs(s, dtype) for s in specs]
    ours = linop.linear_transpose(lambda *a: fun(np, *a), *primals)
    theirs = jax.linear_transpose(lambda *a: fun(jnp, *a), *[_jax_spec(p) for p in primals])
    out_leaves, out_tree = tree_flatten(ours.program.out_avals)
    ct_leaves = []
    for k, aval in enumerate(ours.program.out_avals):
        r = np.random.default_rng(k)
        v = r.standard_normal(aval.shape)
        if np.issubdtype(aval.dtype, np.complexfloating):
            v = v + 1j * r.standard_normal(aval.shape)
        ct_leaves.append(v.astype(aval.dtype))
    from linop.pytree import tree_unflatten

    ct = tree_unflatten(ours.program.out_tree, ct_leaves)
    got = ours(ct)
    want = theirs(jax.tree_util.tree_map(jnp.asarray, ct))
    g_leaves, g_tree = tree_flatten(got)
    w_leaves, w_tree = tree_flatten(jax.tree_util.tree_map(np.asarray, want))
    assert g_tree == w_tree
    tol = 1e-5 if np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64)) else 1e-12
    for g, w in zip(g_leaves, w_leaves):
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * max(1.0, np.abs(w).max(initial=0)))
