"""tg.nn modules: pytree behaviour, layers, BatchNorm, Residual, Dropout, init, penalties."""

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp

nn = tg.nn


def _x(n=6, d=3, seed=1):
    return np.random.default_rng(seed).standard_normal((n, d))


# --- Module as a pytree ---------------------------------------------------------------


def test_grad_of_loss_is_model_shaped():
    model = nn.MLP([3, 5, 2], ["tanh", "identity"], rng=0)
    X, y = _x(), np.array([0, 1, 1, 0, 1, 0])
    g = tg.grad(lambda m: nn.cross_entropy(m(X), y))(model)
    assert type(g) is nn.MLP
    assert tg.tree.structure(g) == tg.tree.structure(model)
    assert list(g.named_parameters()) == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
    ]
    assert [p.shape for p in g.parameters()] == [p.shape for p in model.parameters()]
    num = tg.numerical_grad(lambda m: nn.cross_entropy(m(X), y), model)
    for a, b in zip(g.parameters(), num.parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_static_configuration_is_not_a_leaf():
    model = nn.MLP([3, 4, 2], "relu", rng=0)
    leaves = tg.tree.leaves(model)
    assert len(leaves) == 4 and all(isinstance(p, np.ndarray) for p in leaves)
    bn = nn.BatchNorm(4)
    assert len(tg.tree.leaves(bn)) == 2  # γ, β; running statistics are buffers
    assert set(bn.state()) == {"running_mean", "running_var"}


def test_tree_map_gradient_step_and_structure_checks():
    model = nn.Linear(3, 2, rng=0)
    stepped = tg.tree.map(lambda p: p - 0.1, model)
    np.testing.assert_allclose(stepped.weight, model.weight - 0.1)
    with pytest.raises(ValueError, match="structures differ"):
        tg.tree.map(lambda a, b: a, model, nn.Linear(3, 2, bias=False, rng=0))


def test_modules_are_immutable_and_replace_copies():
    lin = nn.Linear(2, 2, rng=0)
    with pytest.raises(AttributeError, match="immutable.*replace"):
        lin.weight = np.zeros((2, 2))
    new = lin.replace(weight=np.zeros((2, 2)))
    assert np.all(new.weight == 0) and not np.all(lin.weight == 0)


def test_repr_and_summary_show_parameter_counts():
    model = nn.MLP([2, 16, 3], ["sigmoid", "identity"], bias=False, rng=0)
    text = repr(model)
    assert "MLP(sizes=(2, 16, 3), activations=(sigmoid, identity))" in text
    assert "Linear(2 → 16, bias=False)  # 32 params" in text
    assert "Total: 80 parameters (float64)" in text
    assert "layers.1.weight" in model.summary() and model.num_params() == 80


# --- gradients of every layer (float64, order 2, away from kinks) ----------------------


LAYERS = {
    "linear": lambda: nn.Linear(3, 4, rng=0),
    "linear_nobias": lambda: nn.Linear(3, 4, bias=False, rng=0),
    "mlp_seed000": lambda: nn.MLP([3, 4, 4, 3], ["tanh", "relu", "softmax"], rng=0),
    "mlp_sigmoid": lambda: nn.MLP([3, 4, 2], "sigmoid", rng=0),
    "sequential": lambda: nn.Sequential(nn.Linear(3, 4, rng=0), "tanh", nn.Linear(4, 2, rng=1)),
    "residual": lambda: nn.Residual(nn.Sequential(nn.Linear(3, 3, rng=0), "tanh")),
    "residual_proj": lambda: nn.Residual(nn.Linear(3, 2, rng=0), shortcut=nn.Linear(3, 2, rng=1)),
    "batchnorm": lambda: nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm(4), "tanh"),
    "dropout": lambda: nn.Sequential(nn.Linear(3, 4, rng=0), nn.Dropout(0.3)),
    "leaky": lambda: nn.Sequential(nn.Linear(3, 4, rng=0), "leaky_relu"),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_check_grads(name):
    model = LAYERS[name]()
    X = _x()
    w = np.random.default_rng(5).standard_normal(model(X).shape)

    def f(m, x):
        y, _ = m.apply(x, train=True, rng=3)  # fixed seed: the same dropout mask each call
        return tnp.sum(tnp.tanh(y) * w)

    tg.check_grads(f, (model, X), order=2)


@pytest.mark.parametrize(
    "act", ["tanh", "relu", "sigmoid", "softmax", "log_softmax", "identity", "leaky_relu"]
)
def test_activation_check_grads(act):
    fn = nn.get_activation(act)
    x = _x(4, 3) + 0.05 * np.sign(_x(4, 3))  # keep away from relu's kink
    w = np.random.default_rng(2).standard_normal(x.shape)
    tg.check_grads(lambda x: tnp.sum(fn(x) * w), (x,), order=2)


def test_activation_values():
    x = np.array([[-2.0, 0.5, 3.0]])
    np.testing.assert_allclose(nn.relu(x), [[0, 0.5, 3]])
    np.testing.assert_allclose(nn.leaky_relu(x), [[-0.02, 0.5, 3]])
    np.testing.assert_allclose(nn.sigmoid(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(nn.softmax(x).sum(-1), 1.0)
    np.testing.assert_allclose(nn.log_softmax(x), np.log(nn.softmax(x)))
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        nn.MLP([2, 2], ["swishy"])


# --- Linear, MLP -----------------------------------------------------------------------


def test_linear_computes_x_at_w_plus_b_and_names_shapes():
    W, b = np.arange(6.0).reshape(3, 2), np.array([1.0, -1.0])
    lin = nn.Linear.from_arrays(W, b)
    X = _x()
    np.testing.assert_allclose(lin(X), X @ W + b)
    with pytest.raises(tg.ShapeError, match=r"Linear\(3 → 2\).*\(N, 3\).*got shape \(6, 4\)"):
        lin(_x(6, 4))


def test_mlp_seed000_architecture():
    model = nn.MLP([4, 8, 8, 8, 3], ["tanh", "relu", "relu", "softmax"], rng=0)
    out = model(_x(5, 4))
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert model.activations == ("tanh", "relu", "relu", "softmax")
    with pytest.raises(ValueError, match="4 layers and needs 4 activations, got 2"):
        nn.MLP([4, 8, 8, 8, 3], ["tanh", "relu"])
    own = nn.MLP([2, 3, 1], [np.tanh, lambda z: z])  # functions work too
    assert own(_x(2, 2)).shape == (2, 1)


def test_mlp_single_activation_means_hidden_layers_and_linear_output():
    model = nn.MLP([2, 3, 3, 1], "relu")
    assert model.activations == ("relu", "relu", "identity")


# --- BatchNorm ---------------------------------------------------------------------------


def test_batchnorm_training_normalises_by_the_batch():
    bn = nn.BatchNorm(3)
    X = _x(8, 3) * 4 + 2
    y, state = bn.apply(X, train=True)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(0), X.var(0) / (X.var(0) + 1e-5))
    # PyTorch's convention: momentum 0.1 is the weight of the new batch statistic,
    # the running variance takes the unbiased batch variance
    np.testing.assert_allclose(state["running_mean"], 0.9 * 0 + 0.1 * X.mean(0))
    np.testing.assert_allclose(state["running_var"], 0.9 * 1 + 0.1 * X.var(0, ddof=1))


def test_batchnorm_evaluation_uses_running_statistics():
    bn = nn.BatchNorm(3, momentum=0.5)
    X = _x(8, 3) * 3 + 1
    _, state = bn.apply(X, train=True)
    bn2 = bn.with_state(state)
    assert bn.state()["running_mean"].sum() == 0  # the original is unchanged (pure)
    expected = (X - state["running_mean"]) / np.sqrt(state["running_var"] + 1e-5)
    np.testing.assert_allclose(bn2(X), expected)
    y_eval, s_eval = bn2.apply(X, train=False)
    assert s_eval == {}
    np.testing.assert_allclose(y_eval, expected)


def test_batchnorm_gradients_flow_through_the_batch_statistics():
    bn = nn.BatchNorm(3).replace(gamma=np.array([1.5, 0.5, 2.0]), beta=np.array([0.1, 0, -1]))
    X = _x(5, 3)
    w = np.random.default_rng(4).standard_normal((5, 3))
    f = lambda x: tnp.sum(bn.apply(x, train=True)[0] * w)
    g = tg.grad(f)(X)
    np.testing.assert_allclose(g, tg.numerical_grad(f, X), rtol=1e-6, atol=1e-8)
    # treating μ, σ as constants would give w·γ/σ; the batch statistics change that
    naive = w * bn.gamma / np.sqrt(X.var(0) + 1e-5)
    assert np.abs(g - naive).max() > 1e-2
    # and the sum of a normalised column does not depend on x at all
    np.testing.assert_allclose(
        tg.grad(lambda x: tnp.sum(bn.apply(x, train=True)[0]))(X), 0, atol=1e-12
    )


def test_batchnorm_state_paths_in_a_model_and_errors():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm(4))
    _, state = model.apply(_x(), train=True)
    assert set(state) == {"layers.1.running_mean", "layers.1.running_var"}
    assert (
        model.with_state(state).state()["layers.1.running_mean"] is state["layers.1.running_mean"]
    )
    with pytest.raises(KeyError, match="no buffers"):
        model.with_state({"nope": np.zeros(4)})
    with pytest.raises(tg.ShapeError, match="at least 2 samples"):
        model.apply(_x(1, 3), train=True)


def test_batchnorm_state_through_grad_has_aux():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm(4), "tanh")
    X = _x()

    def loss(m):
        y, state = m.apply(X, train=True)
        return tnp.sum(y**2), state

    (value, state), g = tg.value_and_grad(loss, has_aux=True)(model)
    assert all(type(v) is np.ndarray for v in state.values())
    assert tg.tree.structure(g) == tg.tree.structure(model.with_state(state))


# --- Residual ----------------------------------------------------------------------------


def test_residual_gradients_flow_through_both_branches():
    lin = nn.Linear(3, 3, rng=0)
    res = nn.Residual(lin)
    X = _x(2, 3)
    gx = tg.grad(lambda x: tnp.sum(res(x)))(X)
    # d/dx Σ (x W + b + x) = W·1 + 1: the skip branch contributes the 1
    np.testing.assert_allclose(gx, np.tile(lin.weight.sum(1) + 1.0, (2, 1)))
    gm = tg.grad(lambda m: tnp.sum(m(X)))(res)
    np.testing.assert_allclose(gm.body.weight, np.tile(X.sum(0)[:, None], (1, 3)))


def test_residual_shape_mismatch_names_shapes():
    with pytest.raises(tg.ShapeError, match=r"\(6, 2\).*\(6, 3\).*shortcut"):
        nn.Residual(nn.Linear(3, 2, rng=0))(_x())


# --- Dropout -----------------------------------------------------------------------------


def test_dropout():
    X = np.ones((200, 50))
    d = nn.Dropout(0.25)
    np.testing.assert_array_equal(d(X), X)  # evaluation mode: identity
    y1 = d.apply(X, train=True, rng=7)[0]
    y2 = d.apply(X, train=True, rng=np.random.default_rng(7))[0]
    np.testing.assert_array_equal(y1, y2)
    assert set(np.unique(y1)) == {0.0, 1 / 0.75}
    assert abs((y1 == 0).mean() - 0.25) < 0.02
    with pytest.raises(ValueError, match="rng="):
        d.apply(X, train=True)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.Dropout(1.0)


# --- initialisers ------------------------------------------------------------------------


def test_initialisers_repeatable_and_scaled():
    init = nn.init
    a = init.glorot_uniform(np.random.default_rng(0), (200, 300))
    b = init.glorot_uniform(np.random.default_rng(0), (200, 300))
    np.testing.assert_array_equal(a, b)
    assert abs(a.std() - np.sqrt(2 / 500)) < 0.002
    h = init.he_normal(np.random.default_rng(1), (400, 300))
    assert abs(h.std() - np.sqrt(2 / 400)) < 0.003
    s = init.small_normal(np.random.default_rng(2), (3, 16))
    np.testing.assert_allclose(s, np.random.default_rng(2).standard_normal((3, 16)) * 0.01)
    assert init.glorot_normal(np.random.default_rng(0), (2, 2), np.float32).dtype == np.float32
    m1 = nn.MLP([4, 8, 2], rng=3)
    m2 = nn.MLP([4, 8, 2], rng=3)
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p, q)
    with pytest.raises(ValueError, match="unknown initialiser"):
        nn.Linear(2, 2, init="orthogonal-ish")


# --- penalties ---------------------------------------------------------------------------


def _bn_model():
    return nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm(4), "tanh", nn.Linear(4, 2, rng=1))


def test_l2_penalty_value_and_gradient_touch_weights_only():
    model, lam = _bn_model(), 0.3
    W1, W2 = model[0].weight, model[3].weight
    value = nn.l2_penalty(model, lam)
    np.testing.assert_allclose(value, lam / 2 * (np.sum(W1**2) + np.sum(W2**2)))
    g = tg.grad(lambda m: nn.l2_penalty(m, lam))(model)
    np.testing.assert_allclose(g[0].weight, lam * W1)  # (λ/2)‖W‖² → gradient λW
    np.testing.assert_allclose(g[3].weight, lam * W2)
    for p in (g[0].bias, g[3].bias, g[1].gamma, g[1].beta):
        assert np.all(p == 0)
    tg.check_grads(lambda m: nn.l2_penalty(m, lam), (model,), order=2)


def test_l1_penalty_value_gradient_and_plain_pytrees():
    model, lam = _bn_model(), 0.2
    np.testing.assert_allclose(
        nn.l1_penalty(model, lam),
        lam * (np.abs(model[0].weight).sum() + np.abs(model[3].weight).sum()),
    )
    g = tg.grad(lambda m: nn.l1_penalty(m, lam))(model)
    np.testing.assert_allclose(g[0].weight, lam * np.sign(model[0].weight))
    assert np.all(g[1].gamma == 0) and np.all(g[0].bias == 0)
    tg.check_grads(lambda m: nn.l1_penalty(m, lam), (model,), order=2)
    params = {"W": np.ones((2, 2)), "b": np.ones(2)}
    assert float(nn.l2_penalty(params, 1.0)) == 2.0


# --- float32 -------------------------------------------------------------------------------


def test_float32_forward_and_gradients_stay_float32():
    model = nn.Sequential(
        nn.Linear(3, 4, rng=0, dtype=np.float32),
        nn.BatchNorm(4, dtype=np.float32),
        "relu",
        nn.Linear(4, 3, rng=1, dtype=np.float32),
    )
    X = _x().astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])

    def loss(m):
        out, state = m.apply(X, train=True)
        return nn.cross_entropy(out, y) + nn.l2_penalty(m, 1e-3), state

    (value, state), g = tg.value_and_grad(loss, has_aux=True)(model)
    assert np.asarray(value).dtype == np.float32
    assert {p.dtype for p in g.parameters()} == {np.dtype(np.float32)}
    assert {v.dtype for v in state.values()} == {np.dtype(np.float32)}
    assert model.astype(np.float64).parameters()[0].dtype == np.float64


# --- Predictor ------------------------------------------------------------------------


def test_predictor_output_is_validated_and_defaults_by_task():
    X = _x(8, 2)
    scaler = nn.Standardize.fit(X)
    net = nn.MLP([2, 3], rng=0)
    clf = nn.Predictor(net, scaler, task="classification", feature_names=["a", "b"])
    assert clf.output == "logits"
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    reg_net = nn.MLP([2, 1], rng=0)
    reg = nn.Predictor(
        reg_net, scaler, task="regression", feature_names=["a", "b"], target_mean=2.0
    )
    assert reg.output == "values"
    np.testing.assert_allclose(reg.predict(X), 2.0 + reg_net(scaler(X))[:, 0])
    with pytest.raises(ValueError, match=r"'logits', 'probabilities' for classification.*'prob'"):
        nn.Predictor(net, scaler, task="classification", feature_names="ab", output="prob")
    with pytest.raises(ValueError, match=r"one of 'values' for regression, got 'logits'"):
        nn.Predictor(reg_net, scaler, task="regression", feature_names="ab", output="logits")


def test_modules_walks_the_model_in_named_modules_order():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), "tanh", nn.Residual(nn.Linear(4, 4, rng=1)))
    assert model.modules() == [m for _, m in model.named_modules()]
    assert [type(m).__name__ for m in model.modules()] == [
        "Sequential", "Linear", "Activation", "Residual", "Linear"
    ]  # fmt: skip
    params = model.parameters()
    assert len(params) == 4  # weight and bias of the two Linear layers
    assert all(a is b for a, b in zip(params, model.named_parameters().values()))
    assert all(a is b for a, b in zip(params, tg.tree.leaves(model)))


def test_flattening_is_kept_on_the_module_and_rebuilt_where_it_changes(tmp_path):
    """tree.flatten keeps a module's leaves and structure on it (modules are immutable:
    sequences of sub-modules become tuples); copies with new parameters or buffers, and
    pickled models, flatten afresh."""
    import pickle

    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm(4), nn.Linear(4, 2, rng=1))
    assert type(model.layers) is tuple
    leaves, td = tg.tree.flatten(model)
    leaves2, td2 = tg.tree.flatten(model)
    assert td2 is td and all(a is b for a, b in zip(leaves, leaves2))
    # a replaced parameter: its own leaves
    w = np.ones((3, 4))
    first = model.layers[0].replace(weight=w)
    assert tg.tree.leaves(first)[0] is w
    # new running statistics: a new structure (the buffers ride in the static data)
    x = np.random.default_rng(0).standard_normal((8, 3))
    updated = model.with_state(model.apply(x, train=True)[1])
    new_td = tg.tree.structure(updated)
    assert new_td is not td
    bn_old, bn_new = td.children[0].children[1], new_td.children[0].children[1]
    assert bn_new.aux.buffers[0] is not bn_old.aux.buffers[0]
    # a rebuilt model, and a pickled one, give the same leaves and structure
    rebuilt = tg.tree.unflatten(td, [np.asarray(v) * 2 for v in leaves])
    np.testing.assert_allclose(tg.tree.leaves(rebuilt)[0], 2 * leaves[0])
    for copy in (pickle.loads(pickle.dumps(model)), _saved_and_loaded(model, tmp_path)):
        assert type(copy.layers) is tuple
        lc, tdc = tg.tree.flatten(copy)
        assert tdc == td and all(np.array_equal(a, b) for a, b in zip(lc, leaves))


def _saved_and_loaded(model, tmp_path):
    path = tmp_path / "model.npz"
    nn.save(path, model)
    return nn.load(path)


def test_structure_and_rebuild_round_trip():
    """Module.structure gives the attributes by kind, Module.rebuild makes the module back
    without __init__ (what nn.save and nn.load use)."""
    model = tg.nn.Sequential(
        tg.nn.Linear(3, 4, rng=0), tg.nn.BatchNorm(4), tg.nn.Linear(4, 2, rng=1)
    )
    bn = model.layers[1]
    s = bn.structure()
    assert set(s.params) == {"gamma", "beta"} and "running_mean" in s.buffers
    assert "eps" in s.static and not s.modules
    again = type(bn).rebuild(s)
    assert again is not bn and again.structure().static == s.static
    for name, value in {**s.params, **s.buffers}.items():
        assert getattr(again, name) is value
    whole = type(model).rebuild(model.structure())
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_array_equal(whole(x), model(x))
    assert tg.tree.structure(whole) == tg.tree.structure(model)
