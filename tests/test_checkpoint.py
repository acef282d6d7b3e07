"""tg.checkpoint: values and derivatives equal to the unchecked function's (to 1e-12) in
both modes and to second order, under jit and vmap; the tape holds one step per
checkpointed call, and the function is run again in the backward sweep."""

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad.core.reverse import record

rng = np.random.default_rng(11)
PARAMS = [{"w": rng.standard_normal((4, 4)) / 2, "b": rng.standard_normal(4)} for _ in range(3)]
X = rng.standard_normal((2, 4))
CALLS = []


def layer(p, h, scale=1.0):
    CALLS.append(1)
    return tnp.tanh(h @ p["w"] + p["b"]) * scale + 0.1 * tnp.sin(h)


ckpt_layer = tg.checkpoint(layer)


def net(params, x, step):
    h = x
    for p in params:
        h = step(p, h, scale=1.5)
    return tnp.sum(h**2)


def assert_trees_equal(a, b, rtol=1e-12):
    for u, v in zip(tg.tree.leaves(a), tg.tree.leaves(b)):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=1e-14)


def test_values_and_gradients_equal_the_unchecked_ones():
    assert float(net(PARAMS, X, ckpt_layer)) == float(net(PARAMS, X, layer))
    assert_trees_equal(
        tg.grad(net, argnums=(0, 1))(PARAMS, X, ckpt_layer),
        tg.grad(net, argnums=(0, 1))(PARAMS, X, layer),
    )
    t = rng.standard_normal(X.shape)
    assert_trees_equal(
        tg.jvp(lambda x: net(PARAMS, x, ckpt_layer), (X,), (t,)),
        tg.jvp(lambda x: net(PARAMS, x, layer), (X,), (t,)),
    )


def test_second_order_and_nesting():
    def scaled(s, step):
        return net([{"w": p["w"] * s, "b": p["b"]} for p in PARAMS], X, step)

    d2 = [tg.grad(tg.grad(scaled))(0.8, step) for step in (ckpt_layer, layer)]
    np.testing.assert_allclose(d2[0], d2[1], rtol=1e-12)
    h = [tg.hessian(lambda x, step=step: net(PARAMS, x, step))(X) for step in (ckpt_layer, layer)]
    np.testing.assert_allclose(h[0], h[1], rtol=1e-12, atol=1e-14)
    # a checkpoint inside a checkpoint
    outer = tg.checkpoint(lambda p, h, scale: ckpt_layer(p, ckpt_layer(p, h, scale), scale))
    g = tg.grad(lambda x: tnp.sum(outer(PARAMS[0], x, 2.0) ** 2))(X)
    want = tg.grad(lambda x: tnp.sum(layer(PARAMS[0], layer(PARAMS[0], x, 2.0), 2.0) ** 2))(X)
    np.testing.assert_allclose(g, want, rtol=1e-12)
    tg.check_grads(lambda x: net(PARAMS, x, ckpt_layer), (X,), order=2)


def test_under_jit_and_vmap():
    g = tg.jit(tg.grad(lambda ps, x: net(ps, x, ckpt_layer)))
    assert_trees_equal(g(PARAMS, X), tg.grad(net)(PARAMS, X, layer))
    assert_trees_equal(g(PARAMS, X + 1.0), tg.grad(net)(PARAMS, X + 1.0, layer))
    per_example = tg.vmap(tg.grad(lambda x: net(PARAMS, x, ckpt_layer)))(X)
    np.testing.assert_allclose(per_example, tg.grad(net, argnums=1)(PARAMS, X, layer), rtol=1e-12)


def test_the_tape_keeps_one_step_per_call_and_the_backward_sweep_recomputes():
    leaves, td = tg.tree.flatten(PARAMS[0])

    def tape_len(step):
        fn = lambda *ls: [step(tg.tree.unflatten(td, list(ls[:-1])), ls[-1])]  # noqa: E731
        return len(record(fn, [*leaves, X])[2].tape)

    n_inputs = len(leaves) + 1
    assert tape_len(ckpt_layer) == n_inputs + 1
    assert tape_len(layer) > n_inputs + 4
    CALLS.clear()
    tg.grad(net)(PARAMS, X, ckpt_layer)
    assert len(CALLS) == 2 * len(PARAMS)  # the forward pass, then once more backwards


def test_an_untraced_call_runs_the_function_and_a_pytree_output_is_refused():
    np.testing.assert_allclose(ckpt_layer(PARAMS[0], X), layer(PARAMS[0], X))
    pair = tg.checkpoint(lambda x: (x, x))
    with pytest.raises(TypeError, match="must return one array"):
        tg.grad(lambda x: tnp.sum(pair(x)[0]))(X)
