"""The peer benchmark's tracegrad and hand-written workloads agree, on tiny sizes.

Only correctness: speed goals are never checked by timed unit tests (issues 6 and 12).
Peers (micrograd, autograd, PyTorch, JAX) are not imported here. A ``tg.jit`` case that
falls back to eager (a JitFallbackWarning) still has to compute the same numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import peers as P  # noqa: E402


def _same(a: list[np.ndarray], b: list[np.ndarray], rtol: float = 1e-7) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        scale = float(np.max(np.abs(y))) if np.size(y) else 1.0
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * scale)


def test_w1_chain():
    _same(P.w1_tracegrad(5).numbers(), P.w1_hand(5).numbers(), rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_w2_sgd_step(dtype):
    tol = 1e-7 if dtype == np.float64 else 2e-3
    hand = P.w2_hand(8, dtype).numbers()
    _same(P.w2_tracegrad(8, dtype).numbers(), hand, rtol=tol)
    _same(P.w2_tracegrad_nn(8, dtype).numbers(), hand, rtol=tol)


def test_w2_value_and_grad_matches_forward():
    cases = P.w2_value_and_grad_ratio(8)
    for lib in (P.TG, P.HAND):
        _same(cases[lib].numbers(), cases["forward"].numbers(), rtol=1e-10)


@pytest.mark.parametrize("mode,n,m", [("fwd", 6, 3), ("rev", 3, 6)])
def test_w3_jacobian(mode, n, m):
    _same(P.w3_tracegrad(n, m, mode).numbers(), P.w3_hand(n, m, mode).numbers())


@pytest.mark.parametrize("kind", ["hvp", "hessian"])
def test_w4_second_order(kind):
    _same(P.w4_tracegrad(5, kind).numbers(), P.w4_hand(5, kind).numbers())


def test_untraced_calls_agree():
    for _label, f_np, f_tg in P.untraced_cases():
        np.testing.assert_allclose(f_tg(), f_np())


# --- issue 12: op by op, eager and under tg.jit ---------------------------------------


@pytest.mark.parametrize("build", ["w1u_tracegrad_0d", "w1u_tracegrad_jit", "w1u_tracegrad_jit_0d"])
def test_w1u_chain_zero_d_and_jit(build):
    case = getattr(P, build)(5)
    case.numbers()  # a jit case traces on its first call and replays on the second
    _same(case.numbers(), P.w1_hand(5).numbers(), rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_w2u_op_by_op_step(dtype):
    tol = 1e-7 if dtype == np.float64 else 2e-3
    hand = P.w2_hand(8, dtype).numbers()
    _same(P.w2u_tracegrad(8, dtype).numbers(), hand, rtol=tol)
    jitted = P.w2u_tracegrad_jit(8, dtype)
    jitted.numbers()
    _same(jitted.numbers(), hand, rtol=tol)
    _same(P.w2u_forward(8, dtype).numbers(), hand[:1], rtol=tol)


@pytest.mark.parametrize("mode,n,m", [("fwd", 6, 3), ("rev", 3, 6)])
@pytest.mark.parametrize("build", ["w3u_tracegrad", "w3u_tracegrad_jit"])
def test_w3u_jacobian(build, mode, n, m):
    case = getattr(P, build)(n, m, mode)
    case.numbers()
    _same(case.numbers(), P.w3u_hand(n, m, mode).numbers())


@pytest.mark.parametrize("kind", ["hvp", "hessian"])
def test_w4u_second_order_jit(kind):
    case = P.w4u_tracegrad_jit(5, kind)
    case.numbers()
    _same(case.numbers(), P.w4_hand(5, kind).numbers())
