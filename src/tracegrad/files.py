"""Writing files atomically.

Everything tracegrad writes (models, histories, plots, traces) goes through a temporary
file in the target's directory, flushed to disk and then renamed over the target: a
reader never sees half a file, and a failure leaves the old file (or none) in place.

Only a regular file (or a name not yet taken) can be replaced that way. A symbolic link
is followed, so the file it points to is replaced and the link kept. A device, a FIFO,
or an alias of an open file descriptor (``/dev/stdout``, ``/proc/self/fd/1``) is written
through, as a plain ``open`` would: replacing it would destroy it. A directory is
refused. A failed write (a full disk) raises ``OSError`` naming the target.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import IO, Any

__all__ = [
    "TEMP_PREFIX",
    "atomic_open",
    "check_directory",
    "is_stale_temp",
    "replace_directory",
    "resolve_target",
    "write_atomic",
]

#: temporary names start with this, then the writer's process id: ``.tmp-<pid>-…``
TEMP_PREFIX = ".tmp-"


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, not while other
    # threads may be creating files
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()

# symbolic links followed before giving up, as the kernel's own limit
_MAX_LINKS = 40


def resolve_target(path: str | os.PathLike) -> tuple[str, bool]:
    """The path a write to ``path`` lands on, after following symbolic links, and
    whether that file can be replaced by a rename (``False``: write through it).

    ``False`` for an existing file that is not a regular file (device, FIFO, socket)
    and for any path that goes through ``/proc`` (``/dev/stdout`` → ``/proc/self/fd/1``):
    those name open file descriptions, not directory entries. Raises
    ``IsADirectoryError`` for a directory.
    """
    p = os.path.abspath(os.fspath(path))
    for _ in range(_MAX_LINKS):
        parent = os.path.realpath(os.path.dirname(p))
        if parent == "/proc" or parent.startswith("/proc/"):
            return p, False
        p = os.path.join(parent, os.path.basename(p))
        if not os.path.islink(p):
            break
        p = os.path.join(parent, os.readlink(p))
    else:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), os.fspath(path))
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return p, True
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a directory", os.fspath(path))
    return p, stat.S_ISREG(st.st_mode)


# a temporary name of tracegrad 0.x before the writer's pid was part of it (mkstemp's
# eight characters and the target's extension)
_LEGACY_TEMP = re.compile(r"\.tmp-[a-z0-9_]{8}\.(npz|csv|json|png|txt|dot|svg|tex|md)")


def is_stale_temp(name: str, *, legacy: bool = False) -> bool:
    """Whether ``name`` is a temporary file or directory of a writer that has died (a
    killed process never removes its own): ``.tmp-<pid>-…`` with no process ``pid``;
    with ``legacy``, also the temporary names of earlier versions (without a pid)."""
    if legacy and _LEGACY_TEMP.fullmatch(name):
        return True
    if not name.startswith(TEMP_PREFIX):
        return False
    pid_text = name[len(TEMP_PREFIX) :].split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def _raise_named(e: OSError, path: str) -> None:
    """Raise ``e``, with ``path`` as its file name where it has none (a failed ``write``,
    e.g. ENOSPC, names no file)."""
    if e.filename is not None or e.errno is None:
        raise e
    raise OSError(e.errno, e.strerror or os.strerror(e.errno), path) from e


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file to be renamed to ``path`` when the block ends without error.

    ``mode`` is ``"wb"`` or ``"w"`` (text; ``kwargs`` go to :func:`open`). A new file
    gets the permissions a plain ``open`` would give it (``mkstemp`` makes it private);
    a replaced file keeps its own. See the module docstring for links, devices, FIFOs.
    """
    shown = os.fspath(path)
    target, replaceable = resolve_target(shown)
    if not replaceable:
        try:
            with open(target, mode, **kwargs) as fh:
                yield fh
        except OSError as e:
            _raise_named(e, shown)
        return
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {shown!r}: no directory {directory!r}")
    try:
        old_mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        old_mode = 0o666 & ~_UMASK
    fd, tmp = tempfile.mkstemp(
        prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=os.path.splitext(target)[1], dir=directory
    )
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, old_mode)
        os.replace(tmp, target)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            _raise_named(e, shown)
        raise


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    if isinstance(data, str):
        with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(data)
    else:
        with atomic_open(path, "wb") as fh:
            fh.write(data)


# --- a set of files that replaces another as one ------------------------------------------


def _existing_ancestor(path: str) -> str:
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def check_directory(path: str | os.PathLike, names: Collection[str]) -> None:
    """Raise ``OSError`` (naming what is wrong) when :func:`replace_directory` could not
    write the files ``names`` to the directory ``path``: meant to run before the work
    that produces them, so that the work is not lost to a bad path."""
    shown = os.fspath(path)
    target = os.path.realpath(shown)
    if os.path.exists(target):
        if not os.path.isdir(target):
            raise NotADirectoryError(errno.ENOTDIR, "it is not a directory", shown)
        for n in names:
            entry = os.path.join(target, n)
            if os.path.lexists(entry) and not os.path.isfile(entry):
                raise IsADirectoryError(
                    errno.EISDIR, "it is in the way of an output file", os.path.join(shown, n)
                )
        if not (os.access(target, os.W_OK | os.X_OK) or _parent_writable(target)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), shown)
        return
    ancestor = _existing_ancestor(target)
    if not os.path.isdir(ancestor):
        raise NotADirectoryError(errno.ENOTDIR, f"{ancestor} is not a directory", shown)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"cannot create it in {ancestor}", shown)


def _parent_writable(target: str) -> bool:
    return os.access(os.path.dirname(target), os.W_OK | os.X_OK)


def _exchange(a: str, b: str) -> bool:
    """Swap the directory entries ``a`` and ``b`` in one step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``); ``False`` where the system or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), b)


def _remove_stale(directory: str, match: str | None) -> None:
    """Remove the temporaries of killed writers in ``directory``: with ``match``, only
    ``.tmp-<pid>-<match>-…`` (a directory that is not ours); else every stale one."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for name in entries:
        if match is not None:
            rest = name[len(TEMP_PREFIX) :].split("-", 1)
            if len(rest) < 2 or not rest[1].startswith(f"{match}-"):
                continue
        if not is_stale_temp(name, legacy=match is None):
            continue
        entry = os.path.join(directory, name)
        if os.path.isdir(entry) and not os.path.islink(entry):
            shutil.rmtree(entry, ignore_errors=True)
        else:
            try:
                os.unlink(entry)
            except OSError:
                pass


@contextmanager
def replace_directory(path: str | os.PathLike, names: Collection[str]) -> Iterator[str]:
    """A fresh directory to write a set of files (named among ``names``) into; when the
    block ends without error, the set replaces the one in ``path`` as a whole.

    When ``path`` holds nothing but files of such a set, the fresh directory is built
    beside it (hidden, ``.tmp-<pid>-<name>-…``) and swapped into its place in one
    rename: a reader sees the old set or the new one, never a mixture, and a kill
    leaves the old one. When ``path`` holds other files too, is the working directory
    or above it (``--out .``) or a mount point, or its parent cannot be written, each
    file is moved into ``path`` in turn (each atomic)
    and files of ``names`` the new set lacks are removed. Temporaries of writers
    that were killed before are removed. A symbolic link ``path`` is kept: its target
    is replaced.
    """
    target = os.path.realpath(os.fspath(path))
    parent, base = os.path.split(target)
    exists = os.path.isdir(target)
    if exists:
        _remove_stale(target, None)
    if not exists:
        os.makedirs(parent, exist_ok=True)
    own = set(names)
    # not a directory the process (and likely the user's shell) is in, nor a mount
    # point: neither can be renamed away
    movable = not exists or not (
        os.path.ismount(target) or os.path.commonpath([target, os.getcwd()]) == target
    )
    whole = (
        movable
        and _parent_writable(target)
        and (
            not exists
            or all(n in own and os.path.isfile(os.path.join(target, n)) for n in os.listdir(target))
        )
    )
    if whole:
        _remove_stale(parent, base)
        tmp = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-{base}-", dir=parent)
    else:
        tmp = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=target)
    try:
        yield tmp
        if whole:
            mode = stat.S_IMODE(os.stat(target).st_mode) if exists else 0o777 & ~_UMASK
            os.chmod(tmp, mode)
            if not exists:
                os.rename(tmp, target)
            elif _exchange(tmp, target):
                shutil.rmtree(tmp)  # now the old set
            else:  # two renames: a reader may find no directory for a moment
                old = f"{tmp}-old"
                os.rename(target, old)
                os.rename(tmp, target)
                shutil.rmtree(old)
        else:
            made = set(os.listdir(tmp))
            for n in made:
                os.replace(os.path.join(tmp, n), os.path.join(target, n))
            for n in own - made:
                if os.path.isfile(os.path.join(target, n)):
                    os.unlink(os.path.join(target, n))
            os.rmdir(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
