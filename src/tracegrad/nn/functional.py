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

import contextlib
import contextvars
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

import tracegrad.numpy as tnp
from tracegrad.core.backend import as_array, asarray_like, is_host
from tracegrad.core.batching import loop_batch
from tracegrad.core.primitive import Primitive, ShapeError, dtype_of, is_boxed
from tracegrad.core.staging import call_plain
from tracegrad.nn.activations import ACTIVATIONS
from tracegrad.numpy.elementwise import OUTPUT_DERIVATIVES
from tracegrad.numpy.reductions import stable_logsumexp

__all__ = [
    "FUSED_ACTIVATIONS",
    "class_target",
    "dense",
    "dense_step",
    "softmax_cross_entropy",
    "sum_of_squares",
    "unfused",
]


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
    d = _act_factor(activation, out)
    if d is None:
        return g
    if d.dtype == g.dtype and d.shape == g.shape:  # d is the rule's own temporary
        return np.multiply(d, g, out=d)
    return g * d


def _act_factor(activation: str, out: Any) -> Any:
    """``activation'(z)`` from the output (``None`` for the identity): the activation
    primitive's own derivative (tracegrad.numpy.elementwise.OUTPUT_DERIVATIVES)."""
    if activation == "identity":
        return None
    return OUTPUT_DERIVATIVES[activation](None, out)


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
    nd = np.ndarray
    if type(g) is nd and type(out) is nd and type(x) is nd and type(W) is nd:  # plain
        return _dense_vjp_np(argnums, _act_cotangent_np(activation, g, out), x, W)
    factor = _act_factor(activation, out)
    gz = g if factor is None else g * factor
    g2 = tnp.reshape(gz, (-1, n_out))
    cts = []
    for a in argnums:
        if a == 0:  # (..., out) @ (out, in)
            cts.append(gz @ tnp.transpose(W))
        elif a == 1:  # Σ over samples of the outer products x_n g_nᵀ
            cts.append(tnp.transpose(tnp.reshape(x, (-1, n_in))) @ g2)
        else:
            cts.append(tnp.sum(g2, axis=0))
    return cts


def _dense_vjp_np(argnums: Sequence[int], gz: np.ndarray, x: np.ndarray, W: np.ndarray) -> list:
    """The cotangents of :func:`_dense_vjp` on plain arrays, from ``gz = ∂L/∂z``."""
    n_in, n_out = W.shape
    g2 = gz if gz.ndim == 2 else gz.reshape(-1, n_out)
    cts = []
    for a in argnums:
        if a == 0:
            cts.append(gz @ W.T)
        elif a == 1:
            cts.append((x if x.ndim == 2 else np.reshape(x, (-1, n_in))).T @ g2)
        else:
            cts.append(np.add.reduce(g2, axis=0))
    return cts


def _dense_jvp(i: int, t: Any, out: Any, x: Any, W: Any, b: Any = None,
               activation: str = "identity") -> Any:  # fmt: skip
    dz = t @ W if i == 0 else (x @ t if i == 1 else t)
    factor = _act_factor(activation, out)
    return dz if factor is None else dz * factor


def _dense_batch(size: int, batched: Sequence[bool], x: Any, W: Any, b: Any = None,
                 activation: str = "identity") -> Any:  # fmt: skip
    if not batched[1] and not (len(batched) > 2 and batched[2]):
        return _dense(x, W, b, activation=activation)  # a batch of x: more samples
    # batched weights or bias: one matrix product per example, (B | 1, S, in) @ (B | 1, in, out)
    n_in, n_out = W.shape[-2:]
    lead = x.shape[1:-1] if batched[0] else x.shape[:-1]
    x3 = tnp.reshape(x, (size if batched[0] else 1, -1, n_in))
    z = tnp.matmul(x3, W if batched[1] else tnp.reshape(W, (1, n_in, n_out)))
    if b is not None:
        z = z + (tnp.reshape(b, (size, 1, n_out)) if batched[2] else b)
    return tnp.reshape(ACTIVATIONS[activation](z), (size, *lead, n_out))


_dense = Primitive(_dense_impl, "dense").defvjp_joint(_dense_vjp).defjvp_argnum(_dense_jvp)
_dense.defbatch(_dense_batch).fresh_cotangents()


def dense(x: Any, weight: Any, bias: Any = None, activation: str = "identity") -> Any:
    """``activation(x @ weight + bias)`` as one primitive.

    Args:
        x: inputs ``(..., in)``; weight: ``(in, out)``; bias: ``(out,)`` or ``None``.
        activation: one of ``FUSED_ACTIVATIONS``.

    Returns ``(..., out)``.
    """
    if activation not in _FORWARD:
        raise ValueError(f"dense: activation must be one of {sorted(_FORWARD)}, got {activation!r}")
    ws = tuple(weight.shape)
    if len(ws) != 2:
        raise ShapeError(f"dense: weight must be 2-D (in, out), got shape {ws}")
    if bias is not None and tuple(bias.shape) != ws[1:]:
        raise ShapeError(
            f"dense: bias must have shape ({ws[1]},) for a weight of shape {ws}, "
            f"got {tuple(bias.shape)}"
        )
    return _dense(x, weight, bias, activation=activation)


dense.primitive = _dense  # type: ignore[attr-defined]  # for callers that checked the shapes

#: True inside :func:`unfused` (in this thread or task): dense layers run as their
#: elementary steps
_UNFUSED = contextvars.ContextVar("tracegrad_unfused", default=False)


@contextlib.contextmanager
def unfused() -> Iterator[None]:
    """Within this block, layers compute ``z = x @ W + b`` and ``h = σ(z)`` as separate
    elementary steps instead of one fused ``dense`` step: the same values, more (and
    slower) steps, which is what ``tg.trace(..., unfused=True)`` shows as the lectures
    write it. The switch belongs to the calling thread (a context variable): other
    threads keep training fused."""
    token = _UNFUSED.set(True)
    try:
        yield
    finally:
        _UNFUSED.reset(token)


def dense_step(x: Any, weight: Any, bias: Any, activation: str) -> Any:
    """:func:`dense` for callers that checked the shapes: one ``dense`` step, or inside
    :func:`unfused` its elementary steps."""
    if not _UNFUSED.get():
        return _dense(x, weight, bias, activation=activation)
    z = tnp.matmul(x, weight)
    if bias is not None:
        z = z + bias
    return z if activation == "identity" else ACTIVATIONS[activation](z)


# --- softmax cross-entropy from logits ------------------------------------------------


def _is_labels(y: Any) -> bool:
    return (y.dtype if type(y) is np.ndarray else dtype_of(y)).kind in "iub"


def class_target(logits: Any, target: Any, fname: str) -> Any:
    """Validated class targets for scores ``(..., C)``: integer labels (returned as an
    ``intp`` array of shape ``(...)``, values in ``[0, C)``) or class weights of the
    scores' shape (plain ones as a float array of the scores' float dtype)."""
    zs = tuple(logits.shape) if hasattr(logits, "shape") else np.shape(logits)
    if not zs:
        raise ShapeError(f"{fname}: predictions must have a class axis, got shape {zs}")
    traced = is_boxed(target)
    ts = tuple(target.shape) if traced or type(target) is np.ndarray else np.shape(target)
    # bool rows of the logits' shape are one-hot weights; other integers and bools labels
    if _is_labels(target) and not (dtype_of(target).kind == "b" and ts == zs):
        if ts != zs[:-1]:
            raise ShapeError(
                f"{fname}: integer class labels must have shape {zs[:-1]} for predictions of "
                f"shape {zs}, got {ts}"
            )
        if traced:  # staged labels (tg.jit): checked on every call of the program
            return call_plain(_checked_labels, (target, zs[-1], fname))
        return _checked_labels(as_array(target), zs[-1], fname)
    if ts != zs:
        raise ShapeError(
            f"{fname}: predictions have shape {zs}; targets must be integer labels of shape "
            f"{zs[:-1]} or class probabilities of shape {zs}, got shape {ts}"
        )
    if traced:
        return target
    dt = dtype_of(logits)
    return as_array(target, dtype=dt if dt.kind == "f" else np.float64)


def _checked_labels(labels: np.ndarray, c: int, fname: str) -> np.ndarray:
    """``labels`` as ``intp``, after checking that they lie in ``[0, c)``."""
    if labels.dtype == np.intp:  # as unsigned, a negative label is huge: one maximum
        bad = labels.size and np.maximum.reduce(labels.view(np.uintp), axis=None) >= c
    else:
        bad = labels.size and (labels.min() < 0 or labels.max() >= c)
    if bad:
        raise ValueError(
            f"{fname}: class labels must lie in [0, {c}) for {c} classes, got values in "
            f"[{labels.min()}, {labels.max()}]"
        )
    return labels if labels.dtype == np.intp else labels.astype(np.intp)


def _count(z_shape: tuple[int, ...], reduction: str) -> int:
    return math.prod(z_shape[:-1]) if reduction == "mean" else 1


def _label_index(labels: np.ndarray) -> tuple:
    """The index of each sample's label entry in an array of shape ``labels.shape + (C,)``."""
    if labels.ndim == 1:
        return _arange(labels.shape[0]), labels
    return (*np.indices(labels.shape, sparse=True), labels)


@functools.lru_cache(maxsize=16)
def _arange(n: int) -> np.ndarray:
    """``arange(n)``, read-only: the sample index of every step at a batch size."""
    a = np.arange(n)
    a.flags.writeable = False
    return a


def _masked(y: Any, logp: Any) -> Any:
    """``logp`` with 0 where the class has weight 0 and ``logp = −∞`` (0 · log 0 = 0)."""
    keep = tnp.logical_or(tnp.not_equal(y, 0), tnp.not_equal(logp, -np.inf))
    return tnp.where(keep, logp, 0.0)


def _sce_impl(z: Any, y: Any, reduction: str = "mean") -> Any:
    return _sce_forward(z, y, reduction)[0]


def _sce_forward(z: Any, y: Any, reduction: str = "mean") -> tuple[Any, np.ndarray]:
    """The loss and, for the VJP, the log-sum-exp of each sample ``(..., 1)``."""
    z = as_array(z)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    lse = stable_logsumexp(z, -1, check=False)
    total = _sce_total(z, y, lse)
    if not math.isfinite(total):  # an infinite or nan logit somewhere: the careful way
        lse = stable_logsumexp(z, -1)
        total = _sce_total(z, y, lse)
        if math.isnan(total) and not _is_labels(y):  # −∞ logits of weight-0 classes
            total = _sce_total(z, y, lse, masked=True)
    mean = total / _count(z.shape, reduction)
    return (z.dtype.type(mean) if is_host(z) else mean.astype(z.dtype)), lse  # on z's device


def _sce_total(z: np.ndarray, y: Any, lse: np.ndarray, masked: bool = False) -> Any:
    """``Σ_samples Σ_c y_c (lse − z_c)``; ``masked``: 0 where ``y_c = 0`` and ``z_c = −∞``."""
    if _is_labels(y):
        return np.add.reduce(lse, axis=None) - np.add.reduce(z[_label_index(y)], axis=None)
    if masked:
        return -np.sum(y * _masked(y, z - lse))
    return np.dot(lse.ravel(), np.sum(y, axis=-1).ravel()) - np.vdot(y, z)


def _sce_vjp(argnums: Sequence[int], g: Any, out: Any, z: Any, y: Any,
             reduction: str = "mean", residual: Any = None) -> list[Any]:  # fmt: skip
    scale = g / _count(z.shape, reduction)
    labels = _is_labels(y)
    cts = []
    for a in argnums:
        if a == 0 and not (is_boxed(z) or is_boxed(y) or is_boxed(g)):
            # softmax: exp(z − logsumexp(z)), in one buffer, with the forward pass's
            # log-sum-exp where reverse mode kept it
            p = z - (stable_logsumexp(z, -1) if residual is None else residual)
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
    labels = as_array(labels)
    return (labels[..., None] == asarray_like(np.arange(n), labels)).astype(dtype)


def _sce_jvp(i: int, t: Any, out: Any, z: Any, y: Any, reduction: str = "mean") -> Any:
    (ct,) = _sce_vjp((i,), 1.0, out, z, y, reduction)
    return tnp.sum(ct * t)


def _sce_batch(size: int, batched: Sequence[bool], z: Any, y: Any, reduction: str = "mean"):
    # batched logits reach a loss only under nested Jacobians of it: rare enough to loop
    return loop_batch(_sce, size, batched, (z, y), {"reduction": reduction})


_sce = Primitive(_sce_impl, "softmax_cross_entropy").defvjp_joint(_sce_vjp)
_sce.defjvp_argnum(_sce_jvp).defbatch(_sce_batch).defresidual(_sce_forward)
_sce.saving("args").fresh_cotangents()


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


def _sos_batch(size: int, batched: Sequence[bool], *ws: Any, scale: float = 1.0) -> Any:
    total: Any = 0.0
    for w, bt in zip(ws, batched):  # per example: the sum over its own axes
        axes = tuple(range(1, len(w.shape))) if bt else None
        total = total + tnp.sum(w * w, axis=axes)
    return tnp.broadcast_to(scale * total, (size,))


_sos = Primitive(_sos_impl, "sum_of_squares").defvjp_argnum(_sos_vjp).defjvp_argnum(_sos_jvp)
_sos.defbatch(_sos_batch).saving("args").fresh_cotangents()


def sum_of_squares(*arrays: Any, scale: float = 1.0) -> Any:
    """``scale · Σ_w Σ_i w_i²`` over the given arrays: one step, gradient ``2 · scale · w``."""
    if not arrays:
        return scale * 0.0
    if is_boxed(scale):  # a differentiated scale multiplies the (constant-scale) sum
        return scale * _sos(*arrays, scale=1.0)
    return _sos(*arrays, scale=float(scale))
