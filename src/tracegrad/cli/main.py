"""Argument parsing and dispatch for the ``tracegrad`` command.

Errors a user can fix (a bad flag, a bad formula, a missing file) end with a one-line
message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "UsageError", "main", "write_error_message"]

#: subcommand name -> module under tracegrad.cli
COMMANDS: dict[str, str] = {
    "demo": "tracegrad.cli.demo",
    "trace": "tracegrad.cli.trace",
    "check": "tracegrad.cli.check",
    "train": "tracegrad.cli.train",
    "predict": "tracegrad.cli.predict",
}


class UsageError(Exception):
    """A mistake in what the user typed or gave: reported in one line, exit status 2."""


def write_error_message(e: OSError) -> str:
    """One line for a failed write. An ``OSError`` raised by the system carries
    ``filename`` and ``strerror``; one raised by tracegrad itself (e.g.
    :func:`tracegrad.files.atomic_open` for a missing directory) has only its message."""
    if e.filename is None or e.strerror is None:
        return str(e)
    return f"cannot write {e.filename}: {e.strerror}"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2, as argparse does
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from tracegrad import __version__

    parser = _Parser(prog="tracegrad", description="Automatic differentiation for NumPy code.")
    parser.add_argument("--version", action="version", version=f"tracegrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=mod.__doc__.strip().splitlines()[0] if mod.__doc__ else "")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UsageError as e:
        print(f"tracegrad {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
