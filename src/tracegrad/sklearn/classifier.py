"""``MLPClassifier``: scikit-learn's multilayer-perceptron classifier, on tracegrad."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

import tracegrad.numpy as tnp
from tracegrad.nn.losses import binary_cross_entropy, cross_entropy
from tracegrad.sklearn.base import BaseMLP, _stochastic

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
    (``"lbfgs"``, ``"sgd"``, ``"adam"``), ``alpha`` (L2 on the weights), ``batch_size="auto"``
    (``min(200, n_samples)``), ``learning_rate`` (for ``sgd``: ``"constant"``,
    ``"invscaling"``, ``"adaptive"``), ``learning_rate_init``, ``power_t``,
    ``max_iter`` (epochs), ``shuffle``, ``random_state``, ``tol``, ``verbose``,
    ``warm_start``, ``momentum``, ``nesterovs_momentum``, ``early_stopping``,
    ``validation_fraction``, ``beta_1``, ``beta_2``, ``epsilon``, ``n_iter_no_change``,
    ``max_fun`` (``lbfgs``: at most this many evaluations of the objective); and one of
    tracegrad's own, ``comm=None``: data-parallel training over MPI for ``sgd``/``adam``
    (``"world"`` or an ``mpi4py`` communicator; every rank calls ``fit`` on the same
    data and ends with the same network, see ``tg.fit``). Not set by default, even
    under ``mpiexec``: ranks that fit different estimators (one fold each of a
    cross-validation) must not be joined into one training run.

    The output layer is a softmax over ``C`` units for ``C > 2`` classes (cross-entropy
    loss) and one logistic unit for two classes (binary cross-entropy), as in
    scikit-learn. Labels can be any sortable values (ints, strings). A multilabel ``y``,
    an indicator matrix ``(n_samples, L)`` of 0/1, trains ``L`` logistic units with
    the binary cross-entropy summed over the labels (scikit-learn's loss); ``predict``
    then returns an indicator matrix of ints, ``predict_proba`` each label's
    probability ``(n_samples, L)``, and ``classes_`` is ``arange(L)``.

    Attributes (after ``fit``):
        classes_: the class labels, sorted, shape ``(C,)`` (``arange(L)`` for multilabel).
        coefs_: weight matrices, ``coefs_[i]`` of shape ``(n_in, n_out)`` of layer ``i``.
        intercepts_: bias vectors, ``intercepts_[i]`` of shape ``(n_out,)``.
        loss_, loss_curve_: last and per-epoch training objective (with the penalty).
            (``loss_curve_`` is not kept by ``lbfgs``, as scikit-learn's.)
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
        return 1 if len(self.classes_) == 2 and not self._multilabel else len(self.classes_)

    def _prepare_targets(self, y: np.ndarray, mode: str, classes: Any) -> np.ndarray:
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)  # one column: plain labels, with scikit-learn's warning
        multilabel = y.ndim == 2
        # type_of_target calls any two-valued integer matrix multilabel; the loss needs 0/1
        if multilabel and (
            type_of_target(y) != "multilabel-indicator" or not np.isin(y, (0, 1)).all()
        ):
            raise ValueError(
                f"MLPClassifier: a 2-D y must be a multilabel indicator matrix (0/1 per "
                f"sample and label); got {type_of_target(y)!r} targets of shape {y.shape}"
            )
        check_classification_targets(y)
        if mode in ("partial", "warm") and multilabel != self._multilabel:
            raise ValueError(
                f"y is {'multilabel' if multilabel else 'not multilabel'}, but this "
                f"{type(self).__name__} was fitted on "
                f"{'multilabel' if self._multilabel else 'single-label'} targets"
            )
        if multilabel:
            return self._prepare_multilabel(y, mode, classes)
        self._multilabel = False
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

    def _prepare_multilabel(self, y: np.ndarray, mode: str, classes: Any) -> np.ndarray:
        """Multilabel targets: the indicator matrix as floats; ``classes_ = arange(L)``."""
        n_labels = y.shape[1]
        if mode == "partial_first" and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if mode in ("partial", "warm") and n_labels != len(self.classes_):
            raise ValueError(
                f"y has {n_labels} labels, but this {type(self).__name__} was fitted with "
                f"{len(self.classes_)}"
            )
        self._multilabel = True
        self.classes_ = np.arange(n_labels)
        self.out_activation_ = "logistic"
        return y.astype(np.float64)

    def _loss(self, outputs: Any, targets: Any, reduction: str = "mean") -> Any:
        if self._multilabel:
            # scikit-learn's multilabel loss sums the labels' binary cross-entropies
            per = tnp.sum(binary_cross_entropy(outputs, targets, reduction="none"), axis=1)
        elif self.out_activation_ == "logistic":
            per = binary_cross_entropy(outputs[:, 0], targets, reduction="none")
        elif reduction == "none":
            # one-hot targets by comparison: indexing by traced labels would keep tg.jit
            # from replaying the step
            onehot = tnp.equal(tnp.reshape(targets, (-1, 1)), np.arange(len(self.classes_)))
            return cross_entropy(outputs, onehot, reduction="none")
        else:
            return cross_entropy(outputs, targets)
        return per if reduction == "none" else tnp.mean(per)

    def _proba(self, outputs: np.ndarray) -> np.ndarray:
        if outputs.shape[1] == 1 or self._multilabel:
            # stable logistic: 1 / (1 + e^-z) without overflow warnings for large |z|
            p = np.exp(-np.logaddexp(0.0, -outputs))
            return p if self._multilabel else np.column_stack([1.0 - p[:, 0], p[:, 0]])
        return _softmax(outputs)

    def _score_outputs(
        self, outputs: np.ndarray, targets: np.ndarray, sample_weight: np.ndarray | None
    ) -> float:
        proba = self._proba(outputs)
        if self._multilabel:  # subset accuracy, as accuracy_score's
            correct = np.all((proba > 0.5) == (targets > 0.5), axis=1)
        else:
            correct = proba.argmax(axis=1) == targets
        return float(np.average(correct, weights=sample_weight))

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Train on ``X`` ``(n_samples, n_features)`` and labels ``y`` ``(n_samples,)``
        (or a multilabel indicator matrix ``(n_samples, L)``); ``sample_weight``
        ``(n_samples,)``: non-negative weights of the samples' losses."""
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    @available_if(_stochastic)
    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
    ) -> MLPClassifier:
        """One epoch over ``(X, y)``, continuing from the current weights and optimiser
        state. The first call needs ``classes`` (all labels that will ever occur). Only
        for the ``sgd`` and ``adam`` solvers, as scikit-learn's."""
        return self._fit(X, y, incremental=True, classes=classes, sample_weight=sample_weight)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)``, columns in ``classes_``
        order; rows sum to 1. Multilabel: each label's probability, ``(n_samples, L)``."""
        return self._proba(self._forward(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample, shape ``(n_samples,)``; multilabel:
        the indicator matrix ``(n_samples, L)`` of the labels with probability > 0.5."""
        proba = self.predict_proba(X)  # first: raises NotFittedError before fit
        if self._multilabel:
            return (proba > 0.5).astype(int)
        return self.classes_[proba.argmax(axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
