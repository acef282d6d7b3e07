"""User-defined primitives: ``primitive``, ``defvjp``, ``defjvp``.

>>> import numpy as np, tracegrad as tg
>>> @tg.primitive
... def cube(x):
...     return x ** 3
>>> tg.defvjp(cube, lambda g, out, x: g * 3 * x ** 2)
>>> tg.defjvp(cube, lambda t, out, x: t * 3 * x ** 2)
>>> float(tg.grad(cube)(2.0))
12.0

When the cotangents of several arguments share work, one joint rule computes them
together: ``tg.defvjp_joint(prim, rule)`` with ``rule(argnums, g, out, *args)``
returning one cotangent per entry of ``argnums``.

The implementation receives plain NumPy values. Rules receive the output cotangent
``g`` (or the input tangent ``t``), the primal output ``out`` and the primal arguments;
write them with tracegrad.numpy so that they can be differentiated again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracegrad.core.primitive import Primitive

__all__ = ["defjvp", "defvjp", "defvjp_joint", "primitive"]


def primitive(fun: Callable[..., Any]) -> Primitive:
    """Make ``fun`` an opaque operation whose derivatives come from its own rules."""
    return Primitive(fun, getattr(fun, "__name__", "primitive"))


def defvjp(prim: Primitive, *rules: Callable[..., Any] | None) -> None:
    """Reverse-mode rules, one per positional argument: ``rule(g, out, *args, **kw)``
    returns the cotangent of that argument (``None`` marks an argument that is not
    differentiable)."""
    _check(prim, "defvjp").defvjp(*rules)


def defvjp_joint(prim: Primitive, rule: Callable[..., Any]) -> None:
    """One reverse-mode rule for all arguments, when their cotangents share work:
    ``rule(argnums, g, out, *args, **kw)`` returns one cotangent per entry of
    ``argnums`` (the positions of the arguments being differentiated, increasing)."""
    _check(prim, "defvjp_joint").defvjp_joint(rule)


def defjvp(prim: Primitive, *rules: Callable[..., Any] | None) -> None:
    """Forward-mode rules, one per positional argument: ``rule(t, out, *args, **kw)``
    returns that argument's contribution to the output tangent."""
    _check(prim, "defjvp").defjvp(*rules)


def _check(prim: Any, fname: str) -> Primitive:
    if not isinstance(prim, Primitive):
        raise TypeError(f"{fname}: expected a function decorated with @tg.primitive, got {prim!r}")
    return prim
