"""Saving and loading models: one ``.npz`` file, no pickle.

The file holds one array per parameter (``params/<path>``) and buffer
(``buffers/<path>``) and a JSON description of the module tree (classes, static
configuration, which attribute is what) under ``__tracegrad__``. It is written
atomically (a temporary file in the same directory, then ``os.replace``), so a crash
never leaves half a model behind, and read with ``allow_pickle=False``, so loading a file
cannot run code. Classes are found by qualified name among the ``Module`` subclasses
already imported; activations by their registered name.

Loading reads only the entries the description names, each checked against a size
limit (:data:`MAX_ENTRY_BYTES`, :data:`MAX_META_BYTES`) before a byte of its data is
read, and validates what it read: shapes and dtypes against the configuration, every
floating-point array finite, and the configuration of the built-in classes (a
``Predictor``'s task, output, names and target scaling, a ``Standardize``'s positive
scales, ``BatchNorm``'s and ``Dropout``'s constants).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from tracegrad._version import __version__
from tracegrad.core.backend import to_host
from tracegrad.files import atomic_open
from tracegrad.nn.activations import ACTIVATIONS, activation_name
from tracegrad.nn.module import MODULE_REGISTRY, Module, ModuleStructure

__all__ = ["ModelFileError", "load", "load_optimizer_state", "save", "save_optimizer_state"]

FORMAT = "tracegrad.nn/1"
META_KEY = "__tracegrad__"
NOT_A_MODEL = "not a tracegrad model file (.npz written by tracegrad.nn.save)"
#: the largest array entry :func:`load` reads (bytes of data); larger is refused
MAX_ENTRY_BYTES = 1 << 31
#: the largest description (the ``__tracegrad__`` entry) it reads
MAX_META_BYTES = 1 << 24


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
    for n, v in s.params.items():  # a model on a GPU is saved from a copy on the host
        arrays[f"params/{prefix}{n}"] = np.asarray(to_host(v))
    for n, v in s.buffers.items():
        arrays[f"buffers/{prefix}{n}"] = np.asarray(to_host(v))
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
    """Write ``model`` (configuration, parameters, buffers) to the file ``path``; an
    optimiser state (``SGDState``, ``AdamState``) goes to :func:`save_optimizer_state`.

    The name is used as given (no ``.npz`` is appended). Atomic: the file is replaced
    only once fully written.
    """
    if type(model).__name__ in _state_classes():  # an optimiser state: its own format
        save_optimizer_state(path, model)
        return
    if not isinstance(model, Module):
        raise TypeError(f"save: expected a tracegrad.nn.Module, got {type(model).__name__}")
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "model": _describe(model, "", arrays)}
    meta["tracegrad_version"] = __version__
    arrays[META_KEY] = np.array(json.dumps(meta))
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _open_npz(path: str, kind: str, not_one: str) -> Any:
    """The ``.npz`` archive at ``path``, opened without pickle (``kind``: what the file
    should be, for the missing-file error; ``not_one``: the phrase for a file that is not
    one)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no {kind} {path!r}")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise ModelFileError(f"{path!r} is {not_one} ({_reason(e, path)})") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ModelFileError(f"{path!r} is a single .npy array, {not_one}")
    return data


def load(path: str | os.PathLike) -> Module:
    """Read a model written by :func:`save`.

    Raises ``FileNotFoundError`` if there is no such file and :class:`ModelFileError`
    (naming the file) if it is corrupt, truncated, not an ``.npz`` archive, or an
    archive that is not a tracegrad model.
    """
    path = os.fspath(path)
    data = _open_npz(path, "model file", NOT_A_MODEL)
    try:
        with data:
            if META_KEY not in data.files:
                raise ModelFileError(
                    f"{path!r} is an .npz archive but {NOT_A_MODEL}: it has no "
                    f"{META_KEY!r} entry (its entries: {sorted(data.files)[:5]})"
                )
            meta = json.loads(str(_read_entry(data, META_KEY, path, MAX_META_BYTES)))
            if isinstance(meta, dict) and meta.get("format") == STATE_FORMAT:
                raise ModelFileError(
                    f"{path!r} holds an optimiser state, not a model: read it with "
                    "tg.nn.load_optimizer_state"
                )
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ModelFileError(
                    f"{path!r}: unsupported model format "
                    f"{meta.get('format') if isinstance(meta, dict) else None!r} "
                    f"(this tracegrad reads {FORMAT!r})"
                )
            model = _build(meta["model"], "", _Entries(data, path), path)
            _check_configuration(model, "", path)
            return model
    except ModelFileError:
        raise
    except Exception as e:
        raise ModelFileError(
            f"{path!r} is corrupt or truncated, or {NOT_A_MODEL} ({_reason(e, path)})"
        ) from e


def _read_entry(data: Any, key: str, path: str, limit: int) -> np.ndarray:
    """The array ``key`` of the open archive ``data``, read only after its header shows
    a plain (non-object) array of at most ``limit`` bytes that the entry can hold."""
    try:
        info = data.zip.getinfo(f"{key}.npy")
    except KeyError:
        raise ModelFileError(f"{path!r}: the entry {key!r} is missing") from None
    with data.zip.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ModelFileError(f"{path!r}: the entry {key!r} has .npy version {version}")
    if dtype.hasobject:
        raise ModelFileError(
            f"{path!r} is {NOT_A_MODEL}: an archive entry ({key!r}) holds Python objects, "
            "which tracegrad never loads"
        )
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > limit:
        raise ModelFileError(
            f"{path!r}: the entry {key!r} has {nbytes:,} bytes of data; a model file's "
            f"entries are read up to {limit:,}"
        )
    if nbytes > info.file_size:
        raise ModelFileError(f"{path!r}: the entry {key!r} is truncated")
    return data[key]


class _Entries:
    """The arrays of an open model archive, read (with :func:`_read_entry`) only when
    the description asks for them: an entry nothing refers to is never decompressed."""

    def __init__(self, data: Any, path: str) -> None:
        self._data, self._path = data, path

    def __contains__(self, key: str) -> bool:
        return key != META_KEY and key in self._data.files

    def __getitem__(self, key: str) -> np.ndarray:
        return _read_entry(self._data, key, self._path, MAX_ENTRY_BYTES)


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


def _build(desc: dict, prefix: str, arrays: Any, path: str) -> Module:
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
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise ModelFileError(
                    f"{path!r}: the array {key!r} holds NaN or infinite values; {where} "
                    "needs finite numbers"
                )


def _check_configuration(m: Module, prefix: str, path: str) -> None:
    """Reject configuration values the built-in classes would never have accepted or
    written (their constructors check them; a loaded file skips the constructors)."""
    from tracegrad.nn.layers import Dropout
    from tracegrad.nn.norm import BatchNorm
    from tracegrad.nn.preprocessing import Predictor, Standardize

    where = f"the {type(m).__name__} at {prefix[:-1]!r}" if prefix else f"the {type(m).__name__}"
    d = m.__dict__

    def bad(what: str) -> ModelFileError:
        return ModelFileError(f"{path!r}: {where} has {what}")

    if isinstance(m, Standardize) and not (m.scale > 0).all():
        raise bad("a scale that is not positive (inputs would be divided by it)")
    if isinstance(m, BatchNorm):
        if not (_real(d.get("eps")) and d["eps"] > 0):
            raise bad(f"eps = {d.get('eps')!r}; it must be a positive number")
        if not (_real(d.get("momentum")) and 0.0 <= d["momentum"] <= 1.0):
            raise bad(f"momentum = {d.get('momentum')!r}; it must be in [0, 1]")
        if not (m.running_var >= 0).all():
            raise bad("a negative running variance")
    if isinstance(m, Dropout) and not (_real(d.get("p")) and 0.0 <= d["p"] < 1.0):
        raise bad(f"p = {d.get('p')!r}; it must be in [0, 1)")
    for name, child in m._children():  # first: a Predictor's check runs its parts
        _check_configuration(child, f"{prefix}{name}.", path)
    if isinstance(m, Predictor):
        _check_predictor(m, bad)


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_predictor(m: Any, bad: Any) -> None:
    d = m.__dict__
    task, output = d.get("task"), d.get("output")
    if task not in m.OUTPUTS:
        raise bad(f"task = {task!r}; it must be one of {', '.join(map(repr, m.OUTPUTS))}")
    if output not in m.OUTPUTS[task]:
        raise bad(f"output = {output!r}; for {task} it must be one of {m.OUTPUTS[task]}")
    for name in ("feature_names", "class_names"):
        names = d.get(name)
        if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
            raise bad(f"{name} = {names!r}; it must be a list of strings")
    if not isinstance(d.get("target_name"), str):
        raise bad(f"target_name = {d.get('target_name')!r}; it must be a string")
    for name in ("target_mean", "target_scale"):
        if not _real(d.get(name)):
            raise bad(f"{name} = {d.get(name)!r}; it must be a finite number")
    if m.target_scale == 0:
        raise bad("target_scale = 0 (every prediction would be the mean)")
    n_features = len(m.feature_names)
    try:  # the network must take the features and give one output per class
        out = np.asarray(m(np.zeros((1, n_features))))
    except Exception as e:
        raise bad(f"{n_features} feature names, which its network cannot take ({e})") from None
    n_out = out.reshape(1, -1).shape[1]
    wanted = len(m.class_names) if task == "classification" else 1
    if n_out != wanted:
        what = f"{wanted} classes" if task == "classification" else "one regression value"
        raise bad(f"a network with {n_out} outputs for {what}")


# --- optimiser states ------------------------------------------------------------------

STATE_FORMAT = "tracegrad.optim/1"
NOT_A_STATE = "not a tracegrad optimiser-state file (.npz written by save_optimizer_state)"


def _state_classes() -> dict[str, type]:
    """The optimiser states a file may hold, by name: only these are ever built."""
    from tracegrad.optim import AdamState, SGDState

    return {"SGDState": SGDState, "AdamState": AdamState}


def _encode_state(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON for one field of a state (a pytree of arrays); arrays go to ``arrays``."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    value = to_host(value)  # an optimiser state on a GPU: its copy on the host
    if isinstance(value, Module):
        return {"__module__": {"at": key, "model": _describe(value, f"{key}.", arrays)}}
    if isinstance(value, (np.ndarray, np.generic)):
        arrays[f"state/{key}"] = np.asarray(value)
        return {"__array__": key}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: _encode_state(v, f"{key}.{k}", arrays) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        kind = "__tuple__" if isinstance(value, tuple) else "__list__"
        return {kind: [_encode_state(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]}
    raise TypeError(
        f"cannot save the optimiser state's {key} ({type(value).__name__}): a state holds "
        "numbers, arrays, tracegrad.nn modules, dicts, lists and tuples"
    )


def save_optimizer_state(path: str | os.PathLike, state: Any) -> None:
    """Write an optimiser state (``tg.optim.SGDState`` or ``AdamState``: the step count,
    SGD's velocity, Adam's moments) to the file ``path``, atomically, in the format of
    :func:`save`: one array per leaf, a JSON description, no pickle."""
    classes = _state_classes()
    name = type(state).__name__
    if classes.get(name) is not type(state):
        raise TypeError(
            f"save_optimizer_state: expected one of {', '.join(sorted(classes))}, got {name}"
        )
    arrays: dict[str, np.ndarray] = {}
    fields = {f: _encode_state(getattr(state, f), f, arrays) for f in state._fields}
    meta = {"format": STATE_FORMAT, "class": name, "fields": fields}
    meta["tracegrad_version"] = __version__
    arrays[META_KEY] = np.array(json.dumps(meta))
    with atomic_open(os.fspath(path), "wb") as fh:
        np.savez(fh, **arrays)


def load_optimizer_state(path: str | os.PathLike, params: Any = None) -> Any:
    """Read a state written by :func:`save_optimizer_state`.

    Every array is checked to be finite floating point (Adam's second moments also
    non-negative) and the step a non-negative integer. With ``params`` (the model the
    state belongs to), each of the state's trees must have its leaves' number, shapes and
    dtypes. Raises ``FileNotFoundError`` or :class:`ModelFileError`, naming the file.
    """
    path = os.fspath(path)
    data = _open_npz(path, "optimiser-state file", NOT_A_STATE)
    try:
        with data:
            if META_KEY not in data.files:
                raise ModelFileError(f"{path!r} is an .npz archive but {NOT_A_STATE}")
            meta = json.loads(str(_read_entry(data, META_KEY, path, MAX_META_BYTES)))
            if not isinstance(meta, dict) or meta.get("format") != STATE_FORMAT:
                found = meta.get("format") if isinstance(meta, dict) else None
                raise ModelFileError(
                    f"{path!r} is {NOT_A_STATE}: its format is {found!r}, not {STATE_FORMAT!r}"
                )
            cls = _state_classes().get(meta.get("class"))
            if cls is None:
                raise ModelFileError(f"{path!r}: unknown optimiser state {meta.get('class')!r}")
            entries = _Entries(data, path)
            fields = meta["fields"]
            if not isinstance(fields, dict) or set(fields) != set(cls._fields):
                raise ModelFileError(f"{path!r}: a {cls.__name__} has the fields {cls._fields}")
            state = cls(**{f: _decode_state(fields[f], entries, path) for f in cls._fields})
    except ModelFileError:
        raise
    except Exception as e:
        raise ModelFileError(
            f"{path!r} is corrupt or truncated, or {NOT_A_STATE} ({_reason(e, path)})"
        ) from e
    _check_state(state, params, path)
    return state


def _decode_state(value: Any, entries: _Entries, path: str) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, list) or not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"unknown encoded value {value!r}")
    ((kind, inner),) = value.items()
    if kind == "__module__":
        return _build(inner["model"], f"{inner['at']}.", entries, path)
    if kind == "__array__":
        return entries[f"state/{inner}"]
    if kind == "__dict__":
        return {k: _decode_state(v, entries, path) for k, v in inner.items()}
    if kind in ("__tuple__", "__list__"):
        items = [_decode_state(v, entries, path) for v in inner]
        return tuple(items) if kind == "__tuple__" else items
    raise ValueError(f"unknown encoded value {value!r}")


def _check_state(state: Any, params: Any, path: str) -> None:
    """Reject a state no optimiser would have made, or one made for other parameters."""
    from tracegrad.core import tree

    step = state.step
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ModelFileError(f"{path!r}: the step count is {step!r}; it must be an integer >= 0")
    expected = None if params is None else tree.leaves(params)
    for field in state._fields[1:]:
        value = getattr(state, field)
        if value is None:
            continue
        leaves = tree.leaves(value)
        for leaf in leaves:
            if not isinstance(leaf, np.ndarray) or leaf.dtype.kind != "f":
                raise ModelFileError(f"{path!r}: the state's {field} holds a non-float array")
            if not np.isfinite(leaf).all():
                raise ModelFileError(f"{path!r}: the state's {field} holds NaN or infinite values")
            if field == "nu" and (leaf < 0).any():
                raise ModelFileError(f"{path!r}: Adam's second moments (nu) must be >= 0")
        if expected is None:
            continue
        if len(leaves) != len(expected):
            raise ModelFileError(
                f"{path!r}: the state's {field} does not fit the model: it has "
                f"{len(leaves)} arrays, the model {len(expected)} parameters"
            )
        for i, (leaf, p) in enumerate(zip(leaves, expected)):
            p = np.asarray(p)
            if leaf.shape != p.shape or leaf.dtype != p.dtype:
                raise ModelFileError(
                    f"{path!r}: the state's {field} does not fit the model: its array {i} is "
                    f"{leaf.dtype}{list(leaf.shape)}, the parameter is {p.dtype}{list(p.shape)}"
                )
