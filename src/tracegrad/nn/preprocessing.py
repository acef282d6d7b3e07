"""Input scaling as a layer, and ``Predictor``: a trained network with what it takes to
use it on raw data (feature scaling, class names, target scaling), saved as one file.

``tracegrad train`` saves a ``Predictor``; ``tracegrad predict`` (or ``tg.nn.load`` and
``predictor.predict(X)``) applies it to data in the original units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

import tracegrad.numpy as tnp
from tracegrad.nn.module import Module, check_features

__all__ = ["Predictor", "Standardize"]


class Standardize(Module):
    """``(x − mean) / scale`` per feature, with constant (non-trainable) statistics.

    ``Standardize.fit(X)`` takes them from training data ``(N, D)``; features with zero
    spread get scale 1 so they pass through centred instead of dividing by zero.
    """

    _buffer_names = ("mean", "scale")

    def __init__(self, mean: Any, scale: Any) -> None:
        mean, scale = np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64)
        if mean.ndim != 1 or mean.shape != scale.shape:
            raise ValueError(
                f"Standardize: mean and scale must be vectors of one shape, got "
                f"{mean.shape} and {scale.shape}"
            )
        self.mean = mean
        self.scale = np.where(scale > 0, scale, 1.0)

    @classmethod
    def fit(cls, X: Any) -> Standardize:
        """Statistics of ``X`` ``(N, D)``: column means and standard deviations."""
        X = np.asarray(X, dtype=np.float64)
        return cls(X.mean(axis=0), X.std(axis=0))

    def _array_shapes(self) -> dict[str, tuple[int, ...]]:
        # the configuration is the mean vector itself: scale must match it, and both
        # must be vectors (a scalar or matrix "mean" is as wrong as a mismatched scale)
        n = self.mean.shape[0] if self.mean.ndim == 1 else self.mean.size
        return {"mean": (n,), "scale": (n,)}

    def forward(self, x: Any) -> Any:
        n = self.mean.shape[0]
        check_features(self, x, n, f"Standardize({n})")
        dt = x.dtype if np.issubdtype(np.dtype(x.dtype), np.floating) else np.float64
        return (x - self.mean.astype(dt)) / self.scale.astype(dt)

    def extra_repr(self) -> str:
        return f"{self.mean.shape[0]}"


class Predictor(Module):
    """A trained network plus its input scaling and the meaning of its outputs.

    Args:
        model: the network; for classification it outputs logits (``output="logits"``)
            or probabilities (``"probabilities"``, e.g. a softmax layer trained with
            ``mse``); for regression standardised targets.
        scaler: a :class:`Standardize` for the raw inputs.
        task: ``"classification"`` or ``"regression"``.
        feature_names: the input columns, in order.
        class_names: the classes (classification), ``class_names[i]`` for output ``i``.
        target_name: the name of what is predicted.
        target_mean, target_scale: regression outputs are ``mean + scale · model(x)``.
        output: what the network's outputs are. Classification: ``"logits"``
            (``predict_proba`` applies a softmax) or ``"probabilities"`` (used as they
            are, after clipping at 0 and renormalising). Regression: ``"values"``,
            standardised target values (the only choice). ``None``: ``"logits"`` for
            classification, ``"values"`` for regression.
    """

    # the allowed values of ``output`` for each task, the first being the default
    OUTPUTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "classification": ("logits", "probabilities"),
        "regression": ("values",),
    }

    def __init__(
        self,
        model: Module,
        scaler: Standardize,
        *,
        task: str,
        feature_names: Sequence[str],
        class_names: Sequence[str] = (),
        target_name: str = "target",
        target_mean: float = 0.0,
        target_scale: float = 1.0,
        output: str | None = None,
    ) -> None:
        if task not in self.OUTPUTS:
            raise ValueError(f"Predictor: task must be classification or regression: {task!r}")
        allowed = self.OUTPUTS[task]
        if output is None:
            output = allowed[0]
        elif output not in allowed:
            raise ValueError(
                f"Predictor: output must be one of {', '.join(map(repr, allowed))} for "
                f"{task}, got {output!r}"
            )
        self.model = model
        self.scaler = scaler
        self.task = task
        self.feature_names = tuple(str(f) for f in feature_names)
        self.class_names = tuple(str(c) for c in class_names)
        self.target_name = str(target_name)
        self.target_mean = float(target_mean)
        self.target_scale = float(target_scale)
        self.output = output

    def forward(self, x: Any) -> Any:
        """The network's raw outputs for raw inputs ``x`` ``(N, D)``."""
        return self.model(self.scaler(x))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(N, C)`` (classification only)."""
        if self.task != "classification":
            raise ValueError("predict_proba: this model does regression")
        out = np.asarray(self(np.asarray(X, dtype=np.float64)), dtype=np.float64)
        if self.output == "probabilities":
            p = np.clip(out, 0.0, None)
            return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-300)
        return np.asarray(tnp.softmax(out, axis=1))

    def predict(self, X: Any) -> np.ndarray:
        """Class indices ``(N,)`` (``class_names[i]`` names them), or regression values
        ``(N,)`` in the target's original units."""
        X = np.asarray(X, dtype=np.float64)
        if self.task == "classification":
            return self.predict_proba(X).argmax(axis=1)
        out = np.asarray(self(X), dtype=np.float64).reshape(len(X), -1)[:, 0]
        return self.target_mean + self.target_scale * out

    def extra_repr(self) -> str:
        what = f"{len(self.class_names)} classes" if self.task == "classification" else "regression"
        return f"{len(self.feature_names)} features → {what}"
