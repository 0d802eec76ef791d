"""Limits: inputs are measured before anything of their size is allocated.

Tampered checkpoints whose digests were recomputed, hand-made archives (deep
metadata, huge or missing arrays, a zip bomb), model files that describe more
than they hold, deeply nested configurations and huge networks are each
refused with one line naming the problem. Where memory or recursion is the
point, the command runs in its own process under an address-space limit
(``RLIMIT_AS``) far below what the input would have cost, so a test fails if
the allocation happens at all.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npformat

from nndl import Network, Trainer, limits, serialization
from nndl.callbacks import Callback, Checkpoint, EarlyStopping
from nndl.checkpoint import CheckpointError, read_checkpoint, write_checkpoint

resource = pytest.importorskip("resource", reason="RLIMIT_AS needs a POSIX system")

#: The address space a limited command may use: nndl with numpy and the digits
#: needs about 150 MB; every input below would cost 400 MB to several GB.
MEMORY_LIMIT = 600 * 2**20


def nndl_limited(*args, cwd, timeout=60) -> subprocess.CompletedProcess:
    """``nndl ARGS`` in a new process whose address space is capped at MEMORY_LIMIT."""
    code = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
        from nndl.cli import main
        main(sys.argv[1:])
        """
    )
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    env.pop("NNDL_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    err = proc.stderr.strip()
    assert "Traceback" not in err, err[-2000:]
    assert len(err.splitlines()) == 1, err[-2000:]
    assert err.startswith("nndl: error: ")
    assert len(err) <= len("nndl: error: ") + limits.MAX_MESSAGE_CHARS
    for n in needles:
        assert n in err, err


# ------------------------------------------------------------------- the limits
def test_the_limits_live_in_one_place():
    assert serialization.MAX_PARAMS is limits.MAX_PARAMS
    assert limits.MAX_PARAMS == 100_000_000 and limits.MAX_LAYERS == 1_000


def test_a_network_over_the_limits_is_refused_before_allocating():
    with pytest.raises(ValueError, match=r"over the cap of 100,000,000 .*MAX_PARAMS"):
        Network([64, 100_000_000, 10])
    with pytest.raises(ValueError, match=r"sizes lists 5,000,000 layers, over the cap of 1,000"):
        Network([1] * 5_000_000)
    Network([1] * limits.MAX_LAYERS)  # at the limit: allowed


def test_messages_are_cut_and_values_shortened():
    assert len(limits.clip("x" * 10**6)) == limits.MAX_MESSAGE_CHARS
    assert "more characters" in limits.clip("x" * 10**6)
    assert limits.clip("short") == "short"
    assert len(limits.short_repr(list(range(10**6)))) <= 120
    assert len(limits.short_repr(["x" * 10**6])) <= 120


def test_nesting_is_measured_without_recursion():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than 100 levels"):
        limits.check_nesting(deep, "it")
    limits.check_nesting({"a": [[1, 2], {"b": [3]}]}, "it")


def test_a_huge_hidden_layer_is_one_line_not_a_memory_error(tmp_path):
    proc = nndl_limited("train", "--dataset", "digits", "--hidden", 100_000_000, cwd=tmp_path)
    assert_one_line_error(proc, "hidden layers [100000000]", "over the cap of 100,000,000")
    proc = nndl_limited("train", "--dataset", "digits", "--hidden", 5_000_000, cwd=tmp_path)
    assert_one_line_error(proc, "sizes [64, 5000000, 10]", "over the cap")
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------ model files
def _model_doc(sizes):
    return {
        "format": "nndl-network",
        "version": 1,
        "sizes": sizes,
        "cost": "cross_entropy",
        "weights": [],
        "biases": [],
    }


def test_a_tiny_model_file_describing_a_huge_network_allocates_nothing(tmp_path):
    # 122 bytes declaring 99 million weights and biases: once this allocated 815 MB.
    path = tmp_path / "near.json"
    path.write_text(json.dumps(_model_doc([784, 125_000, 10])))
    assert path.stat().st_size < 200
    proc = nndl_limited("evaluate", path, cwd=tmp_path)
    assert_one_line_error(proc, "weights must be a list of 2 matrices")


def test_the_weights_must_be_in_the_file_before_the_network_is_built(monkeypatch):
    built = []
    monkeypatch.setattr(serialization, "Network", lambda *a, **k: built.append(a))
    doc = _model_doc([3, 4, 2])
    doc["weights"] = [[[0.0] * 3] * 4, [[0.0] * 4] * 1]  # the second matrix lacks a row
    doc["biases"] = [[0.0] * 4, [0.0] * 2]
    with pytest.raises(ValueError, match=r"weights\[1\] must be a list of 2 rows, got 1"):
        serialization.from_dict(doc)
    doc["weights"][1] = [[0.0] * 4] * 2
    doc["biases"][1] = [0.0]
    with pytest.raises(ValueError, match=r"biases\[1\] must be a list of 2 numbers, got 1"):
        serialization.from_dict(doc)
    assert built == []


def test_five_million_layers_are_refused_fast_with_a_short_line(tmp_path):
    # A 15 MB file: once 2.9 GB, 68 s and a 15 MB error line.
    path = tmp_path / "layers.json"
    path.write_text(json.dumps(_model_doc([1] * 5_000_000)))
    proc = nndl_limited("evaluate", path, cwd=tmp_path, timeout=30)
    assert_one_line_error(proc, "sizes lists 5,000,000 layers, over the cap of 1,000")


def test_a_model_file_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    path.write_text(json.dumps(_model_doc([2, 2])))
    monkeypatch.setattr(serialization, "MAX_MODEL_FILE_BYTES", 10)
    with pytest.raises(ValueError, match=r"bytes, over the cap of 10 for a model file"):
        serialization.load(path)


def test_deep_metadata_in_a_model_file_is_refused():
    net = Network([2, 2], seed=0)
    doc = serialization.to_dict(net)
    deep: list = []
    for _ in range(200):
        deep = [deep]
    doc["metadata"] = {"x": deep}
    with pytest.raises(ValueError, match="metadata is nested more than 100 levels"):
        serialization.from_dict(doc)


# ---------------------------------------------------------------- configurations
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000),
        ("deep.toml", "[training]\nepochs = " + "[" * 100_000 + "]" * 100_000),
        ("deep500.json", '{"training": {"epochs": ' + "[" * 500 + "]" * 500 + "}}"),
    ],
)
def test_a_deeply_nested_configuration_is_one_line(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    proc = nndl_limited("train", "--config", name, "--dataset", "digits", cwd=tmp_path)
    assert_one_line_error(proc, "nested more than 100 levels deep")


def test_a_huge_value_in_a_configuration_gives_a_bounded_line(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"training": {"epochs": "x" * 5_000_000}}))
    proc = nndl_limited("train", "--config", "c.json", "--dataset", "digits", cwd=tmp_path)
    assert_one_line_error(proc, "training.epochs", "more characters]")


# ------------------------------------------------------- any remaining exhaustion
@pytest.mark.parametrize("error", [MemoryError, RecursionError])
def test_main_turns_memory_and_recursion_errors_into_one_line(monkeypatch, capsys, error):
    import click

    from nndl.cli import cli, main

    @click.command("exhaust")
    def exhaust():
        raise error()

    monkeypatch.setitem(cli.commands, "exhaust", exhaust)
    monkeypatch.delenv("NNDL_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["exhaust"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("nndl: error: ")
    assert ("out of memory" if error is MemoryError else "nested too deeply") in err
    monkeypatch.setenv("NNDL_DEBUG", "1")  # a developer still sees where it happened
    with pytest.raises(error):
        main(["exhaust"])


# ------------------------------------------------- checkpoints: the container
def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _npy_header(shape, descr="<f8") -> bytes:
    buf = io.BytesIO()
    npformat.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": tuple(shape)}
    )
    return buf.getvalue()


def _meta(doc) -> bytes:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return _npy(np.frombuffer(text.encode(), dtype=np.uint8))


def _archive(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _doc(arrays, state):
    return {"format": "nndl-checkpoint", "version": 1, "arrays": arrays, "state": state}


ONE_ARRAY = {"a0": {"shape": [10**10], "dtype": "<f8", "sha256": "0" * 64}}


def _zip_bomb(path, elements: int):
    """An archive whose one array expands from under 1 MB to ``elements`` float64 zeros."""
    table = {"a0": {"shape": [elements], "dtype": "<f8", "sha256": "0" * 64}}
    # Level 1 is the fastest to write; the metadata is stored as nndl stores it.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        meta = _meta(_doc(table, {"x": {"__array__": "a0"}}))
        z.writestr("__meta__.npy", meta, compress_type=zipfile.ZIP_STORED)
        with z.open("a0.npy", "w", force_zip64=True) as fh:
            fh.write(_npy_header([elements]))
            chunk = bytes(1 << 24)
            for _ in range(elements * 8 // len(chunk)):
                fh.write(chunk)
    return path


def _claim_sizes(path, size: int):
    """Make the archive's directory claim ``size`` bytes for its last member."""
    raw = bytearray(path.read_bytes())
    entry = raw.rfind(b"PK\x01\x02")  # the last central directory entry
    raw[entry + 20 : entry + 28] = size.to_bytes(4, "little") * 2  # compressed, uncompressed
    path.write_bytes(bytes(raw))
    return path


HAND_MADE = {
    "deep metadata": (
        lambda p: _archive(p, {"__meta__.npy": _meta("[" * 100_000 + "]" * 100_000)}),
        "its metadata is nested more than 100 levels deep",
    ),
    "an array of 10^10 elements": (
        lambda p: _archive(
            p,
            {
                "__meta__.npy": _meta(_doc(ONE_ARRAY, {"x": {"__array__": "a0"}})),
                "a0.npy": _npy_header([10**10]) + bytes(800),
            },
        ),
        "array 'a0' declares 10,000,000,000 elements, over the cap of 100,000,000",
    ),
    "an array shorter than its header": (
        lambda p: _archive(
            p,
            {
                "__meta__.npy": _meta(
                    _doc(
                        {"a0": {"shape": [10**8], "dtype": "<f8", "sha256": "0" * 64}},
                        {"x": {"__array__": "a0"}},
                    )
                ),
                "a0.npy": _npy_header([10**8]) + bytes(800),
            },
        ),
        "does not hold the 100,000,000 elements its header declares",
    ),
    "metadata of 10^10 bytes": (
        lambda p: _archive(p, {"__meta__.npy": _npy_header([10**10], "|u1") + b"{}"}),
        "its metadata declares 10,000,000,000 elements, over the cap of 268,435,456",
    ),
    "members larger than the file": (
        lambda p: _claim_sizes(_archive(p, {"__meta__.npy": _meta(_doc({}, {}))}), 2**31),
        "its members claim more bytes than the file holds",
    ),
    "an empty arrays list": (
        lambda p: _archive(p, {"__meta__.npy": _meta(_doc([], {}))}),
        "no table of arrays",
    ),
    "a reference to a missing array": (
        lambda p: _archive(p, {"__meta__.npy": _meta(_doc({}, {"x": {"__array__": "zz"}}))}),
        "refers to an array 'zz' it does not hold",
    ),
    "NaN in the metadata": (
        lambda p: _archive(p, {"__meta__.npy": _meta('{"format": NaN}')}),
        "NaN is not valid JSON",
    ),
    "a zip bomb": (
        lambda p: _zip_bomb(p, 64_000_000),  # 512 MB from a file of under 3 MB
        "is compressed; nndl stores them uncompressed",
    ),
}


@pytest.mark.parametrize("case", list(HAND_MADE))
def test_hand_made_checkpoints_are_refused_in_one_line(tmp_path, case):
    make, needle = HAND_MADE[case]
    path = make(tmp_path / "c.npz")
    assert path.stat().st_size < 3 * 2**20
    with pytest.raises(CheckpointError, match="is not a usable nndl checkpoint"):
        read_checkpoint(path)
    proc = nndl_limited("train", "--resume", path, "--dataset", "digits", cwd=tmp_path)
    assert_one_line_error(proc, needle)


def test_a_checkpoint_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    import nndl.checkpoint as ckpt

    path = write_checkpoint(tmp_path / "c.npz", {"x": np.ones(3)})
    monkeypatch.setattr(ckpt, "MAX_CHECKPOINT_BYTES", 100)
    with pytest.raises(CheckpointError, match="bytes, over the cap of 100"):
        read_checkpoint(path)


# ------------------------------------------------ checkpoints: what fields mean
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(95, 6))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    return X, y, (X[:20], y[:20])


RUN = {"mini_batch_size": 10, "learning_rate": 0.3, "optimizer": "momentum", "momentum": 0.5}


def make_trainer(*callbacks, **kw):
    net = Network([6, 7, 3], seed=1)
    rules = [EarlyStopping("val_accuracy", patience=10, restore_best=True)]
    return Trainer(net, callbacks=[*rules, *callbacks], **{"epochs": 4, "seed": 3, **RUN, **kw})


class StopAt(Callback):
    def __init__(self, epoch, batch):
        self.at = (epoch, batch)

    def on_batch_end(self, trainer, batch):
        if (trainer.epoch, batch) == self.at:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def paused(data, tmp_path_factory):
    """A checkpoint written in the middle of epoch 2, after mini-batch 3."""
    X, y, val = data
    path = tmp_path_factory.mktemp("ckpt") / "c.npz"
    with pytest.raises(KeyboardInterrupt):
        make_trainer(StopAt(2, 3), Checkpoint(path, every=100)).fit(X, y, val)
    state = read_checkpoint(path)
    assert state["position"]["next_batch"] == 4 and state["epoch"] == 2
    return path


def _set(key, value):
    def edit(s):
        s[key] = value

    return edit


def _position(**changes):
    def edit(s):
        s["position"].update(changes)

    return edit


def _array(where, index, change):
    def edit(s):
        arrays = where(s)
        arrays[index] = change(arrays[index])

    return edit


def _params(s):
    return s["network"]["params"]


def _velocities(s):
    return s["optimizer"]["state"]["velocities"]


def _best(s):
    return s["callbacks"][0]["state"]["best_params"]


def _both_epochs(delta):
    def edit(s):
        s["epoch"] += delta
        s["completed_epochs"] += delta

    return edit


TAMPERED = {
    "learning rate -1": (_set("learning_rate", -1.0), r"its learning_rate is invalid .*> 0"),
    "learning rate nan": (_set("learning_rate", float("nan")), "its learning_rate is invalid"),
    "negative epoch": (_set("epoch", -5), "its epoch is -5; expected an integer >= -1"),
    "epoch without its history": (_both_epochs(3), r"its history records epochs \[1, 2\]"),
    "completed epochs": (_set("completed_epochs", 7), "its completed_epochs is 7"),
    "all-zero order": (
        _position(order=np.zeros(95, dtype=np.int64)),
        "its position.order is not a permutation of the 95 examples",
    ),
    "out-of-range order": (
        _position(order=np.arange(95) + 1000),
        "its position.order is not a permutation",
    ),
    "float order": (
        _position(order=np.arange(95.0)),
        "its position.order is not a list of example numbers",
    ),
    "batch beyond the epoch": (
        _position(next_batch=500),
        "its position.next_batch is 500, outside the epoch's 10 mini-batches",
    ),
    "negative batch": (_position(next_batch=-1), "its position.next_batch is -1"),
    "fractional batch": (_position(next_batch=2.5), "its position.next_batch is 2.5"),
    "position before any epoch": (
        lambda s: s.update(epoch=-1, completed_epochs=-1, history=[]),
        "its position is set but its epoch is -1",
    ),
    "parameter shape": (
        _array(_params, 0, lambda a: np.zeros((2, 2))),
        r"its network parameters\[0\] has shape \(2, 2\)",
    ),
    "parameter dtype": (
        _array(_params, 1, lambda a: a.astype(np.float32)),
        r"its network parameters\[1\] has shape \(7,\) and dtype float32",
    ),
    "infinite parameter": (
        _array(_params, 2, lambda a: a * np.inf),
        r"its network parameters\[2\] holds nan or inf",
    ),
    "missing parameter": (lambda s: _params(s).pop(), "its network parameters are 3 arrays"),
    "velocity shape": (
        _array(_velocities, 3, lambda a: np.zeros(5)),
        r"its optimizer velocities\[3\] has shape \(5,\)",
    ),
    "nan velocity": (
        _array(_velocities, 0, lambda a: a * np.nan),
        r"its optimizer velocities\[0\] holds nan or inf",
    ),
    "best parameters": (
        _array(_best, 0, lambda a: np.zeros((1, 1))),
        r"its EarlyStopping best parameters\[0\] has shape \(1, 1\)",
    ),
    "callback state": (
        lambda s: s["callbacks"][0]["state"].pop("wait"),
        "its state of EarlyStopping is invalid",
    ),
    "history accuracy": (
        lambda s: s["history"][0].update(val_accuracy=7),
        "its history record of epoch 1 has val_accuracy = 7",
    ),
    "history learning rate": (
        lambda s: s["history"][1].update(learning_rate=0),
        "its history record of epoch 2 is invalid",
    ),
    "stop flag": (_set("stop_training", "yes"), "its stop_training is 'yes'"),
    "unknown bit generator": (
        lambda s: s["rng"].update(bit_generator="Evil"),
        r"its rng is not the state of a generator \(CheckpointError: .*unknown bit generator",
    ),
    "bit generator state": (
        lambda s: s["rng"].update(bit_generator="MT19937"),
        "its rng is not the state of a generator",
    ),
    "missing field": (lambda s: s.pop("history"), r"its state is incomplete \(no 'history'\)"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_checkpoint_with_recomputed_digests_is_refused(data, paused, tmp_path, case):
    X, y, val = data
    edit, match = TAMPERED[case]
    state = read_checkpoint(paused)
    edit(state)
    path = write_checkpoint(tmp_path / "c.npz", state)  # fresh digests: only meaning is left
    trainer = make_trainer()
    before = trainer.network.get_params()
    prefix = re.escape(f"{path} is not a usable nndl checkpoint: ")
    with pytest.raises(CheckpointError, match=prefix + match):
        trainer.fit(X, y, val, resume_from=path)
    if case != "callback state":  # the callbacks' states are checked by the callbacks
        for p, q in zip(before, trainer.network.get_params(), strict=True):
            np.testing.assert_array_equal(p, q)  # refused before anything was taken


def test_the_untouched_checkpoint_still_resumes(data, paused):
    X, y, val = data
    trainer = make_trainer()
    trainer.fit(X, y, val, resume_from=paused)
    assert len(trainer.history) == 4


def test_without_shuffling_the_order_must_be_the_identity(data, tmp_path):
    X, y, val = data
    path = tmp_path / "c.npz"
    with pytest.raises(KeyboardInterrupt):
        make_trainer(StopAt(1, 2), Checkpoint(path, every=100), shuffle=False).fit(X, y, val)
    state = read_checkpoint(path)
    state["position"]["order"] = state["position"]["order"][::-1].copy()
    write_checkpoint(path, state)
    with pytest.raises(CheckpointError, match=r"its position.order is not 0..94"):
        make_trainer(shuffle=False).fit(X, y, val, resume_from=path)


def test_resume_checks_the_parameters_against_the_sizes_before_building(
    data, paused, tmp_path, monkeypatch
):
    import nndl.training as training

    X, y, val = data
    state = read_checkpoint(paused)
    state["network"]["config"]["sizes"] = [6, 100_000, 3]
    path = write_checkpoint(tmp_path / "c.npz", state)
    monkeypatch.setattr(training.Network, "from_config", None)  # must not be reached
    with pytest.raises(CheckpointError, match=r"do not have the shapes of its layer sizes"):
        training.resume(path, X, y, val)


def test_a_tampered_learning_rate_is_one_line_from_the_command_line(tmp_path):
    run = tmp_path / "run"
    proc = nndl_limited(
        "train", "--dataset", "digits", "--hidden", 10, "--epochs", 1, "-q", "--no-plot",
        "--checkpoint-every", 1, "--out", run, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    state = read_checkpoint(run / "checkpoint.npz")
    state["learning_rate"] = -1.0
    write_checkpoint(run / "checkpoint.npz", state)
    proc = nndl_limited(
        "train", "--resume", run / "checkpoint.npz", "--epochs", 2, "-q", "--overwrite",
        cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(proc, "its learning_rate is invalid")
