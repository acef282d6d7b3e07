"""Composites that fit nowhere else: clip."""

from __future__ import annotations

from typing import Any

from tracegrad.numpy.elementwise import where

__all__ = ["clip"]


def clip(x: Any, a_min: Any = None, a_max: Any = None) -> Any:
    """Limit values to ``[a_min, a_max]``; derivative 1 inside, and it flows to the
    bound where the bound is taken."""
    if a_min is None and a_max is None:
        raise ValueError("clip: give a_min, a_max or both")
    if a_min is not None:
        x = where(x < a_min, a_min, x)
    if a_max is not None:
        x = where(x > a_max, a_max, x)
    return x
