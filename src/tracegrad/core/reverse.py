"""Reverse mode: record a Wengert list, then sweep adjoints backwards over it.

The tape of one trace is a flat list of steps in execution order, which is already a
topological order, so the backward sweep is a loop over the reversed list: no
recursion (a 100,000-step chain is fine) and no gradients stored on shared nodes
(``grad(f)(x)`` is pure and can be called again). Each step is a tuple
``(prim, args, kwargs, out, parents)`` where ``parents`` lists ``(argnum, step index)``
for the arguments that were traced; inputs are steps with ``prim`` ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from tracegrad.core.primitive import (
    _NO_KWARGS,
    SCALAR_ERRORS,
    Box,
    Primitive,
    Pruned,
    Trace,
    box_types,
    new_trace,
    shape_of,
    trace_stack,
)
from tracegrad.core.shapes import unbroadcast
from tracegrad.core.staging import StagedBox

__all__ = ["Tape", "TapeStep", "VJPBox", "VJPTrace", "backward", "record"]


class TapeStep(NamedTuple):
    """One step of a tape, as its readers outside the sweep see it (:meth:`Tape.step`).

    ``prim`` is ``None`` for an input; ``args`` are the primitive's arguments with this
    tape's boxes unwrapped (values the rules do not read replaced by :class:`Pruned`);
    ``out`` is the primal output; ``parents`` lists ``(argnum, step index)`` for each
    argument this tape traced."""

    prim: Primitive | None
    args: list | None
    kwargs: dict | None
    out: Any
    parents: Sequence[tuple[int, int]]


class Tape(list):
    """The Wengert list of a reverse-mode trace: steps in execution order.

    It holds plain tuples with the fields of :class:`TapeStep` (building a named tuple
    per recorded operation would cost about a sixth of a scalar step); :meth:`step`
    gives one with its fields named."""

    __slots__ = ()

    def step(self, i: int) -> TapeStep:
        return TapeStep._make(self[i])


class VJPBox(Box):
    """A value recorded on a reverse-mode tape, at position ``_index``."""

    __slots__ = ("_index",)

    def __init__(self, value: Any, trace: VJPTrace, index: int) -> None:
        self._value = value
        self._trace = trace
        self._index = index


box_types.add(VJPBox)


#: arrays smaller than this stay on the tape whole: a Pruned record would cost more
PRUNE_MIN_SIZE = 1024


def _prune(v: Any) -> Any:
    if type(v) is np.ndarray and v.size >= PRUNE_MIN_SIZE:
        return Pruned(v.shape, v.dtype)
    return v


class VJPTrace(Trace):
    """Records a tape. With ``keep_values`` every argument and output stays on it (for
    showing the evaluation trace); otherwise each primitive keeps what its ``saves``
    declares. Directly above a staging trace (``tg.jit``), its fast paths on plain
    arrays run through the staging trace's ``call`` (``stage``)."""

    __slots__ = ("tape", "keep_values", "stage")

    def __init__(self, level: int, keep_values: bool = False) -> None:
        super().__init__(level)
        self.tape = Tape()
        self.keep_values = keep_values
        below = trace_stack()
        self.stage = below[-1] if below and below[-1].plain_values else None

    def _append_pruned(
        self, prim: Primitive, vals: list, kwargs: dict, out: Any, parents: Any
    ) -> int:
        """Append a step, keeping of its values only what ``prim.saves`` says."""
        saves = prim.saves
        if saves != "args":  # the traced arguments are not read
            for i, _ in parents:
                vals[i] = _prune(vals[i])
        tape = self.tape
        tape.append((prim, vals, kwargs, out if saves == "out" else _prune(out), parents))
        return len(tape) - 1

    def new_input(self, value: Any) -> VJPBox:
        self.tape.append((None, None, None, value, ()))
        return VJPBox(value, self, len(self.tape) - 1)

    def process(self, prim: Primitive, args: tuple, kwargs: dict) -> VJPBox:
        if not self.active:
            self.check_active()
        vals = list(args)
        parents = []
        nested = False
        for i, a in enumerate(args):
            if type(a) is VJPBox and a._trace is self:
                vals[i] = v = a._value
                parents.append((i, a._index))
                if type(v) in box_types:
                    nested = True
            elif type(a) in box_types:
                nested = True
        if prim.forward_residual is not None and not self.keep_values and (
            not nested or (self.stage is not None and self.stage.owns_all(vals))
        ):
            try:
                if nested:  # staged values: one equation with both outputs
                    out, res = self.stage.call(prim.forward_residual, vals, kwargs, 2)
                else:
                    out, res = prim.forward_residual(*vals, **kwargs)
            except ValueError:
                out = prim(*vals, **kwargs)  # raises, naming the shapes
            kwargs = {**kwargs, "residual": res}
        else:
            out = prim.apply(vals, kwargs, nested)
        if prim.saves == "all" or self.keep_values:
            tape = self.tape
            tape.append((prim, vals, kwargs, out, parents))
            return VJPBox(out, self, len(tape) - 1)
        return VJPBox(out, self, self._append_pruned(prim, vals, kwargs, out, parents))

    def process1(self, prim: Primitive, x: VJPBox) -> VJPBox:
        if not self.active:
            self.check_active()
        v = x._value
        if type(v) is float and prim.float_impl is not None:  # a scalar chain's step
            try:
                out = prim.float_impl(v)
            except SCALAR_ERRORS:
                out = prim.impl(v)
        else:
            out = prim(v) if type(v) in box_types else prim.impl(v)
        parents = ((0, x._index),)
        # a float result has nothing worth pruning (and scalar chains are all floats)
        if type(out) is float or prim.saves == "all" or self.keep_values:
            tape = self.tape
            tape.append((prim, [v], _NO_KWARGS, out, parents))
            return VJPBox(out, self, len(tape) - 1)
        return VJPBox(out, self, self._append_pruned(prim, [v], _NO_KWARGS, out, parents))

    def process2(self, prim: Primitive, x: Any, y: Any) -> VJPBox:
        if not self.active:
            self.check_active()
        parents = []
        if type(x) is VJPBox and x._trace is self:
            parents.append((0, x._index))
            x = x._value
        if type(y) is VJPBox and y._trace is self:
            parents.append((1, y._index))
            y = y._value
        tx, ty = type(x), type(y)
        if tx is float and ty is float and prim.float_impl is not None:  # a scalar chain's
            try:
                out = prim.float_impl(x, y)
            except SCALAR_ERRORS:
                out = prim.impl(x, y)
        elif tx in box_types or ty in box_types:
            out = prim(x, y)
        else:  # inlined Primitive.apply: this is the hottest path of a recording
            try:
                out = prim.impl(x, y)
            except ValueError:
                out = prim.call_impl((x, y), _NO_KWARGS)  # raises, naming the shapes
        if type(out) is float or prim.saves == "all" or self.keep_values:
            tape = self.tape
            tape.append((prim, [x, y], _NO_KWARGS, out, parents))
            return VJPBox(out, self, len(tape) - 1)
        return VJPBox(out, self, self._append_pruned(prim, [x, y], _NO_KWARGS, out, parents))


def record(
    fun: Callable[..., Sequence[Any]], primals: Sequence[Any], keep_values: bool = False
) -> tuple[list[Any], list[int | None], VJPTrace]:
    """Run ``fun`` (flat list in, flat list out) once on a fresh tape.

    Returns the primal outputs, the tape index of each output (``None`` when an output
    does not depend on the inputs) and the finished trace, whose ``tape`` starts with
    the ``len(primals)`` inputs. ``keep_values`` keeps every value on the tape, also
    those the backward sweep does not need.
    """
    with new_trace(VJPTrace, keep_values) as trace:
        boxes = [trace.new_input(p) for p in primals]
        outs = fun(*boxes)
        values, indices = [], []
        for o in outs:
            if type(o) is VJPBox and o._trace is trace:
                values.append(o._value)
                indices.append(o._index)
            else:
                values.append(o)
                indices.append(None)
    return values, indices, trace


def _joint_cotangents(
    prim: Primitive, argnums: tuple[int, ...], g: Any, out: Any, *args: Any, **kwargs: Any
) -> Sequence[Any]:
    """The cotangents of the arguments ``argnums`` from the primitive's joint VJP rule."""
    cts = prim.vjp_joint(argnums, g, out, *args, **kwargs)
    if len(cts) != len(argnums):
        raise ValueError(
            f"the joint VJP rule of `{prim.name}` returned {len(cts)} cotangent(s) for "
            f"{len(argnums)} differentiated argument(s)"
        )
    return cts


def _cotangent(prim: Primitive, argnum: int, g: Any, out: Any, *args: Any, **kwargs: Any) -> Any:
    return prim.vjp(argnum, g, out, args, kwargs)


def _add_into(acc: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.add(acc, c, out=acc)


def _staged_step(
    stage: Trace, prim: Primitive, parents: Sequence[tuple[int, int]], g: Any, out: Any,
    args: list, kwargs: dict,
) -> list[Any] | None:  # fmt: skip
    """The cotangents of one step whose values are all staged, each rule call recorded
    as one equation of plain-array code; ``None`` if some value is not staged."""
    if not (stage.owns_all((g, out, *args)) and stage.owns_all(list(kwargs.values()))):
        return None
    if prim.vjp_joint:
        argnums = tuple([a for a, _ in parents])
        return stage.call(_joint_cotangents, [prim, argnums, g, out, *args], kwargs, len(parents))
    cts = []
    rules = prim.vjp_rules
    for a, _ in parents:
        rule = rules[a] if a < len(rules) else None
        if rule is not None:  # the rule itself is the equation: no call in between
            cts.append(stage.call(rule, [g, out, *args], kwargs))
        elif prim.vjp_argnum is not None:
            cts.append(stage.call(prim.vjp_argnum, [a, g, out, *args], kwargs))
        else:
            cts.append(stage.call(_cotangent, [prim, a, g, out, *args], kwargs))
    return cts


def _staged_sum(stage: Trace, prev: Any, c: Any, owned: bool) -> tuple[Any, bool]:
    """``prev + c`` for staged values, in place when the sweep owns ``prev``'s buffer;
    also whether it owns the result's."""
    pv, cv = prev._value, c._value
    if type(pv) is np.ndarray and type(cv) is np.ndarray:
        if owned and pv.shape == cv.shape and pv.dtype == cv.dtype:
            return stage.call(_add_into, [prev, c], _NO_KWARGS), True
        return stage.call(np.add, [prev, c], _NO_KWARGS), True
    return prev + c, False


def backward(
    tape: Tape, seeds: Sequence[tuple[int, Any]], n_inputs: int, stage: Trace | None = None
) -> list[Any]:
    """Sweep cotangents from ``seeds`` (``(index, cotangent)`` pairs) back to the inputs.

    Implements v̄_i = Σ_k v̄_k ∂v_k/∂v_i over the reversed tape: each step hands its
    cotangent to its parents through the primitive's VJP rule, and contributions to a
    value used several times are summed (into a buffer the sweep owns, when it has one).
    Returns one cotangent per input (``None`` for inputs the seeds do not reach).
    ``stage``: the staging trace below the tape's trace (its ``stage``), if any.
    """
    if not seeds:
        return [None] * n_inputs
    start = max(i for i, _ in seeds)
    cts: list[Any] = [None] * (start + 1)
    for i, g in seeds:
        cts[i] = g if cts[i] is None else cts[i] + g
    # indices whose cotangent is a buffer this sweep allocated (a sum it formed, or a
    # rule's output declared fresh): further contributions are added into it in place
    owned: set[int] = set()
    for i in range(start, n_inputs - 1, -1):
        g = cts[i]
        if g is None:
            continue
        cts[i] = None  # release as we go: memory falls during the sweep
        prim, args, kwargs, out, parents = tape[i]
        staged = stage and _staged_step(stage, prim, parents, g, out, args, kwargs)
        if staged:
            joint = iter(staged)
        else:
            rules = prim.vjp_rules
            joint = prim.vjp_joint and iter(
                _joint_cotangents(prim, tuple([a for a, _ in parents]), g, out, *args, **kwargs)
            )
        for argnum, p in parents:
            if joint:
                c = next(joint)
            else:
                try:
                    rule = rules[argnum]
                except IndexError:
                    rule = None
                if rule is None:
                    c = prim.vjp(argnum, g, out, args, kwargs)
                elif kwargs:
                    c = rule(g, out, *args, **kwargs)
                else:  # the common case, kept free of method calls and keyword packing
                    c = rule(g, out, *args)
            a = args[argnum]
            if type(c) is not float or type(a) is not float:  # two floats: both scalars
                if type(c) is np.ndarray and type(a) is np.ndarray:
                    if c.shape != a.shape:
                        c = unbroadcast(c, a.shape)
                else:
                    shape = shape_of(a)
                    if shape_of(c) != shape:
                        c = unbroadcast(c, shape)
            prev = cts[p]
            if prev is None:
                cts[p] = c
                if staged and type(c) is StagedBox:
                    c = c._value
                if prim.fresh and type(c) is np.ndarray and c.base is None:  # not a view
                    owned.add(p)
            elif staged and type(prev) is StagedBox and type(c) is StagedBox:
                cts[p], mine = _staged_sum(stage, prev, c, p in owned)
                if mine:
                    owned.add(p)
            elif type(prev) is not np.ndarray or type(c) is not np.ndarray:
                cts[p] = prev + c  # floats, boxes: a new value
            elif p in owned and prev.shape == c.shape and prev.dtype == c.dtype:
                np.add(prev, c, out=prev)
            else:
                cts[p] = prev + c
                owned.add(p)
    return cts[:n_inputs] + [None] * (n_inputs - len(cts))
