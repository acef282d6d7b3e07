"""``tracegrad.numpy.linalg``: inv, det, slogdet, solve, norm.

Matrix functions work on stacks of matrices (the last two axes), as NumPy's do.
"""

from __future__ import annotations

import builtins
from typing import Any, NamedTuple

import numpy as np

from tracegrad.core.batching import expand_to_rank, logical_shape
from tracegrad.core.primitive import Primitive, get_value, shape_of
from tracegrad.core.shapes import reshape, sum
from tracegrad.numpy.contractions import matmul
from tracegrad.numpy.creation import traced_arraylike
from tracegrad.numpy.elementwise import abs, power, sqrt
from tracegrad.numpy.missing import missing_attribute
from tracegrad.numpy.reductions import max, min
from tracegrad.numpy.shape import matrix_transpose

__all__ = ["det", "inv", "norm", "slogdet", "solve", "LinAlgError"]

LinAlgError = np.linalg.LinAlgError

__getattr__ = missing_attribute("tracegrad.numpy.linalg", "numpy.linalg")


def _as_matrix_scale(g: Any) -> Any:
    """A per-matrix scalar ``(...,)`` reshaped to broadcast over matrices ``(..., 1, 1)``."""
    return reshape(g, np.shape(g) + (1, 1))


inv = Primitive(np.linalg.inv, "inv")
inv.defvjp(lambda g, out, x: -matmul(matrix_transpose(out), matmul(g, matrix_transpose(out))))
inv.defjvp(lambda t, out, x: -matmul(out, matmul(t, out)))
inv.saving("out")

det = Primitive(np.linalg.det, "det")
det.defvjp(lambda g, out, x: _as_matrix_scale(g * out) * matrix_transpose(inv(x)))
det.defjvp(lambda t, out, x: out * sum(matrix_transpose(inv(x)) * t, axis=(-2, -1)))


def _logabsdet_impl(x: Any) -> Any:
    return np.linalg.slogdet(x)[1]


_logabsdet = Primitive(_logabsdet_impl, "logabsdet")
_logabsdet.defvjp(lambda g, out, x: _as_matrix_scale(g) * matrix_transpose(inv(x)))
_logabsdet.defjvp(lambda t, out, x: sum(matrix_transpose(inv(x)) * t, axis=(-2, -1)))
_logabsdet.saving("args")


class SlogdetResult(NamedTuple):
    sign: Any
    logabsdet: Any


def slogdet(x: Any) -> SlogdetResult:
    """``(sign, log|det|)``; the sign is piecewise constant and carries no derivative."""
    return SlogdetResult(np.linalg.slogdet(get_value(x))[0], _logabsdet(x))


def _solve_vec(a: Any, v: Any) -> Any:
    """``solve(a, v)`` for a stack of vectors ``v`` ``(..., n)``, batched like ``a``.

    ``numpy.linalg.solve`` reads a right-hand side as vectors only when it is 1-D; the
    cotangents and tangents of a vector solve carry the batch axes of ``a``, so they are
    solved as columns ``(..., n, 1)``.
    """
    col = solve(a, reshape(v, np.shape(v) + (1,)))
    return reshape(col, np.shape(col)[:-1])


def _solve_vjp_a(g: Any, out: Any, a: Any, b: Any) -> Any:
    # a x = b  =>  a_bar = -(a^-T g) x^T
    if np.ndim(b) == 1:
        gb = _solve_vec(matrix_transpose(a), g)
        return -(reshape(gb, np.shape(gb) + (1,)) * reshape(out, np.shape(out)[:-1] + (1, -1)))
    return -matmul(solve(matrix_transpose(a), g), matrix_transpose(out))


def _solve_vjp_b(g: Any, out: Any, a: Any, b: Any) -> Any:
    return _solve_vec(matrix_transpose(a), g) if np.ndim(b) == 1 else solve(matrix_transpose(a), g)


def _solve_jvp_a(t: Any, out: Any, a: Any, b: Any) -> Any:
    # d(x) = -a^-1 (da) x
    if np.ndim(b) == 1:
        return -_solve_vec(a, matmul(t, reshape(out, np.shape(out) + (1,)))[..., 0])
    return -solve(a, matmul(t, out))


def _solve_batch(size: int, batched: Any, a: Any, b: Any) -> Any:
    """A vector right-hand side becomes an n×1 matrix, so that solve broadcasts the
    batch over leading axes."""
    ba, bb = batched
    la, lb = logical_shape(a, ba), logical_shape(b, bb)
    vec = len(lb) == 1
    if vec:
        b = reshape(b, shape_of(b) + (1,))
    rank = builtins.max(len(la), len(lb) + vec)
    out = solve(expand_to_rank(a, ba, rank), expand_to_rank(b, bb, rank))
    return out[..., 0] if vec else out


solve = Primitive(np.linalg.solve, "solve")
solve.defvjp(_solve_vjp_a, _solve_vjp_b)
solve.defjvp(_solve_jvp_a, lambda t, out, a, b: solve(a, t))
solve.defbatch(_solve_batch)

# NumPy's inv, det and slogdet already work on stacks of matrices: a batch is a stack.
for _prim in (inv, det, _logabsdet):
    _prim.defbatch(lambda size, batched, x, _prim=_prim: _prim(x))
del _prim


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """Vector and matrix norms as ``numpy.linalg.norm`` (not the spectral/nuclear ones).

    Vector ``ord``: None/2, 1, inf, -inf, any p; matrix ``ord``: None/'fro', 1, -1, inf,
    -inf. The derivative of the 2-norm at zero is undefined (NaN), as in NumPy-based
    peers.
    """
    x = traced_arraylike(x)
    nd = np.ndim(x)
    if axis is None:
        if ord is None or (ord in ("fro", "f") and nd == 2):
            r = sqrt(sum(x * x))
            return reshape(r, (1,) * nd) if keepdims else r
        if nd == 1:
            axis = 0
        elif nd == 2:
            axis = (0, 1)
        else:
            raise ValueError("norm: give axis for an order other than None on an N-D array")
    if isinstance(axis, (tuple, list)) and len(axis) == 2:
        return _matrix_norm(x, ord, tuple(axis), keepdims)
    if isinstance(axis, (tuple, list)):
        (axis,) = axis
    return _vector_norm(x, ord, axis, keepdims)


def _vector_norm(x: Any, ord: Any, axis: int, keepdims: bool) -> Any:  # noqa: A002
    if ord is None or ord == 2:
        return sqrt(sum(x * x, axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return max(abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return min(abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return np.sum(get_value(x) != 0, axis=axis, keepdims=keepdims).astype(float)
    if ord == 1:
        return sum(abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid order {ord!r} for a vector norm")
    return power(sum(power(abs(x), ord), axis=axis, keepdims=keepdims), 1.0 / ord)


def _matrix_norm(x: Any, ord: Any, axis: tuple[int, int], keepdims: bool) -> Any:  # noqa: A002
    nd = np.ndim(x)
    row, col = axis[0] % nd, axis[1] % nd
    if ord is None or ord in ("fro", "f"):
        r = sqrt(sum(x * x, axis=axis, keepdims=True))
    elif ord in (1, -1):
        red = max if ord == 1 else min
        r = red(sum(abs(x), axis=row, keepdims=True), axis=col, keepdims=True)
    elif ord in (np.inf, -np.inf):
        red = max if ord == np.inf else min
        r = red(sum(abs(x), axis=col, keepdims=True), axis=row, keepdims=True)
    else:
        raise NotImplementedError(
            f"norm: matrix order {ord!r} (spectral/nuclear) is not differentiable here yet"
        )
    if keepdims:
        return r
    shape = tuple(n for i, n in enumerate(np.shape(r)) if i not in (row, col))
    return reshape(r, shape)
