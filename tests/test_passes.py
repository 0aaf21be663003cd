"""IR passes: each one on a small program, its printed IR before and after, and the values kept."""
import textwrap

import numpy as np
import pytest

import linop
from linop import passes
from linop.execute import compile_plan
from linop.ir import Program, ShapeDtype
from linop.primitives import arithmetic as A, complex as C, slice as SL
from linop.core import Builder, building, zeros
from linop.pytree import tree_flatten


def raw_program(body, *avals):
    """The program ``body`` records on fresh inputs, with no pass applied."""
    builder = Builder()
    ins = [builder.new_input(ShapeDtype(*a)) for a in avals]
    with building(builder):
        outs = body(*ins)
    outs = outs if isinstance(outs, tuple) else (outs,)
    _, in_tree = tree_flatten(tuple(np.zeros(a[0]) for a in avals))
    _, out_tree = tree_flatten(outs if len(outs) > 1 else outs[0])
    return Program([t.var for t in ins], builder.eqns, [o.var for o in outs], in_tree, out_tree)


def ir(text):
    return textwrap.dedent(text).strip("\n")


def same_values(p, q, *avals):
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(a[0]).astype(a[1]) for a in avals]
    for x, y in zip(p.call_flat(args), q.call_flat(args)):
        np.testing.assert_array_equal(x, y)


def twice_updated(x):
    y = zeros((5,), np.float64)
    part = A.add(SL.slice_(y, (1,), (4,), (1,)), SL.slice_(x, (2,), (5,), (1,)))
    return SL.update_slice(SL.update_slice(y, part, (1,), (4,), (1,)), part, (1,), (4,), (1,))


def test_duplicate_update_slice_is_folded_away():
    p = raw_program(twice_updated, ((5,), np.float64))
    q = passes.simplify(p)
    assert q.pprint() == ir("""
        { lambda a:f64[5] .
          let
            b:f64[5] = zeros[shape=(5,), dtype=float64]
            c:f64[3] = slice[starts=(1,), stops=(4,), steps=(1,)] b
            d:f64[3] = slice[starts=(2,), stops=(5,), steps=(1,)] a
            e:f64[3] = add c d
            f:f64[5] = update_slice[starts=(1,), stops=(4,), steps=(1,)] b e
          in (f,) }""")
    same_values(p, q, ((5,), np.float64))


def test_inplace_add_to_a_slice_records_one_update():
    def f(x):
        y = np.zeros_like(x)
        y[1:-1] += x[2:]
        return y

    assert [e.prim.name for e in linop.trace(f, np.zeros(5)).eqns].count("update_slice") == 1


def test_common_subexpressions_are_merged():
    p = raw_program(lambda x: (A.add(SL.slice_(x, (1,), (4,), (1,)), SL.slice_(x, (1,), (4,), (1,))),
                               SL.slice_(x, (1,), (4,), (1,))), ((4,), np.float64))
    q = passes.eliminate_common_subexpressions(p)
    assert q.pprint() == ir("""
        { lambda a:f64[4] .
          let
            b:f64[3] = slice[starts=(1,), stops=(4,), steps=(1,)] a
            c:f64[3] = add b b
          in (c, b) }""")
    same_values(p, q, ((4,), np.float64))


def test_equal_constants_held_by_different_arrays_are_not_merged_by_identity_alone():
    c1, c2 = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    p = raw_program(lambda x: (A.mul(x, c1), A.mul(x, c2)), ((2,), np.float64))
    assert len(passes.eliminate_common_subexpressions(p).eqns) == 2


def test_constants_differing_only_in_the_sign_of_zero_are_not_merged():
    a = np.ones(1000)
    a[0] = 0.0
    b = a.copy()
    b[0] = -0.0
    p = linop.trace(lambda x: np.stack([x / a, x / b]), np.zeros(1000))
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(p(np.ones(1000))[:, 0], [np.inf, -np.inf])


def test_many_distinct_constants_trace_in_linear_time():
    # CSE keys constants by their snapshot's identity: no value comparison between them
    import time

    W = np.random.default_rng(0).standard_normal((2000, 50))
    start = time.perf_counter()
    p = linop.trace(lambda x: [x * W[i] for i in range(len(W))], np.zeros(50))
    assert time.perf_counter() - start < 3.0  # about 0.05 s; comparing values took 19 s
    assert len(p.consts) == 2000 and len(p.eqns) == 2000


def test_scalings_are_folded_in_the_data_precision():
    p = raw_program(lambda x: A.mul(A.mul(x, np.float32(3.0)), np.float32(2.0)), ((3,), np.float32))
    q = passes.simplify(p)
    assert q.pprint() == ir("""
        { lambda a:f32[3] .
          let
            b:f32[3] = mul[c=6.] a
          in (b,) }""")
    assert q.eqns[0].params["c"].value.dtype == np.float32
    same_values(p, q, ((3,), np.float32))


def test_scalings_that_would_grow_the_constant_are_not_folded():
    p = raw_program(lambda x: A.mul(A.mul(x, np.ones((3, 1))), np.ones((1, 4))), ((3, 4), np.float64))
    assert len(passes.simplify(p).eqns) == 2


def test_dead_code_is_dropped():
    p = raw_program(lambda x: (A.neg(x), A.mul(x, 2.0))[0], ((3,), np.float64))
    assert [e.prim.name for e in passes.eliminate_dead_code(p).eqns] == ["neg"]


@pytest.mark.parametrize("make, sign", [
    (lambda t, p: A.add(t, SL.pad(p, (1,), (0,))), 1),
    (lambda t, p: A.add(SL.pad(p, (1,), (0,)), t), 1),
    (lambda t, p: A.sub(t, SL.pad(p, (1,), (0,))), -1),
    (lambda t, p: A.sub(t, SL.pad(A.neg(p), (1,), (0,))), 1),
])
def test_padded_accumulation_becomes_add_slice(make, sign):
    p = raw_program(lambda x: make(A.neg(x), SL.slice_(x, (0,), (4,), (1,))), ((5,), np.float64))
    q = passes.fuse_for_execution(p)
    fused = [e for e in q.eqns if e.prim.name == "add_slice"]
    assert len(fused) == 1 and fused[0].params["sign"] == sign
    assert "pad" not in [e.prim.name for e in q.eqns]
    same_values(p, q, ((5,), np.float64))


def test_pad_minus_array_is_not_fused():
    p = raw_program(lambda x: A.sub(SL.pad(SL.slice_(x, (0,), (4,), (1,)), (1,), (0,)), A.neg(x)),
                    ((5,), np.float64))
    q = passes.fuse_for_execution(p)
    assert "add_slice" not in [e.prim.name for e in q.eqns]
    same_values(p, q, ((5,), np.float64))


def test_executor_accumulates_in_place_into_owned_arrays():
    def lap(x):
        y = -2 * x
        y[1:] += x[:-1]
        y[:-1] += x[1:]
        return y

    p = linop.trace(lap, np.zeros(6))
    forward = compile_plan(p).source
    assert forward.count("] += ") == 2 and "update_slice" not in str(passes.fuse_for_execution(p))
    assert "+=" in compile_plan(linop.transpose(p)).source
    x = np.arange(6.0)
    np.testing.assert_array_equal(p(x), lap(x))
    np.testing.assert_array_equal(x, np.arange(6.0))  # the input is never written


@pytest.mark.parametrize("combine, sign", [(A.add, 1), (lambda a, b: A.add(b, a), 1), (A.sub, -1)])
def test_slice_update_of_a_combination_becomes_add_slice(combine, sign):
    def body(x):
        t = A.neg(x)
        part = combine(SL.slice_(t, (1,), (5,), (1,)), SL.slice_(x, (0,), (4,), (1,)))
        return SL.update_slice(t, part, (1,), (5,), (1,))

    p = raw_program(body, ((5,), np.float64))
    q = passes.fuse_for_execution(p)
    assert [e.prim.name for e in q.eqns] == ["neg", "slice", "add_slice"]
    assert q.eqns[-1].params["sign"] == sign
    same_values(p, q, ((5,), np.float64))


def test_update_with_the_slice_subtracted_from_a_value_is_not_fused():
    def body(x):
        t = A.neg(x)
        part = A.sub(SL.slice_(x, (0,), (4,), (1,)), SL.slice_(t, (1,), (5,), (1,)))
        return SL.update_slice(t, part, (1,), (5,), (1,))

    p = raw_program(body, ((5,), np.float64))
    assert passes.fuse_for_execution(p) is p


def test_add_slice_rules():
    from linop.testing import check_transpose

    def f(t, v):
        return SL.add_slice_p.bind(t, v, starts=(1,), stops=(6,), steps=(2,), sign=-1)

    check_transpose(f, np.zeros(6), np.zeros(3))
    batched = linop.vmap(f)(np.ones((2, 6)), np.ones((2, 3)))
    np.testing.assert_array_equal(batched, [[1, 0, 1, 0, 1, 0]] * 2)


# -- executor rewrites and emitted code that only make a call cheaper -------------------------
@pytest.mark.parametrize("make, fused", [
    (lambda x, y: A.add(A.neg(x), y), "sub"),
    (lambda x, y: A.add(y, A.neg(x)), "sub"),
    (lambda x, y: A.sub(y, A.neg(x)), "add"),
    (lambda x, y: A.add(A.neg(x), A.neg(y)), "sub"),
])
def test_negation_read_once_by_add_or_sub_is_fused(make, fused):
    p = raw_program(make, ((4,), np.float64), ((4,), np.float64))
    q = passes.fuse_for_execution(p)
    names = [e.prim.name for e in q.eqns]
    assert names.count("neg") == len(names) - 1 and names[-1] == fused
    same_values(p, q, ((4,), np.float64), ((4,), np.float64))


@pytest.mark.parametrize("dtype, c, fused", [
    (np.float64, 6.0, True), (np.complex128, 2.0 - 3.0j, True), (np.float32, np.float32(0.5), True),
    (np.float64, np.arange(4.0), False), (np.int64, np.uint8(3), False),
    (np.complex128, 2.0, False), (np.float64, 2.0 + 1.0j, False),
])
def test_negation_scaled_by_a_scalar_scales_by_its_negative(dtype, c, fused):
    p = raw_program(lambda x: A.mul(A.neg(x), c), ((4,), dtype))
    q = passes.fuse_for_execution(p)
    assert ([e.prim.name for e in q.eqns] == ["mul"]) == fused
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(4) + (1j * rng.standard_normal(4) if dtype == np.complex128 else 0))
    x = np.concatenate([x[:2], [0.0, -0.0]]).astype(dtype)
    got, expected = compile_plan(q)([x])[0], compile_plan(p)([x])[0]
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(np.signbit(got.real), np.signbit(expected.real))


def test_negation_read_twice_is_kept():
    p = raw_program(lambda x, y: (A.add(A.neg(x), y), A.neg(x)), ((4,), np.float64),
                    ((4,), np.float64))
    p = passes.eliminate_common_subexpressions(p)
    assert passes.fuse_for_execution(p) is p


def test_negation_of_minus_zero_keeps_the_sign():
    p = raw_program(lambda x, y: A.add(A.neg(x), y), ((2,), np.float64), ((2,), np.float64))
    args = [np.array([0.0, -0.0]), np.array([-0.0, -0.0])]
    got = compile_plan(p)(args)[0]
    np.testing.assert_array_equal(np.signbit(got), np.signbit(-args[0] + args[1]))


def test_reshape_read_once_by_a_reshape_becomes_one():
    from linop.primitives import shape as S
    p = raw_program(lambda x: S.reshape(S.reshape(x, (2, 6)), (3, 4)), ((12,), np.float64))
    q = passes.fuse_for_execution(p)
    assert [e.prim.name for e in q.eqns] == ["reshape"] and q.eqns[0].inputs[0] is p.invars[0]
    same_values(p, q, ((12,), np.float64))


_C = np.complex128


def _bits(a):
    """``a``'s bytes: equal arrays with equal signs of zero (and equal NaN payloads) only."""
    return np.ascontiguousarray(a).tobytes()


@pytest.mark.parametrize("steps, dtype", [
    (lambda x: C.conj(x), _C),
    (lambda x: A.neg(x), np.float64),
    (lambda x: C.real(x), _C),
    (lambda x: C.imag(x), _C),
    (lambda x: C.convert(x, np.complex64), _C),
    (lambda x: A.mul(x, np.asarray(2.0 - 3.0j)), _C),
    (lambda x: A.mul(x, np.asarray([0.5])), np.float64),
    (lambda x: C.conj(A.neg(C.conj(x))), _C),
])
def test_reshape_moves_before_one_input_elementwise_steps(steps, dtype):
    from linop.primitives import shape as S
    p = raw_program(lambda x: S.reshape(steps(x), (2, 3, 4)), ((24,), dtype))
    q = passes.reshape_before_elementwise(p)
    first = q.eqns[0]
    assert first.prim.name == "reshape" and first.inputs[0] is p.invars[0]
    assert [e.prim.name for e in q.eqns[1:]] == [e.prim.name for e in p.eqns[:-1]]
    assert q.outvars[0].aval == p.outvars[0].aval
    rng = np.random.default_rng(0)
    x = rng.standard_normal(24) + (1j * rng.standard_normal(24) if dtype == _C else 0)
    x[:4] = [0.0, -0.0, complex(-0.0, 0.0), complex(0.0, -0.0)] if dtype == _C else [0.0, -0.0] * 2
    x = x.astype(dtype)
    got, want = compile_plan(q)([x])[0], compile_plan(p)([x])[0]
    assert got.dtype == want.dtype and got.shape == want.shape and _bits(got) == _bits(want)


@pytest.mark.parametrize("make", [
    lambda x, S: S.reshape(A.mul(x, np.arange(6.0)), (2, 3)),      # an array constant
    lambda x, S: S.reshape(A.mul(S.reshape(x, (2, 3)), np.ones((1, 1))), (6,)),  # more axes
    lambda x, S: S.reshape(A.add(x, x), (2, 3)),                   # two inputs
    lambda x, S: (S.reshape(A.neg(x), (2, 3)), A.neg(x)),          # the step is read again
])
def test_reshape_stays_after_steps_it_does_not_commute_with(make):
    from linop.primitives import shape as S
    p = raw_program(lambda x: make(x, S), ((6,), np.float64))
    p = passes.eliminate_common_subexpressions(p)
    assert passes.reshape_before_elementwise(p) is p


def test_adjoint_of_a_complex_operator_runs_with_its_reshapes_first():
    """The adjoint is ``conj ∘ transpose ∘ conj`` on flat vectors: its conjugations come
    before the reshape of the input and after the reshape of the output; the rewrite
    puts both after the reshapes, so no step reads a conjugated flat vector."""
    rng = np.random.default_rng(0)
    sens = rng.standard_normal((2, 4, 4)) + 1j * rng.standard_normal((2, 4, 4))
    mask = rng.random((4, 4)) < 0.5
    op = linop.aslinearoperator(lambda x: np.fft.fft2(sens * x, norm="ortho") * mask,
                                np.zeros((4, 4), complex), executor="numpy")
    adjoint = op.adjoint_program
    assert [e.prim.name for e in adjoint.eqns[:2]] == ["conj", "reshape"]
    rewritten = passes.reshape_before_elementwise(adjoint)
    producer = {e.out.id: e for e in rewritten.eqns}
    for eqn in rewritten.eqns:
        if eqn.prim.name == "reshape":
            below = producer.get(eqn.inputs[0].id)
            assert below is None or not below.prim.elementwise
    y = rng.standard_normal(op.shape[0]) + 1j * rng.standard_normal(op.shape[0])
    assert _bits(rewritten.call_flat([y])[0]) == _bits(adjoint.call_flat([y])[0])


@pytest.mark.parametrize("old, new", [
    ((3,), (1, 3)), ((1, 3), (3,)), ((3, 1, 4), (3, 4)), ((3, 4), (1, 3, 1, 4, 1)),
    ((1, 3, 1), (3, 1)), ((1,), (1, 1)), ((2, 3), (3, 2)), ((1,), ()), ((6,), (2, 3)),
])
def test_reshapes_run_as_numpy_reshapes_them(old, new):
    from linop.primitives import shape as S
    p = raw_program(lambda x: A.neg(S.reshape(x, new)), (old, np.float64))
    x = np.random.default_rng(0).standard_normal(old)
    got = compile_plan(p)([x])[0]
    assert got.shape == new
    np.testing.assert_array_equal(got, -np.reshape(x, new))


@pytest.mark.parametrize("x_shape, x_sub, c_shape, c_sub, out_sub", [
    ((5,), "b", (4, 5), "ab", "a"),
    ((4,), "a", (4, 5), "ab", "b"),
    ((3, 5), "kb", (4, 5), "ab", "ka"),
    ((5, 3), "bk", (4, 5), "ab", "ak"),
    ((2, 3, 5), "zkb", (2, 4, 5), "zab", "azk"),
    ((3,), "k", (4,), "a", "ka"),
])
def test_dot_plan_matches_its_impl_exactly(x_shape, x_sub, c_shape, c_sub, out_sub):
    from linop.primitives.dot import dot, contract
    rng = np.random.default_rng(0)
    c = rng.standard_normal(c_shape)
    p = raw_program(lambda x: dot(x, c, x_sub, c_sub, out_sub), (x_shape, np.float64))
    x = rng.standard_normal(x_shape)
    got = compile_plan(p)([x])[0]
    np.testing.assert_array_equal(got, contract(x, x_sub, c, c_sub, out_sub))
    np.testing.assert_allclose(got, np.einsum(f"{x_sub},{c_sub}->{out_sub}", x, c))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("axis, reverse", [(0, False), (1, False), (0, True), (1, True)])
def test_cumsum_plan_matches_numpy(dtype, axis, reverse):
    from linop.primitives.cumsum import cumsum
    p = raw_program(lambda x: cumsum(x, axis, reverse), ((3, 4), dtype))
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(dtype)
    expected = np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis) if reverse \
        else np.cumsum(x, axis=axis)
    got = compile_plan(p)([x])[0]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128, np.longdouble])
@pytest.mark.parametrize("idx_shape, axis", [((7,), 0), ((2, 3), 1)])
def test_scatter_add_plan_matches_its_impl_exactly(dtype, idx_shape, axis):
    from linop.primitives.gather import scatter_add, scatter_add_p
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 4, size=idx_shape)
    u_shape = (3,) * axis + idx_shape + (2,)
    p = raw_program(lambda u: scatter_add(u, idx, axis, 4), (u_shape, dtype))
    u = rng.standard_normal(u_shape).astype(dtype)
    got = compile_plan(p)([u])[0]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, scatter_add_p.impl(u, **p.eqns[0].params))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128, np.int64])
@pytest.mark.parametrize("shape, axes", [((4, 1), (1,)), ((1, 4, 1), (0, 2)), ((4, 3), (1,)),
                                         ((1,), (0,))])
def test_sum_over_axes_of_length_one_matches_numpy(dtype, shape, axes):
    from linop.primitives.shape import reduce_sum_p
    p = raw_program(lambda x: reduce_sum_p.bind(x, axes=axes), (shape, dtype))
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    x.flat[0] = -0.0
    got, expected = compile_plan(p)([x])[0], np.add.reduce(x, axes)
    assert np.asarray(got).dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(np.real(got)), np.signbit(np.real(expected)))
