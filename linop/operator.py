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
  inputs (no ``real``, ``imag``, ``complex`` step, no step that turns a
  complex value into a real one, ``conj`` steps only in pairs, as in
  ``conj ∘ L ∘ conj``, on values computed from complex inputs; see
  :func:`real_linear_steps`): a **complex** operator. Real input
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
import operator as _operator
import threading

import numpy as np
from scipy.sparse.linalg import LinearOperator

from . import foreign
from .batched import BatchedArray, apply_operator
from .errors import ForeignOperatorError, LinopError, user_location
from .execute import compile_plan, run_flat
from .ir import Program, ShapeDtype, snapshot
from .primitives import arithmetic as A, complex as C, shape as S, slicing as SL
from .primitives.base import is_tracer
from .primitives.foreign import linear_operator
from .primitives.sparse import captured_matrix
from .precision import promote_program
from .pytree import TreeDef, tree_flatten, tree_unflatten
from .transpose import transpose

__all__ = ["TracedLinearOperator", "RealLinearError", "aslinearoperator", "vstack", "hstack",
           "block_diag", "block", "dottest", "todense", "real_linear_steps", "as_traced_operator"]


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
_REAL_LINEAR_PRIMS = {"real", "imag", "complex"}


def real_linear_steps(program: Program) -> list:
    """Equations that make ``program`` only real-linear in its complex inputs.

    A (conservative) forward scan: values that depend on a complex input leaf
    are tracked with their *parity*, whether they are complex-linear (even
    number of ``conj`` steps since the inputs) or conjugate-linear (odd). An
    equation on such values is reported when it is a ``real``, ``imag`` or
    ``complex`` primitive, when its primitive sets ``real_linear_only = True``,
    when it turns a complex input into a real output, or when it combines a
    complex-linear and a conjugate-linear value; an output that is
    conjugate-linear reports the step that made it so. ``conj ∘ L ∘ conj`` (the
    adjoint and transpose of a complex-linear program) is complex-linear.
    Steps on values computed from real inputs only are harmless: a real-linear
    map of real inputs always has a complex-linear extension.
    """
    parity = {v.id: 0 for v in program.invars if _is_complex(v.aval.dtype)}
    flipped_by = {}
    found = []
    for eqn in program.eqns:
        seen = {parity[v.id] for v in eqn.inputs if v.id in parity}
        if not seen:
            continue
        complex_in = any(_is_complex(v.aval.dtype) for v in eqn.inputs)
        if (len(seen) > 1 or eqn.prim.name in _REAL_LINEAR_PRIMS
                or getattr(eqn.prim, "real_linear_only", False) or _real_linear_for_params(eqn)
                or (complex_in and not _is_complex(eqn.out.aval.dtype))):
            found.append(eqn)
            parity[eqn.out.id] = 0
            continue
        parity[eqn.out.id] = seen.pop() ^ (eqn.prim.name == "conj")
        if eqn.prim.name == "conj":
            flipped_by[eqn.out.id] = eqn
        else:
            flipped_by[eqn.out.id] = next(
                (flipped_by[v.id] for v in eqn.inputs if v.id in flipped_by), None)
    for v in program.outvars:
        if parity.get(v.id) == 1 and flipped_by.get(v.id) not in found:
            found.append(flipped_by[v.id])
    return found


def _real_linear_for_params(eqn) -> bool:
    """Primitives whose real-linearity depends on their parameters (a foreign operator's flag)."""
    rule = getattr(eqn.prim, "real_linear_only_for", None)
    return rule is not None and rule(eqn.params)


def _precision(dtype) -> int:
    return np.finfo(np.dtype(dtype)).bits


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
    ``rmatmat`` run one batched program over all columns. Applied to a traced
    array (inside a function being traced) it inlines its programs.

    Vectors of a more precise dtype than the operator's (``float64`` for a
    ``float32`` operator) give results of that dtype, computed at that precision
    (its programs are replayed once per precision, with the constants captured
    when it was made); see ``docs/operators.md``.

    Parameters
    ----------
    flat_program : Program
        ``dtype[n] -> dtype[m]``.
    adjoint_program : Program
        ``dtype[m] -> dtype[n]``, the adjoint of ``flat_program``.
    dtype : numpy.dtype
    source : _Source, optional
        The traced user function (its program and pytree layout), when the
        operator comes straight from :func:`aslinearoperator` (or is its adjoint).
    flipped : bool
        The operator is the adjoint of the one ``source`` describes (``A.H``).

    Attributes
    ----------
    program : Program
        The traced forward program of the user's function (for composed
        operators and adjoints, the flat forward program).
    transposed_program : Program
        ``linop.transpose(program)`` (JAX's convention, no conjugation).
    flat_program, adjoint_program : Program
        What ``matvec`` and ``rmatvec`` run on flat vectors.
    real_coords : bool
        Whether complex leaves are split into real and imaginary coordinates.
    """

    def __init__(self, flat_program, adjoint_program, dtype, source=None, flipped=False):
        n = flat_program.invars[0].aval.shape[0]
        m = flat_program.outvars[0].aval.shape[0]
        super().__init__(np.dtype(dtype), (m, n))
        self.flat_program = flat_program
        self.adjoint_program = adjoint_program
        self._source = source
        self._flipped = flipped
        self._batched = {}
        self._promoted = {}

    # -- inspection --------------------------------------------------------------------
    @property
    def program(self) -> Program:
        """The traced forward program (the user's function when known)."""
        if self._source is not None and not self._flipped:
            return self._source.program
        return self.flat_program

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

    def structural_key(self) -> tuple:
        """What identifies the map: its dtype and its two flat programs (equal after pickling)."""
        key = self.__dict__.get("_key")
        if key is None:
            key = self._key = (str(self.dtype), self.flat_program, self.adjoint_program)
        return key

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_batched"] = {}
        state["_promoted"] = {}
        state.pop("_key", None)
        return state

    # -- precision -----------------------------------------------------------------------
    def at_precision(self, dtype) -> "TracedLinearOperator":
        """This operator at the precision of ``dtype`` when that is higher.

        Parameters
        ----------
        dtype : numpy.dtype
            Any floating or complex dtype; only its precision counts.

        Returns
        -------
        TracedLinearOperator
            ``self`` when ``dtype`` is not more precise; else the same map whose
            programs run at that precision (real stays real, complex stays
            complex): they are replayed with the constants this operator captured
            (:func:`linop.precision.promote_program`), never traced again from
            the caller's function or matrix.
        """
        if dtype == self.dtype:
            return self
        real = C.real_dtype(np.result_type(dtype, np.float16))
        if _precision(real) <= _precision(self.dtype):
            return self
        found = self._promoted.get(real)
        if found is None:
            with _TRACE_LOCK:
                found = self._promoted.get(real)
                if found is None:
                    found = self._promoted[real] = self._replayed_at(real)
        return found

    def _replayed_at(self, real):
        """The same operator with its programs replayed at the precision of ``real``."""
        source = self._source and self._source.at_precision(real)
        return TracedLinearOperator(promote_program(self.flat_program, real),
                                    promote_program(self.adjoint_program, real),
                                    np.result_type(self.dtype, real), source, self._flipped)

    # -- vectors -----------------------------------------------------------------------
    def _vector(self, x, n, what):
        x = np.asarray(x)  # also turns np.matrix columns into plain arrays
        if x.dtype.kind not in "fciub":
            raise TypeError(f"{what} at {user_location()}: expected a numeric vector of length "
                            f"{n} (dtype {self.dtype}), got dtype {x.dtype}")
        if x.shape == (n,):
            return x, False
        if x.shape == (n, 1):
            return x[:, 0], True
        raise ValueError(f"{what} at {user_location()}: this {self.shape[0]}x{self.shape[1]} "
                         f"operator expects a vector of shape ({n},) or ({n}, 1), got shape "
                         f"{x.shape}{self._layout_hint(x)}")

    def _matrix(self, X, n, what):
        X = np.asarray(X)
        if X.dtype.kind not in "fciub":
            raise TypeError(f"{what} at {user_location()}: expected a numeric array, got dtype "
                            f"{X.dtype}")
        if X.ndim != 2 or X.shape[0] != n:
            raise ValueError(f"{what} at {user_location()}: this {self.shape[0]}x{self.shape[1]} "
                             f"operator expects a matrix of shape ({n}, k), got shape "
                             f"{X.shape}{self._layout_hint(X)}")
        return X

    def _layout_hint(self, x) -> str:
        """Advice for an array shaped like one of the pytree leaves this operator maps."""
        if self._source is None:
            return ""
        avals = self._source.out_avals if self._flipped else self._source.in_avals
        if tuple(np.shape(x)) not in [a.shape for a in avals] or len(np.shape(x)) == 1:
            return ""
        if self._flipped:
            return (". It has the shape of the function's output: A.H @ y follows SciPy (a 2-d "
                    "array is a matrix of column vectors), so use A.H.apply(y) (that is, "
                    "A.apply_adjoint(y)) for the adjoint of an output-shaped array, or "
                    "A.H @ A.H.ravel_input(y) for the flat vector")
        return (". It has the shape of the function's input: A @ x follows SciPy (a 2-d "
                "array is a matrix of column vectors), so use A.apply(x) to apply the "
                "function to its own arguments, or A @ A.ravel_input(x) for the flat vector")

    def _apply_vector(self, which, x):
        """The program ``which`` ("flat_program" or "adjoint_program") on one vector."""
        op = self.at_precision(x.dtype)
        dtype = op.dtype
        if x.dtype != dtype:
            if _is_complex(x.dtype) and not _is_complex(dtype):
                cols = op._apply_batched(which, np.stack([x.real, x.imag]))
                return (cols[0] + 1j * cols[1]).astype(np.result_type(x.dtype, dtype))
            x = x.astype(dtype)
        return compile_plan(getattr(op, which))._run(x)[0]

    def _apply_batched(self, which, X):
        """The program ``which`` on the rows of ``X`` (k, n) at once: a (k, m) result."""
        op = self.at_precision(X.dtype)
        dtype = op.dtype
        out_dtype = np.result_type(X.dtype, dtype)
        if _is_complex(X.dtype) and not _is_complex(dtype):
            Y = op._apply_batched(which, np.concatenate([X.real, X.imag]))
            k = X.shape[0]
            return (Y[:k] + 1j * Y[k:]).astype(out_dtype)
        X = np.ascontiguousarray(X, dtype=dtype)
        batched = op._batched_program(getattr(op, which), X.shape[0])
        Y = compile_plan(batched)._run(X)[0]
        return Y if Y.dtype == out_dtype else Y.astype(out_dtype)

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
        if is_tracer(x):
            return foreign.matvec(self, x, "A", "matvec")
        if isinstance(x, BatchedArray):
            return apply_operator(self.matmat, x, self.shape[1], "matvec")
        xv, column = self._vector(x, self.shape[1], "matvec")
        y = self._apply_vector("flat_program", xv)
        return _like(x, y[:, None] if column else y)

    def rmatvec(self, x):
        """``A^H @ x`` (the adjoint, from the transposed program) for ``(m,)`` or ``(m, 1)``."""
        if is_tracer(x):
            return foreign.matvec(self, x, "H", "rmatvec")
        if isinstance(x, BatchedArray):
            return apply_operator(self.rmatmat, x, self.shape[0], "rmatvec")
        xv, column = self._vector(x, self.shape[0], "rmatvec")
        y = self._apply_vector("adjoint_program", xv)
        return _like(x, y[:, None] if column else y)

    def matmat(self, X):
        """``A @ X`` for ``X`` of shape ``(n, k)``: one batched program over the columns."""
        if is_tracer(X):
            return foreign.matmat(self, X, "A", "matmat")
        if isinstance(X, BatchedArray):
            return apply_operator(self.matmat, X, self.shape[1], "matmat")
        Xa = self._matrix(X, self.shape[1], "matmat")
        return _like(X, self._apply_batched("flat_program", Xa.T).T)

    def rmatmat(self, X):
        """``A^H @ X`` for ``X`` of shape ``(m, k)``: one batched program over the columns."""
        if is_tracer(X):
            return foreign.matmat(self, X, "H", "rmatmat")
        if isinstance(X, BatchedArray):
            return apply_operator(self.rmatmat, X, self.shape[0], "rmatmat")
        Xa = self._matrix(X, self.shape[0], "rmatmat")
        return _like(X, self._apply_batched("adjoint_program", Xa.T).T)

    def _matvec(self, x):
        return self.matvec(np.ravel(x))

    def _rmatvec(self, x):
        return self.rmatvec(np.ravel(x))

    def _matmat(self, X):
        return self.matmat(X)

    def _rmatmat(self, X):
        return self.rmatmat(X)

    # -- on traced arrays -----------------------------------------------------------------
    def inline_on_tracer(self, x, mode="A"):
        """Record this operator's programs on the traced ``x`` (no opaque step).

        Parameters
        ----------
        x : Tracer
            Shape ``(n,)``, ``(n, 1)`` or ``(n, k)`` (columns are batched).
        mode : {"A", "H", "T", "C"}
            The operator, its adjoint, its transpose or its conjugate.

        Returns
        -------
        Tracer
            dtype ``result_type(x.dtype, self.dtype)``, computed at that precision.
        """
        dtype = np.result_type(x.dtype, self.dtype)
        forward, adjoint = _lift(self, dtype)
        fn = {"A": forward, "H": adjoint, "T": _conjugated(adjoint, dtype),
              "C": _conjugated(forward, dtype)}[mode]
        if x.dtype != dtype:
            x = C.convert(x, dtype)
        if x.ndim == 1:
            return fn(x)
        k = x.shape[1]
        if k == 1:
            y = fn(S.reshape(x, (x.shape[0],)))
            return S.reshape(y, (y.shape[0], 1))
        from .batching import batch_program

        batched = batch_program(_trace_vector_fn(fn, x.shape[0], dtype), k)[0]
        return S.transpose(run_flat(batched, [S.transpose(x, (1, 0))])[0], (1, 0))

    # -- shaped application ------------------------------------------------------------
    def apply(self, *args):
        """Apply the operator to the function's own arguments (pytrees); returns its output.

        For ``A.H`` the arguments are one output-shaped pytree of ``A`` and the
        result is ``A.apply_adjoint`` of it.
        """
        src = self._require_source("apply")
        if self._flipped:
            if len(args) != 1:
                raise TypeError(f"apply: the adjoint operator takes one output-shaped pytree, "
                                f"got {len(args)} arguments")
            return self._through_vectors(args[0], src.out_layout, src.in_layout, self.matvec,
                                         "apply")
        return src.program(*args)

    def apply_adjoint(self, y):
        """The adjoint applied to an output-shaped pytree ``y``; returns the inputs' structure.

        Leaves have the input leaves' shapes; their dtype is the input leaf's
        dtype, promoted to complex when the adjoint is complex. For ``A.H``,
        ``y`` has the structure of ``A``'s arguments (one argument itself, several
        as a tuple) and the result is ``A.apply`` of it.
        """
        src = self._require_source("apply_adjoint")
        if self._flipped:
            return self._through_vectors(y, src.in_layout, src.out_layout, self.rmatvec,
                                         "apply_adjoint")
        return self._through_vectors(y, src.out_layout, src.in_layout, self.rmatvec,
                                     "apply_adjoint")

    def _through_vectors(self, tree, start, end, fn, what):
        src = self._source
        leaves = start.flatten(tree, what)
        w = fn(src.ravel(leaves, start.avals, self.dtype))
        return end.unflatten(src.unravel(w, end.avals))

    def _layouts(self, what):
        src = self._require_source(what)
        return (src.out_layout, src.in_layout) if self._flipped else (src.in_layout, src.out_layout)

    def ravel_input(self, *args) -> np.ndarray:
        """The flat vector of the function's arguments (the layout ``matvec`` uses)."""
        layout, _ = self._layouts("ravel_input")
        leaves = layout.flatten_args(args, "ravel_input")
        return self._source.ravel(leaves, layout.avals, self.dtype)

    def unravel_input(self, x):
        """The function's arguments from a flat vector of length ``n`` (inverse of :meth:`ravel_input`).

        One argument is returned itself, several as a tuple (as
        :meth:`apply_adjoint` does). Leaves keep the vector's precision; a
        complex vector gives complex leaves.

        Examples
        --------
        >>> import numpy as np, linop
        >>> A = linop.aslinearoperator(lambda a, b: a[:2] + b, np.zeros(3), np.zeros(2))
        >>> a, b = A.unravel_input(np.arange(5.0))
        >>> a, b
        (array([0., 1., 2.]), array([3., 4.]))
        """
        layout, _ = self._layouts("unravel_input")
        vec = self._flat_vector(x, self.shape[1], "unravel_input")
        return layout.unflatten(self._source.unravel(vec, layout.avals, keep_precision=True))

    def unravel_output(self, y):
        """The function's output pytree from a flat vector of length ``m``.

        Leaves keep the vector's precision; a complex vector gives complex leaves.
        """
        _, layout = self._layouts("unravel_output")
        vec = self._flat_vector(y, self.shape[0], "unravel_output")
        return layout.unflatten(self._source.unravel(vec, layout.avals, keep_precision=True))

    @staticmethod
    def _flat_vector(y, n, what):
        y = np.asarray(y)
        if y.shape not in ((n,), (n, 1)):
            raise ValueError(f"{what}: expected a vector of length {n}, got shape {y.shape}")
        return y.reshape(-1)

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
        return TracedLinearOperator(self.adjoint_program, self.flat_program, self.dtype,
                                    source=self._source, flipped=not self._flipped)

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
        """``A @ x``: composition with operators and sparse matrices, SciPy's rule for arrays.

        A 1-d or ``(n, 1)`` array is a vector (``matvec``), another 2-d array a
        matrix of columns (``matmat``); a traced, SciPy or PyLops operator or a
        sparse matrix gives the composed traced operator; a scalar scales.
        """
        if isinstance(x, TracedLinearOperator) or _is_operand(x) or _is_sparse(x):
            return _compose(self, as_traced_operator(x, "A @ B"))
        if np.isscalar(x) and not isinstance(x, (str, bytes)):
            return _scale(self, x)
        if is_tracer(x):
            return foreign.dot(self, x)
        if isinstance(x, BatchedArray):
            return apply_operator(self.matmat, x, self.shape[1], "A @ x")
        if np.ndim(x) > 2:
            raise ValueError(f"A @ x at {user_location()}: this {self.shape[0]}x{self.shape[1]} "
                             f"operator applies to 1-d vectors and 2-d matrices of columns "
                             f"(SciPy's rule), got shape "
                             f"{np.shape(x)}{self._layout_hint(x) or '; ravel it first'}")
        x = np.asarray(x) if not isinstance(x, np.ndarray) else x
        if x.ndim == 1 or (x.ndim == 2 and x.shape[1] == 1):
            self._vector(x, self.shape[1], "A @ x")
        else:
            self._matrix(x, self.shape[1], "A @ x")
        return super().dot(x)

    def _rdot(self, x):
        if _is_sparse(x):
            return _compose(as_traced_operator(x, "S @ A"), self)
        return super()._rdot(x)

    def __rmul__(self, x):
        if np.isscalar(x) and not isinstance(x, (str, bytes)):
            return _scale(self, x)
        return super().__rmul__(x)

    def __truediv__(self, other):
        if not np.isscalar(other):
            raise ValueError("Can only divide a linear operator by a scalar.")
        return _scale(self, 1 / other)

    def __add__(self, x):
        if isinstance(x, TracedLinearOperator) or _is_operand(x) or _is_matrix(x):
            return _sum(self, as_traced_operator(x, "A + B"))
        return super().__add__(x)

    def __radd__(self, x):
        """``M + A`` for a 2-d array or sparse matrix ``M`` (SciPy's operators call ``__add__``)."""
        if _is_matrix(x):
            return _sum(as_traced_operator(x, "M + A"), self)
        return NotImplemented

    def __rsub__(self, x):
        """``M - A`` for a 2-d array or sparse matrix ``M``."""
        if _is_matrix(x):
            return _sum(as_traced_operator(x, "M - A"), -self)
        return NotImplemented

    def __neg__(self):
        return _scale(self, -1)

    def __pow__(self, p):
        if isinstance(p, numbers.Integral) and p >= 0:
            return _power(self, int(p))
        return super().__pow__(p)


def _conjugated(fn, dtype):
    """``conj ∘ fn ∘ conj`` (just ``fn`` for real vectors)."""
    if not _is_complex(dtype):
        return fn
    return lambda v: C.conj(fn(C.conj(v)))


class _Layout:
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
        out = tree_unflatten(self.tree, leaves)
        return out[0] if self.args and len(out) == 1 else out


class _Source:
    """The traced user function behind an operator: program, layout, mode."""

    def __init__(self, program, in_avals, out_avals, real_coords):
        self.program = program
        self.in_avals = in_avals
        self.out_avals = out_avals
        self.real_coords = real_coords
        self.in_layout = _Layout(program.in_tree, in_avals, args=True)
        self.out_layout = _Layout(program.out_tree, out_avals, args=False)

    def at_precision(self, real) -> "_Source":
        """The same function replayed at the precision of ``real`` (see :func:`promote_program`)."""
        program = promote_program(self.program, real)
        return _Source(program, program.in_avals, program.out_avals, self.real_coords)

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

    def unravel(self, vec, avals, keep_precision=False):
        """Leaves of ``avals`` from ``vec``: the leaf dtypes (promoted to complex for
        complex values), or with ``keep_precision`` the vector's precision where higher."""
        out, k = [], 0
        for aval in avals:
            n = aval.size
            if self.real_coords and _is_complex(aval.dtype):
                leaf = vec[k:k + n] + 1j * vec[k + n:k + 2 * n]
                dtype = aval.dtype
                k += 2 * n
            else:
                leaf = vec[k:k + n]
                dtype = aval.dtype
                if _is_complex(leaf.dtype) and not _is_complex(dtype):
                    dtype = np.result_type(dtype, np.complex64)
                k += n
            if keep_precision:
                dtype = np.result_type(dtype, C.real_dtype(np.result_type(leaf.dtype, np.float16)))
            out.append(leaf.astype(dtype).reshape(aval.shape))
        return out


def aslinearoperator(fun, *primals, real_coords=False) -> LinearOperator:
    """Trace a linear NumPy function into a SciPy ``LinearOperator``.

    Parameters
    ----------
    fun : callable, or a matrix or operator
        Linear in all of its arguments, written with NumPy. Called with no
        ``primals``, a 2-d array, ``np.matrix`` or SciPy sparse matrix gives the
        traced operator of that matrix, a PyLops operator a traced operator that
        calls it, and a SciPy ``LinearOperator`` is returned unchanged, as
        ``scipy.sparse.linalg.aslinearoperator`` does.
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
        when ``real_coords``). An integer matrix gives a ``float64`` operator.

    Raises
    ------
    RealLinearError
        ``fun`` is only real-linear on complex values and ``real_coords`` is
        false.
    NonLinearError, AffineError, UnsupportedFunctionError
        While tracing ``fun``.
    TypeError
        A matrix or operator was given together with ``primals``, or an array
        that is not 2-d.

    Examples
    --------
    >>> import numpy as np, linop
    >>> A = linop.aslinearoperator(lambda x: x[1:] - x[:-1], np.zeros(4))
    >>> A.shape
    (3, 4)
    >>> A.rmatvec(np.ones(3))
    array([-1.,  0.,  0.,  1.])
    >>> linop.aslinearoperator(np.eye(2)).shape
    (2, 2)
    """
    if (not primals and not callable(fun)) or _is_matrix(fun) or _is_operand(fun) or (
            isinstance(fun, LinearOperator)):
        if primals:
            raise TypeError(f"aslinearoperator: a {type(fun).__name__} is an operator already; "
                            "call linop.aslinearoperator(M) without example arguments")
        if isinstance(fun, LinearOperator):
            return fun
        return as_traced_operator(fun, "aslinearoperator")
    if not primals:
        raise TypeError(f"aslinearoperator at {user_location()}: example inputs are needed to "
                        f"trace {getattr(fun, '__name__', type(fun).__name__)}: pass arrays (or "
                        "linop.ShapeDtype) of the shapes and dtypes it takes, e.g. "
                        "linop.aslinearoperator(fun, np.zeros(n))")
    from .api import primal_avals

    in_tree, in_avals = primal_avals(primals, "aslinearoperator")
    return _from_function(fun, in_tree, in_avals, real_coords)


def _from_function(fun, in_tree, in_avals, real_coords):
    from .tracing import trace_flat

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
    """Forward and adjoint of ``op`` as traced functions on vectors of ``dtype``.

    ``op`` runs at the precision of ``dtype`` (traced again when needed); a real
    operator on complex vectors maps real and imaginary parts separately.
    """
    dtype = np.dtype(dtype)
    op = op.at_precision(dtype)
    f, a = _fn(op.flat_program), _fn(op.adjoint_program)
    if op.dtype == dtype:
        return f, a
    if _is_complex(dtype) and not _is_complex(op.dtype):
        # One opaque step that maps real and imaginary parts at run time: no real/imag/complex
        # steps in the program, which therefore stays visibly complex-linear.
        return (lambda v: linear_operator(v, op, "A"), lambda w: linear_operator(w, op, "H"))

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


# -- other operands: matrices and foreign operators ---------------------------------------------
def _is_sparse(obj) -> bool:
    import scipy.sparse as sp

    return sp.issparse(obj)


def _is_matrix(obj) -> bool:
    """A 2-d ndarray, ``np.matrix`` or SciPy sparse matrix (an operand of blocks and sums)."""
    return (isinstance(obj, np.ndarray) and obj.ndim == 2) or (_is_sparse(obj) and obj.ndim == 2)


def _is_operand(obj) -> bool:
    """A foreign operator (SciPy's or PyLops'), not a traced one."""
    return not isinstance(obj, TracedLinearOperator) and foreign.is_linear_operator(obj)


def _inexact(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    return dtype if np.issubdtype(dtype, np.inexact) else np.result_type(dtype, np.float64)


def _traced_from(apply, shape, dtype):
    """The traced operator of ``apply(v, mode)`` (forward mode "A", adjoint mode "H")."""
    m, n = shape
    fwd = _trace_vector_fn(lambda v: apply(v, "A"), n, dtype)
    adj = _trace_vector_fn(lambda w: apply(w, "H"), m, dtype)
    return TracedLinearOperator(fwd, adj, dtype)


def _from_matrix(M):
    dtype = _inexact(M.dtype)
    # One snapshot serves both programs (np.matrix becomes a plain array): the adjoint of a
    # real matrix is a transposed view of it, so it holds no second copy.
    M = snapshot(np.asarray(M)) if isinstance(M, np.ndarray) else captured_matrix(M)
    adjoint = M.T if M.dtype.kind != "c" else M.conj().T

    def apply(v, mode):
        Mm = M if mode == "A" else adjoint
        return C.convert(Mm @ v, dtype) if np.result_type(Mm.dtype, dtype) != dtype else Mm @ v
    return _traced_from(apply, M.shape, dtype)


def _from_foreign(L):
    dtype = foreign.vector_dtype(L)
    return _traced_from(lambda v, mode: foreign.apply_operator(L, v, mode), tuple(L.shape), dtype)


def as_traced_operator(obj, what="as_traced_operator") -> TracedLinearOperator:
    """``obj`` as a :class:`TracedLinearOperator` (the operands of blocks and algebra).

    Parameters
    ----------
    obj : TracedLinearOperator, 2-d array, np.matrix, SciPy sparse matrix, or a SciPy or PyLops
        linear operator
        Matrices become constants of the program (captured by value); foreign
        operators are applied by :func:`linop.foreign.apply_operator` (an
        opaque step that calls the operator at run time, unless its matrix is
        known).
    what : str
        Name of the caller, for the error message.

    Raises
    ------
    ForeignOperatorError
        ``obj`` is none of those.
    """
    if isinstance(obj, TracedLinearOperator):
        return obj
    if isinstance(obj, np.ndarray) and obj.ndim == 2:
        if obj.dtype.kind not in "fciub":
            raise TypeError(f"{what}: a matrix must be numeric, got dtype {obj.dtype}")
        return _from_matrix(obj)
    if _is_sparse(obj) and obj.ndim == 2:
        return _from_matrix(obj.tocsr())
    if foreign.is_linear_operator(obj):
        return _from_foreign(obj)
    if hasattr(obj, "shape") and hasattr(obj, "matvec") and hasattr(obj, "rmatvec"):
        from scipy.sparse.linalg import aslinearoperator as scipy_aslinearoperator

        return _from_foreign(scipy_aslinearoperator(obj))
    raise ForeignOperatorError(
        f"{what}: expected linop.TracedLinearOperator objects, 2-d arrays, sparse matrices or "
        f"SciPy/PyLops linear operators, got {type(obj).__name__}"
        f"{f' with shape {np.shape(obj)}' if isinstance(obj, np.ndarray) else ''}; wrap a "
        "NumPy function with linop.aslinearoperator(fun, example_input) first")


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
        Rows of blocks: traced operators, SciPy or PyLops operators, 2-D arrays,
        sparse matrices, or ``None`` for a zero block. Every row and every
        column needs at least one non-``None`` block.

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
    rows = [[None if b is None else as_traced_operator(b, "block") for b in row] for row in blocks]
    return _block_of(rows)


def _block_of(rows) -> TracedLinearOperator:
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

    Operators may be traced, SciPy or PyLops operators, 2-D arrays or sparse matrices.

    Examples
    --------
    >>> import numpy as np, linop
    >>> A = linop.aslinearoperator(lambda x: 2 * x, np.zeros(3))
    >>> linop.vstack([A, 0.5 * A]).matvec(np.ones(3))
    array([2., 2., 2., 1., 1., 1.])
    """
    return block([[op] for op in _non_empty(ops, "vstack")])


def hstack(ops) -> TracedLinearOperator:
    """``[A, B, ...]``: operators with the same number of rows, side by side.

    Operators may be traced, SciPy or PyLops operators, 2-D arrays or sparse matrices.
    """
    return block([_non_empty(ops, "hstack")])


def block_diag(ops) -> TracedLinearOperator:
    """The block-diagonal operator ``diag(A, B, ...)``.

    Operators may be traced, SciPy or PyLops operators, 2-D arrays or sparse matrices.
    """
    ops = _non_empty(ops, "block_diag")
    return block([[op if i == j else None for j in range(len(ops))] for i, op in enumerate(ops)])


# -- checks for users ---------------------------------------------------------------------
def _batch_size(batch_size) -> int:
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"todense at {user_location()}: batch_size must be a positive integer "
                        f"(the number of columns computed at once, e.g. 256), got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"todense at {user_location()}: batch_size must be a positive integer "
                         f"(the number of columns computed at once, e.g. 256), got {batch_size}")
    return _operator.index(batch_size)


def todense(A, batch_size=256) -> np.ndarray:
    """The dense matrix of a linear operator, ``batch_size`` columns at a time.

    Parameters
    ----------
    A : LinearOperator
        Any SciPy operator (``matmat`` is used; traced operators run one
        batched program per chunk).
    batch_size : int
        A positive number of columns per chunk.

    Returns
    -------
    numpy.ndarray
        Shape ``A.shape``, dtype ``A.dtype``.

    Raises
    ------
    TypeError, ValueError
        ``batch_size`` is not a positive integer.
    """
    batch_size = _batch_size(batch_size)
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
