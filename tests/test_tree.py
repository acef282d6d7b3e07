"""Pytrees: flatten/unflatten round trips, tree.map, structure equality."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import numpy as np
import pytest

from tracegrad import tree

Point = collections.namedtuple("Point", ["x", "y"])
Other = collections.namedtuple("Other", ["x", "y"])


@dataclasses.dataclass
class Layer:
    w: Any
    b: Any
    name: str = dataclasses.field(default="dense", metadata={"static": True})


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: Any
    tag: int = dataclasses.field(default=0, metadata={"static": True})


class Custom:
    """A user class with the tree_flatten / tree_unflatten protocol."""

    def __init__(self, params: dict, scale: float) -> None:
        self.params = params
        self.scale = scale

    def tree_flatten(self):
        return [self.params], self.scale

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0], aux)

    def __eq__(self, other):
        return (
            isinstance(other, Custom)
            and self.scale == other.scale
            and _equal(self.params, other.params)
        )


def _equal(a: Any, b: Any) -> bool:
    la, ta = tree.flatten(a)
    lb, tb = tree.flatten(b)
    return ta == tb and all(np.array_equal(x, y) for x, y in zip(la, lb))


CASES = {
    "leaf-array": (np.arange(3.0), 1),
    "leaf-float": (2.5, 1),
    "none": (None, 0),
    "empty-tuple": ((), 0),
    "list": ([1.0, np.ones(2), 3.0], 3),
    "tuple": ((1.0, 2.0), 2),
    "dict": ({"b": 1.0, "a": np.zeros(2), "c": None}, 2),
    "namedtuple": (Point(1.0, np.ones(3)), 2),
    "dataclass": (Layer(np.ones((2, 2)), np.zeros(2), name="hidden"), 2),
    "frozen-dataclass": (Frozen(np.ones(2), tag=3), 1),
    "custom": (Custom({"w": np.ones(2), "v": 1.0}, 0.5), 2),
    "nested": (
        {"layers": [Layer(1.0, 2.0), Layer(3.0, (4.0, None))], "opt": Point([5.0], {"z": 6.0})},
        6,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip(name):
    value, n_leaves = CASES[name]
    leaves, td = tree.flatten(value)
    assert len(leaves) == n_leaves == td.num_leaves
    back = tree.unflatten(td, leaves)
    assert type(back) is type(value)
    assert _equal(back, value)
    assert tree.structure(back) == td


def test_dict_keys_sorted_regardless_of_insertion_order():
    a = {"b": 2.0, "a": 1.0, "c": 3.0}
    b = {"c": 3.0, "a": 1.0, "b": 2.0}
    assert tree.leaves(a) == [1.0, 2.0, 3.0]
    assert tree.structure(a) == tree.structure(b)
    back = tree.unflatten(tree.structure(a), [10.0, 20.0, 30.0])
    assert back == {"a": 10.0, "b": 20.0, "c": 30.0}


def test_ordered_dict_keeps_its_order():
    od = collections.OrderedDict([("z", 1.0), ("a", 2.0)])
    leaves, td = tree.flatten(od)
    assert leaves == [1.0, 2.0]
    back = tree.unflatten(td, leaves)
    assert type(back) is collections.OrderedDict and list(back) == ["z", "a"]


def test_dataclass_static_field_is_structure_not_leaf():
    leaves, td = tree.flatten(Layer(1.0, 2.0, name="out"))
    assert leaves == [1.0, 2.0]
    back = tree.unflatten(td, [5.0, 6.0])
    assert back == Layer(5.0, 6.0, name="out")
    # different static values make different structures
    assert td != tree.structure(Layer(1.0, 2.0, name="other"))


def test_depth_first_order():
    t = {"a": [1.0, (2.0, 3.0)], "b": Point(4.0, [5.0])}
    assert tree.leaves(t) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_unflatten_wrong_number_of_leaves():
    td = tree.structure((1.0, 2.0))
    with pytest.raises(ValueError, match="needs 2 leaves, got 3"):
        tree.unflatten(td, [1.0, 2.0, 3.0])


# --- tree.map -----------------------------------------------------------------------


def test_map_one_tree():
    t = {"w": np.ones(2), "b": [1.0, Point(2.0, 3.0)]}
    out = tree.map(lambda x: x * 2, t)
    assert _equal(out, {"w": 2 * np.ones(2), "b": [2.0, Point(4.0, 6.0)]})


def test_map_several_trees():
    a = [1.0, {"k": 2.0}]
    b = [10.0, {"k": 20.0}]
    c = [100.0, {"k": 200.0}]
    assert tree.map(lambda x, y, z: x + y + z, a, b, c) == [111.0, {"k": 222.0}]


@pytest.mark.parametrize(
    "a,b",
    [
        ([1.0, 2.0], (1.0, 2.0)),
        ([1.0, 2.0], [1.0, 2.0, 3.0]),
        ({"a": 1.0}, {"b": 1.0}),
        (Point(1.0, 2.0), Other(1.0, 2.0)),
        ([1.0, None], [1.0, 2.0]),
        (Layer(1.0, 2.0, "x"), Layer(1.0, 2.0, "y")),
    ],
    ids=["list-vs-tuple", "length", "dict-keys", "namedtuple-type", "none-vs-leaf", "static"],
)
def test_map_mismatched_structures_error(a, b):
    with pytest.raises(ValueError, match="structures differ"):
        tree.map(lambda x, y: x + y, a, b)


# --- TreeDef equality ---------------------------------------------------------------


def test_treedef_equality_and_hash():
    a = tree.structure({"x": [1.0, 2.0], "y": Point(1.0, None)})
    b = tree.structure({"y": Point(np.ones(3), None), "x": [np.zeros(2), 5.0]})
    assert a == b and hash(a) == hash(b)
    assert a != tree.structure({"x": [1.0, 2.0], "y": Point(1.0, 2.0)})
    assert a != tree.structure({"x": (1.0, 2.0), "y": Point(1.0, None)})
    assert tree.structure(1.0) == tree.structure(np.ones(4))  # both one leaf
    assert tree.structure(None) != tree.structure(1.0)


def test_treedef_repr_shows_structure():
    assert repr(tree.structure((1.0, [2.0, 3.0]))) == "tuple(*, list(*, *))"


def test_defaultdict_round_trip():
    dd = collections.defaultdict(list, {"b": 1.0, "a": 2.0})
    leaves, td = tree.flatten(dd)
    assert leaves == [2.0, 1.0]
    back = tree.unflatten(td, leaves)
    assert type(back) is collections.defaultdict and back.default_factory is list
    assert dict(back) == {"a": 2.0, "b": 1.0}


def test_unflatten_takes_any_iterable_of_leaves():
    td = tree.structure({"a": 1.0, "b": (2.0, 3.0)})
    assert tree.unflatten(td, iter([4.0, 5.0, 6.0])) == {"a": 4.0, "b": (5.0, 6.0)}
    assert tree.unflatten(td, (x for x in (7.0, 8.0, 9.0))) == {"a": 7.0, "b": (8.0, 9.0)}


@pytest.mark.parametrize("name", list(CASES))
def test_builder_rebuilds_like_unflatten(name):
    """The generated builder of a structure gives what unflatten gives, for new leaves."""
    value, _ = CASES[name]
    leaves, td = tree.flatten(value)
    build = tree.builder(td)
    fresh = [f"leaf{i}" for i in range(len(leaves))]
    assert _equal(build(fresh), tree.unflatten(td, fresh))
    assert tree.structure(build(leaves)) == td


def test_builder_of_a_deep_tree_falls_back_to_unflatten():
    deep: Any = 1.0
    for _ in range(300):
        deep = [deep]
    leaves, td = tree.flatten(deep)
    rebuilt = tree.builder(td)([2.0])
    for _ in range(300):
        rebuilt = rebuilt[0]
    assert rebuilt == 2.0
