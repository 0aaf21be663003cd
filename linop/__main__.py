"""``python -m linop``: the demo (and a self-check)."""
from __future__ import annotations

import argparse
import sys

import numpy as np


def _demo_ir(args) -> int:
    import linop
    from linop.testing import dot_test_function

    def gradient(img):
        """Forward differences along both axes: a typical regulariser."""
        gx = np.zeros_like(img)
        gx[:, :-1] = img[:, 1:] - img[:, :-1]
        gy = np.diff(img, axis=0) if False else img[1:, :] - img[:-1, :]
        return gx, 0.5 * gy

    x = np.zeros((4, 5))
    program = linop.trace(gradient, x)
    print("Forward program:")
    print(program)
    print("\nTransposed program:")
    print(linop.transpose(program))
    err = dot_test_function(gradient, x)
    print(f"\nDot test <A x, y> = <x, A^T y>: relative error {err:.2e}")
    return 0


def main(argv=None) -> int:
    """Entry point of ``python -m linop``."""
    parser = argparse.ArgumentParser(prog="python -m linop", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="trace a small forward model, print its IR, transpose and dot test")
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        return _demo_ir(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
