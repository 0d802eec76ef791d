"""``nndl evaluate`` and ``nndl predict``: a saved model on a data set's split, or on images.

::

    nndl evaluate runs/X/model.json --split test
    nndl predict runs/X/model.json digit.png --save-input seen/
"""

from __future__ import annotations

import json
import math

import click
import numpy as np

from ..network import Network
from .train import percent

__all__ = ["confusion_matrix", "evaluate", "predict"]


def _model_dataset(net: Network, dataset: str | None) -> str:
    if dataset:
        return dataset
    cfg = net.metadata.get("config") if isinstance(net.metadata, dict) else None
    if isinstance(cfg, dict) and isinstance(cfg.get("data"), dict):
        name = cfg["data"].get("dataset")
        if isinstance(name, str):
            return name
    return "mnist"


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts[i, j]: examples of class i predicted as j."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def _require_finite(values, model, what: str) -> None:
    """Refuse nan or inf results: a number that is not one is never printed."""
    if not np.isfinite(np.asarray(values, dtype=np.float64)).all():
        raise ValueError(
            f"{model}: the model gives nan or inf {what} (its weights are too large "
            "for its dtype); retrain it or save it as float64"
        )


def _format_confusion(m: np.ndarray) -> str:
    w = max(5, len(str(int(m.max()))) + 1)
    head = "true\\pred" + "".join(f"{j:>{w}}" for j in range(m.shape[1]))
    rows = [head]
    for i, row in enumerate(m):
        rows.append(f"{i:>9}" + "".join(f"{int(v):>{w}}" for v in row))
    return "\n".join(rows)


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--split",
    type=click.Choice(["validation", "test", "train"]),
    default="validation",
    show_default=True,
    help="which data to evaluate on (keep the test set for the end)",
)
@click.option("--dataset", help="data set (default: the one the model was trained on)")
@click.option("--data-dir", type=click.Path(file_okay=False), help="data cache folder")
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
def evaluate(model, split, dataset, data_dir, as_json):
    """Accuracy, cost and confusion matrix of a saved MODEL on validation or test data."""
    from ..data import load_dataset
    from ..serialization import load

    net = load(model)
    name = _model_dataset(net, dataset)
    splits = load_dataset(name, cache_dir=data_dir, progress=False if as_json else None)
    data = getattr(splits, split)
    X = net.check_X(data.X, name=f"{split} data")
    with np.errstate(all="ignore"):  # overflow is reported below, in one line
        out = net.predict_proba(X)
    _require_finite(out, model, "outputs")
    pred = np.argmax(out, axis=1)
    labels = data.y
    if labels.max() >= net.n_outputs:
        raise ValueError(
            f"{name} has labels up to {labels.max()} but the model has {net.n_outputs} outputs"
        )
    acc = float(np.mean(pred == labels))
    with np.errstate(all="ignore"):
        cost = net.cost_value(X, labels)
    _require_finite(cost, model, "cost")
    result = {
        "model": str(model),
        "dataset": name,
        "split": split,
        "examples": int(X.shape[0]),
        "accuracy": acc,
        "correct": int(np.sum(pred == labels)),
        "cost": cost,
    }
    meta_cfg = net.metadata.get("config", {}) if isinstance(net.metadata, dict) else {}
    tr = meta_cfg.get("training", {}) if isinstance(meta_cfg, dict) else {}
    n_train = (net.metadata.get("results") or {}).get("n_train")
    l2, l1 = tr.get("l2") or 0.0, tr.get("l1") or 0.0
    if (l2 or l1) and isinstance(n_train, int) and n_train > 0:
        result["cost_with_penalty"] = cost + net.penalty(l2=l2, l1=l1, n=n_train)
        _require_finite(result["cost_with_penalty"], model, "regularization term")
    cm = confusion_matrix(labels, pred, net.n_outputs)
    result["confusion_matrix"] = cm.tolist()
    if as_json:
        click.echo(json.dumps(result, indent=2, allow_nan=False))
        return
    click.echo(f"{model} on the {split} data of {name} ({X.shape[0]} examples)")
    click.echo(f"Accuracy: {percent(acc)} ({result['correct']}/{X.shape[0]})")
    line = f"Cost: {cost:.4f} ({net.cost.name}, mean per example)"
    if "cost_with_penalty" in result:
        line += (
            f"; with the regularization term (l2 {l2:g}, l1 {l1:g}, n {n_train}): "
            f"{result['cost_with_penalty']:.4f}"
        )
    click.echo(line)
    click.echo("Confusion matrix (rows: true class, columns: predicted class):")
    click.echo(_format_confusion(cm))


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--invert/--no-invert",
    default=None,
    help="force reading the images as dark ink on a light background (--invert) or as "
    "light ink on dark (--no-invert); by default each image's background is detected",
)
@click.option(
    "--center/--raw",
    "center",
    default=True,
    show_default=True,
    help="--center: crop to the ink, fit it into 20x20 keeping its shape and place it in "
    "28x28 by its centre of mass, as MNIST's digits were; --raw: only pad to a square "
    "and resize",
)
@click.option(
    "--save-input",
    type=click.Path(file_okay=False),
    help="write the input the network saw for each image into this folder "
    "(NAME.28x28.png, light ink on black)",
)
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
def predict(model, images, invert, center, save_input, as_json):
    """Class and output values of MODEL for each image file (PNG or any format Pillow
    reads, any size up to about 9459x9459, grey, colour, 16-bit, palette or transparent).

    Each image is prepared as MNIST's digits were: dark ink on a light background
    is detected and inverted (MNIST's digits are light on black), the digit is
    cropped to its ink, its strokes brought to MNIST's width, fitted into a
    20x20 box keeping its aspect ratio and placed in 28x28 by its centre of mass
    (for 8x8 models, as the 8x8 digits: the frame's height, centred).
    --save-input shows the result.
    """
    from pathlib import Path

    from ..data.images import image_framing, prepare_image, save_input_image
    from ..serialization import load

    net = load(model)
    side = math.isqrt(net.n_inputs)
    if side * side != net.n_inputs:
        raise ValueError(
            f"{model} takes {net.n_inputs} inputs, not a square image; predict needs a model "
            "trained on square images (784 = 28x28 for MNIST)"
        )
    prepared = [prepare_image(p, side=side, invert=invert, center=center) for p in images]
    saved = [None] * len(images)
    if save_input:
        folder = Path(save_input)
        folder.mkdir(parents=True, exist_ok=True)
        used: set[str] = set()
        for i, (path, image) in enumerate(zip(images, prepared, strict=True)):
            stem, n = Path(path).stem, 1
            name = f"{stem}.{side}x{side}.png"
            while name in used:
                n += 1
                name = f"{stem}-{n}.{side}x{side}.png"
            used.add(name)
            saved[i] = str(save_input_image(image.pixels, folder / name))
    X = np.stack([image.pixels for image in prepared])
    with np.errstate(all="ignore"):  # overflow is reported below, in one line
        out = net.predict_proba(X)
    _require_finite(out, model, "outputs")
    softmax = net.output_activation.name == "softmax"
    box = image_framing(side).box
    results = []
    for path, image, row, written in zip(images, prepared, out, saved, strict=True):
        k = int(np.argmax(row))
        result = {
            "image": path,
            "class": k,
            "outputs": [float(v) for v in row],
            "dark_on_light": image.dark_on_light,
            "inverted": image.inverted,
            "centered": image.centered,
        }
        if written:
            result["input_image"] = written
        if image.note:
            result["note"] = image.note
        results.append(result)
        if image.note:  # no digit found, or a forced --invert/--no-invert that looks wrong
            click.echo(f"nndl: {path}: {image.note}", err=True)
    if as_json:
        click.echo(
            json.dumps(
                {"model": str(model), "softmax": softmax, "predictions": results},
                allow_nan=False,
            )
        )
        return
    kind = "probabilities" if softmax else "outputs (sigmoid activations, not normalized)"
    if center:
        shaped = f"cropped, fitted into {box}x{box} and centred in {side}x{side}"
    else:
        shaped = f"padded to a square and resized to {side}x{side}"
    for r in results:
        values = "  ".join(f"{i}:{v:.3f}" for i, v in enumerate(r["outputs"]))
        click.echo(f"{r['image']}: {r['class']}  ({r['outputs'][r['class']]:.3f})")
        click.echo(f"  {kind}: {values}")
        ink = "dark ink on light, inverted" if r["inverted"] else "light ink on dark"
        line = f"  input: {ink}; {shaped}"
        if "input_image" in r:
            line += f"; saved as {r['input_image']}"
        click.echo(line)
