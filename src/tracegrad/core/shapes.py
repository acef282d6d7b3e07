"""The three structural primitives (reshape, broadcast_to, sum) and ``unbroadcast``.

They live in the core because the differentiation drivers need them: reverse mode sums
a cotangent down to its operand's shape (``unbroadcast``), forward mode broadcasts a
tangent up to the output's shape. This is the only place broadcasting is undone.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from tracegrad.core.primitive import Primitive, box_types, peek

__all__ = [
    "broadcast_to",
    "keep_shape",
    "normalize_axis",
    "reshape",
    "sum",
    "unbroadcast",
    "unreduce",
]


def static_int(v: Any) -> Any:
    """``v`` as a Python int when it is a traced integer (an axis, a count: under
    ``tg.jit`` read as the value it has, since shapes follow from it), else unchanged."""
    if type(v) in box_types and np.ndim(peek(v)) == 0:
        return operator.index(v)
    return v


def normalize_axis(axis: int | tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative ints (all axes for ``None``)."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, (tuple, list)):  # an int (a traced one is read as an index)
        axis = (operator.index(axis),)
    out = []
    for a in axis:
        if not -ndim <= a < max(ndim, 1):
            raise np.exceptions.AxisError(int(a), ndim)
        out.append(int(a) % max(ndim, 1))
    return tuple(sorted(out))


def _reshape_impl(x: Any, shape: Any) -> Any:
    return np.reshape(x, shape)


def _broadcast_to_impl(x: Any, shape: tuple[int, ...]) -> Any:
    return np.broadcast_to(x, shape)


def _sum_impl(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return np.sum(x, axis=axis, keepdims=keepdims)


_reshape = Primitive(_reshape_impl, "reshape")
_broadcast_to = Primitive(_broadcast_to_impl, "broadcast_to")
_sum = Primitive(_sum_impl, "sum")


# The public functions take the plain-array case straight to the ndarray method: they run
# in every unbroadcast and reduction rule of every backward sweep, where the general
# dispatch (argument loop, keyword packing, NumPy's own function wrappers) would cost
# more than the work on a small array.


def reshape(x: Any, shape: Any) -> Any:
    """``numpy.reshape``: the same data in a new shape (differentiable in ``x``)."""
    if type(x) is np.ndarray:
        try:
            return x.reshape(shape)
        except ValueError:
            pass  # the primitive's call names the shapes
    return _reshape(x, shape)


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    """``numpy.broadcast_to`` (differentiable in ``x``; the result is read-only)."""
    if type(x) is np.ndarray:
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            pass  # the primitive's call names the shapes
    return _broadcast_to(x, shape)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """``numpy.sum`` over ``axis`` (all axes for ``None``)."""
    if type(x) is np.ndarray:
        return x.sum(axis=axis, keepdims=keepdims)
    return _sum(x, axis=axis, keepdims=keepdims)


reshape.primitive = _reshape  # type: ignore[attr-defined]
broadcast_to.primitive = _broadcast_to  # type: ignore[attr-defined]
sum.primitive = _sum  # type: ignore[attr-defined]


def unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` down to ``shape``: undo NumPy broadcasting of an operand of that shape."""
    gshape = np.shape(g)
    if gshape == shape:
        return g
    nlead = len(gshape) - len(shape)
    if nlead < 0:
        return broadcast_to(g, shape)
    axes = tuple(range(nlead)) + tuple(
        nlead + i for i, d in enumerate(shape) if d == 1 and gshape[nlead + i] != 1
    )
    if axes:
        g = sum(g, axis=axes)
    return reshape(g, shape) if np.shape(g) != shape else g


def keep_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """``shape`` with the reduced axes set to 1 (the ``keepdims=True`` shape)."""
    kept = list(shape)
    for a in normalize_axis(axis, len(shape)):
        kept[a] = 1
    return tuple(kept)


def unreduce(g: Any, xshape: tuple[int, ...], axis: Any, keepdims: bool) -> Any:
    """The cotangent ``g`` of a reduction over ``axis``, spread back over the reduced
    axes: shape ``xshape``. The one place reductions undo themselves."""
    if not xshape:  # a reduction of a scalar is the scalar: keep g (a float stays one)
        return g
    if not keepdims:
        g = reshape(g, keep_shape(xshape, axis))
    return broadcast_to(g, xshape)


def _sum_vjp(g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return unreduce(g, np.shape(x), axis, keepdims)


# their VJPs read only the operand's shape
_reshape.defvjp(lambda g, out, x, shape: reshape(g, np.shape(x))).def_linear().saving("shapes")
_broadcast_to.defvjp(lambda g, out, x, shape: unbroadcast(g, np.shape(x))).def_linear()
_broadcast_to.saving("shapes")
_sum.defvjp(_sum_vjp).def_linear().saving("shapes")
