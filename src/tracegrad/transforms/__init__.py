"""Transforms: compositions of forward and reverse mode over user functions."""

from tracegrad.transforms.checks import check_grads, numerical_grad
from tracegrad.transforms.custom import defjvp, defvjp, defvjp_joint, primitive
from tracegrad.transforms.differentiate import grad, jvp, stop_gradient, value_and_grad, vjp
from tracegrad.transforms.jacobians import hessian, hvp, jacfwd, jacobian, jacrev

__all__ = [
    "check_grads",
    "defjvp",
    "defvjp",
    "defvjp_joint",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jvp",
    "numerical_grad",
    "primitive",
    "stop_gradient",
    "value_and_grad",
    "vjp",
]
