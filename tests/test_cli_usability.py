"""A CLI that says what it does: help with defaults, predict's column check, the model
line, regression units, one number format, `check`'s names and kinks, consoles that
cannot show "→", and the one-line message for a missing scikit-learn."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tracegrad.train.progress import _describe, format_number


def tg(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "tracegrad", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
    )


def _csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("reg")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2))
    y = 100.0 + 50.0 * x[:, 0] - 20.0 * x[:, 1] + rng.normal(scale=5.0, size=80)
    data = _csv(d / "train.csv", ["a", "b", "price"], np.column_stack([x, y]).round(4))
    r = tg(
        "train",
        "--data",
        data,
        "--hidden",
        8,
        "--activation",
        "tanh",
        "--optimizer",
        "adam",
        "--lr",
        0.05,
        "--epochs",
        200,
        "--out",
        d / "run",
    )
    assert r.returncode == 0, r.stderr
    return d, data, r


def test_predict_refuses_other_column_names(regression_run):
    d, data, _ = regression_run
    rows = np.loadtxt(data, delimiter=",", skiprows=1)
    other = _csv(d / "other.csv", ["a", "c", "price"], rows)
    r = tg("predict", "--model", d / "run/model.npz", "--data", other)
    assert r.returncode == 2
    assert "it was trained on a, b; the file has a, c (missing: b)" in r.stderr
    # a file without a header line is read by position, as an array without names
    bare = d / "bare.csv"
    bare.write_text("".join(f"{p},{q}\n" for p, q in rows[:, :2]))
    r = tg("predict", "--model", d / "run/model.npz", "--data", bare)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == len(rows) + 1


def test_regression_losses_are_in_the_targets_units(regression_run):
    d, data, r = regression_run
    assert "target standardised (mean" in r.stdout
    assert "mse in the units of price" in r.stdout
    summary = json.loads((d / "run/history.json").read_text())["summary"]
    p = tg("predict", "--model", d / "run/model.npz", "--data", data)
    pred = np.array([float(v) for v in p.stdout.splitlines()[1:]])
    truth = np.loadtxt(data, delimiter=",", skiprows=1)[:, 2]
    mse_all = float(np.mean((pred - truth) ** 2))
    n = {k: summary["results"][k] for k in ("train", "validation", "test")}
    # every split's mse is in price², within a factor of the whole file's
    assert all(0.2 * mse_all < v["loss"] < 5 * mse_all for v in n.values())
    assert mse_all > 5.0  # noise of scale 5: price² units, not standardised ones (< 1)


def test_one_number_format_in_bar_and_summary(regression_run):
    assert _describe({"loss": 1.0, "accuracy": 0.97623}) == "loss 1.0000  accuracy 0.9762"
    assert format_number(23456.7) == "2.346e+04" and format_number(1.2e-5) == "1.2e-05"
    d, _, r = regression_run
    summary = json.loads((d / "run/history.json").read_text())["summary"]
    test_row = next(line for line in r.stdout.splitlines() if line.startswith("│ test"))
    assert format_number(summary["results"]["test"]["loss"]) in test_row


def test_help_shows_defaults_and_whole_descriptions():
    top = tg("--help").stdout
    assert "a summary, and save the model, its history and plots." in " ".join(top.split())
    train = " ".join(tg("train", "--help").stdout.split())
    for text in ("(default: 3000)", "(default: sgd)", "(default: float64)", "(default: 0.3)"):
        assert text in train
    assert "Predict with a model saved by" in tg("predict", "--help").stdout
    assert "Print the lecture notes' worked examples" in tg("demo", "--help").stdout
    assert "(default: 4)" in tg("demo", "--help").stdout


def test_model_line_names_batchnorm_and_skip_connections(tmp_path):
    r = tg(
        "train",
        "--data",
        "moons",
        "--hidden",
        8,
        "--hidden",
        8,
        "--batch-norm",
        "--skip",
        "--activation",
        "relu",
        "--epochs",
        2,
        "--batch-size",
        32,
        "--out",
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert (
        "model: 2 → 8 (BatchNorm, relu) → 8 (BatchNorm, relu; skip connection) → 2 (softmax)"
        in r.stdout
    )


def test_a_console_without_arrows_gets_ascii(tmp_path):
    r = tg(
        "train",
        "--data",
        "moons",
        "--epochs",
        3,
        "--out",
        tmp_path,
        env={"PYTHONIOENCODING": "cp1252"},
    )
    assert r.returncode == 0, r.stderr
    assert "model: 2 -> 16 (sigmoid) -> 2 (softmax)" in r.stdout


def test_check_names_the_output_as_trace_does():
    r = tg("check", "x*y", "--at", "x=1", "y=2")
    assert r.returncode == 0
    rows = [line.split("│")[0].strip() for line in r.stdout.splitlines()[2:4]]
    assert rows == ["f", "f"]


def test_check_says_when_the_point_is_a_kink():
    r = tg("check", "relu(x)", "--at", "x=0")
    assert r.returncode == 1, r.stdout  # finite differences still disagree, and say why
    assert "FAIL: at a kink" in r.stdout
    assert "x = 0 is a kink of y" in r.stdout
    assert "0 (from the left) and 1 (from the right)" in r.stdout
    r = tg("check", "relu(x) + abs(x - 1)", "--at", "x=0.5")
    assert r.returncode == 0 and "kink" not in r.stdout


def test_sklearn_without_scikit_learn_names_the_extra():
    code = "import sys; sys.modules['sklearn'] = None; import tracegrad.sklearn"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last == (
        "ModuleNotFoundError: tracegrad.sklearn needs scikit-learn: "
        "pip install 'tracegrad[sklearn]'"
    )
    assert "During handling" not in r.stderr
