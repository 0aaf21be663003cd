"""Shaped programs: an operator's maps on its coordinate leaves, each in its leaf's shape.

The flat programs of :mod:`linop.operator.flat` open with slices and reshapes of
one vector into the leaves and close by ravelling and concatenating them. On
arrays cut in blocks (Dask) those ends are costly: the vector of a volume cut in
cubes is cut in whole planes, so ravelling it merges many blocks into one. The
shaped programs compute the same maps without the vector: their inputs and
outputs are the *coordinate leaves*, the pieces the vector concatenates (one per
leaf, of the operator's dtype; the real and the imaginary part of a complex leaf
with real coordinates), in their leaves' shapes.
"""
from __future__ import annotations

import numpy as np

from ..core import zeros
from ..execute import run_flat
from ..ir import Program, ShapeDtype
from ..primitives import arithmetic as A, complex as C
from ..pytree import tree_flatten
from ..tracing import trace_flat
from ..transpose import transpose
from .layout import is_complex

__all__ = ["forward_shaped", "adjoint_shaped"]


def _coordinate_avals(avals, dtype, real_coords) -> list:
    """The coordinate leaves of the leaves ``avals`` in an operator of ``dtype``."""
    out = []
    for aval in avals:
        parts = 2 if real_coords and is_complex(aval.dtype) else 1
        out += [ShapeDtype(aval.shape, dtype)] * parts
    return out


def _leaves(coords, avals, real_coords, part=None) -> list:
    """The function's leaves from traced coordinate leaves (``part`` as in ``split_vector``)."""
    leaves, k = [], 0
    for aval in avals:
        if real_coords and is_complex(aval.dtype):
            rd = C.real_dtype(aval.dtype)
            leaves.append(C.make_complex(C.convert(coords[k], rd), C.convert(coords[k + 1], rd)))
            k += 2
            continue
        x = coords[k]
        if part is not None and not is_complex(aval.dtype):
            x = C.real(x) if part == "re" else C.imag(x)
        elif part == "im":
            x = zeros(aval.shape, aval.dtype)
        leaves.append(C.convert(x, aval.dtype))
        k += 1
    return leaves


def _coordinates(outs, dtype, real_coords) -> list:
    """The coordinate leaves of ``dtype`` of the traced outputs ``outs``."""
    parts = []
    for o in outs:
        parts += [C.real(o), C.imag(o)] if real_coords and is_complex(o.dtype) else [o]
    return [C.convert(p, dtype) for p in parts]


def _trace_on(fn, avals) -> Program:
    return trace_flat(fn, tree_flatten(tuple(avals))[1], list(avals))


def forward_shaped(program, in_avals, dtype, real_coords) -> Program:
    """The forward map of the traced function ``program`` on coordinate leaves.

    The same map as :func:`linop.operator.flat.forward_flat` (a complex operator
    extends ``program`` complex-linearly over its real input leaves), with the
    coordinate leaves as inputs and outputs instead of one vector.
    """
    if is_complex(dtype) and any(not is_complex(a.dtype) for a in in_avals):
        def fn(*coords):
            ya, yb = (_coordinates(run_flat(program, _leaves(coords, in_avals, False, part)),
                                   dtype, False) for part in ("re", "im"))
            return [A.add(a, A.mul(b, np.asarray(1j, dtype))) for a, b in zip(ya, yb)]
    else:
        def fn(*coords):
            return _coordinates(run_flat(program, _leaves(coords, in_avals, real_coords)), dtype,
                                real_coords)
    return _trace_on(fn, _coordinate_avals(in_avals, dtype, real_coords))


def adjoint_shaped(forward: Program, dtype) -> Program:
    """The adjoint of the shaped program ``forward``: its transpose, between conjugations
    when complex (as :func:`linop.operator.flat.adjoint_of`), leaf by leaf."""
    transposed = transpose(forward)
    if not is_complex(dtype):
        return transposed

    def fn(*coords):
        return [C.conj(t) for t in run_flat(transposed, [C.conj(c) for c in coords])]
    return _trace_on(fn, forward.out_avals)
