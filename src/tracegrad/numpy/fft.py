"""``tracegrad.numpy.fft``: the real-valued part of ``numpy.fft``.

``fftshift``/``ifftshift`` are differentiable (gathers), ``fftfreq``/``rfftfreq``
NumPy's own. The transforms themselves have complex values, which tracegrad does not
support (see the README): they raise :class:`~tracegrad.numpy.NotDifferentiableError`
saying so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.numpy.arrays import _gather
from tracegrad.numpy.missing import NotDifferentiableError
from tracegrad.numpy.missing import missing_attribute as _missing_attribute

__all__ = ["fftfreq", "fftshift", "ifftshift", "rfftfreq"]

fftfreq = np.fft.fftfreq
rfftfreq = np.fft.rfftfreq


def fftshift(x: Any, axes: Any = None) -> Any:
    """Move the zero-frequency term to the centre (``numpy.fft.fftshift``)."""
    return _gather(x, lambda a: np.fft.fftshift(a, axes))


def ifftshift(x: Any, axes: Any = None) -> Any:
    """The inverse of :func:`fftshift`."""
    return _gather(x, lambda a: np.fft.ifftshift(a, axes))


_COMPLEX = frozenset(
    "fft ifft fft2 ifft2 fftn ifftn rfft irfft rfft2 irfft2 rfftn irfftn hfft ihfft".split()
)
_missing = _missing_attribute("tracegrad.numpy.fft", "numpy.fft")


def __getattr__(name: str) -> object:
    if name in _COMPLEX:
        raise NotDifferentiableError(
            f"numpy.fft.{name} is not differentiable in tracegrad: Fourier transforms have "
            "complex values, and tracegrad supports real numbers only. Write the transform "
            "with the real and imaginary parts of the DFT matrix as two real products, "
            "e.g. x @ numpy.cos(2 pi k n / N) and x @ -numpy.sin(2 pi k n / N)"
        )
    return _missing(name)


def __dir__() -> list[str]:
    return list(__all__)
