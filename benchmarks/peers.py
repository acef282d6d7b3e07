"""The workloads of issues 6 and 12, written once per library.

Each builder returns a :class:`Case`: ``run`` is the call that is timed, ``numbers`` gives
what the library computed (as NumPy arrays) so that the runner can check that every library
computed the same thing. Peers (micrograd, autograd, PyTorch, JAX) are imported lazily,
inside their builders, so this module imports with NumPy and tracegrad alone (the smoke
test uses only the hand-written and tracegrad builders).

Workloads (sizes are parameters, so the smoke test can run them tiny):

- W1: value and derivative of a scalar chain of 7-op blocks (sin, mul, exp, add, log,
  sqrt, add; the input ``x`` is reused in every block).
- W2: one SGD step (forward, backward, update, lr 0.01) of a tanh MLP 64-256-256-10 with
  softmax cross-entropy + λ·Σ‖W‖² (λ = 1e-4, weights only) on the standardised digits data.
- W3: Jacobian of ``f(x) = tanh(W x)``, ``W`` fixed ``m × n``, by jacfwd and by jacrev.
- W4: ``f(x) = ½ xᵀA x + Σ tanh(xᵢ)²`` with a dense symmetric ``A``: Hessian-vector
  product (forward over reverse) and full Hessian.
- Untraced: ``tracegrad.numpy.f(x)`` against ``numpy.f(x)`` with no transformation active.

Issue 12 measures the code a user writes, operation by operation, eagerly and under
``tg.jit`` (the ``*u`` builders and the ``W1U``…``W4U`` registries):

- W1U: the W1 chain with a 0-d array input (``np.array(0.3)``) besides a Python float,
  eager and as ``tg.jit(value_and_grad(chain))``.
- W2U: the W2 step with the loss written op by op (``logsumexp(z, axis=1) - sum(Y * z,
  axis=1)``, its mean, ``LAM * sum(W * W)`` per weight) and the step ``value_and_grad`` +
  ``[p - lr * g]``, eager and under ``tg.jit`` as under ``jax.jit``.
- W3U: Jacobians of ``f(x) = tanh(A x) * (B x)``, eager and under ``tg.jit``.
- W4U: W4's hvp and Hessian under ``tg.jit``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import tracegrad as tg
import tracegrad.numpy as tnp

HAND = "hand-written"
TG = "tracegrad"
TG_NN = "tracegrad (tg.nn)"  # W2 written with tracegrad's layers, loss and penalty
TG_JIT = "tracegrad (tg.jit)"  # the same W2 step, with tg.optim's update, under tg.jit
TG_0D = "tracegrad (0-d)"  # W1U: eager, input np.array(0.3) instead of a float
TG_JIT_0D = "tracegrad (tg.jit, 0-d)"  # W1U: compiled, input np.array(0.3)
FORWARD = "forward"  # W2U: the NumPy loss alone, the denominator of time(step)/time(forward)
OURS = (HAND, TG, TG_NN, TG_JIT, TG_0D, TG_JIT_0D, FORWARD)  # always run; failing is an error
MICROGRAD = "micrograd"
AUTOGRAD = "autograd"
TORCH = "torch"
JAX = "jax"
PEERS = (MICROGRAD, AUTOGRAD, TORCH, JAX)

BLOCK = 7  # operations per block of the W1 chain
LR = 0.01  # W2 learning rate
LAM = 1e-4  # W2 L2 penalty on the weights (never the biases)
SIZES = (64, 256, 256, 10)  # W2 layer widths


@dataclass
class Case:
    """One library's implementation of one workload at one size."""

    run: Callable[[], Any]
    """The timed call (for JAX it blocks until the result is ready)."""
    numbers: Callable[[], list[np.ndarray]]
    """What the library computes, as NumPy arrays, for the cross-library check."""
    note: str = ""


def _arrays(*xs: Any) -> list[np.ndarray]:
    """Torch tensors, JAX arrays, NumPy scalars and floats as NumPy arrays."""
    out = []
    for x in xs:
        if hasattr(x, "detach"):  # torch
            x = x.detach().cpu().numpy()
        out.append(np.asarray(x))
    return out


def _same_calls(fn: Callable[[], Any], to_numbers: Callable[[Any], Sequence[Any]]) -> Case:
    """A case whose timed call is also the one whose result is checked."""
    return Case(run=fn, numbers=lambda: _arrays(*to_numbers(fn())))


# --- lazy peers ---------------------------------------------------------------------


def torch_module(threads: int | None = None) -> Any:
    """PyTorch, with its intra- and inter-op thread pools pinned on first use."""
    import torch

    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
        try:  # only allowed before the first parallel work; harmless to skip afterwards
            torch.set_num_interop_threads(threads)
        except RuntimeError:
            pass
    return torch


def jax_module() -> Any:
    """JAX with float64 enabled (W1, W2 and W4 run in float64 for every library)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


# --- W1: the scalar chain -------------------------------------------------------------


def chain(x: Any, n_blocks: int, sin: Callable, exp: Callable, log: Callable, sqrt: Callable):
    """``n_blocks`` blocks of 7 ops, written once for every library's scalar type."""
    y = x
    for _ in range(n_blocks):
        a = sin(y)
        b = a * x
        c = exp(b)
        d = c + 1.0
        e = log(d)
        f = sqrt(e)
        y = f + x
    return y


def chain_by_hand(x: float, n_blocks: int) -> tuple[float, float]:
    """Value and derivative of :func:`chain`: Python floats, the math module, a
    hand-written tape and reverse sweep (the floor)."""
    tape = []
    y = x
    for _ in range(n_blocks):
        a = math.sin(y)
        c = math.exp(a * x)
        d = c + 1.0
        f = math.sqrt(math.log(d))
        tape.append((y, a, c, d, f))
        y = f + x
    gy, gx = 1.0, 0.0
    for y_in, a, c, d, f in reversed(tape):
        gx += gy  # y = f + x
        gb = gy / (2.0 * f) / d * c  # through sqrt, log, +1, exp
        gx += gb * a  # b = a * x
        gy = gb * x * math.cos(y_in)  # a = sin(y)
    return y, gx + gy


def w1_hand(n_blocks: int, x: float = 0.3) -> Case:
    return _same_calls(lambda: chain_by_hand(x, n_blocks), lambda r: r)


def w1_tracegrad(n_blocks: int, x: Any = 0.3) -> Case:
    vg = tg.value_and_grad(lambda z: chain(z, n_blocks, tnp.sin, tnp.exp, tnp.log, tnp.sqrt))
    return _same_calls(lambda: vg(x), lambda r: r)


def _micrograd_ops() -> tuple[Callable, Callable, Callable, Callable]:
    """sin, exp and log for micrograd's ``Value`` (the PyPI package has only +, *, ** and
    relu), written the way micrograd writes its own ops: a node plus a ``_backward``
    closure. sqrt is micrograd's own ``v ** 0.5``."""
    from micrograd.engine import Value

    def unary(fn: Callable[[float], float], dfn: Callable[[float], float], op: str):
        def apply(v: Value) -> Value:
            out = Value(fn(v.data), (v,), op)

            def _backward() -> None:
                v.grad += dfn(v.data) * out.grad

            out._backward = _backward
            return out

        return apply

    sin = unary(math.sin, math.cos, "sin")
    exp = unary(math.exp, math.exp, "exp")
    log = unary(math.log, lambda t: 1.0 / t, "log")
    return sin, exp, log, lambda v: v**0.5


def w1_micrograd(n_blocks: int, x: float = 0.3) -> Case:
    from micrograd.engine import Value

    sin, exp, log, sqrt = _micrograd_ops()
    # micrograd sorts the graph with a recursive DFS, one frame per node along the chain
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20 * BLOCK * n_blocks + 1000))

    def run() -> tuple[float, float]:
        xv = Value(x)
        y = chain(xv, n_blocks, sin, exp, log, sqrt)
        y.backward()
        return y.data, xv.grad

    return _same_calls(run, lambda r: r)


def w1_autograd(n_blocks: int, x: float = 0.3) -> Case:
    import autograd
    import autograd.numpy as anp

    vg = autograd.value_and_grad(lambda z: chain(z, n_blocks, anp.sin, anp.exp, anp.log, anp.sqrt))
    return _same_calls(lambda: vg(x), lambda r: r)


def w1_torch(n_blocks: int, x: float = 0.3) -> Case:
    torch = torch_module()

    def run() -> tuple[Any, Any]:
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        y = chain(xt, n_blocks, torch.sin, torch.exp, torch.log, torch.sqrt)
        y.backward()
        return y.detach(), xt.grad

    return _same_calls(run, lambda r: r)


def w1_jax(n_blocks: int, x: float = 0.3) -> Case:
    jax = jax_module()
    jnp = jax.numpy
    vg = jax.jit(
        jax.value_and_grad(lambda z: chain(z, n_blocks, jnp.sin, jnp.exp, jnp.log, jnp.sqrt))
    )
    xj = jnp.asarray(x, dtype=jnp.float64)
    return _same_calls(lambda: jax.block_until_ready(vg(xj)), lambda r: r)


# --- W2: one SGD step of the MLP ------------------------------------------------------


def digits(dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (1797 × 64), standardised, with one-hot targets."""
    from sklearn.datasets import load_digits

    data = load_digits()
    X = data.data.astype(np.float64)
    std = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)  # some pixels are always 0
    Y = np.eye(10)[data.target]
    return X.astype(dtype), Y.astype(dtype)


def mlp_init(dtype: Any = np.float64, sizes: Sequence[int] = SIZES, seed: int = 0):
    """``[W1, b1, W2, b2, W3, b3]``, Gaussian weights scaled by 1/√fan-in, zero biases."""
    rng = np.random.default_rng(seed)
    params = []
    for m, n in zip(sizes[:-1], sizes[1:]):
        params += [(rng.standard_normal((m, n)) / np.sqrt(m)).astype(dtype), np.zeros(n, dtype)]
    return params


def mlp_forward_numpy(params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray):
    """The loss alone, in NumPy: the denominator of time(value_and_grad) / time(forward)."""
    W1, b1, W2, b2, W3, b3 = params
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    l2 = np.sum(W1 * W1) + np.sum(W2 * W2) + np.sum(W3 * W3)
    return -np.sum(Y * logp) / X.shape[0] + LAM * l2


def value_and_grad_by_hand(params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray):
    """The loss and its gradient ``[dW1, db1, dW2, db2, dW3, db3]`` with backpropagation
    written out in NumPy (the floor)."""
    W1, b1, W2, b2, W3, b3 = params
    n = X.shape[0]
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    l2 = np.sum(W1 * W1) + np.sum(W2 * W2) + np.sum(W3 * W3)
    loss = -np.sum(Y * (z - np.log(s))) / n + LAM * l2
    d3 = (e / s - Y) / n
    d2 = (d3 @ W3.T) * (1 - h2 * h2)
    d1 = (d2 @ W2.T) * (1 - h1 * h1)
    grads = [
        X.T @ d1 + 2 * LAM * W1,
        d1.sum(axis=0),
        h1.T @ d2 + 2 * LAM * W2,
        d2.sum(axis=0),
        h2.T @ d3 + 2 * LAM * W3,
        d3.sum(axis=0),
    ]
    return loss, grads


def sgd_step_by_hand(params: list[np.ndarray], X: np.ndarray, Y: np.ndarray):
    """One SGD step by hand; updates ``params`` in place and returns the loss before it."""
    loss, grads = value_and_grad_by_hand(params, X, Y)
    for p, g in zip(params, grads):
        p -= LR * g
    return loss


def mlp_loss(params: Sequence[Any], X: Any, Y: Any, np_like: Any = tnp):
    """The loss as a user writes it with a NumPy-like module (tracegrad.numpy or
    autograd.numpy); ``log_softmax`` is taken from the module when it has one."""
    W1, b1, W2, b2, W3, b3 = params
    h1 = np_like.tanh(X @ W1 + b1)
    h2 = np_like.tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    if hasattr(np_like, "log_softmax"):
        logp = np_like.log_softmax(z, axis=1)
    else:  # autograd.numpy
        from autograd.scipy.special import logsumexp

        logp = z - logsumexp(z, axis=1, keepdims=True)
    l2 = np_like.sum(W1 * W1) + np_like.sum(W2 * W2) + np_like.sum(W3 * W3)
    return -np_like.sum(Y * logp) / X.shape[0] + LAM * l2


def _sgd_case(
    step: Callable[[Any], Any], fresh: Callable[[], Any], delta: Callable[[Any], list]
) -> Case:
    """A W2 case: ``step(state)`` does one step and returns ``(loss, state)``.

    Timing keeps stepping one state (the parameters drift a little, which does not change
    the cost). The check starts from the common initial parameters and returns the loss
    and ``(p_before - p_after) / lr`` (the gradient each library applied)."""
    holder = {"state": fresh()}

    def run() -> Any:
        loss, holder["state"] = step(holder["state"])
        return loss

    def numbers() -> list[np.ndarray]:
        before = delta(fresh())
        loss, after = step(fresh())
        return _arrays(loss) + [(b - a) / LR for b, a in zip(before, delta(after))]

    return Case(run=run, numbers=numbers)


def w2_hand(batch: int, dtype: Any = np.float64) -> Case:
    X, Y = digits(dtype)
    X, Y = X[:batch].copy(), Y[:batch].copy()

    def step(params: list[np.ndarray]):
        return sgd_step_by_hand(params, X, Y), params

    return _sgd_case(step, lambda: mlp_init(dtype), lambda p: [q.copy() for q in p])


def _numpy_like_sgd(vg: Callable, X: np.ndarray, Y: np.ndarray, dtype: Any) -> Case:
    """The step for libraries whose gradients are NumPy arrays: the same in-place update
    as the hand-written floor, so only the differentiation differs."""

    def step(params: list[np.ndarray]):
        loss, grads = vg(params, X, Y)
        for p, g in zip(params, grads):
            p -= LR * g
        return loss, params

    return _sgd_case(step, lambda: mlp_init(dtype), lambda p: [q.copy() for q in p])


def w2_tracegrad(batch: int, dtype: Any = np.float64) -> Case:
    X, Y = digits(dtype)
    return _numpy_like_sgd(tg.value_and_grad(mlp_loss), X[:batch].copy(), Y[:batch].copy(), dtype)


def mlp_model(dtype: Any = np.float64) -> tg.nn.MLP:
    """The W2 network as a ``tg.nn.MLP`` holding :func:`mlp_init`'s parameters."""
    model = tg.nn.MLP(SIZES, "tanh", dtype=dtype)
    p = mlp_init(dtype)
    layers = [tg.nn.Linear.from_arrays(p[i], p[i + 1]) for i in range(0, len(p), 2)]
    return model.replace(layers=layers)


def mlp_model_loss(model: tg.nn.MLP, X: np.ndarray, labels: np.ndarray) -> Any:
    """The W2 loss as a user of ``tg.nn`` writes it (``l2_penalty`` is (λ/2)‖W‖²)."""
    return tg.nn.cross_entropy(model(X), labels) + tg.nn.l2_penalty(model, 2 * LAM)


def w2_tracegrad_nn(batch: int, dtype: Any = np.float64) -> Case:
    """W2 with tracegrad's layers, loss and penalty (fused steps), updated in place."""
    X, Y = digits(dtype)
    X, labels = X[:batch].copy(), Y[:batch].argmax(axis=1)
    vg = tg.value_and_grad(mlp_model_loss)

    def step(model: tg.nn.MLP):
        loss, grads = vg(model, X, labels)
        for p, g in zip(model.parameters(), grads.parameters()):
            p -= LR * g
        return loss, model

    return _sgd_case(step, lambda: mlp_model(dtype), lambda m: [q.copy() for q in m.parameters()])


def w2_tracegrad_jit(batch: int, dtype: Any = np.float64) -> Case:
    """W2 as a compiled training step: the tg.nn loss, ``tg.optim.SGD``'s pure update,
    the whole step under ``tg.jit`` (traced on the first call, replayed after)."""
    X, Y = digits(dtype)
    X, labels = X[:batch].copy(), Y[:batch].argmax(axis=1)
    opt = tg.optim.SGD(lr=LR)
    vg = tg.value_and_grad(mlp_model_loss)

    @tg.jit
    def train_step(model: tg.nn.MLP, opt_state: Any, X: np.ndarray, labels: np.ndarray):
        loss, grads = vg(model, X, labels)
        model, opt_state = opt.update(model, grads, opt_state)
        return loss, model, opt_state

    def step(state: tuple):
        loss, model, opt_state = train_step(*state, X, labels)
        return loss, (model, opt_state)

    def fresh() -> tuple:
        model = mlp_model(dtype)
        return model, opt.init(model)

    return _sgd_case(step, fresh, lambda s: [q.copy() for q in s[0].parameters()])


def w2_autograd(batch: int, dtype: Any = np.float64) -> Case:
    import autograd
    import autograd.numpy as anp

    X, Y = digits(dtype)
    vg = autograd.value_and_grad(lambda p, x, y: mlp_loss(p, x, y, anp))
    return _numpy_like_sgd(vg, X[:batch].copy(), Y[:batch].copy(), dtype)


def _torch_sgd(loss: Any, params: list[Any]) -> tuple[Any, list[Any]]:
    """PyTorch's SGD step as its users write it: backward, then an in-place update under
    ``no_grad``; returns the loss and the parameters."""
    torch = torch_module()
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= LR * p.grad
            p.grad = None
    return loss.detach(), params


def _torch_sgd_case(step: Callable[[list[Any]], Any], fresh: Callable[[], list[Any]]) -> Case:
    """:func:`_sgd_case` for PyTorch parameters (read back as NumPy copies)."""
    return _sgd_case(step, fresh, lambda p: [q.detach().numpy().copy() for q in p])


def _jax_sgd_case(batch: int, dtype: Any, make_loss: Callable[[Any], Callable]) -> Case:
    """:func:`_sgd_case` for JAX: ``jax.jit`` of one SGD step of ``make_loss(jax)``,
    ``loss(params, x, y)``, on the first ``batch`` digits and one-hot labels."""
    jax = jax_module()
    jnp = jax.numpy
    Xn, Yn = digits(dtype)
    X, Y = jnp.asarray(Xn[:batch]), jnp.asarray(Yn[:batch])
    loss_fn = make_loss(jax)

    @jax.jit
    def jit_step(params: list[Any], x: Any, y: Any):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return loss, [p - LR * g for p, g in zip(params, grads)]

    def step(params: list[Any]):
        return jax.block_until_ready(jit_step(params, X, Y))

    fresh = lambda: [jnp.asarray(p) for p in mlp_init(dtype)]
    return _sgd_case(step, fresh, lambda p: [np.asarray(q) for q in p])


def w2_torch(batch: int, dtype: Any = np.float64) -> Case:
    torch = torch_module()
    F = torch.nn.functional
    Xn, Yn = digits(dtype)
    X = torch.from_numpy(Xn[:batch].copy())
    labels = torch.from_numpy(Yn[:batch].argmax(axis=1))

    def fresh() -> list[Any]:
        return [torch.tensor(p, requires_grad=True) for p in mlp_init(dtype)]

    def step(params: list[Any]):
        W1, b1, W2, b2, W3, b3 = params
        h1 = torch.tanh(X @ W1 + b1)
        h2 = torch.tanh(h1 @ W2 + b2)
        l2 = W1.pow(2).sum() + W2.pow(2).sum() + W3.pow(2).sum()
        return _torch_sgd(F.cross_entropy(h2 @ W3 + b3, labels) + LAM * l2, params)

    return _torch_sgd_case(step, fresh)


def w2_jax(batch: int, dtype: Any = np.float64) -> Case:
    def make_loss(jax: Any) -> Callable:
        jnp = jax.numpy

        def loss_fn(params: list[Any], x: Any, y: Any) -> Any:
            W1, b1, W2, b2, W3, b3 = params
            h1 = jnp.tanh(x @ W1 + b1)
            h2 = jnp.tanh(h1 @ W2 + b2)
            logp = jax.nn.log_softmax(h2 @ W3 + b3, axis=1)
            l2 = jnp.sum(W1 * W1) + jnp.sum(W2 * W2) + jnp.sum(W3 * W3)
            return -jnp.sum(y * logp) / x.shape[0] + LAM * l2

        return loss_fn

    return _jax_sgd_case(batch, dtype, make_loss)


def w2_value_and_grad_ratio(batch: int, dtype: Any = np.float64) -> dict[str, Case]:
    """The loss alone in NumPy (``"forward"``), tracegrad's value_and_grad of the loss
    written with ``tg.nn`` (``"tracegrad"``; compiled with ``tg.jit``: ``TG_JIT``) and the
    hand-written forward and backward pass (``"hand-written"``: the floor of the ratio)."""
    X, Y = digits(dtype)
    X, Y = X[:batch].copy(), Y[:batch].copy()
    labels = Y.argmax(axis=1)
    model, params = mlp_model(dtype), mlp_init(dtype)
    vg = tg.value_and_grad(mlp_model_loss)
    jvg = tg.jit(vg)
    return {
        "forward": _same_calls(lambda: mlp_forward_numpy(params, X, Y), lambda r: [r]),
        TG: _same_calls(lambda: vg(model, X, labels), lambda r: [r[0]]),
        TG_JIT: _same_calls(lambda: jvg(model, X, labels), lambda r: [r[0]]),
        HAND: _same_calls(lambda: value_and_grad_by_hand(params, X, Y), lambda r: [r[0]]),
    }


# --- W3: Jacobians --------------------------------------------------------------------


def w3_problem(n: int, m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``W`` (m × n) and the point ``x`` (n,)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, n)) / np.sqrt(n), rng.standard_normal(n)


def w3_jacobian_by_hand(W: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``∂ tanh(W x) / ∂x = diag(1 - tanh²) W``: the reference numbers."""
    t = np.tanh(W @ x)
    return (1 - t * t)[:, None] * W


def w3_hand(n: int, m: int, mode: str) -> Case:
    W, x = w3_problem(n, m)
    return _same_calls(lambda: w3_jacobian_by_hand(W, x), lambda r: [r])


def w3_tracegrad(n: int, m: int, mode: str) -> Case:
    W, x = w3_problem(n, m)
    jac = (tg.jacfwd if mode == "fwd" else tg.jacrev)(lambda z: tnp.tanh(W @ z))
    return _same_calls(lambda: jac(x), lambda r: [r])


def w3_autograd(n: int, m: int, mode: str) -> Case:
    """autograd has no Jacobian transform that batches: jacrev is ``autograd.jacobian``
    (one VJP per output), jacfwd one forward-mode JVP per basis vector."""
    import autograd
    import autograd.numpy as anp

    W, x = w3_problem(n, m)
    f = lambda z: anp.tanh(W @ z)
    if mode == "rev":
        jac = autograd.jacobian(f)
        return _same_calls(lambda: jac(x), lambda r: [r])
    jvp_at = autograd.make_jvp(f)
    basis = np.eye(n)

    def jacfwd() -> np.ndarray:
        push = jvp_at(x)
        return np.stack([push(e)[1] for e in basis], axis=-1)

    return _same_calls(jacfwd, lambda r: [r])


def w3_torch(n: int, m: int, mode: str) -> Case:
    torch = torch_module()
    Wn, xn = w3_problem(n, m)
    W, x = torch.from_numpy(Wn), torch.from_numpy(xn)
    f = lambda z: torch.tanh(W @ z)
    jac = (torch.func.jacfwd if mode == "fwd" else torch.func.jacrev)(f)
    return _same_calls(lambda: jac(x), lambda r: [r])


def w3_jax(n: int, m: int, mode: str) -> Case:
    jax = jax_module()
    Wn, xn = w3_problem(n, m)
    W, x = jax.numpy.asarray(Wn), jax.numpy.asarray(xn)
    f = lambda z: jax.numpy.tanh(W @ z)
    jac = jax.jit(jax.jacfwd(f) if mode == "fwd" else jax.jacrev(f))
    return _same_calls(lambda: jax.block_until_ready(jac(x)), lambda r: [r])


# --- W4: second order -----------------------------------------------------------------


def w4_problem(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dense symmetric positive definite ``A``, a point ``x`` and a direction ``v``."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, n)) / np.sqrt(n)
    A = B @ B.T + np.eye(n)
    return A, rng.standard_normal(n), rng.standard_normal(n)


def w4_f(x: Any, A: np.ndarray, np_like: Any = tnp) -> Any:
    """``½ xᵀA x + Σ tanh(xᵢ)²``: a dense coupling plus an elementwise nonlinearity."""
    t = np_like.tanh(x)
    return 0.5 * (x @ (A @ x)) + np_like.sum(t * t)


def _tanh2_second(x: np.ndarray) -> np.ndarray:
    """``d²/dx² tanh(x)² = 2 (1 - t²)(1 - 3 t²)``."""
    t2 = np.tanh(x) ** 2
    return 2 * (1 - t2) * (1 - 3 * t2)


def w4_hand(n: int, kind: str) -> Case:
    A, x, v = w4_problem(n)
    if kind == "hvp":
        return _same_calls(lambda: A @ v + _tanh2_second(x) * v, lambda r: [r])
    return _same_calls(lambda: A + np.diag(_tanh2_second(x)), lambda r: [r])


def w4_tracegrad(n: int, kind: str) -> Case:
    A, x, v = w4_problem(n)
    f = lambda z: w4_f(z, A)
    if kind == "hvp":
        return _same_calls(lambda: tg.hvp(f, (x,), (v,)), lambda r: [r])
    hess = tg.hessian(f)
    return _same_calls(lambda: hess(x), lambda r: [r])


def w4_autograd(n: int, kind: str) -> Case:
    """hvp: forward mode over ``autograd.grad``; hessian: ``autograd.hessian`` (reverse
    over reverse, one VJP per row: autograd's only Hessian)."""
    import autograd
    import autograd.numpy as anp

    A, x, v = w4_problem(n)
    f = lambda z: w4_f(z, A, anp)
    if kind == "hvp":
        jvp_of_grad = autograd.make_jvp(autograd.grad(f))
        return _same_calls(lambda: jvp_of_grad(x)(v)[1], lambda r: [r])
    hess = autograd.hessian(f)
    return _same_calls(lambda: hess(x), lambda r: [r])


def w4_torch(n: int, kind: str) -> Case:
    torch = torch_module()
    An, xn, vn = w4_problem(n)
    A, x, v = (torch.from_numpy(a) for a in (An, xn, vn))
    f = lambda z: w4_f(z, A, torch)
    if kind == "hvp":
        g = torch.func.grad(f)
        return _same_calls(lambda: torch.func.jvp(g, (x,), (v,))[1], lambda r: [r])
    hess = torch.func.hessian(f)
    return _same_calls(lambda: hess(x), lambda r: [r])


def w4_jax(n: int, kind: str) -> Case:
    jax = jax_module()
    jnp = jax.numpy
    An, xn, vn = w4_problem(n)
    A, x, v = (jnp.asarray(a) for a in (An, xn, vn))
    f = lambda z: w4_f(z, A, jnp)
    if kind == "hvp":
        hvp = jax.jit(lambda z, t: jax.jvp(jax.grad(f), (z,), (t,))[1])
        return _same_calls(lambda: jax.block_until_ready(hvp(x, v)), lambda r: [r])
    hess = jax.jit(jax.hessian(f))
    return _same_calls(lambda: jax.block_until_ready(hess(x)), lambda r: [r])


# --- untraced calls -------------------------------------------------------------------


def untraced_cases() -> list[tuple[str, Callable[[], Any], Callable[[], Any]]]:
    """``(label, numpy call, tracegrad.numpy call)`` on small and large arrays."""
    small, large = np.linspace(0.1, 1.0, 16), np.linspace(0.1, 1.0, 100_000)
    m_small = np.linspace(0.1, 1.0, 16 * 16).reshape(16, 16)
    m_large = np.linspace(0.1, 1.0, 256 * 256).reshape(256, 256)
    return [
        ("sin (16,)", lambda: np.sin(small), lambda: tnp.sin(small)),
        ("sin (100000,)", lambda: np.sin(large), lambda: tnp.sin(large)),
        ("sum (16,)", lambda: np.sum(small), lambda: tnp.sum(small)),
        ("sum (100000,)", lambda: np.sum(large), lambda: tnp.sum(large)),
        (
            "matmul (16,16)",
            lambda: np.matmul(m_small, m_small),
            lambda: tnp.matmul(m_small, m_small),
        ),
        (
            "matmul (256,256)",
            lambda: np.matmul(m_large, m_large),
            lambda: tnp.matmul(m_large, m_large),
        ),
    ]


# --- issue 12: the code users write, op by op, eager and under tg.jit -----------------


def w1u_tracegrad_0d(n_blocks: int, x: float = 0.3) -> Case:
    """W1 eager on a 0-d array: the ops see NumPy scalars, not Python floats."""
    return w1_tracegrad(n_blocks, np.array(x))


def w1u_tracegrad_jit(n_blocks: int, x: Any = 0.3) -> Case:
    """``tg.jit(value_and_grad(chain))``: traced once, replayed after."""
    vg = tg.jit(
        tg.value_and_grad(lambda z: chain(z, n_blocks, tnp.sin, tnp.exp, tnp.log, tnp.sqrt))
    )
    return _same_calls(lambda: vg(x), lambda r: r)


def w1u_tracegrad_jit_0d(n_blocks: int, x: float = 0.3) -> Case:
    return w1u_tracegrad_jit(n_blocks, np.array(x))


def mlp_loss_ops(params: Sequence[Any], X: Any, Y: Any, xp: Any, logsumexp: Callable) -> Any:
    """The W2 loss as issue 12's user writes it, one operation at a time, with any
    NumPy-like module ``xp`` (tracegrad.numpy, jax.numpy, torch, autograd.numpy): per
    sample ``logsumexp(z) - Σ Y·z`` (``Y`` one-hot), its mean, plus λ·Σ W·W per weight.
    Equal to the hand-written loss, since each row of ``Y`` sums to 1."""
    W1, b1, W2, b2, W3, b3 = params
    h1 = xp.tanh(X @ W1 + b1)
    h2 = xp.tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    data = xp.mean(logsumexp(z, axis=1) - xp.sum(Y * z, axis=1))
    return data + LAM * (xp.sum(W1 * W1) + xp.sum(W2 * W2) + xp.sum(W3 * W3))


def tnp_loss_ops(params: Sequence[Any], X: Any, Y: Any) -> Any:
    return mlp_loss_ops(params, X, Y, tnp, tnp.logsumexp)


def tnp_step_ops(params: list[Any], X: Any, Y: Any) -> tuple[Any, list[Any]]:
    """The training step as a user writes it (and wraps in ``tg.jit``): the gradient
    taken inside the step, new parameters returned."""
    loss, grads = tg.value_and_grad(tnp_loss_ops)(params, X, Y)
    return loss, [p - LR * g for p, g in zip(params, grads)]


def _functional_sgd(step: Callable, X: Any, Y: Any, dtype: Any) -> Case:
    """A W2U case whose ``step(params, X, Y)`` returns ``(loss, new params)``."""
    return _sgd_case(
        lambda p: step(p, X, Y), lambda: mlp_init(dtype), lambda p: [q.copy() for q in p]
    )


def w2u_tracegrad(batch: int, dtype: Any = np.float64) -> Case:
    X, Y = digits(dtype)
    return _functional_sgd(tnp_step_ops, X[:batch].copy(), Y[:batch].copy(), dtype)


def w2u_tracegrad_jit(batch: int, dtype: Any = np.float64) -> Case:
    X, Y = digits(dtype)
    return _functional_sgd(tg.jit(tnp_step_ops), X[:batch].copy(), Y[:batch].copy(), dtype)


def w2u_forward(batch: int, dtype: Any = np.float64) -> Case:
    """The NumPy loss alone (the hand-written forward); ``numbers`` is its loss only."""
    X, Y = digits(dtype)
    X, Y, params = X[:batch].copy(), Y[:batch].copy(), mlp_init(dtype)
    return _same_calls(lambda: mlp_forward_numpy(params, X, Y), lambda r: [r])


def w2u_autograd(batch: int, dtype: Any = np.float64) -> Case:
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    def step(params: list[Any], X: Any, Y: Any) -> tuple[Any, list[Any]]:
        loss_fn = lambda p, x, y: mlp_loss_ops(p, x, y, anp, logsumexp)
        loss, grads = autograd.value_and_grad(loss_fn)(params, X, Y)
        return loss, [p - LR * g for p, g in zip(params, grads)]

    X, Y = digits(dtype)
    return _functional_sgd(step, X[:batch].copy(), Y[:batch].copy(), dtype)


def w2u_torch(batch: int, dtype: Any = np.float64) -> Case:
    """PyTorch eager, the same ops (``torch.logsumexp``, one-hot ``Y``), updated in
    place under ``no_grad`` as a PyTorch user does."""
    torch = torch_module()
    Xn, Yn = digits(dtype)
    X, Y = torch.from_numpy(Xn[:batch].copy()), torch.from_numpy(Yn[:batch].copy())

    def fresh() -> list[Any]:
        return [torch.tensor(p, requires_grad=True) for p in mlp_init(dtype)]

    def step(params: list[Any]):
        return _torch_sgd(mlp_loss_ops(params, X, Y, torch, torch.logsumexp), params)

    return _torch_sgd_case(step, fresh)


def w2u_jax(batch: int, dtype: Any = np.float64) -> Case:
    make_loss = lambda jax: lambda p, x, y: mlp_loss_ops(p, x, y, jax.numpy, jax.nn.logsumexp)
    return _jax_sgd_case(batch, dtype, make_loss)


def w3u_problem(n: int, m: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``A``, ``B`` (m × n) and the point ``x`` (n,)."""
    rng = np.random.default_rng(seed)
    A, B = (rng.standard_normal((m, n)) / np.sqrt(n) for _ in range(2))
    return A, B, rng.standard_normal(n)


def w3u_f(x: Any, A: Any, B: Any, xp: Any = tnp) -> Any:
    """``tanh(A x) * (B x)``, elementwise: two products and a nonlinearity."""
    return xp.tanh(A @ x) * (B @ x)


def w3u_hand(n: int, m: int, mode: str) -> Case:
    """``∂f/∂x = diag((1 - t²) ⊙ Bx) A + diag(t) B`` with ``t = tanh(A x)``."""
    A, B, x = w3u_problem(n, m)

    def jac() -> np.ndarray:
        t = np.tanh(A @ x)
        return ((1 - t * t) * (B @ x))[:, None] * A + t[:, None] * B

    return _same_calls(jac, lambda r: [r])


def _w3u_tracegrad(n: int, m: int, mode: str, jit: bool) -> Case:
    A, B, x = w3u_problem(n, m)
    jac = (tg.jacfwd if mode == "fwd" else tg.jacrev)(lambda z: w3u_f(z, A, B))
    if jit:
        jac = tg.jit(jac)
    return _same_calls(lambda: jac(x), lambda r: [r])


def w3u_tracegrad(n: int, m: int, mode: str) -> Case:
    return _w3u_tracegrad(n, m, mode, jit=False)


def w3u_tracegrad_jit(n: int, m: int, mode: str) -> Case:
    return _w3u_tracegrad(n, m, mode, jit=True)


def w3u_torch(n: int, m: int, mode: str) -> Case:
    torch = torch_module()
    A, B, x = (torch.from_numpy(a) for a in w3u_problem(n, m))
    jac = (torch.func.jacfwd if mode == "fwd" else torch.func.jacrev)(
        lambda z: w3u_f(z, A, B, torch)
    )
    return _same_calls(lambda: jac(x), lambda r: [r])


def w3u_jax(n: int, m: int, mode: str) -> Case:
    jax = jax_module()
    A, B, x = (jax.numpy.asarray(a) for a in w3u_problem(n, m))
    f = lambda z: w3u_f(z, A, B, jax.numpy)
    jac = jax.jit(jax.jacfwd(f) if mode == "fwd" else jax.jacrev(f))
    return _same_calls(lambda: jax.block_until_ready(jac(x)), lambda r: [r])


def w4u_tracegrad_jit(n: int, kind: str) -> Case:
    """W4 under ``tg.jit``: the hvp (forward over reverse) and ``tg.hessian`` compiled."""
    A, x, v = w4_problem(n)
    f = lambda z: w4_f(z, A)
    if kind == "hvp":
        hvp = tg.jit(lambda z, t: tg.hvp(f, (z,), (t,)))
        return _same_calls(lambda: hvp(x, v), lambda r: [r])
    hess = tg.jit(tg.hessian(f))
    return _same_calls(lambda: hess(x), lambda r: [r])


# --- registry ---------------------------------------------------------------------------

W1 = {
    HAND: w1_hand,
    TG: w1_tracegrad,
    MICROGRAD: w1_micrograd,
    AUTOGRAD: w1_autograd,
    TORCH: w1_torch,
    JAX: w1_jax,
}
W2 = {
    HAND: w2_hand,
    TG_JIT: w2_tracegrad_jit,
    TG_NN: w2_tracegrad_nn,
    TG: w2_tracegrad,
    AUTOGRAD: w2_autograd,
    TORCH: w2_torch,
    JAX: w2_jax,
}
W3 = {HAND: w3_hand, TG: w3_tracegrad, AUTOGRAD: w3_autograd, TORCH: w3_torch, JAX: w3_jax}
W4 = {HAND: w4_hand, TG: w4_tracegrad, AUTOGRAD: w4_autograd, TORCH: w4_torch, JAX: w4_jax}

# issue 12
W1U = {
    HAND: w1_hand,
    TG: w1_tracegrad,
    TG_0D: w1u_tracegrad_0d,
    TG_JIT: w1u_tracegrad_jit,
    TG_JIT_0D: w1u_tracegrad_jit_0d,
    MICROGRAD: w1_micrograd,
    TORCH: w1_torch,
    JAX: w1_jax,
}
W2U = {
    HAND: w2_hand,
    FORWARD: w2u_forward,
    TG: w2u_tracegrad,
    TG_JIT: w2u_tracegrad_jit,
    AUTOGRAD: w2u_autograd,
    TORCH: w2u_torch,
    JAX: w2u_jax,
}
W3U = {
    HAND: w3u_hand,
    TG: w3u_tracegrad,
    TG_JIT: w3u_tracegrad_jit,
    TORCH: w3u_torch,
    JAX: w3u_jax,
}
W4U = {HAND: w4_hand, TG: w4_tracegrad, TG_JIT: w4u_tracegrad_jit, JAX: w4_jax}
