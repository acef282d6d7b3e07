"""W2 on a GPU: one SGD step of the 64-256-256-10 tanh MLP, tracegrad on CuPy vs NumPy.

    python benchmarks/bench_gpu.py [--batches 256,4096,65536] [--dtype float32]
                                   [--repeat 7] [--quick]

The step is bench_peers' W2 written with ``tg.nn`` (softmax cross-entropy + L2 penalty,
``tg.value_and_grad``, ``tg.optim.SGD``'s update), on synthetic data of W2's shapes
(64 features, 10 classes) at each batch size. Reported: ms per step for tracegrad on
the CPU (NumPy), tracegrad on the GPU (CuPy: the model moved with ``tg.nn.to(model,
"cuda")``, the batch already on the device), and PyTorch on the same GPU (eager, the
same network) where PyTorch with CUDA is installed; and the GPU's speed-up over the CPU.
GPU timings synchronise the device before the clock stops.

Without CuPy or a GPU it says so and exits with status 0 (CI has no GPU):
``pip install -e '.[gpu]'`` installs CuPy for CUDA 12.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tracegrad as tg  # noqa: E402
from bench_core import timeit  # noqa: E402
from tracegrad.core.backend import DeviceError, device_module  # noqa: E402

SIZES = [64, 256, 256, 10]
LR, LAM = 0.01, 1e-4


def data(batch: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((batch, SIZES[0])).astype(dtype), rng.integers(0, 10, batch)


def loss(model: tg.nn.MLP, X: Any, labels: Any) -> Any:
    return tg.nn.cross_entropy(model(X), labels) + tg.nn.l2_penalty(model, 2 * LAM)


def tracegrad_step(xp: Any, batch: int, dtype: Any) -> Callable[[], object]:
    """One W2 SGD step with the model and the batch in the array module ``xp``."""
    X, labels = data(batch, dtype)
    model = tg.nn.MLP(SIZES, "tanh", rng=0, dtype=dtype)
    if xp is not np:
        model = tg.nn.to(model, xp)  # "cuda" for CuPy; the tests pass their stand-in
        X, labels = xp.asarray(X), xp.asarray(labels)
    opt = tg.optim.SGD(lr=LR)
    vg = tg.value_and_grad(loss)
    state = {"model": model, "opt": opt.init(model)}

    def step() -> object:
        value, grads = vg(state["model"], X, labels)
        state["model"], state["opt"] = opt.update(state["model"], grads, state["opt"])
        return value

    return step


def torch_step(batch: int, dtype: Any) -> Callable[[], object] | None:
    """The same step in PyTorch on the GPU (eager), or None without PyTorch and CUDA."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    dev = torch.device("cuda")
    Xn, yn = data(batch, dtype)
    X, labels = torch.from_numpy(Xn).to(dev), torch.from_numpy(yn).to(dev)
    layers = [torch.nn.Linear(a, b).to(dev, getattr(torch, np.dtype(dtype).name))
              for a, b in zip(SIZES[:-1], SIZES[1:])]  # fmt: skip
    params = [p for layer in layers for p in layer.parameters()]
    opt = torch.optim.SGD(params, lr=LR)

    def step() -> object:
        h = X
        for layer in layers[:-1]:
            h = torch.tanh(layer(h))
        l2 = sum((layer.weight**2).sum() for layer in layers)
        value = torch.nn.functional.cross_entropy(layers[-1](h), labels) + LAM * l2
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        return value

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="256,4096,65536", help="comma-separated sizes")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="batch 256 only, 3 repeats")
    args = parser.parse_args(argv)
    try:
        cp = device_module("cuda")
    except DeviceError as e:
        print(f"no GPU: {e}; nothing to measure")
        return 0
    dtype = np.dtype(args.dtype).type
    batches = [256] if args.quick else [int(b) for b in args.batches.split(",")]
    repeat = 3 if args.quick else args.repeat
    gpu_sync = cp.cuda.get_current_stream().synchronize
    torch_sync = None
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch_sync = torch.cuda.synchronize if torch.cuda.is_available() else None

    name = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"]
    name = name.decode() if isinstance(name, bytes) else name
    print(
        f"tracegrad {tg.__version__}, NumPy {np.__version__}, CuPy {cp.__version__}, "
        f"Python {platform.python_version()}; GPU: {name}; {args.dtype}"
    )
    print("\nW2: one SGD step of a 64-256-256-10 tanh MLP (softmax CE + L2), ms per step")
    header = (
        f"{'batch':>7} {'CPU (NumPy)':>12} {'GPU (CuPy)':>11} {'PyTorch GPU':>12} {'GPU/CPU':>8}"
    )
    print(header)
    print("-" * len(header))
    for batch in batches:
        cpu = timeit(tracegrad_step(np, batch, dtype), repeat)
        gpu = timeit(tracegrad_step(cp, batch, dtype), repeat, sync=gpu_sync)
        step = torch_step(batch, dtype) if torch_sync is not None else None
        torch_ms = f"{timeit(step, repeat, sync=torch_sync) * 1e3:12.3f}" if step else f"{'-':>12}"
        print(f"{batch:>7} {cpu * 1e3:12.3f} {gpu * 1e3:11.3f} {torch_ms} {cpu / gpu:7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
