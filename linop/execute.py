"""Executors: run a :class:`~linop.ir.Program` on arrays (or re-record it on tracers).

The default executor compiles a program once into straight-line Python source:
one assignment per equation over local variables, with each primitive's
parameters bound ahead of time (each primitive's ``emit`` rule turns a slice into
``x[idx]``, a multiplication by a constant into ``x * c3``; other primitives call
their ``impl`` with bound parameters), so that a call pays no dictionary look-ups, no
keyword-argument packing and no checks. Intermediates are deleted after their
last use so that memory is returned early. A compiled plan holds no mutable
state: one plan may run in several threads at once.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np

from .ir import Program, flatten_args, unflatten_out
from .primitives.base import is_tracer

__all__ = ["call_program", "run_flat", "compile_plan", "conform", "Plan"]


class Plan:
    """A compiled program: call it with a flat list of arrays.

    Parameters
    ----------
    program : Program

    Notes
    -----
    Calling a plan skips all checks: inputs must already have the program's
    shapes and dtypes (:func:`run_flat` checks them). Outputs never alias the
    inputs and are writeable.
    """

    def __init__(self, program: Program):
        self.n_inputs = len(program.invars)
        self.source, namespace = _generate(program)
        code = compile(self.source, f"<linop plan {id(program):x}>", "exec")
        exec(code, namespace)
        self._run = namespace["_plan"]

    def __call__(self, args: list) -> list:
        return self._run(*args)


def _pad_of_neg(v, producer, uses) -> bool:
    e = producer.get(v.id)
    if e is None or e.prim.name != "pad":
        return False
    src = producer.get(e.inputs[0].id)
    return src is not None and src.prim.name == "neg" and uses.get(e.inputs[0].id) == 1


def _generate(program: Program):
    from .primitives import arithmetic as A, slicing as SL

    namespace: dict = {"_fresh": _fresh_output, "_copy": np.array}
    counter = itertools.count()

    def bind(value):
        name = f"k{next(counter)}"
        namespace[name] = value
        return name

    eqns = program.eqns
    out_ids = {v.id for v in program.outvars}
    uses: dict[int, int] = {}
    producer: dict[int, object] = {}
    for eqn in eqns:
        producer[eqn.out.id] = eqn
        for v in eqn.inputs:
            uses[v.id] = uses.get(v.id, 0) + 1

    def fresh(eqn) -> bool:
        return eqn.prim.returns_fresh

    def owned(v) -> bool:
        """A fresh intermediate array used once: it may be updated in place."""
        e = producer.get(v.id)
        return (e is not None and fresh(e) and v.aval.ndim >= 1 and uses.get(v.id) == 1
                and v.id not in out_ids)

    def single_use(v, prim) -> bool:
        e = producer.get(v.id)
        return e is not None and e.prim is prim and uses.get(v.id) == 1 and v.id not in out_ids

    # In-place accumulation: t + pad(p) becomes t[interior] += p (and t - pad(-p) ...).
    absorbed: set = set()
    accumulate: dict[int, tuple] = {}
    for k, eqn in enumerate(eqns):
        if eqn.prim not in (A.add_p, A.sub_p):
            continue
        x, y = eqn.inputs
        if x.id == y.id:
            continue
        sign = 1 if eqn.prim is A.add_p else -1
        pairs = [(x, y, sign)] + ([(y, x, sign)] if eqn.prim is A.add_p else [])
        if len(pairs) == 2 and _pad_of_neg(pairs[0][0], producer, uses):
            pairs.reverse()  # accumulate the negated pad into the other one: t[idx] -= p
        for t, o, sign in pairs:
            if not owned(t):
                continue
            if single_use(o, SL.pad_p) and id(producer[o.id]) not in absorbed:
                pad_eqn = producer[o.id]
                source = pad_eqn.inputs[0]
                absorbed.add(id(pad_eqn))
                if single_use(source, A.neg_p):
                    absorbed.add(id(producer[source.id]))
                    source, sign = producer[source.id].inputs[0], -sign
                accumulate[k] = ("pad", t, source, sign, pad_eqn)
            else:
                accumulate[k] = ("inplace", t, o, sign, None)
            break

    names: dict[int, str] = {}
    maybe_view: dict[int, bool] = {}
    args = []
    for i, v in enumerate(program.invars):
        names.setdefault(v.id, f"a{i}")
        maybe_view[v.id] = True
        args.append(f"a{i}")
    lines = []  # (text, names read or written)
    for k, eqn in enumerate(eqns):
        if id(eqn) in absorbed:
            continue
        plan = accumulate.get(k)
        if plan is not None:
            kind, t, o, sign, pad_eqn = plan
            target, op = names[t.id], "+=" if sign > 0 else "-="
            if kind == "pad":
                from .primitives.slicing import _interior_index

                kw = pad_eqn.params
                idx = bind(_interior_index(o.aval.shape, kw["lo"], kw["interior"]))
                lines.append((f"    {target}[{idx}] {op} {names[o.id]}", {target, names[o.id]}))
            else:
                lines.append((f"    {target} {op} {names[o.id]}", {target, names[o.id]}))
            names[eqn.out.id] = target
            maybe_view[eqn.out.id] = False
            continue
        ins = [names[v.id] for v in eqn.inputs]
        out = names[eqn.out.id] = f"v{k}"
        expr = eqn.prim.emit(ins, [v.aval for v in eqn.inputs], bind, **eqn.params)
        if expr is None:
            impl = bind(functools.partial(eqn.prim.impl, **eqn.params) if eqn.params
                        else eqn.prim.impl)
            expr = f"{impl}({', '.join(ins)})"
        maybe_view[eqn.out.id] = not fresh(eqn) and (
            not eqn.prim.returns_view or any(maybe_view[v.id] for v in eqn.inputs))
        lines.append((f"    {out} = {expr}", set(ins) | {out}))
    results, seen = [], set()
    for v in program.outvars:
        name = names[v.id]
        if name in seen:
            results.append(f"_copy({name})")
        elif maybe_view[v.id] or not v.aval.shape:  # 0-d results may be NumPy scalars
            results.append(f"_fresh({name}, ({', '.join(args)}{',' if len(args) == 1 else ''}))")
        else:
            results.append(name)
        seen.add(name)
    # Drop each intermediate after its last use so that memory is returned early.
    keep = set(args) | {names[v.id] for v in program.outvars}
    last: dict[str, int] = {}
    for i, (_, used) in enumerate(lines):
        for name in used:
            last[name] = i
    body = []
    for i, (text, used) in enumerate(lines):
        body.append(text)
        dead = sorted(n for n in used if last[n] == i and n not in keep)
        if dead:
            body.append(f"    del {', '.join(dead)}")
    body_text = "\n".join(body) if body else "    pass"
    source = (f"def _plan({', '.join(args)}):\n{body_text}\n"
              f"    return [{', '.join(results)}]\n")
    return source, namespace


def compile_plan(program: Program) -> Plan:
    """The compiled plan of ``program`` (cached on the program)."""
    plan = program._plan
    if plan is None:
        plan = program._plan = Plan(program)
    return plan


def run_flat(program: Program, args: list) -> list:
    """Run ``program`` on flat inputs: arrays give arrays, tracers record equations."""
    if any(is_tracer(a) for a in args):
        return _run_traced(program, args)
    if len(args) != len(program.invars):
        raise TypeError(f"the program takes {len(program.invars)} inputs, got {len(args)}")
    arrays = [conform(a, v.aval, f"input {i}") for i, (a, v) in enumerate(zip(args, program.invars))]
    return compile_plan(program)(arrays)


def conform(value, aval, name: str):
    """``value`` as an input of type ``aval``: the same shape, a dtype cast with ``same_kind``.

    Works on arrays and on tracers. Errors name the value as ``name``.
    """
    x = value if is_tracer(value) else np.asarray(value)
    if tuple(x.shape) != aval.shape:
        raise ValueError(f"{name} must have shape {aval.shape}, got {tuple(x.shape)}")
    if x.dtype != aval.dtype:
        if not np.can_cast(x.dtype, aval.dtype, "same_kind"):
            hint = ("; a complex value for a real one is not allowed"
                    if np.issubdtype(x.dtype, np.complexfloating) else "")
            raise TypeError(f"{name} has dtype {x.dtype}, which does not cast to {aval.dtype} "
                            f"(same_kind casting){hint}")
        if is_tracer(x):
            from .primitives.complex import convert

            return convert(x, aval.dtype)
        x = x.astype(aval.dtype)
    return x


def _fresh_output(out, inputs):
    # Outputs must not alias inputs or be read-only broadcast views.
    if not out.flags.writeable or any(np.may_share_memory(out, a) for a in inputs):
        return np.array(out)
    return out


def _run_traced(program: Program, args: list) -> list:
    if len(args) != len(program.invars):
        raise TypeError(f"the program takes {len(program.invars)} inputs, got {len(args)}")
    args = [conform(a, v.aval, f"input {i}") for i, (a, v) in enumerate(zip(args, program.invars))]
    env = {v.id: a for v, a in zip(program.invars, args)}
    for eqn in program.eqns:
        env[eqn.out.id] = eqn.prim.bind(*(env[v.id] for v in eqn.inputs), **eqn.params)
    return [env[v.id] for v in program.outvars]


def call_program(program: Program, args) -> object:
    """Call ``program`` with the calling convention of the function it was traced from."""
    leaves = flatten_args(args, program.in_tree)
    return unflatten_out(program.out_tree, run_flat(program, leaves))
