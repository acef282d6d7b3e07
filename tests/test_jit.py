"""``tg.jit``: staged programs replayed on new values, against eager evaluation.

Every check traces a function on one set of inputs and then replays the program on
*other* values of the same shapes, comparing with the eager function on those values:
a program that kept anything of the first call would fail. Sections:

* plain functions (elementwise, reductions, matmul, indexing), the cache and retracing,
  and a sweep over the systematic op cases of tests/test_ops_systematic.py;
* transformations inside jit (grad, value_and_grad, vjp, jvp, jacfwd, jacrev, hessian);
* pytrees, Python-number leaves, keyword and static arguments, constant outputs;
* nn: jitted training steps (MLP, cross-entropy, l2 penalty, SGD, Adam), BatchNorm;
* fallback to eager evaluation when a traced value is read, enclosing transformations;
* errors, program introspection, a property test and concurrent use from threads.

Unless a test expects one, a :class:`JitFallbackWarning` is an error here (``pytestmark``).
"""

from __future__ import annotations

import collections
import importlib
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracegrad as tg
import tracegrad.numpy as tnp
from test_ops_systematic import CASES, SCALAR_CASES  # tests/ is on sys.path (rootdir conftest)
from tracegrad import nn, optim
from tracegrad.core.primitive import ShapeError, dtype_of, get_value, trace_stack
from tracegrad.core.staging import Program
from tracegrad.transforms.jit import JitFallbackWarning

# the module (the attribute tracegrad.transforms.jit is the function)
jit_module = importlib.import_module("tracegrad.transforms.jit")

pytestmark = pytest.mark.filterwarnings("error::tracegrad.transforms.jit.JitFallbackWarning")

Pair = collections.namedtuple("Pair", ["a", "b"])


# --- helpers ------------------------------------------------------------------------


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _is_number(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic, float, int, complex))


def assert_same(actual, expected, rtol=1e-12, atol=1e-12):
    """Same pytree structure; leaves of the same shape and dtype with close values."""
    la, ta = tg.tree.flatten(actual)
    le, te = tg.tree.flatten(expected)
    assert ta == te, f"structure {ta!r} != {te!r}"
    assert len(la) == len(le)
    for a, e in zip(la, le):
        if not _is_number(e):
            assert a == e
            continue
        assert np.shape(a) == np.shape(e), (np.shape(a), np.shape(e))
        assert np.result_type(a) == np.result_type(e), (np.result_type(a), np.result_type(e))
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


def _copies(args):
    return tg.tree.map(lambda v: v.copy() if isinstance(v, np.ndarray) else v, args)


def _n_programs(jitted) -> int:
    """Signatures the jitted function has traced (programs and eager entries)."""
    return len(jitted._cache)


def check_replays(f, arg_sets, *, rtol=1e-12, atol=1e-12, kwargs=None):
    """Trace ``jit(f)`` on ``arg_sets[0]``, replay on the others: each result equals the
    eager ``f`` on the same values, no fallback, one program, inputs left unchanged."""
    kwargs = kwargs or {}
    j = tg.jit(f)
    results = []
    for args in arg_sets:
        before = _copies(args)
        out = j(*args, **kwargs)
        assert_same(tg.tree.leaves(args), tg.tree.leaves(before), rtol=0, atol=0)
        expected = f(*args, **kwargs)
        assert_same(out, expected, rtol=rtol, atol=atol)
        results.append((out, expected))
    for out, expected in results:  # no result shares a buffer a later call wrote into
        assert_same(out, expected, rtol=rtol, atol=atol)
    assert _n_programs(j) == 1
    assert isinstance(j.program(*arg_sets[0], **kwargs), Program)
    return j


def _xw(seed: int):
    rng = _rng(seed)
    return rng.standard_normal((4, 3)), rng.standard_normal((3, 2))


XW = [_xw(s) for s in (10, 11, 12)]


# --- plain functions, the cache and retracing ---------------------------------------


PLAIN = {
    "elementwise": lambda x, w: tnp.exp(tnp.sin(x) * 0.5) - tnp.tanh(x) / (1.0 + x * x),
    "log-sqrt": lambda x, w: tnp.log(1.0 + x * x) + tnp.sqrt(tnp.abs(x) + 0.1),
    "reductions": lambda x, w: (tnp.sum(x, axis=0), tnp.mean(x), tnp.max(x, axis=1), tnp.std(x)),
    "matmul": lambda x, w: tnp.tanh(x @ w) @ w.T,
    "softmax": lambda x, w: (tnp.softmax(x @ w, axis=-1), tnp.logsumexp(x, axis=0)),
    "where-maximum": lambda x, w: tnp.where(x > 0, x, -2.0 * x) + tnp.maximum(x, 0.2),
    "slices": lambda x, w: (x[1:, ::2] * x[:-1, ::2], x[-1], w[:, 1:], x[..., None][2]),
    "fancy-index": lambda x, w: (
        x[np.array([0, 0, 3]), np.array([2, 1, 2])] * w[np.array([1, 1, 2])][:, 0]
    ),
    "argmax-index": lambda x, w: x[tnp.argmax(x[:, 0])] * 2.0,
    "shape-ops": lambda x, w: tnp.concatenate(
        [tnp.reshape(x, (2, 6)), tnp.transpose(x)[:2, :2].reshape(2, 2)], axis=1
    ),
    "broadcast": lambda x, w: x[:, :2] * w[0] + tnp.sum(w, axis=0),
}


@pytest.mark.parametrize("name", PLAIN)
def test_plain_function_replays_on_new_values(name):
    """jit(f)(x2) == f(x2) after tracing on x1: one program, reused, no fallback."""
    check_replays(PLAIN[name], XW)


def test_the_program_is_reused_for_equal_shapes():
    """Same shapes and dtypes: the same program object, whatever the values."""
    f = tg.jit(PLAIN["matmul"])
    first = f.program(*XW[0])
    assert f.program(*XW[1]) is first
    assert_same(f(*XW[2]), PLAIN["matmul"](*XW[2]))
    assert f.program(*XW[0]) is first and _n_programs(f) == 1


def test_new_shape_or_dtype_traces_a_new_program():
    """A new shape or dtype gets its own program; the old one still replays correctly."""
    f = PLAIN["elementwise"]
    j = tg.jit(f)
    x, w = XW[0]
    j(x, w)
    x5 = _rng(1).standard_normal((5, 3))
    assert_same(j(x5, w), f(x5, w))
    assert _n_programs(j) == 2
    x32 = XW[1][0].astype(np.float32)
    out32 = j(x32, w)
    assert out32.dtype == np.float32
    assert_same(out32, f(x32, w), rtol=1e-6, atol=1e-6)
    assert _n_programs(j) == 3
    assert j.program(x32, w) is not j.program(x, w)
    assert_same(j(*XW[2]), f(*XW[2]))
    assert _n_programs(j) == 3


def test_clear_cache_forgets_programs():
    j = tg.jit(PLAIN["matmul"])
    first = j.program(*XW[0])
    j.clear_cache()
    assert _n_programs(j) == 0
    for xw in XW:
        assert_same(j(*xw), PLAIN["matmul"](*xw))
    assert j.program(*XW[0]) is not first


def test_cache_drops_the_oldest_signature(monkeypatch):
    """At CACHE_SIZE signatures the oldest is dropped (and retraced when it comes back)."""
    monkeypatch.setattr(jit_module, "CACHE_SIZE", 3)
    f = lambda x: tnp.sum(tnp.sin(x))
    j = tg.jit(f)
    xs = [_rng(n).standard_normal(n) for n in range(1, 6)]
    progs = [j.program(x) for x in xs]
    assert _n_programs(j) == 3
    assert j.program(xs[-1]) is progs[-1]
    assert j.program(xs[0]) is not progs[0]
    for x in xs:
        assert_same(j(x + 1.0), f(x + 1.0))


# The systematic cases: each op with NumPy-checked inputs, replayed on new values.


def _perturbed(args, seed):
    """Float arguments scaled by 1 ± 5% per element: new values, same signs and domains."""
    rng = _rng(seed)

    def move(a):
        if isinstance(a, float):
            return a * (1.0 + 0.05 * rng.uniform(-1, 1))
        if isinstance(a, (np.ndarray, np.floating)) and np.issubdtype(
            np.result_type(a), np.floating
        ):
            return (a * (1.0 + 0.05 * rng.uniform(-1.0, 1.0, np.shape(a)))).astype(a.dtype)
        return a

    return tuple(move(a) for a in args)


def _ones_like_plain(x):
    """Ones of ``x``'s shape and dtype, without reading a staged value."""
    return np.ones(np.shape(x), dtype=dtype_of(x))


def _vjp_of(f):
    def run(*args):
        out, back = tg.vjp(f, *args)
        return out, back(tg.tree.map(_ones_like_plain, out))

    return run


def _jvp_of(f):
    def run(*args):
        tangents = tuple(tg.tree.map(lambda a: 0.5 * _ones_like_plain(a), args))
        return tg.jvp(f, args, tangents)

    return run


#: cases (by id prefix) whose jit falls back to eager evaluation in every mode: they read
#: values (np.argsort / the sign of the determinant; the sort of order statistics,
#: argpartition, the segment search of interp, the rank in lstsq and polyfit). Forward-mode rules
#: that read values (ties, signs, masks) run on plain arrays under jit, recorded whole,
#: so they replay.
ALWAYS_READS = {
    "sort", "slogdet", "median", "percentile", "quantile", "partition", "interp", "lstsq",
    "nanmedian", "nanpercentile", "nanquantile", "polyfit",
}  # fmt: skip


def _sweep(cases, wrap, float_args=False):
    """Replay every case on perturbed values; returns (mismatches, fallback case ids)."""
    bad, fell_back = {}, set()
    for k, case in enumerate(cases):
        args = tuple(float(a) for a in case.args) if float_args else case.args
        new = _perturbed(args, k)
        fn = wrap(case.f)
        j = tg.jit(fn)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                j(*args)
                out = j(*new)
            except Exception as e:  # reported below with the case id
                out = e
        if any(issubclass(w.category, JitFallbackWarning) for w in caught):
            fell_back.add(case.id)
        try:
            expected = fn(*new)
        except Exception as e:
            if type(out) is not type(e):
                bad[case.id] = f"eager raised {e!r}, jit gave {out!r}"
            continue
        if isinstance(out, Exception):
            bad[case.id] = repr(out)
            continue
        try:
            assert_same(out, expected, rtol=1e-12, atol=1e-12)
        except AssertionError as e:
            bad[case.id] = str(e)[:300]
    return bad, fell_back


def _unexpected_fallbacks(fell_back, allowed):
    return sorted(i for i in fell_back if i.split("-")[0] not in allowed)


@pytest.mark.parametrize(
    "kind, wrap, allowed",
    [("value", lambda f: f, ALWAYS_READS), ("vjp", _vjp_of, ALWAYS_READS),
     ("jvp", _jvp_of, ALWAYS_READS)],
    ids=["value", "vjp", "jvp"],
)  # fmt: skip
def test_systematic_cases_replay_on_new_values(kind, wrap, allowed):
    """Every op case of test_ops_systematic: value, VJP and JVP replayed on new values
    equal eager; only the known value-reading ops fall back."""
    bad, fell_back = _sweep(CASES, wrap)
    assert not bad, bad
    assert not _unexpected_fallbacks(fell_back, allowed)


def test_systematic_scalar_cases_with_python_floats():
    """The all-scalar cases with Python-float arguments (the math-module path)."""
    bad, fell_back = _sweep(SCALAR_CASES, lambda f: f, float_args=True)
    assert not bad, bad
    assert not _unexpected_fallbacks(fell_back, ALWAYS_READS)
    bad, _ = _sweep(SCALAR_CASES, _vjp_of, float_args=True)
    assert not bad, bad


# --- transformations inside jit -----------------------------------------------------


SCALAR_FNS = {
    "tanh": lambda x, w: tnp.sum(tnp.tanh(x @ w)),
    "exp": lambda x, w: tnp.sum(tnp.exp(0.5 * x)) * tnp.sum(w),
    "log": lambda x, w: tnp.sum(tnp.log(1.0 + (x @ w) ** 2)),
    "sin-mul": lambda x, w: tnp.sum(tnp.sin(x) * x) + tnp.sum(w * w * w),
    "matmul-mean": lambda x, w: tnp.mean((x @ w) ** 2),
    "max": lambda x, w: tnp.max(x @ w) + tnp.sum(tnp.max(x, axis=0)),
    "where": lambda x, w: tnp.sum(tnp.where(x @ w > 0, (x @ w) ** 2, -(x @ w))),
    "maximum": lambda x, w: tnp.sum(tnp.maximum(x @ w, 0.3 * (x @ w))),
    "relu": lambda x, w: tnp.sum(tnp.maximum(x @ w, 0.0) * w[0]),
    "softmax": lambda x, w: tnp.sum(tnp.softmax(x @ w, axis=-1) * np.array([1.0, -2.0])),
    "logsumexp": lambda x, w: tnp.logsumexp(x @ w) + tnp.sum(tnp.logsumexp(x, axis=1)),
    "slices": lambda x, w: (
        tnp.sum(x[1:, ::2] * x[:-1, ::2]) + tnp.sum(tnp.sin(w[:, 1:]) ** 2) + tnp.sum(x[-1] @ w)
    ),
}


def _vjp_scalar(f):
    def run(x, w, ct):
        out, back = tg.vjp(f, x, w)
        return out, back(ct)

    return run


def _jvp_scalar(f):
    def run(x, w, tx, tw):
        return tg.jvp(f, (x, w), (tx, tw))

    return run


TRANSFORMS = {
    "value_and_grad": (lambda f: tg.value_and_grad(f, argnums=(0, 1)), 0),
    "grad": (lambda f: tg.grad(f), 0),
    "grad-argnums-1-0": (lambda f: tg.grad(f, argnums=(1, 0)), 0),
    "vjp": (_vjp_scalar, 1),  # extra arguments: a cotangent
    "jvp": (_jvp_scalar, 2),  # two tangents
    "jacfwd": (lambda f: tg.jacfwd(f, argnums=(0, 1)), 0),
    "jacrev": (lambda f: tg.jacrev(f, argnums=(0, 1)), 0),
    "hessian": (lambda f: tg.hessian(f), 0),
}

#: (function, transformation) pairs that run eagerly under jit: under the batching of
#: jacfwd, jacrev and hessian the rules of max/maximum/relu see batched values, not
#: staged ones, and read them through get_value
KNOWN_FALLBACKS = {
    (f, t) for f in ("max", "maximum", "relu") for t in ("jacfwd", "jacrev", "hessian")
}


def _transform_args(n_extra: int, seed: int):
    x, w = _xw(seed)
    rng = _rng(seed + 100)
    if n_extra == 1:
        return x, w, float(rng.standard_normal())
    if n_extra == 2:
        return x, w, rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    return x, w


def _run_with_fallback_record(j, args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = j(*args)
    return out, any(issubclass(w.category, JitFallbackWarning) for w in caught)


@pytest.mark.parametrize("tname", TRANSFORMS)
@pytest.mark.parametrize("fname", SCALAR_FNS)
def test_transformation_inside_jit_matches_eager(fname, tname):
    """jit(T(f)) equals T(f) on values other than the traced ones; only the known pairs
    fall back (and they still give the eager values)."""
    make, n_extra = TRANSFORMS[tname]
    fn = make(SCALAR_FNS[fname])
    j = tg.jit(fn)
    fell_back = False
    for seed in (20, 21, 22):
        args = _transform_args(n_extra, seed)
        out, warned = _run_with_fallback_record(j, args)
        fell_back |= warned
        assert_same(out, fn(*args), rtol=1e-11, atol=1e-12)
    if fell_back:
        assert (fname, tname) in KNOWN_FALLBACKS, f"unexpected fallback: {fname} under {tname}"
        assert j.program(*_transform_args(n_extra, 20)) is None
    else:
        assert j.program(*_transform_args(n_extra, 20)) is not None
    assert _n_programs(j) == 1


VECTOR_FNS = {
    "tanh-matmul": lambda x, w: tnp.tanh(x @ w),
    "softmax": lambda x, w: tnp.softmax(x @ w, axis=-1),
    "slices": lambda x, w: x[1:, :2] * x[:-1, 1:] + w[::-1] * x[:3, 2:],
    "where": lambda x, w: tnp.where(x[:, :2] > 0, x[:, :2] * w[0], tnp.exp(x[:, :2])),
    "exp-log": lambda x, w: tnp.exp(x[:, :2]) * tnp.log(1.0 + w[0] ** 2),
}


@pytest.mark.parametrize("tname", ["vjp", "jvp", "jacfwd", "jacrev"])
@pytest.mark.parametrize("fname", VECTOR_FNS)
def test_transformation_of_vector_function_inside_jit(fname, tname):
    """Array-valued functions: vjp with an array cotangent, jvp, full Jacobians."""
    f = VECTOR_FNS[fname]
    if tname == "vjp":

        def fn(x, w, ct):
            out, back = tg.vjp(f, x, w)
            return out, back(ct)

        out_shape = np.shape(f(*XW[0]))
        extra = lambda rng: (rng.standard_normal(out_shape),)
    elif tname == "jvp":
        fn = lambda x, w, tx, tw: tg.jvp(f, (x, w), (tx, tw))
        extra = lambda rng: (rng.standard_normal((4, 3)), rng.standard_normal((3, 2)))
    else:
        fn = getattr(tg, tname)(f, argnums=(0, 1))
        extra = lambda rng: ()
    arg_sets = [(*_xw(s), *extra(_rng(s + 50))) for s in (30, 31, 32)]
    check_replays(fn, arg_sets, rtol=1e-11)


def test_grad_with_has_aux_and_keyword_arguments_inside_jit():
    """has_aux outputs and keyword arguments (traced) pass through a jitted grad."""

    def loss(x, w, *, scale):
        y = x @ w
        return scale * tnp.sum(y**2), {"y": y, "mean": tnp.mean(y)}

    fn = tg.grad(loss, argnums=(0, 1), has_aux=True)
    check_replays(fn, XW, kwargs={"scale": 0.5})
    j = tg.jit(fn)
    j(*XW[0], scale=0.5)
    for (x, w), s in zip(XW[1:], (2.0, -1.5)):
        assert_same(j(x, w, scale=s), fn(x, w, scale=s))
    # keyword order does not matter: the same program
    two = lambda x, *, a, b: x * a - b
    j2 = tg.jit(two)
    assert_same(j2(XW[0][0], a=2.0, b=1.0), two(XW[0][0], a=2.0, b=1.0))
    assert_same(j2(XW[1][0], b=-3.0, a=0.5), two(XW[1][0], a=0.5, b=-3.0))
    assert _n_programs(j) == 1 and _n_programs(j2) == 1


def test_hvp_and_nested_grads_inside_jit():
    """Second order: grad of grad, hvp, hessian of a scalar function of one array."""
    f = lambda x: tnp.sum(tnp.sin(x) ** 2 * tnp.exp(-x))
    xs = [(_rng(s).standard_normal(5),) for s in (1, 2, 3)]
    check_replays(tg.grad(lambda x: tnp.sum(tg.grad(f)(x) ** 2)), xs)
    check_replays(tg.hessian(f), xs)
    vs = [(x, _rng(7 + k).standard_normal(5)) for k, (x,) in enumerate(xs)]
    check_replays(lambda x, v: tg.hvp(f, (x,), (v,)), vs)


def test_float32_stays_float32_through_a_jitted_gradient():
    f = SCALAR_FNS["tanh"]
    vg = tg.value_and_grad(f, argnums=(0, 1))
    arg_sets = [tuple(a.astype(np.float32) for a in xw) for xw in XW]
    j = check_replays(vg, arg_sets, rtol=1e-6, atol=1e-6)
    value, (gx, gw) = j(*arg_sets[1])
    assert np.result_type(value) == gx.dtype == gw.dtype == np.float32


def test_gradient_of_0d_array_is_a_0d_array_under_jit():
    """grad w.r.t. a 0-d array is a 0-d array (tests/test_transforms.py), jitted or not."""
    g = tg.grad(lambda x: tnp.sin(x) * x)
    j = tg.jit(g)
    for x in (np.array(0.5), np.array(0.7)):
        out = j(x)
        assert type(out) is np.ndarray and out.shape == ()
        np.testing.assert_allclose(out, g(x), rtol=1e-12)


# --- pytrees, Python numbers, keyword and static arguments --------------------------


def _tree_args(seed: int):
    rng = _rng(seed)
    return (
        {"w": rng.standard_normal(3), "b": float(rng.standard_normal())},
        (rng.standard_normal(2),),
        [float(rng.uniform(1, 2)), rng.standard_normal(2)],
        Pair(rng.standard_normal(1), np.float32(rng.standard_normal())),
        int(rng.integers(1, 9)),
        None,
    )


def _tree_fn(d, t, lst, p, n, nothing, *, k):
    assert nothing is None
    return {
        "o": d["w"] * d["b"] + n,
        "t": (t[0] * lst[1], None),
        "p": Pair(p.a + k, p.b * 2),
        "n": n * 2,
        "scalar": lst[0] * k,
        "passed": d["b"],
        "list": [tnp.sum(d["w"]) / n, lst[1]],
    }


def test_pytree_inputs_and_outputs():
    """dict/tuple/list/namedtuple in and out, float/int/np.float32 leaves, None, kwargs."""
    j = tg.jit(_tree_fn)
    for seed, k in [(1, 1.5), (2, -0.5), (3, 2.25)]:
        args = _tree_args(seed)
        out = j(*args, k=k)
        assert_same(out, _tree_fn(*args, k=k))
        assert type(out["p"]) is Pair and out["t"][1] is None
        assert out["p"].b.dtype == np.float32
    assert _n_programs(j) == 1
    assert j.program(*_tree_args(1), k=1.0).n_inputs == 9  # every number leaf, kwargs too


def test_python_number_leaves_are_traced_not_baked_in():
    """Python floats, ints and bools are inputs of the program: new values, no retrace."""

    def f(x, s, n, flag):
        return x * s + n, s * s, n * 3, x * flag

    arg_sets = [(XW[0][0], 2.0, 3, True), (XW[1][0], -1.5, 7, False), (XW[2][0], 0.25, -2, True)]
    check_replays(f, arg_sets)


@pytest.mark.parametrize(
    "f",
    [
        lambda x, n: tnp.mean(x, axis=n),
        lambda x, n: tnp.var(x, axis=n),
        lambda x, n: tnp.std(x, axis=n),
        lambda x, n: tnp.moveaxis(x, n, 1),
        lambda x, n: tnp.flip(x, axis=n),
        lambda x, n: tnp.tile(x, n),
    ],
    ids=["mean", "var", "std", "moveaxis", "flip", "tile"],
)
def test_python_int_leaf_as_an_axis(f):
    """An int argument used as an axis: the eager result (a fallback would be fine)."""
    x = _rng(0).standard_normal((3, 4))
    j = tg.jit(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JitFallbackWarning)
        for n in (0, 1, 0):
            assert_same(j(x * (n + 1), n), f(x * (n + 1), n))


def test_numpy_scalar_types_are_part_of_the_key():
    f = lambda x, s: tnp.sin(x) * s
    j = tg.jit(f)
    x = XW[0][0]
    for s in (np.float64(0.5), np.float64(1.5), np.float32(0.5), 0.5):
        assert_same(j(x, s), f(x, s))
    assert _n_programs(j) == 3


def test_non_numeric_leaves_are_static_by_value():
    """Strings (and other hashable non-numbers) are part of the key by value."""

    def f(params):
        act = {"tanh": tnp.tanh, "sin": tnp.sin}[params["act"]]
        return act(params["x"])

    j = tg.jit(f)
    for act in ("tanh", "sin", "tanh"):
        for x, _ in XW[:2]:
            assert_same(j({"act": act, "x": x}), f({"act": act, "x": x}))
    assert _n_programs(j) == 2


def test_static_argnums_select_programs():
    """Different static values: different programs (each correct on new values)."""

    def power_sum(x, n):
        out = x
        for _ in range(n - 1):  # Python control flow on a static argument
            out = out * x
        return tnp.sum(out)

    j = tg.jit(power_sum, static_argnums=1)
    xs = [xw[0] for xw in XW]
    for n in (2, 3, 2):
        for x in xs:
            assert_same(j(x, n), power_sum(x, n))
    assert _n_programs(j) == 2
    assert len(j.program(xs[0], 3)) > len(j.program(xs[0], 2))
    # negative positions, and the decorator form
    jn = tg.jit(static_argnums=(-1,))(power_sum)
    assert_same(jn(xs[1], 4), power_sum(xs[1], 4))
    assert jn.program(xs[2], 4) is not None


def test_static_argnames_with_traced_keywords():
    def f(x, *, scale, mode):
        return tnp.sum(x) * scale if mode == "sum" else tnp.mean(x) * scale

    j = tg.jit(f, static_argnames=("mode",))
    for mode in ("sum", "mean"):
        for (x, _), s in zip(XW, (1.0, 2.0, -3.0)):
            assert_same(j(x, scale=s, mode=mode), f(x, scale=s, mode=mode))
    assert _n_programs(j) == 2


def test_static_argnames_when_all_keywords_are_static():
    def f(x, mode="sum"):
        return tnp.sum(x) if mode == "sum" else tnp.mean(x)

    j = tg.jit(f, static_argnames="mode")
    for mode in ("sum", "mean"):
        for x, _ in XW:
            assert_same(j(x, mode=mode), f(x, mode=mode))
    # with a second positional argument the bug made the call go wrong differently
    g = tg.jit(lambda p, b, mode="a": p["w"] * b["x"], static_argnames="mode")
    p, b = {"w": XW[0][0]}, {"x": XW[1][0]}
    assert_same(g(p, b, mode="a"), p["w"] * b["x"])


def test_unhashable_static_argument_is_a_type_error_naming_it():
    j = tg.jit(lambda x, n, mode="a": x * len(n), static_argnums=1, static_argnames="mode")
    x = XW[0][0]
    with pytest.raises(TypeError, match="static argument 1 must be hashable"):
        j(x, [1, 2])
    with pytest.raises(TypeError, match="argument 'mode' must be hashable"):
        j(x, (1, 2), mode=["a"])


def test_constant_outputs_are_fresh_copies():
    """A constant array returned by a replay is a new copy on every call: writing into
    one result does not change the next."""
    table = np.arange(4.0)

    def f(x):
        return x * 2.0, np.ones(3), table * 2.0, None

    j = tg.jit(f)
    j(XW[0][0])
    for x, _ in XW[1:] + XW[:1]:
        out = j(x)
        assert_same(out, f(x))
        assert out[3] is None
        out[1][0] = 99.0
        out[2][:] = -7.0
    np.testing.assert_array_equal(table, np.arange(4.0))


def test_writing_into_the_tracing_calls_result_does_not_change_replays():
    def f(x):
        c = np.ones(3)  # a new array on every eager call
        return x * c, c

    j = tg.jit(f)
    first = j(XW[0][0][0])
    first[1][0] = 99.0
    for x in (XW[1][0][0], XW[2][0][0]):
        assert_same(j(x), f(x))


def test_jitted_method_binds_its_instance():
    """``@tg.jit`` on a method: the instance is a (static) first argument, so each
    instance gets its own program and its own attributes."""

    class Scaled:
        def __init__(self, k):
            self.k = k

        @tg.jit
        def apply(self, x):
            return tnp.sin(x) * self.k

    a, b = Scaled(2.0), Scaled(-3.0)
    for x, _ in XW:
        assert_same(a.apply(x), np.sin(x) * 2.0)
        assert_same(b.apply(x), np.sin(x) * -3.0)
    assert _n_programs(Scaled.apply) == 2


def test_input_passed_through_and_python_side_effects_happen_once():
    """An output that is an input is that input; side effects belong to the trace."""
    calls = []

    def f(x, y):
        calls.append(1)
        return x, y * 2.0

    j = tg.jit(f)
    for x, w in XW:
        out = j(x, w)
        assert out[0] is x
        assert_same(out, f(x, w))
    assert len(calls) == 1 + len(XW)  # one trace, and the eager calls above


# --- nn: training steps, BatchNorm --------------------------------------------------


N_CLASSES = 3


def _batches(kind: str, n_steps: int, seed: int = 0):
    rng = _rng(seed)
    out = []
    for _ in range(n_steps):
        X = rng.standard_normal((8, 4))
        labels = rng.integers(0, N_CLASSES, 8)
        if kind == "labels":
            y = labels
        elif kind == "onehot":
            y = np.eye(N_CLASSES)[labels]
        else:
            z = rng.standard_normal((8, N_CLASSES))
            y = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        out.append((X, y))
    return out


def _make_step(opt):
    def loss(model, X, y):
        return nn.cross_entropy(model(X), y) + nn.l2_penalty(model, 1e-2)

    def step(model, state, X, y):
        value, grads = tg.value_and_grad(loss)(model, X, y)
        model, state = opt.update(model, grads, state)
        return model, state, value

    return step


OPTIMIZERS = {
    "sgd": lambda: optim.SGD(0.1),
    "sgd-momentum": lambda: optim.SGD(0.1, momentum=0.9),
    "sgd-nesterov": lambda: optim.SGD(0.05, momentum=0.8, nesterov=True),
    "adam": lambda: optim.Adam(0.01),
}


@pytest.mark.parametrize("kind", ["labels", "onehot", "probs"])
@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_jitted_training_step_matches_eager(opt_name, kind):
    """Several steps of an MLP, jitted and eager from the same start: equal losses,
    parameters and optimiser states after every step."""
    opt = OPTIMIZERS[opt_name]()
    step = _make_step(opt)
    jstep = tg.jit(step)
    model = nn.MLP([4, 6, N_CLASSES], "tanh", rng=0)
    m_jit, s_jit = model, opt.init(model)
    m_eager, s_eager = model, opt.init(model)
    for X, y in _batches(kind, 5):
        m_jit, s_jit, l_jit = jstep(m_jit, s_jit, X, y)
        m_eager, s_eager, l_eager = step(m_eager, s_eager, X, y)
        assert_same(l_jit, l_eager, rtol=1e-12, atol=1e-14)
        assert_same(m_jit, m_eager, rtol=1e-12, atol=1e-14)
        assert_same(s_jit, s_eager, rtol=1e-12, atol=1e-14)
    # the last steps were replays of one program: the int step count stays a Python int
    # (Python arithmetic on Python numbers), so the signature does not change
    assert jstep.program(m_jit, s_jit, X, y) is not None
    assert _n_programs(jstep) == 1
    assert type(s_jit.step) is int


def test_labels_are_validated_on_every_replay():
    """Out-of-range labels raise on a replay, not only on the tracing call."""
    opt = optim.SGD(0.1)
    jstep = tg.jit(_make_step(opt))
    model = nn.MLP([4, 6, N_CLASSES], "tanh", rng=0)
    state = opt.init(model)
    (X, y), (X2, y2) = _batches("labels", 2)
    jstep(model, state, X, y)
    for bad in (np.array([0, 1, 2, 3, 0, 1, 2, 0]), np.array([0, 1, -1, 2, 0, 1, 2, 0])):
        with pytest.raises(ValueError, match="class labels must lie in"):
            jstep(model, state, X2, bad)
    assert_same(jstep(model, state, X2, y2), _make_step(opt)(model, state, X2, y2))
    assert _n_programs(jstep) == 1


def _bn_model(affine=True):
    return nn.Sequential(
        nn.Linear(4, 5, rng=0), nn.BatchNorm(5, affine=affine), "tanh", nn.Linear(5, 3, rng=1)
    )


def test_batchnorm_eval_mode_keys_on_running_statistics():
    """Models with other running statistics (buffers: part of the key by identity) get
    their own program; each replays with its own statistics."""
    model = _bn_model()
    X1, X2, X3 = (_rng(s).standard_normal((6, 4)) for s in (1, 2, 3))
    _, state = model.apply(3.0 * X3 + 1.0, train=True)
    other = model.with_state(state)
    fwd = tg.jit(lambda m, x: m(x))
    assert_same(fwd(model, X1), model(X1))
    assert_same(fwd(other, X2), other(X2))
    assert_same(fwd(model, X2), model(X2))
    assert _n_programs(fwd) == 2
    assert fwd.program(model, X1) is not fwd.program(other, X1)
    # new parameters, same buffers: the same program, the new parameters
    w = model.layers[0].weight
    changed = model.replace(layers=[model.layers[0].replace(weight=w * 2.0), *model.layers[1:]])
    assert_same(fwd(changed, X3), changed(X3))
    assert _n_programs(fwd) == 2


@pytest.mark.parametrize("which", ["batchnorm-no-affine", "standardize"])
def test_buffers_of_parameterless_modules_are_in_the_key(which):
    X1, X2 = _rng(1).standard_normal((6, 4)), _rng(2).standard_normal((6, 4))
    if which == "standardize":
        model = nn.Sequential(nn.Standardize.fit(X1), nn.Linear(4, 3, rng=0))
        other = nn.Sequential(nn.Standardize.fit(3.0 * X2 + 2.0), model.layers[1])
    else:
        model = _bn_model(affine=False)
        other = model.with_state(model.apply(3.0 * X2 + 1.0, train=True)[1])
    fwd = tg.jit(lambda m, x: m(x))
    fwd(model, X1)
    assert_same(fwd(other, X2), other(X2))


def test_batchnorm_training_mode_falls_back_with_correct_values():
    """Training mode reads the batch statistics (stop_gradient, np.asarray): it runs
    eagerly, warning once, with the eager loss, gradients and new running statistics."""

    def step(model, X):
        def loss(m):
            y, state = m.apply(X, train=True)
            return tnp.mean(y**2), state

        (value, state), grads = tg.value_and_grad(loss, has_aux=True)(model)
        return value, grads, state

    model = _bn_model()
    j = tg.jit(step)
    X1, X2, X3 = (_rng(s).standard_normal((6, 4)) for s in (4, 5, 6))
    with pytest.warns(JitFallbackWarning, match="reads the value"):
        assert_same(j(model, X1), step(model, X1))
    for X in (X2, X3):
        assert_same(j(model, X), step(model, X))  # no second warning (errors here)
    assert j.program(model, X1) is None


def test_dropout_with_static_seed():
    """Random generators are refused as arguments; a static seed gives the eager mask."""
    model = nn.Sequential(nn.Linear(3, 40, rng=0), nn.Dropout(0.5))
    X = _rng(0).standard_normal((4, 3))
    f = lambda m, x, seed: m.apply(x, train=True, rng=seed)[0]
    with pytest.raises(TypeError, match="random generator"):
        tg.jit(f)(model, X, np.random.default_rng(0))
    j = tg.jit(f, static_argnums=2)
    for seed, scale in [(1, 1.0), (2, 2.0), (1, -3.0), (2, 0.5)]:
        assert_same(j(model, X * scale, seed), f(model, X * scale, seed))
    assert not np.array_equal(j(model, X, 1) != 0, j(model, X, 2) != 0)
    assert _n_programs(j) == 2


def test_dropout_with_a_closed_over_generator_is_not_replayed():
    """A generator from outside draws new masks on every call: jit must not replay the
    first call's mask, so it runs the function as it is (warning once)."""
    model = nn.Sequential(nn.Linear(3, 40, rng=0), nn.Dropout(0.5))
    X = _rng(0).standard_normal((4, 3))
    gen = np.random.default_rng(7)
    j = tg.jit(lambda m, x: m.apply(x, train=True, rng=gen)[0])
    with pytest.warns(JitFallbackWarning, match="draws random numbers"):
        first = j(model, X)
    masks = [first != 0] + [j(model, X) != 0 for _ in range(3)]
    assert j.program(model, X) is None
    assert not all(np.array_equal(masks[0], m) for m in masks[1:])


def test_dropout_with_a_traced_seed_falls_back_with_each_calls_mask():
    """A seed passed as a (traced) int argument is read: each call draws its own mask."""
    model = nn.Sequential(nn.Linear(3, 40, rng=0), nn.Dropout(0.5))
    X = _rng(0).standard_normal((4, 3))
    f = lambda m, x, seed: m.apply(x, train=True, rng=seed)[0]  # noqa: E731
    j = tg.jit(f)
    with pytest.warns(JitFallbackWarning, match="index"):
        assert_same(j(model, X, 1), f(model, X, 1))
    for seed in (2, 1, 3):
        assert_same(j(model, X, seed), f(model, X, seed))


# --- fallback: functions that read traced values ------------------------------------


def _branchy(x):
    if tnp.sum(x) > 0:
        return tnp.sin(x) * 2.0
    return tnp.cos(x) - x


def test_value_dependent_branch_falls_back_once_and_stays_correct():
    j = tg.jit(_branchy)
    pos, neg = np.array([1.0, 2.0, -0.5]), np.array([-1.0, 0.3, -0.5])
    with pytest.warns(JitFallbackWarning, match="Python bool"):
        assert_same(j(pos), _branchy(pos))
    for x in (neg, pos * 0.5, neg * 2.0):  # both branches, no further warning
        assert_same(j(x), _branchy(x))
    assert j.program(pos) is None
    # a new signature is traced (and warns) again
    with pytest.warns(JitFallbackWarning):
        assert_same(j(np.ones(4)), _branchy(np.ones(4)))


READS = {
    "float": (lambda x: x * float(tnp.sum(x)), "Python float"),
    "int": (lambda x: x[: int(tnp.sum(x > 0))] * 2.0, "Python int"),
    "np.asarray": (lambda x: x * np.asarray(x).max(), "NumPy array"),
    "get_value": (lambda x: x * get_value(tnp.mean(x)), "get_value"),
    "while": (lambda x: _halve_until_small(x), "Python bool"),
    "int-leaf-range": (lambda x, n: sum(x * i for i in range(n)), "index"),
}


def _halve_until_small(x):
    while tnp.max(tnp.abs(x)) > 1.0:
        x = x / 2.0
    return x


@pytest.mark.parametrize("name", READS)
def test_reading_a_traced_value_falls_back(name):
    """Each kind of read warns (naming it), and every call gives the eager result."""
    f, what = READS[name]
    arg_sets = [
        (np.array([1.5, -2.0, 3.0]),),
        (np.array([-1.0, 4.0, 0.5]),),
        (np.array([0.1, 0.2, -9.0]),),
    ]
    if name == "int-leaf-range":
        arg_sets = [(a, n) for (a,), n in zip(arg_sets, (2, 3, 4))]
    j = tg.jit(f)
    with pytest.warns(JitFallbackWarning, match=what):
        assert_same(j(*arg_sets[0]), f(*arg_sets[0]))
    for args in arg_sets[1:]:
        assert_same(j(*args), f(*args))
    assert j.program(*arg_sets[0]) is None


@pytest.mark.parametrize("make", [lambda r: r.standard_normal(4), lambda r: float(r.normal())])
def test_stop_gradient_inside_jit_is_replayed_with_eager_values(make):
    """stop_gradient inside a jitted gradient cuts the derivative and keeps the value
    staged: the function is replayed (a straight-through estimator, on arrays and
    floats), with eager's values on every call."""
    f = lambda x: tnp.sum(x + tg.stop_gradient(tnp.round(3.0 * x) / 3.0 - x) * tnp.sin(x))
    fn = tg.value_and_grad(f)
    j = tg.jit(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("error", JitFallbackWarning)
        for s in (1, 2, 3):
            x = make(_rng(s))
            assert_same(j(x), fn(x))
    assert len(j.program(make(_rng(1)))) > 0


def test_stop_gradient_on_a_value_staged_above_a_gradient_cuts_it():
    """Inside jit inside grad, a staged value may carry the enclosing gradient's box (the
    jitted function closes over a traced value): stop_gradient still cuts it (and jit,
    which read it, runs the function as it is)."""

    def outer(x):
        inner = tg.jit(lambda y: tg.stop_gradient(y * x) * x + y, warn=False)
        return inner(2.0)

    assert tg.grad(outer)(3.0) == pytest.approx(6.0)  # d/dx of c·x with c = 2x = 6


@pytest.mark.parametrize(
    "f",
    [
        lambda x: tnp.mean(x[x > 0]),
        lambda x: tnp.sum(x[x > 0]) / x[x > 0].shape[0],
        lambda x: tnp.var(x[x > 0]),
        tg.grad(lambda x: tnp.mean(x[x > 0] ** 2)),
    ],
    ids=["mean", "shape", "var", "grad-mean"],
)
def test_boolean_mask_with_data_dependent_size(f):
    x1, x2 = np.array([1.0, -2.0, 3.0, 4.0]), np.array([1.0, -2.0, -3.0, 4.0])
    j = tg.jit(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JitFallbackWarning)  # falling back would be fine
        j(x1)
        assert_same(j(x2), f(x2))


def test_closure_over_a_value_of_an_enclosing_grad():
    """jit inside grad, closing over grad's traced value: the right derivative."""
    with pytest.warns(JitFallbackWarning, match="enclosing transformation"):
        g = tg.grad(lambda x: tg.jit(lambda y: x * y)(2.0))(3.0)
    assert g == pytest.approx(2.0, rel=1e-15)
    w = np.array([0.5, -1.0, 2.0])
    f = lambda x: tnp.sum(tg.jit(lambda y: tnp.sin(x) * y)(w))
    with pytest.warns(JitFallbackWarning):
        g = tg.grad(f)(np.array([0.1, 0.2, 0.3]))
    np.testing.assert_allclose(g, np.cos([0.1, 0.2, 0.3]) * w, rtol=1e-14)


def test_transformations_of_a_jitted_function():
    """grad/jacfwd/hessian of jit(f) differentiate f; they do not fill jit's cache."""
    f = lambda x: tnp.sum(tnp.sin(x) * x)
    j = tg.jit(f)
    x = np.array([0.3, -1.1, 0.7])
    np.testing.assert_allclose(tg.grad(j)(x), np.cos(x) * x + np.sin(x), rtol=1e-14)
    np.testing.assert_allclose(tg.jacfwd(j)(x), np.cos(x) * x + np.sin(x), rtol=1e-14)
    np.testing.assert_allclose(
        tg.hessian(j)(x), np.diag(2 * np.cos(x) - x * np.sin(x)), rtol=1e-14, atol=1e-15
    )
    assert tg.grad(j)(0.7) == pytest.approx(np.cos(0.7) * 0.7 + np.sin(0.7), rel=1e-14)
    assert _n_programs(j) == 0
    j(x)  # a plain call after that still traces and replays
    assert_same(j(x * 2.0), f(x * 2.0))
    assert _n_programs(j) == 1


def test_jit_of_jit():
    """An inner jitted function called on staged values runs inside the outer program."""
    inner = tg.jit(lambda x: tnp.exp(x) * 2.0)
    outer_fn = lambda x: tnp.sum(inner(x) * x)
    check_replays(tg.value_and_grad(outer_fn), [(xw[0],) for xw in XW])
    assert _n_programs(inner) == 0


# --- errors -------------------------------------------------------------------------


def test_jit_of_a_non_callable_is_a_type_error():
    with pytest.raises(TypeError, match="expected a function"):
        tg.jit(3)
    with pytest.raises(TypeError, match="expected a function"):
        tg.jit(static_argnums=0)("f")


def test_shape_error_propagates_and_nothing_is_cached():
    f = lambda a, b: tnp.sum(tnp.tanh(a @ b))
    j = tg.jit(f)
    a = np.ones((2, 3))
    with pytest.raises(ShapeError, match="matmul"):
        j(a, a)
    assert _n_programs(j) == 0 and trace_stack() == []
    with pytest.raises(ShapeError):
        j(a, a)  # traced (and raised) again: no broken program was kept
    b1, b2 = _rng(1).standard_normal((3, 2)), _rng(2).standard_normal((3, 2))
    check_replays(f, [(a, b1), (a * 0.5, b2)])


def test_error_raised_by_a_replay_is_the_eager_error():
    """A replay raises what eager evaluation raises on the same values."""
    f = lambda a: tnp.sum(tnp.linalg.inv(a))
    j = tg.jit(f)
    assert_same(j(np.eye(2) * 2.0), f(np.eye(2) * 2.0))
    singular = np.ones((2, 2))
    with pytest.raises(np.linalg.LinAlgError):
        f(singular)
    with pytest.raises(np.linalg.LinAlgError):
        j(singular)
    assert_same(j(np.eye(2) * 4.0), f(np.eye(2) * 4.0))


def test_escaped_staged_value_raises():
    """A staged value kept past the call cannot be used: the library's escape error."""
    leaked = []

    def f(x):
        leaked.append(x * 2.0)
        return x + 1.0

    j = tg.jit(f)
    j(np.ones(2))
    with pytest.raises(RuntimeError, match="escaped"):
        leaked[0] + 1.0
    with pytest.raises(RuntimeError, match="escaped"):
        tnp.sin(leaked[0])
    assert_same(j(np.full(2, 3.0)), np.full(2, 4.0))
    assert len(leaked) == 1  # replays do not run f


# --- program introspection ----------------------------------------------------------


def test_program_repr_source_and_direct_call():
    def f(x, w):
        return tnp.sum(tnp.tanh(x @ w)), x * 2.0, np.zeros(2)

    j = tg.jit(f)
    prog = j.program(*XW[0])
    assert isinstance(prog, Program) and prog.n_inputs == 2
    lines = repr(prog).splitlines()
    assert lines[0] == f"Program(2 inputs, {len(prog)} equations)"
    assert len(lines) == len(prog) + 2
    body = "\n".join(lines[1:-1])
    for name in ("matmul", "tanh"):
        assert name in body
    assert lines[-1].strip().startswith("return [") and "const" in lines[-1]
    compiled = j.compiled(*XW[0])
    assert compiled.program is prog and compiled.source.startswith("def program(v0, v1):")
    compile(compiled.source, "<test>", "exec")
    x, w = XW[1]
    out = compiled.function(x, w)
    assert_same(tuple(out), f(x, w))
    # program() traced it: calls now replay that program
    assert_same(j(x, w), f(x, w))
    assert _n_programs(j) == 1


def test_program_inputs_count_traced_leaves_only():
    j = tg.jit(lambda d, s, name, n: d["x"] * s + n, static_argnums=2)
    prog = j.program({"x": XW[0][0], "z": None, "tag": "static"}, 2.5, "name", 3)
    assert prog.n_inputs == 3  # x, s and n: not the None, the string or the static argument


def test_jitted_function_keeps_name_doc_and_repr():
    def my_loss(x):
        """Docstring of my_loss."""
        return tnp.sum(x)

    j = tg.jit(my_loss)
    assert j.__name__ == "my_loss" and j.__doc__ == "Docstring of my_loss."
    assert "my_loss" in repr(j)


# --- property test ------------------------------------------------------------------


def _composite(x, w):
    y = x @ w
    return (
        tnp.sum(tnp.tanh(y) * tnp.sigmoid(y))
        + tnp.logsumexp(x)
        + tnp.mean(tnp.maximum(x, 0.1))
        + tnp.sum(x[:, :1] * w[0] ** 2)
    )


_COMPOSITE_VG = tg.value_and_grad(_composite, argnums=(0, 1))
_JITTED_COMPOSITE_VG = tg.jit(_COMPOSITE_VG)  # shared by the examples: replays across them


@given(data=st.data(), n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 3))
def test_property_jitted_value_and_grad_equals_eager(data, n, k, m):
    """Random shapes and values: jit(value_and_grad(f)) equals eager, on the tracing
    call and on replays with other values."""
    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)
    for _ in range(2):
        x = data.draw(hnp.arrays(np.float64, (n, k), elements=values))
        w = data.draw(hnp.arrays(np.float64, (k, m), elements=values))
        assert_same(_JITTED_COMPOSITE_VG(x, w), _COMPOSITE_VG(x, w), rtol=1e-10, atol=1e-12)


# --- threads ------------------------------------------------------------------------


def test_concurrent_calls_from_threads():
    """Threads tracing (at once, from an empty cache) and replaying one jitted function
    get their own correct results."""
    j = tg.jit(_COMPOSITE_VG)
    n_threads, n_calls = 4, 40
    inputs = [[_xw(1000 * t + i) for i in range(n_calls)] for t in range(n_threads)]
    expected = [[_COMPOSITE_VG(*xw) for xw in per] for per in inputs]
    barrier = threading.Barrier(n_threads)
    errors = []

    def work(t):
        try:
            barrier.wait()
            for xw, e in zip(inputs[t], expected[t]):
                assert_same(j(*xw), e)
        except Exception as exc:  # collected for the main thread
            errors.append((t, repr(exc)))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert _n_programs(j) == 1 and j.program(*inputs[0][0]) is not None


def test_python_numbers_keep_python_arithmetic():
    """Staged Python numbers combine with Python's operators, as the unstaged code would:
    ints stay exact ints, and a float division by zero raises."""
    square = tg.jit(lambda n: n * n + 1)
    assert square(3) == 10
    big = square(2**40)
    assert big == 2**80 + 1 and type(big) is int
    div = tg.jit(lambda x, y: x / y)
    assert div(1.0, 4.0) == 0.25
    with pytest.raises(ZeroDivisionError):
        div(1.0, 0.0)


# --- reads through text and plain NumPy ufuncs --------------------------------------


@pytest.mark.parametrize("read", [repr, str, lambda v: f"{v}"])
def test_a_branch_on_the_text_of_a_value_is_a_read(read):
    # the program would hold the first call's branch: 3·x for every later x
    def f(x):
        return x * (3.0 if "1." in read(x) else 5.0)

    jf = tg.jit(f)
    with pytest.warns(JitFallbackWarning, match="text"):
        np.testing.assert_array_equal(jf(np.ones(2)), [3.0, 3.0])
    np.testing.assert_array_equal(jf(np.full(2, 2.0)), [10.0, 10.0])


def test_a_plain_numpy_ufunc_on_a_staged_value_is_a_read():
    def f(x):
        return tnp.where(np.isnan(x), 0.0, x) + np.isnan(x).sum()

    jf = tg.jit(f)
    with pytest.warns(JitFallbackWarning, match=r"numpy\.isnan"):
        np.testing.assert_array_equal(jf(np.ones(2)), [1.0, 1.0])
    np.testing.assert_array_equal(jf(np.array([np.nan, 2.0])), [1.0, 3.0])


def test_a_plain_numpy_ufunc_under_grad_in_jit_still_names_the_fix():
    # a derivative would be lost: the error of eager code, not a silent read
    with pytest.raises(TypeError, match="tracegrad.numpy.isnan"):
        tg.jit(tg.grad(lambda x: tnp.sum(x * np.isnan(x))))(np.ones(2))


def test_operators_with_an_array_on_the_left_stay_traced():
    jf = tg.jit(lambda x: np.ones(2) * x + np.arange(2.0))
    np.testing.assert_array_equal(jf(np.ones(2)), [1.0, 2.0])
    assert jf.program(np.ones(2)) is not None
    np.testing.assert_array_equal(jf(np.full(2, 3.0)), [3.0, 4.0])
