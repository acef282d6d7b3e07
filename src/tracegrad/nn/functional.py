"""Fused layer operations: each is one primitive, with one joint VJP rule.

A hand-written backward pass fuses what a chain of elementary operations keeps apart:
the activation's derivative is computed once and feeds the cotangents of ``x``, ``W``
and ``b`` together, temporaries are overwritten instead of allocated, the softmax and
the cross-entropy cancel into ``p - y``. These primitives give tracegrad the same:

=================================== ====================================================
``dense(x, W, b, activation)``      ``activation(x @ W + b)``, ``x`` of shape
                                    ``(..., in)``, ``W`` ``(in, out)``, ``b`` ``(out,)``
                                    or ``None``; activation ``identity``, ``tanh``,
                                    ``sigmoid`` or ``relu``
``softmax_cross_entropy(z, y)``     mean (or sum) over samples of ``−Σ_c y_c log
                                    softmax(z)_c``, ``y`` integer labels ``(...)`` or
                                    class weights ``(..., C)`` like ``z``
``sum_of_squares(*ws, scale=1)``    ``scale · Σ_w ‖w‖²`` (the L2 penalty)
=================================== ====================================================

Each takes one step on a reverse-mode tape. On plain arrays the rules work in place on
buffers they allocate themselves (never on their inputs); on traced values, when a
derivative is itself differentiated, they are compositions of tracegrad.numpy
operations like every other rule, so ``hessian`` and ``check_grads`` to any order see
through them. :class:`~tracegrad.nn.Linear`, :class:`~tracegrad.nn.MLP`,
:func:`~tracegrad.nn.cross_entropy` and :func:`~tracegrad.nn.l2_penalty` use them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import tracegrad.numpy as tnp
from tracegrad.core.primitive import Primitive, ShapeError, dtype_of, is_boxed
from tracegrad.numpy.reductions import stable_logsumexp

__all__ = ["FUSED_ACTIVATIONS", "class_target", "dense", "softmax_cross_entropy", "sum_of_squares"]


# --- dense: activation(x @ W + b) ------------------------------------------------------


def _tanh_inplace(z: np.ndarray) -> np.ndarray:
    return np.tanh(z, out=z)


def _relu_inplace(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0, out=z)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return tnp.sigmoid(z)


#: activation name -> in-place NumPy forward on a fresh float buffer
_FORWARD: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda z: z,
    "tanh": _tanh_inplace,
    "sigmoid": _sigmoid,
    "relu": _relu_inplace,
}

#: the activations ``dense`` fuses (each has a derivative that is a function of its output)
FUSED_ACTIVATIONS = frozenset(_FORWARD)


def _act_cotangent_np(activation: str, g: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``g * activation'(z)`` from the output, on plain arrays, in one new buffer (or
    ``g`` itself for the identity; ``g`` and ``out`` are never written)."""
    if activation == "identity":
        return g
    if activation == "tanh":  # 1 - y²
        gz = np.multiply(out, out)
        np.subtract(1, gz, out=gz)
    elif activation == "sigmoid":  # y (1 - y)
        gz = np.subtract(1, out)
        gz *= out
    else:  # relu: 1 where y > 0 (relu'(0) = 0)
        return np.multiply(g, out > 0)
    gz *= g
    return gz


def _act_factor(activation: str, out: Any) -> Any:
    """``activation'(z)`` from the output in tracegrad.numpy (``None`` for the identity)."""
    if activation == "identity":
        return None
    if activation == "tanh":
        return 1.0 - out * out
    if activation == "sigmoid":
        return out * (1.0 - out)
    return tnp.where(out > 0, 1.0, 0.0)  # relu: the comparison has zero derivative


def _dense_impl(x: Any, W: Any, b: Any = None, activation: str = "identity") -> np.ndarray:
    z = np.matmul(x, W)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    if b is not None:
        if getattr(b, "dtype", None) == z.dtype or np.result_type(z, b) == z.dtype:
            np.add(z, b, out=z)  # z is ours: no second buffer for the bias
        else:
            z = z + b
    return _FORWARD[activation](z)


def _dense_vjp(
    argnums: Sequence[int], g: Any, out: Any, x: Any, W: Any, b: Any = None,
    activation: str = "identity",
) -> list[Any]:  # fmt: skip
    n_in, n_out = W.shape
    plain = not (is_boxed(g) or is_boxed(out) or is_boxed(x) or is_boxed(W))
    if plain:
        gz = _act_cotangent_np(activation, g, out)
    else:
        factor = _act_factor(activation, out)
        gz = g if factor is None else g * factor
    cts = []
    for a in argnums:
        if a == 0:  # (..., out) @ (out, in)
            cts.append(gz @ W.T)  # .T: NumPy's view, or the traced transpose
        elif a == 1:  # Σ over samples of the outer products x_n g_nᵀ
            x2 = tnp.reshape(x, (-1, n_in))
            g2 = tnp.reshape(gz, (-1, n_out))
            cts.append(x2.T @ g2)
        else:
            cts.append(tnp.sum(tnp.reshape(gz, (-1, n_out)), axis=0))
    return cts


def _dense_jvp(i: int, t: Any, out: Any, x: Any, W: Any, b: Any = None,
               activation: str = "identity") -> Any:  # fmt: skip
    dz = t @ W if i == 0 else (x @ t if i == 1 else t)
    factor = _act_factor(activation, out)
    return dz if factor is None else dz * factor


_dense = Primitive(_dense_impl, "dense").defvjp_joint(_dense_vjp).defjvp_argnum(_dense_jvp)
_dense.fresh_cotangents()


def dense(x: Any, weight: Any, bias: Any = None, activation: str = "identity") -> Any:
    """``activation(x @ weight + bias)`` as one primitive.

    Args:
        x: inputs ``(..., in)``; weight: ``(in, out)``; bias: ``(out,)`` or ``None``.
        activation: one of ``FUSED_ACTIVATIONS``.

    Returns ``(..., out)``.
    """
    if activation not in _FORWARD:
        raise ValueError(f"dense: activation must be one of {sorted(_FORWARD)}, got {activation!r}")
    if len(weight.shape) != 2:
        raise ValueError(f"dense: weight must be 2-D (in, out), got shape {tuple(weight.shape)}")
    return _dense(x, weight, bias, activation=activation)


# --- softmax cross-entropy from logits ------------------------------------------------


def _is_labels(y: Any) -> bool:
    return dtype_of(y).kind in "iub"


def class_target(logits: Any, target: Any, fname: str) -> Any:
    """Validated class targets for scores ``(..., C)``: integer labels (returned as an
    ``intp`` array of shape ``(...)``, values in ``[0, C)``) or class weights of the
    scores' shape (plain ones as a float array of the scores' float dtype)."""
    zs = tuple(logits.shape) if hasattr(logits, "shape") else np.shape(logits)
    if not zs:
        raise ShapeError(f"{fname}: predictions must have a class axis, got shape {zs}")
    traced = is_boxed(target)
    ts = tuple(target.shape) if traced else np.shape(target)
    if not traced and _is_labels(target):
        if ts != zs[:-1]:
            raise ShapeError(
                f"{fname}: integer class labels must have shape {zs[:-1]} for predictions of "
                f"shape {zs}, got {ts}"
            )
        labels = np.asarray(target)
        c = zs[-1]
        if labels.size and (labels.min() < 0 or labels.max() >= c):
            raise ValueError(
                f"{fname}: class labels must lie in [0, {c}) for {c} classes, got values in "
                f"[{labels.min()}, {labels.max()}]"
            )
        return labels if labels.dtype == np.intp else labels.astype(np.intp)
    if ts != zs:
        raise ShapeError(
            f"{fname}: predictions have shape {zs}; targets must be integer labels of shape "
            f"{zs[:-1]} or class probabilities of shape {zs}, got shape {ts}"
        )
    if traced:
        return target
    dt = dtype_of(logits)
    return np.asarray(target, dtype=dt if dt.kind == "f" else np.float64)


def _lse(z: np.ndarray) -> np.ndarray:
    """logsumexp over the last axis, kept: ``(..., 1)``."""
    m = np.max(z, axis=-1, keepdims=True)
    if not math.isfinite(m.sum()):  # a row of infinities or nan: the careful form
        return stable_logsumexp(z, -1)
    e = z - m
    np.exp(e, out=e)
    s = np.sum(e, axis=-1, keepdims=True)
    np.log(s, out=s)
    s += m
    return s


def _count(z_shape: tuple[int, ...], reduction: str) -> int:
    return math.prod(z_shape[:-1]) if reduction == "mean" else 1


def _label_index(labels: np.ndarray) -> tuple:
    """The index of each sample's label entry in an array of shape ``labels.shape + (C,)``."""
    if labels.ndim == 1:
        return np.arange(labels.shape[0]), labels
    return (*np.indices(labels.shape, sparse=True), labels)


def _masked(y: Any, logp: Any) -> Any:
    """``logp`` with 0 where the class has weight 0 and ``logp = −∞`` (0 · log 0 = 0)."""
    keep = tnp.logical_or(tnp.not_equal(y, 0), tnp.not_equal(logp, -np.inf))
    return tnp.where(keep, logp, 0.0)


def _sce_impl(z: Any, y: Any, reduction: str = "mean") -> Any:
    z = np.asarray(z)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    lse = _lse(z)
    if _is_labels(y):
        total = np.sum(lse) - np.sum(z[_label_index(y)])
    else:
        total = np.dot(lse.ravel(), np.sum(y, axis=-1).ravel()) - np.vdot(y, z)
        if math.isnan(total):  # −∞ logits of classes with weight 0 give 0 · (−∞)
            total = -np.sum(y * _masked(y, z - lse))
    return z.dtype.type(total / _count(z.shape, reduction))


def _sce_vjp(argnums: Sequence[int], g: Any, out: Any, z: Any, y: Any,
             reduction: str = "mean") -> list[Any]:  # fmt: skip
    scale = g / _count(z.shape, reduction)
    labels = _is_labels(y)
    cts = []
    for a in argnums:
        if a == 0 and not (is_boxed(z) or is_boxed(y) or is_boxed(g)):
            p = z - _lse(z)  # softmax, in one buffer
            np.exp(p, out=p)
            if labels:
                p[_label_index(y)] -= 1  # one label per sample: no index repeats
            else:
                p *= np.sum(y, axis=-1, keepdims=True)
                p -= y
            p *= scale
            cts.append(p)
        elif a == 0:
            p = tnp.exp(z - tnp.logsumexp(z, axis=-1, keepdims=True))
            target = _one_hot(y, z.shape[-1], z.dtype) if labels else y
            cts.append((p * tnp.sum(target, axis=-1, keepdims=True) - target) * scale)
        else:  # class weights: −log softmax(z)
            logp = z - tnp.logsumexp(z, axis=-1, keepdims=True)
            cts.append(_masked(y, logp) * -scale)
    return cts


def _one_hot(labels: Any, n: int, dtype: Any) -> np.ndarray:
    return (np.asarray(labels)[..., None] == np.arange(n)).astype(dtype)


def _sce_jvp(i: int, t: Any, out: Any, z: Any, y: Any, reduction: str = "mean") -> Any:
    (ct,) = _sce_vjp((i,), 1.0, out, z, y, reduction)
    return tnp.sum(ct * t)


_sce = Primitive(_sce_impl, "softmax_cross_entropy").defvjp_joint(_sce_vjp)
_sce.defjvp_argnum(_sce_jvp).saving("args").fresh_cotangents()


def softmax_cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Any:
    """Cross-entropy of ``softmax(logits)`` against ``target``, reduced to a scalar.

    Args:
        logits: ``(..., C)``.
        target: integer labels of shape ``logits.shape[:-1]``, or class weights
            (one-hot or probability rows) of the shape of ``logits``.
        reduction: ``"mean"`` over the samples or ``"sum"``.

    Classes of weight 0 may have logits of ``−∞`` (0 · log 0 counts as 0). The
    derivative with respect to the logits is ``(softmax(z) · Σ_c y_c − y) / N``.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(
            f"softmax_cross_entropy: reduction must be 'mean' or 'sum', got {reduction!r}"
        )
    return _sce(logits, class_target(logits, target, "softmax_cross_entropy"), reduction=reduction)


# --- the L2 penalty ---------------------------------------------------------------------


def _sos_impl(*ws: Any, scale: float = 1.0) -> Any:
    total = 0.0
    for w in ws:
        w = np.ravel(w)  # a view for contiguous arrays: one BLAS dot, no w * w buffer
        total = total + np.dot(w, w)
    return scale * total


def _sos_vjp(i: int, g: Any, out: Any, *ws: Any, scale: float = 1.0) -> Any:
    return (2.0 * scale * g) * ws[i]


def _sos_jvp(i: int, t: Any, out: Any, *ws: Any, scale: float = 1.0) -> Any:
    return (2.0 * scale) * tnp.sum(ws[i] * t)


_sos = Primitive(_sos_impl, "sum_of_squares").defvjp_argnum(_sos_vjp).defjvp_argnum(_sos_jvp)
_sos.saving("args").fresh_cotangents()


def sum_of_squares(*arrays: Any, scale: float = 1.0) -> Any:
    """``scale · Σ_w Σ_i w_i²`` over the given arrays: one step, gradient ``2 · scale · w``."""
    if not arrays:
        return scale * 0.0
    return _sos(*arrays, scale=float(scale))
