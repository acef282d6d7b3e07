"""tg.jit's compiler (:mod:`tracegrad.compiler`): every pass keeps the numbers.

* each pass alone, and all of them, against the program as recorded, on the systematic op
  cases (value, VJP and JVP) and on random programs, to 1e-12 in float64;
* what each rewrite does (and refuses to do) on small programs;
* buffer reuse: no value is overwritten while it is still read, inputs and outputs are
  never written, outputs never share memory, also through views made by opaque calls;
* programs per signature: new shapes, dtypes and pytrees get a new program, never a
  wrong one;
* scalar programs on Python floats: NumPy's values and types, and NumPy's answers where
  Python raises.
"""

from __future__ import annotations

import gc
import importlib
import warnings
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import random_programs
import tracegrad as tg
import tracegrad.numpy as tnp
from test_jit import ALWAYS_READS, _jvp_of, _perturbed, _vjp_of, assert_same
from test_ops_systematic import CASES, SCALAR_CASES
from tracegrad.compiler import codegen, compile_program, ops, passes
from tracegrad.compiler.buffers import reuse_buffers
from tracegrad.compiler.compile import PASSES
from tracegrad.core.primitive import Box
from tracegrad.core.staging import (
    Aval,
    Equation,
    FloatSteps,
    Output,
    PlainTape,
    Program,
    Slot,
    StagedBox,
    function_name,
    needs_restage,
    restage,
)  # fmt: skip
from tracegrad.transforms.jit import JitFallbackWarning

jit_module = importlib.import_module("tracegrad.transforms.jit")

# --- helpers ----------------------------------------------------------------------------


def _inputs(jitted, args):
    """The flat inputs a jitted function's program takes for ``args``."""
    return jitted._signature(tuple(args), {}).inputs


def _run(program, inputs):
    function, _ = codegen.build_function(program)
    return function(*[a.copy() if isinstance(a, np.ndarray) else a for a in inputs])


def _assert_outputs_close(got, expected, what, rtol=1e-12, atol=1e-12):
    assert len(got) == len(expected), what
    for g, e in zip(got, expected):
        if e is None or isinstance(e, (str, bytes)):
            assert g == e, what
            continue
        assert np.shape(g) == np.shape(e), (what, np.shape(g), np.shape(e))
        assert np.result_type(g) == np.result_type(e), (what, np.result_type(g), np.result_type(e))
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=what)


def _recorded(fn, args):
    """The recorded program of ``fn`` on ``args`` and its jitted function (``None`` if
    the function reads a value and runs eagerly)."""
    j = tg.jit(fn, optimize=False, warn=False)
    ex = j.compiled(*args)
    return (None, j) if ex is None else (ex.recorded, j)


_SINGLE_PASSES = sorted({name: run for name, run in PASSES}.items())


def _check_each_pass(fn, args, new, what):
    """Every pass alone and the whole pipeline give the recorded program's outputs."""
    recorded, j = _recorded(fn, args)
    if recorded is None:
        return
    inputs = _inputs(j, new)
    expected = _run(recorded, inputs)
    for name, run in _SINGLE_PASSES:
        _assert_outputs_close(_run(run(recorded), inputs), expected, f"{what}: {name}")
    full = compile_program(recorded)
    got = full.function(*[a.copy() if isinstance(a, np.ndarray) else a for a in inputs])
    _assert_outputs_close(got, expected, f"{what}: all passes")


# --- every pass against the recorded program ---------------------------------------------


@pytest.mark.parametrize("kind, wrap", [("vjp", _vjp_of), ("jvp", _jvp_of)])
def test_each_pass_keeps_the_values_of_the_systematic_cases(kind, wrap):
    for k, case in enumerate(CASES):
        if case.id.split("-")[0] in ALWAYS_READS:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NumPy's own domain warnings of some cases
            _check_each_pass(wrap(case.f), case.args, _perturbed(case.args, k), case.id)


def test_each_pass_keeps_the_values_of_the_scalar_cases_on_floats():
    for k, case in enumerate(SCALAR_CASES):
        args = tuple(float(a) for a in case.args)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _check_each_pass(_vjp_of(case.f), args, _perturbed(args, k), case.id)


_UNARY = [tnp.tanh, tnp.sin, tnp.negative, tnp.exp, lambda v: -(-v)]
_BINARY = [tnp.add, tnp.subtract, tnp.multiply, lambda a, b: a / (2.0 + tnp.tanh(b))]
_VIEWS = [  # each keeps the shape, so that later steps still broadcast
    lambda v: tnp.reshape(tnp.reshape(v, (-1,)), np.shape(v)),
    lambda v: tnp.transpose(tnp.transpose(v)[::-1])[..., ::-1] if np.ndim(v) > 1 else v,
    lambda v: v[..., ::-1] if np.ndim(v) else v,
    lambda v: v * 1.0,
    lambda v: v + 0.0,
]

#: steps of random programs: elementwise, reductions, views (whose buffers the compiler
#: must not reuse while they are read), identities, and a value used twice (``W * W``)
_KINDS = {
    "unary": lambda op, a, b: _UNARY[op](a),
    "binary": lambda op, a, b: _BINARY[op % len(_BINARY)](a, b),
    "view": lambda op, a, b: _VIEWS[op](a),
    # a reduction that still broadcasts with the rest: to a scalar, or over the last axis
    "sum": lambda op, a, b: tnp.sum(a) if op % 2 else tnp.sum(a, axis=-1, keepdims=True),
    "twice": lambda op, a, b: a * a + b,
}


def _program(steps, *xs):
    vals = random_programs.run(steps, xs, _KINDS)
    return tnp.sum(vals[-1] * vals[-1]) + tnp.sum(vals[0]), vals[-1]


@settings(max_examples=80, deadline=None)
@given(
    random_programs.programs(["unary", "binary", "binary", "view", "sum", "twice"], 12),
    st.integers(0, 2**32 - 1),
)
def test_each_pass_keeps_the_values_of_random_programs(prog, seed):
    shapes, steps = prog
    rng = np.random.default_rng(seed)
    args = [rng.uniform(-1.5, 1.5, s) for s in shapes]
    new = [rng.uniform(-1.5, 1.5, s) for s in shapes]

    def step(*xs):
        (value, last), grads = tg.value_and_grad(lambda *v: _program(steps, *v), has_aux=True,
                                                 argnums=tuple(range(len(xs))))(*xs)  # fmt: skip
        return value, last, grads

    _check_each_pass(step, args, new, f"{steps}")
    # and the compiled function as tg.jit runs it, against eager
    j = tg.jit(step)
    j(*args)
    assert_same(j(*new), step(*new))


# --- what the rewrites do -----------------------------------------------------------------


def _names(program):
    """The operations of a program's equations (``add.reduce`` for a lowered sum)."""
    return [ops.op_name(e.fn) or function_name(e.fn) for e in program.eqns]


def test_the_two_cotangents_of_w_times_w_are_one_value_doubled():
    W = np.arange(6.0).reshape(2, 3)
    j = tg.jit(tg.grad(lambda W: tnp.sum(W * W)))
    recorded, optimised = j.program(W, recorded=True), j.program(W)
    assert _names(recorded).count("multiply") == 3  # W * W, and g · W for each operand
    assert "add" in _names(recorded)
    # W * W itself is dead (grad returns no value), g is the unit seed, g·W is shared
    assert _names(optimised) == ["multiply"]
    np.testing.assert_array_equal(j(W + 1), 2 * (W + 1))


def test_identities_go_where_type_shape_and_dtype_stay():
    x = np.linspace(-1, 1, 4)
    j = tg.jit(lambda x: -(-(x * 1.0 + 0.0)) / 1.0 - 0.0)
    assert len(j.program(x, recorded=True)) == 6
    assert len(j.program(x)) == 1  # the copy of the input that the caller gets
    out = j(x)
    np.testing.assert_array_equal(out, x)
    assert out is not x and not np.shares_memory(out, x)
    out[0] = 99.0  # the caller may write into it, as into the eager result
    assert x[0] == -1.0


def test_identity_kept_where_it_changes_the_dtype():
    x32 = np.linspace(-1, 1, 4, dtype=np.float32)
    f = lambda x: x * np.float64(1.0)  # float64 by NumPy's promotion: not x itself
    j = tg.jit(f)
    assert len(j.program(x32)) == 1
    assert_same(j(x32 + 1), f(x32 + 1))


def test_unit_seed_of_a_gradient_is_folded_away():
    x = np.linspace(0.1, 1, 5)
    j = tg.jit(tg.grad(lambda x: tnp.sum(tnp.exp(x))))
    # d/dx sum(exp(x)) = ones · exp(x): the broadcast unit seed is no equation
    assert _names(j.program(x)) == ["exp"]
    np.testing.assert_allclose(j(x * 2), np.exp(x * 2), rtol=1e-15)


def test_broadcasts_that_numpy_would_do_are_dropped():
    def pullback(W, g):  # the sum's rule broadcasts g, a traced scalar, to W's shape
        return tg.vjp(lambda W: tnp.sum(W * tnp.tanh(W)), W)[1](g)

    W = np.ones((3, 4))
    j = tg.jit(pullback)
    assert "broadcast_to" in _names(j.program(W, 1.0, recorded=True))
    assert "broadcast_to" not in _names(j.program(W, 1.0))
    Wn = np.linspace(-1, 1, 12).reshape(3, 4)
    assert_same(j(Wn, 0.5), pullback(Wn, 0.5))


def test_exact_scaling_folds_give_the_same_bits():
    W = np.random.default_rng(0).standard_normal((5, 4))
    f = tg.grad(lambda W: 0.3 * tnp.sum(W * W))
    j = tg.jit(f)
    j(W + 1)  # traced; the next call replays
    got = j(W)
    np.testing.assert_array_equal(got, f(W))  # bit for bit: 2 is a power of two
    assert _names(j.program(W)).count("multiply") == 1  # W · (0.3 · 2)


@pytest.mark.parametrize(
    "x", [np.arange(5), np.arange(5.0, dtype=np.float32), np.arange(5.0)], ids=str
)
def test_scaling_folds_keep_the_dtype(x):
    f = lambda x: ((x * 2) * 3, (x * 0.5) * 4.0, (3 * x) * 2.0)
    j = tg.jit(f)
    j(x)
    for got, want in zip(j(x + 1), f(x + 1)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_dead_code_is_dropped():
    x = np.linspace(0, 1, 3)

    def f(x):
        unused = tnp.exp(x) * 3.0  # computed, never returned
        del unused
        return tnp.sin(x)

    j = tg.jit(f)
    assert _names(j.program(x, recorded=True)) == ["exp", "multiply", "sin"]
    assert _names(j.program(x)) == ["sin"]


def test_sums_lowered_to_the_ufunc_reduction_keep_numpy_types():
    x = np.linspace(0, 1, 6).reshape(2, 3)
    f = lambda x: (tnp.sum(x), tnp.sum(x, axis=1), tnp.sum(x, axis=0, keepdims=True))
    j = tg.jit(f)
    assert _names(j.program(x)).count("add.reduce") == 3
    for got, want in zip(j(x + 1), f(x + 1)):
        assert type(got) is type(want) and np.shape(got) == np.shape(want)
        np.testing.assert_array_equal(got, want)


def test_commutative_calls_are_computed_once():
    x, y = np.linspace(0, 1, 3), np.linspace(1, 2, 3)
    j = tg.jit(lambda x, y: (x * y) + (y * x))
    assert _names(j.program(x, y)) == ["multiply", "multiply"]  # x·y, then ·2
    np.testing.assert_array_equal(j(x, y), 2 * x * y)


@pytest.mark.parametrize("op", [tnp.maximum, tnp.minimum, tnp.subtract, tnp.divide])
def test_operations_that_do_not_commute_are_not_shared(op):
    # maximum and minimum of 0.0 and -0.0 depend on the order
    x, y = np.array([0.0, 1.0, 3.0]), np.array([-0.0, 2.0, 0.5])
    f = lambda x, y: (op(x, y), op(y, x))
    j = tg.jit(f)
    with np.errstate(invalid="ignore"):  # 0 / 0
        j(x, y)  # traced; the next call replays
        pairs = list(zip(j(x, y), f(x, y)))
    assert len(j.program(x, y)) == 2
    for got, want in pairs:
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_rearrangements_that_give_their_argument_back_are_dropped():
    x = np.arange(12.0).reshape(3, 4)
    there_and_back = lambda x: tnp.transpose(
        tnp.reshape(tnp.reshape(tnp.transpose(x), (12,)), (4, 3))
    )
    j = tg.jit(lambda x: tnp.tanh(there_and_back(x)))
    assert _names(j.program(x)) == ["tanh"]
    moved = lambda x: tnp.reshape(tnp.transpose(x), (3, 4))  # same shape, other order
    k = tg.jit(lambda x: tnp.tanh(moved(x)))
    assert "reshape" in _names(k.program(x))
    assert_same(k(x + 1), tnp.tanh(moved(x + 1)))


def test_outputs_keep_the_memory_layout_they_were_recorded_with():
    x, y = np.arange(16.0).reshape(4, 4), np.linspace(0, 1, 16).reshape(4, 4)

    def f(x, y):
        there_and_back = tnp.transpose(tnp.reshape(tnp.reshape(tnp.transpose(x), (16,)), (4, 4)))
        a = tnp.tanh(tnp.transpose(x))  # Fortran order, as its operand; dead after the sum
        return there_and_back, tnp.sum(a) + (y + 1.0)  # a C-order result a's buffer must not take

    j = tg.jit(f)
    j(x, y)
    for got, want in zip(j(x + 1, y), f(x + 1, y)):
        np.testing.assert_array_equal(got, want)
        assert got.flags.c_contiguous == want.flags.c_contiguous
        assert got.flags.f_contiguous == want.flags.f_contiguous


def _tall(n, m, scale=1.0):
    rng = np.random.default_rng(n + m)
    A, B = rng.standard_normal((m, n)) * scale, rng.standard_normal((m, n))
    return A, B, rng.standard_normal(n)


@pytest.mark.parametrize("transform", [tg.jacrev, tg.jacfwd])
@pytest.mark.parametrize("n, m", [(3, 40), (40, 3), (5, 5)])
def test_jacobians_multiply_their_identity_basis_out(transform, n, m):
    A, B, x = _tall(n, m)
    f = lambda x: tnp.tanh(A @ x) * (B @ x)
    j = tg.jit(transform(f))
    ex = j.compiled(x)
    big = (max(n, m),) * 2
    products = [e for e in ex.program.eqns if ops.op_name(e.fn) == "matmul"]
    # no product of a dense diagonal is left
    assert not any(ex.program.avals[s.ref].shape == big for e in products for s in e.slots)
    got = j(x * 0.5)
    want = transform(f)(x * 0.5)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    assert got.shape == (m, n) and got.dtype == want.dtype


def test_a_diagonal_against_a_matrix_with_an_inf_stays_dense():
    A, B, x = _tall(3, 6)
    A[2, 1] = np.inf  # 0 · inf is nan in the dense product: the rewrite would hide it
    f = lambda x: tnp.tanh(B @ x) * (A @ x)
    j = tg.jit(tg.jacrev(f))
    with np.errstate(invalid="ignore"):
        j(x)
        got, want = j(x * 0.5), tg.jacrev(f)(x * 0.5)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-13)


def test_pass_records_count_what_each_pass_removed():
    rng = np.random.default_rng(0)
    W, x = rng.standard_normal((4, 3)), rng.standard_normal((5, 4))
    j = tg.jit(tg.value_and_grad(lambda W, x: tnp.sum(tnp.tanh(x @ W) ** 2) + tnp.sum(W * W)))
    ex = j.compiled(W, x)
    assert [r.name for r in ex.passes] == [name for name, _ in PASSES]
    assert ex.passes[0].before == len(ex.recorded) and ex.passes[-1].after == len(ex.program)
    for a, b in zip(ex.passes, ex.passes[1:]):
        assert a.after == b.before
    assert len(ex.program) < len(ex.recorded)
    assert ex.passes[-1].reused > 0  # buffers reused
    unoptimised = tg.jit(j.fun, optimize=False)
    assert unoptimised.compiled(W, x).passes == ()
    assert_same(unoptimised(W, x), j(W, x))


# --- buffer reuse ---------------------------------------------------------------------


def _view(x):
    """An opaque call (not a ufunc): its result shares the argument's memory."""
    return x[::-1]


def _manual_program():
    """v1 = x + 1 (fresh); v2 = view of v1 (opaque); v3 = x * 2; v4 = v2 + v3.
    v1 dies at v2's call, but v2 still reads its memory: v3 must not take it."""
    a = Aval(np.ndarray, (4,), np.dtype(np.float64))
    eqns = [
        Equation(np.add, [None, 1.0], {}, (Slot(0, None, 0),), (1,)),
        Equation(_view, [None], {}, (Slot(0, None, 1),), (2,)),
        Equation(np.multiply, [None, 2.0], {}, (Slot(0, None, 0),), (3,)),
        Equation(np.add, [None, None], {}, (Slot(0, None, 2), Slot(1, None, 3)), (4,)),
    ]
    return Program(eqns, (Output(4, None),), 1, [a, a, a, a, a])


def test_a_buffer_read_through_a_view_is_not_reused():
    program = _manual_program()
    reused = reuse_buffers(program)
    outs = {e.outs[0]: [s.ref for s in e.slots if s.position == "out"] for e in reused.eqns}
    assert outs[3] == []  # not into v1's buffer, which v2 still reads
    assert outs[4] == [3]  # the last add may write into v3, which dies there
    x = np.arange(4.0)
    np.testing.assert_array_equal(_run(reused, [x])[0], (x + 1)[::-1] + 2 * x)


def test_a_buffer_is_reused_once_its_views_are_dead():
    program = _manual_program()
    # one more step after v4: v5 = v4 * 3, an equation that may write into v4 (dying)
    a = program.avals[0]
    program.eqns.append(Equation(np.multiply, [None, 3.0], {}, (Slot(0, None, 4),), (5,)))
    program = program.replace(outs=(Output(5, None),), avals=[*program.avals, a])
    reused = reuse_buffers(program)
    assert [s.ref for s in reused.eqns[-1].slots if s.position == "out"] in ([4], [1])
    x = np.arange(4.0)
    np.testing.assert_array_equal(_run(reused, [x])[0], ((x + 1)[::-1] + 2 * x) * 3)


def _step(params, X, Y):
    def loss(params):
        W1, b1, W2 = params
        h = tnp.tanh(X @ W1 + b1)
        z = h @ W2
        return tnp.mean(tnp.logsumexp(z, axis=1) - tnp.sum(Y * z, axis=1)) + 1e-3 * tnp.sum(W1 * W1)

    value, grads = tg.value_and_grad(loss)(params)
    return value, [p - 0.1 * g for p, g in zip(params, grads)], grads


def _mlp_args(seed, batch=8, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((5, 7)), rng.standard_normal(7), rng.standard_normal((7, 3))]
    X = rng.standard_normal((batch, 5))
    Y = np.eye(3)[rng.integers(0, 3, batch)]
    return [p.astype(dtype) for p in params], X.astype(dtype), Y.astype(dtype)


def test_a_training_step_reuses_buffers_but_never_its_inputs_or_outputs():
    j = tg.jit(_step)
    args = _mlp_args(0)
    ex = j.compiled(*args)
    assert ex.passes[-1].reused >= 5
    new = _mlp_args(1)
    before = [a.copy() for a in tg.tree.leaves(new)]
    out = j(*new)
    for a, b in zip(tg.tree.leaves(new), before):
        np.testing.assert_array_equal(a, b)  # inputs untouched
    assert_same(out, _step(*new))
    leaves = [o for o in tg.tree.leaves(out) if isinstance(o, np.ndarray)]
    for i, a in enumerate(leaves):
        for b in leaves[i + 1 :]:
            assert not np.shares_memory(a, b)
    # a later call does not write into what an earlier one returned
    kept = [o.copy() for o in leaves]
    j(*_mlp_args(2))
    for a, b in zip(leaves, kept):
        np.testing.assert_array_equal(a, b)


# --- a program per signature ------------------------------------------------------------


def test_new_shapes_dtypes_and_pytrees_get_their_own_programs():
    f = lambda tree: tnp.sum(tree["w"] * tnp.tanh(tree["x"])) + tree.get("b", 0.0)
    j = tg.jit(tg.value_and_grad(f))
    calls = [
        {"w": np.ones(3), "x": np.linspace(0, 1, 3)},
        {"w": np.ones(4), "x": np.linspace(0, 1, 4)},
        {"w": np.ones(3, np.float32), "x": np.linspace(0, 1, 3).astype(np.float32)},
        {"w": np.ones(3), "x": np.linspace(0, 1, 3), "b": 2.0},
        {"w": np.ones(3), "x": np.float64(0.5)},
    ]
    for _ in range(2):  # again, each from its own cache entry
        for tree in calls:
            assert_same(j(tree), tg.value_and_grad(f)(tree))
    programs = {id(j.program(tree)) for tree in calls}
    assert len(programs) == len(calls)


def test_a_training_step_in_float32_and_float64_and_several_batches():
    j = tg.jit(_step)
    for dtype in (np.float64, np.float32):
        for batch in (8, 3, 8):
            args = _mlp_args(batch, batch, dtype)
            tol = 1e-12 if dtype == np.float64 else 2e-5
            assert_same(j(*args), _step(*args), rtol=tol, atol=tol)


# --- scalar programs on Python floats ----------------------------------------------------

_FLOAT_FUNCTIONS = [
    lambda x: tnp.sin(x) * tnp.exp(x) + tnp.log(x) / tnp.sqrt(x),
    lambda x: tnp.tanh(x) ** 2 - tnp.cos(x) * x + tnp.sigmoid(x),
    lambda x: tnp.arctan(x) + tnp.log1p(x) - tnp.expm1(-x) + (x * x) ** 1.5,
]


@pytest.mark.parametrize("f", _FLOAT_FUNCTIONS)
@pytest.mark.parametrize("make", [float, np.float64, np.array], ids=["float", "np.float64", "0-d"])
def test_scalar_programs_run_on_floats_with_numpys_values_and_types(f, make):
    vg = tg.value_and_grad(f)
    j = tg.jit(vg)
    x0, x1 = make(0.7), make(1.3)
    ex = j.compiled(x0)
    assert ex.floats and "float(a0)" in ex.source
    got, want = j(x1), vg(x1)
    for g, w in zip(got, want):
        assert type(g) is type(w) and np.result_type(g) == np.result_type(w)
        np.testing.assert_allclose(g, w, rtol=1e-13)


def test_float32_and_array_programs_are_not_lowered_to_floats():
    f = tg.value_and_grad(lambda x: tnp.sum(tnp.sin(x) * x))
    for x in (np.float32(0.5), np.array(0.5, np.float32), np.array([0.5])):
        j = tg.jit(f)
        assert not j.compiled(x).floats
        assert_same(j(x), f(x))


@pytest.mark.parametrize(
    "f, x",
    [
        (lambda x: tnp.log(x), 0.0),  # -inf, where math.log raises
        (lambda x: 1.0 / x, np.float64(0.0)),  # inf (for a Python float, as eager: raises)
        (lambda x: tnp.sqrt(x), -1.0),  # nan
        (lambda x: tnp.exp(x), np.float64(1000.0)),  # inf, where math.exp overflows
        (lambda x: x**0.5, np.float64(-4.0)),  # nan, where Python gives a complex number
    ],
)
def test_where_python_raises_the_numpy_program_answers(f, x):
    j = tg.jit(f)
    one = type(x)(1.0)
    j(one)
    assert j.compiled(one).floats
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got, want = j(x), f(x)
    assert type(got) is type(want)
    np.testing.assert_array_equal(got, want)


def test_a_scalar_step_under_jit_does_not_fall_back():
    with warnings.catch_warnings():
        warnings.simplefilter("error", JitFallbackWarning)
        j = tg.jit(tg.grad(lambda w, x: (tnp.tanh(w * x) - 0.5) ** 2))
        assert_same(j(0.3, 2.0), tg.grad(lambda w, x: (tnp.tanh(w * x) - 0.5) ** 2)(0.3, 2.0))


# --- long programs -----------------------------------------------------------------------


def test_long_programs_are_interpreted_with_the_same_values(monkeypatch):
    monkeypatch.setattr(codegen, "MAX_SOURCE_EQUATIONS", 10)
    f = tg.value_and_grad(lambda x: tnp.sum(tnp.sin(tnp.exp(x) * x) ** 2))
    j = tg.jit(f)
    x = np.linspace(0, 1, 5)
    ex = j.compiled(x)
    assert ex.source is None and len(ex.program) > 10
    assert_same(j(x + 0.5), f(x + 0.5))


def test_passes_are_functions_of_programs():
    """Passes return new programs and leave their argument as it was."""
    x = np.linspace(0, 1, 4)
    recorded = tg.jit(tg.grad(lambda x: tnp.sum(x * x * 1.0)), optimize=False).compiled(x)
    program = recorded.recorded
    eqns_before = list(program.eqns)
    for _, run in PASSES:
        run(program)
    assert all(a is b for a, b in zip(program.eqns, eqns_before))
    assert len(program.eqns) == len(eqns_before)
    assert passes.eliminate_dead_code(program) is not program


def test_the_first_call_traces_and_the_first_replay_compiles(monkeypatch):
    compiled = []
    real = jit_module.compile_program
    monkeypatch.setattr(jit_module, "compile_program", lambda *a: compiled.append(1) or real(*a))
    j = tg.jit(lambda x: tnp.tanh(x) * 2.0)
    x = np.linspace(0, 1, 3)
    j(x)
    assert compiled == []  # traced only
    np.testing.assert_array_equal(j(x + 1), np.tanh(x + 1) * 2.0)
    j(x + 2)
    assert compiled == [1]  # compiled once, at the first replay


def test_the_quick_entry_of_arrays_and_lists_replays_the_right_program():
    """Calls whose arguments are arrays, floats and lists of arrays skip the tree
    flattening; each kind, shape and dtype still gets its own program."""
    f = lambda ps, x, s: [p * s + tnp.sum(x) for p in ps]
    j = tg.jit(f)
    calls = [
        ([np.ones(2), np.ones(3)], np.ones(4), 2.0),
        ([np.ones(2), np.ones(3)], np.ones(5), 2.0),
        ((np.ones(2), np.ones(3)), np.ones(4), 2.0),  # a tuple: another structure
        ([np.ones(2, np.float32), np.ones(3)], np.ones(4), 2.0),
        ([np.ones(2), np.ones(3)], np.ones(4), 2),  # an int: the general path
        ([np.ones(2)], np.ones(4), 3.0),
    ]
    for _ in range(3):
        for ps, x, s in calls:
            ps = type(ps)(p * 1.5 for p in ps)
            assert_same(j(ps, x + 1, s), f(ps, x + 1, s))
    assert len(j._cache) == len(calls)
    assert len(j._quick) == len(calls) - 1


# --- a first call: the backward sweep as one step ---------------------------------------


def _first_call_program(jitted):
    """The program a jitted function's only signature holds after its first call,
    before the first replay expands it."""
    (entry,) = jitted._cache.values()
    assert type(entry).__name__ == "_Recorded"
    return entry.program


def test_a_first_call_records_the_forward_and_the_sweep_as_one_step():
    j = tg.jit(tg.value_and_grad(lambda x: tnp.sum(tnp.sin(x) * x)))
    x = np.linspace(0, 1, 3)
    value, g = j(x)
    assert _names(_first_call_program(j)) == ["sin", "multiply", "sum", "Sweep"]
    np.testing.assert_array_equal(g, np.cos(x) * x + np.sin(x))
    # the first replay expands the sweep into its rules' operations, then compiles
    assert "Sweep" not in _names(j.program(x, recorded=True))
    assert "cos" in _names(j.program(x, recorded=True))


def test_a_sweep_over_constants_alone_is_not_recorded():
    """A rule's own gradient (checkpoint recomputes its function under vjp in the backward
    pass) sweeps plain values: nothing staged, nothing to record, no read."""
    f = tg.checkpoint(lambda x: tnp.sin(x) * x)
    loss = lambda x: tnp.sum(f(x) ** 2)
    j = tg.jit(tg.grad(loss))
    x = np.linspace(0, 1, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", JitFallbackWarning)
        for k in range(3):
            np.testing.assert_allclose(j(x + k), tg.grad(loss)(x + k), rtol=1e-13)
    assert len(j._cache) == 1


def test_a_rule_holding_staged_values_out_of_the_tapes_sight_sweeps_as_usual():
    """A rule closing over a value of the staged call (not on the tape): the sweep on
    plain values meets it, so the sweep is staged as usual instead (no Sweep, no read)."""

    def outer(x, w):
        scaled = tg.primitive(lambda y: y * 2.0)
        tg.defvjp(scaled, lambda g, out, y: g * w)  # w: staged, in the rule's closure
        return tnp.sum(scaled(x) * w)

    step = tg.grad(outer)
    j = tg.jit(step)
    x, w = np.linspace(0, 1, 3), np.array([1.0, 2.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", JitFallbackWarning)
        np.testing.assert_array_equal(j(x, w), w * w)
        assert "Sweep" not in _names(_first_call_program(j))
        np.testing.assert_array_equal(j(x, w + 1.0), (w + 1.0) ** 2)


def test_a_recorded_program_keeps_no_array_of_its_first_call():
    """The sweep's step keeps the tape, whose boxes mark the program's slots: the values
    they held (the first call's intermediate arrays) go when the call is over."""
    held = []

    def loss(x):
        y = tnp.exp(x) * x
        value = y
        while isinstance(value, Box):  # behind the boxes, without noting a read
            value = value._value
        held.append(weakref.ref(value))
        return tnp.sum(tnp.sin(y))

    j = tg.jit(tg.grad(loss))
    x = np.linspace(0, 1, 1000)
    j(x)
    gc.collect()
    assert held[0]() is None
    assert "Sweep" in _names(_first_call_program(j))
    np.testing.assert_allclose(j(x + 1.0), tg.grad(loss)(x + 1.0), rtol=1e-14)


@settings(max_examples=40, deadline=None)
@given(
    random_programs.programs(["unary", "binary", "binary", "view", "sum", "twice"], 12),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_first_calls_sweep_as_eager_and_the_expanded_program_agrees(prog, seed, floats):
    """On random programs: the first call gives eager's values bit for bit (its sweep is
    the eager sweep); the recorded program run as it is (its Sweep on plain values) and
    expanded (its rules staged) give eager's values on new inputs. With ``floats``, the
    inputs are Python floats: steps on floats are taken by the staging trace itself
    (FloatSteps), between the others wherever a step makes a NumPy value."""
    shapes, steps = prog
    rng = np.random.default_rng(seed)
    make = (
        (lambda s: float(rng.uniform(-1.5, 1.5)))
        if floats
        else (lambda s: rng.uniform(-1.5, 1.5, s))
    )
    args = [make(s) for s in shapes]
    new = [make(s) for s in shapes]
    step = tg.value_and_grad(lambda *v: _program(steps, *v)[0], argnums=tuple(range(len(args))))
    j = tg.jit(step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's own, in eager and jit alike
        got, want = j(*args), step(*args)
        recorded = _first_call_program(j)
        expected = tg.tree.leaves(step(*new))
        as_recorded = compile_program(recorded, optimize=False).function(*new)
        expanded, outputs = restage(recorded, new)
    for a, e in zip(tg.tree.leaves(got), tg.tree.leaves(want)):
        np.testing.assert_array_equal(a, e)
        assert type(a) is type(e) or np.result_type(a) == np.result_type(e)
    assert not needs_restage(expanded)
    _assert_outputs_close(as_recorded, expected, f"{steps}: as recorded")
    _assert_outputs_close(outputs, expected, f"{steps}: restaged")
    _assert_outputs_close(_run(expanded, new), expected, f"{steps}: expanded")


def _chain(x, n=20):
    """W1's chain of benchmarks/peers.py: 7 elementwise steps a block."""
    y = x
    for _ in range(n):
        y = tnp.sqrt(tnp.log(tnp.exp(tnp.sin(y) * x) + 1.0)) + x
    return y


def test_a_first_call_on_floats_takes_the_steps_and_sweeps_without_copying(monkeypatch):
    """On Python floats the staging trace takes every step of the reverse-mode trace
    above it: the forward is one FloatSteps equation, the sweep one Sweep, and the sweep
    reads the floats the steps kept (of the tape it copies the input alone)."""
    copied = []
    catch_up = PlainTape.catch_up

    def counted(plain, tape):
        copied.append(len(tape) - len(plain.steps))
        return catch_up(plain, tape)

    monkeypatch.setattr(PlainTape, "catch_up", counted)
    vg = tg.value_and_grad(_chain)
    j = tg.jit(vg)
    got, want = j(0.3), vg(0.3)
    assert got == want and type(got[0]) is float and type(got[1]) is float
    assert _names(_first_call_program(j)) == ["FloatSteps", "Sweep"]
    assert copied == [1]
    for x in (0.5, 1.1, 0.3):  # expanded, compiled, replayed
        value, slope = j(x)
        assert value == pytest.approx(vg(x)[0], rel=1e-14)
        assert slope == pytest.approx(vg(x)[1], rel=1e-14)
    assert not needs_restage(j.program(0.3, recorded=True))
    assert j.compiled(0.3).floats


def test_steps_on_floats_between_other_equations_keep_the_program_in_order():
    """Steps on floats taken by the staging trace, interleaved with equations it records
    as usual (an array operation, NumPy scalars, a staged float not differentiated): each
    run of taken steps is recorded before the equation that follows it."""

    def f(x, y, a):
        u = tnp.sin(x) * y  # taken: y is staged, not differentiated
        v = tnp.sum(a * u)  # recorded as usual: an array, then a NumPy scalar
        w = tnp.exp(u) * 3.0 + v  # taken, then as usual (v is not a Python float)
        return tnp.tanh(x * x) + w * x  # taken, then as usual

    step = tg.value_and_grad(f)
    j = tg.jit(step)
    args = (0.3, 1.7, np.array([1.0, -2.0, 0.5]))
    got, want = j(*args), step(*args)
    for a, e in zip(tg.tree.leaves(got), tg.tree.leaves(want)):
        np.testing.assert_array_equal(a, e)
    recorded = _first_call_program(j)
    names = _names(recorded)
    assert names.count("FloatSteps") == 3 and names[-1] == "Sweep", names
    taken = [e for e in recorded.eqns if type(e.fn) is FloatSteps]
    assert [len(e.outs) for e in taken] == [2, 2, 2]  # sin, *; exp, *; *, tanh
    new = (0.45, -0.8, np.array([0.5, 1.5, -1.0]))
    expected = tg.tree.leaves(step(*new))
    _assert_outputs_close(
        compile_program(recorded, optimize=False).function(*new), expected, "as recorded"
    )
    _assert_outputs_close(restage(recorded, new)[1], expected, "restaged")
    for k in range(3):
        _assert_outputs_close(tg.tree.leaves(j(*new)), expected, f"replay {k}")


def test_the_cyclic_collector_is_paused_while_tracing_and_restored(monkeypatch):
    seen = []
    f = lambda x: seen.append(gc.isenabled()) or tnp.sin(x)
    j = tg.jit(f)
    j(np.ones(2))
    assert seen == [False] and gc.isenabled()
    with pytest.raises(ZeroDivisionError):
        tg.jit(lambda x: 1 / 0)(np.ones(2))
    assert gc.isenabled()
    gc.disable()
    try:
        tg.jit(f)(np.ones(3))
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_what_a_trace_made_joins_the_oldest_generation_unless_objects_were_frozen():
    """The objects a trace makes (a recorded program) go to the oldest generation when
    the collector is back on, rather than making the young collection walk them; not if
    the caller froze objects (gc.freeze before a fork), whose freeze must hold."""
    vg = tg.value_and_grad(lambda x: _chain(x, 100))
    gc.collect()
    young = gc.get_stats()[0]["collections"]
    tg.jit(vg)(0.3)
    assert gc.get_stats()[0]["collections"] == young  # the chain's objects: one otherwise
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        tg.jit(vg)(0.3)
        assert gc.get_freeze_count() == before
    finally:
        gc.unfreeze()


def test_a_first_calls_program_is_freed_when_the_first_replay_replaces_it():
    """Its steps keep boxes of the staging trace, which keeps no equation once the
    program is built: no cycle, so the program goes as soon as the compiled one replaces
    it, without waiting for a full collection."""
    staged = lambda: sum(type(o) is StagedBox for o in gc.get_objects())
    j = tg.jit(tg.value_and_grad(_chain))
    gc.collect()
    gc.disable()
    try:
        j(0.3)
        assert staged() > 100
        j(0.4)
        assert staged() == 0
    finally:
        gc.enable()
