"""Elementwise primitives: arithmetic, powers, exponentials, trigonometry, where.

A unary primitive is defined by its derivative ``d(x, out)``; both its VJP (``g * d``)
and its JVP (``t * d``) follow from it, so the two modes cannot drift apart. Binary
rules return broadcast-shaped results; the reverse driver sums them down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad.core.primitive import Primitive, get_value

__all__ = [
    "abs",
    "absolute",
    "add",
    "arccos",
    "arcsin",
    "arctan",
    "arctanh",
    "arcsinh",
    "cos",
    "cosh",
    "divide",
    "exp",
    "exp2",
    "expm1",
    "log",
    "log10",
    "log1p",
    "log2",
    "maximum",
    "minimum",
    "multiply",
    "negative",
    "positive",
    "power",
    "reciprocal",
    "relu",
    "remainder",
    "sigmoid",
    "sin",
    "sinh",
    "sqrt",
    "square",
    "subtract",
    "tan",
    "tanh",
    "true_divide",
    "where",
]

_LN2 = float(np.log(2.0))
_LN10 = float(np.log(10.0))


def _unary(impl: Callable[[Any], Any], name: str, deriv: Callable[[Any, Any], Any]) -> Primitive:
    prim = Primitive(impl, name)
    prim.defvjp(lambda g, out, x: g * deriv(x, out))
    prim.defjvp(lambda t, out, x: t * deriv(x, out))
    return prim


negative = Primitive(np.negative, "negative")
negative.defvjp(lambda g, out, x: negative(g)).def_linear()

exp = _unary(np.exp, "exp", lambda x, out: out)
exp2 = _unary(np.exp2, "exp2", lambda x, out: out * _LN2)
expm1 = _unary(np.expm1, "expm1", lambda x, out: out + 1.0)
log = _unary(np.log, "log", lambda x, out: reciprocal(x))
log2 = _unary(np.log2, "log2", lambda x, out: reciprocal(x * _LN2))
log10 = _unary(np.log10, "log10", lambda x, out: reciprocal(x * _LN10))
log1p = _unary(np.log1p, "log1p", lambda x, out: reciprocal(x + 1.0))
sqrt = _unary(np.sqrt, "sqrt", lambda x, out: reciprocal(out * 2.0))
square = _unary(np.square, "square", lambda x, out: x * 2.0)
reciprocal = _unary(
    lambda x: np.reciprocal(x) if np.issubdtype(np.result_type(x), np.inexact) else 1.0 / x,
    "reciprocal",
    lambda x, out: negative(out * out),
)
sin = _unary(np.sin, "sin", lambda x, out: cos(x))
cos = _unary(np.cos, "cos", lambda x, out: negative(sin(x)))
tan = _unary(np.tan, "tan", lambda x, out: out * out + 1.0)
arcsin = _unary(np.arcsin, "arcsin", lambda x, out: reciprocal(sqrt(1.0 - x * x)))
arccos = _unary(np.arccos, "arccos", lambda x, out: negative(reciprocal(sqrt(1.0 - x * x))))
arctan = _unary(np.arctan, "arctan", lambda x, out: reciprocal(x * x + 1.0))
arcsinh = _unary(np.arcsinh, "arcsinh", lambda x, out: reciprocal(sqrt(x * x + 1.0)))
arctanh = _unary(np.arctanh, "arctanh", lambda x, out: reciprocal(1.0 - x * x))
sinh = _unary(np.sinh, "sinh", lambda x, out: cosh(x))
cosh = _unary(np.cosh, "cosh", lambda x, out: sinh(x))
tanh = _unary(np.tanh, "tanh", lambda x, out: 1.0 - out * out)
# abs'(0) = 0: the sign of the primal value, which is itself piecewise constant.
abs = _unary(np.abs, "abs", lambda x, out: np.sign(get_value(x)))  # noqa: A001
absolute = abs


def _sigmoid_impl(x: Any) -> Any:
    # exp(-log(1 + exp(-x))) never overflows, at +-1000 as at 0.
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.inexact) else np.float64
    return np.exp(-np.logaddexp(0.0, -x, dtype=dtype))[()]


sigmoid = _unary(_sigmoid_impl, "sigmoid", lambda x, out: out * (1.0 - out))


def _relu_impl(x: Any) -> Any:
    return np.maximum(x, 0)


# relu'(0) = 0, as DESIGN fixes (a maximum with 0 would split the tie).
relu = _unary(_relu_impl, "relu", lambda x, out: get_value(x) > 0)


def positive(x: Any) -> Any:
    """``+x`` (the identity)."""
    return x


add = Primitive(np.add, "add")
add.defvjp(lambda g, out, x, y: g, lambda g, out, x, y: g)
add.defjvp(lambda t, out, x, y: t, lambda t, out, x, y: t)

subtract = Primitive(np.subtract, "subtract")
subtract.defvjp(lambda g, out, x, y: g, lambda g, out, x, y: negative(g))
subtract.defjvp(lambda t, out, x, y: t, lambda t, out, x, y: negative(t))

multiply = Primitive(np.multiply, "multiply")
multiply.defvjp(lambda g, out, x, y: g * y, lambda g, out, x, y: g * x)
multiply.defjvp(lambda t, out, x, y: t * y, lambda t, out, x, y: x * t)


def _divide_impl(x: Any, y: Any) -> Any:
    return np.true_divide(x, y)


divide = Primitive(_divide_impl, "divide")
divide.defvjp(lambda g, out, x, y: g / y, lambda g, out, x, y: negative(g * out / y))
divide.defjvp(lambda t, out, x, y: t / y, lambda t, out, x, y: negative(t * out / y))
true_divide = divide


def _safe_log(x: Any) -> Any:
    """log(x) where x > 0, else 0: the ∂/∂y of x**y where it exists."""
    pos = get_value(x) > 0
    return where(pos, log(where(pos, x, 1.0)), 0.0)


def _power_dx(x: Any, y: Any) -> Any:
    return y * power(x, y - 1.0)


power = Primitive(np.power, "power")
power.defvjp(
    lambda g, out, x, y: g * _power_dx(x, y),
    lambda g, out, x, y: g * out * _safe_log(x),
)
power.defjvp(
    lambda t, out, x, y: t * _power_dx(x, y),
    lambda t, out, x, y: t * out * _safe_log(x),
)


def _tie_weights(x: Any, y: Any, greater: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weights of each operand in max/min: 1 for the winner, 1/2 each on a tie."""
    xv, yv = get_value(x), get_value(y)
    win = (xv > yv) if greater else (xv < yv)
    tie = xv == yv
    dtype = np.result_type(xv, yv, np.float16)
    wx = (win + 0.5 * tie).astype(dtype)
    return wx, 1 - wx


def _extremum(impl: Callable[[Any, Any], Any], name: str, greater: bool) -> Primitive:
    prim = Primitive(impl, name)
    prim.defvjp(
        lambda g, out, x, y: g * _tie_weights(x, y, greater)[0],
        lambda g, out, x, y: g * _tie_weights(x, y, greater)[1],
    )
    prim.defjvp(
        lambda t, out, x, y: t * _tie_weights(x, y, greater)[0],
        lambda t, out, x, y: t * _tie_weights(x, y, greater)[1],
    )
    return prim


maximum = _extremum(np.maximum, "maximum", True)
minimum = _extremum(np.minimum, "minimum", False)

remainder = Primitive(np.remainder, "remainder")
remainder.defvjp(
    lambda g, out, x, y: g,
    lambda g, out, x, y: g * negative(np.floor_divide(get_value(x), get_value(y))),
)
remainder.defjvp(
    lambda t, out, x, y: t,
    lambda t, out, x, y: t * negative(np.floor_divide(get_value(x), get_value(y))),
)


def _where_impl(cond: Any, x: Any, y: Any) -> Any:
    return np.where(cond, x, y)


_where = Primitive(_where_impl, "where")
_where.defvjp(
    None,
    lambda g, out, c, x, y: _where(c, g, 0.0),
    lambda g, out, c, x, y: _where(c, 0.0, g),
)
_where.defjvp(
    None,
    lambda t, out, c, x, y: _where(c, t, 0.0),
    lambda t, out, c, x, y: _where(c, 0.0, t),
)


def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    """``numpy.where``; the condition carries no derivative. With one argument it
    returns the indices where ``condition`` holds, as NumPy does."""
    condition = get_value(condition)
    if x is None and y is None:
        return np.where(condition)
    if x is None or y is None:
        raise ValueError("where: either both or neither of x and y must be given")
    return _where(condition, x, y)
