"""tg.vmap: values against a Python loop, in_axes/out_axes as JAX reads them, its errors,
and composition with grad, jvp, vjp, jit, the Jacobians and itself in any order."""

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp

rng = np.random.default_rng(0)
XS = rng.standard_normal((5, 3))
W = rng.standard_normal((3, 2))


def loop(f, *args, axes=None):
    axes = axes or (0,) * len(args)
    n = next(np.shape(a)[ax] for a, ax in zip(args, axes) if ax is not None)
    outs = []
    for b in range(n):
        outs.append(f(*[a if ax is None else np.take(a, b, axis=ax) for a, ax in zip(args, axes)]))
    return np.stack(outs)


def layer(x, w):
    return tnp.tanh(tnp.dot(x, w)) * tnp.exp(-x[0])


def test_values_equal_a_loop_for_int_and_none_axes():
    got = tg.vmap(layer, in_axes=(0, None))(XS, W)
    np.testing.assert_allclose(got, loop(layer, XS, W, axes=(0, None)), rtol=1e-12)
    ws = rng.standard_normal((5, 3, 2))
    got = tg.vmap(layer)(XS, ws)
    np.testing.assert_allclose(got, loop(layer, XS, ws), rtol=1e-12)
    got = tg.vmap(layer, in_axes=(1, None))(XS.T, W)  # batch on the last axis
    np.testing.assert_allclose(got, loop(layer, XS, W, axes=(0, None)), rtol=1e-12)
    got = tg.vmap(layer, in_axes=(-1, None))(XS.T, W)
    np.testing.assert_allclose(got, loop(layer, XS, W, axes=(0, None)), rtol=1e-12)


def test_out_axes_moves_the_batch_axis_and_none_returns_an_unbatched_output():
    got = tg.vmap(layer, in_axes=(0, None), out_axes=1)(XS, W)
    np.testing.assert_allclose(got, loop(layer, XS, W, axes=(0, None)).T, rtol=1e-12)
    got = tg.vmap(layer, in_axes=(0, None), out_axes=-1)(XS, W)
    assert got.shape == (2, 5)
    pair = tg.vmap(lambda x, w: (tnp.sin(x), w * 2.0), in_axes=(0, None), out_axes=(0, None))
    s, w2 = pair(XS, W)
    np.testing.assert_allclose(s, np.sin(XS))
    np.testing.assert_allclose(w2, W * 2.0)


def test_pytree_prefixes_of_the_arguments_and_outputs():
    params = {"w": W, "b": rng.standard_normal(2)}

    def f(p, x):
        return {"y": tnp.dot(x, p["w"]) + p["b"], "n": tnp.sum(x**2)}

    want_y = XS @ W + params["b"]
    for axes in ((None, 0), ({"w": None, "b": None}, 0)):
        out = tg.vmap(f, in_axes=axes)(params, XS)
        np.testing.assert_allclose(out["y"], want_y, rtol=1e-12)
        np.testing.assert_allclose(out["n"], (XS**2).sum(1), rtol=1e-12)
    bs = rng.standard_normal((5, 2))
    out = tg.vmap(f, in_axes=({"w": None, "b": 0}, 0), out_axes={"y": 1, "n": 0})(
        {"w": W, "b": bs}, XS
    )
    np.testing.assert_allclose(out["y"], (XS @ W + bs).T, rtol=1e-12)
    # a tuple argument, one axis for each entry
    out = tg.vmap(lambda xw: tnp.dot(xw[0], xw[1]), in_axes=((0, None),))((XS, W))
    np.testing.assert_allclose(out, XS @ W, rtol=1e-12)


def test_batch_sizes_must_agree_and_the_error_names_them():
    with pytest.raises(ValueError, match=r"argument 0 has size 5, argument 1\['b'\] has size 4"):
        tg.vmap(lambda x, d: x * tnp.sum(d["b"]))(XS, {"b": np.ones((4, 2))})


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: tg.vmap(tnp.sin)(1.5), "argument 0 is a scalar"),
        (lambda: tg.vmap(tnp.sin, in_axes=None)(XS), "no argument is batched"),
        (lambda: tg.vmap(tnp.sin, in_axes=2)(XS), "in_axes 2 is out of range"),
        (lambda: tg.vmap(layer, in_axes=(0,))(XS, W), "in_axes has 1 entries"),
        (lambda: tg.vmap(tnp.sin, out_axes=None)(XS), "out_axes is None for the output"),
        (lambda: tg.vmap(lambda d: d["a"], in_axes=({"b": 0},))({"a": XS}), "not a prefix"),
        (lambda: tg.vmap(tnp.sin, in_axes=("0",))(XS), "in_axes must be an int, None"),
        (lambda: tg.vmap(layer)(XS, w=W), "pass the arguments positionally"),
    ],
)
def test_bad_axes_raise_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def loss(w, x):
    return tnp.sum(tnp.tanh(tnp.dot(x, w)) ** 2)


def test_vmap_of_grad_gives_per_example_gradients():
    got = tg.vmap(tg.grad(loss), in_axes=(None, 0))(W, XS)
    want = np.stack([tg.grad(loss)(W, x) for x in XS])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_grad_of_vmap_against_finite_differences():
    def total(w):
        return tnp.sum(tg.vmap(loss, in_axes=(None, 0))(w, XS))

    np.testing.assert_allclose(tg.grad(total)(W), tg.numerical_grad(total, W), rtol=1e-6)
    # forward mode through the batch too
    v = rng.standard_normal(W.shape)
    _, t = tg.jvp(total, (W,), (v,))
    np.testing.assert_allclose(t, np.sum(tg.numerical_grad(total, W) * v), rtol=1e-6)


def test_jit_of_vmap_and_vmap_of_jit():
    f = tg.vmap(layer, in_axes=(0, None))
    want = loop(layer, XS, W, axes=(0, None))
    jf = tg.jit(f)
    np.testing.assert_allclose(jf(XS, W), want, rtol=1e-12)
    np.testing.assert_allclose(jf(XS + 1.0, W), loop(layer, XS + 1.0, W, axes=(0, None)))
    np.testing.assert_allclose(tg.vmap(tg.jit(layer), in_axes=(0, None))(XS, W), want)


def test_vmap_of_jvp_vjp_and_jacobians():
    ts = rng.standard_normal(XS.shape)
    got = tg.vmap(lambda x, t: tg.jvp(tnp.sin, (x,), (t,))[1])(XS, ts)
    np.testing.assert_allclose(got, np.cos(XS) * ts, rtol=1e-12)
    got = tg.vmap(lambda x, g: tg.vjp(tnp.sin, x)[1](g)[0])(XS, ts)
    np.testing.assert_allclose(got, np.cos(XS) * ts, rtol=1e-12)
    jac = tg.vmap(tg.jacrev(lambda x: tnp.sin(x) * tnp.sum(x)))(XS)
    want = np.stack([tg.jacfwd(lambda x: tnp.sin(x) * tnp.sum(x))(x) for x in XS])
    np.testing.assert_allclose(jac, want, rtol=1e-12)
    hess = tg.vmap(tg.hessian(lambda x: tnp.sum(tnp.sin(x) ** 3)))(XS)
    assert hess.shape == (5, 3, 3)
    np.testing.assert_allclose(hess[2], tg.hessian(lambda x: tnp.sum(tnp.sin(x) ** 3))(XS[2]))
    # the Jacobian of a vmap: block diagonal
    j = tg.jacfwd(tg.vmap(tnp.sin))(XS[:, 0])
    np.testing.assert_allclose(j, np.diag(np.cos(XS[:, 0])), rtol=1e-12)


def test_vmap_of_vmap():
    m = rng.standard_normal((4, 5, 3))
    got = tg.vmap(tg.vmap(lambda x: tnp.sum(x * tnp.sin(x))))(m)
    np.testing.assert_allclose(got, np.sum(m * np.sin(m), axis=-1), rtol=1e-12)
    got = tg.vmap(tg.vmap(tnp.dot, in_axes=(0, None)), in_axes=(None, 1))(XS, W)
    np.testing.assert_allclose(got, (XS @ W).T, rtol=1e-12)


def test_a_primitive_without_a_batch_rule_runs_once_per_example():
    calls = []

    @tg.primitive
    def cube(x):
        calls.append(np.shape(x))
        return x**3

    tg.defvjp(cube, lambda g, out, x: g * 3 * x**2)
    got = tg.vmap(tg.grad(lambda x: tnp.sum(cube(x))))(XS)
    np.testing.assert_allclose(got, 3 * XS**2, rtol=1e-12)
    assert (3,) in calls and (5, 3) not in calls


def test_functions_that_read_batched_values_run_per_example():
    # relu's and abs's derivative masks read the primal value: the batched pass would see
    # the whole stack, so vmap loops instead (checked against the loop, with ties at 0)
    xs = XS.copy()
    xs[1, 1] = 0.0

    def f(x):
        return tnp.sum(tnp.relu(x) * tnp.abs(x - 0.5) + tnp.maximum(x, 0.1))

    got = tg.vmap(tg.grad(f))(xs)
    np.testing.assert_allclose(got, np.stack([tg.grad(f)(x) for x in xs]), rtol=1e-12)
    # a comparison operator on a batched value: each example masked by its own values
    got = tg.vmap(lambda x, y: tnp.where(x > y, x, 2.0 * y))(XS, XS[::-1])
    np.testing.assert_allclose(got, np.where(XS > XS[::-1], XS, 2.0 * XS[::-1]))
    got = tg.vmap(lambda x: tnp.where(0.2 <= x, x, 0.0))(XS)
    np.testing.assert_allclose(got, np.where(XS >= 0.2, XS, 0.0))
    got = tg.vmap(lambda x: x * x.item())(XS[:, 0])
    np.testing.assert_allclose(got, XS[:, 0] ** 2)
    # and *_like take one example's shape
    got = tg.vmap(lambda x: x + tnp.ones_like(x))(XS)
    np.testing.assert_allclose(got, XS + 1.0)


def test_functions_without_a_derivative_see_one_example():
    # tnp.sign, argmax and a comparison under grad strip their boxes (no derivative): the
    # whole stack would leak into each example (the sum of signs over every row)
    xs = np.array([[1.0, 2.0], [-3.0, 4.0], [-1.0, -2.0]])
    got = tg.vmap(lambda v: tnp.sum(tnp.sign(v)) * v)(xs)
    np.testing.assert_allclose(got, np.stack([np.sum(np.sign(r)) * r for r in xs]))
    got = tg.vmap(lambda v: v[tnp.argmax(v)] * v)(xs)
    np.testing.assert_allclose(got, np.stack([r[np.argmax(r)] * r for r in xs]))

    def f(v):
        return tnp.sum(tnp.where(v > 0, v, 0.0) ** 2) * tnp.sum(tnp.greater(v, 0))

    got = tg.vmap(tg.grad(f))(xs)
    np.testing.assert_allclose(got, np.stack([tg.grad(f)(r) for r in xs]), rtol=1e-12)


def test_per_example_gradients_of_an_mlp_match_a_loop():
    model = tg.nn.MLP([3, 4, 1], "relu", rng=0)

    def example_loss(m, x):
        return tnp.sum(m(x[None, :]) ** 2)

    got = tg.vmap(tg.grad(example_loss), in_axes=(None, 0))(model, XS)
    for b in range(len(XS)):
        want = tg.grad(example_loss)(model, XS[b])
        for g, w in zip(tg.tree.leaves(got), tg.tree.leaves(want)):
            np.testing.assert_allclose(g[b], w, rtol=1e-10, atol=1e-14)
