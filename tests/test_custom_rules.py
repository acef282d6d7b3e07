"""tg.linearize, tg.custom_jvp and tg.custom_vjp (JAX's spelling): values, that the
custom rule is the one used, both modes where they exist, second order, and the errors."""

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp

rng = np.random.default_rng(7)
X = rng.standard_normal(4)
Y = rng.standard_normal(4)


# --- linearize --------------------------------------------------------------------------


def f2(x, p):
    return {"u": tnp.sin(x) * p["a"], "v": tnp.sum(x**2) * p["b"]}


def test_linearize_value_and_map_against_jvp_and_differences():
    p = {"a": Y, "b": np.array(1.5)}
    out, f_jvp = tg.linearize(f2, X, p)
    np.testing.assert_allclose(out["u"], np.sin(X) * Y)
    tx, tp = rng.standard_normal(4), {"a": rng.standard_normal(4), "b": np.array(0.3)}
    got = f_jvp(tx, tp)
    want = tg.jvp(f2, (X, p), (tx, tp))[1]
    for k in ("u", "v"):
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12)
    # against a central difference along the direction
    h = 1e-6
    hi = f2(X + h * tx, {"a": Y + h * tp["a"], "b": 1.5 + h * 0.3})
    lo = f2(X - h * tx, {"a": Y - h * tp["a"], "b": 1.5 - h * 0.3})
    np.testing.assert_allclose(got["u"], (hi["u"] - lo["u"]) / (2 * h), rtol=1e-6)
    # linear: the map of a sum is the sum of the maps
    np.testing.assert_allclose(f_jvp(2 * tx, tp)["u"] - f_jvp(tx, tp)["u"], f_jvp(tx, {
        "a": np.zeros(4), "b": np.array(0.0)})["u"], rtol=1e-12, atol=1e-15)  # fmt: skip


def test_linearize_errors_name_the_mismatch():
    _, f_jvp = tg.linearize(tnp.sin, X)
    with pytest.raises(TypeError, match="one tangent per primal"):
        f_jvp(X, X)
    with pytest.raises(ValueError, match="tangent 0 has shape"):
        f_jvp(np.ones(3))


# --- custom_jvp -------------------------------------------------------------------------


@tg.custom_jvp
def softplus(x):
    return tnp.log1p(tnp.exp(x))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t * tnp.sigmoid(x)  # finite where exp(x) overflows


@tg.custom_jvp
def scaled_product(x, y):
    return x * y


@scaled_product.defjvp
def _scaled_product_jvp(primals, tangents):
    # deliberately not the true derivative (3 times it): shows which rule is used
    (x, y), (tx, ty) = primals, tangents
    return scaled_product(x, y), 3.0 * (tx * y + x * ty)


def test_custom_jvp_rule_is_used_in_both_modes():
    _, t = tg.jvp(scaled_product, (X, Y), (np.ones(4), np.zeros(4)))
    np.testing.assert_allclose(t, 3.0 * Y)
    gx, gy = tg.grad(lambda x, y: tnp.sum(scaled_product(x, y)), argnums=(0, 1))(X, Y)
    np.testing.assert_allclose(gx, 3.0 * Y, rtol=1e-12)
    np.testing.assert_allclose(gy, 3.0 * X, rtol=1e-12)
    # the stable rule at a point where the plain one gives nan (inf / inf)
    with np.errstate(over="ignore"):
        assert float(tg.grad(softplus)(1000.0)) == 1.0
        assert float(tg.jvp(softplus, (1000.0,), (2.0,))[1]) == 2.0


def test_custom_jvp_against_differences_to_second_order():
    tg.check_grads(lambda x: tnp.sum(softplus(x) * x), (X,), order=2, modes=("fwd", "rev"))
    np.testing.assert_allclose(
        tg.hessian(lambda x: tnp.sum(softplus(x)))(X),
        np.diag(tg.numerical_grad(lambda x: tnp.sum(tnp.sigmoid(x)), X)),
        rtol=1e-6,
    )


def test_custom_jvp_under_jit_vmap_and_keywords():
    g = tg.jit(tg.grad(lambda x: tnp.sum(softplus(x))))
    np.testing.assert_allclose(g(X), 1 / (1 + np.exp(-X)), rtol=1e-12)
    np.testing.assert_allclose(tg.vmap(softplus)(X), np.log1p(np.exp(X)), rtol=1e-12)
    np.testing.assert_allclose(scaled_product(X, y=Y), X * Y)


# --- custom_vjp -------------------------------------------------------------------------

FWD_CALLS = []
FUN_CALLS = []


@tg.custom_vjp
def clip_gradient(x, lo):
    FUN_CALLS.append(1)
    return x


def _clip_fwd(x, lo):
    FWD_CALLS.append(1)
    return x, lo


def _clip_bwd(lo, g):
    return tnp.clip(g, lo, -lo), None


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


@tg.custom_vjp
def cube(x):
    return x**3


cube.defvjp(lambda x: (x**3, x), lambda x, g: (g * 3.0 * x**2,))


def test_custom_vjp_rule_is_used_and_its_residuals_kept():
    FWD_CALLS.clear()
    FUN_CALLS.clear()
    g = tg.grad(lambda x: tnp.sum(clip_gradient(x, -1.0) * np.array([5.0, 0.5, -3.0, 1.0])))(X)
    np.testing.assert_allclose(g, [1.0, 0.5, -1.0, 1.0])
    # fwd ran once, in the forward pass (its residuals kept), in place of the function
    assert len(FWD_CALLS) == 1 and not FUN_CALLS
    # None is a zero cotangent
    glo = tg.grad(lambda lo: tnp.sum(clip_gradient(X, lo)))(-1.0)
    assert float(glo) == 0.0


def test_custom_vjp_against_differences_and_to_second_order():
    np.testing.assert_allclose(
        tg.grad(lambda x: tnp.sum(cube(x)))(X),
        tg.numerical_grad(lambda x: tnp.sum(x**3), X),
        rtol=1e-6,
        atol=1e-9,
    )
    tg.check_grads(lambda x: tnp.sum(cube(x) * x), (X,), order=2, modes=("rev",))
    np.testing.assert_allclose(tg.jacrev(cube)(X), np.diag(3 * X**2), rtol=1e-12)
    np.testing.assert_allclose(tg.jit(tg.grad(lambda x: tnp.sum(cube(x))))(X), 3 * X**2)


def test_custom_vjp_in_forward_mode_raises_naming_custom_jvp():
    for call in (
        lambda: tg.jvp(cube, (X,), (X,)),
        lambda: tg.jacfwd(cube)(X),
        lambda: tg.hessian(lambda x: tnp.sum(cube(x)))(X),
    ):
        with pytest.raises(TypeError, match="forward mode.*tg.custom_jvp"):
            call()


def test_custom_rule_errors():
    @tg.custom_vjp
    def ident(x):
        return x

    with pytest.raises(TypeError, match=r"no rule yet: define it with `ident.defvjp"):
        ident(1.0)
    ident.defvjp(lambda x: (x, None), lambda r, g: g)  # not a tuple
    with pytest.raises(TypeError, match="bwd must return a tuple with one cotangent"):
        tg.grad(ident)(1.0)

    @tg.custom_jvp
    def ident2(x):
        return x

    with pytest.raises(TypeError, match=r"define it with `ident2.defjvp"):
        ident2(1.0)


# --- pytree arguments -------------------------------------------------------------------


@tg.custom_jvp
def affine(p, x):
    return tnp.dot(p["w"], x) + p["b"]


@affine.defjvp
def _affine_jvp(primals, tangents):
    (p, x), (tp, tx) = primals, tangents
    return affine(p, x), tnp.dot(tp["w"], x) + tp["b"] + tnp.dot(p["w"], tx)


@tg.custom_vjp
def affine_v(p, x):
    return tnp.dot(p["w"], x) + p["b"]


def _affine_fwd(p, x):
    return affine_v(p, x), (p["w"], x)


def _affine_bwd(res, g):
    w, x = res
    return {"w": tnp.outer(g, x), "b": g}, tnp.dot(g, w)


affine_v.defvjp(_affine_fwd, _affine_bwd)
PA = {"w": rng.standard_normal((2, 4)), "b": rng.standard_normal(2)}


@pytest.mark.parametrize("fn", [affine, affine_v], ids=["custom_jvp", "custom_vjp"])
def test_custom_rules_on_pytree_arguments_against_differences(fn):
    def loss(p, x):
        return tnp.sum(tnp.tanh(fn(p, x)))

    got = tg.grad(loss, argnums=(0, 1))(PA, X)
    want = tg.numerical_grad(loss, PA, X, argnums=(0, 1))
    for g, w in zip(tg.tree.leaves(got), tg.tree.leaves(want)):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-9)
    if fn is affine:
        tg.check_grads(lambda x: loss(PA, x), (X,), order=2)


def test_custom_vjp_cotangent_structure_must_match_its_argument():
    @tg.custom_vjp
    def bad(p):
        return p["w"][0]

    bad.defvjp(lambda p: (p["w"][0], None), lambda r, g: ([g],))
    with pytest.raises(TypeError, match="cotangent 0 has the structure"):
        tg.grad(lambda p: tnp.sum(bad(p)))(PA)
