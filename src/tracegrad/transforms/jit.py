"""``jit``: run a function once with tracing, compile what it computed, then replay it.

The first call with given argument structure, shapes and dtypes runs the function on
staged values (:mod:`tracegrad.core.staging`) and keeps the :class:`Program` of NumPy
calls it made. A derivative taken inside it (``jit(value_and_grad(loss))``) has its
forward pass recorded call by call (its steps on Python floats as runs of steps) and its
backward sweep as one step, computed the eager way, so that a first call costs a small
multiple of an eager one (staging every rule's operations would cost several times
more). The first replay expands each sweep into the NumPy calls of its rules, and each
run into its steps (by staging the program on that call's arguments), and compiles the
result (:mod:`tracegrad.compiler`: shared calls, identities, dead code, direct NumPy
calls, buffers reused; Python floats for a scalar program); every later call runs the
compiled function on the new arrays, without boxes, dispatch or a tape (JAX's ``jit``;
the work is still NumPy's). Python's cyclic garbage collector is paused while tracing
and compiling, which make many objects that all live to the end, and those then join
its oldest generation.

What a replay cannot reproduce, ``jit`` does not replay:

* a function that reads a traced value (``if loss > 0``, ``float(x)``, a boolean mask,
  plain NumPy on a traced value) or draws random numbers from a generator it was not
  handed a seed for (Dropout in training mode; see :func:`no_replay`) runs as it is,
  every call, with a :class:`JitFallbackWarning` saying why; make arguments that steer
  control flow static (``static_argnums``) or use ``tnp.where``;
* a call on values traced by an enclosing transformation (``grad(jit(f))``) runs ``f``
  as it is, under that transformation.

Like JAX's ``jit``, values the function closes over and Python side effects belong to
the first call: pass what changes as arguments. Arrays in a pytree's static data (an
``nn`` module's buffers) are part of the cache key by identity.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple

import numpy as np

from tracegrad.compiler import Executable, compile_program
from tracegrad.core import tree
from tracegrad.core.backend import module_of
from tracegrad.core.primitive import box_types, new_trace, trace_stack
from tracegrad.core.staging import Program, StagingTrace, needs_restage, restage

__all__ = ["JitFallbackWarning", "jit", "no_replay"]

#: leaf types that are traced (the others are static: part of the cache key)
_TRACED_SCALARS = (float, int, bool, complex)

#: distinct argument signatures kept per function (oldest dropped first)
CACHE_SIZE = 64

_EAGER = object()  # cache entry: this signature runs the function as it is


class _Recorded(NamedTuple):
    """A cache entry traced but not yet compiled: the program and the output builder.
    The first call of a signature pays for tracing only; its first replay expands the
    program's backward sweeps and compiles."""

    program: Program
    build: Callable[[list], Any]


class _Compiled(NamedTuple):
    """A cache entry that replays: the generated function itself and the output
    builder (two calls per replay), and what the compiler made of the program."""

    function: Callable[..., list]
    build: Callable[[list], Any]
    executable: Executable


class JitFallbackWarning(UserWarning):
    """A jitted function read a traced value, so it runs without replay."""


def no_replay(reason: str) -> None:
    """Tell ``jit``, if it is tracing the current call, that the function must not be
    replayed: its result depends on something a replay would repeat from the first call
    (random draws, outside state). ``reason`` appears in the warning. Without an active
    ``jit`` it does nothing."""
    for t in trace_stack():
        t.note_read(reason)


class _Identity:
    """A static array compared by identity (and kept alive, so its id stays its own)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return type(other) is _Identity and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


@contextlib.contextmanager
def _collector_paused() -> Any:
    """Python's cyclic garbage collector off for a trace or a compilation: they make a
    few objects per operation that all live until the program is built, which each
    full collection would walk again and can free none of (half the time of a long
    trace). The objects made meanwhile then join the oldest generation directly
    (``gc.freeze`` then ``gc.unfreeze``, unless objects were frozen before): a recorded
    program lives until its first replay, and the young collection that would otherwise
    walk it as soon as the collector is back on costs a long trace another third. The
    caller's young objects go with them, so cycles among them wait for the next full
    collection (once for each signature traced or compiled)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _leaf_key(x: Any) -> Hashable:
    t = type(x)
    if t is np.ndarray:
        return (x.shape, x.dtype)
    if t in _TRACED_SCALARS or isinstance(x, np.generic):
        return t
    if module_of(x) is not None:  # a device array (CuPy): its own programs
        return (t, x.shape, x.dtype)
    if isinstance(x, (np.random.Generator, np.random.RandomState)):
        raise TypeError(
            "jit: a random generator was passed to a jitted function; what it draws there "
            "would be drawn once, when the function is traced, and replayed on every call. "
            "Draw outside (e.g. the dropout mask or the batch indices) and pass the arrays"
        )
    try:
        hash(x)
    except TypeError:
        return _Identity(x)
    return ("static", x)


def _is_traced(x: Any) -> bool:
    t = type(x)
    return (
        t is np.ndarray or t in _TRACED_SCALARS or isinstance(x, np.generic)
        or module_of(x) is not None
    )  # fmt: skip


def _aux_arrays(td: tree.TreeDef) -> tuple:
    """Arrays held in the static data of ``td``'s nodes (an nn module's ``buffers``)."""
    found: list = []
    stack = [td]
    while stack:
        node = stack.pop()
        buffers = getattr(node.aux, "buffers", None)
        if buffers:
            found.extend(
                _Identity(b) for b in buffers
                if isinstance(b, np.ndarray) or module_of(b) is not None
            )  # fmt: skip
        stack.extend(c for c in node.children if c.children or not c.num_leaves)  # not leaves
    return tuple(found)


def _quick_key(args: tuple) -> tuple[tuple, list] | None:
    """For positional arguments that are arrays, Python floats, or lists and tuples of
    arrays (a step's parameters), a key of their kinds, shapes and dtypes, and the
    program's inputs, found without flattening a tree: a replay's whole entry cost.
    ``None`` for anything else (the general :meth:`Jitted._signature` then decides)."""
    key: list = []
    inputs: list = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            key += (a.shape, a.dtype)
            inputs.append(a)
        elif t is list or t is tuple:
            key += (t, len(a))
            for e in a:
                if type(e) is not np.ndarray:
                    return None
                key += (e.shape, e.dtype)
                inputs.append(e)
        elif t is float:
            key.append(float)
            inputs.append(a)
        else:
            return None
    return tuple(key), inputs


class CacheKey(NamedTuple):
    """What selects a program: the structure of the traced arguments, their leaves'
    shapes and dtypes (or static values), the static arguments, the arrays in the
    structure's static data (by identity), and whether keywords were traced."""

    treedef: tree.TreeDef
    leaves: tuple
    static: tuple
    buffers: tuple
    has_kwargs: bool


class Signature(NamedTuple):
    """A call as ``jit`` sees it: its cache key, the leaves of its traced part and their
    structure, its static arguments, and the leaves the program takes as inputs."""

    key: CacheKey
    leaves: list
    treedef: tree.TreeDef
    static: tuple
    inputs: list


class Jitted:
    """A function compiled by :func:`jit` (call it like the function).

    ``program(*args, **kwargs)`` returns the :class:`Program` a call with these arguments
    replays (tracing it if needed), or ``None`` if such calls run eagerly;
    ``clear_cache()`` forgets every program.
    """

    def __init__(
        self,
        fun: Callable[..., Any],
        static_argnums: Sequence[int],
        static_argnames: Sequence[str],
        warn: bool = True,
        optimize: bool = True,
    ) -> None:
        self.fun = fun
        self.warn = warn
        self.optimize = optimize
        self.static_argnums = tuple(static_argnums)
        self.static_argnames = frozenset(static_argnames)
        self._cache: dict[Hashable, Any] = {}
        #: replaying entries again, by the quick key of arguments that have one
        self._quick: dict[tuple, _Compiled] = {}
        functools.update_wrapper(self, fun)

    def __repr__(self) -> str:
        return f"jit({getattr(self.fun, '__name__', self.fun)!r})"

    def clear_cache(self) -> None:
        self._cache.clear()
        self._quick.clear()

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        # a jitted method: the instance is its first argument (static unless a pytree)
        return self if obj is None else functools.partial(self, obj)

    def _split(self, args: tuple, kwargs: dict) -> tuple[Any, tuple, bool]:
        """The traced part of the arguments, the static part (a hashable key) and whether
        the traced part has keywords."""
        n = len(args)
        nums = {a % n for a in self.static_argnums if -n <= a < n}
        static = []
        if nums:
            static = [(i, args[i]) for i in sorted(nums)]
            args = tuple(None if i in nums else a for i, a in enumerate(args))
        if kwargs and self.static_argnames:
            static += [(k, kwargs[k]) for k in sorted(self.static_argnames & kwargs.keys())]
            kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        for where, v in static:
            try:
                hash(v)
            except TypeError:
                name = f"argument {where}" if type(where) is int else f"argument {where!r}"
                raise TypeError(
                    f"jit({getattr(self.fun, '__name__', 'f')}): static {name} must be "
                    f"hashable (it is part of the cache key), got {type(v).__name__}"
                ) from None
        # without keywords only the positional arguments (one tree node less to flatten)
        return ((args, kwargs) if kwargs else args), tuple(static), bool(kwargs)

    def _join(self, dynamic: tuple, static: tuple, has_kwargs: bool) -> tuple[tuple, dict]:
        args, kwargs = dynamic if has_kwargs else (dynamic, {})
        args = list(args)
        kwargs = dict(kwargs)
        for where, v in static:
            if type(where) is int:
                args[where] = v
            else:
                kwargs[where] = v
        return tuple(args), kwargs

    def _signature(self, args: tuple, kwargs: dict) -> Signature | None:
        """The :class:`Signature` of a call; ``None`` when a leaf is traced by an
        enclosing transformation."""
        dynamic, static, has_kwargs = self._split(args, kwargs)
        leaves, td = tree.flatten(dynamic)
        keys, inputs = [], []
        for x in leaves:
            t = type(x)
            if t is np.ndarray:
                keys.append((x.shape, x.dtype))
                inputs.append(x)
            elif t in box_types:
                return None
            else:
                keys.append(_leaf_key(x))
                if _is_traced(x):
                    inputs.append(x)
        key = CacheKey(td, tuple(keys), static, _aux_arrays(td), has_kwargs)
        return Signature(key, leaves, td, static, inputs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        quick = None
        if not kwargs and not self.static_argnums:
            quick = _quick_key(args)
            if quick is not None:
                entry = self._quick.get(quick[0])
                if entry is not None:
                    return entry.build(entry.function(*quick[1]))
        sig = self._signature(args, kwargs)
        if sig is None:  # under an enclosing transformation: run as is
            return self.fun(*args, **kwargs)
        entry = self._cache.get(sig.key)
        if entry is None:
            return self._trace(sig)
        if entry is _EAGER:
            return self.fun(*args, **kwargs)
        if type(entry) is _Recorded:  # the first replay: it compiles
            entry, outputs = self._compile(sig.key, entry, sig.inputs)
        else:
            outputs = entry.function(*sig.inputs)
        if quick is not None:
            self._quick[quick[0]] = entry
        return entry.build(outputs)

    def _compile(self, key: CacheKey, entry: _Recorded, inputs: list) -> tuple[_Compiled, list]:
        """Compile a recorded program, and run it on ``inputs``. The backward sweeps
        and runs of float steps the first call recorded whole are expanded first, by
        staging the program on ``inputs`` (:func:`~tracegrad.core.staging.restage`),
        which computes the outputs too."""
        program, outputs = entry.program, None
        with _collector_paused():
            if needs_restage(program):
                program, outputs = restage(program, inputs)
            executable = compile_program(program, self.optimize)
        compiled = self._cache[key] = _Compiled(executable.function, entry.build, executable)
        if outputs is None:
            outputs = executable.function(*inputs)
        return compiled, outputs

    def _trace(self, sig: Signature) -> Any:
        with _collector_paused(), new_trace(StagingTrace) as stage:
            staged = [stage.new_input(x) if _is_traced(x) else x for x in sig.leaves]
            dynamic = tree.unflatten(sig.treedef, staged)
            args, kwargs = self._join(dynamic, sig.static, sig.key.has_kwargs)
            out_leaves, out_tree = tree.flatten(self.fun(*args, **kwargs))
        if len(self._cache) >= CACHE_SIZE:
            del self._cache[next(iter(self._cache))]
            self._quick.clear()
        if stage.reads and self.warn:
            warnings.warn(
                f"jit({getattr(self.fun, '__name__', 'f')}): the function cannot be "
                f"replayed: {stage.reads[0]}. It runs as it is on every call with these "
                "argument shapes. Mark an argument that steers Python control flow as "
                "static (static_argnums), or compute with tracegrad.numpy (e.g. tnp.where "
                "instead of if)",
                JitFallbackWarning,
                stacklevel=3,
            )
        if stage.reads:
            self._cache[sig.key] = _EAGER
        else:
            self._cache[sig.key] = _Recorded(stage.finish(out_leaves), tree.builder(out_tree))
        values = stage.values_of(out_leaves)
        stage.forget_values()  # the program keeps no value of this call
        return tree.unflatten(out_tree, values)

    def compiled(self, *args: Any, **kwargs: Any) -> Executable | None:
        """What a call with these arguments replays (tracing it if needed): the
        :class:`~tracegrad.compiler.Executable`, with the optimised program, the recorded
        one, the generated source and what each pass did; ``None`` if such calls run
        eagerly."""
        sig = self._signature(args, kwargs)
        if sig is None:
            return None
        if sig.key not in self._cache:
            self._trace(sig)
        entry = self._cache[sig.key]
        if entry is _EAGER:
            return None
        if type(entry) is _Recorded:
            entry = self._compile(sig.key, entry, sig.inputs)[0]
        return entry.executable

    def program(self, *args: Any, recorded: bool = False, **kwargs: Any) -> Program | None:
        """The program a call with these arguments replays, after the compiler's passes
        (``recorded=True``: as recorded, before them, each backward sweep expanded into
        its rules' calls); ``None`` if such calls run eagerly."""
        executable = self.compiled(*args, **kwargs)
        if executable is None:
            return None
        return executable.recorded if recorded else executable.program


def jit(
    fun: Callable[..., Any] | None = None,
    *,
    static_argnums: int | Sequence[int] = (),
    static_argnames: str | Sequence[str] = (),
    warn: bool = True,
    optimize: bool = True,
) -> Any:
    """Compile ``fun`` into a replayed program of NumPy calls (see the module docstring).

    The first call with given argument structure, shapes and dtypes runs ``fun`` and
    records the NumPy calls it makes; later calls with the same structure replay them on
    the new arrays. Array, NumPy-scalar and Python-number leaves of the arguments
    (pytrees) are traced; a function that reads a traced value (``if x > 0``,
    ``float(x)``) runs as it is, with a :class:`JitFallbackWarning` saying why.

    Args:
        fun: the function to compile; omitted, ``jit(...)`` returns a decorator
            (``@jit(static_argnums=1)``).
        static_argnums: positional arguments that are not traced: hashable values that
            steer Python control flow (a flag, a size); each value gets its own program.
        static_argnames: the same, by keyword name.
        warn: ``False``: run a function that cannot be replayed as it is, without a
            warning (for a caller that compiles what it is given, like ``tg.fit``).
        optimize: ``False``: replay the program as recorded, without the compiler's
            passes (:mod:`tracegrad.compiler`; for comparing, and for finding a bug).

    Returns:
        A function with ``fun``'s signature that returns the same values as ``fun``
        (``.program(*args)`` shows the optimised equations, ``.program(*args,
        recorded=True)`` those recorded, ``.compiled(*args)`` the generated source and
        what each compiler pass removed).

    Example:
        >>> import tracegrad as tg, tracegrad.numpy as tnp
        >>> step = tg.jit(tg.value_and_grad(lambda w, x: tnp.sum((x * w) ** 2)))
        >>> value, g = step(2.0, tnp.array([1.0, 3.0]))  # traced and recorded
        >>> value, g = step(1.0, tnp.array([1.0, 3.0]))  # replayed
        >>> float(value), float(g)
        (10.0, 20.0)
    """
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)

    def wrap(f: Callable[..., Any]) -> Jitted:
        if not callable(f):
            raise TypeError(f"jit: expected a function, got {type(f).__name__}")
        return Jitted(f, nums, names, warn, optimize)

    return wrap if fun is None else wrap(fun)
