"""The core: primitives, trace levels, forward and reverse mode, pytrees, shapes.

Nothing here imports the operation set (:mod:`tracegrad.numpy`)."""

from tracegrad.core import batching, tree
from tracegrad.core.forward import JVPBox, JVPTrace, jvp_flat
from tracegrad.core.primitive import (
    Box,
    Primitive,
    ShapeError,
    Trace,
    box_types,
    get_value,
    is_boxed,
    new_trace,
    trace_stack,
    unbox,
)
from tracegrad.core.reverse import VJPBox, VJPTrace, backward, record
from tracegrad.core.shapes import unbroadcast

__all__ = [
    "batching",
    "Box",
    "JVPBox",
    "JVPTrace",
    "Primitive",
    "ShapeError",
    "Trace",
    "VJPBox",
    "VJPTrace",
    "backward",
    "box_types",
    "get_value",
    "is_boxed",
    "jvp_flat",
    "new_trace",
    "record",
    "trace_stack",
    "tree",
    "unbox",
    "unbroadcast",
]
