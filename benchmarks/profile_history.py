"""Where the time per traced operation goes, for several commits, measured in one run.

    python benchmarks/profile_history.py [--rounds N] [COMMIT ...]    (default: HEAD)

Each commit is checked out into a temporary git worktree and measured in its own
subprocess (same interpreter, same NumPy, 1 BLAS thread); the commits are visited in
turn for ``--rounds`` rounds (default 3) and each figure is the smallest seen, so that
a slow spell of the shared machine does not decide a row. For the scalar chain of
bench_core (1,001 ops) it splits a gradient into

- op: evaluating the operations themselves (tracegrad.numpy on plain values),
- recording: what a traced evaluation adds to that (boxing, dispatch to the trace,
  appending the step to the tape),
- sweep: the backward pass over the tape (rules, unbroadcasting, accumulation),

in µs per operation, and gives the same split in ms for one value-and-gradient of the
64-256-256-10 tanh MLP at batch 32 and 256 written with tracegrad.numpy operations, and
the time of one value-and-gradient of the same network written with ``tg.nn`` (``MLP``,
``cross_entropy``, ``l2_penalty``), and of a tiny one (4-3-3-2, batch 2) whose time is
the fixed cost of a step; then the same three under ``tg.jit`` (commits that have it),
and issue 12's training step written op by op with tracegrad.numpy under ``tg.jit`` at
batch 32, 256 and 1797.

    python benchmarks/profile_history.py --bench-core [--rounds N] COMMIT ...

runs each commit's own ``bench_core.py`` in the same way instead and gives every row of
it per commit, with the last commit's figure over the first's (whether a change made
the per-operation cost of tracing worse).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs inside the worktree's subprocess; prints one JSON line.
_PROBE = r"""
import json, sys, timeit, math
import numpy as np
import tracegrad.numpy as tnp
from tracegrad.core.reverse import record, backward

def chain(x, n, lib):
    y = x
    for _ in range(n):
        y = lib.sqrt(lib.log(lib.exp(lib.sin(y) * x) + 1.0)) + x
    return y

def best(fn, number):
    return min(timeit.repeat(fn, number=number, repeat=7)) / number

def tape_of(r):
    return r[2].tape if hasattr(r[2], "tape") else r[2]

out = {}
n_blocks, n_ops = 143, 143 * 7
f = lambda z: [chain(z, n_blocks, tnp)]
r = record(f, [0.3]); tape = tape_of(r); idx = r[1][0]
op = best(lambda: chain(0.3, n_blocks, tnp), 20)
rec = best(lambda: record(f, [0.3]), 20)
swp = best(lambda: backward(tape, [(idx, 1.0)], 1), 20)
out["chain"] = [op / n_ops * 1e6, (rec - op) / n_ops * 1e6, swp / n_ops * 1e6]

rng = np.random.default_rng(0)
sizes = (64, 256, 256, 10)
params = []
for m, k in zip(sizes[:-1], sizes[1:]):
    params += [rng.standard_normal((m, k)) / np.sqrt(m), np.zeros(k)]

def loss(W1, b1, W2, b2, W3, b3, X, Y, lib):
    h1 = lib.tanh(X @ W1 + b1)
    h2 = lib.tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    m = np.max(z.value if hasattr(z, "value") else z, axis=1, keepdims=True)
    lse = lib.log(lib.sum(lib.exp(z - m), axis=1, keepdims=True)) + m
    return lib.sum(Y * (lse - z)) / X.shape[0]

for batch in (32, 256):
    X = rng.standard_normal((batch, 64))
    Y = np.eye(10)[rng.integers(0, 10, batch)]
    g = lambda *p: [loss(*p, X, Y, tnp)]
    r = record(g, params); tape = tape_of(r); idx = r[1][0]
    op = best(lambda: loss(*params, X, Y, np), 30)
    rec = best(lambda: record(g, params), 30)
    swp = best(lambda: backward(tape, [(idx, np.float64(1.0))], len(params)), 30)
    out[f"mlp{batch}"] = [op * 1e3, (rec - op) * 1e3, swp * 1e3]

# the same network with tracegrad's layers, loss and penalty: one value-and-gradient
import tracegrad as tg
for batch in (32, 256):
    X = rng.standard_normal((batch, 64))
    labels = rng.integers(0, 10, batch)
    model = tg.nn.MLP(sizes, "tanh", rng=0)
    def nn_loss(m):
        return tg.nn.cross_entropy(m(X), labels) + tg.nn.l2_penalty(m, 2e-4)
    vg = tg.value_and_grad(nn_loss)
    out[f"nn{batch}"] = [best(lambda: vg(model), 30) * 1e3]

# a tiny network (4-3-3-2, batch 2): the NumPy work is negligible, what is left is the
# fixed cost of a step (boxing, dispatch, tape, sweep, pytree handling), in µs
Xs, ls = rng.standard_normal((2, 4)), np.array([0, 1])
tiny = tg.nn.MLP((4, 3, 3, 2), "tanh", rng=0)
vg_tiny = tg.value_and_grad(
    lambda m: tg.nn.cross_entropy(m(Xs), ls) + tg.nn.l2_penalty(m, 2e-4)
)
out["tiny"] = [best(lambda: vg_tiny(tiny), 300) * 1e6]

# the same value-and-gradients compiled with tg.jit (commits that have it): b32 / b256 in
# ms, tiny in µs
if hasattr(tg, "jit"):
    jit_vg = tg.jit(tg.value_and_grad(lambda m, X, y: tg.nn.cross_entropy(m(X), y)
                                      + tg.nn.l2_penalty(m, 2e-4)))
    timed = []
    for batch in (32, 256):
        X = rng.standard_normal((batch, 64))
        labels = rng.integers(0, 10, batch)
        model = tg.nn.MLP(sizes, "tanh", rng=0)
        jit_vg(model, X, labels)
        timed.append(best(lambda: jit_vg(model, X, labels), 30) * 1e3)
    jit_vg(tiny, Xs, ls)
    out["jit"] = timed + [best(lambda: jit_vg(tiny, Xs, ls), 300) * 1e6]

    # issue 12's step as a user writes it, op by op, under tg.jit: b32 / b256 / b1797, ms
    def user_loss(params, X, Y):
        W1, b1, W2, b2, W3, b3 = params
        z = tnp.tanh(tnp.tanh(X @ W1 + b1) @ W2 + b2) @ W3 + b3
        data = tnp.mean(tnp.logsumexp(z, axis=1) - tnp.sum(Y * z, axis=1))
        return data + 1e-4 * (tnp.sum(W1 * W1) + tnp.sum(W2 * W2) + tnp.sum(W3 * W3))

    def user_step(params, X, Y):
        value, grads = tg.value_and_grad(user_loss)(params, X, Y)
        return value, [p - 0.1 * g for p, g in zip(params, grads)]

    timed = []
    for batch in (32, 256, 1797):
        X = rng.standard_normal((batch, 64))
        Y = np.eye(10)[rng.integers(0, 10, batch)]
        step = tg.jit(user_step)
        step(params, X, Y)
        step(params, X, Y)
        timed.append(best(lambda: step(params, X, Y), max(3, 3000 // batch)) * 1e3)
    out["user"] = timed
print(json.dumps(out))
"""


def probe(tree: str, cwd: str) -> dict:
    """One run of the probe on the checkout at ``tree``, in its own interpreter."""
    env = dict(
        os.environ,
        PYTHONPATH=os.path.join(tree, "src"),
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def probe_core(tree: str, cwd: str) -> dict:
    """One run of the checkout's own ``benchmarks/bench_core.py``: ``{row: [value]}``, rows
    named ``section: label`` in the order printed."""
    env = dict(os.environ, PYTHONPATH=os.path.join(tree, "src"))
    script = os.path.join(tree, "benchmarks", "bench_core.py")
    proc = subprocess.run(
        [sys.executable, script, "--repeat", "3"],
        env=env, cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows: dict = {}
    lines = proc.stdout.splitlines()
    section = ""
    for line, following in zip(lines, [*lines[1:], ""]):
        if following.startswith("---"):
            section = line.split(":")[0].strip()
        elif "  " in line.strip() and not line.startswith("-"):
            label, value = line.rsplit(None, 1)[0].rsplit("  ", 1)[0], line.split()
            number = next(float(v) for v in reversed(value) if _is_number(v))
            rows[f"{section}: {label.strip()}"] = [number]
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def measure(commits: list[str], rounds: int, run: Callable[[str, str], dict] = probe) -> list[dict]:
    """Each commit's figures (``run``: a probe), the smallest over ``rounds`` rounds that
    visit the commits in turn (a process that lands on a slow spell of the shared machine
    does not decide)."""
    with tempfile.TemporaryDirectory() as tmp:
        trees = [os.path.join(tmp, f"tree{i}") for i in range(len(commits))]
        for tree, commit in zip(trees, commits):
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", tree, commit],
                check=True,
            )
        try:
            best: list[dict] = [{} for _ in commits]
            for _ in range(rounds):
                for b, tree in zip(best, trees):
                    for k, vs in run(tree, tmp).items():
                        b[k] = vs if k not in b else [min(u, v) for u, v in zip(b[k], vs)]
            return best
        finally:
            for tree in trees:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", tree], check=True
                )


def main() -> None:
    args = sys.argv[1:]
    rounds, core = 3, False
    while args[:1] in (["--rounds"], ["--bench-core"]):
        if args[0] == "--rounds":
            rounds, args = int(args[1]), args[2:]
        else:
            core, args = True, args[1:]
    commits = args or ["HEAD"]
    labels = [
        subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s", c],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()[:60]
        for c in commits
    ]
    if core:
        results = measure(commits, rounds, probe_core)
        print(
            "| bench_core row | " + " | ".join(label[:7] for label in labels) + " | last / first |"
        )
        print("|---" * (len(commits) + 2) + "|")
        for row in results[0]:
            values = [r.get(row, [float("nan")])[0] for r in results]
            cells = " | ".join(f"{v:.3f}" for v in values)
            print(f"| {row} | {cells} | {values[-1] / values[0]:.3f} |")
        return
    rows = list(zip(labels, measure(commits, rounds)))
    print(
        "| commit | chain: op / recording / sweep, µs per op "
        "| MLP b32: op / recording / sweep, ms | MLP b256: op / recording / sweep, ms "
        "| tg.nn MLP value_and_grad, b32 / b256, ms | tg.nn tiny value_and_grad, µs "
        "| tg.jit of it: b32 / b256, ms; tiny, µs "
        "| tg.jit of the op-by-op step (issue 12): b32 / b256 / b1797, ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, m in rows:
        cells = [" / ".join(f"{v:.2f}" for v in m[k]) for k in ("chain", "mlp32", "mlp256")]
        cells.append(f"{m['nn32'][0]:.3f} / {m['nn256'][0]:.2f}")
        cells.append(f"{m['tiny'][0]:.0f}")
        jit = m.get("jit")
        cells.append("–" if jit is None else f"{jit[0]:.3f} / {jit[1]:.2f}; {jit[2]:.0f}")
        user = m.get("user")
        cells.append("–" if user is None else " / ".join(f"{v:.3g}" for v in user))
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
