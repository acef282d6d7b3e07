"""Print a formula's primal, tangent and adjoint traces, as the lecture notes do.

Examples:
  tracegrad trace "ln(x1) + x1*x2 - sin(x2)" --at x1=2 x2=5
  tracegrad trace "mse(relu(w*x + b) + (w*x + b), y)" --at x=5 w=2 b=-3 y=7
  tracegrad trace "sqrt(x**2 + exp(x**2))" --at x=1 --format latex --output f.tex
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from tracegrad.cli._formula import (
    add_formula_arguments,
    check_destination,
    evaluation_errors,
    load,
    parse_assignments,
    precision,
    print_output,
)
from tracegrad.cli.main import UsageError, write_error_message
from tracegrad.files import write_atomic
from tracegrad.traces import EvaluationTrace, trace
from tracegrad.traces.dot import GraphvizError, check_path, render
from tracegrad.traces.notation import format_value

#: --output extensions that, with --format dot, Graphviz renders instead of DOT text
RENDERED = (".svg", ".png", ".pdf")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_formula_arguments(parser, __doc__)
    parser.add_argument(
        "--wrt",
        nargs="+",
        metavar="NAME",
        default=None,
        help="inputs for the forward tangent traces (a unit tangent each; default: the first "
        "input)",
    )
    parser.add_argument(
        "--tangent",
        nargs="+",
        metavar="NAME=VALUE",
        default=None,
        help="the input tangent of the forward trace, e.g. --tangent x1=1 x2=0 (others 0)",
    )
    # the name of --tangent until 0.2 (a tangent, not a lecture note nor an RNG seed)
    parser.add_argument("--seed", nargs="+", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--mode",
        choices=("forward", "reverse", "both"),
        default="both",
        help="which traces to print (default both)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "markdown", "latex", "dot"),
        default="text",
        help="output form (default text)",
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write to FILE instead of the terminal (with --format dot, "
        ".svg/.png/.pdf are rendered by Graphviz)",
    )
    parser.add_argument(
        "--dot",
        metavar="FILE",
        help="also write the graph to FILE (.dot, or .svg/.png with Graphviz)",
    )
    parser.add_argument(
        "--precision",
        type=precision,
        default=3,
        metavar="N",
        help="digits after the point in displayed values (default 3)",
    )
    parser.add_argument(
        "--fold",
        action="store_true",
        help="fold scalar linear steps into one (v_1 = v_-2 + v_-1 + 1.5·v_0)",
    )
    parser.add_argument(
        "--order",
        choices=("levels", "recorded"),
        default="levels",
        help="number steps by graph depth as the slides do (default) or in the order they ran",
    )
    parser.add_argument(
        "--latex-style",
        choices=("plain", "booktabs"),
        default="plain",
        help="with --format latex: \\hline and vertical rules (default), or booktabs' "
        "\\toprule/\\midrule/\\bottomrule (needs \\usepackage{booktabs})",
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="with --format latex: a complete document, each table in its own "
        "\\begin{table} with its caption",
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="with --output and --format markdown or latex: one table per file "
        "(FILE-1.tex, FILE-2.tex, …)",
    )


def build(args: argparse.Namespace) -> EvaluationTrace:
    formula, names, values = load(args)
    fun = formula.function(names)
    with evaluation_errors():  # e.g. shapes that do not broadcast
        return trace(fun, *values, names=names, fold_affine=args.fold, order=args.order)


def _renders(args: argparse.Namespace) -> bool:
    """Whether --output goes through Graphviz (``--format dot`` to .svg/.png/.pdf)."""
    return (
        args.format == "dot"
        and bool(args.output)
        and os.path.splitext(args.output)[1].lower() in RENDERED
    )


def check_destinations(args: argparse.Namespace) -> None:
    """Everything about --output and --dot that can be checked before any work: their
    directories, the graph's file type and Graphviz where it is needed."""
    try:
        if args.output:
            check_destination(args.output, "--output")
            if _renders(args):
                check_path(args.output)
        if args.dot:
            check_destination(args.dot, "--dot")
            check_path(args.dot)
    except (GraphvizError, ValueError) as e:
        raise UsageError(str(e)) from None


def _tangent_option(args: argparse.Namespace) -> str:
    """The option that gave the tangent, as the user typed it (for messages)."""
    if args.tangent and args.seed:
        raise UsageError("--seed is the old name of --tangent: give only --tangent")
    return "--seed" if args.seed else "--tangent"


def _directions(args: argparse.Namespace, tr: EvaluationTrace) -> list[Any]:
    """The tangent directions of the forward traces: --tangent's, or a unit tangent for
    each --wrt input."""
    given = args.tangent or args.seed
    if given:
        option = _tangent_option(args)
        tangent = parse_assignments(given, option)
        unknown = [k for k in tangent if k not in tr.input_names]
        if unknown:
            raise UsageError(
                f"{option} {', '.join(unknown)}: not an input (inputs: {', '.join(tr.input_names)})"
            )
        # a tangent that does not fit its input's shape: one line now, not a traceback
        # from the middle of the tangent table
        with evaluation_errors(option):
            tr.tangents(tangent)
        return [tangent]
    wrt = args.wrt or tr.input_names[:1]
    unknown = [k for k in wrt if k not in tr.input_names]
    if unknown:
        raise UsageError(
            f"--wrt {', '.join(unknown)}: not an input (inputs: {', '.join(tr.input_names)})"
        )
    return list(wrt)


def _sections(tr: EvaluationTrace, args: argparse.Namespace) -> list[tuple[str, Any]]:
    """(heading, table) pairs; tables have to_text/to_markdown/to_latex."""
    p = args.precision
    out: list[tuple[str, Any]] = []
    if args.mode in ("reverse", "both"):
        out.append(("Primal and adjoint traces", tr.side_by_side(precision=p)))
    else:
        out.append(("Primal trace", tr.primal_table(p)))
    if args.mode in ("forward", "both") and tr.inputs:
        for direction in _directions(args, tr):
            out.append(("Tangent trace", tr.tangent_table(direction, p)))
        if len(tr.inputs) > 1 and not (args.tangent or args.seed):
            cols = args.wrt or tr.input_names
            adjoint = 1.0 if args.mode == "both" else None
            out.append(
                (
                    "Forward tangents for each seed"
                    + (" and the reverse sweep" if adjoint else ""),
                    tr.derivative_table(cols, adjoint, p),
                )
            )
    return out


def _summary(tr: EvaluationTrace, args: argparse.Namespace) -> str:
    p = args.precision
    vals = tr.output_values
    parts = [f"{n} = {format_value(v, p)}" for n, v in zip(tr.output_names, vals)]
    line = ", ".join(parts)
    if args.mode != "forward" and tr.inputs:
        grad = tr.gradient()
        y = tr.output_names[0]
        line += "; gradient: " + ", ".join(
            f"∂{y}/∂{k} = {format_value(v, p)}" for k, v in grad.items()
        )
    return line + "\n"


def _latex_table(heading: str, table: Any, args: argparse.Namespace) -> str:
    body = table.to_latex(style=args.latex_style)
    if not args.standalone:
        return f"% {heading}\n{body}"
    return f"\\begin{{table}}[ht]\n\\centering\n{body}\\caption{{{heading}}}\n\\end{{table}}\n"


def _latex_document(tables: list[str], args: argparse.Namespace) -> str:
    """The tables as one document that compiles on its own (``--standalone``)."""
    packages = "\\usepackage{booktabs}\n" if args.latex_style == "booktabs" else ""
    return (
        "\\documentclass{article}\n\\usepackage[margin=1.5cm]{geometry}\n"
        + packages
        + "\\begin{document}\n"
        + "\n".join(tables)
        + "\\end{document}\n"
    )


def render_tables(tr: EvaluationTrace, args: argparse.Namespace, form: str) -> list[str]:
    """Each table as text, Markdown or LaTeX (text: the summary line as a last chunk)."""
    chunks = []
    for heading, table in _sections(tr, args):
        if form == "text":
            chunks.append(table.to_text() if hasattr(table, "to_text") else str(table))
        elif form == "markdown":
            chunks.append(f"**{heading}**\n\n{table.to_markdown()}")
        else:
            chunks.append(_latex_table(heading, table, args))
    if form == "text":
        chunks.append(_summary(tr, args))
    return chunks


def render_text(tr: EvaluationTrace, args: argparse.Namespace, form: str) -> str:
    chunks = render_tables(tr, args, form)
    if form == "latex" and args.standalone:
        return _latex_document(chunks, args)
    return "\n".join(chunks)


def split_paths(path: str, n: int) -> list[str]:
    """``--split``'s files: ``f.tex`` -> ``f-1.tex``, ``f-2.tex``, …"""
    stem, ext = os.path.splitext(path)
    return [f"{stem}-{k}{ext}" for k in range(1, n + 1)]


def _check_latex_options(args: argparse.Namespace) -> None:
    if args.format != "latex" and (args.standalone or args.latex_style != "plain"):
        option = "--standalone" if args.standalone else "--latex-style"
        raise UsageError(f"{option} needs --format latex")
    if args.split and (args.format not in ("markdown", "latex") or not args.output):
        raise UsageError("--split needs --output FILE and --format markdown or latex")


def _run(args: argparse.Namespace) -> int:
    _check_latex_options(args)
    tr = build(args)
    check_destinations(args)
    if args.format == "dot":
        text = tr.to_dot(seed=None if args.mode == "forward" else 1.0, precision=args.precision)
    else:
        text = render_text(tr, args, args.format)
    try:
        if args.split:
            chunks = render_tables(tr, args, args.format)
            paths = split_paths(args.output, len(chunks))
            for path, chunk in zip(paths, chunks):
                doc = _latex_document([chunk], args) if args.standalone else chunk
                write_atomic(path, doc.encode())
            print("wrote " + ", ".join(paths))
        elif args.output:
            if _renders(args):
                render(text, args.output)
            else:
                write_atomic(args.output, text.encode())
        else:
            print_output(text) if args.format == "text" else print(text, end="")
        if args.dot:
            render(tr.to_dot(precision=args.precision), args.dot)
    except (GraphvizError, ValueError) as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(write_error_message(e)) from None
    if args.seed:  # after the work, so that an error stays the one line on stderr
        print(
            "tracegrad trace: --seed is deprecated, use --tangent (the same values)",
            file=sys.stderr,
        )
    return 0


def run(args: argparse.Namespace) -> int:
    # a formula at a singular point shows inf or nan in its table; NumPy's warnings
    # about it would only repeat that on stderr
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _run(args)
