"""Polynomials as coefficient arrays, highest power first (NumPy's ``poly*`` functions):
``polyadd polysub polymul polyder polyint polyfit poly vander``, differentiable in the
coefficients (and, for ``polyfit``/``vander``, in ``x`` and ``y``). ``polyval`` lives in
:mod:`series`; ``roots`` (complex in general) is not provided."""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.core.shapes import reshape
from tracegrad.numpy.creation import traced_arraylike
from tracegrad.numpy.elementwise import power
from tracegrad.numpy.series import convolve
from tracegrad.numpy.shape import concatenate

__all__ = ["poly", "polyadd", "polyder", "polyfit", "polyint", "polymul", "polysub", "vander"]


def _pad_front(p: Any, n: int) -> Any:
    k = np.shape(p)[0]
    return p if k == n else concatenate([np.zeros(n - k), p])


def polyadd(a1: Any, a2: Any) -> Any:
    """The sum of two polynomials."""
    a1, a2 = traced_arraylike(a1), traced_arraylike(a2)
    n = max(np.shape(a1)[0], np.shape(a2)[0])
    return _pad_front(a1, n) + _pad_front(a2, n)


def polysub(a1: Any, a2: Any) -> Any:
    """The difference of two polynomials."""
    return polyadd(a1, -traced_arraylike(a2))


def polymul(a1: Any, a2: Any) -> Any:
    """The product of two polynomials (the convolution of their coefficients)."""
    return convolve(a1, a2)


def polyder(p: Any, m: int = 1) -> Any:
    """The ``m``-th derivative."""
    p = traced_arraylike(p)
    for _ in range(m):
        n = np.shape(p)[0] - 1
        if n <= 0:
            return p[:1] * 0.0
        p = p[:-1] * np.arange(n, 0, -1, dtype=np.float64)
    return p


def polyint(p: Any, m: int = 1, k: Any = None) -> Any:
    """The ``m``-th antiderivative, with integration constants ``k`` (default 0)."""
    p = traced_arraylike(p)
    ks = np.zeros(m) if k is None else np.broadcast_to(traced_arraylike(k), (m,))
    for i in range(m):
        n = np.shape(p)[0]
        p = concatenate([p / np.arange(n, 0, -1, dtype=np.float64), reshape(ks[i] * 1.0, (1,))])
    return p


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Any:  # noqa: N803
    """The Vandermonde matrix: columns ``x**(N-1), ..., x, 1`` (reversed if increasing)."""
    x = traced_arraylike(x)
    n = np.shape(x)[0] if N is None else N
    powers = np.arange(n, dtype=np.float64) if increasing else np.arange(n - 1, -1, -1.0)
    return power(reshape(x, (-1, 1)), powers)


def polyfit(x: Any, y: Any, deg: int) -> Any:
    """Least-squares coefficients of degree ``deg`` through ``(x, y)`` (``y`` may hold
    several columns), differentiable in ``x`` and ``y``."""
    from tracegrad.numpy.linalg import lstsq

    return lstsq(vander(x, deg + 1), traced_arraylike(y)).x


def poly(seq_of_zeros: Any) -> Any:
    """The monic polynomial with the given (real) roots; of a square matrix, its
    characteristic polynomial is not provided (it needs the eigenvalues)."""
    roots = traced_arraylike(seq_of_zeros)
    if np.ndim(roots) != 1:
        raise NotImplementedError("poly: only a 1-D sequence of roots is supported")
    p = np.ones(1)
    for i in range(np.shape(roots)[0]):
        p = convolve(p, concatenate([np.ones(1), reshape(-roots[i], (1,))]))
    return p
