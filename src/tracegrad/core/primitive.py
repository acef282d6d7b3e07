"""Primitives, boxes and trace levels: the dispatch at the heart of tracegrad.

Every differentiable operation is a :class:`Primitive`: a NumPy implementation plus a
VJP rule and a JVP rule per argument, defined together. Calling a primitive on plain
values runs the implementation directly. When an argument is a :class:`Box` (a value
being traced by an active transformation), the call is handed to the trace of the
highest level among the arguments; that trace unwraps its own boxes, calls the
primitive again on what is left (which may still hold boxes of enclosing traces), and
wraps the result. Levels are what keep nested transformations apart (no perturbation
confusion): a trace only ever touches boxes it created.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Box",
    "Primitive",
    "Pruned",
    "NO_TRACE",
    "PYTHON_SCALARS",
    "SCALAR_ERRORS",
    "ShapeError",
    "Trace",
    "binary_function",
    "box_types",
    "dtype_of",
    "get_value",
    "is_boxed",
    "new_trace",
    "peek",
    "shape_of",
    "trace_below",
    "trace_stack",
    "unary_function",
    "unbox",
]

#: Box classes, checked with a set lookup on ``type(x)`` on every primitive call.
box_types: set[type] = set()


class _ThreadState(threading.local):
    """Per-thread trace stack: levels are only meaningful within one thread, and two
    threads differentiating at once must not push and pop each other's traces."""

    def __init__(self) -> None:
        self.stack: list[Trace] = []


_state = _ThreadState()


def trace_stack() -> list[Trace]:
    """The active traces of the calling thread, innermost last (do not modify)."""
    return _state.stack


#: the Python number types: what NumPy treats as scalars without a dtype of their own
PYTHON_SCALARS = frozenset((bool, int, float))


def shape_of(x: Any) -> tuple[int, ...]:
    """``numpy.shape(x)`` without NumPy's dispatch overhead for the common cases
    (Python scalars, arrays, NumPy scalars and boxes): it is called on every step of a
    backward sweep."""
    if type(x) in PYTHON_SCALARS:
        return ()
    s = getattr(x, "shape", None)
    return s if s is not None else np.shape(x)


#: what Python raises where NumPy answers nan or inf (with a warning) instead
SCALAR_ERRORS = (ValueError, OverflowError, ZeroDivisionError)

#: the keyword arguments of a call that has none (shared: never modified)
_NO_KWARGS: dict = {}


class Pruned:
    """Stands on a reverse-mode tape for an array the VJP rules do not read: its shape
    and dtype, for the driver's unbroadcasting, without its memory."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self) -> str:
        return f"Pruned(shape={self.shape}, dtype={self.dtype})"


class ShapeError(ValueError):
    """An operation got operands whose shapes do not fit together."""


class Trace:
    """One active transformation.

    A trace is entered through one method, :meth:`process`: a primitive called with some
    of this trace's boxes among its arguments (this trace being the highest level among
    them) unwraps them, evaluates the primitive on what is left, and boxes the result.

    Two hooks serve the trace directly above this one, which runs its derivative rules on
    this trace's values: :meth:`holds_plain` (may plain-NumPy code run on them?) and
    :meth:`rule` (the function to call for a rule). By default values are traced and a
    rule is called as it is; the staging trace of ``tg.jit`` overrides both, so that each
    rule call is recorded, its operations one by one or the rule whole as one equation
    (:mod:`tracegrad.core.staging`).
    """

    __slots__ = ("level",)
    #: False once the trace has ended (:meth:`end`)
    active = True
    #: the methods through which values enter the trace: an ended trace raises in each
    entry_points: tuple[str, ...] = ("process", "process1", "process2")

    def __init__(self, level: int) -> None:
        self.level = level

    def process(self, prim: Primitive, args: tuple | list, kwargs: dict) -> Any:
        raise NotImplementedError

    def process1(self, prim: Primitive, x: Box) -> Any:
        """``process(prim, (x,), {})``: how the public one-argument elementwise functions
        enter (a trace may take it faster: their ``impl`` handles every kind of value)."""
        return self.process(prim, (x,), _NO_KWARGS)

    def process2(self, prim: Primitive, x: Any, y: Any) -> Any:
        """``process(prim, (x, y), {})``: how the public two-argument elementwise
        functions enter."""
        return self.process(prim, (x, y), _NO_KWARGS)

    def holds_plain(self, values: Sequence[Any]) -> bool:
        """True if the boxes among ``values`` stand for plain arrays, so that code written
        for plain arrays (a fused rule's NumPy path, a residual forward) may run on them."""
        return False

    def rule(self, fn: Callable[..., Any], multiple: bool = False) -> Callable[..., Any]:
        """The function a trace above this one calls for ``fn``, a derivative rule or a
        primitive's plain forward, on values of this trace: ``fn`` itself. (The staging
        trace records each call; ``multiple``: ``fn`` returns a sequence, a fused rule
        recorded whole.)"""
        return fn

    def sweep(self, tape: list, seeds: Sequence[tuple[int, Any]], n_inputs: int) -> list | None:
        """The backward sweep of a reverse-mode trace whose rules run on this one, done
        by this trace its own way (the staging trace records it as one step); ``None``:
        the sweep runs as usual."""
        return None

    def vjp_step(self, tape: list, prim: Primitive, vals: list, parents: Sequence) -> Any:
        """A step of a reverse-mode trace whose rules run on this one, on ``vals`` (the
        primitive's arguments, some of them this trace's values), before the reverse-mode
        trace appends it to ``tape`` as ``(prim, vals, {}, out, parents)``: its output
        ``out``, computed by this trace its own way (the staging trace keeps a plain copy
        of the step for its sweep), or ``None``: the step is computed as usual."""
        return None

    def note_read(self, what: str) -> None:
        """A function read a traced value as a Python or NumPy value (only the staging
        trace, whose program would hold that call's answer, needs to know)."""

    def end(self) -> None:
        """End the trace: from now on a box of it that escaped (stored in a global, a
        closure) raises a clear error when used, instead of giving wrong results. The
        trace becomes an instance of its class's ended twin, whose entry points raise, so
        that no call into a live trace pays for a check."""
        cls = type(self)
        ended = _ENDED.get(cls)
        if ended is None:
            body = {"__slots__": (), "active": False}
            body.update((name, _escaped) for name in cls.entry_points)
            ended = _ENDED[cls] = type(f"Ended{cls.__name__}", (cls,), body)
        self.__class__ = ended


def _escaped(self: Trace, *args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(
        "a traced value escaped the transformation that created it (it was stored "
        "outside the function, e.g. in a global or a closure, and used after the "
        "transformation returned); return it from the function instead"
    )


#: trace class -> its ended twin (see Trace.end)
_ENDED: dict[type, type] = {}


class _NoTrace(Trace):
    """What lies below the first transformation: plain values, rules called as they are."""

    __slots__ = ()

    def holds_plain(self, values: Sequence[Any]) -> bool:
        # boxes among them belong to traces entered later (a batch of cotangents)
        return not any(type(v) in box_types for v in values)


#: the bottom of every trace stack (never on it): plain NumPy
NO_TRACE = _NoTrace(0)


def trace_below() -> Trace:
    """The innermost active trace of this thread (:data:`NO_TRACE` if none): what a
    trace created now sits on."""
    stack = _state.stack
    return stack[-1] if stack else NO_TRACE


class new_trace:  # noqa: N801 (used as a function: ``with new_trace(cls) as trace``)
    """Push a trace one level above the current top; pop it even if the body raises.

    Once popped the trace is inactive: a box of it that escaped (stored in a global, a
    closure) raises a clear error when used, instead of silently giving wrong results.
    (A class rather than a generator-based context manager: every transform enters one.)
    """

    __slots__ = ("trace",)

    def __init__(self, cls: type[Trace], *args: Any) -> None:
        stack = _state.stack
        self.trace = cls(stack[-1].level + 1 if stack else 1, *args)

    def __enter__(self) -> Trace:
        _state.stack.append(self.trace)
        return self.trace

    def __exit__(self, *exc: object) -> None:
        self.trace.end()
        _state.stack.pop()


class Box:
    """A value being traced by one transformation.

    Boxes behave like arrays (operators, ``shape``, ``dtype``, methods such as ``sum``);
    those are attached by :mod:`tracegrad.numpy`, so that the core does not depend on
    the operation set.
    """

    __slots__ = ("_value", "_trace")
    # Without the operation set, NumPy defers to the reflected operator for `ndarray op
    # box`; tracegrad.numpy replaces this with a method that routes NumPy's ufuncs to
    # traced operations (see tracegrad.numpy.box_methods).
    __array_ufunc__ = None
    __array_priority__ = 1000.0

    @property
    def value(self) -> Any:
        """The primal value carried by this box (may itself be a box of an outer trace)."""
        return self._value

    @property
    def shape(self) -> tuple[int, ...]:
        return shape_of(self._value)

    @property
    def ndim(self) -> int:
        return np.ndim(self._value)

    @property
    def size(self) -> int:
        return np.size(self._value)

    @property
    def dtype(self) -> np.dtype:
        return dtype_of(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        kind = type(self).__name__.replace("Box", "").lower() or "box"
        return f"Traced<{kind}, level {self._trace.level}>({peek(self)!r})"

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError(
            "in-place assignment into a traced array is not supported (x[...] = v would "
            "lose the derivative); build a new array instead, e.g. "
            "tnp.where(mask, v, x) or tnp.concatenate([...])"
        )

    def _no_conversion(self, what: str) -> None:
        raise TypeError(
            f"cannot convert a traced value to {what}: it would drop its derivative. "
            "Use tracegrad.numpy operations on it instead of plain numpy/math, or "
            "tg.stop_gradient(x) if the derivative should be cut here"
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        self._no_conversion("a NumPy array")

    def __float__(self) -> float:
        self._no_conversion("float")

    def __int__(self) -> int:
        self._no_conversion("int")

    def __index__(self) -> int:
        self._no_conversion("an index")

    def __complex__(self) -> complex:
        self._no_conversion("complex")


def dtype_of(x: Any) -> np.dtype:
    """The dtype of ``x``'s primal value (boxes stripped; Python floats are float64)."""
    while type(x) in box_types:
        x = x._value
    return np.result_type(x)


def is_boxed(x: Any) -> bool:
    """True if ``x`` is being traced by some transformation."""
    return type(x) in box_types


def unbox(x: Any, trace: Trace) -> Any:
    """``x`` with one level of boxing removed if ``trace`` boxed it."""
    return x._value if type(x) in box_types and x._trace is trace else x


def peek(x: Any) -> Any:
    """The innermost value of ``x``, for its shape, dtype or display only: unlike
    :func:`get_value`, not a read of the value a staging trace must know about."""
    while type(x) in box_types:
        x = x._value
    return x


def get_value(x: Any) -> Any:
    """Strip every level of boxing: the plain NumPy value.

    Under staging (``tg.jit``) this reads the value of one call, which a replay could
    not reproduce: the staging trace is told, and the function is not replayed."""
    while type(x) in box_types:
        t = x._trace
        t.note_read("it reads the value of a traced array (tracegrad.core.get_value)")
        x = x._value
    return x


Rule = Callable[..., Any]


class Primitive:
    """An operation with a NumPy implementation and its derivative rules.

    VJP rules have the signature ``rule(g, out, *args, **kwargs) -> cotangent`` for one
    argument, where ``g`` is the output cotangent and ``out`` the primal output; JVP rules
    ``rule(t, out, *args, **kwargs) -> output tangent`` for a tangent ``t`` of one
    argument. A primitive whose cotangents share work (a fused layer: the activation's
    derivative feeds all three of ``x``, ``W`` and ``b``) may instead have one joint VJP
    rule, ``rule(argnums, g, out, *args, **kwargs)``, returning the cotangents of the
    arguments in ``argnums`` in one call. Rules may return values with the broadcast
    (output) shape: the drivers reduce or broadcast them to the right shape in one place.
    Rules must be written in tracegrad.numpy operations, so they can be differentiated
    again.
    """

    __slots__ = (
        "name", "impl", "vjp_rules", "jvp_rules", "vjp_argnum", "jvp_argnum", "vjp_joint",
        "batch_rule", "saves", "fresh", "forward_residual", "array_impl", "float_impl",
    )  # fmt: skip

    def __init__(self, impl: Callable[..., Any], name: str | None = None) -> None:
        self.impl = impl
        self.name = name or getattr(impl, "__name__", "primitive")
        self.vjp_rules: tuple[Rule | None, ...] = ()
        self.jvp_rules: tuple[Rule | None, ...] = ()
        self.vjp_argnum: Rule | None = None
        self.jvp_argnum: Rule | None = None
        self.vjp_joint: Rule | None = None
        self.batch_rule: Rule | None = None
        self.saves = "all"
        self.fresh = False
        self.forward_residual: Callable[..., tuple[Any, Any]] | None = None
        #: the implementation when an argument is an ndarray (the NumPy function itself,
        #: without ``impl``'s cases for Python numbers), if there is a simpler one
        self.array_impl: Callable[..., Any] | None = None
        #: the function on Python floats of an elementwise primitive (``math.sin``,
        #: Python's ``*``), for reverse mode's fast paths; where it raises, NumPy answers
        self.float_impl: Callable[..., Any] | None = None

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run on plain values, or hand the call to the trace of the highest level among
        the arguments' boxes (which calls the primitive again on what it unwraps)."""
        top = None
        for a in args:
            if type(a) in box_types:
                t = a._trace
                if top is None or t.level > top.level:
                    top = t
        if top is None:
            return self.run(*args, **kwargs)
        return top.process(self, args, kwargs)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """The implementation on plain values: every trace evaluates a primitive here.
        A NumPy shape error comes back as a :class:`ShapeError` naming this operation and
        the operand shapes."""
        try:
            return self.impl(*args, **kwargs) if kwargs else self.impl(*args)
        except ValueError as e:
            _raise_with_shapes(self.name, args, e)

    def defvjp(self, *rules: Rule | None) -> Primitive:
        """Set one VJP rule per positional argument (``None``: not differentiable)."""
        self.vjp_rules = rules
        return self

    def defjvp(self, *rules: Rule | None) -> Primitive:
        """Set one JVP rule per positional argument (``None``: not differentiable)."""
        self.jvp_rules = rules
        return self

    def defvjp_argnum(self, rule: Rule) -> Primitive:
        """One VJP rule for every argument: ``rule(argnum, g, out, *args, **kwargs)``."""
        self.vjp_argnum = rule
        return self

    def defjvp_argnum(self, rule: Rule) -> Primitive:
        """One JVP rule for every argument: ``rule(argnum, t, out, *args, **kwargs)``."""
        self.jvp_argnum = rule
        return self

    def defvjp_joint(self, rule: Rule) -> Primitive:
        """One VJP rule for all arguments at once: ``rule(argnums, g, out, *args,
        **kwargs)`` returns a sequence with the cotangents of the arguments numbered in
        ``argnums`` (the traced ones, in increasing order), so that work they share is
        done once."""
        self.vjp_joint = rule
        return self

    def defbatch(self, rule: Rule) -> Primitive:
        """How to run on a batch: ``rule(size, batched, *args, **kwargs)`` returns the
        result with the batch on axis 0, given arguments of which those flagged in
        ``batched`` carry it on axis 0 (see :mod:`tracegrad.core.batching`)."""
        self.batch_rule = rule
        return self

    def saving(self, what: str) -> Primitive:
        """Declare what the VJP rules read, so reverse mode can let the rest go: "all"
        (the default), "args" (the traced arguments, not the output), "out" (the output,
        not the traced arguments) or "shapes" (neither: only their shapes). A value the
        rules do not read is kept on the tape as a :class:`Pruned` shape record, so large
        intermediates are freed during the forward pass, as in hand-written backprop."""
        if what not in ("all", "args", "out", "shapes"):
            raise ValueError(f"saving: unknown residual kind {what!r}")
        self.saves = what
        return self

    def defresidual(self, forward: Callable[..., tuple[Any, Any]]) -> Primitive:
        """A forward pass that also returns what the VJP would otherwise recompute:
        ``forward(*args, **kwargs) -> (out, residual)`` on plain values. Reverse mode then
        calls the VJP rules with ``residual=...`` (elsewhere they get none and recompute),
        as hand-written backprop keeps the softmax of its forward pass."""
        self.forward_residual = forward
        return self

    def fresh_cotangents(self) -> Primitive:
        """Declare that on plain arrays the VJP rules return new arrays that nothing else
        holds, so the backward sweep may add further contributions into them in place
        (one buffer less for every value used twice, e.g. a weight that feeds both its
        layer and the L2 penalty)."""
        self.fresh = True
        return self

    def def_linear(self) -> Primitive:
        """The primitive is linear in argument 0: its JVP is itself applied to the tangent."""
        self.jvp_rules = (lambda t, out, x, *args, **kw: self(t, *args, **kw),)
        return self

    def vjp(self, argnum: int, g: Any, out: Any, args: tuple | list, kwargs: dict) -> Any:
        if self.vjp_joint is not None:
            return self.vjp_joint((argnum,), g, out, *args, **kwargs)[0]
        if self.vjp_argnum is not None:
            return self.vjp_argnum(argnum, g, out, *args, **kwargs)
        rule = self.vjp_rules[argnum] if argnum < len(self.vjp_rules) else None
        if rule is None:
            raise NotImplementedError(
                f"no VJP rule for primitive `{self.name}` (argument {argnum}): reverse mode "
                "cannot differentiate through it; define one with tg.defvjp"
            )
        return rule(g, out, *args, **kwargs)

    def jvp(self, argnum: int, t: Any, out: Any, args: tuple | list, kwargs: dict) -> Any:
        if self.jvp_argnum is not None:
            return self.jvp_argnum(argnum, t, out, *args, **kwargs)
        rule = self.jvp_rules[argnum] if argnum < len(self.jvp_rules) else None
        if rule is None:
            raise NotImplementedError(
                f"no JVP rule for primitive `{self.name}` (argument {argnum}): forward mode "
                "cannot differentiate through it; define one with tg.defjvp"
            )
        return rule(t, out, *args, **kwargs)

    @property
    def has_vjp(self) -> bool:
        return (
            self.vjp_joint is not None
            or self.vjp_argnum is not None
            or any(r is not None for r in self.vjp_rules)
        )

    @property
    def has_jvp(self) -> bool:
        return self.jvp_argnum is not None or any(r is not None for r in self.jvp_rules)


_ndarray = np.ndarray  # one global lookup where it is tested on every call


def unary_function(
    prim: Primitive,
    fast: Callable[[Any], Any],
    on_float: Callable[[Any], Any] | None = None,
    arraylike: Callable[[Any], Any] | None = None,
) -> Callable[[Any], Any]:
    """The public function of a one-argument elementwise primitive: what ``tnp.sin`` is.

    A closure, not the :class:`Primitive` itself, because it is the hottest path in the
    library, and it becomes the primitive's ``impl``: an array goes straight to ``fast``
    (the NumPy function); a Python float to ``on_float`` (the ``math`` module's: a ufunc
    on a scalar costs ten times as much, and a chain of scalar operations is nothing but
    such calls; where it raises, NumPy answers with its nan or inf); a traced value to
    its trace (:meth:`Trace.process1`); a list or tuple first to ``arraylike`` (the
    operation set's conversion, which stacks traced elements: ``tnp.exp([a, b])``).
    ``fn.primitive`` is the primitive.
    """
    prim.array_impl = fast
    prim.float_impl = on_float

    def fn(x: Any) -> Any:
        t = type(x)
        if t is _ndarray:  # first: untraced NumPy code should cost what NumPy costs
            return fast(x)
        if t in box_types:
            return x._trace.process1(prim, x)
        if t is float and on_float is not None:
            try:
                return on_float(x)
            except SCALAR_ERRORS:
                pass
        elif (t is list or t is tuple) and arraylike is not None:
            return fn(arraylike(x))
        return fast(x)

    prim.impl = fn
    return _named(fn, prim)


def binary_function(
    prim: Primitive,
    fast: Callable[[Any, Any], Any],
    on_floats: Callable[[Any, Any], Any] | None = None,
    arraylike: Callable[[Any], Any] | None = None,
) -> Callable[[Any, Any], Any]:
    """The public function of a two-argument elementwise primitive (see
    :func:`unary_function`); ``on_floats`` (Python's arithmetic) is used when both
    arguments are Python numbers and one is a float, so the result is the float NumPy's
    would be. A traced value goes to the trace of the higher level among the two."""
    prim.array_impl = fast
    prim.float_impl = on_floats

    def fn(x: Any, y: Any) -> Any:
        tx, ty = type(x), type(y)
        if tx in box_types or ty in box_types:
            top = x._trace if tx in box_types else y._trace
            if ty in box_types and y._trace.level > top.level:
                top = y._trace
            return top.process2(prim, x, y)
        if on_floats is not None and (
            (tx is float and ty in PYTHON_SCALARS) or (ty is float and tx in PYTHON_SCALARS)
        ):
            try:
                return on_floats(x, y)
            except SCALAR_ERRORS:
                pass
        if arraylike is not None and (tx is list or tx is tuple or ty is list or ty is tuple):
            return fn(arraylike(x), arraylike(y))
        try:
            return fast(x, y)
        except ValueError as e:
            _raise_with_shapes(prim.name, (x, y), e)

    prim.impl = fn
    return _named(fn, prim)


def _named(fn: Callable[..., Any], prim: Primitive) -> Callable[..., Any]:
    fn.__name__ = fn.__qualname__ = prim.name
    fn.__doc__ = f"``numpy.{prim.name}``, differentiable (primitive ``{prim.name}``)."
    fn.primitive = prim  # type: ignore[attr-defined]
    return fn


_SHAPE_WORDS = ("shape", "broadcast", "dimension", "mismatch", "size")


def _raise_with_shapes(name: str, args: tuple | list, err: ValueError) -> None:
    """Raise ``err``, as a :class:`ShapeError` naming the operation and its operand shapes
    if it is a NumPy shape error."""
    msg = str(err)
    if isinstance(err, (ShapeError, np.linalg.LinAlgError)) or not any(
        w in msg for w in _SHAPE_WORDS
    ):
        raise err
    shapes = ", ".join(str(np.shape(a)) for a in args if _is_arraylike(a))
    raise ShapeError(f"{name}: operands with shapes {shapes} do not fit together ({msg})") from err


def _is_arraylike(a: Any) -> bool:
    return isinstance(a, (np.ndarray, np.generic, float, int)) or type(a) in box_types
