"""Every registered function has a test case, and docs/support.md is up to date.

Convention: every test module with a table exposes a module-level list
``CASES`` of :class:`harness.Case`. This test traces every case of every
``tests/test_*.py`` module while recording which registered NumPy handlers
(functions, ufuncs, ufunc methods) NumPy dispatched to directly from the case
function (calls made inside another handler do not count), and which
``linop.scipy`` functions ran; a registered function that no case exercises
fails the test.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

import linop.numpy_api.tracer as tracer_module
from harness import Case

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _load_tool():
    spec = importlib.util.spec_from_file_location("support_table", ROOT / "tools" / "support_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining classes
    spec.loader.exec_module(module)
    return module


TOOL = _load_tool()


class DispatchRecorder:
    """Records the registry keys NumPy dispatches to at the top level, and SciPy handlers run."""

    def __init__(self, scipy_handlers=()):
        self.seen: set = set()
        self.depth = 0
        self.codes = {}
        for handler in scipy_handlers:
            code = getattr(getattr(handler, "__wrapped__", handler), "__code__", None)
            if code is not None:
                self.codes[code] = handler

    def _wrap(self, original, key_of):
        def recording(*args):
            if self.depth == 0:
                self.seen.add(key_of(*args))
            self.depth += 1
            try:
                return original(*args)
            finally:
                self.depth -= 1
        return recording

    def _profile(self, frame, event, arg):
        if event == "call" and frame.f_code in self.codes:
            self.seen.add(self.codes[frame.f_code])

    def __enter__(self):
        self._saved = (tracer_module.dispatch_function, tracer_module.dispatch_ufunc, sys.getprofile())
        tracer_module.dispatch_function = self._wrap(self._saved[0], lambda func, args, kwargs: func)
        tracer_module.dispatch_ufunc = self._wrap(
            self._saved[1],
            lambda ufunc, method, inputs, kwargs: ufunc if method == "__call__" else (ufunc, method))
        if self.codes:
            sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        tracer_module.dispatch_function, tracer_module.dispatch_ufunc, profile = self._saved
        sys.setprofile(profile)


def _table_modules():
    for path in sorted(TESTS.glob("test_*.py")):
        if path.stem == Path(__file__).stem:
            continue
        try:
            yield importlib.import_module(path.stem)
        except (Exception, pytest.skip.Exception):
            continue  # a module that cannot be imported here (optional dependency) has no cases


def _cases_of(module) -> list:
    cases = list(getattr(module, "CASES", []))
    for value in vars(module).values():  # tables kept under other names count too
        if isinstance(value, (list, tuple)) and value and all(isinstance(c, Case) for c in value):
            cases.extend(c for c in value if c not in cases)
    return cases


def all_cases() -> list:
    """Every ``Case`` of every test module's tables."""
    return [case for module in _table_modules() for case in _cases_of(module)]


def exercised(cases, scipy_handlers=()) -> set:
    """Registry keys (and SciPy handlers) that tracing ``cases`` dispatches to."""
    from linop import trace

    with DispatchRecorder(scipy_handlers) as rec, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in cases:
            try:
                trace(case.fun, *case.primals(case.dtypes[0]))
            except Exception:  # noqa: BLE001 - a failing case is reported by its own test
                continue
    return rec.seen


def test_every_registered_function_has_a_table_case():
    entries = TOOL.all_entries()
    scipy = [e.handler for e in TOOL.scipy_entries()]
    seen = exercised(all_cases(), scipy)
    missing = sorted(e.name for e in entries if e.key not in seen)
    assert not missing, (
        f"{len(missing)} registered functions have no case in any test table (a module-level "
        "CASES list of harness.Case in tests/test_*.py): " + ", ".join(missing))


def test_recorder_sees_direct_calls_only():
    import numpy as np

    cases = [Case("conv", lambda x: np.convolve(x, [1.0, 2.0]), ((3,),)),
             Case("cross", lambda x: np.cross(x, [1.0, 0.0, 0.0]), ((3,),))]
    seen = exercised(cases)
    assert np.convolve in seen and np.cross in seen
    assert np.moveaxis not in seen and np.add not in seen and np.interp not in seen


def test_support_page_is_up_to_date():
    page = ROOT / "docs" / "support.md"
    assert page.exists(), "docs/support.md is missing: run python3 tools/support_table.py"
    assert page.read_text() == TOOL.render(), (
        "docs/support.md is stale: run python3 tools/support_table.py")


def test_support_page_lists_this_issue_functions():
    text = TOOL.render()
    for name in ("np.convolve", "np.correlate", "np.interp", "np.linalg.solve",
                 "np.linalg.lstsq", "np.cross", "linop.custom_linear"):
        assert f"`{name}`" in text or name in text, name
