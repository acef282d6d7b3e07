"""The recorded graph as Graphviz DOT, and rendering it through the ``dot`` program."""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from tracegrad.files import write_atomic
from tracegrad.traces.notation import format_value, to_unicode
from tracegrad.traces.registry import template_of

if TYPE_CHECKING:
    from tracegrad.traces.evaluation import EvaluationTrace
    from tracegrad.traces.steps import TraceStep

__all__ = [
    "DOT_TIMEOUT",
    "GraphvizError",
    "GraphvizMissing",
    "TraceGraph",
    "check_path",
    "render",
    "run_dot",
    "to_dot",
]

#: seconds ``dot`` may take before :func:`render` gives up (a hung or pathological layout)
DOT_TIMEOUT = 60.0

INSTALL_GRAPHVIZ = "apt install graphviz, brew install graphviz, conda install graphviz"

#: what a notebook shows in place of the picture when ``dot`` is not installed
MISSING_NOTE = (
    "Graphviz's 'dot' program is not installed, so this is the graph's DOT source; "
    f"install Graphviz ({INSTALL_GRAPHVIZ}) to see it drawn."
)


class GraphvizError(RuntimeError):
    """Graphviz's ``dot`` program could not render the graph: it failed, timed out or
    could not be run. The message is one line a user can act on."""


class GraphvizMissing(GraphvizError):
    """SVG/PNG output needs Graphviz's ``dot`` program, which is not on the PATH."""


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(tr: EvaluationTrace, seed: Any = 1.0, precision: int = 3) -> str:
    """Inputs (ellipses), operations (boxes: ``v_j = formula``, value, adjoint) and
    outputs (double octagons), edges from operands to the steps that read them."""
    adj = tr.adjoints(seed) if seed is not None else {}
    lines = [
        "digraph trace {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555"];',
    ]
    for s in tr.steps:
        name = to_unicode(s.name)
        parts = [f"{name} = {to_unicode(tr.formula(s, precision))}"]
        parts.append(f"value {to_unicode(format_value(s.value, precision, latex=True))}")
        if s.name in adj:
            parts.append(f"adjoint {to_unicode(format_value(adj[s.name], precision, True))}")
        if s.is_input:
            style = 'shape=ellipse, style=filled, fillcolor="#dbeafe"'
        else:
            style = 'shape=box, style="rounded,filled", fillcolor="#f3f4f6"'
            sym = _symbol(tr, s)
            parts.insert(0, f"[{sym}]")
        lines.append(f"  {_node(s.index)} [label={_q(chr(10).join(parts))}, {style}];")
    for s in tr.operations:
        for _, pos in s._refs:
            lines.append(f"  {_node(tr.steps[pos].index)} -> {_node(s.index)};")
    for k, (name, p) in enumerate(zip(tr.output_names, tr._out_positions())):
        value = format_value(tr.output_values[k], precision, latex=True)
        lines.append(
            f"  out{k} [label={_q(name + chr(10) + to_unicode(value))}, "
            'shape=doubleoctagon, style=filled, fillcolor="#dcfce7"];'
        )
        if p is not None:
            lines.append(f"  {_node(tr.steps[p].index)} -> out{k};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _symbol(tr: EvaluationTrace, s: TraceStep) -> str:
    """The operation's short name in the picture (``σ``, ``×``; ``+`` for a folded step)."""
    if s.op == "affine":
        return "+"
    return template_of(tr.graph.tape.step(s._root).prim).symbol or s.op


def _node(index: int) -> str:
    return f"v_m{-index}" if index < 0 else f"v_{index}"


_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}


def check_path(path: str) -> str | None:
    """Check, before any work, that a graph can be written to ``path``: returns the
    ``dot`` executable when the extension needs rendering, ``None`` for DOT text.

    Raises ``ValueError`` for an extension it cannot write and :class:`GraphvizMissing`
    when rendering is needed and ``dot`` is not installed.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext in (".dot", ".gv"):
        return None
    if ext not in _FORMATS:
        raise ValueError(
            f"cannot write a graph as {ext or 'a file without extension'}: "
            "use .dot, .gv, .svg, .png or .pdf"
        )
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(
            f"writing {ext} needs Graphviz's 'dot' program, which is not installed; install "
            f"Graphviz ({INSTALL_GRAPHVIZ}) or write a .dot file instead"
        )
    return exe


def _dot_executable() -> str:
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(
            "drawing the graph needs Graphviz's 'dot' program, which is not installed; "
            f"install Graphviz ({INSTALL_GRAPHVIZ}) or write a .dot file instead"
        )
    return exe


def run_dot(dot_source: str, fmt: str, what: str = "the graph") -> bytes:
    """``dot_source`` rendered by Graphviz's ``dot`` as ``fmt`` (``svg``, ``png``, ``pdf``).
    Raises :class:`GraphvizMissing` when ``dot`` is not installed and
    :class:`GraphvizError` when it fails or takes longer than :data:`DOT_TIMEOUT` s."""
    exe = _dot_executable()
    try:
        proc = subprocess.run(
            [exe, f"-T{fmt}"],
            input=dot_source.encode(),
            capture_output=True,
            timeout=DOT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GraphvizError(
            f"Graphviz's dot took longer than {DOT_TIMEOUT:g} s to render {what}; "
            "write a .dot file instead"
        ) from None
    except OSError as e:  # found on the PATH but cannot be run (permissions, bad binary)
        raise GraphvizError(f"cannot run Graphviz's dot ({exe}): {e.strerror or e}") from None
    if proc.returncode != 0:
        # dot's own message, first line: usually the syntax error or the missing plugin
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise GraphvizError(
            f"Graphviz's dot failed (exit status {proc.returncode})"
            + (f": {detail[0]}" if detail else "")
        )
    return proc.stdout


def render(dot_source: str, path: str) -> str:
    """Write DOT to ``path`` (``.dot``/``.gv``), or render it with ``dot`` for ``.svg``,
    ``.png`` and ``.pdf``. Raises ``ValueError`` for another extension,
    :class:`GraphvizMissing` when ``dot`` is not installed and :class:`GraphvizError`
    when it fails or takes longer than :data:`DOT_TIMEOUT` seconds."""
    if check_path(path) is None:
        write_atomic(path, dot_source.encode())
        return path
    fmt = _FORMATS[os.path.splitext(path)[1].lower()]
    write_atomic(path, run_dot(dot_source, fmt, path))
    return path


class TraceGraph:
    """A trace's graph for notebooks: Jupyter shows it as SVG drawn by Graphviz's ``dot``;
    where ``dot`` is not installed, as a note saying how to get it and the DOT source.

    ``source`` is the DOT text; :meth:`save` writes ``.dot``/``.svg``/``.png``/``.pdf``.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._svg: str | None = None

    def svg(self) -> str:
        """The picture as SVG text (raises :class:`GraphvizMissing` without ``dot``)."""
        if self._svg is None:
            self._svg = run_dot(self.source, "svg").decode("utf-8")
        return self._svg

    def save(self, path: str) -> str:
        """Write the graph to ``path`` (see :func:`render`); returns the path."""
        return render(self.source, path)

    def _repr_svg_(self) -> str | None:
        try:
            return self.svg()
        except GraphvizMissing:
            return None  # _repr_html_ shows the note and the source instead

    def _repr_html_(self) -> str | None:
        if shutil.which("dot") is not None:
            return None  # the SVG is the picture
        return f"<p>{html.escape(MISSING_NOTE)}</p>\n<pre>{html.escape(self.source)}</pre>"

    def __repr__(self) -> str:
        if shutil.which("dot") is None:
            return f"{MISSING_NOTE}\n{self.source}"
        nodes = sum(1 for line in self.source.splitlines() if "[label=" in line)
        return f"<TraceGraph: {nodes} nodes; .source holds the DOT, .svg() the picture>"

    def __str__(self) -> str:
        return self.source
