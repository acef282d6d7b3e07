"""Writing files atomically.

Everything tracegrad writes (models, histories, plots, traces) goes through a temporary
file in the target's directory, flushed to disk and then renamed over the target: a
reader never sees half a file, and a failure leaves the old file (or none) in place.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

__all__ = ["atomic_open", "write_atomic"]


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, not while other
    # threads may be creating files
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file to be renamed to ``path`` when the block ends without error.

    ``mode`` is ``"wb"`` or ``"w"`` (text; ``kwargs`` go to :func:`open`). The file gets
    the permissions a plain ``open`` would give it (``mkstemp`` makes it private).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path!r}: no directory {directory!r}")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=directory)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    if isinstance(data, str):
        with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(data)
    else:
        with atomic_open(path, "wb") as fh:
            fh.write(data)
