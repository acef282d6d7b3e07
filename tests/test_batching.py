"""Batched tangents and cotangents (core/batching.py) against one-at-a-time passes.

``jacfwd`` pushes every input direction through one forward pass and ``jacrev`` pulls
every output element back through one backward sweep, both with a batch axis that the
primitives' batch rules carry. Each systematic op case is checked against the Jacobian
assembled from separate, unbatched JVPs, so a wrong batch rule (an axis off by one, a
batch axis summed away) fails here even when the derivative rules are right.
"""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp
from test_ops_systematic import CASES  # tests/ is on sys.path (rootdir conftest)
from tracegrad.core import batching


def _jacobian_by_loop(f, args, argnum):
    """Column by column: one plain (unbatched) JVP per input element."""
    x = np.asarray(args[argnum], dtype=float)
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = 1.0
        tangents = tuple(
            e.reshape(x.shape) if i == argnum else np.zeros(np.shape(a)) for i, a in enumerate(args)
        )
        cols.append(np.asarray(tg.jvp(f, args, tangents)[1], dtype=float))
    out_shape = np.shape(cols[0]) if cols else np.shape(f(*args))
    stacked = np.stack(cols, axis=-1) if cols else np.zeros(out_shape + (0,))
    return stacked.reshape(out_shape + x.shape)


# every case with float arguments; the largest shapes are skipped to keep this fast
_SMALL = [c for c in CASES if sum(np.size(a) for a in c.args) <= 30]


@pytest.mark.parametrize("case", _SMALL, ids=[c.id for c in _SMALL])
def test_batched_jacobians_match_unbatched_passes(case):
    for argnum, arg in enumerate(case.args):
        if not np.issubdtype(np.result_type(arg), np.floating):
            continue
        expected = _jacobian_by_loop(case.f, case.args, argnum)
        fwd = tg.jacfwd(case.f, argnums=argnum)(*case.args)
        rev = tg.jacrev(case.f, argnums=argnum)(*case.args)
        np.testing.assert_allclose(fwd, expected, rtol=1e-10, atol=1e-12, err_msg="jacfwd")
        np.testing.assert_allclose(rev, expected, rtol=1e-10, atol=1e-12, err_msg="jacrev")


def test_enough_cases_are_checked():
    assert len(_SMALL) > 500


def test_primitive_without_batch_rule_falls_back_to_a_loop():
    calls = []

    @tg.primitive
    def cube(x):
        calls.append(np.shape(x))
        return x**3

    tg.defvjp(cube, lambda g, out, x: g * 3 * x**2)
    tg.defjvp(cube, lambda t, out, x: t * 3 * x**2)
    assert cube.batch_rule is None
    x = np.array([0.5, -1.0, 2.0])
    J = tg.jacfwd(lambda x: cube(x) * 1.0)(x)
    np.testing.assert_allclose(J, np.diag(3 * x**2))
    J = tg.jacrev(lambda x: tnp.sum(cube(x)) * x)(x)
    np.testing.assert_allclose(J, np.outer(x, 3 * x**2) + np.eye(3) * np.sum(x**3))


def test_non_adjacent_integer_indices_fall_back_correctly():
    """x[[0, 1], :, [1, 0]] moves NumPy's gather axes first: the batch rule must not
    assume the batch axis stays in front."""
    x = np.arange(12.0).reshape(2, 3, 2) / 7 + 0.1

    def f(x):
        return x[[0, 1], :, [1, 0]] ** 2

    expected = _jacobian_by_loop(f, (x,), 0)
    np.testing.assert_allclose(tg.jacfwd(f)(x), expected)
    np.testing.assert_allclose(tg.jacrev(f)(x), expected)


@pytest.mark.parametrize(
    "sa, sb",
    [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
     ((3,), (5, 3, 2)), ((2, 3), (5, 3, 2))],
)  # fmt: skip
def test_matmul_batch_rule_every_rank_combination(sa, sb):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    for argnum in (0, 1):
        expected = _jacobian_by_loop(tnp.matmul, (a, b), argnum)
        np.testing.assert_allclose(tg.jacfwd(tnp.matmul, argnum)(a, b), expected, atol=1e-12)
        np.testing.assert_allclose(tg.jacrev(tnp.matmul, argnum)(a, b), expected, atol=1e-12)


def test_a_batch_against_one_matrix_is_one_matrix_product(monkeypatch):
    """jacrev's cotangents and jacfwd's tangents of ``A @ x`` are a batch of vectors
    against one matrix: one 2-D product, not NumPy's loop over a stack of matrices."""
    prim = tnp.matmul.primitive
    shapes = []
    impl = prim.impl

    def recording(a, b):
        shapes.append((np.shape(a), np.shape(b)))
        return impl(a, b)

    monkeypatch.setattr(prim, "impl", recording)
    rng = np.random.default_rng(2)
    A, B, x = rng.standard_normal((7, 4)), rng.standard_normal((7, 4)), rng.standard_normal(4)
    f = lambda z: tnp.tanh(A @ z) * (B @ z)  # noqa: E731
    want = (1 - np.tanh(A @ x) ** 2)[:, None] * A * (B @ x)[:, None] + np.tanh(A @ x)[:, None] * B
    for jac in (tg.jacrev, tg.jacfwd):
        shapes.clear()
        np.testing.assert_allclose(jac(f)(x), want, rtol=1e-12, atol=1e-12)
        batched = [s for s in shapes if len(s[0]) == len(s[1]) == 2]
        assert len(batched) == 2 and not [s for s in shapes if max(map(len, s)) > 2], shapes


@pytest.mark.parametrize("sa, sb", [((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((2, 3), (3,))])
def test_matmul_batch_rule_under_vmap_either_side(sa, sb):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((6,) + sa), rng.standard_normal((6,) + sb)
    for axes, args in (((0, None), (a, b[0])), ((None, 0), (a[0], b)), ((0, 0), (a, b))):
        got = tg.vmap(tnp.matmul, in_axes=axes)(*args)
        want = [np.matmul(*(v[i] if ax == 0 else v for v, ax in zip(args, axes))) for i in range(6)]
        np.testing.assert_allclose(got, np.stack(want), rtol=1e-12, atol=1e-12)


def test_batch_rules_are_defined_for_the_hot_primitives():
    """The loop fallback is correct but slow; the common primitives must not use it."""
    from test_registry import PRIMITIVES

    missing = sorted(n for n, p in PRIMITIVES.items() if p.batch_rule is None)
    assert not missing, f"primitives without a batch rule: {missing}"


def test_batch_box_reports_the_shape_of_one_example():
    seen = {}

    def f(t):
        seen["shape"], seen["ndim"], seen["len"] = t.shape, t.ndim, len(t)
        return [t * 2.0]

    (out,) = batching.batch_flat(f, [np.ones((5, 3, 2))], [True], 5)
    assert seen == {"shape": (3, 2), "ndim": 2, "len": 3}
    assert out.shape == (5, 3, 2)


def test_hessian_is_batched_forward_over_reverse():
    A = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 1.0]])

    def f(x):
        return 0.5 * x @ A @ x + tnp.sum(tnp.tanh(x) ** 2)

    x = np.array([0.3, -0.2, 0.7])
    t = np.tanh(x)
    d2 = 2 * (1 - t**2) ** 2 - 4 * t**2 * (1 - t**2)
    np.testing.assert_allclose(tg.hessian(f)(x), A + np.diag(d2), rtol=1e-12)
