"""Issue 16: what a hostile run over the CLI, the files and the estimators found.

Nothing lost (atomic writes that keep devices, FIFOs and links; a run's files as one
set, also under SIGKILL), nothing silent (duplicate columns, NaN parameters, unvalidated
model files, constant powers), no traceback where one line and status 2 are promised.
CLI findings run the real command; special files are scratch copies (mknod, mkfifo) in a
temporary directory.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import warnings
import zipfile

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad import nn
from tracegrad.files import atomic_open, write_atomic
from tracegrad.traces.expr import parse


def tg_cli(*args, cwd=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "tracegrad", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def one_line_error(r, *fragments):
    """Status 2, one line on stderr holding every fragment, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


TINY = ("--data", "moons", "--epochs", "3")


@pytest.fixture(scope="module")
def moons_model(tmp_path_factory):
    """A model trained by the command on moons (no scikit-learn needed)."""
    out = tmp_path_factory.mktemp("run") / "moons"
    r = tg_cli("train", *TINY, "--out", out)
    assert r.returncode == 0, r.stderr
    return out / "model.npz"


root_only = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mknod of a device needs root"
)


# --- 1. atomic writes keep what is not a regular file ---------------------------------------


def test_a_symlink_is_followed_and_its_target_replaced(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to("real.csv")
    write_atomic(link, "new\n")
    assert link.is_symlink() and target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # a replaced file keeps its mode
    assert sorted(os.listdir(tmp_path)) == ["link.csv", "real.csv"]


def test_a_fifo_is_written_through_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_atomic(fifo, b"through the pipe")
    reader.join(10)
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and os.listdir(tmp_path) == ["pipe"]


@root_only
def test_a_device_is_written_through_and_a_full_one_is_a_named_error(tmp_path):
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    write_atomic(null, b"discarded")
    assert stat.S_ISCHR(os.stat(null).st_mode)
    full = tmp_path / "full"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    with pytest.raises(OSError, match="No space left") as err:
        with atomic_open(full, "wb") as fh:
            fh.write(b"x" * 100)
    assert err.value.filename == str(full)
    assert stat.S_ISCHR(os.stat(full).st_mode) and sorted(os.listdir(tmp_path)) == ["full", "null"]


def test_a_directory_target_is_refused_by_name(tmp_path):
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(IsADirectoryError) as err:
        write_atomic(tmp_path / "out.csv", "x")
    assert err.value.filename == str(tmp_path / "out.csv")


@root_only
def test_predict_output_to_a_full_device_is_one_line_and_keeps_the_device(tmp_path, moons_model):
    full = tmp_path / "full"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    r = tg_cli("predict", "--model", moons_model, "--data", "moons", "--output", full)
    one_line_error(r, f"cannot write {full}", "No space left")
    assert stat.S_ISCHR(os.stat(full).st_mode)


def test_predict_output_to_an_alias_of_stdout_writes_to_stdout(tmp_path, moons_model):
    # what /dev/stdout is: a link into /proc/self/fd (a scratch link, not the real /dev)
    alias = tmp_path / "stdout"
    alias.symlink_to("/proc/self/fd/1")
    r = tg_cli("predict", "--model", moons_model, "--data", "moons", "--output", alias)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("prediction\n") and len(r.stdout.splitlines()) >= 201
    assert alias.is_symlink() and os.listdir(tmp_path) == ["stdout"]


# --- 2. a run's files are one set, also when the run is killed -------------------------------

RUN_FILES = ("model.npz", "history.csv", "history.json", "loss.png", "decision_regions.png")


def _fingerprint(out):
    """Which run wrote each file of ``out``: (epochs, weights, png bytes) per file."""
    prints = {}
    model = nn.load(out / "model.npz")  # loadable, or the test fails here
    prints["model.npz"] = tuple(float(v.sum()) for v in tg.tree.leaves(model.model))
    prints["history.csv"] = len((out / "history.csv").read_text().splitlines()) - 1
    prints["history.json"] = json.loads((out / "history.json").read_text())["summary"]["epochs"]
    for png in ("loss.png", "decision_regions.png"):
        prints[png] = (out / png).read_bytes()
    return prints


def test_sigkill_during_train_leaves_one_whole_run_and_no_temporaries(tmp_path):
    parent = tmp_path / "runs"
    out = parent / "moons"
    old_args = ("train", *TINY, "--seed", "1", "--out", out)
    new_args = (sys.executable, "-m", "tracegrad", "train", "--data", "moons", "--epochs", "6")
    new_args += ("--seed", "2", "--out", str(out))
    t0 = time.perf_counter()
    assert tg_cli(*old_args).returncode == 0  # the previous good run
    duration = time.perf_counter() - t0
    old = _fingerprint(out)
    rng = random.Random(16)
    seen = []
    for _ in range(4):
        moment = rng.uniform(0.4, 1.1) * duration
        proc = subprocess.Popen(new_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert sorted(os.listdir(out)) == sorted(RUN_FILES), moment
        seen.append((moment, _fingerprint(out)))
        stale = [n for n in os.listdir(parent) if n.startswith(".tmp-")]
        assert len(stale) <= 1, stale  # the killed run's own, removed by the next run
    r = subprocess.run(new_args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    new = _fingerprint(out)
    assert new != old
    for moment, prints in seen:  # every file from one run: all old or all new
        assert prints in (old, new), moment
    assert os.listdir(parent) == ["moons"]  # no temporaries anywhere
    assert not [n for n in os.listdir(out) if n.startswith(".")]


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    # a writer that died: no Linux pid is above 2**22
    dead = 4194305
    (out / f".tmp-{dead}-abc.npz").write_bytes(b"x" * 1000)
    (out / ".tmp-k3j_a9zq.npz").write_bytes(b"x")  # an older tracegrad's name
    stale_dir = tmp_path / f".tmp-{dead}-run-xyz"
    stale_dir.mkdir()
    (stale_dir / "model.npz").write_bytes(b"half")
    (tmp_path / ".tmp-notes").write_text("not ours: kept")
    r = tg_cli("train", *TINY, "--out", out)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == sorted(RUN_FILES)
    assert sorted(os.listdir(tmp_path)) == [".tmp-notes", "run"]


def test_out_with_other_files_keeps_them_and_replaces_the_run(tmp_path):
    out = tmp_path / "mixed"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "decision_regions.png").write_bytes(b"from an older 2-D run")
    r = tg_cli("train", "--data", "circles", "--epochs", "2", "--out", out, "--features", "0")
    assert r.returncode == 0, r.stderr
    names = sorted(os.listdir(out))
    # a 1-feature run draws no decision regions: the old picture is not left as if it were
    assert names == ["history.csv", "history.json", "loss.png", "model.npz", "notes.txt"]
    # the working directory is never renamed away, even when it holds a run only
    (out / "notes.txt").unlink()
    inode = os.stat(out).st_ino
    r = tg_cli("train", *TINY, "--out", ".", cwd=out)
    assert r.returncode == 0, r.stderr
    assert os.stat(out).st_ino == inode and sorted(os.listdir(out)) == sorted(RUN_FILES)


# --- 3. duplicate column names --------------------------------------------------------------


def test_duplicate_column_names_are_refused(tmp_path):
    rows = ["a,a,label"] + [f"{i % 7},{i % 3},{i % 2}" for i in range(40)]
    (tmp_path / "dup.csv").write_text("\n".join(rows) + "\n")
    r = tg_cli("train", "--data", tmp_path / "dup.csv", "--epochs", "2", "--out", tmp_path / "o")
    one_line_error(r, "'a' is given twice", "columns 1 and 2")
    assert not (tmp_path / "o").exists()


# --- 4, 8, 13. formulas ---------------------------------------------------------------------


def test_constant_powers_and_overflow_follow_numpy():
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        assert np.isnan(parse("x + (-2)^0.5")(-4.0))
        assert parse("10**400*x")(1.0) == np.inf
        assert parse("1/0 + x")(1.0) == np.inf
    with pytest.raises(ValueError, match="1e400 is too large"):
        parse("1e400*x")


def test_a_flat_formula_of_thousands_of_terms_parses_and_differentiates():
    f = parse("+".join(["x"] * 4999))
    assert f.variables == ("x",) and len(f.steps) == 4999
    assert tg.grad(f)(1.0) == 4999.0
    # two equal deep subtrees (distinct objects): one step each, never compared deeply
    deep = "(" + "+".join(["x"] * 1500) + ")"
    shared = parse(f"{deep}*y + {deep}*y")
    assert shared(2.0, 3.0) == 18000.0 and len(shared.steps) == 1500 + 3


def test_formula_findings_through_the_commands(tmp_path):
    r = tg_cli("trace", "-x**2", "--at", "x=2")
    assert r.returncode == 0 and "y = -4; gradient: ∂y/∂x = -4" in r.stdout, r.stderr
    r = tg_cli("check", "sqrt(x)", "--at", "x=-1")
    assert r.returncode == 0 and r.stderr == "" and "ok" in r.stdout, (r.stdout, r.stderr)
    r = tg_cli("trace", "x + (-2)^0.5", "--at", "x=-4")
    assert r.returncode == 0 and "y = nan" in r.stdout and r.stderr == "", r.stderr
    r = tg_cli("check", "10**400*x", "--at", "x=1")
    assert "Traceback" not in r.stderr and "(34," not in r.stdout + r.stderr
    assert "inf" in r.stdout
    one_line_error(tg_cli("check", "1e400*x", "--at", "x=1"), "1e400 is too large")
    long = "+".join(["x"] * 4000)
    r = tg_cli("check", long, "--at", "x=1")
    assert r.returncode == 0 and "4000" in r.stdout, r.stderr[-500:]


# --- 5. parameters: NaN, inf, wrong types ---------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"learning_rate_init": np.nan},
        {"learning_rate_init": np.inf},
        {"epsilon": np.nan},
        {"alpha": np.nan},
        {"tol": np.nan},
        {"momentum": np.nan},
        {"power_t": np.nan},
        {"max_iter": 2.5},
        {"n_iter_no_change": 1.5},
        {"shuffle": "yes"},
    ],
)
def test_estimators_refuse_what_scikit_learn_refuses(bad):
    pytest.importorskip("sklearn")
    from sklearn.utils._param_validation import InvalidParameterError

    from tracegrad.sklearn import MLPClassifier, MLPRegressor

    X, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    for est in (MLPClassifier(**bad), MLPRegressor(**bad)):
        with pytest.raises(InvalidParameterError, match=next(iter(bad))):
            est.fit(X, y)


@pytest.mark.parametrize(
    "option, value", [("--lr", "inf"), ("--l2", "inf"), ("--l2", "nan"), ("--tol", "nan")]
)
def test_train_refuses_nan_and_inf_options(tmp_path, option, value):
    r = tg_cli("train", *TINY, option, value, "--out", tmp_path / "o")
    one_line_error(r, f"{option} must be a finite number")
    assert not (tmp_path / "o").exists()


def test_a_diverging_run_is_one_line_without_warnings_and_writes_nothing(tmp_path):
    r = tg_cli("train", *TINY, "--lr", "1e308", "--out", tmp_path / "o")
    one_line_error(r, "the training loss became", "epoch", "step", "nothing written")
    assert "RuntimeWarning" not in r.stderr and not (tmp_path / "o").exists()


# --- 6, 14. model files: validated, read entry by entry --------------------------------------


def _rewrite(src, dst, meta_change=None, arrays_change=None):
    with np.load(src) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["__tracegrad__"]))
    if meta_change:
        meta_change(meta["model"])
    arrays["__tracegrad__"] = np.array(json.dumps(meta))
    arrays.update(arrays_change or {})
    np.savez(dst, **arrays)
    return dst


def _static(key, value):
    def change(model):
        model["static"][key] = value

    return change


@pytest.mark.parametrize(
    "meta_change, arrays_change, message",
    [
        (None, {"params/model.layers.0.weight": np.full((2, 16), np.nan)}, "NaN or infinite"),
        (None, {"buffers/scaler.scale": np.zeros(2)}, "scale that is not positive"),
        (_static("task", "ranking"), None, "task = 'ranking'"),
        (_static("output", "scores"), None, "output = 'scores'"),
        (_static("class_names", {"__tuple__": ["0"]}), None, "2 outputs for 1 classes"),
        (_static("feature_names", {"__tuple__": [1, 2]}), None, "feature_names = (1, 2)"),
        (_static("target_scale", 0.0), None, "target_scale = 0"),
        (_static("feature_names", {"__tuple__": ["a"]}), None, "1 feature names"),
    ],
)
def test_model_files_are_validated(tmp_path, moons_model, meta_change, arrays_change, message):
    bad = _rewrite(moons_model, tmp_path / "bad.npz", meta_change, arrays_change)
    with pytest.raises(nn.ModelFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        nn.load(bad)


def test_predict_with_an_invalid_model_is_one_line(tmp_path, moons_model):
    bad = _rewrite(moons_model, tmp_path / "bad.npz", _static("class_names", {"__tuple__": []}))
    r = tg_cli("predict", "--model", bad, "--data", "moons")
    one_line_error(r, "--model:", "0 classes")


def test_load_reads_only_the_entries_the_model_names(tmp_path, moons_model, monkeypatch):
    padded = tmp_path / "padded.npz"
    shutil.copy(moons_model, padded)
    with zipfile.ZipFile(padded, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        # an unreferenced entry that is 64 MiB once decompressed
        zf.writestr("junk.npy", b"\x93NUMPY" + b"\x00" * (64 << 20))
    with zipfile.ZipFile(padded) as zf:
        assert zf.getinfo("junk.npy").compress_size < 1 << 20
    read = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(
        zipfile.ZipFile,
        "open",
        lambda self, name, *a, **k: read.append(str(name)) or real_open(self, name, *a, **k),
    )
    model = nn.load(padded)
    assert isinstance(model, nn.Predictor)
    assert not [n for n in read if "junk" in n], read
    # and a referenced entry above the limit is refused before its data is read
    monkeypatch.setattr(nn.io, "MAX_ENTRY_BYTES", 100)
    with pytest.raises(nn.ModelFileError, match="up to 100"):
        nn.load(moons_model)


# --- 9. OS errors and --out checked before training --------------------------------------


def test_train_os_errors_are_one_line(tmp_path):
    one_line_error(tg_cli("train", "--data", "/proc/self/mem"), "--data", "cannot read it")
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    r = tg_cli("train", *TINY, "--out", afile)
    one_line_error(r, "--out", "not a directory")
    assert "summary" not in r.stdout and afile.read_text() == "keep me"  # before training
    (tmp_path / "run" / "model.npz").mkdir(parents=True)
    r = tg_cli("train", *TINY, "--out", tmp_path / "run")
    one_line_error(r, "model.npz", "in the way")
    assert "summary" not in r.stdout
    r = tg_cli("train", *TINY, "--hidden", "100000000000", "--out", tmp_path / "big")
    one_line_error(r, "not enough memory")


def test_a_full_disk_while_saving_is_one_line_naming_the_file_in_out(tmp_path, monkeypatch, capsys):
    import errno

    from tracegrad.cli.main import main

    def full(path, model):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))

    monkeypatch.setattr(nn, "save", full)
    out = tmp_path / "o"
    assert main(["train", *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"tracegrad train: error: --out: cannot write {out}/model.npz: {os.strerror(errno.ENOSPC)}"
    ]
    assert os.listdir(tmp_path) == []  # nothing half-written left, not even the directory


# --- 10. a closed pipe -----------------------------------------------------------------------


@pytest.mark.parametrize("args", [("demo",), ("train", *TINY, "--out", "{tmp}/o")])
def test_a_closed_stdout_pipe_is_no_traceback(tmp_path, args):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracegrad", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader has gone, as `| head -1` does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(120) == 0, err
    assert "BrokenPipeError" not in err and err == ""
    if args[0] == "train":
        assert sorted(os.listdir(tmp_path / "o")) == sorted(RUN_FILES)  # the run still saved


# --- 11. item() and tolist() -------------------------------------------------------------


def test_item_and_tolist_read_the_value_and_jit_falls_back():
    seen = []

    def f(x):
        s = tnp.sum(x**2)
        seen.append((s.item(), x.tolist(), x[0].item()))
        return s

    np.testing.assert_allclose(tg.grad(f)(np.array([1.0, 2.0])), [2.0, 4.0])
    assert seen == [(5.0, [1.0, 2.0], 1.0)] and type(seen[0][0]) is float

    def g(x):
        return x * 2 if x.sum().item() > 0 else -x

    jitted = tg.jit(g)
    with pytest.warns(tg.JitFallbackWarning, match="reads the value"):
        np.testing.assert_allclose(jitted(np.array([1.0, 2.0])), [2.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tg.JitFallbackWarning)
        np.testing.assert_allclose(jitted(np.array([-1.0, -2.0])), [1.0, 2.0])
    with pytest.raises(ValueError, match="size 1"):
        tg.grad(lambda x: tnp.sum(x) * x.item())(np.ones(2))


# --- 12. bundled names win over bare paths -------------------------------------------------


def test_a_directory_named_like_a_bundled_set_does_not_hide_it(tmp_path):
    (tmp_path / "moons").mkdir()  # e.g. the output of an earlier `--out moons`
    r = tg_cli("train", *TINY, "--out", "moons", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = tg_cli("train", *TINY, "--out", "moons", cwd=tmp_path)  # now moons/ holds a run
    assert r.returncode == 0 and "data: moons" in r.stdout, r.stderr
    r = tg_cli("train", "--data", "./moons", "--epochs", "2", cwd=tmp_path)
    one_line_error(r, "./moons")  # explicitly the directory: not a data file
    r = tg_cli("train", "--data", "moonz", cwd=tmp_path)
    one_line_error(r, "unknown data set 'moonz'", "./NAME is the file")


# --- 15. n_iter_ and warm starts -----------------------------------------------------------


def test_n_iter_counts_each_call_and_a_new_architecture_is_a_new_network():
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning

    from tracegrad.sklearn import MLPClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    clf = MLPClassifier((4,), max_iter=5, warm_start=True, random_state=0, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        assert clf.n_iter_ == 5
        clf.fit(X, y)
        assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 10  # scikit-learn's counts
        clf.partial_fit(X, y)
        assert clf.n_iter_ == 1
        clf.set_params(hidden_layer_sizes=(6, 3))
        clf.fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(3, 6), (6, 3), (3, 1)]
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 5
