"""L2 regularization (weight decay) on 1,000 images and on the full training set.

C = C0 + lambda/(2n) sum_w w^2, so each step shrinks the weights by the
factor (1 - eta lambda / n) before the gradient step. Small weights make the
network's output change little when one input changes, so it cannot fit the
noise of a small training set as easily.

- small data: the overfitting set-up (1,000 images, [784, 30, 10], eta 0.5,
  400 epochs, large initialization) with lambda 0.1, against the same run
  without regularization (same seeds);
- full data: 50,000 images, eta 0.5, lambda 5.0, 30 epochs: [784, 30, 10]
  (and the unregularized run for comparison), [784, 100, 10], and
  [784, 100, 10] with eta 0.1 for 60 epochs. All with the large
  initialization the chapter still uses at that point, on the test data.
"""

from __future__ import annotations

import numpy as np

from .experiment_run import ExperimentRun
from .overfitting import small_training

TITLE = "L2 regularization on small and full data"
BOOK = (
    "1,000 images, lambda 0.1: about 87.1% and still improving after 400 epochs, no "
    "overfitting; full data, lambda 5.0: 96.49% (unregularized 95.49%); [784, 100, 10] "
    "97.92%; with eta 0.1 and 60 epochs 98.04%"
)

#: label -> (hidden, eta, lambda, epochs, book %, tolerance in points)
FULL_RUNS = {
    "[784, 30, 10] no regularization": (30, 0.5, 0.0, 30, 95.49, 1.0),
    "[784, 30, 10] lambda 5.0": (30, 0.5, 5.0, 30, 96.49, 0.6),
    "[784, 100, 10] lambda 5.0": (100, 0.5, 5.0, 30, 97.92, 0.6),
    "[784, 100, 10] lambda 5.0, eta 0.1, 60 epochs": (100, 0.1, 5.0, 60, 98.04, 0.5),
}
SMALL_L2 = 0.1
#: "Still improving" is judged only in runs at least this long (the book's is 400 epochs).
TREND_MIN_EPOCHS = 100


def _small_size(experiment) -> int:
    return min(experiment.pick(1000, 200), experiment.data().train.X.shape[0])


def _full_runs(experiment) -> dict:
    """FULL_RUNS labelled with the input size and epochs this run uses."""
    n_in = experiment.data().train.X.shape[1]
    common = experiment.pick(30, 2)
    runs = {}
    for hidden, eta, lmbda, epochs, book, tol in FULL_RUNS.values():
        epochs = experiment.pick(epochs, 2)
        label = f"[{n_in}, {hidden}, 10] " + (f"lambda {lmbda}" if lmbda else "no regularization")
        if eta != 0.5:
            label += f", eta {eta}"
        if epochs != common:
            label += f", {epochs} epochs"
        runs[label] = (hidden, eta, lmbda, epochs, book, tol)
    return runs


def _small_trainings(experiment) -> list[dict]:
    """The small-data pair (no regularization, lambda 0.1) for every seed."""
    epochs = experiment.pick(400, 6)
    trainings = []
    for seed in experiment.seeds:
        trainings.append(
            small_training(
                experiment,
                "small: no regularization",
                l2=0.0,
                seed=seed,
                epochs=epochs,
                monitor=["val_accuracy"],
            )
        )
        trainings.append(
            small_training(
                experiment,
                "small: lambda 0.1",
                l2=SMALL_L2,
                seed=seed,
                epochs=epochs,
                monitor=["loss", "accuracy", "val_accuracy"],
            )
        )
    return trainings


def _l2_on_small_data(experiment, runs) -> None:
    """Metrics and verdicts of the runs of :func:`_small_trainings`, in its order."""
    epochs = experiment.pick(400, 6)
    small = f"{_small_size(experiment):,} images"
    for plain, reg in zip(runs[::2], runs[1::2], strict=True):
        acc = np.asarray(reg.history["val_accuracy"])
        p_acc = np.asarray(plain.history["val_accuracy"])
        experiment.metric("small L2", acc[-1], unit="%", label=f"lambda 0.1 ({small})")
        experiment.metric("small L2 best", acc.max(), unit="%")
        experiment.metric("small plain", p_acc[-1], unit="%", label=f"no regularization ({small})")
        # Still improving: the last 50 epochs against the 50 before the last 100.
        k = max(1, len(acc) // 8)
        experiment.metric(
            "small L2 late trend", acc[-k:].mean() - acc[-3 * k : -2 * k].mean(), unit="%"
        )
        experiment.metric(
            "small L2 train-test gap",
            reg.history["accuracy"][-1] - acc[-1],
            unit="%",
            label="training minus test accuracy, lambda 0.1",
        )

    experiment.check_close(f"{small}, lambda 0.1: final test accuracy", "small L2", 87.1, 2.0)
    if epochs >= TREND_MIN_EPOCHS:
        trend = experiment.value("small L2 late trend")
        k = max(1, epochs // 8)
        earlier = f"epochs {epochs - 3 * k + 1}-{epochs - 2 * k}"
        experiment.check(
            f"{small}, lambda 0.1: still improving",
            ours=f"last {k} epochs vs {earlier}: {100 * trend:+.2f} points",
            book="still improving at epoch 400",
            passed=trend >= -0.001,
            rule=f"mean test accuracy of the last {k} epochs not below {earlier} (0.1 pt slack)",
        )
    gain = experiment.value("small L2") - experiment.value("small plain")
    experiment.check(
        f"{small}: L2 against no regularization",
        ours=f"{100 * gain:+.2f} points",
        book="+4.8 points (87.1 vs 82.3)",
        passed=gain > 0.02,
        rule="L2 beats the unregularized run by more than 2 points",
    )
    experiment.compare(f"{small}: lambda 0.1 vs none", "small L2", "small plain")


def _full_trainings(experiment) -> list[dict]:
    """The full-data runs of :data:`FULL_RUNS` for every seed."""
    splits = experiment.data()
    train, test = splits.train, splits.test
    n_in = train.X.shape[1]
    return [
        {
            "label": label,
            "sizes": [n_in, hidden, 10],
            "X": train.X,
            "y": train.y,
            "seed": seed,
            "evaluation": (test.X, test.y),
            "monitor": ["val_accuracy"],
            "network": {"initializer": "large"},
            "epochs": epochs,
            "mini_batch_size": 10,
            "learning_rate": eta,
            "l2": lmbda,
        }
        for seed in experiment.seeds
        for label, (hidden, eta, lmbda, epochs, _, _) in _full_runs(experiment).items()
    ]


def _l2_on_full_training_set(experiment, runs) -> None:
    """Metrics and verdicts of the runs of :func:`_full_trainings`, in its order."""
    train = experiment.data().train
    n_in = train.X.shape[1]
    labels = list(_full_runs(experiment)) * len(experiment.seeds)
    for label, r in zip(labels, runs, strict=True):
        experiment.metric(label, r.history["val_accuracy"][-1], unit="%")
    everything = f"all {train.X.shape[0]:,} images"
    for label, (*_, book, tol) in _full_runs(experiment).items():
        experiment.check_close(f"{everything}, {label}", label, book, tol)
    experiment.compare(
        f"{everything}, [{n_in}, 30, 10]: lambda 5.0 vs none",
        f"[{n_in}, 30, 10] lambda 5.0",
        f"[{n_in}, 30, 10] no regularization",
    )


def training_plan(experiment: ExperimentRun) -> list[tuple[str, int, int]]:
    """(configuration, epochs, examples) of each training run, every seed."""
    small = _small_size(experiment)
    epochs = experiment.pick(400, 6)
    n = experiment.data().train.X.shape[0]
    return [
        ("small: no regularization", epochs, small),
        ("small: lambda 0.1", epochs, small),
        *((label, run[3], n) for label, run in _full_runs(experiment).items()),
    ] * len(experiment.seeds)


def run(experiment: ExperimentRun) -> None:
    experiment.set_config(
        small={
            "n_train": _small_size(experiment),
            "epochs": experiment.pick(400, 6),
            "eta": 0.5,
            "lambda": SMALL_L2,
            "sizes": "[784, 30, 10]",
        },
        full={
            k: dict(zip(("hidden", "eta", "lambda", "epochs", "book"), v[:5], strict=True))
            for k, v in _full_runs(experiment).items()
        },
        initializer="large",
        mini_batch_size=10,
        evaluation="test data",
    )
    experiment.set_title(
        f"L2 regularization on {_small_size(experiment):,} and on all "
        f"{experiment.data().train.X.shape[0]:,} training images of {experiment.data_name}"
    )
    # Every training, small data and full, every seed, is independent of the
    # others: they run at once, recorded in the order they had one at a time.
    small, full = _small_trainings(experiment), _full_trainings(experiment)
    runs = experiment.train_many([*small, *full])
    _l2_on_small_data(experiment, runs[: len(small)])
    _l2_on_full_training_set(experiment, runs[len(small) :])
    _figures(experiment)


def _figures(experiment) -> None:
    plt = experiment.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    experiment.plot_curves(axes[0], "small: lambda 0.1", "loss", label="lambda 0.1")
    small = f"{_small_size(experiment):,} images"
    n = experiment.data().train.X.shape[0]
    axes[0].set_title(f"{small}: training cost, lambda 0.1", fontsize=10)
    for label, name in (("small: no regularization", "none"), ("small: lambda 0.1", "lambda 0.1")):
        experiment.plot_curves(axes[1], label, "val_accuracy", scale=100, label=name)
    axes[1].set_title(f"{small}: test accuracy (%)", fontsize=10)
    axes[1].legend(loc="lower right")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    experiment.figure("small_data", fig, f"L2 on {small}: training cost and test accuracy.")

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for i, (label, (*_, book, _)) in enumerate(_full_runs(experiment).items()):
        experiment.plot_curves(ax, label, "val_accuracy", scale=100, label=label, color=f"C{i}")
        ax.axhline(book, ls=":", lw=1, color=f"C{i}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    if not experiment.quick:
        ax.set_ylim(93, 98.8)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(
        f"All {n:,} training images of {experiment.data_name} (dotted: the book's final figures)",
        fontsize=10,
    )
    fig.tight_layout()
    experiment.figure("full_data", fig, f"L2 on {n:,} images: test accuracy per epoch.")
