"""TensorBoard logging: the event files are read back (without TensorFlow or
TensorBoard: the TFRecord framing by hand, the records with tensorboardX's
protobufs) and their scalars, histograms and hparams summaries checked.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboardX")

from tensorboardX.proto import event_pb2
from tensorboardX.proto.api_pb2 import Status
from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
from tensorboardX.record_writer import masked_crc32c

from nndl import EarlyStopping, Network, TensorBoard, Trainer
from nndl.callbacks import Checkpoint, Diagnostics, LambdaCallback, control_callbacks
from nndl.diagnostics import diagnose, gradient_norms
from nndl.experiments import ExperimentRun, ExperimentSettings
from test_cli import FAST, nndl

MONITOR = ["loss", "accuracy", "val_loss", "val_accuracy"]
TAGS = {
    "loss": "cost/training",
    "accuracy": "accuracy/training",
    "val_loss": "cost/validation",
    "val_accuracy": "accuracy/validation",
}


# ----------------------------------------------------------- reading back
def read_records(path: Path) -> list[bytes]:
    """The records of one TFRecord file, their length and data checksums verified."""
    data = path.read_bytes()
    records, pos = [], 0
    while pos < len(data):
        header = data[pos : pos + 8]
        (n,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        assert crc == masked_crc32c(header), f"bad length checksum in {path}"
        body = data[pos + 12 : pos + 12 + n]
        (crc,) = struct.unpack("<I", data[pos + 12 + n : pos + 16 + n])
        assert crc == masked_crc32c(body), f"bad data checksum in {path}"
        records.append(body)
        pos += 16 + n
    assert pos == len(data)
    return records


def read_events(folder: Path, file_index: int | None = None) -> list:
    """Every Event of a run folder, its files in the order TensorBoard reads them."""
    files = sorted(folder.glob("events.out.tfevents.*"))
    assert files, f"no event files in {folder}"
    if file_index is not None:
        files = [files[file_index]]
    events = []
    for f in files:
        for record in read_records(f):
            e = event_pb2.Event()
            e.ParseFromString(record)
            events.append(e)
    return events


def summary_values(events) -> list[tuple[int, object]]:
    return [(e.step, v) for e in events if e.HasField("summary") for v in e.summary.value]


def scalars(events) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list] = {}
    for step, v in summary_values(events):
        if v.WhichOneof("value") == "simple_value":
            out.setdefault(v.tag, []).append((step, v.simple_value))
    return out


def histograms(events) -> dict[str, dict[int, object]]:
    out: dict[str, dict] = {}
    for step, v in summary_values(events):
        if v.WhichOneof("value") == "histo":
            assert step not in out.get(v.tag, {}), f"two {v.tag} histograms at step {step}"
            out.setdefault(v.tag, {})[step] = v.histo
    return out


def hparams_messages(events) -> list[tuple[int, str, HParamsPluginData]]:
    out = []
    for step, v in summary_values(events):
        if v.metadata.plugin_data.plugin_name == "hparams":
            data = HParamsPluginData()
            data.ParseFromString(v.metadata.plugin_data.content)
            out.append((step, v.tag, data))
    return out


def session_start(events) -> dict:
    starts = [d for _, tag, d in hparams_messages(events) if tag.endswith("session_start_info")]
    assert starts
    values = {}
    for name, value in starts[-1].session_start_info.hparams.items():
        values[name] = getattr(value, value.WhichOneof("kind"))
    return values


def session_end_status(events) -> str:
    ends = [d for _, tag, d in hparams_messages(events) if tag.endswith("session_end_info")]
    assert len(ends) == 1
    return Status.Name(ends[0].session_end_info.status)


# ------------------------------------------------------------------ data
@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    return (X[:500] / 16.0, y[:500]), (X[500:800] / 16.0, y[500:800])


def _train(digits, logdir, *, epochs=3, callbacks=(), **kwargs):
    (X, y), val = digits
    net = Network([64, 12, 10], seed=0)
    tb = TensorBoard(logdir, hparams={"data.dataset": "digits"}, sample=200, **kwargs)
    trainer = Trainer(
        net,
        callbacks=[tb, *callbacks],
        epochs=epochs,
        learning_rate=0.5,
        l2=1.0,
        mini_batch_size=10,
        monitor=MONITOR,
        seed=1,
    )
    trainer.fit(X, y, val)
    return trainer, tb


# ----------------------------------------------------------------- tests
def test_epoch_scalars_histograms_and_hparams_are_written(digits, tmp_path):
    trainer, tb = _train(digits, tmp_path / "run")
    events = read_events(tmp_path / "run")
    s = scalars(events)
    history = trainer.history

    # Per-epoch costs and accuracies: steps are epochs counted from 1.
    for key, tag in TAGS.items():
        steps = [step for step, _ in s[tag]]
        assert steps == [1, 2, 3]
        np.testing.assert_allclose([v for _, v in s[tag]], history[key], rtol=1e-6)
    # The learning rate, also at step 0 (the network before training).
    assert s["learning_rate"] == [(0, 0.5), (1, 0.5), (2, 0.5), (3, 0.5)]
    assert [step for step, _ in s["epoch_seconds"]] == [1, 2, 3]
    # Every tag once per step.
    for tag, points in s.items():
        steps = [step for step, _ in points]
        assert len(steps) == len(set(steps)), tag

    # The saturation diagnostics, on the callback's fixed sample of 200.
    net = trainer.network
    X, Y = tb._sample_xy
    assert X.shape[0] == 200
    final = diagnose(net, X, threshold=4.0)
    grads = gradient_norms(net, X, Y.argmax(axis=1), l2=1.0, n=500)
    for layer in (1, 2):
        for key, tag in [
            ("sat", "saturation"),
            ("mean_prime", "mean_prime"),
            ("w_norm", "weight_norm"),
        ]:
            points = s[f"{tag}/layer_{layer}"]
            assert [step for step, _ in points] == [0, 1, 2, 3]
            assert points[-1][1] == pytest.approx(final[f"{key}_{layer}"], rel=1e-6)
        points = s[f"gradient_norm/layer_{layer}"]
        assert [step for step, _ in points] == [0, 1, 2, 3]
        assert points[-1][1] == pytest.approx(grads[layer - 1], rel=1e-6)

    # Histograms per layer and step; the last ones are the final parameters.
    h = histograms(events)
    assert set(h) == {
        f"{kind}/layer_{l}" for kind in ("weights", "biases", "gradients") for l in (1, 2)
    }
    for l, (w, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
        for tag, values in ((f"weights/layer_{l}", w), (f"biases/layer_{l}", b)):
            assert sorted(h[tag]) == [0, 1, 2, 3]
            last = h[tag][3]
            assert last.num == values.size
            assert last.min == pytest.approx(values.min())
            assert last.max == pytest.approx(values.max())
            assert last.sum == pytest.approx(values.sum(), rel=1e-9, abs=1e-9)
            assert sum(last.bucket) == values.size
        grad = h[f"gradients/layer_{l}"][3]
        assert grad.num == net.weights[l - 1].size
        assert np.sqrt(grad.sum_squares) == pytest.approx(grads[l - 1], rel=1e-9)

    # HParams: the run's settings at the start, the final metrics and a success at the end.
    hp = session_start(events)
    assert hp["training.learning_rate"] == 0.5
    assert hp["training.l2"] == 1.0
    assert hp["training.epochs"] == 3
    assert hp["training.optimizer"] == "sgd"
    assert hp["training.shuffle"] is True
    assert hp["network.sizes"] == "64,12,10"
    assert hp["network.cost"] == "cross_entropy"
    assert hp["data.n_train"] == 500
    assert hp["data.n_validation"] == 300
    assert hp["data.dataset"] == "digits"
    assert session_end_status(events) == "STATUS_SUCCESS"
    (Xv, yv) = digits[1]
    assert s["final/validation_accuracy"] == [(3, pytest.approx(net.accuracy(Xv, yv)))]
    assert s["final/training_accuracy"] == [(3, pytest.approx(history["accuracy"][-1]))]
    assert s["final/epochs"] == [(3, 3.0)]
    steps = [step for step, tag, _ in hparams_messages(events)]
    assert steps == [0, 3]  # session start before training, end after the last epoch


def test_diagnostics_in_the_logs_are_written_once_and_options_turn_parts_off(digits, tmp_path):
    diag = Diagnostics(sample=100)
    trainer, _ = _train(
        digits, tmp_path / "run", epochs=2, callbacks=[diag], histograms=False, diagnostics=False
    )
    events = read_events(tmp_path / "run")
    s = scalars(events)
    # The Diagnostics callback's figures (its own sample) are the ones written.
    assert [v for _, v in s["saturation/layer_2"]] == pytest.approx(trainer.history["sat_2"])
    assert [step for step, _ in s["gradient_norm/layer_1"]] == [1, 2]
    assert histograms(events) == {}


def test_early_stopping_final_metrics_are_the_restored_network(digits, tmp_path):
    stop = EarlyStopping(patience=1, monitor="val_loss", restore_best=True)
    trainer, _ = _train(digits, tmp_path / "run", epochs=6, callbacks=[stop], histograms=False)
    s = scalars(read_events(tmp_path / "run"))
    Xv, yv = digits[1]
    best = trainer.network.accuracy(Xv, yv)
    n = len(trainer.history)
    assert s["final/validation_accuracy"] == [(n, pytest.approx(best))]
    hp = session_start(read_events(tmp_path / "run"))
    assert hp["EarlyStopping.patience"] == 1
    assert hp["EarlyStopping.monitor"] == "val_loss"


def test_a_continued_run_goes_on_and_a_fresh_one_gets_its_own_folder(digits, tmp_path):
    (X, y), val = digits
    run = tmp_path / "run"
    trainer, tb = _train(digits, run, epochs=2, histograms=False, diagnostics=False)
    assert tb.run_dir == run
    trainer.fit(X, y, val, epochs=2)  # a second fit continues: epochs 3 and 4
    assert tb.run_dir == run
    files = sorted(run.glob("events.out.tfevents.*"))
    assert len(files) == 2
    second = read_events(run, 1)
    assert [step for step, _ in scalars(second)["accuracy/validation"]] == [3, 4]
    assert "saturation/layer_1" not in scalars(second)
    # Its restart marker hides anything the first writer put beyond epoch 2.
    starts = [e for e in second if e.HasField("session_log")]
    assert [(e.step, e.session_log.status) for e in starts] == [(3, event_pb2.SessionLog.START)]
    # Runs from scratch in the same folder go to run-2, run-3; nothing is deleted.
    for k in (2, 3):
        _, tb = _train(digits, run, epochs=1, histograms=False, diagnostics=False)
        assert tb.run_dir == tmp_path / f"run-{k}"
        assert [step for step, _ in scalars(read_events(tb.run_dir))["learning_rate"]] == [0, 1]
    assert len(list(run.glob("events.out.tfevents.*"))) == 2


def test_a_run_resumed_from_a_checkpoint_goes_on_in_its_folder(digits, tmp_path):
    (X, y), val = digits
    _train(digits, tmp_path / "run", epochs=1, histograms=False)  # an earlier run in "run"
    checkpoint = tmp_path / "run.npz"

    def stop(trainer, epoch, logs):
        trainer.request_interrupt()

    interrupt = LambdaCallback(on_epoch_end=stop)
    with pytest.raises(KeyboardInterrupt):
        _train(digits, tmp_path / "run", callbacks=[Checkpoint(checkpoint), interrupt])
    interrupted = read_events(tmp_path / "run-2")
    # Ctrl-C: the final figures so far, no session end (the run may resume).
    assert scalars(interrupted)["final/epochs"] == [(1, 1.0)]
    assert [tag for _, tag, _ in hparams_messages(interrupted)] == ["_hparams_/session_start_info"]
    tb = TensorBoard(tmp_path / "run", sample=200)
    trainer = Trainer.resume(checkpoint, X, y, val, callbacks=[tb, Checkpoint(checkpoint)])
    assert tb.run_dir == tmp_path / "run-2"  # the latest run of that name
    resumed = read_events(tb.run_dir, 1)
    assert [step for step, _ in scalars(resumed)["accuracy/validation"]] == [2, 3]
    starts = [e for e in resumed if e.HasField("session_log")]
    assert [(e.step, e.session_log.status) for e in starts] == [(2, event_pb2.SessionLog.START)]
    both = read_events(tb.run_dir)
    assert session_end_status(both) == "STATUS_SUCCESS"
    assert scalars(both)["final/epochs"][-1] == (3, 3.0)
    assert len(trainer.history) == 3


def test_a_failed_run_ends_its_session_as_a_failure(digits, tmp_path):
    def boom(trainer, epoch, logs):
        if epoch == 1:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        _train(digits, tmp_path / "failed", callbacks=[LambdaCallback(on_epoch_end=boom)])
    events = read_events(tmp_path / "failed")
    assert session_end_status(events) == "STATUS_FAILURE"
    assert scalars(events)["final/epochs"] == [(2, 2.0)]
    # The figures of the epoch whose on_epoch_end raised are written all the same.
    assert [step for step, _ in scalars(events)["accuracy/validation"]] == [1, 2]


def test_without_tensorboardx_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"nndl\[tensorboard\]"):
        TensorBoard(tmp_path)
    with pytest.raises(ImportError, match=r"nndl\[tensorboard\]"):
        control_callbacks({"tensorboard": str(tmp_path)})


def test_control_setting_names_the_run_folder_after_the_output_folder(tmp_path):
    (tb,) = control_callbacks(
        {"tensorboard": "tb", "diagnostics_sample": 50}, out=tmp_path / "runs" / "a"
    )
    assert isinstance(tb, TensorBoard)
    assert tb.logdir == Path("tb") / "a"  # relative, as given
    assert tb.sample == 50
    (tb,) = control_callbacks({"tensorboard": str(tmp_path / "tb")})
    assert tb.logdir == tmp_path / "tb"
    assert control_callbacks({}) == []


def test_nndl_train_tensorboard_option(tmp_path):
    out = tmp_path / "runs" / "first"
    proc = nndl(
        "train",
        *FAST,
        "--hidden",
        "10",
        "--epochs",
        "2",
        "--seed",
        "2",
        "--quiet",
        "--tensorboard",
        "tb",
        "--out",
        out,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "tb" / "first"
    events = read_events(run)
    history = json.loads((out / "history.json").read_text())
    s = scalars(events)
    assert [step for step, _ in s["accuracy/validation"]] == [1, 2]
    assert [v for _, v in s["accuracy/validation"]] == pytest.approx(history["val_accuracy"])
    assert set(histograms(events)) >= {"weights/layer_1", "gradients/layer_2"}
    hp = session_start(events)
    assert hp["training.epochs"] == 2
    assert hp["training.seed"] == 2
    assert hp["network.sizes"] == "64,10,10"
    assert session_end_status(events) == "STATUS_SUCCESS"
    config = json.loads((out / "config.json").read_text())
    assert config["control"]["tensorboard"] == "tb"


def test_experiment_runs_get_one_folder_per_configuration_and_seed(digits, tmp_path):
    (X, y), val = digits
    settings = ExperimentSettings(
        out=tmp_path / "results", tensorboard=tmp_path / "tb", verbose=False
    ).validate()
    experiment = ExperimentRun("demo", "Demo", settings)
    for label in ("eta 0.1", "eta = 1.0"):
        for seed in (0, 1):
            lr = float(label.split()[-1])
            experiment.train(
                label,
                [64, 10, 10],
                X,
                y,
                seed=seed,
                evaluation=val,
                monitor=["val_accuracy"],
                epochs=1,
                learning_rate=lr,
            )
    experiment.train("eta 0.1", [64, 10, 10], X, y, seed=0, epochs=1)  # the same seed again
    root = tmp_path / "tb" / "demo"
    assert sorted(str(p.relative_to(root)) for p in root.glob("*/*")) == [
        "eta_0.1/seed-0",
        "eta_0.1/seed-0-2",
        "eta_0.1/seed-1",
        "eta_1.0/seed-0",
        "eta_1.0/seed-1",
    ]
    events = read_events(root / "eta_1.0" / "seed-1")
    hp = session_start(events)
    assert hp["experiment"] == "demo"
    assert hp["configuration"] == "eta = 1.0"
    assert hp["training.seed"] == 1
    assert hp["training.learning_rate"] == 1.0
    history = experiment.runs["eta = 1.0"][1]["history"]
    assert scalars(events)["accuracy/validation"] == [
        (1, pytest.approx(history["val_accuracy"][0]))
    ]
    assert settings.to_dict()["tensorboard"] == str(tmp_path / "tb")


def test_nndl_search_tensorboard_option_writes_one_run_per_trial(tmp_path):
    pytest.importorskip("optuna")
    space = tmp_path / "space.toml"
    space.write_text(
        '[params]\nlearning_rate = {type = "float", low = 0.1, high = 1.0}\n'
        "epochs = 2\nhidden_sizes = [10]\n"
    )
    proc = nndl(
        "search",
        "--config",
        space,
        "--dataset",
        "digits",
        "--train-size",
        "300",
        "--n-trials",
        "3",
        "--sampler",
        "random",
        "--seed",
        "0",
        "--no-pruning",
        "--no-report",
        "--tensorboard",
        tmp_path / "tb",
        "--out",
        tmp_path / "out",
    )
    assert proc.returncode == 0, proc.stderr
    runs = sorted(p.name for p in (tmp_path / "tb").iterdir())
    assert runs == ["trial-0000", "trial-0001", "trial-0002"]
    rates = set()
    for k, name in enumerate(runs):
        events = read_events(tmp_path / "tb" / name)
        hp = session_start(events)
        assert hp["search.trial"] == k
        assert hp["network.sizes"] == "64,10,10"
        assert hp["data.n_train"] == 300
        rates.add(hp["training.learning_rate"])
        assert 0.1 <= hp["training.learning_rate"] <= 1.0
        s = scalars(events)
        assert [step for step, _ in s["accuracy/validation"]] == [1, 2]
        assert s["final/validation_accuracy"][0][0] == 2
        assert session_end_status(events) == "STATUS_SUCCESS"
    assert len(rates) == 3  # each trial's own settings
