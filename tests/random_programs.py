"""Random straight-line programs for property tests of the core and the compiler.

A program is a list of input shapes (broadcasting with one another) and steps; a step
``(kind, op, i, j)`` applies operation ``op`` of ``kind`` to earlier values ``i`` and
``j`` (inputs first), so values are reused freely. What each kind computes is the test's
own (``run``'s ``kinds``): the core's tests use fused primitives, the compiler's views.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

#: input shapes that broadcast with one another
SHAPES = [(), (3,), (2, 3), (2, 1), (1, 3)]


@st.composite
def programs(draw: Any, kinds: Sequence[str], max_steps: int) -> tuple[list, list]:
    """``(shapes, steps)``: 1 to 3 inputs, then 1 to ``max_steps`` steps of ``kinds``
    (a kind listed twice is drawn twice as often); ``op`` is an integer in 0..4."""
    n_in = draw(st.integers(1, 3))
    shapes = [draw(st.sampled_from(SHAPES)) for _ in range(n_in)]
    steps = []
    for k in range(draw(st.integers(1, max_steps))):
        n = n_in + k
        kind = draw(st.sampled_from(list(kinds)))
        steps.append((kind, draw(st.integers(0, 4)), draw(st.integers(0, n - 1)),
                      draw(st.integers(0, n - 1))))  # fmt: skip
    return shapes, steps


def run(steps: list, xs: Sequence[Any], kinds: dict[str, Callable[[int, Any, Any], Any]]) -> list:
    """Every value of the program on inputs ``xs``: ``kinds[kind](op, a, b)`` per step."""
    vals = list(xs)
    for kind, op, i, j in steps:
        vals.append(kinds[kind](op, vals[i], vals[j]))
    return vals
