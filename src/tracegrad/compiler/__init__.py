"""tg.jit's compiler: a recorded :class:`~tracegrad.core.staging.Program` optimised by
passes, each a function from program to program, then turned into one Python function.

* :mod:`~tracegrad.compiler.passes`: simplification (algebraic identities, broadcasts
  that NumPy's own broadcasting makes redundant), common subexpressions, dead code, and
  calls lowered to the NumPy functions they end in;
* :mod:`~tracegrad.compiler.buffers`: buffers of values that have died reused as the
  ``out=`` of later calls;
* :mod:`~tracegrad.compiler.floats`: a program on float64 scalars run as Python floats;
* :mod:`~tracegrad.compiler.codegen`: the program as the source of one function.
"""

from tracegrad.compiler.compile import Executable, PassRecord, compile_program

__all__ = ["Executable", "PassRecord", "compile_program"]
