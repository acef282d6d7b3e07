"""Elementwise primitives: arithmetic, powers, exponentials, trigonometry, where.

A unary primitive is defined by its derivative ``d(x, out)``; both its VJP (``g * d``)
and its JVP (``t * d``) follow from it, so the two modes cannot drift apart. Binary
rules return broadcast-shaped results; the reverse driver sums them down.
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad.core.backend import as_array
from tracegrad.core.batching import elementwise_batch
from tracegrad.core.primitive import (
    PYTHON_SCALARS,
    Primitive,
    binary_function,
    get_value,
    unary_function,
)
from tracegrad.core.staging import plain
from tracegrad.numpy.creation import traced_arraylike

__all__ = [
    "OUTPUT_DERIVATIVES",
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


def _unary(
    np_fn: Callable[[Any], Any],
    name: str,
    deriv: Callable[[Any, Any], Any],
    py_fn: Callable[[Any], Any] | None = None,
    saves: str = "all",
) -> Callable[[Any], Any]:
    """A one-argument primitive from its derivative ``deriv(x, out)``; returns its public
    function (the primitive is ``fn.primitive``). ``py_fn``: the function on a Python
    float (the ``math`` module's: a NumPy ufunc on a scalar costs ten times as much, and
    a chain of scalar operations is nothing but such calls). ``saves``: what ``deriv``
    reads (see :meth:`Primitive.saving`)."""
    prim = Primitive(np_fn, name).saving(saves)

    def scale(g: Any, out: Any, x: Any) -> Any:
        d = deriv(x, out)
        if type(d) is np.ndarray and type(g) is np.ndarray and d is not out and d is not x:
            # d is a temporary of this rule: reuse its memory for the product (one large
            # allocation less per step of a backward sweep)
            if d.shape == g.shape and d.dtype == np.result_type(g, d):
                return np.multiply(g, d, out=d)
        return g * d

    prim.defvjp(scale).defjvp(scale)
    prim.defbatch(elementwise_batch(prim))
    return unary_function(prim, np_fn, py_fn, traced_arraylike)


def _binary(
    np_fn: Callable[[Any, Any], Any],
    name: str,
    vjps: tuple[Callable[..., Any], Callable[..., Any]],
    jvps: tuple[Callable[..., Any], Callable[..., Any]],
    py_fn: Callable[[Any, Any], Any] | None = None,
    saves: str = "all",
) -> Callable[[Any, Any], Any]:
    """A two-argument primitive with its rules; returns its public function. ``py_fn``:
    Python's arithmetic, for two Python numbers one of which is a float."""
    prim = Primitive(np_fn, name).saving(saves)
    prim.defvjp(*vjps).defjvp(*jvps).defbatch(elementwise_batch(prim))
    return binary_function(prim, np_fn, py_fn, traced_arraylike)


def _py_sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # for x < 0 this form cannot overflow
    return e / (1.0 + e)


def _py_pow(x: float, y: float) -> float:
    if x < 0.0 and not float(y).is_integer():
        raise ValueError("complex result")  # NumPy gives nan
    return x**y


negative = _unary(np.negative, "negative", lambda x, out: -1.0, operator.neg, saves="shapes")

exp = _unary(np.exp, "exp", lambda x, out: out, math.exp, saves="out")
exp2 = _unary(np.exp2, "exp2", lambda x, out: out * _LN2, lambda x: 2.0**x, saves="out")
expm1 = _unary(np.expm1, "expm1", lambda x, out: out + 1.0, math.expm1, saves="out")
log = _unary(np.log, "log", lambda x, out: reciprocal(x), math.log, saves="args")
log2 = _unary(np.log2, "log2", lambda x, out: reciprocal(x * _LN2), math.log2, saves="args")
log10 = _unary(np.log10, "log10", lambda x, out: reciprocal(x * _LN10), math.log10, saves="args")
log1p = _unary(np.log1p, "log1p", lambda x, out: reciprocal(x + 1.0), math.log1p, saves="args")
sqrt = _unary(np.sqrt, "sqrt", lambda x, out: reciprocal(out * 2.0), math.sqrt, saves="out")
square = _unary(np.square, "square", lambda x, out: x * 2.0, lambda x: x * x, saves="args")


def _reciprocal(x: Any) -> Any:
    # numpy.reciprocal of an integer is integer division; tnp follows true division
    return np.reciprocal(x) if np.issubdtype(np.result_type(x), np.inexact) else 1.0 / x


reciprocal = _unary(
    _reciprocal, "reciprocal", lambda x, out: negative(out * out), lambda x: 1.0 / x, saves="out"
)
sin = _unary(np.sin, "sin", lambda x, out: cos(x), math.sin, saves="args")
cos = _unary(np.cos, "cos", lambda x, out: negative(sin(x)), math.cos, saves="args")
tan = _unary(np.tan, "tan", lambda x, out: out * out + 1.0, math.tan, saves="out")
arcsin = _unary(
    np.arcsin, "arcsin", lambda x, out: reciprocal(sqrt(1.0 - x * x)), math.asin, saves="args"
)
arccos = _unary(
    np.arccos,
    "arccos",
    lambda x, out: negative(reciprocal(sqrt(1.0 - x * x))),
    math.acos,
    saves="args",
)
arctan = _unary(
    np.arctan, "arctan", lambda x, out: reciprocal(x * x + 1.0), math.atan, saves="args"
)
arcsinh = _unary(
    np.arcsinh, "arcsinh", lambda x, out: reciprocal(sqrt(x * x + 1.0)), math.asinh, saves="args"
)
arctanh = _unary(
    np.arctanh, "arctanh", lambda x, out: reciprocal(1.0 - x * x), math.atanh, saves="args"
)
sinh = _unary(np.sinh, "sinh", lambda x, out: cosh(x), math.sinh, saves="args")
cosh = _unary(np.cosh, "cosh", lambda x, out: sinh(x), math.cosh, saves="args")


def _tanh_derivative(x: Any, out: Any) -> Any:
    return 1.0 - out * out


def _sigmoid_derivative(x: Any, out: Any) -> Any:
    return out * (1.0 - out)


def _relu_derivative(x: Any, out: Any) -> Any:
    # relu'(0) = 0 (docs/design.md; a maximum with 0 would split the tie): a constant mask
    return get_value(out) > 0


#: the activations whose derivative is a function of the output alone, as
#: ``derivative(x, out)`` (``x`` unused): what a fused layer applies once its forward pass
#: has overwritten the pre-activation (tracegrad.nn.functional.dense)
OUTPUT_DERIVATIVES: dict[str, Callable[[Any, Any], Any]] = {
    "tanh": _tanh_derivative,
    "sigmoid": _sigmoid_derivative,
    "relu": _relu_derivative,
}

tanh = _unary(np.tanh, "tanh", _tanh_derivative, math.tanh, saves="out")
# abs'(0) = 0: the sign of the primal value, which is itself piecewise constant.
abs = _unary(np.abs, "abs", lambda x, out: np.sign(get_value(x)), builtins.abs, saves="args")  # noqa: A001
absolute = abs


def _sigmoid_impl(x: Any) -> Any:
    # exp(-log(1 + exp(-x))) never overflows, at +-1000 as at 0.
    x = as_array(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.inexact) else np.float64
    return np.exp(-np.logaddexp(0.0, -x, dtype=dtype))[()]


sigmoid = _unary(_sigmoid_impl, "sigmoid", _sigmoid_derivative, _py_sigmoid, saves="out")


def _relu_impl(x: Any) -> Any:
    return np.maximum(x, 0)


relu = _unary(
    _relu_impl, "relu", _relu_derivative, lambda x: x if x > 0 or x != x else 0.0, saves="out"
)


def positive(x: Any) -> Any:
    """``+x`` (the identity)."""
    return x


add = _binary(
    np.add, "add",
    (lambda g, out, x, y: g, lambda g, out, x, y: g),
    (lambda t, out, x, y: t, lambda t, out, x, y: t),
    operator.add, saves="shapes",
)  # fmt: skip
subtract = _binary(
    np.subtract, "subtract",
    (lambda g, out, x, y: g, lambda g, out, x, y: negative(g)),
    (lambda t, out, x, y: t, lambda t, out, x, y: negative(t)),
    operator.sub, saves="shapes",
)  # fmt: skip
multiply = _binary(
    np.multiply, "multiply",
    (lambda g, out, x, y: g * y, lambda g, out, x, y: g * x),
    (lambda t, out, x, y: t * y, lambda t, out, x, y: x * t),
    operator.mul, saves="args",
)  # fmt: skip
divide = _binary(
    np.true_divide, "divide",
    (lambda g, out, x, y: g / y, lambda g, out, x, y: negative(g * out / y)),
    (lambda t, out, x, y: t / y, lambda t, out, x, y: negative(t * out / y)),
    operator.truediv,
)  # fmt: skip
true_divide = divide


def _safe_log(x: Any) -> Any:
    """log(x) where x > 0, else 0: the ∂/∂y of x**y where it exists."""
    pos = get_value(x) > 0
    return where(pos, log(where(pos, x, 1.0)), 0.0)


def _power_dx(x: Any, y: Any) -> Any:
    """∂/∂x of x**y, ``y · x**(y-1)``, and exactly 0 where ``y == 0`` (``x**0`` is
    constant), where the formula would give ``0 · inf`` at ``x = 0``. The exponent is
    replaced by 1 there before the power is taken, so that no NaN or inf reaches the
    masked branch: the rule differentiates again (to every order) without NaN."""
    if type(y) in PYTHON_SCALARS:  # the common case (x**3): no mask to build
        return y * power(x, y - 1.0) if y != 0 else 0.0 * x
    zero = plain(y) == 0
    y_safe = where(zero, 1.0, y)
    return where(zero, 0.0, y_safe * power(x, y_safe - 1.0))


power = _binary(
    np.power, "power",
    (lambda g, out, x, y: g * _power_dx(x, y), lambda g, out, x, y: g * out * _safe_log(x)),
    (lambda t, out, x, y: t * _power_dx(x, y), lambda t, out, x, y: t * out * _safe_log(x)),
    _py_pow,
)  # fmt: skip


def _tie_weights(x: Any, y: Any, greater: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weights of each operand in max/min: 1 for the winner, 1/2 each on a tie."""
    xv, yv = get_value(x), get_value(y)
    win = (xv > yv) if greater else (xv < yv)
    tie = xv == yv
    if type(win) is bool:  # two Python numbers: Python floats, as the values are
        wx = 1.0 if win else 0.5 if tie else 0.0
        return wx, 1.0 - wx
    dtype = np.result_type(xv, yv, np.float16)
    wx = (win + 0.5 * tie).astype(dtype)
    return wx, 1 - wx


def _extremum(np_fn: Callable[[Any, Any], Any], name: str, greater: bool) -> Callable:
    return _binary(
        np_fn, name,
        (lambda g, out, x, y: g * _tie_weights(x, y, greater)[0],
         lambda g, out, x, y: g * _tie_weights(x, y, greater)[1]),
        (lambda t, out, x, y: t * _tie_weights(x, y, greater)[0],
         lambda t, out, x, y: t * _tie_weights(x, y, greater)[1]),
        saves="args",
    )  # fmt: skip


maximum = _extremum(np.maximum, "maximum", True)
minimum = _extremum(np.minimum, "minimum", False)


def _remainder_dy(x: Any, y: Any) -> Any:
    return negative(np.floor_divide(get_value(x), get_value(y)))


remainder = _binary(
    np.remainder, "remainder",
    (lambda g, out, x, y: g, lambda g, out, x, y: g * _remainder_dy(x, y)),
    (lambda t, out, x, y: t, lambda t, out, x, y: t * _remainder_dy(x, y)),
    saves="args",
)  # fmt: skip


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
_where.defbatch(elementwise_batch(_where)).saving("shapes")


def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    """``numpy.where``; the condition carries no derivative. With one argument it
    returns the indices where ``condition`` holds, as NumPy does."""
    if x is None and y is None:  # indices: their number depends on the values
        return np.where(get_value(condition))
    condition = plain(condition)  # no derivative; a staged condition stays an argument
    if x is None or y is None:
        raise ValueError("where: either both or neither of x and y must be given")
    return _where(condition, x, y)
