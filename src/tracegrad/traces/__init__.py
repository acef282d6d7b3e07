"""Evaluation traces as the lecture notes print them: ``tg.trace`` and the formula parser."""

from tracegrad.traces.expr import Formula, ParseError, parse
from tracegrad.traces.ops import mse
from tracegrad.traces.wengert import Step, Table, Trace, trace

__all__ = ["Formula", "ParseError", "Step", "Table", "Trace", "mse", "parse", "trace"]
