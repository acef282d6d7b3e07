"""tracegrad beside its peers: the side-by-side benchmark of issue 6.

    python benchmarks/bench_peers.py [--quick] [--only W1,W2,W3,W4,U] [--repeat N] [--threads T]

Runs the workloads of :mod:`peers` (W1 scalar chain, W2 MLP SGD step, W3 Jacobians, W4
second order, U untraced calls) for tracegrad, a hand-written floor and every peer that is
installed (micrograd, autograd, PyTorch, JAX; ``pip install -e '.[bench]'``); a missing
peer is skipped with a note. Every library's numbers are checked against the reference
(hand-written where there is one), a mismatch is printed loudly and makes the exit status 1.
Prints one Markdown table per workload (medians, and the ratios the goals name) and a final
table of the issue's goals with pass/fail.

Timing: each call is looped until one timing lasts ``min_time``; the libraries of one row
are then timed in interleaved rounds (so background load hits them alike) and the median
of ``--repeat`` rounds is reported. JAX functions are jit-compiled and warmed up first.
Every library runs with the same number of threads (``--threads``, default 1): the BLAS
and OpenMP pools, PyTorch's intra/inter-op pools and XLA's CPU pool. The environment
variables must be set before NumPy is first imported, hence the top of this file.
"""

from __future__ import annotations

import os
import sys


def _threads_from_argv(argv: list[str], default: int = 1) -> int:
    """``--threads`` read before argparse runs, because it must precede ``import numpy``."""
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return default


THREADS = _threads_from_argv(sys.argv)
for _var in (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
):
    os.environ[_var] = str(THREADS)
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + f" --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={THREADS}"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")  # never probe for accelerators

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import importlib.metadata  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers as P  # noqa: E402
import tracegrad as tg  # noqa: E402

# --- bookkeeping ----------------------------------------------------------------------


@dataclass
class Goal:
    goal: str
    measured: str
    target: str
    passed: bool | None  # None: could not be measured (a peer is missing)


@dataclass
class Run:
    """Settings and what the run found: available peers, mismatches, goals."""

    repeat: int
    min_time: float
    quick: bool
    available: dict[str, str] = field(default_factory=dict)  # library -> version
    missing: dict[str, str] = field(default_factory=dict)  # library -> why
    mismatches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)

    def libraries(self, registry: dict[str, Callable]) -> list[str]:
        ours = (P.HAND, P.TG, P.TG_NN, P.TG_JIT)
        return [lib for lib in registry if lib in ours or lib in self.available]


def detect_peers(run: Run) -> None:
    """Import each peer once; a missing or broken one is skipped with a note."""
    modules = {
        P.MICROGRAD: "micrograd.engine",
        P.AUTOGRAD: "autograd",
        P.TORCH: "torch",
        P.JAX: "jax",
    }
    dists = {P.MICROGRAD: "micrograd", P.AUTOGRAD: "autograd", P.TORCH: "torch", P.JAX: "jax"}
    for lib, mod in modules.items():
        try:
            importlib.import_module(mod)
            run.available[lib] = importlib.metadata.version(dists[lib])
        except Exception as exc:  # ImportError, or a peer that fails on import
            run.missing[lib] = f"{type(exc).__name__}: {exc}"
    if P.TORCH in run.available:
        P.torch_module(THREADS)  # pin its pools before it does any work
    if P.JAX in run.available:
        P.jax_module()


# --- timing -----------------------------------------------------------------------------


def _calibrate(fn: Callable[[], Any], min_time: float) -> int:
    """Calls per timing so that one timing lasts at least ``min_time``."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 >= min_time:
            return n
        n *= 2


def time_interleaved(
    fns: dict[str, Callable[[], Any]], repeat: int, min_time: float, collect: bool = False
):
    """Median seconds per call of each function, timed in interleaved rounds (the order
    rotates each round) so that a burst of background load hits all of them alike.
    ``collect``: collect garbage before each timed batch, so that the cyclic collector's
    work belongs to the library that made the cycles (micrograd's graph of closures), not
    to whichever runs next (W1: micrograd was timed at up to 26 µs/op without it)."""
    for fn in fns.values():
        fn()  # warm-up: JAX compiles here if it has not yet, caches fill
    counts = {k: _calibrate(fn, min_time) for k, fn in fns.items()}
    samples: dict[str, list[float]] = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeat):
        for k in keys[r % len(keys) :] + keys[: r % len(keys)]:
            fn, n = fns[k], counts[k]
            if collect:
                gc.collect()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[k].append((time.perf_counter() - t0) / n)
    return {k: statistics.median(v) for k, v in samples.items()}


# --- building and checking --------------------------------------------------------------


def build(
    run: Run, what: str, registry: dict[str, Callable], *args: Any, libs: Sequence[str] = ()
) -> dict[str, P.Case]:
    """Every available library's case; one that fails to build is skipped loudly."""
    cases = {}
    for lib in libs or run.libraries(registry):
        try:
            cases[lib] = registry[lib](*args)
        except Exception as exc:
            _failed(run, what, lib, exc)
    return cases


def _failed(run: Run, what: str, lib: str, exc: Exception) -> None:
    """A peer that fails is skipped with a note; tracegrad or the floor failing is an
    error as loud as a mismatch."""
    msg = f"{what}: {lib} failed: {type(exc).__name__}: {exc}"
    if lib in (P.TG, P.TG_NN, P.TG_JIT, P.HAND):
        run.mismatches.append(msg)
        print(f"\n!!!!! {msg}\n")
    else:
        run.notes.append(f"{msg} (skipped)")
        print(f"  !! {msg} (skipped)")


def check(
    run: Run,
    what: str,
    cases: dict[str, P.Case],
    reference: str,
    rtol: float = 1e-7,
    atol: float = 1e-9,
) -> dict[str, P.Case]:
    """Compare each library's numbers with ``reference``'s; ``atol`` is relative to the
    largest reference magnitude. Mismatching libraries are reported and still timed."""
    try:
        ref = cases[reference].numbers()
    except Exception as exc:
        run.mismatches.append(f"{what}: reference {reference} failed: {exc!r}")
        print(f"\n!!!!! {what}: REFERENCE {reference} FAILED: {exc!r}\n")
        return cases
    out = {}
    for lib, case in cases.items():
        try:
            got = case.numbers()
        except Exception as exc:
            _failed(run, what, lib, exc)
            continue
        out[lib] = case
        if lib == reference:
            continue
        problem = _compare(got, ref, rtol, atol)
        if problem:
            msg = f"{what}: {lib} disagrees with {reference}: {problem}"
            run.mismatches.append(msg)
            print(f"\n!!!!! MISMATCH {msg}\n")
    return out


def _compare(got: list[np.ndarray], ref: list[np.ndarray], rtol: float, atol: float) -> str:
    if len(got) != len(ref):
        return f"{len(got)} results, expected {len(ref)}"
    for i, (g, r) in enumerate(zip(got, ref)):
        g, r = np.asarray(g, dtype=np.float64), np.asarray(r, dtype=np.float64)
        if g.shape != r.shape:
            return f"result {i} has shape {g.shape}, expected {r.shape}"
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        if not np.allclose(g, r, rtol=rtol, atol=atol * max(scale, 1e-300)):
            err = float(np.max(np.abs(g - r)))
            return f"result {i}: max abs error {err:.3g} (reference scale {scale:.3g})"
    return ""


# --- output -----------------------------------------------------------------------------


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A Markdown table, aligned for the terminal and ready to paste."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    print(f"\n### {title}\n")
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    sys.stdout.flush()


def fmt(t: float | None, scale: float = 1e3, digits: int = 3) -> str:
    if t is None:
        return "–"
    v = t * scale
    return f"{v:.{digits}g}" if v < 10 ** (digits - 1) else f"{v:.0f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a / b


def fmt_ratio(r: float | None) -> str:
    return "–" if r is None else f"{r:.2f}×"


def goal(run: Run, text: str, value: float | None, target: float, unit: str = "×") -> None:
    """A ``value ≤ target`` goal; ``None`` when a needed library was missing."""
    measured = "not measured" if value is None else f"{value:.2f}{unit}"
    passed = None if value is None else value <= target
    run.goals.append(Goal(text, measured, f"≤ {target:g}{unit}", passed))


# --- W1 ---------------------------------------------------------------------------------


def bench_w1(run: Run) -> None:
    n_blocks = 143  # 143 blocks of 7 = 1,001 ops
    n_ops = n_blocks * P.BLOCK
    what = f"W1 chain of {n_ops} ops"
    print(f"\n... {what}", flush=True)
    cases = check(run, what, build(run, what, P.W1, n_blocks), P.HAND, rtol=1e-9, atol=1e-12)
    times = time_interleaved(
        {k: c.run for k, c in cases.items()}, run.repeat, run.min_time, collect=True
    )
    t_tg = times.get(P.TG)
    rows = [
        [lib, fmt(t / n_ops, 1e6), fmt_ratio(t / times[P.HAND]), fmt_ratio(ratio(t_tg, t))]
        for lib, t in times.items()
    ]
    table(
        f"W1: value and gradient of a scalar chain of {n_ops:,} ops, µs per op",
        ["library", "µs / op", "× hand-written floor", "tracegrad / library"],
        rows,
    )
    goal(run, "W1: tracegrad / micrograd", ratio(t_tg, times.get(P.MICROGRAD)), 0.6)
    bench_w1_deep(run)


def bench_w1_deep(run: Run) -> None:
    """The chain of 100,000 ops: no RecursionError, memory linear in its length.

    Peak traced memory of one value_and_grad (tracemalloc, which also sees NumPy's
    buffers) at a quarter, half and all of the length; linear means bytes per op stay
    flat (the largest over the smallest ≤ 1.25)."""
    full = 20_000 if run.quick else 100_000
    lengths = [full // 4, full // 2, full]
    rows, per_op, ok = [], [], True
    for n_ops in lengths:
        n_blocks = n_ops // P.BLOCK
        case = P.w1_tracegrad(n_blocks)
        gc.collect()
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            got = case.numbers()
        except RecursionError as exc:
            tracemalloc.stop()
            ok = False
            run.mismatches.append(f"W1 deep chain of {n_ops} ops: RecursionError {exc}")
            print(f"\n!!!!! W1 deep chain of {n_ops} ops: RecursionError: {exc}\n")
            break
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        problem = _compare(got, list(P.chain_by_hand(0.3, n_blocks)), 1e-8, 1e-12)
        if problem:
            run.mismatches.append(f"W1 deep chain of {n_ops} ops: {problem}")
            print(f"\n!!!!! MISMATCH W1 deep chain of {n_ops} ops: {problem}\n")
        per_op.append(peak / (n_blocks * P.BLOCK))
        rows.append(
            [
                f"{n_blocks * P.BLOCK:,}",
                f"{peak / 2**20:.1f}",
                f"{per_op[-1]:.0f}",
                f"{elapsed:.2f}",
            ]
        )
    table(
        "W1: tracegrad value_and_grad on long chains (one call, under tracemalloc)",
        ["ops", "peak MiB", "bytes / op", "seconds (traced, slower than untraced)"],
        rows,
    )
    growth = max(per_op) / min(per_op) if ok and per_op else None
    run.goals.append(
        Goal(
            f"W1: chain of {full:,} ops, no RecursionError, memory linear "
            "(max/min bytes per op over ¼, ½, 1 of the length)",
            "RecursionError" if not ok else f"{growth:.2f}×",
            "runs; ≤ 1.25×",
            ok and growth is not None and growth <= 1.25,
        )
    )


# --- W2 ---------------------------------------------------------------------------------


def bench_w2(run: Run) -> None:
    """The step is measured three ways: written with tg.nn (fused layer, loss and penalty
    steps, as PyTorch's uses F.cross_entropy) and run eagerly; the same step with
    tg.optim's update compiled by tg.jit (as JAX's is by jax.jit); and the loss written op
    by op with tracegrad.numpy, as for autograd. The goals against the hand-written floor
    are the compiled step's; the goal against PyTorch eager is the eager step's."""
    batches = (32, 256, 1797)
    rows = []
    for dtype in (np.float64, np.float32):
        tol = (1e-7, 1e-7) if dtype == np.float64 else (2e-3, 2e-3)
        name = np.dtype(dtype).name
        for batch in batches:
            what = f"W2 {name} batch {batch}"
            print(f"\n... {what}", flush=True)
            cases = check(run, what, build(run, what, P.W2, batch, dtype), P.HAND, *tol)
            t = time_interleaved({k: c.run for k, c in cases.items()}, run.repeat, run.min_time)
            hand = t.get(P.HAND)
            r_jit = ratio(t.get(P.TG_JIT), hand)
            r_torch = ratio(t.get(P.TG_NN), t.get(P.TORCH))
            rows.append(
                [name, str(batch)]
                + [fmt(t.get(lib)) for lib in (P.HAND, P.TG_JIT, P.TG_NN, P.TG)]
                + [fmt(t.get(lib)) for lib in (P.AUTOGRAD, P.TORCH, P.JAX)]
                + [fmt_ratio(r_jit), fmt_ratio(ratio(t.get(P.TG_NN), hand))]
                + [fmt_ratio(ratio(t.get(P.TG), hand)), fmt_ratio(r_torch)]
            )
            goal(run, f"W2 {name} batch {batch}: tracegrad (tg.jit) / hand", r_jit, 1.10)
            if batch == 32:
                goal(run, f"W2 {name} batch 32: tracegrad (tg.nn, eager) / PyTorch eager",
                     r_torch, 1.0)  # fmt: skip
    table(
        "W2: one SGD step of a 64-256-256-10 tanh MLP (softmax CE + L2, digits), ms",
        ["dtype", "batch", "hand-written", "tracegrad (tg.jit)", "tracegrad (tg.nn)"]
        + ["tracegrad (tnp ops)", "autograd", "torch", "jax (jit)", "tg.jit / hand"]
        + ["tg.nn / hand", "tnp ops / hand", "tg.nn / torch"],
        rows,
    )
    # the cost of a gradient relative to the loss alone
    cases = P.w2_value_and_grad_ratio(256)
    what = "W2 value_and_grad vs forward, batch 256"
    check(run, what, cases, "forward", 1e-10, 1e-12)
    t = time_interleaved({k: c.run for k, c in cases.items()}, run.repeat, run.min_time)
    r_jit, r_tg, r_hand = (t[k] / t["forward"] for k in (P.TG_JIT, P.TG, P.HAND))
    table(
        "W2: time(value_and_grad) / time(forward), float64, batch 256",
        ["forward (NumPy), ms", "tracegrad (tg.jit), ms", "tracegrad (tg.nn), ms"]
        + ["hand-written fwd+bwd, ms", "tg.jit / forward", "tg.nn / forward"]
        + ["hand-written / forward"],
        [
            [fmt(t["forward"]), fmt(t[P.TG_JIT]), fmt(t[P.TG]), fmt(t[P.HAND])]
            + [fmt_ratio(r_jit), fmt_ratio(r_tg), fmt_ratio(r_hand)]
        ],
    )
    goal(run, "W2 batch 256: time(value_and_grad, tg.jit) / time(forward)", r_jit, 2.6)
    run.notes.append(
        f"W2 batch 256: the hand-written forward and backward pass takes {r_hand:.2f}× the "
        "forward alone in this run (the backward pass has about 1.8× the forward's "
        "matrix-product work)"
    )


# --- W3 ---------------------------------------------------------------------------------


def bench_w3(run: Run) -> None:
    big, small = (200, 10) if run.quick else (1000, 10)
    shapes = [  # (mode, n, m): the two, then the crossed pair that shows O(n)/O(m)
        ("fwd", big, small),
        ("rev", small, big),
        ("rev", big, small),
        ("fwd", small, big),
    ]
    rows, times = [], {}
    for mode, n, m in shapes:
        what = f"W3 jac{mode} n={n} m={m}"
        print(f"\n... {what}", flush=True)
        cases = check(run, what, build(run, what, P.W3, n, m, mode), P.HAND)
        t = time_interleaved({k: c.run for k, c in cases.items()}, run.repeat, run.min_time)
        times[(mode, n, m)] = t
        rows.append(
            [f"jac{mode} (n={n}, m={m})"]
            + [fmt(t.get(lib)) for lib in (P.HAND, P.TG, P.AUTOGRAD, P.TORCH, P.JAX)]
            + [fmt_ratio(ratio(t.get(P.TG), t.get(P.TORCH)))]
        )
    table(
        "W3: Jacobian of f(x) = tanh(W x), R^n → R^m, ms",
        ["transform", "by hand (formula)", "tracegrad", "autograd", "torch.func", "jax (jit)"]
        + ["tracegrad / torch"],
        rows,
    )
    t_fwd, t_rev = times[("fwd", big, small)], times[("rev", small, big)]
    goal(run, f"W3: jacfwd n={big} m={small}, tracegrad / torch", _r(t_fwd, P.TG, P.TORCH), 2.0)
    goal(run, f"W3: jacrev n={small} m={big}, tracegrad / torch", _r(t_rev, P.TG, P.TORCH), 2.0)
    # O(n) vs O(m): forward should lose where n ≫ m and win where m ≫ n
    wide = ratio(t_fwd[P.TG], times[("rev", big, small)][P.TG])
    tall = ratio(t_rev[P.TG], times[("fwd", small, big)][P.TG])
    run.goals.append(
        Goal(
            "W3: O(n) vs O(m) visible: jacfwd/jacrev at n≫m and jacrev/jacfwd at m≫n",
            f"{wide:.2f}× / {tall:.2f}×",
            "both > 1×",
            wide > 1 and tall > 1,
        )
    )


def _r(t: dict[str, float], a: str, b: str) -> float | None:
    return ratio(t.get(a), t.get(b))


# --- W4 ---------------------------------------------------------------------------------


def bench_w4(run: Run) -> None:
    n_hvp, n_hess = (300, 50) if run.quick else (1000, 100)
    rows = []
    for kind, n in (("hvp", n_hvp), ("hessian", n_hess)):
        what = f"W4 {kind} n={n}"
        print(f"\n... {what}", flush=True)
        cases = check(run, what, build(run, what, P.W4, n, kind), P.HAND)
        t = time_interleaved({k: c.run for k, c in cases.items()}, run.repeat, run.min_time)
        r_ag, r_torch = _r(t, P.TG, P.AUTOGRAD), _r(t, P.TG, P.TORCH)
        rows.append(
            [f"{kind} (n={n})"]
            + [fmt(t.get(lib)) for lib in (P.HAND, P.TG, P.AUTOGRAD, P.TORCH, P.JAX)]
            + [fmt_ratio(r_ag), fmt_ratio(r_torch)]
        )
        if kind == "hvp":
            goal(run, f"W4: hvp n={n}, tracegrad / autograd", r_ag, 1.0)
        else:
            goal(run, f"W4: hessian n={n}, tracegrad / torch", r_torch, 1.0)
    table(
        "W4: f(x) = ½ xᵀAx + Σ tanh(xᵢ)², A dense: hvp (forward over reverse) and Hessian, ms",
        ["transform", "by hand", "tracegrad", "autograd", "torch.func", "jax (jit)"]
        + ["tracegrad / autograd", "tracegrad / torch"],
        rows,
    )


# --- untraced -------------------------------------------------------------------------


def bench_untraced(run: Run) -> None:
    print("\n... untraced calls", flush=True)
    rows, worst = [], 0.0
    for label, f_np, f_tg in P.untraced_cases():
        if not np.allclose(f_np(), f_tg()):
            run.mismatches.append(f"untraced {label}: tracegrad.numpy differs from NumPy")
            print(f"\n!!!!! MISMATCH untraced {label}\n")
        t = time_interleaved({"np": f_np, "tnp": f_tg}, run.repeat, run.min_time)
        worst = max(worst, t["tnp"] / t["np"])
        rows.append([label, fmt(t["np"], 1e6), fmt(t["tnp"], 1e6), fmt_ratio(t["tnp"] / t["np"])])
    table(
        "U: no transformation active, tracegrad.numpy vs NumPy, µs per call",
        ["call", "numpy", "tracegrad.numpy", "ratio"],
        rows,
    )
    goal(run, "U: untraced tracegrad.numpy / NumPy (worst case)", worst, 1.3)


# --- main -------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.machine()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timings and sizes (< 1 min)")
    parser.add_argument("--only", default="W1,W2,W3,W4,U", help="comma-separated workloads")
    parser.add_argument("--repeat", type=int, default=None, help="timed rounds (default 7)")
    parser.add_argument("--threads", type=int, default=THREADS, help="threads for every library")
    args = parser.parse_args()
    only = {w.strip().upper() for w in args.only.split(",") if w.strip()}
    unknown = only - {"W1", "W2", "W3", "W4", "U"}
    if unknown:
        parser.error(f"unknown workloads: {sorted(unknown)}")
    repeat = args.repeat or (3 if args.quick else 7)
    run = Run(repeat=repeat, min_time=0.01 if args.quick else 0.04, quick=args.quick)
    detect_peers(run)

    print("## tracegrad beside its peers (issue 6)\n")
    print(f"- date: {datetime.date.today().isoformat()}")
    print(f"- machine: {machine()}")
    print(f"- threads: {THREADS} for every library (BLAS/OpenMP env, torch pools, XLA flags)")
    print(f"- command: python {' '.join(['benchmarks/bench_peers.py', *sys.argv[1:]])}")
    versions = [f"Python {platform.python_version()}", f"NumPy {np.__version__}"]
    versions.append(f"tracegrad {tg.__version__}")
    versions += [f"{lib} {v}" for lib, v in run.available.items()]
    print(f"- versions: {', '.join(versions)}")
    print(f"- timings: median of {repeat} interleaved rounds, each ≥ {run.min_time * 1e3:.0f} ms")
    for lib, why in run.missing.items():
        print(f"- NOTE: {lib} is not installed, skipped ({why})")
    if P.MICROGRAD in run.available:
        print("- micrograd: sin/exp/log added in benchmarks/peers.py as micrograd-style ops")

    t0 = time.perf_counter()
    for name, fn in (
        ("W1", bench_w1),
        ("W2", bench_w2),
        ("W3", bench_w3),
        ("W4", bench_w4),
        ("U", bench_untraced),
    ):
        if name in only:
            fn(run)

    rows = []
    for g in run.goals:
        verdict = {True: "pass", False: "FAIL", None: "–"}[g.passed]
        rows.append([g.goal, g.measured, g.target, verdict])
    table("Goals (issue 6)", ["goal", "measured", "target", "result"], rows)
    for note in run.notes:
        print(f"- note: {note}")
    if run.mismatches:
        print("\n!!!!! LIBRARIES DISAGREE OR FAILED:")
        for m in run.mismatches:
            print(f"!!!!!   {m}")
    else:
        print("\nAll libraries computed the same numbers.")
    print(f"Total time {time.perf_counter() - t0:.0f} s.")
    return 1 if run.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
