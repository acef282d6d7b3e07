"""Array backends: the module (NumPy, CuPy, ...) that a computation's arrays belong to.

tracegrad's rules are NumPy code, and array types such as CuPy's implement NumPy's
dispatch protocols (``__array_ufunc__``, ``__array_function__``), so ``np.sin`` or
``np.sum`` of a CuPy array runs on the GPU and returns one. What does not carry over
is code that makes an array from nothing or converts one: ``np.zeros``, ``np.eye``,
``np.asarray``, a gradient's seed. Those go through this module, which finds the array
module of the values at hand (:func:`array_module`: NumPy unless one of them belongs to
another) and makes the new array there.

Another array type is found by its registration (:func:`register_array_type`); CuPy's
is recognised by the module its type lives in, so CuPy is imported only when a CuPy
array is seen or a GPU device is asked for, never by NumPy-only code. On NumPy values
(``ndarray``, Python and NumPy scalars) every helper costs one type check more than the
NumPy call it replaces.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

from tracegrad.core.primitive import PYTHON_SCALARS, box_types

__all__ = [
    "DeviceError",
    "array_module",
    "as_array",
    "asarray_like",
    "device_module",
    "eye_like",
    "is_host",
    "module_of",
    "ones_like_value",
    "register_array_type",
    "to_device",
    "to_host",
    "zeros",
]

_ndarray = np.ndarray

#: array type -> its module (``None``: a NumPy-compatible value, e.g. a NumPy scalar);
#: filled by registration and by detection on first sight of a type
_MODULES: dict[type, ModuleType | None] = {_ndarray: None, bool: None, int: None, float: None}

#: the top-level packages whose array types are found without registration
_KNOWN_PACKAGES = {"cupy": "cupy", "cupyx": "cupy"}


class DeviceError(RuntimeError):
    """A device was asked for that this machine cannot provide (no CuPy, no GPU)."""


def register_array_type(cls: type, module: ModuleType) -> None:
    """Make ``cls`` an array type of ``module``: values of that type get new arrays
    (seeds, zeros, identity bases) from ``module.zeros``, ``module.asarray`` etc.

    ``module`` must provide NumPy's creation functions (``zeros``, ``ones``, ``eye``,
    ``asarray``) and ``asnumpy`` (the copy to the host), as CuPy does, and ``cls`` must
    implement ``__array_ufunc__`` and ``__array_function__``. CuPy needs no registration.
    """
    _MODULES[cls] = None if module is np else module


def _detect(t: type) -> ModuleType | None:
    """The module of an array type seen for the first time (``None``: NumPy's)."""
    package = _KNOWN_PACKAGES.get(getattr(t, "__module__", "").partition(".")[0])
    module = importlib.import_module(package) if package is not None else None
    _MODULES[t] = module
    return module


def module_of(x: Any) -> ModuleType | None:
    """The array module of one value (boxes looked through), or ``None`` for NumPy's
    values (arrays, scalars, anything else NumPy reads)."""
    t = type(x)
    if t is _ndarray or t in PYTHON_SCALARS:
        return None
    while t in box_types:
        x = x._value
        t = type(x)
    try:
        return _MODULES[t]
    except KeyError:
        return _detect(t)


def array_module(*values: Any) -> ModuleType:
    """The array module of ``values``: the first non-NumPy module among them (CuPy for
    a CuPy array, traced or not), else ``numpy``."""
    for x in values:
        t = type(x)
        if t is _ndarray or t in PYTHON_SCALARS:
            continue
        m = module_of(x)
        if m is not None:
            return m
    return np


def is_host(x: Any) -> bool:
    """True if ``x`` (boxes looked through) is a NumPy value, not a device array."""
    return module_of(x) is None


def zeros(shape: Any, dtype: Any, like: Any = None) -> Any:
    """``numpy.zeros(shape, dtype)`` in the array module of ``like``."""
    m = module_of(like)
    return np.zeros(shape, dtype) if m is None else m.zeros(shape, dtype=dtype)


def ones_like_value(x: Any, shape: Any = (), dtype: Any = None) -> Any:
    """Ones of ``shape`` (default: a 0-d array) and ``dtype`` in the module of ``x``."""
    m = module_of(x)
    return np.ones(shape, dtype) if m is None else m.ones(shape, dtype=dtype)


def eye_like(n: int, dtype: Any, like: Any) -> Any:
    """The ``n × n`` identity of ``dtype`` in the module of ``like``."""
    m = module_of(like)
    return np.eye(n, dtype=dtype) if m is None else m.eye(n, dtype=dtype)


def as_array(x: Any, dtype: Any = None) -> Any:
    """``numpy.asarray(x, dtype)``, except that a device array stays on its device (cast
    there when ``dtype`` differs): what an implementation does first with an argument
    that may be a list or a scalar."""
    if type(x) is _ndarray or module_of(x) is None:
        return np.asarray(x, dtype=dtype)
    return x if dtype is None or x.dtype == dtype else x.astype(dtype)


def asarray_like(x: Any, like: Any, dtype: Any = None) -> Any:
    """``x`` as an array of the module of ``like`` (NumPy's ``asarray`` for NumPy values;
    a host array is copied to the device of ``like``, as ``cupy.asarray`` does)."""
    m = module_of(like)
    if m is None:
        return np.asarray(x, dtype=dtype)
    return m.asarray(x, dtype=dtype)


def to_host(x: Any) -> Any:
    """``x`` as a NumPy value: a device array copied to the host (the one explicit read
    back), anything else unchanged."""
    m = module_of(x)
    return x if m is None else m.asnumpy(x)


_DEVICE_NAMES = ("cpu", "numpy", "host", "cuda", "gpu")


def device_module(device: str | ModuleType | None) -> ModuleType:
    """The array module of a device: ``"cpu"`` (or ``None``) is NumPy, ``"cuda"``,
    ``"cuda:N"`` or ``"gpu"`` is CuPy (on its current device, or device ``N``, made
    current); an array module itself (one with registered array types) is returned.

    Raises:
        DeviceError: CuPy is not installed, or it finds no usable GPU (one line that
            says which, and how to install the extra).
        ValueError: an unknown device name.
    """
    if device is None:
        return np
    if isinstance(device, ModuleType):
        return device
    name, _, index = str(device).lower().partition(":")
    if name not in _DEVICE_NAMES or (index and (name != "cuda" or not index.isdigit())):
        raise ValueError(f"unknown device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")
    if name in ("cpu", "numpy", "host"):
        return np
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as e:
        raise DeviceError(
            f"device {device!r} needs CuPy, which is not installed: pip install "
            "cupy-cuda12x (or pip install -e '.[gpu]' in tracegrad's clone)"
        ) from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if index:
            if int(index) >= count:
                raise DeviceError(f"device {device!r}: this machine has {count} CUDA GPU(s)")
            cupy.cuda.Device(int(index)).use()
    except DeviceError:
        raise
    except Exception as e:  # CUDA's own errors: no driver, no device
        raise DeviceError(f"device {device!r}: CuPy finds no usable CUDA GPU ({e})") from e
    if count == 0:
        raise DeviceError(f"device {device!r}: CuPy finds no CUDA GPU on this machine")
    return cupy


def to_device(tree: Any, device: str | ModuleType | None) -> Any:
    """Every array leaf of a pytree moved to ``device`` (see :func:`device_module`):
    to the host with ``"cpu"``, copied to the GPU with ``"cuda"``. Python scalars and
    non-float leaves' kinds are kept; a leaf already there is not copied."""
    from tracegrad.core import tree as tree_util

    target = device_module(device)

    def move(x: Any) -> Any:
        if type(x) in PYTHON_SCALARS:
            return x
        m = module_of(x)
        if target is np:
            return x if m is None else m.asnumpy(x)
        if m is target:
            return x
        if m is not None:  # device to another device: through the host
            x = m.asnumpy(x)
        return target.asarray(x)

    return tree_util.map(move, tree)
