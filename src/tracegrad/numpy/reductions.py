"""Reductions: sum, mean, prod, max, min, var, std, cumsum, logsumexp.

``max``/``min`` split the derivative evenly between tied maxima (the convention of docs/design.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tracegrad.core.backend import as_array, eye_like, is_host, zeros
from tracegrad.core.batching import reduction_batch
from tracegrad.core.primitive import Primitive, dtype_of, get_value, shape_of
from tracegrad.core.shapes import keep_shape, normalize_axis, reshape, unreduce
from tracegrad.core.shapes import sum as _sum
from tracegrad.core.staging import plain
from tracegrad.numpy.creation import traced_arraylike
from tracegrad.numpy.elementwise import exp, log, sqrt, where
from tracegrad.numpy.nondiff import isfinite as nondiff_isfinite
from tracegrad.numpy.shape import transpose

__all__ = [
    "amax",
    "amin",
    "cumsum",
    "logsumexp",
    "max",
    "mean",
    "min",
    "prod",
    "std",
    "sum",
    "var",
]


def _count(shape: tuple[int, ...], axis: Any) -> int:
    return int(np.prod([shape[a] for a in normalize_axis(axis, len(shape))], dtype=np.int64))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """``numpy.sum`` over ``axis`` (all axes for ``None``)."""
    if type(x) is np.ndarray:  # the ndarray method, as core.shapes.sum would call it
        return x.sum(axis=axis, keepdims=keepdims)
    if type(x) in _SEQUENCES:
        x = traced_arraylike(x)
    return _sum(x, axis=axis, keepdims=keepdims)


_SEQUENCES = (list, tuple)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Arithmetic mean over ``axis`` (all axes for ``None``)."""
    x = traced_arraylike(x)
    n = _count(np.shape(x), axis)
    total = _sum(x, axis=axis, keepdims=keepdims)
    if not np.issubdtype(dtype_of(total), np.inexact):
        total = total * 1.0
    return total / n


def var(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    """Variance ``sum((x - mean)**2) / (n - ddof)`` over ``axis``."""
    x = traced_arraylike(x)
    n = _count(np.shape(x), axis)
    centred = x - mean(x, axis=axis, keepdims=True)
    return _sum(centred * centred, axis=axis, keepdims=keepdims) / (n - ddof)


def std(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    """Standard deviation, ``sqrt(var)``.

    Over one element (``n == 1``) it is the variance itself: both are identically 0, so
    their derivatives are 0 to every order, where sqrt's derivative at 0 would give NaN.
    (With ``n > 1`` and all elements equal the derivative is undefined: NaN.)
    """
    x = traced_arraylike(x)
    v = var(x, axis=axis, ddof=ddof, keepdims=keepdims)
    return v if _count(np.shape(x), axis) == 1 else sqrt(v)


def _extreme_weights(x: Any, out: Any, axis: Any) -> np.ndarray:
    """1/(number of ties) at the positions that attain the extremum, 0 elsewhere."""
    xv = get_value(x)
    hit = xv == np.reshape(get_value(out), keep_shape(np.shape(xv), axis))
    w = hit / np.sum(hit, axis=axis, keepdims=True)
    return w.astype(np.result_type(xv, np.float16))


def _reduce_extreme(impl: Any, name: str) -> Primitive:
    def vjp(g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        xshape = np.shape(x)
        return unreduce(g, xshape, axis, keepdims) * _extreme_weights(x, out, axis)

    def jvp(t: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return _sum(t * _extreme_weights(x, out, axis), axis=axis, keepdims=keepdims)

    prim = Primitive(impl, name).defvjp(vjp).defjvp(jvp)
    return prim.defbatch(reduction_batch(prim))


def _max_impl(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return np.max(x, axis=axis, keepdims=keepdims)


def _min_impl(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return np.min(x, axis=axis, keepdims=keepdims)


_max = _reduce_extreme(_max_impl, "max")
_min = _reduce_extreme(_min_impl, "min")


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Largest element over ``axis``; tied maxima share the derivative evenly."""
    return _max(traced_arraylike(x), axis=axis, keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Smallest element over ``axis``; tied minima share the derivative evenly."""
    return _min(traced_arraylike(x), axis=axis, keepdims=keepdims)


amax, amin = max, min


def _prod_impl(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return np.prod(x, axis=axis, keepdims=keepdims)


def _prod_of_others(x: Any, axis: Any) -> Any:
    """For each element, the product of the other elements of its reduction group.

    Exact even where elements are zero (``out / x`` is not): the group is laid out on a
    last axis of length n and multiplied with each position in turn replaced by 1.
    """
    shape = np.shape(x)
    axes = normalize_axis(axis, len(shape))
    rest = tuple(a for a in range(len(shape)) if a not in axes)
    perm = rest + axes
    n = _count(shape, axis)
    xt = transpose(x, perm)
    moved_shape = shape_of(xt)
    flat = reshape(xt, moved_shape[: len(rest)] + (n,))
    eye = eye_like(n, bool, x)
    expanded = where(eye, 1.0, reshape(flat, shape_of(flat)[:-1] + (1, n)))
    others = _prod(expanded, axis=-1)
    back = reshape(others, moved_shape)
    return transpose(back, tuple(np.argsort(perm)))


def _prod_vjp(g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return unreduce(g, np.shape(x), axis, keepdims) * _prod_of_others(x, axis)


def _prod_jvp(t: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _sum(t * _prod_of_others(x, axis), axis=axis, keepdims=keepdims)


_prod = Primitive(_prod_impl, "prod").defvjp(_prod_vjp).defjvp(_prod_jvp)
_prod.defbatch(reduction_batch(_prod)).saving("args")


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Product over ``axis``; exact derivatives where elements are zero."""
    return _prod(traced_arraylike(x), axis=axis, keepdims=keepdims)


def _cumsum_impl(x: Any, axis: int | None = None) -> Any:
    return np.cumsum(x, axis=axis)


def _cumsum_vjp(g: Any, out: Any, x: Any, axis: int | None = None) -> Any:
    if axis is None:
        return reshape(_reverse_cumsum(g, 0), np.shape(x))
    return _reverse_cumsum(g, axis)


def _reverse_cumsum(g: Any, axis: int) -> Any:
    flip = [slice(None)] * np.ndim(g)
    flip[axis] = slice(None, None, -1)
    flip = tuple(flip)
    return _cumsum(g[flip], axis=axis)[flip]


def _cumsum_batch(size: int, batched: Any, x: Any, axis: int | None = None) -> Any:
    if axis is None:  # over the flattened example
        return _cumsum(reshape(x, (size, -1)), axis=1)
    return _cumsum(x, axis=axis % (np.ndim(x) - 1) + 1)


_cumsum = Primitive(_cumsum_impl, "cumsum").defvjp(_cumsum_vjp).def_linear()
_cumsum.defbatch(_cumsum_batch).saving("shapes")


def cumsum(x: Any, axis: int | None = None) -> Any:
    """Cumulative sum along ``axis`` (of the flattened array for ``None``)."""
    return _cumsum(traced_arraylike(x), axis=axis)


def stable_logsumexp(x: np.ndarray, axis: Any, check: bool = True) -> np.ndarray:
    """log(sum(exp(x))) with the reduced axes kept, shifted by the maximum so that no
    exp overflows (an all -inf slice gives -inf, not nan). ``check=False`` leaves out the
    check for infinite maxima: such slices then give nan, for a caller that checks its
    own result and comes back with ``check=True``."""
    m = np.maximum.reduce(x, axis=axis, keepdims=True)
    # infinite or nan maxima are rare: one check, then shift those slices by 0 instead
    # on a device, the masking costs less than reading the maximum back to check first
    if check and (not is_host(m) or not math.isfinite(np.add.reduce(m, axis=None))):
        m = np.where(np.isfinite(m), m, 0).astype(m.dtype)
    e = x - m
    e = np.exp(e, out=e) if type(e) is np.ndarray else np.exp(e)  # in place: x - m is ours
    return np.log(np.add.reduce(e, axis=axis, keepdims=True)) + m


def _logsumexp_impl(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    x = as_array(x)
    if not np.issubdtype(x.dtype, np.inexact):
        x = x.astype(np.float64)
    s = stable_logsumexp(x, axis)
    return s if keepdims else np.reshape(s, _reduced_shape(x.shape, axis))


def _reduced_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    axes = normalize_axis(axis, len(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _softmax_weights(x: Any, out: Any, axis: Any) -> Any:
    """softmax(x) along ``axis``, from logsumexp's own output: exp(x - lse)."""
    return exp(x - reshape(out, keep_shape(np.shape(x), axis)))


def _logsumexp_vjp(g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return unreduce(g, np.shape(x), axis, keepdims) * _softmax_weights(x, out, axis)


def _logsumexp_jvp(t: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _sum(t * _softmax_weights(x, out, axis), axis=axis, keepdims=keepdims)


# A primitive, not a composite, for stability and for speed: one step on the tape whose
# VJP is g · softmax(x), instead of the seven steps of max-shift, exp, sum, log, add.
_logsumexp = Primitive(_logsumexp_impl, "logsumexp").defvjp(_logsumexp_vjp)
_logsumexp.defjvp(_logsumexp_jvp).defbatch(reduction_batch(_logsumexp))


def logsumexp(x: Any, axis: Any = None, b: Any = None, keepdims: bool = False) -> Any:
    """``log(sum(b * exp(x)))`` over ``axis`` (``b`` defaults to 1), computed without
    overflow (finite at ±1000), as ``scipy.special.logsumexp``.

    Its gradient is ``softmax(x)`` along ``axis``. With weights ``b`` (broadcast against
    ``x``, differentiable too, zero weights allowed) it is ``m + log(sum(b * exp(x -
    m)))`` with ``m`` the maximum of ``x`` where ``b != 0``, held constant (its
    derivative cancels exactly); a negative sum gives NaN, as SciPy's does without
    ``return_sign``.
    """
    x = traced_arraylike(x)
    if b is None:
        return _logsumexp(x, axis=axis, keepdims=keepdims)
    b = traced_arraylike(b)
    bx = np.broadcast_shapes(np.shape(x), np.shape(b))
    if np.shape(x) != bx:
        x = x + zeros(bx, np.float64, like=x)
    m = _max(where(plain(b) != 0, plain(x), -np.inf), axis=axis, keepdims=True)
    m = where(nondiff_isfinite(m), m, 0.0)
    s = log(_sum(b * exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else reshape(s, _reduced_shape(bx, axis))
