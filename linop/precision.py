"""Programs replayed at a higher precision: what an operator runs on more precise vectors.

:func:`promote_program` replays a program's equations on inputs of a higher
precision (``float32`` to ``float64``, ``complex64`` to ``complex128``) with the
constants it captured: never with the function it was traced from, whose arrays
the caller may have changed since. Each primitive says how its parameters follow
(:meth:`~linop.core.Primitive.promoted_params`); a step that cannot
run at the higher precision computes at its recorded one.
"""
from __future__ import annotations

import numpy as np

from .errors import LinopError
from .ir import Const, Program, ShapeDtype
from .snapshots import new_snapshot
from .passes import simplify
from .core import Builder
from .primitives.complex import convert_p

__all__ = ["promoter", "promote_program"]


def promoter(dtype):
    """``promote(d)``: ``d`` at the precision of ``dtype`` where that is higher.

    Real stays real and complex stays complex (``float32`` becomes ``float64``
    and ``complex64`` becomes ``complex128`` for ``dtype=float64``); integer,
    boolean and already more precise dtypes are unchanged.

    Parameters
    ----------
    dtype : numpy.dtype
        A floating or complex dtype; only its precision counts.
    """
    real = np.finfo(np.dtype(dtype)).dtype

    def promote(d):
        d = np.dtype(d)
        if d.kind not in "fc" or np.finfo(d).bits >= np.finfo(real).bits:
            return d
        return np.result_type(d, real)
    return promote


def promote_program(program: Program, dtype) -> Program:
    """``program`` replayed on inputs promoted to the precision of ``dtype``.

    Parameters
    ----------
    program : Program
    dtype : numpy.dtype
        A floating or complex dtype; see :func:`promoter`.

    Returns
    -------
    Program
        The same map with the same calling convention: inputs and outputs of the
        higher precision, the captured constants unchanged (a ``float32``
        constant times a ``float64`` vector computes in ``float64``, as NumPy
        and SciPy's ``MatrixLinearOperator`` do). A constant that a primitive
        needs in the dtype of its input (a convolution kernel, a triangular
        matrix) is promoted exactly; a step that refuses the higher precision
        (a ``custom_linear`` function with a declared output dtype) runs at its
        recorded precision, its result converted.
    """
    promote = promoter(dtype)
    builder = Builder()
    env = {v.id: builder.new_input(ShapeDtype(v.aval.shape, promote(v.aval.dtype))).var
           for v in program.invars}
    invars = [env[v.id] for v in program.invars]
    promoted_consts: dict = {}
    for eqn in program.eqns:
        builder.source = eqn.source
        env[eqn.out.id] = _replay(builder, eqn, [env[v.id] for v in eqn.inputs], promote,
                                  promoted_consts)
    outvars = [env[v.id] for v in program.outvars]
    return simplify(Program(invars, builder.eqns, outvars, program.in_tree, program.out_tree,
                            program.in_wrapped, program.out_is_args))


def _replay(builder, eqn, inputs, promote, promoted_consts):
    """The output variable of ``eqn`` recorded on the promoted ``inputs``."""
    want = promote(eqn.out.aval.dtype)
    params = eqn.prim.promoted_params(eqn.params, promote)
    if params is not None:
        for candidate in (params, _with_promoted_consts(params, promote, promoted_consts)):
            if candidate is not None and _gives(eqn.prim, inputs, candidate, want):
                return _record(builder, eqn.prim, inputs, candidate)
    # At the recorded precision: the inputs converted back, the result converted up.
    inputs = [_converted(builder, x, v.aval.dtype) for x, v in zip(inputs, eqn.inputs)]
    return _converted(builder, _record(builder, eqn.prim, inputs, eqn.params), want)


def _gives(prim, inputs, params, want) -> bool:
    """Whether the primitive accepts ``inputs`` with ``params`` and returns dtype ``want``."""
    try:
        out = prim.abstract_eval(*(v.aval for v in inputs), **params)
    except (TypeError, ValueError, LinopError):
        return False
    return out.dtype == want


def _with_promoted_consts(params, promote, promoted_consts):
    """``params`` with their plain floating constants promoted (``None`` if none is)."""
    new = {}
    for k, v in params.items():
        if type(v) is Const and promote(v.value.dtype) != v.value.dtype:
            found = promoted_consts.get(id(v))
            if found is None:
                found = promoted_consts[id(v)] = (v, Const(_exactly_promoted(v.value, promote)))
            v = found[1]
        new[k] = v
    return new if any(new[k] is not params[k] for k in params) else None


def _exactly_promoted(value: np.ndarray, promote) -> np.ndarray:
    dtype = promote(value.dtype)
    return new_snapshot(value.shape, dtype, lambda out: np.copyto(out, value))


def _record(builder, prim, inputs, params):
    return builder.add_eqn(prim, tuple(inputs), params).var


def _converted(builder, var, dtype):
    if var.aval.dtype == dtype:
        return var
    return _record(builder, convert_p, [var], {"dtype": np.dtype(dtype)})
