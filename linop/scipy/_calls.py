"""Name the SciPy function that was called directly on a traced array, and linop's equivalent.

SciPy's functions (``scipy.ndimage.gaussian_filter``, ``scipy.signal.convolve``
...) do not dispatch through NumPy's protocols: called on a traced array they
ask it for its values. :func:`explain_scipy_call` walks the stack from that
request to the SciPy function the user called, maps its module to the public
one (``scipy.ndimage._filters`` → ``scipy.ndimage``) and says what to call
instead: the function of the same name in :mod:`linop.scipy`, or
``@linop.custom_linear`` when linop has none.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys

from ..errors import UnsupportedFunctionError, library_dirs, user_location

__all__ = ["explain_scipy_call"]

# scipy.sparse has its own handling of traced operands (linop.scipy.sparse, and SciPy's
# LinearOperator for foreign operators): not this message.
_NOT_OURS = ("scipy.sparse",)
# scipy.fftpack functions whose scipy.fft namesake computes the same thing.
_FFTPACK_IN_SCIPY_FFT = {"fft", "ifft", "fft2", "ifft2", "fftn", "ifftn"}


def _public_module(module: str) -> str:
    """``scipy.ndimage._filters`` → ``scipy.ndimage``: the module path up to its first private part."""
    parts = []
    for part in module.split("."):
        if part.startswith("_"):
            break
        parts.append(part)
    return ".".join(parts)


def _scipy_frames(frame):
    """The SciPy frames between ``frame`` and the user's code, innermost first."""
    skip = library_dirs()
    frames = []
    while frame is not None and frame.f_code.co_filename.startswith(skip):
        module = frame.f_globals.get("__name__", "")
        if module == "scipy" or module.startswith("scipy."):
            frames.append((module, frame.f_code))
        frame = frame.f_back
    return frames


def _called_function(frames):
    """``(public module, name)`` of the outermost SciPy function that its module exports."""
    for module, code in reversed(frames):
        public = _public_module(module)
        name = code.co_name
        if not name.startswith("__") and getattr(sys.modules.get(public), name, None) is not None:
            return public, name
    module, code = frames[-1]
    return _public_module(module), code.co_qualname


def _linop_equivalent(public: str, name: str) -> str | None:
    sub = public.split(".")[1] if "." in public else ""
    if sub == "fftpack" and name in _FFTPACK_IN_SCIPY_FFT:
        return (f"scipy.fft.{name} (or linop.scipy.fft.{name}), which linop traces; note that "
                "scipy.fft names the shape argument s")
    if not sub or sub.startswith("_") or importlib.util.find_spec(f"{__package__}.{sub}") is None:
        return None
    module = importlib.import_module(f"{__package__}.{sub}")
    if name in getattr(module, "__all__", ()):
        return f"linop.scipy.{sub}.{name} (same signature), which calls SciPy on arrays and " \
               "traces on traced arrays"
    return None


def explain_scipy_call(frame) -> UnsupportedFunctionError | None:
    """The error for a SciPy function called on a traced array, or ``None`` if none was.

    Parameters
    ----------
    frame : frame
        The frame that asked the traced array for its values (or an ndarray
        attribute).
    """
    frames = _scipy_frames(frame)
    if not frames or any(module.startswith(_NOT_OURS) for module, _ in frames):
        return None
    public, name = _called_function(frames)
    instead = _linop_equivalent(public, name)
    hint = (f"Use {instead}." if instead is not None else
            "linop has no equivalent: if the map is linear, write it with NumPy functions, or "
            "register it with @linop.custom_linear together with its transpose.")
    return UnsupportedFunctionError(
        f"{public}.{name} at {user_location()} was called on a traced array. SciPy's functions "
        "do not dispatch through NumPy's protocols, so linop cannot trace them. " + hint)
