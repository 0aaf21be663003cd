"""SciPy calls with traced arguments: which arguments may be traced, and what to say when SciPy is called.

SciPy's functions (``scipy.ndimage.gaussian_filter``, ``scipy.signal.convolve``
...) do not dispatch through NumPy's protocols: called on a traced array they
ask it for its values, or apply a non-linear NumPy function to it (a
comparison ``sigma > 0``). :func:`explain_scipy_call` walks the stack from that
point to the SciPy function the user called, maps its module to the public one
(``scipy.ndimage._filters`` → ``scipy.ndimage``), finds which of its arguments
are traced and says what to do instead: make a non-linear argument a constant,
call the function of the same name in :mod:`linop.scipy` or NumPy's traced
counterpart, or ``@linop.custom_linear`` when linop has none.

The functions of :mod:`linop.scipy` are linear in some of their arguments only
(the image of ``shift``, not the shift); :func:`linear_in` declares those
arguments and refuses a traced value in any other one before anything runs.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys

from ..errors import NonLinearError, UnsupportedFunctionError, library_dirs, user_location
from ..core import is_tracer
from ..numpy_api.registry import supported_functions

__all__ = ["explain_scipy_call", "linear_in", "nonlinear_function", "nonlinear_call_error"]

# scipy.sparse has its own handling of traced operands (linop.scipy.sparse, and SciPy's
# LinearOperator for foreign operators): explained only where linop has an equivalent.
_OWN_HANDLING = ("scipy.sparse",)
# scipy.fftpack functions whose scipy.fft namesake computes the same thing.
_FFTPACK_IN_SCIPY_FFT = {"fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "dct", "dst", "dctn", "dstn"}
# scipy.fftpack's unnormalised inverse transforms and the scipy.fft transform equal to them.
_FFTPACK_INVERSES = {"idct": "dct", "idst": "dst"}
# NumPy's namespace holding the namesakes of a SciPy module's functions.
_NUMPY_NAMESPACE = {"scipy.linalg": "np.linalg", "scipy.fft": "np.fft"}


def _holds_tracer(value) -> bool:
    """Whether ``value`` is a traced array or a list/tuple holding one."""
    if isinstance(value, (list, tuple)):
        return any(_holds_tracer(v) for v in value)
    return is_tracer(value)


def _quoted(names) -> str:
    return " and ".join(repr(n) for n in names)


def constant_argument_error(function: str, traced, linear) -> NonLinearError:
    """The error for traced arguments ``traced`` of ``function``, linear only in ``linear``."""
    plural = len(traced) > 1
    return NonLinearError(
        f"{function} at {user_location()}: the argument{'s' if plural else ''} {_quoted(traced)} "
        f"{'are traced arrays' if plural else 'is a traced array'}, but {function} is linear "
        f"only in {_quoted(linear)}: {'they' if plural else 'it'} must be "
        "constant (a number or an array computed without the traced input).")


def linear_in(*linear):
    """Decorator for a :mod:`linop.scipy` function linear in the parameters ``linear`` only.

    A traced value in any other parameter raises :class:`~linop.errors.NonLinearError`
    naming that parameter before the function runs. The parameters are recorded as
    the function's ``linear_parameters``, which :func:`explain_scipy_call` reads.
    """
    def decorate(fn):
        params = list(inspect.signature(fn).parameters)

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            named = list(zip(params, args)) + list(kwargs.items())
            traced = [name for name, value in named if name not in linear and _holds_tracer(value)]
            if traced:
                # read at call time: a public module may re-export the function as its own
                raise constant_argument_error(f"{checked.__module__}.{checked.__name__}", traced,
                                              linear)
            return fn(*args, **kwargs)

        checked.linear_parameters = linear
        return checked

    return decorate


def nonlinear_call_error(function: str, reason: str) -> NonLinearError:
    """The error for ``function``, which is not linear in any argument, called on a traced array."""
    return NonLinearError(f"{function} at {user_location()} was called on a traced array, but "
                          f"{function} is not linear: {reason}")


def nonlinear_function(reason: str):
    """Decorator for a :mod:`linop.scipy` function that mirrors a non-linear SciPy function.

    On arrays the function runs; with a traced argument it raises
    :class:`~linop.errors.NonLinearError` with ``reason`` (which should name the linear
    alternative). ``reason`` is recorded as the function's ``nonlinear_reason``, which
    :func:`explain_scipy_call` reads when SciPy's function itself meets a tracer.
    """
    def decorate(fn):
        public = f"{fn.__module__}.{fn.__name__}"

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            if any(_holds_tracer(v) for v in (*args, *kwargs.values())):
                raise nonlinear_call_error(public, reason)
            return fn(*args, **kwargs)

        checked.nonlinear_reason = reason
        return checked

    return decorate


def _public_module(module: str) -> str:
    """``scipy.ndimage._filters`` → ``scipy.ndimage``: the module path up to its first private part."""
    parts = []
    for part in module.split("."):
        if part.startswith("_"):
            break
        parts.append(part)
    return ".".join(parts)


def _scipy_frames(frame):
    """The SciPy frames between ``frame`` and the user's code, innermost first.

    ``None`` when linop itself called SciPy there (a frame of linop outside the SciPy
    frames): the user's call was linop's, which checks its arguments itself.
    """
    skip = library_dirs()
    frames = []
    while frame is not None and frame.f_code.co_filename.startswith(skip):
        module = frame.f_globals.get("__name__", "")
        if module == "scipy" or module.startswith("scipy."):
            frames.append((module, frame))
        elif frames and (module == "linop" or module.startswith("linop.")):
            return None
        frame = frame.f_back
    return frames


def _exported(module: str, name: str):
    """``module.name`` if the public module exports it, else ``None``."""
    if name.startswith("__"):
        return None
    return getattr(sys.modules.get(module), name, None)


def _wrapped_function(frame):
    """The public SciPy function that the wrapper running in ``frame`` decorates, if any.

    SciPy wraps some functions (``scipy.linalg.solve_triangular`` in a batching
    wrapper) that convert their arguments before the real function starts.
    """
    for value in frame.f_locals.values():
        if inspect.isfunction(value) and value.__module__.startswith("scipy"):
            public = _public_module(value.__module__)
            exported = _exported(public, value.__name__)
            if exported is not None and inspect.unwrap(exported) is value:
                return public, value
    return None


def _called_function(frames):
    """``(public module, name, function, frame)`` of the outermost exported SciPy function."""
    for module, frame in reversed(frames):
        public = _public_module(module)
        function = _exported(public, frame.f_code.co_name)
        if function is not None:
            return public, frame.f_code.co_name, function, frame
        wrapped = _wrapped_function(frame)
        if wrapped is not None:
            return wrapped[0], wrapped[1].__name__, wrapped[1], frame
    module, frame = frames[-1]
    return _public_module(module), frame.f_code.co_qualname, None, frame


def _traced_arguments(function, frame) -> list:
    """Names of the arguments of ``function`` (running in ``frame``) that hold tracers."""
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return []
    local = frame.f_locals
    if frame.f_code is getattr(inspect.unwrap(function), "__code__", None):
        values = {name: local[name] for name in params if name in local}
    else:  # a wrapper: its *args and **kwargs are the call's arguments
        try:
            values = inspect.signature(function).bind_partial(
                *local.get("args", ()), **local.get("kwargs", {})).arguments
        except TypeError:
            return []
    return [name for name, value in values.items() if _holds_tracer(value)]


def _linop_function(public: str, name: str):
    """linop's function of the same path (``linop.scipy.ndimage.shift``), or ``None``."""
    path = f"linop.{public}"
    try:
        if importlib.util.find_spec(path) is None:
            return None
    except ModuleNotFoundError:
        return None
    module = importlib.import_module(path)
    function = getattr(module, name, None)
    if name in getattr(module, "__all__", ()) or hasattr(function, "nonlinear_reason"):
        return function
    return None


def _numpy_equivalent(public: str, name: str) -> str | None:
    """NumPy's traced namesake (``np.linalg.solve`` for ``scipy.linalg.solve``), if any."""
    candidate = f"{_NUMPY_NAMESPACE.get(public, 'np')}.{name}"
    return candidate if candidate in supported_functions() else None


def _instead(public: str, name: str, linop_function) -> str:
    if public == "scipy.fftpack" and name in _FFTPACK_IN_SCIPY_FFT:
        return (f"Use scipy.fft.{name} (or linop.scipy.fft.{name}), which linop traces; note "
                "that scipy.fft names the shape argument s.")
    if public == "scipy.fftpack" and name in _FFTPACK_INVERSES:
        forward = _FFTPACK_INVERSES[name]
        return (f"Use scipy.fft.{name} (or linop.scipy.fft.{name}), which linop traces; note that "
                f"scipy.fftpack.{name} is unnormalised: with norm=None it equals scipy.fft.{forward} "
                f"of the inverse type (2 and 3 swapped, 1 and 4 their own), with norm='ortho' "
                f"scipy.fft.{name}.")
    if linop_function is not None:
        return (f"Use linop.{public}.{name} (same signature), which calls SciPy on arrays and "
                "traces on traced arrays.")
    numpy = _numpy_equivalent(public, name)
    if numpy is not None:
        return (f"linop has no linop.{public}.{name}, but {numpy} computes the same map and "
                "linop traces it: use it (check its signature, which may differ from SciPy's).")
    return ("linop has no equivalent: if the map is linear, write it with NumPy functions, or "
            "register it with @linop.custom_linear together with its transpose.")


def explain_scipy_call(frame) -> UnsupportedFunctionError | NonLinearError | None:
    """The error for a SciPy function called with a traced argument, or ``None`` if none was.

    Parameters
    ----------
    frame : frame
        The frame that asked the traced array for its values (or an ndarray
        attribute), or applied a non-linear NumPy function to it.
    """
    frames = _scipy_frames(frame)
    if not frames:
        return None
    public, name, function, call_frame = _called_function(frames)
    linop_function = _linop_function(public, name) if function is not None else None
    if public.startswith(_OWN_HANDLING) and linop_function is None:
        return None
    reason = getattr(linop_function, "nonlinear_reason", None)
    if reason is not None:
        return nonlinear_call_error(f"{public}.{name}", reason)
    traced = _traced_arguments(function, call_frame) if function is not None else []
    linear = getattr(linop_function, "linear_parameters", None)
    if linear is not None and traced and not set(traced) <= set(linear):
        return constant_argument_error(f"{public}.{name}",
                                       [t for t in traced if t not in linear], linear)
    which = f" (traced: {_quoted(traced)})" if traced else ""
    return UnsupportedFunctionError(
        f"{public}.{name} at {user_location()} was called on a traced array{which}. SciPy's "
        "functions do not dispatch through NumPy's protocols, so linop cannot trace them. "
        + _instead(public, name, linop_function))
