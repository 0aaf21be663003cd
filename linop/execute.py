"""Executors: run a :class:`~linop.ir.Program` on arrays (or re-record it on tracers).

The default executor compiles a program once into a flat plan: a list of
``(impl, input slots, output slot, params)`` steps over a list of slots, with
no per-equation dictionary look-ups, dropping each intermediate after its last
use so that memory is returned early.
"""
from __future__ import annotations

import numpy as np

from .ir import Program, flatten_args, unflatten_out
from .primitives.base import is_tracer

__all__ = ["call_program", "run_flat", "compile_plan", "Plan"]


class Plan:
    """A compiled program: call it with a flat list of arrays.

    Parameters
    ----------
    program : Program
    """

    def __init__(self, program: Program):
        slot = {}
        for v in program.invars:
            slot.setdefault(v.id, len(slot))
        self.n_inputs = len(program.invars)
        self.input_slots = [slot[v.id] for v in program.invars]
        last_use: dict[int, int] = {}
        steps = []
        for k, eqn in enumerate(program.eqns):
            ins = [slot[v.id] for v in eqn.inputs]
            for s in ins:
                last_use[s] = k
            slot[eqn.out.id] = len(slot)
            steps.append((eqn.prim.impl, ins, slot[eqn.out.id], eqn.params))
        self.out_slots = [slot[v.id] for v in program.outvars]
        keep = set(self.out_slots)
        frees = [[] for _ in steps]
        for s, k in last_use.items():
            if s not in keep:
                frees[k].append(s)
        self.steps = [(impl, ins, out, params, tuple(free))
                      for (impl, ins, out, params), free in zip(steps, frees)]
        self.n_slots = len(slot)

    def __call__(self, args: list) -> list:
        env = [None] * self.n_slots
        for s, a in zip(self.input_slots, args):
            env[s] = a
        for impl, ins, out, params, free in self.steps:
            env[out] = impl(*[env[i] for i in ins], **params)
            for i in free:
                env[i] = None
        return [env[s] for s in self.out_slots]


def compile_plan(program: Program) -> Plan:
    """The compiled plan of ``program`` (cached on the program)."""
    if program._plan is None:
        program._plan = Plan(program)
    return program._plan


def run_flat(program: Program, args: list) -> list:
    """Run ``program`` on flat inputs: arrays give arrays, tracers record equations."""
    if any(is_tracer(a) for a in args):
        return _run_traced(program, args)
    arrays = [_as_input(a, v.aval, i) for i, (a, v) in enumerate(zip(args, program.invars))]
    outs = compile_plan(program)(arrays)
    return [_fresh_output(o, arrays) for o in outs]


def _as_input(a, aval, i):
    arr = np.asarray(a)
    if arr.shape != aval.shape:
        raise ValueError(f"input {i} must have shape {aval.shape}, got {arr.shape}")
    if arr.dtype != aval.dtype:
        if not np.can_cast(arr.dtype, aval.dtype, "same_kind"):
            raise TypeError(f"input {i} must have dtype {aval.dtype} (or one that casts to it "
                            f"with same_kind), got {arr.dtype}")
        arr = arr.astype(aval.dtype)
    return arr


def _fresh_output(out, inputs):
    # Outputs must not alias inputs or be read-only broadcast views.
    if not out.flags.writeable or any(np.may_share_memory(out, a) for a in inputs):
        return np.array(out)
    return out


def _run_traced(program: Program, args: list) -> list:
    env = {v.id: a for v, a in zip(program.invars, args)}
    for eqn in program.eqns:
        env[eqn.out.id] = eqn.prim.bind(*(env[v.id] for v in eqn.inputs), **eqn.params)
    return [env[v.id] for v in program.outvars]


def call_program(program: Program, args) -> object:
    """Call ``program`` with the calling convention of the function it was traced from."""
    leaves = flatten_args(args, program.in_tree)
    return unflatten_out(program.out_tree, run_flat(program, leaves))
