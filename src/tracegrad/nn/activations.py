"""Activation functions, and a registry that maps names to them.

Every activation is an ordinary function of :mod:`tracegrad.numpy` operations, so
``grad``, ``jvp`` and ``check_grads`` see through it. Layers accept an activation either
as a function or by name (``"tanh"``, ``"relu"``, ...); names are what a saved model
stores, so register custom activations with :func:`register_activation` to save them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tracegrad.numpy as tnp

__all__ = [
    "ACTIVATIONS",
    "activation_name",
    "get_activation",
    "identity",
    "leaky_relu",
    "log_softmax",
    "register_activation",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]


def identity(x: Any) -> Any:
    """``x`` unchanged (a linear output layer)."""
    return x


def tanh(x: Any) -> Any:
    """Hyperbolic tangent, range (-1, 1)."""
    return tnp.tanh(x)


def relu(x: Any) -> Any:
    """``max(x, 0)``; the derivative at 0 is taken as 0."""
    return tnp.relu(x)


def sigmoid(x: Any) -> Any:
    """The logistic function ``1 / (1 + exp(-x))`` (seed 001's ``logistic``)."""
    return tnp.sigmoid(x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    return tnp.leaky_relu(x, negative_slope)


def softmax(x: Any, axis: int = -1) -> Any:
    """Row-wise softmax of a batch ``(N, C)``: each row is a probability vector."""
    return tnp.softmax(x, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """``log(softmax(x))`` computed stably as ``x - logsumexp(x)``."""
    return tnp.log_softmax(x, axis=axis)


ACTIVATIONS: dict[str, Callable[[Any], Any]] = {
    "identity": identity,
    "linear": identity,
    "tanh": tanh,
    "relu": relu,
    "sigmoid": sigmoid,
    "logistic": sigmoid,
    "leaky_relu": leaky_relu,
    "softmax": softmax,
    "log_softmax": log_softmax,
}


def register_activation(name: str, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Make ``fn`` available (and saveable) under ``name``; returns ``fn``."""
    if not callable(fn):
        raise TypeError(f"register_activation: {fn!r} is not callable")
    ACTIVATIONS[name] = fn
    return fn


def get_activation(act: str | Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """The function for an activation given by name or as a function (``None``: identity)."""
    if act is None:
        return identity
    if callable(act):
        return act
    try:
        return ACTIVATIONS[act]
    except (KeyError, TypeError):
        known = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {act!r}; known: {known}") from None


def activation_name(act: str | Callable[[Any], Any] | None) -> str | None:
    """The registered name of an activation, or ``None`` if it has none."""
    if act is None:
        return "identity"
    if isinstance(act, str):
        return act if act in ACTIVATIONS else None
    for name, fn in ACTIVATIONS.items():
        if fn is act:
            return name
    return None
