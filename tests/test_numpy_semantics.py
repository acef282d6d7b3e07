"""Traced values behave like NumPy arrays: operators from either side, methods, and
clear errors where the NumPy way cannot carry a derivative."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp

X = np.array([[0.5, -1.2, 2.0], [1.5, 0.3, -0.7]])
A = np.array([[1.0, 2.0, -1.0], [0.5, -0.3, 4.0]])

# (id, f, expected gradient of sum(f(x)) at X)
MIXED = [
    ("ndarray*traced", lambda x: A * x, A),
    ("traced*ndarray", lambda x: x * A, A),
    ("ndarray+traced", lambda x: A + x, np.ones_like(X)),
    ("ndarray-traced", lambda x: A - x, -np.ones_like(X)),
    ("traced-ndarray", lambda x: x - A, np.ones_like(X)),
    ("ndarray/traced", lambda x: A / x, -A / X**2),
    ("traced/ndarray", lambda x: x / A, 1 / A),
    ("ndarray**traced", lambda x: np.abs(A) ** x, np.abs(A) ** X * np.log(np.abs(A))),
    ("traced**ndarray", lambda x: np.abs(x) ** A, A * np.abs(X) ** (A - 1) * np.sign(X)),
    ("numpy-scalar*traced", lambda x: np.float64(2.5) * x, np.full_like(X, 2.5)),
    ("traced*numpy-scalar", lambda x: x * np.float64(2.5), np.full_like(X, 2.5)),
    ("python-float-traced", lambda x: 3.0 - x, -np.ones_like(X)),
    ("ones(3)*traced-row", lambda x: np.ones(3) * x, np.ones_like(X)),
    ("ndarray@traced", lambda x: np.ones((2, 2)) @ x, np.full_like(X, 2.0)),
    ("traced@ndarray", lambda x: x @ np.ones((3, 2)), np.full_like(X, 2.0)),
    ("np.matmul(ndarray,traced)", lambda x: np.matmul(np.ones((2, 2)), x), np.full_like(X, 2.0)),
    ("np.multiply(ndarray,traced)", lambda x: np.multiply(A, x), A),
    ("-traced", lambda x: -x, -np.ones_like(X)),
    ("+traced", lambda x: +x, np.ones_like(X)),
    ("abs(traced)", lambda x: abs(x), np.sign(X)),
    ("ndarray<traced mask", lambda x: tnp.where(A < x, x, 0.0), (A < X) * 1.0),
]


@pytest.mark.parametrize("name, f, expected", MIXED, ids=[m[0] for m in MIXED])
def test_numpy_operand_on_either_side_is_traced(name, f, expected) -> None:
    g = tg.grad(lambda x: tnp.sum(f(x)))(X)
    np.testing.assert_allclose(g, expected, rtol=1e-12)
    # forward mode sees the same operation
    _, t = tg.jvp(f, (X,), (np.ones_like(X),))
    np.testing.assert_allclose(np.sum(t), np.sum(expected), rtol=1e-12)
    # and the untraced value is NumPy's
    np.testing.assert_allclose(f(X), f(X.copy()))


METHODS = [
    ("T", lambda x: x.T * np.arange(2.0), np.tile(np.arange(2.0)[:, None], 3)),
    ("mT", lambda x: x.mT[0], np.array([[1, 0, 0], [1, 0, 0]], float)),
    ("sum-axis0", lambda x: x.sum(axis=0) * np.arange(3.0), np.tile(np.arange(3.0), (2, 1))),
    ("sum-keepdims", lambda x: x.sum(axis=1, keepdims=True) * np.array([[1.0], [2.0]]),
     np.array([[1.0] * 3, [2.0] * 3])),
    ("mean", lambda x: x.mean(), np.full_like(X, 1 / 6)),
    ("mean-axis", lambda x: x.mean(axis=-1), np.full_like(X, 1 / 3)),
    ("reshape-args", lambda x: x.reshape(3, 2)[0], np.array([[1, 1, 0], [0, 0, 0]], float)),
    ("reshape-tuple", lambda x: x.reshape((6,))[-1], np.eye(6)[-1].reshape(2, 3)),
    ("ravel", lambda x: x.ravel()[1], np.eye(6)[1].reshape(2, 3)),
    ("flatten", lambda x: x.flatten()[2], np.eye(6)[2].reshape(2, 3)),
    ("transpose", lambda x: x.transpose(1, 0)[2], np.array([[0, 0, 1], [0, 0, 1]], float)),
    ("getitem-slice", lambda x: x[:, 1:], np.array([[0, 1, 1], [0, 1, 1]], float)),
    ("getitem-ellipsis", lambda x: x[..., 0], np.array([[1, 0, 0], [1, 0, 0]], float)),
    ("getitem-newaxis", lambda x: x[None, 1], np.array([[0, 0, 0], [1, 1, 1]], float)),
    ("getitem-list", lambda x: x[[1, 1]], np.array([[0, 0, 0], [2, 2, 2]], float)),
    ("max", lambda x: x.max(), np.eye(6)[2].reshape(2, 3)),
    ("min-axis", lambda x: x.min(axis=0), np.array([[1, 1, 0], [0, 0, 1]], float)),
    ("prod", lambda x: x.prod(axis=0), np.array([[1.5, 0.3, -0.7], [0.5, -1.2, 2.0]])),
    ("var-ddof", lambda x: x.var(ddof=1) * 5.0, 2 * (X - X.mean())),
    ("std", lambda x: x.std(axis=1), (X - X.mean(1, keepdims=True))
     / (3 * X.std(1, keepdims=True))),
    ("cumsum", lambda x: x.cumsum(axis=1), np.array([[3, 2, 1], [3, 2, 1]], float)),
    ("dot", lambda x: x.dot(np.ones(3)), np.ones_like(X)),
    ("clip", lambda x: x.clip(-1.0, 1.0), (np.abs(X) < 1.0) * 1.0),
    ("swapaxes", lambda x: x.swapaxes(0, 1)[0], np.array([[1, 0, 0], [1, 0, 0]], float)),
    ("astype", lambda x: x.astype(np.float64) * 2.0, np.full_like(X, 2.0)),
    ("np.sum(traced)", lambda x: np.sum(x, axis=0), np.ones_like(X)),
    ("np.mean(traced)", lambda x: np.mean(x), np.full_like(X, 1 / 6)),
    ("np.max(traced)", lambda x: np.max(x, axis=1), np.array([[0, 0, 1], [1, 0, 0]], float)),
]  # fmt: skip


@pytest.mark.parametrize("name, f, expected", METHODS, ids=[m[0] for m in METHODS])
def test_methods_on_traced_values(name, f, expected) -> None:
    g = tg.grad(lambda x: tnp.sum(f(x)))(X)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-15)
    # same value as the method on a plain ndarray (the traced path is the same code)
    out, _ = tg.vjp(f, X)
    np.testing.assert_allclose(out, f(X), rtol=1e-12)


def test_traced_value_reports_shape_dtype_and_len() -> None:
    seen = {}

    def f(x):
        seen.update(shape=x.shape, ndim=x.ndim, size=x.size, dtype=x.dtype, len=len(x))
        return tnp.sum(x)

    tg.grad(f)(X)
    assert seen == {"shape": (2, 3), "ndim": 2, "size": 6, "dtype": np.float64, "len": 2}


@pytest.mark.parametrize("mode", ["grad", "jvp"])
@pytest.mark.parametrize(
    "assign",
    [
        lambda x: x.__setitem__(0, 1.0),
        lambda x: x.__setitem__((slice(None), 1), x[:, 0]),
    ],
    ids=["int", "slice"],
)
def test_inplace_assignment_into_traced_array_raises(mode, assign) -> None:
    def f(x):
        assign(x)
        return tnp.sum(x)

    with pytest.raises(TypeError, match=r"tnp\.where.*tnp\.concatenate"):
        if mode == "grad":
            tg.grad(f)(X.copy())
        else:
            tg.jvp(f, (X.copy(),), (np.ones_like(X),))


@pytest.mark.xfail(
    strict=True,
    reason="core: `ndarray[i] = traced` raises NumPy's 'ValueError: setting an array "
    "element with a sequence' (Box looks like a sequence), not Box's TypeError",
)
def test_inplace_assignment_of_traced_value_into_ndarray_raises() -> None:
    def f(x):
        buf = np.zeros(3)
        buf[0] = x[0, 0]  # would silently drop the derivative if it were allowed
        return tnp.sum(buf)

    with pytest.raises(TypeError, match="traced value"):
        tg.grad(f)(X)


def test_augmented_assignment_into_ndarray_raises() -> None:
    def f(x):
        acc = np.zeros(3)
        acc += x[0]
        return tnp.sum(acc)

    with pytest.raises(TypeError, match="cannot store a traced value"):
        tg.grad(f)(X)


@pytest.mark.parametrize(
    "call, fix",
    [
        (np.sin, "tracegrad.numpy.sin"),
        (np.exp, "tracegrad.numpy.exp"),
        (lambda x: np.logaddexp(x, x), "tracegrad.numpy"),
        (lambda x: np.add.reduce(x), "tnp.sum"),
        (lambda x: np.asarray(x), "tracegrad.numpy"),
        (lambda x: np.concatenate([x, x]), "tracegrad.numpy"),
        (lambda x: float(x[0, 0]), "tracegrad.numpy"),
    ],
    ids=["sin", "exp", "logaddexp", "add.reduce", "asarray", "concatenate", "float"],
)
@pytest.mark.parametrize("mode", ["grad", "jvp"])
def test_plain_numpy_on_traced_value_is_a_clear_type_error(call, fix, mode) -> None:
    f = lambda x: tnp.sum(call(x))
    with pytest.raises(TypeError, match="traced value") as info:
        if mode == "grad":
            tg.grad(f)(X)
        else:
            tg.jvp(f, (X,), (np.ones_like(X),))
    assert fix in str(info.value)


SHAPE_ERRORS = [
    ("add", lambda x: tnp.add(x, np.ones(4)), "(2, 3)", "(4,)"),
    ("add-operator", lambda x: x + np.ones((3, 2)), "(2, 3)", "(3, 2)"),
    ("multiply", lambda x: tnp.multiply(np.ones(4), x), "(4,)", "(2, 3)"),
    ("matmul", lambda x: tnp.matmul(x, np.ones(4)), "(2, 3)", "(4,)"),
    ("matmul-operator", lambda x: x @ np.ones((2, 2)), "(2, 3)", "(2, 2)"),
    ("where", lambda x: tnp.where(np.ones(4, bool), x, 0.0), "(2, 3)", "(4,)"),
]


@pytest.mark.parametrize("mode", ["grad", "jvp"])
@pytest.mark.parametrize("name, f, s1, s2", SHAPE_ERRORS, ids=[s[0] for s in SHAPE_ERRORS])
def test_shape_mismatch_is_a_shape_error_naming_op_and_shapes(name, f, s1, s2, mode) -> None:
    g = lambda x: tnp.sum(f(x))
    with pytest.raises(tg.ShapeError) as info:
        if mode == "grad":
            tg.grad(g)(X)
        else:
            tg.jvp(g, (X,), (np.ones_like(X),))
    assert isinstance(info.value, ValueError)  # catchable as NumPy's error
    msg = str(info.value)
    op = name.split("-")[0]
    assert op in msg and s1 in msg and s2 in msg, msg


def test_shape_mismatch_without_transformation_is_a_shape_error() -> None:
    with pytest.raises(tg.ShapeError, match=r"add.*\(2, 3\).*\(4,\)"):
        tnp.add(X, np.ones(4))
