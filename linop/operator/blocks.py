"""Block operators: ``block``, ``vstack``, ``hstack`` and ``block_diag`` as one traced program each."""
from __future__ import annotations

from ..core import zeros
from ..primitives import arithmetic as A, slice as SL
from .algebra import common_dtype, common_executor
from .flat import lifted, piece, trace_vector_fn
from .traced import TracedLinearOperator, as_traced_operator

__all__ = ["block", "vstack", "hstack", "block_diag"]


def _offsets(sizes):
    out, k = [], 0
    for s in sizes:
        out.append((k, k + s))
        k += s
    return out


def _block_program(rows, heights, widths, dtype, adjoint):
    """Trace ``[[A_ij]] @ v`` (or its adjoint) over the block layout."""
    if adjoint:
        grid = [[rows[i][j] for i in range(len(heights))] for j in range(len(widths))]
        heights, widths = widths, heights
        pick = 1
    else:
        grid = rows
        pick = 0
    fns = [[lifted(op, dtype)[pick] if op is not None else None for op in row] for row in grid]
    col_ranges = _offsets(widths)

    def fn(v):
        parts = []
        for row, h in zip(fns, heights):
            acc = None
            for g, (a, b) in zip(row, col_ranges):
                if g is None:
                    continue
                y = g(piece(v, a, b))
                acc = y if acc is None else A.add(acc, y)
            parts.append(acc if acc is not None else zeros((h,), dtype))
        return SL.concatenate(parts, 0)
    return trace_vector_fn(fn, sum(widths), dtype)


def _non_empty(ops, what) -> list:
    ops = list(ops)
    if not ops:
        raise ValueError(f"{what}: expected a non-empty list of operators")
    return ops


def _block_sizes(rows) -> tuple:
    """The heights of the block rows and the widths of the block columns."""
    if not rows or any(not row for row in rows) or len({len(r) for r in rows}) != 1:
        raise ValueError("block: expected a non-empty list of rows of equal length")
    heights, widths = [None] * len(rows), [None] * len(rows[0])
    for i, row in enumerate(rows):
        for j, op in enumerate(row):
            if op is None:
                continue
            for sizes, k, s, what in ((heights, i, op.shape[0], "row"), (widths, j, op.shape[1], "column")):
                if sizes[k] is None:
                    sizes[k] = s
                elif sizes[k] != s:
                    raise ValueError(f"block: blocks of {what} {k} have different sizes "
                                     f"{sizes[k]} and {s}")
    if None in heights or None in widths:
        raise ValueError("block: every row and every column needs at least one operator")
    return heights, widths


def block(blocks) -> TracedLinearOperator:
    """A block operator ``[[A, B], [None, C]]`` as one traced program.

    Parameters
    ----------
    blocks : list of lists
        Rows of blocks: traced operators, SciPy or PyLops operators, 2-D arrays,
        sparse matrices, or ``None`` for a zero block. Every row and every
        column needs at least one non-``None`` block.

    Returns
    -------
    TracedLinearOperator
        Run with the blocks' executor (see :func:`linop.operator.algebra.common_executor`).

    Raises
    ------
    ExecutorError
        When two blocks were given different executors (``"numpy"`` and ``"numba"``).

    Examples
    --------
    >>> import numpy as np, linop
    >>> D = linop.aslinearoperator(lambda x: x[1:] - x[:-1], np.zeros(4))
    >>> I = linop.aslinearoperator(lambda x: x, np.zeros(4))
    >>> linop.block([[I], [0.1 * D]]).shape
    (7, 4)
    """
    blocks = list(blocks)
    if any(not isinstance(row, (list, tuple)) for row in blocks):
        raise TypeError("block: expected a list of rows, each a list of operators, arrays or None, "
                        "e.g. linop.block([[A, B], [None, C]]); for one column use linop.vstack")
    rows = [[None if b is None else as_traced_operator(b, "block") for b in row] for row in blocks]
    heights, widths = _block_sizes(rows)
    ops = [op for row in rows for op in row if op is not None]
    dtype = common_dtype(ops)
    executor = common_executor(ops, "block")
    fwd = _block_program(rows, heights, widths, dtype, adjoint=False)
    adj = _block_program(rows, heights, widths, dtype, adjoint=True)
    return TracedLinearOperator(fwd, adj, dtype, executor=executor)


def vstack(ops) -> TracedLinearOperator:
    """``[A; B; ...]``: operators with the same number of columns, stacked.

    Parameters
    ----------
    ops : sequence
        At least one operator, all with the same number of columns: traced, SciPy or
        PyLops operators, 2-D arrays or sparse matrices.

    Returns
    -------
    TracedLinearOperator

    Examples
    --------
    >>> import numpy as np, linop
    >>> A = linop.aslinearoperator(lambda x: 2 * x, np.zeros(3))
    >>> linop.vstack([A, 0.5 * A]).matvec(np.ones(3))
    array([2., 2., 2., 1., 1., 1.])
    """
    return block([[op] for op in _non_empty(ops, "vstack")])


def hstack(ops) -> TracedLinearOperator:
    """``[A, B, ...]``: operators with the same number of rows, side by side.

    Parameters
    ----------
    ops : sequence
        At least one operator, all with the same number of rows (the same kinds as
        :func:`vstack` takes).

    Returns
    -------
    TracedLinearOperator
    """
    return block([_non_empty(ops, "hstack")])


def block_diag(ops) -> TracedLinearOperator:
    """The block-diagonal operator ``diag(A, B, ...)``.

    Parameters
    ----------
    ops : sequence
        At least one operator, of any shapes (the same kinds as :func:`vstack` takes).

    Returns
    -------
    TracedLinearOperator
    """
    ops = _non_empty(ops, "block_diag")
    return block([[op if i == j else None for j in range(len(ops))] for i, op in enumerate(ops)])
