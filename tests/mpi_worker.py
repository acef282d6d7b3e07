"""The program tests/test_distributed.py starts under ``mpiexec``: one scenario per run.

    python mpi_worker.py exact OUT_DIR     train every case of CASES with comm; each rank
                                           saves its parameters to OUT_DIR/exact-<rank>.npz,
                                           and the error a bad CSV on rank 1 gave it to
                                           OUT_DIR/csv-<rank>.txt
    python mpi_worker.py raise OUT_DIR     rank 1 raises in a callback during training
    python mpi_worker.py hang OUT_DIR      rank 1 stops answering (timeout 2 s)
    python mpi_worker.py kill OUT_DIR      rank 1 is killed (SIGKILL) while ``tracegrad
                                           train --out OUT_DIR/run`` trains

The test suite runs CASES in its own process without MPI (``run_case(name, None)``) and
compares.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

import numpy as np

import tracegrad as tg
from tracegrad import nn
from tracegrad.datasets import DataFileError, load_csv
from tracegrad.train.distributed import Communicator


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.3).astype(np.intp) + (X[:, 2] > 1.0)
    return X, y


def _mlp(seed: int = 1) -> Any:
    return nn.MLP([3, 8, 3], ["tanh", "identity"], rng=seed)


def _bn_net(seed: int = 1) -> Any:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(3, 6, rng=rng), nn.BatchNorm(6), "relu", nn.Linear(6, 3, rng=rng)
    )


#: name -> fit's arguments; each trains 20 steps (or a few more for BatchNorm)
CASES: dict[str, dict[str, Any]] = {
    "full_batch": dict(n=30, batch_size=None, max_epochs=20),
    "mini_batch": dict(n=40, batch_size=8, max_epochs=4, optimizer="adam"),
    "igd": dict(n=10, batch_size=1, max_epochs=2, momentum=0.9),
    "weighted_sse_l2": dict(n=25, batch_size=7, max_epochs=5, loss="sse", weighted=True),
    # 22 samples in batches of 4: the last batch has 2, so on 3 ranks one shard is empty
    "batch_norm": dict(n=22, batch_size=4, max_epochs=4, net="bn"),
}


def run_case(name: str, comm: Any) -> list[np.ndarray]:
    """Train case ``name`` (with ``comm``, or in one process for ``None``); the
    parameters after training, and the BatchNorm running statistics where there are."""
    case = dict(CASES[name])
    X, y = _data(case.pop("n"))
    net = case.pop("net", "mlp")
    model = _bn_net() if net == "bn" else _mlp()
    loss = case.pop("loss", "cross_entropy")
    if loss == "sse":
        y = np.eye(3)[y]
    weights = np.linspace(0.0, 2.0, len(X)) if case.pop("weighted", False) else None
    opt = (
        tg.optim.Adam(0.01)
        if case.pop("optimizer", "sgd") == "adam"
        else tg.optim.SGD(0.05, momentum=case.pop("momentum", 0.0))
    )
    penalty = (lambda m, n_batch: nn.l2_penalty(m, 0.1 / n_batch)) if weights is not None else None
    model, history = tg.fit(
        model,
        loss,
        X,
        y,
        opt,
        seed=3,
        penalty=penalty,
        sample_weight=weights,
        progress=False,
        comm=comm,
        **case,
    )
    leaves = [np.asarray(p) for p in tg.tree.leaves(model)]
    buffers = [np.asarray(v) for v in model.state().values()]
    return [*leaves, *buffers, np.array([history.steps], dtype=np.float64)]


def exact(comm: Communicator, out: str) -> None:
    arrays = {}
    for name in CASES:
        for i, a in enumerate(run_case(name, comm)):
            arrays[f"{name}/{i}"] = a
    sk = tg.sklearn.MLPClassifier(
        (6,), solver="sgd", batch_size=5, max_iter=3, random_state=0, comm=comm
    )
    X, y = _data(23, seed=5)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk.fit(X, y)
    arrays["sklearn/coef"] = np.concatenate([c.ravel() for c in sk.coefs_])
    np.savez(os.path.join(out, f"exact-{comm.rank}.npz"), **arrays)
    # bad input on one rank: rank 1's CSV shard does not parse; every rank gets its error
    path = os.path.join(out, f"shard-{comm.rank}.csv")
    with open(path, "w") as f:
        f.write("a,b,label\n1,2,0\n3,4,1\n" + ("5,x,0\n" if comm.rank == 1 else "5,6,0\n"))
    try:
        comm.run_agreed(lambda: load_csv(path), (DataFileError,), "reading the data")
        message = "no error"
    except DataFileError as e:
        message = f"DataFileError: {e}"
    with open(os.path.join(out, f"csv-{comm.rank}.txt"), "w") as f:
        f.write(message)


def faulty(comm: Communicator, how: str) -> None:
    def callback(epoch: int, logs: dict, model: Any) -> None:
        if comm.rank == 1 and epoch == 3:
            if how == "raise":
                raise RuntimeError("a bug on rank 1")
            time.sleep(3600)  # hang

    X, y = _data(40)
    tg.fit(
        _mlp(),
        "cross_entropy",
        X,
        y,
        batch_size=8,
        max_epochs=1000,
        callbacks=[callback],
        comm=comm,
        progress=False,
    )


def kill(out: str) -> int:
    from tracegrad.cli import main

    if comm_rank() == 1:  # dies abruptly in the middle of training
        threading.Timer(4.0, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
    return main(
        ["train", "--data", "moons", "--hidden", "32", "--batch-size", "4", "--epochs", "100000",
         "--tol", "0", "--quiet", "--out", os.path.join(out, "run")]
    )  # fmt: skip


def comm_rank() -> int:
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank()


def main() -> int:
    scenario, out = sys.argv[1], sys.argv[2]
    if scenario == "kill":
        return kill(out)
    from mpi4py import MPI

    comm = Communicator(MPI.COMM_WORLD, timeout=2.0 if scenario == "hang" else 60.0)
    if scenario == "exact":
        exact(comm, out)
    else:
        faulty(comm, scenario)
    return 0


if __name__ == "__main__":
    sys.exit(main())
