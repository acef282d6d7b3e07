"""Finite differences: ``numerical_grad`` and ``check_grads``.

``check_grads`` compares each argument's derivatives with central differences along a
random direction ``u`` (and a random output weighting ``v``), the projection check of
autograd and JAX: forward mode must give the directional derivative ``J u``, reverse
mode must satisfy ``<vjp(v), u> = <v, J u>``. For ``order=2`` it checks the JVP and VJP
functions themselves again, which covers forward-over-forward, reverse-over-forward,
forward-over-reverse and reverse-over-reverse. Use float64: float32 differences are too
coarse to tell a wrong rule from rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad.core import tree
from tracegrad.core.primitive import dtype_of, get_value
from tracegrad.transforms.differentiate import _argnums, as_float_leaf, jvp, vjp

__all__ = ["check_grads", "numerical_grad"]


def _default_eps(dtype: np.dtype) -> float:
    # cube root of machine epsilon balances truncation against rounding error
    return float(np.finfo(dtype).eps ** (1.0 / 3.0))


def numerical_grad(
    f: Callable[..., Any], *args: Any, eps: float | None = None, argnums: int | Sequence[int] = 0
) -> Any:
    """The gradient of a scalar ``f`` by central differences, one element at a time.

    Args:
        f: a function returning a float scalar.
        args: the point: ``f``'s positional arguments.
        eps: the step; default ``cbrt(machine epsilon) · max(1, |x_i|)`` for each
            element ``x_i``.
        argnums: which positional argument(s) to differentiate with respect to: an
            int, or a tuple of ints.

    Returns:
        The estimate, with the structure of ``grad(f, argnums)(*args)``.

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> round(float(tg.numerical_grad(lambda x: tnp.sin(x), 0.0)), 6)
        1.0
    """
    nums = _argnums(argnums, len(args), "numerical_grad")
    results = []
    for n in nums:
        leaves, td = tree.flatten(args[n])
        leaves = [np.array(get_value(as_float_leaf(x, f"argument {n}"))) for x in leaves]
        grads = []
        for leaf in leaves:
            g = np.zeros_like(leaf, dtype=np.result_type(leaf, np.float64))
            flat = leaf.reshape(-1)
            for j in range(flat.size):
                x0 = flat[j]
                h = eps if eps is not None else _default_eps(leaf.dtype) * max(1.0, abs(x0))
                vals, points = [], []
                for step in (h, -h):
                    flat[j] = x0 + step
                    points.append(float(flat[j]))  # as stored: float32 rounds the step
                    call = list(args)
                    call[n] = tree.unflatten(td, [lf.copy() for lf in leaves])
                    out = get_value(f(*call))
                    if np.shape(out) != ():
                        raise TypeError(
                            f"numerical_grad requires a scalar output, got shape {np.shape(out)}"
                        )
                    vals.append(float(out))
                flat[j] = x0
                g.reshape(-1)[j] = (vals[0] - vals[1]) / (points[0] - points[1])
            grads.append(g[()] if np.ndim(g) == 0 else g)
        results.append(tree.unflatten(td, grads))
    return results[0] if isinstance(argnums, int) else tuple(results)


def _tree_axpy(a: float, x: Any, y: Any) -> Any:
    return tree.map(lambda xi, yi: yi + a * xi, x, y)


def _vdot(x: Any, y: Any) -> float:
    xs, ys = tree.leaves(x), tree.leaves(y)
    return float(
        sum(
            np.vdot(np.asarray(get_value(a), float), np.asarray(get_value(b), float))
            for a, b in zip(xs, ys)
        )
    )


def _random_like(t: Any, rng: np.random.Generator) -> Any:
    return tree.map(lambda x: rng.standard_normal(np.shape(x)).astype(np.result_type(x)), t)


#: (eps, rtol, atol) by the item size of the least precise float argument
_TOLERANCES = {8: (1e-6, 1e-5, 1e-6), 4: (1e-3, 2e-2, 2e-3), 2: (3e-2, 2e-1, 5e-2)}


def _tolerances(args: Sequence[Any]) -> tuple[float, float, float]:
    sizes = [
        dtype_of(x).itemsize
        for x in tree.leaves(tuple(args))
        if np.issubdtype(dtype_of(x), np.floating)
    ]
    return _TOLERANCES.get(min(sizes, default=8), _TOLERANCES[8])


_MODES = {"fwd": "fwd", "forward": "fwd", "rev": "rev", "reverse": "rev"}


def check_grads(
    f: Callable[..., Any],
    args: Sequence[Any],
    order: int = 2,
    modes: Sequence[str] = ("fwd", "rev"),
    eps: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
) -> None:
    """Check ``f``'s derivatives against central finite differences, up to ``order``.

    Each order is checked along random directions, in each of ``modes``: forward mode
    compares JVPs, reverse mode VJPs (and, from order 2, the derivatives of those
    products), against differences of the order below.

    Args:
        f: the function to check; arrays, scalars or pytrees in and out.
        args: a tuple of ``f``'s arguments (a single array is accepted too).
        order: the highest order of derivatives to check.
        modes: ``"fwd"`` and/or ``"rev"``.
        eps, rtol, atol: the step and the tolerances; by default what the least precise
            float argument allows: 1e-6, 1e-5, 1e-6 in float64; 1e-3, 2e-2, 2e-3 in float32
            (whose differences cannot tell a slightly wrong rule from rounding: check rules
            in float64).
        seed: the seed of the random directions.

    Returns:
        ``None`` when every check passes.

    Raises:
        AssertionError: naming the argument, the mode and the order that disagree.
        ValueError: an unknown mode.

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> tg.check_grads(lambda x: tnp.tanh(x) * x, (tnp.array([0.3, -1.2]),), order=2)
    """
    if not isinstance(args, (tuple, list)):
        args = (args,)
    d_eps, d_rtol, d_atol = _tolerances(args)
    eps = d_eps if eps is None else eps
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    unknown = [m for m in modes if m not in _MODES]
    if unknown:
        raise ValueError(f"check_grads: unknown modes {unknown}; use 'fwd' and/or 'rev'")
    settings = _Settings([_MODES[m] for m in modes], eps, rtol, atol, np.random.default_rng(seed))
    _check(f, tuple(args), order, settings, level=1, label="f")


@dataclass
class _Settings:
    """What stays the same through the recursion over orders."""

    modes: list[str]
    eps: float
    rtol: float
    atol: float
    rng: np.random.Generator


def _check(
    f: Callable[..., Any], args: tuple, order: int, cfg: _Settings, level: int, label: str
) -> None:
    if order < 1:
        return
    eps, rng = cfg.eps, cfg.rng
    for n, arg in enumerate(args):
        leaves = tree.leaves(arg)
        if not leaves or not all(np.issubdtype(dtype_of(x), np.floating) for x in leaves):
            continue

        def f_n(x: Any, n: int = n) -> Any:
            return f(*_put(args, n, x))

        u = _random_like(arg, rng)
        hi = get_value(f_n(_tree_axpy(eps, u, arg)))
        lo = get_value(f_n(_tree_axpy(-eps, u, arg)))
        numeric = tree.map(
            lambda a, b: (np.asarray(a, float) - np.asarray(b, float)) / (2 * eps), hi, lo
        )
        where = f"argument {n} of {label}"
        if "fwd" in cfg.modes:
            _, t_out = jvp(f_n, (arg,), (u,))
            what = f"forward mode (JVP), order {level}, {where}"
            _compare(t_out, numeric, cfg.rtol, cfg.atol, what)
            if order > 1:
                _check(_jvp_of(f, n, u), args, order - 1, cfg, level + 1, f"the JVP of {label}")
        if "rev" in cfg.modes:
            out, vjp_fn = vjp(f_n, arg)
            v = _random_like(out, rng)
            (ct,) = vjp_fn(v)
            what = f"reverse mode (VJP), order {level}, {where}"
            _compare(_vdot(ct, u), _vdot(v, numeric), cfg.rtol, cfg.atol, what)
            if order > 1:
                _check(_vjp_of(f, n, v), args, order - 1, cfg, level + 1, f"the VJP of {label}")


def _jvp_of(f: Callable[..., Any], n: int, u: Any) -> Callable[..., Any]:
    """``args -> ∂f/∂args[n] · u``: the function whose derivatives are order 2 in fwd."""
    return lambda *a: jvp(lambda y: f(*_put(a, n, y)), (a[n],), (u,))[1]


def _vjp_of(f: Callable[..., Any], n: int, v: Any) -> Callable[..., Any]:
    """``args -> vᵀ · ∂f/∂args[n]``: the function whose derivatives are order 2 in rev."""
    return lambda *a: vjp(lambda y: f(*_put(a, n, y)), a[n])[1](v)[0]


def _put(args: tuple, n: int, x: Any) -> list[Any]:
    call = list(args)
    call[n] = x
    return call


def _compare(ad: Any, numeric: Any, rtol: float, atol: float, what: str) -> None:
    for a, b in zip(tree.leaves(ad), tree.leaves(numeric)):
        a = np.asarray(get_value(a), float)
        b = np.asarray(b, float)
        if a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=atol):
            err = np.max(np.abs(a - b)) if a.shape == b.shape else "shape mismatch"
            raise AssertionError(
                f"check_grads: {what} disagrees with finite differences\n"
                f"  AD:        {np.array2string(a, precision=8, threshold=20)}\n"
                f"  numerical: {np.array2string(b, precision=8, threshold=20)}\n"
                f"  max abs difference {err} (rtol={rtol}, atol={atol})"
            )
