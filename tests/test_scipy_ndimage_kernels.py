"""The numba kernel of the interpolation matrices (linop.scipy._interp_kernels) against the NumPy path.

Both must give the same matrices bit for bit (data, indices, indptr and their dtypes), in
every boundary mode, spline order, matrix dtype and number of axes, on coordinates that hit
the rules where the two could part: exact grid points (zero weights), a hair beside them
(float32 products that underflow), borders, far outside, and coordinates beyond int64 taps.
The NumPy path itself is compared with SciPy in tests/test_scipy_ndimage_spline.py, and so
(where numba is installed) is the kernel.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from linop.errors import InterpolationKernelWarning
from linop.scipy import _interp
from linop.scipy._interp import NUMBA_ENV, numba_kernels, point_taps_matrix

pytest.importorskip("numba")

MODES = ("constant", "nearest", "reflect", "mirror", "wrap", "grid-mirror", "grid-constant",
         "grid-wrap")
SHAPES = [(7,), (1, 6), (5, 6), (4, 3, 5)]
pytestmark = pytest.mark.filterwarnings("error::linop.errors.InterpolationKernelWarning")


def _coordinates(shape, seed=0):
    """Random coordinates inside and outside, exact grid points, points a hair beside them
    (tiny weights: float32 underflow for high orders), half-integers and the borders."""
    rng = np.random.default_rng(seed)
    d = len(shape)
    c = rng.uniform(-4.0, max(shape) + 4.0, (d, 400))
    c[:, :60] = np.round(c[:, :60])
    c[:, 60:120] = np.nextafter(np.round(c[:, 60:120]), np.inf)
    c[:, 120:150] = np.round(c[:, 120:150]) + 1e-9
    c[:, 150:170] = np.round(c[:, 150:170]) + 0.5
    c[:, 170:180] = (np.array(shape) - 1.0)[:, None]
    c[:, 180:190] = -0.0
    return c


def _both_paths(monkeypatch, coords, shape, mode, order, dtype):
    """``(NumPy's matrix, the kernel's matrix)``."""
    monkeypatch.setenv(NUMBA_ENV, "0")
    assert numba_kernels() is None
    reference = point_taps_matrix(coords, shape, mode, order, dtype)
    monkeypatch.setenv(NUMBA_ENV, "1")
    assert numba_kernels() is not None
    return reference, point_taps_matrix(coords, shape, mode, order, dtype)


def _assert_same_bits(a, b):
    assert a.shape == b.shape
    for part in ("data", "indices", "indptr"):
        x, y = getattr(a, part), getattr(b, part)
        assert x.dtype == y.dtype and x.shape == y.shape, part
        assert np.array_equal(x.view(np.uint8), y.view(np.uint8)), part


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("order", range(6))
@pytest.mark.parametrize("mode", MODES)
def test_kernel_matrix_is_numpys_bit_for_bit(monkeypatch, mode, order, shape, dtype):
    coords = _coordinates(shape, seed=order)
    reference, got = _both_paths(monkeypatch, coords, shape, mode, order, dtype)
    _assert_same_bits(reference, got)
    assert got.has_canonical_format and np.all(got.data != 0)


def test_the_cases_include_underflow_and_dropped_zeros():
    """The coordinates above make float32 rows lose entries that float64 rows keep, and
    rows lose entries at grid points: the kernel's zero rules are exercised."""
    coords = _coordinates((5, 6), seed=5)
    wide, narrow = (point_taps_matrix(coords, (5, 6), "reflect", 5, t)
                    for t in (np.float64, np.float32))
    assert narrow.nnz < wide.nnz < 36 * coords.shape[1]


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("mode", ["nearest", "grid-constant"])
def test_coordinates_beyond_int64_taps_give_numpys_matrix(monkeypatch, mode):
    # nearest and grid-constant do not fold coordinates: the taps of 1e300 are NumPy's to decide
    coords = np.array([[1e300, -1e300, 2.5, 3e18], [1.0, 2.0, 1e200, 0.5]])
    reference, got = _both_paths(monkeypatch, coords, (4, 5), mode, 3, np.float64)
    _assert_same_bits(reference, got)


def test_int64_indices_are_numpys(monkeypatch):
    monkeypatch.setattr(_interp, "_index_dtype", lambda *sizes: np.int64)
    coords = _coordinates((5, 6))
    reference, got = _both_paths(monkeypatch, coords, (5, 6), "mirror", 3, np.float32)
    assert got.indices.dtype == np.int64 and got.indptr.dtype == np.int64
    _assert_same_bits(reference, got)


def test_no_point_inside(monkeypatch):
    coords = np.full((2, 5), -7.0)
    reference, got = _both_paths(monkeypatch, coords, (3, 4), "constant", 1, np.float64)
    assert got.nnz == 0
    _assert_same_bits(reference, got)


def test_the_float32_zero_threshold_is_exact():
    tiny = _interp._rounds_to_zero(np.dtype(np.float32))
    assert np.float32(tiny) == 0 and np.float32(-tiny) == 0
    assert np.float32(np.nextafter(tiny, 1.0)) != 0
    assert _interp._rounds_to_zero(np.dtype(np.float64)) == 0.0


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_dtypes_numba_lacks_are_built_by_numpy(monkeypatch, dtype):
    kernels = numba_kernels()
    monkeypatch.setattr(kernels, "csr_rows", _failing_kernel)
    M = point_taps_matrix(_coordinates((5, 6)), (5, 6), "wrap", 3, dtype)
    assert M.dtype == dtype and M.nnz > 0  # no kernel call, so no warning


def _failing_kernel(*args):
    raise RuntimeError("no kernel today")


def test_a_failing_kernel_warns_once_and_numpy_builds_the_matrices(monkeypatch):
    coords = _coordinates((5, 6))
    monkeypatch.setenv(NUMBA_ENV, "0")
    reference = point_taps_matrix(coords, (5, 6), "reflect", 3, np.float64)
    monkeypatch.setenv(NUMBA_ENV, "1")
    monkeypatch.setattr(_interp, "_KERNELS", dict(_interp._KERNELS))  # restored afterwards
    monkeypatch.setattr(numba_kernels(), "csr_rows", _failing_kernel)
    with pytest.warns(InterpolationKernelWarning, match="no kernel today.*NumPy builds them"):
        got = point_taps_matrix(coords, (5, 6), "reflect", 3, np.float64)
    _assert_same_bits(reference, got)
    assert numba_kernels() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_same_bits(reference, point_taps_matrix(coords, (5, 6), "reflect", 3, np.float64))


def test_the_environment_switch_turns_the_kernel_off(monkeypatch):
    monkeypatch.setenv(NUMBA_ENV, "0")
    assert numba_kernels() is None
    monkeypatch.setenv(NUMBA_ENV, " 1 ")
    assert numba_kernels() is not None
