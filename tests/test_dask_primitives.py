"""Primitives with chunk-aware Dask rules: equal to NumPy on chunked inputs, blocks kept split.

For each program: the forward and the adjoint on chunked Dask inputs equal the NumPy runs;
no step falls back to the whole-array task (``DaskBackend.whole`` refused); the axes that
are not transformed keep several blocks; and no task of the computation produces a result
as large as the whole array. Under a ``distributed`` client the constants are persisted on
the workers once, never carried by a task, and survive the loss of a worker.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import linop
from models import laplacian_7point
from linop.primitives.convolve import convolve
from linop.primitives.convolve_nd import convolve_nd
from linop.primitives.linear_operator import linear_operator
from linop.scipy import fft as lfft
from linop.scipy import linalg as lsla
from linop.scipy import ndimage as lnd
from linop.scipy import signal as lsig

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
from dask.callbacks import Callback  # noqa: E402  (after the importorskip)

RNG = np.random.default_rng(8)
K3 = RNG.standard_normal((3, 4, 3))
K_WIDE = RNG.standard_normal((5, 1, 7))
SQUARE = RNG.standard_normal((12, 12)) + 12 * np.eye(12)
STACK = RNG.standard_normal((4, 12, 12)) + 12 * np.eye(12)
FOREIGN = spla.aslinearoperator(RNG.standard_normal((9, 12)))


class Row:
    """A program on a ``shape`` input cut into ``chunks``; ``split``: output axes that must
    keep more than one block (those not transformed whole)."""

    def __init__(self, name, fun, shape, chunks, split, dtype=np.float64):
        self.name, self.fun, self.shape, self.chunks = name, fun, shape, chunks
        self.split, self.dtype = split, dtype


ROWS = [
    # signal.convolve: the full convolution (a slice of it for "valid"); ndimage: a valid
    # correlation of the input extended by its boundary mode
    Row("convolve_nd-full-direct", lambda x: lsig.convolve(x, K3, "full", "direct"),
        (24, 32, 20), (8, 16, 10), (0, 1, 2)),
    Row("convolve_nd-valid-direct", lambda x: lsig.convolve(x, K3, "valid", "direct"),
        (24, 32, 20), (8, 16, 10), (0, 1, 2)),
    Row("convolve_nd-full-fft", lambda x: lsig.convolve(x, K_WIDE, "full", "fft"),
        (24, 16, 28), (8, 8, 7), (0, 1, 2)),
    Row("convolve_nd-full-auto-short-blocks", lambda x: lsig.convolve(x, K_WIDE, "full", "auto"),
        (24, 16, 28), (3, 8, 4), (0, 1, 2)),  # blocks shorter than the kernel get merged
    Row("ndimage-convolve-reflect", lambda x: lnd.convolve(x, K3, mode="reflect"),
        (24, 32, 20), (8, 16, 10), (0, 1, 2)),
    Row("ndimage-correlate-wrap", lambda x: lnd.correlate(x, K3, mode="wrap"),
        (24, 32, 20), (8, 16, 10), (0, 1, 2)),
    Row("dctn-axis1", lambda x: lfft.dctn(x, axes=(1,)), (12, 16, 10), (4, 8, 5), (0, 2)),
    Row("dctn-all-ortho", lambda x: lfft.dctn(x, type=3, norm="ortho"),
        (12, 16, 10), (4, 8, 5), (0, 1, 2)),  # one axis at a time: the others stay split
    Row("idstn-type1-axes02", lambda x: lfft.idstn(x, type=1, axes=(0, 2)), (12, 16, 10),
        (4, 8, 5), (1,)),
    Row("dct-complex", lambda x: lfft.dct(x, type=4, axis=0), (12, 16, 10), (4, 8, 5), (1, 2),
        np.complex128),
    Row("lu_solve", lambda x: np.linalg.solve(SQUARE, x), (12, 30), (4, 10), (1,)),
    Row("lu_solve-stack", lambda x: np.linalg.solve(STACK, x), (4, 12, 30), (2, 4, 10), (2,)),
    Row("foreign-operator", lambda x: linear_operator(x, FOREIGN, "A", axis=1), (10, 12, 8),
        (5, 4, 4), (0, 2)),
    Row("spline_filter1d", lambda x: lnd.spline_filter1d(x, 3, axis=1), (12, 16, 10), (4, 8, 5),
        (0, 2)),
]


class LargestResult(Callback):
    """The largest array any task of a computation returned (in bytes)."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        if 0 in getattr(result, "strides", ()):  # a broadcast view (Dask's zeros): no memory
            return
        self.largest = max(self.largest, getattr(result, "nbytes", 0))


@pytest.fixture
def threads_no_whole(monkeypatch):
    from linop.dask_exec import dask_backend

    def refuse(prim, *args):
        raise AssertionError(f"{prim.name} gathered its input into one block")

    monkeypatch.setattr(dask_backend(), "whole", refuse)
    with dask.config.set(scheduler="threads"):
        yield


def _random(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    return x + 1j * rng.standard_normal(shape) if dtype == np.complex128 else x


def _run_blocked(program, x, chunks):
    """``program`` on ``x`` cut into ``chunks``: the lazy result, its value, and the largest
    result of a task while its blocks were computed (persisted: no final concatenation)."""
    y = program(da.from_array(x, chunks=chunks))
    y = y[0] if isinstance(y, tuple) else y  # a transposed program: one result per input
    with LargestResult() as watch:
        blocks = y.persist()
    return y, blocks.compute(), watch.largest


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_chunked_rule_equals_numpy_and_keeps_blocks(threads_no_whole, row):
    x = _random(row.shape, row.dtype, 1)
    program = linop.trace(row.fun, x)
    want = program(x)
    y, got, largest = _run_blocked(program, x, row.chunks)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)
    for axis in row.split:
        assert len(y.chunks[axis]) > 1, f"axis {axis} was gathered into one block: {y.chunks}"
    assert largest < max(x.nbytes, want.nbytes) / 2  # no task held the whole array

    transposed = linop.transpose(program)
    ct = _random(want.shape, want.dtype, 2)
    out_chunks = tuple(max(1, min(c, n // 2)) for c, n in zip(row.chunks, want.shape))
    (back,) = transposed(da.from_array(ct, chunks=out_chunks))
    (back_want,) = transposed(ct)
    np.testing.assert_allclose(back.compute(), back_want, rtol=1e-11, atol=1e-11)
    for axis in row.split:
        assert len(back.chunks[axis]) > 1, f"adjoint: axis {axis} in one block: {back.chunks}"


def test_convolution_blocks_read_only_their_neighbours_edges(threads_no_whole):
    """The convolution's tasks hold a block and a halo: none is much larger than a block."""
    x = _random((32, 32, 32), np.float64, 3)
    program = linop.trace(lambda v: convolve_nd(v, K3, "valid", "direct"), x)
    _, got, largest = _run_blocked(program, x, (8, 8, 8))
    np.testing.assert_allclose(got, program(x), rtol=1e-12, atol=1e-12)
    block = 8 ** 3 * 8
    assert largest <= block * (11 / 8) * (12 / 8) * (11 / 8)  # a block and its halos


def test_custom_linear_falls_back_to_one_block():
    """``custom_linear`` functions stay whole-array tasks on Dask (documented): correct, one block."""
    @linop.custom_linear
    def double(v):
        return 2 * v

    double.def_transpose(lambda ct: 2 * ct)

    x = _random((8, 6), np.float64, 4)
    with dask.config.set(scheduler="threads"):
        y = linop.trace(lambda v: double(v) + v, x)(da.from_array(x, chunks=(4, 3)))
        np.testing.assert_allclose(y.compute(), 3 * x)


class _SlottedOperator:
    """A foreign operator without weak references (``__slots__``): its key is not cached."""

    __slots__ = ("matrix",)

    def __init__(self, matrix):
        self.matrix = matrix

    shape = property(lambda self: self.matrix.shape)
    dtype = property(lambda self: self.matrix.dtype)

    def matvec(self, v):
        return self.matrix @ v

    def rmatvec(self, v):
        return self.matrix.T @ v

    def matmat(self, X):
        return self.matrix @ X

    def rmatmat(self, X):
        return self.matrix.T @ X


def test_foreign_operator_without_weak_references_runs_on_dask():
    """The constant cache follows a constant's lifetime with a weak reference; an operator
    that has none is shipped again at each call rather than refused."""
    op = _SlottedOperator(RNG.standard_normal((9, 12)))
    program = linop.trace(lambda v: linear_operator(v, op, "A", axis=1), np.zeros((10, 12, 8)))
    x = _random((10, 12, 8), np.float64, 5)
    with dask.config.set(scheduler="threads"):
        for _ in range(2):
            y = program(da.from_array(x, chunks=(5, 4, 4)))
            np.testing.assert_allclose(y.compute(), np.einsum("ij,ajb->aib", op.matrix, x),
                                       rtol=1e-12, atol=1e-12)


TRANSFER = np.exp(-np.add.outer(np.add.outer(np.arange(32.0), np.arange(32.0)), np.arange(17.0)))


def _blur(x):
    return np.fft.irfftn(np.fft.rfftn(x) * TRANSFER, s=x.shape, axes=(0, 1, 2))


@pytest.mark.parametrize("fun", [laplacian_7point, _blur], ids=["stencil", "fft-blur"])
def test_no_task_holds_more_than_a_few_blocks(threads_no_whole, fun):
    """Forward and adjoint of a 32³ volume in 8³ blocks: the zeros the adjoint of a slice starts
    from are blocked like the data, and the rechunks between slabs and pencils (FFTs) hold no
    piece larger than a block (Dask's default would gather this volume into one task)."""
    x = _random((32, 32, 32), np.float64, 5)
    program = linop.trace(fun, x)
    for p, arg in [(program, x), (linop.transpose(program), _random((32, 32, 32), np.float64, 6))]:
        _, got, largest = _run_blocked(p, arg, (8, 8, 8))
        want = p(arg)
        np.testing.assert_allclose(got, want[0] if isinstance(want, tuple) else want,
                                   rtol=1e-12, atol=1e-12)
        block = 8 ** 3 * 16  # complex for the spectra
        assert largest <= 2 * block, f"a task held {largest} bytes (a block: {block})"


@pytest.mark.parametrize("fun", [laplacian_7point, _blur], ids=["stencil", "fft-blur"])
def test_operator_applications_run_on_the_volume_in_its_blocks(threads_no_whole, fun):
    """``A.apply``, ``A.apply_adjoint`` and those of ``A.H`` on a volume cut in cubes run the
    programs on the volume itself: lazy results blocked like it, equal to NumPy's, no task
    holding more than two blocks (ravelling the volume to the flat vector would merge the
    16 blocks of each slab of whole planes into one)."""
    A = linop.aslinearoperator(fun, np.zeros((32, 32, 32)))
    x = _random((32, 32, 32), np.float64, 7)
    transposed = linop.transpose(A.program)  # a real map: its adjoint is its transpose
    for apply, oracle in [(A.apply, fun), (A.apply_adjoint, lambda v: transposed(v)[0]),
                          (A.H.apply, lambda v: transposed(v)[0]), (A.H.apply_adjoint, fun)]:
        y, got, largest = _run_blocked(apply, x, (8, 8, 8))
        assert isinstance(y, da.Array) and y.chunks == ((8,) * 4,) * 3
        want = apply(x)
        assert type(want) is np.ndarray and want.dtype == np.float64
        np.testing.assert_allclose(want, oracle(x), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        block = 8 ** 3 * 16  # complex for the spectra
        assert largest <= 2 * block, f"a task held {largest} bytes (a block: {block})"


SCALE = RNG.standard_normal((128, 128))  # 128 KiB each: over the lowered warning threshold
MATRIX = RNG.standard_normal((128, 128)) + 128 * np.eye(128)
TRIANGLE = np.tril(MATRIX)
FOREIGN_SQUARE = spla.aslinearoperator(RNG.standard_normal((128, 128)))
LONG_KERNEL = RNG.standard_normal(512)  # 4 KiB: the smallest constant of the program
SMALLEST = LONG_KERNEL.nbytes


def _with_constants(v):
    """A factor cut into blocks like the data, an LU solve, a triangular solve, a foreign
    operator and a convolution: each step's constant must reach the workers once (the
    columns stay in blocks: no step but the last, along rows, rechunks)."""
    y = np.linalg.solve(MATRIX, v * SCALE)
    y = lsla.solve_triangular(TRIANGLE, y, lower=True)
    y = linear_operator(y, FOREIGN_SQUARE, "A", axis=0)
    return convolve(y.T, LONG_KERNEL, "full")


def _largest_entry(y):
    """The pickled size of the largest entry of ``y``'s graph (the constants persisted on
    the cluster are referred to by key: their bytes are not in it)."""
    return max(len(pickle.dumps(task)) for task in dict(y.__dask_graph__()).values())


def test_constants_are_sent_once_and_recomputed_after_a_worker_loss():
    """Under a ``distributed`` client the captured constants (a factor cut into blocks like
    the data; LU factors, a triangular matrix, a foreign operator and a kernel as one key
    each) are persisted on the cluster at the first call, without ``distributed``'s warning
    of large graphs (lowered here below their size) for them; no task of a call carries
    them (every entry of the graphs pickles to less than the smallest constant), later calls
    refer to the same keys, and a worker lost with some of them leaves them to be computed
    again: the next call still equals NumPy."""
    distributed = pytest.importorskip("distributed")
    import warnings

    program = linop.trace(_with_constants, np.zeros(SCALE.shape))
    values = _random(SCALE.shape, np.float64, 9)
    want = program(values)

    def run(x):
        with warnings.catch_warnings(record=True) as caught, \
                dask.config.set({"distributed.admin.large-graph-warning-threshold": "100kB"}):
            warnings.simplefilter("always")
            y = program(x)
            got = y.compute()
        assert not [w for w in caught if "large graph" in str(w.message)]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert _largest_entry(y) < SMALLEST
        return {k for k in dict(y.__dask_graph__()) if "linop-const" in str(k)}

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        x = da.from_array(values, chunks=(128, 32)).persist()
        keys = [run(x), run(x)]
        assert keys[0] and keys[0] == keys[1]
        # one copy of each constant block, the worker holding most of them closed
        client.replicate([distributed.Future(k, client) for k in keys[0]], n=1)
        held = {w: keys[0] & set(ks) for w, ks in client.has_what().items()}
        victim = max(held, key=lambda w: len(held[w]))
        assert held[victim] and keys[0] <= set().union(*held.values())
        cluster.sync(next(w for w in cluster.workers.values() if w.address == victim).close)
        assert len(client.scheduler_info()["workers"]) == 1
        assert run(x) == keys[0]  # computed again from their recipes, nothing sent anew
