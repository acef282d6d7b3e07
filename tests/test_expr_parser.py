"""The formula parser: grammar, errors with columns, and fuzzing (never crashes, never evals)."""

import builtins
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracegrad.traces.expr import FUNCTIONS, ParseError, parse


@pytest.mark.parametrize(
    "text, at, expected",
    [
        ("ln(x1) + x1*x2 - sin(x2)", (2.0, 5.0), math.log(2) + 10 - math.sin(5)),
        ("-x**2", (3.0,), -9.0),
        ("2^3^2", (), 512.0),
        ("x / 2 / 4", (8.0,), 1.0),
        ("a - b - c", (1.0, 2.0, 3.0), -4.0),
        ("sqrt(x**2 + exp(x**2))", (1.0,), math.sqrt(1 + math.e)),
        ("sigmoid(0*x) + relu(-x) + abs(-x) + tanh(0*x)", (2.0,), 2.5),
        ("1.5e1 + .5 + 2.", (), 17.5),
        ("mse(relu(w*x + b) + (w*x + b), y)", (2.0, 5.0, -3.0, 7.0), 49.0),
    ],
)
def test_values(text, at, expected):
    f = parse(text)
    assert float(f(*at)) == pytest.approx(expected)


def test_variables_in_order_and_multiple_outputs():
    f = parse("sin(w1*x + w0), cos(w1*x + w0)")
    assert f.variables == ("w1", "x", "w0")
    y1, y2 = f(2.0, 1.5, 0.5)
    assert float(y1) == pytest.approx(math.sin(3.5))
    assert float(f.function(["w0", "w1", "x"])(0.5, 2.0, 1.5)[1]) == pytest.approx(math.cos(3.5))


def test_common_subexpressions_recorded_once():
    import tracegrad as tg

    f = parse("mse(relu(w*x + b) + (w*x + b), y)")
    t = tg.trace(f.function(["x", "w", "b", "y"]), 5.0, 2.0, -3.0, 7.0, names=["x", "w", "b", "y"])
    assert [s.op for s in t.operations] == ["multiply", "add", "relu", "add", "mse"]
    assert t.gradient() == {"x": 56.0, "w": 140.0, "b": 28.0, "y": -14.0}


@pytest.mark.parametrize(
    "text, column, words",
    [
        ("(x + 1", 7, "never closed"),
        ("x + 1)", 6, "unbalanced"),
        ("sin(x", 6, "never closed"),
        ("foo(x)", 1, "unknown function 'foo'"),
        ("sn(x)", 1, "did you mean sin"),
        ("2x", 2, "missing operator"),
        ("x +", 4, "ends too early"),
        ("", 1, "empty"),
        ("sin + 1", 1, "is a function"),
        ("x $ 2", 3, "unexpected character"),
        ("mse(x)", 1, "takes 2 arguments"),
        ("x y", 3, "unexpected 'y'"),
        ("()", 2, "missing operand"),
    ],
)
def test_errors_point_at_the_column(text, column, words):
    with pytest.raises(ParseError) as info:
        parse(text)
    err = info.value
    assert err.column == column
    assert words in str(err)
    assert "\n" not in str(err)
    assert err.pointer().splitlines()[-1] == " " * (column - 1) + "^"


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(ParseError, match="nested too deeply"):
        parse("(" * 3000 + "x" + ")" * 3000)
    with pytest.raises(ParseError, match="nested too deeply"):
        parse("-" * 3000 + "x")
    with pytest.raises(ParseError, match="longer than"):
        parse("x+" * 6000 + "x")


ALPHABET = st.sampled_from(
    list("xyab12.e+-*/^(), _")
    + ["**", "sin", "ln", "mse", "__import__", "os", "eval", ";", "'", "\\", "λ"]
)


def _no_code(*args, **kwargs):
    raise AssertionError("the parser must never run eval/exec/compile")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=40), st.lists(ALPHABET, max_size=25).map("".join)))
def test_fuzz_never_crashes_or_runs_code(text):
    saved = builtins.eval, builtins.exec, builtins.compile
    builtins.eval = builtins.exec = builtins.compile = _no_code
    try:
        try:
            f = parse(text)
        except ParseError as e:
            assert 1 <= e.column <= len(text) + 1
            return
        assert set(f.variables).isdisjoint(FUNCTIONS)
        assert all(v.isidentifier() for v in f.variables)
    finally:
        builtins.eval, builtins.exec, builtins.compile = saved
    # a formula that parses can be evaluated (numpy warnings aside) without other errors
    import numpy as np

    with np.errstate(all="ignore"):
        try:
            f(*([0.5] * len(f.variables)))
        except (ZeroDivisionError, OverflowError):
            pass
