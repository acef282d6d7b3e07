"""Losses: values against written-out formulas, reductions, gradients, shape errors."""

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad import seeds

nn = tg.nn

RNG = np.random.default_rng(0)
P = RNG.standard_normal((5, 3))
T = RNG.standard_normal((5, 3))
LABELS = np.array([0, 2, 1, 1, 0])
ONEHOT = np.eye(3)[LABELS]


def _log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def test_mse_and_sse_values_and_reductions():
    np.testing.assert_allclose(nn.mse(P, T), np.mean((P - T) ** 2))
    np.testing.assert_allclose(nn.mse(P, T, reduction="sum"), np.sum((P - T) ** 2))
    np.testing.assert_allclose(nn.mse(P, T, reduction="none"), (P - T) ** 2)
    np.testing.assert_allclose(nn.sse(P, T), np.sum((P - T) ** 2))
    np.testing.assert_allclose(nn.sse(P, T, reduction="mean"), np.sum((P - T) ** 2) / 5)
    np.testing.assert_allclose(nn.sse(P, T, reduction="none"), np.sum((P - T) ** 2, axis=1))
    with pytest.raises(ValueError, match="reduction must be"):
        nn.mse(P, T, reduction="avg")


def test_sse_is_seed000_rss():
    X, c = seeds.logistic_rss_data()
    w = np.array([-1.0, 1.5, 0.5])
    loss = lambda w: nn.sse(tnp.sigmoid(X @ w), c)
    assert round(float(loss(w)), 2) == 0.71
    np.testing.assert_allclose(np.round(tg.grad(loss)(w), 2), [0.13, 0.06, 0.54])


def test_cross_entropy_labels_onehot_and_seed001_cost():
    expected = -np.mean(np.sum(ONEHOT * _log_softmax(P), axis=1))
    np.testing.assert_allclose(nn.cross_entropy(P, LABELS), expected)
    np.testing.assert_allclose(nn.cross_entropy(P, ONEHOT), expected)
    np.testing.assert_allclose(nn.cross_entropy(P, LABELS, reduction="sum"), 5 * expected)
    # seed 001: nll = -mean(sum(U*Y, 1) - logsumexp(U))
    lse = np.log(np.exp(P).sum(1))
    np.testing.assert_allclose(nn.cross_entropy(P, ONEHOT), -np.mean(np.sum(P * ONEHOT, 1) - lse))
    big = np.array([[1000.0, -1000.0, 0.0]])
    assert np.isfinite(nn.cross_entropy(big, np.array([1])))


def test_nll_from_log_probabilities():
    logp = _log_softmax(P)
    np.testing.assert_allclose(nn.nll(logp, LABELS), nn.cross_entropy(P, LABELS))
    np.testing.assert_allclose(nn.nll(logp, LABELS, reduction="none"), -logp[np.arange(5), LABELS])


def test_binary_cross_entropy_stable_form():
    z = np.array([-3.0, -0.5, 0.2, 2.0])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    s = 1 / (1 + np.exp(-z))
    naive = -(y * np.log(s) + (1 - y) * np.log(1 - s))
    np.testing.assert_allclose(nn.binary_cross_entropy(z, y), naive.mean())
    np.testing.assert_allclose(nn.binary_cross_entropy(z, y, reduction="none"), naive)
    extreme = nn.binary_cross_entropy(np.array([800.0, -800.0]), np.array([0.0, 1.0]), "none")
    np.testing.assert_allclose(extreme, [800.0, 800.0])
    g = tg.grad(lambda z: nn.binary_cross_entropy(z, y, reduction="sum"))(z)
    np.testing.assert_allclose(g, s - y)
    # exactly at z = 0 the derivative is still σ(0) − y
    np.testing.assert_allclose(
        tg.grad(lambda z: nn.binary_cross_entropy(z, np.zeros(1), "sum"))(np.zeros(1)), [0.5]
    )


LOSS_CASES = {
    "mse": (nn.mse, T),
    "sse": (nn.sse, T),
    "cross_entropy_labels": (nn.cross_entropy, LABELS),
    "cross_entropy_probs": (nn.cross_entropy, nn.softmax(T)),
    "nll": (lambda p, t, reduction: nn.nll(nn.log_softmax(p), t, reduction), LABELS),
    "bce": (nn.binary_cross_entropy, (T > 0).astype(float)),
}


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", sorted(LOSS_CASES))
def test_loss_check_grads(name, reduction):
    fn, target = LOSS_CASES[name]
    tg.check_grads(lambda p: fn(p, target, reduction=reduction), (P,), order=2)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(tg.ShapeError, match=r"\(5, 3\).*\(5, 2\)"):
        nn.mse(P, T[:, :2])
    with pytest.raises(tg.ShapeError, match=r"labels must have shape \(5,\).*got \(4,\)"):
        nn.cross_entropy(P, LABELS[:4])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        nn.cross_entropy(P, LABELS + 1)
    # (N, 1) against (N,) is accepted, not broadcast to (N, N)
    col = P[:, :1]
    np.testing.assert_allclose(nn.mse(col, T[:, 0]), np.mean((P[:, 0] - T[:, 0]) ** 2))


def test_float32_losses_stay_float32():
    p32 = P.astype(np.float32)
    for fn, t in LOSS_CASES.values():
        assert np.asarray(fn(p32, t, reduction="mean")).dtype == np.float32


def test_losses_by_name():
    assert nn.get_loss("cross_entropy") is nn.cross_entropy
    with pytest.raises(ValueError, match="unknown loss"):
        nn.get_loss("hinge")


def test_minus_infinite_log_probabilities_of_other_classes_give_no_nan():
    # masked logits (−∞) in classes the target gives no weight: 0 · (−∞) must not appear
    z = np.array([[0.0, 2.0, -np.inf], [1.0, -np.inf, 0.5]])
    labels = np.array([1, 0])
    finite = np.array([[0.0, 2.0], [1.0, 0.5]])  # the same rows without the masked class
    expected = float(nn.cross_entropy(finite, labels))
    for target in (labels, np.eye(3)[labels]):
        np.testing.assert_allclose(nn.cross_entropy(z, target), expected)
        g = tg.grad(lambda z, t=target: nn.cross_entropy(z, t))(z)
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g[[0, 1], [2, 1]], 0.0)
        g_finite = tg.grad(lambda z: nn.cross_entropy(z, labels))(finite)
        np.testing.assert_allclose(g[[0, 0, 1, 1], [0, 1, 0, 2]], g_finite.ravel())
    # nll of log(softmax) where a class underflowed to probability 0
    with np.errstate(divide="ignore"):
        logp = tnp.log(nn.softmax(np.array([[0.0, 800.0, -800.0]])))
    assert np.isneginf(logp).sum() == 2
    for target in (np.array([1]), np.array([[0.0, 1.0, 0.0]])):
        np.testing.assert_allclose(nn.nll(logp, target), 0.0)
        g = tg.grad(lambda lp, t=target: nn.nll(lp, t))(logp)
        np.testing.assert_array_equal(g, [[0.0, -1.0, 0.0]])
    # a target weight on a −∞ class is an infinite loss, not hidden
    assert nn.nll(logp, np.array([0])) == np.inf
    assert nn.nll(logp, np.array([[0.5, 0.5, 0.0]])) == np.inf


def test_probability_targets_keep_their_derivative_at_zero_weight():
    # d/dt_c of −Σ t_c log p_c is −log p_c, also where t_c = 0 (e.g. distillation)
    g = tg.grad(lambda t: nn.cross_entropy(P, t, reduction="sum"))(ONEHOT)
    np.testing.assert_allclose(g, -_log_softmax(P))
    tg.check_grads(lambda t: nn.cross_entropy(P, t), (nn.softmax(T),), order=2)
