"""Compiled kernels: one numba dispatcher per distinct kernel source, in memory and on disk.

numba caches a compiled function only when it has a real source file, so each kernel's
source is written once into the cache directory, named by a hash of the source (and of
the numba and codegen versions), and imported from there with ``cache=True``: a new
process that meets a kernel it has seen loads the machine code instead of compiling.
The directory is ``$LINOP_CACHE_DIR`` when set, else ``linop/numba`` under the user's
cache directory (``$XDG_CACHE_HOME`` or ``~/.cache``). Where it cannot be written the
kernel is compiled in memory only.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import pathlib
import re
import sys
import threading

__all__ = ["CACHE_ENV", "cache_dir", "kernel_for", "splittable", "COMPILE_LOCK"]

#: The environment variable that overrides the kernel cache directory.
CACHE_ENV = "LINOP_CACHE_DIR"
#: Part of every kernel's hash: changed when the conventions of the generated code change.
_CODEGEN_VERSION = "5"
#: Held while kernels are loaded or compiled (numba compiles one function at a time anyway).
COMPILE_LOCK = threading.RLock()
_KERNELS: dict = {}

_HEADER = """import numpy as np
import numba
"""
#: ``no_cfunc_wrapper``: kernels are called from Python only, never passed to compiled code
#: as first-class functions, so numba need not build that second wrapper (4% of the
#: compilation time of a program of 11 kernels).
_DECORATOR = """

@numba.njit(cache={cache}, error_model="numpy", nogil=True, no_cfunc_wrapper=True{options})
"""
#: The marker of a kernel with a parallel loop (see :attr:`linop.fused.codegen.KernelSpec.parallel`).
_PARALLEL_LOOP = "numba.prange("
#: A parallel loop that is a top-level statement of a kernel.
_OUTER_PARALLEL_LOOP = re.compile(r"^    for (\w+) in numba\.prange\((.+)\):$")


def cache_dir() -> pathlib.Path:
    """The directory that holds kernel sources and numba's cache of their machine code."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return pathlib.Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "linop" / "numba"


def kernel_for(source: str, parallel: bool = False, part: bool = False):
    """The numba dispatcher of a kernel's source (one per distinct source in a process).

    With ``parallel`` it is the variant compiled with numba's ``parallel=True``, whose
    ``numba.prange`` loops run on several threads (the source must have one); with
    ``part`` the variant ``kernel_part(..., P, T, K, N)`` that runs the ``K``-th of ``N``
    equal parts of the iterations of the kernel's parallel loop (the source must be
    :func:`splittable`); else the serial one, in which a ``numba.prange`` is a plain loop.
    Nothing is compiled here.
    """
    import numba

    digest = hashlib.sha256(f"{_CODEGEN_VERSION}:{numba.__version__}:{source}".encode()).hexdigest()[:24]
    with COMPILE_LOCK:
        found = _KERNELS.get(digest)
        if found is None:
            found = _KERNELS[digest] = _load(digest, source)
    if parallel and "kernel_parallel" not in found:
        raise ValueError("kernel_for(parallel=True) needs a kernel source with a parallel loop")
    if part:
        if "kernel_part" not in found:
            raise ValueError("kernel_for(part=True) needs a splittable kernel source")
        return found["kernel_part"]
    return found["kernel_parallel" if parallel else "kernel"]


def splittable(source: str) -> bool:
    """Whether the kernel's iterations may run in parts, one call per part (at once, in
    several threads): its only parallel loop is its last top-level statement, so that
    the parts write disjoint elements and nothing else runs after them."""
    return _part_variant(source) is not None


def _part_variant(source: str):
    """``kernel_part``'s source (see :func:`kernel_for`), or None when not :func:`splittable`."""
    if source.count(_PARALLEL_LOOP) != 1:
        return None
    lines = source.rstrip("\n").split("\n")
    top = [k for k, line in enumerate(lines) if line.startswith("    ") and line[4] != " "]
    found = _OUTER_PARALLEL_LOOP.match(lines[top[-1]]) if top else None
    if found is None or not lines[0].endswith(", P, T):"):
        return None
    index, count = found.groups()
    lines[top[-1]] = f"    for {index} in range(K * ({count}) // N, (K + 1) * ({count}) // N):"
    lines[0] = lines[0].replace("def kernel(", "def kernel_part(", 1)[:-len("P, T):")] + "P, T, K, N):"
    return "\n".join(lines) + "\n"


def _module_text(source: str, cache: bool) -> str:
    """The kernel's module: ``kernel``, and ``kernel_parallel`` when it has a parallel loop
    (a function of its own: numba's disk cache tells functions apart by name, not by options)."""
    text = _HEADER + _DECORATOR.format(cache=cache, options="") + source
    if _PARALLEL_LOOP in source:
        variant = source.replace("def kernel(", "def kernel_parallel(", 1)
        text += _DECORATOR.format(cache=cache, options=", parallel=True") + variant
    part = _part_variant(source)
    if part is not None:
        text += _DECORATOR.format(cache=cache, options="") + part
    return text


def _load(digest: str, source: str) -> dict:
    try:
        return _import_from_file(digest, source)
    except OSError:
        namespace: dict = {}
        exec(compile(_module_text(source, cache=False), f"<linop kernel {digest}>", "exec"), namespace)
        return namespace


def _import_from_file(digest: str, source: str):
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"kernel_{digest}.py"
    if not path.exists():
        # Written under a temporary name and renamed, so no process imports a partial file;
        # never rewritten, since numba's cache checks the source file's time stamp.
        partial = directory / f".kernel_{digest}.{os.getpid()}.{threading.get_ident()}.tmp"
        partial.write_text(_module_text(source, cache=True))
        os.replace(partial, path)
    name = f"linop_kernel_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    # numba's cache finds the function's module by name when it loads machine code
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return vars(module)
