"""Statistics and NaN-ignoring reductions: ``average``, ``median``, ``percentile``,
``quantile``, ``ptp``, ``cov``, ``corrcoef`` and the ``nan*`` family.

Conventions: order statistics (``median``, ``percentile``, ``quantile``) are taken from
the sorted array, so the derivative goes to the element at each sorted position (ties
are ordered by position, first first) and, between two positions, is split by NumPy's
default ``linear`` interpolation weights. NaN-ignoring reductions give NaN positions
derivative 0.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from tracegrad.core.primitive import dtype_of, get_value
from tracegrad.core.shapes import normalize_axis, reshape, sum
from tracegrad.core.staging import plain
from tracegrad.numpy.box_methods import astype
from tracegrad.numpy.contractions import matmul
from tracegrad.numpy.creation import traced_arraylike
from tracegrad.numpy.elementwise import sqrt, where
from tracegrad.numpy.indexing import sort, take_along_axis
from tracegrad.numpy.nondiff import isnan
from tracegrad.numpy.reductions import max, mean, min, prod
from tracegrad.numpy.shape import moveaxis, ravel, transpose

__all__ = [
    "average",
    "corrcoef",
    "cov",
    "median",
    "nancumsum",
    "nanmax",
    "nanmean",
    "bincount",
    "nancumprod",
    "nanmedian",
    "nanpercentile",
    "nanquantile",
    "nanmin",
    "nanprod",
    "nanstd",
    "nansum",
    "nanvar",
    "percentile",
    "ptp",
    "quantile",
]


def average(
    x: Any, axis: Any = None, weights: Any = None, returned: bool = False, keepdims: bool = False
) -> Any:
    """Weighted mean ``sum(w x) / sum(w)`` over ``axis`` (1-D ``weights`` lie along a
    single ``axis``); differentiable in ``x`` and ``weights``."""
    x = traced_arraylike(x)
    if weights is None:
        avg = mean(x, axis=axis, keepdims=keepdims)
        n = np.size(plain(x)) / np.size(plain(avg)) if np.size(plain(avg)) else 0
        return (avg, np.broadcast_to(np.float64(n), np.shape(avg))) if returned else avg
    w = traced_arraylike(weights)
    if np.ndim(w) == 1 and np.ndim(x) > 1:
        if axis is None:
            raise TypeError("average: axis must be specified when shapes of a and weights differ")
        shape = [1] * np.ndim(x)
        shape[axis] = np.shape(w)[0]
        w = reshape(w, tuple(shape))
    total = sum(w * np.ones(np.shape(x)), axis=axis, keepdims=keepdims)
    avg = sum(x * w, axis=axis, keepdims=keepdims) / total
    return (avg, total) if returned else avg


def _quantile(x: Any, q: Any, axis: Any, keepdims: bool, skip_nan: bool = False) -> Any:
    """Linear-interpolation quantiles (``q`` in [0, 1]) over ``axis`` of ``x``; the
    quantile axes (``q``'s shape) come first, as NumPy puts them. With ``skip_nan``
    each slice's quantiles are taken over its non-NaN elements (which sort first)."""
    x = traced_arraylike(x)
    q = np.asarray(plain(q), dtype=np.float64)
    if np.any((q < 0) | (q > 1)):
        raise ValueError("quantile: quantiles must be in the range [0, 1]")
    nd = np.ndim(x)
    axes = normalize_axis(axis, nd)
    rest = tuple(a for a in range(nd) if a not in axes)
    moved = transpose(x, rest + axes)
    flat = reshape(moved, np.shape(moved)[: len(rest)] + (-1,))
    s = sort(flat, axis=-1)
    lead, n = np.shape(s)[:-1], np.shape(s)[-1]
    if skip_nan:  # per slice: the number of non-NaN elements (NaNs sort last)
        count = np.sum(~np.isnan(get_value(s)), axis=-1)
    else:
        count = np.full(lead, n)
    last = np.maximum(count - 1, 0).reshape(lead + (1,) * q.ndim)
    pos = q * last  # shape lead + q.shape
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, last)
    frac = (pos - lo).astype(_float_dtype(x))  # float32 data stay float32
    flat_q = lead + (-1,)
    s_lo = reshape(take_along_axis(s, lo.reshape(flat_q), axis=-1), np.shape(pos))
    s_hi = reshape(take_along_axis(s, hi.reshape(flat_q), axis=-1), np.shape(pos))
    out = s_lo * (1.0 - frac) + s_hi * frac
    out = moveaxis(out, tuple(range(len(rest), len(rest) + q.ndim)), tuple(range(q.ndim)))
    if keepdims:
        kept = [np.shape(x)[a] if a in rest else 1 for a in range(nd)]
        out = reshape(out, q.shape + tuple(kept))
    return out


def _float_dtype(x: Any) -> np.dtype:
    return np.result_type(dtype_of(x), np.float16)


def quantile(x: Any, q: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The ``q``-th quantiles (``q`` in [0, 1]) over ``axis``, linearly interpolated."""
    return _quantile(x, q, axis, keepdims)


def percentile(x: Any, q: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The ``q``-th percentiles (``q`` in [0, 100]) over ``axis``, linearly interpolated."""
    return _quantile(x, np.asarray(plain(q), dtype=np.float64) / 100.0, axis, keepdims)


def median(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The median over ``axis``: the middle element, or the mean of the middle two."""
    return _quantile(x, 0.5, axis, keepdims)


def ptp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Range ``max - min`` over ``axis``."""
    x = traced_arraylike(x)
    return max(x, axis=axis, keepdims=keepdims) - min(x, axis=axis, keepdims=keepdims)


def cov(
    m: Any, y: Any = None, rowvar: bool = True, bias: bool = False, ddof: int | None = None
) -> Any:
    """Covariance matrix of the variables in the rows of ``m`` (columns for
    ``rowvar=False``), normalised by ``n - 1`` (``n`` with ``bias``, or ``n - ddof``)."""
    from tracegrad.numpy.shape import atleast_2d, concatenate

    x = atleast_2d(traced_arraylike(m))
    if not rowvar and np.shape(x)[0] != 1:
        x = transpose(x)
    if y is not None:
        yy = atleast_2d(traced_arraylike(y))
        if not rowvar and np.shape(yy)[0] != 1:
            yy = transpose(yy)
        x = concatenate([x, yy], axis=0)
    n = np.shape(x)[1]
    ddof = (0 if bias else 1) if ddof is None else ddof
    centred = x - mean(x, axis=1, keepdims=True)
    c = matmul(centred, transpose(centred)) / (n - ddof)
    return reshape(c, ()) if np.shape(c) == (1, 1) else c


def corrcoef(x: Any, y: Any = None, rowvar: bool = True) -> Any:
    """Pearson correlation coefficients, ``cov / sqrt(outer(var, var))``."""
    c = cov(x, y, rowvar)
    if np.ndim(c) == 0:
        return c / c
    d = sqrt(c[np.arange(np.shape(c)[0]), np.arange(np.shape(c)[0])])
    return c / reshape(d, (-1, 1)) / reshape(d, (1, -1))


# --- NaN-ignoring reductions ------------------------------------------------------------


def _filled(x: Any, value: float) -> tuple[Any, Any]:
    x = traced_arraylike(x)
    missing = isnan(x)
    return where(missing, value, x), missing


def _count(missing: Any, like: Any, axis: Any, keepdims: bool) -> Any:
    """The number of non-NaN elements over ``axis``, in ``like``'s float dtype (traced
    operations on the mask, so that ``tg.jit`` records it instead of reading it)."""
    present = astype(where(missing, 0.0, 1.0), _float_dtype(like))
    return sum(present, axis=axis, keepdims=keepdims)


def nansum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Sum over ``axis`` treating NaN as 0."""
    return sum(_filled(x, 0.0)[0], axis=axis, keepdims=keepdims)


def nanprod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Product over ``axis`` treating NaN as 1."""
    return prod(_filled(x, 1.0)[0], axis=axis, keepdims=keepdims)


def nanmean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean over ``axis`` of the non-NaN elements."""
    filled, missing = _filled(x, 0.0)
    return sum(filled, axis=axis, keepdims=keepdims) / _count(missing, filled, axis, keepdims)


def nanvar(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    """Variance over ``axis`` of the non-NaN elements."""
    filled, missing = _filled(x, 0.0)
    count = _count(missing, filled, axis, True)
    centred = where(missing, 0.0, filled - sum(filled, axis=axis, keepdims=True) / count)
    count = _count(missing, filled, axis, keepdims)
    return sum(centred * centred, axis=axis, keepdims=keepdims) / (count - ddof)


def nanstd(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    """Standard deviation over ``axis`` of the non-NaN elements."""
    return sqrt(nanvar(x, axis=axis, ddof=ddof, keepdims=keepdims))


def nanmax(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Maximum over ``axis`` ignoring NaNs."""
    return max(_filled(x, -np.inf)[0], axis=axis, keepdims=keepdims)


def nanmin(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Minimum over ``axis`` ignoring NaNs."""
    return min(_filled(x, np.inf)[0], axis=axis, keepdims=keepdims)


def nancumsum(x: Any, axis: int | None = None) -> Any:
    """Cumulative sum along ``axis`` treating NaN as 0."""
    from tracegrad.numpy.reductions import cumsum

    return cumsum(_filled(x, 0.0)[0], axis=axis)


def nanmedian(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Median over ``axis`` of the non-NaN elements."""
    return _quantile(x, 0.5, axis, keepdims, skip_nan=True)


def nanquantile(x: Any, q: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Quantiles (``q`` in [0, 1]) over ``axis`` of the non-NaN elements."""
    return _quantile(x, q, axis, keepdims, skip_nan=True)


def nanpercentile(x: Any, q: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Percentiles (``q`` in [0, 100]) over ``axis`` of the non-NaN elements."""
    q = np.asarray(plain(q), dtype=np.float64) / 100.0
    return _quantile(x, q, axis, keepdims, skip_nan=True)


def nancumprod(x: Any, axis: int | None = None) -> Any:
    """Cumulative product along ``axis`` treating NaN as 1."""
    from tracegrad.numpy.series import cumprod

    return cumprod(_filled(x, 1.0)[0], axis=axis)


def bincount(x: Any, weights: Any = None, minlength: int = 0) -> Any:
    """Counts of each non-negative integer in ``x`` (no derivative), or the sums of
    ``weights`` per value: a scatter-add, differentiable in ``weights``."""
    from tracegrad.numpy.indexing import scatter_add

    idx = np.asarray(get_value(plain(x)))
    if weights is None:
        return np.bincount(idx, minlength=minlength)
    size = int(np.max(idx, initial=-1)) + 1
    w = traced_arraylike(weights)
    out = scatter_add(ravel(w), (idx.ravel(),), (builtins.max(size, minlength),))
    return out
