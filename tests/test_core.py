"""The core on its own: toy primitives defined here, no tracegrad.numpy operations.

These tests drive ``core.reverse.record``/``backward`` and ``core.forward.jvp_flat``
directly, so a failure points at the tracing machinery rather than at an op's rule.
The toy rules are written in the toy primitives themselves, so that they can be traced
again (second derivatives), and cotangents are accumulated by ``backward`` with ``+``
on raw arrays.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tracegrad.core.forward import JVPBox, JVPTrace, jvp_flat
from tracegrad.core.primitive import (
    Primitive,
    ShapeError,
    get_value,
    is_boxed,
    new_trace,
    trace_stack,
    unbox,
)
from tracegrad.core.reverse import VJPBox, VJPTrace, backward, record

# --- toy primitives ---------------------------------------------------------------

mul = Primitive(lambda x, y: np.multiply(x, y), "toy_mul")
add = Primitive(lambda x, y: np.add(x, y), "toy_add")
neg = Primitive(lambda x: np.negative(x), "toy_neg")
sin = Primitive(lambda x: np.sin(x), "toy_sin")
cos = Primitive(lambda x: np.cos(x), "toy_cos")

mul.defvjp(lambda g, out, x, y: mul(g, y), lambda g, out, x, y: mul(g, x))
mul.defjvp(lambda t, out, x, y: mul(t, y), lambda t, out, x, y: mul(x, t))
add.defvjp(lambda g, out, x, y: g, lambda g, out, x, y: g)
add.defjvp(lambda t, out, x, y: t, lambda t, out, x, y: t)
neg.defvjp(lambda g, out, x: neg(g)).def_linear()
sin.defvjp(lambda g, out, x: mul(g, cos(x))).defjvp(lambda t, out, x: mul(t, cos(x)))
cos.defvjp(lambda g, out, x: mul(g, neg(sin(x)))).defjvp(lambda t, out, x: mul(t, neg(sin(x))))

# a primitive with a reverse rule only, and one with no rules at all
vjp_only = Primitive(lambda x: 2.0 * x, "toy_vjp_only").defvjp(lambda g, out, x: mul(g, 2.0))
no_rules = Primitive(lambda x: 2.0 * x, "toy_no_rules")


def rev_grad(f):
    """d f / d x of a scalar ``f`` of one argument, with the core's reverse mode only."""

    def g(x):
        (_,), (idx,), trace = record(lambda x: [f(x)], [x])
        (ct,) = backward(trace.tape, [] if idx is None else [(idx, 1.0)], 1)
        return 0.0 if ct is None else ct

    return g


def fwd_deriv(f):
    """d f / d x of ``f`` of one argument, with the core's forward mode only."""

    def d(x):
        _, (t,), _ = jvp_flat(lambda x: [f(x)], [x], [np.ones_like(get_value(x))])
        return t

    return d


@pytest.fixture(autouse=True)
def _stack_is_empty():
    # every test must leave the trace stack as it found it (empty)
    assert trace_stack() == []
    yield
    assert trace_stack() == []


# --- plain calls --------------------------------------------------------------------


def test_plain_call_runs_impl_and_returns_plain_numpy():
    x = np.array([0.1, 0.2])
    out = sin(x)
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, np.sin(x))
    assert not is_boxed(out)


def test_shape_error_names_operation_and_shapes():
    with pytest.raises(ShapeError, match=r"toy_add.*\(2,\), \(3,\)"):
        add(np.ones(2), np.ones(3))


# --- reverse mode -------------------------------------------------------------------


def test_record_builds_flat_tape_in_execution_order():
    (out,), (idx,), trace = record(lambda x, y: [sin(mul(x, y))], [2.0, 3.0])
    assert out == pytest.approx(np.sin(6.0))
    assert [s[0] for s in trace.tape] == [None, None, mul, sin]
    assert trace.tape[2][4] == [(0, 0), (1, 1)]  # mul's parents: the two inputs
    assert trace.tape[3][4] == [(0, 2)]  # sin's parent: the mul
    assert idx == 3
    assert not trace.active


@pytest.mark.parametrize("x,y", [(0.3, 1.7), (-1.2, 0.5), (2.0, -3.0)])
def test_backward_values(x, y):
    # f = sin(x y) x: ∂f/∂x = y cos(xy) x + sin(xy), ∂f/∂y = x² cos(xy)
    (_,), (idx,), trace = record(lambda a, b: [mul(sin(mul(a, b)), a)], [x, y])
    gx, gy = backward(trace.tape, [(idx, 1.0)], 2)
    assert gx == pytest.approx(y * np.cos(x * y) * x + np.sin(x * y), rel=1e-12)
    assert gy == pytest.approx(x**2 * np.cos(x * y), rel=1e-12)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_backward_accumulates_over_repeated_use(k):
    # x used k times: v̄_x = Σ_k v̄_k ∂v_k/∂x; x^k has derivative k x^(k-1)
    def f(x):
        out = x
        for _ in range(k - 1):
            out = mul(out, x)
        return [out]

    x = np.array([0.7, -1.3, 2.0])
    (_,), (idx,), trace = record(f, [x])
    (g,) = backward(trace.tape, [(idx, np.ones(3))], 1)
    np.testing.assert_allclose(g, k * x ** (k - 1), rtol=1e-12)


def test_backward_same_value_twice_in_one_operation():
    # mul(x, x): both parents are the same step; both contributions must be added
    (_,), (idx,), trace = record(lambda x: [mul(x, x)], [3.0])
    assert backward(trace.tape, [(idx, 1.0)], 1) == [6.0]


def test_backward_fan_out_and_in():
    # a = sin x feeds two branches joined by add: d/dx (a·a + a) = (2a + 1) cos x
    def f(x):
        a = sin(x)
        return [add(mul(a, a), a)]

    x = 0.4
    (_,), (idx,), trace = record(f, [x])
    (g,) = backward(trace.tape, [(idx, 1.0)], 1)
    assert g == pytest.approx((2 * np.sin(x) + 1) * np.cos(x), rel=1e-12)


def test_backward_several_seeds_sum():
    # seeds on two outputs give the sum of the two weighted gradients
    _, idxs, trace = record(lambda x: [sin(x), mul(x, x)], [0.5])
    (g,) = backward(trace.tape, [(idxs[0], 2.0), (idxs[1], 3.0)], 1)
    assert g == pytest.approx(2.0 * np.cos(0.5) + 3.0 * 2 * 0.5, rel=1e-12)


def test_backward_output_is_input_and_unreached_inputs():
    (out,), (idx,), trace = record(lambda x, y, z: [y], [1.0, 2.0, 3.0])
    assert out == 2.0 and idx == 1
    assert backward(trace.tape, [(idx, 5.0)], 3) == [None, 5.0, None]
    assert backward(trace.tape, [], 3) == [None, None, None]


def test_record_constant_output_has_no_index():
    (out,), (idx,), _ = record(lambda x: [np.float64(4.0)], [1.0])
    assert out == 4.0 and idx is None


def test_backward_is_pure_and_repeatable():
    (_,), (idx,), trace = record(lambda x: [mul(sin(x), x)], [1.1])
    first = backward(trace.tape, [(idx, 1.0)], 1)
    second = backward(trace.tape, [(idx, 1.0)], 1)
    assert first == second
    assert backward(trace.tape, [(idx, 2.0)], 1)[0] == pytest.approx(2 * first[0])


def test_backward_missing_rule_names_primitive():
    (_,), (idx,), trace = record(lambda x: [no_rules(x)], [1.0])
    with pytest.raises(NotImplementedError, match="toy_no_rules"):
        backward(trace.tape, [(idx, 1.0)], 1)


# --- forward mode -------------------------------------------------------------------


@pytest.mark.parametrize("x", [0.3, -1.1, np.array([0.5, 1.5])])
def test_jvp_flat_values_and_tangents(x):
    # f = sin(x) x; f' = cos(x) x + sin(x)
    values, tangents, trace = jvp_flat(lambda x: [mul(sin(x), x)], [x], [np.ones_like(x)])
    np.testing.assert_allclose(values[0], np.sin(x) * x, rtol=1e-12)
    np.testing.assert_allclose(tangents[0], np.cos(x) * x + np.sin(x), rtol=1e-12)
    assert isinstance(trace, JVPTrace) and not trace.active


def test_jvp_flat_two_inputs_sum_contributions():
    # ḟ = y ẋ + x ẏ for f = x y
    _, (t,), _ = jvp_flat(lambda x, y: [mul(x, y)], [2.0, 3.0], [10.0, 100.0])
    assert t == pytest.approx(3.0 * 10.0 + 2.0 * 100.0)


def test_jvp_flat_independent_output_gets_zero_tangent():
    values, tangents, _ = jvp_flat(lambda x: [np.ones(3), x], [1.0], [1.0])
    np.testing.assert_array_equal(tangents[0], np.zeros(3))
    assert tangents[1] == 1.0


def test_jvp_flat_missing_rule_names_primitive():
    with pytest.raises(NotImplementedError, match="toy_vjp_only"):
        jvp_flat(lambda x: [vjp_only(x)], [1.0], [1.0])


# --- nesting at the core level -----------------------------------------------------


@pytest.mark.parametrize("x", [0.2, 1.3])
def test_second_derivatives_all_mode_pairs(x):
    # d²/dx² sin = -sin, by rev∘rev, fwd∘rev, rev∘fwd, fwd∘fwd
    expected = -np.sin(x)
    assert rev_grad(rev_grad(sin))(x) == pytest.approx(expected, rel=1e-12)
    assert fwd_deriv(rev_grad(sin))(x) == pytest.approx(expected, rel=1e-12)
    assert rev_grad(fwd_deriv(sin))(x) == pytest.approx(expected, rel=1e-12)
    assert fwd_deriv(fwd_deriv(sin))(x) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "outer,inner",
    [(rev_grad, rev_grad), (rev_grad, fwd_deriv), (fwd_deriv, rev_grad), (fwd_deriv, fwd_deriv)],
)
def test_no_perturbation_confusion(outer, inner):
    # d/dx [x · d/dy (x + y)] = d/dx [x] = 1; a confused tracer gives 2
    def f(x):
        return mul(x, inner(lambda y: add(x, y))(1.0))

    assert outer(f)(1.0) == pytest.approx(1.0)


def test_levels_increase_with_nesting():
    seen = []

    def inner(y):
        seen.append(trace_stack()[-1].level)
        return mul(y, y)

    def outer(x):
        seen.append(trace_stack()[-1].level)
        return mul(x, rev_grad(inner)(x))

    rev_grad(outer)(2.0)
    assert seen == [1, 2]


# --- levels and exceptions ----------------------------------------------------------


class Boom(Exception):
    pass


def _raising(x):
    mul(x, x)
    raise Boom("inside the traced function")


@pytest.mark.parametrize(
    "run",
    [
        lambda: record(lambda x: [_raising(x)], [1.0]),
        lambda: jvp_flat(lambda x: [_raising(x)], [1.0], [1.0]),
        lambda: rev_grad(lambda x: rev_grad(_raising)(x))(1.0),
        lambda: rev_grad(lambda x: fwd_deriv(_raising)(x))(1.0),
        lambda: fwd_deriv(lambda x: rev_grad(lambda y: mul(y, fwd_deriv(_raising)(y)))(x))(1.0),
    ],
    ids=["reverse", "forward", "rev-rev", "rev-fwd", "fwd-rev-fwd"],
)
def test_trace_stack_restored_after_exception(run):
    with pytest.raises(Boom):
        run()
    assert trace_stack() == []
    # and the core still works afterwards, starting again at level 1
    assert rev_grad(sin)(0.0) == pytest.approx(1.0)


def test_new_trace_pops_and_deactivates_on_exception():
    with pytest.raises(Boom):
        with new_trace(VJPTrace) as t:
            assert t.level == 1 and t.active
            raise Boom
    assert not t.active
    assert trace_stack() == []


# --- escaped boxes ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_escaped_box_raises_clear_error(mode):
    leaked = []

    def f(x):
        leaked.append(x)
        return [mul(x, x)]

    if mode == "reverse":
        record(f, [1.0])
        assert type(leaked[0]) is VJPBox
    else:
        jvp_flat(f, [1.0], [1.0])
        assert type(leaked[0]) is JVPBox
    with pytest.raises(RuntimeError, match="escaped the transformation"):
        sin(leaked[0])
    # also when mixed into a new transformation at the same level
    with pytest.raises(RuntimeError, match="escaped the transformation"):
        rev_grad(lambda y: mul(y, leaked[0]))(2.0)
    with pytest.raises(RuntimeError, match="escaped the transformation"):
        rev_grad(lambda y: mul(leaked[0], y))(2.0)


# --- helpers ------------------------------------------------------------------------


def test_get_value_unbox_is_boxed():
    def f(x):
        def g(y):
            assert is_boxed(y) and is_boxed(get_value(y)) is False
            inner_trace = y._trace
            assert unbox(y, inner_trace) is y._value
            assert unbox(y, object()) is y  # a foreign trace leaves it alone
            assert get_value(y) == 1.5
            return [mul(y, x)]

        jvp_flat(g, [x], [1.0])
        return [x]

    record(f, [1.5])


def test_importing_core_does_not_import_the_op_set():
    # The core must not depend on tracegrad.numpy. tracegrad/__init__ re-exports the op
    # set, so load the core through a bare package object to see only its own imports.
    src = Path(__file__).resolve().parents[1] / "src" / "tracegrad"
    code = (
        "import sys, types\n"
        f"pkg = types.ModuleType('tracegrad'); pkg.__path__ = [{str(src)!r}]\n"
        "sys.modules['tracegrad'] = pkg\n"
        "import tracegrad.core\n"
        "bad = sorted(m for m in sys.modules if m.startswith('tracegrad.') and\n"
        "             not m.startswith('tracegrad.core'))\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


# --- threads ------------------------------------------------------------------------


def test_threads_have_their_own_trace_levels():
    # Thread A opens a trace, then B opens one, then A closes its trace while B is still
    # inside. B's next, nested trace must still be one level above B's own: with a
    # shared stack A would pop B's trace and B's inner level would collide with its
    # outer one (perturbation confusion across threads).
    a_in, b_in, a_done = threading.Event(), threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def fa(x):
        a_in.set()
        assert b_in.wait(5)
        return mul(x, x)

    def fb(x):
        b_in.set()
        assert a_done.wait(5)
        outer = trace_stack()[-1].level
        levels = []

        def inner(y):
            levels.append(trace_stack()[-1].level)
            return add(x, y)

        out = mul(x, rev_grad(inner)(1.0))
        results["levels"] = (outer, levels[0])
        return out

    def run_a():
        results["a"] = rev_grad(fa)(3.0)
        a_done.set()

    def run_b():
        assert a_in.wait(5)
        results["b"] = rev_grad(fb)(1.0)
        results["b_stack"] = list(trace_stack())

    threads = [threading.Thread(target=run_a), threading.Thread(target=run_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results["a"] == 6.0
    assert results["b"] == 1.0  # d/dx [x · d/dy (x + y)] = 1
    outer, inner = results["levels"]
    assert inner == outer + 1
    assert results["b_stack"] == []
