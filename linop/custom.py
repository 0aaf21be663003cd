"""User-defined linear primitives: :func:`custom_linear`.

A linear function that cannot be written with NumPy on tracers (a compiled
kernel, a call into another library) becomes a primitive of linop when its
author supplies its transpose::

    @linop.custom_linear                      # output shape: inferred by a call on zeros
    def blur(x, *, width=3):                  # plain NumPy on arrays
        return scipy.ndimage.uniform_filter1d(x, width, mode="constant")

    @blur.def_transpose
    def blur_t(y, *, width=3):                # the transpose (no conjugation)
        ...

    blur.check(np.zeros(64))                  # dot test, real and complex

Positional arguments are the linear inputs (arrays); keyword arguments are
constants (parameters) passed unchanged to the function and its transpose.
The function returns one array. Inside :func:`linop.trace`,
:func:`linop.linear_transpose` and the operators built on them, a call
records one equation; the transposed program calls the transpose, and
transposing twice calls the function again.

With several linear inputs the transpose returns a tuple with one array per
input; the transposed program then calls it once per input (it keeps the
component it needs), and the forward of a transposed program evaluates
``f(0, .., x_i, .., 0)`` per input, which linearity makes exact.
"""
from __future__ import annotations

import functools

import numpy as np

from .errors import LinopError, user_location
from .ir import Const, ShapeDtype
from .core import Primitive, is_tracer, zeros
from .primitives import shape as S
from .primitives.complex import real_dtype
from .primitives.slice import concatenate, slice_
from .testing import DotTestError, dot_test_function

__all__ = ["custom_linear", "CustomLinear"]

_RESERVED = ("arg_index", "arg_avals", "batch_dims")

#: How many output shapes (one per combination of input shapes and parameters) a
#: :class:`CustomLinear` without an ``out=`` rule remembers.
SHAPE_CACHE_SIZE = 128


def custom_linear(fun=None, *, out=None, name=None, vectorized=False):
    """Register a linear NumPy function as a linop primitive; define its transpose next.

    Parameters
    ----------
    fun : callable
        ``fun(*arrays, **params) -> array``, linear in every positional argument.
    out : callable, optional
        Shape rule ``out(*avals, **params) -> ShapeDtype`` (``avals`` are
        :class:`~linop.ShapeDtype`). Default: call ``fun`` once on zero
        arrays and read the result's shape and dtype (cached per shapes).
    name : str, optional
        Name shown in printed programs (default: ``fun.__name__``).
    vectorized : bool
        ``fun`` and its transpose accept extra leading batch axes and act on
        each batch element independently (as NumPy ufuncs do). Batching then
        calls them once on the whole batch instead of once per element.

    Returns
    -------
    CustomLinear
        Callable like ``fun``; use ``.def_transpose`` (or ``.def_adjoint``)
        to give the transpose, ``.check`` to dot-test it.

    Examples
    --------
    >>> import numpy as np, linop
    >>> @linop.custom_linear(out=lambda x: linop.ShapeDtype(x.shape, x.dtype))
    ... def cumsum(x):
    ...     return np.cumsum(x)
    >>> @cumsum.def_transpose
    ... def cumsum_t(y):
    ...     return np.cumsum(y[::-1])[::-1]
    >>> linop.linear_transpose(cumsum, np.zeros(3))(np.ones(3))[0]
    array([3., 2., 1.])
    """
    def wrap(f):
        return CustomLinear(f, out=out, name=name, vectorized=vectorized)

    return wrap if fun is None else wrap(fun)


class CustomLinear:
    """A user-defined linear primitive (made by :func:`custom_linear`).

    Calling it on arrays runs the user's function; calling it on traced
    arrays records an equation. ``T`` is the transposed function (also a
    linear callable); transposing twice gives back this function.

    Parameters
    ----------
    fun : callable
        The linear function on arrays.
    out : callable, optional
        The shape rule, as for :func:`custom_linear`.
    name : str, optional
        The primitive's name in printed programs (default: ``fun.__name__``).
    vectorized : bool, optional
        As for :func:`custom_linear`.
    _transpose_of : CustomLinear, optional
        Set by :attr:`T` only: the function that this one transposes.
    """

    def __init__(self, fun, *, out=None, name=None, vectorized=False, _transpose_of=None):
        self.fun = fun
        self.out_rule = out
        self.name = name or getattr(fun, "__name__", "custom_linear")
        self.vectorized = bool(vectorized)
        self.__doc__ = getattr(fun, "__doc__", None)
        self.__wrapped__ = fun
        self.transpose_fun = None
        # Bounded: each new shape (or array parameter) would otherwise keep an entry forever.
        self._shape_cache = functools.lru_cache(maxsize=SHAPE_CACHE_SIZE)(self._infer_out_aval)
        self._transpose_of = _transpose_of
        self.forward_p = _CustomForward(self)
        self.transpose_p = _CustomTranspose(self)

    # -- defining --------------------------------------------------------------------
    def def_transpose(self, fun):
        """Define the transpose (JAX's convention: for ``x ↦ M x`` it is ``y ↦ Mᵀ y``).

        ``fun(ct, **params)`` returns one array per positional input of the
        function (a tuple when there are several), with their shapes.

        Returns
        -------
        CustomLinear
            The transposed function, itself a linear callable whose transpose
            is this one.
        """
        self.transpose_fun = fun
        return self.T

    def def_adjoint(self, fun):
        """Define the adjoint (conjugate transpose, ``y ↦ Mᴴ y``) instead of the transpose.

        The transpose is derived as ``conj(adjoint(conj(ct)))``. Same return
        value as :meth:`def_transpose`.
        """
        def transpose_from_adjoint(ct, **params):
            res = fun(np.conj(ct), **params)
            return tuple(np.conj(r) for r in res) if isinstance(res, tuple) else np.conj(res)

        transpose_from_adjoint.__name__ = getattr(fun, "__name__", "adjoint")
        return self.def_transpose(transpose_from_adjoint)

    @property
    def T(self) -> "CustomLinear":
        """The transposed function (a :class:`CustomLinear` whose transpose is ``self``)."""
        if self._transpose_of is not None:
            return self._transpose_of
        cached = self.__dict__.get("_T")
        if cached is None:
            self._require_transpose()
            cached = CustomLinear(self._call_transpose_fun, name=getattr(
                self.transpose_fun, "__name__", self.name + "_T"), vectorized=self.vectorized,
                _transpose_of=self)
            cached.transpose_fun = self.fun
            self._T = cached
        return cached

    def _call_transpose_fun(self, ct, **params):
        return self.transpose_fun(ct, **params)

    def _require_transpose(self):
        if self.transpose_fun is None:
            raise LinopError(
                f"custom_linear function {self.name!r} has no transpose, needed at "
                f"{user_location()}. Define it with @{self.name}.def_transpose (or "
                f"@{self.name}.def_adjoint).")

    # -- calling ---------------------------------------------------------------------
    def __call__(self, *args, **params):
        """Run the function on arrays, or record it on traced arrays."""
        for key, value in params.items():
            if is_tracer(value):
                raise TypeError(
                    f"{self.name}: keyword argument {key!r} is traced at {user_location()}; "
                    "keyword arguments of a custom_linear function are constants. Pass linear "
                    "inputs as positional arguments.")
        bad = sorted(set(params) & set(_RESERVED))
        if bad:
            raise TypeError(f"{self.name}: keyword names {bad} are reserved by linop")
        if not any(is_tracer(a) for a in args):
            return self.fun(*args, **params)
        if not args:
            raise TypeError(f"{self.name}: a custom_linear function needs at least one array")
        return self.forward_p.bind(*args, **_wrap_params(params))

    def check(self, *examples, rtol=None, complex=True, seed=0, **params):
        """Dot test of the transpose on random real (and complex) inputs.

        Parameters
        ----------
        *examples
            Example inputs (arrays or :class:`~linop.ShapeDtype`; only shapes
            and dtypes are read), one per positional argument.
        rtol : float, optional
            Tolerance of :func:`linop.testing.dot_test_function`.
        complex : bool
            Also test with complex inputs of the same precision.
        **params
            Keyword arguments passed to the function.

        Returns
        -------
        float
            The largest relative error measured.

        Raises
        ------
        linop.testing.DotTestError
            When the transpose does not match the function.
        """
        self._require_transpose()
        avals = [ShapeDtype(np.shape(e), getattr(e, "dtype", np.float64)) for e in examples]
        variants = [[_real_version(a) for a in avals]]
        if complex:
            variants.append([_complex_version(a) for a in avals])
        worst = 0.0
        for variant in variants:
            kind = "complex" if np.issubdtype(variant[0].dtype, np.complexfloating) else "real"
            try:
                worst = max(worst, dot_test_function(lambda *xs: self(*xs, **params), *variant,
                                                     rtol=rtol, seed=seed))
            except DotTestError as exc:
                out = self.out_aval(variant, _wrap_params(params))
                cplx = kind == "complex" or np.issubdtype(out.dtype, np.complexfloating)
                hint = (" The transpose of a complex map must not conjugate: if you wrote the "
                        "adjoint, register it with def_adjoint instead." if cplx else "")
                raise DotTestError(f"{self.name}: the transpose {self.T.name!r} fails the dot "
                                   f"test on {kind} inputs: {exc}.{hint}") from None
        return worst

    def __repr__(self) -> str:
        return f"<custom_linear {self.name}>"

    def __reduce__(self):
        if self._transpose_of is not None:
            return (getattr, (self._transpose_of, "T"))
        if "<locals>" in self.fun.__qualname__ or "<lambda>" in self.fun.__qualname__:
            import pickle

            raise pickle.PicklingError(
                f"custom_linear function {self.fun.__qualname__!r} is defined inside a function, "
                "so another process cannot import it: define it at module level to pickle "
                "programs or operators that use it")
        return (_lookup_custom, (self.fun.__module__, self.fun.__qualname__))

    # -- rules used by the primitives ------------------------------------------------------
    def out_aval(self, avals, params) -> ShapeDtype:
        """Output shape and dtype for inputs ``avals`` (the shape rule or a call on zeros)."""
        if self.out_rule is not None:
            res = self.out_rule(*avals, **_unwrap_params(params))
            return ShapeDtype(tuple(res.shape), res.dtype)
        try:
            items = tuple(sorted(params.items()))
            # 1, 1.0, True and np.float64(1) are equal keys but may give different dtypes
            key = (tuple(avals), items, _type_tree(items))
            hash(key)
        except TypeError:  # an unhashable parameter: infer without the cache
            return self._infer_out_aval((tuple(avals), tuple(params.items()), None))
        return self._shape_cache(key)

    def _infer_out_aval(self, key) -> ShapeDtype:
        """Call the function on zeros; ``key`` is ``(avals, parameter items, their types)``."""
        avals, params, _ = key
        res = np.asarray(self.fun(*(np.zeros(a.shape, a.dtype) for a in avals),
                                  **_unwrap_params(dict(params))))
        return ShapeDtype(res.shape, res.dtype)


def _type_tree(value):
    """The types in ``value``, containers recursively, arrays with their dtype."""
    if isinstance(value, (tuple, list)):
        return type(value), tuple(_type_tree(v) for v in value)
    if isinstance(value, frozenset):
        return type(value), frozenset(_type_tree(v) for v in value)
    if isinstance(value, Const):
        return type(value), _type_tree(value.value)
    if isinstance(value, np.ndarray):
        return type(value), value.dtype
    return type(value)


def _lookup_custom(module: str, qualname: str):
    import importlib

    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, CustomLinear):
        raise LinopError(f"{module}.{qualname} is not a custom_linear function")
    return obj


def _wrap_params(params: dict) -> dict:
    # Subclasses (masked arrays, matrices) stay themselves: Const would drop their type. The
    # trace then captures a private copy of them, as it does inside containers.
    return {k: Const(v) if type(v) is np.ndarray else v for k, v in params.items()}


def _unwrap_params(params: dict) -> dict:
    return {k: v.value if isinstance(v, Const) else v for k, v in params.items()
            if k not in _RESERVED}


def _real_version(aval):
    real = real_dtype(aval.dtype) if np.issubdtype(aval.dtype, np.inexact) else np.float64
    return ShapeDtype(aval.shape, real)


def _complex_version(aval):
    return ShapeDtype(aval.shape, np.result_type(_real_version(aval).dtype, np.complex64))


def _pairs(avals) -> tuple:
    return tuple((tuple(a.shape), np.dtype(a.dtype)) for a in avals)


def _avals(pairs) -> list:
    return [ShapeDtype(s, d) for s, d in pairs]


def _promoted_arg_avals(params: dict, promote) -> dict:
    """``params`` with the recorded input dtypes (``arg_avals``) at the higher precision."""
    if "arg_avals" not in params:
        return params
    return dict(params, arg_avals=tuple((s, promote(d)) for s, d in params["arg_avals"]))


def _conform(value, aval: ShapeDtype, who: str, what: str, exact_dtype: bool = False):
    """Check a user's result against its expected shape; cast its dtype.

    With ``exact_dtype`` (forward results) a dtype other than the declared one is an
    error: casting it would silently change the function's values.
    """
    arr = np.asarray(value)
    if arr.shape != aval.shape:
        raise LinopError(f"custom_linear: {who} returned {what} of shape {arr.shape}, expected "
                         f"{aval.shape}")
    if arr.dtype != aval.dtype and exact_dtype:
        raise LinopError(
            f"custom_linear: {who} returned {what} of dtype {arr.dtype}, but its out= rule "
            f"declares {aval.dtype}. Make the out= rule return the dtype the function returns "
            "(or drop out= to infer it by calling the function on zeros).")
    if arr.dtype != aval.dtype:
        if np.issubdtype(arr.dtype, np.complexfloating) and \
                not np.issubdtype(aval.dtype, np.complexfloating):
            arr = arr.real  # the transpose for a real input in the real pairing
        arr = arr.astype(aval.dtype)
    return arr


def _batch_by_loop(prim, size, xs, params):
    """Apply ``prim`` to each batch element (leading axis) and stack the results."""
    if size == 0:  # nothing to loop over: the shape rule gives the (empty) result
        aval = prim.abstract_eval(*(ShapeDtype(x.shape[1:], x.dtype) for x in xs), **params)
        return zeros((0,) + aval.shape, aval.dtype)
    outs = []
    for b in range(size):
        items = []
        for x in xs:
            starts = (b,) + (0,) * (x.ndim - 1)
            stops = (b + 1,) + tuple(x.shape[1:])
            items.append(S.reshape(slice_(x, starts, stops, (1,) * x.ndim), x.shape[1:]))
        y = prim.bind(*items, **params)
        outs.append(S.reshape(y, (1,) + tuple(y.shape)))
    return concatenate(outs, 0)


def _split_batch(avals, params):
    n = params.get("batch_dims", 0)
    lead = tuple(avals[0].shape[:n]) if avals else ()
    core = [ShapeDtype(a.shape[n:], a.dtype) for a in avals]
    return n, lead, core


class _CustomForward(Primitive):
    """The forward equation of a :class:`CustomLinear` (all inputs, or input ``arg_index``)."""

    nested_constants = True
    returns_fresh = False
    returns_view = False
    real_linear = False

    def __init__(self, owner: CustomLinear):
        self.owner = owner
        self.name = owner.name

    def impl(self, *xs, **params):
        owner = self.owner
        args = list(xs)
        if "arg_index" in params:
            n = params.get("batch_dims", 0)
            lead = xs[0].shape[:n]
            args = [np.zeros(lead + tuple(s), d) for s, d in params["arg_avals"]]
            args[params["arg_index"]] = xs[0]
        out = owner.fun(*args, **_unwrap_params(params))
        aval = self.abstract_eval(*(ShapeDtype(x.shape, x.dtype) for x in xs), **params)
        return _conform(out, aval, repr(owner.name), "an array", exact_dtype=True)

    def abstract_eval(self, *avals, **params):
        n, lead, core = _split_batch(avals, params)
        if "arg_index" in params:
            full = _avals(params["arg_avals"])
            full[params["arg_index"]] = core[0]
            core = full
        out = self.owner.out_aval(core, {k: v for k, v in params.items() if k not in _RESERVED})
        return ShapeDtype(lead + out.shape, out.dtype)

    def transpose(self, ct, *avals, **params):
        self.owner._require_transpose()
        n, lead, core = _split_batch(avals, params)
        t_params = {k: v for k, v in params.items() if k not in ("arg_index", "arg_avals")}
        if "arg_index" in params:
            t_params.update(arg_index=params["arg_index"], arg_avals=params["arg_avals"])
            return (self.owner.transpose_p.bind(ct, **t_params),)
        t_params["arg_avals"] = _pairs(core)
        return tuple(self.owner.transpose_p.bind(ct, arg_index=i, **t_params)
                     for i in range(len(avals)))

    def batch(self, size, *xs, **params):
        if self.owner.vectorized:
            return self.bind(*xs, **dict(params, batch_dims=params.get("batch_dims", 0) + 1))
        return _batch_by_loop(self, size, xs, params)

    def promoted_params(self, params, promote):
        """The function runs at the higher precision when its ``out`` rule follows its inputs."""
        return _promoted_arg_avals(params, promote)

    def __reduce__(self):
        return (getattr, (self.owner, "forward_p"))


class _CustomTranspose(Primitive):
    """The transpose equation of a :class:`CustomLinear`: the cotangent of input ``arg_index``."""

    nested_constants = True
    returns_fresh = False
    returns_view = False
    real_linear = False

    def __init__(self, owner: CustomLinear):
        self.owner = owner

    @property
    def name(self):
        """The transpose function's name once it is defined."""
        owner = self.owner
        if owner._transpose_of is not None:
            return owner._transpose_of.name
        return getattr(owner.transpose_fun, "__name__", owner.name + "_T")

    def impl(self, ct, **params):
        owner = self.owner
        owner._require_transpose()
        res = owner.transpose_fun(ct, **_unwrap_params(params))
        k = len(params["arg_avals"])
        if k > 1 or isinstance(res, (tuple, list)):
            if not isinstance(res, (tuple, list)) or len(res) != k:
                raise LinopError(f"custom_linear: the transpose of {owner.name!r} must return a "
                                 f"tuple of {k} arrays, one per positional input")
            res = res[params["arg_index"]]
        aval = self.abstract_eval(ShapeDtype(ct.shape, ct.dtype), **params)
        return _conform(res, aval, f"the transpose of {owner.name!r}",
                        f"the cotangent of input {params['arg_index']}")

    def abstract_eval(self, ct, **params):
        n = params.get("batch_dims", 0)
        s, d = params["arg_avals"][params["arg_index"]]
        return ShapeDtype(tuple(ct.shape[:n]) + tuple(s), d)

    def transpose(self, ct, x, **params):
        if len(params["arg_avals"]) == 1:  # the plain forward, so that T(T(p)) prints like p
            params = {k: v for k, v in params.items() if k not in ("arg_index", "arg_avals")}
        return (self.owner.forward_p.bind(ct, **params),)

    def batch(self, size, x, **params):
        if self.owner.vectorized:
            return self.bind(x, **dict(params, batch_dims=params.get("batch_dims", 0) + 1))
        return _batch_by_loop(self, size, (x,), params)

    def promoted_params(self, params, promote):
        """The cotangents take the higher precision of the inputs they belong to."""
        return _promoted_arg_avals(params, promote)

    def __reduce__(self):
        return (getattr, (self.owner, "transpose_p"))
