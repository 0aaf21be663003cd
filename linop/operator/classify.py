"""Real or complex: which traced functions a complex operator represents.

Three cases, chosen from the program itself:

* every input and output leaf is real: a **real** operator. A complex vector
  gets the complex-linear extension (real and imaginary parts are mapped
  separately, in one batched run). Real-linear steps inside (``rfft`` then
  ``irfft``, ``np.real``) are fine: the map between real spaces is real.
* some leaf is complex and the program is complex-linear in its complex
  inputs (no step whose primitive is only real-linear, no step that turns a
  complex value into a real one, conjugate-linear steps (``conj``) only in
  pairs, as in ``conj ∘ L ∘ conj``, on values computed from complex inputs;
  see :func:`real_linear_steps`): a **complex** operator. Real input leaves
  (``rfft`` of a real image) get the complex-linear extension
  ``A(Re x) + i A(Im x)``.
* some complex input is used only real-linearly: no complex matrix
  represents it, so :func:`linop.aslinearoperator` refuses with
  :class:`RealLinearError` unless ``real_coords=True``, which gives the **real**
  operator on real coordinates.

Which primitives are only real-linear (``real``, ``imag``, ``complex``, ``conj``,
a foreign operator with ``clinear=False``) is declared on each primitive:
:attr:`linop.core.Primitive.real_linear`,
:attr:`~linop.core.Primitive.conjugate_linear` and
:meth:`~linop.core.Primitive.real_linear_for`.
"""
from __future__ import annotations

from ..errors import RealLinearError
from ..ir import Program
from .layout import is_complex

__all__ = ["real_linear_steps", "check_complex_linear", "RealLinearError"]


def real_linear_steps(program: Program) -> list:
    """Equations that make ``program`` only real-linear in its complex inputs.

    A (conservative) forward scan: values that depend on a complex input leaf
    are tracked with their *parity*, whether they are complex-linear (even
    number of conjugate-linear steps since the inputs) or conjugate-linear
    (odd). An equation on such values is reported when its primitive is only
    real-linear and not conjugate-linear (:meth:`Primitive.real_linear_for`),
    when it turns a complex input into a real output, or when it combines a
    complex-linear and a conjugate-linear value; an output that is
    conjugate-linear reports the step that made it so. ``conj ∘ L ∘ conj`` (the
    adjoint and transpose of a complex-linear program) is complex-linear.
    Steps on values computed from real inputs only are harmless: a real-linear
    map of real inputs always has a complex-linear extension.
    """
    parity = {v.id: 0 for v in program.invars if is_complex(v.aval.dtype)}
    flipped_by = {}
    found = []
    for eqn in program.eqns:
        seen = {parity[v.id] for v in eqn.inputs if v.id in parity}
        if not seen:
            continue
        if len(seen) > 1 or _only_real_linear(eqn):
            found.append(eqn)
            parity[eqn.out.id] = 0
            continue
        flips = eqn.prim.conjugate_linear
        parity[eqn.out.id] = seen.pop() ^ flips
        flipped_by[eqn.out.id] = eqn if flips else next(
            (flipped_by[v.id] for v in eqn.inputs if v.id in flipped_by), None)
    for v in program.outvars:
        if parity.get(v.id) == 1 and flipped_by.get(v.id) not in found:
            found.append(flipped_by[v.id])
    return found


def _only_real_linear(eqn) -> bool:
    """Whether ``eqn`` is real-linear but neither complex- nor conjugate-linear."""
    if eqn.prim.conjugate_linear:
        return False
    if eqn.prim.real_linear_for(eqn.params):
        return True
    complex_in = any(is_complex(v.aval.dtype) for v in eqn.inputs)
    return complex_in and not is_complex(eqn.out.aval.dtype)


def check_complex_linear(program: Program) -> None:
    """Raise :class:`RealLinearError` when ``program`` is only real-linear in its complex inputs."""
    steps = real_linear_steps(program)
    if not steps:
        return
    where = "; ".join(f"{e.prim.name} at {e.source}" for e in steps[:3])
    raise RealLinearError(
        f"aslinearoperator: the function has complex inputs or outputs but is only "
        f"linear over the reals ({where}), so no complex matrix represents it and a "
        "complex LinearOperator would be wrong. Pass real_coords=True to get the "
        "operator on real coordinates (real and imaginary parts as separate real "
        "unknowns), or make the function complex-linear.")
