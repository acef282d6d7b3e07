"""Training runs that survive and resume: optimiser states on disk, checkpoints,
``resume=``, Ctrl-C (``TrainingInterrupted``), the CSV logger, and the same in the CLI."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import tracegrad as tg

RNG = np.random.default_rng(1)
X = RNG.normal(size=(60, 3))
Y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


def _net():
    nn = tg.nn
    return nn.Sequential(
        nn.Linear(3, 8, rng=0), nn.BatchNorm(8), "tanh", nn.Dropout(0.2), nn.Linear(8, 3, rng=1)
    )


def _fit(model, opt, **kw):
    common = dict(batch_size=16, seed=3, validation_split=0.2, metrics=["accuracy"])
    return tg.fit(model, "cross_entropy", X, Y, opt, **common, **kw)


def _max_diff(a, b):
    return max(float(np.max(np.abs(p - q))) for p, q in zip(tg.tree.leaves(a), tg.tree.leaves(b)))


OPTIMIZERS = {
    "adam": lambda: tg.optim.Adam(0.01),
    "sgd-momentum-schedule": lambda: tg.optim.SGD(tg.optim.step_decay(0.1, 7, 0.5), momentum=0.9),
    "sgd": lambda: tg.optim.SGD(0.05),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_state_round_trip(tmp_path, name):
    model, h = _fit(_net(), OPTIMIZERS[name](), max_epochs=2)
    path = tmp_path / "opt.npz"
    tg.nn.save(path, h.opt_state)  # tg.nn.save hands a state to save_optimizer_state
    with zipfile.ZipFile(path) as z:
        assert all(n.endswith(".npy") for n in z.namelist())
    state = tg.nn.load_optimizer_state(path, model)
    assert type(state) is type(h.opt_state) and state.step == h.opt_state.step == 6
    assert _max_diff(state, h.opt_state) == 0.0
    with pytest.raises(tg.nn.ModelFileError, match="optimiser state, not a model"):
        tg.nn.load(path)


def test_optimizer_state_is_validated(tmp_path):
    model, h = _fit(_net(), tg.optim.Adam(0.01), max_epochs=1)
    path = tmp_path / "opt.npz"
    tg.nn.save_optimizer_state(path, h.opt_state)
    other = tg.nn.MLP([3, 5, 3], ["tanh", "identity"], rng=0)
    with pytest.raises(tg.nn.ModelFileError, match="does not fit the model"):
        tg.nn.load_optimizer_state(path, other)
    bad = h.opt_state._replace(nu=tg.tree.map(lambda v: -np.ones_like(v), h.opt_state.nu))
    tg.nn.save_optimizer_state(path, bad)
    with pytest.raises(tg.nn.ModelFileError, match=r"second moments \(nu\) must be >= 0"):
        tg.nn.load_optimizer_state(path)
    bad = h.opt_state._replace(step=-3)
    tg.nn.save_optimizer_state(path, bad)
    with pytest.raises(tg.nn.ModelFileError, match="step count is -3"):
        tg.nn.load_optimizer_state(path)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(tg.nn.ModelFileError, match="never loads"):
        tg.nn.load_optimizer_state(tmp_path / "obj.npy")
    with pytest.raises(TypeError, match="expected one of AdamState, SGDState"):
        tg.nn.save_optimizer_state(path, {"step": 1})


@pytest.mark.parametrize("name", ["adam", "sgd-momentum-schedule"])
def test_resume_from_a_checkpoint_gives_the_uninterrupted_parameters(tmp_path, name):
    full, hf = _fit(_net(), OPTIMIZERS[name](), max_epochs=12, patience=50)
    cb = tg.train.ModelCheckpoint(tmp_path, every=5)
    _fit(_net(), OPTIMIZERS[name](), max_epochs=12, callbacks=[cb], patience=50)
    model, history = tg.train.load_checkpoint(tmp_path / "last")
    assert history.epochs == 10 and history.steps == 30
    resumed, hr = _fit(model, OPTIMIZERS[name](), max_epochs=12, resume=history, patience=50)
    assert _max_diff(full, resumed) <= 1e-12
    assert hr.epochs == 12 and hr.loss == hf.loss and hr.opt_state.step == hf.opt_state.step
    # without the random state (shuffling, Dropout) the run would differ
    history.rng_state = np.random.default_rng(99).bit_generator.state
    other, _ = _fit(model, OPTIMIZERS[name](), max_epochs=12, resume=history, patience=50)
    assert _max_diff(full, other) > 1e-6


def test_checkpoint_keeps_the_best_by_validation_loss(tmp_path):
    cb = tg.train.ModelCheckpoint(tmp_path, every=100)
    _, h = _fit(_net(), tg.optim.Adam(0.2), max_epochs=25, callbacks=[cb])
    assert not (tmp_path / "last").exists()
    model, best = tg.train.load_checkpoint(tmp_path / "best")
    assert best.epochs == int(np.argmin(h.val_loss)) + 1
    assert best.val_loss[-1] == min(h.val_loss)
    assert sorted(os.listdir(tmp_path / "best")) == sorted(tg.train.checkpoint.CHECKPOINT_FILES)


class _InterruptAt(tg.train.Callback):
    def __init__(self, step):
        self.step = step

    def on_batch_end(self, step, logs, model):
        if step == self.step:
            raise KeyboardInterrupt


def test_interrupt_hands_back_the_last_whole_epoch_and_resumes_exactly():
    full, _ = _fit(_net(), tg.optim.Adam(0.01), max_epochs=8)
    four, _ = _fit(_net(), tg.optim.Adam(0.01), max_epochs=4)
    with pytest.raises(tg.train.TrainingInterrupted) as info:
        _fit(_net(), tg.optim.Adam(0.01), max_epochs=8, callbacks=[_InterruptAt(14)])
    e = info.value
    assert isinstance(e, KeyboardInterrupt)
    h = e.history
    assert h.epochs == 4 and h.steps == 12 and h.opt_state.step == 12
    assert all(len(v) == 4 for v in h.as_dict().values())
    assert h.stop_reason == "interrupted after epoch 4"
    assert _max_diff(e.model, four) == 0.0
    resumed, _ = _fit(e.model, tg.optim.Adam(0.01), max_epochs=8, resume=h)
    assert _max_diff(full, resumed) <= 1e-12


def test_csv_logger_and_history_to_csv(tmp_path):
    log = tmp_path / "log.csv"
    _, h = _fit(_net(), tg.optim.Adam(0.01), max_epochs=5, callbacks=[tg.train.CSVLogger(log)])
    text = h.to_csv(tmp_path / "history.csv")
    assert (tmp_path / "history.csv").read_text() == text
    rows = text.splitlines()
    assert rows[0] == "epoch,loss,val_loss,grad_norm,time,lr,accuracy,val_accuracy"
    assert len(rows) == 6 and rows[1].startswith("1,")
    logged = [r.split(",") for r in log.read_text().splitlines()]
    assert len(logged) == 6 and logged[0][0] == "epoch"
    col = logged[0].index("val_loss")
    assert [float(r[col]) for r in logged[1:]] == h.val_loss


# --- the command line --------------------------------------------------------------------


def tg_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tracegrad", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


MOONS = ("train", "--data", "moons", "--optimizer", "adam", "--lr", "0.02", "--batch-size", "32")


def _params(path):
    return tg.tree.leaves(tg.nn.load(path))


def test_cli_resume_gives_the_uninterrupted_model(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    r = tg_cli(*MOONS, "--epochs", 20, "--checkpoint-every", 15, "--out", a)
    assert r.returncode == 0, r.stderr
    assert json.loads((a / "checkpoints/last/checkpoint.json").read_text())["epochs"] == 15
    r = tg_cli(*MOONS, "--epochs", 20, "--resume", a / "checkpoints/last", "--out", b)
    assert r.returncode == 0, r.stderr
    for p, q in zip(_params(a / "model.npz"), _params(b / "model.npz")):
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-12)
    assert len((b / "history.csv").read_text().splitlines()) == 21
    r = tg_cli(*MOONS, "--lr", "0.05", "--epochs", 30, "--resume", a / "checkpoints/last")
    assert r.returncode == 2 and "--lr 0.02 there, 0.05 here" in r.stderr
    r = tg_cli(*MOONS, "--epochs", 10, "--resume", a / "checkpoints/last")
    assert r.returncode == 2 and "15 epochs already" in r.stderr


def test_cli_patience_stops_igd(tmp_path):
    r = tg_cli("train", "--data", "moons", "--batch-size", 1, "--patience", 5, "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("epochs:"))
    assert "early stopping: val_loss did not improve for 5 epochs" in line
    assert int(line.split()[1]) < 200


def test_sigint_saves_the_run_as_it_stands(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "tracegrad", "train", "--data", "moons", "--epochs", 10**6]
    p = subprocess.Popen(
        [*map(str, cmd), "--tol", "0", "--checkpoint-every", "50", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert p.stdout.readline().startswith("data:")
        assert p.stdout.readline().startswith("model:")  # training starts now
        deadline = time.monotonic() + 90
        while not (out / "checkpoints/last").is_dir() and time.monotonic() < deadline:
            time.sleep(0.05)  # until 50 epochs are done, however loaded the machine
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, stderr
    assert "interrupted after epoch" in stderr and "--resume" in stderr
    epochs = int(stderr.split("interrupted after epoch ")[1].split(":")[0])
    assert epochs >= 50
    record = json.loads((out / "history.json").read_text())
    assert record["summary"]["epochs"] == epochs == len(record["history"]["loss"])
    assert record["summary"]["stop_reason"] == f"interrupted after epoch {epochs}"
    assert len((out / "history.csv").read_text().splitlines()) == epochs + 1
    predictor = tg.nn.load(out / "model.npz")
    model, history = tg.train.load_checkpoint(out / "checkpoints/last")
    assert history.epochs == epochs and history.loss == record["history"]["loss"]
    for p_, q in zip(tg.tree.leaves(predictor.model), tg.tree.leaves(model)):
        np.testing.assert_array_equal(p_, q)
    r = tg_cli(
        "train",
        "--data",
        "moons",
        "--epochs",
        epochs + 3,
        "--tol",
        0,
        "--resume",
        out / "checkpoints/last",
        "--out",
        tmp_path / "more",
    )
    assert r.returncode == 0, r.stderr
    assert f"epochs: {epochs + 3} " in r.stdout
