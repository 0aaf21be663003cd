"""linop.scipy.signal: every function, mode and operand position through the shared harness."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss

import linop
from linop.scipy import signal as ls
from harness import ALL, REAL, Case, case_id, check_all

rng = np.random.default_rng(42)
K1 = rng.standard_normal(3)
K1C = K1 + 1j * rng.standard_normal(3)
K1_LONG = rng.standard_normal(9)
K2 = rng.standard_normal((2, 3))
K2C = K2 + 1j * rng.standard_normal((2, 3))
K2_BIG = rng.standard_normal((6, 7))
B, A = np.array([0.5, 0.3, 0.2]), np.array([1.0, -0.4, 0.1])
B4, A2 = np.array([1.0, -0.5, 0.25, 0.1]), np.array([2.0, 0.3])
SOS = ss.butter(4, 0.3, output="sos")

CASES = []


def _conv_rows():
    for fname in ("convolve", "correlate"):
        methods = ("direct", "fft", "auto")
        for mode in ("full", "same", "valid"):
            for method in methods:
                for kname, k, kshape in (("k", K1, (7,)), ("kc", K1C, (7,)), ("klong", K1_LONG, (5,)),
                                         ("k2", K2, (4, 5)), ("k2big", K2_BIG, (4, 5))):
                    if method == "auto" and kname not in ("k2", "klong"):
                        continue  # 'auto' only picks one of the other two methods
                    f = getattr(ls, fname)
                    CASES.append(Case(f"{fname}-{mode}-{method}-{kname}-x1",
                                      lambda x, f=f, k=k, mode=mode, method=method: f(x, k, mode, method),
                                      (kshape,)))
                    CASES.append(Case(f"{fname}-{mode}-{method}-{kname}-x2",
                                      lambda x, f=f, k=k, mode=mode, method=method: f(k, x, mode, method),
                                      (kshape,), c_linear=fname == "convolve"))
    for fname in ("fftconvolve", "oaconvolve"):
        f = getattr(ls, fname)
        for mode in ("full", "same", "valid"):
            CASES.append(Case(f"{fname}-{mode}-x1", lambda x, f=f, mode=mode: f(x, K2, mode), ((4, 5),)))
            CASES.append(Case(f"{fname}-{mode}-x2", lambda x, f=f, mode=mode: f(K2_BIG, x, mode), ((4, 5),)))
            CASES.append(Case(f"{fname}-{mode}-axes", lambda x, f=f, mode=mode: f(x, K1[None, :], mode, axes=1),
                              ((3, 6),)))
            CASES.append(Case(f"{fname}-{mode}-axes-bcast",
                              lambda x, f=f, mode=mode: f(x, K2_BIG[:2], mode, axes=[-1]), ((1, 8),)))


def _conv2d_rows():
    for fname in ("convolve2d", "correlate2d"):
        f = getattr(ls, fname)
        for mode in ("full", "same", "valid"):
            for boundary in ("fill", "wrap", "symm"):
                for kname, k in (("k", K2), ("kc", K2C), ("kbig", K2_BIG)):
                    # correlate2d swaps its operands in 'valid' mode when the kernel is larger,
                    # and so conjugates the traced one: only real-linear then.
                    swapped = fname == "correlate2d" and mode == "valid" and kname == "kbig"
                    CASES.append(Case(f"{fname}-{mode}-{boundary}-{kname}-x1",
                                      lambda x, f=f, k=k, m=mode, b=boundary: f(x, k, m, b), ((4, 5),),
                                      c_linear=not swapped))
                    CASES.append(Case(f"{fname}-{mode}-{boundary}-{kname}-x2",
                                      lambda x, f=f, k=k, m=mode, b=boundary: f(k, x, m, b), ((4, 5),),
                                      c_linear=fname == "convolve2d"))
            CASES.append(Case(f"{fname}-{mode}-fill7-x2",
                              lambda x, f=f, m=mode: f(K2, x, m, "fill", 7.0), ((4, 5),),
                              c_linear=fname == "convolve2d"))


def _filter_rows():
    for axis, shape in ((-1, (9,)), (0, (7, 3)), (1, (2, 6, 3))):
        CASES.append(Case(f"lfilter-axis{axis}-{len(shape)}d",
                          lambda x, axis=axis: ls.lfilter(B, A, x, axis=axis), (shape,)))
        CASES.append(Case(f"lfilter-long-b-axis{axis}-{len(shape)}d",
                          lambda x, axis=axis: ls.lfilter(B4, A2, x, axis=axis), (shape,)))
        CASES.append(Case(f"lfilter-fir-axis{axis}-{len(shape)}d",
                          lambda x, axis=axis: ls.lfilter(B4, 1.0, x, axis=axis), (shape,)))
        CASES.append(Case(f"lfilter-complexcoef-axis{axis}-{len(shape)}d",
                          lambda x, axis=axis: ls.lfilter(B + 0.5j, A, x, axis=axis), (shape,)))

        def zshape(shape, axis, k):
            s = list(shape)
            s[axis] = k
            return tuple(s)

        CASES.append(Case(f"lfilter-zi-axis{axis}-{len(shape)}d",
                          lambda x, axis=axis: ls.lfilter(B4, A2, x, axis=axis,
                                                          zi=np.zeros(zshape(x.shape, axis, 3))), (shape,)))
        CASES.append(Case(f"sosfilt-axis{axis}-{len(shape)}d",
                          lambda x, axis=axis: ls.sosfilt(SOS, x, axis=axis), (shape,), dtypes=REAL))
        CASES.append(Case(f"sosfilt-zi-axis{axis}-{len(shape)}d",
                          lambda x, axis=axis: ls.sosfilt(SOS, x, axis=axis,
                                                          zi=np.zeros((2,) + zshape(x.shape, axis, 2))),
                          (shape,), dtypes=REAL))
    CASES.append(Case("lfilter-zi-short-signal",
                      lambda x: ls.lfilter(B4, A2, x, zi=np.zeros(3)), ((2,),)))
    CASES.append(Case("sosfilt-complex", lambda x: ls.sosfilt(SOS, x), ((6,),), dtypes=ALL))


_conv_rows()
_conv2d_rows()
_filter_rows()


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_case(param):
    case, dtype = param
    check_all(case, dtype)


def test_plain_arrays_call_scipy():
    x = rng.standard_normal(8)
    assert np.array_equal(ls.convolve(x, K1), ss.convolve(x, K1))
    assert np.array_equal(ls.lfilter(B, A, x), ss.lfilter(B, A, x))
    assert np.array_equal(ls.convolve2d(x.reshape(2, 4), K2, boundary="wrap"),
                          ss.convolve2d(x.reshape(2, 4), K2, boundary="wrap"))


def test_program_prints_kernel_as_constant():
    text = str(linop.trace(lambda x: ls.convolve(x, K1_LONG), np.zeros(20)))
    assert "convolve_nd" in text and "c0:f64[9]" in text


def test_errors():
    x = linop.ShapeDtype((4, 5), np.float64)
    with pytest.raises(linop.NonLinearError):
        linop.trace(lambda x: ls.convolve(x, x), x)
    with pytest.raises(linop.AffineError, match="fillvalue"):
        linop.trace(lambda x: ls.convolve2d(x, K2, boundary="fill", fillvalue=1.0), x)
    with pytest.raises(linop.AffineError, match="zi"):
        linop.trace(lambda x: ls.lfilter(B, A, x, zi=np.ones((4, 2))), x)
    with pytest.raises(linop.NonLinearError, match="bilinear"):
        linop.trace(lambda x: ls.lfilter(x[0, :3], A, x), x)
    with pytest.raises(ValueError):  # SciPy's own error for a bad mode
        linop.trace(lambda x: ls.convolve(x, K2, mode="bogus"), x)
    with pytest.raises(ValueError):  # SciPy's own error: dimensionality mismatch
        linop.trace(lambda x: ls.convolve(x, K1), x)
    with pytest.raises(linop.UnsupportedFunctionError, match="axes"):
        linop.trace(lambda x: ls.fftconvolve(x, np.ones((4, 2)), axes=1), x)
