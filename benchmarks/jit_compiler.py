"""What tg.jit's compiler does to the code users write, and what a first call costs.

    python benchmarks/jit_compiler.py [--quick] [--repeat N] [--threads T] [--only TABLE]

Three tables, every figure from this one run:

1. Per workload of issue 12 (written op by op with tracegrad.numpy, as in
   ``benchmarks/peers.py``): the equations as recorded and after each pass
   (:data:`tracegrad.compiler.compile.PASSES`), the ``out=`` buffers reused, the time the
   passes took, and the replay time without the passes (``tg.jit(..., optimize=False)``)
   and with them, timed in interleaved rounds (medians).
2. ``jit(grad(chain))`` on chains of growing length (W1's chain, of Python floats and of
   (16,) arrays), up to issue 16's 200,000 operations: the first call (tracing: the
   forward on staged values, its steps on floats taken by the staging trace as one
   equation, the backward sweep as one step), the second (those expanded, the passes
   and code generation, then the first replay) and a replay, against one eager call.
3. A replay's entry cost: finding the program for the arguments (a quick key for arrays
   and lists of arrays, the pytree key otherwise) and building the outputs.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import argparse  # noqa: E402
import gc  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import peers as P  # noqa: E402
import tracegrad as tg  # noqa: E402
import tracegrad.numpy as tnp  # noqa: E402
from bench_peers import THREADS, table, time_interleaved  # noqa: E402  (sets the threads)


def workloads(quick: bool) -> list[tuple[str, Callable[..., Any], tuple]]:
    """``(name, function, arguments)`` for each compiled workload."""
    out: list[tuple[str, Callable[..., Any], tuple]] = []
    chain = tg.value_and_grad(lambda z: P.chain(z, 143, tnp.sin, tnp.exp, tnp.log, tnp.sqrt))
    out.append(("W1U chain, float", chain, (0.3,)))
    out.append(("W1U chain, 0-d array", chain, (np.array(0.3),)))
    for dtype in (np.float64, np.float32):
        X, Y = P.digits(dtype)
        for batch in (32, 256) if quick else (32, 256, 1797):
            args = (P.mlp_init(dtype), X[:batch].copy(), Y[:batch].copy())
            name = f"W2U step {np.dtype(dtype).name} B={batch}"
            out.append((name, P.tnp_step_ops, args))
    m = 200 if quick else 1000
    A, B, x = P.w3u_problem(10, m)
    f3 = lambda z: P.w3u_f(z, A, B)
    out.append((f"W3U jacrev n=10 m={m}", tg.jacrev(f3), (x,)))
    out.append((f"W3U jacfwd n=10 m={m}", tg.jacfwd(f3), (x,)))
    n_hvp, n_hess = (300, 50) if quick else (1000, 100)
    A4, x4, v4 = P.w4_problem(n_hvp)
    out.append((f"W4U hvp n={n_hvp}", lambda z, t: tg.hvp(lambda y: P.w4_f(y, A4), (z,), (t,)),
                (x4, v4)))  # fmt: skip
    A5, x5, _ = P.w4_problem(n_hess)
    out.append((f"W4U hessian n={n_hess}", tg.hessian(lambda y: P.w4_f(y, A5)), (x5,)))
    return out


def pass_table(quick: bool, repeat: int, min_time: float) -> None:
    rows = []
    names = None
    for name, fn, args in workloads(quick):
        print(f"... {name}", flush=True)
        plain, optimised = tg.jit(fn, optimize=False), tg.jit(fn)
        ex = optimised.compiled(*args)
        names = names or [r.name for r in ex.passes]
        t = time_interleaved(
            {
                "recorded": lambda f=plain, a=args: f(*a),
                "optimised": lambda f=optimised, a=args: f(*a),
            },
            repeat,
            min_time,
        )
        counts = [str(len(ex.recorded))] + [str(r.after) for r in ex.passes]
        rows.append(
            [name, *counts, str(ex.passes[-1].reused), "yes" if ex.floats else "no"]
            + [f"{sum(r.seconds for r in ex.passes) * 1e3:.1f}"]
            + [
                P_fmt(t["recorded"]),
                P_fmt(t["optimised"]),
                f"{t['optimised'] / t['recorded']:.2f}×",
            ]
        )
    table(
        "tg.jit's passes on issue 12's workloads: equations after each pass, buffers "
        "reused, replay time (µs) without and with the passes",
        ["workload", "recorded", *(names or [])]
        + ["out= buffers", "on floats", "passes, ms", "replay as recorded", "replay optimised"]
        + ["optimised / recorded"],
        rows,
    )


def P_fmt(seconds: float) -> str:  # noqa: N802  (µs, three significant figures)
    us = seconds * 1e6
    return f"{us:.3g}" if us < 1000 else f"{us:.0f}"


def first_call_table(quick: bool, rounds: int) -> None:
    """The first call (tracing), the second (expanding the sweep, compiling, replaying)
    and a replay, each against one eager call of the same function, on W1's chain of
    Python floats and of (16,) arrays; the smallest of ``rounds`` interleaved rounds,
    with the cyclic garbage collector as Python leaves it (on) and, for the ratio of the
    work alone, off in both."""
    lengths = (1_000, 12_600) if quick else (1_000, 12_600, 50_000, 200_000)
    rows = []
    for n_ops in lengths:
        n_blocks = n_ops // P.BLOCK
        chain = lambda z, n=n_blocks: P.chain(z, n, tnp.sin, tnp.exp, tnp.log, tnp.sqrt)
        for kind, x, vg in (
            ("float", 0.3, tg.value_and_grad(chain)),
            ("(16,) array", np.full(16, 0.3), tg.grad(lambda z, f=chain: tnp.sum(f(z)))),
        ):
            print(f"... first calls, chain of {n_blocks * P.BLOCK} ops on a {kind}", flush=True)
            vg(x)  # first uses of each operation
            times: dict[str, list[float]] = {"eager": [], "first": [], "eager off": []}
            times["first off"] = []
            for _ in range(rounds):
                for collector in ("", " off"):
                    if collector:
                        gc.disable()
                    try:  # each call from an empty young generation: it pays its own
                        gc.collect()
                        times["eager" + collector].append(_seconds(vg, x))
                        jitted = tg.jit(vg)
                        gc.collect()
                        times["first" + collector].append(_seconds(jitted, x))
                    finally:
                        gc.enable()
            (entry,) = jitted._cache.values()  # as the first call recorded it
            row = [f"{n_blocks * P.BLOCK:,}", kind, f"{len(entry.program):,}"]
            eager, first = min(times["eager"]), min(times["first"])
            off = min(times["first off"]) / min(times["eager off"])
            row += [f"{eager * 1e3:.1f}", f"{first * 1e3:.1f}", f"{first / eager:.2f}×"]
            row.append(f"{off:.2f}×")
            if n_ops <= 50_000:  # past that the compile costs tens of seconds
                second = _seconds(jitted, x + 0.01)
                replay = min(_seconds(jitted, x + 0.02) for _ in range(3))
                ex = jitted.compiled(x)
                row += [f"{second * 1e3:.0f}", f"{second / eager:.0f}×", f"{replay / eager:.2f}×"]
                row.append(
                    "floats" if ex.floats else "interpreted" if ex.source is None else "source"
                )
            else:
                row += ["", "", "", ""]
            rows.append(row)
    table(
        "jit(grad(chain)) on W1's chain: the first call traces (the forward call by call, "
        "on floats as one run of steps, and the backward sweep as one step), the second "
        "expands them, compiles and replays, later calls replay; against one eager call",
        ["ops", "input", "equations, 1st call", "eager, ms", "1st call, ms", "1st / eager"]
        + ["1st / eager, collector off", "2nd call, ms", "2nd / eager", "replay / eager"]
        + ["replayed as"],
        rows,
    )


def _seconds(fn: Callable[..., Any], *args: Any) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def entry_table(repeat: int) -> None:
    """What a replay costs around its program: a step whose program does almost nothing
    (its 8 array arguments back, scaled), called with a list of arrays (the quick key)
    and with the same arrays in a dict (the general key: a pytree flattened), against
    the compiled function called directly."""
    arrays = [np.ones(2) for _ in range(6)]
    x = np.ones(2)
    as_list = tg.jit(lambda ps, x: [p * 2.0 for p in ps] + [x])
    as_dict = tg.jit(lambda d, x: [d[k] * 2.0 for k in sorted(d)] + [x])
    d = {f"p{i}": a for i, a in enumerate(arrays)}
    for j, arg in ((as_list, arrays), (as_dict, d)):
        j(arg, x)
        j(arg, x)
    direct = as_list.compiled(arrays, x).function
    t = time_interleaved(
        {
            "compiled function alone": lambda: direct(*arrays, x),
            "tg.jit, list of arrays (quick key)": lambda: as_list(arrays, x),
            "tg.jit, dict of arrays (pytree key)": lambda: as_dict(d, x),
        },
        repeat,
        0.05,
    )
    base = t["compiled function alone"]
    rows = [[k, f"{v * 1e6:.2f}", f"{(v - base) * 1e6:.2f}"] for k, v in t.items()]
    table(
        "A replay's entry: 7 small arrays in, 7 out, µs per call",
        ["call", "µs", "entry (µs over the function alone)"],
        rows,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds (median)")
    parser.add_argument("--threads", type=int, default=THREADS, help="BLAS threads")
    parser.add_argument(
        "--only", choices=("passes", "first", "entry"), help="one table (default: all three)"
    )
    args = parser.parse_args()
    print(f"tracegrad jit compiler, {THREADS} thread(s), NumPy {np.__version__}")
    if args.only in (None, "passes"):
        pass_table(args.quick, args.repeat, 0.02 if args.quick else 0.1)
    if args.only in (None, "first"):
        first_call_table(args.quick, 2 if args.quick else 3)
    if args.only in (None, "entry"):
        entry_table(args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
