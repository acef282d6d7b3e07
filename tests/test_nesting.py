"""Nested transformations: no perturbation confusion, higher derivatives, Hessians."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad.core import trace_stack


def d_rev(f):
    """Derivative of a scalar function of a scalar by reverse mode."""
    return tg.grad(f)


def d_fwd(f):
    """Derivative of a function of a scalar by forward mode."""
    return lambda x: tg.jvp(f, (x,), (1.0,))[1]


MODES = {"rev": d_rev, "fwd": d_fwd}
MIXES = [(o, i) for o in MODES for i in MODES]


@pytest.fixture(autouse=True)
def _stack_is_empty():
    yield
    assert trace_stack() == []


@pytest.mark.parametrize("outer,inner", MIXES, ids=[f"{o}-of-{i}" for o, i in MIXES])
def test_perturbation_confusion(outer, inner):
    # d/dx [x · d/dy (x + y)|_{y=1}] at x=1 is 1; confusing the two perturbations gives 2
    def f(x):
        return x * MODES[inner](lambda y: x + y)(1.0)

    assert float(MODES[outer](f)(1.0)) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("outer,inner", MIXES, ids=[f"{o}-of-{i}" for o, i in MIXES])
def test_perturbation_confusion_multiplicative(outer, inner):
    # d/dx [x · d/dy (x y)|_{y=2}] = d/dx x² = 2x; confusion gives a different answer
    def f(x):
        return x * MODES[inner](lambda y: x * y)(2.0)

    assert float(MODES[outer](f)(3.0)) == pytest.approx(6.0, rel=1e-14)


@pytest.mark.parametrize("outer,inner", MIXES, ids=[f"{o}-of-{i}" for o, i in MIXES])
def test_enclosing_scope_reference(outer, inner):
    # autograd's test_enclosing_scope_ref: the inner function only closes over x
    def f(x):
        return MODES[inner](lambda y: x * y)(1.0)

    assert float(MODES[outer](f)(1.0)) == pytest.approx(1.0)

    def g(x):
        return MODES[inner](lambda y: y * x)(1.0)

    assert float(MODES[outer](g)(1.0)) == pytest.approx(1.0)


# --- Hessians -----------------------------------------------------------------------

A = np.array([[2.0, 1.0, 0.5], [0.0, 3.0, -1.0], [1.5, 0.2, 1.0]])
X0 = np.array([0.3, -0.8, 1.2])


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


HESSIANS = {
    "sum-cube": (lambda x: tnp.sum(x**3), lambda x: np.diag(6 * x)),
    "quadratic-form": (lambda x: x @ A @ x, lambda x: A + A.T),
    "logsumexp": (
        lambda x: tnp.logsumexp(x),
        lambda x: np.diag(_softmax(x)) - np.outer(_softmax(x), _softmax(x)),
    ),
    "sin-prod": (
        lambda x: tnp.sin(x[0] * x[1]) + x[2] ** 2,
        lambda x: np.array(
            [
                [-(x[1] ** 2) * np.sin(x[0] * x[1]), _sp_cross(x), 0.0],
                [_sp_cross(x), -(x[0] ** 2) * np.sin(x[0] * x[1]), 0.0],
                [0.0, 0.0, 2.0],
            ]
        ),
    ),
}


def _sp_cross(x):
    u = x[0] * x[1]
    return np.cos(u) - u * np.sin(u)


@pytest.mark.parametrize("name", list(HESSIANS))
def test_hessian_analytic(name):
    f, h = HESSIANS[name]
    H = tg.hessian(f)(X0)
    assert H.shape == (3, 3)
    np.testing.assert_allclose(H, h(X0), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(HESSIANS))
def test_hvp_agrees_with_hessian_and_jvp_of_grad(name):
    f, _ = HESSIANS[name]
    v = np.array([0.5, -1.0, 2.0])
    H = tg.hessian(f)(X0)
    expected = H @ v
    np.testing.assert_allclose(tg.hvp(f, (X0,), (v,)), expected, rtol=1e-10, atol=1e-12)
    _, jg = tg.jvp(tg.grad(f), (X0,), (v,))
    np.testing.assert_allclose(jg, expected, rtol=1e-10, atol=1e-12)
    # reverse over reverse and reverse over forward agree too
    H_rr = tg.jacrev(tg.grad(f))(X0)
    H_rf = tg.jacrev(tg.jacfwd(f))(X0)
    np.testing.assert_allclose(H_rr, H, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(H_rf, H, rtol=1e-10, atol=1e-12)


def test_hessian_argnums_tuple():
    # f = Σ x² y + sin(x)·y²; blocks H[i][j] = ∂²f/∂arg_i ∂arg_j
    def f(x, y):
        return tnp.sum(x**2 * y) + tnp.sum(tnp.sin(x) * y**2)

    x = np.array([0.3, 1.1])
    y = np.array([-0.7, 2.0])
    H = tg.hessian(f, argnums=(0, 1))(x, y)
    assert isinstance(H, tuple) and len(H) == 2 and all(len(r) == 2 for r in H)
    np.testing.assert_allclose(H[0][0], np.diag(2 * y - np.sin(x) * y**2), rtol=1e-12)
    np.testing.assert_allclose(H[0][1], np.diag(2 * x + 2 * np.cos(x) * y), rtol=1e-12)
    np.testing.assert_allclose(H[1][0], H[0][1].T, rtol=1e-12)
    np.testing.assert_allclose(H[1][1], np.diag(2 * np.sin(x)), rtol=1e-12)


def test_hessian_of_one_argument_of_two():
    def f(x, y):
        return tnp.sum(x**3 * y)

    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    np.testing.assert_allclose(tg.hessian(f, argnums=1)(x, y), np.zeros((2, 2)))
    np.testing.assert_allclose(tg.hessian(f)(x, y), np.diag(6 * x * y))


# --- higher derivatives -------------------------------------------------------------


@pytest.mark.parametrize("x", [0.3, 1.7, -2.2])
@pytest.mark.parametrize("mix", ["rrr", "frf", "ffr", "rff", "fff"])
def test_third_derivative(x, mix):
    def nest(f):
        for m in reversed(mix):
            f = MODES["rev" if m == "r" else "fwd"](f)
        return f

    assert float(nest(tnp.sin)(x)) == pytest.approx(-np.cos(x), rel=1e-12)
    assert float(nest(lambda t: t**4)(x)) == pytest.approx(24 * x, rel=1e-12)


def test_fourth_derivative_of_sin():
    # d⁴/dx⁴ sin = sin
    f = tnp.sin
    for _ in range(4):
        f = tg.grad(f)
    assert float(f(0.9)) == pytest.approx(np.sin(0.9), rel=1e-12)


# --- levels restored after errors in nested transforms ------------------------------


class Boom(Exception):
    pass


def _raise_inside(y):
    tnp.sin(y) * y
    raise Boom


@pytest.mark.parametrize("outer,inner", MIXES, ids=[f"{o}-of-{i}" for o, i in MIXES])
def test_levels_restored_when_nested_transform_raises(outer, inner):
    def f(x):
        return x * MODES[inner](_raise_inside)(x)

    with pytest.raises(Boom):
        MODES[outer](f)(1.0)
    assert trace_stack() == []
    # a fresh nested computation works and starts at level 1 again
    assert float(MODES[outer](MODES[inner](tnp.sin))(0.0)) == pytest.approx(0.0)


def test_levels_restored_when_inner_transform_raises_and_is_caught():
    levels = []

    def f(x):
        try:
            tg.grad(_raise_inside)(x)
        except Boom:
            pass
        levels.append([t.level for t in trace_stack()])
        return x * x

    assert float(tg.grad(f)(3.0)) == 6.0
    assert levels == [[1]]
