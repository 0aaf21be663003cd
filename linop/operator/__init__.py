"""SciPy operators from traced functions: :class:`TracedLinearOperator` and its algebra.

Every operator holds two *flat* programs, ``flat_program`` (``dtype[n] ->
dtype[m]``) and ``adjoint_program`` (``dtype[m] -> dtype[n]``), the adjoint made
by transposing the forward one, never by running it. Algebra on traced
operators (``A @ B``, ``A + B``, ``alpha * A``, ``A.H``, ``A ** k``, block
stacks) traces a function that calls the operands' programs, so the result is
again one program the executor sees whole.

Modules, lowest first (each imports only those above it):

* ``layout``: pytrees of leaves <-> flat vectors (the vector layout);
* ``classify``: which traced functions are complex-linear (real or complex operators);
* ``flat``: the flat programs, traced on vectors (forward, adjoint, lifted operands);
* ``sparse``: ``tosparse``, the exact sparse matrix composed from each primitive's matrix;
* ``checks``: ``todense`` and ``dottest``;
* ``algebra``: the programs of ``A @ B``, ``A + B``, ``alpha * A``, ``A.T``, ``A ** k``, ``A^H A``;
* ``operands``: the programs of matrices, sparse matrices and foreign operators;
* ``traced``: :class:`TracedLinearOperator` and ``as_traced_operator``;
* ``blocks``: ``block``, ``vstack``, ``hstack``, ``block_diag``;
* ``convert``: ``aslinearoperator``.
"""
from .blocks import block, block_diag, hstack, vstack
from .checks import dottest, todense
from .classify import RealLinearError, real_linear_steps
from .convert import aslinearoperator
from .sparse import tosparse
from .traced import TracedLinearOperator, as_traced_operator

__all__ = ["TracedLinearOperator", "RealLinearError", "aslinearoperator", "vstack", "hstack",
           "block_diag", "block", "dottest", "todense", "real_linear_steps", "as_traced_operator", "tosparse"]
