"""The exact sparse matrix of a flat program, composed from each primitive's own rule.

Every variable ``v`` of a flat program ``dtype[n] -> dtype[m]`` is held as
``v = P_v x + Q_v conj(x)`` over the flat input ``x`` (``Q_v`` is absent unless
a real-linear step such as ``conj`` occurs), each matrix in one of two forms:

* :class:`Slots`, while its rows have about equally many entries: groups of
  arrays of shape ``(K,) + v.shape`` holding the column and the coefficient of
  each row's ``k``-th entry (coefficient zero: no entry), and slots held as an
  :class:`IndexMap` (entries on a lattice of rows, affine columns, one
  coefficient): the identity, and what slices, pads, transposes, flips, reshapes
  (:meth:`linop.core.Primitive.element_map`, :attr:`~linop.core.Primitive.keeps_flat_order`)
  and scalar factors make of it, a stencil's slots, are composed as numbers
  and never as arrays. A step that only moves
  elements (:attr:`linop.core.Primitive.moves_elements`: slices, pads, reshapes,
  transposes, flips, rolls, broadcasts, gathers, concatenations, slice updates)
  runs its own ``batch`` rule on those arrays; a :class:`~linop.core.Scaling`
  multiplies the coefficients, a :class:`~linop.core.Placement` moves them, a
  sum keeps its terms' groups, and a matrix with one entry per row gathers the
  slots it reads. No sparse product and no sorting per equation;
* CSR, for rows of very unequal lengths (everything summed onto a few elements)
  and for matrices with several entries per row (reductions, scatters, sparse
  products, convolutions), multiplied as sparse matrices.

The program is first fused as for execution (``y[i] -= v`` becomes one
``add_slice``, which places ``v`` instead of copying ``y``). Each equation
applies the rule its primitive gives (:meth:`linop.core.Primitive.sparse_jacobian`),
so the cost grows with the number of nonzeros, never with ``n`` products. A
primitive without a rule is probed once on the identity (its ``batch`` rule), up
to ``dense_limit`` elements of its matrix. The CSR matrix is built once, at the
end: sorted indices, duplicates summed, exact zeros dropped. Where every slot is a
band (column = row + a fixed offset: stencils), the slots are laid out as the
diagonals of a ``scipy.sparse.dia_matrix``, whose conversion writes the CSR rows
in order, with no sort and no per-entry index arrays. For a real input ``conj(x) = x``
and the matrix is ``P + Q``; a complex program must end with ``Q = 0`` (to
rounding).
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from ..core import Placement, Scaling
from ..errors import DenseMatrixError, LinopError, user_location
from ..passes import fuse_for_execution
from .layout import is_complex

__all__ = ["DEFAULT_DENSE_LIMIT", "IndexMap", "Slots", "program_matrix", "tosparse",
           "check_dense_limit"]

#: The largest dense matrix (in elements) of one step that :func:`program_matrix` probes.
DEFAULT_DENSE_LIMIT = 2 ** 22
#: Slots are kept while their array holds at most this many times the entries (plus
#: one per row); rows of more unequal lengths switch to CSR.
SLOT_WASTE = 2
#: Rows per block when slots are interleaved into CSR rows (a cache-sized transposition).
ROWS_PER_BLOCK = 1 << 14
#: From this many slots on, a step that adds slots checks how many rows fill them and,
#: where at most half are used, packs the entries (duplicate columns summed).
PACK_FROM_SLOTS = 8


def check_dense_limit(dense_limit, what) -> int:
    """``dense_limit`` as a non-negative int, else a ``TypeError`` naming ``what``."""
    if isinstance(dense_limit, (bool, np.bool_)) or not isinstance(dense_limit, numbers.Integral) \
            or dense_limit < 0:
        raise TypeError(f"{what} at {user_location()}: dense_limit must be a non-negative integer "
                        f"(elements of one step's dense matrix, e.g. 2**22), got {dense_limit!r}")
    return int(dense_limit)


# -- the slot form ------------------------------------------------------------------
def _c_strides(shape) -> tuple:
    """The C-order strides of ``shape``, in elements."""
    strides, step = [], 1
    for n in reversed(tuple(shape)):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _lattice_meet(first, step, count, in_first, in_step, size):
    """The pairs ``(t, u)``, ``t < size`` and ``u < count``, with ``in_first + in_step * t ==
    first + step * u``, as ``(t0, dt, k, u0, du)``: ``t = t0 + dt * j``, ``u = u0 + du * j``
    for ``j < k``; ``None`` where they form no such progression that is cheap to find."""
    if count <= 0 or size <= 0:
        return 0, 1, 0, 0, 0
    if in_step == 0:
        u, rest = divmod(in_first - first, step)
        return (0, 1, size, u, 0) if rest == 0 and 0 <= u < count else (0, 1, 0, 0, 0)
    if step == 1 or count == 1:            # u = in_first + in_step * t - first, in range(count)
        if in_step > 0:
            lo, hi = _ceil_div(first - in_first, in_step), (first + count - 1 - in_first) // in_step
        else:
            lo = _ceil_div(in_first - first - count + 1, -in_step)
            hi = (in_first - first) // -in_step
        lo, hi = max(lo, 0), min(hi, size - 1)
        return lo, 1, hi - lo + 1, in_first + in_step * lo - first, in_step
    if in_step == 1:                       # t = first + step * u - in_first, in range(size)
        lo = max(_ceil_div(in_first - first, step), 0)
        hi = min((size - 1 + in_first - first) // step, count - 1)
        return first + step * lo - in_first, step, hi - lo + 1, lo, 1
    return None


def _axis_groups(old, new) -> list:
    """The axes of shapes ``old`` and ``new`` (one nonzero size), paired in groups of equal size."""
    groups, i, j = [], 0, 0
    while i < len(old) or j < len(new):
        a, b, p, q = [], [], 1, 1
        while not a or not b or p != q:
            if (p <= q or j == len(new)) and i < len(old) and (not a or p < q):
                a.append(i)
                p *= old[i]
                i += 1
            elif j < len(new):
                b.append(j)
                q *= new[j]
                j += 1
            else:
                break
        groups.append((a, b))
    return groups


def _merged_line(axes, dims):
    """The lattice of ``axes`` (``(first, step, count, stride)``, outermost first, over
    ``dims``) as one progression over their C-order position, or ``None``."""
    first, step, count, stride = 0, 1, 1, 0
    inner = 1
    for (f, s, c, w), d in zip(reversed(axes), reversed(dims)):
        if c == 1:
            first += f * inner
        elif count == 1:
            first, step, count, stride = first + f * inner, s * inner, c, w
        elif s * inner == step * count and w == stride * count:
            first, count = first + f * inner, count * c
        else:
            return None
        inner *= d
    return first, step, count, stride


def _split_line(line, dims):
    """The progression ``line`` over a C-order position as one lattice axis per entry of
    ``dims`` (``(first, step, count, stride)``, outermost first), or ``None``."""
    first, step, count, stride = line
    axes = []
    for d in reversed(dims):
        if count == 1 or step % d == 0:              # one position along this axis
            axes.append((first % d, 1, 1, 0))
            first, step = first // d, max(step // d, 1)
        elif first % d + step * (count - 1) < d:     # within one run of this axis
            axes.append((first % d, step, count, stride))
            first, step, count, stride = first // d, 1, 1, 0
        elif step == 1 and first % d == 0 and count % d == 0:    # whole runs
            axes.append((0, 1, d, stride))
            first, count, stride = first // d, count // d, stride * d
        else:
            return None
    return None if count != 1 else axes[::-1]


class IndexMap:
    """One slot whose entries lie on a lattice of rows, with affine columns and one coefficient.

    The rows are laid out in ``shape``, the slot's own (rows are C-order positions,
    whatever the layout of the :class:`Slots` holding it). Along axis ``d`` the slot
    has entries at the positions ``first + step * t_d`` for ``t_d`` in ``range(count)``
    (``lattice[d]``); the entry at ``t`` has the column ``base + sum_d stride[d] * t_d``
    and the coefficient ``value[0]``. Slices, pads, transposes, flips and reshapes of
    the identity and scalar multiples of them (a stencil's slots) stay in this form:
    no arrays are moved, and whether their rows are bands is known from the numbers.

    Parameters
    ----------
    shape : tuple of int
    lattice : tuple of (int, int, int)
        ``(first, step, count)`` per axis.
    base : int
    stride : tuple of int
    value : numpy.ndarray
        One element, of the coefficients' dtype (scaling it keeps NumPy's array rules).
    index : numpy.dtype
        The dtype of materialised columns.
    """

    __slots__ = ("shape", "lattice", "base", "stride", "value", "index")

    def __init__(self, shape, lattice, base, stride, value, index):
        self.shape, self.lattice, self.stride = tuple(shape), tuple(lattice), tuple(stride)
        self.base = base
        self.value, self.index = value, index

    @classmethod
    def identity(cls, shape, dtype, index) -> IndexMap:
        """The identity over ``prod(shape)`` columns, coefficients of ``dtype``."""
        return cls(shape, tuple((0, 1, n) for n in shape), 0, _c_strides(shape), np.ones(1, dtype),
                   index)

    @property
    def empty(self) -> bool:
        """Whether the slot has no entries."""
        return any(count == 0 for _, _, count in self.lattice)

    def region(self) -> tuple:
        """The basic index of the rows holding entries."""
        return tuple(slice(f, f + s * (c - 1) + 1, s) for f, s, c in self.lattice)

    def with_value(self, value) -> IndexMap:
        """The same slot with the coefficient ``value`` (an array of one element)."""
        return IndexMap(self.shape, self.lattice, self.base, self.stride, value, self.index)

    def moved(self, element_map, shape):
        """The slot after a step with :meth:`~linop.core.Primitive.element_map` ``element_map``
        (output ``shape``), or ``None`` where that needs arrays."""
        lattice, stride, base = [], [], self.base
        for axis, out_first, out_step, in_first, in_step, size in element_map:
            first, step, count = (0, 1, 1) if axis is None else self.lattice[axis]
            meet = _lattice_meet(first, step, count, in_first, in_step, size)
            if meet is None:
                return None
            t0, dt, k, u0, du = meet
            w = 0 if axis is None else self.stride[axis]
            lattice.append((out_first + out_step * t0, out_step * dt if k > 1 else 1, max(k, 0)))
            stride.append(w * du)
            base += w * u0
        return IndexMap(shape, lattice, base, stride, self.value, self.index)

    def laid_out(self, shape):
        """The same slot with its rows laid out in ``shape`` (same size), or ``None`` where
        its lattice is not one there (a box cut along an inner axis, flattened)."""
        shape = tuple(shape)
        if shape == self.shape:
            return self
        if self.empty:
            return IndexMap(shape, ((0, 1, 0),) * len(shape), 0, (0,) * len(shape), self.value,
                            self.index)
        lattice, stride, base = [], [], self.base
        for old, new in _axis_groups(self.shape, shape):
            line = _merged_line([self.lattice[a] + (self.stride[a],) for a in old],
                                [self.shape[a] for a in old])
            axes = None if line is None else _split_line(line, [shape[a] for a in new])
            if axes is None:
                return None
            lattice += [axis[:3] for axis in axes]
            stride += [axis[3] for axis in axes]
        return IndexMap(shape, lattice, base, stride, self.value, self.index)

    def band_offset(self):
        """``column - row``, the same for every entry, or ``None`` where it varies."""
        rows = _c_strides(self.shape)
        if any(c > 1 and w != r * s for (_, s, c), w, r in zip(self.lattice, self.stride, rows)):
            return None
        return self.base - sum(r * f for (f, _, _), r in zip(self.lattice, rows))

    def arrays(self) -> tuple:
        """``(cols, vals)`` of shape ``(1,) + shape`` (zero coefficients off the lattice)."""
        cols = np.zeros((1,) + self.shape, self.index)
        vals = np.zeros((1,) + self.shape, self.value.dtype)
        if not self.empty:
            region = (0,) + self.region()
            vals[region] = self.value[0]
            total = np.int64(self.base)
            for d, ((_, _, count), w) in enumerate(zip(self.lattice, self.stride)):
                along = (1,) * d + (count,) + (1,) * (len(self.shape) - d - 1)
                total = total + (w * np.arange(count, dtype=np.int64)).reshape(along)
            cols[region] = total
        return cols, vals


class Slots:
    """A sparse matrix over the flat input with a few entries per row, in groups of slots.

    Each group is a pair of arrays of shape ``(K_g,) + shape``: the columns and the
    coefficients of ``K_g`` entries of every row (row ``i`` is the C-order position
    ``i`` in ``shape``). A zero coefficient is no entry (its column is any valid
    index); duplicate columns in one row add up. A sum keeps the groups of its terms,
    so adding slots copies none. Slots of a stencil are held as :class:`IndexMap`
    instead (``maps``) until some step needs them as arrays (:attr:`groups`).

    Parameters
    ----------
    groups : list of (numpy.ndarray, numpy.ndarray)
        ``(cols, vals)`` pairs of one ``shape``; ``cols`` of an integer dtype.
    full_at : int
        A depth at which some row was found to use most slots (0: not looked at);
        :func:`_packed` looks again only at twice that depth.
    maps : list of IndexMap
        More slots, over the same rows.
    layout : tuple of int, optional
        ``shape``, where ``groups`` may be empty (default: that of ``groups``, else of ``maps[0]``).
    """

    __slots__ = ("arrays", "maps", "full_at", "layout")

    def __init__(self, groups=(), full_at=0, maps=(), layout=None):
        self.arrays = list(groups)
        self.maps = list(maps)
        self.full_at = full_at
        self.layout = layout

    @property
    def groups(self) -> list:
        """Every group as arrays (index maps are turned into arrays here, once)."""
        if self.maps:
            shape = self.shape
            self.arrays += [tuple(a.reshape((1,) + shape) for a in m.arrays()) for m in self.maps]
            self.maps = []
        return self.arrays

    @property
    def shape(self) -> tuple:
        """The layout of the rows."""
        if self.layout is not None:
            return self.layout
        return self.arrays[0][0].shape[1:] if self.arrays else self.maps[0].shape

    @property
    def size(self) -> int:
        """The number of rows."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def depth(self) -> int:
        """The number of slots (entries per row, empty ones included)."""
        return sum(cols.shape[0] for cols, _ in self.arrays) + len(self.maps)

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(*(vals.dtype for _, vals in self.arrays),
                              *(m.value.dtype for m in self.maps))

    def shaped(self, shape) -> Slots:
        """The same matrix with rows laid out in ``shape`` (same size)."""
        shape = tuple(shape)
        return Slots([(c.reshape((len(c),) + shape), v.reshape((len(v),) + shape))
                      for c, v in self.arrays], self.full_at, self.maps, shape)

    def flat_slots(self):
        """Each slot's ``(cols, vals)``, as 1-d arrays over the rows."""
        for cols, vals in self.groups:
            cols, vals = cols.reshape(len(cols), -1), vals.reshape(len(vals), -1)
            yield from zip(cols, vals)

    def stacked(self, depth: int, dtype) -> tuple:
        """``(cols, vals)`` as single arrays of ``depth >= K`` slots, coefficients of ``dtype``."""
        groups = self.groups
        index = groups[0][0].dtype
        shape = groups[0][0].shape[1:]
        more = [(np.zeros((depth - self.depth,) + shape, index),
                 np.zeros((depth - self.depth,) + shape, dtype))] if depth > self.depth else []
        groups = [(c, v.astype(dtype, copy=False)) for c, v in groups] + more
        if len(groups) == 1:
            return groups[0]
        return np.concatenate([c for c, _ in groups]), np.concatenate([v for _, v in groups])

    def most_per_row(self) -> int:
        """The largest number of nonzero coefficients in one row."""
        counts = np.zeros(self.size, np.intp)
        for _, vals in self.arrays:
            counts += np.count_nonzero(vals.reshape(len(vals), -1), axis=0)
        for m in self.maps:
            if not m.empty:
                counts.reshape(m.shape)[m.region()] += 1
        return int(np.max(counts, initial=0))

    def scaled(self, factor) -> Slots:
        """``factor * self`` for a number or an array of one element that broadcasts to the
        rows' layout (index maps keep their form; dtypes follow NumPy's array rules)."""
        one = np.reshape(factor, 1) if isinstance(factor, np.ndarray) else factor
        return Slots([(c, v * factor) for c, v in self.arrays], self.full_at,
                     [m.with_value(m.value * one) for m in self.maps], self.layout)

    def conj(self) -> Slots:
        """The complex conjugate matrix (real coefficients are shared, not copied)."""
        return Slots([(c, v.conj() if is_complex(v.dtype) else v) for c, v in self.arrays],
                     self.full_at, [m.with_value(m.value.conj()) for m in self.maps], self.layout)


def _index_dtype(n: int):
    return np.int32 if n < np.iinfo(np.int32).max else np.int64


def _identity_slots(shape, dtype) -> Slots:
    """The identity over ``prod(shape)`` columns, one slot deep, coefficients of ``dtype``."""
    size = int(np.prod(shape, dtype=np.int64))
    return Slots(maps=[IndexMap.identity(shape, dtype, _index_dtype(size))])


def _empty(rows: int, n: int, dtype) -> sp.csr_matrix:
    return sp.csr_matrix((rows, n), dtype=dtype)


def _slots_to_csr(slots: Slots, n: int, order=None) -> sp.csr_matrix:
    """The CSR matrix of ``slots``, each row's entries in slot order (or ``order``'s)."""
    pairs = list(slots.flat_slots())
    if order is not None:
        pairs = [pairs[k] for k in order]
    rows = pairs[0][0].size
    counts = np.zeros(rows, np.int64)
    for _, vals in pairs:
        counts += vals != 0
    indptr = np.zeros(rows + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(indptr[-1], pairs[0][0].dtype)
    data = np.empty(indptr[-1], slots.dtype)
    # row-major entries from slot-major arrays, a block of rows at a time: a cache-sized
    # transposition (the whole one at once reads each row from K distant pages)
    for lo in range(0, rows, ROWS_PER_BLOCK):
        hi = min(lo + ROWS_PER_BLOCK, rows)
        vals = np.stack([v[lo:hi] for _, v in pairs], axis=1)
        kept = vals != 0
        data[indptr[lo]:indptr[hi]] = vals[kept]
        indices[indptr[lo]:indptr[hi]] = np.stack([c[lo:hi] for c, _ in pairs], axis=1)[kept]
    return sp.csr_matrix((data, indices, indptr), shape=(rows, n))


def _csr_to_slots(M: sp.csr_matrix, shape):
    """``M`` as :class:`Slots` with rows laid out in ``shape``, or ``None`` if too uneven."""
    rows, n = M.shape
    counts = np.diff(M.indptr)
    depth = int(counts.max(initial=0))
    if depth * rows > SLOT_WASTE * (M.nnz + rows):
        return None
    depth = max(depth, 1)
    row = np.repeat(np.arange(rows), counts)
    slot = np.arange(M.nnz) - np.repeat(M.indptr[:-1], counts)
    cols = np.zeros((depth, rows), _index_dtype(n))
    vals = np.zeros((depth, rows), M.dtype)
    cols[slot, row] = M.indices
    vals[slot, row] = M.data
    return Slots([(cols, vals)]).shaped(shape)


def _as_csr(form, n: int) -> sp.csr_matrix:
    return _slots_to_csr(form, n) if isinstance(form, Slots) else form


def _settled(M: sp.csr_matrix, shape):
    """A CSR result as slots where its rows are even enough, else as it is."""
    slots = _csr_to_slots(M, shape)
    return M if slots is None else slots


def _packed(slots: Slots, n: int, shape):
    """``slots``, or where its rows use at most half of its slots, the entries packed.

    Packing sums duplicate columns and drops empty slots (the result may be CSR).
    Rows are counted again only where the depth has doubled since they were found full.
    """
    if slots.depth < max(PACK_FROM_SLOTS, 2 * slots.full_at):
        return slots
    if 2 * slots.most_per_row() > slots.depth:
        slots.full_at = slots.depth
        return slots
    return _merged(slots, n, shape)


def _merged(slots: Slots, n: int, shape):
    """``slots`` with duplicate columns summed and empty slots dropped (maybe as CSR)."""
    M = _slots_to_csr(slots, n)
    M.sum_duplicates()
    M.eliminate_zeros()
    return _settled(M, shape)


# -- one equation's rules on the forms --------------------------------------------------
def _is_one(factor) -> bool:
    return isinstance(factor, int) and factor == 1


def _scaled(factor, form, shape):
    """``diag(factor) @ form`` (``factor`` broadcasts to ``shape``, the rows' layout)."""
    if isinstance(form, Slots):
        form = form.shaped(shape)
        if _is_one(factor):
            return form
        if np.size(factor) == 1 and np.ndim(factor) <= len(shape):
            return form.scaled(factor)
        return Slots([(c, v * factor) for c, v in form.groups], form.full_at)
    if np.size(factor) == 1:
        data = form.data * (factor if np.ndim(factor) == 0 else factor.reshape(()))
    else:
        data = form.data * np.repeat(np.broadcast_to(factor, shape).ravel(), np.diff(form.indptr))
    return sp.csr_matrix((data, form.indices, form.indptr), shape=form.shape)


def _gathered(J: Slots, form: Slots, shape) -> Slots:
    """``J @ form`` for a one-group ``J`` whose columns index ``form``'s rows."""
    (j_cols, j_vals), = J.groups
    groups = []
    for cols, vals in form.groups:
        k = len(cols) * len(j_cols)
        cols, vals = cols.reshape(len(cols), -1), vals.reshape(len(vals), -1)
        groups.append((np.take(cols, j_cols, axis=1).reshape((k,) + tuple(shape)),
                       (np.take(vals, j_cols, axis=1) * j_vals).reshape((k,) + tuple(shape))))
    return Slots(groups)


def _multiplied(J, form, n: int, shape):
    """``J @ form`` for a sparse matrix ``J``.

    A ``J`` with at most one entry per row (a selection, a scatter to distinct places)
    gathers slots; others multiply CSR matrices, which sums each row's products there:
    terms that cancel exactly (the conjugate parts of ``real(x) + 1j * imag(x)``) then
    cancel in every later sum too.
    """
    J = sp.csr_matrix(J)
    if isinstance(form, Slots) and np.diff(J.indptr).max(initial=0) <= 1:
        return _gathered(_csr_to_slots(J, (J.shape[0],)), form, shape)
    return _settled(sp.csr_matrix(J @ _as_csr(form, n)), shape)


def _applied(rule, form, aval, n: int, shape):
    """``rule @ form`` (``None``: zero) for an input of ``aval``, the rows laid out in ``shape``."""
    if rule is None or form is None:
        return None
    if isinstance(rule, Scaling):
        return _scaled(rule.factor, form, shape)
    if isinstance(rule, Placement):
        return _scaled(rule.factor, _moved(rule.prim, rule.params, [aval], [form], n), shape)
    return _multiplied(rule, form, n, shape)


def _summed(terms, n: int, shape):
    """The sum of ``terms`` (forms or ``None``), the rows laid out in ``shape``."""
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    if len(terms) == 1:
        return terms[0]
    if all(isinstance(t, Slots) for t in terms):
        terms = [t.shaped(shape) for t in terms]
        return _packed(Slots([g for t in terms for g in t.arrays], max(t.full_at for t in terms),
                             [m for t in terms for m in t.maps], tuple(shape)), n, shape)
    total = _as_csr(terms[0], n)
    for t in terms[1:]:
        total = total + _as_csr(t, n)
    return _settled(sp.csr_matrix(total), shape)


def _moved(prim, params, avals, forms, n: int):
    """The form of a step of ``prim`` (it moves elements) from its inputs' forms.

    Slots run through ``prim``'s ``batch`` rule, columns and coefficients alike (group
    by group for one input); CSR rows are gathered where ``impl`` places the inputs'
    elements.
    """
    if all(f is None for f in forms):
        return None
    if any(f is not None and not isinstance(f, Slots) for f in forms):
        return _moved_rows(prim, params, avals, forms, n)
    if len(forms) == 1:
        (a,), (f,) = avals, forms
        f = f.shaped(a.shape)
        if prim.keeps_flat_order:
            return f.shaped(prim.abstract_eval(a, **params).shape)
        maps = _moved_maps(prim, params, a, f.maps)
        if maps is None:
            f.groups                                    # as arrays, moved by batch below
            maps = []
        return Slots([(np.asarray(prim.batch(len(c), c, **params)),
                       np.asarray(prim.batch(len(v), v, **params))) for c, v in f.arrays],
                     maps=maps, layout=prim.abstract_eval(a, **params).shape)
    present = [f for f in forms if f is not None]
    depth = max(f.depth for f in present)
    rows = sum(a.size for a in avals)
    used = sum(f.depth * a.size for a, f in zip(avals, forms) if f is not None)
    if depth * rows > SLOT_WASTE * (used + rows):       # deep and shallow inputs: as CSR
        return _moved_rows(prim, params, avals, forms, n)
    dtype = np.result_type(*(f.dtype for f in present))
    index = present[0].groups[0][0].dtype
    stacks = [(np.zeros((depth,) + a.shape, index), np.zeros((depth,) + a.shape, dtype))
              if f is None else f.shaped(a.shape).stacked(depth, dtype)
              for a, f in zip(avals, forms)]
    cols = prim.batch(depth, *(c for c, _ in stacks), **params)
    vals = prim.batch(depth, *(v for _, v in stacks), **params)
    return Slots([(np.asarray(cols), np.asarray(vals))])


def _moved_maps(prim, params, aval, maps):
    """The index maps ``maps`` after a step of ``prim``, or ``None`` where that needs arrays."""
    if not maps:
        return []
    element_map = prim.element_map(aval, **params)
    if element_map is None:
        return None
    shape = prim.abstract_eval(aval, **params).shape
    laid_out = [m.laid_out(aval.shape) for m in maps]
    if any(m is None for m in laid_out):
        return None
    moved = [m.moved(element_map, shape) for m in laid_out]
    return None if any(m is None for m in moved) else moved


def _moved_rows(prim, params, avals, forms, n: int):
    """A moving step on CSR forms: the rows its ``impl`` places, gathered from the inputs."""
    offsets = np.cumsum([0] + [a.size for a in avals])
    labels = [np.arange(lo + 1, lo + a.size + 1, dtype=np.int64).reshape(a.shape)
              for lo, a in zip(offsets, avals)]
    index = np.asarray(prim.impl(*labels, **params)) - 1
    dtype = np.result_type(*(f.dtype for f in forms if f is not None))
    stacked = sp.vstack([_empty(a.size, n, dtype) if f is None else _as_csr(f, n)
                         for a, f in zip(avals, forms)], format="csr", dtype=dtype)
    return _settled(_csr_rows(stacked, index.ravel()), index.shape)


def _csr_rows(M: sp.csr_matrix, index: np.ndarray) -> sp.csr_matrix:
    """The rows ``M[index]``, an empty row where ``index`` is negative."""
    counts = np.diff(M.indptr)
    source = np.maximum(index, 0)
    lengths = np.where(index >= 0, counts[source], 0)
    indptr = np.zeros(index.size + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    positions = np.repeat(M.indptr[source] - indptr[:-1], lengths) + np.arange(indptr[-1])
    return sp.csr_matrix((M.data[positions], M.indices[positions], indptr),
                         shape=(index.size, M.shape[1]))


# -- probing a step without a rule -----------------------------------------------------
def _probed(eqn, avals, dense_limit) -> list:
    """Each input's matrix of ``eqn``, from its ``batch`` rule applied to the identity."""
    out = eqn.out.aval
    result = []
    for k, a in enumerate(avals):
        if a.size * out.size > dense_limit:
            raise DenseMatrixError(
                f"tosparse: the step {eqn.prim.name} (at {eqn.source or 'an unknown location'}) "
                f"has no sparse structure rule and its dense matrix would have "
                f"{out.size} x {a.size} = {a.size * out.size} elements, more than dense_limit="
                f"{dense_limit}. Pass a larger dense_limit= to tosparse to probe it anyway, or "
                "write that step with operations of known structure (slices, stencils, gathers, "
                "sparse matrices).")
        J = _probe(eqn, avals, k, np.eye(a.size, dtype=a.dtype))
        if is_complex(a.dtype):
            # f(v) = J v + K conj(v), probed on e and on 1j e: exact also for steps that are
            # linear over the reals only (irfft drops the imaginary part of its zero frequency)
            Ji = _probe(eqn, avals, k, 1j * np.eye(a.size, dtype=a.dtype))
            K = (J + 1j * Ji) / 2
            rounding = 1e3 * np.finfo(a.dtype).eps * np.abs(J).max(initial=0)
            if np.abs(K).max(initial=0) <= rounding:     # complex-linear up to rounding
                result.append(sp.csr_matrix(J))
            else:
                result.append((sp.csr_matrix((J - 1j * Ji) / 2), sp.csr_matrix(K)))
        else:
            result.append(sp.csr_matrix(J))
    return result


def _probe(eqn, avals, k, basis) -> np.ndarray:
    out = eqn.out.aval
    n = basis.shape[0]
    if n == 0:
        return np.zeros((out.size, 0), out.dtype)
    batch = [np.zeros((n,) + b.shape, b.dtype) for b in avals]
    batch[k] = basis.reshape((n,) + avals[k].shape)
    return np.asarray(eqn.prim.batch(n, *batch, **eqn.params)).reshape(n, out.size).T


# -- the program ------------------------------------------------------------------
def _last_uses(program) -> dict:
    last = {}
    for i, eqn in enumerate(program.eqns):
        for v in eqn.inputs:
            last[v] = i
    for v in program.outvars:
        last[v] = len(program.eqns)
    return last


def _conj(form):
    return None if form is None else form.conj()


def _ruled(eqn, P, Q, n, dense_limit) -> tuple:
    """``(P, Q)`` of ``eqn``'s output from its primitive's rule (or probe)."""
    avals = [v.aval for v in eqn.inputs]
    rules = eqn.prim.sparse_jacobian(*avals, **eqn.params)
    if rules is None:
        rules = _probed(eqn, avals, dense_limit)
    shape = eqn.out.aval.shape
    p_terms, q_terms = [], []
    for v, rule in zip(eqn.inputs, rules):
        J, K = rule if isinstance(rule, tuple) else (rule, None)
        p_terms += [_applied(J, P[v], v.aval, n, shape), _applied(K, _conj(Q[v]), v.aval, n, shape)]
        q_terms += [_applied(J, Q[v], v.aval, n, shape), _applied(K, _conj(P[v]), v.aval, n, shape)]
    return _summed(p_terms, n, shape), _summed(q_terms, n, shape)


def program_matrix(program, dense_limit=DEFAULT_DENSE_LIMIT) -> sp.csr_matrix:
    """The exact matrix of a flat program ``dtype[n] -> dtype[m]`` (CSR, no explicit zeros).

    Parameters
    ----------
    program : Program
        One flat input vector, one flat output vector.
    dense_limit : int
        The largest dense matrix (elements) probed for a step without a structural rule.

    Returns
    -------
    scipy.sparse.csr_matrix
        Canonical: sorted indices, duplicates summed, no stored zeros.

    Raises
    ------
    DenseMatrixError
        A step without a structural rule has a larger matrix than ``dense_limit``.
    """
    program = fuse_for_execution(program)      # y[i] -= v: one add_slice, no copy of y
    (x,), (y,) = program.invars, program.outvars
    n = x.aval.size
    P, Q = {x: _identity_slots(x.aval.shape, x.aval.dtype)}, {x: None}
    last = _last_uses(program)
    for i, eqn in enumerate(program.eqns):
        if eqn.prim.moves_elements:
            avals = [v.aval for v in eqn.inputs]
            forms = tuple(_moved(eqn.prim, eqn.params, avals, [F[v] for v in eqn.inputs], n)
                          for F in (P, Q))
        else:
            forms = _ruled(eqn, P, Q, n, dense_limit)
        P[eqn.out], Q[eqn.out] = forms
        for v in set(eqn.inputs):
            if last.get(v) == i:
                del P[v], Q[v]
    return _finished(P[y], Q[y], n, y.aval, x.aval.dtype)


def _canonical(form, n: int) -> sp.csr_matrix:
    """``form`` as CSR with sorted indices, duplicates summed and no stored zeros."""
    if not isinstance(form, Slots):
        M = form.copy()
        M.sum_duplicates()
        M.eliminate_zeros()
        return M
    M = _banded_csr(form, n)
    if M is not None:
        return M
    M = _slots_to_csr(form, n)                          # stores no zeros
    stored = M.nnz
    M.sum_duplicates()
    if M.nnz < stored:                                  # duplicates may have cancelled
        M.eliminate_zeros()
    return M


def _bands(slots: Slots):
    """``(offset, slot)`` of each slot with entries, each a band (column = row + offset);
    ``None`` when some slot is not a band. A slot is an :class:`IndexMap` or a 1-d array
    of coefficients over the rows."""
    bands, rows = [], None
    for m in slots.maps:
        if not m.empty:
            offset = m.band_offset()
            if offset is None:
                return None
            bands.append((offset, m))
    for cols, vals in slots.arrays:
        for c, v in zip(cols.reshape(len(cols), -1), vals.reshape(len(vals), -1)):
            if rows is None:
                rows = np.arange(c.size, dtype=np.int64 if c.size >= 2 ** 31 else c.dtype)
            entry = v != 0
            if not entry.any():
                continue
            first = int(np.argmax(entry))
            offset = int(c[first]) - first
            if np.any((c - rows != offset) & entry):
                return None
            bands.append((offset, v))
    return bands


def _banded_csr(slots: Slots, n: int):
    """The canonical CSR matrix of ``slots`` when every slot is a band, else ``None``.

    The bands are laid out as the diagonals of a ``scipy.sparse.dia_matrix`` (slots of
    one offset added), whose conversion writes the CSR rows in order, drops zeros and
    needs no sort.
    """
    bands = _bands(slots)
    if bands is None:
        return None
    m = slots.size
    offsets = sorted({offset for offset, _ in bands})
    if not offsets:
        return _empty(m, n, slots.dtype)
    where = {offset: k for k, offset in enumerate(offsets)}
    # diagonal k holds row r's entry at r + offsets[k]; margins let every slot be added as
    # one window of m elements (its zeros may fall outside its own diagonal)
    before, after = max(0, -offsets[0]), max(0, offsets[-1] + m - n)
    flat = np.zeros(before + len(offsets) * n + after, slots.dtype)
    for offset, slot in bands:
        start = before + where[offset] * n + offset
        window = flat[start:start + m]
        if isinstance(slot, IndexMap):
            window.reshape(slot.shape)[slot.region()] += slot.value[0]
        else:
            window += slot
    data = flat[before:before + len(offsets) * n].reshape(len(offsets), n)
    M = sp.dia_matrix((data, np.array(offsets)), shape=(m, n)).tocsr()
    M.sort_indices()                                    # a no-op where the conversion sorted
    return M


def _finished(P, Q, n, out, in_dtype) -> sp.csr_matrix:
    P = _empty(out.size, n, out.dtype) if P is None else _canonical(P, n)
    if Q is not None:
        Q = _canonical(Q, n)
        if is_complex(in_dtype):
            # parts that cancel in exact arithmetic (real(x) + 1j * imag(x)) leave rounding,
            # judged as the probes of steps without a rule judge complex-linearity
            scale = max(np.abs(P.data).max(initial=0), np.abs(Q.data).max(initial=0))
            if np.any(np.abs(Q.data) > 1e3 * np.finfo(Q.dtype).eps * scale):
                raise LinopError("tosparse: the program is only real-linear in its complex input "
                                 "(it conjugates, or takes real or imaginary parts, without "
                                 "undoing it), so no complex matrix represents it; build the "
                                 "operator with real_coords=True")
        else:
            P = P + Q
            P.eliminate_zeros()
    if is_complex(P.dtype) and not is_complex(out.dtype):
        P = P.real
        P.eliminate_zeros()
    if P.dtype != out.dtype:
        P = P.astype(out.dtype)
        P.eliminate_zeros()                             # entries below the dtype's range
    return P


def tosparse(A, format="csr", dense_limit=DEFAULT_DENSE_LIMIT):
    """The exact ``scipy.sparse`` matrix of a traced operator, derived from its program.

    The matrix is composed step by step from each primitive's own sparse matrix
    (slices, pads, stencils, gathers and scatters, sparse products, element-wise
    scaling, reshapes, transposes, ...), at a cost that grows with the number of
    nonzeros rather than with ``n`` products. A step without a structural rule
    (an FFT, a dense contraction) is probed on the identity when its dense matrix
    has at most ``dense_limit`` elements.

    Parameters
    ----------
    A : TracedLinearOperator
        An operator from :func:`linop.aslinearoperator` (or algebra on such operators).
    format : str
        A ``scipy.sparse`` format name: ``"csr"`` (default), ``"csc"``, ``"coo"``, ...
    dense_limit : int
        The largest dense matrix (in elements) of one step that may be probed.

    Returns
    -------
    scipy.sparse matrix
        Shape ``A.shape``, dtype ``A.dtype``; duplicates summed and exact zeros
        (also from cancellation) dropped, so its structure is that of the true matrix.

    Raises
    ------
    DenseMatrixError
        A step without a structural rule has a dense matrix above ``dense_limit``;
        the message names the primitive and the line of code that made it.
    TypeError
        ``A`` is not a traced operator, or ``dense_limit`` is not a non-negative integer.
    """
    if not hasattr(A, "flat_program"):
        raise TypeError(f"tosparse at {user_location()}: {type(A).__name__} is not a traced "
                        "operator; wrap it with linop.aslinearoperator first")
    dense_limit = check_dense_limit(dense_limit, "tosparse")
    M = program_matrix(A.flat_program, dense_limit)
    try:
        return M.asformat(format)
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"tosparse at {user_location()}: unknown sparse format {format!r} "
                         "(use 'csr', 'csc', 'coo', 'lil', 'dok', 'dia' or 'bsr')") from err
