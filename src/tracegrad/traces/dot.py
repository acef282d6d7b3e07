"""The recorded graph as Graphviz DOT, and rendering it through the ``dot`` program."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from tracegrad.files import write_atomic
from tracegrad.traces import rules
from tracegrad.traces.notation import format_value, to_unicode

if TYPE_CHECKING:
    from tracegrad.traces.wengert import Trace

__all__ = ["GraphvizMissing", "render", "to_dot"]


class GraphvizMissing(RuntimeError):
    """SVG/PNG output needs Graphviz's ``dot`` program, which is not on the PATH."""


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(tr: Trace, seed: Any = 1.0, precision: int = 3) -> str:
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
            sym = rules.SYMBOLS.get(s.op, s.op)
            parts.insert(0, f"[{sym}]")
        lines.append(f"  {_node(s.index)} [label={_q(chr(10).join(parts))}, {style}];")
    for s in tr.operations:
        for _, pos in s._refs:
            lines.append(f"  {_node(tr.steps[pos].index)} -> {_node(s.index)};")
    for k, (name, p) in enumerate(zip(tr.output_names, tr._out_positions())):
        value = format_value(tr._out_values[k], precision, latex=True)
        lines.append(
            f"  out{k} [label={_q(name + chr(10) + to_unicode(value))}, "
            'shape=doubleoctagon, style=filled, fillcolor="#dcfce7"];'
        )
        if p is not None:
            lines.append(f"  {_node(tr.steps[p].index)} -> out{k};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node(index: int) -> str:
    return f"v_m{-index}" if index < 0 else f"v_{index}"


_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}


def render(dot_source: str, path: str) -> str:
    """Write DOT to ``path`` (``.dot``/``.gv``), or render it with ``dot`` for ``.svg``,
    ``.png`` and ``.pdf``. Raises :class:`GraphvizMissing` when ``dot`` is not installed
    and ``ValueError`` for another extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext in (".dot", ".gv"):
        write_atomic(path, dot_source.encode())
        return path
    if ext not in _FORMATS:
        raise ValueError(
            f"cannot write a graph as {ext or 'a file without extension'}: "
            "use .dot, .gv, .svg, .png or .pdf"
        )
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(
            f"writing {ext} needs Graphviz's 'dot' program, which is not installed; install "
            "Graphviz (apt install graphviz, brew install graphviz, conda install graphviz) "
            "or write a .dot file instead"
        )
    proc = subprocess.run(
        [exe, f"-T{_FORMATS[ext]}"],
        input=dot_source.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
    write_atomic(path, proc.stdout)
    return path
