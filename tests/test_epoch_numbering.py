"""One epoch count everywhere: epoch 1 is the first, as the console says.

The console, history.csv, history.json, results.json, batches.csv, the
figures of ``nndl train`` and every experiment's figures count the same way.
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure

from nndl.callbacks import EarlyStopping, History, PlateauSchedule
from nndl.cli import cli as cli_main
from nndl.cli.train import plot_curves
from nndl.diagnostics import plot_diagnostics
from nndl.experiments import ExperimentRun, ExperimentSettings, run_experiment


@pytest.fixture
def saved_figures(monkeypatch):
    """Every matplotlib Figure saved while the test runs, in order."""
    figures = []
    save = Figure.savefig

    def keep(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def _line_x(fig) -> list[np.ndarray]:
    return [np.asarray(line.get_xdata(), float) for ax in fig.axes for line in ax.get_lines()]


def _integer_ticks(ax) -> bool:
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    return bool(ticks) and all(float(t).is_integer() for t in ticks)


def test_train_counts_epochs_from_one_in_every_output(tmp_path, saved_figures):
    out = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--epochs", "3", "--diagnostics"]
    args += ["--monitor-every", "20", "--seed", "0", "--out", str(out)]
    result = CliRunner().invoke(cli_main, args)
    assert result.exit_code == 0, result.output

    # The console: Epoch 1/3 .. 3/3, and the best epoch named as results.json does.
    console = result.output
    assert re.findall(r"Epoch (\d+)/3", console) == ["1", "2", "3"]
    best_console = int(re.search(r"best [\d.]+% in epoch (\d+)", console).group(1))

    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2, 3]
    with open(out / "history.csv", newline="") as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1, 2, 3]
    results = json.loads((out / "results.json").read_text())
    best = results["best_validation_accuracy"]
    acc = history["val_accuracy"]
    assert best["epoch"] == best_console == int(np.argmax(acc)) + 1
    assert best["value"] == max(acc)
    with open(out / "batches.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {int(r["epoch"]) for r in rows} == {1, 2, 3}
    assert min(int(r["batch"]) for r in rows) >= 1

    # The figures, drawn from the run's own history.
    records = [
        dict(zip(history, values, strict=True)) for values in zip(*history.values(), strict=True)
    ]
    h = History()
    h.records = records
    saved_figures.clear()
    assert plot_curves(tmp_path, h, "t") is not None
    assert plot_diagnostics(h, tmp_path / "d.png") is not None
    curves, diagnostics = saved_figures
    for fig in (curves, diagnostics):
        for x in _line_x(fig):
            assert list(x) == [1, 2, 3]
        assert all(_integer_ticks(ax) for ax in fig.axes if ax.get_lines())


def test_history_best_and_stopping_rules_count_from_one():
    h = History()
    h.records = [{"epoch": e, "val_accuracy": a} for e, a in [(1, 0.5), (2, 0.9), (3, 0.7)]]
    assert h.best("val_accuracy") == (2, 0.9)
    # A checkpoint state from before epochs counted from 1 is read as it meant.
    es = EarlyStopping(patience=2)
    old = {"best": 0.9, "best_epoch": 1, "best_params": None, "stopped_epoch": 3, "wait": 2}
    es.load_state_dict(old)
    assert (es.best_epoch, es.stopped_epoch) == (2, 4)
    es.load_state_dict(es.state_dict())
    assert (es.best_epoch, es.stopped_epoch) == (2, 4)
    plateau = PlateauSchedule()
    old = {"best": 0.9, "wait": 0, "initial": 1.0, "reductions": [[2, 0.5]], "stopped_epoch": 2}
    plateau.load_state_dict(old)
    assert (plateau.reductions, plateau.stopped_epoch) == ([[3, 0.5]], 3)
    plateau.load_state_dict(plateau.state_dict())
    assert (plateau.reductions, plateau.stopped_epoch) == ([[3, 0.5]], 3)


# Experiments whose figures plot something per epoch (x from 1); slowdown
# plots the start (0 epochs trained) and says so on its axis.
PER_EPOCH = ["overfitting", "weight_init", "learning_rate", "cross_entropy"]


@pytest.mark.parametrize("name", PER_EPOCH)
def test_experiment_figures_count_epochs_from_one(name, tmp_path, monkeypatch):
    figures = []
    save = ExperimentRun.figure

    def keep(self, fig_name, fig, caption=""):
        figures.append(fig)
        return save(self, fig_name, fig, caption)

    monkeypatch.setattr(ExperimentRun, "figure", keep)
    settings = ExperimentSettings(quick=True, data="digits", seeds=1, out=tmp_path, verbose=False)
    run_experiment(name, settings)
    epoch_axes = [ax for fig in figures for ax in fig.axes if ax.get_xlabel() == "epoch"]
    # Curves in data coordinates (not reference lines such as axhline).
    xs = [
        np.asarray(line.get_xdata(), float)
        for ax in epoch_axes
        for line in ax.get_lines()
        if line.get_transform() == ax.transData
    ]
    assert xs
    for x in xs:
        assert x.min() >= 1 and float(x[0]).is_integer(), (name, x)
    assert any(x[0] == 1 for x in xs)  # the first epoch is drawn at x = 1


def _counted_from_zero(state: dict) -> dict:
    """A checkpoint state as nndl wrote it when epochs counted from 0."""
    for r in state["history"]:
        r["epoch"] -= 1
    for entry in state["callbacks"]:
        s = entry["state"]
        if s.pop("counted_from", None) is None:
            continue
        for key in ("best_epoch", "stopped_epoch"):
            if s.get(key) is not None:
                s[key] -= 1
        for r in s.get("records", []):
            r["epoch"] -= 1
            r["batch"] -= 1
    return state


def test_checkpoints_written_when_epochs_counted_from_zero_still_resume(tmp_path):
    from nndl import Network, Trainer
    from nndl.callbacks import BatchMonitor, Checkpoint
    from nndl.checkpoint import read_checkpoint, write_checkpoint

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)), rng.integers(0, 3, 60)
    val = (rng.normal(size=(20, 5)), rng.integers(0, 3, 20))

    def trainer(path, epochs):
        cbs = [EarlyStopping("val_loss", patience=50), BatchMonitor(every=3, val_subset=10)]
        net = Network([5, 7, 3], seed=1)
        return Trainer(net, callbacks=[*cbs, Checkpoint(path)], epochs=epochs, seed=2), cbs

    path = tmp_path / "c.npz"
    first, (es, mon) = trainer(path, 2)
    first.fit(X, y, val)
    assert first.history["epoch"] == [1, 2] and es.best_epoch in (1, 2)
    assert {r["epoch"] for r in mon.records} == {1, 2}
    write_checkpoint(path, _counted_from_zero(read_checkpoint(path)))

    resumed, (es2, mon2) = trainer(tmp_path / "d.npz", 3)
    resumed.fit(X, y, val, resume_from=path, epochs=0)  # load only
    assert resumed.history.records == first.history.records
    assert (es2.best_epoch, es2.stopped_epoch) == (es.best_epoch, es.stopped_epoch)
    assert mon2.records == mon.records
    resumed.fit(X, y, val, epochs=1)  # a second fit continues
    assert resumed.history["epoch"] == [1, 2, 3]
    assert {r["epoch"] for r in mon2.records} == {1, 2, 3}
