"""Array functions: padding, rolling, rotating, diagonals, joins, splits, insert/delete,
selection, ``kron`` and ``cross``.

Most are one gather: NumPy's own function applied to the array of flat positions
(``numpy.roll(arange(size).reshape(shape))``) says where each output element comes
from, and ``x.ravel()[positions]`` takes it, so the derivative (a scatter-add) is exact
whatever the function does, and the values are NumPy's by construction.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.core.backend import as_array
from tracegrad.core.primitive import box_types, get_value, peek
from tracegrad.core.shapes import broadcast_to, reshape, sum
from tracegrad.core.staging import call_plain, plain
from tracegrad.numpy.creation import traced_arraylike
from tracegrad.numpy.elementwise import where
from tracegrad.numpy.shape import (
    atleast_1d,
    atleast_2d,
    concatenate,
    moveaxis,
    ravel,
    split,
    stack,
)

__all__ = [
    "angle",
    "apply_along_axis",
    "apply_over_axes",
    "block",
    "compress",
    "extract",
    "matvec",
    "resize",
    "trim_zeros",
    "unstack",
    "vecdot",
    "vecmat",
    "append",
    "c_",
    "partition",
    "r_",
    "real_if_close",
    "array_split",
    "atleast_3d",
    "broadcast_arrays",
    "choose",
    "column_stack",
    "cross",
    "delete",
    "diagflat",
    "diagonal",
    "dsplit",
    "dstack",
    "fliplr",
    "flipud",
    "hsplit",
    "insert",
    "kron",
    "pad",
    "piecewise",
    "roll",
    "rollaxis",
    "rot90",
    "row_stack",
    "select",
    "vsplit",
]


def _gather(x: Any, positions_of: Callable[[np.ndarray], np.ndarray]) -> Any:
    """``x`` rearranged as ``positions_of`` rearranges an array of ``x``'s shape."""
    x = traced_arraylike(x)
    if type(x) not in box_types:
        return positions_of(as_array(x))
    shape = np.shape(x)
    positions = positions_of(np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape))
    return ravel(x)[positions]


def roll(x: Any, shift: Any, axis: Any = None) -> Any:
    """Shift elements cyclically along ``axis`` (the flattened array for ``None``)."""
    return _gather(x, lambda a: np.roll(a, shift, axis))


def rot90(x: Any, k: int = 1, axes: Sequence[int] = (0, 1)) -> Any:
    """Rotate by 90° ``k`` times in the plane of ``axes``."""
    return _gather(x, lambda a: np.rot90(a, k, axes))


def fliplr(x: Any) -> Any:
    """Reverse the order along axis 1."""
    return _gather(x, np.fliplr)


def flipud(x: Any) -> Any:
    """Reverse the order along axis 0."""
    return _gather(x, np.flipud)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The diagonal over ``axis1``/``axis2``, on the last axis of the result."""
    return _gather(x, lambda a: np.diagonal(a, offset, axis1, axis2))


def delete(x: Any, obj: Any, axis: int | None = None) -> Any:
    """``x`` without the entries ``obj`` along ``axis`` (flattened for ``None``)."""
    return _gather(x, lambda a: np.delete(a, obj, axis))


def rollaxis(x: Any, axis: int, start: int = 0) -> Any:
    """Move ``axis`` back to position ``start`` (``numpy.rollaxis``)."""
    return _gather(x, lambda a: np.rollaxis(a, axis, start))


def pad(x: Any, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Any:
    """``numpy.pad``. Every mode that copies elements (``edge``, ``reflect``,
    ``symmetric``, ``wrap``, ...) is a gather; ``constant`` pads with
    ``constant_values`` (default 0), which carry no derivative."""
    x = traced_arraylike(x)
    if type(x) not in box_types:
        return np.pad(x, pad_width, mode, **kwargs)
    if mode != "constant":
        return _gather(x, lambda a: np.pad(a, pad_width, mode, **kwargs))
    shape = np.shape(x)
    # -1 marks a padded position; it picks the appended 0 and the constants are added
    positions = np.pad(
        np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape), pad_width, constant_values=-1
    )
    body = concatenate([ravel(x), np.zeros(1, dtype=peek(x).dtype)])[positions]
    constants = np.pad(np.zeros(shape, dtype=peek(x).dtype), pad_width, **kwargs)
    return body + constants if np.any(constants) else body


def diagflat(v: Any, k: int = 0) -> Any:
    """A 2-D array with the flattened ``v`` on its ``k``-th diagonal."""
    from tracegrad.numpy.creation import diag

    return diag(ravel(traced_arraylike(v)), k)


def kron(a: Any, b: Any) -> Any:
    """Kronecker product: blocks ``a[i, j] * b`` (as ``numpy.kron``)."""
    a, b = traced_arraylike(a), traced_arraylike(b)
    nd = builtins.max(np.ndim(a), np.ndim(b))
    sa = (1,) * (nd - np.ndim(a)) + np.shape(a)
    sb = (1,) * (nd - np.ndim(b)) + np.shape(b)
    # a on the even axes, b on the odd ones, then each pair of axes merged
    wide_a = reshape(a, tuple(v for n in sa for v in (n, 1)))
    wide_b = reshape(b, tuple(v for n in sb for v in (1, n)))
    return reshape(wide_a * wide_b, tuple(p * q for p, q in zip(sa, sb)))


def cross(
    a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: Any = None
) -> Any:
    """Cross product of 3-vectors (or the z component for 2-vectors) along the axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(traced_arraylike(a), axisa, -1)
    b = moveaxis(traced_arraylike(b), axisb, -1)
    na, nb = np.shape(a)[-1], np.shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(
            "cross: incompatible dimensions for cross product (dimension must be 2 or 3)"
        )
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    a2 = a[..., 2] if na == 3 else 0.0
    b2 = b[..., 2] if nb == 3 else 0.0
    z = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return z
    c = stack(broadcast_arrays(a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, z), axis=-1)
    return moveaxis(c, -1, axisc)


def atleast_3d(x: Any) -> Any:
    """Views with at least three axes: (n,) → (1, n, 1), (m, n) → (m, n, 1)."""
    x = traced_arraylike(x)
    nd = np.ndim(x)
    if nd == 0:
        return reshape(x, (1, 1, 1))
    if nd == 1:
        return reshape(x, (1, np.shape(x)[0], 1))
    return reshape(x, np.shape(x) + (1,)) if nd == 2 else x


def column_stack(arrays: Sequence[Any]) -> Any:
    """1-D arrays as columns, 2-D arrays as they are, joined along axis 1."""
    cols = [traced_arraylike(a) for a in arrays]
    cols = [reshape(a, (-1, 1)) if np.ndim(a) < 2 else a for a in cols]
    return concatenate(cols, axis=1)


def dstack(arrays: Sequence[Any]) -> Any:
    """Join along the third axis (after :func:`atleast_3d`)."""
    return concatenate([atleast_3d(a) for a in arrays], axis=2)


def row_stack(arrays: Sequence[Any]) -> Any:
    """``vstack``: join rows (1-D arrays become rows)."""
    return concatenate([atleast_2d(traced_arraylike(a)) for a in arrays], axis=0)


def broadcast_arrays(*arrays: Any) -> list[Any]:
    """The arrays broadcast to their common shape."""
    arrays = [traced_arraylike(a) for a in arrays]
    shape = np.broadcast_shapes(*[np.shape(a) for a in arrays])
    return [broadcast_to(a, shape) for a in arrays]


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """``split`` that allows sections of unequal length (the first ones one longer)."""
    x = traced_arraylike(x)
    if isinstance(indices_or_sections, (int, np.integer)):
        n, k = np.shape(x)[axis], int(indices_or_sections)
        if k <= 0:
            raise ValueError("array_split: number of sections must be larger than 0")
        sizes = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
        indices_or_sections = list(np.cumsum(sizes)[:-1])
    return split(x, indices_or_sections, axis=axis)


def hsplit(x: Any, indices_or_sections: Any) -> list[Any]:
    return split(x, indices_or_sections, axis=1 if np.ndim(x) > 1 else 0)


def vsplit(x: Any, indices_or_sections: Any) -> list[Any]:
    return split(x, indices_or_sections, axis=0)


def dsplit(x: Any, indices_or_sections: Any) -> list[Any]:
    return split(x, indices_or_sections, axis=2)


def append(x: Any, values: Any, axis: int | None = None) -> Any:
    """``values`` joined at the end of ``x`` (both flattened for ``axis=None``)."""
    x, values = traced_arraylike(x), traced_arraylike(values)
    if axis is None:
        return concatenate([ravel(x), ravel(values)])
    return concatenate([x, values], axis=axis)


def insert(x: Any, obj: Any, values: Any, axis: int | None = None) -> Any:
    """``values`` inserted before the positions ``obj`` along ``axis`` (flattened for
    ``None``). NumPy's own insert, run on positions, says where each entry of ``x`` and
    of the (broadcast) ``values`` goes: one gather, differentiable in both."""
    x, values = traced_arraylike(x), traced_arraylike(values)
    if type(x) not in box_types and type(values) not in box_types:
        return np.insert(x, obj, values, axis)
    if axis is None:
        x, axis = ravel(x), 0
    shape, vshape = np.shape(x), np.shape(values)
    n = int(np.prod(shape))
    of_x = np.insert(np.arange(n, dtype=np.intp).reshape(shape), obj, -1, axis)
    of_values = np.insert(
        np.full(shape, -1, dtype=np.intp),
        obj,
        np.arange(int(np.prod(vshape))).reshape(vshape),
        axis,
    )
    source = concatenate([ravel(x), ravel(values)])
    return source[np.where(of_x >= 0, of_x, n + of_values)]


def select(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> Any:
    """The choice of the first condition that holds, ``default`` where none does."""
    if len(condlist) != len(choicelist):
        raise ValueError("select: list of cases must be same length as list of conditions")
    out = default
    for cond, choice in zip(reversed(condlist), reversed(choicelist)):
        out = where(plain(cond), choice, out)
    return out


def piecewise(x: Any, condlist: Any, funclist: Sequence[Any], *args: Any, **kw: Any) -> Any:
    """``funclist[i](x)`` where ``condlist[i]`` holds (later conditions win); one extra
    function is the default where none holds. Constants stand for constant functions."""
    x = traced_arraylike(x)
    if isinstance(condlist, np.ndarray) and condlist.dtype == bool and condlist.ndim == np.ndim(x):
        condlist = [condlist]
    condlist = [plain(c) for c in condlist]
    if len(funclist) == len(condlist) + 1:
        rest = ~np.any(np.asarray(condlist, dtype=bool), axis=0)
        condlist = [*condlist, rest]
    out = x * 0.0
    for cond, fn in zip(condlist, funclist):
        value = fn(x, *args, **kw) if callable(fn) else fn
        out = where(cond, value, out)
    return out


def choose(a: Any, choices: Sequence[Any]) -> Any:
    """``choices[a[i]][i]``: the index array ``a`` picks one choice per position."""
    a = np.asarray(plain(a))
    out = choices[0]
    for k, choice in enumerate(choices[1:], start=1):
        out = where(a == k, choice, out)
    return out


def partition(x: Any, kth: Any, axis: int | None = -1) -> Any:
    """``numpy.partition``: the ``kth`` element in its sorted place, smaller ones before
    it (a gather by ``argpartition`` of the values; the derivative follows each
    element)."""
    from tracegrad.numpy.indexing import take_along_axis

    x = traced_arraylike(x)
    if type(x) not in box_types:
        return np.partition(x, kth, axis)
    order = np.argpartition(get_value(x), kth, axis)
    return take_along_axis(x, order, axis)


def angle(x: Any, deg: bool = False) -> Any:
    """The angle of a real value: 0 where ``x >= 0``, π (180) where negative (piecewise
    constant: no derivative)."""
    return call_plain(np.angle, (x,), {"deg": deg})


def real_if_close(x: Any, tol: float = 100) -> Any:
    """The value itself (tracegrad's values are real)."""
    return x


class _Concatenator:
    """``r_[...]`` / ``c_[...]``: arrays, scalars and slices (``1:10``, ``0:1:5j``)
    joined along the first (``r_``) or last (``c_``) axis; string directives are not
    supported."""

    def __init__(self, columns: bool) -> None:
        self.columns = columns

    def __getitem__(self, key: Any) -> Any:
        items = key if isinstance(key, tuple) else (key,)
        parts = []
        for item in items:
            if isinstance(item, str):
                raise NotImplementedError("r_/c_: string directives are not supported")
            part = np.r_[item] if isinstance(item, slice) else traced_arraylike(item)
            part = atleast_1d(part) if np.ndim(part) == 0 else part
            if self.columns and np.ndim(part) == 1:
                part = reshape(part, (-1, 1))
            parts.append(part)
        return concatenate(parts, axis=-1 if self.columns else 0)


r_ = _Concatenator(columns=False)
c_ = _Concatenator(columns=True)


def resize(x: Any, new_shape: Any) -> Any:
    """``numpy.resize``: the flattened ``x`` repeated (or cut) to ``new_shape``."""
    return _gather(x, lambda a: np.resize(a, new_shape))


def unstack(x: Any, axis: int = 0) -> tuple[Any, ...]:
    """The slices of ``x`` along ``axis``."""
    x = traced_arraylike(x)
    moved = moveaxis(x, axis, 0)
    return tuple(moved[i] for i in range(np.shape(moved)[0]))


def extract(condition: Any, x: Any) -> Any:
    """The elements of the flattened ``x`` where the flattened ``condition`` holds."""
    keep = np.ravel(np.asarray(get_value(plain(condition)), dtype=bool))
    return ravel(traced_arraylike(x))[np.nonzero(keep)[0]]


def compress(condition: Any, x: Any, axis: int | None = None) -> Any:
    """The slices of ``x`` along ``axis`` (flattened for ``None``) where ``condition``."""
    x = traced_arraylike(x)
    keep = np.nonzero(np.asarray(get_value(plain(condition)), dtype=bool))[0]
    if axis is None:
        return ravel(x)[keep]
    idx: list[Any] = [slice(None)] * np.ndim(x)
    idx[axis] = keep
    return x[tuple(idx)]


def trim_zeros(x: Any, trim: str = "fb") -> Any:
    """The 1-D ``x`` without its leading (``f``) and trailing (``b``) zeros."""
    x = traced_arraylike(x)
    nz = np.nonzero(get_value(plain(x)))[0]
    if nz.size == 0:
        return x[0:0]
    lo = nz[0] if "f" in trim else 0
    hi = nz[-1] + 1 if "b" in trim else np.shape(x)[0]
    return x[lo:hi]


def apply_along_axis(fn: Callable[..., Any], axis: int, x: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn`` on every 1-D slice of ``x`` along ``axis``; its results, stacked, replace
    that axis (as ``numpy.apply_along_axis``)."""
    x = traced_arraylike(x)
    moved = moveaxis(x, axis, -1)
    lead = np.shape(moved)[:-1]
    flat = reshape(moved, (-1, np.shape(moved)[-1]))
    outs = [traced_arraylike(fn(flat[i], *args, **kwargs)) for i in range(np.shape(flat)[0])]
    out = reshape(stack(outs), lead + np.shape(outs[0]))
    nd_out = np.ndim(outs[0])
    axis = axis % np.ndim(x)
    return moveaxis(
        out, tuple(range(len(lead), len(lead) + nd_out)), tuple(range(axis, axis + nd_out))
    )


def block(arrays: Any) -> Any:
    """``numpy.block``: nested lists of arrays joined, the innermost lists along the last
    axis, each enclosing level along the axis before."""

    def depth(a: Any) -> int:
        return 1 + depth(a[0]) if isinstance(a, list) else 0

    def max_ndim(a: Any) -> int:
        return builtins.max(max_ndim(b) for b in a) if isinstance(a, list) else np.ndim(a)

    levels = depth(arrays)
    nd = builtins.max(levels, max_ndim(arrays))

    def join(a: Any, level: int) -> Any:
        if not isinstance(a, list):
            a = traced_arraylike(a)
            return reshape(a, (1,) * (nd - np.ndim(a)) + np.shape(a))
        return concatenate([join(b, level + 1) for b in a], axis=level - levels)

    return join(arrays, 0)


def vecdot(a: Any, b: Any, axis: int = -1) -> Any:
    """Dot products of the vectors along ``axis`` (broadcast over the rest)."""
    return sum(traced_arraylike(a) * traced_arraylike(b), axis=axis)


def matvec(m: Any, v: Any) -> Any:
    """Matrix-vector products over stacks: ``m (..., i, j)``, ``v (..., j)`` → ``(..., i)``."""
    from tracegrad.numpy.contractions import matmul

    v = traced_arraylike(v)
    return matmul(traced_arraylike(m), reshape(v, np.shape(v) + (1,)))[..., 0]


def vecmat(v: Any, m: Any) -> Any:
    """Vector-matrix products over stacks: ``v (..., i)``, ``m (..., i, j)`` → ``(..., j)``."""
    from tracegrad.numpy.contractions import matmul

    v = traced_arraylike(v)
    return matmul(reshape(v, np.shape(v)[:-1] + (1, np.shape(v)[-1])), traced_arraylike(m))[
        ..., 0, :
    ]


def apply_over_axes(fn: Callable[[Any, int], Any], x: Any, axes: Any) -> Any:
    """``fn(x, axis)`` for each axis in turn, the reduced axis kept (length 1)."""
    out = traced_arraylike(x)
    for axis in (axes,) if np.ndim(axes) == 0 else axes:
        res = fn(out, axis)
        out = (
            res
            if np.ndim(res) == np.ndim(out)
            else reshape(res, np.shape(np.expand_dims(np.empty(np.shape(res), dtype=bool), axis)))
        )
    return out
