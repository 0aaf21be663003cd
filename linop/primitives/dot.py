"""One general contraction with a constant operand: ``dot``.

``dot(x; c, x_sub, c_sub, out_sub)`` computes ``einsum(f"{x_sub},{c_sub}->{out_sub}", x, c)``
under three guarantees that the NumPy adapter establishes: no subscript repeats
inside one operand, every letter of ``x_sub`` appears in ``c_sub`` or
``out_sub`` (letters that only ``x`` has are summed beforehand), and every
letter of ``c_sub`` appears in ``x_sub`` or ``out_sub``. With those, the
transpose is the same primitive with the roles of ``x`` and ``out`` swapped.
The implementation runs one batched matrix product (BLAS), not ``einsum``.
"""
from __future__ import annotations

import itertools
import string

import numpy as np
import scipy.sparse as sp

from ..ir import Const, ShapeDtype
from ..core import Primitive

__all__ = ["dot", "dot_p", "contract", "contraction_layout", "label", "labels"]


def label(i: int) -> str:
    """The ``i``-th subscript label: ASCII letters first, then other characters.

    ``dot`` never passes its subscripts to ``np.einsum``, so a contraction may
    use more than einsum's 52 letters (NumPy arrays have up to 64 axes each).
    """
    return string.ascii_letters[i] if i < 52 else chr(0x100 + i)


def labels(start: int, stop: int) -> str:
    """Labels ``start`` to ``stop - 1`` (see :func:`label`)."""
    return "".join(label(i) for i in range(start, stop))


def contraction_layout(x_shape, x_sub: str, c_shape, c_sub: str, out_sub: str) -> dict:
    """How :func:`contract` arranges its operands for one ``matmul``, from their shapes alone.

    Returns
    -------
    dict
        ``x_perm, x_block`` and ``c_perm, c_block``: each operand is permuted, then
        reshaped to a ``(batch, rows, columns)`` block; the product is reshaped to
        ``r_shape`` and permuted by ``out_perm``.
    """
    batch = [l for l in out_sub if l in x_sub and l in c_sub]
    free_x = [l for l in out_sub if l in x_sub and l not in c_sub]
    free_c = [l for l in out_sub if l in c_sub and l not in x_sub]
    summed = [l for l in x_sub if l in c_sub and l not in out_sub]
    size = {l: n for l, n in zip(x_sub, x_shape)}
    size.update({l: n for l, n in zip(c_sub, c_shape)})

    def block(sub, groups):
        order = tuple(sub.index(l) for g in groups for l in g)
        return order, tuple(int(np.prod([size[l] for l in g], dtype=np.int64)) for g in groups)

    x_perm, x_block = block(x_sub, (batch, free_x, summed))
    c_perm, c_block = block(c_sub, (batch, summed, free_c))
    current = batch + free_x + free_c
    return dict(x_perm=x_perm, x_block=x_block, c_perm=c_perm, c_block=c_block,
                r_shape=tuple(size[l] for l in current),
                out_perm=tuple(current.index(l) for l in out_sub))


def contract(x, x_sub: str, c, c_sub: str, out_sub: str, xp=np):
    """Compute ``einsum(x_sub,c_sub->out_sub)`` with one ``matmul`` call.

    Parameters
    ----------
    x, c : numpy.ndarray (or arrays of the array-API namespace ``xp``)
    x_sub, c_sub, out_sub : str
        Subscripts that satisfy the guarantees of :data:`dot_p`.
    xp : module, optional
        The array namespace (NumPy by default).

    Returns
    -------
    numpy.ndarray
    """
    plan = contraction_layout(x.shape, x_sub, c.shape, c_sub, out_sub)
    a = xp.reshape(xp.permute_dims(x, plan["x_perm"]), plan["x_block"])
    b = xp.reshape(xp.permute_dims(c, plan["c_perm"]), plan["c_block"])
    r = xp.reshape(xp.matmul(a, b), plan["r_shape"])
    return xp.permute_dims(r, plan["out_perm"])


def _arranged(expr: str, perm: tuple, shape, bind) -> str:
    """``expr`` permuted by ``perm`` (unless that changes nothing) and reshaped to ``shape``."""
    if perm != tuple(range(len(perm))):
        expr = f"{expr}.transpose({bind(perm)})"
    return f"{expr}.reshape({bind(shape)})"


class Dot(Primitive):
    """``einsum(x_sub,c_sub->out_sub)(x, c)`` for a constant ``c``."""

    name = "dot"
    returns_fresh = True
    returns_view = False
    real_linear = False

    def impl(self, x, *, c, x_sub, c_sub, out_sub):
        return contract(x, x_sub, c.value, c_sub, out_sub)

    def emit(self, args, avals, bind, *, c, x_sub, c_sub, out_sub):
        """:func:`contract`'s steps with the constant arranged once, when the plan is made."""
        plan = contraction_layout(avals[0].shape, x_sub, c.value.shape, c_sub, out_sub)
        block = np.reshape(np.transpose(c.value, plan["c_perm"]), plan["c_block"])
        a = _arranged(args[0], plan["x_perm"], plan["x_block"], bind)
        product = f"{bind(np.matmul)}({a}, {bind(block)}).reshape({bind(plan['r_shape'])})"
        out_perm = plan["out_perm"]
        if out_perm == tuple(range(len(out_perm))):
            return product
        return f"{product}.transpose({bind(out_perm)})"

    def array_impl(self, ns, x, *, c, x_sub, c_sub, out_sub):
        return contract(x, x_sub, ns.constant(c.value), c_sub, out_sub, xp=ns.xp)

    def dask_impl(self, dk, x, *, c, x_sub, c_sub, out_sub):
        letters = {l: string.ascii_letters[i] for i, l in enumerate(dict.fromkeys(x_sub + c_sub))}
        if len(letters) > len(string.ascii_letters):
            return self.array_impl(dk, x, c=c, x_sub=x_sub, c_sub=c_sub, out_sub=out_sub)
        # the constant's blocks follow the data's along shared letters, whole elsewhere
        chunks = tuple(x.chunks[x_sub.index(l)] if l in x_sub else (n,)
                       for l, n in zip(c_sub, c.value.shape))
        spec = "".join(letters[l] for l in x_sub) + "," + "".join(letters[l] for l in c_sub) + \
            "->" + "".join(letters[l] for l in out_sub)
        out = dk.da.einsum(spec, x, dk.constant(c.value, chunks=chunks))
        return out.astype(np.result_type(x.dtype, c.value.dtype), copy=False)

    def abstract_eval(self, x, *, c, x_sub, c_sub, out_sub):
        sizes = dict(zip(c_sub, c.value.shape))
        for l, n in zip(x_sub, x.shape):
            if sizes.setdefault(l, n) != n:
                raise ValueError(f"dot: size mismatch for index {l!r}: {sizes[l]} and {n}")
        return ShapeDtype(tuple(sizes[l] for l in out_sub), np.result_type(x.dtype, c.value.dtype))

    def transpose(self, ct, x, *, c, x_sub, c_sub, out_sub):
        return (dot(ct, c, out_sub, c_sub, x_sub),)

    def sparse_jacobian(self, x, *, c, x_sub, c_sub, out_sub):
        out = self.abstract_eval(x, c=c, x_sub=x_sub, c_sub=c_sub, out_sub=out_sub)
        matrix = _contraction_matrix(x, out, c.value, x_sub, c_sub, out_sub)
        return None if matrix is None else [matrix]

    def batch(self, size, x, *, c, x_sub, c_sub, out_sub):
        letter = _unused_label(x_sub + c_sub + out_sub)
        return dot(x, c, letter + x_sub, c_sub, letter + out_sub)

    def batch_last(self, size, x, *, c, x_sub, c_sub, out_sub):
        letter = _unused_label(x_sub + c_sub + out_sub)
        return dot(x, c, x_sub + letter, c_sub, out_sub + letter)


def _unused_label(subscripts: str) -> str:
    """The first axis label that ``subscripts`` do not use (the batch axis's)."""
    used = set(subscripts)
    return next(label(i) for i in itertools.count() if label(i) not in used)


dot_p = Dot()


def _flat_position(coords: dict, sub: str, shape) -> np.ndarray:
    """The C-order flat position of the elements whose index along letter ``l`` is ``coords[l]``."""
    position = np.zeros((1, 1), np.int64)
    for i, l in enumerate(sub):
        position = position + coords[l] * int(np.prod(shape[i + 1:], dtype=np.int64))
    return position


def _contraction_matrix(x, out, c: np.ndarray, x_sub: str, c_sub: str, out_sub: str):
    """The sparse matrix of ``einsum(x_sub,c_sub->out_sub)(·, c)`` on ``x`` (ShapeDtype).

    One entry per nonzero of ``c`` and index of the letters only ``x`` has; ``None``
    where that is more than half of the dense matrix (a dense contraction, which
    :func:`linop.tosparse` probes under its ``dense_limit``).
    """
    own = [l for l in x_sub if l not in c_sub]
    sizes = [x.shape[x_sub.index(l)] for l in own]
    flat = np.flatnonzero(c)
    width = int(np.prod(sizes, dtype=np.int64))
    if 2 * flat.size * width > out.size * x.size:
        return None
    coords = dict(zip(c_sub, (i[:, None] for i in np.unravel_index(flat, c.shape)))) \
        if c.ndim else {}
    if own:
        coords.update(zip(own, (i[None, :] for i in np.unravel_index(np.arange(width), sizes))))
    shape = (flat.size, width)
    rows = np.broadcast_to(_flat_position(coords, out_sub, out.shape), shape).ravel()
    cols = np.broadcast_to(_flat_position(coords, x_sub, x.shape), shape).ravel()
    vals = np.broadcast_to(c.ravel()[flat][:, None].astype(out.dtype), shape).ravel()
    return sp.csr_matrix((vals, (rows, cols)), shape=(out.size, x.size))


def dot(x, c, x_sub: str, c_sub: str, out_sub: str):
    """Record or compute the contraction of ``x`` with the constant ``c``."""
    if not isinstance(c, Const):
        c = Const(c)
    return dot_p.bind(x, c=c, x_sub=x_sub, c_sub=c_sub, out_sub=out_sub)
