"""Training: ``fit``, its ``History``, callbacks, metrics and the progress display."""

from tracegrad.train.callbacks import Callback, CSVLogger, LambdaCallback
from tracegrad.train.checkpoint import ModelCheckpoint, load_checkpoint, save_checkpoint
from tracegrad.train.fit import NonFiniteLossError, TrainingInterrupted, fit
from tracegrad.train.history import History
from tracegrad.train.metrics import accuracy, r2_score

__all__ = [
    "CSVLogger",
    "Callback",
    "History",
    "LambdaCallback",
    "ModelCheckpoint",
    "NonFiniteLossError",
    "TrainingInterrupted",
    "accuracy",
    "fit",
    "load_checkpoint",
    "r2_score",
    "save_checkpoint",
]
