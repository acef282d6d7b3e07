"""``tracegrad.scipy.special``: error functions, gamma and beta families, Bessel
functions, logistic functions, ``xlogy``/``xlog1py``, the normal and Student t
distribution functions, ``logsumexp`` and softmax.

Each primitive is SciPy's function with its derivative, which both modes share (see
:mod:`tracegrad.numpy.elementwise`). Conventions: ``xlogy(0, y)`` and
``xlog1py(0, y)`` are 0 with derivative 0 in ``y`` (and ``log(y)``, ``log1p(y)`` in
``x``); ``polygamma(n, x)``, the Bessel functions ``jv(v, x)`` ... and the incomplete
functions ``gammainc(a, x)``, ``betainc(a, b, x)``, ``stdtr(df, t)`` are
differentiable in their last argument only (orders and shape parameters are not);
``log_ndtr`` and ``log_expit`` stay finite far into the tails.
"""

from __future__ import annotations

import math
from typing import Any

from tracegrad.core.batching import elementwise_batch
from tracegrad.core.primitive import Primitive
from tracegrad.core.staging import call_plain, plain
from tracegrad.numpy.elementwise import (
    _binary,
    _unary,
    cos,
    exp,
    expm1,
    log,
    log1p,
    power,
    sigmoid,
    sin,
    where,
)
from tracegrad.numpy.missing import missing_attribute
from tracegrad.numpy.nondiff import logical_and, sign
from tracegrad.numpy.reductions import logsumexp
from tracegrad.numpy.special import log_softmax, softmax
from tracegrad.numpy.ufuncs import logaddexp, sinc
from tracegrad.scipy import require_scipy
from tracegrad.traces.registry import GENERIC, display

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
    "beta",
    "betainc",
    "betaln",
    "gammainc",
    "gammaincc",
    "gammasgn",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "iv",
    "ive",
    "j0",
    "j1",
    "jn",
    "jv",
    "kv",
    "multigammaln",
    "rgamma",
    "stdtr",
    "y0",
    "y1",
    "yn",
    "yv",
    "bernoulli",
    "boxcox",
    "boxcox1p",
    "comb",
    "dawsn",
    "entr",
    "erfcx",
    "exp1",
    "expi",
    "expn",
    "factorial",
    "fresnel",
    "hyp1f1",
    "hyp2f1",
    "kl_div",
    "loggamma",
    "owens_t",
    "poch",
    "rel_entr",
    "sici",
    "spence",
    "zeta",
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


# --- beta family ----------------------------------------------------------------------


def betaln(a: Any, b: Any) -> Any:
    """``log |B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b)``."""
    return gammaln(a) + gammaln(b) - gammaln(a + b)


def beta(a: Any, b: Any) -> Any:
    """``B(a, b) = Γ(a) Γ(b) / Γ(a + b)`` (positive arguments)."""
    return exp(betaln(a, b))


def rgamma(x: Any) -> Any:
    """``1 / Γ(x)``."""
    return 1.0 / gamma(x)


def multigammaln(a: Any, d: int) -> Any:
    """The multivariate log-gamma ``log Γ_d(a)``."""
    out = d * (d - 1) / 4.0 * math.log(math.pi)
    for j in range(d):
        out = out + gammaln(a - j / 2.0)
    return out


def gammasgn(x: Any) -> Any:
    """The sign of ``Γ(x)`` (piecewise constant: no derivative)."""
    return call_plain(sp.gammasgn, (x,))


# --- functions of an order or shape parameter and x: differentiable in x ----------------


def _last_argument(fn: Any, name: str, dx: Any, nparams: int = 1) -> Primitive:
    """A primitive ``fn(*params, x)`` whose derivative in ``x`` is ``dx(*params, x, out)``;
    the ``nparams`` parameters (orders, shapes) carry none."""

    def impl(*args: Any) -> Any:
        return fn(*args)

    prim = Primitive(impl, name)
    prim.defvjp(*[None] * nparams, lambda g, out, *args: g * dx(*args, out))
    prim.defjvp(*[None] * nparams, lambda t, out, *args: t * dx(*args, out))
    prim.defbatch(elementwise_batch(prim)).saving("all")
    return prim


def _params(prim: Primitive) -> Any:
    def call(*args: Any) -> Any:
        return prim(*[plain(a) for a in args[:-1]], args[-1])

    call.__name__ = prim.name
    call.__doc__ = f"``scipy.special.{prim.name}``, differentiable in its last argument."
    call.primitive = prim  # type: ignore[attr-defined]
    return call


jv = _params(_last_argument(sp.jv, "jv", lambda v, x, out: (jv(v - 1, x) - jv(v + 1, x)) * 0.5))
yv = _params(_last_argument(sp.yv, "yv", lambda v, x, out: (yv(v - 1, x) - yv(v + 1, x)) * 0.5))
iv = _params(_last_argument(sp.iv, "iv", lambda v, x, out: (iv(v - 1, x) + iv(v + 1, x)) * 0.5))
kv = _params(_last_argument(sp.kv, "kv", lambda v, x, out: (kv(v - 1, x) + kv(v + 1, x)) * -0.5))
# ive = iv · exp(-|x|)
ive = _params(
    _last_argument(
        sp.ive, "ive",
        lambda v, x, out: (ive(v - 1, x) + ive(v + 1, x)) * 0.5 - sign(x) * ive(v, x),
    )
)  # fmt: skip
jn, yn = jv, yv

j0 = _unary(sp.j0, "j0", lambda x, out: -j1(x), saves="args")
j1 = _unary(sp.j1, "j1", lambda x, out: (j0(x) - jv(2, x)) * 0.5, saves="args")
y0 = _unary(sp.y0, "y0", lambda x, out: -y1(x), saves="args")
y1 = _unary(sp.y1, "y1", lambda x, out: (y0(x) - yv(2, x)) * 0.5, saves="args")
i0 = _unary(sp.i0, "i0", lambda x, out: i1(x), saves="args")
i1 = _unary(sp.i1, "i1", lambda x, out: (i0(x) + iv(2, x)) * 0.5, saves="args")
i0e = _unary(sp.i0e, "i0e", lambda x, out: i1e(x) - sign(x) * out)
i1e = _unary(sp.i1e, "i1e", lambda x, out: (i0e(x) + ive(2, x)) * 0.5 - sign(x) * out)


def _gammainc_dx(a: Any, x: Any, out: Any) -> Any:
    # the integrand of the regularised lower incomplete gamma function at x
    return exp(xlogy(a - 1.0, x) - x - gammaln(a))


gammainc = _params(_last_argument(sp.gammainc, "gammainc", _gammainc_dx))
gammaincc = _params(
    _last_argument(sp.gammaincc, "gammaincc", lambda a, x, out: -_gammainc_dx(a, x, out))
)
betainc = _params(
    _last_argument(
        sp.betainc, "betainc",
        lambda a, b, x, out: exp(xlogy(a - 1.0, x) + xlog1py(b - 1.0, -x) - betaln(a, b)),
        nparams=2,
    )
)  # fmt: skip


def _stdtr_dt(df: Any, t: Any, out: Any) -> Any:
    # Student t density with df degrees of freedom
    log_norm = gammaln((df + 1.0) * 0.5) - gammaln(df * 0.5) - 0.5 * log(df * math.pi)
    return exp(log_norm - (df + 1.0) * 0.5 * log1p(t * t / df))


stdtr = _params(_last_argument(sp.stdtr, "stdtr", _stdtr_dt))


# --- more special functions -------------------------------------------------------------

erfcx = _unary(sp.erfcx, "erfcx", lambda x, out: x * out * 2.0 - _TWO_OVER_SQRT_PI)
dawsn = _unary(sp.dawsn, "dawsn", lambda x, out: 1.0 - x * out * 2.0)
exp1 = _unary(sp.exp1, "exp1", lambda x, out: -exp(-x) / x, saves="args")
expi = _unary(sp.expi, "expi", lambda x, out: exp(x) / x, saves="args")
# spence(z) = ∫_1^z log(t) / (1 - t) dt
spence = _unary(sp.spence, "spence", lambda x, out: log(x) / (1.0 - x), saves="args")
expn = _params(_last_argument(sp.expn, "expn", lambda n, x, out: -expn(n - 1, x)))
# d/dq zeta(x, q) = -x zeta(x + 1, q); the order x is not differentiated
zeta = _params(_last_argument(sp.zeta, "zeta", lambda x, q, out: -x * zeta(x + 1.0, q)))
hyp1f1 = _params(
    _last_argument(
        sp.hyp1f1, "hyp1f1", lambda a, b, x, out: a / b * hyp1f1(a + 1, b + 1, x), nparams=2
    )
)
hyp2f1 = _params(
    _last_argument(
        sp.hyp2f1, "hyp2f1",
        lambda a, b, c, z, out: a * b / c * hyp2f1(a + 1, b + 1, c + 1, z),
        nparams=3,
    )
)  # fmt: skip


def _sin_integral(x: Any) -> Any:
    return sp.sici(x)[0]


def _cos_integral(x: Any) -> Any:
    return sp.sici(x)[1]


_si = _unary(_sin_integral, "si", lambda x, out: sinc(x * (1.0 / math.pi)), saves="args")
_ci = _unary(_cos_integral, "ci", lambda x, out: cos(x) / x, saves="args")


def sici(x: Any) -> tuple[Any, Any]:
    """``(Si(x), Ci(x))``: ``Si' = sin(x) / x``, ``Ci' = cos(x) / x``."""
    return _si(x), _ci(x)


def _fresnel_s_impl(x: Any) -> Any:
    return sp.fresnel(x)[0]


def _fresnel_c_impl(x: Any) -> Any:
    return sp.fresnel(x)[1]


_fresnel_s = _unary(
    _fresnel_s_impl, "fresnel_s", lambda x, out: sin(x * x * (math.pi / 2)), saves="args"
)
_fresnel_c = _unary(
    _fresnel_c_impl, "fresnel_c", lambda x, out: cos(x * x * (math.pi / 2)), saves="args"
)


def fresnel(x: Any) -> tuple[Any, Any]:
    """``(S(x), C(x))``, the Fresnel integrals of ``sin(πt²/2)`` and ``cos(πt²/2)``."""
    return _fresnel_s(x), _fresnel_c(x)


def _owens_t_dh(h: Any, a: Any) -> Any:
    # -φ(h) erf(a h / √2) / 2
    return exp(h * h * -0.5) * (-0.5 / _SQRT_2PI) * erf(a * h * (1.0 / math.sqrt(2.0)))


def _owens_t_da(h: Any, a: Any) -> Any:
    return exp(h * h * (1.0 + a * a) * -0.5) / ((1.0 + a * a) * (2.0 * math.pi))


owens_t = _binary(
    sp.owens_t, "owens_t",
    (lambda g, out, h, a: g * _owens_t_dh(h, a), lambda g, out, h, a: g * _owens_t_da(h, a)),
    (lambda t, out, h, a: t * _owens_t_dh(h, a), lambda t, out, h, a: t * _owens_t_da(h, a)),
    saves="args",
)  # fmt: skip


def loggamma(x: Any) -> Any:
    """``log Γ(x)`` of real ``x > 0`` (where it equals ``gammaln``; complex values
    elsewhere are not supported)."""
    return gammaln(x)


def entr(x: Any) -> Any:
    """``-x log x`` (0 at 0)."""
    return -xlogy(x, x)


def rel_entr(x: Any, y: Any) -> Any:
    """``x log(x / y)`` (0 where ``x == 0``), for ``x, y >= 0``."""
    return xlogy(x, x) - xlogy(x, y)


def kl_div(x: Any, y: Any) -> Any:
    """``x log(x / y) - x + y``, for ``x, y >= 0``."""
    return rel_entr(x, y) - x + y


def boxcox(x: Any, lmbda: Any) -> Any:
    """``(x**λ - 1) / λ``, and ``log x`` where ``λ == 0``."""
    zero = plain(lmbda) == 0
    safe = where(zero, 1.0, lmbda)
    return where(zero, log(x), (power(x, safe) - 1.0) / safe)


def boxcox1p(x: Any, lmbda: Any) -> Any:
    """``boxcox(1 + x, λ)``, accurate for small ``x``."""
    zero = plain(lmbda) == 0
    safe = where(zero, 1.0, lmbda)
    return where(zero, log1p(x), expm1(log1p(x) * safe) / safe)


def poch(z: Any, m: Any) -> Any:
    """The rising factorial ``Γ(z + m) / Γ(z)`` (positive arguments)."""
    return exp(gammaln(z + m) - gammaln(z))


def factorial(n: Any, exact: bool = False) -> Any:
    """``Γ(n + 1)`` (0 for negative ``n``), differentiable in ``n``."""
    if exact:
        return call_plain(sp.factorial, (n,), {"exact": True})
    return where(plain(n) < 0, 0.0, gamma(n + 1.0))


def comb(n: Any, k: Any, exact: bool = False) -> Any:
    """``n! / (k! (n - k)!)`` through ``gammaln`` (0 outside ``0 <= k <= n``)."""
    if exact:
        return call_plain(sp.comb, (n, k), {"exact": True})
    nv, kv_ = plain(n), plain(k)
    valid = logical_and(kv_ >= 0, nv >= kv_)
    safe_n, safe_k = where(valid, n, 1.0), where(valid, k, 0.0)
    value = exp(gammaln(safe_n + 1.0) - gammaln(safe_k + 1.0) - gammaln(safe_n - safe_k + 1.0))
    return where(valid, value, 0.0)


def bernoulli(n: int) -> Any:
    """The Bernoulli numbers ``B_0 ... B_n`` (constants)."""
    return sp.bernoulli(n)


# Trace tables show these as functions with the generic ∂v_j/∂v_k (no short formula).
for _fn in (
    erf,
    erfc,
    erfinv,
    erfcinv,
    ndtr,
    log_ndtr,
    ndtri,
    gammaln,
    gamma,
    digamma,
    _polygamma,
    xlogy,
    xlog1py,
    jv,
    yv,
    iv,
    kv,
    ive,
    j0,
    j1,
    y0,
    y1,
    i0,
    i1,
    i0e,
    i1e,
    gammainc,
    gammaincc,
    betainc,
    stdtr,
    erfcx,
    dawsn,
    exp1,
    expi,
    spence,
    expn,
    zeta,
    hyp1f1,
    hyp2f1,
    _si,
    _ci,
    _fresnel_s,
    _fresnel_c,
    owens_t,
):
    display(_fn, partials=GENERIC)
del _fn
