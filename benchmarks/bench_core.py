"""Per-operation tracing overhead and the cost of a gradient, measured in one run.

    python benchmarks/bench_core.py [--repeat 7] [--quick]

Reports medians over ``--repeat`` timings and, above all, ratios taken in the same run
(these machines are shared and noisy; a single absolute time means little):

1. A chain of scalar operations (sin, mul, exp, add, log, sqrt, add, repeated; one input
   reused by every block): µs per operation for plain NumPy, a hand-written forward and
   backward pass (Python floats and the math module), tracegrad's value_and_grad
   (reverse) and jvp (forward).
2. The same chain on small arrays (shape (16,)): plain NumPy, hand-written, tracegrad.
3. A 3-layer tanh MLP (64-256-256-10, softmax cross-entropy) at batch 256:
   time(value_and_grad) / time(forward), for tracegrad and for hand-written NumPy
   backprop.
4. With no transformation active: tracegrad.numpy call / NumPy call.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

import tracegrad as tg
import tracegrad.numpy as tnp

BLOCK = 7  # operations per block of the chain


def timeit(
    fn: Callable[[], object], repeat: int, min_time: float = 0.05,
    sync: Callable[[], object] = lambda: None,
) -> float:  # fmt: skip
    """Median seconds per call, each timing looping long enough to be measurable;
    ``sync()`` (a device's synchronisation) runs before each clock stops."""
    fn()
    sync()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        if time.perf_counter() - t0 >= min_time:
            break
        n *= 2
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


# --- 1/2: the chain ----------------------------------------------------------------


def chain(x, n_blocks: int, lib):
    """``n_blocks`` blocks of 7 ops; ``x`` is reused in every block."""
    y = x
    for _ in range(n_blocks):
        a = lib.sin(y)
        b = a * x
        c = lib.exp(b)
        d = c + 1.0
        e = lib.log(d)
        f = lib.sqrt(e)
        y = f + x
    return lib.sum(y)


class _Math:
    """The chain's operations on Python floats."""

    sin, exp, log, sqrt = math.sin, math.exp, math.log, math.sqrt

    @staticmethod
    def sum(y: float) -> float:
        return y


def chain_by_hand(x: float, n_blocks: int) -> tuple[float, float]:
    """The chain's value and derivative with a hand-written forward and backward pass."""
    tape = []
    y = x
    for _ in range(n_blocks):
        a = math.sin(y)
        b = a * x
        c = math.exp(b)
        d = c + 1.0
        e = math.log(d)
        f = math.sqrt(e)
        tape.append((y, a, c, d, f))
        y = f + x
    gy, gx = 1.0, 0.0
    for y_in, a, c, d, f in reversed(tape):
        gx += gy  # y = f + x
        gf = gy
        ge = gf / (2.0 * f)
        gd = ge / d
        gb = gd * c
        gx += gb * a
        ga = gb * x
        gy = ga * math.cos(y_in)
    return y, gx + gy


def chain_by_hand_array(x: np.ndarray, n_blocks: int) -> tuple[float, np.ndarray]:
    tape = []
    y = x
    for _ in range(n_blocks):
        a = np.sin(y)
        b = a * x
        c = np.exp(b)
        d = c + 1.0
        e = np.log(d)
        f = np.sqrt(e)
        tape.append((y, a, c, d, f))
        y = f + x
    gy, gx = np.ones_like(x), np.zeros_like(x)
    for y_in, a, c, d, f in reversed(tape):
        gx = gx + gy
        gb = gy / (2.0 * f) / d * c
        gx = gx + gb * a
        gy = gb * x * np.cos(y_in)
    return float(np.sum(y)), gx + gy


def bench_chain(repeat: int, n_blocks: int) -> list[tuple[str, float]]:
    n_ops = n_blocks * BLOCK
    x = 0.3
    v_hand, g_hand = chain_by_hand(x, n_blocks)
    v_tg, g_tg = tg.value_and_grad(lambda z: chain(z, n_blocks, tnp))(x)
    assert np.isclose(v_tg, v_hand) and np.isclose(g_tg, g_hand), (g_tg, g_hand)
    _, t_fwd = tg.jvp(lambda z: chain(z, n_blocks, tnp), (x,), (1.0,))
    assert np.isclose(t_fwd, g_hand)
    vg = tg.value_and_grad(lambda z: chain(z, n_blocks, tnp))
    xa = np.float64(x)
    rows = [
        ("math module, value only", timeit(lambda: chain(x, n_blocks, _Math), repeat)),
        ("hand-written fwd+bwd (floats)", timeit(lambda: chain_by_hand(x, n_blocks), repeat)),
        ("plain NumPy, value only", timeit(lambda: chain(xa, n_blocks, np), repeat)),
        ("tracegrad value_and_grad", timeit(lambda: vg(x), repeat)),
        (
            "tracegrad jvp (forward)",
            timeit(lambda: tg.jvp(lambda z: chain(z, n_blocks, tnp), (x,), (1.0,)), repeat),
        ),
    ]
    return [(name, t / n_ops * 1e6) for name, t in rows]


def bench_chain_array(repeat: int, n_blocks: int, size: int) -> list[tuple[str, float]]:
    n_ops = n_blocks * BLOCK
    x = np.linspace(0.1, 0.9, size)
    _, g_hand = chain_by_hand_array(x, n_blocks)
    vg = tg.value_and_grad(lambda z: chain(z, n_blocks, tnp))
    assert np.allclose(vg(x)[1], g_hand)
    rows = [
        ("plain NumPy, value only", timeit(lambda: chain(x, n_blocks, np), repeat)),
        ("hand-written fwd+bwd (NumPy)", timeit(lambda: chain_by_hand_array(x, n_blocks), repeat)),
        ("tracegrad value_and_grad", timeit(lambda: vg(x), repeat)),
    ]
    return [(name, t / n_ops * 1e6) for name, t in rows]


# --- 3: the MLP --------------------------------------------------------------------


def mlp_params(rng: np.random.Generator, sizes=(64, 256, 256, 10)) -> list[np.ndarray]:
    params = []
    for m, n in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((m, n)) / np.sqrt(m), np.zeros(n)]
    return params


def mlp_loss(params, X, Y, lib=tnp):
    W1, b1, W2, b2, W3, b3 = params
    h1 = lib.tanh(X @ W1 + b1)
    h2 = lib.tanh(h1 @ W2 + b2)
    logits = h2 @ W3 + b3
    m = np.max(tg.stop_gradient(logits), axis=1, keepdims=True)
    lse = lib.log(lib.sum(lib.exp(logits - m), axis=1, keepdims=True)) + m
    return -lib.mean(lib.sum(Y * (logits - lse), axis=1))


def mlp_by_hand(params, X, Y):
    W1, b1, W2, b2, W3, b3 = params
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    logits = h2 @ W3 + b3
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.sum(Y * (logits - m - np.log(s)), axis=1))
    n = X.shape[0]
    d3 = (e / s - Y) / n
    d2 = (d3 @ W3.T) * (1 - h2 * h2)
    d1 = (d2 @ W2.T) * (1 - h1 * h1)
    grads = [X.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ d3, d3.sum(0)]
    return loss, grads


def bench_mlp(repeat: int, batch: int) -> list[tuple[str, float]]:
    rng = np.random.default_rng(0)
    params = mlp_params(rng)
    X = rng.standard_normal((batch, 64))
    Y = np.eye(10)[rng.integers(0, 10, batch)]
    vg = tg.value_and_grad(mlp_loss)
    loss, grads = vg(params, X, Y)
    loss_h, grads_h = mlp_by_hand(params, X, Y)
    assert np.isclose(loss, loss_h) and all(np.allclose(a, b) for a, b in zip(grads, grads_h))
    t_fwd = timeit(lambda: mlp_loss(params, X, Y, np), repeat)
    t_tg = timeit(lambda: vg(params, X, Y), repeat)
    t_hand = timeit(lambda: mlp_by_hand(params, X, Y), repeat)
    return [
        ("forward only (NumPy), ms", t_fwd * 1e3),
        ("hand-written fwd+bwd, ms", t_hand * 1e3),
        ("tracegrad value_and_grad, ms", t_tg * 1e3),
        ("tracegrad value_and_grad / forward", t_tg / t_fwd),
        ("hand-written fwd+bwd / forward", t_hand / t_fwd),
        ("tracegrad / hand-written", t_tg / t_hand),
    ]


# --- 4: untraced calls ------------------------------------------------------------


def bench_untraced(repeat: int) -> list[tuple[str, float]]:
    small, big = np.linspace(0.1, 1.0, 16), np.linspace(0.1, 1.0, 100_000)
    rows = []
    for label, x in (("(16,)", small), ("(100000,)", big)):
        for name, f_np, f_tg in (("sin", np.sin, tnp.sin), ("sum", np.sum, tnp.sum)):
            t_np = timeit(lambda f=f_np, x=x: f(x), repeat)
            t_tg = timeit(lambda f=f_tg, x=x: f(x), repeat)
            rows.append((f"tnp.{name} / np.{name} on {label}", t_tg / t_np))
    return rows


def _table(title: str, rows: list[tuple[str, float]], unit: str) -> str:
    width = max(len(r[0]) for r in rows)
    lines = [f"\n{title}", "-" * (width + 14)]
    lines += [f"{name:<{width}}  {value:10.3f} {unit}" for name, value in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    blocks = 20 if args.quick else 143  # 143 blocks of 7 = 1001 operations
    print(
        f"tracegrad {tg.__version__}, NumPy {np.__version__}, Python "
        f"{platform.python_version()}, {platform.machine()}"
    )
    print(
        _table(
            f"Scalar chain of {blocks * BLOCK} ops: µs per op",
            bench_chain(args.repeat, blocks),
            "µs",
        )
    )
    print(
        _table(
            f"Chain of {blocks * BLOCK} ops on arrays of shape (16,): µs per op",
            bench_chain_array(args.repeat, blocks, 16),
            "µs",
        )
    )
    print(_table("3-layer tanh MLP 64-256-256-10, batch 256", bench_mlp(args.repeat, 256), ""))
    print(_table("No transformation active: ratio to NumPy", bench_untraced(args.repeat), "x"))


if __name__ == "__main__":
    main()
