"""The error for a name that tracegrad.numpy (or one of its submodules) lacks."""

from __future__ import annotations

import importlib
from collections.abc import Callable

__all__ = ["NotDifferentiableError", "missing_attribute"]


class NotDifferentiableError(AttributeError):
    """A NumPy/SciPy function that tracegrad does not differentiate yet (an
    ``AttributeError``, so ``hasattr`` and ``getattr(mod, name, default)`` still work)."""


def missing_attribute(module: str, original: str) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``module`` (e.g. ``tracegrad.numpy.linalg``), the
    mirror of ``original`` (``numpy.linalg``): an unknown name raises
    :class:`NotDifferentiableError` naming the function and the way to add it."""

    def __getattr__(name: str) -> object:
        if name.startswith("_"):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        try:
            exists = hasattr(importlib.import_module(original), name)
        except ImportError:  # an optional extra (scipy) that is not installed
            exists = False
        if not exists:
            raise AttributeError(
                f"module {module!r} has no attribute {name!r} (nor has {original})"
            )
        raise NotDifferentiableError(
            f"{original}.{name} is not differentiable in tracegrad yet ({module} has no "
            f"{name!r}). Wrap it as your own primitive with its derivative: "
            f"f = tg.primitive({original}.{name}); tg.defvjp(f, lambda g, out, x: ...) "
            "(and tg.defjvp for forward mode), or call it on tg.stop_gradient(x) if no "
            "derivative is needed"
        )

    return __getattr__
