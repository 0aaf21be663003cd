"""Stencils and shifts: cumsum, diff, pad (every linear mode), roll, rot90, tile, repeat, tril/triu,
diag, diagflat; table checks, property tests and the errors of the non-linear/affine uses."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import linop
from harness import ALL, Case, case_id, check_all
from linop.testing import check_transpose

THIS_FILE = os.path.basename(__file__)


def _accumulate_out(x):
    y = np.zeros_like(x)
    np.add.accumulate(x, axis=1, out=y)
    return y


def _cases():
    c = [
        # cumsum and friends
        Case("cumsum-flat", lambda x: np.cumsum(x), ((3, 4),)),
        Case("cumsum-axis0", lambda x: np.cumsum(x, axis=0), ((3, 4),)),
        Case("cumsum-neg-axis", lambda x: np.cumsum(x, axis=-1), ((2, 3, 2),)),
        Case("cumsum-dtype", lambda x: np.cumsum(x, axis=0, dtype=np.complex128), ((4,),)),
        Case("method-cumsum", lambda x: x.cumsum(1), ((3, 4),)),
        Case("cumsum-length1", lambda x: np.cumsum(x, axis=0), ((1, 3),)),
        Case("add-accumulate", lambda x: np.add.accumulate(x), ((3, 2),)),
        Case("add-accumulate-axis", lambda x: np.add.accumulate(x, axis=-1), ((3, 2),)),
        Case("add-accumulate-out", _accumulate_out, ((2, 3),)),
        Case("cumulative-sum-initial", lambda x: np.cumulative_sum(x, axis=0, include_initial=True),
             ((3, 2),)),
        # diff
        Case("diff", lambda x: np.diff(x), ((5,),)),
        Case("diff-n2-axis0", lambda x: np.diff(x, n=2, axis=0), ((5, 3),)),
        Case("diff-n3", lambda x: np.diff(x, 3), ((2, 6),)),
        Case("diff-n0", lambda x: np.diff(x, 0), ((4,),)),
        Case("diff-prepend0", lambda x: np.diff(x, prepend=0), ((4,),)),
        Case("diff-append-array", lambda x: np.diff(x, axis=0, append=np.zeros((1, 3))), ((4, 3),)),
        Case("diff-prepend-traced", lambda x: np.diff(x, axis=0, prepend=x[-1:]), ((4, 3),)),
        Case("diff-too-long", lambda x: np.diff(x, n=5), ((3,),)),
        # roll
        Case("roll", lambda x: np.roll(x, 2), ((5,),)),
        Case("roll-negative", lambda x: np.roll(x, -1, axis=0), ((4, 3),)),
        Case("roll-flat", lambda x: np.roll(x, 5), ((3, 4),)),
        Case("roll-tuple", lambda x: np.roll(x, (1, -2), axis=(0, 1)), ((3, 4),)),
        Case("roll-same-axis", lambda x: np.roll(x, (1, 1), axis=(1, 1)), ((3, 4),)),
        Case("roll-full-cycle", lambda x: np.roll(x, 4, axis=1), ((3, 4),)),
        # rot90
        Case("rot90", lambda x: np.rot90(x), ((3, 4),)),
        Case("rot90-k2", lambda x: np.rot90(x, 2), ((3, 4),)),
        Case("rot90-k3-axes", lambda x: np.rot90(x, -1, axes=(2, 0)), ((2, 3, 4),)),
        Case("rot90-k4", lambda x: np.rot90(x, 4), ((3, 2),)),
        # flips (lowered in linop/numpy_api/shape.py; rows here with the other rearrangements)
        Case("flip", lambda x: np.flip(x), ((3, 4),)),
        Case("flip-axis", lambda x: np.flip(x, axis=-1), ((3, 4),)),
        Case("fliplr", lambda x: np.fliplr(x), ((3, 4),)),
        Case("flipud", lambda x: np.flipud(x), ((3, 4),)),
        # tile / repeat
        Case("tile", lambda x: np.tile(x, 3), ((4,),)),
        Case("tile-more-dims", lambda x: np.tile(x, (2, 1, 2)), ((2, 3),)),
        Case("tile-fewer-reps", lambda x: np.tile(x, 2), ((2, 3),)),
        Case("repeat-flat", lambda x: np.repeat(x, 2), ((2, 3),)),
        Case("repeat-axis", lambda x: np.repeat(x, 3, axis=0), ((2, 3),)),
        Case("repeat-per-element", lambda x: np.repeat(x, [2, 0, 1, 1], axis=1), ((2, 4),)),
        Case("repeat-per-element-flat", lambda x: np.repeat(x, [1, 3, 2]), ((3,),)),
        Case("repeat-many-blocks", lambda x: np.repeat(x, np.arange(70) % 2 + 1), ((70,),),
             (np.float64, np.complex64)),
        Case("method-repeat", lambda x: x.repeat(2, axis=-1), ((2, 2),)),
        Case("repeat-zero", lambda x: np.repeat(x, 0, axis=0), ((2, 2),)),
        Case("repeat-empty", lambda x: np.repeat(x, 2, axis=0), ((0, 2),)),
        # triangles and diagonals
        Case("tril", lambda x: np.tril(x), ((3, 4),)),
        Case("tril-k", lambda x: np.tril(x, -1), ((4, 3),)),
        Case("triu-k", lambda x: np.triu(x, 1), ((3, 4),)),
        Case("triu-batched", lambda x: np.triu(x), ((2, 3, 3),)),
        Case("tril-1d", lambda x: np.tril(x), ((3,),)),
        Case("diag-1d", lambda x: np.diag(x), ((3,),)),
        Case("diag-1d-k", lambda x: np.diag(x, 2), ((3,),)),
        Case("diag-1d-negk", lambda x: np.diag(x, -1), ((3,),)),
        Case("diag-2d", lambda x: np.diag(x), ((3, 4),)),
        Case("diag-2d-k", lambda x: np.diag(x, 1), ((3, 4),)),
        Case("diag-2d-negk", lambda x: np.diag(x, -2), ((3, 4),)),
        Case("diag-2d-empty", lambda x: np.diag(x, 5), ((3, 4),)),
        Case("diagflat", lambda x: np.diagflat(x), ((2, 2),)),
        Case("diagflat-k", lambda x: np.diagflat(x, -1), ((3,),)),
    ]
    # pad, every linear mode
    c += [
        Case("pad-constant", lambda x: np.pad(x, 2), ((3,),)),
        Case("pad-constant-pairs", lambda x: np.pad(x, ((1, 0), (2, 3))), ((2, 3),)),
        Case("pad-constant-zero-values", lambda x: np.pad(x, 1, constant_values=0.0), ((2, 2),)),
        Case("pad-edge", lambda x: np.pad(x, ((2, 1), (0, 3)), mode="edge"), ((3, 2),)),
        Case("pad-reflect", lambda x: np.pad(x, (2, 3), mode="reflect"), ((5,),)),
        Case("pad-reflect-wide", lambda x: np.pad(x, (7, 5), mode="reflect"), ((3,),)),
        Case("pad-reflect-2d", lambda x: np.pad(x, 2, mode="reflect"), ((3, 4),)),
        Case("pad-reflect-single", lambda x: np.pad(x, 2, mode="reflect"), ((1, 2),)),
        Case("pad-reflect-odd", lambda x: np.pad(x, (2, 3), mode="reflect", reflect_type="odd"),
             ((5,),)),
        Case("pad-reflect-odd-wide", lambda x: np.pad(x, (6, 4), mode="reflect", reflect_type="odd"),
             ((3,),)),
        Case("pad-symmetric", lambda x: np.pad(x, (3, 2), mode="symmetric"), ((4,),)),
        Case("pad-symmetric-wide", lambda x: np.pad(x, ((5, 7), (1, 1)), mode="symmetric"),
             ((2, 3),)),
        Case("pad-symmetric-odd", lambda x: np.pad(x, 2, mode="symmetric", reflect_type="odd"),
             ((3, 3),)),
        Case("pad-symmetric-odd-wide", lambda x: np.pad(x, (5, 3), mode="symmetric",
                                                       reflect_type="odd"), ((2,),)),
        Case("pad-wrap", lambda x: np.pad(x, (2, 1), mode="wrap"), ((4,),)),
        Case("pad-wrap-wide", lambda x: np.pad(x, ((7, 4), (0, 2)), mode="wrap"), ((3, 2),)),
        Case("pad-mean", lambda x: np.pad(x, 2, mode="mean"), ((3, 4),)),
        Case("pad-mean-stat-length", lambda x: np.pad(x, (2, 3), mode="mean", stat_length=(1, 2)),
             ((5,),)),
        Case("pad-linear-ramp", lambda x: np.pad(x, (3, 2), mode="linear_ramp"), ((4,),)),
        Case("pad-linear-ramp-2d", lambda x: np.pad(x, 2, mode="linear_ramp", end_values=0),
             ((2, 3),)),
        Case("pad-empty-axis", lambda x: np.pad(x, ((0, 0), (1, 1)), mode="edge"), ((0, 2),)),
    ]
    return c


CASES = _cases()


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_table(param):
    case, dtype = param
    check_all(case, dtype)


def test_cumsum_transpose_is_a_reversed_cumsum():
    program = linop.transpose(linop.trace(lambda x: np.cumsum(x, axis=0), np.zeros((4, 3))))
    assert [e.prim.name for e in program.eqns] == ["cumsum"]
    assert program.eqns[0].params["reverse"] is True


def test_roll_transpose_is_one_roll():
    program = linop.transpose(linop.trace(lambda x: np.fft.fftshift(x), np.zeros((4, 5))))
    assert [e.prim.name for e in program.eqns] == ["roll"]


def test_cumsum_float32_stays_float32():
    program = linop.trace(np.cumsum, np.zeros(3, np.float32))
    assert program.out_avals[0].dtype == np.float32


def test_diff_prepend_promotes_like_numpy():
    x = np.ones(3, np.float32)
    program = linop.trace(lambda x: np.diff(x, prepend=0), x)
    assert program(x).dtype == np.diff(x, prepend=0).dtype == np.float64


# -- errors ---------------------------------------------------------------------------------

def _raises(exc_type, fun, x=None, match=None):
    x = np.zeros((3, 4)) if x is None else x
    with pytest.raises(exc_type) as info:
        linop.trace(fun, x)
    msg = str(info.value)
    assert f"{THIS_FILE}:" in msg, msg
    if match:
        assert match in msg, msg
    return msg


@pytest.mark.parametrize("fun,what", [
    (lambda x: np.diff(x, prepend=1.0), "np.diff"),
    (lambda x: np.diff(x, axis=0, append=np.ones((1, 4))), "np.diff"),
    (lambda x: np.pad(x, 1, constant_values=2.0), "np.pad"),
    (lambda x: np.pad(x, 1, constant_values=((0, 0), (0, 1))), "np.pad"),
    (lambda x: np.pad(x, 1, mode="linear_ramp", end_values=1), "np.pad"),
])
def test_affine(fun, what):
    _raises(linop.AffineError, fun, match=what)


@pytest.mark.parametrize("mode", ["maximum", "minimum", "median"])
def test_pad_statistic_is_nonlinear(mode):
    _raises(linop.NonLinearError, lambda x: np.pad(x, 1, mode=mode), match="np.pad")


def test_pad_callable_mode_unsupported():
    _raises(linop.UnsupportedFunctionError, lambda x: np.pad(x, 1, mode=lambda *a: None),
            match="np.pad")


def test_traced_repeats_nonlinear():
    _raises(linop.NonLinearError, lambda x: np.repeat(x, x.shape[0] * 0 + x[0]), x=np.zeros(3))


@pytest.mark.parametrize("fun,exc", [
    (lambda x: np.pad(x, -1), ValueError),
    (lambda x: np.pad(x, 1.5), TypeError),
    (lambda x: np.pad(x, 1, mode="bogus"), ValueError),
    (lambda x: np.pad(x, 1, mode="edge", foo=1), ValueError),
    (lambda x: np.pad(x[:0], 1, mode="edge"), ValueError),
    (lambda x: np.diff(x, -1), ValueError),
    (lambda x: np.diff(x[0, 0]), ValueError),
    (lambda x: np.roll(x, [[1]], axis=0), ValueError),
    (lambda x: np.roll(x, 1, axis=2), IndexError),
    (lambda x: np.cumsum(x, axis=2), IndexError),
    (lambda x: np.add.accumulate(x, axis=(0, 1)), ValueError),
    (lambda x: np.rot90(x, axes=(0, 0)), ValueError),
    (lambda x: np.rot90(x, axes=(0, 1, 2)), ValueError),
    (lambda x: np.repeat(x, [1, 2], axis=0), ValueError),
    (lambda x: np.repeat(x, -1), ValueError),
    (lambda x: np.tile(x, -1), ValueError),
    (lambda x: np.diag(x[None]), ValueError),
])
def test_numpy_errors(fun, exc):
    x = np.zeros((3, 4))
    with pytest.raises(exc):
        fun(x)
    with pytest.raises(exc):
        linop.trace(fun, x)


# -- properties -----------------------------------------------------------------------------

PAD_MODES = ["constant", "edge", "reflect", "symmetric", "wrap", "mean", "linear_ramp",
             "reflect-odd", "symmetric-odd"]


@st.composite
def pad_programs(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    widths = tuple((draw(st.integers(0, 6)), draw(st.integers(0, 6))) for _ in range(ndim))
    mode = draw(st.sampled_from(PAD_MODES))
    kwargs = {}
    if mode.endswith("-odd"):
        mode, kwargs = mode[:-4], {"reflect_type": "odd"}
    if mode == "mean" and draw(st.booleans()):
        kwargs = {"stat_length": (draw(st.integers(1, 4)), draw(st.integers(1, 4)))}
    dtype = draw(st.sampled_from(ALL))
    return (lambda x: np.pad(x, widths, mode=mode, **kwargs)), np.zeros(shape, dtype), \
        f"pad({widths}, {mode}, {kwargs})"


def _compare(fun, x, label):
    rng = np.random.default_rng(3)
    src = rng.standard_normal(x.shape)
    if np.iscomplexobj(x):
        src = src + 1j * rng.standard_normal(x.shape)
    src = src.astype(x.dtype)
    got, want = linop.trace(fun, x)(src), fun(src)
    assert got.dtype == want.dtype and got.shape == want.shape, label
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=label)
    check_transpose(fun, x)


@settings(max_examples=25, deadline=None)
@given(pad_programs())
def test_random_pad(program):
    _compare(*program)


@st.composite
def roll_programs(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    k = draw(st.integers(1, 3))
    shifts = tuple(draw(st.integers(-12, 12)) for _ in range(k))
    axes = tuple(draw(st.integers(-ndim, ndim - 1)) for _ in range(k))
    if draw(st.booleans()):
        return (lambda x: np.roll(x, shifts[0])), np.zeros(shape), f"roll({shifts[0]})"
    return (lambda x: np.roll(x, shifts, axis=axes)), np.zeros(shape, draw(st.sampled_from(ALL))), \
        f"roll({shifts}, {axes})"


@settings(max_examples=25, deadline=None)
@given(roll_programs())
def test_random_roll(program):
    _compare(*program)
