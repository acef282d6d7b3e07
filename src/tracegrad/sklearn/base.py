"""What :class:`MLPClassifier` and :class:`MLPRegressor` share: parameters, validation,
the network, and the training loops: ``tg.fit`` for ``sgd``/``adam`` (with a callback
that keeps scikit-learn's bookkeeping: ``loss_curve_``, ``n_iter_``, the ``tol`` /
``n_iter_no_change`` stopping rule, early stopping on a validation score) and
scipy's L-BFGS-B on the flattened parameters for ``lbfgs``.

Conventions (as scikit-learn's ``MLPClassifier``/``MLPRegressor``):

* the objective per mini-batch of ``b`` samples is the mean data loss plus
  ``alpha / (2 b) · Σ ‖W‖²`` over the weight matrices (biases are not penalised), with
  ``b`` each batch's own size (a last, partial batch is penalised more per sample);
  with ``sample_weight``, the weighted mean ``Σ wᵢ ℓᵢ / Σ wᵢ`` and ``b = Σ wᵢ`` over the
  batch, so that an integer weight acts as repeating the sample, a zero as dropping it;
* one iteration is one epoch (a pass over the training data) for ``sgd``/``adam``, one
  L-BFGS iteration (on all the data at once) for ``lbfgs``, which stops when the
  projected gradient's largest entry is ``<= tol`` (scipy's ``gtol``), after
  ``max_iter`` iterations or ``max_fun`` evaluations of the objective;
* training stops when the training loss (or, with ``early_stopping``, the validation
  score) has not improved by at least ``tol`` for more than ``n_iter_no_change``
  consecutive epochs, or after ``max_iter`` epochs (then with a ``ConvergenceWarning``);
* weights start Glorot-uniform (bound ``sqrt(6 / (fan_in + fan_out))``, or
  ``sqrt(2 / …)`` for the logistic activation), biases at zero;
* ``comm`` (tracegrad's own parameter): ``tg.fit``'s data-parallel training over MPI,
  for ``sgd``/``adam``; with it, every rank calls ``fit`` on the same data.
"""

from __future__ import annotations

import numbers
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

import tracegrad.numpy as tnp
from tracegrad.core import tree
from tracegrad.nn.layers import MLP
from tracegrad.nn.penalties import l2_penalty
from tracegrad.optim.adam import Adam
from tracegrad.optim.sgd import SGD
from tracegrad.train.callbacks import Callback
from tracegrad.train.fit import fit as tg_fit
from tracegrad.transforms import jit, value_and_grad

__all__ = ["BaseMLP"]

# scikit-learn's activation names -> tracegrad's
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


def _glorot(factor: float) -> Any:
    """scikit-learn's initialiser: ``U(−a, a)`` with ``a = sqrt(factor / (fan_in + fan_out))``."""

    def init(rng: np.random.Generator, shape: tuple, dtype: Any = np.float64) -> np.ndarray:
        fan_in, fan_out = shape[0], shape[-1]
        bound = np.sqrt(factor / (fan_in + fan_out))
        return rng.uniform(-bound, bound, size=shape).astype(dtype)

    return init


class _Rate:
    """A learning rate the training loop can change between epochs (``invscaling``,
    ``adaptive``); optimisers take any ``step -> lr`` callable."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def __call__(self, step: int) -> float:
        return self.value


class _Monitor(Callback):
    """scikit-learn's per-epoch bookkeeping, as a ``tg.fit`` callback."""

    def __init__(
        self,
        est: BaseMLP,
        n_train: int,
        validation: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None,
        check_stop: bool,
    ) -> None:
        self.est = est
        self.n_train = n_train
        self.validation = validation
        self.check_stop = check_stop
        self.converged = False
        self.best_model: Any = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: Any) -> bool:
        est = self.est
        loss = float(logs["loss"])
        est.n_iter_ += 1
        est.t_ += self.n_train
        est.loss_curve_.append(loss)
        est.loss_ = loss
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        tol = float(est.tol)
        if self.validation is not None:
            X_val, y_val, w_val = self.validation
            score = est._score_outputs(np.asarray(model(X_val)), y_val, w_val)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:.6f}")
            improved = score >= est.best_validation_score_ + tol
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                self.best_model = model
        else:
            improved = loss <= est.best_loss_ - tol
            est.best_loss_ = min(est.best_loss_, loss)
        est._no_improvement_count = 0 if improved else est._no_improvement_count + 1
        rate = est._rate
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            rate.value = float(est.learning_rate_init) / (est.t_ + 1) ** float(est.power_t)
        if not self.check_stop or est._no_improvement_count <= est.n_iter_no_change:
            return False
        if est.solver == "sgd" and est.learning_rate == "adaptive" and rate.value > 1e-6:
            # scikit-learn's "adaptive": divide the rate by 5 instead of stopping
            rate.value /= 5.0
            est._no_improvement_count = 0
            if est.verbose:
                print(f"Setting learning rate to {rate.value:f}")
            return False
        what = "Validation score" if self.validation is not None else "Training loss"
        if est.verbose:
            print(
                f"{what} did not improve more than tol={tol:f} for {est.n_iter_no_change} "
                "consecutive epochs. Stopping."
            )
        self.converged = True
        return True


def _stochastic(est: BaseMLP) -> bool:
    """Whether ``partial_fit`` is available: for ``sgd``/``adam``, not ``lbfgs`` (as
    scikit-learn's, where ``hasattr(est, "partial_fit")`` is then False)."""
    if est.solver == "lbfgs":
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers, not {est.solver!r}"
        )
    return True


class BaseMLP(BaseEstimator):
    """Shared implementation; use :class:`MLPClassifier` or :class:`MLPRegressor`."""

    # set by subclasses: output activation name (scikit-learn's ``out_activation_``)
    _is_classifier = False

    # checked by BaseEstimator._validate_params at the start of every fit, as
    # scikit-learn's own MLP does: an Interval holds no NaN, and no infinity unless
    # closed at that end; its errors are InvalidParameterError (a ValueError). The same
    # rules as ``tracegrad train``'s options (cli.train.RANGES) where they meet.
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "comm": "no_validation",  # None, "world" or a communicator: tg.fit checks it
    }

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] | list[int] | int = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 1e-4,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 1e-3,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: int | np.random.RandomState | None = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        comm: Any = None,
    ) -> None:
        # scikit-learn's rule: __init__ stores the parameters untouched; fit validates
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.comm = comm

    # --- subclass hooks -------------------------------------------------------

    def _prepare_targets(self, y: np.ndarray, mode: str, classes: Any) -> np.ndarray:
        """Targets as the network's loss takes them; sets ``classes_`` etc.

        ``mode``: ``"fit"`` (a fresh fit), ``"warm"`` (fit with ``warm_start`` on a fitted
        estimator), ``"partial_first"`` or ``"partial"`` (``partial_fit`` calls).
        """
        raise NotImplementedError

    def _loss(self, outputs: Any, targets: Any, reduction: str = "mean") -> Any:
        """The data loss: the mean over the samples, or with ``reduction="none"`` one
        value per sample, shape ``(b,)``."""
        raise NotImplementedError

    def _score_outputs(
        self, outputs: np.ndarray, targets: np.ndarray, sample_weight: np.ndarray | None
    ) -> float:
        """Validation score (accuracy or R², weighted by ``sample_weight`` if given) from
        network outputs and prepared targets."""
        raise NotImplementedError

    # --- validation -------------------------------------------------------------

    def _hidden_sizes(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = (sizes,)
        try:
            sizes = tuple(sizes)
        except TypeError:
            raise ValueError(
                f"hidden_layer_sizes must be an int or a sequence of ints, got {sizes!r}"
            ) from None
        if not all(isinstance(s, numbers.Integral) and s > 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}")
        return tuple(int(s) for s in sizes)

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn(
                f"batch_size={self.batch_size} is larger than the {n} samples; using {n}",
                UserWarning,
                stacklevel=3,
            )
        return min(int(self.batch_size), n)

    # --- the network --------------------------------------------------------------

    def _initialize(self, n_features: int, n_outputs: int, rng: np.random.Generator) -> None:
        hidden = self._hidden_sizes()
        act = _ACTIVATIONS[self.activation]
        factor = 2.0 if self.activation == "logistic" else 6.0
        self.model_ = MLP([n_features, *hidden, n_outputs], act, init=_glorot(factor), rng=rng)
        self.n_layers_ = len(hidden) + 2
        self.n_outputs_ = n_outputs
        self.n_iter_ = 0
        self.t_ = 0
        if self.solver != "lbfgs":  # scikit-learn keeps no loss curve for lbfgs
            self.loss_curve_: list[float] = []
        self._sync_attributes()

    def _sync_attributes(self) -> None:
        # coefs_/intercepts_ share memory with the network's parameters
        layers = self.model_.layers
        self.coefs_ = [layer.weight for layer in layers]
        self.intercepts_ = [layer.bias for layer in layers]

    def _optimizer(self) -> Any:
        self._rate = _Rate(self.learning_rate_init)
        if self.solver == "adam":
            return Adam(self._rate, betas=(self.beta_1, self.beta_2), eps=self.epsilon)
        nesterov = bool(self.nesterovs_momentum) and self.momentum > 0
        return SGD(self._rate, momentum=float(self.momentum), nesterov=nesterov)

    def _forward(self, X: Any) -> np.ndarray:
        """Network outputs (logits for classifiers) for validated ``X``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return np.asarray(self.model_(X), dtype=np.float64)

    # --- training -----------------------------------------------------------------

    def _same_architecture(self) -> bool:
        """Whether the fitted network has the hidden layers and activation asked for
        (``set_params`` may have changed them since: warm starting would then train
        the old network silently)."""
        model = self.model_
        act = _ACTIVATIONS[self.activation]
        return tuple(model.sizes[1:-1]) == self._hidden_sizes() and all(
            a == act for a in model.activations[:-1]
        )

    def _fit(
        self,
        X: Any,
        y: Any,
        *,
        incremental: bool,
        classes: Any = None,
        sample_weight: Any = None,
    ) -> BaseMLP:
        self._validate_params()
        first = not hasattr(self, "model_")
        fresh = first or (not incremental and not self.warm_start)
        if not fresh and not self._same_architecture():
            if incremental:
                raise ValueError(
                    f"partial_fit: hidden_layer_sizes={self.hidden_layer_sizes!r} and "
                    f"activation={self.activation!r} do not describe the fitted network; "
                    "call fit to train a new one"
                )
            fresh = True  # warm_start with another architecture: a new network
        X, y = validate_data(
            self,
            X,
            y,
            reset=fresh,
            dtype=np.float64,
            multi_output=True,  # multilabel (classifier) or multi-output (regressor) y
            y_numeric=not self._is_classifier,
        )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        if incremental:
            mode = "partial_first" if first else "partial"
        else:
            mode = "fit" if fresh else "warm"
        targets = self._prepare_targets(y, mode, classes)
        if fresh:
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            self._rng = np.random.default_rng(seed)
            self._initialize(X.shape[1], self._n_network_outputs(), self._rng)
        if self.solver == "lbfgs":
            if self.comm is not None:
                raise ValueError("comm (data-parallel training) applies to solver 'sgd' or 'adam'")
            return self._fit_lbfgs(X, targets, sample_weight)
        # scikit-learn: a fit (also under warm_start) starts a new optimiser;
        # partial_fit continues the last one
        if not incremental or not hasattr(self, "_opt_state"):
            self._opt = self._optimizer()
            self._opt_state = None
        if not incremental:
            self._no_improvement_count = 0
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

        validation = None
        early = bool(self.early_stopping) and not incremental
        if early:
            from sklearn.model_selection import train_test_split

            # stratified by class, except for multilabel targets (as scikit-learn)
            stratify = targets if self._is_classifier and targets.ndim == 1 else None
            arrays = [X, targets] if sample_weight is None else [X, targets, sample_weight]
            X, X_val, targets, y_val, *weights = train_test_split(
                *arrays,
                test_size=self.validation_fraction,
                random_state=int(self._rng.integers(np.iinfo(np.int32).max)),
                stratify=stratify,
            )
            sample_weight, w_val = weights if weights else (None, None)
            validation = (X_val, y_val, w_val)
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        elif not hasattr(self, "best_loss_") or self.best_loss_ is None:
            self.best_loss_ = np.inf
            self._no_improvement_count = 0

        n = X.shape[0]
        bs = self._batch_size(n)
        alpha = float(self.alpha)

        def penalty(model: Any, n_batch: int) -> Any:
            # scikit-learn's alpha / (2 n_batch) · Σ ‖W‖², with the batch's own size: the
            # last mini-batch of an epoch may be smaller than batch_size (tg.fit passes
            # n_batch to a penalty with that parameter)
            return l2_penalty(model, alpha / n_batch)

        epochs = 1 if incremental else int(self.max_iter)
        self.n_iter_ = 0  # epochs of this call, as scikit-learn counts them (t_ goes on)
        monitor = _Monitor(self, n, validation, check_stop=not incremental)
        model, history = tg_fit(
            self.model_,
            self._loss,
            X,
            targets,
            self._opt,
            batch_size=bs,
            max_epochs=epochs,
            shuffle=bool(self.shuffle),
            seed=self._rng,
            penalty=penalty if alpha > 0 else None,
            callbacks=[monitor],
            progress=False,
            opt_state=self._opt_state,
            sample_weight=sample_weight,
            comm=self.comm,
        )
        self._opt_state = history.opt_state
        if early and monitor.best_model is not None:
            model = monitor.best_model
        self.model_ = model
        self._sync_attributes()
        if not incremental and not monitor.converged and history.epochs >= epochs:
            warnings.warn(
                f"{type(self).__name__}: stopped after max_iter={self.max_iter} epochs without "
                "converging (raise max_iter, or tol)",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _fit_lbfgs(self, X: np.ndarray, targets: np.ndarray, sample_weight: Any) -> BaseMLP:
        """Full-batch L-BFGS-B (scipy.optimize) on the objective of all the data, its
        gradient from tracegrad's reverse mode over the flattened parameters."""
        try:
            from scipy.optimize import minimize
        except ImportError:  # pragma: no cover - scipy comes with scikit-learn
            raise ImportError(
                "solver='lbfgs' needs scipy: pip install 'tracegrad[sklearn]'"
            ) from None
        w = np.ones(len(X)) if sample_weight is None else sample_weight
        leaves, treedef = tree.flatten(self.model_)
        shapes = [np.shape(p) for p in leaves]
        ends = np.cumsum([int(np.prod(s)) for s in shapes])
        alpha = float(self.alpha)

        def objective(model: Any, X: Any, targets: Any, w: Any) -> Any:
            total = tnp.sum(w)
            value = tnp.sum(w * self._loss(model(X), targets, reduction="none")) / total
            return value + l2_penalty(model, alpha / total) if alpha > 0 else value

        step = jit(value_and_grad(objective), warn=False)

        def unravel(theta: np.ndarray) -> Any:
            parts = np.split(theta, ends[:-1])
            return tree.unflatten(treedef, [p.reshape(s) for p, s in zip(parts, shapes)])

        def value_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            value, grads = step(unravel(theta), X, targets, w)
            flat = [np.asarray(g, dtype=np.float64).ravel() for g in tree.leaves(grads)]
            return float(value), np.concatenate(flat)

        theta0 = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in leaves])
        result = minimize(
            value_grad,
            theta0,
            method="L-BFGS-B",
            jac=True,
            options={"maxfun": int(self.max_fun), "maxiter": int(self.max_iter), "gtol": self.tol},
        )
        self.model_ = unravel(result.x)
        self._sync_attributes()
        self.n_iter_ = min(int(result.nit), int(self.max_iter))
        self.loss_ = float(result.fun)
        if self.verbose:
            print(f"lbfgs: {self.n_iter_} iterations, loss = {self.loss_:.8f}")
        if result.status != 0:
            # scikit-learn's warning: status 1 is a max_iter or max_fun limit, 2 a line
            # search that made no progress (scipy's message says which)
            warnings.warn(
                f"{type(self).__name__}: lbfgs failed to converge after {self.n_iter_} "
                f"iteration(s) (status={result.status}): {result.message} (raise max_iter "
                "or max_fun, or scale the data)",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self
