"""Traces of matrix and MLP code as the lectures write them: parameters named W₁, b₁,
layers traced unfused with matrix adjoints, rows without default keywords, and the
LaTeX options of `tracegrad trace`."""

import shutil
import subprocess
import sys
import unicodedata

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad import nn
from tracegrad.nn import functional as nnf

X = np.array([0.5, -1.0])


def nfc(s):
    return unicodedata.normalize("NFC", s)


def loss(m, x):
    return tnp.sum(m(x) ** 2)


def mlp(bias=True):
    return nn.MLP([2, 3, 2], ["sigmoid", "identity"], bias=bias, rng=0)


def test_model_parameters_are_named_as_the_notes_do():
    t = tg.trace(loss, mlp(), X)
    assert t.input_names == ["W_1", "b_1", "W_2", "b_2", "x"]
    text = nfc(str(t))
    assert nfc("v₋₄ = W₁") in text and nfc("b̄₂  = v̄₋₁") in text
    assert set(t.gradient()) == {"W_1", "b_1", "W_2", "b_2", "x"}
    # no bias: W_1, W_2; a Sequential numbers its layers with a weight in order
    assert tg.trace(loss, mlp(bias=False), X).input_names == ["W_1", "W_2", "x"]
    seq = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Activation("tanh"), nn.Linear(3, 1, rng=1))
    assert tg.trace(loss, seq, X).input_names == ["W_1", "b_1", "W_2", "b_2", "x"]


def test_two_models_or_plain_pytrees_keep_the_generic_names():
    t = tg.trace(lambda a, b, x: loss(a, x) + loss(b, x), mlp(), mlp(), X)
    assert t.input_names[:2] == ["a[0]", "a[1]"] and t.input_names[4] == "b[0]"
    assert tg.trace(lambda p: p[0] * p[1], (2.0, 3.0)).input_names == ["p[0]", "p[1]"]


def test_unfused_layers_show_the_lectures_steps_and_matrix_adjoints():
    m = mlp()
    fused = tg.trace(loss, m, X)
    t = tg.trace(loss, m, X, unfused=True)
    assert [s.op for s in fused.operations][:2] == ["dense", "dense"]
    assert [s.op for s in t.operations] == [
        "matmul", "add", "sigmoid", "matmul", "add", "square", "sum",
    ]  # fmt: skip
    text = nfc(str(t))
    for row in ("v₁  = v₀ @ v₋₄", "v₂  = v₁ + v₋₃", "v₃  = σ(v₂)"):
        assert nfc(row) in text, row
    assert nfc("v̄₀  = v̄₁ v₋₄ᵀ") in text  # x̄ = z̄ Wᵀ (x a row vector, W (in, out))
    assert nfc("v̄₋₄ = v₀ᵀ v̄₁") in text  # W̄ = xᵀ z̄
    tangent = nfc(str(t.tangent_table("x")))
    assert nfc("v̇₁  = v̇₀ v₋₄ + v₀ v̇₋₄") in tangent
    # the same numbers as the fused step and as tg.grad
    g, gf = t.gradient(), fused.gradient()
    want = tg.grad(loss)(m, X)
    for name, w in zip(["W_1", "b_1", "W_2", "b_2"], want.parameters()):
        np.testing.assert_allclose(g[name], w, rtol=1e-12)
        np.testing.assert_allclose(gf[name], w, rtol=1e-12)
    assert "\\bar{v}_1 \\, v_{-4}^\\top" in t.to_latex()


def test_unfused_is_only_inside_the_trace_even_after_an_error():
    def bad(m, x):
        m(x)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        tg.trace(bad, mlp(), X, unfused=True)
    assert not nnf._UNFUSED.get()
    assert tg.trace(loss, mlp(), X).operations[0].op == "dense"
    with nnf.unfused():
        out = mlp()(X)
    np.testing.assert_allclose(out, mlp()(X), rtol=1e-14)


def test_unfused_belongs_to_the_calling_thread():
    import threading

    seen = []
    with nnf.unfused():
        t = threading.Thread(target=lambda: seen.append(nnf._UNFUSED.get()))
        t.start()
        t.join()
        assert nnf._UNFUSED.get()
    assert seen == [False]


def test_rows_have_no_default_keywords():
    t = tg.trace(lambda v: tnp.sum(v * v), np.array([1.0, 2.0]))
    text = nfc(str(t))
    assert "axis" not in text and "keepdims" not in text and nfc("= Σ v₁") in text
    t = tg.trace(lambda v: tnp.sum(tnp.sum(v, axis=0) ** 2), np.ones((2, 2)))
    text = str(t)
    assert "sum(v₀, axis=0)" in text and "keepdims" not in text


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tracegrad", "trace", "ln(x1) + x1*x2 - sin(x2)", "--at",
         "x1=2", "x2=5", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, encoding="utf-8",
    )  # fmt: skip


def test_cli_latex_booktabs_standalone_and_one_table_per_file(tmp_path):
    r = cli("--format", "latex", "--latex-style", "booktabs", "--standalone")
    assert r.returncode == 0, r.stderr
    doc = r.stdout
    assert doc.startswith("\\documentclass{article}") and "\\usepackage{booktabs}" in doc
    assert doc.count("\\begin{table}") == doc.count("\\end{table}") == 3
    assert "\\caption{Primal and adjoint traces}" in doc and "\\hline" not in doc
    assert doc.rstrip().endswith("\\end{document}")
    r = cli("--format", "latex", "--split", "--output", "t.tex", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["t-1.tex", "t-2.tex", "t-3.tex"] and "wrote" in r.stdout
    one = (tmp_path / "t-1.tex").read_text()
    assert one.count("\\begin{tabular}") == 1 and "Reverse adjoint trace" in one
    r = cli("--split")
    assert r.returncode == 2 and "--split needs --output" in r.stderr
    r = cli("--latex-style", "booktabs")
    assert r.returncode == 2 and "needs --format latex" in r.stderr


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_cli_standalone_latex_compiles(tmp_path):
    r = cli("--format", "latex", "--latex-style", "booktabs", "--standalone", "-o", "t.tex",
            cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    c = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "t.tex"],
        cwd=tmp_path, capture_output=True, timeout=120,
    )  # fmt: skip
    assert c.returncode == 0, c.stdout[-2000:]
