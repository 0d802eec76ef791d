"""MNIST as the book uses it, and the original IDX files.

``load_mnist()`` returns the book's split of ``mnist.pkl.gz``: the first
50,000 of the original 60,000 training images for training, the last 10,000
for validation, and the 10,000 test images; pixels are float32 in [0, 1)
(grey level / 256), labels int64.

The pickle takes a couple of seconds to decompress and decode, so the arrays
are also kept as an uncompressed ``.npz`` beside it in the cache (loaded in a
fraction of a second). The ``.npz`` is tied to the pickle's sha256 by its
name and contents; zip CRC-32s catch a damaged copy, which is then rebuilt.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import pickle
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._io import atomic_write
from .fetch import MNIST_IDX_FILES, MNIST_PICKLE, data_dir, fetch
from .idx import load_idx_dataset
from .splits import Dataset, DataSplits

__all__ = ["load_mnist", "load_mnist_idx", "mnist_idx_folder", "mnist_pickle_path"]

_SPLITS = ("train", "validation", "test")
_SIZES = {"train": 50_000, "validation": 10_000, "test": 10_000}
_NPZ_VERSION = 1


def mnist_pickle_path(path=None, cache_dir=None, *, progress: bool | None = None) -> Path:
    """The verified local path of the book's ``mnist.pkl.gz``, fetched if needed.

    ``path`` is a user's copy (the file or its folder); otherwise the cache
    and then the remote sources are tried (see :mod:`nndl.data.fetch`).
    """
    return fetch(MNIST_PICKLE, path=path, cache_dir=cache_dir, progress=progress)


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays and nothing else.

    The file's sha256 has been checked before we unpickle it, so it is the
    book's well-known ``mnist.pkl.gz``; refusing every other global is a
    second lock on the door, not the first.
    """

    _RECONSTRUCT = np.zeros(1).__reduce__()[0]  # numpy's array rebuild function
    _ALLOWED: ClassVar[dict] = {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 writes raw bytes in protocol-2 pickles as _codecs.encode(text, "latin1").
        ("_codecs", "encode"): codecs.encode,
    }

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"mnist.pkl.gz refers to {module}.{name}, which a file of arrays never needs"
            ) from None


def _read_pickle(path: Path) -> dict[str, np.ndarray]:
    # The book's file is a Python 2 pickle of NumPy arrays, hence latin1: its
    # byte strings are the arrays' raw buffers, not text.
    with gzip.open(path, "rb") as fh:
        train, validation, test = _ArrayUnpickler(fh, encoding="latin1").load()
    out = {}
    for name, (X, y) in zip(_SPLITS, (train, validation, test), strict=True):
        out[f"{name}_X"] = np.ascontiguousarray(X, dtype=np.float32)
        out[f"{name}_y"] = np.ascontiguousarray(y, dtype=np.int64)
    return out


def _npz_path(cache: Path) -> Path:
    return cache / f"mnist-book-{MNIST_PICKLE.checksum.hexdigest[:16]}.npz"


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when missing, damaged or not ours."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != _NPZ_VERSION:
                return None
            if str(z["source_sha256"]) != MNIST_PICKLE.checksum.hexdigest:
                return None
            out = {}
            for name in _SPLITS:
                X, y = z[f"{name}_X"], z[f"{name}_y"]  # reading checks the zip CRC-32
                if X.shape != (_SIZES[name], 784) or X.dtype != np.float32:
                    return None
                if y.shape != (_SIZES[name],) or y.dtype != np.int64:
                    return None
                out[f"{name}_X"], out[f"{name}_y"] = X, y
            return out
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_write(path, "wb") as fh:
        np.savez(
            fh,
            version=np.array(_NPZ_VERSION),
            source_sha256=np.array(MNIST_PICKLE.checksum.hexdigest),
            **arrays,
        )


def load_mnist(path=None, cache_dir=None, *, progress: bool | None = None) -> DataSplits:
    """The book's MNIST split: 50,000 training, 10,000 validation, 10,000 test.

    Parameters
    ----------
    path : path-like, optional
        Your copy of ``mnist.pkl.gz`` (or its folder); checked against the
        known sha256. Without it the cache is used and, when empty, the file
        is downloaded (see :mod:`nndl.data.fetch`).
    cache_dir : path-like, optional
        The cache folder; default ``$NNDL_DATA_DIR`` or ``~/.cache/nndl``.
    progress : bool, optional
        Show download progress (default: on a terminal).

    Returns
    -------
    DataSplits
        ``.train``, ``.validation``, ``.test``, each a ``Dataset(X, y)`` with
        ``X`` float32 (m, 784) in [0, 1) and ``y`` int64 (m,) in 0..9.

    Examples
    --------
    >>> splits = load_mnist()                                   # doctest: +SKIP
    >>> splits.train.X.shape, splits.test.y[:3]                 # doctest: +SKIP
    ((50000, 784), array([7, 2, 1]))
    """
    pkl = mnist_pickle_path(path, cache_dir, progress=progress)
    npz = _npz_path(data_dir(cache_dir))
    arrays = _read_npz(npz)
    if arrays is None:
        arrays = _read_pickle(pkl)
        # A read-only or full cache only costs speed next time.
        with contextlib.suppress(OSError):
            _write_npz(npz, arrays)
    return DataSplits(*(Dataset(arrays[f"{s}_X"], arrays[f"{s}_y"]) for s in _SPLITS))


def mnist_idx_folder(cache_dir=None, *, progress: bool | None = None) -> Path:
    """The cache folder holding the four verified original MNIST IDX files (fetched if needed)."""
    paths = [fetch(f, cache_dir=cache_dir, progress=progress) for f in MNIST_IDX_FILES]
    return paths[0].parent


def load_mnist_idx(cache_dir=None, *, progress: bool | None = None) -> DataSplits:
    """The original MNIST IDX files, split like the book (50,000 / 10,000 / 10,000).

    The files come from the ossci-datasets mirror (yann.lecun.com no longer
    serves them) and are checked against their published md5.
    """
    return load_idx_dataset(mnist_idx_folder(cache_dir, progress=progress))
