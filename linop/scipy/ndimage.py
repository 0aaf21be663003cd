"""``scipy.ndimage``'s linear filters, geometric transforms and spline prefilters for traced arrays.

Every function takes SciPy's signature; without a traced argument it simply
calls SciPy. On a tracer it runs SciPy once on zeros of the traced shape (which
validates the arguments with SciPy's own exceptions and gives the output shape
and dtype), then records the operation as constant sparse matrices
(``sparse_matmul``) built from SciPy's boundary rules, or as a boundary
extension followed by a ``convolve_nd`` for N-d kernels. Transposes are
therefore exact, and never densify anything.

Boundary modes: ``reflect``, ``constant`` (``cval=0`` only: a non-zero ``cval``
makes the map affine), ``nearest``, ``mirror``, ``wrap``, ``grid-mirror``,
``grid-constant``, ``grid-wrap``. Geometric transforms (``shift``, ``zoom``,
``rotate``, ``affine_transform``, ``map_coordinates``, ``geometric_transform``)
support spline orders 0–5: SciPy validates their arguments on a one-sample
stand-in of the input (running the transform on zeros of the full shape would
cost as much as SciPy's own evaluation), and :mod:`linop.scipy._geometric`
records SciPy's prefilter (``spline_filter``, an IIR filter with an exact
transpose) and the sparse interpolation matrix of :mod:`linop.scipy._interp`.

Only the input may be traced: a traced ``sigma``, ``shift``, ``zoom`` or other
parameter raises :class:`~linop.NonLinearError` naming it (the maps are not
linear in them). The exception is the filters' ``weights``: ``correlate``,
``convolve``, ``correlate1d`` and ``convolve1d`` are linear in whichever of
``input`` and ``weights`` is traced (traced weights with a constant input, for
blind deconvolution, in :mod:`linop.scipy._weights`).

Also here: ``gaussian_laplace`` and ``generic_laplace`` (the derivative callable
is traced), ``sum_labels``/``sum``/``mean`` with constant labels
(:mod:`linop.scipy._measure`), and the Fourier filters ``fourier_shift``,
``fourier_gaussian``, ``fourier_uniform``, ``fourier_ellipsoid``
(:mod:`linop.scipy._fourier`). ``gaussian_gradient_magnitude`` and
``generic_gradient_magnitude`` are not linear: on traced arrays they raise
:class:`~linop.NonLinearError` naming the linear gradient components instead.

Non-finite values stay more local than in SciPy: linop applies the linear map
exactly, and a zero weight contributes nothing, while SciPy's order-1
interpolation multiplies the other neighbour of an exact sample by 0 (``NaN *
0``) and its ``uniform_filter`` keeps a running sum that carries a ``NaN`` or
``inf`` along the rest of the axis. On finite data the results agree (see
"Non-finite values in linop.scipy.ndimage" in ``docs/semantics.md``).
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.ndimage as _ndi
import scipy.special as _special
from scipy import LowLevelCallable as _LowLevelCallable

from ..errors import AffineError, user_location
from ..core import is_tracer
from ..numpy_api.util import distinct, nonlinear, to_dtype, to_linear, unsupported
from ..numpy_api.util import check_linear_dtype
from ..primitives import arithmetic as A, complex as C, shape as S
from ..primitives.complex import real_dtype
from ..primitives.convolve_nd import convolve_nd
from ..primitives.sparse_matmul import sparse_matmul
from ..primitives import spline_filter as SF
from ._boundary import extend_index, extension_matrix, weights_matrix
from ._calls import linear_in, nonlinear_function
from ._fourier import fourier_multiply
from ._measure import labelled_sum
from ._weights import correlate_traced_weights
from ._geometric import resample_points, resample_separable
from ._interp import affine_coordinates

__all__ = ["correlate1d", "convolve1d", "correlate", "convolve", "uniform_filter1d",
           "uniform_filter", "gaussian_filter1d", "gaussian_filter", "sobel", "prewitt",
           "laplace", "gaussian_laplace", "generic_laplace", "sum_labels", "sum", "mean",
           "fourier_shift", "fourier_gaussian", "fourier_uniform", "fourier_ellipsoid", "shift", "zoom", "rotate", "affine_transform", "map_coordinates",
           "geometric_transform", "spline_filter1d", "spline_filter"]

_CONSTANT_MODES = ("constant", "grid-constant")


# -- shared helpers ------------------------------------------------------------------
def _zeros_for(x):
    return np.zeros(x.shape, x.dtype) if is_tracer(x) else x


def _probe(fn, *args, **kwargs):
    """SciPy's result on zeros in place of the tracer: validation, output shape and dtype."""
    return fn(*(_zeros_for(a) for a in args), **{k: _zeros_for(v) for k, v in kwargs.items()})


def _check_output(what, output):
    if output is not None and not isinstance(output, (type, np.dtype, str)):
        raise unsupported(f"{what} with an output array",
                          "Writing into a given array cannot be traced; pass output=None or a dtype.")


def _check_cval(what, modes, cval):
    if cval != 0 and any(m in _CONSTANT_MODES for m in modes):
        raise AffineError(
            f"{what} at {user_location()}: mode='constant' with cval={cval!r} fills the border with a "
            "non-zero constant, which makes the map affine, not linear. Use cval=0 (and add the "
            "border's contribution to your data outside the function).")


def _per_axis(value, n):
    if isinstance(value, str) or np.ndim(value) == 0:
        return [value] * n
    return list(value)


def _axes(axes, ndim):
    if axes is None:
        return list(range(ndim))
    if isinstance(axes, numbers.Integral):
        axes = [axes]
    return [int(a) % ndim for a in axes]


def _prepare(x, ref, what):
    """The tracer in the output dtype SciPy gives."""
    return to_dtype(x, ref.dtype, what)


def _weights_dtype(ref_dtype, weights):
    return ref_dtype if np.iscomplexobj(weights) else real_dtype(ref_dtype)


# -- 1-d filters as banded sparse matrices --------------------------------------------
def _filter_matrix(n, weights, origin, mode, dtype):
    """The ``n × n`` matrix of ``correlate1d`` along an axis of length ``n``."""
    K = len(weights)
    positions = np.arange(n)[:, None] + np.arange(K)[None, :] - (K // 2 + origin)
    src, valid = extend_index(positions, n, mode)
    w = np.where(valid, np.asarray(weights)[None, :], 0)
    rows = np.broadcast_to(np.arange(n)[:, None], positions.shape)
    return weights_matrix(rows, src, w, (n, n), dtype)


def _correlate1d_traced(x, weights, axis, mode, origin, ref_dtype):
    weights = np.asarray(weights)
    dtype = _weights_dtype(ref_dtype, weights)
    M = _filter_matrix(x.shape[axis], weights, origin, mode, dtype)
    return sparse_matmul(x, M, axis)


def _kernel_layout(ndim, axes, weights_shape, origin):
    """SciPy's placement of a filter's weights and origins on all ``ndim`` axes.

    With ``axes`` naming fewer axes than the input has, SciPy puts the weights'
    axes on the named axes in increasing order, but the origins in the order
    given; with all axes named it ignores their order.
    """
    ax = _axes(axes, ndim)
    origins = [int(o) for o in _per_axis(origin, len(ax))]
    if len(ax) == ndim:
        return list(weights_shape), origins
    kernel, full = [1] * ndim, [0] * ndim
    for a, K in zip(sorted(ax), weights_shape):
        kernel[a] = K
    for a, o in zip(ax, origins):
        full[a] = o
    return kernel, full


def _as_correlation(kernel_shape, origins):
    """The origins of the correlation that computes a convolution with reversed weights."""
    return [-o - (0 if K & 1 else 1) for K, o in zip(kernel_shape, origins)]


def _filter_traced_weights(what, ref, input, weights, kernel_shape, origins, mode, cval,
                           convolution):
    """A correlation or convolution of the constant ``input`` with traced ``weights``."""
    if is_tracer(input):
        raise nonlinear(what, "both the input and the weights are traced: the filter is bilinear, "
                              "linear in each of them only while the other is a constant. Make "
                              "one of them a constant.")
    if not np.issubdtype(ref.dtype, np.inexact):
        raise nonlinear(what, f"the output dtype is {ref.dtype} (that of the integer input), and "
                              "rounding to integers is not linear in the weights. Pass a floating "
                              "input or output=np.float64.")
    w = S.reshape(weights, tuple(kernel_shape))
    if convolution:
        w = S.rev(w, tuple(range(w.ndim)))
        origins = _as_correlation(kernel_shape, origins)
    elif np.issubdtype(w.dtype, np.complexfloating):
        w = C.conj(w)  # SciPy conjugates complex weights of a correlation
    dtype = np.result_type(ref.dtype, weights.dtype)
    out = correlate_traced_weights(np.asarray(input), w, origins, mode, cval, dtype)
    return to_dtype(out, ref.dtype, what)


def _one_d_filter(fn, input, weights, axis, output, mode, cval, origin, convolution):
    what = f"scipy.ndimage.{fn.__name__}"
    if not (is_tracer(input) or is_tracer(weights)):
        return fn(input, weights, axis, output, mode, cval, origin)
    _check_output(what, output)
    ref = _probe(fn, input, weights, axis, output, mode, cval, origin)
    axis = axis % len(np.shape(input))
    if is_tracer(weights):
        kernel_shape, origins = [1] * input.ndim, [0] * input.ndim
        kernel_shape[axis], origins[axis] = weights.shape[0], int(origin)
        return _filter_traced_weights(what, ref, input, weights, kernel_shape, origins, mode, cval,
                                      convolution)
    _check_cval(what, [mode], cval)
    weights = np.asarray(weights)
    if convolution:
        weights, origin = _convolve_as_correlate(weights, origin)
    elif np.iscomplexobj(weights):
        weights = weights.conj()
    x = _prepare(input, ref, what)
    return distinct(_correlate1d_traced(x, weights, axis, mode, origin, ref.dtype), input)


@linear_in("input", "weights")
def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """``scipy.ndimage.correlate1d``, linear in whichever of ``input`` and ``weights`` is traced.

    Complex weights are conjugated, as in SciPy (so a traced complex ``weights``
    makes the map conjugate-linear).

    Parameters
    ----------
    input : array_like or Tracer
    weights : array_like or Tracer, 1-d
        Constant when ``input`` is traced.
    axis : int
    output : None or dtype
    mode : str
    cval : scalar
        Must be 0 with the constant modes when ``input`` is traced; any value
        when ``weights`` is.
    origin : int
    """
    return _one_d_filter(_ndi.correlate1d, input, weights, axis, output, mode, cval, origin, False)


def _convolve_as_correlate(weights, origin):
    weights = np.asarray(weights)[::-1]
    origin = -origin - (0 if len(weights) & 1 else 1)
    return weights, origin


@linear_in("input", "weights")
def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """``scipy.ndimage.convolve1d``, linear in whichever of ``input`` and ``weights`` is traced.

    Parameters
    ----------
    input : array_like or Tracer
    weights : array_like or Tracer, 1-d
        Constant when ``input`` is traced.
    axis, output, mode, cval, origin
        As in SciPy (``cval`` 0 with the constant modes when ``input`` is traced).
    """
    return _one_d_filter(_ndi.convolve1d, input, weights, axis, output, mode, cval, origin, True)


# -- N-d kernels: extend by the boundary mode, then a valid correlation ------------------
def _correlate_nd_traced(x, weights, origins, mode, ref_dtype):
    """``correlate`` of tracer ``x`` with ``weights`` of ``x.ndim`` axes (no conjugation)."""
    weights = np.asarray(weights)
    dtype = _weights_dtype(ref_dtype, weights)
    for axis, (K, origin) in enumerate(zip(weights.shape, origins)):
        before = K // 2 + origin
        if K > 1 or before:
            ext = extension_matrix(x.shape[axis], before, K - 1 - before, mode,
                                   real_dtype(ref_dtype))
            x = sparse_matmul(x, ext, axis)
    kernel = np.asarray(weights, dtype=np.result_type(dtype, x.dtype))
    x = to_dtype(x, kernel.dtype, "scipy.ndimage filter")
    return convolve_nd(x, kernel, "valid", "direct")


def _nd_filter(fn, input, weights, output, mode, cval, origin, axes, convolution):
    what = f"scipy.ndimage.{fn.__name__}"
    if not (is_tracer(input) or is_tracer(weights)):
        return fn(input, weights, output, mode, cval, origin, axes=axes)
    _check_output(what, output)
    ref = _probe(fn, input, weights, output, mode, cval, origin, axes=axes)
    kernel_shape, origins = _kernel_layout(len(np.shape(input)), axes, np.shape(weights), origin)
    if is_tracer(weights):
        return _filter_traced_weights(what, ref, input, weights, kernel_shape, origins, mode, cval,
                                      convolution)
    _check_cval(what, [mode], cval)
    weights = np.asarray(weights).reshape(kernel_shape)
    if convolution:
        weights = weights[(slice(None, None, -1),) * weights.ndim]
        origins = _as_correlation(kernel_shape, origins)
    elif np.iscomplexobj(weights):
        weights = weights.conj()
    x = _prepare(input, ref, what)
    out = _correlate_nd_traced(x, weights, origins, mode, ref.dtype)
    return distinct(to_dtype(out, ref.dtype, what), input)


@linear_in("input", "weights")
def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.correlate``, linear in whichever of ``input`` and ``weights`` is traced.

    Complex weights are conjugated, as in SciPy (so a traced complex ``weights``
    makes the map conjugate-linear). With a traced ``weights`` and a constant
    ``input`` (blind deconvolution), the product is one FFT-based convolution.

    Parameters
    ----------
    input : array_like or Tracer
    weights : array_like or Tracer
        Constant when ``input`` is traced.
    output, mode, cval, origin, axes
        As in SciPy (``cval`` 0 with the constant modes when ``input`` is traced).
    """
    return _nd_filter(_ndi.correlate, input, weights, output, mode, cval, origin, axes, False)


@linear_in("input", "weights")
def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.convolve``, linear in whichever of ``input`` and ``weights`` is traced.

    Parameters
    ----------
    input : array_like or Tracer
    weights : array_like or Tracer
        Constant when ``input`` is traced.
    output, mode, cval, origin, axes
        As in SciPy (``cval`` 0 with the constant modes when ``input`` is traced).
    """
    return _nd_filter(_ndi.convolve, input, weights, output, mode, cval, origin, axes, True)


# -- smoothing and derivative filters ---------------------------------------------------
@linear_in("input")
def uniform_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """``scipy.ndimage.uniform_filter1d`` on a traced input.

    Parameters
    ----------
    input : array_like or Tracer
    size : int
    axis, output, mode, cval, origin
        As in SciPy (``cval`` 0 with the constant modes).

    Notes
    -----
    An ``inf``/``NaN`` input reaches only the outputs whose window holds it; SciPy's
    running sum carries it to the rest of the axis.
    """
    what = "scipy.ndimage.uniform_filter1d"
    if not is_tracer(input):
        return _ndi.uniform_filter1d(input, size, axis, output, mode, cval, origin)
    _check_output(what, output)
    ref = _probe(_ndi.uniform_filter1d, input, size, axis, output, mode, cval, origin)
    _check_cval(what, [mode], cval)
    x = _prepare(input, ref, what)
    weights = np.full(int(size), 1.0 / int(size))
    return distinct(_correlate1d_traced(x, weights, axis % x.ndim, mode, origin, ref.dtype), input)


@linear_in("input")
def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.uniform_filter`` on a traced input (a 1-d uniform filter per axis).

    Parameters
    ----------
    input : array_like or Tracer
    size : int or sequence of int
    output, mode, cval, origin, axes
        As in SciPy; ``mode`` and ``origin`` may be per-axis sequences.

    Notes
    -----
    An ``inf``/``NaN`` input reaches only the outputs whose window holds it; SciPy's
    running sum carries it to the rest of the axis.
    """
    what = "scipy.ndimage.uniform_filter"
    if not is_tracer(input):
        return _ndi.uniform_filter(input, size, output, mode, cval, origin, axes=axes)
    _check_output(what, output)
    ref = _probe(_ndi.uniform_filter, input, size, output, mode, cval, origin, axes=axes)
    ax = _axes(axes, input.ndim)
    sizes, modes, origins = (_per_axis(v, len(ax)) for v in (size, mode, origin))
    _check_cval(what, modes, cval)
    x = _prepare(input, ref, what)
    for axis, n, m, o in zip(ax, sizes, modes, origins):
        if int(n) > 1:
            weights = np.full(int(n), 1.0 / int(n))
            x = _correlate1d_traced(x, weights, axis, m, o, ref.dtype)
    return distinct(x, input)


def _gaussian_kernel(sigma, order, radius):
    """Sampled Gaussian (or its ``order``-th derivative) on ``[-radius, radius]``, sum 1 for order 0."""
    if order < 0:
        raise ValueError("order must be non-negative")
    x = np.arange(-radius, radius + 1)
    s2 = sigma * sigma
    phi = np.exp(-0.5 / s2 * x ** 2)
    phi = phi / phi.sum()
    if order == 0:
        return phi
    # d/dx [q(x) phi(x)] = (q'(x) - x q(x) / sigma^2) phi(x): track the polynomial q's coefficients.
    powers = np.arange(order + 1)
    q = np.zeros(order + 1)
    q[0] = 1
    step = np.diag(powers[1:], 1) + np.diag(np.ones(order) / -s2, -1)
    for _ in range(order):
        q = step @ q
    return (x[:, None] ** powers) @ q * phi


def _gaussian_radius(sigma, truncate, radius):
    return int(truncate * float(sigma) + 0.5) if radius is None else radius


@linear_in("input")
def gaussian_filter1d(input, sigma, axis=-1, order=0, output=None, mode="reflect", cval=0.0,
                      truncate=4.0, *, radius=None):
    """``scipy.ndimage.gaussian_filter1d`` on a traced input (any derivative ``order``).

    Parameters
    ----------
    input : array_like or Tracer
    sigma : float
    axis, order, output, mode, cval, truncate, radius
        As in SciPy (``cval`` 0 with the constant modes).
    """
    what = "scipy.ndimage.gaussian_filter1d"
    if not is_tracer(input):
        return _ndi.gaussian_filter1d(input, sigma, axis, order, output, mode, cval, truncate,
                                      radius=radius)
    _check_output(what, output)
    ref = _probe(_ndi.gaussian_filter1d, input, sigma, axis, order, output, mode, cval, truncate,
                 radius=radius)
    _check_cval(what, [mode], cval)
    x = _prepare(input, ref, what)
    weights = _gaussian_kernel(float(sigma), order, _gaussian_radius(sigma, truncate, radius))[::-1]
    return distinct(_correlate1d_traced(x, weights, axis % x.ndim, mode, 0, ref.dtype), input)


@linear_in("input")
def gaussian_filter(input, sigma, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0,
                    *, radius=None, axes=None):
    """``scipy.ndimage.gaussian_filter`` on a traced input (a 1-d Gaussian per axis).

    Parameters
    ----------
    input : array_like or Tracer
    sigma : float or sequence
    order, output, mode, cval, truncate, radius, axes
        As in SciPy; per-axis sequences allowed where SciPy allows them.
    """
    what = "scipy.ndimage.gaussian_filter"
    if not is_tracer(input):
        return _ndi.gaussian_filter(input, sigma, order, output, mode, cval, truncate,
                                    radius=radius, axes=axes)
    _check_output(what, output)
    ref = _probe(_ndi.gaussian_filter, input, sigma, order, output, mode, cval, truncate,
                 radius=radius, axes=axes)
    ax = _axes(axes, input.ndim)
    sigmas, orders, modes, radii = (_per_axis(v, len(ax)) for v in (sigma, order, mode, radius))
    _check_cval(what, modes, cval)
    x = _prepare(input, ref, what)
    for axis, s, o, m, r in zip(ax, sigmas, orders, modes, radii):
        if s > 1e-15:
            weights = _gaussian_kernel(float(s), o, _gaussian_radius(s, truncate, r))[::-1]
            x = _correlate1d_traced(x, weights, axis, m, 0, ref.dtype)
    return distinct(x, input)


def _separable_derivative(name, input, axis, output, mode, cval, smooth):
    what = f"scipy.ndimage.{name}"
    fn = getattr(_ndi, name)
    if not is_tracer(input):
        return fn(input, axis, output, mode, cval)
    _check_output(what, output)
    ref = _probe(fn, input, axis, output, mode, cval)
    modes = _per_axis(mode, input.ndim)
    _check_cval(what, modes, cval)
    x = _prepare(input, ref, what)
    axis = axis % x.ndim
    x = _correlate1d_traced(x, np.array([-1.0, 0.0, 1.0]), axis, modes[axis], 0, ref.dtype)
    for other in range(x.ndim):
        if other != axis:
            x = _correlate1d_traced(x, np.asarray(smooth, float), other, modes[other], 0, ref.dtype)
    return distinct(x, input)


@linear_in("input")
def sobel(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """``scipy.ndimage.sobel`` on a traced input.

    Parameters
    ----------
    input : array_like or Tracer
    axis, output, mode, cval
        As in SciPy (``cval`` 0 with the constant modes).
    """
    return _separable_derivative("sobel", input, axis, output, mode, cval, [1, 2, 1])


@linear_in("input")
def prewitt(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """``scipy.ndimage.prewitt`` on a traced input.

    Parameters
    ----------
    input : array_like or Tracer
    axis, output, mode, cval
        As in SciPy (``cval`` 0 with the constant modes).
    """
    return _separable_derivative("prewitt", input, axis, output, mode, cval, [1, 1, 1])


@linear_in("input")
def laplace(input, output=None, mode="reflect", cval=0.0, *, axes=None):
    """``scipy.ndimage.laplace`` on a traced input: the sum of second differences over ``axes``.

    Parameters
    ----------
    input : array_like or Tracer
    output, mode, cval, axes
        As in SciPy (``cval`` 0 with the constant modes).
    """
    what = "scipy.ndimage.laplace"
    if not is_tracer(input):
        return _ndi.laplace(input, output, mode, cval, axes=axes)
    _check_output(what, output)
    ref = _probe(_ndi.laplace, input, output, mode, cval, axes=axes)
    ax = _axes(axes, input.ndim)
    modes = _per_axis(mode, len(ax))
    _check_cval(what, modes, cval)
    x = _prepare(input, ref, what)
    total = None
    for axis, m in zip(ax, modes):
        term = _correlate1d_traced(x, np.array([1.0, -2.0, 1.0]), axis, m, 0, ref.dtype)
        total = term if total is None else A.add(total, term)
    return distinct(total if total is not None else x, input)


def _laplace_calls(input, output, mode, cval, axes):
    """SciPy's ``generic_laplace`` on zeros with a recording derivative.

    Returns SciPy's output dtype and the ``(axis, mode)`` of each derivative it
    asks for (SciPy's own checks of ``axes``, ``mode`` and ``output`` included).
    """
    calls = []

    def record(inp, axis, out, mode, cval, *args, **kwargs):
        calls.append((axis, mode))
        return np.zeros(np.shape(inp), np.result_type(out))

    ref = _ndi.generic_laplace(_zeros_for(input), record, output, mode, cval, axes=axes)
    return ref.dtype, calls


def _derivative_term(what, term, dtype, shape):
    if term is None:
        raise unsupported(f"{what} with a derivative2 that returns None",
                          "On a traced input the derivative cannot write into output (linop "
                          "passes output as a dtype): return the derivative instead.")
    return to_linear(term, dtype, tuple(shape), what)


@linear_in("input")
def generic_laplace(input, derivative2, output=None, mode="reflect", cval=0.0, extra_arguments=(),
                    extra_keywords=None, *, axes=None):
    """``scipy.ndimage.generic_laplace`` on a traced input, with a linear ``derivative2``.

    ``derivative2(input, axis, output, mode, cval, *extra_arguments,
    **extra_keywords)`` is called on the traced input once per axis, as SciPy
    calls it, and must return the second derivative along ``axis`` computed with
    linear operations (``linop.scipy.ndimage`` filters, NumPy); the sum of the
    results is the output. linop passes ``output`` as SciPy's output dtype (never
    an array).

    Parameters
    ----------
    input : array_like or Tracer
    derivative2 : callable
    output, mode, cval, extra_arguments, extra_keywords, axes
        As in SciPy.
    """
    what = "scipy.ndimage.generic_laplace"
    extra_keywords = {} if extra_keywords is None else extra_keywords
    if not is_tracer(input):
        return _ndi.generic_laplace(input, derivative2, output, mode, cval, extra_arguments,
                                    extra_keywords, axes=axes)
    _check_output(what, output)
    dtype, calls = _laplace_calls(input, output, mode, cval, axes)
    if not calls:
        return distinct(to_dtype(input, dtype, what), input)
    total = None
    for axis, m in calls:
        term = derivative2(input, axis, dtype, m, cval, *extra_arguments, **extra_keywords)
        term = _derivative_term(what, term, dtype, input.shape)
        total = term if total is None else A.add(total, term)
    return distinct(total, input)


@linear_in("input")
def gaussian_laplace(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
    """``scipy.ndimage.gaussian_laplace`` on a traced input: second Gaussian derivatives summed.

    Parameters
    ----------
    input : array_like or Tracer
    sigma : float or sequence
    output, mode, cval, axes
        As in SciPy (``cval`` 0 with the constant modes).
    **kwargs
        ``truncate``, ``radius``: passed to :func:`gaussian_filter`, as in SciPy.
    """
    if not is_tracer(input):
        return _ndi.gaussian_laplace(input, sigma, output, mode, cval, axes=axes, **kwargs)
    _check_output("scipy.ndimage.gaussian_laplace", output)
    _probe(_ndi.gaussian_laplace, input, sigma, output, mode, cval, axes=axes, **kwargs)
    ax = _axes(axes, input.ndim)
    sigmas = _per_axis(sigma, len(ax))
    if len(ax) < input.ndim:  # SciPy's rule: sigma 0 on the axes not filtered
        full = [0] * input.ndim
        for a, s in zip(ax, sigmas):
            full[a] = s
        sigmas = full

    def derivative2(inp, axis, output, mode, cval, sigma, **kw):
        order = [0] * inp.ndim
        order[axis] = 2
        return gaussian_filter(inp, sigma, order, output, mode, cval, **kw)

    return generic_laplace(input, derivative2, output, mode, cval, extra_arguments=(sigmas,),
                           extra_keywords=kwargs, axes=axes)


@nonlinear_function(
    "it is the Euclidean norm sqrt(sum_k g_k**2) of the Gaussian gradient g_k = "
    "gaussian_filter(input, sigma, order=e_k), which is not linear. The gradient components are: "
    "compute them with linop.scipy.ndimage.gaussian_filter (one derivative order per axis) or "
    "gaussian_filter1d(..., order=1) inside the traced function, and take the magnitude outside it.")
def gaussian_gradient_magnitude(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None,
                                **kwargs):
    """``scipy.ndimage.gaussian_gradient_magnitude`` on arrays; refused on traced arrays.

    Raises :class:`~linop.NonLinearError` naming the linear alternative
    (the gradient components, :func:`gaussian_filter` with ``order``).
    """
    return _ndi.gaussian_gradient_magnitude(input, sigma, output, mode, cval, axes=axes, **kwargs)


@nonlinear_function(
    "it is the Euclidean norm sqrt(sum_k d_k**2) of the derivatives d_k = derivative(input, k, ...), "
    "which is not linear. The derivatives are: compute them (with linear functions such as "
    "linop.scipy.ndimage.sobel or correlate1d) inside the traced function, and take the "
    "magnitude outside it.")
def generic_gradient_magnitude(input, derivative, output=None, mode="reflect", cval=0.0,
                               extra_arguments=(), extra_keywords=None, *, axes=None):
    """``scipy.ndimage.generic_gradient_magnitude`` on arrays; refused on traced arrays.

    Raises :class:`~linop.NonLinearError` naming the linear alternative
    (the derivatives themselves).
    """
    return _ndi.generic_gradient_magnitude(input, derivative, output, mode, cval, extra_arguments,
                                           extra_keywords, axes=axes)


# -- measurements with constant labels ----------------------------------------------------
@linear_in("input")
def sum_labels(input, labels=None, index=None):
    """``scipy.ndimage.sum_labels`` (also ``sum``) of a traced input with constant labels and index.

    Parameters
    ----------
    input : array_like or Tracer
    labels : array_like or None, constant
    index : scalar, array_like or None, constant

    Returns
    -------
    Tracer
        0-d without ``index`` or for a scalar one (the input's dtype), else
        float64 of ``index``'s shape, as in SciPy.
    """
    if not is_tracer(input):
        return _ndi.sum_labels(input, labels, index)
    _probe(_ndi.sum_labels, input, labels, index)
    return labelled_sum(input, labels, index, False, "scipy.ndimage.sum_labels")


@linear_in("input")
def mean(input, labels=None, index=None):
    """``scipy.ndimage.mean`` of a traced input with constant labels and index.

    Parameters
    ----------
    input : array_like or Tracer
    labels : array_like or None, constant
    index : scalar, array_like or None, constant
        A label without elements (SciPy's NaN) raises :class:`~linop.AffineError`.

    Returns
    -------
    Tracer
        0-d without ``index`` or for a scalar one, else of ``index``'s shape;
        float64 (complex128 for a complex input without ``index``), as in SciPy.
    """
    if not is_tracer(input):
        return _ndi.mean(input, labels, index)
    with np.errstate(invalid="ignore", divide="ignore"):
        _probe(_ndi.mean, input, labels, index)
    return labelled_sum(input, labels, index, True, "scipy.ndimage.mean")


def __getattr__(name):
    # scipy.ndimage.sum is sum_labels; a module global named sum would shadow the builtin here.
    if name == "sum":
        return sum_labels
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- Fourier filters of an FFT'd input ----------------------------------------------------
@linear_in("input")
def fourier_shift(input, shift, n=-1, axis=-1, output=None):
    """``scipy.ndimage.fourier_shift`` of a traced spectrum (a product with SciPy's phase factor).

    Parameters
    ----------
    input : array_like or Tracer
        The FFT of the array to shift (a real FFT along ``axis`` for ``n >= 0``).
    shift : float or sequence, constant
    n, axis : int
    output : None or dtype
        As in SciPy (complex output).
    """
    return fourier_multiply(_ndi.fourier_shift, input, shift, n, axis, output)


@linear_in("input")
def fourier_gaussian(input, sigma, n=-1, axis=-1, output=None):
    """``scipy.ndimage.fourier_gaussian`` of a traced spectrum (a product with SciPy's factor).

    Parameters
    ----------
    input : array_like or Tracer
        The FFT of the array to filter (a real FFT along ``axis`` for ``n >= 0``).
    sigma : float or sequence, constant
    n, axis, output
        As in SciPy.
    """
    return fourier_multiply(_ndi.fourier_gaussian, input, sigma, n, axis, output)


@linear_in("input")
def fourier_uniform(input, size, n=-1, axis=-1, output=None):
    """``scipy.ndimage.fourier_uniform`` of a traced spectrum (a product with SciPy's factor).

    Parameters
    ----------
    input : array_like or Tracer
        The FFT of the array to filter (a real FFT along ``axis`` for ``n >= 0``).
    size : float or sequence, constant
    n, axis, output
        As in SciPy.
    """
    return fourier_multiply(_ndi.fourier_uniform, input, size, n, axis, output)


@linear_in("input")
def fourier_ellipsoid(input, size, n=-1, axis=-1, output=None):
    """``scipy.ndimage.fourier_ellipsoid`` of a traced spectrum (a product with SciPy's factor).

    Parameters
    ----------
    input : array_like or Tracer
        The FFT of the array to filter (1 to 3 axes; a real FFT along ``axis`` for ``n >= 0``).
    size : float or sequence, constant
    n, axis, output
        As in SciPy.
    """
    return fourier_multiply(_ndi.fourier_ellipsoid, input, size, n, axis, output)


# -- geometric transforms ----------------------------------------------------------------
def _stand_in(x):
    """Zeros of ``x``'s dtype and rank, one sample per axis: SciPy validates on it at no cost."""
    return np.zeros((1,) * x.ndim, x.dtype)


def _scipy_dtype(what, fn, input, output, *args, **kwargs):
    """SciPy's output dtype, after SciPy validated the arguments on a stand-in of ``input``."""
    _check_output(what, output)
    dtype = fn(_stand_in(input), *args, output=output, **kwargs).dtype
    check_linear_dtype(dtype, what)
    return dtype


def _working(input, dtype, what):
    """The tracer in the dtype the transform computes in: the wider of input and output."""
    return to_dtype(input, np.result_type(input.dtype, dtype), what)


def _geometric_prelude(what, fn, input, mode, cval, output, *args, **kwargs):
    """``(x, dtype)``: the tracer in its working dtype, and SciPy's output dtype."""
    dtype = _scipy_dtype(what, fn, input, output, *args, mode=mode, cval=cval, **kwargs)
    _check_cval(what, [mode], cval)
    return _working(input, dtype, what), dtype


def _result(out, dtype, input, what):
    return distinct(to_dtype(out, dtype, what), input)


@linear_in("input")
def shift(input, shift, output=None, order=3, mode="constant", cval=0.0, prefilter=True):
    """``scipy.ndimage.shift`` on a traced input (spline orders 0–5).

    Parameters
    ----------
    input : array_like or Tracer
    shift : float or sequence
    output, order, mode, cval, prefilter
        As in SciPy (``cval`` 0 with the constant modes).

    Notes
    -----
    Orders 2–5 with ``prefilter=True`` record SciPy's spline prefilter as one
    ``spline_filter`` step per axis (with its exact transpose), then the sparse
    interpolation matrix. An ``inf``/``NaN`` input reaches only the outputs it has a
    non-zero weight in; SciPy also spreads it to outputs that fall exactly on a
    neighbouring element.
    """
    what = "scipy.ndimage.shift"
    if not is_tracer(input):
        return _ndi.shift(input, shift, output, order, mode, cval, prefilter)
    x, dtype = _geometric_prelude(what, _ndi.shift, input, mode, cval, output, shift, order=order,
                           prefilter=prefilter)
    shifts = -np.asarray(_per_axis(shift, x.ndim), dtype=np.float64)
    coords = [np.arange(n, dtype=np.float64) + s for n, s in zip(x.shape, shifts)]
    return _result(resample_separable(x, coords, mode, int(order), prefilter), dtype, input, what)


@linear_in("input")
def zoom(input, zoom, output=None, order=3, mode="constant", cval=0.0, prefilter=True, *,
         grid_mode=False):
    """``scipy.ndimage.zoom`` on a traced input (spline orders 0–5).

    Parameters
    ----------
    input : array_like or Tracer
    zoom : float or sequence
    output, order, mode, cval, prefilter, grid_mode
        As in SciPy (``cval`` 0 with the constant modes).

    Notes
    -----
    Orders 2–5 with ``prefilter=True`` record SciPy's spline prefilter as one
    ``spline_filter`` step per axis (with its exact transpose), then the sparse
    interpolation matrix. An ``inf``/``NaN`` input reaches only the outputs it has a
    non-zero weight in; SciPy also spreads it to outputs that fall exactly on a
    neighbouring element.
    """
    what = "scipy.ndimage.zoom"
    if not is_tracer(input):
        return _ndi.zoom(input, zoom, output, order, mode, cval, prefilter, grid_mode=grid_mode)
    x, dtype = _geometric_prelude(what, _ndi.zoom, input, mode, cval, output, zoom, order=order,
                           prefilter=prefilter, grid_mode=grid_mode)
    factors = _per_axis(zoom, x.ndim)
    if all(z == 1 for z in factors) and prefilter:
        return _result(x, dtype, input, what)  # SciPy returns a copy of the input here
    if np.iscomplexobj(np.zeros(0, x.dtype)):
        grid_mode = False  # SciPy zooms real and imaginary parts without passing grid_mode on
    sizes = [int(round(n * z)) for n, z in zip(x.shape, factors)]
    out_shape, in_shape = np.array(sizes), np.array(x.shape)
    if not grid_mode:
        out_shape, in_shape = out_shape - 1, in_shape - 1
    step = np.divide(in_shape, out_shape, out=np.ones(x.ndim), where=out_shape != 0)
    coords = []
    for n_out, z in zip(sizes, step):
        k = np.arange(n_out, dtype=np.float64)
        coords.append((k + 0.5) * z - 0.5 if grid_mode else k * z)
    return _result(resample_separable(x, coords, mode, int(order), prefilter), dtype, input, what)


def _normalize_affine(matrix, offset, ndim):
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim == 2 and matrix.shape[1] == ndim + 1 and matrix.shape[0] in (ndim, ndim + 1):
        offset = matrix[:ndim, ndim]
        matrix = matrix[:ndim, :ndim]
    offset = np.asarray(_per_axis(offset, ndim) if np.ndim(offset) == 0 else offset, dtype=np.float64)
    return matrix, offset


@linear_in("input")
def affine_transform(input, matrix, offset=0.0, output_shape=None, output=None, order=3,
                     mode="constant", cval=0.0, prefilter=True):
    """``scipy.ndimage.affine_transform`` on a traced input (spline orders 0–5).

    Parameters
    ----------
    input : array_like or Tracer
    matrix : array_like
        ``(ndim,)``, ``(ndim, ndim)``, ``(ndim, ndim + 1)`` or ``(ndim + 1, ndim + 1)``.
    offset, output_shape, output, order, mode, cval, prefilter
        As in SciPy (``cval`` 0 with the constant modes).

    Notes
    -----
    Orders 2–5 with ``prefilter=True`` record SciPy's spline prefilter as one
    ``spline_filter`` step per axis (with its exact transpose), then the sparse
    interpolation matrix. An ``inf``/``NaN`` input reaches only the outputs it has a
    non-zero weight in; SciPy also spreads it to outputs that fall exactly on a
    neighbouring element.
    """
    what = "scipy.ndimage.affine_transform"
    if not is_tracer(input):
        return _ndi.affine_transform(input, matrix, offset, output_shape, output, order, mode,
                                     cval, prefilter)
    out_shape = tuple(input.shape if output_shape is None else output_shape)
    x, dtype = _geometric_prelude(what, _ndi.affine_transform, input, mode, cval, output, matrix, offset,
                           (1,) * len(out_shape), order=order, prefilter=prefilter)
    matrix, offset = _normalize_affine(matrix, offset, x.ndim)
    if matrix.ndim == 1:
        shifts = offset / matrix
        coords = [(np.arange(n, dtype=np.float64) + s) * z
                  for n, s, z in zip(out_shape, shifts, matrix)]
        out = resample_separable(x, coords, mode, int(order), prefilter)
    else:
        coords = affine_coordinates(matrix, offset, out_shape)
        out = resample_points(x, coords, out_shape, mode, int(order), prefilter)
    return _result(out, dtype, input, what)


def _rotation(angle, in_plane, reshape):
    c, s = _special.cosdg(angle), _special.sindg(angle)
    rot = np.array([[c, s], [-s, c]])
    if reshape:
        iy, ix = in_plane
        bounds = rot @ [[0, 0, iy, iy], [0, ix, 0, ix]]
        out_plane = (np.ptp(bounds, axis=1) + 0.5).astype(int)
    else:
        out_plane = np.asarray(in_plane)
    offset = (np.asarray(in_plane) - 1) / 2 - rot @ ((out_plane - 1) / 2)
    return rot, offset, tuple(int(v) for v in out_plane)


@linear_in("input")
def rotate(input, angle, axes=(1, 0), reshape=True, output=None, order=3, mode="constant",
           cval=0.0, prefilter=True):
    """``scipy.ndimage.rotate`` on a traced input (spline orders 0–5).

    Parameters
    ----------
    input : array_like or Tracer
    angle : float
        Degrees.
    axes, reshape, output, order, mode, cval, prefilter
        As in SciPy (``cval`` 0 with the constant modes); with more than two axes each
        plane is rotated (and prefiltered) on its own, as in SciPy.

    Notes
    -----
    Orders 2–5 with ``prefilter=True`` record SciPy's spline prefilter as one
    ``spline_filter`` step per axis (with its exact transpose), then the sparse
    interpolation matrix. An ``inf``/``NaN`` input reaches only the outputs it has a
    non-zero weight in; SciPy also spreads it to outputs that fall exactly on a
    neighbouring element.
    """
    what = "scipy.ndimage.rotate"
    if not is_tracer(input):
        return _ndi.rotate(input, angle, axes, reshape, output, order, mode, cval, prefilter)
    x, dtype = _geometric_prelude(what, _ndi.rotate, input, mode, cval, output, angle, axes, reshape,
                           order=order, prefilter=prefilter)
    plane = sorted(int(a) % x.ndim for a in axes)
    rot, offset, out_plane = _rotation(angle, [x.shape[a] for a in plane], reshape)
    if x.ndim == 2:  # SciPy transforms the whole image, also for a repeated axis such as (1, -1)
        out_shape = list(x.shape)
        for a, n in zip(plane, out_plane):
            out_shape[a] = n
        coords = affine_coordinates(rot, offset, out_shape)
        out = resample_points(x, coords, tuple(out_shape), mode, int(order), prefilter)
        return _result(out, dtype, input, what)
    others = [a for a in range(x.ndim) if a not in plane]
    moved = S.transpose(x, others + plane)
    coords = affine_coordinates(rot, offset, out_plane)
    out = resample_points(moved, coords, out_plane, mode, int(order), prefilter, len(others))
    back = np.argsort(others + plane)
    return _result(S.transpose(out, tuple(int(b) for b in back)), dtype, input, what)


@linear_in("input")
def map_coordinates(input, coordinates, output=None, order=3, mode="constant", cval=0.0,
                    prefilter=True):
    """``scipy.ndimage.map_coordinates`` on a traced input (spline orders 0–5, constant coordinates).

    Parameters
    ----------
    input : array_like or Tracer
    coordinates : array_like, shape ``(input.ndim, ...)``
    output, order, mode, cval, prefilter
        As in SciPy (``cval`` 0 with the constant modes).

    Notes
    -----
    Orders 2–5 with ``prefilter=True`` record SciPy's spline prefilter as one
    ``spline_filter`` step per axis (with its exact transpose), then the sparse
    interpolation matrix. An ``inf``/``NaN`` input reaches only the outputs it has a
    non-zero weight in; SciPy also spreads it to outputs that fall exactly on a
    neighbouring element.
    """
    what = "scipy.ndimage.map_coordinates"
    if not is_tracer(input):
        return _ndi.map_coordinates(input, coordinates, output, order, mode, cval, prefilter)
    coordinates = np.asarray(coordinates)
    stand_in = np.zeros(coordinates.shape[:1] + (1,) * (coordinates.ndim - 1), coordinates.dtype)
    x, dtype = _geometric_prelude(what, _ndi.map_coordinates, input, mode, cval, output, stand_in,
                           order=order, prefilter=prefilter)
    coords = coordinates.astype(np.float64).reshape(x.ndim, -1)
    out = resample_points(x, coords, coordinates.shape[1:], mode, int(order), prefilter)
    return _result(out, dtype, input, what)


def _recorded_mapping(mapping, record):
    """``mapping`` that also appends what it returns to ``record``."""
    def recording(*args, **kwargs):
        out = mapping(*args, **kwargs)
        record.append(out)
        return out

    return recording


@linear_in("input")
def geometric_transform(input, mapping, output_shape=None, output=None, order=3, mode="constant",
                        cval=0.0, prefilter=True, extra_arguments=(), extra_keywords=None):
    """``scipy.ndimage.geometric_transform`` on a traced input (spline orders 0–5, a Python mapping).

    Parameters
    ----------
    input : array_like or Tracer
    mapping : callable
        Called once per output point at trace time, as SciPy calls it, with the output
        coordinates (a tuple of ints) and ``extra_arguments``/``extra_keywords``; it
        returns the input coordinates. A ``scipy.LowLevelCallable`` cannot be traced.
    output_shape, output, order, mode, cval, prefilter, extra_arguments, extra_keywords
        As in SciPy (``cval`` 0 with the constant modes).

    Notes
    -----
    Orders 2–5 with ``prefilter=True`` record SciPy's spline prefilter as one
    ``spline_filter`` step per axis (with its exact transpose), then the sparse
    interpolation matrix. An ``inf``/``NaN`` input reaches only the outputs it has a
    non-zero weight in; SciPy also spreads it to outputs that fall exactly on a
    neighbouring element.
    """
    what = "scipy.ndimage.geometric_transform"
    if not is_tracer(input):
        return _ndi.geometric_transform(input, mapping, output_shape, output, order, mode, cval,
                                        prefilter, extra_arguments, extra_keywords)
    if isinstance(mapping, _LowLevelCallable):
        raise unsupported(f"{what} with a scipy.LowLevelCallable mapping",
                          "linop evaluates the mapping in Python at trace time: pass a Python "
                          "callable, or compute the coordinates and call map_coordinates.")
    out_shape = tuple(input.shape if output_shape is None else output_shape)
    record = []
    x, dtype = _geometric_prelude(what, _ndi.geometric_transform, input, mode, cval, output,
                           _recorded_mapping(mapping, record), out_shape,
                           order=order, prefilter=prefilter, extra_arguments=extra_arguments,
                           extra_keywords=extra_keywords)
    points = math.prod(out_shape)  # SciPy maps a complex input twice (real, imaginary part)
    coords = np.array([p[:x.ndim] for p in record[:points]], dtype=np.float64).reshape(-1, x.ndim)
    out = resample_points(x, coords.T, out_shape, mode, int(order), prefilter)
    return _result(out, dtype, input, what)


# -- spline prefilters -------------------------------------------------------------------
def _spline_prelude(what, fn, input, output, *args, **kwargs):
    """``(x, dtype)``: the tracer in the filter's working dtype, and SciPy's output dtype."""
    dtype = _scipy_dtype(what, fn, input, output, *args, **kwargs)
    return _working(input, dtype, what), dtype


@linear_in("input")
def spline_filter1d(input, order=3, axis=-1, output=np.float64, mode="mirror"):
    """``scipy.ndimage.spline_filter1d`` on a traced input (SciPy's recursive filter, exact transpose).

    Parameters
    ----------
    input : array_like or Tracer
    order : int
        0–5 (0 and 1 copy the input, as in SciPy).
    axis : int
    output : dtype
        Default float64, as in SciPy.
    mode : str
        Selects SciPy's boundary initialisation of the recursive filter.

    Notes
    -----
    Recorded as one ``spline_filter`` step that runs SciPy's own filter; its transpose runs
    the transposed steps of SciPy's recursion in the reverse order (exact, boundary
    initialisation included, for every mode and line length).
    """
    what = "scipy.ndimage.spline_filter1d"
    if not is_tracer(input):
        return _ndi.spline_filter1d(input, order, axis, output, mode)
    x, dtype = _spline_prelude(what, _ndi.spline_filter1d, input, output, order, axis, mode=mode)
    if order > 1:
        x = SF.spline_filter(x, int(order), mode, int(axis) % x.ndim)
    return _result(x, dtype, input, what)


@linear_in("input")
def spline_filter(input, order=3, output=np.float64, mode="mirror"):
    """``scipy.ndimage.spline_filter`` on a traced input (one ``spline_filter1d`` per axis).

    Parameters
    ----------
    input : array_like or Tracer
    order : int
        2–5.
    output : dtype
        Default float64, as in SciPy.
    mode : str
        Selects SciPy's boundary initialisation of the recursive filter.
    """
    what = "scipy.ndimage.spline_filter"
    if not is_tracer(input):
        return _ndi.spline_filter(input, order, output, mode)
    x, dtype = _spline_prelude(what, _ndi.spline_filter, input, output, order, mode=mode)
    for axis in range(x.ndim):
        x = SF.spline_filter(x, int(order), mode, axis)
    return _result(x, dtype, input, what)
