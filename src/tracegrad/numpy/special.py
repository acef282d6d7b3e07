"""Numerically stable softmax family (``sigmoid`` and ``relu`` are primitives in
:mod:`elementwise`; ``logsumexp`` lives with the reductions)."""

from __future__ import annotations

from typing import Any

from tracegrad.numpy.elementwise import exp, where
from tracegrad.numpy.reductions import logsumexp

__all__ = ["leaky_relu", "log_softmax", "softmax"]


def log_softmax(x: Any, axis: int = -1) -> Any:
    """``x - logsumexp(x)`` along ``axis``: finite for logits of any size."""
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x: Any, axis: int = -1) -> Any:
    """``exp(log_softmax(x))`` along ``axis``; rows sum to one."""
    return exp(log_softmax(x, axis=axis))


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """``x`` where positive, ``negative_slope * x`` elsewhere (slope at 0 is the negative one)."""
    return where(x > 0, x, x * negative_slope)
