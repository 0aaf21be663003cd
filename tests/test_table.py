"""The core table: NumPy programs of issue 2, each checked against NumPy and the dense oracle."""
from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import linop
from harness import COMPLEX, REAL, Case, case_id, check_all

rng = np.random.default_rng(42)
A34 = rng.standard_normal((3, 4))
A44 = rng.standard_normal((4, 4))
B43c = rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))
W4 = rng.standard_normal(4)
W3 = rng.standard_normal(3)
MASK34 = rng.standard_normal((3, 4)) > 0
BATCH = rng.standard_normal((2, 4, 3))
Point = namedtuple("Point", "x y")
F32 = linop.ShapeDtype((3,), np.float32)
C64 = linop.ShapeDtype((3,), np.complex64)


def _inplace_stencil(x):
    y = np.zeros_like(x)
    y[1:-1] = x[2:] - x[:-2]
    return y


def _inplace_accumulate(x):
    y = np.zeros_like(x, shape=(x.shape[0] + 2,))
    y[1:-1] += x
    y[:-2] -= 0.5 * x
    y[2:] += 0.25 * x
    return y


def _empty_like_fill(x):
    y = np.empty_like(x)
    y[...] = 2 * x
    y[0] = x[-1]
    return y


def _zeros_like_dtype(x):
    y = np.zeros_like(x, dtype=np.complex128, shape=(2, x.shape[0]))
    y[0] = x
    y[1, ::2] = 1j * x[::2]
    return y


def _view_write(x):
    y = np.zeros_like(x)
    v = y[::-1]          # a view
    v[1:3] = x[:2]       # writes into y through the view
    t = y.T
    return y + t[0]


def _view_reads_update(x):
    y = np.zeros_like(x)
    v = y[1:]
    y[2] = x[0]          # v sees the write, as in NumPy
    return v * 3


def _loop_rows(x):
    return np.stack([row * (i + 1) for i, row in enumerate(x)])


def _iadd_operator(x):
    y = 2 * x
    y += x[::-1]
    y *= 3
    y /= 2
    y -= x
    return y


def _real_imag_write(x):
    y = np.zeros_like(x)
    y.real[:] = x.imag
    y.imag[1:] = x.real[:-1]
    return y


def _complex_from_parts(x):
    return x[0] + 1j * x[1]


def _pytree_in(p):
    return p["a"] @ A34.T + p["b"][0] - p["b"][1].sum()


def _namedtuple_in(pt):
    return pt.x * 2 - pt.y[::-1]


def _pytree_out(x):
    return {"sum": x.sum(axis=0), "pair": (x[0], None, [x[:, 1] * 2])}


def _mixed_dtypes(a, b):
    return a.astype(np.complex64) * 2 + b


def _unused_input(x, y):
    return 3 * x


def _zero_map(x):
    return np.zeros(3)


def _iterate(x):
    total = np.zeros_like(x[0])
    for row in x:
        total = total + row
    return total


def _ones_full_like(x):
    # ones_like / full_like do not depend on x's values: they are constants.
    return x * np.ones_like(x) * np.full_like(x, 2.0) + x * np.ones_like(x, shape=(2, 3))


def _dtype_queries(x):
    scale = 2.0 if np.iscomplexobj(x) else 3.0
    scale += 1.0 if np.isrealobj(x) else 0.0
    target = np.result_type(x, np.float32)
    return (x * scale).astype(target) / np.size(x) + np.size(x, 1) * x


CASES = [
    # arithmetic, broadcasting, promotion
    Case("add", lambda x, y: x + y, ((3, 4), (3, 4))),
    Case("add_broadcast", lambda x, y: x + y, ((3, 4), (4,))),
    Case("sub_broadcast", lambda x, y: x - y, ((3, 1), (1, 4))),
    Case("neg_pos", lambda x: -x + (+x) * 3, ((5,),)),
    Case("scalar_mul", lambda x: 2.5 * x * 2, ((3, 2),)),
    Case("array_mul", lambda x: x * A34, ((3, 4),)),
    Case("broadcast_mul", lambda x: W4 * x, ((3, 1),)),
    Case("complex_scalar_mul", lambda x: (1 + 2j) * x, ((4,),)),
    Case("div_const", lambda x: x / W3 / 2, ((2, 3),)),
    Case("np_ufuncs", lambda x: np.subtract(np.add(x, x), np.multiply(x, 3.0)) / 4, ((4,),)),
    Case("plus_zero_const", lambda x: x + np.zeros(4), ((3, 4),)),
    Case("f32_times_f64_array", lambda x: x * np.float64(2.0), ((3,),)),
    Case("mixed_dtypes", _mixed_dtypes, (F32, C64), dtypes=(np.float32,)),
    Case("unused_input", _unused_input, ((3,), (2,))),
    Case("zero_map", _zero_map, ((4,),)),
    # dtype conversion and complex
    Case("astype_f32", lambda x: x.astype(np.float32) * 2, ((4,),), dtypes=REAL),
    Case("astype_f64", lambda x: x.astype(np.float64), ((4,),), dtypes=REAL),
    Case("astype_complex", lambda x: x.astype(np.complex128) * (1 - 1j), ((4,),), dtypes=REAL),
    Case("real", lambda x: np.real(x) * 2, ((4,),), c_linear=False),
    Case("imag", lambda x: np.imag(x) + x.real, ((4,),), dtypes=COMPLEX, c_linear=False),
    Case("conj", lambda x: np.conj(x) * (2 + 1j), ((4,),), c_linear=False),
    Case("conj_method", lambda x: x.conj().T @ A34.T, ((4,),), c_linear=False),
    Case("complex_from_parts", _complex_from_parts, ((2, 3),), dtypes=REAL),
    Case("real_imag_write", _real_imag_write, ((4,),), dtypes=COMPLEX, c_linear=False),
    # shape
    Case("reshape", lambda x: x.reshape(2, 6) * W3[:, None].repeat(2, 0)[:2, :1], ((3, 4),)),
    Case("reshape_minus1", lambda x: np.reshape(x, (-1, 2)), ((3, 4),)),
    Case("reshape_F", lambda x: x.reshape((4, 3), order="F"), ((3, 4),)),
    Case("ravel_flatten", lambda x: x.ravel() + x.T.flatten(), ((3, 4),)),
    Case("transpose", lambda x: np.transpose(x, (2, 0, 1)), ((2, 3, 4),)),
    Case("transpose_T", lambda x: x.T, ((2, 3, 4),)),
    Case("transpose_method", lambda x: x.transpose(1, 0, 2) + x.transpose((1, 0, 2)), ((2, 3, 4),)),
    Case("swapaxes", lambda x: np.swapaxes(x, 0, -1), ((2, 3, 4),)),
    Case("moveaxis", lambda x: np.moveaxis(x, [0, 1], [-1, 0]), ((2, 3, 4),)),
    Case("squeeze", lambda x: np.squeeze(x) + x.squeeze(axis=(0, 2)), ((1, 3, 1),)),
    Case("expand_dims", lambda x: np.expand_dims(x, (0, -1)), ((3,),)),
    Case("atleast", lambda x: np.atleast_3d(x)[0] + np.atleast_2d(x)[:, :, None] + np.atleast_1d(x[0])[0],
         ((3,),)),
    Case("broadcast_to", lambda x: np.broadcast_to(x, (2, 3, 4)), ((3, 1),)),
    Case("broadcast_arrays", lambda x: np.broadcast_arrays(x, W4)[0] * W4, ((3, 1),)),
    # reductions
    Case("sum_all", lambda x: np.sum(x), ((3, 4),)),
    Case("sum_axis", lambda x: x.sum(axis=-1) + x.sum(1), ((3, 4),)),
    Case("sum_keepdims", lambda x: np.sum(x, axis=(0, 2), keepdims=True), ((2, 3, 4),)),
    Case("sum_where", lambda x: np.sum(x, where=MASK34, axis=0), ((3, 4),)),
    Case("add_reduce", lambda x: np.add.reduce(x, axis=1), ((3, 4),)),
    Case("mean", lambda x: np.mean(x, axis=0) + x.mean(), ((3, 4),)),
    Case("average_weights", lambda x: np.average(x, axis=1, weights=W4), ((3, 4),)),
    Case("average_plain", lambda x: np.average(x, axis=0), ((3, 4),)),
    Case("trace", lambda x: np.trace(x) + np.trace(x, offset=1), ((4, 5),)),
    Case("diagonal", lambda x: np.diagonal(x, offset=-1) * 2, ((4, 3),)),
    Case("diagonal_3d", lambda x: np.diagonal(x, 0, 2, 0), ((3, 2, 4),)),
    # indexing
    Case("index_int", lambda x: x[1] - x[-1], ((3, 4),)),
    Case("index_slices", lambda x: x[1:, ::2], ((3, 5),)),
    Case("index_negative_step", lambda x: x[::-2, 3:0:-1], ((5, 4),)),
    Case("index_ellipsis_none", lambda x: x[..., None, 1] + x[None, 0, ..., 1:2], ((3, 4, 2),)),
    Case("index_empty", lambda x: x[3:1], ((4,),)),
    Case("iterate", _iterate, ((3, 4),)),
    Case("loop_rows", _loop_rows, ((3, 2),)),
    # in-place idioms
    Case("inplace_stencil", _inplace_stencil, ((6,),)),
    Case("inplace_accumulate", _inplace_accumulate, ((5,),)),
    Case("empty_like_fill", _empty_like_fill, ((4,),)),
    Case("zeros_like_dtype_shape", _zeros_like_dtype, ((4,),), dtypes=(np.float64, np.complex128)),
    Case("view_write", _view_write, ((4,),)),
    Case("view_reads_update", _view_reads_update, ((4,),)),
    Case("iadd_operators", _iadd_operator, ((4,),)),
    # joining and splitting
    Case("concatenate", lambda x, y: np.concatenate([x, y, np.zeros((1, 4))], axis=0), ((2, 4), (3, 4))),
    Case("concatenate_none", lambda x: np.concatenate((x, x[0]), axis=None), ((2, 3),)),
    Case("stack", lambda x, y: np.stack([x, y], axis=-1), ((3,), (3,))),
    Case("hstack_vstack", lambda x: np.hstack([x, x]) + np.vstack([x, x]).ravel()[:6], ((3,),)),
    Case("column_stack", lambda x: np.column_stack([x, 2 * x]), ((3,),)),
    Case("dstack", lambda x: np.dstack([x, x]), ((2, 3),)),
    Case("dsplit", lambda x: np.dsplit(x, 2)[1] * 2, ((2, 2, 4),)),
    Case("matrix_transpose", lambda x: np.matrix_transpose(x) + x.mT, ((2, 3, 4),)),
    Case("split", lambda x: np.split(x, 2, axis=1)[1] - np.split(x, [1])[1][0][:2], ((3, 4),)),
    Case("array_split", lambda x: np.array_split(x, 3)[2], ((7,),)),
    Case("hsplit_vsplit", lambda x: np.hsplit(x, 2)[0][:2] + np.vsplit(x, 2)[1][:, :2], ((4, 4),)),
    # contractions
    Case("matmul_left", lambda x: A34 @ x, ((4, 2),)),
    Case("matmul_right", lambda x: x @ A34, ((2, 3),)),
    Case("matmul_vec", lambda x: A34 @ x + x @ A44 @ A34.T[:, :3].sum(1), ((4,),)),
    Case("matmul_batched", lambda x: BATCH @ x, ((3, 2),)),
    Case("matmul_batched_tracer", lambda x: x @ A34, ((2, 5, 3),)),
    Case("matmul_complex_const", lambda x: x @ B43c, ((2, 4),)),
    Case("dot", lambda x: np.dot(A34, x) + np.dot(x, W4).sum() + x.dot(W4), ((4,),)),
    Case("dot_nd", lambda x: np.dot(x, BATCH), ((2, 4),)),
    Case("vdot_const_first", lambda x: np.vdot(B43c[:, 0], x), ((4,),)),
    Case("vdot_tracer_first", lambda x: np.vdot(x, B43c[:, 0]), ((4,),), c_linear=False),
    Case("inner", lambda x: np.inner(x, A34), ((2, 4),)),
    Case("outer", lambda x: np.outer(W3, x) + np.outer(x, W3).T, ((3,),)),
    Case("tensordot", lambda x: np.tensordot(BATCH, x, axes=([1, 2], [0, 1])), ((4, 3),)),
    Case("tensordot_int", lambda x: np.tensordot(x, A34, axes=1), ((2, 3),)),
    Case("einsum_matvec", lambda x: np.einsum("ij,j->i", A34, x), ((4,),)),
    Case("einsum_implicit", lambda x: np.einsum("ij,jk", x, A34), ((2, 3),)),
    Case("einsum_ellipsis", lambda x: np.einsum("...ij,jk->...ik", x, A44), ((2, 3, 4),)),
    Case("einsum_diag_trace", lambda x: np.einsum("ii->i", x) + np.einsum("ii", x), ((3, 3),)),
    Case("einsum_three", lambda x: np.einsum("ij,jk,kl->il", A34, x, A34), ((4, 3),)),
    Case("einsum_sum_only", lambda x: np.einsum("ijk->k", x), ((2, 3, 4),)),
    Case("kron", lambda x: np.kron(A34[:2, :2], x) + np.kron(x, np.eye(2)), ((2, 2),)),
    Case("multiply_outer", lambda x: np.multiply.outer(x, W3), ((2,),)),
    Case("matvec", lambda x: np.matvec(BATCH, x) + np.matvec(x[None], W3)[0].sum(), ((3,),)),
    Case("vecmat_const_first", lambda x: np.vecmat(B43c[:, 0], x), ((4, 2),)),
    Case("vecmat_tracer_first", lambda x: np.vecmat(x, B43c), ((4,),), c_linear=False),
    Case("vecdot", lambda x: np.vecdot(B43c[:, :2].T, x) + np.vecdot(x, W4), ((2, 4),)),
    Case("polyval", lambda p: np.polyval(p, A34) + np.polyval(p, 2.0), ((3,),)),
    # selection and copies
    Case("where", lambda x, y: np.where(MASK34, x, y), ((3, 4), (3, 4))),
    Case("where_zero", lambda x: np.where(MASK34, 0.0, x), ((3, 4),)),
    Case("copy", lambda x: np.copy(x) + x.copy(), ((3,),)),
    Case("ones_full_like_constants", _ones_full_like, ((3,),)),
    Case("dtype_queries", _dtype_queries, ((2, 3),)),
    # pytrees
    Case("pytree_in", _pytree_in, ({"a": (2, 4), "b": [(2, 3), (2, 3)]},)),
    Case("namedtuple_in", _namedtuple_in, (Point((3,), (3,)),)),
    Case("pytree_out", _pytree_out, ((3, 2),)),
    Case("none_in", lambda x, n: 2 * x, ((3,), None)),
]


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_case(param):
    case, dtype = param
    check_all(case, dtype)


def test_table_size():
    assert len(CASES) >= 60
