"""Side-by-side benchmark: linop (NumPy and fused executors) against hand-written NumPy, PyLops, JAX-jit.

Run ``python benchmarks/suite.py`` (``--small`` for small sizes, ``--only NAME`` for some
cases). For every operator and mode (forward, adjoint, ``matmat`` with 16 columns) it prints
the best time per call of each implementation installed, the ratios linop / best peer and
linop-NumPy / hand-written NumPy, and the peak memory NumPy allocates during one call
(``tracemalloc``: JAX's buffers are not seen). The last lines are geometric means.
"""
from __future__ import annotations

import argparse
import math
import time
import tracemalloc

import numpy as np

import linop
import linop.scipy.ndimage as lnd

try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover - optional peer
    jax = jnp = None
try:
    import pylops
except ImportError:  # pragma: no cover - optional peer
    pylops = None

MODES = ("forward", "adjoint", "matmat16")


# -- the operators, written once for NumPy and JAX (``xp``) where they can be ----------------
def derivative(x, xp=np):
    return x[1:] - x[:-1]


def derivative_adjoint(y):
    out = np.zeros(y.size + 1, y.dtype)
    out[1:] += y
    out[:-1] -= y
    return out


def laplacian(x, xp=np):
    inner = x[2:, 1:-1] + x[:-2, 1:-1] + x[1:-1, 2:] + x[1:-1, :-2] - 4.0 * x[1:-1, 1:-1]
    return xp.pad(inner, 1)


def laplacian_adjoint(y):
    c = y[1:-1, 1:-1]
    out = np.zeros_like(y)
    out[2:, 1:-1] += c
    out[:-2, 1:-1] += c
    out[1:-1, 2:] += c
    out[1:-1, :-2] += c
    out[1:-1, 1:-1] -= 4.0 * c
    return out


def stencil3(x, xp=np):
    inner = (x[2:, 1:-1, 1:-1] + x[:-2, 1:-1, 1:-1] + x[1:-1, 2:, 1:-1] + x[1:-1, :-2, 1:-1]
             + x[1:-1, 1:-1, 2:] + x[1:-1, 1:-1, :-2] - 6.0 * x[1:-1, 1:-1, 1:-1])
    return xp.pad(inner, 1)


def stencil3_adjoint(y):
    c = y[1:-1, 1:-1, 1:-1]
    out = np.zeros_like(y)
    out[2:, 1:-1, 1:-1] += c
    out[:-2, 1:-1, 1:-1] += c
    out[1:-1, 2:, 1:-1] += c
    out[1:-1, :-2, 1:-1] += c
    out[1:-1, 1:-1, 2:] += c
    out[1:-1, 1:-1, :-2] += c
    out[1:-1, 1:-1, 1:-1] -= 6.0 * c
    return out


def cumsum(x, xp=np):
    return xp.cumsum(x)


def cumsum_adjoint(y):
    return np.cumsum(y[::-1])[::-1]


def chain16(x, xp=np):
    y = 1.5 * x
    for k in range(6):
        y = xp.roll(y, 1) - 0.5 * y[::-1]
        y = y * (k + 1.0)
    return xp.concatenate([y[::2], y[1::2]]) + y


def chain16_adjoint(z):
    # the same steps by hand, in reverse
    y = z.copy()
    y[::2] += z[:8]
    y[1::2] += z[8:]
    for k in reversed(range(6)):
        y = y * (k + 1.0)
        y = np.roll(y, -1) - 0.5 * y[::-1]
    return 1.5 * y


def row_loop(x, xp=np):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] = 2.0 * x[i] - x[i - 1]
    return y


def row_loop_vectorised(x, xp=np):
    return 2.0 * x - xp.roll(x, 1, axis=0)


def row_loop_adjoint(y):
    return 2.0 * y - np.roll(y, -1, axis=0)


def row_loop_adjoint_loop(y):
    # the adjoint written as the same kind of row loop (the "plain function" of the adjoint)
    out = np.zeros_like(y)
    for i in range(y.shape[0]):
        out[i] += 2.0 * y[i]
        out[i - 1] -= y[i]
    return out


def _cases(small: bool) -> list:
    rng = np.random.default_rng(0)
    n_dense = 300 if small else 2000
    matrix = rng.standard_normal((n_dense, n_dense))
    n1 = 10_000 if small else 1_000_000
    n2 = 100 if small else 1000
    n3 = 24 if small else 100
    nf = 128 if small else 1024
    kernel = np.fft.rfft2(np.exp(-np.add.outer(np.arange(nf) ** 2, np.arange(nf) ** 2) / 8.0))
    idx = rng.integers(0, n1, size=3 * n1 // 10)
    coils, nm = (4, 64) if small else (8, 256)
    sens = (rng.standard_normal((coils, nm, nm)) + 1j * rng.standard_normal((coils, nm, nm))) / 4
    mri_mask = rng.random((nm, nm)) < 0.3
    nt = 32 if small else 128
    angles = np.linspace(0.0, 180.0, 4 if small else 8, endpoint=False)
    nr = 64 if small else 256

    def dense(x, xp=np):
        return (xp.asarray(matrix) if xp is not np else matrix) @ x

    def blur(x, xp=np):
        k = xp.asarray(kernel) if xp is not np else kernel
        return xp.fft.irfft2(xp.fft.rfft2(x) * k, s=x.shape)

    def blur_adjoint(y):
        return np.fft.irfft2(np.fft.rfft2(y) * np.conj(kernel), s=y.shape)

    def gather(x, xp=np):
        return x[idx]

    def gather_adjoint(y):
        return np.bincount(idx, y, minlength=n1)

    def mri(x, xp=np):
        s = xp.asarray(sens) if xp is not np else sens
        m = xp.asarray(mri_mask) if xp is not np else mri_mask
        return xp.fft.fft2(s * x, norm="ortho") * m

    def mri_adjoint(y):
        return np.sum(np.conj(sens) * np.fft.ifft2(y * mri_mask, norm="ortho"), axis=0)

    def tomography(x, xp=np):
        return xp.stack([lnd.rotate(x, a, reshape=False, order=1).sum(axis=0) for a in angles])

    def tomography_hand(x, xp=np):
        import scipy.ndimage as snd
        return np.stack([snd.rotate(x, a, reshape=False, order=1).sum(axis=0) for a in angles])

    def peer(name, *args, **kw):
        if pylops is None:
            return None
        return getattr(pylops, name)(*args, **kw)

    return [
        dict(name="dense A@x", x=np.zeros(n_dense), fun=dense, hand=(dense, lambda y: matrix.T @ y),
             pylops=lambda: peer("MatrixMult", matrix), jax=True),
        dict(name="1-D derivative", x=np.zeros(n1), fun=derivative,
             hand=(derivative, derivative_adjoint),
             pylops=lambda: peer("FirstDerivative", n1, kind="forward", edge=False), jax=True),
        dict(name=f"2-D Laplacian {n2}^2", x=np.zeros((n2, n2)), fun=laplacian,
             hand=(laplacian, laplacian_adjoint),
             pylops=lambda: peer("Laplacian", (n2, n2), edge=False), jax=True),
        dict(name=f"3-D 7-point {n3}^3", x=np.zeros((n3, n3, n3)), fun=stencil3,
             hand=(stencil3, stencil3_adjoint),
             pylops=lambda: peer("Laplacian", (n3, n3, n3), axes=(0, 1, 2), weights=(1, 1, 1),
                                 sampling=(1, 1, 1), edge=False), jax=True),
        dict(name=f"FFT blur {nf}^2", x=np.zeros((nf, nf)), fun=blur, hand=(blur, blur_adjoint),
             pylops=None, jax=True),
        dict(name="gather x[idx]", x=np.zeros(n1), fun=gather, hand=(gather, gather_adjoint),
             pylops=lambda: peer("Restriction", n1, idx), jax=True),
        dict(name=f"MRI {coils} coils {nm}^2", x=np.zeros((nm, nm), complex), fun=mri,
             hand=(mri, mri_adjoint), pylops=None, jax=True),
        dict(name="cumsum", x=np.zeros(n1), fun=cumsum, hand=(cumsum, cumsum_adjoint),
             pylops=lambda: peer("CausalIntegration", n1), jax=True),
        dict(name="16-element 30-op chain", x=np.zeros(16), fun=chain16,
             hand=(chain16, chain16_adjoint), pylops=None, jax=True),
        dict(name=f"tomography rotate {nt}^2", x=np.zeros((nt, nt)), fun=tomography,
             hand=(tomography_hand, None), pylops=None, jax=False),
        dict(name=f"row loop {nr}^2", x=np.zeros((nr, nr)), fun=row_loop,
             hand=(row_loop_vectorised, row_loop_adjoint), pylops=None, jax=row_loop_vectorised,
             plain=(row_loop, row_loop_adjoint_loop)),
    ]


# -- timing ---------------------------------------------------------------------------
def best_time(fn, budget=0.3, repeats=5) -> float:
    """Best seconds per call over ``repeats`` rounds of about ``budget / repeats`` seconds."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    inner = max(1, int(budget / repeats / once))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def peak_mib(fn) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def _linop_calls(case, executor):
    A = linop.aslinearoperator(case["fun"], case["x"], executor=executor)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(A.shape[1]).astype(A.dtype)
    y = rng.standard_normal(A.shape[0]).astype(A.dtype)
    X = rng.standard_normal((A.shape[1], 16)).astype(A.dtype)
    return {"forward": lambda: A.matvec(x), "adjoint": lambda: A.rmatvec(y),
            "matmat16": lambda: A.matmat(X)}, A


def _hand_calls(case, A):
    fwd, adj = case["hand"]
    x0 = case["x"]
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x0.shape).astype(x0.dtype)
    y = np.asarray(fwd(x))
    Xs = [x] * 16
    calls = {"forward": lambda: fwd(x), "matmat16": lambda: [fwd(v) for v in Xs]}
    if adj is not None:
        calls["adjoint"] = lambda: adj(y)
    return calls


def _pylops_calls(case):
    make = case["pylops"]
    op = make() if make is not None else None
    if op is None:
        return {}
    rng = np.random.default_rng(1)
    x = rng.standard_normal(op.shape[1])
    y = rng.standard_normal(op.shape[0])
    X = rng.standard_normal((op.shape[1], 16))
    return {"forward": lambda: op.matvec(x), "adjoint": lambda: op.rmatvec(y),
            "matmat16": lambda: op.matmat(X)}


def _jax_calls(case):
    if jax is None or not case["jax"]:
        return {}
    fun = case["jax"] if callable(case["jax"]) else case["fun"]
    f = lambda v: fun(v, jnp)  # noqa: E731
    x0 = jnp.asarray(case["x"])
    x = jnp.asarray(np.random.default_rng(1).standard_normal(x0.shape).astype(x0.dtype))
    y = f(x)
    fwd = jax.jit(f)
    adj = jax.jit(jax.linear_transpose(f, x0))
    X = jnp.stack([x] * 16, axis=-1)
    mat = jax.jit(jax.vmap(f, in_axes=-1, out_axes=-1))
    ct = jnp.conj(y)
    return {"forward": lambda: fwd(x).block_until_ready(),
            "adjoint": lambda: adj(ct)[0].block_until_ready(),
            "matmat16": lambda: mat(X).block_until_ready()}


def run(small: bool, only=None) -> list:
    rows = []
    for case in _cases(small):
        if only and not any(o.lower() in case["name"].lower() for o in only):
            continue
        impls = {}
        ops = {}
        for executor in ("numpy", "numba"):
            impls[f"linop-{executor}"], ops[executor] = _linop_calls(case, executor)
        impls["hand"] = _hand_calls(case, ops["numpy"])
        if "plain" in case:  # the model as written (a Python loop), not a peer
            impls["plain"] = _hand_calls(dict(case, hand=case["plain"]), ops["numpy"])
        impls["pylops"] = _pylops_calls(case)
        impls["jax"] = _jax_calls(case)
        for mode in MODES:
            times = {name: best_time(calls[mode]) for name, calls in impls.items() if mode in calls}
            peers = {k: v for k, v in times.items() if not k.startswith("linop") and k != "plain"}
            best_peer = min(peers.values()) if peers else math.nan
            peak = {k: peak_mib(impls[k][mode]) for k in ("linop-numpy", "linop-numba", "hand")
                    if mode in impls[k]}
            rows.append(dict(case=case["name"], mode=mode, times=times, best_peer=best_peer,
                             peer=min(peers, key=peers.get) if peers else "-", peak=peak))
            _print_row(rows[-1])
    return rows


def _print_row(r):
    t = r["times"]
    fused = t["linop-numba"] / r["best_peer"]
    numpy_ = t["linop-numpy"] / r["best_peer"]
    vs_hand = t["linop-numpy"] / t["hand"] if "hand" in t else math.nan
    vs_plain = f" numpy/plain={t['linop-numpy'] / t['plain']:5.2f}" if "plain" in t else ""
    cells = "  ".join(f"{k}={v * 1e3:8.3f}ms" for k, v in t.items())
    mem = " ".join(f"{k}:{v:.1f}MiB" for k, v in r["peak"].items())
    print(f"{r['case']:<26} {r['mode']:<8} fused/best={fused:5.2f} numpy/best={numpy_:5.2f} "
          f"numpy/hand={vs_hand:5.2f}{vs_plain} best={r['peer']:<6} | {cells} | peak {mem}",
          flush=True)


def _geomean(values) -> float:
    values = [v for v in values if v == v and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else math.nan


def summary(rows) -> None:
    forward = {r["case"]: r["times"] for r in rows if r["mode"] == "forward"}
    for r in rows:
        if r["mode"] == "matmat16" and r["case"] in forward:
            gains = [16 * forward[r["case"]][k] / r["times"][k] for k in ("linop-numpy", "linop-numba")]
            print(f"matmat16 vs 16 matvecs, {r['case']:<26}: numpy {gains[0]:5.1f}x, "
                  f"fused {gains[1]:5.1f}x faster")
    for r in rows:
        if "plain" in r["times"] and r["mode"] != "matmat16":
            print(f"{r['case']} {r['mode']}: numpy / the model as written (a Python loop) "
                  f"{r['times']['linop-numpy'] / r['times']['plain']:.2f}")
    alone = [f"{r['case']} {r['mode']}" for r in rows if r["best_peer"] != r["best_peer"]]
    if alone:
        print(f"no peer (left out of the means below): {', '.join(alone)}")
    for mode in MODES:
        sel = [r for r in rows if r["mode"] == mode and r["best_peer"] == r["best_peer"]]
        fused = [r["times"]["linop-numba"] / r["best_peer"] for r in sel]
        numpy_ = [r["times"]["linop-numpy"] / r["best_peer"] for r in sel]
        hand = [r["times"]["linop-numpy"] / r["times"]["hand"] for r in sel if "hand" in r["times"]]
        print(f"geomean {mode:<8}: fused/best peer {_geomean(fused):.2f} (worst {_worst(fused):.2f}), "
              f"numpy/best peer {_geomean(numpy_):.2f}, numpy/hand {_geomean(hand):.2f} "
              f"(worst {_worst(hand):.2f})")


def _worst(values) -> float:
    return max(values) if values else math.nan


_COMPILE_SCRIPT = """
import sys, time
start = time.perf_counter()
import numpy as np, numba, linop
from linop.fused import fused_plan
imported = time.perf_counter()

def hundred(x):
    y = x
    for k in range(25):
        y = np.roll(y, 1) - 0.5 * y[::-1] + y * (k + 1.0)
    return y

warm_up = linop.trace(lambda x: 2.0 * x, np.zeros(3))
program = linop.trace(hundred, np.zeros(1000))
assert len(program.eqns) >= 100, len(program.eqns)
traced = time.perf_counter()
warm_up.call_flat([np.ones(3)], "numba")
ready = time.perf_counter()
program.call_flat([np.ones(1000)], "numba")
done = time.perf_counter()

def rows(x):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] = 2.0 * x[i] - x[i - 1]
    return y

loop = linop.trace(rows, np.zeros((64, 64)))
start_loop = time.perf_counter()
loop.call_flat([np.ones((64, 64))], "numba")
loop_done = time.perf_counter()

rng = np.random.default_rng(3)
index, mask, weights = rng.integers(0, 400, 50), rng.random(400) > 0.5, rng.standard_normal(400)

def varied(x):
    # every fusible form once per round, sums along both axes: kernels of many structures
    y = x
    for k in range(3):
        z = np.zeros_like(y)
        z[index] += y[index[::-1]]
        y = (np.pad(y[2:] - 2.0 * y[1:-1] + y[:-2], 1) + np.roll(y, k + 1) * weights
             + np.where(mask, y, 0.0) + 1e-3 * np.cumsum(y[::-1])[::-1]
             + np.concatenate([y[::2], y[1::2]]) + y.reshape(20, 20).T.reshape(-1)
             + np.repeat(y.reshape(20, 20).sum(axis=k % 2), 20) + z)
    return y

mixed = linop.trace(varied, np.zeros(400))
start_mixed = time.perf_counter()
mixed.call_flat([np.ones(400)], "numba")
mixed_done = time.perf_counter()
kernels = fused_plan(mixed).kernels
print(f"{len(program.eqns)} equations: first call {done - ready:.3f} s; a 64-row loop "
      f"({len(loop.eqns)} equations): first call {loop_done - start_loop:.3f} s; "
      f"{len(mixed.eqns)} equations of {len({id(k) for k in kernels})} distinct kernels "
      f"({len(kernels)} calls): first call {mixed_done - start_mixed:.3f} s "
      f"(once per process, not in the first calls: importing numba and linop "
      f"{imported - start:.3f} s, numba's first kernel {ready - traced:.3f} s)")
"""


def compile_cost() -> None:
    """First calls of a 100-equation program, a row loop and a 100-equation program of
    varied kernels, each in a new process, with a cold and a warm kernel cache."""
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, LINOP_CACHE_DIR=cache)
        for label in ("cold cache", "warm cache"):
            out = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], env=env, check=True,
                                 capture_output=True, text=True).stdout.strip()
            print(f"compile cost, {label}: {out}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="small sizes (a quick run)")
    parser.add_argument("--only", nargs="*", help="cases whose name contains one of these")
    parser.add_argument("--compile", action="store_true", help="also measure compile costs")
    args = parser.parse_args(argv)
    if args.compile:
        compile_cost()
    summary(run(args.small, args.only))


if __name__ == "__main__":
    main()
