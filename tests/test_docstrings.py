"""The public transforms document themselves as jax's do (Args, Returns, an example),
and their examples run."""

import doctest
import importlib

import pytest

import tracegrad as tg

TRANSFORMS = [
    "grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "jacobian", "hessian",
    "hvp", "jit", "check_grads", "numerical_grad", "stop_gradient", "vmap", "linearize",
    "custom_jvp", "custom_vjp", "checkpoint",
]  # fmt: skip


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_docstring_has_args_returns_and_an_example(name):
    doc = getattr(tg, name).__doc__
    for section in ("\n    Args:\n", "\n    Returns:\n", "\n    Example:\n        >>> "):
        assert section in doc, (name, section)
    args = doc.split("Args:")[1].split("Returns:")[0]
    fn = getattr(tg, name)
    code = (fn.__init__ if isinstance(fn, type) else fn).__code__  # a decorator class
    params = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    params = params[1:] if isinstance(fn, type) else params  # not self
    for p in params:  # every parameter is described (eps, rtol, atol on one line)
        assert f"{p}:" in args or f"{p}," in args, (name, p)


@pytest.mark.parametrize(
    "module", ["differentiate", "jacobians", "checks", "jit", "custom", "vmap", "checkpoint"]
)
def test_transform_examples_run(module):
    mod = importlib.import_module(f"tracegrad.transforms.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
