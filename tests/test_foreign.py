"""Foreign linear operators (SciPy, PyLops) inside traced models, blocks and algebra; sparse solves."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator as scipy_aslinop

import linop
import linop.testing
from linop.scipy.sparse.linalg import factorized, splu, spsolve

RNG = np.random.default_rng(5)
M = RNG.standard_normal((5, 8))
MC = M + 1j * RNG.standard_normal((5, 8))
SP = sp.random(5, 8, density=0.4, random_state=3, format="csr")
SQ = (sp.random(6, 6, density=0.4, random_state=4) + 3 * sp.eye(6)).tocsc()
SQC = (SQ + 1j * sp.random(6, 6, density=0.3, random_state=6)).tocsc()


class Subclassed(LinearOperator):
    """A user-written operator: only the private hooks SciPy documents."""

    def __init__(self, A):
        super().__init__(A.dtype, A.shape)
        self.A = A
        self.calls = 0

    def _matvec(self, x):
        self.calls += 1
        return self.A @ x

    def _rmatvec(self, y):
        return self.A.conj().T @ y


def custom(A):
    return LinearOperator(A.shape, matvec=lambda x: A @ x, rmatvec=lambda y: A.conj().T @ y,
                          matmat=lambda X: A @ X, rmatmat=lambda Y: A.conj().T @ Y, dtype=A.dtype)


def pylops_op(A):
    pylops = pytest.importorskip("pylops")
    return pylops.MatrixMult(A, dtype=A.dtype)


# name, operator factory, its dense matrix
OPERATORS = [
    ("scipy_dense", lambda: scipy_aslinop(M), M),
    ("scipy_sparse", lambda: scipy_aslinop(SP), SP.toarray()),
    ("scipy_custom", lambda: custom(M), M),
    ("scipy_custom_complex", lambda: custom(MC), MC),
    ("subclass", lambda: Subclassed(M), M),
    ("subclass_complex", lambda: Subclassed(MC), MC),
    ("scipy_composite", lambda: 2 * custom(M) + scipy_aslinop(SP), 2 * M + SP.toarray()),
    ("scipy_adjoint", lambda: custom(MC.conj().T).H, MC),
    ("scipy_transpose", lambda: custom(MC.T).T, MC),
    ("scipy_product", lambda: custom(MC) @ scipy_aslinop(np.eye(8)) @ Subclassed(np.eye(8)), MC),
    ("traced_in_scipy", lambda: scipy_aslinop(2 * np.eye(5)) @ linop.aslinearoperator(
        lambda x: M @ x, np.zeros(8)), 2 * M),
    ("pylops", lambda: pylops_op(M), M),
    ("pylops_complex", lambda: pylops_op(MC), MC),
]
OP_IDS = [row[0] for row in OPERATORS]

# how a model applies the operator L to its (8,) input x
APPLICATIONS = [
    ("matmul", lambda L, x: L @ x),
    ("dot", lambda L, x: L.dot(x)),
    ("matvec", lambda L, x: L.matvec(x)),
    ("mul", lambda L, x: L * x),
    ("call", lambda L, x: L(x)),
    ("column", lambda L, x: (L @ x[:, None])[:, 0]),
    ("matmat", lambda L, x: L.matmat(np.stack([x, x], axis=1)) @ np.array([0.5, 0.5])),
]


def _model(L, apply):
    return lambda x: 3 * apply(L, x[::-1])[1:]


def _want(Mat):
    return lambda x: 3 * (Mat @ x[::-1])[1:]


def _is_pylops(L):
    return type(L).__module__.startswith("pylops")


@pytest.mark.parametrize("name,make,Mat", OPERATORS, ids=OP_IDS)
@pytest.mark.parametrize("how,apply", APPLICATIONS, ids=[a[0] for a in APPLICATIONS])
def test_foreign_operator_inside_a_model(name, make, Mat, how, apply):
    L = make()
    if how == "call" and _is_pylops(L):
        pytest.skip("PyLops operators are not callable")
    dtype = np.result_type(Mat.dtype, np.float64)
    fun = _model(L, apply)
    A = linop.aslinearoperator(fun, np.zeros(8, dtype))
    want = linop.testing.dense_matrix(_want(Mat), np.zeros(8, dtype))
    np.testing.assert_allclose(linop.testing.dense_matrix(A.apply, np.zeros(8, dtype)), want,
                               atol=1e-12)
    assert linop.testing.check_transpose(fun, np.zeros(8, dtype)) < 1e-12
    assert linop.dottest(A) < 1e-12


@pytest.mark.parametrize("name,make,Mat", OPERATORS, ids=OP_IDS)
def test_rmatvec_and_x_at_L_inside_a_model(name, make, Mat):
    L = make()
    dtype = np.result_type(Mat.dtype, np.float64)
    cases = [(lambda y: L.rmatvec(y), lambda y: Mat.conj().T @ y, (5,))]
    if not _is_pylops(L):  # PyLops has no x @ L for arrays either
        cases.append((lambda y: y @ L, lambda y: y @ Mat, (5,)))
        cases.append((lambda Y: Y @ L, lambda Y: Y @ Mat, (3, 5)))
    cases.append((lambda Y: L.rmatmat(Y), lambda Y: Mat.conj().T @ Y, (5, 3)))
    for fun, plain, shape in cases:
        x = linop.testing.random_like(linop.ShapeDtype(shape, dtype), RNG)
        np.testing.assert_allclose(linop.trace(fun, x)(x), plain(x), atol=1e-12)
        assert linop.testing.check_transpose(fun, np.zeros(shape, dtype)) < 1e-12


@pytest.mark.parametrize("name,make,Mat", OPERATORS, ids=OP_IDS)
def test_vmap_and_matmat_of_models_with_foreign_operators_equal_loops(name, make, Mat):
    L = make()
    dtype = np.result_type(Mat.dtype, np.float64)
    fun = _model(L, lambda L, x: L @ x)
    X = linop.testing.random_like(linop.ShapeDtype((4, 8), dtype), RNG)
    loop = np.stack([fun(x) for x in X])
    np.testing.assert_allclose(linop.vmap(fun)(X), loop, atol=1e-12)
    A = linop.aslinearoperator(fun, np.zeros(8, dtype))
    np.testing.assert_allclose(A.matmat(X.T), loop.T, atol=1e-12)
    Y = linop.testing.random_like(linop.ShapeDtype((4, 4), dtype), RNG)
    np.testing.assert_allclose(A.rmatmat(Y.T), np.stack([A.rmatvec(y) for y in Y]).T, atol=1e-12)


def test_opaque_step_calls_the_operator_at_run_time_and_its_adjoint_for_the_transpose():
    L = Subclassed(M)
    p = linop.trace(lambda x: L @ x, np.zeros(8))
    assert [e.prim.name for e in p.eqns] == ["linear_operator"]
    assert "operator Subclassed f64[5,8]" in str(p)
    pt = linop.transpose(p)
    assert "mode='T'" in str(pt)
    before = L.calls
    x = RNG.standard_normal(8)
    np.testing.assert_allclose(p(x), M @ x)
    assert L.calls == before + 1
    L.A = 2 * M  # held by reference: the program follows the operator
    np.testing.assert_allclose(p(x), 2 * M @ x)
    assert linop.transpose(pt) == p


@pytest.mark.parametrize("L,prim", [
    (scipy_aslinop(M), "dot"), (scipy_aslinop(M.T).H, "dot"), (scipy_aslinop(SP), "sparse_matmul"),
    (scipy_aslinop(np.eye(5)) @ scipy_aslinop(SP), "sparse_matmul"),
    (2 * scipy_aslinop(M) - scipy_aslinop(M), "dot"),
], ids=["dense", "adjoint", "sparse", "product", "sum"])
def test_known_matrices_become_constants(L, prim):
    p = linop.trace(lambda x: L @ x, np.zeros(8))
    assert prim in str(p) and "linear_operator" not in str(p)
    assert linop.testing.check_transpose(lambda x: L @ x, np.zeros(8)) < 1e-12
    I8 = sp.linalg.LinearOperator((8, 8), matvec=lambda v: v, dtype=np.float64)
    assert "linear_operator" in str(linop.trace(lambda x: I8 @ x, np.zeros(8)))


def test_a_traced_operator_applied_to_a_tracer_inlines_its_programs():
    A = linop.aslinearoperator(lambda x: x[1:] - x[:-1], np.zeros(8))
    for fun in (lambda x: A @ x, lambda x: A.matvec(x), lambda x: A.H @ (A @ x), lambda x: A(x),
                lambda x: (A @ np.stack([x, x], axis=1))[:, 0], lambda x: A.T.rmatvec(x)):
        p = linop.trace(fun, np.zeros(8))
        assert "linear_operator" not in str(p)
        linop.testing.check_transpose(fun, np.zeros(8))
    C = linop.aslinearoperator(lambda x: MC @ x, np.zeros(8, complex))
    linop.testing.check_transpose(lambda x: C.H @ (C @ x), np.zeros(8, complex))
    linop.testing.check_transpose(lambda x: C.T @ (C @ x), np.zeros(8, complex))
    linop.testing.check_transpose(lambda y: y @ C, np.zeros(5, complex))
    # a real operator on complex values: the complex-linear extension
    linop.testing.check_transpose(lambda x: A @ x, np.zeros(8, complex))


# -- blocks and algebra ----------------------------------------------------------------------
D = linop.aslinearoperator(lambda x: x[1:] - x[:-1], np.zeros(8))
MD = D.todense()
BLOCK_OPERANDS = [("traced", lambda: D, MD), ("dense", lambda: M, M), ("sparse", lambda: SP, SP.toarray()),
                  ("scipy", lambda: custom(M), M), ("scipy_complex", lambda: custom(MC), MC),
                  ("pylops", lambda: pylops_op(M), M)]


@pytest.mark.parametrize("name,make,Mat", BLOCK_OPERANDS, ids=[b[0] for b in BLOCK_OPERANDS])
def test_blocks_and_algebra_accept_foreign_operands(name, make, Mat):
    L = make()
    rows = Mat.shape[0]
    cases = [
        (linop.vstack([D, L]), np.vstack([MD, Mat])),
        (linop.hstack([L, linop.aslinearoperator(np.ones((rows, 3)))]),
         np.hstack([Mat, np.ones((rows, 3))])),
        (linop.block_diag([L, D]), np.block([[Mat, np.zeros((rows, 8))],
                                             [np.zeros((7, 8)), MD]])),
        (linop.block([[L, None], [D, D]]), np.block([[Mat, np.zeros((rows, 8))], [MD, MD]])),
        (D.H @ linop.aslinearoperator(lambda x: x[:7], np.zeros(8)) @ D.H @ D, None),
        (D @ linop.aslinearoperator(np.eye(8)), MD),
    ]
    if not isinstance(L, np.ndarray) and not sp.issparse(L):
        cases.append((linop.aslinearoperator(lambda y: 2 * y, np.zeros(rows)) @ L, 2 * Mat))
    cases.append((linop.aslinearoperator(lambda x: x[::-1][:rows], np.zeros(8)) + L,
                  np.eye(8)[::-1][:rows] + Mat))
    for op, want in cases:
        assert isinstance(op, linop.TracedLinearOperator)
        assert linop.dottest(op) < 1e-12
        if want is not None:
            np.testing.assert_allclose(op.todense(), want, atol=1e-12)
            np.testing.assert_allclose(op.H.todense(), want.conj().T, atol=1e-12)


def test_aslinearoperator_of_matrices_and_operators_like_scipy():
    A = linop.aslinearoperator(M)
    assert isinstance(A, linop.TracedLinearOperator) and A.shape == (5, 8)
    np.testing.assert_allclose(A.todense(), M)
    np.testing.assert_allclose(linop.aslinearoperator(SP).H.todense(), SP.toarray().T)
    np.testing.assert_allclose(linop.aslinearoperator(np.asmatrix(M)).todense(), M)
    Ai = linop.aslinearoperator(np.arange(6).reshape(2, 3))
    assert Ai.dtype == np.float64
    S = scipy_aslinop(M)
    assert linop.aslinearoperator(S) is S
    with pytest.raises(TypeError, match="without example arguments"):
        linop.aslinearoperator(M, np.zeros(8))
    with pytest.raises(linop.ForeignOperatorError, match="2-d arrays"):
        linop.aslinearoperator(np.zeros(3))
    with pytest.raises(linop.ForeignOperatorError, match="got str"):
        linop.vstack([D, "x"])


def test_pylops_operators_wrap_and_compose():
    pylops = pytest.importorskip("pylops")
    Dp = pylops.FirstDerivative(8, dtype="float64")
    A = linop.aslinearoperator(Dp)
    np.testing.assert_allclose(A.todense(), Dp.todense())
    K = linop.vstack([pylops.Identity(8), 0.5 * Dp, D])
    assert linop.dottest(K) < 1e-12
    # PyLops' n-d rule (dims-shaped input) goes through its own dot
    D2 = pylops.FirstDerivative((4, 5), axis=1, dtype="float64")
    fun = lambda img: D2 @ img  # noqa: E731
    img = RNG.standard_normal((4, 5))
    np.testing.assert_allclose(linop.trace(fun, img)(img).ravel(), (D2 @ img).ravel())
    linop.testing.check_transpose(fun, img)


def test_pylops_real_linear_operator_is_refused_as_complex_operator():
    pylops = pytest.importorskip("pylops")
    R = pylops.Conj(4, dtype="complex128")
    with pytest.raises(linop.RealLinearError, match="linear_operator"):
        linop.aslinearoperator(lambda z: R @ z, np.zeros(4, complex))
    # its adjoint is still exact in real coordinates
    A = linop.aslinearoperator(lambda z: R @ z, np.zeros(4, complex), real_coords=True)
    np.testing.assert_allclose(A.todense(), np.diag([1, 1, 1, 1, -1, -1, -1, -1.0]))
    assert linop.testing.check_transpose(lambda z: R @ z, np.zeros(4, complex)) < 1e-12


# -- dtypes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("op_dtype", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("x_dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_dtype_mixes_follow_result_type(op_dtype, x_dtype):
    Mat = (M + (1j * MC.imag if np.issubdtype(op_dtype, np.complexfloating) else 0)).astype(op_dtype)
    want_dtype = np.result_type(op_dtype, x_dtype)
    x = linop.testing.random_like(linop.ShapeDtype((8,), x_dtype), RNG)
    single = np.finfo(want_dtype).bits < 64
    tol = 1e-5 if single else 1e-12
    for L in (scipy_aslinop(Mat), custom(Mat)):
        p = linop.trace(lambda v: L @ v, x)
        y = p(x)
        assert y.dtype == want_dtype and p.out_avals[0].dtype == want_dtype
        np.testing.assert_allclose(y, Mat.astype(want_dtype) @ x.astype(want_dtype), rtol=tol,
                                   atol=tol)
        linop.testing.check_transpose(lambda v: L @ v, x)  # tolerance of the least precise dtype
    # a traced operator of dtype op_dtype on a vector of x_dtype: SciPy's MatrixLinearOperator rule
    T = linop.aslinearoperator(lambda v: Mat @ v, np.zeros(8, op_dtype))
    y = T.matvec(x)
    assert y.dtype == np.result_type(op_dtype, x_dtype) == (scipy_aslinop(Mat) @ x).dtype
    np.testing.assert_allclose(y, Mat @ x, rtol=tol, atol=tol)
    z = linop.testing.random_like(linop.ShapeDtype((5,), x_dtype), RNG)
    assert T.rmatvec(z).dtype == want_dtype
    np.testing.assert_allclose(T.rmatvec(z), Mat.conj().T @ z, rtol=tol, atol=tol)
    assert T.matmat(np.stack([x, x], 1)).dtype == want_dtype


def test_float32_operator_on_float64_data_computes_in_float64():
    w = np.float32(1 + 2 ** -20)  # 1 + 2**-20 is exact in float32, lost in a float32 product below
    A = linop.aslinearoperator(lambda v: v * w, np.zeros(3, np.float32))
    x = np.full(3, 1 + 2 ** -40)
    np.testing.assert_array_equal(A.matvec(x), x * np.float64(w))  # float32 would round
    assert A.matvec(x).dtype == np.float64
    assert A.rmatvec(x).dtype == np.float64
    B = linop.vstack([A, 2 * A])
    np.testing.assert_array_equal(B.matvec(x)[:3], x * np.float64(w))
    # traced inside a float64 model
    np.testing.assert_array_equal(linop.trace(lambda v: A @ v, x)(x), x * np.float64(w))
    # an unpickled operator computes at its own precision but still returns float64
    C = pickle.loads(pickle.dumps(A))
    assert C.matvec(x).dtype == np.float64


# -- sparse solves ----------------------------------------------------------------------------
SOLVES = [
    ("splu", lambda b: splu(SQ).solve(b), lambda b: np.linalg.solve(SQ.toarray(), b), np.float64),
    ("splu_T", lambda b: splu(SQ).solve(b, trans="T"),
     lambda b: np.linalg.solve(SQ.toarray().T, b), np.float64),
    ("splu_H_complex", lambda b: splu(SQC).solve(b, trans="H"),
     lambda b: np.linalg.solve(SQC.toarray().conj().T, b), np.complex128),
    ("splu_T_complex", lambda b: splu(SQC).solve(b, "T"),
     lambda b: np.linalg.solve(SQC.toarray().T, b), np.complex128),
    ("spsolve", lambda b: spsolve(SQ, b), lambda b: np.linalg.solve(SQ.toarray(), b), np.float64),
    ("spsolve_complex_rhs", lambda b: spsolve(SQ, b), lambda b: np.linalg.solve(SQ.toarray(), b),
     np.complex128),
    ("factorized", lambda b: factorized(SQ)(b), lambda b: np.linalg.solve(SQ.toarray(), b),
     np.float64),
]


@pytest.mark.parametrize("name,fun,plain,dtype", SOLVES, ids=[s[0] for s in SOLVES])
@pytest.mark.parametrize("shape", [(6,), (6, 3)])
def test_sparse_solves_on_traced_right_hand_sides(name, fun, plain, dtype, shape):
    b = linop.testing.random_like(linop.ShapeDtype(shape, dtype), RNG)
    p = linop.trace(fun, b)
    np.testing.assert_allclose(p(b), plain(b), atol=1e-12)
    np.testing.assert_allclose(fun(b), plain(b), atol=1e-12)  # arrays: SciPy itself
    assert linop.testing.check_transpose(fun, b) < 1e-12
    A = linop.aslinearoperator(fun, b)
    assert linop.dottest(A) < 1e-12
    B = pickle.loads(pickle.dumps(A))  # the matrix travels, the factorisation is made again
    v = linop.testing.random_like(linop.ShapeDtype((A.shape[1],), A.dtype), RNG)
    np.testing.assert_allclose(B.matvec(v), A.matvec(v), atol=1e-12)


def test_splu_factorises_once():
    lu = splu(SQ)
    A = linop.aslinearoperator(lambda b: lu.solve(b) + lu.solve(2 * b, "T"), np.zeros(6))
    p = A.program
    ops = {id(e.params["op"].value) for e in p.eqns if e.prim.name == "linear_operator"}
    assert len(ops) == 1 and lu.operator.lu is lu.operator.lu
    assert lu.shape == (6, 6) and lu.nnz > 0  # SciPy's attributes pass through


def test_spsolve_shapes_like_scipy():
    p = linop.trace(lambda b: spsolve(SQ, b), np.zeros((6, 1)))
    assert p.out_avals[0].shape == (6,) == spsolve(SQ, np.ones((6, 1))).shape
    p = linop.trace(lambda b: spsolve(SQ.astype(np.float32), b), np.zeros(6))
    assert p.out_avals[0].dtype == np.float64  # SciPy upcasts the matrix


# -- errors -----------------------------------------------------------------------------------
def test_errors_are_clear():
    L = custom(M)
    with pytest.raises(ValueError, match=r"test_foreign.py:\d+: the _CustomLinearOperator of shape "
                                          r"\(5, 8\) expects a vector of shape \(8,\) or \(8, 1\), "
                                          r"got shape \(7,\)"):
        linop.trace(lambda x: L.matvec(x), np.zeros(7))
    with pytest.raises(ValueError, match=r"applies to 1-d vectors and 2-d matrices.*ravel"):
        linop.trace(lambda x: L @ x, np.zeros((2, 4)).reshape(2, 2, 2))
    with pytest.raises(ValueError, match=r"expects a matrix of shape \(5, k\)"):
        linop.trace(lambda x: L.rmatmat(x), np.zeros((4, 2)))
    class Bad(LinearOperator):
        def _matvec(self, x):
            return x[:5]

        def _matmat(self, X):  # SciPy does not check what _matmat returns
            return np.ones((4, X.shape[1]))
    bad = Bad(np.float64, (5, 8))
    p = linop.trace(lambda X: bad @ X, np.zeros((8, 2)))
    with pytest.raises(linop.ForeignOperatorError, match=r"shape \(4, 2\).*expected \(5, 2\)"):
        p(np.ones((8, 2)))
    liar = Subclassed(np.eye(2))
    liar._matvec = lambda x: 1j * x
    with pytest.raises(linop.ForeignOperatorError, match="real dtype float64 but returned complex"):
        linop.trace(lambda x: liar @ x, np.zeros(2))(np.ones(2))
    with pytest.raises(linop.ForeignOperatorError, match="does not pickle"):
        pickle.dumps(linop.trace(lambda x: L @ x, np.zeros(8)))
    lu = splu(SQ.astype(np.float32))
    with pytest.raises(TypeError, match=r"factorisation is float32.*'safe'"):
        linop.trace(lambda b: lu.solve(b), np.zeros(6))
    with pytest.raises(ValueError, match="trans must be"):
        linop.trace(lambda b: splu(SQ).solve(b, "X"), np.zeros(6))
    with pytest.raises(linop.NonLinearError, match="linear in the right-hand side only"):
        linop.trace(lambda b: spsolve(b[:, None] * np.ones(6), np.ones(6)), np.zeros(6))
    with pytest.raises(ValueError, match="must be square"):
        splu(sp.csc_array(np.ones((2, 3))))


def test_pickling_programs_with_picklable_foreign_operators():
    pylops = pytest.importorskip("pylops")
    Dp = pylops.FirstDerivative(8, dtype="float64")
    p = linop.trace(lambda x: Dp @ x, np.zeros(8))
    q = pickle.loads(pickle.dumps(p))
    x = RNG.standard_normal(8)
    np.testing.assert_allclose(q(x), Dp @ x)


# -- review fixes -----------------------------------------------------------------------------
IDENTITIES = [
    ("scipy_lambda", lambda: LinearOperator((4, 4), matvec=lambda v: v, rmatvec=lambda v: v,
                                            dtype=np.float64)),
    ("pylops_identity", lambda: pytest.importorskip("pylops").Identity(4)),
]


@pytest.mark.parametrize("name,make", IDENTITIES, ids=[i[0] for i in IDENTITIES])
@pytest.mark.parametrize("adjoint", [False, True], ids=["forward", "adjoint"])
def test_an_operator_returning_its_input_is_not_updated_in_place(name, make, adjoint):
    L = make()
    Lm = L.H if adjoint else L

    def f(x):
        z = x * 3.0
        return (Lm @ z) + 1.0 * x + z
    x = np.arange(4.0)
    np.testing.assert_array_equal(linop.trace(f, np.zeros(4))(x), 7 * x)
    np.testing.assert_array_equal(linop.aslinearoperator(f, np.zeros(4)).matvec(x), 7 * x)
    np.testing.assert_array_equal(x, np.arange(4.0))


class Doubling(LinearOperator):
    """Overrides the public methods and calls SciPy's through super()."""

    def __init__(self):
        super().__init__(np.float64, (3, 3))

    def _matvec(self, x):
        return x.ravel() * np.array([1.0, 2.0, 3.0])

    def _rmatvec(self, x):
        return x.ravel() * np.array([1.0, 2.0, 3.0])

    def matvec(self, x):
        return 2 * super().matvec(x)

    def rmatvec(self, x):
        return 3 * super().rmatvec(x)


@pytest.mark.parametrize("fun", [
    lambda L, v: L.matvec(v), lambda L, v: L @ v, lambda L, v: L.rmatvec(v), lambda L, v: L.H @ v,
    lambda L, v: v @ L, lambda L, v: L.matmat(np.stack([v, 2 * v], axis=1)),
    lambda L, v: L.rmatmat(np.stack([v, 2 * v], axis=1)),
    lambda L, v: L @ np.stack([v, 2 * v], axis=1),
], ids=["matvec", "matmul", "rmatvec", "H", "rdot", "matmat", "rmatmat", "matmul2d"])
def test_subclass_overriding_public_methods_is_applied_as_scipy_applies_it(fun):
    L = Doubling()
    x = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(linop.trace(lambda v: fun(L, v), x)(x), fun(L, x))
    np.testing.assert_allclose(linop.vmap(lambda v: fun(L, v))(np.stack([x, x])),
                               np.stack([fun(L, x), fun(L, x)]))


def _sa_complex():
    return linop.aslinearoperator(lambda z: MC @ z, np.zeros(8, complex))


# name, function of the complex (5,) or (8,) vector, its input length, its dense matrix
COMPLEX_INLINED = [
    ("H", lambda A, R: (lambda v: A.H @ v), 5, MC.conj().T),
    ("T", lambda A, R: (lambda v: A.T @ v), 5, MC.T),
    ("rdot", lambda A, R: (lambda v: v @ A), 5, MC.T),
    ("rmatmat", lambda A, R: (lambda v: A.rmatmat(v[:, None])[:, 0]), 5, MC.conj().T),
    ("scipy_T", lambda A, R: (lambda v: (2j * (scipy_aslinop(np.eye(5)) @ A)).T @ v), 5, 2j * MC.T),
    ("real_traced", lambda A, R: (lambda v: R @ v), 8, M),
    ("real_traced_H", lambda A, R: (lambda v: R.H @ v), 5, M.T),
    ("normal", lambda A, R: (lambda v: A.H @ (A @ v)), 8, MC.conj().T @ MC),
    ("mixed_sum", lambda A, R: (lambda v: (R + A) @ v), 8, M + MC),
]


@pytest.mark.parametrize("name,make,n,Mat", COMPLEX_INLINED, ids=[c[0] for c in COMPLEX_INLINED])
def test_complex_linop_operators_inside_models_are_complex_linear(name, make, n, Mat):
    A = _sa_complex()
    R = linop.aslinearoperator(lambda x: M @ x, np.zeros(8))
    fun = make(A, R)
    op = linop.aslinearoperator(fun, np.zeros(n, complex))  # no RealLinearError
    assert op.dtype == np.complex128
    np.testing.assert_allclose(op.todense(), Mat, atol=1e-12)
    np.testing.assert_allclose(op.H.todense(), Mat.conj().T, atol=1e-12)
    assert linop.dottest(op) < 1e-12


def test_conjugate_linear_functions_are_still_refused():
    A = _sa_complex()
    for fun, step in ((lambda v: np.conj(A.H @ v), "conj"),
                      (lambda v: A.H @ v + np.conj(A.H @ v), "add")):
        with pytest.raises(linop.RealLinearError, match=f"only linear over the reals .{step} at"):
            linop.aslinearoperator(fun, np.zeros(5, complex))


def test_real_pylops_operator_on_complex_values_is_the_complex_linear_extension():
    pylops = pytest.importorskip("pylops")
    Dp = pylops.FirstDerivative(8, dtype="float64")
    x = RNG.standard_normal(8) + 1j * RNG.standard_normal(8)
    want = Dp @ x.real + 1j * (Dp @ x.imag)  # PyLops itself drops x.imag (ComplexWarning)
    y = linop.trace(lambda v: Dp @ v, x)(x)
    assert y.dtype == np.complex128
    np.testing.assert_allclose(y, want, atol=1e-12)
    A = linop.aslinearoperator(lambda v: Dp @ v, np.zeros(8, complex))
    np.testing.assert_allclose(A.todense(), Dp.todense(), atol=1e-12)
    assert linop.dottest(A) < 1e-12


def test_pylops_imported_inside_a_traced_function_is_hooked():
    import subprocess
    import sys
    pytest.importorskip("pylops")
    script = ("import numpy as np, linop\n"
              "linop.trace(lambda v: 2 * v, np.ones(3))\n"
              "def f(v):\n"
              "    import pylops\n"
              "    return pylops.FirstDerivative(3) @ v\n"
              "p = linop.trace(f, np.ones(3))\n"
              "import pylops\n"
              "assert np.allclose(p(np.arange(3.0)), pylops.FirstDerivative(3) @ np.arange(3.0))\n"
              "print('ok')\n")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_an_operator_without_adjoint_gives_a_clear_error():
    L = LinearOperator((4, 4), matvec=lambda v: 2 * v, dtype=np.float64)
    np.testing.assert_allclose(linop.trace(lambda v: L @ v, np.zeros(4))(np.ones(4)), 2.0)
    for fun, x in ((lambda v: L.rmatvec(v), np.zeros(4)), (lambda v: L.rmatvec(v), np.zeros(4, complex)),
                   (lambda v: v @ L, np.zeros(4))):
        with pytest.raises(linop.ForeignOperatorError, match=r"test_foreign.py:\d+.*"
                                                             r"_CustomLinearOperator.*no adjoint"):
            linop.trace(fun, x)
    A = linop.aslinearoperator(lambda v: L @ v, np.zeros(4))
    for call in (lambda: A.rmatvec(np.ones(4)), lambda: A.rmatvec(np.ones(4) + 1j),
                 lambda: linop.linear_transpose(lambda v: L @ v, np.zeros(4))(np.ones(4))):
        with pytest.raises(linop.ForeignOperatorError, match="no adjoint.*rmatvec"):
            call()


def test_sparse_and_reflected_operands_of_traced_operators():
    S = sp.csr_array(MC)
    Dm = linop.aslinearoperator(lambda x: x[1:] - x[:-1], np.zeros(6))  # 5x6
    Md = Dm.todense()
    cases = [(D.H.dot(sp.csr_array(MC[:, :7].T)), MD.T @ MC[:, :7].T),
             (Dm.H @ S[:, :5], Md.T @ MC[:, :5]),
             (S[:, :5] @ Dm, MC[:, :5] @ Md),
             (MC[:, :6] + Dm, MC[:, :6] + Md), (S[:, :6] + Dm, MC[:, :6] + Md),
             (MC[:, :6] - Dm, MC[:, :6] - Md), (S[:, :6] - Dm, MC[:, :6] - Md)]
    for op, want in cases:
        assert isinstance(op, linop.TracedLinearOperator)
        np.testing.assert_allclose(op.todense(), want, atol=1e-12)
        assert linop.dottest(op) < 1e-12
    # a dense 2-d array on the left keeps SciPy's meaning: the array product
    np.testing.assert_allclose(MC[:, :5] @ Dm, MC[:, :5] @ Md, atol=1e-12)


def test_spsolve_with_an_nd_right_hand_side_says_so():
    with pytest.raises(ValueError, match=r"test_foreign.py:\d+: the right-hand side must be 1-d"
                                         r".*got a 3-d array of shape \(6, 2, 2\)"):
        linop.trace(lambda v: spsolve(SQ, v), np.zeros((6, 2, 2)))
    with pytest.raises(ValueError, match=r"splu at .*test_foreign.py:\d+: the matrix must be square"):
        splu(sp.csc_array(np.ones((2, 3))))


@pytest.mark.parametrize("make,x_dtype", [
    (lambda: 2.0 * custom(M[:, :5].astype(np.float32)), np.float32),
    (lambda: custom(M[:, :5].astype(np.float32)) ** 2, np.float32),
    (lambda: custom(M[:, :5].astype(np.float32)) ** 0, np.float32),
    (lambda: sp.linalg._interface.IdentityOperator((5, 5), dtype=np.float64), np.float32),
    (lambda: 2.0 * custom(M[:, :5].astype(np.float32)) + scipy_aslinop(np.eye(5, dtype=np.float32)),
     np.float32),
    (lambda: (1 + 2j) * custom(MC[:, :5].astype(np.complex64)), np.complex64),
], ids=["scaled", "power", "power0", "identity", "sum", "scaled_complex"])
def test_traced_dtypes_of_scipy_composites_match_plain_calls(make, x_dtype):
    L = make()
    x = linop.testing.random_like(linop.ShapeDtype((5,), x_dtype), RNG)
    for fun in (lambda v: L @ v, lambda v: L.rmatvec(v)):
        plain = fun(x)
        y = linop.trace(fun, x)(x)
        assert y.dtype == plain.dtype
        np.testing.assert_allclose(y, plain, rtol=1e-5, atol=1e-5)


def test_opaque_operators_give_their_declared_dtype():
    pylops = pytest.importorskip("pylops")
    Dg = pylops.Diagonal(np.arange(4, dtype=np.float32))  # PyLops' default dtype: float64
    x = np.ones(4, np.float32)
    y = linop.trace(lambda v: Dg @ v, x)(x)
    assert Dg.dtype == np.float64 and y.dtype == np.float64
    np.testing.assert_allclose(y, np.arange(4.0))


def test_empty_batches_do_not_call_the_operator():
    L = LinearOperator((3, 4), matvec=lambda v: v[:3] * 2, rmatvec=lambda w: np.r_[2 * w, 0],
                       dtype=float)
    y = linop.trace(lambda V: L @ V, np.zeros((4, 0)))(np.zeros((4, 0)))
    assert y.shape == (3, 0) and y.dtype == np.float64
    assert linop.vmap(lambda v: L @ v)(np.zeros((0, 4))).shape == (0, 3)
    assert linop.trace(lambda W: L.rmatmat(W), np.zeros((3, 0)))(np.zeros((3, 0))).shape == (4, 0)
