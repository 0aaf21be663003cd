"""scipy.fft on traced arrays: SciPy's own functions (through its backend mechanism) and linop.scipy.fft."""
from __future__ import annotations

import ast
import os
import warnings

import numpy as np
import pytest
import scipy.fft

import linop
import linop.scipy.fft as lfft
from linop.testing import check_transpose

import harness
from harness import COMPLEX, REAL, Case, case_id, check_all

THIS_FILE = os.path.basename(__file__)
X = np.zeros(8)

CASES = [
    Case("fft-scipy-backend", lambda x: scipy.fft.fft(x, 8, axis=0, norm="ortho"), ((5, 3),)),
    Case("fft", lambda x: lfft.fft(x, norm="forward"), ((6,),)),
    Case("ifft", lambda x: lfft.ifft(x, 4), ((6,),)),
    Case("rfft", lambda x: lfft.rfft(x, axis=0), ((5, 2),), REAL),
    Case("irfft", lambda x: lfft.irfft(x, 7), ((4,),), COMPLEX),
    Case("hfft", lambda x: lfft.hfft(x), ((4,),), COMPLEX),
    Case("ihfft", lambda x: lfft.ihfft(x, norm="ortho"), ((6,),), REAL),
    Case("fft2", lambda x: lfft.fft2(x, s=(3, 5)), ((4, 4),)),
    Case("ifft2", lambda x: lfft.ifft2(x), ((3, 4),)),
    Case("rfft2", lambda x: lfft.rfft2(x), ((4, 4),), REAL),
    Case("irfft2", lambda x: lfft.irfft2(x, s=(4, 6)), ((4, 4),), COMPLEX),
    Case("fftn", lambda x: lfft.fftn(x, s=(5,)), ((2, 3),)),
    Case("ifftn", lambda x: lfft.ifftn(x, axes=(0, 2)), ((2, 3, 2),)),
    Case("rfftn", lambda x: lfft.rfftn(x, s=(-1, 4)), ((3, 3),), REAL),
    Case("irfftn", lambda x: lfft.irfftn(x), ((3, 3),), COMPLEX),
    Case("hfft2", lambda x: lfft.hfft2(x, s=(3, 6)), ((4, 4),), COMPLEX),
    Case("hfft2-scipy-backend", lambda x: scipy.fft.hfft2(x, axes=(1, 0)), ((3, 4),), COMPLEX),
    Case("ihfft2", lambda x: lfft.ihfft2(x, norm="forward"), ((3, 4),), REAL),
    Case("hfftn", lambda x: lfft.hfftn(x, s=(5,)), ((2, 3),), COMPLEX),
    Case("hfftn-scipy-backend", lambda x: scipy.fft.hfftn(x, norm="ortho"), ((2, 3, 3),), COMPLEX),
    Case("ihfftn", lambda x: lfft.ihfftn(x, axes=(0, 2)), ((2, 3, 4),), REAL),
    Case("ihfftn-scipy-backend", lambda x: scipy.fft.ihfftn(x, s=(4, -1)), ((3, 3),), REAL),
    Case("fftshift", lambda x: lfft.fftshift(x), ((3, 4),)),
    Case("ifftshift-axes", lambda x: lfft.ifftshift(x, axes=0), ((5, 2),)),
    Case("fftshift-scipy", lambda x: scipy.fft.fftshift(x, axes=(1,)), ((3, 5),)),
    Case("fht", lambda x: lfft.fht(x, 0.1, 0.5), ((6,),), REAL),
    Case("fht-bias-scipy-backend", lambda x: scipy.fft.fht(x, 0.05, 1.5, offset=0.1, bias=0.4),
         ((2, 5),), REAL),
    Case("ifht", lambda x: lfft.ifht(x, 0.1, -0.5, bias=-0.3), ((7,),), REAL),
    Case("ifht-scipy-backend", lambda x: scipy.fft.ifht(A=x, dln=0.2, mu=0.0), ((6,),), REAL),
]

# -- cosine and sine transforms -------------------------------------------------------------
REAL_TRANSFORMS = ["dct", "idct", "dst", "idst"]
TYPES = [1, 2, 3, 4]
NORMS = [None, "backward", "ortho", "forward"]
ORTHOGONALIZE = [None, True, False]


def _one_d(name, via, **kw):
    return lambda x: getattr(via, name)(x, **kw)


# Every transform, type and norm (orthogonalize and the axis cycling through their options),
# through scipy.fft itself (the backend) and through linop.scipy.fft.
CASES += [
    Case(f"{name}{t}-{norm}-orth{orth}-axis{axis}",
         _one_d(name, scipy.fft if i % 2 else lfft, type=t, norm=norm, orthogonalize=orth,
                axis=axis), ((5, 3),))
    for i, (name, t, norm) in enumerate((n, t, m) for n in REAL_TRANSFORMS for t in TYPES
                                        for m in NORMS)
    for orth, axis in [(ORTHOGONALIZE[i % 3], (0, -1)[i % 2])]
]
CASES += [
    Case("dct-n-pads", lambda x: scipy.fft.dct(x, n=7), ((2, 5),)),
    Case("dst-n-crops", lambda x: lfft.dst(x, 1, 3, 0, "ortho"), ((5, 2),)),
    Case("idct-n-keywords", lambda x: scipy.fft.idct(x=x, type=3, n=4, overwrite_x=True, workers=2),
         ((4,),)),
    Case("dct1-two-points", lambda x: scipy.fft.dct(x, type=1, orthogonalize=True), ((2,),)),
    Case("dst1-one-point", lambda x: lfft.dst(x, type=1, norm="forward"), ((1,),)),
]
CASES += [
    Case(f"{name}n{t}-{norm}", _one_d(f"{name}n", scipy.fft if t % 2 else lfft, type=t, norm=norm,
                                      **kw), (shape,))
    for name in REAL_TRANSFORMS for t in TYPES
    for norm, kw, shape in [(NORMS[t - 1], {}, (3, 4)),
                            ("ortho", {"axes": (0, 2), "orthogonalize": False}, (2, 3, 4)),
                            (None, {"s": (5, 2)}, (3, 4)),
                            ("forward", {"s": (3, 2), "axes": (-1, 0)}, (4, 3))]
]
CASES += [
    Case("dctn-no-axes", lambda x: scipy.fft.dctn(x, axes=()), ((3, 2),)),
    Case("dctn-then-idctn", lambda x: scipy.fft.idctn(lfft.dctn(x, 1) * 2.0, 1, norm="ortho"),
         ((3, 4),)),
]


@pytest.mark.parametrize("param", [p for c in CASES for p in c.params()], ids=case_id)
def test_table(param):
    case, dtype = param
    check_all(case, dtype)


def _error(exc_type, fun, primal=X):
    with pytest.raises(exc_type) as info:
        linop.trace(fun, primal)
    msg = str(info.value)
    assert f"{THIS_FILE}:" in msg, f"no file:line of the user's code in: {msg}"
    return msg


RNG = np.random.default_rng(0)
A4x6 = RNG.normal(size=(4, 6))
C4x6 = A4x6 + 1j * RNG.normal(size=(4, 6))
SCIPY_FFT = [  # (id, function, primal)
    ("fft", lambda x: scipy.fft.fft(x), A4x6),
    ("fft_n_axis_norm", lambda x: scipy.fft.fft(x, 8, axis=0, norm="ortho"), C4x6),
    ("fft_keywords", lambda x: scipy.fft.fft(x=x, n=3, overwrite_x=True, workers=2), A4x6),
    ("ifft", lambda x: scipy.fft.ifft(x, norm="forward"), C4x6),
    ("rfft", lambda x: scipy.fft.rfft(x, 5), A4x6),
    ("irfft", lambda x: scipy.fft.irfft(x, 7), C4x6),
    ("hfft", lambda x: scipy.fft.hfft(x), C4x6),
    ("ihfft", lambda x: scipy.fft.ihfft(x), A4x6),
    ("fft2", lambda x: scipy.fft.fft2(x, s=(3, 8)), C4x6),
    ("ifft2", lambda x: scipy.fft.ifft2(x), C4x6),
    ("rfft2", lambda x: scipy.fft.rfft2(x), A4x6),
    ("irfft2", lambda x: scipy.fft.irfft2(x, s=(4, 6)), C4x6),
    ("fftn_s_without_axes", lambda x: scipy.fft.fftn(x, s=(5,)), C4x6),
    ("ifftn_axes", lambda x: scipy.fft.ifftn(x, axes=(0,)), C4x6),
    ("rfftn_minus_one", lambda x: scipy.fft.rfftn(x, s=(-1, 4)), A4x6),
    ("irfftn", lambda x: scipy.fft.irfftn(x), C4x6),
    ("float32", lambda x: scipy.fft.rfft(x), A4x6.astype(np.float32)),
    ("irfft_float16", lambda x: scipy.fft.irfft(x), A4x6.astype(np.float16)),
    ("linop.scipy.fft", lambda x: linop.scipy.fft.rfftn(x, s=(2, 2)), A4x6),
]


@pytest.mark.parametrize("name,fun,primal", SCIPY_FFT, ids=[c[0] for c in SCIPY_FFT])
def test_scipy_fft_on_tracers_matches_scipy(name, fun, primal):
    program = linop.trace(fun, primal)
    expected = fun(primal)
    got = program(primal)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    tol = 1e-2 if primal.dtype == np.float16 else 1e-5 if primal.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    if primal.dtype == np.float64 or primal.dtype == np.complex128:
        check_transpose(fun, primal)


def test_scipy_fft_refuses_what_scipy_refuses():
    with pytest.raises(ValueError, match="all axes must be unique"):
        linop.trace(lambda x: scipy.fft.fftn(x, axes=(0, 0)), A4x6)
    with pytest.raises(NotImplementedError, match="precomputed plan"):
        linop.trace(lambda x: scipy.fft.fft(x, plan=object()), A4x6)
    with pytest.raises(ValueError, match="workers must not be zero"):
        linop.trace(lambda x: scipy.fft.fft(x, workers=0), A4x6)


def test_a_dispatched_scipy_fft_function_linop_does_not_know_is_a_clear_error():
    # a scipy.fft multimethod that linop has no rule for (as a newer SciPy may add)
    from scipy._lib._uarray import Dispatchable, generate_multimethod

    def fancy(x):
        return (Dispatchable(x, np.ndarray),)

    fancy_mm = generate_multimethod(fancy, lambda args, kwargs, d: (d + args[1:], kwargs),
                                    "numpy.scipy.fft")
    msg = _error(linop.UnsupportedFunctionError, lambda x: fancy_mm(x))
    assert "scipy.fft.fancy" in msg and "scipy.fft.dct" not in msg and "dct" in msg
    assert "@linop.custom_linear" in msg


def test_scipy_fft_backend_only_inside_traces_and_only_for_tracers():
    before = scipy.fft.fft(A4x6)
    seen = []

    def f(x):
        seen.append(scipy.fft.fft(A4x6))  # a constant inside the trace: SciPy's own result
        return scipy.fft.fft(x)

    linop.trace(f, A4x6)
    np.testing.assert_array_equal(seen[0], before)
    assert isinstance(seen[0], np.ndarray)
    np.testing.assert_array_equal(scipy.fft.fft(A4x6), before)  # after the trace: untouched


def test_linop_scipy_fft_on_arrays_is_scipy():
    x = np.random.default_rng(1).normal(size=(4, 6))
    np.testing.assert_array_equal(lfft.rfft2(x, s=(3, 3)), scipy.fft.rfft2(x, s=(3, 3)))
    np.testing.assert_array_equal(lfft.irfft(x, 5, axis=0), scipy.fft.irfft(x, 5, axis=0))


# -- float16 data: every transform's result dtype is the reference's ----------------------
_FFT_NAMES = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2",
              "irfft2", "fftn", "ifftn", "rfftn", "irfftn"]
_SCIPY_ONLY = ["hfft2", "ihfft2", "hfftn", "ihfftn", "dct", "idct", "dst", "idst", "dctn", "idctn",
               "dstn", "idstn"]
_AXES = [{}, {"axes": (0,)}, {"axes": (1, 0)}]
HALF_PRECISION = (
    [("np.fft", np.fft, name, kw) for name in _FFT_NAMES for kw in
     ([{}, {"axis": 0}] if name[-1] not in "2n" else _AXES + ([{"axes": (0, 0)}]
                                                             if name.endswith("n") else []))]
    + [(mod, namespace, name, kw) for mod, namespace in (("scipy.fft", scipy.fft),
                                                         ("linop.scipy.fft", lfft))
       for name in _FFT_NAMES + _SCIPY_ONLY
       for kw in ([{}, {"axis": 0}] if name[-1] not in "2n" else _AXES)])


@pytest.mark.parametrize("dtype", [np.float16, np.complex64])
@pytest.mark.parametrize("module,namespace,name,kw", HALF_PRECISION,
                         ids=[f"{m}.{n}{sorted(k.values())}" for m, _, n, k in HALF_PRECISION])
def test_half_precision_result_dtypes_are_the_references(module, namespace, name, kw, dtype):
    x = np.ones((4, 4), dtype)
    reference = np.fft if module == "np.fft" else scipy.fft
    try:
        want = getattr(reference, name)(x, **kw)
    except TypeError:  # a real-input transform of complex data
        with pytest.raises(TypeError):
            linop.trace(lambda t: getattr(namespace, name)(t, **kw), x)
        return
    prog = linop.trace(lambda t: getattr(namespace, name)(t, **kw), x)
    assert prog.out_avals[0].dtype == want.dtype
    np.testing.assert_allclose(prog(x), want, rtol=1e-2, atol=1e-2)


# -- SciPy's argument checks, with SciPy's exceptions ------------------------------------
C44 = np.ones((4, 4)) + 1j
ARGUMENT_CHECKS = [  # (transform, data, keywords)
    ("rfftn", np.ones((4, 4)), {"axes": ()}),
    ("irfftn", C44, {"axes": ()}),
    ("rfft2", np.ones((4, 4)), {"axes": ()}),
    ("irfft2", C44, {"axes": ()}),
    ("fft", np.ones(4), {"workers": -100}),
    ("fftn", np.ones(4), {"workers": -(os.cpu_count() + 1)}),
    ("fft", np.ones(4), {"workers": 0}),
    ("rfft", C44, {}),
    ("ihfft", C44, {}),
    ("rfftn", C44, {}),
    ("rfft2", C44, {}),
    ("fft", np.ones(4), {"norm": "bad"}),
    ("rfftn", np.ones(4), {"norm": "bad"}),
    ("fft", np.ones(4), {"n": 0}),
    ("irfft", C44, {"n": -1}),
    ("hfftn", C44, {"axes": ()}),
    ("ihfft2", C44, {}),
    ("ihfftn", np.ones((4, 4)), {"s": (0, 2)}),
    ("dct", np.ones(4), {"norm": "bad"}),
    ("idst", np.ones(4), {"n": 0}),
    ("dst", np.ones(4), {"workers": 0}),
    ("dctn", np.ones((4, 4)), {"axes": (0, 0)}),
    ("idctn", np.ones((4, 4)), {"s": (3, 0)}),
    ("dstn", np.ones((4, 4)), {"axes": (2,)}),
    ("idstn", np.ones((4, 4)), {"s": (2, 2, 2)}),
    ("dctn", np.ones((4, 4)), {"norm": "ortho ", "axes": 1}),
    ("dctn", np.ones((4, 4)), {"s": "ab"}),
]


@pytest.mark.parametrize("via", ["scipy.fft", "linop.scipy.fft"])
@pytest.mark.parametrize("name,data,kw", ARGUMENT_CHECKS,
                         ids=[f"{n}-{sorted(k.items())}" for n, _, k in ARGUMENT_CHECKS])
def test_argument_checks_are_scipys(name, data, kw, via):
    namespace = scipy.fft if via == "scipy.fft" else lfft
    with pytest.raises(Exception) as want:
        getattr(scipy.fft, name)(data, **kw)
    with pytest.raises(want.type) as got:
        linop.trace(lambda t: getattr(namespace, name)(t, **kw), data)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("workers", [-1, -os.cpu_count(), 1, 64])
def test_workers_scipy_accepts_are_accepted(workers):
    x = np.arange(8.0)
    prog = linop.trace(lambda t: scipy.fft.fft(t, workers=workers), x)
    np.testing.assert_allclose(prog(x), scipy.fft.fft(x, workers=workers))


# -- every DCT/DST option: forward == SciPy, dense oracle in 4 dtypes, double transpose, vmap ---
REAL_GRID = [(name, t, norm, orth, axis) for name in REAL_TRANSFORMS for t in TYPES
             for norm in NORMS for orth in ORTHOGONALIZE for axis in (0, -1)]


def _vmap_equals_loop(fun, shape, dtype):
    xs = harness.random_args((linop.ShapeDtype((3,) + shape, dtype),), seed=2)[0]
    want = np.stack([fun(x) for x in xs])
    harness.assert_tree_close(linop.vmap(fun)(xs), want, 1e-5 if want.itemsize <= 8 else 1e-11)


@pytest.mark.parametrize("name,t,norm,orth,axis", REAL_GRID,
                         ids=[f"{n}{t}-{m}-orth{o}-axis{a}" for n, t, m, o, a in REAL_GRID])
def test_every_dct_dst_option(name, t, norm, orth, axis):
    case = Case(name, _one_d(name, scipy.fft, type=t, norm=norm, orthogonalize=orth, axis=axis),
                ((4, 3),))
    for param in case.params():
        check_all(*param)
    for dtype in (np.float64, np.complex64):
        _vmap_equals_loop(case.fun, (4, 3), dtype)


@pytest.mark.parametrize("name", REAL_TRANSFORMS)
@pytest.mark.parametrize("t", TYPES)
def test_real_transforms_record_one_primitive_and_transposes_of_the_transposed_type(name, t):
    program = linop.trace(lambda x: scipy.fft.__dict__[name](x, t, norm="ortho"), np.zeros(6))
    assert [e.prim.name for e in program.eqns] == ["dct"]
    (transposed,) = linop.transpose(program).eqns  # orthonormal: one call, no scaling
    assert transposed.params["type"] == {1: 1, 2: 3, 3: 2, 4: 4}[t]


def test_transpose_of_the_default_dct_is_one_scaling_and_one_orthonormal_dct3():
    transposed = linop.transpose(linop.trace(scipy.fft.dct, np.zeros(6)))
    assert [e.prim.name for e in transposed.eqns] == ["mul", "dct"]
    assert transposed.eqns[1].params["type"] == 3 and transposed.eqns[1].params["norm"] == "ortho"


@pytest.mark.parametrize("kind", ["dct", "dst"])
@pytest.mark.parametrize("t", TYPES)
@pytest.mark.parametrize("n", [1, 2, 5])
def test_factors_reproduce_scipys_matrices(kind, t, n):
    from linop.primitives.dct import factors

    if kind == "dct" and t == 1 and n == 1:
        return
    for norm in ("backward", "ortho", "forward"):
        for orth in (False, True):
            for inverse in (False, True):
                want = getattr(scipy.fft, ("i" if inverse else "") + kind)(
                    np.eye(n), t, axis=0, norm=norm, orthogonalize=orth)
                s, a, b, otype = factors(kind, t, n, norm, orth, inverse)
                o = getattr(scipy.fft, kind)(np.eye(n), otype, axis=0, norm="ortho")
                np.testing.assert_allclose(s * a[:, None] * o * b, want, rtol=1e-13, atol=1e-13)


REAL_DTYPES = [  # (input dtype, SciPy's output dtype)
    (np.float16, np.float32), (np.float32, np.float32), (np.float64, np.float64),
    (np.complex64, np.complex64), (np.complex128, np.complex128)]


@pytest.mark.parametrize("dtype,want", REAL_DTYPES)
@pytest.mark.parametrize("name", ["dct", "idst", "dctn", "idstn"])
def test_real_transform_dtypes_are_scipys(name, dtype, want):
    x = np.ones((3, 4), dtype)
    assert getattr(scipy.fft, name)(x).dtype == want
    program = linop.trace(getattr(scipy.fft, name), x)
    assert program.out_avals[0].dtype == want and program(x).dtype == want


def test_dctn_without_axes_is_the_input_in_its_own_dtype():
    x = np.arange(6.0, dtype=np.float16).reshape(2, 3)
    program = linop.trace(lambda t: scipy.fft.dctn(t, axes=[]), x)
    assert program.out_avals[0].dtype == np.float16 and not program.eqns
    np.testing.assert_array_equal(program(x), scipy.fft.dctn(x, axes=[]))


def test_complex_data_follows_scipy_which_ignores_orthogonalize_there():
    x = RNG.normal(size=6) + 1j * RNG.normal(size=6)
    fun = lambda t: scipy.fft.dct(t, norm="ortho", orthogonalize=False)
    per_part = fun(x.real) + 1j * fun(x.imag)
    assert not np.allclose(fun(x), per_part)  # SciPy's own behaviour on complex data
    np.testing.assert_allclose(linop.trace(fun, x)(x), fun(x), rtol=1e-13, atol=1e-13)
    check_transpose(fun, x)


# -- SciPy's errors for bad DCT/DST arguments ---------------------------------------------------
REAL_ERRORS = [  # (function, keywords, data)
    ("dct", {"type": 5}, np.ones(4)),
    ("idst", {"type": 0}, np.ones(4)),
    ("dctn", {"type": 5}, np.ones((2, 2))),
    ("dct", {"type": 2.0}, np.ones(4)),
    ("dst", {"type": "2"}, np.ones(4)),
    ("dct", {"norm": "unitary"}, np.ones(4)),
    ("dct", {"axis": 2}, np.ones((4, 4))),
    ("idct", {"n": 2.5}, np.ones(4)),
    ("dct", {"type": 1}, np.ones(1)),
    ("dctn", {"type": 1}, np.ones((1, 3))),
]


@pytest.mark.parametrize("via", ["scipy.fft", "linop.scipy.fft"])
@pytest.mark.parametrize("name,kw,data", REAL_ERRORS,
                         ids=[f"{n}-{sorted(k.items())}" for n, k, _ in REAL_ERRORS])
def test_real_transform_errors_are_scipys_exception_types(name, kw, data, via):
    namespace = scipy.fft if via == "scipy.fft" else lfft
    with pytest.raises(Exception) as want:
        getattr(scipy.fft, name)(data, **kw)
    with pytest.raises(want.type):
        linop.trace(lambda t: getattr(namespace, name)(t, **kw), data)


def test_bad_dct_type_and_one_point_dct1_say_what_to_do():
    with pytest.raises(ValueError, match="invalid DCT type 5: scipy.fft has DCT types 1, 2, 3 and 4"):
        linop.trace(lambda t: scipy.fft.dct(t, 5), X)
    msg = _error(RuntimeError, lambda t: scipy.fft.dct(t, 1), np.ones(1))
    assert "at least 2 points" in msg


# -- the backend: only tracers, only inside traces, per thread -----------------------------------
PASSED_THROUGH = ["fftfreq", "rfftfreq", "next_fast_len", "prev_fast_len", "fhtoffset",
                  "get_workers", "set_workers", "set_backend", "skip_backend",
                  "set_global_backend", "register_backend"]


def test_every_scipy_fft_name_is_in_linop_scipy_fft():
    assert set(scipy.fft.__all__) <= set(lfft.__all__)
    for name in PASSED_THROUGH:
        assert getattr(lfft, name) is getattr(scipy.fft, name)


ON_ARRAYS = [("dct", (3,), {"norm": "ortho"}), ("idstn", (2,), {"axes": 0}), ("hfftn", (), {}),
             ("ihfft2", (), {}), ("fht", (0.1, 0.3), {"bias": 0.2}), ("ifftshift", (), {}),
             ("dstn", (1,), {"s": (3, 5), "orthogonalize": False})]


@pytest.mark.parametrize("name,args,kw", ON_ARRAYS, ids=[n for n, _, _ in ON_ARRAYS])
def test_linop_scipy_fft_on_arrays_is_exactly_scipy(name, args, kw):
    x = RNG.normal(size=(4, 6))
    got, want = getattr(lfft, name)(x, *args, **kw), getattr(scipy.fft, name)(x, *args, **kw)
    assert type(got) is type(want) and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_constants_inside_a_trace_are_scipys_results():
    before = scipy.fft.dct(A4x6, 1)
    seen = []

    def f(x):
        seen.append(scipy.fft.dct(A4x6, 1))
        return scipy.fft.dct(x, 1)

    program = linop.trace(f, A4x6)
    assert [e.prim.name for e in program.eqns] == ["dct"]
    assert isinstance(seen[0], np.ndarray)
    np.testing.assert_array_equal(seen[0], before)
    np.testing.assert_array_equal(scipy.fft.dct(A4x6, 1), before)


def test_traces_in_threads_do_not_see_each_other_or_plain_calls():
    import threading

    barrier, results, errors = threading.Barrier(3), {}, []

    def trace_in_thread(key, fun):
        try:
            barrier.wait()
            for _ in range(20):
                program = linop.trace(fun, A4x6)
            results[key] = program(A4x6)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def plain_calls():
        try:
            barrier.wait()
            for _ in range(200):
                out = scipy.fft.dst(A4x6)
                assert isinstance(out, np.ndarray)
            results["plain"] = out
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=trace_in_thread, args=("dct", lambda x: scipy.fft.dct(x, 4))),
               threading.Thread(target=trace_in_thread, args=("fft", lambda x: scipy.fft.fft(x))),
               threading.Thread(target=plain_calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    np.testing.assert_allclose(results["dct"], scipy.fft.dct(A4x6, 4), rtol=1e-12)
    np.testing.assert_allclose(results["fft"], scipy.fft.fft(A4x6), rtol=1e-12)
    np.testing.assert_array_equal(results["plain"], scipy.fft.dst(A4x6))


# -- fht from SciPy's public functions only -------------------------------------------------
FHT_PARAMS = [  # (n, dln, mu, offset, bias); n = 1, 2 and singular transforms included
    (1, 0.1, 0.5, 0.0, 0.0), (2, 0.1, 0.5, 0.2, 0.3), (7, 0.05, 1.5, -0.1, -0.4),
    (8, 0.3, -0.5, 0.0, 0.7), (9, 0.01, 3.0, 0.5, 0.0),
    (6, 0.1, 0.0, 0.0, -1.0),   # fht singular (SciPy zeroes u[0] and warns)
    (6, 0.1, 0.0, 0.0, 1.0),    # ifht singular
]


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("n, dln, mu, offset, bias", FHT_PARAMS)
def test_traced_fht_matches_scipy(inverse, n, dln, mu, offset, bias):
    a = np.random.default_rng(n).normal(size=(2, n))

    def f(x):
        return (scipy.fft.ifht if inverse else scipy.fft.fht)(x, dln, mu, offset=offset, bias=bias)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # SciPy's "singular transform"
        warnings.filterwarnings("ignore", "singular", UserWarning)
        expected = f(a)
        got = linop.trace(f, a)(a)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
        check_transpose(f, a)


_FFT_SOURCES = ["linop/scipy/fft.py", "linop/primitives/dct.py", "linop/primitives/fft.py",
                "linop/numpy_api/fft.py"]


def _private_scipy_imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "scipy" and any(p.startswith("_") for p in parts):
                yield name


@pytest.mark.parametrize("source", _FFT_SOURCES)
def test_the_fft_modules_use_no_private_scipy_module(source):
    # scipy.fft._fftlog_backend does not exist in SciPy 1.11 (which pyproject supports):
    # importing it made `import linop` fail there
    root = os.path.dirname(os.path.dirname(os.path.abspath(linop.__file__)))
    assert list(_private_scipy_imports(os.path.join(root, source))) == []


@pytest.mark.parametrize("fun, name", [
    (lambda x: scipy.fft.fht(x, x[0], 0.5), "'dln'"),
    (lambda x: lfft.fht(x, 0.1, x[0]), "'mu'"),
    (lambda x: scipy.fft.ifht(x, 0.1, 0.5, bias=x[1]), "'bias'"),
    (lambda x: lfft.ifht(x, 0.1, 0.5, offset=x[1]), "'offset'"),
])
def test_a_traced_fht_parameter_is_named(fun, name):
    # was np.exp's "not linear" or np.add's "affine", naming neither fht nor the parameter
    msg = _error(linop.NonLinearError, fun, np.zeros(6))
    assert "fht" in msg and name in msg
