"""Every public name has a docstring and a line in the docs."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import linop

DOCS = Path(__file__).resolve().parent.parent / "docs"


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


def test_every_exported_name_is_in_the_docs():
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    missing = [name for name in linop.__all__ if f"linop.{name}" not in text]
    assert not missing, "not documented in docs/: " + ", ".join(missing)


def test_readme_has_the_two_commands():
    readme = (DOCS.parent / "README.md").read_text()
    assert "python -m pip install . && python -m linop demo" in readme
    assert 'python -m pip install ".[test]" && python -m pytest' in readme
    ci = (DOCS.parent / ".ci" / "run").read_text()
    assert 'pip install -q ".[test]" && python -m pytest' in ci
