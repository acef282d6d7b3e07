"""The basic transforms: ``vjp``, ``jvp``, ``grad``, ``value_and_grad``, ``stop_gradient``.

Pytrees are handled here, at the boundary: the core only ever sees flat lists of
leaves. ``argnums`` selects which positional arguments are differentiated; the others
pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.core import tree
from tracegrad.core.backend import asarray_like, is_host, ones_like_value
from tracegrad.core.forward import jvp_flat, zeros_like_value
from tracegrad.core.primitive import box_types, dtype_of, get_value, peek, unbox
from tracegrad.core.reverse import backward, record
from tracegrad.core.staging import StagedBox, call_plain, plain
from tracegrad.numpy.box_methods import astype

__all__ = ["grad", "jvp", "linearize", "stop_gradient", "value_and_grad", "vjp"]


def stop_gradient(x: Any) -> Any:
    """``x`` with every derivative cut: its value passes, its derivative is zero.

    Args:
        x: a value or a pytree of values (traced or not).

    Returns:
        ``x``'s value with the same structure, treated as a constant by every enclosing
        transformation.

    Example:
        >>> import tracegrad as tg
        >>> float(tg.grad(lambda x: x * tg.stop_gradient(x))(3.0))  # d/dx of x · c, c = 3
        3.0
    """
    return tree.map(_stopped, x)


def _stopped(x: Any) -> Any:
    """A leaf of :func:`stop_gradient`: every box stripped but that of ``tg.jit`` at the
    bottom, whose value a replay computes again (a staged value is not a read of this
    call's value, and ``jit`` can replay the function)."""
    x = plain(x)
    if type(x) is StagedBox and type(x._value) in box_types:  # staged above other traces
        return get_value(x)
    return x


# --- argument handling -------------------------------------------------------------


def as_float_leaf(x: Any, where: str) -> Any:
    """A leaf that can be differentiated: a float array, float scalar or traced value.

    Python floats stay Python floats (scalar chains then run on the math module, several
    times faster than NumPy scalars). Lists are pytree containers, as in JAX, so a leaf is
    never a list. Integer, boolean and complex leaves are refused (derivatives are taken
    over the reals).
    """
    if type(x) is float or (type(x) is np.ndarray and x.dtype.kind == "f"):
        return x
    if type(x) not in box_types and not isinstance(x, (np.ndarray, np.floating)) and is_host(x):
        x = np.asarray(x)
        if x.ndim == 0 and np.issubdtype(x.dtype, np.floating):
            x = x[()]
    dt = dtype_of(x)
    if not np.issubdtype(dt, np.floating):
        raise TypeError(
            f"cannot differentiate with respect to {where} of dtype {dt}: pass a float "
            "array (e.g. x.astype(float)) or mark it as not differentiated with argnums"
        )
    return x


def _argnums(argnums: int | Sequence[int], nargs: int, fname: str) -> tuple[int, ...]:
    if type(argnums) is int and 0 <= argnums < nargs:
        return (argnums,)
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not isinstance(n, int) or not -nargs <= n < nargs:
            raise ValueError(
                f"{fname}: argnums={argnums!r} does not fit a call with {nargs} positional "
                "argument(s)"
            )
    return tuple(n % nargs for n in nums)


class _Partial:
    """``f`` with the arguments at ``argnums`` taken from a flat list of leaves."""

    def __init__(
        self, f: Callable, args: tuple, kwargs: dict, nums: tuple[int, ...], fname: str
    ) -> None:
        self.f, self.args, self.kwargs, self.nums = f, args, kwargs, nums
        self.leaves: list[Any] = []
        defs = []
        for n in nums:
            leaves, td = tree.flatten(args[n])
            for v in leaves:  # float arrays, the common case, without a call
                if type(v) is not np.ndarray or v.dtype.kind != "f":
                    v = as_float_leaf(v, f"argument {n}")
                self.leaves.append(v)
            defs.append(td)
        self.defs = defs
        self.fname = fname

    @property
    def treedef(self) -> tree.TreeDef:
        """The structure of the differentiated arguments, as a tuple of them."""
        return tree.TreeDef(tuple, None, tuple(self.defs), len(self.leaves))

    def call(self, leaves: Sequence[Any]) -> Any:
        args = list(self.args)
        if len(self.nums) == 1:  # the common case, without the tuple around the argument
            args[self.nums[0]] = tree.unflatten(self.defs[0], leaves)
        else:
            for n, p in zip(self.nums, tree.unflatten(self.treedef, leaves)):
                args[n] = p
        return self.f(*args, **self.kwargs)

    def flat(self, has_aux: bool = False) -> Callable[..., list[Any]]:
        """``f`` as the core drives it: leaves in, output leaves out. The output
        structure is left in ``self.out_tree``, an auxiliary output in ``self.aux``."""

        def fn(*leaves: Any) -> list[Any]:
            out, self.aux = _split_aux(self.call(leaves), has_aux, self.fname)
            out_leaves, self.out_tree = tree.flatten(out)
            return out_leaves

        return fn

    def rebuild(self, leaves: Sequence[Any], single: bool) -> Any:
        if single:
            return tree.unflatten(self.defs[0], leaves)
        return tree.unflatten(self.treedef, leaves)


def _split_aux(out: Any, has_aux: bool, fname: str) -> tuple[Any, Any]:
    if not has_aux:
        return out, None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"{fname}(has_aux=True): the function must return a pair (output, aux)")
    return out[0], out[1]


def _cast_like(ct: Any, leaf: Any) -> Any:
    """A cotangent or tangent with the dtype and scalar/array kind of ``leaf``."""
    if ct is None:
        return zeros_like_value(leaf)[()] if np.ndim(leaf) == 0 else zeros_like_value(leaf)
    if type(ct) is np.ndarray and type(leaf) is np.ndarray and ct.dtype == leaf.dtype:
        return ct  # the common case, without dtype lookups
    dt = dtype_of(leaf)
    if type(ct) in box_types:
        ct = ct if dtype_of(ct) == dt else astype(ct, dt)
        if type(ct) is StagedBox and type(peek(leaf)) is np.ndarray:
            if type(ct._value) is not np.ndarray:  # a 0-d array for a 0-d array, as unstaged
                ct = call_plain(np.asarray, (ct,))
        return ct
    ct = asarray_like(ct, leaf, dtype=dt)  # a device leaf's cotangent on its device
    # an array (or a traced one, a staged 0-d array under jit) for an array, as eager
    return ct if isinstance(peek(leaf), np.ndarray) or not is_host(leaf) else ct[()]


# --- reverse mode -----------------------------------------------------------------


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple:
    """The value of ``f(*primals)`` and a function for its vector-Jacobian products
    (reverse mode).

    Args:
        f: the function to differentiate; its arguments and output are arrays, scalars
            or pytrees of them.
        primals: the point: one value per positional argument of ``f``.
        has_aux: ``f`` returns ``(out, aux)``; ``aux`` is returned as it is, not
            differentiated.

    Returns:
        ``(out, vjp_fn)``, or ``(out, vjp_fn, aux)`` with ``has_aux``. ``vjp_fn(ct)``
        takes a cotangent ``ct`` with the structure and shapes of ``out`` and returns a
        tuple with one cotangent per primal, ``ctᵀ · ∂out/∂primal``. It can be called many
        times; the recorded graph lives as long as ``vjp_fn`` does.

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> out, f_vjp = tg.vjp(lambda x, y: x * tnp.sin(y), 2.0, 0.0)
        >>> [float(c) for c in f_vjp(1.0)]  # (sin y, x cos y)
        [0.0, 2.0]
    """
    part = _Partial(f, primals, {}, tuple(range(len(primals))), "vjp")
    values, indices, trace = record(part.flat(has_aux), part.leaves)
    out_tree = part.out_tree
    out = tree.unflatten(out_tree, values)
    shapes = [np.shape(v) for v in values]

    def vjp_fn(cotangent: Any) -> tuple:
        ct_leaves, ct_tree = tree.flatten(cotangent)
        if ct_tree != out_tree:
            raise ValueError(
                f"vjp_fn: cotangent structure {ct_tree!r} does not match the output "
                f"structure {out_tree!r}"
            )
        seeds = []
        for i, (ct, idx, shape) in enumerate(zip(ct_leaves, indices, shapes)):
            if np.shape(ct) != shape:
                raise ValueError(
                    f"vjp_fn: cotangent {i} has shape {np.shape(ct)}, the output has {shape}"
                )
            if idx is not None:
                seeds.append((idx, ct))
        cts = backward(trace.tape, seeds, len(part.leaves), trace.below)
        return tuple(part.rebuild([_cast_like(c, x) for c, x in zip(cts, part.leaves)], False))

    if has_aux:
        return out, vjp_fn, tree.map(lambda x: unbox(x, trace), part.aux)
    return out, vjp_fn


def value_and_grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function that evaluates ``f`` and its gradient in one forward and one backward
    pass.

    Args:
        f: the function to differentiate; it must return a float scalar (shape ``()``).
            Its arguments are arrays, scalars or pytrees of them.
        argnums: which positional argument(s) to differentiate with respect to: an
            int, or a tuple of ints.
        has_aux: ``f`` returns ``(value, aux)``; ``aux`` is passed through, not
            differentiated.

    Returns:
        A function with ``f``'s signature that returns ``(value, gradient)``, or
        ``((value, aux), gradient)`` with ``has_aux``. The gradient has the structure
        of the argument ``argnums`` names (a tuple of them when ``argnums`` is a tuple).

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> value, g = tg.value_and_grad(lambda x: tnp.sum(x ** 2))(tnp.array([1.0, 2.0]))
        >>> float(value), g.tolist()
        (5.0, [2.0, 4.0])
    """

    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple:
        nums = _argnums(argnums, len(args), "grad")
        part = _Partial(f, args, kwargs, nums, "grad")
        values, indices, trace = record(part.flat(has_aux), part.leaves)
        out = tree.unflatten(part.out_tree, values)
        _check_scalar(out)
        idx = indices[0]
        seeds = [] if idx is None else [(idx, _one_like(out))]
        cts = backward(trace.tape, seeds, len(part.leaves), trace.below)
        g = part.rebuild(
            [_cast_like(c, x) for c, x in zip(cts, part.leaves)], isinstance(argnums, int)
        )
        if has_aux:
            return (out, tree.map(lambda x: unbox(x, trace), part.aux)), g
        return out, g

    value_and_grad_f.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    value_and_grad_f.__doc__ = f.__doc__
    return value_and_grad_f


def _one_like(out: Any) -> Any:
    """The seed ȳ = 1 for a scalar output, of the output's own scalar type."""
    if type(out) is float:
        return 1.0
    if isinstance(out, np.floating):
        return type(out)(1.0)
    return ones_like_value(out, (), dtype_of(out))[()]  # on the output's device


def _check_scalar(out: Any) -> None:
    if type(out) is float or isinstance(out, np.floating):
        return  # the common case, without a tree or dtype lookup
    if tree.structure(out).children:  # a tuple, dict, ... of outputs
        raise TypeError(
            f"grad requires a scalar output, got a {type(out).__name__} of outputs: use "
            "jacrev (or jacobian) for the Jacobian, or vjp for a vector-Jacobian product"
        )
    shape = np.shape(out)
    if shape != ():
        raise TypeError(
            f"grad requires a scalar output (shape ()), got shape {shape}: use jacrev (or "
            "jacobian) for the full Jacobian, or vjp for a vector-Jacobian product"
        )
    dt = dtype_of(out)
    if not np.issubdtype(dt, np.floating):
        raise TypeError(f"grad requires a float output, got dtype {dt}")


def grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function that evaluates the gradient of a scalar-valued ``f`` (reverse mode).

    Args:
        f: the function to differentiate; it must return a float scalar (shape ``()``).
            Its arguments are arrays, scalars or pytrees of them (a ``tg.nn`` model is
            one: its gradient is a model of the same shape).
        argnums: which positional argument(s) to differentiate with respect to: an
            int, or a tuple of ints.
        has_aux: ``f`` returns ``(value, aux)``; ``aux`` is passed through, not
            differentiated.

    Returns:
        A function with ``f``'s signature that returns the gradient, with the structure
        of the argument ``argnums`` names, or a tuple of them when ``argnums`` is a tuple;
        ``(gradient, aux)`` with ``has_aux``.

    Raises:
        TypeError: ``f`` returns a non-scalar or a non-float (the message names jacrev, vjp).

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> f = lambda x1, x2: tnp.log(x1) + x1 * x2 - tnp.sin(x2)
        >>> [round(float(g), 3) for g in tg.grad(f, argnums=(0, 1))(2.0, 5.0)]
        [5.5, 1.716]
    """
    vg = value_and_grad(f, argnums, has_aux)

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        (value, g) = vg(*args, **kwargs)
        if has_aux:
            return g, value[1]
        return g

    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    grad_f.__doc__ = f.__doc__
    return grad_f


# --- forward mode -----------------------------------------------------------------


def jvp(
    f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False
) -> tuple:
    """The value of ``f(*primals)`` and its Jacobian-vector product with ``tangents``, in
    one forward pass (forward mode).

    Args:
        f: the function to differentiate; its arguments and output are arrays, scalars
            or pytrees of them.
        primals: a tuple (or list) of the arguments of ``f``.
        tangents: a tuple (or list) with the structure and shapes of ``primals``: the
            input direction.
        has_aux: ``f`` returns ``(out, aux)``; ``aux`` is returned as it is.

    Returns:
        ``(out, tangent_out)``, or ``(out, tangent_out, aux)`` with ``has_aux``, where
        ``tangent_out = ∂f/∂primals · tangents`` has the structure of ``out``.

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> f = lambda x1, x2: tnp.log(x1) + x1 * x2 - tnp.sin(x2)
        >>> out, t = tg.jvp(f, (2.0, 5.0), (1.0, 0.0))  # the tangent ẋ = (1, 0)
        >>> round(float(out), 3), float(t)
        (11.652, 5.5)
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples, e.g. jvp(f, (x,), (v,))")
    part = _Partial(f, tuple(primals), {}, tuple(range(len(primals))), "jvp")
    t_leaves, t_tree = tree.flatten(tuple(tangents))
    if t_tree != part.treedef:
        raise ValueError(
            f"jvp: tangents structure {t_tree!r} does not match primals {part.treedef!r}"
        )
    ts = []
    for i, (p, t) in enumerate(zip(part.leaves, t_leaves)):
        if np.shape(t) != np.shape(p):
            raise ValueError(
                f"jvp: tangent {i} has shape {np.shape(t)}, its primal has {np.shape(p)}"
            )
        ts.append(_cast_like(t, p))
    values, out_tangents, trace = jvp_flat(part.flat(has_aux), part.leaves, ts)
    out = tree.unflatten(part.out_tree, values)
    t_out = tree.unflatten(part.out_tree, out_tangents)
    if has_aux:
        return out, t_out, tree.map(lambda x: unbox(x, trace), part.aux)
    return out, t_out


def linearize(f: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """The value of ``f(*primals)`` and its linear map ``tangents ↦ ∂f · tangents`` at
    those primals (forward mode).

    The map is not a stored linear program, as JAX's is: each call re-runs one forward
    pass of ``f`` at the fixed primals with the tangents attached (:func:`jvp`), so it
    costs one evaluation of ``f`` and holds only the primals.

    Args:
        f: the function to linearize; its arguments and output are arrays, scalars or
            pytrees of them.
        primals: the point: one value per positional argument of ``f``.

    Returns:
        ``(out, f_jvp)``: ``out = f(*primals)``, and ``f_jvp(*tangents)``, taking one
        tangent per primal (same structures and shapes) and returning the output
        tangent, with the structure of ``out``.

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> out, f_jvp = tg.linearize(lambda x: x ** 3 + tnp.sin(x - 2.0), 2.0)
        >>> float(out), float(f_jvp(1.0)), float(f_jvp(0.5))
        (8.0, 13.0, 6.5)
    """
    out = f(*primals)

    def f_jvp(*tangents: Any) -> Any:
        if len(tangents) != len(primals):
            raise TypeError(
                f"linearize: f_jvp takes one tangent per primal ({len(primals)}), "
                f"got {len(tangents)}"
            )
        return jvp(f, primals, tangents)[1]

    return out, f_jvp
