"""Programs on Dask arrays: the Dask backend of :mod:`linop.namespace`.

A :class:`~linop.ir.Program` called on ``dask.array`` inputs returns lazy ``dask.array``
outputs. Each primitive's :meth:`~linop.core.Primitive.dask_impl` rule builds its step of
the task graph with the chunk-aware services of :class:`DaskBackend`:

* :meth:`DaskBackend.constant` turns a captured constant into a Dask array chunked like
  the data it meets, once per constant (one graph key per chunk, never a copy per task);
  under a ``distributed`` client it is persisted on the workers from its graph (a recipe
  the scheduler keeps: blocks lost with a worker are recomputed), so later calls refer to
  its keys and ship nothing again.
* :meth:`DaskBackend.along_axes` runs a primitive's NumPy ``impl`` on blocks that hold
  whole ``axes`` (FFTs, one axis at a time): only those axes are rechunked, the others
  split so that blocks stay the size of the input's.
* :meth:`DaskBackend.sparse_along` applies a constant sparse matrix along one axis block
  by block: each output block reads only the input rows its part of the matrix touches
  (a banded matrix reads a block and a halo), the matrix pieces being one key each.
* :meth:`DaskBackend.windowed` runs a sliding-window computation (a convolution) on blocks
  extended by the edge of their following neighbours (``dask.array.overlap``).
* :meth:`DaskBackend.run_segment` computes a run of slices, pads, slice updates and
  elementwise steps (a stencil written with shifted slices, its adjoint) as one task per
  output block: the task reads the input blocks that meet the region the block really
  depends on (its block and the halo of its neighbours, found from each primitive's
  :meth:`~linop.core.Primitive.region_reads`) and runs the chain on those regions with
  NumPy, instead of one Dask operation (and a rechunk) per step. On a ``distributed``
  cluster of several workers, the blocks it reads only in part are cut into the slabs it
  needs where they live, rather than fetched whole and kept there as replicas.
* :meth:`DaskBackend.whole` is the fallback for primitives with no rule of their own:
  the inputs are gathered into one block (lazily: one task of the graph).

Dask is imported when the first Dask array reaches a program, never by ``import linop``.
"""
from __future__ import annotations

import functools
import itertools
import pickle
import sys
import threading
import uuid

import numpy as np

from .core import aval_of
from .ir import Const
from .namespace import BACKENDS, Backend, segments
from .primitives.sparse_matmul import apply_sparse

__all__ = ["DaskBackend", "is_dask_array", "dask_backend", "distributed_client"]


def is_dask_array(x) -> bool:
    """Whether ``x`` is a ``dask.array.Array`` (without importing Dask)."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(x, module.Array)


def distributed_client():
    """The current ``distributed`` client, or ``None`` (no cluster, or no ``distributed``)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def _workers() -> int:
    """How many workers the current ``distributed`` client's cluster has (0: no client)."""
    client = distributed_client()
    return 0 if client is None else len(client.scheduler_info(n_workers=-1)["workers"])


#: Held while a constant is persisted under a raised large-graph warning threshold
#: (:meth:`DaskBackend._persisted`).
_PERSIST_LOCK = threading.Lock()


def _nbytes(value) -> int:
    """About the bytes ``value`` (a constant) takes in a graph: an array's, the arrays of a
    sparse matrix, or the pickled size of anything else (a foreign operator's ``Const``)."""
    if isinstance(value, Const) and isinstance(value.value, np.ndarray):
        value = value.value
    if isinstance(value, np.ndarray):
        return value.nbytes
    parts = [getattr(value, part, None) for part in ("data", "indices", "indptr")]
    if all(isinstance(a, np.ndarray) for a in parts):
        return sum(a.nbytes for a in parts)
    return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _unique(prefix: str) -> str:
    # explicit names spare Dask from hashing the (large) constants a task closes over
    return f"linop-{prefix}-{uuid.uuid4().hex}"


class DaskBackend(Backend):
    """Runs primitives on Dask arrays (one instance per process: :func:`dask_backend`)."""

    name = "dask"

    def __init__(self):
        import dask
        import dask.array as da

        try:
            import array_api_compat.dask.array as xp
        except ImportError:  # pragma: no cover - array-api-compat is part of the dask extra
            xp = da
        super().__init__(xp)
        self.dask = dask
        #: The ``dask.array`` module.
        self.da = da

    # -- arrays and constants ----------------------------------------------------------
    def asarray(self, value):
        return self.da.asarray(value)

    def rule(self, prim, xs, params):
        return prim.dask_impl(self, *xs, **params)

    def settle(self, out, layouts: dict):
        """Arrays of one shape share one chunking: the first seen (the inputs' come first).

        Shifted slices and pads cut blocks at other places; bringing every result back to
        the shape's chunking keeps elementwise steps between them free of rechunking and
        the blocks from fragmenting step after step.
        """
        shape = tuple(out.shape)
        chunks = layouts.get(shape)
        if chunks is None:
            out = self.rechunk(out, _defragmenting(out))
            layouts[shape] = out.chunks
            return out
        return out if out.chunks == chunks else self.rechunk(out, chunks)

    def rechunk(self, x, chunks):
        """``x`` cut into ``chunks`` (a tuple, or a dict of axes as ``Array.rechunk`` takes),
        no task of the rechunking holding a block larger than ``x``'s or the result's.

        Dask's own limit on the intermediate blocks of a rechunk is ``array.chunk-size``
        (128 MiB by default): moving between slabs and pencils would otherwise gather
        whole arrays (or 128 MiB pieces) into single tasks. The rechunk is made of tasks
        (not ``distributed``'s peer-to-peer shuffle, which holds a worker's whole share of
        the array until the shuffle ends): blocks flow on as soon as their pieces exist.
        """
        if isinstance(chunks, dict):
            chunks = tuple(chunks.get(d, c) for d, c in enumerate(x.chunks))
        from dask.array.core import normalize_chunks

        target = normalize_chunks(chunks, x.shape, dtype=x.dtype, previous_chunks=x.chunks)
        if target == x.chunks:
            return x
        limit = max(_block_bytes(x.chunks, x.dtype), _block_bytes(target, x.dtype))
        return x.rechunk(target, block_size_limit=limit, method="tasks")

    def steps(self, program) -> list:
        """``program``'s equations, runs of those with region rules as segments (one task
        per output block: :meth:`run_segment`)."""
        return segments(program, _runs_by_region)

    def run_segment(self, segment, xs, layouts):
        """Each output of ``segment`` computed block by block, one task per block running
        the segment's equations with NumPy on the regions that block reads.

        A segment whose blocks would read regions of more than :data:`REGION_GROWTH` times
        a block (a slice of far-away elements) runs step by step instead."""
        from dask.array.core import normalize_chunks

        outs = []
        for v in segment.outputs:
            chunks = normalize_chunks(_chunks_near(v.aval.shape, v.aval.dtype, layouts),
                                      v.aval.shape, dtype=v.aval.dtype)
            out = self._by_region(segment, v, xs, chunks)
            if out is None:
                return super().run_segment(segment, xs, layouts)
            outs.append(out)
        return outs

    def _by_region(self, segment, var, xs, chunks):
        """``var`` (made by ``segment`` from ``xs``) in blocks of ``chunks``, or ``None``."""
        if any(0 in c for c in chunks) or any(0 in c for x in xs for c in x.chunks):
            return None  # empty blocks: step by step
        eqns = _needed(segment.eqns, var)
        inputs = {v.id: k for k, v in enumerate(segment.inputs)}
        edges = [list(itertools.accumulate(c, initial=0)) for c in chunks]
        limit = REGION_GROWTH * int(np.prod([max(c) for c in chunks]))
        name = _unique("region")
        from dask._task_spec import DataNode, Task, TaskRef
        from dask.highlevelgraph import HighLevelGraph

        program_key = name + "-eqns"
        layer = {program_key: DataNode(program_key, _slotted(eqns, var))}
        slot = _slots(eqns)
        used = set()
        cut = _EdgeCutter(name, xs) if _workers() > 1 else None
        for index in itertools.product(*(range(len(c)) for c in chunks)):
            box = tuple((e[i], e[i + 1]) for e, i in zip(edges, index))
            plan, need = _block_plan(eqns, var, box)
            if max((_volume(b) for b in need.values()), default=0) > limit:
                return None
            reads, refs = [], []
            for vid, region in need.items():
                if vid in inputs:
                    k = inputs[vid]
                    used.add(k)
                    pieces = [(TaskRef((xs[k].name,) + i), b, None) if cut is None
                              else cut(k, i, b, _meet(b, region))
                              for i, b in _blocks_meeting(xs[k], region)]
                    reads.append((slot[vid], region, tuple(b for _, b, _ in pieces),
                                  tuple(p for _, _, p in pieces)))
                    refs.extend(ref for ref, _, _ in pieces)
            key = (name,) + index
            # a "data producer" is queued by distributed's scheduler and handed to a worker
            # as one frees up (worker-saturation), not all at once: each worker then fetches
            # the slabs and blocks of a few tasks at a time, not those of its whole share
            layer[key] = Task(key, _region_block, TaskRef(program_key), plan, tuple(reads), *refs,
                              _data_producer=cut is not None and cut.cuts(refs))
        if cut is not None:
            layer.update(cut.tasks())
        graph = HighLevelGraph.from_collections(name, layer,
                                                dependencies=[xs[k] for k in sorted(used)])
        dtype = var.aval.dtype
        return self.da.Array(graph, name, chunks, dtype=dtype,
                             meta=np.empty((0,) * len(chunks), dtype))

    def fresh(self, prim, params, out_aval, layouts: dict):
        """An array made from nothing (``zeros``), cut into blocks like the run's arrays.

        The rule's result (one lazy block: Dask's zeros cost no memory until used) is cut
        as :func:`_chunks_near` finds, so that the slices written into it and the steps
        after it work on blocks of the data's size, never on one block of the whole array.
        """
        out = self.rule(prim, [], params)
        if out.size == 0:
            return out
        return self.rechunk(out, _chunks_near(tuple(out.shape), out.dtype, layouts))

    def _blocks_of(self, value, chunks, name):
        """The constant ``value`` as a Dask array of ``chunks`` named ``name``, persisted on
        the cluster under a ``distributed`` client (:meth:`_persisted`)."""
        return self._persisted(self.da.from_array(value, chunks=chunks, name=name), value)

    def _one_key(self, value, name):
        """``value`` as one graph key named ``name`` (a ``delayed``), persisted on the cluster
        under a ``distributed`` client (:meth:`_persisted`)."""
        return self._persisted(self.dask.delayed(value, pure=True, name=name), value)

    def _persisted(self, collection, value):
        """``collection`` (the constant ``value``'s blocks or key) persisted on the cluster
        when there is a ``distributed`` client, else as it is.

        Persisted from its graph, the constant has a recipe that the scheduler keeps: a
        block lost with a worker is computed again from it (scattered data would be lost
        for good, and every later call fail). The graph carries the constant's bytes once,
        at its first use; later graphs refer to the persisted keys. ``distributed`` warns of
        graphs over ``distributed.admin.large-graph-warning-threshold`` (meant for data
        embedded in graphs sent again and again): for this one submission, of the constant
        alone, the threshold is raised by the constant's bytes (:func:`_nbytes`), so that
        the user's own graphs warn as before. The setting is process-wide while ``persist``
        runs (a graph another thread submits then may be that much larger before it warns);
        the lock keeps linop's own settings from interleaving and restoring the wrong value.
        """
        client = distributed_client()
        if client is None:
            return collection
        option = "distributed.admin.large-graph-warning-threshold"
        from dask.utils import parse_bytes

        with _PERSIST_LOCK:
            limit = parse_bytes(self.dask.config.get(option)) + _nbytes(value)
            with self.dask.config.set({option: limit}):
                return client.persist(collection)

    def _client_key(self):
        client = distributed_client()
        return None if client is None else client.id

    def constant(self, value, like=None, chunks=None):
        """``value`` as a Dask array chunked to meet ``like`` (right-aligned broadcasting).

        Axes of length 1 stay single chunks; axes that ``like`` has at the same length get
        ``like``'s chunks; others are one chunk. ``chunks`` overrides. Made once per
        constant, chunking and client.
        """
        if np.ndim(value) == 0:
            return value
        if chunks is None:
            chunks = self._chunks_like(np.shape(value), like)
        key = (tuple(chunks), self._client_key())
        return self.constants.get(value, key, lambda: self._blocks_of(value, chunks,
                                                                      _unique("const")))

    @staticmethod
    def _chunks_like(shape, like):
        lead = 0 if like is None else like.ndim - len(shape)
        out = []
        for d, n in enumerate(shape):
            if like is not None and n != 1 and d + lead >= 0 and like.shape[d + lead] == n:
                out.append(like.chunks[d + lead])
            else:
                out.append((n,))
        return tuple(out)

    # -- chunk-aware services for the primitives' rules --------------------------------
    def whole(self, prim, xs, params, out_aval):
        """``prim.impl`` on each input gathered into one block (one task)."""
        fn, keys = self.impl_on_blocks(prim, params)
        result = self.dask.delayed(fn, pure=True)(*xs, *keys, dask_key_name=_unique(prim.name))
        return self.da.from_delayed(result, out_aval.shape, dtype=out_aval.dtype)

    def elementwise(self, prim, xs, params):
        """``prim.impl`` block by block on inputs of one shape (an elementwise primitive)."""
        out = prim.abstract_eval(*(aval_of(x) for x in xs), **params)
        xs = [x if x.chunks == xs[0].chunks else self.rechunk(x, xs[0].chunks) for x in xs]
        return self.da.map_blocks(functools.partial(prim.impl, **params), *xs, dtype=out.dtype,
                                  meta=np.empty((0,) * out.ndim, out.dtype),
                                  name=_unique(prim.name))

    def whole_axes(self, x, axes):
        """``x`` rechunked so that ``axes`` are whole, other axes split to keep block sizes."""
        growth = int(np.prod([len(x.chunks[a]) for a in axes]))
        if growth == 1:
            return x
        spec = {a: -1 for a in axes}
        others = sorted((d for d in range(x.ndim) if d not in axes), key=lambda d: -max(x.chunks[d]))
        for d in others:  # split the largest other blocks by as much as the axes grew
            if growth <= 1:
                break
            size = max(x.chunks[d])
            split = min(growth, size)
            spec[d] = -(-size // split)
            growth = -(-growth // split)
        return self.rechunk(x, spec)

    def along_axes(self, prim, x, axes, params, fn=None, *args):
        """``prim.impl`` on blocks of ``x`` holding whole ``axes`` (the output keeps its other axes).

        ``fn(block, *args)``, when given, computes a block instead: ``args`` are graph keys
        (:meth:`shipped` constants) that each task refers to rather than carries. Without
        ``fn`` the primitive's constant parameters are shipped so (:meth:`impl_on_blocks`).
        """
        out = prim.abstract_eval(aval_of(x), **params)
        x = self.whole_axes(x, axes)
        chunks = tuple((out.shape[d],) if d in axes else x.chunks[d] for d in range(x.ndim))
        if fn is None:
            fn, args = self.impl_on_blocks(prim, params)
        return self.da.map_blocks(fn, x, *args, chunks=chunks,
                                  dtype=out.dtype, meta=np.empty((0,) * out.ndim, out.dtype),
                                  name=_unique(prim.name))

    def impl_on_blocks(self, prim, params):
        """``prim.impl`` as a function of the blocks and of the primitive's constant
        parameters (its :class:`~linop.ir.Const` ones: matrices, kernels, foreign operators),
        and those constants as graph keys (:meth:`shipped`), to be passed after the blocks:
        tasks refer to the keys instead of each carrying a copy of the constants."""
        held = tuple(name for name, p in params.items() if isinstance(p, Const))
        rest = {name: p for name, p in params.items() if name not in held}
        keys = [self.shipped(params[name].value, params[name]) for name in held]
        return functools.partial(_impl_with, prim, held, rest), keys

    def shipped(self, value, held=None):
        """The captured constant ``value`` as one graph key (a ``delayed``), made once per
        constant and client: tasks that need the whole constant (a kernel) refer to it
        instead of each carrying a copy. ``held`` (default ``value``) is what the key holds:
        the :class:`~linop.ir.Const` parameter of ``value``, say."""
        held = value if held is None else held
        return self.constants.get(value, ("shipped", type(held), self._client_key()),
                                  lambda: self._one_key(held, _unique("const")))

    def windowed(self, fn, x, window, *args, dtype):
        """``fn(block, *args)`` on blocks of ``x`` each extended by ``window[d] - 1`` elements of
        the following block along every axis ``d``: a sliding window of that size, so the
        result has ``x.shape[d] - window[d] + 1`` elements along ``d``, every block the size
        of ``x``'s but the last (a "valid" correlation over the window's positions).

        Blocks shorter than the halo are merged into their neighbours first; nothing else
        is rechunked, and each block reads only the edge of the next one.
        """
        halo = [w - 1 for w in window]
        x = self.rechunk(x, {d: _merged_short(x.chunks[d], h) for d, h in enumerate(halo) if h})
        ext = self.da.overlap.overlap(x, depth={d: (0, h) for d, h in enumerate(halo)},
                                      boundary="none", allow_rechunk=False) if any(halo) else x
        chunks = tuple(c[:-1] + (c[-1] - h,) for c, h in zip(x.chunks, halo))
        return self.da.map_blocks(fn, ext, *args, chunks=chunks, dtype=dtype,
                                  meta=np.empty((0,) * x.ndim, dtype), name=_unique("window"))

    def sparse_along(self, S, x, axis, dtype, key=None):
        """The constant sparse ``S`` (``m × n``) applied along ``axis`` of ``x``, block by block.

        The output has as many blocks along ``axis`` as ``x``, each the product of a band of
        ``S``'s rows with the input rows that band touches. ``key`` (default ``S``) is the
        constant whose lifetime the cached bands of ``S`` follow.
        """
        m, n = S.shape
        edges = np.cumsum((0,) + x.chunks[axis])
        rows = np.unique(np.rint(edges * (m / n)).astype(np.int64))
        rows[0], rows[-1] = 0, m
        columns, pieces = self.constants.get(
            S if key is None else key, ("bands", tuple(rows), self._client_key()),
            lambda: self._bands(S, rows))
        parts = [self._band_product(x, axis, r0, r1, c0, c1, pieces, dtype)
                 for (r0, r1), (c0, c1) in zip(zip(rows[:-1], rows[1:]), columns)]
        if len(parts) == 1:
            return parts[0]
        # bands split differently across the other axes would make the concatenation cut
        # blocks at every split of any band: bring them to x's blocks there first
        others = {d: x.chunks[d] for d in range(x.ndim) if d != axis}
        if len({tuple(p.chunks[d] for d in others) for p in parts}) > 1:
            parts = [self.rechunk(p, others) for p in parts]
        return self.da.concatenate(parts, axis=axis)

    def _bands(self, S, rows):
        """The column range each row band of ``S`` touches, and the bands (one graph key each)."""
        import scipy.sparse as sp

        S = sp.csr_array(S)
        columns, bands = [], {}
        for r0, r1 in zip(rows[:-1], rows[1:]):
            cols = S.indices[S.indptr[r0]:S.indptr[r1]]
            if cols.size:
                c0, c1 = int(cols.min()), int(cols.max()) + 1
                bands[int(r0)] = self._one_key(S[r0:r1, c0:c1], _unique("band"))
                columns.append((c0, c1))
            else:
                columns.append((0, 0))
        return columns, bands

    def _band_product(self, x, axis, r0, r1, c0, c1, pieces, dtype):
        length = int(r1 - r0)
        if c1 <= c0:  # rows with no entries
            chunks = x.chunks[:axis] + ((length,),) + x.chunks[axis + 1:]
            return self.da.zeros(x.shape[:axis] + (length,) + x.shape[axis + 1:], dtype=dtype,
                                 chunks=chunks)
        sub = x[(slice(None),) * axis + (slice(c0, c1),)]
        if c1 - c0 <= 2 * max(x.chunks[axis]):  # a block and a halo: keep the other axes' blocks
            sub = self.rechunk(sub, {axis: -1})
        else:  # a wide band (a dense matrix): a pencil, the other axes split to keep block sizes
            sub = self.whole_axes(sub, (axis,))
        band = pieces[int(r0)]
        chunks = sub.chunks[:axis] + ((length,),) + sub.chunks[axis + 1:]
        return self.da.map_blocks(functools.partial(_band_block, axis=axis, dtype=dtype), sub, band,
                                  dtype=dtype, chunks=chunks,
                                  meta=np.empty((0,) * x.ndim, dtype), name=_unique("sparse"))

    def persist(self, *arrays):
        """``arrays`` computed and kept in memory (on the cluster under a client)."""
        return self.dask.persist(*arrays)


#: How many times a block's size the largest region a block of a segment reads may be
#: (a strided slice reads more than its block; a slice of far-away elements would gather
#: many blocks into one task: such segments run step by step).
REGION_GROWTH = 8

#: Under ``distributed`` with several workers, the blocks of a segment's inputs of at least
#: this many bytes that tasks read only in part are cut into slabs where they live, those
#: read whole handed on under keys of their own (:class:`_EdgeCutter`), and the tasks
#: reading them queued; smaller ones are fetched whole (one more task per block costs
#: more than the copies it saves: the copies are at most the input's size).
REGION_CUT_BYTES = 1 << 20

#: Constants larger than this (bytes) stop a segment: a task would carry them whole.
REGION_CONSTANT_BYTES = 1 << 16


def _runs_by_region(eqn) -> bool:
    """Whether ``eqn`` can run in a segment: it has a region rule, non-empty arrays and no
    large constant."""
    avals = [v.aval for v in eqn.inputs]
    if eqn.out.aval.ndim == 0 or eqn.out.aval.size == 0 or any(a.size == 0 for a in avals):
        return False
    carried = sum(np.asarray(p.value).nbytes for p in eqn.params.values() if isinstance(p, Const))
    if carried > REGION_CONSTANT_BYTES:
        return False
    whole = tuple((0, n) for n in eqn.out.aval.shape)
    return eqn.prim.region_reads(whole, *avals, **eqn.params) is not None


class _EdgeCutter:
    """The parts of input blocks that a segment's tasks read, cut out by one task per block.

    Under ``distributed`` a block's task runs where the scheduler sends it and fetches what
    it reads from elsewhere. A block of a persisted input fetched whole (for the one plane of
    it a stencil reads, or to run a block's task away from its block) stays on the reading
    worker as a replica of the input for as long as the input is kept: over one application
    each worker comes to hold about all of it. Instead, one task per block read only in part
    (it runs where the block is) takes out the slabs that the tasks around read of it, as
    views (no copy there), and one task per block read whole hands the block on under a key
    of its own; the tasks fetch those, not the input's blocks, and they are released once
    the tasks reading them have run.
    """

    def __init__(self, name, xs):
        self.name, self.whole, self.xs, self.slabs = name + "-edges", name + "-own", xs, {}
        self.blocks = set()

    def __call__(self, k, index, block, part):
        """What a task reads to have ``part`` of block ``index`` (box ``block``) of input
        ``k``: the key, the box it gives, and ``None`` (the key is the block: the input's
        own, under :data:`REGION_CUT_BYTES`, else handed on) or the place in the key's tuple
        of slabs of the slab of the block along one axis that holds ``part`` (the thinnest
        such: the tasks reading the same side of a block, a stencil's face, edge and corner
        neighbours, share one)."""
        source = (self.xs[k].name,) + index
        from dask._task_spec import TaskRef

        if _volume(block) * self.xs[k].dtype.itemsize < REGION_CUT_BYTES:
            return TaskRef(source), block, None
        slabs = [block[:d] + (part[d],) + block[d + 1:]
                 for d in range(len(block)) if part[d] != block[d]]
        if not slabs:
            self.blocks.add((k, index))
            return TaskRef((self.whole, k) + index), block, None
        slab = min(slabs, key=_volume)
        cut = self.slabs.setdefault((k, index), (block, []))[1]
        if slab not in cut:
            cut.append(slab)
        return TaskRef(self.key(k, index)), slab, cut.index(slab)

    def key(self, k, index):
        return (self.name, k) + index

    def cuts(self, refs) -> bool:
        """Whether any of the keys ``refs`` is one of this cutter's."""
        return any(ref.key[0] in (self.name, self.whole) for ref in refs)

    def tasks(self) -> dict:
        """The tasks cutting the slabs out, one per block read in part, and those handing on
        the blocks read whole."""
        from dask._task_spec import Task, TaskRef

        out = {}
        for (k, index), (block, slabs) in self.slabs.items():
            key = self.key(k, index)
            out[key] = Task(key, _slabs_of, TaskRef((self.xs[k].name,) + index), block,
                            tuple(slabs))
        for k, index in self.blocks:
            key = (self.whole, k) + index
            out[key] = Task(key, _itself, TaskRef((self.xs[k].name,) + index))
        return out


def _itself(value):
    """``value`` (a block handed on under another key)."""
    return value


def _slabs_of(value, box, slabs) -> tuple:
    """The parts ``slabs`` (boxes) of ``value``, which holds box ``box`` (views)."""
    return tuple(_inside(value, box, s) for s in slabs)


def _needed(eqns, var) -> tuple:
    """The equations of ``eqns`` that ``var`` depends on, in order."""
    wanted, out = {var.id}, []
    for e in reversed(eqns):
        if e.out.id in wanted:
            out.append(e)
            wanted.update(v.id for v in e.inputs)
    return tuple(out[::-1])


def _block_plan(eqns, var, box):
    """For the block ``box`` of ``var``: per equation, ``None`` (not needed) or the box of
    its output needed and the box of each input it reads; and the box needed of each value."""
    need, plan = {var.id: box}, [None] * len(eqns)
    for k in range(len(eqns) - 1, -1, -1):
        e = eqns[k]
        out = need.get(e.out.id)
        if out is None:
            continue
        reads = tuple(e.prim.region_reads(out, *(v.aval for v in e.inputs), **e.params))
        plan[k] = (out, reads)
        for v, r in zip(e.inputs, reads):
            if r is not None:
                need[v.id] = _hull(need.get(v.id), r)
    return tuple(plan), need


def _hull(a, b):
    """The smallest box holding boxes ``a`` (or ``None``) and ``b``."""
    if a is None:
        return b
    return tuple((min(p, r), max(q, s)) for (p, q), (r, s) in zip(a, b))


def _volume(box) -> int:
    return int(np.prod([hi - lo for lo, hi in box]))


def _blocks_meeting(x, box):
    """``(block index, block box)`` of the blocks of ``x`` that meet ``box``."""
    ranges = []
    for (lo, hi), c in zip(box, x.chunks):
        edges = np.cumsum((0,) + c)
        first = int(np.searchsorted(edges, lo, side="right")) - 1
        last = int(np.searchsorted(edges, hi, side="left"))
        ranges.append([(i, (int(edges[i]), int(edges[i + 1]))) for i in range(first, last)])
    for combo in itertools.product(*ranges):
        yield tuple(i for i, _ in combo), tuple(b for _, b in combo)


def _meet(a, b):
    """The intersection of boxes ``a`` and ``b`` (which meet)."""
    return tuple((max(p, r), min(q, s)) for (p, q), (r, s) in zip(a, b))


def _inside(value, box, part):
    """The elements in box ``part`` of ``value``, which holds the elements in ``box``."""
    return value[tuple(slice(p - b, q - b) for (p, q), (b, _) in zip(part, box))]


def _assembled(region, boxes, blocks):
    """The elements in ``region`` from the ``blocks`` that meet it (their boxes: ``boxes``)."""
    if len(blocks) == 1:
        return _inside(blocks[0], boxes[0], region)
    out = np.empty(tuple(hi - lo for lo, hi in region), blocks[0].dtype)
    for box, block in zip(boxes, blocks):
        meet = _meet(box, region)
        out[tuple(slice(p - r, q - r) for (p, q), (r, _) in zip(meet, region))] = \
            _inside(block, box, meet)
    return out


def _slots(eqns) -> dict:
    """A slot number for each value ``eqns`` read or make (ids do not survive pickling)."""
    slot = {}
    for e in eqns:
        for v in e.inputs + (e.out,):
            slot.setdefault(v.id, len(slot))
    return slot


def _slotted(eqns, var) -> tuple:
    """``eqns`` for :func:`_region_block`: per equation its primitive, parameters, output
    type, input types, input slots and output slot; and ``var``'s slot."""
    slot = _slots(eqns)
    return tuple((e.prim, e.params, e.out.aval, tuple(v.aval for v in e.inputs),
                  tuple(slot[v.id] for v in e.inputs), slot[e.out.id]) for e in eqns), slot[var.id]


def _impl_with(prim, names, params, *args):
    """``prim.impl`` on the blocks that begin ``args``, its constant parameters ``names``
    being the values that end them (:meth:`DaskBackend.impl_on_blocks`)."""
    split = len(args) - len(names)
    return prim.impl(*args[:split], **params, **dict(zip(names, args[split:])))


def _region_block(program, plan, reads, *blocks):
    """One block: the equations of ``program`` (:func:`_slotted`) on the boxes of ``plan``
    (:func:`_block_plan`), from the input regions of ``reads`` (each ``(slot, box, boxes
    of its pieces, picks)``) assembled from ``blocks``: a piece is a block, or (its pick
    an int) that slab of a tuple of slabs (:class:`_EdgeCutter`)."""
    eqns, result = program
    values, boxes, start = {}, {}, 0
    for k, region, pieces, picks in reads:
        parts = [b if p is None else b[p] for b, p in zip(blocks[start:start + len(pieces)], picks)]
        values[k] = _assembled(region, pieces, parts)
        boxes[k], start = region, start + len(pieces)
    last = {}
    for k, step in enumerate(plan):
        if step is not None:
            for s in eqns[k][4]:
                last[s] = k
    for k, ((prim, params, out, in_avals, ins, made), step) in enumerate(zip(eqns, plan)):
        if step is None:
            continue
        box, parts = step
        args = [None if r is None else _inside(values[s], boxes[s], r) for s, r in zip(ins, parts)]
        values[made], boxes[made] = prim.region_impl(box, out, in_avals, *args, **params), box
        for s in ins:
            if last.get(s) == k and s != result:
                values.pop(s, None)
    return values[result]


def _band_block(x, S, *, axis, dtype):
    return apply_sparse(S, x, axis).astype(dtype, copy=False)


def _block_bytes(chunks, dtype) -> int:
    """The size of the largest block of ``chunks``."""
    return int(np.prod([max(c, default=0) for c in chunks])) * np.dtype(dtype).itemsize


def _chunks_near(shape, dtype, layouts):
    """Chunks for a new array of ``shape``: the layout of that shape if the run has one; else
    those of the first layout with as many axes (axes of another length cut into blocks of
    that axis's largest block); else blocks no larger than the run's largest."""
    if shape in layouts:
        return layouts[shape]
    for known, chunks in layouts.items():
        if len(known) == len(shape):
            return tuple(chunks[d] if known[d] == n else max(max(chunks[d], default=1), 1)
                         for d, n in enumerate(shape))
    from dask.array.core import normalize_chunks

    largest = max((np.prod([max(c, default=1) for c in chunks]) for chunks in layouts.values()),
                  default=0)
    limit = int(largest * np.dtype(dtype).itemsize) or None
    return normalize_chunks("auto", shape, limit=limit, dtype=dtype)


def _merged_short(chunks, halo):
    """``chunks`` with blocks shorter than ``halo + 1`` merged with their followers (the last
    with the one before it): halos then come from one neighbour, and the last block keeps
    at least one window position."""
    out = []
    for c in chunks:
        if out and out[-1] < halo + 1:
            out[-1] += c
        else:
            out.append(c)
    if len(out) > 1 and out[-1] < halo + 1:
        last = out.pop()
        out[-1] += last
    return tuple(out)


def _defragmenting(x) -> dict:
    """The axes of ``x`` cut into many small blocks (slices and pads of neighbours met),
    each to be merged back into blocks of the axis's largest block size; and the axes with
    empty blocks (Dask's strided slices leave them; its slice assignment and its indexing
    with a NumPy index fail on them), which lose those."""
    spec = {}
    for axis, chunks in enumerate(x.chunks):
        largest = max(chunks, default=0)
        if len(chunks) > 1 and len(chunks) > -(-sum(chunks) // largest) + 1:
            spec[axis] = largest
        elif 0 in chunks and sum(chunks):
            spec[axis] = tuple(c for c in chunks if c)
    return spec


@functools.cache
def dask_backend() -> DaskBackend:
    """The process's Dask backend (its constant cache is shared by every program)."""
    return DaskBackend()


BACKENDS.append((is_dask_array, lambda x: dask_backend()))
