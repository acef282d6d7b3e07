"""``tg.trace``: one evaluation recorded as a Wengert list, shown as the seeds' tables.

The list is the reverse-mode tape (:func:`tracegrad.core.reverse.record`), renamed the way
the lecture notes do it: the ``n`` inputs are ``v_{1-n} … v_0``, the operations
``v_1 … v_m``, the outputs ``y`` (or ``y_1, y_2, …``). Tangent and adjoint columns are
computed step by step from each primitive's own JVP/VJP rule, so that every row of a
table is a real intermediate result, including the accumulation rows
``v̄_0 = v̄_0 + v̄_1 · 1.5`` of a value used more than once.

Conventions: values in tables are rounded for display (``precision`` digits after the
point, trailing zeros dropped, as on the slides); the exact values are on the steps and
returned by :meth:`Trace.gradient`, :meth:`Trace.adjoints` and :meth:`Trace.tangents`.
Steps that do not contribute to an output are left out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracegrad.core import tree
from tracegrad.core.reverse import record
from tracegrad.core.shapes import unbroadcast
from tracegrad.traces import rules
from tracegrad.traces.notation import format_constant, format_value, latex_name, var_name
from tracegrad.traces.render import RULE, Grid, Group

__all__ = ["Step", "Table", "Trace", "trace"]

Seed = str | Mapping[str, Any] | Sequence[Any] | float


@dataclass(frozen=True)
class Step:
    """One value of the Wengert list.

    ``index`` is its number in the seeds' convention (``-1`` for ``v_{-1}``), ``name``
    that name in LaTeX form, ``op`` the primitive's name (``"input"`` for inputs,
    ``"affine"`` for folded linear steps), ``operands`` the names of the values it reads
    or the constants it uses, ``value`` the exact value, ``label`` the input's name or,
    for an output, the output's name(s).
    """

    index: int
    name: str
    op: str
    operands: tuple[Any, ...]
    value: Any
    label: str | None = None
    # Internals: the tape positions this step covers (several when folded), its output
    # position, and its traced operands as (argnum or -1, step position).
    _tape: tuple[int, ...] = field(default=(), repr=False, compare=False)
    _root: int = field(default=-1, repr=False, compare=False)
    _refs: tuple[tuple[int, int], ...] = field(default=(), repr=False, compare=False)

    @property
    def is_input(self) -> bool:
        return self.op == "input"


@dataclass
class Row:
    """One line of a trace table: ``lhs = rhs = value`` (LaTeX formulas, exact value)."""

    lhs: str
    rhs: str
    value: Any
    step: str
    section: str  # "input", "step" or "output"


@dataclass
class Table:
    """A primal, tangent or adjoint trace: rows plus the ways to print them."""

    title: str
    rows: list[Row]
    precision: int = 3

    def grid(self) -> Grid:
        g = Grid([Group(self.title, 3, (2,))])
        last = None
        for r in self.rows:
            if last is not None and r.section != last:
                g.rows.append(RULE)
            g.rows.append([r.lhs, r.rhs, format_value(r.value, self.precision, latex=True)])
            last = r.section
        return g

    def __str__(self) -> str:
        return self.grid().to_text()

    def to_markdown(self) -> str:
        return self.grid().to_markdown()

    def to_latex(self) -> str:
        return self.grid().to_latex()

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def trace(
    f: Callable[..., Any],
    *args: Any,
    names: Sequence[str] | None = None,
    output_names: Sequence[str] | str | None = None,
    fold_affine: bool = False,
    order: str = "levels",
) -> Trace:
    """Record one evaluation of ``f(*args)`` as a Wengert list.

    Args:
        f: a function written with ``tracegrad.numpy``; it may return one value or a
            tuple/list of values (several outputs, named ``y_1, y_2, …``).
        args: the point; numbers or arrays (integers are taken as floats), or pytrees
            of them (their leaves are named ``p[0], p[1], …``).
        names: input names; default: ``f``'s parameter names (``x1, x2, …`` for
            ``*args``).
        output_names: the outputs' names; default ``y`` (or ``y_1 …``).
        fold_affine: fold chains of scalar ``+``, ``-`` and multiplication by a constant
            into one step, as seed 000 writes ``v_1 = v_{-2} + v_{-1} + 1.5 · v_0``.
        order: ``"levels"`` (default) numbers steps by their depth in the graph, all
            operations on the inputs first, as the slides do; ``"recorded"`` keeps the
            order in which the program ran them. Both are valid execution orders.

    >>> import tracegrad as tg, tracegrad.numpy as tnp
    >>> t = tg.trace(lambda x1, x2: tnp.log(x1) + x1 * x2 - tnp.sin(x2), 2.0, 5.0)
    >>> round(float(t.value), 3), {k: round(float(v), 3) for k, v in t.gradient().items()}
    (11.652, {'x1': 5.5, 'x2': 1.716})
    """
    if order not in ("levels", "recorded"):
        raise ValueError(f"order must be 'levels' or 'recorded', not {order!r}")
    leaves, treedefs, labels = [], [], []
    params = _param_names(f, len(args)) if names is None else None
    if names is not None and len(names) != len(args):
        raise ValueError(f"names: {len(names)} names for {len(args)} arguments")
    for k, a in enumerate(args):
        ls, td = tree.flatten(a)
        base = names[k] if names is not None else params[k]
        treedefs.append(td)
        if td.num_leaves == 1 and not td.children:  # a plain array or number
            labels.append(base)
        else:
            labels.extend(f"{base}[{i}]" for i in range(len(ls)))
        leaves.extend(_as_float(x) for x in ls)
    if len(set(labels)) != len(labels):
        raise ValueError(f"input names must differ: {labels}")

    multi = []

    def flat(*boxes: Any) -> list[Any]:
        it = iter(boxes)
        rebuilt = [tree.unflatten(td, [next(it) for _ in range(td.num_leaves)]) for td in treedefs]
        out = f(*rebuilt)
        if isinstance(out, (tuple, list)):
            multi.append(True)
            return list(out)
        return [out]

    values, indices, rec = record(flat, leaves, keep_values=True)
    if isinstance(output_names, str):
        output_names = [output_names]
    if output_names is None:
        # The seeds call the output y; an input already called y makes it f (or out).
        base = next(b for b in ("y", "f", "out", "output") if b not in labels)
        output_names = (
            [base]
            if len(values) == 1 and not multi
            else [f"{base}_{i + 1}" for i in range(len(values))]
        )
    if len(output_names) != len(values):
        raise ValueError(f"output_names: {len(output_names)} names for {len(values)} outputs")
    return Trace(
        rec.tape, len(leaves), labels, list(output_names), values, indices, fold_affine, order
    )


def _param_names(f: Callable[..., Any], n: int) -> list[str]:
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return [f"x{i + 1}" for i in range(n)]
    out: list[str] = []
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and len(out) < n:
            out.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            break
    while len(out) < n:
        out.append(f"x{len(out) + 1}")
    return out


def _as_float(x: Any) -> Any:
    a = np.asarray(x)
    if a.dtype.kind in "biu":
        a = a.astype(float)
    return a[()] if a.ndim == 0 else a


class Trace:
    """A recorded evaluation: the steps and their primal, tangent and adjoint tables.

    Build one with :func:`trace`. ``steps`` lists inputs then operations in execution
    order; ``value`` is the output (a list when ``f`` returned several).
    """

    def __init__(
        self,
        tape: list[tuple],
        n_inputs: int,
        input_names: list[str],
        output_names: list[str],
        values: list[Any],
        indices: list[int | None],
        fold_affine: bool = False,
        order: str = "levels",
    ) -> None:
        self._tape = tape
        self.input_names = input_names
        self.output_names = output_names
        self._out_values = values
        self._out_tape = indices
        self.steps: list[Step] = []
        self._build(n_inputs, fold_affine, order)

    # --- construction -----------------------------------------------------------------

    def _build(self, n: int, fold: bool, order: str) -> None:
        tape = self._tape
        live = [False] * len(tape)
        for t in self._out_tape:
            if t is not None:
                live[t] = True
        uses = [0] * len(tape)
        for t in range(len(tape) - 1, n - 1, -1):
            if live[t]:
                for _, p in tape[t][4]:
                    live[p] = True
                    uses[p] += 1
        outputs = {t for t in self._out_tape if t is not None}
        # Folding: an affine scalar step used once, by another affine scalar step, joins
        # its consumer's step.
        consumer: dict[int, int] = {}
        if fold:
            for t in range(n, len(tape)):
                if live[t]:
                    for _, p in tape[t][4]:
                        if (
                            p >= n
                            and uses[p] == 1
                            and p not in outputs
                            and self._affine(p)
                            and self._affine(t)
                        ):
                            consumer[p] = t
        root_of: dict[int, int] = {}
        for t in range(len(tape) - 1, n - 1, -1):
            if live[t]:
                root_of[t] = root_of[consumer[t]] if t in consumer else t
        members: dict[int, list[int]] = {}
        for t, r in root_of.items():
            members.setdefault(r, []).append(t)
        roots = sorted(members)
        # Order: by depth in the graph (the slides' numbering) or as recorded.
        depth = {i: 0 for i in range(n)}
        for r in roots:
            ext = self._external(r, members[r], root_of)
            depth[r] = 1 + max((depth[p] for p in ext), default=0)
        if order == "levels":
            roots.sort(key=lambda r: (depth[r], r))
        pos = {i: i for i in range(n)}  # tape index of a value -> position in steps
        for k, r in enumerate(roots):
            pos[r] = n + k
        self._pos = pos
        steps: list[Step] = []
        out_labels: dict[int, list[str]] = {}
        for name, t in zip(self.output_names, self._out_tape):
            if t is not None:
                out_labels.setdefault(t, []).append(name)
        for i in range(n):
            label = self.input_names[i]
            steps.append(
                Step(i - n + 1, var_name(i - n + 1), "input", (), tape[i][3], label, (i,), i, ())
            )
        for k, r in enumerate(roots):
            group = tuple(sorted(members[r]))
            prim, args, kwargs, out, parents = tape[r]
            if len(group) == 1:
                refs = tuple((a, pos[p]) for a, p in parents)
                operands = tuple(
                    _name_of(steps, pos, dict(parents), j, a) for j, a in enumerate(args)
                )
                op = prim.name
            else:
                ext = self._external(r, group, root_of)
                refs = tuple((-1, pos[p]) for p in ext)
                operands = tuple(steps[pos[p]].name for p in ext)
                op = "affine"
            idx = k + 1
            label = ", ".join(out_labels[r]) if r in out_labels else None
            steps.append(Step(idx, var_name(idx), op, operands, out, label, group, r, refs))
        # Inputs that are outputs themselves keep their input name; outputs are marked.
        self.steps = steps
        self._members = {r: set(members[r]) for r in members}

    def _affine(self, t: int) -> bool:
        prim, args, kwargs, out, parents = self._tape[t]
        if prim is None or prim.name not in rules.AFFINE or kwargs:
            return False
        if np.ndim(out) != 0 or any(np.ndim(a) != 0 for a in args):
            return False
        traced = [a for a, _ in parents]
        if prim.name == "multiply":
            return len(traced) == 1
        if prim.name in ("divide", "true_divide"):
            return traced == [0]
        return True

    def _external(self, root: int, group: Sequence[int], root_of: dict[int, int]) -> list[int]:
        """The values a (folded) step reads from outside, left to right as written."""
        gset = set(group)
        seen: list[int] = []

        def walk(t: int) -> None:
            for _, p in sorted(self._tape[t][4]):
                if p in gset:
                    walk(p)
                elif p not in seen:
                    seen.append(p)

        walk(root)
        return seen

    # --- basic views ------------------------------------------------------------------

    @property
    def inputs(self) -> list[Step]:
        return [s for s in self.steps if s.is_input]

    @property
    def operations(self) -> list[Step]:
        return [s for s in self.steps if not s.is_input]

    @property
    def value(self) -> Any:
        """The output value (a list of values for several outputs)."""
        vals = self._out_values
        return vals[0] if len(vals) == 1 else list(vals)

    @property
    def output_values(self) -> list[Any]:
        """The output values as a list, one per name in :attr:`output_names` (also for
        a single output, unlike :attr:`value`)."""
        return list(self._out_values)

    def step(self, name: str) -> Step:
        """The step called ``name`` (``"v_{-1}"``, ``"v_3"``) or an input's name."""
        for s in self.steps:
            if name in (s.name, s.label, f"v_{s.index}"):
                return s
        raise KeyError(name)

    def execution_order(self) -> list[str]:
        """Names of the operations in a valid execution order (each after its operands):
        the order of :attr:`steps`."""
        return [s.name for s in self.operations]

    def __repr__(self) -> str:
        return (
            f"<Trace {len(self.inputs)} inputs ({', '.join(self.input_names)}), "
            f"{len(self.operations)} steps, outputs {', '.join(self.output_names)}>"
        )

    def __str__(self) -> str:
        return self.side_by_side().to_text()

    def _out_positions(self) -> list[int | None]:
        return [None if t is None else self._pos[t] for t in self._out_tape]

    # --- local rules ------------------------------------------------------------------

    def _local_vjp(self, s: Step, g: Any) -> list[tuple[int, int, Any]]:
        """Contributions ``(argnum, operand position, cotangent)`` of ``v̄_s = g``."""
        tape = self._tape
        if len(s._tape) == 1:
            prim, args, kwargs, out, parents = tape[s._root]
            res = []
            for a, p in parents:
                c = prim.vjp(a, g, out, args, kwargs)
                shape = np.shape(args[a])
                if np.shape(c) != shape:
                    c = unbroadcast(c, shape)
                res.append((a, self._pos[p], np.asarray(c)[()]))
            return res
        group = self._members[s._root]
        cts: dict[int, Any] = {s._root: g}
        ext: dict[int, Any] = {}
        for t in sorted(group, reverse=True):
            gt = cts.pop(t, None)
            if gt is None:
                continue
            prim, args, kwargs, out, parents = tape[t]
            for a, p in parents:
                c = prim.vjp(a, gt, out, args, kwargs)
                box = cts if p in group else ext
                box[p] = c if p not in box else box[p] + c
        return [(-1, pos, np.asarray(ext[self.steps[pos]._root])[()]) for _, pos in s._refs]

    def _local_jvp(self, s: Step, tangents: list[Any]) -> Any:
        tape = self._tape
        tan: dict[int, Any] = {}
        for t in sorted(s._tape):
            prim, args, kwargs, out, parents = tape[t]
            acc = None
            for a, p in parents:
                tp = tan[p] if p in tan else tangents[self._pos[p]]
                c = prim.jvp(a, tp, out, args, kwargs)
                acc = c if acc is None else acc + c
            if np.shape(acc) != np.shape(out):
                acc = np.broadcast_to(acc, np.shape(out)).copy()
            tan[t] = acc
        return np.asarray(tan[s._root])[()]

    def _coefficients(self, s: Step) -> list[float]:
        """For a folded affine step: ∂v_s/∂operand, one per operand."""
        return [float(c) for _, _, c in self._local_vjp(s, 1.0)]

    # --- sweeps -----------------------------------------------------------------------

    def _tangent_seed(self, seed: Seed) -> list[Any]:
        """One tangent per input, each of its input's shape (a number fills it)."""
        if isinstance(seed, str):
            seed = {seed: 1.0}
        if (
            len(self.inputs) == 1
            and not isinstance(seed, (Mapping, list, tuple))
            and np.ndim(seed) == 0
        ):
            seed = [seed]
        vals = _seed_values(seed, "tangent", "inputs", self.input_names, 0.0)
        return [
            _seed_array(v, s.value, "tangent", s.label or s.name) for v, s in zip(vals, self.inputs)
        ]

    def tangents(self, seed: Seed) -> dict[str, Any]:
        """Forward mode: the tangent ``v̇`` of every step for the input tangent ``seed``
        (an input's name for a unit seed, a dict ``{name: tangent}``, or one tangent per
        input). Keys are step names; outputs are also under their own names."""
        tans = self._tangent_seed(seed)
        for s in self.operations:
            tans.append(self._local_jvp(s, tans))
        res = {s.name: t for s, t in zip(self.steps, tans)}
        for name, p, v in zip(self.output_names, self._out_positions(), self._out_values):
            res[name] = tans[p] if p is not None else np.zeros_like(np.asarray(v, float))[()]
        return res

    def _adjoint_seed(self, seed: Seed) -> list[tuple[int, Any]]:
        """``(step position, ȳ)`` for each seeded output that is a step (an output that
        is a constant has nothing to sweep)."""
        if not isinstance(seed, (Mapping, list, tuple)):
            # One number seeds the first output (with several outputs, one reverse sweep
            # per output is the seeds' way; pass a dict to pick another).
            seed = [seed] + [None] * (len(self.output_names) - 1)
        vals = _seed_values(seed, "adjoint", "outputs", self.output_names, None)
        res = []
        for p, v, name, val in zip(
            self._out_positions(), vals, self.output_names, self._out_values
        ):
            if p is not None and v is not None:
                res.append((p, _seed_array(v, val, "adjoint", name)))
        return res

    def _sweep(self, seed: Seed) -> tuple[list[Any], list[tuple[int, int, int, Any, bool]]]:
        """Reverse sweep. Returns the final adjoints (``None``: not reached) and the
        events ``(source pos, argnum, target pos, value after, accumulated?)`` in sweep
        order."""
        adj: list[Any] = [None] * len(self.steps)
        for p, v in self._adjoint_seed(seed):
            adj[p] = v if adj[p] is None else adj[p] + v
        events = []
        for pos in range(len(self.steps) - 1, -1, -1):
            s = self.steps[pos]
            if s.is_input or adj[pos] is None:
                continue
            for a, target, c in self._local_vjp(s, adj[pos]):
                acc = adj[target] is not None
                adj[target] = c if not acc else adj[target] + c
                events.append((pos, a, target, adj[target], acc))
        return adj, events

    def adjoints(self, seed: Seed = 1.0) -> dict[str, Any]:
        """Reverse mode: the final adjoint ``v̄`` of every step reached from the seeded
        output(s); ``seed`` is ``ȳ`` (for several outputs: a dict ``{name: ȳ}`` or a
        sequence; a number seeds the first output)."""
        adj, _ = self._sweep(seed)
        return {s.name: a for s, a in zip(self.steps, adj) if a is not None}

    def gradient(self, seed: Seed = 1.0) -> dict[str, Any]:
        """``{input name: x̄}`` from one reverse sweep (zeros for unused inputs)."""
        adj, _ = self._sweep(seed)
        return {
            s.label: (a if a is not None else np.zeros_like(np.asarray(s.value, float))[()])
            for s, a in zip(self.inputs, adj)
        }

    # --- tables -----------------------------------------------------------------------

    def _operand_latex(self, s: Step, precision: int) -> list[str]:
        prim, args, kwargs, out, parents = self._tape[s._root]
        traced = dict(parents)
        return [
            self.steps[self._pos[traced[j]]].name if j in traced else format_constant(a, precision)
            for j, a in enumerate(args)
        ]

    def formula(self, s: Step, precision: int = 3) -> str:
        """The right-hand side of ``v_j = …`` in LaTeX."""
        if s.is_input:
            return latex_name(s.label or "")
        if len(s._tape) == 1:
            prim, args, kwargs, out, parents = self._tape[s._root]
            return rules.primal(prim.name, self._operand_latex(s, precision), kwargs)
        return self._inline(s._root, self._members[s._root], precision)

    def _inline(self, t: int, group: set[int], precision: int) -> str:
        prim, args, kwargs, out, parents = self._tape[t]
        traced = dict(parents)
        ops = []
        for j, a in enumerate(args):
            if j in traced and traced[j] in group:
                sub = self._inline(traced[j], group, precision)
                child = self._tape[traced[j]][0].name
                if _needs_parens(prim.name, j, child):
                    sub = f"({sub})"
                ops.append(sub)
            elif j in traced:
                ops.append(self.steps[self._pos[traced[j]]].name)
            else:
                ops.append(format_constant(a, precision))
        return rules.primal(prim.name, ops, kwargs)

    def _partials(self, s: Step, precision: int) -> list[tuple[int, str, str]]:
        """``(operand position, kind, latex)`` per traced operand of ``s``."""
        if len(s._tape) == 1:
            prim, args, kwargs, out, parents = self._tape[s._root]
            ops = self._operand_latex(s, precision)
            consts = [None if j in dict(parents) else a for j, a in enumerate(args)]
            size = int(np.size(args[0])) if args else 1
            res = []
            for a, p in parents:
                kind, tex = rules.partial(prim.name, a, ops, consts, s.name, size)
                res.append((self._pos[p], kind, tex))
            return res
        res = []
        for (_, pos), c in zip(s._refs, self._coefficients(s)):
            if c == 1:
                res.append((pos, "one", "1"))
            elif c == -1:
                res.append((pos, "neg", "-1"))
            else:
                res.append((pos, "mul", format_constant(c, precision)))
        return res

    def _output_rows(self, rhs_of: Callable[[int | None, Any], tuple[str, str, Any]]) -> list[Row]:
        rows = []
        for name, p, v in zip(self.output_names, self._out_positions(), self._out_values):
            lhs, rhs, val = rhs_of(p, v)
            rows.append(Row(lhs.replace("#", latex_name(name)), rhs, val, "out:" + name, "output"))
        return rows

    def primal_table(self, precision: int = 3) -> Table:
        """The forward primal trace: ``v_{-1} = x_1 = 2``, …, ``v_1 = ln v_{-1} = 0.693``,
        …, ``y = v_5 = 11.652``."""
        rows = []
        for s in self.steps:
            rows.append(
                Row(
                    s.name,
                    self.formula(s, precision),
                    s.value,
                    s.name,
                    "input" if s.is_input else "step",
                )
            )
        rows += self._output_rows(
            lambda p, v: (
                "#",
                self.steps[p].name if p is not None else format_constant(v, precision),
                v,
            )
        )
        return Table("Forward primal trace", rows, precision)

    def tangent_table(self, seed: Seed, precision: int = 3) -> Table:
        """The forward tangent trace for ``seed`` (see :meth:`tangents`):
        ``v̇_2 = v̇_{-1} · v_0 + v̇_0 · v_{-1} = 5``."""
        tans = self.tangents(seed)
        rows = []
        for s in self.steps:
            if s.is_input:
                rhs = _dot_name(s.label or "")
            else:
                terms = []
                for pos, kind, tex in self._partials(s, precision):
                    d = _dot(self.steps[pos].name)
                    terms.append(_term(kind, d, tex))
                rhs = _join_terms(terms)
            rows.append(
                Row(_dot(s.name), rhs, tans[s.name], s.name, "input" if s.is_input else "step")
            )
        rows += self._output_rows(
            lambda p, v: (
                "\\dot{#}",
                _dot(self.steps[p].name) if p is not None else "0",
                tans[self.steps[p].name] if p is not None else 0.0,
            )
        )
        return Table("Forward tangent trace" + _seed_title(self, seed, precision), rows, precision)

    def adjoint_table(self, seed: Seed = 1.0, precision: int = 3) -> Table:
        """The reverse adjoint trace: ``x̄_1 = v̄_{-1} = 5.5`` first, then for each step
        (in forward order, its operands last-to-first, so that reading upwards is the
        sweep) the contributions ``v̄_k = [v̄_k +] v̄_j · ∂v_j/∂v_k``, and ``v̄_m = ȳ``."""
        adj, events = self._sweep(seed)
        partials: dict[int, list[tuple[int, str, str]]] = {}
        by_source: dict[int, list[Row]] = {}
        for src, _argnum, target, val, acc in events:
            if src not in partials:
                partials[src] = self._partials(self.steps[src], precision)
            # A step's contributions come in the order of its partials (both follow
            # the step's traced operands), so the k-th event of a step is its k-th partial.
            kind, tex = partials[src][len(by_source.get(src, []))][1:]
            tname = _bar(self.steps[target].name)
            rhs = _term(kind, _bar(self.steps[src].name), tex)
            if acc:
                rhs = f"{tname} + {rhs}"
            by_source.setdefault(src, []).append(Row(tname, rhs, val, self.steps[src].name, "step"))
        rows = []
        for s, a in zip(self.inputs, adj):
            rows.append(
                Row(
                    _bar_name(s.label or ""),
                    _bar(s.name),
                    a if a is not None else 0.0,
                    s.name,
                    "input",
                )
            )
        for pos in range(len(self.steps)):
            rows += list(reversed(by_source.get(pos, [])))
        seeds = dict(self._adjoint_seed(seed))
        for name, p in zip(self.output_names, self._out_positions()):
            if p is not None and p in seeds:
                rows.append(
                    Row(
                        _bar(self.steps[p].name), _bar_name(name), seeds[p], "out:" + name, "output"
                    )
                )
        return Table("Reverse adjoint trace", rows, precision)

    def side_by_side(self, seed: Seed = 1.0, precision: int = 3) -> Grid:
        """Primal and adjoint traces next to each other, each step's adjoint rows beside
        it (seed 000's layout)."""
        primal = self.primal_table(precision)
        adjoint = self.adjoint_table(seed, precision)
        by_step: dict[str, list[Row]] = {}
        for r in adjoint.rows:
            by_step.setdefault(r.step, []).append(r)
        grid = Grid([Group(primal.title, 3, (2,)), Group(adjoint.title, 3, (2,))])
        last = None
        for r in primal.rows:
            if last is not None and r.section != last:
                grid.rows.append(RULE)
            last = r.section
            mine = by_step.get(r.step, [])
            left = [r.lhs, r.rhs, format_value(r.value, precision, latex=True)]
            if not mine:
                grid.rows.append(left + [None, None, None])
            for k, a in enumerate(mine):
                right = [a.lhs, a.rhs, format_value(a.value, precision, latex=True)]
                grid.rows.append((left if k == 0 else [None] * 3) + right)
        return grid

    def derivative_table(
        self,
        seeds: Sequence[Seed] | None = None,
        adjoint_seed: Seed | None = 1.0,
        precision: int = 3,
    ) -> Grid:
        """Seed 004's summary: every value, its tangent for each forward seed (default:
        a unit seed per input) and its adjoint from one reverse sweep."""
        if seeds is None:
            seeds = list(self.input_names)
        columns = [self.tangents(sd) for sd in seeds]
        groups = [Group("Operation", 2), Group("Value", 1, (0,))]
        groups += [Group(_seed_title(self, sd, precision, bare=True), 1, (0,)) for sd in seeds]
        adj = self.adjoints(adjoint_seed) if adjoint_seed is not None else None
        if adj is not None:
            groups.append(Group("Reverse", 1, (0,)))
        grid = Grid(groups)
        for s in self.steps:
            row: list[str | None] = [
                s.name,
                self.formula(s, precision),
                format_value(s.value, precision, latex=True),
            ]
            row += [format_value(c[s.name], precision, latex=True) for c in columns]
            if adj is not None:
                row.append(format_value(adj.get(s.name, 0.0), precision, latex=True))
            grid.rows.append(row)
        return grid

    # --- output forms -----------------------------------------------------------------

    def to_text(self, seed: Seed = 1.0, precision: int = 3) -> str:
        """``str(trace)`` with options: primal and adjoint side by side."""
        return self.side_by_side(seed, precision).to_text()

    def to_markdown(self, seed: Seed = 1.0, precision: int = 3) -> str:
        """The side-by-side table as a GitHub Markdown table."""
        return self.side_by_side(seed, precision).to_markdown()

    def to_latex(self, seed: Seed = 1.0, precision: int = 3) -> str:
        """The side-by-side table as a LaTeX ``tabular`` (``\\bar``/``\\dot`` notation)."""
        return self.side_by_side(seed, precision).to_latex()

    def to_dot(self, seed: Seed | None = 1.0, precision: int = 3) -> str:
        """The graph in Graphviz DOT: inputs, operations, outputs, with values and (unless
        ``seed`` is ``None``) adjoints."""
        from tracegrad.traces.dot import to_dot

        return to_dot(self, seed, precision)

    def render(self, path: str, seed: Seed | None = 1.0, precision: int = 3) -> str:
        """Write the graph to ``path``: ``.dot`` as text, ``.svg``/``.png``/``.pdf`` through
        Graphviz's ``dot`` program. Returns the path."""
        from tracegrad.traces.dot import render

        return render(self.to_dot(seed, precision), path)


def _seed_values(
    seed: Mapping[str, Any] | Sequence[Any],
    kind: str,
    what: str,
    names: Sequence[str],
    missing: Any,
) -> list[Any]:
    """A tangent or adjoint seed as one value per name: a dict by name (absent names get
    ``missing``; unknown names are a ``KeyError``) or a sequence in order (its length
    must match, else ``ValueError``)."""
    if isinstance(seed, Mapping):
        unknown = [k for k in seed if k not in names]
        if unknown:
            raise KeyError(
                f"{kind} seed names {unknown} are not {what} ({what}: {', '.join(names)})"
            )
        return [seed.get(nm, missing) for nm in names]
    vals = list(seed)
    if len(vals) != len(names):
        raise ValueError(f"{kind} seed: {len(vals)} values for {len(names)} {what}")
    return vals


def _seed_array(v: Any, like: Any, kind: str, name: str) -> Any:
    """The seed ``v`` for the value ``like`` as a float array of its shape: a number
    fills every element, an array must have that shape exactly (NumPy's broadcasting
    would silently reuse or fail with a message that names neither value)."""
    a = np.asarray(v, dtype=float)
    shape = np.shape(like)
    if a.ndim and a.shape != shape:
        hint = "a number" if not shape else f"a number or an array of shape {shape}"
        raise ValueError(
            f"{kind} seed for {name}: shape {a.shape} does not match {name}'s shape "
            f"{shape} (give {hint})"
        )
    return np.broadcast_to(a, shape).copy()[()]


def _name_of(steps: list[Step], pos: dict[int, int], traced: dict[int, int], j: int, a: Any) -> Any:
    if j in traced:
        return steps[pos[traced[j]]].name
    return a


def _needs_parens(parent: str, argnum: int, child: str) -> bool:
    if child in ("add", "subtract"):
        return parent in ("multiply", "divide", "true_divide", "negative") or (
            parent == "subtract" and argnum == 1
        )
    if child == "negative":
        return argnum > 0 or parent not in ("add", "subtract")
    return False


def _bar(name: str) -> str:
    return "\\bar{v}" + name[1:]


def _dot(name: str) -> str:
    return "\\dot{v}" + name[1:]


def _accent_name(accent: str, label: str) -> str:
    tex = latex_name(label)
    base, sep, sub = tex.partition("_")
    return f"\\{accent}{{{base}}}{sep}{sub}"


def _bar_name(label: str) -> str:
    return _accent_name("bar", label)


def _dot_name(label: str) -> str:
    return _accent_name("dot", label)


def _term(kind: str, d: str, tex: str) -> str:
    if kind == "one":
        return d
    if kind == "neg":
        return f"{d} \\cdot (-1)"
    if kind == "div":
        simple = all(c.isalnum() or c in "_{}-." for c in tex)
        return f"{d} / {tex}" if simple else f"{d} / ({tex})"
    return f"{d} \\cdot {tex}"


def _join_terms(terms: list[str]) -> str:
    out = ""
    for t in terms:
        if t.endswith(" \\cdot (-1)"):
            base = t[: -len(" \\cdot (-1)")]
            out = f"{out} - {base}" if out else f"-{base}"
        else:
            out = f"{out} + {t}" if out else t
    return out


def _seed_title(tr: Trace, seed: Seed, precision: int, bare: bool = False) -> str:
    if isinstance(seed, str):
        parts = [f"{_dot_name(seed)} = 1"]
    elif isinstance(seed, Mapping):
        parts = [
            f"{_dot_name(k)} = {format_value(v, precision, latex=True)}" for k, v in seed.items()
        ]
    else:
        vals = [seed] if np.ndim(seed) == 0 else list(seed)  # type: ignore[arg-type]
        parts = [
            f"{_dot_name(k)} = {format_value(v, precision, latex=True)}"
            for k, v in zip(tr.input_names, vals)
        ]
    text = ", ".join(parts)
    return text if bare else f" ({text})"
