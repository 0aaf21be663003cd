"""Property-based tests: random chains of supported NumPy operations."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import linop
from linop.testing import check_transpose

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _slice(draw, n):
    start = draw(st.integers(-n, n))
    stop = draw(st.integers(-n - 1, n + 1))
    step = draw(st.sampled_from([1, 2, 3, -1, -2]))
    return slice(start, stop, step)


def _op(draw, shape, dtype):
    """Draw one operation valid for an array of ``shape``; return (name, function)."""
    nd = len(shape)
    choices = ["scale", "neg", "transpose", "flip", "reshape", "slice", "sum", "matmul",
               "concat", "broadcast", "where", "einsum_perm", "add_self", "index_int"]
    if np.issubdtype(dtype, np.complexfloating):
        choices += ["conj", "real_imag"]
    else:
        choices += ["to_complex"]
    name = draw(st.sampled_from(choices))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if name == "scale":
        c = rng.standard_normal(shape[-1:] if nd else ())
        return name, lambda x: x * c
    if name == "neg":
        return name, lambda x: -x
    if name == "transpose":
        return name, lambda x: x.T
    if name == "flip" and nd:
        ax = draw(st.integers(-nd, nd - 1))
        return name, lambda x: np.flip(x, ax)
    if name == "reshape" and nd:
        return name, lambda x: x.reshape(-1)
    if name == "slice" and nd and shape[0] > 0:
        sl = _slice(draw, shape[0])
        return name, lambda x: x[sl]
    if name == "sum" and nd:
        ax = draw(st.integers(-nd, nd - 1))
        keep = draw(st.booleans())
        return name, lambda x: x.sum(axis=ax, keepdims=keep)
    if name == "matmul" and nd:
        m = rng.standard_normal((draw(st.integers(1, 4)), shape[-1] if nd else 1))
        return name, lambda x: x @ m.T
    if name == "concat" and nd:
        return name, lambda x: np.concatenate([x, 2 * x], axis=-1)
    if name == "broadcast":
        return name, lambda x: np.broadcast_to(x, (2,) + tuple(shape))
    if name == "where" and nd:
        m = rng.standard_normal(shape) > 0
        return name, lambda x: np.where(m, x, -x)
    if name == "einsum_perm" and nd >= 2:
        return name, lambda x: np.einsum("ij...->ji...", x)
    if name == "add_self" and nd:
        return name, lambda x: x + x[::-1]
    if name == "index_int" and nd and shape[0] > 0:
        i = draw(st.integers(-shape[0], shape[0] - 1))
        return name, lambda x: x[i]
    if name == "conj":
        return name, np.conj
    if name == "real_imag":
        return name, lambda x: x.real - 2 * x.imag
    if name == "to_complex":
        return name, lambda x: x.astype(np.complex128) * (1 + 1j)
    return "neg", lambda x: -x


@st.composite
def chains(draw):
    dtype = draw(st.sampled_from([np.float64, np.complex128]))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    ops = []
    probe = np.zeros(shape, dtype)
    for _ in range(draw(st.integers(1, 6))):
        if probe.size == 0 or probe.size > 200:
            break
        name, op = _op(draw, probe.shape, probe.dtype)
        ops.append((name, op))
        probe = np.asarray(op(probe))
    return shape, dtype, ops


def _compose(ops):
    def fun(x):
        for _, op in ops:
            x = op(x)
        return x
    return fun


@SETTINGS
@given(chains())
def test_random_chain_matches_numpy_and_dense_oracle(chain):
    shape, dtype, ops = chain
    fun = _compose(ops)
    spec = linop.ShapeDtype(shape, dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    program = linop.trace(fun, spec)
    want = np.asarray(fun(x))
    got = program(x)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    check_transpose(fun, spec)
    twice = linop.transpose(linop.transpose(program))
    np.testing.assert_allclose(twice(x), want, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), st.data())
def test_random_basic_indexing(shape, data):
    index = []
    for n in shape:
        kind = data.draw(st.sampled_from(["int", "slice", "none", "all"]))
        if kind == "int":
            index.append(data.draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            index.append(_slice(data.draw, n))
        elif kind == "none":
            index.extend([None, slice(None)])
        else:
            index.append(Ellipsis if Ellipsis not in index else slice(None))
    index = tuple(index)
    fun = lambda x: x[index]
    spec = linop.ShapeDtype(shape, np.float64)
    x = np.arange(np.prod(shape), dtype=float).reshape(shape)
    np.testing.assert_array_equal(linop.trace(fun, spec)(x), x[index])
    check_transpose(fun, spec)

    def write(x):
        y = np.zeros_like(x)
        y[index] = 2 * x[index]
        return y

    np.testing.assert_array_equal(linop.trace(write, spec)(x), write(x))
    check_transpose(write, spec)
