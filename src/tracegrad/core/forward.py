"""Forward mode: tangents ride along with values through the JVP rules; no tape."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.core.primitive import (
    _NO_KWARGS,
    Box,
    Primitive,
    Trace,
    box_types,
    new_trace,
    peek,
    shape_of,
    trace_stack,
)
from tracegrad.core.shapes import broadcast_to

__all__ = ["JVPBox", "JVPTrace", "jvp_flat"]


class JVPBox(Box):
    """A primal value with its tangent (a dual number)."""

    __slots__ = ("_tangent",)

    def __init__(self, value: Any, tangent: Any, trace: JVPTrace) -> None:
        self._value = value
        self._tangent = tangent
        self._trace = trace


box_types.add(JVPBox)


class JVPTrace(Trace):
    """Carries tangents. Directly above a staging trace (``tg.jit``), each JVP rule on
    staged values is recorded as one equation of plain-array code (``stage``)."""

    __slots__ = ("stage",)

    def __init__(self, level: int) -> None:
        super().__init__(level)
        below = trace_stack()
        self.stage = below[-1] if below and below[-1].plain_values else None

    def process(self, prim: Primitive, args: tuple, kwargs: dict) -> JVPBox:
        if not self.active:
            self.check_active()
        vals = list(args)
        tangents = []
        nested = False
        for i, a in enumerate(args):
            if type(a) is JVPBox and a._trace is self:
                vals[i] = v = a._value
                tangents.append((i, a._tangent))
                if type(v) in box_types:
                    nested = True
            elif type(a) in box_types:
                nested = True
        stage = self.stage if nested else None  # rules on staged values: each one equation
        if stage is not None and not (
            stage.owns_all(vals) and stage.owns_all([t for _, t in tangents])
        ):
            stage = None
        out = prim.apply(vals, kwargs, nested)
        t_out = None
        rules = prim.jvp_rules
        for i, t in tangents:
            rule = rules[i] if i < len(rules) else None
            if stage is not None:
                c = stage.call(_tangent, [prim, i, t, out, *vals], kwargs)
            elif rule is not None:  # the common case, without a method call in between
                c = rule(t, out, *vals, **kwargs)
            else:
                c = prim.jvp(i, t, out, vals, kwargs)
            t_out = c if t_out is None else t_out + c
        out_shape = shape_of(out)
        if shape_of(t_out) != out_shape:
            t_out = broadcast_to(t_out, out_shape)
        return JVPBox(out, t_out, self)

    def process1(self, prim: Primitive, x: JVPBox) -> JVPBox:
        if not self.active:
            self.check_active()
        v = x._value
        if type(v) in box_types:
            if self.stage is not None:  # staged values: see process
                return self.process(prim, (x,), _NO_KWARGS)
            out = prim(v)
        else:
            out = prim.impl(v)
        rules = prim.jvp_rules
        if rules and rules[0] is not None:
            t_out = rules[0](x._tangent, out, v)
        else:
            t_out = prim.jvp(0, x._tangent, out, [v], _NO_KWARGS)
        if type(t_out) is not float or type(out) is not float:  # two floats: both scalars
            out_shape = shape_of(out)
            if shape_of(t_out) != out_shape:
                t_out = broadcast_to(t_out, out_shape)
        return JVPBox(out, t_out, self)

    def process2(self, prim: Primitive, x: Any, y: Any) -> JVPBox:
        if not self.active:
            self.check_active()
        tx = ty = None
        called = (x, y)
        if type(x) is JVPBox and x._trace is self:
            tx, x = x._tangent, x._value
        if type(y) is JVPBox and y._trace is self:
            ty, y = y._tangent, y._value
        if type(x) in box_types or type(y) in box_types:
            if self.stage is not None:  # staged values: see process
                return self.process(prim, called, _NO_KWARGS)
            out = prim(x, y)
        else:  # inlined Primitive.apply: this is the hottest path of a recording
            try:
                out = prim.impl(x, y)
            except ValueError:
                out = prim.call_impl((x, y), _NO_KWARGS)  # raises, naming the shapes
        rules = prim.jvp_rules
        args = (x, y)
        t_out = None
        for i, t in ((0, tx), (1, ty)):
            if t is None:
                continue
            rule = rules[i] if i < len(rules) else None
            c = rule(t, out, x, y) if rule is not None else prim.jvp(i, t, out, args, _NO_KWARGS)
            t_out = c if t_out is None else t_out + c
        if type(t_out) is not float or type(out) is not float:  # two floats: both scalars
            out_shape = shape_of(out)
            if shape_of(t_out) != out_shape:
                t_out = broadcast_to(t_out, out_shape)
        return JVPBox(out, t_out, self)


def _tangent(prim: Primitive, argnum: int, t: Any, out: Any, *args: Any, **kwargs: Any) -> Any:
    return prim.jvp(argnum, t, out, args, kwargs)


def jvp_flat(
    fun: Callable[..., Sequence[Any]], primals: Sequence[Any], tangents: Sequence[Any]
) -> tuple[list[Any], list[Any], JVPTrace]:
    """Run ``fun`` (flat list in, flat list out) once with tangents attached.

    Returns the primal outputs, their tangents (zeros for outputs that do not depend on
    the inputs) and the finished trace (to unbox auxiliary outputs with).
    """
    with new_trace(JVPTrace) as trace:
        boxes = [JVPBox(p, t, trace) for p, t in zip(primals, tangents)]
        outs = fun(*boxes)
        values, out_tangents = [], []
        for o in outs:
            if type(o) is JVPBox and o._trace is trace:
                values.append(o._value)
                out_tangents.append(o._tangent)
            else:
                values.append(o)
                out_tangents.append(zeros_like_value(o))
    return values, out_tangents, trace


def zeros_like_value(x: Any) -> np.ndarray:
    """Zeros with the shape and dtype of ``x``'s primal value (boxes stripped)."""
    x = peek(x)
    return np.zeros_like(x, dtype=np.result_type(x))
