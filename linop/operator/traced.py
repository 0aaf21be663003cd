"""The operator: :class:`TracedLinearOperator`, a SciPy ``LinearOperator`` running traced programs."""
from __future__ import annotations

import numbers
import threading

import numpy as np
from scipy.sparse.linalg import LinearOperator

from .. import foreign
from ..batched import BatchedArray, apply_operator
from ..batching import batch_columns, batch_program
from ..core import is_tracer
from ..errors import user_location
from ..fused import check_executor, plan_for
from ..ir import Program
from ..namespace import backend_for
from ..execute import run_flat
from ..precision import promote_program
from ..primitives.complex import real_dtype
from ..transpose import transpose
from . import algebra
from .checks import todense
from .sparse import DEFAULT_DENSE_LIMIT, tosparse
from .flat import apply_on_tracer
from .layout import flat_vector, is_complex
from .shaped import adjoint_shaped, forward_shaped
from .operands import is_matrix, is_operator, is_sparse, operand_programs

__all__ = ["TracedLinearOperator", "as_traced_operator"]

_TRACE_LOCK = threading.RLock()


def _precision(dtype) -> int:
    return np.finfo(np.dtype(dtype)).bits


def _like(template, result):
    """SciPy's convention: an ``np.matrix`` argument gives an ``np.matrix`` result."""
    return np.asmatrix(result) if isinstance(template, np.matrix) else result


def _once(op, attr, make):
    """``op.<attr>``, made by ``make()`` the first time (once, even with many threads)."""
    found = op.__dict__.get(attr)
    if found is None:
        with _TRACE_LOCK:
            found = op.__dict__.get(attr)
            if found is None:
                found = make()
                setattr(op, attr, found)
    return found


class TracedLinearOperator(LinearOperator):
    """A SciPy ``LinearOperator`` whose ``matvec`` and ``rmatvec`` run traced programs.

    Build it with :func:`linop.aslinearoperator`. ``rmatvec`` applies the adjoint
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
    source : linop.operator.layout.Source, optional
        The traced user function (its program and pytree layout), when the
        operator comes straight from :func:`linop.aslinearoperator` (or is its adjoint).
    flipped : bool
        The operator is the adjoint of the one ``source`` describes (``A.H``).
    executor : {"auto", "numpy", "numba"}
        What runs the programs: the fused (numba) executor, the NumPy one, or
        ``"auto"`` (fused when numba is installed and the program is worth compiling,
        see :mod:`linop.fused.executor`). Operators derived from it (its adjoint and
        transpose, promoted copies, ``A.normal()``, powers, scalings, and sums, products
        and blocks with operands that agree, see
        :func:`linop.operator.algebra.common_executor`) use the same.

    Attributes
    ----------
    program : Program
        The traced forward program of the user's function (for composed
        operators and adjoints, the flat forward program).
    transposed_program : Program
        ``linop.transpose(program)`` (JAX's convention, no conjugation), computed once.
    flat_program, adjoint_program : Program
        What ``matvec`` and ``rmatvec`` run on flat vectors.
    real_coords : bool
        Whether complex leaves are split into real and imaginary coordinates.
    """

    def __init__(self, flat_program, adjoint_program, dtype, source=None, flipped=False,
                 executor="auto"):
        self.executor = check_executor(executor)
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
        """The transpose of :attr:`program` (no conjugation), computed on first access."""
        return _once(self, "_transposed", lambda: transpose(self.program))

    @property
    def real_coords(self) -> bool:
        """Whether the vectors are real coordinates of complex leaves."""
        return self._source is not None and self._source.real_coords

    def __repr__(self) -> str:
        m, n = self.shape
        return f"<{m}x{n} TracedLinearOperator with dtype={self.dtype}>"

    def structural_key(self) -> tuple:
        """What identifies the map: its dtype and its two flat programs (equal after pickling)."""
        return _once(self, "_key", lambda: (str(self.dtype), self.flat_program,
                                            self.adjoint_program))

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_batched"] = {}
        state["_promoted"] = {}
        for cached in ("_key", "_transposed", "_adjoint_op", "_shaped_forward", "_shaped_adjoint"):
            state.pop(cached, None)
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
        real = real_dtype(np.result_type(dtype, np.float16))
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
                                    np.result_type(self.dtype, real), source, self._flipped,
                                    self.executor)

    # -- vectors -----------------------------------------------------------------------
    def _vector(self, x, n, what):
        x = np.asarray(x)  # also turns np.matrix columns into plain arrays
        self._require_numeric(x.dtype, what, n)
        if x.shape == (n,):
            return x, False
        if x.shape == (n, 1):
            return x[:, 0], True
        raise ValueError(f"{what} at {user_location()}: this {self.shape[0]}x{self.shape[1]} "
                         f"operator expects a vector of shape ({n},) or ({n}, 1), got shape "
                         f"{x.shape}{self._layout_hint(x)}")

    def _matrix(self, X, n, what):
        X = np.asarray(X)
        self._require_numeric(X.dtype, what)
        if X.ndim != 2 or X.shape[0] != n:
            raise ValueError(f"{what} at {user_location()}: this {self.shape[0]}x{self.shape[1]} "
                             f"operator expects a matrix of shape ({n}, k), got shape "
                             f"{X.shape}{self._layout_hint(X)}")
        return X

    def _require_numeric(self, dtype, what, n=None):
        """A ``TypeError`` for a ``dtype`` that is not numeric (of a vector of length ``n``, or
        of a matrix)."""
        if np.dtype(dtype).kind not in "fciub":
            expected = "a numeric array" if n is None else \
                f"a numeric vector of length {n} (dtype {self.dtype})"
            raise TypeError(f"{what} at {user_location()}: expected {expected}, got dtype {dtype}")

    def _layout_hint(self, x) -> str:
        """Advice for an array shaped like one of the pytree leaves this operator maps."""
        return "" if self._source is None else self._source.shape_hint(x, self._flipped)

    def _apply_vector(self, which, x):
        """The program ``which`` ("flat_program" or "adjoint_program") on one vector."""
        op = self.at_precision(x.dtype)
        dtype = op.dtype
        if x.dtype != dtype:
            if is_complex(x.dtype) and not is_complex(dtype):
                cols = op._apply_batched(which, np.stack([x.real, x.imag], axis=1))
                return (cols[:, 0] + 1j * cols[:, 1]).astype(np.result_type(x.dtype, dtype))
            x = x.astype(dtype)
        return plan_for(getattr(op, which), self.executor).run(x)[0]

    def _apply_namespace(self, which, x, n, what):
        """The program ``which`` on a vector of another array library (Dask): lazy, in its namespace."""
        self._require_numeric(x.dtype, what, n)
        if tuple(x.shape) not in ((n,), (n, 1)):
            raise ValueError(f"{what} at {user_location()}: this {self.shape[0]}x{self.shape[1]} "
                             f"operator expects a vector of shape ({n},) or ({n}, 1), got shape "
                             f"{tuple(x.shape)}")
        column = len(x.shape) == 2
        y = self._run_namespace(which, x[:, 0] if column else x)
        return y[:, None] if column else y

    def _run_namespace(self, which, v, columns=None):
        """The program ``which`` (batched over ``columns``, the batch axis last, when given)
        on ``v`` of another array library, at ``v``'s precision: a real map runs on the real
        and imaginary parts of a complex ``v``."""
        dtype = np.dtype(v.dtype)
        op = self.at_precision(dtype)
        program = getattr(op, which)
        if columns is not None:
            program = op._batched_program(program, columns, "last")
        if is_complex(dtype) and not is_complex(op.dtype):  # a real map on both parts
            re, im = (run_flat(program, [part.astype(op.dtype)])[0] for part in (v.real, v.imag))
            return (re + 1j * im).astype(np.result_type(dtype, op.dtype))
        return run_flat(program, [v if dtype == op.dtype else v.astype(op.dtype)])[0]

    def _apply_namespace_columns(self, which, X, n, what):
        """The program ``which`` on the columns of an ``(n, k)`` matrix of another array
        library (Dask): one batched program over all columns, lazy, in its namespace.

        The dtype rules are :meth:`_apply_batched`'s. The batch axis is last
        (:func:`linop.batching.batch_columns`): the program's reshapes of the rows into
        the leaves' shapes leave the trailing axis of columns and its chunks as they are,
        and no transpose is needed at either end. The result keeps ``X``'s column chunks
        (each column block runs the program's graph of one vector: a block is never
        larger than ``X``'s were) and has the rows cut as the program's last steps cut them.
        """
        dtype = np.dtype(X.dtype)
        self._require_numeric(dtype, what)
        if len(X.shape) != 2 or X.shape[0] != n:
            raise ValueError(f"{what} at {user_location()}: this {self.shape[0]}x{self.shape[1]} "
                             f"operator expects a matrix of shape ({n}, k), got shape "
                             f"{tuple(X.shape)}")
        if X.shape[1] == 0:  # nothing to run: on empty arrays every step would be a task
            op = self.at_precision(dtype)
            m = getattr(op, which).outvars[0].aval.shape[0]
            return backend_for((X,)).xp.zeros((m, 0), dtype=np.result_type(dtype, op.dtype))
        return self._run_namespace(which, X, X.shape[1])

    def _apply_batched(self, which, X):
        """The program ``which`` on the columns of ``X`` (n, k) at once: an (m, k) result.

        ``X`` is never copied (a transposing copy costs more than most programs) nor
        written to: an F-ordered ``X`` runs through the batched program with the batch
        axis in front as ``X.T`` (C-ordered), any other through the one with the batch
        axis last (:func:`linop.batching.batch_columns`), which takes a C-ordered ``X``
        as it is and gives a C-ordered result where its last step allows.
        """
        k = X.shape[1]
        if X.dtype == self.dtype:  # the common case first: no conversion (a microsecond saved)
            return self._run_batched(which, X, k)
        op = self.at_precision(X.dtype)
        dtype = op.dtype
        out_dtype = np.result_type(X.dtype, dtype)
        if is_complex(X.dtype) and not is_complex(dtype):  # a real map on both parts
            Y = op._apply_batched(which, np.concatenate([X.real, X.imag], axis=1))
            return (Y[:, :k] + 1j * Y[:, k:]).astype(out_dtype, copy=False)
        X = X.astype(dtype, copy=False)  # order "K": a conversion keeps the layout
        return op._run_batched(which, X, k).astype(out_dtype, copy=False)

    def _run_batched(self, which, X, k):
        """The batched program ``which`` on ``X`` of this operator's dtype, as laid out."""
        layout = "leading" if X.flags.f_contiguous and not X.flags.c_contiguous else "last"
        plan = plan_for(self._batched_program(getattr(self, which), k, layout), self.executor)
        return plan.run(X.T)[0].T if layout == "leading" else plan.run(X)[0]

    def _batched_program(self, program, k, layout):
        """``program`` over ``k`` columns: the batch axis in front (``layout="leading"``) or
        last (``"last"``)."""
        key = (id(program), k, layout)
        found = self._batched.get(key)
        if found is None:
            with _TRACE_LOCK:  # one batched program per column count, even with many threads
                found = self._batched.get(key)
                if found is None:
                    found = batch_program(program, k)[0] if layout == "leading" else \
                        batch_columns(program, k)
                    if len(self._batched) > 16:
                        self._batched.clear()
                    self._batched[key] = found
        return found

    def matvec(self, x):
        """``A @ x`` for a vector of shape ``(n,)`` or ``(n, 1)`` (``np.matrix`` stays a matrix)."""
        if type(x) is np.ndarray and x.shape == (self.shape[1],) and x.dtype == self.dtype:
            return plan_for(self.flat_program, self.executor).run(x)[0]  # where the checks lead
        if type(x) is not np.ndarray:  # the common case first: a plain vector skips both checks
            if is_tracer(x):
                return foreign.matvec(self, x, "A", "matvec")
            if isinstance(x, BatchedArray):
                return apply_operator(self.matmat, x, self.shape[1], "matvec")
            if backend_for((x,)) is not None:
                return self._apply_namespace("flat_program", x, self.shape[1], "matvec")
        xv, column = self._vector(x, self.shape[1], "matvec")
        y = self._apply_vector("flat_program", xv)
        return _like(x, y[:, None] if column else y)

    def rmatvec(self, x):
        """``A^H @ x`` (the adjoint, from the transposed program) for ``(m,)`` or ``(m, 1)``."""
        if type(x) is np.ndarray and x.shape == (self.shape[0],) and x.dtype == self.dtype:
            return plan_for(self.adjoint_program, self.executor).run(x)[0]  # where the checks lead
        if type(x) is not np.ndarray:  # the common case first: a plain vector skips both checks
            if is_tracer(x):
                return foreign.matvec(self, x, "H", "rmatvec")
            if isinstance(x, BatchedArray):
                return apply_operator(self.rmatmat, x, self.shape[0], "rmatvec")
            if backend_for((x,)) is not None:
                return self._apply_namespace("adjoint_program", x, self.shape[0], "rmatvec")
        xv, column = self._vector(x, self.shape[0], "rmatvec")
        y = self._apply_vector("adjoint_program", xv)
        return _like(x, y[:, None] if column else y)

    def matmat(self, X):
        """``A @ X`` for ``X`` of shape ``(n, k)``: one batched program over the columns.

        On a Dask ``X`` the result is a lazy Dask array (see ``docs/dask.md``).
        """
        if is_tracer(X):
            return foreign.matmat(self, X, "A", "matmat")
        if isinstance(X, BatchedArray):
            return apply_operator(self.matmat, X, self.shape[1], "matmat")
        if type(X) is not np.ndarray and backend_for((X,)) is not None:  # Dask: stays lazy
            return self._apply_namespace_columns("flat_program", X, self.shape[1], "matmat")
        Xa = self._matrix(X, self.shape[1], "matmat")
        return _like(X, self._apply_batched("flat_program", Xa))

    def rmatmat(self, X):
        """``A^H @ X`` for ``X`` of shape ``(m, k)``: one batched program over the columns.

        On a Dask ``X`` the result is a lazy Dask array.
        """
        if is_tracer(X):
            return foreign.matmat(self, X, "H", "rmatmat")
        if isinstance(X, BatchedArray):
            return apply_operator(self.rmatmat, X, self.shape[0], "rmatmat")
        if type(X) is not np.ndarray and backend_for((X,)) is not None:  # Dask: stays lazy
            return self._apply_namespace_columns("adjoint_program", X, self.shape[0], "rmatmat")
        Xa = self._matrix(X, self.shape[0], "rmatmat")
        return _like(X, self._apply_batched("adjoint_program", Xa))

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
        return apply_on_tracer(self, x, mode)

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
                                         "apply", "adjoint")
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
                                         "apply_adjoint", "forward")
        return self._through_vectors(y, src.out_layout, src.in_layout, self.rmatvec,
                                     "apply_adjoint", "adjoint")

    def _through_vectors(self, tree, start, end, fn, what, direction):
        """``fn`` (``matvec``/``rmatvec``) on the pytree ``tree`` of the layout ``start``, as a
        pytree of ``end``; arrays of another library (Dask) run the shaped program of
        ``direction`` ("forward" or "adjoint" of the source function) on the leaves instead,
        in their own shapes: ravelling a volume cut in cubes would merge its blocks."""
        src = self._source
        leaves = start.flatten(tree, what)
        if backend_for(leaves) is not None:
            coords = self._apply_shaped(direction, src.coordinates(leaves, start.avals, self.dtype))
            return end.unflatten(src.from_coordinates(coords, end.avals))
        w = fn(src.ravel(leaves, start.avals, self.dtype))
        return end.unflatten(src.unravel(w, end.avals))

    def _shaped_program(self, direction) -> Program:
        """The source function's forward or adjoint map on coordinate leaves (made once)."""
        if direction == "forward":
            return _once(self, "_shaped_forward", lambda: forward_shaped(
                self._source.program, self._source.in_avals, self.dtype, self.real_coords))
        return _once(self, "_shaped_adjoint", lambda: adjoint_shaped(
            self._shaped_program("forward"), self.dtype))

    def _apply_shaped(self, direction, coords) -> list:
        """The shaped program of ``direction`` on coordinate leaves of another array library
        (all of one dtype), at their precision: the leaf-wise counterpart of
        :meth:`_apply_namespace`."""
        dtype = np.dtype(coords[0].dtype)
        op = self.at_precision(dtype)
        program = op._shaped_program(direction)
        if is_complex(dtype) and not is_complex(op.dtype):  # a real map on both parts
            re, im = (run_flat(program, [getattr(c, part).astype(op.dtype) for c in coords])
                      for part in ("real", "imag"))
            out_dtype = np.result_type(dtype, op.dtype)
            return [(a + 1j * b).astype(out_dtype) for a, b in zip(re, im)]
        return run_flat(program, [c if c.dtype == op.dtype else c.astype(op.dtype)
                                  for c in coords])

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
        vec = flat_vector(x, self.shape[1], "unravel_input")
        return layout.unflatten(self._source.unravel(vec, layout.avals, keep_precision=True))

    def unravel_output(self, y):
        """The function's output pytree from a flat vector of length ``m``.

        Leaves keep the vector's precision; a complex vector gives complex leaves.
        """
        _, layout = self._layouts("unravel_output")
        vec = flat_vector(y, self.shape[0], "unravel_output")
        return layout.unflatten(self._source.unravel(vec, layout.avals, keep_precision=True))

    def _require_source(self, what):
        if self._source is None:
            raise TypeError(f"{what}: this operator was composed from others and has no pytree "
                            "layout; use matvec/rmatvec on flat vectors")
        return self._source

    # -- dense ---------------------------------------------------------------------------
    def todense(self, batch_size=256, method="auto", progress=False):
        """The dense matrix, computed ``batch_size`` columns at a time (see :func:`todense`)."""
        return todense(self, batch_size, method, progress)

    def tosparse(self, format="csr", dense_limit=DEFAULT_DENSE_LIMIT):
        """The exact sparse matrix, from the program's structure (see :func:`linop.tosparse`)."""
        return tosparse(self, format, dense_limit)

    def diagonal(self, dense_limit=DEFAULT_DENSE_LIMIT) -> np.ndarray:
        """The exact main diagonal, from :meth:`tosparse`.

        For ``A.normal()`` it is ``sum_i |A_ij|^2`` from ``A``'s sparse matrix,
        without forming ``A^H A``.

        Parameters
        ----------
        dense_limit : int
            As for :meth:`tosparse`.

        Returns
        -------
        numpy.ndarray
            Always of the operator's dtype, as NumPy's ``M.diagonal()`` of the matrix
            would be: for a complex ``A``, ``A.normal().diagonal()`` is complex with
            zero imaginary parts (the diagonal of ``AᴴA`` is real; take ``.real`` for
            a real array).
        """
        factor = getattr(self, "_normal_factor", None)
        if factor is not None:
            M = tosparse(factor, "csr", dense_limit)
            squares = np.square(M.data.real) + np.square(M.data.imag) if is_complex(M.dtype) \
                else np.square(M.data)
            # column sums of |A_ij|^2 in one pass over the entries (no product matrix)
            sums = np.bincount(M.indices, weights=squares, minlength=M.shape[1])
            return sums.astype(self.dtype)
        return tosparse(self, "csr", dense_limit).diagonal().astype(self.dtype, copy=False)

    # -- algebra -------------------------------------------------------------------------
    def _adjoint(self):
        return _once(self, "_adjoint_op", self._flip)

    def _flip(self):
        """The adjoint operator, whose own adjoint is ``self``."""
        op = TracedLinearOperator(self.adjoint_program, self.flat_program, self.dtype,
                                  source=self._source, flipped=not self._flipped,
                                  executor=self.executor)
        op._adjoint_op = self
        return op

    def _transpose(self):
        if not is_complex(self.dtype):
            return self._adjoint()
        return TracedLinearOperator(*algebra.transposed(self), executor=self.executor)

    def normal(self):
        """``A^H A`` as one traced operator (self-adjoint, shape ``(n, n)``; ``A``'s executor)."""
        op = TracedLinearOperator(*algebra.normal(self), executor=self.executor)
        op._normal_factor = self
        return op

    def with_executor(self, executor) -> "TracedLinearOperator":
        """The same operator, run with ``executor``.

        Parameters
        ----------
        executor : {"auto", "numpy", "numba"}
            As for :func:`linop.aslinearoperator`.

        Returns
        -------
        TracedLinearOperator
            ``self`` when it already runs with ``executor``; else a new operator
            that shares this one's programs (nothing is traced again) and its
            pytree layout.

        Raises
        ------
        ExecutorError
            ``executor`` is not one of the names above, or is ``"numba"`` without numba.

        Examples
        --------
        >>> import numpy as np, linop
        >>> A = linop.aslinearoperator(lambda x: x[1:] - x[:-1], np.zeros(4), executor="numpy")
        >>> (A + 2 * A).executor
        'numpy'
        >>> A.with_executor("auto").executor
        'auto'
        """
        executor = check_executor(executor, "with_executor: executor")
        if executor == self.executor:
            return self
        op = TracedLinearOperator(self.flat_program, self.adjoint_program, self.dtype,
                                  self._source, self._flipped, executor)
        if "_normal_factor" in self.__dict__:
            op._normal_factor = self._normal_factor
        return op

    def dot(self, x):
        """``A @ x``: composition with operators and sparse matrices, SciPy's rule for arrays.

        A 1-d or ``(n, 1)`` array is a vector (``matvec``), another 2-d array a
        matrix of columns (``matmat``); a traced, SciPy or PyLops operator or a
        sparse matrix gives the composed traced operator; a scalar scales.
        """
        if type(x) is np.ndarray and x.shape == (self.shape[1],) and x.dtype.kind in "fciub":
            return self.matvec(x)  # a numeric vector: skip the checks (others get "A @ x" errors)
        if is_operator(x) or is_sparse(x):
            return _composed(self, as_traced_operator(x, "A @ B"))
        if np.isscalar(x) and not isinstance(x, (str, bytes)):
            return _scaled(self, x)
        if is_tracer(x):
            return foreign.dot(self, x)
        if isinstance(x, BatchedArray):
            return apply_operator(self.matmat, x, self.shape[1], "A @ x")
        if backend_for((x,)) is not None and len(x.shape) in (1, 2):  # Dask stays lazy
            if len(x.shape) == 1 or x.shape[1] == 1:  # SciPy's rule: a vector
                return self._apply_namespace("flat_program", x, self.shape[1], "A @ x")
            return self._apply_namespace_columns("flat_program", x, self.shape[1], "A @ x")
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

    def __matmul__(self, x):
        if type(x) is np.ndarray and x.shape == (self.shape[1],) and x.dtype.kind in "fciub":
            return self.matvec(x)  # a numeric vector: skip the checks (others get "A @ x" errors)
        return super().__matmul__(x)

    def _rdot(self, x):
        if is_sparse(x):
            return _composed(as_traced_operator(x, "S @ A"), self, "S @ A")
        return super()._rdot(x)

    def __rmul__(self, x):
        if np.isscalar(x) and not isinstance(x, (str, bytes)):
            return _scaled(self, x)
        return super().__rmul__(x)

    def __truediv__(self, other):
        if not np.isscalar(other):
            raise ValueError("Can only divide a linear operator by a scalar.")
        return _scaled(self, 1 / other)

    def __add__(self, x):
        if is_operator(x) or is_matrix(x):
            return _summed(self, as_traced_operator(x, "A + B"))
        return super().__add__(x)

    def __radd__(self, x):
        """``M + A`` for a 2-d array or sparse matrix ``M`` (SciPy's operators call ``__add__``)."""
        if is_matrix(x):
            return _summed(as_traced_operator(x, "M + A"), self, "M + A")
        return NotImplemented

    def __rsub__(self, x):
        """``M - A`` for a 2-d array or sparse matrix ``M``."""
        if is_matrix(x):
            return _summed(as_traced_operator(x, "M - A"), -self, "M - A")
        return NotImplemented

    def __neg__(self):
        return _scaled(self, -1)

    def __pow__(self, p):
        if isinstance(p, numbers.Integral) and p >= 0:
            return TracedLinearOperator(*algebra.power(self, int(p)), executor=self.executor)
        return super().__pow__(p)


def _composed(left, right, what="A @ B") -> TracedLinearOperator:
    executor = algebra.common_executor([left, right], what)
    return TracedLinearOperator(*algebra.composed(left, right), executor=executor)


def _summed(left, right, what="A + B") -> TracedLinearOperator:
    executor = algebra.common_executor([left, right], what)
    return TracedLinearOperator(*algebra.summed(left, right), executor=executor)


def _scaled(op, alpha) -> TracedLinearOperator:
    return TracedLinearOperator(*algebra.scaled(op, alpha), executor=op.executor)


def as_traced_operator(obj, what="as_traced_operator", executor="auto") -> TracedLinearOperator:
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
    executor : {"auto", "numpy", "numba"}
        What runs the programs of an ``obj`` that is not traced yet (a traced ``obj`` is
        returned as it is, with its own executor).

    Raises
    ------
    ForeignOperatorError
        ``obj`` is none of those.
    """
    if isinstance(obj, TracedLinearOperator):
        return obj
    return TracedLinearOperator(*operand_programs(obj, what), executor=executor)
