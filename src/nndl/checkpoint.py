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

from ._io import atomic_write_bytes

__all__ = [
    "FORMAT",
    "VERSION",
    "CheckpointError",
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


def _decode(obj, arrays: dict):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        if set(obj) == {"__float__"}:
            return float(obj["__float__"])
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


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

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    CheckpointError
        Not a checkpoint, another format version, or corrupted or partial
        (truncated archive, missing member, wrong shape, dtype or digest).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if _META not in z.files:
                raise _bad(path, "it has no metadata (not written by nndl, or partial)")
            doc = json.loads(z[_META].tobytes().decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise _bad(path, f"the format is not {FORMAT!r}")
            if doc.get("version") != VERSION:
                raise _bad(
                    path,
                    f"format version {doc.get('version')!r} is not supported (expected {VERSION})",
                )
            arrays = {}
            for name, info in doc["arrays"].items():
                if name not in z.files:
                    raise _bad(path, f"array {name!r} is missing (the file is partial)")
                a = z[name]
                if list(a.shape) != info["shape"] or a.dtype.str != info["dtype"]:
                    raise _bad(path, f"array {name!r} does not match its recorded shape or dtype")
                if _digest(a) != info["sha256"]:
                    raise _bad(path, f"array {name!r} is corrupted (checksum mismatch)")
                arrays[name] = a
            return _decode(doc["state"], arrays)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise _bad(path, f"it is corrupted or partial ({type(exc).__name__}: {exc})") from exc


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
