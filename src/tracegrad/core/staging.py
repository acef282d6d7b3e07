"""Staging: record what a function computes once, then replay it without tracing.

A :class:`StagingTrace` sits at the bottom of the trace stack while ``tg.jit`` runs a
function for the first time with given argument shapes. Its boxes carry the real values
of that call, so the function runs as usual (and gives the real result), while every
operation that reaches the trace is written down as an equation ``fn(*args)`` on
numbered values. A :class:`Program` is that list; running it on new input arrays calls
the same NumPy functions in the same order with no boxes, no dispatch and no tape: the
Python cost of a traced step, paid once.

Traces above a staging trace treat its boxes as plain arrays: they run their plain-NumPy
fast paths (fused VJP rules, residuals, in-place buffers) through :meth:`StagingTrace.call`,
which records the whole rule as one equation. What cannot be replayed is a function that
reads a value (``if x > 0``, ``float(x)``, an index taken from data): the program would
hold that call's answer. Such reads are noted (:attr:`StagingTrace.reads`), and ``jit``
then runs the function as it is instead of replaying it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.core.primitive import _NO_KWARGS, Box, Primitive, Trace, box_types

__all__ = ["Program", "StagedBox", "StagingTrace", "call_plain", "fresh_constant", "plain"]

_SEQ = (tuple, list)


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


box_types.add(StagedBox)

_PY_NUMBERS = (int, float, bool)


def _python_operator(name: str, op: Callable[..., Any], reflected: bool) -> Callable[..., Any]:
    """An operator of staged values that keeps Python's arithmetic on Python numbers
    (``step + 1`` stays an exact int, ``x / 0.0`` raises), as the unstaged code would run
    it; anything else goes to the traced operation (the ``Box`` method)."""

    def method(self: StagedBox, other: Any = None) -> Any:
        if type(self._value) in _PY_NUMBERS:
            if other is None and name in _UNARY:
                return self._trace.call(op, [self], _NO_KWARGS)
            t = type(other)
            if t in _PY_NUMBERS or (
                t is StagedBox and other._trace is self._trace and type(other._value) in _PY_NUMBERS
            ):
                args = [other, self] if reflected else [self, other]
                return self._trace.call(op, args, _NO_KWARGS)
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

    __slots__ = ("eqns", "n_values", "n_inputs", "reads")
    plain_values = True

    def __init__(self, level: int) -> None:
        super().__init__(level)
        #: ``(fn, args, slots, kwargs, kwslots, n_out)`` per call, in order
        self.eqns: list[tuple] = []
        self.n_values = self.n_inputs = 0
        #: why the function cannot be replayed (empty: it can)
        self.reads: list[str] = []

    def note_read(self, what: str) -> None:
        self.reads.append(what)

    def new_input(self, value: Any) -> StagedBox:
        self.n_inputs += 1
        return self._box(value)

    def _box(self, value: Any) -> Any:
        """A new numbered value (``None`` stays ``None``, but takes its number)."""
        ref = self.n_values
        self.n_values += 1
        return None if value is None else StagedBox(value, self, ref)

    def owns_all(self, values: Sequence[Any]) -> bool:
        """True if every box among ``values`` (and one level into tuples and lists) is
        one of this trace's: only then may they be handed to plain-array code."""
        for v in values:
            t = type(v)
            if t in box_types:
                if t is not StagedBox or v._trace is not self:
                    return False
            elif t in _SEQ and not self.owns_all(v):
                return False
        return True

    def _unbox(self, args: Sequence[Any]) -> tuple[list, tuple]:
        """The values behind this trace's boxes, and where they were: ``(position,
        ref)`` or, one level into a tuple or list, ``(position, element, ref)``."""
        vals = list(args)
        slots = []
        for i, a in enumerate(args):
            t = type(a)
            if t is StagedBox and a._trace is self:
                vals[i] = a._value
                slots.append((i, a._ref))
            elif t in box_types:
                self.note_read("it uses a value traced by an enclosing transformation")
            elif t in _SEQ and any(type(e) in box_types for e in a):
                seq = list(a)
                for j, e in enumerate(a):
                    if type(e) is StagedBox and e._trace is self:
                        seq[j] = e._value
                        slots.append((i, j, e._ref))
                    elif type(e) in box_types:
                        self.note_read("it uses a value traced by an enclosing transformation")
                vals[i] = t(seq)
        return vals, tuple(slots)

    def call(
        self, fn: Callable[..., Any], args: Sequence[Any], kwargs: dict, n_out: int | None = None
    ) -> Any:
        """``fn(*args, **kwargs)`` on the values behind this trace's boxes, recorded as one
        equation. ``fn`` must be a function of its arguments alone (no state, no values
        from elsewhere). ``n_out``: ``fn`` returns a sequence of that many values, each
        boxed; ``None``: one value."""
        return self._record(fn, fn, args, kwargs, n_out)

    def process(self, prim: Primitive, args: tuple, kwargs: dict) -> Any:
        if not self.owns_all(args):  # a box of an enclosing trace: compute, note, go on
            self.note_read("it uses a value traced by an enclosing transformation")
            vals, _ = self._unbox(args)
            return self._box(prim(*vals, **kwargs))
        # replayed as the bare implementation (the NumPy function itself when an argument
        # is an array: the same types come back on every replay); run now through
        # call_impl, whose shape errors name the operation
        fn = prim.impl
        if prim.array_impl is not None:
            for a in args:
                if type(a) is StagedBox and type(a._value) is np.ndarray:
                    fn = prim.array_impl
                    break
        return self._record(fn, lambda *a, **k: prim.call_impl(a, k), args, kwargs)

    def _record(
        self, fn: Callable[..., Any], run: Callable[..., Any], args: Sequence[Any],
        kwargs: dict, n_out: int | None = None,
    ) -> Any:  # fmt: skip
        if not self.active:
            self.check_active()
        vals, slots = self._unbox(args)
        kw, kwslots = kwargs, ()
        if kwargs and any(type(v) in box_types for v in kwargs.values()):
            kw = dict(kwargs)
            kwslots = tuple(
                (k, v._ref) for k, v in kwargs.items() if type(v) is StagedBox and v._trace is self
            )
            for k, _ in kwslots:
                kw[k] = kwargs[k]._value
            if any(type(v) in box_types for v in kw.values()):
                self.note_read("it uses a value traced by an enclosing transformation")
        out = run(*vals, **kw)
        if n_out is not None and len(out) != n_out:
            name = getattr(fn, "__name__", repr(fn))
            raise ValueError(f"{name} returned {len(out)} values where {n_out} were expected")
        # the equation keeps constants only, not the values of this call
        template = list(vals)
        for s in slots:
            if len(s) == 2:
                template[s[0]] = None
            else:
                seq = list(template[s[0]])
                seq[s[1]] = None
                template[s[0]] = type(vals[s[0]])(seq)
        kw_template = {k: v for k, v in kw.items() if all(k != n for n, _ in kwslots)}
        self.eqns.append((fn, template, slots, kw_template, kwslots, n_out))
        if n_out is None:
            return self._box(out)
        return [self._box(o) for o in out]

    def finish(self, outputs: Sequence[Any]) -> Program:
        """The program computing ``outputs`` (this trace's boxes, or constants)."""
        outs = []
        for o in outputs:
            if type(o) is StagedBox and o._trace is self:
                outs.append((o._ref, None))
            else:
                outs.append((-1, o))
        return Program(self.eqns, outs, self.n_inputs)


def _last_uses(eqns: Sequence[tuple], outs: Sequence[tuple]) -> list[list[int]]:
    """Per equation, the values no later equation or output reads (freed after it)."""
    last: dict[int, int] = {}
    for k, (_fn, _args, slots, _kw, kwslots, _n) in enumerate(eqns):
        for s in slots:
            last[s[-1]] = k
        for _name, ref in kwslots:
            last[ref] = k
    for ref, _ in outs:
        last.pop(ref, None)
    frees: list[list[int]] = [[] for _ in eqns]
    for ref, k in last.items():
        frees[k].append(ref)
    return frees


class Program:
    """A staged function: equations on numbered values (inputs first), and outputs.

    ``program(inputs)`` runs it on a list of input values and returns the list of output
    values. The equations are turned into the source of one Python function (one line
    per call, ``v8 = f3(v6, v0, c5, activation=c6)``, constants and functions bound by
    name), so a replay costs what the NumPy calls cost and a function call per line.
    Each value is deleted after its last use, as a hand-written step lets its
    temporaries go. ``repr`` shows the equations.
    """

    __slots__ = ("eqns", "outs", "n_inputs", "source", "function")

    def __init__(
        self, eqns: Sequence[tuple], outs: Sequence[tuple[int, Any]], n_inputs: int
    ) -> None:
        self.eqns = list(eqns)
        self.outs = tuple(outs)
        self.n_inputs = n_inputs
        self.source, names = _source(self.eqns, self.outs, n_inputs)
        namespace: dict[str, Any] = {}
        exec(compile(self.source, "<tracegrad.jit program>", "exec"), names, namespace)  # noqa: S102
        #: the generated function: ``function(*inputs) -> list of outputs``
        self.function = namespace["program"]

    def __call__(self, inputs: Sequence[Any]) -> list[Any]:
        return self.function(*inputs)

    def __len__(self) -> int:
        return len(self.eqns)

    def __repr__(self) -> str:
        lines = []
        n = self.n_inputs
        for fn, args, slots, kw, kwslots, n_out in self.eqns:
            shown = [_show_const(a) for a in args]
            for s in slots:
                shown[s[0]] = f"v{s[1]}" if len(s) == 2 else f"{shown[s[0]]}[{s[1]}]=v{s[2]}"
            shown += [f"{k}={_show_const(v)}" for k, v in kw.items() if v is not None]
            shown += [f"{k}=v{ref}" for k, ref in kwslots]
            outs = f"v{n}" if n_out is None else ", ".join(f"v{n + i}" for i in range(n_out))
            n += 1 if n_out is None else n_out
            name = getattr(fn, "__name__", type(fn).__name__)
            lines.append(f"  {outs} = {name}({', '.join(shown)})")
        outs = ", ".join(f"v{ref}" if ref >= 0 else "const" for ref, _ in self.outs)
        return "\n".join([f"Program({self.n_inputs} inputs, {len(self)} equations)", *lines,
                          f"  return [{outs}]"])  # fmt: skip


def _source(eqns: Sequence[tuple], outs: Sequence[tuple], n_inputs: int) -> tuple[str, dict]:
    """The source of ``program(v0, ..., v{n_inputs-1})`` and the names it refers to."""
    names: dict[str, Any] = {"_fresh": fresh_constant}

    def const(value: Any) -> str:
        name = f"c{len(names)}"
        names[name] = value
        return name

    frees = _last_uses(eqns, outs)
    lines = [f"def program({', '.join(f'v{i}' for i in range(n_inputs))}):"]
    n = n_inputs
    for (fn, args, slots, kw, kwslots, n_out), free in zip(eqns, frees):
        parts = [const(a) for a in args]
        nested: dict[int, list[str]] = {}
        for s in slots:
            if len(s) == 2:
                parts[s[0]] = f"v{s[1]}"
            else:
                pos = s[0]
                seq = nested.setdefault(pos, [f"{parts[pos]}[{j}]" for j in range(len(args[pos]))])
                seq[s[1]] = f"v{s[2]}"
        for pos, seq in nested.items():
            items = ", ".join(seq) + ("," if len(seq) == 1 else "")
            parts[pos] = f"[{items}]" if type(args[pos]) is list else f"({items})"
        kwrefs = dict(kwslots)
        if all(k.isidentifier() for k in [*kw, *kwrefs]):
            parts += [f"{k}={const(v)}" for k, v in kw.items()]
            parts += [f"{k}=v{ref}" for k, ref in kwrefs.items()]
        else:  # keyword names that are not identifiers: one dict
            refs = ", ".join(f"{k!r}: v{r}" for k, r in kwrefs.items())
            parts.append(f"**{{**{const(kw)}, {refs}}}")
        if n_out is None:
            target = f"v{n}"
            n += 1
        else:
            target = "".join(f"v{n + i}, " for i in range(n_out)) or "_"
            n += n_out
        lines.append(f"    {target} = {const(fn)}({', '.join(parts)})")
        if free:
            lines.append(f"    del {', '.join(f'v{r}' for r in sorted(set(free)))}")
    results = [f"v{ref}" if ref >= 0 else f"_fresh({const(c)})" for ref, c in outs]
    lines.append(f"    return [{', '.join(results)}]")
    return "\n".join(lines) + "\n", names


def fresh_constant(value: Any) -> Any:
    """A constant output, copied if it is an array: the caller may write into it."""
    return value.copy() if type(value) is np.ndarray else value


def _show_const(v: Any) -> str:
    if v is None:
        return "·"
    if isinstance(v, np.ndarray):
        return f"array{v.shape}"
    if isinstance(v, Primitive):
        return v.name
    text = repr(v)
    return text if len(text) <= 24 else text[:21] + "..."


def plain(x: Any) -> Any:
    """``x`` with the boxes of differentiating transformations stripped, down to a plain
    value or a staged one (which stands for a plain array): what a function of values
    with no derivative (a comparison, an index) takes."""
    while type(x) in box_types and not x._trace.plain_values:
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
