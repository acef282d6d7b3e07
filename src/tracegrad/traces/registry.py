"""How each primitive reads in a trace table, registered by the primitive object.

:func:`display` registers a primitive's *primal template* (LaTeX with ``#0``, ``#1`` for
the operands: ``"\\sin #0"``) and its *partials*: one function of the operands and the
output, written with :mod:`tracegrad.traces.symbolic`, that returns ``∂out/∂operand``
for each operand (``lambda x, out: (cos(x),)``). Called on symbolic leaves it gives the
LaTeX the tables show and, from the same expression, the number it stands for, which
tests/test_display_templates.py checks against the primitive's VJP rule.

A partial comes with a *kind* that says how it joins an adjoint or a tangent, so rows
read as on the slides: ``one`` (``v̄_k``), ``neg`` (``v̄_k · (-1)``), ``mul``
(``v̄_k · X``), ``div`` (``v̄_k / X``, for a partial ``1 / X``); a matrix product's
``matr``/``matl`` (``v̄_k Xᵀ``/``Xᵀ v̄_k``, see ``product``).

A primitive whose partials have no short formula (``matmul``, ``getitem``) is registered
with ``partials=GENERIC`` and shows ``∂v_j/∂v_k``. Every primitive of tracegrad has a
registration (tests check it); a user's own primitive without one reads as a generic one
until it is registered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from tracegrad.core.primitive import Primitive
from tracegrad.traces.symbolic import Expr, const, leaf, number

__all__ = [
    "GENERIC",
    "Partial",
    "Template",
    "affine_rule",
    "display",
    "partial",
    "primal",
    "substitute",
    "template_of",
]

#: ``partials=GENERIC``: no formula; the tables show ``∂v_j/∂v_k``.
GENERIC = "generic"


class Partial(NamedTuple):
    """One local partial derivative as the tables use it: ``kind``, its LaTeX and the
    number it stands for (``1``, ``-1``, ``X`` or ``1 / X`` by kind; ``None`` when
    generic)."""

    kind: str
    latex: str
    value: Any


@dataclass(frozen=True)
class Template:
    """A primitive's display: see :func:`display`."""

    primal: str | None
    partials: Callable[..., Sequence[Any]] | str
    symbol: str | None = None
    affine: Callable[[list[int]], bool] | None = None
    product: bool = False


_TEMPLATES: dict[Primitive, Template] = {}


def display(
    prim: Primitive,
    primal: str | None = None,
    partials: Callable[..., Sequence[Any]] | str = GENERIC,
    *,
    symbol: str | None = None,
    affine: Callable[[list[int]], bool] | None = None,
    product: bool = False,
) -> Primitive:
    """Register how ``prim`` reads in trace tables.

    Args:
        prim: the primitive (``tnp.sin.primitive``, or the public function ``tnp.sin``).
        primal: the right-hand side of ``v_j = …`` with ``#0``, ``#1`` for the operands;
            ``None``: function notation, ``\\mathrm{name}(v_0, v_1)``.
        partials: ``f(*operands, out)`` returning one partial derivative per operand,
            written with :mod:`tracegrad.traces.symbolic` (``+ - * / **`` and its
            functions) so that it can be shown and evaluated; or :data:`GENERIC`.
        symbol: the operation's short name in graph pictures (default: its name).
        affine: for a primitive that is affine in its traced operands when the others
            are constants, ``affine(traced argnums)`` says whether this call is: such
            scalar steps can be folded into one (``v_{-2} + v_{-1} + 1.5 · v_0``).
        product: a matrix product ``A @ B`` (with ``partials=GENERIC``): its rows read
            ``Ȧ B`` and ``A Ḃ`` in tangent tables, ``v̄ Bᵀ`` and ``Aᵀ v̄`` in adjoint
            tables (kinds ``matr``/``matl``: the other operand right or left).

    Returns ``prim``; registering again replaces the earlier template.
    """
    prim = getattr(prim, "primitive", prim)  # a public function: its primitive
    if not isinstance(prim, Primitive):
        raise TypeError(f"display: expected a Primitive (e.g. tnp.sin.primitive), got {prim!r}")
    if partials is not GENERIC and not callable(partials):
        raise TypeError(f"display({prim.name}): partials must be a function or GENERIC")
    _TEMPLATES[prim] = Template(primal, partials, symbol, affine, product)
    return prim


#: the template of a primitive nobody registered: a user's own, whose formula the
#: library cannot know (tracegrad's own primitives all have one: tests check it)
_UNREGISTERED = Template(None, GENERIC)


def template_of(prim: Primitive) -> Template:
    """``prim``'s template: function notation and the generic ``∂v_j/∂v_k`` for a
    primitive without one (register a formula with :func:`display`)."""
    return _TEMPLATES.get(prim, _UNREGISTERED)


def affine_rule(prim: Primitive) -> Callable[[list[int]], bool] | None:
    """``prim``'s ``affine`` test (see :func:`display`); ``None`` when it has none."""
    found = _TEMPLATES.get(prim)
    return found.affine if found is not None else None


def substitute(template: str, ops: list[str]) -> str:
    """Fill ``#0``, ``#1``, … in a template (``?`` for an operand that is not there)."""

    def repl(m: re.Match) -> str:
        k = int(m.group(1))
        return ops[k] if k < len(ops) else "?"

    return re.sub(r"#(\d)", repl, template)


def primal(prim: Primitive, ops: list[str], kwargs: dict[str, Any] | None = None) -> str:
    """The right-hand side of ``v_j = …`` for ``prim`` on operands ``ops`` (LaTeX).
    A call with keyword arguments (``sum(v, axis=0)``) is shown in function notation,
    which names them."""
    template = template_of(prim).primal
    # None and False are the defaults of NumPy's keywords (axis=None, keepdims=False):
    # they would only be noise on the row
    kwargs = {k: v for k, v in (kwargs or {}).items() if v is not None and v is not False}
    if template is None or kwargs:
        extra = "".join(f", \\mathrm{{{k}}}={_escape(str(v))}" for k, v in kwargs.items())
        return f"\\mathrm{{{_escape(prim.name)}}}({', '.join(ops)}{extra})"
    return substitute(template, ops)


def _escape(s: str) -> str:
    return s.replace("_", "\\_").replace("{", "(").replace("}", ")")


def partial(
    prim: Primitive,
    argnum: int,
    operands: Sequence[tuple[str, Any, bool]],
    out: tuple[str, Any],
    precision: int = 3,
) -> Partial:
    """``∂out/∂operand argnum`` of one call of ``prim``.

    ``operands`` are ``(name, value, traced)`` per positional argument (a constant is
    shown by its value, rounded to ``precision`` digits, so that ``∂(1.5 · v_0)/∂v_0``
    reads ``1.5``), ``out`` is the step's ``(name, value)``.
    """
    template = template_of(prim)
    if template.product and len(operands) == 2:  # A @ B: the other operand, by side
        return Partial("matr" if argnum == 0 else "matl", operands[1 - argnum][0], None)
    if template.partials is GENERIC:
        name = operands[argnum][0] if argnum < len(operands) else "?"
        return Partial("mul", f"\\frac{{\\partial {out[0]}}}{{\\partial {name}}}", None)
    syms = [leaf(n, v) if traced else const(v, precision) for n, v, traced in operands]
    d = template.partials(*syms, leaf(*out))[argnum]
    if not isinstance(d, Expr):  # a plain number: ∂(a + b)/∂a = 1
        d = const(d, precision) if np.ndim(d) else number(d)
    return _classify(d)


def _classify(d: Expr) -> Partial:
    if d.kind == "num" and d.value == 1:
        return Partial("one", "1", 1.0)
    if d.kind == "num" and d.value == -1:
        return Partial("neg", "-1", -1.0)
    if d.kind == "/" and d.args[0].kind == "num" and d.args[0].value == 1:
        x = d.args[1]
        return Partial("div", x.latex(), d.value)
    tex = d.latex()
    # a sum or a negative term is one factor of the row's product: (1 - \tanh^2 v_0)
    if d.kind in ("+", "-", "neg") or tex.startswith("-"):
        tex = f"({tex})"
    return Partial("mul", tex, d.value)
