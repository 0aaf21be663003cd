"""The reverse pass: transpose a linear :class:`~linop.ir.Program` into another Program.

Cotangents are accumulated per variable; a variable nobody sends a cotangent
to is a symbolic zero (no equation is emitted for it until an output needs it).
Transpose rules are written with ``bind`` on tracers, so the result is
recorded as a Program that can itself be printed, run or transposed again.
"""
from __future__ import annotations


from .errors import LinopError
from .ir import Program
from .primitives import arithmetic as A
from .core import Builder, building, zeros
from .pytree import TreeDef
from .passes import simplify

__all__ = ["transpose"]


def transpose(program: Program) -> Program:
    """The transpose of a linear program (JAX's convention: no conjugation).

    Parameters
    ----------
    program : Program
        Linear in its inputs, as every traced program is.

    Returns
    -------
    Program
        Takes cotangents shaped like ``program``'s outputs and returns one
        cotangent per input. ``transpose(transpose(p))`` computes ``p``.
    """
    builder = Builder()
    ct_inputs = [builder.new_input(v.aval) for v in program.outvars]
    cts: dict[int, object] = {}
    with building(builder):
        for v, ct in zip(program.outvars, ct_inputs):
            _accumulate(cts, v, ct, None)
        for eqn in reversed(program.eqns):
            ct = cts.pop(eqn.out.id, None)
            if ct is None:
                continue
            builder.source = eqn.source
            in_cts = _apply_rule(eqn, ct)
            for v, c in zip(eqn.inputs, in_cts):
                if c is not None:
                    _accumulate(cts, v, c, eqn)
        builder.source = None
        outs = [cts[v.id] if v.id in cts else zeros(v.aval.shape, v.aval.dtype)
                for v in program.invars]
        outvars = [o.var for o in outs]
    in_tree = program.out_tree if program.out_is_args else TreeDef("tuple", None, (program.out_tree,))
    out_tree = program.in_tree.children[0] if program.in_wrapped else program.in_tree
    result = Program([t.var for t in ct_inputs], builder.eqns, outvars, in_tree, out_tree,
                     in_wrapped=not program.out_is_args, out_is_args=not program.in_wrapped)
    return simplify(result)


def _apply_rule(eqn, ct):
    try:
        return eqn.prim.transpose(ct, *(v.aval for v in eqn.inputs), **eqn.params)
    except LinopError:
        raise
    except Exception as exc:
        raise LinopError(f"transposing {eqn.prim.name} (from {eqn.source}) failed: {exc}") from exc


def _accumulate(cts: dict, var, ct, eqn):
    if tuple(ct.shape) != var.aval.shape or ct.dtype != var.aval.dtype:
        where = f"the transpose rule of {eqn.prim.name} (from {eqn.source})" if eqn else "an output"
        raise LinopError(f"{where} produced a cotangent {ct.aval.short()} for a variable "
                         f"{var.aval.short()}; this is a bug in linop, please report it")
    prev = cts.get(var.id)
    cts[var.id] = ct if prev is None else A.add(prev, ct)
