"""jacfwd, jacrev, jacobian and hessian on pytree arguments and outputs, against central
differences: JAX's nesting, the output structure outside, the input structure inside,
each block of shape ``out_leaf.shape + in_leaf.shape``."""

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp

rng = np.random.default_rng(3)
P = {"a": rng.standard_normal(2), "b": (np.array(0.7), rng.standard_normal((2, 2)))}
Z = rng.standard_normal(3)


def f(p, z):
    a, (s, m) = p["a"], p["b"]
    return {
        "s": tnp.sum(a**2) * s + tnp.sum(z * tnp.sin(z[0])),
        "v": (tnp.sin(a) * s, tnp.dot(m, a) + tnp.sum(z)),
    }


def numerical_jacobian(fun, args, argnums):
    """Output structure of (argnums-tuple of) input structures, by central differences
    on one output element at a time."""
    out = fun(*args)
    leaves, td = tg.tree.flatten(out)
    blocks = []
    for k, leaf in enumerate(leaves):
        shape = np.shape(leaf)
        rows = []
        for j in range(int(np.prod(shape, dtype=int))):

            def elem(*a, k=k, j=j):
                return tnp.reshape(tg.tree.leaves(fun(*a))[k], (-1,))[j]

            rows.append(tg.numerical_grad(elem, *args, argnums=argnums))
        # stack the rows leaf-wise and give them the output element's shape
        stacked = tg.tree.map(
            lambda *r, shape=shape: np.stack(r).reshape(shape + r[0].shape), *rows
        )
        blocks.append(stacked)
    return tg.tree.unflatten(td, blocks)


def assert_tree_close(got, want, rtol=1e-6, atol=1e-8):
    gl, gt = tg.tree.flatten(got)
    wl, wt = tg.tree.flatten(want)
    assert gt == wt, (gt, wt)
    for g, w in zip(gl, wl):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


@pytest.mark.parametrize("jac", [tg.jacfwd, tg.jacrev, tg.jacobian])
@pytest.mark.parametrize("argnums", [0, (0, 1)])
def test_jacobian_of_dict_and_tuple_inputs_and_outputs(jac, argnums):
    got = jac(f, argnums=argnums)(P, Z)
    want = numerical_jacobian(f, (P, Z), argnums)
    assert_tree_close(got, want)
    inner = got["s"] if argnums == 0 else got["s"][0]
    assert isinstance(got["v"], tuple) and set(inner) == {"a", "b"}


def scalar(p, z):
    a, (s, m) = p["a"], p["b"]
    return tnp.sum(a**2) * s**2 + tnp.sum(tnp.dot(m, a) * tnp.tanh(z[:2])) + tnp.sum(z**3)


def test_hessian_of_a_dict_input_against_differences_of_the_gradient():
    h = tg.hessian(scalar)(P, Z)
    # the Jacobian of the gradient, the gradient being a dict: in-structure of in-structure
    want = numerical_jacobian(lambda p: tg.grad(scalar)(p, Z), (P,), 0)
    assert_tree_close(h, want, rtol=1e-5, atol=1e-7)
    # symmetric: the ("a", "b"[1]) block is the transpose of ("b"[1], "a")
    ab, ba = h["a"]["b"][1], h["b"][1]["a"]
    np.testing.assert_allclose(ab, np.moveaxis(ba, -1, 0), rtol=1e-12)


def test_hessian_with_argnums_tuple_over_pytrees():
    h = tg.hessian(scalar, argnums=(0, 1))(P, Z)
    want = numerical_jacobian(lambda p, z: tg.grad(scalar, argnums=(0, 1))(p, z), (P, Z), (0, 1))
    assert_tree_close(h, want, rtol=1e-5, atol=1e-7)
    assert h[1][1].shape == (3, 3) and h[0]["a"][1].shape == (2, 3)
