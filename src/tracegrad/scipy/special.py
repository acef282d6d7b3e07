"""``tracegrad.scipy.special``: error functions, gamma family, logistic functions,
``xlogy``/``xlog1py``, the normal distribution function, ``logsumexp`` and softmax.

Each primitive is SciPy's function with its derivative, which both modes share (see
:mod:`tracegrad.numpy.elementwise`). Conventions: ``xlogy(0, y)`` and
``xlog1py(0, y)`` are 0 with derivative 0 in ``y`` (and ``log(y)``, ``log1p(y)`` in
``x``); ``polygamma(n, x)`` is differentiable in ``x`` only (``n`` is an order);
``log_ndtr`` and ``log_expit`` stay finite far into the tails.
"""

from __future__ import annotations

import math
from typing import Any

from tracegrad.core.batching import elementwise_batch
from tracegrad.core.primitive import Primitive
from tracegrad.core.staging import plain
from tracegrad.numpy.elementwise import _binary, _unary, exp, log, log1p, sigmoid, where
from tracegrad.numpy.missing import missing_attribute
from tracegrad.numpy.reductions import logsumexp
from tracegrad.numpy.special import log_softmax, softmax
from tracegrad.numpy.ufuncs import logaddexp
from tracegrad.scipy import require_scipy

sp = require_scipy("scipy.special")

__all__ = [
    "digamma",
    "erf",
    "erfc",
    "erfcinv",
    "erfinv",
    "expit",
    "gamma",
    "gammaln",
    "log_expit",
    "log_ndtr",
    "log_softmax",
    "logit",
    "logsumexp",
    "ndtr",
    "ndtri",
    "polygamma",
    "psi",
    "softmax",
    "softplus",
    "xlog1py",
    "xlogy",
]

__getattr__ = missing_attribute("tracegrad.scipy.special", "scipy.special")

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


erf = _unary(
    sp.erf, "erf", lambda x, out: exp(-(x * x)) * _TWO_OVER_SQRT_PI, math.erf, saves="args"
)
erfc = _unary(
    sp.erfc, "erfc", lambda x, out: exp(-(x * x)) * -_TWO_OVER_SQRT_PI, math.erfc, saves="args"
)
erfinv = _unary(sp.erfinv, "erfinv", lambda x, out: exp(out * out) * _SQRT_PI_OVER_2, saves="out")
erfcinv = _unary(
    sp.erfcinv, "erfcinv", lambda x, out: exp(out * out) * -_SQRT_PI_OVER_2, saves="out"
)
ndtr = _unary(sp.ndtr, "ndtr", lambda x, out: exp(x * x * -0.5) * (1.0 / _SQRT_2PI), saves="args")
# d log Φ(x) = φ(x) / Φ(x) = exp(log φ(x) - log Φ(x)): finite deep in the left tail
log_ndtr = _unary(sp.log_ndtr, "log_ndtr", lambda x, out: exp(x * x * -0.5 - _LOG_SQRT_2PI - out))
ndtri = _unary(sp.ndtri, "ndtri", lambda x, out: exp(out * out * 0.5) * _SQRT_2PI, saves="out")
gammaln = _unary(sp.gammaln, "gammaln", lambda x, out: digamma(x), math.lgamma, saves="args")
gamma = _unary(sp.gamma, "gamma", lambda x, out: out * digamma(x), math.gamma)
digamma = _unary(sp.digamma, "digamma", lambda x, out: polygamma(1, x), saves="args")
psi = digamma


def _polygamma_impl(n: Any, x: Any) -> Any:
    return sp.polygamma(n, x)


_polygamma = Primitive(_polygamma_impl, "polygamma")
_polygamma.defvjp(None, lambda g, out, n, x: g * polygamma(n + 1, x))
_polygamma.defjvp(None, lambda t, out, n, x: t * polygamma(n + 1, x))
_polygamma.defbatch(elementwise_batch(_polygamma)).saving("args")


def polygamma(n: Any, x: Any) -> Any:
    """The ``n``-th derivative of ``digamma`` (``n`` an integer order, not differentiated)."""
    return _polygamma(plain(n), x)


expit = sigmoid


def logit(p: Any) -> Any:
    """``log(p / (1 - p))``, the inverse of ``expit``."""
    return log(p) - log1p(-p)


def log_expit(x: Any) -> Any:
    """``log(expit(x)) = -softplus(-x)``: finite for large ``|x|``."""
    return -softplus(-x)


def softplus(x: Any) -> Any:
    """``log(1 + exp(x))``, as ``logaddexp(0, x)``: no overflow; derivative ``expit(x)``."""
    return logaddexp(0.0, x)


def _xlog_dy(x: Any, y: Any, shift: float) -> Any:
    """``x / (y + shift)``, and 0 where ``x == 0`` (there the function is 0 for all y)."""
    zero = plain(x) == 0
    return where(zero, 0.0, x / where(zero, 1.0, y + shift))


xlogy = _binary(
    sp.xlogy, "xlogy",
    (lambda g, out, x, y: g * log(y), lambda g, out, x, y: g * _xlog_dy(x, y, 0.0)),
    (lambda t, out, x, y: t * log(y), lambda t, out, x, y: t * _xlog_dy(x, y, 0.0)),
    saves="args",
)  # fmt: skip
xlog1py = _binary(
    sp.xlog1py, "xlog1py",
    (lambda g, out, x, y: g * log1p(y), lambda g, out, x, y: g * _xlog_dy(x, y, 1.0)),
    (lambda t, out, x, y: t * log1p(y), lambda t, out, x, y: t * _xlog_dy(x, y, 1.0)),
    saves="args",
)  # fmt: skip
