"""IIR/FIR filtering of ``scipy.signal`` on traced arrays: lfilter, sosfilt, filtfilt,
sosfiltfilt, savgol_filter, detrend, and the signal extensions they pad with.

``lfilter(b, a, x, zi=zi)`` is ``y = conv(b, x) / a + R(zi)``: bilinear in
``(b, x)`` and linear in the initial state ``zi``. With ``a`` constant it is
linear in ``x`` and ``zi`` together (``b`` constant), or in ``b`` and ``zi``
together (``x`` constant); a constant term that is not zero makes the map
affine and is refused. ``filtfilt``/``sosfiltfilt`` start from initial states
proportional to the first sample of the (extended) signal, Gustafsson's method
from a least-squares fit of the states to the signal: both linear in ``x``.

Every function first runs SciPy on zeros in place of its traced arguments
(:func:`probe`): that validates the arguments with SciPy's own exceptions and
gives the exact output shapes and dtypes.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as _linalg
import scipy.signal as _sig

from ..core import is_tracer, zeros
from ..errors import AffineError, user_location
from ..numpy_api.util import nonlinear, to_dtype
from ..primitives import complex as C
from ..primitives.dot import dot, labels
from ..primitives.lfilter import lfilter as lfilter_primitive
from ..primitives.sparse_matmul import sparse_matmul
from . import ndimage
from ._boundary import weights_matrix
from ._calls import linear_in

__all__ = ["lfilter", "sosfilt", "filtfilt", "sosfiltfilt", "savgol_filter", "detrend",
           "filter_state", "sos_state", "probe", "cast_to", "extend", "apply_matrix", "any_traced",
           "real_part_dtype"]


# -- helpers shared by the signal modules -----------------------------------------------
def _zeros_for(x):
    """A zero array standing in for a tracer (constants are returned as they are)."""
    return np.zeros(x.shape, x.dtype) if is_tracer(x) else x


def probe(fn, *args, **kwargs):
    """SciPy's ``fn`` on zeros in place of tracers: validates, gives shapes and dtypes."""
    return fn(*(_zeros_for(a) for a in args), **{k: _zeros_for(v) for k, v in kwargs.items()})


def any_traced(*values) -> bool:
    """Whether any of ``values`` is a traced array."""
    return any(is_tracer(v) for v in values)


def cast_to(x, like, what):
    """``x`` (a tracer) with the dtype of the array ``like``, which SciPy returned."""
    if x.shape != like.shape:
        raise AssertionError(f"{what}: traced shape {x.shape} differs from SciPy's {like.shape}")
    if x.dtype == like.dtype:
        return x
    return to_dtype(x, like.dtype, what)


def real_part_dtype(dtype) -> np.dtype:
    """The real dtype of ``dtype`` (float32 for complex64)."""
    return C.real_dtype(dtype)


def apply_matrix(x, matrix, axis: int):
    """The constant matrix ``matrix`` (``m × n``) applied along axis ``axis`` of the tracer ``x``.

    The matrix is cast to ``x``'s dtype (``x`` is promoted first if the matrix is complex),
    so that single precision stays single precision.
    """
    matrix = np.asarray(matrix)
    if np.iscomplexobj(matrix) and not np.issubdtype(x.dtype, np.complexfloating):
        x = to_dtype(x, np.result_type(x.dtype, matrix.dtype), "a matrix product")
    nd = len(x.shape)
    x_sub = labels(0, nd)
    out_sub = x_sub[:axis] + labels(nd, nd + 1) + x_sub[axis + 1:]
    return dot(x, matrix.astype(x.dtype), x_sub, labels(nd, nd + 1) + x_sub[axis], out_sub)


def _last(x, start, stop=None, step=None):
    """``x[..., start:stop:step]`` for tracers and arrays."""
    return x[..., slice(start, stop, step)]


def _ext_last(x, n: int, kind: str):
    """SciPy's odd/even/const/zero extension by ``n`` samples at both ends of the last axis."""
    if n < 1:
        return x
    if kind == "zeros":
        width = [(0, 0)] * (len(x.shape) - 1) + [(n, n)]
        return np.pad(x, width)
    first, last = _last(x, 0, 1), _last(x, -1)
    if kind == "constant":
        shape = tuple(x.shape[:-1]) + (n,)
        return np.concatenate([np.broadcast_to(first, shape), x, np.broadcast_to(last, shape)], -1)
    left, right = _last(x, n, 0, -1), _last(x, -2, -(n + 2), -1)
    if kind == "odd":
        left, right = 2 * first - left, 2 * last - right
    return np.concatenate([left, x, right], -1)


def extend(x, n: int, kind: str, axis: int):
    """``scipy.signal``'s ``odd_ext``/``even_ext``/``const_ext``/``zero_ext`` of a tracer.

    Parameters
    ----------
    x : Tracer
    n : int
        Samples added at each end of ``axis`` (at most ``x.shape[axis] - 1`` for odd/even).
    kind : {"odd", "even", "constant", "zeros"}
    axis : int, non-negative
    """
    moved = np.moveaxis(x, axis, -1)
    return np.moveaxis(_ext_last(moved, n, kind), -1, axis)


def _along(v, k: int, axis: int):
    """Index ``k`` along ``axis`` (as a length-1 axis)."""
    index = [slice(None)] * len(v.shape)
    index[axis] = slice(k, k + 1 if k != -1 else None)
    return v[tuple(index)]


# -- lfilter with its state ---------------------------------------------------------------
def _normalised(coefs, a0, K, dtype):
    out = np.zeros(K + 1, dtype)
    out[:len(coefs)] = np.asarray(coefs, dtype) / a0
    return out


def _affine_error(what, term):
    return AffineError(
        f"{what} at {user_location()}: {term} is a non-zero constant, which makes the map "
        "affine, not linear. Make it zero (filter from a zero state, or subtract its response "
        "from your data outside the function), or trace it too.")


def _shifted_copies(v, count, axis):
    """``out[k] = v`` delayed by ``k`` samples along ``axis`` (zero-filled), ``k < count``."""
    n = v.shape[axis]
    out = np.zeros((count,) + v.shape, v.dtype)
    for k in range(min(count, n)):
        dst = [slice(None)] * v.ndim
        src = [slice(None)] * v.ndim
        dst[axis], src[axis] = slice(k, None), slice(0, n - k)
        out[(k,) + tuple(dst)] = v[tuple(src)]
    return out


def _contract_first(b, c):
    """``sum_k b[k] c[k, ...]`` for a traced 1-d ``b`` and a constant ``c``."""
    nd = c.ndim - 1
    rest = labels(1, 1 + nd)
    return dot(b, c.astype(b.dtype), labels(0, 1), labels(0, 1) + rest, rest)


def _forced_response(b, a, x, axis, dtype):
    """The zero-state response ``lfilter(b, a, x)`` with ``b`` or ``x`` traced."""
    if is_tracer(x):
        return lfilter_primitive(x, np.asarray(b, dtype), np.asarray(a, dtype), axis)
    # b traced: y[n] = sum_k b[k] v[n - k] with v = lfilter([1], a, x)
    v = np.asarray(_sig.lfilter(np.ones(1, dtype), np.asarray(a, dtype), np.asarray(x, dtype),
                                axis=axis), dtype)
    return _contract_first(b, _shifted_copies(v, b.shape[0], axis))


def _state_from_input(b, x, a0, K, axis, dtype):
    """``sum_m b[i+1+m] x[N-1-m] / a0``: the input's part of the final state."""
    N = x.shape[axis]
    i, m = np.meshgrid(np.arange(K), np.arange(N), indexing="ij")
    k = i + 1 + m
    if is_tracer(x):
        bn = _normalised(b, a0, K, dtype)
        keep = k <= K
        Bm = weights_matrix(i[keep], (N - 1 - m)[keep], bn[k[keep]], (K, N), dtype)
        return sparse_matmul(x, Bm, axis)
    # b traced: T[k][..., i] = x[..., N+i-k] for i+1 <= k <= i+N
    xs = np.moveaxis(np.asarray(x, dtype), axis, -1)
    T = np.zeros((b.shape[0],) + xs.shape[:-1] + (K,), dtype)
    for kk in range(b.shape[0]):
        for ii in range(K):
            if ii + 1 <= kk <= ii + N:
                T[kk, ..., ii] = xs[..., N + ii - kk]
    zf = _contract_first(b, np.moveaxis(T, -1, axis + 1)) * np.asarray(1 / a0, dtype)
    return zf


def _state_from_output(y, an, K, axis, dtype):
    """``-sum_m a[i+1+m] y[N-1-m]``: the output's part of the final state."""
    N = y.shape[axis]
    i, m = np.meshgrid(np.arange(K), np.arange(N), indexing="ij")
    k = i + 1 + m
    keep = k <= K
    Am = weights_matrix(i[keep], (N - 1 - m)[keep], -an[k[keep]], (K, N), dtype)
    return sparse_matmul(y, Am, axis)


def _state_carried(zi, N, K, axis):
    """``zi[i + N]`` (zero past the end): the part of the initial state still held after N samples."""
    if N >= K:
        return None
    moved = np.moveaxis(zi, axis, -1)
    width = [(0, 0)] * (len(moved.shape) - 1) + [(0, N)]
    return np.moveaxis(np.pad(moved[..., N:], width), -1, axis)


def _zero_input_response(zi, an, N, axis, dtype):
    """The response to the initial state alone: ``lfilter([1], a, zi padded to N)``."""
    K = zi.shape[axis]
    moved = np.moveaxis(zi, axis, -1)
    moved = moved[..., :N] if K >= N else np.pad(moved, [(0, 0)] * (len(moved.shape) - 1) + [(0, N - K)])
    w = np.moveaxis(moved, -1, axis)
    return lfilter_primitive(w, np.ones(1, dtype), an.astype(dtype), axis)


def _sum(*terms):
    present = [t for t in terms if t is not None]
    out = present[0]
    for t in present[1:]:
        out = out + t
    return out


def filter_state(b, a, x, axis, zi, dtype, what):
    """``scipy.signal.lfilter(b, a, x, axis, zi)`` with any linear combination traced.

    Parameters
    ----------
    b : array_like or Tracer, 1-d
    a : array_like, 1-d, constant
    x : array_like or Tracer
        Not traced together with ``b`` (that is bilinear).
    axis : int, non-negative
    zi : None, array_like or Tracer
        Of the expected shape up to singleton axes (SciPy's own check ran before).
    dtype : numpy dtype
        The output dtype (SciPy's).

    Returns
    -------
    (y, zf)
        ``zf`` is ``None`` when ``zi`` is.
    """
    a = np.atleast_1d(np.asarray(a))
    if not is_tracer(b):
        b = np.atleast_1d(np.asarray(b))
    K = max(len(a), b.shape[0]) - 1
    a0 = np.asarray(a[0], dtype)
    an = _normalised(a, a0, K, dtype)
    N = x.shape[axis]
    state_shape = list(np.shape(x))
    state_shape[axis] = K
    _refuse_constant_terms(b, a, x, zi, axis, state_shape, dtype, what)
    b, x = (to_dtype(v, dtype, what) if is_tracer(v) else v for v in (b, x))
    signal_traced = is_tracer(b) or is_tracer(x)
    if is_tracer(zi):
        zi = np.broadcast_to(to_dtype(zi, dtype, what), tuple(state_shape))
    y = _sum(_forced_response(b, a, x, axis, dtype) if signal_traced else None,
             _zero_input_response(zi, an, N, axis, dtype) if is_tracer(zi) else None)
    if zi is None:
        return y, None
    if K == 0:
        return y, zeros(tuple(state_shape), dtype)
    zf = _sum(_state_from_input(b, x, a0, K, axis, dtype) if signal_traced else None,
              _state_from_output(y, an, K, axis, dtype),
              _state_carried(zi, N, K, axis) if is_tracer(zi) else None)
    return y, zf


def _refuse_constant_terms(b, a, x, zi, axis, state_shape, dtype, what):
    """Refuse a non-zero constant part of ``lfilter``'s result (the map would be affine)."""
    if not (is_tracer(b) or is_tracer(x)):
        y0, zf0 = _sig.lfilter(b, a, x, axis=axis, zi=np.zeros(state_shape, dtype))
        if np.any(y0 != 0) or np.any(zf0 != 0):
            raise _affine_error(what, "the response to the constant signal x")
    if zi is not None and not is_tracer(zi) and np.any(np.asarray(zi) != 0):
        raise _affine_error(what, "the constant initial state zi")


def _ndim(x) -> int:
    return len(x.shape) if is_tracer(x) else np.ndim(x)


@linear_in("b", "x", "zi")
def lfilter(b, a, x, axis=-1, zi=None):
    """``scipy.signal.lfilter``, linear in whichever of ``b``, ``x`` and ``zi`` is traced.

    Parameters
    ----------
    b : array_like or Tracer
        Numerator coefficients; traced only with a constant ``x`` (``b`` and ``x``
        together are bilinear).
    a : array_like
        Constant denominator coefficients.
    x : array_like or Tracer
    axis : int
    zi : array_like or Tracer, optional
        Initial state; a constant one must be zero (else the map is affine).

    Returns
    -------
    y or (y, zf)
        As SciPy: ``(y, zf)`` when ``zi`` is given.
    """
    if not any_traced(b, x, zi):
        return _sig.lfilter(b, a, x, axis=axis, zi=zi)
    what = "scipy.signal.lfilter"
    if is_tracer(b) and is_tracer(x):
        raise nonlinear(what, "both b and x are traced, which is bilinear, not linear. Make one "
                              "of them a constant.")
    ref = probe(_sig.lfilter, b, a, x, axis=axis, zi=zi)
    y_ref = ref[0] if zi is not None else ref
    y, zf = filter_state(b, a, x, axis % _ndim(x), zi, y_ref.dtype, what)
    if zi is None:
        return cast_to(y, y_ref, what)
    return cast_to(y, y_ref, what), cast_to(zf, ref[1], what)


def sos_state(sos, x, axis, zi, dtype, what):
    """The cascade of second-order sections over :func:`filter_state`: ``(y, zf or None)``."""
    sos = np.asarray(sos, dtype)
    y, states = x, []
    for s, section in enumerate(sos):
        section_zi = None if zi is None else zi[s]
        y, zf = filter_state(section[:3], section[3:], y, axis, section_zi, dtype, what)
        states.append(zf)
    return y, (None if zi is None else np.stack(states))


@linear_in("x", "zi")
def sosfilt(sos, x, axis=-1, zi=None):
    """``scipy.signal.sosfilt`` (cascaded second-order sections), linear in ``x`` and ``zi``.

    Parameters
    ----------
    sos : array_like, shape (n_sections, 6)
        Constant sections.
    x : array_like or Tracer
    axis : int
    zi : array_like or Tracer, optional
        Shape ``(n_sections, ..., 2, ...)``; a constant one must be zero.

    Returns
    -------
    y or (y, zf)
    """
    if not any_traced(x, zi):
        return _sig.sosfilt(sos, x, axis=axis, zi=zi)
    what = "scipy.signal.sosfilt"
    ref = probe(_sig.sosfilt, sos, x, axis=axis, zi=zi)
    y_ref = ref[0] if zi is not None else ref
    y, zf = sos_state(sos, x, axis % _ndim(x), zi, y_ref.dtype, what)
    if zi is None:
        return cast_to(y, y_ref, what)
    return cast_to(y, y_ref, what), cast_to(zf, ref[1], what)


# -- forward-backward filtering -----------------------------------------------------------
def _edge(padtype, padlen, ntaps):
    if padtype is None:
        return 0
    return ntaps * 3 if padlen is None else int(padlen)


def _forward_backward(x, axis, edge, padtype, run):
    """Extend, filter forward from ``zi * x[0]``, backward from ``zi * y[-1]``, trim."""
    ext = extend(x, edge, padtype, axis) if padtype is not None and edge > 0 else x
    y = run(ext, _along(ext, 0, axis))
    y = np.flip(run(np.flip(y, axis), _along(y, -1, axis)), axis)
    if edge > 0:
        index = [slice(None)] * len(y.shape)
        index[axis] = slice(edge, -edge)
        y = y[tuple(index)]
    return y


def _gust(b, a, x, axis, irlen, dtype, what):
    """Gustafsson's forward-backward filter: initial states fitted to the data (linear in x)."""
    order = max(len(a), len(b)) - 1
    if order == 0:
        return x * np.asarray((b[0] / a[0]) ** 2, dtype)
    x = np.moveaxis(x, axis, -1)
    n = x.shape[-1]
    m = n if irlen is None or n <= 2 * irlen else irlen
    e0 = np.zeros(order)
    e0[0] = 1
    obs = np.zeros((m, order))
    obs[:, 0] = _sig.lfilter(b, a, np.zeros(m), zi=e0)[0]
    for k in range(1, order):
        obs[k:, k] = obs[:-k, 0]
    obs_r = obs[::-1]
    S = _sig.lfilter(b, a, obs[::-1], axis=0)
    S_r = S[::-1]
    fit = np.zeros((2 * m, 2 * order), np.result_type(S, obs))
    lift = np.zeros_like(fit)
    if m == n:
        fit, lift = np.hstack((S_r - obs, obs_r - S)), np.hstack((S_r, obs_r))
    else:
        fit[:m, :order], fit[m:, order:] = S_r - obs, obs_r - S
        lift[:m, :order], lift[m:, order:] = S_r, obs_r
    # lstsq's minimum-norm solution is linear in the right-hand side: ic = pinv(fit) delta
    P = _linalg.pinv(fit)
    last = len(x.shape) - 1

    def zero_state(v):
        return filter_state(b, a, v, last, None, dtype, what)[0]

    y_f = zero_state(x)
    y_fb = np.flip(zero_state(np.flip(y_f, -1)), -1)
    y_bf = zero_state(np.flip(zero_state(np.flip(x, -1)), -1))
    delta = y_bf - y_fb
    if m != n:
        delta = np.concatenate([delta[..., :m], delta[..., -m:]], -1)
    wic = apply_matrix(apply_matrix(delta, P, last), lift, last)
    if m == n:
        y = y_fb + wic
    else:
        gap = np.zeros_like(wic, shape=tuple(wic.shape[:-1]) + (n - 2 * m,))
        y = y_fb + np.concatenate([wic[..., :m], gap, wic[..., m:]], -1)
    return np.moveaxis(y, -1, axis)


@linear_in("x")
def filtfilt(b, a, x, axis=-1, padtype="odd", padlen=None, method="pad", irlen=None):
    """``scipy.signal.filtfilt``: zero-phase forward-backward filtering of a traced signal.

    Parameters
    ----------
    b, a : array_like
        Constant coefficients.
    x : array_like or Tracer
    axis : int
    padtype : {"odd", "even", "constant", None}
    padlen : int, optional
    method : {"pad", "gust"}
        ``"gust"`` fits the initial states by least squares, a linear map of ``x``.
    irlen : int, optional
        Impulse-response length for ``"gust"``.
    """
    if not is_tracer(x):
        return _sig.filtfilt(b, a, x, axis=axis, padtype=padtype, padlen=padlen, method=method,
                             irlen=irlen)
    what = "scipy.signal.filtfilt"
    ref = probe(_sig.filtfilt, b, a, x, axis=axis, padtype=padtype, padlen=padlen, method=method,
                irlen=irlen)
    dtype = ref.dtype
    ax = axis % len(x.shape)
    b, a = np.atleast_1d(np.asarray(b)), np.atleast_1d(np.asarray(a))
    x = to_dtype(x, dtype, what)
    if method == "gust":
        return cast_to(_gust(b, a, x, ax, irlen, dtype, what), ref, what)
    zi = _sig.lfilter_zi(b, a)
    shape = [1] * len(x.shape)
    shape[ax] = zi.size
    zi = np.reshape(zi, shape).astype(dtype)

    def run(v, first):
        return filter_state(b, a, v, ax, zi * first, dtype, what)[0]

    y = _forward_backward(x, ax, _edge(padtype, padlen, max(len(a), len(b))), padtype, run)
    return cast_to(y, ref, what)


@linear_in("x")
def sosfiltfilt(sos, x, axis=-1, padtype="odd", padlen=None):
    """``scipy.signal.sosfiltfilt``: zero-phase second-order-section filtering of a traced signal.

    Parameters
    ----------
    sos : array_like, shape (n_sections, 6)
    x : array_like or Tracer
    axis : int
    padtype : {"odd", "even", "constant", None}
    padlen : int, optional
    """
    if not is_tracer(x):
        return _sig.sosfiltfilt(sos, x, axis=axis, padtype=padtype, padlen=padlen)
    what = "scipy.signal.sosfiltfilt"
    ref = probe(_sig.sosfiltfilt, sos, x, axis=axis, padtype=padtype, padlen=padlen)
    dtype = ref.dtype
    ax = axis % len(x.shape)
    sos = np.atleast_2d(np.asarray(sos))
    ntaps = 2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    zi = _sig.sosfilt_zi(sos)
    shape = [1] * len(x.shape)
    shape[ax] = 2
    zi = zi.reshape([len(sos)] + shape).astype(dtype)
    x = to_dtype(x, dtype, what)

    def run(v, first):
        return sos_state(sos, v, ax, zi * first, dtype, what)[0]

    y = _forward_backward(x, ax, _edge(padtype, padlen, ntaps), padtype, run)
    return cast_to(y, ref, what)


# -- Savitzky-Golay, detrend ----------------------------------------------------------------
@linear_in("x")
def savgol_filter(x, window_length, polyorder, deriv=0, delta=1.0, axis=-1, mode="interp",
                  cval=0.0):
    """``scipy.signal.savgol_filter`` of a traced signal, every mode.

    Parameters
    ----------
    x : array_like or Tracer
        Complex input is cast to float64 as SciPy does (the real part: real-linear).
    window_length, polyorder, deriv : int
    delta : float
    axis : int
    mode : {"interp", "mirror", "constant", "nearest", "wrap"}
        ``"interp"`` fits polynomials to the end windows, a linear map of ``x``.
    cval : float
        Only 0 is linear with ``mode="constant"``.
    """
    if not is_tracer(x):
        return _sig.savgol_filter(x, window_length, polyorder, deriv=deriv, delta=delta, axis=axis,
                                  mode=mode, cval=cval)
    what = "scipy.signal.savgol_filter"
    if mode == "constant" and cval != 0:
        raise AffineError(
            f"{what} at {user_location()}: mode='constant' with cval={cval!r} pads the traced "
            "signal with a non-zero constant, which makes the map affine, not linear. Use cval=0 "
            "(and add the padding's contribution outside the function).")
    ref = probe(_sig.savgol_filter, x, window_length, polyorder, deriv=deriv, delta=delta,
                axis=axis, mode=mode, cval=cval)
    if np.issubdtype(x.dtype, np.complexfloating):
        x = C.real(x)
    x = to_dtype(x, ref.dtype, what)
    ax = axis % len(x.shape)
    coeffs = _sig.savgol_coeffs(window_length, polyorder, deriv=deriv, delta=delta)
    if mode != "interp":
        y = ndimage.convolve1d(x, coeffs.astype(ref.dtype), axis=ax, mode=mode, cval=cval)
        return cast_to(y, ref, what)
    y = ndimage.convolve1d(x, coeffs.astype(ref.dtype), axis=ax, mode="constant")
    n, half = x.shape[ax], window_length // 2
    # The end fits as matrices: the filter of a signal exactly one window long.
    ends = _sig.savgol_filter(np.eye(window_length), window_length, polyorder, deriv=deriv,
                              delta=delta, axis=0, mode="interp")
    index = [slice(None)] * len(x.shape)

    def part(start, stop):
        index[ax] = slice(start, stop)
        return tuple(index)

    left = apply_matrix(x[part(0, window_length)], ends[:half], ax)
    right = apply_matrix(x[part(n - window_length, n)], ends[window_length - half:], ax)
    y = np.concatenate([left, y[part(half, n - half)], right], ax)
    return cast_to(y, ref, what)


def _breakpoints(bp, n):
    """The sorted segment boundaries, 0 and ``n`` included (SciPy validated them)."""
    return np.sort(np.unique(np.concatenate(np.atleast_1d(0, np.asarray(bp), n))))


@linear_in("data")
def detrend(data, axis=-1, type="linear", bp=0, overwrite_data=False):
    """``scipy.signal.detrend`` of a traced array: ``"constant"`` or ``"linear"`` with breakpoints.

    Parameters
    ----------
    data : array_like or Tracer
    axis : int
    type : {"linear", "l", "constant", "c"}
    bp : int or array_like
        Breakpoints of the piecewise-linear trend.
    overwrite_data : bool
        Accepted; a traced array is never modified in place.
    """
    if not is_tracer(data):
        return _sig.detrend(data, axis=axis, type=type, bp=bp, overwrite_data=overwrite_data)
    what = "scipy.signal.detrend"
    ref = probe(_sig.detrend, data, axis=axis, type=type, bp=bp)
    x = to_dtype(data, ref.dtype, what)
    if type in ("constant", "c"):
        return cast_to(x - np.mean(x, axis, keepdims=True), ref, what)
    ax = axis % len(x.shape)
    n = x.shape[ax]
    moved = np.moveaxis(x, ax, -1)
    last = len(moved.shape) - 1
    pieces = []
    bps = _breakpoints(bp, n)
    for lo, hi in zip(bps[:-1], bps[1:]):
        npts = int(hi - lo)
        A = np.ones((npts, 2), real_part_dtype(ref.dtype))
        A[:, 0] = np.arange(1, npts + 1) / npts
        # lstsq's solution is linear in the data: coefficients pinv(A) @ segment
        pinv = _linalg.pinv(A)
        segment = moved[..., int(lo):int(hi)]
        pieces.append(segment - apply_matrix(apply_matrix(segment, pinv, last), A, last))
    out = np.concatenate(pieces, -1) if len(pieces) > 1 else pieces[0]
    return cast_to(np.moveaxis(out, -1, ax), ref, what)
