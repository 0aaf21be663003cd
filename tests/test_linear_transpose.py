"""The semantics of ``linop.linear_transpose`` (the specification) and of Programs."""
from __future__ import annotations

import pickle
import types
from collections import namedtuple

import numpy as np
import pytest

import linop


def test_specification_example():
    f = lambda x, y: 0.5 * x - 0.5 * y
    scalar = types.SimpleNamespace(shape=(), dtype=np.dtype(np.float32))
    f_transpose = linop.linear_transpose(f, scalar, scalar)
    out = f_transpose(1.0)
    assert isinstance(out, tuple) and len(out) == 2
    assert out[0].dtype == np.float32 and out[1].dtype == np.float32
    assert out[0] == 0.5 and out[1] == -0.5


@pytest.mark.parametrize("primal,dtype", [
    (1.0, np.float64), (1j, np.complex128), (np.float32(2), np.float32),
    (np.complex64(1), np.complex64), (np.zeros(3, np.float32), np.float32),
    (linop.ShapeDtype((2,), "complex64"), np.complex64),
])
def test_primal_kinds_give_their_dtype(primal, dtype):
    (out,) = linop.linear_transpose(lambda x: 3 * x, primal)(np.ones(np.shape(primal)))
    assert out.dtype == dtype
    np.testing.assert_allclose(out, 3)


def test_pytree_primals_and_none():
    P = namedtuple("P", "a b")
    primals = ({"w": np.zeros(2), "v": [np.zeros(3, np.float32), None]}, P(np.zeros(1), None))

    def f(d, p):
        return d["w"].sum() + d["v"][0].sum() + p.a[0]

    out = linop.linear_transpose(f, *primals)(2.0)
    assert isinstance(out, tuple) and len(out) == 2
    d, p = out
    assert set(d) == {"w", "v"} and d["v"][1] is None and isinstance(p, P) and p.b is None
    np.testing.assert_array_equal(d["w"], [2, 2])
    assert d["v"][0].dtype == np.float32
    np.testing.assert_array_equal(p.a, [2])


def test_outputs_have_primal_dtypes_truncating():
    # The function promotes float32 to complex128; the transpose returns float32 again.
    f = lambda x: x * (1 + 1j)
    (out,) = linop.linear_transpose(f, np.zeros(2, np.float32))(np.array([1 + 2j, 3j]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.real(np.array([1 + 2j, 3j]) * (1 + 1j)), rtol=1e-6)


def test_float64_function_on_float32_primal():
    f = lambda x: x.astype(np.float64) * 3
    (out,) = linop.linear_transpose(f, np.zeros(2, np.float32))(np.ones(2))
    assert out.dtype == np.float32


def test_zero_map_and_unused_inputs_give_zeros():
    f = lambda x, y: 2 * y
    ox, oy = linop.linear_transpose(f, np.zeros(3), np.zeros(2, np.complex64))(np.ones(2, np.complex64))
    np.testing.assert_array_equal(ox, np.zeros(3))
    assert ox.dtype == np.float64
    np.testing.assert_array_equal(oy, 2 * np.ones(2))
    (z,) = linop.linear_transpose(lambda x: np.zeros(5), np.zeros(3))(np.ones(5))
    np.testing.assert_array_equal(z, np.zeros(3))


def test_python_scalar_cotangent_for_0d_output():
    (out,) = linop.linear_transpose(lambda x: x.sum(), np.zeros(3))(2)
    np.testing.assert_array_equal(out, [2, 2, 2])


def test_transpose_is_not_conjugated():
    c = 1 + 2j
    (out,) = linop.linear_transpose(lambda x: c * x, np.zeros(1, complex))(np.ones(1, complex))
    assert out[0] == c


def test_real_linear_transpose_uses_real_pairing():
    # Re(sum(imag(x) * t)) == Re(sum(x * T(t))) with T(t) = -1j t.
    (out,) = linop.linear_transpose(np.imag, np.zeros(2, complex))(np.array([1.0, 2.0]))
    np.testing.assert_allclose(out, [-1j, -2j])


def test_program_printing_shows_large_constants_by_name():
    big = np.arange(400.0).reshape(20, 20)
    text = str(linop.trace(lambda x: big @ x + 2 * x, np.zeros(20)))
    assert "c0:f64[20,20]" in text
    assert "dot" in text and "mul" in text
    assert "399" not in text  # the values are not inlined


def test_program_callable_with_pytrees_and_pickle():
    f = lambda d: {"y": d["a"] * 2, "z": d["b"][::-1]}
    p = linop.trace(f, {"a": np.zeros(2), "b": np.zeros(3)})
    x = {"a": np.array([1.0, 2.0]), "b": np.array([1.0, 2.0, 3.0])}
    out = p(x)
    np.testing.assert_array_equal(out["y"], [2, 4])
    q = pickle.loads(pickle.dumps(p))
    assert q == p
    np.testing.assert_array_equal(q(x)["z"], [3, 2, 1])
    tq = pickle.loads(pickle.dumps(linop.transpose(p)))
    assert tq(out)[0]["b"].tolist() == [1, 2, 3]


def test_double_transpose_has_original_calling_convention():
    p = linop.trace(lambda x, y: (x + y, 2 * y), np.zeros(2), np.zeros(2))
    pp = linop.transpose(linop.transpose(p))
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    a, b = pp(x, y)
    np.testing.assert_array_equal(a, x + y)
    np.testing.assert_array_equal(b, 2 * y)


def test_calling_never_retraces():
    calls = []

    def f(x):
        calls.append(1)
        return x[::-1] * 2

    f_t = linop.linear_transpose(f, np.zeros(3))
    for _ in range(5):
        f_t(np.ones(3))
    p = linop.trace(f, np.zeros(3))
    for _ in range(5):
        p(np.ones(3))
    assert len(calls) == 2


def test_transposed_program_runs_no_forward_pass():
    calls = []

    def f(x):
        calls.append(1)
        return x[1:] - x[:-1]

    f_t = linop.linear_transpose(f, np.zeros(4))
    n = len(calls)
    f_t(np.ones(3))
    assert len(calls) == n
    assert {e.prim.name for e in f_t.transposed.eqns} <= {"pad", "neg", "add"}


def test_linear_transpose_of_linear_transpose():
    f = lambda x: np.array([[1.0, 2.0], [3.0, 4.0]]) @ x
    f_t = linop.linear_transpose(f, np.zeros(2))
    f_tt = linop.linear_transpose(lambda y: f_t(y)[0], np.zeros(2))
    (back,) = f_tt(np.array([1.0, 0.0]))
    np.testing.assert_allclose(back, f(np.array([1.0, 0.0])))


def test_inplace_on_input_inside_function():
    def f(x):
        x[0] = 0.0
        return x * 2

    p = linop.trace(f, np.zeros(3))
    np.testing.assert_array_equal(p(np.array([1.0, 2.0, 3.0])), [0, 4, 6])


def test_ordered_dict_is_a_container_in_insertion_order():
    from collections import OrderedDict

    primal = OrderedDict([("z", np.zeros(2)), ("a", np.zeros(1))])
    (out,) = linop.linear_transpose(lambda d: OrderedDict([("s", d["z"] * 2), ("t", d["a"])]), primal)(
        OrderedDict([("s", np.ones(2)), ("t", np.ones(1))]))
    assert isinstance(out, OrderedDict) and list(out) == ["z", "a"]
    np.testing.assert_array_equal(out["z"], [2, 2])


def test_program_replayed_in_another_trace_checks_its_inputs():
    p = linop.trace(lambda x: x[1:] * np.arange(1.0, 3.0), np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        linop.trace(lambda x: p(x), np.zeros(5))
    q = linop.trace(lambda x: 2 * x, np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="float32"):
        linop.trace(lambda x: q(x), np.zeros(2, complex))


def test_shape_dtype_validation():
    assert linop.ShapeDtype(3, "f8").shape == (3,)
    with pytest.raises(ValueError, match="negative"):
        linop.ShapeDtype((-1,), "f8")


def test_tracing_from_several_threads_at_once():
    from concurrent.futures import ThreadPoolExecutor

    def build_and_apply(i):
        f = lambda x: np.concatenate([x, np.zeros(2)]) * (i + 1)
        (out,) = linop.linear_transpose(f, np.zeros(4))(np.ones(6))
        return i, out

    with ThreadPoolExecutor(6) as pool:
        for i, out in pool.map(build_and_apply, range(120)):
            np.testing.assert_array_equal(out, np.full(4, i + 1.0))


def test_precision_bits_and_tolerances():
    from linop.testing import precision_bits, tolerance_for

    assert precision_bits([np.float64, np.complex64]) == 32
    assert precision_bits([np.int64]) == 64
    assert precision_bits([np.float16, np.float64]) == 16
    assert tolerance_for([np.complex128]) == 1e-12 and tolerance_for([np.float32]) == 1e-5
