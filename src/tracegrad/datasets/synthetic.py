"""Two-dimensional classification problems generated from a seed (pure NumPy).

Each is a classic picture for what a hidden layer buys: none of them is linearly
separable. The same ``seed`` gives the same points on every machine.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tracegrad.datasets.base import Dataset

__all__ = ["make_circles", "make_moons", "make_spirals"]


def _check(n_samples: int, noise: float, n_classes: int = 2) -> None:
    if int(n_samples) < n_classes:
        raise ValueError(f"n_samples must be at least {n_classes}, got {n_samples}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")


def _finish(X: np.ndarray, y: np.ndarray, rng: np.random.Generator, **kw: object) -> Dataset:
    # shuffle so that a plain head/tail split does not see one class only
    perm = rng.permutation(len(X))
    return Dataset(
        X=X[perm],
        y=y[perm],
        feature_names=("x1", "x2"),
        task="classification",
        target="class",
        **kw,
    )  # type: ignore[arg-type]


def make_moons(n_samples: int = 200, noise: float = 0.1, seed: int | None = 0) -> Dataset:
    """Two interleaving half circles of radius 1 (upper: class 0, lower shifted by
    ``(1, 0.5)``: class 1), with Gaussian noise of standard deviation ``noise``."""
    _check(n_samples, noise)
    rng = np.random.default_rng(seed)
    n0 = n_samples // 2
    n1 = n_samples - n0
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    upper = np.c_[np.cos(t0), np.sin(t0)]
    lower = np.c_[1.0 - np.cos(t1), 0.5 - np.sin(t1)]
    return _two_classes(upper, lower, noise, rng, ("upper", "lower"), "moons", "two moons")


def make_circles(
    n_samples: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int | None = 0
) -> Dataset:
    """Points on the unit circle (class 0, "outer") and on a circle of radius ``factor``
    (class 1, "inner"), with Gaussian noise."""
    _check(n_samples, noise)
    if not 0.0 < factor < 1.0:
        raise ValueError(f"factor must be in (0, 1), got {factor}")
    rng = np.random.default_rng(seed)
    n0 = n_samples // 2
    n1 = n_samples - n0
    t0 = np.linspace(0.0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0.0, 2 * np.pi, n1, endpoint=False)
    outer = np.c_[np.cos(t0), np.sin(t0)]
    inner = factor * np.c_[np.cos(t1), np.sin(t1)]
    return _two_classes(outer, inner, noise, rng, ("outer", "inner"), "circles", "two circles")


def _two_classes(
    X0: np.ndarray,
    X1: np.ndarray,
    noise: float,
    rng: np.random.Generator,
    target_names: tuple[str, str],
    name: str,
    description: str,
) -> Dataset:
    """Class 0 at the points ``X0``, class 1 at ``X1``, both with Gaussian noise."""
    X = np.concatenate([X0, X1], axis=0)
    X = X + rng.normal(0.0, noise, X.shape)
    y = np.r_[np.zeros(len(X0), np.int64), np.ones(len(X1), np.int64)]
    return _finish(X, y, rng, target_names=target_names, name=name, description=description)


def make_spirals(
    n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, seed: int | None = 0
) -> Dataset:
    """``n_classes`` spiral arms winding out from the origin (the CS231n picture): arm
    ``k`` at radius ``r ∈ [0, 1]`` has angle ``4r + 2πk/K`` plus noise ``noise`` (radians)."""
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    _check(n_samples, noise, n_classes)
    rng = np.random.default_rng(seed)
    sizes = [
        n_samples // n_classes + (1 if k < n_samples % n_classes else 0) for k in range(n_classes)
    ]
    parts, labels = [], []
    for k, m in enumerate(sizes):
        r = np.linspace(0.0, 1.0, m)
        theta = 4.0 * r + 2.0 * np.pi * k / n_classes + rng.normal(0.0, noise, m)
        parts.append(np.c_[r * np.sin(theta), r * np.cos(theta)])
        labels.append(np.full(m, k, np.int64))
    return _finish(
        np.concatenate(parts),
        np.concatenate(labels),
        rng,
        target_names=tuple(f"arm {k}" for k in range(n_classes)),
        name="spirals",
        description=f"{n_classes} spirals",
    )


GENERATED: dict[str, Callable[..., Dataset]] = {
    "moons": make_moons,
    "circles": make_circles,
    "spirals": make_spirals,
}
