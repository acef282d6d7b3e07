"""``Module``: a model is a pytree of its parameters, plus static configuration.

Design (Equinox's idea, without a metaclass):

* A module's attributes are sorted once, when ``__init__`` returns, into **parameters**
  (float arrays: the pytree's leaves, what ``grad`` differentiates and optimisers
  update), **sub-modules** (a module, or a list/tuple of modules: pytree children),
  **buffers** (arrays named in the class attribute ``_buffer_names``, e.g. BatchNorm's
  running statistics: carried with the model but *not* leaves, so gradients, optimiser
  states and gradient norms never see them) and **static configuration** (everything
  else: sizes, activation names, ``eps``...). After that a module is immutable; make
  changed copies with :meth:`Module.replace` or :meth:`Module.with_state`.
* ``tg.grad(loss)(model, X, Y)`` therefore returns a model-shaped gradient, and
  ``tg.tree.map(lambda p, g: p - lr * g, model, grads)`` is a gradient step.
* The forward pass is pure. ``model.apply(x, train=..., rng=...)`` returns
  ``(y, state)``: ``state`` maps buffer paths (``"layers.1.running_mean"``) to their new
  values (computed from ``stop_gradient``-ed batch statistics); ``model.with_state(state)``
  gives the model with those buffers. ``model(x)`` is ``apply`` in evaluation mode,
  returning ``y`` only. Inside ``forward`` a module calls its children as ``child(x)``;
  the ``train`` flag and the random generator of the enclosing ``apply`` reach them
  through a context variable, so user-defined modules compose without plumbing.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np

from tracegrad.core.backend import as_array
from tracegrad.core.primitive import ShapeError
from tracegrad.nn.init import RNGLike, as_generator
from tracegrad.transforms.jit import no_replay

__all__ = ["Module", "ModuleStructure", "ShapeError", "is_training"]

# Classes by qualified name, for loading saved models without pickle.
MODULE_REGISTRY: dict[str, type[Module]] = {}


class _Context:
    """The state of one ``apply`` call: training flag, random generator (``seeded``: made
    from a seed for this call, so its draws are the same on every call), buffer updates."""

    __slots__ = ("train", "rng", "seeded", "updates")

    def __init__(self, train: bool, rng: RNGLike) -> None:
        self.train = bool(train)
        self.seeded = rng is not None and not isinstance(rng, np.random.Generator)
        self.rng = None if rng is None else as_generator(rng)
        self.updates: dict[int, dict[str, Any]] = {}

    def generator(self, who: str) -> np.random.Generator:
        if self.rng is None:
            raise ValueError(
                f"{who} in training mode needs random numbers: pass rng=<seed or "
                "numpy.random.Generator> to apply(...) (tg.fit passes its own)"
            )
        if not self.seeded:  # a replay would repeat this call's draws: jit runs it as it is
            no_replay(f"it draws random numbers ({who} in training mode)")
        return self.rng


_CTX: contextvars.ContextVar[_Context | None] = contextvars.ContextVar(
    "tracegrad_nn_context", default=None
)
_EVAL = _Context(False, None)


def current_context() -> _Context:
    """The context of the enclosing ``apply`` (evaluation mode when there is none)."""
    ctx = _CTX.get()
    return _EVAL if ctx is None else ctx


def is_training() -> bool:
    """True inside ``apply(..., train=True)``: for user-defined modules."""
    return current_context().train


def _is_float_array(v: Any) -> bool:
    # duck-typed so that traced values (which have shape and dtype) also count
    if not (hasattr(v, "shape") and hasattr(v, "dtype")):
        return False
    try:
        return bool(np.issubdtype(v.dtype, np.floating))
    except TypeError:
        return False


def _is_module_seq(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(m, Module) for m in v)


def _static_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    try:
        return bool(a == b)
    except Exception:
        return a is b


#: attributes a module keeps about itself: its field classification and pytree data
_BOOKKEEPING = frozenset(("_fields", "_aux", "_tree_flat"))


class _Fields:
    """Which attribute names are parameters, buffers, sub-modules and static data."""

    __slots__ = ("params", "buffers", "modules", "static", "children")

    def __init__(self, params: tuple, buffers: tuple, modules: tuple, static: tuple) -> None:
        self.params, self.buffers, self.modules, self.static = params, buffers, modules, static
        self.children = params + modules  # the pytree children, in order

    def key(self) -> tuple:
        return (self.params, self.buffers, self.modules, self.static)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Fields) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())


class ModuleStructure(NamedTuple):
    """What a module holds, by kind, each a dict by attribute name in the module's own
    order: ``params`` (float arrays, the pytree's leaves), ``buffers`` (non-trainable
    arrays), ``modules`` (a sub-module, or a tuple of them), ``static`` (configuration).
    :meth:`Module.structure` gives it and :meth:`Module.rebuild` takes it back (what
    :func:`tracegrad.nn.save` writes and :func:`tracegrad.nn.load` reads)."""

    params: dict[str, Any]
    buffers: dict[str, Any]
    modules: dict[str, Any]
    static: dict[str, Any]


class _Aux:
    """A module's pytree structure data. Buffers ride along here but compare by shape
    only, so a model, its gradient and its optimiser state keep one structure while the
    running statistics change."""

    __slots__ = ("fields", "static", "buffers", "template")

    def __init__(self, fields: _Fields, static: tuple, buffers: tuple) -> None:
        self.fields, self.static, self.buffers = fields, static, buffers
        # the __dict__ of a rebuilt module, less its children (one update instead of four)
        self.template = dict(zip(fields.static, static))
        self.template.update(zip(fields.buffers, buffers))
        self.template["_fields"] = fields
        self.template["_aux"] = self

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _Aux)
            and self.fields == other.fields
            and len(self.static) == len(other.static)
            and all(_static_equal(a, b) for a, b in zip(self.static, other.static))
            and [np.shape(b) for b in self.buffers] == [np.shape(b) for b in other.buffers]
        )

    def __hash__(self) -> int:
        return hash(self.fields)


def _join(prefix: str, name: str) -> str:
    """The dotted path of ``name`` inside the module at ``prefix`` (``""``: the root)."""
    return f"{prefix}.{name}" if prefix else name


def _count(v: Any) -> int:
    return int(np.prod(v.shape)) if hasattr(v, "shape") else 1


class Module:
    """Base class of layers and models (see the module docstring for the design).

    Subclasses set attributes in ``__init__`` and implement ``forward(x) -> y`` on a
    batch ``x`` of shape ``(N, features)``. Class attributes:

    * ``_buffer_names``: attributes that are non-trainable state (not pytree leaves,
      never trained, but saved with the model). List constant arrays here too: any
      other float array attribute is a trainable parameter.
    * ``_weight_names``: parameters that weight penalties (``l2_penalty``,
      ``l1_penalty``) apply to; ``None`` (default) means every parameter with
      ``ndim >= 2``, so biases and BatchNorm's γ, β are never penalised.

    A layer whose array shapes follow from its configuration overrides
    :meth:`_array_shapes`, so that :func:`tracegrad.nn.load` rejects a file whose arrays do
    not fit the configuration stored with them.
    """

    _buffer_names: ClassVar[tuple[str, ...]] = ()
    _weight_names: ClassVar[tuple[str, ...] | None] = None
    #: modules never change after construction (sequences of sub-modules become
    #: tuples): tree.flatten keeps a model's leaves and structure on it
    __tree_immutable__: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        MODULE_REGISTRY[f"{cls.__module__}.{cls.__qualname__}"] = cls
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def __init__(self: Module, *args: Any, **kw: Any) -> None:
            init(self, *args, **kw)
            if type(self) is cls:  # the outermost __init__ has finished
                self._freeze()

        cls.__init__ = __init__  # type: ignore[method-assign]

    # --- structure --------------------------------------------------------------

    def _freeze(self) -> _Fields:
        fields = self.__dict__.get("_fields")
        if fields is not None:
            return fields
        params, buffers, modules, static = [], [], [], []
        for name, value in self.__dict__.items():
            if name in type(self)._buffer_names:
                buffers.append(name)
            elif isinstance(value, Module) or _is_module_seq(value):
                modules.append(name)
                if type(value) is list:  # immutable, like the module
                    self.__dict__[name] = tuple(value)
            elif _is_float_array(value):
                params.append(name)
            else:
                static.append(name)
        fields = _Fields(tuple(params), tuple(buffers), tuple(modules), tuple(static))
        self.__dict__["_fields"] = fields
        return fields

    def structure(self) -> ModuleStructure:
        """The module's attributes by kind (see :class:`ModuleStructure`)."""
        f = self._freeze()
        d = self.__dict__
        return ModuleStructure(*({n: d[n] for n in names} for names in f.key()))

    @classmethod
    def rebuild(cls, structure: ModuleStructure) -> Module:
        """The module holding ``structure``'s attributes, made without calling
        ``__init__`` (the inverse of :meth:`structure`; the caller checks the arrays, e.g.
        against :meth:`_array_shapes`)."""
        obj = object.__new__(cls)
        d = obj.__dict__
        for part in structure:
            d.update(part)
        d["_fields"] = _Fields(*(tuple(part) for part in structure))
        return obj

    def __getstate__(self) -> dict[str, Any]:
        # the kept flattening holds functions (pickle cannot take them) and is rebuilt
        return {k: v for k, v in self.__dict__.items() if k != "_tree_flat"}

    def __setattr__(self, name: str, value: Any) -> None:
        if "_fields" in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__} is immutable (it is a pytree of its parameters); "
                f"make a changed copy with .replace({name}=...)"
            )
        object.__setattr__(self, name, value)

    def tree_flatten(self) -> tuple[list[Any], _Aux]:
        d = self.__dict__
        aux = d.get("_aux")
        if aux is None:  # built once per instance: the static data and buffers never change
            f = self._freeze()
            aux = _Aux(f, tuple(d[n] for n in f.static), tuple(d[n] for n in f.buffers))
            d["_aux"] = aux
        return [d[n] for n in aux.fields.children], aux

    @classmethod
    def tree_unflatten(cls, aux: _Aux, children: list[Any]) -> Module:
        obj = object.__new__(cls)
        d = obj.__dict__
        d.update(aux.template)
        d.update(zip(aux.fields.children, children))
        return obj

    def replace(self, **changes: Any) -> Module:
        """A copy with some attributes replaced (``dataclasses.replace`` for modules)."""
        unknown = set(changes) - set(self.__dict__) - _BOOKKEEPING
        if unknown:
            raise AttributeError(f"{type(self).__name__} has no attributes {sorted(unknown)}")
        obj = object.__new__(type(self))
        obj.__dict__.update({k: v for k, v in self.__dict__.items() if k not in _BOOKKEEPING})
        obj.__dict__.update(changes)
        obj._freeze()
        expected = obj._array_shapes()
        for name, value in changes.items():  # the layers' fused steps rely on these shapes
            if name in expected and value is not None and np.shape(value) != expected[name]:
                raise ShapeError(
                    f"{type(self).__name__}.replace: {name} must have shape {expected[name]}, "
                    f"got {np.shape(value)}"
                )
        return obj

    def _children(self) -> Iterator[tuple[str, Module]]:
        f = self._freeze()
        for name in f.modules:
            value = self.__dict__[name]
            if isinstance(value, Module):
                yield name, value
            else:
                for i, m in enumerate(value):
                    yield f"{name}.{i}", m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``(path, module)`` for this module (path ``prefix``) and all descendants."""
        yield prefix, self
        for name, child in self._children():
            yield from child.named_modules(_join(prefix, name))

    def named_parameters(self) -> dict[str, Any]:
        """Parameters by path (``"layers.0.weight"``), in ``tg.tree.leaves`` order."""
        return {
            _join(p, n): m.__dict__[n] for p, m in self.named_modules() for n in m._freeze().params
        }

    def modules(self) -> list[Module]:
        """This module and all its descendants, in the order of :meth:`named_modules`."""
        out: list[Module] = []
        self._collect_modules(out)
        return out

    def _collect_modules(self, out: list[Module]) -> None:
        # a loop with a list, not nested generators: penalties walk the model every step
        out.append(self)
        d = self.__dict__
        for name in self._freeze().modules:
            value = d[name]
            if isinstance(value, Module):
                value._collect_modules(out)
            else:
                for m in value:
                    m._collect_modules(out)

    def parameters(self) -> list[Any]:
        """The parameter arrays, in ``tg.tree.leaves`` order."""
        return [m.__dict__[n] for m in self.modules() for n in m._freeze().params]

    def state(self) -> dict[str, Any]:
        """Buffers (non-trainable state such as running statistics) by path."""
        return {
            _join(p, n): m.__dict__[n] for p, m in self.named_modules() for n in m._freeze().buffers
        }

    def num_params(self) -> int:
        """The number of scalar parameters."""
        return sum(_count(v) for v in self.named_parameters().values())

    def weights(self) -> list[Any]:
        """The parameters that weight penalties apply to (see ``_weight_names``)."""
        out = []
        for m in self.modules():
            names = type(m)._weight_names
            for n in m._freeze().params:
                v = m.__dict__[n]
                if (n in names) if names is not None else len(v.shape) >= 2:
                    out.append(v)
        return out

    def with_state(self, state: Mapping[str, Any]) -> Module:
        """A copy with the buffers named in ``state`` (as returned by :meth:`apply`)
        replaced; the parameters are shared."""
        remaining = dict(state)
        new = self._with_buffers("", remaining)
        if remaining:
            raise KeyError(
                f"with_state: {type(self).__name__} has no buffers {sorted(remaining)}; "
                f"its buffers are {sorted(self.state())}"
            )
        return new

    def _with_buffers(self, prefix: str, remaining: dict[str, Any]) -> Module:
        f = self._freeze()
        changes: dict[str, Any] = {}
        for n in f.buffers:
            key = prefix + n
            if key in remaining:
                value = remaining.pop(key)
                old = self.__dict__[n]
                if np.shape(value) != np.shape(old):
                    raise ShapeError(
                        f"with_state: buffer {key!r} has shape {np.shape(old)}, "
                        f"got {np.shape(value)}"
                    )
                changes[n] = value
        for name in f.modules:
            value = self.__dict__[name]
            if isinstance(value, Module):
                new = value._with_buffers(f"{prefix}{name}.", remaining)
            else:
                new = type(value)(
                    m._with_buffers(f"{prefix}{name}.{i}.", remaining) for i, m in enumerate(value)
                )
            changes[name] = new
        if not changes:
            return self
        obj = object.__new__(type(self))
        obj.__dict__.update(self.__dict__)
        obj.__dict__.pop("_aux", None)  # it holds the old buffers
        obj.__dict__.pop("_tree_flat", None)
        obj.__dict__.update(changes)
        return obj

    def astype(self, dtype: Any) -> Module:
        """A copy with every parameter and buffer cast to ``dtype`` (e.g. ``float32``)."""
        from tracegrad.core import tree

        model = tree.map(lambda p: as_array(p).astype(dtype), self)
        return model.with_state({k: as_array(v).astype(dtype) for k, v in self.state().items()})

    def to(self, device: Any) -> Module:
        """A copy with every parameter and buffer (BatchNorm's running statistics) on
        ``device``: ``"cuda"`` (or ``"cuda:N"``) copies them to the GPU as CuPy arrays,
        ``"cpu"`` back to NumPy arrays (see :func:`tracegrad.core.backend.to_device`).

        Raises:
            tracegrad.core.backend.DeviceError: CuPy or a GPU is missing (one line that
                says which).
        """
        from tracegrad.core.backend import to_device

        model = to_device(self, device)
        state = self.state()
        return model.with_state(to_device(state, device)) if state else model

    def _array_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shapes this module's configuration requires of its parameters and buffers
        (by attribute name; arrays not named are not checked). These arrays must also be
        floating point. Called on loaded models, before any forward pass."""
        return {}

    # --- forward pass -----------------------------------------------------------

    def forward(self, x: Any) -> Any:
        """The layer's computation on a batch ``x`` of shape ``(N, features)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x)")

    def apply(
        self, x: Any, *, train: bool = False, rng: RNGLike = None
    ) -> tuple[Any, dict[str, Any]]:
        """Pure forward pass: ``(y, state)``.

        Args:
            x: a batch, shape ``(N, features)``.
            train: training mode (BatchNorm uses batch statistics and reports new
                running statistics; Dropout drops) or evaluation mode.
            rng: seed or ``numpy.random.Generator`` for stochastic layers (Dropout).

        Returns:
            ``y`` and ``state``, a dict of new buffer values by path (empty in
            evaluation mode); ``model.with_state(state)`` applies it.
        """
        ctx = _Context(train, rng)
        token = _CTX.set(ctx)
        try:
            y = self.forward(x)
        finally:
            _CTX.reset(token)
        if not ctx.updates:
            return y, {}
        state = {}
        for prefix, m in self.named_modules():
            for name, value in ctx.updates.get(id(m), {}).items():
                state[_join(prefix, name)] = value
        return y, state

    def __call__(self, x: Any, *, train: bool | None = None, rng: RNGLike = None) -> Any:
        """``y = model(x)``: evaluation mode by default; inside another module's forward
        pass, runs in the enclosing ``apply``'s mode."""
        if _CTX.get() is None:
            return self.apply(x, train=bool(train), rng=rng)[0]
        if train is not None and bool(train) != current_context().train:
            raise ValueError(
                f"{type(self).__name__} called with train={train} inside a forward pass "
                f"in {'training' if current_context().train else 'evaluation'} mode"
            )
        return self.forward(x)

    def record_state(self, **buffers: Any) -> None:
        """From ``forward``: report new values of this module's buffers to ``apply``."""
        current_context().updates.setdefault(id(self), {}).update(buffers)

    # --- printing ---------------------------------------------------------------

    def extra_repr(self) -> str:
        """Configuration shown between the parentheses of the summary line."""
        f = self._freeze()
        parts = []
        for n in f.static:
            v = self.__dict__[n]
            if not n.startswith("_"):
                parts.append(f"{n}={getattr(v, '__name__', v)!r}" if callable(v) else f"{n}={v!r}")
        return ", ".join(parts)

    def _lines(self, name: str, depth: int) -> list[str]:
        own = sum(_count(self.__dict__[n]) for n in self._freeze().params)
        total = self.num_params()
        label = f"({name}): " if name else ""
        count = f"{total:,} params" if own in (0, total) else f"{total:,} params, {own:,} own"
        lines = [f"{'  ' * depth}{label}{type(self).__name__}({self.extra_repr()})  # {count}"]
        for child_name, child in self._children():
            lines += child._lines(child_name, depth + 1)
        return lines

    def __repr__(self) -> str:
        lines = self._lines("", 0)
        params = self.parameters()
        dtypes = sorted({str(p.dtype) for p in params}) or ["-"]
        buffers = self.state()
        tail = f"Total: {self.num_params():,} parameters ({', '.join(dtypes)})"
        if buffers:
            tail += f", {sum(_count(b) for b in buffers.values()):,} buffer values"
        return "\n".join([*lines, tail])

    def summary(self) -> str:
        """A table: one row per parameter with its path, shape and size."""
        rows = [("parameter", "shape", "size")]
        for k, v in self.named_parameters().items():
            rows.append((k, str(tuple(v.shape)), f"{_count(v):,}"))
        for k, v in self.state().items():
            rows.append((f"{k} (buffer)", str(tuple(np.shape(v))), f"{_count(v):,}"))
        rows.append(("total trainable", "", f"{self.num_params():,}"))
        w = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(f"{a:<{w[0]}}  {b:<{w[1]}}  {c:>{w[2]}}" for a, b, c in rows)

    def save(self, path: Any) -> None:
        """Save to one ``.npz`` file (see :func:`tracegrad.nn.save`)."""
        from tracegrad.nn.io import save

        save(path, self)


def check_features(module: Module, x: Any, n: int, what: str) -> None:
    """Raise a ShapeError naming both shapes if ``x`` is not ``(..., n)``."""
    shape = tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
    if len(shape) == 0 or shape[-1] != n:
        raise ShapeError(
            f"{what} expects inputs of shape (N, {n}) (batch of {n} features), got shape {shape}"
        )
