"""Pytrees: nested containers of arrays, flattened to a list of leaves and a structure.

Containers: tuple, list, dict and defaultdict (keys in sorted order, so two dicts with
the same keys always line up), OrderedDict (in its own order), ``None`` (no leaves),
namedtuples, dataclasses (fields marked ``field(metadata={"static": True})`` are
structure, not leaves), and any class that
defines ``tree_flatten(self) -> (children, aux)`` and a classmethod
``tree_unflatten(aux, children)`` (tracegrad's nn modules do). Everything else is a leaf.

A class that also sets ``__tree_immutable__ = True`` promises that an instance's children
never change (nor theirs): its leaves and structure are then computed once and kept in
the instance's ``__dict__`` (``_tree_flat``), so flattening a model is one lookup.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "TreeDef",
    "builder",
    "flatten",
    "leaves",
    "map",
    "register",
    "structure",
    "unflatten",
]

_LEAF = "leaf"
_registry: dict[type, tuple[Callable, Callable]] = {}
#: per type, its handler or None for a leaf type: the decision depends on the type only,
#: and flattening runs on every call of every transform
_handler_cache: dict[type, tuple[Callable, Callable, bool] | None] = {}


class TreeDef:
    """The structure of a pytree: node type, static data and child structures."""

    __slots__ = ("node", "aux", "children", "num_leaves", "rebuild")

    def __init__(
        self,
        node: Any,
        aux: Hashable,
        children: tuple[TreeDef, ...],
        num_leaves: int = -1,
        rebuild: Callable[[Hashable, list[Any]], Any] | None = None,
    ) -> None:
        self.node = node
        self.aux = aux
        self.children = children
        if num_leaves < 0:
            num_leaves = 1 if node is _LEAF else sum(c.num_leaves for c in children)
        self.num_leaves = num_leaves
        #: the node type's unflatten function (found once here, not on every rebuild)
        self.rebuild = rebuild if rebuild is not None or node is _LEAF else _handler_of(node)[1]

    def __eq__(self, other: object) -> bool:
        return self is other or (
            isinstance(other, TreeDef)
            and self.node == other.node
            and _aux_equal(self.aux, other.aux)
            and self.children == other.children
        )

    def __hash__(self) -> int:
        return hash((self.node, self.num_leaves))

    def __repr__(self) -> str:
        if self.node is _LEAF:
            return "*"
        name = getattr(self.node, "__name__", str(self.node))
        inner = ", ".join(repr(c) for c in self.children)
        return f"{name}({inner})"


def _aux_equal(a: Any, b: Any) -> bool:
    if a is b:  # e.g. a module's structure data, shared by its rebuilt copies
        return True
    try:
        return bool(a == b)
    except Exception:  # e.g. arrays as static data: compare by identity
        return a is b


def register(
    cls: type,
    flatten_fn: Callable[[Any], tuple[list[Any], Hashable]],
    unflatten_fn: Callable[[Hashable, list[Any]], Any],
) -> None:
    """Make ``cls`` a container: ``flatten_fn(x) -> (children, aux)``,
    ``unflatten_fn(aux, children) -> x``."""
    _registry[cls] = (flatten_fn, unflatten_fn)
    _handler_cache.pop(cls, None)


def _dict_flatten(d: dict) -> tuple[list[Any], tuple]:
    try:
        keys = tuple(sorted(d))
    except TypeError:
        keys = tuple(d)
    return [d[k] for k in keys], keys


register(tuple, lambda t: (list(t), None), lambda _, c: tuple(c))
register(list, lambda t: (list(t), None), lambda _, c: list(c))
register(dict, _dict_flatten, lambda keys, c: dict(zip(keys, c)))
register(type(None), lambda _: ([], None), lambda _a, _c: None)
# An OrderedDict's order is part of its meaning, so it is kept rather than sorted.
register(
    collections.OrderedDict,
    lambda d: (list(d.values()), tuple(d)),
    lambda keys, c: collections.OrderedDict(zip(keys, c)),
)


def _defaultdict_flatten(d: collections.defaultdict) -> tuple[list[Any], tuple]:
    children, keys = _dict_flatten(d)
    return children, (d.default_factory, keys)


register(
    collections.defaultdict,
    _defaultdict_flatten,
    lambda aux, c: collections.defaultdict(aux[0], zip(aux[1], c)),
)


def _handler_of(cls: type) -> tuple[Callable, Callable, bool] | None:
    """``(flatten, unflatten, immutable)`` for instances of ``cls``, or None for a leaf
    type; ``immutable``: the class declares ``__tree_immutable__ = True``."""
    try:
        return _handler_cache[cls]
    except KeyError:
        h = _with_flag(cls, _registry.get(cls) or _find_handler(cls))
        _handler_cache[cls] = h
        return h
    except TypeError:  # an unhashable type (a metaclass that forbids it): no caching
        return _with_flag(cls, _registry.get(cls) or _find_handler(cls))


def _with_flag(cls: type, h: tuple[Callable, Callable] | None) -> Any:
    return None if h is None else (h[0], h[1], bool(getattr(cls, "__tree_immutable__", False)))


def _find_handler(cls: type) -> tuple[Callable, Callable] | None:
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):  # a namedtuple
        return (lambda t: (list(t), None), lambda _, c, cls=cls: cls(*c))
    if hasattr(cls, "tree_flatten") and hasattr(cls, "tree_unflatten"):
        return (cls.tree_flatten, cls.tree_unflatten)
    if dataclasses.is_dataclass(cls):  # a dataclass instance's type (a class is a leaf)
        return _dataclass_handler(cls)
    return None


def _dataclass_handler(cls: type) -> tuple[Callable, Callable]:
    fields = [f for f in dataclasses.fields(cls)]
    dynamic = [f.name for f in fields if not f.metadata.get("static", False)]
    static = [f.name for f in fields if f.metadata.get("static", False)]

    def flat(x: Any) -> tuple[list[Any], tuple]:
        return [getattr(x, n) for n in dynamic], tuple(getattr(x, n) for n in static)

    def unflat(aux: tuple, children: list[Any]) -> Any:
        obj = object.__new__(cls)
        for n, v in zip(dynamic, children):
            object.__setattr__(obj, n, v)
        for n, v in zip(static, aux):
            object.__setattr__(obj, n, v)
        return obj

    return flat, unflat


_LEAF_DEF = TreeDef(_LEAF, None, ())


def flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """``(leaves, treedef)``; leaves in a fixed depth-first order."""
    out: list[Any] = []
    return out, _flatten(tree, out)


def _flatten(x: Any, out: list[Any]) -> TreeDef:
    node = type(x)
    try:
        h = _handler_cache[node]
    except (KeyError, TypeError):  # first sight of the type, or an unhashable one
        h = _handler_of(node)
    if h is None:
        out.append(x)
        return _LEAF_DEF
    if h[2]:  # an immutable node keeps its flattening (leaves and structure)
        cached = x.__dict__.get("_tree_flat")
        if cached is not None:
            out.extend(cached[0])
            return cached[1]
    children, aux = h[0](x)
    start = len(out)
    defs = []
    for c in children:
        if type(c) is np.ndarray:  # the common leaf, without a call
            out.append(c)
            defs.append(_LEAF_DEF)
        else:
            defs.append(_flatten(c, out))
    td = TreeDef(node, aux, tuple(defs), len(out) - start, h[1])
    if h[2]:
        x.__dict__["_tree_flat"] = (out[start:], td)
    return td


def unflatten(treedef: TreeDef, leaves: list[Any]) -> Any:
    """Rebuild a pytree of the structure ``treedef`` from ``leaves``."""
    if type(leaves) is not list and type(leaves) is not tuple:
        leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(
            f"tree.unflatten: structure {treedef!r} needs {treedef.num_leaves} leaves, "
            f"got {len(leaves)}"
        )
    it = iter(leaves)
    return _unflatten(treedef, it)


def _unflatten(td: TreeDef, it: Any) -> Any:
    if td.node is _LEAF:
        return next(it)
    children = [next(it) if c.node is _LEAF else _unflatten(c, it) for c in td.children]
    return td.rebuild(td.aux, children)


def builder(treedef: TreeDef) -> Callable[[Sequence[Any]], Any]:
    """A function ``build(leaves)`` equal to ``unflatten(treedef, leaves)`` for a fixed
    structure, without the walk: generated once as one nested call expression (for
    ``tg.jit``, which rebuilds the same output structure on every call)."""
    if _depth(treedef) > 40:  # beyond what one expression should nest
        return lambda leaves: unflatten(treedef, leaves)
    names: dict[str, Any] = {}
    count = iter(range(treedef.num_leaves))

    def expr(td: TreeDef) -> str:
        if td.node is _LEAF:
            return f"x[{next(count)}]"
        k = len(names)
        names[f"r{k}"], names[f"a{k}"] = td.rebuild, td.aux
        return f"r{k}(a{k}, [{', '.join(expr(c) for c in td.children)}])"

    namespace: dict[str, Any] = {}
    exec(f"def build(x):\n    return {expr(treedef)}\n", names, namespace)  # noqa: S102
    return namespace["build"]


def _depth(td: TreeDef) -> int:
    return 1 + max((_depth(c) for c in td.children), default=0)


def leaves(tree: Any) -> list[Any]:
    """The leaves of ``tree`` in flatten order."""
    return flatten(tree)[0]


def structure(tree: Any) -> TreeDef:
    """The :class:`TreeDef` of ``tree``."""
    return flatten(tree)[1]


def map(f: Callable[..., Any], tree: Any, *rest: Any) -> Any:  # noqa: A001
    """Apply ``f`` leaf-wise over ``tree`` and trees ``rest`` of the same structure."""
    lv, td = flatten(tree)
    others = []
    for r in rest:
        rl, rtd = flatten(r)
        if rtd != td:
            raise ValueError(f"tree.map: structures differ: {td!r} vs {rtd!r}")
        others.append(rl)
    return unflatten(td, [f(*xs) for xs in zip(lv, *others)])
