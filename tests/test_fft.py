"""numpy.fft on traced arrays: every transform, n/s, axes and norm, against NumPy and the dense oracle."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import linop
from harness import ALL, REAL, Case, case_id, check_all
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
