"""The primitive base class, ``bind``, and the builder that records equations.

A primitive carries all of its rules in one class:

* ``impl(*arrays, **params)``: run it with NumPy;
* ``abstract_eval(*avals, **params)``: its output shape and dtype;
* ``transpose(ct, *avals, **params)``: the cotangents of its inputs, one per
  input (``None`` for a zero), written with ``bind`` so that it records
  equations when ``ct`` is traced;
* ``batch(size, *xs, **params)``: the same operation applied to inputs that
  carry a leading batch axis of length ``size``.

Every input of a primitive is linear; constants are parameters.
"""
from __future__ import annotations

import numpy as np

from ..errors import LinopError, TracerMixError, user_location
from ..ir import Eqn, ShapeDtype, Var

__all__ = ["Primitive", "Builder", "bind", "is_tracer"]


class Primitive:
    """A linear building block of the IR; subclasses define its rules."""

    name = "primitive"
    #: Whether ``impl`` always returns a new, writeable array that aliases no input
    #: (the compiled executor may then update it in place).
    returns_fresh = False
    #: Whether ``impl`` returns a view of its (single) input, never a copy of other memory.
    returns_view = False

    def emit(self, args, avals, bind, **params):
        """Python source for ``impl`` on variables named ``args``, for the compiled executor.

        Parameters
        ----------
        args : list of str
            Names of the input variables in the generated code.
        avals : list of ShapeDtype
            Their shapes and dtypes.
        bind : callable
            ``bind(value)`` stores a constant in the generated code's namespace and
            returns its name.

        Returns
        -------
        str or None
            An expression that computes exactly what ``impl`` computes, or ``None``
            to call ``impl`` itself.
        """
        return None

    def bind(self, *args, **params):
        """Apply the primitive: record an equation on tracers, compute on arrays."""
        return bind(self, args, params)

    def impl(self, *xs, **params):  # pragma: no cover - every subclass overrides
        raise LinopError(f"primitive {self.name} has no implementation")

    def abstract_eval(self, *avals, **params) -> ShapeDtype:  # pragma: no cover
        raise LinopError(f"primitive {self.name} has no shape rule")

    def transpose(self, ct, *avals, **params) -> tuple:  # pragma: no cover
        raise LinopError(f"primitive {self.name} has no transpose rule")

    def batch(self, size, *xs, **params):  # pragma: no cover
        raise LinopError(f"primitive {self.name} has no batching rule")

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self):
        # Primitives are singletons: pickle them by module and attribute name.
        return (_lookup_primitive, (type(self).__module__, self.name))


def _lookup_primitive(module: str, name: str) -> Primitive:
    import importlib

    mod = importlib.import_module(module)
    for value in vars(mod).values():
        if isinstance(value, Primitive) and value.name == name:
            return value
    raise LinopError(f"cannot find primitive {name!r} in {module}")


class Builder:
    """Collects the equations of one trace.

    Attributes
    ----------
    eqns : list of Eqn
    source : str or None
        When set, the ``file:line`` recorded on new equations (used while
        transposing, so that adjoint equations name the forward code).
    """

    tracer_class = None  # set by linop.tracing

    def __init__(self):
        self.eqns: list[Eqn] = []
        self.source: str | None = None

    def new_input(self, aval: ShapeDtype):
        """A tracer for a fresh input variable of this trace."""
        return self.tracer_class(self, Var(aval))

    def add_eqn(self, prim: Primitive, inputs: tuple, params: dict):
        """Append ``prim(inputs; params)`` and return a tracer of its output."""
        out = Var(prim.abstract_eval(*(v.aval for v in inputs), **params))
        source = self.source if self.source is not None else user_location()
        self.eqns.append(Eqn(prim, inputs, params, out, source))
        return self.tracer_class(self, out)


def is_tracer(x) -> bool:
    """Whether ``x`` is a traced value."""
    return Builder.tracer_class is not None and isinstance(x, Builder.tracer_class)


def bind(prim: Primitive, args, params):
    """Apply ``prim``: record an equation if any input is traced, else run ``impl``."""
    builder = None
    for a in args:
        if is_tracer(a):
            if builder is None:
                builder = a._builder
            elif a._builder is not builder:
                raise TracerMixError(
                    f"{prim.name}: values from two different traces met at {user_location()}. "
                    "This happens when a function being traced uses a traced value of an "
                    "enclosing trace (for example a closure over the outer function's input); "
                    "pass that value as an explicit argument instead.")
    if builder is None:
        return prim.impl(*args, **params)
    inputs = []
    for a in args:
        if not is_tracer(a):
            a = zeros_or_affine(builder, a, prim)
        inputs.append(a.var)
    return builder.add_eqn(prim, tuple(inputs), params)


def zeros_or_affine(builder: Builder, value, prim: Primitive):
    """Turn a constant met by a linear primitive into a traced zero, or refuse it."""
    from ..errors import AffineError
    from .arithmetic import zeros_p

    arr = np.asarray(value)
    if np.any(arr != 0):
        raise AffineError(
            f"{prim.name} received a non-zero constant where a linear value is needed, at "
            f"{user_location()}: the map is affine, not linear. Move the constant out of "
            "the function (subtract it from your data instead).")
    return builder.add_eqn(zeros_p, (), {"shape": arr.shape, "dtype": arr.dtype})
