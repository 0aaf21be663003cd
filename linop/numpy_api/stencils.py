"""Stencils and shifts: cumsum, nancumsum, diff, pad, roll, rot90, tile, repeat, tril/triu,
diag, diagflat.

Most of these lower onto slices, pads, concatenations, broadcasts and reshapes;
``cumsum`` and ``roll`` have their own primitives (:mod:`linop.primitives.cumsum`, :mod:`linop.primitives.roll`)
because their transposes are again one cumsum/roll. ``np.pad`` builds, per
axis, the padded borders from the exact index pattern NumPy itself produces
(computed by running ``np.pad`` on indices), so even wide reflections match.
"""
from __future__ import annotations

import numpy as np

from ..errors import AffineError, user_location
from ..primitives import arithmetic as A, cumsum as CS, roll as RL, shape as S, slice as SL
from ..primitives.complex import real_dtype
from ..primitives.dot import dot
from . import shape as SH
from ..core import is_tracer
from .registry import implements
from .util import (distinct, fresh, nonlinear, normalize_axis, promote_dtype, to_dtype, to_linear,
                   unsupported)
from .reductions import diagonal




def _no_out(out, what):
    if out is not None:
        raise unsupported(f"{what}(..., out=...)", "Assign the returned array instead.")


def _range_along(x, axis, start, stop):
    """``x[..., start:stop, ...]`` along ``axis``."""
    starts = tuple(start if i == axis else 0 for i in range(x.ndim))
    stops = tuple(stop if i == axis else d for i, d in enumerate(x.shape))
    return SL.slice_(x, starts, stops, (1,) * x.ndim)


def _with_length(shape, axis, n):
    return tuple(n if i == axis else d for i, d in enumerate(shape))


def _along(values, axis, ndim):
    """A 1-D constant shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    return np.asarray(values).reshape((-1,) + (1,) * (ndim - axis - 1))


# -- roll ---------------------------------------------------------------------------------

@implements(np.roll)
def roll(a, shift, axis=None):
    """``np.roll``: a cyclic shift (``axis=None`` rolls the flattened array)."""
    if axis is None:
        flat = S.reshape(a, (a.size,))
        return S.reshape(roll(flat, shift, 0), a.shape)
    pairs = np.broadcast(shift, axis)
    if pairs.ndim > 1:
        raise ValueError("'shift' and 'axis' should be scalars or 1D sequences")
    shifts, axes = [], []
    for s, ax in pairs:
        shifts.append(int(s))
        axes.append(normalize_axis(ax, a.ndim))
    return distinct(RL.roll(a, shifts, axes), a)


# -- cumsum -------------------------------------------------------------------------------

def _cumsum(x, axis):
    if x.shape[axis] <= 1:
        return x
    return CS.cumsum(x, axis)


@implements(np.cumsum, method="cumsum")
def cumsum(a, axis=None, dtype=None, out=None):
    """``np.cumsum`` (also ``x.cumsum()``): the running sum, its transpose a reversed one."""
    _no_out(out, "np.cumsum")
    x = a if dtype is None else to_dtype(a, dtype, "np.cumsum(dtype=...)")
    if axis is None:
        x = S.reshape(x, (x.size,))
        axis = 0
    else:
        axis = normalize_axis(axis, x.ndim)
    return distinct(_cumsum(x, axis), a)


@implements(np.nancumsum)
def nancumsum(a, axis=None, dtype=None, out=None):
    """``np.nancumsum``: ``np.cumsum`` on the operator's domain, which holds no NaN.

    See "NaN-ignoring reductions" in docs/semantics.md.
    """
    _no_out(out, "np.nancumsum")
    return cumsum(a, axis=axis, dtype=dtype)


if hasattr(np, "cumulative_sum"):
    @implements(np.cumulative_sum)
    def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        """``np.cumulative_sum`` (the array-API running sum, optionally with a leading 0)."""
        _no_out(out, "np.cumulative_sum")
        if axis is None:
            if x.ndim > 1:
                raise ValueError("For arrays which have more than one dimension ``axis`` "
                                 "argument is required.")
            axis = 0
        if x.ndim == 0:  # NumPy sums a 0-d array as a 1-d one
            x = S.reshape(x, (1,))
        axis = normalize_axis(axis, x.ndim)
        if dtype is not None:
            x = to_dtype(x, dtype, "np.cumulative_sum(dtype=...)")
        y = cumsum(x, axis=axis)
        if include_initial:
            lo = tuple(1 if i == axis else 0 for i in range(y.ndim))
            y = SL.pad(y, lo, (0,) * y.ndim)
        return y


# -- diff ---------------------------------------------------------------------------------

def _edge_operand(value, a, axis, what):
    """``prepend``/``append`` of ``np.diff``: a tracer, or a constant that must be zero."""
    if is_tracer(value):
        if value.ndim == 0:
            value = S.broadcast_to(value, _with_length(a.shape, axis, 1))
        return value
    arr = np.asanyarray(value)
    if arr.ndim == 0:
        arr = np.broadcast_to(arr, _with_length(a.shape, axis, 1))
    if np.any(arr != 0):
        raise AffineError(
            f"np.diff(..., {what}=...) at {user_location()} joins a non-zero constant to the traced "
            "array, which makes the map affine, not linear. Use a zero (or traced) "
            f"{what}, or subtract the constant's contribution outside the function.")
    return arr


@implements(np.diff)
def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    """``np.diff`` with zero or traced ``prepend``/``append``."""
    if n == 0:
        return fresh(a) if is_tracer(a) else a
    if n < 0:
        raise ValueError("order must be non-negative but got " + repr(n))
    if np.ndim(a) == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    if not is_tracer(a):
        raise unsupported("np.diff of a constant with a traced prepend/append")
    axis = normalize_axis(axis, a.ndim)
    parts = []
    if prepend is not np._NoValue:
        parts.append(_edge_operand(prepend, a, axis, "prepend"))
    parts.append(a)
    if append is not np._NoValue:
        parts.append(_edge_operand(append, a, axis, "append"))
    x = a
    if len(parts) > 1:
        dtype = promote_dtype(*(p if is_tracer(p) else np.asarray(p) for p in parts))
        shape = a.shape
        joined = []
        for p in parts:
            pshape = p.shape
            if len(pshape) != len(shape) or any(d != e for i, (d, e) in enumerate(zip(pshape, shape))
                                                if i != axis):
                raise ValueError("all the input array dimensions except for the concatenation axis "
                                 f"must match exactly, but along some dimension the array has size "
                                 f"{shape} and the joined one {pshape}")
            joined.append(to_linear(p, dtype, pshape, "np.diff"))
        x = SL.concatenate(joined, axis)
    for _ in range(n):
        m = x.shape[axis]
        x = A.sub(_range_along(x, axis, 1, max(m, 1)), _range_along(x, axis, 0, max(m - 1, 0)))
    return x


# -- pad ----------------------------------------------------------------------------------

_PAD_KWARGS = {
    "empty": (), "edge": (), "wrap": (), "constant": ("constant_values",),
    "linear_ramp": ("end_values",), "maximum": ("stat_length",), "mean": ("stat_length",),
    "median": ("stat_length",), "minimum": ("stat_length",), "reflect": ("reflect_type",),
    "symmetric": ("reflect_type",),
}


def _pairs(x, ndim, as_index=False):
    """NumPy's broadcast of a pad argument to ``ndim`` (before, after) pairs."""
    if x is None:
        return [(None, None)] * ndim
    x = np.array(x)
    if as_index:
        x = np.round(x).astype(np.intp, copy=False)
    if x.ndim < 3:
        if x.size == 1:
            x = x.ravel()
            if as_index and x[0] < 0:
                raise ValueError("index can't contain negative values")
            return [(x[0].item(), x[0].item())] * ndim
        if x.size == 2 and x.shape != (2, 1):
            x = x.ravel()
            if as_index and (x[0] < 0 or x[1] < 0):
                raise ValueError("index can't contain negative values")
            return [(x[0].item(), x[1].item())] * ndim
    if as_index and x.min() < 0:
        raise ValueError("index can't contain negative values")
    return [tuple(p) for p in np.broadcast_to(x, (ndim, 2)).tolist()]


def _gather(x, axis, idx):
    """Pieces whose concatenation along ``axis`` is ``x`` taken at ``idx`` (runs → slices)."""
    pieces, i = [], 0
    while i < len(idx):
        j = i + 1
        step = int(idx[j] - idx[i]) if j < len(idx) else 0
        if step in (-1, 0, 1):
            while j < len(idx) and idx[j] - idx[j - 1] == step:
                j += 1
        else:
            step = 0
        first, last = int(min(idx[i], idx[j - 1])), int(max(idx[i], idx[j - 1]))
        piece = _range_along(x, axis, first, last + 1)
        if step == -1:
            piece = S.rev(piece, (axis,))
        elif step == 0 and j - i > 1:
            piece = S.broadcast_to(piece, _with_length(x.shape, axis, j - i))
        pieces.append(piece)
        i = j
    return pieces


def _gather_borders(x, axis, lo, hi, mode):
    n = x.shape[axis]
    probe = np.pad(np.arange(n), (lo, hi), mode=mode)
    return _gather(x, axis, probe[:lo]), _gather(x, axis, probe[lo + n:])


def _odd_borders(x, axis, lo, hi, mode):
    """``reflect_type='odd'``: ``2 * edge - reflection``, linear in ``x``."""
    n = x.shape[axis]
    room = n - 1 if mode == "reflect" else n
    if lo > room or hi > room:
        return _dense_borders(x, axis, lo, hi, mode, {"reflect_type": "odd"})
    left, right = _gather_borders(x, axis, lo, hi, mode)

    def odd(pieces, edge_at, width):
        if not width:
            return []
        edge = S.broadcast_to(_range_along(x, axis, edge_at, edge_at + 1),
                              _with_length(x.shape, axis, width))
        refl = SL.concatenate(pieces, axis)
        return [A.sub(A.mul(edge, np.asarray(2, real_dtype(x.dtype))), refl)]
    return odd(left, 0, lo), odd(right, n - 1, hi)


def _dense_borders(x, axis, lo, hi, mode, kwargs):
    """Borders as a contraction with the exact matrix of NumPy's 1-D padding (small cases)."""
    n = x.shape[axis]
    m = np.pad(np.eye(n), ((lo, hi), (0, 0)), mode=mode, **kwargs).astype(real_dtype(x.dtype))

    def rows(block):
        if not len(block):
            return []
        used = np.flatnonzero(np.any(block != 0, axis=0))
        c0, c1 = int(used[0]), int(used[-1]) + 1
        src = _range_along(x, axis, c0, c1)
        letters = "abcdefghijklmnopqrstuvwxy"[:x.ndim]
        out_sub = letters[:axis] + "z" + letters[axis + 1:]
        return [dot(src, block[:, c0:c1], letters, "z" + letters[axis], out_sub)]
    return rows(m[:lo]), rows(m[lo + n:])


def _mean_borders(x, axis, lo, hi, lengths):
    n = x.shape[axis]

    def stat(width, length, from_end):
        if not width:
            return []
        length = n if length is None or length > n else length
        if length == 0:
            raise unsupported("np.pad(mode='mean', stat_length=0)",
                              "The mean of no values is NaN, which is not linear.")
        part = _range_along(x, axis, n - length, n) if from_end else _range_along(x, axis, 0, length)
        total = S.reshape(S.reduce_sum(part, (axis,)), _with_length(x.shape, axis, 1))
        mean = A.div(total, np.asarray(length, real_dtype(x.dtype)))
        return [S.broadcast_to(mean, _with_length(x.shape, axis, width))]
    return stat(lo, lengths[0], False), stat(hi, lengths[1], True)


def _ramp_borders(x, axis, lo, hi):
    n = x.shape[axis]
    dtype = real_dtype(x.dtype)

    def ramp(width, edge_at, reverse):
        if not width:
            return []
        edge = S.broadcast_to(_range_along(x, axis, edge_at, edge_at + 1),
                              _with_length(x.shape, axis, width))
        w = np.arange(width, dtype=np.float64) / width
        w = (w[::-1] if reverse else w).astype(dtype)
        return [A.mul(edge, _along(w, axis, x.ndim))]
    return ramp(lo, 0, False), ramp(hi, n - 1, True)


def _pad_axis(x, axis, lo, hi, mode, kwargs, stat_lengths):
    n = x.shape[axis]
    if not lo and not hi:
        return x
    if mode in ("reflect", "symmetric") and n == 1:
        mode = "edge"
    if mode in ("edge", "wrap"):
        left, right = _gather_borders(x, axis, lo, hi, mode)
    elif mode in ("reflect", "symmetric"):
        kind = kwargs.get("reflect_type", "even")
        if kind == "odd":
            left, right = _odd_borders(x, axis, lo, hi, mode)
        else:
            left, right = _gather_borders(x, axis, lo, hi, mode)
    elif mode == "mean":
        left, right = _mean_borders(x, axis, lo, hi, stat_lengths)
    else:  # linear_ramp towards 0
        left, right = _ramp_borders(x, axis, lo, hi)
    return SL.concatenate(left + [x] + right, axis)


@implements(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    """``np.pad`` in the linear modes: zero ``constant``, ``edge``, ``reflect``, ``symmetric``
    (even or odd), ``wrap``, ``mean`` and ``linear_ramp`` towards 0."""
    if not is_tracer(array):
        raise unsupported("np.pad of a constant with traced keyword arguments")
    x = array
    widths = np.asarray(pad_width)
    if not widths.dtype.kind == "i":
        raise TypeError("`pad_width` must be of integral type.")
    widths = _pairs(widths, x.ndim, as_index=True)
    if callable(mode):
        raise unsupported("np.pad with a callable mode", "linop cannot see what the function "
                          "does; write the padding with slices and np.concatenate.")
    try:
        extra = set(kwargs) - set(_PAD_KWARGS[mode])
    except (KeyError, TypeError):
        raise ValueError(f"mode '{mode}' is not supported") from None
    if extra:
        raise ValueError(f"unsupported keyword arguments for mode '{mode}': {extra}")
    if mode in ("maximum", "minimum", "median"):
        raise nonlinear(f"np.pad(mode={mode!r})", f"padding with the {mode} of the values is not "
                        "linear. Use mode='mean', 'edge' or 'reflect' instead.")
    if mode == "empty":
        raise unsupported("np.pad(mode='empty')", "Its border values are undefined; use "
                          "mode='constant' (zeros) instead.")
    for key in ("constant_values", "end_values"):
        value = kwargs.get(key, 0)
        if is_tracer(value):
            raise unsupported(f"np.pad with a traced {key}")
        if np.any(np.asarray(value) != 0):
            raise AffineError(
                f"np.pad(mode={mode!r}, {key}={value!r}) at {user_location()} pads with a non-zero "
                "constant: the map is affine, not linear. Pad with zeros and add the constant "
                "border outside the function.")
    if kwargs.get("reflect_type", "even") not in ("even", "odd"):
        raise ValueError(f"unsupported reflect_type {kwargs['reflect_type']!r}")
    lo = tuple(int(w[0]) for w in widths)
    hi = tuple(int(w[1]) for w in widths)
    if mode == "constant" or x.size == 0:
        if mode != "constant":
            for axis, (l, h) in enumerate(zip(lo, hi)):
                if x.shape[axis] == 0 and (l or h):
                    raise ValueError(f"can't extend empty axis {axis} using modes other than "
                                     "'constant' or 'empty'")
        return distinct(SL.pad(x, lo, hi), array)
    stat_lengths = _pairs(kwargs.get("stat_length"), x.ndim, as_index=True)
    for axis in range(x.ndim):
        x = _pad_axis(x, axis, lo[axis], hi[axis], mode, kwargs, stat_lengths[axis])
    return distinct(x, array)


# -- rearrangements -----------------------------------------------------------------------

@implements(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    """``np.rot90``: a view made of flips and a transpose."""
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    if axes[0] == axes[1] or abs(axes[0] - axes[1]) == m.ndim:
        raise ValueError("Axes must be different.")
    if not (-m.ndim <= axes[0] < m.ndim and -m.ndim <= axes[1] < m.ndim):
        raise ValueError(f"Axes={axes} out of range for array of ndim={m.ndim}.")
    k %= 4
    if k == 0:
        return m[...]
    if k == 2:
        return SH.flip(SH.flip(m, axes[0]), axes[1])
    perm = list(range(m.ndim))
    perm[axes[0]], perm[axes[1]] = perm[axes[1]], perm[axes[0]]
    if k == 1:
        return SH.transpose(SH.flip(m, axes[1]), perm)
    return SH.flip(SH.transpose(m, perm), axes[1])


@implements(np.tile)
def tile(A_, reps):
    """``np.tile``: one broadcast between two reshapes (its transpose is a sum)."""
    try:
        reps = tuple(int(r) for r in reps)
    except TypeError:
        reps = (int(reps),)
    if any(r < 0 for r in reps):
        raise ValueError("negative dimensions are not allowed")
    ndim = max(A_.ndim, len(reps))
    shape = (1,) * (ndim - A_.ndim) + tuple(A_.shape)
    reps = (1,) * (ndim - len(reps)) + reps
    x = S.reshape(A_, tuple(d for s in shape for d in (1, s)))
    x = S.broadcast_to(x, tuple(d for r, s in zip(reps, shape) for d in (r, s)))
    return distinct(S.reshape(x, tuple(r * s for r, s in zip(reps, shape))), A_)


def _repeat_uniform(x, axis, r):
    """Every element along ``axis`` ``r`` times: broadcast a new axis, then merge it."""
    shape = x.shape
    y = S.reshape(x, shape[:axis + 1] + (1,) + shape[axis + 1:])
    y = S.broadcast_to(y, shape[:axis + 1] + (r,) + shape[axis + 1:])
    return S.reshape(y, _with_length(shape, axis, shape[axis] * r))


_DENSE_REPEAT_LIMIT = 1 << 22


@implements(np.repeat, method="repeat")
def repeat(a, repeats, axis=None):
    """``np.repeat``: uniform counts broadcast; per-element counts by blocks of equal count."""
    if is_tracer(repeats):
        raise nonlinear("np.repeat with traced repeats", "the output size would depend on the "
                        "values. Repeat counts must be constants.")
    if not is_tracer(a):
        raise unsupported("np.repeat of a constant")
    x = S.reshape(a, (a.size,)) if axis is None else a
    axis = 0 if axis is None else normalize_axis(axis, a.ndim)
    d = x.shape[axis]
    index = np.repeat(np.arange(d), repeats)  # NumPy's own validation and errors
    counts = np.broadcast_to(np.asarray(repeats), (d,)).astype(np.intp)
    if d == 0:
        return fresh(x)
    if d and np.all(counts == counts[0]):
        y = _repeat_uniform(x, axis, int(counts[0])) if counts[0] else _range_along(x, axis, 0, 0)
        return distinct(y, a)
    bounds = np.flatnonzero(np.diff(counts)) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [d]])
    if len(starts) > 64 and d * len(index) <= _DENSE_REPEAT_LIMIT:
        sel = (index[:, None] == np.arange(d)[None, :]).astype(real_dtype(x.dtype))
        letters = "abcdefghijklmnopqrstuvwxy"[:x.ndim]
        out_sub = letters[:axis] + "z" + letters[axis + 1:]
        return dot(x, sel, letters, "z" + letters[axis], out_sub)
    pieces = [_repeat_uniform(_range_along(x, axis, int(s), int(e)), axis, int(counts[s]))
              for s, e in zip(starts, stops) if counts[s]]
    if not pieces:
        return _range_along(x, axis, 0, 0)
    return distinct(SL.concatenate(pieces, axis), a)


# -- triangles and diagonals ----------------------------------------------------------------

def _triangle(m, mask):
    shape = S.broadcast_shapes(mask.shape, m.shape)
    return A.mask(S.broadcast_to(m, shape), mask)


@implements(np.tril)
def tril(m, k=0):
    """``np.tril``: a constant mask on the last two axes."""
    return _triangle(m, np.tri(*m.shape[-2:], k=k, dtype=bool))


@implements(np.triu)
def triu(m, k=0):
    """``np.triu``: a constant mask on the last two axes."""
    return _triangle(m, ~np.tri(*m.shape[-2:], k=k - 1, dtype=bool))


def _diag_matrix(v, k):
    """The square matrix with the 1-D ``v`` on diagonal ``k``: a pad with interior stride."""
    n = v.shape[0]
    size = n + abs(k)
    lo = k if k >= 0 else -k * size
    if n == 0:
        return S.reshape(SL.pad(v, (size * size,), (0,)), (size, size))
    used = lo + n + (n - 1) * size
    flat = SL.pad(v, (lo,), (size * size - used,), (size,))
    return S.reshape(flat, (size, size))


@implements(np.diag)
def diag(v, k=0):
    """``np.diag``: a 1-D array to a diagonal matrix, or a matrix's diagonal (a view)."""
    k = int(k)
    if v.ndim == 1:
        return _diag_matrix(v, k)
    if v.ndim == 2:
        return diagonal(v, k)
    raise ValueError("Input must be 1- or 2-d.")


@implements(np.diagflat)
def diagflat(v, k=0):
    """``np.diagflat``: the flattened input on diagonal ``k``."""
    return _diag_matrix(S.reshape(v, (v.size,)), int(k))
