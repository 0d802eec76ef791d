"""Divergence is stopped at its first epoch and named as the console counts epochs;
a run stuck at chance accuracy, or a weight decay that makes the weights grow, is
said on stderr.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from nndl import DivergenceError, Network, Trainer
from nndl.training import weight_decay_growth

DIGITS = ["--dataset", "digits", "--hidden", "30", "--seed", "1", "--no-plot", "--no-test"]
STUCK = "has stayed at chance level"


def run(tmp_path, *args):
    """``nndl train`` with stdout and stderr in one stream, in the order written."""
    return subprocess.run(
        [sys.executable, "-m", "nndl.cli", "train", *DIGITS, *args, "--out", tmp_path / "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("monitor", ["all", "val_accuracy"])
def test_the_first_infinite_cost_stops_the_run_in_the_epoch_the_console_names(tmp_path, monitor):
    # eta 1000, lambda 5, n 1079: each step multiplies the weights by -3.63, the
    # cost is 4.6e121 after epoch 1, 5.1e245 after epoch 2, infinite in epoch 3.
    proc = run(tmp_path, "--eta", "1000", "--epochs", "8", "--monitor", monitor)
    assert proc.returncode == 1, proc.stdout
    lines = proc.stdout.splitlines()
    epochs = [line for line in lines if line.startswith("Epoch ")]
    assert [e.split(":")[0] for e in epochs] == ["Epoch 1/8", "Epoch 2/8"]
    errors = [line for line in lines if line.startswith("nndl: error:")]
    assert len(errors) == 1 and "training diverged in epoch 3 " in errors[0]
    assert "1 - eta*lambda/n = 1 - 1000*5/1079 = -3.63" in errors[0]
    assert "RuntimeWarning" not in proc.stdout and "Traceback" not in proc.stdout
    # Said before training, as a warning: the decay factor leaves (-1, 1).
    warning = next(i for i, line in enumerate(lines) if line.startswith("nndl: warning:"))
    assert "-3.63 lies outside (-1, 1)" in lines[warning] and "smaller --eta" in lines[warning]
    assert warning < lines.index(epochs[0])
    assert not (tmp_path / "run").exists()


def test_a_run_that_overflows_at_once_names_the_first_epoch(tmp_path):
    proc = run(tmp_path, "--eta", "1e6", "--epochs", "3")
    assert proc.returncode == 1, proc.stdout
    assert "nndl: error: training diverged in epoch 1 " in proc.stdout
    assert "Epoch 1/3" not in proc.stdout


@pytest.mark.parametrize(
    ("eta", "advice"),
    [
        ("100", "learning rate 100 is probably too large; try a smaller --eta, such as 10"),
        ("0.001", "learning rate 0.001 is probably too small; try a larger --eta, such as 0.01"),
    ],
)
def test_accuracy_stuck_at_chance_is_said_once(tmp_path, eta, advice):
    proc = run(tmp_path, "--eta", eta, "--epochs", "5")
    assert proc.returncode == 0, proc.stdout
    stuck = [line for line in proc.stdout.splitlines() if STUCK in line]
    assert len(stuck) == 1, proc.stdout
    assert stuck[0].startswith("nndl: warning: the validation accuracy") and advice in stuck[0]
    # After the third epoch at chance, not before.
    lines = proc.stdout.splitlines()
    assert lines[lines.index(stuck[0]) - 1].startswith("Epoch 3/5")


def test_a_run_that_learns_gets_no_warning(tmp_path):
    proc = run(tmp_path, "--eta", "3", "--epochs", "3", "--quiet")
    assert proc.returncode == 0, proc.stdout
    assert "warning" not in proc.stdout


def test_the_warning_on_chance_accuracy_is_not_silenced_by_quiet(tmp_path):
    proc = run(tmp_path, "--eta", "100", "--epochs", "3", "--quiet")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count(STUCK) == 1


# ------------------------------------------------------------------ the library
@pytest.fixture(scope="module")
def digits():
    from nndl.data import load_dataset

    s = load_dataset("digits")
    return s.train.X, s.train.y


def test_the_library_stops_at_the_first_infinite_cost_without_numpy_warnings(digits):
    X, y = digits
    trainer = Trainer(Network([64, 30, 10], seed=1), epochs=8, learning_rate=1000, l2=5.0, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow warnings included
        with pytest.raises(DivergenceError, match=r"diverged in epoch 3 \(") as info:
            trainer.fit(X, y)
    assert "-3.63 lies outside (-1, 1)" in str(info.value)
    assert len(trainer.history) == 2  # the diverged epoch is not recorded


def test_an_infinite_monitored_cost_is_divergence(digits):
    X, y = digits
    # Finite weights, but outputs of about 1e170 on these inputs: their quadratic cost overflows.
    net = Network(
        [64, 30, 10], hidden_activation="relu", cost="quadratic", output_activation="linear", seed=0
    )
    trainer = Trainer(net, epochs=5, learning_rate=0.01, seed=0, monitor=["val_loss"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            DivergenceError, match=r"diverged in epoch 1 \(the validation cost is inf"
        ):
            trainer.fit(X, y, (X.astype(np.float64) * 1e170, y))
    assert all(np.isfinite(w).all() for w in net.weights)


@pytest.mark.parametrize(
    ("optimizer", "mu", "bound"),
    [("sgd", 0.0, 2.0), ("momentum", 0.9, 3.8), ("nesterov", 0.9, 3.8 / 2.8)],
)
def test_the_weight_decay_bound_is_where_the_penalty_step_stops_shrinking(optimizer, mu, bound):
    n, l2 = 1000, 10.0
    below, above = 0.99 * bound * n / l2, 1.01 * bound * n / l2
    assert weight_decay_growth(optimizer, mu, below, l2, n) is None
    assert "grow at every step" in weight_decay_growth(optimizer, mu, above, l2, n)
    assert weight_decay_growth(optimizer, mu, above, 0.0, n) is None  # no decay, no growth
    # The same bound from the update itself: the pure-penalty step's largest
    # eigenvalue crosses 1 there (w, v as the optimizers update them).
    for eta, grows in ((below, False), (above, True)):
        k = eta * l2 / n
        if optimizer == "nesterov":
            step = np.array([[1 - k, mu * (1 - k)], [-k, mu * (1 - k)]])
        else:
            step = np.array([[1 - k, mu], [-k, mu]])
        assert (max(abs(np.linalg.eigvals(step))) > 1) == grows
