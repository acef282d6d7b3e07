"""``unbroadcast``: the one place where NumPy broadcasting is undone."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracegrad as tg
from tracegrad.core.shapes import unbroadcast

SHAPES = [(), (1,), (3,), (3, 1), (1, 3), (2, 3), (4, 1, 3)]


def _broadcastable(small: tuple, big: tuple) -> bool:
    try:
        return np.broadcast_shapes(small, big) == big
    except ValueError:
        return False


PAIRS = [(s, b) for s, b in itertools.product(SHAPES, SHAPES) if _broadcastable(s, b)]


def _reference(g: np.ndarray, small: tuple) -> np.ndarray:
    """Sum ``g`` into ``small`` element by element: each element of ``g`` lands on the
    element of the small operand that broadcasting read it from."""
    out = np.zeros(small)
    lead = g.ndim - len(small)
    for idx in itertools.product(*(range(d) for d in g.shape)):
        tail = idx[lead:]
        target = tuple(0 if d == 1 else i for i, d in zip(tail, small))
        out[target] += g[idx]
    return out


def _id(pair):
    return f"{pair[0]}->{pair[1]}"


def test_pairs_cover_the_interesting_cases():
    assert ((), (4, 1, 3)) in PAIRS and ((3, 1), (2, 3)) not in PAIRS
    assert ((1, 3), (4, 1, 3)) in PAIRS and ((3, 1), (4, 1, 3)) not in PAIRS
    assert len(PAIRS) >= 18


@pytest.mark.parametrize("pair", PAIRS, ids=[_id(p) for p in PAIRS])
def test_unbroadcast_of_broadcast(pair):
    small, big = pair
    rng = np.random.default_rng(0)
    x = rng.standard_normal(small)
    g = np.broadcast_to(x, big)
    out = unbroadcast(g, small)
    assert np.shape(out) == small
    copies = int(np.prod(big)) // max(int(np.prod(small)), 1)
    np.testing.assert_allclose(out, x * copies, rtol=1e-12)


@pytest.mark.parametrize("pair", PAIRS, ids=[_id(p) for p in PAIRS])
def test_unbroadcast_matches_reference(pair):
    small, big = pair
    g = np.random.default_rng(1).standard_normal(big)
    out = unbroadcast(g, small)
    assert np.shape(out) == small
    np.testing.assert_allclose(out, _reference(g, small), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("pair", PAIRS, ids=[_id(p) for p in PAIRS])
def test_unbroadcast_is_adjoint_of_broadcast(pair):
    # <unbroadcast(g), x> = <g, broadcast_to(x)>: it is the VJP of broadcasting
    small, big = pair
    rng = np.random.default_rng(2)
    g, x = rng.standard_normal(big), rng.standard_normal(small)
    lhs = np.sum(unbroadcast(g, small) * x)
    rhs = np.sum(g * np.broadcast_to(x, big))
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("pair", PAIRS, ids=[_id(p) for p in PAIRS])
def test_unbroadcast_is_differentiable(pair):
    small, big = pair
    g = np.random.default_rng(3).standard_normal(big)
    tg.check_grads(lambda g: unbroadcast(g, small), (g,), order=2)
    # and the Jacobian is the 0/1 "which element went where" matrix
    jac = tg.jacobian(lambda g: unbroadcast(g, small), mode="rev")(g)
    assert jac.shape == small + big
    e = np.zeros(big)
    e.reshape(-1)[0] = 1.0
    np.testing.assert_array_equal(jac.reshape(*small, -1)[..., 0], _reference(e, small))


def test_unbroadcast_same_shape_is_identity():
    g = np.ones((2, 3))
    assert unbroadcast(g, (2, 3)) is g


def test_unbroadcast_up_broadcasts_a_smaller_cotangent():
    # a rule may hand back a scalar for an array operand: it is spread over the shape
    out = unbroadcast(np.float64(2.0), (2, 3))
    np.testing.assert_array_equal(out, np.full((2, 3), 2.0))


def test_unbroadcast_to_scalar_gives_numpy_scalar():
    out = unbroadcast(np.ones((2, 3)), ())
    assert np.shape(out) == () and out == 6.0
    assert isinstance(out, (float, np.floating))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_unbroadcast_property(data):
    # the operand is one of two shapes broadcast together; the cotangent has the result's
    shapes = data.draw(
        hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3)
    )
    small, big = shapes.input_shapes[0], shapes.result_shape
    g = data.draw(
        hnp.arrays(np.float64, big, elements=st.floats(-10, 10, allow_nan=False, width=64))
    )
    np.testing.assert_allclose(unbroadcast(g, small), _reference(g, small), rtol=1e-12, atol=1e-12)
