"""The primal, tangent and adjoint tables of a trace, as the lecture notes print them.

Each table is a list of :class:`Row` (LaTeX formulas and exact values) that prints as
text, Markdown or LaTeX through one :class:`~tracegrad.traces.render.Grid`. Values are
rounded for display only (``precision`` digits after the point, trailing zeros dropped,
as on the slides).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tracegrad.traces import registry
from tracegrad.traces.directions import AdjointSeed, Direction
from tracegrad.traces.graph import Graph
from tracegrad.traces.notation import format_constant, format_value, latex_name, to_unicode
from tracegrad.traces.render import RULE, Grid, Group
from tracegrad.traces.steps import TraceStep
from tracegrad.traces.sweeps import coefficients

if TYPE_CHECKING:
    from tracegrad.traces.evaluation import EvaluationTrace

__all__ = [
    "Row",
    "Table",
    "adjoint_table",
    "derivative_table",
    "formula",
    "primal_table",
    "side_by_side",
    "tangent_table",
]


@dataclass
class Row:
    """One line of a trace table: ``lhs = rhs = value`` (LaTeX formulas, exact value)."""

    lhs: str
    rhs: str
    value: Any
    step: str
    section: str  # "input", "step" or "output"


@dataclass(repr=False)
class Table:
    """A primal, tangent or adjoint trace: rows plus the ways to print them (text,
    Markdown, LaTeX, HTML; in Jupyter it shows as an HTML table)."""

    title: str
    rows: list[Row]
    precision: int = 3

    def grid(self) -> Grid:
        g = Grid([Group(self.title, 3, (2,))])
        last = None
        for r in self.rows:
            if last is not None and r.section != last:
                g.rows.append(RULE)
            g.rows.append([r.lhs, r.rhs, format_value(r.value, self.precision, latex=True)])
            last = r.section
        return g

    def __str__(self) -> str:
        return self.grid().to_text()

    def to_markdown(self) -> str:
        return self.grid().to_markdown()

    def to_latex(self, style: str = "plain", env: str = "tabular") -> str:
        """See :meth:`~tracegrad.traces.render.Grid.to_latex` (``style="booktabs"``,
        ``env="array"`` for MathJax)."""
        return self.grid().to_latex(style, env)

    def to_html(self) -> str:
        return self.grid().to_html()

    def _repr_html_(self) -> str:
        return self.grid()._repr_html_()

    def _repr_markdown_(self) -> str:
        return self.grid()._repr_markdown_()

    def _repr_latex_(self) -> str:
        return self.grid()._repr_latex_()

    def __repr__(self) -> str:
        return f"<Table {to_unicode(self.title)}: {len(self.rows)} rows>"

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


# --- formulas -----------------------------------------------------------------------


def formula(g: Graph, s: TraceStep, precision: int = 3) -> str:
    """The right-hand side of ``v_j = …`` in LaTeX."""
    if s.is_input:
        return latex_name(s.label or "")
    if len(s._tape) == 1:
        entry = g.tape.step(s._root)
        return registry.primal(entry.prim, _operand_latex(g, s._root, precision), entry.kwargs)
    return _inline(g, s._root, g.members[s._root], precision)


def _operand_latex(g: Graph, t: int, precision: int) -> list[str]:
    entry = g.tape.step(t)
    traced = dict(entry.parents)
    return [
        g.steps[g.pos[traced[j]]].name if j in traced else format_constant(a, precision)
        for j, a in enumerate(entry.args)
    ]


def _inline(g: Graph, t: int, group: set[int], precision: int) -> str:
    """A folded step's formula: its members written out, operands from outside by name."""
    entry = g.tape.step(t)
    traced = dict(entry.parents)
    ops = []
    for j, a in enumerate(entry.args):
        if j in traced and traced[j] in group:
            sub = _inline(g, traced[j], group, precision)
            if _needs_parens(entry.prim.name, j, g.tape.step(traced[j]).prim.name):
                sub = f"({sub})"
            ops.append(sub)
        elif j in traced:
            ops.append(g.steps[g.pos[traced[j]]].name)
        else:
            ops.append(format_constant(a, precision))
    return registry.primal(entry.prim, ops, entry.kwargs)


def _needs_parens(parent: str, argnum: int, child: str) -> bool:
    # only the affine primitives are ever inlined (see graph.is_affine)
    if child in ("add", "subtract"):
        return parent in ("multiply", "divide", "negative") or (
            parent == "subtract" and argnum == 1
        )
    if child == "negative":
        return argnum > 0 or parent not in ("add", "subtract")
    return False


def partials(g: Graph, s: TraceStep, precision: int) -> list[tuple[int, str, str]]:
    """``(operand position, kind, latex)`` per traced operand of ``s``."""
    if len(s._tape) == 1:
        entry = g.tape.step(s._root)
        traced = dict(entry.parents)
        names = _operand_latex(g, s._root, precision)
        operands = [(nm, a, j in traced) for j, (nm, a) in enumerate(zip(names, entry.args))]
        out = (s.name, entry.out)
        return [
            (g.pos[p], *registry.partial(entry.prim, a, operands, out, precision)[:2])
            for a, p in entry.parents
        ]
    res = []
    for (_, pos), c in zip(s._refs, coefficients(g, s)):
        if c == 1:
            res.append((pos, "one", "1"))
        elif c == -1:
            res.append((pos, "neg", "-1"))
        else:
            res.append((pos, "mul", format_constant(c, precision)))
    return res


# --- tables -------------------------------------------------------------------------


def _output_rows(
    tr: EvaluationTrace, rhs_of: Callable[[int | None, Any], tuple[str, str, Any]]
) -> list[Row]:
    rows = []
    for name, p, v in zip(tr.output_names, tr._out_positions(), tr.output_values):
        lhs, rhs, val = rhs_of(p, v)
        rows.append(Row(lhs.replace("#", latex_name(name)), rhs, val, "out:" + name, "output"))
    return rows


def primal_table(tr: EvaluationTrace, precision: int = 3) -> Table:
    """See :meth:`EvaluationTrace.primal_table`."""
    rows = [
        Row(s.name, tr.formula(s, precision), s.value, s.name, "input" if s.is_input else "step")
        for s in tr.steps
    ]
    rows += _output_rows(
        tr,
        lambda p, v: (
            "#",
            tr.steps[p].name if p is not None else format_constant(v, precision),
            v,
        ),
    )
    return Table("Forward primal trace", rows, precision)


def tangent_table(tr: EvaluationTrace, direction: Direction, precision: int = 3) -> Table:
    """See :meth:`EvaluationTrace.tangent_table`."""
    tans = tr.tangents(direction)
    rows = []
    for s in tr.steps:
        if s.is_input:
            rhs = _dot_name(s.label or "")
        else:
            terms = [
                _term(kind, _dot(tr.steps[pos].name), tex)
                for pos, kind, tex in partials(tr.graph, s, precision)
            ]
            rhs = _join_terms(terms)
        rows.append(Row(_dot(s.name), rhs, tans[s.name], s.name, "input" if s.is_input else "step"))
    rows += _output_rows(
        tr,
        lambda p, v: (
            "\\dot{#}",
            _dot(tr.steps[p].name) if p is not None else "0",
            tans[tr.steps[p].name] if p is not None else 0.0,
        ),
    )
    title = "Forward tangent trace" + direction_title(tr.input_names, direction, precision)
    return Table(title, rows, precision)


def adjoint_table(tr: EvaluationTrace, seed: AdjointSeed = 1.0, precision: int = 3) -> Table:
    """See :meth:`EvaluationTrace.adjoint_table`."""
    adj, events = tr._sweep(seed)
    parts: dict[int, list[tuple[int, str, str]]] = {}
    by_source: dict[int, list[Row]] = {}
    for e in events:
        if e.source not in parts:
            parts[e.source] = partials(tr.graph, tr.steps[e.source], precision)
        # A step's contributions come in the order of its partials (both follow
        # the step's traced operands), so the k-th event of a step is its k-th partial.
        kind, tex = parts[e.source][len(by_source.get(e.source, []))][1:]
        tname = _bar(tr.steps[e.target].name)
        rhs = _term(kind, _bar(tr.steps[e.source].name), tex, adjoint=True)
        if e.accumulated:
            rhs = f"{tname} + {rhs}"
        row = Row(tname, rhs, e.value, tr.steps[e.source].name, "step")
        by_source.setdefault(e.source, []).append(row)
    rows = [
        Row(_bar_name(s.label or ""), _bar(s.name), a if a is not None else 0.0, s.name, "input")
        for s, a in zip(tr.inputs, adj)
    ]
    for pos in range(len(tr.steps)):
        rows += list(reversed(by_source.get(pos, [])))
    seeds = dict(tr._adjoint_seeds(seed))
    for name, p in zip(tr.output_names, tr._out_positions()):
        if p is not None and p in seeds:
            rows.append(
                Row(_bar(tr.steps[p].name), _bar_name(name), seeds[p], "out:" + name, "output")
            )
    return Table("Reverse adjoint trace", rows, precision)


def side_by_side(tr: EvaluationTrace, seed: AdjointSeed = 1.0, precision: int = 3) -> Grid:
    """See :meth:`EvaluationTrace.side_by_side`."""
    primal = primal_table(tr, precision)
    adjoint = adjoint_table(tr, seed, precision)
    by_step: dict[str, list[Row]] = {}
    for r in adjoint.rows:
        by_step.setdefault(r.step, []).append(r)
    grid = Grid([Group(primal.title, 3, (2,)), Group(adjoint.title, 3, (2,))])
    last = None
    for r in primal.rows:
        if last is not None and r.section != last:
            grid.rows.append(RULE)
        last = r.section
        mine = by_step.get(r.step, [])
        left = [r.lhs, r.rhs, format_value(r.value, precision, latex=True)]
        if not mine:
            grid.rows.append(left + [None, None, None])
        for k, a in enumerate(mine):
            right = [a.lhs, a.rhs, format_value(a.value, precision, latex=True)]
            grid.rows.append((left if k == 0 else [None] * 3) + right)
    return grid


def derivative_table(
    tr: EvaluationTrace,
    directions: Sequence[Direction] | None,
    adjoint_seed: AdjointSeed | None,
    precision: int,
) -> Grid:
    """See :meth:`EvaluationTrace.derivative_table`."""
    if directions is None:
        directions = list(tr.input_names)
    columns = [tr.tangents(d) for d in directions]
    groups = [Group("Operation", 2), Group("Value", 1, (0,))]
    groups += [
        Group(direction_title(tr.input_names, d, precision, bare=True), 1, (0,)) for d in directions
    ]
    adj = tr.adjoints(adjoint_seed) if adjoint_seed is not None else None
    if adj is not None:
        groups.append(Group("Reverse", 1, (0,)))
    grid = Grid(groups)
    for s in tr.steps:
        row: list[str | None] = [
            s.name,
            tr.formula(s, precision),
            format_value(s.value, precision, latex=True),
        ]
        row += [format_value(c[s.name], precision, latex=True) for c in columns]
        if adj is not None:
            row.append(format_value(adj.get(s.name, 0.0), precision, latex=True))
        grid.rows.append(row)
    return grid


# --- notation -----------------------------------------------------------------------


def _bar(name: str) -> str:
    return "\\bar{v}" + name[1:]


def _dot(name: str) -> str:
    return "\\dot{v}" + name[1:]


def _accent_name(accent: str, label: str) -> str:
    tex = latex_name(label)
    base, sep, sub = tex.partition("_")
    return f"\\{accent}{{{base}}}{sep}{sub}"


def _bar_name(label: str) -> str:
    return _accent_name("bar", label)


def _dot_name(label: str) -> str:
    return _accent_name("dot", label)


def _term(kind: str, d: str, tex: str, adjoint: bool = False) -> str:
    """The derivative ``d`` (``v̄_j`` or ``v̇_k``) times a partial of that kind; for a
    matrix product's, the other operand ``tex`` on its side (transposed in an adjoint:
    ``v̄_j Bᵀ``, ``Aᵀ v̄_j``; as it is in a tangent: ``Ȧ B``, ``A Ḃ``)."""
    if kind in ("matr", "matl"):
        other = f"{tex}^\\top" if adjoint else tex
        return f"{d} \\, {other}" if kind == "matr" else f"{other} \\, {d}"
    if kind == "one":
        return d
    if kind == "neg":
        return f"{d} \\cdot (-1)"
    if kind == "div":
        simple = all(c.isalnum() or c in "_{}-." for c in tex)
        return f"{d} / {tex}" if simple else f"{d} / ({tex})"
    return f"{d} \\cdot {tex}"


def _join_terms(terms: list[str]) -> str:
    out = ""
    for t in terms:
        if t.endswith(" \\cdot (-1)"):
            base = t[: -len(" \\cdot (-1)")]
            out = f"{out} - {base}" if out else f"-{base}"
        else:
            out = f"{out} + {t}" if out else t
    return out


def direction_title(
    input_names: list[str], direction: Direction, precision: int, bare: bool = False
) -> str:
    """``ẋ_1 = 1, ẋ_2 = 0`` for a tangent direction (in parentheses unless ``bare``)."""
    if isinstance(direction, str):
        parts = [f"{_dot_name(direction)} = 1"]
    elif isinstance(direction, Mapping):
        parts = [
            f"{_dot_name(k)} = {format_value(v, precision, latex=True)}"
            for k, v in direction.items()
        ]
    else:
        vals = [direction] if np.ndim(direction) == 0 else list(direction)  # type: ignore[arg-type]
        parts = [
            f"{_dot_name(k)} = {format_value(v, precision, latex=True)}"
            for k, v in zip(input_names, vals)
        ]
    text = ", ".join(parts)
    return text if bare else f" ({text})"
