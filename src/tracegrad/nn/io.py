"""Saving and loading models: one ``.npz`` file, no pickle.

The file holds one array per parameter (``params/<path>``) and buffer
(``buffers/<path>``) and a JSON description of the module tree (classes, static
configuration, which attribute is what) under ``__tracegrad__``. It is written
atomically (a temporary file in the same directory, then ``os.replace``), so a crash
never leaves half a model behind, and read with ``allow_pickle=False``, so loading a file
cannot run code. Classes are found by qualified name among the ``Module`` subclasses
already imported; activations by their registered name.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from tracegrad._version import __version__
from tracegrad.files import atomic_open
from tracegrad.nn.activations import ACTIVATIONS, activation_name
from tracegrad.nn.module import MODULE_REGISTRY, Module, ModuleStructure

__all__ = ["ModelFileError", "load", "save"]

FORMAT = "tracegrad.nn/1"
META_KEY = "__tracegrad__"
NOT_A_MODEL = "not a tracegrad model file (.npz written by tracegrad.nn.save)"


class ModelFileError(ValueError):
    """A file is not a (readable, complete) tracegrad model."""


def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: _encode(v, where) for k, v in value.items()}}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {"__dtype__": np.dtype(value).str}
    if callable(value):
        name = activation_name(value)
        if name is not None:
            return {"__activation__": name}
    raise TypeError(
        f"cannot save {where} = {value!r}: static configuration must be numbers, strings, "
        "tuples, lists, dicts, dtypes or registered activations "
        "(tg.nn.register_activation(name, fn) makes a custom activation saveable)"
    )


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: _decode(v) for k, v in value["__dict__"].items()}
        if "__dtype__" in value:
            return np.dtype(value["__dtype__"])
        if "__activation__" in value:
            name = value["__activation__"]
            if name not in ACTIVATIONS:
                raise KeyError(f"activation {name!r} is not registered")
            return ACTIVATIONS[name]
        raise ValueError(f"unknown encoded value {value!r}")
    return value


def _describe(m: Module, prefix: str, arrays: dict[str, np.ndarray]) -> dict:
    s = m.structure()
    cls = type(m)
    for n, v in s.params.items():
        arrays[f"params/{prefix}{n}"] = np.asarray(v)
    for n, v in s.buffers.items():
        arrays[f"buffers/{prefix}{n}"] = np.asarray(v)
    modules: dict[str, Any] = {}
    for n, v in s.modules.items():
        if isinstance(v, Module):
            modules[n] = _describe(v, f"{prefix}{n}.", arrays)
        else:
            modules[n] = {
                "kind": type(v).__name__,
                "items": [_describe(c, f"{prefix}{n}.{i}.", arrays) for i, c in enumerate(v)],
            }
    return {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "params": list(s.params),
        "buffers": list(s.buffers),
        "static": {n: _encode(v, f"{cls.__name__}.{n}") for n, v in s.static.items()},
        "modules": modules,
    }


def save(path: str | os.PathLike, model: Module) -> None:
    """Write ``model`` (configuration, parameters, buffers) to the file ``path``.

    The name is used as given (no ``.npz`` is appended). Atomic: the file is replaced
    only once fully written.
    """
    if not isinstance(model, Module):
        raise TypeError(f"save: expected a tracegrad.nn.Module, got {type(model).__name__}")
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "model": _describe(model, "", arrays)}
    meta["tracegrad_version"] = __version__
    arrays[META_KEY] = np.array(json.dumps(meta))
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load(path: str | os.PathLike) -> Module:
    """Read a model written by :func:`save`.

    Raises ``FileNotFoundError`` if there is no such file and :class:`ModelFileError`
    (naming the file) if it is corrupt, truncated, not an ``.npz`` archive, or an
    archive that is not a tracegrad model.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file {path!r}")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise ModelFileError(f"{path!r} is {NOT_A_MODEL} ({_reason(e, path)})") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ModelFileError(f"{path!r} is a single .npy array, {NOT_A_MODEL}")
    try:
        with data:
            if META_KEY not in data.files:
                raise ModelFileError(
                    f"{path!r} is an .npz archive but {NOT_A_MODEL}: it has no "
                    f"{META_KEY!r} entry (its entries: {sorted(data.files)[:5]})"
                )
            meta = json.loads(str(data[META_KEY]))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ModelFileError(
                    f"{path!r}: unsupported model format {meta.get('format')!r} "
                    f"(this tracegrad reads {FORMAT!r})"
                )
            arrays = {k: data[k] for k in data.files if k != META_KEY}
            return _build(meta["model"], "", arrays, path)
    except ModelFileError:
        raise
    except Exception as e:
        raise ModelFileError(
            f"{path!r} is corrupt or truncated, or {NOT_A_MODEL} ({_reason(e, path)})"
        ) from e


def _reason(e: Exception, path: str) -> str:
    """Why NumPy could not read ``path``, in words that fit a model file.

    NumPy's own message for anything that is not an array file suggests loading it
    "unsafely" with ``allow_pickle=True``: for a model file that would be exactly the
    wrong advice (a pickle runs code when loaded), so it never reaches the user.
    """
    if "pickle" in str(e).lower():
        try:
            with open(path, "rb") as fh:
                head = fh.read(2)
        except OSError:
            head = b""
        if head[:1] == b"\x80":  # the opcode every binary pickle starts with
            return "it is a Python pickle, which tracegrad never loads"
        if head == b"PK":
            return "an archive entry holds Python objects, which tracegrad never loads"
        if head == b"\x93N":  # .npy magic: an array whose elements are Python objects
            return "it is an .npy array of Python objects, which tracegrad never loads"
        return "it is neither an .npz archive nor an .npy array"
    return f"{type(e).__name__}: {e}"


def _build(desc: dict, prefix: str, arrays: dict[str, np.ndarray], path: str) -> Module:
    cls_name = desc["class"]
    cls = MODULE_REGISTRY.get(cls_name)
    if cls is None:
        raise ModelFileError(
            f"{path!r}: the model uses the class {cls_name!r}, which is not defined; import "
            "the module that defines it before loading"
        )
    found: dict[str, dict[str, Any]] = {"params": {}, "buffers": {}}
    for kind, names in found.items():
        for n in desc[kind]:
            key = f"{kind}/{prefix}{n}"
            if key not in arrays:
                raise ModelFileError(f"{path!r}: the entry {key!r} is missing")
            names[n] = arrays[key]
    modules: dict[str, Any] = {}
    for n, sub in desc["modules"].items():
        if "class" in sub:
            modules[n] = _build(sub, f"{prefix}{n}.", arrays, path)
        else:
            items = [
                _build(s, f"{prefix}{n}.{i}.", arrays, path) for i, s in enumerate(sub["items"])
            ]
            modules[n] = tuple(items)  # a module's sequence of sub-modules is a tuple
    static = {n: _decode(v) for n, v in desc["static"].items()}
    obj = cls.rebuild(ModuleStructure(found["params"], found["buffers"], modules, static))
    _check_arrays(obj, prefix, path)
    return obj


def _check_arrays(m: Module, prefix: str, path: str) -> None:
    """Reject arrays that do not fit the configuration stored with them, naming both
    shapes: an edited or mixed-up file would otherwise load and fail later, deep inside
    a matrix product."""
    s = m.structure()
    expected = m._array_shapes()
    where = f"the {type(m).__name__} at {prefix[:-1]!r}" if prefix else f"the {type(m).__name__}"
    for kind, named in (("params", s.params), ("buffers", s.buffers)):
        for n, value in named.items():
            key = f"{kind}/{prefix}{n}"
            # parameters are what grad differentiates and optimisers update: floats only;
            # buffers of the built-in layers are floats too, a user's may be any number
            floats_only = kind == "params" or n in expected
            allowed = "f" if floats_only else "biuf"
            if not isinstance(value, np.ndarray) or value.dtype.kind not in allowed:
                what = "floating-point" if floats_only else "numeric"
                raise ModelFileError(
                    f"{path!r}: the array {key!r} has dtype {value.dtype}; {where} needs a "
                    f"{what} array"
                )
            if n in expected and value.shape != tuple(expected[n]):
                raise ModelFileError(
                    f"{path!r}: the array {key!r} has shape {value.shape}, but {where} "
                    f"({m.extra_repr()}) needs shape {tuple(expected[n])}"
                )
