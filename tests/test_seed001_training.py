"""Seed 001's Iris network: tg.fit reproduces the slides' hand-written NumPy
``gradients`` + ``GD`` loop step for step from the same initial weights."""

import numpy as np
import pytest

import tracegrad as tg

nn = tg.nn


def iris_2d():
    datasets = pytest.importorskip("sklearn.datasets")
    iris = datasets.load_iris()
    X = iris.data[:, 2:4]
    X = np.hstack([X, np.ones((len(X), 1))])  # D = 2 features + 1 bias
    return X, iris.target


# --- the slides' code -------------------------------------------------------------


def logistic(z):
    return 1 / (1 + np.exp(-z))


def softmax(u):
    e = np.exp(u - u.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def logsumexp(u):
    m = u.max(axis=1)
    return m + np.log(np.exp(u - m[:, None]).sum(axis=1))


def cost(X, Y, W, V):
    Q = np.dot(X, V)  # N x M
    Z = logistic(Q)  # N x M
    U = np.dot(Z, W)  # N x K
    return -np.mean(np.sum(U * Y, 1) - logsumexp(U))


def gradients(X, Y, W, V):
    Z = logistic(np.dot(X, V))  # N x M
    N, D = X.shape
    Yh = softmax(np.dot(Z, W))  # N x K
    dY = Yh - Y  # N x K
    dW = np.dot(Z.T, dY) / N  # M x K
    dZ = np.dot(dY, W.T)  # N x M
    dV = np.dot(X.T, dZ * Z * (1 - Z)) / N  # D x M
    return dW, dV


def GD_path(X, Y, W, V, lr=0.1, eps=1e-9, max_iters=100000):
    """The slides' GD loop (initialisation done by the caller), recording every step."""
    dW = np.inf * np.ones_like(W)
    t, path = 0, []
    while np.linalg.norm(dW) > eps and t < max_iters:
        dW, dV = gradients(X, Y, W, V)
        W = W - lr * dW
        V = V - lr * dV
        t += 1
        path.append((W, V))
    return path


def seed_network(X, M=16, K=3, seed=0):
    np.random.seed(seed)
    W = np.random.randn(M, K) * 0.01  # the slides draw W first, then V
    V = np.random.randn(X.shape[1], M) * 0.01
    model = nn.MLP([X.shape[1], M, K], ["sigmoid", "identity"], bias=False)
    return W, V, tg.tree.unflatten(tg.tree.structure(model), [V, W])


def test_cost_and_gradients_match_the_slides():
    X, y = iris_2d()
    Y = np.eye(3)[y]
    W, V, model = seed_network(X)
    model = tg.tree.map(lambda p: p * 50, model)  # away from the tiny initial weights
    W, V = model.layers[1].weight, model.layers[0].weight
    loss = lambda m: nn.cross_entropy(m(X), y)
    np.testing.assert_allclose(loss(model), cost(X, Y, W, V), rtol=1e-13)
    g = tg.grad(loss)(model)
    dW, dV = gradients(X, Y, W, V)
    np.testing.assert_allclose(g.layers[1].weight, dW, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(g.layers[0].weight, dV, rtol=1e-11, atol=1e-14)


def test_fit_equals_the_slides_gd_loop_step_for_step():
    X, y = iris_2d()
    Y = np.eye(3)[y]
    W, V, model = seed_network(X)
    steps = 400
    path = GD_path(X, Y, W, V, lr=0.1, max_iters=steps)
    ours = []
    record = lambda epoch, logs, m: ours.append((m.layers[1].weight, m.layers[0].weight))
    trained, history = tg.fit(
        model, nn.cross_entropy, X, y, tg.optim.SGD(lr=0.1), max_epochs=steps, callbacks=[record]
    )
    assert len(ours) == len(path) == steps == history.steps
    for (Wa, Va), (Wb, Vb) in zip(ours, path):
        np.testing.assert_allclose(Wa, Wb, rtol=0, atol=1e-10)
        np.testing.assert_allclose(Va, Vb, rtol=0, atol=1e-10)
    # one-hot targets (the slides' Y) give the same run
    trained_y, _ = tg.fit(model, nn.cross_entropy, X, Y, tg.optim.SGD(lr=0.1), max_epochs=steps)
    for p, q in zip(trained.parameters(), trained_y.parameters()):
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-12)


def test_stopping_rule_eps_and_max_iters():
    """``tol`` is the slides' ``eps`` (over all parameters' gradients) and ``max_epochs``
    their ``max_iters``: the same number of steps as the loop with that norm."""
    X, y = iris_2d()
    Y = np.eye(3)[y]
    W, V, model = seed_network(X)
    eps = 2e-2
    t, g = 0, np.inf
    while g > eps and t < 5000:
        dW, dV = gradients(X, Y, W, V)
        W, V, t = W - 0.1 * dW, V - 0.1 * dV, t + 1
        g = np.sqrt(np.sum(dW**2) + np.sum(dV**2))
    _, h = tg.fit(model, "cross_entropy", X, y, tg.optim.SGD(0.1), max_epochs=5000, tol=eps)
    assert h.converged and h.steps == t < 5000
    np.testing.assert_allclose(h.grad_norm[-1], g, rtol=1e-8)
    _, h2 = tg.fit(model, "cross_entropy", X, y, tg.optim.SGD(0.1), max_epochs=7, tol=1e-9)
    assert h2.steps == 7 and not h2.converged
