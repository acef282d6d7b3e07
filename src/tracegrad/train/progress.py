"""Progress display for ``tg.fit``: a rich progress bar on a terminal, else nothing.

``progress=None`` (default) shows it only when standard output is a terminal;
``True`` forces it (plain text lines without rich), ``False`` turns it off.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["format_number", "make_progress"]


class _Silent:
    def update(self, epoch: int, logs: dict[str, float]) -> None:
        pass

    def close(self, finished: bool = True) -> None:
        """``finished=False``: training was interrupted."""


def format_number(v: float) -> str:
    """A loss or metric as the bar and ``tracegrad train``'s summary show it: four
    decimals (``0.0497``, ``1.0000``) from 0.001 to 1000, else four significant digits
    (``2.346e+04``, ``1.2e-05``)."""
    return f"{v:.4f}" if v == 0 or 1e-3 <= abs(v) < 1e3 else f"{v:.4g}"


def _describe(logs: dict[str, float]) -> str:
    return "  ".join(f"{k} {format_number(v)}" for k, v in logs.items() if k not in ("time", "lr"))


class _Plain(_Silent):
    """About ten lines per run (and the last epoch), not one per epoch."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.every = max(1, total // 10)
        self.pending: tuple[int, dict[str, float]] | None = None

    def update(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch == 1 or epoch % self.every == 0 or epoch == self.total:
            self._print(epoch, logs)
            self.pending = None
        else:
            self.pending = (epoch, logs)

    def close(self, finished: bool = True) -> None:
        if self.pending is not None:  # training stopped early: show where
            self._print(*self.pending)

    def _print(self, epoch: int, logs: dict[str, float]) -> None:
        print(f"epoch {epoch}/{self.total}  {_describe(logs)}", file=sys.stdout, flush=True)


class _Rich(_Silent):
    def __init__(self, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("epoch"),
            MofNCompleteColumn(),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            transient=False,
        )
        self.task = self.bar.add_task("", total=total)
        self.epoch = 0
        self.bar.start()

    def update(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch = epoch
        self.bar.update(self.task, completed=epoch, description=_describe(logs))

    def close(self, finished: bool = True) -> None:
        # an early stop ends the bar where training ended, not part-way to max_epochs;
        # an interrupted run stays part-way, as it is
        if finished:
            self.bar.update(self.task, total=max(self.epoch, 1), completed=self.epoch)
        self.bar.stop()


def make_progress(progress: bool | None, total: int) -> Any:
    """A display object with ``update(epoch, logs)`` and ``close()``."""
    if progress is None:
        progress = bool(getattr(sys.stdout, "isatty", lambda: False)())
    if not progress:
        return _Silent()
    try:
        return _Rich(total)
    except ImportError:
        return _Plain(total)
