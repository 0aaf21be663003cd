"""``python -m linop check MODULE:FUNCTION``: trace a user's function and check its operator.

The command loads the function, traces it on an input of the given shape and dtype (or
like a saved array), prints a summary of the IR, runs the dot test on real and complex
vectors, compares forward and adjoint with the dense matrix of the plain NumPy function
when it is small, and times forward, adjoint and the function itself. Exit status:
``PASSED`` 0, ``FAILED`` 1 (a check failed), ``NOT_TRACED`` 2 (the function could not be
loaded or traced).
"""
from __future__ import annotations

import collections
import importlib
import importlib.util
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from ..errors import LinopError, library_dirs
from ..ir import ShapeDtype
from ..operator import RealLinearError, aslinearoperator, dottest, todense
from ..testing import DotTestError, dense_matrix, tolerance_for
from ..tracing import trace

PASSED, FAILED, NOT_TRACED = 0, 1, 2


class CheckFailed(Exception):
    """A check found a wrong operator (exit status 1)."""


class NotTraced(Exception):
    """The function could not be loaded or traced (exit status 2)."""


class Progress:
    """Numbered progress lines ``[k/N] what ... done in t s; detail`` on standard output."""

    def __init__(self, total: int):
        self.total, self.k = total, 0
        self.started = time.perf_counter()

    def start(self, what: str) -> None:
        """Print ``[k/N] what ...`` (the line stays open until :meth:`done` or :meth:`fail`)."""
        self.k += 1
        self.t = time.perf_counter()
        print(f"[{self.k}/{self.total}] {what} ...", end="", flush=True)

    def done(self, detail: str = "") -> None:
        """Close the line with the time taken and ``detail``."""
        took = time.perf_counter() - self.t
        print(f" done in {took:.2f} s{'; ' + detail if detail else ''}", flush=True)

    def fail(self) -> None:
        """Close the line of a stage that failed (the error follows)."""
        print(" failed", flush=True)


# -- loading the user's function ---------------------------------------------------------------
def load_function(target: str):
    """The function named by ``MODULE:FUNCTION`` or ``path/to/file.py:FUNCTION``."""
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise NotTraced(f"{target!r} is not MODULE:FUNCTION or FILE.py:FUNCTION "
                        "(for example mymodel:forward or models/blur.py:forward)")
    module = _load_module(where)
    fun = module
    for part in name.split("."):
        if not hasattr(fun, part):
            raise NotTraced(f"{where} has no attribute {part!r}"
                            + (f" (looking for {name!r})" if part != name else ""))
        fun = getattr(fun, part)
    if not callable(fun):
        raise NotTraced(f"{where}:{name} is a {type(fun).__name__}, not a function")
    return fun


def _load_module(where: str):
    path = Path(where)
    if where.endswith(".py") or path.is_file():
        return _load_file(path)
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as `python -m` finds the current folder's modules
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as exc:
        if exc.name is None or not where.startswith(exc.name):
            raise _failed_import(where, exc) from exc
        raise NotTraced(f"no module named {exc.name!r} (run from the folder that holds it, "
                        "or give the file: path/to/file.py:FUNCTION)") from exc
    except Exception as exc:
        raise _failed_import(where, exc) from exc


def _load_file(path: Path):
    if not path.is_file():
        raise NotTraced(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # as `python FILE.py` would
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise _failed_import(str(path), exc) from exc
    finally:
        sys.path.pop(0)
    return module


def _failed_import(where: str, exc: Exception) -> NotTraced:
    """The user's module raised while importing: say what and where, not the traceback."""
    return NotTraced(f"importing {where} raised {type(exc).__name__}: {exc}\n"
                     f"  at {user_frame(exc)}")


def user_frame(exc: BaseException) -> str:
    """``file:line`` of the innermost frame of ``exc``'s traceback outside linop, NumPy, SciPy."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(library_dirs()) and not f.filename.startswith("<frozen")]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "<unknown>"


# -- the input ---------------------------------------------------------------------------------
def example_input(shape, dtype, complex_, like):
    """The ``ShapeDtype`` to trace on, and a random array of it for the timings."""
    if like is not None:
        try:
            data = np.load(like, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise NotTraced(f"--like {like}: cannot read a NumPy array ({exc})") from exc
        shape, dtype = data.shape, data.dtype
    dtype = np.dtype(dtype)
    if complex_:
        dtype = np.result_type(dtype, np.complex64)
    if not np.issubdtype(dtype, np.inexact):
        raise NotTraced(f"the input dtype must be floating or complex, not {dtype} "
                        "(a linear function of integers has no adjoint over the reals)")
    x = random_vector(int(np.prod(shape)), dtype, 0).reshape(shape)
    return ShapeDtype(tuple(shape), dtype), x


# -- the checks --------------------------------------------------------------------------------
def ir_summary(program) -> str:
    """Equation counts by primitive and the constants' memory, one item a line."""
    counts = collections.Counter(eqn.prim.name for eqn in program.eqns)
    nbytes = sum(np.asarray(c).nbytes for c in program.consts)
    lines = [f"  {len(program.eqns)} equations: "
             + ", ".join(f"{name} {k}" for name, k in counts.most_common()),
             f"  constants: {len(program.consts)}, {_bytes(nbytes)}",
             "  input  " + ", ".join(a.short() for a in program.in_avals),
             "  output " + ", ".join(a.short() for a in program.out_avals)]
    return "\n".join(lines)


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def make_operator(fun, aval):
    """The operator of ``fun``; a real-linear function gets real coordinates (said so)."""
    try:
        return aslinearoperator(fun, aval), ""
    except RealLinearError:
        return (aslinearoperator(fun, aval, real_coords=True),
                "real-linear only: checked on real coordinates (real_coords=True)")


def dot_tests(A) -> str:
    """The dot test with real and with complex vectors; ``CheckFailed`` beyond its tolerance."""
    if np.issubdtype(A.dtype, np.complexfloating):  # a complex operator takes complex vectors only
        report = [f"complex vectors {dottest(A, raise_error=False):.1e}"]
    else:
        report = [f"real vectors {dottest(A, complex_vectors=False, raise_error=False):.1e}",
                  f"real and complex vectors {dottest(A, raise_error=False):.1e}"]
    try:
        dottest(A)
    except DotTestError as exc:
        raise CheckFailed(f"the adjoint does not match the forward program: {exc}") from exc
    return ", ".join(report)


def dense_comparison(fun, aval, program) -> str:
    """Forward and adjoint matrices against the plain NumPy function applied to a basis."""
    M = dense_matrix(fun, aval)
    R = aslinearoperator(fun, aval, real_coords=True)
    scale = max(np.abs(M).max(), np.finfo(float).tiny)
    forward = np.abs(todense(R) - M).max() / scale
    adjoint = np.abs(todense(R.H) - M.T).max() / scale
    tol = tolerance_for([aval.dtype] + [eqn.out.aval.dtype for eqn in program.eqns])
    report = f"forward {forward:.1e}, adjoint {adjoint:.1e} (largest error / largest entry)"
    if max(forward, adjoint) > tol:
        raise CheckFailed(f"the operator differs from the NumPy function's matrix: {report} > {tol:g}")
    return report


def best_time(call, repeat: int) -> float:
    """The best of ``repeat`` timed calls (after one call to warm up)."""
    call()
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t)
    return best


def timings(fun, A, x, repeat: int) -> str:
    """Forward, adjoint and the function itself, side by side."""
    v, w = random_vector(A.shape[1], A.dtype, 1), random_vector(A.shape[0], A.dtype, 2)
    plain = best_time(lambda: fun(x), repeat)
    forward = best_time(lambda: A.matvec(v), repeat)
    adjoint = best_time(lambda: A.rmatvec(w), repeat)
    return (f"function {_ms(plain)}, forward {_ms(forward)} ({forward / plain:.2f}x), "
            f"adjoint {_ms(adjoint)} ({adjoint / plain:.2f}x), best of {repeat}")


def random_vector(n: int, dtype, seed: int) -> np.ndarray:
    """A random vector of ``dtype`` (complex parts for a complex one)."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(n)
    if np.issubdtype(dtype, np.complexfloating):
        v = v + 1j * rng.standard_normal(n)
    return v.astype(dtype)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


# -- the command -------------------------------------------------------------------------------
def run_check(args) -> int:
    """``python -m linop check``: the exit status 0 / 1 / 2 (passed / failed / not traced)."""
    steps = Progress(6)
    try:
        steps.start(f"loading {args.target}")
        fun = load_function(args.target)
        aval, x = example_input(args.shape, args.dtype, args.complex, args.like)
        steps.done(f"input {aval.short()}")

        steps.start("tracing")
        program = _trace(fun, aval)
        steps.done(f"{len(program.eqns)} equations")
        print(ir_summary(program))
    except NotTraced as exc:
        steps.fail()
        print(f"\nNOT TRACED: {exc}")
        return NOT_TRACED
    except LinopError as exc:
        steps.fail()
        print(f"\nNOT TRACED: {type(exc).__name__}: {exc}")
        return NOT_TRACED
    try:
        steps.start("building the operator and its adjoint")
        A, note = make_operator(fun, aval)
        steps.done(f"{A.shape[0]}x{A.shape[1]} {A.dtype}, adjoint "
                   f"{len(A.transposed_program.eqns)} equations{'; ' + note if note else ''}")

        steps.start("dot test on real and complex vectors")
        steps.done(dot_tests(A))

        n_real = aval.size * (2 if np.issubdtype(aval.dtype, np.complexfloating) else 1)
        steps.start("comparing with the dense matrix of the NumPy function")
        if n_real <= args.dense_limit:
            steps.done(dense_comparison(fun, aval, program))
        else:
            steps.done(f"skipped: {n_real} unknowns > --dense-limit {args.dense_limit}")

        steps.start("timing")
        steps.done(timings(fun, A, x, args.repeat))
    except CheckFailed as exc:
        steps.fail()
        print(f"\nFAILED: {exc}")
        return FAILED
    except LinopError as exc:
        steps.fail()
        print(f"\nFAILED: {type(exc).__name__}: {exc}")
        return FAILED
    except Exception as exc:  # the user's function or a foreign operator failed at run time
        steps.fail()
        traceback.print_exc()  # on standard error: the whole story, for a bug anywhere
        print(f"\nFAILED: {type(exc).__name__}: {exc}\n  at {user_frame(exc)}")
        return FAILED
    print(f"\nPASSED: {args.target} is linear and its adjoint is exact "
          f"({time.perf_counter() - steps.started:.1f} s)")
    return PASSED


def _trace(fun, aval):
    try:
        return trace(fun, aval)
    except LinopError:
        raise
    except Exception as exc:  # not linop's: the user's code raised while being traced
        raise NotTraced(f"the function raised {type(exc).__name__} while being traced: {exc}\n"
                        f"  at {user_frame(exc)}") from exc
