"""Transforms: compositions of forward and reverse mode over user functions."""

from tracegrad.transforms.checkpoint import checkpoint
from tracegrad.transforms.checks import check_grads, numerical_grad
from tracegrad.transforms.custom import (
    custom_jvp,
    custom_vjp,
    defjvp,
    defvjp,
    defvjp_joint,
    primitive,
)
from tracegrad.transforms.differentiate import (
    grad,
    jvp,
    linearize,
    stop_gradient,
    value_and_grad,
    vjp,
)
from tracegrad.transforms.jacobians import hessian, hvp, jacfwd, jacobian, jacrev
from tracegrad.transforms.jit import JitFallbackWarning, jit
from tracegrad.transforms.vmap import vmap

__all__ = [
    "JitFallbackWarning",
    "check_grads",
    "checkpoint",
    "custom_jvp",
    "custom_vjp",
    "defjvp",
    "defvjp",
    "defvjp_joint",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jit",
    "jvp",
    "linearize",
    "numerical_grad",
    "primitive",
    "stop_gradient",
    "value_and_grad",
    "vjp",
    "vmap",
]
