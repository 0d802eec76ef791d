"""Checkpoints: exact resume, refusal of corrupted files and of other configurations."""

import json
import os
import signal
import zipfile

import numpy as np
import pytest

from nndl import Network, Trainer
from nndl.callbacks import (
    BatchMonitor,
    Callback,
    Checkpoint,
    Diagnostics,
    EarlyStopping,
    PlateauSchedule,
    ProgressBar,
    ScheduleCallback,
)
from nndl.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from nndl.training import TrainingInterrupted, resume


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 8))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    Xv = rng.normal(size=(50, 8))
    yv = (Xv[:, 0] > 0).astype(int) + (Xv[:, 1] > 0.5)
    return (X, y), (Xv, yv)


NET = {"sizes": [8, 12, 3], "dropout": 0.3}
RUN = {
    "epochs": 6,
    "mini_batch_size": 10,
    "learning_rate": 0.3,
    "optimizer": "momentum",
    "momentum": 0.9,
    "l2": 1.0,
    "seed": 5,
}


def rules():
    """Stateful callbacks whose state must survive the checkpoint too."""
    return [
        EarlyStopping("val_loss", patience=4),
        PlateauSchedule("val_accuracy", patience=1, floor=1e6),
        BatchMonitor(every=4, val_subset=20),
    ]


def make_trainer(callbacks, net=None, net_seed=1, **kw):
    net = net or Network(NET["sizes"], dropout=NET["dropout"], seed=net_seed)
    return Trainer(net, callbacks=callbacks, **{**RUN, **kw})


def straight(data, **kw):
    (X, y), val = data
    cbs = rules()
    t = make_trainer(cbs, **kw)
    t.fit(X, y, val)
    return t, cbs


def assert_same_run(a, b, a_cbs=None, b_cbs=None):
    for p, q in zip(a.network.get_params(), b.network.get_params(), strict=True):
        np.testing.assert_array_equal(p, q)  # bitwise
    drop_time = [{k: v for k, v in r.items() if k != "time"} for r in a.history.records]
    assert drop_time == [{k: v for k, v in r.items() if k != "time"} for r in b.history.records]
    assert a.learning_rate == b.learning_rate
    if a_cbs is not None:
        for x, y in zip(a_cbs, b_cbs, strict=True):
            sx, sy = x.state_dict(), y.state_dict()
            assert sx.keys() == sy.keys()
            for k in sx:
                if k == "best_params":
                    for p, q in zip(sx[k], sy[k], strict=True):
                        np.testing.assert_array_equal(p, q)
                else:
                    assert sx[k] == sy[k], k


class RaiseAt(Callback):
    """Simulates a crash: raises at the start of an epoch or after a mini-batch."""

    def __init__(self, epoch, batch=None, polite=False):
        self.epoch, self.batch, self.polite = epoch, batch, polite

    def on_epoch_begin(self, trainer, epoch):
        if self.batch is None and epoch == self.epoch:
            raise RuntimeError("simulated crash")

    def on_batch_end(self, trainer, batch):
        if (trainer.epoch, batch) == (self.epoch, self.batch):
            if self.polite:
                trainer.request_interrupt()  # finish this mini-batch, then stop cleanly
            else:
                raise RuntimeError("simulated crash")


@pytest.mark.parametrize(
    ("optimizer", "crash"),
    [
        ("momentum", RaiseAt(3)),  # crash between epochs: resume from epoch 2's checkpoint
        ("momentum", RaiseAt(2, batch=6)),  # crash mid-epoch: epoch 2 is redone
        ("momentum", RaiseAt(2, batch=6, polite=True)),  # clean mid-epoch checkpoint
        ("nesterov", RaiseAt(4, batch=0, polite=True)),
        ("sgd", RaiseAt(1, batch=14, polite=True)),  # interrupted after the epoch's last batch
    ],
    ids=["between-epochs", "mid-epoch-crash", "mid-epoch-interrupt", "nesterov", "sgd-last-batch"],
)
def test_interrupted_and_resumed_run_equals_the_straight_run(data, tmp_path, optimizer, crash):
    (X, y), val = data
    kw = {"optimizer": optimizer, "momentum": 0.0 if optimizer == "sgd" else 0.9}
    ref, ref_cbs = straight(data, **kw)
    assert len(ref.history) == RUN["epochs"]  # the rules did not stop it: all epochs count
    assert len(ref_cbs[0].state_dict()["best_params"]) == 4

    path = tmp_path / "run.npz"
    t = make_trainer([*rules(), crash, Checkpoint(path)], **kw)
    expected = TrainingInterrupted if crash.polite else RuntimeError
    with pytest.raises(expected):
        t.fit(X, y, val)
    assert path.exists()

    cbs = rules()
    resumed = resume(path, X, y, val, callbacks=cbs)
    assert_same_run(ref, resumed, ref_cbs, cbs)


def test_resume_into_a_trainer_built_by_the_caller(data, tmp_path):
    (X, y), val = data
    ref, _ = straight(data)
    path = tmp_path / "ck-{epoch}.npz"
    t = make_trainer([*rules(), RaiseAt(4), Checkpoint(path, every=2)])
    with pytest.raises(RuntimeError):
        t.fit(X, y, val)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck-2.npz", "ck-4.npz"]
    # a fresh network with other initial weights: everything comes from the file
    again = make_trainer(rules(), net_seed=99)
    again.fit(X, y, val, resume_from=tmp_path / "ck-2.npz")
    assert_same_run(ref, again)


def test_resume_can_extend_the_number_of_epochs(data, tmp_path):
    (X, y), val = data
    ref, _ = straight(data, epochs=8)
    t = make_trainer([*rules(), Checkpoint(tmp_path / "c.npz")], epochs=5)
    t.fit(X, y, val)
    longer = resume(tmp_path / "c.npz", X, y, val, callbacks=rules(), epochs=8)
    assert_same_run(ref, longer)


def test_resume_with_an_epoch_schedule(data, tmp_path):
    (X, y), val = data
    ref = make_trainer([ScheduleCallback("step:2:0.5")])
    ref.fit(X, y, val)
    assert ref.history["learning_rate"] == [0.3, 0.3, 0.15, 0.15, 0.075, 0.075]
    path = tmp_path / "c.npz"
    t = make_trainer([ScheduleCallback("step:2:0.5"), RaiseAt(3, 4, polite=True), Checkpoint(path)])
    with pytest.raises(TrainingInterrupted):
        t.fit(X, y, val)
    assert_same_run(ref, resume(path, X, y, val, callbacks=[ScheduleCallback("step:2:0.5")]))


def test_ctrl_c_finishes_the_mini_batch_and_checkpoints(data, tmp_path):
    (X, y), val = data
    ref, _ = straight(data)

    class CtrlC(Callback):
        def on_batch_end(self, trainer, batch):
            if (trainer.epoch, batch) == (3, 2):
                os.kill(os.getpid(), signal.SIGINT)

    path = tmp_path / "c.npz"
    t = make_trainer([*rules(), CtrlC(), Checkpoint(path, every=100)])
    before = signal.getsignal(signal.SIGINT)
    with (
        pytest.raises(TrainingInterrupted, match="epoch 4 before mini-batch 4"),
        t.interrupt_on_sigint(),
    ):
        t.fit(X, y, val)
    assert signal.getsignal(signal.SIGINT) is before
    state = read_checkpoint(path)
    assert state["position"]["next_batch"] == 3 and state["completed_epochs"] == 3
    assert_same_run(ref, resume(path, X, y, val, callbacks=rules()))


def test_a_keyboard_interrupt_from_a_batch_callback_is_a_clean_stop(data, tmp_path):
    # How a command line may implement Ctrl-C: a callback raises after the update.
    (X, y), val = data
    ref, _ = straight(data)

    class Stop(Callback):
        def on_batch_end(self, trainer, batch):
            if (trainer.epoch, batch) == (2, 9):
                raise KeyboardInterrupt

    path = tmp_path / "c.npz"
    t = make_trainer([*rules(), Stop(), Checkpoint(path, every=100)])
    with pytest.raises(KeyboardInterrupt):
        t.fit(X, y, val)
    assert read_checkpoint(path)["position"]["next_batch"] == 10
    assert_same_run(ref, resume(path, X, y, val, callbacks=rules()))


def test_a_finished_early_stopped_run_resumes_to_nothing(data, tmp_path):
    (X, y), val = data

    class Score(Callback):
        def extra_logs(self, trainer, epoch):
            return {"score": [0.9, 0.1, 0.1, 0.1, 0.1, 0.1][epoch]}

    def cbs():
        return [Score(), EarlyStopping("score", mode="max", patience=2)]

    t = make_trainer([*cbs(), Checkpoint(tmp_path / "c.npz")])
    t.fit(X, y, val)
    assert len(t.history) == 3
    again = resume(tmp_path / "c.npz", X, y, val, callbacks=cbs())
    assert len(again.history) == 3
    assert_same_run(t, again)  # the best parameters (epoch 0) restored both times


# ------------------------------------------------------------------ refusals
@pytest.fixture
def saved(data, tmp_path):
    (X, y), val = data
    path = tmp_path / "c.npz"
    make_trainer([*rules(), Checkpoint(path)], epochs=2).fit(X, y, val)
    return path


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"learning_rate": 0.1}, r"train\.learning_rate: 0\.3 -> 0\.1"),
        ({"l2": 0.0}, r"train\.l2: 1\.0 -> 0\.0"),
        ({"seed": 6}, r"train\.seed: 5 -> 6"),
        ({"mini_batch_size": 20}, "mini_batch_size"),
        ({"optimizer": "nesterov"}, "optimizer"),
        ({"net": "tanh"}, r"network\.hidden_activation: 'sigmoid' -> 'tanh'"),
        ({"data": "scaled"}, r"data\.train\.X_sum: .*data\.train\.rows_sha256 differs"),
        ({"data": "other validation"}, r"data\.validation\.rows_sha256 differs"),
        ({"callbacks": "patience"}, r"callbacks\[0\]\.config\.patience: 4 -> 5"),
        ({"callbacks": "missing"}, r"callbacks"),
    ],
)
def test_a_different_configuration_is_refused(data, saved, change, match):
    (X, y), (Xv, yv) = data
    kw = {k: v for k, v in change.items() if k not in ("net", "data", "callbacks")}
    net = None
    if change.get("net"):
        net = Network(NET["sizes"], dropout=NET["dropout"], hidden_activation=change["net"])
    cbs = rules()
    if change.get("callbacks") == "patience":
        cbs[0] = EarlyStopping("val_loss", patience=5)
    if change.get("callbacks") == "missing":
        cbs = cbs[1:]
    if change.get("data") == "scaled":
        X = X * 1.001
    if change.get("data") == "other validation":
        Xv = Xv[::-1]
    t = make_trainer(cbs, net=net, **kw)
    with pytest.raises(CheckpointError, match="refusing to resume.*" + match):
        t.fit(X, y, (Xv, yv), resume_from=saved)


def test_observers_and_more_epochs_are_allowed_a_new_schedule_is_not(data, saved):
    (X, y), val = data
    t = make_trainer([*rules(), Diagnostics(sample=10), ProgressBar("quiet")], epochs=4)
    t.fit(X, y, val, resume_from=saved)
    assert len(t.history) == 4 and "sat_1" in t.history
    t2 = make_trainer(rules()[:2], epochs=3)  # without the BatchMonitor observer
    t2.fit(X, y, val, resume_from=saved)
    assert len(t2.history) == 3
    t3 = make_trainer([*rules(), ScheduleCallback("step:2")])
    with pytest.raises(
        CheckpointError,
        match=r"callbacks: \['EarlyStopping', 'PlateauSchedule'\] -> \[.*'ScheduleCallback'\]",
    ):
        t3.fit(X, y, val, resume_from=saved)


def corrupt_byte(path, where):
    raw = bytearray(path.read_bytes())
    raw[where] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (
            lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
            "corrupted or partial",
        ),
        (lambda p: p.write_bytes(b""), "corrupted or partial"),
        (lambda p: p.write_bytes(b"not a zip at all"), "corrupted or partial"),
        (lambda p: corrupt_byte(p, len(p.read_bytes()) // 3), "corrupted"),
        (lambda p: corrupt_byte(p, 100), "corrupted"),
    ],
    ids=["truncated", "empty", "garbage", "flipped-middle", "flipped-early"],
)
def test_a_corrupted_or_partial_checkpoint_is_refused(data, saved, damage, match):
    (X, y), val = data
    damage(saved)
    with pytest.raises(CheckpointError, match=match):
        make_trainer(rules()).fit(X, y, val, resume_from=saved)
    with pytest.raises(CheckpointError):
        resume(saved, X, y, val, callbacks=rules())


def rewrite(path, edit_meta=None, drop=None):
    """Rewrite an archive member by member, editing its metadata or dropping one array."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    if edit_meta:
        meta = json.loads(np.load(path)["__meta__"].tobytes())
        edit_meta(meta)
        import io

        buf = io.BytesIO()
        np.save(buf, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        members["__meta__.npy"] = buf.getvalue()
    if drop:
        del members[drop]
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


@pytest.mark.parametrize(
    ("edit", "drop", "match"),
    [
        (lambda m: m.update(version=99), None, "format version 99 is not supported"),
        (lambda m: m.update(format="other"), None, "format is not 'nndl-checkpoint'"),
        (None, "a0.npy", "array 'a0' is missing"),
        (None, "__meta__.npy", "no metadata"),
        (lambda m: m["arrays"]["a1"].update(shape=[1, 2]), None, "shape or dtype"),
        (lambda m: m["arrays"]["a1"].update(sha256="0" * 64), None, "checksum mismatch"),
        (lambda m: m["state"].pop("rng"), None, "state is incomplete"),
        (lambda m: m["state"].update(config_hash="0" * 64), None, "configuration hash"),
    ],
)
def test_inconsistent_checkpoints_are_refused(data, saved, edit, drop, match):
    (X, y), val = data
    rewrite(saved, edit, drop)
    with pytest.raises(CheckpointError, match=match):
        make_trainer(rules()).fit(X, y, val, resume_from=saved)


def test_missing_checkpoint(data, tmp_path):
    (X, y), val = data
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        make_trainer(rules()).fit(X, y, val, resume_from=tmp_path / "nope.npz")


# ------------------------------------------------------------------ the format
def test_round_trip_of_nested_state(tmp_path):
    state = {
        "a": [np.arange(6.0).reshape(2, 3), None, {"b": np.int64(3), "c": np.float32(0.5)}],
        "nan": float("nan"),
        "inf": [float("inf"), -float("inf")],
        "big": 2**100,
        "flag": np.bool_(True),
        "words": ("x", "y"),
    }
    path = write_checkpoint(tmp_path / "s", state)
    back = read_checkpoint(path)
    np.testing.assert_array_equal(back["a"][0], state["a"][0])
    assert back["a"][1] is None and back["a"][2] == {"b": 3, "c": 0.5}
    assert np.isnan(back["nan"]) and back["inf"] == [float("inf"), -float("inf")]
    assert back["big"] == 2**100 and back["flag"] is True and back["words"] == ["x", "y"]


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path):
    path = write_checkpoint(tmp_path / "c.npz", {"x": np.ones(3)})
    with pytest.raises(TypeError, match="cannot checkpoint a object"):
        write_checkpoint(path, {"x": object()})
    np.testing.assert_array_equal(read_checkpoint(path)["x"], np.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


def test_state_dict_refuses_the_middle_of_an_epoch(data):
    (X, y), _ = data
    seen = []

    class Peek(Callback):
        def on_batch_end(self, trainer, batch):
            if not seen:
                seen.append(trainer.can_checkpoint)
                with pytest.raises(RuntimeError, match="not in the middle"):
                    trainer.state_dict()

    make_trainer([Peek()], epochs=1).fit(X, y)
    assert seen == [False]
