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


@pytest.mark.parametrize("data", ["eager", "traced"])
def test_reduce_axes_naming_an_unbound_axis_is_refused_inside_vmap(data):
    X, CT, w0 = rand((B, 4)), rand((B, 4)), np.zeros(4)
    x1 = X[0]

    def per_example(x, ct):
        return linop.linear_transpose(lambda w: (x if data == "eager" else x1) * w, w0,
                                      reduce_axes=("other",))(ct)[0]
    with pytest.raises(linop.UnboundAxisError, match="unbound axis 'other'.*bind: 'batch'"):
        linop.vmap(per_example, axis_name="batch")(X, CT)
    with pytest.raises(NameError, match="unbound axis 'other'.*bind: none"):
        linop.vmap(per_example)(X, CT)


def test_reduce_axes_at_top_level_is_ignored_but_checked_when_called_in_vmap():
    X, CT, w0 = rand((B, 4)), rand((B, 4)), np.zeros(4)
    T = linop.linear_transpose(lambda w: X[0] * w, w0, reduce_axes=("batch",))
    close(T(CT[0])[0], X[0] * CT[0])                      # nothing is batched: no sum
    close(linop.vmap(lambda c: T(c)[0], axis_name="batch", out_axes=None)(CT), (X[0] * CT).sum(0))
    with pytest.raises(linop.UnboundAxisError, match="'batch'"):
        linop.vmap(lambda c: T(c)[0], axis_name="b")(CT)


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


ONE_PROGRAM_OF_PER_EXAMPLE_DATA = [
    ("trace", lambda x, v: linop.trace(lambda w: x * w, np.zeros(3))(v)),
    ("aslinearoperator @", lambda x, v: linop.aslinearoperator(lambda w: x * w, np.zeros(3)) @ v),
    ("aslinearoperator rmatvec",
     lambda x, v: linop.aslinearoperator(lambda w: x * w, np.zeros(3)).rmatvec(v)),
    ("aslinearoperator H @", lambda x, v: linop.aslinearoperator(lambda w: x * w, np.zeros(3)).H @ v),
]


@pytest.mark.parametrize("name, fun", ONE_PROGRAM_OF_PER_EXAMPLE_DATA,
                         ids=[c[0] for c in ONE_PROGRAM_OF_PER_EXAMPLE_DATA])
def test_one_program_of_per_example_data_is_refused_naming_the_api(name, fun):
    with pytest.raises(linop.BatchingError,
                       match=r"(?s)test_vmap_data.py:\d+ depends on per-example data.*"
                             r"linop.trace and linop.aslinearoperator.*linop.linear_transpose"):
        linop.vmap(fun)(rand((B, 3)), rand((B, 3)))


def test_transposed_program_with_unbatch_outside_its_vmap_is_refused():
    kept = []

    def per_example(x, ct):
        lt = linop.linear_transpose(lambda w: x * w, np.zeros(3))
        kept.append(lt)
        return lt(ct)[0]
    linop.vmap(per_example)(rand((B, 3)), rand((B, 3)))
    with pytest.raises(linop.LinopError, match="outside|after that vmap returned"):
        kept[0](np.ones(3))


# -- a traced inner vmap meeting per-example data of an outer vmap --------------------------------
A_OUT, B_IN, N = 3, 4, 5


def _inner_transpose(names, primal="w0"):
    """outer(x, cts) = vmap_i(c -> transpose of (w -> x * w) at c), reduce_axes=names."""
    def outer(x, cts):
        def inner(c):
            p = np.zeros(N) if primal == "w0" else c
            return linop.linear_transpose(lambda w: x * w, p, reduce_axes=names)(c)[0]
        return linop.vmap(inner, axis_name="i")(cts)
    return outer


def _transpose_built_outside_inner(names):
    def outer(x, cts):
        T = linop.linear_transpose(lambda w: x * w, np.zeros(N), reduce_axes=names)
        return linop.vmap(lambda c: T(c)[0], axis_name="i")(cts)
    return outer


def _explicit(X, CT, names, primal_mapped=False):
    """out[o, i] by loops: x[o] * ct[o, i], summed over the named axes the primal is not mapped on."""
    out = np.zeros_like(CT)
    for o in range(A_OUT):
        for i in range(B_IN):
            terms = [(p, q) for p in range(A_OUT) for q in range(B_IN)
                     if (p == o or ("o" in names and not primal_mapped))
                     and (q == i or ("i" in names and not primal_mapped))]
            out[o, i] = sum(X[p] * CT[p, q] for p, q in terms)
    return out


NESTED = [
    ("reduce o", _inner_transpose(("o",)), ("o",), False),
    ("reduce o i", _inner_transpose(("o", "i")), ("o", "i"), False),
    ("reduce i", _inner_transpose(("i",)), ("i",), False),
    ("no reduce", _inner_transpose(()), (), False),
    ("T built in outer, reduce i o", _transpose_built_outside_inner(("i", "o")), ("i", "o"), False),
    ("T built in outer", _transpose_built_outside_inner(()), (), False),
    ("primal is the mapped c, reduce o", _inner_transpose(("o",), primal="c"), ("o",), True),
]


@pytest.mark.parametrize("name, outer, names, primal_mapped", NESTED, ids=[c[0] for c in NESTED])
def test_traced_inner_vmap_meeting_outer_data_equals_loops(name, outer, names, primal_mapped):
    X, CT = rand((A_OUT, N)), rand((A_OUT, B_IN, N))
    got = linop.vmap(outer, axis_name="o")(X, CT)
    close(got, _explicit(X, CT, names, primal_mapped))


def test_inner_vmap_over_outer_data_runs_its_function_once():
    X, CT, runs = rand((A_OUT, N)), rand((A_OUT, B_IN, N)), []

    def inner(c, x):
        runs.append(1)
        return x * c
    outer = linop.vmap(lambda x, cts: linop.vmap(inner, in_axes=(0, None))(cts, x))
    outer(X, CT)   # the outer vmap's first call makes its traced attempt (documented)
    runs.clear()
    close(outer(X, CT), X[:, None] * CT)
    assert len(runs) == 1


# -- how often the function runs ----------------------------------------------------------------
def test_per_example_data_runs_once_after_the_first_call_and_counters_stay_right():
    X, CT, count = rand((B, 4)), rand((B, 4)), [0]

    def per_example(x, ct):
        count[0] += 1
        return linop.linear_transpose(lambda w: x * w * count[0], np.zeros(4))(ct)[0]
    batched = linop.vmap(per_example)
    batched(X, CT)                         # first call: the traced attempt, then the batched run
    before = count[0]
    close(batched(X, CT), X * CT * (before + 1))
    assert count[0] == before + 1          # the same signature goes straight to batched values
    close(linop.vmap(per_example)(X, CT), X * CT * (before + 2))  # remembered per function


@pytest.mark.parametrize("data", [np.arange(B * 4).reshape(B, 4) % 3, rand((B, 4)) > 0])
def test_integer_and_boolean_data_run_the_function_once(data):
    CT, runs = rand((B, 4)), []

    def per_example(x, ct):
        runs.append(1)
        return linop.linear_transpose(lambda w: x * w, np.zeros(4))(ct)[0]
    close(linop.vmap(per_example)(data, CT), data * CT)
    assert len(runs) == 1


# -- programs and operators built outside, applied to per-example values -----------------------
M45 = rand((4, 5))
P_CUMSUM = linop.trace(lambda w: np.cumsum(w)[::-1], np.zeros(5))
OP = linop.aslinearoperator(lambda w: M45 @ w, np.zeros(5))

OUTSIDE = [
    ("P(x * v)", lambda x, v, d: P_CUMSUM(x * v)),
    ("x * P(v)", lambda x, v, d: x * P_CUMSUM(v)),
    ("transpose(P)(x * v)", lambda x, v, d: linop.transpose(P_CUMSUM)(x * v)[0]),
    ("A @ (x * v)", lambda x, v, d: OP @ (x * v)),
    ("d * A.matvec(v)", lambda x, v, d: d * OP.matvec(v)),
    ("A.matvec(x * v)[:, None]", lambda x, v, d: OP.matvec((x * v)[:, None])),
    ("A.rmatvec(d * d)", lambda x, v, d: OP.rmatvec(d * d)),
    ("A.H @ (d * d)", lambda x, v, d: OP.H @ (d * d)),
    ("A.matmat(outer)", lambda x, v, d: OP.matmat(np.outer(x, v[:2]))),
    ("A.rmatmat(outer)", lambda x, v, d: OP.rmatmat(np.outer(d, v[:3]))),
]


@pytest.mark.parametrize("name, fun", OUTSIDE, ids=[c[0] for c in OUTSIDE])
def test_program_or_operator_built_outside_runs_on_the_batch(name, fun):
    X, V, D = rand((B, 5)), rand((B, 5)), rand((B, 4))
    got = linop.vmap(fun)(X, V, D)
    close(got, np.stack([fun(x, v, d) for x, v, d in zip(X, V, D)]))


def test_per_example_transpose_through_an_operator_built_outside():
    X, CT = rand((B, 4)), rand((B, 4))

    def per_example(x, ct):
        return linop.linear_transpose(lambda w: x * (OP @ w), np.zeros(5))(ct)[0]
    close(linop.vmap(per_example)(X, CT), np.stack([M45.T @ (x * ct) for x, ct in zip(X, CT)]))


def test_operator_on_per_example_value_of_the_wrong_shape_names_the_method():
    with pytest.raises(ValueError, match=r"matvec at .*test_vmap_data.py:\d+.*\(5,\).*got \(4,\)"):
        linop.vmap(lambda x: OP.matvec(x * x))(rand((B, 4)))


# -- messages -----------------------------------------------------------------------------------
def test_writing_per_example_value_into_a_plain_array_says_what_to_do():
    def per_example(x, ct):
        def f(w):
            out = np.zeros(4)
            out[1:] = x[1:] * w[:-1]
            return out
        return linop.linear_transpose(f, np.zeros(4))(ct)[0]
    with pytest.raises(linop.BatchingError, match=r"(?s)writing it into a NumPy array.*np.zeros_like"):
        linop.vmap(per_example)(rand((B, 4)), rand((B, 4)))


def test_different_shapes_per_example_name_the_numpy_operation():
    X = np.array([[1.0, -1, -1], [1, 1, -1], [1, 1, 1]])
    with pytest.raises(linop.BatchingError, match=r"indexing \(x\[index\]\) gave results of "
                                                  r"different shapes \[\(1,\), \(2,\), \(3,\)\]"):
        linop.vmap(lambda x: x[x > 0] * 1)(X.astype(int))


def test_broadcasting_error_shows_per_example_shapes():
    with pytest.raises(ValueError, match=r"np.add at .*test_vmap_data.py:\d+: operands could not "
                                         r"be broadcast together with shapes \(4,\) \(5,\)"):
        linop.vmap(lambda x, k: x[1:] + k)(rand((B, 5)), np.ones((B, 5), int))


EMPTY = [
    ("sort", lambda x: np.sort(x), lambda n: (n,), np.float64),
    ("fft", lambda x: np.fft.fft(x), lambda n: (n,), np.complex128),
    ("outer of int", lambda x: np.outer(x, x), lambda n: (n, n), np.int64),
    ("sum", lambda x: np.cumsum(x) * x.sum(), lambda n: (n,), np.int64),
]


@pytest.mark.parametrize("name, fun, shape, dtype", EMPTY, ids=[c[0] for c in EMPTY])
def test_empty_batch_of_looped_functions_has_the_result_shape(name, fun, shape, dtype):
    x = np.zeros((0, 4), dtype if dtype is np.int64 else np.float64)
    got = linop.vmap(fun)(x)
    assert got.shape == (0,) + shape(4) and got.dtype == dtype


def test_empty_batch_where_zeros_are_refused_keeps_the_clear_error():
    with pytest.raises(linop.BatchingError, match="np.inv.*empty vmap batch"):
        linop.vmap(lambda m: np.linalg.inv(m))(np.zeros((0, 3, 3)))


def test_empty_batch_of_per_example_transposes():
    got = linop.vmap(lambda x, ct: linop.linear_transpose(
        lambda w: np.fft.fft(x).real * w, np.zeros(4))(ct)[0])(np.zeros((0, 4)), np.zeros((0, 4)))
    assert got.shape == (0, 4) and got.dtype == np.float64
