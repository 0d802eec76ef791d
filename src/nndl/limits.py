"""The documented limits that networks and files are checked against, in one place.

Anything that describes more than these is refused with one line naming the
limit, before memory of its size is allocated: a network is measured from its
layer sizes, a model file against the numbers it actually holds, a checkpoint
against the bytes in its archive. The README's "Limits" paragraph lists them.

This module imports nothing from nndl, so every module may use it.
"""

from __future__ import annotations

import itertools
import reprlib
from pathlib import Path

__all__ = [
    "MAX_CHECKPOINT_BYTES",
    "MAX_CHECKPOINT_META_BYTES",
    "MAX_CONFIG_FILE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_LAYERS",
    "MAX_MESSAGE_CHARS",
    "MAX_MODEL_FILE_BYTES",
    "MAX_NESTING",
    "MAX_PARAMS",
    "check_file_size",
    "check_nesting",
    "check_network_size",
    "clip",
    "network_params",
    "short_repr",
]

#: Weights and biases of one network (800 MB in float64).
MAX_PARAMS = 100_000_000
#: Layers of one network, the input and output layers included (the length of ``sizes``).
MAX_LAYERS = 1_000
#: A model file (JSON); the largest network's weights as text fit in it.
MAX_MODEL_FILE_BYTES = 4 * 2**30
#: A checkpoint archive: parameters, velocities, best parameters and the epoch's order.
MAX_CHECKPOINT_BYTES = 8 * 2**30
#: The JSON part of a checkpoint (the state without its arrays: history, callbacks' records).
MAX_CHECKPOINT_META_BYTES = 256 * 2**20
#: A run configuration file (``--config``).
MAX_CONFIG_FILE_BYTES = 16 * 2**20
#: An image file read as a digit (Pillow's own default limit, about 9459 x 9459
#: pixels): a larger one is refused before it is decoded.
MAX_IMAGE_PIXELS = 89_478_485
#: Depth of nested lists and tables in a configuration, a checkpoint's JSON or a model's metadata.
MAX_NESTING = 100
#: An error message printed by the command line (longer ones are cut).
MAX_MESSAGE_CHARS = 1_000

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlong = 40


def short_repr(value, limit: int = 120) -> str:
    """``repr(value)`` cut to a readable length (long lists and strings elided with ...)."""
    return clip(_REPR.repr(value), limit)


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, saying how much was left out."""
    text = str(text)
    if len(text) <= limit:
        return text
    note = f" ... [{len(text) - limit:,} more characters]"
    return text[: max(0, limit - len(note))] + note


def network_params(sizes) -> int:
    """Weights and biases of a fully-connected network with these layer sizes."""
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def check_network_size(sizes, what: str | None = None) -> None:
    """Refuse layer sizes over :data:`MAX_LAYERS` layers or :data:`MAX_PARAMS` parameters.

    ``sizes`` is a list of positive integers; ``what`` names them in the
    message (default: ``sizes [...]``). Raises ValueError naming the limit.
    """
    if len(sizes) > MAX_LAYERS:
        raise ValueError(
            f"sizes lists {len(sizes):,} layers, over the cap of {MAX_LAYERS:,} "
            f"(nndl.limits.MAX_LAYERS)"
        )
    n_params = network_params(sizes)
    if n_params > MAX_PARAMS:
        raise ValueError(
            f"{what or f'sizes {short_repr(sizes)}'} describe {n_params:,} weights and "
            f"biases, over the cap of {MAX_PARAMS:,} (nndl.limits.MAX_PARAMS); "
            f"use smaller layers"
        )


def check_file_size(path, limit: int, what: str) -> int:
    """The size of the file at ``path`` in bytes; ValueError when it is over ``limit``."""
    size = Path(path).stat().st_size
    if size > limit:
        raise ValueError(
            f"{path}: {size:,} bytes, over the cap of {limit:,} for {what} (nndl.limits)"
        )
    return size


def check_nesting(doc, what: str, limit: int = MAX_NESTING) -> None:
    """Refuse lists and dicts nested more than ``limit`` deep (checked without recursion)."""
    stack = [(doc, 1)]
    while stack:
        obj, depth = stack.pop()
        if isinstance(obj, dict):
            children = obj.values()
        elif isinstance(obj, (list, tuple)):
            children = obj
        else:
            continue
        if depth > limit:
            raise ValueError(f"{what} is nested more than {limit} levels deep")
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list, tuple)))
