"""Array creation: NumPy's own functions, made safe to call on traced values.

``array``/``asarray`` of a (nested) list that holds traced values stack them, so
``tnp.array([x1 * x2, tnp.sin(x1)])`` builds a differentiable vector.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.core.backend import array_module, asarray_like
from tracegrad.core.primitive import box_types, dtype_of, get_value, shape_of
from tracegrad.core.shapes import broadcast_to, reshape
from tracegrad.core.staging import plain
from tracegrad.numpy.shape import concatenate, moveaxis, stack

__all__ = [
    "arange", "array", "asarray", "diag", "empty", "empty_like", "eye", "full",
    "full_like", "geomspace", "identity", "linspace", "logspace", "meshgrid", "ones", "ones_like",
    "tri", "tril", "triu", "zeros", "zeros_like",
]  # fmt: skip

arange = np.arange
empty = np.empty
eye = np.eye
full = np.full
identity = np.identity
logspace = np.logspace
ones = np.ones
tri = np.tri
zeros = np.zeros


def _contains_box(obj: Any) -> bool:
    if type(obj) in box_types:
        return True
    if isinstance(obj, (list, tuple)):
        return any(_contains_box(o) for o in obj)
    return False


def _stack_nested(obj: Any, dtype: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        return stack([_stack_nested(o, dtype) for o in obj])
    if type(obj) in box_types:
        return obj if dtype is None else obj.astype(dtype)
    return np.asarray(obj, dtype=dtype)


def traced_arraylike(x: Any) -> Any:
    """``x`` as an array when it is a (nested) list or tuple (the stacked array when it
    holds traced values), else ``x`` itself: what tracegrad.numpy functions do first
    with an array-like argument, as NumPy converts array-likes (``tnp.sum([a, b])``)."""
    if type(x) in _SEQUENCES:
        return _stack_nested(x, None) if _contains_box(x) else np.asarray(x)
    return x


_SEQUENCES = (list, tuple)


def array(obj: Any, dtype: Any = None) -> Any:
    """``numpy.array``; traced elements are stacked, keeping their derivatives."""
    if _contains_box(obj):
        return _stack_nested(obj, dtype)
    return np.array(obj, dtype=dtype)


def asarray(obj: Any, dtype: Any = None) -> Any:
    """``numpy.asarray``; a traced value is returned as it is."""
    if _contains_box(obj):
        return _stack_nested(obj, dtype)
    return np.asarray(obj, dtype=dtype)


def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    """``numpy.linspace``, differentiable in ``start`` and ``stop``: sample ``k`` is
    ``start · (1 - t_k) + stop · t_k`` with ``t_k = k / (num - 1)`` (``k / num`` without
    the endpoint), so the last sample is ``stop`` exactly. Array ``start``/``stop`` put
    the samples on ``axis`` (0 by default), as NumPy does."""
    start, stop = traced_arraylike(start), traced_arraylike(stop)
    if type(start) not in box_types and type(stop) not in box_types:
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    if num < 0:
        raise ValueError(f"linspace: number of samples, {num}, must be non-negative")
    div = num - 1 if endpoint else num
    t = np.arange(num, dtype=np.float64) / div if div > 0 else np.zeros(num)
    nd = len(np.broadcast_shapes(np.shape(start), np.shape(stop)))
    t = t.reshape((num,) + (1,) * nd)
    samples = start * (1.0 - t) + stop * t
    if dtype is not None:
        samples = samples.astype(dtype)
    if axis != 0:
        samples = moveaxis(samples, 0, axis)
    if retstep:
        return samples, (stop - start) / div if div > 0 else np.nan
    return samples


def geomspace(
    start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Any = None, axis: int = 0
) -> Any:
    """``numpy.geomspace``, differentiable in ``start`` and ``stop``: ``start`` and
    ``stop`` (of one sign, nonzero) with samples spaced evenly on a log scale between."""
    start, stop = traced_arraylike(start), traced_arraylike(stop)
    if type(start) not in box_types and type(stop) not in box_types:
        return np.geomspace(start, stop, num, endpoint, dtype, axis)
    from tracegrad.numpy.elementwise import exp, log
    from tracegrad.numpy.nondiff import sign as _sign

    sign = _sign(plain(start))  # no derivative; under tg.jit recorded, not read

    samples = exp(linspace(log(start * sign), log(stop * sign), num, endpoint)) * sign
    if num > 0:  # the ends exactly, as NumPy gives them
        one = np.shape(samples)[1:]
        ends = [start] + ([stop] if endpoint and num > 1 else [])
        ends = [reshape(broadcast_to(e, one), (1, *one)) for e in ends]
        middle = samples[1 : num - 1] if len(ends) == 2 else samples[1:]
        samples = concatenate([ends[0], middle, *ends[1:]])
    if dtype is not None:
        samples = samples.astype(dtype)
    return moveaxis(samples, 0, axis) if axis != 0 else samples


# The *_like functions make their array in the array module of x (on x's device).


def zeros_like(x: Any, dtype: Any = None) -> np.ndarray:
    return array_module(x).zeros(shape_of(x), dtype=_dtype_like(x, dtype))


def ones_like(x: Any, dtype: Any = None) -> np.ndarray:
    return array_module(x).ones(shape_of(x), dtype=_dtype_like(x, dtype))


def empty_like(x: Any, dtype: Any = None) -> np.ndarray:
    return array_module(x).empty(shape_of(x), dtype=_dtype_like(x, dtype))


def full_like(x: Any, fill_value: Any, dtype: Any = None) -> np.ndarray:
    return array_module(x).full(shape_of(x), fill_value, dtype=_dtype_like(x, dtype))


def _dtype_like(x: Any, dtype: Any) -> Any:
    """The ``*_like`` functions take the shape of ``x`` itself, not of its innermost
    value (under tg.vmap that is the whole stack, where one example's is meant)."""
    return dtype_of(x) if dtype is None else dtype


def meshgrid(*xi: Any, indexing: str = "xy") -> list[np.ndarray]:
    return np.meshgrid(*[get_value(x) for x in xi], indexing=indexing)


def diag(v: Any, k: int = 0) -> Any:
    """Diagonal matrix from a vector, or the diagonal of a matrix (differentiable)."""
    if np.ndim(v) == 1:
        return _diag_matrix(v, k)
    rows, cols = np.nonzero(np.eye(*np.shape(v), k=k, dtype=bool))  # host index arrays
    return v[rows, cols]


def _diag_matrix(v: Any, k: int) -> Any:
    n = np.shape(v)[0] + abs(k)
    cols = np.arange(n)
    # column j holds v[j - k] on the diagonal for k >= 0, and v[j] for k < 0
    src = cols - k if k >= 0 else cols
    valid = asarray_like((src >= 0) & (src < np.shape(v)[0]), v)
    picked = v[np.clip(src, 0, np.shape(v)[0] - 1)]
    return asarray_like(np.eye(n, k=k, dtype=bool), v) * (picked * valid)


def tril(x: Any, k: int = 0) -> Any:
    return x * asarray_like(np.tri(*np.shape(x)[-2:], k=k, dtype=bool), x)


def triu(x: Any, k: int = 0) -> Any:
    return x * asarray_like(~np.tri(*np.shape(x)[-2:], k=k - 1, dtype=bool), x)
