"""``tracegrad.scipy.linalg``: ``solve_triangular``, ``cho_factor``, ``cho_solve``,
``expm``, ``solve_sylvester``, ``sqrtm`` (and NumPy's ``cholesky``, ``inv``, ``det``,
``solve``).

``solve_triangular`` reads only the triangle it is told to (so the derivative with
respect to the other one is 0); ``expm``'s derivatives are the upper-right block of the
exponential of ``[[A, E], [0, A]]`` (the Fréchet derivative), which differentiates
again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.core.batching import loop_batch
from tracegrad.core.primitive import Primitive, box_types
from tracegrad.core.shapes import reshape
from tracegrad.numpy.contractions import matmul
from tracegrad.numpy.linalg import cholesky, det, inv, solve
from tracegrad.numpy.missing import missing_attribute
from tracegrad.numpy.shape import concatenate, matrix_transpose, moveaxis
from tracegrad.scipy import require_scipy
from tracegrad.traces.registry import GENERIC, display

sl = require_scipy("scipy.linalg")

__all__ = [
    "cho_factor",
    "cho_solve",
    "cholesky",
    "det",
    "expm",
    "inv",
    "solve",
    "solve_sylvester",
    "solve_triangular",
    "sqrtm",
]

__getattr__ = missing_attribute("tracegrad.scipy.linalg", "scipy.linalg")


def _triangle(a: Any, lower: bool, unit_diagonal: bool) -> Any:
    """The triangle of ``a`` that is read (its diagonal too, unless it is taken as 1)."""
    n = np.shape(a)[-1]
    k = -1 if unit_diagonal else 0
    mask = np.tri(n, k=k, dtype=bool) if lower else ~np.tri(n, k=-1 - k, dtype=bool)
    return a * mask


_TRANS = {0: 0, "N": 0, 1: 1, "T": 1, 2: 1, "C": 1}


def _solve_triangular_impl(a: Any, b: Any, trans: int = 0, lower: bool = False,
                           unit_diagonal: bool = False) -> Any:  # fmt: skip
    return sl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal)


def _op(a: Any, trans: int) -> Any:
    return matrix_transpose(a) if trans else a


def _st_vjp_b(g: Any, out: Any, a: Any, b: Any, trans: int = 0, lower: bool = False,
              unit_diagonal: bool = False) -> Any:  # fmt: skip
    # x = op(A)⁻¹ b  =>  b̄ = op(A)⁻ᵀ x̄
    return _solve_triangular(a, g, trans=1 - trans, lower=lower, unit_diagonal=unit_diagonal)


def _st_vjp_a(g: Any, out: Any, a: Any, b: Any, trans: int = 0, lower: bool = False,
              unit_diagonal: bool = False) -> Any:  # fmt: skip
    # op(A)̄ = -b̄ xᵀ, then back through op and the read triangle
    gb = _st_vjp_b(g, out, a, b, trans, lower, unit_diagonal)
    if np.ndim(b) == 1:
        outer = -(reshape(gb, (-1, 1)) * reshape(out, (1, -1)))
    else:
        outer = -matmul(gb, matrix_transpose(out))
    return _triangle(_op(outer, trans), lower, unit_diagonal)


def _st_jvp_a(t: Any, out: Any, a: Any, b: Any, trans: int = 0, lower: bool = False,
              unit_diagonal: bool = False) -> Any:  # fmt: skip
    dop = _op(_triangle(t, lower, unit_diagonal), trans)
    rhs = matmul(dop, out)
    return -_solve_triangular(a, rhs, trans=trans, lower=lower, unit_diagonal=unit_diagonal)


def _st_jvp_b(t: Any, out: Any, a: Any, b: Any, trans: int = 0, lower: bool = False,
              unit_diagonal: bool = False) -> Any:  # fmt: skip
    return _solve_triangular(a, t, trans=trans, lower=lower, unit_diagonal=unit_diagonal)


def _st_batch(size: int, batched: Any, a: Any, b: Any, **kw: Any) -> Any:
    """A batch of right-hand sides (tangents, cotangents) for one matrix: the examples
    become more columns of one solve. A batch of matrices loops (SciPy solves one
    system at a time)."""
    if batched[0]:
        return loop_batch(_solve_triangular, size, batched, (a, b), kw)
    shape = np.shape(b)  # (B, n) or (B, n, k)
    cols = moveaxis(b, 0, -1)  # (n, B) or (n, k, B)
    x = _solve_triangular(a, reshape(cols, (shape[1], -1)), **kw)
    return moveaxis(reshape(x, np.shape(cols)), -1, 0)


_solve_triangular = Primitive(_solve_triangular_impl, "solve_triangular")
_solve_triangular.defvjp(_st_vjp_a, _st_vjp_b).defjvp(_st_jvp_a, _st_jvp_b)
_solve_triangular.defbatch(_st_batch).saving("all")


def solve_triangular(a: Any, b: Any, trans: Any = 0, lower: bool = False,
                     unit_diagonal: bool = False) -> Any:  # fmt: skip
    """Solve ``op(a) x = b`` for triangular ``a`` (``op`` transposes for ``trans='T'``),
    reading only the ``lower`` (or upper) triangle of ``a``."""
    if trans not in _TRANS:
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', not {trans!r}")
    return _solve_triangular(a, b, trans=_TRANS[trans], lower=bool(lower),
                             unit_diagonal=bool(unit_diagonal))  # fmt: skip


def cho_factor(a: Any, lower: bool = False) -> tuple[Any, bool]:
    """``(c, lower)`` for :func:`cho_solve`: the Cholesky factor (``a = L Lᵀ`` from the
    lower triangle of ``a``, or ``a = Uᵀ U`` from the upper one) and where it is. The
    other triangle of ``c`` is 0 (SciPy leaves it unspecified)."""
    if lower:
        return cholesky(a), True
    return matrix_transpose(cholesky(matrix_transpose(a))), False


def cho_solve(c_and_lower: tuple[Any, bool], b: Any) -> Any:
    """Solve ``a x = b`` given ``cho_factor(a)``: two triangular solves."""
    c, lower = c_and_lower
    if lower:  # L Lᵀ x = b
        y = solve_triangular(c, b, lower=True)
        return solve_triangular(c, y, trans=1, lower=True)
    y = solve_triangular(c, b, trans=1, lower=False)  # Uᵀ U x = b
    return solve_triangular(c, y, lower=False)


def _frechet(a: Any, e: Any) -> Any:
    """The derivative of ``expm`` at ``a`` in the direction ``e``: the upper-right block
    of ``expm([[a, e], [0, a]])``."""
    n = np.shape(a)[-1]
    zero = np.zeros(np.shape(a), dtype=np.result_type(getattr(a, "dtype", float), np.float16))
    big = concatenate([concatenate([a, e], axis=-1), concatenate([zero, a], axis=-1)], axis=-2)
    return _expm(big)[..., :n, n:]


def _expm_impl(a: Any) -> Any:
    return sl.expm(a)


_expm = Primitive(_expm_impl, "expm")
_expm.defvjp(lambda g, out, a: _frechet(matrix_transpose(a), g))
_expm.defjvp(lambda t, out, a: _frechet(a, t))
_expm.defbatch(lambda size, batched, a: _expm(a)).saving("args")  # SciPy's expm takes stacks


def expm(a: Any) -> Any:
    """The matrix exponential (of each matrix of a stack)."""
    if type(a) not in box_types:
        return sl.expm(a)
    return _expm(a)


# --- Sylvester equations and the matrix square root ------------------------------------


def _sylvester_impl(a: Any, b: Any, q: Any) -> Any:
    return sl.solve_sylvester(a, b, q)


# X solves A X + X B = Q:  A dX + dX B = dQ - dA X - X dB
def _sylvester_jvp(argnum: int, t: Any, out: Any, a: Any, b: Any, q: Any) -> Any:
    if argnum == 0:
        t = -matmul(t, out)
    elif argnum == 1:
        t = -matmul(out, t)
    return solve_sylvester(a, b, t)


# the adjoint equation Aᵀ Y + Y Bᵀ = X̄ gives Q̄ = Y, Ā = -Y Xᵀ, B̄ = -Xᵀ Y
def _sylvester_vjp(argnum: int, g: Any, out: Any, a: Any, b: Any, q: Any) -> Any:
    y = solve_sylvester(matrix_transpose(a), matrix_transpose(b), g)
    if argnum == 0:
        return -matmul(y, matrix_transpose(out))
    if argnum == 1:
        return -matmul(matrix_transpose(out), y)
    return y


_solve_sylvester = Primitive(_sylvester_impl, "solve_sylvester")
_solve_sylvester.defvjp_argnum(_sylvester_vjp).defjvp_argnum(_sylvester_jvp)
_solve_sylvester.defbatch(
    lambda size, batched, a, b, q: loop_batch(_solve_sylvester, size, batched, (a, b, q), {})
)  # SciPy solves one equation at a time


def solve_sylvester(a: Any, b: Any, q: Any) -> Any:
    """The ``X`` with ``a X + X b = q``; differentiable in all three."""
    return _solve_sylvester(a, b, q)


def _sqrtm_impl(a: Any) -> Any:
    return sl.sqrtm(a)


# S S = A:  S dS + dS S = dA;  the adjoint: Sᵀ Y + Y Sᵀ = S̄, Ā = Y
_sqrtm = Primitive(_sqrtm_impl, "sqrtm")
_sqrtm.defvjp(lambda g, out, a: solve_sylvester(matrix_transpose(out), matrix_transpose(out), g))
_sqrtm.defjvp(lambda t, out, a: solve_sylvester(out, out, t))
_sqrtm.defbatch(lambda size, batched, a: loop_batch(_sqrtm, size, batched, (a,), {}))
_sqrtm.saving("out")


def sqrtm(a: Any) -> Any:
    """The principal square root ``S`` of ``a`` (``S @ S = a``), for a matrix with no
    eigenvalues on the closed negative real axis (real ``S``)."""
    return _sqrtm(a)


# Trace tables show these as functions with the generic ∂v_j/∂v_k.
for _prim in (_solve_triangular, _expm, _solve_sylvester, _sqrtm):
    display(_prim, partials=GENERIC)
del _prim
