"""Property tests: random compositions of primitives, forward vs reverse vs differences.

Hypothesis draws expression trees (depth <= 4) over smooth unary and binary ops, applied
to two float64 arrays of random broadcastable shapes. For each we check that

* forward and reverse mode agree: ``<v, J u> == <J^T v, u>`` to 1e-8 relative;
* both agree with central finite differences of the primal function;
* the JVP is linear in the tangent: ``J(a u1 + b u2) == a J u1 + b J u2``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import tracegrad as tg
import tracegrad.numpy as tnp
from test_ops_systematic import _broadcasts  # tests/ is on sys.path (rootdir conftest)

SHAPES = [(), (3,), (2, 3), (2, 1), (1, 3), (4, 2, 3), (4, 1, 3)]

# Smooth everywhere (no kinks, no domain edges), so finite differences are reliable at any
# point; each keeps values of moderate size for bounded inputs.
UNARY = {
    "sin": tnp.sin,
    "cos": tnp.cos,
    "tanh": tnp.tanh,
    "sigmoid": tnp.sigmoid,
    "arctan": tnp.arctan,
    "square": tnp.square,
    "neg": tnp.negative,
    # log(1 + e^x) in its overflow-free form; the kinks of |x| and relu cancel
    "softplus": lambda x: tnp.log1p(tnp.exp(-tnp.abs(x))) + tnp.relu(x),
    "exp-tanh": lambda x: tnp.exp(tnp.tanh(x)),
    "sqrt-1+x2": lambda x: tnp.sqrt(1.0 + x * x),
    "scale": lambda x: x * 0.7,
    "softmax": lambda x: tnp.softmax(x, axis=-1) if np.ndim(x) else tnp.sin(x),
    "mean-keepdims": lambda x: tnp.mean(x, axis=-1, keepdims=True) if np.ndim(x) else x,
}
BINARY = {
    "add": tnp.add,
    "sub": tnp.subtract,
    "mul": tnp.multiply,
    "div": lambda x, y: x / (1.5 + tnp.sin(y)),
    "pow": lambda x, y: tnp.power(1.0 + x * x, tnp.tanh(y)),
    "hypot": lambda x, y: tnp.sqrt(x * x + y * y + 0.5),
}


@st.composite
def trees(draw, depth: int = 4):
    """A nested-tuple expression: ('x'|'y') leaves, ('u', op, t), ('b', op, t1, t2)."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["x", "y"]))
    if draw(st.booleans()):
        return ("u", draw(st.sampled_from(sorted(UNARY))), draw(trees(depth - 1)))
    op = draw(st.sampled_from(sorted(BINARY)))
    return ("b", op, draw(trees(depth - 1)), draw(trees(depth - 1)))


def evaluate(tree, x, y):
    if tree == "x":
        return x
    if tree == "y":
        return y
    if tree[0] == "u":
        return UNARY[tree[1]](evaluate(tree[2], x, y))
    return BINARY[tree[1]](evaluate(tree[2], x, y), evaluate(tree[3], x, y))


@st.composite
def problems(draw):
    """(tree, x, y, ux, uy, v) with x, y of broadcastable shapes and random directions."""
    tree = draw(trees())
    sx = draw(st.sampled_from(SHAPES))
    sy = draw(st.sampled_from([s for s in SHAPES if _broadcasts(sx, s)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.uniform(-1.5, 1.5, sx)
    y = rng.uniform(-1.5, 1.5, sy)
    ux, uy = rng.standard_normal(sx), rng.standard_normal(sy)
    out_shape = np.shape(evaluate(tree, x, y))
    v = rng.standard_normal(out_shape)
    return tree, x, y, ux, uy, v


def _f(tree):
    return lambda x, y: evaluate(tree, x, y)


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


@given(problems())
def test_forward_and_reverse_agree(problem) -> None:
    tree, x, y, ux, uy, v = problem
    f = _f(tree)
    out, jvp_out = tg.jvp(f, (x, y), (ux, uy))
    out2, vjp_fn = tg.vjp(f, x, y)
    np.testing.assert_array_equal(out, out2)
    ctx, cty = vjp_fn(v)
    assert np.shape(ctx) == np.shape(x) and np.shape(cty) == np.shape(y)
    fwd = float(np.sum(v * jvp_out))
    rev = float(np.sum(ctx * ux) + np.sum(cty * uy))
    scale = float(np.sum(np.abs(v * jvp_out))) + 1e-300
    assert _close(fwd, rev, 1e-8, 1e-8 * scale), (tree, fwd, rev)


@given(problems())
def test_jvp_matches_finite_differences(problem) -> None:
    tree, x, y, ux, uy, _ = problem
    f = _f(tree)
    _, jvp_out = tg.jvp(f, (x, y), (ux, uy))
    eps = 1e-6
    numeric = (f(x + eps * ux, y + eps * uy) - f(x - eps * ux, y - eps * uy)) / (2 * eps)
    np.testing.assert_allclose(jvp_out, numeric, rtol=1e-5, atol=1e-5, err_msg=str(tree))


@given(problems(), st.floats(-3, 3), st.floats(-3, 3))
def test_jvp_is_linear_in_the_tangent(problem, a, b) -> None:
    tree, x, y, ux, uy, _ = problem
    f = _f(tree)
    rng = np.random.default_rng(7)
    wx, wy = rng.standard_normal(np.shape(x)), rng.standard_normal(np.shape(y))
    _, j1 = tg.jvp(f, (x, y), (ux, uy))
    _, j2 = tg.jvp(f, (x, y), (wx, wy))
    _, j12 = tg.jvp(f, (x, y), (a * ux + b * wx, a * uy + b * wy))
    expected = a * np.asarray(j1) + b * np.asarray(j2)
    # rounding noise scales with the tangents, not with the result: a derivative that is
    # zero in exact arithmetic (e.g. of mean(softmax(x))) comes out as ~1e-17 * |u|
    size = max(1.0, float(np.max(np.abs(j1), initial=0.0)), float(np.max(np.abs(j2), initial=0.0)))
    atol = 1e-10 * (abs(a) + abs(b)) * size
    np.testing.assert_allclose(j12, expected, rtol=1e-10, atol=atol)


@given(problems())
def test_reverse_matches_finite_differences_of_the_scalarised_function(problem) -> None:
    """grad of <v, f(x, y)> against differences along (ux, uy): reverse mode alone."""
    tree, x, y, ux, uy, v = problem
    f = _f(tree)
    loss = lambda x, y: tnp.sum(f(x, y) * v)
    gx, gy = tg.grad(loss, argnums=(0, 1))(x, y)
    eps = 1e-6
    numeric = (loss(x + eps * ux, y + eps * uy) - loss(x - eps * ux, y - eps * uy)) / (2 * eps)
    ad = float(np.sum(gx * ux) + np.sum(gy * uy))
    assert _close(ad, float(numeric), 1e-5, 1e-5), (tree, ad, numeric)
