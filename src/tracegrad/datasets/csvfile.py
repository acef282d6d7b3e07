"""Reading a data set from a CSV file.

Rules (what a user expects from a spreadsheet export):

* Blank lines and lines starting with ``#`` are skipped.
* **Header**: ``header="auto"`` takes the first row as column names when some cell of it
  is not a number while the same column holds a number on the next row (so a file whose
  only text column is the class label still gets its header recognised).
* **Target**: a column by name (needs a header) or index (``-1``: the last, the default);
  ``None`` reads every column as a feature (data to predict on, without labels).
* **Features** must be numbers; the target may be text (class names).
* **Task**: ``"auto"`` picks classification when the target is text, or whole numbers
  with at most 20 distinct values; regression otherwise.
* Every row must have as many cells as the first; an empty, non-numeric or non-finite
  feature cell, or a ragged row, is a :class:`DataFileError` naming the file, the line
  (1-based, as an editor shows it) and the column.
"""

from __future__ import annotations

import csv
import math
import os
from typing import Literal, NamedTuple

import numpy as np

from tracegrad.datasets.base import DataFileError, Dataset

__all__ = ["csv_columns", "load_csv"]

MAX_CLASSES_AUTO = 20


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _sniff_delimiter(sample: str, path: str) -> str:
    if path.lower().endswith(".tsv"):
        return "\t"
    first = next((ln for ln in sample.splitlines() if ln.strip() and not ln.startswith("#")), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


class _Table(NamedTuple):
    """A CSV file split into cells: column names, whether line 1 was a header, the data
    rows as ``(line number, cells)``, and the delimiter."""

    columns: list[str]
    has_header: bool
    body: list[tuple[int, list[str]]]
    delimiter: str


def _read_table(
    path: str, header: bool | Literal["auto"], delimiter: str | None, min_columns: int
) -> _Table:
    """Split the file into cells and find its header; checks that apply to any use of
    the file (it exists, is text, has rows of one width, ≥ ``min_columns``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no data file {path!r}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError as e:
        raise DataFileError(f"{path}: not a text (UTF-8) CSV file ({e.reason})") from None
    if "\x00" in text:
        raise DataFileError(f"{path}: not a text CSV file (it contains NUL bytes)")
    delim = delimiter or _sniff_delimiter(text[:4096], path)
    rows: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = next(csv.reader([line], delimiter=delim))
        rows.append((lineno, [c.strip() for c in cells]))
    if not rows:
        raise DataFileError(f"{path}: the file has no data rows")

    width = len(rows[0][1])
    for lineno, cells in rows:
        if len(cells) != width:
            raise DataFileError(
                f"{path}, line {lineno}: {len(cells)} columns, but line {rows[0][0]} has "
                f"{width} (a ragged file: every row needs the same number of cells)"
            )
    if width < min_columns:
        raise DataFileError(
            f"{path}: one column only (delimiter {delim!r}); a data set needs features and a target"
        )

    first = rows[0][1]
    if header == "auto":
        has_header = _looks_like_header(first, rows[1][1] if len(rows) > 1 else None)
    else:
        has_header = bool(header)
    if has_header:
        columns = [c or f"column {i}" for i, c in enumerate(first)]
        seen: dict[str, int] = {}
        for i, c in enumerate(columns):
            if c in seen:  # columns are found by name: a second "a" would never be read
                raise DataFileError(
                    f"{path}, line {rows[0][0]}: the column name {c!r} is given twice (columns "
                    f"{seen[c] + 1} and {i + 1}); every column needs its own name"
                )
            seen[c] = i
        body = rows[1:]
    else:
        columns = [f"x{i}" for i in range(width)]
        body = rows
    if not body:
        raise DataFileError(f"{path}: the file has a header line but no data rows")
    return _Table(columns, has_header, body, delim)


def _features(table: _Table, feat_cols: list[int], path: str) -> np.ndarray:
    """The feature cells as float64 ``(N, len(feat_cols))``; a bad cell is a
    :class:`DataFileError` naming its line and column."""
    columns = table.columns
    X = np.empty((len(table.body), len(feat_cols)), dtype=np.float64)
    for r, (lineno, cells) in enumerate(table.body):
        for j, c in enumerate(feat_cols):
            v = _number(cells[c])
            if v is None or not math.isfinite(v):
                what = "an empty cell" if not cells[c] else f"the value {cells[c]!r}"
                raise DataFileError(
                    f"{path}, line {lineno}, column {c + 1} ({columns[c]}): {what} is not a "
                    "finite number (features must be numeric)"
                )
            X[r, j] = v
    return X


def csv_columns(
    path: str | os.PathLike,
    *,
    header: bool | Literal["auto"] = "auto",
    delimiter: str | None = None,
) -> list[str]:
    """The column names :func:`load_csv` would give the file's columns (``x0, x1, …``
    without a header line), read with the same rules but without parsing any cell, so
    that a caller can pick the target column before loading."""
    path = os.fspath(path)
    return list(_read_table(path, header, delimiter, min_columns=1).columns)


def load_csv(
    path: str | os.PathLike,
    target: int | str | None = -1,
    *,
    header: bool | Literal["auto"] = "auto",
    task: Literal["auto", "classification", "regression"] = "auto",
    delimiter: str | None = None,
) -> Dataset:
    """Read a numeric table with one target column, or features only (see the module
    docstring).

    Args:
        path: the file. target: the target column's name or index; ``None``: no target,
            every column is a feature (``y`` and ``task`` of the result are ``None``,
            and ``task`` is ignored).
        header: ``True``/``False``, or ``"auto"`` to detect it.
        task: force ``"classification"`` or ``"regression"``, or ``"auto"``.
        delimiter: ``","``, ``";"``, tab…; ``None`` guesses from the first line.

    Returns:
        A :class:`Dataset` named after the file's stem; for classification the class
        names are the target's distinct values in sorted order (numerically when they
        are numbers).

    Raises:
        FileNotFoundError: no such file.
        DataFileError: the file is empty, ragged, has a non-numeric feature cell, or the
            target column does not exist (the message says which line and column).
    """
    path = os.fspath(path)
    name = os.path.splitext(os.path.basename(path))[0]
    if target is None:
        table = _read_table(path, header, delimiter, min_columns=1)
        columns = table.columns
        return Dataset(
            X=_features(table, list(range(len(columns))), path),
            y=None,
            feature_names=tuple(columns),
            target_names=(),
            task=None,
            name=name,
            description=f"{path}: features only",
            target="",
        )
    table = _read_table(path, header, delimiter, min_columns=2)
    columns, has_header, body = table.columns, table.has_header, table.body
    t = _target_index(target, columns, has_header, path)
    X = _features(table, [i for i in range(len(columns)) if i != t], path)

    raw = [cells[t] for _, cells in body]
    for (lineno, _), v in zip(body, raw):
        if not v:
            raise DataFileError(
                f"{path}, line {lineno}, column {t + 1} ({columns[t]}): the target is empty"
            )
    values = [_number(v) for v in raw]
    numeric = all(v is not None and math.isfinite(v) for v in values)
    if task == "auto":
        if not numeric:
            task = "classification"
        else:
            arr = np.asarray(values, dtype=np.float64)
            whole = bool(np.all(arr == np.round(arr)))
            task = (
                "classification"
                if whole and len(np.unique(arr)) <= MAX_CLASSES_AUTO
                else "regression"
            )
    feature_names = tuple(c for i, c in enumerate(columns) if i != t)
    if task == "regression":
        if not numeric:
            bad = next(i for i, v in enumerate(values) if v is None or not math.isfinite(v))
            raise DataFileError(
                f"{path}, line {body[bad][0]}, column {t + 1} ({columns[t]}): the value "
                f"{raw[bad]!r} is not a number (a regression target must be numeric)"
            )
        y = np.asarray(values, dtype=np.float64)
        target_names: tuple[str, ...] = (columns[t],)
    elif task == "classification":
        if numeric:
            uniq = sorted(set(values), key=float)  # type: ignore[arg-type]
            target_names = tuple(_label(v) for v in uniq)  # type: ignore[arg-type]
            lookup = {v: i for i, v in enumerate(uniq)}
            y = np.asarray([lookup[v] for v in values], dtype=np.int64)
        else:
            target_names = tuple(sorted(set(raw)))
            lookup_s = {v: i for i, v in enumerate(target_names)}
            y = np.asarray([lookup_s[v] for v in raw], dtype=np.int64)
    else:
        raise ValueError(f"load_csv: task must be auto, classification or regression: {task!r}")
    return Dataset(
        X=X,
        y=y,
        feature_names=feature_names,
        target_names=target_names,
        task=task,
        name=name,
        description=f"{path}: target column {columns[t]!r}",
        target=columns[t],
    )


def _label(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _looks_like_header(first: list[str], second: list[str] | None) -> bool:
    text = [_number(c) is None for c in first]
    if not any(text):
        return False
    if second is None:
        return all(text)
    # a text cell above a number: a column name
    return any(t and _number(s) is not None for t, s in zip(text, second)) or all(text)


def _target_index(target: int | str, columns: list[str], has_header: bool, path: str) -> int:
    width = len(columns)
    if isinstance(target, str) and not has_header:
        try:
            target = int(target)
        except ValueError:
            raise DataFileError(
                f"{path}: no header line, so the target column cannot be found by the name "
                f"{target!r}; give its index (0 … {width - 1}, or -1 for the last)"
            ) from None
    if isinstance(target, str):
        if target in columns:
            return columns.index(target)
        try:
            target = int(target)
        except ValueError:
            raise DataFileError(
                f"{path}: no column named {target!r}; the columns are: {', '.join(columns)}"
            ) from None
    if not -width <= int(target) < width:
        raise DataFileError(
            f"{path}: target column index {target} is out of range for {width} columns "
            f"(0 … {width - 1}, or negative from the end)"
        )
    return int(target) % width
