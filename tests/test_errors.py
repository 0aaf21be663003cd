"""Every error of issue 2: public type, the NumPy operation named, the user's file:line, a fix."""
from __future__ import annotations

import os

import numpy as np
import pytest

import linop

THIS_FILE = os.path.basename(__file__)
X = np.zeros(4)


def _raises(exc_type, fun, *primals, match=None):
    with pytest.raises(exc_type) as info:
        linop.linear_transpose(fun, *(primals or (X,)))
    msg = str(info.value)
    assert f"{THIS_FILE}:" in msg, f"no file:line of the user's code in: {msg}"
    if match:
        assert match in msg, msg
    assert not isinstance(info.value, (AssertionError, KeyError))
    return msg


NONLINEAR = [
    ("x*x", lambda x: x * x, "np.multiply"),
    ("x@x", lambda x: x @ x, "np.matmul"),
    ("sin", lambda x: np.sin(x), "np.sin"),
    ("abs", lambda x: abs(x), "np.absolute"),
    ("greater", lambda x: x > 0, "np.greater"),
    ("reciprocal", lambda x: 1 / x, "np.divide"),
    ("square", lambda x: x ** 2, "np.power"),
    ("relu", lambda x: np.maximum(x, 0), "np.maximum"),
    ("norm", lambda x: np.linalg.norm(x), "np.linalg.norm"),
    ("where_traced_cond", lambda x: np.where(x > 0, x, 0), "np.greater"),
    ("astype_int", lambda x: x.astype(int), "astype"),
    ("traced_index", lambda x: X[x], "index"),
    ("einsum_bilinear", lambda x: np.einsum("i,i->", x, x), "np.einsum"),
    ("sort", lambda x: np.sort(x), "np.sort"),
]


@pytest.mark.parametrize("name,fun,what", NONLINEAR, ids=[n[0] for n in NONLINEAR])
def test_nonlinear(name, fun, what):
    msg = _raises(linop.NonLinearError, fun, match=what)
    assert "linear" in msg


def _branch(x):
    if x.sum() > 0:
        return x
    return -x


def _bool(x):
    return x if bool(x[0]) else x


@pytest.mark.parametrize("fun", [_branch, _bool], ids=["if_sum", "bool"])
def test_data_dependent_control_flow(fun):
    _raises(linop.NonLinearError, fun)


AFFINE = [
    ("x+1", lambda x: x + 1),
    ("1-x", lambda x: 1 - x),
    ("constant_output", lambda x: np.ones(3)),
    ("concat_nonzero", lambda x: np.concatenate([x, np.ones(1)])),
    ("sum_initial", lambda x: np.sum(x, initial=1.0)),
    ("where_const_branch", lambda x: np.where(np.arange(4) > 1, x, 1.0)),
]


@pytest.mark.parametrize("name,fun", AFFINE, ids=[a[0] for a in AFFINE])
def test_affine(name, fun):
    msg = _raises(linop.AffineError, fun)
    assert "affine" in msg or "constant" in msg


def test_affine_is_a_nonlinear_error():
    assert issubclass(linop.AffineError, linop.NonLinearError)


def test_unsupported_function_names_it():
    msg = _raises(linop.UnsupportedFunctionError, lambda x: np.polyder(x), match="polyder")
    assert "custom_linear" in msg


@pytest.mark.parametrize("fun,what", [
    (lambda x: np.asarray(x), "np.asarray"),
    (lambda x: float(x[0]), "float()"),
    (lambda x: int(x[0]), "int()"),
    (lambda x: x.tolist(), "tolist"),
])
def test_conversion(fun, what):
    _raises(linop.ConversionError, fun, match=what)


def _fill_plain_array(x):
    y = np.zeros(4)
    y[1:] = x[:-1]
    return y


def _iadd_plain_array(x):
    y = np.zeros(4)
    y += x
    return y


@pytest.mark.parametrize("fun", [_fill_plain_array, _iadd_plain_array])
def test_assignment_into_plain_array_shows_zeros_like_fix(fun):
    _raises(linop.ArrayAssignmentError, fun, match="np.zeros_like(x, shape=")
    assert issubclass(linop.ArrayAssignmentError, linop.ConversionError)


def _write_through_reshape_of_view(x):
    y = np.zeros_like(x)
    r = y[::2].reshape(2)
    r[0] = x[0]
    return y  # unreadable: NumPy may or may not have written into it


def _write_readonly_diagonal(x):
    y = np.zeros_like(x, shape=(4, 4))
    d = np.diagonal(y)
    d[0] = x[0]
    return y


@pytest.mark.parametrize("fun", [_write_through_reshape_of_view, _write_readonly_diagonal])
def test_ambiguous_or_readonly_view_write_raises(fun):
    _raises(linop.ViewWriteError, fun)


def test_complex_to_real_astype_refused():
    _raises(linop.UnsupportedFunctionError, lambda x: x.astype(np.float64),
                  linop.ShapeDtype((3,), np.complex128), match=".real")


def test_closure_over_outer_tracer():
    def outer(x):
        return linop.linear_transpose(lambda w: w * 2 + x, x)(x)[0]

    with pytest.raises(linop.LinopError):
        linop.trace(outer, X)


# -- linear_transpose argument and cotangent errors -----------------------------------
def test_integer_primal_rejected_with_path():
    with pytest.raises(TypeError, match=r"primals\[1\]\['w'\].*int64"):
        linop.linear_transpose(lambda x, d: x, X, {"w": np.zeros(3, np.int64)})


def test_bool_primal_rejected():
    with pytest.raises(TypeError, match="bool"):
        linop.linear_transpose(lambda x: x, np.zeros(3, bool))


def test_unknown_primal_type():
    with pytest.raises(TypeError, match="shape and .dtype"):
        linop.linear_transpose(lambda x: x, "abc")


def test_cotangent_wrong_structure():
    f_t = linop.linear_transpose(lambda x: (x, 2 * x), X)
    with pytest.raises(TypeError, match=r"structure.*\(\*, \*\)"):
        f_t([X, X])


def test_cotangent_wrong_shape():
    f_t = linop.linear_transpose(lambda x: x[:3], X)
    with pytest.raises(ValueError, match=r"shape \(3,\).*got \(4,\)"):
        f_t(X)


def test_cotangent_complex_for_real_output():
    f_t = linop.linear_transpose(lambda x: x, X)
    with pytest.raises(TypeError, match="complex"):
        f_t(X + 1j)


def test_cotangent_same_kind_cast_accepted():
    f_t = linop.linear_transpose(lambda x: 2 * x, linop.ShapeDtype((3,), np.float32))
    (out,) = f_t(np.ones(3, np.float64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 2.0)


def test_reduce_axes_validated():
    with pytest.raises(TypeError, match=r"reduce_axes=\('batch',\)"):
        linop.linear_transpose(lambda x: x, X, reduce_axes="batch")
    with pytest.raises(TypeError, match="hashable"):
        linop.linear_transpose(lambda x: x, X, reduce_axes=([1],))


def test_missing_ndarray_method_is_named():
    _raises(linop.NonLinearError, lambda x: x.max(), match="x.max()")
    _raises(linop.UnsupportedFunctionError, lambda x: x.fill(0), match="x.fill")
    with pytest.raises(AttributeError):
        linop.trace(lambda x: x.no_such_attribute, X)


def test_np_array_of_traced_pieces_suggests_stack():
    _raises(linop.ConversionError, lambda x: np.array([x[0], x[1]]), match="np.stack")


def test_sequence_into_single_element_raises_like_numpy():
    def f(x):
        y = np.zeros_like(x)
        y[0] = x[:1]
        return y

    with pytest.raises(ValueError, match="sequence"):
        linop.trace(f, X)

    def g(x):
        y = np.zeros_like(x)
        y[0, ...] = x[:1]
        return y

    np.testing.assert_array_equal(linop.trace(g, X)(np.arange(4.0)), g(np.arange(4.0)))


def test_element_reads_are_copies_as_in_numpy():
    def swap(x):
        y = x.copy()
        tmp = y[0]
        y[0] = y[1]
        y[1] = tmp
        return y

    x = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(linop.trace(swap, x)(x), swap(x))

    def accumulate_rows(x):
        y = x.reshape(2, 2).copy()
        for row in y:      # rows are views in NumPy: the writes land in y
            row *= 10
        return y

    np.testing.assert_array_equal(linop.trace(accumulate_rows, x)(x), accumulate_rows(x))


def test_layout_dependent_reshape_writes():
    def write_into_reshaped_copy(x):
        y = x.copy().reshape(2, 2)
        y[0, 0] = 5 * x[3]
        return y

    x = np.arange(4.0)
    np.testing.assert_array_equal(linop.trace(write_into_reshaped_copy, x)(x),
                                  write_into_reshaped_copy(x))

    def read_source_after_write(x):
        y = x.reshape(2, 2).T * 2
        r = y.reshape(-1)          # NumPy copies here (y is F-ordered); a C array would be a view
        r[0] = x[3]
        return y

    _raises(linop.ViewWriteError, read_source_after_write, match="written through")

    def sibling_view_after_write(x):
        y = x * 2
        s = y[1:]
        r = y.reshape(4)
        r[0] = x[1]
        return s

    _raises(linop.ViewWriteError, sibling_view_after_write)

    def stale_read(x):
        y = x * 2
        r = y.reshape(2, 2)
        y[0] = 0.0
        return r

    _raises(linop.ViewWriteError, stale_read)
    _raises(linop.UnsupportedFunctionError, lambda x: x.ravel(order="A"), match="order='A'")


def test_single_operand_einsum_write_raises():
    def f(x):
        y = x.reshape(2, 2).copy()
        d = np.einsum("ii->i", y)
        d[0] = x[1]
        return y

    _raises(linop.ViewWriteError, f)


def test_conj_of_real_is_a_view_and_astype_no_copy_is_the_array():
    def f(x):
        y = x.copy()
        c = y.conj()
        c[0] = 5 * x[1]
        a = y.astype(y.dtype, copy=False)
        a[1] = 0.0
        return y

    x = np.arange(4.0)
    np.testing.assert_array_equal(linop.trace(f, x)(x), f(x))


def test_element_assignment_into_plain_array_is_our_error():
    def f(x):
        y = np.zeros(4)
        y[0] = x[0]
        return y

    _raises(linop.ArrayAssignmentError, f, match="np.zeros_like(x, shape=")


def test_einsum_casting_and_labels_like_numpy():
    with pytest.raises(TypeError, match="according to the rule 'safe'"):
        linop.trace(lambda x: np.einsum("i->i", x, dtype=np.float32), X)
    with pytest.raises(ValueError, match="invalid subscript"):
        linop.trace(lambda x: np.einsum("i$->i", x), np.zeros((2, 2)))


def test_python_scalars_are_not_weak_in_contractions():
    x = np.ones(3, np.float32)
    for fun in (lambda x: np.dot(x, 2.0), lambda x: np.einsum("i,->i", x, 2.0),
                lambda x: np.multiply.outer(x, 2.0)):
        assert linop.trace(fun, x)(x).dtype == fun(x).dtype == np.float64


def test_float_axis_and_n_are_type_errors():
    for fun in (lambda x: x.sum(axis=0.0), lambda x: np.fft.fft(x, n=4.0)):
        with pytest.raises(TypeError, match="integer"):
            linop.trace(fun, X)


def test_replayed_programs_keep_the_users_lines():
    def f(x):
        return np.cumsum(x)[::-1]  # both equations come from this line

    line = f"{__file__}:{f.__code__.co_firstlineno + 1}"
    p = linop.trace(f, np.zeros(4))
    outer = linop.trace(lambda x: 2.0 * p(x), np.zeros(4))
    sources = {e.prim.name: e.source for e in outer.eqns}
    assert sources["cumsum"] == line and sources["rev"] == line
    assert sources["mul"] != line  # recorded where the outer function multiplies
    A = linop.aslinearoperator(f, np.zeros(4))
    assert {e.source for e in A.flat_program.eqns if e.prim.name in ("cumsum", "rev")} == {line}
