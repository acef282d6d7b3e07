"""The primitive registry: every primitive has both rules and a systematic test.

Primitives are discovered by walking the globals (private names included) of every
tracegrad.numpy and tracegrad.scipy module, of tracegrad.core.shapes and of
tracegrad.nn.functional (the fused layer primitives), so a primitive added anywhere
there without a VJP rule, a JVP rule or a case in tests/test_ops_systematic.py makes
these tests fail.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import tracegrad.numpy
import tracegrad.scipy
from test_ops_systematic import EXERCISED  # tests/ is on sys.path (rootdir conftest)
from tracegrad.core.primitive import Primitive


def _modules():
    names = ["tracegrad.core.shapes", "tracegrad.nn.functional", "tracegrad.numpy"]
    for pkg in (tracegrad.numpy, tracegrad.scipy):
        names += [f"{pkg.__name__}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)]
    return [importlib.import_module(n) for n in names]


def discover_primitives() -> dict[str, Primitive]:
    """Every Primitive bound to a global of the op modules (directly, or as the
    ``.primitive`` of a public function such as ``tnp.sin``), by primitive name."""
    found: dict[str, Primitive] = {}
    for mod in _modules():
        for value in vars(mod).values():
            value = getattr(value, "primitive", value)
            if isinstance(value, Primitive):
                other = found.setdefault(value.name, value)
                assert other is value, f"two different primitives are named {value.name!r}"
    return found


PRIMITIVES = discover_primitives()


def test_discovery_finds_the_known_primitives() -> None:
    """Guards the discovery itself: private and rule-only primitives are found too."""
    expected = {"where", "concatenate", "einsum", "transpose", "logabsdet", "scatter_add",
                "getitem", "astype", "reshape", "broadcast_to", "sum", "add", "matmul",
                "solve", "prod", "max", "cumsum", "dense", "softmax_cross_entropy",
                "sum_of_squares"}  # fmt: skip
    assert expected <= set(PRIMITIVES), expected - set(PRIMITIVES)
    assert len(PRIMITIVES) >= 50


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_primitive_has_both_rules(name: str) -> None:
    prim = PRIMITIVES[name]
    assert prim.has_vjp, f"primitive {name} has no VJP rule"
    assert prim.has_jvp, f"primitive {name} has no JVP rule"


def test_every_primitive_is_tested_systematically() -> None:
    untested = set(PRIMITIVES) - EXERCISED
    assert not untested, (
        f"primitives without a case in tests/test_ops_systematic.py: {sorted(untested)}"
    )


def test_exercised_names_are_real_primitives() -> None:
    """A stale name in a case's ``covers`` (a renamed or removed primitive) is an error."""
    unknown = EXERCISED - set(PRIMITIVES)
    assert not unknown, f"cases claim to cover unknown primitives: {sorted(unknown)}"
