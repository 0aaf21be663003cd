"""Every public name has a docstring and an entry in the API reference (the build: test_docs_build.py)."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import types
from pathlib import Path

import pytest

import linop

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
SCIPY_MIRRORS = ["fft", "ndimage", "signal", "linalg", "sparse", "sparse.linalg"]


def _modules():
    for info in pkgutil.walk_packages(linop.__path__, "linop."):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def _public_objects():
    for module in _modules():
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{module.__name__}.{name}", obj
                if inspect.isclass(obj):
                    for mname, member in vars(obj).items():
                        if mname.startswith("_") or not inspect.isfunction(member):
                            continue
                        if any(mname in vars(base) for base in obj.__mro__[1:]):
                            continue  # an override documented by its base (e.g. Primitive rules)
                        yield f"{module.__name__}.{name}.{mname}", member


def test_every_public_function_and_class_has_a_docstring():
    missing = [name for name, obj in _public_objects() if not (obj.__doc__ or "").strip()]
    assert not missing, "no docstring: " + ", ".join(sorted(missing))


# -- the API reference -------------------------------------------------------------------------
def _exported(module_name: str) -> list:
    """``module.name`` for every name of ``module.__all__`` that is not itself a module."""
    module = importlib.import_module(module_name)
    return [f"{module_name}.{n}" for n in module.__all__
            if not isinstance(getattr(module, n), types.ModuleType)]


def public_names() -> set:
    """Every name the reference must have an entry for."""
    names = set(_exported("linop"))
    for module in ["linop.testing", "linop.solvers"] + [f"linop.scipy.{m}" for m in SCIPY_MIRRORS]:
        names.update(_exported(module))
    errors = importlib.import_module("linop.errors")
    for name, obj in vars(errors).items():
        if (inspect.isclass(obj) and issubclass(obj, BaseException) and not name.startswith("_")
                and obj.__module__ == "linop.errors" and f"linop.{name}" not in names):
            names.add(f"linop.errors.{name}")
    return names


def reference_entries(text: str) -> tuple:
    """(autosummary entries, other ``linop.x`` literals) of a reference page, as full names."""
    entries, module, in_summary = set(), None, False
    for line in text.splitlines():
        if m := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = m.group(1)
        if line.startswith(".. autosummary::"):
            in_summary = True
        elif in_summary and line.strip() and not line.startswith("   "):
            in_summary = False
        elif in_summary and (m := re.fullmatch(r"   ([\w.]+)\s*", line)):
            entries.add(f"{module}.{m.group(1)}")
    return entries, set(re.findall(r"``(linop(?:\.\w+)+)``", text))


def reference_entries_of_all_pages():
    """(autosummary entries, ``linop.x`` literals) of every page under docs/reference/."""
    entries, literals = set(), set()
    for page in REFERENCE.glob("*.rst"):
        e, lit = reference_entries(page.read_text())
        entries |= e
        literals |= lit
    return entries, literals


def test_the_entry_parser_reads_autosummary_blocks():
    text = (".. currentmodule:: linop\n\n.. autosummary::\n   :toctree: generated\n\n"
            "   trace\n   vmap\n\nSee ``linop.scipy.fft.fftfreq``.\n   indented\n")
    assert reference_entries(text) == ({"linop.trace", "linop.vmap"}, {"linop.scipy.fft.fftfreq"})


def test_every_public_name_has_an_entry_in_the_reference():
    entries, literals = reference_entries_of_all_pages()
    missing = sorted(public_names() - entries - literals)
    assert not missing, ("no entry in docs/reference/*.rst (add it to the autosummary list of its "
                         "module's page): " + ", ".join(missing))


def test_reference_entries_name_real_objects():
    entries, literals = reference_entries_of_all_pages()
    unknown = []
    for name in sorted(entries | literals):
        module, _, attr = name.rpartition(".")
        try:
            getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            unknown.append(name)
    assert not unknown, "reference entries that do not exist: " + ", ".join(unknown)


def test_every_reference_page_is_in_the_api_toctree():
    toctree = (DOCS / "api.md").read_text()
    assert all(f"reference/{p.stem}" in toctree for p in REFERENCE.glob("*.rst"))


# -- the README --------------------------------------------------------------------------------
def test_readme_has_the_commands():
    readme = (ROOT / "README.md").read_text()
    assert "python -m pip install . && python -m linop demo" in readme
    assert 'python -m pip install ".[test]" && python -m pytest -n auto --dist loadscope\n' in readme
    assert 'python -m pip install ".[docs]" && python -m sphinx -W -b html docs docs/_build/html' in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -q ".[test]" && python -m pytest -n auto --dist loadscope\n' in ci


def test_the_docs_extra_installs_what_the_build_needs():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    needed = {"sphinx", "myst-parser", "numpydoc", "pydata-sphinx-theme", "sphinx-gallery",
              "matplotlib"}
    for extra in ("docs", "test"):  # the test suite builds the docs
        names = {re.split(r"[<>=\[ ]", req)[0] for req in extras[extra]}
        assert needed <= names, f"extra {extra!r} lacks {sorted(needed - names)}"
