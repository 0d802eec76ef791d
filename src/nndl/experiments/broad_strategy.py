"""The broad strategy: from a network that learns nothing to one that learns.

The chapter's walk-through of choosing hyper-parameters from scratch:

1. [784, 30, 10] on all 50,000 images with eta 10 and lambda 1000: chance.
2. Get feedback faster: [784, 10] (no hidden layer) on the first 1,000
   training images, monitored on the first 100 validation images, same eta
   and lambda: still nothing.
3. Keep the weight decay per epoch comparable by rescaling lambda with the
   training-set size: lambda 1000 * 1,000 / 50,000 = 20. A signal appears.
4. eta 100: back to chance (the steps are far too large).
5. eta 1.0: clearly better.

Each step shows the weight-decay factor 1 - eta lambda / n applied to the
weights at every mini-batch: at step 2 it is 1 - 10 * 1000 / 1000 = -9, so
the weights grow nine-fold per mini-batch until they overflow; our trainer
stops such a run with a divergence error (the book's program carries on with
nan weights and reports chance). Either way: no signal.
"""

from __future__ import annotations

import numpy as np

from .experiment_run import ExperimentRun

TITLE = "Hyper-parameter broad strategy walk-through"
BOOK = (
    "eta 10, lambda 1000 on the full data: chance (~10%); [784, 10] on 1,000 images "
    "(100 validation images): chance, then lambda 20: a weak signal (12-25%), eta 100: "
    "chance, eta 1.0: learns (42-62%)"
)

#: step -> (hidden layer?, data size, eta, lambda, the book's observation)
STEPS = {
    "1. [784, 30, 10], all data, eta 10, lambda 1000": (True, None, 10.0, 1000.0, "~10% (chance)"),
    "2. [784, 10], 1,000 images, eta 10, lambda 1000": (False, 1000, 10.0, 1000.0, "10% (chance)"),
    "3. lambda rescaled to 20": (False, 1000, 10.0, 20.0, "12-25%: a signal"),
    "4. eta 100": (False, 1000, 100.0, 20.0, "10% (chance)"),
    "5. eta 1.0": (False, 1000, 1.0, 20.0, "42-62%: learns"),
}
N_VAL_SMALL = 100
EPOCHS = 30
#: Accuracy at or below this on 100 validation images counts as no signal:
#: always answering the most common digit of those 100 images scores up to ~14%.
CHANCE = 0.16


def _steps(experiment) -> dict:
    """STEPS labelled with the input size and the small set's size this run uses."""
    train = experiment.data().train
    n_in, small = train.X.shape[1], min(train.X.shape[0], experiment.pick(1000, 200))
    return {
        step.replace("[784,", f"[{n_in},").replace("1,000 images", f"{small:,} images"): value
        for step, value in STEPS.items()
    }


def training_plan(experiment: ExperimentRun) -> list[tuple[str, int, int]]:
    """(configuration, epochs, examples) of each training run, every seed."""
    n = experiment.data().train.X.shape[0]
    epochs = experiment.pick(EPOCHS, 3)
    return [
        (step, epochs, min(n, experiment.pick(size, 200)) if size else n)
        for step, (_, size, *_) in _steps(experiment).items()
    ] * len(experiment.seeds)


def run(experiment: ExperimentRun) -> None:
    splits = experiment.data()
    n_in = splits.train.X.shape[1]
    epochs = experiment.pick(EPOCHS, 3)
    experiment.set_config(
        epochs=epochs,
        mini_batch_size=10,
        steps=str(STEPS),
        small_validation=N_VAL_SMALL,
        initializer="default",
    )
    # Each step's settings are fixed in advance (the walk-through's choices,
    # not read off the step before), so every (seed, step) is an independent
    # training: they run at once.
    plan = []
    for seed in experiment.seeds:
        for step, (hidden, size, eta, lmbda, _) in _steps(experiment).items():
            train = splits.train.head(experiment.pick(size, 200) if size else None)
            val = splits.validation.head(N_VAL_SMALL if size else None)
            sizes = [n_in, 30, 10] if hidden else [n_in, 10]
            plan.append((seed, step, sizes, eta, lmbda, train, val))
    runs = experiment.train_many(
        {
            "label": step,
            "sizes": sizes,
            "X": train.X,
            "y": train.y,
            "seed": seed,
            "evaluation": (val.X, val.y),
            "monitor": ["val_accuracy"],
            "epochs": epochs,
            "mini_batch_size": 10,
            "learning_rate": eta,
            "l2": lmbda,
            "catch_divergence": True,
        }
        for seed, step, sizes, eta, lmbda, train, val in plan
    )
    rows = []
    for (seed, step, _, eta, lmbda, train, _), r in zip(plan, runs, strict=True):
        acc = r.history.get("val_accuracy", [])
        experiment.metric(f"{step}: mean", float(np.mean(acc)) if acc else None, unit="%")
        experiment.metric(f"{step}: best", max(acc) if acc else None, unit="%")
        experiment.metric(f"{step}: diverged", 1.0 if r.diverged else 0.0)
        if seed == experiment.seeds[0]:
            rows.append((step, acc, r.diverged, 1 - eta * lmbda / train.X.shape[0]))
    experiment.set_config(first_seed_accuracies={s: a for s, a, _, _ in rows})

    for step, (*_, book) in _steps(experiment).items():
        best = experiment.metrics[f"{step}: best"]["values"]
        diverged = experiment.value(f"{step}: diverged") > 0
        mean_txt = experiment.shown(f"{step}: mean") if any(v is not None for v in best) else "-"
        ours = f"mean {mean_txt} over the epochs"
        if diverged:
            ours += "; diverged (weights overflowed)"
        best_v = max((v for v in best if v is not None), default=0.0)
        mean_v = experiment.value(f"{step}: mean")
        if step.startswith(("1.", "2.", "4.")):
            passed = diverged or best_v <= (0.15 if step.startswith("1.") else CHANCE)
            rule = (
                "no signal: every epoch at chance (<= 15% on "
                f"{experiment.data().validation.X.shape[0]:,}, <= 16% on {N_VAL_SMALL} images) "
                "or diverged"
            )
        elif step.startswith("3."):
            passed = not diverged and mean_v > CHANCE
            rule = f"a signal: mean accuracy over the epochs above {100 * CHANCE:.0f}%"
        else:
            weak = experiment.value("3. lambda rescaled to 20: mean")
            passed = not diverged and mean_v > max(0.4, weak)
            rule = "learns: mean above 40% and above step 3's"
        experiment.check(step, ours=ours, book=book, passed=passed, rule=rule)

    plt = experiment.pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (step, acc, diverged, decay) in enumerate(rows):
        if acc:
            ax.plot(
                np.arange(1, len(acc) + 1),
                100 * np.asarray(acc),
                marker=".",
                color=f"C{i}",
                label=f"{step} (decay factor {decay:g})",
            )
        if diverged:
            ax.plot(
                [len(acc) + 1],
                [0],
                marker="x",
                ms=9,
                color=f"C{i}",
                ls="none",
                label=f"{step}: diverged in epoch {len(acc)}",
            )
    ax.axhline(10, ls=":", color="grey", lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_ylim(-3, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("From chance to a signal (first seed)", fontsize=10)
    fig.tight_layout()
    experiment.figure(
        "walkthrough", fig, "Validation accuracy per epoch at each step of the walk-through."
    )
