"""From a recorded program to the function a replay calls (see the package docstring)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from tracegrad.compiler import codegen, floats, passes
from tracegrad.compiler.buffers import reuse_buffers
from tracegrad.compiler.diagonals import multiply_out_identity_bases
from tracegrad.core.staging import Program

__all__ = ["PASSES", "Executable", "PassRecord", "compile_program"]

#: the passes, in the order they run: sharing first (so that ``x + x`` appears), then
#: the identities it exposes, Jacobians' identity bases multiplied out, sharing again,
#: dead code, lowering, and buffers last
PASSES: tuple[tuple[str, Callable[[Program], Program]], ...] = (
    ("common subexpressions", passes.eliminate_common_subexpressions),
    ("simplify", passes.simplify),
    ("identity bases", multiply_out_identity_bases),
    ("common subexpressions", passes.eliminate_common_subexpressions),
    ("dead code", passes.eliminate_dead_code),
    ("lower calls", passes.lower_calls),
    ("reuse buffers", reuse_buffers),
)


class PassRecord(NamedTuple):
    """What one pass did: equations before and after, and ``out=`` slots after (the
    buffers reused), and the seconds it took."""

    name: str
    before: int
    after: int
    reused: int
    seconds: float


class Executable(NamedTuple):
    """A compiled program: ``function(*inputs) -> list of outputs``; the program it
    runs (``program``, after the passes) and the one recorded (``recorded``); the
    generated ``source`` (``None`` where long programs are interpreted); ``passes``, a
    :class:`PassRecord` per pass; ``floats``: it runs on Python floats."""

    function: Callable[..., list]
    program: Program
    recorded: Program
    source: str | None
    passes: tuple[PassRecord, ...]
    floats: bool


def _reused(program: Program) -> int:
    return sum(1 for e in program.eqns for s in e.slots if s.position == "out")


def compile_program(recorded: Program, optimize: bool = True) -> Executable:
    """Run the passes over ``recorded`` (none with ``optimize=False``) and generate the
    function: on Python floats for a scalar program, else NumPy calls."""
    program = recorded
    records = []
    if optimize:
        for name, run in PASSES:
            t0 = time.perf_counter()
            before = len(program)
            program = run(program)
            records.append(
                PassRecord(name, before, len(program), _reused(program), time.perf_counter() - t0)
            )
    scalar = (
        optimize
        and len(program) <= codegen.MAX_SOURCE_EQUATIONS
        and floats.is_scalar_program(program)
    )
    if scalar:  # the NumPy program is built only if a call needs it
        function, text = floats.float_function(program, lambda: codegen.build_function(program)[0])
    else:
        function, text = codegen.build_function(program)
    return Executable(function, program, recorded, text, tuple(records), scalar)
