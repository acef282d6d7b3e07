"""Batching: run a function once over a stack of inputs (what ``jacfwd`` and ``jacrev``
use to push all basis vectors through one pass instead of a Python loop).

A :class:`BatchBox` holds a value whose axis 0 is the batch; everything else about it
(``shape``, ``ndim``, ``len``) is the shape of one example, so derivative rules and the
drivers see per-example shapes and need no change. A primitive's *batch rule*
``rule(size, batched, *args, **kwargs)`` computes the batched result (batch on axis 0)
from arguments of which those flagged in ``batched`` carry the batch on axis 0; a
primitive without one falls back to a loop over the batch.

``jacfwd`` and ``jacrev`` batch tangents and cotangents, whose rules only ever combine
them with plain primal values. ``tg.vmap`` batches primal values: a function that reads
one as a plain value (a rule's mask, through ``get_value``) would see the whole stack, so
its trace is *strict* and raises :class:`BatchedRead` there (also where a function
without a derivative, a comparison among them, strips its box: ``plain``), and ``vmap``
loops over the examples instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.core.primitive import Box, Primitive, Trace, box_types, new_trace, shape_of
from tracegrad.core.shapes import broadcast_to, normalize_axis, reshape
from tracegrad.core.shapes import sum as shapes_sum

__all__ = [
    "BatchBox",
    "BatchTrace",
    "BatchedRead",
    "batch_flat",
    "elementwise_batch",
    "expand_to_rank",
    "logical_shape",
    "loop_batch",
    "move_batch_front",
    "reduction_batch",
    "set_stack",
]


class BatchBox(Box):
    """A stack of values along axis 0, seen as one example."""

    __slots__ = ()

    def __init__(self, value: Any, trace: BatchTrace) -> None:
        self._value = value
        self._trace = trace

    @property
    def shape(self) -> tuple[int, ...]:
        return shape_of(self._value)[1:]

    @property
    def ndim(self) -> int:
        return len(shape_of(self._value)) - 1

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d array")
        return shape[0]


box_types.add(BatchBox)


class BatchedRead(Exception):
    """A function read the plain value of a batched array under a strict batch trace
    (``tg.vmap``): that value is the whole stack, not one example, so the batched run
    would be wrong; the caller falls back to a loop over the examples."""


class BatchTrace(Trace):
    """Runs primitives on stacks of values. ``strict``: a read of a batched value's plain
    value (:func:`~tracegrad.core.primitive.get_value`, as rules do for masks) raises
    :class:`BatchedRead` (``tg.vmap`` batches primal values, whose reads would see the
    whole stack; the tangents and cotangents of ``jacfwd``/``jacrev`` are never read)."""

    __slots__ = ("size", "strict")

    def __init__(self, level: int, size: int, strict: bool = False) -> None:
        super().__init__(level)
        self.size = size
        self.strict = strict

    def note_read(self, what: str) -> None:
        if self.strict:
            raise BatchedRead(what)

    def process(self, prim: Primitive, args: tuple, kwargs: dict) -> BatchBox:
        vals = list(args)
        batched = [False] * len(args)
        for i, a in enumerate(args):
            if type(a) is BatchBox and a._trace is self:
                vals[i] = a._value
                batched[i] = True
        rule = prim.batch_rule
        if rule is None:
            return BatchBox(loop_batch(prim, self.size, batched, vals, kwargs), self)
        return BatchBox(rule(self.size, batched, *vals, **kwargs), self)


#: how :func:`loop_batch` joins its per-example results along a new axis 0: NumPy's stack
#: until tracegrad.numpy installs its differentiable one (:func:`set_stack`; the results
#: may be traced by enclosing transformations, and the core defines no such operation)
_stack: Callable[[list[Any]], Any] = np.stack


def set_stack(stack: Callable[[list[Any]], Any]) -> None:
    """Install the function :func:`loop_batch` stacks its results with."""
    global _stack
    _stack = stack


def loop_batch(
    prim: Primitive, size: int, batched: Sequence[bool], vals: Sequence[Any], kwargs: dict
) -> Any:
    """The fallback for a primitive without a batch rule: one call per example."""
    outs = [
        prim(*[v[b] if bt else v for v, bt in zip(vals, batched)], **kwargs) for b in range(size)
    ]
    return _stack(outs)


def logical_shape(v: Any, batched: bool) -> tuple[int, ...]:
    """The shape of one example of ``v``."""
    s = shape_of(v)
    return s[1:] if batched else s


def expand_to_rank(v: Any, batched: bool, rank: int) -> Any:
    """A batched value reshaped to ``(B, 1, …, 1, *example_shape)`` of example rank
    ``rank``, so that NumPy's right-aligned broadcasting against unbatched operands lines
    up the example axes and leaves the batch on axis 0."""
    if not batched:
        return v
    s = shape_of(v)
    missing = rank - (len(s) - 1)
    return reshape(v, (s[0],) + (1,) * missing + s[1:]) if missing > 0 else v


def elementwise_batch(prim: Primitive) -> Callable[..., Any]:
    """Batch rule for an operation that broadcasts its operands elementwise."""

    def rule(size: int, batched: Sequence[bool], *vals: Any, **kwargs: Any) -> Any:
        rank = max(len(logical_shape(v, b)) for v, b in zip(vals, batched))
        return prim(*[expand_to_rank(v, b, rank) for v, b in zip(vals, batched)], **kwargs)

    return rule


def reduction_batch(prim: Primitive) -> Callable[..., Any]:
    """Batch rule for a reduction ``prim(x, axis=None, keepdims=False)``."""

    def rule(size: int, batched: Sequence[bool], x: Any, axis: Any = None, **kwargs: Any) -> Any:
        nd = len(shape_of(x)) - 1
        axes = tuple(a + 1 for a in normalize_axis(axis, nd))
        return prim(x, axis=axes, **kwargs)

    return rule


def move_batch_front(v: Any, size: int) -> Any:
    """A batch result as a plain stacked value: unbatched results are broadcast."""
    return broadcast_to(v, (size,) + shape_of(v))


def batch_flat(
    fun: Callable[..., Sequence[Any]],
    args: Sequence[Any],
    batched: Sequence[bool],
    size: int,
    strict: bool = False,
    out_batched: list[bool] | None = None,
) -> list[Any]:
    """Run ``fun`` (flat list in, flat list out) once over a batch of ``size`` examples.

    ``args[i]`` carries the batch on axis 0 where ``batched[i]``; every output comes
    back with the batch on axis 0 (outputs that do not depend on the batch are
    broadcast). ``strict``: see :class:`BatchTrace`. ``out_batched``, if given, is
    filled with one flag per output: whether it depended on the batch.
    """
    with new_trace(BatchTrace, size, strict) as trace:
        boxes = [BatchBox(a, trace) if b else a for a, b in zip(args, batched)]
        outs = fun(*boxes)
        result = []
        for o in outs:
            hit = type(o) is BatchBox and o._trace is trace
            result.append(o._value if hit else move_batch_front(o, size))
            if out_batched is not None:
                out_batched.append(hit)
    return result


# --- the structural primitives of core.shapes -----------------------------------------


def _as_shape(shape: Any) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)


def _reshape_batch(size: int, batched: Sequence[bool], x: Any, shape: Any) -> Any:
    return reshape(x, (size,) + _as_shape(shape))


def _broadcast_to_batch(size: int, batched: Sequence[bool], x: Any, shape: Any) -> Any:
    shape = _as_shape(shape)
    return broadcast_to(expand_to_rank(x, True, len(shape)), (size,) + shape)


reshape.primitive.defbatch(_reshape_batch)
broadcast_to.primitive.defbatch(_broadcast_to_batch)
shapes_sum.primitive.defbatch(reduction_batch(shapes_sum.primitive))
