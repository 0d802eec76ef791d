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
from .overfitting import train_small

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


def _l2_on_1000_images(experiment) -> None:
    epochs = experiment.pick(400, 6)
    for seed in experiment.seeds:
        plain = train_small(
            experiment,
            "small: no regularization",
            l2=0.0,
            seed=seed,
            epochs=epochs,
            monitor=["val_accuracy"],
        )
        reg = train_small(
            experiment,
            "small: lambda 0.1",
            l2=SMALL_L2,
            seed=seed,
            epochs=epochs,
            monitor=["loss", "accuracy", "val_accuracy"],
        )
        acc = np.asarray(reg.history["val_accuracy"])
        p_acc = np.asarray(plain.history["val_accuracy"])
        experiment.metric("small L2", acc[-1], unit="%", label="lambda 0.1 (1,000 images)")
        experiment.metric("small L2 best", acc.max(), unit="%")
        experiment.metric(
            "small plain", p_acc[-1], unit="%", label="no regularization (1,000 images)"
        )
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

    experiment.check_close("1,000 images, lambda 0.1: final test accuracy", "small L2", 87.1, 2.0)
    trend = experiment.value("small L2 late trend")
    experiment.check(
        "1,000 images, lambda 0.1: still improving",
        ours=f"last 50 epochs vs epochs 250-300: {100 * trend:+.2f} points",
        book="still improving at epoch 400",
        passed=trend >= -0.001,
        rule="mean test accuracy of the last 50 epochs not below epochs 250-300 (0.1 pt slack)",
    )
    gain = experiment.value("small L2") - experiment.value("small plain")
    experiment.check(
        "1,000 images: L2 against no regularization",
        ours=f"{100 * gain:+.2f} points",
        book="+4.8 points (87.1 vs 82.3)",
        passed=gain > 0.02,
        rule="L2 beats the unregularized run by more than 2 points",
    )
    experiment.compare("1,000 images: lambda 0.1 vs none", "small L2", "small plain")


def _l2_on_full_training_set(experiment) -> None:
    splits = experiment.data()
    train, test = splits.train, splits.test
    n_in = train.X.shape[1]
    for seed in experiment.seeds:
        for label, (hidden, eta, lmbda, epochs, _, _) in FULL_RUNS.items():
            r = experiment.train(
                label,
                [n_in, hidden, 10],
                train.X,
                train.y,
                seed=seed,
                evaluation=(test.X, test.y),
                monitor=["val_accuracy"],
                network={"initializer": "large"},
                epochs=experiment.pick(epochs, 2),
                mini_batch_size=10,
                learning_rate=eta,
                l2=lmbda,
            )
            experiment.metric(label, r.history["val_accuracy"][-1], unit="%")
    for label, (*_, book, tol) in FULL_RUNS.items():
        experiment.check_close(f"full data, {label}", label, book, tol)
    experiment.compare(
        "full data, [784, 30, 10]: lambda 5.0 vs none",
        "[784, 30, 10] lambda 5.0",
        "[784, 30, 10] no regularization",
    )


def training_plan(experiment: ExperimentRun) -> list[tuple[str, int, int]]:
    """(configuration, epochs, examples) of each training run, every seed."""
    small = experiment.pick(1000, 200)
    epochs = experiment.pick(400, 6)
    n = experiment.data().train.X.shape[0]
    return [
        ("small: no regularization", epochs, small),
        ("small: lambda 0.1", epochs, small),
        *((label, experiment.pick(run[3], 2), n) for label, run in FULL_RUNS.items()),
    ] * len(experiment.seeds)


def run(experiment: ExperimentRun) -> None:
    experiment.set_config(
        small={
            "n_train": experiment.pick(1000, 200),
            "epochs": experiment.pick(400, 6),
            "eta": 0.5,
            "lambda": SMALL_L2,
            "sizes": "[784, 30, 10]",
        },
        full={
            k: dict(zip(("hidden", "eta", "lambda", "epochs", "book"), v[:5], strict=True))
            for k, v in FULL_RUNS.items()
        },
        initializer="large",
        mini_batch_size=10,
        evaluation="test data",
    )
    _l2_on_1000_images(experiment)
    _l2_on_full_training_set(experiment)
    _figures(experiment)


def _figures(experiment) -> None:
    plt = experiment.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    experiment.plot_curves(axes[0], "small: lambda 0.1", "loss", label="lambda 0.1")
    axes[0].set_title("1,000 images: training cost, lambda 0.1", fontsize=10)
    for label, name in (("small: no regularization", "none"), ("small: lambda 0.1", "lambda 0.1")):
        experiment.plot_curves(axes[1], label, "val_accuracy", scale=100, label=name)
    axes[1].set_title("1,000 images: test accuracy (%)", fontsize=10)
    axes[1].legend(loc="lower right")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    experiment.figure("small_data", fig, "L2 on 1,000 images: training cost and test accuracy.")

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for i, (label, (*_, book, _)) in enumerate(FULL_RUNS.items()):
        experiment.plot_curves(ax, label, "val_accuracy", scale=100, label=label, color=f"C{i}")
        ax.axhline(book, ls=":", lw=1, color=f"C{i}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    if not experiment.quick:
        ax.set_ylim(93, 98.8)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Full training set (dotted: the book's final figures)", fontsize=10)
    fig.tight_layout()
    experiment.figure("full_data", fig, "L2 on 50,000 images: test accuracy per epoch.")
