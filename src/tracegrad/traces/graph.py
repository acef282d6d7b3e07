"""From a recorded tape to the steps of a trace table: pruning, folding, ordering.

:func:`build_graph` keeps the tape entries that contribute to an output, optionally folds
chains of affine scalar steps into one step (seed 000's ``v_1 = v_{-2} + v_{-1} + 1.5 ·
v_0``), orders the steps by depth in the graph (the slides' numbering) or as recorded,
and names them. Each stage is one function below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tracegrad.core.reverse import Tape
from tracegrad.traces.notation import var_name
from tracegrad.traces.registry import affine_rule
from tracegrad.traces.steps import Recording, TraceStep

__all__ = ["Graph", "build_graph", "external_operands"]


@dataclass
class Graph:
    """The steps of a trace and how they map onto the tape.

    ``steps``: inputs, then operations in execution order. ``pos``: tape position of a
    value -> its step's position in ``steps``. ``members``: a step's root tape position
    -> the tape positions it covers (one, or several when folded). ``out_tape``: each
    output's tape position (``None`` for a constant output).
    """

    tape: Tape
    steps: list[TraceStep]
    pos: dict[int, int]
    members: dict[int, set[int]]
    out_tape: list[int | None]

    def out_positions(self) -> list[int | None]:
        """Each output's step position (``None`` for a constant output)."""
        return [None if t is None else self.pos[t] for t in self.out_tape]


def build_graph(rec: Recording, fold: bool, order: str) -> Graph:
    """The steps of ``rec``: see the module docstring. ``order`` is ``"levels"`` or
    ``"recorded"``."""
    tape, n = rec.tape, rec.n_inputs
    live, uses = _live_and_uses(tape, n, rec.indices)
    consumer = _fold_consumers(tape, n, live, uses, rec.indices) if fold else {}
    root_of = _roots(tape, n, live, consumer)
    members: dict[int, list[int]] = {}
    for t, r in root_of.items():
        members.setdefault(r, []).append(t)
    roots = _ordered_roots(tape, n, members, order)
    pos = {i: i for i in range(n)}  # tape position of a value -> position in steps
    for k, r in enumerate(roots):
        pos[r] = n + k
    steps = _input_steps(tape, rec.input_names)
    steps += _operation_steps(tape, roots, members, pos, steps, rec)
    return Graph(tape, steps, pos, {r: set(m) for r, m in members.items()}, rec.indices)


def _live_and_uses(
    tape: Tape, n: int, out_tape: Sequence[int | None]
) -> tuple[list[bool], list[int]]:
    """Which tape entries an output depends on, and how many live steps read each."""
    live = [False] * len(tape)
    for t in out_tape:
        if t is not None:
            live[t] = True
    uses = [0] * len(tape)
    for t in range(len(tape) - 1, n - 1, -1):
        if live[t]:
            for _, p in tape.step(t).parents:
                live[p] = True
                uses[p] += 1
    return live, uses


def _fold_consumers(
    tape: Tape, n: int, live: list[bool], uses: list[int], out_tape: Sequence[int | None]
) -> dict[int, int]:
    """An affine scalar step used once, by another affine scalar step, and not an output
    itself, joins its consumer's step: ``{step: consumer}``."""
    outputs = {t for t in out_tape if t is not None}
    consumer: dict[int, int] = {}
    for t in range(n, len(tape)):
        if not (live[t] and is_affine(tape, t)):
            continue
        for _, p in tape.step(t).parents:
            if p >= n and uses[p] == 1 and p not in outputs and is_affine(tape, p):
                consumer[p] = t
    return consumer


def _roots(tape: Tape, n: int, live: list[bool], consumer: dict[int, int]) -> dict[int, int]:
    """Each live operation's root: the last step of the folded chain it belongs to."""
    root_of: dict[int, int] = {}
    for t in range(len(tape) - 1, n - 1, -1):
        if live[t]:
            root_of[t] = root_of[consumer[t]] if t in consumer else t
    return root_of


def _ordered_roots(tape: Tape, n: int, members: dict[int, list[int]], order: str) -> list[int]:
    """The steps' roots by depth in the graph (``"levels"``: the slides' numbering, all
    operations on the inputs first) or as recorded; both are valid execution orders."""
    roots = sorted(members)
    if order == "levels":
        depth = {i: 0 for i in range(n)}
        for r in roots:  # in recorded order, so an operand's depth is known (a root)
            ext = external_operands(tape, r, members[r])
            depth[r] = 1 + max((depth[p] for p in ext), default=0)
        roots.sort(key=lambda r: (depth[r], r))
    return roots


def _input_steps(tape: Tape, names: list[str]) -> list[TraceStep]:
    n = len(names)
    return [
        TraceStep(i - n + 1, var_name(i - n + 1), "input", (), tape.step(i).out, names[i], (i,), i)
        for i in range(n)
    ]


def _operation_steps(
    tape: Tape,
    roots: list[int],
    members: dict[int, list[int]],
    pos: dict[int, int],
    inputs: list[TraceStep],
    rec: Recording,
) -> list[TraceStep]:
    out_labels: dict[int, list[str]] = {}
    for name, t in zip(rec.output_names, rec.indices):
        if t is not None:
            out_labels.setdefault(t, []).append(name)
    steps = list(inputs)
    for r in roots:
        group = tuple(sorted(members[r]))
        entry = tape.step(r)
        if len(group) == 1:
            refs = tuple((a, pos[p]) for a, p in entry.parents)
            traced = dict(entry.parents)
            operands = tuple(
                steps[pos[traced[j]]].name if j in traced else a for j, a in enumerate(entry.args)
            )
            op = entry.prim.name
        else:
            ext = external_operands(tape, r, group)
            refs = tuple((-1, pos[p]) for p in ext)
            operands = tuple(steps[pos[p]].name for p in ext)
            op = "affine"
        idx = len(steps) - len(inputs) + 1
        label = ", ".join(out_labels[r]) if r in out_labels else None
        steps.append(TraceStep(idx, var_name(idx), op, operands, entry.out, label, group, r, refs))
    return steps[len(inputs) :]


def is_affine(tape: Tape, t: int) -> bool:
    """Whether tape entry ``t`` is a scalar call, without keywords, of a primitive that is
    affine in its traced operands (its template says when: ``c · v`` is, ``v · w`` not)."""
    entry = tape.step(t)
    if entry.prim is None or entry.kwargs:
        return False
    affine = affine_rule(entry.prim)
    if affine is None:
        return False
    if np.ndim(entry.out) != 0 or any(np.ndim(a) != 0 for a in entry.args):
        return False
    return affine([a for a, _ in entry.parents])


def external_operands(tape: Tape, root: int, group: Sequence[int]) -> list[int]:
    """The values a (folded) step reads from outside, left to right as written."""
    gset = set(group)
    seen: list[int] = []

    def walk(t: int) -> None:
        for _, p in sorted(tape.step(t).parents):
            if p in gset:
                walk(p)
            elif p not in seen:
                seen.append(p)

    walk(root)
    return seen
