"""The chapter's other techniques, each against the plain network, same data and budget.

The chapter describes early stopping, a learning-rate schedule, momentum,
Nesterov's accelerated gradient, tanh and rectified-linear neurons and L1
regularization, but gives no figure for them. We measure each against the
plain network of the chapter on the same data, with the same budget of
epochs, over several seeds, so that a difference can be told from noise.

Set-up: the first 10,000 training images (so that tuning and seeds stay
cheap), the 10,000 validation images for every decision (tuning, early
stopping, the schedule), the 10,000 test images touched once per run for the
result. Every contender is [784, 30, 10] with the cross-entropy cost,
default initialization, mini-batch 10, L2 lambda 1.0 (the chapter's 5.0
rescaled from 50,000 to 10,000 images) unless it is the L1 contender, and at
most 40 epochs.

A comparison is only fair when each contender has its own hyper-parameter
tuned, so each first picks its learning rate (L1: its lambda) from a small
grid by validation accuracy after 10 epochs, on the first seed.

Contenders:

- plain: SGD, sigmoid hidden neurons, constant eta;
- early stopping, no improvement in 10 epochs (validation accuracy), best
  weights restored; and Prechelt's GL_5 rule (stop when the validation cost
  is 5% above its minimum), the second rule the SPEC asks to compare;
- plateau schedule: halve eta after 5 epochs without improvement, stop at
  eta_0 / 1024 (patience 5 rather than the chapter's 10 to fit the budget);
- momentum and Nesterov with mu = 0.9;
- tanh and ReLU hidden neurons;
- L1 instead of L2.
"""

from __future__ import annotations

import numpy as np

from ..callbacks import EarlyStopping, GeneralizationLossStopping, PlateauSchedule
from .experiment_run import ExperimentRun

TITLE = "Early stopping, plateau schedule, momentum, Nesterov, tanh, ReLU, L1 vs plain"
BOOK = "the chapter gives no figures for these: we report what we measure, over several seeds"
DEFAULT_SEEDS = 3

N_TRAIN, HIDDEN, EPOCHS, TUNE_EPOCHS, LMBDA = 10_000, 30, 40, 10, 1.0

#: name -> (what is tuned, grid, fixed settings)
CONTENDERS = {
    "plain": ("learning_rate", (0.1, 0.5, 1.0), {}),
    "early stopping (10)": ("learning_rate", None, {"stopping": "no_improvement"}),
    "early stopping (GL 5)": ("learning_rate", None, {"stopping": "gl"}),
    "plateau schedule": ("learning_rate", None, {"schedule": "plateau"}),
    "momentum 0.9": ("learning_rate", (0.02, 0.05, 0.1), {"optimizer": "momentum"}),
    "Nesterov 0.9": ("learning_rate", (0.02, 0.05, 0.1), {"optimizer": "nesterov"}),
    "tanh": ("learning_rate", (0.05, 0.1, 0.5), {"hidden_activation": "tanh"}),
    "ReLU": ("learning_rate", (0.02, 0.05, 0.1), {"hidden_activation": "relu"}),
    "L1": ("l1", (0.3, 1.0, 3.0), {"l2": 0.0}),
}


def _callbacks(fixed: dict):
    if fixed.get("stopping") == "no_improvement":
        return [EarlyStopping("val_accuracy", patience=10, restore_best=True)]
    if fixed.get("stopping") == "gl":
        return [GeneralizationLossStopping(5.0, monitor="val_loss", restore_best=True)]
    if fixed.get("schedule") == "plateau":
        return [PlateauSchedule("val_accuracy", patience=5, factor=2.0, floor=1024.0)]
    return []


def _training(label, name, train, val, *, seed, epochs, value, tuned_param, plain_eta) -> dict:
    """One training of contender ``name`` for :meth:`ExperimentRun.train_many`."""
    _, _, fixed = CONTENDERS[name]
    settings = {
        "learning_rate": plain_eta,
        "l2": fixed.get("l2", LMBDA),
        "optimizer": fixed.get("optimizer", "sgd"),
    }
    if settings["optimizer"] != "sgd":
        settings["momentum"] = 0.9
    settings[tuned_param] = value
    monitor = ["val_accuracy"]
    if fixed.get("stopping") == "gl":
        monitor.append("val_loss")
    return {
        "label": label,
        "sizes": [train.X.shape[1], HIDDEN, 10],
        "X": train.X,
        "y": train.y,
        "seed": seed,
        "evaluation": (val.X, val.y),
        "monitor": monitor,
        "callbacks": _callbacks(fixed),
        "network": {"hidden_activation": fixed.get("hidden_activation", "sigmoid")},
        "epochs": epochs,
        "mini_batch_size": 10,
        "catch_divergence": True,
        **settings,
    }


def _tune(experiment, names, train, val, *, tune_epochs, plain_eta) -> dict[str, float]:
    """Train the grids of the contenders ``names`` at once, on the first seed; return
    each one's best value by validation accuracy (the first of the grid on a tie)."""
    plan = [(name, CONTENDERS[name][0], value) for name in names for value in CONTENDERS[name][1]]
    runs = experiment.train_many(
        _training(
            f"tuning {name} {param}={value}",
            name,
            train,
            val,
            seed=experiment.seeds[0],
            epochs=tune_epochs,
            value=value,
            tuned_param=param,
            plain_eta=plain_eta,
        )
        for name, param, value in plan
    )
    scores: dict[str, dict[float, float]] = {name: {} for name in names}
    for (name, _, value), r in zip(plan, runs, strict=True):
        acc = r.history.get("val_accuracy", [])
        scores[name][value] = -1.0 if r.diverged or not acc else acc[-1]
    return {name: max(s, key=s.get) for name, s in scores.items()}


def training_plan(experiment: ExperimentRun) -> list[tuple[str, int, int]]:
    """(configuration, epochs, examples) of each training run, every seed; runs that
    stop early take less."""
    n = min(experiment.data().train.X.shape[0], experiment.pick(N_TRAIN, 500))
    tune_epochs = experiment.pick(TUNE_EPOCHS, 1)
    tuning = [
        (f"{name}, tuning", tune_epochs, n)
        for name, (_, grid, _) in CONTENDERS.items()
        for _ in grid or ()
    ]
    runs = [(name, experiment.pick(EPOCHS, 3), n) for name in CONTENDERS]
    return tuning + runs * len(experiment.seeds)


def run(experiment: ExperimentRun) -> None:
    splits = experiment.data()
    train = splits.train.head(experiment.pick(N_TRAIN, 500))
    val, test = splits.validation, splits.test
    epochs = experiment.pick(EPOCHS, 3)
    tune_epochs = experiment.pick(TUNE_EPOCHS, 1)
    experiment.set_config(
        n_train=train.X.shape[0],
        hidden=HIDDEN,
        max_epochs=epochs,
        tune_epochs=tune_epochs,
        l2=LMBDA,
        contenders={k: {"tuned": t, "grid": g, **f} for k, (t, g, f) in CONTENDERS.items()},
        selection="validation data",
        result="test data",
    )

    # 1. Tune each contender's own parameter on the first seed (validation accuracy).
    # The trainings run in three batches, each trained at once, because some need an
    # earlier one's result: (a) the grids of the contenders that tune their own
    # learning rate, the plain network's among them (the eta given here is replaced by
    # the grid's); (b) the grids that tune something else (L1's lambda) with the eta
    # the plain network chose in (a); (c) every contender on every seed with its chosen
    # value. The contenders of (b) come last in CONTENDERS, so the runs are recorded in
    # the order in which they would train one after another.
    own_eta = [n for n, (p, g, _) in CONTENDERS.items() if g and p == "learning_rate"]
    on_plain_eta = [n for n, (p, g, _) in CONTENDERS.items() if g and p != "learning_rate"]
    tuned = _tune(experiment, own_eta, train, val, tune_epochs=tune_epochs, plain_eta=0.5)
    tuned |= _tune(
        experiment, on_plain_eta, train, val, tune_epochs=tune_epochs, plain_eta=tuned["plain"]
    )
    # The stopping rules and the schedule wrap the plain network's eta.
    chosen = {name: tuned.get(name, tuned["plain"]) for name in CONTENDERS}
    experiment.set_config(chosen=chosen)
    plain_eta = chosen["plain"]

    # 2. (c) Every contender on every seed, at once; the test set judges.
    plan = [(seed, name) for seed in experiment.seeds for name in CONTENDERS]
    runs = experiment.train_many(
        _training(
            name,
            name,
            train,
            val,
            seed=seed,
            epochs=epochs,
            value=chosen[name],
            tuned_param=CONTENDERS[name][0],
            plain_eta=plain_eta,
        )
        for seed, name in plan
    )
    for (_, name), r in zip(plan, runs, strict=True):
        acc = None if r.diverged else r.net.accuracy(test.X, test.y)
        experiment.metric(name, acc, unit="%", label=name)
        experiment.metric(f"{name} epochs", len(r.history.get("epoch", [])))

    for name, (param, _, _) in CONTENDERS.items():
        setting = f"{'eta' if param == 'learning_rate' else 'lambda_1'} {chosen[name]:g}"
        epochs_run = experiment.value(f"{name} epochs")
        # The wall time is in the runs' records, not among the metrics: the metrics are
        # the same whatever the number of jobs, a time is not.
        seconds = float(np.mean([r["seconds"] for r in experiment.runs[name]]))
        experiment.check(
            f"{name} ({setting})",
            ours=experiment.shown(name),
            book="no figure",
            passed=None,
            rule=f"measured: test accuracy after {epochs_run:.3g} epochs on average, "
            f"{seconds:.1f} s per run",
        )
        if name != "plain":
            experiment.compare(f"{name} vs plain", name, "plain")
    experiment.compare(
        "early stopping: GL 5 vs no-improvement-in-10",
        "early stopping (GL 5)",
        "early stopping (10)",
    )

    _figures(experiment)


def _figures(experiment) -> None:
    plt = experiment.pyplot()
    names = list(CONTENDERS)
    means = [100 * experiment.value(n) for n in names]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    ax = axes[0]
    for i, n in enumerate(names):
        vals = [100 * v for v in experiment.metrics[n]["values"] if v is not None]
        ax.scatter([i] * len(vals), vals, s=14, color="grey", zorder=3)
    ax.bar(range(len(names)), means, color=[f"C{i % 10}" for i in range(len(names))], alpha=0.7)
    finite = [m for m in means if np.isfinite(m)]
    if finite and not experiment.quick:
        ax.set_ylim(min(finite) - 1.5, max(finite) + 0.8)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Mean over seeds (dots: each seed)", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax = axes[1]
    for i, n in enumerate(names):
        experiment.plot_curves(ax, n, "val_accuracy", scale=100, label=n, color=f"C{i % 10}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(
        f"Validation accuracy per epoch, {experiment.config['n_train']:,} training images of "
        f"{experiment.data_name}",
        fontsize=10,
    )
    fig.tight_layout()
    experiment.figure(
        "comparison", fig, "Each technique against the plain network, same data and budget."
    )
