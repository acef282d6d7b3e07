"""Integer scalar types that also convert traced values: ``tnp.int64(x)``.

An integer has no derivative, so ``tnp.int64(x)`` of a traced ``x`` is
``numpy.int64`` of its value (as an index, say), where ``numpy.int64(x)`` refuses the
traced value. They are subclasses of NumPy's types, so they still work as dtypes
(``dtype=tnp.int64``, ``x.astype(tnp.int64)``, ``x.dtype == tnp.int64``); but
``numpy.issubdtype(t, tnp.int64)`` is False for NumPy's own ``int64``: pass
``numpy.int64`` (or ``numpy.integer``) there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.core.staging import call_plain

__all__ = ["int8", "int16", "int32", "int64", "uint8"]


def _converting(base: type) -> type:
    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
        return call_plain(base, args, kwargs)

    return type(base.__name__, (base,), {"__new__": __new__, "__module__": __name__})


int8 = _converting(np.int8)
int16 = _converting(np.int16)
int32 = _converting(np.int32)
int64 = _converting(np.int64)
uint8 = _converting(np.uint8)
