"""Saving and loading models: round trips, atomic writes, clear errors for bad files."""

import os

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp

nn = tg.nn


def bn_model(dtype=np.float64):
    model = nn.Sequential(
        nn.Linear(3, 4, rng=0, dtype=dtype),
        nn.BatchNorm(4, momentum=0.2, dtype=dtype),
        "relu",
        nn.Residual(nn.Sequential(nn.Linear(4, 4, rng=1, dtype=dtype), "tanh")),
        nn.Dropout(0.1),
        nn.Linear(4, 2, bias=False, rng=2, dtype=dtype),
    )
    X = np.random.default_rng(0).standard_normal((8, 3)).astype(dtype)
    _, state = model.apply(X, train=True, rng=0)
    return model.with_state(state), X


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_keeps_configuration_parameters_and_state(tmp_path, dtype):
    model, X = bn_model(dtype)
    path = tmp_path / "model.npz"
    nn.save(path, model)
    loaded = nn.load(path)
    assert tg.tree.structure(loaded) == tg.tree.structure(model)
    assert repr(loaded) == repr(model)
    for (k, p), (k2, q) in zip(model.named_parameters().items(), loaded.named_parameters().items()):
        assert k == k2 and q.dtype == p.dtype
        np.testing.assert_array_equal(p, q)
    for k, v in model.state().items():
        np.testing.assert_array_equal(loaded.state()[k], v)
    np.testing.assert_array_equal(loaded(X), model(X))
    assert loaded[1].momentum == 0.2 and loaded[5].bias is None
    # the loaded model trains like the original
    g = tg.grad(lambda m: tnp.sum(m(X) ** 2))(loaded)
    assert tg.tree.structure(g) == tg.tree.structure(model)


def test_mlp_with_activation_functions_and_method_save(tmp_path):
    model = nn.MLP([2, 5, 3], [nn.tanh, "softmax"], rng=0)
    model.save(tmp_path / "mlp.npz")
    loaded = nn.load(tmp_path / "mlp.npz")
    assert loaded.activations == (nn.tanh, "softmax") and loaded.sizes == (2, 5, 3)
    X = np.ones((2, 2))
    np.testing.assert_array_equal(loaded(X), model(X))


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    model, _ = bn_model()
    nn.save(path, model)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        nn.save(path, nn.MLP([2, 2], rng=0))
    assert path.read_bytes() == before  # the old file is intact
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind


def test_corrupt_truncated_and_foreign_files_name_the_file(tmp_path):
    model, _ = bn_model()
    good = tmp_path / "good.npz"
    nn.save(good, model)
    data = good.read_bytes()

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a model\x00\x01" * 10)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.ones(3))
    single = tmp_path / "single.npy"
    np.save(single, np.ones(3))
    for path, message in [
        (garbage, "not a tracegrad model file"),
        (truncated, "corrupt or truncated|not a tracegrad model file"),
        (foreign, "not a tracegrad model file.*__tracegrad__"),
        (single, "single .npy array"),
    ]:
        with pytest.raises(nn.ModelFileError, match=message) as err:
            nn.load(path)
        assert str(path) in str(err.value)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        nn.load(tmp_path / "missing.npz")


def test_unsaveable_configuration_is_a_clear_error(tmp_path):
    model = nn.MLP([2, 2], [lambda z: z * 2], rng=0)
    with pytest.raises(TypeError, match="register_activation"):
        nn.save(tmp_path / "m.npz", model)
    assert not (tmp_path / "m.npz").exists()


class Scaled(nn.Module):
    """A user-defined module: a learnable scale and a fixed offset."""

    def __init__(self, n, offset=1.0):
        self.scale = np.full(n, 2.0)
        self.offset = offset

    def forward(self, x):
        return x * self.scale + self.offset


def test_user_defined_module_round_trip(tmp_path):
    model = nn.Sequential(Scaled(3, offset=0.5), nn.Linear(3, 1, rng=0))
    nn.save(tmp_path / "custom.npz", model)
    loaded = nn.load(tmp_path / "custom.npz")
    assert isinstance(loaded[0], Scaled) and loaded[0].offset == 0.5
    X = np.ones((2, 3))
    np.testing.assert_array_equal(loaded(X), model(X))
