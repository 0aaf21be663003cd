"""scipy.sparse matrices and arrays as constants: S @ x, x @ S, S.dot(x), spmatrix S * x."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import linop
from linop.scipy import sparse as ls
from harness import Case, case_id, check_all

M, N = 4, 6
_base = sp.random(M, N, density=0.5, random_state=5, format="csr")
_base_c = _base + 1j * sp.random(M, N, density=0.4, random_state=6, format="csr")
FORMATS = ("csr", "csc", "coo", "lil", "dok", "bsr", "dia")


def _as(fmt, matrix, array=True):
    m = matrix.asformat(fmt)
    return sp.csr_array(m).asformat(fmt) if array else sp.csr_matrix(m).asformat(fmt)


CASES = []
for fmt in FORMATS:
    for array in (True, False):
        kind = "array" if array else "matrix"
        S = _as(fmt, _base, array)
        CASES += [
            Case(f"{fmt}-{kind}-S@x-1d", lambda x, S=S: S @ x, ((N,),)),
            Case(f"{fmt}-{kind}-S@x-2d", lambda x, S=S: S @ x, ((N, 3),)),
            Case(f"{fmt}-{kind}-S@x-col", lambda x, S=S: S @ x, ((N, 1),)),
            Case(f"{fmt}-{kind}-x@S-1d", lambda x, S=S: x @ S, ((M,),)),
            Case(f"{fmt}-{kind}-x@S-2d", lambda x, S=S: x @ S, ((2, M),)),
            Case(f"{fmt}-{kind}-S.dot(x)", lambda x, S=S: S.dot(x), ((N, 2),)),
        ]
        if not array:
            CASES += [Case(f"{fmt}-matrix-S*x", lambda x, S=S: S * x, ((N,),)),
                      Case(f"{fmt}-matrix-x*S", lambda x, S=S: x * S, ((3, M),))]
S_C = sp.csr_array(_base_c)
S_F32 = sp.csr_array(_base.astype(np.float32))
S_INT = sp.csr_array((np.arange(1, 6), ([0, 1, 2, 3, 3], [0, 2, 4, 5, 1])), shape=(M, N))
CASES += [
    Case("complex-S@x", lambda x: S_C @ x, ((N,),)),
    Case("complex-x@S", lambda x: x @ S_C, ((M,),)),
    Case("float32-S@x", lambda x: S_F32 @ x, ((N, 2),)),
    Case("int-S@x", lambda x: S_INT @ x, ((N,),)),
    Case("chain-ST(Sx)", lambda x: _base.T @ (_base @ x), ((N,),)),
    Case("normal-eq-plus-identity", lambda x: _base.T @ (_base @ x) + 0.5 * x, ((N, 2),)),
    Case("coo-batched-3d", lambda x: sp.coo_array(_base) @ x, ((2, N, 3),)),
    Case("coo-batched-3d-right", lambda x: x @ sp.coo_array(_base), ((2, 3, M),)),
    Case("matmul-helper", lambda x: ls.matmul(_base.T, ls.matmul(_base, x)) + ls.matmul(x[:M], _base),
         ((N,),)),
]


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_case(param):
    case, dtype = param
    check_all(case, dtype)


def test_transpose_never_densifies():
    x = np.zeros(N)
    p = linop.trace(lambda x: _base @ x, x)
    t = linop.transpose(p)
    for prog in (p, t):
        text = str(prog)
        assert "sparse_matmul" in text and "sparse f64" in text and f"nnz={_base.nnz}" in text
        assert all(not isinstance(c, np.ndarray) or c.size < M * N for c in prog.consts)
    assert "c0:sparse f64[6,4]" in str(t)


def test_program_equality_and_pickle():
    x = np.zeros(N)
    p1 = linop.trace(lambda x: _base @ x, x)
    p2 = linop.trace(lambda x: _base.copy() @ x, x)
    p3 = linop.trace(lambda x: (2 * _base) @ x, x)
    assert p1 == p2 and p1 != p3
    q = pickle.loads(pickle.dumps(p1))
    v = np.random.default_rng(0).standard_normal(N)
    assert np.allclose(q(v), _base @ v)
    assert linop.transpose(linop.transpose(p1)) == p1


def test_errors():
    x = linop.ShapeDtype((N,), np.float64)
    with pytest.raises(ValueError, match="dimension mismatch"):
        linop.trace(lambda x: _base @ x, linop.ShapeDtype((N + 1,), np.float64))
    with pytest.raises(ValueError, match="dimension mismatch"):
        linop.trace(lambda x: x @ _base, x)
    with pytest.raises(ValueError, match="could not interpret"):
        linop.trace(lambda x: _base @ x, linop.ShapeDtype((N, 2, 2), np.float64))
    with pytest.raises(linop.UnsupportedFunctionError, match="element-wise"):
        linop.trace(lambda x: sp.csr_array(_base) * x[:M, None], x)
    with pytest.raises(linop.UnsupportedFunctionError, match="element-wise"):
        linop.trace(lambda x: x * sp.csr_array(_base)[0], x)
    with pytest.raises(linop.ConversionError, match="test_scipy_sparse.py"):
        linop.trace(lambda x: sp.csr_array(x), x)  # SciPy wraps it; linop unwraps it


def test_numpy_function_forms_with_sparse_operands_point_to_the_operator():
    S = sp.random(4, 3, density=0.5, random_state=1, format="csr")
    for fun, shape in ((lambda x: np.matmul(S, x), (3,)), (lambda x: np.dot(S, x), (3,)),
                       (lambda x: np.matmul(x, S), (4,))):
        with pytest.raises(linop.UnsupportedFunctionError, match=r"S @ x"):
            linop.trace(fun, linop.ShapeDtype(shape, np.float64))


def test_empty_contracted_axis_transposes():
    S = sp.csr_array(np.zeros((3, 0)))
    (out,) = linop.linear_transpose(lambda x: S @ x, linop.ShapeDtype((0,), np.float64))(np.ones(3))
    assert out.shape == (0,)
    T = sp.csr_array(np.zeros((0, 3)))
    (out,) = linop.linear_transpose(lambda x: T @ x, linop.ShapeDtype((3,), np.float64))(np.ones(0))
    np.testing.assert_array_equal(out, np.zeros(3))
