"""Indexing: basic and integer-array ``x[idx]``, its adjoint (scatter-add), gathers, sort.

Integer-array indices may repeat: the adjoint adds the cotangents of repeated
positions (``numpy.add.at``), so gradients accumulate as they should.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.core.backend import as_array, zeros
from tracegrad.core.batching import loop_batch
from tracegrad.core.primitive import Primitive, box_types, dtype_of, get_value, shape_of
from tracegrad.core.shapes import reshape
from tracegrad.core.staging import plain

__all__ = ["getitem", "scatter_add", "sort", "take", "take_along_axis"]


def _is_basic(idx: Any) -> bool:
    """True for indices made only of ints, slices, None and Ellipsis (no gathers)."""
    parts = idx if isinstance(idx, tuple) else (idx,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)


def _getitem_impl(x: Any, idx: Any) -> Any:
    return x[idx]


def _scatter_add_impl(g: Any, idx: Any, shape: tuple[int, ...]) -> np.ndarray:
    out = zeros(shape, np.result_type(g), like=g)
    if _is_basic(idx):
        out[idx] = g  # basic indices never repeat a position
    else:
        np.add.at(out, idx, g)
    return out


getitem = Primitive(_getitem_impl, "getitem")
scatter_add = Primitive(_scatter_add_impl, "scatter_add")
getitem.defvjp(lambda g, out, x, idx: scatter_add(g, idx, np.shape(x))).def_linear()
scatter_add.defvjp(lambda g, out, t, idx, shape: getitem(g, idx)).def_linear()


def _batched_index(idx: Any) -> tuple | None:
    """``idx`` with a leading full slice for the batch axis, or ``None`` when that would
    move the batch axis (NumPy puts the result axes of non-adjacent integer-array
    indices first)."""
    parts = idx if isinstance(idx, tuple) else (idx,)
    advanced = [i for i, p in enumerate(parts) if not _is_basic(p)]
    if advanced:  # beside an integer array, a plain integer is an advanced index too
        advanced = [i for i, p in enumerate(parts) if not _is_basic(p) or isinstance(p, int)]
    if advanced and advanced[-1] - advanced[0] + 1 != len(advanced):
        return None
    return (slice(None), *parts)


def _getitem_batch(size: int, batched: Any, x: Any, idx: Any) -> Any:
    bidx = _batched_index(idx)
    if bidx is None:
        return loop_batch(getitem, size, batched, (x, idx), {})
    return getitem(x, bidx)


def _scatter_add_batch(size: int, batched: Any, g: Any, idx: Any, shape: Any) -> Any:
    bidx = _batched_index(idx)
    if bidx is None:
        return loop_batch(scatter_add, size, batched, (g, idx, shape), {})
    return scatter_add(g, bidx, (size, *shape))


getitem.defbatch(_getitem_batch).saving("shapes")
scatter_add.defbatch(_scatter_add_batch).saving("shapes")


def clean_index(idx: Any) -> Any:
    """An index with any traced parts replaced by their values (indices carry no
    derivative) and lists turned into arrays, as NumPy would read them."""
    if isinstance(idx, tuple):
        return tuple(clean_index(i) for i in idx)
    if type(idx) in box_types:
        idx = plain(idx)
        if type(idx) in box_types and dtype_of(idx).kind == "b":
            # a mask: the result's shape is its number of True values, read now (under
            # tg.jit, a read of the value)
            return get_value(idx)
        return idx
    if isinstance(idx, list):
        return np.asarray([get_value(i) for i in idx])
    return idx


def take(x: Any, indices: Any, axis: int | None = None) -> Any:
    """Elements at ``indices`` along ``axis`` (of the flattened array for ``None``)."""
    indices = get_value(indices)
    if axis is None:
        return getitem(reshape(x, (-1,)), indices)
    idx = [slice(None)] * np.ndim(x)
    idx[axis] = as_array(indices)
    return getitem(x, tuple(idx))


def take_along_axis(x: Any, indices: Any, axis: int | None) -> Any:
    """``numpy.take_along_axis`` as one integer-array gather.

    ``indices`` has ``x``'s number of axes; ``axis=None`` gathers from the flattened
    ``x`` with 1-D ``indices``, as NumPy does.
    """
    indices = plain(indices)
    if type(indices) not in box_types:
        indices = as_array(indices)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    shape = np.shape(x)
    axis = axis % len(shape)
    grids = np.ogrid[tuple(slice(n) for n in shape_of(indices))]
    idx = tuple(indices if a == axis else grids[a] for a in range(len(shape)))
    return getitem(x, idx)


def sort(x: Any, axis: int | None = -1) -> Any:
    """Sorted copy (of the flattened array for ``axis=None``); the derivative follows
    each element to its sorted position."""
    return take_along_axis(x, np.argsort(get_value(x), axis=axis), axis)
