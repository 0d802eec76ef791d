"""Dropout, with and without L2, on a network that overfits.

Dropout pays where a network has more capacity than its data can pin down,
so we use the chapter's overfitting set-up with a larger hidden layer: the
first 1,000 training images, [784, 100, 10], eta 0.5, mini-batch 10, 300
epochs, the large N(0, 1) initialization the chapter still uses at that
point. Four runs on the same seeds: no regularization; dropout of half the
hidden neurons; L2 with lambda 0.1 (the chapter's value for 1,000 images);
both. Then the same pair (none, dropout) on the chapter's [784, 30, 10], to
see whether dropout gains more on the larger network, as the chapter says.
Every run is judged on the 10,000 test images with every neuron present
(dropout is never active in evaluation); the test accuracy is also taken
every 10 epochs for the figure.

The book cites Hinton et al. (2012): 98.4% -> 98.7% on MNIST with much
larger networks (800 hidden units and more) trained far longer; the chapter
gives no figure for its own networks, so the verdicts here are about the
direction of the effect, checked against the seed-to-seed noise.
"""

from __future__ import annotations

import numpy as np

from ..callbacks import Callback
from .experiment_run import ExperimentRun

TITLE = "Dropout with and without L2"
BOOK = (
    "dropout improves test accuracy, most on large networks that overfit (Hinton et al. 2012: "
    "98.4% -> 98.7% on MNIST)"
)

N_TRAIN, ETA, EPOCHS, P, LMBDA, EVERY = 1000, 0.5, 300, 0.5, 0.1, 10
#: label -> (hidden neurons, dropout rate, lambda)
RUNS = {
    "none": (100, 0.0, 0.0),
    "dropout 0.5": (100, P, 0.0),
    "L2 0.1": (100, 0.0, LMBDA),
    "dropout 0.5 + L2 0.1": (100, P, LMBDA),
    "30 hidden: none": (30, 0.0, 0.0),
    "30 hidden: dropout 0.5": (30, P, 0.0),
}


#: The log key under which :class:`AccuracyEvery` adds its test accuracy.
PROBE = "test_accuracy"


class AccuracyEvery(Callback):
    """Adds the accuracy on (X, y) to the logs of every ``every``-th epoch (1 = every epoch).

    It runs in the training's job, so it hands its figures back through the
    history, the only thing besides the network that comes back; :func:`run`
    then moves them to the run's ``test_accuracy_every`` series.
    """

    def __init__(self, every: int, X, y):
        self.every, self.X, self.y = every, X, y

    def extra_logs(self, trainer, epoch: int) -> dict:
        if (epoch + 1) % self.every == 0:
            return {PROBE: trainer.network.accuracy(self.X, self.y)}
        return {}


def training_plan(experiment: ExperimentRun) -> list[tuple[str, int, int]]:
    """(configuration, epochs, examples) of each training run, every seed."""
    n = min(experiment.data().train.X.shape[0], experiment.pick(N_TRAIN, 300))
    return [(label, experiment.pick(EPOCHS, 4), n) for label in RUNS] * len(experiment.seeds)


def run(experiment: ExperimentRun) -> None:
    splits = experiment.data()
    train = splits.train.head(experiment.pick(N_TRAIN, 300))
    test = splits.test
    n_in = train.X.shape[1]
    epochs = experiment.pick(EPOCHS, 4)
    every = experiment.pick(EVERY, 1)
    experiment.set_config(
        runs={k: dict(zip(("hidden", "dropout", "l2"), v, strict=True)) for k, v in RUNS.items()},
        n_train=train.X.shape[0],
        learning_rate=ETA,
        epochs=epochs,
        mini_batch_size=10,
        initializer="large",
        evaluation=f"test data, every {every} epochs",
    )
    # Every (seed, configuration) is an independent training: they run at once.
    plan = [(seed, label, *config) for seed in experiment.seeds for label, config in RUNS.items()]
    first = {label: len(experiment.runs.get(label, ())) for label in RUNS}
    runs = experiment.train_many(
        {
            "label": label,
            "sizes": [n_in, hidden, 10],
            "X": train.X,
            "y": train.y,
            "seed": seed,
            "callbacks": [AccuracyEvery(every, test.X, test.y)],
            "network": {"dropout": p, "initializer": "large"},
            "epochs": epochs,
            "mini_batch_size": 10,
            "learning_rate": ETA,
            "l2": lmbda,
        }
        for seed, label, hidden, p, lmbda in plan
    )
    # The probe's figures become each run's own series, one value per `every`
    # epochs (what the figure plots), where it had one entry per epoch.
    for label in RUNS:
        for record in experiment.runs[label][first[label] :]:
            history = record["history"]
            probed = history.pop(PROBE, [None] * len(history["epoch"]))
            history["test_accuracy_every"] = [
                float(v) for n, v in zip(history["epoch"], probed, strict=True) if n % every == 0
            ]
    for (_, label, *_), r in zip(plan, runs, strict=True):
        experiment.metric(label, r.net.accuracy(test.X, test.y), unit="%", label=label)
        experiment.metric(f"{label} train", r.net.accuracy(train.X, train.y), unit="%")

    for label in RUNS:
        experiment.check(
            f"{label}: final test accuracy (training {experiment.shown(f'{label} train')})",
            ours=experiment.shown(label),
            book="no figure for this network",
            passed=None,
            rule="measured",
        )
    for with_, without in (("dropout 0.5", "none"), ("dropout 0.5 + L2 0.1", "L2 0.1")):
        gain = experiment.value(with_) - experiment.value(without)
        experiment.check(
            f"{with_} against {without}",
            ours=f"{100 * gain:+.2f} points",
            book="improves",
            passed=gain > 0,
            rule="dropout raises the mean test accuracy",
        )
        experiment.compare(f"{with_} vs {without}", with_, without)
    big = experiment.value("dropout 0.5") - experiment.value("none")
    small = experiment.value("30 hidden: dropout 0.5") - experiment.value("30 hidden: none")
    experiment.check(
        "dropout gains more on the larger network",
        ours=f"{100 * big:+.2f} points with 100 hidden, {100 * small:+.2f} with 30",
        book="most useful on large networks",
        passed=big > small,
        rule="the gain with 100 hidden neurons exceeds the gain with 30",
    )
    experiment.compare(
        "30 hidden: dropout 0.5 vs none", "30 hidden: dropout 0.5", "30 hidden: none"
    )

    plt = experiment.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for i, label in enumerate(RUNS):
        arr = experiment.curves(label, "test_accuracy_every") * 100
        x = np.arange(1, arr.shape[1] + 1) * every
        style = "--" if label.startswith("30") else "-"
        ax.plot(x, np.nanmean(arr, axis=0), style, color=f"C{i}", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(
        f"{train.X.shape[0]:,} training images of {experiment.data_name}, {epochs} epochs, "
        f"eta {ETA}, large initialization",
        fontsize=10,
    )
    fig.tight_layout()
    experiment.figure("test_accuracy", fig, "Test accuracy with and without dropout and L2.")
