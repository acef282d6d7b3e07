"""``tracegrad.numpy.linalg``: inv, det, slogdet, solve, norm, the decompositions
(cholesky, qr, eigh, eigvalsh, svd, svdvals: see :mod:`tracegrad.numpy.decompositions`)
and what is built on them (pinv, lstsq, cond, matrix_power, multi_dot, matrix_norm,
vector_norm, tensorsolve).

Matrix functions work on stacks of matrices (the last two axes), as NumPy's do.
"""

from __future__ import annotations

import builtins
import operator
from typing import Any, NamedTuple

import numpy as np

from tracegrad.core.batching import expand_to_rank, logical_shape
from tracegrad.core.primitive import Primitive, dtype_of, get_value, shape_of
from tracegrad.core.shapes import normalize_axis, reshape, sum
from tracegrad.core.staging import call_plain, plain
from tracegrad.numpy.contractions import matmul
from tracegrad.numpy.creation import traced_arraylike
from tracegrad.numpy.decompositions import cholesky, eigh, eigvalsh, qr, svd, svdvals
from tracegrad.numpy.elementwise import abs, power, reciprocal, sqrt, where
from tracegrad.numpy.missing import missing_attribute
from tracegrad.numpy.reductions import max, min
from tracegrad.numpy.shape import matrix_transpose, moveaxis, transpose

__all__ = [
    "LinAlgError",
    "cholesky",
    "cond",
    "cross",
    "diagonal",
    "matrix_rank",
    "outer",
    "tensordot",
    "tensorinv",
    "trace",
    "vecdot",
    "det",
    "eigh",
    "eigvalsh",
    "inv",
    "lstsq",
    "matrix_norm",
    "matrix_power",
    "matrix_transpose",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
    "svdvals",
    "tensorsolve",
    "vector_norm",
]

LinAlgError = np.linalg.LinAlgError

__getattr__ = missing_attribute("tracegrad.numpy.linalg", "numpy.linalg")


def __dir__() -> list[str]:
    return list(__all__)  # NumPy's names only, not this module's imports


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
    elif ord in (2, -2, "nuc"):
        s = svdvals(moveaxis(x, (row, col), (-2, -1)))
        s = max(s, axis=-1) if ord == 2 else min(s, axis=-1) if ord == -2 else sum(s, axis=-1)
        kept = tuple(1 if i in (row, col) else n for i, n in enumerate(np.shape(x)))
        r = reshape(s, kept)
    else:
        raise ValueError(f"norm: invalid order {ord!r} for a matrix norm")
    if keepdims:
        return r
    shape = tuple(n for i, n in enumerate(np.shape(r)) if i not in (row, col))
    return reshape(r, shape)


def matrix_norm(x: Any, keepdims: bool = False, ord: Any = "fro") -> Any:  # noqa: A002
    """The norm of each matrix (the last two axes) of ``x``, as ``norm(axis=(-2, -1))``."""
    return norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


def vector_norm(x: Any, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:  # noqa: A002
    """The vector ``ord``-norm over ``axis`` (of all elements for ``None``)."""
    x = traced_arraylike(x)
    if axis is None:
        r = _vector_norm(reshape(x, (-1,)), ord, 0, False)
        return reshape(r, (1,) * np.ndim(x)) if keepdims else r
    axes = normalize_axis(axis, np.ndim(x))
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    rest = tuple(a for a in range(np.ndim(x)) if a not in axes)
    moved = transpose(x, rest + axes)
    flat = reshape(moved, np.shape(moved)[: len(rest)] + (-1,))
    r = _vector_norm(flat, ord, -1, False)
    if keepdims:
        r = reshape(r, tuple(1 if a in axes else n for a, n in enumerate(np.shape(x))))
    return r


def pinv(a: Any, rcond: float | None = None, hermitian: bool = False) -> Any:
    """Moore-Penrose pseudo-inverse ``V diag(1/s) Uᵀ``, singular values below
    ``rcond · max(s)`` (default ``max(m, n) · eps``) treated as 0; differentiable where
    the rank is constant and the kept singular values are distinct."""
    u, s, vh = svd(a, full_matrices=False)
    m, n = np.shape(a)[-2:]
    if rcond is None:
        rcond = builtins.max(m, n) * np.finfo(np.result_type(dtype_of(a), np.float16)).eps
    sv = plain(s)  # the cut-off carries no derivative (and, under tg.jit, is recorded)
    keep = sv > max(sv, axis=-1, keepdims=True) * rcond
    s_inv = where(keep, reciprocal(where(keep, s, 1.0)), 0.0)
    k = np.shape(s)[-1]
    return matmul(
        matrix_transpose(vh) * reshape(s_inv, np.shape(s_inv)[:-1] + (1, k)), matrix_transpose(u)
    )


class LstsqResult(NamedTuple):
    x: Any
    residuals: Any
    rank: Any
    s: Any


def lstsq(a: Any, b: Any, rcond: float | None = None) -> LstsqResult:
    """Least-squares solution ``x = pinv(a) b`` with NumPy's ``(x, residuals, rank,
    s)``; residuals (the squared 2-norms of ``a x - b``, per column) only when ``a`` is
    tall with full rank, as NumPy returns them. Differentiable in ``a`` and ``b``."""
    m, n = np.shape(a)[-2:]
    x = matmul(pinv(a, rcond), b)
    s = svdvals(a)
    rank = np.linalg.matrix_rank(get_value(a))
    if rank == n and m > n:
        r = matmul(a, x) - b
        residuals = sum(r * r, axis=0)
        residuals = reshape(residuals, (1,)) if np.ndim(b) == 1 else residuals
    else:
        residuals = np.empty((0,), dtype=np.result_type(dtype_of(a), np.float16))
    return LstsqResult(x, residuals, rank, s)


def matrix_power(a: Any, n: int) -> Any:
    """``a`` multiplied by itself ``n`` times (by squaring); ``n < 0`` uses ``inv(a)``,
    ``n == 0`` the identity."""
    n = operator.index(n)
    if n < 0:
        a, n = inv(a), -n
    if n == 0:
        return np.broadcast_to(np.eye(np.shape(a)[-1], dtype=dtype_of(a)), np.shape(a)).copy()
    result = None
    while n:
        if n & 1:
            result = a if result is None else matmul(result, a)
        n >>= 1
        if n:
            a = matmul(a, a)
    return result


def multi_dot(arrays: Any) -> Any:
    """``arrays[0] @ arrays[1] @ ...`` (first and last may be vectors)."""
    arrays = list(arrays)
    if len(arrays) < 2:
        raise ValueError("multi_dot: expecting at least two arrays")
    out = arrays[0]
    for a in arrays[1:]:
        out = matmul(out, a)
    return out


def cond(x: Any, p: Any = None) -> Any:
    """Condition number: ``s_max / s_min`` for ``p`` None, 2 (``s_min / s_max`` for
    -2), else ``norm(x, p) · norm(inv(x), p)``."""
    if p is None or p in (2, -2):
        s = svdvals(x)
        ratio = max(s, axis=-1) / min(s, axis=-1)
        return reciprocal(ratio) if p == -2 else ratio
    return norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))


def tensorsolve(a: Any, b: Any, axes: Any = None) -> Any:
    """The ``x`` with ``tensordot(a, x, x.ndim) == b``: one matrix solve."""
    nd = np.ndim(a)
    if axes is not None:
        order = [k for k in range(nd) if k not in [ax % nd for ax in axes]]
        a = transpose(a, order + [ax % nd for ax in axes])
    out_shape = np.shape(a)[np.ndim(b) :]
    rows = int(np.prod(np.shape(b)))
    cols = int(np.prod(out_shape))
    if rows != cols:
        raise LinAlgError("tensorsolve: the leading axes of a must hold as many entries as b")
    x = solve(reshape(a, (rows, cols)), reshape(b, (rows,)))
    return reshape(x, out_shape)


# --- the array-API functions of numpy.linalg (on the last axes) -------------------------


def cross(x1: Any, x2: Any, axis: int = -1) -> Any:
    """Cross product of 3-vectors along ``axis``."""
    from tracegrad.numpy.arrays import cross as _cross

    if np.shape(x1)[axis] != 3 or np.shape(x2)[axis] != 3:
        raise ValueError("linalg.cross: both inputs must be 3-vectors along the axis")
    return _cross(x1, x2, axis=axis)


def diagonal(x: Any, offset: int = 0) -> Any:
    """The diagonals of the matrices of ``x`` (the last two axes)."""
    from tracegrad.numpy.arrays import diagonal as _diagonal

    return _diagonal(x, offset, -2, -1)


def trace(x: Any, offset: int = 0, dtype: Any = None) -> Any:
    """The sums of the diagonals of the matrices of ``x`` (the last two axes)."""
    out = sum(diagonal(x, offset), axis=-1)
    return out if dtype is None else out.astype(dtype)


def outer(x1: Any, x2: Any) -> Any:
    """Outer product of two vectors."""
    from tracegrad.numpy.contractions import outer as _outer

    if np.ndim(x1) != 1 or np.ndim(x2) != 1:
        raise ValueError("linalg.outer: both inputs must be 1-D")
    return _outer(x1, x2)


def tensordot(x1: Any, x2: Any, axes: Any = 2) -> Any:
    """``numpy.tensordot``."""
    from tracegrad.numpy.contractions import tensordot as _tensordot

    return _tensordot(x1, x2, axes)


def vecdot(x1: Any, x2: Any, axis: int = -1) -> Any:
    """Dot products of the vectors along ``axis``."""
    return sum(traced_arraylike(x1) * traced_arraylike(x2), axis=axis)


def matrix_rank(a: Any, tol: Any = None, hermitian: bool = False, rtol: Any = None) -> Any:
    """The rank of each matrix (an integer: no derivative)."""
    return call_plain(
        np.linalg.matrix_rank, (a,), {"tol": tol, "hermitian": hermitian, "rtol": rtol}
    )


def tensorinv(a: Any, ind: int = 2) -> Any:
    """The inverse of ``a`` seen as a map from its first ``ind`` axes to the others."""
    shape = np.shape(a)
    rows = int(np.prod(shape[:ind]))
    inverse = inv(reshape(a, (rows, -1)))
    return reshape(inverse, shape[ind:] + shape[:ind])
