"""``vmap``: a function of one example mapped over a batch, in one batched pass.

The batching trace of :mod:`tracegrad.core.batching` (what ``jacfwd`` and ``jacrev``
push their basis vectors through) run on the arguments: each primitive runs once on the
stacked values, through its batch rule (or a loop over the examples, for a primitive
without one). A function that reads a batched value as a plain array (a derivative
rule's mask, ``x.item()``, a comparison operator) would see the whole stack: ``vmap``
then runs it once per example instead and stacks the results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.core import tree
from tracegrad.core.batching import BatchedRead, batch_flat
from tracegrad.core.primitive import shape_of
from tracegrad.numpy import moveaxis, stack

__all__ = ["vmap"]


def _axes_per_leaf(spec: Any, value: Any, where: str, name: str) -> list[tuple[Any, str]]:
    """``(axis, path)`` for each leaf of ``value``, ``spec`` being a pytree prefix of it
    whose leaves are ints or ``None`` (an int or ``None`` covers a whole subtree)."""
    if spec is None or isinstance(spec, (int, np.integer)):
        return [(spec, w) for w in _paths(value, where)]
    if isinstance(spec, (tuple, list)):
        if not isinstance(value, (tuple, list)) or len(value) != len(spec):
            raise ValueError(
                f"vmap: {name} {spec!r} is not a prefix of {where}: it has "
                f"{len(spec)} entries where {where} is {_describe(value)}"
            )
        out = []
        for i, (s, v) in enumerate(zip(spec, value)):
            out += _axes_per_leaf(s, v, f"{where}[{i}]", name)
        return out
    if isinstance(spec, dict):
        if not isinstance(value, dict) or set(value) != set(spec):
            raise ValueError(
                f"vmap: {name} {spec!r} is not a prefix of {where}: its keys "
                f"{sorted(map(repr, spec))} do not match {_describe(value)}"
            )
        out = []
        for k in _keys(value):
            out += _axes_per_leaf(spec[k], value[k], f"{where}[{k!r}]", name)
        return out
    raise TypeError(
        f"vmap: {name} must be an int, None, or a tuple/list/dict of them matching the "
        f"structure; got {spec!r} for {where}"
    )


def _keys(d: dict) -> list[Any]:
    """A dict's keys in the order its leaves flatten: sorted, an OrderedDict's own."""
    return sorted(d) if type(d) is dict else list(d)


def _paths(value: Any, where: str) -> list[str]:
    """A name for each leaf of ``value`` (for messages): ``argument 1['b'][0]``..."""
    if isinstance(value, (tuple, list)):
        return [p for i, v in enumerate(value) for p in _paths(v, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [p for k in _keys(value) for p in _paths(value[k], f"{where}[{k!r}]")]
    leaves = tree.leaves(value)
    if len(leaves) == 1 and leaves[0] is value:
        return [where]
    return [f"{where}<leaf {i}>" for i in range(len(leaves))]


def _describe(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(repr, value))}"
    return f"a leaf of shape {shape_of(value)}"


def _normalize(axis: Any, ndim: int, where: str, name: str) -> int:
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"vmap: {name} {axis} is out of range for {where} of rank {ndim}")
    return axis % ndim


def vmap(
    f: Callable[..., Any],
    in_axes: int | None | Sequence[Any] = 0,
    out_axes: int | None | Sequence[Any] = 0,
) -> Callable[..., Any]:
    """A function that maps ``f`` over an axis of its arguments, in one batched pass.

    ``vmap(f)(xs)`` equals ``stack([f(x) for x in xs])`` but runs each operation once
    on the whole batch. It composes with the other transforms in any order
    (``vmap(grad(f))`` gives per-example gradients, ``jit(vmap(f))``, ``grad`` of a
    ``vmap``...). A primitive without a batch rule runs once per example. A function
    that reads a batched value as a plain value (``x.item()``, a rule's mask such as
    relu's or abs's, a comparison operator on it: ``tnp.where(x > 0, ...)``, a function
    without a derivative: ``tnp.sign``, ``argmax``, also under a ``grad`` inside
    ``vmap``) is run once per example as a whole, and the results stacked.

    Args:
        f: the function to map; its arguments and output are arrays, scalars or
            pytrees of them.
        in_axes: the batch axis of each argument: an int (every argument, every
            leaf), ``None`` (not batched: passed as it is to every example), or a
            tuple with one entry per positional argument, each an int, ``None`` or a
            pytree prefix of that argument (a dict of axes for a dict argument...).
        out_axes: where the batch axis goes in each output leaf: an int, or a pytree
            prefix of the output; ``None`` for an output that does not depend on the
            batch (returned once, without a batch axis).

    Returns:
        A function with ``f``'s positional arguments, batched as ``in_axes`` says,
        returning ``f``'s output structure with the batch axis at ``out_axes``.

    Raises:
        ValueError: batched arguments of different sizes along their batch axes (the
            message names each argument and size), no batched argument, an axis out
            of range, an ``in_axes``/``out_axes`` structure that does not match, or an
            output with ``out_axes=None`` that depends on the batch.

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> xs = tnp.array([[1.0, 2.0], [3.0, 4.0]])
        >>> tg.vmap(lambda x, w: tnp.dot(w, x), in_axes=(0, None))(xs, xs[0]).tolist()
        [5.0, 11.0]
        >>> tg.vmap(tg.grad(lambda x: tnp.sum(x ** 3)))(xs).tolist()
        [[3.0, 12.0], [27.0, 48.0]]
    """

    def batched(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(
                "vmap: pass the arguments positionally (in_axes numbers the positional "
                f"arguments); got the keyword argument(s) {sorted(kwargs)}"
            )
        if isinstance(in_axes, (tuple, list)):
            if len(in_axes) != len(args):
                raise ValueError(
                    f"vmap: in_axes has {len(in_axes)} entries but the function was called "
                    f"with {len(args)} positional arguments"
                )
            specs = tuple(in_axes)
        else:
            specs = (in_axes,) * len(args)
        where = [f"argument {i}" for i in range(len(args))]
        axes: list[tuple[Any, str]] = []
        for s, a, w in zip(specs, args, where):
            axes += _axes_per_leaf(s, a, w, "in_axes")
        leaves, in_tree = tree.flatten(args)
        sizes = []
        moved = []
        for leaf, (axis, w) in zip(leaves, axes):
            if axis is None:
                moved.append(leaf)
                continue
            shape = shape_of(leaf)
            if not shape:
                raise ValueError(f"vmap: {w} is a scalar, it has no axis {axis} to map over")
            axis = _normalize(axis, len(shape), w, "in_axes")
            sizes.append((w, shape[axis]))
            moved.append(leaf if axis == 0 else moveaxis(leaf, axis, 0))
        if not sizes:
            raise ValueError("vmap: no argument is batched (in_axes is None for all of them)")
        if len({n for _, n in sizes}) > 1:
            listed = ", ".join(f"{w} has size {n}" for w, n in sizes)
            raise ValueError(f"vmap: the batched arguments have different sizes: {listed}")
        size = sizes[0][1]
        flags = [a is not None for a, _ in axes]
        holder: dict[str, Any] = {}

        def flat(*ls: Any) -> list[Any]:
            out_leaves, holder["tree"] = tree.flatten(f(*tree.unflatten(in_tree, list(ls))))
            return out_leaves

        out_batched: list[bool] = []
        try:
            outs = batch_flat(flat, moved, flags, size, strict=True, out_batched=out_batched)
        except BatchedRead:
            outs, out_batched = _loop(flat, moved, flags, size)
        out_tree = holder["tree"]
        out_spec = _axes_per_leaf(
            out_axes, tree.unflatten(out_tree, outs), "the output", "out_axes"
        )
        result = []
        for o, hit, (axis, w) in zip(outs, out_batched, out_spec):
            if axis is None:
                if hit:
                    raise ValueError(f"vmap: out_axes is None for {w}, but it depends on the batch")
                result.append(o[0])
                continue
            axis = _normalize(axis, len(shape_of(o)), w, "out_axes")
            result.append(o if axis == 0 else moveaxis(o, 0, axis))
        return tree.unflatten(out_tree, result)

    return batched


def _loop(
    flat: Callable[..., list[Any]], moved: list[Any], flags: list[bool], size: int
) -> tuple[list[Any], list[bool]]:
    """The batch one example at a time, for a function that reads batched values. Every
    output counts as batched (the loop cannot tell), except for ``out_axes=None``."""
    per_example = [flat(*[v[b] if bt else v for v, bt in zip(moved, flags)]) for b in range(size)]
    outs = [stack(list(col)) for col in zip(*per_example)]
    return outs, [False] * len(outs)
