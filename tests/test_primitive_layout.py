"""Where primitives live and what they declare: the rules of linop/primitives/__init__.py."""
import importlib
import pathlib
import pickle
import re

import pytest

import linop
import linop.batched.levels
import linop.batching
import linop.primitives
from linop.core import Primitive

PACKAGE = pathlib.Path(linop.primitives.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
FLAGS = ("returns_fresh", "returns_view", "real_linear")
#: Primitives of an interpretation rather than of the IR's vocabulary, by module.
OUTSIDE_PACKAGE = {"linop.core": {"zeros"}, "linop.batching": {"psum"},
                   "linop.batched.levels": {"batch_broadcast", "unbatch"}}


def _primitives_of(module) -> dict:
    """The primitive instances a module defines, by name."""
    return {v.name: v for v in vars(module).values()
            if isinstance(v, Primitive) and type(v).__module__ == module.__name__}


def _index() -> dict:
    """The package docstring's index: module stem -> primitive names."""
    rows = re.findall(r"^\s+(\w+)\.py\s+([a-z_]+(?:, [a-z_]+)*)", linop.primitives.__doc__, re.M)
    return {stem: set(names.split(", ")) for stem, names in rows}


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


@pytest.mark.parametrize("stem", MODULES)
def test_a_primitive_lives_in_the_module_named_for_it_or_its_family(stem):
    module = importlib.import_module(f"linop.primitives.{stem}")
    names = set(_primitives_of(module))
    assert names, f"linop/primitives/{stem}.py defines no primitive"
    assert _index().get(stem) == names, (
        f"the index in linop/primitives/__init__.py must list {stem}.py with {sorted(names)}")
    if len(names) == 1:
        assert names == {stem}, f"{stem}.py holds one primitive, {names.pop()}: name the module for it"


def test_the_index_lists_only_existing_modules():
    assert set(_index()) == set(MODULES)


def test_primitives_outside_the_package_are_the_interpretations_own():
    for module_name, names in OUTSIDE_PACKAGE.items():
        assert set(_primitives_of(importlib.import_module(module_name))) == names


def test_every_primitive_class_declares_its_flags():
    lacking = [f"{cls.__module__}.{cls.__qualname__}: {flag}"
               for cls in _subclasses(Primitive) if cls.__module__.startswith("linop.")
               for flag in FLAGS if flag not in vars(cls)]
    assert not lacking, "declare explicitly in the class body: " + ", ".join(lacking)


def _all_primitives():
    found = {}
    for stem in MODULES:
        found.update(_primitives_of(importlib.import_module(f"linop.primitives.{stem}")))
    for module_name in OUTSIDE_PACKAGE:
        found.update(_primitives_of(importlib.import_module(module_name)))
    return sorted(found.items())


@pytest.mark.parametrize("name,prim", _all_primitives(), ids=lambda v: v if isinstance(v, str) else "")
def test_primitives_pickle_as_themselves(name, prim):
    assert pickle.loads(pickle.dumps(prim)) is prim
