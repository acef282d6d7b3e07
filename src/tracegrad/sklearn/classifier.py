"""``MLPClassifier``: scikit-learn's multilayer-perceptron classifier, on tracegrad."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets

from tracegrad.nn.losses import binary_cross_entropy, cross_entropy
from tracegrad.sklearn.base import BaseMLP

__all__ = ["MLPClassifier"]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multilayer perceptron classifier trained with tracegrad's reverse mode.

    Parameters have scikit-learn's names, meanings and defaults (see
    :class:`sklearn.neural_network.MLPClassifier`): ``hidden_layer_sizes=(100,)``,
    ``activation`` (``"identity"``, ``"logistic"``, ``"tanh"``, ``"relu"``), ``solver``
    (``"sgd"``, ``"adam"``), ``alpha`` (L2 on the weights), ``batch_size="auto"``
    (``min(200, n_samples)``), ``learning_rate`` (for ``sgd``: ``"constant"``,
    ``"invscaling"``, ``"adaptive"``), ``learning_rate_init``, ``power_t``,
    ``max_iter`` (epochs), ``shuffle``, ``random_state``, ``tol``, ``verbose``,
    ``warm_start``, ``momentum``, ``nesterovs_momentum``, ``early_stopping``,
    ``validation_fraction``, ``beta_1``, ``beta_2``, ``epsilon``, ``n_iter_no_change``.

    The output layer is a softmax over ``C`` units for ``C > 2`` classes (cross-entropy
    loss) and one logistic unit for two classes (binary cross-entropy), as in
    scikit-learn. Labels can be any sortable values (ints, strings).

    Attributes (after ``fit``):
        classes_: the class labels, sorted, shape ``(C,)``.
        coefs_: weight matrices, ``coefs_[i]`` of shape ``(n_in, n_out)`` of layer ``i``.
        intercepts_: bias vectors, ``intercepts_[i]`` of shape ``(n_out,)``.
        loss_, loss_curve_: last and per-epoch training objective (with the penalty).
        best_loss_: lowest training loss (``None`` with ``early_stopping``).
        validation_scores_, best_validation_score_: accuracy on the held-out fraction
            per epoch, and its best (with ``early_stopping``; else ``None``).
        n_iter_: epochs run; t_: training samples seen; n_layers_, n_outputs_,
        out_activation_ (``"softmax"`` or ``"logistic"``); n_features_in_,
        feature_names_in_ (for DataFrames with string column names).
        model_: the trained :class:`tracegrad.nn.MLP` (it outputs logits).

    >>> from tracegrad.sklearn import MLPClassifier
    >>> X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10
    >>> clf = MLPClassifier((8,), solver="adam", learning_rate_init=0.05, max_iter=300,
    ...                     random_state=0).fit(X, ["a", "b", "b", "a"] * 10)
    >>> clf.predict([[0.0, 1.0], [1.0, 1.0]]).tolist()
    ['b', 'a']
    """

    _is_classifier = True

    def _n_network_outputs(self) -> int:
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _prepare_targets(self, y: np.ndarray, mode: str, classes: Any) -> np.ndarray:
        check_classification_targets(y)
        if mode == "partial_first":
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self.classes_ = np.unique(np.asarray(classes))
        elif mode == "partial":
            if classes is not None and not np.array_equal(self.classes_, np.unique(classes)):
                raise ValueError(
                    f"`classes={np.unique(classes).tolist()}` is not the same as on the first "
                    f"call to partial_fit, which was {self.classes_.tolist()}"
                )
        elif mode == "warm":
            if not np.array_equal(np.unique(y), self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit: {self.classes_.tolist()} vs {np.unique(y).tolist()}"
                )
        else:
            self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(
                f"MLPClassifier needs samples of at least 2 classes; got 1 class "
                f"({self.classes_[0]!r})"
            )
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(
                f"`y` has classes not in `self.classes_`: {unknown.tolist()} (classes_: "
                f"{self.classes_.tolist()})"
            )
        self.out_activation_ = "logistic" if len(self.classes_) == 2 else "softmax"
        idx = np.searchsorted(self.classes_, y).astype(np.int64)
        return idx

    def _loss(self, outputs: Any, targets: Any) -> Any:
        if self.out_activation_ == "logistic":
            return binary_cross_entropy(outputs, targets)
        return cross_entropy(outputs, targets)

    def _proba(self, outputs: np.ndarray) -> np.ndarray:
        if outputs.shape[1] == 1:
            # stable logistic: 1 / (1 + e^-z) without overflow warnings for large |z|
            z = outputs[:, 0]
            p = np.exp(-np.logaddexp(0.0, -z))
            return np.column_stack([1.0 - p, p])
        return _softmax(outputs)

    def _score_outputs(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        return float(np.mean(self._proba(outputs).argmax(axis=1) == targets))

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on ``X`` ``(n_samples, n_features)`` and labels ``y`` ``(n_samples,)``."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over ``(X, y)``, continuing from the current weights and optimiser
        state. The first call needs ``classes`` (all labels that will ever occur)."""
        return self._fit(X, y, incremental=True, classes=classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)``, columns in ``classes_``
        order; rows sum to 1."""
        return self._proba(self._forward(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample, shape ``(n_samples,)``."""
        proba = self.predict_proba(X)  # first: raises NotFittedError before fit
        return self.classes_[proba.argmax(axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags
