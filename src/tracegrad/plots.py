"""Pictures of a training run: the loss curve and, for 2-D inputs, decision regions.

Each function returns a matplotlib ``Figure`` (the ``plot`` extra) and, given a ``path``,
also writes it as PNG, atomically (a temporary file in the target directory, then
``os.replace``). Like scikit-learn's ``Display`` objects, they draw into the axes passed
as ``ax`` or into a new figure, and never change matplotlib's backend: a new figure is
made without pyplot, so it works on servers without a display, leaves no figure open in
pyplot, and shows once in Jupyter as the cell's value.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from tracegrad.files import atomic_open

__all__ = ["decision_regions", "loss_curve"]


@functools.cache
def _figure_class() -> type:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError(
            "plots need matplotlib (tracegrad's plot extra): pip install matplotlib"
        ) from e

    class TracegradFigure(Figure):
        """A ``Figure`` that Jupyter shows as PNG without pyplot's inline backend."""

        def _repr_png_(self) -> bytes:
            buf = io.BytesIO()
            self.savefig(buf, format="png", bbox_inches="tight")
            return buf.getvalue()

    TracegradFigure.__qualname__ = "TracegradFigure"
    return TracegradFigure


def _axes(ax: Any, n: int, figsize: tuple[float, float]) -> tuple[Any, list[Any]]:
    """The figure and ``n`` axes to draw into: ``ax`` (one Axes, or a sequence of ``n``)
    or, without it, a new figure of ``figsize`` inches."""
    if ax is None:
        fig = _figure_class()(figsize=figsize)
        return fig, list(np.atleast_1d(fig.subplots(1, n)))
    axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) != n:
        raise ValueError(f"ax: expected {n} Axes, got {len(axes)}")
    return axes[0].figure, axes


def _save(fig: Any, path: str | os.PathLike | None, dpi: int) -> None:
    if path is not None:
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, format="png", dpi=dpi)


def loss_curve(
    history: Any,
    path: str | os.PathLike | None = None,
    *,
    metric: str = "accuracy",
    title: str = "",
    dpi: int = 100,
    ax: Any = None,
) -> Any:
    """Two panels over the epochs: training (and validation) loss, log scale, and the
    metric (``history[metric]``, ``history["val_" + metric]``) when recorded.

    Args:
        history: the ``History`` that ``tg.fit`` returns.
        path: where to write the PNG (optional).
        ax: the Axes to draw into: two (loss, metric) when the metric is recorded, else
            one; default a new figure.

    Returns the matplotlib ``Figure``.
    """
    records = history.as_dict()
    has_metric = metric in records
    n = 2 if has_metric else 1
    fig, axes = _axes(ax, n, (10 if has_metric else 6, 4))
    epochs = np.arange(1, len(records["loss"]) + 1)
    ax = axes[0]
    ax.plot(epochs, records["loss"], label="training")
    if records.get("val_loss"):
        ax.plot(epochs, records["val_loss"], label="validation")
    if min(records["loss"]) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if has_metric:
        ax = axes[1]
        ax.plot(epochs, records[metric], label="training")
        if f"val_{metric}" in records:
            ax.plot(epochs, records[f"val_{metric}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    if ax is None:
        fig.tight_layout()
    _save(fig, path, dpi)
    return fig


def decision_regions(
    predict: Any,
    X: np.ndarray,
    y: np.ndarray,
    path: str | os.PathLike | None = None,
    *,
    class_names: Sequence[str],
    feature_names: Sequence[str] = ("x1", "x2"),
    X_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    title: str = "",
    resolution: int = 300,
    dpi: int = 100,
    ax: Any = None,
) -> Any:
    """The classes a 2-D classifier assigns over the plane, with the data on top.

    Args:
        predict: ``predict(points (M, 2)) -> class indices (M,)``.
        X, y: training points ``(N, 2)`` and their class indices (drawn as circles).
        path: where to write the PNG (optional).
        X_test, y_test: test points (drawn as triangles), optional.
        class_names, feature_names: legend entries and axis labels.
        ax: the Axes to draw into; default a new figure.

    Returns the matplotlib ``Figure``.
    """
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D

    pts = X if X_test is None else np.vstack([X, X_test])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.08 * np.where(hi > lo, hi - lo, 1.0)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(gx, gy)
    zz = np.asarray(predict(np.c_[xx.ravel(), yy.ravel()])).reshape(xx.shape)

    k = len(class_names)
    base = colormaps["tab10"]
    colors = [base(i % 10) for i in range(k)]
    new = ax is None
    fig, (ax,) = _axes(ax, 1, (6.4, 5.2))
    ax.contourf(xx, yy, zz, levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(colors), alpha=0.25)
    ax.contour(xx, yy, zz, levels=np.arange(k) + 0.5, colors="k", linewidths=0.6, alpha=0.5)
    point_colors = np.asarray(colors)
    ax.scatter(X[:, 0], X[:, 1], c=point_colors[y], edgecolors="k", linewidths=0.5, s=28)
    if X_test is not None and y_test is not None:
        ax.scatter(
            X_test[:, 0],
            X_test[:, 1],
            c=point_colors[y_test],
            marker="^",
            edgecolors="k",
            linewidths=0.8,
            s=40,
        )
    handles = [
        Line2D([], [], marker="s", linestyle="", markersize=10, color=c, alpha=0.6, label=n)
        for c, n in zip(colors, class_names)
    ]
    handles.append(Line2D([], [], marker="o", linestyle="", color="gray", label="training"))
    if X_test is not None:
        handles.append(Line2D([], [], marker="^", linestyle="", color="gray", label="test"))
    ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.85)
    ax.set_xlabel(feature_names[0])
    ax.set_ylabel(feature_names[1])
    ax.set_title(title or "decision regions")
    if new:
        fig.tight_layout()
    _save(fig, path, dpi)
    return fig
