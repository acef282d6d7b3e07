"""Progress display for ``tg.fit``: a rich progress bar on a terminal, else nothing.

``progress=None`` (default) shows it only when standard output is a terminal;
``True`` forces it (plain text lines without rich), ``False`` turns it off.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["make_progress"]


class _Silent:
    def update(self, epoch: int, logs: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


class _Plain(_Silent):
    def __init__(self, total: int) -> None:
        self.total = total

    def update(self, epoch: int, logs: dict[str, float]) -> None:
        shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items() if k not in ("time", "lr"))
        print(f"epoch {epoch}/{self.total}  {shown}", file=sys.stdout, flush=True)


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
        self.bar.start()

    def update(self, epoch: int, logs: dict[str, float]) -> None:
        desc = "  ".join(f"{k} {v:.4g}" for k, v in logs.items() if k not in ("time", "lr"))
        self.bar.update(self.task, completed=epoch, description=desc)

    def close(self) -> None:
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
