"""linop's imports point downward only: no import cycle, function-local imports included.

The graph is read from the source (``ast``), so an import inside a function counts as
much as one at the top of a module. Only edges between linop's own modules count.
"""
import ast
import pathlib
import re

import pytest

import linop

PACKAGE = pathlib.Path(linop.__file__).parent
#: The largest import cycle allowed (in modules).
MAX_CYCLE = 0


def _modules(package: pathlib.Path = PACKAGE) -> dict:
    """Dotted module name -> path, for every module of ``package`` (a package directory)."""
    found = {}
    for path in package.rglob("*.py"):
        parts = (package.name,) + path.relative_to(package).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imported(module: str, path: pathlib.Path, node, modules: dict) -> list:
    """The package's modules one import statement of ``module`` names.

    ``from pkg import name`` (also ``from . import name`` at the package root) is an edge to the
    submodule ``pkg.name`` when there is one, else to ``pkg`` itself: the name is an attribute its
    ``__init__`` defines, so the import needs that ``__init__`` to have run.
    """
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        if node.level:
            package = package[:len(package) - node.level + 1]
        head = ".".join(package + [node.module] if node.module else package) if node.level \
            else node.module
        targets = [f"{head}.{alias.name}" if f"{head}.{alias.name}" in modules else head
                   for alias in node.names]
    resolved = []
    for target in targets:
        while target not in modules and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in modules and target != module:
            resolved.append(target)
    return resolved


def import_graph(package: pathlib.Path = PACKAGE) -> dict:
    """Module -> the set of ``package``'s modules it imports (anywhere in its source)."""
    modules = _modules(package)
    graph = {}
    for module, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(_imported(module, path, node, modules))
        graph[module] = edges
    return graph


def import_cycles(package: pathlib.Path = PACKAGE) -> list:
    """The import cycles of ``package`` (sets of modules), largest first."""
    cycles = [c for c in strongly_connected(import_graph(package)) if len(c) > 1]
    return sorted(cycles, key=len, reverse=True)


def strongly_connected(graph: dict) -> list:
    """The strongly connected components of ``graph`` (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def test_the_import_graph_has_no_cycle():
    cycles = import_cycles()
    largest = cycles[0] if cycles else set()
    assert len(largest) <= MAX_CYCLE, (
        f"{len(cycles)} import cycle(s); the largest has {len(largest)} modules: "
        f"{', '.join(sorted(largest))}")


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert sorted(map(sorted, strongly_connected(graph))) == [["a", "b", "c"], ["d"], ["e"]]


def test_function_local_imports_count():
    graph = import_graph()
    assert "linop.scipy.sparse" in graph["linop.scipy"]  # imported inside functions only


def test_the_package_roots_own_imports_count():
    assert {"linop.tracing", "linop.api", "linop.operator"} <= import_graph()["linop"]


def _fake_package(root: pathlib.Path, files: dict) -> pathlib.Path:
    """Write ``files`` (relative path -> source) as a package ``fake`` under ``root``."""
    package = root / "fake"
    for name, source in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(source)
    return package


#: fake/__init__.py re-exports tracing.trace; tracing imports core; core's import line varies.
_ROOT_FILES = {"__init__.py": "from .tracing import trace\n",
               "tracing.py": "from .core import bind\n\ndef trace():\n    return bind\n",
               "leaf.py": "VALUE = 1\n",
               "sub/__init__.py": ""}


@pytest.mark.parametrize("core_import,cycle", [
    ("from . import trace", {"fake", "fake.tracing", "fake.core"}),
    ("from fake import trace", {"fake", "fake.tracing", "fake.core"}),
    ("import fake", {"fake", "fake.tracing", "fake.core"}),
    ("from . import leaf", None),  # a submodule, not the package's __init__
    ("from .sub import nothing", None),
])
def test_imports_through_the_package_root_are_edges_to_its_init(tmp_path, core_import, cycle):
    package = _fake_package(tmp_path, dict(
        _ROOT_FILES, **{"core.py": f"def bind():\n    {core_import}\n    return 0\n"}))
    assert import_cycles(package) == ([cycle] if cycle else [])


def test_relative_imports_of_the_root_from_a_subpackage_count(tmp_path):
    package = _fake_package(tmp_path, dict(
        _ROOT_FILES, **{"core.py": "from .sub.deep import helper\n\ndef bind():\n    return 0\n",
                        "sub/deep.py": "def helper():\n    from .. import trace\n"}))
    assert import_cycles(package) == [{"fake", "fake.tracing", "fake.core", "fake.sub.deep"}]


def _below(module: str, allowed: tuple) -> list:
    """The imports of ``module`` (and of its submodules) outside the ``allowed`` prefixes."""
    graph = import_graph()
    return sorted(f"{m} -> {t}" for m, targets in graph.items()
                  if m == module or m.startswith(module + ".")
                  for t in targets
                  if not any(t == a or t.startswith(a + ".") for a in allowed + (module,)))


@pytest.mark.parametrize("module,allowed", [
    ("linop.core", ("linop.errors", "linop.pytree", "linop.snapshots", "linop.ir")),
    ("linop.primitives", ("linop.errors", "linop.pytree", "linop.snapshots", "linop.ir",
                          "linop.core")),
    ("linop.transpose", ("linop.errors", "linop.pytree", "linop.ir", "linop.core",
                         "linop.primitives", "linop.passes")),
    ("linop.batching", ("linop.errors", "linop.pytree", "linop.ir", "linop.core",
                        "linop.primitives", "linop.passes")),
], ids=lambda v: v if isinstance(v, str) else "")
def test_lower_layers_import_only_below_them(module, allowed):
    assert not _below(module, allowed)


@pytest.mark.parametrize("module,forbidden", [
    ("linop.numpy_api", ("linop.foreign", "linop.tracing", "linop.api", "linop.scipy",
                         "linop.operator")),
    ("linop.tracing", ("linop.foreign", "linop.api", "linop.scipy", "linop.operator",
                       "linop.batched")),
], ids=lambda v: v if isinstance(v, str) else "")
def test_upper_layers_are_not_imported_from_below(module, forbidden):
    graph = import_graph()
    wrong = sorted(f"{m} -> {t}" for m, targets in graph.items()
                   if m == module or m.startswith(module + ".")
                   for t in targets if any(t == f or t.startswith(f + ".") for f in forbidden))
    assert not wrong


def _documented_order() -> list:
    """The top-level modules and packages in the order of docs/architecture.md's module table."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    return re.findall(r"^\| `linop/(\w+)(?:\.py|/)` \|", text, re.M)


def _layer(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_the_documented_pipeline_lists_every_module_once():
    order = _documented_order()
    assert len(order) == len(set(order))
    assert set(order) == {_layer(m) for m in import_graph()} - {"linop"}


def test_every_import_points_up_the_documented_pipeline():
    order = _documented_order()
    rank = {name: i for i, name in enumerate(order)}
    # The package root imports every layer; only the command line (``__main__``) uses it.
    rank["linop"] = rank["__main__"] - 0.5
    wrong = sorted(f"{m} -> {t}" for m, targets in import_graph().items() for t in targets
                   if m != "linop" and _layer(m) != _layer(t) and rank[_layer(t)] > rank[_layer(m)])
    assert not wrong, "imports of a module listed below the importer in docs/architecture.md"


def test_the_tracers_ndarray_methods_come_from_the_adapters_registry():
    import numpy as np

    from linop.numpy_api import METHODS, Tracer

    assert all(vars(Tracer).get(name) is impl for name, impl in METHODS.items())
    own = {name for name in vars(Tracer) if not name.startswith("_") and hasattr(np.ndarray, name)}
    attributes = {"shape", "size", "itemsize", "nbytes", "tolist", "item"}  # values, not NumPy calls
    assert own - set(METHODS) <= attributes, "ndarray methods written on Tracer, not registered"
