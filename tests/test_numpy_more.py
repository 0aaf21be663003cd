"""More NumPy functions on traced arrays: calculus, editing, assembling, functionals, histograms.

Every row of ``CASES`` is checked forward against NumPy on random inputs (values and
dtypes), against the dense oracle (transpose), transposed twice, and batched (vmap = loop).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import chains
import linop
from linop.pytree import tree_flatten, tree_unflatten
from linop.testing import random_like, tolerance_for
from harness import COMPLEX, REAL, Case, assert_tree_close, case_id, check_all

RNG = np.random.default_rng(7)
COORDS7 = np.array([0.0, 0.5, 1.5, 1.75, 3.0, 4.5, 5.0])
COORDS4 = np.array([0, 1, 3, 4])  # integer coordinates: NumPy computes in float64
UNIFORM5 = np.linspace(0.0, 2.0, 5)
X_TRAP = np.cumsum(RNG.random(6))
X_TRAP2 = np.cumsum(RNG.random((3, 6)), axis=1)
Y_CONST = RNG.standard_normal(6)
MASK6 = np.array([True, False, True, True, False, False])
MASK34 = RNG.random((3, 4)) > 0.5
M23, M34, M45 = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4)), RNG.standard_normal((4, 5))
M32C = RNG.standard_normal((3, 2)) + 1j * RNG.standard_normal((3, 2))
V3, V5 = RNG.standard_normal(3), RNG.standard_normal(5)
IDX = np.array([0, 3, 3, 1, 0, 5, 2])
SAMPLE_X, SAMPLE_Y = RNG.normal(size=12), RNG.normal(size=12)
SAMPLE_3D = RNG.normal(size=(12, 3))
CONDS6 = [np.arange(6) < 2, np.arange(6) >= 4]


def _gradient_cases():
    return [
        Case("gradient-1d", lambda f: np.gradient(f), ((7,),)),
        Case("gradient-1d-dx", lambda f: np.gradient(f, 0.5), ((7,),)),
        Case("gradient-1d-edge2", lambda f: np.gradient(f, 0.25, edge_order=2), ((7,),)),
        Case("gradient-1d-coords", lambda f: np.gradient(f, COORDS7), ((7,),)),
        Case("gradient-1d-coords-edge2", lambda f: np.gradient(f, COORDS7, edge_order=2), ((7,),)),
        Case("gradient-1d-uniform-coords", lambda f: np.gradient(f, UNIFORM5, edge_order=2),
             ((5,),)),
        Case("gradient-1d-int-coords", lambda f: np.gradient(f, COORDS4), ((4,),)),
        Case("gradient-1d-shortest-edge2", lambda f: np.gradient(f, edge_order=2), ((3,),)),
        Case("gradient-2d-all-axes", lambda f: np.gradient(f), ((4, 5),)),
        Case("gradient-2d-spacing-per-axis", lambda f: np.gradient(f, 2.0, UNIFORM5 ** 2),
             ((4, 5),)),
        Case("gradient-2d-axis-neg", lambda f: np.gradient(f, 0.1, axis=-1), ((3, 5),)),
        Case("gradient-2d-axis-tuple", lambda f: np.gradient(f, COORDS4, 3.0, axis=(1, 0),
                                                             edge_order=2), ((3, 4),)),
        Case("gradient-3d-axes", lambda f: np.gradient(f, axis=(0, -1)), ((3, 2, 4),)),
        # Complex spacings give complex weights (NumPy keeps them for complex data).
        Case("gradient-complex-step", lambda f: np.gradient(f, 0.5 + 1j, edge_order=2), ((5,),),
             COMPLEX),
        Case("gradient-complex-coords", lambda f: np.gradient(f, COORDS7 * (1 - 2j)), ((7,),),
             COMPLEX),
    ]


def _ediff_trapezoid_cases():
    return [
        Case("ediff1d", lambda a: np.ediff1d(a), ((3, 4),)),
        Case("ediff1d-zero-begin", lambda a: np.ediff1d(a, to_begin=0), ((5,),)),
        Case("ediff1d-zero-end-array", lambda a: np.ediff1d(a, to_end=np.zeros((2, 2))), ((5,),)),
        Case("ediff1d-traced-edges", lambda a: np.ediff1d(a, to_end=a[:2], to_begin=-a[-1]),
             ((5,),)),
        Case("ediff1d-one-element", lambda a: np.ediff1d(a, to_begin=a), ((1,),)),
        Case("ediff1d-list-edges", lambda a: np.ediff1d(a, to_begin=[a[0]], to_end=(a[1], 0.0)),
             ((4,),)),
        Case("trapezoid", lambda y: np.trapezoid(y), ((6,),)),
        Case("trapezoid-dx", lambda y: np.trapezoid(y, dx=0.3), ((6,),)),
        Case("trapezoid-x", lambda y: np.trapezoid(y, X_TRAP), ((6,),)),
        Case("trapezoid-x-2d", lambda y: np.trapezoid(y, X_TRAP2, axis=-1), ((3, 6),)),
        Case("trapezoid-axis0", lambda y: np.trapezoid(y, X_TRAP, axis=0), ((6, 2),)),
        Case("trapezoid-traced-x", lambda x: np.trapezoid(Y_CONST, x), ((6,),)),
        Case("trapezoid-traced-dx", lambda d: np.trapezoid(Y_CONST, dx=d), ((),)),
    ]


def _editing_cases():
    return [
        Case("append-flat", lambda a: np.append(a, a[0]), ((2, 3),)),
        Case("append-axis0", lambda a: np.append(a, a[:1], axis=0), ((2, 3),)),
        Case("append-axis-neg-zeros", lambda a: np.append(a, np.zeros((2, 1)), axis=-1),
             ((2, 3),)),
        Case("append-to-zeros", lambda a: np.append(np.zeros(2), a), ((3,),)),
        Case("insert-scalar", lambda a: np.insert(a, 2, a[0]), ((5,),)),
        Case("insert-list", lambda a: np.insert(a, [1, 1, -1], a[:3]), ((5,),)),
        Case("insert-slice", lambda a: np.insert(a, slice(0, 4, 2), a[::-1][:2]), ((5,),)),
        Case("insert-axis0-broadcast", lambda a: np.insert(a, 1, a[0], axis=0), ((3, 4),)),
        Case("insert-axis-neg-column", lambda a: np.insert(a, [0, 2], a[:, :1], axis=-1),
             ((3, 4),)),
        Case("insert-zero-constant", lambda a: np.insert(a, 1, 0.0, axis=1), ((3, 4),)),
        Case("insert-list-of-traced", lambda a: np.insert(a, [1, 3], [a[0], a[-1]]), ((5,),)),
        Case("append-list-of-traced", lambda a: np.append([a[1], a[0]], a), ((3,),)),
        Case("insert-into-zeros", lambda v: np.insert(np.zeros(4), [1, 3], v), ((2,),), REAL),
        Case("delete-int", lambda a: np.delete(a, -2), ((6,),)),
        Case("delete-list", lambda a: np.delete(a, [0, 2, 2]), ((6,),)),
        Case("delete-slice-axis1", lambda a: np.delete(a, slice(None, None, 2), axis=1),
             ((3, 5),)),
        Case("delete-mask-axis-neg", lambda a: np.delete(a, np.array([True, False, True]),
                                                         axis=-2), ((3, 2),)),
        Case("delete-flat", lambda a: np.delete(a, [1, 4]), ((2, 3),)),
        Case("resize-grow", lambda a: np.resize(a, (3, 4)), ((5,),)),
        Case("resize-shrink", lambda a: np.resize(a, 3), ((2, 3),)),
        Case("resize-exact", lambda a: np.resize(a, (3, 2)), ((2, 3),)),
        Case("resize-empty", lambda a: np.resize(a, (0, 3)), ((4,),)),
        Case("extract", lambda a: np.extract(MASK34, a), ((3, 4),)),
        Case("extract-short-condition", lambda a: np.extract([0, 1, 1], a), ((2, 3),)),
    ]


def _assembling_cases():
    return [
        Case("block-2x2", lambda a: np.block([[a, np.zeros((2, 2))], [a[:1], a[1:, :2]]]),
             ((2, 3),)),
        Case("block-1d", lambda a: np.block([a, a[::-1], np.zeros(2)]), ((3,),)),
        Case("block-single", lambda a: np.block(a), ((3,),)),
        Case("block-ndmin", lambda a: np.block([[a], [a]]), ((3,),)),
        Case("block-3d", lambda a: np.block([[[a, a]], [[a, a]]]), ((1, 2, 2),)),
        Case("block-promotes", lambda a: np.block([a, np.zeros(2, np.float64)]), ((3,),)),
        Case("r_", lambda a: np.r_[a, np.zeros(2), a[::-1]], ((3,),)),
        Case("r_-slice-and-scalar", lambda a: np.r_[a, 0:1, 0], ((3,),)),
        Case("r_-directive-axis1", lambda a: np.r_["1", a, a], ((2, 2),)),
        Case("r_-directive-ndmin", lambda a: np.r_["0,2,0", a, a], ((3,),)),
        Case("r_-directive-ndmin-last", lambda a: np.r_["-1,2", a, a[:2]], ((3,),)),
        Case("c_", lambda a: np.c_[a, a[::-1]], ((3,),)),
        Case("c_-2d", lambda a: np.c_[a, np.zeros((3, 1)), a[:, :1]], ((3, 2),)),
        Case("c_-promotes", lambda a: np.c_[a, np.zeros(2)], ((2,),)),
    ]


def _functional_cases():
    return [
        Case("piecewise", lambda x: np.piecewise(x, CONDS6, [lambda v: 2 * v, lambda v: -v]),
             ((6,),)),
        Case("piecewise-otherwise-zero", lambda x: np.piecewise(
            x, CONDS6, [lambda v: v[::-1], 0, lambda v: 3 * v]), ((6,),)),
        Case("piecewise-overlap", lambda x: np.piecewise(
            x, [np.ones(6, bool), np.arange(6) > 2], [lambda v: v, 0.0]), ((6,),)),
        Case("piecewise-2d-args", lambda x: np.piecewise(
            x, [MASK34], [lambda v, c, k=1.0: c * k * v, lambda v, c, k=1.0: v], 2.0, k=0.5),
            ((3, 4),)),
        Case("piecewise-single-condition", lambda x: np.piecewise(x, MASK6, [lambda v: -v]),
             ((6,),)),
        Case("piecewise-0d", lambda x: np.piecewise(x, True, [lambda v: 4 * v]), ((),)),
        Case("apply_along_axis", lambda a: np.apply_along_axis(lambda r: np.cumsum(r)[::2], 1, a),
             ((3, 5),)),
        Case("apply_along_axis-axis0-scalar", lambda a: np.apply_along_axis(np.sum, 0, a),
             ((3, 4),)),
        Case("apply_along_axis-matrix-result",
             lambda a: np.apply_along_axis(lambda r: np.outer(r, V3), -2, a), ((2, 4, 3),)),
        Case("apply_along_axis-1d", lambda a: np.apply_along_axis(lambda r: M34 @ r, 0, a),
             ((4,),)),
        Case("apply_along_axis-extra-args", lambda a: np.apply_along_axis(
            lambda r, c, scale=1.0: scale * np.convolve(r, c), -1, a, V3, scale=2.0), ((2, 5),)),
        Case("apply_along_axis-traced-extra", lambda a: np.apply_along_axis(
            lambda r, other: r + other, 1, a, a[0]), ((3, 4),)),
        Case("apply_along_axis-list-result", lambda a: np.apply_along_axis(
            lambda r: [r[0], r[-1], r.sum()], 0, a), ((3, 4),)),
    ]


def _linalg_cases():
    return [
        Case("multi_dot-first-1d", lambda v: np.linalg.multi_dot([v, M34, M45]), ((3,),)),
        Case("multi_dot-middle", lambda m: np.linalg.multi_dot([M23, m, M45, V5]), ((3, 4),)),
        Case("multi_dot-last-1d", lambda v: np.linalg.multi_dot([V3, M34, M45, v]), ((5,),)),
        Case("multi_dot-both-1d", lambda m: np.linalg.multi_dot([V3, m, V5]), ((3, 5),)),
        Case("multi_dot-complex", lambda m: np.linalg.multi_dot([M32C.T, m, M45]), ((3, 4),)),
        Case("multi_dot-two", lambda m: np.linalg.multi_dot([m, M34]), ((2, 3),)),
    ]


def _counting_cases():
    return [
        Case("bincount", lambda w: np.bincount(IDX, weights=w), ((7,),), REAL),
        Case("bincount-minlength", lambda w: np.bincount(IDX, w, minlength=9), ((7,),), REAL),
        Case("histogram2d", lambda w: np.histogram2d(SAMPLE_X, SAMPLE_Y, weights=w)[0], ((12,),),
             REAL),
        Case("histogram2d-bins-range", lambda w: np.histogram2d(
            SAMPLE_X, SAMPLE_Y, bins=(3, [-2.0, 0.0, 0.5, 3.0]), range=[(-1, 1), None],
            weights=w)[0], ((12,),), REAL),
        Case("histogram2d-shared-edges", lambda w: np.histogram2d(
            SAMPLE_X, SAMPLE_Y, bins=[-3.0, -1.0, 0.0, 1.0, 3.0], weights=w)[0], ((12,),), REAL),
        Case("histogramdd", lambda w: np.histogramdd(SAMPLE_3D, bins=(2, 3, 2), weights=w)[0],
             ((12,),), REAL),
        Case("histogramdd-list", lambda w: np.histogramdd([SAMPLE_X, SAMPLE_Y], bins=4,
                                                          range=[(-1, 1), (-2, 2)],
                                                          weights=w)[0], ((12,),), REAL),
        Case("nansum", lambda a: np.nansum(a), ((3, 4),)),
        Case("nansum-axis-keepdims", lambda a: np.nansum(a, axis=-1, keepdims=True), ((3, 4),)),
        Case("nansum-dtype-where", lambda a: np.nansum(a, axis=0, dtype=np.complex128,
                                                       where=MASK34, initial=0), ((3, 4),)),
        Case("nancumsum", lambda a: np.nancumsum(a), ((3, 4),)),
        Case("nancumsum-axis", lambda a: np.nancumsum(a, axis=-2, dtype=np.complex64),
             ((3, 4),)),
    ]


CASES = (_gradient_cases() + _ediff_trapezoid_cases() + _editing_cases() + _assembling_cases()
         + _functional_cases() + _linalg_cases() + _counting_cases())


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_table(param):
    case, dtype = param
    check_all(case, dtype)


def _stack(trees):
    leaves = [tree_flatten(t)[0] for t in trees]
    tree = tree_flatten(trees[0])[1]
    return tree_unflatten(tree, [np.stack(group) for group in zip(*leaves)])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_vmap_equals_loop(case):
    primal = case.primals(np.complex128 if np.complex128 in case.dtypes else np.float64)[0]
    xs = np.stack([random_like(primal, RNG) for _ in range(3)])
    batched = linop.vmap(case.fun)
    want = _stack([case.fun(x) for x in xs])
    assert_tree_close(batched(xs), want, 100 * tolerance_for([primal.dtype]))
    out_leaves, out_tree = tree_flatten(want)
    cts = tree_unflatten(out_tree, [random_like(linop.ShapeDtype(w.shape, w.dtype), RNG)
                                    for w in out_leaves])
    got = linop.linear_transpose(batched, xs)(cts)[0]
    per_example = [tree_unflatten(out_tree, [c[i] for c in tree_flatten(cts)[0]])
                   for i in range(3)]
    loop = np.stack([linop.linear_transpose(case.fun, xs[0])(c)[0] for c in per_example])
    assert_tree_close(got, loop, 100 * tolerance_for([primal.dtype]))


def _single_output(case) -> bool:
    out = linop.trace(case.fun, *case.primals(np.float64)).out_avals
    return len(case.specs) == 1 and len(out) == 1


@pytest.mark.parametrize("case", [c for c in CASES if _single_output(c)], ids=lambda c: c.name)
def test_operator_matches_the_dense_matrix(case):
    dtype = np.complex128 if np.complex128 in case.dtypes else np.float64
    (primal,) = case.primals(dtype)
    A = linop.aslinearoperator(case.fun, primal)
    linop.dottest(A)
    eye = np.eye(max(primal.size, 1), dtype=dtype)[:primal.size]
    dense = np.stack([np.ravel(case.fun(e.reshape(primal.shape))) for e in eye], axis=1)
    np.testing.assert_allclose(linop.todense(A), dense.reshape(A.shape), atol=1e-12)
    np.testing.assert_allclose(linop.tosparse(A).toarray(), dense.reshape(A.shape), atol=1e-12)


# -- results NumPy's way ------------------------------------------------------------------------
def test_gradient_returns_a_tuple_for_several_axes_and_an_array_for_one():
    x = linop.ShapeDtype((3, 4), np.float64)
    program = linop.trace(lambda f: np.gradient(f), x)
    assert type(program(np.ones((3, 4)))) is tuple and len(program.out_avals) == 2
    single = linop.trace(lambda f: np.gradient(f, axis=(1,)), x)
    assert isinstance(single(np.ones((3, 4))), np.ndarray)


def test_gradient_of_half_precision_keeps_its_dtype():
    f = (np.arange(6.0) ** 2).astype(np.float16)
    program = linop.trace(lambda x: np.gradient(x, 0.5, edge_order=2), f)
    assert program(f).dtype == np.float16
    np.testing.assert_allclose(program(f), np.gradient(f, 0.5, edge_order=2), rtol=1e-3)


def test_gradient_is_one_sparse_product_per_axis():
    text = str(linop.trace(lambda f: np.gradient(f, COORDS7, edge_order=2), np.zeros(7)))
    assert text.count("sparse_matmul") == 1 and "nnz=21" in text


def test_r_of_an_untransformed_piece_is_a_reshape_not_a_gather():
    text = str(linop.trace(lambda a: np.r_[a, a], np.zeros(3)))
    assert "gather" not in text and "concatenate" in text


class AxisConcatenator:
    """A look-alike of NumPy's class (same names) that converts its items with np.array."""

    def __getitem__(self, key):
        return np.concatenate([np.array(item, subok=True, ndmin=1) for item in key])


@pytest.mark.parametrize("convert", [
    lambda a: np.asarray(a),
    lambda a: np.array(a, subok=True, ndmin=1),
    lambda a: AxisConcatenator()[a, a],
    lambda a: np.r_[a, np.asarray(a)],
], ids=["asarray", "array-subok", "look-alike-getitem", "asarray-inside-r_"])
def test_array_conversion_outside_r_still_raises(convert):
    """Only NumPy's own ``np.r_`` frame gets the labelled pieces; nothing else sees them."""
    with pytest.raises(linop.ConversionError):
        linop.trace(convert, np.zeros(3))


def test_apply_along_axis_traces_the_function_once():
    calls = []

    def row(r):
        calls.append(r.shape)
        return 2 * r[::-1]

    program = linop.trace(lambda a: np.apply_along_axis(row, 1, a), np.zeros((50, 4)))
    assert calls == [(4,)]
    x = RNG.standard_normal((50, 4))
    np.testing.assert_allclose(program(x), np.apply_along_axis(row, 1, x))


def test_multi_dot_keeps_numpys_scalar_result():
    program = linop.trace(lambda m: np.linalg.multi_dot([V3, m, V5]), np.zeros((3, 5)))
    assert program.out_avals[0].shape == ()


def test_histograms_return_numpys_edges():
    seen = []

    def f(w):
        hist, xe, ye = np.histogram2d(SAMPLE_X, SAMPLE_Y, bins=3, weights=w)
        seen.append((xe, ye))
        return hist

    linop.trace(f, np.zeros(12))
    want = np.histogram2d(SAMPLE_X, SAMPLE_Y, bins=3)
    np.testing.assert_array_equal(seen[0][0], want[1])
    np.testing.assert_array_equal(seen[0][1], want[2])


def test_nansum_is_the_sum_on_the_operators_domain():
    a = RNG.standard_normal((3, 4))
    a[1, 2] = np.nan
    program = linop.trace(lambda x: np.nansum(x, axis=0), a)
    assert np.isnan(program(a)[2]) and not np.isnan(np.nansum(a, axis=0)[2])
    finite = RNG.standard_normal((3, 4))
    np.testing.assert_allclose(program(finite), np.nansum(finite, axis=0))


# -- refused inputs -------------------------------------------------------------------------------
X6 = linop.ShapeDtype((6,), np.float64)
X34 = linop.ShapeDtype((3, 4), np.float64)

REFUSED = [
    ("gradient-traced-spacing", lambda f: np.gradient(np.ones((3, 3)), f[:3]), X6,
     linop.UnsupportedFunctionError, "spacings"),
    ("ediff1d-nonzero-to-end", lambda a: np.ediff1d(a, to_end=1.0), X6, linop.AffineError,
     "to_end"),
    ("trapezoid-both-traced", lambda a: np.trapezoid(a, a), X6, linop.NonLinearError, "multiply"),
    ("insert-nonzero-values", lambda a: np.insert(a, 1, 2.0), X6, linop.AffineError,
     "np.insert"),
    ("insert-traced-position", lambda a: np.insert(a, a[:1], 0.0), X6, linop.NonLinearError,
     "np.insert"),
    ("insert-complex-into-real", lambda a: np.insert(a, 1, 1j * a[0]), X6,
     linop.UnsupportedFunctionError, "imaginary"),
    ("delete-traced-position", lambda a: np.delete(a, a[:1]), X6, linop.NonLinearError,
     "np.delete"),
    ("extract-traced-condition", lambda a: np.extract(a, a), X6, linop.NonLinearError,
     "np.extract"),
    ("block-nonzero-constant", lambda a: np.block([a, np.ones(2)]), X6, linop.AffineError,
     "np.block"),
    ("r_-nonzero-constant", lambda a: np.r_[a, 1.0], X6, linop.AffineError, "np.r_"),
    ("r_-list-item", lambda a: np.r_[a, [a[0], a[1]]], X6, linop.ConversionError, "np.stack"),
    ("r_-matrix-directive", lambda a: np.r_["r", a, a], X6, linop.UnsupportedFunctionError,
     "np.matrix"),
    ("piecewise-nonzero-constant", lambda x: np.piecewise(x, CONDS6, [1.0, lambda v: v]), X6,
     linop.AffineError, "np.piecewise"),
    ("piecewise-traced-condition", lambda x: np.piecewise(x, [x], [lambda v: v]), X6,
     linop.NonLinearError, "np.piecewise"),
    ("apply_along_axis-closure", lambda a: np.apply_along_axis(lambda r: r + a[0], 1, a), X34,
     linop.TracerMixError, "extra argument"),
    ("apply_along_axis-constant-result", lambda a: np.apply_along_axis(lambda r: np.ones(2), 1, a),
     X34, linop.AffineError, "np.apply_along_axis"),
    ("apply_along_axis-constant-arr", lambda w: np.apply_along_axis(
        lambda r, w: r * w, 0, M34, w[:3]), X6, linop.ConversionError, "arr is a constant"),
    ("multi_dot-two-traced", lambda m: np.linalg.multi_dot([m, M45, m.T]), X34,
     linop.NonLinearError, "multi_dot"),
    ("histogram2d-density", lambda w: np.histogram2d(SAMPLE_X, SAMPLE_Y, density=True,
                                                     weights=np.concatenate([w, w])),
     X6, linop.NonLinearError, "density"),
    ("histogramdd-traced-sample", lambda s: np.histogramdd(s), X6, linop.NonLinearError,
     "np.histogramdd"),
    ("histogram2d-traced-x", lambda s: np.histogram2d(s, s, weights=np.ones(6)), X6,
     linop.NonLinearError, "np.histogram2d"),
    ("nansum-initial", lambda a: np.nansum(a, initial=1.0), X6, linop.AffineError, "np.nansum"),
    ("nancumsum-out", lambda a: np.nancumsum(a, out=np.zeros(6)), X6,
     linop.UnsupportedFunctionError, "np.nancumsum"),
]


@pytest.mark.parametrize("name,fun,spec,exc,what", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_inputs_raise_clear_errors(name, fun, spec, exc, what):
    with pytest.raises(exc) as info:
        linop.trace(fun, spec)
    message = str(info.value)
    assert what in message, message
    assert "test_numpy_more.py:" in message, message


NUMPY_ERRORS = [
    ("gradient-edge-order", lambda f: np.gradient(f, edge_order=3), X6, ValueError),
    ("gradient-too-short", lambda f: np.gradient(f[:2], edge_order=2), X6, ValueError),
    ("gradient-arguments", lambda f: np.gradient(f, 1.0, 2.0), X6, TypeError),
    ("gradient-2d-coords", lambda f: np.gradient(f, np.ones((6, 1))), X6, ValueError),
    ("gradient-coords-length", lambda f: np.gradient(f, np.arange(5.0)), X6, ValueError),
    ("gradient-repeated-axis", lambda f: np.gradient(f, axis=(0, -2)), X34, ValueError),
    ("gradient-axis", lambda f: np.gradient(f, axis=2), X34, np.exceptions.AxisError),
    ("ediff1d-complex-begin", lambda a: np.ediff1d(a, to_begin=1j * a), X6, TypeError),
    ("insert-out-of-bounds", lambda a: np.insert(a, 9, a[0]), X6, IndexError),
    ("delete-out-of-bounds", lambda a: np.delete(a, [7]), X6, IndexError),
    ("resize-negative", lambda a: np.resize(a, (-1, 2)), X6, ValueError),
    ("extract-long-condition", lambda a: np.extract(np.ones(9, bool), a), X6, IndexError),
    ("block-tuple", lambda a: np.block((a, a)), X6, TypeError),
    ("block-depths", lambda a: np.block([[a], a]), X6, ValueError),
    ("block-empty", lambda a: np.block([a, []]), X6, ValueError),
    ("piecewise-count", lambda x: np.piecewise(x, CONDS6, [0]), X6, ValueError),
    ("apply_along_axis-empty", lambda a: np.apply_along_axis(np.sum, 0, a[:, :0]), X34,
     ValueError),
    ("multi_dot-one", lambda m: np.linalg.multi_dot([m]), X34, ValueError),
    ("multi_dot-3d", lambda m: np.linalg.multi_dot([m, np.ones((4, 2, 2)), V3]), X34,
     np.linalg.LinAlgError),
    ("multi_dot-shapes", lambda m: np.linalg.multi_dot([m, M23, V3]), X34, ValueError),
    ("histogramdd-complex-weights", lambda w: np.histogramdd(SAMPLE_3D[:6], weights=1j * w), X6,
     TypeError),
    ("histogramdd-weights-length", lambda w: np.histogramdd(SAMPLE_3D, weights=w), X6,
     ValueError),
    ("histogramdd-bins", lambda w: np.histogramdd(SAMPLE_3D[:6], bins=(2, 2), weights=w), X6,
     ValueError),
]


@pytest.mark.parametrize("name,fun,spec,exc", NUMPY_ERRORS, ids=[r[0] for r in NUMPY_ERRORS])
def test_invalid_input_raises_numpys_exception(name, fun, spec, exc):
    with pytest.raises(exc):
        fun(np.zeros(spec.shape, spec.dtype))  # NumPy itself refuses it ...
    with pytest.raises(exc):
        linop.trace(fun, spec)  # ... and so does linop, with the same exception type


# -- random chains with the new functions ---------------------------------------------------------
def _new_op(draw, shape):
    """One of the new functions, valid for an array of ``shape``: (name, function)."""
    nd = len(shape)
    names = ["gradient", "ediff1d", "append", "insert", "delete", "resize", "trapezoid", "r_",
             "nancumsum", "apply_along_axis", "block", "piecewise"]
    name = draw(st.sampled_from(names))
    axis = draw(st.integers(-nd, nd - 1))
    if name == "gradient" and shape[axis] >= 3:
        edge = draw(st.sampled_from([1, 2]))
        return name, lambda x: np.gradient(x, 0.5, axis=axis, edge_order=edge)
    if name == "ediff1d":
        return name, lambda x: np.ediff1d(x, to_begin=0)
    if name == "append":
        return name, lambda x: np.append(x, -x, axis=axis)
    if name == "insert":
        pos = draw(st.integers(0, shape[axis]))
        return name, lambda x: np.insert(x, pos, 0.0, axis=axis)
    if name == "delete" and shape[axis] > 1:
        pos = draw(st.integers(-shape[axis], shape[axis] - 1))
        return name, lambda x: np.delete(x, pos, axis=axis)
    if name == "resize":
        size = draw(st.integers(1, 12))
        return name, lambda x: np.resize(x, size)
    if name == "trapezoid" and shape[axis] > 1:
        return name, lambda x: np.trapezoid(x, dx=0.5, axis=axis)
    if name == "r_":
        return name, lambda x: np.r_[x, x[::-1]]
    if name == "nancumsum":
        return name, lambda x: np.nancumsum(x, axis=axis)
    if name == "apply_along_axis":
        return name, lambda x: np.apply_along_axis(lambda r: np.cumsum(r[::-1]), axis, x)
    if name == "block" and nd == 2:
        return name, lambda x: np.block([[x, x], [x, np.zeros(shape)]])
    if name == "piecewise":
        mask = np.arange(int(np.prod(shape))).reshape(shape) % 2 == 0
        return name, lambda x: np.piecewise(x, [mask], [lambda v: 3 * v, lambda v: -v])
    return "nancumsum", lambda x: np.nancumsum(x, axis=axis)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains.chains(lambda draw, shape, dtype: _new_op(draw, shape), ndims=(1, 2), max_steps=4,
                     max_size=60, accepts=lambda value: value.ndim > 0))
def test_random_chains_of_new_functions(chain):
    chains.check_chain(chain)
