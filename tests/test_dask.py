"""Programs and operators on Dask arrays: lazy results equal to NumPy's, on threads and a cluster."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import harness
from models import laplacian_7point
import linop
from linop.pytree import tree_flatten, tree_unflatten

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

#: The table's sweep subset (every case with LINOP_TEST_SWEEP=all; see harness.sweep_cases).
TABLE = [(name, case) for _, name, case in harness.sweep_cases()]


def _dtype_of(case):
    """One dtype per case: complex128 where the case takes it (it exercises the most rules)."""
    names = [np.dtype(d) for d in case.dtypes]
    return np.dtype(np.complex128) if np.dtype(np.complex128) in names else names[-1]


def _chunked(tree):
    """Every array leaf of ``tree`` as a Dask array cut in halves along each axis."""
    leaves, treedef = tree_flatten(tree)
    return tree_unflatten(treedef, [
        da.from_array(x, chunks=tuple(max(1, (d + 1) // 2) for d in x.shape))
        if isinstance(x, np.ndarray) else x for x in leaves])


def _computed(tree):
    leaves, treedef = tree_flatten(tree)
    return tree_unflatten(treedef, list(dask.compute(*leaves)))


def _assert_lazy(tree):
    for leaf in tree_flatten(tree)[0]:
        assert isinstance(leaf, da.Array), f"expected a lazy Dask array, got {type(leaf)}"


def _forward_and_adjoint(case, dtype):
    """Forward and transposed programs on chunked inputs against the same programs on NumPy."""
    primals = case.primals(dtype)
    program = linop.trace(case.fun, *primals)
    args = harness.random_args(primals, seed=3)
    dtypes = [l.dtype for l in tree_flatten(primals)[0]] + [a.dtype for a in program.out_avals]
    rtol = max(10 * linop.testing.tolerance_for(dtypes), 1e-11)
    got = program(*_chunked(args))
    _assert_lazy(got)
    harness.assert_tree_close(_computed(got), program(*args), rtol)
    transposed = linop.transpose(program)
    cts = harness.random_args(tuple(linop.ShapeDtype(a.shape, a.dtype) for a in program.out_avals),
                              seed=4)
    cts = tree_unflatten(program.out_tree, list(cts))
    got = transposed(*_chunked((cts,)))
    _assert_lazy(got)
    harness.assert_tree_close(_computed(got), transposed(cts), rtol)


@pytest.fixture(scope="module")
def threads():
    with dask.config.set(scheduler="threads"):
        yield


@pytest.mark.parametrize("name,case", TABLE, ids=[n for n, _ in TABLE])
def test_table_program_on_threads(threads, name, case):
    _forward_and_adjoint(case, _dtype_of(case))


# -- operators -------------------------------------------------------------------------------
RNG = np.random.default_rng(0)
KERNEL = np.fft.rfftn(RNG.standard_normal((8, 12, 10)))


def blur(x):
    """A 3-D FFT blur (every axis is cut into blocks)."""
    return np.fft.irfftn(np.fft.rfftn(x) * KERNEL, s=x.shape, axes=(0, 1, 2))


SAMPLES = RNG.integers(0, 8 * 12 * 10, (7, 50))
ROWS = np.array([3, 0, 7, 3, 5, 1, 7])


def sampled(x):
    """A scattered sampling and repeated rows (gathers; the adjoint is a scatter-add)."""
    return x.reshape(-1)[SAMPLES] + x[ROWS].sum(axis=(1, 2))[:, None]


OPERATORS = [blur, laplacian_7point, sampled]


@pytest.mark.parametrize("fun", OPERATORS, ids=lambda f: f.__name__)
def test_operator_on_chunks(threads, fun):
    x = RNG.standard_normal((8, 12, 10))
    A = linop.aslinearoperator(fun, x)
    xd = da.from_array(x, chunks=(4, 6, 5))
    y = A.apply(xd)
    assert isinstance(y, da.Array)
    np.testing.assert_allclose(y.compute(), fun(x), rtol=1e-12, atol=1e-12)
    w = RNG.standard_normal(y.shape)
    back = A.apply_adjoint(da.from_array(w, chunks=tuple(max(1, n // 2) for n in w.shape)))
    assert isinstance(back, da.Array)
    np.testing.assert_allclose(back.compute(), A.apply_adjoint(w), rtol=1e-12, atol=1e-12)
    v = RNG.standard_normal(A.shape[1])
    for method, vec in [(A.matvec, v), (A.rmatvec, RNG.standard_normal(A.shape[0]))]:
        got = method(da.from_array(vec, chunks=vec.size // 3 + 1))
        assert isinstance(got, da.Array)
        np.testing.assert_allclose(got.compute(), method(vec), rtol=1e-12, atol=1e-12)


PHASES = RNG.standard_normal((6, 4)) + 1j * RNG.standard_normal((6, 4))

#: (name, function, example arguments, aslinearoperator's keywords): pytrees, complex maps,
#: real input leaves of a complex map, real coordinates, a float32 map.
PYTREE_OPERATORS = [
    ("complex", lambda x: PHASES * x, (np.zeros((6, 4), complex),), {}),
    ("real-to-complex", lambda x: PHASES * x, (np.zeros((6, 4)),), {}),
    ("two-leaves-to-dict", lambda a, b: {"u": a[:3] + b[1:4], "v": (2 * a).sum(0)},
     (np.zeros((4, 4)), np.zeros((5, 4), np.float32)), {}),
    ("real-and-complex-leaves", lambda a, b: a * PHASES[:, 0] + b,
     (np.zeros(6), np.zeros(6, complex)), {}),
    ("real-coords", lambda x: np.real(x) * 2 + np.conj(x), (np.zeros((6, 4), complex),),
     {"real_coords": True}),
    ("real-coords-two-leaves", lambda x, y: (np.imag(x) + y, x),
     (np.zeros(5, complex), np.zeros(5)), {"real_coords": True}),
    ("float32", lambda x: x[1:] * 3 - x[:-1], (np.zeros((7, 3), np.float32),), {}),
]


def _complexified(tree, seed):
    """``tree`` plus ``1j`` times random leaves of its shapes (complex leaves of its precision)."""
    leaves, treedef = tree_flatten(tree)
    rng = np.random.default_rng(seed)
    return tree_unflatten(treedef, [
        (x + 1j * rng.standard_normal(x.shape)).astype(np.result_type(x.dtype, np.complex64))
        for x in leaves])


@pytest.mark.parametrize("name,fun,primals,options", PYTREE_OPERATORS,
                         ids=[row[0] for row in PYTREE_OPERATORS])
def test_shaped_applications_of_pytrees_equal_numpy(threads, name, fun, primals, options):
    """``A.apply_adjoint``, ``A.H.apply`` and ``A.H.apply_adjoint`` on Dask pytrees (run leaf by
    leaf, not through the flat vector) give NumPy's leaves and dtypes, real or complex, of the
    map's precision or higher."""
    A = linop.aslinearoperator(fun, *primals, **options)
    outputs = harness.random_args(A.apply(*primals), seed=1)
    inputs = harness.random_args(primals if len(primals) > 1 else primals[0], seed=2)
    calls = [(A.apply_adjoint, outputs), (A.H.apply, outputs), (A.H.apply_adjoint, inputs)]
    if name == "float32":
        calls.append((A.apply_adjoint, outputs.astype(np.float64)))
    rtol = 1e-6 if name == "float32" else 1e-13
    for apply, arg in calls:
        for value in (arg, _complexified(arg, 3)):
            got = apply(_chunked(value))
            _assert_lazy(got)
            harness.assert_tree_close(_computed(got), apply(value), rtol)


@pytest.mark.parametrize("fun", OPERATORS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_dot_test_on_dask(threads, fun, dtype):
    x = RNG.standard_normal((8, 12, 10))
    A = linop.aslinearoperator(fun, x)
    rng = np.random.default_rng(5)
    u, v = (rng.standard_normal(n) + (1j * rng.standard_normal(n) if dtype is np.complex128 else 0)
            for n in A.shape[::-1])
    ud, vd = da.from_array(u, chunks=400), da.from_array(v, chunks=400)
    lhs = da.vdot(A.matvec(ud), vd).compute()
    rhs = da.vdot(ud, A.rmatvec(vd)).compute()
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


def test_fft_rechunks_only_the_transformed_axis(threads):
    def along_one(x):
        return np.fft.fft(x, axis=1)

    x = RNG.standard_normal((8, 12, 10)) + 0j
    y = linop.trace(along_one, x)(da.from_array(x, chunks=(4, 4, 5)))
    assert y.chunks[0] == (4, 4) and y.chunks[2] == (5, 5)
    np.testing.assert_allclose(y.compute(), along_one(x), rtol=1e-13, atol=1e-13)


def test_constants_are_one_key_per_block(threads):
    c = RNG.standard_normal((64, 64))

    def scale(x):
        return x * c

    program = linop.trace(scale, c)
    x = da.from_array(RNG.standard_normal((64, 64)), chunks=16)
    first, second = program(x), program(x)
    const_keys = [k for k in dict(first.__dask_graph__()) if "linop-const" in str(k)]
    assert len(const_keys) == 16  # one per block
    assert set(const_keys) <= set(dict(second.__dask_graph__()))  # the same keys: made once
    np.testing.assert_array_equal(second.compute(), x.compute() * c)


def test_programs_pickle_with_their_constants():
    program = linop.trace(blur, np.zeros((8, 12, 10)))
    again = pickle.loads(pickle.dumps(program))
    x = RNG.standard_normal((8, 12, 10))
    np.testing.assert_array_equal(again(x), program(x))


def test_mixing_numpy_inputs_into_a_dask_call(threads):
    def both(x, y):
        return x + 2 * y

    x, y = RNG.standard_normal(6), RNG.standard_normal(6)
    out = linop.trace(both, x, y)(da.from_array(x, chunks=3), y)
    assert isinstance(out, da.Array)
    np.testing.assert_allclose(out.compute(), x + 2 * y)


def test_wrong_shape_is_a_clear_error(threads):
    program = linop.trace(blur, np.zeros((8, 12, 10)))
    with pytest.raises(ValueError, match=r"must have shape \(8, 12, 10\)"):
        program(da.zeros((8, 12, 11)))
    with pytest.raises(TypeError, match="does not cast"):
        linop.trace(lambda x: 2 * x, np.zeros(3))(da.zeros(3, dtype=complex))


def test_generic_array_api_backend_runs_the_rules():
    """The namespace-generic rules, run through array-api-compat's NumPy namespace."""
    compat = pytest.importorskip("array_api_compat.numpy")
    from linop.namespace import Backend, run_on_backend

    backend = Backend(compat)
    for fun in [laplacian_7point, sampled]:
        x = RNG.standard_normal((8, 12, 10))
        program = linop.trace(fun, x)
        for p, arg in [(program, x), (linop.transpose(program), RNG.standard_normal(
                program.out_avals[0].shape))]:
            got = run_on_backend(p, [arg], backend)[0]
            np.testing.assert_allclose(np.asarray(got), p.call_flat([arg])[0], rtol=1e-12,
                                       atol=1e-12)


# -- on a cluster -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


CLUSTER_CASES = TABLE[::max(1, len(TABLE) // 24)]


@pytest.mark.parametrize("name,case", CLUSTER_CASES, ids=[n for n, _ in CLUSTER_CASES])
def test_table_program_on_cluster(client, name, case):
    _forward_and_adjoint(case, _dtype_of(case))


def test_pickled_program_runs_on_workers(client):
    program = linop.trace(laplacian_7point, np.zeros((8, 12, 10)))
    xs = [RNG.standard_normal((8, 12, 10)) for _ in range(3)]
    futures = client.map(program, xs)  # the program travels to the workers pickled
    for x, y in zip(xs, client.gather(futures)):
        np.testing.assert_array_equal(y, program(x))


def test_constants_persist_on_the_cluster(client):
    program = linop.trace(blur, np.zeros((8, 12, 10)))
    x = da.from_array(RNG.standard_normal((8, 12, 10)), chunks=(4, 6, 5))

    def constant_keys(y):
        return {k for k in dict(y.__dask_graph__()) if "linop-const" in str(k)}

    first = program(x)
    np.testing.assert_allclose(first.compute(), blur(x.compute()), rtol=1e-12, atol=1e-12)
    on_workers = {k for keys in client.has_what().values() for k in keys}
    assert constant_keys(first) and constant_keys(first) <= on_workers  # the kernel lives there
    second = program(x)
    assert constant_keys(second) == constant_keys(first)  # the second call ships nothing new
    np.testing.assert_allclose(second.compute(), blur(x.compute()), rtol=1e-12, atol=1e-12)


def _deconvolution_problem():
    x = np.zeros((8, 12, 10))
    x[2:6, 3:9, 2:8] = 1.0
    A = linop.aslinearoperator(blur, np.zeros((8, 12, 10)))
    return A, A.matvec(x.ravel())


def test_deconvolution_solved_on_the_cluster_equals_numpy(client):
    from linop import solvers

    A, b = _deconvolution_problem()
    want = solvers.cgls(A, b, damp=1e-2, iter_lim=5)
    got = solvers.cgls(A, da.from_array(b, chunks=480), damp=1e-2, iter_lim=5)
    assert isinstance(got[0], da.Array)
    np.testing.assert_allclose(got[0].compute(), want[0], rtol=1e-9, atol=1e-12)
    assert got[1:3] == want[1:3]


def test_worker_lost_mid_solve_gives_the_right_answer_or_an_error():
    """A worker closed during the solve: Dask recomputes its blocks from their recipes (the
    result then equals NumPy's) or reports the loss; never a silently wrong answer."""
    distributed = pytest.importorskip("distributed")
    from linop import solvers

    A, b = _deconvolution_problem()
    want = solvers.cgls(A, b, iter_lim=4)[0]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        victim = next(iter(cluster.workers.values()))

        def kill_at_two(x, count=[0]):
            count[0] += 1
            if count[0] == 2:
                cluster.sync(victim.close)

        try:
            got = solvers.cgls(A, da.from_array(b, chunks=480), iter_lim=4,
                               callback=kill_at_two)[0].compute()
        except Exception as error:  # the loss reported: acceptable, never a wrong answer
            assert "worker" in str(error).lower() or isinstance(error, distributed.CancelledError)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        assert len(c.scheduler_info()["workers"]) == 1  # the worker really went away


def test_matmul_operator_on_a_dask_vector_stays_lazy(threads):
    x = RNG.standard_normal((8, 12, 10))
    A = linop.aslinearoperator(laplacian_7point, x)
    v = da.from_array(x.ravel(), chunks=480)
    y = A @ v
    assert isinstance(y, da.Array)
    np.testing.assert_allclose(y.compute(), A @ x.ravel(), rtol=1e-13)
    np.testing.assert_allclose((A.H @ v).compute(), A.H @ x.ravel(), rtol=1e-13)


@pytest.mark.parametrize("fun", OPERATORS, ids=lambda f: f.__name__)
def test_no_step_gathers_the_whole_array(threads, monkeypatch, fun):
    from linop.dask_exec import dask_backend

    def refuse(prim, *args):
        raise AssertionError(f"{prim.name} gathered its input into one block")

    monkeypatch.setattr(dask_backend(), "whole", refuse)
    x = RNG.standard_normal((8, 12, 10))
    program = linop.trace(fun, x)
    y = program(da.from_array(x, chunks=(4, 6, 5)))
    back = linop.transpose(program)(da.from_array(np.ones(y.shape), chunks=y.chunksize))[0]
    for out in (y, back):
        assert out.npartitions > 1
    np.testing.assert_allclose(y.compute(), fun(x), rtol=1e-12, atol=1e-12)
