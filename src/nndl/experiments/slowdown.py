"""Learning slowdown: one sigmoid neuron taught to turn input 1 into output 0.

With the quadratic cost C = (a - y)^2 / 2 the gradient is
dC/dw = (a - y) sigma'(z) x: when the neuron starts badly wrong (z large,
output near 1) sigma'(z) is tiny and learning crawls. With the cross-entropy
C = -[y ln a + (1 - y) ln(1 - a)] the sigma' factor cancels, dC/dw = (a - y) x,
so the neuron learns fastest exactly when it is most wrong.

Four runs of 300 epochs (one example, so one gradient step per epoch):
quadratic with eta 0.15 and cross-entropy with eta 0.005, each from
(w, b) = (0.6, 0.9) (output 0.82) and from (2.0, 2.0) (output 0.98).
The runs are deterministic: seeds do not matter here.
"""

from __future__ import annotations

import math

import numpy as np

from ..callbacks import LambdaCallback
from .experiment_run import ExperimentRun

TITLE = "Learning slowdown of a single sigmoid neuron"
BOOK = (
    "quadratic from (2, 2) barely moves for about 150 epochs (outputs 0.82 -> 0.09 and "
    "0.98 -> 0.20 after 300 epochs); cross-entropy learns fastest when most wrong"
)

STARTS = {"(0.6, 0.9)": (0.6, 0.9), "(2.0, 2.0)": (2.0, 2.0)}
COSTS = {"quadratic": 0.15, "cross_entropy": 0.005}
EPOCHS = 300
#: Epochs over which the early speed of learning is measured.
EARLY = 10


def _train_one_neuron(
    experiment, cost: str, eta: float, start: tuple[float, float], label: str, epochs: int
):
    x = np.ones((1, 1))
    y = np.zeros(1)
    outputs: list[float] = []

    def record(trainer, epoch, logs):
        outputs.append(float(trainer.network.feedforward(x)[0, 0]))

    w, b = start
    params = [np.array([[w]]), np.array([b])]
    trained = experiment.train(
        label,
        [1, 1],
        x,
        y,
        seed=experiment.seeds[0],
        network={"cost": cost},
        init_params=params,
        monitor=["loss"],
        callbacks=[LambdaCallback(on_epoch_end=record)],
        epochs=epochs,
        mini_batch_size=1,
        learning_rate=eta,
        shuffle=False,
    )
    a0 = 1.0 / (1.0 + math.exp(-(w + b)))
    outputs = [a0, *outputs]
    experiment.attach(label, "output", outputs)
    # The cost before any step, so the curves start where the book's do.
    c0 = 0.5 * a0**2 if cost == "quadratic" else -math.log1p(-a0)
    costs = [c0, *trained.history["loss"]]
    experiment.attach(label, "cost", costs)
    return outputs, costs


def run(experiment: ExperimentRun) -> None:
    epochs = EPOCHS  # already a fraction of a second: quick runs keep the full length
    experiment.set_config(epochs=epochs, x=1.0, y=0.0, learning_rates=COSTS, starts=STARTS)
    experiment.uses_no_data_set("none: one sigmoid neuron, one synthetic example (x = 1, y = 0)")
    results = {}
    for cost, eta in COSTS.items():
        for name, start in STARTS.items():
            label = f"{cost} from {name}"
            outputs, costs = _train_one_neuron(experiment, cost, eta, start, label, epochs)
            results[cost, name] = (outputs, costs)
            experiment.metric(f"{label}: final output", outputs[-1])
            experiment.metric(
                f"{label}: cost drop in first {EARLY} epochs", costs[0] - costs[EARLY]
            )

    q_far = results["quadratic", "(2.0, 2.0)"]
    half = min(150, epochs)
    experiment.metric("quadratic from (2.0, 2.0): output at epoch 150", q_far[0][half])
    early_share = (q_far[1][0] - q_far[1][half]) / (q_far[1][0] - q_far[1][-1])
    experiment.metric(
        "quadratic from (2.0, 2.0): share of the cost drop in epochs 0-150", early_share
    )

    experiment.check_close(
        "quadratic from (0.6, 0.9): output after 300 epochs",
        "quadratic from (0.6, 0.9): final output",
        0.09,
        0.01,
    )
    experiment.check_close(
        "quadratic from (2.0, 2.0): output after 300 epochs",
        "quadratic from (2.0, 2.0): final output",
        0.20,
        0.01,
    )
    experiment.check(
        "quadratic from (2.0, 2.0) barely moves at first",
        ours=(
            f"output {q_far[0][half]:.3f} at epoch 150; {100 * early_share:.0f}% of the "
            f"300-epoch cost drop in the first 150"
        ),
        book="barely moves for ~150 epochs",
        passed=q_far[0][half] > 0.9 and early_share < 0.2,
        rule="output still above 0.9 at epoch 150 and under 20% of the drop by then",
    )
    for cost, book in (
        ("quadratic", "slower when more wrong"),
        ("cross_entropy", "fastest when most wrong"),
    ):
        far = results[cost, "(2.0, 2.0)"][1]
        near = results[cost, "(0.6, 0.9)"][1]
        d_far, d_near = far[0] - far[EARLY], near[0] - near[EARLY]
        faster = d_far > d_near
        experiment.check(
            f"{cost}: early learning, far vs near start",
            ours=f"cost drop in {EARLY} epochs {d_far:.4f} from (2, 2) vs {d_near:.4f}",
            book=book,
            passed=faster if cost == "cross_entropy" else not faster,
            rule=(
                f"the start that is more wrong loses {'more' if faster else 'less'} cost "
                f"in the first {EARLY} epochs"
            ),
        )
    _figures(experiment, results, epochs)


def _figures(experiment, results, epochs):
    plt = experiment.pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for row, (cost, eta) in enumerate(COSTS.items()):
        for col, name in enumerate(STARTS):
            outputs, costs = results[cost, name]
            ax = axes[row, col]
            ax.plot(np.arange(len(costs)), costs, color="C0" if row == 0 else "C1")
            ax.set_title(
                f"{cost.replace('_', '-')}, eta {eta}, from (w, b) = {name}\n"
                f"output {outputs[0]:.2f} -> {outputs[-1]:.2f}",
                fontsize=10,
            )
            ax.set_ylabel("cost")
            ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("epochs trained (0: the start)")
    fig.suptitle("Learning slowdown: one neuron, input 1, target 0")
    fig.tight_layout()
    experiment.figure("cost", fig, "Cost per epoch for the four runs (the book's four figures).")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (cost, name), (outputs, _) in results.items():
        style = "-" if cost == "quadratic" else "--"
        ax.plot(np.arange(len(outputs)), outputs, style, label=f"{cost} from {name}")
    ax.set_xlabel("epochs trained (0: the start)")
    ax.set_ylabel("output a")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Output of the neuron (target 0)")
    experiment.figure("output", fig, "The neuron's output per epoch in all four runs.")
