"""linop.scipy.signal, filtering and spectral functions: every function and option through the harness.

Each row runs forward == SciPy on random inputs (values and dtypes), the dense-oracle
transpose, the double transpose and vmap == loop.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal as ss

import linop
from linop.scipy import signal as ls
from harness import ALL, REAL, Case, assert_tree_close, case_id, check_all, random_args

rng = np.random.default_rng(7)
B, A = np.array([0.5, 0.3, 0.2]), np.array([1.0, -0.4, 0.1])
B4, A2 = np.array([1.0, -0.5, 0.25, 0.1]), np.array([2.0, 0.3])
FIR = np.array([0.2, 0.5, 0.3])
SOS = ss.butter(4, 0.3, output="sos")
SOS1 = ss.butter(2, 0.3, output="sos")
X7 = rng.standard_normal(7)
X63 = rng.standard_normal((6, 3))
H5 = rng.standard_normal(5)
WIN8 = rng.uniform(0.5, 1.0, 8)

CASES = []


def row(name, fun, specs, dtypes=ALL, c_linear=True):
    CASES.append(Case(name, fun, specs, dtypes, c_linear))


def _lfilter_rows():
    row("lfilter-b-traced", lambda b: ls.lfilter(b, A, X7), ((3,),))
    row("lfilter-b-long-traced-axis0", lambda b: ls.lfilter(b, A2, X63, axis=0), ((4,),))
    row("lfilter-b-traced-zi-zero", lambda b: ls.lfilter(b, A, X7, zi=np.zeros(2)), ((3,),))
    row("lfilter-b-traced-zi-zero-axis0",
        lambda b: ls.lfilter(b, A2, X63, axis=0, zi=np.zeros((3, 3))), ((4,),))
    row("lfilter-b-and-zi-traced", lambda b, zi: ls.lfilter(b, A, X7, zi=zi), ((3,), (2,)))
    row("lfilter-x-and-zi-traced", lambda x, zi: ls.lfilter(B, A, x, zi=zi), ((7,), (2,)))
    row("lfilter-x-zi-broadcast-axis0", lambda x, zi: ls.lfilter(B4, A2, x, axis=0, zi=zi),
        ((6, 3), (3, 1)))
    row("lfilter-x-zi-axis-neg2", lambda x, zi: ls.lfilter(B, A, x, axis=-2, zi=zi),
        ((2, 5, 3), (2, 2, 3)))
    row("lfilter-zi-only", lambda zi: ls.lfilter(B, A, np.zeros(6), zi=zi), ((2,),))
    row("lfilter-zi-short-signal", lambda x, zi: ls.lfilter(B4, A2, x, zi=zi), ((2,), (3,)))
    row("lfilter-fir-zi", lambda x, zi: ls.lfilter(B4, 1.0, x, zi=zi), ((5,), (3,)))
    row("sosfilt-zi-traced", lambda x, zi: ls.sosfilt(SOS, x, zi=zi), ((7,), (2, 2)))
    row("sosfilt-zi-traced-axis0", lambda x, zi: ls.sosfilt(SOS, x, axis=0, zi=zi),
        ((6, 2), (2, 2, 2)))
    row("sosfilt-zi-only", lambda zi: ls.sosfilt(SOS, np.zeros(5), zi=zi), ((2, 2),))


def _filtfilt_rows():
    for padtype in ("odd", "even", "constant", None):
        row(f"filtfilt-{padtype}", lambda x, p=padtype: ls.filtfilt(B, A, x, padtype=p), ((12,),))
        row(f"sosfiltfilt-{padtype}", lambda x, p=padtype: ls.sosfiltfilt(SOS, x, padtype=p),
            ((17,),))
    row("filtfilt-padlen", lambda x: ls.filtfilt(B4, A2, x, padlen=3), ((8,),))
    row("filtfilt-padlen0", lambda x: ls.filtfilt(B, A, x, padlen=0), ((5,),))
    row("filtfilt-complex-coefficients", lambda x: ls.filtfilt(B + 0.5j, A, x), ((12,),))
    row("filtfilt-fir-axis0", lambda x: ls.filtfilt(FIR, 1.0, x, axis=0), ((10, 2),))
    row("filtfilt-axis-neg2", lambda x: ls.filtfilt(B, A, x, axis=-2, padlen=2), ((2, 5, 3),))
    row("filtfilt-gust", lambda x: ls.filtfilt(B, A, x, method="gust"), ((9,),))
    row("filtfilt-gust-irlen", lambda x: ls.filtfilt(B, A, x, method="gust", irlen=3), ((10,),))
    row("filtfilt-gust-axis0", lambda x: ls.filtfilt(B4, A2, x, axis=0, method="gust"), ((7, 2),))
    row("filtfilt-gust-order0", lambda x: ls.filtfilt([2.0], [4.0], x, method="gust"), ((4,),))
    row("sosfiltfilt-padlen-axis0", lambda x: ls.sosfiltfilt(SOS1, x, axis=0, padlen=2), ((5, 3),))


def _savgol_rows():
    for mode in ("interp", "mirror", "constant", "nearest", "wrap"):
        row(f"savgol-{mode}", lambda x, m=mode: ls.savgol_filter(x, 5, 2, mode=m), ((9,),), REAL)
    row("savgol-deriv-delta", lambda x: ls.savgol_filter(x, 5, 3, deriv=1, delta=0.5), ((8,),), REAL)
    row("savgol-deriv2-mirror", lambda x: ls.savgol_filter(x, 7, 3, deriv=2, mode="mirror"),
        ((9,),), REAL)
    row("savgol-even-window", lambda x: ls.savgol_filter(x, 4, 2, mode="nearest"), ((8,),), REAL)
    row("savgol-even-window-interp", lambda x: ls.savgol_filter(x, 6, 2), ((8,),), REAL)
    row("savgol-axis0", lambda x: ls.savgol_filter(x, 5, 1, axis=0), ((6, 2),), REAL)
    row("savgol-axis0-wrap", lambda x: ls.savgol_filter(x, 3, 1, axis=0, mode="wrap"), ((6, 2),),
        REAL)
    row("savgol-window-equals-length", lambda x: ls.savgol_filter(x, 5, 2), ((5,),), REAL)
    row("savgol-complex-takes-real-part", lambda x: ls.savgol_filter(x, 5, 2), ((7,),),
        (np.complex128,), c_linear=False)


def _multirate_rows():
    for q, ftype, zp, n in ((2, "iir", True, 2), (2, "iir", False, None), (3, "fir", True, 6),
                            (2, "fir", False, None)):
        row(f"decimate-{ftype}-q{q}-zp{zp}-n{n}",
            lambda x, q=q, f=ftype, z=zp, n=n: ls.decimate(x, q, n=n, ftype=f, zero_phase=z),
            ((13,),))
    row("decimate-axis0", lambda x: ls.decimate(x, 2, n=2, axis=0), ((12, 2),))
    row("decimate-dlti-fir", lambda x: ls.decimate(x, 2, ftype=ss.dlti(FIR, [1.0]), zero_phase=False),
        ((9,),))
    row("decimate-dlti-iir", lambda x: ls.decimate(x, 2, ftype=ss.dlti(B, A)), ((12,),))
    row("decimate-dlti-complex-poles",
        lambda x: ls.decimate(x, 2, ftype=ss.dlti([1.0], [1.0, -0.5, 0.5]), zero_phase=False),
        ((8,),))
    for up, down in ((3, 2), (1, 3), (2, 1), (2, 4)):
        row(f"upfirdn-x-{up}-{down}", lambda x, u=up, d=down: ls.upfirdn(H5, x, u, d), ((6,),))
        row(f"upfirdn-h-{up}-{down}", lambda h, u=up, d=down: ls.upfirdn(h, X63, u, d, axis=0),
            ((4,),))
    for mode in ("constant", "wrap", "edge", "smooth", "symmetric", "reflect", "antisymmetric",
                 "antireflect", "line"):
        row(f"upfirdn-mode-{mode}", lambda x, m=mode: ls.upfirdn(H5, x, 2, 3, mode=m), ((7,),))
        row(f"upfirdn-mode-{mode}-long-h", lambda x, m=mode: ls.upfirdn(H5, x, 1, 1, mode=m),
            ((3,),))
        row(f"upfirdn-mode-{mode}-long-signal", lambda x, m=mode: ls.upfirdn(H5, x, 1, 2, mode=m),
            ((20,),), (np.float64, np.complex128))
        row(f"upfirdn-h-traced-mode-{mode}", lambda h, m=mode: ls.upfirdn(h, X7, 2, 1, mode=m),
            ((3,),), (np.float64,))
    row("upfirdn-h-traced-cval", lambda h: ls.upfirdn(h, X7, 2, 1, mode="constant", cval=1.5),
        ((3,),))
    row("upfirdn-x-axis-neg2", lambda x: ls.upfirdn(H5, x, 2, 3, axis=-2), ((4, 3),))
    for up, down in ((3, 2), (1, 2), (2, 2)):
        row(f"resample_poly-{up}-{down}", lambda x, u=up, d=down: ls.resample_poly(x, u, d),
            ((7,),))
    for padtype in ("mean", "line", "wrap", "symmetric", "reflect", "edge", "smooth",
                    "antisymmetric", "antireflect"):
        row(f"resample_poly-padtype-{padtype}",
            lambda x, p=padtype: ls.resample_poly(x, 3, 2, padtype=p), ((7,),))
    row("resample_poly-window-array", lambda x: ls.resample_poly(x, 2, 3, window=H5), ((8,),))
    row("resample_poly-window-tuple-axis1",
        lambda x: ls.resample_poly(x, 2, 1, axis=1, window=("kaiser", 3.0)), ((2, 5),))
    row("resample_poly-window-traced", lambda w: ls.resample_poly(X7, 3, 2, window=w), ((5,),))


def _spectral_rows():
    for num, n in ((5, 8), (12, 8), (4, 7), (9, 7), (8, 8)):
        row(f"resample-{n}-to-{num}", lambda x, num=num: ls.resample(x, num), ((n,),))
    row("resample-axis1", lambda x: ls.resample(x, 6, axis=1), ((2, 4),))
    row("resample-window-str", lambda x: ls.resample(x, 5, window="hann"), ((8,),))
    row("resample-window-array", lambda x: ls.resample(x, 10, window=WIN8), ((8,),))
    row("resample-window-callable", lambda x: ls.resample(x, 6, window=lambda f: 1 - np.abs(f)),
        ((8,),))
    row("resample-with-t", lambda x: ls.resample(x, 6, t=np.arange(8.0))[0], ((8,),))
    row("resample-freq-domain", lambda x: ls.resample(x, 6, domain="freq"), ((8,),))
    for N in (None, 6, 7, 3):
        row(f"hilbert-N{N}", lambda x, N=N: ls.hilbert(x, N=N), ((5,),), REAL)
    row("hilbert-axis0", lambda x: ls.hilbert(x, axis=0), ((4, 2),), REAL)
    for kind in ("linear", "constant", "l", "c"):
        row(f"detrend-{kind}", lambda x, k=kind: ls.detrend(x, type=k), ((6,),))
    row("detrend-bp", lambda x: ls.detrend(x, bp=[2, 5]), ((8,),))
    row("detrend-bp-axis0", lambda x: ls.detrend(x, axis=0, bp=3, overwrite_data=True), ((7, 2),))
    row("detrend-bp-single-points", lambda x: ls.detrend(x, bp=[1, 2]), ((5,),))
    row("detrend-constant-axis0", lambda x: ls.detrend(x, axis=0, type="constant"), ((4, 3),))
    stft_options = {
        "default": dict(nperseg=8),
        "noverlap-nfft": dict(nperseg=6, noverlap=4, nfft=10),
        "window-array-psd": dict(window=WIN8, nperseg=None, scaling="psd", fs=3.0),
        "twosided": dict(nperseg=4, return_onesided=False),
        "boundary-even": dict(nperseg=4, boundary="even"),
        "boundary-odd-unpadded": dict(nperseg=5, boundary="odd", padded=False),
        "boundary-constant": dict(nperseg=4, boundary="constant"),
        "boundary-none": dict(nperseg=4, boundary=None),
        "detrend-constant": dict(nperseg=4, detrend="constant"),
        "detrend-linear": dict(nperseg=4, detrend="linear"),
        "detrend-callable": dict(nperseg=4, detrend=lambda d: d - d.mean(axis=-1, keepdims=True)),
        "nperseg1": dict(nperseg=1, noverlap=0),
        "window-tuple": dict(window=("tukey", 0.5), nperseg=6),
        "nperseg-longer-than-x": dict(nperseg=16, noverlap=3),
    }
    for name, kw in stft_options.items():
        dtypes = REAL if name != "twosided" else ALL
        row(f"stft-{name}", lambda x, kw=kw: ls.stft(x, **kw)[2], ((11,),), dtypes)
    row("stft-complex-twosided", lambda x: ls.stft(x, nperseg=4, return_onesided=False)[2], ((9,),))
    row("stft-axis0", lambda x: ls.stft(x, nperseg=4, axis=0)[2], ((9, 2),), REAL)
    row("stft-axis1-of-3", lambda x: ls.stft(x, nperseg=4, axis=1, detrend="linear")[2],
        ((2, 9, 2),), REAL)
    istft_options = {
        "default": (dict(nperseg=8), (5, 4)),
        "noverlap": (dict(nperseg=6, noverlap=2), (4, 5)),
        "nfft": (dict(nperseg=6, nfft=8), (5, 3)),
        "psd-window": (dict(window=WIN8, scaling="psd", fs=2.0), (5, 4)),
        "no-boundary": (dict(nperseg=4, boundary=False), (3, 5)),
        "twosided": (dict(input_onesided=False), (4, 5)),
    }
    # A one-sided inverse (irfft) reads only the Hermitian part of Zxx: real-linear.
    for name, (kw, shape) in istft_options.items():
        row(f"istft-{name}", lambda z, kw=kw: ls.istft(z, **kw)[1], (shape,),
            c_linear=name == "twosided")
    row("istft-axes-swapped", lambda z: ls.istft(z, nperseg=4, time_axis=0, freq_axis=1)[1],
        ((4, 3),), c_linear=False)
    row("istft-batched", lambda z: ls.istft(z, nperseg=4)[1], ((2, 3, 4),), c_linear=False)


_lfilter_rows()
_filtfilt_rows()
_savgol_rows()
_multirate_rows()
_spectral_rows()


def check_vmap(case, dtype):
    """``linop.vmap(fun)`` on a batch of two equals the loop over the examples."""
    primals = case.primals(dtype)
    examples = [random_args(primals, seed=s) for s in (3, 4)]
    batched = [np.stack(parts) for parts in zip(*examples)]
    got = linop.vmap(case.fun)(*batched)
    outs = [case.fun(*e) for e in examples]
    want = tuple(np.stack(p) for p in zip(*outs)) if isinstance(outs[0], tuple) else np.stack(outs)
    rtol = 1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-10
    assert_tree_close(got, want, rtol)


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_case(param):
    case, dtype = param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        check_all(case, dtype)
        check_vmap(case, dtype)


def test_constant_outputs_are_scipys():
    want = ss.stft(np.zeros(11), nperseg=4)
    seen = {}

    def capture(v):
        seen["f"], seen["t"], z = ls.stft(v, nperseg=4)
        return z

    linop.trace(capture, linop.ShapeDtype((11,), np.float64))
    assert np.array_equal(seen["f"], want[0]) and np.array_equal(seen["t"], want[1])

    def capture_resample(v):
        y, seen["t_new"] = ls.resample(v, 6, t=np.arange(8.0))
        return y

    linop.trace(capture_resample, linop.ShapeDtype((8,), np.float64))
    assert np.array_equal(seen["t_new"], ss.resample(np.zeros(8), 6, t=np.arange(8.0))[1])

    def capture_istft(z):
        seen["t_x"], x = ls.istft(z, nperseg=8)
        return x

    linop.trace(capture_istft, linop.ShapeDtype((5, 4), np.complex128))
    assert np.array_equal(seen["t_x"], ss.istft(np.zeros((5, 4), complex), nperseg=8)[0])


def test_plain_arrays_call_scipy():
    x = rng.standard_normal(20)
    assert np.array_equal(ls.filtfilt(B, A, x), ss.filtfilt(B, A, x))
    assert np.array_equal(ls.upfirdn(H5, x, 2, 3), ss.upfirdn(H5, x, 2, 3))
    assert np.array_equal(ls.hilbert(x), ss.hilbert(x))
    assert np.array_equal(ls.stft(x, nperseg=8)[2], ss.stft(x, nperseg=8)[2])


def _refused(exc, fun, *specs, match=None):
    primals = [linop.ShapeDtype(s, np.float64) for s in specs]
    with pytest.raises(exc, match=match) as info:
        linop.trace(fun, *primals)
    assert "test_scipy_signal_more.py:" in str(info.value), str(info.value)


REFUSED = [  # (id, exception, function, shapes, match)
    ("lfilter-b-and-x", linop.NonLinearError, lambda x: ls.lfilter(x[:3], A, x), ((7,),), "bilinear"),
    ("lfilter-a", linop.NonLinearError, lambda x: ls.lfilter(B, x[:3], X7), ((7,),), "'a'"),
    ("lfilter-zi-nonzero", linop.AffineError, lambda x: ls.lfilter(B, A, x, zi=np.ones(2)),
     ((7,),), "zi"),
    ("lfilter-zi-traced-x-nonzero", linop.AffineError, lambda zi: ls.lfilter(B, A, X7, zi=zi),
     ((2,),), "constant signal"),
    ("sosfilt-sos", linop.NonLinearError, lambda x: ls.sosfilt(np.ones((1, 6)) * x[0], x),
     ((7,),), "'sos'"),
    ("sosfilt-zi-nonzero", linop.AffineError, lambda x: ls.sosfilt(SOS, x, zi=np.ones((2, 2))),
     ((7,),), "zi"),
    ("filtfilt-b", linop.NonLinearError, lambda x: ls.filtfilt(x[:3], A, X7 * np.ones(12)[:7]),
     ((12,),), "'b'"),
    ("savgol-cval", linop.AffineError,
     lambda x: ls.savgol_filter(x, 5, 2, mode="constant", cval=1.0), ((9,),), "savgol_filter"),
    ("upfirdn-h-and-x", linop.NonLinearError, lambda x: ls.upfirdn(x[:3], x), ((7,),), "bilinear"),
    ("upfirdn-reflect-one-sample", linop.InvalidArgumentError,
     lambda x: ls.upfirdn(H5, x, 2, 1, mode="reflect"), ((3, 1),), "one sample"),
    ("upfirdn-antireflect-one-sample-h", linop.InvalidArgumentError,
     lambda h: ls.upfirdn(h, np.ones(1), 2, 1, mode="antireflect"), ((5,),), "one sample"),
    ("resample_poly-reflect-one-sample", linop.InvalidArgumentError,
     lambda x: ls.resample_poly(x, 2, 3, padtype="reflect"), ((1,),), "one sample"),
    ("upfirdn-cval", linop.AffineError, lambda x: ls.upfirdn(H5, x, mode="constant", cval=1.0),
     ((7,),), "cval"),
    ("resample_poly-median", linop.NonLinearError,
     lambda x: ls.resample_poly(x, 2, 3, padtype="median"), ((7,),), "median"),
    ("resample_poly-cval", linop.AffineError, lambda x: ls.resample_poly(x, 2, 3, cval=2.0),
     ((7,),), "cval"),
    ("resample_poly-x-and-window", linop.NonLinearError,
     lambda x: ls.resample_poly(x, 2, 3, window=x[:5]), ((7,),), "bilinear"),
    ("stft-nonlinear-detrend", linop.NonLinearError,
     lambda x: ls.stft(x, nperseg=4, detrend=lambda d: d * d)[2], ((9,),), None),
    ("resample-traced-t", linop.NonLinearError, lambda x: ls.resample(x, 4, t=x)[0], ((7,),), "'t'"),
]


@pytest.mark.parametrize("fun_id, exc, fun, specs, match", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused(fun_id, exc, fun, specs, match):
    _refused(exc, fun, *specs, match=match)


@pytest.mark.parametrize("fun", [
    lambda x: ls.filtfilt(B, A, x),                      # shorter than padlen
    lambda x: ls.hilbert(x + 0j),                        # complex input
    lambda x: ls.filtfilt(B, A, x, method="bogus"),
    lambda x: ls.savgol_filter(x, 9, 2),                 # interp window longer than x
    lambda x: ls.upfirdn(np.ones((2, 2)), x),            # 2-d filter
    lambda x: ls.stft(x, nperseg=4, noverlap=4)[2],
    lambda x: ls.resample(x, 4, domain="bogus"),
    lambda x: ls.detrend(x, bp=[-2]),                    # negative breakpoint
    lambda x: ls.detrend(x, bp=[7]),                     # breakpoint past the end
])
def test_scipys_own_errors(fun):
    with pytest.raises(ValueError):
        linop.trace(fun, linop.ShapeDtype((5,), np.float64))


@pytest.mark.parametrize("name", ls.__all__)
def test_errors_and_docs_name_the_public_module(name):
    # the functions live in private modules; users know them as linop.scipy.signal.*
    assert getattr(ls, name).__module__ == "linop.scipy.signal"


def test_a_traced_constant_argument_names_linop_scipy_signal():
    _refused(linop.NonLinearError, lambda x: ls.lfilter(B, x[:3], X7), (7,),
             match=r"linop\.scipy\.signal\.lfilter at ")
