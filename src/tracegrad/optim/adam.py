"""Adam (Kingma & Ba, 2015) with bias correction."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

import tracegrad.numpy as tnp
from tracegrad.core import tree
from tracegrad.core.backend import as_array
from tracegrad.optim.schedules import LRLike, resolve

__all__ = ["Adam", "AdamState"]


class AdamState(NamedTuple):
    """``step``: updates applied; ``mu``, ``nu``: first and second moment estimates."""

    step: int
    mu: Any
    nu: Any


class Adam:
    """``m ← β₁m + (1−β₁)g``, ``v ← β₂v + (1−β₂)g²``,
    ``W ← W − η · m̂ / (sqrt(v̂) + eps)`` with ``m̂ = m / (1−β₁ᵗ)``, ``v̂ = v / (1−β₂ᵗ)``.

    Same defaults and iterates as ``torch.optim.Adam`` (no weight decay, no amsgrad).
    Moments keep each parameter's dtype, so float32 training stays float32.
    """

    def __init__(
        self, lr: LRLike = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        if not callable(lr) and not float(lr) > 0:
            raise ValueError(f"Adam: lr must be positive (or a schedule), got {lr}")
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        self.lr, self.betas, self.eps = lr, (float(b1), float(b2)), float(eps)

    def __repr__(self) -> str:
        return f"Adam(lr={self.lr!r}, betas={self.betas}, eps={self.eps})"

    def learning_rate(self, step: int) -> float:
        """The rate used by update number ``step`` (0-based)."""
        return resolve(self.lr, step)

    def init(self, params: Any) -> AdamState:
        """Zero moments with each parameter's shape and dtype."""
        zeros = lambda p: np.zeros_like(as_array(p))  # on the parameter's device
        return AdamState(0, tree.map(zeros, params), tree.map(zeros, params))

    def update(self, params: Any, grads: Any, state: AdamState) -> tuple[Any, AdamState]:
        """One step: ``(new_params, new_state)``."""
        b1, b2 = self.betas
        t = state.step + 1
        eta = self.learning_rate(state.step)
        mu = tree.map(lambda m, g: b1 * m + (1.0 - b1) * g, state.mu, grads)
        nu = tree.map(lambda v, g: b2 * v + (1.0 - b2) * (g * g), state.nu, grads)
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t
        eps = self.eps

        def step(p: Any, m: Any, v: Any) -> Any:
            return p - eta * (m / c1) / (tnp.sqrt(v / c2) + eps)

        return tree.map(step, params, mu, nu), AdamState(t, mu, nu)
