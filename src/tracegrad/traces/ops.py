"""Operations the seeds use as single steps: ``mse_step`` (seed 004's ``J = MSE(ŷ, y)``).

Not the loss ``tracegrad.nn.mse`` (a composition with a ``reduction``): one primitive, so
that a trace shows it as one step, as the seed does."""

from __future__ import annotations

from typing import Any

import numpy as np

import tracegrad.numpy as tnp
from tracegrad.core.primitive import Primitive, get_value, shape_of
from tracegrad.traces.registry import display
from tracegrad.traces.symbolic import size
from tracegrad.transforms import defjvp, defvjp

__all__ = ["mse_step"]


def _mse(y_hat: Any, y: Any) -> Any:
    """Mean squared error ``mean((ŷ - y)²)``: one step in a trace, as in seed 004."""
    return np.mean((np.asarray(y_hat, dtype=float) - y) ** 2)


mse_step = Primitive(_mse, "mse")  # the step reads MSE(ŷ, y), as the seed writes it


def _n(y_hat: Any, y: Any) -> int:
    # The mean runs over the broadcast shape of both operands.
    return int(
        np.size(
            np.broadcast_to(
                get_value(y_hat),
                np.broadcast_shapes(shape_of(y_hat), shape_of(y)),
            )
        )
    )


# Rules in tracegrad.numpy operations, so that they can be differentiated again.
defvjp(
    mse_step,
    lambda g, out, y_hat, y: g * (2.0 / _n(y_hat, y)) * (y_hat - y),
    lambda g, out, y_hat, y: g * (-2.0 / _n(y_hat, y)) * (y_hat - y),
)
defjvp(
    mse_step,
    lambda t, out, y_hat, y: tnp.sum(t * (y_hat - y)) * (2.0 / _n(y_hat, y)),
    lambda t, out, y_hat, y: tnp.sum(t * (y_hat - y)) * (-2.0 / _n(y_hat, y)),
)
display(
    mse_step,
    "\\mathrm{MSE}(#0, #1)",
    lambda y_hat, y, out: (2 / size(y_hat) * (y_hat - y), -(2 / size(y_hat) * (y_hat - y))),
    symbol="MSE",
)
