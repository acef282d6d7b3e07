"""Argument parsing and dispatch for the ``tracegrad`` command.

Errors a user can fix (a bad flag, a bad formula, a missing file) end with a one-line
message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import codecs
import importlib
import os
import sys
import unicodedata
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


#: what a console that cannot show a character (``PYTHONIOENCODING=cp1252``, an old
#: Windows code page) gets instead; of the others, table rules become | - +, and the
#: rest their compatibility form (₁ -> 1, accents dropped), or "?"
ASCII_FALLBACK = {
    "→": "->",
    "…": "...",
    "−": "-",
    "‖": "||",
    "·": "*",
    "≤": "<=",
    "≥": ">=",
    "λ": "lambda",
    "α": "alpha",
    "η": "eta",
    "ε": "eps",
    "∂": "d",
    "●": "o",
    "▲": "^",
}
ASCII_ERRORS = "tracegrad-ascii"


def _ascii_fallback(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeEncodeError):
        raise err
    return "".join(_ascii(c) for c in err.object[err.start : err.end]), err.end


def _ascii(c: str) -> str:
    if c in ASCII_FALLBACK:
        return ASCII_FALLBACK[c]
    name = unicodedata.name(c, "")
    if name.startswith("BOX DRAWINGS"):  # table rules: │ ─ ┼
        return "|" if "HORIZONTAL" not in name else "-" if "VERTICAL" not in name else "+"
    if name.startswith("COMBINING MACRON"):  # x̄, an adjoint
        return "bar"
    parts = unicodedata.normalize("NFKD", c)  # ₁ -> 1, é -> e + accent
    if parts == c:
        return "?"
    return "".join(
        _ascii(p) if not p.isascii() else p for p in parts if not unicodedata.combining(p)
    )


codecs.register_error(ASCII_ERRORS, _ascii_fallback)


def _fall_back_to_ascii(stream: Any) -> str | None:
    """Let ``stream`` write what its encoding cannot (``→`` in cp1252) as ASCII instead
    of raising; returns its error handler before, to restore (``None``: unchanged)."""
    errors = getattr(stream, "errors", None)
    if errors != "strict" or not hasattr(stream, "reconfigure"):
        return None
    try:
        stream.reconfigure(errors=ASCII_ERRORS)
    except (ValueError, OSError):  # a closed or detached stream
        return None
    return errors


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written (they hold examples); each option's help
    ends with its default, unless the help already says what the default is or there
    is none to show (``None``, a flag's ``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if not action.option_strings or action.required or "default" in text:
            return text
        if default is None or default is False or default is argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


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
        # the docstring's first paragraph, whole: its first line alone may stop mid-sentence
        summary, _, rest = (mod.__doc__ or "").strip().partition("\n\n")
        p = sub.add_parser(
            name, help=" ".join(summary.split()), description=summary, epilog=rest.strip() or None
        )
        mod.add_arguments(p)
        p.formatter_class = HelpFormatter
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
    restore = [(s, _fall_back_to_ascii(s)) for s in (sys.stdout, sys.stderr)]
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
        for stream, errors in restore:
            if errors is not None:
                stream.reconfigure(errors=errors)


if __name__ == "__main__":
    sys.exit(main())
