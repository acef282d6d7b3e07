"""Tables as text, Markdown and LaTeX, from one grid of LaTeX cells.

A :class:`Grid` is a list of rows whose cells are LaTeX snippets (formulas, or numbers
already rounded), arranged in column *groups* ("Forward primal trace", "Reverse adjoint
trace", …). Within a group, adjacent filled cells read ``lhs = rhs = value``, as on the
slides; groups sit side by side. Text and Markdown convert the LaTeX to Unicode.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from tracegrad.traces.notation import display_width, to_unicode

__all__ = ["RULE", "Grid", "Group"]

#: A horizontal rule between the sections of a table (inputs | steps | outputs).
RULE = None

_NUMBER = re.compile(r"^-?\d+(\.\d+)?(e-?\d+)?$")


@dataclass(frozen=True)
class Group:
    """A titled run of ``ncols`` columns; ``value_cols`` are aligned on the decimal point."""

    title: str
    ncols: int
    value_cols: tuple[int, ...] = ()


@dataclass
class Grid:
    groups: list[Group]
    rows: list[list[str | None] | None] = field(default_factory=list)

    @property
    def ncols(self) -> int:
        return sum(g.ncols for g in self.groups)

    def _spans(self) -> list[tuple[int, int]]:
        spans, start = [], 0
        for g in self.groups:
            spans.append((start, start + g.ncols))
            start += g.ncols
        return spans

    # --- text -------------------------------------------------------------------------

    def to_text(self) -> str:
        """Aligned plain text: ``=`` signs line up, numbers line up on the decimal point."""
        n = self.ncols
        cells = [None if r is RULE else [to_unicode(c) if c else "" for c in r] for r in self.rows]
        value_cols = set()
        for (start, _), g in zip(self._spans(), self.groups):
            value_cols.update(start + k for k in g.value_cols)
        for j in value_cols:  # decimal alignment
            nums = [r[j] for r in cells if r is not None and _NUMBER.match(r[j])]
            if not nums:
                continue
            left = max(len(s.split(".")[0]) for s in nums)
            right = max(len(s.split(".")[1]) + 1 if "." in s else 0 for s in nums)
            for r in cells:
                if r is not None and _NUMBER.match(r[j]):
                    whole, _, frac = r[j].partition(".")
                    r[j] = (whole.rjust(left) + ("." + frac if frac else "")).ljust(left + right)
        widths = [0] * n
        for r in cells:
            if r is not None:
                for j, c in enumerate(r):
                    widths[j] = max(widths[j], display_width(c))
        lines = []
        group_texts = []
        group_widths = []
        for (start, stop), g in zip(self._spans(), self.groups):
            w = sum(widths[start:stop]) + 3 * (stop - start - 1)
            title = to_unicode(g.title)
            w = max(w, display_width(title))
            group_widths.append(w)
            group_texts.append(_pad(title, w))
        lines.append(" │ ".join(group_texts).rstrip())
        rule = "─┼─".join("─" * w for w in group_widths)
        lines.append(rule)
        for r in cells:
            if r is None:
                lines.append(rule)
                continue
            parts = []
            for (start, stop), w in zip(self._spans(), group_widths):
                seg = ""
                for j in range(start, stop):
                    c = r[j]
                    sep = " = " if c and j > start and any(r[start:j]) else "   "
                    if j > start:
                        seg += sep
                    seg += _pad(c, widths[j])
                parts.append(_pad(seg, w))
            lines.append(" │ ".join(parts).rstrip())
        while lines and set(lines[-1]) <= {"─", "┼"}:
            lines.pop()
        return "\n".join(lines) + "\n"

    # --- markdown ---------------------------------------------------------------------

    def to_markdown(self) -> str:
        """A GitHub Markdown table: one column for each group's formula, one for its value."""
        header: list[str] = []
        cols: list[tuple[int, int, bool]] = []  # (start, stop, is_value)
        for (start, stop), g in zip(self._spans(), self.groups):
            vstart = start + min(g.value_cols) if g.value_cols else stop
            if vstart > start:
                cols.append((start, vstart, False))
                header.append(to_unicode(g.title))
            if vstart < stop:
                cols.append((vstart, stop, True))
                header.append("value" if vstart > start else to_unicode(g.title))
        out = ["| " + " | ".join(_md(h) for h in header) + " |"]
        out.append("|" + "|".join("---:" if v else "---" for _, _, v in cols) + "|")
        for r in self.rows:
            if r is RULE:
                continue
            cells = []
            for start, stop, _ in cols:
                parts = [to_unicode(c) for c in r[start:stop] if c]
                cells.append(_md(" = ".join(parts)))
            out.append("| " + " | ".join(cells) + " |")
        return "\n".join(out) + "\n"

    # --- latex ------------------------------------------------------------------------

    def to_latex(self, style: str = "plain", env: str = "tabular") -> str:
        """The table in LaTeX, ``\\hline`` (or booktabs' rules) between sections.

        Args:
            style: ``"plain"`` (vertical bars between the groups, ``\\hline``; needs only
                LaTeX itself) or ``"booktabs"`` (``\\toprule``/``\\midrule``/
                ``\\bottomrule`` and ``\\cmidrule`` under the group titles, no vertical
                rules; needs ``\\usepackage{booktabs}``).
            env: ``"tabular"`` (text mode, ``$…$`` cells) or ``"array"`` (math mode: what
                MathJax renders in Jupyter and on web pages; ``plain`` style only).
        """
        if style not in ("plain", "booktabs"):
            raise ValueError(f"style must be 'plain' or 'booktabs', not {style!r}")
        if env not in ("tabular", "array"):
            raise ValueError(f"env must be 'tabular' or 'array', not {env!r}")
        if env == "array" and style == "booktabs":
            raise ValueError("booktabs rules need a tabular (MathJax has no \\toprule)")
        math = env == "array"
        bar = "" if style == "booktabs" else "|"
        spec = bar.join("l" * g.ncols for g in self.groups)
        rule = "\\midrule" if style == "booktabs" else "\\hline"
        lines = [f"\\begin{{{env}}}{{{spec}}}"]
        if style == "booktabs":
            lines.append("\\toprule")
        heads = []
        for i, g in enumerate(self.groups):
            if math:  # MathJax has no \multicolumn: the title sits in the group's first cell
                heads.append(" & ".join([_math_title(g.title)] + [""] * (g.ncols - 1)))
            else:
                sep = bar if i < len(self.groups) - 1 else ""
                heads.append(f"\\multicolumn{{{g.ncols}}}{{c{sep}}}{{{_latex_title(g.title)}}}")
        lines.append(" & ".join(heads) + " \\\\")
        if style == "booktabs" and len(self.groups) > 1:  # a rule under each title
            lines.append("".join(f"\\cmidrule(lr){{{a + 1}-{b}}}" for a, b in self._spans()))
        else:
            lines.append(rule)
        for r in self.rows:
            if r is RULE:
                lines.append(rule)
                continue
            cells = []
            for start, stop in self._spans():
                for j in range(start, stop):
                    c = r[j]
                    if not c:
                        cells.append("")
                    elif j > start and any(r[start:j]):
                        cells.append(f"{{}}= {c}" if math else f"${{}}= {c}$")
                    else:
                        cells.append(c if math else f"${c}$")
            lines.append(" & ".join(cells) + " \\\\")
        while lines[-1] == rule:
            lines.pop()
        if style == "booktabs":
            lines.append("\\bottomrule")
        lines.append(f"\\end{{{env}}}")
        return "\n".join(lines) + "\n"

    # --- html and notebooks -----------------------------------------------------------

    def to_html(self) -> str:
        """An HTML ``<table>`` (Unicode formulas, no MathJax needed): a column group per
        title, a rule between sections, values aligned right."""
        spans = self._spans()
        edge = "border-left:1px solid #888;"
        out = [
            '<table class="tracegrad-trace" style="border-collapse:collapse;white-space:nowrap">',
            "<thead><tr>",
        ]
        for k, ((start, stop), g) in enumerate(zip(spans, self.groups)):
            style = "text-align:center;" + (edge if k else "")
            out.append(
                f'<th colspan="{stop - start}" style="{style}">{_html(to_unicode(g.title))}</th>'
            )
        out.append("</tr></thead>")
        out.append("<tbody>")
        ruled = False
        for r in self.rows:
            if r is RULE:
                ruled = True
                continue
            top = "border-top:1px solid #888;" if ruled else ""
            ruled = False
            tds = []
            for k, ((start, stop), g) in enumerate(zip(spans, self.groups)):
                for j in range(start, stop):
                    c = r[j]
                    text = to_unicode(c) if c else ""
                    if text and j > start and any(r[start:j]):
                        text = "= " + text
                    align = "right" if j - start in g.value_cols else "left"
                    style = f"{top}text-align:{align};"
                    if j == start and k:
                        style += edge
                    tds.append(f'<td style="{style}">{_html(text)}</td>')
            out.append("<tr>" + "".join(tds) + "</tr>")
        out.append("</tbody></table>")
        return "\n".join(out) + "\n"

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_latex_(self) -> str:
        return "$$\n" + self.to_latex(env="array") + "$$"

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        titles = " | ".join(to_unicode(g.title) for g in self.groups)
        return f"<Grid {titles}: {sum(r is not RULE for r in self.rows)} rows>"


def _pad(s: str, width: int) -> str:
    return s + " " * (width - display_width(s))


def _md(s: str) -> str:
    return s.replace("|", "\\|")


#: the math parts of a title (``\\dot{x}_{1} = 1``); the rest is words
_TITLE_MATH = re.compile(r"(\\[a-z]+\{[^}]*\}(_\{[^}]*\}|_\w)?( = -?[\d.]+)?)")


def _latex_title(title: str) -> str:
    """Titles mix words and math: words stay text, ``\\dot{x}`` parts go in math mode."""
    return _TITLE_MATH.sub(r"$\1$", title)


def _math_title(title: str) -> str:
    """A title inside math mode (an ``array``): words in ``\\text{…}``, math as it is."""
    out, at = [], 0
    for m in _TITLE_MATH.finditer(title):
        if m.start() > at:
            out.append(f"\\text{{{title[at : m.start()]}}}")
        out.append(m.group(0))
        at = m.end()
    if at < len(title):
        out.append(f"\\text{{{title[at:]}}}")
    return "".join(out)


def _html(s: str) -> str:
    return html.escape(s, quote=False)
