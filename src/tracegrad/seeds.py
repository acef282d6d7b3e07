"""The lecture notes' worked examples as functions (used by the demo, the docs and the
tests, which check them against the slides' numbers)."""

from __future__ import annotations

from typing import Any

import numpy as np

import tracegrad.numpy as tnp

__all__ = [
    "imperial_f",
    "imperial_trace",
    "logistic",
    "logistic_rss",
    "logistic_rss_data",
    "logistic_rss_trace",
    "mlp_cost",
    "mlp_gradients",
    "mse_graph",
    "mse_graph_trace",
    "sin_cos",
    "sqrt_exp",
]


def imperial_f(x1: Any, x2: Any) -> Any:
    """Seed 002: ``f(x1, x2) = ln x1 + x1 x2 − sin x2``; at (2, 5): 11.652, ∇f = (5.5, 1.716)."""
    return tnp.log(x1) + x1 * x2 - tnp.sin(x2)


def imperial_trace(x1: Any, x2: Any) -> dict[str, Any]:
    """Seed 002's primal trace, every intermediate by its slide name.

    ``v1 = ln x1, v2 = x1 x2, v3 = sin x2, v4 = v1 + v2, v5 = v4 − v3 = y``; a JVP of this
    function gives the whole tangent trace in one pass.
    """
    v1 = tnp.log(x1)
    v2 = x1 * x2
    v3 = tnp.sin(x2)
    v4 = v1 + v2
    v5 = v4 - v3
    return {"v1": v1, "v2": v2, "v3": v3, "v4": v4, "v5": v5}


def mse_graph(x: Any, w: Any, b: Any, y: Any) -> Any:
    """Seed 004: ``v = w x, z = v + b, h = ReLU(z), ŷ = h + z, J = (ŷ − y)²``.

    At y=7, b=−3, w=2, x=5: J = 49, x̄ = 56, w̄ = 140, b̄ = 28, ȳ = −14.
    """
    v = w * x
    z = v + b
    h = tnp.relu(z)
    y_hat = h + z
    return (y_hat - y) ** 2


def mse_graph_trace(x: Any, w: Any, b: Any, y: Any) -> dict[str, Any]:
    """Seed 004's graph with every node by its slide name: ``v, z, h, y_hat, J``."""
    v = w * x
    z = v + b
    h = tnp.relu(z)
    y_hat = h + z
    return {"v": v, "z": z, "h": h, "y_hat": y_hat, "J": (y_hat - y) ** 2}


def logistic_rss_data() -> tuple[np.ndarray, np.ndarray]:
    """Seed 000's data set: x = (1, 1.5) with class 0, x = (1.5, −1) with class 1,
    each with a leading 1 for the bias weight w0."""
    X = np.array([[1.0, 1.0, 1.5], [1.0, 1.5, -1.0]])
    c = np.array([0.0, 1.0])
    return X, c


def logistic_rss(w: Any) -> Any:
    """Seed 000: RSS of logistic regression, ``Σ (c − σ(wᵀx))²``.

    At w = (−1, 1.5, 0.5): L = 0.71, ∇L = (0.13, 0.06, 0.54).
    """
    X, c = logistic_rss_data()
    return tnp.sum((c - tnp.sigmoid(X @ w)) ** 2)


def logistic_rss_trace(w: Any) -> dict[str, Any]:
    """Seed 000's forward primal trace ``v1 … v9`` at weights ``w = (w0, w1, w2)``.

    ``v1 = w0 + w1 + 1.5 w2``, ``v2 = w0 + 1.5 w1 − w2``, ``v3 = σ(v1)``, ``v4 = σ(v2)``,
    ``v5 = 0 − v3``, ``v6 = 1 − v4``, ``v7 = v5²``, ``v8 = v6²``, ``v9 = v7 + v8 = L``.
    """
    v1 = w[0] + w[1] + 1.5 * w[2]
    v2 = w[0] + 1.5 * w[1] - w[2]
    v3 = tnp.sigmoid(v1)
    v4 = tnp.sigmoid(v2)
    v5 = 0.0 - v3
    v6 = 1.0 - v4
    v7 = v5**2
    v8 = v6**2
    v9 = v7 + v8
    names = ("v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9")
    return dict(zip(names, (v1, v2, v3, v4, v5, v6, v7, v8, v9)))


def sin_cos(w0: Any, w1: Any, x: Any) -> Any:
    """Seed 001: ``(sin(w1 x + w0), cos(w1 x + w0))``, both outputs from one forward pass."""
    u = w1 * x + w0
    return tnp.array([tnp.sin(u), tnp.cos(u)])


def sqrt_exp(x: Any) -> Any:
    """Seed 003: ``f(x) = sqrt(x² + exp(x²))``, with f'(x) = x (1 + exp(x²)) / f(x)."""
    a = x**2
    return tnp.sqrt(a + tnp.exp(a))


# --- seed 001: the Iris MLP's cost and its hand-written gradients ------------------------


def logistic(q: Any) -> Any:
    """The logistic function ``1 / (1 + exp(−q))``."""
    return tnp.sigmoid(q)


def mlp_cost(X: Any, Y: Any, W: Any, V: Any) -> Any:
    """Seed 001's ``cost``: mean negative log-likelihood of a one-hidden-layer MLP.

    Shapes: ``X`` (N, D) inputs, ``Y`` (N, K) one-hot targets, ``W`` (M, K) output
    weights, ``V`` (D, M) hidden weights. ``Z = logistic(X V)``, ``U = Z W`` and
    ``nll = −mean(Σ_k U Y − logsumexp(U))`` row by row.
    """
    Z = logistic(tnp.dot(X, V))  # N x M
    U = tnp.dot(Z, W)  # N x K
    return -tnp.mean(tnp.sum(U * Y, axis=1) - tnp.logsumexp(U, axis=1))


def mlp_gradients(
    X: np.ndarray, Y: np.ndarray, W: np.ndarray, V: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Seed 001's hand-written backpropagation for :func:`mlp_cost`, in plain NumPy.

    Returns ``(dW, dV)`` with the shapes of ``W`` (M, K) and ``V`` (D, M).
    """
    N = X.shape[0]
    Z = 1.0 / (1.0 + np.exp(-np.dot(X, V)))  # N x M
    U = np.dot(Z, W)  # N x K
    E = np.exp(U - U.max(axis=1, keepdims=True))
    Yh = E / E.sum(axis=1, keepdims=True)  # softmax, N x K
    dY = Yh - Y  # N x K
    dW = np.dot(Z.T, dY) / N  # M x K
    dZ = np.dot(dY, W.T)  # N x M
    dV = np.dot(X.T, dZ * Z * (1 - Z)) / N  # D x M
    return dW, dV
