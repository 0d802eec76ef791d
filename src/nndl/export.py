"""A trained network as an ONNX model, for onnxruntime and every other ONNX runtime.

::

    from nndl import export_onnx
    export_onnx(net, "model.onnx")

    import onnxruntime as ort
    session = ort.InferenceSession("model.onnx")
    probabilities, label = session.run(None, {"pixels": X.astype("float32")})

The graph is the network at inference, as :meth:`nndl.Network.predict_proba`
computes it; for layer l (the book's z^l = W^l a^{l-1} + b^l, row by row)::

    z_l = Gemm(a_{l-1}, W_l, b_l, transB=1)      # a_0 is the input, (N, n_in)
    a_l = Sigmoid | Tanh | Relu | Identity (z_l)  # hidden layers
    probabilities = Sigmoid | Softmax(axis=1) | Tanh | Identity (z_L)
    label = ArgMax(probabilities, axis=1)         # int64, first of equal maxima

Dropout is a training technique: at inference every neuron is present and
nothing is scaled (nndl's dropout is "inverted"), so the graph has no
Dropout node. The tensors are in the network's dtype (float32 or float64);
the input must be given in that dtype.

Names: input ``pixels`` (N, n_in), outputs ``probabilities`` (N, n_out),
what ``predict_proba`` returns (sigmoid outputs are not normalised; linear
ones are raw values), and ``label`` (N,), what ``predict`` returns. The
model's ``metadata_props`` say what input is expected (``preprocessing``:
for MNIST, rows of 784 pixels in [0, 1]) and carry nndl's version and the
network's config.

The ``onnx`` package builds the graph (``pip install "nndl[onnx]"``, which
also installs ``onnxruntime`` to run it); it is imported only here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._io import atomic_write_bytes
from ._version import __version__
from .network import Network
from .network2 import Network as BookNetwork

if TYPE_CHECKING:
    import onnx

__all__ = ["INPUT_NAME", "LABEL_NAME", "OPSET", "PROBABILITIES_NAME", "export_onnx", "to_onnx"]

#: The ONNX operator set the graph uses (onnxruntime 1.13 and later run it).
OPSET = 17
#: The names of the graph's input and outputs.
INPUT_NAME = "pixels"
PROBABILITIES_NAME = "probabilities"
LABEL_NAME = "label"

#: Each activation's ONNX operator (softmax is applied along the row, axis 1).
_OPERATORS = {
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "relu": "Relu",
    "linear": "Identity",
    "softmax": "Softmax",
}

#: How nndl's data sets scale their pixels, by data set name.
_IMAGE_SCALING = {
    "digits": "grey level / 16 (scikit-learn's 8x8 digits)",
    "mnist": "grey level / 256, white ink on black (the book's MNIST)",
    "fashion-mnist": "grey level / 256, light on dark (Fashion-MNIST's IDX files)",
}


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError('ONNX export needs the onnx package: pip install "nndl[onnx]"') from exc
    return onnx


def _core_network(net) -> Network:
    if isinstance(net, BookNetwork):
        return net.network
    if not isinstance(net, Network):
        raise TypeError(f"export_onnx needs an nndl Network, got {type(net).__name__}")
    return net


def _dataset_name(net: Network) -> str | None:
    """The data set the network was trained on, when its metadata says so."""
    config = net.metadata.get("config") if isinstance(net.metadata, dict) else None
    data = config.get("data") if isinstance(config, dict) else None
    name = data.get("dataset") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def _scaling(dataset: str | None, n_inputs: int) -> str | None:
    """How the pixels of ``dataset`` are scaled, or None when it is not an image set."""
    if dataset is None:
        return _IMAGE_SCALING["mnist"] if n_inputs == 784 else None
    key = dataset.strip().lower().replace("_", "-")
    if key == "digits":
        return _IMAGE_SCALING["digits"]
    if key in ("fashion-mnist", "fashion"):
        return _IMAGE_SCALING["fashion-mnist"]
    if key in ("mnist", "mnist-idx") or key.startswith("mnist:"):
        return _IMAGE_SCALING["mnist"]
    if key.startswith("idx:"):
        return "grey level / 256 (IDX images)"
    return None


def _input_description(net: Network) -> dict[str, str]:
    """The metadata entries that say what the input rows must hold."""
    n = net.n_inputs
    dtype = net.dtype.name
    side = math.isqrt(n)
    dataset = _dataset_name(net)
    scaling = _scaling(dataset, n) if side * side == n else None
    entries = {
        "input_name": INPUT_NAME,
        "input_shape": f"[N, {n}]",
        "input_dtype": dtype,
    }
    if dataset is not None:
        entries["dataset"] = dataset
    if scaling is None:
        entries["preprocessing"] = (
            f"rows of {n} {dtype} features, one row per example, scaled as the "
            "network's training data was"
        )
        return entries
    entries["preprocessing"] = (
        f"rows of {n} {dtype} pixels in [0, 1], each row one {side}x{side} greyscale "
        f"image read row by row, {scaling}; 0 is the background"
    )
    entries["pixel_range"] = "[0, 1]"
    entries["image_shape"] = f"[{side}, {side}]"
    return entries


def _output_description(net: Network) -> str:
    kind = net.output_activation.name
    values = {
        "softmax": "softmax probabilities, each row summing to 1",
        "sigmoid": "sigmoid activations in (0, 1), one per class, not normalised",
        "tanh": "tanh activations in (-1, 1), one per class",
        "linear": "the output layer's weighted inputs z (linear outputs)",
    }[kind]
    return (
        f"{PROBABILITIES_NAME} [N, {net.n_outputs}]: {values} (Network.predict_proba); "
        f"{LABEL_NAME} [N] int64: the index of the largest output (Network.predict)"
    )


def to_onnx(net) -> onnx.ModelProto:
    """The network as an ONNX model (an ``onnx.ModelProto``), checked by ``onnx.checker``.

    ``net`` is an :class:`nndl.Network` (or the book facade's
    ``network2.Network``). See the module's docstring for the graph.
    """
    onnx = _import_onnx()
    from onnx import TensorProto, helper, numpy_helper

    net = _core_network(net)
    elem_type = TensorProto.FLOAT if net.dtype == np.float32 else TensorProto.DOUBLE
    nodes, initializers = [], []
    a = INPUT_NAME
    last = len(net.weights)
    for l, (w, b, activation) in enumerate(
        zip(net.weights, net.biases, net.activations, strict=True), start=1
    ):
        initializers += [numpy_helper.from_array(w, f"W{l}"), numpy_helper.from_array(b, f"b{l}")]
        nodes.append(
            helper.make_node("Gemm", [a, f"W{l}", f"b{l}"], [f"z{l}"], name=f"layer{l}", transB=1)
        )
        a = PROBABILITIES_NAME if l == last else f"a{l}"
        attributes = {"axis": 1} if activation.name == "softmax" else {}
        nodes.append(
            helper.make_node(
                _OPERATORS[activation.name],
                [f"z{l}"],
                [a],
                name=f"layer{l}_{activation.name}",
                **attributes,
            )
        )
    nodes.append(
        helper.make_node(
            "ArgMax", [PROBABILITIES_NAME], [LABEL_NAME], name="argmax", axis=1, keepdims=0
        )
    )
    graph = helper.make_graph(
        nodes,
        "nndl_network",
        [helper.make_tensor_value_info(INPUT_NAME, elem_type, ["N", net.n_inputs])],
        [
            helper.make_tensor_value_info(PROBABILITIES_NAME, elem_type, ["N", net.n_outputs]),
            helper.make_tensor_value_info(LABEL_NAME, TensorProto.INT64, ["N"]),
        ],
        initializers,
    )
    opset = helper.make_opsetid("", OPSET)
    model = helper.make_model(
        graph,
        opset_imports=[opset],
        ir_version=helper.find_min_ir_version_for([opset]),
        producer_name="nndl",
        producer_version=__version__,
        doc_string=f"nndl {net!r}",
    )
    metadata = {
        "nndl_version": __version__,
        "network_config": json.dumps(net.config.to_dict()),
        **_input_description(net),
        "outputs": _output_description(net),
    }
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(net, path) -> Path:
    """Write the network to ``path`` as an ONNX model; returns the path.

    Missing parent folders are created and the file is written atomically
    (an existing file is replaced). A folder, a path through a file or an
    unwritable place is refused with an ``OSError`` of one line. See
    :func:`to_onnx` for the model.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a folder; give the name of the file to write, e.g. {path / 'model.onnx'}"
        )
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"cannot write {path}: {existing} is a file, not a folder")
    data = to_onnx(net).SerializeToString()
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise type(exc)(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
