"""Recording one evaluation on a tape, and naming its inputs, outputs and steps.

The record is the reverse-mode tape (:func:`tracegrad.core.reverse.record`) kept with
every value. Names follow the lecture notes: the ``n`` inputs are ``v_{1-n} … v_0``,
the operations ``v_1 … v_m``, the output ``y`` (or ``y_1, y_2, …``); the inputs'
own names come from ``f``'s parameters unless given.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from tracegrad.core import tree
from tracegrad.core.reverse import Tape, record

__all__ = ["Recording", "TraceStep", "record_evaluation"]


@dataclass(frozen=True)
class TraceStep:
    """One value of the Wengert list.

    ``index`` is its number in the seeds' convention (``-1`` for ``v_{-1}``), ``name``
    that name in LaTeX form, ``op`` the primitive's name (``"input"`` for inputs,
    ``"affine"`` for folded linear steps), ``operands`` the names of the values it reads
    or the constants it uses, ``value`` the exact value, ``label`` the input's name or,
    for an output, the output's name(s).
    """

    index: int
    name: str
    op: str
    operands: tuple[Any, ...]
    value: Any
    label: str | None = None
    # Internals: the tape positions this step covers (several when folded), its output
    # position, and its traced operands as (argnum or -1, step position).
    _tape: tuple[int, ...] = field(default=(), repr=False, compare=False)
    _root: int = field(default=-1, repr=False, compare=False)
    _refs: tuple[tuple[int, int], ...] = field(default=(), repr=False, compare=False)

    @property
    def is_input(self) -> bool:
        return self.op == "input"


class Recording(NamedTuple):
    """One evaluation on a tape: ``n_inputs`` input steps first, then the operations;
    ``indices[k]`` is the tape position of output ``k`` (``None``: a constant output,
    whose value is ``values[k]``)."""

    tape: Tape
    n_inputs: int
    input_names: list[str]
    output_names: list[str]
    values: list[Any]
    indices: list[int | None]


def record_evaluation(
    f: Callable[..., Any],
    args: Sequence[Any],
    names: Sequence[str] | None,
    output_names: Sequence[str] | str | None,
) -> Recording:
    """Run ``f(*args)`` once on a tape that keeps every value, and name its inputs and
    outputs (see :func:`tracegrad.trace` for the arguments)."""
    leaves, treedefs = [], []
    params = _param_names(f, len(args)) if names is None else None
    if names is not None and len(names) != len(args):
        raise ValueError(f"names: {len(names)} names for {len(args)} arguments")
    generic: list[list[str]] = []  # per argument: its name, or p[0], p[1], … per leaf
    notes: list[list[str] | None] = []  # per argument: a model's W_1, b_1, … (or None)
    for k, a in enumerate(args):
        ls, td = tree.flatten(a)
        base = names[k] if names is not None else params[k]
        treedefs.append(td)
        if td.num_leaves == 1 and not td.children:  # a plain array or number
            generic.append([base])
            notes.append(None)
        else:
            generic.append([f"{base}[{i}]" for i in range(len(ls))])
            notes.append(_parameter_names(a, len(ls)))
        leaves.extend(_as_float(x) for x in ls)
    labels = [x for g, n in zip(generic, notes) for x in (n or g)]
    if len(set(labels)) != len(labels):  # e.g. two models, both with a W_1
        labels = [x for g in generic for x in g]
    if len(set(labels)) != len(labels):
        raise ValueError(f"input names must differ: {labels}")

    multi = []

    def flat(*boxes: Any) -> list[Any]:
        it = iter(boxes)
        rebuilt = [tree.unflatten(td, [next(it) for _ in range(td.num_leaves)]) for td in treedefs]
        out = f(*rebuilt)
        if isinstance(out, (tuple, list)):
            multi.append(True)
            return list(out)
        return [out]

    values, indices, rec = record(flat, leaves, keep_values=True)
    out_names = _output_names(output_names, labels, len(values), bool(multi))
    return Recording(rec.tape, len(leaves), labels, out_names, values, indices)


#: how the notes write a layer's parameters: ``W_1``, ``b_1`` (other parameters keep
#: their attribute's name: BatchNorm's ``gamma_1``, ``beta_1``)
_SYMBOLS = {"weight": "W", "bias": "b"}


def _parameter_names(arg: Any, n: int) -> list[str] | None:
    """A ``tg.nn`` model's ``n`` leaves named as the notes do: ``W_l`` and ``b_l`` for the
    ``l``-th layer with a weight; ``None`` for another pytree (named ``p[0], p[1], …``)."""
    from tracegrad.nn.module import Module

    if not isinstance(arg, Module):
        return None
    paths = list(arg.named_parameters())
    if len(paths) != n:  # leaves that are not parameters (buffers): keep the generic names
        return None
    layer_of: dict[str, int] = {}  # module path -> its number among the layers with a weight
    counts: dict[str, int] = {}
    names = []
    for path in paths:
        owner, _, attr = path.rpartition(".")
        symbol = _SYMBOLS.get(attr, attr)
        if attr in _SYMBOLS:
            if owner not in layer_of:
                layer_of[owner] = len(layer_of) + 1
            number = layer_of[owner]
        else:
            counts[symbol] = number = counts.get(symbol, 0) + 1
        names.append(f"{symbol}_{number}")
    return names


def _output_names(
    given: Sequence[str] | str | None, inputs: list[str], n: int, multi: bool
) -> list[str]:
    if isinstance(given, str):
        given = [given]
    if given is None:
        # The seeds call the output y; an input already called y makes it f (or out).
        base = next(b for b in ("y", "f", "out", "output") if b not in inputs)
        given = [base] if n == 1 and not multi else [f"{base}_{i + 1}" for i in range(n)]
    if len(given) != n:
        raise ValueError(f"output_names: {len(given)} names for {n} outputs")
    return list(given)


def _param_names(f: Callable[..., Any], n: int) -> list[str]:
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return [f"x{i + 1}" for i in range(n)]
    out: list[str] = []
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and len(out) < n:
            out.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            break
    while len(out) < n:
        out.append(f"x{len(out) + 1}")
    return out


def _as_float(x: Any) -> Any:
    a = np.asarray(x)
    if a.dtype.kind in "biu":
        a = a.astype(float)
    return a[()] if a.ndim == 0 else a
