"""The learning rate: training cost per epoch for eta = 0.025, 0.25 and 2.5.

[784, 30, 10], default initialization, lambda 5.0, mini-batch 10, 30 epochs,
the full 50,000 training images; the training cost (with its L2 term) after
every epoch. Too small an eta descends slowly; a good one descends quickly
and then jitters near the bottom; too large a step overshoots the valley
and the cost oscillates from the start.
"""

from __future__ import annotations

import numpy as np

from .experiment_run import ExperimentRun

TITLE = "Learning rate: training cost for three values of eta"
BOOK = (
    "eta 0.025 decreases slowly; 0.25 decreases quickly, then (after about 20 epochs) only small, "
    "random-looking oscillations; 2.5 oscillates from the start"
)

RATES = (0.025, 0.25, 2.5)
LMBDA, EPOCHS = 5.0, 30
#: The epoch at which "decreases quickly" is judged.
EARLY = 5


def rises(cost) -> int:
    """How many epochs ended with a higher training cost than the one before."""
    return int(np.sum(np.diff(np.asarray(cost)) > 0))


def training_plan(experiment: ExperimentRun) -> list[tuple[str, int, int]]:
    """(configuration, epochs, examples) of each training run, every seed."""
    n = experiment.data().train.X.shape[0]
    return [(f"eta {eta}", experiment.pick(EPOCHS, 3), n) for eta in RATES] * len(experiment.seeds)


def run(experiment: ExperimentRun) -> None:
    splits = experiment.data()
    train = splits.train
    n_in = train.X.shape[1]
    epochs = experiment.pick(EPOCHS, 3)
    early = min(EARLY, epochs)  # the epoch at which "decreases quickly" is judged
    experiment.set_config(
        rates=RATES,
        l2=LMBDA,
        epochs=epochs,
        mini_batch_size=10,
        sizes=f"[{n_in}, 30, 10]",
        initializer="default",
    )
    # Every (seed, eta) is an independent training: they run at once.
    plan = [(seed, eta) for seed in experiment.seeds for eta in RATES]
    runs = experiment.train_many(
        {
            "label": f"eta {eta}",
            "sizes": [n_in, 30, 10],
            "X": train.X,
            "y": train.y,
            "seed": seed,
            "monitor": ["loss"],
            "epochs": epochs,
            "mini_batch_size": 10,
            "learning_rate": eta,
            "l2": LMBDA,
        }
        for seed, eta in plan
    )
    for (_, eta), r in zip(plan, runs, strict=True):
        cost = np.asarray(r.history["loss"])
        experiment.metric(
            f"eta {eta} final cost", cost[-1], label=f"eta {eta}: final training cost"
        )
        experiment.metric(
            f"eta {eta} rises", rises(cost), label=f"eta {eta}: epochs where the cost rose"
        )
        half = len(cost) // 2
        experiment.metric(f"eta {eta} rises first half", rises(cost[: half + 1]))
        experiment.metric(f"eta {eta} rises second half", rises(cost[half:]))
        experiment.metric(f"eta {eta} cost at epoch {early}", cost[early - 1])
        experiment.metric(
            f"eta {eta} jitter",
            float(np.mean(np.abs(np.diff(cost[half:])))),
            label=f"eta {eta}: mean |change| per epoch, second half",
        )

    slow_rises = experiment.value("eta 0.025 rises")
    slow_final = experiment.value("eta 0.025 final cost")
    good_final = experiment.value("eta 0.25 final cost")
    experiment.check(
        "eta 0.025: decreases slowly",
        ours=f"cost rose in {slow_rises:.0f} of {epochs - 1} epochs; final "
        f"{slow_final:.4f} vs {good_final:.4f} for eta 0.25",
        book="decreases slowly",
        passed=slow_rises <= 2 and slow_final > good_final,
        rule="cost falls in (nearly) every epoch yet ends above eta 0.25's",
    )
    fast = experiment.value(f"eta 0.25 cost at epoch {early}")
    slow_early = experiment.value(f"eta 0.025 cost at epoch {early}")
    rises_good = experiment.value("eta 0.25 rises")
    jitter, wild = experiment.value("eta 0.25 jitter"), experiment.value("eta 2.5 jitter")
    experiment.check(
        "eta 0.25: decreases, then jitters",
        ours=f"cost {fast:.4f} at epoch {early} (eta 0.025: {slow_early:.4f}); rose in "
        f"{rises_good:.0f} epochs, by {jitter:.4f} a step on average late on (eta 2.5: {wild:.4f})",
        book="decreases then jitters",
        passed=fast < slow_early and rises_good >= 2 and jitter < wild / 3,
        rule=f"below eta 0.025's cost at epoch {early}, then at least 2 rises, with late "
        "changes under a third of eta 2.5's",
    )
    big_first = experiment.value("eta 2.5 rises first half")
    big_final = experiment.value("eta 2.5 final cost")
    experiment.check(
        "eta 2.5: oscillates from the start",
        ours=f"cost rose in {big_first:.0f} of the first {epochs // 2} epoch(s); final "
        f"{big_final:.4f}",
        book="oscillates from the start",
        passed=big_first >= 3 and big_final > good_final,
        rule="3 or more rises in the first half and a final cost above eta 0.25's",
    )
    for eta in RATES:
        experiment.measured(
            f"eta {eta}: final training cost", f"eta {eta} final cost", book="figure only"
        )

    plt = experiment.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for i, eta in enumerate(RATES):
        experiment.plot_curves(ax, f"eta {eta}", "loss", label=f"eta = {eta}", color=f"C{i}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training cost (with the L2 term)")
    ax.set_title(
        f"[{n_in}, 30, 10] on {train.X.shape[0]:,} training images of {experiment.data_name}, "
        f"{epochs} epochs, lambda {LMBDA}, mini-batch 10",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    experiment.figure("training_cost", fig, "Training cost per epoch for the three learning rates.")
