"""Why a traced array was asked for its values: errors that name what the user's code did.

A traced array has no values, so ``float(x)``, ``np.asarray(x)``, ``c[x]`` or
``y[i] = x`` (into a plain array) cannot work. The error says which of these the
user's line does, read from the bytecode instruction it is executing, or what a
library function called with a traced argument should be replaced by (the
explainers that :mod:`linop.scipy` registers).
"""
from __future__ import annotations

import dis
import sys

from ..errors import (ArrayAssignmentError, ConversionError, NonLinearError, library_dirs,
                      user_location)

__all__ = ["CONVERSION_EXPLAINERS", "conversion_error", "explained_by_caller"]


def _user_opname():
    """Name of the bytecode instruction the user's frame is executing."""
    frame = sys._getframe(1)
    skip = library_dirs()
    while frame is not None and frame.f_code.co_filename.startswith(skip):
        frame = frame.f_back
    if frame is None:
        return None
    return _opname_at(frame)


#: Functions ``explain(frame) -> LinopError | None`` asked, innermost caller frame first,
#: why a traced array was converted to values, asked for an ndarray attribute it lacks, or
#: given to a non-linear NumPy function by library code: :mod:`linop.scipy` registers one
#: that names the SciPy function called with a traced argument and what to use instead.
CONVERSION_EXPLAINERS: list = []


def explained_by_caller(frame):
    """The error that an explainer gives for a call from ``frame``."""
    for explain in CONVERSION_EXPLAINERS:
        error = explain(frame)
        if error is not None:
            return error
    storing = _numpy_function_storing(frame)
    if storing is not None:
        return ArrayAssignmentError(
            f"at {user_location()}: np.{storing} stores a traced value into a plain NumPy array "
            "(the target you passed, for example one made by np.zeros(n), or an array NumPy "
            "makes itself), which linop cannot record. If you passed the target, create it from "
            "the input instead: y = np.zeros_like(x, shape=(n,)) (add dtype=... if needed), then "
            f"call np.{storing} on y.")
    return None


def _numpy_function_storing(frame):
    """The name of the NumPy function that ``frame`` runs, if it is storing into an array."""
    if not frame.f_globals.get("__name__", "").startswith("numpy."):
        return None
    if _opname_at(frame) not in ("STORE_SUBSCR", "STORE_SLICE"):
        return None
    return frame.f_code.co_name


def _opname_at(frame):
    """Name of the bytecode instruction ``frame`` is executing."""
    for ins in dis.get_instructions(frame.f_code):
        if ins.offset == frame.f_lasti:
            return ins.opname
    return None


def conversion_error(what: str, tracer, caller) -> ConversionError:
    """The error for ``what`` (``float()``, ``np.asarray``...) on ``tracer``, called from ``caller``."""
    tracer.builder.check_open()
    explained = explained_by_caller(caller)
    if explained is not None:
        return explained
    where = user_location()
    opname = _user_opname()
    if opname in ("BINARY_SUBSCR", "BINARY_SLICE"):
        return NonLinearError(
            f"at {where}: a traced array is used as an index into a constant array. Which "
            "elements are picked would depend on the input's values, which is not linear. "
            "Indices must be constants.")
    if opname in ("STORE_SUBSCR", "STORE_SLICE"):
        return ArrayAssignmentError(
            f"at {where}: a traced array was assigned into a plain NumPy array (for example one "
            "made by np.zeros(n)). NumPy copies the values into its own memory, which linop "
            "cannot record. Create the output from the input instead: "
            "y = np.zeros_like(x, shape=(n,)) (add dtype=... if needed), then y[...] = ...")
    return ConversionError(
        f"at {where}: {what} needs the values of a traced array, which are not known while "
        "tracing: only its shape and dtype are. Keep the computation in NumPy functions on the "
        "array itself (they are traced; build arrays from traced pieces with np.stack or "
        "np.concatenate), or compute what you need from constants.")
