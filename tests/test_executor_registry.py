"""Programs run through the executor registered by name in linop.ir."""
import numpy as np
import pytest

import linop
from linop import ir


def _program():
    return linop.trace(lambda x: 2.0 * x[::2], np.zeros(6))


def test_numpy_executor_is_registered_by_linop():
    from linop.execute import run_flat

    from linop.fused.executor import run_auto

    assert ir.EXECUTORS["numpy"] is run_flat
    assert ir.DEFAULT_EXECUTOR == "auto" and ir.EXECUTORS["auto"] is run_auto


@pytest.mark.parametrize("call", [lambda p, x: p(x), lambda p, x: p.call_flat([x])[0],
                                  lambda p, x: p(x, executor=None),
                                  lambda p, x: p.call_flat([x], None)[0]])
def test_program_calls_go_through_the_default_executor(monkeypatch, call):
    seen = []

    def recording(program, args):
        seen.append(program)
        return ir.EXECUTORS["numpy"](program, args)

    monkeypatch.setitem(ir.EXECUTORS, "recording", recording)
    monkeypatch.setattr(ir, "DEFAULT_EXECUTOR", "recording")
    p = _program()
    np.testing.assert_array_equal(call(p, np.arange(6.0)), [0.0, 4.0, 8.0])
    assert seen == [p]


def test_missing_executor_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(ir, "EXECUTORS", {})
    with pytest.raises(linop.errors.ExecutorError, match="no executor named 'auto' is registered"):
        _program()(np.arange(6.0))


def test_unknown_executor_name_lists_the_registered_ones():
    with pytest.raises(LookupError, match=r"'cupy'.*registered: 'auto', 'numba', 'numpy'"):
        ir.executor("cupy")
