#!/usr/bin/env python3
"""Set up a virtual environment (once) and run tracegrad's main job or its tests.

    python3 run.py main [ARGS...]   the main job: `tracegrad train` (seed 001, Iris)
    python3 run.py test [ARGS...]   the whole test suite (pytest; ARGS go to pytest)

Only a Python 3.10+ interpreter is needed: the first run creates `.venv` beside this
file and installs tracegrad with its test extras into it; later runs reuse it and
reinstall only when pyproject.toml changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".tracegrad-installed"
MAIN_JOB = ["-m", "tracegrad", "train", "--out", "runs/iris"]


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_env() -> Path:
    py = _python()
    if not py.exists():
        print(f"run.py: creating a virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pyproject = ROOT / "pyproject.toml"
    if not STAMP.exists() or STAMP.stat().st_mtime < pyproject.stat().st_mtime:
        print("run.py: installing tracegrad and its test extras", flush=True)
        subprocess.run(
            [
                str(py),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "-e",
                f"{ROOT}[test]",
            ],
            check=True,
        )
        STAMP.touch()
    return py


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("main", "test"):
        print(__doc__)
        return 2
    py = ensure_env()
    if argv[0] == "main":
        cmd = [str(py), *MAIN_JOB, *argv[1:]]
    else:
        cmd = [str(py), "-m", "pytest", "-n", "2", *argv[1:]]
    return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
