"""Reading the tangent direction of a forward sweep and the output adjoints of a reverse one.

A tangent *direction* (``ẋ``) is an input's name (a unit tangent for it, the others 0), a
dict ``{input name: tangent}`` (absent inputs 0), one tangent per input in order, or a
number when there is one input. The adjoint *seed* (``ȳ``) is a number for the first
output, a dict ``{output name: ȳ}`` or one per output (``None``: not seeded). A number
fills its value's shape; an array must have that shape exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["AdjointSeed", "Direction", "input_tangents", "output_adjoints"]

#: a tangent direction: see the module docstring
Direction = str | Mapping[str, Any] | Sequence[Any] | float
#: the adjoints ȳ of the outputs: see the module docstring
AdjointSeed = Mapping[str, Any] | Sequence[Any] | float


def input_tangents(direction: Direction, names: list[str], values: list[Any]) -> list[Any]:
    """One tangent per input (``names``, ``values``), each of its input's shape."""
    if isinstance(direction, str):
        direction = {direction: 1.0}
    if (
        len(names) == 1
        and not isinstance(direction, (Mapping, list, tuple))
        and np.ndim(direction) == 0
    ):
        direction = [direction]
    vals = _per_name(direction, "tangent", "inputs", names, 0.0)
    return [_fitted(v, like, "tangent", name) for v, like, name in zip(vals, values, names)]


def output_adjoints(
    seed: AdjointSeed, names: list[str], positions: list[int | None], values: list[Any]
) -> list[tuple[int, Any]]:
    """``(step position, ȳ)`` for each seeded output that is a step (``positions``; an
    output that is a constant has nothing to sweep)."""
    if not isinstance(seed, (Mapping, list, tuple)):
        # One number seeds the first output (with several outputs, one reverse sweep
        # per output is the seeds' way; pass a dict to pick another).
        seed = [seed] + [None] * (len(names) - 1)
    vals = _per_name(seed, "adjoint", "outputs", names, None)
    return [
        (p, _fitted(v, val, "adjoint", name))
        for p, v, name, val in zip(positions, vals, names, values)
        if p is not None and v is not None
    ]


def _per_name(
    given: Mapping[str, Any] | Sequence[Any],
    kind: str,
    what: str,
    names: Sequence[str],
    missing: Any,
) -> list[Any]:
    """A tangent or adjoint seed as one value per name: a dict by name (absent names get
    ``missing``; unknown names are a ``KeyError``) or a sequence in order (its length
    must match, else ``ValueError``)."""
    if isinstance(given, Mapping):
        unknown = [k for k in given if k not in names]
        if unknown:
            raise KeyError(
                f"{kind} seed names {unknown} are not {what} ({what}: {', '.join(names)})"
            )
        return [given.get(nm, missing) for nm in names]
    vals = list(given)
    if len(vals) != len(names):
        raise ValueError(f"{kind} seed: {len(vals)} values for {len(names)} {what}")
    return vals


def _fitted(v: Any, like: Any, kind: str, name: str) -> Any:
    """The seed ``v`` for the value ``like`` as a float array of its shape: a number
    fills every element, an array must have that shape exactly (NumPy's broadcasting
    would silently reuse or fail with a message that names neither value)."""
    a = np.asarray(v, dtype=float)
    shape = np.shape(like)
    if a.ndim and a.shape != shape:
        hint = "a number" if not shape else f"a number or an array of shape {shape}"
        raise ValueError(
            f"{kind} seed for {name}: shape {a.shape} does not match {name}'s shape "
            f"{shape} (give {hint})"
        )
    return np.broadcast_to(a, shape).copy()[()]
