"""A small, safe parser for formulas typed at a terminal: ``ln(x1) + x1*x2 - sin(x2)``.

Grammar (``**`` and ``^`` are powers, right-associative and binding tighter than a
unary minus, as in Python: ``-x**2`` is ``-(x**2)``)::

    formula := expr ("," expr)*                 several outputs: "sin(u), cos(u)"
    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary)*
    unary   := ("-" | "+") unary | power
    power   := atom (("**" | "^") unary)?
    atom    := NUMBER | NAME | FUNC "(" expr ("," expr)* ")" | "(" expr ")"

The result is a tree of tuples, turned into a Python function over
``tracegrad.numpy`` by walking the tree: nothing is ever passed to ``eval`` or
``exec``, and only the functions in :data:`FUNCTIONS` can be called. Identical
subexpressions are computed once, so ``relu(w*x + b) + (w*x + b)`` records ``w*x + b``
as one value used twice, as in seed 004's graph. Trees are walked with an explicit
stack, so a long flat formula (``x + x + … + x``, thousands of terms) is no deeper a
problem than a short one. Errors are :class:`ParseError` with the
1-based column of the problem.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import tracegrad.numpy as tnp
from tracegrad.traces.ops import mse_step

__all__ = ["FUNCTIONS", "Formula", "ParseError", "parse"]

#: name -> (function, number of arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int]] = {
    "ln": (tnp.log, 1),
    "log": (tnp.log, 1),
    "exp": (tnp.exp, 1),
    "sqrt": (tnp.sqrt, 1),
    "sin": (tnp.sin, 1),
    "cos": (tnp.cos, 1),
    "tan": (tnp.tan, 1),
    "tanh": (tnp.tanh, 1),
    "sigmoid": (tnp.sigmoid, 1),
    "relu": (tnp.relu, 1),
    "abs": (tnp.abs, 1),
    "mse": (mse_step, 2),
}

_MAX_LENGTH = 10_000
_MAX_DEPTH = 200


class ParseError(ValueError):
    """A malformed formula. ``column`` is 1-based; ``str()`` is one line."""

    def __init__(self, message: str, column: int, text: str = "") -> None:
        super().__init__(f"{message} (at column {column})")
        self.message = message
        self.column = column
        self.text = text

    def pointer(self) -> str:
        """The formula with a caret under the column, for multi-line displays."""
        return f"{self.text}\n{' ' * (self.column - 1)}^"


@dataclass(frozen=True)
class _Tok:
    kind: str  # "num", "name", "op", "end"
    text: str
    col: int  # 1-based


_TOKEN = re.compile(
    r"(?P<ws>\s+)|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),])"
)


def _tokenize(text: str) -> list[_Tok]:
    toks, i = [], 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            ch = text[i]
            hint = " (use ** or ^ for powers)" if ch == "²" else ""
            raise ParseError(f"unexpected character {ch!r}{hint}", i + 1, text)
        kind = m.lastgroup
        if kind != "ws":
            after = m.end()
            if (
                kind == "num"
                and after < len(text)
                and (text[after].isalpha() or text[after] == "_")
            ):
                raise ParseError(
                    f"missing operator between {m.group()!r} and {text[after]!r} "
                    f"(write {m.group()}*{text[after]} for a product)",
                    after + 1,
                    text,
                )
            toks.append(_Tok(kind, m.group(), i + 1))  # type: ignore[arg-type]
        i = m.end()
    toks.append(_Tok("end", "", len(text) + 1))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.opened: list[int] = []

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def error(self, message: str, tok: _Tok | None = None) -> ParseError:
        return ParseError(message, (tok or self.tok).col, self.text)

    def eat(self, text: str) -> bool:
        if self.tok.kind == "op" and self.tok.text == text:
            self.i += 1
            return True
        return False

    def formula(self) -> list[tuple]:
        if self.tok.kind == "end":
            raise self.error("empty formula")
        outs = [self.expr()]
        while self.eat(","):
            outs.append(self.expr())
        if self.tok.kind != "end":
            t = self.tok
            if t.text == ")":
                raise self.error("unbalanced parenthesis: ')' without a matching '('")
            raise self.error(f"unexpected {t.text!r}; expected an operator or the end")
        return outs

    def expr(self) -> tuple:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error("formula nested too deeply")
        node = self.term()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.tok.text
            self.i += 1
            node = ("add" if op == "+" else "sub", node, self.term())
        self.depth -= 1
        return node

    def term(self) -> tuple:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            op = self.tok.text
            self.i += 1
            node = ("mul" if op == "*" else "div", node, self.unary())
        return node

    def unary(self) -> tuple:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error("formula nested too deeply")
        if self.eat("-"):
            node: tuple = ("neg", self.unary())
        elif self.eat("+"):
            node = self.unary()
        else:
            node = self.power()
        self.depth -= 1
        return node

    def power(self) -> tuple:
        base = self.atom()
        if self.eat("**") or self.eat("^"):
            return ("pow", base, self.unary())
        return base

    def atom(self) -> tuple:
        t = self.tok
        if t.kind == "num":
            self.i += 1
            value = float(t.text)
            if math.isinf(value):  # as --at refuses it: inf is no number one types
                raise self.error(
                    f"the number {t.text} is too large (a float64 ends near 1.8e308)", t
                )
            return ("num", value)
        if t.kind == "name":
            self.i += 1
            if self.tok.kind == "op" and self.tok.text == "(":
                return self.call(t)
            if t.text in FUNCTIONS:
                raise self.error(f"{t.text} is a function: write {t.text}(...)", t)
            return ("var", t.text)
        if self.eat("("):
            self.opened.append(t.col)
            inner = self.expr()
            if not self.eat(")"):
                raise ParseError(
                    f"unbalanced parenthesis: '(' at column {t.col} is never closed",
                    self.tok.col,
                    self.text,
                )
            self.opened.pop()
            return inner
        if t.kind == "end":
            raise self.error("formula ends too early: expected a number, a name or '('")
        if t.text == ")":
            raise self.error("unbalanced parenthesis or missing operand before ')'")
        raise self.error(f"unexpected {t.text!r}: expected a number, a name or '('")

    def call(self, name: _Tok) -> tuple:
        fname = name.text
        if fname not in FUNCTIONS:
            close = difflib.get_close_matches(fname, list(FUNCTIONS), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            known = ", ".join(FUNCTIONS)
            raise self.error(f"unknown function {fname!r}{hint} (known: {known})", name)
        open_tok = self.tok
        self.i += 1  # "("
        args = [self.expr()]
        while self.eat(","):
            args.append(self.expr())
        if not self.eat(")"):
            raise ParseError(
                f"unbalanced parenthesis: '(' at column {open_tok.col} is never closed",
                self.tok.col,
                self.text,
            )
        arity = FUNCTIONS[fname][1]
        if len(args) != arity:
            raise self.error(
                f"{fname} takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}", name
            )
        return ("call", fname, *args)


#: one step of a formula's program: ``(kind, payload, *operand step indices)`` for
#: ``num`` (payload the value), ``var`` (the name) and ``call`` (the function's name);
#: ``(kind, *operand step indices)`` for the operators
Step = tuple


def _operands(node: tuple) -> tuple:
    kind = node[0]
    if kind in ("num", "var"):
        return ()
    return node[2:] if kind == "call" else node[1:]


def _program(outputs: tuple[tuple, ...]) -> tuple[tuple[Step, ...], tuple[int, ...]]:
    """The distinct subexpressions of ``outputs``, each after its operands, in the order
    a left-to-right evaluation meets them, and the step of each output.

    A walk with an explicit stack, not recursion: a flat sum of thousands of terms is a
    tree thousands deep. Steps are keyed by their operands' step indices, so equal
    subexpressions share a step without deep tuples ever being compared.
    """
    steps: list[Step] = []
    keys: dict[Step, int] = {}
    done: dict[int, int] = {}  # id(node) -> its step; the trees outlive the walk
    for root in outputs:
        stack = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if id(node) in done:
                continue
            kids = _operands(node)
            if not ready:
                stack.append((node, True))
                stack.extend((k, False) for k in reversed(kids))
                continue
            head = node[:2] if node[0] in ("num", "var", "call") else node[:1]
            key = (*head, *(done[id(k)] for k in kids))
            if key not in keys:
                keys[key] = len(steps)
                steps.append(key)
            done[id(node)] = keys[key]
    return tuple(steps), tuple(done[id(root)] for root in outputs)


@dataclass(frozen=True)
class Formula:
    """A parsed formula: ``variables`` in order of first appearance, ``outputs`` trees.

    Call it with the variables' values (positionally, in ``variables`` order) to evaluate
    it on ``tracegrad.numpy``; several outputs come back as a tuple. Numbers in the
    formula are float64 scalars, so arithmetic on them alone follows NumPy too:
    ``(-2)^0.5`` is NaN (not complex), ``10^400`` is inf (not an OverflowError).
    """

    text: str
    variables: tuple[str, ...]
    outputs: tuple[tuple, ...]
    steps: tuple[Step, ...] = field(init=False, repr=False, compare=False)
    results: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps, results = _program(self.outputs)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "results", results)

    def __call__(self, *values: Any) -> Any:
        if len(values) != len(self.variables):
            raise TypeError(f"expected {len(self.variables)} values, got {len(values)}")
        env = dict(zip(self.variables, values))
        vals: list[Any] = []  # one value per distinct subexpression
        for step in self.steps:
            vals.append(_apply(step, self.steps, vals, env))
        outs = tuple(vals[k] for k in self.results)
        return outs[0] if len(outs) == 1 else outs

    def function(self, variables: tuple[str, ...] | list[str]) -> Callable[..., Any]:
        """The formula as a function of ``variables`` (any order, a superset allowed)."""
        missing = [v for v in self.variables if v not in variables]
        if missing:
            raise ValueError(f"no value for {', '.join(missing)}")
        order = list(variables)

        def fun(*values: Any) -> Any:
            env = dict(zip(order, values))
            return self(*(env[v] for v in self.variables))

        return fun


def _apply(step: Step, steps: tuple[Step, ...], vals: list[Any], env: dict[str, Any]) -> Any:
    kind = step[0]
    if kind == "num":
        return np.float64(step[1])
    if kind == "var":
        return env[step[1]]
    if kind == "neg":
        return -vals[step[1]]
    if kind == "call":
        return FUNCTIONS[step[1]][0](*(vals[k] for k in step[2:]))
    a, b = vals[step[1]], vals[step[2]]
    if kind == "add":
        return a + b
    if kind == "sub":
        return a - b
    if kind == "mul":
        return a * b
    if kind == "div":
        return a / b
    # pow: an integer exponent keeps x**2 the seeds' square step
    if steps[step[2]][0] == "num" and float(b).is_integer() and abs(b) < 2**31:
        b = int(b)
    return a**b


def parse(text: str) -> Formula:
    """Parse ``text`` into a :class:`Formula`; raise :class:`ParseError` if malformed.

    >>> f = parse("ln(x1) + x1*x2 - sin(x2)")
    >>> f.variables
    ('x1', 'x2')
    >>> round(float(f(2.0, 5.0)), 3)
    11.652
    """
    if not isinstance(text, str):
        raise TypeError("parse() takes a string")
    if len(text) > _MAX_LENGTH:
        raise ParseError(f"formula longer than {_MAX_LENGTH} characters", _MAX_LENGTH + 1, "")
    parser = _Parser(text)
    outputs = tuple(parser.formula())
    steps, _ = _program(outputs)
    names = tuple(dict.fromkeys(st[1] for st in steps if st[0] == "var"))
    return Formula(text, names, outputs)
