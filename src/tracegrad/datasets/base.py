"""The :class:`Dataset` record, splitting and feature selection, and :func:`load`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

__all__ = ["DataFileError", "Dataset", "is_path", "load", "names"]

Task = Literal["classification", "regression"]


class DataFileError(ValueError):
    """A data file that cannot be read as a table of numbers; the message names the file
    and, where it applies, the line and column."""


@dataclass(frozen=True)
class Dataset:
    """A supervised data set, or features alone (``y`` and ``task`` ``None``: what
    ``load_csv(path, target=None)`` reads for prediction).

    Attributes:
        X: features, shape ``(N, D)``, float64.
        y: targets, shape ``(N,)``: class indices ``0 … C−1`` (int64) for classification,
            float64 values for regression; ``None`` for unlabelled data.
        feature_names: ``D`` names.
        target_names: class names (``C`` of them, ``target_names[y[i]]`` is sample
            ``i``'s class) for classification; ``(name_of_target,)`` for regression;
            ``()`` for unlabelled data.
        task: ``"classification"``, ``"regression"``, or ``None`` for unlabelled data.
        name: a short name (``"iris"``, ``"moons"``, the CSV file's stem).
        description: one line about where the data come from.
        target: what ``y`` is (``"species"``, a CSV file's target column name).
    """

    X: np.ndarray
    y: np.ndarray | None
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    task: Task | None
    name: str = ""
    description: str = ""
    target: str = "target"

    def __post_init__(self) -> None:
        X = np.asarray(self.X)
        if X.ndim != 2:
            raise ValueError(f"Dataset: X must be 2-D (N, D), got shape {X.shape}")
        if len(self.feature_names) != X.shape[1]:
            raise ValueError(
                f"Dataset: {X.shape[1]} features but {len(self.feature_names)} feature names"
            )
        if self.y is None:
            # features only: a task would promise targets that are not there
            if self.task is not None:
                raise ValueError(f"Dataset: task {self.task!r} needs targets y, got None")
            return
        y = np.asarray(self.y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"Dataset: y must have shape ({X.shape[0]},), got {y.shape}")
        if self.task not in ("classification", "regression"):
            raise ValueError(f"Dataset: task must be classification or regression: {self.task}")

    @property
    def labelled(self) -> bool:
        """Whether the data carry targets (``y`` is not ``None``)."""
        return self.y is not None

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.target_names) if self.task == "classification" else 0

    def __repr__(self) -> str:
        what = (
            f"{self.n_classes} classes"
            if self.task == "classification"
            else (self.task or "unlabelled")
        )
        return (
            f"Dataset({self.name!r}: {self.n_samples} samples × {self.n_features} features, {what})"
        )

    def select(self, features: Sequence[int | str] | None) -> Dataset:
        """The data set restricted to some features, given by index (negative counts from
        the end) or by name; ``None`` keeps all."""
        if features is None:
            return self
        idx = [self.feature_index(f) for f in features]
        if not idx:
            raise ValueError("select: no features given")
        return replace(
            self, X=self.X[:, idx], feature_names=tuple(self.feature_names[i] for i in idx)
        )

    def feature_index(self, feature: int | str) -> int:
        """The column of a feature given by index or name (``ValueError`` names the
        valid choices)."""
        d = self.n_features
        if isinstance(feature, (int, np.integer)):
            if not -d <= feature < d:
                raise ValueError(
                    f"feature index {feature} is out of range for {d} features (0 … {d - 1})"
                )
            return int(feature) % d
        if feature in self.feature_names:
            return self.feature_names.index(feature)
        raise ValueError(
            f"no feature {feature!r}; the features are: {', '.join(self.feature_names)}"
        )

    def split(
        self, test_size: float, seed: int | None = 0, stratify: bool | None = None
    ) -> tuple[Dataset, Dataset]:
        """``(train, test)`` with a fraction ``test_size`` of the samples in ``test``.

        Random (from ``seed``); stratified by class for classification unless
        ``stratify=False``, so that sorted data sets such as Iris keep their class mix.
        """
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"split: test_size must be in (0, 1), got {test_size}")
        n = self.n_samples
        rng = np.random.default_rng(seed)
        if stratify is None:
            stratify = self.task == "classification"
        if stratify and self.y is None:
            raise ValueError("split: stratify=True needs class labels; these data have none")
        if stratify:
            test_idx = []
            for c in np.unique(self.y):
                members = np.flatnonzero(self.y == c)
                rng.shuffle(members)
                k = int(round(len(members) * test_size))
                test_idx.extend(members[:k])
            test = np.sort(np.asarray(test_idx, dtype=np.int64))
        else:
            test = np.sort(rng.permutation(n)[: int(round(n * test_size))])
        mask = np.zeros(n, dtype=bool)
        mask[test] = True
        if mask.all() or not mask.any():
            raise ValueError(
                f"split: test_size={test_size} of {n} samples leaves an empty part; "
                "use more data or another fraction"
            )
        return self._subset(~mask), self._subset(mask)

    def _subset(self, mask: np.ndarray) -> Dataset:
        return replace(self, X=self.X[mask], y=None if self.y is None else self.y[mask])


def names() -> list[str]:
    """The names :func:`load` knows (besides CSV paths)."""
    from tracegrad.datasets.bundled import BUNDLED
    from tracegrad.datasets.synthetic import GENERATED

    return [*BUNDLED, *GENERATED]


_FILE_SUFFIXES = (".csv", ".tsv", ".txt")


def is_path(source: str | os.PathLike) -> bool:
    """Whether ``source`` names a file rather than a data set of :func:`names`.

    A path with a directory separator or a ``.csv``/``.tsv``/``.txt`` name is a file; a
    bare name of a data set (``iris``) is that set even where a file or directory of
    the name exists in the working directory (write ``./iris`` for the file); any
    other bare name is a file if one exists.
    """
    key = os.fspath(source)
    if key.lower().endswith(_FILE_SUFFIXES) or os.sep in key or (os.altsep and os.altsep in key):
        return True
    return key.lower().replace("-", "_") not in names() and os.path.exists(key)


def load(source: str | os.PathLike, **kwargs: Any) -> Dataset:
    """A data set by name (``"iris"``, ``"moons"``, …, see :func:`names`) or a CSV path.

    ``kwargs`` go to the loader: ``seed``/``n_samples``/``noise`` for generated sets,
    ``target``/``header``/``task`` for :func:`~tracegrad.datasets.load_csv`.
    """
    from tracegrad.datasets.bundled import BUNDLED
    from tracegrad.datasets.csvfile import load_csv
    from tracegrad.datasets.synthetic import GENERATED

    key = os.fspath(source)
    low = key.lower().replace("-", "_")
    if low in BUNDLED:
        return BUNDLED[low]()
    if low in GENERATED:
        return GENERATED[low](**kwargs)
    if is_path(key):
        return load_csv(key, **kwargs)
    raise ValueError(
        f"unknown data set {key!r}; choose one of {', '.join(names())} or a .csv path "
        "(a bare name of a data set means the set, not a file: ./NAME is the file)"
    )
