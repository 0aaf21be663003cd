"""Fused kernels read reshaped inputs through views: no flat index arithmetic per element.

A kernel that computes the flat index of each element it reads (``//`` and ``%`` of a
reshape of a computed value) is one numba does not vectorise; the adjoint of a complex
operator (``conj ∘ transpose ∘ conj`` on flat vectors) used to start with one.
"""
import re

import numpy as np
import pytest

import linop
from linop.fused import executor as fused_executor

numba = pytest.importorskip("numba")


def _mri(coils, n, seed=0):
    rng = np.random.default_rng(seed)
    sens = rng.standard_normal((coils, n, n)) + 1j * rng.standard_normal((coils, n, n))
    mask = rng.random((n, n)) < 0.3
    return lambda x: np.fft.fft2(sens * x, norm="ortho") * mask


def _kernel_sources(monkeypatch, program):
    sources = []

    def recorded(*args):
        spec = kernel_source(*args)
        sources.append(spec.source)
        return spec

    kernel_source = fused_executor.kernel_source
    monkeypatch.setattr(fused_executor, "kernel_source", recorded)
    plan = fused_executor.FusedPlan(program)
    return plan, sources


def _flat_index_arithmetic(source):
    """Whether a kernel computes C-order flat positions (``(i) * n + j``, ``//``, ``%``)."""
    return bool(re.search(r"\) \* \w+ \+ \w+|//|%", source))


@pytest.mark.parametrize("mode", ["forward", "adjoint"])
def test_multi_coil_mri_kernels_read_reshaped_inputs_through_views(monkeypatch, mode):
    op = linop.aslinearoperator(_mri(3, 8), np.zeros((8, 8), complex), executor="numba")
    program = op.flat_program if mode == "forward" else op.adjoint_program
    plan, sources = _kernel_sources(monkeypatch, program)
    assert sources and not any(_flat_index_arithmetic(s) for s in sources), sources
    assert "x0.reshape(" in sources[0]  # the flat input, read through a view of its shape
    y = np.random.default_rng(1).standard_normal(program.invars[0].aval.shape) * (1 + 1j)
    got, want = plan.run(y)[0], program.call_flat([y], "numpy")[0]
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("fun", [
    lambda x: (np.conj(x) * (2.0 - 1.0j)).reshape(4, 6)[::-1] * np.arange(6.0),
    lambda x: (-np.real(x)).reshape(4, 6).cumsum(axis=1),
])
def test_elementwise_steps_before_a_reshape_run_alike_on_both_executors(monkeypatch, fun):
    program = linop.trace(fun, np.zeros(24, complex))
    plan, sources = _kernel_sources(monkeypatch, program)
    assert not any(_flat_index_arithmetic(s) for s in sources), sources
    x = np.random.default_rng(2).standard_normal(24) * (1 - 2j)
    x[:2] = [complex(-0.0, 0.0), complex(0.0, -0.0)]
    got, want = plan.run(x)[0], program.call_flat([x], "numpy")[0]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got.real), np.signbit(want.real))
