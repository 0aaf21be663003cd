"""Numba source for a fusible region: loops that read each input once and write each output once.

Every stored value of a region (see :func:`linop.fused.regions.stored_values`) gets one
kernel: a loop nest over its shape; each element is computed in *gather form*, as XLA's loop
fusion does: the primitive that produces it maps the element's index back to its inputs'
indices (:meth:`linop.core.Primitive.fused_element`), bounds becoming predicates (a
padded element outside the data is a zero, not a read), and values that are not stored
are computed in place from their own inputs. Primitives that need loops of their own
(running sums, accumulations) write their outputs with
:meth:`linop.core.Primitive.fused_loops`.

The source depends on the structure of the region only: sizes, offsets and strides are
read from an integer array argument ``P`` (0 and 1 stay literal), so values of the same
structure share one kernel, whatever their shapes, within and across programs (a chain
of 25 identical steps compiles one kernel). Constants are array arguments. A long chain
of slice writes (a loop of ``y[i] = ...``) is written into one buffer, and its writes
that differ only in integers are one loop over a table ``T`` of those integers.
"""
from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass

import numpy as np

from .regions import MIN_UPDATE_CHAIN, Region, update_chain

__all__ = ["Kernel", "Loop", "KernelSpec", "kernel_source", "compact_constant"]

#: Marks the local names of a drafted write (see :meth:`Kernel.draft`); no other name has it.
_DRAFT = "QQ"
#: Constants of at most this many elements are compared by value (equal ones share an argument).
_SMALL_CONSTANT = 16

_SCALAR = {"float32": "np.float32", "float64": "np.float64",
           "complex64": "np.complex64", "complex128": "np.complex128"}


def compact_constant(value) -> np.ndarray:
    """``value`` without the repeats of its broadcast axes (length 1 there), C-contiguous, 1-d if 0-d."""
    value = np.asarray(value)
    index = tuple(slice(0, 1) if s == 0 and d > 1 else slice(None)
                  for s, d in zip(value.strides, value.shape))
    compact = np.ascontiguousarray(value[index])
    return compact.reshape(1) if compact.ndim == 0 else compact


def _atom(expr: str) -> str:
    """``expr`` safe to put next to an operator: a name, a number, or parenthesised."""
    return expr if expr.isidentifier() or expr.isdigit() else f"({expr})"


class Kernel:
    """The source of the kernel that writes one stored value of a region, statement by statement.

    Parameters
    ----------
    region : Region
    stored : set
        Ids of the region's stored values (:func:`linop.fused.regions.stored_values`):
        the kernel reads those, and the region's inputs, as arrays.
    target : Eqn
        The equation whose output the kernel writes.
    """

    def __init__(self, region: Region, stored: set, target):
        self.region, self.stored, self.target = region, stored, target
        self.producer = {e.out.id: e for e in region.eqns}
        self.inputs: list = []     # values read as arrays, in argument order
        self.arrays: dict = {}     # value id -> name of the array holding it
        self.ints: dict = {}       # integer parameter -> its local name
        self.table: list = []      # ``T``: the integer parameters of looped writes
        self.varying = None        # while a write is drafted: its integer parameters, in use order
        self.consts: list = []     # constant arrays, passed after the buffers
        self.buffers: list = []    # (aval, zeros, flat) of each array the kernel writes
        self.buffer_of: dict = {}  # value id -> its buffer's position
        self.const_names: dict = {}
        self.compact: dict = {}    # constant's name -> its compacted array
        self.hoisted: list = []    # statements before the loops (parameters, scalar constants)
        self.views: dict = {}      # (argument, shape) -> name of its reshaped view
        self.lines: list = []
        self.depth = 1
        self._names = itertools.count()
        self.scope = ""            # part of every fresh name (names of drafted writes are marked)
        self.in_parallel = False   # while statements inside a parallel loop are written
        #: Whether the kernel has a parallel loop (then its source has a parallel variant).
        self.parallel = False

    # -- statements -------------------------------------------------------
    def name(self, prefix: str) -> str:
        """A fresh local name."""
        return f"{prefix}{self.scope}{next(self._names)}"

    def emit(self, text: str) -> None:
        """One statement at the current depth."""
        self.lines.append("    " * self.depth + text)

    @contextlib.contextmanager
    def indented(self):
        """Statements one level deeper (inside a loop or a branch)."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def temp(self, expr: str) -> str:
        """``expr`` assigned to a fresh local; its name."""
        name = self.name("t")
        self.emit(f"{name} = {expr}")
        return name

    def int(self, value) -> str:
        """An integer parameter: a literal for 0 and 1, else a local read from ``P``
        (while a write is drafted, every one is a local read from ``T``)."""
        value = int(value)
        if self.varying is not None:
            self.varying.append(value)
            return f"q{_DRAFT}{len(self.varying) - 1}"
        if value in (0, 1):
            return str(value)
        name = self.ints.get(value)
        if name is None:
            name = self.ints[value] = f"p{len(self.ints)}"
        return name

    def const(self, value) -> str:
        """The argument name of a constant array (compacted, see :func:`compact_constant`)."""
        compact = None
        key = id(value)
        if np.size(value) <= _SMALL_CONSTANT:  # equal small constants share one argument
            compact = compact_constant(value)
            key = (compact.dtype.str, compact.shape, compact.tobytes())
        name = self.const_names.get(key)
        if name is None:
            compact = compact_constant(value) if compact is None else compact
            name = self.const_names[key] = f"c{len(self.consts)}"
            self.consts.append((value, compact))
            self.compact[name] = compact
            if compact.size == 1:  # its one element, whatever its number of axes
                self.hoisted.append(f"s{name[1:]} = {self.at(name, ['0'] * compact.ndim)}")
        return name

    def const_at(self, value, index) -> str:
        """The element of a constant broadcast (right-aligned) against ``index``."""
        name = self.const(value)
        compact = self.compact[name]
        if compact.size == 1:
            return f"s{name[1:]}"
        lead = len(index) - compact.ndim
        return self.at(name, ["0" if d == 1 else index[lead + j] for j, d in enumerate(compact.shape)])

    @staticmethod
    def at(name: str, index) -> str:
        """``name[index]`` (0-d values are held as one element)."""
        return f"{name}[{', '.join(map(_atom, index)) if index else '0'}]"

    def affine(self, i: str, start: int, step: int) -> str:
        """``start + i * step`` with the trivial terms left out."""
        term = i if step == 1 else f"{i} * {self.int(step)}"
        return term if start == 0 else f"{self.int(start)} + {term}"

    def flat_index(self, index, shape) -> str:
        """The C-order flat position of ``index`` in an array of ``shape``."""
        if not index:
            return "0"
        flat = index[0]
        for i, d in zip(index[1:], shape[1:]):
            flat = f"({flat}) * {self.int(d)} + {i}"
        return flat

    @staticmethod
    def scalar(dtype) -> str:
        """The scalar type of ``dtype`` in the kernel's source."""
        return _SCALAR[np.dtype(dtype).name]

    def cast(self, expr: str, dtype) -> str:
        """``expr`` as a scalar of ``dtype``."""
        return f"{self.scalar(dtype)}({expr})"

    def zero(self, dtype) -> str:
        """The name of a zero of ``dtype`` (made once, before the loops)."""
        name = f"z_{np.dtype(dtype).name}"
        line = f"{name} = {self.cast('0', dtype)}"
        if line not in self.hoisted:
            self.hoisted.append(line)
        return name

    def additive_identity(self, dtype) -> str:
        """The name of ``-0`` of ``dtype`` (made once): ``z + x`` is exactly ``x`` for every
        ``x``, signs of zero included, as a running sum started from the first element."""
        name = f"nz_{np.dtype(dtype).name}"
        value = "complex(-0.0, -0.0)" if np.issubdtype(dtype, np.complexfloating) else "-0.0"
        line = f"{name} = {self.cast(value, dtype)}"
        if line not in self.hoisted:
            self.hoisted.append(line)
        return name

    def shape_tuple(self, shape) -> str:
        """Source of a shape tuple (0-d values are held as one element)."""
        dims = [self.int(d) for d in shape] or ["1"]
        return f"({', '.join(dims)},)"

    @contextlib.contextmanager
    def nest(self, shape, reverse=(), parallel=False):
        """Loops over ``shape`` (C order); axes in ``reverse`` run from the end. Gives the index.

        With ``parallel`` (for loops whose iterations write disjoint elements and read
        nothing that others write) the outermost loop is a ``numba.prange``, unless the
        nest is inside a parallel loop already: :attr:`parallel` then says so, and the
        kernel's ``kernel_parallel`` variant splits that loop across threads.
        """
        depth, index, opened = self.depth, [], False
        for axis, n in enumerate(shape):
            i = self.name("i")
            loop = "range"
            if parallel and axis == 0 and not self.in_parallel:
                loop, opened, self.in_parallel, self.parallel = "numba.prange", True, True, True
            if axis in reverse:
                r = self.name("r")
                self.emit(f"for {r} in {loop}({self.int(n)}):")
                self.depth += 1
                self.emit(f"{i} = {self.int(n - 1)} - {r}")
            else:
                self.emit(f"for {i} in {loop}({self.int(n)}):")
                self.depth += 1
            index.append(i)
        try:
            yield index
        finally:
            self.depth = depth
            if opened:
                self.in_parallel = False

    # -- values ----------------------------------------------------------
    def value(self, var, index) -> str:
        """The element of ``var`` at ``index``: read from its array, or computed here."""
        index = [_atom(i) for i in index]
        name = self.arrays.get(var.id)
        if name is None and (var.id in self.stored or var.id not in self.producer):
            name = self.arrays[var.id] = f"x{len(self.inputs)}"
            self.inputs.append(var)
        if name is not None:
            return self.at(name, index)
        eqn = self.producer[var.id]
        expr = eqn.prim.fused_element(Loop(self, eqn), index, **eqn.params)
        return expr if expr.isidentifier() else self.temp(expr)  # no copies of names to compile

    def view(self, var, shape):
        """The name of a view in ``shape`` (same size, C order) of the kernel argument that
        holds ``var``, made once before the loops; None when ``var`` is computed in the
        loops or a write is being drafted. Indexing the view spares the flat index
        arithmetic of a reshape, which keeps numba from vectorising a loop."""
        if self.varying is not None or (var.id in self.producer and var.id not in self.stored):
            return None
        self.value(var, [])  # makes it an argument
        name = self.arrays[var.id]
        if not name.startswith("x"):
            return None  # a buffer this kernel writes: its views are made with it
        key = (name, tuple(shape))
        found = self.views.get(key)
        if found is None:
            found = self.views[key] = f"v{name}_{len(self.views)}"
            self.hoisted.append(f"{found} = {name}.reshape({self.shape_tuple(shape)})")
        return found

    def allocate(self, var, zeros: bool, flat: bool = False) -> str:
        """An array argument for ``var`` (the plan allocates it); its name.

        With ``flat`` the argument is 1-d (``var.size`` elements) and the name returned is
        that of the 1-d array; reads of ``var`` go through a reshaped view.
        """
        k = self.buffer_of[var.id] = len(self.buffers)
        self.buffers.append((var.aval, zeros, flat))
        name = f"o{k}"
        if flat:
            view = self.arrays[var.id] = self.name("b")
            self.emit(f"{view} = {name}.reshape({self.shape_tuple(var.aval.shape)})")
        else:
            self.arrays[var.id] = name
        return name

    def store(self, eqn) -> None:
        """The loops that write ``eqn``'s output into its array."""
        if eqn.prim.fused_updates:
            chain = update_chain(self.producer, self.stored, eqn)
            if len(chain) >= MIN_UPDATE_CHAIN:
                self.store_updates(chain)
                return
        if eqn.prim.fused_loops(Loop(self, eqn), **eqn.params) is not NotImplemented:
            return
        if eqn.prim.fused_form == "loops":
            raise TypeError(f"primitive {eqn.prim.name} declares fused_form='loops' but has "
                            "no fused_loops rule")
        out = eqn.out
        name = self.allocate(out, zeros=False)
        with self.nest(out.aval.shape, parallel=True) as index:  # gather form: disjoint writes
            expr = eqn.prim.fused_element(Loop(self, eqn), index, **eqn.params)
            self.emit(f"{self.at(name, index)} = {expr}")

    def store_updates(self, chain) -> None:
        """A chain of slice writes into one buffer: the first one's input 0 copied in, then each
        write; consecutive writes that differ only in integer parameters (the rows of a loop)
        become one loop over a table of those parameters (one loop body to compile, not one per write)."""
        out = chain[-1].out
        name = self.allocate(out, zeros=False)
        with self.nest(out.aval.shape, parallel=True) as index:
            self.emit(f"{self.at(name, index)} = {self.value(chain[0].inputs[0], index)}")
        drafts = [self.draft(eqn, name) for eqn in chain]
        for text, group in itertools.groupby(drafts, key=lambda d: d[0]):
            self.looped_write(text, [values for _, values in group])

    def draft(self, eqn, name) -> tuple:
        """``(lines, integers)``: the source of one write, one loop deeper, with every integer
        parameter a local ``q…`` (the draft's names are marked, to be renamed per loop)."""
        lines, names, depth, scope = self.lines, self._names, self.depth, self.scope
        self.lines, self._names, self.varying, self.scope = [], itertools.count(), [], _DRAFT
        self.depth += 1
        try:
            eqn.prim.fused_update(Loop(self, eqn), name, **eqn.params)
            return "\n".join(self.lines), tuple(self.varying)
        finally:
            self.lines, self._names, self.depth, self.scope = lines, names, depth, scope
            self.varying = None

    def looped_write(self, text: str, values: list) -> None:
        """Drafted writes of one source: a loop over the rows of their parameters in ``T``."""
        mark = self.name("g") + "_"
        width = len(values[0])
        w = self.name("w")
        self.emit(f"for {w} in range({self.int(len(values))}):")
        with self.indented():
            row = self.temp(f"{self.int(len(self.table))} + {w} * {self.int(width)}" if width
                            else "0")
            for k in range(width):
                self.emit(f"q{mark}{k} = T[{row} + {self.int(k)}]")
        self.table.extend(v for row_values in values for v in row_values)
        self.lines.extend(line.replace(_DRAFT, mark) for line in text.split("\n") if line)

    def source(self) -> str:
        """The kernel's source: ``kernel(inputs..., buffers..., constants..., P, T)`` fills the buffers."""
        self.store(self.target)
        params = [f"{name} = P[{k}]" for k, name in enumerate(self.ints.values())]
        args = [f"x{k}" for k in range(len(self.inputs))]
        args += [f"o{k}" for k in range(len(self.buffers))]
        args += [f"c{k}" for k in range(len(self.consts))] + ["P", "T"]
        body = ["    " + line for line in params + self.hoisted] + self.lines
        return f"def kernel({', '.join(args)}):\n" + "\n".join(body) + "\n"


class Loop:
    """What a primitive's fusion rule sees: its equation's inputs inside the kernel being written.

    Parameters
    ----------
    kernel : Kernel
    eqn : Eqn
        The equation whose element (or loops) is being written.
    """

    def __init__(self, kernel: Kernel, eqn):
        self.kernel = kernel
        self.eqn = eqn

    @property
    def in_avals(self) -> list:
        """Shapes and dtypes of the equation's inputs."""
        return [v.aval for v in self.eqn.inputs]

    @property
    def out_aval(self):
        """Shape and dtype of its output."""
        return self.eqn.out.aval

    def read(self, k: int, index) -> str:
        """Input ``k``'s element at ``index`` (a list of integer expressions)."""
        return self.kernel.value(self.eqn.inputs[k], list(index))

    def zero(self) -> str:
        """A zero of the output dtype."""
        return self.kernel.zero(self.out_aval.dtype)

    def additive_identity(self) -> str:
        """``-0`` of the output dtype (see :meth:`Kernel.additive_identity`)."""
        return self.kernel.additive_identity(self.out_aval.dtype)

    def view(self, k: int, shape):
        """A name for input ``k`` viewed in ``shape`` (see :meth:`Kernel.view`), or None."""
        return self.kernel.view(self.eqn.inputs[k], shape)

    def cast(self, expr: str, dtype=None) -> str:
        """``expr`` as a scalar of ``dtype`` (default: the output dtype).

        Rules return elements of the output dtype: numba keeps the dtype of arithmetic
        on equal dtypes, so only conversions and mixed operands need a cast.
        """
        return self.kernel.cast(expr, self.out_aval.dtype if dtype is None else dtype)

    def const_dtype_differs(self, value) -> bool:
        """Whether a constant's dtype differs from the output's (its product then needs a cast)."""
        return np.asarray(value).dtype != self.out_aval.dtype

    def select(self, branches, default=None) -> str:
        """The value of the first branch whose condition holds, else ``default()`` (else zero).

        ``branches`` is a list of ``(condition, thunk)``; a thunk writes the statements
        of its value only inside its branch, so reads out of bounds never happen.
        """
        kernel = self.kernel
        name = kernel.name("t")
        kernel.emit(f"{name} = {self.zero()}")
        for k, (condition, thunk) in enumerate(branches):
            kernel.emit(f"{'if' if k == 0 else 'elif'} {condition}:")
            with kernel.indented():
                kernel.emit(f"{name} = {thunk()}")
        if default is not None:
            kernel.emit("else:")
            with kernel.indented():
                kernel.emit(f"{name} = {default()}")
        return name

    def output(self, zeros: bool, flat: bool = False) -> str:
        """Allocate the output; its name (with ``flat``, the name of a 1-d view of it)."""
        return self.kernel.allocate(self.eqn.out, zeros, flat)

    def int(self, value) -> str:
        """An integer parameter (see :meth:`Kernel.int`)."""
        return self.kernel.int(value)

    def temp(self, expr: str) -> str:
        """``expr`` in a fresh local."""
        return self.kernel.temp(expr)

    def const(self, value) -> str:
        """The name of a constant array argument."""
        return self.kernel.const(value)

    def const_at(self, value, index) -> str:
        """A constant's element, broadcast right-aligned against ``index``."""
        return self.kernel.const_at(value, list(index))

    def at(self, name: str, index) -> str:
        """``name[index]``."""
        return self.kernel.at(name, index)

    def affine(self, i: str, start: int, step: int) -> str:
        """``start + i * step``."""
        return self.kernel.affine(i, start, step)

    def flat_index(self, index, shape) -> str:
        """The C-order flat position of ``index`` in ``shape``."""
        return self.kernel.flat_index(index, shape)

    def shape_tuple(self, shape) -> str:
        """Source of a shape tuple of integer parameters."""
        return self.kernel.shape_tuple(shape)

    def nest(self, shape, reverse=(), parallel=False):
        """Loops over ``shape``; gives the index (see :meth:`Kernel.nest`). Pass ``parallel``
        only for loops whose iterations write disjoint elements: no accumulation, and no
        read of what another iteration writes."""
        return self.kernel.nest(shape, reverse, parallel)

    def emit(self, text: str) -> None:
        """One statement at the current depth."""
        self.kernel.emit(text)


@dataclass
class KernelSpec:
    """What the plan needs to call a region's kernel.

    Attributes
    ----------
    source : str
    inputs : list of Var
        The values the kernel reads as arrays, in argument order.
    consts : list of ndarray
        The constant arrays, in argument order.
    ints : ndarray
        ``P``, the integer parameters.
    table : ndarray
        ``T``, the integer parameters of writes looped over (a chain of slice writes).
    buffers : list of (ShapeDtype, bool, bool)
        The arrays the kernel writes, in argument order: aval, zero-filled, flat (1-d).
    output : int
        The buffer holding the value written.
    parallel : bool
        Whether the kernel has a parallel loop (a ``numba.prange``, a plain loop in the
        serial variant): :func:`linop.fused.cache.kernel_for` can then give a variant
        compiled with ``parallel=True``.
    """

    source: str
    inputs: list
    consts: list
    ints: np.ndarray
    table: np.ndarray
    buffers: list
    output: int
    parallel: bool = False


def kernel_source(region: Region, stored: set, target) -> KernelSpec:
    """The kernel that writes ``target``'s output: its source and the arguments the plan passes it."""
    kernel = Kernel(region, stored, target)
    source = kernel.source()
    ints = np.array(list(kernel.ints) or [0], dtype=np.int64)
    table = np.array(kernel.table or [0], dtype=np.int64)
    return KernelSpec(source, kernel.inputs, [c for _, c in kernel.consts], ints, table, kernel.buffers,
                      kernel.buffer_of[target.out.id], kernel.parallel)
