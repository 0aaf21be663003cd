"""numpy.fft on traced arrays: every transform, n/s, axes and norm, against NumPy and the dense oracle."""
from __future__ import annotations

import functools
import os
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import linop
from harness import ALL, REAL, Case, case_id, check_all, run_in_threads
from linop.batching import batch_columns
from linop.fused import executor as fused_executor
from linop.primitives import fft as fft_primitives
from linop.testing import check_transpose

NORMS = ("backward", "ortho", "forward")
THIS_FILE = os.path.basename(__file__)
rng = np.random.default_rng(7)
KERNEL = np.fft.rfft2(rng.standard_normal((6, 8)))


def _blur(x):
    return np.fft.irfft2(np.fft.rfft2(x) * KERNEL, s=x.shape)


def _spectral_filter(x):
    y = np.fft.fftshift(np.fft.fft2(x, norm="ortho"))
    return np.fft.ifft2(np.fft.ifftshift(y * np.hanning(6)[:, None]), norm="ortho")


def _cases():
    c = []
    # complex-to-complex, every norm, odd and even lengths, cropping and padding n
    for norm in NORMS:
        c += [
            Case(f"fft-{norm}", lambda x, nm=norm: np.fft.fft(x, norm=nm), ((6,),)),
            Case(f"ifft-{norm}", lambda x, nm=norm: np.fft.ifft(x, norm=nm), ((5,),)),
            Case(f"fft2-{norm}", lambda x, nm=norm: np.fft.fft2(x, norm=nm), ((3, 4),)),
            Case(f"ifftn-{norm}", lambda x, nm=norm: np.fft.ifftn(x, norm=nm), ((2, 3, 2),)),
        ]
    c += [
        Case("fft-crop", lambda x: np.fft.fft(x, n=4), ((7,),)),
        Case("fft-pad-axis0", lambda x: np.fft.fft(x, n=5, axis=0), ((3, 2),)),
        Case("ifft-neg-axis", lambda x: np.fft.ifft(x, axis=-2), ((3, 2),)),
        Case("fftn-s-axes", lambda x: np.fft.fftn(x, s=(2, 5), axes=(1, 0)), ((3, 4),)),
        Case("fftn-repeated-axes", lambda x: np.fft.fftn(x, s=(3, 5), axes=(0, 0)), ((4, 2),)),
        Case("ifft2-s", lambda x: np.fft.ifft2(x, s=(5, 2), norm="ortho"), ((3, 3),)),
        Case("fftn-no-axes", lambda x: np.fft.fftn(x, axes=()), ((3,),)),
    ]
    # real input -> half spectrum (real dtypes; complex inputs via .real are real-linear)
    for norm in NORMS:
        c += [
            Case(f"rfft-even-{norm}", lambda x, nm=norm: np.fft.rfft(x, norm=nm), ((6,),), REAL),
            Case(f"rfft-odd-{norm}", lambda x, nm=norm: np.fft.rfft(x, norm=nm), ((7,),), REAL),
            Case(f"ihfft-{norm}", lambda x, nm=norm: np.fft.ihfft(x, norm=nm), ((5,),), REAL),
            Case(f"rfft2-{norm}", lambda x, nm=norm: np.fft.rfft2(x, norm=nm), ((3, 4),), REAL),
            Case(f"rfftn-{norm}", lambda x, nm=norm: np.fft.rfftn(x, norm=nm), ((2, 3, 3),), REAL),
        ]
    c += [
        Case("rfft-crop", lambda x: np.fft.rfft(x, n=5), ((8,),), REAL),
        Case("rfft-pad-axis0", lambda x: np.fft.rfft(x, n=6, axis=0), ((3, 2),), REAL),
        Case("ihfft-n", lambda x: np.fft.ihfft(x, n=4, axis=0, norm="ortho"), ((5, 2),), REAL),
        Case("rfftn-s-axes", lambda x: np.fft.rfftn(x, s=(5, 3), axes=(1, 0)), ((3, 4),), REAL),
        Case("rfftn-repeated-axes", lambda x: np.fft.rfftn(x, axes=(1, 0, 1)), ((3, 4),), REAL),
        Case("rfft2-of-real-part", lambda x: np.fft.rfft2(x.real), ((3, 4),), ALL, c_linear=False),
    ]
    # half spectrum -> real output: only real-linear in a complex input
    for norm in NORMS:
        c += [
            Case(f"irfft-even-{norm}", lambda x, nm=norm: np.fft.irfft(x, norm=nm), ((4,),),
                 c_linear=False),
            Case(f"irfft-odd-{norm}", lambda x, nm=norm: np.fft.irfft(x, n=7, norm=nm), ((4,),),
                 c_linear=False),
            Case(f"hfft-even-{norm}", lambda x, nm=norm: np.fft.hfft(x, norm=nm), ((4,),),
                 c_linear=False),
            Case(f"hfft-odd-{norm}", lambda x, nm=norm: np.fft.hfft(x, n=5, norm=nm), ((3,),),
                 c_linear=False),
            Case(f"irfft2-{norm}", lambda x, nm=norm: np.fft.irfft2(x, s=(3, 5), norm=nm), ((3, 3),),
                 c_linear=False),
            Case(f"irfftn-{norm}", lambda x, nm=norm: np.fft.irfftn(x, norm=nm), ((2, 3, 3),),
                 c_linear=False),
        ]
    c += [
        Case("irfft-crop", lambda x: np.fft.irfft(x, n=4), ((5,),), c_linear=False),
        Case("irfft-pad", lambda x: np.fft.irfft(x, n=9, axis=0), ((3, 2),), c_linear=False),
        Case("hfft-axis0", lambda x: np.fft.hfft(x, n=6, axis=0, norm="forward"), ((3, 2),),
             c_linear=False),
        Case("irfftn-s-axes", lambda x: np.fft.irfftn(x, s=(4, 3), axes=(1, 0)), ((3, 3),),
             c_linear=False),
        Case("irfftn-repeated-axes", lambda x: np.fft.irfftn(x, s=(3, 4), axes=(0, 0)), ((3, 2),),
             c_linear=False),
        Case("irfft2-default-s", lambda x: np.fft.irfft2(x), ((3, 4),), c_linear=False),
    ]
    # shifts and compositions
    c += [
        Case("fftshift", lambda x: np.fft.fftshift(x), ((3, 4),)),
        Case("ifftshift", lambda x: np.fft.ifftshift(x), ((5, 2),)),
        Case("fftshift-axis", lambda x: np.fft.fftshift(x, axes=1), ((3, 5),)),
        Case("ifftshift-axes", lambda x: np.fft.ifftshift(x, axes=(0,)), ((3, 5),)),
        Case("blur", _blur, ((6, 8),), REAL),
        Case("spectral-filter", _spectral_filter, ((6, 4),)),
        Case("rfft-irfft-roundtrip", lambda x: np.fft.irfft(np.fft.rfft(x, axis=0), n=5, axis=0),
             ((5, 2),), REAL),
        Case("hfft-of-ihfft", lambda x: np.fft.hfft(np.fft.ihfft(x, norm="ortho"), 7, norm="ortho"),
             ((7,),), REAL),
    ]
    return c


CASES = _cases()


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_table(param):
    case, dtype = param
    check_all(case, dtype)


# -- dtypes -------------------------------------------------------------------------------

@pytest.mark.parametrize("name,fun,in_dtype", [
    ("fft-f32", np.fft.fft, np.float32), ("fft-c64", np.fft.fft, np.complex64),
    ("rfft-f32", np.fft.rfft, np.float32), ("irfft-c64", np.fft.irfft, np.complex64),
    ("irfft-f32", np.fft.irfft, np.float32), ("hfft-c64", np.fft.hfft, np.complex64),
    ("ihfft-f32", np.fft.ihfft, np.float32), ("rfft2-f32", np.fft.rfft2, np.float32),
    ("irfftn-c64", np.fft.irfftn, np.complex64), ("ifft2-f64", np.fft.ifft2, np.float64),
])
def test_dtypes_match_numpy(name, fun, in_dtype):
    x = np.ones((4, 4), in_dtype)
    program = linop.trace(fun, x)
    assert program.out_avals[0].dtype == fun(x).dtype
    assert program(x).dtype == fun(x).dtype


def test_rfft2_stays_one_call_and_blur_transpose_is_three_equations():
    x = np.zeros((6, 8))
    program = linop.trace(_blur, x)
    assert [e.prim.name for e in program.eqns] == ["rfft", "mul", "irfft"]
    transposed = linop.transpose(program)
    # the half-spectrum weights of rfft/irfft transposes fold into the filter constant
    assert [e.prim.name for e in transposed.eqns] == ["rfft", "mul", "irfft"]
    assert [e.prim.name for e in linop.transpose(transposed).eqns] == ["rfft", "mul", "irfft"]


def test_transpose_of_blur_is_the_hand_written_adjoint():
    x = rng.standard_normal((6, 8))
    y = rng.standard_normal((6, 8))
    (got,) = linop.linear_transpose(_blur, x)(y)
    want = np.fft.irfft2(np.fft.rfft2(y) * np.conj(KERNEL), s=x.shape)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_batched_transpose_of_blur_equals_loop():
    ys = rng.standard_normal((3, 6, 8))
    (got,) = linop.linear_transpose(linop.vmap(_blur), np.zeros((3, 6, 8)))(ys)
    single = linop.linear_transpose(_blur, np.zeros((6, 8)))
    np.testing.assert_allclose(got, np.stack([single(y)[0] for y in ys]), rtol=1e-12, atol=1e-12)


# -- NumPy's errors and warnings ------------------------------------------------------------

@pytest.mark.parametrize("fun,exc", [
    (lambda x: np.fft.fft(x, norm="bad"), ValueError),
    (lambda x: np.fft.fft(x, n=0), ValueError),
    (lambda x: np.fft.irfft(x, n=0), ValueError),
    (lambda x: np.fft.fft(x, axis=2), IndexError),
    (lambda x: np.fft.fftn(x, s=(3,), axes=(0, 1)), ValueError),
    (lambda x: np.fft.rfft(x + 1j * x), TypeError),
    (lambda x: np.fft.fftshift(x, axes=4), IndexError),
])
def test_numpy_errors(fun, exc):
    x = np.zeros((4, 3))
    with pytest.raises(exc):
        fun(x)
    with pytest.raises(exc):
        linop.trace(fun, x)


def test_deprecated_s_without_axes_warns_like_numpy():
    x = np.zeros((4, 3))
    with pytest.warns(DeprecationWarning):
        program = linop.trace(lambda x: np.fft.fftn(x, s=(2, 2)), x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        want = np.fft.fftn(np.arange(12.0).reshape(4, 3), s=(2, 2))
    np.testing.assert_allclose(program(np.arange(12.0).reshape(4, 3)), want)


def test_out_argument_is_unsupported_with_location():
    with pytest.raises(linop.UnsupportedFunctionError, match=THIS_FILE):
        linop.trace(lambda x: np.fft.fft(x, out=np.zeros(4, complex)), np.zeros(4))


# -- properties -----------------------------------------------------------------------------

@st.composite
def fft_programs(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    norm = draw(st.sampled_from(NORMS + (None,)))
    k = draw(st.integers(1, ndim))
    axes = tuple(draw(st.permutations(range(-ndim, 0)))[:k])
    s = tuple(draw(st.integers(1, 6)) for _ in axes)
    kind = draw(st.sampled_from(["fftn", "ifftn", "rfftn", "irfftn", "fft", "ifft", "rfft",
                                 "irfft", "hfft", "ihfft"]))
    fn = getattr(np.fft, kind)
    if kind.endswith("n"):
        fun = lambda x: fn(x, s=s, axes=axes, norm=norm)  # noqa: E731
    else:
        fun = lambda x: fn(x, n=s[0], axis=axes[0], norm=norm)  # noqa: E731
    real_in = kind in ("rfftn", "rfft", "ihfft")
    dtype = draw(st.sampled_from(REAL if real_in else ALL))
    return fun, np.zeros(shape, dtype), f"{kind}(s={s}, axes={axes}, norm={norm})"


@settings(max_examples=25, deadline=None)
@given(fft_programs())
def test_random_fft_parameters(program):
    fun, x, label = program
    src = rng.standard_normal(x.shape)
    if np.iscomplexobj(x):
        src = src + 1j * rng.standard_normal(x.shape)
    src = src.astype(x.dtype)
    got, want = linop.trace(fun, x)(src), fun(src)
    assert got.dtype == want.dtype, label
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=label)
    check_transpose(fun, x)


# -- threads and batched layouts ------------------------------------------------------------

needs_numba = pytest.mark.skipif(not fused_executor.numba_installed(), reason="numba not installed")
SENS = (rng.standard_normal((3, 16, 12)) + 1j * rng.standard_normal((3, 16, 12))) / 4
MASK = rng.random((16, 12)) < 0.5


def _mri(x):
    return np.fft.fft2(SENS * x, norm="ortho") * MASK


KERNEL_16x12 = np.fft.rfft2(rng.standard_normal((16, 12)))


def _blur_16x12(x):
    return np.fft.irfft2(np.fft.rfft2(x) * KERNEL_16x12, s=x.shape)


@pytest.mark.parametrize("prim, params, real_input", [
    (fft_primitives.fft_p, dict(sign=-1, norm="ortho"), False),
    (fft_primitives.fft_p, dict(sign=1, norm="backward"), False),
    (fft_primitives.rfft_p, dict(sign=-1, norm="backward"), True),
    (fft_primitives.rfft_p, dict(sign=1, norm="forward"), True),
    (fft_primitives.irfft_p, dict(n=40, sign=1, norm="backward"), False),
    (fft_primitives.irfft_p, dict(n=39, sign=-1, norm="ortho"), False),
], ids=["fft", "ifft", "rfft", "ihfft", "irfft", "hfft"])
@pytest.mark.parametrize("axes", [(1, 2), (0, 1)], ids=["batch-first", "batch-last"])
def test_threaded_transforms_equal_one_thread_exactly(prim, params, real_input, axes):
    shape = [8, 32, 40]
    if prim is fft_primitives.irfft_p:
        shape[axes[-1]] = params["n"] // 2 + 1
    x = rng.standard_normal(shape)
    if not real_input:
        x = x + 1j * rng.standard_normal(shape)
    want = prim.impl(x, axes=axes, **params)
    np.testing.assert_array_equal(prim.impl(x, axes=axes, workers=2, **params), want)
    if axes == (1, 2):  # the same transforms on the batch-last layout give the same values
        moved = np.moveaxis(x, 0, -1)
        got = prim.impl(np.ascontiguousarray(moved), axes=(0, 1), workers=2, **params)
        np.testing.assert_array_equal(np.moveaxis(got, -1, 0), want)


def _plans_with_library_threads(monkeypatch, program):
    monkeypatch.setattr(fused_executor, "PARALLEL_MIN_ELEMENTS", 64)
    return fused_executor.FusedPlan(program)


@needs_numba
@pytest.mark.parametrize("fun, x", [(_mri, np.zeros((16, 12), complex)),
                                    (_blur_16x12, np.zeros((16, 12)))], ids=["mri", "blur"])
def test_fused_plans_time_threaded_transforms_with_identical_results(monkeypatch, fun, x):
    if not fused_executor.parallel_enabled():
        pytest.skip("numba runs on one thread here")
    program = linop.trace(fun, x)
    for prog, seed in ((program, 0), (linop.transpose(program), 1)):
        plan = _plans_with_library_threads(monkeypatch, prog)
        choice = plan.library_choice
        assert choice is not None and plan.run is choice
        plain, threaded = choice.runs
        workers = [v.keywords.get("workers", 1) for v in threaded.__globals__.values()
                   if isinstance(v, functools.partial)]
        assert workers and min(workers) > 1
        steps = list(threaded.__globals__.values())
        assert not any(isinstance(v, fused_executor.ParallelCall) for v in steps)
        assert any(isinstance(v, fused_executor.SplitCall) for v in steps)  # kernels in parts
        shape = prog.invars[0].aval.shape
        v = np.random.default_rng(seed).standard_normal(shape).astype(prog.invars[0].aval.dtype)
        if np.iscomplexobj(v):
            v = v + 1j * np.random.default_rng(seed + 2).standard_normal(shape)
        want = plain(v)[0]
        np.testing.assert_array_equal(threaded(v)[0], want)
        for _ in range(8):  # the first calls alternate between the two
            np.testing.assert_array_equal(plan.run(v)[0], want)
        assert np.isfinite(choice.best).all()
        np.testing.assert_allclose(want, prog.call_flat([v], "numpy")[0], rtol=1e-13, atol=1e-13)


@needs_numba
def test_library_threads_only_for_large_transforms_and_when_enabled(monkeypatch):
    program = linop.trace(_mri, np.zeros((16, 12), complex))
    assert fused_executor.FusedPlan(program).library_choice is None  # below the threshold
    monkeypatch.setenv(fused_executor.PARALLEL_ENV, "0")
    assert _plans_with_library_threads(monkeypatch, program).library_choice is None


@pytest.mark.parametrize("fun, x", [(_mri, np.zeros((16, 12), complex)),
                                    (_blur_16x12, np.zeros((16, 12)))], ids=["mri", "blur"])
@pytest.mark.parametrize("executor", ["numpy", pytest.param("numba", marks=needs_numba)])
def test_matmat_of_transforms_keeps_the_batch_axis_last_and_equals_the_loop(fun, x, executor):
    A = linop.aslinearoperator(fun, x, executor=executor)
    for program in (A.flat_program, A.adjoint_program):
        batched = batch_columns(program, 5)
        assert "transpose" not in [e.prim.name for e in batched.eqns]
    gen = np.random.default_rng(4)
    for apply, single, n in ((A.matmat, A.matvec, A.shape[1]), (A.rmatmat, A.rmatvec, A.shape[0])):
        X = gen.standard_normal((n, 5)).astype(A.dtype)
        if np.iscomplexobj(X):
            X = X + 1j * gen.standard_normal((n, 5))
        want = np.stack([single(X[:, k]) for k in range(5)], axis=1)
        np.testing.assert_allclose(apply(X), want, rtol=1e-13, atol=1e-13)


@needs_numba
def test_only_kernels_whose_parallel_loop_comes_last_run_in_parts():
    from linop.fused.cache import splittable

    head = "def kernel(x0, o0, P, T):\n    p0 = P[0]\n"
    loop = "    for i0 in numba.prange(p0):\n        o0[i0] = x0[i0]\n"
    assert splittable(head + loop)
    assert not splittable(head + loop.replace("numba.prange", "range"))
    assert not splittable(head + loop + "    o0[0] = 1.0\n")  # a statement after the parts
    assert not splittable(head + loop + loop)  # a second loop reads what the first wrote


@needs_numba
def test_split_kernels_give_the_serial_results_from_threads_at_once(monkeypatch):
    program = linop.transpose(linop.trace(_mri, np.zeros((16, 12), complex)))
    plan = _plans_with_library_threads(monkeypatch, program)
    if plan.library_choice is None:
        pytest.skip("numba runs on one thread here")
    plain, threaded = plan.library_choice.runs
    inputs = [np.random.default_rng(k).standard_normal(SENS.shape) + 1j for k in range(8)]
    wants = [plain(v)[0] for v in inputs]
    results = [None] * len(inputs)
    barrier = threading.Barrier(len(inputs))

    def work(k):
        barrier.wait()
        results[k] = [threaded(inputs[k])[0] for _ in range(10)]

    run_in_threads(work, len(inputs))
    for got, want in zip(results, wants):
        for g in got:
            np.testing.assert_array_equal(g, want)


@needs_numba
def test_a_kernel_part_that_does_not_compile_keeps_the_plan_on_one_thread(monkeypatch):
    if not fused_executor.parallel_enabled():
        pytest.skip("numba runs on one thread here")
    compile_kernel = fused_executor._compile

    def failing(kernel, spec, parts=False):
        if parts:
            raise RuntimeError("no parts today")
        compile_kernel(kernel, spec)

    monkeypatch.setattr(fused_executor, "_compile", failing)
    program = linop.trace(_mri, np.zeros((16, 12), complex))
    with pytest.warns(linop.errors.FusedExecutorWarning, match="in parts.*same results"):
        plan = _plans_with_library_threads(monkeypatch, program)
    assert plan.library_choice is None
    v = np.random.default_rng(5).standard_normal((16, 12)) + 0j
    np.testing.assert_allclose(plan.run(v.ravel() if program.invars[0].aval.ndim == 1 else v)[0],
                               _mri(v), rtol=1e-13, atol=1e-13)


def _two_transforms_of_one_product(x):
    u = SENS * x
    return np.fft.fft2(u) + np.fft.ifft2(u)  # u is read again after the first transform


def _overwriting_calls(run) -> list:
    """The FFT calls of a plan's ``run`` that write into their input's memory."""
    return [v for v in run.__globals__.values() if isinstance(v, functools.partial) and (
        v.func is fft_primitives.transform_in_place or v.keywords.get("overwrite_x"))]


def _plan(executor, program):
    return fused_executor.FusedPlan(program) if executor == "numba" else \
        linop.execute.Plan(program)


def _inputs(program, seed):
    shape = program.invars[0].aval.shape
    rng_ = np.random.default_rng(seed)
    return rng_.standard_normal(shape) + 1j * rng_.standard_normal(shape)


@pytest.mark.parametrize("executor", ["numpy", pytest.param("numba", marks=needs_numba)])
@pytest.mark.parametrize("fun, overwrites", [
    # the transform reads the product SENS * x (its adjoint: y * MASK), a buffer of the plan's
    (_mri, (1, 1)),
    # the forward transform reads the user's input; the adjoint one the product y * MASK
    (lambda x: np.fft.fft2(x, norm="ortho") * MASK, (0, 1)),
    # u is read again after the first transform, whose result may share its memory (an
    # executor knows only that FFTs are not views): neither transform overwrites it
    (_two_transforms_of_one_product, (0, 0)),
], ids=["mri", "program-input", "read-again"])
@pytest.mark.parametrize("adjoint", [False, True], ids=["forward", "adjoint"])
def test_transforms_overwrite_only_dead_buffers_of_the_plan_with_identical_results(
        monkeypatch, executor, fun, overwrites, adjoint):
    program = linop.trace(fun, np.zeros((16, 12), complex))
    if adjoint:
        program = linop.transpose(program)
    plan = _plan(executor, program)
    v = _inputs(program, 3)
    given = v.copy()
    got = plan.run(v)
    np.testing.assert_array_equal(v, given)  # the user's input is never overwritten
    assert len(_overwriting_calls(plan.run)) == overwrites[adjoint]
    if executor == "numba":
        assert len(plan.overwritten) == overwrites[adjoint]
    monkeypatch.setattr(fft_primitives.FFT, "overwrite_impl", False)
    monkeypatch.setattr(fft_primitives.FFT, "emit_inplace", linop.core.Primitive.emit_inplace)
    plain = _plan(executor, program)
    assert not _overwriting_calls(plain.run)
    for a, b in zip(got, plain.run(v)):
        np.testing.assert_array_equal(a, b)  # bit for bit what the non-overwriting plan gives
    np.testing.assert_allclose(got[0], program.call_flat([v], "numpy")[0], rtol=1e-13,
                               atol=1e-13)


@needs_numba
@pytest.mark.parametrize("adjoint", [False, True], ids=["forward", "adjoint"])
def test_threaded_variants_overwrite_too_and_plans_run_from_threads_at_once(monkeypatch,
                                                                           adjoint):
    program = linop.trace(_mri, np.zeros((16, 12), complex))
    if adjoint:
        program = linop.transpose(program)
    plan = _plans_with_library_threads(monkeypatch, program)
    runs = plan.library_choice.runs if plan.library_choice is not None else (plan.run,)
    for run in runs:
        calls = _overwriting_calls(run)
        assert len(calls) == 1 and calls[0].keywords["overwrite_x"]
    inputs = [_inputs(program, k) for k in range(6)]
    given = [v.copy() for v in inputs]
    wants = [program.call_flat([v], "numpy")[0] for v in inputs]
    results = [None] * len(inputs)
    barrier = threading.Barrier(len(inputs))

    def work(k):
        barrier.wait()
        results[k] = [run(inputs[k])[0] for _ in range(5) for run in runs]

    run_in_threads(work, len(inputs))
    for got, want, v, g in zip(results, wants, inputs, given):
        np.testing.assert_array_equal(v, g)
        for r in got:
            np.testing.assert_allclose(r, want, rtol=1e-13, atol=1e-13)
        for r in got[1:]:
            np.testing.assert_array_equal(r, got[0])


@pytest.mark.parametrize("sign", [-1, 1])
@pytest.mark.parametrize("view", [False, True], ids=["contiguous", "strided"])
def test_transform_in_place_writes_the_transform_into_its_input(sign, view):
    x = rng.standard_normal((4, 10, 6)) + 1j * rng.standard_normal((4, 10, 6))
    if view:
        x = x[:, ::2]
    want = fft_primitives.fft_p.impl(x, axes=(1, 2), sign=sign, norm="ortho")
    fft_primitives.transform_in_place(x, axes=(1, 2), sign=sign, norm="ortho")
    np.testing.assert_array_equal(x, want)
