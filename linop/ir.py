"""The intermediate representation: typed variables, equations, programs.

A :class:`Program` is a straight-line list of equations ``out = prim(ins; params)``
over typed variables. Every equation is linear in its inputs; constants live
in the parameters (wrapped in :class:`Const`) and are printed by name, not
inlined, when they are large.
"""
from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .pytree import TreeDef, tree_flatten, tree_unflatten

__all__ = ["ShapeDtype", "Var", "Const", "Eqn", "Program"]

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
        shape = (self.shape,) if np.ndim(self.shape) == 0 else self.shape
        shape = tuple(operator.index(d) for d in shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"negative dimensions are not allowed: {shape}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", np.dtype(self.dtype))

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    def short(self) -> str:
        """Compact text form, e.g. ``f64[3,4]``."""
        name = _SHORT_DTYPE.get(self.dtype.name, self.dtype.name)
        return f"{name}[{','.join(map(str, self.shape))}]"

    def __repr__(self) -> str:
        return f"ShapeDtype(shape={self.shape}, dtype={self.dtype.name})"


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


class Const:
    """A constant array held by an equation's parameters.

    Parameters
    ----------
    value : array_like
    """

    __slots__ = ("value",)
    #: Printed by name even when small (subclasses such as sparse constants set it).
    always_named = False

    def __init__(self, value):
        self.value = np.asarray(value)

    def describe(self) -> str:
        """Text after the constant's name in a printed program, e.g. ``f64[20,20]``."""
        return self.aval.short()

    @property
    def aval(self) -> ShapeDtype:
        """Shape and dtype of the constant."""
        return ShapeDtype(self.value.shape, self.value.dtype)

    def __eq__(self, other) -> bool:
        return (isinstance(other, Const) and self.value.shape == other.value.shape
                and self.value.dtype == other.value.dtype
                and bool(np.array_equal(self.value, other.value)))

    def __hash__(self):
        return hash((self.value.shape, self.value.dtype.str))

    def __repr__(self) -> str:
        return f"Const({self.aval.short()})"


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


@dataclass
class Program:
    """A linear program: inputs, equations, outputs and pytree structure.

    Programs are callable on arrays with the calling convention of the traced
    function, printable, comparable and picklable.

    Attributes
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
    """

    invars: list
    eqns: list
    outvars: list
    in_tree: TreeDef
    out_tree: TreeDef
    in_wrapped: bool = False
    out_is_args: bool = False
    _plan: Any = field(default=None, repr=False, compare=False)

    # -- calling ----------------------------------------------------------
    @property
    def in_avals(self) -> list:
        """Shapes and dtypes of the flat inputs."""
        return [v.aval for v in self.invars]

    @property
    def out_avals(self) -> list:
        """Shapes and dtypes of the flat outputs."""
        return [v.aval for v in self.outvars]

    def __call__(self, *args):
        from .execute import call_program

        return call_program(self, args)

    def call_flat(self, flat_args) -> list:
        """Run the program on a flat list of inputs; return a flat list."""
        from .execute import run_flat

        return run_flat(self, list(flat_args))

    # -- comparing and pickling -------------------------------------------
    def __eq__(self, other) -> bool:
        if not isinstance(other, Program):
            return NotImplemented
        return self.pprint() == other.pprint() and _consts_equal(self, other)

    def __hash__(self):
        return id(self)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_plan"] = None
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
