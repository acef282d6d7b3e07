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
from tracegrad.core.backend import as_array
from tracegrad.core.primitive import ShapeError, dtype_of
from tracegrad.nn.functional import class_target, softmax_cross_entropy

__all__ = ["binary_cross_entropy", "cross_entropy", "mse", "nll", "sse"]

Reduction = Literal["mean", "sum", "none"]


def _shape(x: Any) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _float_target(target: Any, like: Any) -> Any:
    """Plain targets get the predictions' float dtype (float32 training stays float32)."""
    if hasattr(target, "shape") and not isinstance(target, np.ndarray):
        return target  # traced
    dt = dtype_of(like)
    return as_array(target, dtype=dt if np.issubdtype(dt, np.floating) else np.float64)


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


def _class_nll(log_probs: Any, target: Any, fname: str) -> Any:
    """Per-sample ``−Σ_c y_c log p_c`` for integer labels or probability rows.

    Classes a sample gives no weight contribute nothing, even where ``log p_c = −∞``
    (masked logits, a softmax that underflowed): multiplying by a one-hot row would
    give ``0 · (−∞) = NaN`` in the value and in every derivative.
    """
    t = class_target(log_probs, target, fname)
    if t.dtype == np.intp:
        # gather each sample's target log-probability: the other classes never enter the
        # computation, and the backward pass scatters into the target entries only
        picked = tnp.take_along_axis(log_probs, t[..., None], axis=-1)
        return -tnp.reshape(picked, t.shape)
    # 0 · log 0 = 0: entries with zero weight and log p = −∞ are replaced before the
    # product, so neither the value nor the derivatives see 0 · (−∞). Only those: a zero
    # weight on a finite log p keeps its derivative −log p with respect to the target,
    # and NaN predictions still show.
    keep = tnp.logical_or(tnp.not_equal(t, 0), tnp.not_equal(log_probs, -np.inf))
    return -tnp.sum(t * tnp.where(keep, log_probs, 0.0), axis=-1)


def nll(log_probs: Any, target: Any, reduction: Reduction = "mean") -> Any:
    """Negative log-likelihood ``−Σ_c y_c log p_c`` per sample from log-probabilities
    ``(N, C)`` (e.g. ``log_softmax`` outputs, or ``tnp.log`` of a softmax layer's).

    Terms with ``y_c = 0`` count as zero even where ``log p_c = −∞``. (The gradient of
    ``tnp.log`` itself is still ``0/0`` at an exact zero probability, as in every AD
    system: prefer ``log_softmax`` or :func:`cross_entropy` on logits.)
    """
    return _reduce(_class_nll(log_probs, target, "nll"), reduction, "nll")


def cross_entropy(logits: Any, target: Any, reduction: Reduction = "mean") -> Any:
    """Softmax cross-entropy from logits ``(N, C)``: ``nll(log_softmax(logits), target)``.

    Seed 001's ``cost``: ``−mean(Σ_c U·Y − logsumexp(U))``. Logits of ``−∞`` (masked
    classes) are allowed for classes with zero target weight. With ``"mean"`` or
    ``"sum"`` it is one fused step (:func:`tracegrad.nn.functional.softmax_cross_entropy`).
    """
    if reduction in ("mean", "sum"):
        return softmax_cross_entropy(logits, target, reduction)
    log_probs = tnp.log_softmax(logits, axis=-1)
    return _reduce(_class_nll(log_probs, target, "cross_entropy"), reduction, "cross_entropy")


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
