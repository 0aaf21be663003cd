"""View semantics of traced arrays: a write replaces a tracer's variable, through views.

Tracers are mutable like NumPy arrays (``y[1:] = x[:-1]``): a write replaces
the tracer's variable with a new one. Tracers made by basic indexing,
transposes, ``reshape``, ``real``/``imag`` and the like are *views* of their
base, as in NumPy: a write through a view updates the base, and a view reads
the base's current value. Where NumPy's choice between view and copy depends on
memory layout that a tracer does not have, a write raises
:class:`~linop.errors.ViewWriteError` instead of guessing.
"""
from __future__ import annotations

from ..core import Builder, TracerBase, is_tracer
from ..errors import ViewWriteError, user_location
from ..ir import Var
from ..primitives.shape import reshape

__all__ = ["MutableTracer", "assign", "make_view", "is_view", "reshape_in_place"]


class _ViewLink:
    __slots__ = ("base", "forward", "writeback", "kind", "base_stamp", "what", "base_shape")

    def __init__(self, base, forward, writeback, kind, what):
        self.base, self.forward, self.writeback = base, forward, writeback
        self.kind, self.what = kind, what
        self.base_stamp = base._stamp()
        self.base_shape = base.shape

    def source(self):
        """The base as this view was made from it: ``base.shape = ...`` keeps the elements."""
        base = self.base
        if base.shape == self.base_shape:
            return base
        return reshape(base, self.base_shape)

    def new_base(self, value):
        """The base's new value after ``value`` was written through this view."""
        new = self.writeback(self.source(), value)
        if self.base.shape != self.base_shape:
            new = reshape(new, self.base.shape)
        return new


_stored_var = TracerBase.var.fget  # the variable as last written, without the checks below


class MutableTracer(TracerBase):
    """A traced array whose value a write replaces, possibly a view of another one."""

    __slots__ = ("_version", "_view", "_unknown_since", "__weakref__")

    def __init__(self, builder: Builder, var: Var, view: _ViewLink | None = None):
        super().__init__(builder, var)
        self._version = 0
        self._view = view
        self._unknown_since = None  # set when a layout-dependent view of it was written

    @property
    def var(self) -> Var:
        """The IR variable holding this tracer's current value."""
        if self._unknown_since is not None:
            raise ViewWriteError(
                f"at {user_location()}: this array was written through {self._unknown_since}. "
                "NumPy returns a view or a copy there depending on memory layout, so whether the "
                "write reached this array is ambiguous; call .copy() when you make the view (to "
                "write into a separate array), or write into this array directly.")
        link = self._view
        if link is not None and link.base_stamp != link.base._stamp():
            self._refresh()
        return _stored_var(self)

    def _mark_unknown(self, what: str):
        """This array and the arrays it views may have been written by an ambiguous view."""
        self._unknown_since = what
        self._version += 1  # views of it re-read it, and so raise
        if self._view is not None:
            self._view.base._mark_unknown(what)

    def _stamp(self):
        link = self._view
        return (self._version, link.base._stamp()) if link is not None else self._version

    def _refresh(self):
        link = self._view
        if link.kind == "ambiguous":
            raise ViewWriteError(
                f"at {user_location()}: this array was made by {link.what} of an array that was "
                "modified afterwards. NumPy returns a view or a copy here depending on memory "
                "layout, so its value is ambiguous; call .copy() when you create it, or create "
                "it after the modification.")
        fresh = link.forward(link.source())
        self.rebind(fresh.var)
        link.base_stamp = link.base._stamp()


def assign(x: MutableTracer, value: MutableTracer):
    """Replace the contents of ``x`` by ``value`` (same shape and dtype), through views.

    Through a layout-dependent ("ambiguous") view the write is kept by the view
    alone, which becomes an array of its own, and the arrays it viewed become
    unreadable: NumPy may or may not have written into them.
    """
    link = x._view
    if link is not None and link.kind == "ambiguous":
        link.base._mark_unknown(f"the result of {link.what} made from it")
        x._view = None
    elif link is not None:
        if link.kind != "view":
            reason = ("it is read-only in NumPy too" if link.kind == "readonly" else
                      "NumPy may return a view here (depending on memory layout or the "
                      "operation), whose writes linop cannot reproduce")
            raise ViewWriteError(
                f"at {user_location()}: cannot write into the result of {link.what}: {reason}. "
                "Write into the original array, or call .copy() first.")
        assign(link.base, link.new_base(value))
        link.base_stamp = link.base._stamp()
    x.rebind(value.var)
    x._version += 1


def reshape_in_place(x: MutableTracer, new: tuple):
    """``x.shape = new``: the elements in C order; views made from ``x`` before keep theirs."""
    old = x.shape
    reshaped = reshape(x, new)
    link = x._view
    if link is not None:  # a view of another array: its view functions see the new shape
        forward, writeback = link.forward, link.writeback
        link.forward = lambda b: reshape(forward(b), new)
        if writeback is not None:
            link.writeback = lambda b, value: writeback(b, reshape(value, old))
    x.rebind(reshaped.var)
    x._version += 1  # views of this array re-read it (through ViewLink.source)


def is_view(x) -> bool:
    """Whether the tracer ``x`` is a view of another traced array (writes reach that array)."""
    return is_tracer(x) and x._view is not None


def make_view(base: MutableTracer, result: MutableTracer, forward, writeback, kind: str,
              what: str) -> MutableTracer:
    """Mark ``result`` as a view of ``base`` (``kind``: view, readonly or ambiguous)."""
    if not is_tracer(base):
        return result
    if kind == "view" and base._view is not None and base._view.kind == "ambiguous":
        kind = "ambiguous"
    result._view = _ViewLink(base, forward, writeback, kind, what)
    return result
