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
import sys
import threading

__all__ = ["CACHE_ENV", "cache_dir", "kernel_for", "COMPILE_LOCK"]

#: The environment variable that overrides the kernel cache directory.
CACHE_ENV = "LINOP_CACHE_DIR"
#: Part of every kernel's hash: changed when the conventions of the generated code change.
_CODEGEN_VERSION = "3"
#: Held while kernels are loaded or compiled (numba compiles one function at a time anyway).
COMPILE_LOCK = threading.RLock()
_KERNELS: dict = {}

_HEADER = """import numpy as np
import numba
"""
_DECORATOR = """

@numba.njit(cache={cache}, error_model="numpy", nogil=True{options})
"""
#: The marker of a kernel with a parallel loop (see :attr:`linop.fused.codegen.KernelSpec.parallel`).
_PARALLEL_LOOP = "numba.prange("


def cache_dir() -> pathlib.Path:
    """The directory that holds kernel sources and numba's cache of their machine code."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return pathlib.Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "linop" / "numba"


def kernel_for(source: str, parallel: bool = False):
    """The numba dispatcher of a kernel's source (one per distinct source in a process).

    With ``parallel`` it is the variant compiled with numba's ``parallel=True``, whose
    ``numba.prange`` loops run on several threads (the source must have one); else the
    serial one, in which a ``numba.prange`` is a plain loop. Nothing is compiled here.
    """
    import numba

    digest = hashlib.sha256(f"{_CODEGEN_VERSION}:{numba.__version__}:{source}".encode()).hexdigest()[:24]
    with COMPILE_LOCK:
        found = _KERNELS.get(digest)
        if found is None:
            found = _KERNELS[digest] = _load(digest, source)
    if parallel and "kernel_parallel" not in found:
        raise ValueError("kernel_for(parallel=True) needs a kernel source with a parallel loop")
    return found["kernel_parallel" if parallel else "kernel"]


def _module_text(source: str, cache: bool) -> str:
    """The kernel's module: ``kernel``, and ``kernel_parallel`` when it has a parallel loop
    (a function of its own: numba's disk cache tells functions apart by name, not by options)."""
    text = _HEADER + _DECORATOR.format(cache=cache, options="") + source
    if _PARALLEL_LOOP in source:
        variant = source.replace("def kernel(", "def kernel_parallel(", 1)
        text += _DECORATOR.format(cache=cache, options=", parallel=True") + variant
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
