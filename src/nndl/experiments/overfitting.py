"""Overfitting: [784, 30, 10] on the first 1,000 training images for 400 epochs.

eta 0.5, mini-batch 10, cross-entropy, the large N(0, 1) initialization,
evaluated on the 10,000 test images after every epoch. The four curves of
the book: the training cost keeps falling, the test accuracy stops improving
(near epoch 280 in the book, at about 82.3%), the test cost is lowest early
(near epoch 15) and then rises, and the training accuracy reaches 100%: past
a point the network learns the peculiarities of its 1,000 images, not digits.
"""

from __future__ import annotations

import numpy as np

from .experiment_run import ExperimentRun

TITLE = "Overfitting on 1,000 training images"
BOOK = (
    "test accuracy stops improving near epoch 280 at about 82.3%; test cost lowest near "
    "epoch 15; training accuracy 100%; training cost keeps falling"
)

N_TRAIN = 1000
EPOCHS = 400
ETA = 0.5
#: The book's test accuracy stops improving near this epoch.
PLATEAU_EPOCH = 280
#: The test cost should be lowest by this epoch.
EARLY_EPOCH = 40


def small_training(experiment, label: str, *, l2: float, seed: int, epochs: int, monitor=None):
    """The chapter's small-data run, as one training of :meth:`ExperimentRun.train_many`
    (shared with the L2 experiment)."""
    splits = experiment.data()
    train = splits.train.head(experiment.pick(N_TRAIN, 200))
    test = splits.test
    n_in = train.X.shape[1]
    return {
        "label": label,
        "sizes": [n_in, 30, 10],
        "X": train.X,
        "y": train.y,
        "seed": seed,
        "evaluation": (test.X, test.y),
        "monitor": monitor or ["loss", "accuracy", "val_loss", "val_accuracy"],
        "network": {"initializer": "large"},
        "epochs": epochs,
        "mini_batch_size": 10,
        "learning_rate": ETA,
        "l2": l2,
    }


def plateau_gain(acc, epoch: int) -> float:
    """How much the best accuracy rose after ``epoch`` (0 if it never did)."""
    acc = np.asarray(acc, dtype=float)
    if epoch >= len(acc):
        return 0.0
    return max(0.0, float(acc[epoch:].max() - acc[:epoch].max()))


def training_plan(experiment: ExperimentRun) -> list[tuple[str, int, int]]:
    """(configuration, epochs, examples) of each training run, every seed."""
    return [("no regularization", experiment.pick(EPOCHS, 6), experiment.pick(N_TRAIN, 200))] * len(
        experiment.seeds
    )


def run(experiment: ExperimentRun) -> None:
    epochs = experiment.pick(EPOCHS, 6)
    n_train = min(experiment.pick(N_TRAIN, 200), experiment.data().train.X.shape[0])
    n_in = experiment.data().train.X.shape[1]
    experiment.set_title(f"Overfitting on {n_train:,} training images of {experiment.data_name}")
    experiment.set_config(
        n_train=n_train,
        epochs=epochs,
        learning_rate=ETA,
        sizes=f"[{n_in}, 30, 10]",
        initializer="large",
        evaluation="test data",
    )
    label = "no regularization"
    # Statements about epoch 280 or 40 only mean something in runs that go past them.
    judge_plateau = epochs > PLATEAU_EPOCH
    judge_early = epochs > EARLY_EPOCH
    # One training per seed, independent of each other: they run at once.
    runs = experiment.train_many(
        small_training(experiment, label, l2=0.0, seed=seed, epochs=epochs)
        for seed in experiment.seeds
    )
    for r in runs:
        h = r.history
        acc, tcost = np.array(h["val_accuracy"]), np.array(h["val_loss"])
        cost = np.array(h["loss"])
        best_cost_epoch = int(np.argmin(tcost))  # an index; epochs count from 1
        experiment.metric("final test accuracy", acc[-1], unit="%")
        experiment.metric("best test accuracy", acc.max(), unit="%")
        experiment.metric("epoch of best test accuracy", int(np.argmax(acc)) + 1)
        if judge_plateau:
            experiment.metric(
                f"gain after epoch {PLATEAU_EPOCH}", plateau_gain(acc, PLATEAU_EPOCH), unit="%"
            )
        experiment.metric("epoch of lowest test cost", best_cost_epoch + 1)
        experiment.metric("final training accuracy", h["accuracy"][-1], unit="%")
        experiment.metric("training cost at lowest test cost", cost[best_cost_epoch])
        experiment.metric("final training cost", cost[-1])

    experiment.check_close("final test accuracy", "final test accuracy", 82.3, 2.0)
    if judge_plateau:
        gain = experiment.value(f"gain after epoch {PLATEAU_EPOCH}")
        experiment.check(
            "test accuracy stops improving",
            ours=(
                f"best at epoch {experiment.shown('epoch of best test accuracy')}; "
                f"+{100 * gain:.2f} points after epoch {PLATEAU_EPOCH}"
            ),
            book=f"stops near epoch {PLATEAU_EPOCH}",
            passed=gain < 0.005,
            rule=f"best accuracy rises by under 0.5 points after epoch {PLATEAU_EPOCH}",
        )
    if judge_early:
        first = experiment.value("epoch of lowest test cost")
        falls = experiment.value("final training cost") < experiment.value(
            "training cost at lowest test cost"
        )
        experiment.check(
            "test cost lowest early, training cost falls",
            ours=(
                f"lowest test cost at epoch {experiment.shown('epoch of lowest test cost')}; "
                f"training cost {experiment.value('training cost at lowest test cost'):.3g} "
                f"then -> {experiment.value('final training cost'):.3g}"
            ),
            book="test cost lowest near epoch 15",
            passed=first <= EARLY_EPOCH and falls,
            rule=f"test cost lowest by epoch {EARLY_EPOCH} while training cost keeps falling",
        )
    else:
        experiment.measured(
            "epoch of lowest test cost",
            "epoch of lowest test cost",
            book=f"near epoch 15 of {EPOCHS}",
        )
    experiment.check_close(
        "final training accuracy", "final training accuracy", 100.0, 0.1, what="training accuracy"
    )
    _figures(experiment, label, epochs, n_train, n_in)


def _figures(experiment, label: str, epochs: int, n_train: int, n_in: int) -> None:
    plt = experiment.pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    late = 200 if epochs > 200 else 0
    panels = [
        (axes[0, 0], "loss", 1, f"training cost (epochs {late + 1}-{epochs})", late),
        (axes[0, 1], "val_accuracy", 100, f"test accuracy % (epochs {late + 1}-{epochs})", late),
        (axes[1, 0], "val_loss", 1, "test cost", 0),
        (axes[1, 1], "accuracy", 100, "training accuracy %", 0),
    ]
    for ax, key, scale, title, start in panels:
        arr = experiment.curves(label, key) * scale
        x = np.arange(1, arr.shape[1] + 1)  # epochs count from 1, as the console does
        for row in arr:
            ax.plot(x[start:], row[start:], lw=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"Overfitting: [{n_in}, 30, 10] on {n_train:,} training images of "
        f"{experiment.data_name}, {epochs} epochs, eta {ETA}, no regularization"
    )
    fig.tight_layout()
    experiment.figure(
        "four_curves",
        fig,
        "The book's four curves: training cost, test accuracy, test cost, training accuracy "
        "(one line per seed).",
    )
