"""The fused executor: numba loop fusion of a program's fusible regions (the extra ``linop[fast]``).

Modules, lowest first: ``regions`` (a program cut into fusible regions and library calls),
``codegen`` (numba source of one region: gather-form loops from each primitive's
``fused_element`` / ``fused_loops`` rules), ``cache`` (kernels by source hash, in memory
and on disk), ``executor`` (plans, the ``"numba"`` and ``"auto"`` executors). Importing
the package registers the executors; numba itself is imported only when a kernel is made.
"""
from .executor import (AUTO_MIN_SECONDS, AUTO_MIN_ELEMENTS, EXECUTOR_NAMES, FusedPlan,
                       check_executor, fused_plan, numba_installed, plan_for)

__all__ = ["FusedPlan", "fused_plan", "plan_for", "check_executor", "numba_installed",
           "EXECUTOR_NAMES", "AUTO_MIN_ELEMENTS", "AUTO_MIN_SECONDS"]
