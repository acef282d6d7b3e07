"""Small expressions that carry their LaTeX form and their value together.

A display template writes each partial derivative once, as a Python function of the
operands and the output (``lambda x, out: cos(x)``). Called on :class:`Expr` leaves,
that function builds an expression whose :meth:`Expr.latex` is what the trace table
shows (``\\cos v_0``) and whose :attr:`Expr.value` is the number it stands for (NumPy on
the leaves' values), so the displayed formula and its value cannot drift apart.

Only what the templates need is here: ``+ - * / **``, unary minus, and the functions
below. Numbers fold (``3 - 1`` is ``2``; ``x * 1`` is ``x``), so a constant exponent
reads ``3v_0^2`` rather than ``3 \\cdot v_0^{3 - 1}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.traces.notation import format_constant

__all__ = [
    "Expr",
    "const",
    "cos",
    "cosh",
    "exp",
    "heaviside",
    "leaf",
    "ln",
    "number",
    "sigmoid",
    "sign",
    "sin",
    "sinh",
    "size",
    "sqrt",
    "tan",
    "tanh",
]

# Precedence, loosest first: how tightly a node binds when it is an operand.
_ADD, _NEG, _MUL, _POW, _ATOM = range(5)


class Expr:
    """A node: ``kind`` is ``"leaf"``, ``"num"``, an operator (``"+"``, ``"-"``,
    ``"*"``, ``"/"``, ``"**"``, ``"neg"``) or a function name; ``value`` its number."""

    __slots__ = ("kind", "args", "value", "tex", "constant")

    def __init__(
        self, kind: str, args: tuple[Expr, ...], value: Any, tex: str = "", constant: bool = False
    ) -> None:
        self.kind = kind
        self.args = args
        self.value = value
        self.tex = tex  # a leaf's LaTeX
        self.constant = constant  # a number, or a constant operand

    # --- arithmetic -----------------------------------------------------------------

    def __add__(self, other: Any) -> Expr:
        return _binary("+", self, other)

    def __radd__(self, other: Any) -> Expr:
        return _binary("+", other, self)

    def __sub__(self, other: Any) -> Expr:
        return _binary("-", self, other)

    def __rsub__(self, other: Any) -> Expr:
        return _binary("-", other, self)

    def __mul__(self, other: Any) -> Expr:
        return _binary("*", self, other)

    def __rmul__(self, other: Any) -> Expr:
        return _binary("*", other, self)

    def __truediv__(self, other: Any) -> Expr:
        return _binary("/", self, other)

    def __rtruediv__(self, other: Any) -> Expr:
        return _binary("/", other, self)

    def __pow__(self, other: Any) -> Expr:
        return _binary("**", self, other)

    def __neg__(self) -> Expr:
        if self.kind == "num":
            return number(-self.value)
        if self.kind == "neg":
            return self.args[0]
        return Expr("neg", (self,), _quiet(np.negative, self.value))

    # --- LaTeX ----------------------------------------------------------------------

    def latex(self) -> str:
        """The formula in the LaTeX subset that :mod:`tracegrad.traces.notation` reads."""
        k, a = self.kind, self.args
        if k == "leaf":
            return self.tex
        if k == "num":
            return _num(self.value)
        if k == "+":
            return f"{a[0].latex()} + {_wrap(a[1], _NEG)}"
        if k == "-":
            return f"{a[0].latex()} - {_wrap(a[1], _NEG)}"
        if k == "neg":
            return "-" + _wrap(a[0], _ADD)
        if k == "*":
            if _is_coefficient(a[0]):  # 2v_0, (2/3)(v_1 - v_0)
                return _coefficient(a[0]) + _wrap(a[1], _NEG)
            return f"{_wrap(a[0], _NEG)} \\cdot {_wrap(a[1], _NEG)}"
        if k == "/":
            return f"{_wrap(a[0], _ADD)} / {_wrap(a[1], _MUL)}"
        if k == "**":
            return _power(a[0], a[1])
        return _FUNCTIONS[k][1](_wrap(a[0], _POW))

    @property
    def precedence(self) -> int:
        k = self.kind
        if k in ("+", "-"):
            return _ADD
        if k == "neg" or (self.constant and np.ndim(self.value) == 0 and self.value < 0):
            return _NEG
        if k == "*" and _is_coefficient(self.args[0]) and _coefficient(self.args[0])[0] == "-":
            return _NEG  # -2v_0
        if k in ("*", "/"):
            return _MUL
        if k == "**":
            return _POW
        return _ATOM

    def __repr__(self) -> str:
        return f"Expr({self.latex()!r})"


def _num(x: Any) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else repr(x)


def _wrap(e: Expr, loosest: int) -> str:
    """``e``'s LaTeX, in parentheses if it binds no tighter than ``loosest``."""
    s = e.latex()
    return f"({s})" if e.precedence <= loosest else s


def _is_coefficient(e: Expr) -> bool:
    if e.kind == "/":
        return all(x.kind == "num" for x in e.args)
    return e.constant and np.ndim(e.value) == 0


def _coefficient(e: Expr) -> str:
    """A number written before what it multiplies: ``2``, ``-2`` (not ``(-2)``), ``(2/3)``."""
    if e.kind == "/":
        return f"({_num(e.args[0].value)}/{_num(e.args[1].value)})"
    s = e.latex()
    return s[1:-1] if s.startswith("(-") else s


def _power(base: Expr, exponent: Expr) -> str:
    e = exponent.latex()
    sup = f"^{e}" if len(e) == 1 else f"^{{{e}}}"
    if base.kind in _PREFIX:  # \tanh^2 v_0, as functions' powers are written
        return f"\\{base.kind}{sup} {_wrap(base.args[0], _POW)}"
    s = base.latex()
    return (s if base.precedence == _ATOM and not s.startswith("-") else f"({s})") + sup


def _quiet(fn: Any, *values: Any) -> Any:
    # A formula may be undefined at the point (ln of a negative base): it shows nan, as
    # the primitive's own rule would, without NumPy's warning.
    with np.errstate(all="ignore"):
        return fn(*values)


def _is_scalar_number(e: Expr) -> bool:
    return e.constant and np.ndim(e.value) == 0


_OPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power}


def _binary(op: str, left: Any, right: Any) -> Expr:
    a, b = _expr(left), _expr(right)
    value = _quiet(_OPS[op], a.value, b.value)
    if _is_scalar_number(a) and _is_scalar_number(b):
        # numbers fold, except a fraction that is not whole (the n of a mean: (2/3))
        if op != "/" or float(value).is_integer():
            return number(value)
    if op == "*":
        if a.kind == "num" and a.value == 1:
            return b
        if b.kind == "num" and b.value == 1:
            return a
    if op in ("/", "**") and b.kind == "num" and b.value == 1:
        return a
    if op == "**" and b.kind == "num" and b.value == 0:
        return number(1.0)
    return Expr(op, (a, b), value)


def _expr(x: Any) -> Expr:
    return x if isinstance(x, Expr) else number(x)


def number(x: Any) -> Expr:
    """A literal number of a formula (shown as ``2``, ``0.5``)."""
    return Expr("num", (), float(x), constant=True)


def leaf(tex: str, value: Any) -> Expr:
    """A traced operand or the output: shown by its name, e.g. ``v_{-1}``."""
    return Expr("leaf", (), value, tex)


def const(value: Any, precision: int) -> Expr:
    """A constant operand: shown as its rounded value (:func:`format_constant`)."""
    return Expr("leaf", (), value, format_constant(value, precision), constant=True)


def size(x: Expr) -> Expr:
    """The number of elements of ``x``, as a number (the ``n`` of a mean)."""
    return number(np.size(x.value))


def _relu_slope(x: Any) -> Any:
    return (np.asarray(x) > 0).astype(float)[()]  # relu'(0) = 0 (docs/design.md)


def _sigmoid(x: Any) -> Any:
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(np.asarray(x) >= 0, 1 / (1 + e), e / (1 + e))[()]


#: function name -> (NumPy implementation, LaTeX of its (wrapped) argument)
_FUNCTIONS = {
    "cos": (np.cos, lambda s: f"\\cos {s}"),
    "sin": (np.sin, lambda s: f"\\sin {s}"),
    "tan": (np.tan, lambda s: f"\\tan {s}"),
    "tanh": (np.tanh, lambda s: f"\\tanh {s}"),
    "sinh": (np.sinh, lambda s: f"\\sinh {s}"),
    "cosh": (np.cosh, lambda s: f"\\cosh {s}"),
    "exp": (np.exp, lambda s: f"\\exp {s}"),
    "ln": (np.log, lambda s: f"\\ln {s}"),
    "sqrt": (np.sqrt, lambda s: f"\\sqrt{{{_unwrap(s)}}}"),
    "sigma": (_sigmoid, lambda s: f"\\sigma({_unwrap(s)})"),
    "H": (_relu_slope, lambda s: f"H({_unwrap(s)})"),
    "sign": (np.sign, lambda s: f"\\mathrm{{sign}}({_unwrap(s)})"),
}
#: functions written before their argument (``\cos v``), whose powers read ``\cos^2 v``
_PREFIX = {"cos", "sin", "tan", "tanh", "sinh", "cosh", "exp", "ln"}


def _unwrap(s: str) -> str:
    # braces or parentheses of the function itself already delimit the argument
    return s[1:-1] if s.startswith("(") and s.endswith(")") else s


def _function(name: str, x: Any) -> Expr:
    e = _expr(x)
    return Expr(name, (e,), _quiet(_FUNCTIONS[name][0], e.value))


def _named(name: str, doc: str = "") -> Any:
    """The function ``name`` of templates: an :class:`Expr` on an :class:`Expr`."""

    def fn(x: Any) -> Expr:
        return _function(name, x)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc or f"``{name}(x)`` in a formula."
    return fn


cos = _named("cos")
sin = _named("sin")
tan = _named("tan")
tanh = _named("tanh")
sinh = _named("sinh")
cosh = _named("cosh")
exp = _named("exp")
ln = _named("ln")
sqrt = _named("sqrt")
sigmoid = _named("sigma")
heaviside = _named("H", "``H(x)``: 1 for ``x > 0``, else 0 (relu's slope, ``relu'(0) = 0``).")
sign = _named("sign")
