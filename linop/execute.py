"""Executors: run a :class:`~linop.ir.Program` on arrays (or re-record it on tracers).

The default executor (registered as ``"numpy"`` with :func:`linop.ir.register_executor`,
which :meth:`linop.ir.Program.__call__` looks up) compiles a program once into
straight-line Python source: one assignment per equation over local variables, with each
primitive's parameters bound ahead of time (each primitive's ``emit`` rule turns a slice into
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

from .errors import LinopError
from .ir import Program, register_executor
from .passes import fuse_for_execution, use_counts
from .primitives.complex import convert
from .core import is_tracer, replay

#: The filename of every compiled plan's code (shown in tracebacks through a plan).
PLAN_FILENAME = "<linop plan>"

__all__ = ["run_flat", "compile_plan", "conform", "Plan", "DEFERRED_RUNNERS"]


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
        self.source, namespace = _generate(program)
        # One filename for every plan: CPython keeps each distinct filename of compiled
        # code alive for the life of the process (it interns it), so a per-program name
        # would grow memory with every program compiled.
        code = compile(self.source, PLAN_FILENAME, "exec")
        exec(code, namespace)
        #: The generated function itself: ``run(*arrays)`` returns the list of outputs.
        self.run = namespace["_plan"]

    def __call__(self, args: list) -> list:
        return self.run(*args)


class _Codegen:
    """Writes a program as one Python function over local variables.

    Equations whose first input (or, for commutative primitives, either input) is
    an intermediate the function owns (a fresh array read only there) are written
    in place when the primitive offers :meth:`~linop.core.Primitive.emit_inplace`.
    """

    def __init__(self, program: Program):
        self.program = program
        self.namespace: dict = {"_fresh": _fresh_output, "_copy": np.array}
        self._counter = itertools.count()
        self.uses = use_counts(program)
        self.producer = {e.out.id: e for e in program.eqns}
        self.names: dict[int, str] = {}
        self.maybe_view: dict[int, bool] = {}
        self.lines: list = []  # (text, names read or written)

    def bind(self, value) -> str:
        """Store ``value`` in the generated code's namespace; return its name."""
        name = f"k{next(self._counter)}"
        self.namespace[name] = value
        return name

    def owned(self, v) -> bool:
        """A fresh intermediate array read once: it may be updated in place."""
        e = self.producer.get(v.id)
        return (e is not None and e.prim.returns_fresh and v.aval.ndim >= 1
                and self.uses.get(v.id) == 1)

    def inplace(self, eqn, ins):
        """The in-place statement for ``eqn`` and the name it updates, or ``None``."""
        orders = [(0, 1), (1, 0)] if eqn.prim.commutative and len(ins) == 2 else [None]
        for order in orders:
            args = [ins[i] for i in order] if order else ins
            inputs = [eqn.inputs[i] for i in order] if order else eqn.inputs
            if not inputs or not self.owned(inputs[0]) or inputs[0] in inputs[1:]:
                continue
            text = eqn.prim.emit_inplace(args, [v.aval for v in inputs], self.bind, **eqn.params)
            if text is not None:
                return text, args[0]
        return None

    def equation(self, k: int, eqn):
        ins = [self.names[v.id] for v in eqn.inputs]
        updated = self.inplace(eqn, ins)
        if updated is not None:
            text, target = updated
            self.names[eqn.out.id] = target
            self.maybe_view[eqn.out.id] = False
            self.lines.append((f"    {text}", set(ins)))
            return
        out = self.names[eqn.out.id] = f"v{k}"
        expr = eqn.prim.emit(ins, [v.aval for v in eqn.inputs], self.bind, **eqn.params)
        if expr is None:
            impl = self.bind(functools.partial(eqn.prim.impl, **eqn.params) if eqn.params
                             else eqn.prim.impl)
            expr = f"{impl}({', '.join(ins)})"
        self.maybe_view[eqn.out.id] = not eqn.prim.returns_fresh and (
            not eqn.prim.returns_view or any(self.maybe_view[v.id] for v in eqn.inputs))
        self.lines.append((f"    {out} = {expr}", set(ins) | {out}))

    def results(self, args) -> list:
        """Output expressions: copies where an output could alias an input or another output."""
        results, seen = [], set()
        for v in self.program.outvars:
            name = self.names[v.id]
            if name in seen:
                results.append(f"_copy({name})")
            elif self.maybe_view[v.id] or not v.aval.shape:  # 0-d results may be NumPy scalars
                results.append(f"_fresh({name}, ({', '.join(args)}{',' if len(args) == 1 else ''}))")
            else:
                results.append(name)
            seen.add(name)
        return results

    def body_with_deletes(self, keep) -> list:
        """The lines, each intermediate deleted after its last use so memory returns early."""
        last: dict[str, int] = {}
        for i, (_, used) in enumerate(self.lines):
            for name in used:
                last[name] = i
        body = []
        for i, (text, used) in enumerate(self.lines):
            body.append(text)
            dead = sorted(n for n in used if last[n] == i and n not in keep)
            if dead:
                body.append(f"    del {', '.join(dead)}")
        return body

    def source(self) -> str:
        """The generated function ``_plan``'s source."""
        args = []
        for i, v in enumerate(self.program.invars):
            self.names.setdefault(v.id, f"a{i}")
            self.maybe_view[v.id] = True
            args.append(f"a{i}")
        for k, eqn in enumerate(self.program.eqns):
            self.equation(k, eqn)
        results = self.results(args)
        keep = set(args) | {self.names[v.id] for v in self.program.outvars}
        body_text = "\n".join(self.body_with_deletes(keep)) or "    pass"
        return (f"def _plan({', '.join(args)}):\n{body_text}\n"
                f"    return [{', '.join(results)}]\n")


def _generate(program: Program):
    gen = _Codegen(fuse_for_execution(program))
    return gen.source(), gen.namespace


def compile_plan(program: Program) -> Plan:
    """The compiled plan of ``program`` (cached on the program)."""
    plan = program.plan_cache
    if plan is None:
        plan = program.plan_cache = Plan(program)
    return plan


#: Runners for programs called on values of an interpretation above tracing: ``type ->
#: runner(program, args)``. :mod:`linop.batched` runs a program called inside ``vmap`` on
#: per-example values (which cannot become arrays) on the whole batch.
DEFERRED_RUNNERS: dict = {}


def run_flat(program: Program, args: list) -> list:
    """Run ``program`` on flat inputs: arrays give arrays, tracers record equations."""
    if len(args) != len(program.invars):
        raise TypeError(f"the program takes {len(program.invars)} inputs, got {len(args)}")
    if any(is_tracer(a) for a in args):
        return replay(program, [conform(a, v.aval, f"input {i}")
                                for i, (a, v) in enumerate(zip(args, program.invars))])
    try:
        arrays = [conform(a, v.aval, f"input {i}") for i, (a, v) in enumerate(zip(args, program.invars))]
    except LinopError:
        runner = next((DEFERRED_RUNNERS[type(a)] for a in args if type(a) in DEFERRED_RUNNERS), None)
        if runner is None:
            raise
        return runner(program, args)
    return compile_plan(program)(arrays)


register_executor("numpy", run_flat)


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
            return convert(x, aval.dtype)
        x = x.astype(aval.dtype)
    return x


def _fresh_output(out, inputs):
    # Outputs must not alias inputs or be read-only broadcast views.
    if not out.flags.writeable or any(np.may_share_memory(out, a) for a in inputs):
        return np.array(out)
    return out
