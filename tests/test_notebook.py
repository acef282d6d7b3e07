"""Notebook use: rich reprs of traces, tables and graphs, plots that return figures and
leave the backend alone, the notebook progress bar, and the executed example notebook."""

import json
import shutil
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import trace_seeds as S
import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad.traces import dot as dotmod

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOK = EXAMPLES / "lecture_notes.ipynb"


def test_trace_and_table_show_as_html_markdown_and_mathjax_latex():
    t = S.seed002()
    html = t._repr_html_()
    assert html.startswith("<table") and html.rstrip().endswith("</table>")
    assert "Forward primal trace" in html and "Reverse adjoint trace" in html
    assert "<td" in html and "= ln v₋₁" in html and "= v̄₀ + v̄₂ · v₋₁" in html
    assert html.count("<tr>") == len([r for r in t.side_by_side().rows if r is not None]) + 1
    assert t._repr_markdown_() == t.to_markdown()
    tex = t._repr_latex_()
    # MathJax renders math mode: an array between $$, no tabular, \multicolumn or inner $
    assert tex.startswith("$$\n\\begin{array}{lll|lll}") and tex.endswith("\\end{array}\n$$")
    inner = tex[2:-2]
    assert "tabular" not in tex and "multicolumn" not in tex and "$" not in inner
    assert "\\text{Forward primal trace}" in inner and "{}= \\ln v_{-1}" in inner
    table = t.tangent_table("x1")
    assert "Forward tangent trace (x\u0307₁ = 1)" in table._repr_html_()
    assert "\\text{Forward tangent trace (}\\dot{x}_{1} = 1\\text{)}" in table._repr_latex_()
    assert table._repr_markdown_() == table.to_markdown()
    assert len(repr(table)) < 80 and len(repr(t.side_by_side())) < 80
    assert repr(t).startswith("<EvaluationTrace 2 inputs")


def test_html_escapes_and_marks_sections():
    t = tg.trace(lambda a, b: tnp.where(a < b, a, b) * 2.0, 1.0, 2.0)
    html = t.to_html()
    assert "border-top" in html  # a rule between inputs, steps and outputs
    assert "<" not in html.replace("<table", "").replace("</table", "").replace("<t", "").replace(
        "</t", ""
    ).replace("<progress", "")  # cell text is escaped


def test_latex_booktabs_and_array_styles():
    t = S.seed000()
    tex = t.to_latex(precision=2, style="booktabs")
    lines = tex.splitlines()
    assert lines[0] == "\\begin{tabular}{llllll}" and lines[1] == "\\toprule"
    assert lines[3] == "\\cmidrule(lr){1-3}\\cmidrule(lr){4-6}"
    assert "\\hline" not in tex and "\\midrule" in tex and lines[-2] == "\\bottomrule"
    single = t.primal_table(2).to_latex(style="booktabs").splitlines()
    assert single[1] == "\\toprule" and single[3] == "\\midrule"
    with pytest.raises(ValueError, match="style"):
        t.to_latex(style="fancy")
    with pytest.raises(ValueError, match="booktabs"):
        t.to_latex(style="booktabs", env="array")
    assert t.to_latex() == t.side_by_side(precision=3).to_latex()  # the default is as before


def test_graph_object_without_graphviz_says_how_to_get_it_and_shows_the_source(monkeypatch):
    monkeypatch.setattr(dotmod.shutil, "which", lambda name: None)
    g = S.seed002().draw()
    assert g.source == S.seed002().to_dot() and str(g) == g.source
    assert g._repr_svg_() is None
    html = g._repr_html_()
    assert "not installed" in html and "apt install graphviz" in html and "digraph trace" in html
    assert repr(g).startswith("Graphviz's 'dot' program is not installed") and "digraph" in repr(g)
    with pytest.raises(dotmod.GraphvizMissing, match="apt install graphviz"):
        g.svg()


def test_graph_object_is_svg_through_dot(tmp_path, monkeypatch):
    exe = tmp_path / "dot"
    exe.write_text("#!/bin/sh\ncat >/dev/null; echo '<svg>drawn</svg>'\n")
    exe.chmod(0o755)
    monkeypatch.setattr(dotmod.shutil, "which", lambda name: str(exe))
    g = S.seed002().draw(seed=None)
    assert g._repr_svg_().strip() == "<svg>drawn</svg>"
    assert g._repr_html_() is None  # the picture, not the note
    assert "adjoint" not in g.source
    out = g.save(str(tmp_path / "g.svg"))
    assert Path(out).read_text().strip() == "<svg>drawn</svg>"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
def test_graph_object_with_graphviz():
    svg = S.seed004().draw()._repr_svg_()
    assert "<svg" in svg and "ReLU" in svg


def test_graph_labels_tell_negation_from_subtraction():
    src = tg.trace(lambda a, b: -a + (a - b), 1.0, 2.0).to_dot()
    assert "[neg]\\nv₁ = -v₋₁" in src and "[−]\\nv₂ = v₋₁ - v₀" in src


PLOTS = r"""
import sys
import matplotlib
matplotlib.use("svg")  # the user's choice, which tracegrad must keep
import numpy as np
import tracegrad as tg
from matplotlib.figure import Figure

X = np.random.default_rng(0).normal(size=(30, 2))
y = (X[:, 0] > 0).astype(int)
model = tg.nn.MLP([2, 4, 2], ["tanh", "identity"], rng=0)
model, history = tg.fit(model, "cross_entropy", X, y, max_epochs=3, metrics=["accuracy"])
figs = [
    tg.plots.loss_curve(history),
    tg.plots.decision_regions(
        lambda P: np.argmax(model(P), 1), X, y, sys.argv[1], class_names=["a", "b"]
    ),
]
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert all(isinstance(f, Figure) for f in figs)
assert figs[0]._repr_png_()[:4] == b"\x89PNG"
assert "matplotlib.pyplot" not in sys.modules  # no pyplot state: nothing left open
import matplotlib.pyplot as plt
fig, axes = plt.subplots(1, 2)
assert tg.plots.loss_curve(history, ax=axes) is fig
assert plt.get_fignums() == [1]
print("ok")
"""


def test_plots_return_figures_and_leave_the_backend_alone(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "regions.png"
    proc = subprocess.run(
        [sys.executable, "-c", PLOTS, str(out)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_plots_reject_the_wrong_number_of_axes():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    model = tg.nn.MLP([2, 2], ["identity"], rng=0)
    _, history = tg.fit(model, "cross_entropy", X, y, max_epochs=1, metrics=["accuracy"])
    ax = Figure().subplots()
    with pytest.raises(ValueError, match="expected 2 Axes, got 1"):
        tg.plots.loss_curve(history, ax=ax)


class _Handle:
    def __init__(self, log):
        self.log = log

    def update(self, bundle, raw=False):
        self.log.append(bundle)


def _fake_jupyter(monkeypatch):
    """An IPython whose shell is a Jupyter kernel's, and whose display records."""
    log = []
    shell = type("ZMQInteractiveShell", (), {})()
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell
    display = types.ModuleType("IPython.display")

    def show(bundle, raw=False, display_id=False):
        log.append(bundle)
        return _Handle(log)

    display.display = show
    ipython.display = display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    return log


def test_fit_progress_in_a_notebook_is_an_html_bar_with_time_left(monkeypatch, capsys):
    log = _fake_jupyter(monkeypatch)
    X, y = np.zeros((6, 2)), np.array([0, 1, 0, 1, 0, 1])
    model = tg.nn.MLP([2, 2], ["identity"], rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "install ipywidgets" or any other warning
        tg.fit(model, "cross_entropy", X, y, max_epochs=5)  # progress=None: shown here
    assert capsys.readouterr().out == ""  # not printed: displayed
    assert len(log) >= 2 and all(set(b) == {"text/plain", "text/html"} for b in log)
    assert '<progress value="5" max="5"' in log[-1]["text/html"]
    assert log[-1]["text/plain"].startswith("epoch 5/5  0:00:00 elapsed  loss ")


def test_notebook_progress_ends_where_an_early_stop_ended_and_shows_time_left(monkeypatch):
    from tracegrad.train import progress

    log = _fake_jupyter(monkeypatch)
    monkeypatch.setattr(progress._Notebook, "INTERVAL", 0.0)
    times = iter([0.0, 0.0, 10.0, 10.0, 20.0])  # start, shown, update, shown, close
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(monotonic=lambda: next(times)))
    bar = progress.make_progress(True, total=10)
    bar.update(1, {"loss": 0.5})  # 10 s for one epoch: 90 s left
    assert "0:00:10 elapsed, 0:01:30 left  loss 0.5" in log[-1]["text/plain"]
    bar.close()
    assert '<progress value="1" max="1"' in log[-1]["text/html"]
    assert "left" not in log[-1]["text/plain"]


def test_plain_progress_shows_elapsed_and_left(capsys):
    from tracegrad.train.progress import _Plain

    bar = _Plain(total=20)
    bar.update(1, {"loss": 1.0})
    assert "elapsed, 0:00:00 left  loss 1" in capsys.readouterr().out


def test_example_notebook_is_committed_executed():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] for c in code)
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]


def test_example_notebook_runs(tmp_path, monkeypatch):
    """Run the lecture-notes notebook in a fresh kernel (the ``notebook`` extra)."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    import nbformat
    from nbclient import NotebookClient

    # a kernel of this interpreter, whatever other "python3" kernels are installed
    spec = tmp_path / "kernels" / "tracegrad-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "tracegrad tests", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="tracegrad-test").execute()
    outputs = [c.outputs for c in nb.cells if c.cell_type == "code"]
    flat = [o for out in outputs for o in out]
    assert not [o for o in flat if o.output_type == "error"]
    assert not [o for o in flat if o.get("name") == "stderr"]  # e.g. no ipywidgets warning
    html = [o.data["text/html"] for o in flat if "text/html" in o.get("data", {})]
    assert any("Reverse adjoint trace" in h for h in html)
    assert any("Forward tangent trace" in h for h in html)
    graph = outputs[2][0].data
    assert "image/svg+xml" in graph or "not installed" in graph["text/html"]
    assert any("<progress" in h and "epoch 3000/3000" in h for h in html)
    text = "".join(o.get("text", "") for o in flat)
    assert "finite differences: [5.5" in text
    accuracy = float(text.split("training accuracy: ")[1].split()[0])
    assert accuracy > 0.9
    assert sum("image/png" in o.get("data", {}) for o in flat) == 2  # each figure once
