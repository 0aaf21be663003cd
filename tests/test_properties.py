"""Property-based tests: random chains of supported NumPy operations."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import chains
import linop
from linop.testing import check_transpose

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _slice(draw, n):
    start = draw(st.integers(-n, n))
    stop = draw(st.integers(-n - 1, n + 1))
    step = draw(st.sampled_from([1, 2, 3, -1, -2]))
    return slice(start, stop, step)


def _op(draw, shape, dtype):
    """Draw one operation valid for an array of ``shape``; return (name, function)."""
    nd = len(shape)
    choices = ["scale", "neg", "transpose", "flip", "reshape", "slice", "sum", "matmul",
               "concat", "broadcast", "where", "einsum_perm", "add_self", "index_int"]
    if np.issubdtype(dtype, np.complexfloating):
        choices += ["conj", "real_imag"]
    else:
        choices += ["to_complex"]
    name = draw(st.sampled_from(choices))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if name == "scale":
        c = rng.standard_normal(shape[-1:] if nd else ())
        return name, lambda x: x * c
    if name == "neg":
        return name, lambda x: -x
    if name == "transpose":
        return name, lambda x: x.T
    if name == "flip" and nd:
        ax = draw(st.integers(-nd, nd - 1))
        return name, lambda x: np.flip(x, ax)
    if name == "reshape" and nd:
        return name, lambda x: x.reshape(-1)
    if name == "slice" and nd and shape[0] > 0:
        sl = _slice(draw, shape[0])
        return name, lambda x: x[sl]
    if name == "sum" and nd:
        ax = draw(st.integers(-nd, nd - 1))
        keep = draw(st.booleans())
        return name, lambda x: x.sum(axis=ax, keepdims=keep)
    if name == "matmul" and nd:
        m = rng.standard_normal((draw(st.integers(1, 4)), shape[-1] if nd else 1))
        return name, lambda x: x @ m.T
    if name == "concat" and nd:
        return name, lambda x: np.concatenate([x, 2 * x], axis=-1)
    if name == "broadcast":
        return name, lambda x: np.broadcast_to(x, (2,) + tuple(shape))
    if name == "where" and nd:
        m = rng.standard_normal(shape) > 0
        return name, lambda x: np.where(m, x, -x)
    if name == "einsum_perm" and nd >= 2:
        return name, lambda x: np.einsum("ij...->ji...", x)
    if name == "add_self" and nd:
        return name, lambda x: x + x[::-1]
    if name == "index_int" and nd and shape[0] > 0:
        i = draw(st.integers(-shape[0], shape[0] - 1))
        return name, lambda x: x[i]
    if name == "conj":
        return name, np.conj
    if name == "real_imag":
        return name, lambda x: x.real - 2 * x.imag
    if name == "to_complex":
        return name, lambda x: x.astype(np.complex128) * (1 + 1j)
    return "neg", lambda x: -x


@SETTINGS
@given(chains.chains(_op))
def test_random_chain_matches_numpy_and_dense_oracle(chain):
    chains.check_chain(chain)


@SETTINGS
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), st.data())
def test_random_basic_indexing(shape, data):
    index = []
    for n in shape:
        kind = data.draw(st.sampled_from(["int", "slice", "none", "all"]))
        if kind == "int":
            index.append(data.draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            index.append(_slice(data.draw, n))
        elif kind == "none":
            index.extend([None, slice(None)])
        else:
            index.append(Ellipsis if Ellipsis not in index else slice(None))
    index = tuple(index)
    fun = lambda x: x[index]
    spec = linop.ShapeDtype(shape, np.float64)
    x = np.arange(np.prod(shape), dtype=float).reshape(shape)
    np.testing.assert_array_equal(linop.trace(fun, spec)(x), x[index])
    check_transpose(fun, spec)

    def write(x):
        y = np.zeros_like(x)
        y[index] = 2 * x[index]
        return y

    np.testing.assert_array_equal(linop.trace(write, spec)(x), write(x))
    check_transpose(write, spec)


# -- chains through the NumPy functions and the SciPy mirrors of linop.scipy ------------------
import scipy.fft  # noqa: E402
import scipy.linalg  # noqa: E402
import scipy.ndimage  # noqa: E402
import scipy.signal  # noqa: E402

import linop.scipy.fft as lfft  # noqa: E402
import linop.scipy.linalg as llinalg  # noqa: E402
import linop.scipy.ndimage as lnd  # noqa: E402
import linop.scipy.signal as lsignal  # noqa: E402

PAD_MODES = ["constant", "edge", "reflect", "symmetric", "wrap"]
NDIMAGE_MODES = ["reflect", "nearest", "mirror", "wrap", "constant", "grid-wrap", "grid-mirror"]


def _same_call(fn):
    """An op that is the same call on NumPy arrays and on traced ones (NumPy functions)."""
    return fn, fn


def _library_op(draw, shape, dtype):
    """Draw one NumPy-function or SciPy-mirror op valid for ``shape``; return
    ``(name, reference, traced)``: the reference runs NumPy/SciPy itself, ``traced`` the
    function a user would call in a model (NumPy's own name, or linop's SciPy mirror)."""
    nd = len(shape)
    real = not np.issubdtype(dtype, np.complexfloating)
    ax = draw(st.integers(-nd, nd - 1))
    n = shape[ax]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    choices = ["cumsum", "append", "delete", "insert", "pad", "roll", "fft", "dct", "nansum",
               "trapezoid", "solve", "lfilter"]
    choices += ["gradient", "diff"] if n >= 3 else []
    choices += ["savgol", "filtfilt"] if n >= 7 else []
    if real:
        choices += ["gaussian", "uniform", "shift", "correlate1d"]
    name = draw(st.sampled_from(choices))
    if name == "cumsum":
        return (name, *_same_call(lambda x: np.cumsum(x, axis=ax)))
    if name == "append":
        return (name, *_same_call(lambda x: np.append(x, 2 * x, axis=ax)))
    if name == "delete":
        i = draw(st.integers(-n, n - 1))
        return (name, *_same_call(lambda x: np.delete(x, i, axis=ax)))
    if name == "insert":
        i = draw(st.integers(0, n))
        return (name, *_same_call(lambda x: np.insert(x, i, 0.0, axis=ax)))
    if name == "pad":
        mode = draw(st.sampled_from(PAD_MODES))
        width = draw(st.integers(0, 2)) if mode in ("reflect", "symmetric") and n < 3 else 1
        if mode == "reflect" and n == 1:
            mode = "constant"
        return (name, *_same_call(lambda x: np.pad(x, width, mode=mode)))
    if name == "roll":
        s = draw(st.integers(-5, 5))
        return (name, *_same_call(lambda x: np.roll(x, s, axis=ax)))
    if name == "fft":
        norm = draw(st.sampled_from([None, "ortho", "forward"]))
        return (name, *_same_call(lambda x: np.fft.fft(x, axis=ax, norm=norm)))
    if name == "dct":
        kind = draw(st.integers(1, 4)) if n > 1 else 2
        norm = draw(st.sampled_from([None, "ortho"]))
        return (name, lambda x: scipy.fft.dct(x, type=kind, norm=norm, axis=ax),
                lambda x: lfft.dct(x, type=kind, norm=norm, axis=ax))
    if name == "nansum":
        return (name, *_same_call(lambda x: np.nansum(x, axis=ax, keepdims=True)))
    if name == "trapezoid":
        dx = float(draw(st.sampled_from([0.5, 1.0, 2.0])))
        return (name, *_same_call(lambda x: np.trapezoid(x, dx=dx, axis=ax)))
    if name == "solve":
        a = rng.standard_normal((shape[0], shape[0])) + shape[0] * np.eye(shape[0])
        return (name, lambda x: scipy.linalg.solve(a, x), lambda x: llinalg.solve(a, x))
    if name == "lfilter":
        b, a = rng.standard_normal(3), np.array([1.0, -0.5])
        return (name, lambda x: scipy.signal.lfilter(b, a, x, axis=ax),
                lambda x: lsignal.lfilter(b, a, x, axis=ax))
    if name == "gradient":
        order = draw(st.integers(1, 2))
        return (name, *_same_call(lambda x: np.gradient(x, 0.5, axis=ax, edge_order=order)))
    if name == "diff":
        times = draw(st.integers(1, 2))
        return (name, *_same_call(lambda x: np.diff(x, n=times, axis=ax)))
    if name == "savgol":
        mode = draw(st.sampled_from(["interp", "mirror", "nearest", "constant", "wrap"]))
        return (name, lambda x: scipy.signal.savgol_filter(x, 5, 2, axis=ax, mode=mode),
                lambda x: lsignal.savgol_filter(x, 5, 2, axis=ax, mode=mode))
    if name == "filtfilt":
        b, a = scipy.signal.butter(2, 0.3)
        return (name, lambda x: scipy.signal.filtfilt(b, a, x, axis=ax, padlen=n - 1),
                lambda x: lsignal.filtfilt(b, a, x, axis=ax, padlen=n - 1))
    mode = draw(st.sampled_from(NDIMAGE_MODES))
    if name == "gaussian":
        return (name, lambda x: scipy.ndimage.gaussian_filter(x, 0.8, mode=mode),
                lambda x: lnd.gaussian_filter(x, 0.8, mode=mode))
    if name == "uniform":
        return (name, lambda x: scipy.ndimage.uniform_filter(x, 3, mode=mode),
                lambda x: lnd.uniform_filter(x, 3, mode=mode))
    if name == "shift":
        order = draw(st.integers(0, 5))
        return (name, lambda x: scipy.ndimage.shift(x, 0.4, order=order, mode=mode),
                lambda x: lnd.shift(x, 0.4, order=order, mode=mode))
    w = rng.standard_normal(draw(st.integers(1, 4)))
    return (name, lambda x: scipy.ndimage.correlate1d(x, w, axis=ax, mode=mode),
            lambda x: lnd.correlate1d(x, w, axis=ax, mode=mode))


@SETTINGS
@given(chains.chains(_library_op, ndims=(1, 2), extent=(1, 8), max_steps=4, max_size=300,
                     accepts=lambda value: value.ndim > 0))
def test_random_library_chain_matches_numpy_scipy_and_dense_oracle(chain):
    chains.check_chain(chain, rtol=1e-10)
