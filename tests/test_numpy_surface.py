"""The NumPy that users write: array-likes of traced values, the derivative at the
degenerate points of power and std, einsum's sublist form, logsumexp's weights,
linspace, integer casts, and the errors for what tracegrad lacks."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp

# --- array-likes holding traced values ------------------------------------------------

ARRAYLIKE = [
    ("sum", tnp.sum, np.sum),
    ("mean", tnp.mean, np.mean),
    ("max", tnp.max, np.max),
    ("min", tnp.min, np.min),
    ("prod", tnp.prod, np.prod),
    ("var", tnp.var, np.var),
    ("std", tnp.std, np.std),
    ("exp-of-array", lambda v: tnp.sum(tnp.exp(tnp.array(v))), lambda v: np.sum(np.exp(v))),
    ("exp", lambda v: tnp.sum(tnp.exp(v)), lambda v: np.sum(np.exp(v))),
    ("tanh", lambda v: tnp.sum(tnp.tanh(v)), lambda v: np.sum(np.tanh(v))),
    ("multiply", lambda v: tnp.sum(tnp.multiply(v, [2.0, 3.0])), lambda v: np.sum(v * [2, 3])),
    ("add-both", lambda v: tnp.sum(tnp.add(v, v)), lambda v: np.sum(np.add(v, v))),
    ("norm", tnp.linalg.norm, np.linalg.norm),
    ("cumsum", lambda v: tnp.sum(tnp.cumsum(v)), lambda v: np.sum(np.cumsum(v))),
    ("logsumexp", tnp.logsumexp, lambda v: np.log(np.sum(np.exp(v)))),
    (
        "mean-axis",
        lambda v: tnp.sum(tnp.mean([v, v], axis=0)),
        lambda v: np.sum(np.mean([v, v], axis=0)),
    ),
]


@pytest.mark.parametrize("seq", [list, tuple])
@pytest.mark.parametrize("name, f, ref", ARRAYLIKE, ids=[a[0] for a in ARRAYLIKE])
def test_lists_of_traced_values(name, f, ref, seq) -> None:
    """``f([x, 3x + 2])`` as NumPy reads the list, and its derivative in both modes."""
    g = lambda x: f(seq([x, 3.0 * x + 2.0]))
    x = 0.7
    np.testing.assert_allclose(g(x), ref(np.array([x, 3 * x + 2])), rtol=1e-12)
    tg.check_grads(g, (x,), order=2)


def test_nested_list_with_constants() -> None:
    f = lambda x: tnp.sum(tnp.mean([[x, 1.0], [x * x, 2.0]], axis=0))
    assert tg.grad(f)(3.0) == pytest.approx(0.5 + 3.0)


def test_autograd_list_examples() -> None:
    assert tg.grad(lambda x: tnp.mean([x, x + 2]))(0.0) == 1.0
    assert tg.grad(lambda x: tnp.std((x, x + 2)))(0.0) == 0.0
    assert tg.grad(lambda x: tnp.var([x, x + 2]))(0.0) == 0.0


# --- no silent NaN at degenerate points ------------------------------------------------


def test_power_zero_exponent_at_zero() -> None:
    assert tg.grad(lambda x: x**0)(0.0) == 0.0
    assert tg.grad(lambda x: tnp.power(x, 0.0))(0.0) == 0.0
    tg.check_grads(lambda x: x**0, (0.0,), order=2)


@pytest.mark.parametrize("traced_exponent", [False, True])
def test_power_array_exponent_at_zero(traced_exponent) -> None:
    """x**[0, 1, 2, 3] at 0: Jacobian diag(0, 1, 0, 0), Hessian of the sum diag(0, 0, 2, 0)."""
    y = np.arange(4.0)
    x = np.zeros(4)
    if traced_exponent:  # the exponent is a traced value too (the masked rule)
        f = lambda x, y: tnp.sum(tnp.power(x, y))
        g = tg.grad(f, argnums=(0, 1))(x, y)[0]
        np.testing.assert_array_equal(g, [0.0, 1.0, 0.0, 0.0])
        np.testing.assert_array_equal(tg.jacfwd(f)(x, y), g)
        tg.check_grads(lambda y: tnp.power(x + 0.5, y), (y,), order=2)
        return
    f = lambda x: tnp.power(x, y)
    np.testing.assert_array_equal(tg.jacrev(f)(x), np.diag([0.0, 1.0, 0.0, 0.0]))
    np.testing.assert_array_equal(tg.jacfwd(f)(x), np.diag([0.0, 1.0, 0.0, 0.0]))
    h = tg.hessian(lambda x: tnp.sum(f(x)))(x)
    np.testing.assert_array_equal(h, np.diag([0.0, 0.0, 2.0, 0.0]))
    tg.check_grads(f, (x,), order=3)


@pytest.mark.parametrize(
    "shape, axis", [((1,), None), ((3, 1), 1), ((1, 4), 0), ((2, 1, 3), 1), ((1, 1), (0, 1))]
)
def test_std_over_one_element(shape, axis) -> None:
    """std over one element is identically 0: derivative 0 in both modes, to order 2."""
    x = np.random.default_rng(0).standard_normal(shape)
    f = lambda x: tnp.std(x, axis=axis)
    np.testing.assert_array_equal(f(x), np.std(x, axis=axis))
    g = tg.grad(lambda x: tnp.sum(f(x)))(x)
    np.testing.assert_array_equal(g, np.zeros(shape))
    np.testing.assert_array_equal(tg.jacfwd(lambda x: tnp.sum(f(x)))(x), np.zeros(shape))
    tg.check_grads(f, (x,), order=2)


# --- einsum, logsumexp, linspace, integer casts ----------------------------------------


@pytest.mark.parametrize(
    "args, spec",
    [
        (([0, 1], [1, 2], [0, 2]), "ij,jk->ik"),
        (([0, 1], [1, 2]), "ij,jk"),
        (([Ellipsis, 1], [1, 2], [Ellipsis, 2]), "...j,jk->...k"),
        (([0, 1], [2, 1], []), "ij,kj->"),
    ],
)
def test_einsum_sublist_form(args, spec) -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3))
    b = (
        rng.standard_normal((3, 4))
        if spec.split(",")[1][:2] == "jk"
        else rng.standard_normal((4, 3))
    )
    f = lambda a, b: tnp.einsum(a, args[0], b, args[1], *args[2:])
    np.testing.assert_allclose(f(a, b), np.einsum(spec, a, b), rtol=1e-12)
    tg.check_grads(f, (a, b), order=2)


@pytest.mark.parametrize("axis, bshape", [(None, (3, 2)), (0, (3, 2)), (-1, (2,)), (0, ())])
def test_logsumexp_weights(axis, bshape) -> None:
    scipy_special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2))
    b = rng.uniform(0.2, 2.0, bshape)
    f = lambda x, b: tnp.logsumexp(x, axis=axis, b=b)
    np.testing.assert_allclose(f(x, b), scipy_special.logsumexp(x, axis=axis, b=b), rtol=1e-12)
    tg.check_grads(f, (x, b), order=2)


def test_logsumexp_zero_weights_and_large_values() -> None:
    x = np.array([1000.0, 999.0, -1000.0])
    b = np.array([1.0, 0.0, 2.0])
    assert tnp.logsumexp(x, b=b) == pytest.approx(1000.0)
    g = tg.grad(lambda b: tnp.logsumexp(x, b=b))(b)  # finite at the zero weight
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [1.0, np.exp(-1.0), 0.0], atol=1e-12)


@pytest.mark.parametrize("num", [0, 1, 5])
@pytest.mark.parametrize("start, stop", [(1.2, 3.4), (1.2, -3.4), (1.2, 1.2)])
@pytest.mark.parametrize("endpoint", [True, False])
def test_linspace_differentiable(num, start, stop, endpoint) -> None:
    f = lambda a, b: tnp.linspace(a, b, num, endpoint=endpoint)
    np.testing.assert_allclose(
        f(np.float64(start), stop), np.linspace(start, stop, num, endpoint=endpoint), rtol=1e-14
    )
    tg.check_grads(f, (start, stop), order=2)


def test_linspace_arrays_and_axis() -> None:
    a, b = np.array([0.0, 1.0]), np.array([[2.0, 3.0], [4.0, 5.0]])
    f = lambda a, b: tnp.linspace(a, b, 4, axis=-1)
    out, _ = tg.jvp(f, (a, b), (a, b))
    np.testing.assert_allclose(out, np.linspace(a, b, 4, axis=-1), rtol=1e-14)
    tg.check_grads(f, (a, b), order=1)


def test_int64_of_a_traced_value() -> None:
    def f(w):
        idx = tnp.int64(w[:, -1])
        assert idx.dtype == np.int64
        return tnp.sum(w[:, :-1][idx])

    w = np.array([[1.0, 2.0, 1.9], [3.0, 4.0, 1.2]])
    np.testing.assert_array_equal(tg.grad(f)(w), [[0.0, 0.0, 0.0], [2.0, 2.0, 0.0]])
    assert np.zeros(2, dtype=tnp.int64).dtype == np.int64
    assert np.arange(3.0).astype(tnp.int32).dtype == np.int32


# --- what tracegrad lacks ---------------------------------------------------------------


@pytest.mark.parametrize(
    "module, name, original",
    [
        (tnp, "nanpercentile_x", None),
        (tnp.linalg, "eig", "numpy.linalg.eig"),
        (tnp, "i0", "numpy.i0"),
    ],
)
def test_unknown_attribute(module, name, original) -> None:
    if original is None:  # not a NumPy name either: a plain AttributeError
        with pytest.raises(AttributeError, match="nor has numpy"):
            getattr(module, name)
        return
    with pytest.raises(tnp.NotDifferentiableError) as info:
        getattr(module, name)
    msg = str(info.value)
    assert original in msg and "not differentiable in tracegrad yet" in msg
    assert "tg.primitive" in msg and "tg.defvjp" in msg
    assert isinstance(info.value, AttributeError)
    assert not hasattr(module, name)


def test_scipy_ufunc_on_a_traced_value_is_named_as_scipy() -> None:
    special = pytest.importorskip("scipy.special")
    with pytest.raises(TypeError) as info:
        tg.grad(lambda x: special.ndtri(x))(0.3)
    msg = str(info.value)
    assert "scipy.special.ndtri" in msg and "numpy.ndtri" not in msg


def test_import_tracegrad_does_not_import_scipy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tracegrad, tracegrad.numpy, tracegrad.scipy\n"
        "print(any(m == 'scipy' or m.startswith('scipy.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_scipy_submodules_and_missing_names() -> None:
    pytest.importorskip("scipy.special")
    assert tg.scipy.special.erf(0.5) == pytest.approx(0.5204998778130465)
    with pytest.raises(tnp.NotDifferentiableError, match=r"scipy\.special\.ellipk"):
        tg.scipy.special.ellipk  # noqa: B018
    with pytest.raises(tnp.NotDifferentiableError, match=r"scipy\.linalg\.logm"):
        tg.scipy.linalg.logm  # noqa: B018


def test_dir_lists_numpy_names_only() -> None:
    for name in ["np", "Any", "NamedTuple", "builtins", "annotations", "Primitive"]:
        assert name not in dir(tnp.linalg)
    for name in ["elementwise", "reductions", "missing", "creation", "decompositions"]:
        assert name not in dir(tnp)
    assert {"sum", "linalg", "einsum", "pad"} <= set(dir(tnp))
    assert {"svd", "cholesky", "norm"} <= set(dir(tnp.linalg))


def test_fourier_transforms_are_refused_with_the_reason() -> None:
    with pytest.raises(tnp.NotDifferentiableError, match="complex values"):
        tnp.fft.rfft  # noqa: B018
    np.testing.assert_array_equal(tnp.fft.fftfreq(4), np.fft.fftfreq(4))


def test_nondifferentiable_helpers_take_traced_values() -> None:
    """Index, set and type helpers called on traced values give NumPy's plain results."""
    seen = {}

    def f(x):
        seen["isin"] = tnp.isin(x, [1.0])
        seen["unravel"] = tnp.unravel_index(tnp.argmax(x), (2, 2))
        seen["tril"] = tnp.tril_indices_from(tnp.reshape(x, (2, 2)))
        seen["argwhere"] = tnp.argwhere(x > 1.5)
        seen["types"] = (
            tnp.iscomplexobj(x),
            tnp.isrealobj(x),
            tnp.issubdtype(x.dtype, np.floating),
        )
        seen["result_type"] = tnp.result_type(x, np.float32)
        return tnp.sum(x * x)

    x = np.array([1.0, 2.0, 0.5, 3.0])
    np.testing.assert_array_equal(tg.grad(f)(x), 2 * x)
    np.testing.assert_array_equal(seen["isin"], [True, False, False, False])
    assert seen["unravel"] == (1, 1)
    np.testing.assert_array_equal(seen["tril"][0], [0, 1, 1])
    np.testing.assert_array_equal(seen["argwhere"], [[1], [3]])
    assert seen["types"] == (False, True, True)
    assert seen["result_type"] == np.float64
    for v in seen.values():
        assert not any(tg.core.primitive.is_boxed(p) for p in (v if isinstance(v, tuple) else (v,)))
