"""Predict with a model saved by `tracegrad train` on a bundled data set or a CSV file.

Writes one CSV row per sample (the prediction, and with --proba the class
probabilities) to standard output or --output; when the data carry the target, the
accuracy (or R²) goes to standard error.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from typing import Any

import numpy as np

from tracegrad.cli.main import UsageError, write_error_message
from tracegrad.files import write_atomic
from tracegrad.train.metrics import r2_score


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="FILE", help="model.npz from train")
    parser.add_argument(
        "--data", required=True, metavar="NAME|PATH.csv", help="bundled data set or CSV file"
    )
    parser.add_argument(
        "--target",
        default=None,
        help="CSV target column, by name or index (default: the model's target name if the "
        "file has it, else none)",
    )
    parser.add_argument("--proba", action="store_true", help="also write class probabilities")
    parser.add_argument("--output", default=None, metavar="FILE.csv", help="default: stdout")


def _load_model(path: str) -> Any:
    from tracegrad import nn

    try:
        model = nn.load(path)
    except FileNotFoundError:
        raise UsageError(f"--model: no file {path!r}") from None
    except nn.ModelFileError as e:
        raise UsageError(f"--model: {str(e).splitlines()[0]}") from None
    if not isinstance(model, nn.Predictor):
        raise UsageError(
            f"--model: {path!r} holds a {type(model).__name__}, not a model saved by "
            "`tracegrad train` (which knows its features and classes)"
        )
    return model


def _read_csv(path: str, model: Any, target: str | None) -> tuple[np.ndarray, Any]:
    """Features in the model's column order, and the data set with the target column
    (``None`` when the file has none)."""
    from tracegrad.datasets import DataFileError, csv_columns, load_csv

    names = list(model.feature_names)
    try:
        # the column names first (no cell parsed yet), to find the target column:
        # asked for, or the model's target name, or the one column the model does not use
        header = csv_columns(path)
        tgt: Any = target
        if tgt is None and model.target_name in header:
            tgt = model.target_name
        if tgt is None and all(n in header for n in names) and len(header) == len(names) + 1:
            tgt = next(c for c in header if c not in names)
        if tgt is None:  # no target column: every column is a feature
            ds = load_csv(path, target=None)
        else:
            ds = load_csv(path, target=tgt, task=model.task)
    except FileNotFoundError:
        raise UsageError(f"--data: no file {path!r}") from None
    except OSError as e:  # e.g. no permission to read it
        raise UsageError(f"--data: cannot read {path!r} ({e.strerror or e})") from None
    except DataFileError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    found = list(ds.feature_names)
    missing = [n for n in names if n not in found]
    # a file without a header line has the columns x0, x1, ...: used by position, as
    # scikit-learn uses an array without feature names
    headerless = header == [f"x{i}" for i in range(len(header))]
    if not missing:
        X = ds.X[:, [found.index(n) for n in names]]
    elif headerless and ds.n_features == len(names):
        X = ds.X
    elif headerless:
        raise UsageError(
            f"--data: {path} has {ds.n_features} feature columns; the model needs "
            f"{len(names)}: {', '.join(names)}"
        )
    else:  # never by position when the names say otherwise (a,c is not a,b)
        raise UsageError(
            f"--data: the feature names of {path} differ from the model's: it was trained on "
            f"{', '.join(names)}; the file has {', '.join(found)} (missing: "
            f"{', '.join(missing)})"
        )
    return X, ds if ds.labelled else None


def run(args: argparse.Namespace) -> int:
    from tracegrad import datasets

    model = _load_model(args.model)
    src = args.data
    if datasets.is_path(src):
        X, labelled = _read_csv(src, model, args.target)
    else:
        try:
            ds = datasets.load(src)
        except (ValueError, ImportError) as e:  # ImportError: a bundled set without sklearn
            raise UsageError(f"--data {src}: {str(e).splitlines()[0]}") from None
        missing = [n for n in model.feature_names if n not in ds.feature_names]
        if missing:
            raise UsageError(
                f"--data {src}: the model needs features it does not have: {', '.join(missing)}"
            )
        X = ds.X[:, [ds.feature_names.index(n) for n in model.feature_names]]
        labelled = ds
    if model.task == "classification" and args.proba:
        proba = model.predict_proba(X)
        pred = proba.argmax(axis=1)
    else:
        proba = None
        pred = model.predict(X)

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    classes = list(model.class_names)
    w.writerow(["prediction"] + ([f"p({c})" for c in classes] if proba is not None else []))
    for i in range(len(X)):
        if model.task == "classification":
            row = [classes[int(pred[i])]]
            if proba is not None:
                row += [f"{p:.6g}" for p in proba[i]]
        else:
            row = [f"{float(pred[i]):.6g}"]
        w.writerow(row)
    if args.output:
        try:
            write_atomic(args.output, buf.getvalue())
        except OSError as e:
            raise UsageError(f"--output: {write_error_message(e)}") from None
    else:
        sys.stdout.write(buf.getvalue())

    report = sys.stderr if not args.output else sys.stdout
    if labelled is not None and labelled.task == model.task:
        if model.task == "classification":
            names = [labelled.target_names[int(k)] for k in labelled.y]
            truth = np.asarray([classes.index(n) if n in classes else -1 for n in names])
            acc = float(np.mean(np.asarray(pred) == truth))
            print(f"accuracy {acc:.4f} on {len(X)} samples", file=report)
        else:
            r2 = r2_score(pred, labelled.y)
            print(f"R² {r2:.4f} on {len(X)} samples", file=report)
    elif args.output:
        print(f"wrote {len(X)} predictions to {args.output}", file=report)
    return 0
