"""``python -m linop``: the command line (``demo`` and ``check``); with no command, the help."""
from __future__ import annotations

import argparse
import importlib
import sys

DESCRIPTION = """\
linop turns a linear function written in plain NumPy into a matrix-free SciPy
LinearOperator whose adjoint is derived from the traced program.

Start here:
  python -m linop demo
      deblur a synthetic image with lsqr on a traced NumPy model
  python -m linop check mymodel:forward --shape 256,256
      trace your own function forward(x) from mymodel.py, dot-test its adjoint,
      compare it with its dense matrix when small, and time it
"""

CHECK_DESCRIPTION = """\
Trace FUNCTION(x), a function of one array (its outputs may be several arrays),
on an input of the given shape and dtype, print a summary of the
program (equations by primitive, constants' memory), run the dot test with real
and complex vectors, compare forward and adjoint with the dense matrix of the
plain NumPy function when the input is small, and time forward, adjoint and the
function itself.

Exit status: 0 passed, 1 a check failed, 2 the function could not be loaded or
traced (the message says where in your code).
"""

CHECK_EPILOG = """\
examples:
  python -m linop check mymodel:forward --shape 256,256
  python -m linop check models/blur.py:forward --shape 64,64 --dtype float32
  python -m linop check mymodel:forward --like data.npy --complex
"""

DEMO_DESCRIPTION = """\
Deblur a synthetic phantom image: a Gaussian blur written with np.fft.rfft2 and
irfft2 is traced into an operator, dot-tested, and inverted with
scipy.sparse.linalg.lsqr (damped least squares) until lsqr's stopping rule holds
(atol = btol = --tol) or --iters iterations have run.
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Plain-text help: descriptions kept as written (each option's help shows its default)."""


def positive_int(text: str) -> int:
    """An ``int`` of at least 1 (argparse type)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def image_size(text: str) -> int:
    """An image size of at least 8 pixels (argparse type)."""
    value = int(text)
    if value < 8:
        raise argparse.ArgumentTypeError(f"must be at least 8 pixels, not {value}")
    return value


def non_negative(text: str) -> float:
    """A finite ``float`` of at least 0 (argparse type)."""
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text}")
    return value


def positive(text: str) -> float:
    """A finite ``float`` greater than 0 (argparse type)."""
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def shape(text: str) -> tuple:
    """``256,256`` -> ``(256, 256)`` (argparse type); ``""`` is a 0-d input."""
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of sizes "
                                         "such as 256,256") from None
    if any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"sizes must be at least 1: {text!r}")
    return dims


def float_dtype(text: str) -> str:
    """A floating or complex NumPy dtype name (argparse type)."""
    import numpy as np

    try:
        dtype = np.dtype(text)
    except TypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a NumPy dtype") from None
    if not np.issubdtype(dtype, np.inexact):
        raise argparse.ArgumentTypeError(f"{text!r} is not a floating or complex dtype "
                                         "(float32, float64, complex64, complex128)")
    return dtype.name


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m linop`` and its two commands."""
    parser = argparse.ArgumentParser(prog="python -m linop", description=DESCRIPTION,
                                     formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", title="commands", metavar="{demo,check}")

    demo = sub.add_parser("demo", help="deblur a synthetic image with lsqr on a traced NumPy model",
                          description=DEMO_DESCRIPTION, formatter_class=HelpFormatter)
    demo.add_argument("--size", type=image_size, default=256, help="image size in pixels per side (default: %(default)s)")
    demo.add_argument("--iters", type=positive_int, default=200, help="most lsqr iterations (default: %(default)s)")
    demo.add_argument("--tol", type=positive, default=1e-3,
                      help="lsqr's stopping tolerances atol and btol (default: %(default)s)")
    demo.add_argument("--damp", type=non_negative, default=0.02, help="lsqr damping (Tikhonov) (default: %(default)s)")
    demo.add_argument("--noise", type=non_negative, default=0.01, help="relative noise level (default: %(default)s)")
    demo.add_argument("--sigma", type=positive, default=2.0, help="blur width in pixels (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the noise (default: %(default)s)")
    demo.add_argument("--plot", metavar="OUT.png", default=None,
                      help="save a figure of truth, data and reconstruction (needs matplotlib)")
    demo.add_argument("--ir", action="store_true",
                      help="print the IR of a small example instead of deblurring")

    check = sub.add_parser("check", help="trace your function and check its adjoint",
                           description=CHECK_DESCRIPTION, epilog=CHECK_EPILOG,
                           formatter_class=HelpFormatter)
    check.add_argument("target", metavar="MODULE:FUNCTION",
                       help="the function: a module on the path or a file, e.g. mymodel:forward "
                            "or models/blur.py:forward")
    given = check.add_mutually_exclusive_group(required=True)
    given.add_argument("--shape", type=shape, help="the input's shape, e.g. 256,256")
    given.add_argument("--like", metavar="DATA.npy",
                       help="take the input's shape and dtype from a saved array")
    check.add_argument("--dtype", type=float_dtype, default="float64", help="the input's dtype (default: %(default)s)")
    check.add_argument("--complex", action="store_true",
                       help="a complex input (complex128 for float64, complex64 for float32)")
    check.add_argument("--dense-limit", type=positive_int, default=1024,
                       help="compare with the dense matrix up to this many (real) unknowns (default: %(default)s)")
    check.add_argument("--repeat", type=positive_int, default=5, help="timed calls of each (default: %(default)s)")
    return parser


def matplotlib_missing() -> bool:
    """Whether ``import matplotlib`` fails (checked before any work is done)."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return True
    return False


def main(argv=None) -> int:
    """Entry point of ``python -m linop``; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .commands import demo

        if args.plot and matplotlib_missing():
            parser.exit(2, f"python -m linop demo: error: --plot {args.plot} needs matplotlib, "
                           'which is not installed: python -m pip install matplotlib '
                           '(or ".[plot]")\n')
        return demo.demo_ir(args) if args.ir else demo.demo_deblur(args)
    from .commands import check

    return check.run_check(args)


if __name__ == "__main__":
    sys.exit(main())
