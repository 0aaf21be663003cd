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
  execution, so the printed IR keeps the small primitive vocabulary;
* :func:`reshape_before_elementwise` reshapes the input of a one-input element-wise
  step instead of its output (``reshape(conj(x))`` is ``conj(reshape(x))``): the fused
  executor then reads a reshaped input through a view (the adjoint of a complex operator
  conjugates its flat input before reshaping it);
* :func:`rebase_writes` points a write at the newest version of the array it
  overwrites (``y[i] = a; y[i] = b`` folds into one write into the *original* ``y``
  while the first version is still read; rebased, the versions form a chain again);
* :func:`plan_buffers` decides which equations update an input in place, in
  which order equations run and which views are copied, from the primitives'
  ``returns_fresh``/``returns_view`` flags (the executor's buffer plan).

:func:`simplify` is what tracing and transposing apply to every new program.
"""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from .ir import Const, Eqn, Program, ShapeDtype, Var

__all__ = ["simplify", "eliminate_dead_code", "eliminate_common_subexpressions",
           "fold_chains", "fuse_for_execution", "reshape_before_elementwise", "use_counts",
           "rebase_writes", "plan_buffers", "BufferPlan", "param_key"]


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


def param_key(value):
    """A hashable stand-in for a parameter value; constants compare by the snapshot they hold.

    Two parameters with equal keys are the same value (a constant: the same captured
    array). Values of types it does not know are returned as they are (they may not hash).
    """
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is tuple:
        for v in value:
            if type(v) not in _ATOMS:
                return tuple(param_key(v) for v in value)
        return value
    if isinstance(value, Const):
        return ("const", kind, id(value.value))
    if kind is list:
        return ("list",) + tuple(param_key(v) for v in value)
    if kind is dict:
        return ("dict",) + tuple((k, param_key(v)) for k, v in value.items())
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
    key = (eqn.prim, ids, tuple([(k, param_key(v)) for k, v in eqn.params.items()]))
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
    the same slice update is skipped; a slice that misses a slice update reads the
    array before it; the slice of a pad that is the padded array is that array),
    again with the producer of the new first input while it folds; the inner
    equation is left for dead-code elimination when nothing else uses it.
    """
    producer: dict[int, Eqn] = {}
    rename: dict[int, object] = {}  # outputs of equations folded into an existing variable
    changed = False
    eqns = []
    for eqn in program.eqns:
        if rename:
            eqn = _renamed(eqn, tuple(rename.get(v.id, v) for v in eqn.inputs))
        folded = _folded(eqn, producer)
        if isinstance(folded, Var):
            rename[eqn.out.id], changed = folded, True
            continue
        changed = changed or folded is not eqn
        producer[folded.out.id] = folded
        eqns.append(folded)
    if not changed:
        return program
    outvars = [rename.get(v.id, v) for v in program.outvars]
    return dataclasses.replace(program, eqns=eqns, outvars=outvars)


def _folded(eqn: Eqn, producer: dict):
    """``eqn`` folded into its first input's producer while it folds: an Eqn, or a Var it equals."""
    inner = producer.get(eqn.inputs[0].id) if eqn.inputs else None
    while inner is not None:
        folded = eqn.prim.fold_into(inner, eqn)
        if folded is None or isinstance(folded, Var):
            return eqn if folded is None else folded
        eqn = folded
        inner = producer.get(eqn.inputs[0].id) if eqn.inputs else None
    return eqn


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


def reshape_before_elementwise(program: Program) -> Program:
    """Reshape the inputs of one-input element-wise steps instead of their outputs.

    ``reshape(conj(x))`` becomes ``conj(reshape(x))``: the same elements, bit for bit
    (a reshape keeps the C order, an element-wise step with no array parameter
    computes each element alone). The adjoint of a complex operator is
    ``conj ∘ transpose ∘ conj`` on *flat* vectors, so its first step conjugates the
    flat input and a reshape follows; with the reshape first, a fused kernel reads the
    program's input through a view of its shape instead of computing a flat index per
    element (arithmetic that keeps numba from vectorising the loop). Also moves
    negations, conversions, ``real``/``imag`` and scalings by a scalar.
    The element-wise step must be the reshape's only reader of its output.
    """
    producer: dict[int, Eqn] = {}
    uses = use_counts(program)
    changed = False
    eqns = []
    for eqn in program.eqns:
        pending = [eqn]
        while pending:
            current = pending.pop()
            moved = _reshape_moved_before(current, producer, uses)
            if moved is None:
                producer[current.out.id] = current
                eqns.append(current)
                continue
            changed = True
            reshape, elementwise = moved
            uses[reshape.out.id] = 1
            pending += [elementwise, reshape]  # the reshape first, moved again if it can be
    if not changed:
        return program
    return eliminate_dead_code(dataclasses.replace(program, eqns=eqns))


def _reshape_moved_before(eqn: Eqn, producer: dict, uses: dict):
    """``(reshape of x, element-wise step on it)`` for a reshape of a single-use element-wise
    step of ``x`` that commutes with it, else None."""
    if not eqn.prim.keeps_flat_order or len(eqn.inputs) != 1:
        return None
    inner = producer.get(eqn.inputs[0].id)
    shape = eqn.out.aval.shape
    if inner is None or uses.get(inner.out.id) != 1 or not _commutes_with_reshapes(inner, shape):
        return None
    x = inner.inputs[0]
    reshaped = Var(ShapeDtype(shape, x.aval.dtype))
    return (Eqn(eqn.prim, (x,), eqn.params, reshaped, eqn.source),
            Eqn(inner.prim, (reshaped,), inner.params, eqn.out, inner.source))


def _commutes_with_reshapes(eqn: Eqn, shape) -> bool:
    """Whether ``eqn`` is element-wise on one input, with no array parameter that a reshape
    to ``shape`` would have to reshape too (a scalar broadcasts to any shape)."""
    if not eqn.prim.elementwise or len(eqn.inputs) != 1:
        return False
    for value in eqn.params.values():
        if isinstance(value, Const):
            value = value.value
            if not isinstance(value, np.ndarray):  # a constant of another kind (sparse)
                return False
        if isinstance(value, np.ndarray) and (value.size != 1 or value.ndim > len(shape)):
            return False
    return True


def rebase_writes(program: Program) -> Program:
    """Point each write at the newest version of its first input that it overwrites.

    ``y[i] = a; y[i] = b`` is folded (:func:`fold_chains`) into a write of ``b`` into
    the original ``y``; where the first version is still read (``y[i] += b`` reads it),
    both writes then start from the original and neither can update it in place. A
    primitive says which earlier writes its equation overwrites with
    :meth:`~linop.core.Primitive.overwrites`; the equation then reads the newest of
    those versions instead, which leaves the same result (every element the earlier
    write changed is written again) and a chain of versions.
    """
    writers: dict[int, list] = {}  # var id -> equations so far whose first input it is
    changed = False
    eqns = []
    for eqn in program.eqns:
        if eqn.inputs:
            newest = _newest_overwritten(eqn, writers)
            if newest is not eqn.inputs[0]:
                eqn, changed = dataclasses.replace(eqn, inputs=(newest,) + eqn.inputs[1:]), True
            writers.setdefault(newest.id, []).append(eqn)
        eqns.append(eqn)
    return dataclasses.replace(program, eqns=eqns) if changed else program


def _newest_overwritten(eqn: Eqn, writers: dict):
    version = eqn.inputs[0]
    while True:
        newer = next((w for w in reversed(writers.get(version.id, ()))
                      if eqn.prim.overwrites(eqn, w)), None)
        if newer is None:
            return version
        version = newer.out


@dataclasses.dataclass
class BufferPlan:
    """How an executor runs a program over buffers (made by :func:`plan_buffers`).

    Attributes
    ----------
    eqns : list of Eqn
        The equations in the order to run them (readers of a buffer moved before the
        equation that updates it, where their inputs allow).
    updates : dict
        ``id(eqn) -> k``: the equation updates its input ``k`` in place (its output is
        that input's buffer).
    copies : set
        Ids of variables computed by a view-returning equation that must be made a copy
        (a buffer they view is updated while they are still read).
    aliases : dict
        ``var id -> frozenset`` of the buffers the variable may share memory with;
        buffer ``-1 - i`` is input ``i``'s.
    """

    eqns: list
    updates: dict
    copies: set
    aliases: dict


def plan_buffers(program: Program, updatable) -> BufferPlan:
    """Which equations update a buffer in place, in which order, with which views copied.

    An equation may update its input ``x`` in place when ``x`` is the newest version of
    a buffer the executor owns (made by a ``returns_fresh`` primitive or by such an
    update, never an input or a view of one) and nothing reads that buffer afterwards:
    not ``x`` (no later reader, not an output) and no other variable sharing its
    memory. Later readers of ``x`` whose inputs are ready are moved before the update;
    views of the buffer that are still read are copied; both only while they hold less
    than half the buffer (otherwise the update copies, as out of place). The analysis
    knows no primitive by name, only its ``returns_fresh``, ``returns_view`` and
    ``commutative`` flags.

    Parameters
    ----------
    program : Program
    updatable : callable
        ``updatable(eqn, k)``: whether the executor can write ``eqn`` as an in-place
        update of its input ``k``.
    """
    return _BufferPlanner(program, updatable).plan()


class _BufferPlanner:
    """One walk over a program that places equations and tracks which buffers variables view."""

    def __init__(self, program: Program, updatable):
        self.program, self.updatable = program, updatable
        self.pending = use_counts(program)  # reads not run yet (outputs: never run)
        self.readers: dict[int, list] = {}
        for eqn in program.eqns:
            for v in dict.fromkeys(eqn.inputs):
                self.readers.setdefault(v.id, []).append(eqn)
        self.aliases = {v.id: frozenset({-1 - i}) for i, v in enumerate(program.invars)}
        self.kind = {v.id: "version" for v in program.invars}  # version, view or alias
        self.parent: dict[int, tuple] = {}  # a view or alias -> the variables it came from
        self.sizes = {v.id: v.aval.size for v in program.invars}
        self.members: dict[int, list] = {}  # owned buffer -> its variables, oldest first
        self.buffers = itertools.count()
        self.defined = {v.id for v in program.invars}
        self.placed: set = set()
        self.order, self.updates, self.copies = [], {}, set()

    def plan(self) -> BufferPlan:
        for eqn in self.program.eqns:
            if id(eqn) not in self.placed:
                self.run(eqn)
        return BufferPlan(self.order, self.updates, self.copies, self.aliases)

    def run(self, eqn: Eqn):
        for position in self.candidates(eqn):
            cleared = self.clearing(eqn, eqn.inputs[position])
            if cleared is not None and self.updatable(eqn, position):
                hoisted, copied = cleared
                for reader in hoisted:
                    self.place(reader, None)
                for v in copied:
                    self.copy(v)
                self.place(eqn, position)
                return
        self.place(eqn, None)

    def candidates(self, eqn: Eqn) -> list:
        """Positions of inputs ``eqn`` might update: owned newest versions read once there."""
        n = len(eqn.inputs)
        positions = [0, 1] if eqn.prim.commutative and n == 2 else [0] if n else []
        return [k for k in positions
                if self.owned_version(eqn.inputs[k])
                and sum(v is eqn.inputs[k] for v in eqn.inputs) == 1]

    def owned_version(self, v) -> bool:
        buffers = self.aliases[v.id]
        return (self.kind[v.id] == "version" and len(buffers) == 1
                and next(iter(buffers)) in self.members and v.aval.ndim >= 1)

    def clearing(self, eqn: Eqn, x):
        """Readers to move before ``eqn`` and views to copy so that it may update ``x``; or ``None``."""
        (buffer,) = self.aliases[x.id]
        reads = _read_counts([eqn])
        hoisted = self.hoistable_readers(eqn, x, reads) if self.pending[x.id] > reads[x.id] else []
        if hoisted is None:
            return None
        reads = _read_counts([eqn] + hoisted)
        cost = sum(r.out.aval.size for r in hoisted)
        copied = []
        for m in self.live_members(buffer):
            if m == x.id or self.pending[m] <= reads.get(m, 0):
                continue
            if self.kind[m] != "view":
                return None
            if not self.descends(m, set(copied), views_only=True):  # it views the copy
                copied.append(m)
                cost += self.sizes[m]
        copied += [r.out.id for r in hoisted if r.prim.returns_view]
        return (hoisted, copied) if 2 * cost <= x.aval.size else None

    def hoistable_readers(self, eqn: Eqn, x, reads):
        """The later readers of ``x``, if all can run before ``eqn``; else ``None``."""
        if any(v is x for v in self.program.outvars):
            return None
        ready, hoisted = set(), []
        for reader in self.readers[x.id]:
            if reader is eqn or id(reader) in self.placed:
                continue
            fresh_or_view = reader.prim.returns_fresh or (reader.prim.returns_view
                                                          and len(reader.inputs) == 1)
            if not fresh_or_view or any(v.id not in self.defined and v.id not in ready
                                        for v in reader.inputs):
                return None
            hoisted.append(reader)
            ready.add(reader.out.id)
        return hoisted

    def live_members(self, buffer) -> list:
        """The variables of ``buffer`` still to be read (the others are dropped for good)."""
        live = self.members[buffer] = [m for m in self.members[buffer] if self.pending[m] > 0]
        return live

    def place(self, eqn: Eqn, position):
        self.order.append(eqn)
        self.placed.add(id(eqn))
        for v in eqn.inputs:
            self.pending[v.id] -= 1
        out, prim = eqn.out.id, eqn.prim
        self.defined.add(out)
        self.sizes[out] = eqn.out.aval.size
        if position is not None:
            self.updates[id(eqn)] = position
            self.aliases[out], self.kind[out] = self.aliases[eqn.inputs[position].id], "version"
        elif prim.returns_fresh:
            self.aliases[out], self.kind[out] = self.new_buffer(), "version"
        elif prim.returns_view and len(eqn.inputs) == 1:
            self.aliases[out], self.kind[out] = self.aliases[eqn.inputs[0].id], "view"
            self.parent[out] = (eqn.inputs[0].id,)
        else:  # may return any input, a view of one, or new memory
            self.aliases[out] = frozenset().union(*(self.aliases[v.id] for v in eqn.inputs))
            self.kind[out] = "alias"
            self.parent[out] = tuple(v.id for v in eqn.inputs)
        for buffer in self.aliases[out]:
            if buffer in self.members:
                self.members[buffer].append(out)

    def new_buffer(self) -> frozenset:
        buffer = next(self.buffers)
        self.members[buffer] = []
        return frozenset({buffer})

    def descends(self, m: int, ancestors: set, views_only: bool = False) -> bool:
        """Whether ``m`` was computed from one of ``ancestors`` through views (and aliases)."""
        stack, seen = [m], set()
        while stack:
            v = stack.pop()
            if v in ancestors:
                return True
            if v not in seen and (v == m or not views_only or self.kind[v] == "view"):
                seen.add(v)
                stack += self.parent.get(v, ())
        return False

    def copy(self, v: int):
        """Make the view ``v`` a copy: it and what was computed from it view a new buffer."""
        self.copies.add(v)
        (old,) = self.aliases[v]
        new = self.new_buffer()
        (buffer,) = new
        staying = []
        for m in self.live_members(old):
            if m == v or (self.kind[m] == "view" and self.descends(m, {v}, views_only=True)):
                self.aliases[m] = new  # views of views of v: they see the copy only
            elif self.descends(m, {v}):  # it may share the copy's memory as well as others'
                self.aliases[m] = self.aliases[m] | new
                staying.append(m)
            else:
                staying.append(m)
                continue
            self.members[buffer].append(m)
        self.members[old] = staying
        self.kind[v] = "version"


def _read_counts(eqns) -> dict:
    counts: dict[int, int] = {}
    for eqn in eqns:
        for v in eqn.inputs:
            counts[v.id] = counts.get(v.id, 0) + 1
    return counts
