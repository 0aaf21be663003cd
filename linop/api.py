"""``linear_transpose`` and the handling of primals and cotangents."""
from __future__ import annotations

import numbers

import numpy as np

from .ir import ShapeDtype
from .pytree import TreeDef, leaf_paths, tree_flatten, tree_unflatten
from .tracing import trace_flat
from .transpose import transpose

__all__ = ["linear_transpose", "primal_avals", "LinearTranspose"]


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


def _check_reduce_axes(reduce_axes) -> tuple:
    if isinstance(reduce_axes, str) or not isinstance(reduce_axes, (tuple, list)):
        raise TypeError(f"linear_transpose: reduce_axes must be a tuple of axis names, got "
                        f"{reduce_axes!r}; write reduce_axes=({reduce_axes!r},)")
    for name in reduce_axes:
        try:
            hash(name)
        except TypeError:
            raise TypeError(f"linear_transpose: axis names in reduce_axes must be hashable, got "
                            f"{name!r}") from None
    return tuple(reduce_axes)


class LinearTranspose:
    """The callable that :func:`linear_transpose` returns.

    Call it with one cotangent shaped like ``fun(*primals)``; it returns a
    tuple shaped like ``primals``, with exactly the primals' dtypes.

    Attributes
    ----------
    program : Program
        The traced forward program.
    transposed : Program
        Its transpose, which the call runs (no forward pass).
    reduce_axes : tuple
    mapped_axes : list or None
        For each primal leaf, the named axes it is mapped over (only with ``reduce_axes``).
    """

    def __init__(self, program, transposed, in_tree, in_avals, reduce_axes, mapped_axes=None):
        self.program = program
        self.transposed = transposed
        self.in_tree = in_tree
        self.in_avals = in_avals
        self.reduce_axes = reduce_axes
        self.mapped_axes = mapped_axes

    def __call__(self, cotangent):
        leaves = self._check_cotangent(cotangent)
        from .batching import reduce_named_axes

        outs = self.transposed.call_flat(leaves)
        outs = reduce_named_axes(outs, self.reduce_axes, self.mapped_axes)
        outs = [_cast_exact(o, aval) for o, aval in zip(outs, self.in_avals)]
        return tree_unflatten(self.in_tree, outs)

    def _check_cotangent(self, cotangent) -> list:
        from .execute import conform

        program = self.program
        leaves, tree = tree_flatten(cotangent)
        if tree != program.out_tree:
            raise TypeError(
                "linear_transpose: the cotangent must have the structure of fun's output, "
                f"{program.out_tree}; got {tree}")
        paths = leaf_paths(tree, "cotangent")
        return [conform(leaf, aval, f"linear_transpose: {path} (an output of fun)")
                for leaf, aval, path in zip(leaves, program.out_avals, paths)]

    def __repr__(self) -> str:
        return f"<linear transpose of\n{self.program}>"


def _cast_exact(x, aval: ShapeDtype):
    """Give ``x`` exactly ``aval.dtype``, truncating complex→real and double→single."""
    if x.dtype == aval.dtype:
        return x
    if np.issubdtype(x.dtype, np.complexfloating) and not np.issubdtype(aval.dtype, np.complexfloating):
        x = x.real
    return x.astype(aval.dtype)


def linear_transpose(fun, *primals, reduce_axes=()):
    """Transpose a linear NumPy function, with ``jax.linear_transpose`` semantics.

    Parameters
    ----------
    fun : callable
        A function that is linear in all of its arguments, written with NumPy.
    *primals
        Arrays, scalars, :class:`ShapeDtype` or objects with ``shape`` and
        ``dtype``, nested in tuples, lists, dicts, namedtuples and ``None``.
        Only shapes and dtypes are read. Integer dtypes raise ``TypeError``.
    reduce_axes : tuple of str, optional
        Named batch axes (from :func:`linop.vmap` with ``axis_name``) over which
        the transpose sums the cotangent of inputs that ``fun`` broadcast over
        that axis. Outside a named ``vmap`` it changes nothing.

    Returns
    -------
    LinearTranspose
        A callable taking one cotangent shaped like ``fun(*primals)`` and
        returning a tuple shaped like ``primals`` with exactly their dtypes.
        No forward pass is run: the call executes the transposed program.

    Raises
    ------
    NonLinearError, AffineError, UnsupportedFunctionError, ConversionError
        While tracing ``fun``, with the NumPy call and ``file:line``.

    Examples
    --------
    >>> import numpy as np, linop
    >>> f = lambda x, y: 0.5 * x - 0.5 * y
    >>> s = linop.ShapeDtype((), np.float32)
    >>> linop.linear_transpose(f, s, s)(1.0)
    (array(0.5, dtype=float32), array(-0.5, dtype=float32))
    """
    reduce_axes = _check_reduce_axes(reduce_axes)
    in_tree, avals = primal_avals(primals, "linear_transpose")
    program = trace_flat(fun, in_tree, avals)
    mapped_axes = None
    if reduce_axes:
        from .batching import primal_named_axes

        mapped_axes = primal_named_axes(primals)  # inputs that keep per-example cotangents
    return LinearTranspose(program, transpose(program), in_tree, avals, reduce_axes, mapped_axes)
