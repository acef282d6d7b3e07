"""``tg.fit``: the training loop (full batch, mini-batch, IGD) on the public transforms."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

import tracegrad.numpy as tnp
from tracegrad.core import tree
from tracegrad.core.backend import device_module, to_device, to_host
from tracegrad.core.primitive import ShapeError
from tracegrad.nn.init import as_generator
from tracegrad.nn.losses import get_loss
from tracegrad.nn.module import Module
from tracegrad.optim.sgd import SGD
from tracegrad.train.callbacks import Callback, as_callback
from tracegrad.train.distributed import DataParallelStep, as_communicator
from tracegrad.train.history import History
from tracegrad.train.metrics import get_metric
from tracegrad.train.progress import make_progress
from tracegrad.transforms import jit as compile_step
from tracegrad.transforms import value_and_grad

__all__ = ["NonFiniteLossError", "TrainingInterrupted", "fit"]


class NonFiniteLossError(FloatingPointError):
    """The training loss of a step became infinite or NaN (a learning rate too large,
    inputs too large, a loss undefined at the data). ``epoch`` (1-based), ``step``
    (1-based over the whole run) and ``value`` say where; the model is left as it was
    before that step."""

    def __init__(self, epoch: int, step: int, value: float) -> None:
        super().__init__(
            f"the training loss became {value} in epoch {epoch}, step {step} (try a "
            "smaller learning rate, or scale the inputs)"
        )
        self.epoch = epoch
        self.step = step
        self.value = value


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (``KeyboardInterrupt``) during ``tg.fit``. ``model`` and ``history`` are
    the run as it stood at the end of the last completed epoch, a consistent pair (the
    optimiser and random states in ``history`` included): save them, or continue with
    ``fit(model, ..., resume=history)``. Not caught, it ends the program as Ctrl-C does."""

    def __init__(self, model: Module, history: History) -> None:
        super().__init__(f"training interrupted after epoch {history.epochs}")
        self.model = model
        self.history = history


def _param_dtype(model: Module) -> np.dtype:
    params = tree.leaves(model)
    return np.result_type(*params) if params else np.dtype(np.float64)


def _as_inputs(X: Any, model: Module) -> np.ndarray:
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(_param_dtype(model))  # integer features: compute in the model's dtype
    return X


def _split(
    X: np.ndarray,
    y: np.ndarray,
    fraction: float,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fit: validation_split must be in (0, 1), got {fraction}")
    n = len(X)
    n_val = int(round(n * fraction))
    if n_val < 1 or n_val >= n:
        raise ValueError(
            f"fit: validation_split={fraction} of {n} samples leaves {n_val} for validation "
            f"and {n - n_val} for training; both need at least one"
        )
    # a random split: data sets such as Iris are sorted by class, so Keras' "last
    # fraction" would validate on one class only
    perm = rng.permutation(n)
    val, tr = perm[:n_val], perm[n_val:]
    return X[tr], y[tr], X[val], y[val], None if weights is None else weights[tr]


def _precheck(model: Module, loss_fn: Callable, X: np.ndarray, y: np.ndarray, what: str) -> None:
    """Fail early, naming the shapes of the user's data, when the model or the loss
    cannot take it.

    The check runs on a probe of two samples (cheap for any data size). When the probe
    fails, the same call on all of ``X`` / ``y`` gives the error again with the data's
    own shapes in it; the probe's ``(2, ...)`` would only confuse.
    """
    xname, yname = ("X", "y") if what == "training" else ("X_val", "y_val")
    if len(X) != len(y):
        raise ShapeError(
            f"fit: {xname} has {len(X)} samples (shape {X.shape}) but {yname} has {len(y)} "
            f"(shape {y.shape})"
        )
    if len(X) == 0:
        raise ValueError(f"fit: no {what} samples")
    k = min(2, len(X))
    try:
        out = model(X[:k])
    except ShapeError as e:
        detail = _full_data_error(lambda: model(X), e)
        raise ShapeError(f"fit: the model cannot take {xname} of shape {X.shape}: {detail}") from e
    try:
        loss_fn(out, y[:k])
    except ShapeError as e:
        out_shape = str(("N", *np.shape(out)[1:])).replace("'", "")
        detail = _full_data_error(lambda: loss_fn(model(X), y), e)
        raise ShapeError(
            f"fit: model outputs of shape {out_shape} do not fit targets {yname} of shape "
            f"{y.shape}: {detail}"
        ) from e


def _full_data_error(call: Callable[[], Any], probe_error: ShapeError) -> str:
    """The message ``call()`` (the failed probe, on all the data) raises."""
    try:
        call()
    except ShapeError as e:
        return str(e)
    # not expected (the full data has the probe's trailing shape), but then the probe's
    # message is the best there is, marked as such
    return f"{probe_error} (on the first samples)"


def fit(
    model: Module,
    loss: str | Callable[[Any, Any], Any],
    X: Any,
    y: Any,
    optimizer: Any = None,
    *,
    batch_size: int | None = None,
    max_epochs: int = 100,
    tol: float | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = False,
    shuffle: bool = True,
    seed: int | np.random.Generator | None = None,
    validation_split: float = 0.0,
    validation_data: tuple[Any, Any] | None = None,
    metrics: Sequence[str | Callable] = (),
    penalty: Callable[..., Any] | None = None,
    callbacks: Sequence[Callback | Callable] = (),
    progress: bool | None = None,
    opt_state: Any = None,
    resume: History | None = None,
    jit: bool = True,
    sample_weight: Any = None,
    device: str | ModuleType | None = None,
    comm: Any = None,
) -> tuple[Module, History]:
    """Train ``model`` on ``(X, y)``; returns ``(trained_model, history)``.

    Each step evaluates ``loss(model.apply(xb, train=True), yb) + penalty(model)`` and its
    gradient in one forward and one backward pass (``tg.value_and_grad``), then applies
    ``optimizer.update``; BatchNorm running statistics are carried along.

    Args:
        model: a :class:`tracegrad.nn.Module`.
        loss: ``loss(outputs, targets) -> scalar`` or a name (``"cross_entropy"``,
            ``"mse"``, ``"sse"``, ``"nll"``, ``"binary_cross_entropy"``).
        X: inputs ``(N, features)``; y: targets ``(N, ...)`` (labels or values).
        optimizer: an object with ``init``/``update`` (default ``SGD(lr=0.1)``, seed
            001's rate).
        batch_size: ``None`` (or ``>= N``): full-batch gradient descent, one step per
            epoch, no shuffling; ``1``: incremental gradient descent (IGD, seed 000);
            otherwise mini-batches (the last one may be smaller).
        max_epochs: at most this many epochs (seed 000's ``t_max``, seed 001's
            ``max_iters`` for full batch).
        tol: stop once the epoch's gradient norm is ``<= tol`` (seed 001's ``eps``,
            measured over all parameters).
        patience: stop when the monitored loss (``val_loss`` with validation data, else
            the epoch's training ``loss``) has not improved by more than ``min_delta``
            for ``patience`` epochs (``history.best_epoch`` is the best epoch).
        restore_best: only when ``patience`` stops training, return the model as it was
            at the end of ``history.best_epoch`` instead of the last epoch's. Training
            that ends any other way (``max_epochs``, ``tol``, a callback) returns the
            last model, and ``history.opt_state`` is always the last
            epoch's optimiser state.
        shuffle: reshuffle mini-batches every epoch. seed: seed or generator for the
            shuffling, the validation split and Dropout masks (``None``: not repeatable).
        validation_split: fraction of ``(X, y)`` held out at random for validation;
            validation_data: an explicit ``(X_val, y_val)`` instead (giving both is a
            ``ValueError``).
        metrics: names (``"accuracy"``) or ``f(outputs, targets) -> float``, recorded on
            the training set and, with validation data, as ``val_<name>``.
        penalty: ``penalty(model) -> scalar`` added to each batch's training loss, e.g.
            ``lambda m: tg.nn.l2_penalty(m, 1e-4)``. A penalty with a parameter named
            ``n_batch`` is called ``penalty(model, n_batch=len(batch))``, for penalties
            scaled by the batch size (scikit-learn's ``alpha / (2 n_batch) · Σ ‖W‖²``:
            ``lambda m, n_batch: tg.nn.l2_penalty(m, alpha / n_batch)``), which
            differs for a last, smaller mini-batch.
        callbacks: :class:`~tracegrad.train.callbacks.Callback` objects or functions
            ``f(epoch, logs, model)``; returning ``True`` stops training.
        progress: progress bar with the time left; ``None`` shows it only on a terminal
            or in a Jupyter notebook (an HTML bar there, no ipywidgets needed).
        opt_state: start from this optimiser state (``history.opt_state``).
        resume: continue the run that this :class:`History` records (from
            :func:`~tracegrad.train.load_checkpoint`, a :class:`TrainingInterrupted`, or an
            earlier ``fit``), with ``model`` the model it ended with: epochs go on from
            ``resume.epochs + 1`` to ``max_epochs``, with its optimiser state, its random
            state (after the validation split, which ``seed`` makes again) and its
            patience count, so that a resumed run gives the parameters an uninterrupted
            one would. ``restore_best`` can only restore a model from after the resume.
        jit: compile the step (loss, penalty and gradient) with ``tg.jit``: traced on the
            first batch of each size, replayed after. A step that cannot be replayed
            (Dropout's draws, BatchNorm's batch statistics, a loss that branches on
            values) runs as it is, silently. ``False``: always run it eagerly (a loss or
            penalty with Python side effects).
        sample_weight: ``(N,)`` non-negative weights of the training samples. Each
            batch's loss is then the weighted mean ``Σ wᵢ ℓᵢ / Σ wᵢ`` of the per-sample
            losses ``loss(outputs, targets, reduction="none")`` (averaged over any
            trailing axes; tracegrad's losses take ``reduction``), a penalty's
            ``n_batch`` is the batch's total weight ``Σ wᵢ``, and the epoch's ``loss``
            weighs batches by their total weight. Integer weights thus train as repeated
            samples would in full batch, and a zero weight as a dropped sample; a batch
            of zero total weight is skipped. With ``validation_split`` the held-out
            samples' weights are dropped; validation losses are unweighted.
        device: ``None`` (or ``"cpu"``): NumPy. ``"cuda"`` (``"cuda:N"``): train on the
            GPU with CuPy: the model's parameters (and ``opt_state``) are copied there and
            the returned model stays there (``model.to("cpu")`` brings it back); ``X``
            and ``y`` stay where they are and each batch is copied over; the step's loss
            and the gradient norm are read back once per epoch, after its last step (so
            a non-finite loss is found then, and the model has taken the epoch's later
            steps), and the metrics are computed on the host from one copy of the
            outputs. A callback's ``on_batch_end`` reads each step's loss.
        comm: data-parallel training over MPI (:mod:`tracegrad.train.distributed`): an
            ``mpi4py`` communicator (``MPI.COMM_WORLD``), ``"world"``, or a
            :class:`~tracegrad.train.distributed.Communicator` (to set its timeout). Every
            rank calls ``fit`` with the same arguments and the same full data; each takes
            its shard of every batch, one allreduce per step sums loss and gradients, and
            all ranks return the same model and history: on any number of ranks, the
            one-process run's, up to rounding (the loss needs ``reduction="none"``, as
            tracegrad's losses have, or must be a mean over samples). BatchNorm uses the
            global batch's statistics; Dropout draws per rank. Rank 0 alone shows
            progress and runs callbacks with ``root_only`` set (those writing files); the
            others' stop decisions are shared. A rank failing on its own (Ctrl-C too)
            aborts the job rather than leave the others waiting. Needs
            the ``mpi`` extra (mpi4py and Open MPI).

    Raises:
        tracegrad.core.backend.DeviceError: ``device`` needs CuPy or a GPU this machine
            does not have.
        NonFiniteLossError: a step's loss is infinite or NaN (training stops there).
        TrainingInterrupted: Ctrl-C; it carries the model and history of the last
            completed epoch.
    """
    if not isinstance(model, Module):
        raise TypeError(f"fit: model must be a tracegrad.nn.Module, got {type(model).__name__}")
    if max_epochs < 1:
        raise ValueError(f"fit: max_epochs must be >= 1, got {max_epochs}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"fit: batch_size must be >= 1 or None, got {batch_size}")
    comm = as_communicator(comm)
    loss_fn = get_loss(loss)
    optimizer = SGD(lr=0.1) if optimizer is None else optimizer
    rng = as_generator(seed)
    xp = np if device is None else device_module(device)  # fails early, in one line
    X, y = _as_inputs(X, model), np.asarray(y)
    _precheck(model, loss_fn, X, y, "training")
    weights = None if sample_weight is None else _check_weights(sample_weight, X, y, model, loss_fn)
    X_val = y_val = None
    if validation_data is not None and validation_split:
        raise ValueError(
            f"fit: pass one of validation_data and validation_split={validation_split}, not "
            "both (with validation_data given, there is nothing to split off)"
        )
    if validation_data is not None:
        X_val, y_val = _as_inputs(validation_data[0], model), np.asarray(validation_data[1])
        _precheck(model, loss_fn, X_val, y_val, "validation")
    elif validation_split:
        X, y, X_val, y_val, weights = _split(X, y, validation_split, rng, weights)
    named_metrics = [get_metric(m) for m in metrics]
    cbs = [as_callback(c) for c in callbacks]
    on_device = xp is not np
    X_eval, X_val_eval = X, X_val  # what _evaluate runs the model on, once per epoch
    if on_device:  # the data stay on the host; batches are copied over as they are used
        model = model.to(xp)
        opt_state = None if opt_state is None else to_device(opt_state, xp)
        if resume is not None and resume.opt_state is not None:
            resume = resume.copy()
            resume.opt_state = to_device(resume.opt_state, xp)
        X_eval = xp.asarray(X) if named_metrics else X
        X_val_eval = None if X_val is None else xp.asarray(X_val)
    if comm is not None:
        if on_device:
            raise ValueError(
                "fit: comm (data-parallel training over MPI) runs on the CPU; device="
                f"{device!r} with comm is not supported"
            )
        same = [X, y] + ([] if weights is None else [weights])
        if not comm.same_everywhere(same, "fit's check of the data"):
            raise ValueError(
                "fit: X, y (or sample_weight) differ between ranks; with comm every rank "
                "passes the same full training data and takes its own shard of each batch"
            )
        progress = progress if comm.root else False
        cbs = [c for c in cbs if comm.root or not getattr(c, "root_only", False)]

    penalty_per_batch = penalty is not None and _takes_n_batch(penalty)

    def objective(m: Module, xb: Any, yb: Any, *wb: Any) -> tuple[Any, Any]:
        out, state = m.apply(xb, train=True, rng=rng)
        if wb:  # weighted mean of the per-sample losses (see sample_weight)
            total = tnp.sum(wb[0])
            value = tnp.sum(wb[0] * _per_sample(loss_fn(out, yb, reduction="none"))) / total
        else:
            value, total = loss_fn(out, yb), len(xb)
        if penalty is not None:
            value = value + (penalty(m, n_batch=total) if penalty_per_batch else penalty(m))
        return value, state

    step_fn = value_and_grad(objective, has_aux=True)
    if jit:
        step_fn = compile_step(step_fn, warn=False)
    if comm is not None:  # the same step, on this rank's shard, summed over ranks
        step_fn = DataParallelStep(
            comm, loss_fn, penalty, penalty_per_batch, rng, _param_dtype(model), jit
        )
    n = len(X)
    bs = n if batch_size is None or batch_size >= n else int(batch_size)
    n_batches = math.ceil(n / bs)
    weight_total = None if weights is None else float(np.sum(weights))
    best, wait, best_model = math.inf, 0, model
    if resume is None:
        state = optimizer.init(model) if opt_state is None else opt_state
        history = History()
    else:
        if resume.epochs >= max_epochs:
            raise ValueError(
                f"fit: the run to resume has {resume.epochs} epochs already; max_epochs="
                f"{max_epochs} leaves none to run"
            )
        if resume.opt_state is None or resume.rng_state is None:
            raise ValueError("fit: resume needs a History with opt_state and rng_state")
        state = resume.opt_state
        history = resume.copy()
        rng.bit_generator.state = resume.rng_state
        monitored = history.val_loss or history.loss
        for i, value in enumerate(monitored, 1):  # the patience count, as the run had it
            if value < best - min_delta:
                best, wait, history.best_epoch = value, 0, i
            else:
                wait += 1
    first = history.epochs + 1
    if comm is not None:
        step_fn.steps = history.steps  # keys each step's per-rank random numbers
        batch_hooks = any(type(c).on_batch_end is not Callback.on_batch_end for c in cbs)
    # what an interrupt hands back: the run as it stood after the last whole epoch
    committed = (model, history.epochs, history.steps, state, history.rng_state)
    bar = make_progress(progress, max_epochs)
    for cb in cbs:
        cb.on_train_begin(model, history)
    stop = ""
    interrupted = False
    try:
        for epoch in range(first, max_epochs + 1):
            t0 = time.perf_counter()
            order = rng.permutation(n) if shuffle and bs < n else None
            lr0 = _current_lr(optimizer, state)
            total, grad_sum = 0.0, None
            pending: list[tuple[Any, float]] = []  # on a device: (loss, weight), read later
            for b in range(n_batches):
                idx = slice(b * bs, (b + 1) * bs) if order is None else order[b * bs : (b + 1) * bs]
                xb, yb = X[idx], y[idx]
                if on_device:
                    xb, yb = xp.asarray(xb), xp.asarray(yb)
                if weights is None:
                    (value, new_state), grads = step_fn(model, xb, yb)
                    w = len(xb) / n
                else:
                    wb = weights[idx]
                    w = float(np.sum(wb)) / weight_total
                    if w == 0.0:
                        continue  # no weight: nothing to learn from this batch
                    (value, new_state), grads = step_fn(model, xb, yb, xp.asarray(wb))
                if on_device:  # no read back: checked and summed after the epoch
                    pending.append((value, w))
                    leaves = [g.astype(np.float64) * w for g in tree.leaves(grads)]
                else:
                    if not math.isfinite(float(value)):
                        raise NonFiniteLossError(epoch, history.steps + 1, float(value))
                    total += float(value) * w
                    leaves = [np.asarray(g, dtype=np.float64) * w for g in tree.leaves(grads)]
                grad_sum = leaves if grad_sum is None else [a + g for a, g in zip(grad_sum, leaves)]
                model, state = optimizer.update(model, grads, state)
                if new_state:
                    model = model.with_state(new_state)
                history.steps += 1
                halt = any(
                    cb.on_batch_end(history.steps, {"loss": float(value)}, model) for cb in cbs
                )
                if comm is not None and batch_hooks:
                    halt = comm.any(halt)
                if halt:
                    stop = "stopped by a callback"
                    break
            if on_device:
                total, gnorm = _read_epoch(xp, pending, grad_sum, epoch, history.steps)
            else:
                gnorm = math.sqrt(sum(float(np.sum(g * g)) for g in grad_sum or []))
            logs = {"loss": total, "grad_norm": gnorm}
            _evaluate(model, loss_fn, X_eval, y, X_val_eval, y_val, named_metrics, logs)
            logs["time"] = time.perf_counter() - t0
            logs["lr"] = lr0
            _record(history, logs)
            history.opt_state, history.rng_state = state, rng.bit_generator.state
            committed = (model, epoch, history.steps, state, history.rng_state)
            bar.update(epoch, {k: v for k, v in logs.items() if k != "grad_norm"})

            monitored = logs.get("val_loss", total)
            if monitored < best - min_delta:
                best, wait, history.best_epoch, best_model = monitored, 0, epoch, model
            else:
                wait += 1
            halt = any(cb.on_epoch_end(epoch, dict(logs), model) for cb in cbs)
            if comm is not None:  # callbacks may differ between ranks (root_only)
                halt = comm.any(halt)
            if halt and not stop:
                stop = "stopped by a callback"
            if stop:
                break
            if tol is not None and gnorm <= tol:
                stop = f"converged: gradient norm {gnorm:.3g} <= tol={tol:g}"
                history.converged = True
                break
            if patience is not None and wait >= patience:
                name = "val_loss" if "val_loss" in logs else "loss"
                stop = (
                    f"early stopping: {name} did not improve for {patience} epochs "
                    f"(best {best:.6g} in epoch {history.best_epoch})"
                )
                if restore_best:
                    model = best_model
                break
        else:
            stop = f"max_epochs={max_epochs} reached"
    except KeyboardInterrupt as e:
        if comm is not None:  # one rank's Ctrl-C: the others cannot go on without it
            comm.fail("training", e)
        interrupted = True
        model, epochs, history.steps, history.opt_state, history.rng_state = committed
        history.truncate(epochs)
        history.stop_reason = f"interrupted after epoch {epochs}"
        for cb in cbs:
            cb.on_train_end(model, history)
        raise TrainingInterrupted(model, history) from None
    except Exception as e:
        if comm is not None and not isinstance(e, NonFiniteLossError):  # raised alike on every rank
            comm.fail("training", e)
        raise
    finally:
        bar.close(finished=not interrupted)
    history.stop_reason = stop
    history.opt_state = state
    if comm is not None and not comm.same_everywhere(tree.leaves(model), "fit's final check"):
        raise RuntimeError(
            "fit: the ranks ended with different parameters (the MPI library's allreduce "
            "gave different sums on different ranks)"
        )
    for cb in cbs:
        cb.on_train_end(model, history)
    return model, history


def _check_weights(
    sample_weight: Any, X: np.ndarray, y: np.ndarray, model: Module, loss_fn: Callable
) -> np.ndarray:
    """``sample_weight`` as a float array ``(N,)``, after checking it and that the loss
    gives per-sample values."""
    w = np.asarray(sample_weight, dtype=_param_dtype(model))
    if w.shape != (len(X),):
        raise ShapeError(
            f"fit: sample_weight must have shape ({len(X)},), one weight per sample of X; "
            f"got shape {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("fit: sample_weight must be finite and non-negative")
    if not np.any(w > 0):
        raise ValueError("fit: sample_weight is zero for every sample; nothing to train on")
    k = min(2, len(X))
    try:
        per = loss_fn(model(X[:k]), y[:k], reduction="none")
    except TypeError as e:
        raise TypeError(
            "fit: sample_weight needs a loss that takes reduction='none' and returns one "
            f"value per sample ({e})"
        ) from e
    if np.ndim(per) < 1 or np.shape(per)[0] != k:
        raise ShapeError(
            f"fit: with sample_weight, loss(..., reduction='none') must return one value per "
            f"sample (leading axis {k} here); got shape {np.shape(per)}"
        )
    return w


def _per_sample(per: Any) -> Any:
    """Per-sample losses ``(b,)`` from ``reduction="none"`` values ``(b, ...)``."""
    return tnp.mean(per, axis=tuple(range(1, per.ndim))) if per.ndim > 1 else per


def _takes_n_batch(penalty: Callable) -> bool:
    """Whether ``penalty`` has a parameter named ``n_batch`` (see ``fit``'s ``penalty``).

    By name, not by position: ``tg.nn.l2_penalty(model, lam)`` also takes two
    arguments, and must never be handed a batch size as its ``lam``.
    """
    try:
        param = inspect.signature(penalty).parameters.get("n_batch")
    except (TypeError, ValueError):  # no signature to read (some builtins)
        return False
    return param is not None and param.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


def _current_lr(optimizer: Any, state: Any) -> float:
    rate = getattr(optimizer, "learning_rate", None)
    step = getattr(state, "step", 0)
    try:
        return float(rate(step)) if rate is not None else math.nan
    except Exception:
        return math.nan


def _evaluate(
    model: Module,
    loss_fn: Callable,
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray | None,
    y_val: np.ndarray | None,
    metrics: list[tuple[str, Callable]],
    logs: dict[str, float],
) -> None:
    """Evaluation-mode loss and metrics after an epoch (no gradients taken)."""
    if metrics:
        out = np.asarray(to_host(model(X)))  # from a device: one copy of the outputs
        for name, fn in metrics:
            logs[name] = float(fn(out, y))
    if X_val is not None:
        out_val = np.asarray(to_host(model(X_val)))
        logs["val_loss"] = float(loss_fn(out_val, y_val))
        for name, fn in metrics:
            logs[f"val_{name}"] = float(fn(out_val, y_val))


def _read_epoch(
    xp: ModuleType, pending: list[tuple[Any, float]], grad_sum: list | None, epoch: int,
    steps: int,
) -> tuple[float, float]:  # fmt: skip
    """An epoch on a device, read back at once: the weighted sum of its steps' losses
    and the norm of its summed gradient, from one copy to the host. A non-finite loss
    raises :class:`NonFiniteLossError` naming its step (``steps``: the run's steps after
    the epoch)."""
    if not pending:
        return 0.0, 0.0
    squares = [xp.sum(g * g) for g in grad_sum or []]
    parts = [xp.reshape(v, (1,)).astype(np.float64) for v, _ in pending]
    parts.append(xp.reshape(sum(squares) if squares else xp.zeros(()), (1,)))
    values = to_host(xp.concatenate(parts))
    losses, square = values[:-1], float(values[-1])
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        i = int(bad[0])
        raise NonFiniteLossError(epoch, steps - len(losses) + i + 1, float(losses[i]))
    total = float(sum(float(v) * w for v, (_, w) in zip(losses, pending)))
    return total, math.sqrt(square)


def _record(history: History, logs: dict[str, float]) -> None:
    for key, value in logs.items():
        if key in ("loss", "val_loss", "grad_norm", "time", "lr"):
            getattr(history, key).append(value)
        else:
            history.metrics.setdefault(key, []).append(value)
