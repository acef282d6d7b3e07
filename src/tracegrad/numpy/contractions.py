"""Products and contractions: matmul, dot, tensordot, einsum, outer, inner, trace."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from tracegrad.core.backend import asarray_like
from tracegrad.core.batching import expand_to_rank, logical_shape
from tracegrad.core.primitive import Primitive, binary_function, shape_of
from tracegrad.core.shapes import broadcast_to, reshape, static_int, sum
from tracegrad.numpy.shape import matrix_transpose, ravel, transpose

__all__ = ["dot", "einsum", "inner", "matmul", "outer", "tensordot", "trace", "vdot"]


def _matmul_vjp_a(g: Any, out: Any, a: Any, b: Any) -> Any:
    if np.ndim(b) == 1:
        return g * b if np.ndim(a) == 1 else reshape(g, np.shape(g) + (1,)) * b
    if np.ndim(a) == 1:
        return matmul(b, reshape(g, np.shape(g) + (1,)))[..., 0]
    return matmul(g, matrix_transpose(b))


def _matmul_vjp_b(g: Any, out: Any, a: Any, b: Any) -> Any:
    if np.ndim(a) == 1:
        if np.ndim(b) == 1:
            return g * a
        gs = np.shape(g)
        return reshape(a, (-1, 1)) * reshape(g, gs[:-1] + (1, gs[-1]))
    if np.ndim(b) == 1:
        return matmul(matrix_transpose(a), reshape(g, np.shape(g) + (1,)))[..., 0]
    return matmul(matrix_transpose(a), g)


def _matmul_batch(size: int, batched: Sequence[bool], a: Any, b: Any) -> Any:
    """Vectors become 1×n / n×1 matrices, so that matmul's own broadcasting over leading
    axes carries the batch; the added axes are dropped again at the end."""
    ba, bb = batched
    la, lb = logical_shape(a, ba), logical_shape(b, bb)
    a_vec, b_vec = len(la) == 1, len(lb) == 1
    if a_vec:
        a = reshape(a, shape_of(a)[:-1] + (1, la[0]))
    if b_vec:
        b = reshape(b, shape_of(b) + (1,))
    if ba != bb and len(shape_of(b if ba else a)) == 2:  # a batch against one matrix
        out = _batch_by_matrix(a, b, ba)
    else:
        rank = max(len(la), len(lb), 2)
        out = _matmul(expand_to_rank(a, ba, rank), expand_to_rank(b, bb, rank))
    if a_vec and b_vec:
        return out[..., 0, 0]
    if a_vec:
        return out[..., 0, :]
    return out[..., 0] if b_vec else out


def _batch_by_matrix(a: Any, b: Any, a_batched: bool) -> Any:
    """``a @ b`` where one operand is a batch of matrices (batch on axis 0) and the other
    one matrix, as one matrix product: the batch's leading axes become rows. (NumPy's
    matmul would loop over them, one small product each: for the batched vectors of
    jacrev's cotangents and jacfwd's tangents, three times the cost.) A batch on the
    right is multiplied from the left through the transposes, ``(bᵀ aᵀ)ᵀ``."""
    if a_batched:  # (B, …, m, k) @ (k, p)
        s = shape_of(a)
        return reshape(_matmul(reshape(a, (-1, s[-1])), b), s[:-1] + (shape_of(b)[-1],))
    bt = matrix_transpose(b)  # (B, …, p, k): a view; a vector's needs no copy to fold
    s = shape_of(bt)
    out = _matmul(reshape(bt, (-1, s[-1])), matrix_transpose(a))
    return matrix_transpose(reshape(out, s[:-1] + (shape_of(a)[0],)))


_matmul = Primitive(np.matmul, "matmul")
_matmul.defvjp(_matmul_vjp_a, _matmul_vjp_b)
_matmul.defjvp(lambda t, out, a, b: matmul(t, b), lambda t, out, a, b: matmul(a, t))
_matmul.defbatch(_matmul_batch).saving("args")
matmul = binary_function(_matmul, np.matmul)


def tensordot(a: Any, b: Any, axes: int | Sequence[Any] = 2) -> Any:
    """Sum products over the given axes, as ``numpy.tensordot`` (built on matmul)."""
    na, nb = np.ndim(a), np.ndim(b)
    axes = static_int(axes)
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(na - axes, na)), list(range(int(axes)))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, (int, np.integer)) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, (int, np.integer)) else list(axes_b)
    axes_a = [x % na for x in axes_a]
    axes_b = [x % nb for x in axes_b]
    sa, sb = np.shape(a), np.shape(b)
    for i, j in zip(axes_a, axes_b):
        if sa[i] != sb[j]:
            raise ValueError(
                f"tensordot: shape mismatch for sum: a{sa} axis {i} has {sa[i]}, "
                f"b{sb} axis {j} has {sb[j]}"
            )
    free_a = [i for i in range(na) if i not in axes_a]
    free_b = [j for j in range(nb) if j not in axes_b]
    k = int(np.prod([sa[i] for i in axes_a], dtype=np.int64))
    a2 = reshape(transpose(a, free_a + axes_a), (-1, k))
    b2 = reshape(transpose(b, axes_b + free_b), (k, -1))
    return reshape(matmul(a2, b2), tuple(sa[i] for i in free_a) + tuple(sb[j] for j in free_b))


def dot(a: Any, b: Any) -> Any:
    """``numpy.dot``: product for scalars, matmul up to 2-D, a tensordot beyond."""
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return a * b
    if na <= 2 and nb <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=([na - 1], [nb - 2 if nb >= 2 else 0]))


def inner(a: Any, b: Any) -> Any:
    """Sum product over the last axes."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return a * b
    return tensordot(a, b, axes=([-1], [-1]))


def vdot(a: Any, b: Any) -> Any:
    """Dot product of the flattened arrays."""
    return matmul(ravel(a), ravel(b))


def outer(a: Any, b: Any) -> Any:
    """Outer product of the flattened inputs, shape ``(a.size, b.size)``."""
    return reshape(ravel(a), (-1, 1)) * reshape(ravel(b), (1, -1))


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """Sum along a diagonal."""
    shape = np.shape(x)
    mask = asarray_like(np.eye(shape[axis1], shape[axis2], k=offset, dtype=bool), x)
    moved = transpose(
        x,
        [a for a in range(len(shape)) if a not in (axis1 % len(shape), axis2 % len(shape))]
        + [axis1 % len(shape), axis2 % len(shape)],
    )
    return sum(moved * mask, axis=(-2, -1))


# --- einsum -------------------------------------------------------------------------


def _parse_einsum(subscripts: str, shapes: Sequence[tuple[int, ...]]) -> tuple[list[str], str]:
    """Explicit per-operand subscripts and output subscripts, ellipses spelled out."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        lhs, rhs = subscripts.split("->")
    else:
        lhs, rhs = subscripts, None
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: {len(ins)} operand subscripts for {len(shapes)} operands")
    used = set(subscripts) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    n_ell = max((len(s) - (len(sub) - 3) for sub, s in zip(ins, shapes) if "..." in sub), default=0)
    ell = "".join(spare[:n_ell])
    full = []
    for sub, s in zip(ins, shapes):
        if "..." in sub:
            k = len(s) - (len(sub) - 3)
            sub = sub.replace("...", ell[n_ell - k :])
        full.append(sub)
    if rhs is None:
        counts: dict[str, int] = {}
        for sub in full:
            for c in sub:
                counts[c] = counts.get(c, 0) + 1
        rhs = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    else:
        rhs = rhs.replace("...", ell)
    return full, rhs


def _einsum_impl(subscripts: str, *operands: Any) -> Any:
    return np.einsum(subscripts, *operands)


def _einsum_vjp(argnum: int, g: Any, out: Any, subscripts: str, *ops: Any) -> Any:
    """Cotangent of operand ``argnum - 1``: the einsum of ``g`` with the other operands.

    The contraction yields one axis per distinct letter of the operand that survives
    (appears in the output or another operand). Letters summed inside this operand
    alone come back by broadcasting; a repeated letter (``'ii'``: a diagonal) puts the
    cotangent on that diagonal and zero elsewhere.
    """
    i = argnum - 1
    ins, rhs = _parse_einsum(subscripts, [np.shape(o) for o in ops])
    target = ins[i]
    shape = np.shape(ops[i])
    others = [(s, o) for j, (s, o) in enumerate(zip(ins, ops)) if j != i]
    present = set(rhs).union(*[set(s) for s, _ in others])
    # distinct surviving letters, in order of first appearance in the operand
    kept = "".join(c for k, c in enumerate(target) if c in present and target.index(c) == k)
    spec = ",".join([rhs] + [s for s, _ in others]) + "->" + kept
    ct = einsum(spec, g, *[o for _, o in others])
    if kept == target:
        return ct
    # each kept letter sits on the axis of its first appearance; other axes have size 1
    first = [target.index(c) == k and c in present for k, c in enumerate(target)]
    ct = reshape(ct, tuple(n if f else 1 for n, f in zip(shape, first)))
    ct = broadcast_to(ct, shape)
    if len(set(target)) != len(target):
        ct = ct * _diagonal_mask(target, shape)
    return ct


def _diagonal_mask(target: str, shape: tuple[int, ...]) -> np.ndarray:
    """True where all axes that share a letter have equal indices (``'iij'``: i0 == i1)."""
    grids = np.indices(shape, sparse=True)
    mask = np.ones(shape, dtype=bool)
    for k, c in enumerate(target):
        k0 = target.index(c)
        if k0 != k:
            mask = mask & (grids[k0] == grids[k])
    return mask


def _einsum_jvp(argnum: int, t: Any, out: Any, subscripts: str, *ops: Any) -> Any:
    ops = list(ops)
    ops[argnum - 1] = t
    return einsum(subscripts, *ops)


def _einsum_batch(size: int, batched: Sequence[bool], subscripts: str, *ops: Any) -> Any:
    """One more subscript letter for the batch, on the batched operands and the output."""
    flags = batched[1:]  # batched[0] belongs to the subscripts string
    ins, rhs = _parse_einsum(subscripts, [logical_shape(o, b) for o, b in zip(ops, flags)])
    used = set("".join(ins) + rhs)
    z = next(c for c in string.ascii_letters if c not in used)
    ins = [z + sub if b else sub for sub, b in zip(ins, flags)]
    return _einsum(",".join(ins) + "->" + z + rhs, *ops)


_einsum = Primitive(_einsum_impl, "einsum")
_einsum.defvjp_argnum(_einsum_vjp).defjvp_argnum(_einsum_jvp)
_einsum.defbatch(_einsum_batch).saving("args")


def einsum(*operands: Any, optimize: Any = False) -> Any:
    """Einstein summation, ``numpy.einsum``: ``einsum("ij,jk->ik", a, b)``, or in the
    sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` (an Ellipsis in a sublist
    stands for ``...``). ``optimize`` is accepted and ignored (the contraction order
    does not change the derivative)."""
    if not operands:
        raise TypeError("einsum: give the subscripts and the operands")
    if isinstance(operands[0], str):
        return _einsum(operands[0], *operands[1:])
    return _einsum(*_sublist_form(operands))


def _sublist_form(args: Sequence[Any]) -> tuple:
    """``(subscripts, *operands)`` for einsum's sublist form ``op, sub, op, sub, [out]``."""
    out = args[-1] if len(args) % 2 == 1 else None
    pairs = args[: len(args) - len(args) % 2]
    ops, subs = list(pairs[0::2]), list(pairs[1::2])

    def letters(sub: Sequence[Any]) -> str:
        chars = []
        for k in sub:
            if k is Ellipsis:
                chars.append("...")
            elif isinstance(k, (int, np.integer)) and 0 <= k < len(string.ascii_letters):
                chars.append(string.ascii_letters[k])
            else:
                raise ValueError(f"einsum: subscript {k!r} is not an int in [0, 52) or ...")
        return "".join(chars)

    spec = ",".join(letters(s) for s in subs)
    if out is not None:
        spec += "->" + letters(out)
    return (spec, *ops)
