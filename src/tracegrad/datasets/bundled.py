"""scikit-learn's bundled data sets as :class:`Dataset` records (no network access)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad.datasets.base import Dataset

__all__ = ["load_breast_cancer", "load_diabetes", "load_digits", "load_iris", "load_wine"]


def _sklearn_datasets(name: str) -> Any:
    """scikit-learn's data set module; without it an ImportError whose one-line message
    names the data set and the extra to install (the CLI shows it as it is)."""
    try:
        import sklearn.datasets as skd
    except ImportError as e:
        raise ImportError(
            f"the bundled data set {name!r} comes with scikit-learn, which is not "
            "installed: pip install 'tracegrad[sklearn]'",
            name="sklearn",
        ) from e
    return skd


def _classification(bunch: Any, name: str, description: str, target: str) -> Dataset:
    return Dataset(
        X=np.asarray(bunch.data, dtype=np.float64),
        y=np.asarray(bunch.target, dtype=np.int64),
        feature_names=tuple(str(f) for f in bunch.feature_names),
        target_names=tuple(str(t) for t in bunch.target_names),
        task="classification",
        name=name,
        description=description,
        target=target,
    )


def load_iris() -> Dataset:
    """Fisher's Iris: 150 flowers × 4 measurements (cm), 3 species (sorted by class)."""
    return _classification(
        _sklearn_datasets("iris").load_iris(),
        "iris",
        "Fisher's Iris flowers (scikit-learn's copy)",
        "species",
    )


def load_digits() -> Dataset:
    """1797 handwritten digits as 8×8 images flattened to 64 pixel values in 0 … 16."""
    b = _sklearn_datasets("digits").load_digits()
    d = _classification(b, "digits", "8×8 handwritten digits (UCI, scikit-learn's copy)", "digit")
    return d


def load_wine() -> Dataset:
    """178 wines × 13 chemical measurements, 3 cultivars."""
    return _classification(
        _sklearn_datasets("wine").load_wine(),
        "wine",
        "Italian wines (UCI, scikit-learn's copy)",
        "cultivar",
    )


def load_breast_cancer() -> Dataset:
    """569 tumours × 30 features, malignant or benign."""
    return _classification(
        _sklearn_datasets("breast_cancer").load_breast_cancer(),
        "breast_cancer",
        "Wisconsin diagnostic breast cancer (UCI, scikit-learn's copy)",
        "diagnosis",
    )


def load_diabetes() -> Dataset:
    """442 patients × 10 (centred, scaled) baseline variables; target: disease
    progression one year later (regression, values 25 … 346)."""
    b = _sklearn_datasets("diabetes").load_diabetes()
    return Dataset(
        X=np.asarray(b.data, dtype=np.float64),
        y=np.asarray(b.target, dtype=np.float64),
        feature_names=tuple(str(f) for f in b.feature_names),
        target_names=("progression",),
        task="regression",
        name="diabetes",
        description="Diabetes progression (Efron et al., scikit-learn's copy)",
        target="progression",
    )


BUNDLED: dict[str, Callable[[], Dataset]] = {
    "iris": load_iris,
    "digits": load_digits,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "diabetes": load_diabetes,
}
