"""Argument parsing and dispatch for the ``tracegrad`` command.

Errors a user can fix (a bad flag, a bad formula, a missing file) end with a one-line
message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["COMMANDS", "UsageError", "main", "write_error_message"]

#: the commands whose one positional argument is a formula, which may start with "-"
FORMULA_COMMANDS = ("trace", "check")

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


def _formulas_as_positionals(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``trace "-x**2" --at x=2``: argparse takes an argument that starts with ``-`` for
    an option unless it holds a space. A formula command's arguments that start with a
    single ``-`` and are no option of the command get a leading space, which the
    formula parser (and ``float``, for ``--eps -1e-3``) skips."""
    if not argv or argv[0] not in FORMULA_COMMANDS:
        return argv
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    options = [s for s in sub.choices[argv[0]]._option_string_actions if not s.startswith("--")]

    def formula_like(arg: str) -> bool:
        if not arg.startswith("-") or arg.startswith("--") or len(arg) < 2:
            return False
        return not any(arg.startswith(o) for o in options)  # "-ofile" is -o file

    return [argv[0], *(f" {a}" if formula_like(a) else a for a in argv[1:])]


class _PipeGuard:
    """``sys.stdout`` while a command runs: once the reader of a pipe has gone
    (``tracegrad train | head -1``), what is printed after is dropped instead of raising
    ``BrokenPipeError``, and the command finishes its work (a run still writes its
    files)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._broken = False

    def write(self, text: str) -> int:
        if not self._broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self._broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self._broken = True
        # the stream's buffer still holds what failed: with its descriptor on /dev/null
        # the interpreter's last flush, at exit, succeeds silently
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(
        _formulas_as_positionals(parser, list(sys.argv[1:] if argv is None else argv))
    )
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    stdout = sys.stdout
    sys.stdout = guard = _PipeGuard(stdout)
    try:
        return int(args._run(args) or 0)
    except UsageError as e:
        print(f"tracegrad {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        guard.flush()
        sys.stdout = stdout


if __name__ == "__main__":
    sys.exit(main())
