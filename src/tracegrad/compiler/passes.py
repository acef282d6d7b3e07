"""The passes over a recorded program: each takes a :class:`Program` and returns one
that computes the same outputs (to the last bit, except where a comment says otherwise),
with fewer or cheaper equations. Values keep their numbers; a pass that removes an
equation renames the readers of its output to the value it equals.

The shapes and dtypes of every value are known (the program was recorded on real
arrays), so each rewrite checks that the value it substitutes has the very type, shape
and dtype of the one it replaces: ``x * 1`` is ``x`` only where that multiplication
changed neither.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad.compiler import ops
from tracegrad.core.primitive import PYTHON_SCALARS
from tracegrad.core.staging import Aval, Equation, Output, Program, Slot

__all__ = [
    "eliminate_common_subexpressions", "eliminate_dead_code", "lower_calls", "simplify",
]  # fmt: skip


def _renamed_outputs(outs: tuple[Output, ...], rename: dict[int, int]) -> tuple[Output, ...]:
    return tuple(o if o.ref not in rename else o._replace(ref=rename[o.ref]) for o in outs)


# --- dead code --------------------------------------------------------------------------


def eliminate_dead_code(program: Program) -> Program:
    """Drop the equations none of whose outputs an output of the program depends on
    (every recorded function is a function of its arguments alone)."""
    live = {o.ref for o in program.outs if o.ref is not None}
    kept = []
    for eqn in reversed(program.eqns):
        if any(r in live for r in eqn.outs):
            kept.append(eqn)
            live.update(eqn.refs())
    kept.reverse()
    return program.replace(eqns=kept)


# --- common subexpressions --------------------------------------------------------------


def _const_key(v: Any) -> Any:
    """A key equal for constants that a call cannot tell apart: the same type and the
    same bits (``0.0`` and ``-0.0`` differ), an array by identity."""
    t = type(v)
    if v is None:
        return None
    if t is float:
        return (t, v) if v else (t, v.hex())  # the sign of a zero
    if t in (int, bool, str):
        return (t, v)
    if isinstance(v, np.generic):
        return (t, v.tobytes())
    if t in (tuple, list):
        return (t, tuple(_const_key(e) for e in v))
    if t is dict:
        return (t, tuple((k, _const_key(e)) for k, e in v.items()))
    if t is slice:
        return (t, _const_key((v.start, v.stop, v.step)))
    if isinstance(v, (np.dtype, type)):
        return (t, v)
    return ("id", id(v))  # arrays and other objects: only the very same object


def eliminate_common_subexpressions(program: Program) -> Program:
    """Compute each distinct call once: an equation calling the same function on the
    same values and constants as an earlier one is dropped, and its outputs renamed to
    the earlier outputs (``g * W`` for both operands of ``W * W``)."""
    seen: dict[Any, tuple[int, ...]] = {}
    rename: dict[int, int] = {}
    kept = []
    for eqn in program.eqns:
        eqn = eqn.with_refs(rename)
        key = _commuted_key(eqn)
        if key is None:
            args = tuple([a if a is None else _const_key(a) for a in eqn.args])
            kwargs = _const_key(eqn.kwargs) if eqn.kwargs else None
            key = (id(eqn.fn), args, kwargs, eqn.slots, eqn.multiple)
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = eqn.outs
            kept.append(eqn)
        else:
            rename.update(zip(eqn.outs, earlier))
    return program.replace(eqns=kept, outs=_renamed_outputs(program.outs, rename))


#: operations whose two operands may be swapped without changing a bit of the result
#: (not maximum and minimum: of 0.0 and -0.0 they return the first)
_COMMUTATIVE = frozenset(("add", "multiply", "hypot", "logaddexp"))


def _commuted_key(eqn: Equation) -> Any:
    """For a commutative operation on two values, a key that does not depend on their
    order (``v * w`` and ``w * v`` are computed once); ``None`` otherwise."""
    if len(eqn.slots) != 2 or eqn.kwargs or len(eqn.args) != 2:
        return None
    if ops.op_name(eqn.fn) not in _COMMUTATIVE:
        return None
    if any(type(s.position) is not int or s.element is not None for s in eqn.slots):
        return None
    return (id(eqn.fn), "commuted", tuple(sorted(s.ref for s in eqn.slots)))


# --- algebraic identities and redundant broadcasts -------------------------------------


def _is_number(c: Any, value: float) -> bool:
    """True if the constant ``c`` is the number ``value`` (a scalar; not a bool)."""
    if type(c) is bool or not (type(c) in (int, float) or isinstance(c, np.number)):
        return False
    return c == value


def _identity(eqn: Equation, producer: dict[int, Equation], avals: list) -> int | None:
    """The value an equation's output equals, if an identity says so: ``x * 1``,
    ``x + 0``, ``x - 0``, ``x / 1``, ``-(-x)`` (each only where the result has ``x``'s
    type, shape and dtype). ``x + 0`` is ``x`` to the last bit but for one: a ``-0.0``
    in ``x`` stays ``-0.0``, where the addition makes it ``0.0`` (equal numbers)."""
    name = ops.op_name(eqn.fn)
    if name is None:
        return None
    args = eqn.positional()
    if args is None:
        return None
    found = None
    if len(args) == 2:
        (xv, x), (yv, y) = args
        if name == "multiply":
            found = x if xv and not yv and _is_number(y, 1) else None
            found = y if found is None and yv and not xv and _is_number(x, 1) else found
        elif name == "add":
            found = x if xv and not yv and _is_number(y, 0) else None
            found = y if found is None and yv and not xv and _is_number(x, 0) else found
        elif name in ("subtract", "divide"):
            unit = 0 if name == "subtract" else 1
            found = x if xv and not yv and _is_number(y, unit) else None
    elif len(args) == 1 and name == "negative" and args[0][0]:
        inner = producer.get(args[0][1])
        if inner is not None and ops.op_name(inner.fn) == "negative":
            inner_args = inner.positional()
            if inner_args is not None and inner_args[0][0]:
                found = inner_args[0][1]
    if found is not None and avals[found] == avals[eqn.outs[0]]:
        return found
    return None


def _doubled(eqn: Equation, avals: list) -> Equation | None:
    """``x + x`` as ``x * 2`` (exact in floating point): after common subexpressions, the
    two equal cotangents of ``W * W`` are one value added to itself."""
    if ops.op_name(eqn.fn) != "add":
        return None
    args = eqn.positional()
    if args is None or len(args) != 2 or not (args[0][0] and args[1][0]):
        return None
    if args[0][1] != args[1][1]:
        return None
    aval = avals[eqn.outs[0]]
    if aval is None or aval.dtype is None or aval.dtype.kind != "f":
        return None
    if aval.type not in (np.ndarray, float):  # a NumPy scalar times a Python int may
        return None  # promote differently across NumPy versions
    mul = ops.same_family(eqn.fn, "multiply")
    if mul is None:
        return None
    return eqn._replace(fn=mul, args=[None, 2], slots=(Slot(0, None, args[0][1]),))


def operand_shape_and_dtype(is_value: bool, x: Any, avals: list) -> tuple[Any, Any]:
    """The shape and dtype of an operand, a staged value (its aval) or a constant."""
    if is_value:
        aval = avals[x]
        return (None, None) if aval is None else (aval.shape, aval.dtype)
    return np.shape(x), getattr(x, "dtype", None)


def _shape(is_value: bool, x: Any, avals: list) -> tuple[int, ...] | None:
    return operand_shape_and_dtype(is_value, x, avals)[0]


def _unbroadcast_operands(eqn: Equation, producer: dict[int, Equation], avals: list) -> Equation:
    """An elementwise call with an operand made by ``broadcast_to`` (or a ``reshape``
    that only adds axes of length 1 in front) reads that operand's source instead, where
    NumPy's broadcasting gives the call the same output shape: the sum rule's
    ``broadcast_to(reshape(g, (1, 1)), W.shape) * W`` becomes ``g * W``."""
    if ops.elementwise_primitive(eqn.fn) is None:
        return eqn
    args = eqn.positional()
    if args is None or len(args) < 2:
        return eqn
    out = avals[eqn.outs[0]]
    slots = list(eqn.slots)
    changed = False
    for k, s in enumerate(slots):
        while True:
            src = _broadcast_input(producer.get(s.ref), avals)
            if src is None:
                break
            shapes = [_shape(v, x, avals) for v, x in args]
            shapes[s.position] = avals[src].shape
            try:
                same = np.broadcast_shapes(*shapes) == out.shape
            except ValueError:
                same = False
            if not same or avals[src].dtype != avals[s.ref].dtype:
                break
            s = slots[k] = s._replace(ref=src)
            args[s.position] = (True, src)
            changed = True
    return eqn._replace(slots=tuple(slots)) if changed else eqn


def _broadcast_input(eqn: Equation | None, avals: list) -> int | None:
    """The value ``eqn`` broadcasts or reshapes, if it only adds or stretches axes."""
    if eqn is None:
        return None
    kind = ops.broadcast_source(eqn.fn)
    if kind is None or eqn.kwargs or len(eqn.slots) != 1 or eqn.slots[0].position != 0:
        return None
    src = eqn.slots[0].ref
    src_aval: Aval | None = avals[src]
    out_aval: Aval | None = avals[eqn.outs[0]]
    if src_aval is None or out_aval is None or src_aval.shape is None:
        return None
    if kind == "reshape":
        n = len(out_aval.shape) - len(src_aval.shape)
        if n < 0 or out_aval.shape != (1,) * n + src_aval.shape:
            return None
    return src


#: constant arrays up to this size are checked for being one number repeated
_UNIFORM_CHECK_SIZE = 1 << 16


def _uniform_value(c: np.ndarray) -> Any:
    """The number every element of constant array ``c`` holds (a NumPy scalar of its
    dtype), or ``None``: a seed broadcast to a shape (``ones(n)``) is a scalar to a call."""
    if c.size == 0:
        return None
    first = c.reshape(-1)[0] if c.flags.c_contiguous else c[(0,) * c.ndim]
    if all(st == 0 for st in c.strides):  # a broadcast view: one number, by construction
        return first
    if c.size <= _UNIFORM_CHECK_SIZE and c.dtype.kind == "f":
        sign = np.signbit(c)  # 0.0 and -0.0 compare equal, but are not the same number
        if (c == first).all() and (sign.all() or not sign.any()):
            return first
    return None


def _scalar_constants(eqn: Equation, avals: list) -> Equation:
    """An elementwise call's constant array operands that hold one number repeated, as
    that number (a NumPy scalar of the same dtype: the result's dtype cannot change, as
    every operand already has the result's dtype), where the result keeps its shape."""
    if ops.elementwise_primitive(eqn.fn) is None:
        return eqn
    args = eqn.positional()
    if args is None:
        return eqn
    out = avals[eqn.outs[0]]
    if out is None or out.shape is None or out.dtype is None:
        return eqn
    dtypes = [operand_shape_and_dtype(v, x, avals)[1] for v, x in args]
    if any(d != out.dtype for d in dtypes):
        return eqn
    new_args = list(eqn.args)
    changed = False
    for i, (is_value, c) in enumerate(args):
        if is_value or type(c) is not np.ndarray or c.ndim == 0:
            continue
        value = _uniform_value(c)
        if value is None:
            continue
        shapes = [() if j == i else _shape(v, x, avals) for j, (v, x) in enumerate(args)]
        if np.broadcast_shapes(*shapes) == out.shape:
            new_args[i] = value
            changed = True
    return eqn._replace(args=new_args) if changed else eqn


def _power_of_two(c: Any) -> bool:
    value = float(c)
    return math.isfinite(value) and value != 0 and math.frexp(abs(value))[0] == 0.5


def _value_times_constant(eqn: Equation) -> tuple[int, Any] | None:
    """``(value, constant)`` for a call of two positional arguments, one staged."""
    args = eqn.positional()
    if args is None or len(args) != 2 or sum(v for v, _ in args) != 1:
        return None
    (av, a), (_, b) = args
    return (a, b) if av else (b, a)


def _folded_scaling(eqn: Equation, producer: dict[int, Equation], avals: list) -> Equation | None:
    """``(c1 * y) * c2`` as ``(c1 * c2) * y`` for scalar constants of which one is a power
    of two: scaling by it is exact, so the two orders round alike (one multiply less
    where ``c1 * y`` has no other reader: ``LAM * g`` then ``2 * ...`` in ``d(W * W)``)."""
    if ops.op_name(eqn.fn) != "multiply":
        return None
    outer = _value_times_constant(eqn)
    if outer is None:
        return None
    ref, c2 = outer
    inner = producer.get(ref)
    found = _value_times_constant(inner) if inner is not None and inner.fn is eqn.fn else None
    if found is None:
        return None
    y, c1 = found
    # the product takes c1's type, so that it promotes as c1 did: c2 must be a Python
    # number (which adapts to the other operand's dtype) or of c1's own type
    python = (int, float)
    if type(c1) is int and type(c2) is int:
        c = c1 * c2  # an int stays an int (an integer array keeps its dtype)
    elif type(c1) in python and type(c2) in python:
        c = float(c1) * float(c2)
    elif isinstance(c1, np.floating) and (type(c2) in python or type(c2) is type(c1)):
        c = type(c1)(c1 * c2)
    else:
        return None
    if not (_power_of_two(c1) or _power_of_two(c2)) or avals[y] is None:
        return None
    folded = eqn._replace(args=[None, c], slots=(Slot(0, None, y),))
    return folded if avals[eqn.outs[0]] == avals[inner.outs[0]] else None


#: operations whose result holds the elements of their first argument, rearranged
_VIEWS = frozenset(("reshape", "transpose", "getitem"))
#: chains of rearrangements are followed this far, and probed up to this many elements
_PROBE_STEPS, _PROBE_SIZE = 8, 1 << 22


def _rearranging_step(eqn: Equation) -> tuple | None:
    """``(fn, constant arguments, keywords)`` of a rearrangement of one staged value."""
    if eqn.multiple or len(eqn.slots) != 1 or eqn.slots[0].position != 0:
        return None
    if eqn.slots[0].element is not None or ops.op_name(eqn.fn) not in _VIEWS:
        return None
    return eqn.fn, eqn.args[1:], eqn.kwargs


def _collapsed_rearrangement(
    eqn: Equation, chains: dict, avals: list, outputs: set[int]
) -> int | None:
    """The value a chain of reshapes, transposes and basic indexing gives back unchanged
    (``reshape(x, (m, m, 1))``, its transpose, ``reshape(-1, m)``: the batched rules'
    bookkeeping around one matrix product), found by running the chain on the element
    numbers ``arange(size)`` of the chain's start. ``chains`` maps each rearranged value
    to its start and steps. An output of the program must keep its memory layout too;
    inside the program only the numbers count."""
    step = _rearranging_step(eqn)
    if step is None:
        return None
    src, steps = chains.get(eqn.slots[0].ref, (eqn.slots[0].ref, ()))
    steps = (*steps, step)
    out = eqn.outs[0]
    if len(steps) < _PROBE_STEPS:
        chains[out] = (src, steps)
    a_src, a_out = avals[src], avals[out]
    if a_src is None or a_out is None or a_src.type is not np.ndarray:
        return None
    if a_src[:3] != a_out[:3] or (out in outputs and a_src != a_out):
        return None
    size = math.prod(a_src.shape)
    if size > _PROBE_SIZE:
        return None
    probe = value = np.arange(size).reshape(a_src.shape)
    try:
        for fn, args, kwargs in steps:
            value = fn(value, *args, **kwargs)
    except Exception:  # a step that needs more than its argument's layout: not collapsed
        return None
    return src if np.shape(value) == probe.shape and np.array_equal(value, probe) else None


def simplify(program: Program) -> Program:
    """Algebraic identities (multiply by one, add zero, double negation, ``x + x``,
    rearrangements that give their argument back) and broadcasts made redundant by
    NumPy's own broadcasting. Constant folding happens as
    the program is recorded: a call without a staged value is computed there (the unit
    seed of a gradient never becomes an equation: ``1.0 * y`` is then the identity)."""
    avals = program.avals
    producer: dict[int, Equation] = {}
    rename: dict[int, int] = {}
    chains: dict[int, tuple] = {}
    outputs = {o.ref for o in program.outs}
    kept = []
    for eqn in program.eqns:
        eqn = eqn.with_refs(rename)
        if ops.op_name(eqn.fn) is None:  # an opaque call: nothing to rewrite
            kept.append(eqn)
            for r in eqn.outs:
                producer[r] = eqn
            continue
        eqn = _scalar_constants(eqn, avals)
        same = _identity(eqn, producer, avals)
        if same is None:
            same = _collapsed_rearrangement(eqn, chains, avals, outputs)
        if same is not None:
            rename[eqn.outs[0]] = same
            continue
        eqn = _doubled(eqn, avals) or eqn
        eqn = _folded_scaling(eqn, producer, avals) or eqn
        eqn = _unbroadcast_operands(eqn, producer, avals)
        kept.append(eqn)
        for r in eqn.outs:
            producer[r] = eqn
    outs = _renamed_outputs(program.outs, rename)
    return _copy_returned_inputs(program.replace(eqns=kept, outs=outs), program.outs)


def _copy_returned_inputs(program: Program, recorded: tuple[Output, ...]) -> Program:
    """An output that an identity turned into an input array (``x * 1`` into ``x``) is a
    copy of it, as the multiplication's result was: the caller may write into it."""
    avals = program.avals
    outs = list(program.outs)
    eqns = program.eqns
    for k, (o, before) in enumerate(zip(outs, recorded)):
        aval = avals[o.ref] if o.ref is not None else None
        if o.ref is None or o.ref >= program.n_inputs or o.ref == before.ref:
            continue
        if aval is None or aval.type is not np.ndarray:
            continue  # scalars are immutable
        if avals is program.avals:
            avals, eqns = list(avals), list(eqns)
        avals.append(aval)
        copy = Equation(np.copy, [None], {}, (Slot(0, None, o.ref),), (len(avals) - 1,))
        eqns.append(copy)
        outs[k] = Output(len(avals) - 1, None)
    if avals is program.avals:
        return program
    return program.replace(eqns=eqns, outs=tuple(outs), avals=avals)


# --- lowering ---------------------------------------------------------------------------


def _lowered_sum(eqn: Equation, avals: list) -> Equation | None:
    """``sum(x, axis, keepdims)`` of a float array as ``np.add.reduce``, the ufunc
    reduction ``np.sum`` ends in, without its argument checks and dispatch."""
    if len(eqn.slots) != 1 or eqn.slots[0].position != 0 or len(eqn.args) != 1:
        return None
    aval = avals[eqn.slots[0].ref]
    if aval is None or aval.type is not np.ndarray or aval.dtype.kind != "f":
        return None
    if not set(eqn.kwargs) <= {"axis", "keepdims"}:
        return None
    return eqn._replace(fn=np.add.reduce, kwargs={"axis": None, **eqn.kwargs})


def _lowered_reshape(eqn: Equation, avals: list) -> Equation | None:
    """``reshape(x, shape)`` of an array as the ndarray method (``np.reshape``'s end)."""
    if eqn.kwargs or len(eqn.slots) != 1 or eqn.slots[0].position != 0:
        return None
    aval = avals[eqn.slots[0].ref]
    if aval is None or aval.type is not np.ndarray:
        return None
    return eqn._replace(fn=np.ndarray.reshape)


def _lowered_transpose(eqn: Equation, avals: list) -> Equation | None:
    """``transpose(x, axes)`` of an array as the ndarray method."""
    if _lowered_reshape(eqn, avals) is None:  # the same conditions: one array, positional
        return None
    return eqn._replace(fn=np.ndarray.transpose)


_LOWERINGS: dict[str, Callable[[Equation, list], Equation | None]] = {
    "sum": _lowered_sum,
    "reshape": _lowered_reshape,
    "transpose": _lowered_transpose,
}


def _lowered_elementwise(eqn: Equation, avals: list) -> Equation | None:
    """An elementwise operation's public function on NumPy scalars (``tnp.add`` on two
    ``np.float64``) as its ufunc: the public function's cases for Python numbers (which
    keep floats floats) cannot apply, so it would end in the ufunc after its checks."""
    prim = ops.elementwise_primitive(eqn.fn)
    if prim is None or eqn.fn is not prim.impl or prim.array_impl is None:
        return None
    if any(type(s.position) is not int or s.element is not None for s in eqn.slots):
        return None
    for s in eqn.slots:
        aval = avals[s.ref]
        if aval is None or aval.type in PYTHON_SCALARS or aval.type in (list, tuple):
            return None
    return eqn._replace(fn=prim.array_impl)


def lower_calls(program: Program) -> Program:
    """Calls of tracegrad's implementation functions replaced by the NumPy call they end
    in, with the checks that the recorded types, shapes and dtypes already answered left
    out."""
    eqns = []
    for eqn in program.eqns:
        lower = _LOWERINGS.get(ops.op_name(eqn.fn) or "")
        lowered = lower(eqn, program.avals) if lower is not None else None
        lowered = lowered or _lowered_elementwise(eqn, program.avals)
        eqns.append(lowered or eqn)
    return program.replace(eqns=eqns)
