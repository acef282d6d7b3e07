"""Functions of sequences: ``cumprod``, differences, ``gradient``, ``trapezoid``,
``interp``, ``convolve``, ``correlate``, ``polyval``; exact compositions of primitives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tracegrad.core.primitive import get_value, peek
from tracegrad.core.shapes import broadcast_to, reshape, sum
from tracegrad.core.staging import plain
from tracegrad.numpy.creation import traced_arraylike
from tracegrad.numpy.elementwise import where
from tracegrad.numpy.reductions import prod
from tracegrad.numpy.shape import concatenate, flip, moveaxis, ravel

__all__ = [
    "convolve",
    "cumulative_prod",
    "cumulative_sum",
    "correlate",
    "cumprod",
    "diff",
    "ediff1d",
    "gradient",
    "interp",
    "polyval",
    "trapezoid",
]


def _along(axis: int, nd: int, sl: slice | int) -> tuple:
    idx: list[Any] = [slice(None)] * nd
    idx[axis] = sl
    return tuple(idx)


def cumprod(x: Any, axis: int | None = None) -> Any:
    """Cumulative product along ``axis`` (flattened for ``None``). Element ``k`` is the
    product of a row in which positions after ``k`` are replaced by 1, so the derivative
    is exact where elements are zero (O(n²) work along the axis)."""
    x = traced_arraylike(x)
    if axis is None:
        x, axis = ravel(x), 0
    moved = moveaxis(x, axis, -1)
    n = np.shape(moved)[-1]
    later = np.triu(np.ones((n, n), dtype=bool), k=1)  # [k, j]: j comes after k
    rows = where(later, 1.0, reshape(moved, np.shape(moved)[:-1] + (1, n)))
    return moveaxis(prod(rows, axis=-1), -1, axis)


def diff(x: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Any:
    """``n``-th discrete difference along ``axis``."""
    x = traced_arraylike(x)
    nd = np.ndim(x)
    axis = axis % nd
    if prepend is not None or append is not None:
        edge = list(np.shape(x))
        edge[axis] = 1  # a scalar prepend/append is one slice along the axis

        def as_slice(v: Any) -> Any:
            v = traced_arraylike(v)
            return broadcast_to(v, tuple(edge)) if np.ndim(v) == 0 else v

        before = [] if prepend is None else [as_slice(prepend)]
        after = [] if append is None else [as_slice(append)]
        x = concatenate([*before, x, *after], axis=axis)
    for _ in range(n):
        x = x[_along(axis, nd, slice(1, None))] - x[_along(axis, nd, slice(None, -1))]
    return x


def ediff1d(x: Any, to_end: Any = None, to_begin: Any = None) -> Any:
    """Differences of the flattened array, with optional values before and after."""
    d = diff(ravel(traced_arraylike(x)))
    parts = [ravel(traced_arraylike(v)) for v in (to_begin,) if v is not None]
    parts += [d] + [ravel(traced_arraylike(v)) for v in (to_end,) if v is not None]
    return concatenate(parts) if len(parts) > 1 else d


def gradient(f: Any, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """``numpy.gradient`` with uniform spacing (a scalar per axis, default 1) and
    ``edge_order=1``: central differences inside, one-sided at the edges. A tuple of
    arrays for several axes, as NumPy returns."""
    f = traced_arraylike(f)
    nd = np.ndim(f)
    axes = tuple(range(nd)) if axis is None else ((axis,) if np.ndim(axis) == 0 else tuple(axis))
    axes = tuple(a % nd for a in axes)
    spacing = list(varargs) if len(varargs) > 1 else list(varargs) * len(axes) or [1.0] * len(axes)
    if edge_order != 1 or any(np.ndim(plain(h)) for h in spacing):
        raise NotImplementedError("gradient: only uniform scalar spacing with edge_order=1")
    out = []
    for a, h in zip(axes, spacing):
        if np.shape(f)[a] < 2:
            raise ValueError("gradient: each axis needs at least 2 elements")
        inner = (f[_along(a, nd, slice(2, None))] - f[_along(a, nd, slice(None, -2))]) / (2.0 * h)
        first = (f[_along(a, nd, slice(1, 2))] - f[_along(a, nd, slice(0, 1))]) / h
        last = (f[_along(a, nd, slice(-1, None))] - f[_along(a, nd, slice(-2, -1))]) / h
        out.append(concatenate([first, inner, last], axis=a))
    return out[0] if len(out) == 1 else tuple(out)


def trapezoid(y: Any, x: Any = None, dx: float = 1.0, axis: int = -1) -> Any:
    """Integral of ``y`` along ``axis`` by the trapezoidal rule (samples ``x`` or a
    uniform step ``dx``); differentiable in ``y``, ``x`` and ``dx``."""
    y = traced_arraylike(y)
    nd = np.ndim(y)
    axis = axis % nd
    mid = (y[_along(axis, nd, slice(1, None))] + y[_along(axis, nd, slice(None, -1))]) * 0.5
    if x is None:
        return sum(mid, axis=axis) * dx
    x = traced_arraylike(x)
    step = diff(x) if np.ndim(x) == 1 else diff(x, axis=axis)
    if np.ndim(x) == 1 and nd > 1:
        step = reshape(step, tuple(-1 if a == axis else 1 for a in range(nd)))
    return sum(mid * step, axis=axis)


def interp(x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None) -> Any:
    """Piecewise-linear interpolation of the points ``(xp, fp)`` at ``x`` (``xp``
    increasing); ``fp[0]``/``fp[-1]`` (or ``left``/``right``) outside. Differentiable in
    ``x`` (the slope of its segment; 0 outside), ``xp`` and ``fp``. At a sample point
    ``x == xp[i]`` the segment to its right is used (the left one for the last point)."""
    x, xp, fp = traced_arraylike(x), traced_arraylike(xp), traced_arraylike(fp)
    xv, xpv = np.asarray(get_value(x)), np.asarray(get_value(xp))
    n = np.shape(xpv)[0]
    seg = np.clip(np.searchsorted(xpv, xv, side="right") - 1, 0, n - 2)
    x0, x1, f0, f1 = xp[seg], xp[seg + 1], fp[seg], fp[seg + 1]
    inside = f0 + (x - x0) * ((f1 - f0) / (x1 - x0))
    below, above = xv < xpv[0], xv > xpv[-1]
    out = where(below, fp[0] if left is None else left, inside)
    return where(above, fp[-1] if right is None else right, out)


def convolve(a: Any, v: Any, mode: str = "full") -> Any:
    """Discrete linear convolution of two 1-D sequences (``full``, ``same``, ``valid``):
    one gather of the products ``a[i] · v[j]`` onto their output positions ``i + j``."""
    a, v = ravel(traced_arraylike(a)), ravel(traced_arraylike(v))
    na, nv = np.shape(a)[0], np.shape(v)[0]
    if na == 0 or nv == 0:
        raise ValueError("convolve: v and a cannot be empty")
    products = reshape(a, (na, 1)) * reshape(v, (1, nv))  # [i, j] adds to output i + j
    k = np.arange(na + nv - 1)
    i = np.arange(na)
    j = k[:, None] - i[None, :]
    valid = (j >= 0) & (j < nv)
    terms = products[i[None, :], np.clip(j, 0, nv - 1)]
    full = sum(where(valid, terms, 0.0), axis=1)
    if mode == "full":
        return full
    long, short = max(na, nv), min(na, nv)
    if mode == "same":
        start = (short - 1) // 2
        return full[start : start + long]
    if mode == "valid":
        return full[short - 1 : long]
    raise ValueError(f"convolve: mode must be 'full', 'same' or 'valid', not {mode!r}")


def correlate(a: Any, v: Any, mode: str = "valid") -> Any:
    """Cross-correlation of two 1-D sequences: ``convolve(a, v[::-1])`` (real values)."""
    return convolve(a, flip(ravel(traced_arraylike(v))), mode=mode)


def polyval(p: Sequence[Any] | Any, x: Any) -> Any:
    """The polynomial with coefficients ``p`` (highest power first) at ``x`` (Horner)."""
    p = traced_arraylike(p)
    out = x * 0.0 + p[0]
    for k in range(1, np.shape(p)[0]):
        out = out * x + p[k]
    return out


def _cumulative(fn: Any, identity: float, x: Any, axis: int | None, include_initial: bool) -> Any:
    x = traced_arraylike(x)
    if axis is None:
        if np.ndim(x) > 1:
            raise ValueError("cumulative: axis is required for arrays with more than one axis")
        axis = 0
    out = fn(x, axis=axis)
    if not include_initial:
        return out
    shape = list(np.shape(x))
    shape[axis] = 1
    return concatenate([np.full(shape, identity, dtype=peek(out).dtype), out], axis=axis)


def cumulative_sum(x: Any, axis: int | None = None, include_initial: bool = False) -> Any:
    """``numpy.cumulative_sum`` (a 0 first with ``include_initial``)."""
    from tracegrad.numpy.reductions import cumsum

    return _cumulative(cumsum, 0.0, x, axis, include_initial)


def cumulative_prod(x: Any, axis: int | None = None, include_initial: bool = False) -> Any:
    """``numpy.cumulative_prod`` (a 1 first with ``include_initial``)."""
    return _cumulative(cumprod, 1.0, x, axis, include_initial)
