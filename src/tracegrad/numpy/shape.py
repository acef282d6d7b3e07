"""Shape operations: reshape, transpose, concatenate and the composites built on them."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from tracegrad.core.backend import zeros
from tracegrad.core.batching import logical_shape, set_stack
from tracegrad.core.primitive import Primitive, box_types, dtype_of
from tracegrad.core.shapes import broadcast_to, normalize_axis, reshape, static_int

__all__ = [
    "atleast_1d",
    "atleast_2d",
    "broadcast_to",
    "concatenate",
    "expand_dims",
    "flip",
    "hstack",
    "matrix_transpose",
    "moveaxis",
    "ravel",
    "repeat",
    "reshape",
    "split",
    "squeeze",
    "stack",
    "swapaxes",
    "tile",
    "transpose",
    "vstack",
]


def _transpose_impl(x: Any, axes: Sequence[int] | None = None) -> Any:
    return np.transpose(x, axes)


def _transpose_vjp(g: Any, out: Any, x: Any, axes: Sequence[int] | None = None) -> Any:
    if axes is None:
        return _transpose(g, None)
    return _transpose(g, tuple(np.argsort([a % np.ndim(x) for a in axes])))


def _transpose_batch(size: int, batched: Any, x: Any, axes: Sequence[int] | None = None) -> Any:
    nd = np.ndim(x) - 1
    perm = range(nd - 1, -1, -1) if axes is None else [a % nd for a in axes]
    return _transpose(x, (0, *(a + 1 for a in perm)))


_transpose = Primitive(_transpose_impl, "transpose").defvjp(_transpose_vjp).def_linear()
_transpose.defbatch(_transpose_batch).saving("shapes")


def transpose(x: Any, axes: Sequence[int] | None = None) -> Any:
    """Permute axes (reverse them when ``axes`` is ``None``)."""
    return _transpose(x, None if axes is None else tuple(int(a) for a in axes))


transpose.primitive = _transpose  # type: ignore[attr-defined]


def _axis(axis: int, ndim: int) -> int:
    """One axis as a non-negative int; NumPy's AxisError when out of range."""
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(int(axis), ndim)
    return int(axis) % ndim


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    """Interchange two axes."""
    if type(x) is np.ndarray:  # untraced, as in a matmul rule's transpose: NumPy's view
        return x.swapaxes(axis1, axis2)
    nd = np.ndim(x)
    perm = list(range(nd))
    a, b = _axis(axis1, nd), _axis(axis2, nd)
    perm[a], perm[b] = perm[b], perm[a]
    return _transpose(x, tuple(perm))


def matrix_transpose(x: Any) -> Any:
    """Swap the last two axes (transpose every matrix of a stack)."""
    return swapaxes(x, -1, -2)


def moveaxis(x: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Any:
    """Move axes to new positions; the others keep their order."""
    nd = np.ndim(x)
    source, destination = static_int(source), static_int(destination)
    src = [_axis(s, nd) for s in ((source,) if isinstance(source, int) else source)]
    dst = [_axis(d, nd) for d in ((destination,) if isinstance(destination, int) else destination)]
    if len(src) != len(dst):
        raise ValueError("moveaxis: source and destination need the same number of axes")
    order = [a for a in range(nd) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return _transpose(x, tuple(order))


def ravel(x: Any) -> Any:
    """Flatten to one dimension (C order)."""
    return reshape(x, (-1,))


def expand_dims(x: Any, axis: int | Sequence[int]) -> Any:
    """Insert length-1 axes at ``axis``."""
    return reshape(x, np.shape(np.expand_dims(np.empty(np.shape(x), dtype=bool), axis)))


def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> Any:
    """Remove length-1 axes (those in ``axis``, or all)."""
    return reshape(x, np.shape(np.squeeze(np.empty(np.shape(x), dtype=bool), axis)))


def atleast_1d(x: Any) -> Any:
    return x if np.ndim(x) >= 1 else reshape(x, (1,))


def atleast_2d(x: Any) -> Any:
    nd = np.ndim(x)
    return x if nd >= 2 else reshape(x, (1,) * (2 - nd) + np.shape(x))


def flip(x: Any, axis: int | Sequence[int] | None = None) -> Any:
    """Reverse the order of elements along ``axis`` (all axes for ``None``)."""
    idx = [slice(None)] * np.ndim(x)
    for a in normalize_axis(axis, np.ndim(x)):
        idx[a] = slice(None, None, -1)
    return x[tuple(idx)]


def _concatenate_impl(*arrays: Any, axis: int = 0) -> Any:
    return np.concatenate(arrays, axis=axis)


def _piece(argnum: int, arrays: tuple, axis: int) -> tuple[slice, ...]:
    """The index that selects operand ``argnum`` out of the concatenated result."""
    axis = axis % np.ndim(arrays[0])
    start = builtins.sum(np.shape(a)[axis] for a in arrays[:argnum])
    idx = [slice(None)] * np.ndim(arrays[0])
    idx[axis] = slice(start, start + np.shape(arrays[argnum])[axis])
    return tuple(idx)


def _concatenate_vjp(argnum: int, g: Any, out: Any, *arrays: Any, axis: int = 0) -> Any:
    return g[_piece(argnum, arrays, axis)]


def _concatenate_jvp(argnum: int, t: Any, out: Any, *arrays: Any, axis: int = 0) -> Any:
    parts = [
        t if i == argnum else zeros(np.shape(a), dtype_of(t), like=t) for i, a in enumerate(arrays)
    ]
    return _concatenate(*parts, axis=axis)


def _concatenate_batch(size: int, batched: Any, *arrays: Any, axis: int = 0) -> Any:
    shapes = [logical_shape(a, b) for a, b in zip(arrays, batched)]
    parts = [a if b else broadcast_to(a, (size, *s)) for a, b, s in zip(arrays, batched, shapes)]
    return _concatenate(*parts, axis=axis % len(shapes[0]) + 1)


_concatenate = Primitive(_concatenate_impl, "concatenate")
_concatenate.defvjp_argnum(_concatenate_vjp).defjvp_argnum(_concatenate_jvp)
_concatenate.defbatch(_concatenate_batch).saving("shapes")


def concatenate(arrays: Sequence[Any], axis: int | None = 0) -> Any:
    """Join arrays along an existing axis (flattening them first when ``axis`` is None)."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("concatenate: need at least one array")
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    if not any(type(a) in box_types for a in arrays):
        return np.concatenate(arrays, axis=axis)
    return _concatenate(*arrays, axis=axis)


def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
    """Join arrays of one shape along a new axis."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("stack: need at least one array")
    shapes = {np.shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: all arrays must have the same shape, got {sorted(shapes)}")
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


set_stack(stack)


def hstack(arrays: Sequence[Any]) -> Any:
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if np.ndim(arrays[0]) == 1 else 1)


def vstack(arrays: Sequence[Any]) -> Any:
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Any]:
    """Split into pieces along ``axis``: ``n`` equal sections or at the given indices."""
    ax = _axis(axis, np.ndim(x))
    n = np.shape(x)[ax]
    indices_or_sections = static_int(indices_or_sections)
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or n % sections:
            raise ValueError(
                f"split: an axis of length {n} does not divide into {sections} equal sections"
            )
        step = n // sections
        bounds = [k * step for k in range(sections + 1)]
    else:
        bounds = [0, *indices_or_sections, n]
    pieces = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        idx = [slice(None)] * np.ndim(x)
        idx[ax] = slice(lo, hi)
        pieces.append(x[tuple(idx)])
    return pieces


def tile(x: Any, reps: int | Sequence[int]) -> Any:
    """Repeat the whole array ``reps`` times along each axis."""
    reps = static_int(reps)
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    shape = np.shape(x)
    nd = builtins.max(len(shape), len(reps))
    shape = (1,) * (nd - len(shape)) + shape
    reps = (1,) * (nd - len(reps)) + reps
    interleaved = tuple(v for pair in zip((1,) * nd, shape) for v in pair)
    wide = tuple(v for pair in zip(reps, shape) for v in pair)
    y = broadcast_to(reshape(x, interleaved), wide)
    return reshape(y, tuple(r * s for r, s in zip(reps, shape)))


def repeat(x: Any, repeats: int | Sequence[int], axis: int | None = None) -> Any:
    """Repeat each element ``repeats`` times (an integer-array gather, so gradients
    of repeated elements add up)."""
    if axis is None:
        x, axis = ravel(x), 0
    n = np.shape(x)[axis]
    idx = [slice(None)] * np.ndim(x)
    idx[axis] = np.repeat(np.arange(n), repeats)
    return x[tuple(idx)]
