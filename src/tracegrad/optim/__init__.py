"""Optimisers as pure ``(init, update)`` pairs over parameter pytrees (optax's shape).

>>> state = opt.init(params)                                  # doctest: +SKIP
>>> params, state = opt.update(params, grads, state)          # doctest: +SKIP

``update`` takes the gradient (not its negative) and returns new parameters; nothing is
modified in place.
"""

from tracegrad.optim import schedules
from tracegrad.optim.adam import Adam, AdamState
from tracegrad.optim.schedules import (
    constant,
    cosine_decay,
    exponential_decay,
    inverse_time_decay,
    step_decay,
)
from tracegrad.optim.sgd import SGD, SGDState

__all__ = [
    "SGD",
    "Adam",
    "AdamState",
    "SGDState",
    "constant",
    "cosine_decay",
    "exponential_decay",
    "inverse_time_decay",
    "schedules",
    "step_decay",
]
