"""The IDX reader refuses malformed files; IDX folders load as MNIST-like splits."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from nndl.data import DataSplits, load_dataset, load_idx_dataset, read_idx, write_idx
from nndl.data.idx import MAX_ELEMENTS

rng = np.random.default_rng(0)


def header(code: int, dims) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_every_type(tmp_path, dtype, suffix):
    a = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    p = write_idx(tmp_path / f"a-idx3{suffix}", a)
    b = read_idx(p)
    assert b.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(a, b)


def test_the_layout_is_big_endian(tmp_path):
    p = write_idx(tmp_path / "x", np.array([1, 256], dtype=np.int32))
    assert p.read_bytes() == header(0x0C, [2]) + b"\x00\x00\x00\x01\x00\x00\x01\x00"


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    p = tmp_path / "no-suffix"
    p.write_bytes(gzip.compress(header(0x08, [3, 4]) + a.tobytes()))
    np.testing.assert_array_equal(read_idx(p), a)


BAD_FILES = [
    ("empty", b"", "too short"),
    ("bad magic", b"\x08\x03\x00\x00" + b"\x00" * 16, "bad magic number 0x08030000"),
    ("text file", b"hello world, not IDX", "bad magic number"),
    ("unknown type", header(0x07, [2]) + b"\x00\x00", "unknown IDX type code 0x07"),
    ("no dimensions", bytes([0, 0, 8, 0]), "0 dimensions"),
    ("too many dimensions", bytes([0, 0, 8, 20]) + b"\x00" * 80, "20 dimensions"),
    ("truncated header", bytes([0, 0, 8, 3]) + b"\x00\x00\x00\x02", "truncated header"),
    ("truncated data", header(0x08, [2, 3]) + b"\x01" * 5, "needs 6 bytes of data, found 5"),
    ("truncated wide data", header(0x0C, [2]) + b"\x00" * 7, "needs 8 bytes of data, found 7"),
    ("trailing bytes", header(0x08, [2]) + b"\x01\x02\x03", "trailing bytes"),
    (
        "absurd size",
        header(0x08, [65535, 65535, 65535]),
        f"over the cap of {MAX_ELEMENTS}",
    ),
]


@pytest.mark.parametrize(("case", "content", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_malformed_files_are_refused(tmp_path, case, content, message, compress):
    p = tmp_path / "bad"
    p.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(p)
    assert str(p) in str(info.value)


def test_a_damaged_gzip_stream_is_refused(tmp_path):
    blob = gzip.compress(header(0x08, [1000]) + (bytes(range(256)) * 4)[:1000])
    p = tmp_path / "cut.gz"
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"damaged gzip|truncated"):
        read_idx(p)
    # Same length, wrong CRC-32 in the gzip trailer: the data decodes but is refused.
    p.write_bytes(blob[:-8] + bytes(b ^ 0xFF for b in blob[-8:-4]) + blob[-4:])
    with pytest.raises(ValueError, match=r"damaged gzip.*CRC"):
        read_idx(p)
    # Scrambled deflate data is refused one way or another.
    p.write_bytes(blob[:12] + bytes(b ^ 0x55 for b in blob[12:]))
    with pytest.raises(ValueError, match=re.escape(str(p))):
        read_idx(p)


def test_expected_dimensions_and_type_are_enforced(tmp_path):
    p = write_idx(tmp_path / "labels", np.zeros((4, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="2-dimensional data, expected 1 dimensions"):
        read_idx(p, ndim=1)
    q = write_idx(tmp_path / "floats", np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match="float32 elements, expected uint8"):
        read_idx(q, dtype=np.uint8)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no such IDX file"):
        read_idx("/nonexistent/file-idx1-ubyte")


def test_write_refuses_types_idx_cannot_hold(tmp_path):
    with pytest.raises(TypeError, match="IDX cannot hold int64"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="1 to 8 dimensions"):
        write_idx(tmp_path / "x", np.array(3, dtype=np.uint8))


# --------------------------------------------------------------- data sets
def make_idx_folder(
    folder: Path,
    *,
    n_train=30,
    n_test=10,
    side=4,
    gz=False,
    names=("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    test_names=("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
):
    """A small hand-made IDX data set; returns the raw arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    sfx = ".gz" if gz else ""
    r = np.random.default_rng(1)
    arrays = {}
    for (img, lab), n in ((names, n_train), (test_names, n_test)):
        images = r.integers(0, 256, (n, side, side), dtype=np.uint8)
        labels = r.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / (img + sfx), images)
        write_idx(folder / (lab + sfx), labels)
        arrays[img] = images
        arrays[lab] = labels
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_an_idx_folder_loads_like_the_books_mnist(tmp_path, gz):
    raw = make_idx_folder(tmp_path, gz=gz)
    splits = load_idx_dataset(tmp_path, validation_size=10)
    assert isinstance(splits, DataSplits)
    train, val, test = splits
    assert (train.X.shape, val.X.shape, test.X.shape) == ((20, 16), (10, 16), (10, 16))
    assert train.X.dtype == np.float32 and train.y.dtype == np.int64
    images = raw["train-images-idx3-ubyte"].reshape(30, 16)
    np.testing.assert_array_equal(train.X, images[:20] / np.float32(256))
    np.testing.assert_array_equal(val.X, images[20:] / np.float32(256))
    np.testing.assert_array_equal(val.y, raw["train-labels-idx1-ubyte"][20:])
    assert 0 <= train.X.min() and train.X.max() < 1
    assert splits.n_features == 16


def test_name_variants_are_found(tmp_path):
    make_idx_folder(
        tmp_path,
        names=("train-images.idx3-ubyte", "train-labels.idx1-ubyte"),
        test_names=("test-images-idx3-ubyte", "test-labels-idx1-ubyte"),
    )
    (tmp_path / "README").write_text("other files are ignored")
    assert load_idx_dataset(tmp_path, validation_size=5).train.X.shape == (25, 16)


def test_load_dataset_idx_prefix(tmp_path):
    make_idx_folder(tmp_path, n_train=60_000, side=2)
    splits = load_dataset(f"idx:{tmp_path}")
    assert [d.X.shape[0] for d in splits] == [50_000, 10_000, 10]  # MNIST's proportions


def test_missing_files_are_named(tmp_path):
    make_idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing t10k-labels-idx1-ubyte\[\.gz\]"):
        load_idx_dataset(tmp_path, validation_size=5)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_idx_dataset(tmp_path / "nope")


def test_images_and_labels_must_agree(tmp_path):
    make_idx_folder(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(29, dtype=np.uint8))
    with pytest.raises(ValueError, match="30 images but train-labels-idx1-ubyte holds 29 labels"):
        load_idx_dataset(tmp_path, validation_size=5)


def test_wrong_shapes_in_a_data_set_are_refused(tmp_path):
    make_idx_folder(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros((30, 1), dtype=np.uint8))
    with pytest.raises(ValueError, match="expected 1 dimensions"):
        load_idx_dataset(tmp_path, validation_size=5)
    make_idx_folder(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((10, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="expected uint8"):
        load_idx_dataset(tmp_path, validation_size=5)


def test_validation_size_is_checked(tmp_path):
    make_idx_folder(tmp_path)
    with pytest.raises(ValueError, match="leaves no training data"):
        load_idx_dataset(tmp_path, validation_size=30)
    with pytest.raises(ValueError, match="validation_size must be an integer >= 0"):
        load_idx_dataset(tmp_path, validation_size=-1)
    assert load_idx_dataset(tmp_path, validation_size=0).validation.X.shape == (0, 16)
    assert load_idx_dataset(tmp_path).validation.X.shape == (5, 16)  # a sixth by default


FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_fashion_mnist_from_debians_package():
    if not FASHION.is_dir():
        pytest.skip(f"{FASHION} is absent: apt-get install dataset-fashion-mnist")
    splits = load_dataset("fashion-mnist")
    assert [d.X.shape for d in splits] == [(50_000, 784), (10_000, 784), (10_000, 784)]
    assert splits.n_classes == 10
    assert all(d.X.dtype == np.float32 and d.y.dtype == np.int64 for d in splits)
    assert 0 <= splits.test.X.min() and splits.test.X.max() < 1
    # All ten classes appear in balanced numbers in the test set (1,000 each).
    assert np.bincount(splits.test.y).tolist() == [1000] * 10
