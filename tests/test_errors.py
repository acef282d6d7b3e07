"""Errors that name the problem and the fix."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp


@pytest.mark.parametrize(
    "f,x,shape",
    [
        (lambda x: x * 2.0, np.ones(3), r"\(3,\)"),
        (lambda x: tnp.outer(x, x), np.ones(2), r"\(2, 2\)"),
        (lambda x: tnp.reshape(tnp.sum(x), (1,)), np.ones(2), r"\(1,\)"),
    ],
)
def test_grad_non_scalar_output(f, x, shape):
    with pytest.raises(TypeError, match=shape) as info:
        tg.grad(f)(x)
    msg = str(info.value)
    assert "scalar" in msg and "jacrev" in msg and "vjp" in msg


@pytest.mark.parametrize(
    "x",
    [3, np.array([1, 2]), np.int32(4), np.array([True, False])],
    ids=["python-int", "int-array", "numpy-int", "bool-array"],
)
def test_grad_integer_input(x):
    with pytest.raises(TypeError, match="float"):
        tg.grad(lambda x: tnp.sum(x * 1.0))(x)


def test_grad_integer_leaf_in_pytree_names_argument():
    with pytest.raises(TypeError, match="argument 1"):
        tg.grad(lambda a, p: a * p["k"], argnums=(0, 1))(1.0, {"k": 2})


@pytest.mark.parametrize("fn", ["jvp", "jacfwd", "jacrev", "vjp", "hessian"])
def test_integer_input_refused_by_other_transforms(fn):
    x = np.array([1, 2, 3])
    with pytest.raises(TypeError, match="float"):
        if fn == "jvp":
            tg.jvp(lambda x: x * 1.0, (x,), (x,))
        elif fn == "vjp":
            tg.vjp(lambda x: x * 1.0, x)
        else:
            getattr(tg, fn)(lambda x: tnp.sum(x * 1.0))(x)


def test_grad_non_float_output():
    with pytest.raises(TypeError, match="float output"):
        tg.grad(lambda x: x > 0)(1.0)


@pytest.mark.parametrize("bad", [(2,), (3, 1), ()])
def test_jvp_tangent_shape_mismatch(bad):
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}.*\(3,\)"):
        tg.jvp(lambda x: x * x, (np.ones(3),), (np.ones(bad),))


def test_jvp_tangent_structure_mismatch():
    with pytest.raises(ValueError, match="structure"):
        tg.jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))


def test_jvp_needs_tuples():
    with pytest.raises(TypeError, match="tuples"):
        tg.jvp(lambda x: x, 1.0, 1.0)


@pytest.mark.parametrize("bad", [(2,), (3, 1), ()])
def test_vjp_cotangent_shape_mismatch(bad):
    _, vjp_fn = tg.vjp(lambda x: x * x, np.ones(3))
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}.*\(3,\)"):
        vjp_fn(np.ones(bad))


def test_vjp_cotangent_structure_mismatch():
    _, vjp_fn = tg.vjp(lambda x: (x, 2.0 * x), 1.0)
    with pytest.raises(ValueError, match="structure"):
        vjp_fn(1.0)


def test_repr_of_traced_value_shows_value_and_level():
    seen = []

    def f(x):
        seen.append(repr(x))
        seen.append(repr(x * 2.0))
        return tnp.sum(x**2)

    tg.grad(f)(np.array([1.5, 2.5]))
    assert "1.5" in seen[0] and "2.5" in seen[0] and "level 1" in seen[0]
    assert "3." in seen[1] and "5." in seen[1]

    reprs = []
    tg.grad(lambda x: tg.jvp(lambda y: reprs.append(repr(y)) or y * x, (x,), (1.0,))[1])(0.25)
    assert "0.25" in reprs[0] and "level 2" in reprs[0]


@pytest.mark.parametrize(
    "out", [1.0, (1.0,), (1.0, 2.0, 3.0)], ids=["scalar", "1-tuple", "3-tuple"]
)
@pytest.mark.parametrize("fn", ["grad", "value_and_grad", "vjp", "jvp"])
def test_has_aux_needs_a_pair(fn, out):
    def f(x):
        return tg.tree.map(lambda c: c * x, out)

    with pytest.raises(TypeError, match="pair"):
        if fn in ("grad", "value_and_grad"):
            getattr(tg, fn)(f, has_aux=True)(1.0)
        elif fn == "vjp":
            tg.vjp(f, 1.0, has_aux=True)
        else:
            tg.jvp(f, (1.0,), (1.0,), has_aux=True)


def test_in_place_assignment_into_traced_value():
    def f(x):
        x[0] = 1.0
        return tnp.sum(x)

    with pytest.raises(TypeError, match="in-place"):
        tg.grad(f)(np.ones(3))


def test_converting_traced_value_to_float():
    with pytest.raises(TypeError, match="stop_gradient"):
        tg.grad(lambda x: float(x) * x)(1.0)
    with pytest.raises(TypeError, match="NumPy array"):
        tg.grad(lambda x: np.asarray(x).sum())(np.ones(2))


def test_shape_error_under_tracing_names_shapes():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        tg.grad(lambda x: tnp.sum(x + np.ones(3)))(np.ones(2))
