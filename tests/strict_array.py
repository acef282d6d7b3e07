"""A strict stand-in for a GPU array type, for testing the array backend on CPU.

:class:`StrictArray` holds a NumPy array but behaves as a CuPy array does towards
NumPy: NumPy's functions and ufuncs reach it through ``__array_function__`` and
``__array_ufunc__`` and return ``StrictArray`` results (reductions and scalar indexing
give 0-d arrays, not NumPy scalars), while anything that would silently turn it into a
NumPy array raises ``TypeError``: ``numpy.asarray(x)`` (``__array__``), and a NumPy
array mixed into one of its operations (CuPy refuses host arrays in device kernels).
``float(x)``, ``int(x)``, ``bool(x)`` and ``x.item()`` work on one-element arrays only,
as in CuPy, and each is counted in :data:`HOST_READS`, so a test can assert that a
computation never read a value back. ``x.get()`` is the explicit copy to the host.

:data:`strict` is its array module, the ``cupy`` of this backend (``strict.zeros``,
``strict.asarray``, ``strict.asnumpy``, and NumPy's other functions through dispatch);
the type is registered with :func:`tracegrad.core.backend.register_array_type`.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad.core.backend import register_array_type

__all__ = ["HOST_READS", "StrictArray", "strict"]

#: every read of a value back to the host: ``{"count": n}``, reset by the tests
HOST_READS = {"count": 0}

_SCALARS = (bool, int, float, complex, np.generic)


def _refuse(kind: str) -> TypeError:
    return TypeError(
        f"StrictArray: {kind}; a host NumPy array cannot be mixed into a device "
        "computation (convert it with strict.asarray first)"
    )


def _unwrap(x: Any, allow_host: bool = False) -> Any:
    """The NumPy value of ``x``: StrictArray unwrapped, containers recursively; a host
    ndarray raises unless ``allow_host`` (indexing, where CuPy accepts them)."""
    t = type(x)
    if t is StrictArray:
        return x._a
    if t is np.ndarray:
        if allow_host:
            return x
        raise _refuse(f"got a numpy.ndarray of shape {x.shape}")
    if t is list or t is tuple:
        return t(_unwrap(v, allow_host) for v in x)
    if t is dict:
        return {k: _unwrap(v, allow_host) for k, v in x.items()}
    return x


def _wrap(x: Any) -> Any:
    """Results back in the device type: arrays and NumPy scalars (as 0-d arrays, which
    is what CuPy's reductions and scalar indexing give); shapes, dtypes, Python values
    pass through."""
    t = type(x)
    if t is np.ndarray:
        return StrictArray(x)
    if isinstance(x, np.generic):
        return StrictArray(np.asarray(x))
    if t is list or t is tuple:
        return t(_wrap(v) for v in x)
    if isinstance(x, tuple):  # NumPy's named results (eigh, slogdet, svd)
        return t(*(_wrap(v) for v in x))
    return x


def _binary(ufunc: np.ufunc, reflected: bool = False) -> Callable[[Any, Any], Any]:
    def op(self: StrictArray, other: Any) -> Any:
        if type(other) is not StrictArray and not isinstance(other, (*_SCALARS, np.ndarray)):
            return NotImplemented  # a traced value: its own reflected operator
        return ufunc(other, self) if reflected else ufunc(self, other)

    return op


class StrictArray:
    """A NumPy-backed array that refuses implicit conversion to NumPy (see the module)."""

    __slots__ = ("_a",)
    __hash__ = None  # type: ignore[assignment]
    # below tracegrad's boxes (1000), as CuPy's 100 is: `device_array op box` is traced
    __array_priority__ = 100.0

    def __init__(self, a: np.ndarray) -> None:
        if type(a) is not np.ndarray:
            raise TypeError(f"StrictArray wraps a numpy.ndarray, not {type(a).__name__}")
        self._a = a

    # --- NumPy's protocols -------------------------------------------------------------

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            "Implicit conversion of a StrictArray to a NumPy array is not allowed "
            "(as CuPy's); use .get() to copy it to the host"
        )

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "at":  # ufunc.at(a, indices, b): indices may be host arrays, as in CuPy
            a, indices, *b = inputs
            getattr(ufunc, method)(_unwrap(a), _unwrap(indices, allow_host=True), *_unwrap(b))
            return None
        for v in inputs:
            if type(v) is not StrictArray and not isinstance(v, (*_SCALARS, np.ndarray)):
                return NotImplemented  # a traced value: tracegrad's dispatch takes it
        out = kwargs.get("out")
        args = _unwrap(inputs)
        if out is not None:
            kwargs["out"] = _unwrap(out)
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(
        self, func: Callable[..., Any], types: Any, args: tuple, kwargs: dict
    ) -> Any:
        if any(t is not StrictArray and t is not np.ndarray for t in types):
            return NotImplemented
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # --- host reads: allowed where CuPy allows them, counted ----------------------------

    def _scalar(self, what: str) -> Any:
        if self._a.size != 1:
            raise TypeError(f"StrictArray: only one-element arrays convert to {what}")
        HOST_READS["count"] += 1
        return self._a.reshape(()).item()

    def __float__(self) -> float:
        return float(self._scalar("float"))

    def __int__(self) -> int:
        return int(self._scalar("int"))

    def __index__(self) -> int:
        if self._a.dtype.kind not in "iub":
            raise TypeError("StrictArray: only integer arrays can be indices")
        return int(self._scalar("an index"))

    def __bool__(self) -> bool:
        return bool(self._scalar("bool"))

    def __complex__(self) -> complex:
        return complex(self._scalar("complex"))

    def item(self, *args: Any) -> Any:
        HOST_READS["count"] += 1
        return self._a.item(*args)

    def tolist(self) -> Any:
        HOST_READS["count"] += 1
        return self._a.tolist()

    def get(self) -> np.ndarray:
        """The explicit copy to the host (``cupy.ndarray.get``)."""
        HOST_READS["count"] += 1
        return self._a.copy()

    # --- the ndarray interface -----------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._a.shape

    @property
    def dtype(self) -> np.dtype:
        return self._a.dtype

    @property
    def ndim(self) -> int:
        return self._a.ndim

    @property
    def size(self) -> int:
        return self._a.size

    @property
    def nbytes(self) -> int:
        return self._a.nbytes

    @property
    def T(self) -> StrictArray:  # noqa: N802
        return StrictArray(self._a.T)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Any:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, key: Any) -> StrictArray:
        return _wrap(self._a[_unwrap(key, allow_host=True)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_unwrap(key, allow_host=True)] = _unwrap(value)

    def __getattr__(self, name: str) -> Any:
        # methods (reshape, sum, astype, ...) and attributes of the NumPy array, results
        # wrapped; never NumPy's conversion hooks (__array_interface__ and friends)
        if name.startswith("__") or name in ("flat", "ctypes", "data", "tobytes"):
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args: Any, **kwargs: Any) -> Any:
            return _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))

        return method

    def __repr__(self) -> str:
        return f"StrictArray({self._a!r})"

    __add__, __radd__ = _binary(np.add), _binary(np.add, True)
    __sub__, __rsub__ = _binary(np.subtract), _binary(np.subtract, True)
    __mul__, __rmul__ = _binary(np.multiply), _binary(np.multiply, True)
    __truediv__, __rtruediv__ = _binary(np.true_divide), _binary(np.true_divide, True)
    __floordiv__, __rfloordiv__ = _binary(np.floor_divide), _binary(np.floor_divide, True)
    __mod__, __rmod__ = _binary(np.remainder), _binary(np.remainder, True)
    __pow__, __rpow__ = _binary(np.power), _binary(np.power, True)
    __matmul__, __rmatmul__ = _binary(np.matmul), _binary(np.matmul, True)
    __and__, __rand__ = _binary(np.logical_and), _binary(np.logical_and, True)
    __or__, __ror__ = _binary(np.logical_or), _binary(np.logical_or, True)
    __xor__ = _binary(np.logical_xor)
    __lt__, __le__ = _binary(np.less), _binary(np.less_equal)
    __gt__, __ge__ = _binary(np.greater), _binary(np.greater_equal)
    __eq__, __ne__ = _binary(np.equal), _binary(np.not_equal)  # type: ignore[assignment]

    def __neg__(self) -> StrictArray:
        return np.negative(self)

    def __pos__(self) -> StrictArray:
        return np.positive(self)

    def __abs__(self) -> StrictArray:
        return np.absolute(self)

    def __invert__(self) -> StrictArray:
        return np.invert(self)


# --- the array module: what `cupy` is to CuPy arrays -------------------------------------


def _creator(fn: Callable[..., Any]) -> Callable[..., Any]:
    def create(*args: Any, **kwargs: Any) -> StrictArray:
        return StrictArray(np.asarray(fn(*_unwrap(args), **_unwrap(kwargs))))

    create.__name__ = fn.__name__
    return create


def _asarray(x: Any, dtype: Any = None) -> StrictArray:
    """A copy on the "device" (host data is allowed here: the explicit transfer)."""
    if type(x) is StrictArray:
        return x if dtype is None or x.dtype == dtype else StrictArray(x._a.astype(dtype))
    return StrictArray(np.array(_unwrap(x, allow_host=True), dtype=dtype))


def _asnumpy(x: Any) -> np.ndarray:
    return x.get() if type(x) is StrictArray else np.asarray(x)


class _StrictModule(types.ModuleType):
    """``strict``: creation functions make StrictArrays; any other NumPy name is NumPy's
    own function, which dispatches to StrictArray through NumPy's protocols."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


strict = _StrictModule("strict")
strict.ndarray = StrictArray  # type: ignore[attr-defined]
strict.asarray = strict.array = _asarray  # type: ignore[attr-defined]
strict.asnumpy = _asnumpy  # type: ignore[attr-defined]
for _name in (
    "zeros", "ones", "empty", "full", "eye", "identity", "arange", "linspace",
):  # fmt: skip
    setattr(strict, _name, _creator(getattr(np, _name)))

register_array_type(StrictArray, strict)
