"""linop.scipy.linalg: triangular, Cholesky and LU solves with constant factors."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl

import linop
from linop.scipy import linalg as ll
from harness import Case, case_id, check_all

rng = np.random.default_rng(3)
N = 5
T = np.triu(rng.standard_normal((N, N))) + 4 * np.eye(N)
T_C = T + 1j * np.triu(rng.standard_normal((N, N)))
GARBAGE = T + np.tril(rng.standard_normal((N, N)), -1)     # the other triangle must be ignored
SPD = (lambda m: m @ m.T + N * np.eye(N))(rng.standard_normal((N, N)))
HPD = (lambda m: m @ m.conj().T + N * np.eye(N))(rng.standard_normal((N, N)) + 1j * rng.standard_normal((N, N)))
GEN = rng.standard_normal((N, N)) + 2 * np.eye(N)
GEN_C = GEN + 1j * rng.standard_normal((N, N))

CASES = []
for bshape in ((N,), (N, 3)):
    tag = f"b{len(bshape)}d"
    for trans in (0, 1, 2, "T"):
        for lower in (False, True):
            for mname, m in (("real", T), ("complex", T_C)):
                a = m.T if lower else m
                CASES.append(Case(f"solve_triangular-{mname}-trans{trans}-lower{lower}-{tag}",
                                  lambda b, a=a, t=trans, lo=lower: ll.solve_triangular(a, b, t, lo),
                                  (bshape,)))
    CASES.append(Case(f"solve_triangular-unit-garbage-{tag}",
                      lambda b: ll.solve_triangular(GARBAGE, b, unit_diagonal=True), (bshape,)))
    for lower in (False, True):
        for mname, m in (("spd", SPD), ("hpd", HPD)):
            factor = sl.cho_factor(m, lower=lower)
            CASES.append(Case(f"cho_solve-{mname}-lower{lower}-{tag}",
                              lambda b, f=factor: ll.cho_solve(f, b), (bshape,)))
    for trans in (0, 1, 2):
        for mname, m in (("real", GEN), ("complex", GEN_C)):
            factor = sl.lu_factor(m)
            CASES.append(Case(f"lu_solve-{mname}-trans{trans}-{tag}",
                              lambda b, f=factor, t=trans: ll.lu_solve(f, b, t), (bshape,)))
CASES.append(Case("solve_triangular-float32-matrix",
                  lambda b: ll.solve_triangular(T.astype(np.float32), b), ((N,),)))


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_case(param):
    case, dtype = param
    check_all(case, dtype)


def test_plain_arrays_call_scipy():
    b = rng.standard_normal(N)
    assert np.array_equal(ll.lu_solve(sl.lu_factor(GEN), b), sl.lu_solve(sl.lu_factor(GEN), b))


def test_errors():
    b = linop.ShapeDtype((N,), np.float64)
    with pytest.raises(linop.NonLinearError):
        linop.trace(lambda b: ll.solve_triangular(np.outer(np.ones(N), np.ones(N)) * 0 + b, b), b)
    with pytest.raises(ValueError):  # SciPy's own shape error
        linop.trace(lambda b: ll.solve_triangular(T, b), linop.ShapeDtype((N + 1,), np.float64))
    with pytest.raises(np.linalg.LinAlgError):  # SciPy's own singular-matrix error
        linop.trace(lambda b: ll.solve_triangular(np.triu(np.ones((N, N))) - np.eye(N), b), b)
