"""The fused (numba) executor: the whole table on both executors, fallback, disk cache, threads, options."""
import inspect
import os
import pathlib
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import linop
from linop import ir
from linop.errors import ExecutorError, FusedExecutorWarning
from linop.fused import executor as fused_executor
from linop.fused import regions
from linop.testing import tolerance_for

import harness
from harness import run_in_threads

numba = pytest.importorskip("numba")


def _table():
    """Every third program of the table and a cover of every (primitive, dtype kind, mode)
    (:func:`harness.sweep_cases`; LINOP_TEST_SWEEP=all: every program), each in one of its
    dtypes (rotating through all four over the table), or in all of them with
    LINOP_TEST_FUSED_DTYPES=all: a numba compilation costs ~0.1 s per kernel, and the whole
    table would take the suite to its budget."""
    every = os.environ.get("LINOP_TEST_FUSED_DTYPES") == "all"
    rows = []
    for k, name, case in harness.sweep_cases(stride=3):
        dtypes = case.dtypes if every else [case.dtypes[k % len(case.dtypes)]]
        rows += [(name, case, np.dtype(d)) for d in dtypes]
    return rows


TABLE = _table()


@pytest.fixture(scope="module", autouse=True)
def kernel_cache(tmp_path_factory):
    """Kernels of this module compile into a temporary cache directory."""
    old = os.environ.get("LINOP_CACHE_DIR")
    os.environ["LINOP_CACHE_DIR"] = str(tmp_path_factory.mktemp("kernels"))
    yield
    if old is None:
        os.environ.pop("LINOP_CACHE_DIR")
    else:
        os.environ["LINOP_CACHE_DIR"] = old


def _same(got, want, inputs, rtol):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert isinstance(g, np.ndarray) and g.shape == w.shape and g.dtype == w.dtype
        assert not any(np.may_share_memory(g, a) for a in inputs)
        scale = max(np.linalg.norm(np.asarray(w, np.complex128).ravel()), 1e-30)
        err = np.linalg.norm((g.astype(np.complex128) - w).ravel()) / scale
        assert err <= rtol, f"relative error {err:.3g} > {rtol:g}"


def _agree(program, seed):
    args = [harness.random_like(v.aval, np.random.default_rng(seed)) for v in program.invars]
    # the least precise of inputs and outputs: a complex64 output of complex128 inputs rounds
    rtol = 10 * tolerance_for([v.aval.dtype for v in program.invars + program.outvars]
                              or [np.float64])
    want = program.call_flat(args, "numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FusedExecutorWarning)
        got = program.call_flat(args, "numba")
    _same(got, want, args, max(rtol, 1e-11))


@pytest.mark.parametrize("name, case, dtype", TABLE, ids=[f"{n}-{d.name}" for n, _, d in TABLE])
def test_table_runs_alike_on_both_executors(name, case, dtype):
    primals = case.primals(dtype)
    program = linop.trace(case.fun, *primals)
    _agree(program, 0)
    _agree(linop.transpose(program), 1)


def _stencil(x):
    return 2.0 * x[2:] - x[1:-1] - x[:-2]


def _program(n=12, dtype=np.float64):
    return linop.trace(_stencil, linop.ShapeDtype((n,), dtype))


def test_programs_of_one_structure_share_a_kernel():
    small, large = fused_executor.fused_plan(_program(12)), fused_executor.fused_plan(_program(40))
    assert isinstance(small, fused_executor.FusedPlan) and len(small.kernels) == 1
    assert small.kernels[0] is large.kernels[0]


def test_a_small_program_compiles_to_one_kernel_call():
    def chain(x):
        y = np.pad(np.roll(3.0 * x[::-1], 2), 3)[::2] * 0.5
        return np.cumsum(np.concatenate([y, np.zeros(4)])[2:-2].reshape(4, -1), axis=1)

    program = linop.trace(chain, np.zeros(50))
    assert len(program.eqns) >= 8
    assert len(fused_executor.fused_plan(program).kernels) == 1
    _agree(program, 3)
    _agree(linop.transpose(program), 4)


def test_repeated_steps_compile_one_kernel():
    def chain(x):
        y = x * 3.0
        for k in range(8):
            y = np.roll(y, 1) - (k + 0.5) * y[::-1]
        return y

    program = linop.trace(chain, np.zeros(50))
    kernels = fused_executor.fused_plan(program).kernels
    assert len(kernels) == 9 and len({id(k) for k in kernels}) == 2
    _agree(program, 3)
    _agree(linop.transpose(program), 4)


def test_library_steps_run_between_kernels():
    matrix = np.random.default_rng(0).standard_normal((30, 30))

    def fun(x):
        return np.fft.fft(matrix @ (x[1:] - x[:-1]) * 2.0).real[::2]

    program = linop.trace(fun, np.zeros(31))
    plan = fused_executor.fused_plan(program)
    assert isinstance(plan, fused_executor.FusedPlan) and len(plan.kernels) == 3
    _agree(program, 5)
    _agree(linop.transpose(program), 6)


def test_compile_failure_falls_back_to_numpy_with_one_warning(monkeypatch):
    def broken(source):
        raise RuntimeError("no compiler today")

    monkeypatch.setattr(fused_executor, "kernel_for", broken)
    program = _program(15)
    x = np.arange(15.0)
    with pytest.warns(FusedExecutorWarning, match="no compiler today.*NumPy executor") as record:
        first = program.call_flat([x], "numba")[0]
        second = program.call_flat([x], "numba")[0]
    assert len(record) == 1
    np.testing.assert_array_equal(first, _stencil(x))
    np.testing.assert_array_equal(second, _stencil(x))


def _fallback_warnings(calls):
    """The FusedExecutorWarnings of ``calls()`` under Python's default filter."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("default")
        calls()
    return [r for r in record if issubclass(r.category, FusedExecutorWarning)]


def _assert_at_this_line(record, lines):
    """Each warning is issued at (and names) one of ``lines`` of this file, in order."""
    assert [(pathlib.Path(r.filename), r.lineno) for r in record] == [
        (pathlib.Path(__file__), line) for line in lines]
    for r, line in zip(record, lines):
        assert f"{__file__}:{line}" in str(r.message)
        assert "executor='numpy'" in str(r.message) and "report" in str(r.message)


def test_fallback_warnings_are_at_the_users_line_once_per_program(monkeypatch):
    def broken(source):
        raise RuntimeError("no compiler today")

    monkeypatch.setattr(fused_executor, "kernel_for", broken)
    x = np.arange(15.0)
    programs = [_program(15), linop.trace(lambda x: 3.0 * x[1:] - x[:-1], x)]
    lines = []

    def calls():
        for program in programs:  # two programs run from one line: a warning each
            lines.append(inspect.currentframe().f_lineno + 1)
            program.call_flat([x], "numba")
        for program in programs:
            program.call_flat([x], "numba")  # no more warnings

    record = _fallback_warnings(calls)
    _assert_at_this_line(record, lines)
    assert len(lines) == 2 and lines[0] == lines[1]


def test_serial_variant_compiled_at_first_call_falls_back_to_numpy(monkeypatch):
    program = linop.trace(_laplacian, np.zeros((64, 48)))
    monkeypatch.setattr(fused_executor, "PARALLEL_MIN_ELEMENTS", 1000)
    plan = fused_executor.fused_plan(program)
    assert plan.parallel_calls and all(call.serial is None for call in plan.parallel_calls)
    x = np.random.default_rng(0).standard_normal((64, 48))
    want = program.call_flat([x], "numpy")[0]

    def broken(kernel, spec, parts=False):
        raise RuntimeError("no compiler today")

    monkeypatch.setattr(fused_executor, "_compile", broken)
    lines, results = [], []

    def calls():
        for _ in range(4):  # the first call runs the parallel variant, the second the serial one
            lines.append(inspect.currentframe().f_lineno + 1)
            results.append(program.call_flat([x], "numba")[0])

    record = _fallback_warnings(calls)
    _assert_at_this_line(record, lines[1:2])
    assert "no compiler today" in str(record[0].message)
    assert plan.fell_back
    for got in results:
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


_CACHE_SCRIPT = """
import numpy as np, linop
from linop.fused import fused_plan
program = linop.trace(lambda x: np.cumsum(2.0 * x[1:] - x[:-1])[::-1], np.zeros(7))
plan = fused_plan(program)
out = plan.run(np.arange(7.0))[0]
print(sum(sum(k.stats.cache_hits.values()) for k in plan.kernels), len(plan.kernels),
      out.tolist())
"""


def test_kernels_are_cached_on_disk_for_a_new_process(tmp_path):
    root = str(pathlib.Path(linop.__file__).parent.parent)
    env = dict(os.environ, LINOP_CACHE_DIR=str(tmp_path / "kernels"),
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    runs = [subprocess.run([sys.executable, "-c", _CACHE_SCRIPT], env=env, capture_output=True,
                           text=True, check=True).stdout.split(maxsplit=2) for _ in range(2)]
    (hits_first, count, out_first), (hits_second, _, out_second) = runs
    assert int(hits_first) == 0 and int(hits_second) == int(count) >= 1
    assert out_first == out_second
    assert list((tmp_path / "kernels").glob("kernel_*.py"))


def test_threads_share_plans_and_results_stay_exact():
    program = _program(2000)
    transposed = linop.transpose(program)
    inputs = [np.random.default_rng(k).standard_normal(2000) for k in range(16)]
    wants = [transposed.call_flat([_stencil(x)], "numpy")[0] for x in inputs]
    results = [None] * len(inputs)

    def work(k):
        y = program.call_flat([inputs[k]], "numba")[0]
        results[k] = transposed.call_flat([y], "numba")[0]

    run_in_threads(work, len(inputs))
    for got, want in zip(results, wants):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def test_operator_executors_agree_on_matvec_rmatvec_and_matmat():
    ops = {name: linop.aslinearoperator(_stencil, np.zeros(300, np.complex128), executor=name)
           for name in ("numpy", "numba", "auto")}
    rng = np.random.default_rng(0)
    x = rng.standard_normal(300) + 1j * rng.standard_normal(300)
    y = rng.standard_normal(298) + 1j * rng.standard_normal(298)
    X = rng.standard_normal((300, 16))
    for op in ops.values():
        assert op.H.executor == op.executor
        np.testing.assert_allclose(op.matvec(x), ops["numpy"].matvec(x), rtol=1e-13)
        np.testing.assert_allclose(op.rmatvec(y), ops["numpy"].rmatvec(y), rtol=1e-13)
        np.testing.assert_allclose(op.matmat(X), ops["numpy"].matmat(X), rtol=1e-13)


@pytest.mark.parametrize("bad", ["jax", "", 3])
def test_unknown_executor_names_are_clear_errors(bad):
    with pytest.raises(ExecutorError, match=r"is not an executor: use one of 'numpy', 'numba', 'auto'"):
        linop.aslinearoperator(_stencil, np.zeros(5), executor=bad)


def test_program_call_with_an_unknown_executor_lists_the_registered_ones():
    with pytest.raises(ExecutorError, match="no executor named 'fast'.*'auto'"):
        _program().call_flat([np.zeros(12)], "fast")


def test_numba_without_numba_says_what_to_install(monkeypatch):
    monkeypatch.setattr(fused_executor, "numba_installed", lambda: False)
    with pytest.raises(ExecutorError, match=r"pip install \"linop\[fast\]\""):
        linop.aslinearoperator(_stencil, np.zeros(5), executor="numba")
    program = _program(30)
    assert fused_executor.plan_for(program, "auto") is not None
    np.testing.assert_array_equal(program(np.arange(30.0)), _stencil(np.arange(30.0)))


def test_auto_fuses_only_programs_worth_compiling():
    small = _program(50)
    assert not isinstance(fused_executor.plan_for(small, "auto"), fused_executor.FusedPlan)
    assert not isinstance(fused_executor.plan_for(small, "auto"), fused_executor.FusedPlan)
    large = _program(fused_executor.AUTO_MIN_ELEMENTS)
    x = np.random.default_rng(0).standard_normal(fused_executor.AUTO_MIN_ELEMENTS)
    first = fused_executor.plan_for(large, "auto")
    assert not isinstance(first, fused_executor.FusedPlan)
    np.testing.assert_allclose(first.run(x)[0], _stencil(x), rtol=1e-14)
    large.executor_cache["auto"].numpy_seconds = fused_executor.AUTO_MIN_SECONDS
    assert isinstance(fused_executor.plan_for(large, "auto"), fused_executor.FusedPlan)
    np.testing.assert_allclose(large(x), _stencil(x), rtol=1e-14)


def test_auto_keeps_slice_write_chains_on_numpy():
    def rows(x):
        y = np.zeros_like(x)
        for i in range(1, x.shape[0] - 1):
            y[i] = x[i - 1] - x[i + 1]
        return y
    program = linop.trace(rows, linop.ShapeDtype((256, 256), np.float64))
    assert fused_executor.slice_writes(program) >= fused_executor.AUTO_MAX_SLICE_WRITES
    program.executor_cache.pop("auto", None)
    choice = fused_executor.plan_for(program, "auto")
    assert not program.executor_cache["auto"].worth
    assert not isinstance(choice, fused_executor.FusedPlan)
    assert ir.DEFAULT_EXECUTOR == "auto"


def test_outputs_are_fresh_even_for_pass_through_and_repeated_outputs():
    program = linop.trace(lambda x, y: (x, y[::2] * 2.0, x), np.zeros(4), np.zeros(6))
    x, y = np.arange(4.0), np.arange(6.0)
    a, b, c = program.call_flat([x, y], "numba")
    assert not np.may_share_memory(a, x) and not np.may_share_memory(a, c)
    np.testing.assert_array_equal(a, x)
    np.testing.assert_array_equal(b, y[::2] * 2.0)
    assert a.flags.writeable and c.flags.writeable


@pytest.mark.parametrize("name", ["numpy", "numba", "auto"])
def test_linear_transpose_and_programs_take_an_executor(name):
    fun = lambda x: np.cumsum(x)[::2]
    x, ct = np.arange(5.0), np.array([1.0, -2.0, 0.5])
    program = linop.trace(fun, x)
    np.testing.assert_allclose(program(x, executor=name), fun(x))
    (got,) = linop.linear_transpose(fun, x, executor=name)(ct)
    np.testing.assert_allclose(got, linop.testing.dense_matrix(fun, x).T @ ct)


def test_unknown_executor_of_linear_transpose_and_programs_is_a_clear_error():
    with pytest.raises(ExecutorError, match="test_fused.py:.*use one of"):
        linop.linear_transpose(np.negative, np.zeros(2), executor="jax")
    with pytest.raises(ExecutorError, match="'jax'.*test_fused.py:"):
        linop.trace(np.negative, np.zeros(2))(np.ones(2), executor="jax")


def _row_writes(x):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] = 2.0 * x[i] - x[i - 1]
    return y


def _strided_accumulations(x):
    y = x[::-1] * 0.5
    for i in range(0, x.shape[0] - 1, 2):
        y[i] += 3.0 * x[i + 1]
        y[i + 1, ::2] -= x[i, ::2]
    return y


def _scaled_rows(x):
    y = np.ones_like(x) * x[0]
    for i in range(1, x.shape[0]):
        y[i] = (i + 0.5) * x[i]  # a constant of its own per row
    return y


def _split_chain(x):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] = x[i] * 2.0
        if i == x.shape[0] // 2:
            z = y * 3.0  # an intermediate version is read: the chain is cut there
    return y + z


SLICE_WRITE_CHAINS = [
    (_row_writes, (12, 5), np.float64), (_row_writes, (16, 4), np.complex64),
    (_strided_accumulations, (14, 6), np.float32), (_strided_accumulations, (16, 3), np.complex128),
    (_scaled_rows, (14, 3), np.float64), (_split_chain, (30, 3), np.float64),
]


@pytest.mark.parametrize("fun, shape, dtype", SLICE_WRITE_CHAINS,
                         ids=[f"{f.__name__}-{s}-{np.dtype(d).name}" for f, s, d in SLICE_WRITE_CHAINS])
def test_slice_write_chains_run_alike_on_both_executors(fun, shape, dtype):
    program = linop.trace(fun, linop.ShapeDtype(shape, dtype))
    assert fused_executor.slice_writes(program) >= regions.MIN_UPDATE_CHAIN
    _agree(program, 7)
    _agree(linop.transpose(program), 8)


def test_a_row_loop_is_one_kernel_that_loops_over_its_rows_and_any_size_shares_it():
    plans = [fused_executor.fused_plan(linop.trace(_row_writes, linop.ShapeDtype((n, 6), np.float64)))
             for n in (16, 40)]
    assert all(len(plan.kernels) == 1 for plan in plans)
    assert plans[0].kernels[0] is plans[1].kernels[0]
    source = inspect.getsource(plans[0].kernels[0].py_func)
    assert source.count("for ") < 16 and "T[" in source  # rows are a loop, not 16 copies
    x = np.random.default_rng(0).standard_normal((40, 6))
    np.testing.assert_array_equal(plans[1].run(x)[0], _row_writes(x))


def test_outputs_that_view_one_buffer_are_separate_arrays():
    def two(x):
        y = _row_writes(x)
        return y, y.reshape(-1), y.T

    program = linop.trace(two, np.zeros((8, 3)))
    x = np.random.default_rng(1).standard_normal((8, 3))
    got = program.call_flat([x], "numba")
    want = program.call_flat([x], "numpy")
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g, w)
        assert g.flags.writeable
        assert not any(np.may_share_memory(g, other) for other in got[:k] + [x])


def _laplacian(x):
    inner = x[2:, 1:-1] + x[:-2, 1:-1] + x[1:-1, 2:] + x[1:-1, :-2] - 4.0 * x[1:-1, 1:-1]
    return np.pad(inner, 1)


def _parallel_plans(monkeypatch, program):
    """The program's plan with parallel loops (from 1000 elements on) and a serial one."""
    monkeypatch.setattr(fused_executor, "PARALLEL_MIN_ELEMENTS", 1 << 60)
    serial = fused_executor.FusedPlan(program)
    monkeypatch.setattr(fused_executor, "PARALLEL_MIN_ELEMENTS", 1000)
    return fused_executor.FusedPlan(program), serial


@pytest.mark.parametrize("fun, shape", [(_laplacian, (64, 48)), (_stencil, (5000,)),
                                        (_row_writes, (200, 6))],
                         ids=["laplacian", "stencil", "row-loop"])
def test_parallel_loops_give_the_serial_results_exactly(monkeypatch, fun, shape):
    program = linop.trace(fun, np.zeros(shape))
    for prog, seed in ((program, 0), (linop.transpose(program), 1)):
        parallel, serial = _parallel_plans(monkeypatch, prog)
        assert parallel.parallel_calls and not serial.parallel_calls
        assert any(k.targetoptions.get("parallel") for k in parallel.kernels)
        x = np.random.default_rng(seed).standard_normal(prog.invars[0].aval.shape)
        want = serial.run(x)[0]
        for _ in range(8):  # the first calls alternate between the variants
            np.testing.assert_array_equal(parallel.run(x)[0], want)
        assert all(np.isfinite(call.best).all() for call in parallel.parallel_calls)
        np.testing.assert_allclose(want, prog.call_flat([x], "numpy")[0], rtol=1e-13, atol=1e-13)


def test_threads_calling_parallel_kernels_at_once_get_exact_results(monkeypatch):
    program = linop.trace(_laplacian, np.zeros((64, 48)))
    parallel, serial = _parallel_plans(monkeypatch, program)
    inputs = [np.random.default_rng(k).standard_normal((64, 48)) for k in range(12)]
    wants = [serial.run(x)[0] for x in inputs]
    results = [None] * len(inputs)
    barrier = threading.Barrier(len(inputs))

    def work(k):
        barrier.wait()
        results[k] = [parallel.run(inputs[k])[0] for _ in range(20)]

    run_in_threads(work, len(inputs))
    for got, want in zip(results, wants):
        for g in got:
            np.testing.assert_array_equal(g, want)


def test_parallel_loops_can_be_turned_off(monkeypatch):
    monkeypatch.setattr(fused_executor, "PARALLEL_MIN_ELEMENTS", 1000)
    monkeypatch.setenv(fused_executor.PARALLEL_ENV, "0")
    plan = fused_executor.FusedPlan(linop.trace(_laplacian, np.zeros((64, 48))))
    assert not plan.parallel_calls
    assert not any(k.targetoptions.get("parallel") for k in plan.kernels)


def test_small_kernels_and_running_sums_stay_serial():
    def accumulations(x):
        return np.cumsum(x, axis=0).sum(axis=1)

    program = linop.trace(accumulations, np.zeros((4000, 80)))
    plan = fused_executor.fused_plan(program)
    assert len(plan.kernels) == 2 and not plan.kernels[0].targetoptions.get("parallel")
    assert len(plan.parallel_calls) == 1  # the running sums are serial; the sums are not
    assert fused_executor.fused_plan(_program(2000)).parallel_calls == []  # below the threshold


def test_an_operators_reshaped_input_is_read_through_a_view():
    op = linop.aslinearoperator(_laplacian, np.zeros((30, 20)), executor="numba")
    plan = fused_executor.fused_plan(op.flat_program)
    source = inspect.getsource(plan.kernels[0].py_func)
    assert "x0.reshape(" in source and "//" not in source
    x = np.random.default_rng(2).standard_normal(600)
    np.testing.assert_array_equal(op.matvec(x), _laplacian(x.reshape(30, 20)).ravel())


def _cumsum_rows(x):
    return np.cumsum(2.0 * x, axis=1)[:, ::-1]


_PERMUTATION = np.random.default_rng(3).permutation(3000)


def _permuted(x):
    return 2.0 * x[_PERMUTATION]  # its adjoint is a scatter-add to positions never repeated


def _flipped_flat(x):
    return (x * 3.0)[::-1].reshape(-1)  # a stored reshape


def _sums_of_planes(x):
    return (2.0 * x).sum(axis=(0, 2))  # each sum adds elements of every plane


@pytest.mark.parametrize("fun, shape", [(_cumsum_rows, (60, 50)), (_flipped_flat, (40, 60)),
                                        (_permuted, (3000,)), (_sums_of_planes, (6, 40, 30))],
                         ids=["cumsum-rows", "stored-reshape", "unique-scatter", "sums"])
def test_parallel_loop_rules_of_primitives_give_the_serial_results_exactly(monkeypatch, fun, shape):
    program = linop.trace(fun, np.zeros(shape))
    for prog, seed in ((program, 0), (linop.transpose(program), 1)):
        parallel, serial = _parallel_plans(monkeypatch, prog)
        assert parallel.parallel_calls
        x = np.random.default_rng(seed).standard_normal(prog.invars[0].aval.shape)
        for _ in range(6):
            np.testing.assert_array_equal(parallel.run(x)[0], serial.run(x)[0])


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_fused_cumsum_keeps_the_sign_of_leading_zeros(dtype, reverse):
    x = np.array([[-0.0, -0.0, 1.0], [-0.0, 2.0, -2.0]], dtype)
    if x.dtype.kind == "c":
        x = x + 1j * np.array([[-0.0, 0.0, -0.0], [1.0, -0.0, -0.0]])
    if reverse:
        fun = lambda v: np.cumsum(v[:, ::-1], axis=1)[:, ::-1]
    else:
        fun = lambda v: np.cumsum(v, axis=1)
    got = linop.trace(fun, x).call_flat([x], "numba")[0]
    want = fun(x)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    for part in (np.real, np.imag):
        np.testing.assert_array_equal(np.signbit(part(got)), np.signbit(part(want)))


def test_programs_with_empty_arrays_run_on_the_numba_executor():
    idx = np.array([0, 3, 3, 1, 5])
    A = linop.aslinearoperator(lambda x: x[idx], np.zeros(6), executor="numba")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FusedExecutorWarning)
        out = A.rmatmat(np.zeros((5, 0)))
        assert out.shape == (6, 0)
        program = linop.trace(lambda x: np.cumsum(x[:0]) * 2.0, np.zeros(4))
        assert program.call_flat([np.arange(4.0)], "numba")[0].shape == (0,)


@pytest.mark.parametrize("factor", [np.array(2.0), np.array([2.0]), np.array([[2.0]]),
                                    np.array([[[2.0]]])], ids=["0d", "1d", "2d", "3d"])
def test_one_element_constants_of_any_rank_compile(factor):
    fun = lambda x: np.broadcast_to(x, (3, 4)) * factor
    x = np.arange(4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FusedExecutorWarning)
        got = linop.trace(fun, x).call_flat([x], "numba")[0]
    np.testing.assert_array_equal(got, fun(x))
