"""``tracegrad.scipy.stats``: the normal distribution's functions, differentiable in
``x``, ``loc`` and ``scale`` (``norm.logpdf``, ``pdf``, ``cdf``, ``logcdf``, ``sf``,
``logsf``, ``ppf``), as compositions of tracegrad.scipy.special."""

from __future__ import annotations

import math
from typing import Any

from tracegrad.numpy.elementwise import exp, log
from tracegrad.scipy.special import log_ndtr, ndtr, ndtri

__all__ = ["norm"]

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
