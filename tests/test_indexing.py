"""Advanced indexing, take/compress, writes and selection: forward == NumPy, exact transposes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import linop
from linop.primitives.gather import gather_p, scatter_add, scatter_add_p
from linop.testing import check_transpose
from harness import ALL, Case, assert_tree_close, case_id, check_all, random_args

IDX = np.array([3, -1, 0, 3, 2])
IDX2 = np.array([[0, 2], [2, -3]])
MASK3 = np.array([True, False, True])
MASK34 = np.arange(12).reshape(3, 4) % 3 == 0


def _assign(index, source):
    """y = zeros_like(x); y[index] = source(x)."""
    def f(x):
        y = np.zeros_like(x)
        y[index] = source(x)
        return y
    return f


def _write_into(index, source):
    """y = x.copy(); y[index] = source(x): a write that keeps part of x."""
    def f(x):
        y = x.copy()
        y[index] = source(x)
        return y
    return f


def _through_view(x):
    """A write into a basic-indexing view of y reaches y (as in NumPy)."""
    y = x.copy()
    tail = y[1:]
    tail[[0, 2, 0]] = x[:3]
    return y


def _iadd(index, source):
    def f(x):
        y = 2 * x
        y[index] += source(x)
        return y
    return f


def _add_at(index, source):
    def f(x):
        y = x.copy()
        np.add.at(y, index, source(x))
        return y
    return f


def _put_along(indices, axis, source):
    def f(x):
        y = x.copy()
        np.put_along_axis(y, indices, source(x), axis)
        return y
    return f


CASES = [
    # -- reading -------------------------------------------------------------------------------
    Case("int_array", lambda x: x[IDX], ((5,),)),
    Case("int_list_repeats", lambda x: x[[1, 1, 1, 0]], ((3,),)),
    Case("empty_list", lambda x: x[[]], ((3,),)),
    Case("index_2d", lambda x: x[IDX2], ((3, 2),)),
    Case("two_arrays", lambda x: x[[0, 2, 2], [1, -1, 0]], ((3, 4),)),
    Case("array_slice", lambda x: x[[2, 0], 1:], ((3, 4),)),
    Case("slice_array", lambda x: x[::-1, [3, 0, 0]], ((3, 4),)),
    Case("arrays_split_by_slice", lambda x: x[[0, 1], :, [2, 0]], ((2, 3, 4),)),
    Case("arrays_split_by_none", lambda x: x[:, [0, 1], None, [1, 1]], ((4, 2, 3),)),
    Case("empty_ellipsis_splits", lambda x: x[:, [0, 1], ..., [0, 2]], ((4, 2, 3),)),
    Case("int_and_array", lambda x: x[1, :, [0, 2]], ((2, 3, 4),)),
    Case("int_next_to_array", lambda x: x[:, [[0], [1]], -1], ((4, 2, 3),)),
    Case("ellipsis_array", lambda x: x[..., [1, 0]], ((2, 3, 2),)),
    Case("none_array", lambda x: x[None, [1, 0], np.newaxis], ((2, 3),)),
    Case("mask_1d", lambda x: x[MASK3], ((3,),)),
    Case("mask_full", lambda x: x[MASK34], ((3, 4),)),
    Case("mask_rows_slice", lambda x: x[MASK3, 1:3], ((3, 4),)),
    Case("mask_and_array", lambda x: x[MASK3, [0, 3]], ((3, 4),)),
    Case("mask_all_false", lambda x: x[np.zeros(3, bool)], ((3, 2),)),
    Case("mask_2d_after_slice", lambda x: x[1:, MASK34[:2, :3]], ((3, 2, 3),)),
    Case("bool_scalar", lambda x: x[True], ((2, 3),)),
    Case("bool_scalar_false", lambda x: x[..., False], ((2, 3),)),
    Case("scalar_input_bool", lambda x: x[True], ((),)),
    Case("take_flat", lambda x: np.take(x, [[5, 0], [-1, 5]]), ((2, 3),)),
    Case("take_axis", lambda x: np.take(x, [2, 0, 2], axis=1), ((2, 3, 2),)),
    Case("take_neg_axis", lambda x: np.take(x, 1, axis=-1), ((2, 3),)),
    Case("take_wrap", lambda x: np.take(x, [4, -5, 1], axis=0, mode="wrap"), ((3, 2),)),
    Case("take_clip", lambda x: np.take(x, [7, -2, 1], mode="clip"), ((3,),)),
    Case("take_method", lambda x: x.take([1, 1, 0], axis=0), ((2, 2),)),
    Case("take_along_axis", lambda x: np.take_along_axis(x, np.array([[2, 0, 0], [1, 1, 2]]), 1),
         ((2, 3),)),
    Case("take_along_axis0", lambda x: np.take_along_axis(x, np.array([[1, 0, 1]]), axis=0),
         ((2, 3),)),
    Case("take_along_none", lambda x: np.take_along_axis(x, np.array([5, 0, 5]), None), ((2, 3),)),
    Case("compress_axis", lambda x: np.compress([True, False, True], x, axis=1), ((2, 3),)),
    Case("compress_flat", lambda x: np.compress([False, True, True, False, True], x), ((2, 3),)),
    Case("compress_method", lambda x: x.compress([False, True], axis=0), ((2, 3),)),
    # -- writing -------------------------------------------------------------------------------
    Case("set_repeats_last_wins", _assign([0, 2, 0, 0], lambda x: x[1:5]), ((5,),)),
    Case("set_keep_rest", _write_into([3, 1, 3], lambda x: 2 * x[:3]), ((4,),)),
    Case("set_broadcast_value", _write_into(([0, 2], slice(None)), lambda x: x[1]), ((3, 2),)),
    Case("set_mask", _write_into(MASK34, lambda x: x[0]), ((3, 4),)),
    Case("set_mask_scalar_value", _write_into(MASK3, lambda x: x[1]), ((3,),)),
    Case("set_zero_constant", _write_into([0, 2], lambda x: 0.0), ((3,),)),
    Case("set_2d_repeats", _write_into(([1, 1, 0], [0, 0, 1]), lambda x: x[2, :3]), ((3, 3),)),
    Case("set_bool_scalar", _write_into((Ellipsis, True), lambda x: x[::-1, None]), ((3,),)),
    Case("set_through_view", lambda x: _through_view(x), ((5,),)),
    Case("iadd_repeats_once", _iadd([0, 0, 2, 0], lambda x: x[:4]), ((4,),)),
    Case("iadd_split_arrays", _iadd(([0, 1, 1], slice(None), [2, 0, 2]), lambda x: x[0, :, :3].T),
         ((2, 3, 3),)),
    Case("add_at_repeats", _add_at([0, 0, 2, 0], lambda x: x[:4]), ((4,),)),
    Case("add_at_tuple", _add_at(([1, 1], slice(None)), lambda x: x[0]), ((2, 3),)),
    Case("put_along_axis", _put_along(np.array([[1, 1], [0, 2]]), 1, lambda x: x[:, :2]),
         ((2, 3),)),
    Case("put_along_none", _put_along(np.array([4, 0, 4]), None, lambda x: x[0]), ((2, 3),)),
    # -- selection -----------------------------------------------------------------------------
    Case("select", lambda x, y: np.select([MASK34, MASK3[:, None]], [x, y]), ((3, 4), (3, 1))),
    Case("select_default", lambda x, y: np.select([MASK3], [x], default=y), ((2, 3), (3,))),
    Case("select_zero_const", lambda x: np.select([MASK3, ~MASK3], [0, x]), ((3,),)),
    Case("choose", lambda x, y: np.choose([[0, 1, 1], [1, 0, 0]], [x, y]), ((2, 3), (3,))),
    Case("choose_wrap", lambda x, y: np.choose([0, 3, -1], [x, y], mode="wrap"), ((3,), (3,))),
    Case("choose_clip", lambda x, y: np.choose([5, 0, -1], [x, y], mode="clip"), ((3,), (3,))),
    Case("choose_rows_of_tracer", lambda x: np.choose([1, 0, 1], x), ((2, 3),)),
]


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_table(param):
    check_all(*param)


# -- properties ------------------------------------------------------------------------------
DTYPES = st.sampled_from([np.float64, np.complex128, np.float32])
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def shapes(draw, max_dims=3):
    return tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=max_dims)))


@st.composite
def index_entry(draw, dim, index_shape):
    kind = draw(st.sampled_from(["slice", "int", "array", "array", "mask"]))
    if kind == "slice" or (kind == "int" and dim == 0):
        bound = st.one_of(st.none(), st.integers(-dim - 1, dim + 1))
        return slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, -1, -2])))
    if kind == "int":
        return draw(st.integers(-dim, dim - 1))
    if kind == "mask":
        return np.array(draw(st.lists(st.booleans(), min_size=dim, max_size=dim)), bool)
    if dim == 0:
        return np.zeros(index_shape, np.intp) if 0 in index_shape else np.zeros(0, np.intp)
    values = draw(st.lists(st.integers(-dim, dim - 1), min_size=int(np.prod(index_shape)),
                           max_size=int(np.prod(index_shape))))
    return np.array(values, np.intp).reshape(index_shape)


@st.composite
def advanced_indices(draw):
    shape = draw(shapes())
    index_shape = draw(st.sampled_from([(3,), (2, 2), (1,), ()]))
    entries = [draw(index_entry(d, index_shape)) for d in shape]
    if len(shape) >= 2 and draw(st.booleans()):  # a 2-d mask over two neighbouring axes
        k = draw(st.integers(0, len(shape) - 2))
        cells = shape[k] * shape[k + 1]
        mask = draw(st.lists(st.booleans(), min_size=cells, max_size=cells))
        entries[k:k + 2] = [np.array(mask, bool).reshape(shape[k], shape[k + 1])]
    entries = entries[:draw(st.integers(1, len(entries)))]
    if draw(st.booleans()):
        entries.insert(draw(st.integers(0, len(entries))), None)
    if draw(st.booleans()):
        entries.insert(draw(st.integers(0, len(entries))), Ellipsis)
    if not any(isinstance(e, np.ndarray) for e in entries):
        entries[0] = np.array([0, 0]) if shape[0] else np.zeros(0, np.intp)
    return shape, tuple(entries)


def _numpy_outcome(fun, x):
    try:
        return fun(x), None
    except (IndexError, ValueError) as exc:
        return None, type(exc)


def _check_against_numpy(fun, shape, dtype):
    x = random_args((linop.ShapeDtype(shape, dtype),))[0]
    want, error = _numpy_outcome(fun, x)
    if error is not None:
        with pytest.raises(error):
            linop.trace(fun, linop.ShapeDtype(shape, dtype))
        return
    program = linop.trace(fun, linop.ShapeDtype(shape, dtype))
    rtol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    assert_tree_close(program(x), want, rtol)
    check_transpose(fun, linop.ShapeDtype(shape, dtype))


@SETTINGS
@given(advanced_indices(), DTYPES)
def test_getitem_property(shape_index, dtype):
    shape, index = shape_index
    _check_against_numpy(lambda x: x[index], shape, dtype)


@SETTINGS
@given(advanced_indices(), DTYPES, st.sampled_from(["set", "iadd"]))
def test_setitem_property(shape_index, dtype, how):
    shape, index = shape_index
    probe = np.zeros(shape)
    try:
        out_shape = probe[index].shape
    except IndexError:
        out_shape = ()

    def f(x):
        y = -x
        v = np.reshape(np.arange(1, 1 + int(np.prod(out_shape))), out_shape) * x.ravel()[0] \
            if x.size else np.zeros(out_shape, x.dtype)
        if how == "set":
            y[index] = v
        else:
            y[index] += v
        return y

    _check_against_numpy(f, shape, dtype)


@SETTINGS
@given(st.integers(1, 6), st.lists(st.integers(-6, 5), max_size=8), DTYPES)
def test_repeated_indices_property(n, raw, dtype):
    idx = np.array([i % n for i in raw], np.intp)
    m = len(idx)

    def set_last_wins(x):
        y = np.zeros_like(x, shape=(n,))
        y[idx] = x[:m] if m else 0
        return y

    def add_at(x):
        y = np.zeros_like(x, shape=(n,))
        np.add.at(y, idx, x[:m])
        return y

    for fun in (set_last_wins, add_at):
        _check_against_numpy(fun, (max(m, 1),), dtype)


@SETTINGS
@given(shapes(max_dims=3), st.data(), DTYPES)
def test_mask_write_property(shape, data, dtype):
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=int(np.prod(shape)),
                                       max_size=int(np.prod(shape)))), bool).reshape(shape)

    def f(x):
        y = 3 * x
        y[mask] = x[mask][::-1]
        return y

    _check_against_numpy(f, shape, dtype)


# -- the primitives ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL)
def test_scatter_add_matches_add_at_and_keeps_dtype(dtype):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 5, size=(3, 4))
    u = random_args((linop.ShapeDtype((2, 3, 4, 3), dtype),))[0]
    got = scatter_add(u, idx, 1, 5)
    want = np.zeros((2, 5, 3), dtype)
    for i in range(3):
        for j in range(4):
            want[:, idx[i, j]] += u[:, i, j]
    assert got.dtype == np.dtype(dtype)
    assert_tree_close(got, want, 1e-5 if dtype in (np.float32, np.complex64) else 1e-12)
    unique = scatter_add(u[:, 0, :2], [4, 1], 1, 5)
    assert unique.dtype == np.dtype(dtype) and np.array_equal(unique[:, [4, 1]], u[:, 0, :2])


def test_batch_rules_match_a_loop():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5))
    idx = np.array([[4, 0], [4, 2]])
    batched = gather_p.batch(3, x, idx=linop.ir.Const(idx), axis=1)
    assert np.array_equal(batched, np.stack([np.take(b, idx, axis=1) for b in x]))
    u = rng.standard_normal((3, 4, 2, 2))
    eqn_params = dict(idx=linop.ir.Const(idx), axis=1, size=5, flat=None, unique=False)
    batched = scatter_add_p.batch(3, u, **eqn_params)
    assert_tree_close(batched, np.stack([scatter_add(b, idx, 1, 5) for b in u]), 1e-12)


def test_transpose_is_one_scatter_add_and_double_transpose_is_gather():
    idx = np.random.default_rng(2).integers(0, 10, 30)
    program = linop.trace(lambda x: x[idx], np.zeros(10))
    once = linop.transpose(program)
    assert [e.prim.name for e in once.eqns] == ["scatter_add"]
    twice = linop.transpose(once)
    assert [e.prim.name for e in twice.eqns] == ["gather"]
    x = np.arange(10.0)
    assert np.array_equal(twice(x), x[idx])


# -- errors ------------------------------------------------------------------------------------
def test_traced_index_is_nonlinear():
    with pytest.raises(linop.NonLinearError, match="test_indexing.py"):
        linop.trace(lambda x, i: x[[i, 0]], np.zeros(3), np.zeros(()))
    with pytest.raises(linop.NonLinearError):
        linop.trace(lambda x: np.take(x, x), np.zeros(3))
    with pytest.raises(linop.NonLinearError):
        linop.trace(lambda x: np.select([x > 0], [x]), np.zeros(3))
    with pytest.raises(linop.NonLinearError):
        linop.trace(lambda x: np.choose(x, [x, x]), np.zeros(3))
    with pytest.raises(linop.NonLinearError):
        linop.trace(lambda x: np.compress(x, x), np.zeros(3))

    def write(x):
        y = np.zeros_like(x)
        y[[x, x]] = 1.0
        return y
    with pytest.raises(linop.NonLinearError):
        linop.trace(write, np.zeros(3))


@pytest.mark.parametrize("fun, error, match", [
    (lambda x: x[[3]], IndexError, "index 3 is out of bounds for axis 0 with size 3"),
    (lambda x: x[[-4]], IndexError, "out of bounds"),
    (lambda x: x[[True, False]], IndexError, "boolean index did not match"),
    (lambda x: x[[0.5]], IndexError, "only integers"),
    (lambda x: x[[0, 1], [0, 1, 2]], IndexError, "too many indices"),
    (lambda x: np.take(x, 5), IndexError, "out of bounds"),
    (lambda x: np.take(x, 0, axis=1), np.exceptions.AxisError, "axis 1"),
    (lambda x: np.choose([2, 0, 0], [x, x]), ValueError, "invalid entry"),
    (lambda x: np.select([MASK3], [x, x]), ValueError, "same length"),
    (lambda x: np.take_along_axis(x, np.array([[0]]), 0), ValueError, "same number of dimensions"),
])
def test_numpy_errors(fun, error, match):
    with pytest.raises(error, match=match):
        fun(np.zeros(3))
    with pytest.raises(error, match=match):
        linop.trace(fun, np.zeros(3))


def test_broadcast_mismatch_error():
    fun = lambda x: x[[0, 1], [0, 1, 2]]  # noqa: E731
    with pytest.raises(IndexError, match="shape mismatch"):
        linop.trace(fun, np.zeros((3, 3)))


def test_affine_constants_are_refused():
    with pytest.raises(linop.AffineError):
        linop.trace(lambda x: np.select([MASK3], [x], default=1.0), np.zeros(3))
    with pytest.raises(linop.AffineError):
        linop.trace(lambda x: np.choose([0, 1, 1], [x, 2.0]), np.zeros(3))
    with pytest.raises(linop.AffineError):
        linop.trace(_write_into([0], lambda x: 1.0), np.zeros(3))
    # a non-zero default that is never selected does not matter
    linop.trace(lambda x: np.select([np.ones(3, bool)], [x], default=1.0), np.zeros(3))


def test_add_at_needs_a_traced_target_and_broadcastable_values():
    with pytest.raises(linop.ArrayAssignmentError):
        linop.trace(lambda x: np.add.at(np.zeros(3), [0], x[0]), np.zeros(3))
    with pytest.raises(ValueError, match="not broadcastable"):
        linop.trace(_add_at([0, 1], lambda x: x[None, :2]), np.zeros(3))


def test_add_at_returns_none_and_updates_in_place():
    def f(x):
        y = x.copy()
        assert np.add.at(y, [0, 0], x[:2]) is None
        return y
    assert np.allclose(linop.trace(f, np.zeros(3))(np.array([1.0, 2, 3])), [4, 2, 3])


def test_vmap_of_gather_and_of_its_transpose_equal_a_loop():
    def f(x):
        return x[:, [0, 2, 2]]
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((4, 2, 3))
    assert_tree_close(linop.vmap(f)(xs), np.stack([f(x) for x in xs]), 1e-12)
    f_t = linop.linear_transpose(f, linop.ShapeDtype((2, 3), np.float64))
    cts = rng.standard_normal((4, 2, 3))
    got = linop.vmap(lambda c: f_t(c)[0])(cts)
    assert_tree_close(got, np.stack([f_t(c)[0] for c in cts]), 1e-12)
