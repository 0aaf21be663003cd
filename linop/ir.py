"""The intermediate representation: typed variables, equations, programs.

A :class:`Program` is a straight-line list of equations ``out = prim(ins; params)``
over typed variables. Every equation is linear in its inputs; constants live
in the parameters (wrapped in :class:`Const`) and are printed by name, not
inlined, when they are large.
"""
from __future__ import annotations

import itertools
import math
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ExecutorError, user_location
from .pytree import TreeDef, tree_flatten, tree_unflatten
from .snapshots import Capturable, Captures, compact, is_snapshot, values_equal

__all__ = ["ShapeDtype", "Var", "Const", "Eqn", "Program", "EXECUTORS", "DEFAULT_EXECUTOR",
           "register_executor", "executor"]

#: NumPy's limits: at most 64 axes, and sizes and byte counts that fit ``intp``.
MAX_NDIM = 64
MAX_INTP = int(np.iinfo(np.intp).max)

_SHORT_DTYPE = {
    "float16": "f16", "float32": "f32", "float64": "f64", "longdouble": "f128",
    "complex64": "c64", "complex128": "c128", "clongdouble": "c256",
    "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64", "bool": "bool",
}


@dataclass(frozen=True)
class ShapeDtype:
    """A shape and a dtype: the abstract value of an array.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy.dtype or anything ``numpy.dtype`` accepts

    Examples
    --------
    >>> import linop, numpy as np
    >>> linop.ShapeDtype((3,), np.float32)
    ShapeDtype(shape=(3,), dtype=float32)
    """

    shape: tuple
    dtype: np.dtype

    def __post_init__(self):
        shape = self.shape
        if type(shape) is not tuple:
            shape = (shape,) if np.ndim(shape) == 0 else shape
        shape = tuple(map(_dimension, shape))
        dtype = np.dtype(self.dtype)
        check_shape(shape, dtype)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", dtype)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    def short(self) -> str:
        """Compact text form, e.g. ``f64[3,4]``."""
        name = _SHORT_DTYPE.get(self.dtype.name, self.dtype.name)
        return f"{name}[{','.join(map(str, self.shape))}]"

    def __repr__(self) -> str:
        return f"ShapeDtype(shape={self.shape}, dtype={self.dtype.name})"


def _dimension(size) -> int:
    """One dimension as NumPy reads it: an integer, but not a bool (``np.empty((True, 2))`` refuses)."""
    if isinstance(size, (bool, np.bool_)):
        raise TypeError(f"an integer is required: a bool ({size!r}) is not a dimension")
    return operator.index(size)


def check_shape(shape: tuple, dtype: np.dtype) -> None:
    """Refuse, as ``numpy.empty(shape, dtype)`` does, an array NumPy cannot represent.

    Raises
    ------
    ValueError
        More than 64 axes, a negative or too large dimension, or more bytes than
        ``intp`` can count (NumPy's own messages).
    """
    if len(shape) > MAX_NDIM:
        raise ValueError(f"maximum supported dimension for an ndarray is currently {MAX_NDIM}, "
                         f"found {len(shape)}")
    if not shape:
        return
    if min(shape) < 0:
        raise ValueError(f"negative dimensions are not allowed: {shape}")
    count = math.prod(shape)
    if count == 0:  # NumPy still refuses (0, 2**62, 2**62): it multiplies the other dimensions
        count = math.prod(d for d in shape if d)
    if count * dtype.itemsize > MAX_INTP or max(shape) > MAX_INTP:
        if max(shape) > MAX_INTP:
            raise ValueError("Maximum allowed dimension exceeded")
        raise ValueError("array is too big; `arr.size * arr.dtype.itemsize` is larger than the "
                         "maximum possible size.")


_var_ids = itertools.count()


class Var:
    """A typed variable of the IR.

    Parameters
    ----------
    aval : ShapeDtype
    """

    __slots__ = ("aval", "id")

    def __init__(self, aval: ShapeDtype):
        self.aval = aval
        self.id = next(_var_ids)

    @property
    def shape(self) -> tuple:
        """Shape of the variable."""
        return self.aval.shape

    @property
    def dtype(self) -> np.dtype:
        """Dtype of the variable."""
        return self.aval.dtype

    def __repr__(self) -> str:
        return f"Var({self.id}:{self.aval.short()})"

    def __reduce__(self):
        # A fresh id on unpickling keeps ids unique inside this process.
        return (Var, (self.aval,))


class Const(Capturable):
    """A constant array held by an equation's parameters.

    Programs hold captured constants (:meth:`captured`): snapshots
    taken when the equation was recorded.

    Parameters
    ----------
    value : array_like
        Held as given (no copy) until captured.
    """

    __slots__ = ("value",)
    #: Printed by name even when small (subclasses such as sparse constants set it).
    always_named = False

    def __init__(self, value):
        self.value = np.asarray(value)

    def captured(self, captures: Captures) -> "Const":
        """This constant with its value snapshotted (``self`` when it already is).

        Parameters
        ----------
        captures : Captures
            The trace's snapshots, so that equal constants are stored once.
        """
        value = self.value
        base = value.base
        if base is not None and is_snapshot(value):
            return self
        return captures.shared(value, Const)

    @property
    def is_captured(self) -> bool:
        """Whether the value is a snapshot (see :func:`is_snapshot`)."""
        return is_snapshot(self.value)

    def describe(self) -> str:
        """Text after the constant's name in a printed program, e.g. ``f64[20,20]``."""
        return self.aval.short()

    @property
    def aval(self) -> ShapeDtype:
        """Shape and dtype of the constant."""
        return ShapeDtype(self.value.shape, self.value.dtype)

    def __eq__(self, other) -> bool:
        return (isinstance(other, Const) and type(other) is type(self)
                and values_equal(self.value, other.value))

    def __hash__(self):
        return hash((self.value.shape, self.value.dtype.str))

    def __repr__(self) -> str:
        return f"Const({self.aval.short()})"

    def __reduce__(self):
        # Only the values a broadcast array really holds are written, with the full shape;
        # unpickled arrays are writeable: they are captured (snapshotted) again on loading.
        value = self.value
        if isinstance(value, np.ndarray) and value.shape and 0 in value.strides:
            return (_restore_const, (type(self), compact(value), value.shape))
        return (_restore_const, (type(self), value))


def _restore_const(cls, value, shape=None) -> Const:
    if shape is not None:
        value = np.broadcast_to(value, shape)
    return cls(value).captured(Captures())


@dataclass
class Eqn:
    """One equation ``out = prim(*inputs; **params)``.

    Attributes
    ----------
    prim : Primitive
    inputs : tuple of Var
    params : dict
    out : Var
    source : str or None
        ``file:line`` of the user's code that produced the equation.
    """

    prim: Any
    inputs: tuple
    params: dict
    out: Var
    source: str | None = None


#: Executors by name: ``name -> run_flat(program, flat_inputs) -> flat outputs``, where the
#: inputs are arrays (giving arrays) or tracers (recording equations).
EXECUTORS: dict = {}

#: The executor that runs :meth:`Program.__call__` and :meth:`Program.call_flat`: ``"auto"``
#: (registered by :mod:`linop.fused`) fuses programs worth compiling when numba is
#: installed and runs the NumPy executor otherwise.
DEFAULT_EXECUTOR = "auto"


def register_executor(name: str, run_flat) -> None:
    """Register ``run_flat(program, flat_inputs) -> list`` as the executor called ``name``.

    Parameters
    ----------
    name : str
        The executor's name (:mod:`linop.execute` registers ``"numpy"``, :mod:`linop.fused`
        ``"numba"`` and ``"auto"``).
    run_flat : callable
        Runs a program on a list of flat inputs and returns the list of flat outputs.
    """
    EXECUTORS[name] = run_flat


def executor(name: str | None = None):
    """The ``run_flat`` of the executor registered as ``name``.

    Parameters
    ----------
    name : str or None
        A registered name (case-sensitive); ``None`` means :data:`DEFAULT_EXECUTOR`.
        Nothing else (not ``""``) stands for the default.

    Raises
    ------
    ExecutorError
        When no executor of that name is registered.
    """
    if name is None:
        name = DEFAULT_EXECUTOR
    run_flat = EXECUTORS.get(name) if isinstance(name, str) else None
    if run_flat is None:
        raise ExecutorError(
            f"no executor named {name!r} is registered (asked for at {user_location()}; "
            f"registered: {', '.join(repr(n) for n in sorted(EXECUTORS)) or 'none'}). "
            + _executor_advice())
    return run_flat


def _executor_advice() -> str:
    """What to do about an executor name that is not registered."""
    if not EXECUTORS:
        return ("Import linop (which registers the NumPy executor 'numpy' from linop.execute, "
                "and 'numba' and the default 'auto' from linop.fused) before running a "
                "Program, or register one with linop.ir.register_executor(name, run_flat).")
    return ("Pass one of those names (they are case-sensitive), None for the default "
            f"{DEFAULT_EXECUTOR!r}, or register one with "
            "linop.ir.register_executor(name, run_flat).")


@dataclass
class Program:
    """A linear program: inputs, equations, outputs and pytree structure.

    Programs are callable on arrays with the calling convention of the traced
    function, printable, comparable and picklable. Unpickling runs arbitrary code
    (as for every pickle): unpickle programs only from sources you trust.

    Parameters
    ----------
    invars : list of Var
    eqns : list of Eqn
    outvars : list of Var
    in_tree : TreeDef
        Structure of the positional arguments (a tuple).
    out_tree : TreeDef
        Structure of the result.
    in_wrapped, out_is_args : bool
        Calling-convention flags that make ``transpose(transpose(p))`` take the
        arguments of ``p`` and return what ``p`` returns.

    Attributes
    ----------
    plan_cache : object or None
        The executor's compiled plan of this program (:func:`linop.execute.compile_plan`
        fills it on first run). Not an argument of the constructor, so
        ``dataclasses.replace`` gives a copy without it; not printed, not compared,
        not pickled.
    executor_cache : dict
        Plans and state of the other executors, by executor name (the fused plan of
        :mod:`linop.fused`); like ``plan_cache``, never copied, compared or pickled.
    """

    invars: list
    eqns: list
    outvars: list
    in_tree: TreeDef
    out_tree: TreeDef
    in_wrapped: bool = False
    out_is_args: bool = False
    plan_cache: Any = field(default=None, init=False, repr=False, compare=False)
    executor_cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # -- calling ----------------------------------------------------------
    @property
    def in_avals(self) -> list:
        """Shapes and dtypes of the flat inputs."""
        return [v.aval for v in self.invars]

    @property
    def out_avals(self) -> list:
        """Shapes and dtypes of the flat outputs."""
        return [v.aval for v in self.outvars]

    def __call__(self, *args, executor: str | None = None):
        """Run the program with the calling convention of the function it was traced from.

        Parameters
        ----------
        *args
            The function's arguments (arrays in its pytree structure).
        executor : str, optional
            A registered executor (``"numpy"``, ``"numba"``, ``"auto"``); ``None``
            (default) means :data:`DEFAULT_EXECUTOR`.

        Raises
        ------
        ExecutorError
            ``executor`` is neither ``None`` nor a registered name.
        """
        flat = flatten_args(args, self.in_tree)
        return unflatten_out(self.out_tree, self.call_flat(flat, executor))

    def call_flat(self, flat_args, executor_name: str | None = None) -> list:
        """Run the program on a flat list of inputs; return a flat list.

        Parameters
        ----------
        flat_args : sequence
        executor_name : str, optional
            A registered executor (``"numpy"``, ``"numba"``, ``"auto"``); ``None``
            (default) means :data:`DEFAULT_EXECUTOR`.

        Raises
        ------
        ExecutorError
            ``executor_name`` is neither ``None`` nor a registered name.
        """
        return executor(executor_name)(self, list(flat_args))

    # -- comparing and pickling -------------------------------------------
    def __eq__(self, other) -> bool:
        """Structural equality: same text, same calling convention, equal constants.

        Constants compare by value with NaN equal to NaN, so a program equals itself.
        """
        if not isinstance(other, Program):
            return NotImplemented
        return (self._signature() == other._signature()
                and _consts_equal(self, other))

    def __hash__(self):
        return hash(self._signature())

    def _signature(self) -> tuple:
        # Everything compared except the constants' values (their shapes and dtypes are in the text).
        return (self.pprint(), self.in_tree, self.out_tree, self.in_wrapped, self.out_is_args)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["plan_cache"] = None
        state["executor_cache"] = {}
        return state

    # -- printing -----------------------------------------------------------
    def __str__(self) -> str:
        return self.pprint()

    def __repr__(self) -> str:
        return self.pprint()

    def pprint(self, const_inline_size: int = 6) -> str:
        """Text form: one equation per line, large constants named ``c0, c1, ...``.

        Parameters
        ----------
        const_inline_size : int
            Constants with at most this many elements are printed inline.
        """
        return _Printer(self, const_inline_size).render()

    @property
    def consts(self) -> list:
        """Distinct constant arrays used by the equations, in order of first use."""
        return [c.value for c in _const_objects(self)]


def _iter_consts(obj):
    if isinstance(obj, Const):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _iter_consts(v)
    elif isinstance(obj, (tuple, list)):
        for v in obj:
            yield from _iter_consts(v)


def _const_objects(p: Program) -> list:
    seen: dict = {}
    for eqn in p.eqns:
        for c in _iter_consts(eqn.params):
            seen.setdefault(id(c), c)
    return list(seen.values())


def _consts_equal(a: Program, b: Program) -> bool:
    # Compared through Const.__eq__ so that subclasses (sparse constants) compare their own way.
    ca, cb = _const_objects(a), _const_objects(b)
    return len(ca) == len(cb) and all(x == y for x, y in zip(ca, cb))


def _var_name(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = letters[r] + name
    return name


class _Printer:
    def __init__(self, program: Program, inline: int):
        self.p = program
        self.inline = inline
        self.names: dict[int, str] = {}
        self.const_names: dict[int, str] = {}
        self.const_lines: list[str] = []

    def var(self, v: Var) -> str:
        if v.id not in self.names:
            self.names[v.id] = _var_name(len(self.names))
        return self.names[v.id]

    def typed(self, v: Var) -> str:
        return f"{self.var(v)}:{v.aval.short()}"

    def const(self, c: Const) -> str:
        if not c.always_named and c.value.size <= self.inline:
            return np.array2string(c.value, separator=",", precision=4).replace("\n", "")
        key = id(c)
        if key not in self.const_names:
            name = f"c{len(self.const_names)}"
            self.const_names[key] = name
            self.const_lines.append(f"{name}:{c.describe()}")
        return self.const_names[key]

    def value(self, x) -> str:
        if isinstance(x, Const):
            return self.const(x)
        if isinstance(x, np.dtype):
            return x.name
        if isinstance(x, tuple):
            return "(" + ",".join(self.value(e) for e in x) + ("," if len(x) == 1 else "") + ")"
        if isinstance(x, slice):
            return f"{x.start}:{x.stop}:{x.step}"
        return repr(x) if isinstance(x, str) else str(x)

    def eqn(self, e: Eqn) -> str:
        params = ", ".join(f"{k}={self.value(v)}" for k, v in e.params.items())
        head = e.prim.name + (f"[{params}]" if params else "")
        args = " ".join(self.var(v) for v in e.inputs)
        return f"    {self.typed(e.out)} = {head} {args}".rstrip()

    def render(self) -> str:
        ins = " ".join(self.typed(v) for v in self.p.invars)
        body = [self.eqn(e) for e in self.p.eqns]
        outs = ", ".join(self.var(v) for v in self.p.outvars)
        consts = f"  consts {' '.join(self.const_lines)}\n" if self.const_lines else ""
        lines = "\n".join(body)
        return f"{{ lambda {ins} .\n{consts}  let\n{lines}\n  in ({outs}{',' if len(self.p.outvars) == 1 else ''}) }}"


def flatten_args(args, in_tree: TreeDef, what: str = "arguments") -> list:
    """Flatten call arguments and check they have the structure ``in_tree``."""
    leaves, tree = tree_flatten(tuple(args))
    if tree != in_tree:
        raise TypeError(f"expected {what} with structure {in_tree}, got {tree}")
    return leaves


def unflatten_out(out_tree: TreeDef, leaves):
    """Rebuild a program's result from its flat outputs."""
    return tree_unflatten(out_tree, leaves)
