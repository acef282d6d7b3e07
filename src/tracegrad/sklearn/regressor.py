"""``MLPRegressor``: scikit-learn's multilayer-perceptron regressor, on tracegrad."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if

import tracegrad.numpy as tnp
from tracegrad.nn.losses import mse
from tracegrad.sklearn.base import BaseMLP, _stochastic

__all__ = ["MLPRegressor"]


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multilayer perceptron regressor trained with tracegrad's reverse mode.

    Same parameters as :class:`~tracegrad.sklearn.MLPClassifier` (scikit-learn's names
    and defaults, ``solver="lbfgs"`` and ``max_fun`` included; scikit-learn's ``loss``
    is always ``"squared_error"`` here). Linear output layer; the loss is half the mean
    squared error, ``mean((ŷ − y)²) / 2`` over all outputs, as scikit-learn's (with
    ``sample_weight``, the samples' weighted mean). ``y`` may have shape
    ``(n_samples,)`` or ``(n_samples, n_outputs)``; ``predict`` returns the same form.

    Attributes (after ``fit``): ``coefs_``, ``intercepts_``, ``loss_``, ``loss_curve_``
    (not with ``lbfgs``),
    ``best_loss_``, ``validation_scores_`` (R² with ``early_stopping``),
    ``best_validation_score_``, ``n_iter_``, ``t_``, ``n_layers_``, ``n_outputs_``,
    ``out_activation_ = "identity"``, ``n_features_in_``, ``model_``.

    >>> import numpy as np
    >>> from tracegrad.sklearn import MLPRegressor
    >>> X = np.linspace(-1, 1, 50)[:, None]
    >>> reg = MLPRegressor((16,), activation="tanh", learning_rate_init=0.02, max_iter=500,
    ...                    random_state=0).fit(X, X[:, 0] ** 2)
    >>> round(reg.score(X, X[:, 0] ** 2), 2) > 0.9
    True
    """

    _is_classifier = False

    def _n_network_outputs(self) -> int:
        return self._n_targets

    def _prepare_targets(self, y: np.ndarray, mode: str, classes: Any) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        if mode in ("warm", "partial") and y2.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y2.shape[1]} outputs, but {type(self).__name__} was fitted with "
                f"{self.n_outputs_}"
            )
        self._n_targets = y2.shape[1]
        self._y_1d = y.ndim == 1
        self.out_activation_ = "identity"
        return y2

    def _loss(self, outputs: Any, targets: Any, reduction: str = "mean") -> Any:
        per = 0.5 * tnp.mean(mse(outputs, targets, reduction="none"), axis=1)
        return per if reduction == "none" else tnp.mean(per)

    def _score_outputs(
        self, outputs: np.ndarray, targets: np.ndarray, sample_weight: np.ndarray | None
    ) -> float:
        # R² averaged over the outputs, as scikit-learn's score (and its early stopping)
        return float(r2_score(targets, outputs, sample_weight=sample_weight))

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Train on ``X`` ``(n_samples, n_features)`` and targets ``y``; ``sample_weight``
        ``(n_samples,)``: non-negative weights of the samples' losses."""
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    @available_if(_stochastic)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over ``(X, y)``, continuing from the current weights and optimiser
        state. Only for the ``sgd`` and ``adam`` solvers, as scikit-learn's."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, ``(n_samples,)`` for a 1-D target, else ``(n_samples, n_outputs)``."""
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 and self._y_1d else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.regressor_tags.poor_score = False
        return tags
