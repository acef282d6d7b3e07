"""Fused layer primitives (tracegrad.nn.functional), the joint VJP rules under them and
the backward sweep's in-place accumulation.

* values against written-out NumPy formulas, float32 kept float32;
* softmax cross-entropy with ``-inf`` logits on classes of weight 0, labels = one-hot;
* error messages naming the shapes and values;
* ``nn.Linear``, ``nn.MLP``, ``nn.cross_entropy`` and ``nn.l2_penalty`` against the
  unfused compositions in tracegrad.numpy (values, gradients, a Hessian);
* ``tg.defvjp_joint`` on a user-defined primitive;
* cotangent buffers that the sweep adds into in place are never shared with anything
  else: gradients, seeds and inputs stay intact.

(The systematic derivative checks of the three primitives live in
tests/test_ops_systematic.py.)
"""

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad import nn
from tracegrad.core.primitive import ShapeError
from tracegrad.nn.functional import dense, softmax_cross_entropy, sum_of_squares

ACTIVATIONS = ["identity", "tanh", "sigmoid", "relu"]

NP_ACT = {
    "identity": lambda z: z,
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "relu": lambda z: np.maximum(z, 0.0),
}
#: derivative of each activation as a function of its output
NP_ACT_DERIV = {
    "identity": lambda y: np.ones_like(y),
    "tanh": lambda y: 1.0 - y * y,
    "sigmoid": lambda y: y * (1.0 - y),
    "relu": lambda y: (y > 0).astype(y.dtype),
}
TNP_ACT = {"identity": lambda z: z, "tanh": tnp.tanh, "sigmoid": tnp.sigmoid, "relu": tnp.relu}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _dense_inputs(rng, x_shape=(5, 4), n_out=3):
    """x, W, b with every pre-activation at least 0.1 away from relu's kink."""
    for _ in range(1000):
        x = rng.standard_normal(x_shape)
        w = rng.standard_normal((x_shape[-1], n_out))
        b = rng.standard_normal(n_out)
        if np.min(np.abs(x @ w + b)) > 0.1:
            return x, w, b
    raise RuntimeError("no inputs away from the kink")


def _np_log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _np_sce(z, y, reduction="mean"):
    if np.issubdtype(np.asarray(y).dtype, np.integer):
        y = np.eye(z.shape[-1])[y]
    total = -np.sum(y * _np_log_softmax(z))
    return total / (np.prod(z.shape[:-1]) if reduction == "mean" else 1)


def _assert_trees_close(a, b, rtol=1e-12, atol=1e-12):
    la, lb = tg.tree.leaves(a), tg.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        assert np.shape(x) == np.shape(y)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


# --- values against NumPy --------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape", [(5, 4), (4,), (2, 3, 4)], ids=["2d", "1d", "3d"])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_dense_value_and_gradients_against_numpy(act, x_shape, dtype):
    x, w, b = (a.astype(dtype) for a in _dense_inputs(_rng(1), x_shape))
    out = dense(x, w, b, act)
    assert out.dtype == dtype and out.shape == x_shape[:-1] + (3,)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    y = NP_ACT[act](x64 @ w64 + b64)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(out, y, rtol=tol, atol=tol)
    np.testing.assert_allclose(
        dense(x, w, activation=act), NP_ACT[act](x64 @ w64), rtol=tol, atol=tol
    )

    # hand-written backprop for a random output weighting V
    v = _rng(2).standard_normal(out.shape).astype(dtype)
    gz = v * NP_ACT_DERIV[act](y)
    gz2 = gz.reshape(-1, 3)
    expected = (gz @ w64.T, x64.reshape(-1, 4).T @ gz2, gz2.sum(axis=0))
    grads = tg.grad(lambda x, w, b: tnp.sum(v * dense(x, w, b, act)), argnums=(0, 1, 2))(x, w, b)
    for g, e in zip(grads, expected):
        assert g.dtype == dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("kind", ["labels", "onehot", "probs"])
@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 4), (4,)], ids=["2d", "3d", "1d"])
def test_softmax_cross_entropy_value_and_gradient_against_numpy(shape, kind, reduction, dtype):
    rng = _rng(3)
    z = (3.0 * rng.standard_normal(shape)).astype(dtype)
    labels = rng.integers(0, shape[-1], shape[:-1])
    if kind == "labels":
        y = labels
    elif kind == "onehot":
        y = np.eye(shape[-1], dtype=dtype)[labels]
    else:
        y = rng.uniform(0.1, 1.0, shape).astype(dtype)
        y /= y.sum(axis=-1, keepdims=True)
    out = softmax_cross_entropy(z, y, reduction)
    assert np.result_type(out) == dtype and np.shape(out) == ()
    z64 = z.astype(np.float64)
    y64 = y if kind == "labels" else y.astype(np.float64)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, _np_sce(z64, y64, reduction), rtol=tol, atol=tol)

    # d/dz = (softmax(z) Σ_c y_c - y) / N;  d/dy = -log softmax(z) / N
    yw = np.eye(shape[-1])[labels] if kind == "labels" else y64
    n = np.prod(shape[:-1]) if reduction == "mean" else 1
    p = np.exp(_np_log_softmax(z64))
    gz = tg.grad(lambda z: 2.0 * softmax_cross_entropy(z, y, reduction))(z)
    assert gz.dtype == dtype and gz.shape == shape
    np.testing.assert_allclose(
        gz, 2.0 * (p * yw.sum(-1, keepdims=True) - yw) / n, rtol=tol, atol=tol
    )
    if kind != "labels":
        gy = tg.grad(lambda y: softmax_cross_entropy(z, y, reduction))(y)
        assert gy.dtype == dtype and gy.shape == shape
        np.testing.assert_allclose(gy, -_np_log_softmax(z64) / n, rtol=tol, atol=tol)


def test_softmax_cross_entropy_is_stable_for_large_logits():
    z = np.array([[1000.0, -1000.0, 999.0], [-1000.0, -999.0, -1001.0]])
    y = np.array([2, 0])
    value = softmax_cross_entropy(z, y)
    expected = 0.5 * ((1.0 + np.log1p(np.exp(-1.0))) + (1.0 + np.log(1 + np.exp(-1) + np.exp(-2))))
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    g = tg.grad(lambda z: softmax_cross_entropy(z, y))(z)
    assert np.all(np.isfinite(g))
    p = np.exp(_np_log_softmax(z))
    np.testing.assert_allclose(g, (p - np.eye(3)[y]) / 2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g.sum(axis=-1), 0.0, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sum_of_squares_value_and_gradient(dtype):
    rng = _rng(4)
    ws = [rng.standard_normal(s).astype(dtype) for s in [(3, 2), (4,), (), (2, 2, 3)]]
    ws[1] = ws[1][::2]  # a non-contiguous view
    out = sum_of_squares(*ws, scale=0.3)
    assert np.result_type(out) == dtype
    expected = 0.3 * sum(np.sum(w.astype(np.float64) ** 2) for w in ws)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out, expected, rtol=tol)
    np.testing.assert_allclose(sum_of_squares(*ws), expected / 0.3, rtol=tol)
    grads = tg.grad(lambda *ws: sum_of_squares(*ws, scale=0.3), argnums=(0, 1, 2, 3))(*ws)
    for g, w in zip(grads, ws):
        assert np.result_type(g) == dtype and np.shape(g) == w.shape
        np.testing.assert_allclose(g, 0.6 * w, rtol=tol)


def test_sum_of_squares_edge_cases():
    assert sum_of_squares(scale=2.0) == 0.0
    mixed = sum_of_squares(np.ones(2, np.float32), np.full(3, 2.0))
    assert np.result_type(mixed) == np.float64 and mixed == 14.0
    assert sum_of_squares(np.array([[1, 2], [3, 4]]), scale=0.5) == 15.0  # integers
    # gradient of the same array passed twice: 2 · scale · w from each occurrence
    w = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(tg.grad(lambda w: sum_of_squares(w, w, scale=1.5))(w), 6.0 * w)


def test_dense_jvp_against_numpy():
    x, w, b = _dense_inputs(_rng(5))
    rng = _rng(6)
    tx, tw, tb = (rng.standard_normal(a.shape) for a in (x, w, b))
    for act in ACTIVATIONS:
        y = NP_ACT[act](x @ w + b)
        expected = NP_ACT_DERIV[act](y) * (tx @ w + x @ tw + tb)
        out, t = tg.jvp(lambda x, w, b, a=act: dense(x, w, b, a), (x, w, b), (tx, tw, tb))
        np.testing.assert_allclose(out, y, rtol=1e-12)
        np.testing.assert_allclose(t, expected, rtol=1e-10, atol=1e-12)
        # a tangent of the bias alone has the output's shape, broadcast over the samples
        _, tb_only = tg.jvp(lambda b, a=act: dense(x, w, b, a), (b,), (tb,))
        assert np.shape(tb_only) == y.shape
        np.testing.assert_allclose(tb_only, NP_ACT_DERIV[act](y) * tb, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_dense_jvp_float32_stays_float32(act):
    x, w, b = (a.astype(np.float32) for a in _dense_inputs(_rng(7)))
    _, t = tg.jvp(lambda w: dense(x, w, b, act), (w,), (np.ones_like(w),))
    assert np.result_type(t) == np.float32


def test_jacobians_of_dense_match_unfused():
    x, w, b = _dense_inputs(_rng(8), (3, 4), 2)
    for act in ACTIVATIONS:
        fused = lambda w, a=act: dense(x, w, b, a)
        plain = lambda w, a=act: TNP_ACT[a](x @ w + b)
        expected = tg.jacrev(plain)(w)
        assert expected.shape == (3, 2, 4, 2)
        np.testing.assert_allclose(tg.jacrev(fused)(w), expected, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(tg.jacfwd(fused)(w), expected, rtol=1e-12, atol=1e-14)


# --- -inf logits and integer labels -----------------------------------------------------

Z_INF = np.array([[1.0, -np.inf, 0.5, 2.0], [0.3, -np.inf, -1.0, 0.0], [-0.5, -np.inf, 1.5, 0.2]])
Y_INF = np.array([[0.2, 0.0, 0.3, 0.5], [0.0, 0.0, 1.0, 0.0], [0.6, 0.0, 0.0, 0.4]])
KEEP = [0, 2, 3]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_minus_inf_logit_on_zero_weight_class_equals_class_removed(reduction):
    value = softmax_cross_entropy(Z_INF, Y_INF, reduction)
    removed = softmax_cross_entropy(Z_INF[:, KEEP], Y_INF[:, KEEP], reduction)
    assert np.isfinite(value)
    np.testing.assert_allclose(value, removed, rtol=1e-14)
    np.testing.assert_allclose(
        value, _np_sce(Z_INF[:, KEEP], Y_INF[:, KEEP], reduction), rtol=1e-12
    )

    def f(z, y):
        return softmax_cross_entropy(z, y, reduction)

    gz, gy = tg.grad(f, argnums=(0, 1))(Z_INF, Y_INF)
    rz, ry = tg.grad(f, argnums=(0, 1))(Z_INF[:, KEEP], Y_INF[:, KEEP])
    assert np.all(np.isfinite(gz)) and np.all(np.isfinite(gy))
    np.testing.assert_allclose(gz[:, KEEP], rz, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(gz[:, 1], 0.0)
    np.testing.assert_allclose(gy[:, KEEP], ry, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(gy[:, 1], 0.0)  # 0 · log 0 = 0, as nn.nll
    # the unfused loss with the same convention agrees everywhere
    uz, uy = tg.grad(
        lambda z, y: nn.nll(tnp.log_softmax(z, axis=-1), y, reduction), argnums=(0, 1)
    )(Z_INF, Y_INF)
    np.testing.assert_allclose(gz, uz, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gy, uy, rtol=1e-12, atol=1e-15)


def test_minus_inf_logit_forward_mode_and_hessian_are_finite():
    _, t = tg.jvp(lambda z: softmax_cross_entropy(z, Y_INF), (Z_INF,), (np.ones_like(Z_INF),))
    assert np.isfinite(t) and abs(t) < 1e-14  # softmax - y sums to zero per row
    h = tg.hessian(lambda z: softmax_cross_entropy(z, Y_INF))(Z_INF)
    hr = tg.hessian(lambda z: softmax_cross_entropy(z, Y_INF[:, KEEP]))(Z_INF[:, KEEP])
    assert np.all(np.isfinite(h))
    np.testing.assert_allclose(h[:, KEEP][:, :, :, KEEP], hr, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(h[:, 1], 0.0)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("with_inf", [False, True])
def test_integer_labels_equal_one_hot_targets(with_inf, reduction):
    rng = _rng(9)
    z = rng.standard_normal((2, 3, 5))
    labels = np.array([[0, 4, 2], [3, 3, 1]])
    if with_inf:  # masked classes that are never a label
        z[0, 0, 1] = z[1, 2, 4] = -np.inf
    onehot = np.eye(5)[labels]
    v1, g1 = tg.value_and_grad(lambda z: softmax_cross_entropy(z, labels, reduction))(z)
    v2, g2 = tg.value_and_grad(lambda z: softmax_cross_entropy(z, onehot, reduction))(z)
    assert np.isfinite(v1) and np.all(np.isfinite(g1))
    np.testing.assert_allclose(v1, v2, rtol=1e-14)
    np.testing.assert_allclose(g1, g2, rtol=1e-13, atol=1e-16)
    # int32 and uint8 labels are labels too
    for dt in (np.int32, np.uint8):
        np.testing.assert_allclose(softmax_cross_entropy(z, labels.astype(dt), reduction), v1)


# --- error messages -----------------------------------------------------------------------

Z43 = np.zeros((4, 3))


@pytest.mark.parametrize("traced", [False, True], ids=["plain", "traced"])
@pytest.mark.parametrize(
    "target, exc, match",
    [
        (
            np.array([0, 1, 2, 0, 1]),
            ShapeError,
            r"integer class labels must have shape \(4,\) for predictions of shape \(4, 3\), "
            r"got \(5,\)",
        ),
        (
            np.array([[0, 1], [2, 0]]),
            ShapeError,
            r"integer class labels must have shape \(4,\) .* got \(2, 2\)",
        ),
        (
            np.array([0, 3, 1, 2]),
            ValueError,
            r"class labels must lie in \[0, 3\) for 3 classes, got values in \[0, 3\]",
        ),
        (
            np.array([0, -1, 1, 2]),
            ValueError,
            r"class labels must lie in \[0, 3\) for 3 classes, got values in \[-1, 2\]",
        ),
        (
            np.ones((4, 2)),
            ShapeError,
            r"predictions have shape \(4, 3\); targets must be integer labels of shape \(4,\) "
            r"or class probabilities of shape \(4, 3\), got shape \(4, 2\)",
        ),
        (np.ones((3, 4)), ShapeError, r"got shape \(3, 4\)"),
    ],
    ids=[
        "labels-length",
        "labels-2d",
        "label-too-big",
        "label-negative",
        "weights-cols",
        "weights-transposed",
    ],  # fmt: skip
)
def test_softmax_cross_entropy_target_errors(target, exc, match, traced):
    with pytest.raises(exc, match="softmax_cross_entropy: .*" + match):
        if traced:
            tg.grad(lambda z: softmax_cross_entropy(z, target))(Z43)
        else:
            softmax_cross_entropy(Z43, target)
    # nn.cross_entropy goes through the same checks
    with pytest.raises(exc, match=match):
        nn.cross_entropy(Z43, target)


def test_softmax_cross_entropy_other_errors():
    with pytest.raises(ValueError, match=r"reduction must be 'mean' or 'sum', got 'none'"):
        softmax_cross_entropy(Z43, np.zeros(4, int), reduction="none")
    with pytest.raises(ValueError, match=r"reduction must be 'mean' or 'sum', got 'avg'"):
        softmax_cross_entropy(Z43, np.zeros(4, int), reduction="avg")
    with pytest.raises(ValueError, match=r"cross_entropy: reduction must be 'mean', 'sum' or "):
        nn.cross_entropy(Z43, np.zeros(4, int), reduction="avg")
    with pytest.raises(ShapeError, match=r"predictions must have a class axis, got shape \(\)"):
        softmax_cross_entropy(np.float64(1.0), np.float64(1.0))


def test_dense_errors():
    x, w, b = _dense_inputs(_rng(10), (4, 3), 2)
    with pytest.raises(
        ValueError,
        match=r"dense: activation must be one of \['identity', 'relu', 'sigmoid', 'tanh'\], "
        r"got 'softplus'",
    ):
        dense(x, w, b, "softplus")
    with pytest.raises(ValueError, match=r"dense: activation must be .* got None"):
        dense(x, w, b, None)
    with pytest.raises(
        ValueError, match=r"dense: weight must be 2-D \(in, out\), got shape \(3,\)"
    ):
        dense(x, w[:, 0], None)
    with pytest.raises(ValueError, match=r"weight must be 2-D \(in, out\), got shape \(1, 3, 2\)"):
        tg.grad(lambda w: tnp.sum(dense(x, w)))(w[None])
    with pytest.raises(ShapeError, match=r"dense: operands with shapes \(4, 3\), \(4, 2\)"):
        dense(x, np.ones((4, 2)), b)


def test_dense_bias_of_other_shape_is_rejected_or_differentiated_right():
    x, w, _ = _dense_inputs(_rng(11), (4, 3), 2)
    b = _rng(12).standard_normal((4, 2))

    def f(b):
        return tnp.sum(tnp.sin(dense(x, w, b, "tanh")))

    try:
        g = tg.grad(f)(b)
    except ValueError as e:
        assert "bias" in str(e)
        return
    np.testing.assert_allclose(g, tg.numerical_grad(f, b), rtol=1e-6, atol=1e-8)


def test_dense_row_bias_is_rejected():
    """A (1, out) bias would broadcast; dense takes only (out,) so that the bias cotangent
    is one sum over the samples (and never a broadcast view)."""
    x, w, _ = _dense_inputs(_rng(13), (4, 3), 2)
    b = _rng(14).standard_normal((1, 2))
    with pytest.raises(ShapeError, match=r"dense: bias must have shape \(2,\).*got \(1, 2\)"):
        tg.grad(lambda b: tnp.sum(tnp.sin(dense(x, w, b, "tanh"))))(b)


# --- the nn layers and losses against unfused compositions ---------------------------------


def _unfused_mlp(model, x):
    for layer, act in zip(model.layers, model.activations):
        z = x @ layer.weight
        if layer.bias is not None:
            z = z + layer.bias
        x = TNP_ACT[act](z)
    return x


def _unfused_ce(logits, target, reduction="mean"):
    if isinstance(target, np.ndarray) and np.issubdtype(target.dtype, np.integer):
        target = np.eye(logits.shape[-1])[target]
    per = -tnp.sum(target * tnp.log_softmax(logits, axis=-1), axis=-1)
    return tnp.mean(per) if reduction == "mean" else tnp.sum(per)


def _unfused_l2(model, lam):
    return 0.5 * lam * sum(tnp.sum(tnp.square(w)) for w in nn.penalized_weights(model))


X = _rng(20).standard_normal((7, 4))
LABELS = np.array([0, 2, 1, 1, 0, 2, 2])


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    "acts",
    [("tanh", "tanh", "identity"), ("relu", "sigmoid", "identity"), ("sigmoid", "relu", "tanh")],
)
def test_mlp_loss_matches_unfused_composition(acts, bias):
    model = nn.MLP((4, 6, 5, 3), list(acts), bias=bias, rng=21)
    np.testing.assert_allclose(model(X), _unfused_mlp(model, X), rtol=1e-12, atol=1e-13)

    def fused(m, reduction):
        return nn.cross_entropy(m(X), LABELS, reduction) + nn.l2_penalty(m, 0.03)

    def plain(m, reduction):
        return _unfused_ce(_unfused_mlp(m, X), LABELS, reduction) + _unfused_l2(m, 0.03)

    for reduction in ("mean", "sum"):
        v1, g1 = tg.value_and_grad(fused)(model, reduction)
        v2, g2 = tg.value_and_grad(plain)(model, reduction)
        np.testing.assert_allclose(v1, v2, rtol=1e-12)
        _assert_trees_close(g1, g2)
    assert len(tg.tree.leaves(g1)) == (6 if bias else 3)


def test_mlp_with_unfusable_activation_and_float32():
    model = nn.MLP((4, 5, 3), ["leaky_relu", "identity"], rng=22)
    expected = tnp.leaky_relu(X @ model.layers[0].weight + model.layers[0].bias)
    expected = expected @ model.layers[1].weight + model.layers[1].bias
    np.testing.assert_allclose(model(X), expected, rtol=1e-12)
    m32 = nn.MLP((4, 5, 3), "tanh", rng=22, dtype=np.float32)
    x32 = X.astype(np.float32)
    assert m32(x32).dtype == np.float32
    g = tg.grad(lambda m: nn.cross_entropy(m(x32), LABELS) + nn.l2_penalty(m, 0.1))(m32)
    assert all(leaf.dtype == np.float32 for leaf in tg.tree.leaves(g))
    g64 = tg.grad(lambda m: _unfused_ce(_unfused_mlp(m, X), LABELS) + _unfused_l2(m, 0.1))(
        m32.astype(np.float64)
    )
    _assert_trees_close(g, g64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_unfused(bias):
    layer = nn.Linear(4, 3, bias=bias, rng=23)
    ref = X @ layer.weight + (layer.bias if bias else 0.0)
    np.testing.assert_allclose(layer(X), ref, rtol=1e-12)
    np.testing.assert_allclose(layer(X[0]), ref[0], rtol=1e-12)  # one sample, 1-D

    def plain(m, x):
        z = x @ m.weight
        return tnp.sum(tnp.sin(z + m.bias if bias else z) * x[:, :3])

    def fused(m, x):
        return tnp.sum(tnp.sin(m(x)) * x[:, :3])

    g1 = tg.grad(fused, argnums=(0, 1))(layer, X)
    g2 = tg.grad(plain, argnums=(0, 1))(layer, X)
    _assert_trees_close(g1, g2)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_matches_unfused(reduction):
    rng = _rng(24)
    z = rng.standard_normal((6, 4))
    probs = rng.uniform(0.1, 1.0, (6, 4))
    probs /= probs.sum(-1, keepdims=True)
    labels = rng.integers(0, 4, 6)
    for target in (labels, np.eye(4)[labels], probs):
        v1 = nn.cross_entropy(z, target, reduction)
        np.testing.assert_allclose(v1, _unfused_ce(z, target, reduction), rtol=1e-13)
        g1 = tg.grad(lambda z: nn.cross_entropy(z, target, reduction))(z)
        g2 = tg.grad(lambda z: _unfused_ce(z, target, reduction))(z)
        np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-15)
    g1 = tg.grad(lambda y: nn.cross_entropy(z, y, reduction))(probs)
    g2 = tg.grad(lambda y: _unfused_ce(z, y, reduction))(probs)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-15)
    # "none" stays per sample (not fused)
    per = nn.cross_entropy(z, labels, "none")
    np.testing.assert_allclose(np.sum(per), nn.cross_entropy(z, labels, "sum"), rtol=1e-13)


def test_l2_penalty_matches_unfused():
    model = nn.MLP((4, 6, 3), "tanh", rng=25)
    lam = 0.37
    v = nn.l2_penalty(model, lam)
    weights = [layer.weight for layer in model.layers]
    np.testing.assert_allclose(v, 0.5 * lam * sum(np.sum(w**2) for w in weights), rtol=1e-13)
    g = tg.grad(lambda m: nn.l2_penalty(m, lam))(model)
    _assert_trees_close(g, tg.grad(lambda m: _unfused_l2(m, lam))(model))
    for layer, gl in zip(model.layers, g.layers):
        np.testing.assert_allclose(gl.weight, lam * layer.weight, rtol=1e-14)
        np.testing.assert_array_equal(gl.bias, 0.0)
    # a plain dict of arrays: the leaves with ndim >= 2 are the weights
    params = {"W": weights[0], "b": model.layers[0].bias}
    gp = tg.grad(lambda p: nn.l2_penalty(p, lam))(params)
    np.testing.assert_allclose(gp["W"], lam * weights[0], rtol=1e-14)
    np.testing.assert_array_equal(gp["b"], 0.0)


def test_l2_penalty_is_differentiable_in_lam():
    w = _rng(26).standard_normal((3, 2))
    g = tg.grad(lambda lam: nn.l2_penalty({"W": w}, lam))(0.1)
    np.testing.assert_allclose(g, 0.5 * np.sum(w**2), rtol=1e-13)


def _flat(model):
    leaves, td = tg.tree.flatten(model)
    shapes = [leaf.shape for leaf in leaves]
    theta = np.concatenate([leaf.ravel() for leaf in leaves])

    def unpack(theta):
        parts, k = [], 0
        for s in shapes:
            n = int(np.prod(s))
            parts.append(tnp.reshape(theta[k : k + n], s))
            k += n
        return tg.tree.unflatten(td, parts)

    return theta, unpack


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu"])
def test_hessian_through_mlp_and_cross_entropy_matches_unfused(act):
    model = nn.MLP((3, 4, 3), act, rng=27)
    x = X[:5, :3]
    theta, unpack = _flat(model)

    def fused(theta):
        m = unpack(theta)
        return nn.cross_entropy(m(x), LABELS[:5]) + nn.l2_penalty(m, 0.2)

    def plain(theta):
        m = unpack(theta)
        return _unfused_ce(_unfused_mlp(m, x), LABELS[:5]) + _unfused_l2(m, 0.2)

    h1 = tg.hessian(fused)(theta)
    h2 = tg.hessian(plain)(theta)
    assert h1.shape == (theta.size, theta.size) == (31, 31)
    np.testing.assert_allclose(h1, h2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h1, h1.T, rtol=1e-10, atol=1e-12)
    assert np.abs(h1).max() > 0.1  # not trivially zero


def test_hvp_through_fused_layers_matches_unfused():
    model = nn.MLP((4, 5, 3), "tanh", rng=28)
    v = tg.tree.map(lambda p: _rng(29).standard_normal(p.shape), model)

    def fused(m):
        return nn.cross_entropy(m(X), LABELS) + nn.l2_penalty(m, 0.1)

    def plain(m):
        return _unfused_ce(_unfused_mlp(m, X), LABELS) + _unfused_l2(m, 0.1)

    _assert_trees_close(tg.hvp(fused, (model,), (v,)), tg.hvp(plain, (model,), (v,)), atol=1e-12)


# --- tg.defvjp_joint on a user-defined primitive -----------------------------------------


def _joint_primitive():
    """``x · y² + c`` with a joint rule that records the argnums it is asked for."""
    calls = []

    @tg.primitive
    def xyy(x, y, c=0.0):
        return x * y * y + c

    def rule(argnums, g, out, x, y, c=0.0):
        calls.append(tuple(argnums))
        shared = g * y  # the work both cotangents share
        return [shared * y if a == 0 else 2.0 * shared * x for a in argnums]

    tg.defvjp_joint(xyy, rule)
    tg.defjvp(
        xyy, lambda t, out, x, y, c=0.0: t * y * y, lambda t, out, x, y, c=0.0: 2.0 * x * y * t
    )
    return xyy, calls


def test_defvjp_joint_receives_only_the_differentiated_argnums():
    xyy, calls = _joint_primitive()
    x, y = np.array([1.5, -2.0, 0.5]), np.array([0.3, 1.2, -0.7])

    def f(x, y):
        return tnp.sum(xyy(x, y))

    np.testing.assert_allclose(tg.grad(f, argnums=1)(x, y), 2.0 * x * y, rtol=1e-15)
    assert calls == [(1,)]
    calls.clear()
    np.testing.assert_allclose(tg.grad(f, argnums=0)(x, y), y * y, rtol=1e-15)
    assert calls == [(0,)]
    calls.clear()
    gx, gy = tg.grad(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, y * y, rtol=1e-15)
    np.testing.assert_allclose(gy, 2.0 * x * y, rtol=1e-15)
    assert calls == [(0, 1)]
    calls.clear()
    # a constant argument in position 0: only argument 1 is asked for
    np.testing.assert_allclose(tg.grad(lambda y: tnp.sum(xyy(x, y, c=2.0)))(y), 2 * x * y)
    assert calls == [(1,)]
    calls.clear()
    # the same value in both positions: one call for both, contributions summed
    np.testing.assert_allclose(tg.grad(lambda x: tnp.sum(xyy(x, x)))(x), 3.0 * x * x, rtol=1e-15)
    assert calls == [(0, 1)]


def test_defvjp_joint_higher_order_and_check_grads():
    xyy, _ = _joint_primitive()
    x, y = np.array([1.5, -2.0, 0.5]), np.array([0.3, 1.2, -0.7])
    tg.check_grads(lambda x, y: xyy(x, y), (x, y), order=2, modes=("fwd", "rev"))
    h = tg.hessian(lambda y: tnp.sum(xyy(x, y)))(y)
    np.testing.assert_allclose(h, np.diag(2.0 * x), rtol=1e-14)


def test_defvjp_joint_through_trace_adjoint_tables():
    xyy, calls = _joint_primitive()
    t = tg.trace(lambda a, b: xyy(a, b) * 2.0, 2.0, 3.0)
    grads = t.gradient()
    np.testing.assert_allclose(grads["a"], 18.0)  # 2 · b²
    np.testing.assert_allclose(grads["b"], 24.0)  # 2 · 2ab
    # Primitive.vjp asks the joint rule for one argument at a time
    assert set(calls) == {(0,), (1,)}
    # and a fused layer in a trace gives tg.grad's numbers
    x, w, b = _dense_inputs(_rng(30), (2, 3), 2)
    tr = tg.trace(lambda x, w, b: tnp.sum(dense(x, w, b, "tanh") ** 2), x, w, b)
    expected = tg.grad(lambda x, w, b: tnp.sum(dense(x, w, b, "tanh") ** 2), argnums=(0, 1, 2))(
        x, w, b
    )
    for name, e in zip("xwb", expected):
        np.testing.assert_allclose(tr.gradient()[name], e, rtol=1e-13)
    assert "dense" in str(tr)


def test_trace_of_dense_without_bias_renders():
    x, w, _ = _dense_inputs(_rng(31), (2, 3), 2)
    assert "dense" in str(tg.trace(lambda x, w: tnp.sum(dense(x, w)), x, w))


def test_defvjp_joint_rejects_plain_functions():
    with pytest.raises(TypeError, match=r"defvjp_joint: expected a function decorated with"):
        tg.defvjp_joint(lambda x: x, lambda argnums, g, out, x: [g])


# --- in-place accumulation never corrupts values -----------------------------------------


def _check_against_numerical(f, *args, argnums=0):
    g = tg.grad(f, argnums=argnums)(*args)
    n = tg.numerical_grad(f, *args, argnums=argnums)
    _assert_trees_close(g, n, rtol=1e-6, atol=1e-8)
    return g


W33 = _rng(40).standard_normal((3, 3))
B3 = _rng(41).standard_normal(3)
X43 = _rng(42).standard_normal((4, 3))


def test_weight_in_penalty_and_two_dense_layers():
    def fused(w):
        h = dense(X43, w, B3, "tanh")
        return sum_of_squares(w, scale=0.7) + tnp.sum(dense(h, w, None, "sigmoid") * X43)

    def plain(w):
        h = tnp.tanh(X43 @ w + B3)
        return 0.7 * tnp.sum(tnp.square(w)) + tnp.sum(tnp.sigmoid(h @ w) * X43)

    g = _check_against_numerical(fused, W33)
    np.testing.assert_allclose(g, tg.grad(plain)(W33), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("penalty_first", [True, False], ids=["penalty-first", "penalty-last"])
def test_value_used_many_times_through_fused_and_plain_ops(penalty_first):
    """With the penalty recorded first, the sweep reaches it last: its contributions then
    meet cotangents that add's rule handed to several parents at once."""

    def f(x):
        s = x + x + dense(x, W33, B3, "tanh")  # x three times, one of them fused
        h = dense(s, W33, None, "relu") + tnp.sin(s)  # s twice
        if penalty_first:
            pen = sum_of_squares(x, s, h, scale=0.1)  # x, s and h once more each
        body = tnp.sum(tnp.cos(h) * s) + tnp.sum(dense(h + s, W33, None, "tanh"))
        if not penalty_first:
            pen = sum_of_squares(x, s, h, scale=0.1)
        return pen + body

    def plain(x):
        s = x + x + tnp.tanh(x @ W33 + B3)
        h = tnp.relu(s @ W33) + tnp.sin(s)
        pen = 0.1 * (tnp.sum(x * x) + tnp.sum(s * s) + tnp.sum(h * h))
        return pen + tnp.sum(tnp.cos(h) * s) + tnp.sum(tnp.tanh((h + s) @ W33))

    x = X43.copy()
    g = _check_against_numerical(f, x)
    np.testing.assert_allclose(g, tg.grad(plain)(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(x, X43)  # the input is not written


@pytest.mark.parametrize("penalty_first", [True, False], ids=["penalty-first", "penalty-last"])
def test_add_hands_one_buffer_to_two_parents(penalty_first):
    """add's rule gives the same cotangent object to both parents; each of them then gets
    a further contribution (from the penalty), so neither may be added into in place."""

    def f(x):
        h = dense(x, W33, B3, "tanh")
        h2 = tnp.sin(x @ W33)
        if penalty_first:  # swept last: its cotangents meet add's shared one
            pen = sum_of_squares(h, h2, scale=0.5)
        top = tnp.sum(dense(h + h2, W33, None, "sigmoid"))
        if not penalty_first:
            pen = sum_of_squares(h, h2, scale=0.5)
        return top + pen

    def plain(x):
        h = tnp.tanh(x @ W33 + B3)
        h2 = tnp.sin(x @ W33)
        return tnp.sum(tnp.sigmoid((h + h2) @ W33)) + 0.5 * (tnp.sum(h * h) + tnp.sum(h2 * h2))

    g = _check_against_numerical(f, X43)
    np.testing.assert_allclose(g, tg.grad(plain)(X43), rtol=1e-12, atol=1e-14)


def test_gradients_of_different_inputs_are_different_buffers():
    a, b = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.7, -1.1])

    def f(a, b):
        # add passes one cotangent to a and b; a then gets a fresh contribution as well
        return sum_of_squares(a, scale=1.5) + tnp.sum(tnp.sin(a + b))

    ga, gb = tg.grad(f, argnums=(0, 1))(a, b)
    np.testing.assert_allclose(ga, 3.0 * a + np.cos(a + b), rtol=1e-14)
    np.testing.assert_allclose(gb, np.cos(a + b), rtol=1e-14)
    assert ga is not gb and not np.shares_memory(ga, gb)
    ga += 100.0  # the caller owns what it gets back
    np.testing.assert_allclose(gb, np.cos(a + b), rtol=1e-14)

    # all three arguments of a fused layer, each also used elsewhere
    x, w, bias = X43, W33, B3

    def g(x, w, bias):
        return tnp.sum(dense(x, w, bias, "tanh")) + sum_of_squares(x, w, bias) + tnp.sum(x @ w)

    grads = _check_against_numerical(g, x, w, bias, argnums=(0, 1, 2))
    assert not np.shares_memory(grads[0], grads[1]) and not np.shares_memory(grads[1], grads[2])


def test_repeated_gradient_calls_do_not_share_or_change_results():
    def f(w):
        return sum_of_squares(w, w) + tnp.sum(dense(X43, w, B3, "sigmoid")) + tnp.sum(w)

    g1 = tg.grad(f)(W33)
    g1_copy = g1.copy()
    g2 = tg.grad(f)(W33)
    assert g1 is not g2 and not np.shares_memory(g1, g2)
    np.testing.assert_array_equal(g1, g1_copy)
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize(
    "name",
    [
        "dense-identity",
        "dense-plus-input",
        "input-plus-dense",
        "outputs-x-and-dense",
        "same-output-twice",
        "sce",
        "sum_of_squares",
    ],  # fmt: skip
)
def test_vjp_leaves_the_seed_cotangent_alone(name):
    x = X43.copy()
    rng = _rng(43)
    fs = {
        "dense-identity": lambda x: dense(x, W33),
        "dense-plus-input": lambda x: dense(x, W33, B3) + x,
        "input-plus-dense": lambda x: x + dense(x, W33, B3, "tanh") + x,
        "outputs-x-and-dense": lambda x: (x, dense(x, W33, B3, "relu"), sum_of_squares(x)),
        "same-output-twice": lambda x: (lambda y: (y, y))(dense(x, W33, None, "sigmoid")),
        "sce": lambda x: softmax_cross_entropy(x, np.array([0, 2, 1, 1])),
        "sum_of_squares": lambda x: sum_of_squares(x, x[:2], scale=3.0),
    }
    f = fs[name]
    out, vjp_fn = tg.vjp(f, x)
    seed = tg.tree.map(lambda o: rng.standard_normal(np.shape(o)), out)
    if name == "same-output-twice":
        seed = (seed[0], seed[0])  # the same array for both outputs
    kept = tg.tree.map(np.copy, seed)
    (r1,) = vjp_fn(seed)
    _assert_trees_close(seed, kept, rtol=0, atol=0)
    r1_copy = r1.copy()
    (r2,) = vjp_fn(seed)
    _assert_trees_close(seed, kept, rtol=0, atol=0)
    np.testing.assert_array_equal(r1, r1_copy)
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_array_equal(x, X43)

    # and the numbers: the same pullback through the unfused composition
    # (d/dx <seed, f(x)> by finite differences)
    def scalar(x):
        return sum(tnp.sum(s * o) for s, o in zip(tg.tree.leaves(seed), tg.tree.leaves(f(x))))

    np.testing.assert_allclose(r1, tg.numerical_grad(scalar, x), rtol=1e-6, atol=1e-8)


def test_float32_buffer_with_float64_contribution():
    w32 = W33.astype(np.float32)

    def f(w):
        # the penalty's float32 cotangent (owned) meets a float64 one from the cast
        return tnp.sum(tnp.astype(w, np.float64) * 2.0) + sum_of_squares(w, scale=0.5)

    g = tg.grad(f)(w32)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2.0 + w32, rtol=1e-6)


# --- residuals: what the forward pass hands to the VJP --------------------------------


def _exp_sum_with_residual():
    """``sum(exp(x))`` whose VJP reads ``exp(x)`` from the forward pass when it can."""
    seen = []

    def forward(x):
        e = np.exp(x)
        return np.sum(e), e

    prim = tg.Primitive(lambda x: forward(x)[0], "exp_sum").defresidual(forward)

    def vjp(argnums, g, out, x, residual=None):
        seen.append(residual is not None)
        return [g * (tnp.exp(x) if residual is None else residual)]

    prim.defvjp_joint(vjp).defjvp(lambda t, out, x: tnp.sum(tnp.exp(x) * t))
    return prim, seen


def test_reverse_mode_hands_the_residual_to_the_vjp():
    prim, seen = _exp_sum_with_residual()
    x = np.array([0.1, -0.4, 0.7])
    np.testing.assert_allclose(tg.grad(prim)(x), np.exp(x), rtol=1e-15)
    assert seen == [True]
    # nested (second order): the rule is differentiated, so it recomputes from x
    seen.clear()
    np.testing.assert_allclose(tg.hessian(prim)(x), np.diag(np.exp(x)), rtol=1e-13)
    assert seen and not all(seen)


def test_traces_keep_no_residual_in_their_steps():
    prim, seen = _exp_sum_with_residual()
    x = np.array([0.1, -0.4, 0.7])
    tr = tg.trace(lambda x: prim(x), x)
    np.testing.assert_allclose(tr.gradient()["x"], np.exp(x), rtol=1e-15)
    assert seen == [False]  # recomputed: a trace records arguments, not residuals


def test_replace_keeps_layer_shapes_consistent():
    """Layers call the fused step without re-checking: replace() guards the shapes."""
    layer = nn.Linear(3, 2, rng=0)
    with pytest.raises(
        ShapeError, match=r"Linear.replace: bias must have shape \(2,\), got \(4, 2\)"
    ):
        layer.replace(bias=np.zeros((4, 2)))
    with pytest.raises(ShapeError, match=r"weight must have shape \(3, 2\), got \(3,\)"):
        layer.replace(weight=np.zeros(3))
    ok = layer.replace(weight=np.ones((3, 2)))
    np.testing.assert_allclose(ok(np.ones((1, 3))), 3.0 + layer.bias[None])


@pytest.mark.parametrize("dtype", [np.intp, np.int32, np.int16])
@pytest.mark.parametrize("bad", [-1, 4, -(2**15)])
def test_labels_out_of_range_are_rejected_in_every_integer_type(dtype, bad):
    labels = np.array([0, bad, 2]).astype(dtype)
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 4\)"):
        nn.cross_entropy(np.zeros((3, 4)), labels)
