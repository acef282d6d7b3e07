"""scikit-learn estimators: check_estimator, accuracy against scikit-learn's own MLP,
and use inside Pipeline, GridSearchCV and cross_val_score."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad.sklearn import MLPClassifier, MLPRegressor

# small networks and few epochs (iterations) keep the ~200 checks fast; the settings
# still learn the checks' toy problems well enough for their accuracy thresholds. The
# checks include the sample-weight ones (zero weight = a dropped sample, integer weights
# = repeated samples) and, for the classifier, the multilabel ones.
CHECKED = [
    MLPClassifier((16,), learning_rate_init=0.01, max_iter=100, random_state=0),
    MLPRegressor((16,), learning_rate_init=0.01, max_iter=100, random_state=0),
    MLPClassifier((16,), solver="lbfgs", max_iter=50, random_state=0),
    MLPRegressor((16,), solver="lbfgs", max_iter=50, random_state=0),
]


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # on these tiny problems BLAS threads only wait for each other: on a busy machine
    # lbfgs's small vector updates (ours and scikit-learn's) take ten times as long
    with threadpool_limits(1):
        yield


@parametrize_with_checks(CHECKED)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(clone(estimator))  # some checks fit the instance they get


def _split(loader, stratify=True, seed=0):
    X, y = loader(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(
        X, y, test_size=0.3, random_state=seed, stratify=y if stratify else None
    )
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize(
    "loader, hidden, threshold", [(load_iris, (32,), 0.93), (load_digits, (32,), 0.95)]
)
def test_classifier_accuracy_matches_sklearn(loader, hidden, threshold, solver):
    Xtr, Xte, ytr, yte = _split(loader)
    kw = dict(hidden_layer_sizes=hidden, solver=solver, random_state=0, max_iter=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**kw).fit(Xtr, ytr).score(Xte, yte)
        theirs = SkMLPClassifier(**kw).fit(Xtr, ytr).score(Xte, yte)
    assert ours >= threshold
    # the initial weights differ (tracegrad's generator): one Iris test flower is 0.022
    assert abs(ours - theirs) <= 0.025, (ours, theirs)


def test_regressor_r2_on_diabetes():
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=42)
    scale = StandardScaler().fit(ytr[:, None])
    kw = dict(hidden_layer_sizes=(16,), alpha=1.0, random_state=0, max_iter=300)
    scores = []
    for cls in (MLPRegressor, SkMLPRegressor):
        model = make_pipeline(StandardScaler(), cls(**kw))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(Xtr, scale.transform(ytr[:, None])[:, 0])
        pred = scale.inverse_transform(model.predict(Xte)[:, None])[:, 0]
        scores.append(1 - np.sum((yte - pred) ** 2) / np.sum((yte - yte.mean()) ** 2))
    assert scores[0] >= 0.4
    assert abs(scores[0] - scores[1]) <= 0.05, scores


def test_pipeline_gridsearch_cross_val_score():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(
        StandardScaler(), MLPClassifier((8,), learning_rate_init=0.01, max_iter=150, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=3)
        grid = GridSearchCV(pipe, {"mlpclassifier__learning_rate_init": [1e-3, 1e-2]}, cv=3).fit(
            X, y
        )
    assert scores.mean() > 0.8
    assert grid.best_params_["mlpclassifier__learning_rate_init"] == 1e-2
    assert grid.best_score_ > 0.9


def test_fitted_attributes_and_conventions():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MLPClassifier((10, 5), solver="sgd", learning_rate_init=0.05, max_iter=30, random_state=0)
    assert not [k for k in vars(clf) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        clf.predict(X)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert [c.shape for c in clf.coefs_] == [(4, 10), (10, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(10,), (5,), (3,)]
    assert clf.n_iter_ == 30 and len(clf.loss_curve_) == 30 and clf.n_features_in_ == 4
    assert clf.n_layers_ == 4 and clf.out_activation_ == "softmax"
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= set(clf.classes_)
    # clone gives an unfitted copy with the same parameters
    c2 = clone(clf)
    assert c2.get_params() == clf.get_params() and not hasattr(c2, "coefs_")
    c2.set_params(hidden_layer_sizes=(3,))
    assert c2.hidden_layer_sizes == (3,)


def test_binary_uses_one_logistic_unit_and_early_stopping():
    X, y = load_iris(return_X_y=True)
    mask = y > 0
    clf = MLPClassifier((8,), early_stopping=True, max_iter=300, random_state=0)
    clf.fit(StandardScaler().fit_transform(X[mask]), y[mask])
    assert clf.out_activation_ == "logistic" and clf.coefs_[-1].shape == (8, 1)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.n_iter_ < 300  # stopped by n_iter_no_change
    assert clf.predict_proba(X[mask][:5]).shape == (5, 2)


def test_partial_fit_and_warm_start():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier((16,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    for _ in range(50):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    # n_iter_ counts the epochs of the last call, as scikit-learn's; t_ the samples seen
    assert clf.n_iter_ == 1 and clf.t_ == 50 * len(X) and clf.score(X, y) > 0.85
    warm = MLPClassifier((16,), max_iter=20, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X, y)
        first = [c.copy() for c in warm.coefs_]
        warm.fit(X, y)
    assert warm.n_iter_ == 20 and len(warm.loss_curve_) == 40
    assert warm.loss_curve_[20] < warm.loss_curve_[0]
    assert not np.allclose(first[0], warm.coefs_[0])


def test_regressor_multioutput_and_parameter_errors():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    Y = np.c_[X[:, 0], X[:, 1] - X[:, 2]]
    reg = MLPRegressor((16,), learning_rate_init=0.01, max_iter=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, Y)
    assert reg.predict(X).shape == (60, 2) and reg.score(X, Y) > 0.8
    for bad in (
        dict(solver="newton"),
        dict(solver="lbfgs", max_fun=0),
        dict(activation="softplus"),
        dict(alpha=-1.0),
        dict(hidden_layer_sizes=(0,)),
        dict(batch_size=0),
    ):
        with pytest.raises(ValueError):
            MLPRegressor(**bad).fit(X, Y[:, 0])


def test_parameters_are_sklearns():
    # scikit-learn's MLPRegressor also has `loss` ("squared_error" or "poisson")
    for ours, theirs, extra in (
        (MLPClassifier(), SkMLPClassifier(), set()),
        (MLPRegressor(), SkMLPRegressor(), {"loss"}),
    ):
        params = ours.get_params()
        assert params.pop("comm") is None  # tracegrad's own: data-parallel training (MPI)
        assert params == {k: v for k, v in theirs.get_params().items() if k not in extra}


def test_import_tracegrad_does_not_import_sklearn():
    import subprocess
    import sys

    code = "import sys, tracegrad; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_l2_penalty_uses_each_batch_size_as_sklearn():
    # 5 samples in batches of 2: the last batch has 1 sample, and scikit-learn's L2 term
    # for it is alpha / (2 · 1) · Σ ‖W‖², not alpha / (2 · 2) · Σ ‖W‖²
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 2)), rng.standard_normal(5)
    alpha, lr = 0.5, 0.1
    kw = dict(
        hidden_layer_sizes=(3,),
        activation="tanh",
        solver="sgd",
        momentum=0.0,
        alpha=alpha,
        batch_size=2,
        learning_rate_init=lr,
        shuffle=False,
        random_state=0,
    )
    ours = MLPRegressor(**kw).partial_fit(X, y)
    start = [w.copy() for w in ours.coefs_], [b.copy() for b in ours.intercepts_]
    ours.partial_fit(X, y)  # one epoch of three SGD steps from `start`

    # the same epoch written out from scikit-learn's objective
    def objective(params, xb, yb):
        (W1, W2), (b1, b2) = params
        out = tnp.tanh(xb @ W1 + b1) @ W2 + b2
        data = 0.5 * tnp.mean((out[:, 0] - yb) ** 2)
        return data + alpha / (2 * len(xb)) * (tnp.sum(W1**2) + tnp.sum(W2**2))

    params = start
    for batch in (slice(0, 2), slice(2, 4), slice(4, 5)):
        grads = tg.grad(objective)(params, X[batch], y[batch])
        params = tg.tree.map(lambda p, g: p - lr * g, params, grads)
    for got, want in zip(ours.coefs_ + ours.intercepts_, params[0] + params[1]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)

    # and scikit-learn itself, from the same weights
    sk = SkMLPRegressor(**kw).partial_fit(X, y)
    sk.coefs_ = [w.copy() for w in start[0]]
    sk.intercepts_ = [b.copy() for b in start[1]]
    sk.partial_fit(X, y)
    for got, want in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def _lbfgs_pair(ours_cls, theirs_cls, X, y, sample_weight=None, max_iter=15, **kw):
    """Ours and scikit-learn's lbfgs, both warm-started from the same weights (ours)."""
    kw = dict(solver="lbfgs", warm_start=True, random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ours_cls(max_iter=1, **kw).fit(X, y)
        theirs = theirs_cls(max_iter=1, **kw).fit(X, y)
        theirs.coefs_ = [c.copy() for c in ours.coefs_]
        theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
        for est in (ours, theirs):
            est.set_params(max_iter=max_iter).fit(X, y, sample_weight=sample_weight)
    return ours, theirs


def _assert_same_weights(ours, theirs, rtol=1e-6):
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=rtol)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-8)


def test_lbfgs_follows_sklearn_from_the_same_weights():
    # the same objective and gradient give L-BFGS-B the same path: multiclass, binary,
    # multilabel and regression, with L2 and sample weights
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    w = rng.integers(0, 4, size=40).astype(float)
    Y = np.c_[X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 0] * X[:, 1] > 0].astype(int)
    kw = dict(hidden_layer_sizes=(5,), activation="tanh", alpha=0.1)
    for y in (Y[:, 0] + Y[:, 1], Y[:, 0], Y):
        _assert_same_weights(*_lbfgs_pair(MLPClassifier, SkMLPClassifier, X, y, w, **kw))
    _assert_same_weights(
        *_lbfgs_pair(MLPRegressor, SkMLPRegressor, X, X @ [1.0, -2.0, 0.5], w, **kw)
    )
    ours, theirs = _lbfgs_pair(MLPClassifier, SkMLPClassifier, X, Y, **kw)  # unweighted
    _assert_same_weights(ours, theirs)
    assert not hasattr(ours, "loss_curve_") and not hasattr(theirs, "loss_curve_")


def test_lbfgs_limits_warnings_and_no_partial_fit():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier((8,), solver="lbfgs", max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"lbfgs failed to converge after 5 iter.*status=1"):
        clf.fit(X, y)
    assert clf.n_iter_ == 5 and clf.loss_ > 0
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier((8,), solver="lbfgs", max_fun=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # converges: no warning
        done = MLPClassifier((8,), solver="lbfgs", tol=1e-3, random_state=0).fit(X, y)
    assert done.n_iter_ < 200 and done.score(X, y) > 0.97
    # as scikit-learn's: partial_fit only for the stochastic solvers
    assert not hasattr(clf, "partial_fit") and not hasattr(
        SkMLPClassifier(solver="lbfgs"), "partial_fit"
    )
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPClassifier(), "partial_fit")


def test_multilabel_indicator_targets():
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=80, n_features=4, n_classes=3, random_state=0)
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier((16,), solver="lbfgs", max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, Y)
        sk = SkMLPClassifier((16,), solver="lbfgs", max_iter=300, random_state=0).fit(X, Y)
    assert clf.out_activation_ == sk.out_activation_ == "logistic"
    assert clf.n_outputs_ == 3 and clf.coefs_[-1].shape == (16, 3)
    np.testing.assert_array_equal(clf.classes_, sk.classes_)
    pred, proba = clf.predict(X), clf.predict_proba(X)
    assert pred.shape == Y.shape and pred.dtype == sk.predict(X).dtype
    assert proba.shape == (80, 3) and ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    assert clf.score(X, Y) > 0.9  # subset accuracy on the training set
    # adam, early stopping (not stratified) and partial_fit take indicator targets too
    es = MLPClassifier((8,), early_stopping=True, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        es.fit(X, Y)
    assert len(es.validation_scores_) == es.n_iter_
    inc = MLPClassifier((8,), random_state=0).partial_fit(X, Y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="labels"):
        inc.partial_fit(X, Y[:, :2])
    with pytest.raises(ValueError, match="multilabel"):
        inc.partial_fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="indicator"):
        MLPClassifier().fit(X, Y * [1, 2, 3])  # multiclass-multioutput
    with pytest.raises(ValueError, match="indicator"):
        MLPClassifier().fit(X, Y * 2)  # two values, but not 0/1


def test_sample_weight_zero_drops_and_integers_repeat_in_full_batch():
    # full batch (batch_size >= n): weighting is exactly repeating, also with sgd and L2
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((30, 2)), rng.standard_normal(30)
    w = rng.integers(0, 3, size=30)
    kw = dict(hidden_layer_sizes=(4,), solver="sgd", alpha=0.5, max_iter=30)  # batch: all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPRegressor(random_state=0, **kw).fit(X, y, sample_weight=w)
        b = MLPRegressor(random_state=0, **kw).fit(X.repeat(w, 0), y.repeat(w))
        c = MLPRegressor(random_state=0, **kw).fit(X, y)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-10)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-10)
    assert not np.allclose(a.predict(X), c.predict(X))
    with pytest.raises(ValueError, match="(?i)negative"):
        MLPRegressor().fit(X, y, sample_weight=-np.ones(30))
