"""Stopped in the middle of an epoch and resumed == never stopped, bitwise, for every callback.

The callbacks are found by walking the ``nndl.callbacks`` package, so every
callback, and with it every use of the trainer's generator or of a
callback's own, is covered as soon as it exists: the test fails until a new
class is given a way to be built in ``BUILDERS``. Every run uses dropout
(masks drawn from the trainer's generator) and a shuffled order; the
augmentation callback draws its distortions from the same generator at the
start of each epoch, which a resumed epoch must not draw again.

The command line gets the same check with every option that shapes a run.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import pkgutil

import numpy as np
import pytest
from click.testing import CliRunner

import nndl.callbacks
from nndl import Network, Trainer, load
from nndl.callbacks import (
    AugmentCallback,
    BatchMonitor,
    Callback,
    Checkpoint,
    Diagnostics,
    EarlyStopping,
    GeneralizationLossStopping,
    History,
    ImprovementMonitor,
    JobProgress,
    LambdaCallback,
    PlateauSchedule,
    ProgressBar,
    ProgressQuotientStopping,
    ScheduleCallback,
)
from nndl.callbacks.base import BestEpochMonitor
from nndl.cli import cli as cli_main
from nndl.cli.train import CALLBACK_FACTORIES
from nndl.training import TrainingInterrupted

RUN = {
    "epochs": 4,
    "mini_batch_size": 10,
    "learning_rate": 0.3,
    "optimizer": "momentum",
    "momentum": 0.5,
    "l2": 1.0,
    "seed": 7,
    "monitor": ["loss", "accuracy", "val_loss", "val_accuracy"],
}
BATCHES = 12  # 120 training examples in mini-batches of 10


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.random((120, 64))  # 8x8 images, so that the augmentation applies
    y = (X[:, :32].sum(axis=1) > X[:, 32:].sum(axis=1)).astype(int) + (X[:, 0] > 0.7)
    Xv = rng.random((40, 64))
    yv = (Xv[:, :32].sum(axis=1) > Xv[:, 32:].sum(axis=1)).astype(int) + (Xv[:, 0] > 0.7)
    return (X, y), (Xv, yv)


def callback_classes() -> dict[str, type]:
    """Every Callback subclass defined in a module of the nndl.callbacks package."""
    found = {}
    for info in pkgutil.walk_packages(nndl.callbacks.__path__, "nndl.callbacks."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, Callback) and obj.__module__ == info.name:
                found[obj.__name__] = obj
    return found


def tensorboard(logdir):
    pytest.importorskip("tensorboardX")  # an optional dependency
    return callback_classes()["TensorBoard"](logdir, sample=20, seed=1)


#: For each callback class, functions (folder) -> a configured instance; several
#: when its behaviour has branches (the augmentation of all or part of the data).
BUILDERS = {
    "Callback": [lambda d: Callback()],
    "History": [lambda d: History()],
    "LambdaCallback": [
        lambda d: LambdaCallback(on_epoch_end=lambda trainer, epoch, logs: None),
    ],
    "ImprovementMonitor": [lambda d: ImprovementMonitor("val_loss")],
    "BestEpochMonitor": [
        lambda d: BestEpochMonitor("val_loss", mode="min", min_delta=0.0, restore_best=True)
    ],
    "EarlyStopping": [lambda d: EarlyStopping("val_loss", patience=2)],
    "GeneralizationLossStopping": [lambda d: GeneralizationLossStopping(1.0)],
    "ProgressQuotientStopping": [lambda d: ProgressQuotientStopping(0.1, strip=2)],
    "PlateauSchedule": [lambda d: PlateauSchedule("val_accuracy", patience=1, floor=1e6)],
    "ScheduleCallback": [lambda d: ScheduleCallback("exp:0.8")],
    "ProgressBar": [
        lambda d: ProgressBar("bar", file=io.StringIO(), mininterval=0, running_cost=30),
        lambda d: ProgressBar("lines", file=io.StringIO()),
    ],
    "Diagnostics": [lambda d: Diagnostics(sample=25, seed=4)],
    "JobProgress": [lambda d: JobProgress()],
    "BatchMonitor": [lambda d: BatchMonitor(every=5, train_subset=30, val_subset=20, seed=2)],
    "Checkpoint": [lambda d: Checkpoint(d / "every-{epoch}.npz", every=2)],
    "TensorBoard": [lambda d: tensorboard(d / "tb")],
    "AugmentCallback": [
        lambda d: AugmentCallback("shift,rotate:15"),
        lambda d: AugmentCallback("elastic:8:3", fraction=0.5),
    ],
}

CASES = [(name, i) for name, builders in BUILDERS.items() for i in range(len(builders))]


def test_every_callback_class_has_a_builder():
    found = callback_classes()
    assert "AugmentCallback" in found and "Checkpoint" in found  # the walk sees the package
    missing = sorted(set(found) - set(BUILDERS))
    assert not missing, f"add these callbacks to BUILDERS: {missing}"


class StopAfter(Callback):
    """Asks the trainer to stop cleanly after mini-batch ``batch`` of ``epoch``."""

    def __init__(self, epoch: int, batch: int):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, trainer, batch):
        if (trainer.epoch, batch) == (self.epoch, self.batch):
            trainer.request_interrupt()


def same(a, b, where="") -> None:
    """Bitwise equality of nested states (dicts, lists, arrays, numbers)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def without_time(history) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in history.records]


def assert_same_run(straight, resumed, straight_cb, resumed_cb) -> None:
    for p, q in zip(straight.network.get_params(), resumed.network.get_params(), strict=True):
        np.testing.assert_array_equal(p, q)  # bitwise
    assert without_time(straight.history) == without_time(resumed.history)
    assert straight.learning_rate == resumed.learning_rate
    assert straight.rng.bit_generator.state == resumed.rng.bit_generator.state
    same(straight_cb.state_dict(), resumed_cb.state_dict(), type(straight_cb).__name__)


def network() -> Network:
    return Network([64, 16, 3], dropout=0.3, seed=1)


@pytest.mark.parametrize("stop", [(0, 0), (1, 4), (2, BATCHES - 1)], ids=lambda s: f"{s[0]}.{s[1]}")
@pytest.mark.parametrize(("name", "i"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_stopped_mid_epoch_and_resumed_equals_the_straight_run(data, tmp_path, name, i, stop):
    (X, y), val = data
    build = BUILDERS[name][i]
    (tmp_path / "straight").mkdir()
    (tmp_path / "stopped").mkdir()

    cb = build(tmp_path / "straight")
    straight = Trainer(network(), callbacks=[cb], **RUN)
    straight.fit(X, y, val)
    assert len(straight.history) == RUN["epochs"] or straight.stop_training

    path = tmp_path / "stopped" / "run.npz"
    stopped = Trainer(
        network(),
        callbacks=[build(tmp_path / "stopped"), StopAfter(*stop), Checkpoint(path)],
        **RUN,
    )
    with pytest.raises(TrainingInterrupted):
        stopped.fit(X, y, val)

    resumed_cb = build(tmp_path / "stopped")
    resumed = Trainer.resume(path, X, y, val, callbacks=[resumed_cb, Checkpoint(path)])
    assert_same_run(straight, resumed, cb, resumed_cb)


def test_a_crash_mid_epoch_resumes_from_the_epoch_end_checkpoint_exactly(data, tmp_path):
    """Not stopped cleanly: the epoch under way is trained again, from its start."""
    (X, y), val = data

    class Crash(StopAfter):
        def on_batch_end(self, trainer, batch):
            if (trainer.epoch, batch) == (self.epoch, self.batch):
                raise RuntimeError("simulated crash")

    straight = Trainer(network(), callbacks=[AugmentCallback("shift,rotate:15")], **RUN)
    straight.fit(X, y, val)
    path = tmp_path / "run.npz"
    crashed = Trainer(
        network(),
        callbacks=[AugmentCallback("shift,rotate:15"), Crash(2, 5), Checkpoint(path)],
        **RUN,
    )
    with pytest.raises(RuntimeError, match="simulated"):
        crashed.fit(X, y, val)
    cb = AugmentCallback("shift,rotate:15")
    resumed = Trainer.resume(path, X, y, val, callbacks=[cb])
    assert_same_run(straight, resumed, straight.callbacks[1], cb)


def test_augmentation_is_part_of_the_run_a_checkpoint_belongs_to(data, tmp_path):
    (X, y), val = data
    path = tmp_path / "run.npz"
    stopped = Trainer(
        network(),
        callbacks=[AugmentCallback("shift"), StopAfter(1, 3), Checkpoint(path)],
        **RUN,
    )
    with pytest.raises(TrainingInterrupted):
        stopped.fit(X, y, val)
    with pytest.raises(ValueError, match=r"recipe: 'shift:1' -> 'rotate:10'"):
        Trainer.resume(path, X, y, val, callbacks=[AugmentCallback("rotate:10")])
    with pytest.raises(ValueError, match="AugmentCallback"):
        Trainer.resume(path, X, y, val)


# ------------------------------------------------------------ the command line
#: Every option of ``nndl train`` that shapes a run (the rest name files or
#: what is printed); dropout and augmentation draw from the trainer's generator.
EVERY_OPTION = [
    "--dataset", "digits", "--train-size", "300", "--validation-size", "100",
    "--hidden", "20", "--dropout", "0.2", "--epochs", "4", "--mini-batch-size", "10",
    "--eta", "0.3", "--lmbda", "2", "--l1", "0.5", "--optimizer", "nesterov", "--mu", "0.5",
    "--seed", "11", "--monitor", "all", "--augment", "shift,rotate:10",
    "--augment-fraction", "0.7", "--schedule", "exp:0.9", "--early-stopping", "3",
    "--no-restore-best", "--monitor-every", "7", "--monitor-subset", "50", "--diagnostics",
    "--no-test", "--no-plot", "--quiet",
]  # fmt: skip


def test_every_option_resumes_exactly_from_the_middle_of_an_epoch(tmp_path, monkeypatch):
    runner = CliRunner()
    straight = tmp_path / "straight"
    result = runner.invoke(cli_main, ["train", *EVERY_OPTION, "--out", str(straight)])
    assert result.exit_code == 0, result.output

    # Stop after mini-batch 12 of the second epoch, as Ctrl-C would.
    stopped = tmp_path / "stopped"
    with monkeypatch.context() as m:
        m.setattr("nndl.cli.train.CALLBACK_FACTORIES", [*CALLBACK_FACTORIES, _stop_factory])
        result = runner.invoke(cli_main, ["train", *EVERY_OPTION, "--out", str(stopped)])
    assert result.exit_code == 130, result.output
    assert json.loads((stopped / "results.json").read_text())["stopped"] == {
        "epoch": 2,
        "after_batch": 12,
    }
    result = runner.invoke(
        cli_main, ["train", "--resume", str(stopped / "checkpoint.npz"), "--no-plot", "-q"]
    )
    assert result.exit_code == 0, result.output
    a, b = load(straight / "model.json"), load(stopped / "model.json")
    for p, q in zip([*a.weights, *a.biases], [*b.weights, *b.biases], strict=True):
        np.testing.assert_array_equal(p, q)
    ha = json.loads((straight / "history.json").read_text())
    hb = json.loads((stopped / "history.json").read_text())
    assert ha.keys() == hb.keys()
    for key in ha.keys() - {"time"}:
        assert ha[key] == hb[key], key


def _stop_factory(run):
    return [StopAfter(1, 11)]
