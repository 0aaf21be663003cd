"""``linop.vmap`` over per-example data: the batching interpretation (linop.batched).

Every value is checked against an explicit Python loop over the examples (and
its sum where ``reduce_axes`` names the axis), in float64 and complex128, and
the transposes' dtypes against the primals'.
"""
from __future__ import annotations

import numpy as np
import pytest

import linop
from linop.batched import BatchedArray

RNG = np.random.default_rng(11)
B = 5


def rand(shape, dtype=np.float64, rng=RNG):
    x = rng.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)


# -- the per-example linear maps: (name, forward f(data, w), data shape, w shape, out shape) ------
def scale(x, w):
    return x * w


def matrix(m, w):
    return m @ w


def fft_mask(mask, w):
    return np.fft.ifft(mask * np.fft.fft(w))


def masked_diff(mask, w):
    return np.where(mask > 0, w[1:] - w[:-1], 0)


def weighted_sum(x, w):
    return np.sum(x * w[None, :], axis=1)


def conv_matrix(k, w):
    return np.einsum("ij,j->i", k, w)


MAPS = [
    ("scale", scale, (4,), (4,)),
    ("matrix", matrix, (3, 4), (4,)),
    ("fft_mask", fft_mask, (8,), (8,)),
    ("masked_diff", masked_diff, (5,), (6,)),
    ("weighted_sum", weighted_sum, (3, 4), (4,)),
    ("einsum", conv_matrix, (3, 4), (4,)),
]
DTYPES = [np.float64, np.complex128]


def out_shape(f, data_shape, w_shape, dtype):
    return np.shape(f(np.ones(data_shape), np.ones(w_shape, dtype)))


def out_dtype(f, data_shape, w_shape, dtype):
    return np.asarray(f(np.ones(data_shape), np.ones(w_shape, dtype))).dtype


def loop_transposes(f, data, w0, cts):
    return np.stack([linop.linear_transpose(lambda w: f(d, w), w0)(ct)[0]
                     for d, ct in zip(data, cts)])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,f,dshape,wshape", MAPS, ids=[m[0] for m in MAPS])
def test_per_example_transpose_equals_a_loop(name, f, dshape, wshape, dtype):
    data = rand((B,) + dshape)
    w0 = np.zeros(wshape, dtype)
    cts = rand((B,) + out_shape(f, dshape, wshape, dtype), out_dtype(f, dshape, wshape, dtype))
    loop = loop_transposes(f, data, w0, cts)

    def per_example(d, ct):
        return linop.linear_transpose(lambda w: f(d, w), w0)(ct)[0]
    got = linop.vmap(per_example, axis_name="batch")(data, cts)
    assert got.dtype == w0.dtype and got.shape == loop.shape
    close(got, loop)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,f,dshape,wshape", MAPS, ids=[m[0] for m in MAPS])
def test_reduce_axes_sums_per_example_transposes(name, f, dshape, wshape, dtype):
    data = rand((B,) + dshape)
    w0 = np.zeros(wshape, dtype)
    cts = rand((B,) + out_shape(f, dshape, wshape, dtype), out_dtype(f, dshape, wshape, dtype))
    total = loop_transposes(f, data, w0, cts).sum(0)

    def per_example(d, ct):
        return linop.linear_transpose(lambda w: f(d, w), w0, reduce_axes=("batch",))(ct)[0]
    once = linop.vmap(per_example, axis_name="batch", out_axes=None)(data, cts)
    assert once.shape == wshape and once.dtype == w0.dtype
    close(once, total)
    broadcast = linop.vmap(per_example, axis_name="batch")(data, cts)
    close(broadcast, np.broadcast_to(total, (B,) + wshape))


def test_the_issue_example():
    X, CT, w0 = rand((B, 4)), rand((B, 4)), np.zeros(4)

    def per_example(x, ct):
        f = lambda w: x * w
        return linop.linear_transpose(f, w0, reduce_axes=("batch",))(ct)[0]
    got = linop.vmap(per_example, axis_name="batch", out_axes=None)(X, CT)
    np.testing.assert_allclose(got, sum(x * ct for x, ct in zip(X, CT)))


def test_other_axis_names_keep_per_example_transposes():
    X, CT, w0 = rand((B, 4)), rand((B, 4)), np.zeros(4)

    def per_example(x, ct):
        return linop.linear_transpose(lambda w: x * w, w0, reduce_axes=("other",))(ct)[0]
    np.testing.assert_allclose(linop.vmap(per_example, axis_name="batch")(X, CT), X * CT)
    with pytest.raises(ValueError, match="depends on the batch"):
        linop.vmap(per_example, axis_name="batch", out_axes=None)(X, CT)


def test_mixed_mapped_and_unmapped_primals():
    # f(w, v) = M_b @ w + d_b * v: w is shared (summed), v is mapped (per example)
    M, D, CT = rand((B, 3, 4)), rand((B, 3)), rand((B, 3))
    w0 = np.zeros(4)

    def per_example(m, d, v, ct):
        return linop.linear_transpose(lambda w, v: m @ w + d * v, w0, v,
                                      reduce_axes=("batch",))(ct)
    gw, gv = linop.vmap(per_example, axis_name="batch", out_axes=(None, 0))(M, D, np.zeros((B, 3)), CT)
    np.testing.assert_allclose(gw, sum(m.T @ ct for m, ct in zip(M, CT)))
    np.testing.assert_allclose(gv, D * CT)


def test_unmapped_cotangent_is_shared_by_every_example():
    X, w0, ct = rand((B, 4)), np.zeros(4), rand(4)

    def per_example(x):
        return linop.linear_transpose(lambda w: x * w, w0)(ct)[0]
    np.testing.assert_allclose(linop.vmap(per_example)(X), X * ct)

    def summed(x):
        return linop.linear_transpose(lambda w: x * w, w0, reduce_axes=("b",))(ct)[0]
    np.testing.assert_allclose(linop.vmap(summed, axis_name="b", out_axes=None)(X), X.sum(0) * ct)


def test_output_independent_of_the_data_keeps_its_own_cotangent():
    # second output does not see the per-example data: its cotangent is per example too
    X, C1, C2, w0 = rand((B, 4)), rand((B, 4)), rand((B, 4)), np.zeros(4)

    def per_example(x, c1, c2):
        return linop.linear_transpose(lambda w: (x * w, w[::-1]), w0)((c1, c2))[0]
    got = linop.vmap(per_example)(X, C1, C2)
    np.testing.assert_allclose(got, X * C1 + C2[:, ::-1])

    def summed(x, c1, c2):
        return linop.linear_transpose(lambda w: (x * w, w[::-1]), w0, reduce_axes=("b",))((c1, c2))[0]
    got = linop.vmap(summed, axis_name="b", out_axes=None)(X, C1, C2)
    np.testing.assert_allclose(got, (X * C1 + C2[:, ::-1]).sum(0))


def test_in_axes_and_out_axes_other_than_zero():
    X, CT, w0 = rand((4, B)), rand((B, 4)), np.zeros(4)

    def per_example(x, ct):
        return linop.linear_transpose(lambda w: x * w, w0)(ct)[0]
    got = linop.vmap(per_example, in_axes=(1, 0), out_axes=1)(X, CT)
    np.testing.assert_allclose(got, (X.T * CT).T)


def test_pytree_arguments_and_outputs():
    data = {"m": rand((B, 3, 4)), "s": rand((B, 3))}
    CT = rand((B, 3))
    primals = {"w": np.zeros(4), "u": np.zeros(3)}

    def per_example(d, ct):
        f = lambda p: d["m"] @ p["w"] + d["s"] * p["u"]
        return linop.linear_transpose(f, primals)(ct)[0]
    got = linop.vmap(per_example, in_axes=({"m": 0, "s": 0}, 0))(data, CT)
    np.testing.assert_allclose(got["w"], np.einsum("bij,bi->bj", data["m"], CT))
    np.testing.assert_allclose(got["u"], data["s"] * CT)


@pytest.mark.parametrize("dtype,primal", [(np.float32, np.float32), (np.complex64, np.float32),
                                          (np.complex128, np.float64)],
                         ids=["float32", "complex64-to-float32", "complex128-to-float64"])
def test_transposes_have_the_primal_dtype(dtype, primal):
    X, CT, w0 = rand((B, 4), dtype), rand((B, 4), dtype), np.zeros(4, primal)

    def per_example(x, ct):
        return linop.linear_transpose(lambda w: x * w, w0)(ct)[0]
    got = linop.vmap(per_example)(X, CT)
    assert got.dtype == primal
    want = np.stack([linop.linear_transpose(lambda w: x * w, w0)(ct)[0] for x, ct in zip(X, CT)])
    assert want.dtype == primal
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_nested_vmaps_with_two_named_axes():
    X, CT, w0 = rand((2, 3, 4)), rand((2, 3, 4)), np.zeros(4)

    def inner(reduce_axes):
        def per_example(x, ct):
            return linop.linear_transpose(lambda w: x * w, w0, reduce_axes=reduce_axes)(ct)[0]
        return per_example

    def run(reduce_axes, out_inner=0, out_outer=0):
        f = linop.vmap(inner(reduce_axes), axis_name="inner", out_axes=out_inner)
        return linop.vmap(f, axis_name="outer", out_axes=out_outer)(X, CT)
    prod = X * CT
    np.testing.assert_allclose(run(()), prod)
    np.testing.assert_allclose(run(("inner",)), np.broadcast_to(prod.sum(1, keepdims=True), prod.shape))
    np.testing.assert_allclose(run(("outer",)), np.broadcast_to(prod.sum(0), prod.shape))
    np.testing.assert_allclose(run(("inner", "outer"), None, None), prod.sum((0, 1)))
    np.testing.assert_allclose(run(("inner",), None), prod.sum(1))


def test_nested_vmap_data_mapped_by_the_outer_axis_only():
    # x varies over the outer axis, ct over both
    X, CT, w0 = rand((2, 4)), rand((2, 3, 4)), np.zeros(4)

    def per_example(x, ct):
        return linop.linear_transpose(lambda w: x * w, w0, reduce_axes=("inner",))(ct)[0]
    f = linop.vmap(per_example, in_axes=(None, 0), axis_name="inner", out_axes=None)
    got = linop.vmap(f, axis_name="outer")(X, CT)
    np.testing.assert_allclose(got, X * CT.sum(1))
    g = linop.vmap(lambda x, ct: linop.linear_transpose(lambda w: x * w, w0)(ct)[0],
                   in_axes=(None, 0), axis_name="inner")
    np.testing.assert_allclose(linop.vmap(g, axis_name="outer")(X, CT), X[:, None, :] * CT)


def test_linear_inner_vmap_of_per_example_values_is_one_batched_program():
    X = rand((B, 3, 4))
    diff = lambda a: a[1:] - a[:-1]
    got = linop.vmap(lambda x: linop.vmap(diff)(x * x))(X)
    close(got, np.stack([np.stack([diff(r) for r in x * x]) for x in X]))


def test_reduce_over_an_enclosing_traced_vmap_axis():
    # outer vmap traced (linear in ct), inner vmap over per-example data X
    X, CTS, w0 = rand((B, 4)), rand((2, B, 4)), np.zeros(4)

    def per_example(x, ct):
        return linop.linear_transpose(lambda w: x * w, w0, reduce_axes=("outer",))(ct)[0]
    inner = linop.vmap(per_example, axis_name="inner")
    got = linop.vmap(lambda ct: inner(X, ct), axis_name="outer")(CTS)
    close(got, np.broadcast_to((X * CTS).sum(0), CTS.shape))


def test_per_example_transposes_as_a_linear_operator():
    # the cotangent is the traced input of an outer trace: one program for the whole batch
    X, w0 = rand((B, 4)), np.zeros(4)

    def grads(CT):
        return linop.vmap(lambda x, ct: linop.linear_transpose(lambda w: x * w, w0)(ct)[0])(X, CT)
    p = linop.trace(grads, np.zeros((B, 4)))
    CT = rand((B, 4))
    np.testing.assert_allclose(p(CT), X * CT)
    (back,) = linop.linear_transpose(grads, np.zeros((B, 4)))(CT)
    np.testing.assert_allclose(back, X * CT)


# -- data-only functions and the batched value -------------------------------------------------------
DATA_FUNCTIONS = [
    ("ufuncs", lambda x: np.sin(x) * 2 + x ** 2),
    ("indexing", lambda x: x[1:, ::2] - x[:-1, 1::2]),
    ("advanced_indexing", lambda x: x[[0, 2]]),
    ("reductions", lambda x: (x.sum(), np.mean(x, axis=0), x.max(axis=1))),
    ("linalg", lambda x: np.linalg.solve(x @ x.T + 3 * np.eye(3), x[:, 0])),
    ("control_free_where", lambda x: np.where(x > 0, x, -x)),
    ("shape", lambda x: (np.reshape(x, (-1,)), x.T, np.moveaxis(x, 0, 1), x.ravel())),
    ("fft", lambda x: np.fft.rfft(x, axis=0)),
    ("copy_then_write", lambda x: _write(x.copy())),
    ("zeros_like_then_write", lambda x: _write_into(np.zeros_like(x), x)),
]


def _write(y):
    y[0] = 7.0
    y[1:, 1] *= 2
    return y


def _write_into(y, x):
    y[1:] = x[:-1]
    return y


@pytest.mark.parametrize("name,fun", DATA_FUNCTIONS, ids=[d[0] for d in DATA_FUNCTIONS])
def test_data_functions_equal_a_loop(name, fun):
    X = rand((B, 3, 4))
    before = X.copy()
    got = linop.vmap(fun)(X)
    want = [fun(x) for x in X]
    flat_got = got if isinstance(got, tuple) else (got,)
    flat_want = [w if isinstance(w, tuple) else (w,) for w in want]
    for k, g in enumerate(flat_got):
        np.testing.assert_allclose(g, np.stack([w[k] for w in flat_want]), rtol=1e-12)
    np.testing.assert_array_equal(X, before)  # the caller's array is never written


MATMUL_SHAPES = [((3, 4), (4,)), ((4,), (4, 3)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                 ((3, 4), (2, 4, 5)), ((4,), (2, 4, 5)), ((2, 3, 4), (4,))]


@pytest.mark.parametrize("mapped", ["a", "b", "ab"])
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul_of_per_example_data_equals_a_loop(sa, sb, mapped):
    A = rand(((B,) if "a" in mapped else ()) + sa)
    M = rand(((B,) if "b" in mapped else ()) + sb)
    in_axes = (0 if "a" in mapped else None, 0 if "b" in mapped else None)
    f = lambda a, b: np.tanh(a) @ np.tanh(b)  # not linear: the batching interpretation
    got = linop.vmap(f, in_axes=in_axes)(A, M)
    want = np.stack([f(A[i] if "a" in mapped else A, M[i] if "b" in mapped else M)
                     for i in range(B)])
    close(got, want)


@pytest.mark.parametrize("side", ["left", "right"])
def test_matmul_with_a_linear_value_is_one_batched_equation(side):
    M, CT = rand((B, 4, 4)), rand((B, 4))

    def per_example(m, ct):
        f = (lambda w: m @ w) if side == "left" else (lambda w: w @ m)
        lt = linop.linear_transpose(f, np.zeros(4))
        return lt(ct)[0], lt
    got, lt = linop.vmap(per_example, out_axes=(0, None))(M, CT)
    want = np.einsum("bij,bi->bj" if side == "left" else "bji,bi->bj", M, CT)
    close(got, want)
    names = [e.prim.name for e in lt.program.eqns]
    assert names.count("dot") == 1 and len(names) <= 5, lt.program  # not one per example


def test_writes_inside_a_linear_function_of_per_example_data():
    X, CT = rand((B, 4)), rand((B, 4))

    def per_example(x, ct):
        def f(w):
            y = np.zeros_like(x * w)
            y[...] = x * w
            y[1:] += w[:-1]
            np.multiply(y, 2.0, out=y)
            return y
        return linop.linear_transpose(f, np.zeros(4))(ct)[0]
    want = []
    for x, ct in zip(X, CT):
        g = 2 * x * ct
        g[:-1] += 2 * ct[1:]
        want.append(g)
    close(linop.vmap(per_example)(X, CT), np.stack(want))


def test_integer_and_boolean_data_are_allowed():
    idx = np.array([[0, 2], [1, 1], [2, 0]])
    X = rand((3, 4))
    got = linop.vmap(lambda x, i: x[i])(X, idx)
    np.testing.assert_allclose(got, np.stack([x[i] for x, i in zip(X, idx)]))
    mask = X > 0
    np.testing.assert_allclose(linop.vmap(lambda x, m: np.where(m, x, 0))(X, mask), np.where(mask, X, 0))


def test_per_example_index_into_a_linear_value():
    idx = np.array([[0, 2], [1, 1], [3, 0]])
    CT = rand((3, 2))

    def per_example(i, ct):
        return linop.linear_transpose(lambda w: w[i], np.zeros(4))(ct)[0]
    got = linop.vmap(per_example)(idx, CT)
    table = rand(4)
    np.testing.assert_allclose(
        linop.vmap(lambda i: np.take_along_axis(table, i, axis=0))(idx), table[idx])
    want = np.zeros((3, 4))
    for b in range(3):
        np.add.at(want[b], idx[b], CT[b])
    np.testing.assert_allclose(got, want)


def test_batched_value_looks_like_one_example():
    seen = {}

    def f(x):
        seen.update(shape=x.shape, ndim=x.ndim, len=len(x), dtype=x.dtype, type=type(x))
        return x * x
    linop.vmap(f, in_axes=1)(np.zeros((3, B, 2)))
    assert seen == dict(shape=(3, 2), ndim=2, len=3, dtype=np.float64, type=BatchedArray)


def test_linear_functions_keep_the_single_batched_program():
    p = linop.trace(linop.vmap(lambda x: x[1:] - x[:-1]), np.zeros((B, 4)))
    assert len(p.eqns) <= 4  # batched once, not once per example
    f = lambda A, x: A @ x
    prog = linop.trace(lambda X: linop.vmap(f, in_axes=(None, 0))(np.eye(3), X), np.zeros((B, 3)))
    assert not any(e.prim.name in ("batch_broadcast", "unbatch") for e in prog.eqns)


def test_linear_values_of_batched_traced_arguments_are_batched_once():
    # fft of a batched linear value: traced on one example and batched (no per-example copies)
    X = rand((B, 8))

    def per_example(x, ct):
        lt = linop.linear_transpose(lambda w: np.fft.ifft(np.fft.fft(x * w)), np.zeros(8, complex))
        return lt(ct)[0], lt
    got, lt = linop.vmap(per_example, out_axes=(0, None))(X, rand((B, 8), np.complex128))
    assert sum(e.prim.name == "fft" for e in lt.program.eqns) == 2


# -- refusals ---------------------------------------------------------------------------------------
def test_python_control_flow_on_per_example_data_is_refused():
    with pytest.raises(linop.BatchingError, match=r"test_vmap_data.py:\d+.*np.where"):
        linop.vmap(lambda x: x if x.sum() > 0 else -x)(rand((B, 3)))
    with pytest.raises(linop.BatchingError, match="float"):
        linop.vmap(lambda x: float(x[0]) * x)(rand((B, 3)))


def test_non_linear_in_the_linear_argument_is_still_refused():
    def per_example(x, ct):
        return linop.linear_transpose(lambda w: x * w * w, np.zeros(3))(ct)[0]
    with pytest.raises(linop.NonLinearError, match="test_vmap_data.py"):
        linop.vmap(per_example)(rand((B, 3)), rand((B, 3)))


def test_ragged_results_are_refused():
    X = np.array([[1.0, -1.0, 2.0], [1.0, 2.0, 3.0]])
    with pytest.raises(linop.BatchingError, match="different shapes"):
        linop.vmap(lambda x: x[x > 0])(X)


def test_writing_into_the_mapped_argument_is_refused():
    def f(x):
        x[0] = 1.0
        return x
    X = np.zeros((B, 3))
    with pytest.raises(linop.BatchingError, match="read-only"):
        linop.vmap(f)(X)
    assert not X.any()


def test_ufunc_out_into_the_mapped_argument_is_refused():
    X = np.ones((B, 3))
    with pytest.raises(ValueError, match="read-only"):
        linop.vmap(lambda x: np.add(x * x, 1, out=x))(X)
    assert (X == 1).all()


def test_escaped_batched_value_is_refused():
    kept = []

    def f(x):
        kept.append(x)
        return x * x
    linop.vmap(f)(np.ones((B, 2)))
    with pytest.raises(linop.BatchingError, match="after that vmap returned"):
        kept[-1] + 1  # kept[0] is the tracer of vmap's first, linear attempt


def test_tracing_a_function_of_per_example_data_outside_linear_transpose_is_refused():
    def per_example(x):
        return linop.trace(lambda w: x * w, np.zeros(3))
    with pytest.raises(linop.BatchingError, match="np.asarray"):
        linop.vmap(per_example)(rand((B, 3)))


def test_transposed_program_with_unbatch_outside_its_vmap_is_refused():
    kept = []

    def per_example(x, ct):
        lt = linop.linear_transpose(lambda w: x * w, np.zeros(3))
        kept.append(lt)
        return lt(ct)[0]
    linop.vmap(per_example)(rand((B, 3)), rand((B, 3)))
    with pytest.raises(linop.LinopError, match="outside|after that vmap returned"):
        kept[0](np.ones(3))
