"""np.convolve, np.correlate, np.interp, np.linalg.solve, np.linalg.lstsq, np.cross."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import linop
from harness import Case, case_id, check_all
from linop.testing import random_like, tolerance_for

RNG = np.random.default_rng(7)
K3 = RNG.standard_normal(3)
K4C = RNG.standard_normal(4) + 1j * RNG.standard_normal(4)
K9 = RNG.standard_normal(9)
K70 = RNG.standard_normal(70)          # longer than the direct-convolution limit: FFT path
A4 = RNG.standard_normal((4, 4)) + 4 * np.eye(4)
A4C = A4 + 1j * RNG.standard_normal((4, 4))
A234 = RNG.standard_normal((2, 3, 4, 4)) + 4 * np.eye(4)
M64 = RNG.standard_normal((6, 4))
M46 = RNG.standard_normal((4, 6))
M_RANK2 = RNG.standard_normal((5, 2)) @ RNG.standard_normal((2, 4))
XQ = np.array([-1.0, 0.0, 0.3, 1.0, 1.2, 2.9, 3.0, 4.5, 7.0, 8.0])
XP = np.array([0.0, 1.0, 1.5, 3.0, 4.0, 8.0])
XQ2D = RNG.uniform(-2, 10, (3, 4))
V3 = RNG.standard_normal((5, 3))
V2 = RNG.standard_normal(2)
C64_SPEC = linop.ShapeDtype((4,), np.complex64)


def _conv_cases():
    cases = []
    kernels = {"k3": K3, "k4c": K4C, "k9": K9}
    for mode in ("full", "same", "valid"):
        for kname, k in kernels.items():
            for n in (6, 2):  # traced operand longer, then shorter than the kernel
                cases.append(Case(f"convolve_{mode}_{kname}_n{n}",
                                  lambda x, k=k, m=mode: np.convolve(x, k, m), ((n,),)))
                cases.append(Case(f"convolve_first_const_{mode}_{kname}_n{n}",
                                  lambda x, k=k, m=mode: np.convolve(k, x, mode=m), ((n,),)))
                cases.append(Case(f"correlate_{mode}_{kname}_n{n}",
                                  lambda x, k=k, m=mode: np.correlate(x, k, m), ((n,),)))
                # the traced operand second is conjugated by np.correlate: real-linear
                cases.append(Case(f"correlate_second_traced_{mode}_{kname}_n{n}",
                                  lambda x, k=k, m=mode: np.correlate(k, x, m), ((n,),),
                                  c_linear=False))
        cases.append(Case(f"convolve_even_same_{mode}", lambda x, m=mode: np.convolve(
            x, K4C[:2], m), ((5,),)))
        cases.append(Case(f"correlate_even_swapped_{mode}", lambda x, m=mode: np.correlate(
            K4C, x, m), ((2,),), c_linear=False))
    cases += [
        Case("convolve_default_mode", lambda x: np.convolve(x, K3), ((5,),)),
        Case("correlate_default_mode", lambda x: np.correlate(x, K3), ((5,),)),
        Case("convolve_int_modes", lambda x: np.convolve(x, K3, 0) + np.convolve(x, K3, 2)[2:-2],
             ((5,),)),
        Case("convolve_scalar_kernel", lambda x: np.convolve(x, 2.0), ((4,),)),
        Case("convolve_list_kernel", lambda x: np.convolve([1.0, -1.0], x, "valid"), ((4,),)),
        Case("convolve_equal_lengths_valid", lambda x: np.convolve(x, K3, "valid"), ((3,),)),
        Case("convolve_length_one", lambda x: np.convolve(x, K3, "same"), ((1,),)),
        Case("convolve_long_kernel_fft", lambda x: np.convolve(x, K70, "full"), ((80,),)),
        Case("correlate_long_kernel_fft", lambda x: np.correlate(x, K70, "same"), ((75,),)),
        Case("convolve_batched_rows_fft", lambda x: np.stack([np.convolve(r, K70, "valid")
                                                              for r in x]), ((2, 90),)),
        Case("convolve_scalar_traced", lambda x: np.convolve(x, K3), ((),)),
        Case("convolve_f32_const", lambda x: np.convolve(x, K3.astype(np.float32)), ((5,),)),
        Case("convolve_mixed_dtype", lambda x: np.convolve(x, K3.astype(np.complex64)),
             (C64_SPEC,), dtypes=(np.float32,)),
        Case("convolve_then_transpose_chain", lambda x: np.convolve(x[::2] * 2, K3, "same")[1:],
             ((8,),)),
    ]
    return cases


def _solve_cases():
    return [
        Case("solve_vector", lambda b: np.linalg.solve(A4, b), ((4,),)),
        Case("solve_matrix", lambda b: np.linalg.solve(A4, b), ((4, 3),)),
        Case("solve_complex_matrix", lambda b: np.linalg.solve(A4C, b), ((4, 2),)),
        Case("solve_batched_a_vector_b", lambda b: np.linalg.solve(A234, b), ((4,),)),
        Case("solve_batched_a_matrix_b", lambda b: np.linalg.solve(A234, b), ((3, 4, 2),)),
        Case("solve_broadcast_b_batch", lambda b: np.linalg.solve(A4, b), ((2, 4, 3),)),
        Case("solve_a_batch_of_one", lambda b: np.linalg.solve(A234[:1, :1], b), ((2, 3, 4, 1),)),
        Case("solve_f32_matrix", lambda b: np.linalg.solve(A4.astype(np.float32), b), ((4,),)),
        Case("solve_then_sum", lambda b: np.linalg.solve(A4, b[1:]).sum(), ((5,),)),
        Case("lstsq_overdetermined", lambda b: np.linalg.lstsq(M64, b)[0], ((6,),)),
        Case("lstsq_underdetermined", lambda b: np.linalg.lstsq(M46, b)[0], ((4, 2),)),
        Case("lstsq_rank_deficient", lambda b: np.linalg.lstsq(M_RANK2, b)[0], ((5,),)),
        Case("lstsq_rcond", lambda b: np.linalg.lstsq(M64, b, rcond=0.3)[0], ((6, 3),)),
        Case("lstsq_complex_a", lambda b: np.linalg.lstsq(M64 + 1j * M64[::-1], b)[0], ((6,),)),
    ]


def _interp_cases():
    return [
        Case("interp", lambda f: np.interp(XQ, XP, f), ((6,),)),
        Case("interp_zero_left_right", lambda f: np.interp(XQ, XP, f, left=0.0, right=0), ((6,),)),
        Case("interp_traced_left", lambda f: np.interp(XQ, XP, f, left=f.real[2] * 2), ((6,),),
             c_linear=False),
        Case("interp_period", lambda f: np.interp(XQ, XP[:-1], f, period=3.5), ((5,),)),
        Case("interp_negative_period", lambda f: np.interp(XQ, XP[::-1] * 0.5, f, period=-2.0),
             ((6,),)),
        Case("interp_2d_queries", lambda f: np.interp(XQ2D, XP, f), ((6,),)),
        Case("interp_scalar_query", lambda f: np.interp(2.0, XP, f), ((6,),)),
        Case("interp_one_sample", lambda f: np.interp(XQ, [1.0], f), ((1,),)),
        Case("interp_repeated_sample", lambda f: np.interp(XQ, [0, 1, 1, 3, 4, 8.0], f), ((6,),)),
    ]


def _cross_cases():
    return [
        Case("cross_traced_first", lambda v: np.cross(v, V3), ((5, 3),)),
        Case("cross_traced_second", lambda v: np.cross(V3, v), ((5, 3),)),
        Case("cross_broadcast_const", lambda v: np.cross(v, V3[0]), ((5, 3),)),
        Case("cross_broadcast_traced", lambda v: np.cross(V3, v), ((3,),)),
        Case("cross_outer_broadcast", lambda v: np.cross(v[:, None], V3[None, :3]), ((2, 3),)),
        Case("cross_axes", lambda v: np.cross(v, V3.T, axisa=0, axisb=0, axisc=0), ((3, 5),)),
        Case("cross_axis_keyword", lambda v: np.cross(V3.T[:, :2], v, axis=0), ((3, 2),)),
        Case("cross_axisc_middle", lambda v: np.cross(v[:, None], V3[:2], axisc=1), ((4, 3),)),
        Case("cross_traced_2_const_2", lambda v: np.cross(v, V2), ((4, 2),)),
        Case("cross_const_2_traced_3", lambda v: np.cross(V2, v), ((4, 3),)),
        Case("cross_traced_2_const_3", lambda v: np.cross(v, V3), ((5, 2),)),
        Case("cross_complex_const", lambda v: np.cross(v, V3 + 1j), ((5, 3),)),
    ]


CASES = _conv_cases() + _solve_cases() + _interp_cases() + _cross_cases()


@pytest.fixture(autouse=True)
def _quiet_cross_deprecation():
    # np.cross of 2-vectors is deprecated in NumPy 2; linop reproduces the warning.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Arrays of 2-dimensional vectors", DeprecationWarning)
        yield


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_case(param):
    check_all(*param)


# -- precision and structure ---------------------------------------------------------------
def test_solve_matches_numpy_to_1e10_and_factorises_once():
    a = RNG.standard_normal((60, 60)) + np.eye(60)
    b = RNG.standard_normal((60, 3))
    program = linop.trace(lambda x: np.linalg.solve(a, x), b)
    got, want = program(b), np.linalg.solve(a, b)
    assert np.linalg.norm(got - want) <= 1e-10 * np.linalg.norm(want)
    assert [e.prim.name for e in program.eqns] == ["lu_solve"]
    adj = linop.linear_transpose(lambda x: np.linalg.solve(a, x), b)
    assert np.allclose(adj(b)[0], np.linalg.solve(a.T, b), rtol=1e-10, atol=0)


def test_lstsq_matches_numpy_and_returns_rank_and_s():
    b = RNG.standard_normal(6)
    seen = {}

    def f(x):
        sol, res, rank, s = np.linalg.lstsq(M64, x)
        seen.update(rank=rank, s=s)
        return sol

    program = linop.trace(f, b)
    want = np.linalg.lstsq(M64, b)
    assert np.allclose(program(b), want[0], rtol=1e-10, atol=0)
    assert seen["rank"] == want[2] and np.array_equal(seen["s"], want[3])


def test_lstsq_residuals_are_refused_when_used():
    def f(x):
        sol, res, rank, s = np.linalg.lstsq(M64, x)
        return sol * 2 + res

    with pytest.raises(linop.NonLinearError, match="residuals of np.linalg.lstsq.*quadratic"):
        linop.trace(f, np.zeros(6))


def test_lstsq_empty_residuals_returned_like_numpy():
    out = {}

    def f(x):
        sol, out["res"], _, _ = np.linalg.lstsq(M46, x)
        return sol

    linop.trace(f, np.zeros(4))
    assert out["res"].shape == (0,) and out["res"].dtype == np.float64


def test_convolution_lowering_is_one_equation_plus_slice():
    program = linop.trace(lambda x: np.convolve(x, K9, "same"), np.zeros(100))
    assert [e.prim.name for e in program.eqns] == ["convolve", "slice"]
    program = linop.trace(lambda x: np.convolve(x, K9, "valid"), np.zeros(100))
    assert [e.prim.name for e in program.eqns] == ["convolve"]


def test_interp_lowering_is_linear_in_size():
    xq = np.linspace(0, 1, 200_000)
    xp = np.linspace(0, 1, 100_000)
    program = linop.trace(lambda f: np.interp(xq, xp, f), np.zeros(xp.size))
    assert sum(c.nbytes for c in program.consts) < 20 * 8 * xq.size
    f = np.sin(7 * xp)
    assert np.allclose(program(f), np.interp(xq, xp, f), rtol=1e-12, atol=1e-14)


# -- errors ----------------------------------------------------------------------------------
def _raises(exc, fun, *primals, match=None):
    with pytest.raises(exc, match=match):
        linop.trace(fun, *primals)


X4 = np.zeros(4)


@pytest.mark.parametrize("fun", [
    lambda x: np.convolve(x, x),
    lambda x: np.correlate(x, x[::-1]),
    lambda x: np.cross(x[:3], x[1:]),
], ids=["convolve", "correlate", "cross"])
def test_two_traced_operands_are_bilinear(fun):
    _raises(linop.NonLinearError, fun, X4, match="bilinear")


def test_traced_matrix_is_not_linear():
    _raises(linop.NonLinearError, lambda a: np.linalg.solve(a, np.ones(2)), np.zeros((2, 2)),
            match=r"np\.linalg\.solve.*matrix A")
    _raises(linop.NonLinearError, lambda a: np.linalg.lstsq(a, np.ones(3)), np.zeros((3, 2)),
            match=r"np\.linalg\.lstsq")


def test_interp_traced_positions_are_not_linear():
    _raises(linop.NonLinearError, lambda x: np.interp(x, XP, np.ones(6)), X4, match="query")
    _raises(linop.NonLinearError, lambda x: np.interp(XQ, np.sort(x), np.ones(4)), X4)


def test_interp_nonzero_fill_is_affine():
    _raises(linop.AffineError, lambda f: np.interp(XQ, XP, f, left=1.0), np.zeros(6),
            match="left")
    _raises(linop.AffineError, lambda f: np.interp(XQ, XP, f, right=-2), np.zeros(6))


@pytest.mark.parametrize("fun, exc, match", [
    (lambda x: np.convolve(x, []), ValueError, "v cannot be empty"),
    (lambda x: np.correlate(x[:0], K3), ValueError, "first array argument cannot be empty"),
    (lambda x: np.convolve(x.reshape(2, 2), K3), ValueError, "too deep"),
    (lambda x: np.correlate(x, 2.0), ValueError, "too small depth"),
    (lambda x: np.convolve(x, K3, "middle"), ValueError, "mode must be one of"),
    (lambda x: np.linalg.solve(np.ones((2, 3)), x), np.linalg.LinAlgError, "square"),
    (lambda x: np.linalg.solve(np.zeros((4, 4)), x), np.linalg.LinAlgError, "Singular"),
    (lambda x: np.linalg.solve(A4, x[:3]), ValueError, None),
    (lambda x: np.linalg.lstsq(M64, x), np.linalg.LinAlgError, "Incompatible"),
    (lambda x: np.interp(XQ, XP, x), ValueError, "same length"),
    (lambda x: np.interp(XQ, XP[:4], x, period=0), ValueError, "non-zero"),
    (lambda x: np.interp(XQ, XP[:4], x, left=x[:2]), TypeError, "0-dimensional"),
    (lambda x: np.cross(x, V3), ValueError, "incompatible dimensions"),
    (lambda x: np.cross(x[:3], V3, axisa=2), np.exceptions.AxisError, "axisa"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_numpy_errors(fun, exc, match):
    _raises(exc, fun, X4, match=match)


def test_errors_name_the_user_line():
    with pytest.raises(linop.NonLinearError) as info:
        linop.trace(lambda x: np.convolve(x, x), X4)
    assert "test_convolve_linalg.py:" in str(info.value)


def test_cross_2_vectors_warns_like_numpy():
    with pytest.warns(DeprecationWarning, match="2-dimensional vectors"):
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            linop.trace(lambda v: np.cross(v, V2), np.zeros(2))


# -- batching -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [c for c in CASES if len(c.specs) == 1],
                         ids=lambda c: c.name)
def test_vmap_equals_loop(case):
    primal = case.primals(np.complex128 if np.complex128 in case.dtypes else np.float64)[0]
    xs = np.stack([random_like(primal, RNG) for _ in range(3)])
    batched = linop.vmap(case.fun)
    want = np.stack([case.fun(x) for x in xs])
    eps = tolerance_for([primal.dtype, want.dtype])
    tol = dict(rtol=100 * eps, atol=eps)
    assert np.allclose(batched(xs), want, **tol)
    cts = np.stack([random_like(linop.ShapeDtype(want.shape[1:], want.dtype), RNG)
                    for _ in range(3)])
    got = linop.linear_transpose(batched, xs)(cts)[0]
    loop = np.stack([linop.linear_transpose(case.fun, xs[0])(c)[0] for c in cts])
    assert np.allclose(got, loop, **tol)
