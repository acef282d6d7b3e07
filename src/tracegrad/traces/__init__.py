"""Evaluation traces as the lecture notes print them: ``tg.trace`` and the formula parser."""

from tracegrad.traces import templates as _templates  # noqa: F401 (registers the displays)
from tracegrad.traces.evaluation import EvaluationTrace, trace
from tracegrad.traces.expr import Formula, ParseError, parse
from tracegrad.traces.ops import mse_step
from tracegrad.traces.registry import GENERIC, display
from tracegrad.traces.steps import TraceStep
from tracegrad.traces.tables import Table

__all__ = [
    "GENERIC",
    "EvaluationTrace",
    "Formula",
    "ParseError",
    "Table",
    "TraceStep",
    "display",
    "mse_step",
    "parse",
    "trace",
]

#: names kept for a release: old name -> (new object, new name)
_DEPRECATED = {
    "Trace": (EvaluationTrace, "EvaluationTrace"),
    "Step": (TraceStep, "TraceStep"),
    "mse": (mse_step, "mse_step"),
}


def __getattr__(name: str) -> object:
    if name in _DEPRECATED:
        import warnings

        obj, new = _DEPRECATED[name]
        warnings.warn(
            f"tracegrad.traces.{name} is deprecated: use {new}", DeprecationWarning, stacklevel=2
        )
        return obj
    raise AttributeError(f"module 'tracegrad.traces' has no attribute {name!r}")
