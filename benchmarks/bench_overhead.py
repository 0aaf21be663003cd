"""Per-call overhead of ``rmatvec`` on a small program against hand-written NumPy.

A 16-element model of about 30 equations (six scaled first differences and two
symmetrising steps). ``A.rmatvec`` runs the transposed program; the reference
is the same adjoint written by hand in NumPy, the way one would without linop.

It also prints what the operator layer adds to one call: ``A.matvec`` and ``A @ x``
against the compiled plan alone, on a one-equation program and on a dense ``300×300``
matrix (whose plan arranges the matrix for ``matmul`` once, not on every call).

Run: ``python benchmarks/bench_overhead.py``
"""
from __future__ import annotations

import timeit

import numpy as np

import linop
from linop.execute import compile_plan

N = 16
SCALES = [1.5, -0.5, 2.0, 0.75, 1.25, -1.0]


def model(x):
    """Forward model written in NumPy (traced by linop)."""
    y = x
    for c in SCALES[:4]:
        y = c * (y[1:] - y[:-1])
    for _ in range(2):
        y = y[::-1] + 0.5 * y
    for c in SCALES[4:]:
        y = c * (y[1:] - y[:-1])
    return y


def adjoint_by_hand(z):
    """The adjoint of :func:`model`, written by hand in NumPy."""
    for c in reversed(SCALES[4:]):
        g = c * z
        out = np.zeros(g.size + 1)
        out[1:] = g
        out[:-1] -= g
        z = out
    for _ in range(2):
        z = z[::-1] + 0.5 * z
    for c in reversed(SCALES[:4]):
        g = c * z
        out = np.zeros(g.size + 1)
        out[1:] = g
        out[:-1] -= g
        z = out
    return z


def best_time(fn, arg, number=2000, repeat=7):
    """Best per-call time in microseconds."""
    return min(timeit.repeat(lambda: fn(arg), number=number, repeat=repeat)) / number * 1e6


def main():
    A = linop.aslinearoperator(model, np.zeros(N))
    rng = np.random.default_rng(0)
    y = rng.standard_normal(A.shape[0])
    x = rng.standard_normal(N)
    assert np.allclose(A.rmatvec(y), adjoint_by_hand(y)), "hand-written adjoint disagrees"
    print(f"forward program: {len(A.program.eqns)} equations; adjoint program run by rmatvec: "
          f"{len(A.adjoint_program.eqns)} equations")
    t_lin = best_time(A.rmatvec, y)
    t_hand = best_time(adjoint_by_hand, y)
    print(f"rmatvec            {t_lin:8.2f} us/call")
    print(f"hand-written NumPy {t_hand:8.2f} us/call")
    print(f"ratio              {t_lin / t_hand:8.2f}x  (target <= 2x)")
    t_mv, t_fwd = best_time(A.matvec, x), best_time(model, x)
    print(f"matvec {t_mv:.2f} us/call vs the NumPy model itself {t_fwd:.2f} us/call "
          f"({t_mv / t_fwd:.2f}x)")


def layers():
    """Per-call cost of the operator layer over the plan it runs."""
    rng = np.random.default_rng(0)
    M = rng.standard_normal((300, 300))
    for name, fun, n, hand in [("2 * x, n=16", lambda x: 2.0 * x, 16, lambda x: 2.0 * x),
                               ("dense 300x300", lambda x: M @ x, 300, lambda x: M @ x)]:
        A = linop.aslinearoperator(fun, np.zeros(n), executor="numpy")
        x = rng.standard_normal(n)
        plan = compile_plan(A.flat_program)
        cells = [f"{label} {best_time(f, x):7.2f} us" for label, f in
                 [("plan", lambda v: plan.run(v)), ("A.matvec", A.matvec), ("A @ x", A.__matmul__),
                  ("NumPy", hand)]]
        print(f"{name:<14} " + "   ".join(cells))


if __name__ == "__main__":
    layers()
    main()
