"""Public exception types raised by linop.

Every error that linop raises on purpose is an instance of :class:`LinopError`,
and its message says what happened, where in the user's code (``file:line``)
and what to do instead.
"""
from __future__ import annotations

import os
import sys
import warnings

__all__ = [
    "LinopError",
    "FusedExecutorWarning",
    "InterpolationKernelWarning",
    "DenseMatrixError",
    "NonLinearError",
    "AffineError",
    "UnsupportedFunctionError",
    "ConversionError",
    "ArrayAssignmentError",
    "ViewWriteError",
    "TracerMixError",
    "EscapedTracerError",
    "ForeignOperatorError",
    "BatchingError",
    "UnboundAxisError",
    "RealLinearError",
    "NamespaceError",
]

_LINOP_DIR = os.path.dirname(os.path.abspath(__file__))
_LIBRARY_DIRS: tuple = ()


def library_dirs() -> tuple:
    """Paths whose frames are never the user's code: linop, NumPy, SciPy and ``copy.py``.

    (``copy.deepcopy(tracer)`` is the user's call, not the standard library's.)
    """
    global _LIBRARY_DIRS
    if not _LIBRARY_DIRS:
        import copy
        import numpy
        import scipy

        _LIBRARY_DIRS = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep
                              for m in (numpy, scipy)) + (_LINOP_DIR + os.sep, copy.__file__)
    return _LIBRARY_DIRS


def user_location(skip_dirs=()) -> str:
    """Return ``file:line`` of the innermost stack frame outside linop, NumPy and SciPy.

    Parameters
    ----------
    skip_dirs : tuple of str, optional
        Further directories whose frames are not the user's.

    Returns
    -------
    str
        ``"path/to/file.py:42"``, or ``"<unknown>"`` when no such frame exists.
    """
    frame = _user_frame(skip_dirs)
    return "<unknown>" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _user_frame(skip_dirs):
    """The innermost stack frame outside linop, NumPy, SciPy and ``skip_dirs`` (or ``None``)."""
    skip = library_dirs() + tuple(skip_dirs)
    frame = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename.startswith(skip)
                                 or frame.f_code.co_filename.startswith("<frozen")):
        frame = frame.f_back
    return frame


def warn_at_user(warning: Warning, skip_dirs=()) -> None:
    """Issue ``warning`` at the line of the user's code that :func:`user_location` names.

    The caller warns once per occasion (a program that could not be compiled, ...), so
    the warning is not deduplicated by location: Python's default filter would otherwise
    show only the first of the warnings that different programs issue from one line.
    Filters that ignore the warning, turn it into an error or show it ``"once"`` apply.

    Parameters
    ----------
    warning : Warning
        The warning instance to issue.
    skip_dirs : tuple of str, optional
        Further directories whose frames are not the user's.
    """
    frame = _user_frame(skip_dirs)
    if frame is None:
        warnings.warn(warning, stacklevel=2)
        return
    warnings.warn_explicit(warning, type(warning), frame.f_code.co_filename, frame.f_lineno,
                           module=frame.f_globals.get("__name__"), registry=None,
                           module_globals=frame.f_globals)


class LinopError(Exception):
    """Base class of every error linop raises on purpose."""


class DenseMatrixError(LinopError, ValueError):
    """An exact sparse matrix would need a step's dense matrix larger than ``dense_limit``.

    Raised by :func:`linop.tosparse` for a primitive with no structural rule (an
    FFT, a dense contraction) whose matrix it would have to probe.
    """


class InvalidArgumentError(LinopError, ValueError):
    """An argument value the called function cannot take on a traced array.

    Raised where NumPy or SciPy would fail on the same value, and linop says so before
    calling them (some SciPy routines crash the interpreter on such input rather than raise).
    """


class NonLinearError(LinopError, TypeError):
    """An operation on a traced value is not linear in the function's inputs.

    Raised for products of two traced values (``x * x``, ``x @ x``), non-linear
    functions (``np.sin(x)``, ``abs(x)``, ``x ** 2``), comparisons (``x > 0``)
    and data-dependent control flow (``if x.sum() > 0``).
    """


class AffineError(NonLinearError):
    """The function is affine, not linear: it adds a non-zero constant.

    Raised for ``x + 1`` or for an output that is a non-zero constant. Move the
    constant out of the function (subtract it from the data instead).
    """


class UnsupportedFunctionError(LinopError, TypeError):
    """A NumPy function or argument that linop does not (yet) trace."""


class ConversionError(LinopError, TypeError):
    """A traced value was asked for its concrete numbers.

    Raised by ``np.asarray(x)``, ``float(x)``, ``x.tolist()`` and the like:
    while tracing, ``x`` has a shape and a dtype but no values.
    """


class ArrayAssignmentError(ConversionError):
    """A traced value was written into a plain NumPy array.

    NumPy copies the values into its own memory, which cannot record the
    operation. Create the output with ``np.zeros_like(x, shape=...)`` instead.
    """


class ViewWriteError(LinopError, ValueError):
    """A write through a view whose NumPy semantics linop cannot reproduce."""


class TracerMixError(LinopError, TypeError):
    """Values from two different traces met in one operation."""


class EscapedTracerError(LinopError, RuntimeError):
    """A traced value was used after the trace that made it had ended.

    Raised when a tracer leaks out of the traced function (stored in a global,
    a list or a closure) and is used later: it has no values, and the trace it
    belonged to is complete, so nothing can be recorded. Return the value from
    the function, or trace the code that uses it.
    """


class ForeignOperatorError(LinopError, TypeError):
    """A foreign linear operator (SciPy, PyLops) cannot be used as linop needs it.

    Raised when such an operator returns a result of the wrong shape or a
    complex result while claiming a real dtype, when a program that calls it
    is pickled but the operator does not pickle, or when an object is not an
    operator linop knows how to apply.
    """


class BatchingError(LinopError, TypeError):
    """A per-example value of :func:`linop.vmap` was used in a way that cannot be batched exactly.

    Raised when Python needs the numbers of a value that differs between examples
    (``if x.sum() > 0``, ``float(x)``, ``np.asarray(x)``, a SciPy function that converts
    its argument), when examples give results of different shapes, when a read-only
    per-example array is written, or when such a value is used after its ``vmap``
    returned. Use NumPy functions on the value itself (``np.where`` instead of ``if``),
    or loop over the examples yourself.
    """


class UnboundAxisError(LinopError, NameError):
    """``reduce_axes`` names an axis that no enclosing :func:`linop.vmap` binds (``axis_name``).

    Raised inside a ``vmap``, where such a name is almost always a typo or a
    missing ``axis_name``; at the top level (no ``vmap`` running) ``reduce_axes``
    has nothing to sum over and is ignored, as ``jax.linear_transpose`` does.
    """


class RealLinearError(LinopError, TypeError):
    """A function with complex inputs or outputs is linear over the reals only.

    It uses ``np.real``, ``np.imag``, ``np.conj``, builds complex numbers from
    real parts, or turns complex values into real ones, so no complex matrix
    represents it. Use ``aslinearoperator(..., real_coords=True)``.
    """


class ExecutorError(LinopError, LookupError):
    """An ``executor=`` choice that cannot be honoured.

    A :class:`~linop.ir.Program` or operator was asked for an executor that is not
    registered (or for ``"numba"`` without numba installed), or operators that run
    with different executors were combined into one (``A @ B``, ``A + B``, blocks;
    see :func:`linop.operator.algebra.common_executor`).

    Executors register themselves by name with :func:`linop.ir.register_executor`;
    :mod:`linop.execute` registers the default one, ``"numpy"``, when ``linop`` is imported.
    """


class FusedExecutorWarning(UserWarning):
    """The fused (numba) executor could not compile a program, which then runs with NumPy.

    The results are the same; only the speed-up is lost. Issued once per program.
    """


class InterpolationKernelWarning(UserWarning):
    """The numba kernels that build ``scipy.ndimage``'s interpolation matrices failed.

    NumPy builds the matrices instead, for the rest of the process; they are the same,
    bit for bit, only built more slowly. Issued once.
    """


class NamespaceError(LinopError, TypeError):
    """A program or solver met arrays of another array library (Dask, ...) it cannot run on.

    Raised for inputs of two array libraries that cannot be mixed, for a backend rule whose
    result has the wrong type (a bug in that rule), and for solvers given vectors of a library
    their operator does not accept.
    """
