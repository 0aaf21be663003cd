"""Foreign linear operators on traced arrays: SciPy's and PyLops' ``LinearOperator``.

SciPy's ``LinearOperator.dot``/``matvec`` turn their argument into an array
with ``np.asarray``, which a tracer cannot become, and PyLops' ``matvec`` hands
it to the operator's ``_matvec``. So linop wraps the public entry points of the
two base classes (:func:`install_hooks`): a tracer argument is routed to
:func:`apply_operator`, anything else goes to the original method unchanged.
The hooks are installed when the first trace starts; PyLops' class as soon as
PyLops is imported, even inside a function being traced (a finder on
``sys.meta_path`` watches for it; linop never imports PyLops itself). As in
SciPy, ``dot`` goes through the operator's public ``matvec``/``matmat`` (a
subclass may override them), and the recorded step calls the base class's own
methods when the program runs, never an override a second time.

===================  ===================================================
SciPy entry point    reached from
===================  ===================================================
``dot``              ``L @ x``, ``L * x``, ``L(x)``, ``L.dot(x)``
``_rdot``            ``x @ L``, ``x * L`` (the tracer defers to ``L``)
``matvec``           ``L.matvec(x)`` (and ``rmatvec``, ``matmat``, ``rmatmat``)
===================  ===================================================

:func:`apply_operator` records, in this order of preference:

* a linop operator's own programs, inlined (it has ``inline_on_tracer``);
* SciPy's composites (``A @ B``, ``A + B``, ``alpha * A``, ``A.H``, ``A.T``,
  ``A ** k``) taken apart, each operand applied by these same rules;
* a known matrix (``MatrixLinearOperator`` of a dense or sparse matrix) as a
  constant, captured by value, and ``IdentityOperator`` as a cast;
* anything else as one opaque ``linear_operator`` step
  (:mod:`linop.primitives.linear_operator`) that calls the operator, held by
  reference, when the program runs, and its adjoint for the transpose.

Dtypes: SciPy's composites, known matrices and ``IdentityOperator`` give the
dtype SciPy's own code gives (``2.0 * L`` keeps a ``float32`` ``L``'s dtype, as
NumPy's scalar rules do); an opaque step gives ``result_type(x.dtype, L.dtype)``
from the operator's *declared* dtype, whatever the operator returns at run time.
A real operator on complex values is the complex-linear extension
``L Re(x) + i L Im(x)`` (where PyLops itself would drop ``Im(x)``).
"""
from __future__ import annotations

import contextlib
import functools
import sys
import threading

import numpy as np

from .errors import ForeignOperatorError, user_location
from .primitives import complex as C
from .core import is_tracer
from .primitives.linear_operator import (MODES, lacks_adjoint, linear_operator, no_adjoint_error,
                                 operator_dtype, overrides)
from .primitives.sparse_matmul import sparse_matmul
from .numpy_api.tracer import OPERAND_PRODUCTS
from .tracing import TRACE_CONTEXTS

__all__ = ["apply_operator", "matvec", "matmat", "dot", "rdot", "is_linear_operator",
           "install_hooks", "ensure_hooks", "vector_dtype"]


def _scipy_base():
    from scipy.sparse.linalg import LinearOperator

    return LinearOperator


def _pylops_base():
    module = sys.modules.get("pylops.linearoperator")
    return getattr(module, "LinearOperator", None) if module is not None else None


def is_linear_operator(obj) -> bool:
    """Whether ``obj`` is a SciPy or PyLops linear operator (without importing either)."""
    linalg = sys.modules.get("scipy.sparse.linalg")
    if linalg is not None and isinstance(obj, linalg.LinearOperator):
        return True
    base = _pylops_base()
    return base is not None and isinstance(obj, base)


def vector_dtype(op) -> np.dtype:
    """The dtype of the vectors an operator of ``op.dtype`` maps (integers become float64)."""
    dtype = operator_dtype(op)
    return dtype if np.issubdtype(dtype, np.inexact) else np.result_type(dtype, np.float64)


def _result_dtype(x, op) -> np.dtype:
    return np.result_type(x.dtype, vector_dtype(op))


# -- taking SciPy's composites apart ------------------------------------------------------
_ADJOINT_MODE = {"A": "H", "H": "A", "T": "C", "C": "T"}
_TRANSPOSE_MODE = {"A": "T", "T": "A", "H": "C", "C": "H"}


def _product(op, x, mode):
    a, b = op.args
    if mode in ("A", "C"):
        return apply_operator(a, apply_operator(b, x, mode), mode)
    return apply_operator(b, apply_operator(a, x, mode), mode)


def _sum(op, x, mode):
    a, b = op.args
    return apply_operator(a, x, mode) + apply_operator(b, x, mode)


def _scaled(op, x, mode):
    a, alpha = op.args
    return apply_operator(a, x, mode) * (np.conj(alpha) if mode in ("H", "C") else alpha)


def _power(op, x, mode):
    a, p = op.args
    y = x
    for _ in range(int(p)):
        y = apply_operator(a, y, mode)
    return y if int(p) else C.convert(x, x.dtype)


def _adjoint(op, x, mode):
    return apply_operator(op.args[0], x, _ADJOINT_MODE[mode])


def _transposed(op, x, mode):
    return apply_operator(op.args[0], x, _TRANSPOSE_MODE[mode])


_COMPOSITES = {"_ProductLinearOperator": _product, "_SumLinearOperator": _sum,
               "_ScaledLinearOperator": _scaled, "_PowerLinearOperator": _power,
               "_AdjointLinearOperator": _adjoint, "_TransposedLinearOperator": _transposed}


def _composite_rule(op):
    cls = type(op)
    if cls.__module__ != "scipy.sparse.linalg._interface":
        return None
    return _COMPOSITES.get(cls.__name__)


# -- operators with a known matrix ----------------------------------------------------------
def _matrix_for_mode(M, mode):
    if mode == "A":
        return M
    if mode == "T":
        return M.T
    return M.conj().T if mode == "H" else M.conj()


def _known_matrix(op, x, mode):
    """``MatrixLinearOperator`` and ``IdentityOperator`` as constants; None for others."""
    name = type(op).__name__
    if type(op).__module__ != "scipy.sparse.linalg._interface":
        return None
    if name == "IdentityOperator":  # SciPy returns the vector itself, of its own dtype
        return C.convert(x, x.dtype)
    if name not in ("MatrixLinearOperator", "_AdjointMatrixOperator"):
        return None
    M = op.A
    import scipy.sparse as sp

    if sp.issparse(M):
        dtype = _result_dtype(x, op)
        return sparse_matmul(C.convert(x, dtype) if x.dtype != dtype else x,
                             _matrix_for_mode(M, mode), 0)
    return np.matmul(_matrix_for_mode(np.asarray(M), mode), x)


def apply_operator(op, x, mode: str = "A"):
    """Record ``op`` (in ``mode``, see :data:`linop.primitives.linear_operator.MODES`) on the tracer ``x``.

    Parameters
    ----------
    op : SciPy or PyLops linear operator, or any object with ``shape``, ``dtype``
        and ``matvec``/``rmatvec``/``matmat``/``rmatmat``.
    x : Tracer
        Shape ``(n,)`` or ``(n, k)`` (``n`` the number of columns of the applied matrix).
    mode : {"A", "H", "T", "C"}

    Returns
    -------
    Tracer
        Shape ``(m,)`` or ``(m, k)``, dtype ``result_type(x.dtype, op.dtype)``.
    """
    inline = getattr(op, "inline_on_tracer", None)
    if inline is not None:
        return inline(x, mode)
    rule = _composite_rule(op)
    y = rule(op, x, mode) if rule is not None else _known_matrix(op, x, mode)
    if y is not None:  # the dtype SciPy's own code gives for these classes
        return y
    dtype = _result_dtype(x, op)
    return linear_operator(C.convert(x, dtype) if x.dtype != dtype else x, op, mode, 0)


# -- SciPy's shape rules on tracers --------------------------------------------------------
def _where(op) -> str:
    return f"{type(op).__name__} of shape {tuple(op.shape)}"


def _columns(op, mode) -> int:
    m, n = op.shape
    return m if MODES[mode][1] else n


def _check_vector(op, x, mode, what):
    n = _columns(op, mode)
    if tuple(x.shape) not in ((n,), (n, 1)):
        raise ValueError(f"{what} at {user_location()}: the {_where(op)} expects a vector of "
                         f"shape ({n},) or ({n}, 1), got shape {tuple(x.shape)}")


def _check_matrix(op, X, mode, what):
    n = _columns(op, mode)
    if X.ndim != 2 or X.shape[0] != n:
        raise ValueError(f"{what} at {user_location()}: the {_where(op)} expects a matrix of "
                         f"shape ({n}, k), got shape {tuple(X.shape)}")


def _check_adjoint(op, mode, what):
    """An explicit adjoint (``rmatvec``, ``x @ L``) of an operator without one fails here."""
    if MODES[mode][1] and lacks_adjoint(op):
        raise no_adjoint_error(op, f"{what} at {user_location()}")


def matvec(op, x, mode: str = "A", what: str = "matvec"):
    """``op.matvec(x)`` (``rmatvec`` for mode ``H``) on a tracer: ``(n,)`` or ``(n, 1)``."""
    _check_vector(op, x, mode, what)
    _check_adjoint(op, mode, what)
    return apply_operator(op, x, mode)


_PER_COLUMN = {"A": ("matvec", "_matmat"), "H": ("rmatvec", "_rmatmat")}


def matmat(op, X, mode: str = "A", what: str = "matmat"):
    """``op.matmat(X)`` (``rmatmat`` for mode ``H``) on a tracer of shape ``(n, k)``.

    Like the base classes' ``_matmat``, an operator that overrides the public
    ``matvec`` (``rmatvec``) but not ``_matmat`` (``_rmatmat``) is applied
    column by column through its override.
    """
    _check_matrix(op, X, mode, what)
    _check_adjoint(op, mode, what)
    vector, private = _PER_COLUMN.get(mode, (None, None))
    if vector is not None and overrides(op, vector) and not overrides(op, private):
        apply = getattr(op, vector)
        if X.shape[1] == 0:
            return apply_operator(op, X, mode)
        return np.stack([apply(X[:, j]) for j in range(X.shape[1])], axis=1)
    return apply_operator(op, X, mode)


def dot(op, x):
    """``op @ x`` on a tracer with SciPy's rule: 1-d or ``(n, 1)`` is a vector, 2-d a matrix.

    As SciPy's ``dot``, it calls the operator's public ``matvec``/``matmat``
    (which a subclass may override).
    """
    if x.ndim == 1 or (x.ndim == 2 and x.shape[1] == 1):
        _check_vector(op, x, "A", "L @ x")
        return op.matvec(x)
    if x.ndim == 2:
        _check_matrix(op, x, "A", "L @ x")
        return op.matmat(x)
    raise ValueError(f"L @ x at {user_location()}: the {_where(op)} applies to 1-d vectors and "
                     f"2-d matrices of columns, got a {x.ndim}-d array of shape {tuple(x.shape)};"
                     " ravel it first (L @ x.ravel())")


def rdot(op, x):
    """``x @ op`` on a tracer: ``op.T`` applied to ``x.T`` (SciPy's rule)."""
    if x.ndim == 1:
        return matvec(op, x, "T", "x @ L")
    if x.ndim == 2:
        return matmat(op, x.T, "T", "x @ L").T
    raise ValueError(f"x @ L at {user_location()}: the {_where(op)} multiplies 1-d vectors and "
                     f"2-d matrices of rows, got a {x.ndim}-d array of shape {tuple(x.shape)}")


# -- the hooks ---------------------------------------------------------------------------------
_SCIPY_ROUTES = {
    "dot": dot, "_rdot": rdot,
    "matvec": functools.partial(matvec, mode="A", what="matvec"),
    "rmatvec": functools.partial(matvec, mode="H", what="rmatvec"),
    "matmat": functools.partial(matmat, mode="A", what="matmat"),
    "rmatmat": functools.partial(matmat, mode="H", what="rmatmat"),
}
# PyLops' dot reshapes dims-shaped arrays itself (tracers support that) and then calls these.
_PYLOPS_ROUTES = {name: _SCIPY_ROUTES[name] for name in ("matvec", "rmatvec", "matmat", "rmatmat")}

_LOCK = threading.Lock()
_hooked_classes: set = set()


def _hooked(original, route):
    @functools.wraps(original)
    def method(self, x, *args, **kwargs):
        if is_tracer(x):
            return route(self, x, *args, **kwargs)
        return original(self, x, *args, **kwargs)

    method.linop_original = original
    return method


def _hook_class(cls, routes):
    if cls in _hooked_classes:
        return
    for name, route in routes.items():
        original = cls.__dict__.get(name)
        if original is None:
            raise ForeignOperatorError(f"{cls.__module__}.{cls.__name__} has no method {name}: "
                                       "this version is not supported by linop's hooks")
        if getattr(original, "linop_original", None) is None:
            setattr(cls, name, _hooked(original, route))
    _hooked_classes.add(cls)


class _HookAfterImport:
    """A loader that runs the real one, then hooks the module's ``LinearOperator``."""

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):  # get_source, get_filename, ... of the real loader
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        install_hooks()


class _PylopsImportWatcher:
    """A meta-path finder that hooks PyLops' base class as soon as PyLops is imported.

    PyLops may first be imported inside a function being traced, after the
    trace started: its operators must see tracers routed to linop from then on.
    """

    module = "pylops.linearoperator"

    def find_spec(self, name, path, target=None):
        if name != self.module:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _HookAfterImport(spec.loader)
                return spec
        return None


_WATCHER = _PylopsImportWatcher()


def install_hooks():
    """Route tracers given to SciPy's (and PyLops') operators to linop.

    PyLops' class is hooked now if PyLops is imported, else as soon as it is
    (a finder on ``sys.meta_path``). Idempotent and thread-safe; non-tracer
    arguments reach the original methods.
    """
    with _LOCK:
        _hook_class(_scipy_base(), _SCIPY_ROUTES)
        base = _pylops_base()
        if base is not None:
            _hook_class(base, _PYLOPS_ROUTES)
            if _WATCHER in sys.meta_path:
                sys.meta_path.remove(_WATCHER)
        elif _WATCHER not in sys.meta_path:
            sys.meta_path.insert(0, _WATCHER)


def ensure_hooks():
    """Install the hooks when a trace starts (SciPy's, and PyLops' when or once imported).

    Cheap when there is nothing new to install.
    """
    base = _pylops_base()
    if not _hooked_classes or (base is not None and base not in _hooked_classes):
        install_hooks()


def _hooks_for_trace():
    """Entered around every traced function (:data:`linop.tracing.TRACE_CONTEXTS`): hooks first."""
    ensure_hooks()
    return contextlib.nullcontext()


def _defer_to_operator(name, tracer, other):
    """``tracer @ L``, ``tracer * L``...: ``NotImplemented``, so that ``L``'s reflected method applies it.

    An entry of :data:`linop.numpy_api.tracer.OPERAND_PRODUCTS`; ``None`` for other operands.
    """
    return NotImplemented if is_linear_operator(other) else None


# First in both tables: the hooks are in place before any other context is entered, and a
# foreign operator is never offered to another library's products.
TRACE_CONTEXTS.insert(0, _hooks_for_trace)
OPERAND_PRODUCTS.insert(0, _defer_to_operator)
