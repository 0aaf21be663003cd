"""NumPy adapter: ``np.linalg.solve``, ``lstsq``, ``multi_dot``, ``np.interp`` and ``np.cross``.

Each of them is linear in one argument when the others are constants:

* ``solve(A, b)`` and ``lstsq(A, b)[0]`` in ``b`` (``A`` constant);
* ``interp(x, xp, fp)`` in ``fp`` (``x`` and ``xp`` constant);
* ``cross(a, b)`` in either vector argument (the other constant);
* ``multi_dot(arrays)`` in the one traced operand.

Shapes, dtypes and NumPy's own exceptions are obtained by running NumPy on
zero arrays of the traced argument's shape ("probing"), so they are exactly
NumPy's; the traced computation is then built from primitives.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from ..errors import NonLinearError, user_location
from ..primitives import arithmetic as A, shape as S
from ..primitives.gather import gather
from ..primitives.lu_solve import lu_factors, lu_solve
from ..core import is_tracer
from .registry import implements
from .util import constant, nonlinear, to_dtype, to_linear, unsupported
from .contraction import contract_with_constants, dot_


def _zeros_like_tracer(x):
    return np.zeros(x.shape, x.dtype)


def _refuse_traced(what, hint, *values):
    if any(is_tracer(v) for v in values):
        raise nonlinear(what, hint)


# -- np.linalg.solve ------------------------------------------------------------------
@implements(np.linalg.solve)
def solve(a, b):
    """``np.linalg.solve(A, b)`` for a constant ``A`` and a traced ``b``.

    ``A`` is LU-factorised once while tracing; the program solves with the
    factors (``lu_solve``), and its transpose solves with ``Aᵀ`` from the
    same factors. A traced ``A`` raises :class:`~linop.NonLinearError`.
    """
    _refuse_traced("np.linalg.solve(A, b)", "the solution is not linear in the matrix A (it "
                   "involves A's inverse). Only a constant A with a traced right-hand side b "
                   "is linear.", a)
    a = constant(a)
    probe = np.linalg.solve(a, _zeros_like_tracer(b))
    res = probe.dtype
    x = to_dtype(b, res, "np.linalg.solve")
    if b.ndim == 1:
        x = S.reshape(x, (b.shape[0], 1))
    batch = probe.shape[:-1] if b.ndim == 1 else probe.shape[:-2]
    x = S.broadcast_to(x, batch + x.shape[-2:])
    if a.ndim > 2:
        a = np.broadcast_to(a, batch + a.shape[-2:])
    lu, piv = lu_factors(a)
    out = lu_solve(x, lu, piv, 0)
    return S.reshape(out, probe.shape)


# -- np.linalg.lstsq ------------------------------------------------------------------
class QuadraticResult(NDArrayOperatorsMixin):
    """Stand-in for a result that is quadratic in the traced input (lstsq's residuals).

    NumPy computes it eagerly, so ``np.linalg.lstsq`` must return something in
    its place; any use of it raises :class:`~linop.NonLinearError`, while
    unpacking ``x, res, rank, s = np.linalg.lstsq(A, b)`` and ignoring ``res``
    works.
    """

    def __init__(self, what: str, where: str):
        self._what, self._where = what, where

    def _error(self):
        return NonLinearError(
            f"{self._what} (from {self._where}) are quadratic in the traced right-hand side, not "
            f"linear, so linop cannot compute them (used at {user_location()}). Use only the "
            "solution np.linalg.lstsq(A, b)[0] inside the traced function; compute residuals "
            "outside it, on arrays.")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._error()

    def __array__(self, dtype=None, copy=None):
        raise self._error()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        raise self._error()

    def __array_function__(self, func, types, args, kwargs):
        raise self._error()

    def __len__(self):
        raise self._error()

    def __getitem__(self, index):
        raise self._error()

    def __iter__(self):
        raise self._error()

    def __bool__(self):
        raise self._error()

    def __float__(self):
        raise self._error()

    def __repr__(self) -> str:
        return f"<{self._what}: quadratic in the traced input, not available while tracing>"


def _pinv_rank(a: np.ndarray, rank: int) -> np.ndarray:
    """Pseudo-inverse from the ``rank`` largest singular values (what LAPACK's gelsd keeps)."""
    comp = np.complex128 if np.iscomplexobj(a) else np.float64
    u, s, vh = np.linalg.svd(np.asarray(a, comp), full_matrices=False)
    u, s, vh = u[:, :rank], s[:rank], vh[:rank]
    return (vh.conj().T / s) @ u.conj().T


@implements(np.linalg.lstsq)
def lstsq(a, b, rcond=None):
    """``np.linalg.lstsq(A, b, rcond)`` for a constant ``A`` and a traced ``b``.

    Returns ``(x, residuals, rank, s)`` like NumPy. ``x`` is traced: the
    product of ``b`` with the pseudo-inverse of ``A`` restricted to the
    singular values that NumPy's solver keeps (``rank`` of them, per
    ``rcond``). ``rank`` and ``s`` depend on ``A`` only and are returned as
    constants. ``residuals`` are quadratic in ``b``: where NumPy returns an
    empty array (``rank < N`` or ``M <= N``) the same empty array is
    returned, otherwise a stand-in that raises :class:`~linop.NonLinearError`
    when used.
    """
    _refuse_traced("np.linalg.lstsq(A, b)", "the least-squares solution is not linear in the "
                   "matrix A. Only a constant A with a traced right-hand side b is linear.", a)
    a = constant(a)
    x0, res0, rank, s = np.linalg.lstsq(a, _zeros_like_tracer(b), rcond=rcond)
    pinv = _pinv_rank(a, int(rank))
    sub = "mk" if b.ndim == 2 else "m"
    x = contract_with_constants(b, sub, [(pinv, "nm")], sub.replace("m", "n"), x0.dtype)
    if res0.shape[0] == 0:
        residuals = res0
    else:
        residuals = QuadraticResult("the residuals of np.linalg.lstsq", user_location())
    return x, residuals, rank, s


# -- np.interp --------------------------------------------------------------------------
def _interp_taps(xq, xp):
    """Indices ``(n, 2)`` into ``xp`` and weights ``(n, 2)`` of two-tap linear interpolation.

    Follows NumPy's rules: exact hits of a sample take its value, queries
    outside ``[xp[0], xp[-1]]`` are marked with index ``-1`` (left) or ``-2``
    (right) in the first column, to be filled by the caller.
    """
    n = xp.shape[0]
    j = np.searchsorted(xp, xq, side="right") - 1
    idx = np.zeros(xq.shape + (2,), np.intp)
    w = np.zeros(xq.shape + (2,), np.float64)
    inside = (j >= 0) & (j < n - 1)
    jj = j[inside]
    lo, hi = xp[jj], xp[np.minimum(jj + 1, n - 1)]
    t = (xq[inside] - lo) / (hi - lo)
    t = np.where(xq[inside] == lo, 0.0, t)
    idx[inside, 0], idx[inside, 1] = jj, jj + 1
    w[inside, 0], w[inside, 1] = 1.0 - t, t
    at_end = xq == xp[-1]
    idx[at_end, 0], w[at_end, 0], w[at_end, 1] = n - 1, 1.0, 0.0
    left, right = xq < xp[0], xq > xp[-1]
    nan = np.isnan(xq)
    w[nan] = np.nan
    return idx, w, left, right


def _fill_value(value, default_index, rows, idx, w, what):
    """Apply ``left=``/``right=``: default sample, a zero, or a traced scalar (returned)."""
    if value is None:
        idx[rows, 0], w[rows, 0] = default_index, 1.0
        return None
    idx[rows, 0], w[rows, 0] = 0, 0.0
    if is_tracer(value):
        # NumPy converts left/right with float()/complex() on scalars: arrays must be 0-d,
        # and 0-d complex arrays are refused (only Python complex scalars are accepted).
        if value.ndim != 0:
            raise TypeError("only 0-dimensional arrays can be converted to Python scalars")
        if np.issubdtype(value.dtype, np.complexfloating):
            raise TypeError("float() argument must be a string or a real number, not 'complex'")
        return value
    if np.any(np.asarray(value) != 0):
        to_linear(value, np.float64, (), what)  # raises AffineError with the usual message
    return None


def _weighted_tap(f, idx, w):
    """``f[idx] * w`` in which a zero weight gives zero even where ``f`` is inf or nan.

    NumPy returns a sample's own value at exact hits and outside the range, never
    ``0 * fp[j + 1]``: non-finite data stays where it is.
    """
    taps = gather(f, idx, 0)
    if not w.all():  # masked before the product, so that 0 * inf never happens (nor warns)
        taps = A.mask(taps, (w != 0) | np.isnan(w))
    return A.mul(taps, w.copy())


@implements(np.interp)
def interp(x, xp, fp, left=None, right=None, period=None):
    """``np.interp(x, xp, fp, left, right, period)``, linear in ``fp``.

    ``x`` and ``xp`` must be constants. ``left``/``right`` default to
    ``fp[0]``/``fp[-1]`` (linear); a non-zero constant makes the map affine
    (:class:`~linop.AffineError`), zero or a traced scalar is fine. The
    lowering is a two-tap gather: memory and time are O(len(x)).
    ``xp`` must be increasing (as NumPy requires without checking).
    """
    _refuse_traced("np.interp(x, xp, fp)", "the interpolated values are not linear in the query "
                   "points x or the sample points xp; only fp may be traced.", x, xp)
    if not is_tracer(fp):
        raise nonlinear("np.interp(x, xp, fp)", "only fp may be traced (left/right alone make "
                        "the result piecewise constant in them, which linop does not trace).")
    res = np.dtype(np.complex128 if np.issubdtype(fp.dtype, np.complexfloating) else np.float64)
    probe_fill = [None if v is None or is_tracer(v) else v for v in (left, right)]
    probe = np.asarray(np.interp(x, xp, np.zeros(fp.shape, res), *probe_fill, period=period))
    xq = np.asarray(x, np.float64)
    xs = np.asarray(xp, np.float64)
    order = np.arange(xs.shape[0])
    if period is not None:
        period = abs(period)
        left = right = None
        xq, xs = xq % period, xs % period
        order = np.argsort(xs)
        xs = xs[order]
        xs = np.concatenate((xs[-1:] - period, xs, xs[:1] + period))
        order = np.concatenate((order[-1:], order, order[:1]))
    idx, w, lrows, rrows = _interp_taps(xq.reshape(-1), xs)
    n = xs.shape[0]
    extra = [_fill_value(left, 0, lrows, idx, w, "np.interp(..., left=c)"),
             _fill_value(right, n - 1, rrows, idx, w, "np.interp(..., right=c)")]
    f = to_dtype(fp, res, "np.interp")
    idx = order[idx]
    # Complex samples stay complex-linear (one product per tap), so that an operator built on
    # it is a complex operator; NumPy interpolates real and imaginary parts separately, so
    # where a used sample has an infinite part the two differ (inf + nanj against inf + 1j).
    out = _two_taps(f, idx, w)
    for value, rows in zip(extra, (lrows, rrows)):
        if value is not None:
            v = to_linear(value, res, (), "np.interp(left=/right=)")
            # masked, not multiplied by the 0/1 rows: inf * 0 would put NaN in every other row
            out = A.add(out, A.mask(S.broadcast_to(v, out.shape), rows))
    return S.reshape(out, probe.shape)


def _two_taps(f, idx, w):
    """``f[idx[:, 0]] * w[:, 0] + f[idx[:, 1]] * w[:, 1]``."""
    # Two 1-D gathers (one per tap) run faster than one (n, 2) gather and a sum over taps.
    return A.add(_weighted_tap(f, idx[:, 0], w[:, 0]), _weighted_tap(f, idx[:, 1], w[:, 1]))


# -- np.cross ---------------------------------------------------------------------------
_EPS = np.zeros((3, 3, 3))
_EPS[0, 1, 2] = _EPS[1, 2, 0] = _EPS[2, 0, 1] = 1.0
_EPS[0, 2, 1] = _EPS[2, 1, 0] = _EPS[1, 0, 2] = -1.0


def _as_3(c):
    """Pad constant 2-vectors (last axis) with a zero z-component."""
    if c.shape[-1] == 3:
        return c
    return np.concatenate([c, np.zeros(c.shape[:-1] + (1,), c.dtype)], axis=-1)


@implements(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross(a, b, ...)`` with one traced operand (2- and 3-vectors, every axis keyword)."""
    if is_tracer(a) and is_tracer(b):
        raise nonlinear("np.cross(a, b)", "both operands are traced: the cross product of two "
                        "traced arrays is bilinear, not linear. One operand must be a constant.")
    traced_first = is_tracer(a)
    t, c = (a, b) if traced_first else (b, a)
    c = constant(c)
    za = _zeros_like_tracer(a) if traced_first else c
    zb = c if traced_first else _zeros_like_tracer(b)
    probe = np.cross(za, zb, axisa, axisb, axisc, axis)
    if axis is not None:
        axisa = axisb = axisc = axis
    ax_t, ax_c = (axisa, axisb) if traced_first else (axisb, axisa)
    t = S.transpose(t, _move_to_end(t.ndim, ax_t % t.ndim))
    c = np.moveaxis(c, ax_c, -1)
    p = t.shape[-1]
    # out_i = sum_j t_j K[..., j, i] with K from the Levi-Civita symbol and the constant.
    spec = "ijk,...k->...ji" if traced_first else "ikj,...k->...ji"
    kernel = np.einsum(spec, _EPS, _as_3(c))[..., :p, :]
    both_2 = p == 2 and c.shape[-1] == 2
    if both_2:
        kernel = kernel[..., 2:]
    out_batch = S.broadcast_shapes(t.shape[:-1], c.shape[:-1])
    nb = len(out_batch)
    letters = "abcdefghijklmnopqrstuvw"[:nb]
    t = S.broadcast_to(t, out_batch + (p,))
    c_batch = (1,) * (nb - (kernel.ndim - 2)) + kernel.shape[:-2]
    keep = [d == n for d, n in zip(c_batch, out_batch)]
    kernel = kernel.reshape(c_batch + kernel.shape[-2:])
    kernel = kernel.reshape(tuple(d for d, k in zip(c_batch, keep) if k) + kernel.shape[-2:])
    c_sub = "".join(l for l, k in zip(letters, keep) if k) + "yz"
    out = contract_with_constants(t, letters + "y", [(kernel, c_sub)], letters + "z", probe.dtype)
    if both_2:
        return S.reshape(out, probe.shape)
    axc = axisc % (nb + 1)
    perm = list(range(nb))
    perm.insert(axc, nb)
    return S.transpose(out, perm)


def _move_to_end(ndim, ax):
    return [i for i in range(ndim) if i != ax] + [ax]


@implements(np.linalg.multi_dot)
def multi_dot(arrays, *, out=None):
    """``np.linalg.multi_dot`` with one traced operand: the constant products on either side
    are computed once with NumPy (in NumPy's cheapest order), then applied to the traced one.

    The first and last operands may be 1-D (a row and a column vector), the others must be
    2-D, as in NumPy; two operands are ``np.dot``.
    """
    if out is not None:
        raise unsupported("np.linalg.multi_dot(..., out=...)", "Assign the result instead.")
    arrays = list(arrays)
    if len(arrays) < 2:
        raise ValueError("Expecting at least two arrays.")
    traced = [i for i, a in enumerate(arrays) if is_tracer(a)]
    if len(traced) > 1:
        raise nonlinear("np.linalg.multi_dot of several traced arrays", "a product of traced "
                        "arrays is not linear; all operands but one must be constants")
    if len(arrays) == 2:
        return dot_(arrays[0], arrays[1])
    first_1d, last_1d = np.ndim(arrays[0]) == 1, np.ndim(arrays[-1]) == 1
    mats = [_as_matrix(a, i, len(arrays), first_1d, last_1d) for i, a in enumerate(arrays)]
    for m in mats:
        if np.ndim(m) != 2:
            raise np.linalg.LinAlgError(f"{np.ndim(m)}-dimensional array given. Array must be "
                                        "two-dimensional")
    k = traced[0]
    result = mats[k]
    if k > 0:
        result = dot_(_constant_chain(mats[:k]), result)
    if k < len(mats) - 1:
        result = dot_(result, _constant_chain(mats[k + 1:]))
    if first_1d and last_1d:
        return S.reshape(result, ())
    if first_1d or last_1d:
        return S.reshape(result, (result.size,))
    return result


def _as_matrix(a, i, n, first_1d, last_1d):
    """NumPy's 2-D view of operand ``i`` of ``n``: a 1-D first one a row, a 1-D last one a column."""
    if i == 0 and first_1d:
        return S.reshape(a, (1, a.shape[0])) if is_tracer(a) else np.atleast_2d(a)
    if i == n - 1 and last_1d:
        return S.reshape(a, (a.shape[0], 1)) if is_tracer(a) else np.atleast_2d(a).T
    return a if is_tracer(a) else np.asanyarray(a)


def _constant_chain(mats):
    return mats[0] if len(mats) == 1 else np.linalg.multi_dot(mats)
