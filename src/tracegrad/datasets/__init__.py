"""Data sets for training and teaching: bundled, generated from a seed, or read from CSV.

Every loader returns a :class:`Dataset` record: ``X`` ``(N, D)`` float64 features, ``y``
``(N,)`` targets (integer class indices ``0 … C−1`` for classification, floats for
regression), ``feature_names``, ``target_names`` (class names, or the target's name for
regression) and ``task``.

============================== =============================================================
``load_iris()``                150 × 4, 3 classes (seed 001's network uses the petal pair)
``load_digits()``              1797 × 64 (8×8 images, pixel values 0 … 16), 10 classes
``load_wine()``                178 × 13, 3 classes
``load_breast_cancer()``       569 × 30, 2 classes
``load_diabetes()``            442 × 10, regression
``make_moons(n, noise, seed)`` two interleaving half circles, 2 classes, 2-D
``make_circles(...)``          a circle inside a ring, 2 classes, 2-D
``make_spirals(...)``          interleaved spiral arms, ``n_classes`` classes, 2-D
``load_csv(path, target=...)`` any numeric CSV file (see :func:`load_csv`); ``target=None``
                               reads features only
``csv_columns(path)``          a CSV file's column names, to pick the target before loading
``load(name_or_path)``         one of the names above, or a path ending in ``.csv``
============================== =============================================================

The bundled sets are scikit-learn's copies (installed with the ``sklearn`` extra; no
network access); the generated ones are pure NumPy and repeat exactly for a seed.
"""

from tracegrad.datasets.base import DataFileError, Dataset, is_path, load, names
from tracegrad.datasets.bundled import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from tracegrad.datasets.csvfile import csv_columns, load_csv
from tracegrad.datasets.synthetic import make_circles, make_moons, make_spirals

__all__ = [
    "DataFileError",
    "Dataset",
    "csv_columns",
    "is_path",
    "load",
    "load_breast_cancer",
    "load_csv",
    "load_diabetes",
    "load_digits",
    "load_iris",
    "load_wine",
    "make_circles",
    "make_moons",
    "make_spirals",
    "names",
]
