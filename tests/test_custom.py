"""linop.custom_linear: user-defined linear primitives with their transposes."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import linop
from harness import Case, case_id, check_all
from linop.testing import DotTestError

RNG = np.random.default_rng(3)
K53 = RNG.standard_normal((5, 3))
K53C = K53 + 1j * RNG.standard_normal((5, 3))


@linop.custom_linear
def matvec(x, *, scale=1.0):
    """``scale * K53 @ x`` (shape inferred by a call on zeros)."""
    return scale * (K53 @ x)


@matvec.def_transpose
def matvec_t(y, *, scale=1.0):
    return scale * (K53.T @ y)


@linop.custom_linear(out=lambda x, *, weights: linop.ShapeDtype(
    x.shape, np.result_type(x.dtype, weights.dtype)))
def weighted_cumsum(x, *, weights):
    """A running sum scaled by constant weights (an array keyword argument)."""
    return np.cumsum(x * weights)


@weighted_cumsum.def_transpose
def weighted_cumsum_t(y, *, weights):
    return np.cumsum(y[::-1])[::-1] * weights


@linop.custom_linear(vectorized=True)
def complex_rows(x):
    """``x @ K53C.T`` over any leading axes (complex constant, vectorised)."""
    return x @ K53C.T


@complex_rows.def_adjoint
def complex_rows_adjoint(y):
    return y @ K53C.conj()


@linop.custom_linear
def mix(a, b):
    """Two linear inputs: ``K53 @ a + [b, b[0]]``."""
    return K53 @ a + np.concatenate([b, b[:1]])


@mix.def_transpose
def mix_t(y):
    tb = y[:4].copy()
    tb[0] += y[4]
    return K53.T @ y, tb


CASES = [
    Case("custom_matvec", lambda x: matvec(x, scale=2.0), ((3,),)),
    Case("custom_in_numpy_code", lambda x: 3 * matvec(x[::-1])[1:] - np.cumsum(x)[0], ((3,),)),
    Case("custom_array_kwarg", lambda x: weighted_cumsum(x, weights=np.arange(1.0, 5.0)),
         ((4,),)),
    Case("custom_complex_from_adjoint", lambda x: complex_rows(x), ((2, 3),)),
    Case("custom_two_inputs", lambda a, b: mix(a, b) * 2, ((3,), (4,))),
    Case("custom_two_inputs_same_arg", lambda a: mix(a[:3], a) + mix(a[1:], np.zeros(4)),
         ((4,),)),
    Case("custom_transposed_function", lambda y: matvec.T(y, scale=0.5), ((5,),)),
]


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_case(param):
    check_all(*param)


def test_plain_call_runs_the_users_function():
    x = RNG.standard_normal(3)
    assert np.array_equal(matvec(x, scale=2.0), 2.0 * (K53 @ x))
    assert np.array_equal(matvec.T(np.ones(5)), K53.T @ np.ones(5))
    assert matvec.T.T is matvec


def test_check_passes_for_correct_transposes():
    assert matvec.check(np.zeros(3), scale=3.0) < 1e-12
    assert mix.check(np.zeros(3), np.zeros(4)) < 1e-12
    assert complex_rows.check(np.zeros((2, 3))) < 1e-12


def test_check_catches_a_wrong_transpose():
    @linop.custom_linear
    def running_sum(x):
        return np.cumsum(x)

    @running_sum.def_transpose
    def running_sum_wrong_t(y):
        return np.cumsum(y)  # should be reversed

    with pytest.raises(DotTestError, match="running_sum_wrong_t.*real inputs"):
        running_sum.check(np.zeros(5))


def test_check_catches_an_adjoint_given_as_transpose():
    @linop.custom_linear
    def rotate(x):
        return (1 + 2j) * x

    @rotate.def_transpose
    def rotate_t(y):
        return (1 - 2j) * y  # the adjoint, not the transpose

    with pytest.raises(DotTestError, match="def_adjoint"):
        rotate.check(np.zeros(3, np.complex128))


def test_wrong_transpose_is_caught_by_the_dense_oracle_too():
    @linop.custom_linear
    def twice(x):
        return 2 * x

    @twice.def_transpose
    def twice_t(y):
        return 3 * y

    with pytest.raises(DotTestError):
        linop.testing.check_transpose(twice, np.zeros(3))


def test_an_operator_zero_to_rounding_passes_the_dense_oracle():
    def wrapped_mean_gradient(x):  # exactly zero in exact arithmetic, ~1e-17 in floating point
        return np.gradient(np.broadcast_to(x.mean(), x.shape) * 0.1 + x.sum() * 0.9 / 3, edge_order=2)

    assert linop.testing.check_transpose(wrapped_mean_gradient, np.zeros(3)) == 0.0


def test_a_nonzero_transpose_of_a_zero_operator_is_caught():
    @linop.custom_linear
    def nothing(x):
        return 0 * x

    @nothing.def_transpose
    def nothing_t(y):
        return y

    with pytest.raises(DotTestError, match="should be zero"):
        linop.testing.check_transpose(nothing, np.zeros(3))


def test_double_transpose_is_the_original_program():
    program = linop.trace(lambda x: matvec(x, scale=2.0), np.zeros(3))
    transposed = linop.transpose(program)
    assert "matvec_t[" in str(transposed)
    assert str(linop.transpose(transposed)) == str(program)


def test_missing_transpose_is_a_clear_error():
    @linop.custom_linear
    def lonely(x):
        return x[::-1].copy()

    assert np.array_equal(linop.trace(lonely, np.zeros(3))(np.arange(3.0)), [2.0, 1.0, 0.0])
    with pytest.raises(linop.LinopError, match="def_transpose"):
        linop.linear_transpose(lonely, np.zeros(3))


def test_traced_keyword_argument_is_refused():
    with pytest.raises(TypeError, match="keyword argument 'scale' is traced"):
        linop.trace(lambda x: matvec(x[:3], scale=x[0]), np.zeros(4))


def test_nonzero_constant_positional_is_affine():
    with pytest.raises(linop.AffineError):
        linop.trace(lambda a: mix(a, np.ones(4)), np.zeros(3))


def test_wrong_output_shape_is_reported():
    @linop.custom_linear(out=lambda x: linop.ShapeDtype((4,), x.dtype))
    def liar(x):
        return x

    program = linop.trace(liar, np.zeros(3))
    with pytest.raises(linop.LinopError, match="liar.*shape"):
        program(np.zeros(3))


def test_program_with_custom_primitive_pickles():
    program = linop.trace(lambda x: matvec(x, scale=2.0), np.zeros(3))
    transposed = linop.transpose(program)
    x = RNG.standard_normal(3)
    assert np.allclose(pickle.loads(pickle.dumps(program))(x), program(x))
    y = RNG.standard_normal(5)
    assert np.allclose(pickle.loads(pickle.dumps(transposed))(y), transposed(y))


@pytest.mark.parametrize("fun, n", [
    (lambda x: matvec(x) * 2, 3),                 # batched by a loop
    (lambda x: complex_rows(x) * 2, 3),           # vectorized: one call on the batch
    (lambda a: mix(a[:3], a) + matvec(a[1:]), 4),
], ids=["loop", "vectorized", "two_inputs"])
def test_vmap_equals_loop(fun, n):
    xs = RNG.standard_normal((4, n))
    batched = linop.vmap(fun)
    assert np.allclose(batched(xs), np.stack([fun(x) for x in xs]))
    ys = fun(xs[0])
    cts = RNG.standard_normal((4,) + ys.shape)
    if np.iscomplexobj(ys):
        cts = cts + 1j * RNG.standard_normal(cts.shape)
    t_batched = linop.linear_transpose(batched, xs)(cts)[0]
    t_single = [linop.linear_transpose(fun, xs[0])(c)[0] for c in cts]
    assert np.allclose(t_batched, np.stack(t_single))


def test_vectorized_batch_is_one_equation():
    program = linop.trace(linop.vmap(complex_rows), np.zeros((6, 2, 3)))
    assert [e.prim.name for e in program.eqns] == ["complex_rows"]


def test_forward_dtype_must_match_the_declared_one():
    @linop.custom_linear(out=lambda x: linop.ShapeDtype(x.shape, x.dtype))
    def complex_fft(x):
        return np.fft.fft(x)

    complex_fft.def_transpose(lambda y: np.fft.fft(y))
    with pytest.raises(linop.LinopError, match="out= rule declares float64"):
        linop.trace(complex_fft, np.zeros(4))(np.arange(4.0))


def test_local_custom_function_refuses_to_pickle_clearly():
    import pickle

    @linop.custom_linear
    def local_scale(x):
        return 2 * x

    local_scale.def_transpose(lambda y: 2 * y)
    program = linop.trace(local_scale, np.zeros(3))
    with pytest.raises(pickle.PicklingError, match="module level"):
        pickle.dumps(program)


def test_loop_batching_of_an_empty_batch():
    @linop.custom_linear
    def halve(x):
        return x / 2

    halve.def_transpose(lambda y: y / 2)
    out = linop.vmap(halve)(np.zeros((0, 3)))
    assert out.shape == (0, 3)
