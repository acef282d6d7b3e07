"""Batch normalisation."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

import tracegrad.numpy as tnp
from tracegrad.core.backend import as_array
from tracegrad.core.primitive import ShapeError
from tracegrad.nn.module import Module, check_features, current_context
from tracegrad.transforms import stop_gradient

__all__ = ["BatchNorm", "global_batch_statistics"]

# set by data-parallel training while a rank works on its shard of a global batch
_BATCH_SUM: contextvars.ContextVar[Callable[[Any], Any] | None] = contextvars.ContextVar(
    "tracegrad_batch_sum", default=None
)


@contextmanager
def global_batch_statistics(sum_over_shards: Callable[[Any], Any]) -> Iterator[None]:
    """Within the block, BatchNorm in training mode normalises with the mean and variance
    of the **global** batch, of which its input is one shard: ``sum_over_shards(a)``
    returns the sum of ``a`` (an array of per-feature sums) over all shards, and is
    differentiable (data-parallel training passes an allreduce; see
    :mod:`tracegrad.train.distributed`). Every shard must run the same layers."""
    token = _BATCH_SUM.set(sum_over_shards)
    try:
        yield
    finally:
        _BATCH_SUM.reset(token)


class BatchNorm(Module):
    """Batch normalisation over the batch axis of ``(N, features)`` inputs.

    ``y = γ · (x − μ) / sqrt(σ² + eps) + β`` per feature, where

    * in **training** mode (``apply(x, train=True)``) ``μ`` and ``σ²`` are the batch's
      mean and biased variance, and gradients flow through them (seed 001: "we
      backpropagate through this normalization");
    * in **evaluation** mode (the default, ``model(x)``) they are the running statistics.

    Momentum convention (PyTorch's, *not* Keras'/Equinox's): in training mode ``apply``
    reports ``running = (1 − momentum) · running + momentum · batch_statistic`` with
    ``momentum = 0.1`` the weight of the **new** batch; the running variance uses the
    unbiased batch variance (``σ² · N / (N − 1)``). Keras' ``momentum=0.99`` (weight of
    the old value) corresponds to ``momentum=0.01`` here. The running statistics are
    buffers: not parameters, never differentiated (computed from ``stop_gradient``-ed
    batch statistics) and not touched by optimisers or penalties; ``γ`` and ``β`` are
    parameters, never penalised.
    """

    _buffer_names = ("running_mean", "running_var")
    _weight_names = ()

    def __init__(
        self,
        num_features: int,
        *,
        momentum: float = 0.1,
        eps: float = 1e-5,
        affine: bool = True,
        dtype: Any = np.float64,
    ) -> None:
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm momentum must be in [0, 1], got {momentum}")
        self.num_features = int(num_features)
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.gamma = np.ones(self.num_features, dtype=dtype) if affine else None
        self.beta = np.zeros(self.num_features, dtype=dtype) if affine else None
        self.running_mean = np.zeros(self.num_features, dtype=dtype)
        self.running_var = np.ones(self.num_features, dtype=dtype)

    def _array_shapes(self) -> dict[str, tuple[int, ...]]:
        names = ("gamma", "beta", "running_mean", "running_var")
        return {n: (self.num_features,) for n in names if getattr(self, n) is not None}

    def forward(self, x: Any) -> Any:
        check_features(self, x, self.num_features, f"BatchNorm({self.num_features})")
        ctx = current_context()
        axes = tuple(range(len(x.shape) - 1))
        if ctx.train:
            n = int(np.prod([x.shape[a] for a in axes]))
            total = _BATCH_SUM.get()
            if total is not None:  # a shard: the whole batch's count, from every shard
                n = int(round(float(total(np.asarray(float(n))))))
            if n < 2:
                raise ShapeError(
                    f"BatchNorm in training mode needs at least 2 samples per batch to "
                    f"estimate a variance, got input shape {tuple(x.shape)} (use batch_size "
                    "> 1, or evaluation mode)"
                )
            if total is None:
                mean = tnp.mean(x, axis=axes)
                var = tnp.var(x, axis=axes)
            else:  # two passes, as tnp.var: the global mean first, then the squares about it
                mean = total(tnp.sum(x, axis=axes)) / n
                var = total(tnp.sum((x - mean) ** 2, axis=axes)) / n
            m = self.momentum
            dt = self.running_mean.dtype
            new_mean = (1.0 - m) * self.running_mean + m * as_array(stop_gradient(mean))
            new_var = (1.0 - m) * self.running_var + m * as_array(stop_gradient(var)) * (
                n / (n - 1)
            )
            self.record_state(running_mean=new_mean.astype(dt), running_var=new_var.astype(dt))
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean) / tnp.sqrt(var + self.eps)
        if self.gamma is not None:
            y = y * self.gamma + self.beta
        return y

    def extra_repr(self) -> str:
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"
