"""Evaluation metrics ``metric(outputs, targets) -> float`` on concrete arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["METRICS", "accuracy", "get_metric", "r2_score"]


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


def r2_score(outputs: Any, targets: Any) -> float:
    """Coefficient of determination ``R² = 1 − Σ(t − o)² / Σ(t − t̄)²`` of predictions
    ``outputs`` against ``targets`` (note the order: outputs first, as every metric
    here takes them).

    ``(N,)`` and ``(N, 1)`` are the same single target; ``(N, K)`` gives each column's R²
    averaged uniformly (scikit-learn's default). A constant target column scores 0
    rather than dividing by zero.
    """
    o = np.asarray(outputs, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    # one target may come as (N,) on one side and (N, 1) on the other
    o2 = o[:, None] if o.ndim == 1 else o
    t2 = t[:, None] if t.ndim == 1 else t
    if o2.ndim != 2 or o2.shape != t2.shape:
        raise ValueError(
            f"r2_score: outputs of shape {o.shape} do not fit targets of shape {t.shape}"
        )
    resid = np.sum((t2 - o2) ** 2, axis=0)
    total = np.sum((t2 - t2.mean(axis=0)) ** 2, axis=0)
    safe = np.where(total > 0, total, 1.0)
    return float(np.mean(np.where(total > 0, 1.0 - resid / safe, 0.0)))


METRICS: dict[str, Callable[[Any, Any], float]] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "r2": r2_score,
}


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
