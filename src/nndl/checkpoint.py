"""Checkpoint files: a training run's whole state in one file, written atomically.

A checkpoint is a single ``.npz`` archive (NumPy's zip of ``.npy`` members):

* the member ``__meta__`` holds UTF-8 JSON: the format name and version, the
  state as nested dicts and lists, and for every array its shape, dtype and
  sha256;
* every other member is one array of the state (weights, biases, optimizer
  velocities, the epoch's shuffled order, best parameters kept by early
  stopping, ...), referenced from the JSON as ``{"__array__": "a12"}``.

One file means one atomic ``os.replace``: a reader sees the previous
checkpoint or the new one, never a mixture. Loading uses
``allow_pickle=False`` and checks the format, the version, every array's
presence, shape, dtype and digest; anything else is refused with a
:class:`CheckpointError` that says the file is corrupted or partial.

What goes into the state is decided by :meth:`nndl.training.Trainer.state_dict`;
this module only stores and verifies it, and provides the fingerprints used
to refuse resuming with another configuration or other data.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from ._io import atomic_write_bytes
from .limits import (
    MAX_CHECKPOINT_BYTES,
    MAX_CHECKPOINT_META_BYTES,
    MAX_NESTING,
    MAX_PARAMS,
    check_nesting,
    clip,
    short_repr,
)
from .setting_kinds import MONITOR_KEYS
from .settings import get as get_setting

__all__ = [
    "FORMAT",
    "TRAINING_FIELDS",
    "VERSION",
    "CheckpointError",
    "check_training_state",
    "config_hash",
    "data_fingerprint",
    "read_checkpoint",
    "write_checkpoint",
]

FORMAT = "nndl-checkpoint"
VERSION = 1
_META = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupted, partial, or from another run."""


# ------------------------------------------------------------------ encoding
def _encode(obj, arrays: dict, path: str = "state"):
    """Replace arrays by references and non-finite floats by tags; JSON-ready."""
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError(f"{path}: object arrays cannot be checkpointed")
        name = f"a{len(arrays)}"
        arrays[name] = np.ascontiguousarray(obj)
        return {"__array__": name}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{path}: keys must be strings, got {k!r}")
            out[k] = _encode(v, arrays, f"{path}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else {"__float__": repr(x)}
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"{path}: cannot checkpoint a {type(obj).__name__}")


_NON_FINITE = {repr(x): x for x in (math.inf, -math.inf, math.nan)}


def _decode(obj, arrays: dict, path):
    """The state with its references replaced by arrays and tagged non-finite floats."""
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            ref = obj["__array__"]
            if not isinstance(ref, str) or ref not in arrays:
                raise _bad(path, f"its state refers to an array {short_repr(ref)} it does not hold")
            return arrays[ref]
        if set(obj) == {"__float__"}:
            tag = obj["__float__"]
            if not isinstance(tag, str) or tag not in _NON_FINITE:
                raise _bad(path, f"its state holds a bad number tag {short_repr(tag)}")
            return _NON_FINITE[tag]
        return {k: _decode(v, arrays, path) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays, path) for v in obj]
    return obj


def _digest(a: np.ndarray) -> str:
    """sha256 of the array's bytes in C order (hashed in place, without a copy)."""
    return hashlib.sha256(np.ascontiguousarray(a).reshape(-1).view(np.uint8)).hexdigest()


# ------------------------------------------------------------------- writing
def write_checkpoint(path, state: dict) -> Path:
    """Store ``state`` (nested dicts/lists of JSON values and arrays) at ``path`` atomically."""
    arrays: dict[str, np.ndarray] = {}
    encoded = _encode(state, arrays)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "arrays": {
            k: {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": _digest(a)}
            for k, a in arrays.items()
        },
        "state": encoded,
    }
    meta = json.dumps(doc, allow_nan=False, sort_keys=True).encode("utf-8")
    buf = io.BytesIO()
    np.savez(buf, **{_META: np.frombuffer(meta, dtype=np.uint8)}, **arrays)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


# ------------------------------------------------------------------- reading
def _bad(path, why: str) -> CheckpointError:
    return CheckpointError(f"{path} is not a usable nndl checkpoint: {why}")


def read_checkpoint(path) -> dict:
    """Load and verify a checkpoint; return its state with the arrays in place.

    Nothing is allocated for more than the file holds: the archive's members
    must be stored uncompressed (as nndl writes them, so a small file cannot
    expand into a large one), every array's header must agree with the
    metadata and with the member's size, and the sizes are checked against
    :mod:`nndl.limits` before anything is read.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    CheckpointError
        Not a checkpoint, another format version, or corrupted or partial
        (truncated archive, missing member, wrong shape, dtype or digest), or
        over the limits.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise _bad(path, f"it has {size:,} bytes, over the cap of {MAX_CHECKPOINT_BYTES:,}")
    try:
        with zipfile.ZipFile(path) as z:
            members = _members(z, size, path)
            doc = _read_meta(z, members, path)
            arrays = {
                name: _read_array(z, members, name, info, path)
                for name, info in doc["arrays"].items()
            }
            return _decode(doc["state"], arrays, path)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise _bad(path, f"it is corrupted or partial ({type(exc).__name__}: {exc})") from exc


def _members(z: zipfile.ZipFile, size: int, path) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by array name, each stored as it is in the file."""
    members = {}
    total = 0
    for info in z.infolist():
        name = info.filename.removesuffix(".npy")
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
            raise _bad(
                path,
                f"its member {short_repr(name)} is compressed; nndl stores them uncompressed "
                f"(and a compressed member could expand far beyond the file's size)",
            )
        total += info.compress_size
        if total > size:
            raise _bad(path, "its members claim more bytes than the file holds (corrupted)")
        members[name] = info
    return members


def _open_array(z: zipfile.ZipFile, info: zipfile.ZipInfo, what: str, path, max_elements: int):
    """Read an .npy member's header; return (shape, dtype) after checking them against
    ``max_elements`` and the member's size, so that reading allocates what the file holds.
    ``what`` names the member in messages."""
    with z.open(info) as fh:
        version = npformat.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = npformat.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = npformat.read_array_header_2_0(fh)
        else:
            raise _bad(path, f"{what} has an unknown .npy version {version}")
        header = fh.tell()
    if dtype.hasobject:
        raise _bad(path, f"{what} holds Python objects, which nndl never stores")
    count = math.prod(shape)
    if count > max_elements:
        raise _bad(path, f"{what} declares {count:,} elements, over the cap of {max_elements:,}")
    if info.file_size != header + count * dtype.itemsize:
        raise _bad(path, f"{what} does not hold the {count:,} elements its header declares")
    return tuple(shape), dtype


def _load_member(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with z.open(info) as fh:
        return npformat.read_array(fh, allow_pickle=False)


def _read_meta(z: zipfile.ZipFile, members: dict, path) -> dict:
    """The checkpoint's JSON document, checked: format, version, nesting, the array table."""
    if _META not in members:
        raise _bad(path, "it has no metadata (not written by nndl, or partial)")
    info = members[_META]
    shape, dtype = _open_array(z, info, "its metadata", path, MAX_CHECKPOINT_META_BYTES)
    if dtype != np.uint8 or len(shape) != 1:
        raise _bad(path, "its metadata is not a byte string (corrupted)")
    text = _load_member(z, info).tobytes().decode("utf-8")
    deep = _bad(path, f"its metadata is nested more than {MAX_NESTING} levels deep")
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise deep from None
    except ValueError as exc:
        raise _bad(path, f"its metadata is corrupted ({clip(str(exc), 200)})") from None
    try:
        check_nesting(doc, "its metadata")
    except ValueError:
        raise deep from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _bad(path, f"the format is not {FORMAT!r}")
    if doc.get("version") != VERSION:
        raise _bad(
            path,
            f"format version {short_repr(doc.get('version'))} is not supported "
            f"(expected {VERSION})",
        )
    table = doc.get("arrays")
    if not isinstance(table, dict) or "state" not in doc:
        raise _bad(path, "its metadata has no table of arrays or no state (corrupted)")
    for name, info in table.items():
        if not (
            isinstance(info, dict)
            and isinstance(info.get("shape"), list)
            and all(type(n) is int and n >= 0 for n in info["shape"])
            and isinstance(info.get("dtype"), str)
            and isinstance(info.get("sha256"), str)
        ):
            raise _bad(path, f"the metadata of array {short_repr(name)} is malformed (corrupted)")
    return doc


def _refuse_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _read_array(z: zipfile.ZipFile, members: dict, name: str, info: dict, path) -> np.ndarray:
    if name == _META or name not in members:
        raise _bad(path, f"array {short_repr(name)} is missing (the file is partial)")
    member = members[name]
    shape, dtype = _open_array(z, member, f"array {name!r}", path, MAX_PARAMS)
    if list(shape) != info["shape"] or dtype.str != info["dtype"]:
        raise _bad(path, f"array {name!r} does not match its recorded shape or dtype")
    a = _load_member(z, member)
    if _digest(a) != info["sha256"]:
        raise _bad(path, f"array {name!r} is corrupted (checksum mismatch)")
    return a


# ------------------------------------------------------ a training run's state
#: The fields of :meth:`nndl.training.Trainer.state_dict` that resuming reads.
TRAINING_FIELDS = (
    "config_hash",
    "identity",
    "network",
    "train_config",
    "optimizer",
    "epoch",
    "completed_epochs",
    "position",
    "learning_rate",
    "stop_training",
    "rng",
    "history",
    "callbacks",
)


def check_training_state(
    state, *, param_shapes, dtype, mini_batch_size: int, shuffle: bool, source="the state"
) -> None:
    """Check the meaning of every field of a training run's state, not only its digests.

    A checkpoint whose digests were recomputed after an edit passes
    :func:`read_checkpoint`; this refuses what no run can have written: a
    learning rate outside its setting's range, an epoch before the first, a
    position beyond the epoch, an example order that is not a permutation
    (or not ``0..n-1`` without shuffling), parameters or velocities of other
    shapes or not finite, a history that does not count the epochs done.
    ``param_shapes`` and ``dtype`` are the network's, ``mini_batch_size`` and
    ``shuffle`` the run's. Raises :class:`CheckpointError` naming the field
    and ``source`` (the file).
    """

    def bad(field, why):
        return _bad(source, f"its {field} {why}")

    if not isinstance(state, dict):
        raise _bad(source, "its state is not a table")
    missing = [k for k in TRAINING_FIELDS if k not in state]
    if missing:
        raise _bad(source, f"its state is incomplete (no {', '.join(map(repr, missing))})")
    learning_rate = get_setting("learning_rate")

    def check_rate(field, value):
        try:
            learning_rate.check(value)
        except (TypeError, ValueError) as exc:
            raise bad(field, f"is invalid ({exc})") from None

    check_rate("learning_rate", state["learning_rate"])
    epoch = state["epoch"]
    if type(epoch) is not int or epoch < -1:
        raise bad("epoch", f"is {short_repr(epoch)}; expected an integer >= -1")
    if type(state["stop_training"]) is not bool:
        raise bad(
            "stop_training", f"is {short_repr(state['stop_training'])}; expected true or false"
        )

    position = state["position"]
    completed = epoch + 1 if position is None else epoch
    if position is not None:
        _check_position(position, epoch, mini_batch_size, shuffle, bad)
    if state["completed_epochs"] != completed:
        raise bad(
            "completed_epochs",
            f"is {short_repr(state['completed_epochs'])}; its epoch and position say {completed}",
        )

    history = state["history"]
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise bad("history", "is not a list of records")
    epochs = [r.get("epoch") for r in history]
    # Epochs count from 1 (checkpoints written before that counted from 0).
    if epochs not in (list(range(1, completed + 1)), list(range(completed))):
        raise bad(
            "history",
            f"records epochs {short_repr(epochs)}, not the {max(completed, 0)} epochs done",
        )
    for r in history:
        where = f"history record of epoch {r['epoch']}"
        for key, value in r.items():
            if key == "learning_rate":
                check_rate(where, value)
            elif key in (*MONITOR_KEYS, "time") and (
                type(value) not in (int, float)
                or value < 0
                or (key.endswith("accuracy") and not 0 <= value <= 1)
            ):
                raise bad(where, f"has {key} = {short_repr(value)}")

    network = state["network"]
    if not isinstance(network, dict) or not isinstance(network.get("params"), list):
        raise bad("network", "has no list of parameters")
    _check_arrays("network parameters", network["params"], param_shapes, dtype, bad)

    optimizer = state["optimizer"]
    if not (
        isinstance(optimizer, dict)
        and isinstance(optimizer.get("class"), str)
        and isinstance(optimizer.get("state"), dict)
    ):
        raise bad("optimizer", "is not a table of a class name and a state")
    velocities = optimizer["state"].get("velocities")
    if velocities is not None:
        _check_arrays("optimizer velocities", velocities, param_shapes, dtype, bad)

    if not isinstance(state["rng"], dict):
        raise bad("rng", "is not a generator's state")
    callbacks = state["callbacks"]
    if not isinstance(callbacks, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("class"), str)
        and isinstance(e.get("state"), (dict, type(None)))
        for e in callbacks
    ):
        raise bad("callbacks", "is not a list of callbacks' class names and states")
    for e in callbacks:
        best = (e["state"] or {}).get("best_params")
        if best is not None:
            _check_arrays(f"{e['class']} best parameters", best, param_shapes, dtype, bad)


def _check_position(position, epoch: int, mini_batch_size: int, shuffle: bool, bad) -> None:
    """Where an interrupted epoch stopped: the next mini-batch and the epoch's example order."""
    if not isinstance(position, dict) or set(position) != {"next_batch", "order"}:
        raise bad("position", "is not a table of next_batch and order")
    if epoch < 0:
        raise bad("position", f"is set but its epoch is {epoch} (no epoch has begun)")
    order = position["order"]
    if (
        not isinstance(order, np.ndarray)
        or order.ndim != 1
        or order.size == 0
        or order.dtype.kind not in "iu"
    ):
        raise bad("position.order", "is not a list of example numbers (a 1-D integer array)")
    n = order.size
    if shuffle:
        seen = np.zeros(n, dtype=bool)
        inside = (order >= 0) & (order < n)
        if inside.all():
            seen[order] = True
        if not (inside.all() and seen.all()):
            raise bad("position.order", f"is not a permutation of the {n:,} examples 0..{n - 1}")
    elif not np.array_equal(order, np.arange(n)):
        raise bad("position.order", f"is not 0..{n - 1}, the order of a run without shuffling")
    next_batch = position["next_batch"]
    batches = -(-n // mini_batch_size)
    if type(next_batch) is not int or not 0 <= next_batch <= batches:
        raise bad(
            "position.next_batch",
            f"is {short_repr(next_batch)}, outside the epoch's {batches:,} mini-batches "
            f"of {mini_batch_size}",
        )


def _check_arrays(what: str, arrays, shapes, dtype, bad) -> None:
    """``arrays`` has one finite array of ``dtype`` per shape in ``shapes``."""
    dtype = np.dtype(dtype)
    if not isinstance(arrays, list) or len(arrays) != len(shapes):
        got = len(arrays) if isinstance(arrays, list) else type(arrays).__name__
        raise bad(what, f"are {got} arrays; the network has {len(shapes)}")
    for i, (a, shape) in enumerate(zip(arrays, shapes, strict=True)):
        if not isinstance(a, np.ndarray):
            raise bad(f"{what}[{i}]", f"is a {type(a).__name__}, not an array")
        if a.shape != tuple(shape) or a.dtype != dtype:
            raise bad(
                f"{what}[{i}]",
                f"has shape {a.shape} and dtype {a.dtype.name}; the network's has "
                f"{tuple(shape)} and {dtype.name}",
            )
        if not np.isfinite(a).all():
            raise bad(f"{what}[{i}]", "holds nan or inf")


# -------------------------------------------------------------- fingerprints
def data_fingerprint(X: np.ndarray, Y: np.ndarray, *, rows: int = 256) -> dict:
    """A cheap identity of a data set: shapes, dtype, sums and a digest of sampled rows.

    Hashing all of MNIST on every checkpoint would cost more than an epoch
    of a small network; the full sums plus a digest of ``rows`` evenly
    spaced rows catch a different file, subset, order or scaling.
    """
    idx = np.unique(np.linspace(0, X.shape[0] - 1, num=min(rows, X.shape[0])).astype(np.int64))
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X[idx]).tobytes())
    h.update(np.ascontiguousarray(Y[idx]).tobytes())
    return {
        "X_shape": list(X.shape),
        "Y_shape": list(Y.shape),
        "dtype": X.dtype.str,
        "X_sum": float(np.sum(X, dtype=np.float64)),
        "Y_sum": float(np.sum(Y, dtype=np.float64)),
        "rows_sha256": h.hexdigest(),
    }


def config_hash(identity: dict) -> str:
    """sha256 of a canonical JSON form of a run's identity (configs, data fingerprints)."""
    text = json.dumps(_encode(identity, {}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
