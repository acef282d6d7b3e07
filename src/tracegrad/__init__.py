"""tracegrad: forward- and reverse-mode automatic differentiation of NumPy code.

>>> import tracegrad as tg
>>> import tracegrad.numpy as tnp
>>> f = lambda x1, x2: tnp.log(x1) + x1 * x2 - tnp.sin(x2)
>>> [round(float(g), 3) for g in tg.grad(f, argnums=(0, 1))(2.0, 5.0)]
[5.5, 1.716]
"""

from tracegrad import nn, numpy, optim
from tracegrad._version import __version__
from tracegrad.core import tree
from tracegrad.core.primitive import Primitive, ShapeError
from tracegrad.traces import EvaluationTrace, trace
from tracegrad.train import fit
from tracegrad.transforms import (
    JitFallbackWarning,
    check_grads,
    checkpoint,
    custom_jvp,
    custom_vjp,
    defjvp,
    defvjp,
    defvjp_joint,
    grad,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jacrev,
    jit,
    jvp,
    linearize,
    numerical_grad,
    primitive,
    stop_gradient,
    value_and_grad,
    vjp,
    vmap,
)

# Submodules with optional dependencies load on first use: ``tg.sklearn`` needs
# scikit-learn, ``tg.scipy`` SciPy, ``tg.plots`` matplotlib, and ``import tracegrad`` must
# stay NumPy-only and fast.
_LAZY_SUBMODULES = ("datasets", "plots", "scipy", "sklearn")


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"tracegrad.{name}")
    if name == "Trace":  # the table class's name until 0.2; a Trace is a transformation
        import warnings

        warnings.warn(
            "tg.Trace is deprecated: the evaluation-trace table is tg.EvaluationTrace",
            DeprecationWarning,
            stacklevel=2,
        )
        return EvaluationTrace
    raise AttributeError(f"module 'tracegrad' has no attribute {name!r}")


__all__ = [
    "EvaluationTrace",
    "JitFallbackWarning",
    "Primitive",
    "ShapeError",
    "__version__",
    "check_grads",
    "checkpoint",
    "custom_jvp",
    "custom_vjp",
    "defjvp",
    "defvjp",
    "defvjp_joint",
    "fit",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jit",
    "jvp",
    "linearize",
    "nn",
    "numerical_grad",
    "numpy",
    "optim",
    "primitive",
    "stop_gradient",
    "trace",
    "tree",
    "value_and_grad",
    "vjp",
    "vmap",
]
