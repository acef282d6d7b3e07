"""``checkpoint``: rematerialisation, trading compute for memory in reverse mode.

A checkpointed function is one primitive to the transforms around it: its
implementation runs the function on plain values, so nothing inside it is recorded,
and the tape keeps only its inputs. Its VJP rule records the function again on those
inputs (``vjp``) and pulls the cotangent back through that fresh recording, which is
freed as soon as the rule returns. Each checkpointed call thus costs one extra forward
pass in the backward sweep, and the sweep holds one call's intermediates at a time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from tracegrad.core import tree
from tracegrad.core.primitive import Primitive, box_types
from tracegrad.transforms.differentiate import jvp, vjp

__all__ = ["checkpoint"]


def checkpoint(f: Callable[..., Any]) -> Callable[..., Any]:
    """A function equal to ``f`` whose intermediate values are recomputed in the
    backward sweep of reverse mode instead of kept on the tape (rematerialisation).

    Reverse mode through ``checkpoint(f)`` stores only ``f``'s inputs; the backward
    sweep runs ``f`` again on them to pull the cotangent back. Checkpointing each layer
    of a deep network bounds the memory of ``grad`` by the layer inputs plus one
    layer's intermediates (see benchmarks/README.md), for about one more forward pass.
    Values and derivatives are those of ``f``, in both modes and to every order;
    forward mode (``jvp``) keeps nothing anyway and runs ``f`` with its tangents.

    Args:
        f: the function to checkpoint; its positional arguments are arrays, scalars or
            pytrees of them (keyword arguments are passed through, not differentiated),
            and it returns one array or scalar.

    Returns:
        A function with ``f``'s signature and values.

    Raises:
        TypeError: ``f`` returns a pytree rather than one array (raised when a
            transform traces it).

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> layer = tg.checkpoint(lambda w, x: tnp.tanh(tnp.dot(w, x)))
        >>> w, x = tnp.array([[1.0, 0.0], [0.0, 2.0]]), tnp.array([0.5, -0.5])
        >>> g = tg.grad(lambda w: tnp.sum(layer(w, layer(w, x))))(w)
        >>> bool(tnp.allclose(g, tg.grad(lambda w: tnp.sum(tnp.tanh(w @ tnp.tanh(w @ x))))(w)))
        True
    """
    name = getattr(f, "__name__", "f")

    @functools.wraps(f)
    def checkpointed(*args: Any, **kwargs: Any) -> Any:
        leaves, in_tree = tree.flatten(args)
        if not any(type(v) in box_types for v in leaves):  # nothing traced: run f
            return f(*args, **kwargs)

        def call(*ls: Any) -> Any:
            out = f(*tree.unflatten(in_tree, list(ls)), **kwargs)
            if isinstance(out, (tuple, list, dict)):
                raise TypeError(
                    f"checkpoint: `{name}` must return one array (got a "
                    f"{type(out).__name__}); checkpoint a function per output"
                )
            return out

        def cotangents(argnums: Sequence[int], g: Any, out: Any, *ls: Any) -> list[Any]:
            # the recomputation, of the traced inputs only: a recording freed on return
            _, pull = vjp(lambda *xs: call(*_put(ls, argnums, xs)), *[ls[i] for i in argnums])
            return list(pull(g))

        def tangent(argnum: int, t: Any, out: Any, *ls: Any) -> Any:
            return jvp(lambda x: call(*_put(ls, (argnum,), (x,))), (ls[argnum],), (t,))[1]

        prim = Primitive(call, f"checkpoint({name})")
        # the VJP reads the inputs only: the output is not kept either
        prim.defvjp_joint(cotangents).defjvp_argnum(tangent).saving("args")
        return prim(*leaves)

    return checkpointed


def _put(values: Sequence[Any], nums: Sequence[int], xs: Sequence[Any]) -> list[Any]:
    """``values`` with ``xs`` in the positions ``nums``."""
    out = list(values)
    for i, x in zip(nums, xs):
        out[i] = x
    return out
