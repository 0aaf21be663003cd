"""Selection with constant conditions: ``np.select`` and ``np.choose``.

Each choice contributes where it is selected: ``mask(choice, selected)``, and
the contributions are added. NumPy itself, run on zero stand-ins of the traced
choices, gives the result's dtype and shape and raises its own exceptions for
invalid input. A constant choice (or ``default``) is allowed only where it is
never selected or is zero; anything else makes the map affine.
"""
from __future__ import annotations

import numpy as np

from ..core import is_tracer, zeros
from ..primitives import arithmetic as A
from .registry import implements
from .util import to_linear, unsupported
from .advanced_indexing import refuse_traced_index

__all__ = ["select", "choose"]


def _stand_in(x):
    """Zeros of a tracer's shape and dtype; constants unchanged."""
    return np.zeros(x.shape, x.dtype) if is_tracer(x) else x


def _combine(branches, selected, dtype, shape, what: str):
    """``sum_k where(selected[k], branches[k], 0)`` with constant branches required to vanish."""
    parts = []
    for branch, where in zip(branches, selected):
        where = np.broadcast_to(where, shape)
        if is_tracer(branch):
            parts.append(A.mask(to_linear(branch, dtype, shape, what), where))
        else:
            picked = np.where(where, np.asarray(branch), 0)
            to_linear(picked, dtype, shape, f"{what} with a non-zero constant choice")
    if not parts:
        return zeros(shape, dtype)
    out = parts[0]
    for part in parts[1:]:
        out = A.add(out, part)
    return out


@implements(np.select)
def select(condlist, choicelist, default=0):
    """``np.select`` with constant conditions and linear choices.

    A non-zero constant ``default`` that is selected anywhere raises
    :class:`~linop.errors.AffineError`.
    """
    refuse_traced_index(list(condlist), "np.select with a traced condition")
    choicelist = list(choicelist)
    reference = np.select(condlist, [_stand_in(c) for c in choicelist], _stand_in(default))
    shape, dtype = reference.shape, reference.dtype
    conds = [np.broadcast_to(np.asarray(c), shape) for c in condlist]
    taken = np.zeros(shape, bool)
    selected = []
    for cond in conds:
        selected.append(cond & ~taken)
        taken = taken | cond
    return _combine(choicelist + [default], selected + [~taken], dtype, shape, "np.select")


@implements(np.choose)
def choose(a, choices, out=None, mode="raise"):
    """``np.choose`` with a constant index array ``a`` and linear choices (any ``mode``)."""
    refuse_traced_index(a, "np.choose with a traced index array")
    if out is not None:
        raise unsupported("np.choose with out=", "Assign the result instead: y[...] = result.")
    choices = list(choices)
    reference = np.choose(a, [_stand_in(c) for c in choices], mode=mode)
    shape, dtype = reference.shape, reference.dtype
    which = np.broadcast_to(np.choose(a, list(range(len(choices))), mode=mode), shape)
    return _combine(choices, [which == k for k in range(len(choices))], dtype, shape, "np.choose")
