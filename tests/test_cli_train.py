"""`tracegrad train` and `tracegrad predict` end to end, run as a user runs them."""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def tg(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tracegrad", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def png_size(path):
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_default_run_is_seed_001(tmp_path):
    r = tg("train", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "2 → 16 (sigmoid) → 3 (softmax)" in r.stdout
    out = tmp_path / "runs" / "iris"
    summary = json.loads((out / "history.json").read_text())["summary"]
    assert summary["features"] == ["petal length (cm)", "petal width (cm)"]
    assert summary["results"]["test"]["accuracy"] >= 0.9
    for name in ("model.npz", "history.csv", "history.json", "loss.png", "decision_regions.png"):
        assert (out / name).is_file(), name
    w, h = png_size(out / "decision_regions.png")
    assert 400 <= w <= 2000 and 300 <= h <= 2000
    w, h = png_size(out / "loss.png")
    assert 400 <= w <= 2000 and 250 <= h <= 2000
    import matplotlib.image

    img = matplotlib.image.imread(out / "decision_regions.png")
    assert img.std() > 0.05  # not a blank picture
    lines = (out / "history.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,loss") and len(lines) == summary["epochs"] + 1

    import tracegrad as tgm

    model = tgm.nn.load(out / "model.npz")
    assert model.class_names == ("setosa", "versicolor", "virginica")
    p = tg("predict", "--model", out / "model.npz", "--data", "iris", "--proba")
    assert p.returncode == 0, p.stderr
    rows = p.stdout.splitlines()
    assert rows[0].startswith("prediction,p(setosa)") and len(rows) == 151
    acc = float(p.stderr.split()[1])
    assert acc >= 0.9


@pytest.mark.parametrize(
    "args",
    [
        [
            "--data",
            "moons",
            "--hidden",
            16,
            "--hidden",
            16,
            "--activation",
            "tanh",
            "--optimizer",
            "adam",
            "--lr",
            0.02,
            "--epochs",
            300,
            "--batch-size",
            32,
        ],
        [
            "--data",
            "digits",
            "--hidden",
            32,
            "--activation",
            "relu",
            "--optimizer",
            "adam",
            "--lr",
            0.01,
            "--epochs",
            40,
            "--batch-size",
            64,
            "--batch-norm",
            "--l2",
            1e-4,
        ],
        [
            "--data",
            "diabetes",
            "--hidden",
            16,
            "--hidden",
            16,
            "--skip",
            "--activation",
            "tanh",
            "--epochs",
            300,
            "--lr",
            0.003,
            "--momentum",
            0.9,
            "--dtype",
            "float32",
        ],
        [
            "--data",
            "spirals",
            "--hidden",
            32,
            "--activation",
            "relu",
            "--optimizer",
            "adam",
            "--lr",
            0.03,
            "--epochs",
            300,
            "--loss",
            "mse",
        ],
    ],
    ids=["moons", "digits-bn", "diabetes-skip", "spirals-mse"],
)
def test_data_sources_and_flags(tmp_path, args):
    r = tg("train", *args, "--quiet", "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "run" / "history.json").read_text())["summary"]
    test = summary["results"]["test"]
    if summary["task"] == "classification":
        assert test["accuracy"] >= 0.8, test
        assert (tmp_path / "run" / "decision_regions.png").exists() == (
            len(summary["features"]) == 2
        )
    else:
        assert test["r2"] >= 0.35, test
        p = tg("predict", "--model", tmp_path / "run" / "model.npz", "--data", "diabetes")
        assert p.returncode == 0 and "R²" in p.stderr


def test_csv_file_train_and_predict(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    label = np.where(X[:, 0] + X[:, 1] > 0, "pos", "neg")
    lines = ["u,v,label"] + [f"{a:.4f},{b:.4f},{c}" for (a, b), c in zip(X, label)]
    (tmp_path / "pts.csv").write_text("\n".join(lines) + "\n")
    r = tg(
        "train",
        "--data",
        tmp_path / "pts.csv",
        "--target",
        "label",
        "--epochs",
        500,
        "--quiet",
        "--out",
        tmp_path / "run",
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run" / "decision_regions.png").is_file()
    out_csv = tmp_path / "pred.csv"
    p = tg(
        "predict",
        "--model",
        tmp_path / "run" / "model.npz",
        "--data",
        tmp_path / "pts.csv",
        "--output",
        out_csv,
    )
    assert p.returncode == 0, p.stderr
    preds = out_csv.read_text().splitlines()
    assert preds[0] == "prediction" and set(preds[1:]) <= {"pos", "neg"} and len(preds) == 121
    assert float(p.stdout.split()[1]) >= 0.9
    # features only (no label column), ';'-separated, columns in another order
    lines = ["v;u"] + [f"{b:.4f};{a:.4f}" for a, b in X]
    (tmp_path / "new.csv").write_text("\n".join(lines) + "\n")
    p = tg("predict", "--model", tmp_path / "run" / "model.npz", "--data", tmp_path / "new.csv")
    assert p.returncode == 0, p.stderr
    rows = p.stdout.splitlines()
    assert rows[0] == "prediction" and len(rows) == 121 and p.stderr == ""
    hits = np.mean([r == c for r, c in zip(rows[1:], label)])
    assert hits >= 0.9


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "mnist"], "unknown data set 'mnist'"),
        (["train", "--lr", "-1"], "--lr must be a finite number in (0, inf)"),
        (["train", "--optimizer", "rmsprop"], "invalid choice"),
        (["train", "--hidden", "x"], "invalid int value"),
        (["train", "--features", "9"], "out of range"),
        (["train", "--data", "{tmp}/missing.csv"], "no data file"),
        (["train", "--data", "{tmp}/ragged.csv"], "line 3: 2 columns"),
        (["train", "--data", "{tmp}/words.csv"], "line 2, column 1 (a)"),
        (["predict", "--model", "{tmp}/ragged.csv", "--data", "iris"], "not a tracegrad model"),
        (["predict", "--model", "{tmp}/none.npz", "--data", "iris"], "no file"),
    ],
)
def test_bad_input_is_one_line_and_status_2(tmp_path, args, message):
    (tmp_path / "ragged.csv").write_text("a,b,c\n1,2,3\n4,5\n")
    (tmp_path / "words.csv").write_text("a,b,c\nhello,2,3\n4,5,6\n")
    r = tg(*[a.replace("{tmp}", str(tmp_path)) for a in args], cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


# Runs the command with some top-level modules made unimportable, as on an installation
# without that optional extra (a meta-path finder that refuses them).
WITHOUT = """
import sys
from importlib.abc import MetaPathFinder

blocked = set(sys.argv[1].split(","))


class Refuse(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ImportError(f"No module named {name!r} (refused by the test)", name=name)
        return None


sys.meta_path.insert(0, Refuse())
from tracegrad.cli.main import main

sys.exit(main(sys.argv[2:]))
"""


def tg_without(modules, *args, cwd=None):
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, modules, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_train_without_matplotlib_skips_the_plots(tmp_path):
    r = tg_without(
        "matplotlib", "train", "--data", "moons", "--epochs", 5, "--out", "run", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "plots skipped: install tracegrad[plot]" in r.stdout.splitlines()
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == ["history.csv", "history.json", "model.npz"]
    assert "wrote model.npz, history.csv, history.json to" in r.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["train"],  # the default data set is iris
        ["train", "--data", "diabetes"],
        ["predict", "--model", "{tmp}/model.npz", "--data", "wine"],
    ],
)
def test_bundled_data_without_scikit_learn_is_a_usage_error(tmp_path, args):
    if args[0] == "predict":
        assert (
            tg("train", "--data", "moons", "--epochs", 2, "--quiet", "--out", tmp_path).returncode
            == 0
        )
    r = tg_without("sklearn", *[a.replace("{tmp}", str(tmp_path)) for a in args], cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'tracegrad[sklearn]'" in lines[0], lines


def test_train_help_says_bundled_sets_need_scikit_learn():
    r = tg("train", "--help")
    assert r.returncode == 0
    assert "tracegrad[sklearn]" in r.stdout and "scikit-learn" in r.stdout


def test_predict_output_is_written_atomically(tmp_path, monkeypatch):
    from tracegrad.cli import predict as cli_predict
    from tracegrad.cli.main import main

    assert (
        tg("train", "--data", "moons", "--epochs", 2, "--quiet", "--out", tmp_path).returncode == 0
    )
    written = []

    def spy(path, data):
        written.append(path)
        real(path, data)

    real = cli_predict.write_atomic
    monkeypatch.setattr(cli_predict, "write_atomic", spy)
    out = tmp_path / "pred.csv"
    args = ["predict", "--model", str(tmp_path / "model.npz"), "--data", "moons", "--output"]
    assert main([*args, str(out)]) == 0
    assert written == [str(out)] and out.read_text().startswith("prediction\n")
    # a directory that does not exist: one line, not "None"
    r = tg(*args, tmp_path / "nowhere" / "pred.csv")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no directory" in r.stderr and "None" not in r.stderr


def test_r2_score_is_the_shared_metric():
    from sklearn.metrics import r2_score as sk_r2

    from tracegrad.train.metrics import get_metric, r2_score

    rng = np.random.default_rng(0)
    t = rng.normal(size=(30, 2))
    o = t + 0.3 * rng.normal(size=(30, 2))
    assert r2_score(o, t) == pytest.approx(sk_r2(t, o))
    assert r2_score(o[:, 0], t[:, :1]) == pytest.approx(sk_r2(t[:, 0], o[:, 0]))
    assert r2_score([1.0, 2.0], [3.0, 3.0]) == 0.0  # constant target: no division by zero
    assert get_metric("r2") == ("r2", r2_score)
    with pytest.raises(ValueError, match="do not fit"):
        r2_score(np.ones(3), np.ones(4))
