"""Optimisers against written-out recursions: seed 000's momentum rule, PyTorch's
convention, Nesterov, Adam, schedules; purity and dtypes."""

import numpy as np
import pytest

import tracegrad as tg

optim = tg.optim

A = np.array([[3.0, 0.5], [0.5, 1.0]])
W0 = np.array([1.0, -2.0])


def grad_fn(w):
    return A @ w + np.sin(w)  # a gradient that changes along the path


def run(opt, steps=12, w0=W0):
    params, state, path = {"w": w0.copy()}, None, []
    state = opt.init(params)
    for _ in range(steps):
        params, state = opt.update(params, {"w": grad_fn(params["w"])}, state)
        path.append(params["w"])
    return path, state


def test_plain_sgd():
    path, _ = run(optim.SGD(lr=0.1), steps=3)
    w = W0.copy()
    for p in path:
        w = w - 0.1 * grad_fn(w)
        np.testing.assert_allclose(p, w, rtol=0, atol=1e-15)


def test_sgd_momentum_is_seed000_rule_step_for_step():
    eta, alpha = 0.05, 0.9
    path, state = run(optim.SGD(lr=eta, momentum=alpha))
    w, dW = W0.copy(), np.zeros(2)  # zero initial velocity
    for p in path:
        dW = eta * grad_fn(w) + alpha * dW  # ΔW(t) = η·∇L + α·ΔW(t−1)
        w = w - dW
        np.testing.assert_allclose(p, w, rtol=0, atol=1e-14)
    np.testing.assert_allclose(state.velocity["w"], dW, rtol=0, atol=1e-14)
    assert state.step == 12


def _torch_sgd(lrs, mu, nesterov=False):
    """PyTorch's SGD (dampening 0) written out: b = μb + g; w −= γ_t (g + μb or b)."""
    w, b, path = W0.copy(), None, []
    for lr in lrs:
        g = grad_fn(w)
        b = g.copy() if b is None else mu * b + g
        w = w - lr * ((g + mu * b) if nesterov else b)
        path.append(w)
    return path


def test_momentum_equals_pytorch_convention_for_constant_rate():
    path, _ = run(optim.SGD(lr=0.05, momentum=0.8))
    for p, q in zip(path, _torch_sgd([0.05] * 12, 0.8)):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)


def test_nesterov_equals_pytorch_for_constant_rate_and_written_out_rule():
    eta, alpha = 0.05, 0.8
    path, _ = run(optim.SGD(lr=eta, momentum=alpha, nesterov=True))
    for p, q in zip(path, _torch_sgd([eta] * 12, alpha, nesterov=True)):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)
    w, dW = W0.copy(), np.zeros(2)
    for p in path:
        g = grad_fn(w)
        dW = eta * g + alpha * dW
        w = w - (eta * g + alpha * dW)
        np.testing.assert_allclose(p, w, rtol=0, atol=1e-14)


def test_momentum_differs_from_pytorch_under_a_schedule():
    sched = optim.step_decay(0.1, step_size=3, gamma=0.5)
    lrs = [sched(t) for t in range(12)]
    path, _ = run(optim.SGD(lr=sched, momentum=0.9))
    # ours: each gradient keeps the rate of its own step
    w, dW = W0.copy(), np.zeros(2)
    for t, p in enumerate(path):
        dW = lrs[t] * grad_fn(w) + 0.9 * dW
        w = w - dW
        np.testing.assert_allclose(p, w, rtol=0, atol=1e-14)
    torch_path = _torch_sgd(lrs, 0.9)
    np.testing.assert_allclose(path[2], torch_path[2], rtol=1e-12)  # same until the rate changes
    assert np.abs(path[-1] - torch_path[-1]).max() > 1e-3


def test_adam_written_out():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    path, state = run(optim.Adam(lr=lr))
    w, m, v = W0.copy(), np.zeros(2), np.zeros(2)
    for t, p in enumerate(path, start=1):
        g = grad_fn(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(p, w, rtol=0, atol=1e-14)
    assert state.step == 12


def test_update_is_pure_and_works_on_modules():
    model = tg.nn.MLP([2, 3, 1], "tanh", rng=0)
    before = [p.copy() for p in model.parameters()]
    grads = tg.tree.map(np.ones_like, model)
    for opt in (optim.SGD(0.1, momentum=0.5), optim.Adam(0.1)):
        state = opt.init(model)
        new, state2 = opt.update(model, grads, state)
        assert type(new) is tg.nn.MLP and state2.step == 1 and state.step == 0
        for p, q in zip(model.parameters(), before):
            np.testing.assert_array_equal(p, q)
        assert not np.allclose(new.parameters()[0], before[0])


def test_float32_state_and_params_stay_float32():
    params = {"w": np.ones(3, np.float32)}
    g = {"w": np.full(3, 0.5, np.float32)}
    for opt in (optim.SGD(0.1, momentum=0.9, nesterov=True), optim.Adam(1e-2), optim.SGD(0.1)):
        state = opt.init(params)
        p, state = opt.update(params, g, state)
        assert p["w"].dtype == np.float32
        assert all(x.dtype == np.float32 for x in tg.tree.leaves(state) if hasattr(x, "dtype"))


def test_schedules():
    assert optim.constant(0.3)(100) == 0.3
    assert [optim.step_decay(1.0, 2, 0.5)(t) for t in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    np.testing.assert_allclose(optim.exponential_decay(1.0, 0.9)(3), 0.729)
    np.testing.assert_allclose(optim.inverse_time_decay(1.0, 0.5)(2), 0.5)
    cos = optim.cosine_decay(1.0, total_steps=10, final_lr=0.1)
    np.testing.assert_allclose([cos(0), cos(5), cos(10), cos(20)], [1.0, 0.55, 0.1, 0.1])
    assert optim.SGD(lambda t: 1.0 / (t + 1)).learning_rate(3) == 0.25


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="momentum must be in"):
        optim.SGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(0.1, nesterov=True)
    with pytest.raises(ValueError, match="lr must be positive"):
        optim.Adam(lr=0.0)
