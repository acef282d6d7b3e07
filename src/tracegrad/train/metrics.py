"""Evaluation metrics ``metric(outputs, targets) -> float`` on concrete arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["METRICS", "accuracy", "get_metric"]


def accuracy(outputs: Any, targets: Any) -> float:
    """Fraction of correct predictions.

    ``outputs`` ``(N, C)`` with ``C > 1``: the predicted class is the arg-max (logits or
    probabilities alike). ``(N,)`` or ``(N, 1)``: binary, positive where the output is
    ``> 0`` (logits, as ``binary_cross_entropy`` takes). Targets are labels ``(N,)`` or
    one-hot rows ``(N, C)``.
    """
    out = np.asarray(outputs)
    t = np.asarray(targets)
    if out.ndim == 2 and out.shape[1] > 1:
        pred = out.argmax(axis=1)
        labels = t.argmax(axis=1) if t.ndim == 2 and t.shape[1] == out.shape[1] else t.reshape(-1)
    else:
        pred = (out.reshape(-1) > 0).astype(int)
        labels = t.reshape(-1)
    if pred.shape != labels.shape:
        raise ValueError(
            f"accuracy: outputs of shape {out.shape} do not fit targets of shape {t.shape}"
        )
    return float(np.mean(pred == labels))


METRICS: dict[str, Callable[[Any, Any], float]] = {"accuracy": accuracy, "acc": accuracy}


def get_metric(metric: str | Callable[[Any, Any], float]) -> tuple[str, Callable]:
    """``(name, function)`` for a metric name or function."""
    if callable(metric):
        return getattr(metric, "__name__", "metric"), metric
    if metric in METRICS:
        return metric, METRICS[metric]
    from tracegrad.nn.losses import LOSSES

    if metric in LOSSES:
        fn = LOSSES[metric]
        return metric, lambda o, t: float(fn(o, t))
    raise ValueError(f"unknown metric {metric!r}; known: {', '.join(sorted(METRICS))} and losses")
