"""Callbacks on scripted metric sequences (table-driven), then inside real training."""

import io
import math

import numpy as np
import pytest

from nndl import Network, Trainer
from nndl.callbacks import (
    BatchMonitor,
    Callback,
    Checkpoint,
    EarlyStopping,
    GeneralizationLossStopping,
    History,
    LambdaCallback,
    PlateauSchedule,
    ProgressBar,
    ProgressQuotientStopping,
    ScheduleCallback,
    early_stopping_callback,
    overrides,
    schedule_callback,
)


class FakeTrainer:
    """What the epoch-level rules touch: a network, the rate, the stop flag."""

    def __init__(self, learning_rate=1.0):
        self.network = Network([2, 2], seed=0)
        self.learning_rate = learning_rate
        self.stop_training = False
        self.interrupted = False
        self.epoch = -1


def drive(cb, metrics: dict, learning_rate=1.0, interrupted=False):
    """Feed scripted per-epoch metrics; the weights of epoch e are all e.

    Returns (trainer, last epoch run, learning rate in force per epoch).
    """
    t = FakeTrainer(learning_rate)
    cb.on_train_begin(t)
    n = len(next(iter(metrics.values())))
    rates, last = [], None
    for epoch in range(n):
        t.epoch = last = epoch
        for p in t.network.params():
            p[...] = epoch
        rates.append(t.learning_rate)
        logs = {"epoch": epoch + 1, **{k: v[epoch] for k, v in metrics.items()}}
        cb.on_epoch_end(t, epoch, logs)
        if t.stop_training:
            break
    t.interrupted = interrupted
    cb.on_train_end(t)
    return t, last, rates


def weights_epoch(t) -> float:
    w = t.network.weights[0]
    assert np.all(w == w.flat[0])
    return float(w.flat[0])


# --------------------------------------------------------------- no improvement
# (kwargs, values, epoch it stops after (None: never), best epoch)
EARLY = [
    ({"patience": 3}, [0.5, 0.6, 0.6, 0.6, 0.6, 0.7], 4, 1),
    ({"patience": 3}, [0.5, 0.6, 0.55, 0.58, 0.61, 0.6, 0.6, 0.6], 7, 4),
    ({"patience": 1}, [0.5, 0.5], 1, 0),
    ({"patience": 2}, [0.1, 0.2, 0.3, 0.4], None, 3),
    ({"patience": 2, "min_delta": 0.05}, [0.5, 0.53, 0.56, 0.57, 0.58], 4, 2),
    ({"monitor": "val_loss", "patience": 3}, [1.0, 0.8, 0.9, 0.85, 0.95], 4, 1),
    ({"monitor": "val_loss", "patience": 2}, [1.0, 0.9, 0.8, 0.7], None, 3),
    ({"monitor": "score", "mode": "min", "patience": 2}, [3, 1, 2, 0.5, 0.7, 0.9], 5, 3),
]


@pytest.mark.parametrize(("kwargs", "values", "stops", "best"), EARLY)
def test_early_stopping_table(kwargs, values, stops, best):
    cb = EarlyStopping(**kwargs)
    t, last, _ = drive(cb, {cb.monitor: values})
    assert t.stop_training == (stops is not None)
    assert last == (stops if stops is not None else len(values) - 1)
    # Users read epochs counted from 1, as the console counts them.
    assert cb.stopped_epoch == (stops + 1 if stops is not None else None)
    assert cb.best_epoch == best + 1
    assert cb.best == values[best]
    assert weights_epoch(t) == best  # the best parameters are restored


def test_early_stopping_restore_best_off_keeps_the_last_parameters():
    cb = EarlyStopping(patience=2, restore_best=False)
    t, last, _ = drive(cb, {"val_accuracy": [0.9, 0.5, 0.5]})
    assert last == 2 and weights_epoch(t) == 2 and cb.best_params is None


def test_early_stopping_does_not_restore_when_interrupted():
    cb = EarlyStopping(patience=5)
    t, _, _ = drive(cb, {"val_accuracy": [0.9, 0.5, 0.5]}, interrupted=True)
    assert weights_epoch(t) == 2 and not cb.restored


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: EarlyStopping(patience=0), "patience must be an integer >= 1"),
        (lambda: EarlyStopping(min_delta=-1), "min_delta must be"),
        (lambda: EarlyStopping(mode="up"), "mode must be"),
        (lambda: EarlyStopping(monitor="score"), "cannot tell whether 'score'"),
        (lambda: EarlyStopping(monitor=3), "monitor must be a metric name"),
        (lambda: GeneralizationLossStopping(alpha=-1), "alpha must be"),
        (lambda: ProgressQuotientStopping(strip=0), "strip must be"),
        (lambda: PlateauSchedule(factor=1.0), "factor must be a finite number > 1"),
        (lambda: PlateauSchedule(floor=0.5), "floor must be"),
        (lambda: PlateauSchedule(patience=-3), "patience must be"),
        (lambda: BatchMonitor(every=0), "every must be"),
        (lambda: BatchMonitor(metrics=["cost"]), "unknown metric"),
        (lambda: ProgressBar("fancy"), "mode must be"),
        (lambda: Checkpoint(3), "path must be"),
        (lambda: early_stopping_callback("gl"), "bad early-stopping rule"),
        (lambda: early_stopping_callback("up:3"), "bad early-stopping rule"),
        (lambda: schedule_callback("linear"), "unknown schedule"),
    ],
)
def test_bad_settings_are_refused_clearly(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_missing_metric_is_a_clear_error():
    cb = EarlyStopping("val_loss")
    with pytest.raises(ValueError, match="monitors 'val_loss'"):
        drive(cb, {"val_accuracy": [0.5]})


# ------------------------------------------------------------ Prechelt GL and PQ
# GL(t) = 100 (E_va(t) / E_opt(t) - 1); stops after the first epoch with GL > alpha.
GL = [
    # val_loss 1.0, 0.8 (best), then GL = 2.5, 3.75, 6.25
    (5.0, "val_loss", [1.0, 0.8, 0.82, 0.83, 0.85], 4, 1),
    (2.0, "val_loss", [1.0, 0.8, 0.82, 0.83, 0.85], 2, 1),
    (10.0, "val_loss", [1.0, 0.8, 0.82, 0.83, 0.85], None, 1),
    # accuracy -> error 1 - acc: 0.2, 0.1 (best), 0.11 (GL = 10)
    (5.0, "val_accuracy", [0.8, 0.9, 0.89, 0.88], 2, 1),
    # a perfect best (error 0) makes any error an infinite loss
    (5.0, "val_accuracy", [0.9, 1.0, 1.0, 0.99], 3, 1),
]


@pytest.mark.parametrize(("alpha", "monitor", "values", "stops", "best"), GL)
def test_generalization_loss_table(alpha, monitor, values, stops, best):
    cb = GeneralizationLossStopping(alpha, monitor=monitor)
    t, last, _ = drive(cb, {monitor: values})
    assert cb.stopped_epoch == (stops + 1 if stops is not None else None)
    assert last == (stops if stops is not None else len(values) - 1)
    assert cb.best_epoch == best + 1
    assert weights_epoch(t) == best


def test_generalization_loss_values_follow_the_formula():
    cb = GeneralizationLossStopping(100.0)
    drive(cb, {"val_loss": [1.0, 0.8, 0.82, 0.83, 0.85]})
    np.testing.assert_allclose([e["gl"] for e in cb.trace], [0, 0, 2.5, 3.75, 6.25], atol=1e-12)


# PQ = GL / P_k at the end of each strip (k = 2 here: epochs 1, 3, 5), with
# P_k = 1000 (sum of the strip's training errors / (k min) - 1).
# Epoch 3: GL = 5.0, P = 1000 (1.59 / 1.58 - 1) = 6.33, PQ = 0.79.
# Epoch 5: GL = 12.5, P = 1000 (1.569 / 1.568 - 1) = 0.638, PQ = 19.6.
PQ_VAL = [1.0, 0.8, 0.82, 0.84, 0.86, 0.9]
PQ_TRAIN = [1.0, 0.9, 0.8, 0.79, 0.785, 0.784]
PQ = [(0.5, 3), (1.0, 5), (100.0, None)]


@pytest.mark.parametrize(("alpha", "stops"), PQ)
def test_progress_quotient_table(alpha, stops):
    cb = ProgressQuotientStopping(alpha, strip=2)
    t, last, _ = drive(cb, {"val_loss": PQ_VAL, "loss": PQ_TRAIN})
    assert cb.stopped_epoch == (stops + 1 if stops is not None else None)
    assert last == (stops if stops is not None else len(PQ_VAL) - 1)
    assert cb.best_epoch == 2 and weights_epoch(t) == 1
    ends = [e for e in cb.trace if "pq" in e]
    assert [e["epoch"] for e in ends] == [2, 4, 6][: len(ends)]
    assert ends[1]["progress"] == pytest.approx(1000 * (1.59 / 1.58 - 1))
    assert ends[1]["pq"] == pytest.approx(5.0 / (1000 * (1.59 / 1.58 - 1)))


def test_progress_quotient_ignores_losses_between_strip_ends():
    # GL is 2.5 at epoch 2, which GL_2 would stop on; PQ only looks at strip ends.
    cb = ProgressQuotientStopping(0.1, strip=2)
    _, last, _ = drive(cb, {"val_loss": PQ_VAL[:3], "loss": PQ_TRAIN[:3]})
    assert last == 2 and cb.stopped_epoch is None


def test_progress_is_infinite_only_for_a_zero_minimum():
    assert ProgressQuotientStopping.progress([0.0, 0.0]) == 0.0
    assert ProgressQuotientStopping.progress([0.0, 1.0]) == math.inf
    assert ProgressQuotientStopping.progress([2.0, 2.0]) == 0.0


# ------------------------------------------------------------------ plateau rule
# (kwargs, values, expected reductions [(epoch, rate)], stop epoch)
PLATEAU = [
    (
        {"patience": 2, "floor": 8},
        [0.5, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7],
        [(3, 0.5), (6, 0.25), (8, 0.125)],
        8,
    ),
    # defaults (factor 2, floor 1024): the tenth halving reaches eta_0/1024 and stops
    ({"patience": 1}, [0.5] * 20, [(e, 2.0**-e) for e in range(1, 11)], 10),
    ({"patience": 1, "factor": 10, "floor": 1000}, [0.5] * 10, [(1, 0.1), (2, 0.01), (3, 1e-3)], 3),
    ({"patience": 3, "stop": False, "floor": 2}, [0.5] * 8, [(3, 0.5), (6, 0.25)], None),
    ({"patience": 2}, [0.1, 0.2, 0.3, 0.4, 0.5], [], None),
    (
        {"monitor": "val_loss", "patience": 1, "floor": 4},
        [1.0, 0.9, 0.95, 0.8, 0.85, 0.9],
        [(2, 0.5), (4, 0.25)],
        4,
    ),
]


@pytest.mark.parametrize(("kwargs", "values", "reductions", "stops"), PLATEAU)
def test_plateau_rule_table(kwargs, values, reductions, stops):
    cb = PlateauSchedule(**kwargs)
    t, last, rates = drive(cb, {cb.monitor: values})
    got = [(e - 1, r) for e, r in cb.reductions]  # reductions count epochs from 1
    assert [e for e, _ in got] == [e for e, _ in reductions]
    np.testing.assert_allclose([r for _, r in got], [r for _, r in reductions], rtol=1e-12)
    assert cb.stopped_epoch == (stops + 1 if stops is not None else None)
    assert t.stop_training == (stops is not None)
    assert last == (stops if stops is not None else len(values) - 1)
    # the rate in force in each epoch is the one set by the reductions before it
    expected = [1.0]
    for e in range(1, len(rates)):
        expected.append(next((r for ep, r in reversed(got) if ep < e), 1.0))
    np.testing.assert_allclose(rates, expected, rtol=1e-12)


def test_plateau_tolerates_rounding_of_repeated_division():
    # 0.3 / 10 / 10 / 10 != 0.3 / 1000 in binary; the rule still stops at the third division.
    cb = PlateauSchedule(patience=1, factor=10, floor=1000)
    _, last, _ = drive(cb, {"val_accuracy": [0.5] * 10}, learning_rate=0.3)
    assert last == 3 and cb.stopped_epoch == 4


# --------------------------------------------------------------- inside training
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    Xv = rng.normal(size=(40, 6))
    yv = (Xv[:, 0] > 0).astype(int) + (Xv[:, 1] > 0)
    return (X, y), (Xv, yv)


def trainer_for(callbacks, **kw):
    kw = {"epochs": 4, "mini_batch_size": 10, "learning_rate": 0.5, "seed": 0, **kw}
    return Trainer(Network([6, 8, 3], seed=0), callbacks=callbacks, **kw)


class Scripted(Callback):
    """Adds a scripted metric ``score`` to each epoch's logs."""

    def __init__(self, values):
        self.values = values

    def extra_logs(self, trainer, epoch):
        return {"score": self.values[epoch]}


def test_plateau_in_training_halves_the_rate_and_stops(data):
    (X, y), _ = data
    plateau = PlateauSchedule("score", mode="max", patience=1, floor=4)
    t = trainer_for([Scripted([1, 2, 2, 2, 2, 2, 2]), plateau], epochs=7)
    t.fit(X, y)
    # halved after epoch 2 (no gain), again after epoch 3: 0.5 / 4 reached, stop
    assert t.history["learning_rate"] == [0.5, 0.5, 0.5, 0.25]
    assert t.history["score"] == [1, 2, 2, 2]
    assert plateau.stopped_epoch == 4 and t.learning_rate == 0.125


def test_early_stopping_in_training_restores_the_best_epoch(data):
    (X, y), val = data
    keep = {}
    snap = LambdaCallback(
        on_epoch_end=lambda tr, e, logs: keep.__setitem__(e, tr.network.get_params())
    )
    es = EarlyStopping("score", mode="max", patience=2)
    t = trainer_for([Scripted([0.1, 0.3, 0.2, 0.25, 0.9]), snap, es], epochs=5)
    t.fit(X, y, val)
    assert len(t.history) == 4 and es.stopped_epoch == 4 and es.best_epoch == 2
    for a, b in zip(t.network.get_params(), keep[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_rules_record_the_metrics_they_need(data):
    (X, y), val = data
    t = trainer_for([EarlyStopping("val_loss", patience=50), ProgressQuotientStopping(50.0)])
    assert t.config.monitor is None
    t.fit(X, y, val)
    assert {"val_accuracy", "val_loss", "loss"} <= set(t.history.keys())
    assert len(t.history["val_loss"]) == 4


def test_validation_rule_without_validation_data_names_the_callback(data):
    (X, y), _ = data
    with pytest.raises(ValueError, match=r"EarlyStopping.*needs validation_data"):
        trainer_for([EarlyStopping()]).fit(X, y)


def test_continuing_a_run_keeps_the_rules_state(data):
    (X, y), val = data
    es = EarlyStopping("score", mode="max", patience=3)
    t = trainer_for([Scripted([0.5, 0.4, 0.4, 0.4, 0.4]), es], epochs=2)
    t.fit(X, y, val)
    assert es.wait == 1
    t.fit(X, y, val, epochs=3)  # a second fit continues: epochs 2, 3, 4
    assert es.stopped_epoch == 4 and es.best_epoch == 1


@pytest.mark.parametrize(
    ("n", "m", "epochs", "every"),
    [(100, 10, 3, 4), (100, 10, 3, 1), (95, 10, 2, 3), (50, 50, 5, 2), (40, 10, 2, 100)],
)
def test_batch_monitor_records_every_k_mini_batches(n, m, epochs, every):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(n, 6)), rng.integers(0, 3, n)
    mon = BatchMonitor(every, ["loss", "accuracy"], train_subset=20)
    trainer_for([mon], epochs=epochs, mini_batch_size=m).fit(X, y)
    per_epoch = -(-n // m)
    total = epochs * per_epoch
    assert len(mon.records) == total // every
    assert [r["step"] for r in mon.records] == list(range(every, total + 1, every))
    for r in mon.records:
        assert (r["epoch"] - 1) * per_epoch + r["batch"] == r["step"]  # both from 1
        assert set(r) == {"epoch", "batch", "step", "learning_rate", "loss", "accuracy"}
    assert all(len(v) == len(mon.records) for v in mon.to_dict().values())


def test_batch_monitor_on_a_validation_subset(data):
    (X, y), val = data
    mon = BatchMonitor(3, val_subset=10)
    trainer_for([mon], epochs=1).fit(X, y, val)
    assert len(mon.records) == 4
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(mon.records[0])
    # accuracy on 10 examples moves in steps of 0.1
    assert all(
        abs(r["val_accuracy"] * 10 - round(r["val_accuracy"] * 10)) < 1e-9 for r in mon.records
    )
    with pytest.raises(ValueError, match="need validation_data"):
        trainer_for([BatchMonitor(3, ["val_loss"])], epochs=1).fit(X, y)


def test_observers_do_not_change_the_run(data):
    from nndl.callbacks import Diagnostics

    (X, y), val = data
    plain = trainer_for([], epochs=3, momentum=0.5, optimizer="momentum")
    plain.fit(X, y, val)
    watched = trainer_for(
        [BatchMonitor(2), Diagnostics(sample=30), ProgressBar("quiet")],
        epochs=3,
        momentum=0.5,
        optimizer="momentum",
    )
    watched.fit(X, y, val)
    for a, b in zip(plain.network.get_params(), watched.network.get_params(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["lines", "bar", "quiet"])
def test_progress_bar_modes(data, mode):
    (X, y), val = data
    out = io.StringIO()
    bar = ProgressBar(mode, file=out, mininterval=0)
    assert overrides(bar, "on_batch_end") == (mode == "bar")
    trainer_for([bar], epochs=3).fit(X, y, val)
    text = out.getvalue()
    if mode == "quiet":
        assert text == ""
        return
    for e in (1, 2, 3):
        assert f"epoch {e}/3" in text
    assert "val_accuracy" in text and "eta 0.5" in text


def test_progress_bar_sentences_on_their_own_stream(data):
    (X, y), val = data
    bar_out, lines_out = io.StringIO(), io.StringIO()
    # "auto" draws no bar on a stream that is not a terminal: lines only, off the batch loop.
    bar = ProgressBar("auto", file=bar_out, line_format="sentence", line_file=lines_out)
    assert not bar.draws_bar and not overrides(bar, "on_batch_end")
    trainer_for([bar], epochs=2, monitor=["loss", "val_accuracy"]).fit(X, y, val)
    assert bar_out.getvalue() == ""
    lines = lines_out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2: training cost ")
    assert f"/{len(val[1])}), " in lines[1] and lines[1].endswith(" s")


def test_progress_bar_running_cost_and_custom_lines(data):
    (X, y), val = data
    out = io.StringIO()
    bar = ProgressBar(
        "bar",
        file=out,
        mininterval=0,
        running_cost=50,
        line_format=lambda logs, trainer: f"done {logs['epoch']}",
    )
    trainer_for([bar], epochs=2).fit(X, y, val)
    text = out.getvalue()
    assert "cost~" in text and "done 1" in text and "done 2" in text
    with pytest.raises(ValueError, match="line_format"):
        ProgressBar(line_format="fancy")


def test_checkpoint_runs_after_the_other_callbacks(tmp_path):
    order = []

    class Tag(Callback):
        def __init__(self, name, priority=0):
            self.name, self.priority = name, priority

        def on_epoch_end(self, trainer, epoch, logs):
            order.append(self.name)

    ck = Checkpoint(tmp_path / "c.npz")
    t = trainer_for([ck, Tag("a"), Tag("b", priority=-1), Tag("c")], epochs=1)
    assert t.callbacks[0] is t.history and isinstance(t.history, History)
    assert t.callbacks[-1] is ck
    t.fit(np.zeros((5, 6)), np.zeros(5, dtype=int))
    assert order == ["b", "a", "c"]


@pytest.mark.parametrize(
    ("rule", "cls", "attrs"),
    [
        ("no-improvement", EarlyStopping, {"patience": 7, "monitor": "val_accuracy"}),
        ("no_improvement", EarlyStopping, {"patience": 7}),
        ("gl:3", GeneralizationLossStopping, {"alpha": 3.0, "monitor": "val_loss"}),
        ("pq:0.5", ProgressQuotientStopping, {"alpha": 0.5, "strip": 5}),
        ("PQ:2:4", ProgressQuotientStopping, {"alpha": 2.0, "strip": 4}),
    ],
)
def test_early_stopping_rule_specs(rule, cls, attrs):
    cb = early_stopping_callback(rule, 7)
    assert type(cb) is cls
    for k, v in attrs.items():
        assert getattr(cb, k) == v


def test_schedule_specs():
    assert schedule_callback("constant") is None
    p = schedule_callback("plateau", patience=5, factor=10, floor=1000)
    assert isinstance(p, PlateauSchedule) and (p.patience, p.factor, p.floor) == (5, 10, 1000)
    s = schedule_callback("step:10:0.5")
    assert isinstance(s, ScheduleCallback) and s.schedule.every == 10


def test_control_section_builds_the_callbacks(tmp_path):
    from nndl.callbacks import CONTROL_DEFAULTS, Diagnostics, control_callbacks

    assert control_callbacks() == [] and control_callbacks(dict(CONTROL_DEFAULTS)) == []
    cbs = control_callbacks(
        {
            "schedule": "plateau",
            "plateau_patience": 3,
            "early_stopping": 10,
            "early_stopping_rule": "gl:5",
            "monitor_every": 100,
            "monitor_subset": 200,
            "diagnostics": True,
            "checkpoint_every": 2,
        },
        out=tmp_path,
    )
    kinds = [type(cb) for cb in cbs]
    assert kinds == [
        PlateauSchedule,
        GeneralizationLossStopping,
        BatchMonitor,
        Diagnostics,
        Checkpoint,
    ]
    assert cbs[0].patience == 3 and cbs[1].alpha == 5.0 and cbs[2].val_subset == 200
    assert cbs[4].path == str(tmp_path / "checkpoint.npz") and cbs[4].every == 2
    es = control_callbacks({"early_stopping": 7, "early_stopping_monitor": "val_loss"})[0]
    assert isinstance(es, EarlyStopping) and (es.patience, es.monitor) == (7, "val_loss")
    # An alias of the settings schema names the same setting.
    assert control_callbacks({"patience": 3})[0].patience == 3
    with pytest.raises(ValueError, match=r"unknown setting control\.patient"):
        control_callbacks({"patient": 3})
    with pytest.raises(ValueError, match="early_stopping must be"):
        control_callbacks({"early_stopping": -1})
