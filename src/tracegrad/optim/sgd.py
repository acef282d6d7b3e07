"""Stochastic gradient descent with seed 000's momentum rule.

With velocity ``ΔW`` (zero before the first step), learning rate ``η_t`` and momentum
``α``::

    ΔW(t) = η_t · ∇L(W(t−1)) + α · ΔW(t−1)        (seed 000, Weimar ML:IV)
    W(t)  = W(t−1) − ΔW(t)

(The slides write ``W = W + ΔW`` with the descent direction's sign inside ``ΔW``; the
iterates are the same.) ``nesterov=True`` steps by ``η_t · ∇ + α · ΔW(t)`` instead
(the look-ahead form of Sutskever et al.).

Relation to PyTorch's ``torch.optim.SGD`` (``dampening=0``), which keeps the buffer
``b(t) = μ · b(t−1) + g(t)`` and steps ``W −= γ_t · b(t)``: for a **constant** rate
``γ = η`` the two give identical iterates, since ``ΔW(t) = η · b(t)`` by induction.
Under a **schedule** they differ: here each gradient is scaled by the rate of the step
at which it was taken (past steps keep their size), while PyTorch rescales the whole
accumulated buffer by the current rate. Nesterov: PyTorch's ``W −= γ (g + μ b)`` equals
``W −= η g + α ΔW`` here for a constant rate. Weight decay is not built in: add
``tg.nn.l2_penalty`` to the loss (it spares biases and BatchNorm parameters).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from tracegrad.core import tree
from tracegrad.core.backend import as_array
from tracegrad.optim.schedules import LRLike, resolve

__all__ = ["SGD", "SGDState"]


class SGDState(NamedTuple):
    """``step``: updates applied so far; ``velocity``: ``ΔW`` per parameter (``None``
    without momentum)."""

    step: int
    velocity: Any


class SGD:
    """Gradient descent, optionally with momentum; pure ``init``/``update``.

    >>> import numpy as np
    >>> opt = SGD(lr=0.1, momentum=0.9)
    >>> params = {"w": np.array([1.0])}
    >>> state = opt.init(params)
    >>> params, state = opt.update(params, {"w": np.array([1.0])}, state)
    >>> params["w"], state.velocity["w"]
    (array([0.9]), array([0.1]))
    """

    def __init__(self, lr: LRLike = 0.01, momentum: float = 0.0, nesterov: bool = False) -> None:
        if not callable(lr) and not float(lr) > 0:
            raise ValueError(f"SGD: lr must be positive (or a schedule), got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0.0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.lr = lr
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr!r}, momentum={self.momentum}, nesterov={self.nesterov})"

    def learning_rate(self, step: int) -> float:
        """The rate used by update number ``step`` (0-based)."""
        return resolve(self.lr, step)

    def init(self, params: Any) -> SGDState:
        """Zero velocity (seed 000: ``ΔW(0) = 0``), with each parameter's shape and dtype."""
        if self.momentum == 0.0:
            return SGDState(0, None)
        return SGDState(0, tree.map(lambda p: np.zeros_like(as_array(p)), params))

    def update(self, params: Any, grads: Any, state: SGDState) -> tuple[Any, SGDState]:
        """One step: ``(new_params, new_state)``; nothing is modified in place."""
        eta = self.learning_rate(state.step)
        if self.momentum == 0.0:
            new = tree.map(lambda p, g: p - eta * g, params, grads)
            return new, SGDState(state.step + 1, None)
        alpha = self.momentum
        velocity = tree.map(lambda v, g: eta * g + alpha * v, state.velocity, grads)
        if self.nesterov:
            step = tree.map(lambda v, g: eta * g + alpha * v, velocity, grads)
        else:
            step = velocity
        new = tree.map(lambda p, s: p - s, params, step)
        return new, SGDState(state.step + 1, velocity)
