"""The public transforms: argnums, has_aux, pytrees, Jacobians, dtypes, custom rules."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad.core import is_boxed
from tracegrad.transforms import jacobians as jac_mod

Pair = collections.namedtuple("Pair", ["a", "b"])


@dataclasses.dataclass
class Params:
    w: Any
    b: Any
    act: str = dataclasses.field(default="tanh", metadata={"static": True})


X = np.array([0.3, -1.2, 0.8])
Y = np.array([1.5, 0.4, -0.6])


def f2(x, y):
    """Scalar function of two arrays: Σ sin(x) y² + Σ x³."""
    return tnp.sum(tnp.sin(x) * y**2) + tnp.sum(x**3)


def df2(x, y):
    return np.cos(x) * y**2 + 3 * x**2, 2 * np.sin(x) * y


# --- grad / value_and_grad ----------------------------------------------------------


@pytest.mark.parametrize(
    "argnums,expected",
    [(0, 0), (1, 1), (-1, 1), (-2, 0), ((0, 1), (0, 1)), ((1, 0), (1, 0)), ((1,), (1,))],
)
def test_grad_argnums(argnums, expected):
    g = tg.grad(f2, argnums=argnums)(X, Y)
    ref = df2(X, Y)
    if isinstance(expected, int):
        np.testing.assert_allclose(g, ref[expected], rtol=1e-12)
    else:
        assert isinstance(g, tuple) and len(g) == len(expected)
        for gi, e in zip(g, expected):
            np.testing.assert_allclose(gi, ref[e], rtol=1e-12)


def test_grad_argnums_out_of_range():
    with pytest.raises(ValueError, match="argnums"):
        tg.grad(f2, argnums=2)(X, Y)


def test_grad_keyword_arguments_pass_through():
    g = tg.grad(lambda x, scale=1.0: tnp.sum(x**2) * scale)(X, scale=3.0)
    np.testing.assert_allclose(g, 6 * X)


def test_grad_has_aux():
    def f(x):
        return tnp.sum(x**2), {"mean": tnp.mean(x), "n": 3}

    g, aux = tg.grad(f, has_aux=True)(X)
    np.testing.assert_allclose(g, 2 * X)
    assert aux["n"] == 3
    assert not is_boxed(aux["mean"])
    assert float(aux["mean"]) == pytest.approx(X.mean())


def test_value_and_grad_has_aux():
    (v, aux), g = tg.value_and_grad(lambda x: (tnp.sum(x**2), x * 2), has_aux=True)(X)
    assert v == pytest.approx(np.sum(X**2))
    np.testing.assert_allclose(aux, 2 * X)
    assert type(aux) is np.ndarray
    np.testing.assert_allclose(g, 2 * X)


def test_value_and_grad_runs_the_function_once():
    calls = []

    def f(x, y):
        calls.append(1)
        return f2(x, y)

    v, (gx, gy) = tg.value_and_grad(f, argnums=(0, 1))(X, Y)
    assert len(calls) == 1
    assert v == pytest.approx(float(f2(X, Y)))
    np.testing.assert_allclose(gx, df2(X, Y)[0], rtol=1e-12)


def test_grad_is_idempotent():
    g = tg.grad(f2, argnums=(0, 1))
    first = g(X, Y)
    second = g(X, Y)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    # a different point gives its own answer: no state carried between calls
    np.testing.assert_allclose(g(Y, X)[0], df2(Y, X)[0], rtol=1e-12)
    np.testing.assert_array_equal(g(X, Y)[0], first[0])


@pytest.mark.parametrize(
    "f,x",
    [
        (lambda x: 3.0, 1.0),
        (lambda x: tnp.sum(np.ones(3)), np.ones(3)),
        (lambda x: tg.stop_gradient(x) ** 2, 2.0),
        (lambda x: tnp.sum(tnp.floor(x)), np.array([0.5, 1.5])),
    ],
    ids=["constant", "unrelated-array", "stop-gradient", "floor"],
)
def test_grad_of_independent_output_is_zero(f, x):
    g = tg.grad(f)(x)
    assert np.shape(g) == np.shape(x)
    np.testing.assert_array_equal(g, np.zeros_like(x))


def test_grad_dtypes():
    g32 = tg.grad(lambda x: tnp.sum(x * x))(np.ones(3, np.float32))
    assert g32.dtype == np.float32
    g = tg.grad(lambda x: x * x)(3.0)
    assert isinstance(g, np.floating) and g.dtype == np.float64 and g == 6.0
    g0 = tg.grad(lambda x: x * x)(np.array(3.0))
    assert isinstance(g0, np.ndarray) and g0.shape == ()
    # a list is a pytree: its gradient is a list of the same length
    gl = tg.grad(lambda x: x[0] * x[1] ** 2)([3.0, 2.0])
    assert type(gl) is list and [float(v) for v in gl] == [4.0, 12.0]


def test_grad_non_differentiated_integer_argument_is_fine():
    g = tg.grad(lambda x, n: tnp.sum(x**n))(X, 3)
    np.testing.assert_allclose(g, 3 * X**2)


# --- pytrees ------------------------------------------------------------------------


PYTREE_CASES = {
    "dict": {"w": X, "b": 0.5},
    "list": [X, 0.5],
    "tuple": (X, 0.5),
    "namedtuple": Pair(X, 0.5),
    "dataclass": Params(X, 0.5, act="relu"),
}


def _loss(p):
    w, b = (p["w"], p["b"]) if isinstance(p, dict) else (p.w, p.b) if hasattr(p, "w") else p
    return tnp.sum(tnp.tanh(w * b) ** 2)


def _dloss(w, b):
    t = np.tanh(w * b)
    s = 2 * t * (1 - t**2)
    return s * b, np.sum(s * w)


@pytest.mark.parametrize("name", list(PYTREE_CASES))
def test_grad_pytree_argument(name):
    p = PYTREE_CASES[name]
    g = tg.grad(_loss)(p)
    assert type(g) is type(p)
    assert tg.tree.structure(g) == tg.tree.structure(p)
    # dict leaves come in sorted key order ("b", "w"); the others in field order
    gw, gb = (g["w"], g["b"]) if name == "dict" else tg.tree.leaves(g)
    ew, eb = _dloss(X, 0.5)
    np.testing.assert_allclose(gw, ew, rtol=1e-12)
    assert float(gb) == pytest.approx(eb, rel=1e-12)
    if name == "dataclass":
        assert g.act == "relu"


@pytest.mark.parametrize("name", list(PYTREE_CASES))
def test_vjp_and_jvp_pytree_output(name):
    p = PYTREE_CASES[name]

    def f(x):
        return tg.tree.map(lambda leaf: leaf * x, p)

    out, vjp_fn = tg.vjp(f, 2.0)
    assert tg.tree.structure(out) == tg.tree.structure(p)
    ones = tg.tree.map(np.ones_like, out)
    (ct,) = vjp_fn(ones)
    assert float(ct) == pytest.approx(np.sum(X) + 0.5)
    out2, t = tg.jvp(f, (2.0,), (1.0,))
    assert tg.tree.structure(t) == tg.tree.structure(p)
    for a, b in zip(tg.tree.leaves(t), tg.tree.leaves(p)):
        np.testing.assert_allclose(a, b)


def test_jacobian_pytree_structure():
    # output {"o": x*y, "q": [x]} w.r.t. {"x", "y"}: out-structure of in-structures
    p = {"x": np.array([0.0, 1.0]), "y": np.array([2.0, 3.0])}

    def f(p):
        return {"o": p["x"] * p["y"], "q": [tnp.sum(p["x"])]}

    for mode in ("fwd", "rev"):
        J = tg.jacobian(f, mode=mode)(p)
        assert set(J) == {"o", "q"} and isinstance(J["q"], list)
        np.testing.assert_allclose(J["o"]["x"], np.diag(p["y"]))
        np.testing.assert_allclose(J["o"]["y"], np.diag(p["x"]))
        assert J["q"][0]["x"].shape == (2,)
        np.testing.assert_allclose(J["q"][0]["x"], [1.0, 1.0])
        np.testing.assert_allclose(J["q"][0]["y"], [0.0, 0.0])


def test_jacobian_argnums_tuple_and_namedtuple_output():
    def f(x, y):
        return Pair(x * y, tnp.sum(x))

    for jac in (tg.jacfwd, tg.jacrev):
        J = jac(f, argnums=(0, 1))(X, Y)
        assert type(J) is Pair and isinstance(J.a, tuple)
        np.testing.assert_allclose(J.a[0], np.diag(Y))
        np.testing.assert_allclose(J.a[1], np.diag(X))
        np.testing.assert_allclose(J.b[0], np.ones(3))
        np.testing.assert_allclose(J.b[1], np.zeros(3))


# --- vjp / jvp ----------------------------------------------------------------------


def test_vjp_several_primals_and_repeated_calls():
    out, vjp_fn = tg.vjp(lambda x, y: x * y, X, Y)
    np.testing.assert_allclose(out, X * Y)
    for scale in (1.0, 2.0):
        gx, gy = vjp_fn(scale * np.ones(3))
        np.testing.assert_allclose(gx, scale * Y)
        np.testing.assert_allclose(gy, scale * X)


def test_vjp_same_value_returned_twice():
    # both output slots seed the same recorded value: their cotangents add up
    def f(x):
        y = tnp.sin(x)
        return y, [y, x]

    _, vjp_fn = tg.vjp(f, X)
    (g,) = vjp_fn((np.ones(3), [2 * np.ones(3), np.ones(3)]))
    np.testing.assert_allclose(g, 3 * np.cos(X) + 1, rtol=1e-12)
    J = tg.jacrev(f)(X)
    np.testing.assert_allclose(J[0], np.diag(np.cos(X)), rtol=1e-12)
    np.testing.assert_allclose(J[1][0], J[0])
    np.testing.assert_allclose(J[1][1], np.eye(3))


def test_vjp_has_aux():
    out, vjp_fn, aux = tg.vjp(lambda x: (tnp.sin(x), {"x2": x * 2}), X, has_aux=True)
    np.testing.assert_allclose(aux["x2"], 2 * X)
    assert type(aux["x2"]) is np.ndarray
    (g,) = vjp_fn(np.ones(3))
    np.testing.assert_allclose(g, np.cos(X))


def test_jvp_has_aux_and_several_primals():
    out, t, aux = tg.jvp(
        lambda x, y: (x * y, tnp.sum(x)), (X, Y), (np.ones(3), np.zeros(3)), has_aux=True
    )
    np.testing.assert_allclose(out, X * Y)
    np.testing.assert_allclose(t, Y)
    assert float(aux) == pytest.approx(X.sum())


def test_jvp_linear_in_tangent():
    f = lambda x: tnp.sin(x) * x
    u, v = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 0.0])
    _, tu = tg.jvp(f, (X,), (u,))
    _, tv = tg.jvp(f, (X,), (v,))
    _, tuv = tg.jvp(f, (X,), (2 * u + v,))
    np.testing.assert_allclose(tuv, 2 * tu + tv, rtol=1e-12)


def test_jvp_vjp_adjoint_identity():
    # <v, J u> = <Jᵀ v, u> for a function R³ → R²
    f = lambda x: tnp.stack([tnp.sum(x**2), tnp.prod(tnp.sin(x))])
    u, v = np.array([0.2, -0.3, 1.0]), np.array([1.5, -2.0])
    _, ju = tg.jvp(f, (X,), (u,))
    (jtv,) = tg.vjp(f, X)[1](v)
    assert np.dot(v, ju) == pytest.approx(np.dot(jtv, u), rel=1e-12)


# --- Jacobians ----------------------------------------------------------------------


SHAPE_CASES = [
    ((), lambda x: x**2),
    ((3,), lambda x: tnp.sin(x)),
    ((3,), lambda x: tnp.sum(x**2)),
    ((2, 3), lambda x: tnp.sum(x, axis=0)),
    ((2, 3), lambda x: tnp.outer(x[0], x[1])),
    ((4,), lambda x: tnp.reshape(x, (2, 2)) * 2.0),
]


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
@pytest.mark.parametrize("case", range(len(SHAPE_CASES)))
def test_jacobian_shapes_and_values(case, mode):
    shape, f = SHAPE_CASES[case]
    x = np.random.default_rng(case).standard_normal(shape)
    J = tg.jacobian(f, mode=mode)(x)
    out = f(x)
    assert np.shape(J) == np.shape(out) + shape
    # compare with finite differences, column by column
    h = 1e-6
    num = np.zeros(np.shape(out) + (x.size,))
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = h
        num[..., k] = (f(x + e.reshape(shape)) - f(x - e.reshape(shape))) / (2 * h)
    np.testing.assert_allclose(np.reshape(J, num.shape), num, rtol=1e-6, atol=1e-8)


def test_jacfwd_jacrev_agree():
    f = lambda x, y: tnp.tanh(tnp.outer(x, y)) @ y
    for argnums in (0, 1, (0, 1)):
        a = tg.jacfwd(f, argnums)(X, Y)
        b = tg.jacrev(f, argnums)(X, Y)
        for p, q in zip(tg.tree.leaves(a), tg.tree.leaves(b)):
            np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)


def test_jacobian_python_float_gives_numpy_scalar():
    for jac in (tg.jacfwd, tg.jacrev, tg.jacobian):
        J = jac(lambda x: x**3)(2.0)
        assert isinstance(J, np.floating) and J == 12.0
    H = tg.hessian(lambda x: x**3)(2.0)
    assert isinstance(H, np.floating) and H == 12.0
    # a 0-d array input keeps giving 0-d arrays, as grad does
    assert isinstance(tg.jacrev(lambda x: x**3)(np.array(2.0)), np.ndarray)
    assert isinstance(tg.hessian(lambda x: x**3)(np.array(2.0)), np.ndarray)


def test_jacobian_float32():
    x = np.ones(2, np.float32)
    for jac in (tg.jacfwd, tg.jacrev):
        assert jac(lambda x: x * x)(x).dtype == np.float32


@pytest.mark.parametrize(
    "shape_in,shape_out,expected",
    [((2,), (5,), "fwd"), ((3,), (3,), "fwd"), ((5,), (2,), "rev"), ((4,), (), "rev")],
)
def test_jacobian_auto_mode_choice(monkeypatch, shape_in, shape_out, expected):
    chosen = []
    real_fwd, real_rev = jac_mod._jacfwd_at, jac_mod._jacrev_at
    monkeypatch.setattr(jac_mod, "_jacfwd_at", lambda *a: chosen.append("fwd") or real_fwd(*a))
    monkeypatch.setattr(jac_mod, "_jacrev_at", lambda *a: chosen.append("rev") or real_rev(*a))
    n_out = int(np.prod(shape_out))

    def f(x):
        return tnp.reshape(tnp.sum(x) * np.arange(1.0, n_out + 1), shape_out)

    J = tg.jacobian(f)(np.ones(shape_in))
    assert chosen == [expected]
    assert J.shape == shape_out + shape_in


def test_jacobian_auto_mode_counts_passes():
    # forward: one sizing pass + one batched pass for all input directions; reverse: the
    # sizing pass is the recording, reused, so one pass in total
    calls = []

    def f(x):
        calls.append(1)
        return tnp.concatenate([x, x, x]) * 2.0

    tg.jacobian(f)(np.ones(2))  # 2 inputs <= 6 outputs: forward
    n_fwd = len(calls)
    calls.clear()
    tg.jacobian(lambda x: tnp.sum(f(x)))(np.ones(4))  # 4 inputs > 1 output: reverse
    n_rev = len(calls)
    assert n_fwd == 2 and n_rev == 1


def test_jacobian_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        tg.jacobian(tnp.sin, mode="sideways")


# --- hessian / hvp ------------------------------------------------------------------


def test_hessian_shape_of_matrix_input():
    x = np.random.default_rng(0).standard_normal((2, 3))
    H = tg.hessian(lambda x: tnp.sum(x**3))(x)
    assert H.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(H.reshape(6, 6), np.diag(6 * x.ravel()), atol=1e-12)


def test_hvp_several_primals():
    f = lambda x, y: tnp.sum(x * x * y)
    hx, hy = tg.hvp(f, (X, Y), (np.ones(3), np.zeros(3)))
    np.testing.assert_allclose(hx, 2 * Y)
    np.testing.assert_allclose(hy, 2 * X)


# --- stop_gradient ------------------------------------------------------------------


def test_stop_gradient():
    assert float(tg.grad(lambda x: x * tg.stop_gradient(x))(3.0)) == 3.0
    _, t = tg.jvp(lambda x: x * tg.stop_gradient(x), (3.0,), (1.0,))
    assert float(t) == 3.0
    g = tg.grad(lambda p: tnp.sum(tg.stop_gradient(p)["a"] * p["a"]))({"a": X})
    np.testing.assert_allclose(g["a"], X)
    # the value of a stopped box is the plain value
    v = tg.stop_gradient(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(v, [1.0, 2.0])


def test_stop_gradient_cuts_every_level():
    # inside a nested transform stop_gradient drops every level of tracing (as JAX's
    # does), so the outer derivative through the stopped value is zero as well
    def f(x):
        return tg.grad(lambda y: y * tg.stop_gradient(x * y))(1.0)

    assert float(tg.grad(f)(2.0)) == 0.0


# --- numerical_grad -----------------------------------------------------------------


def test_numerical_grad_matches_grad():
    num = tg.numerical_grad(f2, X, Y, argnums=(0, 1))
    ad = tg.grad(f2, argnums=(0, 1))(X, Y)
    for a, b in zip(num, ad):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-8)
    assert float(tg.numerical_grad(lambda x: x**3, 2.0)) == pytest.approx(12.0, rel=1e-8)
    g = tg.numerical_grad(_loss, {"w": X, "b": 0.5})
    np.testing.assert_allclose(g["w"], _dloss(X, 0.5)[0], rtol=1e-7)


# --- custom primitives and check_grads ----------------------------------------------


def _cube_prim(vjp_rule, jvp_rule):
    @tg.primitive
    def cube(x):
        return x**3

    tg.defvjp(cube, vjp_rule)
    tg.defjvp(cube, jvp_rule)
    return cube


GOOD_VJP = lambda g, out, x: g * 3 * x**2
GOOD_JVP = lambda t, out, x: t * 3 * x**2
BAD_VJP = lambda g, out, x: g * 2 * x**2
BAD_JVP = lambda t, out, x: t * 3 * x
# right at first order, but its own derivative is wrong (x is cut off by stop_gradient)
BAD2_VJP = lambda g, out, x: g * 3 * tg.stop_gradient(x) ** 2
BAD2_JVP = lambda t, out, x: t * 3 * tg.stop_gradient(x) ** 2


def test_custom_primitive_correct_rules():
    cube = _cube_prim(GOOD_VJP, GOOD_JVP)
    x = np.array([0.5, -1.5])
    np.testing.assert_allclose(tg.grad(lambda x: tnp.sum(cube(x)))(x), 3 * x**2)
    np.testing.assert_allclose(tg.jvp(cube, (x,), (np.ones(2),))[1], 3 * x**2)
    np.testing.assert_allclose(tg.hessian(lambda x: tnp.sum(cube(x)))(x), np.diag(6 * x))
    tg.check_grads(cube, (x,), order=2)
    tg.check_grads(lambda x, y: cube(x) * y, (x, np.array([2.0, 3.0])), order=2)


@pytest.mark.parametrize(
    "vjp_rule,jvp_rule,modes,pattern",
    [
        (BAD_VJP, GOOD_JVP, ("fwd", "rev"), r"reverse mode \(VJP\), order 1, argument 0"),
        (GOOD_VJP, BAD_JVP, ("fwd", "rev"), r"forward mode \(JVP\), order 1, argument 0"),
        (BAD2_VJP, GOOD_JVP, ("rev",), r"reverse mode \(VJP\), order 2, argument 0"),
        (GOOD_VJP, BAD2_JVP, ("fwd",), r"forward mode \(JVP\), order 2, argument 0"),
    ],
    ids=["wrong-vjp", "wrong-jvp", "wrong-vjp-order2", "wrong-jvp-order2"],
)
def test_check_grads_catches_wrong_rule(vjp_rule, jvp_rule, modes, pattern):
    cube = _cube_prim(vjp_rule, jvp_rule)
    x = np.array([0.5, -1.5])
    with pytest.raises(AssertionError, match=pattern):
        tg.check_grads(cube, (x,), order=2, modes=modes)


def test_check_grads_names_the_argument():
    @tg.primitive
    def mul(x, y):
        return x * y

    tg.defvjp(mul, lambda g, out, x, y: g * y, lambda g, out, x, y: g * y)  # 2nd wrong
    tg.defjvp(mul, lambda t, out, x, y: t * y, lambda t, out, x, y: x * t)
    with pytest.raises(AssertionError, match="argument 1"):
        tg.check_grads(mul, (X, Y + 2.0), order=1, modes=("rev",))
    tg.check_grads(mul, (X, Y), order=1, modes=("fwd",))


def test_check_grads_order_one_ignores_second_order_errors():
    cube = _cube_prim(BAD2_VJP, BAD2_JVP)
    tg.check_grads(cube, (np.array([0.5, -1.5]),), order=1)


def test_check_grads_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        tg.check_grads(tnp.sin, (X,), modes=("sideways",))


def test_custom_primitive_without_jvp_rule():
    @tg.primitive
    def only_rev(x):
        return 2.0 * x

    tg.defvjp(only_rev, lambda g, out, x: 2.0 * g)
    assert float(tg.grad(only_rev)(1.0)) == 2.0
    with pytest.raises(NotImplementedError, match="only_rev"):
        tg.jvp(only_rev, (1.0,), (1.0,))
    with pytest.raises(NotImplementedError, match="only_rev"):
        tg.jacfwd(only_rev)(np.ones(2))


def test_custom_primitive_without_vjp_rule():
    @tg.primitive
    def only_fwd(x):
        return 2.0 * x

    tg.defjvp(only_fwd, lambda t, out, x: 2.0 * t)
    with pytest.raises(NotImplementedError, match="only_fwd"):
        tg.grad(only_fwd)(1.0)


def test_defvjp_rejects_plain_function():
    with pytest.raises(TypeError, match="primitive"):
        tg.defvjp(lambda x: x, lambda g, out, x: g)


def test_custom_primitive_none_rule_marks_argument_not_differentiable():
    @tg.primitive
    def scale(x, k):
        return x * k

    tg.defvjp(scale, lambda g, out, x, k: g * k, None)
    assert float(tg.grad(scale)(2.0, 3.0)) == 3.0
    with pytest.raises(NotImplementedError, match="scale.*argument 1"):
        tg.grad(scale, argnums=1)(2.0, 3.0)
