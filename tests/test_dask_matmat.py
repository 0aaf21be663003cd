"""``matmat``/``rmatmat``/``A @ X`` of traced operators on Dask matrices: lazy, equal to NumPy.

Each operator of the table (real, complex, pytree inputs, and operators derived from
them) is applied to a chunked ``(n, k)`` Dask matrix whose blocks count their
computations: the result must be a Dask array when the call returns, with nothing
computed yet, and once computed equal the NumPy ``matmat`` in value and dtype (the
NumPy path's precision rules: a complex matrix on a real operator, a ``float32`` one
on a ``float64`` operator and the reverse).
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import linop
from models import laplacian_7point

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

RNG = np.random.default_rng(12)
SPECTRUM = 1 + np.arange(8) + 0.5j


def spectral(x):
    """A complex map: scaled Fourier coefficients."""
    return np.fft.fft(x) * SPECTRUM


def pytree(a, b):
    """A complex map of two arguments to a dict of two outputs."""
    return {"d": a[1:] - a[:-1] + 2j * b[:, 0], "c": np.cumsum(b, axis=1)}


def _operators() -> dict:
    stencil = linop.aslinearoperator(laplacian_7point, np.zeros((4, 6, 5)))
    fft = linop.aslinearoperator(spectral, np.zeros(8, complex))
    tree = linop.aslinearoperator(pytree, np.zeros(7, complex), np.zeros((6, 5), complex))
    single = linop.aslinearoperator(laplacian_7point, np.zeros((4, 6, 5), np.float32))
    return {"stencil": stencil, "fft": fft, "pytree": tree, "float32-stencil": single,
            "stencil.H": stencil.H, "fft.H": fft.H, "fft.T": fft.T, "pytree.T": tree.T,
            "2*fft+fft.H": 2 * fft + fft.H, "stencil@stencil": stencil @ stencil,
            "stencil-with-scipy-operator":
                stencil + spla.aslinearoperator(RNG.standard_normal((120, 120))),
            "vstack": linop.vstack([fft, fft.H]), "fft.normal": fft.normal()}


OPERATORS = _operators()
BASES = ["stencil", "fft", "pytree", "float32-stencil"]
DTYPES = [np.float64, np.float32, np.complex128, np.complex64]


@pytest.fixture(scope="module")
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def _random(shape, dtype):
    x = RNG.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * RNG.standard_normal(shape)
    return x.astype(dtype)


def _watched(x, chunks):
    """``x`` as a Dask array in ``chunks`` and the list of the blocks' computations."""
    computed = []

    def seen(block):
        computed.append(block.shape)
        return block

    return da.from_array(x, chunks=chunks).map_blocks(seen, dtype=x.dtype,
                                                      meta=np.empty((0, 0), x.dtype)), computed


def _rtol(*dtypes) -> float:
    return 1e-4 if any(np.finfo(np.dtype(d)).bits <= 32 for d in dtypes) else 1e-11


def _check_lazy_and_equal(apply, x, want, chunks):
    """``apply`` on ``x`` cut into ``chunks``: lazy (nothing computed), then ``want``."""
    X, computed = _watched(x, chunks)
    Y = apply(X)
    assert isinstance(Y, da.Array), f"expected a lazy Dask array, got {type(Y).__name__}"
    assert computed == [], "the call computed blocks of its argument"
    assert Y.shape == want.shape and Y.dtype == want.dtype
    assert Y.chunks[1] == X.chunks[1], "the column blocks are not those of the argument"
    got = Y.compute()
    assert computed or x.size == 0, "the result was not computed from its argument's blocks"
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=_rtol(x.dtype, want.dtype),
                               atol=_rtol(x.dtype, want.dtype) * np.abs(want).max(initial=1))


def _column_chunks(rows, k):
    return (max(1, rows // 3), 2) if k else (max(1, rows // 3), 0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", BASES)
def test_matmat_and_rmatmat_are_lazy_and_equal_numpy(threads, name, dtype):
    A = OPERATORS[name]
    m, n = A.shape
    X, W = _random((n, 3), dtype), _random((m, 3), dtype)
    for apply in (A.matmat, A.dot, lambda v: A @ v):
        _check_lazy_and_equal(apply, X, A.matmat(X), _column_chunks(n, 3))
    _check_lazy_and_equal(A.rmatmat, W, A.rmatmat(W), _column_chunks(m, 3))


@pytest.mark.parametrize("name", [n for n in OPERATORS if n not in BASES])
def test_derived_operators_stay_lazy(threads, name):
    A = OPERATORS[name]
    m, n = A.shape
    for dtype in (np.float64, np.complex128):
        X, W = _random((n, 3), dtype), _random((m, 3), dtype)
        _check_lazy_and_equal(lambda v: A @ v, X, A @ X, _column_chunks(n, 3))
        _check_lazy_and_equal(lambda v: A.H @ v, W, A.H @ W, _column_chunks(m, 3))


@pytest.mark.parametrize("k", [0, 1])
@pytest.mark.parametrize("name", ["stencil", "pytree"])
def test_one_and_zero_columns_like_numpy(threads, name, k):
    A = OPERATORS[name]
    m, n = A.shape
    X, W = _random((n, k), np.complex128), _random((m, k), np.complex128)
    for apply in (A.matmat, lambda v: A @ v):
        _check_lazy_and_equal(apply, X, A.matmat(X), _column_chunks(n, k))
    _check_lazy_and_equal(A.rmatmat, W, A.rmatmat(W), _column_chunks(m, k))


def test_columns_run_one_batched_graph(threads):
    """One column block makes the graph of one vector: the program is batched over the
    columns, not run once per column."""
    A = OPERATORS["stencil"]
    n = A.shape[1]
    x = da.from_array(_random((n,), np.float64), chunks=n // 4)
    X = da.from_array(_random((n, 5), np.float64), chunks=(n // 4, 5))
    vector = len(dict((A @ x).__dask_graph__())) - len(dict(x.__dask_graph__()))
    matrix = len(dict((A @ X).__dask_graph__())) - len(dict(X.__dask_graph__()))
    assert matrix == vector


def test_no_step_gathers_the_whole_matrix(threads, monkeypatch):
    from dask.callbacks import Callback
    from linop.dask_exec import dask_backend

    def refuse(prim, *args):
        raise AssertionError(f"{prim.name} gathered its input into one block")

    class Largest(Callback):
        largest = 0

        def _posttask(self, key, result, dsk, state, worker_id):
            if 0 not in getattr(result, "strides", (0,)):  # broadcast views hold no memory
                self.largest = max(self.largest, result.nbytes)

    monkeypatch.setattr(dask_backend(), "whole", refuse)
    A = linop.aslinearoperator(laplacian_7point, np.zeros((8, 6, 5)))
    x = _random((A.shape[1], 6), np.float64)
    Y = A.matmat(da.from_array(x, chunks=(60, 3)))
    with Largest() as watch:
        blocks = Y.persist()
    np.testing.assert_allclose(blocks.compute(), A.matmat(x), rtol=1e-12)
    assert Y.chunks == ((60,) * 4, (3, 3))
    assert watch.largest <= 2 * 60 * 3 * 8, f"a task held {watch.largest} bytes"


@pytest.mark.parametrize("apply", ["matmat", "rmatmat", "dot"])
def test_bad_matrices_give_the_numpy_errors(threads, apply):
    A = OPERATORS["pytree"]
    n = A.shape[1] if apply != "rmatmat" else A.shape[0]
    what = "A @ x" if apply == "dot" else apply
    for bad, error, match in [
            (np.zeros((n + 1, 2)), ValueError,
             rf"expects a matrix of shape \({n}, k\).*\({n + 1}, 2\)"),
            (np.full((n, 2), "a"), TypeError, "expected a numeric array, got dtype <U1"),
            (np.full((n, 1), "a"), TypeError, "expected a numeric (array|vector of length)")]:
        messages = []
        for arg in (bad, da.from_array(bad)):
            where = rf"^{what} at .*test_dask_matmat.py:\d+: .*"
            with pytest.raises(error, match=where + match) as info:
                getattr(A, apply)(arg)
            messages.append(str(info.value))
        assert messages[0] == messages[1]
