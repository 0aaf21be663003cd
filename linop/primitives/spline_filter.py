"""SciPy's B-spline prefilter along one axis, and its exact transpose: ``spline_filter``.

``spline_filter(x; order, mode, axis, transposed)`` is
``scipy.ndimage.spline_filter1d(x, order, axis, mode=mode)`` (``transposed``
false), a recursive (IIR) filter whose matrix ``P`` is dense; with
``transposed`` it applies ``Pᵀ``, and the primitive transposes into itself with
the flag toggled.

SciPy's filter is a gain followed, for each pole ``z``, by four in-place steps
on a line ``c`` of length ``n``: a causal initialisation ``c[0] ← r·c``, the
causal recursion ``c[i] += z c[i-1]``, an anticausal initialisation
``c[n-1] ← q·c`` and the anticausal recursion ``c[i] = z (c[i+1] - c[i])``.
The rows ``r`` and ``q`` depend on the boundary mode (``mirror``, ``wrap`` or
``reflect`` initialisation, as ``ni_splines.c`` chooses them). ``Pᵀ`` applies
the transposes of those steps in the reverse order: each recursion becomes the
recursion running the other way, each row update becomes a column update. It is
not ``P``: SciPy's ``reflect`` initialisation is inexact for short lines, and
the ``mirror`` one makes ``Pᵀ = W⁻¹ P W`` with ``W = diag(2, 1, …, 1, 2)``.
"""
from __future__ import annotations

import functools

import numpy as np

from ..core import Primitive
from ..errors import LinopError

__all__ = ["spline_filter", "spline_filter_p", "POLES"]

#: The poles of SciPy's B-spline prefilter by spline order (``ni_splines.c``).
POLES = {2: (-0.171572875253809902396622551580603843,),
         3: (-0.267949192431122706472553658494127633,),
         4: (-0.361341225900220177092212841325675255, -0.013725429297339121360331226939128204),
         5: (-0.430575347099973791851434783493520110, -0.043096288203264653822712376822550182)}

# The initialisation SciPy's apply_filter picks for each boundary mode.
_INIT = {"constant": "mirror", "grid-constant": "mirror", "mirror": "mirror", "wrap": "mirror",
         "grid-wrap": "wrap", "nearest": "reflect", "reflect": "reflect", "grid-mirror": "reflect"}


class SplineFilter(Primitive):
    """``scipy.ndimage.spline_filter1d`` along ``axis`` (its transpose with ``transposed``)."""

    name = "spline_filter"
    returns_fresh = True
    returns_view = False
    real_linear = False

    def dask_impl(self, dk, x, **params):
        return dk.along_axes(self, x, (params["axis"],), params)  # a recursion: its axis whole

    def impl(self, x, *, order, mode, axis, transposed):
        if transposed:
            return _transposed_filter(x, order, mode, axis)
        import scipy.ndimage as ndi

        return ndi.spline_filter1d(x, order, axis, output=x.dtype, mode=mode)

    def abstract_eval(self, x, *, order, mode, axis, transposed):
        return x

    def transpose(self, ct, x, *, order, mode, axis, transposed):
        return (spline_filter(ct, order, mode, axis, not transposed),)

    def batch(self, size, x, *, order, mode, axis, transposed):
        return spline_filter(x, order, mode, axis + 1, transposed)


spline_filter_p = SplineFilter()


def spline_filter(x, order: int, mode: str, axis: int, transposed: bool = False):
    """Record or compute SciPy's spline prefilter of ``order`` (2–5) along ``axis`` (or its transpose).

    Parameters
    ----------
    x : Tracer or numpy.ndarray
        Floating or complex (real and imaginary parts are filtered alike).
    order : {2, 3, 4, 5}
    mode : str
        A boundary mode of ``scipy.ndimage`` (it selects the initialisation).
    axis : int, non-negative
    transposed : bool
        Apply the transpose of the filter.
    """
    if mode not in _INIT or int(order) not in POLES:
        raise ValueError(f"spline_filter: order {order!r} and mode {mode!r} must be 2-5 and "
                         f"one of {sorted(_INIT)}")
    return spline_filter_p.bind(x, order=int(order), mode=str(mode), axis=int(axis),
                                transposed=bool(transposed))


# -- the transposed filter ---------------------------------------------------------------
def _powers(z, exponents):
    return np.power(z, np.asarray(exponents, dtype=np.float64))


@functools.lru_cache(maxsize=None)
def _reflect_init_reads_updated_first() -> bool:
    """Whether SciPy's ``reflect`` causal initialisation reads back its own partial sum.

    SciPy before 1.18 accumulated the sum in ``c[0]`` while also reading
    ``c[n-1-i]``, which is ``c[0]`` at the last step; later versions read the
    original value. Decided once by filtering a line of length 2 with each rule; a
    SciPy that follows neither rule raises :class:`~linop.LinopError` (an inexact
    transpose would be silently wrong).
    """
    import scipy
    import scipy.ndimage as ndi

    line = np.array([0.0, 1.0])
    scipy_out = ndi.spline_filter1d(line, 3, mode="reflect")
    for aliased in (False, True):
        rule = _transposed_line_filter(np.eye(2), 3, "reflect", aliased=aliased) @ line
        if np.allclose(scipy_out, rule, rtol=1e-14, atol=1e-14):
            return aliased
    raise LinopError(
        f"the spline prefilter of SciPy {scipy.__version__} (mode 'reflect', also used by "
        "'nearest' and 'grid-mirror') follows neither known boundary initialisation, so linop "
        "cannot apply its exact transpose. Use another mode, or another SciPy version, and "
        "report this to linop.")


def _causal_row(n, z, init, aliased):
    """``r`` of the causal initialisation ``c[0] ← r·c``."""
    j = np.arange(n)
    if init == "mirror":
        r = _powers(z, j) + _powers(z, 2 * n - 2 - j)
        r[0], r[-1] = 1.0, z ** (n - 1)
        return r / (1 - z ** (2 * n - 2))
    if init == "wrap":
        return _powers(z, (n - j) % n) / (1 - z ** n)
    s = _powers(z, j) + _powers(z, 2 * n - 1 - j)
    if aliased:  # the last step read the partial sum where c[0] was
        s[0], s[-1] = 1.0, z ** n
        s *= 1 + z ** (2 * n - 1)
        s[-1] += z ** (n - 1)
    r = s * (z / (1 - z ** (2 * n)))
    r[0] += 1.0
    return r


def _anticausal_row(n, z, init):
    """``q`` of the anticausal initialisation ``c[n-1] ← q·c``."""
    q = np.zeros(n)
    if init == "mirror":
        q[-2:] = (z * z / (z * z - 1), z / (z * z - 1))
    elif init == "wrap":
        q[:] = _powers(z, np.arange(1, n + 1)) * (z / (z ** n - 1))
        q[-1] = z / (z ** n - 1)
    else:
        q[-1] = z / (z - 1)
    return q


def _recursion(c, z, backward):
    """``y[i] = c[i] + z y[i∓1]`` along the last axis (forwards, or backwards)."""
    import scipy.signal as sig

    if backward:
        return sig.lfilter([1.0], [1.0, -z], c[..., ::-1], axis=-1)[..., ::-1]
    return sig.lfilter([1.0], [1.0, -z], c, axis=-1)


def _column_update(c, row, k):
    """The transpose of ``c[k] ← row·c`` along the last axis (in place)."""
    pivot = c[..., k:k + 1].copy()
    c += row * pivot
    c[..., k:k + 1] = row[k] * pivot


def _transposed_line_filter(c, order, mode, aliased):
    """``Pᵀ`` applied along the last axis of ``c`` (a float64 or complex128 array, length > 1)."""
    init, n = _INIT[mode], c.shape[-1]
    for z in POLES[order][::-1]:
        c = _recursion(c, z, backward=False)       # anticausal recursion, transposed
        c[..., :-1] *= -z
        _column_update(c, _anticausal_row(n, z, init), n - 1)
        c = _recursion(c, z, backward=True)        # causal recursion, transposed
        _column_update(c, _causal_row(n, z, init, aliased), 0)
    return c * np.prod([(1 - z) * (1 - 1 / z) for z in POLES[order]])


def _transposed_filter(x, order, mode, axis):
    if x.shape[axis] <= 1:
        return x.copy()
    work = np.moveaxis(x.astype(np.result_type(x.dtype, np.float64)), axis, -1)
    aliased = _INIT[mode] == "reflect" and _reflect_init_reads_updated_first()
    out = _transposed_line_filter(work, order, mode, aliased)
    return np.ascontiguousarray(np.moveaxis(out, -1, axis)).astype(x.dtype, copy=False)
