"""Notation shared by every output form: names, numbers and a LaTeX-to-Unicode converter.

Formulas are written once, in a small subset of LaTeX (``\\bar{v}_{-1} \\cdot 1.5``), and
converted to Unicode text (``v̄₋₁ · 1.5``) for the terminal and Markdown. Only what
the display templates (:mod:`tracegrad.traces.registry`) produce needs converting, so the
converter is a short recursive reader, not a TeX implementation.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

import numpy as np

__all__ = [
    "display_width",
    "format_constant",
    "format_number",
    "format_value",
    "latex_name",
    "to_unicode",
    "var_name",
]

_SUB = dict(zip("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ"))
_SUP = dict(zip("0123456789+-=()nᵀ", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿᵀ"))  # ᵀ: \\top is one already

# LaTeX commands and what they read as in text.
_WORDS = {
    "cdot": "·",
    "times": "×",
    "sigma": "σ",
    "partial": "∂",
    "Sigma": "Σ",
    "sum": "Σ",
    "ln": "ln",
    "exp": "exp",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "tanh": "tanh",
    "log": "log",
    "ldots": "…",
    "top": "ᵀ",
    "_": "_",
    "{": "{",
    "}": "}",
    "%": "%",
    "&": "&",
    "#": "#",
    ",": " ",
    ";": " ",
    "quad": "  ",
}
_ACCENTS = {"bar": "\u0304", "dot": "\u0307", "hat": "\u0302", "tilde": "\u0303"}
_TEXTLIKE = {"mathrm", "operatorname", "mathit", "text", "mathbf"}


def var_name(i: int) -> str:
    """The canonical name of value ``i`` in LaTeX form: ``v_{-1}``, ``v_0``, ``v_{12}``."""
    return f"v_{i}" if 0 <= i <= 9 else f"v_{{{i}}}"


_SIMPLE_NAME = re.compile(r"^([A-Za-z]+)_?([0-9]+)$")


def latex_name(name: str) -> str:
    """A user's variable name as LaTeX: ``x1`` and ``x_1`` become ``x_{1}``, ``w`` stays."""
    m = _SIMPLE_NAME.match(name)
    if m:
        base, digits = m.groups()
        return _latex_word(base) + "_{" + digits + "}"
    if re.fullmatch(r"[A-Za-z]", name):
        return name
    if re.fullmatch(r"[A-Za-z]+_[A-Za-z0-9]+", name):
        base, sub = name.split("_", 1)
        return _latex_word(base) + "_{" + _latex_word(sub) + "}"
    return _latex_word(name)


def _latex_word(s: str) -> str:
    if len(s) == 1 and s.isalpha() or s.isdigit():
        return s
    escaped = s.replace("\\", "").replace("_", "\\_").replace("{", "").replace("}", "")
    return "\\mathrm{" + escaped + "}"


def format_number(x: float, precision: int) -> str:
    """``x`` rounded for display as on the slides: fixed decimals, trailing zeros dropped
    (``0.1029`` → ``0.1`` at precision 2, ``49.0`` → ``49``); tiny or huge magnitudes in
    scientific notation so that they never show as a misleading ``0``."""
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == 0:
        return "0"
    ax = abs(x)
    if ax < 0.5 * 10.0**-precision or ax >= 1e9:
        mant = f"{x:.{max(precision - 1, 1)}e}"
        m, e = mant.split("e")
        m = m.rstrip("0").rstrip(".") if "." in m else m
        return f"{m}e{int(e)}"
    s = f"{x:.{precision}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def format_value(value: Any, precision: int = 3, latex: bool = False) -> str:
    """A value for a table cell: a rounded number, a short vector, or shape and preview."""
    arr = np.asarray(value)
    if arr.dtype.kind == "O":  # not a number: e.g. a missing bias (None)
        return str(value)
    if arr.ndim == 0:
        if arr.dtype.kind == "b":
            return str(bool(arr))
        if arr.dtype.kind == "c":
            return str(complex(arr))
        return format_number(float(arr), precision)
    flat = arr.ravel()
    times = "\\times" if latex else "×"
    if arr.ndim == 1 and arr.size <= 4:
        return "[" + ", ".join(format_number(v, precision) for v in flat) + "]"
    shape = times.join(str(n) for n in arr.shape)
    head = ", ".join(format_number(v, precision) for v in flat[:3])
    more = (", \\ldots" if latex else ", …") if arr.size > 3 else ""
    return f"{shape} [{head}{more}]"


def format_constant(value: Any, precision: int) -> str:
    """A constant operand inside a formula, in LaTeX: negative numbers in parentheses,
    big arrays by shape only."""
    arr = np.asarray(value)
    if arr.ndim == 0 or arr.size <= 4:
        s = format_value(value, precision, latex=True)
        return f"({s})" if s.startswith("-") else s
    return "\\mathrm{const}[" + "\\times".join(str(n) for n in arr.shape) + "]"


# --- LaTeX subset → Unicode -------------------------------------------------------------


class _Reader:
    def __init__(self, src: str) -> None:
        self.s = src
        self.i = 0

    def group(self) -> str:
        """One argument: ``{...}``, a command, or a single character."""
        s = self.s
        while self.i < len(s) and s[self.i] == " ":
            self.i += 1
        if self.i >= len(s):
            return ""
        if s[self.i] == "{":
            depth, j = 0, self.i
            while j < len(s):
                if s[j] == "{" and (j == 0 or s[j - 1] != "\\"):
                    depth += 1
                elif s[j] == "}" and s[j - 1] != "\\":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            inner = s[self.i + 1 : j]
            self.i = j + 1
            return _convert(inner)
        if s[self.i] == "\\":
            return self.command()
        self.i += 1
        return s[self.i - 1]

    def command(self) -> str:
        s = self.s
        j = self.i + 1
        if j < len(s) and not s[j].isalpha():
            self.i = j + 1
            return _WORDS.get(s[j], s[j])
        while j < len(s) and s[j].isalpha():
            j += 1
        word = s[self.i + 1 : j]
        self.i = j
        if word == "partial":  # TeX eats the space after a control word; ∂v reads best
            while self.i < len(s) and s[self.i] == " ":
                self.i += 1
        if word in _ACCENTS:
            arg = self.group()
            return arg[:1] + _ACCENTS[word] + arg[1:] if arg else ""
        if word in _TEXTLIKE:
            return self.group()
        if word == "sqrt":
            arg = self.group()
            return "√" + (arg if _atomic(arg) else f"({arg})")
        if word == "frac":
            num, den = self.group(), self.group()
            num = num if _atomic(num) else f"({num})"
            den = den if _atomic(den) else f"({den})"
            return f"{num}/{den}"
        if word in ("left", "right", "big", "Big"):
            return ""
        return _WORDS.get(word, word)


def _atomic(s: str) -> bool:
    return not any(c in s for c in " +-·/×") or (s.startswith("(") and s.endswith(")"))


def _script(text: str, table: dict[str, str], mark: str) -> str:
    # Unicode has subscript forms for a few letters only: ``w_hat`` reads better as is.
    wordy = sum(c.isalpha() for c in text) > 1
    if text and not wordy and all(c in table for c in text):
        return "".join(table[c] for c in text)
    if wordy and " " not in text:
        return mark + text
    return mark + (text if len(text) == 1 else f"({text})")


def _convert(src: str) -> str:
    r = _Reader(src)
    out: list[str] = []
    while r.i < len(src):
        c = src[r.i]
        if c == "\\":
            out.append(r.command())
        elif c == "_":
            r.i += 1
            out.append(_script(r.group(), _SUB, "_"))
        elif c == "^":
            r.i += 1
            out.append(_script(r.group(), _SUP, "^"))
        elif c == "{":
            out.append(r.group())
        else:
            out.append(c)
            r.i += 1
    return "".join(out)


def to_unicode(latex: str) -> str:
    """Convert one of our LaTeX formulas to Unicode text (``\\bar{v}_{-1}`` → ``v̄₋₁``)."""
    return re.sub(r"  +", " ", _convert(latex))


def display_width(s: str) -> int:
    """Terminal columns taken by ``s``: combining accents (the bar of v̄) take none."""
    return sum(0 if unicodedata.combining(c) else 1 for c in s)
