"""Training: ``fit``, its ``History``, callbacks, metrics and the progress display."""

from tracegrad.train.callbacks import Callback, LambdaCallback
from tracegrad.train.fit import NonFiniteLossError, fit
from tracegrad.train.history import History
from tracegrad.train.metrics import accuracy, r2_score

__all__ = [
    "Callback",
    "History",
    "LambdaCallback",
    "NonFiniteLossError",
    "accuracy",
    "fit",
    "r2_score",
]
