"""Neural networks on tracegrad's transforms: modules, layers, losses, penalties, init.

>>> import numpy as np, tracegrad as tg
>>> model = tg.nn.MLP([2, 16, 3], ["sigmoid", "identity"], rng=0)
>>> X, y = np.ones((5, 2)), np.array([0, 1, 2, 1, 0])
>>> g = tg.grad(lambda m: tg.nn.cross_entropy(m(X), y))(model)
>>> [p.shape for p in g.parameters()]
[(2, 16), (16,), (16, 3), (3,)]
"""

from tracegrad.nn import functional, init
from tracegrad.nn.activations import (
    get_activation,
    identity,
    leaky_relu,
    log_softmax,
    register_activation,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from tracegrad.nn.io import ModelFileError, load, load_optimizer_state, save, save_optimizer_state
from tracegrad.nn.layers import MLP, Activation, Dropout, Linear, Residual, Sequential
from tracegrad.nn.losses import binary_cross_entropy, cross_entropy, get_loss, mse, nll, sse
from tracegrad.nn.module import Module, is_training
from tracegrad.nn.norm import BatchNorm
from tracegrad.nn.penalties import l1_penalty, l2_penalty, penalized_weights
from tracegrad.nn.preprocessing import Predictor, Standardize

__all__ = [
    "MLP",
    "Activation",
    "BatchNorm",
    "Dropout",
    "Linear",
    "ModelFileError",
    "Module",
    "Predictor",
    "Residual",
    "Sequential",
    "Standardize",
    "binary_cross_entropy",
    "cross_entropy",
    "functional",
    "get_activation",
    "get_loss",
    "identity",
    "init",
    "is_training",
    "l1_penalty",
    "l2_penalty",
    "leaky_relu",
    "load",
    "load_optimizer_state",
    "log_softmax",
    "mse",
    "nll",
    "penalized_weights",
    "register_activation",
    "relu",
    "save",
    "save_optimizer_state",
    "sigmoid",
    "softmax",
    "sse",
    "tanh",
    "to",
]


def to(model: Module, device: str | object) -> Module:
    """``model.to(device)``: a copy of ``model`` with its parameters and buffers on
    ``device`` (``"cuda"``, ``"cuda:N"`` or ``"cpu"``; see :meth:`Module.to`)."""
    return model.to(device)
