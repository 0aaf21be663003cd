"""linop.scipy.ndimage: every filter, geometric transform, boundary mode and order through the harness."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as sn

import linop
from linop.scipy import ndimage as ln
from harness import REAL, Case, case_id, check_all

MODES = ("reflect", "constant", "nearest", "mirror", "wrap", "grid-mirror", "grid-constant", "grid-wrap")
rng = np.random.default_rng(7)
W3 = np.array([0.5, -1.0, 2.0])
W4 = rng.standard_normal(4)
W_LONG = rng.standard_normal(9)          # longer than the axis: the boundary folds several times
W2D = rng.standard_normal((3, 2))
W2D_C = W2D + 1j * rng.standard_normal((3, 2))
COORDS = rng.uniform(-3.0, 8.0, size=(2, 4, 3))
AFFINE = np.array([[0.9, -0.3], [0.4, 1.1]])
IMG = (5, 6)

CASES = []
pytestmark = pytest.mark.filterwarnings("ignore:It is recommended to use mode")


def _add(name, fun, shape=IMG, **kw):
    CASES.append(Case(name, fun, (shape,), **kw))


for mode in MODES:
    for wname, w, origin in (("w3", W3, 1), ("w4", W4, -1), ("wlong", W_LONG, 0)):
        for f in ("correlate1d", "convolve1d"):
            _add(f"{f}-{mode}-{wname}-o{origin}",
                 lambda x, f=getattr(ln, f), w=w, m=mode, o=origin: f(x, w, axis=0, mode=m, origin=o))
    for f in ("correlate", "convolve"):
        _add(f"{f}-{mode}", lambda x, f=getattr(ln, f), m=mode: f(x, W2D, mode=m))
        _add(f"{f}-{mode}-origin", lambda x, f=getattr(ln, f), m=mode: f(x, W2D, mode=m, origin=(1, -1)))
        _add(f"{f}-{mode}-complex-weights", lambda x, f=getattr(ln, f), m=mode: f(x, W2D_C, mode=m))
        _add(f"{f}-{mode}-axes", lambda x, f=getattr(ln, f), m=mode: f(x, W4, mode=m, axes=(1,)),
             shape=(2, 5, 3))
    _add(f"uniform_filter1d-{mode}", lambda x, m=mode: ln.uniform_filter1d(x, 4, axis=-1, mode=m, origin=1))
    _add(f"uniform_filter-{mode}", lambda x, m=mode: ln.uniform_filter(x, (3, 4), mode=m))
    _add(f"gaussian_filter1d-{mode}", lambda x, m=mode: ln.gaussian_filter1d(x, 1.3, axis=0, mode=m))
    _add(f"gaussian_filter-{mode}", lambda x, m=mode: ln.gaussian_filter(x, (0.8, 2.0), mode=m))
    _add(f"sobel-{mode}", lambda x, m=mode: ln.sobel(x, axis=0, mode=m))
    _add(f"prewitt-{mode}", lambda x, m=mode: ln.prewitt(x, mode=m))
    _add(f"laplace-{mode}", lambda x, m=mode: ln.laplace(x, mode=m))
    for order in (0, 1):
        _add(f"shift-{mode}-o{order}", lambda x, m=mode, o=order: ln.shift(x, (1.3, -2.6), order=o, mode=m))
        _add(f"zoom-{mode}-o{order}", lambda x, m=mode, o=order: ln.zoom(x, (1.5, 0.7), order=o, mode=m))
        _add(f"zoom-gridmode-{mode}-o{order}",
             lambda x, m=mode, o=order: ln.zoom(x, 1.7, order=o, mode=m, grid_mode=True))
        _add(f"rotate-{mode}-o{order}", lambda x, m=mode, o=order: ln.rotate(x, 33.0, order=o, mode=m))
        _add(f"rotate-noreshape-3d-{mode}-o{order}",
             lambda x, m=mode, o=order: ln.rotate(x, -70.0, axes=(0, 2), reshape=False, order=o, mode=m),
             shape=(4, 2, 5))
        _add(f"affine_transform-{mode}-o{order}",
             lambda x, m=mode, o=order: ln.affine_transform(x, AFFINE, (0.5, -1.2), order=o, mode=m))
        _add(f"affine_transform-diag-{mode}-o{order}",
             lambda x, m=mode, o=order: ln.affine_transform(x, [0.8, 1.4], 0.6, output_shape=(4, 7),
                                                            order=o, mode=m))
        _add(f"affine_transform-homog-{mode}-o{order}",
             lambda x, m=mode, o=order: ln.affine_transform(
                 x, np.array([[1.1, 0.2, -0.7], [0.0, 0.9, 1.4], [0, 0, 1]]), order=o, mode=m))
        _add(f"map_coordinates-{mode}-o{order}",
             lambda x, m=mode, o=order: ln.map_coordinates(x, COORDS, order=o, mode=m))
_add("gaussian_filter-order1-radius", lambda x: ln.gaussian_filter(x, 1.0, order=(1, 0), radius=2))
_add("gaussian_filter1d-order2", lambda x: ln.gaussian_filter1d(x, 0.7, order=2, truncate=3.0))
_add("gaussian_filter-axes", lambda x: ln.gaussian_filter(x, 1.0, axes=(0, 2)), shape=(3, 2, 4))
_add("uniform_filter-modes-seq", lambda x: ln.uniform_filter(x, 3, mode=("wrap", "mirror")))
_add("correlate1d-length1-axis", lambda x: ln.correlate1d(x, W3, axis=1), shape=(4, 1))
_add("zoom-identity", lambda x: ln.zoom(x, 1, order=1))
_add("shift-1d-length1", lambda x: ln.shift(x, 0.4, order=1, mode="mirror"), shape=(1,))
_add("filter-output-dtype", lambda x: ln.uniform_filter(x, 3, output=np.float64), dtypes=REAL)
_add("shift-output-dtype", lambda x: ln.shift(x, 0.5, order=1, output="float64"), dtypes=REAL)


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_case(param):
    case, dtype = param
    check_all(case, dtype)


def test_plain_arrays_call_scipy():
    x = rng.standard_normal(IMG)
    assert np.array_equal(ln.rotate(x, 20, order=1), sn.rotate(x, 20, order=1))
    assert np.array_equal(ln.gaussian_filter(x, 1.0), sn.gaussian_filter(x, 1.0))


def test_geometric_transform_is_sparse():
    p = linop.trace(lambda x: ln.rotate(x, 30.0, order=1), np.zeros((40, 40)))
    assert "sparse_matmul" in str(p) and "sparse f64" in str(p)
    t = linop.transpose(p)
    assert "sparse_matmul" in str(t)


def test_errors():
    x = linop.ShapeDtype(IMG, np.float64)
    with pytest.raises(RuntimeError, match="spline order"):  # SciPy's own error for order 6
        linop.trace(lambda x: ln.map_coordinates(x, COORDS, order=6), x)
    with pytest.raises(linop.AffineError, match="cval"):
        linop.trace(lambda x: ln.shift(x, 1.0, order=1, cval=2.0), x)
    with pytest.raises(linop.AffineError, match="cval"):
        linop.trace(lambda x: ln.correlate(x, W2D, mode="constant", cval=1.0), x)
    linop.trace(lambda x: ln.correlate(x, W2D, mode="reflect", cval=1.0), x)  # cval unused: fine
    with pytest.raises(linop.UnsupportedFunctionError, match="output array"):
        linop.trace(lambda x: ln.sobel(x, output=np.zeros(IMG)), x)
    with pytest.raises(ValueError):  # SciPy's own error for an invalid origin
        linop.trace(lambda x: ln.correlate1d(x, W3, origin=5), x)
    with pytest.raises(RuntimeError):  # SciPy's own error for a bad mode
        linop.trace(lambda x: ln.uniform_filter(x, 3, mode="bogus"), x)
