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
from tracegrad.core.backend import eye_like, zeros
from tracegrad.core.batching import batch_flat
from tracegrad.core.forward import jvp_flat
from tracegrad.core.primitive import dtype_of
from tracegrad.core.reverse import backward, record
from tracegrad.numpy import astype, moveaxis, reshape
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


def _basis(leaf: Any) -> np.ndarray:
    """Every unit vector of ``leaf``'s shape, stacked on axis 0: shape ``(n,) + shape``."""
    n = int(np.size(leaf))
    return eye_like(n, dtype_of(leaf), leaf).reshape((n,) + np.shape(leaf))


def _block(stacked: Any, out_shape: tuple, leaf: Any, batch_last: bool) -> Any:
    """A Jacobian block of shape ``out_shape + leaf.shape`` from a batch of tangents
    (batch first, one per input direction: moved last) or cotangents (batch first, one
    per output element: already in place), cast to the input's dtype."""
    if batch_last:
        stacked = moveaxis(stacked, 0, -1)
    block = reshape(stacked, out_shape + np.shape(leaf))
    dt = dtype_of(leaf)
    if dtype_of(block) != dt:
        block = astype(block, dt)
    return _as_block(block, leaf)


def _jacfwd_at(part: _Partial, single: bool) -> Any:
    """All input directions of one input leaf in one batched forward pass."""
    leaves = part.leaves
    flat = part.flat()
    values = None
    columns: list[list[Any] | None] = []  # [input leaf][output leaf]: batched tangents
    for k, leaf in enumerate(leaves):
        n = int(np.size(leaf))
        if n == 0:
            columns.append(None)
            continue

        def push(t: Any, k: int = k) -> list[Any]:
            nonlocal values
            ts = [t if i == k else _cast_like(None, x) for i, x in enumerate(leaves)]
            values, t_out, _ = jvp_flat(flat, leaves, ts)
            return t_out

        columns.append(batch_flat(push, [_basis(leaf)], [True], n))
    if values is None:  # no input elements at all: one plain call for the shapes
        values = flat(*leaves)
    blocks = []
    for o, v in enumerate(values):
        row = []
        for leaf, cols in zip(leaves, columns):
            if cols is None:
                shape = np.shape(v) + np.shape(leaf)
                row.append(zeros(shape, dtype_of(v), like=v))
            else:
                row.append(_block(cols[o], np.shape(v), leaf, batch_last=True))
        blocks.append(row)
    return _assemble(blocks, part.out_tree, part, single)


def _record_at(part: _Partial) -> tuple[list[Any], list[int | None], Any, tree.TreeDef]:
    """One recorded pass of ``part``: output leaves, their tape indices, the trace and the
    output structure."""
    values, indices, trace = record(part.flat(), part.leaves)
    return values, indices, trace, part.out_tree


def _jacrev_at(part: _Partial, single: bool, recorded: tuple | None = None) -> Any:
    """All elements of one output leaf pulled back in one batched backward sweep.

    ``recorded``: a :func:`_record_at` result to reuse instead of recording again.
    """
    leaves = part.leaves
    values, indices, trace, out_tree = recorded if recorded is not None else _record_at(part)
    blocks = []
    for v, idx in zip(values, indices):
        n_out = int(np.size(v))
        if n_out == 0 or idx is None:
            blocks.append([
                zeros(np.shape(v) + np.shape(x), dtype_of(x), like=x)
                for x in leaves
            ])  # fmt: skip
            continue

        def pull(ct: Any, idx: int = idx) -> list[Any]:
            cts = backward(trace.tape, [(idx, ct)], len(leaves))
            return [_cast_like(None, x) if c is None else c for c, x in zip(cts, leaves)]

        rows = batch_flat(pull, [_basis(v)], [True], n_out)
        blocks.append([_block(r, np.shape(v), x, batch_last=False) for r, x in zip(rows, leaves)])
    return _assemble(blocks, out_tree, part, single)


def jacfwd(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """A function that evaluates the Jacobian of ``f`` by forward mode: the JVPs of all
    input directions at once, one forward pass with a batch of tangents (the cost
    grows with the input size).

    Args:
        f: the function to differentiate; its arguments and output are arrays, scalars
            or pytrees of them.
        argnums: which positional argument(s) to differentiate with respect to: an
            int, or a tuple of ints.

    Returns:
        A function with ``f``'s signature that returns the Jacobian, of shape
        ``out.shape + in.shape`` for one array output and one array argument; for
        pytrees, the output's structure with the argument's structure in each leaf (a
        tuple over ``argnums`` when it is a tuple).

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> tg.jacfwd(lambda x: x ** 2)(tnp.array([1.0, 2.0])).tolist()
        [[2.0, 0.0], [0.0, 4.0]]
    """

    def jac(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacfwd")
        return _jacfwd_at(_Partial(f, args, kwargs, nums, "jacfwd"), isinstance(argnums, int))

    return jac


def jacrev(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """A function that evaluates the Jacobian of ``f`` by reverse mode: one recording,
    then the VJPs of all output elements at once, one backward sweep with a batch of
    cotangents (the cost grows with the output size).

    Args:
        f: the function to differentiate; its arguments and output are arrays, scalars
            or pytrees of them.
        argnums: which positional argument(s) to differentiate with respect to: an
            int, or a tuple of ints.

    Returns:
        A function with ``f``'s signature that returns the Jacobian, laid out as
        :func:`jacfwd`'s (``out.shape + in.shape``).

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> tg.jacrev(lambda x: tnp.sum(x) * x)(tnp.array([1.0, 2.0])).tolist()
        [[4.0, 1.0], [2.0, 5.0]]
    """

    def jac(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacrev")
        return _jacrev_at(_Partial(f, args, kwargs, nums, "jacrev"), isinstance(argnums, int))

    return jac


def jacobian(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, mode: str = "auto"
) -> Callable[..., Any]:
    """A function that evaluates the Jacobian of ``f``, in the mode given or chosen.

    Args:
        f: the function to differentiate; its arguments and output are arrays, scalars
            or pytrees of them.
        argnums: which positional argument(s) to differentiate with respect to: an
            int, or a tuple of ints.
        mode: ``"fwd"`` (:func:`jacfwd`), ``"rev"`` (:func:`jacrev`) or ``"auto"``:
            forward when there are no more input than output elements, reverse otherwise
            (the call that measures the output is the recording reverse mode reuses).

    Returns:
        A function with ``f``'s signature that returns the Jacobian, laid out as
        :func:`jacfwd`'s (``out.shape + in.shape``).

    Raises:
        ValueError: an unknown ``mode``.

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> tg.jacobian(lambda x: tnp.sin(x[:1]) * x[1])(tnp.array([0.0, 3.0])).tolist()
        [[3.0, 0.0]]
    """
    if mode not in ("auto", "fwd", "rev", "forward", "reverse"):
        raise ValueError(
            "jacobian: mode must be 'auto', 'fwd' (or 'forward') or 'rev' (or 'reverse'), "
            f"got {mode!r}"
        )

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
    """A function that evaluates the Hessian of a scalar ``f``: forward over reverse,
    ``jacfwd(jacrev(f))``.

    Args:
        f: a function returning a float scalar; its arguments are arrays, scalars or
            pytrees of them.
        argnums: which positional argument(s) to differentiate with respect to: an
            int, or a tuple of ints.

    Returns:
        A function with ``f``'s signature that returns the Hessian, of shape
        ``in.shape + in.shape`` for one array argument (nested tuples of blocks when
        ``argnums`` is a tuple).

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> tg.hessian(lambda x: tnp.sum(x ** 3))(tnp.array([1.0, 2.0])).tolist()
        [[6.0, 0.0], [0.0, 12.0]]
    """
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    """The Hessian-vector product ``∇²f(primals) · tangents`` without forming the
    Hessian (forward over reverse: the JVP of the gradient).

    Args:
        f: a function returning a float scalar.
        primals: a tuple (or list) of the arguments of ``f``: the point.
        tangents: a tuple (or list) with the structure and shapes of ``primals``: the
            vector.

    Returns:
        The product, with the structure of one primal (a tuple for several primals).

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> x, v = tnp.array([1.0, 2.0]), tnp.array([1.0, 0.0])
        >>> tg.hvp(lambda x: tnp.sum(x ** 3), (x,), (v,)).tolist()
        [6.0, 0.0]
    """
    nums = tuple(range(len(primals)))
    g = grad(f, argnums=nums[0] if len(nums) == 1 else nums)
    return jvp(g, tuple(primals), tuple(tangents))[1]
