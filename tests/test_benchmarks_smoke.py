"""The peer benchmark's tracegrad and hand-written workloads agree, on tiny sizes.

Only correctness: speed goals are never checked by timed unit tests (issue 6). Peers
(micrograd, autograd, PyTorch, JAX) are not imported here.
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
