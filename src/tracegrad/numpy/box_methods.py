"""Give traced values (:class:`~tracegrad.core.Box`) the operators and methods of an
ndarray, each routed to a tracegrad.numpy operation."""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.core.backend import as_array
from tracegrad.core.primitive import Box, Primitive, dtype_of, get_value
from tracegrad.core.shapes import reshape, sum
from tracegrad.numpy import contractions as c
from tracegrad.numpy import elementwise as ew
from tracegrad.numpy import indexing as ix
from tracegrad.numpy import nondiff as nd
from tracegrad.numpy import reductions as r
from tracegrad.numpy import shape as sh
from tracegrad.numpy.misc import clip

__all__ = ["astype"]


def _astype_impl(x: Any, dtype: Any) -> Any:
    return as_array(x).astype(dtype)


astype = Primitive(_astype_impl, "astype")
astype.defvjp(lambda g, out, x, dtype: astype(g, dtype_of(x))).def_linear()
astype.defbatch(lambda size, batched, x, dtype: astype(x, dtype))


def _pow(x: Any, y: Any) -> Any:
    if type(y) in (int, float) and y == 2:
        return ew.square(x)
    return ew.power(x, y)


def _shape_args(args: tuple) -> Any:
    """``x.reshape(2, 3)`` and ``x.reshape((2, 3))`` both mean shape ``(2, 3)``."""
    return args[0] if len(args) == 1 and not isinstance(args[0], int) else args


def _reduction(fn: Any) -> Any:
    """A reduction method. It takes NumPy's ``dtype``/``out`` keywords too, because
    ``numpy.sum(x)``, ``numpy.mean(x)`` etc. call ``x.sum(axis=..., out=None, ...)`` on
    objects that are not ndarrays."""

    name = getattr(fn, "name", None) or fn.__name__  # a Primitive, or a function

    def method(
        self: Box, axis: Any = None, dtype: Any = None, out: Any = None, **kwargs: Any
    ) -> Any:
        if out is not None:
            raise TypeError(f"{name}(out=...) cannot store a traced value in an existing array")
        x = self if dtype is None else astype(self, dtype)
        return fn(x, axis=axis, **kwargs)

    method.__name__ = name
    return method


def _item(self: Box, *args: Any) -> Any:
    """``ndarray.item``: a Python scalar read from the value, as NumPy gives it (no
    derivative flows through it). Under ``tg.jit`` the read is noted (``get_value``),
    so the function runs as it is instead of replaying this call's number."""
    return as_array(get_value(self)).item(*args)


def _tolist(self: Box) -> Any:
    """``ndarray.tolist``: the value as nested Python lists, read like :func:`_item`."""
    return as_array(get_value(self)).tolist()


# the forward operators are the public functions themselves (self is their first
# argument): one Python frame less on every traced operator
_methods: dict[str, Any] = {
    "__add__": ew.add,
    "__radd__": lambda s, o: ew.add(o, s),
    "__sub__": ew.subtract,
    "__rsub__": lambda s, o: ew.subtract(o, s),
    "__mul__": ew.multiply,
    "__rmul__": lambda s, o: ew.multiply(o, s),
    "__truediv__": ew.divide,
    "__rtruediv__": lambda s, o: ew.divide(o, s),
    "__pow__": _pow,
    "__rpow__": lambda s, o: ew.power(o, s),
    "__mod__": ew.remainder,
    "__rmod__": lambda s, o: ew.remainder(o, s),
    "__floordiv__": lambda s, o: nd.floor_divide(s, o),
    "__rfloordiv__": lambda s, o: nd.floor_divide(o, s),
    "__matmul__": c.matmul,
    "__rmatmul__": lambda s, o: c.matmul(o, s),
    "__neg__": ew.negative,
    "__pos__": lambda s: s,
    "__abs__": lambda s: ew.abs(s),
    "__lt__": lambda s, o: nd.less(s, o),
    "__le__": lambda s, o: nd.less_equal(s, o),
    "__gt__": lambda s, o: nd.greater(s, o),
    "__ge__": lambda s, o: nd.greater_equal(s, o),
    "__eq__": lambda s, o: nd.equal(s, o),
    "__ne__": lambda s, o: nd.not_equal(s, o),
    "__getitem__": lambda s, idx: ix.getitem(s, ix.clean_index(idx)),
    "T": property(lambda s: sh.transpose(s)),
    "mT": property(lambda s: sh.swapaxes(s, -1, -2)),
    "reshape": lambda s, *shape: reshape(s, _shape_args(shape)),
    "transpose": lambda s, *axes: sh.transpose(s, _shape_args(axes) if axes else None),
    "swapaxes": lambda s, a, b: sh.swapaxes(s, a, b),
    "ravel": lambda s: sh.ravel(s),
    "flatten": lambda s: sh.ravel(s),
    "squeeze": lambda s, axis=None: sh.squeeze(s, axis),
    "repeat": lambda s, repeats, axis=None: sh.repeat(s, repeats, axis),
    "sum": _reduction(sum),
    "mean": _reduction(r.mean),
    "prod": _reduction(r.prod),
    "max": _reduction(r.max),
    "min": _reduction(r.min),
    "var": _reduction(r.var),
    "std": _reduction(r.std),
    "cumsum": lambda s, axis=None: r.cumsum(s, axis=axis),
    "dot": lambda s, o: c.dot(s, o),
    "astype": lambda s, dtype: astype(s, dtype),
    "clip": lambda s, a_min=None, a_max=None: clip(s, a_min, a_max),
    "argmax": lambda s, axis=None: nd.argmax(s, axis=axis),
    "argmin": lambda s, axis=None: nd.argmin(s, axis=axis),
    "argsort": lambda s, axis=-1: nd.argsort(s, axis=axis),
    "all": lambda s, axis=None: nd.all(s, axis=axis),
    "any": lambda s, axis=None: nd.any(s, axis=axis),
    "nonzero": lambda s: nd.nonzero(s),
    "copy": lambda s: s,
    "item": _item,
    "tolist": _tolist,
}

# NumPy ufuncs that stand for an operator: ``ndarray op box`` calls these ufuncs with the
# box as an operand, and they route to the traced operation.
_UFUNC_OPS: dict[Any, Any] = {
    np.add: ew.add,
    np.subtract: ew.subtract,
    np.multiply: ew.multiply,
    np.true_divide: ew.divide,
    np.power: ew.power,
    np.remainder: ew.remainder,
    np.matmul: c.matmul,
    np.negative: ew.negative,
    np.absolute: ew.abs,
    np.floor_divide: nd.floor_divide,
    np.less: nd.less,
    np.less_equal: nd.less_equal,
    np.greater: nd.greater,
    np.greater_equal: nd.greater_equal,
    np.equal: nd.equal,
    np.not_equal: nd.not_equal,
}


def _array_ufunc(self: Box, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """NumPy's ufunc protocol on traced values.

    Operators with a NumPy array on the left (``np.ones(3) * x``) arrive here and are
    traced. Any other ufunc (``np.sin(x)``: plain NumPy used on a traced value) would
    silently drop the derivative, so it raises a TypeError naming the replacement.
    """
    op = _UFUNC_OPS.get(ufunc)
    if method == "__call__" and op is not None and not kwargs:
        return op(*inputs)
    name = getattr(ufunc, "__name__", str(ufunc))
    if "out" in kwargs:
        raise TypeError(
            f"numpy.{name} with out=... (e.g. `arr += x`) cannot store a traced value in a "
            "NumPy array: it would lose the derivative; build a new array instead, e.g. "
            "arr = arr + x, tnp.where or tnp.concatenate"
        )
    import tracegrad.numpy as tnp  # at call time: tracegrad.numpy imports this module

    if method == "__call__":
        if getattr(np, name, None) is ufunc:
            call = f"numpy.{name}"
            fix = f"tracegrad.numpy.{name}" if hasattr(tnp, name) else "a tracegrad.numpy operation"
        else:  # another library's ufunc (scipy.special.erf is one): not numpy.erf
            module = _ufunc_module(ufunc)
            call = f"{module}.{name}" if module else f"the ufunc {name}"
            fix = (
                f"tracegrad.{module}.{name}"
                if module and module.startswith("scipy")
                else "a tracegrad.numpy operation"
            )
    else:  # numpy.add.reduce and friends
        call = f"numpy.{name}.{method}"
        fix = "a tracegrad.numpy reduction (tnp.sum, tnp.cumsum, ...)"
    raise TypeError(
        f"{call} was called on a traced value: plain NumPy and SciPy functions cannot carry "
        f"derivatives. Use {fix} instead, or tg.stop_gradient(x) if the derivative should "
        "be cut here"
    )


def _ufunc_module(ufunc: Any) -> str | None:
    """The loaded module that exports ``ufunc`` under its name (ufuncs carry none)."""
    import sys

    name = getattr(ufunc, "__name__", "")
    for module in ("scipy.special",):
        mod = sys.modules.get(module)
        if mod is not None and getattr(mod, name, None) is ufunc:
            return module
    return None


_methods["__array_ufunc__"] = _array_ufunc

for _name, _fn in _methods.items():
    setattr(Box, _name, _fn)
del _name, _fn
