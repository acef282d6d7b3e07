"""``tracegrad.scipy.signal``: N-dimensional ``convolve`` and ``correlate`` (modes
``full``, ``same``, ``valid``), differentiable in both inputs.

Every product ``in1[i] · in2[j]`` is added into output position ``i + j`` by one
scatter-add, whose derivative is the matching gather: exact, at ``O(in1.size ·
in2.size)`` work (direct convolution, as ``method='direct'``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.core.shapes import reshape
from tracegrad.numpy.creation import traced_arraylike
from tracegrad.numpy.indexing import scatter_add
from tracegrad.numpy.missing import missing_attribute
from tracegrad.numpy.shape import flip

__all__ = ["convolve", "correlate"]

__getattr__ = missing_attribute("tracegrad.scipy.signal", "scipy.signal")


def convolve(in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
    """``scipy.signal.convolve`` of two arrays with the same number of axes."""
    a, b = traced_arraylike(in1), traced_arraylike(in2)
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) != len(sb):
        raise ValueError("convolve: in1 and in2 should have the same dimensionality")
    full_shape = tuple(p + q - 1 for p, q in zip(sa, sb))
    # target of product (i, j): the flat index of i + j in the full output
    target = np.zeros(sa + sb, dtype=np.intp)
    for axis, (p, q) in enumerate(zip(sa, sb)):
        i = np.arange(p).reshape((-1,) + (1,) * (len(sa) - 1 - axis) + (1,) * len(sb))
        j = np.arange(q).reshape((-1,) + (1,) * (len(sb) - 1 - axis))
        stride = int(np.prod(full_shape[axis + 1 :], dtype=np.int64))
        target = target + (i + j) * stride
    products = reshape(a, sa + (1,) * len(sb)) * reshape(b, (1,) * len(sa) + sb)
    size = int(np.prod(full_shape, dtype=np.int64))
    full = reshape(scatter_add(reshape(products, (-1,)), (target.ravel(),), (size,)), full_shape)
    if mode == "full":
        return full
    if mode == "same":
        keep = sa
    elif mode == "valid":
        if not (all(p >= q for p, q in zip(sa, sb)) or all(q >= p for p, q in zip(sa, sb))):
            raise ValueError("convolve: for 'valid' mode, one input must be at least as large")
        keep = tuple(abs(p - q) + 1 for p, q in zip(sa, sb))
    else:
        raise ValueError(f"convolve: mode must be 'full', 'same' or 'valid', not {mode!r}")
    starts = [(f - k) // 2 for f, k in zip(full_shape, keep)]
    return full[tuple(slice(s, s + k) for s, k in zip(starts, keep))]


def correlate(in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
    """``scipy.signal.correlate`` of real arrays: the convolution with ``in2`` reversed."""
    b = traced_arraylike(in2)
    return convolve(in1, flip(b), mode=mode, method=method)
