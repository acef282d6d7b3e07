"""Code generation: a :class:`~tracegrad.core.staging.Program` as one Python function.

Each equation becomes one line, ``v8 = f3(v6, v0, c5, axis=c6)``, with the functions and
constants bound by name in the function's globals, so a replay costs the NumPy calls and
nothing else; each value is deleted after its last use, as a hand-written step lets its
temporaries go. Python's ``compile`` costs tens of microseconds a line, which a program of
a hundred thousand equations would feel: past :data:`MAX_SOURCE_EQUATIONS` the program is
run by a small interpreter over the same equations instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tracegrad.core.staging import Equation, Output, Program, fresh_constant

__all__ = ["MAX_SOURCE_EQUATIONS", "build_function", "last_uses", "source"]

#: longer programs are interpreted, not compiled to Python source (see the module doc)
MAX_SOURCE_EQUATIONS = 50_000


def last_uses(eqns: Sequence[Equation], outs: Sequence[Output]) -> list[list[int]]:
    """Per equation, the values it reads that nothing later reads (freed after it); the
    outputs are never freed."""
    last: dict[int, int] = {}
    for k, eqn in enumerate(eqns):
        for s in eqn.slots:
            last[s.ref] = k
    for o in outs:
        last.pop(o.ref, None)
    frees: list[list[int]] = [[] for _ in eqns]
    for ref, k in last.items():
        frees[k].append(ref)
    return frees


def source(program: Program) -> tuple[str, dict[str, Any]]:
    """The source of ``program(v0, ..., v{n-1})``, returning the list of outputs, and the
    names (functions and constants) it refers to."""
    names: dict[str, Any] = {"_fresh": fresh_constant}

    def const(value: Any) -> str:
        name = f"c{len(names)}"
        names[name] = value
        return name

    frees = last_uses(program.eqns, program.outs)
    lines = [f"def program({', '.join(f'v{i}' for i in range(program.n_inputs))}):"]
    for eqn, free in zip(program.eqns, frees):
        parts = [const(a) for a in eqn.args]
        nested: dict[int, dict[Any, str]] = {}
        kwrefs: dict[str, int] = {}
        for s in eqn.slots:
            if type(s.position) is str:
                kwrefs[s.position] = s.ref
            elif s.element is None:
                parts[s.position] = f"v{s.ref}"
            else:
                nested.setdefault(s.position, {})[s.element] = f"v{s.ref}"
        for pos, refs in nested.items():
            parts[pos] = _container_source(eqn.args[pos], parts[pos], refs, const)
        kw = eqn.kwargs
        if all(k.isidentifier() for k in [*kw, *kwrefs]):
            parts += [f"{k}={const(v)}" for k, v in kw.items()]
            parts += [f"{k}=v{ref}" for k, ref in kwrefs.items()]
        else:  # keyword names that are not identifiers: one dict
            refs = ", ".join(f"{k!r}: v{r}" for k, r in kwrefs.items())
            parts.append(f"**{{**{const(kw)}, {refs}}}")
        if eqn.multiple:
            target = "".join(f"v{r}, " for r in eqn.outs) or "_"
        else:
            target = f"v{eqn.outs[0]}"
        lines.append(f"    {target} = {const(eqn.fn)}({', '.join(parts)})")
        if free:
            lines.append(f"    del {', '.join(f'v{r}' for r in sorted(set(free)))}")
    results = [f"_fresh({const(o.const)})" if o.ref is None else f"v{o.ref}" for o in program.outs]
    lines.append(f"    return [{', '.join(results)}]")
    return "\n".join(lines) + "\n", names


def _container_source(
    template: Any, name: str, refs: dict[Any, str], const: Callable[[Any], str]
) -> str:
    """The source of a tuple, list or dict argument whose elements ``refs`` (index or
    key -> value name) are staged; the others come from the constant ``name``."""
    if type(template) is dict:
        items = ", ".join(f"{const(k)}: {v}" for k, v in refs.items())
        return f"{{**{name}, {items}}}"
    seq = [refs.get(j, f"{name}[{j}]") for j in range(len(template))]
    items = ", ".join(seq) + ("," if len(seq) == 1 else "")
    return f"[{items}]" if type(template) is list else f"({items})"


def build_function(program: Program) -> tuple[Callable[..., list], str | None]:
    """``function(*inputs) -> list of outputs`` running ``program``, and its source
    (``None`` when it is interpreted: see :data:`MAX_SOURCE_EQUATIONS`)."""
    if len(program.eqns) > MAX_SOURCE_EQUATIONS:
        return _interpreter(program), None
    text, names = source(program)
    namespace: dict[str, Any] = {}
    exec(compile(text, "<tracegrad.jit program>", "exec"), names, namespace)  # noqa: S102
    return namespace["program"], text


def _interpreter(program: Program) -> Callable[..., list]:
    """The program run equation by equation over a table of values: what a long
    program costs to start (no source to compile) at a few hundred nanoseconds an
    equation more per replay."""
    steps = []
    for eqn, free in zip(program.eqns, last_uses(program.eqns, program.outs)):
        simple = all(type(s.position) is int and s.element is None for s in eqn.slots)
        steps.append((eqn, simple, tuple(free)))
    outs = program.outs
    n = len(program.avals)

    def run(*inputs: Any) -> list:
        values: list[Any] = [None] * n
        values[: len(inputs)] = inputs
        for eqn, simple, free in steps:
            args = list(eqn.args)
            if simple:
                for s in eqn.slots:
                    args[s.position] = values[s.ref]
                kwargs = eqn.kwargs
            else:
                args, kwargs = eqn.filled(values)
            out = eqn.fn(*args, **kwargs)
            if eqn.multiple:
                for r, o in zip(eqn.outs, out):
                    values[r] = o
            else:
                values[eqn.outs[0]] = out
            for r in free:
                values[r] = None
        return [fresh_constant(o.const) if o.ref is None else values[o.ref] for o in outs]

    return run
