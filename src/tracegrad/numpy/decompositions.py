"""Matrix decompositions: ``cholesky``, ``qr``, ``eigh``, ``eigvalsh``, ``svd``,
``svdvals``; on stacks of matrices (the last two axes), as NumPy's.

A decomposition with several results is one primitive whose output packs them into
one array (``eigh``: the eigenvalues as row 0 above the eigenvectors), sliced apart by
the public function, so the factors share one derivative rule. The rules are written
with tracegrad.numpy operations (``solve``, ``matmul``, the primitive's own output), so
they differentiate again.

Conventions:

- ``cholesky`` and ``eigh``/``eigvalsh`` read one triangle only, as NumPy does (the
  lower one; ``UPLO='U'``: the upper one), so the derivative with respect to the other
  strict triangle is 0. A
  matrix that is not positive definite raises ``numpy.linalg.LinAlgError``.
- ``eigh`` with repeated eigenvalues, ``svd`` with repeated singular values: the
  eigenvector (singular vector) derivatives are not defined there; the coupling terms
  ``1/(λj - λi)`` of equal pairs are taken as 0 (the derivative within the degenerate
  subspace is left out), so the result is finite, and exact for functions that do not
  depend on the basis chosen inside that subspace (such as the eigenvalues).
- ``qr`` is differentiable for ``m >= n`` (``mode='reduced'`` or ``'r'``); ``svd`` with
  ``full_matrices=False`` (or square matrices), and needs nonzero singular values for the
  singular vectors of a non-square matrix.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from tracegrad.core.backend import asarray_like
from tracegrad.core.primitive import Primitive, box_types, dtype_of, get_value
from tracegrad.core.shapes import reshape
from tracegrad.numpy.contractions import matmul
from tracegrad.numpy.elementwise import reciprocal, where
from tracegrad.numpy.shape import concatenate, matrix_transpose

__all__ = ["cholesky", "eigh", "eigvalsh", "qr", "svd", "svdvals"]


def _mask(m: np.ndarray, like: Any) -> Any:
    """A constant mask (a triangle, a diagonal) on the device of ``like``."""
    return asarray_like(m, like)


def _lower_read(d: Any, lower: bool = True) -> Any:
    """The symmetric matrix NumPy builds from the lower (or upper) triangle of ``d``."""
    if not lower:
        return _lower_read(matrix_transpose(d))
    n = np.shape(d)[-1]
    return d * _mask(np.tri(n, dtype=bool), d) + matrix_transpose(
        d * _mask(np.tri(n, k=-1, dtype=bool), d)
    )


def _lower_read_adjoint(b: Any, lower: bool = True) -> Any:
    """Adjoint of :func:`_lower_read`: ``tril(b) + tril(bᵀ, -1)`` (transposed for the
    upper triangle)."""
    if not lower:
        return matrix_transpose(_lower_read_adjoint(b))
    n = np.shape(b)[-1]
    return b * _mask(np.tri(n, dtype=bool), b) + matrix_transpose(b) * _mask(
        np.tri(n, k=-1, dtype=bool), b
    )


def _phi(x: Any) -> Any:
    """The lower triangle of ``x`` with its diagonal halved."""
    n = np.shape(x)[-1]
    mask = np.tri(n) - 0.5 * np.eye(n, dtype=bool)
    return x * _mask(mask.astype(np.result_type(dtype_of(x), np.float16)), x)  # float32 stays


def _solve_left(a: Any, b: Any) -> Any:
    from tracegrad.numpy.linalg import solve

    return solve(a, b)


def _right_inverse(x: Any, a: Any) -> Any:
    """``x a⁻¹``, as ``(a⁻ᵀ xᵀ)ᵀ``."""
    return matrix_transpose(_solve_left(matrix_transpose(a), matrix_transpose(x)))


def _stack_batch(prim: Primitive) -> Any:
    # NumPy's decompositions work on stacks of matrices: a batch is one more stack axis
    return lambda size, batched, x, **kw: prim(x, **kw)


# --- cholesky -------------------------------------------------------------------------


def _cholesky_jvp(t: Any, out: Any, x: Any) -> Any:
    # dA = dL Lᵀ + L dLᵀ  =>  dL = L Φ(L⁻¹ dA L⁻ᵀ)
    inner = _right_inverse(_solve_left(out, _lower_read(t)), matrix_transpose(out))
    return matmul(out, _phi(inner))


def _cholesky_vjp(g: Any, out: Any, x: Any) -> Any:
    # Ā = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹ (the adjoint of the JVP above), then of the lower-triangle read
    middle = _phi(matmul(matrix_transpose(out), g))
    a_bar = _right_inverse(_solve_left(matrix_transpose(out), middle), out)
    return _lower_read_adjoint(a_bar)


def _cholesky_impl(x: Any) -> Any:
    return np.linalg.cholesky(x)


_cholesky = Primitive(_cholesky_impl, "cholesky").defvjp(_cholesky_vjp).defjvp(_cholesky_jvp)
_cholesky.defbatch(_stack_batch(_cholesky)).saving("out")


def cholesky(a: Any) -> Any:
    """Lower-triangular ``L`` with ``a = L Lᵀ`` (``a`` symmetric positive definite;
    otherwise ``LinAlgError``). Reads the lower triangle of ``a``."""
    return _cholesky(a)


# --- eigh -----------------------------------------------------------------------------


def _eigh_impl(x: Any, UPLO: str = "L") -> Any:  # noqa: N803
    w, v = np.linalg.eigh(x, UPLO)
    return np.concatenate([w[..., None, :], v], axis=-2)


def _gaps(w: Any) -> Any:
    """``F[i, j] = 1 / (w[j] - w[i])`` off the diagonal, 0 on it and for equal pairs
    (traced: ``F`` depends on ``x`` too, for the second derivative)."""
    n = np.shape(w)[-1]
    diff = reshape(w, np.shape(w)[:-1] + (1, n)) - reshape(w, np.shape(w) + (1,))
    dv = get_value(diff)
    scale = np.max(np.abs(get_value(w)), axis=-1, keepdims=True)[..., None] + 1.0
    degenerate = np.abs(dv) <= 1e3 * np.finfo(dv.dtype).eps * scale
    return where(degenerate, 0.0, reciprocal(where(degenerate, 1.0, diff)))


def _eigh_jvp(t: Any, out: Any, x: Any, UPLO: str = "L") -> Any:  # noqa: N803
    w, v = out[..., 0, :], out[..., 1:, :]
    p = matmul(matrix_transpose(v), matmul(_lower_read(t, UPLO == "L"), v))  # Vᵀ dA V
    n = np.shape(w)[-1]
    dw = p[..., np.arange(n), np.arange(n)]
    dv = matmul(v, p * _gaps(w))
    return concatenate([reshape(dw, np.shape(dw)[:-1] + (1, n)), dv], axis=-2)


def _eigh_vjp(g: Any, out: Any, x: Any, UPLO: str = "L") -> Any:  # noqa: N803
    w, v = out[..., 0, :], out[..., 1:, :]
    gw, gv = g[..., 0, :], g[..., 1:, :]
    n = np.shape(w)[-1]
    middle = matmul(matrix_transpose(v), gv) * _gaps(w) + reshape(
        gw, np.shape(gw)[:-1] + (1, n)
    ) * _mask(np.eye(n, dtype=bool), w)
    return _lower_read_adjoint(matmul(v, matmul(middle, matrix_transpose(v))), UPLO == "L")


_eigh = Primitive(_eigh_impl, "eigh").defvjp(_eigh_vjp).defjvp(_eigh_jvp)
_eigh.defbatch(_stack_batch(_eigh)).saving("out")


class EighResult(NamedTuple):
    eigenvalues: Any
    eigenvectors: Any


def _uplo(uplo: str) -> str:
    if uplo not in ("L", "U"):
        raise ValueError(f"UPLO argument must be 'L' or 'U', not {uplo!r}")
    return uplo


def eigh(a: Any, UPLO: str = "L") -> EighResult:  # noqa: N803 (NumPy's name)
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix, read
    from its lower (``UPLO='L'``) or upper (``'U'``) triangle."""
    if type(a) not in box_types:
        return EighResult(*np.linalg.eigh(a, UPLO))
    packed = _eigh(a, UPLO=_uplo(UPLO))
    return EighResult(packed[..., 0, :], packed[..., 1:, :])


def _eigvalsh_impl(x: Any, UPLO: str = "L") -> Any:  # noqa: N803
    return np.linalg.eigvalsh(x, UPLO)


def _eigvalsh_jvp(t: Any, out: Any, x: Any, UPLO: str = "L") -> Any:  # noqa: N803
    v = eigh(x, UPLO).eigenvectors
    return (matmul(_lower_read(t, UPLO == "L"), v) * v).sum(axis=-2)  # diag(Vᵀ dA V)


def _eigvalsh_vjp(g: Any, out: Any, x: Any, UPLO: str = "L") -> Any:  # noqa: N803
    v = eigh(x, UPLO).eigenvectors
    n = np.shape(g)[-1]
    scaled = v * reshape(g, np.shape(g)[:-1] + (1, n))
    return _lower_read_adjoint(matmul(scaled, matrix_transpose(v)), UPLO == "L")


_eigvalsh = Primitive(_eigvalsh_impl, "eigvalsh").defvjp(_eigvalsh_vjp).defjvp(_eigvalsh_jvp)
_eigvalsh.defbatch(_stack_batch(_eigvalsh)).saving("args")


def eigvalsh(a: Any, UPLO: str = "L") -> Any:  # noqa: N803
    """Eigenvalues (ascending) of a symmetric matrix, read from its lower (``UPLO='L'``)
    or upper (``'U'``) triangle."""
    return _eigvalsh(a, UPLO=_uplo(UPLO))


# --- qr -------------------------------------------------------------------------------


def _qr_impl(x: Any) -> Any:
    q, r = np.linalg.qr(x)
    return np.concatenate([q, r], axis=-2)


def _qr_split(out: Any, m: int) -> tuple[Any, Any]:
    return out[..., :m, :], out[..., m:, :]


def _qr_jvp(t: Any, out: Any, x: Any) -> Any:
    # C = Qᵀ dA R⁻¹, Ω = tril(C, -1) - tril(C, -1)ᵀ; dR = (C - Ω) R, dQ = dA R⁻¹ - Q (C - Ω)
    m, n = np.shape(x)[-2:]
    q, r = _qr_split(out, m)
    t_rinv = _right_inverse(t, r)
    c = matmul(matrix_transpose(q), t_rinv)
    low = c * _mask(np.tri(n, k=-1, dtype=bool), c)
    upper = c - low + matrix_transpose(low)  # C - Ω
    return concatenate([t_rinv - matmul(q, upper), matmul(upper, r)], axis=-2)


def _qr_vjp(g: Any, out: Any, x: Any) -> Any:
    # M = R̄ Rᵀ - Qᵀ Q̄, N = triu(M) + triu(M, 1)ᵀ;  Ā = (Q̄ + Q N) R⁻ᵀ
    m, n = np.shape(x)[-2:]
    q, r = _qr_split(out, m)
    gq, gr = _qr_split(g, m)
    mm = matmul(gr, matrix_transpose(r)) - matmul(matrix_transpose(q), gq)
    upper = mm * _mask(~np.tri(n, k=-1, dtype=bool), mm)
    nn = upper + matrix_transpose(mm * _mask(~np.tri(n, dtype=bool), mm))
    return _right_inverse(gq + matmul(q, nn), matrix_transpose(r))


_qr = Primitive(_qr_impl, "qr").defvjp(_qr_vjp).defjvp(_qr_jvp)
_qr.defbatch(_stack_batch(_qr)).saving("out")


class QRResult(NamedTuple):
    Q: Any  # noqa: N815 (NumPy's field names)
    R: Any  # noqa: N815


def qr(a: Any, mode: str = "reduced") -> Any:
    """``a = Q R`` with orthonormal columns ``Q`` (m×n) and upper-triangular ``R``
    (n×n), differentiable for ``m >= n``; ``mode='r'`` gives ``R`` only."""
    if type(a) not in box_types:
        return np.linalg.qr(a, mode=mode)
    m, n = np.shape(a)[-2:]
    if mode not in ("reduced", "r") or m < n:
        raise NotImplementedError(
            "qr: the derivative is implemented for mode='reduced' or 'r' with m >= n"
        )
    q, r = _qr_split(_qr(a), m)
    return r if mode == "r" else QRResult(q, r)


# --- svd ------------------------------------------------------------------------------


def _svd_impl(x: Any) -> Any:
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    v = np.swapaxes(vh, -1, -2)
    # pack U (m×k), diag-row S (1×k) and V (n×k) along the row axis
    return np.concatenate([u, s[..., None, :], v], axis=-2)


def _svd_split(out: Any, m: int) -> tuple[Any, Any, Any]:
    return out[..., :m, :], out[..., m, :], out[..., m + 1 :, :]


def _svd_gaps(s: Any) -> Any:
    """``F[i, j] = 1 / (s[j]² - s[i]²)`` off the diagonal; 0 on it and for equal pairs."""
    return _gaps(s * s)


def _row(s: Any) -> Any:
    return reshape(s, np.shape(s)[:-1] + (1, np.shape(s)[-1]))


def _svd_jvp(t: Any, out: Any, x: Any) -> Any:
    m, n = np.shape(x)[-2:]
    u, s, v = _svd_split(out, m)
    k = np.shape(s)[-1]
    p = matmul(matrix_transpose(u), matmul(t, v))  # Uᵀ dA V, k×k
    ds = p[..., np.arange(k), np.arange(k)]
    f = _svd_gaps(s)
    pt = matrix_transpose(p)
    du = matmul(u, f * (p * _row(s) + matrix_transpose(_row(s)) * pt))
    dv = matmul(v, f * (matrix_transpose(_row(s)) * p + pt * _row(s)))
    if m > k:  # the part of dA outside the column space of U
        du = du + (matmul(t, v) - matmul(u, p)) / _row(s)
    if n > k:
        tu = matmul(matrix_transpose(t), u)
        dv = dv + (tu - matmul(v, pt)) / _row(s)
    return concatenate([du, _row(ds), dv], axis=-2)


def _svd_vjp(g: Any, out: Any, x: Any) -> Any:
    m, n = np.shape(x)[-2:]
    u, s, v = _svd_split(out, m)
    gu, gs, gv = _svd_split(g, m)
    k = np.shape(s)[-1]
    f = _svd_gaps(s)
    j = f * matmul(matrix_transpose(u), gu)
    kk = f * matmul(matrix_transpose(v), gv)
    col_s = matrix_transpose(_row(s))
    middle = (j + matrix_transpose(j)) * _row(s) + col_s * (kk + matrix_transpose(kk))
    middle = middle + _row(gs) * _mask(np.eye(k, dtype=bool), gs)
    a_bar = matmul(u, matmul(middle, matrix_transpose(v)))
    if m > k:  # (I - U Uᵀ) Ū S⁻¹ Vᵀ
        gu_perp = gu - matmul(u, matmul(matrix_transpose(u), gu))
        a_bar = a_bar + matmul(gu_perp / _row(s), matrix_transpose(v))
    if n > k:  # U S⁻¹ V̄ᵀ (I - V Vᵀ)
        gv_perp = gv - matmul(v, matmul(matrix_transpose(v), gv))
        a_bar = a_bar + matmul(u / _row(s), matrix_transpose(gv_perp))
    return a_bar


_svd = Primitive(_svd_impl, "svd").defvjp(_svd_vjp).defjvp(_svd_jvp)
_svd.defbatch(_stack_batch(_svd)).saving("out")


class SVDResult(NamedTuple):
    U: Any  # noqa: N815
    S: Any  # noqa: N815
    Vh: Any  # noqa: N815


def svd(
    a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False
) -> Any:
    """``a = U diag(S) Vh``, singular values descending. Differentiable with
    ``full_matrices=False`` (the reduced factors) or for square matrices;
    ``compute_uv=False`` gives the singular values (see :func:`svdvals`)."""
    if not compute_uv:
        return svdvals(a)
    if type(a) not in box_types:
        return np.linalg.svd(a, full_matrices=full_matrices, hermitian=hermitian)
    m, n = np.shape(a)[-2:]
    if full_matrices and m != n:
        raise NotImplementedError(
            "svd: the full factors of a non-square matrix are not unique; use full_matrices=False"
        )
    u, s, v = _svd_split(_svd(a), m)
    return SVDResult(u, s, matrix_transpose(v))


def _svdvals_impl(x: Any) -> Any:
    return np.linalg.svd(x, compute_uv=False)


def _svdvals_jvp(t: Any, out: Any, x: Any) -> Any:
    u, _, vh = svd(x, full_matrices=False)
    return (matmul(t, matrix_transpose(vh)) * u).sum(axis=-2)  # diag(Uᵀ dA V)


def _svdvals_vjp(g: Any, out: Any, x: Any) -> Any:
    u, _, vh = svd(x, full_matrices=False)
    return matmul(u * _row(g), vh)


_svdvals = Primitive(_svdvals_impl, "svdvals").defvjp(_svdvals_vjp).defjvp(_svdvals_jvp)
_svdvals.defbatch(_stack_batch(_svdvals)).saving("args")


def svdvals(a: Any) -> Any:
    """Singular values (descending) of ``a``; derivative ``U[:, i] V[:, i]ᵀ``."""
    return _svdvals(a)
