"""scipy.fft on traced arrays: SciPy's own functions (through its backend mechanism) and linop.scipy.fft."""
from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.fft

import linop
import linop.scipy.fft as lfft
from linop.testing import check_transpose

from harness import COMPLEX, REAL, Case, case_id, check_all

THIS_FILE = os.path.basename(__file__)
X = np.zeros(8)

CASES = [
    Case("fft-scipy-backend", lambda x: scipy.fft.fft(x, 8, axis=0, norm="ortho"), ((5, 3),)),
    Case("fft", lambda x: lfft.fft(x, norm="forward"), ((6,),)),
    Case("ifft", lambda x: lfft.ifft(x, 4), ((6,),)),
    Case("rfft", lambda x: lfft.rfft(x, axis=0), ((5, 2),), REAL),
    Case("irfft", lambda x: lfft.irfft(x, 7), ((4,),), COMPLEX),
    Case("hfft", lambda x: lfft.hfft(x), ((4,),), COMPLEX),
    Case("ihfft", lambda x: lfft.ihfft(x, norm="ortho"), ((6,),), REAL),
    Case("fft2", lambda x: lfft.fft2(x, s=(3, 5)), ((4, 4),)),
    Case("ifft2", lambda x: lfft.ifft2(x), ((3, 4),)),
    Case("rfft2", lambda x: lfft.rfft2(x), ((4, 4),), REAL),
    Case("irfft2", lambda x: lfft.irfft2(x, s=(4, 6)), ((4, 4),), COMPLEX),
    Case("fftn", lambda x: lfft.fftn(x, s=(5,)), ((2, 3),)),
    Case("ifftn", lambda x: lfft.ifftn(x, axes=(0, 2)), ((2, 3, 2),)),
    Case("rfftn", lambda x: lfft.rfftn(x, s=(-1, 4)), ((3, 3),), REAL),
    Case("irfftn", lambda x: lfft.irfftn(x), ((3, 3),), COMPLEX),
]


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_table(param):
    case, dtype = param
    check_all(case, dtype)


def _error(exc_type, fun, primal=X):
    with pytest.raises(exc_type) as info:
        linop.trace(fun, primal)
    msg = str(info.value)
    assert f"{THIS_FILE}:" in msg, f"no file:line of the user's code in: {msg}"
    return msg


RNG = np.random.default_rng(0)
A4x6 = RNG.normal(size=(4, 6))
C4x6 = A4x6 + 1j * RNG.normal(size=(4, 6))
SCIPY_FFT = [  # (id, function, primal)
    ("fft", lambda x: scipy.fft.fft(x), A4x6),
    ("fft_n_axis_norm", lambda x: scipy.fft.fft(x, 8, axis=0, norm="ortho"), C4x6),
    ("fft_keywords", lambda x: scipy.fft.fft(x=x, n=3, overwrite_x=True, workers=2), A4x6),
    ("ifft", lambda x: scipy.fft.ifft(x, norm="forward"), C4x6),
    ("rfft", lambda x: scipy.fft.rfft(x, 5), A4x6),
    ("irfft", lambda x: scipy.fft.irfft(x, 7), C4x6),
    ("hfft", lambda x: scipy.fft.hfft(x), C4x6),
    ("ihfft", lambda x: scipy.fft.ihfft(x), A4x6),
    ("fft2", lambda x: scipy.fft.fft2(x, s=(3, 8)), C4x6),
    ("ifft2", lambda x: scipy.fft.ifft2(x), C4x6),
    ("rfft2", lambda x: scipy.fft.rfft2(x), A4x6),
    ("irfft2", lambda x: scipy.fft.irfft2(x, s=(4, 6)), C4x6),
    ("fftn_s_without_axes", lambda x: scipy.fft.fftn(x, s=(5,)), C4x6),
    ("ifftn_axes", lambda x: scipy.fft.ifftn(x, axes=(0,)), C4x6),
    ("rfftn_minus_one", lambda x: scipy.fft.rfftn(x, s=(-1, 4)), A4x6),
    ("irfftn", lambda x: scipy.fft.irfftn(x), C4x6),
    ("float32", lambda x: scipy.fft.rfft(x), A4x6.astype(np.float32)),
    ("irfft_float16", lambda x: scipy.fft.irfft(x), A4x6.astype(np.float16)),
    ("linop.scipy.fft", lambda x: linop.scipy.fft.rfftn(x, s=(2, 2)), A4x6),
]


@pytest.mark.parametrize("name,fun,primal", SCIPY_FFT, ids=[c[0] for c in SCIPY_FFT])
def test_scipy_fft_on_tracers_matches_scipy(name, fun, primal):
    program = linop.trace(fun, primal)
    expected = fun(primal)
    got = program(primal)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    tol = 1e-2 if primal.dtype == np.float16 else 1e-5 if primal.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    if primal.dtype == np.float64 or primal.dtype == np.complex128:
        check_transpose(fun, primal)


def test_scipy_fft_refuses_what_scipy_refuses():
    with pytest.raises(ValueError, match="all axes must be unique"):
        linop.trace(lambda x: scipy.fft.fftn(x, axes=(0, 0)), A4x6)
    with pytest.raises(NotImplementedError, match="precomputed plan"):
        linop.trace(lambda x: scipy.fft.fft(x, plan=object()), A4x6)
    with pytest.raises(ValueError, match="workers must not be zero"):
        linop.trace(lambda x: scipy.fft.fft(x, workers=0), A4x6)


def test_scipy_fft_without_numpy_counterpart_is_a_clear_error():
    msg = _error(linop.UnsupportedFunctionError, lambda x: scipy.fft.dct(x))
    assert "scipy.fft.dct" in msg and "@linop.custom_linear" in msg


def test_scipy_fft_backend_only_inside_traces_and_only_for_tracers():
    before = scipy.fft.fft(A4x6)
    seen = []

    def f(x):
        seen.append(scipy.fft.fft(A4x6))  # a constant inside the trace: SciPy's own result
        return scipy.fft.fft(x)

    linop.trace(f, A4x6)
    np.testing.assert_array_equal(seen[0], before)
    assert isinstance(seen[0], np.ndarray)
    np.testing.assert_array_equal(scipy.fft.fft(A4x6), before)  # after the trace: untouched


def test_linop_scipy_fft_on_arrays_is_scipy():
    x = np.random.default_rng(1).normal(size=(4, 6))
    np.testing.assert_array_equal(lfft.rfft2(x, s=(3, 3)), scipy.fft.rfft2(x, s=(3, 3)))
    np.testing.assert_array_equal(lfft.irfft(x, 5, axis=0), scipy.fft.irfft(x, 5, axis=0))


# -- float16 data: every transform's result dtype is the reference's ----------------------
_FFT_NAMES = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2",
              "irfft2", "fftn", "ifftn", "rfftn", "irfftn"]
_AXES = [{}, {"axes": (0,)}, {"axes": (1, 0)}]
HALF_PRECISION = (
    [("np.fft", np.fft, name, kw) for name in _FFT_NAMES for kw in
     ([{}, {"axis": 0}] if name[-1] not in "2n" else _AXES + ([{"axes": (0, 0)}]
                                                             if name.endswith("n") else []))]
    + [(mod, namespace, name, kw) for mod, namespace in (("scipy.fft", scipy.fft),
                                                         ("linop.scipy.fft", lfft))
       for name in _FFT_NAMES for kw in ([{}, {"axis": 0}] if name[-1] not in "2n" else _AXES)])


@pytest.mark.parametrize("dtype", [np.float16, np.complex64])
@pytest.mark.parametrize("module,namespace,name,kw", HALF_PRECISION,
                         ids=[f"{m}.{n}{sorted(k.values())}" for m, _, n, k in HALF_PRECISION])
def test_half_precision_result_dtypes_are_the_references(module, namespace, name, kw, dtype):
    x = np.ones((4, 4), dtype)
    reference = np.fft if module == "np.fft" else scipy.fft
    try:
        want = getattr(reference, name)(x, **kw)
    except TypeError:  # a real-input transform of complex data
        with pytest.raises(TypeError):
            linop.trace(lambda t: getattr(namespace, name)(t, **kw), x)
        return
    prog = linop.trace(lambda t: getattr(namespace, name)(t, **kw), x)
    assert prog.out_avals[0].dtype == want.dtype
    np.testing.assert_allclose(prog(x), want, rtol=1e-2, atol=1e-2)


# -- SciPy's argument checks, with SciPy's exceptions ------------------------------------
C44 = np.ones((4, 4)) + 1j
ARGUMENT_CHECKS = [  # (transform, data, keywords)
    ("rfftn", np.ones((4, 4)), {"axes": ()}),
    ("irfftn", C44, {"axes": ()}),
    ("rfft2", np.ones((4, 4)), {"axes": ()}),
    ("irfft2", C44, {"axes": ()}),
    ("fft", np.ones(4), {"workers": -100}),
    ("fftn", np.ones(4), {"workers": -(os.cpu_count() + 1)}),
    ("fft", np.ones(4), {"workers": 0}),
    ("rfft", C44, {}),
    ("ihfft", C44, {}),
    ("rfftn", C44, {}),
    ("rfft2", C44, {}),
    ("fft", np.ones(4), {"norm": "bad"}),
    ("rfftn", np.ones(4), {"norm": "bad"}),
    ("fft", np.ones(4), {"n": 0}),
    ("irfft", C44, {"n": -1}),
]


@pytest.mark.parametrize("via", ["scipy.fft", "linop.scipy.fft"])
@pytest.mark.parametrize("name,data,kw", ARGUMENT_CHECKS,
                         ids=[f"{n}-{sorted(k.items())}" for n, _, k in ARGUMENT_CHECKS])
def test_argument_checks_are_scipys(name, data, kw, via):
    namespace = scipy.fft if via == "scipy.fft" else lfft
    with pytest.raises(Exception) as want:
        getattr(scipy.fft, name)(data, **kw)
    with pytest.raises(want.type) as got:
        linop.trace(lambda t: getattr(namespace, name)(t, **kw), data)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("workers", [-1, -os.cpu_count(), 1, 64])
def test_workers_scipy_accepts_are_accepted(workers):
    x = np.arange(8.0)
    prog = linop.trace(lambda t: scipy.fft.fft(t, workers=workers), x)
    np.testing.assert_allclose(prog(x), scipy.fft.fft(x, workers=workers))
