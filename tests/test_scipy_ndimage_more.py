"""linop.scipy.ndimage: Laplacians, traced filter weights, labelled measurements and Fourier filters."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as sn

import linop
from linop.scipy import ndimage as ln
from harness import REAL, Case, assert_tree_close, case_id, check_all, random_args

MODES = ("reflect", "constant", "nearest", "mirror", "wrap", "grid-mirror", "grid-constant", "grid-wrap")
rng = np.random.default_rng(11)
IMG = (5, 6)
INPUT = rng.standard_normal(IMG)                       # constant images for traced weights
INPUT_C = INPUT + 1j * rng.standard_normal(IMG)
INPUT_3D = rng.standard_normal((4, 3, 5))
LABELS = rng.integers(0, 4, IMG)
LABELS_FLOAT = LABELS * 0.5 - 0.25                    # SciPy's np.unique branch
LABELS_BIG = np.where(LABELS == 3, 1000, LABELS)      # larger than the size: np.unique branch too
LABELS_ROW = rng.integers(0, 3, (1, IMG[1]))          # broadcast against the input

CASES = []
pytestmark = pytest.mark.filterwarnings("ignore:promoting specified output dtype to complex")


def _add(name, fun, spec=IMG, **kw):
    CASES.append(Case(name, fun, (spec,), **kw))


def second_difference(input, axis, output, mode, cval):
    return ln.correlate1d(input, [1.0, -2.0, 1.0], axis, output, mode, cval)


def scaled_difference(input, axis, output, mode, cval, scale, *, shift=0):
    # SciPy ignores the first call's return value (it reads output): write the result there.
    return ln.correlate1d(input, [scale, -2.0 * scale, scale], axis, output, mode, cval, shift)


def _laplace_rows():
    for mode in MODES:
        _add(f"gaussian_laplace-{mode}", lambda x, m=mode: ln.gaussian_laplace(x, 1.1, mode=m))
        _add(f"generic_laplace-{mode}", lambda x, m=mode: ln.generic_laplace(x, second_difference, mode=m))
    _add("gaussian_laplace-sigma-seq", lambda x: ln.gaussian_laplace(x, (0.7, 1.6), truncate=2.5))
    _add("gaussian_laplace-axes", lambda x: ln.gaussian_laplace(x, (0.9, 1.3), axes=(2, 0), radius=2),
         (3, 2, 4))
    _add("gaussian_laplace-modes-seq", lambda x: ln.gaussian_laplace(x, 1.0, mode=("wrap", "nearest")))
    _add("gaussian_laplace-output-dtype", lambda x: ln.gaussian_laplace(x, 1.0, output=np.float64),
         dtypes=REAL)
    _add("generic_laplace-extra", lambda x: ln.generic_laplace(
        x, scaled_difference, extra_arguments=(2.5,), extra_keywords={"shift": 1}, axes=[1]))
    _add("generic_laplace-no-axes", lambda x: ln.generic_laplace(x, second_difference, axes=()))


def _weights_rows():
    """Traced weights, constant input (blind deconvolution)."""
    for mode in MODES:
        for f in ("correlate", "convolve"):
            fn = getattr(ln, f)
            _add(f"{f}-weights-{mode}", lambda w, fn=fn, m=mode: fn(INPUT, w, mode=m, cval=0.4), (3, 2),
                 c_linear=f == "convolve")
            _add(f"{f}-weights-{mode}-origin",
                 lambda w, fn=fn, m=mode: fn(INPUT, w, mode=m, origin=(1, -1)), (3, 4),
                 c_linear=f == "convolve")
        for f in ("correlate1d", "convolve1d"):
            fn = getattr(ln, f)
            _add(f"{f}-weights-{mode}", lambda w, fn=fn, m=mode: fn(INPUT, w, axis=0, mode=m, origin=-1),
                 (4,), c_linear=f == "convolve1d")
    for f in ("correlate", "convolve"):
        fn = getattr(ln, f)
        c_linear = f == "convolve"
        _add(f"{f}-weights-long", lambda w, fn=fn: fn(INPUT, w, mode="mirror"), (9, 7), c_linear=c_linear)
        _add(f"{f}-weights-complex-input", lambda w, fn=fn: fn(INPUT_C, w, mode="constant", cval=1 - 2j),
             (2, 3), c_linear=c_linear)
        _add(f"{f}-weights-axes", lambda w, fn=fn: fn(INPUT_3D, w, axes=(2, 0), origin=(0, 1)), (3, 2),
             c_linear=c_linear)
        _add(f"{f}-weights-axes-one", lambda w, fn=fn: fn(INPUT_3D, w, axes=1, mode="wrap"), (2,),
             c_linear=c_linear)
        _add(f"{f}-weights-output-dtype",
             lambda w, fn=fn: fn(INPUT.astype(np.float32), w, output=np.float64), (3, 3),
             c_linear=c_linear)
    _add("correlate1d-weights-last-axis", lambda w: ln.correlate1d(INPUT_3D, w, mode="nearest"), (3,),
         c_linear=False)


def _measurement_rows():
    for fname in ("sum_labels", "sum", "mean"):
        fn = getattr(ln, fname)
        _add(f"{fname}-all", lambda x, fn=fn: fn(x))
        _add(f"{fname}-labels-positive", lambda x, fn=fn: fn(x, LABELS))
        _add(f"{fname}-labels-scalar", lambda x, fn=fn: fn(x, LABELS, 2))
        _add(f"{fname}-labels-float-scalar", lambda x, fn=fn: fn(x, LABELS_FLOAT, 0.75))
        _add(f"{fname}-index-list", lambda x, fn=fn: fn(x, LABELS, [3, 0, 1]), dtypes=REAL)
        _add(f"{fname}-index-2d", lambda x, fn=fn: fn(x, LABELS, np.array([[1, 2], [2, 3]])), dtypes=REAL)
        _add(f"{fname}-labels-float-index", lambda x, fn=fn: fn(x, LABELS_FLOAT, [0.25, -0.25]), dtypes=REAL)
        _add(f"{fname}-labels-big", lambda x, fn=fn: fn(x, LABELS_BIG, [1000, 2]), dtypes=REAL)
        _add(f"{fname}-labels-broadcast", lambda x, fn=fn: fn(x, LABELS_ROW, [1, 2]), dtypes=REAL)
        _add(f"{fname}-input-broadcast", lambda x, fn=fn: fn(x, LABELS, [1, 2]), (IMG[1],), dtypes=REAL)
    _add("sum_labels-missing-labels", lambda x: ln.sum_labels(x, LABELS, [7, -1, 2]), dtypes=REAL)
    _add("sum_labels-float-index-int-labels", lambda x: ln.sum_labels(x, LABELS, [1.7, 2.2]), dtypes=REAL)
    _add("sum_labels-empty-group", lambda x: ln.sum_labels(x, LABELS, 9))


def _fourier_rows():
    for f, param in (("fourier_shift", (1.3, -0.6)), ("fourier_gaussian", (0.8, 1.7)),
                     ("fourier_uniform", (2.0, 3.5)), ("fourier_ellipsoid", (2.0, 3.5))):
        fn = getattr(ln, f)
        _add(f"{f}", lambda x, fn=fn, p=param: fn(x, p))
        _add(f"{f}-scalar", lambda x, fn=fn: fn(x, 1.4))
        _add(f"{f}-rfft-n", lambda x, fn=fn, p=param: fn(x, p, n=10, axis=1))
        _add(f"{f}-rfft-axis0", lambda x, fn=fn, p=param: fn(x, p, n=9, axis=0))
        _add(f"{f}-1d", lambda x, fn=fn: fn(x, 2.5), (7,))
        _add(f"{f}-3d", lambda x, fn=fn: fn(x, (1.0, 2.0, 1.5), n=5, axis=-1), (3, 4, 3))
    _add("fourier_gaussian-output-complex", lambda x: ln.fourier_gaussian(x, 1.0, output=np.complex128))
    _add("fourier_shift-output-complex64", lambda x: ln.fourier_shift(x, 0.5, output=np.complex64),
         dtypes=(np.float32, np.complex64))


_laplace_rows()
_weights_rows()
_measurement_rows()
_fourier_rows()


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_case(param):
    case, dtype = param
    check_all(case, dtype)


def test_fourier_filters_match_scipy_on_a_spectrum():
    image = rng.standard_normal((6, 8))
    spectrum = np.fft.rfft2(image)
    f = lambda s: ln.fourier_gaussian(s, 1.5, n=8, axis=-1)
    program = linop.trace(f, spectrum)
    assert_tree_close(program(spectrum), sn.fourier_gaussian(spectrum, 1.5, n=8, axis=-1), 1e-12)


def test_blind_deconvolution_operator_matches_scipy():
    kernel = rng.standard_normal((3, 3))
    A = linop.aslinearoperator(lambda k: ln.convolve(INPUT, k, mode="nearest"), kernel)
    np.testing.assert_allclose(A @ kernel.ravel(), sn.convolve(INPUT, kernel, mode="nearest").ravel())


def test_unsorted_axes_follow_scipy_for_traced_inputs():
    x = rng.standard_normal((4, 5, 3))
    w = rng.standard_normal((3, 2))
    f = lambda x: ln.correlate(x, w, axes=(2, 0), origin=(0, 1))
    assert_tree_close(linop.trace(f, x)(x), sn.correlate(x, w, axes=(2, 0), origin=(0, 1)), 1e-12)


def test_plain_arrays_call_scipy():
    x = rng.standard_normal(IMG)
    assert np.array_equal(ln.gaussian_laplace(x, 1.0), sn.gaussian_laplace(x, 1.0))
    assert np.array_equal(ln.gaussian_gradient_magnitude(x, 1.0), sn.gaussian_gradient_magnitude(x, 1.0))
    assert np.array_equal(ln.generic_gradient_magnitude(x, sn.sobel), sn.generic_gradient_magnitude(x, sn.sobel))
    assert ln.sum(x, LABELS, 1) == sn.sum(x, LABELS, 1)
    assert np.array_equal(ln.correlate(x, INPUT[:2, :3]), sn.correlate(x, INPUT[:2, :3]))


X = linop.ShapeDtype(IMG, np.float64)
W = linop.ShapeDtype((3, 3), np.float64)

ERRORS = [
    ("gaussian_gradient_magnitude", lambda x: ln.gaussian_gradient_magnitude(x, 1.0), X,
     linop.NonLinearError, "gaussian_filter"),
    ("scipy-gaussian_gradient_magnitude", lambda x: sn.gaussian_gradient_magnitude(x, 1.0), X,
     linop.NonLinearError, "gaussian_filter"),
    ("generic_gradient_magnitude", lambda x: ln.generic_gradient_magnitude(x, ln.sobel), X,
     linop.NonLinearError, "sobel"),
    ("scipy-generic_gradient_magnitude", lambda x: sn.generic_gradient_magnitude(x, sn.sobel), X,
     linop.NonLinearError, "not linear"),
    ("bilinear-correlate", lambda x: ln.correlate(x, x[:3, :3]), X, linop.NonLinearError, "bilinear"),
    ("bilinear-convolve1d", lambda x: ln.convolve1d(x, x[0, :3]), X, linop.NonLinearError, "bilinear"),
    ("integer-input-weights", lambda w: ln.correlate(LABELS, w), W, linop.NonLinearError, "integer"),
    ("weights-output-array", lambda w: ln.correlate(INPUT, w, output=np.zeros(IMG)), W,
     linop.UnsupportedFunctionError, "output array"),
    ("weights-bad-origin", lambda w: ln.correlate(INPUT, w, origin=2), W, ValueError, "origin"),
    ("derivative-returns-none", lambda x: ln.generic_laplace(x, lambda *a: None), X,
     linop.UnsupportedFunctionError, "return the derivative"),
    ("derivative-affine", lambda x: ln.generic_laplace(x, lambda i, *a: i + 1.0), X,
     linop.AffineError, "affine"),
    ("gaussian_laplace-traced-sigma", lambda x: ln.gaussian_laplace(x, x[0, 0]), X,
     linop.NonLinearError, "'sigma'"),
    ("gaussian_laplace-bad-sigma", lambda x: ln.gaussian_laplace(x, (1.0, 2.0, 3.0)), X,
     RuntimeError, "sequence argument must have length"),
    ("mean-empty-label", lambda x: ln.mean(x, LABELS, [1, 9]), X, linop.AffineError, r"\[9\]"),
    ("mean-empty-scalar", lambda x: ln.mean(x, LABELS, 9), X, linop.AffineError, "NaN"),
    ("sum_labels-traced-labels", lambda x: ln.sum_labels(x, x), X, linop.NonLinearError, "'labels'"),
    ("sum_labels-complex", lambda x: ln.sum_labels(x, LABELS, [1, 2]),
     linop.ShapeDtype(IMG, np.complex128), TypeError, "Cannot cast"),
    ("fourier-traced-shift", lambda x: ln.fourier_shift(x, x[0, 0]), X, linop.NonLinearError, "'shift'"),
    ("fourier-output-array", lambda x: ln.fourier_uniform(x, 2.0, output=np.zeros(IMG)), X,
     linop.UnsupportedFunctionError, "output array"),
    ("fourier-bad-output-dtype", lambda x: ln.fourier_gaussian(x, 2.0, output=np.int32), X,
     RuntimeError, "output type not supported"),
    ("fourier_ellipsoid-4d", lambda x: ln.fourier_ellipsoid(x, 2.0), linop.ShapeDtype((2,) * 4, np.float64),
     NotImplementedError, "Only 1d, 2d and 3d"),
    ("sum-index-0d-array", lambda x: ln.sum(x, LABELS, np.array(1)), X, TypeError, "item assignment"),
    ("weights-negative-scalar-axes", lambda w: ln.correlate(INPUT_3D, w, axes=-2),
     linop.ShapeDtype((2,), np.float64), RuntimeError, "must match"),
]


@pytest.mark.parametrize("name, fun, spec, error, match", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(name, fun, spec, error, match):
    with pytest.raises(error, match=match):
        linop.trace(fun, spec)


def test_traced_weights_cval_is_data():
    """A non-zero cval borders the constant input: the map stays linear in the weights."""
    w = random_args((linop.ShapeDtype((3, 3), np.float64),))[0]
    f = lambda w: ln.correlate(INPUT, w, mode="constant", cval=5.0)
    assert_tree_close(linop.trace(f, w)(w), sn.correlate(INPUT, w, mode="constant", cval=5.0), 1e-12)
