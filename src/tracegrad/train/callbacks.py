"""Callbacks for ``tg.fit``.

Subclass :class:`Callback` and override what you need, or pass a plain function
``f(epoch, logs, model)``, called after every epoch. Returning ``True`` from
``on_epoch_end`` (or the function) stops training.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from typing import IO, Any, ClassVar

__all__ = ["CSVLogger", "Callback", "LambdaCallback"]


class Callback:
    """Hooks called by ``tg.fit``. ``logs`` holds this epoch's numbers (``loss``,
    ``val_loss``, metrics, ``grad_norm``, ``time``, ``lr``); epochs count from 1.

    ``root_only``: in data-parallel training (``fit(..., comm=...)``) run on rank 0
    alone (a callback that writes files); the others run on every rank."""

    root_only: ClassVar[bool] = False

    def on_train_begin(self, model: Any, history: Any) -> None:
        """Before the first epoch."""

    def on_batch_end(self, step: int, logs: dict[str, float], model: Any) -> bool | None:
        """After every optimiser update (``step`` counts from 1); ``True`` stops."""
        return None

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: Any) -> bool | None:
        """After every epoch; ``True`` stops training."""
        return None

    def on_train_end(self, model: Any, history: Any) -> None:
        """After the last epoch."""


class LambdaCallback(Callback):
    """A function ``f(epoch, logs, model)`` as an end-of-epoch callback."""

    def __init__(self, fn: Callable[[int, dict, Any], bool | None]) -> None:
        self.fn = fn

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: Any) -> bool | None:
        return self.fn(epoch, logs, model)

    def __repr__(self) -> str:
        return f"LambdaCallback({getattr(self.fn, '__name__', self.fn)!r})"


class CSVLogger(Callback):
    """Append each epoch's numbers to the CSV file ``path`` as the epoch ends (Keras'
    ``CSVLogger``): ``epoch,loss,...`` as :meth:`History.to_csv` writes them, so a run
    can be watched while it trains. Each row is written whole and flushed; a file that
    must appear complete or not at all is :meth:`History.to_csv`'s, after training.
    ``append``: add to an existing file (a resumed run) instead of starting it anew."""

    root_only = True  # one writer, however many ranks train

    def __init__(self, path: str | os.PathLike, append: bool = False) -> None:
        self.path, self.append = os.fspath(path), append
        self._file: IO[str] | None = None
        self._keys: list[str] = []

    def __repr__(self) -> str:
        return f"CSVLogger({self.path!r}, append={self.append})"

    def on_train_begin(self, model: Any, history: Any) -> None:
        self._file = open(self.path, "a" if self.append else "w", encoding="utf-8", newline="")
        self._keys = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: Any) -> bool | None:
        assert self._file is not None, "on_train_begin was not called"
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if not self._keys:
            self._keys = [k for k in logs]
            if not (self.append and self._file.tell() > 0):
                w.writerow(["epoch", *self._keys])
        w.writerow([epoch, *(repr(float(logs.get(k, float("nan")))) for k in self._keys)])
        self._file.write(buf.getvalue())
        self._file.flush()
        return None

    def on_train_end(self, model: Any, history: Any) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def as_callback(cb: Callback | Callable) -> Callback:
    """A :class:`Callback` for a callback or a plain function."""
    if isinstance(cb, Callback):
        return cb
    if callable(cb):
        return LambdaCallback(cb)
    raise TypeError(f"a callback must be a Callback or a function, got {cb!r}")
