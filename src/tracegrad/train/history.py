"""What ``tg.fit`` returns alongside the model: one entry per epoch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch records of a training run.

    Attributes:
        loss: training objective (loss plus penalty), the batch-size-weighted mean over
            the epoch's batches (each taken before its update).
        val_loss: data loss on the validation set after the epoch (empty without one).
        metrics: ``{"accuracy": [...], "val_accuracy": [...], ...}``, evaluated after
            each epoch in evaluation mode.
        grad_norm: norm of the epoch's mean gradient; for full-batch training exactly
            the gradient norm of the step (seed 001's ``‖dW‖``, over all parameters).
        time: seconds per epoch; lr: rate of the epoch's first step.
        steps: optimiser updates in total; stop_reason: why training ended;
        converged: stopped by ``tol``; best_epoch: epoch (1-based) with the lowest
            monitored loss; opt_state: the optimiser state to resume from.
    """

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    grad_norm: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    steps: int = 0
    stop_reason: str = ""
    converged: bool = False
    best_epoch: int | None = None
    opt_state: Any = field(default=None, repr=False)

    @property
    def epochs(self) -> int:
        """Epochs completed."""
        return len(self.loss)

    def __len__(self) -> int:
        return self.epochs

    def __getitem__(self, key: str) -> list[float]:
        """``history["loss"]``, ``history["val_accuracy"]``, ``history["grad_norm"]``..."""
        if key in ("loss", "val_loss", "grad_norm", "time", "lr"):
            return getattr(self, key)
        if key in self.metrics:
            return self.metrics[key]
        raise KeyError(f"history has no record {key!r}; it has {sorted(self.as_dict())}")

    def as_dict(self) -> dict[str, list[float]]:
        """All per-epoch records by name (empty ones left out)."""
        out = {
            k: getattr(self, k)
            for k in ("loss", "val_loss", "grad_norm", "time", "lr")
            if getattr(self, k)
        }
        out.update(self.metrics)
        return out

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.as_dict().items() if k != "time")
        return f"History({self.epochs} epochs, {self.steps} steps, {last}; {self.stop_reason})"
