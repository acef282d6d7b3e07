"""More elementwise functions: inverse hyperbolics, roots, angle units, ``logaddexp``,
``arctan2``, ``hypot``, ``sinc``, NaN-aware extremes and the real-number views.

Primitives are built as in :mod:`elementwise` (one derivative for both modes); the rest
are exact compositions of primitives. Conventions at singular points:

- ``sinc(0) = 1`` with its derivatives at 0 from the Maclaurin series (``sinc'(0) = 0``,
  ``sinc''(0) = -π²/3``), exact to fourth order there.
- ``logaddexp(x, y)`` has derivative ``exp(x - out)``; where both are the same infinity
  it splits evenly (1/2 each), and at ``x = +inf > y`` all of it goes to ``x``: no NaN
  at ±inf.
- ``hypot`` and ``arctan2`` at ``(0, 0)``: undefined (NaN), as ``norm`` at 0.
- ``fmax``/``fmin`` pass the derivative to the non-NaN argument, ties split evenly.
- ``real``, ``conj`` are the identity and ``imag`` is zero: values are real (complex
  numbers are not supported).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tracegrad.core.staging import call_plain, plain
from tracegrad.numpy.box_methods import astype
from tracegrad.numpy.creation import traced_arraylike
from tracegrad.numpy.elementwise import (
    _binary,
    _unary,
    abs,
    cos,
    exp,
    exp2,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    reciprocal,
    remainder,
    sqrt,
    where,
)
from tracegrad.numpy.nondiff import floor_divide, isinf, isnan, signbit, trunc

__all__ = [
    "arccosh",
    "divmod",
    "fmod",
    "frexp",
    "ldexp",
    "modf",
    "unwrap",
    "arctan2",
    "cbrt",
    "conj",
    "conjugate",
    "copysign",
    "deg2rad",
    "degrees",
    "fabs",
    "float_power",
    "fmax",
    "fmin",
    "heaviside",
    "hypot",
    "imag",
    "logaddexp",
    "logaddexp2",
    "nan_to_num",
    "rad2deg",
    "radians",
    "real",
    "sinc",
]

_LN2 = math.log(2.0)

arccosh = _unary(
    np.arccosh, "arccosh", lambda x, out: reciprocal(sqrt(x * x - 1.0)), math.acosh, saves="args"
)
cbrt = _unary(np.cbrt, "cbrt", lambda x, out: reciprocal(out * out * 3.0), saves="out")


def _sinc_deriv(x: Any, out: Any) -> Any:
    """sinc'(x) = (cos(πx) - sinc(x)) / x; near 0 its Maclaurin series
    -(π²/3) x + (π⁴/30) x³, whose own derivatives at 0 are sinc's."""
    small = abs(plain(x)) < 1e-3
    series = x * (-(math.pi**2) / 3.0) + x * x * x * (math.pi**4 / 30.0)
    x_safe = where(small, 1.0, x)
    exact = (cos(x_safe * math.pi) - sinc(x_safe)) / x_safe
    return where(small, series, exact)


sinc = _unary(np.sinc, "sinc", _sinc_deriv)


def _logaddexp_weight(x: Any, y: Any, out: Any, base_e: bool) -> Any:
    """∂ logaddexp(x, y) / ∂x = exp(x - out); 1/2 where x == y, 1 where x == out = inf."""
    xv, yv, ov = plain(x), plain(y), plain(out)
    # only at infinities does exp(x - out) fail (inf - inf); elsewhere it is exact, ties
    # included, to every order
    infinite = isinf(xv)
    tie = (xv == yv) & infinite
    at_inf = (xv == ov) & infinite  # x = out = +inf with y < inf
    with np.errstate(invalid="ignore"):  # inf - inf in the masked-out positions
        diff = where(tie | at_inf, 0.0, x - out)
    w = exp(diff) if base_e else exp2(diff)
    return where(tie, 0.5, where(at_inf, 1.0, w))


def _logaddexp(np_fn: Any, name: str, base_e: bool) -> Any:
    wx = lambda x, y, out: _logaddexp_weight(x, y, out, base_e)
    wy = lambda x, y, out: _logaddexp_weight(y, x, out, base_e)
    return _binary(
        np_fn, name,
        (lambda g, out, x, y: g * wx(x, y, out), lambda g, out, x, y: g * wy(x, y, out)),
        (lambda t, out, x, y: t * wx(x, y, out), lambda t, out, x, y: t * wy(x, y, out)),
    )  # fmt: skip


logaddexp = _logaddexp(np.logaddexp, "logaddexp", True)
logaddexp2 = _logaddexp(np.logaddexp2, "logaddexp2", False)


def _atan2_scale(x: Any, y: Any) -> Any:
    return reciprocal(x * x + y * y)


# arctan2(y, x): ∂/∂y = x / (x² + y²), ∂/∂x = -y / (x² + y²)
arctan2 = _binary(
    np.arctan2, "arctan2",
    (lambda g, out, y, x: g * x * _atan2_scale(x, y),
     lambda g, out, y, x: negative(g * y * _atan2_scale(x, y))),
    (lambda t, out, y, x: t * x * _atan2_scale(x, y),
     lambda t, out, y, x: negative(t * y * _atan2_scale(x, y))),
    math.atan2, saves="args",
)  # fmt: skip

hypot = _binary(
    np.hypot, "hypot",
    (lambda g, out, x, y: g * x / out, lambda g, out, x, y: g * y / out),
    (lambda t, out, x, y: t * x / out, lambda t, out, x, y: t * y / out),
    math.hypot,
)  # fmt: skip

fabs = abs


def copysign(x: Any, y: Any) -> Any:
    """``|x|`` with the sign of ``y`` (differentiable in ``x``; ``y`` gives only a sign)."""
    return abs(x) * where(signbit(y), -1.0, 1.0)


def deg2rad(x: Any) -> Any:
    """Degrees to radians, ``x · π/180``."""
    return x * (math.pi / 180.0)


def rad2deg(x: Any) -> Any:
    """Radians to degrees, ``x · 180/π``."""
    return x * (180.0 / math.pi)


radians, degrees = deg2rad, rad2deg


def float_power(x: Any, y: Any) -> Any:
    """``power`` computed in float64, as ``numpy.float_power``."""
    return power(astype(traced_arraylike(x), np.float64), astype(traced_arraylike(y), np.float64))


def _nan_aware(extreme: Any, x: Any, y: Any) -> Any:
    """``extreme(x, y)``, except that a NaN on one side gives the other side."""
    x, y = traced_arraylike(x), traced_arraylike(y)
    return where(isnan(y), x, where(isnan(x), y, extreme(x, y)))


def fmax(x: Any, y: Any) -> Any:
    """Elementwise maximum that ignores NaNs (``numpy.fmax``)."""
    return _nan_aware(maximum, x, y)


def fmin(x: Any, y: Any) -> Any:
    """Elementwise minimum that ignores NaNs (``numpy.fmin``)."""
    return _nan_aware(minimum, x, y)


def heaviside(x: Any, h0: Any) -> Any:
    """0 for ``x < 0``, ``h0`` at 0, 1 for ``x > 0``: zero derivative in ``x``, and
    differentiable in ``h0``."""
    xv = plain(x)
    return where(xv == 0, h0, where(xv > 0, 1.0, 0.0))


def nan_to_num(
    x: Any, copy: bool = True, nan: float = 0.0, posinf: float | None = None,
    neginf: float | None = None,
) -> Any:  # fmt: skip
    """NaN and ±inf replaced by finite numbers (there the derivative is 0)."""
    xv = plain(x)
    finfo = np.finfo(np.result_type(getattr(xv, "dtype", np.float64), np.float16))
    posinf = finfo.max if posinf is None else posinf
    neginf = finfo.min if neginf is None else neginf
    out = where(isnan(xv), nan, x)
    out = where(xv == np.inf, posinf, out)
    return where(xv == -np.inf, neginf, out)


def real(x: Any) -> Any:
    """The real part: the value itself (tracegrad's values are real)."""
    return x


def imag(x: Any) -> Any:
    """The imaginary part of a real value: zeros of its shape."""
    return multiply(x, 0.0)


conj = conjugate = real


def fmod(x: Any, y: Any) -> Any:
    """C's remainder ``x - y · trunc(x / y)`` (the sign of ``x``); the quotient carries
    no derivative, so ``∂/∂x = 1`` and ``∂/∂y = -trunc(x / y)`` between the jumps."""
    x, y = traced_arraylike(x), traced_arraylike(y)
    return x - y * trunc(_quotient(x, y))


def _quotient(x: Any, y: Any) -> Any:
    return call_plain(np.true_divide, (x, y))


def divmod(x: Any, y: Any) -> tuple[Any, Any]:  # noqa: A001
    """``(floor_divide(x, y), remainder(x, y))``; the quotient has no derivative."""
    return floor_divide(x, y), remainder(traced_arraylike(x), traced_arraylike(y))


def modf(x: Any) -> tuple[Any, Any]:
    """``(fractional part, integral part)``: ``x - trunc(x)`` (derivative 1) and
    ``trunc(x)`` (none)."""
    x = traced_arraylike(x)
    whole = trunc(x)
    return x - whole, whole


def frexp(x: Any) -> tuple[Any, Any]:
    """``(mantissa, exponent)`` with ``x = mantissa · 2**exponent``: the mantissa is
    ``x / 2**exponent`` (differentiable), the integer exponent has no derivative."""
    x = traced_arraylike(x)
    _, exponent = call_plain(np.frexp, (x,))
    return x * exp2(-exponent), exponent


def ldexp(x: Any, i: Any) -> Any:
    """``x · 2**i`` for integer ``i`` (differentiable in ``x``)."""
    return traced_arraylike(x) * call_plain(np.ldexp, (1.0, i))


def unwrap(p: Any, discont: Any = None, axis: int = -1, *, period: float = 2 * math.pi) -> Any:
    """``p`` with jumps larger than ``discont`` replaced by their ``period``
    complement: the added multiples of the period are constants, so the derivative
    is 1."""
    p = traced_arraylike(p)
    shift = call_plain(lambda v: np.unwrap(v, discont, axis, period=period) - v, (p,))
    return p + shift
