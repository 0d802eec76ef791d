"""Cross-entropy against the quadratic cost on MNIST.

The chapter's first MNIST run with the cross-entropy cost: [784, 30, 10],
eta 0.5, mini-batch 10, 30 epochs, the "large" N(0, 1) initialization it
still uses at that point, evaluated on the test data; then [784, 100, 10].
The quadratic-cost numbers the book compares with come from chapter 1's
runs (eta 3.0, same sizes), which we run too, so that the comparison is
ours on both sides and tested against the noise.
"""

from __future__ import annotations

from .experiment_run import ExperimentRun

TITLE = "Cross-entropy vs quadratic cost on MNIST"
BOOK = (
    "[784, 30, 10] with cross-entropy 95.49% (quadratic, chapter 1: 95.42%); "
    "[784, 100, 10] 96.82% (quadratic: 96.59%)"
)

#: (cost, hidden neurons) -> (learning rate, the book's test accuracy in %)
RUNS = {
    ("cross_entropy", 30): (0.5, 95.49),
    ("quadratic", 30): (3.0, 95.42),
    ("cross_entropy", 100): (0.5, 96.82),
    ("quadratic", 100): (3.0, 96.59),
}
#: Percentage points; one unregularized, large-initialized run of 30 epochs
#: varies by a few tenths of a point from seed to seed.
TOLERANCE = 1.0


def training_plan(experiment: ExperimentRun) -> list[tuple[str, int, int]]:
    """(configuration, epochs, examples) of each training run, every seed."""
    n = experiment.data().train.X.shape[0]
    epochs = experiment.pick(30, 2)
    return [(f"{cost} {hidden} hidden", epochs, n) for cost, hidden in RUNS] * len(experiment.seeds)


def run(experiment: ExperimentRun) -> None:
    splits = experiment.data()
    train, test = splits.train, splits.test
    epochs = experiment.pick(30, 2)
    n_in = train.X.shape[1]
    experiment.set_config(epochs=epochs, mini_batch_size=10, initializer="large", runs=str(RUNS))
    experiment.set_title(
        f"Cross-entropy vs quadratic cost on {train.X.shape[0]:,} training images of "
        f"{experiment.data_name}, {epochs} epochs"
    )
    # Every (seed, cost, hidden) is an independent training: they run at once.
    plan = [
        (seed, cost, hidden, eta)
        for seed in experiment.seeds
        for (cost, hidden), (eta, _) in RUNS.items()
    ]
    runs = experiment.train_many(
        {
            "label": f"{cost} [{n_in}, {hidden}, 10] eta {eta}",
            "sizes": [n_in, hidden, 10],
            "X": train.X,
            "y": train.y,
            "seed": seed,
            "evaluation": (test.X, test.y),
            "monitor": ["val_accuracy"],
            "network": {"cost": cost, "initializer": "large"},
            "epochs": epochs,
            "mini_batch_size": 10,
            "learning_rate": eta,
        }
        for seed, cost, hidden, eta in plan
    )
    for (_, cost, hidden, _), r in zip(plan, runs, strict=True):
        acc = r.history["val_accuracy"]
        experiment.metric(f"{cost} {hidden}", acc[-1], unit="%", label=f"{cost}, {hidden} hidden")
        experiment.metric(f"{cost} {hidden} best", max(acc), unit="%")

    for (cost, hidden), (_, book) in RUNS.items():
        what = "cross-entropy" if cost == "cross_entropy" else "quadratic (chapter 1)"
        experiment.check_close(
            f"{what}, {hidden} hidden: final test accuracy",
            f"{cost} {hidden}",
            book,
            TOLERANCE,
        )
    for hidden in (30, 100):
        experiment.compare(
            f"cross-entropy vs quadratic, {hidden} hidden",
            f"cross_entropy {hidden}",
            f"quadratic {hidden}",
        )

    plt = experiment.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, hidden in zip(axes, (30, 100), strict=True):
        for cost in ("cross_entropy", "quadratic"):
            eta, book = RUNS[cost, hidden]
            label = f"{cost} [{n_in}, {hidden}, 10] eta {eta}"
            experiment.plot_curves(ax, label, "val_accuracy", scale=100, label=f"{cost}, eta {eta}")
            ax.axhline(book, ls=":", lw=1, color="C0" if cost == "cross_entropy" else "C1")
        ax.set_title(
            f"[{n_in}, {hidden}, 10], {train.X.shape[0]:,} images of {experiment.data_name}, "
            f"{epochs} epochs\n(dotted: the book's final figures)",
            fontsize=10,
        )
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    axes[0].set_ylabel("test accuracy (%)")
    if not experiment.quick:
        axes[0].set_ylim(max(85, min(ax.get_ylim()[0] for ax in axes)), 98.5)
    fig.tight_layout()
    experiment.figure("test_accuracy", fig, "Test accuracy per epoch, cross-entropy vs quadratic.")
