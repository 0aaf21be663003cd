"""SciPy operators from traced functions: :class:`TracedLinearOperator` and its algebra.

Every operator holds two *flat* programs: ``flat_program`` maps a vector of
``dtype[n]`` to ``dtype[m]`` and ``adjoint_program`` maps ``dtype[m]`` back to
``dtype[n]``. The adjoint program is made by transposing the forward one
(``conj ∘ transpose ∘ conj`` for complex operators), never by running the
forward. Algebra on traced operators (``A @ B``, ``A + B``, ``alpha * A``,
``A.H``, ``A ** k``, block stacks) traces a function that calls the operands'
programs, so the result is again one program the executor sees whole.

Vector layout. The function's input pytree is flattened in
:func:`linop.pytree.tree_flatten` order (tuples/lists in order, dict keys
sorted, namedtuple fields in order) and each leaf is ravelled in C order; the
vector is the concatenation. Outputs likewise.

Complex and real. Three cases, chosen from the program itself:

* every input and output leaf is real: a **real** operator. A complex vector
  gets the complex-linear extension (real and imaginary parts are mapped
  separately, in one batched run). Real-linear steps inside (``rfft`` then
  ``irfft``, ``np.real``) are fine: the map between real spaces is real.
* some leaf is complex and the program is complex-linear in its complex
  inputs (no ``real``, ``imag``, ``conj``, ``complex`` step and no step that
  turns a complex value into a real one on values computed from complex
  inputs; see :func:`real_linear_steps`): a **complex** operator. Real input
  leaves (``rfft`` of a real image) get the complex-linear extension
  ``A(Re x) + i A(Im x)``.
* some complex input is used only real-linearly: no complex matrix
  represents it, so :func:`aslinearoperator` refuses with
  :class:`RealLinearError` unless ``real_coords=True``, which gives the **real**
  operator on real coordinates: each complex leaf contributes its real parts
  then its imaginary parts (the order of :func:`linop.testing.real_coords`).
"""
from __future__ import annotations

import numbers
import threading

import numpy as np
from scipy.sparse.linalg import LinearOperator

from .errors import LinopError
from .execute import compile_plan, run_flat
from .ir import Program, ShapeDtype
from .primitives import arithmetic as A, complex as C, shape as S, slicing as SL
from .pytree import tree_flatten, tree_unflatten
from .transpose import transpose

__all__ = ["TracedLinearOperator", "RealLinearError", "aslinearoperator", "vstack", "hstack",
           "block_diag", "block", "dottest", "todense", "real_linear_steps"]


class RealLinearError(LinopError, TypeError):
    """A function with complex inputs or outputs is linear over the reals only.

    It uses ``np.real``, ``np.imag``, ``np.conj``, builds complex numbers from
    real parts, or turns complex values into real ones, so no complex matrix
    represents it. Use ``aslinearoperator(..., real_coords=True)``.
    """


_TRACE_LOCK = threading.RLock()


def _is_complex(dtype) -> bool:
    return np.issubdtype(dtype, np.complexfloating)


def _leaf_size(aval, real_coords):
    return aval.size * (2 if real_coords and _is_complex(aval.dtype) else 1)


# -- classification -------------------------------------------------------------------------
_REAL_LINEAR_PRIMS = {"real", "imag", "conj", "complex"}


def real_linear_steps(program: Program) -> list:
    """Equations that make ``program`` only real-linear in its complex inputs.

    A (conservative) forward scan: values that depend on a complex input leaf
    are tracked, and an equation on such a value is reported when it is a
    ``real``, ``imag``, ``conj`` or ``complex`` primitive, when its primitive
    sets ``real_linear_only = True``, or when it turns a complex input into a
    real output. Steps on values computed from real inputs only are harmless:
    a real-linear map of real inputs always has a complex-linear extension.
    """
    tainted = {v.id for v in program.invars if _is_complex(v.aval.dtype)}
    found = []
    for eqn in program.eqns:
        if not any(v.id in tainted for v in eqn.inputs):
            continue
        tainted.add(eqn.out.id)
        complex_in = any(_is_complex(v.aval.dtype) for v in eqn.inputs)
        if (eqn.prim.name in _REAL_LINEAR_PRIMS or getattr(eqn.prim, "real_linear_only", False)
                or (complex_in and not _is_complex(eqn.out.aval.dtype))):
            found.append(eqn)
    return found


# -- tracing flat programs --------------------------------------------------------------
def _trace_vector_fn(fn, n, dtype) -> Program:
    from .tracing import trace_flat

    aval = ShapeDtype((n,), dtype)
    return trace_flat(fn, tree_flatten((aval,))[1], [aval])


def _fn(program: Program):
    """``program`` as a function of one traced vector (its equations get inlined)."""
    return lambda v: run_flat(program, [v])[0]


def _piece(v, start, stop):
    return SL.slice_(v, (start,), (stop,), (1,))


def _split(v, avals, real_coords, part=None):
    """Leaves of ``avals`` from the traced vector ``v``.

    ``part`` is ``"re"``/``"im"`` to feed only the real or imaginary part of a
    complex ``v`` to real leaves (complex leaves get ``v`` or zeros).
    """
    leaves, k = [], 0
    for aval in avals:
        n = aval.size
        if real_coords and _is_complex(aval.dtype):
            rd = C.real_dtype(aval.dtype)
            re = S.reshape(C.convert(_piece(v, k, k + n), rd), aval.shape)
            im = S.reshape(C.convert(_piece(v, k + n, k + 2 * n), rd), aval.shape)
            leaves.append(C.make_complex(re, im))
            k += 2 * n
            continue
        x = S.reshape(_piece(v, k, k + n), aval.shape)
        if part is not None and not _is_complex(aval.dtype):
            x = C.real(x) if part == "re" else C.imag(x)
        elif part == "im":
            x = A.zeros(aval.shape, aval.dtype)
        leaves.append(C.convert(x, aval.dtype))
        k += n
    return leaves


def _join(outs, dtype, real_coords):
    parts = []
    for o in outs:
        if real_coords and _is_complex(o.dtype):
            parts += [S.reshape(C.real(o), (o.size,)), S.reshape(C.imag(o), (o.size,))]
        else:
            parts.append(S.reshape(o, (o.size,)))
    parts = [C.convert(p, dtype) for p in parts]
    if not parts:
        return A.zeros((0,), dtype)
    return SL.concatenate(parts, 0)


def _forward_flat(program, in_avals, out_avals, dtype, real_coords) -> Program:
    n = sum(_leaf_size(a, real_coords) for a in in_avals)
    has_real_input = any(not _is_complex(a.dtype) for a in in_avals)
    if _is_complex(dtype) and has_real_input:
        # Complex-linear extension over the real input leaves: P(re) + i P(im).
        def fn(v):
            ya = _join(run_flat(program, _split(v, in_avals, False, "re")), dtype, False)
            yb = _join(run_flat(program, _split(v, in_avals, False, "im")), dtype, False)
            return A.add(ya, A.mul(yb, np.asarray(1j, dtype)))
    else:
        def fn(v):
            return _join(run_flat(program, _split(v, in_avals, real_coords)), dtype, real_coords)
    return _trace_vector_fn(fn, n, dtype)


def _adjoint_of(flat: Program, m, dtype) -> Program:
    """The adjoint flat program: transpose, wrapped in conjugations when complex."""
    flat_t = transpose(flat)
    if not _is_complex(dtype):
        return _trace_vector_fn(_fn(flat_t), m, dtype)
    f = _fn(flat_t)
    return _trace_vector_fn(lambda w: C.conj(f(C.conj(w))), m, dtype)


# -- the operator -----------------------------------------------------------------------
class TracedLinearOperator(LinearOperator):
    """A SciPy ``LinearOperator`` whose ``matvec`` and ``rmatvec`` run traced programs.

    Build it with :func:`aslinearoperator`. ``rmatvec`` applies the adjoint
    (conjugate transpose) computed from the transposed program; ``matmat`` and
    ``rmatmat`` run one batched program over all columns.

    Parameters
    ----------
    flat_program : Program
        ``dtype[n] -> dtype[m]``.
    adjoint_program : Program
        ``dtype[m] -> dtype[n]``, the adjoint of ``flat_program``.
    dtype : numpy.dtype
    source : _Source, optional
        The traced user function (its program and pytree layout), when the
        operator comes straight from :func:`aslinearoperator`.

    Attributes
    ----------
    program : Program
        The traced forward program of the user's function (for composed
        operators, the flat forward program).
    transposed_program : Program
        ``linop.transpose(program)`` (JAX's convention, no conjugation).
    flat_program, adjoint_program : Program
        What ``matvec`` and ``rmatvec`` run on flat vectors.
    real_coords : bool
        Whether complex leaves are split into real and imaginary coordinates.
    """

    def __init__(self, flat_program, adjoint_program, dtype, source=None):
        n = flat_program.invars[0].aval.shape[0]
        m = flat_program.outvars[0].aval.shape[0]
        super().__init__(np.dtype(dtype), (m, n))
        self.flat_program = flat_program
        self.adjoint_program = adjoint_program
        self._source = source
        self._batched = {}

    # -- inspection --------------------------------------------------------------------
    @property
    def program(self) -> Program:
        """The traced forward program (the user's function when known)."""
        return self._source.program if self._source is not None else self.flat_program

    @property
    def transposed_program(self) -> Program:
        """The transpose of :attr:`program` (no conjugation)."""
        return transpose(self.program)

    @property
    def real_coords(self) -> bool:
        """Whether the vectors are real coordinates of complex leaves."""
        return self._source is not None and self._source.real_coords

    def __repr__(self) -> str:
        m, n = self.shape
        return f"<{m}x{n} TracedLinearOperator with dtype={self.dtype}>"

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_batched"] = {}
        return state

    # -- vectors -----------------------------------------------------------------------
    def _vector(self, x, n, what):
        x = np.asarray(x)  # also turns np.matrix columns into plain arrays
        if x.dtype.kind not in "fciub":
            raise TypeError(f"{what}: expected a numeric vector of length {n} (dtype {self.dtype}),"
                            f" got dtype {x.dtype}")
        if x.shape == (n,):
            return x, False
        if x.shape == (n, 1):
            return x[:, 0], True
        raise ValueError(f"{what}: this {self.shape[0]}x{self.shape[1]} operator expects a vector "
                         f"of shape ({n},) or ({n}, 1), got shape {x.shape}")

    def _matrix(self, X, n, what):
        X = np.asarray(X)
        if X.dtype.kind not in "fciub":
            raise TypeError(f"{what}: expected a numeric array, got dtype {X.dtype}")
        if X.ndim != 2 or X.shape[0] != n:
            raise ValueError(f"{what}: this {self.shape[0]}x{self.shape[1]} operator expects a "
                             f"matrix of shape ({n}, k), got shape {X.shape}")
        return X

    def _apply_vector(self, program, x):
        dtype = self.dtype
        if x.dtype != dtype:
            if _is_complex(x.dtype) and not _is_complex(dtype):
                cols = self._apply_batched(program, np.stack([x.real, x.imag]))
                return cols[0] + 1j * cols[1]
            x = x.astype(dtype)
        return compile_plan(program)._run(x)[0]

    def _apply_batched(self, program, X):
        """``program`` on the rows of ``X`` (k, n) at once: a (k, m) result."""
        dtype = self.dtype
        if _is_complex(X.dtype) and not _is_complex(dtype):
            Y = self._apply_batched(program, np.concatenate([X.real, X.imag]))
            k = X.shape[0]
            return Y[:k] + 1j * Y[k:]
        X = np.ascontiguousarray(X, dtype=dtype)
        batched = self._batched_program(program, X.shape[0])
        return compile_plan(batched)._run(X)[0]

    def _batched_program(self, program, k):
        key = (id(program), k)
        found = self._batched.get(key)
        if found is None:
            from .batching import batch_program

            with _TRACE_LOCK:  # one batched program per column count, even with many threads
                found = self._batched.get(key)
                if found is None:
                    found = batch_program(program, k)[0]
                    if len(self._batched) > 16:
                        self._batched.clear()
                    self._batched[key] = found
        return found

    def matvec(self, x):
        """``A @ x`` for a vector of shape ``(n,)`` or ``(n, 1)`` (``np.matrix`` stays a matrix)."""
        xv, column = self._vector(x, self.shape[1], "matvec")
        y = self._apply_vector(self.flat_program, xv)
        return _like(x, y[:, None] if column else y)

    def rmatvec(self, x):
        """``A^H @ x`` (the adjoint, from the transposed program) for ``(m,)`` or ``(m, 1)``."""
        xv, column = self._vector(x, self.shape[0], "rmatvec")
        y = self._apply_vector(self.adjoint_program, xv)
        return _like(x, y[:, None] if column else y)

    def matmat(self, X):
        """``A @ X`` for ``X`` of shape ``(n, k)``: one batched program over the columns."""
        Xa = self._matrix(X, self.shape[1], "matmat")
        return _like(X, self._apply_batched(self.flat_program, Xa.T).T)

    def rmatmat(self, X):
        """``A^H @ X`` for ``X`` of shape ``(m, k)``: one batched program over the columns."""
        Xa = self._matrix(X, self.shape[0], "rmatmat")
        return _like(X, self._apply_batched(self.adjoint_program, Xa.T).T)

    def _matvec(self, x):
        return self.matvec(np.ravel(x))

    def _rmatvec(self, x):
        return self.rmatvec(np.ravel(x))

    def _matmat(self, X):
        return self.matmat(X)

    def _rmatmat(self, X):
        return self.rmatmat(X)

    # -- shaped application ------------------------------------------------------------
    def apply(self, *args):
        """Apply the forward function to its own arguments (pytrees); returns its output."""
        src = self._require_source("apply")
        return src.program(*args)

    def apply_adjoint(self, y):
        """The adjoint applied to an output-shaped pytree ``y``; returns the inputs' structure.

        Leaves have the input leaves' shapes; their dtype is the input leaf's
        dtype, promoted to complex when the adjoint is complex.
        """
        src = self._require_source("apply_adjoint")
        leaves, tree = tree_flatten(y)
        if tree != src.program.out_tree:
            raise TypeError(f"apply_adjoint: expected a pytree of structure "
                            f"{src.program.out_tree}, got {tree}")
        vec = src.ravel(leaves, src.out_avals, self.dtype)
        w = self.rmatvec(vec)
        out = src.unravel(w, src.in_avals)
        args = tree_unflatten(src.program.in_tree, out)
        return args[0] if len(args) == 1 else args

    def ravel_input(self, *args) -> np.ndarray:
        """The flat vector of the function's arguments (the layout ``matvec`` uses)."""
        src = self._require_source("ravel_input")
        leaves, tree = tree_flatten(tuple(args))
        if tree != src.program.in_tree:
            raise TypeError(f"ravel_input: expected arguments of structure {src.program.in_tree}, "
                            f"got {tree}")
        return src.ravel(leaves, src.in_avals, self.dtype)

    def unravel_output(self, y):
        """The function's output pytree from a flat vector of length ``m``."""
        src = self._require_source("unravel_output")
        y = np.asarray(y)
        if y.shape not in ((self.shape[0],), (self.shape[0], 1)):
            raise ValueError(f"unravel_output: expected a vector of length {self.shape[0]}, got "
                             f"shape {y.shape}")
        return tree_unflatten(src.program.out_tree, src.unravel(y.reshape(-1), src.out_avals))

    def _require_source(self, what):
        if self._source is None:
            raise TypeError(f"{what}: this operator was composed from others and has no pytree "
                            "layout; use matvec/rmatvec on flat vectors")
        return self._source

    # -- dense ---------------------------------------------------------------------------
    def todense(self, batch_size=256):
        """The dense matrix, computed ``batch_size`` columns at a time (see :func:`todense`)."""
        return todense(self, batch_size)

    # -- algebra -------------------------------------------------------------------------
    def _adjoint(self):
        return TracedLinearOperator(self.adjoint_program, self.flat_program, self.dtype)

    def _transpose(self):
        if not _is_complex(self.dtype):
            return self._adjoint()
        m, n = self.shape
        f, a = _fn(self.flat_program), _fn(self.adjoint_program)
        fwd = _trace_vector_fn(lambda v: C.conj(a(C.conj(v))), m, self.dtype)
        adj = _trace_vector_fn(lambda w: C.conj(f(C.conj(w))), n, self.dtype)
        return TracedLinearOperator(fwd, adj, self.dtype)

    def normal(self):
        """``A^H A`` as one traced operator (self-adjoint, shape ``(n, n)``)."""
        f, a = _fn(self.flat_program), _fn(self.adjoint_program)
        prog = _trace_vector_fn(lambda v: a(f(v)), self.shape[1], self.dtype)
        return TracedLinearOperator(prog, prog, self.dtype)

    def dot(self, x):
        if isinstance(x, TracedLinearOperator):
            return _compose(self, x)
        if np.isscalar(x) and not isinstance(x, (str, bytes)):
            return _scale(self, x)
        return super().dot(x)

    def __rmul__(self, x):
        if np.isscalar(x) and not isinstance(x, (str, bytes)):
            return _scale(self, x)
        return super().__rmul__(x)

    def __truediv__(self, other):
        if not np.isscalar(other):
            raise ValueError("Can only divide a linear operator by a scalar.")
        return _scale(self, 1 / other)

    def __add__(self, x):
        if isinstance(x, TracedLinearOperator):
            return _sum(self, x)
        return super().__add__(x)

    def __neg__(self):
        return _scale(self, -1)

    def __pow__(self, p):
        if isinstance(p, numbers.Integral) and p >= 0:
            return _power(self, int(p))
        return super().__pow__(p)


class _Source:
    """The traced user function behind an operator: program, layout, mode."""

    def __init__(self, program, in_avals, out_avals, real_coords):
        self.program = program
        self.in_avals = in_avals
        self.out_avals = out_avals
        self.real_coords = real_coords

    def ravel(self, leaves, avals, dtype):
        parts = []
        for leaf, aval in zip(leaves, avals):
            arr = np.asarray(leaf)
            if arr.shape != aval.shape:
                raise ValueError(f"expected a leaf of shape {aval.shape}, got {arr.shape}")
            if self.real_coords and _is_complex(aval.dtype):
                parts += [arr.real.ravel(), arr.imag.ravel()]
            else:
                parts.append(arr.ravel())
        if not parts:
            return np.zeros(0, dtype)
        return np.concatenate(parts).astype(np.result_type(dtype, *[p.dtype for p in parts]))

    def unravel(self, vec, avals):
        out, k = [], 0
        for aval in avals:
            n = aval.size
            if self.real_coords and _is_complex(aval.dtype):
                leaf = (vec[k:k + n] + 1j * vec[k + n:k + 2 * n]).astype(aval.dtype)
                k += 2 * n
            else:
                leaf = vec[k:k + n]
                dtype = aval.dtype
                if _is_complex(leaf.dtype) and not _is_complex(dtype):
                    dtype = np.result_type(dtype, np.complex64)
                leaf = leaf.astype(dtype)
                k += n
            out.append(leaf.reshape(aval.shape))
        return out


def aslinearoperator(fun, *primals, real_coords=False) -> TracedLinearOperator:
    """Trace a linear NumPy function into a SciPy ``LinearOperator``.

    Parameters
    ----------
    fun : callable
        Linear in all of its arguments, written with NumPy.
    *primals
        Example arguments (arrays, scalars, :class:`linop.ShapeDtype`, objects
        with ``shape`` and ``dtype``, in pytrees); only shapes and dtypes are
        read.
    real_coords : bool, optional
        Expose the operator on real coordinates (complex leaves split into
        real parts then imaginary parts). Required when ``fun`` has complex
        inputs or outputs but is only real-linear (it uses ``np.real``,
        ``np.imag``, ``np.conj`` ...); allowed for any function.

    Returns
    -------
    TracedLinearOperator
        ``shape = (m, n)`` with ``n`` (``m``) the total size of the input
        (output) leaves, in :func:`linop.pytree.tree_flatten` order, each
        ravelled in C order. ``dtype`` is the result dtype of all leaves (real
        when ``real_coords``).

    Raises
    ------
    RealLinearError
        ``fun`` is only real-linear on complex values and ``real_coords`` is
        false.
    NonLinearError, AffineError, UnsupportedFunctionError
        While tracing ``fun``.

    Examples
    --------
    >>> import numpy as np, linop
    >>> A = linop.aslinearoperator(lambda x: x[1:] - x[:-1], np.zeros(4))
    >>> A.shape
    (3, 4)
    >>> A.rmatvec(np.ones(3))
    array([-1.,  0.,  0.,  1.])
    """
    from .api import primal_avals
    from .tracing import trace_flat

    in_tree, in_avals = primal_avals(primals, "aslinearoperator")
    program = trace_flat(fun, in_tree, in_avals)
    out_avals = program.out_avals
    avals = list(in_avals) + list(out_avals)
    if not avals or not in_avals:
        raise TypeError("aslinearoperator: the function needs at least one array input")
    dtype = np.result_type(*[a.dtype for a in avals])
    any_complex = _is_complex(dtype)
    if any_complex and not real_coords:
        steps = real_linear_steps(program)
        if steps:
            where = "; ".join(f"{e.prim.name} at {e.source}" for e in steps[:3])
            raise RealLinearError(
                f"aslinearoperator: the function has complex inputs or outputs but is only "
                f"linear over the reals ({where}), so no complex matrix represents it and a "
                "complex LinearOperator would be wrong. Pass real_coords=True to get the "
                "operator on real coordinates (real and imaginary parts as separate real "
                "unknowns), or make the function complex-linear.")
    if real_coords:
        dtype = C.real_dtype(dtype)
    flat = _forward_flat(program, in_avals, out_avals, dtype, real_coords and any_complex)
    adjoint = _adjoint_of(flat, flat.outvars[0].aval.shape[0], dtype)
    source = _Source(program, list(in_avals), list(out_avals), real_coords and any_complex)
    return TracedLinearOperator(flat, adjoint, dtype, source)


# -- algebra helpers ---------------------------------------------------------------------
def _lift(op: TracedLinearOperator, dtype):
    """Forward and adjoint of ``op`` as traced functions on vectors of ``dtype``."""
    f, a = _fn(op.flat_program), _fn(op.adjoint_program)
    dtype = np.dtype(dtype)
    if op.dtype == dtype:
        return f, a
    if _is_complex(dtype) and not _is_complex(op.dtype):
        rd = C.real_dtype(dtype)

        def complexified(g):
            def h(v):
                re = C.convert(g(C.convert(C.real(v), op.dtype)), rd)
                im = C.convert(g(C.convert(C.imag(v), op.dtype)), rd)
                return C.make_complex(re, im)
            return h
        return complexified(f), complexified(a)

    def cast(g):
        return lambda v: C.convert(g(C.convert(v, op.dtype)), dtype)
    return cast(f), cast(a)


def _dtype_of(ops):
    return np.result_type(*[op.dtype for op in ops])


def _compose(A_, B_):
    if A_.shape[1] != B_.shape[0]:
        raise ValueError(f"cannot compose operators of shapes {A_.shape} and {B_.shape}")
    dtype = _dtype_of([A_, B_])
    fa, aa = _lift(A_, dtype)
    fb, ab = _lift(B_, dtype)
    fwd = _trace_vector_fn(lambda v: fa(fb(v)), B_.shape[1], dtype)
    adj = _trace_vector_fn(lambda w: ab(aa(w)), A_.shape[0], dtype)
    return TracedLinearOperator(fwd, adj, dtype)


def _sum(A_, B_):
    if A_.shape != B_.shape:
        raise ValueError(f"cannot add operators of shapes {A_.shape} and {B_.shape}")
    dtype = _dtype_of([A_, B_])
    fa, aa = _lift(A_, dtype)
    fb, ab = _lift(B_, dtype)
    fwd = _trace_vector_fn(lambda v: A.add(fa(v), fb(v)), A_.shape[1], dtype)
    adj = _trace_vector_fn(lambda w: A.add(aa(w), ab(w)), A_.shape[0], dtype)
    return TracedLinearOperator(fwd, adj, dtype)


def _scale(op, alpha):
    alpha_arr = np.asarray(alpha)
    if alpha_arr.dtype == object and isinstance(alpha, numbers.Number):
        alpha_arr = np.asarray(complex(alpha) if isinstance(alpha, complex) else float(alpha))
    if alpha_arr.dtype.kind not in "fciub":
        raise TypeError(f"cannot scale an operator by {alpha!r}")
    dtype = np.result_type(op.dtype, alpha if isinstance(alpha, (int, float, complex))
                           and not isinstance(alpha, np.generic) else alpha_arr.dtype)
    if not np.issubdtype(dtype, np.inexact):
        dtype = np.result_type(dtype, np.float64)
    f, a = _lift(op, dtype)
    c = np.asarray(alpha, dtype)
    fwd = _trace_vector_fn(lambda v: A.mul(f(v), c), op.shape[1], dtype)
    adj = _trace_vector_fn(lambda w: A.mul(a(w), np.conj(c)), op.shape[0], dtype)
    return TracedLinearOperator(fwd, adj, dtype)


def _power(op, k):
    if op.shape[0] != op.shape[1]:
        raise ValueError(f"only square operators have powers, got shape {op.shape}")
    f, a = _fn(op.flat_program), _fn(op.adjoint_program)

    def repeat(g):
        def h(v):
            for _ in range(k):
                v = g(v)
            return v
        return h
    n = op.shape[0]
    return TracedLinearOperator(_trace_vector_fn(repeat(f), n, op.dtype),
                                _trace_vector_fn(repeat(a), n, op.dtype), op.dtype)


def _as_traced(obj, what):
    if isinstance(obj, TracedLinearOperator):
        return obj
    arr = np.asarray(obj) if isinstance(obj, np.ndarray) else None
    if arr is not None and arr.ndim == 2:
        if not np.issubdtype(arr.dtype, np.inexact):
            arr = arr.astype(np.float64)
        return aslinearoperator(lambda x: arr @ x, ShapeDtype((arr.shape[1],), arr.dtype))
    raise TypeError(f"{what}: blocks must be linop.TracedLinearOperator objects or 2-D arrays "
                    f"(got {type(obj).__name__}); wrap other operators with "
                    "linop.aslinearoperator(fun, ...) first")


def _offsets(sizes):
    out, k = [], 0
    for s in sizes:
        out.append((k, k + s))
        k += s
    return out


def _block_program(rows, heights, widths, dtype, adjoint):
    """Trace ``[[A_ij]] @ v`` (or its adjoint) over the block layout."""
    if adjoint:
        grid = [[rows[i][j] for i in range(len(heights))] for j in range(len(widths))]
        heights, widths = widths, heights
        pick = 1
    else:
        grid = rows
        pick = 0
    fns = [[_lift(op, dtype)[pick] if op is not None else None for op in row] for row in grid]
    col_ranges = _offsets(widths)

    def fn(v):
        parts = []
        for row, h in zip(fns, heights):
            acc = None
            for g, (a, b) in zip(row, col_ranges):
                if g is None:
                    continue
                y = g(_piece(v, a, b))
                acc = y if acc is None else A.add(acc, y)
            parts.append(acc if acc is not None else A.zeros((h,), dtype))
        return SL.concatenate(parts, 0)
    return _trace_vector_fn(fn, sum(widths), dtype)


def _non_empty(ops, what) -> list:
    ops = list(ops)
    if not ops:
        raise ValueError(f"{what}: expected a non-empty list of operators")
    return ops


def block(blocks) -> TracedLinearOperator:
    """A block operator ``[[A, B], [None, C]]`` as one traced program.

    Parameters
    ----------
    blocks : list of lists
        Rows of blocks: traced operators, 2-D arrays, or ``None`` for a zero
        block. Every row and every column needs at least one non-``None`` block.

    Returns
    -------
    TracedLinearOperator

    Examples
    --------
    >>> import numpy as np, linop
    >>> D = linop.aslinearoperator(lambda x: x[1:] - x[:-1], np.zeros(4))
    >>> I = linop.aslinearoperator(lambda x: x, np.zeros(4))
    >>> linop.block([[I], [0.1 * D]]).shape
    (7, 4)
    """
    blocks = list(blocks)
    if any(not isinstance(row, (list, tuple)) for row in blocks):
        raise TypeError("block: expected a list of rows, each a list of operators, arrays or None, "
                        "e.g. linop.block([[A, B], [None, C]]); for one column use linop.vstack")
    rows = [[None if b is None else _as_traced(b, "block") for b in row] for row in blocks]
    if not rows or any(not row for row in rows) or len({len(r) for r in rows}) != 1:
        raise ValueError("block: expected a non-empty list of rows of equal length")
    heights, widths = [None] * len(rows), [None] * len(rows[0])
    for i, row in enumerate(rows):
        for j, op in enumerate(row):
            if op is None:
                continue
            for sizes, k, s, what in ((heights, i, op.shape[0], "row"), (widths, j, op.shape[1], "column")):
                if sizes[k] is None:
                    sizes[k] = s
                elif sizes[k] != s:
                    raise ValueError(f"block: blocks of {what} {k} have different sizes "
                                     f"{sizes[k]} and {s}")
    if None in heights or None in widths:
        raise ValueError("block: every row and every column needs at least one operator")
    ops = [op for row in rows for op in row if op is not None]
    dtype = _dtype_of(ops)
    fwd = _block_program(rows, heights, widths, dtype, adjoint=False)
    adj = _block_program(rows, heights, widths, dtype, adjoint=True)
    return TracedLinearOperator(fwd, adj, dtype)


def vstack(ops) -> TracedLinearOperator:
    """``[A; B; ...]``: operators with the same number of columns, stacked.

    Examples
    --------
    >>> import numpy as np, linop
    >>> A = linop.aslinearoperator(lambda x: 2 * x, np.zeros(3))
    >>> linop.vstack([A, 0.5 * A]).matvec(np.ones(3))
    array([2., 2., 2., 1., 1., 1.])
    """
    return block([[op] for op in _non_empty(ops, "vstack")])


def hstack(ops) -> TracedLinearOperator:
    """``[A, B, ...]``: operators with the same number of rows, side by side."""
    return block([_non_empty(ops, "hstack")])


def block_diag(ops) -> TracedLinearOperator:
    """The block-diagonal operator ``diag(A, B, ...)``."""
    ops = _non_empty(ops, "block_diag")
    return block([[op if i == j else None for j in range(len(ops))] for i, op in enumerate(ops)])


# -- checks for users ---------------------------------------------------------------------
def todense(A, batch_size=256) -> np.ndarray:
    """The dense matrix of a linear operator, ``batch_size`` columns at a time.

    Parameters
    ----------
    A : LinearOperator
        Any SciPy operator (``matmat`` is used; traced operators run one
        batched program per chunk).
    batch_size : int

    Returns
    -------
    numpy.ndarray
        Shape ``A.shape``, dtype ``A.dtype``.
    """
    m, n = A.shape
    out = np.empty((m, n), A.dtype)
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        E = np.zeros((n, stop - start), A.dtype)
        E[np.arange(start, stop), np.arange(stop - start)] = 1
        out[:, start:stop] = A.matmat(E)
    return out


def _like(template, result):
    """SciPy's convention: an ``np.matrix`` argument gives an ``np.matrix`` result."""
    return np.asmatrix(result) if isinstance(template, np.matrix) else result


def _dottest_tolerance(A) -> float:
    dtypes = [np.dtype(A.dtype)]
    for program in (getattr(A, "flat_program", None), getattr(A, "adjoint_program", None)):
        if program is not None:
            dtypes += [v.aval.dtype for v in program.invars + program.outvars]
            dtypes += [e.out.aval.dtype for e in program.eqns]
    from .testing import precision_bits

    bits = precision_bits(dtypes)
    return 5e-2 if bits <= 16 else 1e-4 if bits <= 32 else 1e-10


def dottest(A, rtol=None, complex_vectors=None, seed=0, raise_error=True) -> float:
    """Dot test ``<A x, y> = <x, A^H y>`` on random vectors.

    Parameters
    ----------
    A : LinearOperator
    rtol : float, optional
        Tolerance; by default 1e-10 in double, 1e-4 in single and 5e-2 in half
        precision, after the least precise dtype any step of the operator's programs uses.
    complex_vectors : bool, optional
        Also test complex vectors (by default: always, since real operators
        must give the complex-linear extension too).
    seed : int
    raise_error : bool
        Raise :class:`linop.testing.DotTestError` beyond ``rtol``.

    Returns
    -------
    float
        The largest relative error measured.
    """
    from .testing import DotTestError

    rng = np.random.default_rng(seed)
    m, n = A.shape
    rtol = rtol if rtol is not None else _dottest_tolerance(A)
    kinds = [False, True] if complex_vectors is None else ([False] + ([True] if complex_vectors else []))
    if _is_complex(A.dtype):
        kinds = [True]
    worst = 0.0
    for cplx in kinds:
        x = rng.standard_normal(n) + (1j * rng.standard_normal(n) if cplx else 0)
        y = rng.standard_normal(m) + (1j * rng.standard_normal(m) if cplx else 0)
        lhs = np.vdot(y, A.matvec(x))
        rhs = np.vdot(A.rmatvec(y), x)
        err = abs(lhs - rhs) / max(abs(lhs), abs(rhs), 1e-300)
        worst = max(worst, float(err))
        if raise_error and not err <= rtol:
            raise DotTestError(f"dot test failed ({'complex' if cplx else 'real'} vectors): "
                               f"<A x, y> = {lhs!r}, <x, A^H y> = {rhs!r}, relative error "
                               f"{err:.3g} > {rtol:g}")
    return worst
