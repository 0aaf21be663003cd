"""NumPy 2 names, in-place idioms and ufunc methods on traced arrays.

Forward == NumPy on random inputs, dense-oracle transposes in four dtypes and double
transposes (the CASES table; vmap == loop comes from tests/test_vmap.py), NumPy's
errors, linop's refusals, view semantics of the in-place writes, and random chains.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import chains
import linop
from linop.testing import check_transpose
from harness import REAL, Case, assert_tree_close, case_id, check_all

THIS_FILE = os.path.basename(__file__)
rng = np.random.default_rng(11)
C32 = rng.standard_normal((3, 2))
C234 = rng.standard_normal((2, 3, 4))
MASK23 = np.array([[True, False, True], [False, True, True]])


def _into_copy(write):
    """``y = x.copy(); write(y, x); return y``: an in-place write that keeps part of ``x``."""
    def f(x):
        y = x.copy()
        assert write(y, x) is None  # NumPy's in-place functions return None
        return y
    return f


def _into_zeros(write):
    """``y = zeros_like(x); write(y, x); return y``."""
    def f(x):
        y = np.zeros_like(x)
        write(y, x)
        return y
    return f


def _astype_copies(x):
    y = np.astype(x, x.dtype)
    y[0] = 0
    return x, y


def _astype_no_copy(x):
    y = np.astype(x, x.dtype, copy=False)
    y[0] = 0
    return x


def _flat_reads(x):
    return x.flat[3], x.flat[1:5], x.flat[[0, -1, 2]], x.flat[np.arange(x.size) % 2 == 0], \
        x.flat[...], x.flat.copy(), np.stack(list(x.flat))


def _flat_write_through_view(x):
    y = x.copy()
    v = y[:, 1:]  # a view: writing v.flat writes y
    v.flat[[0, 3]] = x[0, :2] * 2
    return y, v


def _put_then_read_view(x):
    y = x.copy()
    tail = y[1:]  # made before the write, sees it (as in NumPy)
    np.put(y, [1, -1], x[:2])
    return tail


def _put_into_view(x):
    y = x.copy()
    np.put(y.T, [0, 1, 5], x[0])  # C order of the transposed view
    return y


def _flat_assign_all(x):
    y = np.zeros_like(x)
    y.flat = x[0]  # cycled over all elements
    return y


def _flat_iadd(x):
    y = 2 * x
    y.flat[[1, 1, 4]] += x[0]  # once per position, as y.flat[i] = y.flat[i] + v
    return y


def _negative_at(x):
    y = x.copy()
    np.negative.at(y, [0, 2, 2, 3, 3, 3])
    return y


def _reduceat_rows(x):
    return np.add.reduceat(x, [0, 2, 2, 1, 3], axis=0)


CASES = [
    # -- NumPy 2 names ------------------------------------------------------------------------
    Case("astype-f32", lambda x: np.astype(x, np.float32), ((2, 3),), REAL),
    Case("astype-f64", lambda x: np.astype(x, np.float64), ((4,),), REAL),
    Case("astype-c128", lambda x: np.astype(x, np.complex128), ((2, 3),)),
    Case("astype-same-dtype-copies", _astype_copies, ((3,),)),
    Case("astype-copy-false-is-x", _astype_no_copy, ((3,),)),
    Case("unstack", lambda x: np.unstack(x), ((3, 2),)),
    Case("unstack-neg-axis", lambda x: np.unstack(x, axis=-1), ((2, 3, 2),)),
    Case("unstack-1d", lambda x: np.unstack(x), ((3,),)),
    Case("linalg-matmul", lambda x: np.linalg.matmul(x, C32), ((4, 3),)),
    Case("linalg-matmul-1d-batch", lambda x: np.linalg.matmul(C234, x), ((4,),)),
    Case("linalg-outer", lambda x: np.linalg.outer(x, C32[:, 0]), ((2,),)),
    Case("linalg-outer-constant-first", lambda x: np.linalg.outer(C32[0], x), ((3,),)),
    Case("linalg-vecdot", lambda x: np.linalg.vecdot(C32, x), ((3, 2),)),
    Case("linalg-vecdot-axis0", lambda x: np.linalg.vecdot(C32, x, axis=0), ((3, 2),)),
    Case("linalg-vecdot-broadcast", lambda x: np.linalg.vecdot(C32, x, axis=-2), ((4, 3, 1),)),
    Case("linalg-vecdot-conj-traced", lambda x: np.linalg.vecdot(x, C32, axis=0), ((3, 2),),
         c_linear=False),
    Case("vecdot-axis", lambda x: np.vecdot(C32, x, axis=0), ((3, 2),)),
    Case("vecdot-keepdims", lambda x: np.vecdot(C32, x, axis=0, keepdims=True), ((3, 2),)),
    Case("vecdot-axes-keepdims", lambda x: np.vecdot(C32, x, axes=[0, 0], keepdims=True),
         ((3, 2),)),
    Case("vecdot-axes-out", lambda x: np.vecdot(C32, x, axes=[(0,), (0,), ()]), ((3, 2),)),
    Case("matmul-axes", lambda x: np.matmul(C234, x, axes=[(0, 1), (0, 1), (2, 0)]), ((3, 5),)),
    Case("matmul-axes-1d", lambda x: np.matmul(C234, x, axes=[(0, 1), (0,), (0,)]), ((3,),)),
    Case("matvec-axes", lambda x: np.matvec(x, C32[:, 0], axes=[(1, 0), (0,), (0,)]),
         ((3, 4, 3),)),
    Case("linalg-matrix-transpose", lambda x: np.linalg.matrix_transpose(x), ((2, 3, 4),)),
    Case("permute-dims", lambda x: np.permute_dims(x, (-1, 0, 1)), ((2, 3, 4),)),
    Case("permute-dims-default", lambda x: np.permute_dims(x), ((2, 3),)),
    Case("transpose-1d-int-axes", lambda x: np.transpose(x, 0), ((4,),)),
    Case("transpose-1d-negative-int-axes", lambda x: np.transpose(x, np.int64(-1)), ((4,),)),
    Case("concat", lambda x: np.concat([x, 2 * x[:1]], axis=-2), ((2, 3),)),
    Case("concat-axis-none", lambda x: np.concat((x, x[0]), axis=None), ((2, 3),)),
    Case("concat-dtype", lambda x: np.concat([x, x], dtype=np.complex128), ((2,),)),
    Case("cumulative-sum-1d", lambda x: np.cumulative_sum(x), ((4,),)),
    Case("cumulative-sum-axis", lambda x: np.cumulative_sum(x, axis=-2), ((3, 2),)),
    Case("cumulative-sum-initial", lambda x: np.cumulative_sum(x, axis=1, include_initial=True),
         ((2, 3),)),
    Case("cumulative-sum-0d", lambda x: np.cumulative_sum(x, include_initial=True), ((),)),
    Case("cumulative-sum-dtype", lambda x: np.cumulative_sum(x, dtype=np.complex128), ((3,),)),
    Case("cumulative-sum-empty-initial", lambda x: np.cumulative_sum(x, include_initial=True),
         ((0,),)),
    # -- in-place idioms ----------------------------------------------------------------------
    Case("put-last-wins", _into_copy(lambda y, x: np.put(y, [0, 3, -1, 0], x[::-1])), ((5,),)),
    Case("put-short-v-cycles", _into_copy(lambda y, x: np.put(y, [[1, 2], [3, 4]], x[0])),
         ((2, 3),)),
    Case("put-wrap", _into_copy(lambda y, x: np.put(y, [7, -9, 2], x[:3], mode="wrap")),
         ((4,),)),
    Case("put-clip", _into_copy(lambda y, x: np.put(y, [-5, 40], x[:2], mode="clip")), ((4,),)),
    Case("put-zero-constant", _into_copy(lambda y, x: np.put(y, [1, 2], 0.0)), ((4,),)),
    Case("put-method", _into_copy(lambda y, x: y.put([2, 0], x[1:3])), ((3,),)),
    Case("put-empty-v", _into_copy(lambda y, x: np.put(y, [0, 1], x[:0])), ((3,),)),
    Case("put-into-view", _put_into_view, ((2, 3),)),
    Case("put-seen-by-view", _put_then_read_view, ((4,),)),
    Case("place", _into_copy(lambda y, x: np.place(y, MASK23, x[1, ::-1])), ((2, 3),)),
    Case("place-cycles", _into_zeros(lambda y, x: np.place(y, MASK23, x[0, :1])), ((2, 3),)),
    Case("putmask", _into_copy(lambda y, x: np.putmask(y, MASK23, x[:, ::-1])), ((2, 3),)),
    Case("putmask-cycles-by-position", _into_copy(lambda y, x: np.putmask(y, MASK23, x[0, :2])),
         ((2, 3),)),
    Case("copyto", _into_zeros(lambda y, x: np.copyto(y, x[::-1])), ((3, 2),)),
    Case("copyto-where", _into_copy(lambda y, x: np.copyto(y, 3 * x[::-1, ::-1], where=MASK23)),
         ((2, 3),)),
    Case("copyto-broadcast-where-row", _into_copy(
        lambda y, x: np.copyto(y, x[1], where=np.array([True, False, True]))), ((2, 3),)),
    Case("copyto-zero-constant", _into_copy(lambda y, x: np.copyto(y, 0.0, where=MASK23)),
         ((2, 3),)),
    Case("copyto-unsafe", _into_copy(lambda y, x: np.copyto(y, x[0], casting="unsafe")),
         ((2, 3),)),
    Case("fill-diagonal-traced-scalar", _into_copy(lambda y, x: np.fill_diagonal(y, x[0, 1])),
         ((3, 3),)),
    Case("fill-diagonal-traced-array", _into_copy(lambda y, x: np.fill_diagonal(y, x[0, :2])),
         ((3, 4),)),
    Case("fill-diagonal-wrap", _into_copy(
        lambda y, x: np.fill_diagonal(y, x[:3, 0], wrap=True)), ((7, 2),)),
    Case("fill-diagonal-no-wrap", _into_copy(lambda y, x: np.fill_diagonal(y, x[:3, 1])),
         ((7, 2),)),
    Case("fill-diagonal-cube", _into_copy(lambda y, x: np.fill_diagonal(y, x[0, 0])), ((2, 2, 2),)),
    Case("fill-diagonal-zero", _into_copy(lambda y, x: np.fill_diagonal(y, 0)), ((3, 3),)),
    Case("flat-reads", _flat_reads, ((2, 3),)),
    Case("flat-write-slice-cycles", _into_copy(lambda y, x: y.flat.__setitem__(
        slice(1, 6), x[1, :2])), ((2, 3),)),
    Case("flat-write-array", _into_copy(lambda y, x: y.flat.__setitem__([5, 0, 5], x[0])),
         ((2, 3),)),
    Case("flat-write-through-view", _flat_write_through_view, ((2, 3),)),
    Case("flat-assign-all", _flat_assign_all, ((2, 3),)),
    Case("flat-iadd", _flat_iadd, ((2, 3),)),
    Case("copyto-into-view", _into_copy(lambda y, x: np.copyto(y[:, 1:], x[:, :2])), ((2, 3),)),
    Case("fill-diagonal-of-view", _into_copy(lambda y, x: np.fill_diagonal(y[1:, ::-1], x[0])),
         ((3, 2),)),
    Case("putmask-of-transposed-view", _into_copy(
        lambda y, x: np.putmask(y.T, MASK23.T, x[0])), ((2, 3),)),
    # -- ufunc methods ------------------------------------------------------------------------
    Case("subtract-at", _into_copy(lambda y, x: np.subtract.at(y, [0, 0, 2], x[1:])), ((4,),)),
    Case("subtract-at-rows", _into_copy(lambda y, x: np.subtract.at(y, [1, 1], x[0])),
         ((2, 3),)),
    Case("negative-at", _negative_at, ((4,),)),
    Case("multiply-at", _into_copy(lambda y, x: np.multiply.at(y, [0, 0, 3], [2.0, -3.0, 0.5])),
         ((4,),)),
    Case("multiply-at-tuple", _into_copy(lambda y, x: np.multiply.at(y, (1, [0, 2]), 1.5)),
         ((2, 3),)),
    Case("add-reduceat", lambda x: np.add.reduceat(x, [0, 4, 1, 5]), ((8,),)),
    Case("add-reduceat-non-increasing", lambda x: np.add.reduceat(x, [3, 1, 4, 4, 0], axis=-1),
         ((2, 5),)),
    Case("add-reduceat-rows", _reduceat_rows, ((4, 2),)),
    Case("add-reduceat-dtype", lambda x: np.add.reduceat(x, [1, 2], dtype=np.complex128),
         ((3,),)),
    Case("add-reduceat-empty", lambda x: np.add.reduceat(x, []), ((3,),)),
    Case("add-reduceat-axis-none", lambda x: np.add.reduceat(x, [0, 2], axis=None), ((4,),)),
    Case("add-casting-unsafe", lambda x: np.add(x, x, dtype=np.complex64, casting="unsafe"),
         ((3,),)),
    Case("add-accumulate-axis-none", lambda x: np.add.accumulate(x, axis=None), ((4,),)),
    Case("subtract-accumulate", lambda x: np.subtract.accumulate(x), ((4, 2),)),
    Case("subtract-accumulate-axis", lambda x: np.subtract.accumulate(x, axis=-1), ((2, 4),)),
    Case("subtract-accumulate-dtype",
         lambda x: np.subtract.accumulate(x, axis=(0,), dtype=np.complex128), ((3,),)),
    Case("add-outer", lambda x, y: np.add.outer(x, y), ((2,), (3, 2))),
    Case("add-outer-self", lambda x: np.add.outer(x, x[::-1]), ((3,),)),
    Case("subtract-outer", lambda x, y: np.subtract.outer(x, y), ((2, 2), (3,))),
    Case("subtract-outer-dtype", lambda x: np.subtract.outer(x, x, dtype=np.complex128), ((2,),)),
    Case("multiply-outer", lambda x: np.multiply.outer(x, C32), ((2,),)),
    Case("multiply-outer-constant-first", lambda x: np.multiply.outer(C32[0], x), ((3,),)),
    Case("multiply-outer-dtype", lambda x: np.multiply.outer(x, C32[:, 0], dtype=np.complex128),
         ((2,),)),
    Case("divide-outer", lambda x: np.divide.outer(x, C32[:, 0] + 3), ((2,),)),
    Case("add-reduce-where", lambda x: np.add.reduce(x, where=MASK23), ((2, 3),)),
    Case("add-reduce-where-axis-keepdims", lambda x: np.add.reduce(
        x, axis=-1, keepdims=True, initial=0, where=np.array([True, False, True])), ((2, 3),)),
    Case("add-reduce-where-axis-none", lambda x: np.add.reduce(x, axis=None, where=MASK23),
         ((2, 3),)),
]


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_table(param):
    case, dtype = param
    check_all(case, dtype)


def test_in_place_functions_return_none_and_write_the_traced_array():
    def f(x):
        y = x.copy()
        results = [np.put(y, [0], x[1]), np.place(y, [False, True, False], x[2]),
                   np.putmask(y, [False, False, True], x[0]), np.copyto(y, y[::-1]),
                   np.subtract.at(y, [0], x[0]), np.negative.at(y, [1]),
                   np.multiply.at(y, [2], 2.0)]
        assert results == [None] * len(results)
        return y

    x = rng.standard_normal(3)
    np.testing.assert_allclose(linop.trace(f, x)(x), f(x), rtol=1e-12)


def test_x_put_and_x_flat_are_methods_of_the_tracer():
    from linop.numpy_api import METHODS
    assert "put" in METHODS and "flat" in METHODS


def test_flat_length_and_iteration():
    def f(x):
        assert len(x.flat) == x.size
        return np.stack([v for v in x.flat])

    x = rng.standard_normal((2, 3))
    np.testing.assert_allclose(linop.trace(f, x)(x), x.ravel(), rtol=1e-12)


def test_writes_through_an_ambiguous_view_raise_as_for_indexing():
    def f(x):
        y = x.copy()
        np.put(np.reshape(y, -1), [0], x[0, 0])
        return y

    with pytest.raises(linop.ViewWriteError):
        linop.trace(f, np.zeros((2, 3)))


@pytest.mark.parametrize("fun", [
    lambda x: np.vecdot(C32, x, axis=0, keepdims=True),
    lambda x: np.matmul(C234, x, axes=[(0, 1), (0, 1), (2, 0)]),
    lambda x: np.add.outer(x, x[::-1]),
    lambda x: np.add.reduceat(x, [0, 1], axis=1),
    lambda x: np.subtract.accumulate(x, axis=1),
], ids=["vecdot-keepdims", "matmul-axes", "add-outer", "reduceat", "subtract-accumulate"])
def test_results_are_new_writable_arrays(fun):
    def f(x):
        r = fun(x)
        r[0] = 0
        return x, r

    x = rng.standard_normal((3, 5))[:, :2]
    assert_tree_close(linop.trace(f, x)(x), f(x.copy()), 1e-12)


def test_add_outer_is_one_broadcast_add():
    program = linop.trace(lambda x, y: np.add.outer(x, y), np.zeros(2), np.zeros(3))
    assert [e.prim.name for e in program.eqns].count("add") == 1


def test_reduceat_is_one_gather_and_one_scatter_add():
    program = linop.trace(lambda x: np.add.reduceat(x, [0, 3, 1]), np.zeros(5))
    assert sorted(e.prim.name for e in program.eqns) == ["gather", "scatter_add"]


@pytest.mark.parametrize("indices", [[0], [4], [2, 2, 2], [4, 3, 2, 1, 0], [0, 1, 2, 3, 4],
                                     [1, 0, 3, 3, 4, 2], np.array([3, 1], np.int32)])
def test_reduceat_indices_semantics(indices):
    x = rng.standard_normal((5, 2))
    fun = lambda x: np.add.reduceat(x, indices)  # noqa: E731
    np.testing.assert_allclose(linop.trace(fun, x)(x), fun(x), rtol=1e-12)
    check_transpose(fun, x)


# -- NumPy's errors ------------------------------------------------------------------------
def _traced_write(write):
    def f(x):
        y = x.copy()
        write(y, x)
        return y
    return f


NUMPY_ERRORS = [
    ("astype-device", lambda x: np.astype(x, np.float32, device="gpu"), ValueError),
    ("unstack-0d", lambda x: np.unstack(x[0, 0]), ValueError),
    ("unstack-axis", lambda x: np.unstack(x, axis=2), np.exceptions.AxisError),
    ("linalg-outer-2d", lambda x: np.linalg.outer(x, np.ones(3)), ValueError),
    ("linalg-vecdot-axis", lambda x: np.linalg.vecdot(np.ones((2, 3)), x, axis=2),
     np.exceptions.AxisError),
    ("linalg-vecdot-mismatch", lambda x: np.linalg.vecdot(np.ones(2), x), ValueError),
    ("matrix-transpose-1d", lambda x: np.linalg.matrix_transpose(x[0]), ValueError),
    ("permute-dims-repeated", lambda x: np.permute_dims(x, (0, 0)), ValueError),
    ("permute-dims-length", lambda x: np.permute_dims(x, (0,)), ValueError),
    ("transpose-int-axes-2d", lambda x: np.transpose(x, 0), ValueError),
    ("transpose-int-axes-out-of-bounds", lambda x: np.transpose(x[0], 1), np.exceptions.AxisError),
    ("vecdot-axis-and-axes", lambda x: np.vecdot(x, np.ones((2, 3)), axis=0, axes=[0, 0]),
     TypeError),
    ("vecdot-axes-output", lambda x: np.vecdot(np.ones((2, 3)), x, axes=[0, 0, (0,)]),
     np.exceptions.AxisError),
    ("matmul-axis", lambda x: np.matmul(x, np.ones((3, 3)), axis=0), TypeError),
    ("matmul-keepdims", lambda x: np.matmul(x, np.ones((3, 3)), keepdims=True), TypeError),
    ("matmul-axes-short", lambda x: np.matmul(x, np.ones((3, 3)), axes=[(0, 1), (0, 1)]),
     ValueError),
    ("add-axis", lambda x: np.add(x, x, axis=0), TypeError),
    ("cumulative-sum-no-axis", lambda x: np.cumulative_sum(x), ValueError),
    ("put-raise", _traced_write(lambda y, x: np.put(y, [6], x[0, 0])), IndexError),
    ("put-bad-mode", _traced_write(lambda y, x: np.put(y, [0], x[0, 0], mode="bad")),
     ValueError),
    ("place-size", _traced_write(lambda y, x: np.place(y, [True, False], x[0])), ValueError),
    ("place-empty", _traced_write(lambda y, x: np.place(y, MASK23, x[:0])), ValueError),
    ("putmask-size", _traced_write(lambda y, x: np.putmask(y, [True], x[0])), ValueError),
    ("copyto-casting", _traced_write(lambda y, x: np.copyto(y, x.astype(complex))), TypeError),
    ("copyto-broadcast", _traced_write(lambda y, x: np.copyto(y, x[:, :2])), ValueError),
    ("copyto-where-broadcast", _traced_write(
        lambda y, x: np.copyto(y, x, where=[True, False])), ValueError),
    ("fill-diagonal-1d", _traced_write(lambda y, x: np.fill_diagonal(y[0], x[0, 0])), ValueError),
    ("flat-out-of-range", lambda x: x.flat[6], IndexError),
    ("flat-2d-index", lambda x: x.flat[0, 1], IndexError),
    ("negative-at-operand", _traced_write(lambda y, x: np.negative.at(y, [0], x[0])), ValueError),
    ("subtract-at-no-operand", _traced_write(lambda y, x: np.subtract.at(y, [0])), ValueError),
    ("subtract-at-broadcast", _traced_write(lambda y, x: np.subtract.at(y, [0], x)), ValueError),
    ("multiply-at-bounds", _traced_write(lambda y, x: np.multiply.at(y, [5], 2.0)), IndexError),
    ("reduceat-negative", lambda x: np.add.reduceat(x, [-1]), IndexError),
    ("reduceat-too-large", lambda x: np.add.reduceat(x, [0, 2]), IndexError),
    ("reduceat-axis", lambda x: np.add.reduceat(x, [0], axis=2), np.exceptions.AxisError),
    ("subtract-accumulate-0d", lambda x: np.subtract.accumulate(x[0, 0]), TypeError),
    ("subtract-accumulate-axes", lambda x: np.subtract.accumulate(x, axis=(0, 1)), ValueError),
    ("reduceat-axis-none-2d", lambda x: np.add.reduceat(x, [0], axis=None), ValueError),
    # casting= and order= are checked as NumPy checks them, not ignored
    ("add-casting-no", lambda x: np.add(x, x.astype(np.float32), casting="no"), TypeError),
    ("add-casting-safe-dtype", lambda x: np.add(x, x, dtype=np.float32, casting="safe"),
     TypeError),
    ("add-casting-unknown", lambda x: np.add(x, x, casting="bogus"), ValueError),
    ("add-order-unknown", lambda x: np.add(x, x, order="Q"), ValueError),
    ("add-outer-casting-no", lambda x: np.add.outer(x, np.float32(1), casting="no"), TypeError),
    ("matmul-casting-no", lambda x: np.matmul(x, np.ones((3, 3), np.float32), casting="no"),
     TypeError),
    ("add-out-casting-safe", _traced_write(
        lambda y, x: np.add(x, x, out=y.astype(np.float32), casting="safe")), TypeError),
]


@pytest.mark.parametrize("name,fun,error", NUMPY_ERRORS, ids=[n for n, _, _ in NUMPY_ERRORS])
def test_numpy_errors(name, fun, error):
    x = np.ones((2, 3))
    with pytest.raises(error):
        fun(x)
    with pytest.raises(error):
        linop.trace(fun, x)


def test_multiply_at_casts_its_constant_factor_as_numpy_does():
    fun = _traced_write(lambda y, x: np.multiply.at(y, ([0, 1], 2), [1 + 2j, 3.0]))
    x = rng.standard_normal((2, 3))
    with pytest.warns(np.exceptions.ComplexWarning):
        want = fun(x)
    with pytest.warns(np.exceptions.ComplexWarning):
        program = linop.trace(fun, x)
    np.testing.assert_allclose(program(x), want, rtol=1e-12)


# -- linop's refusals -----------------------------------------------------------------------
REFUSED = [
    ("astype-int", lambda x: np.astype(x, np.int64), linop.NonLinearError),
    ("astype-complex-to-real", lambda x: np.astype(x.astype(complex), np.float64),
     linop.UnsupportedFunctionError),
    ("linalg-vecdot-bilinear", lambda x: np.linalg.vecdot(x, x), linop.NonLinearError),
    ("put-traced-indices", _traced_write(lambda y, x: np.put(y, x, 0.0)), linop.NonLinearError),
    ("put-constant", _traced_write(lambda y, x: np.put(y, [0], 1.0)), linop.AffineError),
    ("place-traced-mask", _traced_write(lambda y, x: np.place(y, x, 0.0)), linop.NonLinearError),
    ("putmask-constant", _traced_write(lambda y, x: np.putmask(y, MASK23, [0.0, 2.0])),
     linop.AffineError),
    ("copyto-traced-where", _traced_write(lambda y, x: np.copyto(y, x, where=x)),
     linop.NonLinearError),
    ("copyto-constant", _traced_write(lambda y, x: np.copyto(y, 1.0, where=MASK23)),
     linop.AffineError),
    ("copyto-unsafe-complex", _traced_write(
        lambda y, x: np.copyto(y, x.astype(complex), casting="unsafe")),
     linop.UnsupportedFunctionError),
    ("fill-diagonal-constant", _traced_write(lambda y, x: np.fill_diagonal(y, 1.0)),
     linop.AffineError),
    ("flat-traced-index", lambda x: x.flat[x], linop.NonLinearError),
    ("flat-as-array", lambda x: np.asarray(x.flat), linop.ConversionError),
    ("flat-write-constant", _traced_write(lambda y, x: y.flat.__setitem__(0, 2.0)),
     linop.AffineError),
    ("subtract-at-constant", _traced_write(lambda y, x: np.subtract.at(y, [0], 1.0)),
     linop.AffineError),
    ("multiply-at-traced-factor", _traced_write(lambda y, x: np.multiply.at(y, [0], x[0, 0])),
     linop.NonLinearError),
    ("reduceat-traced-indices", lambda x: np.add.reduceat(x, x), linop.NonLinearError),
    ("multiply-outer-bilinear", lambda x: np.multiply.outer(x, x), linop.NonLinearError),
    ("add-outer-constant", lambda x: np.add.outer(x, np.ones(2)), linop.AffineError),
    ("add-reduce-traced-where", lambda x: np.add.reduce(x, where=x), linop.NonLinearError),
    ("add-reduce-initial", lambda x: np.add.reduce(x, initial=1.0), linop.AffineError),
    ("add-where", lambda x: np.add(x, x, where=MASK23), linop.UnsupportedFunctionError),
]


@pytest.mark.parametrize("name,fun,error", REFUSED, ids=[n for n, _, _ in REFUSED])
def test_refusals_name_the_users_line(name, fun, error):
    with pytest.raises(error, match=THIS_FILE):
        linop.trace(fun, np.ones((2, 3)))


@pytest.mark.parametrize("write", [
    lambda y, x: np.put(y, [0], x[0]),
    lambda y, x: np.place(y, [True, False, False], x[0]),
    lambda y, x: np.putmask(y, [True, False, False], x[0]),
    lambda y, x: np.copyto(y, x),
    lambda y, x: np.fill_diagonal(y.reshape(1, 3), x[0]),
    lambda y, x: np.subtract.at(y, [0], x[0]),
], ids=["put", "place", "putmask", "copyto", "fill_diagonal", "subtract.at"])
def test_writing_a_traced_value_into_a_plain_array_is_refused(write):
    def f(x):
        y = np.zeros(3)
        write(y, x)
        return y

    with pytest.raises(linop.ArrayAssignmentError, match="zeros_like"):
        linop.trace(f, np.ones(3))


# -- random chains ---------------------------------------------------------------------------
def _step(draw, shape):
    """One in-place or ufunc-method step valid for a 2-D array of ``shape``."""
    n, m = shape
    size = n * m
    positions = draw(st.lists(st.integers(-size, size - 1), min_size=1, max_size=5))
    rows = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4))
    mask = np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size))).reshape(shape)
    name = draw(st.sampled_from(["put", "putmask", "place", "copyto", "fill_diagonal", "flat",
                                 "subtract.at", "negative.at", "multiply.at", "reduceat",
                                 "subtract.accumulate", "add.outer", "cumulative_sum"]))

    def write(op):
        def f(x):
            y = x.copy()
            op(y, x)
            return y
        return f

    if name == "put":
        return name, write(lambda y, x: np.put(y, positions, x[::-1].T))
    if name == "putmask":
        return name, write(lambda y, x: np.putmask(y, mask, -x))
    if name == "place":
        return name, write(lambda y, x: np.place(y, mask, x[::-1]))
    if name == "copyto":
        return name, write(lambda y, x: np.copyto(y, 2 * x[::-1], where=mask))
    if name == "fill_diagonal":
        return name, write(lambda y, x: np.fill_diagonal(y, x[0], wrap=True))
    if name == "flat":
        return name, write(lambda y, x: y.flat.__setitem__(positions, x[-1]))
    if name == "subtract.at":
        return name, write(lambda y, x: np.subtract.at(y, rows, x[0]))
    if name == "negative.at":
        return name, write(lambda y, x: np.negative.at(y, (rows,)))
    if name == "multiply.at":
        return name, write(lambda y, x: np.multiply.at(y, (rows,), 1.5))
    if name == "reduceat":
        starts = draw(st.lists(st.integers(0, m - 1), min_size=1, max_size=m + 1))
        return name, lambda x: np.add.reduceat(x, starts, axis=1)
    if name == "subtract.accumulate":
        axis = draw(st.sampled_from([0, -1]))
        return name, lambda x: np.subtract.accumulate(x, axis=axis)
    if name == "add.outer":
        return name, lambda x: np.add.outer(x[0], x[:, 0][::-1])
    return name, lambda x: np.cumulative_sum(x, axis=1, include_initial=True)[:, 1:]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains.chains(lambda draw, shape, dtype: _step(draw, shape), ndims=(2, 2), max_steps=4,
                     accepts=lambda value: value.ndim == 2))
def test_random_chains_of_in_place_steps(chain):
    chains.check_chain(chain, rtol=1e-11)
