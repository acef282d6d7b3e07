"""tg.fit: batching, IGD, shuffling, stopping rules, validation, callbacks, history."""

import warnings

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp

nn, optim = tg.nn, tg.optim


def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.standard_normal((n, 2)) * 0.5 + np.array([[0, 2], [2, -1], [-2, -1]])[y]
    return X, y


def small_model(seed=0, **kw):
    return nn.MLP([2, 8, 3], "tanh", rng=seed, **kw)


def test_full_batch_minibatch_and_igd_step_counts():
    X, y = blobs(50)
    for bs, steps in ((None, 3), (50, 3), (16, 12), (1, 150)):
        _, h = tg.fit(small_model(), "cross_entropy", X, y, batch_size=bs, max_epochs=3, seed=0)
        assert h.steps == steps and h.epochs == 3
        assert len(h.loss) == len(h.grad_norm) == len(h.time) == len(h.lr) == 3
        assert h.stop_reason == "max_epochs=3 reached"


def test_igd_equals_a_hand_written_loop_with_momentum():
    X, y = blobs(12)
    opt = optim.SGD(lr=0.05, momentum=0.9)
    trained, _ = tg.fit(
        small_model(), "cross_entropy", X, y, opt, batch_size=1, max_epochs=2, shuffle=False
    )
    model, state = small_model(), opt.init(small_model())
    grad = tg.grad(lambda m, xb, yb: nn.cross_entropy(m(xb), yb))
    for _ in range(2):
        for i in range(len(X)):
            model, state = opt.update(model, grad(model, X[i : i + 1], y[i : i + 1]), state)
    for p, q in zip(trained.parameters(), model.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)


def test_shuffling_is_repeatable_from_a_seed():
    X, y = blobs()
    run = lambda seed: tg.fit(
        small_model(), "cross_entropy", X, y, batch_size=8, max_epochs=2, seed=seed
    )[0].parameters()[0]
    np.testing.assert_array_equal(run(5), run(5))
    assert not np.allclose(run(5), run(6))


def test_training_reduces_the_loss_and_learns():
    X, y = blobs(90)
    model, h = tg.fit(
        small_model(),
        "cross_entropy",
        X,
        y,
        optim.Adam(0.05),
        batch_size=16,
        max_epochs=30,
        seed=0,
        metrics=["accuracy"],
    )
    assert h.loss[-1] < 0.5 * h.loss[0]
    assert h["accuracy"][-1] > 0.9
    assert tg.train.accuracy(model(X), y) == h["accuracy"][-1]


def test_convergence_by_gradient_norm():
    X = np.random.default_rng(0).standard_normal((30, 2))
    y = X @ np.array([[1.0], [-2.0]]) + 0.5
    model = nn.Linear(2, 1, rng=0)
    _, h = tg.fit(model, "mse", X, y, optim.SGD(0.2), max_epochs=5000, tol=1e-8)
    assert h.converged and h.stop_reason.startswith("converged: gradient norm")
    assert h.grad_norm[-1] <= 1e-8 < h.grad_norm[-2]
    assert h.epochs < 5000


def test_early_stopping_with_patience_and_restore_best():
    X, _ = blobs(60)
    y = np.random.default_rng(0).integers(0, 3, 60)  # noise: validation loss soon rises
    best_seen = {}

    def watch(epoch, logs, model):
        if not best_seen or logs["val_loss"] < best_seen["val_loss"]:
            best_seen.update(val_loss=logs["val_loss"], model=model)

    model, h = tg.fit(
        small_model(),
        "cross_entropy",
        X,
        y,
        optim.Adam(0.05),
        batch_size=4,
        max_epochs=200,
        patience=3,
        validation_split=0.25,
        seed=1,
        restore_best=True,
        callbacks=[watch],
    )
    assert h.stop_reason.startswith("early stopping: val_loss did not improve for 3 epochs")
    assert h.epochs == h.best_epoch + 3
    assert model is best_seen["model"]


def test_validation_split_and_data_with_metrics():
    X, y = blobs(40)
    _, h = tg.fit(
        small_model(),
        "cross_entropy",
        X,
        y,
        max_epochs=2,
        validation_split=0.25,
        metrics=["accuracy"],
        seed=0,
    )
    assert set(h.as_dict()) >= {"loss", "val_loss", "accuracy", "val_accuracy", "grad_norm"}
    Xv, yv = blobs(10, seed=3)
    _, h2 = tg.fit(
        small_model(),
        "cross_entropy",
        X,
        y,
        max_epochs=2,
        validation_data=(Xv, yv),
        metrics=["accuracy", nn.cross_entropy],
    )
    assert "val_cross_entropy" in h2.metrics and len(h2["val_loss"]) == 2
    with pytest.raises(ValueError, match="validation_split"):
        tg.fit(small_model(), "cross_entropy", X, y, validation_split=1.5)
    with pytest.raises(ValueError, match="one of validation_data and validation_split"):
        tg.fit(small_model(), "cross_entropy", X, y, validation_data=(Xv, yv), validation_split=0.2)


def test_callbacks_and_stopping_from_a_callback():
    X, y = blobs(20)
    events = []

    class Recorder(tg.train.Callback):
        def on_train_begin(self, model, history):
            events.append("begin")

        def on_batch_end(self, step, logs, model):
            events.append(("batch", step))

        def on_epoch_end(self, epoch, logs, model):
            events.append(("epoch", epoch, sorted(logs)))
            return epoch == 2

        def on_train_end(self, model, history):
            events.append("end")

    _, h = tg.fit(
        small_model(),
        "cross_entropy",
        X,
        y,
        batch_size=10,
        max_epochs=10,
        callbacks=[Recorder()],
        seed=0,
    )
    assert h.epochs == 2 and h.stop_reason == "stopped by a callback"
    assert events[0] == "begin" and events[-1] == "end"
    assert ("batch", 4) in events
    assert events[3] == ("epoch", 1, ["grad_norm", "loss", "lr", "time"])


def test_penalty_is_added_to_the_training_loss():
    X, y = blobs(20)
    m = small_model()
    _, h0 = tg.fit(m, "cross_entropy", X, y, max_epochs=1)
    _, h1 = tg.fit(m, "cross_entropy", X, y, max_epochs=1, penalty=lambda m: nn.l2_penalty(m, 1.0))
    np.testing.assert_allclose(h1.loss[0] - h0.loss[0], float(nn.l2_penalty(m, 1.0)))


def test_penalty_with_n_batch_gets_each_batch_size():
    X, y = blobs(20)
    seen = []

    def per_batch(m, n_batch):
        seen.append(n_batch)
        return nn.l2_penalty(m, 1.0 / n_batch)

    tg.fit(small_model(), "cross_entropy", X, y, batch_size=8, max_epochs=2, penalty=per_batch,
           jit=False)  # fmt: skip
    assert seen == [8, 8, 4] * 2
    # compiled (the default), the penalty runs when the step is traced: once per size
    seen.clear()
    tg.fit(small_model(), "cross_entropy", X, y, batch_size=8, max_epochs=2, penalty=per_batch)
    assert seen == [8, 4]
    # a two-argument penalty whose second parameter is not n_batch keeps its default
    m = small_model()
    _, h0 = tg.fit(m, "cross_entropy", X, y, max_epochs=1)
    _, h1 = tg.fit(m, "cross_entropy", X, y, max_epochs=1, penalty=lambda m, lam=1.0: lam)
    np.testing.assert_allclose(h1.loss[0] - h0.loss[0], 1.0)


def test_restore_best_applies_only_when_patience_stops_training():
    X, y = blobs(40)
    last = {}

    def keep_last(epoch, logs, model):
        last["model"] = model

    model, h = tg.fit(
        small_model(),
        "cross_entropy",
        X,
        y,
        max_epochs=3,
        patience=10,
        restore_best=True,
        callbacks=[keep_last],
    )
    assert h.stop_reason == "max_epochs=3 reached" and model is last["model"]


def test_batchnorm_and_dropout_model_trains_and_updates_running_statistics():
    X, y = blobs(64)
    model = nn.Sequential(
        nn.Linear(2, 8, rng=0), nn.BatchNorm(8), "relu", nn.Dropout(0.2), nn.Linear(8, 3, rng=1)
    )
    trained, h = tg.fit(
        model,
        "cross_entropy",
        X,
        y,
        optim.Adam(0.02),
        batch_size=16,
        max_epochs=15,
        seed=0,
        metrics=["accuracy"],
    )
    assert not np.allclose(trained.state()["layers.1.running_mean"], 0)
    assert h["accuracy"][-1] > 0.85
    with pytest.raises(tg.ShapeError, match="at least 2 samples"):
        tg.fit(model, "cross_entropy", X, y, batch_size=1, max_epochs=1, seed=0)


def test_float32_training_end_to_end():
    X, y = blobs(32)
    model = nn.Sequential(
        nn.Linear(2, 8, rng=0, dtype=np.float32),
        nn.BatchNorm(8, dtype=np.float32),
        "tanh",
        nn.Linear(8, 3, rng=1, dtype=np.float32),
    )
    recorded = set()

    class Recording:
        """The optimiser, noting the dtypes of the gradients it is given."""

        def __init__(self, inner):
            self.inner = inner

        def init(self, params):
            return self.inner.init(params)

        def update(self, params, grads, state):
            recorded.update(g.dtype for g in tg.tree.leaves(grads))
            return self.inner.update(params, grads, state)

    for opt in (optim.SGD(0.1, momentum=0.9), optim.Adam(0.01)):
        recorded.clear()
        trained, h = tg.fit(
            model,
            "cross_entropy",
            X.astype(np.float32),
            y,
            Recording(opt),
            batch_size=8,
            max_epochs=2,
            seed=0,
            penalty=lambda m: nn.l2_penalty(m, 1e-3),
        )
        params = {p.dtype for p in trained.parameters()}
        buffers = {b.dtype for b in trained.state().values()}
        state = [x for x in tg.tree.leaves(h.opt_state) if hasattr(x, "dtype")]
        assert params == buffers == {np.dtype(np.float32)}
        # momentum: one velocity per parameter; Adam: two moments per parameter
        assert len(state) >= len(trained.parameters())
        assert {x.dtype for x in state} == {np.dtype(np.float32)}, type(opt).__name__
        # the gradients fit hands the optimiser are float32 too
        assert recorded == {np.dtype(np.float32)}, type(opt).__name__


def test_errors_name_the_shapes():
    X, y = blobs(20)
    with pytest.raises(tg.ShapeError, match=r"X has 20 samples.*y has 19"):
        tg.fit(small_model(), "cross_entropy", X, y[:-1])
    # the messages name the shapes of the user's data, not those of fit's 2-sample probe
    with pytest.raises(tg.ShapeError, match=r"X of shape \(20, 2\).*\(N, 3\)") as err:
        tg.fit(nn.MLP([3, 4, 3], rng=0), "cross_entropy", X, y)
    assert "(2, 2)" not in str(err.value) and "got shape (20, 2)" in str(err.value)
    with pytest.raises(
        tg.ShapeError, match=r"outputs of shape \(N, 3\).*targets y of shape \(20, 2\)"
    ) as err:
        tg.fit(small_model(), "mse", X, np.ones((20, 2)))
    assert "(2, 3)" not in str(err.value) and "(20, 3)" in str(err.value)
    Xv = np.ones((7, 3))
    with pytest.raises(tg.ShapeError, match=r"X_val of shape \(7, 3\).*got shape \(7, 3\)"):
        tg.fit(small_model(), "cross_entropy", X, y, validation_data=(Xv, np.zeros(7, int)))


def test_progress_is_silent_off_a_terminal_and_plain_or_rich_when_asked(capsys):
    X, y = blobs(12)
    tg.fit(small_model(), "cross_entropy", X, y, max_epochs=2)
    assert capsys.readouterr().out == ""
    tg.fit(small_model(), "cross_entropy", X, y, max_epochs=2, progress=True)
    assert "2/2" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nonfinite_loss_is_an_error_naming_epoch_and_step():
    X, y = blobs(12)
    with pytest.raises(tg.train.NonFiniteLossError, match="epoch 1, step 1") as err:
        tg.fit(small_model(), lambda out, t: tnp.sum(out) * np.inf, X, y, max_epochs=5)
    assert (err.value.epoch, err.value.step) == (1, 1) and not np.isfinite(err.value.value)
    # a rate that diverges after a few steps: the error names the step it happened in
    with pytest.raises(tg.train.NonFiniteLossError) as err:
        tg.fit(small_model(), "mse", X, np.eye(3)[y], optim.SGD(1e150), max_epochs=50)
    assert err.value.step > 1 and err.value.epoch == err.value.step  # full batch


def test_resume_from_opt_state():
    X, y = blobs(20)
    opt = optim.SGD(0.1, momentum=0.9)
    full, _ = tg.fit(small_model(), "cross_entropy", X, y, opt, max_epochs=4)
    half, h = tg.fit(small_model(), "cross_entropy", X, y, opt, max_epochs=2)
    resumed, _ = tg.fit(half, "cross_entropy", X, y, opt, max_epochs=2, opt_state=h.opt_state)
    for p, q in zip(full.parameters(), resumed.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-13)


def test_plain_progress_prints_about_ten_lines_and_where_an_early_stop_ended(capsys):
    from tracegrad.train.progress import _Plain

    bar = _Plain(total=300)
    for epoch in range(1, 301):
        bar.update(epoch, {"loss": 1.0 / epoch})
    bar.close()
    lines = capsys.readouterr().out.splitlines()
    assert 10 <= len(lines) <= 12 and lines[-1].startswith("epoch 300/300")
    bar = _Plain(total=300)
    for epoch in range(1, 48):  # stopped early, between two printed epochs
        bar.update(epoch, {"loss": 1.0})
    bar.close()
    assert capsys.readouterr().out.splitlines()[-1].startswith("epoch 47/300")


@pytest.mark.parametrize("kind", ["plain", "dropout", "batchnorm"])
@pytest.mark.parametrize("batch_size", [None, 8])
def test_compiled_step_trains_like_the_eager_one(kind, batch_size):
    """jit=True (the default) replays the step where it can and runs it as it is where
    it cannot (Dropout's draws, BatchNorm's statistics): the same losses, gradient norms
    and parameters as jit=False, and no warning either way."""
    X, y = blobs(20)
    layers = [nn.Linear(2, 5, rng=0), nn.Activation("tanh")]
    if kind == "dropout":
        layers.append(nn.Dropout(0.3))
    elif kind == "batchnorm":
        layers.append(nn.BatchNorm(5))
    layers.append(nn.Linear(5, 3, rng=1))
    model = nn.Sequential(*layers)
    runs = []
    for jit in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            runs.append(
                tg.fit(model, "cross_entropy", X, y, batch_size=batch_size, max_epochs=3,
                       seed=0, penalty=lambda m: nn.l2_penalty(m, 1e-3), jit=jit)
            )  # fmt: skip
    (m1, h1), (m2, h2) = runs
    np.testing.assert_allclose(h1.loss, h2.loss, rtol=1e-12)
    np.testing.assert_allclose(h1.grad_norm, h2.grad_norm, rtol=1e-12)
    for a, b in zip(tg.tree.leaves(m1), tg.tree.leaves(m2)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def _outputs_after(X, y, w=None, batch_size=None, penalty=None, loss="cross_entropy"):
    trained, h = tg.fit(
        small_model(),
        loss,
        X,
        y,
        optim.Adam(0.01),
        batch_size=batch_size,
        max_epochs=20,
        seed=0,
        penalty=penalty,
        sample_weight=w,
        progress=False,
    )
    return np.asarray(trained(blobs(30)[0])), h


def test_sample_weight_integer_weights_repeat_and_zero_weights_drop_samples():
    X, y = blobs(30)
    w = np.random.default_rng(1).integers(0, 4, size=30)
    # a penalty by n_batch: the weighted batch counts Σw samples, as the repeated one
    pen = lambda m, n_batch: nn.l2_penalty(m, 0.5 / n_batch)  # noqa: E731
    for penalty in (None, pen):
        got, hw = _outputs_after(X, y, w, penalty=penalty)
        want, hr = _outputs_after(X.repeat(w, axis=0), y.repeat(w), penalty=penalty)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(hw.loss, hr.loss, rtol=1e-10)
    # unit weights change nothing, also in mini-batches; a 2-D loss is averaged per sample
    for loss, target in (("cross_entropy", y), ("mse", np.eye(3)[y])):
        got, _ = _outputs_after(X, target, np.ones(30), batch_size=7, loss=loss)
        want, _ = _outputs_after(X, target, None, batch_size=7, loss=loss)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # weights matter: not the unweighted fit
    assert not np.allclose(_outputs_after(X, y, w)[0], _outputs_after(X, y)[0])


def test_sample_weight_skips_weightless_batches_and_splits_with_validation():
    X, y = blobs(30)
    w = np.r_[np.zeros(10), np.ones(20)]
    _, h = tg.fit(
        small_model(),
        "cross_entropy",
        X,
        y,
        batch_size=10,
        max_epochs=2,
        shuffle=False,
        sample_weight=w,
        progress=False,
    )
    assert h.steps == 4  # the first batch of each epoch has no weight
    _, h = tg.fit(
        small_model(),
        "cross_entropy",
        X,
        y,
        max_epochs=2,
        validation_split=0.2,
        sample_weight=np.arange(30.0) + 1,
        progress=False,
        seed=0,
    )
    assert len(h.val_loss) == 2 and np.isfinite(h.val_loss).all()


def test_sample_weight_errors():
    X, y = blobs(10)
    for bad, match in (
        (np.ones(9), r"shape \(10,\)"),
        (np.ones((10, 1)), r"shape \(10,\)"),
        (-np.ones(10), "non-negative"),
        (np.full(10, np.nan), "finite"),
        (np.zeros(10), "zero for every sample"),
    ):
        with pytest.raises(ValueError, match=match):
            tg.fit(small_model(), "cross_entropy", X, y, sample_weight=bad, progress=False)
    with pytest.raises(TypeError, match="reduction='none'"):
        tg.fit(
            small_model(),
            lambda o, t: tnp.mean((o - t) ** 2),
            X,
            np.eye(3)[y],
            sample_weight=np.ones(10),
            progress=False,
        )
    with pytest.raises(ValueError, match="one value per"):
        tg.fit(
            small_model(),
            lambda o, t, reduction="mean": tnp.mean((o - t) ** 2),
            X,
            np.eye(3)[y],
            sample_weight=np.ones(10),
            progress=False,
        )
