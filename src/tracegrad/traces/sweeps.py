"""Tangent and adjoint sweeps over a trace's steps, one contribution at a time.

Unlike the library's own sweeps (:mod:`tracegrad.core.reverse`), which add up each
value's cotangents in place, these keep every contribution separately, so that a
table can show each one as a row: ``v̄_0 = v̄_0 + v̄_1 · 1.5``. They call each
primitive's own JVP/VJP rule (:meth:`Primitive.jvp`, :meth:`Primitive.vjp`), so every
row is a real intermediate result.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from tracegrad.core.shapes import unbroadcast
from tracegrad.traces.graph import Graph
from tracegrad.traces.steps import TraceStep

__all__ = ["Contribution", "adjoint_sweep", "coefficients", "local_vjp", "tangent_sweep"]


class Contribution(NamedTuple):
    """One row of a reverse sweep: step ``source`` (positions in the steps) adds its
    part for operand ``argnum`` (``-1`` in a folded step) to ``target``'s adjoint,
    which is ``value`` afterwards; ``accumulated``: ``target`` had an adjoint already."""

    source: int
    argnum: int
    target: int
    value: Any
    accumulated: bool


def local_vjp(g: Graph, s: TraceStep, ct: Any) -> list[tuple[int, int, Any]]:
    """Contributions ``(argnum, operand position, cotangent)`` of ``v̄_s = ct``, one per
    traced operand of ``s``, each of its operand's shape."""
    if len(s._tape) == 1:
        entry = g.tape.step(s._root)
        res = []
        for a, p in entry.parents:
            c = entry.prim.vjp(a, ct, entry.out, entry.args, entry.kwargs)
            shape = np.shape(entry.args[a])
            if np.shape(c) != shape:
                c = unbroadcast(c, shape)
            res.append((a, g.pos[p], np.asarray(c)[()]))
        return res
    # a folded step: sweep its members, keep what leaves the group
    group = g.members[s._root]
    cts: dict[int, Any] = {s._root: ct}
    ext: dict[int, Any] = {}
    for t in sorted(group, reverse=True):
        gt = cts.pop(t, None)
        if gt is None:
            continue
        entry = g.tape.step(t)
        for a, p in entry.parents:
            c = entry.prim.vjp(a, gt, entry.out, entry.args, entry.kwargs)
            box = cts if p in group else ext
            box[p] = c if p not in box else box[p] + c
    return [(-1, pos, np.asarray(ext[g.steps[pos]._root])[()]) for _, pos in s._refs]


def local_jvp(g: Graph, s: TraceStep, tangents: list[Any]) -> Any:
    """``v̇_s`` from the tangents of the steps before it (by step position)."""
    tan: dict[int, Any] = {}
    for t in sorted(s._tape):
        entry = g.tape.step(t)
        acc = None
        for a, p in entry.parents:
            tp = tan[p] if p in tan else tangents[g.pos[p]]
            c = entry.prim.jvp(a, tp, entry.out, entry.args, entry.kwargs)
            acc = c if acc is None else acc + c
        if np.shape(acc) != np.shape(entry.out):
            acc = np.broadcast_to(acc, np.shape(entry.out)).copy()
        tan[t] = acc
    return np.asarray(tan[s._root])[()]


def coefficients(g: Graph, s: TraceStep) -> list[float]:
    """For a folded affine step: ∂v_s/∂operand, one per operand."""
    return [float(c) for _, _, c in local_vjp(g, s, 1.0)]


def tangent_sweep(g: Graph, input_tangents: list[Any]) -> list[Any]:
    """Forward mode: the tangent of every step, by position, from one per input."""
    tans = list(input_tangents)
    for s in g.steps[len(tans) :]:
        tans.append(local_jvp(g, s, tans))
    return tans


def adjoint_sweep(g: Graph, seeds: list[tuple[int, Any]]) -> tuple[list[Any], list[Contribution]]:
    """Reverse mode from ``(step position, ȳ)`` seeds: the final adjoint of every step
    (``None``: not reached) and the contributions in sweep order."""
    adj: list[Any] = [None] * len(g.steps)
    for p, v in seeds:
        adj[p] = v if adj[p] is None else adj[p] + v
    events = []
    for pos in range(len(g.steps) - 1, -1, -1):
        s = g.steps[pos]
        if s.is_input or adj[pos] is None:
            continue
        for a, target, c in local_vjp(g, s, adj[pos]):
            acc = adj[target] is not None
            adj[target] = c if not acc else adj[target] + c
            events.append(Contribution(pos, a, target, adj[target], acc))
    return adj, events
