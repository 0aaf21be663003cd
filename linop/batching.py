"""Batching: ``vmap`` and named axes (placeholder for the named-axis reduction hook)."""
from __future__ import annotations

__all__ = ["reduce_named_axes"]


def reduce_named_axes(outs, reduce_axes):
    """Sum cotangents over the named batch axes in ``reduce_axes`` that are active.

    Outside :func:`linop.vmap` with ``axis_name`` no named axis is active and
    the cotangents are returned unchanged.
    """
    return outs
