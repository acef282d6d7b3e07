"""User-defined primitives: ``primitive``, ``defvjp``, ``defjvp``.

>>> import numpy as np, tracegrad as tg
>>> @tg.primitive
... def cube(x):
...     return x ** 3
>>> tg.defvjp(cube, lambda g, out, x: g * 3 * x ** 2)
>>> tg.defjvp(cube, lambda t, out, x: t * 3 * x ** 2)
>>> float(tg.grad(cube)(2.0))
12.0

JAX's spelling is here too: ``@tg.custom_jvp`` with ``f.defjvp(jvp_fn)`` and
``@tg.custom_vjp`` with ``f.defvjp(fwd, bwd)``, built on the same primitives.

When the cotangents of several arguments share work, one joint rule computes them
together: ``tg.defvjp_joint(prim, rule)`` with ``rule(argnums, g, out, *args)``
returning one cotangent per entry of ``argnums``.

The implementation receives plain NumPy values. Rules receive the output cotangent
``g`` (or the input tangent ``t``), the primal output ``out`` and the primal arguments;
write them with tracegrad.numpy so that they can be differentiated again.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from tracegrad.core import tree
from tracegrad.core.primitive import Primitive
from tracegrad.numpy import zeros_like
from tracegrad.transforms.differentiate import vjp

__all__ = ["custom_jvp", "custom_vjp", "defjvp", "defvjp", "defvjp_joint", "primitive"]


def primitive(fun: Callable[..., Any]) -> Primitive:
    """Make ``fun`` an opaque operation whose derivatives come from its own rules."""
    return Primitive(fun, getattr(fun, "__name__", "primitive"))


def defvjp(prim: Primitive, *rules: Callable[..., Any] | None) -> None:
    """Reverse-mode rules, one per positional argument: ``rule(g, out, *args, **kw)``
    returns the cotangent of that argument (``None`` marks an argument that is not
    differentiable)."""
    _check(prim, "defvjp").defvjp(*rules)


def defvjp_joint(prim: Primitive, rule: Callable[..., Any]) -> None:
    """One reverse-mode rule for all arguments, when their cotangents share work:
    ``rule(argnums, g, out, *args, **kw)`` returns one cotangent per entry of
    ``argnums`` (the positions of the arguments being differentiated, increasing)."""
    _check(prim, "defvjp_joint").defvjp_joint(rule)


def defjvp(prim: Primitive, *rules: Callable[..., Any] | None) -> None:
    """Forward-mode rules, one per positional argument: ``rule(t, out, *args, **kw)``
    returns that argument's contribution to the output tangent."""
    _check(prim, "defjvp").defjvp(*rules)


def _check(prim: Any, fname: str) -> Primitive:
    if not isinstance(prim, Primitive):
        raise TypeError(f"{fname}: expected a function decorated with @tg.primitive, got {prim!r}")
    return prim


class _Custom:
    """A function of positional arguments (arrays, scalars or pytrees of them) with one
    array output, made a primitive over the leaves of its arguments whose rules come
    from its decorator's ``def*`` method (they receive the argument structure as the
    keyword ``in_tree``)."""

    _rule_name = ""

    def __init__(self, fun: Callable[..., Any]) -> None:
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.prim = Primitive(self._run, getattr(fun, "__name__", "custom"))
        self._signature = inspect.signature(fun)
        self._defined = False

    def _run(self, *leaves: Any, in_tree: tree.TreeDef) -> Any:
        return self.fun(*_args(in_tree, leaves))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._defined:
            raise TypeError(
                f"{type(self).__name__} function `{self.prim.name}` has no rule yet: "
                f"define it with `{self.prim.name}.{self._rule_name}(...)`"
            )
        if kwargs:  # the rules see positional arguments, as JAX's do
            bound = self._signature.bind(*args, **kwargs)
            bound.apply_defaults()
            args = bound.args
        leaves, in_tree = tree.flatten(tuple(args))
        return self.prim(*leaves, in_tree=in_tree)


def _args(in_tree: tree.TreeDef, leaves: Sequence[Any]) -> tuple[Any, ...]:
    """The positional arguments, rebuilt from their leaves."""
    return tree.unflatten(in_tree, list(leaves))


class custom_jvp(_Custom):  # noqa: N801 (JAX's name, used as a decorator)
    """A function with its own forward-mode rule, in JAX's spelling.

    Decorate the function, then its JVP rule with ``@f.defjvp``: ``jvp_fn(primals,
    tangents) -> (primal_out, tangent_out)``, ``primals`` and ``tangents`` being tuples
    with one entry per positional argument, ``tangent_out`` linear in the tangents
    (written in tracegrad.numpy operations). Reverse mode uses the same rule: the
    cotangent of an argument is the vector-Jacobian product of the linear map
    ``t ↦ tangent_out``, by reverse mode through the rule, so one rule serves both modes
    and every order. The function takes positional arrays, scalars or pytrees of them
    (``primals``/``tangents`` keep their structure) and returns one array; the rule may
    be called once per differentiated array (with zero tangents for the others).

    Args:
        fun: the function; it runs on plain NumPy values.

    Returns:
        The decorated function, callable as ``fun`` once the rule is defined.

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> @tg.custom_jvp
        ... def log1pexp(x):
        ...     return tnp.log1p(tnp.exp(x))
        >>> @log1pexp.defjvp
        ... def log1pexp_jvp(primals, tangents):
        ...     (x,), (t,) = primals, tangents
        ...     return log1pexp(x), t * tnp.sigmoid(x)
        >>> float(tg.grad(log1pexp)(0.0)), float(tg.jvp(log1pexp, (0.0,), (2.0,))[1])
        (0.5, 1.0)
    """

    _rule_name = "defjvp"

    def defjvp(self, jvp_fn: Callable[..., tuple[Any, Any]]) -> Callable[..., tuple[Any, Any]]:
        """Set the JVP rule ``jvp_fn(primals, tangents) -> (primal_out, tangent_out)``;
        returns it (so that it can be used as a decorator)."""

        def tangent(argnum: int, t: Any, out: Any, *leaves: Any, in_tree: Any) -> Any:
            ts = [t if i == argnum else zeros_like(v) for i, v in enumerate(leaves)]
            return jvp_fn(_args(in_tree, leaves), _args(in_tree, ts))[1]

        def cotangent(argnum: int, g: Any, out: Any, *leaves: Any, in_tree: Any) -> Any:
            # the rule is linear in the tangent: its VJP at any tangent (zero) is the
            # transpose of the JVP
            _, pull = vjp(
                lambda t: tangent(argnum, t, out, *leaves, in_tree=in_tree),
                zeros_like(leaves[argnum]),
            )
            return pull(g)[0]

        self.prim.defjvp_argnum(tangent).defvjp_argnum(cotangent)
        self._defined = True
        return jvp_fn


class custom_vjp(_Custom):  # noqa: N801 (JAX's name, used as a decorator)
    """A function with its own reverse-mode rule, in JAX's spelling.

    Decorate the function, then give its rule pair with ``f.defvjp(fwd, bwd)``:
    ``fwd(*args) -> (out, residuals)`` runs the function and keeps what the backward
    pass needs (on plain values; under nesting it is called again in the backward pass
    instead); ``bwd(residuals, g) -> tuple`` returns one cotangent per positional
    argument (``None`` for zero), written in tracegrad.numpy operations so that it can
    be differentiated again. As in JAX, forward mode (``jvp``, ``jacfwd``,
    ``hessian``'s outer pass) cannot use a reverse rule and raises; ``tg.custom_jvp``
    gives a rule that works in both modes. The function takes positional arrays,
    scalars or pytrees of them (each cotangent has its argument's structure) and returns
    one array.

    Args:
        fun: the function; it runs on plain NumPy values.

    Returns:
        The decorated function, callable as ``fun`` once the rule is defined.

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> @tg.custom_vjp
        ... def clip_gradient(x):
        ...     return x
        >>> def fwd(x):
        ...     return x, None
        >>> def bwd(res, g):
        ...     return (tnp.clip(g, -1.0, 1.0),)
        >>> clip_gradient.defvjp(fwd, bwd)
        >>> float(tg.grad(lambda x: 5.0 * clip_gradient(x))(2.0))
        1.0
    """

    _rule_name = "defvjp"

    def defvjp(
        self, fwd: Callable[..., tuple[Any, Any]], bwd: Callable[[Any, Any], Sequence[Any]]
    ) -> None:
        """Set the rule pair: ``fwd(*args) -> (out, residuals)`` and
        ``bwd(residuals, g) -> (cotangent per argument)``."""
        name = self.prim.name

        def residuals(*leaves: Any, in_tree: Any) -> tuple[Any, Any]:
            return fwd(*_args(in_tree, leaves))

        def cotangents(
            argnums: Sequence[int], g: Any, out: Any, *leaves: Any, in_tree: Any, **kw: Any
        ) -> list:
            res = kw["residual"] if "residual" in kw else residuals(*leaves, in_tree=in_tree)[1]
            cts = bwd(res, g)
            n = len(in_tree.children)
            if not isinstance(cts, (tuple, list)) or len(cts) != n:
                raise TypeError(
                    f"custom_vjp `{name}`: bwd must return a tuple with one cotangent per "
                    f"positional argument ({n}), got {type(cts).__name__}"
                    + (f" of {len(cts)}" if isinstance(cts, (tuple, list)) else "")
                )
            flat: list[Any] = []  # the cotangent of each leaf, None for zero
            for k, (ct, td) in enumerate(zip(cts, in_tree.children)):
                if ct is None:
                    flat += [None] * td.num_leaves
                    continue
                ct_leaves, ct_tree = tree.flatten(ct)
                if ct_tree != td:
                    raise TypeError(
                        f"custom_vjp `{name}`: bwd's cotangent {k} has the structure "
                        f"{ct_tree!r}, its argument {td!r}"
                    )
                flat += ct_leaves
            return [zeros_like(leaves[i]) if flat[i] is None else flat[i] for i in argnums]

        def no_tangent(argnum: int, t: Any, out: Any, *leaves: Any, in_tree: Any) -> Any:
            raise TypeError(
                f"custom_vjp function `{name}` cannot be differentiated in forward mode "
                "(jvp, jacfwd, linearize, the outer pass of hessian): its rule is a "
                "reverse-mode rule, as in JAX; define it with tg.custom_jvp instead "
                "(one rule for both modes), or use jacrev"
            )

        self.prim.defresidual(residuals).defvjp_joint(cotangents).defjvp_argnum(no_tangent)
        self._defined = True
