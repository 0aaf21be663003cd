"""Fusible regions: the runs of equations that the fused executor compiles into one kernel.

A program is cut into steps: a :class:`Region` is a run of consecutive equations whose
primitives declare a ``fused_form`` (see :class:`linop.core.Primitive`), on dtypes numba
compiles; every other equation (FFTs, dense and sparse products, foreign operators) is a
step of its own that runs with its ``impl``. Which values of a region are stored in
arrays and which are recomputed inside the loops that read them is decided here too
(:func:`stored_values`), from the primitives' flags only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Program

__all__ = ["Region", "COMPILED_DTYPES", "MAX_INLINE_DEPTH", "MIN_UPDATE_CHAIN", "fusible", "partition",
           "stored_values", "update_chain", "fused_elements"]

#: The dtypes the fused kernels compute in (numba has no float16 or long double).
COMPILED_DTYPES = frozenset(np.dtype(d) for d in ("float32", "float64", "complex64", "complex128"))


@dataclass
class Region:
    """Consecutive fusible equations, compiled into one kernel.

    Attributes
    ----------
    eqns : list of Eqn
    inputs : list of Var
        Values read from outside the region, in order of first use.
    outputs : list of Var
        Values of the region read after it or returned by the program.
    """

    eqns: list
    inputs: list
    outputs: list


def fusible(eqn) -> bool:
    """Whether the fused executor compiles ``eqn`` into loops (its primitive and dtypes allow)."""
    return (eqn.prim.fused_form is not None and eqn.out.aval.dtype in COMPILED_DTYPES
            and all(v.aval.dtype in COMPILED_DTYPES for v in eqn.inputs))


def partition(program: Program) -> list:
    """The program as a list of steps: :class:`Region` objects and single equations.

    A lone equation that only makes a view (a slice, a reshape) stays an equation:
    NumPy does it without copying.
    """
    runs, current = [], []
    for eqn in program.eqns:
        if fusible(eqn):
            current.append(eqn)
            continue
        if current:
            runs.append(current)
            current = []
        runs.append(eqn)
    if current:
        runs.append(current)
    needed = _reads_after(program, runs)
    steps = []
    for k, run in enumerate(runs):
        if isinstance(run, list) and len(run) == 1 and run[0].prim.returns_view:
            run = run[0]
        steps.append(_region(run, needed[k]) if isinstance(run, list) else run)
    return steps


def _reads_after(program: Program, runs) -> list:
    """For each run, the ids of the values read by later runs or returned."""
    needed, later = [], {v.id for v in program.outvars}
    for run in reversed(runs):
        needed.append(set(later))
        for eqn in (run if isinstance(run, list) else [run]):
            later.update(v.id for v in eqn.inputs)
    return needed[::-1]


def _region(eqns, needed) -> Region:
    produced = {e.out.id for e in eqns}
    inputs: dict = {}
    for eqn in eqns:
        for v in eqn.inputs:
            if v.id not in produced:
                inputs.setdefault(v.id, v)
    outputs = [e.out for e in eqns if e.out.id in needed]
    return Region(eqns, list(inputs.values()), outputs)


def stored_values(region: Region) -> set:
    """Ids of the region's values written to arrays; the others are recomputed where read.

    Stored: the region's outputs, values read more than once, outputs of primitives that
    write with loops of their own, computed values that a primitive reads for
    several output elements (``fused_repeats_inputs``: recomputing them would repeat work;
    for a view, the value below it),
    and the last of a chain of :data:`MIN_UPDATE_CHAIN` or more slice writes
    (:func:`update_chain`: the chain is written into its buffer write by write).
    A view read more than once (a slice) is recomputed where read, from the value below it.
    """
    producer = {e.out.id: e for e in region.eqns}
    reads: dict = {}
    stored = {v.id for v in region.outputs}
    for eqn in region.eqns:
        if eqn.prim.fused_form == "loops":
            stored.add(eqn.out.id)
        for v in eqn.inputs:
            reads[v.id] = reads.get(v.id, 0) + 1
            if eqn.prim.fused_repeats_inputs and v.id in producer:
                stored.add(_below_views(v.id, producer))  # a view is an index map: recomputed
    for i, n in reads.items():
        if n > 1 and i in producer:
            stored.add(_below_views(i, producer))
    _limit_depth(region, stored, _store_long_chains(region, producer, stored))
    return stored


#: A chain of at least this many slice writes (``fused_updates`` primitives) into values
#: read by nothing else is written into one buffer, one write after the other; a shorter
#: one is computed element by element, each element testing each write (one pass).
MIN_UPDATE_CHAIN = 12


def update_chain(producer: dict, stored: set, eqn) -> list:
    """The slice writes that end with ``eqn``, first to last: ``eqn`` and the ``fused_updates``
    equations below it (through input 0) whose outputs are not stored."""
    chain = [eqn]
    while True:
        base = chain[-1].inputs[0]
        below = producer.get(base.id)
        if below is None or not below.prim.fused_updates or base.id in stored:
            return chain[::-1]
        chain.append(below)


def _store_long_chains(region: Region, producer: dict, stored: set) -> set:
    """Store the last value of each long chain of slice writes; the ids of the chains' values."""
    bases = {e.inputs[0].id for e in region.eqns if e.prim.fused_updates}
    members: set = set()
    for eqn in reversed(region.eqns):
        if not eqn.prim.fused_updates or (eqn.out.id in bases and eqn.out.id not in stored):
            continue  # not a slice write, or one that a later write continues
        chain = update_chain(producer, stored, eqn)
        if len(chain) >= MIN_UPDATE_CHAIN:
            stored.add(eqn.out.id)
            members.update(e.out.id for e in chain)
    return members


#: The longest chain of values computed inside one loop body; a longer one is stored midway
#: (a chain of 1000 slice updates would otherwise nest 1000 predicates in every element).
MAX_INLINE_DEPTH = 32


def _limit_depth(region: Region, stored: set, chained: set) -> None:
    """Store values midway in chains longer than :data:`MAX_INLINE_DEPTH` (but for the
    ``chained`` values of slice-write chains, which are not computed element by element)."""
    depth: dict = {}
    for eqn in region.eqns:
        d = 1 + max((depth.get(v.id, 0) for v in eqn.inputs), default=0)
        if d > MAX_INLINE_DEPTH and eqn.out.id not in chained:
            stored.add(eqn.out.id)
        depth[eqn.out.id] = 0 if eqn.out.id in stored or eqn.out.id in chained else d


def _below_views(i, producer) -> int:
    """The value a chain of views (slices, reshapes: index maps, cheap to recompute) reads."""
    eqn = producer.get(i)
    while eqn is not None and eqn.prim.returns_view and eqn.inputs:
        i = eqn.inputs[0].id
        eqn = producer.get(i)
    return i


def fused_elements(program: Program) -> tuple:
    """``(elements, largest)``: elements written by fusible equations per call, and the
    largest number of equations one region merges (what fusing could save)."""
    elements, largest, run = 0, 0, 0
    for eqn in program.eqns:
        if fusible(eqn):
            elements += eqn.out.aval.size
            run += 1
            largest = max(largest, run)
        else:
            run = 0
    return elements, largest
