"""``scipy.ndimage``'s Fourier filters on traced spectra: one product with a constant.

``fourier_shift``, ``fourier_gaussian``, ``fourier_uniform`` and
``fourier_ellipsoid`` multiply an array that is already a (real or complex)
FFT by a factor that depends only on its shape and the constant parameters.
The factor is obtained from SciPy itself, applied to an array of ones in the
output dtype: so the ``n``/``axis`` handling of half spectra (``n >= 0``),
every parameter check and the output dtype are SciPy's own. The traced input is
converted to that dtype and multiplied by the factor (a ``mul`` equation whose
transpose multiplies by the same factor).
"""
from __future__ import annotations

import numpy as np

from ..core import is_tracer
from ..numpy_api.util import distinct, to_dtype, unsupported
from ..primitives import arithmetic as A

__all__ = ["fourier_multiply"]


def fourier_multiply(scipy_filter, input, parameter, n, axis, output):
    """``scipy_filter(input, parameter, n, axis, output)``, traced when ``input`` is a tracer.

    Parameters
    ----------
    scipy_filter : callable
        One of SciPy's ``scipy.ndimage.fourier_*`` functions.
    input : array_like or Tracer
        Anything but a tracer goes to ``scipy_filter`` itself.
    parameter : float or sequence
        ``shift``, ``sigma`` or ``size`` (a constant).
    n, axis : int
        As in SciPy.
    output : None or dtype
        An output array cannot be written by a traced call.

    Returns
    -------
    Tracer or numpy.ndarray
        In SciPy's output dtype.
    """
    if not is_tracer(input):
        return scipy_filter(input, parameter, n, axis, output)
    what = f"scipy.ndimage.{scipy_filter.__name__}"
    if output is not None and not isinstance(output, (type, np.dtype, str)):
        raise unsupported(f"{what} with an output array",
                          "Writing into a given array cannot be traced; pass output=None or a dtype.")
    ref_dtype = scipy_filter(np.zeros(input.shape, input.dtype), parameter, n, axis, output).dtype
    factor = scipy_filter(np.ones(input.shape, ref_dtype), parameter, n, axis)
    return distinct(A.mul(to_dtype(input, ref_dtype, what), factor), input)
