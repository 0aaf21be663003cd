"""FFT programs with the fused executor: library calls on one thread or on several, against JAX-jit.

A fused plan with a large FFT (``threaded_impl``) has two variants
(:class:`linop.fused.executor.ThreadedLibraryChoice`): ``one thread`` runs the FFTs on
one thread and its kernels with numba's parallel loops where they pay; ``threads`` runs
the FFTs with ``scipy.fft``'s ``workers`` and its kernels in parts on Python threads.
``chosen`` is what a plan runs (the faster one, measured). The cases are the suite's
multi-coil MRI (8 coils 256^2, complex) and FFT blur (1024^2), forward and adjoint. The
implementations are timed interleaved, in rounds, with a pause between them (spinning
threads of the one before would slow the next), and the best time of each is printed: on
a shared machine the best is the least disturbed.

Run: ``python benchmarks/bench_fft_threads.py [--rounds R] [--only NAME]``
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import linop
from linop.fused import fused_plan

try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover - optional peer
    jax = jnp = None


def _cases():
    rng = np.random.default_rng(0)
    sens = (rng.standard_normal((8, 256, 256)) + 1j * rng.standard_normal((8, 256, 256))) / 4
    mask = rng.random((256, 256)) < 0.3
    kernel = np.fft.rfft2(np.exp(-np.add.outer(np.arange(1024) ** 2, np.arange(1024) ** 2) / 8.0))

    def mri(x, xp=np):
        return xp.fft.fft2(xp.asarray(sens) * x, norm="ortho") * xp.asarray(mask)

    def blur(x, xp=np):
        return xp.fft.irfft2(xp.fft.rfft2(x) * xp.asarray(kernel), s=x.shape)

    return {"MRI 8 coils 256^2": (mri, np.zeros((256, 256), complex)),
            "FFT blur 1024^2": (blur, np.zeros((1024, 1024)))}


def _calls(fun, x0):
    A = linop.aslinearoperator(fun, x0, executor="numba")
    rng = np.random.default_rng(1)
    calls = {}
    for mode, program, n in (("forward", A.flat_program, A.shape[1]),
                             ("adjoint", A.adjoint_program, A.shape[0])):
        v = rng.standard_normal(n).astype(A.dtype)
        plan = fused_plan(program)
        impls = {"chosen": lambda plan=plan, v=v: plan.run(v)}
        if plan.library_choice is not None:
            one, threads = plan.library_choice.runs
            impls["one thread"] = lambda run=one, v=v: run(v)
            impls["threads"] = lambda run=threads, v=v: run(v)
        calls[mode] = impls
    if jax is not None:
        f = lambda v: fun(v, jnp)  # noqa: E731
        x = jnp.asarray(rng.standard_normal(x0.shape).astype(x0.dtype))
        forward, adjoint = jax.jit(f), jax.jit(jax.linear_transpose(f, jnp.asarray(x0)))
        y = forward(x)
        calls["forward"]["jax"] = lambda: forward(x).block_until_ready()
        calls["adjoint"]["jax"] = lambda: adjoint(y)[0].block_until_ready()
    return calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--only", nargs="*", help="cases whose name contains one of these")
    args = parser.parse_args()
    for name, (fun, x0) in _cases().items():
        if args.only and not any(o.lower() in name.lower() for o in args.only):
            continue
        for mode, impls in _calls(fun, x0).items():
            best = dict.fromkeys(impls, float("inf"))
            for _ in range(args.rounds):
                for key, call in impls.items():
                    time.sleep(0.05)  # the threads of the one before (OpenMP, JAX's) go idle
                    call()
                    for _ in range(3):
                        start = time.perf_counter()
                        call()
                        best[key] = min(best[key], time.perf_counter() - start)
            cells = "  ".join(f"{k}={v * 1e3:7.2f}ms" for k, v in best.items())
            ratio = f"  chosen/jax={best['chosen'] / best['jax']:.2f}" if "jax" in best else ""
            print(f"{name:<20} {mode:<8} {cells}{ratio}", flush=True)


if __name__ == "__main__":
    main()
