"""Checkpoints of a training run, and the callback that writes them.

A checkpoint is a directory of three files, replaced as one set
(:func:`tracegrad.files.replace_directory`: a reader, or a run killed while writing,
sees the old set or the new one, never a mixture):

- ``model.npz``: the model (:func:`tracegrad.nn.save`);
- ``optimizer.npz``: the optimiser state (:func:`tracegrad.nn.save_optimizer_state`);
- ``checkpoint.json``: the history so far, the random generator's state and any
  ``extra`` information (e.g. the command's arguments).

``fit(model, ..., resume=history)`` with ``model, history = load_checkpoint(dir)``
continues the run exactly where the checkpoint was taken.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from tracegrad.nn.io import ModelFileError
from tracegrad.train.callbacks import Callback
from tracegrad.train.history import History

__all__ = ["CHECKPOINT_FILES", "ModelCheckpoint", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FILES = ("model.npz", "optimizer.npz", "checkpoint.json")
FORMAT = "tracegrad.checkpoint/1"
_RECORDS = ("loss", "val_loss", "grad_norm", "time", "lr")
#: NumPy's bit generators, whose states a checkpoint may hold
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


def save_checkpoint(
    directory: str | os.PathLike, model: Any, history: History, extra: dict | None = None
) -> None:
    """Write ``model`` and ``history`` (with its ``opt_state`` and ``rng_state``, as
    ``tg.fit`` keeps them) to ``directory`` as one set; ``extra``: JSON-able data kept
    beside them (``load_checkpoint(..., extra=True)`` returns it)."""
    from tracegrad import nn
    from tracegrad.files import replace_directory, write_atomic

    if history.opt_state is None:
        raise ValueError("save_checkpoint: the history has no optimiser state (opt_state)")
    record = {
        "format": FORMAT,
        "epochs": history.epochs,
        "steps": history.steps,
        "best_epoch": history.best_epoch,
        "stop_reason": history.stop_reason,
        "records": {k: getattr(history, k) for k in _RECORDS},
        "metrics": history.metrics,
        "rng_state": history.rng_state,
        "extra": extra or {},
    }
    with replace_directory(directory, CHECKPOINT_FILES) as fresh:
        nn.save(os.path.join(fresh, "model.npz"), model)
        nn.save_optimizer_state(os.path.join(fresh, "optimizer.npz"), history.opt_state)
        text = json.dumps(record, indent=1, default=_json_int) + "\n"
        write_atomic(os.path.join(fresh, "checkpoint.json"), text)


def _json_int(value: Any) -> Any:
    # a generator state's counters may be NumPy integers
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {value!r} to a checkpoint")


def load_checkpoint(directory: str | os.PathLike, *, extra: bool = False) -> Any:
    """``(model, history)`` from a checkpoint directory, ``(model, history, extra)``
    with ``extra=True``. The model and optimiser state are validated as
    :func:`tracegrad.nn.load` validates models, the state against the model's
    parameters, and the history's records must be numbers, one per epoch. Raises
    ``FileNotFoundError`` or :class:`tracegrad.nn.ModelFileError` naming the file."""
    from tracegrad import nn

    d = os.fspath(directory)
    if not os.path.isdir(d):
        raise FileNotFoundError(f"no checkpoint directory {d!r}")
    path = os.path.join(d, "checkpoint.json")
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.loads(fh.read(1 << 26))
    except FileNotFoundError:
        raise FileNotFoundError(f"{d!r} is no checkpoint: it has no checkpoint.json") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path!r} is not a checkpoint description ({e})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ModelFileError(f"{path!r} is not a tracegrad checkpoint (format {FORMAT!r})")
    model = nn.load(os.path.join(d, "model.npz"))
    state = nn.load_optimizer_state(os.path.join(d, "optimizer.npz"), model)
    try:
        history = _history(record, state)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path!r}: a malformed history ({e})") from None
    if state.step != history.steps:
        raise ModelFileError(
            f"{d!r}: the optimiser state has {state.step} steps, the history {history.steps}"
        )
    return (model, history, record.get("extra", {})) if extra else (model, history)


def _history(record: dict, state: Any) -> History:
    epochs, steps = record["epochs"], record["steps"]
    for name, v in (("epochs", epochs), ("steps", steps)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{name} = {v!r}")
    series = dict(record["records"])
    metrics = dict(record["metrics"])
    if not set(series) <= set(_RECORDS):
        raise ValueError(f"unknown records {sorted(set(series) - set(_RECORDS))}")
    for name, values in [*series.items(), *metrics.items()]:
        if not isinstance(values, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in values
        ):
            raise ValueError(f"the record {name!r} is not a list of numbers")
        if values and len(values) != epochs:
            raise ValueError(f"the record {name!r} has {len(values)} entries for {epochs} epochs")
    if len(series.get("loss", [])) != epochs or not all(map(math.isfinite, series["loss"])):
        raise ValueError("the loss must have one finite value per epoch")
    best = record.get("best_epoch")
    if best is not None and not (isinstance(best, int) and 1 <= best <= epochs):
        raise ValueError(f"best_epoch = {best!r}")
    rng_state = record["rng_state"]
    kind = rng_state.get("bit_generator") if isinstance(rng_state, dict) else None
    if kind not in _BIT_GENERATORS:
        raise ValueError(f"no random-generator state of {', '.join(_BIT_GENERATORS)}")
    getattr(np.random, kind)().state = rng_state  # raises for a malformed one
    return History(
        **{k: list(series.get(k, [])) for k in _RECORDS},
        metrics=metrics,
        steps=steps,
        stop_reason=str(record.get("stop_reason", "")),
        best_epoch=best,
        opt_state=state,
        rng_state=rng_state,
    )


class ModelCheckpoint(Callback):
    """Write a checkpoint to ``directory/last`` every ``every`` epochs and, when the
    monitored loss (``val_loss`` where there is validation data, else ``loss``) is the
    lowest so far, to ``directory/best`` (Keras' ``ModelCheckpoint`` with
    ``save_best_only``). Each is replaced as a whole set; ``extra``: JSON-able data
    stored with each (see :func:`save_checkpoint`)."""

    root_only = True  # one writer, however many ranks train

    def __init__(
        self,
        directory: str | os.PathLike,
        every: int = 1,
        *,
        best: bool = True,
        extra: dict | None = None,
    ) -> None:
        if every < 1:
            raise ValueError(f"ModelCheckpoint: every must be >= 1, got {every}")
        self.directory, self.every, self.best, self.extra = os.fspath(directory), every, best, extra
        self.history: History | None = None
        self.best_loss = math.inf

    def __repr__(self) -> str:
        return f"ModelCheckpoint({self.directory!r}, every={self.every}, best={self.best})"

    def on_train_begin(self, model: Any, history: Any) -> None:
        self.history = history
        monitored = history.val_loss or history.loss  # a resumed run's best so far
        self.best_loss = min(monitored, default=math.inf)

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: Any) -> bool | None:
        assert self.history is not None, "on_train_begin was not called"
        if epoch % self.every == 0:
            save_checkpoint(os.path.join(self.directory, "last"), model, self.history, self.extra)
        monitored = logs.get("val_loss", logs["loss"])
        if self.best and monitored < self.best_loss:
            self.best_loss = monitored
            save_checkpoint(os.path.join(self.directory, "best"), model, self.history, self.extra)
        return None
