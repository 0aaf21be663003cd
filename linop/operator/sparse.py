"""The exact sparse matrix of a flat program, composed from each primitive's own rule.

Every variable ``v`` of a flat program ``dtype[n] -> dtype[m]`` is held as
``v = P_v x + Q_v conj(x)`` over the flat input ``x`` (``Q_v`` is absent unless
a real-linear step such as ``conj`` occurs), each matrix in one of two forms:

* :class:`Slots`, while its rows have about equally many entries: groups of
  arrays of shape ``(K,) + v.shape`` holding the column and the coefficient of
  each row's ``k``-th entry (coefficient zero: no entry). A step that only moves
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
end: sorted indices (stencils, whose slots are bands, come out sorted without a
sort), duplicates summed, exact zeros dropped. For a real input ``conj(x) = x``
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

__all__ = ["DEFAULT_DENSE_LIMIT", "Slots", "program_matrix", "tosparse", "check_dense_limit"]

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
class Slots:
    """A sparse matrix over the flat input with a few entries per row, in groups of slots.

    Each group is a pair of arrays of shape ``(K_g,) + shape``: the columns and the
    coefficients of ``K_g`` entries of every row (row ``i`` is the C-order position
    ``i`` in ``shape``). A zero coefficient is no entry (its column is any valid
    index); duplicate columns in one row add up. A sum keeps the groups of its terms,
    so adding slots copies none.

    Parameters
    ----------
    groups : list of (numpy.ndarray, numpy.ndarray)
        ``(cols, vals)`` pairs of one ``shape``; ``cols`` of an integer dtype.
    full_at : int
        A depth at which some row was found to use most slots (0: not looked at);
        :func:`_packed` looks again only at twice that depth.
    """

    __slots__ = ("groups", "full_at")

    def __init__(self, groups, full_at=0):
        self.groups = list(groups)
        self.full_at = full_at

    @property
    def depth(self) -> int:
        """The number of slots (entries per row, empty ones included)."""
        return sum(cols.shape[0] for cols, _ in self.groups)

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(*(vals.dtype for _, vals in self.groups))

    def shaped(self, shape) -> Slots:
        """The same matrix with rows laid out in ``shape`` (same size)."""
        return Slots([(c.reshape((len(c),) + tuple(shape)), v.reshape((len(v),) + tuple(shape)))
                      for c, v in self.groups], self.full_at)

    def flat_slots(self):
        """Each slot's ``(cols, vals)``, as 1-d arrays over the rows."""
        for cols, vals in self.groups:
            cols, vals = cols.reshape(len(cols), -1), vals.reshape(len(vals), -1)
            yield from zip(cols, vals)

    def stacked(self, depth: int, dtype) -> tuple:
        """``(cols, vals)`` as single arrays of ``depth >= K`` slots, coefficients of ``dtype``."""
        index = self.groups[0][0].dtype
        shape = self.groups[0][0].shape[1:]
        more = [(np.zeros((depth - self.depth,) + shape, index),
                 np.zeros((depth - self.depth,) + shape, dtype))] if depth > self.depth else []
        groups = [(c, v.astype(dtype, copy=False)) for c, v in self.groups] + more
        if len(groups) == 1:
            return groups[0]
        return np.concatenate([c for c, _ in groups]), np.concatenate([v for _, v in groups])

    def most_per_row(self) -> int:
        """The largest number of nonzero coefficients in one row."""
        counts = sum(np.count_nonzero(vals, axis=0) for _, vals in self.groups)
        return int(np.max(counts, initial=0))

    def conj(self) -> Slots:
        """The complex conjugate matrix (real coefficients are shared, not copied)."""
        return Slots([(c, v.conj() if is_complex(v.dtype) else v) for c, v in self.groups],
                     self.full_at)


def _index_dtype(n: int):
    return np.int32 if n < np.iinfo(np.int32).max else np.int64


def _identity_slots(shape, dtype) -> Slots:
    """The identity over ``prod(shape)`` columns, one slot deep, coefficients of ``dtype``."""
    size = int(np.prod(shape, dtype=np.int64))
    cols = np.arange(size, dtype=_index_dtype(size)).reshape((1,) + tuple(shape))
    return Slots([(cols, np.ones((1,) + tuple(shape), dtype))])


def _empty(rows: int, n: int, dtype) -> sp.csr_matrix:
    return sp.csr_matrix((rows, n), dtype=dtype)


def _band_order(slots: Slots):
    """The slots sorted by offset when each is a band (column = row + a fixed offset).

    Returns ``(order, distinct)`` (the slot order, whether no two offsets are equal),
    or ``None`` when some slot is not a band. Stencils are bands: their rows come out
    sorted without sorting them.
    """
    offsets, rows = [], None
    for cols, vals in slots.flat_slots():
        if rows is None:
            rows = np.arange(cols.size, dtype=np.int64 if cols.size >= 2 ** 31 else cols.dtype)
        entry = vals != 0
        if not entry.any():
            offsets.append(0)
            continue
        first = int(np.argmax(entry))
        offset = int(cols[first]) - first
        if np.any((cols - rows != offset) & entry):
            return None
        offsets.append(offset)
    order = np.argsort(offsets, kind="stable")
    return order, len(set(offsets)) == len(offsets)


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
        groups = [g for t in terms for g in t.shaped(shape).groups]
        return _packed(Slots(groups, max(t.full_at for t in terms)), n, shape)
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
        return Slots([(np.asarray(prim.batch(len(c), c, **params)),
                       np.asarray(prim.batch(len(v), v, **params)))
                      for c, v in f.shaped(a.shape).groups])
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
    banded = _band_order(form)
    M = _slots_to_csr(form, n, None if banded is None else banded[0])    # stores no zeros
    if banded is not None:
        M.has_sorted_indices = True
        if banded[1]:                                   # one entry per band and row
            M.has_canonical_format = True
            return M
    stored = M.nnz
    M.sum_duplicates()
    if M.nnz < stored:                                  # duplicates may have cancelled
        M.eliminate_zeros()
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
