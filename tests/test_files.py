"""Atomic writes (tracegrad.files): whole file or old file, normal permissions."""

from __future__ import annotations

import os
import stat

import pytest

from tracegrad import files
from tracegrad.files import atomic_open, write_atomic


def test_writes_bytes_and_text(tmp_path):
    write_atomic(tmp_path / "a.bin", b"\x00\x01")
    write_atomic(tmp_path / "b.txt", "ü\n")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_bytes() == "ü\n".encode()


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.npz"
    write_atomic(path, b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(path, "wb") as fh:
            fh.write(b"half of the new")
            raise RuntimeError("boom")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.npz"]


def test_permissions_follow_the_umask_not_mkstemp(tmp_path):
    write_atomic(tmp_path / "f", b"x")
    # what open() would give: 0666 less the umask (mkstemp alone would give 0600)
    assert stat.S_IMODE(os.stat(tmp_path / "f").st_mode) == 0o666 & ~files._UMASK


def test_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="no directory"):
        write_atomic(tmp_path / "nope" / "f", b"x")
