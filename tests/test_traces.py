"""tg.trace against the seeds' slides: values, tangents, adjoints, accumulation rows."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import trace_seeds as S
import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad import seeds

SLIDES = json.loads((Path(__file__).parent / "golden/traces/slides.json").read_text())


def close(actual, printed):
    """Equal to the slide's number to within half a unit of its last printed digit."""
    text = repr(float(printed))
    decimals = len(text.split(".")[1]) if "." in text and not text.endswith(".0") else 0
    return abs(float(actual) - float(printed)) <= 0.5 * 10.0**-decimals + 1e-12


def test_seed002_primal_tangent_adjoint():
    t = S.seed002()
    vals = {s.name: s.value for s in t.steps}
    for k, v in SLIDES["seed002"]["values"].items():
        assert close(vals[k], v), k
    tans = t.tangents("x1")
    for k, v in SLIDES["seed002"]["tangents_x1"].items():
        assert close(tans[k], v), k
    assert close(tans["y"], 5.5)
    for k, v in SLIDES["seed002"]["gradient"].items():
        assert close(t.gradient()[k], v)
    # the slides' numbering: ln, ×, sin, +, −
    assert [s.op for s in t.operations] == ["log", "multiply", "sin", "add", "subtract"]
    assert t.step("v_2").operands == ("v_{-1}", "v_0")
    assert t.execution_order() == ["v_1", "v_2", "v_3", "v_4", "v_5"]


def test_seed002_exact_values_match_grad():
    t = S.seed002()
    g = tg.grad(seeds.imperial_f, argnums=(0, 1))(2.0, 5.0)
    assert t.gradient()["x1"] == pytest.approx(g[0], rel=1e-15)
    assert t.gradient()["x2"] == pytest.approx(g[1], rel=1e-15)
    assert float(t.value) == pytest.approx(math.log(2) + 10 - math.sin(5))


def test_seed002_accumulation_rows():
    rows = S.seed002().adjoint_table().rows
    texts = [(r.lhs, r.rhs) for r in rows]
    assert ("\\bar{v}_{-1}", "\\bar{v}_{-1} + \\bar{v}_1 / v_{-1}") in texts
    assert ("\\bar{v}_0", "\\bar{v}_0 + \\bar{v}_2 \\cdot v_{-1}") in texts
    assert ("\\bar{v}_3", "\\bar{v}_5 \\cdot (-1)") in texts


STEP_NAMES_004 = {
    "x": "v_{-3}",
    "w": "v_{-2}",
    "b": "v_{-1}",
    "y": "v_0",
    "v": "v_1",
    "z": "v_2",
    "h": "v_3",
    "y_hat": "v_4",
    "J": "v_5",
}


def test_seed004_values_tangents_adjoints():
    t = S.seed004()
    vals = {s.name: s.value for s in t.steps}
    for k, v in SLIDES["seed004"]["values"].items():
        assert close(vals[STEP_NAMES_004[k]], v), k
    for seed, column in SLIDES["seed004"]["tangents"].items():
        tans = t.tangents(seed)
        for k, v in column.items():
            assert close(tans[STEP_NAMES_004[k]], v), (seed, k)
    adj = t.adjoints()
    for k, v in SLIDES["seed004"]["adjoints"].items():
        assert close(adj[STEP_NAMES_004[k]], v), k
    assert t.gradient() == {"x": 56.0, "w": 140.0, "b": 28.0, "y": -14.0}
    # z is used twice (by ReLU and by ŷ): its adjoint accumulates
    rhs = [r.rhs for r in t.adjoint_table().rows if r.lhs == "\\bar{v}_2"]
    assert any(r.startswith("\\bar{v}_2 + ") for r in rhs)


def test_seed004_execution_order_is_valid():
    t = S.seed004()
    seen = {s.name for s in t.inputs}
    for name in t.execution_order():
        step = t.step(name)
        assert all(o in seen for o in step.operands if isinstance(o, str))
        seen.add(name)
    assert [t.step(n).op for n in t.execution_order()] == ["multiply", "add", "relu", "add", "mse"]


def test_seed000_side_by_side_matches_slide():
    t = S.seed000()
    vals = {s.name: s.value for s in t.steps}
    for k, v in SLIDES["seed000"]["values"].items():
        assert close(vals[k], v), k
    adj = t.adjoints()
    for k, v in SLIDES["seed000"]["adjoints"].items():
        assert close(adj[k], v), k
    for k, v in SLIDES["seed000"]["gradient"].items():
        assert close(t.gradient()[k], v), k
    assert t.formula(t.step("v_1")) == "v_{-2} + v_{-1} + 1.5 \\cdot v_0"
    assert t.formula(t.step("v_2")) == "v_{-2} + 1.5 \\cdot v_{-1} - v_0"
    rows = [(r.lhs, r.rhs) for r in t.adjoint_table(precision=2).rows]
    i = rows.index(("\\bar{v}_0", "\\bar{v}_0 + \\bar{v}_1 \\cdot 1.5"))
    assert rows[i + 1] == ("\\bar{v}_{-1}", "\\bar{v}_{-1} + \\bar{v}_1")
    assert rows[i + 2] == ("\\bar{v}_{-2}", "\\bar{v}_{-2} + \\bar{v}_1")
    assert rows[i + 3] == ("\\bar{v}_0", "\\bar{v}_2 \\cdot (-1)")
    # the exact gradient agrees with the library's grad of the vector form
    g = tg.grad(seeds.logistic_rss)(np.array([-1.0, 1.5, 0.5]))
    np.testing.assert_allclose(list(t.gradient().values()), g, rtol=1e-12)


def test_seed000_unfolded_gives_same_gradient():
    a = S.seed000().gradient()
    b = tg.trace(S.rss, -1.0, 1.5, 0.5).gradient()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-14)


def test_seed001_two_outputs():
    t = S.seed001()
    assert t.output_names == ["y_1", "y_2"]
    u = 2.0 * 1.5 + 0.5
    np.testing.assert_allclose(t.value, [math.sin(u), math.cos(u)])
    tans = t.tangents("w1")
    assert tans["y_1"] == pytest.approx(1.5 * math.cos(u))
    assert tans["y_2"] == pytest.approx(-1.5 * math.sin(u))
    assert t.gradient({"y_2": 1.0})["w1"] == pytest.approx(-1.5 * math.sin(u))
    assert t.gradient()["w1"] == pytest.approx(1.5 * math.cos(u))  # seeds y_1 by default
    assert [s.op for s in t.operations] == ["multiply", "add", "sin", "cos"]


def test_seed003():
    t = S.seed003()
    f = math.sqrt(1 + math.e)
    assert float(t.value) == pytest.approx(f)
    assert t.gradient()["x"] == pytest.approx((1 + math.e) / f)
    assert t.tangents("x")["y"] == pytest.approx((1 + math.e) / f)
    # a = x² is used twice (by exp and by +): accumulation
    assert any(r.rhs.startswith("\\bar{v}_1 + ") for r in t.adjoint_table().rows)


def test_names_from_signature_and_given():
    t = tg.trace(lambda a, b: a * b, 2.0, 3.0)
    assert t.input_names == ["a", "b"]
    t = tg.trace(lambda *xs: xs[0] * xs[1], 2.0, 3.0)
    assert t.input_names == ["x1", "x2"]
    t = tg.trace(lambda a, b: a * b, 2.0, 3.0, names=["p", "q"])
    assert t.input_names == ["p", "q"]
    assert [s.label for s in t.inputs] == ["p", "q"]
    with pytest.raises(ValueError):
        tg.trace(lambda a, b: a * b, 2.0, 3.0, names=["p"])


def test_repeated_operand_and_constant_operands():
    t = tg.trace(lambda x: x * x + 3.0, 2.0)
    assert t.gradient()["x"] == pytest.approx(4.0)
    rows = [r.rhs for r in t.adjoint_table().rows]
    assert "\\bar{v}_0 + \\bar{v}_1 \\cdot v_0" in rows
    assert t.step("v_2").operands == ("v_1", 3.0)


def test_arrays_shown_with_shape_and_preview():
    X = np.arange(12.0).reshape(4, 3)
    t = tg.trace(lambda w: tnp.sum(tnp.tanh(X @ w)), np.array([0.1, -0.2, 0.3]))
    text = str(t)
    assert "const[4×3]" in text
    assert "[0.1, -0.2, 0.3]" in text
    g = tg.grad(lambda w: tnp.sum(tnp.tanh(X @ w)))(np.array([0.1, -0.2, 0.3]))
    np.testing.assert_allclose(t.gradient()["w"], g)
    big = tg.trace(lambda w: tnp.sum(w * 2.0), np.ones((10, 10)))
    assert "10×10 [" in str(big) and "…" in str(big)


def test_pytree_input_and_unused_steps():
    def f(p):
        unused = tnp.exp(p["a"])  # noqa: F841  (left out of the trace)
        return p["a"] * p["b"]

    t = tg.trace(f, {"a": 2.0, "b": 3.0})
    assert t.input_names == ["p[0]", "p[1]"]
    assert [s.op for s in t.operations] == ["multiply"]
    assert t.gradient() == {"p[0]": 3.0, "p[1]": 2.0}


def test_orders_are_valid_and_agree():
    a = tg.trace(seeds.imperial_f, 2.0, 5.0, order="recorded")
    assert [s.op for s in a.operations] == ["log", "multiply", "add", "sin", "subtract"]
    assert a.gradient() == S.seed002().gradient()
    with pytest.raises(ValueError):
        tg.trace(seeds.imperial_f, 2.0, 5.0, order="random")


def test_output_is_input_or_constant():
    t = tg.trace(lambda x: x, 3.0)
    assert t.gradient()["x"] == 1.0
    assert "y" in str(t)
    t = tg.trace(lambda x: 2.0, 3.0)
    assert t.gradient()["x"] == 0.0


def test_seed_errors():
    t = S.seed002()
    with pytest.raises(KeyError):
        t.tangents("nope")
    with pytest.raises(KeyError):
        t.adjoints({"nope": 1.0})
    assert t.tangents({"x1": 1.0, "x2": 1.0})["y"] == pytest.approx(5.5 + 1.716, abs=1e-3)
    assert t.tangents([0.0, 1.0])["y"] == pytest.approx(t.gradient()["x2"])


def test_seed_shapes_are_checked_against_the_inputs_and_outputs():
    t = tg.trace(lambda x, w: x * w, np.ones(3), 2.0)
    with pytest.raises(ValueError, match=r"tangent seed for w: shape \(2,\) .* shape \(\)"):
        t.tangents({"w": np.ones(2)})
    with pytest.raises(ValueError, match=r"tangent seed for x: shape \(2,\) .* shape \(3,\)"):
        t.tangents([np.ones(2), 1.0])
    with pytest.raises(ValueError, match=r"adjoint seed for y: shape \(2,\) .* shape \(3,\)"):
        t.adjoints(np.ones(2))
    with pytest.raises(ValueError, match="1 values for 2 inputs"):
        t.tangents([1.0])
    with pytest.raises(ValueError, match="2 values for 1 outputs"):
        t.adjoints([1.0, 1.0])
    # a number fills an input or output of any shape; an array of the right shape is kept
    np.testing.assert_array_equal(t.tangents({"x": 1.0})["y"], [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(t.tangents([np.arange(3.0), 1.0])["y"], [1.0, 3.0, 5.0])
    assert t.gradient(np.arange(3.0))["w"] == 3.0
    assert tg.trace(lambda x: 2 * x, 1.0).tangents(3.0)["y"] == 6.0


def test_output_values_one_per_output_name():
    one = tg.trace(lambda x: tnp.sin(x) * np.ones(2), 0.5)
    assert len(one.output_values) == 1 and one.output_values[0].shape == (2,)
    two = S.seed001()
    assert len(two.output_values) == len(two.output_names) == 2
    assert two.output_values == two.value
