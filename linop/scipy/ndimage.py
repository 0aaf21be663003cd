"""``scipy.ndimage``'s linear filters and order-0/1 geometric transforms for traced arrays.

Every function takes SciPy's signature; without a traced argument it simply
calls SciPy. On a tracer it runs SciPy once on zeros of the traced shape (which
validates the arguments with SciPy's own exceptions and gives the output shape
and dtype), then records the operation as constant sparse matrices
(``sparse_matmul``) built from SciPy's boundary rules, or as a boundary
extension followed by a ``convolve_nd`` for N-d kernels. Transposes are
therefore exact, and never densify anything.

Boundary modes: ``reflect``, ``constant`` (``cval=0`` only: a non-zero ``cval``
makes the map affine), ``nearest``, ``mirror``, ``wrap``, ``grid-mirror``,
``grid-constant``, ``grid-wrap``. Geometric transforms support ``order`` 0 and
1 (``prefilter`` is irrelevant there); higher orders raise
:class:`~linop.UnsupportedFunctionError`.

Only the input may be traced: a traced ``sigma``, ``shift``, ``zoom`` or other
parameter raises :class:`~linop.NonLinearError` naming it (the maps are not
linear in them).

Non-finite values stay more local than in SciPy: linop applies the linear map
exactly, and a zero weight contributes nothing, while SciPy's order-1
interpolation multiplies the other neighbour of an exact sample by 0 (``NaN *
0``) and its ``uniform_filter`` keeps a running sum that carries a ``NaN`` or
``inf`` along the rest of the axis. On finite data the results agree (see
"Non-finite values in linop.scipy.ndimage" in ``docs/semantics.md``).
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.ndimage as _ndi
import scipy.special as _special

from ..errors import AffineError, user_location
from ..core import is_tracer
from ..numpy_api.util import distinct, to_dtype, unsupported
from ..primitives import arithmetic as A, shape as S
from ..primitives.complex import real_dtype
from ..primitives.convolve_nd import convolve_nd
from ..primitives.sparse_matmul import sparse_matmul
from ._boundary import extend_index, extension_matrix, weights_matrix
from ._calls import linear_in
from ._interp import point_taps_matrix, taps_matrix

__all__ = ["correlate1d", "convolve1d", "correlate", "convolve", "uniform_filter1d",
           "uniform_filter", "gaussian_filter1d", "gaussian_filter", "sobel", "prewitt",
           "laplace", "shift", "zoom", "rotate", "affine_transform", "map_coordinates"]

_CONSTANT_MODES = ("constant", "grid-constant")


# -- shared helpers ------------------------------------------------------------------
def _zeros_for(x):
    return np.zeros(x.shape, x.dtype) if is_tracer(x) else x


def _probe(fn, *args, **kwargs):
    """SciPy's result on zeros in place of the tracer: validation, output shape and dtype."""
    return fn(*(_zeros_for(a) for a in args), **{k: _zeros_for(v) for k, v in kwargs.items()})


def _check_constants(what, **consts):
    for name, value in consts.items():
        if is_tracer(value):
            raise unsupported(f"{what} with a traced {name}",
                              "Only the input image may be traced; the other arguments must be constants.")


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


@linear_in("input", "weights")
def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """``scipy.ndimage.correlate1d`` on a traced input (complex weights conjugated, as in SciPy).

    Parameters
    ----------
    input : array_like or Tracer
    weights : array_like, 1-d, constant
    axis : int
    output : None or dtype
    mode : str
    cval : scalar
        Must be 0 with the constant modes.
    origin : int
    """
    what = "scipy.ndimage.correlate1d"
    if not is_tracer(input):
        _check_constants(what, weights=weights)
        return _ndi.correlate1d(input, weights, axis, output, mode, cval, origin)
    _check_constants(what, weights=weights)
    _check_output(what, output)
    ref = _probe(_ndi.correlate1d, input, weights, axis, output, mode, cval, origin)
    _check_cval(what, [mode], cval)
    weights = np.asarray(weights)
    if np.iscomplexobj(weights):
        weights = weights.conj()
    x = _prepare(input, ref, what)
    return distinct(_correlate1d_traced(x, weights, axis % x.ndim, mode, origin, ref.dtype), input)


def _convolve_as_correlate(weights, origin):
    weights = np.asarray(weights)[::-1]
    origin = -origin - (0 if len(weights) & 1 else 1)
    return weights, origin


@linear_in("input", "weights")
def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """``scipy.ndimage.convolve1d`` on a traced input.

    Parameters
    ----------
    input : array_like or Tracer
    weights : array_like, 1-d, constant
    axis, output, mode, cval, origin
        As in SciPy (``cval`` 0 with the constant modes).
    """
    what = "scipy.ndimage.convolve1d"
    _check_constants(what, weights=weights)
    if not is_tracer(input):
        return _ndi.convolve1d(input, weights, axis, output, mode, cval, origin)
    _check_output(what, output)
    ref = _probe(_ndi.convolve1d, input, weights, axis, output, mode, cval, origin)
    _check_cval(what, [mode], cval)
    w, o = _convolve_as_correlate(weights, origin)
    x = _prepare(input, ref, what)
    return distinct(_correlate1d_traced(x, w, axis % x.ndim, mode, o, ref.dtype), input)


# -- N-d kernels: extend by the boundary mode, then a valid correlation ------------------
def _correlate_nd_traced(x, weights, origins, axes, mode, ref_dtype):
    """``correlate`` of tracer ``x`` with ``weights`` over ``axes`` (no conjugation)."""
    weights = np.asarray(weights)
    dtype = _weights_dtype(ref_dtype, weights)
    kernel_shape = [1] * x.ndim
    for k, axis in enumerate(axes):
        K = weights.shape[k]
        kernel_shape[axis] = K
        before = K // 2 + origins[k]
        if K > 1 or before:
            ext = extension_matrix(x.shape[axis], before, K - 1 - before, mode,
                                   real_dtype(ref_dtype))
            x = sparse_matmul(x, ext, axis)
    kernel = np.asarray(weights, dtype=np.result_type(dtype, x.dtype)).reshape(kernel_shape)
    x = to_dtype(x, kernel.dtype, "scipy.ndimage filter")
    return convolve_nd(x, kernel, "valid", "direct")


def _nd_filter(name, input, weights, output, mode, cval, origin, axes, convolution):
    what = f"scipy.ndimage.{name}"
    fn = getattr(_ndi, name)
    _check_constants(what, weights=weights)
    if not is_tracer(input):
        return fn(input, weights, output, mode, cval, origin, axes=axes)
    _check_output(what, output)
    ref = _probe(fn, input, weights, output, mode, cval, origin, axes=axes)
    _check_cval(what, [mode], cval)
    weights = np.asarray(weights)
    ax = _axes(axes, input.ndim)
    origins = _per_axis(origin, len(ax))
    if convolution:
        weights = weights[(slice(None, None, -1),) * weights.ndim]
        origins = [-o - (0 if weights.shape[k] & 1 else 1) for k, o in enumerate(origins)]
    elif np.iscomplexobj(weights):
        weights = weights.conj()
    x = _prepare(input, ref, what)
    out = _correlate_nd_traced(x, weights, origins, ax, mode, ref.dtype)
    return distinct(to_dtype(out, ref.dtype, what), input)


@linear_in("input", "weights")
def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.correlate`` on a traced input (complex weights conjugated, as in SciPy).

    Parameters
    ----------
    input : array_like or Tracer
    weights : array_like, constant
    output, mode, cval, origin, axes
        As in SciPy (``cval`` 0 with the constant modes).
    """
    return _nd_filter("correlate", input, weights, output, mode, cval, origin, axes, False)


@linear_in("input", "weights")
def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """``scipy.ndimage.convolve`` on a traced input.

    Parameters
    ----------
    input : array_like or Tracer
    weights : array_like, constant
    output, mode, cval, origin, axes
        As in SciPy (``cval`` 0 with the constant modes).
    """
    return _nd_filter("convolve", input, weights, output, mode, cval, origin, axes, True)


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


# -- geometric transforms ----------------------------------------------------------------
def _check_order(what, order):
    if order not in (0, 1):
        raise unsupported(f"{what} with order={order!r}",
                          "Only order=0 (nearest) and order=1 (linear) are supported on traced "
                          "arrays: higher orders prefilter with a spline whose transpose linop does "
                          "not provide yet.")


def _geometric_prelude(what, fn, input, order, mode, cval, output, *args, **kwargs):
    _check_output(what, output)
    _check_order(what, order)
    ref = _probe(fn, input, *args, output=output, order=order, mode=mode, cval=cval, **kwargs)
    _check_cval(what, [mode], cval)
    return ref, _prepare(input, ref, what)


def _apply_per_axis(x, coords_per_axis, mode, order, dtype):
    """Separable resampling: one sparse matrix per axis."""
    for axis, coords in enumerate(coords_per_axis):
        M = taps_matrix(coords, x.shape[axis], mode, order, dtype)
        x = sparse_matmul(x, M, axis)
    return x


def _apply_points(x, coords, out_shape, mode, order, dtype):
    """Resampling at arbitrary points: one sparse matrix on the flattened input."""
    M = point_taps_matrix(coords.reshape(x.ndim, -1), x.shape, mode, order, dtype)
    flat = S.reshape(x, (x.size,))
    return S.reshape(sparse_matmul(flat, M, 0), out_shape)


@linear_in("input")
def shift(input, shift, output=None, order=3, mode="constant", cval=0.0, prefilter=True):
    """``scipy.ndimage.shift`` on a traced input (``order`` 0 or 1).

    Parameters
    ----------
    input : array_like or Tracer
    shift : float or sequence
    output, order, mode, cval, prefilter
        As in SciPy (``cval`` 0 with the constant modes).

    Notes
    -----
    An ``inf``/``NaN`` input reaches only the outputs it has a non-zero weight in; SciPy
    also spreads it to outputs that fall exactly on a neighbouring element.
    """
    what = "scipy.ndimage.shift"
    if not is_tracer(input):
        return _ndi.shift(input, shift, output, order, mode, cval, prefilter)
    ref, x = _geometric_prelude(what, _ndi.shift, input, order, mode, cval, output, shift,
                                prefilter=prefilter)
    shifts = -np.asarray(_per_axis(shift, x.ndim), dtype=np.float64)
    coords = [np.arange(n, dtype=np.float64) + s for n, s in zip(x.shape, shifts)]
    return distinct(_apply_per_axis(x, coords, mode, order, real_dtype(ref.dtype)), input)


@linear_in("input")
def zoom(input, zoom, output=None, order=3, mode="constant", cval=0.0, prefilter=True, *,
         grid_mode=False):
    """``scipy.ndimage.zoom`` on a traced input (``order`` 0 or 1).

    Parameters
    ----------
    input : array_like or Tracer
    zoom : float or sequence
    output, order, mode, cval, prefilter, grid_mode
        As in SciPy (``cval`` 0 with the constant modes).

    Notes
    -----
    An ``inf``/``NaN`` input reaches only the outputs it has a non-zero weight in; SciPy
    also spreads it to outputs that fall exactly on a neighbouring element.
    """
    what = "scipy.ndimage.zoom"
    if not is_tracer(input):
        return _ndi.zoom(input, zoom, output, order, mode, cval, prefilter, grid_mode=grid_mode)
    ref, x = _geometric_prelude(what, _ndi.zoom, input, order, mode, cval, output, zoom,
                                prefilter=prefilter, grid_mode=grid_mode)
    factors = _per_axis(zoom, x.ndim)
    if all(z == 1 for z in factors) and prefilter:
        return distinct(x, input)  # SciPy returns a copy of the input here
    if np.iscomplexobj(np.zeros(0, ref.dtype)):
        grid_mode = False  # SciPy 1.17 zooms real and imaginary parts without passing grid_mode on
    out_shape = np.array(ref.shape)
    in_shape = np.array(x.shape)
    if not grid_mode:
        out_shape, in_shape = out_shape - 1, in_shape - 1
    step = np.divide(in_shape, out_shape, out=np.ones(x.ndim), where=out_shape != 0)
    coords = []
    for n_out, z in zip(ref.shape, step):
        k = np.arange(n_out, dtype=np.float64)
        coords.append((k + 0.5) * z - 0.5 if grid_mode else k * z)
    return distinct(_apply_per_axis(x, coords, mode, order, real_dtype(ref.dtype)), input)


def _affine_coords(matrix, offset, out_shape):
    """Input coordinates ``offset + matrix @ o`` for every output index ``o``.

    Summed in SciPy's order (offset first), so that coordinates that land on a
    rounding tie (order 0) or a border round exactly as SciPy rounds them.
    """
    grids = np.indices(out_shape, dtype=np.float64).reshape(len(out_shape), -1)
    coords = np.zeros((matrix.shape[0], grids.shape[1]))
    for h in range(matrix.shape[0]):
        acc = np.full(grids.shape[1], offset[h])
        for ll in range(matrix.shape[1]):
            acc = acc + grids[ll] * matrix[h, ll]
        coords[h] = acc
    return coords


def _normalize_affine(matrix, offset, ndim):
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim == 2 and matrix.shape[1] == ndim + 1 and matrix.shape[0] in (ndim, ndim + 1):
        offset = matrix[:ndim, ndim]
        matrix = matrix[:ndim, :ndim]
    offset = np.asarray(_per_axis(offset, ndim) if np.ndim(offset) == 0 else offset, dtype=np.float64)
    return matrix, offset


def _affine_traced(x, matrix, offset, out_shape, mode, order, dtype):
    matrix, offset = _normalize_affine(matrix, offset, x.ndim)
    if matrix.ndim == 1:
        shifts = offset / matrix
        coords = [(np.arange(n, dtype=np.float64) + s) * z
                  for n, s, z in zip(out_shape, shifts, matrix)]
        return _apply_per_axis(x, coords, mode, order, dtype)
    coords = _affine_coords(matrix, offset, out_shape)
    return _apply_points(x, coords, tuple(out_shape), mode, order, dtype)


@linear_in("input")
def affine_transform(input, matrix, offset=0.0, output_shape=None, output=None, order=3,
                     mode="constant", cval=0.0, prefilter=True):
    """``scipy.ndimage.affine_transform`` on a traced input (``order`` 0 or 1).

    Parameters
    ----------
    input : array_like or Tracer
    matrix : array_like
        ``(ndim,)``, ``(ndim, ndim)``, ``(ndim, ndim + 1)`` or ``(ndim + 1, ndim + 1)``.
    offset, output_shape, output, order, mode, cval, prefilter
        As in SciPy (``cval`` 0 with the constant modes).

    Notes
    -----
    An ``inf``/``NaN`` input reaches only the outputs it has a non-zero weight in; SciPy
    also spreads it to outputs that fall exactly on a neighbouring element.
    """
    what = "scipy.ndimage.affine_transform"
    if not is_tracer(input):
        return _ndi.affine_transform(input, matrix, offset, output_shape, output, order, mode,
                                     cval, prefilter)
    ref, x = _geometric_prelude(what, _ndi.affine_transform, input, order, mode, cval, output,
                                matrix, offset, output_shape, prefilter=prefilter)
    out = _affine_traced(x, matrix, offset, ref.shape, mode, order, real_dtype(ref.dtype))
    return distinct(out, input)


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
    """``scipy.ndimage.rotate`` on a traced input (``order`` 0 or 1).

    Parameters
    ----------
    input : array_like or Tracer
    angle : float
        Degrees.
    axes, reshape, output, order, mode, cval, prefilter
        As in SciPy (``cval`` 0 with the constant modes).

    Notes
    -----
    An ``inf``/``NaN`` input reaches only the outputs it has a non-zero weight in; SciPy
    also spreads it to outputs that fall exactly on a neighbouring element.
    """
    what = "scipy.ndimage.rotate"
    if not is_tracer(input):
        return _ndi.rotate(input, angle, axes, reshape, output, order, mode, cval, prefilter)
    ref, x = _geometric_prelude(what, _ndi.rotate, input, order, mode, cval, output, angle, axes,
                                reshape, prefilter=prefilter)
    plane = sorted(a % x.ndim for a in axes)
    rot, offset, out_plane = _rotation(angle, [x.shape[a] for a in plane], reshape)
    others = [a for a in range(x.ndim) if a not in plane]
    moved = S.transpose(x, others + plane)
    lead = tuple(moved.shape[:len(others)])
    coords = _affine_coords(rot, offset, out_plane)
    M = point_taps_matrix(coords, tuple(moved.shape[len(others):]), mode, order,
                          real_dtype(ref.dtype))
    flat = S.reshape(moved, lead + (int(np.prod(moved.shape[len(others):])),))
    out = S.reshape(sparse_matmul(flat, M, len(lead)), lead + out_plane)
    back = np.argsort(others + plane)
    return distinct(S.transpose(out, tuple(int(b) for b in back)), input)


@linear_in("input")
def map_coordinates(input, coordinates, output=None, order=3, mode="constant", cval=0.0,
                    prefilter=True):
    """``scipy.ndimage.map_coordinates`` on a traced input (``order`` 0 or 1, constant coordinates).

    Parameters
    ----------
    input : array_like or Tracer
    coordinates : array_like, shape ``(input.ndim, ...)``
    output, order, mode, cval, prefilter
        As in SciPy (``cval`` 0 with the constant modes).

    Notes
    -----
    An ``inf``/``NaN`` input reaches only the outputs it has a non-zero weight in; SciPy
    also spreads it to outputs that fall exactly on a neighbouring element.
    """
    what = "scipy.ndimage.map_coordinates"
    if not is_tracer(input):
        return _ndi.map_coordinates(input, coordinates, output, order, mode, cval, prefilter)
    ref, x = _geometric_prelude(what, _ndi.map_coordinates, input, order, mode, cval, output,
                                coordinates, prefilter=prefilter)
    coords = np.asarray(coordinates).astype(np.float64)
    return distinct(_apply_points(x, coords, ref.shape, mode, order, real_dtype(ref.dtype)), input)
