"""Evaluation checks its labels and sizes; model files and CLI results are always finite."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nndl import Network, load, save


def nndl(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("NNDL_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "nndl.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def assert_one_line_error(proc, *needles):
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err


@pytest.fixture
def net_and_data():
    rng = np.random.default_rng(0)
    net = Network([4, 5, 3], seed=0)
    X = rng.random((12, 4))
    y = rng.integers(0, 3, 12)
    return net, X, y


# ---------------------------------------------------------- labels and sizes
@pytest.mark.parametrize(
    "bad, error",
    [("out_of_range", ValueError), ("float", ValueError), ("nan", ValueError), ("text", TypeError)],
)
def test_accuracy_refuses_bad_labels(net_and_data, bad, error):
    net, X, y = net_and_data
    labels = {
        "out_of_range": y + 10,
        "float": y + 0.7,
        "nan": np.where(np.arange(12) == 3, np.nan, y),
        "text": np.array(["a"] * 12),
    }[bad]
    with pytest.raises(error, match="y"):
        net.accuracy(X, labels)
    onehot = np.eye(3)[y]
    assert net.accuracy(X, y) == net.accuracy(X, onehot) == net.accuracy(X, y.astype(float))


def test_evaluate_without_cost_still_checks_labels(net_and_data):
    net, X, y = net_and_data
    with pytest.raises(ValueError, match="out of range"):
        net.evaluate(X, y + 10, cost=False)


@pytest.mark.parametrize("n, error", [(-1, ValueError), (0, ValueError), (2.5, TypeError)])
def test_penalty_size_must_be_a_positive_integer(net_and_data, n, error):
    net, X, y = net_and_data
    with pytest.raises(error, match="n must be an integer"):
        net.cost_value(X, y, l2=5, n=n)
    with pytest.raises(error, match="n must be an integer"):
        net.evaluate(X, y, l2=5, n=n)
    with pytest.raises(error, match="n must be an integer"):
        net.penalty(l2=5, n=n)
    both = net.evaluate(X, y, l2=5, n=1)
    assert both["loss"] == pytest.approx(net.cost_value(X, y, l2=5, n=1))
    assert both["loss"] > 0


@pytest.mark.parametrize("batch_size", [0, -3, 1.5])
def test_batch_size_must_be_a_positive_integer(net_and_data, batch_size):
    net, X, y = net_and_data
    for call in (
        lambda: net.accuracy(X, y, batch_size=batch_size),
        lambda: net.cost_value(X, y, batch_size=batch_size),
        lambda: net.evaluate(X, y, batch_size=batch_size),
        lambda: net.predict(X, batch_size=batch_size),
    ):
        with pytest.raises((ValueError, TypeError), match="batch_size"):
            call()


# ------------------------------------------------------------- model files
def _model_file(tmp_path, sizes, weight, dtype="float32", **kw):
    path = save(Network(sizes, dtype=dtype, seed=0, **kw), tmp_path / "model.json")
    doc = json.loads(path.read_text())
    doc["weights"][-1][0][0] = weight
    path.write_text(json.dumps(doc))
    return path


def test_a_weight_that_overflows_float32_is_refused(tmp_path):
    path = _model_file(tmp_path, [4, 3, 2], 1e300)
    with pytest.raises(ValueError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message and "weights[1]" in message and "float32" in message
    assert "\n" not in message
    path = _model_file(tmp_path, [4, 3, 2], 1e300, dtype="float64")
    assert load(path).weights[1][0, 0] == 1e300


def test_predict_refuses_an_overflowing_model_file(tmp_path):
    pytest.importorskip("PIL.Image")
    from PIL import Image

    path = _model_file(tmp_path, [4, 3, 2], 1e300)
    img = tmp_path / "white.png"
    Image.fromarray(np.full((2, 2), 255, dtype=np.uint8)).save(img)
    for extra in ((), ("--json",)):
        assert_one_line_error(nndl("predict", path, img, *extra), str(path), "weights[1]")


def _huge_float32_model(tmp_path, sizes):
    """Finite float32 weights whose outputs overflow to nan."""
    net = Network(
        sizes, dtype="float32", seed=0, output_activation="softmax", cost="log_likelihood"
    )
    path = save(net, tmp_path / "huge.json")
    doc = json.loads(path.read_text())
    doc["weights"] = [[[3e38] * len(row) for row in w] for w in doc["weights"]]
    path.write_text(json.dumps(doc))
    return path


def test_predict_never_prints_nan(tmp_path):
    pytest.importorskip("PIL.Image")
    from PIL import Image

    path = _huge_float32_model(tmp_path, [4, 2])
    img = tmp_path / "white.png"
    Image.fromarray(np.full((2, 2), 255, dtype=np.uint8)).save(img)
    for extra in ((), ("--json",)):
        # --raw --no-invert: the white image as it is (prepared, white paper is no ink).
        proc = nndl("predict", path, img, "--raw", "--no-invert", *extra)
        assert "nan" not in proc.stdout.replace(str(tmp_path), "").lower()
        assert_one_line_error(proc, str(path), "nan or inf")


def test_evaluate_never_prints_nan(tmp_path):
    path = _huge_float32_model(tmp_path, [64, 10])
    for extra in ((), ("--json",)):
        proc = nndl("evaluate", path, "--dataset", "digits", "--split", "test", *extra)
        assert "nan" not in proc.stdout.replace(str(tmp_path), "").lower()
        assert_one_line_error(proc, str(path), "nan or inf")
