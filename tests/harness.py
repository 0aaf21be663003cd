"""The shared table-driven harness: one table of NumPy programs drives every check.

A :class:`Case` is a name, a NumPy function and argument specs. Specs are
shapes (tuples), which become ``ShapeDtype(shape, dtype)`` for each dtype the
case runs with, or explicit ``linop.ShapeDtype`` objects (kept as they are),
nested in pytrees.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

import linop
from linop.pytree import tree_flatten, tree_unflatten
from linop.testing import check_transpose, random_like, tolerance_for

REAL = (np.float32, np.float64)
COMPLEX = (np.complex64, np.complex128)
ALL = REAL + COMPLEX


@dataclass
class Case:
    """One NumPy program of the table.

    Attributes
    ----------
    name : str
    fun : callable
    specs : tuple
        Argument specs: shapes (tuples of int) or ``linop.ShapeDtype``, in pytrees.
    dtypes : tuple
        Dtypes substituted for shape specs.
    c_linear : bool
        Complex-linear (False for programs using real/imag/conj on complex inputs);
        the operator checks of later issues only apply to complex-linear cases.
    """

    name: str
    fun: object
    specs: tuple
    dtypes: tuple = ALL
    c_linear: bool = True
    tags: tuple = field(default=())

    def primals(self, dtype):
        """The argument specs as ShapeDtype pytrees for ``dtype``."""
        return tuple(_subst(s, dtype) for s in self.specs)

    def params(self):
        """(case, dtype) pairs for pytest parametrisation."""
        return [(self, np.dtype(d)) for d in self.dtypes]


def _is_shape(s):
    return isinstance(s, tuple) and all(isinstance(d, int) for d in s)


def _subst(spec, dtype):
    if isinstance(spec, linop.ShapeDtype):
        return spec
    if _is_shape(spec):
        return linop.ShapeDtype(spec, dtype)
    if isinstance(spec, dict):
        return {k: _subst(v, dtype) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_subst(v, dtype) for v in spec]
    if isinstance(spec, tuple):
        return type(spec)(*(_subst(v, dtype) for v in spec)) if hasattr(spec, "_fields") \
            else tuple(_subst(v, dtype) for v in spec)
    return spec


def random_args(primals, seed=0):
    """Random arrays with the structure, shapes and dtypes of ``primals``."""
    rng = np.random.default_rng(seed)
    leaves, tree = tree_flatten(primals)
    return tree_unflatten(tree, [random_like(l, rng) for l in leaves])


def assert_tree_close(got, want, rtol):
    """Same structure, shapes and dtypes; values close."""
    g_leaves, g_tree = tree_flatten(got)
    w_leaves, w_tree = tree_flatten(want)
    assert g_tree == w_tree, f"structure {g_tree} != {w_tree}"
    for g, w in zip(g_leaves, w_leaves):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"shape {g.shape} != {w.shape}"
        assert g.dtype == w.dtype, f"dtype {g.dtype} != {w.dtype}"
        scale = max(np.linalg.norm(w.astype(np.complex128).ravel()), 1e-30)
        err = np.linalg.norm((g.astype(np.complex128) - w).ravel()) / scale
        assert err <= rtol, f"relative error {err:.3g} > {rtol:g}"


def check_forward(case: Case, dtype):
    """The traced program on random arrays equals the function (values and dtypes)."""
    primals = case.primals(dtype)
    args = random_args(primals)
    program = linop.trace(case.fun, *primals)
    rtol = 10 * tolerance_for([l.dtype for l in tree_flatten(primals)[0]])
    assert_tree_close(program(*args), case.fun(*args), max(rtol, 1e-6 if rtol > 1e-10 else 1e-11))
    return program


def check_double_transpose(case: Case, dtype):
    """``transpose(transpose(p))`` computes ``p``."""
    primals = case.primals(dtype)
    args = random_args(primals, seed=1)
    program = linop.trace(case.fun, *primals)
    twice = linop.transpose(linop.transpose(program))
    rtol = 10 * tolerance_for([l.dtype for l in tree_flatten(primals)[0]])
    assert_tree_close(twice(*args), program(*args), max(rtol, 1e-6 if rtol > 1e-10 else 1e-11))


def check_all(case: Case, dtype):
    """Forward, dense-oracle transpose and double transpose for one (case, dtype)."""
    check_forward(case, dtype)
    check_transpose(case.fun, *case.primals(dtype))
    check_double_transpose(case, dtype)


def case_id(param):
    """pytest id for a (case, dtype) pair."""
    case, dtype = param
    return f"{case.name}-{np.dtype(dtype).name}"


def run_in_threads(work, count: int) -> None:
    """``work(k)`` for ``k`` in ``range(count)``, each in a thread of its own, all started before any is joined."""
    threads = [threading.Thread(target=work, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def table_cases() -> list:
    """``(module:name, case)`` for every :class:`Case` in the ``CASES`` table of a test module."""
    import importlib
    import pathlib

    cases = []
    for path in sorted(pathlib.Path(__file__).parent.glob("test_*.py")):
        module = importlib.import_module(path.stem)
        cases += [(f"{path.stem}:{c.name}", c) for c in getattr(module, "CASES", [])
                  if isinstance(c, Case)]
    return cases


def _rule_features(case: Case) -> set:
    """What a case exercises: (direction, primitive, output dtype kind, string/bool params) of
    every equation of its program and of the transposed program, for its last dtype."""
    def features(program, direction):
        return {(direction, e.prim.name, np.dtype(e.out.aval.dtype).kind,
                 tuple(sorted((k, v) for k, v in e.params.items() if isinstance(v, (str, bool)))))
                for e in program.eqns}

    program = linop.trace(case.fun, *case.primals(np.dtype(case.dtypes[-1])))
    return features(program, "forward") | features(linop.transpose(program), "adjoint")


_SWEEP_CACHE: dict = {}


def sweep_cases(stride: int = 5) -> list:
    """A subset of :func:`table_cases` for the slow sweeps (compiled and distributed executors).

    Every ``stride``-th case, plus a greedy cover of the table so that every (primitive, dtype
    kind, mode) that any case exercises, forward or adjoint, is exercised by a chosen case.
    ``LINOP_TEST_SWEEP=all`` in the environment returns the whole table.

    Returns
    -------
    list of (index, name, case)
        ``index`` is the case's position in the whole table (stable under the subsetting).
    """
    import os

    rows = [(k, name, case) for k, (name, case) in enumerate(table_cases())]
    if os.environ.get("LINOP_TEST_SWEEP") == "all":
        return rows
    if stride not in _SWEEP_CACHE:
        features = {k: _rule_features(case) for k, _, case in rows}
        chosen = {k for k, _, _ in rows if k % stride == 0}
        left = set().union(*features.values()) - set().union(*(features[k] for k in chosen))
        while left:
            best = max(features, key=lambda k: len(features[k] & left))
            chosen.add(best)
            left -= features[best]
        _SWEEP_CACHE[stride] = sorted(chosen)
    return [rows[k] for k in _SWEEP_CACHE[stride]]
