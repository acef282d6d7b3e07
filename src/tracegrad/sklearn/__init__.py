"""scikit-learn estimators built on tracegrad: ``MLPClassifier`` and ``MLPRegressor``.

They take scikit-learn's parameter names and defaults, pass
``sklearn.utils.estimator_checks.check_estimator``, and drop into ``Pipeline``,
``GridSearchCV`` and ``cross_val_score``. The networks are ``tg.nn.MLP`` models trained
by ``tg.fit`` with ``tg.optim.SGD`` or ``tg.optim.Adam``, or by scipy's L-BFGS-B
(``solver="lbfgs"``, scikit-learn's advice for small data sets); gradients come from
tracegrad's reverse mode. ``fit`` takes ``sample_weight``, and ``MLPClassifier`` takes
multilabel indicator targets, as scikit-learn's. Needs the ``sklearn`` extra (``pip
install 'tracegrad[sklearn]'``, which brings scipy); ``import tracegrad`` alone never
imports scikit-learn.

>>> import tracegrad as tg
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> iris = tg.datasets.load_iris()
>>> clf = make_pipeline(StandardScaler(), tg.sklearn.MLPClassifier((16,), random_state=0,
...                                                                 max_iter=500))
>>> clf.fit(iris.X, iris.y).score(iris.X, iris.y) > 0.95
True
"""

try:
    import sklearn  # noqa: F401
except ImportError:
    raise ModuleNotFoundError(
        "tracegrad.sklearn needs scikit-learn: pip install 'tracegrad[sklearn]'", name="sklearn"
    ) from None

from tracegrad.sklearn.classifier import MLPClassifier
from tracegrad.sklearn.regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
