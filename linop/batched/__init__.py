"""The batching interpretation: per-example values of ``vmap`` flowing eagerly through NumPy.

When ``vmap``'s function is not linear in a mapped argument (per-example *data*:
weights, matrices, masks, FFT filters), the mapped arguments become
:class:`BatchedArray` values: an array (or tracer) whose leading axis is the
batch, shown to the function as one example (``x.shape`` is the per-example
shape). NumPy's protocols route every call on them here, where it is computed
for the whole batch at once.

Modules, one concern each:

``levels``
    the levels of eager vmaps and the ``batch_broadcast``/``unbatch`` primitives;
``value``
    :class:`BatchedArray` and its nesting over several levels;
``calls``
    how one NumPy call on batched values is computed (vectorised, traced and
    batched, or looped);
``vectorised``
    exact rules for reshapes, transposes, ``np.where``, ``np.broadcast_to``;
``programs``
    programs and operators run on batched values: per-example transposes,
    ``reduce_axes`` sums;
``eager``
    :func:`run_eager`, the eager ``vmap`` itself.
"""
from __future__ import annotations

from . import vectorised  # noqa: F401 - registers the exact rules
from .eager import run_eager
from .levels import active_levels
from .programs import apply_operator, arrange, run_batched, sum_level
from .value import BatchedArray, core_of, levels_of, wrap

__all__ = ["BatchedArray", "active_levels", "apply_operator", "arrange", "core_of", "levels_of",
           "run_batched", "run_eager", "sum_level", "wrap"]
