"""``tg.trace``: one evaluation recorded as a Wengert list, shown as the seeds' tables.

The pieces, one module each: recording and naming (:mod:`~tracegrad.traces.steps`),
pruning, folding and ordering the steps (:mod:`~tracegrad.traces.graph`), the tangent
and adjoint sweeps that keep each contribution (:mod:`~tracegrad.traces.sweeps`),
reading tangent directions and adjoint seeds (:mod:`~tracegrad.traces.directions`),
and the tables (:mod:`~tracegrad.traces.tables`). :class:`EvaluationTrace` puts them
together.

Conventions: values in tables are rounded for display; the exact values are on the steps
and returned by :meth:`EvaluationTrace.gradient`, :meth:`~EvaluationTrace.adjoints` and
:meth:`~EvaluationTrace.tangents`. Steps that do not contribute to an output are left out.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tracegrad.core.reverse import Tape
from tracegrad.traces import tables
from tracegrad.traces.directions import AdjointSeed, Direction, input_tangents, output_adjoints
from tracegrad.traces.graph import build_graph
from tracegrad.traces.render import Grid
from tracegrad.traces.steps import Recording, TraceStep, record_evaluation
from tracegrad.traces.sweeps import Contribution, adjoint_sweep, tangent_sweep
from tracegrad.traces.tables import Table

if TYPE_CHECKING:
    from tracegrad.traces.dot import TraceGraph

__all__ = ["EvaluationTrace", "trace"]


def trace(
    f: Callable[..., Any],
    *args: Any,
    names: Sequence[str] | None = None,
    output_names: Sequence[str] | str | None = None,
    fold_affine: bool = False,
    order: str = "levels",
    unfused: bool = False,
) -> EvaluationTrace:
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
        unfused: trace ``tg.nn`` layers as the lectures write them, ``z = x @ W + b``
            then ``h = σ(z)`` (adjoints ``x̄ = z̄ Wᵀ``, ``W̄ = xᵀ z̄``), instead of one
            fused ``dense`` step.

    A ``tg.nn`` model's parameters are named as the notes do: ``W_1, b_1, W_2, …``.

    >>> import tracegrad as tg, tracegrad.numpy as tnp
    >>> t = tg.trace(lambda x1, x2: tnp.log(x1) + x1 * x2 - tnp.sin(x2), 2.0, 5.0)
    >>> round(float(t.value), 3), {k: round(float(v), 3) for k, v in t.gradient().items()}
    (11.652, {'x1': 5.5, 'x2': 1.716})
    """
    if order not in ("levels", "recorded"):
        raise ValueError(f"order must be 'levels' or 'recorded', not {order!r}")
    if unfused:
        from tracegrad.nn.functional import unfused as unfused_layers

        with unfused_layers():
            rec = record_evaluation(f, args, names, output_names)
    else:
        rec = record_evaluation(f, args, names, output_names)
    return EvaluationTrace(*rec, fold_affine, order)


class EvaluationTrace:
    """A recorded evaluation: the steps and their primal, tangent and adjoint tables.

    Build one with :func:`trace`. ``steps`` lists inputs then operations in execution
    order; ``value`` is the output (a list when ``f`` returned several).
    """

    def __init__(
        self,
        tape: Tape,
        n_inputs: int,
        input_names: list[str],
        output_names: list[str],
        values: list[Any],
        indices: list[int | None],
        fold_affine: bool = False,
        order: str = "levels",
    ) -> None:
        self.input_names = input_names
        self.output_names = output_names
        self._out_values = values
        rec = Recording(tape, n_inputs, input_names, output_names, values, indices)
        self.graph = build_graph(rec, fold_affine, order)
        self.steps: list[TraceStep] = self.graph.steps

    # --- views ------------------------------------------------------------------------

    @property
    def inputs(self) -> list[TraceStep]:
        return [s for s in self.steps if s.is_input]

    @property
    def operations(self) -> list[TraceStep]:
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

    def step(self, name: str) -> TraceStep:
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
            f"<EvaluationTrace {len(self.inputs)} inputs ({', '.join(self.input_names)}), "
            f"{len(self.operations)} steps, outputs {', '.join(self.output_names)}>"
        )

    def __str__(self) -> str:
        return self.side_by_side().to_text()

    def _out_positions(self) -> list[int | None]:
        return self.graph.out_positions()

    # --- sweeps -----------------------------------------------------------------------

    def tangents(self, direction: Direction | None = None, **deprecated: Any) -> dict[str, Any]:
        """Forward mode: the tangent ``v̇`` of every step for the input tangent
        ``direction`` (an input's name for a unit tangent, a dict ``{name: tangent}``, or
        one tangent per input). Keys are step names; outputs are also under their own
        names. (``seed=`` is the deprecated name of ``direction``.)"""
        direction = _direction(direction, deprecated, "tangents")
        inputs = self.inputs
        start = input_tangents(direction, self.input_names, [s.value for s in inputs])
        tans = tangent_sweep(self.graph, start)
        res = {s.name: t for s, t in zip(self.steps, tans)}
        for name, p, v in zip(self.output_names, self._out_positions(), self._out_values):
            res[name] = tans[p] if p is not None else np.zeros_like(np.asarray(v, float))[()]
        return res

    def _adjoint_seeds(self, seed: AdjointSeed) -> list[tuple[int, Any]]:
        return output_adjoints(seed, self.output_names, self._out_positions(), self._out_values)

    def _sweep(self, seed: AdjointSeed) -> tuple[list[Any], list[Contribution]]:
        return adjoint_sweep(self.graph, self._adjoint_seeds(seed))

    def adjoints(self, seed: AdjointSeed = 1.0) -> dict[str, Any]:
        """Reverse mode: the final adjoint ``v̄`` of every step reached from the seeded
        output(s); ``seed`` is ``ȳ`` (for several outputs: a dict ``{name: ȳ}`` or a
        sequence; a number seeds the first output)."""
        adj, _ = self._sweep(seed)
        return {s.name: a for s, a in zip(self.steps, adj) if a is not None}

    def gradient(self, seed: AdjointSeed = 1.0) -> dict[str, Any]:
        """``{input name: x̄}`` from one reverse sweep (zeros for unused inputs)."""
        adj, _ = self._sweep(seed)
        return {
            s.label: (a if a is not None else np.zeros_like(np.asarray(s.value, float))[()])
            for s, a in zip(self.inputs, adj)
        }

    # --- tables -----------------------------------------------------------------------

    def formula(self, s: TraceStep, precision: int = 3) -> str:
        """The right-hand side of ``v_j = …`` in LaTeX."""
        return tables.formula(self.graph, s, precision)

    def primal_table(self, precision: int = 3) -> Table:
        """The forward primal trace: ``v_{-1} = x_1 = 2``, …, ``v_1 = ln v_{-1} = 0.693``,
        …, ``y = v_5 = 11.652``."""
        return tables.primal_table(self, precision)

    def tangent_table(
        self, direction: Direction | None = None, precision: int = 3, **deprecated: Any
    ) -> Table:
        """The forward tangent trace for the input tangent ``direction`` (see
        :meth:`tangents`): ``v̇_2 = v̇_{-1} · v_0 + v̇_0 · v_{-1} = 5``."""
        direction = _direction(direction, deprecated, "tangent_table")
        return tables.tangent_table(self, direction, precision)

    def adjoint_table(self, seed: AdjointSeed = 1.0, precision: int = 3) -> Table:
        """The reverse adjoint trace: ``x̄_1 = v̄_{-1} = 5.5`` first, then for each step
        (in forward order, its operands last-to-first, so that reading upwards is the
        sweep) the contributions ``v̄_k = [v̄_k +] v̄_j · ∂v_j/∂v_k``, and ``v̄_m = ȳ``."""
        return tables.adjoint_table(self, seed, precision)

    def side_by_side(self, seed: AdjointSeed = 1.0, precision: int = 3) -> Grid:
        """Primal and adjoint traces next to each other, each step's adjoint rows beside
        it (seed 000's layout)."""
        return tables.side_by_side(self, seed, precision)

    def derivative_table(
        self,
        directions: Sequence[Direction] | None = None,
        adjoint_seed: AdjointSeed | None = 1.0,
        precision: int = 3,
        **deprecated: Any,
    ) -> Grid:
        """Seed 004's summary: every value, its tangent for each input tangent direction
        (default: a unit tangent per input) and its adjoint from one reverse sweep.
        (``seeds=`` is the deprecated name of ``directions``.)"""
        if "seeds" in deprecated:
            directions = _renamed(deprecated, "seeds", "directions", "derivative_table")
        _no_other_keywords(deprecated, "derivative_table")
        return tables.derivative_table(self, directions, adjoint_seed, precision)

    # --- output forms -----------------------------------------------------------------

    def to_text(self, seed: AdjointSeed = 1.0, precision: int = 3) -> str:
        """``str(trace)`` with options: primal and adjoint side by side."""
        return self.side_by_side(seed, precision).to_text()

    def to_markdown(self, seed: AdjointSeed = 1.0, precision: int = 3) -> str:
        """The side-by-side table as a GitHub Markdown table."""
        return self.side_by_side(seed, precision).to_markdown()

    def to_latex(
        self,
        seed: AdjointSeed = 1.0,
        precision: int = 3,
        *,
        style: str = "plain",
        env: str = "tabular",
    ) -> str:
        """The side-by-side table as a LaTeX ``tabular`` (``\\bar``/``\\dot`` notation);
        ``style="booktabs"`` for booktabs' rules, ``env="array"`` for math mode (MathJax).
        """
        return self.side_by_side(seed, precision).to_latex(style, env)

    def to_html(self, seed: AdjointSeed = 1.0, precision: int = 3) -> str:
        """The side-by-side table as an HTML ``<table>`` (Unicode formulas)."""
        return self.side_by_side(seed, precision).to_html()

    # Jupyter shows the richest of these it can: the primal | adjoint table.
    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_latex_(self) -> str:
        return self.side_by_side()._repr_latex_()

    def to_dot(self, seed: AdjointSeed | None = 1.0, precision: int = 3) -> str:
        """The graph in Graphviz DOT: inputs, operations, outputs, with values and (unless
        ``seed`` is ``None``) adjoints."""
        from tracegrad.traces.dot import to_dot

        return to_dot(self, seed, precision)

    def draw(self, seed: AdjointSeed | None = 1.0, precision: int = 3) -> TraceGraph:
        """The graph as an object that Jupyter shows as a picture (SVG through Graphviz's
        ``dot`` program; without it, a note on installing it and the DOT source)."""
        from tracegrad.traces.dot import TraceGraph

        return TraceGraph(self.to_dot(seed, precision))

    def render(self, path: str, seed: AdjointSeed | None = 1.0, precision: int = 3) -> str:
        """Write the graph to ``path``: ``.dot`` as text, ``.svg``/``.png``/``.pdf`` through
        Graphviz's ``dot`` program. Returns the path."""
        from tracegrad.traces.dot import render

        return render(self.to_dot(seed, precision), path)


def _renamed(given: dict[str, Any], old: str, new: str, where: str, stacklevel: int = 3) -> Any:
    warnings.warn(
        f"{where}({old}=...) is deprecated: the argument is now called {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return given.pop(old)


def _no_other_keywords(given: dict[str, Any], where: str) -> None:
    if given:
        raise TypeError(f"{where}() got an unexpected keyword argument {next(iter(given))!r}")


def _direction(direction: Direction | None, given: dict[str, Any], where: str) -> Direction:
    """The tangent direction, also when passed by its deprecated name ``seed=``."""
    if "seed" in given:
        if direction is not None:
            raise TypeError(f"{where}(): give the tangent as direction=, not also as seed=")
        direction = _renamed(given, "seed", "direction", where, stacklevel=4)
    _no_other_keywords(given, where)
    if direction is None:
        raise TypeError(f"{where}() missing the tangent direction (e.g. an input's name)")
    return direction
