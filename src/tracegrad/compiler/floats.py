"""Scalar programs on Python floats.

A program whose every value is a float64 scalar (Python floats, ``np.float64``, 0-d
float64 arrays: a seed-style function, a chain of scalar steps) is lowered to
straight-line Python on floats, with the ``math`` module's functions and Python's
operators, as one would write it by hand: a NumPy ufunc on a scalar costs ten times the
work. Inputs are converted with ``float`` at the boundary and each output goes back to
the type the recorded program gave it (``np.float64``, a 0-d array, a float).

Where Python raises and NumPy answers nan or inf with a warning (``math.log(0.0)``,
``1.0 / 0.0``, ``math.exp(1000.0)``), the call runs the NumPy program instead, so the
values are NumPy's in every case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad.compiler import ops
from tracegrad.core.primitive import SCALAR_ERRORS
from tracegrad.core.staging import Program, fresh_constant

__all__ = ["float_function", "is_scalar_program"]

_F64 = np.dtype(np.float64)


def _is_scalar(aval: Any) -> bool:
    if aval is None:
        return False
    if aval.type is float:
        return True
    return aval.shape == () and aval.dtype == _F64 and aval.type in (np.float64, np.ndarray)


def _float_op(fn: Any) -> tuple[str, Callable[..., Any] | None] | None:
    """How equation function ``fn`` is written in float code: an operator template, or
    the float function of its primitive (``math.sin``); ``None`` if it has neither."""
    name = ops.op_name(fn)
    if name in ops.FLOAT_OPERATORS:
        return ops.FLOAT_OPERATORS[name], None
    if fn is np.asarray:  # a 0-d cotangent made an array again: the outputs see to that
        return "{}", None
    prim = ops.elementwise_primitive(fn) or ops.primitive_named(name)
    if prim is not None and prim.float_impl is not None:
        return "", prim.float_impl
    return None


def is_scalar_program(program: Program) -> bool:
    """True if every value of ``program`` is a float64 scalar and every call has a float
    form (see the module docstring)."""
    if not all(_is_scalar(program.avals[r]) for r in range(program.n_inputs)):
        return False
    for eqn in program.eqns:
        if eqn.multiple or eqn.kwargs or _float_op(eqn.fn) is None:
            return False
        if not all(_is_scalar(program.avals[r]) for r in eqn.outs):
            return False
        if any(type(s.position) is not int or s.element is not None for s in eqn.slots):
            return False
        slotted = {s.position for s in eqn.slots}
        if any(not _is_number(a) for i, a in enumerate(eqn.args) if i not in slotted):
            return False
    return True


def _is_number(c: Any) -> bool:
    return type(c) in (int, float) or isinstance(c, (np.floating, np.integer))


def _literal(c: Any, const: Callable[[Any], str]) -> str:
    """A constant as source: a literal for a finite float or int, else a bound name."""
    if isinstance(c, (np.integer, int)) and not isinstance(c, bool):
        return f"({int(c)!r})"
    value = float(c)
    return f"({value!r})" if np.isfinite(value) else const(value)


class _OnFirstUse:
    """A function built by ``make`` when it is first called (the NumPy program, which a
    float program needs only where Python raises)."""

    __slots__ = ("make", "function")

    def __init__(self, make: Callable[[], Callable[..., list]]) -> None:
        self.make = make
        self.function: Callable[..., list] | None = None

    def __call__(self, *args: Any) -> list:
        if self.function is None:
            self.function = self.make()
        return self.function(*args)


def float_function(
    program: Program, make_numpy_function: Callable[[], Callable[..., list]]
) -> tuple[Callable[..., list], str]:
    """The float form of a scalar program (check :func:`is_scalar_program` first) and
    its source; ``make_numpy_function()`` builds the function that runs a call where
    Python raises (module docstring), on first need."""
    names: dict[str, Any] = {"_numpy": _OnFirstUse(make_numpy_function), "_errors": SCALAR_ERRORS}

    def const(value: Any) -> str:
        name = f"c{len(names)}"
        names[name] = value
        return name

    n = program.n_inputs
    params = ", ".join(f"a{i}" for i in range(n))
    lines = [f"def program({params}):", "    try:"]
    lines += [f"        v{i} = float(a{i})" for i in range(n)]
    for eqn in program.eqns:
        operands = [_literal(a, const) if a is not None else "" for a in eqn.args]
        for s in eqn.slots:
            operands[s.position] = f"v{s.ref}"
        template, fn = _float_op(eqn.fn)  # type: ignore[misc]
        if fn is None:
            expr = template.format(*operands)
        else:
            expr = f"{const(fn)}({', '.join(operands)})"
        lines.append(f"        v{eqn.outs[0]} = {expr}")
    results = []
    for o in program.outs:
        if o.ref is None:
            results.append(f"{const(fresh_constant)}({const(o.const)})")
            continue
        aval = program.avals[o.ref]
        if aval.type is float:
            results.append(f"v{o.ref}")
        elif aval.type is np.float64:
            results.append(f"{const(np.float64)}(v{o.ref})")
        else:  # a 0-d array
            results.append(f"{const(np.array)}(v{o.ref})")
    lines.append(f"        return [{', '.join(results)}]")
    lines.append("    except _errors:")
    lines.append(f"        return _numpy({params})")
    text = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = {}
    exec(compile(text, "<tracegrad.jit float program>", "exec"), names, namespace)  # noqa: S102
    return namespace["program"], text
