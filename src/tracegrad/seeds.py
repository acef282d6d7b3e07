"""The lecture notes' worked examples as functions (used by the demo, the docs and the
tests, which check them against the slides' numbers)."""

from __future__ import annotations

from typing import Any

import numpy as np

import tracegrad.numpy as tnp

__all__ = [
    "imperial_f",
    "logistic_rss",
    "logistic_rss_data",
    "mse_graph",
    "sin_cos",
    "sqrt_exp",
]


def imperial_f(x1: Any, x2: Any) -> Any:
    """Seed 002: ``f(x1, x2) = ln x1 + x1 x2 − sin x2``; at (2, 5): 11.652, ∇f = (5.5, 1.716)."""
    return tnp.log(x1) + x1 * x2 - tnp.sin(x2)


def mse_graph(x: Any, w: Any, b: Any, y: Any) -> Any:
    """Seed 004: ``v = w x, z = v + b, h = ReLU(z), ŷ = h + z, J = (ŷ − y)²``.

    At y=7, b=−3, w=2, x=5: J = 49, x̄ = 56, w̄ = 140, b̄ = 28, ȳ = −14.
    """
    v = w * x
    z = v + b
    h = tnp.relu(z)
    y_hat = h + z
    return (y_hat - y) ** 2


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


def sin_cos(w0: Any, w1: Any, x: Any) -> Any:
    """Seed 001: ``(sin(w1 x + w0), cos(w1 x + w0))``, both outputs from one forward pass."""
    u = w1 * x + w0
    return tnp.array([tnp.sin(u), tnp.cos(u)])


def sqrt_exp(x: Any) -> Any:
    """Seed 003: ``f(x) = sqrt(x² + exp(x²))``, with f'(x) = x (1 + exp(x²)) / f(x)."""
    a = x**2
    return tnp.sqrt(a + tnp.exp(a))
