"""Programs on arrays of other array libraries: the array-namespace layer of the executor.

A :class:`~linop.ir.Program` called on NumPy arrays runs through the compiled NumPy plan
(:mod:`linop.execute`). Called on arrays of another library (Dask today; CuPy could follow),
it runs here instead: equation by equation, each primitive's
:meth:`~linop.core.Primitive.array_impl` rule receiving a :class:`Backend`, which holds the
inputs' array-API namespace (``backend.xp``, from ``array-api-compat`` where installed) and
the few services a rule needs that the array API does not offer: constants brought over
once (:meth:`Backend.constant`), and :meth:`Backend.whole`, which runs a primitive's NumPy
``impl`` on whole arrays (the default rule, for primitives with no namespace rule of their
own).

Backends are found by :func:`backend_for` through :data:`BACKENDS`, a list of
``(detect, make)`` pairs that backend modules extend (:mod:`linop.dask_exec` registers
Dask's); arrays with an ``__array_namespace__`` that no registered backend claims get the
generic :class:`Backend`.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from .errors import NamespaceError

__all__ = ["Backend", "BACKENDS", "backend_for", "run_on_backend", "check_input", "ConstantCache",
           "Segment", "segments", "run_equation"]


def check_input(shape, dtype, aval, name: str) -> bool:
    """Check an input's ``shape`` and ``dtype`` against ``aval``; whether a cast is needed.

    Raises
    ------
    ValueError
        For another shape.
    TypeError
        For a dtype that does not cast to ``aval.dtype`` with ``same_kind`` casting.
    """
    if tuple(shape) != aval.shape:
        raise ValueError(f"{name} must have shape {aval.shape}, got {tuple(shape)}")
    if dtype == aval.dtype:
        return False
    if not np.can_cast(dtype, aval.dtype, "same_kind"):
        hint = ("; a complex value for a real one is not allowed"
                if np.issubdtype(dtype, np.complexfloating) else "")
        raise TypeError(f"{name} has dtype {dtype}, which does not cast to {aval.dtype} "
                        f"(same_kind casting){hint}")
    return True


@dataclass(frozen=True)
class Segment:
    """A run of a program's equations that a backend computes together (:meth:`Backend.steps`).

    Attributes
    ----------
    eqns : tuple of Eqn
        The equations, in program order.
    inputs : tuple of Var
        The values they read from before the run, in order of first use.
    outputs : tuple of Var
        The values they make that later equations read or the program returns.
    """

    eqns: tuple
    inputs: tuple
    outputs: tuple


def segments(program, together) -> list:
    """``program``'s equations with each maximal run of two or more consecutive equations
    for which ``together(eqn)`` holds replaced by one :class:`Segment`."""
    last_read = {v.id: len(program.eqns) for v in program.outvars}
    for k, eqn in enumerate(program.eqns):
        for v in eqn.inputs:
            last_read[v.id] = max(last_read.get(v.id, k), k)
    steps, run = [], []
    for k, eqn in enumerate(program.eqns + [None]):
        if eqn is not None and together(eqn):
            run.append(eqn)
            continue
        if len(run) > 1:
            steps.append(_segment(run, k - 1, last_read))
        else:
            steps.extend(run)
        run = []
        if eqn is not None:
            steps.append(eqn)
    return steps


def _segment(eqns, last, last_read) -> Segment:
    """The run ``eqns`` ending at equation ``last`` of the program as a :class:`Segment`."""
    made, inputs, seen = {e.out.id for e in eqns}, [], set()
    for e in eqns:
        for v in e.inputs:
            if v.id not in made and v.id not in seen:
                seen.add(v.id)
                inputs.append(v)
    outputs = tuple(e.out for e in eqns if last_read.get(e.out.id, -1) > last)
    return Segment(tuple(eqns), tuple(inputs), outputs)


class ConstantCache:
    """Values derived from captured constants, made once per constant and kept while it lives.

    Keys are the constant's ``id`` plus an extra hashable key (chunks, a client); an entry
    is dropped when the constant is garbage collected, so an ``id`` reused by a later
    object never finds a stale entry. Values of objects without weak references are made
    again at each use (not kept).
    """

    def __init__(self):
        self._entries: dict = {}
        self._watched: set = set()

    def get(self, value, extra, make):
        """The cached ``make()`` for ``(value, extra)``, made on first use."""
        key = (id(value), extra)
        found = self._entries.get(key)
        if found is None:
            found = make()
            if id(value) not in self._watched:
                try:
                    weakref.finalize(value, self._forget, id(value))
                except TypeError:  # no weak references (a foreign operator with __slots__):
                    return found   # its id could be reused by another object, so not kept
                self._watched.add(id(value))
            self._entries[key] = found
        return found

    def _forget(self, ident):
        self._watched.discard(ident)
        for key in [k for k in self._entries if k[0] == ident]:
            del self._entries[key]


class Backend:
    """How primitives run on the arrays of one array-API namespace.

    Parameters
    ----------
    xp : module
        The array-API namespace of the inputs (``array_api_compat.array_namespace``).

    Notes
    -----
    This generic backend serves any array-API library: rules written with ``xp`` run
    natively, and :meth:`whole` moves the arrays of a primitive without a namespace rule
    to NumPy and back (``np.asarray`` / ``xp.asarray``), which a device library may refuse
    (CuPy needs ``.get()``): such libraries need a backend of their own.
    """

    name = "array-api"

    def __init__(self, xp):
        self.xp = xp
        self.constants = ConstantCache()

    def asarray(self, value):
        """``value`` as an array of this namespace."""
        return self.xp.asarray(value)

    def constant(self, value, like=None):
        """The captured NumPy constant ``value`` as an array of this namespace (made once).

        ``like``: an array ``value`` will meet (a backend may lay the constant out to match it).
        """
        if np.ndim(value) == 0:
            return value
        return self.constants.get(value, None, lambda: self.xp.asarray(value))

    def whole(self, prim, xs, params, out_aval):
        """``prim.impl`` on whole NumPy copies of ``xs``, its result brought back."""
        return self.xp.asarray(prim.impl(*[np.asarray(x) for x in xs], **params))

    def apply(self, prim, xs, params, out_aval):
        """One equation: the primitive's rule for this backend."""
        if out_aval.size == 0 or any(0 in x.shape for x in xs):
            return self.whole(prim, xs, params, out_aval)
        return self.rule(prim, xs, params)

    def rule(self, prim, xs, params):
        """The primitive's rule for this backend: :meth:`~linop.core.Primitive.array_impl`."""
        return prim.array_impl(self, *xs, **params)

    def steps(self, program) -> list:
        """The order in which ``program`` runs here: its equations, or :class:`Segment` runs
        of them that :meth:`run_segment` computes together (the generic backend: each
        equation alone)."""
        return program.eqns

    def run_segment(self, segment: Segment, xs: list, layouts: dict) -> list:
        """The values of ``segment.outputs`` from those of ``segment.inputs`` (``xs``).

        The generic rule runs the equations one by one."""
        env = {v.id: x for v, x in zip(segment.inputs, xs)}
        for eqn in segment.eqns:
            run_equation(self, eqn, env, layouts)
        return [env[v.id] for v in segment.outputs]

    def fresh(self, prim, params, out_aval, layouts: dict):
        """An equation without inputs (``zeros``): its rule, laid out like the run's arrays
        (``layouts``, as in :meth:`settle`; the generic backend keeps the rule's result)."""
        return self.rule(prim, [], params)

    def settle(self, out, layouts: dict):
        """``out`` (an equation's result) laid out for the rest of the program.

        ``layouts`` is the run's memory of how arrays of each shape are laid out (blocked),
        filled by the backend; the generic backend keeps arrays as they are.
        """
        return out


def _compat_namespace(x):
    try:
        import array_api_compat
    except ImportError:  # pragma: no cover - the array-api-compat extra is optional
        return x.__array_namespace__()
    return array_api_compat.array_namespace(x)


def _generic_backend(x):
    return Backend(_compat_namespace(x))


#: ``(detect(x) -> bool, make(x) -> Backend)``, tried in order for each non-NumPy input.
BACKENDS: list = []


def backend_for(args):
    """The backend of the first non-NumPy array among ``args``, or ``None`` (all NumPy).

    Cheap for NumPy arrays (a type check each), as the NumPy executor calls it on every run.
    """
    for a in args:
        if type(a) is np.ndarray:
            continue
        for detect, make in BACKENDS:
            if detect(a):
                return make(a)
        if hasattr(a, "__array_namespace__") and not isinstance(a, (np.ndarray, np.generic)):
            return _generic_backend(a)
    return None


def run_on_backend(program, args: list, backend: Backend) -> list:
    """Run ``program`` equation by equation on ``backend``'s arrays.

    NumPy inputs (and Python scalars) among ``args`` are brought to the backend's
    namespace; every input is checked against the program's input types (and cast
    with ``same_kind`` casting), every result against the equation's type.
    """
    env, layouts = {}, {}
    for i, (a, v) in enumerate(zip(args, program.invars)):
        x = a if hasattr(a, "shape") and hasattr(a, "dtype") and not isinstance(a, np.ndarray) \
            else backend.asarray(np.asarray(a))
        if check_input(x.shape, np.dtype(x.dtype), v.aval, f"input {i}"):
            x = backend.xp.astype(x, v.aval.dtype)
        env[v.id] = backend.settle(x, layouts)
    for step in backend.steps(program):
        if isinstance(step, Segment):
            outs = backend.run_segment(step, [env[v.id] for v in step.inputs], layouts)
            made = {e.out.id: e for e in step.eqns}
            for v, out in zip(step.outputs, outs):
                env[v.id] = backend.settle(_checked(backend, made[v.id], out), layouts)
            continue
        run_equation(backend, step, env, layouts)
    return [env[v.id] for v in program.outvars]


def run_equation(backend, eqn, env: dict, layouts: dict) -> None:
    """``eqn`` on ``backend``: its result, checked and laid out, put into ``env``."""
    if eqn.inputs:
        out = backend.apply(eqn.prim, [env[v.id] for v in eqn.inputs], eqn.params, eqn.out.aval)
    else:
        out = backend.fresh(eqn.prim, eqn.params, eqn.out.aval, layouts)
    env[eqn.out.id] = backend.settle(_checked(backend, eqn, out), layouts)


def _checked(backend, eqn, out):
    """``out``, the result of ``eqn`` on ``backend``, after checking its shape and dtype."""
    if tuple(out.shape) != eqn.out.aval.shape or np.dtype(out.dtype) != eqn.out.aval.dtype:
        raise NamespaceError(
            f"the {backend.name} rule of primitive {eqn.prim.name} (recorded at "
            f"{eqn.source}) gave {np.dtype(out.dtype)}{list(out.shape)} where "
            f"{eqn.out.aval.short()} is expected: a bug in that rule, please report it; "
            "NumPy inputs run the program with the NumPy executor meanwhile.")
    return out
