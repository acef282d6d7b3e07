"""Staging: record what a function computes once, as a typed program of NumPy calls.

A :class:`StagingTrace` sits at the bottom of the trace stack while ``tg.jit`` runs a
function for the first time with given argument shapes. Its boxes carry the real values
of that call, so the function runs as usual (and gives the real result), while every
operation that reaches the trace is written down as an equation ``outs = fn(*args)`` on
numbered values, with the type, shape and dtype of every value it makes (an
:class:`Aval`). The :class:`Program` that results is what ``tg.jit``'s compiler
(:mod:`tracegrad.compiler`) optimises and turns into straight-line Python.

A staging trace is three hooks for the traces above it. :meth:`StagingTrace.rule`: a
derivative rule they call on staged values runs on those values, so that its own
operations are recorded one by one (``g * y`` is one ``multiply``) and the compiler sees
the chain rule at the level of NumPy calls. A rule that returns several values (a fused
layer's joint rule or residual forward, with its own NumPy fast path) or that reads a
value is recorded whole, as one equation of plain-array code. :meth:`StagingTrace.sweep`:
a first call records a whole backward sweep as one equation (a :class:`Sweep`), computed
on the values as the eager sweep computes it, so that tracing costs a small multiple of
running; the first replay expands it (:func:`restage`: the sweep runs on staged values,
through ``rule``) before the compiler sees the program. :meth:`StagingTrace.vjp_step`:
a first call takes the reverse-mode steps on Python floats itself, one equation (a
:class:`FloatSteps`) for a run of them, and keeps them on the floats for the sweep (a
:class:`PlainTape`); the first replay expands that too.

What cannot be replayed is a function that reads a value (``if x > 0``, ``float(x)``, an
index taken from data): the program would hold that call's answer. Such reads are noted
(:attr:`StagingTrace.reads`), and ``jit`` then runs the function as it is instead.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from itertools import count, repeat
from typing import Any, NamedTuple

import numpy as np

from tracegrad.core.backend import module_of
from tracegrad.core.primitive import (
    _NO_KWARGS,
    NO_TRACE,
    PYTHON_SCALARS,
    SCALAR_ERRORS,
    Box,
    Primitive,
    Trace,
    box_types,
    new_trace,
    peek,
)
from tracegrad.core.reverse import backward as _backward

__all__ = [
    "Aval", "Equation", "FloatSteps", "Output", "PlainTape", "Program", "Slot", "StagedBox",
    "StagingTrace", "Sweep", "aval_of", "call_plain", "fresh_constant", "function_name",
    "needs_restage", "plain", "restage", "show_equation",
]  # fmt: skip

_SEQ = (tuple, list)
#: containers an argument may hold staged values in (one level deep)
_CONTAINERS = (tuple, list, dict)


class Slot(NamedTuple):
    """Where an equation reads a staged value: argument ``position`` (or keyword name),
    or element ``element`` (an index, or a key) of the tuple, list or dict there;
    ``ref``: the value's number."""

    position: int | str
    element: Any
    ref: int


class Aval(NamedTuple):
    """What the compiler knows of a value without its data: its Python ``type``, its
    ``shape`` and ``dtype`` (``None`` for values that have none), and for an array
    whether it is C-contiguous (its layout, which a rewrite must not change)."""

    type: type
    shape: tuple[int, ...] | None
    dtype: np.dtype | None
    contiguous: bool | None = None


def aval_of(value: Any) -> Aval:
    t = type(value)
    if t is np.ndarray:
        return Aval(t, value.shape, value.dtype, value.flags.c_contiguous)
    if t is float:
        return _FLOAT_AVAL
    return Aval(t, getattr(value, "shape", None), getattr(value, "dtype", None))


_FLOAT_AVAL = Aval(float, (), np.dtype(np.float64))


class Equation(NamedTuple):
    """One recorded call ``outs = fn(*args, **kwargs)``. ``args`` and ``kwargs`` hold the
    constants, with ``None`` where ``slots`` put a staged value; ``outs``: the numbers of
    the values it makes, one, or (``multiple``) one per element of the sequence ``fn``
    returns."""

    fn: Callable[..., Any]
    args: list
    kwargs: dict
    slots: tuple[Slot, ...]
    outs: tuple[int, ...]
    multiple: bool = False

    def refs(self) -> list[int]:
        """The numbers of the values it reads, in slot order."""
        return [s.ref for s in self.slots]

    def positional(self) -> list[tuple[bool, Any]] | None:
        """The arguments of a call with positional arguments only, each as ``(True,
        value number)`` or ``(False, constant)``; ``None`` for a call with keywords, with
        values inside containers, or with several outputs."""
        if self.kwargs or self.multiple:
            return None
        found: list[tuple[bool, Any]] = [(False, a) for a in self.args]
        for s in self.slots:
            if type(s.position) is not int or s.element is not None:
                return None
            found[s.position] = (True, s.ref)
        return found

    def filled(self, values: Sequence[Any]) -> tuple[list, dict]:
        """The arguments of the call with every slot (keywords and container elements
        too) filled from ``values`` (indexed by value number)."""
        args = list(self.args)
        kwargs = dict(self.kwargs)
        copied: set[int] = set()
        for s in self.slots:
            v = values[s.ref]
            if type(s.position) is str:
                kwargs[s.position] = v
            elif s.element is None:
                args[s.position] = v
            else:
                if s.position not in copied:
                    inner = args[s.position]
                    args[s.position] = dict(inner) if type(inner) is dict else list(inner)
                    copied.add(s.position)
                args[s.position][s.element] = v
        for pos in copied:
            if type(self.args[pos]) is tuple:
                args[pos] = tuple(args[pos])
        return args, kwargs

    def with_refs(self, rename: dict[int, int]) -> Equation:
        """The same call reading ``rename[r]`` in place of each value ``r`` it names."""
        if not any(s.ref in rename for s in self.slots):
            return self
        slots = tuple(s._replace(ref=rename.get(s.ref, s.ref)) for s in self.slots)
        return self._replace(slots=slots)


class Output(NamedTuple):
    """An output of a program: the value numbered ``ref``, or (``ref`` ``None``) the
    constant ``const``."""

    ref: int | None
    const: Any


class Program:
    """A staged function: ``n_inputs`` inputs (values ``0 … n_inputs-1``), equations in
    execution order, outputs, and ``avals[r]``, what is known of value ``r`` (``None``
    for a value that is ``None``). ``len`` counts the equations, ``repr`` lists them."""

    __slots__ = ("eqns", "outs", "n_inputs", "avals")

    def __init__(
        self, eqns: list[Equation], outs: tuple[Output, ...], n_inputs: int,
        avals: list[Aval | None],
    ) -> None:  # fmt: skip
        self.eqns = eqns
        self.outs = outs
        self.n_inputs = n_inputs
        self.avals = avals

    def replace(self, **changes: Any) -> Program:
        """A program with the given fields changed (a pass's result)."""
        fields = {k: getattr(self, k) for k in self.__slots__}
        return Program(**{**fields, **changes})

    def __len__(self) -> int:
        return len(self.eqns)

    def __repr__(self) -> str:
        lines = [f"Program({self.n_inputs} inputs, {len(self)} equations)"]
        lines += [f"  {show_equation(e)}" for e in self.eqns]
        outs = ", ".join("const" if o.ref is None else f"v{o.ref}" for o in self.outs)
        lines.append(f"  return [{outs}]")
        return "\n".join(lines)


def show_equation(eqn: Equation) -> str:
    """``v8 = matmul(v6, v0)``: one equation as ``repr(program)`` lists it."""
    shown = [_show_const(a) for a in eqn.args]
    named = {k: _show_const(v) for k, v in eqn.kwargs.items() if v is not None}
    for s in eqn.slots:
        if type(s.position) is str:
            named[s.position] = f"v{s.ref}"
        elif s.element is None:
            shown[s.position] = f"v{s.ref}"
        else:
            shown[s.position] = f"{shown[s.position]}[{s.element!r}]=v{s.ref}"
    shown += [f"{k}={v}" for k, v in named.items()]
    outs = ", ".join(f"v{r}" for r in eqn.outs) or "_"
    return f"{outs} = {function_name(eqn.fn)}({', '.join(shown)})"


def function_name(fn: Any) -> str:
    """How a recorded function is named in listings and generated source."""
    if isinstance(fn, np.ufunc):
        return fn.__name__
    owner = getattr(fn, "__self__", None)  # np.add.reduce
    if isinstance(owner, np.ufunc):
        return f"{owner.__name__}.{fn.__name__}"
    return getattr(fn, "__name__", type(fn).__name__)


def _show_const(v: Any) -> str:
    if v is None:
        return "·"
    if isinstance(v, np.ndarray) or module_of(v) is not None:  # never copied to the host
        return f"array{v.shape}"
    if isinstance(v, Primitive):
        return v.name
    text = repr(v)
    return text if len(text) <= 24 else text[:21] + "..."


_new_tuple = tuple.__new__


def _is_array(v: Any) -> bool:
    """True for an array, on the host or a device: a replay calls NumPy's function on it
    (the same types come back on every replay)."""
    t = type(v)
    return t is np.ndarray or (t not in PYTHON_SCALARS and module_of(v) is not None)


def _holds_no_box(container: Any) -> bool:
    """True if no element of a tuple, list or dict is a box."""
    items = container.values() if type(container) is dict else container
    return not any(type(e) in box_types for e in items)


def _numbers_only(args: list | None, out: Any) -> bool:
    """True if a step's arguments and output are all Python numbers."""
    return type(out) in PYTHON_SCALARS and all(type(a) in PYTHON_SCALARS for a in args or ())


def _slot(position: int, ref: int) -> Slot:
    """``Slot(position, None, ref)``, built as fast as a plain tuple."""
    return _new_tuple(Slot, (position, None, ref))


def _positional_slots(refs: Iterable[int]) -> tuple[Slot, ...]:
    """``Slot(k, None, ref)`` for the ``k``-th of ``refs``: the slots of an equation that
    reads those values in order (a sweep's reads one per value of its tape; built in C)."""
    return tuple(map(_new_tuple, repeat(Slot), zip(count(), repeat(None), refs)))


class StagedBox(Box):
    """A value of a staged function: the value of this call, numbered ``_ref``."""

    __slots__ = ("_ref",)

    def __init__(self, value: Any, trace: StagingTrace, ref: int) -> None:
        self._value = value
        self._trace = trace
        self._ref = ref

    # Converting to a Python or NumPy value fixes this call's answer into the program:
    # noted, so that jit falls back to running the function (the value is still right).
    def _read(self, what: str) -> Any:
        self._trace.note_read(f"it reads the value of a traced array, as {what}")
        return self._value

    def __bool__(self) -> bool:
        return bool(self._read("a Python bool (an if or while on a traced value)"))

    def __float__(self) -> float:
        return float(self._read("a Python float"))

    def __int__(self) -> int:
        return int(self._read("a Python int"))

    def __index__(self) -> int:
        return self._read("an index").__index__()

    def __complex__(self) -> complex:
        return complex(self._read("a Python complex"))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self._read("a NumPy array (plain NumPy used on it)"), dtype=dtype)

    def __repr__(self) -> str:  # also str() and f-strings: a branch on the text is a read
        self._read("text (repr, str or format)")
        return super().__repr__()

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # A traced operation where tracegrad.numpy has one (np.ones(3) * x); any other
        # ufunc (np.isnan(x)) is plain NumPy on values that carry no derivative here: a
        # read of this call's values, computed as it is.
        try:
            return Box.__array_ufunc__(self, ufunc, method, *inputs, **kwargs)
        except TypeError:
            if not self._trace.owns_all([*inputs, *kwargs.get("out", ())]):
                raise
        self._read(f"plain NumPy (numpy.{getattr(ufunc, '__name__', ufunc)})")
        vals = [peek(a) for a in inputs]  # only this trace's boxes are among them
        if "out" in kwargs:
            kwargs = {**kwargs, "out": tuple(peek(o) for o in kwargs["out"])}
        return getattr(ufunc, method)(*vals, **kwargs)


box_types.add(StagedBox)


def _python_operator(name: str, op: Callable[..., Any], reflected: bool) -> Callable[..., Any]:
    """An operator of staged values that keeps Python's arithmetic on Python numbers
    (``step + 1`` stays an exact int, ``x / 0.0`` raises), as the unstaged code would run
    it; anything else goes to the traced operation (the ``Box`` method)."""

    def method(self: StagedBox, other: Any = None) -> Any:
        if type(self._value) in PYTHON_SCALARS:
            if other is None and name in _UNARY:
                return self._trace.call(op, [self], _NO_KWARGS)
            t = type(other)
            if t in PYTHON_SCALARS or (
                t is StagedBox
                and other._trace is self._trace
                and type(other._value) in PYTHON_SCALARS
            ):
                args = (other, self) if reflected else (self, other)
                return self._trace.call_positional(op, op, args)
        box_method = getattr(Box, name)  # tracegrad.numpy's, attached at its import
        return box_method(self) if name in _UNARY else box_method(self, other)

    method.__name__ = name
    return method


_UNARY = {"__neg__": operator.neg, "__pos__": operator.pos, "__abs__": operator.abs}
_BINARY = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
    "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
}  # fmt: skip
for _name, _op in _UNARY.items():
    setattr(StagedBox, _name, _python_operator(_name, _op, False))
for _name, _op in _BINARY.items():
    setattr(StagedBox, f"__{_name}__", _python_operator(f"__{_name}__", _op, False))
    setattr(StagedBox, f"__r{_name}__", _python_operator(f"__r{_name}__", _op, True))
del _name, _op


class StagingTrace(Trace):
    """Records the equations of one call (see the module docstring)."""

    __slots__ = (
        "eqns", "avals", "n_inputs", "reads", "defer_sweeps", "_sweeps", "_rules", "_run",
    )  # fmt: skip
    entry_points = (*Trace.entry_points, "_record", "vjp_step")

    def __init__(self, level: int, defer_sweeps: bool = True) -> None:
        super().__init__(level)
        #: record a backward sweep over this trace's values as one step (:meth:`sweep`)
        self.defer_sweeps = defer_sweeps
        self._sweeps: list[Sweep] = []  # those recorded, whose boxes hold values
        self.eqns: list[Equation] = []
        #: what is known of each value, by number (inputs first)
        self.avals: list[Aval | None] = []
        self.n_inputs = 0
        #: why the function cannot be replayed (empty: it can)
        self.reads: list[str] = []
        self._rules: dict[tuple[Any, bool], Callable[..., Any]] = {}
        #: the steps taken by :meth:`vjp_step` since the last equation, not yet recorded
        self._run: FloatSteps | None = None

    def note_read(self, what: str) -> None:
        self.reads.append(what)

    def new_input(self, value: Any) -> StagedBox:
        self.n_inputs += 1
        return self._box(value)

    def _box(self, value: Any) -> Any:
        """A new numbered value (``None`` stays ``None``, but takes its number)."""
        if self._run is not None:
            self._end_run()
        ref = len(self.avals)
        if value is None:
            self.avals.append(None)
            return None
        self.avals.append(aval_of(value))
        return StagedBox(value, self, ref)

    def owns_all(self, values: Sequence[Any]) -> bool:
        """True if every box among ``values`` (and one level into tuples, lists and
        dicts) is one of this trace's: only then may they be handed to plain-array code."""
        for v in values:
            t = type(v)
            if t in box_types:
                if t is not StagedBox or v._trace is not self:
                    return False
            elif t in _CONTAINERS and not self._owns_elements(v.values() if t is dict else v):
                return False
        return True

    def _owns_elements(self, values: Any) -> bool:
        for e in values:
            if type(e) in box_types and (type(e) is not StagedBox or e._trace is not self):
                return False
        return True

    def holds_plain(self, values: Sequence[Any]) -> bool:
        return self.owns_all(values)

    def rule(self, fn: Callable[..., Any], multiple: bool = False) -> Callable[..., Any]:
        """``fn`` as a trace above calls it (one wrapper per rule and trace).

        A rule returning one value runs on the staged values (:meth:`inline`), so that
        its operations are recorded one by one, where the compiler can share and
        simplify them with the rest of the program. A rule returning several values
        (``multiple``: a fused layer's joint rule or residual forward, whose NumPy fast
        path is already what a replay should run) is recorded whole. On values of other
        traces, ``fn`` itself."""
        try:
            return self._rules[fn, multiple]
        except KeyError:
            staged = self._rules[fn, multiple] = self._staged_rule(fn, multiple)
            return staged
        except TypeError:  # an unhashable callable
            return self._staged_rule(fn, multiple)

    def _staged_rule(self, fn: Callable[..., Any], multiple: bool) -> Callable[..., Any]:
        def staged(*args: Any, **kwargs: Any) -> Any:
            if not self.owns_all(args) or (kwargs and not self.owns_all(kwargs.values())):
                return fn(*args, **kwargs)
            if multiple:
                return self._record(fn, fn, args, kwargs, True)
            return self.inline(fn, args, kwargs)

        return staged

    def inline(self, fn: Callable[..., Any], args: Sequence[Any], kwargs: dict) -> Any:
        """``fn`` (a rule returning one value) run on this trace's values, so that its
        operations are recorded one by one; recorded whole instead if it reads a value
        (``abs``'s sign of x) or works on plain arrays only (raises on staged ones)."""
        self._end_run()  # before the mark that may be cut back to
        n_eqns, n_reads = len(self.eqns), len(self.reads)
        try:
            out = fn(*args, **kwargs)
        except Exception:  # a rule written for plain arrays alone (x & y on masks)
            pass
        else:
            if len(self.reads) == n_reads:
                return out
        del self.eqns[n_eqns:], self.reads[n_reads:]  # the values they made stay unused
        return self._record(fn, fn, args, kwargs, False)

    def vjp_step(self, tape: list, prim: Primitive, vals: list, parents: Sequence) -> Any:
        """A reverse-mode step on Python floats staged here (a scalar chain under
        ``jit(grad)``), taken here: computed as :meth:`process2` computes it, without the
        dispatch in between; recorded with the steps taken next to it as one equation (a
        :class:`FloatSteps`); and copied on the floats into the tape's
        :class:`PlainTape`, which the sweep then reads (:meth:`sweep`). ``None`` for any
        other step: it is computed and recorded as usual, and copied when the sweep
        comes."""
        if not self.defer_sweeps or prim.float_impl is None:
            return None
        floats = list(vals)
        for i, v in enumerate(vals):
            t = type(v)
            if t is StagedBox:
                if v._trace is not self or type(v._value) is not float:
                    return None
                floats[i] = v._value
            elif t not in PYTHON_SCALARS:
                return None
        try:
            out = prim.float_impl(*floats)
        except SCALAR_ERRORS:
            out = prim.impl(*floats)  # NumPy's nan or inf
        ref = len(self.avals)
        self.avals.append(_FLOAT_AVAL if type(out) is float else aval_of(out))
        run = self._run
        if run is None:
            run = self._run = FloatSteps(ref)
        run.prims.append(prim)
        run.args.append(vals)
        plain = tape.plain
        if not plain or len(plain.steps) != len(tape):
            plain = self._plain_tape(tape)
        refs = plain.refs if plain is not None else None
        for v in vals:
            if type(v) is StagedBox:
                if v._ref < run.first:  # made before the run: an input of its equation
                    run.inputs[v._ref] = None
                if refs is not None:
                    refs[v._ref] = None
        if plain is not None:
            plain.steps.append((prim, floats, _NO_KWARGS, out, parents))
            refs[ref] = None
            if type(out) is not float:
                plain.holds_arrays = True  # a NumPy scalar: not worth the distinction
        return StagedBox(out, self, ref)

    def _end_run(self) -> None:
        """Record the steps :meth:`vjp_step` took since the last equation, if any, as one
        equation: before any other value is numbered (the steps' values are numbered in
        a row) or equation recorded (it may read them)."""
        run, self._run = self._run, None
        if run is not None and run.prims:
            n_in, first = len(run.inputs), run.first
            slots = _positional_slots(run.inputs)
            outs = tuple(range(first, first + len(run.prims)))
            self.eqns.append(Equation(run, [None] * n_in, _NO_KWARGS, slots, outs, True))

    def _plain_tape(self, tape: Any) -> PlainTape | None:
        """The tape's :class:`PlainTape`, made if need be, with the steps it lacks
        copied; ``None`` if the tape holds values this trace cannot see through."""
        plain = tape.plain
        if plain is None:
            plain = tape.plain = PlainTape(self)
        elif plain is False or plain.trace is not self:
            return None
        if len(plain.steps) < len(tape) and not plain.catch_up(tape):
            tape.plain = False  # for good: the step that stopped it stays on the tape
            return None
        return plain

    def sweep(self, tape: list, seeds: Sequence[tuple[int, Any]], n_inputs: int) -> list | None:
        """A backward sweep over a tape of this trace's values, recorded as one equation
        (a :class:`Sweep`) and computed now on the values (the tape's
        :class:`PlainTape`), as the eager sweep computes it: staging each rule's
        operations would cost a first call several times an eager one
        (``benchmarks/jit_compiler.py``). The first replay expands it (:func:`restage`):
        the sweep runs again on staged values, and each rule's operations are recorded.
        ``None`` (sweep as usual) while restaging, or if the tape holds anything but this
        trace's values and constants."""
        if not self.defer_sweeps:
            return None
        plain = self._plain_tape(tape)
        if plain is None:
            return None
        refs = dict(plain.refs)  # the values the sweep reads (their numbers, once each)
        cts = self._values([g for _, g in seeds], refs)
        if cts is None or not refs:  # nothing staged: a sweep of constants, run as it is
            return None
        where = [i for i, _ in seeds]
        self._end_run()  # before the mark that may be cut back to
        n_eqns, n_reads = len(self.eqns), len(self.reads)
        try:
            swept = _backward(plain.steps, list(zip(where, cts)), n_inputs)
        except Exception:  # raised again by the sweep as usual, or not there
            swept = None
        # A rule may hold this trace's values where the tape does not show them (a
        # custom rule's closure): the sweep then met them. It runs as usual instead.
        if (
            swept is None
            or len(self.eqns) != n_eqns
            or len(self.reads) != n_reads
            or any(type(c) in box_types for c in swept)
        ):
            del self.eqns[n_eqns:], self.reads[n_reads:]
            return None
        step = Sweep(list(tape), list(seeds), n_inputs, list(refs))
        if plain.holds_arrays or any(
            type(g) is StagedBox and type(c) not in PYTHON_SCALARS for (_, g), c in zip(seeds, cts)
        ):
            self._sweeps.append(step)  # its boxes' values go when the call is over
        slots = _positional_slots(refs)
        return self._append(step, [None] * len(refs), slots, swept, multiple=True)

    def _values(self, values: Iterable[Any], refs: dict[int, None]) -> list | None:
        """``values`` with this trace's boxes replaced by their values, noting their
        numbers in ``refs``; ``None`` if a box of another trace, or one inside a
        container, is among them."""
        plain = list(values)
        for i, v in enumerate(plain):
            t = type(v)
            if t is StagedBox and v._trace is self:
                refs[v._ref] = None
                plain[i] = v._value
            elif t in box_types or (t in _CONTAINERS and not _holds_no_box(v)):
                return None
        return plain

    def forget_values(self) -> None:
        """Drop this call's values from the boxes its :class:`Sweep` steps hold (they
        stand for the program's slots there): a recorded program must not keep a call's
        arrays alive. Only once the call is over: its boxes are still in use until then."""
        for step in self._sweeps:
            step.forget_values()
        self._sweeps.clear()

    def call(self, fn: Callable[..., Any], args: Sequence[Any], kwargs: dict) -> Any:
        """``fn(*args, **kwargs)`` on the values behind this trace's boxes, recorded as one
        equation with one output. ``fn`` must be a function of its arguments alone (no
        state, no values from elsewhere)."""
        return self._record(fn, fn, args, kwargs, False)

    def process(self, prim: Primitive, args: tuple | list, kwargs: dict) -> Any:
        if not self.owns_all(args):  # a box of an enclosing trace: compute, note, go on
            self.note_read("it uses a value traced by an enclosing transformation")
            vals, _ = self._unbox(args)
            return self._box(prim(*vals, **kwargs))
        # replayed as the NumPy function itself when an argument is an array (the same
        # types come back on every replay), else as the implementation (an elementwise
        # one keeps Python floats floats); run now through Primitive.run, whose shape
        # errors name the operation
        fn = prim.impl
        if prim.array_impl is not None:
            for a in args:
                if type(a) is StagedBox and _is_array(a._value):
                    fn = prim.array_impl
                    break
        return self._record(fn, prim.run, args, kwargs, False)

    # The public elementwise functions enter here (see Trace.process1): the general path
    # without its loops over arguments, containers and keywords. Recording is what the
    # first call of a jitted function pays on top of running it, once per operation.

    def process1(self, prim: Primitive, x: StagedBox) -> StagedBox:
        v = x._value
        fn = prim.array_impl if _is_array(v) and prim.array_impl is not None else prim.impl
        out = fn(v)  # elementwise: no shapes to name in an error
        return self._append(fn, [None], (_slot(0, x._ref),), out)

    def process2(self, prim: Primitive, x: Any, y: Any) -> Any:
        return self.call_positional(prim.impl, prim.run, (x, y), prim)

    def call_positional(
        self, fn: Callable[..., Any], run: Callable[..., Any], args: Sequence[Any],
        prim: Primitive | None = None,
    ) -> Any:  # fmt: skip
        """Record ``fn(*args)`` (computed now as ``run(*args)``) for positional arguments
        that are this trace's boxes or constants; anything else takes the general path
        (``process`` for a primitive ``prim``, else :meth:`call`). A primitive's call
        with an array among the values is recorded as its NumPy function."""
        slots = []
        consts = list(args)
        vals = list(args)
        for i, a in enumerate(args):
            t = type(a)
            if t is StagedBox and a._trace is self:
                vals[i] = a._value
                consts[i] = None
                slots.append(_slot(i, a._ref))
            elif t in box_types or t in _CONTAINERS:  # the general path sees to these
                if prim is not None:
                    return self.process(prim, args, _NO_KWARGS)
                return self.call(fn, args, _NO_KWARGS)
        if prim is not None and prim.array_impl is not None:
            for v in vals:
                if _is_array(v):
                    fn = prim.array_impl
                    break
        return self._append(fn, consts, tuple(slots), run(*vals))

    def _append(
        self, fn: Callable[..., Any], args: list, slots: tuple, out: Any,
        kwargs: dict = _NO_KWARGS, multiple: bool = False,
    ) -> Any:  # fmt: skip
        """Record ``out = fn(*args, **kwargs)`` (``slots`` filling ``args``) and box ``out``
        (``None`` stays ``None``, but takes its number), or (``multiple``) each element
        of the sequence ``out``."""
        if self._run is not None:
            self._end_run()
        if multiple:
            first = len(self.avals)
            boxes = [self._box(o) for o in out]
            outs = tuple(range(first, len(self.avals)))
            self.eqns.append(Equation(fn, args, kwargs, slots, outs, True))
            return boxes
        ref = len(self.avals)
        box = self._box(out)
        # Equation(...) without the named tuple's Python-level constructor: a quarter of
        # the cost of recording an operation
        self.eqns.append(_new_tuple(Equation, (fn, args, kwargs, slots, (ref,), False)))
        return box

    def _unbox(self, args: Sequence[Any]) -> tuple[list, list[Slot]]:
        """The values behind this trace's boxes among ``args`` (and one level into a
        tuple, list or dict there), and the slots they came from."""
        vals = list(args)
        slots = []
        for i, a in enumerate(args):
            t = type(a)
            if t is StagedBox and a._trace is self:
                vals[i] = a._value
                slots.append(Slot(i, None, a._ref))
            elif t in box_types:
                self.note_read("it uses a value traced by an enclosing transformation")
            elif t in _CONTAINERS:
                items = a.items() if t is dict else enumerate(a)
                if any(type(e) in box_types for _, e in items):
                    inner = dict(a) if t is dict else list(a)
                    for j, e in a.items() if t is dict else enumerate(a):
                        if type(e) is StagedBox and e._trace is self:
                            inner[j] = e._value
                            slots.append(Slot(i, j, e._ref))
                        elif type(e) in box_types:
                            self.note_read("it uses a value traced by an enclosing transformation")
                    vals[i] = inner if t is not tuple else tuple(inner)
        return vals, slots

    def _record(
        self, fn: Callable[..., Any], run: Callable[..., Any], args: Sequence[Any],
        kwargs: dict, multiple: bool,
    ) -> Any:  # fmt: skip
        """Run ``run`` on the values behind the boxes now, and write down ``fn`` (what a
        replay calls) as an equation; box the result (each element, if ``multiple``)."""
        vals, slots = self._unbox(args)
        kw = kwargs
        if kwargs and any(type(v) in box_types for v in kwargs.values()):
            kw = dict(kwargs)
            for k, v in kwargs.items():
                if type(v) is StagedBox and v._trace is self:
                    kw[k] = v._value
                    slots.append(Slot(k, None, v._ref))
                elif type(v) in box_types:
                    self.note_read("it uses a value traced by an enclosing transformation")
        out = run(*vals, **kw)
        if not slots:  # nothing staged: a constant, not an equation
            return out
        # the equation keeps constants only, not the values of this call
        const_args = list(vals)
        const_kw = dict(kw)
        for s in slots:
            if type(s.position) is str:
                del const_kw[s.position]
            elif s.element is None:
                const_args[s.position] = None
            else:
                kind = type(vals[s.position])
                inner = (
                    dict(const_args[s.position]) if kind is dict else list(const_args[s.position])
                )
                inner[s.element] = None
                const_args[s.position] = tuple(inner) if kind is tuple else inner
        return self._append(fn, const_args, tuple(slots), out, const_kw, multiple)

    def values_of(self, outputs: Sequence[Any]) -> list:
        """The values of ``outputs`` (this trace's boxes, or constants, copied: the
        caller may write into them, as into a replay's)."""
        return [
            o._value if type(o) is StagedBox and o._trace is self else fresh_constant(o)
            for o in outputs
        ]

    def finish(self, outputs: Sequence[Any]) -> Program:
        """The program computing ``outputs`` (this trace's boxes, or constants). It takes
        the equations over: the boxes its steps keep (a :class:`Sweep`'s, a
        :class:`FloatSteps`') refer to this trace, which must not refer back to them (a
        cycle: the program would be freed only by a full collection)."""
        self._end_run()
        outs = []
        for o in outputs:
            if type(o) is StagedBox and o._trace is self:
                outs.append(Output(o._ref, None))
            else:
                outs.append(Output(None, o))
        eqns, self.eqns = self.eqns, []
        return Program(eqns, tuple(outs), self.n_inputs, self.avals)


class FloatSteps:
    """Steps of a reverse-mode trace on Python floats that the staging trace below it
    took itself (:meth:`StagingTrace.vjp_step`), one after another, as one equation of
    a first call's program: ``prims[k]`` on ``args[k]`` (constants, and that trace's
    boxes, standing for the program's values by their numbers) makes the value numbered
    ``first + k``. Called with the values numbered ``inputs`` (those made before the
    steps, in that order), it returns the value of each step; on a staging trace's
    boxes (:func:`restage`), each step is recorded as an equation of its own."""

    __slots__ = ("first", "prims", "args", "inputs")

    def __init__(self, first: int) -> None:
        self.first = first
        self.prims: list[Primitive] = []
        self.args: list[list] = []
        self.inputs: dict[int, None] = {}

    def __call__(self, *values: Any) -> list:
        of = dict(zip(self.inputs, values))
        outs = []
        for ref, prim, args in zip(count(self.first), self.prims, self.args):
            out = of[ref] = prim.impl(*[of[a._ref] if type(a) is StagedBox else a for a in args])
            outs.append(out)
        return outs


class PlainTape:
    """A reverse-mode tape (:class:`~tracegrad.core.reverse.Tape`) on a staging trace's
    values: its steps with that trace's boxes replaced by their values, kept by the
    trace with the tape (``tape.plain``) as the tape grows, so that the sweep of a first
    call (:meth:`StagingTrace.sweep`) reads the values without copying the tape then.
    ``steps``: one per step of the tape so far; ``refs``: the numbers of the staged
    values on it, once each; ``holds_arrays``: whether a value of those boxes may be
    anything but a Python float (their values must then be dropped when the call is
    over: :meth:`StagingTrace.forget_values`)."""

    __slots__ = ("trace", "steps", "refs", "holds_arrays")

    def __init__(self, trace: StagingTrace) -> None:
        self.trace = trace
        self.steps: list = []
        self.refs: dict[int, None] = {}
        self.holds_arrays = False

    def catch_up(self, tape: list) -> bool:
        """Copy the steps of ``tape`` not yet here (those the trace did not take itself:
        :meth:`StagingTrace.vjp_step`); False if one holds a box of another trace, or a
        box inside a container."""
        values, refs = self.trace._values, self.refs
        for prim, args, kwargs, out, parents in tape[len(self.steps) :]:
            seen = len(refs)
            if args:
                args = values(args, refs)
                if args is None:
                    return False
            if kwargs:
                plain = values(kwargs.values(), refs)
                if plain is None:
                    return False
                kwargs = dict(zip(kwargs, plain))
            if type(out) is StagedBox and out._trace is self.trace:
                refs[out._ref] = None
                out = out._value
            elif type(out) in box_types:
                return False
            if len(refs) != seen and not self.holds_arrays:  # values new to the copy
                self.holds_arrays = bool(kwargs) or not _numbers_only(args, out)
            self.steps.append((prim, args, kwargs, out, parents))
        return True


class Sweep:
    """A backward sweep (:func:`~tracegrad.core.reverse.backward`) as one step of a
    program: ``tape`` and ``seeds`` (``(index, cotangent)`` pairs) as the recording call
    had them, whose boxes of that call's staging trace stand for the program's values
    numbered ``refs`` (see :meth:`StagingTrace.forget_values`). Called with those values
    (in the order of ``refs``), it sweeps and returns one cotangent per input (``None``
    where none reaches); :meth:`staged` sweeps on a staging trace's boxes instead."""

    __slots__ = ("tape", "seeds", "n_inputs", "refs")

    def __init__(self, tape: list, seeds: list, n_inputs: int, refs: list[int]) -> None:
        self.tape = tape
        self.seeds = seeds
        self.n_inputs = n_inputs
        self.refs = refs

    def __call__(self, *values: Any) -> list:
        return self.staged(values, NO_TRACE)

    def staged(self, values: Sequence[Any], below: Trace) -> list:
        """The sweep with ``values`` in the places of the boxes, its rules run on
        ``below``."""
        of = dict(zip(self.refs, values))
        tape = []
        for prim, args, kwargs, out, parents in self.tape:
            if args:
                args = [of[a._ref] if type(a) is StagedBox else a for a in args]
            if kwargs:
                kwargs = {k: of[v._ref] if type(v) is StagedBox else v for k, v in kwargs.items()}
            if type(out) is StagedBox:
                out = of[out._ref]
            tape.append((prim, args, kwargs, out, parents))
        seeds = [(i, of[g._ref] if type(g) is StagedBox else g) for i, g in self.seeds]
        return _backward(tape, seeds, self.n_inputs, below)

    def forget_values(self) -> None:
        """Drop the recording call's values from the boxes of the tape and the seeds."""
        for _, args, kwargs, out, _ in self.tape:
            for a in args or ():
                if type(a) is StagedBox:
                    a._value = None
            for v in kwargs.values() if kwargs else ():
                if type(v) is StagedBox:
                    v._value = None
            if type(out) is StagedBox:
                out._value = None
        for _, g in self.seeds:
            if type(g) is StagedBox:
                g._value = None


def restage(program: Program, inputs: Sequence[Any]) -> tuple[Program, list]:
    """``program`` with each :class:`Sweep` expanded into the operations of its rules,
    and each :class:`FloatSteps` into its steps, found by running the program on
    ``inputs`` on a staging trace that runs sweeps as they are and takes no steps itself
    (staging runs on values); the other equations are recorded again as they are.
    Returns that program and its outputs on ``inputs``. What a first call leaves to its
    first replay."""
    with new_trace(StagingTrace, False) as stage:
        values: list[Any] = [stage.new_input(x) for x in inputs]
        values += [None] * (len(program.avals) - len(values))
        for eqn in program.eqns:
            args, kwargs = eqn.filled(values)
            fn = eqn.fn
            if type(fn) is Sweep:
                outs = fn.staged(args, stage)
            elif type(fn) is FloatSteps:
                outs = fn(*args)  # each step on staged values: recorded
            elif eqn.multiple:
                outs = stage._record(fn, fn, args, kwargs, True)
            else:
                outs = (stage._record(fn, fn, args, kwargs, False),)
            for ref, out in zip(eqn.outs, outs):
                values[ref] = out
    outs = [values[o.ref] if o.ref is not None else o.const for o in program.outs]
    return stage.finish(outs), stage.values_of(outs)


def needs_restage(program: Program) -> bool:
    """True if ``program`` holds a :class:`Sweep` or :class:`FloatSteps`: steps of a
    first call that :func:`restage` expands."""
    return any(type(e.fn) is Sweep or type(e.fn) is FloatSteps for e in program.eqns)


def fresh_constant(value: Any) -> Any:
    """A constant output, copied if it is an array (on the host or a device): the caller
    may write into it."""
    if type(value) is np.ndarray or module_of(value) is not None:
        return value.copy()
    return value


def plain(x: Any) -> Any:
    """``x`` with the boxes of differentiating transformations stripped, down to a plain
    value or a staged one (which stands for a plain array): what a function of values
    with no derivative (a comparison, an index) takes."""
    while type(x) in box_types and type(x) is not StagedBox:
        # a read of the value, which only a trace whose boxes are not values needs to
        # know of (vmap's: the value is the whole stack)
        x._trace.note_read(
            "it uses a traced value as a plain one (a function without a derivative)"
        )
        x = x._value
    return x


def call_plain(fn: Callable[..., Any], args: Sequence[Any], kwargs: dict = _NO_KWARGS) -> Any:
    """``fn`` (a function with no derivative) on the :func:`plain` values of ``args``;
    recorded as one equation when some of them are staged."""
    vals = [plain(a) for a in args]
    for v in vals:
        if type(v) is StagedBox and v._trace.owns_all(vals):
            return v._trace.call(fn, vals, kwargs)
    return fn(*vals, **kwargs)
