"""ONNX export: the exported model, run in onnxruntime, gives what the network gives.

Every hidden activation x output layer x dtype is compared on 1,000 real
MNIST test images, freshly initialized and after one short epoch of
training: the outputs within 1e-6 (float32) or 1e-12 (float64) of
``predict_proba`` and the labels equal to ``predict``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from nndl import Network, __version__, export_onnx, fit, network2, save  # noqa: E402
from nndl.activations import HIDDEN_ACTIVATIONS  # noqa: E402
from nndl.costs import COSTS  # noqa: E402
from nndl.export import to_onnx  # noqa: E402

#: Largest allowed difference from predict_proba, by dtype.
TOLERANCE = {"float32": 1e-6, "float64": 1e-12}

#: Learning rates for the short training, by hidden activation (a network
#: linear throughout diverges at 0.1).
LEARNING_RATE = {"sigmoid": 0.5, "tanh": 0.1, "relu": 0.1, "linear": 0.02}

#: Every (cost, output activation) pair a network may have.
OUTPUT_LAYERS = [(cost, out) for cost, c in sorted(COSTS.items()) for out in c.output_activations]


def run_onnx(model_or_path, X):
    """(probabilities, label) from onnxruntime on the CPU."""
    source = model_or_path
    if isinstance(model_or_path, onnx.ModelProto):
        source = model_or_path.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run(["probabilities", "label"], {"pixels": X})


def metadata(model) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def run_main(args, capsys):
    """``nndl ARGS`` in this process: (exit status, stdout, stderr)."""
    from nndl.cli import main

    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


@pytest.fixture(scope="module")
def images(mnist):
    """1,000 MNIST test images and 1,000 training images with their labels."""
    return mnist.test.X[:1000], mnist.train.X[:1000], mnist.train.y[:1000]


def test_the_output_layers_cover_every_output_activation():
    assert {out for _, out in OUTPUT_LAYERS} == {"sigmoid", "softmax", "linear", "tanh"}
    assert set(LEARNING_RATE) == set(HIDDEN_ACTIVATIONS)


@pytest.mark.mnist
@pytest.mark.parametrize("trained", [False, True], ids=["initial", "trained"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("cost", "output"), OUTPUT_LAYERS)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_onnxruntime_gives_what_the_network_gives(
    images, tmp_path, hidden, cost, output, dtype, trained
):
    X_test, X_train, y_train = images
    net = Network(
        [784, 30, 20, 10],
        hidden_activation=hidden,
        cost=cost,
        output_activation=output,
        dtype=dtype,
        seed=3,
    )
    if trained:
        eta = LEARNING_RATE[hidden]
        fit(net, X_train, y_train, epochs=1, mini_batch_size=10, learning_rate=eta, seed=0)
    path = export_onnx(net, tmp_path / "model.onnx")
    onnx.checker.check_model(str(path), full_check=True)

    X = X_test.astype(dtype)
    probabilities, label = run_onnx(str(path), X)
    expected = net.predict_proba(X)
    assert probabilities.dtype == np.dtype(dtype) and probabilities.shape == (1000, 10)
    assert np.max(np.abs(probabilities - expected)) <= TOLERANCE[dtype]
    assert label.dtype == np.int64
    np.testing.assert_array_equal(label, net.predict(X))


def test_the_model_names_its_input_and_outputs_and_describes_them(tmp_path):
    net = Network([784, 30, 10], cost="log_likelihood", dtype="float32", seed=0)
    model = onnx.load(export_onnx(net, tmp_path / "m.onnx"))
    graph = model.graph
    assert [i.name for i in graph.input] == ["pixels"]
    assert [o.name for o in graph.output] == ["probabilities", "label"]

    def shape(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert shape(graph.input[0]) == ["N", 784]
    assert shape(graph.output[0]) == ["N", 10]
    assert shape(graph.output[1]) == ["N"]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert graph.output[1].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert model.producer_name == "nndl" and model.producer_version == __version__

    meta = metadata(model)
    assert meta["nndl_version"] == __version__
    assert json.loads(meta["network_config"]) == net.config.to_dict()
    assert meta["input_name"] == "pixels"
    assert meta["input_shape"] == "[N, 784]" and meta["input_dtype"] == "float32"
    assert meta["pixel_range"] == "[0, 1]" and meta["image_shape"] == "[28, 28]"
    assert "rows of 784 float32 pixels in [0, 1]" in meta["preprocessing"]
    assert "softmax probabilities" in meta["outputs"]


def test_the_preprocessing_follows_the_training_data(tmp_path):
    digits = Network([64, 10, 10], seed=0)
    digits.metadata = {"config": {"data": {"dataset": "digits"}}}
    meta = metadata(to_onnx(digits))
    assert meta["dataset"] == "digits" and meta["image_shape"] == "[8, 8]"
    assert "rows of 64 float64 pixels in [0, 1]" in meta["preprocessing"]
    assert "/ 16" in meta["preprocessing"]

    features = Network([5, 4, 3], seed=0)
    meta = metadata(to_onnx(features))
    assert meta["preprocessing"].startswith("rows of 5 float64 features")
    assert "pixel_range" not in meta and "image_shape" not in meta


def test_dropout_is_absent_from_the_exported_model(tmp_path):
    X = np.random.default_rng(0).random((50, 64))
    net = Network([64, 30, 20, 10], dropout=[0.5, 0.2], seed=0)
    model = onnx.load(export_onnx(net, tmp_path / "d.onnx"))
    ops = [node.op_type for node in model.graph.node]
    assert "Dropout" not in ops
    assert ops == ["Gemm", "Sigmoid", "Gemm", "Sigmoid", "Gemm", "Sigmoid", "ArgMax"]
    assert json.loads(metadata(model)["network_config"])["dropout"] == [0.5, 0.2]
    probabilities, label = run_onnx(model, X)
    assert np.max(np.abs(probabilities - net.predict_proba(X))) <= 1e-12
    np.testing.assert_array_equal(label, net.predict(X))


def test_the_books_network2_exports_its_core_network(tmp_path):
    X = np.random.default_rng(1).random((20, 64))
    book = network2.Network([64, 12, 10], cost=network2.QuadraticCost, seed=0)
    probabilities, label = run_onnx(str(export_onnx(book, tmp_path / "b.onnx")), X)
    assert np.max(np.abs(probabilities - book.network.predict_proba(X))) <= 1e-12
    np.testing.assert_array_equal(label, book.network.predict(X))


def test_nndl_export_writes_the_saved_model(tmp_path, capsys):
    net = Network([64, 16, 10], cost="log_likelihood", dtype="float32", seed=2)
    save(net, tmp_path / "model.json", metadata={"config": {"data": {"dataset": "digits"}}})
    rc, out, err = run_main(
        ["export", tmp_path / "model.json", tmp_path / "new" / "model.onnx"], capsys
    )
    assert rc == 0 and err == ""
    assert "model.onnx" in out and "float32 [N, 64]" in out and "label int64 [N]" in out
    X = np.random.default_rng(0).random((30, 64), dtype=np.float32)
    probabilities, label = run_onnx(str(tmp_path / "new" / "model.onnx"), X)
    assert np.max(np.abs(probabilities - net.predict_proba(X))) <= 1e-6
    np.testing.assert_array_equal(label, net.predict(X))
    meta = metadata(onnx.load(tmp_path / "new" / "model.onnx"))
    assert meta["dataset"] == "digits"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("folder", "is a folder; give the name of the file to write"),
        ("a-file/model.onnx", "a-file is a file, not a folder"),
        ("model.json", "is the model itself"),
    ],
)
def test_nndl_export_refuses_bad_paths_in_one_line(tmp_path, capsys, output, message):
    save(Network([4, 3, 2], seed=0), tmp_path / "model.json")
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_text("x")
    rc, out, err = run_main(["export", tmp_path / "model.json", tmp_path / output], capsys)
    assert rc == 1 and out == ""
    assert err.startswith("nndl: error: ") and message in err
    assert err.count("\n") == 1
    assert json.loads((tmp_path / "model.json").read_text())["format"] == "nndl-network"


def test_nndl_export_refuses_a_missing_model_in_one_line(tmp_path, capsys):
    rc, out, err = run_main(["export", tmp_path / "absent.json", tmp_path / "m.onnx"], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1 and "does not exist" in err
    assert not (tmp_path / "m.onnx").exists()


def test_export_onnx_errors_are_one_line(tmp_path, monkeypatch):
    net = Network([4, 3, 2], seed=0)
    with pytest.raises(IsADirectoryError, match="is a folder") as info:
        export_onnx(net, tmp_path)
    assert "\n" not in str(info.value)
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"f is a file, not a folder"):
        export_onnx(net, tmp_path / "f" / "g" / "m.onnx")
    with pytest.raises(TypeError, match="needs an nndl Network, got dict"):
        export_onnx({"sizes": [4, 3, 2]}, tmp_path / "m.onnx")

    import nndl.export

    def refuse(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(nndl.export, "atomic_write_bytes", refuse)
    with pytest.raises(PermissionError) as info:
        export_onnx(net, tmp_path / "m.onnx")
    assert str(info.value) == f"cannot write {tmp_path / 'm.onnx'}: Permission denied"


def test_a_missing_onnx_package_is_named_with_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "nndl\[onnx\]"'):
        to_onnx(Network([4, 3, 2], seed=0))


def test_import_nndl_does_not_import_onnx():
    code = (
        "import sys, nndl; assert 'onnx' not in sys.modules; "
        "f = nndl.export_onnx; assert 'onnx' not in sys.modules; print(f.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "nndl.export"
