"""How each primitive reads in a trace table: its formula and its local partial derivatives.

Templates are LaTeX (see :mod:`tracegrad.traces.notation`) with ``#0``, ``#1`` standing for
the operands and ``#o`` for the step's own name. A partial derivative comes with a *kind*
that says how it joins an adjoint or tangent, so rows read as on the slides:
``one`` (``v̄_k``), ``neg`` (``v̄_k · (-1)``), ``mul`` (``v̄_k · X``), ``div`` (``v̄_k / X``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

__all__ = ["AFFINE", "SYMBOLS", "partial", "primal", "substitute"]

#: Primitives that are affine in their traced operand(s) when the other operand is a
#: constant: the candidates for folding into one ``v_{-2} + v_{-1} + 1.5 · v_0`` step.
AFFINE = {"add", "subtract", "negative", "multiply", "divide", "true_divide", "positive"}

# name -> primal template (single operand unless stated)
_PRIMAL = {
    "add": "#0 + #1",
    "subtract": "#0 - #1",
    "multiply": "#0 \\cdot #1",
    "divide": "#0 / #1",
    "true_divide": "#0 / #1",
    "negative": "-#0",
    "positive": "+#0",
    "power": "#0^{#1}",
    "square": "#0^2",
    "reciprocal": "1 / #0",
    "sqrt": "\\sqrt{#0}",
    "log": "\\ln #0",
    "exp": "\\exp #0",
    "sin": "\\sin #0",
    "cos": "\\cos #0",
    "tan": "\\tan #0",
    "tanh": "\\tanh #0",
    "sigmoid": "\\sigma(#0)",
    "relu": "\\mathrm{ReLU}(#0)",
    "abs": "|#0|",
    "mse": "\\mathrm{MSE}(#0, #1)",
    "matmul": "#0 @ #1",
    "sum": "\\Sigma #0",
}

#: Function names as the slides write them (for graph labels).
SYMBOLS = {
    "add": "+",
    "subtract": "−",
    "multiply": "×",
    "divide": "/",
    "true_divide": "/",
    "negative": "−",
    "power": "pow",
    "square": "²",
    "log": "ln",
    "sigmoid": "σ",
    "relu": "ReLU",
    "mse": "MSE",
    "matmul": "@",
    "sum": "Σ",
    "affine": "+",
}


def substitute(template: str, ops: list[str], out: str = "") -> str:
    """Fill ``#0``, ``#1``, … and ``#o`` in a template."""

    def repl(m: re.Match) -> str:
        key = m.group(1)
        if key == "o":
            return out
        k = int(key)
        return ops[k] if k < len(ops) else "?"

    return re.sub(r"#(o|\d)", repl, template)


def primal(name: str, ops: list[str], kwargs: dict[str, Any] | None = None) -> str:
    """The right-hand side of ``v_j = …`` for primitive ``name`` on operands ``ops``."""
    extra = ""
    if kwargs:
        extra = ", " + ", ".join(f"\\mathrm{{{k}}}={_plain(v)}" for k, v in kwargs.items())
    template = _PRIMAL.get(name)
    if template is None or (extra and name != "sum"):
        args = ", ".join(ops)
        return f"\\mathrm{{{_escape(name)}}}({args}{extra})"
    if extra:  # sum over an axis: say which
        return f"\\mathrm{{sum}}({ops[0]}{extra})"
    return substitute(template, ops)


def _plain(v: Any) -> str:
    return _escape(str(v))


def _escape(s: str) -> str:
    return s.replace("_", "\\_").replace("{", "(").replace("}", ")")


def partial(
    name: str, argnum: int, ops: list[str], consts: list[Any], out: str, size: int = 1
) -> tuple[str, str]:
    """``(kind, latex)`` for ∂out/∂operand ``argnum``.

    ``consts[k]`` is the constant value of operand ``k`` (``None`` when traced), used to
    simplify (``∂(1.5 · v_0)/∂v_0`` is ``1.5``; ``x³`` gives ``3 v^2``). ``size`` is the
    number of elements of the first operand (the ``n`` of a mean squared error).
    """
    a = ops[0] if ops else "?"
    b = ops[1] if len(ops) > 1 else "?"
    if name in ("add", "positive"):
        return "one", "1"
    if name == "subtract":
        return ("one", "1") if argnum == 0 else ("neg", "-1")
    if name == "negative":
        return "neg", "-1"
    if name == "multiply":
        return "mul", (b if argnum == 0 else a)
    if name in ("divide", "true_divide"):
        if argnum == 0:
            return "div", b
        return "mul", f"(-{a} / {b}^2)"
    if name == "power":
        if argnum == 0:
            p = consts[1] if len(consts) > 1 else None
            if p is not None and np.ndim(p) == 0:
                p = float(p)
                q = p - 1
                qs = _num(q)
                power = "" if q == 1 else f"^{{{qs}}}"
                return "mul", f"{_num(p)}{a}{power}" if q != 0 else _num(p)
            return "mul", f"{b} \\cdot {a}^{{{b} - 1}}"
        return "mul", f"\\ln {a} \\cdot {out}"
    if name == "square":
        return "mul", f"2{a}"
    if name == "reciprocal":
        return "mul", f"(-1 / {a}^2)"
    if name == "sqrt":
        return "div", f"2\\sqrt{{{a}}}"
    if name == "log":
        return "div", a
    if name == "exp":
        return "mul", f"\\exp {a}"
    if name == "sin":
        return "mul", f"\\cos {a}"
    if name == "cos":
        return "mul", f"(-\\sin {a})"
    if name == "tan":
        return "div", f"\\cos^2 {a}"
    if name == "tanh":
        return "mul", f"(1 - \\tanh^2 {a})"
    if name == "sigmoid":
        return "mul", f"\\sigma({a}) \\cdot (1 - \\sigma({a}))"
    if name == "relu":
        return "mul", f"H({a})"
    if name == "abs":
        return "mul", f"\\mathrm{{sign}}({a})"
    if name == "mse":
        scale = "2" if size == 1 else f"(2/{size})"
        if argnum == 0:
            return "mul", f"{scale}({a} - {b})"
        return "mul", f"(-{scale}({a} - {b}))"
    if name == "sum":
        return "one", "1"
    operand = ops[argnum] if argnum < len(ops) else "?"
    return "mul", f"\\frac{{\\partial {out}}}{{\\partial {operand}}}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))
