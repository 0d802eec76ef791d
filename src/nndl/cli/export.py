"""``nndl export``: a saved model as an ONNX file, for onnxruntime and other runtimes.

::

    nndl export runs/X/model.json model.onnx
"""

from __future__ import annotations

from pathlib import Path

import click

from .errors import report_errors

__all__ = ["export"]


@click.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("output", type=click.Path())
@report_errors
def export(model, output):
    """Write the saved MODEL (JSON) to OUTPUT as an ONNX model.

    The model takes the input "pixels" (rows of the network's inputs, in its
    dtype: for MNIST, 784 pixels in [0, 1]) and gives "probabilities" (what
    `nndl predict` shows) and "label" (the predicted class, int64). Its
    metadata says what input it expects. Needs pip install "nndl[onnx]".
    """
    from ..export import OPSET, export_onnx
    from ..serialization import load

    if Path(output).resolve() == Path(model).resolve():
        raise ValueError(f"{output} is the model itself; give another name for the ONNX file")
    net = load(model)
    path = export_onnx(net, output)
    dtype = net.dtype.name
    click.echo(
        f"Wrote {path} (ONNX opset {OPSET}): input pixels {dtype} [N, {net.n_inputs}], "
        f"outputs probabilities {dtype} [N, {net.n_outputs}] and label int64 [N]"
    )
