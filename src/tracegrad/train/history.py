"""What ``tg.fit`` returns alongside the model: one entry per epoch."""

from __future__ import annotations

import copy
import csv
import io
import os
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
            monitored loss; opt_state: the optimiser state to resume from;
        rng_state: the state of ``fit``'s random generator after the last epoch
            (``bit_generator.state``), which ``fit(resume=...)`` restores.
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
    rng_state: dict | None = field(default=None, repr=False)

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

    def copy(self) -> History:
        """A copy whose records can grow without changing this one's (the states,
        immutable, are shared)."""
        new = copy.copy(self)
        for k in ("loss", "val_loss", "grad_norm", "time", "lr"):
            setattr(new, k, list(getattr(self, k)))
        new.metrics = {k: list(v) for k, v in self.metrics.items()}
        return new

    def truncate(self, epochs: int) -> None:
        """Keep the records of the first ``epochs`` epochs only (in place)."""
        for k in ("loss", "val_loss", "grad_norm", "time", "lr"):
            del getattr(self, k)[epochs:]
        for v in self.metrics.values():
            del v[epochs:]
        if self.best_epoch is not None and self.best_epoch > epochs:
            monitored = self.val_loss or self.loss
            self.best_epoch = min(range(epochs), key=monitored.__getitem__) + 1 if epochs else None

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """The records as CSV, one row per epoch: ``epoch,loss,val_loss,...`` (epochs
        from 1; every number as Python's shortest round-trip ``repr``). With ``path``,
        also written there atomically. Returns the text."""
        records = self.as_dict()
        keys = list(records)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["epoch", *keys])
        for i in range(self.epochs):
            w.writerow([i + 1, *(repr(float(records[k][i])) for k in keys)])
        text = buf.getvalue()
        if path is not None:
            from tracegrad.files import write_atomic

            write_atomic(path, text)
        return text

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.as_dict().items() if k != "time")
        return f"History({self.epochs} epochs, {self.steps} steps, {last}; {self.stop_reason})"
