"""linop.solvers: SciPy's iterates on NumPy vectors; Dask vectors stay lazy with bounded graphs."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import linop
from linop import solvers

RNG = np.random.default_rng(11)


def _random(shape, dtype=np.float64):
    dtype = np.dtype(dtype)
    x = RNG.standard_normal(shape) + (1j * RNG.standard_normal(shape) if dtype.kind == "c" else 0)
    return x.astype(dtype)


def _spd(n, dtype=np.float64):
    a = _random((n, n), dtype)
    return (a @ a.conj().T + n * np.eye(n, dtype=dtype)).astype(dtype)


SINGLE = (np.float32, np.complex64)


def _close(dtype):
    """Tolerances of ``assert_allclose`` for iterates equal to rounding in ``dtype``."""
    return dict(rtol=1e-5, atol=1e-6) if dtype in SINGLE else dict(rtol=1e-9, atol=1e-12)


def _ours(M):
    """The operator our solver gets for SciPy's matrix ``M``.

    In double precision a traced one (the solver and linop's products against SciPy's);
    in single precision SciPy's own, so that the solver alone is compared: linop's complex
    products round differently from NumPy's, which single precision can show in ``itn``.
    """
    return M if M.dtype in SINGLE else linop.aslinearoperator(M)


def _iterates(solve, *args, **kwargs):
    seen = []
    out = solve(*args, callback=lambda x: seen.append(np.array(x)), **kwargs)
    return out, seen


CG_SETTINGS = [
    dict(),
    dict(rtol=1e-10),
    dict(maxiter=3),
    dict(atol=1e-3, rtol=0.0),
    dict(x0="random"),
    dict(M="jacobi"),
    dict(M="double jacobi"),  # float64 even for a single precision system: p keeps r's dtype
]


@pytest.mark.parametrize("dtype", [np.float64, complex, np.float32, np.complex64])
@pytest.mark.parametrize("settings", CG_SETTINGS, ids=str)
def test_cg_follows_scipy(settings, dtype):
    n = 30
    A = _spd(n, dtype)
    b = _random(n, dtype)
    kwargs = dict(settings)
    if kwargs.get("x0") == "random":
        kwargs["x0"] = RNG.standard_normal(n).astype(dtype)
    if kwargs.get("M") == "jacobi":
        kwargs["M"] = spla.aslinearoperator(np.diag(1 / np.diag(A)))
    if kwargs.get("M") == "double jacobi":
        kwargs["M"] = spla.aslinearoperator(np.diag(1 / np.diag(A).real.astype(np.float64)))
    (x, info), ours = _iterates(solvers.cg, linop.aslinearoperator(A), b,
                                **{k: (v.copy() if k == "x0" else v) for k, v in kwargs.items()})
    (xs, info_s), theirs = _iterates(spla.cg, A, b, **{k: (v.copy() if k == "x0" else v)
                                                       for k, v in kwargs.items()})
    assert info == info_s and len(ours) == len(theirs)
    for a, c in zip(ours, theirs):
        assert a.dtype == c.dtype
        np.testing.assert_allclose(a, c, **_close(dtype))
    assert x.dtype == xs.dtype
    np.testing.assert_allclose(x, xs, **_close(dtype))


CG_DTYPES = [(np.float16, np.float32), (np.int8, np.float32), (np.float32, np.float64),
             (np.float64, np.float32), (np.float32, np.complex64), (np.float32, np.float32)]


@pytest.mark.parametrize("a_dtype,b_dtype", CG_DTYPES, ids=str)
def test_cg_and_cgls_take_scipys_dtype(a_dtype, b_dtype):
    """SciPy's ``cg`` works in single or double precision, real or complex, whatever else
    ``A`` and ``b`` hold; ``cgls`` takes the same dtype."""
    A, b = (np.round(_spd(8)) / 8).astype(a_dtype), _random(8, b_dtype)
    x, info = solvers.cg(A, b, maxiter=3)
    xs, info_s = spla.cg(A, b, maxiter=3)
    assert info == info_s and x.dtype == xs.dtype
    np.testing.assert_allclose(x, xs, **_close(xs.dtype.type))
    assert solvers.cgls(A, b, iter_lim=3)[0].dtype == xs.dtype


@pytest.mark.parametrize("dtype", SINGLE)
def test_cgls_keeps_the_system_dtype_whatever_the_operator_returns(dtype):
    M, b = _random((20, 8), dtype), _random(20, dtype)
    wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    widening = spla.LinearOperator(M.shape, dtype=dtype, matvec=lambda v: M.astype(wide) @ v,
                                   rmatvec=lambda v: M.conj().T.astype(wide) @ v)
    x, istop, itn, _, _ = solvers.cgls(widening, b, iter_lim=5)
    assert x.dtype == dtype and (istop, itn) == (7, 5)
    np.testing.assert_allclose(x, solvers.cgls(M, b, iter_lim=5)[0], rtol=1e-4, atol=1e-5)


def test_cg_zero_rhs_and_bad_atol():
    A = linop.aslinearoperator(_spd(5))
    x, info = solvers.cg(A, np.zeros(5))
    assert info == 0 and not x.any()
    with pytest.raises(ValueError, match="atol"):
        solvers.cg(A, np.ones(5), atol=-1)


LSQR_SETTINGS = [
    dict(),
    dict(damp=0.5),
    dict(iter_lim=4),
    dict(atol=1e-12, btol=1e-12),
    dict(conlim=10.0),
    dict(calc_var=True),
    dict(x0="random"),
]


LSQR_PROBLEMS = [((40, 25), np.float64), ((20, 30), np.float64), ((30, 20), np.float32),
                 ((24, 16), np.complex64)]


@pytest.mark.parametrize("shape,kind", LSQR_PROBLEMS, ids=str)
@pytest.mark.parametrize("settings", LSQR_SETTINGS, ids=str)
def test_lsqr_follows_scipy(settings, shape, kind):
    M, b = _least_squares_problem(shape, kind)
    kwargs = dict(settings)
    if kwargs.get("x0") == "random":
        kwargs["x0"] = RNG.standard_normal(shape[1]).astype(M.dtype)
    ours = solvers.lsqr(_ours(M), b, **kwargs)
    theirs = spla.lsqr(M, b, **kwargs)
    assert ours[1:3] == theirs[1:3]  # istop, itn
    assert ours[0].dtype == theirs[0].dtype
    close = _close(M.dtype.type)
    np.testing.assert_allclose(ours[0], theirs[0], **close)
    np.testing.assert_allclose(ours[3:9], theirs[3:9], rtol=close["rtol"], atol=1e-10)
    np.testing.assert_allclose(ours[9], theirs[9], **close)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_lsqr_iterates_follow_scipy(k):
    M, b = RNG.standard_normal((30, 12)), RNG.standard_normal(30)
    (x, *_), ours = _iterates(solvers.lsqr, linop.aslinearoperator(M), b, iter_lim=k)
    np.testing.assert_allclose(ours[-1], spla.lsqr(M, b, iter_lim=k)[0], rtol=1e-10)
    assert len(ours) == k


def test_lsqr_zero_rhs():
    out = solvers.lsqr(linop.aslinearoperator(np.eye(3)), np.zeros(3))
    ref = spla.lsqr(np.eye(3), np.zeros(3))
    assert out[1:3] == ref[1:3] and not out[0].any()


LSMR_SETTINGS = [
    dict(),
    dict(damp=0.5),
    dict(maxiter=4),
    dict(atol=1e-12, btol=1e-12),
    dict(atol=1e-2, btol=1e-2),
    dict(conlim=3.0),
    dict(x0="random"),
]
# Single precision: SciPy keeps u and v (and x0's copy) in float32 and x, hbar in float64,
# with float32 scalars in the recurrences: a solver that rounds otherwise stops elsewhere.
LSMR_PROBLEMS = [((40, 25), np.float64), ((20, 30), np.float64), ((40, 20), complex),
                 ((25, 12), "consistent"), ((30, 20), np.float32), ((24, 16), np.complex64)]


# SciPy's lsmr warns when its 1e100 start of minrbar overflows in a float32 comparison (ours
# does not: the comparison's outcome is right).
SCIPY_LSMR_WARNS = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")


def _least_squares_problem(shape, kind):
    dtype = np.float64 if kind == "consistent" else kind
    M, b = _random(shape, dtype), _random(shape[0], dtype)
    if kind == "consistent":  # b in the range of M: the "Ax - b small" test (istop 1) stops it
        b = M @ RNG.standard_normal(shape[1])
    return M, b


@SCIPY_LSMR_WARNS
@pytest.mark.parametrize("shape,kind", LSMR_PROBLEMS, ids=str)
@pytest.mark.parametrize("settings", LSMR_SETTINGS, ids=str)
def test_lsmr_follows_scipy(settings, shape, kind):
    M, b = _least_squares_problem(shape, kind)
    kwargs = dict(settings)
    if kwargs.get("x0") == "random":
        kwargs["x0"] = RNG.standard_normal(shape[1]).astype(M.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = solvers.lsmr(_ours(M), b, **kwargs)
    theirs = spla.lsmr(M, b, **{k: (v.copy() if k == "x0" else v) for k, v in kwargs.items()})
    assert len(ours) == len(theirs) == 8
    assert ours[1:3] == theirs[1:3]  # istop, itn
    assert ours[0].dtype == theirs[0].dtype
    close = _close(M.dtype.type)
    np.testing.assert_allclose(ours[0], theirs[0], **close)
    # normr, normar, normA, condA, normx: O(1) numbers, normar down to ~1e-12 at convergence
    np.testing.assert_allclose(ours[3:], theirs[3:], rtol=close["rtol"], atol=1e-10)


@SCIPY_LSMR_WARNS
def test_lsmr_stop_codes_cover_scipys():
    """Each setting above stops for the reason SciPy gives; together they reach 1, 2, 3 and 7."""
    codes = set()
    for settings in LSMR_SETTINGS:
        for shape, kind in LSMR_PROBLEMS:
            M, b = _least_squares_problem(shape, kind)
            kwargs = {k: v for k, v in settings.items() if k != "x0"}
            istop = solvers.lsmr(M, b, **kwargs)[1]
            assert istop == spla.lsmr(M, b, **kwargs)[1]
            codes.add(istop)
    assert {1, 2, 3, 7} <= codes


@pytest.mark.parametrize("k", [1, 2, 5])
def test_lsmr_iterates_follow_scipy(k):
    M, b = RNG.standard_normal((30, 12)), RNG.standard_normal(30)
    (x, *_), ours = _iterates(solvers.lsmr, linop.aslinearoperator(M), b, maxiter=k)
    assert len(ours) == k
    for i, iterate in enumerate(ours, start=1):
        np.testing.assert_allclose(iterate, spla.lsmr(M, b, maxiter=i)[0], rtol=1e-10)


@pytest.mark.parametrize("x0", [None, "solution"])
def test_lsmr_zero_rhs_and_exact_start(x0):
    M = RNG.standard_normal((6, 4))
    b = np.zeros(6) if x0 is None else M @ np.ones(4)
    start = None if x0 is None else np.ones(4)
    out = solvers.lsmr(M, b, x0=start)
    ref = spla.lsmr(M, b, x0=None if start is None else start.copy())
    assert out[1:3] == ref[1:3] == (0, 0)
    np.testing.assert_array_equal(out[0], ref[0])


def test_lsmr_show_prints_a_log(capsys):
    M, b = RNG.standard_normal((20, 8)), RNG.standard_normal(20)
    seen = []
    solvers.lsmr(M, b, maxiter=3, progress=lambda k, r: seen.append((k, r)))
    assert [k for k, _ in seen] == [1, 2, 3] and all(r > 0 for _, r in seen)
    solvers.lsmr(M, b, maxiter=2, show=True)
    assert capsys.readouterr().out.count("residual") == 2


@pytest.mark.parametrize("damp", [0.0, 0.3])
def test_cgls_solves_the_least_squares_problem(damp):
    M, b = RNG.standard_normal((40, 15)), RNG.standard_normal(40)
    x, istop, itn, rnorm, snorm = solvers.cgls(linop.aslinearoperator(M), b, damp=damp,
                                               rtol=1e-12)
    normal = M.T @ M + damp ** 2 * np.eye(15)
    np.testing.assert_allclose(x, np.linalg.solve(normal, M.T @ b), rtol=1e-8)
    assert istop == 1 and itn <= 30
    assert rnorm == pytest.approx(np.linalg.norm(b - M @ x), rel=1e-8)
    assert snorm <= 1e-12 * np.linalg.norm(M.T @ b)


def test_cgls_stops_at_the_iteration_limit_and_on_zero():
    M, b = RNG.standard_normal((40, 15)), RNG.standard_normal(40)
    assert solvers.cgls(M, b, iter_lim=3)[1:3] == (7, 3)
    assert solvers.cgls(M, np.zeros(40))[1] == 0


def test_progress_log(capsys):
    M, b = RNG.standard_normal((20, 8)), RNG.standard_normal(20)
    seen = []
    solvers.lsqr(M, b, iter_lim=3, progress=lambda k, r: seen.append((k, r)))
    assert [k for k, _ in seen] == [1, 2, 3] and all(r > 0 for _, r in seen)
    solvers.cg(_spd(6), np.ones(6), progress=solvers.print_progress, maxiter=2)
    assert "residual" in capsys.readouterr().out


# -- on Dask ---------------------------------------------------------------------------------
def _stencil(x):
    """An SPD operator: identity plus the negative 7-point Laplacian (zero boundaries)."""
    y = 7 * x
    y[1:] -= x[:-1]
    y[:-1] -= x[1:]
    y[:, 1:] -= x[:, :-1]
    y[:, :-1] -= x[:, 1:]
    y[:, :, 1:] -= x[:, :, :-1]
    y[:, :, :-1] -= x[:, :, 1:]
    return y


@pytest.fixture(scope="module")
def dask_threads():
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="threads"):
        yield pytest.importorskip("dask.array")


SHAPE = (8, 10, 6)


@pytest.mark.parametrize("name", ["cg", "cgls", "lsqr", "lsmr"])
def test_dask_solve_equals_numpy_and_graph_stays_bounded(dask_threads, name):
    da = dask_threads
    A = linop.aslinearoperator(_stencil, np.zeros(SHAPE))
    b = RNG.standard_normal(A.shape[0])
    bd = da.from_array(b, chunks=160)
    solve = getattr(solvers, name)
    graph_sizes = []

    def record(x):
        assert isinstance(x, da.Array)
        graph_sizes.append(len(x.__dask_graph__()))

    kwargs = dict(maxiter=12) if name in ("cg", "lsmr") else dict(iter_lim=12)
    got = solve(A, bd, callback=record, **kwargs)
    want = solve(A, b, **kwargs)
    assert isinstance(got[0], da.Array)
    np.testing.assert_allclose(got[0].compute(), want[0], rtol=1e-10, atol=1e-12)
    assert got[1:3] == want[1:3] if name != "cg" else got[1] == want[1]
    assert len(graph_sizes) == 12 and len(set(graph_sizes[1:])) == 1  # no growth


@pytest.mark.parametrize("name", ["cg", "lsmr"])
def test_dask_single_precision_keeps_scipys_dtypes(dask_threads, name):
    """float32 vectors: cg's stay float32 under a float64 preconditioner, lsmr's x is float64."""
    da = dask_threads
    A = linop.aslinearoperator(_stencil, np.zeros(SHAPE, np.float32))
    b = _random(A.shape[0], np.float32)
    weights = np.full(SHAPE, 1 / 7)  # float64: the preconditioner's output is float64
    kwargs = dict(maxiter=4)
    if name == "cg":
        kwargs["M"] = linop.aslinearoperator(lambda x: weights * x, np.zeros(SHAPE, np.float32))
    got = getattr(solvers, name)(A, da.from_array(b, chunks=160), **kwargs)
    want = getattr(solvers, name)(A, b, **kwargs)
    assert isinstance(got[0], da.Array)
    assert got[0].dtype == want[0].dtype == (np.float32 if name == "cg" else np.float64)
    np.testing.assert_allclose(got[0].compute(), want[0], rtol=1e-5, atol=1e-6)


def test_dask_vectors_need_an_operator_that_takes_them(dask_threads):
    da = dask_threads
    with pytest.raises(linop.errors.NamespaceError, match="linop.aslinearoperator"):
        solvers.cg(spla.aslinearoperator(_spd(6)), da.ones(6, chunks=3), maxiter=2)
