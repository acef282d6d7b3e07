"""Layers: ``Linear``, ``MLP``, ``Sequential``, ``Residual``, ``Activation``, ``Dropout``.

All layers work on batches ``(N, features)`` and compute ``x @ W + b`` with ``W`` of
shape ``(in_features, out_features)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from tracegrad.core.backend import asarray_like
from tracegrad.core.primitive import ShapeError, dtype_of
from tracegrad.nn import activations as acts
from tracegrad.nn.activations import activation_name, get_activation
from tracegrad.nn.functional import dense_step
from tracegrad.nn.init import Initializer, RNGLike, as_generator, get_initializer
from tracegrad.nn.module import Module, check_features, current_context

__all__ = ["MLP", "Activation", "Dropout", "Linear", "Residual", "Sequential"]

ActivationLike = str | Callable[[Any], Any] | None


class Linear(Module):
    """Affine layer ``y = x @ W + b``.

    Args:
        in_features, out_features: sizes; ``weight`` has shape ``(in, out)``, ``bias``
            ``(out,)``.
        bias: with a bias vector (``False``: ``y = x @ W``, as in seed 001's network,
            whose inputs carry a constant-1 column instead).
        init, bias_init: initialiser names or functions (:mod:`tracegrad.nn.init`).
        rng: seed or ``numpy.random.Generator`` (``None``: not repeatable).
        dtype: parameter dtype (``float64`` or ``float32``).
    """

    _weight_names = ("weight",)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        init: str | Initializer = "glorot_uniform",
        bias_init: str | Initializer = "zeros",
        rng: RNGLike = None,
        dtype: Any = np.float64,
    ) -> None:
        gen = as_generator(rng)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = np.asarray(
            get_initializer(init)(gen, (self.in_features, self.out_features), dtype)
        )
        self.bias = (
            np.asarray(get_initializer(bias_init)(gen, (self.out_features,), dtype))
            if bias
            else None
        )

    @classmethod
    def from_arrays(cls, weight: Any, bias: Any = None) -> Linear:
        """A layer with the given ``weight`` ``(in, out)`` and optional ``bias`` ``(out,)``."""
        weight = np.asarray(weight)
        if weight.ndim != 2:
            raise ShapeError(
                f"Linear.from_arrays: weight must be 2-D (in, out), got {weight.shape}"
            )
        if bias is not None and np.shape(bias) != (weight.shape[1],):
            raise ShapeError(
                f"Linear.from_arrays: bias has shape {np.shape(bias)}, the weight {weight.shape} "
                f"needs ({weight.shape[1]},)"
            )
        layer = cls(weight.shape[0], weight.shape[1], bias=bias is not None, init="zeros")
        return layer.replace(weight=weight, bias=None if bias is None else np.asarray(bias))

    def _array_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {"weight": (self.in_features, self.out_features)}
        if self.bias is not None:
            shapes["bias"] = (self.out_features,)
        return shapes

    def _check_input(self, x: Any) -> None:
        shape = getattr(x, "shape", None)
        if shape and shape[-1] == self.in_features:
            return  # the common case, without building the message
        check_features(
            self, x, self.in_features, f"Linear({self.in_features} → {self.out_features})"
        )

    def forward(self, x: Any) -> Any:
        self._check_input(x)
        return dense_step(x, self.weight, self.bias, "identity")

    def extra_repr(self) -> str:
        return f"{self.in_features} → {self.out_features}, bias={self.bias is not None}"


class Activation(Module):
    """An activation function as a layer (for :class:`Sequential`)."""

    def __init__(self, fn: ActivationLike) -> None:
        get_activation(fn)  # validate early
        self.fn = fn

    def forward(self, x: Any) -> Any:
        return get_activation(self.fn)(x)

    def extra_repr(self) -> str:
        return activation_name(self.fn) or getattr(self.fn, "__name__", repr(self.fn))


#: the built-in activations that ``dense`` computes in the same step as the layer
_FUSABLE: dict[Callable[[Any], Any], str] = {
    acts.identity: "identity",
    acts.tanh: "tanh",
    acts.sigmoid: "sigmoid",
    acts.relu: "relu",
}


def _auto_init(act: ActivationLike) -> str:
    # He for rectifiers (keeps the variance of ReLU activations), Glorot otherwise
    name = activation_name(act)
    return "he_normal" if name in ("relu", "leaky_relu") else "glorot_uniform"


class MLP(Module):
    """Multilayer perceptron: ``Linear`` layers, each followed by its activation.

    Args:
        sizes: ``(in, hidden_1, ..., out)``; ``len(sizes) - 1`` layers.
        activations: one per layer (names or functions), e.g. seed 000's
            ``["tanh", "relu", "relu", "softmax"]``; or a single one for every hidden
            layer, the output layer then being linear (``"identity"``: logits).
        bias: biases in every layer.
        init: initialiser for the weights; ``"auto"`` picks He for ReLU-like layers and
            Glorot otherwise.
        rng: seed or generator; dtype: parameter dtype.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activations: ActivationLike | Sequence[ActivationLike] = "relu",
        *,
        bias: bool = True,
        init: str | Initializer = "auto",
        rng: RNGLike = None,
        dtype: Any = np.float64,
    ) -> None:
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"MLP sizes must be at least (in, out), all positive; got {sizes}")
        n = len(sizes) - 1
        if activations is None or isinstance(activations, str) or callable(activations):
            acts = (activations,) * (n - 1) + ("identity",)
        else:
            acts = tuple(activations)
            if len(acts) != n:
                raise ValueError(
                    f"MLP with sizes {sizes} has {n} layers and needs {n} activations, "
                    f"got {len(acts)}: {acts}"
                )
        for a in acts:
            get_activation(a)
        gen = as_generator(rng)
        self.sizes = sizes
        self.activations = acts
        self.layers = [
            Linear(
                a,
                b,
                bias=bias,
                init=_auto_init(act) if init == "auto" else init,
                rng=gen,
                dtype=dtype,
            )
            for a, b, act in zip(sizes[:-1], sizes[1:], acts)
        ]

    def forward(self, x: Any) -> Any:
        for layer, act in zip(self.layers, self.activations):
            fn = get_activation(act)
            fused = _FUSABLE.get(fn) if type(layer) is Linear else None
            if fused is None:
                x = fn(layer(x))
            else:  # one step for the layer and its activation (tracegrad.nn.functional)
                layer._check_input(x)  # a layer's own weight and bias always fit together
                x = dense_step(x, layer.weight, layer.bias, fused)
        return x

    def extra_repr(self) -> str:
        names = [activation_name(a) or getattr(a, "__name__", "?") for a in self.activations]
        return f"sizes={self.sizes}, activations=({', '.join(names)})"


class Sequential(Module):
    """Layers applied in order. Strings and functions become :class:`Activation` layers:
    ``Sequential(Linear(4, 8), "tanh", Linear(8, 3))``."""

    def __init__(self, *layers: Module | ActivationLike) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        self.layers = [m if isinstance(m, Module) else Activation(m) for m in layers]

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def extra_repr(self) -> str:
        return ""


class Residual(Module):
    """Skip connection: ``y = body(x) + x`` (or ``body(x) + shortcut(x)`` when the
    shapes differ and a ``shortcut`` layer, e.g. a ``Linear`` projection, is given).
    Gradients reach ``x`` through both branches."""

    def __init__(self, body: Module, shortcut: Module | None = None) -> None:
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: Any) -> Any:
        h = self.body(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if tuple(h.shape) != tuple(s.shape):
            raise ShapeError(
                f"Residual: the body maps inputs of shape {tuple(x.shape)} to {tuple(h.shape)}, "
                f"which cannot be added to the skip branch's {tuple(s.shape)}; give a shortcut "
                "layer (e.g. Linear) that projects to the body's output size"
            )
        return h + s

    def extra_repr(self) -> str:
        return "body + " + ("x" if self.shortcut is None else "shortcut")


class Dropout(Module):
    """Inverted dropout: in training mode each entry is zeroed with probability ``p`` and
    the rest scaled by ``1 / (1 - p)``; in evaluation mode the identity.

    The mask comes from the generator passed to ``apply(x, train=True, rng=...)`` (or
    ``tg.fit``'s seed): runs are repeatable and nothing global is consumed.
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: Any) -> Any:
        ctx = current_context()
        if not ctx.train or self.p == 0.0:
            return x
        gen = ctx.generator("Dropout")
        dt = dtype_of(x)
        keep = (gen.random(tuple(x.shape)) >= self.p).astype(dt) * dt.type(1.0 / (1.0 - self.p))
        # drawn on the host (the same draws on every device), copied to x's device
        return x * asarray_like(keep, x)

    def extra_repr(self) -> str:
        return f"p={self.p}"
