"""Loss functions ``loss(predictions, targets, reduction=...) -> scalar``.

Predictions come first (PyTorch's and optax's order). ``reduction`` is ``"mean"``,
``"sum"`` or ``"none"`` (per-sample or per-element values). Targets that differ from the
predictions only by a trailing axis of size 1 (``(N,)`` vs ``(N, 1)``) are reshaped;
any other shape mismatch is a ``ShapeError`` naming both shapes (broadcasting ``(N, 1)``
against ``(N,)`` silently gives an ``(N, N)`` loss in NumPy).

=========================== ==========================================================
``mse``                     mean of ``(ŷ − y)²`` over all elements
``sse``                     seed 000's RSS / L2 loss ``Σ_n ‖ŷ_n − y_n‖²`` (default ``sum``)
``cross_entropy``           ``−Σ_c y_c log softmax(z)_c`` from logits ``z`` (stable)
``nll``                     ``−Σ_c y_c log p_c`` from log-probabilities
``binary_cross_entropy``    from logits, ``max(z, 0) − z·y + log(1 + e^{−|z|})``
=========================== ==========================================================

Class targets for ``cross_entropy`` and ``nll`` are integer labels ``(N,)`` or one-hot /
probability rows ``(N, C)``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

import tracegrad.numpy as tnp
from tracegrad.core.primitive import ShapeError

__all__ = ["binary_cross_entropy", "cross_entropy", "mse", "nll", "sse"]

Reduction = Literal["mean", "sum", "none"]


def _shape(x: Any) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _dtype(x: Any) -> np.dtype:
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.result_type(x)


def _float_target(target: Any, like: Any) -> Any:
    """Plain targets get the predictions' float dtype (float32 training stays float32)."""
    if hasattr(target, "shape") and not isinstance(target, np.ndarray):
        return target  # traced
    dt = _dtype(like)
    return np.asarray(target, dtype=dt if np.issubdtype(dt, np.floating) else np.float64)


def _match(pred: Any, target: Any, fname: str) -> Any:
    ps, ts = _shape(pred), _shape(target)
    if ps == ts:
        return target
    if ps == ts + (1,) or ts == ps + (1,):
        return tnp.reshape(target, ps)
    raise ShapeError(
        f"{fname}: predictions have shape {ps} but targets have shape {ts}; they must match"
    )


def _reduce(per: Any, reduction: str, fname: str) -> Any:
    if reduction == "mean":
        return tnp.mean(per)
    if reduction == "sum":
        return tnp.sum(per)
    if reduction == "none":
        return per
    raise ValueError(f"{fname}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mse(pred: Any, target: Any, reduction: Reduction = "mean") -> Any:
    """Squared error ``(ŷ − y)²``, averaged (or summed) over **all** elements."""
    target = _match(pred, _float_target(target, pred), "mse")
    return _reduce((pred - target) ** 2, reduction, "mse")


def sse(pred: Any, target: Any, reduction: Reduction = "sum") -> Any:
    """Sum of squared errors, the seeds' RSS / L2 loss ``Σ_n ‖ŷ_n − y_n‖²``.

    Per sample, squares are summed over the feature axes; ``"sum"`` (default) adds the
    samples, ``"mean"`` averages them, ``"none"`` returns shape ``(N,)``.
    """
    target = _match(pred, _float_target(target, pred), "sse")
    sq = (pred - target) ** 2
    if len(_shape(sq)) > 1:
        sq = tnp.sum(sq, axis=tuple(range(1, len(_shape(sq)))))
    return _reduce(sq, reduction, "sse")


def _class_targets(log_probs: Any, target: Any, fname: str) -> Any:
    """One-hot (float, like ``log_probs``) rows for integer labels; float rows as given."""
    ls = _shape(log_probs)
    if len(ls) < 1:
        raise ShapeError(f"{fname}: predictions must have a class axis, got shape {ls}")
    t_dt = _dtype(target)
    ts = _shape(target)
    if np.issubdtype(t_dt, np.integer) or np.issubdtype(t_dt, np.bool_):
        labels = np.asarray(target)
        if ts != ls[:-1]:
            raise ShapeError(
                f"{fname}: integer class labels must have shape {ls[:-1]} for predictions of "
                f"shape {ls}, got {ts}"
            )
        c = ls[-1]
        if labels.size and (labels.min() < 0 or labels.max() >= c):
            raise ValueError(
                f"{fname}: class labels must lie in [0, {c}) for {c} classes, got values in "
                f"[{labels.min()}, {labels.max()}]"
            )
        return np.eye(c, dtype=_dtype(log_probs))[labels]
    if ts != ls:
        raise ShapeError(
            f"{fname}: predictions have shape {ls}; targets must be integer labels of shape "
            f"{ls[:-1]} or class probabilities of shape {ls}, got shape {ts}"
        )
    return _float_target(target, log_probs)


def nll(log_probs: Any, target: Any, reduction: Reduction = "mean") -> Any:
    """Negative log-likelihood ``−Σ_c y_c log p_c`` per sample from log-probabilities
    ``(N, C)`` (e.g. ``log_softmax`` outputs, or ``tnp.log`` of a softmax layer's)."""
    t = _class_targets(log_probs, target, "nll")
    return _reduce(-tnp.sum(t * log_probs, axis=-1), reduction, "nll")


def cross_entropy(logits: Any, target: Any, reduction: Reduction = "mean") -> Any:
    """Softmax cross-entropy from logits ``(N, C)``: ``nll(log_softmax(logits), target)``.

    Seed 001's ``cost``: ``−mean(Σ_c U·Y − logsumexp(U))``.
    """
    t = _class_targets(logits, target, "cross_entropy")
    return _reduce(
        -tnp.sum(t * tnp.log_softmax(logits, axis=-1), axis=-1), reduction, "cross_entropy"
    )


def binary_cross_entropy(logits: Any, target: Any, reduction: Reduction = "mean") -> Any:
    """Binary cross-entropy from logits ``z`` (PyTorch's ``BCEWithLogitsLoss``).

    Uses the stable form ``max(z, 0) − z·y + log(1 + exp(−|z|))``, equal to
    ``−y log σ(z) − (1 − y) log(1 − σ(z))`` without overflow for large ``|z|``.
    Averaged over all elements with ``"mean"``.
    """
    target = _match(logits, _float_target(target, logits), "binary_cross_entropy")
    per = tnp.maximum(logits, 0.0) - logits * target + tnp.log1p(tnp.exp(-tnp.abs(logits)))
    return _reduce(per, reduction, "binary_cross_entropy")


LOSSES = {
    "mse": mse,
    "sse": sse,
    "rss": sse,
    "cross_entropy": cross_entropy,
    "nll": nll,
    "binary_cross_entropy": binary_cross_entropy,
}


def get_loss(loss: Any) -> Any:
    """The loss function for a name in ``LOSSES`` or the function itself."""
    if callable(loss):
        return loss
    try:
        return LOSSES[loss]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {loss!r}; known: {', '.join(sorted(LOSSES))}") from None
