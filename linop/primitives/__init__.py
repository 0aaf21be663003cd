"""The linear primitives of the IR, one class per primitive with all of its rules.

Each class (a :class:`linop.core.Primitive`) holds ``impl``, ``abstract_eval``,
``transpose``, ``batch``, the executor's ``emit`` rules and its flags
(``returns_fresh``, ``returns_view``, ``real_linear``); the module also defines the
helper that binds it (``slice_``, ``dot``, ...), which the rest of linop calls.

Where a primitive lives: a primitive named ``p`` is in ``linop/primitives/p.py``.
Only the families below share a module, named for the family: members that are
variants of one operation or each other's transposes. ``zeros`` is part of the trace
model itself (:mod:`linop.core`); ``psum`` and the batch-level primitives belong to
their interpretations (:mod:`linop.batching`, :mod:`linop.batched.levels`).

Index (module: primitives)

    arithmetic.py        add, sub, neg, mul, div, mask  (elementwise)
    complex.py           convert, real, imag, conj, complex  (dtypes, real-linear parts)
    convolve.py          convolve  (1-d, constant kernel)
    convolve_nd.py       convolve_nd  (n-d, constant kernel)
    cumsum.py            cumsum
    dct.py               dct  (SciPy's DCT/DST, types 1-4, every norm, and their inverses)
    dot.py               dot  (contraction with a constant)
    fft.py               fft, rfft, irfft
    gather.py            gather, scatter_add  (each other's transposes)
    lfilter.py           lfilter  (IIR filter)
    linear_operator.py   linear_operator  (a foreign SciPy/PyLops operator)
    lu_solve.py          lu_solve
    roll.py              roll
    shape.py             reshape, transpose, broadcast_to, reduce_sum, rev  (axes)
    slice.py             slice, pad, update_slice, add_slice, concatenate  (slicing and its transposes)
    sparse_matmul.py     sparse_matmul
    spline_filter.py     spline_filter  (SciPy's B-spline prefilter, and its transpose)
    triangular_solve.py  triangular_solve
"""
