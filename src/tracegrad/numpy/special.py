"""Numerically stable softmax family (``sigmoid`` and ``relu`` are primitives in
:mod:`elementwise`; ``logsumexp`` lives with the reductions)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.core.backend import as_array
from tracegrad.core.primitive import Primitive
from tracegrad.core.shapes import sum
from tracegrad.numpy.elementwise import exp, where
from tracegrad.numpy.reductions import stable_logsumexp

__all__ = ["leaky_relu", "log_softmax", "softmax"]


def _log_softmax_impl(x: Any, axis: int = -1) -> Any:
    x = as_array(x)
    if not np.issubdtype(x.dtype, np.inexact):
        x = x.astype(np.float64)
    return x - stable_logsumexp(x, axis)


def _log_softmax_vjp(g: Any, out: Any, x: Any, axis: int = -1) -> Any:
    return g - exp(out) * sum(g, axis=axis, keepdims=True)


def _log_softmax_jvp(t: Any, out: Any, x: Any, axis: int = -1) -> Any:
    return t - sum(exp(out) * t, axis=axis, keepdims=True)


def _log_softmax_batch(size: int, batched: Any, x: Any, axis: int = -1) -> Any:
    return _log_softmax(x, axis=axis % (np.ndim(x) - 1) + 1)


# A primitive for the same reasons as logsumexp: stable, and one step on the tape (the
# classification loss of every training step goes through it).
_log_softmax = Primitive(_log_softmax_impl, "log_softmax").defvjp(_log_softmax_vjp)
_log_softmax.defjvp(_log_softmax_jvp).defbatch(_log_softmax_batch).saving("out")


def log_softmax(x: Any, axis: int = -1) -> Any:
    """``x - logsumexp(x)`` along ``axis``: finite for logits of any size."""
    return _log_softmax(x, axis=axis)


def softmax(x: Any, axis: int = -1) -> Any:
    """``exp(log_softmax(x))`` along ``axis``; rows sum to one."""
    return exp(log_softmax(x, axis=axis))


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """``x`` where positive, ``negative_slope * x`` elsewhere (slope at 0 is the negative one)."""
    return where(x > 0, x, x * negative_slope)
