"""Long chains (no recursion) and the lifetime of recorded graphs."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp

N_CHAIN = 100_000


def _chain(x):
    # x_{k+1} = x_k + 1e-5 sin(x_k): 200,000 recorded steps, and a derivative that
    # neither vanishes nor overflows, so comparing it is not vacuous
    for _ in range(N_CHAIN):
        x = x + tnp.sin(x) * 1e-5
    return x


def _chain_reference(x: float) -> tuple[float, float]:
    d = 1.0
    for _ in range(N_CHAIN):
        d *= 1.0 + 1e-5 * np.cos(x)
        x = x + np.sin(x) * 1e-5
    return x, d


@pytest.fixture(scope="module")
def chain_reference():
    return _chain_reference(0.3)


def test_long_chain_reverse_mode(chain_reference):
    value, deriv = chain_reference
    v, g = tg.value_and_grad(_chain)(0.3)
    assert float(v) == pytest.approx(value, rel=1e-12)
    assert 0.1 < abs(deriv) < 10.0
    assert float(g) == pytest.approx(deriv, rel=1e-9)


def test_long_chain_forward_mode(chain_reference):
    value, deriv = chain_reference
    v, t = tg.jvp(_chain, (0.3,), (1.0,))
    assert float(v) == pytest.approx(value, rel=1e-12)
    assert float(t) == pytest.approx(deriv, rel=1e-9)


def test_long_chain_with_a_long_fan_in():
    # a sum of 20,000 terms built one + at a time: deep in the other direction
    def f(x):
        acc = x * 0.0
        for k in range(20_000):
            acc = acc + x * float(k % 3)
        return acc

    assert float(tg.grad(f)(1.0)) == pytest.approx(float(sum(k % 3 for k in range(20_000))))


# --- what the tape keeps alive ------------------------------------------------------


def _tracked_primitive():
    """A primitive whose every output is remembered by weak reference only."""
    refs: list[weakref.ref] = []

    @tg.primitive
    def scale(x):
        out = np.array(x, dtype=float) * 2.0  # a fresh array per call
        refs.append(weakref.ref(out))
        return out

    tg.defvjp(scale, lambda g, out, x: g * 2.0)
    tg.defjvp(scale, lambda t, out, x: t * 2.0)
    return scale, refs


def test_grad_releases_the_recorded_graph():
    scale, refs = _tracked_primitive()
    g = tg.grad(lambda x: tnp.sum(tnp.sin(scale(x))))(np.ones(1000))
    np.testing.assert_allclose(g, 2.0 * np.cos(2.0))
    assert refs and all(r() is None for r in refs)  # freed by reference counting alone


def test_grad_releases_the_graph_after_an_exception():
    scale, refs = _tracked_primitive()

    def f(x):
        scale(x)
        raise KeyError("fail after recording")

    with pytest.raises(KeyError):
        tg.grad(f)(np.ones(10))
    gc.collect()  # the traceback holds frames until it is dropped
    assert refs and all(r() is None for r in refs)


def test_vjp_fn_keeps_graph_alive_until_dropped():
    scale, refs = _tracked_primitive()
    out, vjp_fn = tg.vjp(lambda x: tnp.sin(scale(x)), np.ones(5))
    assert all(r() is not None for r in refs)  # the tape needs them for the sweep
    (ct,) = vjp_fn(np.ones(5))
    np.testing.assert_allclose(ct, 2.0 * np.cos(2.0))
    del vjp_fn
    assert all(r() is None for r in refs)


def test_jvp_keeps_nothing():
    scale, refs = _tracked_primitive()
    tg.jvp(lambda x: tnp.sum(tnp.sin(scale(x))), (np.ones(5),), (np.ones(5),))
    assert refs and all(r() is None for r in refs)


def test_memory_returns_to_baseline_after_grad():
    x = np.random.default_rng(0).standard_normal(20_000)  # 160 kB per intermediate

    def f(x):
        for _ in range(50):  # about 100 recorded intermediates: ~16 MB on the tape
            x = tnp.tanh(x) * 1.01
        return tnp.sum(x)

    tg.grad(f)(x)  # warm up caches and lazy imports
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        g = tg.grad(f)(x)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base > 8_000_000  # the tape really was that big...
    assert current - base < 1_000_000  # ...and only the gradient (160 kB) is left
    assert g.shape == x.shape
