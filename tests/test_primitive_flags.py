"""Each primitive's ``impl`` does what its class declares, on every equation of the table programs.

The executor trusts these declarations: ``returns_fresh`` lets it update a result in
place, ``returns_view`` lets it skip the copy of a result that can only alias its
inputs, and ``abstract_eval`` types the variables it allocates.
"""
import numpy as np
import pytest
import scipy.sparse as sp

import linop
from linop.ir import Const
from linop.testing import random_like

from harness import table_cases

CASES = [(name, case, np.dtype(dtype)) for name, case in table_cases()
         for dtype in sorted({np.dtype(d) for d in case.dtypes}, key=str)[-2:]]


def _const_arrays(value):
    if isinstance(value, Const):
        value = value.value
    if isinstance(value, np.ndarray):
        yield value
    elif sp.issparse(value):
        yield from (getattr(value, name) for name in ("data", "indices", "indptr", "offsets")
                    if isinstance(getattr(value, name, None), np.ndarray))
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _const_arrays(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _const_arrays(v)


def _shares(out, arrays):
    return any(np.shares_memory(out, a) for a in arrays if a.size and out.size)


def check_equation(eqn, rng):
    ins = [random_like(v.aval, rng) for v in eqn.inputs]
    out = eqn.prim.impl(*ins, **eqn.params)
    where = f"{eqn.prim.name} (from {eqn.source})"
    if isinstance(out, np.generic):  # 0-d results may be NumPy scalars (the executor copies them)
        out = np.array(out)
    assert isinstance(out, np.ndarray) and out.shape == eqn.out.aval.shape, \
        f"{where}: impl gave {type(out).__name__} {np.shape(out)}, abstract_eval {eqn.out.aval}"
    assert out.dtype == eqn.out.aval.dtype, f"{where}: impl gave {out.dtype}, abstract_eval {eqn.out.aval}"
    consts = list(_const_arrays(eqn.params))
    if eqn.prim.returns_fresh:
        assert out.flags.writeable and not _shares(out, ins + consts), \
            f"{where}: declares returns_fresh but its result is read-only or aliases memory"
    if eqn.prim.returns_view:
        assert not _shares(out, consts), f"{where}: declares returns_view but aliases a constant"


@pytest.mark.parametrize("name,case,dtype", CASES, ids=[f"{n}-{d.name}" for n, _, d in CASES])
def test_impl_matches_the_declared_flags(name, case, dtype):
    rng = np.random.default_rng(0)
    program = linop.trace(case.fun, *case.primals(dtype))
    for p in (program, linop.transpose(program)):
        for eqn in p.eqns:
            check_equation(eqn, rng)
