"""tosparse, diagonal and normal().diagonal() against the dense oracle, on every table program."""
import time

import numpy as np
import pytest
import scipy.sparse as sp

import linop
from harness import ALL, Case, table_cases


def _uneven_rows(x):
    y = np.concatenate([x.sum(keepdims=True), 2 * x[1:]])     # one full row among short ones
    return np.pad(y[::-1], 2) + np.pad(x[::-1], (2, 3))[:-1]


def _patches(x):
    out = np.zeros_like(x, shape=(40,))
    for i in range(10):                                        # disjoint: many slots, few used
        out[4 * i:4 * i + 4] += (i + 1) * x[i:i + 4]
    return out


_BLOCKS = np.arange(60.0).reshape(3, 4, 5) % 7 - 3


def _block_contraction(x):
    return np.einsum("bi,bij->bj", x, _BLOCKS)


def _strided_stencil(u):
    out = np.zeros_like(u)
    out[::2, 1:] = u[::2, :-1] - 2 * u[::2, 1:]
    out[1::2] = np.roll(u[1::2], 1, axis=1)[:, ::-1]
    return out.T


CASES = [
    Case("uneven-rows", _uneven_rows, ((50,),), ALL),
    Case("disjoint-patches", _patches, ((13,),), ALL),
    Case("block-contraction", _block_contraction, ((3, 4),), ALL),
    Case("strided-stencil", _strided_stencil, ((5, 6),), ALL),
    Case("convolve-long", lambda x: np.convolve(x, np.array([1.0, -2.0, 0.0, 0.5])), ((40,),), ALL),
    Case("convolve-valid", lambda x: np.convolve(x, np.array([1.0, 3.0, -1.0]), "valid"), ((30,),),
         ALL),
]

TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.complex64): 1e-5,
       np.dtype(np.float64): 1e-12, np.dtype(np.complex128): 1e-12}


def _single_leaf(case):
    return len(case.specs) == 1 and isinstance(case.specs[0], (tuple, linop.ShapeDtype)) and \
        (not isinstance(case.specs[0], tuple) or all(isinstance(d, int) for d in case.specs[0]))


PARAMS = [pytest.param(case, np.dtype(d), id=f"{name}-{np.dtype(d).name}")
          for name, case in table_cases() if _single_leaf(case)
          for d in case.dtypes if np.dtype(d) in TOL]


def _operator(case, dtype):
    real_coords = not case.c_linear and np.issubdtype(dtype, np.complexfloating)
    try:
        return linop.aslinearoperator(case.fun, *case.primals(dtype), real_coords=real_coords)
    except linop.RealLinearError:  # the classifier is conservative: the real operator then
        return linop.aslinearoperator(case.fun, *case.primals(dtype), real_coords=True)


@pytest.mark.parametrize("case, dtype", PARAMS)
def test_tosparse_matches_dense_oracle(case, dtype):
    A = _operator(case, dtype)
    D = linop.todense(A, method="probe")
    M = A.tosparse()
    assert sp.isspmatrix_csr(M) or isinstance(M, sp.csr_array)
    assert M.shape == A.shape and M.dtype == A.dtype
    tol = TOL[dtype] * max(1.0, np.abs(D).max(initial=0))
    np.testing.assert_allclose(M.toarray(), D, rtol=0, atol=tol)
    assert np.all(M.data != 0)
    canonical = M.copy()
    canonical.has_sorted_indices = False
    canonical.sum_duplicates()                  # sorts and merges: nothing to do on M
    assert np.array_equal(canonical.indices, M.indices) and np.array_equal(canonical.indptr, M.indptr)
    # structure: every entry the dense matrix clearly has is stored, and nothing clearly absent
    dense_structure = np.abs(D) > tol
    stored = np.zeros(D.shape, bool)
    stored[M.nonzero()] = True
    assert np.all(stored[dense_structure])
    assert np.count_nonzero(stored & (np.abs(M.toarray()) > tol)) == np.count_nonzero(dense_structure)


@pytest.mark.parametrize("case, dtype", PARAMS)
def test_diagonals_match_dense_oracle(case, dtype):
    A = _operator(case, dtype)
    D = linop.todense(A, method="probe")
    tol = TOL[dtype] * max(1.0, np.abs(D).max(initial=0)) ** 2 * max(D.shape)
    np.testing.assert_allclose(A.diagonal(), np.diag(D), rtol=0, atol=tol)
    np.testing.assert_allclose(A.normal().diagonal(), np.diag(D.conj().T @ D).real, rtol=0, atol=tol)


def _laplacian(u):
    out = -4 * u
    out[1:, :] += u[:-1, :]
    out[:-1, :] += u[1:, :]
    out[:, 1:] += u[:, :-1]
    out[:, :-1] += u[:, 1:]
    return out


def _five_point(k):
    T = sp.diags([np.ones(k - 1), -2 * np.ones(k), np.ones(k - 1)], [-1, 0, 1])
    return (sp.kron(sp.identity(k), T) + sp.kron(T, sp.identity(k))).tocsr()


def test_laplacian_200_is_the_five_point_matrix():
    A = linop.aslinearoperator(_laplacian, np.zeros((200, 200)))
    M = A.tosparse()
    ref = _five_point(200)
    assert M.nnz == ref.nnz
    assert abs(M - ref).max() == 0
    np.testing.assert_array_equal(A.diagonal(), -4 * np.ones(200 * 200))
    np.testing.assert_array_equal(A.normal().diagonal(), np.asarray(ref.multiply(ref).sum(0)).ravel())


def test_tosparse_does_not_probe_columns():
    A = linop.aslinearoperator(_laplacian, np.zeros((316, 317)))
    calls = []
    A.matmat = A.matvec = lambda *a: calls.append(a)
    start = time.perf_counter()
    M = A.tosparse(format="csc")
    assert time.perf_counter() - start < 2.0
    assert not calls and M.format == "csc" and M.shape == (316 * 317,) * 2


def test_dense_step_above_the_limit_is_a_clear_error():
    def f(x):
        return np.fft.fft(x)                     # the line the error names
    A = linop.aslinearoperator(f, np.zeros(64, complex))
    line = f.__code__.co_firstlineno + 1
    with pytest.raises(linop.DenseMatrixError, match=rf"fft .*test_tosparse.py:{line}.*dense_limit"):
        A.tosparse(dense_limit=100)
    np.testing.assert_allclose(A.tosparse(dense_limit=64 * 64).toarray(), np.fft.fft(np.eye(64), axis=0),
                               atol=1e-12)


def test_conjugating_adjoint_and_real_coords_are_exact():
    c = np.arange(1, 7) * (1 + 2j)
    A = linop.aslinearoperator(lambda x: c * x[::-1], np.zeros(6, complex))
    np.testing.assert_allclose(A.H.tosparse().toarray(), linop.todense(A).conj().T, atol=1e-13)
    R = linop.aslinearoperator(lambda x: np.conj(x) * c, np.zeros(6, complex), real_coords=True)
    np.testing.assert_allclose(R.tosparse().toarray(), linop.todense(R), atol=1e-13)


def test_bad_arguments():
    A = linop.aslinearoperator(lambda x: 2 * x, np.zeros(3))
    with pytest.raises(TypeError, match="dense_limit"):
        A.tosparse(dense_limit=-1)
    with pytest.raises(ValueError, match="format"):
        A.tosparse(format="nope")
    with pytest.raises(TypeError, match="aslinearoperator"):
        linop.tosparse(sp.identity(3))
    with pytest.raises(ValueError, match="method"):
        linop.todense(A, method="fast")


def test_todense_sparse_method_and_progress(capsys):
    A = linop.aslinearoperator(_laplacian, np.zeros((40, 40)))
    np.testing.assert_array_equal(linop.todense(A, method="sparse"), _five_point(40).toarray())
    B = linop.aslinearoperator(lambda x: np.fft.fft(x), np.zeros(8, complex))
    linop.todense(B, batch_size=4, progress=True)
    assert capsys.readouterr().out.count("todense: columns") == 2


@pytest.mark.parametrize("fun, shape", [
    (_laplacian, (60, 70)),
    (_patches, (13,)),
    (_uneven_rows, (400,)),
    (_block_contraction, (3, 4)),
    (_strided_stencil, (30, 40)),
    (lambda x: np.convolve(x, np.array([1.0, -2.0, 0.0, 0.5])), (3000,)),
    (lambda x: np.convolve(x, np.array([1.0, 3.0, -1.0]), "valid"), (3000,)),
    (lambda x: np.einsum("ij,j->ij", x, np.arange(40.0)), (30, 40)),
], ids=["laplacian", "patches", "uneven-rows", "block-contraction", "strided-stencil",
        "convolve-full", "convolve-valid", "scaling-contraction"])
def test_structural_steps_are_not_probed(fun, shape):
    # dense_limit=0: probing any step would raise
    A = linop.aslinearoperator(fun, np.zeros(shape))
    M = A.tosparse(dense_limit=0)
    x = np.random.default_rng(1).standard_normal(A.shape[1])
    np.testing.assert_allclose(M @ x, A.matvec(x), rtol=1e-12, atol=1e-12)


def test_dense_contraction_is_probed_under_the_limit():
    C = np.arange(1.0, 65.0).reshape(8, 8)

    def f(x):
        return C @ x                            # the line the error names
    A = linop.aslinearoperator(f, np.zeros(8))
    line = f.__code__.co_firstlineno + 1
    with pytest.raises(linop.DenseMatrixError, match=rf"dot .*test_tosparse.py:{line}"):
        A.tosparse(dense_limit=63)
    np.testing.assert_array_equal(A.tosparse(dense_limit=64).toarray(), C)


def test_only_real_linear_programs_have_no_complex_matrix():
    from linop.operator.sparse import program_matrix
    exact = linop.trace(lambda x: np.real(x) + 1j * np.imag(x), np.zeros(5, complex))
    np.testing.assert_array_equal(program_matrix(exact).toarray(), np.eye(5))
    conjugating = linop.trace(lambda x: x + 1e-6 * np.conj(x), np.zeros(5, complex))
    with pytest.raises(linop.LinopError, match="real_coords=True"):
        program_matrix(conjugating)


def test_normal_diagonal_has_the_operators_dtype():
    c = np.arange(1, 7) * (1 + 2j)
    A = linop.aslinearoperator(lambda x: c * x[::-1], np.zeros(6, complex))
    d = A.normal().diagonal()
    assert d.dtype == A.normal().dtype == np.complex128
    np.testing.assert_array_equal(d, 5.0 * np.arange(6, 0, -1) ** 2)     # |k (1 + 2j)|^2


def _scattered(u):
    out = np.zeros_like(u, shape=(2 * u.size,))
    out[::2] += u                               # every other row holds an entry
    return out[1::3] - 2 * out[::3]             # steps that meet on no simple lattice


def _stencil_3d(u):
    out = 6.0 * u
    for axis in range(3):
        lo, hi = [slice(None)] * 3, [slice(None)] * 3
        lo[axis], hi[axis] = slice(1, None), slice(None, -1)
        out[tuple(lo)] -= u[tuple(hi)]
        out[tuple(hi)] -= u[tuple(lo)]
    return out


def _placed_strided(u):
    out = np.zeros_like(u, shape=(13, 9))
    out[1::2, ::3] += 3 * u                     # a pad with interior zeros
    out[::5, 1::3] -= u[::2, :] * (1j if np.iscomplexobj(u) else 1)
    return out


MOVES = [
    ("flip-slice-transpose", lambda u: np.flip(u, 0)[1:, ::2].T - 2 * u[:0:-1, 1::2].T, (6, 8)),
    ("pad-of-strided-slice", lambda u: np.pad(u[::2, 1::3], ((1, 2), (0, 3))), (6, 8)),
    ("placed-strided", _placed_strided, (6, 3)),
    ("reshape-slice-flatten", lambda u: u.reshape(4, 12)[:, 2:].reshape(-1)[::3] * 2, (6, 8)),
    ("scattered", _scattered, (7,)),
    ("transposed-3d-stencil", lambda u: _stencil_3d(u.transpose(2, 0, 1))[:, ::-1], (3, 4, 5)),
    ("laplacian-reshaped", lambda u: _laplacian(u.reshape(6, 8)).reshape(4, 12)[1:, ::2], (48,)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("fun, shape", [m[1:] for m in MOVES], ids=[m[0] for m in MOVES])
def test_moving_steps_of_index_maps_match_dense_oracle(fun, shape, dtype):
    A = linop.aslinearoperator(fun, np.zeros(shape, dtype))
    D = linop.todense(A, method="probe")
    M = A.tosparse(dense_limit=0)
    assert M.dtype == A.dtype and M.has_canonical_format
    np.testing.assert_array_equal(M.toarray(), D)
    assert M.nnz == np.count_nonzero(D)


@pytest.mark.parametrize("fun, shape", [(_laplacian, (40, 30)), (_stencil_3d, (6, 7, 8))])
def test_stencil_slots_are_never_arrays(fun, shape, monkeypatch):
    from linop.operator import sparse
    A = linop.aslinearoperator(fun, np.zeros(shape))

    def refuse(self):
        raise AssertionError("a stencil's slot was turned into arrays")
    monkeypatch.setattr(sparse.IndexMap, "arrays", refuse)
    M = A.tosparse(dense_limit=0)
    monkeypatch.undo()
    np.testing.assert_array_equal(M.toarray(), linop.todense(A, method="probe"))
    assert M.has_canonical_format
