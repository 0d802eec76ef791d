"""Write the chapter's notebooks (``python notebooks/build.py``), stored without outputs.

Each notebook is a list of markdown and code cells below, so that a change to
a notebook is a reviewable change to this file. Every notebook reads
``NNDL_NOTEBOOK_SMALL=1`` (tiny slices, one or two epochs, the 8x8 digits
where MNIST is not needed), which the tests use to execute them all quickly.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
import os
import sys

import matplotlib.pyplot as plt
import numpy as np

import nndl
from nndl.data import load_dataset

%matplotlib inline
SMALL = os.environ.get("NNDL_NOTEBOOK_SMALL") == "1"  # tiny settings, for the tests


def progress():
    # A tqdm bar over each epoch's mini-batches (a widget in Jupyter when
    # ipywidgets is installed), then one line per epoch.
    return nndl.ProgressBar(keys=["val_accuracy"], line_file=sys.stdout)
"""


def data_cell(n_train: int, n_val: int, small_train: int = 300, small_val: int = 200) -> str:
    return f"""\
splits = load_dataset("digits" if SMALL else "mnist")
n_train, n_val = ({small_train}, {small_val}) if SMALL else ({n_train}, {n_val})
X, y = splits.train.X[:n_train], splits.train.y[:n_train]
Xv, yv = splits.validation.X[:n_val], splits.validation.y[:n_val]
n_in = splits.n_features  # 784 for MNIST, 64 for the small 8x8 digits
print(f"{{len(X)}} training and {{len(Xv)}} validation images of {{n_in}} pixels")
"""


NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

NOTEBOOKS["01-learning-slowdown"] = [
    (
        "md",
        """\
# 1. The learning slowdown

The chapter opens with one sigmoid neuron that should learn to output 0 for the
input 1. With the quadratic cost the gradient carries a factor sigma'(z), which is
tiny when the neuron starts badly wrong (w = b = 2: output 0.98), so learning
starts very slowly. The cross-entropy cost cancels that factor: the worse the
start, the faster it learns.

This notebook trains the neuron of the book (eta = 0.15, 300 epochs) with
`nndl.fit`; it takes seconds.""",
    ),
    ("code", SETUP),
    (
        "md",
        "A network of one input and one sigmoid neuron; its weight and bias are set by hand.",
    ),
    (
        "code",
        """\
epochs = 30 if SMALL else 300
X1, y1 = np.array([[1.0]]), np.array([[0.0]])


def train_neuron(cost, w, b):
    net = nndl.Network([1, 1], cost=cost, output_activation="sigmoid", seed=0)
    net.set_params([np.array([[w]]), np.array([b])])
    outputs = []
    record = nndl.LambdaCallback(
        on_epoch_end=lambda trainer, epoch, logs: outputs.append(
            float(net.predict_proba(X1)[0, 0])
        )
    )
    history = nndl.fit(
        net, X1, y1, epochs=epochs, mini_batch_size=1, learning_rate=0.15,
        monitor=["loss"], callbacks=[record],
    )
    return history["loss"], outputs


runs = {}
for cost in ("quadratic", "cross_entropy"):
    for start in (0.6, 2.0):
        runs[cost, start] = train_neuron(cost, start, start)
        print(f"{cost:14s} w = b = {start}: output after {epochs} epochs "
              f"{runs[cost, start][1][-1]:.3f}")""",
    ),
    (
        "code",
        """\
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for (cost, start), (costs, outputs) in runs.items():
    style = "-" if cost == "quadratic" else "--"
    label = f"{cost}, w = b = {start}"
    axes[0].plot(range(1, epochs + 1), costs, style, label=label)
    axes[1].plot(range(1, epochs + 1), outputs, style, label=label)
axes[0].set(xlabel="epoch", ylabel="cost", title="Cost")
axes[1].set(xlabel="epoch", ylabel="output", title="Output (target 0)")
axes[0].legend()
plt.show()""",
    ),
    (
        "md",
        """\
With the quadratic cost and w = b = 2 the cost barely moves for the first
epochs (the plateau of the book's figure) and the output is still 0.2 after 300
epochs; with the cross-entropy both neurons learn quickly from the start, the
badly started one with the steepest fall.""",
    ),
]

NOTEBOOKS["02-cross-entropy-and-softmax"] = [
    (
        "md",
        """\
# 2. Cross-entropy and softmax

The same network [784, 30, 10] trained with three output layers and costs:
sigmoid outputs with the quadratic cost, sigmoid with the cross-entropy, and a
softmax layer with the log-likelihood cost. To run in about a minute on a laptop
CPU this notebook trains **10 epochs** on the 50,000 training images (the
book: 30 epochs), so the accuracies are a little lower than the book's.""",
    ),
    ("code", SETUP),
    ("code", data_cell(50_000, 10_000)),
    (
        "code",
        """\
epochs = 2 if SMALL else 10
settings = {
    "quadratic": dict(cost="quadratic", learning_rate=3.0),
    "cross_entropy": dict(cost="cross_entropy", learning_rate=0.5),
    "softmax + log_likelihood": dict(cost="log_likelihood", learning_rate=0.5),
}
histories = {}
for name, s in settings.items():
    print(name)
    net = nndl.Network([n_in, 30, 10], cost=s["cost"], seed=0)
    histories[name] = nndl.fit(
        net, X, y, validation_data=(Xv, yv), epochs=epochs, mini_batch_size=10,
        learning_rate=s["learning_rate"], seed=0, callbacks=[progress()],
    )
softmax_net = net""",
    ),
    (
        "code",
        """\
for name, h in histories.items():
    plt.plot(h["epoch"], h["val_accuracy"], "o-", label=name)
plt.xlabel("epoch")
plt.ylabel("validation accuracy")
plt.legend()
plt.show()""",
    ),
    (
        "md",
        """\
A softmax layer's outputs are positive and sum to 1: a probability
distribution over the ten digits.""",
    ),
    (
        "code",
        """\
p = softmax_net.predict_proba(Xv[:3])
print(np.round(p, 3))
print("sums:", p.sum(axis=1), " predicted:", p.argmax(axis=1), " labels:", yv[:3])""",
    ),
    (
        "md",
        """\
The book's own interface is there too: `nndl.network2` takes the book's lists
of `(x, y)` pairs and the same arguments as the book's `network2.py`.""",
    ),
    (
        "code",
        """\
from nndl import network2

training_data = [(x.reshape(-1, 1), network2.vectorized_result(label)) for x, label in zip(X, y)]
evaluation_data = [(x.reshape(-1, 1), label) for x, label in zip(Xv, yv)]
book_net = network2.Network([n_in, 30, 10], cost=network2.CrossEntropyCost)
book_epochs = 1 if SMALL else 2
_, accuracies, _, _ = book_net.SGD(
    training_data, book_epochs, 10, 0.5, evaluation_data=evaluation_data,
    monitor_evaluation_accuracy=True,
)
print(f"network2: {accuracies[-1]} / {len(evaluation_data)} after {book_epochs} epochs")""",
    ),
]

NOTEBOOKS["03-overfitting-and-l2"] = [
    (
        "md",
        """\
# 3. Overfitting and L2 regularization

The book trains [784, 30, 10] on only **1,000 training images** for 400 epochs:
the training cost keeps falling while the accuracy on held-out images stops
improving after about 280 epochs -- overfitting. L2 regularization (lambda = 0.1
for n = 1,000) keeps the weights small and the network generalizes better.

This notebook runs the book's setting (N(0, 1) weights, eta = 0.5, mini-batches
of 10, 400 epochs) and measures on the 10,000 validation images instead of the
test images; it takes a few minutes.""",
    ),
    ("code", SETUP),
    ("code", data_cell(1_000, 10_000, small_train=200, small_val=200)),
    (
        "code",
        """\
epochs = 2 if SMALL else 400
histories = {}
for lmbda in (0.0, 0.1):
    print(f"lambda = {lmbda}")
    net = nndl.Network([n_in, 30, 10], cost="cross_entropy", initializer="large", seed=0)
    histories[lmbda] = nndl.fit(
        net, X, y, validation_data=(Xv, yv), epochs=epochs, mini_batch_size=10,
        learning_rate=0.5, l2=lmbda, seed=0,
        monitor=["loss", "accuracy", "val_accuracy"],
        callbacks=[nndl.ProgressBar("quiet")] if not SMALL else [progress()],
    )
    h = histories[lmbda]
    print(f"  final: training accuracy {h['accuracy'][-1]:.3f}, "
          f"validation accuracy {h['val_accuracy'][-1]:.3f}")""",
    ),
    (
        "code",
        """\
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for lmbda, h in histories.items():
    label = f"lambda = {lmbda}"
    axes[0].plot(h["epoch"], h["loss"], label=label)
    axes[1].plot(h["epoch"], h["accuracy"], label=label)
    axes[2].plot(h["epoch"], h["val_accuracy"], label=label)
axes[0].set(title="training cost", xlabel="epoch")
axes[1].set(title="training accuracy", xlabel="epoch")
axes[2].set(title="validation accuracy", xlabel="epoch")
axes[2].legend()
plt.show()""",
    ),
    (
        "md",
        """\
Without regularization the training accuracy reaches 100% while the validation
accuracy stalls; with L2 the validation accuracy ends clearly higher. (The 400
epochs above print nothing per epoch; with `SMALL` they show the bar.)""",
    ),
]

NOTEBOOKS["04-l1-and-dropout"] = [
    (
        "md",
        """\
# 4. L1 regularization and dropout

Two other ways to fight overfitting, on the same **1,000 training images**:
L1 regularization shrinks every weight by a constant amount (so many weights
end at zero), and dropout trains random halves of the hidden layer. This
notebook trains [784, 100, 10] for **30 epochs** and measures on the **first
2,000 validation images**, to run in a few minutes.""",
    ),
    ("code", SETUP),
    ("code", data_cell(1_000, 2_000, small_train=200, small_val=200)),
    (
        "code",
        """\
epochs = 2 if SMALL else 30
variants = {
    "none": dict(),
    "L2, lambda = 0.1": dict(l2=0.1),
    "L1, lambda = 0.1": dict(l1=0.1),
    "dropout 0.5": dict(dropout=0.5),
}
histories, nets = {}, {}
for name, v in variants.items():
    print(name)
    net = nndl.Network([n_in, 100, 10], cost="cross_entropy",
                       dropout=v.get("dropout", 0.0), seed=0)
    histories[name] = nndl.fit(
        net, X, y, validation_data=(Xv, yv), epochs=epochs, mini_batch_size=10,
        learning_rate=0.5, l2=v.get("l2", 0.0), l1=v.get("l1", 0.0), seed=0,
        callbacks=[progress()],
    )
    nets[name] = net""",
    ),
    (
        "code",
        """\
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for name, h in histories.items():
    axes[0].plot(h["epoch"], h["val_accuracy"], label=name)
axes[0].set(xlabel="epoch", ylabel="validation accuracy")
axes[0].legend()
for name in ("L2, lambda = 0.1", "L1, lambda = 0.1"):
    w = nets[name].get_params()[0].ravel()
    axes[1].hist(w, bins=100, range=(-0.3, 0.3), alpha=0.6, label=name)
axes[1].set(xlabel="hidden-layer weight", ylabel="count", yscale="log")
axes[1].legend()
plt.show()""",
    ),
    (
        "md",
        """\
The histogram shows the difference the chapter describes: L1 leaves a few large
weights and piles the rest at zero, L2 shrinks all of them in proportion.""",
    ),
]

NOTEBOOKS["05-expanded-data"] = [
    (
        "md",
        """\
# 5. Artificially expanding the training data

More training data is the best regularizer, and distorted copies of the images
are almost as good as new ones. `nndl.callbacks.AugmentCallback` trains each
epoch on freshly shifted (or rotated, or elastically distorted) copies of the
training images. Here: the **first 1,000 training images**, **30 epochs**,
plain versus shifted by one pixel, measured on the **first 2,000 validation
images**, to run in a few minutes.""",
    ),
    ("code", SETUP),
    ("code", data_cell(1_000, 2_000, small_train=200, small_val=200)),
    (
        "code",
        """\
from nndl.callbacks import AugmentCallback

side = int(np.sqrt(n_in))
rng = np.random.default_rng(0)
shifted = AugmentCallback("shift").augmenter(X[:8], rng)
fig, axes = plt.subplots(2, 8, figsize=(12, 3))
for i in range(8):
    axes[0, i].imshow(X[i].reshape(side, side), cmap="gray_r")
    axes[1, i].imshow(shifted[i].reshape(side, side), cmap="gray_r")
    axes[0, i].axis("off")
    axes[1, i].axis("off")
plt.suptitle("originals (top) and shifted copies (bottom)")
plt.show()""",
    ),
    (
        "code",
        """\
epochs = 2 if SMALL else 30
histories = {}
for name, callbacks in (("plain", []), ("shifted each epoch", [AugmentCallback("shift")])):
    print(name)
    net = nndl.Network([n_in, 30, 10], cost="cross_entropy", seed=0)
    histories[name] = nndl.fit(
        net, X, y, validation_data=(Xv, yv), epochs=epochs, mini_batch_size=10,
        learning_rate=0.5, l2=0.1, seed=0, callbacks=[*callbacks, progress()],
    )
for name, h in histories.items():
    plt.plot(h["epoch"], h["val_accuracy"], label=name)
plt.xlabel("epoch")
plt.ylabel("validation accuracy")
plt.legend()
plt.show()""",
    ),
    (
        "md",
        """\
The book's own expansion (each of 50,000 images shifted by one pixel in four
directions, 250,000 images) is `nndl train --expand shifts`, or
`nndl.data.expand.build_expanded` in Python.""",
    ),
]

NOTEBOOKS["06-weight-initialization"] = [
    (
        "md",
        """\
# 6. Weight initialization

Weights drawn from N(0, 1) make the weighted input z of a hidden neuron with
784 inputs a broad Gaussian (standard deviation about 22 on average images), so
most hidden neurons start saturated and learn slowly. Drawing them from
N(0, 1/n_in) keeps z near 0. This notebook compares the two (`initializer=
"large"` and `"default"`) with the book's settings (eta = 0.1, lambda = 5.0) but
**10 epochs** instead of 30, to run in a couple of minutes.""",
    ),
    ("code", SETUP),
    ("code", data_cell(50_000, 10_000)),
    (
        "code",
        """\
nets = {name: nndl.Network([n_in, 30, 10], cost="cross_entropy", initializer=name, seed=0)
        for name in ("large", "default")}
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
for ax, (name, net) in zip(axes, nets.items()):
    W, b = net.get_params()[:2]
    z = X[:1000] @ W.T + b
    ax.hist(z.ravel(), bins=100)
    ax.set(title=f"initializer={name!r}: hidden z", xlabel="z")
plt.show()""",
    ),
    (
        "code",
        """\
epochs = 2 if SMALL else 10
histories = {}
for name, net in nets.items():
    print(name)
    histories[name] = nndl.fit(
        net, X, y, validation_data=(Xv, yv), epochs=epochs, mini_batch_size=10,
        learning_rate=0.1, l2=5.0 * len(X) / 50_000, seed=0, callbacks=[progress()],
        # lambda = 5.0 for 50,000 images, rescaled for the small slices
    )
for name, h in histories.items():
    plt.plot(h["epoch"], h["val_accuracy"], "o-", label=f"initializer={name!r}")
plt.xlabel("epoch")
plt.ylabel("validation accuracy")
plt.legend()
plt.show()""",
    ),
    (
        "md",
        """\
As in the book, the better initialization is ahead from the first epoch: it
mainly speeds learning up.""",
    ),
]

NOTEBOOKS["07-choosing-hyper-parameters"] = [
    (
        "md",
        """\
# 7. Choosing hyper-parameters

The chapter's heuristics, as `nndl.tuning` implements them: first find the
learning-rate **threshold** (the eta at which the training cost stops falling in
the first epochs) and train at about half of it; then choose **lambda** on
validation accuracy, by factors of 10 and then finer. Finally a small automated
search with Optuna (`nndl.search`). To run in a few minutes everything here uses
the **first 2,000 training images**, the **first 1,000 validation images** and
only a few epochs per trial.""",
    ),
    ("code", SETUP),
    ("code", data_cell(2_000, 1_000, small_train=200, small_val=100)),
    (
        "code",
        """\
from nndl import tuning

net = nndl.Network([n_in, 30, 10], cost="cross_entropy", seed=0)
eta_result = tuning.find_learning_rate_threshold(
    net, X, y, epochs=3, max_trials=10, refine_steps=1 if SMALL else 2,
    train_options={"l2": 5.0},  # measure it with the lambda you will train with
)
print(eta_result.summary())""",
    ),
    (
        "code",
        """\
import tempfile

from IPython.display import Image, display

figures = tempfile.mkdtemp()
display(Image(filename=str(tuning.plot_cost_curves(eta_result, f"{figures}/eta.png"))))""",
    ),
    (
        "code",
        """\
lambda_result = tuning.tune_lambda(
    net, X, y, (Xv, yv), learning_rate=eta_result.recommended,
    epochs=2 if SMALL else 10, max_decades=2 if SMALL else 4, refine_steps=0 if SMALL else 1,
)
print(lambda_result.summary())
display(Image(filename=str(tuning.plot_cost_curves(lambda_result, f"{figures}/lambda.png"))))""",
    ),
    (
        "md",
        """\
## A small Optuna search

`nndl.search.run_search` searches any training options with Optuna (TPE by
default), pruning poor trials from their per-epoch validation accuracy. Here:
learning rate and lambda on a log scale, a few trials of a few epochs.""",
    ),
    (
        "code",
        """\
from nndl.search import SearchSpace, run_search

space = SearchSpace.from_dict({
    "params": {
        "learning_rate": {"type": "float", "low": 0.05, "high": 5.0, "log": True},
        "l2": {"type": "float", "low": 0.01, "high": 10.0, "log": True},
        "hidden_sizes": [[30]],
        "epochs": 2 if SMALL else 5,
    }
})
result = run_search(
    space, (X, y), (Xv, yv), n_trials=2 if SMALL else 12, seed=0,
    plots=False, verbose=False,
)
print(result.summary())  # the best trial is re-trained to check it; no test set here""",
    ),
]

NOTEBOOKS["08-momentum"] = [
    (
        "md",
        """\
# 8. Momentum

Momentum-based gradient descent gives the weights a velocity: each step adds the
gradient to a velocity that decays by the factor mu (the "friction" is 1 - mu).
This notebook compares plain SGD with momentum and Nesterov momentum (mu = 0.9)
on the **first 10,000 training images** for **10 epochs**, to run in a couple of
minutes. With momentum the same eta takes longer steps, so it is run at a
smaller eta as well.""",
    ),
    ("code", SETUP),
    ("code", data_cell(10_000, 10_000)),
    (
        "code",
        """\
epochs = 2 if SMALL else 10
variants = {
    "sgd, eta 0.5": dict(optimizer="sgd", learning_rate=0.5),
    "momentum 0.9, eta 0.05": dict(optimizer="momentum", momentum=0.9, learning_rate=0.05),
    "nesterov 0.9, eta 0.05": dict(optimizer="nesterov", momentum=0.9, learning_rate=0.05),
    "sgd, eta 0.05": dict(optimizer="sgd", learning_rate=0.05),
}
histories = {}
for name, v in variants.items():
    print(name)
    net = nndl.Network([n_in, 30, 10], cost="cross_entropy", seed=0)
    histories[name] = nndl.fit(
        net, X, y, validation_data=(Xv, yv), epochs=epochs, mini_batch_size=10,
        l2=1.0, seed=0, monitor=["loss", "val_accuracy"], callbacks=[progress()], **v,
    )""",
    ),
    (
        "code",
        """\
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for name, h in histories.items():
    axes[0].plot(h["epoch"], h["loss"], "o-", label=name)
    axes[1].plot(h["epoch"], h["val_accuracy"], "o-", label=name)
axes[0].set(xlabel="epoch", ylabel="training cost", yscale="log")
axes[1].set(xlabel="epoch", ylabel="validation accuracy")
axes[1].legend()
plt.show()""",
    ),
    (
        "md",
        """\
At the same small eta, momentum learns much faster than plain SGD: its
effective step is about eta / (1 - mu), ten times larger.""",
    ),
]

NOTEBOOKS["09-tanh-and-relu"] = [
    (
        "md",
        """\
# 9. Other neurons: tanh and rectified linear units

The chapter ends with other activation functions: tanh (a rescaled sigmoid with
outputs in (-1, 1)) and the rectified linear unit max(0, z), which does not
saturate for large z. This notebook trains [784, 30, 10] with each hidden
activation on the **first 10,000 training images** for **10 epochs**, to run in
a couple of minutes.""",
    ),
    ("code", SETUP),
    (
        "code",
        """\
z = np.linspace(-4, 4, 200)
plt.plot(z, 1 / (1 + np.exp(-z)), label="sigmoid")
plt.plot(z, np.tanh(z), label="tanh")
plt.plot(z, np.maximum(0, z), label="ReLU")
plt.ylim(-1.2, 2)
plt.axhline(0, color="gray", lw=0.5)
plt.xlabel("z")
plt.legend()
plt.show()""",
    ),
    ("code", data_cell(10_000, 10_000)),
    (
        "code",
        """\
epochs = 2 if SMALL else 10
etas = {"sigmoid": 0.5, "tanh": 0.1, "relu": 0.05}
histories = {}
for activation, eta in etas.items():
    print(f"{activation}, eta {eta}")
    net = nndl.Network([n_in, 30, 10], cost="log_likelihood",
                       hidden_activation=activation, seed=0)
    histories[activation] = nndl.fit(
        net, X, y, validation_data=(Xv, yv), epochs=epochs, mini_batch_size=10,
        learning_rate=eta, l2=1.0, seed=0, callbacks=[progress()],
    )
for activation, h in histories.items():
    plt.plot(h["epoch"], h["val_accuracy"], "o-", label=f"{activation} (eta {etas[activation]})")
plt.xlabel("epoch")
plt.ylabel("validation accuracy")
plt.legend()
plt.show()""",
    ),
    (
        "md",
        """\
On this small problem the three end close together, as the chapter says:
there is no strong theory for which activation to prefer, and each needs its own
learning rate (tanh and ReLU take smaller ones here).""",
    ),
]


def build(name: str, cells) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, text) in enumerate(cells):
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell["id"] = f"{name[:2]}-{i:02d}"
        nb.cells.append(cell)
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(name, cells), HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
