"""tracegrad.scipy: SciPy's differentiable functions (``special``, ``stats``,
``linalg``, ``signal``), as tracegrad.numpy is NumPy's.

SciPy is an optional extra (``pip install tracegrad[scipy]``): nothing here imports it
until a submodule is used, and ``import tracegrad`` never does.
"""

from __future__ import annotations

import importlib

__all__ = ["linalg", "signal", "special", "stats"]


def __getattr__(name: str) -> object:
    if name in __all__:
        return importlib.import_module(f"tracegrad.scipy.{name}")
    raise AttributeError(f"module 'tracegrad.scipy' has no attribute {name!r}")


def require_scipy(module: str) -> object:
    """``import module`` (a SciPy module), or an ImportError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - the test extra installs SciPy
        raise ImportError(
            f"tracegrad.scipy needs SciPy ({module}): pip install 'tracegrad[scipy]'"
        ) from e
