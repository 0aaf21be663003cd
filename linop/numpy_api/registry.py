"""Registration tables and the two entry points NumPy calls on tracers."""
from __future__ import annotations

import inspect
import sys

import numpy as np

from ..errors import ArrayAssignmentError, NonLinearError, UnsupportedFunctionError, user_location
from ..core import is_tracer
from .util import to_dtype, to_linear, unsupported
from .conversion import CONVERSION_EXPLAINERS
from .gufunc_axes import CORE_AXES_KEYWORDS, call_with_core_axes, stand_in
from .views import assign

HANDLED_FUNCTIONS: dict = {}
HANDLED_UFUNCS: dict = {}
#: ufunc methods other than ``__call__``: ``(ufunc, method name) -> handler`` (``np.add.at``).
UFUNC_METHODS: dict = {}
#: The tracer's ndarray methods and properties: ``name -> function of the array`` (or a
#: property), made attributes of :class:`~linop.numpy_api.tracer.Tracer` by :func:`install_methods`.
METHODS: dict = {}

# NumPy functions whose result is not linear in the array argument.
NONLINEAR_FUNCTIONS = {
    "norm", "sort", "argsort", "max", "min", "amax", "amin", "argmax", "argmin", "ptp", "median",
    "percentile", "quantile", "nanmax", "nanmin", "nanmean", "var", "std", "prod",
    "cumprod", "unique", "nonzero", "count_nonzero", "any", "all", "allclose", "isclose",
    "array_equal", "clip", "round", "around", "sign", "abs", "absolute", "linalg.det",
    "linalg.inv", "linalg.eig", "linalg.eigh", "linalg.svd", "linalg.qr", "linalg.cholesky",
    "searchsorted", "digitize", "polyfit", "sinc", "i0", "cov", "corrcoef",
    "linalg.slogdet", "linalg.pinv", "linalg.matrix_rank", "linalg.cond", "linalg.eigvals",
    "linalg.vector_norm", "linalg.matrix_norm", "fix", "real_if_close", "nan_to_num", "argwhere",
    "flatnonzero", "logaddexp", "mod", "angle",
}


# Functions of NONLINEAR_FUNCTIONS (or unsupported ones) that are linear in some parameters,
# with what to do instead when only those are traced: they must not be called non-linear.
LINEAR_IN = {
    "polyfit": (("y",), "Fit with np.linalg.lstsq(np.vander(x, deg + 1), y)[0] instead (with "
                        "constant x), which linop traces."),
}


def _traced_parameters(func, args, kwargs) -> set:
    """Names of ``func``'s parameters that received a tracer (empty if they cannot be bound)."""
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return set()
    return {name for name, value in bound.arguments.items()
            if is_tracer(value) or (isinstance(value, (tuple, list)) and any(map(is_tracer, value)))}


def _linear_but_unsupported(func, name, args, kwargs):
    """The error for a function called with tracers only where it is linear, or ``None``."""
    entry = LINEAR_IN.get(getattr(func, "__name__", ""))
    if entry is None:
        return None
    linear, hint = entry
    traced = _traced_parameters(func, args, kwargs)
    if not traced or not traced <= set(linear):
        return None
    return UnsupportedFunctionError(
        f"{name} at {user_location()} is linear in its traced argument "
        f"{', '.join(sorted(traced))}, but linop does not trace it. {hint}")


def function_name(func) -> str:
    """Public dotted name of a NumPy function, e.g. ``np.linalg.norm``."""
    module = getattr(func, "__module__", "") or ""
    name = getattr(func, "__name__", repr(func))
    sub = ""
    for part in ("linalg", "fft", "random", "polynomial"):
        if f".{part}" in module or module.endswith(part):
            sub = part + "."
    return f"np.{sub}{name}"


def implements(*funcs, method: str | None = None):
    """Register the decorated function as linop's version of NumPy ``funcs``.

    With ``method``, the ndarray method of that name on a tracer calls the first of
    ``funcs`` with the tracer first (``x.sum(0)`` is ``np.sum(x, 0)``), as NumPy's
    methods and functions agree there.
    """
    def register(impl):
        for f in funcs:
            HANDLED_FUNCTIONS[f] = impl
        if method is not None:
            METHODS[method] = funcs[0]
        return impl
    return register


def implements_method(*names):
    """Register the decorated function (or property) as the tracer's ndarray method ``names``."""
    def register(impl):
        for name in names:
            METHODS[name] = impl
        return impl
    return register


def install_methods(cls):
    """Make every registered ndarray method and property an attribute of ``cls``."""
    for name, impl in METHODS.items():
        setattr(cls, name, impl)


def implements_ufunc(*ufuncs):
    """Register the decorated function as the ``__call__`` handler of ``ufuncs``."""
    def register(impl):
        for u in ufuncs:
            HANDLED_UFUNCS[u] = impl
        return impl
    return register


def implements_ufunc_method(ufunc, method: str):
    """Register the decorated function as the handler of ``ufunc.method`` (``np.add.at``)."""
    def register(impl):
        UFUNC_METHODS[(ufunc, method)] = impl
        return impl
    return register


def supported_functions() -> list[str]:
    """Names of the NumPy functions and ufuncs that linop traces, sorted."""
    names = {function_name(f) for f in HANDLED_FUNCTIONS} | {f"np.{u.__name__}" for u in HANDLED_UFUNCS}
    return sorted(names)


def _check_traces_open(args):
    """Refuse a tracer whose trace has ended before any other error can be misleading."""
    for a in args:
        if is_tracer(a) and a.builder.closed:
            a.builder.check_open()


def dispatch_function(func, args, kwargs):
    """``__array_function__`` entry point: run linop's version of ``func``."""
    _check_traces_open(args)
    impl = HANDLED_FUNCTIONS.get(func)
    if impl is not None:
        return impl(*args, **kwargs)
    name = function_name(func)
    linear = _linear_but_unsupported(func, name, args, kwargs)
    if linear is not None:
        raise linear
    short = name[3:]
    if short in NONLINEAR_FUNCTIONS or getattr(func, "__name__", "") in NONLINEAR_FUNCTIONS:
        raise _explained(NonLinearError(
            f"{name} at {user_location()} is not linear in its traced argument. linop traces "
            "linear maps only: move this computation out of the traced function or apply it "
            "to constants."))
    raise _explained(UnsupportedFunctionError(
        f"{name} at {user_location()} is not supported by linop on traced arrays. If the map is "
        "linear, write it with supported NumPy functions (see the support table in the docs), "
        "or register it with @linop.custom_linear together with its transpose."))


def _explained(error):
    """The error that names the library function the user called (a SciPy function running
    NumPy code on a traced argument), else ``error``."""
    frame = sys._getframe(1)
    for explain in CONVERSION_EXPLAINERS:
        explained = explain(frame)
        if explained is not None:
            return explained
    return error


def dispatch_ufunc(ufunc, method, inputs, kwargs):
    """``__array_ufunc__`` entry point: run linop's version of ``ufunc.method``."""
    out = kwargs.pop("out", None)
    _check_traces_open(inputs + (out or ()))
    if method == "__call__":
        impl = HANDLED_UFUNCS.get(ufunc)
        if impl is None:
            raise _explained(_nonlinear_ufunc(ufunc))
        core_axes = {k: kwargs.pop(k) for k in CORE_AXES_KEYWORDS
                     if ufunc.signature is not None and k in kwargs}
        call_kwargs = _ufunc_kwargs(ufunc, kwargs)
        if "casting" in kwargs or "order" in kwargs:
            _check_casting_and_order(ufunc, inputs, out, kwargs, core_axes)
        if core_axes:
            result = call_with_core_axes(ufunc, lambda *ops: impl(*ops, **call_kwargs), inputs,
                                         core_axes)
        else:
            result = impl(*inputs, **call_kwargs)
    else:
        handler = UFUNC_METHODS.get((ufunc, method))
        if handler is None:
            raise _unsupported_ufunc_method(ufunc, method)
        result = handler(*inputs, **kwargs)
    if out is not None:
        return _write_out(ufunc, out, result)
    return result


def _unsupported_ufunc_method(ufunc, method) -> UnsupportedFunctionError:
    hint = ""
    if ufunc in (np.add, np.subtract, np.multiply, np.divide) or method in ("reduce", "accumulate"):
        hint = "See the support table in the docs for what linop traces."
    return unsupported(f"np.{ufunc.__name__}.{method}", hint)


def _write_out(ufunc, out, result):
    """Complete ``np.ufunc(..., out=y)`` (including ``y += x``) by writing into ``y``."""
    target = out[0] if isinstance(out, tuple) else out
    if not is_tracer(target):
        raise ArrayAssignmentError(
            f"at {user_location()}: np.{ufunc.__name__} writes a traced result into a plain NumPy "
            "array (for example y += x where y = np.zeros(n)). Create y from the input with "
            "y = np.zeros_like(x, shape=(n,)) instead.")
    if not is_tracer(result):
        result = to_linear(result, target.dtype, target.shape, f"np.{ufunc.__name__}")
    if not np.can_cast(result.dtype, target.dtype, "same_kind"):
        raise TypeError(f"Cannot cast ufunc {ufunc.__name__!r} output from {result.dtype!r} to "
                        f"{target.dtype!r} with casting rule 'same_kind'")
    if tuple(result.shape) != tuple(target.shape):
        raise ValueError(f"non-broadcastable output operand with shape {target.shape} doesn't "
                         f"match the broadcast shape {result.shape}")
    assign(target, to_dtype(result, target.dtype, "an in-place operation"))
    return target


def _check_casting_and_order(ufunc, inputs, out, kwargs, core_axes):
    """NumPy's own checks of ``casting=``/``order=`` (with ``dtype=`` and ``out=``), which the
    traced ufunc does not otherwise see, run on zero stand-ins of the operands."""
    probe_kwargs = {k: kwargs[k] for k in ("casting", "order", "dtype") if k in kwargs}
    if out is not None:
        targets = out if isinstance(out, tuple) else (out,)
        probe_kwargs["out"] = tuple(np.zeros(t.shape, t.dtype) for t in targets)
    ufunc(*(stand_in(x) for x in inputs), **probe_kwargs, **core_axes)


def _ufunc_kwargs(ufunc, kwargs):
    allowed = {"dtype", "casting", "order", "subok", "where"}
    extra = sorted(set(kwargs) - allowed)
    if extra:
        raise TypeError(f"{extra[0]!r} is an invalid keyword to ufunc {ufunc.__name__!r}")
    if kwargs.get("where", True) is not True:
        raise UnsupportedFunctionError(
            f"np.{ufunc.__name__}(..., where=...) at {user_location()} is not supported by linop "
            f"on traced arrays (NumPy leaves the masked-out elements uninitialised); use "
            f"np.where(mask, np.{ufunc.__name__}(...), 0) instead.")
    return {"dtype": kwargs.get("dtype")} if kwargs.get("dtype") is not None else {}


_UFUNC_HINTS = {
    "power": "powers (x ** k) are not linear (for k == 1 write x itself)",
    "square": "x ** 2 is not linear",
    "reciprocal": "1 / x is not linear",
    "absolute": "abs(x) is not linear",
    "maximum": "np.maximum(x, 0) (a ReLU or a clip) is not linear",
    "minimum": "np.minimum is not linear",
}


def ufunc_name(ufunc) -> str:
    """Public dotted name of a ufunc: ``np.sin``, ``scipy.special.erf``."""
    name = ufunc.__name__
    if getattr(np, name, None) is ufunc:
        return f"np.{name}"
    special = sys.modules.get("scipy.special")
    if special is not None and getattr(special, name, None) is ufunc:
        return f"scipy.special.{name}"
    return name


def _nonlinear_ufunc(ufunc) -> NonLinearError:
    name = ufunc.__name__
    hint = _UFUNC_HINTS.get(name, f"{ufunc_name(ufunc)} is not a linear function")
    if ufunc.nout == 1 and name in {"greater", "greater_equal", "less", "less_equal", "equal",
                                    "not_equal", "logical_and", "logical_or", "logical_not"}:
        hint = f"comparisons such as np.{name} give booleans, which are not linear in the input"
    return NonLinearError(
        f"{ufunc_name(ufunc)} at {user_location()}: {hint}. linop traces linear maps only; compute "
        "non-linear parts outside the traced function (on constants) or linearise the model.")
