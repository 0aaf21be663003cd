"""Vector layout of an operator: pytrees of leaves <-> flat NumPy vectors.

The function's input pytree is flattened in :func:`linop.pytree.tree_flatten`
order (tuples/lists in order, dict keys sorted, namedtuple fields in order) and
each leaf is ravelled in C order; the vector is the concatenation. Outputs
likewise. With ``real_coords`` a complex leaf contributes its real parts then
its imaginary parts (the order of :func:`linop.testing.real_coords`).
"""
from __future__ import annotations

import numpy as np

from ..namespace import backend_for
from ..precision import promote_program
from ..primitives.complex import real_dtype
from ..pytree import TreeDef, tree_flatten, tree_unflatten

__all__ = ["is_complex", "leaf_size", "Layout", "Source", "flat_vector"]


def is_complex(dtype) -> bool:
    """Whether ``dtype`` is a complex floating dtype."""
    return np.issubdtype(dtype, np.complexfloating)


def leaf_size(aval, real_coords) -> int:
    """The number of vector entries of the leaf ``aval`` (twice its size for real coordinates)."""
    return aval.size * (2 if real_coords and is_complex(aval.dtype) else 1)


def flat_vector(y, n, what) -> np.ndarray:
    """``y`` of shape ``(n,)`` or ``(n, 1)`` as a 1-d array; ``ValueError`` otherwise."""
    y = np.asarray(y)
    if y.shape not in ((n,), (n, 1)):
        raise ValueError(f"{what}: expected a vector of length {n}, got shape {y.shape}")
    return y.reshape(-1)


class Layout:
    """One side of an operator: a pytree structure and its leaves' shapes and dtypes.

    ``args`` is true for the input side, whose pytree is the tuple of the
    function's arguments (one argument is passed and returned itself).
    """

    def __init__(self, tree: TreeDef, avals, args: bool):
        self.tree, self.avals, self.args = tree, list(avals), args

    def flatten(self, value, what):
        """Leaves of ``value`` (the arguments: one itself, several as a tuple)."""
        if self.args:
            value = (value,) if len(self.tree.children) == 1 else value
            if not isinstance(value, tuple):
                raise TypeError(f"{what}: expected a tuple of {len(self.tree.children)} "
                                f"arguments, got {type(value).__name__}")
        return self._check(value, what)

    def flatten_args(self, args, what):
        """Leaves of ``args`` given as separate positional arguments."""
        value = tuple(args)
        if not self.args:
            value = value[0] if len(value) == 1 else value
        return self._check(value, what)

    def _check(self, value, what):
        leaves, tree = tree_flatten(value)
        if tree != self.tree:
            raise TypeError(f"{what}: expected a pytree of structure {self.tree}, got {tree}")
        return leaves

    def unflatten(self, leaves):
        """The pytree of ``leaves`` (one argument itself)."""
        out = tree_unflatten(self.tree, leaves)
        return out[0] if self.args and len(out) == 1 else out


class Source:
    """The traced user function behind an operator: its program, layouts and coordinates.

    Parameters
    ----------
    program : Program
        The traced function.
    in_avals, out_avals : list of ShapeDtype
        Its input and output leaves.
    real_coords : bool
        Whether complex leaves are split into real and imaginary coordinates.
    """

    def __init__(self, program, in_avals, out_avals, real_coords):
        self.program = program
        self.in_avals = in_avals
        self.out_avals = out_avals
        self.real_coords = real_coords
        self.in_layout = Layout(program.in_tree, in_avals, args=True)
        self.out_layout = Layout(program.out_tree, out_avals, args=False)

    def at_precision(self, real) -> "Source":
        """The same function replayed at the precision of ``real`` (see :func:`promote_program`)."""
        program = promote_program(self.program, real)
        return Source(program, program.in_avals, program.out_avals, self.real_coords)

    def ravel(self, leaves, avals, dtype) -> np.ndarray:
        """The flat vector of ``leaves`` (of ``avals``), of at least ``dtype``."""
        parts = []
        for leaf, aval in zip(leaves, avals):
            # arrays of another library (Dask) stay there: np.concatenate dispatches to it
            arr = leaf if backend_for((leaf,)) is not None else np.asarray(leaf)
            if tuple(arr.shape) != aval.shape:
                raise ValueError(f"expected a leaf of shape {aval.shape}, got {arr.shape}")
            if self.real_coords and is_complex(aval.dtype):
                parts += [arr.real.ravel(), arr.imag.ravel()]
            else:
                parts.append(arr.ravel())
        if not parts:
            return np.zeros(0, dtype)
        return np.concatenate(parts).astype(np.result_type(dtype, *[p.dtype for p in parts]))

    def unravel(self, vec, avals, keep_precision=False) -> list:
        """Leaves of ``avals`` from ``vec``: the leaf dtypes (promoted to complex for
        complex values), or with ``keep_precision`` the vector's precision where higher."""
        out, k = [], 0
        for aval in avals:
            n = aval.size
            if self.real_coords and is_complex(aval.dtype):
                leaf = vec[k:k + n] + 1j * vec[k + n:k + 2 * n]
                k += 2 * n
            else:
                leaf = vec[k:k + n]
                k += n
            out.append(leaf.astype(self._leaf_dtype(aval, leaf.dtype, keep_precision))
                       .reshape(aval.shape))
        return out

    def _leaf_dtype(self, aval, dtype, keep_precision=False) -> np.dtype:
        """The dtype of the leaf ``aval`` made from values of ``dtype``: the leaf's, promoted
        to complex for complex values (unless they are real coordinates of a complex leaf),
        or with ``keep_precision`` to the values' precision where higher."""
        out = aval.dtype
        if is_complex(dtype) and not is_complex(out):
            out = np.result_type(out, np.complex64)
        if keep_precision:
            out = np.result_type(out, real_dtype(np.result_type(dtype, np.float16)))
        return out

    def coordinates(self, leaves, avals, dtype) -> list:
        """The coordinate leaves of ``leaves`` (of ``avals``): the pieces :meth:`ravel`
        concatenates, in their leaves' shapes, all of one dtype (at least ``dtype``).

        For arrays of another library (Dask), whose ravel would merge their blocks.
        """
        parts = []
        for leaf, aval in zip(leaves, avals):
            arr = leaf if backend_for((leaf,)) is not None else np.asarray(leaf)
            if tuple(arr.shape) != aval.shape:
                raise ValueError(f"expected a leaf of shape {aval.shape}, got {tuple(arr.shape)}")
            if self.real_coords and is_complex(aval.dtype):
                parts += [arr.real, arr.imag]
            else:
                parts.append(arr)
        common = np.result_type(dtype, *[np.dtype(p.dtype) for p in parts])
        return [p if np.dtype(p.dtype) == common else p.astype(common) for p in parts]

    def from_coordinates(self, coords, avals) -> list:
        """Leaves of ``avals`` from coordinate leaves (the inverse of :meth:`coordinates`),
        of the dtypes :meth:`unravel` gives."""
        out, k = [], 0
        for aval in avals:
            if self.real_coords and is_complex(aval.dtype):
                leaf = coords[k] + 1j * coords[k + 1]
                k += 2
            else:
                leaf = coords[k]
                k += 1
            out.append(leaf.astype(self._leaf_dtype(aval, np.dtype(leaf.dtype))))
        return out

    def shape_hint(self, x, flipped) -> str:
        """Advice for an array ``x`` shaped like one of the leaves the operator maps.

        ``flipped``: the operator is the adjoint (its vectors are output-shaped).
        """
        avals = self.out_avals if flipped else self.in_avals
        if tuple(np.shape(x)) not in [a.shape for a in avals] or len(np.shape(x)) == 1:
            return ""
        if flipped:
            return (". It has the shape of the function's output: A.H @ y follows SciPy (a 2-d "
                    "array is a matrix of column vectors), so use A.H.apply(y) (that is, "
                    "A.apply_adjoint(y)) for the adjoint of an output-shaped array, or "
                    "A.H @ A.H.ravel_input(y) for the flat vector")
        return (". It has the shape of the function's input: A @ x follows SciPy (a 2-d "
                "array is a matrix of column vectors), so use A.apply(x) to apply the "
                "function to its own arguments, or A @ A.ravel_input(x) for the flat vector")
