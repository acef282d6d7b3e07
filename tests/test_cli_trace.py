"""`tracegrad trace` and `tracegrad check`, run as a user types them."""

import os
import subprocess
import sys

import pytest

F002 = "ln(x1) + x1*x2 - sin(x2)"


def tg(*args, cwd=None, path=None):
    """Run ``tracegrad ARGS`` as a user would; ``path``: the PATH it sees."""
    env = None if path is None else {**os.environ, "PATH": path}
    return subprocess.run(
        [sys.executable, "-m", "tracegrad", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
        encoding="utf-8",
    )


def test_trace_text():
    r = tg("trace", F002, "--at", "x1=2", "x2=5")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Forward primal trace" in out and "Reverse adjoint trace" in out
    assert "11.652" in out and "1.716" in out and "5.5" in out
    assert "v̄₋₁ = v̄₋₁ + v̄₁ / v₋₁" in out
    assert "\x1b[" not in out  # no colour when piped
    assert "gradient: ∂y/∂x1 = 5.5, ∂y/∂x2 = 1.716" in out


def test_trace_seed004_forward_columns():
    r = tg(
        "trace",
        "mse(relu(w*x + b) + (w*x + b), y)",
        "--at",
        "x=5",
        "w=2",
        "b=-3",
        "y=7",
        "--mode",
        "forward",
    )
    assert r.returncode == 0, r.stderr
    assert "Reverse" not in r.stdout
    assert "56" in r.stdout and "140" in r.stdout and "-14" in r.stdout


@pytest.mark.parametrize(
    "form, marker",
    [
        ("markdown", "| Forward primal trace |"),
        ("latex", "\\begin{tabular}"),
        ("dot", "digraph trace {"),
    ],
)
def test_trace_formats(form, marker):
    r = tg("trace", F002, "--at", "x1=2", "x2=5", "--format", form)
    assert r.returncode == 0, r.stderr
    assert marker in r.stdout


def test_trace_output_file_and_seed(tmp_path):
    out = tmp_path / "t.tex"
    r = tg(
        "trace",
        F002,
        "--at",
        "x1=2",
        "x2=5",
        "--format",
        "latex",
        "--seed",
        "x2=1",
        "--output",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    tex = out.read_text()
    assert "\\dot{x}_{2} = 1" in tex and "\\end{tabular}" in tex
    dot = tmp_path / "g.dot"
    r = tg("trace", F002, "--at", "x1=2", "x2=5", "--dot", str(dot), "--mode", "reverse")
    assert r.returncode == 0 and dot.read_text().startswith("digraph")


def test_trace_fold_precision_wrt():
    r = tg(
        "trace",
        "(0 - sigmoid(w0 + w1 + 1.5*w2))**2 + (1 - sigmoid(w0 + 1.5*w1 - w2))**2",
        "--at",
        "w0=-1",
        "w1=1.5",
        "w2=0.5",
        "--fold",
        "--precision",
        "2",
        "--wrt",
        "w2",
    )
    assert r.returncode == 0, r.stderr
    assert "v̄₀  = v̄₀ + v̄₁ · 1.5" in r.stdout
    assert "0.54" in r.stdout


def test_check_agrees_and_disagrees():
    r = tg("check", F002, "--at", "x1=2", "x2=5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok" in r.stdout
    # relu at its kink: AD says 0 (relu'(0) = 0), finite differences say 0.5
    r = tg("check", "relu(x)", "--at", "x=0")
    assert r.returncode == 1
    assert "FAIL" in r.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["trace", "ln(x1 + 2", "--at", "x1=2"], "never closed"),
        (["trace", "foo(x)", "--at", "x=2"], "unknown function 'foo'"),
        (["trace", "x*y", "--at", "x=2"], "no value for y"),
        (["trace", "x*y", "--at", "x=2", "y="], "missing value"),
        (["trace", "x*y", "--at", "x=2", "y"], "expected NAME=VALUE"),
        (["trace", "x", "--at", "x=abc"], "'abc' is not a number"),
        (["trace", "x", "--at", "x=2", "z=1"], "not in the formula"),
        (["trace", "x", "--at", "x=2", "--wrt", "q"], "not an input"),
        (["trace", "x", "--at", "x=2", "--dot", "g.xyz"], "cannot write a graph as .xyz"),
        (["check", "sin(x", "--at", "x=1"], "never closed"),
        (["check", "x", "--at", "x=nan"], "not a finite number"),
        (["trace", "x"], "--at"),
        (["trace", "x", "--at"], "--at"),
    ],
)
def test_malformed_input_is_one_line_exit_2(args, words, tmp_path):
    r = tg(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert words in lines[-1]
    assert len([ln for ln in lines if "error" in ln]) == 1


def one_line_error(r, words):
    """Exit status 2, no traceback, and one line on stderr that says ``words``."""
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines


def test_check_with_shapes_that_do_not_fit_is_a_usage_error():
    r = tg("check", "x*y", "--at", "x=1,2", "y=1,2,3")
    one_line_error(r, "do not fit")
    assert "cannot check f" in r.stderr  # named as trace names it (an input is y)


def test_trace_seed_of_the_wrong_shape_is_a_usage_error():
    r = tg("trace", "x*2", "--at", "x=1", "--seed", "x=1,2")
    one_line_error(r, "--seed")
    assert "shape (2,)" in r.stderr and "shape ()" in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("option", ["--dot", "--output"])
def test_missing_destination_directory_fails_before_printing(tmp_path, option):
    target = tmp_path / "nowhere" / "a.dot"
    r = tg("trace", F002, "--at", "x1=2", "x2=5", option, str(target))
    one_line_error(r, "no directory")
    assert "None" not in r.stderr
    assert r.stdout == ""  # nothing printed before the error


def test_write_error_message_without_filename():
    from tracegrad.cli.main import write_error_message

    assert write_error_message(FileNotFoundError("cannot write 'a': no dir")) == (
        "cannot write 'a': no dir"
    )
    e = PermissionError(13, "Permission denied", "/x/a.dot")
    assert write_error_message(e) == "cannot write /x/a.dot: Permission denied"


def _fake_dot(tmp_path, script):
    """A directory holding only a ``dot`` program that runs ``script`` (sh)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "dot"
    exe.write_text("#!/bin/sh\n" + script + "\n")
    exe.chmod(0o755)
    return bin_dir


def test_failing_graphviz_is_a_usage_error(tmp_path):
    bin_dir = _fake_dot(tmp_path, "cat >/dev/null; echo 'Error: <stdin>: syntax error' >&2; exit 1")
    path = str(bin_dir) + os.pathsep + os.environ.get("PATH", "")
    r = tg("trace", "x*2", "--at", "x=1", "--dot", str(tmp_path / "g.svg"), path=path)
    one_line_error(r, "dot failed (exit status 1): Error: <stdin>: syntax error")
    assert not (tmp_path / "g.svg").exists()


def test_missing_graphviz_fails_before_printing(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = tg("trace", "x*2", "--at", "x=1", "--dot", str(tmp_path / "g.png"), path=str(empty))
    one_line_error(r, "Graphviz")
    assert r.stdout == ""


def test_check_forward_mode_differentiates_one_input_at_a_time():
    # x/y at y = 0: a zero tangent for y would meet ∂/∂y = -inf and give nan
    r = tg("check", "x/y", "--at", "x=1", "y=0")
    assert r.returncode == 1, r.stderr  # finite differences cannot follow inf
    assert "forward and reverse differ" not in r.stdout
    rows = {ln.split("│")[1].strip(): ln for ln in r.stdout.splitlines()[2:] if "│" in ln}
    assert [c.strip() for c in rows["x"].split("│")[2:4]] == ["inf", "inf"]
    assert [c.strip() for c in rows["y"].split("│")[2:4]] == ["-inf", "-inf"]


@pytest.mark.parametrize("command", ["trace", "check"])
@pytest.mark.parametrize("value", ["-3", "16"])
def test_precision_is_checked_by_both_commands(command, value):
    r = tg(command, "x", "--at", "x=1", "--precision", value)
    one_line_error(r, "--precision: must be between 0 and 15")
