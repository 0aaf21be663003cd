"""Random chains of operations for the property-based tests (hypothesis).

A chain is ``(shape, dtype, steps)``: an input spec and steps ``(name, reference, traced)``
applied in order, where ``reference`` runs NumPy/SciPy itself and ``traced`` is the call a user
would write in a model (the same function for NumPy's own names). Each test module supplies the
step drawer for its functions; :func:`check_chain` runs the common checks.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import linop
from linop.testing import check_transpose


def chains(draw_step, *, ndims=(1, 3), extent=(1, 4), max_steps=6, max_size=200, accepts=None):
    """A strategy of chains whose steps come from ``draw_step(draw, shape, dtype)``.

    ``draw_step`` returns ``(name, reference, traced)``, or ``(name, fun)`` for a NumPy
    function that is its own reference. A chain stops early when the value becomes empty,
    larger than ``max_size``, or one ``accepts(value)`` (if given) rejects.
    """
    @st.composite
    def strategy(draw):
        dtype = draw(st.sampled_from([np.float64, np.complex128]))
        shape = tuple(draw(st.lists(st.integers(*extent), min_size=ndims[0], max_size=ndims[1])))
        steps, probe = [], np.zeros(shape, dtype)
        for _ in range(draw(st.integers(1, max_steps))):
            if probe.size == 0 or probe.size > max_size or (
                    accepts is not None and not accepts(probe)):
                break
            step = draw_step(draw, probe.shape, probe.dtype)
            name, reference, traced = step if len(step) == 3 else (step[0], step[1], step[1])
            steps.append((name, reference, traced))
            probe = np.asarray(reference(probe))
        return shape, dtype, steps

    return strategy()


def compose(funs):
    """The function applying ``funs`` in order."""
    def fun(x):
        for f in funs:
            x = f(x)
        return x
    return fun


def check_chain(chain, rtol=1e-12):
    """The traced chain equals its reference (values, shape, dtype); its transpose equals the
    dense oracle's; transposing twice gives the chain back."""
    shape, dtype, steps = chain
    names = [name for name, _, _ in steps]
    reference = compose([ref for _, ref, _ in steps])
    fun = compose([traced for _, _, traced in steps])
    spec = linop.ShapeDtype(shape, dtype)
    x = linop.testing.random_like(spec, np.random.default_rng(0))
    want = np.asarray(reference(x))
    program = linop.trace(fun, spec)
    got = program(x)
    assert got.dtype == want.dtype and got.shape == want.shape, names
    atol = rtol * max(1.0, float(np.abs(want).max(initial=0)))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=str(names))
    check_transpose(fun, spec)
    twice = linop.transpose(linop.transpose(program))
    np.testing.assert_allclose(twice(x), want, rtol=rtol, atol=atol, err_msg=str(names))
