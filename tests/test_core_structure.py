"""The core's structure: the fast backward sweep against the plain chain rule, the fast
entry paths against the general one, and the core's independence of the operation set.

``backward_reference`` is the sweep as the lecture notes write it (v̄_i = Σ_k v̄_k
∂v_k/∂v_i, nothing else); ``backward`` adds named steps, joint rules, undone broadcasting
with shortcuts and in-place accumulation. On every systematic op case and on random
programs both must give the same cotangents.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import random_programs  # tests/ is on sys.path (rootdir conftest)
import tracegrad as tg
import tracegrad.numpy as tnp
from test_ops_systematic import CASE_IDS, CASES
from tracegrad.core.reverse import (
    backward,
    backward_reference,
    float64_operands,
    record,
    scalar_arithmetic,
)
from tracegrad.nn.functional import dense, sum_of_squares

CORE = Path(__file__).resolve().parents[1] / "src" / "tracegrad" / "core"


def _both_sweeps(f, args, rng):
    """The cotangents of ``f``'s inputs from both sweeps, seeded with random output
    cotangents (copies, so that an in-place sweep cannot change the other's seeds)."""
    outs, indices, trace = record(lambda *xs: [f(*xs)], list(args))
    seed = rng.standard_normal(np.shape(outs[0]))
    seed = seed if np.ndim(outs[0]) else float(seed)
    seeds = [] if indices[0] is None else [(indices[0], seed)]
    fast = backward(trace.tape, [(i, np.copy(g)) for i, g in seeds], len(args))
    ref = backward_reference(trace.tape, [(i, np.copy(g)) for i, g in seeds], len(args))
    return fast, ref


def _assert_same(fast, ref):
    assert len(fast) == len(ref)
    for a, b in zip(fast, ref):
        assert (a is None) == (b is None), (a, b)
        if a is not None:
            assert np.shape(a) == np.shape(b)
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_fast_sweep_agrees_with_the_reference_on_every_case(case) -> None:
    fast, ref = _both_sweeps(case.f, case.args, np.random.default_rng(0))
    _assert_same(fast, ref)


def test_the_reference_can_tell_a_wrong_sweep():
    # guards the oracle itself: a sweep that drops the second use of a value differs
    def f(x):
        return tnp.sin(x) * x

    outs, idx, trace = record(lambda x: [f(x)], [np.array([0.3, 0.7])])
    seeds = [(idx[0], np.ones(2))]
    ref = backward_reference(trace.tape, seeds, 1)
    np.testing.assert_allclose(ref[0], np.cos([0.3, 0.7]) * [0.3, 0.7] + np.sin([0.3, 0.7]))
    trace.tape[-1] = trace.tape[-1][:4] + (trace.tape[-1][4][:1],)  # forget one parent
    assert not np.allclose(backward_reference(trace.tape, seeds, 1)[0], ref[0])


# --- random programs ----------------------------------------------------------------

_UNARY = [tnp.sin, tnp.tanh, tnp.negative, tnp.square, lambda v: tnp.exp(tnp.tanh(v))]
_BINARY = [tnp.add, tnp.subtract, tnp.multiply, lambda a, b: a / (1.5 + tnp.tanh(b))]

#: what each kind of step computes (tests/random_programs.py draws the steps)
_KINDS = {
    "unary": lambda op, a, b: _UNARY[op](a),
    "binary": lambda op, a, b: _BINARY[op % len(_BINARY)](a, b),
    # a reduction that still broadcasts with the rest: to a scalar, or over the last axis
    "sum": lambda op, a, b: tnp.sum(a) if op % 2 else tnp.sum(a, axis=-1, keepdims=True),
    # a fresh-cotangent primitive, whose buffers the sweep adds into in place
    "fused": lambda op, a, b: a + sum_of_squares(a, b, scale=0.5),
}


def _run(steps, *xs):
    vals = random_programs.run(steps, xs, _KINDS)
    return tnp.sum(vals[-1] * vals[-1]) + tnp.sum(vals[0])


@settings(max_examples=60, deadline=None)
@given(
    random_programs.programs(["unary", "binary", "binary", "sum", "fused"], 10),
    st.integers(0, 2**32 - 1),
)
def test_fast_sweep_agrees_with_the_reference_on_random_programs(prog, seed):
    shapes, steps = prog
    rng = np.random.default_rng(seed)
    args = [rng.uniform(-1.5, 1.5, s) for s in shapes]
    fast, ref = _both_sweeps(lambda *xs: _run(steps, *xs), args, rng)
    _assert_same(fast, ref)


def test_in_place_accumulation_agrees_with_the_reference():
    # a weight used by its layer (a joint, fresh rule) and by the penalty (fresh): the fast
    # sweep adds the second contribution into the first's buffer
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)

    def f(x, W, b):
        h = dense(x, W, b, activation="tanh")
        return tnp.sum(dense(h, tnp.transpose(W), None) ** 2) + sum_of_squares(W, scale=0.1)

    _assert_same(*_both_sweeps(f, (x, W, b), rng))


# --- the fast entry paths -----------------------------------------------------------


@pytest.mark.parametrize("fn", [tnp.sin, tnp.exp, tnp.tanh, tnp.sqrt, tnp.relu, tnp.negative])
@pytest.mark.parametrize("x", [0.7, np.float64(0.7), np.array([0.2, 1.3]), np.array(0.4)])
def test_one_argument_fast_path_is_the_general_path(fn, x):
    """tnp.sin(box) enters its trace by process1; Primitive.__call__ by process. Both must
    give the same values and derivatives, of the same types, in both modes."""
    prim = fn.primitive
    for transform in (tg.value_and_grad, _jvp_value_and_tangent):
        fast = transform(lambda v: tnp.sum(fn(v)))(x)
        general = transform(lambda v: tnp.sum(prim(v)))(x)
        for a, b in zip(fast, general):
            assert type(a) is type(b)
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fn", [tnp.add, tnp.multiply, tnp.power, tnp.maximum, tnp.divide])
@pytest.mark.parametrize(
    "x, y",
    [
        (0.7, 1.3),
        (0.7, np.array([0.5, 2.0])),
        (np.ones((2, 1)), np.array([0.5, 2.0])),
        (np.float64(0.7), np.float64(1.3)),  # NumPy's scalars: the float64 fast path
        (np.array(0.7), np.float64(1.3)),
        (np.float64(0.7), 1.3),
        (np.array(0.7), np.array(1.3)),
    ],
)
def test_two_argument_fast_path_is_the_general_path(fn, x, y):
    prim = fn.primitive
    fast = tg.value_and_grad(lambda a, b: tnp.sum(fn(a, b)), argnums=(0, 1))(x, y)
    general = tg.value_and_grad(lambda a, b: tnp.sum(prim(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(fast[0], general[0])
    for a, b in zip(fast[1], general[1]):
        assert type(a) is type(b)
        np.testing.assert_array_equal(a, b)
    t = (np.ones_like(np.asarray(x)), np.ones_like(np.asarray(y)))
    t = tuple(ti if np.ndim(xi) else float(ti) for ti, xi in zip(t, (x, y)))
    fast_t = tg.jvp(lambda a, b: fn(a, b), (x, y), t)
    general_t = tg.jvp(lambda a, b: prim(a, b), (x, y), t)
    for a, b in zip(fast_t, general_t):
        np.testing.assert_array_equal(a, b)


def _jvp_value_and_tangent(f):
    def run(x):
        return tg.jvp(f, (x,), (np.ones_like(x) if isinstance(x, np.ndarray) else type(x)(1.0),))

    return run


# --- NumPy's float64 scalars ---------------------------------------------------------


def _chain(x, n_blocks=3):
    """W1's chain (benchmarks/peers.py): sin, mul, exp, add, log, sqrt, add per block."""
    y = x
    for _ in range(n_blocks):
        y = tnp.sqrt(tnp.log(tnp.exp(tnp.sin(y) * x) + 1.0)) + x
    return y


_FLOAT64_SCALARS = [np.float64(0.3), np.array(0.3)]


@pytest.mark.parametrize("x", _FLOAT64_SCALARS, ids=["np.float64", "0-d array"])
def test_float64_scalars_run_in_numpy_and_sweep_as_python_floats(x):
    """A chain on np.float64 or a 0-d float64 array gives NumPy's values and types in the
    forward pass, records Python floats (the steps' values exactly) and sweeps them as a
    chain of Python floats does; the sweep agrees with the reference."""
    outs, idx, trace = record(lambda v: [_chain(v)], [x])
    plain = _chain(x)  # untraced: NumPy's own result
    assert type(outs[0]) is type(plain) is np.float64 and outs[0] == plain
    steps = [trace.tape.step(i) for i in range(1, len(trace.tape))]
    assert all(type(s.out) is float for s in steps)
    assert all(type(a) is float for s in steps for a in s.args)
    fast = backward(trace.tape, [(idx[0], np.float64(1.0))], 1)
    ref = backward_reference(trace.tape, [(idx[0], np.float64(1.0))], 1)
    assert type(fast[0]) is float  # the seed became a float: the sweep ran on floats
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-12, atol=0)
    # a general step at the end (a sum of the scalar) hands on a float too (fit_to)
    outs, idx, trace = record(lambda v: [tnp.sum(_chain(v))], [x])
    fast = backward(trace.tape, [(idx[0], np.float64(1.0))], 1)
    ref = backward_reference(trace.tape, [(idx[0], np.float64(1.0))], 1)
    assert type(fast[0]) is float
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-12, atol=0)
    # what grad returns: NumPy's value, the gradient of the input's type
    value, g = tg.value_and_grad(_chain)(x)
    assert type(value) is np.float64 and value == plain
    assert type(g) is type(x) and np.shape(g) == ()
    np.testing.assert_allclose(g, tg.grad(_chain)(0.3), rtol=1e-12)


def test_other_scalars_keep_numpys_types_and_promotion():
    # float32 stays float32 (no float64 path); a 0-d float64 array against float32
    # arrays promotes as NumPy promotes (a strong float64, not a weak Python float)
    x32 = np.float32(0.3)
    value, g = tg.value_and_grad(_chain)(x32)
    assert type(value) is type(_chain(x32)) is np.float32 and type(g) is np.float32
    a32 = np.ones(3, np.float32)
    f = lambda v: tnp.sum(tnp.sin(v) * a32)  # noqa: E731
    value, g = tg.value_and_grad(f)(np.array(0.3))
    assert value.dtype == f(np.array(0.3)).dtype == np.float64 and g.dtype == np.float64


_OPERANDS = [np.float64(0.7), np.array(-1.3), np.float64(-8.0), np.array(0.0), np.float64(-0.0),
             np.float64(np.inf), np.array(np.nan), 2.0, 3, -0.5, 0]  # fmt: skip


@pytest.mark.parametrize("fn", [tnp.add, tnp.subtract, tnp.multiply, tnp.divide, tnp.power])
def test_scalar_arithmetic_is_numpys(fn):
    """The float64 fast path computes a two-argument step with Python's operators on
    NumPy scalars: the same values (bit for bit, nan and the sign of zero included) and
    types as the NumPy function, on every pair with a float64 scalar among it."""
    prim = fn.primitive
    checked = 0
    for x in _OPERANDS:
        for y in _OPERANDS:
            if float64_operands(x, y) is None:
                continue
            with np.errstate(all="ignore"):
                got, want = scalar_arithmetic(prim, x, y), prim.array_impl(x, y)
            assert type(got) is type(want) is np.float64, (x, y)
            assert np.array_equal(got, want, equal_nan=True), (x, y, got, want)
            assert np.signbit(got) == np.signbit(want), (x, y)
            checked += 1
    assert checked > 60


@pytest.mark.parametrize("make", [np.float64, np.array], ids=["np.float64", "0-d array"])
def test_float64_scalars_keep_numpys_answers_where_python_floats_raise(make):
    """The sweep runs a NumPy scalar's steps on Python floats; where a rule raises on them
    (a division by zero), it gives NumPy's inf or nan, as the step's NumPy code would."""
    f = lambda x, y: x / (y - y) + tnp.log(y - y)
    with np.errstate(divide="ignore", invalid="ignore"):
        value, (gx, gy) = tg.value_and_grad(f, argnums=(0, 1))(make(2.0), make(1.0))
    assert np.isnan(value) or np.isinf(value)
    assert np.isinf(gx) and np.isnan(gy)
    assert type(gx) is type(make(2.0))


def test_a_constant_cotangent_of_a_zero_d_array_is_a_zero_d_array_under_jit():
    # found by a random search: d/dx of x * 0.5 is a constant, cast to x's kind (a 0-d
    # array) from a staged leaf as from a plain one
    f = tg.value_and_grad(lambda x, y: tnp.expm1(y) + x * 0.5, argnums=(0, 1))
    j = tg.jit(f)
    x, y = np.array(1.4), np.array(0.9)
    j(x, y)
    x2 = np.array(-1.0)  # (x + 1 would be an np.float64: another signature)
    for got, want in zip(tg.tree.leaves(j(x2, y)), tg.tree.leaves(f(x2, y))):
        assert type(got) is type(want) and np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_float64_operands_are_only_numpy_float64_scalars_and_python_numbers():
    f, a = np.float64(0.5), np.array(0.5)
    assert float64_operands(f, a) == [0.5, 0.5] and float64_operands(2, f) == [2, 0.5]
    for other in (np.float32(0.5), np.array([0.5]), np.array(0.5, np.float32), np.int64(2)):
        assert float64_operands(f, other) is None and float64_operands(other, a) is None
    assert float64_operands(0.5, 2) is None  # two Python numbers: the Python-float path


# --- layering -----------------------------------------------------------------------


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, at any depth of its code (function bodies too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_core_sources_import_nothing_above_the_core():
    """core/ must not import the operation set or any layer above it, not even inside a
    function (an import-time check cannot see those): only tracegrad.core and the leaf
    module tracegrad._version."""
    allowed = ("tracegrad.core", "tracegrad._version")
    bad = [
        f"{p.name}:{line}: {mod}"
        for p in sorted(CORE.glob("*.py"))
        for line, mod in _imports(p)
        if mod.split(".")[0] == "tracegrad" and not mod.startswith(allowed)
    ]
    assert not bad, bad


def test_the_layering_check_sees_function_level_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from tracegrad.numpy.shape import stack\n    return stack\n")
    assert (2, "tracegrad.numpy.shape") in _imports(src)
