"""Weight initialization: N(0, 1/n_in) against N(0, 1).

With 784 inputs and N(0, 1) weights, z = sum_j w_j x_j + b has a standard
deviation of several units, so many hidden neurons start saturated (sigma'
tiny) and learn slowly. Scaling the weights by 1/sqrt(n_in) keeps z of order
one. The chapter's runs: [784, 30, 10] and [784, 100, 10], eta 0.1, lambda
5.0, mini-batch 10, 30 epochs, validation accuracy after every epoch, with
the default (1/sqrt(n_in)) and the large (N(0, 1)) initialization.
"""

from __future__ import annotations

import itertools

from .experiment_run import ExperimentRun

TITLE = "Weight initialization: default vs large"
BOOK = (
    "[784, 30, 10]: after the first epoch about 93% (default) vs 87% (large); both end near "
    "96%; the better start speeds learning, it does not change the final result"
)

INITS = ("default", "large")
HIDDEN = (30, 100)
ETA, LMBDA, EPOCHS = 0.1, 5.0, 30


def training_plan(experiment: ExperimentRun) -> list[tuple[str, int, int]]:
    """(configuration, epochs, examples) of each training run, every seed."""
    n = experiment.data().train.X.shape[0]
    epochs = experiment.pick(EPOCHS, 2)
    return [(f"{hidden} hidden, {init}", epochs, n) for hidden in HIDDEN for init in INITS] * len(
        experiment.seeds
    )


def run(experiment: ExperimentRun) -> None:
    splits = experiment.data()
    train, val = splits.train, splits.validation
    n_in = train.X.shape[1]
    epochs = experiment.pick(EPOCHS, 2)
    experiment.set_config(
        learning_rate=ETA,
        l2=LMBDA,
        epochs=epochs,
        mini_batch_size=10,
        hidden=HIDDEN,
        evaluation="validation data",
    )
    # Every (seed, hidden, init) is an independent training: they run at once.
    plan = list(itertools.product(experiment.seeds, HIDDEN, INITS))
    runs = experiment.train_many(
        {
            "label": f"[{n_in}, {hidden}, 10] {init}",
            "sizes": [n_in, hidden, 10],
            "X": train.X,
            "y": train.y,
            "seed": seed,
            "evaluation": (val.X, val.y),
            "monitor": ["val_accuracy"],
            "network": {"initializer": init},
            "epochs": epochs,
            "mini_batch_size": 10,
            "learning_rate": ETA,
            "l2": LMBDA,
        }
        for seed, hidden, init in plan
    )
    for (_, hidden, init), r in zip(plan, runs, strict=True):
        acc = r.history["val_accuracy"]
        experiment.metric(
            f"{hidden} {init} epoch 1",
            acc[0],
            unit="%",
            label=f"{init}, {hidden} hidden, after epoch 1",
        )
        experiment.metric(
            f"{hidden} {init} final",
            acc[-1],
            unit="%",
            label=f"{init}, {hidden} hidden, final",
        )

    experiment.check_close("30 hidden, default: after epoch 1", "30 default epoch 1", 93.0, 2.0)
    experiment.check_close("30 hidden, large: after epoch 1", "30 large epoch 1", 87.0, 4.0)
    lead = experiment.value("30 default epoch 1") - experiment.value("30 large epoch 1")
    experiment.check(
        "30 hidden: default ahead after epoch 1",
        ours=f"{100 * lead:+.2f} points",
        book="+6 points (93 vs 87)",
        passed=lead > 0.02,
        rule="default leads large by more than 2 points after the first epoch",
    )
    experiment.check_close("30 hidden, default: final", "30 default final", 96.0, 1.0)
    experiment.check_close("30 hidden, large: final", "30 large final", 96.0, 1.0)
    experiment.measured("100 hidden, default: after epoch 1", "100 default epoch 1")
    experiment.measured("100 hidden, large: after epoch 1", "100 large epoch 1")
    experiment.measured("100 hidden, default: final", "100 default final", book="figure only")
    experiment.measured("100 hidden, large: final", "100 large final", book="figure only")
    for hidden in HIDDEN:
        experiment.compare(
            f"{hidden} hidden, after epoch 1: default vs large",
            f"{hidden} default epoch 1",
            f"{hidden} large epoch 1",
        )
        experiment.compare(
            f"{hidden} hidden, final: default vs large",
            f"{hidden} default final",
            f"{hidden} large final",
        )

    plt = experiment.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, hidden in zip(axes, HIDDEN, strict=True):
        for init in INITS:
            name = "N(0, 1/n_in) (default)" if init == "default" else "N(0, 1) (large)"
            experiment.plot_curves(
                ax, f"[{n_in}, {hidden}, 10] {init}", "val_accuracy", scale=100, label=name
            )
        ax.set_title(
            f"[{n_in}, {hidden}, 10], eta {ETA}, lambda {LMBDA}, {epochs} epochs\n"
            f"on {train.X.shape[0]:,} training images of {experiment.data_name}",
            fontsize=10,
        )
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    axes[0].set_ylabel("validation accuracy (%)")
    if not experiment.quick:
        axes[0].set_ylim(85, 98.5)
    fig.tight_layout()
    experiment.figure(
        "validation_accuracy",
        fig,
        "Validation accuracy per epoch, default vs large initialization.",
    )
