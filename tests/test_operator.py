"""``linop.aslinearoperator``: SciPy operators from traced functions, their algebra and checks."""
from __future__ import annotations

import pickle
import re
import threading

import numpy as np
import pytest
from scipy.sparse.linalg import LinearOperator, aslinearoperator as scipy_aslinop

import linop
from linop.pytree import tree_flatten
from linop.testing import DotTestError, dense_matrix
from test_vmap import case_params, param_id

RNG = np.random.default_rng(11)


def _single_leaf(case):
    return case.c_linear and len(case.specs) == 1 and isinstance(case.specs[0], tuple) \
        and all(isinstance(d, int) for d in case.specs[0])


def complex_matrix(fun, aval):
    """The matrix of ``fun`` (one input leaf) from basis vectors, with plain NumPy."""
    cols = []
    for k in range(aval.size):
        e = np.zeros(aval.size, aval.dtype)
        e[k] = 1
        leaves, _ = tree_flatten(fun(e.reshape(aval.shape)))
        cols.append(np.concatenate([np.ravel(l) for l in leaves]) if leaves else np.zeros(0))
    if not cols:
        out = linop.trace(fun, aval).out_avals
        return np.zeros((sum(a.size for a in out), 0))
    return np.stack(cols, axis=1)


def _uses_single(program):
    dtypes = [v.aval.dtype for v in program.invars] + [e.out.aval.dtype for e in program.eqns]
    return any(d in (np.float32, np.complex64) for d in dtypes)


def _close(got, want, single):
    scale = max(np.linalg.norm(want), 1e-30)
    assert got.shape == want.shape
    assert np.linalg.norm(got - want) / scale <= (1e-4 if single else 1e-10)


def _random(shape, dtype):
    x = RNG.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * RNG.standard_normal(shape)
    return x.astype(dtype)


@pytest.mark.parametrize("param", case_params(_single_leaf), ids=param_id)
def test_operator_on_table_row(param):
    _, case, dtype = param
    (aval,) = case.primals(dtype)
    try:
        A = linop.aslinearoperator(case.fun, aval)
    except linop.RealLinearError:
        # The scan found real-linear steps: the row must really not be complex-linear
        # (then the table's c_linear flag is wrong, and refusing is right).
        x = _random(aval.shape, aval.dtype)
        if np.allclose(case.fun(1j * x), 1j * case.fun(x), rtol=1e-4, atol=1e-5):
            pytest.skip("conservative: refused a complex-linear function")
        _check_real_coords(case, aval, dtype)
        return
    M = complex_matrix(case.fun, aval)
    assert A.shape == M.shape
    single = _uses_single(A.program)
    x, y = _random(A.shape[1], A.dtype), _random(A.shape[0], A.dtype)
    X, Y = _random((A.shape[1], 3), A.dtype), _random((A.shape[0], 3), A.dtype)
    _close(A.matvec(x), M @ x, single)
    _close(A.rmatvec(y), M.conj().T @ y, single)
    _close(A.matmat(X), M @ X, single)
    _close(A.rmatmat(Y), M.conj().T @ Y, single)
    # a complex vector on a real operator: the complex-linear extension
    xc = _random(A.shape[1], np.complex128)
    _close(A.matvec(xc), M @ xc, single)


@pytest.mark.parametrize("param", case_params(lambda c: not c.c_linear and len(c.specs) == 1),
                         ids=param_id)
def test_real_linear_rows(param):
    _, case, dtype = param
    (aval,) = case.primals(dtype)
    program = linop.trace(case.fun, aval)
    boundary_complex = any(np.issubdtype(a.dtype, np.complexfloating)
                           for a in program.in_avals + program.out_avals)
    if boundary_complex and linop.operator.real_linear_steps(program):
        with pytest.raises(linop.RealLinearError, match="real_coords=True"):
            linop.aslinearoperator(case.fun, aval)
    _check_real_coords(case, aval, dtype)


def _check_real_coords(case, aval, dtype):
    A = linop.aslinearoperator(case.fun, aval, real_coords=True)
    assert not np.issubdtype(A.dtype, np.complexfloating)
    M = dense_matrix(case.fun, aval)
    single = dtype in (np.float32, np.complex64)
    _close(A.todense().astype(np.float64), M, single)
    _close(A.H.todense().astype(np.float64), M.T, single)


# -- layouts and dtypes -------------------------------------------------------------------------
def test_pytree_layout_is_tree_flatten_order():
    def f(d):
        return {"y": d["b"] * 2, "x": d["a"][::-1]}
    A = linop.aslinearoperator(f, {"b": np.zeros(2), "a": np.zeros(3)})
    x = A.ravel_input({"b": np.array([1.0, 2.0]), "a": np.array([3.0, 4.0, 5.0])})
    np.testing.assert_allclose(x, [3, 4, 5, 1, 2])  # dict keys sorted: a then b
    y = A.matvec(x)
    np.testing.assert_allclose(y, [5, 4, 3, 2, 4])
    out = A.unravel_output(y)
    np.testing.assert_allclose(out["x"], [5, 4, 3])
    got = A.apply_adjoint({"x": np.ones(3), "y": np.ones(2)})
    np.testing.assert_allclose(got["a"], [1, 1, 1])
    np.testing.assert_allclose(got["b"], [2, 2])
    np.testing.assert_allclose(A.apply({"a": np.ones(3), "b": np.ones(2)})["y"], [2, 2])


def test_rfft_of_real_input_is_a_complex_operator():
    pytest.importorskip("linop.numpy_api.fft")
    try:
        A = linop.aslinearoperator(np.fft.rfft, np.zeros(8))
    except linop.UnsupportedFunctionError:
        pytest.skip("np.fft.rfft is not traced yet")
    assert A.dtype == np.complex128 and A.shape == (5, 8)
    M = np.fft.rfft(np.eye(8), axis=0)
    _close(A.todense(), M, False)
    _close(A.H.todense(), M.conj().T, False)
    assert linop.dottest(A) < 1e-12


def test_real_boundary_with_complex_steps_is_real():
    A = linop.aslinearoperator(lambda x: (x * (1 + 2j)).real - x[::-1], np.zeros(3))
    assert A.dtype == np.float64
    M = np.eye(3) - np.eye(3)[::-1]
    _close(A.todense(), M, False)
    _close(A.H.todense(), M.T, False)


def test_real_linear_complex_function_refused_with_clear_error():
    with pytest.raises(linop.RealLinearError, match=r"real_coords=True.*"):
        linop.aslinearoperator(lambda z: np.conj(z) + z, np.zeros(3, complex))
    A = linop.aslinearoperator(lambda z: np.conj(z) + z, np.zeros(3, complex), real_coords=True)
    assert A.shape == (6, 6) and A.dtype == np.float64
    np.testing.assert_allclose(A.todense(), np.diag([2, 2, 2, 0, 0, 0]))


def test_mixed_precision_leaves():
    f = lambda a, b: (a * 2, b[:2])
    A = linop.aslinearoperator(f, np.zeros(2, np.float32), np.zeros(3, np.complex64))
    assert A.dtype == np.complex64 and A.shape == (4, 5)
    assert linop.dottest(A) < 1e-5


def test_programs_inspectable():
    A = linop.aslinearoperator(lambda x: x[1:] - x[:-1], np.zeros(4))
    assert isinstance(A, LinearOperator) and isinstance(A.program, linop.Program)
    assert "sub" in str(A.program) and "pad" in str(A.adjoint_program)
    assert A.transposed_program == linop.transpose(A.program)


# -- the adjoint comes from the transposed program -----------------------------------------------
def test_rmatvec_never_runs_the_forward_function():
    calls = []

    def f(x):
        calls.append(1)
        return x[::2] * 3
    A = linop.aslinearoperator(f, np.zeros(6))
    n = len(calls)
    A.rmatvec(np.ones(3))
    A.rmatmat(np.ones((3, 2)))
    A.H.matvec(np.ones(3))
    assert len(calls) == n


# -- algebra ------------------------------------------------------------------------------------
D4 = linop.aslinearoperator(lambda x: x[1:] - x[:-1], np.zeros(4))
MD4 = D4.todense()
C34 = RNG.standard_normal((3, 4)) + 1j * RNG.standard_normal((3, 4))
C = linop.aslinearoperator(lambda x: C34 @ x, np.zeros(4, complex))


@pytest.mark.parametrize("name,op,want", [
    ("H", lambda: D4.H, MD4.T),
    ("T", lambda: C.T, C34.T),
    ("adjoint", lambda: C.adjoint(), C34.conj().T),
    ("transpose", lambda: C.transpose(), C34.T),
    ("HH", lambda: C.H.H, C34),
    ("product", lambda: D4 @ D4.H, MD4 @ MD4.T),
    ("mixed_product", lambda: C.H @ D4, C34.conj().T @ MD4),
    ("sum", lambda: D4 + 2 * D4, 3 * MD4),
    ("sub", lambda: C - D4, C34 - MD4),
    ("complex_scale", lambda: (1 - 2j) * D4, (1 - 2j) * MD4),
    ("div", lambda: D4 / 4, MD4 / 4),
    ("neg", lambda: -C, -C34),
    ("power", lambda: (D4.H @ D4) ** 3, np.linalg.matrix_power(MD4.T @ MD4, 3)),
    ("power0", lambda: (D4.H @ D4) ** 0, np.eye(4)),
    ("normal", lambda: C.normal(), C34.conj().T @ C34),
    ("vstack", lambda: linop.vstack([C, 0.5 * D4]), np.vstack([C34, 0.5 * MD4])),
    ("hstack", lambda: linop.hstack([C, D4]), np.hstack([C34, MD4])),
    ("block_diag", lambda: linop.block_diag([C, D4.H]),
     np.block([[C34, np.zeros((3, 3))], [np.zeros((4, 4)), MD4.T]])),
    ("block", lambda: linop.block([[D4, None], [np.eye(4), D4.H]]),
     np.block([[MD4, np.zeros((3, 3))], [np.eye(4), MD4.T]])),
])
def test_traced_algebra_is_one_traced_operator(name, op, want):
    A = op()
    assert isinstance(A, linop.TracedLinearOperator)
    _close(A.todense(), want, False)
    _close(A.H.todense(), want.conj().T, False)
    assert linop.dottest(A) < 1e-12


def test_algebra_with_plain_scipy_operators_still_works():
    S = scipy_aslinop(np.eye(3) * 2)
    x = RNG.standard_normal(4)
    np.testing.assert_allclose((S @ D4).matvec(x), 2 * (MD4 @ x))
    np.testing.assert_allclose((D4 + S @ D4).matvec(x), 3 * (MD4 @ x))
    np.testing.assert_allclose((D4 @ x), MD4 @ x)


def test_regularised_stack_solves_with_lsqr():
    from scipy.sparse.linalg import lsqr
    A = linop.aslinearoperator(lambda x: x[::2] + x[1::2], np.zeros(8))
    lam = 0.1
    K = linop.vstack([A, lam * D4 @ linop.aslinearoperator(lambda x: x[:4], np.zeros(8))])
    b = np.concatenate([RNG.standard_normal(4), np.zeros(3)])
    x = lsqr(K, b, atol=1e-14, btol=1e-14, iter_lim=500)[0]
    Kd = K.todense()
    np.testing.assert_allclose(x, np.linalg.lstsq(Kd, b, rcond=None)[0], atol=1e-8)


# -- dottest and todense ----------------------------------------------------------------------
def test_dottest_detects_a_wrong_adjoint():
    M = RNG.standard_normal((3, 4))
    wrong = LinearOperator((3, 4), matvec=lambda x: M @ x, rmatvec=lambda y: 2 * M.T @ y,
                           dtype=np.float64)
    with pytest.raises(DotTestError, match="dot test failed"):
        linop.dottest(wrong)
    assert linop.dottest(wrong, raise_error=False) > 0.1
    assert linop.dottest(C) < 1e-12


def test_todense_in_batches():
    A = linop.aslinearoperator(lambda x: x[::-1] * 2, np.zeros(10))
    np.testing.assert_allclose(linop.todense(A, batch_size=3), 2 * np.eye(10)[::-1])
    np.testing.assert_allclose(A.todense(batch_size=4), 2 * np.eye(10)[::-1])


# -- robustness ---------------------------------------------------------------------------------
def test_pickle_operator_and_programs():
    for A in (D4, C, linop.vstack([C, D4])):
        B = pickle.loads(pickle.dumps(A))
        x, y = _random(A.shape[1], A.dtype), _random(A.shape[0], A.dtype)
        np.testing.assert_allclose(B.matvec(x), A.matvec(x))
        np.testing.assert_allclose(B.rmatvec(y), A.rmatvec(y))
        np.testing.assert_allclose(B.matmat(np.ones((A.shape[1], 2))),
                                   A.matmat(np.ones((A.shape[1], 2))))
        assert pickle.loads(pickle.dumps(A.program)) == A.program


def test_threads_share_one_operator():
    A = linop.aslinearoperator(lambda x: 3 * x[2:] - x[:-2] + x[1:-1], np.zeros(50))
    M = A.todense()
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(200):
            x, y = rng.standard_normal(50), rng.standard_normal(48)
            X = rng.standard_normal((50, 1 + seed % 3))
            if not (np.allclose(A.matvec(x), M @ x) and np.allclose(A.rmatvec(y), M.T @ y)
                    and np.allclose(A.matmat(X), M @ X)):
                errors.append(seed)
    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_wrong_vectors_get_clear_errors():
    with pytest.raises(ValueError, match=r"expects a vector of shape \(4,\) or \(4, 1\), got shape \(5,\)"):
        D4.matvec(np.ones(5))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        D4.rmatvec(np.ones(4))
    with pytest.raises(ValueError, match=r"shape \(4, k\)"):
        D4.matmat(np.ones((3, 2)))
    with pytest.raises(TypeError, match="numeric"):
        D4.matvec(np.array(["a", "b", "c", "d"]))
    with pytest.raises(TypeError, match="structure"):
        D4.apply_adjoint((np.ones(3),))


def test_columns_and_integer_vectors():
    y = D4.matvec(np.arange(4).reshape(4, 1))
    assert y.shape == (3, 1) and y.dtype == np.float64
    np.testing.assert_allclose(y[:, 0], [1, 1, 1])
    np.testing.assert_allclose(D4 @ np.ones((4, 2)), np.zeros((3, 2)))


def test_matrix_uint_and_scalar_inputs_like_scipy():
    A = linop.aslinearoperator(lambda x: np.outer(x, [1.0, 2.0]).ravel(), np.zeros(3))
    col = np.matrix([[1.0], [2.0], [3.0]])
    y = A.matvec(col)
    assert isinstance(y, np.matrix) and y.shape == (6, 1)
    np.testing.assert_allclose(np.asarray(y).ravel(), np.outer([1, 2, 3], [1, 2]).ravel())
    np.testing.assert_allclose(A.matvec(np.array([1, 2, 3], np.uint8)), A.matvec(np.array([1.0, 2, 3])))
    np.testing.assert_allclose((A * np.uint64(3)).matvec(np.ones(3)), 3 * A.matvec(np.ones(3)))
    np.testing.assert_allclose((A * 10**30).matvec(np.ones(3)), 1e30 * A.matvec(np.ones(3)))


def test_unravel_output_checks_the_length():
    A = linop.aslinearoperator(lambda x: {"a": x[:2], "b": 2 * x}, np.zeros(2))
    with pytest.raises(ValueError, match="length 4"):
        A.unravel_output(np.zeros(7))
    assert A.unravel_output(np.arange(4.0))["b"].tolist() == [2.0, 3.0]


def test_dottest_tolerance_follows_the_least_precise_step():
    psf = np.array([0.25, 0.5, 0.25])
    A = linop.aslinearoperator(lambda x: np.convolve(x, psf, "same"), np.zeros(8, np.float32))
    assert A.dtype == np.float64  # float32 input, float64 output
    assert linop.dottest(A) < 1e-4
    H = linop.aslinearoperator(lambda x: 2 * x[::-1], np.zeros(5, np.float16))
    assert linop.dottest(H) < 5e-2


# -- layouts of adjoints, unravel_input, shaped-array errors --------------------------------------
def test_unravel_input_maps_a_flat_solution_back():
    from scipy.sparse.linalg import lsqr
    f = lambda d: {"y": d["b"] * 2, "x": d["a"][::-1]}  # noqa: E731
    A = linop.aslinearoperator(f, {"b": np.zeros(2), "a": np.zeros(3)})
    args = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([4.0, 5.0])}
    back = A.unravel_input(A.ravel_input(args))
    assert back.keys() == args.keys() and all(np.array_equal(back[k], args[k]) for k in args)
    sol = A.unravel_input(lsqr(A, A.matvec(A.ravel_input(args)), atol=1e-14, btol=1e-14)[0])
    np.testing.assert_allclose(sol["a"], args["a"])
    B = linop.aslinearoperator(lambda a, b: a[:2] + b, np.zeros(3, np.float32), np.zeros(2))
    a, b = B.unravel_input(np.arange(5.0))
    assert a.dtype == np.float64 and b.dtype == np.float64  # the vector's precision is kept
    with pytest.raises(ValueError, match="length 5"):
        B.unravel_input(np.zeros(4))


def test_adjoint_of_a_plain_operator_has_the_pytree_layout():
    f = lambda a, b: (a[::2] + b, 2 * a)  # noqa: E731
    A = linop.aslinearoperator(f, np.zeros(4), np.zeros(2))
    y = (RNG.standard_normal(2), RNG.standard_normal(4))
    a, b = A.H.apply(y)
    want_a, want_b = A.apply_adjoint(y)
    np.testing.assert_allclose(a, want_a)
    np.testing.assert_allclose(b, want_b)
    x = (RNG.standard_normal(4), RNG.standard_normal(2))
    out = A.H.apply_adjoint(x)
    for got, want in zip(out, A.apply(*x)):
        np.testing.assert_allclose(got, want)
    assert A.H.ravel_input(y).shape == (6,) and isinstance(A.H.unravel_output(np.zeros(6)), tuple)
    np.testing.assert_allclose(A.H.H.apply(*x)[1], 2 * x[0])
    Cm = linop.aslinearoperator(lambda z: C34 @ z, np.zeros(4, complex))
    yc = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)
    np.testing.assert_allclose(Cm.H.apply(yc), C34.conj().T @ yc)
    with pytest.raises(TypeError, match="composed from others"):
        (Cm @ Cm.H).apply(yc)


def test_product_with_an_input_shaped_array_points_to_apply():
    A = linop.aslinearoperator(lambda img: img[1:] - img[:-1], np.zeros((4, 5)))
    img = RNG.standard_normal((4, 5))
    with pytest.raises(ValueError, match=r"shape of the function's input.*A\.apply\(x\)"):
        A @ img
    with pytest.raises(ValueError, match=r"shape of the function's input.*A\.apply\(x\)"):
        A.matvec(img)
    V = linop.aslinearoperator(lambda v: v[1:], np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"SciPy's rule.*A\.apply\(x\)"):
        V @ np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 2\); ravel it first"):
        D4 @ np.zeros((2, 2, 2))
    np.testing.assert_allclose(A @ img.ravel(), A.apply(img).ravel())
    np.testing.assert_allclose(A @ np.ones((20, 2)), A.matmat(np.ones((20, 2))))  # SciPy's 2-d rule


@pytest.mark.parametrize("batch_size,error,match", [
    (0, ValueError, "positive integer.*got 0"), (-1, ValueError, "positive integer.*got -1"),
    (2.5, TypeError, "positive integer.*got 2.5"), (True, TypeError, "positive integer.*got True"),
    ("8", TypeError, "positive integer"),
])
def test_todense_validates_batch_size(batch_size, error, match):
    with pytest.raises(error, match=r"todense at .*test_operator.py:\d+: batch_size"):
        linop.todense(D4, batch_size=batch_size)
    with pytest.raises(error, match=match):
        D4.todense(batch_size)


def test_todense_batch_size_numpy_integer():
    np.testing.assert_allclose(linop.todense(D4, np.int64(3)), MD4)


def test_shape_errors_name_the_users_line_and_what_was_written():
    A = linop.aslinearoperator(lambda img: img[1:] - img[:-1], np.zeros((4, 5)))
    for call, what in ((lambda: A @ np.zeros((4, 5)), "A @ x"), (lambda: A.dot(np.zeros(7)), "A @ x"),
                       (lambda: A.matvec(np.zeros((4, 5))), "matvec"),
                       (lambda: A.matmat(np.zeros((4, 5))), "matmat")):
        with pytest.raises(ValueError, match=rf"^{re.escape(what)} at .*test_operator.py:\d+: "):
            call()


def test_adjoint_product_with_an_output_shaped_array_points_to_apply():
    A = linop.aslinearoperator(lambda img: img[:, 1:] - img[:, :-1], np.zeros((4, 5)))
    y = RNG.standard_normal((4, 4))
    with pytest.raises(ValueError, match=r"shape of the function's output.*A\.H\.apply\(y\)"):
        A.H @ y
    np.testing.assert_allclose(A.H.apply(y), A.apply_adjoint(y))


def test_aslinearoperator_of_a_function_needs_example_inputs():
    with pytest.raises(TypeError, match=r"aslinearoperator at .*test_operator.py:\d+: example "
                                        r"inputs are needed.*np\.zeros\(n\)"):
        linop.aslinearoperator(lambda x: x)
    assert linop.aslinearoperator(D4) is D4


def test_transposed_program_and_adjoint_are_made_once_and_pickle():
    from unittest import mock

    A = linop.aslinearoperator(lambda x, y: x[1:] * 2.0 + y, np.zeros(4), np.zeros(3))
    with mock.patch("linop.operator.traced.transpose", wraps=linop.transpose) as spy:
        results = []
        threads = [threading.Thread(target=lambda: results.append(A.transposed_program))
                   for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert A.transposed_program is results[0]
        assert spy.call_count == 1
    assert all(r is results[0] for r in results)
    assert results[0] == linop.transpose(A.program)
    assert A.H is A.H and A.H.H is A
    assert A.H.transposed_program is A.H.transposed_program
    B = pickle.loads(pickle.dumps(A))
    assert B.transposed_program == A.transposed_program
    assert B.H.H is B and B.structural_key() == A.structural_key()
    x = np.arange(7.0)
    np.testing.assert_array_equal(B.H.matvec(np.ones(3)), A.rmatvec(np.ones(3)))
    np.testing.assert_array_equal(B.matvec(x), A.matvec(x))
