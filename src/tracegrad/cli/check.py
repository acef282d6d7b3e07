"""Check a formula's derivatives: forward mode, reverse mode and finite differences.

Exits with status 0 when all three agree, 1 when they do not.

Example:
  tracegrad check "ln(x1) + x1*x2 - sin(x2)" --at x1=2 x2=5
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

import tracegrad as tg
from tracegrad.cli._formula import (
    add_formula_arguments,
    evaluation_errors,
    load,
    precision,
    print_output,
)
from tracegrad.cli.main import UsageError
from tracegrad.traces.notation import format_value
from tracegrad.traces.render import Grid, Group


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_formula_arguments(parser, __doc__)
    parser.add_argument(
        "--wrt", nargs="+", metavar="NAME", default=None, help="inputs to check (default: all)"
    )
    parser.add_argument("--rtol", type=float, default=1e-5, help="relative tolerance")
    parser.add_argument("--atol", type=float, default=1e-7, help="absolute tolerance")
    parser.add_argument(
        "--eps",
        type=float,
        default=None,
        help="finite-difference step (default: scaled cbrt(machine eps))",
    )
    parser.add_argument(
        "--precision",
        type=precision,
        default=6,
        metavar="N",
        help="digits after the point in the report (default 6)",
    )


def _forward(fk: Any, values: list[Any], i: int) -> Any:
    """∂fk/∂(input i) by forward mode on a function of input ``i`` alone. The other
    inputs are constants of that function, not inputs with zero tangents: a zero tangent
    still meets the partial derivative, and 0 · inf = nan where that is infinite
    (``x/y`` at ``y = 0`` wrt ``x``)."""

    def only_i(xi: Any) -> Any:
        return fk(*values[:i], xi, *values[i + 1 :])

    if np.ndim(values[i]) == 0:
        return tg.jvp(only_i, (values[i],), (1.0,))[1]
    return tg.jacfwd(only_i)(values[i])  # a vector input: one forward pass per element


def _run(args: argparse.Namespace) -> int:
    formula, names, values = load(args)
    wrt = args.wrt or names
    bad = [w for w in wrt if w not in names]
    if bad:
        raise UsageError(f"--wrt {', '.join(bad)}: not an input (inputs: {', '.join(names)})")
    if not names:
        raise UsageError("the formula has no variables: nothing to differentiate")
    fun = formula.function(names)
    n_out = len(formula.outputs)
    p = args.precision
    grid = Grid(
        [
            Group("output", 1),
            Group("input", 1),
            Group("forward", 1, (0,)),
            Group("reverse", 1, (0,)),
            Group("finite diff.", 1, (0,)),
            Group("status", 1),
        ]
    )
    failures = []
    for k in range(n_out):
        name = "y" if n_out == 1 else f"y_{k + 1}"

        def fk(*a: Any, k: int = k) -> Any:
            out = fun(*a)
            return out if n_out == 1 else out[k]

        # TypeError: e.g. a vector-valued formula, which has no gradient
        with evaluation_errors(f"cannot check {name}", extra=(TypeError,)):
            reverse = tg.grad(fk, argnums=tuple(range(len(names))))(*values)
        for i, nm in enumerate(names):
            if nm not in wrt:
                continue
            with evaluation_errors(f"cannot check {name} wrt {nm}", extra=(TypeError,)):
                forward = _forward(fk, values, i)
                numeric = tg.numerical_grad(fk, *values, argnums=i, eps=args.eps)
            rev = reverse[i]
            ok_ad = np.allclose(forward, rev, rtol=1e-9, atol=1e-12, equal_nan=True)
            ok_fd = np.allclose(rev, numeric, rtol=args.rtol, atol=args.atol, equal_nan=True)
            status = (
                "ok"
                if ok_ad and ok_fd
                else (
                    "FAIL: forward and reverse differ"
                    if not ok_ad
                    else "FAIL: differs from finite differences"
                )
            )
            if status != "ok":
                failures.append(f"{name} wrt {nm}")
            grid.rows.append(
                [
                    name,
                    nm,
                    format_value(forward, p, True),
                    format_value(rev, p, True),
                    format_value(numeric, p, True),
                    status,
                ]
            )
    text = grid.to_text()
    if failures:
        text += f"FAIL: {len(failures)} derivative(s) disagree: {', '.join(failures)}\n"
    else:
        text += "ok: forward mode, reverse mode and finite differences agree\n"
    print_output(text)
    return 1 if failures else 0


def run(args: argparse.Namespace) -> int:
    # a formula at a singular point shows inf or nan in its table; NumPy's warnings
    # about it would only repeat that on stderr
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _run(args)
