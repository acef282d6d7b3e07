"""tracegrad beside its peers: the side-by-side benchmark of issues 6 and 12.

    python benchmarks/bench_peers.py [--quick] [--only W1,W2,...|issue6|issue12] [--repeat N]
                                     [--threads T]
    python benchmarks/bench_peers.py --threads 2 --only issue12   # issue 12's rows, its setting

Runs the workloads of :mod:`peers` for tracegrad, a hand-written floor and every peer
that is installed (micrograd, autograd, PyTorch, JAX); a missing peer is skipped with a
note. Issue 6's workloads (``--only issue6``): W1 scalar chain, W2 MLP SGD step, W3
Jacobians, W4 second order, U untraced calls. Issue 12's (``--only issue12``): the code a
user writes op by op, eager and under ``tg.jit``: W1U, W2U, W3U, W4U. Every library's
numbers are checked against the reference (hand-written where there is one), a mismatch
is printed loudly and makes the exit status 1. Prints one Markdown table per workload
(medians, and the ratios the goals name) and a final table of each issue's goals with
pass/fail. A ``tg.jit`` column whose function fell back to running eagerly
(``JitFallbackWarning``) is measured as it ran and marked ``*``.

Timing: each call is looped until one timing lasts ``min_time``; the libraries of one row
are then timed in interleaved rounds (so background load hits them alike) and the median
of ``--repeat`` rounds is reported. JAX functions are jit-compiled and warmed up first.
Every library runs with the same number of threads (``--threads``, default 1; issue 12's
goals are set with 2): the BLAS and OpenMP pools, PyTorch's intra/inter-op pools and XLA's
CPU pool. The environment variables must be set before NumPy is first imported, hence the
top of this file.
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
import contextlib  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import importlib.metadata  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
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
    issue: int = 6


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
        return [lib for lib in registry if lib in P.OURS or lib in self.available]


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
    if lib in P.OURS:
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


def goal(
    run: Run, text: str, value: float | None, target: float, unit: str = "×", issue: int = 6
) -> None:
    """A ``value ≤ target`` goal; ``None`` when a needed library was missing."""
    measured = "not measured" if value is None else f"{value:.2f}{unit}"
    passed = None if value is None else value <= target
    run.goals.append(Goal(text, measured, f"≤ {target:g}{unit}", passed, issue))


@dataclass
class JitWatch:
    """What :func:`watch_jit` saw: whether a tg.jit function of the row ran eagerly."""

    fell_back: bool = False


@contextlib.contextmanager
def watch_jit(run: Run, what: str) -> Iterator[JitWatch]:
    """Notes every ``JitFallbackWarning`` raised while a row is built, checked and timed
    (a tg.jit function that cannot be replayed runs eagerly and warns on its first call):
    the row is still measured as it ran, and its tg.jit cells are marked. Other warnings
    pass through."""
    watch = JitWatch()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", tg.JitFallbackWarning)
        yield watch
    seen: list[str] = []
    for w in caught:
        if issubclass(w.category, tg.JitFallbackWarning):
            if str(w.message) not in seen:
                seen.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for msg in seen:
        watch.fell_back = True
        note = f"{what}: tg.jit fell back to eager (measured as it ran): {msg}"
        run.notes.append(note)
        print(f"  !! {note}")


def fmt_jit(t: float | None, watch: JitWatch, scale: float = 1e3) -> str:
    """A tg.jit time, marked ``*`` where the function ran eagerly instead of replaying."""
    return fmt(t, scale) + ("*" if watch.fell_back and t is not None else "")


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


def _w2_grid() -> Iterator[tuple[Any, str, tuple[float, float], int]]:
    """W2's rows: ``(dtype, its name, (rtol, atol) of the check, batch)``."""
    for dtype in (np.float64, np.float32):
        tol = (1e-7, 1e-7) if dtype == np.float64 else (2e-3, 2e-3)
        for batch in (32, 256, 1797):
            yield dtype, np.dtype(dtype).name, tol, batch


def bench_w2(run: Run) -> None:
    """The step is measured three ways: written with tg.nn (fused layer, loss and penalty
    steps, as PyTorch's uses F.cross_entropy) and run eagerly; the same step with
    tg.optim's update compiled by tg.jit (as JAX's is by jax.jit); and the loss written op
    by op with tracegrad.numpy, as for autograd. The goals against the hand-written floor
    are the compiled step's; the goal against PyTorch eager is the eager step's."""
    rows = []
    for dtype, name, tol, batch in _w2_grid():
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
    shapes = [  # (mode, n, m): the issue's two, then the crossed pair that shows O(n)/O(m)
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


# --- issue 12: the code users write, op by op, eager and under tg.jit -------------------


def _time_row(run: Run, cases: dict[str, P.Case], collect: bool = False) -> dict[str, float]:
    return time_interleaved(
        {k: c.run for k, c in cases.items()}, run.repeat, run.min_time, collect=collect
    )


def bench_w1u(run: Run) -> None:
    """W1 with a Python float and with a 0-d array as input, eager and compiled; JAX and
    PyTorch get a 0-d float64 array or tensor as before, micrograd a float."""
    n_blocks = 143
    n_ops = n_blocks * P.BLOCK
    what = f"W1U chain of {n_ops} ops, float and 0-d array inputs"
    print(f"\n... {what}", flush=True)
    with watch_jit(run, what) as watch:
        cases = build(run, what, P.W1U, n_blocks)
        cases = check(run, what, cases, P.HAND, rtol=1e-9, atol=1e-12)
        t = _time_row(run, cases, collect=True)
    floor, micro = t.get(P.HAND), t.get(P.MICROGRAD)
    inputs = {P.HAND: "float", P.TG: "float", P.TG_0D: "0-d array", P.TG_JIT: "float"}
    inputs |= {P.TG_JIT_0D: "0-d array", P.MICROGRAD: "float", P.TORCH: "0-d tensor"}
    inputs[P.JAX] = "0-d array (jit)"
    rows = []
    for lib, v in t.items():
        jit = lib in (P.TG_JIT, P.TG_JIT_0D)
        cell = fmt_jit(v / n_ops, watch, 1e6) if jit else fmt(v / n_ops, 1e6)
        rows.append(
            [lib, inputs[lib], cell, fmt_ratio(ratio(v, floor)), fmt_ratio(ratio(v, micro))]
        )
    table(
        f"W1U: value and gradient of a scalar chain of {n_ops:,} ops, float and 0-d inputs, "
        "µs per op",
        ["library", "input", "µs / op", "× Python-float floor", "/ micrograd"],
        rows,
    )
    for lib, label in ((P.TG, "Python float"), (P.TG_0D, "0-d array")):
        goal(run, f"W1: tracegrad eager ({label}) / micrograd", ratio(t.get(lib), micro), 0.6,
             issue=12)  # fmt: skip
    for lib, label in ((P.TG_JIT, "Python float"), (P.TG_JIT_0D, "0-d array")):
        goal(run, f"W1: tracegrad tg.jit ({label}) / Python-float floor",
             ratio(t.get(lib), floor), 3.0, issue=12)  # fmt: skip


def bench_w2u(run: Run) -> None:
    """The W2 step with the loss written op by op and the step ``value_and_grad`` +
    ``p - lr * g``: eager, under tg.jit, and the peers' same code; the NumPy forward is
    timed in the same rounds for time(step) / time(forward)."""
    rows = []
    for dtype, name, tol, batch in _w2_grid():
        what = f"W2U {name} batch {batch} (op by op)"
        print(f"\n... {what}", flush=True)
        with watch_jit(run, what) as watch:
            cases = build(run, what, P.W2U, batch, dtype)
            forward = cases.pop(P.FORWARD, None)
            cases = check(run, what, cases, P.HAND, *tol)
            if forward is not None:  # its numbers are the loss alone
                _check_forward(run, what, forward, cases.get(P.HAND), tol)
                cases[P.FORWARD] = forward
            t = _time_row(run, cases)
        hand, fwd, jit, eager = (t.get(k) for k in (P.HAND, P.FORWARD, P.TG_JIT, P.TG))
        r_jit, r_jax = ratio(jit, hand), ratio(jit, t.get(P.JAX))
        r_torch, r_eager = ratio(eager, t.get(P.TORCH)), ratio(eager, hand)
        r_fwd = ratio(jit, fwd)
        rows.append(
            [name, str(batch), fmt(hand), fmt(fwd), fmt(eager), fmt_jit(jit, watch)]
            + [fmt(t.get(lib)) for lib in (P.AUTOGRAD, P.TORCH, P.JAX)]
            + [fmt_ratio(r) for r in (r_jit, r_jax, r_eager, r_torch, r_fwd)]
            + [fmt_ratio(ratio(hand, fwd))]
        )
        label = f"W2 op by op, {name} batch {batch}"
        goal(run, f"{label}: tg.jit / hand-written", r_jit, 1.05, issue=12)
        if batch == 32:
            goal(run, f"{label}: tg.jit / JAX jit", r_jax, 1.0, issue=12)
        if batch == 256 and dtype == np.float64:
            goal(run, f"{label}: time(tg.jit step) / time(NumPy forward)", r_fwd, 2.5,
                 issue=12)  # fmt: skip
            run.notes.append(
                f"{label}: the hand-written step takes {ratio(hand, fwd) or 0:.2f}× the "
                "NumPy forward in this run (the floor of the time(step)/time(forward) goal)"
            )
        if batch in (32, 256):
            goal(run, f"{label}: tracegrad eager / PyTorch eager", r_torch, 0.8, issue=12)
        else:
            goal(run, f"{label}: tracegrad eager / hand-written", r_eager, 1.05, issue=12)
    table(
        "W2U: one SGD step, loss written op by op (logsumexp(z) - Σ Y·z, mean, + λ·Σ W·W), "
        "64-256-256-10 tanh MLP, digits, ms",
        ["dtype", "batch", "hand-written step", "NumPy forward", "tracegrad eager"]
        + ["tracegrad tg.jit", "autograd", "torch eager", "jax jit", "tg.jit / hand"]
        + ["tg.jit / jax", "eager / hand", "eager / torch", "tg.jit / forward"]
        + ["hand / forward"],
        rows,
    )


def _check_forward(
    run: Run, what: str, forward: P.Case, hand: P.Case | None, tol: tuple[float, float]
) -> None:
    """The NumPy forward computes the hand-written step's loss (before its update)."""
    if hand is None:
        return
    problem = _compare(forward.numbers(), hand.numbers()[:1], *tol)
    if problem:
        msg = f"{what}: NumPy forward disagrees with the hand-written loss: {problem}"
        run.mismatches.append(msg)
        print(f"\n!!!!! MISMATCH {msg}\n")


def bench_w3u(run: Run) -> None:
    big, small = (200, 10) if run.quick else (1000, 10)
    rows, times = [], {}
    for mode in ("fwd", "rev"):
        for n, m in ((small, big), (big, small)):
            what = f"W3U jac{mode} n={n} m={m}"
            print(f"\n... {what}", flush=True)
            with watch_jit(run, what) as watch:
                cases = check(run, what, build(run, what, P.W3U, n, m, mode), P.HAND)
                t = _time_row(run, cases)
            times[(mode, n, m)] = t
            rows.append(
                [f"jac{mode} (n={n}, m={m})", fmt(t.get(P.HAND)), fmt(t.get(P.TG))]
                + [fmt_jit(t.get(P.TG_JIT), watch), fmt(t.get(P.TORCH)), fmt(t.get(P.JAX))]
                + [fmt_ratio(_r(t, P.TG, P.TORCH)), fmt_ratio(_r(t, P.TG_JIT, P.JAX))]
            )
            goal(run, f"W3 tanh(Ax)·(Bx): jac{mode} n={n} m={m}, tracegrad eager / torch.func",
                 _r(t, P.TG, P.TORCH), 1.0, issue=12)  # fmt: skip
    table(
        "W3U: Jacobian of f(x) = tanh(A x) * (B x), R^n → R^m, ms",
        ["transform", "by hand (formula)", "tracegrad eager", "tracegrad tg.jit", "torch.func"]
        + ["jax jit", "eager / torch", "tg.jit / jax"],
        rows,
    )
    goal(run, f"W3 tanh(Ax)·(Bx): jacrev n={small} m={big}, tracegrad tg.jit / JAX jit",
         _r(times[("rev", small, big)], P.TG_JIT, P.JAX), 1.5, issue=12)  # fmt: skip


def bench_w4u(run: Run) -> None:
    n_hvp, n_hess = (300, 50) if run.quick else (1000, 100)
    rows = []
    for kind, n in (("hvp", n_hvp), ("hessian", n_hess)):
        what = f"W4U {kind} n={n}"
        print(f"\n... {what}", flush=True)
        with watch_jit(run, what) as watch:
            cases = check(run, what, build(run, what, P.W4U, n, kind), P.HAND)
            t = _time_row(run, cases)
        r_jax = _r(t, P.TG_JIT, P.JAX)
        rows.append(
            [f"{kind} (n={n})", fmt(t.get(P.HAND)), fmt(t.get(P.TG))]
            + [fmt_jit(t.get(P.TG_JIT), watch), fmt(t.get(P.JAX)), fmt_ratio(r_jax)]
        )
        goal(run, f"W4: {kind} n={n}, tracegrad tg.jit / JAX jit", r_jax, 1.2, issue=12)
    table(
        "W4U: f(x) = ½ xᵀAx + Σ tanh(xᵢ)², hvp (forward over reverse) and Hessian under jit, ms",
        ["transform", "by hand", "tracegrad eager", "tracegrad tg.jit", "jax jit"]
        + ["tg.jit / jax"],
        rows,
    )


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


SECTIONS: dict[str, Callable[[Run], None]] = {
    "W1": bench_w1,
    "W2": bench_w2,
    "W3": bench_w3,
    "W4": bench_w4,
    "U": bench_untraced,
    "W1U": bench_w1u,
    "W2U": bench_w2u,
    "W3U": bench_w3u,
    "W4U": bench_w4u,
}
GROUPS = {
    "ISSUE6": ("W1", "W2", "W3", "W4", "U"),
    "ISSUE12": ("W1U", "W2U", "W3U", "W4U"),
}
GROUPS["ALL"] = GROUPS["ISSUE6"] + GROUPS["ISSUE12"]
ISSUE12_THREADS = 2  # the setting of issue 12's measurements


def selection(text: str) -> list[str]:
    """``--only``: workloads and groups (``issue6``, ``issue12``, ``all``), in run order."""
    chosen: set[str] = set()
    for w in (w.strip().upper() for w in text.split(",") if w.strip()):
        if w not in SECTIONS and w not in GROUPS:
            names = ", ".join([*SECTIONS, *(g.lower() for g in GROUPS)])
            raise ValueError(f"unknown workload {w!r} (choose from {names})")
        chosen.update(GROUPS.get(w, (w,)))
    return [w for w in SECTIONS if w in chosen]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timings and sizes (< 1 min)")
    parser.add_argument(
        "--only",
        default="all",
        help="comma-separated workloads (W1,W2,W3,W4,U,W1U,W2U,W3U,W4U) or groups "
        "(issue6, issue12, all; default all)",
    )
    parser.add_argument("--repeat", type=int, default=None, help="timed rounds (default 7)")
    parser.add_argument(
        "--threads",
        type=int,
        default=THREADS,
        help=f"threads for every library (default 1; issue 12's setting: {ISSUE12_THREADS})",
    )
    args = parser.parse_args()
    try:
        only = selection(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    repeat = args.repeat or (3 if args.quick else 7)
    run = Run(repeat=repeat, min_time=0.01 if args.quick else 0.04, quick=args.quick)
    detect_peers(run)

    print("## tracegrad beside its peers (issues 6 and 12)\n")
    print(f"- date: {datetime.date.today().isoformat()}")
    print(f"- machine: {machine()}")
    print(f"- threads: {THREADS} for every library (BLAS/OpenMP env, torch pools, XLA flags)")
    if THREADS != ISSUE12_THREADS and set(only) & set(GROUPS["ISSUE12"]):
        run.notes.append(
            f"issue 12's rows ran with {THREADS} thread(s); its goals are set with "
            f"{ISSUE12_THREADS} (--threads {ISSUE12_THREADS})"
        )
    if THREADS > 1 and (os.cpu_count() or 1) < 2 * THREADS:
        # seen on 2 cores: torch's step took 3.6 ms alone and 10 ms right after NumPy's
        run.notes.append(
            f"{THREADS} threads on {os.cpu_count()} CPUs: a library's worker threads keep "
            "spinning for a while after its calls and slow the library timed next; read "
            f"ratios across libraries from a machine with at least {2 * THREADS} idle CPUs"
        )
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
    for name in only:
        SECTIONS[name](run)

    for issue in sorted({g.issue for g in run.goals}):
        rows = []
        for g in run.goals:
            if g.issue == issue:
                verdict = {True: "pass", False: "FAIL", None: "–"}[g.passed]
                rows.append([g.goal, g.measured, g.target, verdict])
        table(f"Goals (issue {issue})", ["goal", "measured", "target", "result"], rows)
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
