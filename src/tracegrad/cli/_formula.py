"""Shared by ``tracegrad trace`` and ``tracegrad check``: the formula and its point."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from tracegrad.cli.main import UsageError
from tracegrad.traces.expr import Formula, ParseError, parse

__all__ = [
    "add_formula_arguments",
    "check_destination",
    "evaluation_errors",
    "load",
    "parse_assignments",
    "precision",
    "print_output",
]

#: the most digits after the point a report shows (float64 has about 16 significant)
MAX_PRECISION = 15


def add_formula_arguments(parser: argparse.ArgumentParser, doc: str) -> None:
    """The arguments every formula command takes; ``doc`` (the command module's
    docstring) gives the description (first line) and the epilog (the rest)."""
    parser.description = doc.splitlines()[0]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "\n".join(doc.splitlines()[2:])
    parser.add_argument(
        "expr",
        metavar="EXPR",
        help="formula, e.g. 'ln(x1) + x1*x2 - sin(x2)'; several outputs separated by commas",
    )
    parser.add_argument(
        "--at",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME=VALUE",
        required=True,
        help="the point, one NAME=VALUE per variable (VALUE may be a "
        "comma-separated vector); inputs are numbered in this order",
    )


def precision(text: str) -> int:
    """``--precision`` for argparse: digits after the point, 0 … 15 (a bad value is
    argparse's one-line error, exit status 2)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= n <= MAX_PRECISION:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_PRECISION}, got {n}")
    return n


@contextmanager
def evaluation_errors(
    what: str = "cannot evaluate the formula at this point",
    extra: tuple[type[Exception], ...] = (),
) -> Iterator[None]:
    """Turn what evaluating or differentiating a formula at the user's point can raise
    (shapes that do not fit: ``ValueError``; overflow: ``ArithmeticError``; and the
    ``extra`` types) into a one-line :class:`UsageError` that starts with ``what``."""
    try:
        yield
    except (ValueError, ArithmeticError, *extra) as e:
        lines = str(e).strip().splitlines()
        raise UsageError(f"{what}: {lines[0] if lines else type(e).__name__}") from None


def check_destination(path: str, option: str) -> None:
    """Fail before any work when ``path`` cannot be written because its directory does
    not exist (the commonest mistake), rather than after printing the tables."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"{option} {path}: no directory {directory!r}")


def _number(text: str, where: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise UsageError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(x):
        raise UsageError(f"{where}: {text!r} is not a finite number")
    return x


def parse_assignments(items: list[str], option: str) -> dict[str, Any]:
    """``["x1=2", "w=1,2"]`` → ``{"x1": 2.0, "w": array([1., 2.])}`` or a UsageError."""
    out: dict[str, Any] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not eq or not name:
            raise UsageError(f"{option} {item!r}: expected NAME=VALUE, e.g. x1=2")
        if not text:
            raise UsageError(f"{option} {name}=: missing value after '='")
        if not name.isidentifier():
            raise UsageError(f"{option} {item!r}: {name!r} is not a variable name")
        if name in out:
            raise UsageError(f"{option}: {name} is given twice")
        where = f"{option} {name}"
        if "," in text:
            out[name] = np.array([_number(t.strip(), where) for t in text.split(",")])
        else:
            out[name] = _number(text, where)
    return out


def load(args: argparse.Namespace) -> tuple[Formula, list[str], list[Any]]:
    """The parsed formula, the input names (in ``--at`` order) and their values."""
    try:
        # a formula that starts with "-" comes with a leading space (cli.main)
        text = args.expr
        formula = parse(text[1:] if text.startswith(" -") else text)
    except ParseError as e:
        raise UsageError(f"in the formula, {e}") from None
    point = parse_assignments(args.at, "--at")
    missing = [v for v in formula.variables if v not in point]
    if missing:
        adds = " ".join(f"{m}=VALUE" for m in missing)
        raise UsageError(f"no value for {', '.join(missing)}: add {adds} to --at")
    extra = [k for k in point if k not in formula.variables]
    if extra:
        raise UsageError(
            f"--at {', '.join(extra)}: not in the formula "
            f"(its variables: {', '.join(formula.variables) or 'none'})"
        )
    names = list(point)
    return formula, names, [point[n] for n in names]


def print_output(text: str, colour: bool | None = None) -> None:
    """Print with rich (colour, only on a terminal) when available, else plainly."""
    tty = sys.stdout.isatty() if colour is None else colour
    if tty:
        try:
            from rich.console import Console
            from rich.text import Text
        except ImportError:
            tty = False
    if not tty:
        sys.stdout.write(text)
        return
    console = Console(highlight=False)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        t = Text(line)
        if line and set(line) <= set("─┼"):
            t.stylize("dim")
        elif (
            nxt
            and set(nxt) <= set("─┼")
            and (i == 0 or not lines[i - 1].strip() or set(lines[i - 1]) <= set("─┼ "))
        ):
            t.stylize("bold cyan")  # a table's title row
        elif line.startswith(("FAIL", "error")):
            t.stylize("bold red")
        else:
            for cell_start in _value_spans(line):
                t.stylize("green", *cell_start)
        console.print(t, soft_wrap=True)


def _value_spans(line: str) -> list[tuple[int, int]]:
    """Where the values sit in a table line: after the last ' = ' of each column group."""
    spans, start = [], 0
    for part in line.split(" │ "):
        k = part.rfind(" = ")
        if k >= 0:
            spans.append((start + k + 3, start + len(part)))
        start += len(part) + 3
    return spans
