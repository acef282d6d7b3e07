"""The lecture notes' worked examples, with the slides' numbers (rounded as they round)."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import seeds

# --- seed 002: f(x1, x2) = ln x1 + x1 x2 − sin x2 at (2, 5) ---------------------------


def test_seed002_value_and_gradient():
    assert round(float(seeds.imperial_f(2.0, 5.0)), 3) == 11.652
    g1, g2 = tg.grad(seeds.imperial_f, argnums=(0, 1))(2.0, 5.0)
    assert round(float(g1), 3) == 5.5
    assert round(float(g2), 3) == 1.716


def test_seed002_primal_and_tangent_trace():
    # the slide's forward tangent trace for ẋ1 = 1, ẋ2 = 0
    vals, tans = tg.jvp(seeds.imperial_trace, (2.0, 5.0), (1.0, 0.0))
    assert round(float(vals["v1"]), 3) == 0.693
    assert float(vals["v2"]) == 10.0
    assert round(float(vals["v3"]), 3) == -0.959
    assert round(float(vals["v4"]), 3) == 10.693
    assert round(float(vals["v5"]), 3) == 11.652
    expected = {"v1": 0.5, "v2": 5.0, "v3": 0.0, "v4": 5.5, "v5": 5.5}
    for name, t in expected.items():
        assert float(tans[name]) == pytest.approx(t, abs=1e-12), name


def test_seed002_adjoint_trace():
    # v̄_k = ∂y/∂v_k: differentiate y with respect to the intermediates themselves
    x1, x2 = 2.0, 5.0
    v1, v2, v3 = np.log(x1), x1 * x2, np.sin(x2)
    bars = tg.grad(lambda a, b, c: (a + b) - c, argnums=(0, 1, 2))(v1, v2, v3)
    assert [float(b) for b in bars] == [1.0, 1.0, -1.0]  # v̄1, v̄2, v̄3
    # the two contributions to x̄2 = v̄0: 2 from v2 = x1 x2 and −0.284 from v3 = sin x2
    from_v2 = tg.grad(lambda x2: x1 * x2)(x2)
    from_v3 = tg.grad(lambda x2: -seeds.tnp.sin(x2))(x2)
    assert float(from_v2) == 2.0 and round(float(from_v3), 3) == -0.284
    # and x̄1 = 5 (through v2) + 1/2 (through v1)
    assert float(tg.grad(lambda x1: x1 * x2)(x1)) == 5.0
    assert float(tg.grad(seeds.imperial_f)(x1, x2)) == pytest.approx(5.5, abs=1e-12)


# --- seed 004: v = w x, z = v + b, h = ReLU(z), ŷ = h + z, J = (ŷ − y)² ---------------

AT = {"x": 5.0, "w": 2.0, "b": -3.0, "y": 7.0}
ORDER = ("x", "w", "b", "y")  # the argument order of seeds.mse_graph


def test_seed004_values():
    vals = seeds.mse_graph_trace(*(AT[k] for k in ORDER))
    assert {k: float(v) for k, v in vals.items()} == {
        "v": 10.0,
        "z": 7.0,
        "h": 7.0,
        "y_hat": 14.0,
        "J": 49.0,
    }
    assert float(seeds.mse_graph(*(AT[k] for k in ORDER))) == 49.0


# the slide's forward-mode table: for each seed, the tangents of v, z, h, ŷ, J
FORWARD_TABLE = {
    "b": {"v": 0, "z": 1, "h": 1, "y_hat": 2, "J": 28},
    "w": {"v": 5, "z": 5, "h": 5, "y_hat": 10, "J": 140},
    "x": {"v": 2, "z": 2, "h": 2, "y_hat": 4, "J": 56},
    "y": {"v": 0, "z": 0, "h": 0, "y_hat": 0, "J": -14},
}


@pytest.mark.parametrize("seed", list(FORWARD_TABLE))
def test_seed004_forward_tangents(seed):
    primals = tuple(AT[k] for k in ORDER)
    tangents = tuple(1.0 if k == seed else 0.0 for k in ORDER)
    _, tans = tg.jvp(seeds.mse_graph_trace, primals, tangents)
    assert {k: float(t) for k, t in tans.items()} == FORWARD_TABLE[seed]
    _, j_dot = tg.jvp(seeds.mse_graph, primals, tangents)
    assert float(j_dot) == FORWARD_TABLE[seed]["J"]


def test_seed004_reverse_sweep():
    grads = tg.grad(seeds.mse_graph, argnums=(0, 1, 2, 3))(*(AT[k] for k in ORDER))
    assert dict(zip(ORDER, (float(g) for g in grads))) == {
        "x": 56.0,
        "w": 140.0,
        "b": 28.0,
        "y": -14.0,
    }


def test_seed004_intermediate_adjoints():
    # the backward column of the table: ŷ̄ = 14, h̄ = 14, z̄ = 28, v̄ = 28
    y = AT["y"]
    y_bar = tg.grad(lambda y_hat: (y_hat - y) ** 2)(14.0)
    h_bar, z_bar = tg.grad(lambda h, z: (h + z - y) ** 2, argnums=(0, 1))(7.0, 7.0)
    # z̄ counts both paths into ŷ: directly and through h = ReLU(z)
    z_bar_total = tg.grad(lambda z: (seeds.tnp.relu(z) + z - y) ** 2)(7.0)
    v_bar = tg.grad(lambda v: (seeds.tnp.relu(v + AT["b"]) + v + AT["b"] - y) ** 2)(10.0)
    assert float(y_bar) == 14.0 and float(h_bar) == 14.0 and float(z_bar) == 14.0
    assert float(z_bar_total) == 28.0 and float(v_bar) == 28.0


# --- seed 000: logistic-regression RSS at w = (−1, 1.5, 0.5) --------------------------

W000 = np.array([-1.0, 1.5, 0.5])


def test_seed000_loss_and_gradient():
    assert round(float(seeds.logistic_rss(W000)), 2) == 0.71
    g = tg.grad(seeds.logistic_rss)(W000)
    np.testing.assert_array_equal(np.round(g, 2), [0.13, 0.06, 0.54])


def test_seed000_primal_trace():
    vals = seeds.logistic_rss_trace(W000)
    slide = {
        "v1": 1.25,
        "v2": 0.75,
        "v3": 0.78,
        "v4": 0.68,
        "v5": -0.78,
        "v6": 0.32,
        "v7": 0.61,
        "v8": 0.1,
        "v9": 0.71,
    }
    rounded = {k: round(float(v), 2) for k, v in vals.items()}
    # the slide squares the rounded v5 = −0.78 (0.6084 → 0.61); unrounded v7 = 0.604
    assert rounded.pop("v7") == 0.60 and round(round(float(vals["v5"]), 2) ** 2, 2) == 0.61
    slide.pop("v7")
    assert rounded == slide
    assert float(vals["v9"]) == pytest.approx(float(seeds.logistic_rss(W000)), rel=1e-14)


def test_seed000_adjoints_of_intermediates():
    # v̄3 = 1.55, v̄4 = −0.64 (through v5 = −v3, v6 = 1 − v4, squared and summed)
    vals = seeds.logistic_rss_trace(W000)
    v3_bar, v4_bar = tg.grad(lambda a, b: (0.0 - a) ** 2 + (1.0 - b) ** 2, argnums=(0, 1))(
        vals["v3"], vals["v4"]
    )
    assert round(float(v3_bar), 2) == 1.55 and round(float(v4_bar), 2) == -0.64
    # v̄1 = 0.27, v̄2 = −0.14 one step further back, through the sigmoids
    v1_bar, v2_bar = tg.grad(
        lambda a, b: (0.0 - seeds.tnp.sigmoid(a)) ** 2 + (1.0 - seeds.tnp.sigmoid(b)) ** 2,
        argnums=(0, 1),
    )(vals["v1"], vals["v2"])
    assert round(float(v1_bar), 2) == 0.27 and round(float(v2_bar), 2) == -0.14


def test_seed000_both_modes_agree():
    g_rev = tg.grad(seeds.logistic_rss)(W000)
    g_fwd = tg.jacfwd(seeds.logistic_rss)(W000)
    np.testing.assert_allclose(g_fwd, g_rev, rtol=1e-12)


# --- seed 001: forward mode on y1 = sin(w1 x + w0), y2 = cos(w1 x + w0) ---------------


@pytest.mark.parametrize("w0,w1,x", [(0.3, 0.5, 2.0), (-1.0, 2.0, 0.7), (0.0, 0.0, 1.0)])
def test_seed001_sin_cos_one_forward_pass(w0, w1, x):
    (y1, y2), (dy1, dy2) = tg.jvp(lambda w1: seeds.sin_cos(w0, w1, x), (w1,), (1.0,))
    u = w1 * x + w0
    assert float(y1) == pytest.approx(np.sin(u), rel=1e-14, abs=1e-15)
    assert float(y2) == pytest.approx(np.cos(u), rel=1e-14)
    assert float(dy1) == pytest.approx(x * np.cos(u), rel=1e-14)
    assert float(dy2) == pytest.approx(-x * np.sin(u), rel=1e-14, abs=1e-15)


# --- seed 003: f(x) = sqrt(x² + exp(x²)) ----------------------------------------------


@pytest.mark.parametrize("x", [-1.5, -0.3, 0.0, 0.4, 1.0, 2.0])
def test_seed003_derivative(x):
    f = float(seeds.sqrt_exp(x))
    assert f == pytest.approx(np.sqrt(x**2 + np.exp(x**2)), rel=1e-14)
    expected = x * (1 + np.exp(x**2)) / f
    assert float(tg.grad(seeds.sqrt_exp)(x)) == pytest.approx(expected, rel=1e-13, abs=1e-15)
    assert float(tg.jvp(seeds.sqrt_exp, (x,), (1.0,))[1]) == pytest.approx(
        expected, rel=1e-13, abs=1e-15
    )


# --- seed 001: the hand-written MLP gradients equal tg.grad of the cost ---------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seed001_handwritten_gradients_match_autodiff(seed):
    rng = np.random.default_rng(seed)
    N, D, M, K = 50, 3, 16, 3
    X = np.hstack([rng.standard_normal((N, D - 1)), np.ones((N, 1))])  # 2 features + bias
    Y = np.eye(K)[rng.integers(0, K, N)]
    W = rng.standard_normal((M, K)) * 0.5
    V = rng.standard_normal((D, M)) * 0.5
    dW_hand, dV_hand = seeds.mlp_gradients(X, Y, W, V)
    dW, dV = tg.grad(seeds.mlp_cost, argnums=(2, 3))(X, Y, W, V)
    assert dW.shape == (M, K) and dV.shape == (D, M)
    np.testing.assert_allclose(dW, dW_hand, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dV, dV_hand, rtol=1e-10, atol=1e-10)
    # and the cost is what its formula says
    U = (1 / (1 + np.exp(-X @ V))) @ W
    nll = -np.mean(np.sum(U * Y, 1) - np.log(np.sum(np.exp(U), 1)))
    assert float(seeds.mlp_cost(X, Y, W, V)) == pytest.approx(nll, rel=1e-12)
