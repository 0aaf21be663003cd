"""Each primitive's declared kind of linearity over the complex numbers matches its ``impl``.

The operator layer trusts these declarations (``Primitive.real_linear``,
``conjugate_linear``, ``real_linear_for``) to decide which traced functions a
complex operator represents: a primitive that conjugates or drops imaginary
parts without saying so would give a wrong complex adjoint.
"""
import numpy as np
import pytest

import linop
from linop.primitives import complex as C
from linop.primitives.linear_operator import linear_operator_p
from linop.testing import random_like

from harness import table_cases

CASES = [(name, case, np.dtype(dtype)) for name, case in table_cases()
         for dtype in {np.dtype(d) for d in case.dtypes} if dtype == np.complex128]


def _scaling(eqn, rng):
    """``c`` with ``impl(1j * x) == c * impl(x)`` (``1j``, ``-1j``), or ``None`` for neither."""
    ins = [random_like(v.aval, rng) for v in eqn.inputs]
    out = np.asarray(eqn.prim.impl(*ins, **eqn.params))
    rotated = np.asarray(eqn.prim.impl(*[1j * x for x in ins], **eqn.params))
    for c in (1j, -1j):
        if np.allclose(rotated, c * out, rtol=1e-10, atol=1e-10):
            return c
    return None


def _complex_equations(program):
    return [e for e in program.eqns if e.inputs and np.dtype(e.out.aval.dtype).kind == "c"
            and all(np.dtype(v.aval.dtype).kind == "c" for v in e.inputs)]


@pytest.mark.parametrize("name,case,dtype", CASES, ids=[f"{n}-{d.name}" for n, _, d in CASES])
def test_declared_linearity_matches_impl(name, case, dtype):
    rng = np.random.default_rng(0)
    program = linop.trace(case.fun, *case.primals(dtype))
    for p in (program, linop.transpose(program)):
        for eqn in _complex_equations(p):
            prim = eqn.prim
            expected = (-1j if prim.conjugate_linear else
                        None if prim.real_linear_for(eqn.params) else 1j)
            got = _scaling(eqn, rng)
            assert got == expected, (f"{prim.name} (from {eqn.source}): declared "
                                     f"{ {1j: 'complex-linear', -1j: 'conjugate-linear', None: 'real-linear'}[expected]}, "
                                     f"but impl(1j * x) = {got} * impl(x)")


@pytest.mark.parametrize("prim,real_linear,conjugate_linear", [
    (C.real_p, True, False), (C.imag_p, True, False), (C.complex_p, True, False),
    (C.conj_p, True, True), (C.convert_p, False, False), (linear_operator_p, False, False),
])
def test_complex_primitives_declare_their_linearity(prim, real_linear, conjugate_linear):
    assert (prim.real_linear, prim.conjugate_linear) == (real_linear, conjugate_linear)


def test_at_least_the_conj_and_complex_linear_table_cases_are_checked():
    kinds = set()
    for name, case, dtype in CASES:
        program = linop.trace(case.fun, *case.primals(dtype))
        kinds |= {e.prim.conjugate_linear for e in _complex_equations(program)}
    assert kinds == {False, True}
