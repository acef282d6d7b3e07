"""What the compiler knows of the functions a program calls.

A staged program calls, for one operation, either the NumPy function itself (``np.add``:
an array was among the arguments) or the operation's public function (``tnp.add``, on
Python or NumPy scalars), or, for Python numbers, Python's operator. The passes reason
about all three by the operation's name (:func:`op_name`); anything else (a fused rule, a
non-differentiable helper) is an opaque call that the passes move, share or drop but
never look into.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "FLOAT_OPERATORS", "broadcast_source", "elementwise_primitive", "is_fresh", "is_ufunc_call",
    "op_name", "primitive_named", "same_family",
]  # fmt: skip

#: Python's operators on numbers, by the name of the elementwise operation they are
_PY_OPERATORS: dict[Callable[..., Any], str] = {
    operator.add: "add", operator.sub: "subtract", operator.mul: "multiply",
    operator.truediv: "divide", operator.neg: "negative", operator.pow: "power",
}  # fmt: skip

#: the elementwise operations written as Python operators in float code
FLOAT_OPERATORS = {
    "add": "({} + {})", "subtract": "({} - {})", "multiply": "({} * {})",
    "divide": "({} / {})", "negative": "(-{})", "positive": "(+{})",
}  # fmt: skip


@functools.cache
def _tables() -> tuple[dict[Any, Any], dict[Any, str]]:
    """``fn -> primitive`` for every elementwise primitive of tracegrad.numpy (its NumPy
    function and its public function), and ``fn -> name`` for every function a program
    may call for one operation. Built on first use: tracegrad.numpy imports late."""
    import tracegrad.numpy as tnp

    prims: dict[Any, Any] = {}
    names: dict[Any, str] = dict(_PY_OPERATORS)
    for attr in dir(tnp):
        fn = getattr(tnp, attr, None)
        prim = getattr(fn, "primitive", None)
        # elementwise: a NumPy function of its own, not a generalised ufunc (matmul)
        if prim is None or prim.array_impl is None or getattr(prim.array_impl, "signature", None):
            continue
        for f in (prim.array_impl, prim.impl):
            prims[f] = prim
            names[f] = prim.name
    from tracegrad.core import shapes
    from tracegrad.numpy.indexing import getitem

    for prim in (
        shapes.broadcast_to.primitive, shapes.reshape.primitive, shapes.sum.primitive,
        tnp.transpose.primitive, getitem,
    ):  # fmt: skip
        names[prim.impl] = prim.name
    names[np.matmul] = "matmul"
    return prims, names


def op_name(fn: Any) -> str | None:
    """The name of the operation ``fn`` computes (``"multiply"`` for ``np.multiply``,
    ``tnp.multiply`` and ``operator.mul``), or ``None`` for an opaque function."""
    try:
        return _tables()[1].get(fn)
    except TypeError:  # unhashable callables are opaque
        return None


def elementwise_primitive(fn: Any) -> Any:
    """The elementwise primitive whose NumPy or public function ``fn`` is, or ``None``."""
    try:
        return _tables()[0].get(fn)
    except TypeError:
        return None


def primitive_named(name: str | None) -> Any:
    """The elementwise primitive called ``name`` (``"power"``), or ``None``: what a
    Python operator recorded on numbers (``operator.pow``) computes."""
    prims, _ = _tables()
    return next((p for p in prims.values() if p.name == name), None) if name else None


def same_family(fn: Any, name: str) -> Callable[..., Any] | None:
    """The function of operation ``name`` of the same kind as ``fn`` (NumPy's for NumPy's,
    the public one for a public one, Python's operator for an operator): what a rewrite
    of ``fn``'s equation into another operation calls."""
    prims, _ = _tables()
    if fn in _PY_OPERATORS:
        return next((op for op, n in _PY_OPERATORS.items() if n == name), None)
    prim = prims.get(fn)
    if prim is None:
        return None
    import tracegrad.numpy as tnp

    other = getattr(tnp, name).primitive
    return other.array_impl if fn is prim.array_impl else other.impl


def broadcast_source(fn: Any) -> str | None:
    """``"broadcast_to"`` or ``"reshape"`` for the functions whose result NumPy's own
    broadcasting may make unnecessary, else ``None``."""
    name = op_name(fn)
    return name if name in ("broadcast_to", "reshape") else None


def is_ufunc_call(fn: Any) -> bool:
    """True for an elementwise NumPy ufunc called as itself (``np.add``): it takes
    ``out=``, and writing into a buffer that one of its inputs dies in is safe."""
    return isinstance(fn, np.ufunc) and fn.signature is None and fn.nout == 1


def is_fresh(fn: Any) -> bool:
    """True if ``fn`` returns an array that nothing else holds (a ufunc's call or
    reduction, ``np.matmul``): its buffer is the program's to reuse once it dies.
    Anything else may return a view of an argument or the argument itself."""
    if isinstance(fn, np.ufunc):
        return fn.nout == 1
    return isinstance(getattr(fn, "__self__", None), np.ufunc) and fn.__name__ == "reduce"
