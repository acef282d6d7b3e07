"""Reverse mode: record a Wengert list, then sweep adjoints backwards over it.

The tape of one trace is a flat list of steps in execution order, which is already a
topological order, so the backward sweep is a loop over the reversed list: no
recursion (a 100,000-step chain is fine) and no gradients stored on shared nodes
(``grad(f)(x)`` is pure and can be called again). Each step is a tuple
``(prim, args, kwargs, out, parents)`` where ``parents`` lists ``(argnum, step index)``
for the arguments that were traced; inputs are steps with ``prim`` ``None``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from tracegrad.core.primitive import (
    _NO_KWARGS,
    NO_TRACE,
    PYTHON_SCALARS,
    SCALAR_ERRORS,
    Box,
    Primitive,
    Pruned,
    Trace,
    box_types,
    new_trace,
    shape_of,
    trace_below,
)
from tracegrad.core.shapes import unbroadcast

__all__ = [
    "Tape", "TapeStep", "VJPBox", "VJPTrace", "backward", "backward_reference", "record",
    "fit_to", "joint_cotangents",
]  # fmt: skip


class TapeStep(NamedTuple):
    """One step of a tape, as its readers outside the sweep see it (:meth:`Tape.step`).

    ``prim`` is ``None`` for an input; ``args`` are the primitive's arguments with this
    tape's boxes unwrapped (values the rules do not read replaced by :class:`Pruned`);
    ``out`` is the primal output; ``parents`` lists ``(argnum, step index)`` for each
    argument this tape traced."""

    prim: Primitive | None
    args: list | None
    kwargs: dict | None
    out: Any
    parents: Sequence[tuple[int, int]]


class Tape(list):
    """The Wengert list of a reverse-mode trace: steps in execution order.

    It holds plain tuples with the fields of :class:`TapeStep` (building a named tuple
    per recorded operation would cost about a sixth of a scalar step); :meth:`step`
    gives one with its fields named. ``plain``: under ``tg.jit``'s first call, the
    staging trace's copy of the tape on plain values, kept up as the tape grows
    (:class:`~tracegrad.core.staging.PlainTape`; ``False`` once it met a step it cannot
    copy); else ``None``."""

    __slots__ = ("plain",)

    def __init__(self) -> None:
        super().__init__()
        self.plain: Any = None

    def step(self, i: int) -> TapeStep:
        return TapeStep._make(self[i])


class VJPBox(Box):
    """A value recorded on a reverse-mode tape, at position ``_index``."""

    __slots__ = ("_index",)

    def __init__(self, value: Any, trace: VJPTrace, index: int) -> None:
        self._value = value
        self._trace = trace
        self._index = index


box_types.add(VJPBox)


#: arrays smaller than this stay on the tape whole: a Pruned record would cost more
PRUNE_MIN_SIZE = 1024


def _prune(v: Any) -> Any:
    if type(v) is np.ndarray and v.size >= PRUNE_MIN_SIZE:
        return Pruned(v.shape, v.dtype)
    return v


class VJPTrace(Trace):
    """Records a tape. With ``keep_values`` every argument and output stays on it (for
    showing the evaluation trace); otherwise each primitive keeps what its ``saves``
    declares. ``below`` is the trace the rules run on (see :meth:`Trace.rule`)."""

    __slots__ = ("tape", "keep_values", "below")

    def __init__(self, level: int, keep_values: bool = False) -> None:
        super().__init__(level)
        self.tape = Tape()
        self.keep_values = keep_values
        self.below = trace_below()

    def new_input(self, value: Any) -> VJPBox:
        self.tape.append((None, None, None, value, ()))
        return VJPBox(value, self, len(self.tape) - 1)

    def process(self, prim: Primitive, args: tuple | list, kwargs: dict) -> VJPBox:
        vals = list(args)
        parents = []
        nested = False  # boxes of enclosing traces remain: the call is handed on
        for i, a in enumerate(args):
            if type(a) is VJPBox and a._trace is self:
                parents.append((i, a._index))
                vals[i] = a = a._value
            if type(a) in box_types:
                nested = True
        if (
            prim.forward_residual is not None
            and not self.keep_values
            and (not nested or self.below.holds_plain(vals))
        ):
            try:
                out, res = self.below.rule(prim.forward_residual, True)(*vals, **kwargs)
            except ValueError:
                out = prim(*vals, **kwargs)  # raises, naming the shapes
            kwargs = {**kwargs, "residual": res}
        elif nested:
            out = prim(*vals, **kwargs)
        else:
            out = prim.run(*vals, **kwargs)
        return self._push(prim, vals, kwargs, out, parents)

    # The public elementwise functions (tnp.sin, a * b) enter here: process without its
    # loop and keywords (the scalar chain of bench_core spends half its time recording).
    # Their impl is the public function itself: a nested box is handed on, a Python float
    # takes the math module, an array NumPy; Python floats take float_impl directly here,
    # without that call in between (W1 of bench_peers, all Python floats: 15 %). NumPy's
    # float64 scalars (np.float64, 0-d arrays: float64_scalar, float64_operands) run in
    # NumPy, and the box holds NumPy's value and type, but the tape holds the step in
    # Python floats (the same values), so that the rules run on floats as for a chain of
    # Python floats (W1 on np.float64 or a 0-d array: 3.0 → 1.6 µs per operation). A
    # value of the trace below goes to that trace's vjp_step first: under tg.jit's first
    # call, the staging trace takes a step on Python floats itself (W1's chain: a first
    # call 2.8-3.6× an eager one through the dispatch, 1.5-1.9× so; jit_compiler.py).

    def process1(self, prim: Primitive, x: VJPBox) -> VJPBox:
        v = x._value
        tv = type(v)
        if tv is float and prim.float_impl is not None:  # a scalar chain's step
            try:
                out = prim.float_impl(v)
            except SCALAR_ERRORS:
                out = prim.impl(v)  # NumPy's nan or inf
            tape = self.tape  # a float has nothing to prune: appended here
            tape.append((prim, [v], _NO_KWARGS, out, ((0, x._index),)))
            return VJPBox(out, self, len(tape) - 1)
        if prim.float_impl is not None and (tv is np.float64 or (tv is np.ndarray and not v.ndim)):
            f = float64_scalar(v)
            if f is not None:  # the same chain on NumPy scalars: NumPy's value, a float taped
                out = prim.array_impl(v)
                tape = self.tape
                tape.append((prim, [f], NUMPY_SCALAR_STEP, float(out), ((0, x._index),)))
                return VJPBox(out, self, len(tape) - 1)
        vals, parents = [v], ((0, x._index),)
        if tv in box_types:  # a value of the trace below, which may take the step itself
            box = self._taken_below(prim, vals, parents)
            if box is not None:
                return box
        return self._push(prim, vals, _NO_KWARGS, prim.impl(v), parents)

    def process2(self, prim: Primitive, x: Any, y: Any) -> VJPBox:
        if type(x) is VJPBox and x._trace is self:
            if type(y) is VJPBox and y._trace is self:
                parents: tuple = ((0, x._index), (1, y._index))
                x, y = x._value, y._value
            else:
                parents = ((0, x._index),)
                x = x._value
        else:  # y is the box of this trace that brought the call here
            parents = ((1, y._index),)
            y = y._value
        tx, ty = type(x), type(y)
        if tx is float and ty is float and prim.float_impl is not None:
            try:  # a scalar chain's step
                out = prim.float_impl(x, y)
            except SCALAR_ERRORS:
                out = prim.impl(x, y)  # NumPy's nan or inf
            tape = self.tape  # a float has nothing to prune: appended here
            tape.append((prim, [x, y], _NO_KWARGS, out, parents))
            return VJPBox(out, self, len(tape) - 1)
        if tx in box_types or ty in box_types:  # the trace below may take the step itself
            box = self._taken_below(prim, [x, y], parents)
            if box is not None:
                return box
        elif (
            (tx is not np.ndarray or not x.ndim)
            and (ty is not np.ndarray or not y.ndim)
            and prim.float_impl is not None
        ):  # no array among them: maybe NumPy scalars (arrays pass with two checks)
            numbers = float64_operands(x, y)
            if numbers is not None:  # the same chain on NumPy scalars: a float taped
                out = scalar_arithmetic(prim, x, y)
                tape = self.tape
                tape.append((prim, numbers, NUMPY_SCALAR_STEP, float(out), parents))
                return VJPBox(out, self, len(tape) - 1)
        return self._push(prim, [x, y], _NO_KWARGS, prim.impl(x, y), parents)

    def _taken_below(self, prim: Primitive, vals: list, parents: Sequence) -> VJPBox | None:
        """The step on ``vals`` as the trace below takes it (:meth:`Trace.vjp_step`),
        appended and boxed; ``None`` if that trace leaves it to this one."""
        out = self.below.vjp_step(self.tape, prim, vals, parents)
        if out is None:
            return None
        tape = self.tape  # values of the trace below (boxes, numbers): nothing to prune
        tape.append((prim, vals, _NO_KWARGS, out, parents))
        return VJPBox(out, self, len(tape) - 1)

    def _push(
        self, prim: Primitive, vals: list, kwargs: dict, out: Any, parents: Sequence
    ) -> VJPBox:
        """Append a step and box its output. The tape keeps of a step what its rules read
        (``prim.saves``): the values of the traced arguments in ``vals`` or the output
        give way to :class:`Pruned` records when the rules do not read them (a float
        output, the scalar chains' case, has nothing large)."""
        saves = prim.saves
        stored = out
        if saves != "all" and type(out) is not float and not self.keep_values:
            if saves != "args":
                for i, _ in parents:
                    vals[i] = _prune(vals[i])
            if saves != "out":
                stored = _prune(out)
        tape = self.tape
        tape.append((prim, vals, kwargs, stored, parents))
        return VJPBox(out, self, len(tape) - 1)


_FLOAT64 = np.dtype(np.float64)

#: the (empty) keywords of a step on NumPy float64 scalars that the tape holds as Python
#: floats: where a rule raises on the floats (1.0 / 0.0), the sweep runs it on NumPy's
#: scalars, whose answer (inf, nan, with NumPy's warning) the step's own NumPy code gives
NUMPY_SCALAR_STEP: dict = {}


def float64_scalar(v: Any) -> float | None:
    """``v`` as a Python float if it is one of NumPy's float64 scalars: an ``np.float64``
    or a 0-d float64 array (what NumPy code hands around as a number); else ``None``."""
    t = type(v)
    if t is np.float64 or (t is np.ndarray and not v.ndim and v.dtype == _FLOAT64):
        return float(v)
    return None


def float_cotangent(g: Any) -> Any:
    """The seed ``g`` of a value the tape holds as a Python float: as a Python float if
    it is a float64 scalar (``np.float64(1.0)``, a 0-d array), so that the rules behind
    it run on Python floats; else ``g`` itself."""
    f = float64_scalar(g)
    return g if f is None else f


def float64_operands(x: Any, y: Any) -> list | None:
    """The operands of a two-argument elementwise step as Python numbers, if NumPy's
    result is a float64 scalar: float64 scalars (:func:`float64_scalar`, as Python
    floats) with at most one Python number (kept as it is); else ``None``."""
    tx, ty = type(x), type(y)
    if (tx is np.float64 and (ty is np.float64 or ty is float)) or (
        tx is float and ty is np.float64
    ):
        return [float(x), float(y)]  # the common case, without the calls below
    fx, fy = float64_scalar(x), float64_scalar(y)
    if fx is None:
        if fy is None or type(x) not in PYTHON_SCALARS:
            return None
        fx = x
    elif fy is None:
        if type(y) not in PYTHON_SCALARS:
            return None
        fy = y
    return [fx, fy]


#: Python's operators whose result on NumPy scalars (NumPy's scalar arithmetic) is the
#: ufunc's, bit for bit: IEEE rounds + - * / exactly (a power is not among them)
EXACT_OPERATORS = frozenset((operator.add, operator.sub, operator.mul, operator.truediv))


def scalar_arithmetic(prim: Primitive, x: Any, y: Any) -> Any:
    """NumPy's result of a two-argument elementwise primitive whose operands are float64
    scalars and Python numbers (:func:`float64_operands`). For + - * / it is Python's
    operator (``prim.float_impl``) on them as NumPy scalars, that is NumPy's own scalar
    arithmetic, with the ufunc's value, type and warnings at a sixth of a ufunc call's
    cost; otherwise the NumPy function itself."""
    if prim.float_impl not in EXACT_OPERATORS:
        return prim.array_impl(x, y)
    if type(x) is np.ndarray:  # a 0-d array: its scalar gives the same
        x = x[()]
    if type(y) is np.ndarray:
        y = y[()]
    return prim.float_impl(x, y)


def record(
    fun: Callable[..., Sequence[Any]], primals: Sequence[Any], keep_values: bool = False
) -> tuple[list[Any], list[int | None], VJPTrace]:
    """Run ``fun`` (flat list in, flat list out) once on a fresh tape.

    Returns the primal outputs, the tape index of each output (``None`` when an output
    does not depend on the inputs) and the finished trace, whose ``tape`` starts with
    the ``len(primals)`` inputs. ``keep_values`` keeps every value on the tape, also
    those the backward sweep does not need.
    """
    with new_trace(VJPTrace, keep_values) as trace:
        boxes = [trace.new_input(p) for p in primals]
        outs = fun(*boxes)
        values, indices = [], []
        for o in outs:
            if type(o) is VJPBox and o._trace is trace:
                values.append(o._value)
                indices.append(o._index)
            else:
                values.append(o)
                indices.append(None)
    return values, indices, trace


def joint_cotangents(
    prim: Primitive, parents: Sequence[tuple[int, int]], g: Any, out: Any, args: list,
    kwargs: dict, below: Trace = NO_TRACE,
) -> list[Any]:  # fmt: skip
    """The cotangents of all traced arguments (``parents``: ``(argnum, index)`` pairs) of
    a step whose primitive has a joint VJP rule, from one call of it (through
    ``below.rule``: under ``tg.jit``, one equation), each summed to its argument's shape."""
    argnums = tuple([a for a, _ in parents])
    cts = below.rule(prim.vjp_joint, True)(argnums, g, out, *args, **kwargs)
    if len(cts) != len(argnums):
        raise ValueError(
            f"the joint VJP rule of `{prim.name}` returned {len(cts)} cotangent(s) for "
            f"{len(argnums)} differentiated argument(s)"
        )
    fitted = []
    for c, a in zip(cts, argnums):
        x = args[a]
        same = type(c) is np.ndarray and type(x) is np.ndarray and c.shape == x.shape
        fitted.append(c if same else fit_to(c, x))
    return fitted


def fit_to(c: Any, x: Any) -> Any:
    """The cotangent ``c`` of an operand ``x`` that the operation broadcast, summed back to
    ``x``'s shape (:func:`unbroadcast`; nothing to do, the common case, costs two checks).
    A float64 scalar's is a Python float, so that a sweep of scalars stays on floats."""
    tx = type(x)
    if tx is np.ndarray and type(c) is np.ndarray:
        return c if c.shape == x.shape else unbroadcast(c, x.shape)
    if type(c) is np.float64 and (tx is float or tx is np.float64):
        return float(c)
    if tx in PYTHON_SCALARS:  # a scalar takes a scalar cotangent
        return unbroadcast(c, ()) if not isinstance(c, float) and getattr(c, "ndim", 0) else c
    shape = shape_of(x)
    return c if shape_of(c) == shape else unbroadcast(c, shape)


def _accumulate(cts: list, owned: set[int], p: int, c: Any, fresh: bool) -> None:
    """Add the contribution ``c`` to the cotangent of value ``p``: v̄_p = v̄_p + c.

    Into the buffer of ``v̄_p`` in place when this sweep allocated it (``p in owned``: a
    sum it formed, or the output of a rule whose primitive declares ``fresh`` cotangents),
    since a value used many times (a weight in its layer and in the penalty) would
    otherwise cost one buffer per use. Only plain arrays have buffers to share: traced
    values are added by their trace (under ``tg.jit``, the compiler decides which sums
    go in place)."""
    prev = cts[p]
    if prev is None:
        cts[p] = c
        if fresh and _own_buffer(c):
            owned.add(p)
        return
    if type(prev) is np.ndarray and type(c) is np.ndarray:  # plain arrays: the common case
        if p in owned and prev.shape == c.shape and prev.dtype == c.dtype:
            np.add(prev, c, out=prev)
        else:
            cts[p] = prev + c
            owned.add(p)
        return
    cts[p] = prev + c


def _own_buffer(c: Any) -> bool:
    """True if ``c`` is a plain array with a buffer of its own (not a view)."""
    return type(c) is np.ndarray and c.base is None


def backward(
    tape: Tape, seeds: Sequence[tuple[int, Any]], n_inputs: int, below: Trace = NO_TRACE
) -> list[Any]:
    """Sweep cotangents from ``seeds`` (``(index, cotangent)`` pairs) back to the inputs.

    Implements v̄_i = Σ_k v̄_k ∂v_k/∂v_i over the reversed tape (:func:`backward_reference`
    is that sentence and nothing more): each step hands its cotangent to its parents
    through the primitive's VJP rule (:func:`joint_cotangents` for a joint rule), summed
    down to the parent's shape (:func:`fit_to`), and contributions to a value used several
    times are summed (:func:`_accumulate`). Returns one cotangent per input (``None`` for
    inputs the seeds do not reach). ``below``: the trace the tape's trace sits on, which
    the rules run on (under ``tg.jit``, the staging trace: it records what each rule
    computes, or the whole sweep as one step: :meth:`Trace.sweep`).
    """
    if not seeds:
        return [None] * n_inputs
    if below is not NO_TRACE:
        swept = below.sweep(tape, seeds, n_inputs)  # under tg.jit: one recorded step
        if swept is not None:
            return swept
    start = max(i for i, _ in seeds)
    cts: list[Any] = [None] * (start + 1)
    for i, g in seeds:
        if type(tape[i][3]) is float:  # a NumPy scalar taped as a float: a float seed
            g = float_cotangent(g)
        cts[i] = g if cts[i] is None else cts[i] + g
    # The rules are called right here: this loop is the cost of a gradient, and a call
    # per argument in between costs a quarter of it on scalar code. Where the trace below
    # records rule calls (Trace.rule overridden: tg.jit), each call goes through it, which
    # records the rule's operations (or the rule whole); undoing broadcasting stays
    # outside, recorded if needed.
    direct = type(below).rule is Trace.rule
    owned: set[int] = set()  # indices whose cotangent buffer the sweep allocated
    for i in range(start, n_inputs - 1, -1):
        g = cts[i]
        if g is None:
            continue
        cts[i] = None  # release as we go: memory falls during the sweep
        prim, args, kwargs, out, parents = tape[i]
        if prim.vjp_joint is not None:
            for (_, p), c in zip(
                parents, joint_cotangents(prim, parents, g, out, args, kwargs, below)
            ):
                _accumulate(cts, owned, p, c, prim.fresh)
            continue
        rules = prim.vjp_rules
        for a, p in parents:
            try:
                rule = rules[a]
            except IndexError:
                rule = None
            if rule is None:  # one rule for every argument (defvjp_argnum), or none
                by_argnum = prim.vjp_argnum
                if by_argnum is None:
                    prim.vjp(a, g, out, args, kwargs)  # raises, naming the primitive
                c = (by_argnum if direct else below.rule(by_argnum))(a, g, out, *args, **kwargs)
            elif not direct:
                c = below.rule(rule)(g, out, *args, **kwargs)
            elif kwargs:
                c = rule(g, out, *args, **kwargs)
            else:  # the common case, without keyword packing
                try:
                    c = rule(g, out, *args)
                except SCALAR_ERRORS:  # on floats, where NumPy answers inf or nan
                    if kwargs is not NUMPY_SCALAR_STEP:
                        raise
                    c = rule(*[np.float64(v) for v in (g, out, *args)])
            x = args[a]
            if type(c) is not float or type(x) is not float:  # two floats: both scalars
                if type(c) is np.ndarray and type(x) is np.ndarray:
                    if c.shape != x.shape:
                        c = unbroadcast(c, x.shape)
                else:
                    c = fit_to(c, x)
            prev = cts[p]
            if prev is None:  # a first contribution: nothing to add
                cts[p] = c
                if prim.fresh and _own_buffer(c):
                    owned.add(p)
            elif type(prev) is float and type(c) is float:  # scalar code: nothing to own
                cts[p] = prev + c
            else:
                _accumulate(cts, owned, p, c, prim.fresh)
    return cts[:n_inputs] + [None] * (n_inputs - len(cts))


def backward_reference(tape: Tape, seeds: Sequence[tuple[int, Any]], n_inputs: int) -> list[Any]:
    """The backward sweep with nothing but the chain rule, as the lecture notes write it:
    v̄_i = Σ_k v̄_k ∂v_k/∂v_i, k running over the steps that use v_i. The definition
    :func:`backward` must agree with (the tests hold it to this on every rule and on
    random programs); it is not used otherwise."""
    cts: list[Any] = [None] * len(tape)
    for i, g in seeds:
        cts[i] = g if cts[i] is None else cts[i] + g
    for i in reversed(range(n_inputs, len(tape))):
        g = cts[i]
        if g is None:
            continue
        prim, args, kwargs, out, parents = tape[i]
        for argnum, p in parents:
            c = unbroadcast(prim.vjp(argnum, g, out, args, kwargs), shape_of(args[argnum]))
            cts[p] = c if cts[p] is None else cts[p] + c
    return cts[:n_inputs]
