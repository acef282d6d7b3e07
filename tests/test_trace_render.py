"""Output forms of a trace: text (snapshot), Markdown, LaTeX, DOT, and rendering."""

import os
import re
import shutil
import unicodedata
from pathlib import Path

import pytest

import trace_seeds as S
from tracegrad.traces import dot as dotmod
from tracegrad.traces.notation import display_width, format_number, to_unicode

GOLDEN = Path(__file__).parent / "golden" / "traces"
UPDATE = os.environ.get("TRACEGRAD_UPDATE_GOLDEN") == "1"


def snapshot(name: str, text: str, golden: Path = GOLDEN, update: bool = UPDATE) -> None:
    """Compare with tests/golden/traces/NAME; TRACEGRAD_UPDATE_GOLDEN=1 (re)writes it.

    A normal run never writes: a missing golden file fails, so that a lost or renamed
    file cannot turn into a test that passes by comparing the output with itself."""
    path = golden / name
    if update:
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no golden file {path}; create it with TRACEGRAD_UPDATE_GOLDEN=1")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed (see {path})"


def test_snapshot_fails_without_golden_file_and_writes_nothing(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="no golden file"):
        snapshot("missing.txt", "text", golden=tmp_path, update=False)
    assert not (tmp_path / "missing.txt").exists()
    snapshot("missing.txt", "text", golden=tmp_path, update=True)
    snapshot("missing.txt", "text", golden=tmp_path, update=False)
    with pytest.raises(AssertionError, match="changed"):
        snapshot("missing.txt", "other", golden=tmp_path, update=False)


CASES = {
    "seed002": lambda: (S.seed002(), 3),
    "seed004": lambda: (S.seed004(), 3),
    "seed000": lambda: (S.seed000(), 2),
    "seed001": lambda: (S.seed001(), 3),
    "seed003": lambda: (S.seed003(), 3),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_text_snapshots(name):
    t, p = CASES[name]()
    parts = [t.to_text(precision=p), str(t.tangent_table(t.input_names[0], precision=p))]
    if len(t.inputs) > 1:
        parts.append(t.derivative_table(precision=p).to_text())
    snapshot(f"{name}.txt", "\n".join(parts))


@pytest.mark.parametrize("name", sorted(CASES))
def test_markdown_and_latex_snapshots(name):
    t, p = CASES[name]()
    snapshot(f"{name}.md", t.to_markdown(precision=p))
    snapshot(f"{name}.tex", t.to_latex(precision=p))


def test_text_is_aligned():
    lines = str(S.seed000()).splitlines()
    bars = {display_width(line.split("│")[0]) for line in lines if "│" in line}
    assert len(bars) == 1  # the divider is in one column on every line
    seps = {display_width(line.split("┼")[0]) for line in lines if "┼" in line}
    assert seps == bars


def test_seed000_text_reads_like_the_slide():
    text = S.seed000().to_text(precision=2)
    assert "v₁  = v₋₂ + v₋₁ + 1.5 · v₀" in text
    assert "v̄₀  = v̄₀ + v̄₁ · 1.5" in text
    assert "w̄₀  = v̄₋₂" in text and "0.13" in text
    assert "L   = v₉" in text


def test_seed002_tangent_trace_text():
    text = unicodedata.normalize("NFC", str(S.seed002().tangent_table("x1")))
    assert "v̇₂  = v̇₋₁ · v₀ + v̇₀ · v₋₁ = 5" in text
    assert "v̇₅  = v̇₄ - v̇₃" in text
    assert unicodedata.normalize("NFC", "y\u0307   = v\u0307₅") in text


def test_markdown_table_shape():
    md = S.seed002().to_markdown()
    lines = md.strip().splitlines()
    assert lines[0].startswith("| Forward primal trace |")
    assert all(line.count("|") - line.count("\\|") == 5 for line in lines)


def _balanced(tex: str) -> bool:
    depth = 0
    for i, c in enumerate(tex):
        if c == "{" and (i == 0 or tex[i - 1] != "\\"):
            depth += 1
        elif c == "}" and tex[i - 1] != "\\":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def test_latex_is_a_wellformed_tabular():
    tex = S.seed000().to_latex(precision=2)
    assert tex.startswith("\\begin{tabular}{lll|lll}")
    assert tex.rstrip().endswith("\\end{tabular}")
    assert _balanced(tex)
    assert "\\bar{v}_0 + \\bar{v}_1 \\cdot 1.5" in tex
    for line in tex.splitlines()[1:-1]:
        if line.endswith("\\\\") and "multicolumn" not in line:
            assert line.count("&") == 5
            assert line.count("$") % 2 == 0
    tan = S.seed002().tangent_table("x1").to_latex()
    assert "\\dot{v}_{-1}" in tan and _balanced(tan)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles(tmp_path):
    import subprocess

    body = S.seed000().to_latex(precision=2)
    doc = "\\documentclass{article}\\begin{document}\n" + body + "\\end{document}\n"
    (tmp_path / "t.tex").write_text(doc)
    r = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout[-2000:]


def test_dot_output():
    d = S.seed004().to_dot()
    assert d.startswith("digraph trace {") and d.rstrip().endswith("}")
    assert "v_m3 -> v_1;" in d  # x feeds v = w x
    assert "adjoint 56" in d and "value 49" in d
    assert "shape=doubleoctagon" in d
    assert "adjoint" not in S.seed004().to_dot(seed=None)


def test_render_dot_file_atomically(tmp_path):
    out = tmp_path / "g.dot"
    S.seed002().render(str(out))
    assert out.read_text().startswith("digraph")
    assert [p.name for p in tmp_path.iterdir()] == ["g.dot"]


def test_render_svg_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(dotmod.shutil, "which", lambda name: None)
    with pytest.raises(dotmod.GraphvizMissing, match="Graphviz"):
        S.seed002().render(str(tmp_path / "g.svg"))
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match=".txt"):
        S.seed002().render(str(tmp_path / "g.txt"))


def _fake_dot(tmp_path, script):
    exe = tmp_path / "dot"
    exe.write_text("#!/bin/sh\n" + script + "\n")
    exe.chmod(0o755)
    return str(exe)


def test_render_failing_or_hanging_graphviz_is_a_graphviz_error(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    exe = _fake_dot(tmp_path, "cat >/dev/null; echo 'Error: bad layout' >&2; exit 3")
    monkeypatch.setattr(dotmod.shutil, "which", lambda name: exe)
    with pytest.raises(dotmod.GraphvizError, match=r"exit status 3\): Error: bad layout"):
        S.seed002().render(str(out / "g.svg"))
    # a dot that never finishes is stopped after DOT_TIMEOUT seconds
    exe = _fake_dot(tmp_path, "exec sleep 30")
    monkeypatch.setattr(dotmod, "DOT_TIMEOUT", 0.3)
    with pytest.raises(dotmod.GraphvizError, match="took longer than 0.3 s"):
        S.seed002().render(str(out / "g.png"))
    assert not list(out.iterdir())
    assert issubclass(dotmod.GraphvizMissing, dotmod.GraphvizError)


def test_check_path_before_any_work(monkeypatch):
    assert dotmod.check_path("g.dot") is None and dotmod.check_path("g.GV") is None
    with pytest.raises(ValueError, match="cannot write a graph as .xyz"):
        dotmod.check_path("g.xyz")
    monkeypatch.setattr(dotmod.shutil, "which", lambda name: None)
    with pytest.raises(dotmod.GraphvizMissing):
        dotmod.check_path("g.pdf")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
def test_render_svg_with_graphviz(tmp_path):
    out = tmp_path / "g.svg"
    S.seed002().render(str(out))
    assert "<svg" in out.read_text()


def test_number_formatting():
    assert format_number(0.10292631, 2) == "0.1"
    assert format_number(11.652071455223084, 3) == "11.652"
    assert format_number(49.0, 3) == "49"
    assert format_number(-1e-20, 3) == "-1e-20"
    assert format_number(-0.0, 3) == "0"
    assert re.fullmatch(r"1\.2+e9", format_number(1.2222e9, 2))


def test_unicode_conversion():
    assert (
        to_unicode("\\bar{v}_{-1} = \\bar{v}_{-1} + \\bar{v}_1 / v_{-1}") == "v̄₋₁ = v̄₋₁ + v̄₁ / v₋₁"
    )
    assert to_unicode("\\sigma(v_1) \\cdot (1 - \\sigma(v_1))") == "σ(v₁) · (1 - σ(v₁))"
    assert to_unicode("\\frac{\\partial v_3}{\\partial v_1}") == "∂v₃/∂v₁"
    assert display_width("v̄₋₁") == 3
