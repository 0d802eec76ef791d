"""``nndl train``'s training-control and data-expansion options, and
``nndl data expand``, end to end in real processes on the 8x8 digits.
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nndl import load
from test_cli import FAST, assert_one_line_error, nndl

SMALL = [*FAST, "--hidden", "20", "--seed", "3"]


def _weights(out: Path) -> list[np.ndarray]:
    net = load(out / "model.json")
    return [*net.weights, *net.biases]


def _ok(proc):
    assert proc.returncode == 0, proc.stderr
    return proc


def test_control_options_write_their_files_and_settings(tmp_path):
    out = tmp_path / "run"
    _ok(
        nndl(
            "train",
            *FAST[:2],
            "--hidden",
            "20",
            "--seed",
            "3",
            "--epochs",
            "4",
            "--schedule",
            "plateau",
            "--plateau-patience",
            "1",
            "--early-stopping",
            "3",
            "--monitor-every",
            "25",
            "--monitor-subset",
            "100",
            "--diagnostics",
            "--out",
            out,
        )
    )
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["control"] == {
        "schedule": "plateau",
        "plateau_patience": 1,
        "early_stopping": 3,
        "monitor_every": 25,
        "monitor_subset": 100,
        "diagnostics": True,
    }
    history = json.loads((out / "history.json").read_text())
    # The diagnostics of both layers, every epoch; the learning rate in force.
    for key in ("sat_1", "sat_2", "mean_prime_1", "w_norm_1", "grad_norm_2"):
        assert len(history[key]) == len(history["epoch"]), key
    assert "learning_rate" in history
    assert (out / "diagnostics.png").stat().st_size > 1000
    with open(out / "batches.csv") as f:
        rows = list(csv.DictReader(f))
    n_batches = -(-1079 // 10)  # the digits' training set, mini-batches of 10
    assert len(rows) == (len(history["epoch"]) * n_batches) // 25
    assert {"step", "learning_rate", "val_accuracy"} <= set(rows[0])


def test_a_config_file_control_section_is_read(tmp_path):
    conf = tmp_path / "run.toml"
    conf.write_text('[control]\nschedule = "step:2:0.1"\n')
    out = tmp_path / "run"
    _ok(nndl("train", *SMALL, "--epochs", "3", "--config", conf, "--out", out, "-q"))
    history = json.loads((out / "history.json").read_text())
    assert history["learning_rate"] == pytest.approx([0.5, 0.5, 0.05])


def _straight_and_resumed(tmp_path, *extra):
    """The same run straight through, and stopped after epoch 2 then resumed."""
    straight = tmp_path / "straight"
    _ok(nndl("train", *SMALL, "--epochs", "5", *extra, "--out", straight, "-q"))
    conf = tmp_path / "ckpt.toml"
    conf.write_text('[control]\ncheckpoint_every = 1\ncheckpoint_path = "ckpt-{epoch}.npz"\n')
    first = tmp_path / "first"
    _ok(nndl("train", *SMALL, "--epochs", "5", *extra, "--config", conf, "--out", first, "-q"))
    # Only the checkpoint of epoch 2 and its settings go to a fresh folder.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copy(first / "ckpt-2.npz", resumed / "ckpt-2.npz")
    shutil.copy(first / "config.json", resumed / "config.json")
    proc = _ok(nndl("train", "--resume", resumed / "ckpt-2.npz", "--no-plot", "-q"))
    return straight, first, resumed, proc


def test_resume_from_a_checkpoint_ends_bitwise_equal(tmp_path):
    straight, first, resumed, _ = _straight_and_resumed(tmp_path)
    for a, b, c in zip(_weights(straight), _weights(first), _weights(resumed), strict=True):
        assert np.array_equal(a, b)
        assert np.array_equal(a, c)
    h1 = json.loads((straight / "history.json").read_text())
    h2 = json.loads((resumed / "history.json").read_text())
    assert h1["val_accuracy"] == h2["val_accuracy"]


def test_resume_with_augmentation_and_a_schedule_is_exact_between_epochs(tmp_path):
    straight, _, resumed, _ = _straight_and_resumed(
        tmp_path, "--augment", "shift", "--schedule", "exp:0.9"
    )
    for a, c in zip(_weights(straight), _weights(resumed), strict=True):
        assert np.array_equal(a, c)


def test_resume_with_another_configuration_is_refused(tmp_path):
    _, first, _, _ = _straight_and_resumed(tmp_path)
    proc = nndl("train", "--resume", first / "ckpt-2.npz", "--eta", "0.1", "--out", tmp_path / "x")
    assert_one_line_error(proc, "ckpt-2.npz", "learning_rate")
    bad = tmp_path / "bad.npz"
    bad.write_bytes((first / "ckpt-2.npz").read_bytes()[:500])
    shutil.copy(first / "config.json", tmp_path / "config.json")
    assert_one_line_error(nndl("train", "--resume", bad), "bad.npz")


def test_ctrl_c_writes_a_checkpoint_that_resumes_to_the_straight_run(tmp_path):
    epochs = "400"
    straight = tmp_path / "straight"
    _ok(nndl("train", *SMALL, "--epochs", epochs, "--out", straight, "-q"))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nndl.cli", "train", *SMALL, "--epochs", epochs, "--out", out],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().startswith("Training")
        assert proc.stdout.readline().startswith(f"Epoch 1/{epochs}")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    ckpt = out / "checkpoint.npz"
    assert f"nndl train --resume {ckpt}" in stderr
    done = json.loads((out / "results.json").read_text())["epochs_completed"]
    assert 1 <= done < int(epochs)
    _ok(nndl("train", "--resume", ckpt, "--no-plot", "-q"))
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "complete" and results["epochs_completed"] == int(epochs)
    for a, b in zip(_weights(straight), _weights(out), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--schedule", "sometimes"], "schedule"),
        (["--early-stopping", "5", "--early-stopping-rule", "gl:x"], "early-stopping rule"),
        (["--plateau-factor", "0.5"], "--plateau-factor"),
        (["--augment", "rotate:90"], "rotat"),
        (["--expand", "twirl"], "twirl"),
        (["--augment-fraction", "0.5"], "--augment"),
        (["--early-stopping", "-1"], "--early-stopping"),
    ],
)
def test_bad_control_and_expansion_options_are_refused_before_any_data(tmp_path, args, needle):
    # A data folder that does not exist: the options must be refused first.
    proc = nndl("train", *args, "--data-dir", tmp_path / "nothing", "--out", tmp_path / "o")
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "o").exists()


def test_data_expand_caches_the_set_that_train_expand_uses(tmp_path):
    data_dir = tmp_path / "cache"
    proc = _ok(
        nndl(
            "data",
            "expand",
            "--dataset",
            "digits",
            "--data-dir",
            data_dir,
            "--preview",
            tmp_path / "sheet.png",
            "--preview-n",
            "4",
        )
    )
    assert "1079 training images -> 5395" in proc.stdout
    cached = list((data_dir / "expanded").glob("expanded-shifts-*.npz"))
    assert len(cached) == 1
    assert (tmp_path / "sheet.png").stat().st_size > 1000
    stamp = cached[0].stat().st_mtime_ns
    out = tmp_path / "run"
    _ok(
        nndl(
            "train",
            *SMALL,
            "--epochs",
            "1",
            "--expand",
            "shifts",
            "--data-dir",
            data_dir,
            "--out",
            out,
            "-q",
        )
    )
    assert json.loads((out / "results.json").read_text())["n_train"] == 5395
    assert cached[0].stat().st_mtime_ns == stamp  # read from the cache, not rebuilt


def test_data_expand_with_a_recipe_to_a_file(tmp_path):
    from nndl.data.expand import load_expanded

    target = tmp_path / "exp.npz"
    _ok(
        nndl(
            "data",
            "expand",
            "--dataset",
            "digits",
            "--recipe",
            "rotate:10,elastic:8:2",
            "--copies",
            "2",
            "--seed",
            "7",
            "--no-original",
            "--out",
            target,
        )
    )
    X, y, meta = load_expanded(target)
    assert X.shape == (2 * 1079, 64) and y.shape == (2 * 1079,)
    assert meta["seed"] == 7 and meta["copies"] == 2 and meta["include_original"] is False
