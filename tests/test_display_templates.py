"""Trace-table display templates: every primitive has one, and each formula partial has
the numbers of the primitive's own VJP rule."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp
from test_registry import PRIMITIVES  # tests/ is on sys.path (rootdir conftest)
from tracegrad.core.primitive import Primitive
from tracegrad.traces import GENERIC, display, mse_step
from tracegrad.traces.registry import _TEMPLATES, partial, template_of

#: points per number of operands: inside every formula's domain (|x| < 1 for arcsin and
#: arctanh, x > 0 for logs and non-integer powers) and, for the sign-dependent ones
#: (abs, relu), on both sides of 0
POINTS = {
    1: [(0.3,), (0.8,), (-0.45,), (np.array([0.2, -0.6, 0.9]),)],
    2: [(0.3, 0.7), (1.6, -2.5), (0.9, 3.0), (np.array([0.2, 1.4]), np.array([0.5, -0.3]))],
}
#: primitives whose domain the points above miss
DOMAIN_POINTS = {"arccosh": [(1.3,), (2.5,), (np.array([1.2, 4.0]),)]}


def _formula_templates() -> list[Primitive]:
    return sorted(
        (p for p, t in _TEMPLATES.items() if t.partials is not GENERIC), key=lambda p: p.name
    )


def test_every_primitive_has_a_display_template():
    missing = [name for name, prim in sorted(PRIMITIVES.items()) if prim not in _TEMPLATES]
    assert not missing, (
        f"primitives without a display template (a display(...) line, or an entry of the "
        f"generic list, in tracegrad/traces/templates.py): {missing}"
    )


def test_the_usual_primitives_have_formulas_not_generic_partials():
    generic = [p.name for p in _TEMPLATES if _TEMPLATES[p].partials is GENERIC]
    for name in ["add", "subtract", "multiply", "divide", "power", "log", "sin", "tanh", "relu"]:
        assert name not in generic, name
    assert mse_step in _TEMPLATES


@pytest.mark.parametrize("prim", _formula_templates(), ids=lambda p: p.name)
def test_formula_partials_agree_with_the_vjp_rule(prim):
    arity = template_of(prim).partials.__code__.co_argcount - 1  # the last is ``out``
    checked = 0
    for point in DOMAIN_POINTS.get(prim.name, POINTS[arity]):
        args = [np.asarray(a, dtype=float)[()] for a in point]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = prim.impl(*args)
        if not np.all(np.isfinite(out)):
            continue  # outside the domain (log of a negative)
        operands = [(f"v_{j}", a, True) for j, a in enumerate(args)]
        for j in range(arity):
            d = partial(prim, j, operands, ("v_9", out))
            g = np.ones_like(out)
            want = np.broadcast_to(prim.vjp(j, g, out, args, {}), np.shape(args[j]))
            got = np.broadcast_to(d.value, np.shape(args[j]))
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"∂/∂{j}")
            # the kind is what the tables multiply by: 1, -1, X or 1 / X
            assert d.kind in ("one", "neg", "mul", "div")
            if d.kind in ("one", "neg"):
                assert d.latex == {"one": "1", "neg": "-1"}[d.kind]
            checked += 1
    assert checked >= 2, f"no point inside the domain of {prim.name}"


def test_every_kind_is_checked():
    """One, neg, mul and div all occur among the checked partials (at a traced point)."""
    ops = [("v_0", 0.3, True), ("v_1", 0.7, True)]
    kinds = {
        (p.name, j): partial(p, j, ops[:n], ("v_2", 1.0)).kind
        for p, n in [(tnp.add.primitive, 2), (tnp.subtract.primitive, 2), (tnp.log.primitive, 1)]
        for j in range(n)
    }
    kinds[("sin", 0)] = partial(tnp.sin.primitive, 0, ops[:1], ("v_2", 1.0)).kind
    assert set(kinds.values()) == {"one", "neg", "mul", "div"}, kinds


def test_constants_show_rounded_and_fold():
    ops = [("v_0", 2.0, True), ("1.5", 1.5, False)]
    assert partial(tnp.multiply.primitive, 0, ops, ("v_1", 3.0)).latex == "1.5"
    cube = [("v_0", 2.0, True), ("3", 3.0, False)]
    assert partial(tnp.power.primitive, 0, cube, ("v_1", 8.0)).latex == "3v_0^2"
    assert partial(tnp.divide.primitive, 1, ops[::-1], ("v_1", 0.75)).latex == "(-1.5 / v_0^2)"


V0, V1 = ("v_0", 0.7, True), ("v_1", 1.3, True)


@pytest.mark.parametrize(
    "prim, operands, argnum, kind, latex",
    [
        (tnp.divide.primitive, [V0, V1], 0, "div", "v_1"),
        (tnp.divide.primitive, [V0, V1], 1, "mul", "(-v_0 / v_1^2)"),
        (tnp.power.primitive, [V0, V1], 0, "mul", "v_1 \\cdot v_0^{v_1 - 1}"),
        (tnp.power.primitive, [V0, V1], 1, "mul", "\\ln v_0 \\cdot v_9"),
        (tnp.power.primitive, [V0, ("2.5", 2.5, False)], 0, "mul", "2.5v_0^{1.5}"),
        (tnp.reciprocal.primitive, [V0], 0, "mul", "(-1 / v_0^2)"),
        (tnp.sqrt.primitive, [V0], 0, "div", "2\\sqrt{v_0}"),
        (tnp.cos.primitive, [V0], 0, "mul", "(-\\sin v_0)"),
        (tnp.tan.primitive, [V0], 0, "div", "\\cos^2 v_0"),
        (tnp.tanh.primitive, [V0], 0, "mul", "(1 - \\tanh^2 v_0)"),
        (tnp.sigmoid.primitive, [V0], 0, "mul", "\\sigma(v_0) \\cdot (1 - \\sigma(v_0))"),
        (mse_step, [V0, V1], 1, "mul", "(-2(v_0 - v_1))"),
        (mse_step, [("v_0", np.ones(3), True), V1], 0, "mul", "(2/3)(v_0 - v_1)"),
    ],
)
def test_partials_read_as_the_slides_write_them(prim, operands, argnum, kind, latex):
    assert partial(prim, argnum, operands, ("v_9", 1.0))[:2] == (kind, latex)


def test_a_wrong_formula_is_caught():
    """The check fails for a partial that disagrees with the rule (here: sin' = -cos)."""
    from tracegrad.traces.symbolic import cos

    prim = tnp.sin.primitive
    saved = _TEMPLATES[prim]
    try:
        display(prim, "\\sin #0", lambda a, out: (-cos(a),))
        with pytest.raises(AssertionError):
            test_formula_partials_agree_with_the_vjp_rule(prim)
    finally:
        _TEMPLATES[prim] = saved


def test_a_user_primitive_reads_as_generic_until_registered():
    mine = tg.primitive(lambda x: 2.0 * x)
    tg.defvjp(mine, lambda g, out, x: 2.0 * g)
    tr = tg.trace(lambda x: mine(x), 1.5)
    assert tr.gradient() == {"x": 2.0}  # the sweeps need no template
    assert "v̄₀ = v̄₁ · ∂v₁/∂v₀" in tr.to_text()
    try:
        display(mine, "2 #0", lambda x, out: (2,))
        assert "v₁ = 2 v₀" in tr.to_text() and "v̄₀ = v̄₁ · 2" in tr.to_text()
    finally:
        del _TEMPLATES[mine]
