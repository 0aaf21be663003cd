"""``np.r_`` and ``np.c_`` with traced pieces.

They are objects, not functions: NumPy's ``AxisConcatenator.__getitem__`` turns
every piece into an array with ``np.array(piece, subok=True, ndmin=...)``, may
transpose it and cast it to the common dtype, and then calls ``np.concatenate``.
When it asks a tracer for an array, the tracer answers with a
:class:`ConcatenationPiece`: an ndarray subclass of the tracer's shape and dtype
whose values are the flat positions of the tracer's elements. NumPy's views and
copies carry those labels along (and the piece, through ``__array_finalize__``),
so when ``np.concatenate`` reaches the piece's ``__array_function__`` each label
says which traced element sits where: the piece becomes a ``gather`` of the
tracer, and linop's concatenation joins the pieces.

The answer is given only to that method's own frame (its code object), so
``np.asarray(tracer)`` anywhere else still raises linop's conversion error. An
item that is a list holding tracers cannot work (NumPy builds a plain array of
its values), and is refused with its own error.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConversionError, UnsupportedFunctionError, user_location
from ..primitives import shape as S
from ..primitives.gather import gather
from .util import to_dtype, to_linear
from .joining import concatenate
from .conversion import CONVERSION_EXPLAINERS
from .tracer import ARRAY_REQUESTS

__all__ = ["ConcatenationPiece"]

#: The code of ``AxisConcatenator.__getitem__``, the method behind both ``np.r_`` and ``np.c_``.
_CONCATENATOR_CODE = type(np.r_).__getitem__.__code__
_MATRIX_CODE = np.matrix.__new__.__code__


def _refuse(what: str) -> UnsupportedFunctionError:
    return UnsupportedFunctionError(
        f"{what} at {user_location()} is not supported on the traced pieces of np.r_/np.c_. "
        "Join traced arrays with np.concatenate (or np.stack, np.column_stack) instead.")


class ConcatenationPiece(np.ndarray):
    """A traced array as ``np.r_``/``np.c_`` see it: its values label the tracer's elements.

    Attributes
    ----------
    tracer : Tracer
        The traced array whose elements the labels (flat positions) stand for.
    """

    def __array_finalize__(self, obj):
        self.tracer = getattr(obj, "tracer", None)

    def __array_function__(self, func, types, args, kwargs):
        if func is not np.concatenate:
            raise _refuse(f"np.{func.__name__}")
        return _concatenate_pieces(*args, **kwargs)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        raise _refuse(f"np.{ufunc.__name__}")


def _exact_labels(dtype, size: int) -> bool:
    """Whether ``dtype`` holds every flat position below ``size`` exactly."""
    return size <= 2 ** (np.finfo(dtype).nmant + 1)


def _piece_for(tracer) -> ConcatenationPiece:
    if not _exact_labels(tracer.dtype, tracer.size):
        raise _refuse(f"np.r_/np.c_ of a {tracer.dtype} traced array of {tracer.size} elements")
    labels = np.arange(tracer.size).reshape(tracer.shape).astype(tracer.dtype)
    piece = labels.view(ConcatenationPiece)
    piece.tracer = tracer
    return piece


def _concatenator_request(frame, tracer):
    """The answer to ``np.array(tracer)`` inside ``AxisConcatenator.__getitem__``; refuses
    ``np.matrix``, which the ``'r'``/``'c'`` directives build from the joined result."""
    if frame.f_code is _CONCATENATOR_CODE:
        return _piece_for(tracer)
    if frame.f_code is _MATRIX_CODE:
        raise UnsupportedFunctionError(
            f"np.matrix of a traced array (also made by the 'r' and 'c' directives of np.r_) at "
            f"{user_location()} is not supported. Use 2-D arrays: np.r_['0,2', ...] or "
            "np.concatenate.")
    return None


def _traced(piece):
    """A piece as a tracer of its dtype: its tracer's elements at its labels."""
    if not isinstance(piece, ConcatenationPiece) or piece.tracer is None:
        arr = np.asarray(piece)
        return to_linear(arr, arr.dtype, arr.shape, "np.r_/np.c_ with a constant piece")
    tracer = piece.tracer
    labels = np.asarray(piece.view(np.ndarray).real)
    positions = labels.astype(np.intp)
    in_range = ((positions >= 0) & (positions < tracer.size)).all()
    if not (in_range and np.array_equal(positions, labels)):
        raise _refuse("a transformation of a traced piece")
    if np.array_equal(positions.reshape(-1), np.arange(tracer.size)):
        taken = S.reshape(tracer, positions.shape)
    else:
        taken = gather(S.reshape(tracer, (tracer.size,)), positions, 0)
    return to_dtype(taken, piece.dtype, "np.r_/np.c_")


def _concatenate_pieces(arrays, axis=0, out=None, **kwargs):
    return concatenate([_traced(a) for a in arrays], axis, out, **kwargs)


def _explain_sequence_item(frame):
    """The error for an item of ``np.r_``/``np.c_`` that is a list or tuple holding tracers.

    NumPy converts such an item (``np.ndim``, then ``np.array``) into a plain array of
    values, which a tracer cannot give; the user's line is a subscript, so without this
    the generic explanation would wrongly speak of a traced index.
    """
    if frame.f_back is not None and frame.f_back.f_code is _CONCATENATOR_CODE:
        return ConversionError(
            f"at {user_location()}: an item of np.r_[...]/np.c_[...] is a list or tuple that "
            "holds traced arrays, which NumPy converts to a plain array of values. Make it one "
            "traced array first, np.r_[a, np.stack([b, c])], or join the pieces with "
            "np.concatenate.")
    return None


ARRAY_REQUESTS.append(_concatenator_request)
CONVERSION_EXPLAINERS.append(_explain_sequence_item)
