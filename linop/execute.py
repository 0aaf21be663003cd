"""Executors: run a :class:`~linop.ir.Program` on arrays (or re-record it on tracers).

The default executor (registered as ``"numpy"`` with :func:`linop.ir.register_executor`,
which :meth:`linop.ir.Program.__call__` looks up) compiles a program once into
straight-line Python source: one assignment per equation over local variables, with each
primitive's parameters bound ahead of time (each primitive's ``emit`` rule turns a slice into
``x[idx]``, a multiplication by a constant into ``x * c3``; other primitives call
their ``impl`` with bound parameters), so that a call pays no dictionary look-ups, no
keyword-argument packing and no checks. Intermediates are deleted after their
last use so that memory is returned early. An equation whose input is a buffer the
plan owns and nobody reads afterwards updates it in place (``y[i] = v``, ``y += v``,
``y *= c``; decided by :func:`linop.passes.plan_buffers`), so that a chain of ``k``
slice writes costs what it writes, not ``k`` copies of the array. Outputs never alias
an input or each other. A compiled plan holds no mutable state: one plan may run in
several threads at once.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np

from .errors import LinopError
from .ir import Program, register_executor
from .namespace import backend_for, check_input, run_on_backend
from .passes import fuse_for_execution, plan_buffers, rebase_writes
from .reroll import reroll_loops
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

    :func:`~linop.passes.plan_buffers` decides which equations update an input in
    place (written with the primitive's :meth:`~linop.core.Primitive.emit_inplace`):
    a chain of slice writes into an array nobody else reads becomes writes into one
    buffer. Views that must outlive such an update are copied where they are made.
    """

    def __init__(self, program: Program):
        self.program = program
        self.namespace: dict = {"_fresh": _fresh_output, "_copy": np.array}
        self._counter = itertools.count()
        self.names: dict[int, str] = {}
        self.lines: list = []  # (text, names read or written)
        self.buffers = plan_buffers(program, self.updatable)
        self.producers = {e.out.id: e for e in self.buffers.eqns}

    def bind(self, value) -> str:
        """Store ``value`` in the generated code's namespace; return its name."""
        name = f"k{next(self._counter)}"
        self.namespace[name] = value
        return name

    @staticmethod
    def inplace_text(eqn, position, args, bind):
        """``eqn`` written as an update of its input ``position`` (named ``args``), or ``None``."""
        order = [position] + [k for k in range(len(eqn.inputs)) if k != position]
        return eqn.prim.emit_inplace([args[k] for k in order], [eqn.inputs[k].aval for k in order],
                                     bind, **eqn.params)

    def updatable(self, eqn, position) -> bool:
        """Whether the primitive can write ``eqn`` as an update of its input ``position``."""
        names = [f"t{k}" for k in range(len(eqn.inputs))]
        return self.inplace_text(eqn, position, names, lambda value: "k") is not None

    def equation(self, k: int, eqn):
        ins = [self.names[v.id] for v in eqn.inputs]
        position = self.buffers.updates.get(id(eqn))
        if position is not None:
            self.names[eqn.out.id] = ins[position]
            text = self.inplace_text(eqn, position, ins, self.bind)
            self.lines.append((f"    {text}", set(ins)))
            return
        out = self.names[eqn.out.id] = f"v{k}"
        expr = eqn.prim.emit(ins, [v.aval for v in eqn.inputs], self.bind, **eqn.params)
        if expr is None:
            impl = self.bind(functools.partial(eqn.prim.impl, **eqn.params) if eqn.params
                             else eqn.prim.impl)
            expr = f"{impl}({', '.join(ins)})"
        if eqn.out.id in self.buffers.copies:
            expr = f"_copy({expr})"
        self.lines.append((f"    {out} = {expr}", set(ins) | {out}))

    def results(self) -> list:
        """Statements naming the outputs ``r0, r1, ...``: copies where one could alias an input,
        another output or a read-only broadcast."""
        aliases = self.buffers.aliases
        statements, earlier = [], []
        for i, v in enumerate(self.program.outvars):
            name = self.names[v.id]
            shared = [f"a{-1 - b}" for b in sorted(aliases[v.id], reverse=True) if b < 0]
            shared += [r for r, w in earlier if aliases[w.id] & aliases[v.id]]
            if any(name == self.names[w.id] for _, w in earlier):
                expr = f"_copy({name})"
            elif shared or not self.is_fresh_version(v):  # 0-d results may be NumPy scalars
                expr = f"_fresh({name}, ({', '.join(shared)}{',' if len(shared) == 1 else ''}))"
            else:
                expr = name
            statements.append(f"    r{i} = {expr}")
            earlier.append((f"r{i}", v))
        return statements

    def is_fresh_version(self, v) -> bool:
        """Whether ``v`` is a writeable array of the plan's own (not a view, not 0-d)."""
        buffers = self.buffers.aliases[v.id]
        return bool(v.aval.shape) and len(buffers) == 1 and min(buffers) >= 0 and (
            v.id in self.buffers.copies or self.producer_fresh(v))

    def producer_fresh(self, v) -> bool:
        """Whether ``v`` was made by a ``returns_fresh`` primitive or an in-place update."""
        eqn = self.producers.get(v.id)
        return eqn is not None and (eqn.prim.returns_fresh or id(eqn) in self.buffers.updates)

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
            args.append(f"a{i}")
        for k, eqn in enumerate(self.buffers.eqns):
            self.equation(k, eqn)
        results = self.results()
        keep = set(args) | {self.names[v.id] for v in self.program.outvars}
        body = self.body_with_deletes(keep) + results
        names = ", ".join(f"r{i}" for i in range(len(results)))
        return f"def _plan({', '.join(args)}):\n" + "\n".join(body) + f"\n    return [{names}]\n"


def _generate(program: Program):
    gen = _Codegen(reroll_loops(fuse_for_execution(rebase_writes(program))))
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
    backend = backend_for(args)
    if backend is not None:  # arrays of another library (Dask): its namespace runs the program
        return run_on_backend(program, args, backend)
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
    if check_input(x.shape, x.dtype, aval, name):
        if is_tracer(x):
            return convert(x, aval.dtype)
        x = x.astype(aval.dtype)
    return x


def _fresh_output(out, inputs):
    # Outputs must not alias inputs or be read-only broadcast views.
    if not out.flags.writeable or any(np.may_share_memory(out, a) for a in inputs):
        return np.array(out)
    return out
