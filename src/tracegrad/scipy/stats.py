"""``tracegrad.scipy.stats``: distributions' densities and distribution functions as
compositions of tracegrad.scipy.special, differentiable in ``x``, ``loc``, ``scale``
and, for densities, in the shape parameters (distribution functions are differentiable
in ``x``, ``loc``, ``scale`` and, for ``poisson.cdf``, in ``mu``).

``norm`` (logpdf pdf cdf logcdf sf logsf ppf), ``t``, ``chi2``, ``gamma``, ``beta``
(logpdf pdf cdf), ``poisson`` (logpmf pmf cdf), ``multivariate_normal`` (logpdf pdf
entropy, from a Cholesky factor of ``cov``), ``dirichlet`` (logpdf pdf).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tracegrad.core.shapes import reshape, sum
from tracegrad.numpy.elementwise import exp, log, log1p
from tracegrad.numpy.linalg import cholesky
from tracegrad.numpy.shape import transpose
from tracegrad.scipy.linalg import solve_triangular
from tracegrad.scipy.special import (
    betainc,
    betaln,
    gammainc,
    gammaincc,
    gammaln,
    log_ndtr,
    ndtr,
    ndtri,
    stdtr,
    xlog1py,
    xlogy,
)

__all__ = ["beta", "chi2", "dirichlet", "gamma", "multivariate_normal", "norm", "poisson", "t"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class _Normal:
    """``scipy.stats.norm``'s functions of ``(x, loc=0, scale=1)``."""

    @staticmethod
    def logpdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        return z * z * -0.5 - log(scale) - _LOG_SQRT_2PI

    def pdf(self, x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return exp(self.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return ndtr((x - loc) / scale)

    @staticmethod
    def logcdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return log_ndtr((x - loc) / scale)

    @staticmethod
    def sf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return ndtr((loc - x) / scale)

    @staticmethod
    def logsf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return log_ndtr((loc - x) / scale)

    @staticmethod
    def ppf(q: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return loc + scale * ndtri(q)

    def __repr__(self) -> str:
        return "tracegrad.scipy.stats.norm"


norm = _Normal()


class _Density:
    """``pdf = exp(logpdf)``, ``logcdf = log(cdf)`` for a distribution class."""

    def pdf(self, *args: Any, **kw: Any) -> Any:
        return exp(self.logpdf(*args, **kw))

    def logcdf(self, *args: Any, **kw: Any) -> Any:
        return log(self.cdf(*args, **kw))


class _StudentT(_Density):
    """``scipy.stats.t``'s functions of ``(x, df, loc=0, scale=1)``."""

    @staticmethod
    def logpdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        log_norm = gammaln((df + 1.0) * 0.5) - gammaln(df * 0.5) - 0.5 * log(df * math.pi)
        return log_norm - (df + 1.0) * 0.5 * log1p(z * z / df) - log(scale)

    @staticmethod
    def cdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return stdtr(df, (x - loc) / scale)


class _Chi2(_Density):
    """``scipy.stats.chi2``'s functions of ``(x, df)``."""

    @staticmethod
    def logpdf(x: Any, df: Any) -> Any:
        k = df * 0.5
        return xlogy(k - 1.0, x) - x * 0.5 - k * math.log(2.0) - gammaln(k)

    @staticmethod
    def cdf(x: Any, df: Any) -> Any:
        return gammainc(df * 0.5, x * 0.5)


class _Gamma(_Density):
    """``scipy.stats.gamma``'s functions of ``(x, a, loc=0, scale=1)``."""

    @staticmethod
    def logpdf(x: Any, a: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        return xlogy(a - 1.0, z) - z - gammaln(a) - log(scale)

    @staticmethod
    def cdf(x: Any, a: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return gammainc(a, (x - loc) / scale)


class _Beta(_Density):
    """``scipy.stats.beta``'s functions of ``(x, a, b, loc=0, scale=1)``."""

    @staticmethod
    def logpdf(x: Any, a: Any, b: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        return xlogy(a - 1.0, z) + xlog1py(b - 1.0, -z) - betaln(a, b) - log(scale)

    @staticmethod
    def cdf(x: Any, a: Any, b: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return betainc(a, b, (x - loc) / scale)


class _Poisson:
    """``scipy.stats.poisson``'s functions of ``(k, mu)``: differentiable in ``mu``."""

    @staticmethod
    def logpmf(k: Any, mu: Any) -> Any:
        return xlogy(k, mu) - mu - gammaln(k + 1.0)

    def pmf(self, k: Any, mu: Any) -> Any:
        return exp(self.logpmf(k, mu))

    @staticmethod
    def cdf(k: Any, mu: Any) -> Any:
        return gammaincc(np.floor(k) + 1.0, mu)


class _MultivariateNormal:
    """``scipy.stats.multivariate_normal``'s ``logpdf``, ``pdf``, ``entropy`` of
    ``(x, mean, cov)`` for a positive definite ``cov`` (``x`` may be a stack of points on
    its leading axes)."""

    @staticmethod
    def logpdf(x: Any, mean: Any = None, cov: Any = 1.0, allow_singular: bool = False) -> Any:
        if allow_singular:
            raise NotImplementedError("multivariate_normal: allow_singular=True is not supported")
        d = np.shape(x)[-1]
        cov = cov * np.eye(d) if np.ndim(cov) == 0 else cov
        chol = cholesky(cov)
        diff = x if mean is None else x - mean
        # whiten: L⁻¹ (x - mean) for every point (the points are columns of one solve)
        flat = reshape(diff, (-1, d))
        w = solve_triangular(chol, transpose(flat), lower=True)
        maha = sum(w * w, axis=0)
        half_logdet = sum(log(chol[np.arange(d), np.arange(d)]))
        out = maha * -0.5 - half_logdet - d * _LOG_SQRT_2PI
        return reshape(out, np.shape(diff)[:-1])

    def pdf(self, x: Any, mean: Any = None, cov: Any = 1.0, allow_singular: bool = False) -> Any:
        return exp(self.logpdf(x, mean, cov, allow_singular))

    @staticmethod
    def entropy(mean: Any = None, cov: Any = 1.0) -> Any:
        d = np.shape(cov)[-1]
        chol = cholesky(cov)
        return sum(log(chol[np.arange(d), np.arange(d)])) + d * (0.5 + _LOG_SQRT_2PI)


class _Dirichlet:
    """``scipy.stats.dirichlet``'s ``logpdf`` and ``pdf`` of ``(x, alpha)``."""

    @staticmethod
    def logpdf(x: Any, alpha: Any) -> Any:
        log_norm = sum(gammaln(alpha), axis=-1) - gammaln(sum(alpha, axis=-1))
        return sum(xlogy(alpha - 1.0, x), axis=0) - log_norm

    def pdf(self, x: Any, alpha: Any) -> Any:
        return exp(self.logpdf(x, alpha))


t = _StudentT()
chi2 = _Chi2()
gamma = _Gamma()
beta = _Beta()
poisson = _Poisson()
multivariate_normal = _MultivariateNormal()
dirichlet = _Dirichlet()
