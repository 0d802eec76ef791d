"""Expanded training sets built once: originals plus transformed copies, cached as .npz files.

A cached file records its recipe, seed and a hash of the source data, so a
call with other settings or other data never reads a file built otherwise.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._io import atomic_write
from .._validation import check_range
from .recipe import SHIFTS_RECIPE, Augmenter
from .transforms import as_image_stack, expand_shifts

__all__ = [
    "EXPANDED_FORMAT",
    "EXPANDED_VERSION",
    "build_expanded",
    "expanded_path",
    "load_expanded",
    "save_expanded",
]

#: The file format written by :func:`save_expanded`.
EXPANDED_FORMAT = "nndl-expanded"
EXPANDED_VERSION = 1


def _training_pair(data, y):
    """(X, y) from arrays, a (X, y) pair, a Dataset (.X, .y) or DataSplits (.train)."""
    if y is not None:
        return np.asarray(data), np.asarray(y)
    if hasattr(data, "train"):
        data = data.train
    if hasattr(data, "X") and hasattr(data, "y"):
        return np.asarray(data.X), np.asarray(data.y)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return np.asarray(data[0]), np.asarray(data[1])
    raise TypeError("give X and y, an (X, y) pair, a Dataset or DataSplits (its .train is used)")


def hash_arrays(h, *arrays) -> None:
    """Feed each array's dtype, shape and bytes to the hash ``h`` (a cache key's part)."""
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))


def _source_sha256(X: np.ndarray, y: np.ndarray) -> str:
    """sha256 of the source data (shapes, dtypes and bytes), to key the cache."""
    h = hashlib.sha256()
    hash_arrays(h, X, y)
    return h.hexdigest()


def save_expanded(path, X, y, meta: dict, *, compress: bool = True) -> Path:
    """Write an expanded set to ``path`` (.npz) atomically, with its metadata as JSON."""
    path = Path(path)
    meta = {"format": EXPANDED_FORMAT, "version": EXPANDED_VERSION, **meta}
    with atomic_write(path, "wb") as fh:
        save = np.savez_compressed if compress else np.savez
        save(fh, X=X, y=y, meta=np.array(json.dumps(meta, sort_keys=True)))
    return path


def load_expanded(path):
    """Read a file written by :func:`save_expanded`: returns (X, y, meta).

    Raises ValueError naming the file if it is not such a file or is damaged.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            if set(npz.files) != {"X", "y", "meta"}:
                raise ValueError(f"expected arrays X, y, meta, found {sorted(npz.files)}")
            meta = json.loads(str(npz["meta"]))
            X, y = npz["X"], npz["y"]
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        # ValueError covers bad JSON, pickled content refused, and the check above.
        raise ValueError(f"{path}: not a readable expanded data set ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != EXPANDED_FORMAT:
        raise ValueError(f"{path}: not an nndl expanded data set")
    if meta.get("version") != EXPANDED_VERSION:
        raise ValueError(f"{path}: unsupported expanded-set version {meta.get('version')!r}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: {X.shape[0]} images but {y.shape[0]} labels")
    return X, y, meta


def _recipe_slug(recipe: str) -> str:
    """The recipe as a short, safe piece of a file name."""
    keep = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in recipe)
    return keep[:60]


class _ExpansionSettings(NamedTuple):
    """An expansion's checked settings."""

    meta: dict  # what the cached file records: recipe, seed, copies, ...
    path: Path | None  # the cache file, or None when nothing is cached
    augmenter: Augmenter | None  # None for the book's deterministic shifts


def _check_expansion_settings(X, y, recipe, seed, copies, include_original, cache_dir, path):
    """Check the settings of an expansion and derive its metadata and cache file."""
    as_image_stack(X)
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have one entry per image ({X.shape[0]}), got shape {y.shape}")
    seed = check_range("seed", seed, low=0, integer=True)
    if isinstance(recipe, str) and recipe.strip().lower() == SHIFTS_RECIPE:
        canonical = SHIFTS_RECIPE
        if copies not in (None, 4):
            raise ValueError("the 'shifts' recipe makes exactly 4 copies (up, down, left, right)")
        copies = 4
        augmenter = None
    else:
        augmenter = Augmenter.parse(recipe)
        canonical = str(augmenter)
        copies = check_range("copies", 4 if copies is None else copies, low=1, integer=True)

    meta = {
        "recipe": canonical,
        "seed": seed,
        "copies": copies,
        "include_original": bool(include_original),
        "n_source": int(X.shape[0]),
    }
    if path is not None or cache_dir is not None:  # hashing the source only pays for a cache
        meta["source_sha256"] = _source_sha256(X, y)
    if path is not None:
        path = Path(path)
    elif cache_dir is not None:
        key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"expanded-{_recipe_slug(canonical)}-seed{seed}-{key}.npz"
    return _ExpansionSettings(meta, path, augmenter)


def expanded_path(
    data, y=None, recipe="shifts", *, seed=0, copies=None, include_original=True, cache_dir
):
    """The cache file :func:`build_expanded` uses for these settings in ``cache_dir``."""
    X, y = _training_pair(data, y)
    settings = _check_expansion_settings(
        X, y, recipe, seed, copies, include_original, cache_dir, None
    )
    return settings.path


def build_expanded(
    data,
    y=None,
    recipe="shifts",
    *,
    seed: int = 0,
    copies: int | None = None,
    include_original: bool = True,
    cache_dir=None,
    path=None,
    compress: bool = True,
):
    """An expanded training set: originals plus transformed copies, built once.

    Parameters
    ----------
    data, y : arrays X (m, n) and labels y (m,); or ``data`` alone as an
        (X, y) pair, a Dataset, or DataSplits (whose training set is used).
    recipe : str or Augmenter
        ``"shifts"`` (default) is the book's expansion: the four one-pixel
        shifts of every image (50,000 -> 250,000), deterministic. Anything
        else is an :class:`Augmenter` recipe applied ``copies`` times.
    seed : int
        Seed of the generator of the random copies (recorded in the file).
    copies : int
        Transformed copies per image (default 4, as many as the book's).
    include_original : bool
        Put the untouched images first.
    cache_dir : path, optional
        If given, the result is stored there as ``expanded-<recipe>-seed<seed>-<key>.npz``
        (key: a hash of the source data and every setting) and read back on
        the next call instead of being rebuilt. A damaged or mismatching file
        is rebuilt and replaced.
    path : path, optional
        An explicit file to use the same way instead (``nndl data expand --out``).
    compress : bool
        Store compressed (smaller, slower to write).

    Returns
    -------
    (X_expanded, y_expanded) with X's dtype and layout.
    """
    X, y = _training_pair(data, y)
    meta, path, augmenter = _check_expansion_settings(
        X, y, recipe, seed, copies, include_original, cache_dir, path
    )
    copies = meta["copies"]
    if path is not None and path.exists():
        try:
            Xc, yc, got = load_expanded(path)
            if all(got.get(k) == v for k, v in meta.items()):
                return Xc, yc
        except ValueError:
            pass  # damaged or built otherwise: rebuild below and replace it

    if augmenter is None:
        Xe, ye = expand_shifts(X, y, include_original=include_original)
    else:
        rng = np.random.default_rng(meta["seed"])
        blocks = [X] if include_original else []
        blocks += [augmenter(X, rng) for _ in range(copies)]
        Xe = np.concatenate(blocks)
        ye = np.concatenate([y] * len(blocks))
    if path is not None:
        save_expanded(path, Xe, ye, meta, compress=compress)
    return Xe, ye
