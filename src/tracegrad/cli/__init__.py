"""The ``tracegrad`` command. Each subcommand lives in its own module and registers
itself in :data:`COMMANDS` (name → module with ``add_arguments(parser)`` and
``run(args) -> int``)."""

from tracegrad.cli.main import main

__all__ = ["main"]
