"""Contractions: matmul, dot, vdot, inner, outer, tensordot, einsum, kron.

All of them lower to :func:`contract_with_constants`, which establishes the
guarantees of the ``dot`` primitive (see :mod:`linop.primitives.dot`).
"""
from __future__ import annotations

import string

import numpy as np

from ..errors import user_location
from ..primitives import complex as C, shape as S
from ..primitives.dot import dot, label, labels
from ..core import is_tracer
from .registry import implements, implements_ufunc
from .util import (constant, distinct, is_scipy_sparse, nonlinear, promote_dtype, to_dtype,
                   unsupported)
from .elementwise import multiply
from .reductions import diagonal_raw
from .views import make_view

_LETTERS = string.ascii_letters


def _strong_promote(*ops):
    """Result dtype of contraction operands: NumPy converts Python scalars to arrays here,
    so they are not weakly typed as in ufuncs."""
    return promote_dtype(*(o if is_tracer(o) else np.asarray(o) for o in ops))


def _one_tracer(operands, what):
    tracers = [i for i, op in enumerate(operands) if is_tracer(op)]
    if len(tracers) > 1:
        raise nonlinear(what, "it multiplies two traced arrays, which is bilinear, not linear "
                              "(x @ x is quadratic). All operands but one must be constants.")
    return tracers[0]


def _fresh_letter(used):
    """An unused label: past einsum's 52 letters for arrays of up to 64 axes (see ``label``)."""
    i = 0
    while label(i) in used:
        i += 1
    used.add(label(i))
    return label(i)


def contract_with_constants(x, x_sub: str, consts, out_sub: str, dtype=None):
    """``einsum`` of the tracer ``x`` with constant operands, lowered to one ``dot``.

    Parameters
    ----------
    x : Tracer
    x_sub : str
        Subscripts of ``x`` (letters; repeats mean a diagonal).
    consts : list of (array, str)
        Constant operands with their subscripts.
    out_sub : str
        Output subscripts; every letter must occur in some operand.
    dtype : dtype, optional
        Result dtype; default: NumPy's promotion of all operands.

    Returns
    -------
    Tracer
    """
    res = np.dtype(dtype) if dtype is not None else promote_dtype(x, *(c for c, _ in consts))
    x = to_dtype(x, res, "a contraction")
    x, x_sub = _take_diagonals(x, x_sub)
    needed = set(x_sub) | set(out_sub)
    c_sub = "".join(dict.fromkeys(l for _, s in consts for l in s if l in needed))
    c = _combined_constant(consts, c_sub, res) if consts else None
    only_x = tuple(i for i, l in enumerate(x_sub) if l not in c_sub and l not in out_sub)
    if only_x:
        x = S.reduce_sum(x, only_x)
        x_sub = "".join(l for l in x_sub if l in c_sub or l in out_sub)
    if c is None:
        if sorted(x_sub) != sorted(out_sub):
            raise ValueError(f"einsum: output subscript {out_sub!r} has letters not in the operands")
        out = S.transpose(x, tuple(x_sub.index(l) for l in out_sub))
        return distinct(out, x)
    return dot(x, c, x_sub, c_sub, out_sub)


def _combined_constant(consts, c_sub, dtype):
    """The constant operands contracted into one array with subscripts ``c_sub``.

    One operand without repeated subscripts (every product but einsum's) is summed and
    transposed directly: its labels may go beyond the 52 letters that np.einsum knows.
    """
    if len(consts) == 1 and len(set(consts[0][1])) == len(consts[0][1]):
        value, sub = np.asarray(consts[0][0]), consts[0][1]
        summed = tuple(i for i, l in enumerate(sub) if l not in c_sub)
        if summed:
            value = value.sum(axis=summed)
            sub = "".join(l for l in sub if l in c_sub)
        return np.asarray(np.transpose(value, [sub.index(l) for l in c_sub]), dtype=dtype)
    spec = _einsum_letters(",".join(s for _, s in consts) + "->" + c_sub)
    c = np.einsum(spec, *(np.asarray(v) for v, _ in consts), optimize=len(consts) > 2)
    return np.asarray(c, dtype=dtype)


def _einsum_letters(spec: str) -> str:
    """``spec`` with its labels renamed to the 52 letters that ``np.einsum`` accepts."""
    names = dict.fromkeys(l for l in spec if l not in ",->")
    if all(l in _LETTERS for l in names):
        return spec
    if len(names) > len(_LETTERS):
        raise ValueError(f"np.einsum at {user_location()}: the constant operands use {len(names)} "
                         f"distinct subscripts together, more than the {len(_LETTERS)} that "
                         "np.einsum can combine. Combine the constants with np.einsum outside "
                         "the traced function, or contract them one at a time.")
    rename = dict(zip(names, _LETTERS))
    return "".join(rename.get(l, l) for l in spec)


def _take_diagonals(x, x_sub):
    """Replace repeated letters of ``x_sub`` by diagonals (last axis), as einsum does."""
    while len(set(x_sub)) != len(x_sub):
        letter = next(l for l in x_sub if x_sub.count(l) > 1)
        i = x_sub.index(letter)
        j = x_sub.index(letter, i + 1)
        x = diagonal_raw(x, 0, i, j)
        x_sub = "".join(l for k, l in enumerate(x_sub) if k not in (i, j)) + letter
    return x, x_sub


# -- einsum ---------------------------------------------------------------------
def parse_einsum(subscripts: str, shapes) -> tuple[list, str]:
    """Expand ``...`` and the implicit output of an einsum specification.

    Returns
    -------
    subs : list of str
        One explicit subscript string per operand.
    out : str
    """
    subscripts = subscripts.replace(" ", "")
    for ch in subscripts:
        if not (ch.isascii() and ch.isalpha()) and ch not in ",->.":
            raise ValueError(f"invalid subscript '{ch}' in einstein sum subscripts string, "
                             "subscripts must be letters")
    if "->" in subscripts:
        ins, out = subscripts.split("->")
        explicit = True
    else:
        ins, out, explicit = subscripts, "", False
    in_list = ins.split(",")
    if len(in_list) != len(shapes):
        raise ValueError("more operands provided to einstein sum function than specified in the "
                         "subscripts string" if len(shapes) > len(in_list) else
                         "fewer operands provided to einstein sum function than specified in the "
                         "subscripts string")
    used = set(l for l in subscripts if l.isalpha())
    ell_ndim = max((len(shp) - len(s.replace("...", ""))
                    for s, shp in zip(in_list, shapes) if "..." in s), default=0)
    ell_letters = "".join(_fresh_letter(used) for _ in range(ell_ndim))
    subs = []
    for s, shp in zip(in_list, shapes):
        if "..." in s:
            k = len(shp) - len(s.replace("...", ""))
            s = s.replace("...", ell_letters[ell_ndim - k:] if k else "")
        if len(s) != len(shp):
            raise ValueError(f"einstein sum subscripts string {s!r} has {len(s)} dimensions "
                             f"but the operand has {len(shp)}")
        subs.append(s)
    if explicit:
        out = out.replace("...", ell_letters)
    else:
        counts = {}
        for s in in_list:
            for l in s.replace("...", ""):
                counts[l] = counts.get(l, 0) + 1
        out = ell_letters + "".join(sorted(l for l, n in counts.items() if n == 1))
    return subs, out


def _interleaved_to_string(operands):
    ops, subs = list(operands[0::2]), list(operands[1::2])
    out = None
    if len(operands) % 2 == 1:
        out = operands[-1]
        subs = subs[: len(ops) - 1] if len(subs) >= len(ops) else subs
        ops = ops[: len(ops) - 1] if len(ops) > len(subs) else ops

    def conv(sub):
        return "".join("..." if s is Ellipsis else _LETTERS[s] for s in sub)

    spec = ",".join(conv(s) for s in subs)
    if out is not None:
        spec += "->" + conv(out)
    return spec, ops


@implements(np.einsum)
def einsum(*operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    """``np.einsum`` with one traced operand (any subscripts, ``...``, implicit output)."""
    if out is not None:
        raise unsupported("np.einsum(..., out=...)", "Assign the result instead.")
    if isinstance(operands[0], str):
        spec, ops = operands[0], list(operands[1:])
    else:
        spec, ops = _interleaved_to_string(operands)
    k = _one_tracer(ops, "np.einsum")
    shapes = [tuple(o.shape) if is_tracer(o) else np.shape(o) for o in ops]
    subs, out_sub = parse_einsum(spec, shapes)
    shapes = _broadcast_labels(subs, shapes)
    x = ops[k]
    if tuple(x.shape) != shapes[k]:
        x = S.broadcast_to(x, shapes[k])
    consts = [(np.broadcast_to(constant(o), shp), s)
              for i, (o, s, shp) in enumerate(zip(ops, subs, shapes)) if i != k]
    res = _strong_promote(*ops)
    if dtype is not None:
        dtype = np.dtype(dtype)
        for op in ops:
            if not np.can_cast(_strong_promote(op), dtype, casting):
                raise TypeError(f"Cannot cast array data from {_strong_promote(op)!r} to {dtype!r} "
                                f"according to the rule {casting!r}")
        res = dtype
    out = contract_with_constants(x, subs[k], consts, out_sub, res)
    if len(ops) == 1 and set(out_sub) == set(subs[0]) and res == x.dtype:
        # NumPy returns a view here (a transpose or a diagonal): writes through it, or
        # reads after x changes, would depend on that; refuse them rather than guess.
        return make_view(x, out, lambda b: einsum(*operands, dtype=dtype, casting=casting), None,
                         "ambiguous", "np.einsum on one operand")
    return out


def _broadcast_labels(subs, shapes):
    """Sizes of each label, broadcasting size-1 dimensions as einsum does."""
    size = {}
    for s, shp in zip(subs, shapes):
        for l, n in zip(s, shp):
            if size.get(l, 1) == 1:
                size[l] = n
            elif n not in (1, size[l]):
                raise ValueError(f"operands could not be broadcast together: dimension {l!r} is "
                                 f"{size[l]} and {n}")
    return [tuple(size[l] for l in s) for s in subs]


# -- matmul family ----------------------------------------------------------------
def _refuse_sparse(what, a, b):
    """NumPy's functions treat SciPy sparse matrices as opaque objects: point to ``S @ x``."""
    if is_scipy_sparse(a) or is_scipy_sparse(b):
        raise unsupported(f"{what} with a scipy.sparse operand",
                          "NumPy's function does not understand sparse matrices (it fails on "
                          "arrays too); write the product with the operator: S @ x, x @ S or "
                          "S.dot(x).")


def matmul(a, b):
    """``a @ b`` with exactly one traced operand (NumPy's 1-D and batch rules)."""
    _refuse_sparse("np.matmul", a, b)
    _one_tracer([a, b], "np.matmul (@)")
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    a2 = (1,) + sa if len(sa) == 1 else sa
    b2 = sb + (1,) if len(sb) == 1 else sb
    if a2[-1] != b2[-2]:
        raise ValueError(f"matmul: Input operand 1 has a mismatch in its core dimension 0, with "
                         f"gufunc signature (n?,k),(k,m?)->(n?,m?) (size {b2[-2]} is different "
                         f"from {a2[-1]})")
    batch = S.broadcast_shapes(a2[:-2], b2[:-2])
    nb = len(batch)
    bl = labels(0, nb)
    i, j, k = labels(nb, nb + 3)
    out_sub = bl + (i if len(sa) > 1 else "") + (k if len(sb) > 1 else "")
    a_full, b_full = batch + a2[-2:], batch + b2[-2:]
    a_sub, b_sub = bl + i + j, bl + j + k
    ops = [_reshape_any(a, a2, a_full), _reshape_any(b, b2, b_full)]
    return _contract_two(ops, [a_sub, b_sub], out_sub)


@implements_ufunc(np.matmul)
def matmul_ufunc(x, y, dtype=None):
    """``x @ c`` or ``c @ x`` with a constant ``c``."""
    out = matmul(x, y)
    return out if dtype is None else to_dtype(out, dtype, "dtype=")


@implements(np.linalg.matmul)
def linalg_matmul(x1, x2, /):
    """``np.linalg.matmul``: the array-API spelling of ``np.matmul`` (no keywords)."""
    return matmul(x1, x2)


def _shape(x):
    return tuple(x.shape) if is_tracer(x) else np.shape(x)


def _reshape_any(x, shape, full):
    if is_tracer(x):
        return S.broadcast_to(S.reshape(x, shape), full)
    return np.broadcast_to(np.reshape(x, shape), full)


def _contract_two(ops, subs, out_sub):
    k = 0 if is_tracer(ops[0]) else 1
    res = _strong_promote(*ops)
    return contract_with_constants(ops[k], subs[k], [(ops[1 - k], subs[1 - k])], out_sub, res)


@implements(np.dot, method="dot")
def dot_(a, b, out=None):
    """``np.dot`` with one traced operand."""
    if out is not None:
        raise unsupported("np.dot(..., out=...)", "Assign the result instead.")
    _refuse_sparse("np.dot", a, b)
    _one_tracer([a, b], "np.dot")
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return _scalar_product(a, b)
    la = labels(0, len(sa))
    if len(sb) == 1:
        lb = la[-1]
    else:
        lb = labels(len(sa), len(sa) + len(sb) - 2) + la[-1] + labels(len(sa) + len(sb) - 2,
                                                                       len(sa) + len(sb) - 1)
    out_sub = la[:-1] + "".join(l for l in lb if l != la[-1])
    _check_sizes([la, lb], [sa, sb], "np.dot")
    return _contract_two([a, b], [la, lb], out_sub)


def _scalar_product(a, b):
    """``np.dot``/``np.inner`` with a 0-d operand: a product, scalars typed as arrays."""
    return multiply(*(o if is_tracer(o) else np.asarray(o) for o in (a, b)))


def _check_sizes(subs, shapes, what):
    size = {}
    for s, shp in zip(subs, shapes):
        for l, n in zip(s, shp):
            if size.setdefault(l, n) != n:
                raise ValueError(f"{what}: shapes {shapes[0]} and {shapes[1]} not aligned")


@implements(np.vdot)
def vdot(a, b):
    """``np.vdot``: conjugates its first argument (real-linear if that one is traced)."""
    _one_tracer([a, b], "np.vdot")
    if is_tracer(a):
        a = C.conj(a) if np.issubdtype(a.dtype, np.complexfloating) else a
        a = S.reshape(a, (a.size,))
    else:
        a = np.conj(np.ravel(a))
    b = S.reshape(b, (b.size,)) if is_tracer(b) else np.ravel(b)
    if _shape(a)[0] != _shape(b)[0]:
        raise ValueError("cannot reshape array: vdot operands need the same size")
    return _contract_two([a, b], ["a", "a"], "")


@implements(np.inner)
def inner(a, b):
    """``np.inner``: contraction over the last axes."""
    _one_tracer([a, b], "np.inner")
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return _scalar_product(a, b)
    la = labels(0, len(sa))
    lb = labels(len(sa), len(sa) + len(sb) - 1) + la[-1]
    _check_sizes([la, lb], [sa, sb], "np.inner")
    return _contract_two([a, b], [la, lb], la[:-1] + lb[:-1])


def outer_nd(a, b):
    """Every element of ``a`` times every element of ``b`` (one of them constant)."""
    _one_tracer([a, b], "np.outer")
    sa, sb = _shape(a), _shape(b)
    la, lb = labels(0, len(sa)), labels(len(sa), len(sa) + len(sb))
    return _contract_two([a, b], [la, lb], la + lb)


@implements(np.outer)
def outer(a, b, out=None):
    """``np.outer``: of the flattened inputs."""
    if out is not None:
        raise unsupported("np.outer(..., out=...)", "Assign the result instead.")
    ra = S.reshape(a, (a.size,)) if is_tracer(a) else np.ravel(a)
    rb = S.reshape(b, (b.size,)) if is_tracer(b) else np.ravel(b)
    return outer_nd(ra, rb)


@implements(np.linalg.outer)
def linalg_outer(x1, x2, /):
    """``np.linalg.outer``: as ``np.outer``, but only of 1-D arrays."""
    n1, n2 = len(_shape(x1)), len(_shape(x2))
    if n1 != 1 or n2 != 1:
        raise ValueError("Input arrays must be one-dimensional, but they are "
                         f"x1.ndim={n1} and x2.ndim={n2}.")
    return outer_nd(x1, x2)


@implements(np.tensordot)
def tensordot(a, b, axes=2):
    """``np.tensordot`` with an int or a pair of axis lists."""
    _one_tracer([a, b], "np.tensordot")
    sa, sb = _shape(a), _shape(b)
    if np.ndim(axes) == 0:
        n = int(axes)
        ax_a, ax_b = list(range(len(sa) - n, len(sa))), list(range(n))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if np.ndim(ax_a) == 0 else list(ax_a)
        ax_b = [ax_b] if np.ndim(ax_b) == 0 else list(ax_b)
    ax_a = [x % len(sa) for x in ax_a]
    ax_b = [x % len(sb) for x in ax_b]
    if len(ax_a) != len(ax_b) or any(sa[i] != sb[j] for i, j in zip(ax_a, ax_b)):
        raise ValueError("shape-mismatch for sum")
    la = labels(0, len(sa))
    lb = list(labels(len(sa), len(sa) + len(sb)))
    for i, j in zip(ax_a, ax_b):
        lb[j] = la[i]
    lb = "".join(lb)
    out_sub = "".join(l for k, l in enumerate(la) if k not in ax_a) + \
        "".join(l for k, l in enumerate(lb) if k not in ax_b)
    return _contract_two([a, b], [la, lb], out_sub)


@implements(np.kron)
def kron(a, b):
    """``np.kron``: an outer product with interleaved axes, reshaped."""
    _one_tracer([a, b], "np.kron")
    sa, sb = _shape(a), _shape(b)
    nd = max(len(sa), len(sb))
    sa2, sb2 = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    a2 = S.reshape(a, sa2) if is_tracer(a) else np.reshape(a, sa2)
    b2 = S.reshape(b, sb2) if is_tracer(b) else np.reshape(b, sb2)
    la, lb = labels(0, nd), labels(nd, 2 * nd)
    out_sub = "".join(x + y for x, y in zip(la, lb))
    prod = _contract_two([a2, b2], [la, lb], out_sub)
    return S.reshape(prod, tuple(x * y for x, y in zip(sa2, sb2)))


# -- NumPy 2 matrix-vector ufuncs and polynomials -------------------------------------
def _conj_any(x):
    if is_tracer(x):
        return C.conj(x) if np.issubdtype(x.dtype, np.complexfloating) else x
    return np.conj(np.asarray(x))


@implements_ufunc(np.matvec)
def matvec(x1, x2, dtype=None):
    """``np.matvec``: matrix times vector over the last axes, batch axes broadcast."""
    return einsum("...ij,...j->...i", x1, x2, dtype=dtype, casting="same_kind")


@implements_ufunc(np.vecmat)
def vecmat(x1, x2, dtype=None):
    """``np.vecmat``: conjugated vector times matrix over the last axes."""
    return einsum("...j,...jk->...k", _conj_any(x1), x2, dtype=dtype, casting="same_kind")


@implements_ufunc(np.vecdot)
def vecdot(x1, x2, dtype=None):
    """``np.vecdot``: ``sum(conj(x1) * x2)`` over the last axis, batch axes broadcast."""
    return einsum("...j,...j->...", _conj_any(x1), x2, dtype=dtype, casting="same_kind")


@implements(np.linalg.vecdot)
def linalg_vecdot(x1, x2, /, *, axis=-1):
    """``np.linalg.vecdot``: ``np.vecdot`` over ``axis`` (the last by default)."""
    return np.vecdot(x1, x2, axis=axis)


@implements(np.polyval)
def polyval(p, x):
    """``np.polyval``: linear in the coefficients ``p`` when the points ``x`` are constant."""
    if is_tracer(x):
        raise nonlinear("np.polyval(p, x) with traced x", "a polynomial in x is not linear in x; "
                        "it is linear in the coefficients p")
    x = np.asanyarray(x)
    if p.ndim != 1:
        raise unsupported("np.polyval with multi-dimensional coefficients")
    vander = np.vander(x.ravel(), N=p.shape[0])
    res = promote_dtype(p, x)
    out = contract_with_constants(p, "j", [(vander, "ij")], "i", res)
    return S.reshape(out, x.shape)
