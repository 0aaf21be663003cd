"""Chains of slices, pads, slice updates and elementwise steps on Dask: one task per block.

``DaskBackend.run_segment`` runs such a chain (a stencil written with shifted slices, its
adjoint) as one task per output block that reads the region the block depends on. The
tests: the results equal NumPy's for every kind of step (strided, reversed, transposed,
padded with interior zeros, odd block sizes, blocks that read several neighbours); a
stencil's graph has one task per block whose inputs are its block and its neighbours
(so its memory is bounded by the block size, and the per-step rechunks are gone); a
chain that would read far-away blocks runs step by step, with the same result. On a
``distributed`` cluster of 2 workers: the tasks read slabs of their neighbours' blocks and
their own block handed on (never a block of the input itself, which would stay as a
replica), and are handed to each worker a couple at a time.
"""
from __future__ import annotations

import numpy as np
import pytest

import linop
from models import laplacian_7point
from linop.dask_exec import REGION_GROWTH

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
from dask.callbacks import Callback  # noqa: E402  (after the importorskip)

RNG = np.random.default_rng(12)
ROW = RNG.standard_normal(4)  # a small constant, broadcast along the last axis
SIGNS = RNG.standard_normal((1, 9)) > 0


def _strided_updates(x):
    y = 2 * x
    y[1::3, 1::2] = x[:-1:3, ::2][:, :4] * ROW
    y[::-2] -= x[1::2]
    return y


def _reversed_transposed(x):
    y = np.transpose(x[::-1, :, 2:], (1, 0, 2))
    return np.pad(y, ((1, 2), (0, 0), (3, 0))) + 0


def _interior_pad(x):
    from linop.primitives.slice import pad

    return pad(x[:, 1:], (2, 0), (1, 3), (1, 2))


def _masked_complex(x):
    z = x * (1 + 2j)
    z[:, 2:7] = z[:, :5].conj() - x[:, 4:9]
    return np.where(SIGNS, z, 0).real + np.roll(np.zeros_like(x), 1)


CASES = [
    ("stencil", laplacian_7point, (12, 10, 9), (5, 4, 3)),
    ("strided-updates", _strided_updates, (14, 9), (4, 2)),
    ("reversed-transposed", _reversed_transposed, (7, 6, 9), (3, 4, 2)),
    ("interior-pad", _interior_pad, (6, 9), (4, 5)),
    ("masked-complex", _masked_complex, (8, 9), (3, 4)),
]


@pytest.fixture
def threads():
    with dask.config.set(scheduler="threads"):
        yield


@pytest.mark.parametrize("name,fun,shape,chunks", CASES, ids=[c[0] for c in CASES])
def test_chains_by_region_equal_numpy(threads, name, fun, shape, chunks):
    x = RNG.standard_normal(shape)
    program = linop.trace(fun, x)
    got = program(da.from_array(x, chunks=chunks))
    np.testing.assert_allclose(got.compute(), program(x), rtol=1e-13, atol=1e-13)
    transposed = linop.transpose(program)
    ct = RNG.standard_normal(program.out_avals[0].shape)
    (back,) = transposed(da.from_array(ct, chunks=tuple(max(1, c - 1) for c in chunks)))
    np.testing.assert_allclose(back.compute(), transposed(ct)[0], rtol=1e-13, atol=1e-13)


def _own_tasks(y, x):
    """The tasks of ``y``'s graph that are not ``x``'s."""
    graph, inputs = dict(y.__dask_graph__()), set(x.__dask_graph__())
    return {k: t for k, t in graph.items() if k not in inputs}


@pytest.mark.parametrize("direction", ["apply", "apply_adjoint"])
def test_a_stencil_is_one_task_per_block_reading_its_neighbours(direction):
    """The 7-point stencil (7 slice updates) and its adjoint: one task per block (and one key
    for the program), each reading only its block and the 26 around it; step by step it was
    about 60 (90 for the adjoint) tasks per block, rechunks among them."""
    A = linop.aslinearoperator(laplacian_7point, np.zeros((32, 32, 32)))
    x = da.from_array(RNG.standard_normal((32, 32, 32)), chunks=8)
    y = getattr(A, direction)(x)
    tasks = _own_tasks(y, x)
    assert len(tasks) == y.npartitions + 1
    for key, task in tasks.items():
        if isinstance(key, tuple):
            block = key[1:]
            read = {d[1:] for d in task.dependencies if isinstance(d, tuple)}
            assert block in read and {d[0] for d in task.dependencies if isinstance(d, tuple)} \
                == {x.name}
            assert all(max(abs(i - j) for i, j in zip(r, block)) <= 1 for r in read)


def test_chains_that_read_far_away_run_step_by_step(threads):
    """``x[:16] + x[16:]`` in blocks of 2 would read blocks 16 elements away in every task:
    more than ``REGION_GROWTH`` blocks' worth, so it runs step by step (same result)."""
    x = RNG.standard_normal((32, 3))
    program = linop.trace(lambda v: np.concatenate([v[:16] + v[16:], v[16:]]) * 2, x)
    y = program(da.from_array(x, chunks=(2, 3)))
    assert 16 * 2 > REGION_GROWTH * 2
    assert not any(isinstance(k, tuple) and k[0].startswith("linop-region")
                   for k in dict(y.__dask_graph__()))
    np.testing.assert_allclose(y.compute(), program(x), rtol=1e-14)


class LiveBytes(Callback):
    """The most bytes of task results held at once during a computation (the blocks of
    ``skip`` arrays, persisted inputs, and broadcast views such as Dask's zeros left out)."""

    def __init__(self, skip):
        super().__init__()
        self.skip, self.peak = skip, 0

    def _posttask(self, key, result, dsk, state, worker_id):
        held = sum(_bytes(v) for k, v in state["cache"].items()
                   if not (isinstance(k, tuple) and k[0] in self.skip))
        self.peak = max(self.peak, held)


def _bytes(value) -> int:
    """The bytes of an array (0 for a broadcast view), or of the arrays in a tuple."""
    if isinstance(value, tuple):
        return sum(_bytes(v) for v in value)
    return getattr(value, "nbytes", 0) if 0 not in getattr(value, "strides", (1,)) else 0


def _held_while_reduced(n, apply):
    """The peak bytes held while ``A x`` (an ``n³`` stencil in 8³ blocks) is reduced to a number,
    in blocks, on the synchronous scheduler (Dask's execution order, deterministic)."""
    A = linop.aslinearoperator(laplacian_7point, np.zeros((n, n, n)))
    x = da.from_array(RNG.standard_normal((n, n, n)), chunks=8).persist(scheduler="sync")
    with LiveBytes({x.name}) as watch:
        getattr(A, apply)(x).sum().compute(scheduler="sync")
    return watch.peak / (8 ** 3 * 8)


@pytest.mark.parametrize("apply", ["apply", "apply_adjoint"])
def test_memory_held_by_a_stencil_does_not_grow_with_the_volume(monkeypatch, apply):
    """At 16³ and 32³ (8 and 64 blocks) the stencil's tasks hold at most a block between
    them. Step by step (each slice update a Dask operation and a rechunk), Dask's execution
    order keeps intermediates of many steps alive: their bytes grow with the volume."""
    held = [_held_while_reduced(n, apply) for n in (16, 32)]
    assert max(held) <= 1, held
    from linop.dask_exec import DaskBackend

    monkeypatch.setattr(DaskBackend, "steps", lambda self, program: program.eqns)
    step_by_step = [_held_while_reduced(n, apply) for n in (16, 32)]
    assert step_by_step[1] > 3 * step_by_step[0] > 3 * 8, step_by_step


@pytest.fixture(scope="module")
def cluster():
    """A ``distributed`` cluster of 2 workers of one thread each (in this process)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        yield cluster


def _cut_stencil(monkeypatch):
    """The stencil on 24³ in blocks of 8³ (27 blocks), ``REGION_CUT_BYTES`` lowered to their
    size (blocks under it are fetched whole)."""
    monkeypatch.setattr(linop.dask_exec, "REGION_CUT_BYTES", 8 ** 3 * 8)
    return linop.aslinearoperator(laplacian_7point, np.zeros((24, 24, 24))), 24, 8


def test_on_a_cluster_blocks_read_their_neighbours_edges_not_their_blocks(cluster, monkeypatch):
    """Under a ``distributed`` client with 2 workers, a stencil block's task reads its own
    block of ``x`` handed on by a task of its own and, of each neighbour, the slabs next to
    it, cut out by one task per neighbour where that block lives (one plane of each side for
    the 7-point stencil); no block task reads a block of ``x`` itself. A block of ``x``
    fetched by another worker would stay there as a replica of ``x`` for as long as ``x``
    is kept: each worker would end up holding about all of ``x``."""
    A, n, b = _cut_stencil(monkeypatch)
    values = RNG.standard_normal((n, n, n))
    x = da.from_array(values, chunks=b).persist()
    for direction in ("apply", "apply_adjoint"):
        y = getattr(A, direction)(x)
        tasks = _own_tasks(y, x)
        blocks = {k: t for k, t in tasks.items() if isinstance(k, tuple) and k[0] == y.name}
        edges = {k: t for k, t in tasks.items() if isinstance(k, tuple) and k[0].endswith("-edges")}
        own = {k: t for k, t in tasks.items() if isinstance(k, tuple) and k[0].endswith("-own")}
        assert len(blocks) == y.npartitions and len(edges) == len(own) == x.npartitions
        assert len(tasks) == len(blocks) + len(edges) + len(own) + 1  # and the program's key
        for key, task in blocks.items():
            read = {d for d in task.dependencies if isinstance(d, tuple)}
            assert read & set(own) == {(y.name + "-own", 0) + key[1:]}  # input 0, this block
            assert read - set(own) <= set(edges) and len(read - set(own)) <= 26
        for key, task in own.items():
            assert task.dependencies == {(x.name,) + key[2:]}
        for key, task in edges.items():
            (source,) = task.dependencies
            slabs = task({source: values[tuple(slice(b * i, b * i + b) for i in source[1:])]})
            assert sum(s.size for s in slabs) <= 6 * b * b, [s.shape for s in slabs]
        expected = getattr(A, direction)(values)
        np.testing.assert_allclose(y.compute(), expected, rtol=1e-13, atol=1e-12)


def _busy_workers(scheduler, name):
    """A scheduler plugin whose ``peak`` is the most tasks of layer ``name`` being processed
    by one worker at once (assigned to it: running or waiting for their inputs)."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class BusyWorkers(SchedulerPlugin):
        def __init__(self):
            self.now, self.peak = {}, 0

        def transition(self, key, start, finish, *args, **kwargs):
            if not (isinstance(key, tuple) and key[0] == name):
                return
            if finish == "processing":
                self.now[key] = scheduler.tasks[key].processing_on.address
                self.peak = max(self.peak, list(self.now.values()).count(self.now[key]))
            elif start == "processing":
                self.now.pop(key, None)

    return BusyWorkers()


def test_on_a_cluster_block_tasks_are_handed_out_as_workers_free_up(cluster, monkeypatch):
    """The block tasks of a stencil are queued on the scheduler and handed to a worker as it
    frees up (``distributed``'s queuing, ``worker-saturation``: 2 at a time for a worker of one
    thread), so that what a worker holds (the slabs and blocks its tasks fetch) is that of a
    few blocks whatever the volume. Handed out all at once (27 blocks on 2 workers), a
    worker fetched the slabs of all of its share ahead of running them."""
    distributed = pytest.importorskip("distributed")
    A, n, b = _cut_stencil(monkeypatch)
    values = RNG.standard_normal((n, n, n))
    x = da.from_array(values, chunks=b).persist()
    for direction in ("apply", "apply_adjoint"):
        y = getattr(A, direction)(x)
        watch = _busy_workers(cluster.scheduler, y.name)
        cluster.scheduler.add_plugin(watch, name="busy-workers")
        try:
            z = y.persist()
            distributed.wait(z)
        finally:
            cluster.scheduler.remove_plugin("busy-workers")
        assert 1 <= watch.peak <= 2, watch.peak
        np.testing.assert_allclose(z.compute(), getattr(A, direction)(values), rtol=1e-13,
                                   atol=1e-12)
