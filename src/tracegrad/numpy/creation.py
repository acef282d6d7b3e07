"""Array creation: NumPy's own functions, made safe to call on traced values.

``array``/``asarray`` of a (nested) list that holds traced values stack them, so
``tnp.array([x1 * x2, tnp.sin(x1)])`` builds a differentiable vector.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.core.primitive import box_types, get_value, peek
from tracegrad.numpy.shape import stack

__all__ = [
    "arange", "array", "asarray", "diag", "empty", "empty_like", "eye", "full",
    "full_like", "identity", "linspace", "logspace", "meshgrid", "ones", "ones_like",
    "tri", "tril", "triu", "zeros", "zeros_like",
]  # fmt: skip

arange = np.arange
empty = np.empty
eye = np.eye
full = np.full
identity = np.identity
linspace = np.linspace
logspace = np.logspace
ones = np.ones
tri = np.tri
zeros = np.zeros


def _contains_box(obj: Any) -> bool:
    if type(obj) in box_types:
        return True
    if isinstance(obj, (list, tuple)):
        return any(_contains_box(o) for o in obj)
    return False


def _stack_nested(obj: Any, dtype: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        return stack([_stack_nested(o, dtype) for o in obj])
    if type(obj) in box_types:
        return obj if dtype is None else obj.astype(dtype)
    return np.asarray(obj, dtype=dtype)


def array(obj: Any, dtype: Any = None) -> Any:
    """``numpy.array``; traced elements are stacked, keeping their derivatives."""
    if _contains_box(obj):
        return _stack_nested(obj, dtype)
    return np.array(obj, dtype=dtype)


def asarray(obj: Any, dtype: Any = None) -> Any:
    """``numpy.asarray``; a traced value is returned as it is."""
    if _contains_box(obj):
        return _stack_nested(obj, dtype)
    return np.asarray(obj, dtype=dtype)


def zeros_like(x: Any, dtype: Any = None) -> np.ndarray:
    return np.zeros_like(peek(x), dtype=dtype)


def ones_like(x: Any, dtype: Any = None) -> np.ndarray:
    return np.ones_like(peek(x), dtype=dtype)


def empty_like(x: Any, dtype: Any = None) -> np.ndarray:
    return np.empty_like(peek(x), dtype=dtype)


def full_like(x: Any, fill_value: Any, dtype: Any = None) -> np.ndarray:
    return np.full_like(peek(x), fill_value, dtype=dtype)


def meshgrid(*xi: Any, indexing: str = "xy") -> list[np.ndarray]:
    return np.meshgrid(*[get_value(x) for x in xi], indexing=indexing)


def diag(v: Any, k: int = 0) -> Any:
    """Diagonal matrix from a vector, or the diagonal of a matrix (differentiable)."""
    if np.ndim(v) == 1:
        return _diag_matrix(v, k)
    rows, cols = np.nonzero(np.eye(*np.shape(v), k=k, dtype=bool))
    return v[rows, cols]


def _diag_matrix(v: Any, k: int) -> Any:
    n = np.shape(v)[0] + abs(k)
    cols = np.arange(n)
    # column j holds v[j - k] on the diagonal for k >= 0, and v[j] for k < 0
    src = cols - k if k >= 0 else cols
    valid = (src >= 0) & (src < np.shape(v)[0])
    picked = v[np.clip(src, 0, np.shape(v)[0] - 1)]
    return np.eye(n, k=k, dtype=bool) * (picked * valid)


def tril(x: Any, k: int = 0) -> Any:
    return x * np.tri(*np.shape(x)[-2:], k=k, dtype=bool)


def triu(x: Any, k: int = 0) -> Any:
    return x * ~np.tri(*np.shape(x)[-2:], k=k - 1, dtype=bool)
