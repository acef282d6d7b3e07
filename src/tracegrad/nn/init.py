"""Weight initialisers, repeatable from a seed.

An initialiser is a function ``init(rng, shape, dtype) -> ndarray`` where ``rng`` is a
``numpy.random.Generator``. Weight matrices have shape ``(fan_in, fan_out)`` (layers
compute ``x @ W + b``). Pick one by name in a layer (``init="he_normal"``) or pass the
function itself.

============== ===================================================================
name           distribution
============== ===================================================================
small_normal   ``N(0, 0.01²)``: seed 001's ``randn(D, M) * .01``
normal         ``N(0, std²)`` (``normal(std)`` makes one with another ``std``)
glorot_uniform ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio)
glorot_normal  ``N(0, 2 / (fan_in + fan_out))``
he_normal      ``N(0, 2 / fan_in)`` (He et al., for ReLU layers)
he_uniform     ``U(-a, a)``, ``a = sqrt(6 / fan_in)``
zeros, ones    constants (biases, BatchNorm's β and γ)
============== ===================================================================
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "Initializer",
    "as_generator",
    "get_initializer",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "normal",
    "ones",
    "small_normal",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

Initializer = Callable[[np.random.Generator, tuple, Any], np.ndarray]
RNGLike = int | np.random.Generator | None


def as_generator(rng: RNGLike) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a seed, a generator (returned as is) or ``None``
    (fresh OS entropy: not repeatable)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    if hasattr(rng, "__index__") and not isinstance(rng, float):  # a traced int: its value
        return np.random.default_rng(operator.index(rng))
    raise TypeError(f"expected a seed (int), a numpy.random.Generator or None, got {rng!r}")


def _fans(shape: tuple) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[0] * receptive, shape[1] * receptive


def normal(std: float = 1.0) -> Initializer:
    """An initialiser drawing from ``N(0, std²)``."""

    def init(rng: np.random.Generator, shape: tuple, dtype: Any = np.float64) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(dtype)

    init.__name__ = f"normal(std={std})"
    return init


def small_normal(rng: np.random.Generator, shape: tuple, dtype: Any = np.float64) -> np.ndarray:
    """``N(0, 0.01²)``, seed 001's ``np.random.randn(*shape) * .01``."""
    return (rng.standard_normal(shape) * 0.01).astype(dtype)


def glorot_uniform(rng: np.random.Generator, shape: tuple, dtype: Any = np.float64) -> np.ndarray:
    """Glorot/Xavier uniform: ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(shape)
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape).astype(dtype)


def glorot_normal(rng: np.random.Generator, shape: tuple, dtype: Any = np.float64) -> np.ndarray:
    """Glorot/Xavier normal: ``N(0, 2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def he_normal(rng: np.random.Generator, shape: tuple, dtype: Any = np.float64) -> np.ndarray:
    """He/Kaiming normal: ``N(0, 2 / fan_in)``, keeps ReLU activations' variance."""
    fan_in, _ = _fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def he_uniform(rng: np.random.Generator, shape: tuple, dtype: Any = np.float64) -> np.ndarray:
    """He/Kaiming uniform: ``U(-a, a)`` with ``a = sqrt(6 / fan_in)``."""
    fan_in, _ = _fans(shape)
    a = np.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, size=shape).astype(dtype)


def zeros(rng: np.random.Generator, shape: tuple, dtype: Any = np.float64) -> np.ndarray:
    """All zeros (``rng`` is unused; the signature matches the other initialisers)."""
    return np.zeros(shape, dtype=dtype)


def ones(rng: np.random.Generator, shape: tuple, dtype: Any = np.float64) -> np.ndarray:
    """All ones."""
    return np.ones(shape, dtype=dtype)


xavier_uniform = glorot_uniform
xavier_normal = glorot_normal

_BY_NAME: dict[str, Initializer] = {
    "small_normal": small_normal,
    "normal": normal(1.0),
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "kaiming_normal": he_normal,
    "kaiming_uniform": he_uniform,
    "zeros": zeros,
    "ones": ones,
}


def get_initializer(init: str | Initializer) -> Initializer:
    """The initialiser for a name (see the module docstring) or the function itself."""
    if callable(init):
        return init
    try:
        return _BY_NAME[init]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown initialiser {init!r}; known: {', '.join(sorted(_BY_NAME))}"
        ) from None
