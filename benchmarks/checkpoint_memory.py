"""Peak memory of ``grad`` through a deep MLP with and without ``tg.checkpoint`` per layer.

    python benchmarks/checkpoint_memory.py            # 50 layers, width 256, batch 1024
    python benchmarks/checkpoint_memory.py --layers 10 --width 32 --batch 16

The network is written operation by operation with tracegrad.numpy (each layer
``h ← tanh(h @ W + b) + 0.1·h``: four recorded steps, so that a layer has intermediates
to drop); peak bytes are tracemalloc's over one ``tg.grad`` call, with the parameters
and input allocated before the measurement. The gradients of both runs are checked to be
equal (to 1e-12) before anything is printed.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

import tracegrad as tg
import tracegrad.numpy as tnp


def layer(w: np.ndarray, b: np.ndarray, h: np.ndarray) -> np.ndarray:
    return tnp.tanh(h @ w + b) + 0.1 * h


def loss(params: list, x: np.ndarray, step) -> np.ndarray:
    h = x
    for w, b in params:
        h = step(w, b, h)
    return tnp.mean(h**2)


def measure(params: list, x: np.ndarray, step) -> tuple[list, int, float]:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    g = tg.grad(loss)(params, x, step)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return g, peak, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=50)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1024)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    params = [
        (rng.standard_normal((a.width, a.width)) / np.sqrt(a.width), np.zeros(a.width))
        for _ in range(a.layers)
    ]
    x = rng.standard_normal((a.batch, a.width))
    plain, p_peak, p_s = measure(params, x, layer)
    ckpt, c_peak, c_s = measure(params, x, tg.checkpoint(layer))
    for (gw, gb), (cw, cb) in zip(plain, ckpt):
        np.testing.assert_allclose(cw, gw, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(cb, gb, rtol=1e-12, atol=1e-15)
    act = a.batch * a.width * 8
    print(f"{a.layers} layers, width {a.width}, batch {a.batch}", end=" ")
    print(f"(one activation: {act / 2**20:.2f} MiB)")
    print("| grad through | peak memory | activations' worth | time |")
    print("|---|---|---|---|")
    for name, peak, s in (("plain layers", p_peak, p_s), ("tg.checkpoint per layer", c_peak, c_s)):
        print(f"| {name} | {peak / 2**20:.1f} MiB | {peak / act:.1f} | {s:.2f} s |")
    print(f"saving: {1 - c_peak / p_peak:.0%} of the peak")


if __name__ == "__main__":
    main()
