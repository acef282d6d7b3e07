"""The trace table's names: tg.EvaluationTrace, TraceStep, tangent directions and
`tracegrad trace --tangent`, with the old names kept for a release as deprecated aliases."""

from __future__ import annotations

import subprocess
import sys

import pytest

import trace_seeds as S
import tracegrad as tg
import tracegrad.traces

F002 = "ln(x1) + x1*x2 - sin(x2)"


def tg_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tracegrad", "trace", *args],
        capture_output=True,
        text=True,
        timeout=60,
        encoding="utf-8",
    )


def test_evaluation_trace_and_its_deprecated_alias():
    t = S.seed002()
    assert type(t) is tg.EvaluationTrace
    assert "Trace" not in tg.__all__ and "EvaluationTrace" in tg.__all__
    with pytest.warns(DeprecationWarning, match="tg.EvaluationTrace"):
        assert tg.Trace is tg.EvaluationTrace
    with pytest.warns(DeprecationWarning, match="TraceStep"):
        assert tracegrad.traces.Step is tracegrad.traces.TraceStep
    assert isinstance(t.steps[0], tracegrad.traces.TraceStep)
    with pytest.warns(DeprecationWarning, match="mse_step"):
        assert tracegrad.traces.mse is tracegrad.traces.mse_step
    assert tracegrad.traces.mse_step is not tg.nn.mse  # the one-step MSE, not the loss
    with pytest.raises(AttributeError):
        tg.NoSuchThing  # noqa: B018


def test_tangent_direction_keywords_and_the_old_seed_keyword():
    t = S.seed002()
    new = str(t.tangent_table(direction="x2"))
    with pytest.warns(DeprecationWarning, match=r"tangent_table\(seed=...\) is deprecated"):
        assert str(t.tangent_table(seed="x2")) == new
    with pytest.warns(DeprecationWarning, match="direction"):
        assert t.tangents(seed={"x1": 1.0}) == t.tangents({"x1": 1.0})
    with pytest.warns(DeprecationWarning, match="directions"):
        old = t.derivative_table(seeds=["x1"]).to_text()
    assert old == t.derivative_table(directions=["x1"]).to_text()
    with pytest.raises(TypeError, match="not also as seed="):
        t.tangent_table("x1", seed="x2")
    with pytest.raises(TypeError, match="unexpected keyword argument 'sead'"):
        t.tangents(sead="x1")


def test_cli_tangent_option_and_the_deprecated_seed():
    new = tg_cli(F002, "--at", "x1=2", "x2=5", "--tangent", "x2=1")
    assert new.returncode == 0 and new.stderr == "", new.stderr
    tangent_rows = [ln for ln in new.stdout.splitlines() if ln.startswith("y\u0307")]  # ẏ
    assert tangent_rows and tangent_rows[0].endswith("= 1.716")  # ∂y/∂x2, not ∂y/∂x1
    old = tg_cli(F002, "--at", "x1=2", "x2=5", "--seed", "x2=1")
    assert old.returncode == 0 and old.stdout == new.stdout
    lines = old.stderr.strip().splitlines()
    assert len(lines) == 1 and "--seed is deprecated, use --tangent" in lines[0], lines
    both = tg_cli(F002, "--at", "x1=2", "x2=5", "--seed", "x2=1", "--tangent", "x1=1")
    assert both.returncode == 2 and "give only --tangent" in both.stderr


def test_cli_help_names_the_tangent_option():
    r = tg_cli("--help")
    assert r.returncode == 0
    assert "--tangent NAME=VALUE" in r.stdout and "--seed" not in r.stdout
