"""linop.scipy.ndimage's geometric transforms at spline orders 0–5 and the spline prefilters.

Every transform × order × boundary mode runs through the harness (forward against SciPy
on random inputs, dense-oracle transpose in four dtypes, double transpose; vmap = loop in
tests/test_vmap.py); the interpolation matrices and the prefilter's transpose are also
checked directly against SciPy, on coordinates chosen to hit its rounding and folding rules.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy
import scipy.ndimage as sn

import linop
from linop.primitives.spline_filter import spline_filter as spline_step
from linop.scipy import ndimage as ln
from linop.scipy._interp import point_taps_matrix
from harness import REAL, Case, assert_tree_close, case_id, check_all, random_args

MODES = ("constant", "nearest", "reflect", "mirror", "wrap", "grid-mirror", "grid-constant",
         "grid-wrap")
ORDERS = range(6)
IMG = (4, 5)
rng = np.random.default_rng(11)
COORDS = rng.uniform(-3.0, 7.0, size=(2, 3, 2))   # far outside on every side, too
AFFINE = np.array([[0.9, -0.35], [0.4, 1.1]])
X = linop.ShapeDtype(IMG, np.float64)
HOMOGENEOUS = np.array([[1.1, 0.2, -0.7], [0.0, 0.9, 1.4], [0.0, 0.0, 1.0]])


def warp(o):
    """A non-affine mapping for geometric_transform (output (5, 4) → input (4, 5))."""
    return (0.7 * o[0] - 0.4 + 0.05 * o[1] ** 2, 1.2 * o[1] + 0.3 * o[0] - 0.6)


CASES = []
pytestmark = [pytest.mark.filterwarnings("ignore:It is recommended to use mode"),
              pytest.mark.filterwarnings("ignore:promoting specified output dtype to complex")]


def _add(name, fun, shape=IMG, **kw):
    CASES.append(Case(name, fun, (shape,), **kw))


for mode in MODES:
    for order in ORDERS:
        tag = f"{mode}-o{order}"
        _add(f"shift-{tag}", lambda x, m=mode, o=order: ln.shift(x, (1.3, -2.6), order=o, mode=m))
        _add(f"zoom-{tag}", lambda x, m=mode, o=order: ln.zoom(x, (1.5, 0.7), order=o, mode=m))
        _add(f"rotate-{tag}", lambda x, m=mode, o=order: ln.rotate(x, 33.0, order=o, mode=m))
        _add(f"affine_transform-{tag}",
             lambda x, m=mode, o=order: ln.affine_transform(x, AFFINE, (0.5, -1.2), order=o, mode=m))
        _add(f"map_coordinates-{tag}",
             lambda x, m=mode, o=order: ln.map_coordinates(x, COORDS, order=o, mode=m))
        _add(f"geometric_transform-{tag}",
             lambda x, m=mode, o=order: ln.geometric_transform(x, warp, (5, 4), order=o, mode=m))
    for order in range(2, 6):
        tag = f"{mode}-o{order}"
        _add(f"spline_filter1d-{tag}",
             lambda x, m=mode, o=order: ln.spline_filter1d(x, o, axis=0, mode=m))
        _add(f"spline_filter-{tag}", lambda x, m=mode, o=order: ln.spline_filter(x, o, mode=m))
    for order in (2, 3, 5):
        tag = f"{mode}-o{order}"
        _add(f"zoom-gridmode-{tag}",
             lambda x, m=mode, o=order: ln.zoom(x, 1.7, order=o, mode=m, grid_mode=True))
        _add(f"rotate-3d-noreshape-{tag}",
             lambda x, m=mode, o=order: ln.rotate(x, -70.0, axes=(0, 2), reshape=False, order=o,
                                                  mode=m), shape=(4, 2, 5))
        _add(f"affine_transform-diag-{tag}",
             lambda x, m=mode, o=order: ln.affine_transform(x, [0.8, 1.4], 0.6, output_shape=(4, 7),
                                                            order=o, mode=m))
        _add(f"shift-noprefilter-{tag}",
             lambda x, m=mode, o=order: ln.shift(x, (0.4, -1.7), order=o, mode=m, prefilter=False))
        # Lines of length 2 and 3: SciPy's reflect initialisation is inexact there.
        _add(f"map_coordinates-short-{tag}",
             lambda x, m=mode, o=order: ln.map_coordinates(x, COORDS[:, :2] * 0.4, order=o, mode=m),
             shape=(2, 3))
_add("affine_transform-homogeneous-o4", lambda x: ln.affine_transform(x, HOMOGENEOUS, order=4))
_add("affine_transform-rows-o3", lambda x: ln.affine_transform(x, HOMOGENEOUS[:2], order=3,
                                                                mode="mirror"))
_add("rotate-reshape-o3", lambda x: ln.rotate(x, 120.0, mode="reflect"))
_add("rotate-axes-negative-o5", lambda x: ln.rotate(x, 15.0, axes=(-1, -3), order=5),
     shape=(3, 2, 4))
_add("map_coordinates-1d-o3", lambda x: ln.map_coordinates(x, [[-1.5, 0.0, 2.5, 4.0, 9.0]],
                                                           mode="nearest"), shape=(5,))
COORDS_3D = rng.uniform(-1.0, 3.0, size=(3, 4))
_add("map_coordinates-3d-o2", lambda x: ln.map_coordinates(x, COORDS_3D, order=2, mode="grid-wrap"),
     shape=(3, 2, 3))
_add("geometric_transform-extra-args-o3",
     lambda x: ln.geometric_transform(x, lambda o, a, b=0.0: (o[0] * a + b, o[1] - b), order=3,
                                      extra_arguments=(0.8,), extra_keywords={"b": 0.3}))
_add("shift-length1-o3", lambda x: ln.shift(x, (0.4, 1.2), mode="mirror"), shape=(1, 4))
_add("zoom-identity-o3", lambda x: ln.zoom(x, 1))
_add("zoom-identity-noprefilter-o3", lambda x: ln.zoom(x, 1, prefilter=False))
_add("shift-output-float64-o3", lambda x: ln.shift(x, 0.5, output=np.float64), dtypes=REAL)
_add("rotate-output-complex128-o3", lambda x: ln.rotate(x, 20.0, output=np.complex128),
     dtypes=(np.complex64,))
_add("spline_filter1d-order1-copy", lambda x: ln.spline_filter1d(x, 1))
_add("spline_filter1d-output-float32", lambda x: ln.spline_filter1d(x, 3, output=np.float32),
     dtypes=(np.float32,))  # a float64 input rounded to float32: test_a_narrower_output_dtype...
_add("spline_filter-length2-reflect-o5", lambda x: ln.spline_filter(x, 5, mode="reflect"),
     shape=(2, 2))


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_case(param):
    case, dtype = param
    check_all(case, dtype)


# -- the interpolation matrices against SciPy, point by point ---------------------------
def _probe_coordinates(n):
    """Coordinates that hit SciPy's rules: integers, half-integers (ties), the borders,
    a hair inside and outside them, and far outside."""
    special = np.array([0.0, -0.0, 0.5, -0.5, n - 1.0, n - 0.5, n - 1.0 + 1e-12, -1e-16, -1e-15,
                        -1.0, -1.5, n, n + 0.5, -3 * n - 0.25, 4 * n + 0.75, 2.5, 1.0 - 1e-16])
    return np.concatenate([special, np.random.default_rng(n).uniform(-2 * n, 3 * n, 60)])


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_interpolation_matrix_is_scipys(mode, order, n):
    grid = (n, 3)
    c0 = _probe_coordinates(n)
    c1 = np.random.default_rng(1).uniform(-4, 6, c0.size)
    coords = np.stack([c0, c1])
    M = point_taps_matrix(coords, grid, mode, order, np.float64)
    assert M.has_canonical_format and np.all(M.data != 0)
    for k in range(n * 3):
        basis = np.zeros(n * 3)
        basis[k] = 1.0
        want = sn.map_coordinates(basis.reshape(grid), coords, order=order, mode=mode,
                                  prefilter=False)
        np.testing.assert_allclose(M @ basis, want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("order", [1, 3, 5])
@pytest.mark.parametrize("mode", ["constant", "grid-constant", "reflect"])
def test_interpolation_matrix_built_in_many_blocks_is_scipys(mode, order):
    """Enough points for many blocks of the build, rows losing entries in some blocks only
    (grid points, borders, taps outside for ``grid-constant``), and float32 products that
    underflow (just below grid points, for orders from 3): SciPy's values, canonical form,
    and float32 entries that are the float64 ones rounded once."""
    rng = np.random.default_rng(order)
    grid = (23, 19)
    coords = rng.uniform(-3.0, 25.0, (2, 40000))
    coords[:, 5000:9000] = np.round(coords[:, 5000:9000])
    coords[:, -3000:] = np.nextafter(rng.integers(1, 18, (2, 3000)), 0.0)  # just below
    img = rng.standard_normal(grid)
    want = sn.map_coordinates(img, coords, order=order, mode=mode, prefilter=False)
    matrices = {}
    for dtype, tol in [(np.float64, 1e-12), (np.float32, 1e-4)]:
        M = point_taps_matrix(coords, grid, mode, order, dtype)
        assert M.dtype == dtype and M.has_canonical_format and np.all(M.data != 0)
        np.testing.assert_allclose(M @ img.ravel().astype(dtype), want, rtol=tol, atol=tol)
        matrices[dtype] = M
    rounded = matrices[np.float64].astype(np.float32)
    rounded.eliminate_zeros()
    assert (rounded.nnz < matrices[np.float64].nnz) == (order >= 3)  # float32 underflows
    for part in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(matrices[np.float32], part), getattr(rounded, part))


# -- the prefilter's transpose, on the primitive itself -------------------------------------
@pytest.mark.parametrize("order", [2, 3, 4, 5])
@pytest.mark.parametrize("mode", MODES)
def test_spline_filter_transpose_is_exact(mode, order):
    for n in [1, 2, 3, 4, 7, 30]:
        P = sn.spline_filter1d(np.eye(n), order, axis=0, mode=mode)
        np.testing.assert_allclose(spline_step(np.eye(n), order, mode, 0), P, atol=1e-15)
        # the columns of eye(n), filtered along axis 0, are the columns of the matrix applied
        PT = spline_step(np.eye(n), order, mode, 0, transposed=True)
        np.testing.assert_allclose(PT, P.T, rtol=1e-13, atol=1e-15)


def test_mirror_prefilter_is_not_symmetric():
    P = sn.spline_filter1d(np.eye(5), 3, axis=0, mode="mirror")
    assert np.abs(P - P.T).max() > 0.1
    t = linop.linear_transpose(lambda x: ln.spline_filter1d(x, 3, mode="mirror"), np.zeros(5))
    np.testing.assert_allclose(t(np.eye(5)[1])[0], P[1], rtol=1e-13)


# -- structure ------------------------------------------------------------------------------
def _count(program, name):
    return sum(eqn.prim.name == name for eqn in program.eqns)


def test_one_prefilter_serves_every_rotation():
    model = lambda x: np.stack([ln.rotate(x, a, reshape=False) for a in (10, 50, 80)])
    p = linop.trace(model, linop.ShapeDtype((6, 7), np.float64))
    assert _count(p, "spline_filter") == 2 and _count(p, "sparse_matmul") == 3
    t = linop.transpose(p)
    assert _count(t, "spline_filter") == 2


@pytest.mark.parametrize("kw,filters", [({"order": 1}, 0), ({"prefilter": False}, 0), ({}, 2),
                                        ({"mode": "nearest"}, 2)])
def test_prefilter_steps(kw, filters):
    p = linop.trace(lambda x: ln.shift(x, 0.3, **kw), linop.ShapeDtype((6, 7), np.float64))
    assert _count(p, "spline_filter") == filters
    # nearest/grid-constant pad by 12 before prefiltering, as SciPy does
    pads = 2 if kw.get("mode") == "nearest" else 0
    assert _count(p, "sparse_matmul") == 2 + pads


def test_vmap_equals_loop_for_prefiltered_transforms():
    fun = lambda x: ln.rotate(x, 25.0, order=4, mode="grid-constant")
    X = np.random.default_rng(3).standard_normal((3,) + IMG)
    got = linop.vmap(fun)(X)
    assert_tree_close(got, np.stack([sn.rotate(x, 25.0, order=4, mode="grid-constant") for x in X]),
                      1e-12)
    (ct,) = linop.linear_transpose(linop.vmap(fun), X)(got)
    loop = [linop.linear_transpose(fun, x)(g)[0] for x, g in zip(X, got)]
    assert_tree_close(ct, np.stack(loop), 1e-12)


def test_plain_arrays_call_scipy():
    x = random_args((np.zeros(IMG),))[0]
    assert np.array_equal(ln.rotate(x, 20), sn.rotate(x, 20))
    assert np.array_equal(ln.spline_filter(x, 4), sn.spline_filter(x, 4))
    assert np.array_equal(ln.geometric_transform(x, warp, (5, 4)),
                          sn.geometric_transform(x, warp, (5, 4)))


@pytest.mark.parametrize("fun", [lambda x: ln.rotate(x, 20.0, output="float32"),
                                 lambda x: ln.spline_filter(x, 4, output=np.float32)])
def test_a_narrower_output_dtype_rounds_once_at_the_end(fun):
    x = random_args((X,))[0]
    got = linop.trace(fun, X)(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, fun(x), rtol=1e-6, atol=1e-6)


def test_geometric_transform_calls_the_mapping_once_per_point():
    calls = []
    linop.trace(lambda x: ln.geometric_transform(x, lambda o: calls.append(o) or o, order=3),
                linop.ShapeDtype(IMG, np.float64))
    assert calls == [(i, j) for i in range(IMG[0]) for j in range(IMG[1])]


# -- refused and invalid input --------------------------------------------------------------


@pytest.mark.parametrize("fun,error,match", [
    (lambda x: ln.shift(x, 1.0, cval=2.0), linop.AffineError, "cval"),
    (lambda x: ln.rotate(x, 10.0, mode="grid-constant", cval=1.0), linop.AffineError, "cval"),
    (lambda x: ln.zoom(x, 2.0, output=np.int32), linop.NonLinearError, "int32"),
    (lambda x: ln.spline_filter(x, output=np.int16), linop.NonLinearError, "int16"),
    (lambda x: ln.map_coordinates(x, COORDS, output=np.zeros((3, 2))),
     linop.UnsupportedFunctionError, "output array"),
    (lambda x: ln.geometric_transform(x, _low_level_callable()), linop.UnsupportedFunctionError,
     "LowLevelCallable"),
    (lambda x: ln.shift(x, x[0, :2]), linop.NonLinearError, "shift"),
    (lambda x: ln.map_coordinates(x, COORDS, order=6), RuntimeError, "spline order"),
    (lambda x: ln.spline_filter(x, 1), RuntimeError, "spline order"),
    (lambda x: ln.affine_transform(x, np.eye(4)), RuntimeError, "affine matrix"),
    (lambda x: ln.rotate(x, 10.0, mode="bogus"), RuntimeError, "boundary mode"),
    (lambda x: ln.spline_filter1d(x, 3, axis=2), np.exceptions.AxisError, "axis"),
    (lambda x: ln.map_coordinates(x, COORDS + 1j), TypeError, "Complex"),
    (lambda x: ln.geometric_transform(x, lambda o: [o[0], o[1]]), TypeError, "bad argument"),
])
def test_refused_input_raises(fun, error, match):
    with pytest.raises(error, match=match):
        linop.trace(fun, X)


def _low_level_callable():
    import ctypes

    signature = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_ssize_t),
                                 ctypes.POINTER(ctypes.c_double), ctypes.c_int, ctypes.c_int,
                                 ctypes.c_void_p)
    return scipy.LowLevelCallable(signature(lambda *args: 1))


def test_cval_is_fine_where_the_mode_does_not_use_it():
    p = linop.trace(lambda x: ln.shift(x, 0.7, mode="reflect", cval=5.0), X)
    x = random_args((X,))[0]
    np.testing.assert_allclose(p(x), sn.shift(x, 0.7, mode="reflect", cval=5.0), rtol=1e-13)


# -- review regressions ---------------------------------------------------------------------
@pytest.mark.parametrize("axes", [(0, 0), (1, 1), (1, -1), (-2, 0)])
@pytest.mark.parametrize("reshape", [True, False])
def test_rotate_2d_with_a_repeated_axis_is_scipys(axes, reshape):
    # SciPy rotates a 2-d image with the whole 2x2 matrix even when ``axes`` names one axis twice
    # (the plane's shape is then that axis twice); linop used to build a 3-d transpose here.
    fun = lambda x: ln.rotate(x, 30.0, axes=axes, reshape=reshape, order=3)
    x = random_args((X,))[0]
    got = linop.trace(fun, X)(x)
    want = sn.rotate(x, 30.0, axes=axes, reshape=reshape, order=3)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    linop.testing.check_transpose(fun, X)


def test_rotate_3d_with_a_repeated_axis_raises_scipys_error():
    with pytest.raises(RuntimeError, match="output shape"):
        linop.trace(lambda x: ln.rotate(x, 30.0, axes=(1, 1)), linop.ShapeDtype((2, 3, 4), float))


@pytest.fixture
def reflect_rule_probe():
    """The reflect-initialisation detection, re-run against a patched SciPy and restored after."""
    from linop.primitives import spline_filter as SF

    SF._reflect_init_reads_updated_first.cache_clear()
    yield SF
    SF._reflect_init_reads_updated_first.cache_clear()


@pytest.mark.parametrize("aliased", [False, True])
def test_reflect_initialisation_is_recognised_either_way(reflect_rule_probe, monkeypatch, aliased):
    SF = reflect_rule_probe
    rule = SF._transposed_line_filter(np.eye(2), 3, "reflect", aliased=aliased)
    monkeypatch.setattr(sn, "spline_filter1d", lambda line, order, mode: rule @ line)
    assert SF._reflect_init_reads_updated_first() is aliased


def test_an_unknown_reflect_initialisation_raises(reflect_rule_probe, monkeypatch):
    # A SciPy whose reflect initialisation follows neither known rule must not get a silently
    # wrong transpose.
    monkeypatch.setattr(sn, "spline_filter1d", lambda line, order, mode: line * 0.5)
    with pytest.raises(linop.LinopError, match="neither known"):
        reflect_rule_probe._reflect_init_reads_updated_first()
