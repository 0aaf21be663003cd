"""Clear errors instead of misleading ones: SciPy on tracers, np.r_, escaped tracers, linear-but-unsupported."""
from __future__ import annotations

import copy
import os
import pickle

import numpy as np
import pytest
import scipy.fftpack
import scipy.interpolate
import scipy.linalg
import scipy.ndimage
import scipy.signal
import scipy.sparse
import scipy.sparse.linalg
import scipy.special

import linop
from linop.testing import check_transpose

THIS_FILE = os.path.basename(__file__)
X = np.zeros(8)
IMG = np.zeros((6, 6))


def _error(exc_type, fun, primal=X):
    with pytest.raises(exc_type) as info:
        linop.trace(fun, primal)
    msg = str(info.value)
    assert f"{THIS_FILE}:" in msg, f"no file:line of the user's code in: {msg}"
    return msg


# -- SciPy called directly on a tracer -------------------------------------------------
SCIPY_CALLS = [  # (id, function, primal, SciPy's public name, what to use instead or None)
    ("gaussian_filter", lambda x: scipy.ndimage.gaussian_filter(x, 1.0), X,
     "scipy.ndimage.gaussian_filter", "linop.scipy.ndimage.gaussian_filter"),
    ("ndimage.rotate", lambda x: scipy.ndimage.rotate(x, 30), IMG,
     "scipy.ndimage.rotate", "linop.scipy.ndimage.rotate"),
    ("signal.convolve", lambda x: scipy.signal.convolve(x, [1.0, 2.0]), X,
     "scipy.signal.convolve", "linop.scipy.signal.convolve"),
    ("signal.lfilter", lambda x: scipy.signal.lfilter([1.0], [1.0, 0.5], x), X,
     "scipy.signal.lfilter", "linop.scipy.signal.lfilter"),
    ("fftpack.fft", lambda x: scipy.fftpack.fft(x), X, "scipy.fftpack.fft", "scipy.fft.fft"),
    ("fftpack.rfft", lambda x: scipy.fftpack.rfft(x), X, "scipy.fftpack.rfft", None),
    ("fftpack.dct", lambda x: scipy.fftpack.dct(x, 3), X, "scipy.fftpack.dct", "scipy.fft.dct"),
    ("fftpack.idst", lambda x: scipy.fftpack.idst(x), X, "scipy.fftpack.idst", "scipy.fft.idst"),
    ("median_filter", lambda x: scipy.ndimage.median_filter(x, 3), X,
     "scipy.ndimage.median_filter", None),
    ("interp1d", lambda x: scipy.interpolate.interp1d(np.arange(8.0), x)(1.5), X,
     "scipy.interpolate.interp1d", None),
]


@pytest.mark.parametrize("name,fun,primal,scipy_name,instead", SCIPY_CALLS,
                         ids=[c[0] for c in SCIPY_CALLS])
def test_scipy_called_on_a_tracer_names_the_function_and_the_fix(name, fun, primal, scipy_name,
                                                                  instead):
    msg = _error(linop.UnsupportedFunctionError, fun, primal)
    assert f"{scipy_name} at " in msg or f"{scipy_name}." in msg, msg
    assert "np.asarray" not in msg and "needs the values" not in msg, msg
    if instead is None:
        assert "@linop.custom_linear" in msg, msg
    else:
        assert f"Use {instead}" in msg, msg


def test_scipy_special_ufunc_is_named_as_scipy_special():
    msg = _error(linop.NonLinearError, lambda x: scipy.special.erf(x))
    assert "scipy.special.erf" in msg and "np.erf" not in msg, msg


# -- np.r_ / np.c_, sequences of tracers, shape assignment --------------------------------
@pytest.mark.parametrize("fun", [lambda x: np.r_[x, x], lambda x: np.c_[x, x]], ids=["r_", "c_"])
def test_index_tricks_join_traced_pieces(fun):
    x = np.arange(8.0)
    np.testing.assert_array_equal(linop.trace(fun, X)(x), fun(x))


def test_index_tricks_matrix_directive_gets_a_true_message():
    msg = _error(linop.UnsupportedFunctionError, lambda x: np.r_["c", x, x])
    assert "np.matrix" in msg and "np.concatenate" in msg and "used as an index" not in msg, msg
    assert not isinstance(linop.ConversionError("x"), linop.NonLinearError)


def _assign_list(x):
    y = np.zeros_like(x)
    y[0:2] = [x[1], x[0]]
    y[2:4] = (x[3], 0.0)
    y[6:8] = np.array([[1.0, 0.0]]) * x[6]
    y[[5, 4]] = (x[4], x[5])
    return y


def test_assigning_a_sequence_of_tracers_stacks_it():
    x = np.arange(8.0)
    np.testing.assert_array_equal(linop.trace(_assign_list, X)(x), _assign_list(x))
    check_transpose(_assign_list, X)


@pytest.mark.parametrize("value,match", [
    (lambda x: [x[1], x[0:2]], "setting an array element with a sequence"),
    (lambda x: ((x[3], 0.0),), "exceed the maximum number of dimension of 1"),
], ids=["ragged", "too_deep"])
def test_assigning_a_bad_sequence_of_tracers_is_numpys_value_error(value, match):
    def f(x):
        y = np.zeros_like(x)
        y[0:2] = value(x)
        return y

    with pytest.raises(ValueError, match=match):
        f(np.arange(8.0))
    with pytest.raises(ValueError, match=match):
        linop.trace(f, X)


def _set_shape(x):
    y = x * 2.0
    row = y[:3]  # a view made before the shape changes
    y.shape = (2, 4)
    row[0] = x[7]  # writes through the old view reach the reshaped array
    col = y[:, 1]
    y[1] *= 3.0
    return y, row, col


def _set_shape_of_view(x):
    y = x * 1.0
    v = y[2:]
    v.shape = (3, -1)
    v[0, 0] = 0.0  # a view of y with a new shape: writes still reach y
    y[7] = x[0]  # and v sees writes into y
    return y, v


@pytest.mark.parametrize("fun", [_set_shape, _set_shape_of_view], ids=["array", "view"])
def test_shape_assignment_reshapes_in_place_as_numpy(fun):
    x = np.arange(8.0) + 1
    got = linop.trace(fun, X)(x)
    for g, e in zip(got, fun(x)):
        np.testing.assert_array_equal(g, e)
    check_transpose(fun, X)


def test_shape_assignment_errors_are_numpys():
    def bad_size(x):
        x.shape = (3,)
        return x

    def two_unknown(x):
        x.shape = (-1, -1)
        return x

    with pytest.raises(ValueError, match="cannot reshape array of size 8 into shape"):
        linop.trace(bad_size, X)
    with pytest.raises(ValueError, match="can only specify one unknown dimension"):
        linop.trace(two_unknown, X)


# -- a tracer used after its trace ended -------------------------------------------------
ESCAPED_USES = [
    ("mul", lambda t: t * 2.0),
    ("add_constant", lambda t: t + 1.0),
    ("sin", lambda t: np.sin(t)),
    ("index", lambda t: t[0]),
    ("sum", lambda t: np.sum(t)),
    ("asarray", lambda t: np.asarray(t)),
    ("bool", lambda t: bool(t)),
    ("float", lambda t: float(t[0])),
    ("setitem", lambda t: t.__setitem__(0, 1.0)),
    ("in_another_trace", lambda t: linop.trace(lambda y: y + t, X)),
    ("ufunc_out", lambda t: np.multiply(np.ones(8), 2.0, out=t)),
    ("deepcopy", lambda t: copy.deepcopy(t)),
    ("copy", lambda t: copy.copy(t)),
]


@pytest.mark.parametrize("name,use", ESCAPED_USES, ids=[c[0] for c in ESCAPED_USES])
def test_escaped_tracer_is_a_clear_error(name, use):
    escaped = []

    def f(x):
        escaped.append(x)
        return x

    program = linop.trace(f, X)
    n_eqns = len(program.eqns)
    with pytest.raises(linop.EscapedTracerError) as info:
        use(escaped[0])
    msg = str(info.value)
    assert f"{THIS_FILE}:" in msg and "escaped" in msg and "Return it" in msg, msg
    assert len(program.eqns) == n_eqns


def test_tracer_escaping_by_exception_is_closed_too():
    escaped = []

    def f(x):
        escaped.append(x)
        raise RuntimeError("user error")

    with pytest.raises(RuntimeError, match="user error"):
        linop.trace(f, X)
    with pytest.raises(linop.EscapedTracerError):
        escaped[0] * 2.0


# -- linear in the traced argument, but refused for another reason ------------------------
LINEAR_BUT_UNSUPPORTED = [
    ("polyfit_y", lambda y: np.polyfit(np.arange(8.0), y, 1), "np.polyfit", "y"),
]


@pytest.mark.parametrize("name,fun,what,arg", LINEAR_BUT_UNSUPPORTED,
                         ids=[c[0] for c in LINEAR_BUT_UNSUPPORTED])
def test_linear_but_unsupported_is_never_called_not_linear(name, fun, what, arg):
    msg = _error(linop.UnsupportedFunctionError, fun)
    assert f"{what} at " in msg and f"linear in its traced argument {arg}" in msg, msg
    assert "not linear" not in msg


@pytest.mark.parametrize("fun,what", [
    (lambda x: np.polyfit(x, np.arange(8.0), 1), "np.polyfit"),
    (lambda a: np.histogram(a, weights=np.ones(8)), "np.histogram"),
    (lambda w: np.histogram(np.arange(8.0), weights=w, density=True), "density"),
], ids=["polyfit_x", "histogram_a", "histogram_density"])
def test_really_nonlinear_arguments_stay_nonlinear(fun, what):
    msg = _error(linop.NonLinearError, fun)
    assert what in msg, msg


RNG = np.random.default_rng(0)
SAMPLES = RNG.normal(size=40)
HISTOGRAMS = [
    ("bins", dict(bins=7)),
    ("edges", dict(bins=[-1.0, 0.0, 0.5, 2.0])),
    ("range", dict(bins=5, range=(-1.0, 1.0))),
]


@pytest.mark.parametrize("name,kw", HISTOGRAMS, ids=[h[0] for h in HISTOGRAMS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_weighted_histogram_is_traced(name, kw, dtype):
    edges_seen = []

    def f(w):
        hist, edges = np.histogram(SAMPLES, weights=w, **kw)
        edges_seen.append(edges)
        return hist

    w = (RNG.normal(size=40) + (1j if dtype == np.complex128 else 0)).astype(dtype)
    hist, ref_hist = linop.trace(f, w)(w), f(w)
    assert hist.dtype == ref_hist.dtype
    np.testing.assert_allclose(hist, ref_hist, rtol=1e-5)
    np.testing.assert_array_equal(edges_seen[0], edges_seen[1])  # the edges: NumPy's constants
    if dtype != np.float32:
        check_transpose(f, w)


def test_weighted_histogram_refuses_automatic_bins_as_numpy():
    with pytest.raises(TypeError, match="not supported for weighted data"):
        linop.trace(lambda w: np.histogram(SAMPLES, bins="auto", weights=w), SAMPLES)


def test_bincount_with_traced_weights():
    idx = np.array([0, 3, 3, 1, 0])

    def f(w):
        return np.bincount(idx, weights=w, minlength=6)

    w = RNG.normal(size=5).astype(np.float32)
    got, ref = linop.trace(f, w)(w), f(w)
    assert got.dtype == ref.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    check_transpose(f, np.zeros(5))
    with pytest.raises(TypeError, match="Cannot cast"):
        linop.trace(f, np.zeros(5, complex))
    with pytest.raises(ValueError, match="same length"):
        linop.trace(f, np.zeros(4))


def test_traced_arrays_still_refuse_pickling_with_a_clear_error():
    def f(x):
        pickle.dumps(x)
        return x

    with pytest.raises(linop.ConversionError, match="pickle the Program"):
        linop.trace(f, X)


def test_returning_an_escaped_tracer_is_an_escaped_tracer_error_at_the_function():
    escaped = []
    linop.trace(lambda x: escaped.append(x) or x, X)
    for make in (linop.trace, linop.linear_transpose):
        with pytest.raises(linop.EscapedTracerError) as info:
            make(lambda x: escaped[0], X)
        msg = str(info.value)
        assert f"{THIS_FILE}:" in msg and "ended" in msg and "escaped" in msg, msg


# -- SciPy functions with traced arguments: which argument, and what to call -------------
TRIANGULAR = np.triu(np.ones((8, 8))) + np.eye(8)
SCIPY_WITH_EQUIVALENT = [  # (id, function, SciPy's name, the advice)
    ("solve_triangular", lambda x: scipy.linalg.solve_triangular(TRIANGULAR, x),
     "scipy.linalg.solve_triangular", "Use linop.scipy.linalg.solve_triangular"),
    ("linalg.solve", lambda x: scipy.linalg.solve(TRIANGULAR, x), "scipy.linalg.solve",
     "Use linop.scipy.linalg.solve"),
    ("linalg.lstsq", lambda x: scipy.linalg.lstsq(TRIANGULAR, x)[0], "scipy.linalg.lstsq",
     "np.linalg.lstsq computes the same map"),
    ("sparse.spsolve",
     lambda x: scipy.sparse.linalg.spsolve(scipy.sparse.csc_matrix(TRIANGULAR), x),
     "scipy.sparse.linalg.spsolve", "Use linop.scipy.sparse.linalg.spsolve"),
]


@pytest.mark.parametrize("name,fun,scipy_name,advice", SCIPY_WITH_EQUIVALENT,
                         ids=[c[0] for c in SCIPY_WITH_EQUIVALENT])
def test_scipy_call_points_to_what_linop_traces(name, fun, scipy_name, advice):
    msg = _error(linop.UnsupportedFunctionError, fun)
    assert f"{scipy_name} at " in msg and advice in msg, msg
    assert "no equivalent" not in msg and "wrapper" not in msg, msg


PARAMETER_TRACED = [  # (id, function, the function named, the traced parameter)
    ("linop.shift", lambda x: linop.scipy.ndimage.shift(IMG, x[0, 0]),
     "linop.scipy.ndimage.shift", "shift"),
    ("scipy.shift", lambda x: scipy.ndimage.shift(IMG, x[0, 0]), "scipy.ndimage.shift", "shift"),
    ("scipy.shift-both", lambda x: scipy.ndimage.shift(x, x[0, 0], order=1),
     "scipy.ndimage.shift", "shift"),
    ("scipy.gaussian-sigma", lambda x: scipy.ndimage.gaussian_filter(IMG, sigma=x[0, 0]),
     "scipy.ndimage.gaussian_filter", "sigma"),
    ("linop.gaussian-sigma", lambda x: linop.scipy.ndimage.gaussian_filter(IMG, sigma=x[0, 0]),
     "linop.scipy.ndimage.gaussian_filter", "sigma"),
    ("linop.zoom", lambda x: linop.scipy.ndimage.zoom(x, x[0, 0]), "linop.scipy.ndimage.zoom",
     "zoom"),
    ("linop.map_coordinates", lambda x: linop.scipy.ndimage.map_coordinates(x, [x[0], x[1]]),
     "linop.scipy.ndimage.map_coordinates", "coordinates"),
    ("linop.solve_triangular-a", lambda x: linop.scipy.linalg.solve_triangular(x, x[0]),
     "linop.scipy.linalg.solve_triangular", "a"),
]


@pytest.mark.parametrize("name,fun,function,parameter", PARAMETER_TRACED,
                         ids=[c[0] for c in PARAMETER_TRACED])
def test_traced_non_linear_parameter_is_named(name, fun, function, parameter):
    msg = _error(linop.NonLinearError, fun, IMG)
    assert f"{function} at " in msg and f"argument {parameter!r} is a traced array" in msg, msg
    assert "must be constant" in msg and "Use linop" not in msg and "np.greater" not in msg, msg


def test_list_assignment_with_a_non_zero_constant_names_the_assignment():
    def f(x):
        y = np.zeros_like(x, shape=(3, 8))
        y[0:2] = [x, np.ones(8)]
        return y

    msg = _error(linop.AffineError, f)
    assert "assignment" in msg and "np.concatenate" not in msg and "np.stack" not in msg, msg
