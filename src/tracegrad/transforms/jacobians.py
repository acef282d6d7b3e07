"""Jacobians and second order: ``jacfwd``, ``jacrev``, ``jacobian``, ``hessian``, ``hvp``.

``jacfwd`` pushes one tangent per input direction (cost O(n) forward passes),
``jacrev`` pulls one cotangent per output element back through a single recording
(O(m) backward sweeps): seed 000's remark on the cost of a Jacobian. The Jacobian of an
output of shape ``S_out`` with respect to an input of shape ``S_in`` has shape
``S_out + S_in``; for pytrees the result is the output structure holding, at each leaf,
the structure of the differentiated arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.core import tree
from tracegrad.core.forward import jvp_flat
from tracegrad.core.primitive import get_value
from tracegrad.core.reverse import backward, record
from tracegrad.numpy import reshape, stack
from tracegrad.transforms.differentiate import _argnums, _cast_like, _Partial, grad, jvp

__all__ = ["hessian", "hvp", "jacfwd", "jacobian", "jacrev"]


def _assemble(blocks: list[list[Any]], out_tree: tree.TreeDef, part: _Partial, single: bool) -> Any:
    """``blocks[o][k]`` is the Jacobian of output leaf ``o`` w.r.t. input leaf ``k``."""
    per_out = [part.rebuild(row, single) for row in blocks]
    return tree.unflatten(out_tree, per_out)


def _as_block(block: Any, leaf: Any) -> Any:
    """A scalar Jacobian (scalar output, scalar input) as a NumPy scalar when the input
    was a scalar, the way ``grad`` returns one (a 0-d array input gives a 0-d array)."""
    if np.shape(block) == () and isinstance(block, np.ndarray) and not isinstance(leaf, np.ndarray):
        return block[()]
    return block


def _basis(leaf: Any, k: int) -> np.ndarray:
    e = np.zeros(np.size(leaf), dtype=np.result_type(get_value(leaf)))
    e[k] = 1.0
    return e.reshape(np.shape(leaf))


def _jacfwd_at(part: _Partial, single: bool) -> Any:
    leaves = part.leaves
    holder: dict[str, Any] = {}

    def flat(*xs: Any) -> list[Any]:
        out_leaves, holder["tree"] = tree.flatten(part.call(xs))
        return out_leaves

    columns: list[list[list[Any]]] = []  # [input leaf][basis vector][output leaf]
    values = None
    for k, leaf in enumerate(leaves):
        cols = []
        for j in range(int(np.size(leaf))):
            ts = [
                _cast_like(_basis(x, j) if i == k else np.zeros(np.shape(x)), x)
                for i, x in enumerate(leaves)
            ]
            values, t_out, _ = jvp_flat(flat, leaves, ts)
            cols.append(t_out)
        columns.append(cols)
    if values is None:  # no input elements at all: one plain call for the output shapes
        values = flat(*leaves)
    blocks = []
    for o, v in enumerate(values):
        row = []
        for k, leaf in enumerate(leaves):
            shape = np.shape(v) + np.shape(leaf)
            if not columns[k]:
                row.append(np.zeros(shape, dtype=np.result_type(v)))
                continue
            block = reshape(stack([c[o] for c in columns[k]], axis=-1), shape)
            row.append(_as_block(block, leaf))
        blocks.append(row)
    return _assemble(blocks, holder["tree"], part, single)


def _record_at(part: _Partial) -> tuple[list[Any], list[int | None], Any, tree.TreeDef]:
    """One recorded pass of ``part``: output leaves, their tape indices, the trace and the
    output structure."""
    holder: dict[str, Any] = {}

    def flat(*xs: Any) -> list[Any]:
        out_leaves, holder["tree"] = tree.flatten(part.call(xs))
        return out_leaves

    values, indices, trace = record(flat, part.leaves)
    return values, indices, trace, holder["tree"]


def _jacrev_at(part: _Partial, single: bool, recorded: tuple | None = None) -> Any:
    """``recorded``: a :func:`_record_at` result to reuse instead of recording again."""
    leaves = part.leaves
    values, indices, trace, out_tree = recorded if recorded is not None else _record_at(part)
    blocks = []
    for v, idx in zip(values, indices):
        rows: list[list[Any]] = [[] for _ in leaves]
        n_out = int(np.size(v))
        for j in range(n_out):
            seed = _basis(v, j)
            cts = backward(trace.tape, [] if idx is None else [(idx, seed)], len(leaves))
            for k, (c, x) in enumerate(zip(cts, leaves)):
                rows[k].append(_cast_like(c, x))
        block_row = []
        for k, x in enumerate(leaves):
            shape = np.shape(v) + np.shape(x)
            if n_out == 0:
                block_row.append(np.zeros(shape, dtype=np.result_type(v)))
            else:
                block = reshape(stack(rows[k], axis=0), shape)
                block_row.append(_as_block(block, x))
        blocks.append(block_row)
    return _assemble(blocks, out_tree, part, single)


def jacfwd(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The Jacobian of ``f`` by forward mode: one JVP per input element."""

    def jac(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacfwd")
        return _jacfwd_at(_Partial(f, args, kwargs, nums, "jacfwd"), isinstance(argnums, int))

    return jac


def jacrev(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The Jacobian of ``f`` by reverse mode: one recording, one VJP per output element."""

    def jac(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacrev")
        return _jacrev_at(_Partial(f, args, kwargs, nums, "jacrev"), isinstance(argnums, int))

    return jac


def jacobian(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, mode: str = "auto"
) -> Callable[..., Any]:
    """The Jacobian of ``f``; ``mode`` is ``"fwd"``, ``"rev"`` or ``"auto"`` (forward
    when there are no more inputs than outputs, reverse otherwise)."""
    if mode not in ("auto", "fwd", "rev", "forward", "reverse"):
        raise ValueError(f"jacobian: mode must be 'auto', 'fwd' or 'rev', got {mode!r}")

    def jac(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacobian")
        part = _Partial(f, args, kwargs, nums, "jacobian")
        single = isinstance(argnums, int)
        if mode in ("fwd", "forward"):
            return _jacfwd_at(part, single)
        if mode in ("rev", "reverse"):
            return _jacrev_at(part, single)
        # auto: the output size is only known after a call, so make that call the
        # recording reverse mode needs; it is reused when reverse mode is chosen, and
        # only wasted when forward mode wins
        recorded = _record_at(part)
        n_in = sum(int(np.size(x)) for x in part.leaves)
        n_out = sum(int(np.size(v)) for v in recorded[0])
        if n_in <= n_out:
            del recorded  # release the tape before the forward passes
            return _jacfwd_at(part, single)
        return _jacrev_at(part, single, recorded)

    return jac


def hessian(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The Hessian of a scalar ``f``: forward over reverse, ``jacfwd(jacrev(f))``.

    Shape ``in.shape + in.shape`` for one array argument.
    """
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    """Hessian-vector product ``∇²f(primals) · tangents`` without forming the Hessian
    (forward over reverse: a JVP of the gradient).

    Returns an array for one primal, a tuple for several.
    """
    nums = tuple(range(len(primals)))
    g = grad(f, argnums=nums[0] if len(nums) == 1 else nums)
    return jvp(g, tuple(primals), tuple(tangents))[1]
