"""Weight penalties, added to a loss so that autodiff (and ``check_grads``) covers them.

They apply to **weights only**: ``Module.weights()`` (``Linear.weight``; by default any
parameter with ``ndim >= 2``), never to biases or BatchNorm's γ and β. For a plain pytree
(a dict of arrays) the leaves with ``ndim >= 2`` count as weights.

Convention: ``l2_penalty(model, lam) = (lam / 2) · Σ ‖W‖²_F``, whose gradient is
``lam · W``, what PyTorch's ``weight_decay=lam`` adds to the gradient of SGD. Seed 003's
``λ‖W‖²`` is ``l2_penalty(model, 2 * λ)``; scikit-learn's ``alpha`` with a mean loss over
``n`` samples is ``l2_penalty(model, alpha / n)``.
"""

from __future__ import annotations

from typing import Any

import tracegrad.numpy as tnp
from tracegrad.core import tree
from tracegrad.nn.functional import sum_of_squares
from tracegrad.nn.module import Module

__all__ = ["l1_penalty", "l2_penalty", "penalized_weights"]


def penalized_weights(model: Any) -> list[Any]:
    """The arrays the penalties apply to (see the module docstring)."""
    if isinstance(model, Module):
        return model.weights()
    return [w for w in tree.leaves(model) if len(getattr(w, "shape", ())) >= 2]


def l2_penalty(model: Any, lam: float) -> Any:
    """``(lam / 2) · Σ_W ‖W‖²`` over the weights; gradient ``lam · W``."""
    # one step on the tape for all the weights, gradient lam · W without a w * w buffer
    return sum_of_squares(*penalized_weights(model), scale=0.5 * lam)


def l1_penalty(model: Any, lam: float) -> Any:
    """``lam · Σ_W Σ |W_ij|`` over the weights; gradient ``lam · sign(W)`` (0 at 0)."""
    total: Any = 0.0
    for w in penalized_weights(model):
        total = total + tnp.sum(tnp.abs(w))
    return lam * total
