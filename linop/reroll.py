"""Re-rolling Python loops that tracing unrolled into runs of slice writes.

``for i in range(1, n): y[i] = 2 * x[i] - x[i - 1]`` traces into one chain of
slices, arithmetic and a slice write per row. :func:`reroll_loops` finds runs of
writes in such a chain that compute the same thing up to slice offsets that advance
by a constant step, and replaces each run by one computation on strided slices
(``y[1:n] = 2 * x[1:n] - x[0:n-1]``), made with the primitives' ``batch`` rules.

What makes a run (all of it checked, otherwise the writes stay as they are):

* the writes (primitives with ``strided_access == "write"``) form a chain: each one's
  input 0 is the previous one's output, read by nothing else;
* the value each write stores is an expression tree whose leaves are strided slices
  (``strided_access == "read"``) of arrays computed before the chain began, or such
  arrays themselves; it reads nothing the chain wrote (no read-after-write);
* the trees are equal in primitives, parameters, constants (small ones equal in
  every byte, others the same captured array) and shapes; only the leaves' and the
  writes' offsets differ, and those advance by one constant step per iteration, along
  one axis of extent 1 (or stay);
* a run of many elements is cut into blocks of about :data:`BLOCK_ELEMENTS` (so that its
  temporaries stay small), one strided write per block;
* a run may repeat a group of up to :data:`MAX_PERIOD` writes (``y[i] += a; y[i - 1] -= b``):
  its writes are then regrouped, all first members of a block, then all second members, ...,
  which is only done when every element receives its writes in the original order
  (checked element by element), so that accumulations round exactly as before.

A write of a run never depends on another write of the run, and the writes of one
member never touch an element twice; the regrouped writes therefore store exactly
the values the loop stored, in the same order per element.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .batching import batch_program
from .errors import LinopError
from .core import Builder, building, replay
from .ir import Const, Eqn, Program, Var
from .passes import fuse_for_execution, param_key, simplify, use_counts
from .primitives import shape as S
from .pytree import tree_flatten

__all__ = ["reroll_loops", "MIN_RUN", "MAX_PERIOD"]

#: The fewest iterations a run must have to be re-rolled.
MIN_RUN = 4
#: The most writes one iteration of a run may have.
MAX_PERIOD = 4
#: The most elements a re-rolled write computes at once: longer runs are cut into blocks of
#: iterations of about this size (whole-array temporaries of a large array cost more than
#: a Python loop over rows that stay in cache); runs of larger iterations are left alone.
BLOCK_ELEMENTS = 1 << 16
#: The most equations in the expression tree of one write's value.
MAX_TREE = 64
#: The largest array (in elements) whose writes the pass regroups (checked element by element).
MAX_ORDER_CHECK = 1 << 22
#: Constants up to this many bytes are compared by value, larger ones by identity.
MAX_CONSTANT_BYTES = 1024
#: How many times the pass runs over its own result (a loop nest re-rolls one level per round).
MAX_ROUNDS = 4

_REGION = ("starts", "stops", "steps")


def reroll_loops(program: Program) -> Program:
    """``program`` with runs of per-iteration slice writes re-rolled into strided ones.

    Parameters
    ----------
    program : Program
        A program as the executor runs it (after :func:`linop.passes.fuse_for_execution`).

    Returns
    -------
    Program
        The same outputs, to rounding (exactly, where the trees are element-wise); the
        program itself when there is nothing to re-roll.
    """
    for _ in range(MAX_ROUNDS):
        rerolled = _reroll_round(program)
        if rerolled is program:
            break
        program = fuse_for_execution(simplify(rerolled))
    return program


@dataclasses.dataclass(frozen=True)
class _Tree:
    """A write's value as an expression tree: its structure's key, leaf offsets, the template."""

    key: int
    offsets: tuple  # the starts of every leaf, leaf after leaf (depth first)
    template: tuple  # ("leaf", eqn) | ("shared", var) | ("op", eqn, children)
    size: int


@dataclasses.dataclass(frozen=True)
class _Write:
    """One write of a chain, with the tree of the value it stores."""

    eqn: Eqn
    key: tuple
    offsets: tuple  # the write's starts, then its tree's leaf offsets
    tree: _Tree


def _reroll_round(program: Program) -> Program:
    positions = {v.id: -1 for v in program.invars}
    for k, eqn in enumerate(program.eqns):
        positions[eqn.out.id] = k
    producer = {eqn.out.id: eqn for eqn in program.eqns}
    keys: dict = {}
    replaced: dict = {}  # id(eqn) -> equations that replace it (none: dropped)
    for chain in _write_chains(program):
        if len(chain) >= MIN_RUN:
            trees = _ChainTrees(chain, positions, producer, keys)
            for run in _runs([trees.write(eqn) for eqn in chain]):
                try:
                    _replace_run(run, replaced)
                except (LinopError, TypeError, ValueError):
                    continue  # a primitive of the tree that cannot batch it: the writes stay
    if not replaced:
        return program
    eqns = []
    for eqn in program.eqns:
        eqns.extend(replaced.get(id(eqn), (eqn,)))
    return dataclasses.replace(program, eqns=eqns)


def _write_chains(program: Program) -> list:
    """The chains of writes, each one's input 0 the output of the one before, read once."""
    uses = use_counts(program)
    chains, chain_of = [], {}
    for eqn in program.eqns:
        if eqn.prim.strided_access != "write" or len(eqn.inputs) != 2:
            continue
        target = eqn.inputs[0]
        chain = chain_of.pop(target.id, None) if uses.get(target.id) == 1 else None
        if chain is None:
            chain = []
            chains.append(chain)
        chain.append(eqn)
        chain_of[eqn.out.id] = chain
    return chains


class _ChainTrees:
    """The expression trees of the values a chain of writes stores (memoized per variable)."""

    def __init__(self, chain: list, positions: dict, producer: dict, keys: dict):
        self.start = positions[chain[0].out.id]
        self.written = {eqn.out.id for eqn in chain}
        self.positions, self.producer, self.keys = positions, producer, keys
        self.memo: dict = {}

    def write(self, eqn: Eqn):
        """The chain's write ``eqn`` with its value's tree; ``None`` when it cannot be in a run."""
        tree = self.tree(eqn.inputs[1], 0)
        region = _region(eqn.params)
        if tree is None or region is None or not all(_counts(region)):
            return None
        key = (eqn.prim, _other_params_key(eqn.params), region[2], eqn.inputs[1].aval.shape,
               tree.key)
        return _Write(eqn, key, region[0] + tree.offsets, tree)

    def intern(self, key) -> int:
        return self.keys.setdefault(key, len(self.keys))

    def before_chain(self, v: Var) -> bool:
        return self.positions[v.id] < self.start

    def tree(self, v: Var, depth: int):
        """The tree of ``v``: ``None`` when it reads the chain or is too large."""
        if v.id in self.memo:
            return self.memo[v.id]
        if depth > MAX_TREE:  # too deep to be small: not memoized (an iteration then stands alone)
            return self.shared(v)
        tree = self.expanded(v, depth)
        if tree is None or tree.size > MAX_TREE:
            tree = self.shared(v)
        self.memo[v.id] = tree
        return tree

    def shared(self, v: Var):
        """``v`` as a leaf that every iteration reads whole, if it comes from before the chain."""
        if not self.before_chain(v):
            return None
        return _Tree(self.intern(("shared", v.id)), (), ("shared", v), 1)

    def expanded(self, v: Var, depth: int):
        eqn = self.producer.get(v.id)
        if eqn is None or v.id in self.written:
            return None
        if eqn.prim.strided_access == "read" and len(eqn.inputs) == 1 \
                and self.before_chain(eqn.inputs[0]) and _region(eqn.params) is not None:
            region = _region(eqn.params)
            try:
                params = _other_params_key(eqn.params)
            except TypeError:  # a parameter without a hash: no structure to compare
                return None
            key = ("leaf", eqn.prim, eqn.inputs[0].id, region[2], v.aval.shape, params)
            return _Tree(self.intern(key), region[0], ("leaf", eqn), 1)
        children = []
        for u in eqn.inputs:
            child = self.tree(u, depth + 1)
            if child is None:
                return None
            children.append(child)
        try:
            key = (eqn.prim, _params_key(eqn.params), v.aval, tuple(c.key for c in children))
            hash(key)
        except TypeError:
            return None
        offsets = sum((c.offsets for c in children), ())
        return _Tree(self.intern(key), offsets, ("op", eqn, tuple(c.template for c in children)),
                     1 + sum(c.size for c in children))


def _params_key(params: dict) -> tuple:
    """All of an equation's parameters as one hashable key."""
    return tuple((k, _value_key(v)) for k, v in params.items())


def _other_params_key(params: dict) -> tuple:
    key = tuple((k, _value_key(v)) for k, v in params.items() if k not in _REGION)
    hash(key)
    return key


def _value_key(value):
    """:func:`linop.passes.param_key`, with small constants compared by their bytes.

    The transpose of a loop makes each iteration's constants anew (``-0.5`` once per row);
    equal bytes are equal values, signed zeros and NaN payloads included.
    """
    if type(value) is Const and isinstance(value.value, np.ndarray) \
            and value.value.size <= MAX_CONSTANT_BYTES // max(value.value.itemsize, 1):
        array = value.value
        return ("bytes", array.dtype.str, array.shape, array.tobytes())
    return param_key(value)


def _region(params: dict):
    """``(starts, stops, steps)`` of a strided access, or ``None`` if it has none."""
    region = tuple(params.get(k) for k in _REGION)
    if any(not isinstance(r, tuple) for r in region):
        return None
    return region


def _counts(region) -> tuple:
    return tuple(max(0, (b - a + s - 1) // s) for a, b, s in zip(*region))


# -- runs ---------------------------------------------------------------------------------
@dataclasses.dataclass
class _Run:
    """``count`` iterations of ``period`` writes each, the first ones ``writes[:period]``."""

    writes: list
    period: int
    count: int
    steps: tuple  # per write of an iteration: how its offsets advance per iteration

    def blocks(self) -> list:
        """The iterations written together, ``[(first, stop), ...]``: blocks of about
        :data:`BLOCK_ELEMENTS` elements, none when even :data:`MIN_RUN` iterations are more."""
        size = sum(w.eqn.inputs[1].aval.size for w in self.writes[:self.period])
        most = BLOCK_ELEMENTS // max(size, 1)
        if most < MIN_RUN:
            return []
        n = -(-self.count // most)
        edges = [self.count * k // n for k in range(n + 1)]
        return list(zip(edges[:-1], edges[1:]))


def _runs(writes: list) -> list:
    """The runs to re-roll, greedily from the first write, each as long as it gets."""
    runs, s = [], 0
    refused: dict = {}  # (period, s % period) -> where a run refused for its order ended
    while s < len(writes):
        best = None
        for period in range(1, MAX_PERIOD + 1):
            if s < refused.get((period, s % period), -1):
                continue  # inside a run of this alignment that changed the order: not again
            run = _run_at(writes, s, period)
            covers = None if run is None else run.count * period
            if covers is None or (best is not None and covers <= best.count * best.period) \
                    or not run.blocks():
                continue
            if period == 1 or _order_kept(run):
                best = run
            else:
                refused[period, s % period] = s + len(run.writes)
        if best is None:
            s += 1
        else:
            runs.append(best)
            s += best.count * best.period
    return runs


def _run_at(writes: list, s: int, period: int):
    first = writes[s:s + period]
    if len(first) < period or any(w is None for w in first):
        return None
    steps, count = None, 1
    while True:
        group = writes[s + count * period: s + (count + 1) * period]
        if len(group) < period or any(w is None or w.key != f.key for w, f in zip(group, first)):
            break
        previous = writes[s + (count - 1) * period: s + count * period]
        step = tuple(tuple(b - a for a, b in zip(p.offsets, w.offsets))
                     for p, w in zip(previous, group))
        if steps is None:
            if not all(_valid_step(w, d) for w, d in zip(first, step)):
                break
            steps = step
        elif step != steps:
            break
        count += 1
    if count < MIN_RUN:
        return None
    return _Run(writes[s:s + count * period], period, count, steps)


def _valid_step(write: _Write, step: tuple) -> bool:
    """Whether ``write`` moves along one axis of extent 1, and each leaf so or not at all."""
    eqn = write.eqn
    ndim = eqn.inputs[0].aval.ndim
    region = _region(eqn.params)
    if _moving_axis(step[:ndim], _counts(region)) is None:
        return False
    at = ndim
    for leaf in _leaves(write.tree.template):
        n = leaf.inputs[0].aval.ndim
        d = step[at:at + n]
        at += n
        if any(d) and _moving_axis(d, leaf.out.aval.shape) is None:
            return False
    return True


def _moving_axis(step: tuple, counts: tuple):
    """The one axis along which ``step`` moves, with one element there; else ``None``."""
    moving = [a for a, d in enumerate(step) if d]
    if len(moving) != 1 or counts[moving[0]] != 1:
        return None
    return moving[0]


def _tree_nodes(template):
    """The leaves and shared arrays of a tree, depth first (the order of its offsets)."""
    if template[0] == "op":
        for child in template[2]:
            yield from _tree_nodes(child)
    else:
        yield template


def _leaves(template) -> list:
    """The leaf slices of a tree, in the order of its offsets."""
    return [node[1] for node in _tree_nodes(template) if node[0] == "leaf"]


def _order_kept(run: _Run) -> bool:
    """Whether, block by block and member by member, each element takes its writes in order."""
    shape = run.writes[0].eqn.inputs[0].aval.shape
    if int(np.prod(shape)) > MAX_ORDER_CHECK:
        return False
    latest = np.full(shape, -1, np.int32)  # the loop position of the last write of each element
    for first, stop in run.blocks():
        for member in range(run.period):
            for rank in range(first * run.period + member, stop * run.period, run.period):
                index = tuple(slice(*axis) for axis in zip(*_region(run.writes[rank].eqn.params)))
                if (latest[index] > rank).any():
                    return False
                latest[index] = rank
    return True


# -- the re-rolled computation -------------------------------------------------------------
def _replace_run(run: _Run, replaced: dict) -> None:
    """Record in ``replaced`` the equations of the re-rolled ``run``, in place of its last write."""
    last = run.writes[-1].eqn
    builder = Builder()
    builder.source = run.writes[0].eqn.source
    with building(builder):
        target = builder.tracer_class(builder, run.writes[0].eqn.inputs[0])
        for first, stop in run.blocks():
            block = run.writes[first * run.period:stop * run.period]
            for member in range(run.period):
                target = _member_write(builder, block[member::run.period], run.steps[member],
                                       target)
    eqns = builder.eqns
    eqns[-1] = dataclasses.replace(eqns[-1], out=last.out)
    for write in run.writes:
        replaced[id(write.eqn)] = ()
    replaced[id(last)] = eqns


def _member_write(builder, iterations: list, step: tuple, target):
    """One member's writes of every iteration as one write of a strided slice into ``target``."""
    ndim = iterations[0].eqn.inputs[0].aval.ndim
    counts = _counts(_region(iterations[0].eqn.params))
    axis = _moving_axis(step[:ndim], counts)
    if step[axis] < 0:  # a loop downwards: take its iterations upwards
        iterations, step = iterations[::-1], tuple(-d for d in step)
    first, count = iterations[0], len(iterations)
    eqn = first.eqn
    region = _region(eqn.params)
    inputs = _tree_inputs(builder, first.tree.template, step[ndim:], count)
    batched, _ = batch_program(_tree_program(first.tree.template), count,
                               batched=[b for _, b in inputs])
    (value,) = replay(batched, [t for t, _ in inputs])
    region = _strided(region[0], _replace(region[2], axis, step[axis]),
                      _replace(counts, axis, count))
    return eqn.prim.bind(target, _from_front(value, axis), **dict(eqn.params, **region))


def _tree_inputs(builder, template, steps: tuple, count: int) -> list:
    """``(value, batched)`` for each leaf and shared array of a tree, over all iterations."""
    inputs, at = [], 0
    for node in _tree_nodes(template):
        if node[0] == "shared":
            inputs.append((builder.tracer_class(builder, node[1]), False))
            continue
        leaf = node[1]
        n = leaf.inputs[0].aval.ndim
        inputs.append(_batched_leaf(builder, leaf, steps[at:at + n], count))
        at += n
    return inputs


def _batched_leaf(builder, leaf: Eqn, step: tuple, count: int):
    """The slices ``leaf`` reads in ``count`` iterations, stacked in front; or ``leaf`` itself."""
    source = builder.tracer_class(builder, leaf.inputs[0])
    if not any(step):
        return leaf.prim.bind(source, **leaf.params), False
    starts, _, steps = _region(leaf.params)
    shape = leaf.out.aval.shape
    axis = _moving_axis(step, shape)
    d = step[axis]
    lowest = starts[axis] + min(0, (count - 1) * d)
    region = _strided(_replace(starts, axis, lowest), _replace(steps, axis, abs(d)),
                      _replace(shape, axis, count))
    stacked = leaf.prim.bind(source, **dict(leaf.params, **region))
    if d < 0:
        stacked = S.rev(stacked, (axis,))
    return _to_front(stacked, axis, shape), True


def _tree_program(template) -> Program:
    """A tree as a program: its leaves and shared arrays as inputs, depth first; its value out."""
    invars, eqns = [], []

    def build(node):
        if node[0] != "op":
            var = Var(node[1].out.aval if node[0] == "leaf" else node[1].aval)
            invars.append(var)
            return var
        eqn = node[1]
        inputs = tuple(build(child) for child in node[2])
        out = Var(eqn.out.aval)
        eqns.append(Eqn(eqn.prim, inputs, eqn.params, out, eqn.source))
        return out

    out = build(template)
    in_tree = tree_flatten(tuple(v.aval for v in invars))[1]
    return Program(invars, eqns, [out], in_tree, tree_flatten((out.aval,))[1])


def _strided(starts: tuple, steps: tuple, counts: tuple) -> dict:
    stops = tuple(a + (n - 1) * s + 1 for a, s, n in zip(starts, steps, counts))
    return {"starts": tuple(starts), "stops": stops, "steps": tuple(steps)}


def _replace(values: tuple, axis: int, value) -> tuple:
    return tuple(value if a == axis else v for a, v in enumerate(values))


def _to_front(x, axis: int, shape: tuple):
    """``x`` (``shape`` with ``count`` at ``axis``) as ``(count,) + shape``: iterations in front."""
    perm = (axis,) + tuple(a for a in range(len(shape)) if a != axis)
    return S.reshape(S.transpose(x, perm), (x.shape[axis],) + tuple(shape))


def _from_front(x, axis: int):
    """``x`` (``(count,) + shape``, ``shape[axis] == 1``) as ``shape`` with ``count`` there."""
    shape = tuple(x.shape)
    kept = shape[:axis + 1] + shape[axis + 2:]
    perm = list(range(1, len(kept)))
    perm.insert(axis, 0)
    return S.transpose(S.reshape(x, kept), tuple(perm))
