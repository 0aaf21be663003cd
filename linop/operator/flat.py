"""Flat programs: functions of one traced vector, and the programs an operator runs.

Every operator holds two *flat* programs: the forward one maps a vector of
``dtype[n]`` to ``dtype[m]``, the adjoint one maps ``dtype[m]`` back to
``dtype[n]``. The adjoint is made by transposing the forward program
(``conj ∘ transpose ∘ conj`` for complex operators), never by running it.
Functions here build those programs with primitives, so that composing
operators inlines their programs into one program the executor sees whole.
"""
from __future__ import annotations

import numpy as np

from ..batching import batch_program
from ..core import zeros
from ..execute import run_flat
from ..ir import Program, ShapeDtype
from ..primitives import arithmetic as A, complex as C, shape as S, slice as SL
from ..primitives.linear_operator import linear_operator
from ..pytree import tree_flatten
from ..tracing import trace_flat
from ..transpose import transpose
from .layout import is_complex, leaf_size

__all__ = ["trace_vector_fn", "program_fn", "piece", "split_vector", "join_leaves",
           "forward_flat", "adjoint_of", "conjugated", "lifted", "apply_on_tracer"]


def trace_vector_fn(fn, n, dtype) -> Program:
    """The program of ``fn`` on one traced vector of ``dtype[n]``."""
    aval = ShapeDtype((n,), dtype)
    return trace_flat(fn, tree_flatten((aval,))[1], [aval])


def program_fn(program: Program):
    """``program`` as a function of one traced vector (its equations get inlined)."""
    return lambda v: run_flat(program, [v])[0]


def piece(v, start, stop):
    """``v[start:stop]`` of a traced vector."""
    return SL.slice_(v, (start,), (stop,), (1,))


def split_vector(v, avals, real_coords, part=None) -> list:
    """Leaves of ``avals`` from the traced vector ``v``.

    ``part`` is ``"re"``/``"im"`` to feed only the real or imaginary part of a
    complex ``v`` to real leaves (complex leaves get ``v`` or zeros).
    """
    leaves, k = [], 0
    for aval in avals:
        n = aval.size
        if real_coords and is_complex(aval.dtype):
            rd = C.real_dtype(aval.dtype)
            re = S.reshape(C.convert(piece(v, k, k + n), rd), aval.shape)
            im = S.reshape(C.convert(piece(v, k + n, k + 2 * n), rd), aval.shape)
            leaves.append(C.make_complex(re, im))
            k += 2 * n
            continue
        x = S.reshape(piece(v, k, k + n), aval.shape)
        if part is not None and not is_complex(aval.dtype):
            x = C.real(x) if part == "re" else C.imag(x)
        elif part == "im":
            x = zeros(aval.shape, aval.dtype)
        leaves.append(C.convert(x, aval.dtype))
        k += n
    return leaves


def join_leaves(outs, dtype, real_coords):
    """The traced vector of ``dtype`` concatenating the ravelled leaves ``outs``."""
    parts = []
    for o in outs:
        if real_coords and is_complex(o.dtype):
            parts += [S.reshape(C.real(o), (o.size,)), S.reshape(C.imag(o), (o.size,))]
        else:
            parts.append(S.reshape(o, (o.size,)))
    parts = [C.convert(p, dtype) for p in parts]
    if not parts:
        return zeros((0,), dtype)
    return SL.concatenate(parts, 0)


def forward_flat(program, in_avals, out_avals, dtype, real_coords) -> Program:
    """The forward flat program of the traced function ``program`` (``dtype[n] -> dtype[m]``)."""
    n = sum(leaf_size(a, real_coords) for a in in_avals)
    has_real_input = any(not is_complex(a.dtype) for a in in_avals)
    if is_complex(dtype) and has_real_input:
        # Complex-linear extension over the real input leaves: P(re) + i P(im).
        def fn(v):
            ya = join_leaves(run_flat(program, split_vector(v, in_avals, False, "re")), dtype, False)
            yb = join_leaves(run_flat(program, split_vector(v, in_avals, False, "im")), dtype, False)
            return A.add(ya, A.mul(yb, np.asarray(1j, dtype)))
    else:
        def fn(v):
            return join_leaves(run_flat(program, split_vector(v, in_avals, real_coords)), dtype,
                               real_coords)
    return trace_vector_fn(fn, n, dtype)


def adjoint_of(flat: Program, m, dtype) -> Program:
    """The adjoint flat program: transpose, wrapped in conjugations when complex."""
    return trace_vector_fn(conjugated(program_fn(transpose(flat)), dtype), m, dtype)


def conjugated(fn, dtype):
    """``conj ∘ fn ∘ conj`` (just ``fn`` for real vectors)."""
    if not is_complex(dtype):
        return fn
    return lambda v: C.conj(fn(C.conj(v)))


def lifted(op, dtype):
    """Forward and adjoint of the traced operator ``op`` as functions on traced vectors of ``dtype``.

    ``op`` runs at the precision of ``dtype`` (replayed when needed); a real
    operator on complex vectors maps real and imaginary parts separately.
    """
    dtype = np.dtype(dtype)
    op = op.at_precision(dtype)
    f, a = program_fn(op.flat_program), program_fn(op.adjoint_program)
    if op.dtype == dtype:
        return f, a
    if is_complex(dtype) and not is_complex(op.dtype):
        # One opaque step that maps real and imaginary parts at run time: no real/imag/complex
        # steps in the program, which therefore stays visibly complex-linear.
        return (lambda v: linear_operator(v, op, "A"), lambda w: linear_operator(w, op, "H"))

    def cast(g):
        return lambda v: C.convert(g(C.convert(v, op.dtype)), dtype)
    return cast(f), cast(a)


def apply_on_tracer(op, x, mode="A"):
    """Record the programs of the traced operator ``op`` on the traced ``x`` (no opaque step).

    Parameters
    ----------
    op : TracedLinearOperator
    x : Tracer
        Shape ``(n,)``, ``(n, 1)`` or ``(n, k)`` (columns are batched).
    mode : {"A", "H", "T", "C"}
        The operator, its adjoint, its transpose or its conjugate.

    Returns
    -------
    Tracer
        dtype ``result_type(x.dtype, op.dtype)``, computed at that precision.
    """
    dtype = np.result_type(x.dtype, op.dtype)
    forward, adjoint = lifted(op, dtype)
    fn = {"A": forward, "H": adjoint, "T": conjugated(adjoint, dtype),
          "C": conjugated(forward, dtype)}[mode]
    if x.dtype != dtype:
        x = C.convert(x, dtype)
    if x.ndim == 1:
        return fn(x)
    k = x.shape[1]
    if k == 1:
        y = fn(S.reshape(x, (x.shape[0],)))
        return S.reshape(y, (y.shape[0], 1))
    batched = batch_program(trace_vector_fn(fn, x.shape[0], dtype), k)[0]
    return S.transpose(run_flat(batched, [S.transpose(x, (1, 0))])[0], (1, 0))
