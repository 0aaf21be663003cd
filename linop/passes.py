"""Rewrites of the IR: Program in, equivalent Program out.

Each pass keeps the program's meaning exactly (to rounding) and its calling
convention; none of them knows a primitive by name, only by the flags and rules
the primitive declares on its class:

* :func:`eliminate_dead_code` drops equations no output depends on;
* :func:`eliminate_common_subexpressions` merges equations that apply the same
  primitive with equal parameters to the same inputs (``y[1:-1] += x`` records
  the same ``update_slice`` twice);
* :func:`fold_chains` merges an equation with the producer of its input where
  the primitive's :meth:`~linop.core.Primitive.fold_into` rule allows
  (a chain of constant scalings becomes one; a slice update that is overwritten
  by the same slice update disappears);
* :func:`fuse_for_execution` merges a single-use producer into its reader
  (:meth:`~linop.core.Primitive.absorb`,
  :meth:`~linop.core.Primitive.fuse_into`): ``t + pad(p)`` and
  ``y[i] += v`` become one accumulation into a slice of ``t``. It runs where a program is compiled for
  execution, so the printed IR keeps the small primitive vocabulary.

:func:`simplify` is what tracing and transposing apply to every new program.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .ir import Const, Eqn, Program

__all__ = ["simplify", "eliminate_dead_code", "eliminate_common_subexpressions",
           "fold_chains", "fuse_for_execution", "use_counts"]


def simplify(program: Program) -> Program:
    """The passes every traced or transposed program goes through (folding, CSE, DCE)."""
    return eliminate_dead_code(eliminate_common_subexpressions(fold_chains(program)))


def use_counts(program: Program) -> dict:
    """How many times each variable (by id) is read by an equation or returned."""
    uses: dict[int, int] = {}
    for eqn in program.eqns:
        for v in eqn.inputs:
            uses[v.id] = uses.get(v.id, 0) + 1
    for v in program.outvars:
        uses[v.id] = uses.get(v.id, 0) + 1
    return uses


def eliminate_dead_code(program: Program) -> Program:
    """Drop equations whose outputs no program output depends on."""
    live = {v.id for v in program.outvars}
    kept = []
    for eqn in reversed(program.eqns):
        if eqn.out.id in live:
            kept.append(eqn)
            live.update(v.id for v in eqn.inputs)
    if len(kept) == len(program.eqns):
        return program
    return dataclasses.replace(program, eqns=kept[::-1])


_ATOMS = frozenset({int, float, complex, bool, str, type(None), np.dtype, np.bool_, np.int64,
                    np.float64} | {type(np.dtype(c)) for c in "?bhilqBHILQefdgFDG"})


def _param_key(value):
    """A hashable stand-in for a parameter; constants compare by the array they hold."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is tuple:
        for v in value:
            if type(v) not in _ATOMS:
                return tuple(_param_key(v) for v in value)
        return value
    if isinstance(value, Const):
        return ("const", kind, id(value.value))
    if kind is list:
        return ("list",) + tuple(_param_key(v) for v in value)
    if kind is dict:
        return ("dict",) + tuple((k, _param_key(v)) for k, v in value.items())
    if kind is slice:
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, np.ndarray):
        return ("array", id(value))
    return value


def _eqn_key(eqn: Eqn, inputs: tuple):
    # Constants are keyed by the identity of their snapshot, never by value: a trace stores
    # equal bytes once (so equal constants are one array), and comparing values would merge
    # x / a with x / b where a and b differ only in the sign of a zero.
    ids = tuple(v.id for v in inputs)
    key = (eqn.prim, ids, tuple([(k, _param_key(v)) for k, v in eqn.params.items()]))
    try:
        hash(key)
    except TypeError:  # a parameter of a type without a hash: leave this equation alone
        return None
    return key


def _renamed(eqn: Eqn, inputs: tuple) -> Eqn:
    if all(a is b for a, b in zip(inputs, eqn.inputs)):
        return eqn
    return dataclasses.replace(eqn, inputs=inputs)


def eliminate_common_subexpressions(program: Program) -> Program:
    """Merge equations that compute the same primitive, parameters and inputs."""
    rename: dict[int, object] = {}
    seen: dict = {}
    eqns = []
    for eqn in program.eqns:
        inputs = tuple(rename.get(v.id, v) for v in eqn.inputs)
        key = _eqn_key(eqn, inputs)
        earlier = seen.get(key) if key is not None else None
        if earlier is not None and earlier.aval == eqn.out.aval:
            rename[eqn.out.id] = earlier
            continue
        if key is not None:
            seen[key] = eqn.out
        eqns.append(_renamed(eqn, inputs))
    if not rename:
        return program
    outvars = [rename.get(v.id, v) for v in program.outvars]
    return dataclasses.replace(program, eqns=eqns, outvars=outvars)


def fold_chains(program: Program) -> Program:
    """Merge each equation with the one that produced its first input, where the primitive allows.

    A primitive says how with :meth:`~linop.core.Primitive.fold_into`
    (``mul(mul(v, a), c)`` is ``mul(v, a * c)``; a slice update overwritten by
    the same slice update is skipped); the inner equation is left for dead-code
    elimination when nothing else uses it.
    """
    producer: dict[int, Eqn] = {}
    changed = False
    eqns = []
    for eqn in program.eqns:
        inner = producer.get(eqn.inputs[0].id) if eqn.inputs else None
        folded = eqn.prim.fold_into(inner, eqn) if inner is not None else None
        if folded is not None:
            eqn, changed = folded, True
        producer[eqn.out.id] = eqn
        eqns.append(eqn)
    return dataclasses.replace(program, eqns=eqns) if changed else program


def _fused_producer(eqn: Eqn, producer: dict, uses: dict):
    for v in dict.fromkeys(eqn.inputs):
        inner = producer.get(v.id)
        if inner is not None and uses.get(v.id) == 1:
            fused = inner.prim.fuse_into(inner, eqn, producer, uses)
            if fused is not None:
                return fused
    return None


def fuse_for_execution(program: Program) -> Program:
    """Merge single-use producers into the equation that reads them (executor rewrites).

    A primitive says how with :meth:`~linop.core.Primitive.absorb`
    (as the reader) or :meth:`~linop.core.Primitive.fuse_into` (as the
    producer): ``t + pad(p)`` and ``y[i] += v`` (``update_slice(t, t[i] + v)``)
    become one ``add_slice``; merged producers become dead and are dropped.
    """
    producer: dict[int, Eqn] = {}
    uses = use_counts(program)
    changed = False
    eqns = []
    for eqn in program.eqns:
        fused = eqn.prim.absorb(eqn, producer, uses) or _fused_producer(eqn, producer, uses)
        if fused is not None:
            eqn, changed = fused, True
            for w in eqn.inputs:  # counted high: the merged producers are still listed
                uses[w.id] = uses.get(w.id, 0) + 1
        producer[eqn.out.id] = eqn
        eqns.append(eqn)
    if not changed:
        return program
    return eliminate_dead_code(dataclasses.replace(program, eqns=eqns))
