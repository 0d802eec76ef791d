"""Early stopping and the plateau schedule against fixed training, on MNIST.

[784, 30, 10], sigmoid, cross-entropy, eta 0.5, lambda 5.0, mini-batch 10,
one seed for every run. Each run has the same budget of at most --epochs
epochs; the fixed 30-epoch figures are epoch 30 of the constant-eta run (the
same seed gives the same updates). Prints a Markdown table and writes the
numbers as JSON.

    python scripts/control_evidence.py [--epochs 100] [--seed 0] [--out control_evidence.json]
"""

from __future__ import annotations

import argparse
import time

from nndl import (
    EarlyStopping,
    GeneralizationLossStopping,
    Network,
    PlateauSchedule,
    ProgressQuotientStopping,
    Trainer,
)
from nndl._io import atomic_write_json
from nndl.data import load_mnist
from nndl.training import TrainConfig


def run(name, callbacks, data, args) -> dict:
    train, val, test = data
    net = Network([784, 30, 10], cost="cross_entropy", seed=args.seed)
    config = TrainConfig(
        epochs=args.epochs,
        mini_batch_size=10,
        learning_rate=0.5,
        l2=5.0,
        seed=args.seed,
        monitor=["val_accuracy", "val_loss"],
    )
    t0 = time.perf_counter()
    trainer = Trainer(net, config, callbacks=callbacks)
    history = trainer.fit(train.X, train.y, validation_data=(val.X, val.y))
    seconds = time.perf_counter() - t0
    best_epoch, best = history.best("val_accuracy")
    out = {
        "name": name,
        "epochs_run": len(history),
        "best_epoch": best_epoch,  # History counts epochs from 1
        "best_val_accuracy": best,
        "final_val_accuracy": net.accuracy(val.X, val.y),
        "test_accuracy": net.accuracy(test.X, test.y),
        "final_learning_rate": trainer.learning_rate,
        "seconds": seconds,
        "val_accuracy": history["val_accuracy"],
    }
    print(
        f"{name}: {out['epochs_run']} epochs, validation {100 * out['final_val_accuracy']:.2f}% "
        f"(best {100 * best:.2f}% in epoch {best_epoch}), {seconds:.0f} s",
        flush=True,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=100, help="budget of every run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="control_evidence.json")
    args = parser.parse_args()
    if args.epochs < 30:
        parser.error("--epochs must be at least 30: the fixed run is 30 epochs")
    data = load_mnist(progress=False)

    runs = [
        run("constant eta", [], data, args),
        run("no improvement in 10", [EarlyStopping("val_accuracy", 10)], data, args),
        run("Prechelt GL_5", [GeneralizationLossStopping(5.0)], data, args),
        run("Prechelt PQ_0.5", [ProgressQuotientStopping(0.5)], data, args),
        run("plateau schedule (10, /2, 1/1024)", [PlateauSchedule("val_accuracy", 10)], data, args),
    ]
    constant = runs[0]
    fixed = {
        "name": "fixed 30 epochs",
        "epochs_run": 30,
        "final_val_accuracy": constant["val_accuracy"][29],
        "best_val_accuracy": max(constant["val_accuracy"][:30]),
    }
    print()
    print("| run | epochs trained | validation accuracy at the end | best (epoch) |")
    print("|---|---|---|---|")
    for r in [fixed, *runs]:
        best = f"{100 * r['best_val_accuracy']:.2f}%"
        if "best_epoch" in r:
            best += f" ({r['best_epoch']})"
        print(
            f"| {r['name']} | {r['epochs_run']} | {100 * r['final_val_accuracy']:.2f}% | {best} |"
        )
    atomic_write_json(args.out, {"settings": vars(args), "fixed_30": fixed, "runs": runs})


if __name__ == "__main__":
    main()
