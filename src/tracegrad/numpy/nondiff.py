"""Operations with zero derivative: comparisons, rounding, sign, arg-reductions, tests.

They take traced or plain values and return plain NumPy values (docs/design.md: comparisons,
``floor``, ``argmax`` and integer outputs have zero derivative).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad.core.primitive import get_value
from tracegrad.core.staging import call_plain

_NAMES = [
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_not", "logical_xor",
    "isfinite", "isnan", "isinf", "isclose", "allclose", "array_equal",
    "sign", "signbit", "floor", "ceil", "round", "rint", "trunc", "floor_divide",
    "argmax", "argmin", "argsort", "nonzero", "count_nonzero", "all", "any",
    "shape", "ndim", "size", "unique", "searchsorted", "digitize", "histogram",
    # index helpers, set membership, type and shape queries (integer or boolean results)
    "isin", "unravel_index", "ravel_multi_index", "tril_indices", "triu_indices",
    "tril_indices_from", "triu_indices_from", "diag_indices", "diag_indices_from",
    "indices", "mask_indices", "argwhere", "flatnonzero", "argpartition", "lexsort",
    "nanargmax", "nanargmin", "intersect1d", "union1d", "setdiff1d", "setxor1d",
    "array_equiv", "isposinf", "isneginf", "iscomplex", "isreal", "iscomplexobj",
    "isrealobj", "isscalar", "issubdtype", "isdtype", "can_cast", "min_scalar_type",
    "common_type", "iterable", "broadcast_shapes", "fix", "around", "spacing",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_invert", "invert",
    "bitwise_count", "left_shift", "right_shift", "bitwise_left_shift",
    "bitwise_right_shift", "gcd", "lcm", "packbits", "unpackbits", "ix_",
    "histogram2d", "histogramdd", "histogram_bin_edges", "einsum_path",
    "unique_all", "unique_counts", "unique_inverse", "unique_values",
]  # fmt: skip

__all__ = list(_NAMES)


#: results whose shape depends on the values: computed from read values (under tg.jit a
#: program could not replay them)
_VALUE_SHAPED = frozenset(
    ("nonzero", "unique", "argwhere", "flatnonzero", "intersect1d", "union1d", "setdiff1d",
     "setxor1d", "unique_all", "unique_counts", "unique_inverse", "unique_values",
     "histogram_bin_edges")
)  # fmt: skip


def _lift(name: str) -> Callable[..., Any]:
    fn = getattr(np, name)

    if name in _VALUE_SHAPED:

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return fn(*[get_value(a) for a in args], **kwargs)

    else:

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return call_plain(fn, args, kwargs)

    wrapped.__name__ = name
    wrapped.__qualname__ = name
    wrapped.__doc__ = f"``numpy.{name}`` on the primal values; carries no derivative."
    return wrapped


for _name in _NAMES:
    globals()[_name] = _lift(_name)
del _name
