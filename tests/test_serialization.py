"""Saving and loading models: round trips, atomic writes, clear errors for bad files."""

import os
import re

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


def _tampered(tmp_path, name, **changes):
    """A saved bn_model file with some arrays replaced."""
    model, _ = bn_model()
    good = tmp_path / "good.npz"
    nn.save(good, model)
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"params/layers.0.weight": np.ones((7, 7))},
            r"'params/layers.0.weight' has shape \(7, 7\).*Linear at 'layers.0'.*"
            r"needs shape \(3, 4\)",
        ),
        (
            {"params/layers.0.bias": np.ones(3)},
            r"'params/layers.0.bias' has shape \(3,\).*needs shape \(4,\)",
        ),
        (
            {"buffers/layers.1.running_var": np.ones(5)},
            r"'buffers/layers.1.running_var' has shape \(5,\).*BatchNorm.*needs shape \(4,\)",
        ),
        (
            {"params/layers.3.body.layers.0.weight": np.full((4, 4), "x")},
            r"'params/layers.3.body.layers.0.weight' has dtype <U1.*floating-point",
        ),
        (
            {"buffers/layers.1.running_mean": np.zeros(4, dtype=np.int64)},
            r"'buffers/layers.1.running_mean' has dtype int64.*floating-point",
        ),
    ],
)
def test_arrays_that_do_not_fit_the_configuration_are_rejected(tmp_path, change, message):
    path = _tampered(tmp_path, "tampered.npz", **change)
    with pytest.raises(nn.ModelFileError, match=message) as err:
        nn.load(path)
    assert str(path) in str(err.value)


def test_user_buffers_may_be_integer_and_standardize_is_checked(tmp_path):
    class Offsets(nn.Module):
        _buffer_names = ("index",)

        def __init__(self):
            self.index = np.array([2, 0, 1])

        def forward(self, x):
            return x[:, self.index]

    nn.save(tmp_path / "ok.npz", Offsets())
    np.testing.assert_array_equal(nn.load(tmp_path / "ok.npz").index, [2, 0, 1])
    nn.save(tmp_path / "std.npz", nn.Standardize(np.zeros(3), np.ones(3)))
    with np.load(tmp_path / "std.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["buffers/scale"] = np.ones(2)
    np.savez(tmp_path / "bad_std.npz", **arrays)
    with pytest.raises(nn.ModelFileError, match=r"'buffers/scale' has shape \(2,\).*\(3,\)"):
        nn.load(tmp_path / "bad_std.npz")


def test_pickled_and_object_files_never_suggest_loading_unsafely(tmp_path):
    import pickle

    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    text = tmp_path / "notes.txt"
    text.write_text("weights: 1 2 3\n" * 10)
    objects = tmp_path / "objects.npz"
    np.savez(objects, __tracegrad__=np.array([{"a": 1}], dtype=object))
    object_npy = tmp_path / "objects.npy"
    np.save(object_npy, np.array([{"a": 1}], dtype=object))
    for path, reason in [
        (pickled, "Python pickle"),
        (text, "neither an .npz archive nor an .npy array"),
        (objects, "holds Python objects"),
        (object_npy, ".npy array of Python objects"),
    ]:
        with pytest.raises(nn.ModelFileError) as err:
            nn.load(path)
        assert str(path) in str(err.value)
        message = str(err.value).replace(str(path), "<file>")  # the path names the test
        assert "not a tracegrad model file (.npz written by tracegrad.nn.save)" in message
        assert "allow_pickle" not in message and "unsafe" not in message
        assert re.search(reason, message), message
