"""The fused executor (``"numba"``) and the choosing one (``"auto"``), registered in :mod:`linop.ir`.

A fused plan is straight-line Python over the program's steps
(:func:`linop.fused.regions.partition`): each value a region stores is one call of its
numba kernel (a region that stores only its output is one call), every other equation
one call of its primitive's ``impl`` (FFTs, dense contractions,
sparse products run in NumPy/SciPy). Kernels are compiled when the plan is made, for the
dtypes and ranks of the program (the serial variant of a parallel kernel when it first
runs); any failure to compile gives the NumPy plan instead, with one
:class:`~linop.errors.FusedExecutorWarning` per program, at the user's line. Large kernels
may run on several threads (:class:`ParallelCall`, :data:`PARALLEL_MIN_ELEMENTS`). Plans
hold no mutable state but the timings that choose between a kernel's serial and parallel
variants (which compute the same), and the kernels release the GIL, so one plan may run in
several threads at once. Outputs are fresh arrays. A library call that may write its result
into its input (``overwrite_impl``: complex FFTs) does so when that input is a buffer the
plan made in the same run, not a view, that no later step reads, nor any value that may
share its memory (no allocation of a result). A plan with a large library call that can run
on several threads (``threaded_impl``: FFTs) is made twice, once with that call on one
thread and its kernels as above, once with the call on all threads and its large kernels
split into parts on Python threads (:class:`SplitCall`); which of the two runs is measured
per plan (:class:`ThreadedLibraryChoice`).

``"auto"`` runs the NumPy executor unless the program is *worth compiling*: numba is
installed, the fusible equations write at least :data:`AUTO_MIN_ELEMENTS` elements per
call and some region merges two or more equations; then it runs the NumPy executor until
the program has spent :data:`AUTO_MIN_SECONDS` in it, and the fused plan from then on (so
a compilation costs at most about what the program has already run: a short solve never
pays for one; a kernel seen before loads from the disk cache).
Programs with :data:`AUTO_MAX_SLICE_WRITES` or more writes into parts of an array (a
loop of ``y[i] = ...``) stay with the NumPy executor, which runs such chains in place
in one buffer without a compilation (the fused executor runs such chains in place too,
see :data:`linop.fused.regions.MIN_UPDATE_CHAIN`, when it is chosen).
"""
from __future__ import annotations

import concurrent.futures
import functools
import importlib.util
import itertools
import os
import threading
import time

import numpy as np

from ..errors import ExecutorError, FusedExecutorWarning, LinopError, user_location, warn_at_user
from ..execute import compile_plan, conform, run_flat as run_numpy
from ..core import Primitive
from ..ir import EXECUTORS, Program, register_executor
from ..passes import fuse_for_execution, reshape_before_elementwise
from .cache import COMPILE_LOCK, kernel_for, splittable
from .codegen import kernel_source
from .regions import Region, fused_elements, partition, stored_values

__all__ = ["FusedPlan", "fused_plan", "plan_for", "run_fused", "run_auto", "check_executor",
           "numba_installed", "AUTO_MIN_ELEMENTS", "AUTO_MIN_SECONDS", "AUTO_MAX_SLICE_WRITES", "slice_writes", "EXECUTOR_NAMES",
           "PARALLEL_MIN_ELEMENTS", "PARALLEL_ENV", "parallel_enabled", "ParallelCall",
           "TimedChoice", "ThreadedLibraryChoice", "SplitCall", "library_threads",
           "LazyCompileError"]

#: The executors a program can be run with.
EXECUTOR_NAMES = ("numpy", "numba", "auto")
#: ``"auto"`` compiles a program whose fusible equations write at least this many elements.
AUTO_MIN_ELEMENTS = 1 << 16
#: ``"auto"`` compiles a program once it has run this many seconds with NumPy.
AUTO_MIN_SECONDS = 0.5
#: ``"auto"`` keeps programs with this many slice writes or more on the NumPy executor.
AUTO_MAX_SLICE_WRITES = 8
#: A kernel that writes at least this many elements may run its outer loop on all of
#: numba's threads (when its loops allow; :class:`ParallelCall` measures whether that is
#: faster); a smaller one runs on one thread. On 2 cores a 2-D stencil of 2^16 elements
#: ran 1.8x faster on both (idle cores), of 2^14 elements 2.8x slower (busy ones); the
#: parallel variant costs a compilation of its own (a few tenths of a second).
PARALLEL_MIN_ELEMENTS = 1 << 17
#: The environment variable that turns parallel loops off (``0``) for plans made afterwards.
PARALLEL_ENV = "LINOP_FUSED_PARALLEL"


@functools.cache
def numba_installed() -> bool:
    """Whether numba can be imported (the extra ``linop[fast]``); does not import it."""
    return importlib.util.find_spec("numba") is not None


def check_executor(name, what: str = "executor") -> str:
    """``name`` if it names a usable executor, else a clear :class:`~linop.errors.ExecutorError`."""
    if not isinstance(name, str) or name not in EXECUTORS:
        known = ", ".join(repr(n) for n in EXECUTORS)
        raise ExecutorError(f"{what}={name!r} at {user_location()} is not an executor: use one "
                            f"of {known}")
    if name == "numba" and not numba_installed():
        raise ExecutorError(f"{what}='numba' at {user_location()} needs numba, which is not "
                            "installed: "
                            "pip install \"linop[fast]\" (or use executor='auto', which falls "
                            "back to NumPy)")
    return name


class FusedPlan:
    """A program compiled into numba kernels and library calls: ``plan.run(*arrays)`` gives the outputs.

    Parameters
    ----------
    program : Program
    """

    def __init__(self, program: Program):
        self.program = program
        # The rewrites the NumPy executor runs with, after moving reshapes before element-wise
        # steps (a kernel then reads a reshaped input through a view, see Kernel.view).
        program = fuse_for_execution(reshape_before_elementwise(program))
        self.steps = partition(program)
        driver = _Driver(program, self.steps)
        self.source, namespace = driver.generate()
        #: The numba dispatcher of each kernel call, in call order (equal structures share one).
        self.kernels = driver.kernels
        #: The :class:`ParallelCall` of each kernel that may run on several threads.
        self.parallel_calls = driver.parallel_calls
        #: The names of the plan's own buffers that library calls overwrite with their
        #: results (``overwrite_impl``: each is dead after that call).
        self.overwritten = driver.overwritten
        exec(compile(self.source, "<linop fused plan>", "exec"), namespace)
        #: Whether a kernel compiled at its first call did not compile, so that ``run``
        #: runs with the NumPy executor (see :meth:`fall_back`).
        self.fell_back = False
        if self.parallel_calls:  # their serial variants compile when they first run
            self._namespace, self._fallback_lock = namespace, threading.Lock()
            namespace.update(_fused=namespace["_plan"], _lazy=LazyCompileError,
                             _fall_back=self.fall_back)
            exec(compile(_FALLING_BACK, "<linop fused plan>", "exec"), namespace)
        #: ``run(*arrays)``: the list of outputs (no checks: inputs must match the program).
        self.run = namespace["_plan"]
        #: The :class:`ThreadedLibraryChoice` that ``run`` is, when the plan has large
        #: library calls that may run on several threads; else ``None``.
        self.library_choice = None
        threads = library_threads(program)
        if threads > 1:
            threaded = _threaded_run(program, self.steps, threads)
            if threaded is not None:
                self.run = self.library_choice = ThreadedLibraryChoice(self.run, threaded)

    def __call__(self, args: list) -> list:
        return self.run(*args)

    def fall_back(self, error, arrays) -> list:
        """The outputs of a call in which a kernel compiled at its first call (the serial
        variant of a :class:`ParallelCall`) did not compile (``error``): the NumPy
        executor's, for this call and the later ones, with one warning (the plan writes
        no input, so the call starts again from its inputs). The threaded variant of a
        :class:`ThreadedLibraryChoice` compiles all of its kernels when the plan is made."""
        with self._fallback_lock:
            if not self.fell_back:
                _warn_numpy_fallback(error.__cause__ or error)
                self._namespace["_fused"] = compile_plan(self.program).run
                self.fell_back = True
        return self._namespace["_fused"](*arrays)


#: The ``run`` of a plan with kernels compiled at their first call (see FusedPlan.fall_back).
_FALLING_BACK = """
def _plan(*arrays):
    try:
        return _fused(*arrays)
    except _lazy as error:
        return _fall_back(error, arrays)
"""


class LazyCompileError(LinopError):
    """A kernel compiled at its first call (a :class:`ParallelCall`'s serial variant) did not
    compile; its plan catches it and runs with the NumPy executor (the error is the cause)."""


class _Driver:
    """The plan's Python source: one line per step, intermediates deleted after their last use.

    With ``library_workers`` > 1, large ``threaded_impl`` library calls run on that many
    threads, and so do large kernels, in parts (:class:`SplitCall`) rather than with numba's
    parallel loops (see :class:`ThreadedLibraryChoice`).
    """

    def __init__(self, program: Program, steps, library_workers: int = 1):
        self.program, self.steps = program, steps
        self.library_workers = library_workers
        self.namespace: dict = {"_c": np.ascontiguousarray, "_fresh": _fresh_output,
                                "_copy": np.array}
        self.names: dict = {}
        self.contiguous: set = set()
        #: name -> the plan's own buffer it is (a view of): outputs there need no copy
        self.owner: dict = {}
        #: var id -> the plan's own buffers a library step's result may share memory with
        self.shares: dict = {}
        #: var id -> the index of the last step that reads it (outputs: past the end)
        self.last_read: dict = {}
        self.step = 0
        self.kernels: list = []
        self.parallel_calls: list = []
        #: the names of the buffers that library calls overwrite (``overwrite_impl``)
        self.overwritten: list = []
        self.lines: list = []
        self._count = itertools.count()

    def bind(self, value) -> str:
        name = f"k{next(self._count)}"
        self.namespace[name] = value
        return name

    def region(self, region: Region) -> None:
        stored = stored_values(region)
        for eqn in region.eqns:
            if eqn.out.id not in stored:
                continue
            if eqn.prim.returns_view and all(v.id in self.names for v in eqn.inputs):
                self.equation(eqn)  # a view (a reshape) of an array: NumPy makes it, no copy
            else:
                self.kernel_call(kernel_source(region, stored, eqn), eqn.out, _loop_size(eqn))

    def kernel_call(self, spec, out, size: int) -> None:
        """A call of the kernel ``spec`` that writes ``out`` in loops of ``size`` iterations."""
        kernel = call = kernel_for(spec.source)
        large = spec.parallel and size >= PARALLEL_MIN_ELEMENTS and parallel_enabled()
        if large and self.library_workers > 1 and splittable(spec.source):
            kernel = kernel_for(spec.source, part=True)
            _compile(kernel, spec, parts=True)
            call = SplitCall(kernel, self.library_workers)
        elif large and self.library_workers == 1:
            kernel, call = _parallel_kernel(spec)
            if call is not kernel:
                self.parallel_calls.append(call)
        else:
            _compile(kernel, spec)
        self.kernels.append(kernel)
        args = [self.names[v.id] if v.id in self.contiguous else f"_c({self.names[v.id]})"
                for v in spec.inputs]
        used = {self.names[v.id] for v in spec.inputs}
        buffers = []
        for aval, zeros, flat in spec.buffers:
            name = f"w{next(self._count)}"
            shape = (max(aval.size, 1),) if flat else (aval.shape or (1,))
            fill = self.bind(np.zeros if zeros else np.empty)
            self.lines.append((f"{name} = {fill}({shape!r}, {self.bind(aval.dtype)})", {name}))
            buffers.append(name)
        args += buffers + [self.bind(c) for c in spec.consts] + [self.bind(spec.ints),
                                                                 self.bind(spec.table)]
        self.lines.append((f"{self.bind(call)}({', '.join(args)})", used | set(buffers)))
        name = self.new_name(out)
        aval, _, flat = spec.buffers[spec.output]
        view = f".reshape({aval.shape!r})" if flat or not aval.shape else ""
        self.lines.append((f"{name} = {buffers[spec.output]}{view}", {name, buffers[spec.output]}))
        self.owner[name] = name
        if aval.shape:  # a 0-d value is passed to kernels as one element: _c makes it 1-d
            self.contiguous.add(out.id)

    def equation(self, eqn) -> None:
        """A library step: the primitive's ``emit`` expression, as the NumPy executor writes it."""
        ins = [self.names[v.id] for v in eqn.inputs]
        consumed = self.consumable(eqn, ins)
        extra = {"overwrite_x": True} if consumed else {}
        if self.library_workers > 1 and _threaded_library_call(eqn):
            extra["workers"] = self.library_workers
        if extra:
            impl = functools.partial(eqn.prim.impl, **extra, **eqn.params)
            expr = f"{self.bind(impl)}({', '.join(ins)})"
        else:
            expr = eqn.prim.emit(ins, [v.aval for v in eqn.inputs], self.bind, **eqn.params)
        if expr is None:
            impl = functools.partial(eqn.prim.impl, **eqn.params) if eqn.params else eqn.prim.impl
            expr = f"{self.bind(impl)}({', '.join(ins)})"
        out = self.new_name(eqn.out)
        self.lines.append((f"{out} = {expr}", set(ins) | {out}))
        if consumed:  # the result is in the consumed buffer, or in a new array
            self.overwritten.append(ins[0])
            self.owner[out] = out
        elif eqn.prim.returns_fresh and eqn.out.aval.shape:  # 0-d results may be NumPy scalars
            self.owner[out] = out
        else:
            self.shares[eqn.out.id] = frozenset().union(
                *({self.owner[n]} if n in self.owner else set() for n in ins),
                *(self.shares.get(v.id, frozenset()) for v in eqn.inputs))
            if eqn.prim.returns_view and len(ins) == 1 and ins[0] in self.owner:
                self.owner[out] = self.owner[ins[0]]

    def consumable(self, eqn, ins) -> bool:
        """Whether ``eqn`` may overwrite its first input (``overwrite_impl``): a buffer of the
        plan's own (not a view of one) that no later step reads, nor any value that may
        share its memory (a view, or a library result that may be its input)."""
        if not eqn.prim.overwrite_impl or not ins or ins.count(ins[0]) > 1:
            return False
        x = ins[0]
        if self.owner.get(x) != x or self.last_read.get(eqn.inputs[0].id, -1) > self.step:
            return False
        return not any(x in buffers and self.last_read.get(var, -1) > self.step
                       for var, buffers in self.shares.items())

    def new_name(self, var) -> str:
        name = self.names[var.id] = f"v{next(self._count)}"
        return name

    def generate(self):
        args = []
        for k, v in enumerate(self.program.invars):
            self.names.setdefault(v.id, f"a{k}")
            args.append(f"a{k}")
        self.last_read = _last_reads(self.program, self.steps)
        for self.step, step in enumerate(self.steps):
            self.region(step) if isinstance(step, Region) else self.equation(step)
        results, seen = [], set()
        for v in self.program.outvars:
            name = self.names[v.id]
            owner = self.owner.get(name)
            if name in seen or (owner is not None and owner in seen):
                results.append(f"_copy({name})")
            elif owner is not None:
                results.append(name)  # the plan's own buffer, returned once
            else:
                results.append(f"_fresh({name}, ({', '.join(args)}{',' if len(args) == 1 else ''}))")
            seen.update({name, owner} - {None})
        keep = set(args) | {self.names[v.id] for v in self.program.outvars}
        body = _with_deletes(self.lines, keep) or ["    pass"]
        source = (f"def _plan({', '.join(args)}):\n" + "\n".join(body)
                  + f"\n    return [{', '.join(results)}]\n")
        return source, self.namespace


def _threaded_run(program: Program, steps, threads: int):
    """The plan's ``run`` with its large library calls on ``threads`` threads (see
    :class:`ThreadedLibraryChoice`), or None, with one warning, when a kernel part does
    not compile (the plan then keeps its library calls on one thread)."""
    try:
        source, namespace = _Driver(program, steps, library_workers=threads).generate()
    except Exception as error:  # numba rejects a part variant: the plain variant runs alone
        _warn_compile_failure("a kernel in parts for", error,
                              "its library calls run on one thread instead, with the same results",
                              f"set {PARALLEL_ENV}=0 to run them so without this warning")
        return None
    exec(compile(source, "<linop fused plan, threaded library calls>", "exec"), namespace)
    return namespace["_plan"]


def _last_reads(program: Program, steps) -> dict:
    """var id -> the index of the last of ``steps`` that reads it; outputs: ``len(steps)``."""
    last = {}
    for k, step in enumerate(steps):
        for v in step.inputs:
            last[v.id] = k
    last.update((v.id, len(steps)) for v in program.outvars)
    return last


def _loop_size(eqn) -> int:
    """How many iterations the kernel that stores ``eqn``'s output runs: one per output
    element, or, for a primitive with loops of its own (a sum), per element of its inputs."""
    if eqn.prim.fused_form != "loops":
        return eqn.out.aval.size
    return max([eqn.out.aval.size] + [v.aval.size for v in eqn.inputs])


def _with_deletes(lines, keep) -> list:
    last: dict = {}
    for k, (_, used) in enumerate(lines):
        for name in used:
            last[name] = k
    body = []
    for k, (text, used) in enumerate(lines):
        body.append(f"    {text}")
        dead = sorted(n for n in used if last[n] == k and n not in keep)
        if dead:
            body.append(f"    del {', '.join(dead)}")
    return body


def _compile(kernel, spec, parts: bool = False) -> None:
    """Compile ``kernel`` for the types the plan will pass (or load them from the disk cache);
    with ``parts``, its ``kernel_part`` variant (two more integers: the part and how many)."""
    import numba

    def array(aval, ndim):
        return numba.types.Array(numba.from_dtype(aval.dtype), ndim, "C")

    types = [array(v.aval, max(v.aval.ndim, 1)) for v in spec.inputs]
    types += [array(aval, 1 if flat else max(aval.ndim, 1)) for aval, _, flat in spec.buffers]
    types += [numba.typeof(c) for c in spec.consts] + [numba.typeof(spec.ints)] * 2
    types += [numba.int64] * 2 if parts else []
    with COMPILE_LOCK:
        kernel.compile(tuple(types))


def parallel_enabled() -> bool:
    """Whether plans made now may split large loops across threads: numba has more than
    one thread (``NUMBA_NUM_THREADS``) and :data:`PARALLEL_ENV` is not ``0``."""
    import numba

    return os.environ.get(PARALLEL_ENV, "1").strip() != "0" and numba.config.NUMBA_NUM_THREADS > 1


def _parallel_kernel(spec):
    """``(dispatcher, call)`` for a kernel run on several threads: its parallel variant,
    compiled now, and what the plan calls (a :class:`ParallelCall`). A parallel variant
    that does not compile gives the serial kernel, with one warning."""
    kernel = kernel_for(spec.source, parallel=True)
    try:
        _compile(kernel, spec)
    except Exception as error:  # numba's parallel passes reject the loop: the serial one runs it
        _warn_compile_failure("a parallel loop of", error,
                              "that loop runs on one thread instead, with the same results",
                              f"set {PARALLEL_ENV}=0 to run loops so without this warning")
        serial = kernel_for(spec.source)
        _compile(serial, spec)
        return serial, serial
    return kernel, ParallelCall(kernel, spec)


#: Held while a parallel kernel runs: numba's threading layers need not be reentrant
#: (``workqueue`` aborts on concurrent launches), so one runs at a time per process.
_PARALLEL_LOCK = threading.Lock()
_forked = False


def _after_fork_in_child() -> None:
    # OpenMP runtimes (numba's "omp" layer) may hang in a child forked after they started.
    global _forked
    _forked = True


if hasattr(os, "register_at_fork"):  # POSIX only; elsewhere no process forks
    os.register_at_fork(after_in_child=_after_fork_in_child)


class TimedChoice:
    """Which of two variants that compute the same results to run, from their measured times.

    Which one is faster depends on the load of the machine (a parallel loop waits for its
    slowest thread, and a busy core makes that thread late, by a scheduler's time slice:
    milliseconds), so the choice keeps the best recent time of each: the first calls
    alternate (variant 1 first), then the faster one runs, and the other one is timed
    again after :attr:`PROBE` calls, after twice as many each time it loses again (at
    most :attr:`MAX_PROBE`: a losing probe costs little). Counters updated by several
    threads at once may miss a count: that changes which variant runs, never a result.
    """

    __slots__ = ("calls", "best", "probe", "next_probe", "chosen")
    #: Calls before the variant not chosen is timed again (doubled each time it loses).
    PROBE = 32
    #: The longest interval between two timings of the variant not chosen.
    MAX_PROBE = 4096
    #: How much a best time is allowed to age (grow) per call of its variant: a change
    #: of load shows within some tens of calls.
    AGEING = 1.02

    def __init__(self):
        self.calls = 0
        self.best = [float("inf"), float("inf")]  # variant 0, variant 1
        self.probe, self.next_probe, self.chosen = self.PROBE, 4 + self.PROBE, 1

    def pick(self) -> int:
        """The variant (0 or 1) to run now; counts the call."""
        self.calls += 1
        if self.calls <= 4:
            return self.calls % 2
        faster = int(self.best[1] <= self.best[0])
        if faster != self.chosen:  # the last probe won, or the chosen one slowed down
            self.chosen, self.probe = faster, self.PROBE
        if self.calls < self.next_probe:
            return faster
        self.probe = min(2 * self.probe, self.MAX_PROBE)
        self.next_probe = self.calls + self.probe
        return 1 - faster

    def record(self, k: int, seconds: float) -> None:
        """Keep ``seconds`` as variant ``k``'s best time if it is (its old best aged a little)."""
        self.best[k] = min(self.best[k] * self.AGEING, seconds)


class ParallelCall(TimedChoice):
    """Runs a kernel on several threads, or on one where that is faster now.

    Both variants write the same elements with the same arithmetic, so results are
    identical whichever runs; :class:`TimedChoice` (variant 0 serial, 1 parallel) picks
    one per call. The serial variant also runs while another thread runs a parallel
    kernel, and in a forked child; it is compiled when first needed.

    Parameters
    ----------
    parallel : numba dispatcher
        The kernel's ``kernel_parallel`` variant, compiled.
    spec : KernelSpec
        The kernel's source and argument types (to compile the serial variant).
    """

    __slots__ = ("parallel", "spec", "serial")

    def __init__(self, parallel, spec):
        super().__init__()
        self.parallel, self.spec, self.serial = parallel, spec, None

    def __call__(self, *args):
        if self.pick() == 1 and not _forked and _PARALLEL_LOCK.acquire(blocking=False):
            try:
                self.timed(1, self.parallel, args)
            finally:
                _PARALLEL_LOCK.release()
            return
        self.timed(0, self.serial or self.serial_kernel(), args)

    def timed(self, k: int, kernel, args) -> None:
        """Run ``kernel`` (variant ``k``: 0 serial, 1 parallel) and keep its best time."""
        start = time.perf_counter()
        kernel(*args)
        self.record(k, time.perf_counter() - start)

    def serial_kernel(self):
        """The serial variant, compiled (or loaded from the disk cache) on first use; a
        :class:`LazyCompileError` when it does not compile."""
        try:
            serial = kernel_for(self.spec.source)
            _compile(serial, self.spec)
        except Exception as error:  # the plan falls back to NumPy (FusedPlan.fall_back)
            raise LazyCompileError(
                f"the serial variant of a kernel did not compile: {error}") from error
        self.serial = serial
        return serial


class ThreadedLibraryChoice(TimedChoice):
    """A plan run either with its large library calls on one thread (variant 0, its kernels
    chosen by their :class:`ParallelCall`) or on several, its large kernels too, in parts
    on Python threads (variant 1, :class:`SplitCall`).

    The choice is per plan, not per call, because numba's parallel loops and a library's
    threads interfere: after a parallel loop, numba's OpenMP threads keep spinning for a
    while, and a library call that starts threads of its own then shares the cores with
    them (an 8x256^2 FFT on two threads ran 2.5 ms after an idle moment, 5 ms after a
    parallel loop, as on one thread). Python's idle threads sleep. Both variants compute
    the same results.

    Parameters
    ----------
    plain, threaded : callable
        ``run(*arrays)`` of the two variants.
    """

    __slots__ = ("runs",)

    def __init__(self, plain, threaded):
        super().__init__()
        self.runs = (plain, threaded)

    def __call__(self, *arrays):
        k = self.pick()
        start = time.perf_counter()
        outputs = self.runs[k](*arrays)
        self.record(k, time.perf_counter() - start)
        return outputs


class SplitCall:
    """Runs a kernel's parallel loop in ``parts`` parts at once: part 0 in the calling
    thread, the others on a pool of Python threads (:func:`_split_pool`), each through the
    kernel's ``kernel_part`` variant (see :func:`linop.fused.cache.kernel_for`), which
    releases the GIL. The parts write disjoint elements with the serial loop's arithmetic,
    so the results are the serial kernel's; in a forked child the parts run one by one.

    Parameters
    ----------
    part : numba dispatcher
        The compiled ``kernel_part``.
    parts : int
    """

    __slots__ = ("part", "parts")

    def __init__(self, part, parts: int):
        self.part, self.parts = part, parts

    def __call__(self, *args):
        if _forked:
            for k in range(self.parts):
                self.part(*args, k, self.parts)
            return
        pool = _split_pool(self.parts - 1)
        others = [pool.submit(self.part, *args, k, self.parts) for k in range(1, self.parts)]
        try:
            self.part(*args, 0, self.parts)
        finally:
            for other in others:
                other.result()


_SPLIT_POOLS: dict = {}
_SPLIT_POOLS_LOCK = threading.Lock()


def _split_pool(threads: int):
    """The process's pool of ``threads`` Python threads for :class:`SplitCall` (made once)."""
    pool = _SPLIT_POOLS.get(threads)
    if pool is None:
        with _SPLIT_POOLS_LOCK:
            pool = _SPLIT_POOLS.get(threads)
            if pool is None:
                pool = _SPLIT_POOLS[threads] = concurrent.futures.ThreadPoolExecutor(
                    threads, thread_name_prefix="linop-fused")
    return pool


def _threaded_library_call(eqn) -> bool:
    """Whether ``eqn`` is a library call large enough to be tried on several threads."""
    return eqn.prim.threaded_impl and max(
        [eqn.out.aval.size] + [v.aval.size for v in eqn.inputs]) >= PARALLEL_MIN_ELEMENTS


def library_threads(program: Program) -> int:
    """How many threads the fused plan of ``program`` may give its library calls: numba's
    (``NUMBA_NUM_THREADS``) when parallel loops are enabled and some call is large
    (:data:`PARALLEL_MIN_ELEMENTS`) and ``threaded_impl``; else 1."""
    if not any(_threaded_library_call(eqn) for eqn in program.eqns) or not parallel_enabled():
        return 1
    import numba

    return numba.config.NUMBA_NUM_THREADS


def _fresh_output(out, inputs):
    # Outputs must not alias inputs, be read-only or be NumPy scalars.
    out = np.asarray(out)
    if not out.flags.writeable or any(np.may_share_memory(out, a) for a in inputs):
        return np.array(out)
    return out


def fused_plan(program: Program):
    """The fused plan of ``program`` (made once, kept on the program).

    Falls back to the NumPy plan, with one warning, when a kernel does not compile.
    """
    cache = program.executor_cache
    plan = cache.get("numba")
    if plan is None:
        with COMPILE_LOCK:
            plan = cache.get("numba")
            if plan is None:
                plan = cache["numba"] = _plan_or_fallback(program)
    return plan


def _holds_empty_arrays(program: Program) -> bool:
    """Whether any value of ``program`` has no elements (nothing to fuse: NumPy runs it)."""
    return any(v.aval.size == 0 for v in program.invars) or any(
        eqn.out.aval.size == 0 for eqn in program.eqns)


def _plan_or_fallback(program: Program):
    if _holds_empty_arrays(program):
        return compile_plan(program)
    try:
        return FusedPlan(program)
    except Exception as error:  # any failure of code generation or numba: NumPy still runs it
        _warn_numpy_fallback(error)
        return compile_plan(program)


#: The file names of a plan's generated code: its frames are not the user's.
_PLAN_FRAMES = ("<linop fused plan",)


def _warn_numpy_fallback(error: Exception) -> None:
    _warn_compile_failure("", error, "it runs with the NumPy executor instead, which gives "
                          "the same results", "pass executor='numpy' there to run it so "
                          "without this warning")


def _warn_compile_failure(part: str, error: Exception, outcome: str, remedy: str) -> None:
    """One :class:`~linop.errors.FusedExecutorWarning` at the user's line: what failed
    (``part`` of the program), the error, what runs instead and how to choose that."""
    detail = str(error).splitlines()[0] if str(error) else ""
    warn_at_user(FusedExecutorWarning(
        f"the fused executor could not compile {part}{' ' if part else ''}the program run at "
        f"{user_location(_PLAN_FRAMES)} ({type(error).__name__}: {detail}); {outcome}; "
        f"{remedy}, and please report the error to linop's issue tracker"), _PLAN_FRAMES)


def _plain(value) -> bool:
    return isinstance(value, (np.ndarray, np.generic, int, float, complex, list, tuple))


def run_fused(program: Program, args: list) -> list:
    """Run ``program`` with the fused executor (tracers and other arrays go to the NumPy one)."""
    if not numba_installed():
        check_executor("numba")
    if len(args) != len(program.invars) or not all(_plain(a) for a in args):
        return run_numpy(program, args)
    try:
        arrays = [conform(a, v.aval, f"input {i}") for i, (a, v) in enumerate(zip(args, program.invars))]
    except LinopError:
        return run_numpy(program, args)
    return fused_plan(program).run(*arrays)


class _AutoChoice:
    """Whether ``"auto"`` fuses a program, and how long it has run with NumPy so far."""

    def __init__(self, program: Program):
        elements, largest = fused_elements(program)
        self.worth = (numba_installed() and elements >= AUTO_MIN_ELEMENTS and largest >= 2
                      and slice_writes(program) < AUTO_MAX_SLICE_WRITES)
        self.numpy_seconds = 0.0

    def fuse_now(self) -> bool:
        """Whether the program has run long enough with NumPy to pay for a compilation."""
        return self.worth and self.numpy_seconds >= AUTO_MIN_SECONDS

    def plan(self, program: Program):
        if self.fuse_now():
            return fused_plan(program)
        if self.worth:
            return _TimedPlan(compile_plan(program), self)
        return compile_plan(program)


class _TimedPlan:
    """A NumPy plan that adds its running time to the program's ``"auto"`` account."""

    __slots__ = ("plan", "choice")

    def __init__(self, plan, choice: _AutoChoice):
        self.plan, self.choice = plan, choice

    def run(self, *arrays):
        start = time.perf_counter()
        try:
            return self.plan.run(*arrays)
        finally:
            self.choice.numpy_seconds += time.perf_counter() - start


def _auto_choice(program: Program) -> _AutoChoice:
    choice = program.executor_cache.get("auto")
    if choice is None:
        choice = program.executor_cache["auto"] = _AutoChoice(program)
    return choice


def slice_writes(program: Program) -> int:
    """How many equations write into part of an array (``y[i] = ...`` and ``y[s] += ...``)."""
    return sum(1 for eqn in program.eqns if type(eqn.prim).overwrites is not Primitive.overwrites)


def run_auto(program: Program, args: list) -> list:
    """Run ``program`` fused when it is worth compiling (see the module's notes), else with NumPy."""
    choice = _auto_choice(program)
    if not choice.worth:
        return run_numpy(program, args)
    if not choice.fuse_now():
        start = time.perf_counter()
        try:
            return run_numpy(program, args)
        finally:
            choice.numpy_seconds += time.perf_counter() - start
    return run_fused(program, args)


def plan_for(program: Program, executor: str):
    """The plan that runs ``program`` on arrays now with ``executor``: call ``plan.run(*arrays)``."""
    if executor == "numpy":
        return compile_plan(program)
    if executor == "numba":
        return fused_plan(program)
    return _auto_choice(program).plan(program)


register_executor("numba", run_fused)
register_executor("auto", run_auto)
