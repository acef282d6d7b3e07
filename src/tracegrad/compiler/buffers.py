"""Buffer reuse: a value that has died lends its memory to a later call's ``out=``.

A compiled step runs thousands of times, and each call that allocates a large result
pays for fresh memory (and for touching it) where a hand-written step would write into a
temporary it is done with (``z -= ...``, ``np.tanh(z, out=z)``). This pass gives the
program the same habit, with the safety a hand-written step gets from its author:

* only buffers the program allocated itself are reused: results of NumPy ufuncs and
  their reductions (:func:`~tracegrad.compiler.ops.is_fresh`), never an input, a
  constant, or an output;
* a buffer is free only when every value that may share its memory is dead: an opaque
  call's result may be a view of any array it was given, so such values are put in one
  alias class (union-find) and the class dies with its last reader;
* a free buffer is handed to an elementwise ufunc (or ``np.matmul``) whose result has
  exactly the buffer's shape, dtype and contiguity, recorded as an ``out=`` slot reading it, which
  also keeps the buffer alive in the generated code until that call. An elementwise call
  may write into an operand that dies at that very call (in place, as ``z += b``);
  ``matmul`` only into a buffer freed before it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.compiler import ops
from tracegrad.core.staging import Equation, Program, Slot

__all__ = ["reuse_buffers"]


class _Classes:
    """Union-find over value numbers: values that may share memory."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, r: int) -> int:
        parent = self.parent
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def _is_buffer(aval: Any) -> bool:
    return aval is not None and aval.type is np.ndarray and len(aval.shape) > 0


def _takes_out(eqn: Equation) -> bool:
    """True if ``eqn`` is a call that can write its result into a given buffer."""
    if eqn.multiple or "out" in eqn.kwargs or "where" in eqn.kwargs:
        return False
    if any(s.position == "out" for s in eqn.slots):
        return False
    return ops.is_ufunc_call(eqn.fn) or eqn.fn is np.matmul


def reuse_buffers(program: Program) -> Program:
    """The program with ``out=`` slots where a dead buffer can take a call's result (see
    the module docstring). Runs last: the other passes do not expect ``out=`` slots."""
    avals = program.avals
    n_values = len(avals)
    classes = _Classes(n_values)
    owner = [False] * n_values  # the value's buffer was allocated by the program
    for eqn in program.eqns:
        fresh = ops.is_fresh(eqn.fn) and not eqn.multiple
        for r in eqn.outs:
            if fresh:
                owner[r] = True
            else:  # an opaque call: its result may share memory with its arguments
                for a in eqn.refs():
                    if _is_buffer(avals[a]):
                        classes.union(r, a)
    never = n_values + len(program.eqns)  # a class that must outlive the program
    death: dict[int, int] = {}
    for k, eqn in enumerate(program.eqns):
        for r in eqn.refs():
            root = classes.find(r)
            death[root] = max(death.get(root, -1), k)
    for r in range(program.n_inputs):
        death[classes.find(r)] = never
    for o in program.outs:
        if o.ref is not None:
            death[classes.find(o.ref)] = never
    members: dict[int, list[int]] = {}
    for r in range(n_values):
        if owner[r] and _is_buffer(avals[r]):
            members.setdefault(classes.find(r), []).append(r)
    # the buffers that become free after each equation, by the equation's index
    freed_at: dict[int, list[int]] = {}
    for root, refs in members.items():
        k = death.get(root)
        if k is not None and k < never:
            freed_at.setdefault(k, []).extend(refs)

    free: dict[tuple, list[int]] = {}  # (shape, dtype) -> buffers free now, latest last
    eqns = []
    for k, eqn in enumerate(program.eqns):
        dying = freed_at.get(k, ())
        if _takes_out(eqn) and _is_buffer(avals[eqn.outs[0]]):
            out = eqn.outs[0]
            key = _layout(avals[out])
            donor = None
            if ops.is_ufunc_call(eqn.fn):  # in place into an operand dying here
                donor = next((r for r in dying if r in eqn.refs() and _fits(avals[r], key)), None)
            pool = free.get(key)
            if donor is None and pool:
                donor = pool.pop()
            if donor is not None:
                # the result now holds the donor's buffer, which is freed again when the
                # result's class dies (the result is a fresh value: it is in freed_at)
                eqn = eqn._replace(slots=(*eqn.slots, Slot("out", None, donor)))
                dying = [r for r in dying if r != donor]
        eqns.append(eqn)
        for r in dying:
            free.setdefault(_layout(avals[r]), []).append(r)
    return program.replace(eqns=eqns)


def _layout(aval: Any) -> tuple:
    """What a buffer must share with a result to hold it: shape, dtype and contiguity
    (so that a result keeps the memory layout it was recorded with)."""
    return (aval.shape, aval.dtype, aval.contiguous)


def _fits(aval: Any, key: tuple) -> bool:
    return _layout(aval) == key
