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
from tracegrad.traces.steps import _output_names

#: one-sided difference quotients that differ by more than this (relative and
#: absolute) mark a kink: a point where the function has no derivative
KINK_TOL = 1e-4


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


def _one_sided(fk: Any, values: list[Any], i: int) -> tuple[np.ndarray, np.ndarray]:
    """The left and right difference quotients of ``fk`` in each element of input
    ``i`` (step ``sqrt(machine eps)`` scaled by the value): they differ where the
    function has a kink (``relu`` or ``abs`` at 0)."""
    x = np.asarray(values[i], dtype=float)
    f0 = float(fk(*values))
    left, right = np.empty_like(x), np.empty_like(x)
    for j in np.ndindex(x.shape):
        h = np.sqrt(np.finfo(float).eps) * max(1.0, abs(float(x[j])))
        for sign, out in ((1.0, right), (-1.0, left)):
            xj = x.copy()
            xj[j] += sign * h
            moved = xj if x.ndim else xj[()]  # a NumPy scalar: x/0 is inf, not an error
            out[j] = sign * (float(fk(*values[:i], moved, *values[i + 1 :])) - f0) / h
    return left, right


def _kink_note(
    fk: Any, values: list[Any], i: int, name: str, wrt: str, rev: Any, p: int
) -> str | None:
    """When input ``i`` sits on a kink of ``fk``: the note that says so, with the
    one-sided derivatives and the one automatic differentiation chose; else ``None``."""
    try:
        left, right = _one_sided(fk, values, i)
    except (ValueError, ArithmeticError, TypeError):  # no quotients to compare here
        return None
    if not (np.isfinite(left).all() and np.isfinite(right).all()):
        return None
    if np.allclose(left, right, rtol=KINK_TOL, atol=KINK_TOL):
        return None
    low, high = np.minimum(left, right), np.maximum(left, right)
    inside = bool(np.all((rev >= low - KINK_TOL) & (rev <= high + KINK_TOL)))
    at = format_value(values[i], p, True)
    return (
        f"{wrt} = {at} is a kink of {name}: its one-sided derivatives are "
        f"{format_value(left, p, True)} (from the left) and {format_value(right, p, True)} "
        f"(from the right), and central finite differences take their mean; "
        + (
            f"AD's {format_value(rev, p, True)} lies between them, by tracegrad's "
            "conventions at kinks (relu'(0) = 0, abs'(0) = 0, ties split evenly)"
            if inside
            else f"AD's {format_value(rev, p, True)} lies outside them"
        )
    )


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
    failures, notes = [], []
    # the outputs' names as `trace` gives them (f where an input is called y)
    out_names = _output_names(None, names, n_out, n_out > 1)
    for k in range(n_out):
        name = out_names[k]

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
            note = _kink_note(fk, values, i, name, nm, np.asarray(rev), p) if not ok_fd else None
            if note is not None:
                notes.append(note)
                status = "FAIL: at a kink (see below)"
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
    text += "".join(f"note: {n}\n" for n in notes)
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
