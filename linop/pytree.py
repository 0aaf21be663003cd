"""Flatten and unflatten nested containers (pytrees).

Containers are tuples, lists, dicts (keys in sorted order), ``OrderedDict``
(keys in insertion order), namedtuples and ``None`` (a container with no
children). Everything else is a leaf.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["TreeDef", "tree_flatten", "tree_unflatten", "leaf_paths"]

_LEAF = "leaf"
_NONE = "none"
_TUPLE = "tuple"
_LIST = "list"
_DICT = "dict"
_NAMEDTUPLE = "namedtuple"
_ODICT = "OrderedDict"


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


@dataclass(frozen=True)
class TreeDef:
    """The structure of a pytree, without its leaves.

    Attributes
    ----------
    kind : str
        ``"leaf"``, ``"none"``, ``"tuple"``, ``"list"``, ``"dict"``, ``"OrderedDict"`` or
        ``"namedtuple"``.
    meta : object
        Dict keys (sorted for dict, in insertion order for OrderedDict), or the namedtuple class.
    children : tuple of TreeDef
    """

    kind: str
    meta: Any = None
    children: tuple = ()

    @property
    def num_leaves(self) -> int:
        """Number of leaves in the tree."""
        if self.kind == _LEAF:
            return 1
        return sum(c.num_leaves for c in self.children)

    def __str__(self) -> str:
        if self.kind == _LEAF:
            return "*"
        if self.kind == _NONE:
            return "None"
        inner = ", ".join(str(c) for c in self.children)
        if self.kind == _TUPLE:
            return f"({inner}{',' if len(self.children) == 1 else ''})"
        if self.kind == _LIST:
            return f"[{inner}]"
        if self.kind in (_DICT, _ODICT):
            inner = ", ".join(f"{k!r}: {c}" for k, c in zip(self.meta, self.children))
            return "{" + inner + "}" if self.kind == _DICT else f"OrderedDict({{{inner}}})"
        return f"{self.meta.__name__}({inner})"


LEAF = TreeDef(_LEAF)


def tree_flatten(tree) -> tuple[list, TreeDef]:
    """Split ``tree`` into its list of leaves and its structure.

    Parameters
    ----------
    tree : object
        A leaf or a nest of tuples, lists, dicts, namedtuples and ``None``.

    Returns
    -------
    leaves : list
    treedef : TreeDef
    """
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree, leaves) -> TreeDef:
    if tree is None:
        return TreeDef(_NONE)
    if _is_namedtuple(tree):
        return TreeDef(_NAMEDTUPLE, type(tree), tuple(_flatten(c, leaves) for c in tree))
    if type(tree) is tuple:
        return TreeDef(_TUPLE, None, tuple(_flatten(c, leaves) for c in tree))
    if type(tree) is list:
        return TreeDef(_LIST, None, tuple(_flatten(c, leaves) for c in tree))
    if type(tree) is dict:
        keys = tuple(sorted(tree))
        return TreeDef(_DICT, keys, tuple(_flatten(tree[k], leaves) for k in keys))
    if type(tree) is OrderedDict:
        keys = tuple(tree)
        return TreeDef(_ODICT, keys, tuple(_flatten(tree[k], leaves) for k in keys))
    leaves.append(tree)
    return LEAF


def tree_unflatten(treedef: TreeDef, leaves) -> Any:
    """Rebuild a pytree of structure ``treedef`` from ``leaves``.

    Parameters
    ----------
    treedef : TreeDef
    leaves : iterable

    Returns
    -------
    object
    """
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


def _unflatten(td: TreeDef, it):
    if td.kind == _LEAF:
        return next(it)
    if td.kind == _NONE:
        return None
    children = [_unflatten(c, it) for c in td.children]
    if td.kind == _TUPLE:
        return tuple(children)
    if td.kind == _LIST:
        return children
    if td.kind == _DICT:
        return dict(zip(td.meta, children))
    if td.kind == _ODICT:
        return OrderedDict(zip(td.meta, children))
    return td.meta(*children)


def leaf_paths(treedef: TreeDef, prefix: str = "") -> list[str]:
    """Human-readable paths of the leaves, e.g. ``["[0]", "[1]['w']"]``.

    Parameters
    ----------
    treedef : TreeDef
    prefix : str

    Returns
    -------
    list of str
    """
    if treedef.kind == _LEAF:
        return [prefix]
    if treedef.kind == _NONE:
        return []
    out: list[str] = []
    for i, child in enumerate(treedef.children):
        if treedef.kind in (_DICT, _ODICT):
            key = f"[{treedef.meta[i]!r}]"
        elif treedef.kind == _NAMEDTUPLE:
            key = f".{treedef.meta._fields[i]}"
        else:
            key = f"[{i}]"
        out.extend(leaf_paths(child, prefix + key))
    return out
