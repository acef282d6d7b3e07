"""Identity bases kept diagonal: what ``jacrev`` and ``jacfwd`` push through a program.

A Jacobian pushes the identity basis through the rules of a function: ``I * v`` for an
elementwise step (``diag(v)``, an ``n × n`` array with ``n`` numbers in it), more
elementwise factors after it, and then a product with a matrix, ``diag(v) @ M``, which a
dense program computes in ``n² k`` multiplications, most of them by zero. This pass
follows such values (an identity constant times factors of ``n`` numbers each) and
replaces a product of one with a matrix by :func:`diagonal_product`, which computes the
broadcast ``v[:, None] * M`` (or ``M * v`` from the right): ``n k`` multiplications. The
diagonal itself is then usually dead, and the dead-code pass drops it.

The result is the dense product's, number for number: each entry of ``diag(v) @ M`` is
``v_i M_ij`` plus exact zeros (only a zero's sign may differ). Where ``v`` or ``M`` holds
an inf or a nan, the dense product spreads nans (``0 · inf``) that the broadcast would not:
:func:`diagonal_product` checks, and then computes the dense product as recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.compiler import ops
from tracegrad.compiler.passes import operand_shape_and_dtype
from tracegrad.core.staging import Aval, Equation, Program, Slot

__all__ = ["diagonal_product", "multiply_out_identity_bases"]

#: an identity constant is checked up to this many elements
_MAX_IDENTITY_SIZE = 1 << 24


def diagonal_product(identity: np.ndarray, left: bool, matrix: Any, *factors: Any) -> Any:
    """``(identity * f1 * f2 ...) @ matrix`` if ``left``, else ``matrix @ (identity * f1
    * ...)``: an ``n × n`` identity times factors of ``n`` numbers (shapes ``(n,)``,
    ``(1, n)`` or ``(n, 1)``), multiplied out as a broadcast; the dense product where an
    inf or a nan would make the two differ."""
    n = identity.shape[0]
    v = np.reshape(factors[0], n)
    for f in factors[1:]:  # the diagonal's entries, rounded as the dense program's
        v = v * np.reshape(f, n)
    if np.isfinite(v).all() and np.isfinite(matrix).all():
        return v[:, None] * matrix if left else matrix * v
    dense = identity
    for f in factors:
        dense = dense * f
    return dense @ matrix if left else matrix @ dense


def _identity_size(c: Any, seen: dict[int, int | None]) -> int | None:
    """``n`` if the constant ``c`` is the ``n × n`` identity matrix, else ``None``."""
    if type(c) is not np.ndarray or c.ndim != 2 or c.shape[0] != c.shape[1]:
        return None
    if c.size > _MAX_IDENTITY_SIZE:
        return None
    key = id(c)
    if key not in seen:
        n = c.shape[0]
        diagonal_ones = bool((np.diagonal(c) == 1).all())
        seen[key] = n if diagonal_ones and np.count_nonzero(c) == n else None
    return seen[key]


def _is_factor(operand: tuple[bool, Any], n: int, dtype: Any, avals: list) -> bool:
    """True if an operand is ``n`` numbers of ``dtype`` that multiply a diagonal into a
    diagonal: shape ``(n,)``, ``(1, n)`` or ``(n, 1)`` (a row or a column scales the
    diagonal alike)."""
    shape, d = operand_shape_and_dtype(*operand, avals)
    return shape in ((n,), (1, n), (n, 1)) and d == dtype


def _is_matrix(operand: tuple[bool, Any], n: int, side: int, dtype: Any, avals: list) -> bool:
    """True if an operand is a matrix of ``dtype`` with ``n`` rows (``side`` 0) or
    columns (``side`` 1)."""
    shape, d = operand_shape_and_dtype(*operand, avals)
    return shape is not None and len(shape) == 2 and shape[side] == n and d == dtype


def multiply_out_identity_bases(program: Program) -> Program:
    """``diag(v) @ M`` and ``M @ diag(v)`` as :func:`diagonal_product`, where the diagonal
    is an identity constant times factors of ``n`` numbers (see the module docstring)."""
    avals = program.avals
    seen: dict[int, int | None] = {}
    #: value -> (identity, its factors as (is_value, ref or constant)): the value is
    #: identity * Π factors, in that order
    diagonals: dict[int, tuple[np.ndarray, list]] = {}
    eqns = []
    for eqn in program.eqns:
        name = ops.op_name(eqn.fn)
        args = eqn.positional() if name in ("multiply", "matmul") else None
        out = avals[eqn.outs[0]]
        if args is None or len(args) != 2 or out is None or out.type is not np.ndarray:
            eqns.append(eqn)
        elif name == "multiply":
            _note_diagonal(eqn.outs[0], args, out, diagonals, seen, avals)
            eqns.append(eqn)
        else:
            eqns.append(_multiplied_out(eqn, args, out, diagonals, avals) or eqn)
    return program.replace(eqns=eqns)


def _note_diagonal(
    ref: int, args: list, out: Aval, diagonals: dict, seen: dict, avals: list
) -> None:
    """Record the result ``ref`` of ``I * v`` or ``diag * v`` as a diagonal."""
    if len(out.shape) != 2 or out.shape[0] != out.shape[1]:
        return
    n = out.shape[0]
    for a, b in (args, args[::-1]):
        if not _is_factor(b, n, out.dtype, avals):
            continue
        if not a[0] and _identity_size(a[1], seen) == n and a[1].dtype == out.dtype:
            diagonals[ref] = (a[1], [b])
            return
        if a[0] and a[1] in diagonals and diagonals[a[1]][0].shape[0] == n:
            identity, factors = diagonals[a[1]]
            diagonals[ref] = (identity, [*factors, b])
            return


def _multiplied_out(
    eqn: Equation, args: list, out: Aval, diagonals: dict, avals: list
) -> Equation | None:
    """``eqn``, a product of a diagonal and a matrix, as a call of
    :func:`diagonal_product`; ``None`` for any other product."""
    for side, (d, m) in enumerate((args, args[::-1])):
        if not d[0] or d[1] not in diagonals:
            continue
        identity, factors = diagonals[d[1]]
        if not _is_matrix(m, identity.shape[0], side, out.dtype, avals):
            continue
        operands = [(False, identity), (False, side == 0), m, *factors]
        call_args = [None if v else x for v, x in operands]
        slots = tuple(Slot(i, None, x) for i, (v, x) in enumerate(operands) if v)
        return eqn._replace(fn=diagonal_product, args=call_args, slots=slots)
    return None
