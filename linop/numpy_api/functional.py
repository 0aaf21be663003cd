"""Functions that call the user's functions: ``np.piecewise`` and ``np.apply_along_axis``.

``np.piecewise`` follows NumPy's own steps on the traced array (a zero array of
``x``'s dtype, then ``y[cond] = piece`` condition after condition, later ones
overwriting earlier ones), with constant conditions.

``np.apply_along_axis`` traces ``func1d`` once, on one 1-D slice, into a program
of its own, batches that program over all the slices (each primitive's batching
rule, :func:`linop.batching.batch_program`) and replays it into the caller's
trace: one set of equations for every slice, where NumPy calls ``func1d`` once
per slice.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import AffineError, ConversionError, TracerMixError, user_location
from ..core import Builder, building, is_tracer, replay, zeros
from ..ir import Program, ShapeDtype
from ..pytree import tree_flatten
from ..batching import batch_program
from ..primitives import shape as S
from .registry import implements
from .util import normalize_axis, to_linear
from .advanced_indexing import refuse_traced_index
from .indexing import stack_sequence
from .conversion import CONVERSION_EXPLAINERS

__all__ = ["piecewise", "apply_along_axis"]


# -- np.piecewise -----------------------------------------------------------------------------
def _conditions(x, condlist, n_funcs) -> np.ndarray:
    """NumPy's list of conditions: a single one promoted, the "otherwise" one appended."""
    if np.isscalar(condlist) or (not isinstance(condlist[0], (list, np.ndarray))
                                 and x.ndim != 0):
        condlist = [condlist]
    conds = np.asarray(condlist, dtype=bool)
    n = len(conds)
    if n == n_funcs - 1:
        otherwise = ~np.any(conds, axis=0, keepdims=True)
        conds = np.concatenate([conds, otherwise], axis=0)
    elif n != n_funcs:
        raise ValueError(f"with {n} condition(s), either {n} or {n + 1} functions are expected")
    return conds


def _refuse_constant_piece(value, cond, index):
    if np.any(cond) and np.any(np.asarray(value) != 0):
        raise AffineError(
            f"np.piecewise at {user_location()}: piece {index} is the constant {value!r}, which "
            "makes the map affine, not linear. Use 0 for pieces that are constant, or a "
            "function of the values (lambda v: c * v), and add constants outside the function.")


@implements(np.piecewise)
def piecewise(x, condlist, funclist, *args, **kw):
    """``np.piecewise`` with constant conditions; callable pieces are traced on ``x[cond]``,
    constant pieces must be 0. The result has ``x``'s dtype, as in NumPy."""
    refuse_traced_index(condlist, "np.piecewise with a traced condition")
    funclist = list(funclist)
    conds = _conditions(x, condlist, len(funclist))
    y = zeros(x.shape, x.dtype)
    for index, (cond, func) in enumerate(zip(conds, funclist)):
        if not callable(func):
            _refuse_constant_piece(func, cond, index)
            y[cond] = func
            continue
        values = x[cond]
        if values.size > 0:
            y[cond] = func(values, *args, **kw)
    return y


# -- np.apply_along_axis ----------------------------------------------------------------------
def _traced_extras(args, kwargs):
    """Positions of the tracers among ``args`` and ``kwargs`` (they become program inputs)."""
    return ([i for i, a in enumerate(args) if is_tracer(a)],
            [k for k, v in kwargs.items() if is_tracer(v)])


def _closure_error() -> TracerMixError:
    return TracerMixError(
        f"np.apply_along_axis at {user_location()}: func1d uses a traced array of the enclosing "
        "function (a closure), but it is traced once for all slices. Pass that array as an "
        "extra argument, np.apply_along_axis(func1d, axis, arr, other), which reaches func1d.")


def _slice_program(func1d, arr, n, args, kwargs):
    """``func1d`` traced on one slice of length ``n`` (and the traced extra arguments)."""
    inner = Builder(arr.builder.tracer_class)
    slice_in = inner.new_input(ShapeDtype((n,), arr.dtype))
    arg_pos, kw_names = _traced_extras(args, kwargs)
    args, kwargs = list(args), dict(kwargs)
    inputs, extras = [slice_in], []
    for place, key in [(args, i) for i in arg_pos] + [(kwargs, k) for k in kw_names]:
        extras.append(place[key])
        place[key] = inner.new_input(place[key].aval)
        inputs.append(place[key])
    try:
        with building(inner):
            try:
                out = stack_sequence(func1d(slice_in, *args, **kwargs))
            except TracerMixError as exc:
                raise _closure_error() from exc
            if is_tracer(out) and out.builder is not inner:
                raise _closure_error()
            if not is_tracer(out):
                value = np.asanyarray(out)
                out = to_linear(value, value.dtype, value.shape,
                                "np.apply_along_axis(func1d) returning a constant")
    finally:
        inner.close()
    invars = [t.var for t in inputs]
    program = Program(invars, inner.eqns, [out.var], tree_flatten(tuple(t.aval for t in inputs))[1],
                      tree_flatten(out.aval)[1])
    return program, extras


@implements(np.apply_along_axis)
def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """``np.apply_along_axis`` of a traced array: ``func1d`` traced once on a 1-D slice and
    batched over the others; the result's axes are NumPy's (``func1d``'s output axes in
    place of ``axis``)."""
    nd = arr.ndim
    axis = normalize_axis(axis, nd)
    lead = tuple(d for i, d in enumerate(arr.shape) if i != axis)
    if any(d == 0 for d in lead):
        raise ValueError("Cannot apply_along_axis when any iteration dimensions are 0")
    count = math.prod(lead)
    moved = S.transpose(arr, tuple(i for i in range(nd) if i != axis) + (axis,))
    stacked = S.reshape(moved, (count, arr.shape[axis]))
    program, extras = _slice_program(func1d, arr, arr.shape[axis], args, kwargs)
    batched, _ = batch_program(program, count, [True] + [False] * len(extras))
    (out,) = replay(batched, [stacked] + extras)
    res_shape = tuple(out.shape[1:])
    out = S.reshape(out, lead + res_shape)
    k = len(res_shape)
    dims = list(range(len(lead) + k))
    perm = dims[:axis] + dims[len(lead):] + dims[axis:len(lead)]
    return S.transpose(out, tuple(perm))


#: NumPy's own ``apply_along_axis``, which runs when only an extra argument is traced
#: (NumPy dispatches on ``arr`` alone).
_NUMPY_APPLY_ALONG_AXIS = getattr(getattr(np.apply_along_axis, "_implementation", None),
                                  "__code__", None)


def _explain_constant_arr(frame):
    """The error for NumPy's ``apply_along_axis`` converting a traced ``func1d`` result."""
    if _NUMPY_APPLY_ALONG_AXIS is None or frame.f_code is not _NUMPY_APPLY_ALONG_AXIS:
        return None
    return ConversionError(
        f"np.apply_along_axis at {user_location()}: arr is a constant and only an extra "
        "argument is traced, so NumPy (which dispatches on arr alone) runs its own loop and "
        "needs func1d's values. Trace arr itself, or write the loop out: "
        "np.stack([func1d(row, w) for row in arr]) (with the axis moved last).")


CONVERSION_EXPLAINERS.append(_explain_constant_arr)
