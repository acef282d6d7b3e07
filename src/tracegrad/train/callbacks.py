"""Callbacks for ``tg.fit``.

Subclass :class:`Callback` and override what you need, or pass a plain function
``f(epoch, logs, model)``, called after every epoch. Returning ``True`` from
``on_epoch_end`` (or the function) stops training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Callback", "LambdaCallback"]


class Callback:
    """Hooks called by ``tg.fit``. ``logs`` holds this epoch's numbers (``loss``,
    ``val_loss``, metrics, ``grad_norm``, ``time``, ``lr``); epochs count from 1."""

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


def as_callback(cb: Callback | Callable) -> Callback:
    """A :class:`Callback` for a callback or a plain function."""
    if isinstance(cb, Callback):
        return cb
    if callable(cb):
        return LambdaCallback(cb)
    raise TypeError(f"a callback must be a Callback or a function, got {cb!r}")
