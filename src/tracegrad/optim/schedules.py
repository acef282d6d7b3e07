"""Learning-rate schedules: callables ``step -> lr``.

``step`` is the number of updates already applied (0 for the first update). Pass one as
an optimiser's ``lr``: ``SGD(lr=step_decay(0.1, step_size=100, gamma=0.5))``. Any
function of the step works too. With ``tg.fit`` there are ``ceil(N / batch_size)`` steps
per epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = [
    "LRLike",
    "constant",
    "cosine_decay",
    "exponential_decay",
    "inverse_time_decay",
    "resolve",
    "step_decay",
]

LRLike = float | Callable[[int], float]


class _Schedule:
    def __call__(self, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class constant(_Schedule):  # noqa: N801 - schedules read as functions
    """``lr`` at every step."""

    def __init__(self, lr: float) -> None:
        self.lr = float(lr)

    def __call__(self, step: int) -> float:
        return self.lr


class step_decay(_Schedule):  # noqa: N801
    """``lr · gamma^(step // step_size)`` (PyTorch's ``StepLR``, counted in updates)."""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"step_decay: step_size must be >= 1, got {step_size}")
        self.lr, self.step_size, self.gamma = float(lr), int(step_size), float(gamma)

    def __call__(self, step: int) -> float:
        return self.lr * self.gamma ** (step // self.step_size)


class exponential_decay(_Schedule):  # noqa: N801
    """``lr · gamma^step``."""

    def __init__(self, lr: float, gamma: float) -> None:
        self.lr, self.gamma = float(lr), float(gamma)

    def __call__(self, step: int) -> float:
        return self.lr * self.gamma**step


class inverse_time_decay(_Schedule):  # noqa: N801
    """``lr / (1 + decay · step)``, the classic Robbins–Monro-style decay."""

    def __init__(self, lr: float, decay: float) -> None:
        self.lr, self.decay = float(lr), float(decay)

    def __call__(self, step: int) -> float:
        return self.lr / (1.0 + self.decay * step)


class cosine_decay(_Schedule):  # noqa: N801
    """From ``lr`` to ``final_lr`` along half a cosine over ``total_steps``, then flat."""

    def __init__(self, lr: float, total_steps: int, final_lr: float = 0.0) -> None:
        self.lr, self.total_steps, self.final_lr = float(lr), int(total_steps), float(final_lr)

    def __call__(self, step: int) -> float:
        t = min(step, self.total_steps) / max(self.total_steps, 1)
        return self.final_lr + 0.5 * (self.lr - self.final_lr) * (1.0 + math.cos(math.pi * t))


def resolve(lr: LRLike, step: int) -> float:
    """The learning rate at ``step`` for a constant or a schedule."""
    value = lr(step) if callable(lr) else lr
    return float(value)
