"""Saving and loading networks as self-describing JSON documents.

The nndl format (version 1)::

    {
      "format": "nndl-network", "version": 1,
      "sizes": [784, 30, 10],
      "hidden_activation": ["sigmoid"], "output_activation": "sigmoid",
      "cost": "cross_entropy", "initializer": "default",
      "dropout": [0.0], "dtype": "float64",
      "weights": [[[...n_in...], ...n_out...], ...],   # W^l, shape (n_out, n_in)
      "biases": [[...n_out...], ...],                  # b^l, shape (n_out,)
      "metadata": {...}                                # optional, free-form JSON
    }

The book's network2 format, ``{"sizes", "weights", "biases", "cost"}`` with
``cost`` ``"CrossEntropyCost"`` or ``"QuadraticCost"`` and biases of shape
(n_out, 1), loads too.

Loading never executes anything: names are looked up in the explicit
registries only, and every field is checked (keys, version, sizes, shapes,
element types, finiteness). Nothing is allocated for more than the file
holds: the file's size, the layer count and the parameter count are checked
against :mod:`nndl.limits`, and the weights and biases must be present in the
file with the shapes the sizes declare before the network is built. Every
problem is a ``ValueError`` naming it, in a message of bounded length.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._io import atomic_write_json
from .activations import ACTIVATIONS
from .costs import COSTS
from .initializers import INITIALIZERS
from .limits import (
    MAX_LAYERS,
    MAX_MODEL_FILE_BYTES,
    MAX_PARAMS,
    check_file_size,
    check_nesting,
    check_network_size,
    short_repr,
)
from .network import Network

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MAX_PARAMS", "from_dict", "load", "save", "to_dict"]

FORMAT_NAME = "nndl-network"
FORMAT_VERSION = 1

_NNDL_KEYS = {
    "format",
    "version",
    "sizes",
    "hidden_activation",
    "output_activation",
    "cost",
    "initializer",
    "dropout",
    "dtype",
    "weights",
    "biases",
    "metadata",
}
_NNDL_REQUIRED = {"format", "version", "sizes", "cost", "weights", "biases"}
_BOOK_KEYS = {"sizes", "weights", "biases", "cost"}
_BOOK_COSTS = {"CrossEntropyCost": "cross_entropy", "QuadraticCost": "quadratic"}


def to_dict(net: Network, metadata: dict | None = None) -> dict:
    """The network as a JSON-ready dict in the nndl format."""
    doc = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "sizes": list(net.sizes),
        "hidden_activation": [a.name for a in net.hidden_activations],
        "output_activation": net.output_activation.name,
        "cost": net.cost.name,
        "initializer": net.initializer.name,
        "dropout": list(net.dropout),
        "dtype": net.dtype.name,
        "weights": [w.tolist() for w in net.weights],
        "biases": [b.tolist() for b in net.biases],
    }
    if metadata:
        doc["metadata"] = metadata
    return doc


def save(net: Network, path, metadata: dict | None = None) -> Path:
    """Write ``net`` to ``path`` as JSON, atomically. Returns the path."""
    path = Path(path)
    atomic_write_json(path, to_dict(net, metadata), indent=None)
    return path


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed in a model file (weights must be finite numbers)")


def _parse(text: str, source: str):
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValueError(f"{source}: JSON nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON (truncated or corrupted?): {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc


def _check_name(value, registry, what: str):
    if not isinstance(value, str) or value not in registry:
        raise ValueError(f"unknown {what} {short_repr(value)}; expected one of {sorted(registry)}")
    return value


def _is_number(v) -> bool:
    return type(v) is float or type(v) is int


def _matrix(rows, n_out: int, n_in: int, what: str, dtype) -> np.ndarray:
    """Turn a nested list into a (n_out, n_in) array, checking every element."""
    if not isinstance(rows, list) or len(rows) != n_out:
        got = len(rows) if isinstance(rows, list) else type(rows).__name__
        raise ValueError(f"{what} must be a list of {n_out} rows, got {got}")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != n_in:
            got = len(row) if isinstance(row, list) else type(row).__name__
            raise ValueError(f"{what} row {i} must hold {n_in} numbers, got {got}")
        if not all(map(_is_number, row)):
            bad = next(v for v in row if not _is_number(v))
            raise ValueError(f"{what} row {i} holds a non-number {short_repr(bad)}")
    arr = np.array(rows, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} holds values too large to represent")
    with np.errstate(over="ignore"):
        out = arr.astype(dtype)
    if not np.isfinite(out).all():
        raise ValueError(f"{what} holds values too large for {np.dtype(dtype).name}")
    return out


def _vector(values, n: int, what: str, dtype, *, column: bool = False) -> np.ndarray:
    if column:
        if not isinstance(values, list) or len(values) != n:
            raise ValueError(f"{what} must be a list of {n} one-element rows")
        return _matrix(values, n, 1, what, dtype)[:, 0]
    return _matrix([values], 1, n, what, dtype)[0]


def _sizes(value) -> list[int]:
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError(
            f"sizes must be a list of at least two positive integers, got {short_repr(value)}"
        )
    if len(value) > MAX_LAYERS:
        check_network_size(value)  # refused before looking at each entry
    for s in value:
        if type(s) is not int or s < 1:
            raise ValueError(f"sizes must be positive integers, got {short_repr(s)}")
    check_network_size(value)
    return value


def _check_layout(weights, biases, sizes: list[int], *, column_biases: bool) -> None:
    """The weights and biases the file holds have the shapes ``sizes`` declares.

    Only list lengths are compared (the elements are checked while filling),
    so a file is refused before a network of its declared size is allocated
    unless it really holds that many numbers.
    """
    L = len(sizes) - 1
    if not isinstance(weights, list) or len(weights) != L:
        got = len(weights) if isinstance(weights, list) else type(weights).__name__
        raise ValueError(f"weights must be a list of {L} matrices for {L + 1} layers, got {got}")
    if not isinstance(biases, list) or len(biases) != L:
        got = len(biases) if isinstance(biases, list) else type(biases).__name__
        raise ValueError(f"biases must be a list of {L} vectors for {L + 1} layers, got {got}")
    for l in range(L):
        n_in, n_out = sizes[l], sizes[l + 1]
        rows = weights[l]
        if not isinstance(rows, list) or len(rows) != n_out:
            got = len(rows) if isinstance(rows, list) else type(rows).__name__
            raise ValueError(f"weights[{l}] must be a list of {n_out} rows, got {got}")
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != n_in:
                got = len(row) if isinstance(row, list) else type(row).__name__
                raise ValueError(f"weights[{l}] row {i} must hold {n_in} numbers, got {got}")
        b = biases[l]
        if not isinstance(b, list) or len(b) != n_out:
            got = len(b) if isinstance(b, list) else type(b).__name__
            raise ValueError(f"biases[{l}] must be a list of {n_out} numbers, got {got}")
        if column_biases and not all(isinstance(r, list) and len(r) == 1 for r in b):
            raise ValueError(f"biases[{l}] must be a list of {n_out} one-element rows")


def _fill(net: Network, weights, biases, *, column_biases: bool) -> Network:
    """Copy the file's weights and biases (laid out as :func:`_check_layout` checked)."""
    for l in range(len(net.sizes) - 1):
        n_in, n_out = net.sizes[l], net.sizes[l + 1]
        net.weights[l] = _matrix(weights[l], n_out, n_in, f"weights[{l}]", net.dtype)
        net.biases[l] = _vector(biases[l], n_out, f"biases[{l}]", net.dtype, column=column_biases)
    return net


def from_dict(doc, source: str = "model") -> Network:
    """Build a network from a parsed document (nndl or the book's format)."""
    if not isinstance(doc, dict):
        raise ValueError(f"{source}: a model file must hold a JSON object")
    try:
        if "format" not in doc and set(doc) == _BOOK_KEYS:
            return _from_book(doc)
        return _from_nndl(doc)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {exc}") from exc


def _from_book(doc) -> Network:
    sizes = _sizes(doc["sizes"])
    cost = doc["cost"]
    if not isinstance(cost, str) or cost not in _BOOK_COSTS:
        raise ValueError(
            f"unknown cost {short_repr(cost)}; the book's files use {sorted(_BOOK_COSTS)}"
        )
    _check_layout(doc["weights"], doc["biases"], sizes, column_biases=True)
    net = Network(sizes, cost=_BOOK_COSTS[cost], seed=0)
    return _fill(net, doc["weights"], doc["biases"], column_biases=True)


def _from_nndl(doc) -> Network:
    unknown = set(doc) - _NNDL_KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {short_repr(sorted(unknown))}")
    missing = _NNDL_REQUIRED - set(doc)
    if missing:
        raise ValueError(f"missing key(s) {sorted(missing)}")
    if doc["format"] != FORMAT_NAME:
        raise ValueError(f"format must be {FORMAT_NAME!r}, got {short_repr(doc['format'])}")
    if type(doc["version"]) is not int or doc["version"] != FORMAT_VERSION:
        raise ValueError(
            f"unsupported format version {short_repr(doc['version'])}; this nndl reads version "
            f"{FORMAT_VERSION}"
        )
    sizes = _sizes(doc["sizes"])
    hidden = doc.get("hidden_activation", ["sigmoid"] * (len(sizes) - 2))
    if not isinstance(hidden, list):
        raise ValueError("hidden_activation must be a list of names")
    for h in hidden:
        _check_name(h, ACTIVATIONS, "activation")
    out = doc.get("output_activation")
    if out is not None:
        _check_name(out, ACTIVATIONS, "activation")
    cost = _check_name(doc["cost"], COSTS, "cost")
    init = _check_name(doc.get("initializer", "default"), INITIALIZERS, "initializer")
    dropout = doc.get("dropout", [0.0] * (len(sizes) - 2))
    if not isinstance(dropout, list) or not all(map(_is_number, dropout)):
        raise ValueError("dropout must be a list of numbers")
    dtype = doc.get("dtype", "float64")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {short_repr(dtype)}")
    meta = doc.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise ValueError("metadata must be a JSON object")
    check_nesting(meta, "metadata")
    _check_layout(doc["weights"], doc["biases"], sizes, column_biases=False)
    net = Network(
        sizes,
        hidden_activation=hidden,
        cost=cost,
        output_activation=out,
        initializer=init,
        dropout=dropout,
        dtype=dtype,
        seed=0,
    )
    net = _fill(net, doc["weights"], doc["biases"], column_biases=False)
    net.metadata = meta or {}
    return net


def load(path) -> Network:
    """Load a network saved by :func:`save` or by the book's network2 ``save``."""
    path = Path(path)
    check_file_size(path, MAX_MODEL_FILE_BYTES, "a model file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text (JSON) file") from exc
    return from_dict(_parse(text, str(path)), str(path))
