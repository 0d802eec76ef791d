"""The IDX format of MNIST and Fashion-MNIST: a strict reader and a writer.

An IDX file is a 4-byte magic number, then one big-endian uint32 per
dimension, then the elements in C order, big-endian::

    byte 0, 1   zero
    byte 2      element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte 3      number of dimensions
    4 * ndim    the dimensions
    ...         prod(dims) elements

Files may be gzip-compressed (recognised by their first two bytes, not by
their name). The reader checks the magic number, the type code, the number
of dimensions, a cap on the element count (before allocating anything) and
that the data is exactly as long as the header says, and raises a
``ValueError`` naming the file and the problem otherwise.
"""

from __future__ import annotations

import gzip
import math
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from .._io import atomic_write
from .._validation import check_range
from .splits import Dataset, DataSplits

__all__ = ["IDX_DTYPES", "MAX_ELEMENTS", "load_idx_dataset", "read_idx", "write_idx"]

#: Type code -> big-endian dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
#: Refuse headers describing more elements than this (1 GiB of bytes).
MAX_ELEMENTS = 1 << 30
_MAX_NDIM = 8


def _open(path: Path):
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_exact(fh, n: int) -> bytes:
    chunks, left = [], n
    while left > 0:
        chunk = fh.read(min(left, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_idx(path, *, ndim: int | None = None, dtype=None) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a native-endian array.

    Parameters
    ----------
    path : path-like
    ndim : int, optional
        Required number of dimensions (3 for images, 1 for labels).
    dtype : dtype-like, optional
        Required element type (``np.uint8`` for MNIST).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        Bad magic number, unknown type code, wrong or absurd dimensions, an
        element count over :data:`MAX_ELEMENTS`, truncated data, trailing
        bytes, or a damaged gzip stream; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such IDX file")
    try:
        with _open(path) as fh:
            return _parse(fh, path, ndim, dtype)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"{path}: damaged gzip data ({exc})") from None


def _parse(fh, path: Path, want_ndim, want_dtype) -> np.ndarray:
    magic = _read_exact(fh, 4)
    if len(magic) < 4:
        raise ValueError(f"{path}: too short to be an IDX file ({len(magic)} bytes)")
    if magic[:2] != b"\x00\x00":
        raise ValueError(
            f"{path}: bad magic number 0x{magic.hex()}: not an IDX file (an IDX file "
            "starts with two zero bytes, a type code and the number of dimensions)"
        )
    code, nd = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}; expected one of {known}")
    dt = IDX_DTYPES[code]
    if nd == 0 or nd > _MAX_NDIM:
        raise ValueError(f"{path}: {nd} dimensions in the header; expected 1 to {_MAX_NDIM}")
    if want_ndim is not None and nd != want_ndim:
        raise ValueError(f"{path}: holds {nd}-dimensional data, expected {want_ndim} dimensions")
    if want_dtype is not None and dt.newbyteorder("=") != np.dtype(want_dtype):
        raise ValueError(
            f"{path}: holds {dt.newbyteorder('=')} elements, expected {np.dtype(want_dtype)}"
        )
    raw = _read_exact(fh, 4 * nd)
    if len(raw) < 4 * nd:
        raise ValueError(f"{path}: truncated header (the dimensions are incomplete)")
    dims = struct.unpack(f">{nd}I", raw)
    count = math.prod(dims)
    if count > MAX_ELEMENTS:
        raise ValueError(
            f"{path}: the header describes {count} elements {dims}, over the cap of {MAX_ELEMENTS}"
        )
    nbytes = count * dt.itemsize
    data = _read_exact(fh, nbytes)
    if len(data) < nbytes:
        raise ValueError(
            f"{path}: truncated: the header {dims} needs {nbytes} bytes of data, found {len(data)}"
        )
    if fh.read(1):
        raise ValueError(
            f"{path}: trailing bytes after the {nbytes} bytes of data that {dims} needs"
        )
    return np.frombuffer(data, dtype=dt).reshape(dims).astype(dt.newbyteorder("="))


def write_idx(path, array) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    The write is atomic. Supported dtypes: uint8, int8, int16, int32,
    float32, float64.
    """
    a = np.asarray(array)
    code = next(
        (c for c, dt in IDX_DTYPES.items() if dt.newbyteorder("=") == a.dtype.newbyteorder("=")),
        None,
    )
    if code is None:
        raise TypeError(
            f"IDX cannot hold {a.dtype} elements; use uint8, int8, int16, int32, float32 or float64"
        )
    if not 1 <= a.ndim <= _MAX_NDIM:
        raise ValueError(f"IDX arrays need 1 to {_MAX_NDIM} dimensions, got {a.ndim}")
    header = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    body = np.ascontiguousarray(a, dtype=IDX_DTYPES[code]).tobytes()
    path = Path(path)
    payload = header + body
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    with atomic_write(path, "wb") as fh:
        fh.write(payload)
    return path


_NAME = re.compile(r"^(train|t10k|test)-(images|labels)[.-]idx([13])-ubyte(\.gz)?$")


def _find(folder: Path) -> dict[tuple[str, str], Path]:
    found: dict[tuple[str, str], Path] = {}
    for p in sorted(folder.iterdir()):
        m = _NAME.match(p.name)
        if not m or not p.is_file():
            continue
        split = "test" if m.group(1) in ("t10k", "test") else "train"
        kind = m.group(2)
        if (kind == "images") != (m.group(3) == "3"):
            continue
        key = (split, kind)
        # Prefer an uncompressed copy: it reads faster.
        if key not in found or found[key].suffix == ".gz":
            found[key] = p
    return found


def load_idx_dataset(folder, *, validation_size: int | None = None) -> DataSplits:
    """Load an MNIST-like data set from a folder of IDX files.

    The folder holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each optionally
    ``.gz``; ``test-`` for ``t10k-`` and ``.idx`` for ``-idx`` are accepted).
    As with the book's MNIST, the last ``validation_size`` training images
    become the validation set (60,000 -> 50,000 + 10,000). By default that is
    10,000, or a sixth of the training files for a smaller data set.

    Images become rows of ``float32`` pixels ``value / 256`` in [0, 1) (the
    scaling of the book's ``mnist.pkl.gz``, so both sources give the same
    numbers); labels become ``int64``.

    Raises
    ------
    FileNotFoundError
        The folder or one of the four files is missing.
    ValueError
        A file is malformed, or images and labels disagree.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (expected a folder of IDX files)")
    if validation_size is not None:
        validation_size = check_range("validation_size", validation_size, low=0, integer=True)
    found = _find(folder)
    missing = [
        f"{'t10k' if s == 'test' else 'train'}-{k}-idx{3 if k == 'images' else 1}-ubyte[.gz]"
        for s in ("train", "test")
        for k in ("images", "labels")
        if (s, k) not in found
    ]
    if missing:
        raise FileNotFoundError(
            f"{folder}: missing {', '.join(missing)}; an IDX data set needs training and "
            "test images and labels"
        )
    parts = {}
    for split in ("train", "test"):
        img_path, lab_path = found[(split, "images")], found[(split, "labels")]
        images = read_idx(img_path, ndim=3, dtype=np.uint8)
        labels = read_idx(lab_path, ndim=1, dtype=np.uint8)
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"{img_path.name} holds {images.shape[0]} images but {lab_path.name} holds "
                f"{labels.shape[0]} labels"
            )
        if images.shape[0] == 0:
            raise ValueError(f"{img_path}: holds no images")
        X = images.reshape(images.shape[0], -1).astype(np.float32)
        X *= np.float32(1.0 / 256.0)
        parts[split] = Dataset(X, labels.astype(np.int64))
    train = parts["train"]
    n = train.X.shape[0]
    if validation_size is None:
        validation_size = min(10_000, n // 6)
    if validation_size >= n:
        raise ValueError(
            f"validation_size {validation_size} leaves no training data: the training files "
            f"hold {n} images"
        )
    cut = n - validation_size
    return DataSplits(
        Dataset(train.X[:cut], train.y[:cut]),
        Dataset(train.X[cut:], train.y[cut:]),
        parts["test"],
    )
