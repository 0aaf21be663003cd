"""Edges from a reliability audit, with NumPy (or SciPy) as the reference."""
from __future__ import annotations

import gc
import sys

import numpy as np
import pytest
import scipy.ndimage

import linop
import linop.scipy.ndimage as lndi
from linop.custom import SHAPE_CACHE_SIZE
from linop.execute import PLAN_FILENAME, compile_plan
from linop.testing import check_transpose

from harness import ALL, REAL, Case, case_id, check_all

IDX = np.array([0, 3, 3, 1, 0])
SAMPLES = np.random.default_rng(0).normal(size=12)

CASES = [
    Case("bincount-weights", lambda w: np.bincount(IDX, weights=w, minlength=6), ((5,),), REAL),
    Case("histogram-weights", lambda w: np.histogram(SAMPLES, bins=4, weights=w)[0], ((12,),), ALL),
    Case("histogram-range", lambda w: np.histogram(SAMPLES, 3, (-0.5, 0.5), weights=w)[0],
         ((12,),), ALL),
]


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_table(param):
    case, dtype = param
    check_all(case, dtype)


# -- non-finite data stays local in weighted gathers ---------------------------------------
INTERP = [  # (x, xp, fp, keywords)
    ([0, 1, 2], [0, 1, 2], [1, 2, np.inf], {}),
    ([0, 1, 2, 0.5, 1.5, -1, 3], [0, 1, 2], [np.inf, 2, 3], {}),
    ([0, 1, 2, 0.5, 1.5, -1, 3], [0, 1, 2], [1, np.nan, 3], dict(left=0.0, right=0.0)),
    ([0.0, 0.5, 2.5], [0, 1, 2], [1, 2, np.inf], dict(period=3.0)),
    ([0, 1, 2, 1.5], [0, 1, 2], [1 + 1j, np.nan + 0j, 3j], {}),
]


@pytest.mark.parametrize("x,xp,fp,kw", INTERP, ids=[str(i) for i in range(len(INTERP))])
def test_interp_keeps_non_finite_data_local_as_numpy(x, xp, fp, kw):
    fp = np.array(fp)
    program = linop.trace(lambda f: np.interp(x, xp, f, **kw), fp)
    with np.errstate(invalid="raise"):  # NumPy does not warn here, neither may linop
        got = program(fp)
    np.testing.assert_array_equal(got, np.interp(x, xp, fp, **kw))


def test_interp_between_two_infinite_samples_is_nan_as_numpy():
    fp = np.array([np.inf, -np.inf, 1.0])
    x = [0, 1, 2, 0.5, 1.5]
    with np.errstate(invalid="ignore"):  # inf - inf: NumPy's C code does not warn, NumPy's add does
        got = linop.trace(lambda f: np.interp(x, [0, 1, 2], f), fp)(fp)
    np.testing.assert_array_equal(got, np.interp(x, [0, 1, 2], fp))


# SciPy's own order-1 code multiplies a zero spline weight with the sample (0 * inf = nan);
# linop's interpolation matrices hold no zero weights, so a non-finite sample only reaches
# the outputs it has weight in. Where SciPy's result is not nan, the two agree.
NDIMAGE = [
    ("shift0", lambda m, a: m.shift(a, 1.0, order=0)),
    ("shift1", lambda m, a: m.shift(a, 1.0, order=1)),
    ("shift1_half", lambda m, a: m.shift(a, 0.5, order=1)),
    ("zoom1", lambda m, a: m.zoom(a, 2, order=1)),
    ("map1", lambda m, a: m.map_coordinates(a, [[0, 1, 2, 3, 1.5]], order=1)),
    ("affine1", lambda m, a: m.affine_transform(a, [1.0], 1.0, order=1)),
]


@pytest.mark.parametrize("name,fun", NDIMAGE, ids=[c[0] for c in NDIMAGE])
def test_ndimage_interpolation_keeps_non_finite_data_local(name, fun):
    data = np.array([1.0, 2.0, np.inf, 4.0, 5.0, 6.0])
    finite = np.where(np.isfinite(data), data, 3.0)
    program = linop.trace(lambda a: fun(lndi, a), data)
    got, ref = program(data), fun(scipy.ndimage, data)
    np.testing.assert_array_equal(program(finite), fun(scipy.ndimage, finite))
    np.testing.assert_array_equal(got[~np.isnan(ref)], ref[~np.isnan(ref)])
    assert not np.isnan(got).any()
    touched = program(np.where(np.isfinite(data), 0.0, 1.0)) != 0  # outputs with weight on inf
    np.testing.assert_array_equal(np.isinf(got), touched)


def test_interpolation_matrices_hold_no_stored_zeros():
    from linop.scipy._boundary import weights_matrix

    m = weights_matrix([0, 0, 1, 1], [2, 2, 0, 1], [1.0, -1.0, 0.0, 2.0], (2, 3), np.float64)
    assert m.nnz == 1 and m[1, 1] == 2.0


# -- long double --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.longdouble, np.clongdouble])
def test_long_double_gather_transposes_keep_precision(dtype):
    third = np.longdouble(1) / 3
    ct = np.full(3, third, dtype)
    (got,) = linop.linear_transpose(lambda x: x[[0, 0, 1]], np.zeros(3, dtype))(ct)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np.array([third + third, third, 0], dtype))


# -- many axes ----------------------------------------------------------------------------
RNG = np.random.default_rng(1)
MANY_AXES = [  # (id, function of x, x): NumPy itself computes every one of these
    ("tensordot_28_axes", lambda x: np.tensordot(x, B28, 28), RNG.normal(size=(1,) * 26 + (2, 3))),
    ("tensordot_64d", lambda x: np.tensordot(x, np.ones((3, 2)), ([63], [0])),
     RNG.normal(size=(1,) * 63 + (3,))),
    ("tensordot_64d_right", lambda x: np.tensordot(np.ones((3, 2)), x, ([0], [63])),
     RNG.normal(size=(1,) * 63 + (3,))),
    ("matmul_31d", lambda x: x @ np.ones((3, 4)), RNG.normal(size=(1,) * 30 + (3,))),
    ("dot_31d", lambda x: np.dot(x, np.ones((3, 2))), RNG.normal(size=(1,) * 30 + (3,))),
    ("inner_59d_result", lambda x: np.inner(np.ones((1,) * 30 + (3,)), x), RNG.normal(size=(1,) * 29 + (3,))),
]
B28 = RNG.normal(size=(1,) * 26 + (2, 3, 2))


@pytest.mark.parametrize("name,fun,x", MANY_AXES, ids=[c[0] for c in MANY_AXES])
def test_contractions_over_many_axes_work_as_in_numpy(name, fun, x):
    program = linop.trace(fun, x)
    np.testing.assert_allclose(program(x), fun(x), rtol=1e-12)
    y = RNG.normal(size=np.shape(fun(x)))
    (got,) = linop.linear_transpose(fun, x)(y)
    np.testing.assert_allclose(np.vdot(got, x), np.vdot(y, fun(x)), rtol=1e-10)
    if x.ndim < 64:  # a batch axis more: NumPy's limit
        vmapped = linop.vmap(fun)(np.stack([x, 2 * x]))
        np.testing.assert_allclose(vmapped[1], 2 * fun(x), rtol=1e-12)


@pytest.mark.parametrize("index", [np.s_[None], np.s_[..., None], np.s_[:, None], (None, 0)],
                         ids=["none", "ellipsis_none", "slice_none", "none_int"])
def test_indexing_past_64_axes_is_numpys_index_error(index):
    x = np.zeros((1,) * 64)
    try:
        x[index]
        expected = None
    except IndexError as exc:
        expected = str(exc)
    if expected is None:
        assert linop.trace(lambda t: t[index], x)(x).shape == x[index].shape
        return
    with pytest.raises(IndexError) as info:
        linop.trace(lambda t: t[index], x)
    assert str(info.value) == expected


def test_new_axes_past_64_are_numpys_value_error():
    x = np.zeros((1,) * 64)
    for fun in (lambda t: np.expand_dims(t, 0), lambda t: t.reshape((1,) * 65)):
        with pytest.raises(ValueError) as numpy_info:
            fun(x)
        with pytest.raises(ValueError) as linop_info:
            linop.trace(fun, x)
        assert str(linop_info.value) == str(numpy_info.value)


# -- bounded caches -----------------------------------------------------------------------
def test_custom_linear_shape_cache_is_bounded():
    calls = []

    @linop.custom_linear
    def scale(x, *, c):
        calls.append(1)
        return x * c

    @scale.def_transpose
    def scale_t(y, *, c):
        return y * c

    for n in range(1, SHAPE_CACHE_SIZE + 40):
        linop.trace(lambda x: scale(x, c=2.0), np.zeros(n))
    assert scale._shape_cache.cache_info().currsize == SHAPE_CACHE_SIZE
    before = len(calls)
    linop.trace(lambda x: scale(x, c=2.0), np.zeros(SHAPE_CACHE_SIZE + 39))
    assert len(calls) == before  # a recent shape is still cached
    linop.trace(lambda x: scale(x, c=np.ones(3)), np.zeros(3))  # an array parameter
    linop.trace(lambda x: scale(x, c=[1.0, 2.0, 3.0]), np.zeros(3))  # unhashable: not cached
    assert scale._shape_cache.cache_info().currsize == SHAPE_CACHE_SIZE


def test_compiled_plans_share_one_filename_and_are_freed():
    programs = [linop.trace(lambda x, k=k: x * float(k + 1), np.zeros(3)) for k in range(3)]
    filenames = {compile_plan(p).run.__code__.co_filename for p in programs}
    assert filenames == {PLAN_FILENAME}
    del programs
    gc.collect()
    interned = sys.getrefcount(PLAN_FILENAME)
    more = [linop.trace(lambda x, k=k: x * float(k + 1), np.zeros(3)) for k in range(50)]
    for p in more:
        compile_plan(p)([np.ones(3)])
    del more, p
    gc.collect()
    assert sys.getrefcount(PLAN_FILENAME) <= interned + 1


def test_pickling_docs_warn_about_untrusted_data():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for path in ("docs/ir.md", "docs/operators.md", "README.md"):
        assert "arbitrary code" in (root / path).read_text(), path
    assert "arbitrary code" in linop.Program.__doc__


# -- np.interp: non-finite samples stay where NumPy puts them ---------------------------
INF, NAN = np.inf, np.nan
INTERP_NONFINITE = [  # (id, fp, function of fp)
    ("traced-left-inf", np.array([INF, 1.0, 2.0]),
     lambda f: np.interp([1.5, -1.0, 0.5], np.arange(3.0), f, left=f[0])),
    ("traced-right-nan", np.array([0.0, 1.0, NAN]),
     lambda f: np.interp([0.5, 5.0, 2.0], np.arange(3.0), f, right=f[2])),
    ("traced-left-and-right", np.array([INF, 1.0, -INF]),
     lambda f: np.interp([-1.0, 1.0, 3.0], np.arange(3.0), f, left=f[0], right=f[2])),
    ("complex-inf-real-part", np.array([1 + 1j, INF + 1j, 2.0]),
     lambda f: np.interp([0.5, 1.0, 1.5, -1.0, 3.0], np.arange(3.0), f)),
    ("complex-nan-imag-part", np.array([1 + 1j, complex(1.0, NAN), 2.0 - 1j]),
     lambda f: np.interp([0.5, 1.0, 1.5, 2.0], np.arange(3.0), f)),
    ("complex-traced-left", np.array([complex(INF, 0.0), 1j, 2.0]),
     lambda f: np.interp([-1.0, 0.5], np.arange(3.0), f, left=f[1].real)),
]


@pytest.mark.parametrize("name,fp,fun", INTERP_NONFINITE, ids=[c[0] for c in INTERP_NONFINITE])
def test_interp_non_finite_values_are_numpys(name, fp, fun):
    with np.errstate(invalid="ignore"):
        want = fun(fp)
        got = linop.trace(fun, fp)(fp)
    assert got.dtype == want.dtype
    if np.iscomplexobj(fp):
        # Complex samples are weighted with one complex product per tap (so the map stays
        # complex-linear); NumPy weights real and imaginary parts apart. They agree wherever
        # NumPy's value is finite, and non-finite values stay in the same places.
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
        np.testing.assert_array_equal(got[np.isfinite(want)], want[np.isfinite(want)])
    else:
        np.testing.assert_array_equal(got, want)
    finite = np.where(np.isfinite(fp), fp, 0.5)
    check_transpose(fun, finite)


# -- custom_linear: parameters that compare equal but differ in type ---------------------
def test_custom_linear_shape_cache_keeps_equal_parameters_of_other_types_apart():
    @linop.custom_linear
    def scale(x, s=1):
        return x * s

    @scale.def_transpose
    def scale_t(y, s=1):
        return y * s

    x = np.ones(3, np.float32)
    for s in [1, np.float64(1.0), True, 1.0, (1,), (np.float64(1),), np.int64(1)]:
        value = s[0] if isinstance(s, tuple) else s
        prog = linop.trace(lambda t: scale(t, s=s[0] if isinstance(s, tuple) else s), x)
        want = (x * value).dtype
        assert prog.out_avals[0].dtype == want, s
        assert prog(x).dtype == want


# -- arrays with more than 32 axes (NumPy allows 64) -------------------------------------
RNG64 = np.random.default_rng(3)
X64 = RNG64.normal(size=(1,) * 62 + (2, 3))
C64 = RNG64.normal(size=X64.shape)
M32 = RNG64.normal(size=(3, 2))
MANY_AXES = [
    ("scale", lambda x: x * 2),
    ("transpose", lambda x: x.T * 2),
    ("times-constant", lambda x: x * C64),
    ("plus-broadcast", lambda x: x + x[..., :1]),
    ("matmul", lambda x: x @ M32),
    ("sum", lambda x: x.sum(axis=(0, 63))),
    ("where", lambda x: np.where(C64 > 0, x, 0)),
    ("einsum-ellipsis", lambda x: np.einsum("...ij,...ij->...", x, C64)),
    ("einsum-implicit", lambda x: np.einsum("...ij,...ij", x, C64)),
    ("einsum-diagonal", lambda x: np.einsum("...ii->...i", x[..., :2])),
]


@pytest.mark.parametrize("name,fun", MANY_AXES, ids=[c[0] for c in MANY_AXES])
def test_more_than_32_axes_work_as_in_numpy(name, fun):
    np.testing.assert_allclose(linop.trace(fun, X64)(X64), fun(X64), rtol=1e-12, atol=1e-12)
    check_transpose(fun, X64)


def test_einsum_past_52_labels_with_several_constants_is_a_located_value_error():
    with pytest.raises(ValueError, match=r"test_edges\.py:\d+.*52"):
        linop.trace(lambda x: np.einsum("...ij,...ij,j->...i", x, C64, np.ones(3)), X64)


def test_broadcast_shapes_past_32_axes_is_numpys_error():
    from linop.primitives.shape import broadcast_shapes

    assert broadcast_shapes((1,) * 40 + (3,), (2, 1)) == (1,) * 39 + (2, 3)
    with pytest.raises(ValueError, match="shape mismatch: objects cannot be broadcast"):
        broadcast_shapes((1,) * 40 + (2,), (3,))


# -- shape arguments (reshape and y.shape = ...) -----------------------------------------
SHAPE_ARGUMENTS = [(2.5, 3), 2.5, "ab", None, (None,), [2, 3], (np.int8(2), 3), (True, 6), True,
                   np.True_, (-2, -3), (2, -3), (-3,), (2, -1, 1), (1,) * 65, ((2, 3),),
                   np.array([2, 3]), np.array(6), np.array(6.0), (np.array([2]), 3),
                   (np.array(2), 3), (4,), (2, 5), (0, -1), (), 6, (2, -1, 4), (2, np.float64(3))]


def _outcome(fun, x):
    try:
        return "ok", fun(x).shape
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        return type(exc), str(exc)


@pytest.mark.parametrize("how", ["reshape", "reshape(*shape)", "shape="])
@pytest.mark.parametrize("shape", SHAPE_ARGUMENTS, ids=[str(s)[:20] for s in SHAPE_ARGUMENTS])
def test_shape_arguments_are_numpys(shape, how):
    if how == "reshape(*shape)" and not isinstance(shape, tuple):
        pytest.skip("needs a tuple")

    def fun(x):
        y = x.copy()
        if how == "reshape":
            return y.reshape(shape)
        if how == "reshape(*shape)":
            return y.reshape(*shape)
        y.shape = shape
        return y

    x = np.arange(6.0)
    assert _outcome(lambda t: linop.trace(fun, x)(t), x) == _outcome(fun, x)


# -- np.bincount: NumPy's results and errors --------------------------------------------
BINCOUNT = [  # (id, indices, weights, keywords)
    ("empty", np.zeros(0, int), np.zeros(0), {}),
    ("empty-minlength", np.zeros(0, int), np.zeros(0), {"minlength": 3}),
    ("empty-float32", np.zeros(0, int), np.zeros(0, np.float32), {"minlength": 2}),
    ("empty-2d-weights", np.zeros(0, int), np.zeros((0, 2)), {}),
    ("2d-weights", np.array([0, 1, 1]), np.ones((3, 2)), {}),
    ("row-weights", np.array([0, 1, 1]), np.ones((1, 3)), {}),
    ("0d-weights", np.array([0]), np.ones(()), {}),
    ("short-weights", np.array([0, 1, 1]), np.ones(2), {}),
    ("float32", np.array([0, 2, 2]), np.ones(3, np.float32), {"minlength": 5}),
]


@pytest.mark.parametrize("name,idx,w,kw", BINCOUNT, ids=[c[0] for c in BINCOUNT])
def test_bincount_edges_are_numpys(name, idx, w, kw):
    fun = lambda t: np.bincount(idx, t, **kw)  # noqa: E731
    got, want = _outcome(lambda t: linop.trace(fun, w)(t), w), _outcome(fun, w)
    assert got == want
    if want[0] == "ok":
        out, ref = linop.trace(fun, w)(w), fun(w)
        assert out.dtype == ref.dtype
        np.testing.assert_array_equal(out, ref)


# -- linop.scipy.ndimage keeps inf/NaN local (docs/semantics.md) -------------------------
NDIMAGE_NONFINITE = [  # (id, function of (image, module), image, linop's result)
    ("shift-exact-order1", lambda x, m: m.shift(x, 1.0, order=1), np.array([0, 1, 2, NAN]),
     np.array([0, 0, 1, 2.0])),
    ("map_coordinates-exact", lambda x, m: m.map_coordinates(x, [[1.0, 2.0]], order=1),
     np.array([0, 1, 2, NAN]), np.array([1, 2.0])),
    ("uniform_filter1d", lambda x, m: m.uniform_filter1d(x, 3), np.array([0, 1, INF, 3, 4, 5, 6.0]),
     np.array([1 / 3, INF, INF, INF, 4, 5, 17 / 3])),
    ("uniform_filter", lambda x, m: m.uniform_filter(x, 3), np.array([0, 1, NAN, 3, 4, 5, 6.0]),
     np.array([1 / 3, NAN, NAN, NAN, 4, 5, 17 / 3])),
]


@pytest.mark.parametrize("name,fun,image,want", NDIMAGE_NONFINITE,
                         ids=[c[0] for c in NDIMAGE_NONFINITE])
def test_ndimage_non_finite_values_stay_local(name, fun, image, want):
    with np.errstate(invalid="ignore"):
        scipy_result = fun(image, scipy.ndimage)
        got = linop.trace(lambda x: fun(x, lndi), image)(image)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert not np.array_equal(scipy_result, want, equal_nan=True)  # SciPy spreads them further
    finite = np.nan_to_num(image, nan=2.0, posinf=2.0)
    np.testing.assert_allclose(linop.trace(lambda x: fun(x, lndi), image)(finite),
                               fun(finite, scipy.ndimage), rtol=1e-12)
