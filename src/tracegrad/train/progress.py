"""Progress display for ``tg.fit``: a bar with the time left, on a terminal or in Jupyter.

``progress=None`` (default) shows it only on a terminal or in a Jupyter notebook;
``True`` forces it, ``False`` turns it off. On a terminal it is a rich progress bar (the
``rich`` extra), plain text lines without rich. In a notebook it is an HTML bar that
IPython's display updates in place, so it needs neither rich's nor tqdm's widgets (no
``ipywidgets``) and the saved notebook keeps the final state.
"""

from __future__ import annotations

import html
import sys
import time
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


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _timing(epoch: int, total: int, elapsed: float, final: bool) -> str:
    """``0:00:03 elapsed, 0:00:10 left``: the time left at the mean time per epoch so far
    (up to ``total`` epochs; an early stop comes sooner)."""
    text = f"{_clock(elapsed)} elapsed"
    if not final and 0 < epoch < total:
        text += f", {_clock(elapsed / epoch * (total - epoch))} left"
    return text


class _Plain(_Silent):
    """About ten lines per run (and the last epoch), not one per epoch."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.every = max(1, total // 10)
        self.start = time.monotonic()
        self.pending: tuple[int, dict[str, float]] | None = None

    def update(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch == 1 or epoch % self.every == 0 or epoch == self.total:
            self._print(epoch, logs)
            self.pending = None
        else:
            self.pending = (epoch, logs)

    def close(self, finished: bool = True) -> None:
        if self.pending is not None:  # training stopped early: show where
            self._print(*self.pending, final=True)

    def _print(self, epoch: int, logs: dict[str, float], final: bool = False) -> None:
        timing = _timing(epoch, self.total, time.monotonic() - self.start, final)
        print(f"epoch {epoch}/{self.total}  {timing}  {_describe(logs)}", flush=True)


class _Rich(_Silent):
    def __init__(self, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("epoch"),
            MofNCompleteColumn(),
            BarColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
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


class _Notebook(_Silent):
    """An HTML ``<progress>`` bar and a status line, updated in place in the output cell
    (with a text form for frontends that show only text)."""

    #: seconds between redraws: one per epoch would flood the frontend on short epochs
    INTERVAL = 0.2

    def __init__(self, total: int) -> None:
        from IPython.display import display

        self.total = total
        self.epoch = 0
        self.logs: dict[str, float] = {}
        self.start = time.monotonic()
        self.shown = self.start
        self.handle = display(self._bundle(False), raw=True, display_id=True)

    def update(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch, self.logs = epoch, logs
        now = time.monotonic()
        if now - self.shown >= self.INTERVAL or epoch == self.total:
            self.shown = now
            self.handle.update(self._bundle(False), raw=True)

    def close(self, finished: bool = True) -> None:
        # an early stop: the bar ends where training ended; an interrupted run stays
        # part-way, as it is
        if finished:
            self.total = max(self.epoch, 1)
        self.handle.update(self._bundle(True), raw=True)

    def _bundle(self, final: bool) -> dict[str, str]:
        timing = _timing(self.epoch, self.total, time.monotonic() - self.start, final)
        status = f"epoch {self.epoch}/{self.total}  {timing}  {_describe(self.logs)}".rstrip()
        bar = (
            f'<progress value="{self.epoch}" max="{self.total}" '
            'style="width:20em;vertical-align:middle"></progress>'
        )
        return {
            "text/plain": status,
            "text/html": f'<div style="font-family:monospace">{bar} {html.escape(status)}</div>',
        }


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (IPython's ZMQ shell), without importing
    IPython where it is not already loaded."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def make_progress(progress: bool | None, total: int) -> Any:
    """A display object with ``update(epoch, logs)`` and ``close()``."""
    notebook = in_notebook()
    if progress is None:
        progress = notebook or bool(getattr(sys.stdout, "isatty", lambda: False)())
    if not progress:
        return _Silent()
    if notebook:
        return _Notebook(total)
    try:
        return _Rich(total)
    except ImportError:
        return _Plain(total)
