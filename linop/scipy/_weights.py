"""``scipy.ndimage``'s correlations traced in their weights, for a constant input.

``correlate(input, weights)`` is linear in ``weights`` too (blind deconvolution
fits the kernel): ``out[i] = Σ_j weights[j] · ext[i + j]``, where ``ext`` is the
constant input extended by the boundary mode (``cval`` included: the border is
part of the constant data, so any ``cval`` keeps the map linear). As a function
of the weights that is a full convolution of the reversed weights with ``ext``,
cut to the input's shape: one ``convolve_nd`` equation (FFT-based for large
inputs) and a slice, never a matrix of the input's windows.
"""
from __future__ import annotations

import numpy as np

from ..numpy_api.util import to_dtype
from ..primitives import shape as S
from ..primitives.slice import slice_
from ..primitives.convolve_nd import convolve_nd
from ._boundary import extend_index

__all__ = ["extended_input", "correlate_traced_weights"]


def extended_input(input, kernel_shape, origins, mode, cval):
    """The constant ``input`` extended along each axis for a kernel of ``kernel_shape``.

    Parameters
    ----------
    input : numpy.ndarray
    kernel_shape : sequence of int
        One length per axis of ``input`` (1 where nothing is filtered).
    origins : sequence of int
        SciPy's ``origin`` per axis.
    mode : str
        A boundary mode of ``scipy.ndimage``.
    cval : scalar
        The value outside the input for the constant modes.
    """
    ext = np.asarray(input)
    for axis, (K, origin) in enumerate(zip(kernel_shape, origins)):
        before = K // 2 + origin
        positions = np.arange(-before, ext.shape[axis] + K - 1 - before)
        src, valid = extend_index(positions, ext.shape[axis], mode)
        ext = np.take(ext, src, axis=axis)
        if not valid.all():
            outside = np.expand_dims(~valid, tuple(a for a in range(ext.ndim) if a != axis))
            ext = np.where(outside, np.asarray(cval, ext.dtype), ext)
    return ext


def correlate_traced_weights(input, weights, origins, mode, cval, dtype):
    """``correlate(input, weights)`` (no conjugation) for a traced ``weights`` of ``input.ndim`` axes.

    Parameters
    ----------
    input : numpy.ndarray
        Constant.
    weights : Tracer
        Same number of axes as ``input``.
    origins : sequence of int
    mode, cval
        As in SciPy.
    dtype : numpy dtype
        The dtype the product is computed in.

    Returns
    -------
    Tracer
        Of ``input``'s shape, in ``dtype``.
    """
    ext = extended_input(input, weights.shape, origins, mode, cval).astype(dtype)
    w = S.rev(to_dtype(weights, dtype, "scipy.ndimage filter"), tuple(range(weights.ndim)))
    full = convolve_nd(w, ext, "full", "auto")
    starts = [K - 1 for K in weights.shape]
    return slice_(full, starts, [s + n for s, n in zip(starts, input.shape)], [1] * input.ndim)
