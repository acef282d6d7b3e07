"""Systematic derivative tests for every primitive and composite of tracegrad.numpy.

Each :class:`Case` names a tracegrad function, the NumPy function it mirrors, float64
inputs chosen away from kinks and domain edges, and the primitives it exercises. For
every case we check (1) the value equals NumPy's, as a plain NumPy type when no
transformation is active, and (2) ``check_grads`` to order 2 in forward and reverse mode.
Shape families (docs/design.md): unary ops on (), (3,), (2,3), (4,2,3); binary ops
on every broadcasting pair of (), (3,), (2,3), (2,1), (1,3), (4,2,3).

``EXERCISED`` (the union of the cases' ``covers``) is what tests/test_registry.py
compares with the primitives it discovers; ``test_covers_are_honest`` checks each case
really calls the primitives it claims.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import scipy.special
import scipy.stats

import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad.nn import functional as nnf
from tracegrad.numpy import indexing as ix
from tracegrad.scipy import linalg as tsl
from tracegrad.scipy import signal as tss_signal
from tracegrad.scipy import special as tss
from tracegrad.scipy import stats as tst

RNG = np.random.default_rng(1234)


@dataclass(frozen=True)
class Case:
    id: str
    f: Callable[..., Any]
    ref: Callable[..., Any] | None  # NumPy's own function (None: no value check)
    args: tuple
    covers: tuple[str, ...]  # names of the primitives the case exercises
    rtol: float = 1e-5
    atol: float = 1e-6

    def __repr__(self) -> str:  # readable failure output
        return f"Case({self.id})"


def _sh(s: tuple[int, ...]) -> str:
    return "x".join(map(str, s)) if s else "scalar"


def normal(shape, scale=1.0):
    return scale * RNG.standard_normal(shape)


def uniform(lo, hi):
    return lambda shape: RNG.uniform(lo, hi, shape)


def away_from_zero(shape):
    """Values with |x| in [0.3, 2]: safe for abs, relu and friends at eps=1e-6."""
    return RNG.choice([-1.0, 1.0], size=shape) * RNG.uniform(0.3, 2.0, shape)


def _arr(x):
    return np.asarray(x, dtype=np.float64) if np.ndim(x) else np.float64(x)


CASES: list[Case] = []


def add_case(*a, **kw) -> None:
    CASES.append(Case(*a, **kw))


# --- unary elementwise ---------------------------------------------------------------

UNARY_SHAPES = [(), (3,), (2, 3), (4, 2, 3)]

UNARY = [
    # name, tnp fn, np fn, input sampler, primitives
    ("negative", tnp.negative, np.negative, normal, ("negative",)),
    ("positive", tnp.positive, np.positive, normal, ()),
    ("exp", tnp.exp, np.exp, normal, ("exp",)),
    ("exp2", tnp.exp2, np.exp2, normal, ("exp2",)),
    ("expm1", tnp.expm1, np.expm1, normal, ("expm1",)),
    ("log", tnp.log, np.log, uniform(0.5, 2.0), ("log",)),
    ("log2", tnp.log2, np.log2, uniform(0.5, 2.0), ("log2",)),
    ("log10", tnp.log10, np.log10, uniform(0.5, 2.0), ("log10",)),
    ("log1p", tnp.log1p, np.log1p, uniform(-0.5, 2.0), ("log1p",)),
    ("sqrt", tnp.sqrt, np.sqrt, uniform(0.5, 2.0), ("sqrt",)),
    ("square", tnp.square, np.square, normal, ("square",)),
    ("reciprocal", tnp.reciprocal, np.reciprocal, away_from_zero, ("reciprocal",)),
    ("sin", tnp.sin, np.sin, normal, ("sin",)),
    ("cos", tnp.cos, np.cos, normal, ("cos",)),
    ("tan", tnp.tan, np.tan, uniform(-1.2, 1.2), ("tan",)),
    ("arcsin", tnp.arcsin, np.arcsin, uniform(-0.9, 0.9), ("arcsin",)),
    ("arccos", tnp.arccos, np.arccos, uniform(-0.9, 0.9), ("arccos",)),
    ("arctan", tnp.arctan, np.arctan, normal, ("arctan",)),
    ("arcsinh", tnp.arcsinh, np.arcsinh, normal, ("arcsinh",)),
    ("arctanh", tnp.arctanh, np.arctanh, uniform(-0.9, 0.9), ("arctanh",)),
    ("sinh", tnp.sinh, np.sinh, normal, ("sinh",)),
    ("cosh", tnp.cosh, np.cosh, normal, ("cosh",)),
    ("tanh", tnp.tanh, np.tanh, normal, ("tanh",)),
    ("abs", tnp.abs, np.abs, away_from_zero, ("abs",)),
    ("absolute", tnp.absolute, np.absolute, away_from_zero, ("abs",)),
    ("sigmoid", tnp.sigmoid, lambda x: 1 / (1 + np.exp(-x)), normal, ("sigmoid",)),
    ("relu", tnp.relu, lambda x: np.maximum(x, 0.0), away_from_zero, ("relu",)),
    (
        "leaky_relu",
        tnp.leaky_relu,
        lambda x: np.where(x > 0, x, 0.01 * x),
        away_from_zero,
        ("where",),
    ),
    (
        "leaky_relu_0.2",
        lambda x: tnp.leaky_relu(x, 0.2),
        lambda x: np.where(x > 0, x, 0.2 * x),
        away_from_zero,
        ("where",),
    ),
]

for (name, f, ref, sampler, covers), shape in itertools.product(UNARY, UNARY_SHAPES):
    add_case(f"{name}-{_sh(shape)}", f, ref, (_arr(sampler(shape)),), covers)


# --- binary elementwise, every broadcasting pair --------------------------------------

BINARY_SHAPES = [(), (3,), (2, 3), (2, 1), (1, 3), (4, 2, 3)]


def _broadcasts(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _separated(shape_a, shape_b):
    """x, y with |x - y| >= 0.2 everywhere they meet: no ties for maximum/minimum."""
    x = normal(shape_a)
    base = np.broadcast_to(x, np.broadcast_shapes(shape_a, shape_b))
    # y must not depend on the broadcast layout of x, so draw it, then push it apart
    # from the nearest x value where needed.
    y = normal(shape_b)
    for _ in range(100):
        gap = np.abs(np.broadcast_to(y, base.shape) - base)
        if gap.min() >= 0.2:
            break
        y = normal(shape_b)
    else:
        raise RuntimeError("could not draw separated inputs")
    return _arr(x), _arr(y)


def _remainder_args(shape_a, shape_b):
    """x mod y away from its jumps: every x/y at least 0.02 from an integer."""
    out = np.broadcast_shapes(shape_a, shape_b)
    for _ in range(1000):
        x, y = normal(shape_a, 2.0), uniform(0.5, 1.5)(shape_b)
        q = np.broadcast_to(x, out) / np.broadcast_to(y, out)
        if np.min(np.abs(q - np.round(q))) >= 0.02:
            return _arr(x), _arr(y)
    raise RuntimeError("could not draw inputs away from the jumps of remainder")


BINARY = [
    ("add", tnp.add, np.add, ("add",)),
    ("subtract", tnp.subtract, np.subtract, ("subtract",)),
    ("multiply", tnp.multiply, np.multiply, ("multiply",)),
    ("divide", tnp.divide, np.divide, ("divide",)),
    ("true_divide", tnp.true_divide, np.true_divide, ("divide",)),
    ("power", tnp.power, np.power, ("power",)),
    ("maximum", tnp.maximum, np.maximum, ("maximum",)),
    ("minimum", tnp.minimum, np.minimum, ("minimum",)),
    ("remainder", tnp.remainder, np.remainder, ("remainder",)),
]

BINARY_PAIRS = [
    (a, b) for a, b in itertools.product(BINARY_SHAPES, BINARY_SHAPES) if _broadcasts(a, b)
]

for (name, f, ref, covers), (sa, sb) in itertools.product(BINARY, BINARY_PAIRS):
    if name in ("maximum", "minimum"):
        args = _separated(sa, sb)
    elif name in ("divide", "true_divide"):
        args = (_arr(normal(sa)), _arr(away_from_zero(sb)))
    elif name == "power":
        args = (_arr(uniform(0.5, 2.0)(sa)), _arr(normal(sb)))
    elif name == "remainder":
        args = _remainder_args(sa, sb)
    else:
        args = (_arr(normal(sa)), _arr(normal(sb)))
    add_case(f"{name}-{_sh(sa)}-{_sh(sb)}", f, ref, args, covers)

# Python scalars on either side (not differentiated, but they must broadcast).
add_case(
    "power-int-exponent",
    lambda x: tnp.power(x, 3),
    lambda x: np.power(x, 3),
    (_arr(normal((2, 3))),),
    ("power",),
)
add_case(
    "rpow-scalar-base",
    lambda x: tnp.power(2.0, x),
    lambda x: np.power(2.0, x),
    (_arr(normal((3,))),),
    ("power",),
)
add_case(
    "power-neg-base-int-exponent",
    lambda x: tnp.power(x, 2.0),
    lambda x: np.power(x, 2.0),
    (_arr(away_from_zero((3,))),),
    ("power",),
)


# --- where and clip -------------------------------------------------------------------

_cond = RNG.random((2, 3)) > 0.5
for sa, sb in [((2, 3), (2, 3)), ((3,), (2, 1)), ((), (2, 3)), ((1, 3), ())]:
    add_case(
        f"where-{_sh(sa)}-{_sh(sb)}",
        lambda x, y, c=_cond: tnp.where(c, x, y),
        lambda x, y, c=_cond: np.where(c, x, y),
        (_arr(normal(sa)), _arr(normal(sb))),
        ("where",),
    )
add_case(
    "where-traced-condition",
    lambda x: tnp.where(x > 0, x, -2.0 * x),
    lambda x: np.where(x > 0, x, -2.0 * x),
    (_arr(away_from_zero((2, 3))),),
    ("where",),
)

# clip: x is kept 0.1 away from both bounds so no perturbation crosses one.
_clip_x = np.array([[-2.0, -0.6, 0.2], [0.45, 1.3, 2.5]])
add_case(
    "clip-scalars",
    lambda x: tnp.clip(x, -0.5, 1.0),
    lambda x: np.clip(x, -0.5, 1.0),
    (_clip_x,),
    ("where",),
)
add_case(
    "clip-min-only",
    lambda x: tnp.clip(x, -0.5, None),
    lambda x: np.clip(x, -0.5, None),
    (_clip_x,),
    ("where",),
)
add_case(
    "clip-max-only",
    lambda x: tnp.clip(x, None, 1.0),
    lambda x: np.clip(x, None, 1.0),
    (_clip_x,),
    ("where",),
)
add_case(
    "clip-array-bounds",
    tnp.clip,
    np.clip,
    (_clip_x, np.full((2, 3), -0.5), np.array([1.0, 1.0, 1.0])),
    ("where",),
)


# --- reductions -----------------------------------------------------------------------

REDUCE_AXES = [None, 0, -1, (0, 1)]
REDUCTIONS = [
    ("sum", tnp.sum, np.sum, normal, ("sum",)),
    ("mean", tnp.mean, np.mean, normal, ("sum", "divide")),
    ("prod", tnp.prod, np.prod, away_from_zero, ("prod",)),
    ("max", tnp.max, np.max, normal, ("max",)),
    ("min", tnp.min, np.min, normal, ("min",)),
    ("amax", tnp.amax, np.amax, normal, ("max",)),
    ("amin", tnp.amin, np.amin, normal, ("min",)),
    ("logsumexp", tnp.logsumexp, None, normal, ("logsumexp",)),
]


def np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    s = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else np.squeeze(s, axis=axis if axis is not None else None)


for (name, f, ref, sampler, covers), shape, axis, kd in itertools.product(
    REDUCTIONS, [(2, 3), (4, 2, 3)], REDUCE_AXES, [False, True]
):
    ref = ref or np_logsumexp
    add_case(
        f"{name}-{_sh(shape)}-axis{axis}-keepdims{kd}",
        lambda x, f=f, axis=axis, kd=kd: f(x, axis=axis, keepdims=kd),
        lambda x, ref=ref, axis=axis, kd=kd: ref(x, axis=axis, keepdims=kd),
        (_arr(sampler(shape)),),
        covers,
    )
for name, f, ref, sampler, covers in REDUCTIONS:
    add_case(f"{name}-scalar", f, ref or np_logsumexp, (_arr(sampler(())),), covers)
    add_case(f"{name}-3", f, ref or np_logsumexp, (_arr(sampler((3,))),), covers)

for name, f, ref in [("var", tnp.var, np.var), ("std", tnp.std, np.std)]:
    for shape, axis, ddof, kd in itertools.product(
        [(3,), (4, 2, 3)], [None, 0, -1, (0, 1)], [0, 1], [False, True]
    ):
        if len(shape) == 1 and axis not in (None, 0, -1):
            continue
        add_case(
            f"{name}-{_sh(shape)}-axis{axis}-ddof{ddof}-keepdims{kd}",
            lambda x, f=f, axis=axis, ddof=ddof, kd=kd: f(x, axis=axis, ddof=ddof, keepdims=kd),
            lambda x, ref=ref, axis=axis, ddof=ddof, kd=kd: ref(
                x, axis=axis, ddof=ddof, keepdims=kd
            ),
            (_arr(normal(shape)),),
            ("sum", "multiply", "subtract", "divide") + (("sqrt",) if name == "std" else ()),
        )

for shape, axis in [((4,), None), ((2, 3), None), ((2, 3), 0), ((2, 3), -1), ((4, 2, 3), 1)]:
    add_case(
        f"cumsum-{_sh(shape)}-axis{axis}",
        lambda x, axis=axis: tnp.cumsum(x, axis=axis),
        lambda x, axis=axis: np.cumsum(x, axis=axis),
        (_arr(normal(shape)),),
        ("cumsum",),
    )

# prod with zeros: the gradient is the product of the others, which out/x cannot give.
_with_zero = np.array([[1.5, 0.0, -2.0], [0.7, 1.2, -0.4]])
_two_zeros = np.array([0.0, 1.5, 0.0, 2.0])
add_case("prod-with-zero-axisNone", tnp.prod, np.prod, (_with_zero,), ("prod",))
add_case(
    "prod-with-zero-axis-1",
    lambda x: tnp.prod(x, axis=-1),
    lambda x: np.prod(x, axis=-1),
    (_with_zero,),
    ("prod",),
)
add_case("prod-two-zeros", tnp.prod, np.prod, (_two_zeros,), ("prod",))


# --- softmax family -------------------------------------------------------------------


def np_log_softmax(x, axis=-1):
    return x - np_logsumexp(x, axis=axis, keepdims=True)


for shape, axis in [((3,), -1), ((2, 3), -1), ((2, 3), 0), ((4, 2, 3), 1)]:
    add_case(
        f"softmax-{_sh(shape)}-axis{axis}",
        lambda x, a=axis: tnp.softmax(x, axis=a),
        lambda x, a=axis: np.exp(np_log_softmax(x, a)),
        (_arr(normal(shape)),),
        ("log_softmax", "exp"),
    )
    add_case(
        f"log_softmax-{_sh(shape)}-axis{axis}",
        lambda x, a=axis: tnp.log_softmax(x, axis=a),
        lambda x, a=axis: np_log_softmax(x, a),
        (_arr(normal(shape)),),
        ("log_softmax",),
    )


# --- shape operations -----------------------------------------------------------------

X234 = _arr(normal((2, 3, 4)))
X23 = _arr(normal((2, 3)))
SHAPE_OPS = [
    (
        "reshape-6x4",
        lambda x: tnp.reshape(x, (6, 4)),
        lambda x: np.reshape(x, (6, 4)),
        X234,
        ("reshape",),
    ),
    (
        "reshape-minus1",
        lambda x: tnp.reshape(x, (-1, 2)),
        lambda x: np.reshape(x, (-1, 2)),
        X234,
        ("reshape",),
    ),
    (
        "reshape-scalar",
        lambda x: tnp.reshape(x, (1, 1)),
        lambda x: np.reshape(x, (1, 1)),
        _arr(1.3),
        ("reshape",),
    ),
    ("transpose-None", tnp.transpose, np.transpose, X234, ("transpose",)),
    (
        "transpose-perm",
        lambda x: tnp.transpose(x, (1, 2, 0)),
        lambda x: np.transpose(x, (1, 2, 0)),
        X234,
        ("transpose",),
    ),
    (
        "transpose-negative-perm",
        lambda x: tnp.transpose(x, (-1, 0, 1)),
        lambda x: np.transpose(x, (-1, 0, 1)),
        X234,
        ("transpose",),
    ),
    (
        "swapaxes",
        lambda x: tnp.swapaxes(x, 0, -1),
        lambda x: np.swapaxes(x, 0, -1),
        X234,
        ("transpose",),
    ),
    (
        "moveaxis",
        lambda x: tnp.moveaxis(x, 0, -1),
        lambda x: np.moveaxis(x, 0, -1),
        X234,
        ("transpose",),
    ),
    (
        "moveaxis-multi",
        lambda x: tnp.moveaxis(x, [0, 1], [-1, 0]),
        lambda x: np.moveaxis(x, [0, 1], [-1, 0]),
        X234,
        ("transpose",),
    ),
    ("ravel", tnp.ravel, np.ravel, X234, ("reshape",)),
    (
        "expand_dims-0",
        lambda x: tnp.expand_dims(x, 0),
        lambda x: np.expand_dims(x, 0),
        X23,
        ("reshape",),
    ),
    (
        "expand_dims-multi",
        lambda x: tnp.expand_dims(x, (0, -1)),
        lambda x: np.expand_dims(x, (0, -1)),
        X23,
        ("reshape",),
    ),
    ("squeeze-all", tnp.squeeze, np.squeeze, _arr(normal((1, 3, 1))), ("reshape",)),
    (
        "squeeze-axis",
        lambda x: tnp.squeeze(x, -1),
        lambda x: np.squeeze(x, -1),
        _arr(normal((1, 3, 1))),
        ("reshape",),
    ),
    (
        "broadcast_to-2x3",
        lambda x: tnp.broadcast_to(x, (4, 2, 3)),
        lambda x: np.broadcast_to(x, (4, 2, 3)),
        _arr(normal((2, 1))),
        ("broadcast_to",),
    ),
    (
        "broadcast_to-scalar",
        lambda x: tnp.broadcast_to(x, (2, 3)),
        lambda x: np.broadcast_to(x, (2, 3)),
        _arr(0.7),
        ("broadcast_to",),
    ),
    ("flip-None", tnp.flip, np.flip, X234, ("getitem",)),
    ("flip-axis", lambda x: tnp.flip(x, 1), lambda x: np.flip(x, 1), X234, ("getitem",)),
    ("atleast_2d", tnp.atleast_2d, np.atleast_2d, _arr(normal((3,))), ("reshape",)),
    (
        "tile-int",
        lambda x: tnp.tile(x, 2),
        lambda x: np.tile(x, 2),
        X23,
        ("reshape", "broadcast_to"),
    ),
    (
        "tile-tuple",
        lambda x: tnp.tile(x, (2, 1, 3)),
        lambda x: np.tile(x, (2, 1, 3)),
        X23,
        ("reshape", "broadcast_to"),
    ),
    (
        "tile-1d",
        lambda x: tnp.tile(x, (3, 2)),
        lambda x: np.tile(x, (3, 2)),
        _arr(normal((3,))),
        ("reshape", "broadcast_to"),
    ),
    ("repeat-int-None", lambda x: tnp.repeat(x, 2), lambda x: np.repeat(x, 2), X23, ("getitem",)),
    (
        "repeat-int-axis1",
        lambda x: tnp.repeat(x, 3, axis=1),
        lambda x: np.repeat(x, 3, axis=1),
        X23,
        ("getitem",),
    ),
    (
        "repeat-array-axis0",
        lambda x: tnp.repeat(x, [1, 3], axis=0),
        lambda x: np.repeat(x, [1, 3], axis=0),
        X23,
        ("getitem",),
    ),
    (
        "repeat-negative-axis",
        lambda x: tnp.repeat(x, 2, axis=-1),
        lambda x: np.repeat(x, 2, axis=-1),
        X234,
        ("getitem",),
    ),
]
for name, f, ref, x, covers in SHAPE_OPS:
    add_case(name, f, ref, (x,), covers)

# joins: every operand is differentiated
for axis in [0, 1, -1]:
    add_case(
        f"concatenate-axis{axis}",
        lambda a, b, c, axis=axis: tnp.concatenate([a, b, c], axis),
        lambda a, b, c, axis=axis: np.concatenate([a, b, c], axis),
        (_arr(normal((2, 3, 2))), _arr(normal((2, 3, 2))), _arr(normal((2, 3, 2)))),
        ("concatenate",),
    )
add_case(
    "concatenate-uneven",
    lambda a, b: tnp.concatenate([a, b], axis=1),
    lambda a, b: np.concatenate([a, b], axis=1),
    (_arr(normal((2, 1))), _arr(normal((2, 3)))),
    ("concatenate",),
)
add_case(
    "concatenate-axisNone",
    lambda a, b: tnp.concatenate([a, b], axis=None),
    lambda a, b: np.concatenate([a, b], axis=None),
    (_arr(normal((2, 2))), _arr(normal((3,)))),
    ("concatenate", "reshape"),
)
add_case(
    "concatenate-with-constant",
    lambda a: tnp.concatenate([a, np.ones((1, 3))]),
    lambda a: np.concatenate([a, np.ones((1, 3))]),
    (X23,),
    ("concatenate",),
)
for axis in [0, 1, -1]:
    add_case(
        f"stack-axis{axis}",
        lambda a, b, axis=axis: tnp.stack([a, b], axis),
        lambda a, b, axis=axis: np.stack([a, b], axis),
        (_arr(normal((2, 3))), _arr(normal((2, 3)))),
        ("concatenate", "reshape"),
    )
add_case(
    "stack-scalars",
    lambda a, b: tnp.stack([a, b]),
    lambda a, b: np.stack([a, b]),
    (_arr(0.3), _arr(-1.2)),
    ("concatenate", "reshape"),
)
add_case(
    "hstack",
    lambda a, b: tnp.hstack([a, b]),
    lambda a, b: np.hstack([a, b]),
    (_arr(normal((2, 1))), X23),
    ("concatenate",),
)
add_case(
    "hstack-1d",
    lambda a, b: tnp.hstack([a, b]),
    lambda a, b: np.hstack([a, b]),
    (_arr(normal((2,))), _arr(normal((3,)))),
    ("concatenate",),
)
add_case(
    "vstack",
    lambda a, b: tnp.vstack([a, b]),
    lambda a, b: np.vstack([a, b]),
    (_arr(normal((3,))), X23),
    ("concatenate", "reshape"),
)
add_case(
    "array-of-traced",
    lambda a, b: tnp.array([[a, b], [b * a, a]]),
    lambda a, b: np.array([[a, b], [b * a, a]]),
    (_arr(0.4), _arr(-1.1)),
    ("concatenate", "reshape", "multiply"),
)

# split returns a list: the test function joins the pieces with distinct weights
for spec, axis in [(2, 0), (3, 1), ([1, 3], -1), ([2], 1)]:

    def _split(x, spec=spec, axis=axis, m=tnp):
        parts = m.split(x, spec, axis=axis)
        return m.concatenate([p * (i + 1.0) for i, p in enumerate(parts)], axis=axis)

    add_case(
        f"split-{spec}-axis{axis}",
        _split,
        lambda x, s=_split: s(x, m=np),
        (_arr(normal((4, 3, 4))),),
        ("getitem", "multiply", "concatenate"),
    )


# --- indexing -------------------------------------------------------------------------

INDICES = [
    ("int", 1),
    ("negative-int", -1),
    ("slice", slice(1, None)),
    ("negative-step", slice(None, None, -1)),
    ("step-2-reverse", (slice(None), slice(None, None, -2))),
    ("None-Ellipsis", (None, Ellipsis, 1)),
    ("Ellipsis-None", (Ellipsis, None)),
    ("int-array-repeated", np.array([0, 0, 1, 0])),
    ("int-array-2d-repeated", np.array([[0, 1], [1, 1]])),
    ("list-repeated", [1, 1, 0]),
    ("int-arrays-mixed", (np.array([0, 1, 1]), slice(None), np.array([2, 2, 0]))),
    ("int-array-and-slice", (slice(None), np.array([2, 0, 2, 2]))),
    ("bool-mask", RNG.random((2, 3, 4)) > 0.4),
    ("bool-mask-axis", (slice(None), np.array([True, False, True]))),
]
for name, idx in INDICES:
    add_case(
        f"getitem-{name}",
        lambda x, idx=idx: x[idx],
        lambda x, idx=idx: x[idx],
        (X234,),
        ("getitem",),
    )

_rep = (np.array([0, 2, 2, 0, 2]),)
add_case(
    "scatter_add-repeated",
    lambda g: ix.scatter_add(g, _rep, (4,)),
    lambda g: np.bincount(_rep[0], weights=g, minlength=4),
    (_arr(normal((5,))),),
    ("scatter_add",),
)
add_case(
    "scatter_add-basic",
    lambda g: ix.scatter_add(g, (slice(1, 3),), (4, 2)),
    lambda g: np.concatenate([np.zeros((1, 2)), g, np.zeros((1, 2))]),
    (_arr(normal((2, 2))),),
    ("scatter_add",),
)

for idx, axis in [(np.array([3, 0, 0]), None), (np.array([2, 0, 2]), 1), ([1, 1], -1)]:
    add_case(
        f"take-axis{axis}",
        lambda x, i=idx, a=axis: tnp.take(x, i, axis=a),
        lambda x, i=idx, a=axis: np.take(x, i, axis=a),
        (X234,),
        ("getitem",),
    )
_tidx = RNG.integers(0, 4, (2, 3, 2))
add_case(
    "take_along_axis-axisNone",
    lambda x: tnp.take_along_axis(x, np.array([5, 0, 5, 23]), None),
    lambda x: np.take_along_axis(x, np.array([5, 0, 5, 23]), None),
    (X234,),
    ("getitem", "reshape"),
)
for axis in [-1, 0]:
    ids = _tidx if axis == -1 else RNG.integers(0, 2, (3, 3, 4))
    add_case(
        f"take_along_axis-axis{axis}",
        lambda x, i=ids, a=axis: tnp.take_along_axis(x, i, a),
        lambda x, i=ids, a=axis: np.take_along_axis(x, i, a),
        (X234,),
        ("getitem",),
    )
for axis in [-1, 0, None]:
    add_case(
        f"sort-axis{axis}",
        lambda x, a=axis: tnp.sort(x, axis=a),
        lambda x, a=axis: np.sort(x, axis=a),
        (X234,),
        ("getitem",),
    )
for k in [0, 1, -1]:
    add_case(
        f"diag-vector-k{k}",
        lambda v, k=k: tnp.diag(v, k),
        lambda v, k=k: np.diag(v, k),
        (_arr(normal((3,))),),
        ("getitem", "multiply"),
    )
    add_case(
        f"diag-matrix-k{k}",
        lambda v, k=k: tnp.diag(v, k),
        lambda v, k=k: np.diag(v, k),
        (_arr(normal((3, 4))),),
        ("getitem",),
    )
add_case("tril", tnp.tril, np.tril, (_arr(normal((3, 3))),), ("multiply",))
add_case(
    "triu-k1",
    lambda x: tnp.triu(x, 1),
    lambda x: np.triu(x, 1),
    (_arr(normal((3, 4))),),
    ("multiply",),
)
add_case(
    "astype-float64",
    lambda x: tnp.astype(x, np.float64),
    lambda x: x.astype(np.float64),
    (X23,),
    ("astype",),
)
add_case(
    "method-astype",
    lambda x: x.astype(np.float64),  # ndarray.astype untraced, the astype primitive traced
    lambda x: x.astype(np.float64),
    (X23,),
    ("astype",),
)


# --- contractions ---------------------------------------------------------------------

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((5, 2, 3), (3,)),
    ((3,), (5, 3, 4)),
    ((1, 2, 3), (5, 3, 4)),
    ((4, 1, 2, 3), (5, 3, 2)),
]
for sa, sb in MATMUL_SHAPES:
    add_case(
        f"matmul-{_sh(sa)}-{_sh(sb)}",
        tnp.matmul,
        np.matmul,
        (_arr(normal(sa)), _arr(normal(sb))),
        ("matmul",),
    )
    add_case(
        f"matmul-operator-{_sh(sa)}-{_sh(sb)}",
        lambda a, b: a @ b,
        np.matmul,
        (_arr(normal(sa)), _arr(normal(sb))),
        ("matmul",),
    )

DOT_SHAPES = [
    ((), (3,)),
    ((3,), ()),
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((2, 3, 4), (4,)),
    ((2, 3, 4), (5, 4, 2)),
    ((3,), (2, 3, 4)),
]
for sa, sb in DOT_SHAPES:
    add_case(
        f"dot-{_sh(sa)}-{_sh(sb)}",
        tnp.dot,
        np.dot,
        (_arr(normal(sa)), _arr(normal(sb))),
        ("matmul",) if sa and sb else ("multiply",),
    )

for axes, sa, sb in [
    (2, (2, 3, 4), (3, 4, 5)),
    (1, (2, 3), (3, 4)),
    (0, (2,), (3,)),
    (([0, 2], [1, 0]), (4, 2, 3), (3, 4, 5)),
    (([-1], [0]), (2, 3), (3, 2)),
]:
    add_case(
        f"tensordot-{axes}-{_sh(sa)}-{_sh(sb)}",
        lambda a, b, axes=axes: tnp.tensordot(a, b, axes),
        lambda a, b, axes=axes: np.tensordot(a, b, axes),
        (_arr(normal(sa)), _arr(normal(sb))),
        ("matmul", "transpose", "reshape"),
    )

EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output
    ("i,i", [(3,), (3,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("ij->", [(2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ba", [(2, 3)]),  # implicit output sorts letters: a transpose
    ("...ij,...jk->...ik", [(5, 2, 3), (5, 3, 4)]),
    ("...ij,jk", [(5, 2, 3), (3, 4)]),  # implicit output with ellipsis
    ("bij,bjk->bik", [(5, 2, 3), (5, 3, 4)]),
    ("ij,kl->", [(2, 3), (4, 2)]),  # letters summed inside one operand only
    ("ij,ij,ij->i", [(2, 3), (2, 3), (2, 3)]),
    ("ii->i", [(3, 3)]),  # repeated subscript: the diagonal
    ("ii", [(3, 3)]),  # the trace
    ("iij,j->i", [(3, 3, 2), (2,)]),
    ("iji->j", [(3, 2, 3)]),
    ("ij,jj->i", [(2, 3), (3, 3)]),  # repeated letter in the other operand
]
for spec, shapes in EINSUMS:
    add_case(
        f"einsum-{spec}-" + "-".join(_sh(s) for s in shapes),
        lambda *ops, spec=spec: tnp.einsum(spec, *ops),
        lambda *ops, spec=spec: np.einsum(spec, *ops),
        tuple(_arr(normal(s)) for s in shapes),
        ("einsum",),
    )

for sa, sb in [((3,), (4,)), ((2, 3), (2,)), ((), (3,))]:
    add_case(
        f"outer-{_sh(sa)}-{_sh(sb)}",
        tnp.outer,
        np.outer,
        (_arr(normal(sa)), _arr(normal(sb))),
        ("multiply", "reshape"),
    )
for sa, sb in [((3,), (3,)), ((2, 3), (4, 3)), ((), (3,))]:
    add_case(
        f"inner-{_sh(sa)}-{_sh(sb)}",
        tnp.inner,
        np.inner,
        (_arr(normal(sa)), _arr(normal(sb))),
        ("matmul",) if sa else ("multiply",),
    )
add_case("vdot", tnp.vdot, np.vdot, (X23, _arr(normal((3, 2)))), ("matmul",))
for shape, kw in [
    ((3, 3), {}),
    ((3, 4), {"offset": 1}),
    ((3, 4), {"offset": -1}),
    ((2, 3, 4), {"axis1": 1, "axis2": 2}),
    ((3, 2, 3), {"axis1": 0, "axis2": -1}),
]:
    add_case(
        f"trace-{_sh(shape)}-{kw}",
        lambda x, kw=kw: tnp.trace(x, **kw),
        lambda x, kw=kw: np.trace(x, **kw),
        (_arr(normal(shape)),),
        ("multiply", "sum"),
    )


# --- linalg ---------------------------------------------------------------------------


def well_conditioned(shape):
    """Random matrices (stacks) near a multiple of the identity: far from singular."""
    n = shape[-1]
    return _arr(normal(shape, 0.3) + 2.0 * np.eye(n))


def negative_det(shape):
    a = well_conditioned(shape)
    return _arr(a[..., ::-1, :])  # a row swap flips the sign of the determinant


for shape in [(3, 3), (2, 3, 3), (1, 1)]:
    s = _sh(shape)
    add_case(f"inv-{s}", tnp.linalg.inv, np.linalg.inv, (well_conditioned(shape),), ("inv",))
    add_case(f"det-{s}", tnp.linalg.det, np.linalg.det, (well_conditioned(shape),), ("det",))
    add_case(f"det-negative-{s}", tnp.linalg.det, np.linalg.det, (negative_det(shape),), ("det",))
    add_case(
        f"slogdet-{s}",
        lambda x: tnp.linalg.slogdet(x)[1],
        lambda x: np.linalg.slogdet(x)[1],
        (negative_det(shape),),
        ("logabsdet",),
    )
    add_case(
        f"slogdet-sign-times-{s}",
        lambda x: tnp.linalg.slogdet(x).sign * tnp.linalg.slogdet(x).logabsdet,
        lambda x: np.linalg.slogdet(x)[0] * np.linalg.slogdet(x)[1],
        (negative_det(shape),),
        ("logabsdet",),
    )

for sa, sb in [
    ((3, 3), (3,)),
    ((3, 3), (3, 2)),
    ((2, 3, 3), (2, 3, 2)),
    ((2, 3, 3), (3, 2)),
    ((2, 3, 3), (3,)),
    ((1, 3, 3), (2, 3, 1)),
]:
    add_case(
        f"solve-{_sh(sa)}-{_sh(sb)}",
        tnp.linalg.solve,
        np.linalg.solve,
        (well_conditioned(sa), _arr(normal(sb))),
        ("solve",),
    )

NORMS = [
    # (id, shape, kwargs)
    ("vec-None", (4,), {}),
    ("vec-1", (4,), {"ord": 1}),
    ("vec-2", (4,), {"ord": 2}),
    ("vec-inf", (4,), {"ord": np.inf}),
    ("vec--inf", (4,), {"ord": -np.inf}),
    ("vec-3", (4,), {"ord": 3}),
    ("vec-0.5", (4,), {"ord": 0.5}),
    ("rows-2", (2, 3), {"ord": 2, "axis": 1}),
    ("rows-1-keepdims", (2, 3), {"ord": 1, "axis": -1, "keepdims": True}),
    ("cols-inf", (2, 3), {"ord": np.inf, "axis": 0}),
    ("rows-3-axis-tuple", (2, 3), {"ord": 3, "axis": (1,)}),
    ("3d-None", (2, 3, 4), {}),
    ("3d-axis-2", (2, 3, 4), {"axis": 2}),
    ("mat-None", (3, 4), {}),
    ("mat-fro", (3, 4), {"ord": "fro"}),
    ("mat-1", (3, 4), {"ord": 1}),
    ("mat--1", (3, 4), {"ord": -1}),
    ("mat-inf", (3, 4), {"ord": np.inf}),
    ("mat--inf", (3, 4), {"ord": -np.inf}),
    ("mat-fro-keepdims", (3, 4), {"ord": "fro", "keepdims": True}),
    ("batched-fro", (2, 3, 4), {"ord": "fro", "axis": (1, 2)}),
    ("batched-1", (2, 3, 4), {"ord": 1, "axis": (1, 2)}),
    ("batched-inf-swapped", (2, 3, 4), {"ord": np.inf, "axis": (2, 0)}),
    ("batched-1-keepdims", (2, 3, 4), {"ord": 1, "axis": (-2, -1), "keepdims": True}),
]
for name, shape, kw in NORMS:
    add_case(
        f"norm-{name}-{_sh(shape)}",
        lambda x, kw=kw: tnp.linalg.norm(x, **kw),
        lambda x, kw=kw: np.linalg.norm(x, **kw),
        (_arr(away_from_zero(shape)),),
        ("abs",) if kw.get("ord") not in (None, 2, "fro") else ("sqrt",),
        rtol=1e-4,
    )


# decompositions: positive definite matrices with distinct eigenvalues, general
# matrices with distinct singular values (random draws have both)


def spd(shape):
    a = normal(shape)
    return _arr(a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1]))


LA = tnp.linalg
DECOMPOSITIONS = [
    ("cholesky", LA.cholesky, np.linalg.cholesky, spd, ("cholesky",)),
    ("eigh-values", lambda a: LA.eigh(a)[0], lambda a: np.linalg.eigh(a)[0], spd, ("eigh",)),
    ("eigh-vectors", lambda a: LA.eigh(a)[1], lambda a: np.linalg.eigh(a)[1], spd, ("eigh",)),
    ("eigvalsh", LA.eigvalsh, np.linalg.eigvalsh, spd, ("eigvalsh",)),
    (
        "eigh-vectors-upper",
        lambda a: LA.eigh(a, "U")[1],
        lambda a: np.linalg.eigh(a, "U")[1],
        spd,
        ("eigh",),
    ),
    (
        "eigvalsh-upper",
        lambda a: LA.eigvalsh(a, UPLO="U"),
        lambda a: np.linalg.eigvalsh(a, UPLO="U"),
        spd,
        ("eigvalsh",),
    ),
]
for (name, f, ref, sampler, covers), shape in itertools.product(
    DECOMPOSITIONS, [(3, 3), (2, 3, 3), (1, 1)]
):
    add_case(f"{name}-{_sh(shape)}", f, ref, (sampler(shape),), covers)

FACTORS = [
    ("qr-Q", lambda a: LA.qr(a).Q, lambda a: np.linalg.qr(a).Q, ("qr",)),
    ("qr-R", lambda a: LA.qr(a).R, lambda a: np.linalg.qr(a).R, ("qr",)),
    ("qr-r-mode", lambda a: LA.qr(a, mode="r"), lambda a: np.linalg.qr(a, mode="r"), ("qr",)),
    (
        "svd-U",
        lambda a: LA.svd(a, full_matrices=False).U,
        lambda a: np.linalg.svd(a, full_matrices=False).U,
        ("svd",),
    ),
    (
        "svd-S",
        lambda a: LA.svd(a, full_matrices=False).S,
        lambda a: np.linalg.svd(a, full_matrices=False).S,
        ("svd",),
    ),
    (
        "svd-Vh",
        lambda a: LA.svd(a, full_matrices=False).Vh,
        lambda a: np.linalg.svd(a, full_matrices=False).Vh,
        ("svd",),
    ),
    ("svdvals", LA.svdvals, np.linalg.svdvals, ("svdvals",)),
    (
        "svd-compute_uv-False",
        lambda a: LA.svd(a, compute_uv=False),
        lambda a: np.linalg.svd(a, compute_uv=False),
        ("svdvals",),
    ),
    ("pinv", LA.pinv, np.linalg.pinv, ("svd",)),
    ("norm-2", lambda a: LA.norm(a, 2), lambda a: np.linalg.norm(a, 2), ("svdvals",)),
    ("norm-nuc", lambda a: LA.norm(a, "nuc"), lambda a: np.linalg.norm(a, "nuc"), ("svdvals",)),
    ("norm--2", lambda a: LA.norm(a, -2), lambda a: np.linalg.norm(a, -2), ("svdvals",)),
    ("matrix_norm-fro", LA.matrix_norm, np.linalg.matrix_norm, ("sqrt",)),
]
for (name, f, ref, covers), shape in itertools.product(FACTORS, [(3, 3), (4, 3), (2, 4, 3)]):
    if name.startswith("norm") and len(shape) == 3:
        continue
    add_case(f"{name}-{_sh(shape)}", f, ref, (_arr(normal(shape)),), covers)
for shape in [(3, 5), (2, 3, 4)]:
    for name, f, ref, covers in FACTORS[3:8]:
        add_case(f"{name}-{_sh(shape)}", f, ref, (_arr(normal(shape)),), covers)

_A43 = _arr(normal((4, 3)))
LINALG_MORE = [
    (
        "lstsq-x",
        lambda a, b: LA.lstsq(a, b).x,
        lambda a, b: np.linalg.lstsq(a, b)[0],
        (_A43, _arr(normal((4, 2)))),
    ),
    (
        "lstsq-x-vector",
        lambda a, b: LA.lstsq(a, b).x,
        lambda a, b: np.linalg.lstsq(a, b)[0],
        (_A43, _arr(normal((4,)))),
    ),
    (
        "lstsq-residuals",
        lambda a, b: LA.lstsq(a, b).residuals,
        lambda a, b: np.linalg.lstsq(a, b)[1],
        (_A43, _arr(normal((4, 2)))),
    ),
    (
        "matrix_power-3",
        lambda a: LA.matrix_power(a, 3),
        lambda a: np.linalg.matrix_power(a, 3),
        (well_conditioned((3, 3)),),
    ),
    (
        "matrix_power--2",
        lambda a: LA.matrix_power(a, -2),
        lambda a: np.linalg.matrix_power(a, -2),
        (well_conditioned((2, 3, 3)),),
    ),
    (
        "matrix_power-0",
        lambda a: LA.matrix_power(a, 0) * a,
        lambda a: np.linalg.matrix_power(a, 0) * a,
        (well_conditioned((3, 3)),),
    ),
    (
        "multi_dot",
        lambda a, b, c: LA.multi_dot([a, b, c]),
        lambda a, b, c: np.linalg.multi_dot([a, b, c]),
        (_arr(normal((3,))), _arr(normal((3, 4))), _arr(normal((4, 2)))),
    ),
    ("cond", LA.cond, np.linalg.cond, (_arr(normal((3, 3))),)),
    (
        "cond-fro",
        lambda a: LA.cond(a, "fro"),
        lambda a: np.linalg.cond(a, "fro"),
        (well_conditioned((3, 3)),),
    ),
    ("vector_norm", LA.vector_norm, np.linalg.vector_norm, (_A43,)),
    (
        "vector_norm-axes",
        lambda a: LA.vector_norm(a, axis=(0, 2), ord=3),
        lambda a: np.linalg.vector_norm(a, axis=(0, 2), ord=3),
        (_arr(away_from_zero((2, 3, 4))),),
    ),
    (
        "tensorsolve",
        LA.tensorsolve,
        np.linalg.tensorsolve,
        (_arr(normal((6, 2, 3)) + np.eye(6).reshape(6, 2, 3)), _arr(normal((6,)))),
    ),
]
for name, f, ref, args in LINALG_MORE:
    add_case(name, f, ref, args, ())


# --- tracegrad.scipy --------------------------------------------------------------------

SPECIAL = [
    ("erf", normal, ("erf",)),
    ("erfc", normal, ("erfc",)),
    ("erfinv", uniform(-0.9, 0.9), ("erfinv",)),
    ("erfcinv", uniform(0.1, 1.9), ("erfcinv",)),
    ("ndtr", normal, ("ndtr",)),
    ("log_ndtr", normal, ("log_ndtr",)),
    ("ndtri", uniform(0.05, 0.95), ("ndtri",)),
    ("gammaln", uniform(0.5, 4.0), ("gammaln",)),
    ("gamma", uniform(0.5, 4.0), ("gamma",)),
    ("digamma", uniform(0.5, 4.0), ("digamma",)),
    ("psi", uniform(0.5, 4.0), ("digamma",)),
    ("expit", normal, ("sigmoid",)),
    ("log_expit", normal, ("logaddexp",)),
    ("logit", uniform(0.1, 0.9), ("log", "log1p")),
    ("softplus", normal, ("logaddexp",)),
]
for (name, sampler, covers), shape in itertools.product(SPECIAL, [(), (2, 3)]):
    add_case(
        f"scipy.special.{name}-{_sh(shape)}",
        getattr(tss, name),
        getattr(scipy.special, name),
        (_arr(sampler(shape)),),
        covers,
    )
SPECIAL_MORE = [
    ("j0", normal, ("j0",)),
    ("j1", normal, ("j1",)),
    ("y0", uniform(0.5, 4.0), ("y0",)),
    ("y1", uniform(0.5, 4.0), ("y1",)),
    ("i0", normal, ("i0",)),
    ("i1", normal, ("i1",)),
    ("i0e", away_from_zero, ("i0e",)),
    ("i1e", away_from_zero, ("i1e",)),
    ("rgamma", uniform(0.5, 4.0), ("gamma",)),
]
for (name, sampler, covers), shape in itertools.product(SPECIAL_MORE, [(), (2, 3)]):
    add_case(
        f"scipy.special.{name}-{_sh(shape)}",
        getattr(tss, name),
        getattr(scipy.special, name),
        (_arr(sampler(shape)),),
        covers,
    )
ORDERED = [  # fn(param..., x): differentiable in x
    ("jv", (1.5,), uniform(0.5, 4.0), ("jv",)),
    ("jn", (2,), normal, ("jv",)),
    ("yv", (0.5,), uniform(0.5, 4.0), ("yv",)),
    ("yn", (1,), uniform(0.5, 4.0), ("yv",)),
    ("iv", (2.5,), uniform(0.5, 4.0), ("iv",)),
    ("kv", (0.7,), uniform(0.5, 4.0), ("kv",)),
    ("ive", (1.2,), uniform(0.5, 4.0), ("ive",)),
    ("gammainc", (1.7,), uniform(0.5, 4.0), ("gammainc",)),
    ("gammaincc", (2.3,), uniform(0.5, 4.0), ("gammaincc",)),
    ("betainc", (1.5, 2.5), uniform(0.1, 0.9), ("betainc",)),
    ("stdtr", (3.5,), normal, ("stdtr",)),
]
for name, params, sampler, covers in ORDERED:
    add_case(
        f"scipy.special.{name}",
        lambda x, n=name, p=params: getattr(tss, n)(*p, x),
        lambda x, n=name, p=params: getattr(scipy.special, n)(*p, x),
        (_arr(sampler((2, 3))),),
        covers,
    )
for name in ["beta", "betaln"]:
    add_case(
        f"scipy.special.{name}",
        getattr(tss, name),
        getattr(scipy.special, name),
        (_arr(uniform(0.5, 3.0)((2, 3))), _arr(uniform(0.5, 3.0)((3,)))),
        ("gammaln",),
    )
add_case(
    "scipy.special.multigammaln",
    lambda a: tss.multigammaln(a, 3),
    lambda a: scipy.special.multigammaln(a, 3),
    (_arr(3.2),),
    ("gammaln",),
)
for n in [0, 1, 2]:
    add_case(
        f"scipy.special.polygamma-{n}",
        lambda x, n=n: tss.polygamma(n, x),
        lambda x, n=n: scipy.special.polygamma(n, x),
        (_arr(uniform(0.5, 4.0)((2, 3))),),
        ("polygamma",),
    )
for name in ["xlogy", "xlog1py"]:
    for sa, sb in [((), ()), ((2, 3), (3,))]:
        add_case(
            f"scipy.special.{name}-{_sh(sa)}-{_sh(sb)}",
            getattr(tss, name),
            getattr(scipy.special, name),
            (_arr(normal(sa)), _arr(uniform(0.3, 2.0)(sb))),
            (name,),
        )
    add_case(
        f"scipy.special.{name}-x-zero",
        lambda y, n=name: getattr(tss, n)(np.array([0.0, 1.5]), y),
        lambda y, n=name: getattr(scipy.special, n)(np.array([0.0, 1.5]), y),
        (_arr(uniform(0.3, 2.0)((2,))),),
        (name,),
    )
for name in ["logsumexp", "softmax", "log_softmax"]:
    add_case(
        f"scipy.special.{name}",
        lambda x, n=name: getattr(tss, n)(x, axis=-1),
        lambda x, n=name: getattr(scipy.special, n)(x, axis=-1),
        (_arr(normal((2, 3))),),
        (),
    )
for name in ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"]:
    add_case(
        f"scipy.stats.norm.{name}",
        lambda x, loc, scale, n=name: getattr(tst.norm, n)(x, loc, scale),
        lambda x, loc, scale, n=name: getattr(scipy.stats.norm, n)(x, loc, scale),
        (_arr(normal((2, 3))), _arr(normal((3,))), _arr(uniform(0.5, 2.0)(()))),
        (),
    )
_pos4 = _arr(uniform(1.1, 4.0)((4,)))
_unit4 = _arr(uniform(0.1, 0.9)((4,)))
DISTRIBUTIONS = [  # (name, method, tg args -> value, differentiated args)
    ("t", "logpdf", (_arr(normal((4,))), _arr(uniform(2.1, 5.0)((4,))), _arr(normal((4,))), _pos4)),
    (
        "t",
        "pdf",
        (_arr(normal((3, 4))), _arr(uniform(2.1, 5.0)((1, 4))), _arr(normal((3, 4))), _pos4),
    ),
    ("chi2", "logpdf", (_pos4, _arr(uniform(1.0, 4.0)((4,))))),
    ("chi2", "pdf", (_pos4, _arr(uniform(1.0, 4.0)((4,))))),
    ("gamma", "logpdf", (_pos4, _arr(uniform(1.0, 4.0)((4,))))),
    ("gamma", "pdf", (_pos4, _arr(uniform(1.0, 4.0)((4,))), _arr(0.3), _arr(1.7))),
    ("beta", "logpdf", (_unit4, _arr(uniform(1.1, 4.0)((4,))), _pos4)),
    ("beta", "pdf", (_unit4, _arr(uniform(1.1, 4.0)((4,))), _pos4)),
    ("dirichlet", "logpdf", (np.array([0.2, 0.3, 0.5]), _arr(uniform(1.2, 3.0)((3,))))),
    ("dirichlet", "pdf", (np.array([0.2, 0.3, 0.5]), _arr(uniform(1.2, 3.0)((3,))))),
]
for dist, method, args in DISTRIBUTIONS:
    add_case(
        f"scipy.stats.{dist}.{method}-{len(args)}args",
        lambda *a, d=dist, m=method: getattr(getattr(tst, d), m)(*a),
        lambda *a, d=dist, m=method: getattr(getattr(scipy.stats, d), m)(*a),
        args,
        (),
        rtol=1e-4,
    )
CDFS = [  # differentiable in x (and loc, scale)
    ("t", "cdf", lambda x, loc: (x, 3.5, loc, 1.5)),
    ("t", "logcdf", lambda x, loc: (x, 3.5, loc, 1.5)),
    ("chi2", "cdf", lambda x, loc: (x * x + 0.5, 3)),
    ("gamma", "cdf", lambda x, loc: (x * x + 0.5, 2.5, loc * 0.1)),
    ("gamma", "logcdf", lambda x, loc: (x * x + 0.5, 2.5)),
    ("beta", "cdf", lambda x, loc: (x * 0.1 + 0.5, 1.5, 2.5)),
]
for dist, method, make in CDFS:
    add_case(
        f"scipy.stats.{dist}.{method}",
        lambda x, loc, d=dist, m=method, mk=make: getattr(getattr(tst, d), m)(*mk(x, loc)),
        lambda x, loc, d=dist, m=method, mk=make: getattr(getattr(scipy.stats, d), m)(*mk(x, loc)),
        (_arr(uniform(-1.0, 1.0)((4,))), _arr(0.3)),
        (),
    )
_k = np.array([0.0, 2.0, 5.0, 1.0])
for method in ["logpmf", "pmf", "cdf"]:
    add_case(
        f"scipy.stats.poisson.{method}",
        lambda mu, m=method: getattr(tst.poisson, m)(_k, mu),
        lambda mu, m=method: getattr(scipy.stats.poisson, m)(_k, mu),
        (_pos4,),
        (),
    )
_cov = spd((3, 3))
for method in ["logpdf", "pdf"]:
    for xshape in [(3,), (5, 3)]:
        add_case(
            f"scipy.stats.multivariate_normal.{method}-{_sh(xshape)}",
            lambda x, mean, cov, m=method: getattr(tst.multivariate_normal, m)(x, mean, cov),
            lambda x, mean, cov, m=method: getattr(scipy.stats.multivariate_normal, m)(
                x, mean, cov
            ),
            (_arr(normal(xshape)), _arr(normal((3,))), _cov),
            ("cholesky", "solve_triangular"),
        )
add_case(
    "scipy.stats.multivariate_normal.entropy",
    lambda cov: tst.multivariate_normal.entropy(None, cov),
    lambda cov: np.float64(scipy.stats.multivariate_normal.entropy(None, cov)),
    (_cov,),
    ("cholesky",),
)
for sa, sb, mode in [((5,), (3,), "full"), ((3, 4), (2, 2), "same"), ((4, 3), (2, 3), "valid")]:
    add_case(
        f"scipy.signal.convolve-{_sh(sa)}-{_sh(sb)}-{mode}",
        lambda a, b, m=mode: tss_signal.convolve(a, b, m),
        lambda a, b, m=mode: scipy.signal.convolve(a, b, m),
        (_arr(normal(sa)), _arr(normal(sb))),
        ("scatter_add",),
        rtol=1e-4,
    )
    add_case(
        f"scipy.signal.correlate-{_sh(sa)}-{_sh(sb)}-{mode}",
        lambda a, b, m=mode: tss_signal.correlate(a, b, m),
        lambda a, b, m=mode: scipy.signal.correlate(a, b, m),
        (_arr(normal(sa)), _arr(normal(sb))),
        ("scatter_add",),
        rtol=1e-4,
    )
add_case(
    "scipy.stats.norm.ppf",
    lambda q, loc: tst.norm.ppf(q, loc, 1.5),
    lambda q, loc: scipy.stats.norm.ppf(q, loc, 1.5),
    (_arr(uniform(0.1, 0.9)((3,))), _arr(0.4)),
    ("ndtri",),
)

_T33 = _arr(normal((3, 3)) + 3.0 * np.eye(3))
for kw in [
    {"lower": True},
    {"lower": False},
    {"lower": True, "trans": "T"},
    {"unit_diagonal": True},
]:
    for bshape in [(3,), (3, 2)]:
        flags = "-".join(f"{k}{v}" for k, v in kw.items())
        add_case(
            f"scipy.linalg.solve_triangular-{flags}-{_sh(bshape)}",
            lambda a, b, kw=kw: tsl.solve_triangular(a, b, **kw),
            lambda a, b, kw=kw: scipy.linalg.solve_triangular(a, b, **kw),
            (_T33, _arr(normal(bshape))),
            ("solve_triangular",),
        )
for lower in [True, False]:
    add_case(
        f"scipy.linalg.cho_solve-lower{lower}",
        lambda a, b, lo=lower: tsl.cho_solve(tsl.cho_factor(a, lo), b),
        lambda a, b, lo=lower: scipy.linalg.cho_solve(scipy.linalg.cho_factor(a, lo), b),
        (spd((3, 3)), _arr(normal((3, 2)))),
        ("cholesky", "solve_triangular"),
    )
add_case(
    "scipy.linalg.solve_sylvester",
    tsl.solve_sylvester,
    scipy.linalg.solve_sylvester,
    (well_conditioned((3, 3)), well_conditioned((2, 2)), _arr(normal((3, 2)))),
    ("solve_sylvester",),
)
for name, a in [("spd", spd((3, 3))), ("general", well_conditioned((3, 3)))]:
    add_case(f"scipy.linalg.sqrtm-{name}", tsl.sqrtm, scipy.linalg.sqrtm, (a,), ("sqrtm",))
for shape in [(3, 3), (2, 2, 2)]:
    add_case(
        f"scipy.linalg.expm-{_sh(shape)}",
        tsl.expm,
        scipy.linalg.expm,
        (_arr(normal(shape, 0.5)),),
        ("expm",),
    )


# more special functions (primitives first), then composites of the wider surface
_POS = uniform(0.3, 3.0)
MORE_SPECIAL = [  # (id, tg fn, scipy fn, args, covers)
    ("erfcx", tss.erfcx, scipy.special.erfcx, (_arr(normal((2, 3))),), ("erfcx",)),
    ("dawsn", tss.dawsn, scipy.special.dawsn, (_arr(normal((2, 3))),), ("dawsn",)),
    ("exp1", tss.exp1, scipy.special.exp1, (_arr(_POS((2, 3))),), ("exp1",)),
    ("expi", tss.expi, scipy.special.expi, (_arr(_POS((2, 3))),), ("expi",)),
    ("spence", tss.spence, scipy.special.spence, (_arr(_POS((2, 3))),), ("spence",)),
    (
        "expn",
        lambda x: tss.expn(2, x),
        lambda x: scipy.special.expn(2, x),
        (_arr(_POS((3,))),),
        ("expn",),
    ),
    (
        "zeta",
        lambda q: tss.zeta(2.5, q),
        lambda q: scipy.special.zeta(2.5, q),
        (_arr(_POS((3,))),),
        ("zeta",),
    ),
    (
        "hyp1f1",
        lambda x: tss.hyp1f1(1.5, 2.5, x),
        lambda x: scipy.special.hyp1f1(1.5, 2.5, x),
        (_arr(normal((3,))),),
        ("hyp1f1",),
    ),
    (
        "hyp2f1",
        lambda z: tss.hyp2f1(0.5, 1.5, 2.5, z),
        lambda z: scipy.special.hyp2f1(0.5, 1.5, 2.5, z),
        (_arr(uniform(-0.5, 0.5)((3,))),),
        ("hyp2f1",),
    ),
    (
        "sici-si",
        lambda x: tss.sici(x)[0],
        lambda x: scipy.special.sici(x)[0],
        (_arr(_POS((2, 3))),),
        ("si",),
    ),
    (
        "sici-ci",
        lambda x: tss.sici(x)[1],
        lambda x: scipy.special.sici(x)[1],
        (_arr(_POS((2, 3))),),
        ("ci",),
    ),
    (
        "fresnel-S",
        lambda x: tss.fresnel(x)[0],
        lambda x: scipy.special.fresnel(x)[0],
        (_arr(normal((2, 3))),),
        ("fresnel_s",),
    ),
    (
        "fresnel-C",
        lambda x: tss.fresnel(x)[1],
        lambda x: scipy.special.fresnel(x)[1],
        (_arr(normal((2, 3))),),
        ("fresnel_c",),
    ),
    (
        "owens_t",
        tss.owens_t,
        scipy.special.owens_t,
        (_arr(normal((2, 3))), _arr(normal((3,)))),
        ("owens_t",),
    ),
    ("entr", tss.entr, scipy.special.entr, (_arr(_POS((3,))),), ("xlogy",)),
    (
        "rel_entr",
        tss.rel_entr,
        scipy.special.rel_entr,
        (_arr(_POS((3,))), _arr(_POS((3,)))),
        ("xlogy",),
    ),
    ("kl_div", tss.kl_div, scipy.special.kl_div, (_arr(_POS((3,))), _arr(_POS((3,)))), ("xlogy",)),
    (
        "boxcox",
        lambda x: tss.boxcox(x, np.array([0.0, 0.5, -1.0])),
        lambda x: scipy.special.boxcox(x, np.array([0.0, 0.5, -1.0])),
        (_arr(_POS((3,))),),
        ("power", "log"),
    ),
    (
        "boxcox1p",
        lambda x: tss.boxcox1p(x, np.array([0.0, 0.5, 2.0])),
        lambda x: scipy.special.boxcox1p(x, np.array([0.0, 0.5, 2.0])),
        (_arr(_POS((3,))),),
        ("expm1",),
    ),
    ("poch", tss.poch, scipy.special.poch, (_arr(_POS((3,))), _arr(_POS((3,)))), ("gammaln",)),
    ("factorial", tss.factorial, scipy.special.factorial, (_arr(_POS((3,))),), ("gamma",)),
    (
        "comb",
        tss.comb,
        scipy.special.comb,
        (_arr(uniform(3.0, 5.0)((3,))), _arr(_POS((3,)))),
        ("gammaln",),
    ),
    (
        "loggamma",
        tss.loggamma,
        lambda x: scipy.special.loggamma(x).real,
        (_arr(_POS((3,))),),
        ("gammaln",),
    ),
]
for name, f, ref, args, covers in MORE_SPECIAL:
    add_case(f"scipy.special.{name}", f, ref, args, covers)

_M34 = _arr(normal((3, 4)))
_X3 = _arr(normal((3,)))
_Y3 = _arr(away_from_zero((3,)))
_NAN34 = _M34.copy()
_NAN34[0, 1] = _NAN34[2, 3] = _NAN34[2, 0] = np.nan
SURFACE = [  # (id, tg fn, numpy fn, args)
    ("fmod", tnp.fmod, np.fmod, (np.array([-2.7, 1.3, 3.9]), np.array([1.1, 0.7, -1.6]))),
    (
        "divmod-remainder",
        lambda x, y: tnp.divmod(x, y)[1],
        lambda x, y: np.divmod(x, y)[1],
        (np.array([-2.7, 1.3, 3.9]), np.array([1.1, 0.7, -1.6])),
    ),
    ("modf", lambda x: tnp.modf(x)[0], lambda x: np.modf(x)[0], (np.array([-2.7, 1.3, 3.9]),)),
    ("frexp", lambda x: tnp.frexp(x)[0], lambda x: np.frexp(x)[0], (np.array([-2.7, 1.3, 3.9]),)),
    (
        "ldexp",
        lambda x: tnp.ldexp(x, np.array([1, -2, 3])),
        lambda x: np.ldexp(x, np.array([1, -2, 3])),
        (_X3,),
    ),
    ("unwrap", tnp.unwrap, np.unwrap, (np.array([0.0, 3.0, 6.5, -0.2]),)),
    ("acos", tnp.acos, np.acos, (np.array([0.3, -0.5]),)),
    ("atan2", tnp.atan2, np.atan2, (_Y3, _X3)),
    ("pow", tnp.pow, np.pow, (_arr(_POS((3,))), _X3)),
    ("concat", lambda a, b: tnp.concat([a, b]), lambda a, b: np.concat([a, b]), (_X3, _Y3)),
    (
        "permute_dims",
        lambda x: tnp.permute_dims(x, (2, 0, 1)),
        lambda x: np.permute_dims(x, (2, 0, 1)),
        (X234,),
    ),
    ("matrix_transpose", tnp.matrix_transpose, np.matrix_transpose, (X234,)),
    ("copy", tnp.copy, np.copy, (_M34,)),
    ("resize", lambda x: tnp.resize(x, (4, 5)), lambda x: np.resize(x, (4, 5)), (_M34,)),
    ("unstack", lambda x: tnp.unstack(x, axis=1)[2], lambda x: np.unstack(x, axis=1)[2], (_M34,)),
    ("extract", lambda x: tnp.extract(_cond, x), lambda x: np.extract(_cond, x), (X23,)),
    (
        "compress",
        lambda x: tnp.compress([True, False, True], x, axis=1),
        lambda x: np.compress([True, False, True], x, axis=1),
        (_M34,),
    ),
    (
        "apply_along_axis",
        lambda x: tnp.apply_along_axis(lambda v: v[:2] * v[1:3], 1, x),
        lambda x: np.apply_along_axis(lambda v: v[:2] * v[1:3], 1, x),
        (_M34,),
    ),
    (
        "block",
        lambda a, b: tnp.block([[a, b], [b, a]]),
        lambda a, b: np.block([[a, b], [b, a]]),
        (X23, X23 * 2.0),
    ),
    ("vecdot", tnp.vecdot, np.vecdot, (_M34, _arr(normal((4,))))),
    ("matvec", tnp.matvec, np.matvec, (X234, _arr(normal((4,))))),
    ("vecmat", tnp.vecmat, np.vecmat, (_arr(normal((3,))), X234)),
    (
        "cumulative_sum",
        lambda x: tnp.cumulative_sum(x, axis=1, include_initial=True),
        lambda x: np.cumulative_sum(x, axis=1, include_initial=True),
        (_M34,),
    ),
    ("cumulative_prod", tnp.cumulative_prod, np.cumulative_prod, (_X3,)),
    (
        "geomspace",
        lambda a, b: tnp.geomspace(a, b, 5),
        lambda a, b: np.geomspace(a, b, 5),
        (_arr(1.5), _arr(20.0)),
    ),
    (
        "nanmedian-axis",
        lambda x: tnp.nanmedian(x, axis=1),
        lambda x: np.nanmedian(x, axis=1),
        (_NAN34,),
    ),
    (
        "nanpercentile",
        lambda x: tnp.nanpercentile(x, 30.0, axis=0),
        lambda x: np.nanpercentile(x, 30.0, axis=0),
        (_NAN34,),
    ),
    (
        "nanquantile",
        lambda x: tnp.nanquantile(x, [0.1, 0.7], axis=1),
        lambda x: np.nanquantile(x, [0.1, 0.7], axis=1),
        (_NAN34,),
    ),
    (
        "nancumprod",
        lambda x: tnp.nancumprod(x, axis=1),
        lambda x: np.nancumprod(x, axis=1),
        (_NAN34,),
    ),
    (
        "bincount",
        lambda w: tnp.bincount(np.array([0, 2, 2, 5]), w),
        lambda w: np.bincount(np.array([0, 2, 2, 5]), w),
        (_arr(normal((4,))),),
    ),
    ("polyadd", tnp.polyadd, np.polyadd, (_arr(normal((4,))), _arr(normal((2,))))),
    ("polysub", tnp.polysub, np.polysub, (_arr(normal((2,))), _arr(normal((4,))))),
    ("polymul", tnp.polymul, np.polymul, (_arr(normal((4,))), _arr(normal((2,))))),
    ("polyder", lambda p: tnp.polyder(p, 2), lambda p: np.polyder(p, 2), (_arr(normal((4,))),)),
    (
        "polyint",
        lambda p: tnp.polyint(p, 2, [1.0, 2.0]),
        lambda p: np.polyint(p, 2, [1.0, 2.0]),
        (_arr(normal((4,))),),
    ),
    ("vander", lambda x: tnp.vander(x, 3), lambda x: np.vander(x, 3), (_arr(normal((4,))),)),
    (
        "polyfit",
        lambda x, y: tnp.polyfit(x, y, 2),
        lambda x, y: np.polyfit(x, y, 2),
        (_arr(normal((6,))), _arr(normal((6,)))),
    ),
    ("poly", tnp.poly, np.poly, (_arr(normal((3,))),)),
    ("linalg.cross", LA.cross, np.linalg.cross, (_arr(normal((4, 3))), _X3)),
    ("linalg.diagonal", LA.diagonal, np.linalg.diagonal, (_arr(normal((2, 3, 3))),)),
    ("linalg.trace", lambda x: LA.trace(x, 1), lambda x: np.linalg.trace(x, offset=1), (X234,)),
    ("linalg.outer", LA.outer, np.linalg.outer, (_X3, _Y3)),
    ("linalg.tensordot", LA.tensordot, np.linalg.tensordot, (X234, _arr(normal((3, 4, 2))))),
    ("linalg.vecdot", LA.vecdot, np.linalg.vecdot, (_M34, _arr(normal((4,))))),
    (
        "linalg.tensorinv",
        LA.tensorinv,
        np.linalg.tensorinv,
        (_arr(np.eye(6).reshape(2, 3, 6) + 0.1 * normal((2, 3, 6))),),
    ),
]
SURFACE.append(
    (
        "apply_over_axes",
        lambda x: tnp.apply_over_axes(tnp.sum, x, [0, 2]),
        lambda x: np.apply_over_axes(np.sum, x, [0, 2]),
        (X234,),
    )
)
for name, f, ref, args in SURFACE:
    add_case(name, f, ref, args, ())


# --- fused layer primitives (tracegrad.nn.functional) ----------------------------------

_NP_ACTIVATIONS = {
    "identity": lambda z: z,
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "relu": lambda z: np.maximum(z, 0.0),
}


def _dense_args(x_shape, n_out, bias):
    """x, W (and b) with every pre-activation at least 0.2 away from relu's kink."""
    for _ in range(1000):
        x = normal(x_shape)
        w = normal((x_shape[-1], n_out))
        b = normal((n_out,)) if bias else None
        z = x @ w + (0.0 if b is None else b)
        if np.min(np.abs(z)) >= 0.2:
            return (_arr(x), _arr(w)) + (() if b is None else (_arr(b),))
    raise RuntimeError("could not draw dense inputs away from relu's kink")


for act, x_shape, bias in itertools.product(
    sorted(_NP_ACTIVATIONS), [(4, 3), (3,), (2, 4, 3)], [True, False]
):
    np_act = _NP_ACTIVATIONS[act]
    if bias:
        f = lambda x, w, b, a=act: nnf.dense(x, w, b, a)  # noqa: E731
        ref = lambda x, w, b, a=np_act: a(x @ w + b)  # noqa: E731
    else:
        f = lambda x, w, a=act: nnf.dense(x, w, activation=a)  # noqa: E731
        ref = lambda x, w, a=np_act: a(x @ w)  # noqa: E731
    add_case(
        f"dense-{act}-{_sh(x_shape)}-{'bias' if bias else 'nobias'}",
        f,
        ref,
        _dense_args(x_shape, 2, bias),
        ("dense",),
    )


def np_sce(z, y, reduction="mean"):
    """Softmax cross-entropy by the textbook formula: labels or class weights."""
    logp = np_log_softmax(z, -1)
    if np.issubdtype(np.asarray(y).dtype, np.integer):
        y = np.eye(z.shape[-1])[y]
    total = -np.sum(y * logp)
    n = np.prod(z.shape[:-1]) if reduction == "mean" else 1
    return np.float64(total / n)


def _probabilities(shape):
    p = RNG.uniform(0.1, 1.0, shape)
    return _arr(p / p.sum(axis=-1, keepdims=True))


def _one_hot_rows(shape):
    return _arr(np.eye(shape[-1])[RNG.integers(0, shape[-1], shape[:-1])])


for shape, red in itertools.product([(4, 3), (2, 3, 4), (3,)], ["mean", "sum"]):
    for kind, target in [("onehot", _one_hot_rows), ("probs", _probabilities)]:
        add_case(
            f"softmax_cross_entropy-{kind}-{_sh(shape)}-{red}",
            lambda z, y, r=red: nnf.softmax_cross_entropy(z, y, reduction=r),
            lambda z, y, r=red: np_sce(z, y, r),
            (_arr(normal(shape)), target(shape)),
            ("softmax_cross_entropy",),
        )
    labels = RNG.integers(0, shape[-1], shape[:-1])
    add_case(
        f"softmax_cross_entropy-labels-{_sh(shape)}-{red}",
        lambda z, y=labels, r=red: nnf.softmax_cross_entropy(z, y, reduction=r),
        lambda z, y=labels, r=red: np_sce(z, y, r),
        (_arr(normal(shape)),),
        ("softmax_cross_entropy",),
    )


for shapes, scale in [
    ([(2, 3)], 1.0),
    ([()], 0.5),
    ([(3,)], 2.5),
    ([(3, 2), (2,)], 0.35),
    ([(2, 3), (4, 2, 3), ()], 1.7),
    ([(), ()], -0.8),
]:
    add_case(
        f"sum_of_squares-{'-'.join(map(_sh, shapes))}-scale{scale}",
        lambda *ws, s=scale: nnf.sum_of_squares(*ws, scale=s),
        lambda *ws, s=scale: np.float64(s * sum(np.sum(np.square(w)) for w in ws)),
        tuple(_arr(normal(s)) for s in shapes),
        ("sum_of_squares",),
    )
add_case(
    "sum_of_squares-default-scale",
    nnf.sum_of_squares,
    lambda w: np.sum(w * w),
    (_arr(normal((3, 2))),),
    ("sum_of_squares",),
)


# --- the wider NumPy surface: more elementwise functions --------------------------------

MORE_UNARY = [
    ("arccosh", tnp.arccosh, np.arccosh, uniform(1.2, 3.0), ("arccosh",)),
    ("cbrt", tnp.cbrt, np.cbrt, away_from_zero, ("cbrt",)),
    ("sinc", tnp.sinc, np.sinc, normal, ("sinc",)),
    ("fabs", tnp.fabs, np.fabs, away_from_zero, ("abs",)),
    ("deg2rad", tnp.deg2rad, np.deg2rad, normal, ("multiply",)),
    ("rad2deg", tnp.rad2deg, np.rad2deg, normal, ("multiply",)),
    ("real", tnp.real, np.real, normal, ()),
    ("nan_to_num", tnp.nan_to_num, np.nan_to_num, normal, ("where",)),
]
for (name, f, ref, sampler, covers), shape in itertools.product(MORE_UNARY, [(), (2, 3)]):
    add_case(f"{name}-{_sh(shape)}", f, ref, (_arr(sampler(shape)),), covers)
add_case("sinc-at-0", tnp.sinc, np.sinc, (np.array([0.0, 1e-5, -0.4]),), ("sinc",))

MORE_BINARY = [
    ("arctan2", tnp.arctan2, np.arctan2, ("arctan2",)),
    ("hypot", tnp.hypot, np.hypot, ("hypot",)),
    ("logaddexp", tnp.logaddexp, np.logaddexp, ("logaddexp",)),
    ("logaddexp2", tnp.logaddexp2, np.logaddexp2, ("logaddexp2",)),
    ("fmax", tnp.fmax, np.fmax, ("maximum", "where")),
    ("fmin", tnp.fmin, np.fmin, ("minimum", "where")),
    ("copysign", tnp.copysign, np.copysign, ("abs", "multiply")),
    ("float_power", tnp.float_power, np.float_power, ("power",)),
]
for (name, f, ref, covers), (sa, sb) in itertools.product(
    MORE_BINARY, [((), ()), ((2, 3), (3,)), ((2, 1), (1, 3))]
):
    if name == "float_power":
        args = (_arr(uniform(0.5, 2.0)(sa)), _arr(normal(sb)))
    elif name in ("fmax", "fmin", "copysign"):
        args = (
            _separated(sa, sb)
            if name != "copysign"
            else (_arr(away_from_zero(sa)), _arr(away_from_zero(sb)))
        )
    else:
        args = (_arr(away_from_zero(sa)), _arr(away_from_zero(sb)))
    add_case(f"{name}-{_sh(sa)}-{_sh(sb)}", f, ref, args, covers)
_tie = _arr(normal((3,)))
for name in ["logaddexp", "logaddexp2"]:  # two equal arguments: 1/2 each, to second order
    add_case(f"{name}-tie", getattr(tnp, name), getattr(np, name), (_tie, _tie.copy()), (name,))
add_case(
    "heaviside-h0",
    lambda h: tnp.heaviside(np.array([-1.0, 0.0, 2.0]), h),
    lambda h: np.heaviside(np.array([-1.0, 0.0, 2.0]), h),
    (_arr(0.3),),
    ("where",),
)


# --- shape and array functions ----------------------------------------------------------

X34 = _arr(normal((3, 4)))
ARRAY_FUNCS = [
    ("roll-None", lambda x: tnp.roll(x, 2), lambda x: np.roll(x, 2), X234),
    ("roll-axis", lambda x: tnp.roll(x, -1, axis=1), lambda x: np.roll(x, -1, axis=1), X234),
    (
        "roll-multi",
        lambda x: tnp.roll(x, (1, 2), (0, 2)),
        lambda x: np.roll(x, (1, 2), (0, 2)),
        X234,
    ),
    ("rot90", tnp.rot90, np.rot90, X34),
    ("rot90-k3", lambda x: tnp.rot90(x, 3, (1, 2)), lambda x: np.rot90(x, 3, (1, 2)), X234),
    ("fliplr", tnp.fliplr, np.fliplr, X34),
    ("flipud", tnp.flipud, np.flipud, X34),
    ("diagonal", tnp.diagonal, np.diagonal, X34),
    ("diagonal-3d", lambda x: tnp.diagonal(x, 1, 1, 2), lambda x: np.diagonal(x, 1, 1, 2), X234),
    (
        "delete",
        lambda x: tnp.delete(x, [0, 2], axis=1),
        lambda x: np.delete(x, [0, 2], axis=1),
        X34,
    ),
    ("delete-flat", lambda x: tnp.delete(x, 3), lambda x: np.delete(x, 3), X34),
    ("rollaxis", lambda x: tnp.rollaxis(x, 2), lambda x: np.rollaxis(x, 2), X234),
    ("pad-constant", lambda x: tnp.pad(x, 1), lambda x: np.pad(x, 1), X34),
    (
        "pad-constant-values",
        lambda x: tnp.pad(x, ((1, 0), (0, 2)), constant_values=1.5),
        lambda x: np.pad(x, ((1, 0), (0, 2)), constant_values=1.5),
        X34,
    ),
    ("pad-reflect", lambda x: tnp.pad(x, 2, "reflect"), lambda x: np.pad(x, 2, "reflect"), X34),
    ("pad-edge", lambda x: tnp.pad(x, (1, 3), "edge"), lambda x: np.pad(x, (1, 3), "edge"), X34),
    ("pad-wrap", lambda x: tnp.pad(x, 2, "wrap"), lambda x: np.pad(x, 2, "wrap"), X34),
    ("diagflat", tnp.diagflat, np.diagflat, _arr(normal((2, 2)))),
    ("atleast_3d-1d", tnp.atleast_3d, np.atleast_3d, _arr(normal((3,)))),
    ("atleast_3d-2d", tnp.atleast_3d, np.atleast_3d, X34),
    ("cumprod", tnp.cumprod, np.cumprod, _arr(away_from_zero((3, 4)))),
    ("cumprod-axis", lambda x: tnp.cumprod(x, 1), lambda x: np.cumprod(x, 1), X234),
    ("cumprod-zero", tnp.cumprod, np.cumprod, np.array([1.5, 0.0, -2.0, 0.7])),
    ("diff", tnp.diff, np.diff, X234),
    ("diff-n2-axis0", lambda x: tnp.diff(x, 2, 0), lambda x: np.diff(x, 2, 0), X34),
    ("diff-prepend", lambda x: tnp.diff(x, prepend=0.5), lambda x: np.diff(x, prepend=0.5), X34),
    ("ediff1d", tnp.ediff1d, np.ediff1d, X34),
    ("gradient-1d", tnp.gradient, np.gradient, _arr(normal((5,)))),
    (
        "gradient-axis",
        lambda x: tnp.gradient(x, 0.5, axis=1),
        lambda x: np.gradient(x, 0.5, axis=1),
        X34,
    ),
    ("trapezoid", tnp.trapezoid, np.trapezoid, X34),
    (
        "trapezoid-dx",
        lambda y: tnp.trapezoid(y, dx=0.3, axis=0),
        lambda y: np.trapezoid(y, dx=0.3, axis=0),
        X34,
    ),
    ("ptp", lambda x: tnp.ptp(x, axis=1), lambda x: np.ptp(x, axis=1), X34),
    ("median", tnp.median, np.median, X34),
    ("median-axis", lambda x: tnp.median(x, axis=0), lambda x: np.median(x, axis=0), X34),
    (
        "median-keepdims",
        lambda x: tnp.median(x, axis=-1, keepdims=True),
        lambda x: np.median(x, axis=-1, keepdims=True),
        X234,
    ),
    ("percentile", lambda x: tnp.percentile(x, 30.0), lambda x: np.percentile(x, 30.0), X34),
    (
        "quantile-array",
        lambda x: tnp.quantile(x, np.array([0.1, 0.5, 0.95]), axis=1),
        lambda x: np.quantile(x, np.array([0.1, 0.5, 0.95]), axis=1),
        X234,
    ),
    ("average", tnp.average, np.average, X34),
    ("cov", tnp.cov, np.cov, X34),
    ("cov-cols", lambda x: tnp.cov(x, rowvar=False), lambda x: np.cov(x, rowvar=False), X34),
    ("corrcoef", tnp.corrcoef, np.corrcoef, X34),
    ("nansum", lambda x: tnp.nansum(x, axis=0), lambda x: np.nansum(x, axis=0), X34),
    ("nanmean", tnp.nanmean, np.nanmean, X34),
    ("nanvar", lambda x: tnp.nanvar(x, axis=1), lambda x: np.nanvar(x, axis=1), X34),
    ("nanstd", tnp.nanstd, np.nanstd, X34),
    ("nanmax", lambda x: tnp.nanmax(x, axis=1), lambda x: np.nanmax(x, axis=1), X34),
    ("nanmin", tnp.nanmin, np.nanmin, X34),
    ("nanprod", tnp.nanprod, np.nanprod, _arr(away_from_zero((3,)))),
    ("nancumsum", tnp.nancumsum, np.nancumsum, X34),
    (
        "polyval",
        lambda x: tnp.polyval(np.array([1.0, -2.0, 0.5]), x),
        lambda x: np.polyval(np.array([1.0, -2.0, 0.5]), x),
        X34,
    ),
]
_C3 = np.array([0.5, -1.0, 2.0])
ARRAY_FUNCS += [
    ("partition", lambda x: tnp.partition(x, 2, axis=1), lambda x: np.partition(x, 2, axis=1), X34),
    ("r_", lambda x: tnp.r_[x, _C3, 1:4], lambda x: np.r_[x, _C3, 1:4], _arr(normal((5,)))),
    ("c_", lambda x: tnp.c_[x, _C3], lambda x: np.c_[x, _C3], _arr(normal((3,)))),
    ("c_-2d", lambda x: tnp.c_[x, x * 2.0], lambda x: np.c_[x, x * 2.0], X34),
    ("real_if_close", tnp.real_if_close, np.real_if_close, X34),
    ("fft.fftshift", tnp.fft.fftshift, np.fft.fftshift, X234),
    (
        "fft.ifftshift-axes",
        lambda x: tnp.fft.ifftshift(x, axes=1),
        lambda x: np.fft.ifftshift(x, axes=1),
        X234,
    ),
]
for name, f, ref, x in ARRAY_FUNCS:
    add_case(name, f, ref, (x,), ())

_nan_x = np.array([[0.5, np.nan, -1.2], [2.0, 0.3, np.nan]])
for name in ["nansum", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin", "nanprod"]:
    add_case(
        f"{name}-with-nan",
        lambda x, n=name: getattr(tnp, n)(x, axis=1),
        lambda x, n=name: getattr(np, n)(x, axis=1),
        (_nan_x,),
        ("where",),
    )

JOINS = [
    ("column_stack", tnp.column_stack, np.column_stack, ((3,), (3, 2))),
    ("dstack", tnp.dstack, np.dstack, ((2, 3), (2, 3))),
    ("append", lambda xs: tnp.append(*xs), lambda xs: np.append(*xs), ((2, 3), (4,))),
    (
        "append-axis",
        lambda xs: tnp.append(*xs, axis=0),
        lambda xs: np.append(*xs, axis=0),
        ((2, 3), (1, 3)),
    ),
    ("kron", lambda xs: tnp.kron(*xs), lambda xs: np.kron(*xs), ((2, 3), (3, 2))),
    ("kron-1d-2d", lambda xs: tnp.kron(*xs), lambda xs: np.kron(*xs), ((3,), (2, 2))),
    ("cross", lambda xs: tnp.cross(*xs), lambda xs: np.cross(*xs), ((4, 3), (3,))),
    ("convolve", lambda xs: tnp.convolve(*xs), lambda xs: np.convolve(*xs), ((5,), (3,))),
    (
        "convolve-same",
        lambda xs: tnp.convolve(*xs, mode="same"),
        lambda xs: np.convolve(*xs, mode="same"),
        ((3,), (5,)),
    ),
    (
        "convolve-valid",
        lambda xs: tnp.convolve(*xs, mode="valid"),
        lambda xs: np.convolve(*xs, mode="valid"),
        ((5,), (2,)),
    ),
    ("correlate", lambda xs: tnp.correlate(*xs), lambda xs: np.correlate(*xs), ((5,), (3,))),
    (
        "correlate-full",
        lambda xs: tnp.correlate(*xs, "full"),
        lambda xs: np.correlate(*xs, "full"),
        ((4,), (3,)),
    ),
    ("polyval-traced-p", lambda xs: tnp.polyval(*xs), lambda xs: np.polyval(*xs), ((4,), (2, 3))),
    (
        "average-weights",
        lambda xs: tnp.average(xs[0], axis=1, weights=xs[1]),
        lambda xs: np.average(xs[0], axis=1, weights=xs[1]),
        ((2, 3), (3,)),
    ),
    (
        "insert",
        lambda xs: tnp.insert(xs[0], [1, 3], xs[1], axis=1),
        lambda xs: np.insert(xs[0], [1, 3], xs[1], axis=1),
        ((2, 4), (2,)),
    ),
    (
        "insert-flat",
        lambda xs: tnp.insert(xs[0], 2, xs[1]),
        lambda xs: np.insert(xs[0], 2, xs[1]),
        ((2, 2), ()),
    ),
]
for name, f, ref, shapes in JOINS:
    args = tuple(_arr(normal(s)) for s in shapes)
    if name.startswith("average"):
        args = (args[0], _arr(uniform(0.5, 2.0)(shapes[1])))
    add_case(name, lambda *xs, f=f: f(xs), lambda *xs, ref=ref: ref(xs), args, ())

_xp = np.array([-1.0, 0.0, 0.5, 2.0])
add_case(
    "interp",
    lambda x, fp: tnp.interp(x, _xp, fp),
    lambda x, fp: np.interp(x, _xp, fp),
    (np.array([-2.0, -0.3, 0.2, 1.1, 1.9, 3.0]), _arr(normal((4,)))),
    ("getitem",),
)
add_case(
    "interp-xp",
    lambda xp: tnp.interp(np.array([-0.3, 0.2, 1.1]), xp, np.array([1.0, 2.0, -1.0, 0.5])),
    lambda xp: np.interp(np.array([-0.3, 0.2, 1.1]), xp, np.array([1.0, 2.0, -1.0, 0.5])),
    (_xp,),
    ("getitem",),
)
add_case(
    "select",
    lambda a, b: tnp.select([_cond, ~_cond], [a, b * 2.0], 0.5),
    lambda a, b: np.select([_cond, ~_cond], [a, b * 2.0], 0.5),
    (_arr(normal((2, 3))), _arr(normal((2, 3)))),
    ("where",),
)
add_case(
    "piecewise",
    lambda x: tnp.piecewise(x, [x < 0, x >= 0], [lambda v: v * v, lambda v: tnp.sin(v)]),
    lambda x: np.piecewise(x, [x < 0, x >= 0], [lambda v: v * v, lambda v: np.sin(v)]),
    (_arr(away_from_zero((2, 3))),),
    ("where",),
)
add_case(
    "choose",
    lambda a, b: tnp.choose(np.array([[0, 1, 1], [1, 0, 0]]), [a, b]),
    lambda a, b: np.choose(np.array([[0, 1, 1], [1, 0, 0]]), [a, b]),
    (_arr(normal((2, 3))), _arr(normal((2, 3)))),
    ("where",),
)


def _splits(fn_name, spec, shape):
    def f(x, m=tnp):
        parts = getattr(m, fn_name)(x, spec)
        return m.concatenate([m.ravel(p) * (i + 1.0) for i, p in enumerate(parts)])

    return f


for fn_name, spec, shape in [
    ("array_split", 3, (7, 2)),
    ("hsplit", 2, (2, 4)),
    ("vsplit", [1], (3, 2)),
    ("dsplit", 2, (2, 2, 4)),
]:
    f = _splits(fn_name, spec, shape)
    add_case(f"{fn_name}-{spec}", f, lambda x, f=f: f(x, m=np), (_arr(normal(shape)),), ())
add_case(
    "broadcast_arrays",
    lambda a, b: tnp.stack(tnp.broadcast_arrays(a, b)),
    lambda a, b: np.stack(np.broadcast_arrays(a, b)),
    (_arr(normal((2, 1))), _arr(normal((3,)))),
    ("broadcast_to",),
)


CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS), "duplicate case ids"

#: Names of the primitives the systematic cases exercise (see tests/test_registry.py).
EXERCISED: frozenset[str] = frozenset(n for c in CASES for n in c.covers)


# --- the tests ------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_value_matches_numpy(case: Case) -> None:
    out = case.f(*case.args)
    # with no transformation active the result is plain NumPy, never a box
    assert isinstance(out, (np.ndarray, np.generic)), type(out)
    if case.ref is None:
        return
    expected = case.ref(*case.args)
    assert np.shape(out) == np.shape(expected)
    assert np.result_type(out) == np.result_type(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_grads(case: Case) -> None:
    tg.check_grads(case.f, case.args, order=2, modes=("fwd", "rev"), rtol=case.rtol, atol=case.atol)


# Python floats take their own path (the math module in the public functions, Python
# arithmetic in the primitives): every all-scalar case again with plain floats.
SCALAR_CASES = [c for c in CASES if c.args and all(np.ndim(a) == 0 for a in c.args)]


@pytest.mark.parametrize("case", SCALAR_CASES, ids=[c.id for c in SCALAR_CASES])
def test_python_float_arguments(case: Case) -> None:
    args = tuple(float(a) for a in case.args)
    out = case.f(*args)
    if case.ref is not None:
        np.testing.assert_allclose(out, case.ref(*case.args), rtol=1e-12, atol=1e-12)
    tg.check_grads(case.f, args, order=2, modes=("fwd", "rev"), rtol=case.rtol, atol=case.atol)


def test_enough_python_float_cases() -> None:
    assert len(SCALAR_CASES) > 40


def test_covers_are_honest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each case calls (at least) the primitives it claims, so EXERCISED is not a wish."""
    from test_registry import PRIMITIVES

    called: set[str] = set()
    # every traced evaluation of a primitive runs its impl, its forward with residuals, or
    # (reverse mode on scalars) its NumPy or Python-float function, whichever path led there
    for prim in PRIMITIVES.values():
        for attr in ("impl", "array_impl", "float_impl"):
            impl = getattr(prim, attr)
            if impl is None:
                continue

            def recording(*args, _prim=prim, _impl=impl, **kwargs):
                called.add(_prim.name)
                return _impl(*args, **kwargs)

            monkeypatch.setattr(prim, attr, recording)
        if prim.forward_residual is not None:  # reverse mode's forward pass goes here

            def recording_res(*args, _prim=prim, _fwd=prim.forward_residual, **kwargs):
                called.add(_prim.name)
                return _fwd(*args, **kwargs)

            monkeypatch.setattr(prim, "forward_residual", recording_res)
    missing = {}
    for case in CASES:
        called.clear()
        # under vjp the rules run too, which is where e.g. scatter_add is reached
        out, vjp_fn = tg.vjp(case.f, *case.args)
        vjp_fn(np.ones_like(out))
        lost = set(case.covers) - called
        if lost:
            missing[case.id] = lost
    assert not missing, missing


# --- gradients that must accumulate, against exact values ---------------------------


def test_repeated_integer_index_accumulates() -> None:
    """x[[0, 0, 2, 0]] uses x[0] three times: its gradient is 3, not 1."""
    x = np.array([0.5, -1.0, 2.0, 0.3])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    g = tg.grad(lambda x: tnp.sum(x[[0, 0, 2, 0]] * w))(x)
    np.testing.assert_allclose(g, [1.0 + 2.0 + 4.0, 0.0, 3.0, 0.0])
    # the same through forward mode: the Jacobian has repeated rows
    jac = tg.jacfwd(lambda x: x[np.array([1, 1, 3])])(x)
    np.testing.assert_allclose(jac, np.eye(4)[[1, 1, 3]])


def test_repeated_index_in_2d_gather_accumulates() -> None:
    x = np.arange(6.0).reshape(2, 3)
    g = tg.grad(lambda x: tnp.sum(x[np.array([1, 1, 0]), np.array([2, 2, 2])]))(x)
    np.testing.assert_allclose(g, [[0, 0, 1], [0, 0, 2]])


@pytest.mark.parametrize(
    "x",
    [
        np.array([[1.5, 0.0, -2.0], [0.7, 1.2, -0.4]]),
        np.array([0.0, 1.5, 0.0, 2.0]),
        np.array([0.0]),
        np.array([3.0, 0.0, 0.5]),
    ],
    ids=["one-zero-2x3", "two-zeros", "single-zero", "one-zero-3"],
)
@pytest.mark.parametrize("axis", [None, -1], ids=["axisNone", "axis-1"])
def test_prod_with_zeros_matches_numerical_grad(x: np.ndarray, axis) -> None:
    f = lambda x: tnp.sum(tnp.prod(x, axis=axis) * 1.7)
    g = tg.grad(f)(x)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, tg.numerical_grad(f, x), rtol=1e-6, atol=1e-8)
    # the same in forward mode, one basis direction at a time
    np.testing.assert_allclose(tg.jacfwd(f)(x), g, rtol=1e-12, atol=1e-12)


def test_prod_with_zero_second_derivative() -> None:
    """d²/dx0 dx1 of x0 x1 x2 at x1 = 0 is x2 (a division by x would make it nan)."""
    x = np.array([2.0, 0.0, 3.0])
    hess = tg.hessian(tnp.prod)(x)
    np.testing.assert_allclose(hess, [[0, 3, 0], [3, 0, 2], [0, 2, 0]])


# --- derivative conventions (docs/design.md) ---------------------------------------------


def _both_modes_grad(f, x):
    """The gradient of scalar ``f`` at ``x`` from reverse mode and from forward mode."""
    return tg.grad(f)(x), tg.jacfwd(f)(x)


@pytest.mark.parametrize(
    "name, f, x, expected",
    [
        ("relu-at-0", lambda x: tnp.sum(tnp.relu(x)), [0.0, 2.0, -1.0], [0.0, 1.0, 0.0]),
        ("abs-at-0", lambda x: tnp.sum(tnp.abs(x)), [0.0, 2.0, -1.0], [0.0, 1.0, -1.0]),
        ("max-ties", lambda x: tnp.max(x), [1.0, 3.0, 3.0], [0.0, 0.5, 0.5]),
        ("min-three-ties", lambda x: tnp.min(x), [1.0, 1.0, 1.0], [1 / 3, 1 / 3, 1 / 3]),
        (
            "max-axis-ties",
            lambda x: tnp.sum(tnp.max(tnp.reshape(x, (2, 2)), axis=0) * np.array([1.0, 2.0])),
            [1.0, 2.0, 1.0, 0.0],
            [0.5, 2.0, 0.5, 0.0],
        ),
        (
            "max-keepdims-ties",
            lambda x: tnp.sum(tnp.max(tnp.reshape(x, (2, 2)), axis=1, keepdims=True)),
            [4.0, 4.0, 1.0, 0.0],
            [0.5, 0.5, 1.0, 0.0],
        ),
        (
            "maximum-tie",
            lambda x: tnp.sum(tnp.maximum(x, np.array([1.0, 0.0]))),
            [1.0, 5.0],
            [0.5, 1.0],
        ),
        (
            "minimum-tie",
            lambda x: tnp.sum(tnp.minimum(np.array([1.0, 0.0]), x)),
            [1.0, -5.0],
            [0.5, 1.0],
        ),
        # maximum(x, x) = x: the two halves of the tie add back up to 1
        ("maximum-self", lambda x: tnp.sum(tnp.maximum(x, x)), [1.0, -2.0], [1.0, 1.0]),
        ("sign", lambda x: tnp.sum(tnp.sign(x) * x), [1.5, -2.0], [1.0, -1.0]),
        ("floor", lambda x: tnp.sum(tnp.floor(x) * x), [1.5, -2.5], [1.0, -3.0]),
        ("comparison", lambda x: tnp.sum((x > 0) * x), [1.5, -2.5], [1.0, 0.0]),
        (
            "argmax",
            lambda x: x[tnp.argmax(x)] * 2.0,
            [0.5, 3.0, -1.0],
            [0.0, 2.0, 0.0],
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_derivative_conventions(name, f, x, expected) -> None:
    rev, fwd = _both_modes_grad(f, np.asarray(x, dtype=np.float64))
    np.testing.assert_allclose(rev, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fwd, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "op",
    [tnp.sign, tnp.floor, tnp.ceil, tnp.round, lambda x: tnp.greater(x, 0.0), tnp.argmax],
    ids=["sign", "floor", "ceil", "round", "greater", "argmax"],
)
def test_nondifferentiable_ops_return_plain_numpy(op) -> None:
    """Zero derivative: under a transformation they give plain (unboxed) NumPy values."""
    seen = []

    def f(x):
        y = op(x)
        seen.append(y)
        return tnp.sum(x)

    tg.grad(f)(np.array([0.5, -1.5, 2.0]))
    assert isinstance(seen[0], (np.ndarray, np.generic)), type(seen[0])


BIG = np.array([1000.0, -1000.0, 0.0, 999.0])
STABLE = [
    ("logsumexp", lambda x: tnp.logsumexp(x)),
    ("logsumexp-keepdims", lambda x: tnp.sum(tnp.logsumexp(x, axis=0, keepdims=True))),
    ("softmax", lambda x: tnp.sum(tnp.softmax(x) * np.arange(4.0))),
    ("log_softmax", lambda x: tnp.sum(tnp.log_softmax(x) * np.arange(4.0))),
    ("sigmoid", lambda x: tnp.sum(tnp.sigmoid(x) * np.arange(4.0))),
]


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["plus", "minus"])
@pytest.mark.parametrize("name, f", STABLE, ids=[n for n, _ in STABLE])
def test_stable_at_plus_minus_1000(name, f, sign) -> None:
    x = sign * BIG
    # an overflow or 0*inf on the way is a bug even if the result ends up finite
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = f(x)
        rev, fwd = _both_modes_grad(f, x)
    assert np.isfinite(value)
    assert np.all(np.isfinite(rev)) and np.all(np.isfinite(fwd))
    np.testing.assert_allclose(rev, fwd, rtol=1e-12, atol=1e-300)


def test_stable_values_at_1000() -> None:
    np.testing.assert_allclose(tnp.logsumexp(BIG), 1000.0 + np.log1p(np.exp(-1.0)))
    np.testing.assert_allclose(tnp.sigmoid(np.array([1000.0, -1000.0])), [1.0, 0.0])
    sm = tnp.softmax(BIG)
    np.testing.assert_allclose(sm, [1 / (1 + np.exp(-1)), 0, 0, np.exp(-1) / (1 + np.exp(-1))])
    np.testing.assert_allclose(tnp.log_softmax(np.array([1000.0, -1000.0])), [0.0, -2000.0])
    # the gradient of logsumexp is softmax
    np.testing.assert_allclose(tg.grad(tnp.logsumexp)(BIG), sm, rtol=1e-12)


F32_OPS = [
    ("scale-by-python-float", lambda x: x * 2.5 + 1.0),
    ("rdiv-python-float", lambda x: 1.5 / x),
    ("power-python-float", lambda x: tnp.power(x, 2.5)),
    ("square-op", lambda x: x**2),
    ("exp", tnp.exp),
    ("exp2", tnp.exp2),
    ("log", tnp.log),
    ("log2", tnp.log2),
    ("log10", tnp.log10),
    ("sqrt", tnp.sqrt),
    ("tan", tnp.tan),
    ("arcsin", lambda x: tnp.arcsin(x * 0.3)),
    ("arctanh", lambda x: tnp.arctanh(x * 0.3)),
    ("tanh", tnp.tanh),
    ("sigmoid", tnp.sigmoid),
    ("relu", tnp.relu),
    ("leaky_relu", tnp.leaky_relu),
    ("abs", tnp.abs),
    ("maximum", lambda x: tnp.maximum(x, 0.9)),
    ("where", lambda x: tnp.where(x > 1.0, x, 0.0)),
    ("clip", lambda x: tnp.clip(x, 0.9, 1.5)),
    ("mean", lambda x: tnp.mean(x, axis=0)),
    ("var", lambda x: tnp.var(x, axis=0, ddof=1)),
    ("std", lambda x: tnp.std(x)),
    ("prod", lambda x: tnp.prod(x, axis=1)),
    ("max", lambda x: tnp.max(x, axis=1)),
    ("cumsum", lambda x: tnp.cumsum(x, axis=1)),
    ("logsumexp", lambda x: tnp.logsumexp(x, axis=1)),
    ("softmax", tnp.softmax),
    ("log_softmax", tnp.log_softmax),
    ("matmul", lambda x: x @ x.T),
    ("einsum", lambda x: tnp.einsum("ij,ij->i", x, x)),
    ("getitem", lambda x: x[np.array([0, 0, 1])]),
    ("concatenate", lambda x: tnp.concatenate([x, x * 2.0])),
    ("norm-1", lambda x: tnp.linalg.norm(x, ord=1, axis=1)),
    ("norm-3", lambda x: tnp.linalg.norm(x, ord=3, axis=1)),
    ("inv", lambda x: tnp.linalg.inv(x[:, :2] + np.eye(2, dtype=np.float32))),
    ("det", lambda x: tnp.linalg.det(x[:, :2])),
    ("solve", lambda x: tnp.linalg.solve(x[:, :2] + 1.0, x[:, 2])),
    ("sinc", tnp.sinc),
    ("cbrt", tnp.cbrt),
    ("arccosh", lambda x: tnp.arccosh(x + 1.0)),
    ("logaddexp", lambda x: tnp.logaddexp(x, 1.0 - x)),
    ("arctan2", lambda x: tnp.arctan2(x, 1.0 - x)),
    ("hypot", lambda x: tnp.hypot(x, x * 0.5)),
    ("cumprod", lambda x: tnp.cumprod(x, axis=1)),
    ("median", lambda x: tnp.median(x, axis=1)),
    ("pad", lambda x: tnp.pad(x, 1, "reflect")),
    ("nanmean", lambda x: tnp.nanmean(x, axis=0)),
    ("cholesky", lambda x: tnp.linalg.cholesky(x @ x.T + np.eye(2, dtype=np.float32))),
    ("eigh", lambda x: tnp.linalg.eigh(x @ x.T)[1]),
    ("svd", lambda x: tnp.linalg.svd(x, full_matrices=False)[0]),
    ("qr", lambda x: tnp.linalg.qr(x.T)[1]),
]


@pytest.mark.parametrize("name, op", F32_OPS, ids=[n for n, _ in F32_OPS])
def test_float32_stays_float32(name, op) -> None:
    """float32 in, float32 out, through values, gradients and tangents (NumPy 2
    promotion: a Python float does not widen a float32 array)."""
    x = np.array([[1.2, 0.8, 1.7], [0.6, 1.1, 1.4]], dtype=np.float32)
    out = op(x)
    assert np.result_type(out) == np.float32
    g = tg.grad(lambda x: tnp.sum(op(x)))(x)
    assert g.dtype == np.float32
    _, t = tg.jvp(op, (x,), (np.ones_like(x),))
    assert np.result_type(t) == np.float32
    # and still the right numbers, to float32 precision
    x64 = x.astype(np.float64)
    g64 = tg.grad(lambda x: tnp.sum(op(x)))(x64)
    np.testing.assert_allclose(g, g64, rtol=2e-4, atol=1e-5)
