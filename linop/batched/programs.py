"""Programs and operators run on batched values: per-example transposes and ``reduce_axes`` sums.

A linear function traced inside an eager vmap, with per-example data as
constants, is the stack of the per-example linear maps; its transpose is run by
:func:`run_batched`, which evaluates ``unbatch`` (the transpose of
``batch_broadcast``) by making the cotangent per-example again. ``reduce_axes``
then sums over the named level (:func:`sum_level`). A Program or operator built
outside the vmap and applied to a batched value runs batched the same way
(:func:`run_program`, :func:`apply_operator`).
"""
from __future__ import annotations

import numpy as np

from ..errors import BatchingError, user_location
from ..execute import DEFERRED_RUNNERS, conform
from ..primitives import shape as S
from ..core import is_tracer
from .calls import lift, move_axis_perm
from .levels import BatchLevel, active_level, check_active, unbatch_p
from .value import BatchedArray, core_of, levels_of, wrap

__all__ = ["arrange", "sum_level", "run_batched", "run_program", "apply_operator"]


def arrange(x, plain_levels):
    """``x`` with the batch axes of ``plain_levels`` as leading per-example axes (outermost first).

    Levels ``x`` is not batched over are broadcast first; the other levels stay
    batched. Used to give a transposed program its per-example cotangent.
    """
    for level in plain_levels:
        if level not in levels_of(x):
            x = lift(x, level)
    levels, core = levels_of(x), core_of(x)
    keep = [l for l in levels if l not in plain_levels]
    order = [levels.index(l) for l in keep] + [levels.index(l) for l in plain_levels]
    perm = order + list(range(len(levels), core.ndim))
    return wrap(S.transpose(core, perm), keep)


def _unbatch(x, level: BatchLevel):
    """The leading per-example axis of ``x`` becomes ``level``'s batch axis."""
    levels, core = levels_of(x), core_of(x)
    position = sum(1 for l in levels if l.serial < level.serial)
    core = S.transpose(core, move_axis_perm(len(levels), position, core.ndim))
    return wrap(core, sorted(levels + [level], key=lambda l: l.serial))


def sum_level(x, level: BatchLevel):
    """Sum ``x`` over ``level``'s batch axis (``reduce_axes``); unchanged if not batched over it."""
    levels = levels_of(x)
    if level not in levels:
        return x
    core = S.reduce_sum(core_of(x), (levels.index(level),))
    return wrap(core, [l for l in levels if l is not level])


def _all_levels(values) -> list:
    levels = sorted({l for v in values for l in levels_of(v)}, key=lambda l: l.serial)
    for level in levels:
        check_active(level)
    return levels


def _flat_batch(values, levels):
    """Every value as a core with all ``levels``' axes merged into one leading axis."""
    sizes = tuple(l.size for l in levels)
    cores = []
    for v in values:
        for level in levels:
            if level not in levels_of(v):
                v = lift(v, level)
        core = core_of(v)
        merged = (int(np.prod(sizes, dtype=np.int64)),) + tuple(core.shape[len(levels):])
        cores.append(S.reshape(core, merged))
    return cores, sizes


def _batched_eqn(eqn, values):
    levels = _all_levels(values)
    cores, sizes = _flat_batch(values, levels)
    out = eqn.prim.batch(cores[0].shape[0], *cores, **eqn.params)
    return wrap(S.reshape(out, sizes + tuple(eqn.out.aval.shape)), levels)


def run_batched(program, inputs) -> list:
    """Run ``program`` on inputs that may be batched values; outputs may be batched.

    Equations on batched values run through their primitive's batching rule (all
    levels merged into one batch axis); ``unbatch`` makes its input per-example.
    """
    env = {v.id: x for v, x in zip(program.invars, inputs)}
    for eqn in program.eqns:
        values = [env[v.id] for v in eqn.inputs]
        if eqn.prim is unbatch_p:
            out = _unbatch(values[0], active_level(eqn.params["level"]))
        elif any(isinstance(v, BatchedArray) for v in values):
            out = _batched_eqn(eqn, values)
        else:
            out = eqn.prim.bind(*values, **eqn.params)
        env[eqn.out.id] = out
    return [env[v.id] for v in program.outvars]


def run_program(program, args) -> list:
    """``program.call_flat(args)`` where some arguments are batched values (a Program called in vmap).

    Each argument is checked against its input's shape (per example) and cast
    as :func:`linop.execute.conform` does; the program then runs on the batch.
    """
    if len(args) != len(program.invars):
        raise TypeError(f"the program takes {len(program.invars)} inputs, got {len(args)}")
    conformed = []
    for i, (arg, var) in enumerate(zip(args, program.invars)):
        if not isinstance(arg, BatchedArray):
            conformed.append(conform(arg, var.aval, f"input {i}"))
            continue
        if tuple(arg.shape) != var.aval.shape:
            raise ValueError(f"input {i} must have shape {var.aval.shape}, got {tuple(arg.shape)} "
                             "(per example of linop.vmap)")
        core = core_of(arg)
        aval = type(var.aval)(tuple(core.shape), var.aval.dtype)
        conformed.append(wrap(conform(core, aval, f"input {i}"), levels_of(arg)))
    outs = run_batched(program, conformed)
    return [wrap(np.array(core_of(o)) if isinstance(core_of(o), np.ndarray) else core_of(o),
                 levels_of(o)) if isinstance(o, BatchedArray) else o for o in outs]


def apply_operator(apply_matrix, x, n: int, what: str):
    """An operator's method on a batched vector or matrix: one ``matmat`` over all examples.

    Parameters
    ----------
    apply_matrix : callable
        ``apply_matrix(X)`` for ``X`` of shape ``(n, k)`` (the operator's ``matmat`` or
        ``rmatmat``); it accepts arrays and tracers.
    x : BatchedArray
        One example is a vector ``(n,)`` or a matrix of columns ``(n, k)``.
    n : int
        The operator's number of columns (rows for the adjoint).
    what : str
        The method, for errors.

    Returns
    -------
    BatchedArray
        Per example, what the method gives for that example.
    """
    if x.ndim not in (1, 2) or x.shape[0] != n:
        raise ValueError(f"{what} at {user_location()}: the operator expects a vector of shape "
                         f"({n},) or a matrix of shape ({n}, k) per example of linop.vmap, got "
                         f"{tuple(x.shape)}")
    if not is_tracer(core_of(x)) and core_of(x).dtype.kind not in "fciub":
        raise BatchingError(f"{what} at {user_location()}: expected a numeric array, got dtype "
                            f"{core_of(x).dtype}")
    levels, core = levels_of(x), core_of(x)
    for level in levels:
        check_active(level)
    lead_shape = tuple(core.shape[:len(levels)])
    rest = tuple(core.shape[len(levels) + 1:])
    columns = np.reshape(np.moveaxis(core, len(levels), 0), (n, -1))
    out = apply_matrix(columns)
    m = out.shape[0]
    out = np.moveaxis(np.reshape(out, (m,) + lead_shape + rest), 0, len(levels))
    return wrap(out, levels)


DEFERRED_RUNNERS[BatchedArray] = run_program  # a Program called on per-example values
