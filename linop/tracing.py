"""``trace``: a Python function on NumPy-facing tracers records a :class:`~linop.ir.Program`.

The function's inputs become :class:`~linop.numpy_api.tracer.Tracer` objects of a new
trace (:class:`~linop.core.Builder`); what it returns becomes the program's outputs.
"""
from __future__ import annotations

import contextlib
import inspect
import numbers

import numpy as np

from .core import Builder, building, is_tracer, zeros_p
from .errors import AffineError, EscapedTracerError, LinopError, TracerMixError, user_location
from .ir import Program, ShapeDtype, Var
from .numpy_api.tracer import DEFERRED_TYPES, Tracer
from .passes import simplify
from .pytree import TreeDef, leaf_paths, tree_flatten, tree_unflatten

__all__ = ["trace", "trace_flat", "primal_avals", "TRACE_CONTEXTS"]


def _leaf_aval(leaf, path: str, what: str) -> ShapeDtype:
    if isinstance(leaf, ShapeDtype):
        aval = leaf
    elif isinstance(leaf, (bool, numbers.Number)) and not hasattr(leaf, "dtype"):
        aval = ShapeDtype((), np.asarray(leaf).dtype)
    elif hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
        try:
            aval = ShapeDtype(tuple(leaf.shape), np.dtype(leaf.dtype))
        except TypeError as exc:
            raise TypeError(f"{what}: {path} has a dtype NumPy does not know: {leaf.dtype!r}") from exc
    else:
        raise TypeError(
            f"{what}: {path} must be an array, a scalar, a linop.ShapeDtype or an object with "
            f".shape and .dtype; got {type(leaf).__name__}")
    if not np.issubdtype(aval.dtype, np.inexact):
        raise TypeError(
            f"{what}: {path} has dtype {aval.dtype}; integer and boolean inputs are not supported "
            "because a linear map needs a field of scalars. Use a floating or complex dtype (for "
            "example np.float64).")
    return aval


def primal_avals(primals, what: str = "trace") -> tuple[TreeDef, list]:
    """The argument structure and the abstract value of each leaf of ``primals``.

    Parameters
    ----------
    primals : tuple
        Positional arguments (pytrees of arrays, scalars or shape/dtype objects).
    what : str
        Name of the calling function, for error messages.

    Returns
    -------
    in_tree : TreeDef
    avals : list of ShapeDtype
    """
    leaves, in_tree = tree_flatten(tuple(primals))
    paths = leaf_paths(in_tree, "primals")
    return in_tree, [_leaf_aval(l, p, what) for l, p in zip(leaves, paths)]


#: Context-manager factories entered around every traced function, for libraries with a
#: dispatch mechanism of their own: :mod:`linop.foreign` registers the installation of its
#: hooks on SciPy's and PyLops' operators, :mod:`linop.scipy` the ``scipy.fft`` backend that
#: routes SciPy's transforms of traced arrays to linop.
TRACE_CONTEXTS: list = []


def trace_flat(fun, in_tree: TreeDef, in_avals, out_what="output") -> Program:
    """Trace ``fun`` on inputs of structure ``in_tree`` and abstract values ``in_avals``.

    Parameters
    ----------
    fun : callable
    in_tree : TreeDef
        Structure of the positional arguments (a tuple).
    in_avals : list of ShapeDtype

    Returns
    -------
    Program
    """
    builder = Builder(Tracer)
    tracers = [builder.new_input(a) for a in in_avals]
    invars = [t.var for t in tracers]
    try:
        with building(builder), contextlib.ExitStack() as hooks:
            for hook in TRACE_CONTEXTS:
                hooks.enter_context(hook())
            out = _call_user_function(fun, tree_unflatten(in_tree, tracers))
            leaves, out_tree = tree_flatten(out)
            paths = leaf_paths(out_tree, out_what)
            outvars = [_output_var(builder, leaf, path, fun) for leaf, path in zip(leaves, paths)]
    finally:
        builder.close()  # a tracer that escaped the function must not record into this trace
    program = Program(invars, builder.eqns, outvars, in_tree, out_tree)
    return simplify(program)


def _call_user_function(fun, args):
    """Call ``fun``; surface linop's own error where NumPy wrapped it in one of its own.

    NumPy turns errors raised while it converts a value (``y[0] = tracer`` on a plain
    array) into ``ValueError("setting an array element with a sequence")``; the
    linop error it wraps says what happened and what to do.
    """
    try:
        return fun(*args)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, LinopError) or not isinstance(exc.__cause__, LinopError):
            raise
        raise exc.__cause__.with_traceback(exc.__traceback__) from None


def _function_location(fun) -> str:
    code = getattr(inspect.unwrap(fun), "__code__", None)
    if code is None:
        return user_location()
    return f"{code.co_filename}:{code.co_firstlineno}"


def _output_var(builder: Builder, leaf, path: str, fun) -> Var:
    if is_tracer(leaf):
        if leaf.builder is not builder and leaf.builder.closed:
            raise EscapedTracerError(
                f"{path} of the function at {_function_location(fun)} is a traced array of a "
                "trace that has ended: it escaped an earlier traced function (stored in a "
                "global, a list, an attribute or a closure) and has no values. Return values "
                "computed from this function's own arguments.")
        if leaf.builder is not builder:
            raise TracerMixError(
                f"{path} of the function at {_function_location(fun)} is a traced value of "
                "another trace; a function must return values computed from its own arguments")
        return leaf.var
    if type(leaf) in DEFERRED_TYPES:
        raise leaf.traced_output_error(path, _function_location(fun))
    try:
        arr = np.asarray(leaf)
    except LinopError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything NumPy cannot convert
        raise TypeError(f"{path} is not an array: got {type(leaf).__name__}") from exc
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{path} is not a numeric array: got {type(leaf).__name__} ({arr.dtype})")
    if np.any(arr != 0):
        raise AffineError(
            f"{path} of the function at {_function_location(fun)} is a non-zero constant that does "
            "not depend on the inputs: the function is not linear. A linear function maps zero to zero; return only values computed "
            "from the arguments.")
    return builder.add_eqn(zeros_p, (), {"shape": arr.shape, "dtype": arr.dtype}).var


def trace(fun, *primals) -> Program:
    """Trace a linear NumPy function into a :class:`~linop.ir.Program`.

    Parameters
    ----------
    fun : callable
        A function of arrays that is linear in all of its arguments.
    *primals
        Example arguments: arrays, scalars, :class:`~linop.ShapeDtype` or any
        object with ``shape`` and ``dtype``, nested in tuples, lists, dicts,
        namedtuples and ``None``. Only shapes and dtypes are read.

    Returns
    -------
    Program
        Printable, callable with the same arguments as ``fun``.

    Examples
    --------
    >>> import numpy as np, linop
    >>> p = linop.trace(lambda x: 2 * x[1:] - x[:-1], np.zeros(4))
    >>> np.allclose(p(np.arange(4.0)), [2, 3, 4])
    True
    """
    in_tree, avals = primal_avals(primals)
    return trace_flat(fun, in_tree, avals)
