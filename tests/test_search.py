"""Hyper-parameter search on Optuna (nndl.search): spaces, samplers, pruning, failures, outputs."""

import csv
import json
import math

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from nndl import Network, TrainConfig, fit  # noqa: E402
from nndl.callbacks import Callback  # noqa: E402
from nndl.search import (  # noqa: E402
    Objective,
    ParamSpec,
    PruningCallback,
    SearchSpace,
    best_config,
    build_configs,
    create_study,
    dashboard_command,
    make_sampler,
    make_storage,
    run_search,
    run_worker,
)


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    X = X / 16.0
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    return (X[:600], y[:600]), (X[600:900], y[600:900]), (X[900:1200], y[900:1200])


SPACE = {
    "params": {
        "learning_rate": {
            "type": "float",
            "low": 0.05,
            "high": 5.0,
            "log": True,
            "grid": [0.1, 2.0],
        },
        "l2": {"type": "float", "low": 0.0, "high": 2.0, "grid": [0.0, 1.0]},
        "hidden_sizes": [[10], [16, 8]],
        "epochs": 3,
    }
}


# ------------------------------------------------------------------ space
def test_space_from_toml_and_json_files(tmp_path):
    toml = tmp_path / "space.toml"
    toml.write_text(
        """
[params]
eta = {type = "float", low = 0.01, high = 10.0, log = true}
lmbda = {type = "float", low = 0.1, high = 100.0, log = true}
mini_batch_size = [10, 20, 50]
hidden = [[30], [100]]
activation = ["sigmoid", "relu"]
epochs = 5

[pruning]
n_startup_trials = 3
"""
    )
    space = SearchSpace.from_file(toml)
    assert set(space.params) == {
        "learning_rate",
        "l2",
        "mini_batch_size",
        "hidden_sizes",
        "hidden_activation",
    }
    assert space.fixed == {"epochs": 5}
    assert space.pruning == {"n_startup_trials": 3}
    js = tmp_path / "space.json"
    js.write_text(json.dumps(space.to_dict()))
    assert SearchSpace.from_file(js).to_dict() == space.to_dict()


def test_fixed_architecture_versus_choices():
    fixed = SearchSpace.from_dict({"params": {"hidden_sizes": [100, 30], "learning_rate": [1.0]}})
    assert fixed.fixed["hidden_sizes"] == [100, 30]
    choice = SearchSpace.from_dict({"params": {"hidden_sizes": [[100, 30], [30]]}})
    spec = choice.params["hidden_sizes"]
    assert spec.grid_values() == ["[100, 30]", "[30]"]  # Optuna stores scalars only
    assert choice.options({"hidden_sizes": "[100, 30]"})["hidden_sizes"] == [100, 30]


@pytest.mark.parametrize(
    "doc, err, match",
    [
        ({"params": {"learning_rte": 1.0}}, ValueError, "unknown search space option"),
        ({"params": {}}, ValueError, "non-empty 'params'"),
        ({"params": {"l2": 1.0}, "extra": {}}, ValueError, "unknown search space section"),
        ({"params": {"l2": {"low": 0, "high": 1}}}, ValueError, "needs type float"),
        (
            {"params": {"l2": {"type": "float", "low": 0, "high": 1, "log": True}}},
            ValueError,
            "log scale needs low > 0",
        ),
        ({"params": {"l2": {"type": "float", "low": 2, "high": 1}}}, ValueError, "low <= high"),
        ({"params": {"epochs": {"type": "int", "low": 1.5, "high": 3}}}, ValueError, "integer low"),
        ({"params": {"l2": [1.0, 1.0]}}, ValueError, "repeated"),
        (
            {"params": {"l2": {"type": "float", "low": 0, "high": 1, "grid": [2.0]}}},
            ValueError,
            "outside",
        ),
        ({"params": {"hidden_sizes": [[3]], "hidden_units": 3}}, ValueError, "not both"),
        (
            {"params": {"learning_rate": [-1.0, 1.0]}},
            ValueError,
            "learning_rate must be a finite number > 0",
        ),
        (
            {"params": {"hidden_activation": ["sigmoid", "softplus"]}},
            ValueError,
            "unknown network.hidden_activation 'softplus'",
        ),
        ({"params": {"momentum": [0.5, 1.0]}}, ValueError, "momentum must be"),
        (
            {"params": {"l2": 1.0}, "pruning": {"patience": 3}},
            ValueError,
            "unknown pruning setting",
        ),
        ({"params": {"l2": "x"}}, TypeError, "l2 must be a finite number"),
    ],
)
def test_bad_spaces_are_refused_naming_the_option(doc, err, match):
    with pytest.raises(err, match=match):
        SearchSpace.from_dict(doc)


def test_grid_values_and_containment():
    assert ParamSpec.from_value(
        "epochs", {"type": "int", "low": 2, "high": 8, "step": 3}
    ).grid_values() == [2, 5, 8]
    f = ParamSpec.from_value("l2", {"type": "float", "low": 0.0, "high": 1.0, "step": 0.5})
    assert f.grid_values() == [0.0, 0.5, 1.0]
    cont = ParamSpec.from_value("l2", {"type": "float", "low": 0.0, "high": 1.0})
    with pytest.raises(ValueError, match="l2 is a continuous range: give it a 'grid'"):
        cont.grid_values()
    assert cont.contains(0.5) and not cont.contains(1.5)
    space = SearchSpace.from_dict(SPACE)
    assert space.contains({"learning_rate": 0.3, "l2": 0.0, "hidden_sizes": "[10]"})
    assert not space.contains({"learning_rate": 9.0, "l2": 0.0, "hidden_sizes": "[10]"})
    assert not space.contains({"learning_rate": 0.3, "l2": 0.0, "hidden_sizes": "[11]"})
    assert len(space.grid()["learning_rate"]) == 2


def test_build_configs_maps_options_onto_network_and_training():
    net, train, patience = build_configs(
        {
            "hidden_units": 20,
            "hidden_layers": 2,
            "eta": 0.3,
            "momentum": 0.5,
            "dropout": 0.1,
            "early_stopping": 4,
            "seed": 9,
        },
        64,
        10,
    )
    assert net.sizes == [64, 20, 20, 10] and net.dropout == 0.1
    assert train["learning_rate"] == 0.3 and "optimizer" not in train
    assert TrainConfig.from_dict(train).optimizer == "momentum"  # implied by the momentum
    assert train["seed"] == 9 and patience == 4
    TrainConfig.from_dict(train)  # accepted as is


# --------------------------------------------------------- end to end
def _check_outputs(result, out, space, digits):
    train, val, test = digits
    doc = json.loads((out / "best_config.json").read_text())
    # the best configuration, read as nndl train reads it, re-trains to the value found
    from nndl.config import read_config

    cfg = read_config(out / "best_config.json")
    net = Network.from_config(cfg["network"], seed=cfg["training"]["seed"])
    hist = fit(net, *train, validation_data=val, **cfg["training"])
    assert hist["val_accuracy"][-1] == result.best_value
    assert result.retrained_val_accuracy == result.best_value
    assert doc["network"]["sizes"][0] == 64 and doc["network"]["sizes"][-1] == 10
    # the test set is used once, for the best trial, and reported apart
    assert result.test_accuracy == pytest.approx(net.accuracy(*test))
    report = json.loads((out / "report.json").read_text())
    assert report["test_accuracy"] == result.test_accuracy
    with open(out / "trials.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(result.counts.values())
    assert {r["state"] for r in rows} <= {"COMPLETE", "PRUNED", "FAIL"}
    assert (out / "optimization_history.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "best_model.json").exists()
    assert result.best_options["epochs"] == 3
    assert space.contains(result.best_params)


@pytest.mark.parametrize("sampler", ["grid", "random", "tpe"])
def test_search_end_to_end_with_each_sampler(sampler, digits, tmp_path):
    train, val, test = digits
    space = SearchSpace.from_dict(SPACE)
    n_trials = None if sampler == "grid" else 6
    result = run_search(
        space,
        train,
        val,
        test=test,
        sampler=sampler,
        n_trials=n_trials,
        seed=0,
        out=tmp_path,
        verbose=False,
        data={"dataset": "digits"},
    )
    finished = sum(result.counts.values())
    assert finished == (8 if sampler == "grid" else 6)
    _check_outputs(result, tmp_path, space, digits)
    if sampler == "grid":  # every grid point visited once
        with open(tmp_path / "trials.csv", newline="") as fh:
            points = {
                (r["param_learning_rate"], r["param_l2"], r["param_hidden_sizes"])
                for r in csv.DictReader(fh)
            }
        assert len(points) == 8


def test_gp_sampler_where_available(digits, monkeypatch):
    import importlib.util

    space = SearchSpace.from_dict(SPACE)
    if importlib.util.find_spec("torch") is None:
        with pytest.raises(ValueError, match="gp sampler needs PyTorch"):
            make_sampler("gp", space, 0)
        return
    train, val, _ = digits
    result = run_search(
        space, train, val, sampler="gp", n_trials=3, seed=0, verbose=False, report=False
    )
    assert result.counts == {"COMPLETE": 3}


def test_unknown_sampler_and_bad_arguments(digits, tmp_path):
    train, val, _ = digits
    with pytest.raises(ValueError, match="unknown sampler 'bayes'"):
        run_search(SPACE, train, val, sampler="bayes", n_trials=1)
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        run_search(SPACE, train, val, workers=0, n_trials=1)
    with pytest.raises(ValueError, match="n_trials must be an integer >= 0"):
        run_search(SPACE, train, val, n_trials=-1)
    with pytest.raises(ValueError, match="give n_trials or a timeout"):
        run_search(SPACE, train, val, n_trials=None, sampler="random")
    with pytest.raises(ValueError, match="several workers need a shared storage"):
        run_search(SPACE, train, val, workers=2, n_trials=2)
    with pytest.raises(ValueError, match="continuous range"):
        run_search(
            {"params": {"l2": {"type": "float", "low": 0, "high": 1}}},
            train,
            val,
            sampler="grid",
            n_trials=1,
        )
    with pytest.raises(TypeError, match="validation must be a pair"):
        run_search(SPACE, train, val[0], n_trials=1)


# ------------------------------------------------------------- pruning
class _FakeTrial:
    def __init__(self, prune_at):
        self.prune_at, self.reports, self.user_attrs = prune_at, [], {}

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return len(self.reports) - 1 >= self.prune_at

    def set_user_attr(self, k, v):
        self.user_attrs[k] = v


def test_pruning_callback_reports_every_epoch_and_stops(digits):
    train, val, _ = digits
    trial = _FakeTrial(prune_at=2)
    net = Network([64, 10, 10], seed=0)
    with pytest.raises(optuna.TrialPruned, match="at epoch 3"):
        fit(net, *train, validation_data=val, epochs=10, seed=0, callbacks=[PruningCallback(trial)])
    assert [s for s, _ in trial.reports] == [0, 1, 2]
    assert trial.user_attrs["pruned_at_epoch"] == 3  # the third epoch, as the console counts
    quiet = _FakeTrial(prune_at=0)
    fit(
        Network([64, 10, 10], seed=0),
        *train,
        validation_data=val,
        epochs=3,
        seed=0,
        callbacks=[PruningCallback(quiet, prune=False)],
    )
    assert len(quiet.reports) == 3


def test_median_pruner_prunes_poor_trials(digits):
    train, val, _ = digits
    space = {
        "params": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 3.0, "log": True},
            "hidden_sizes": [10],
            "epochs": 4,
        },
        "pruning": {"n_startup_trials": 2, "n_warmup_steps": 0},
    }
    result = run_search(
        space, train, val, sampler="random", n_trials=12, seed=1, verbose=False, report=False
    )
    assert result.counts.get("PRUNED", 0) >= 1
    assert result.counts.get("COMPLETE", 0) >= 2


# ----------------------------------------------------- failure isolation
class _Boom(Callback):
    """Raises in the first trial it sees only."""

    def __init__(self):
        self.fired = False

    def on_epoch_end(self, trainer, epoch, logs):
        if not self.fired:
            self.fired = True
            raise RuntimeError("injected failure")


def test_a_failing_trial_fails_alone(digits):
    train, val, _ = digits
    study = run_worker(
        SPACE,
        train,
        val,
        study_name="boom",
        n_trials=3,
        sampler="random",
        seed=0,
        pruning=False,
        callbacks=[_Boom()],
        verbose=False,
    )
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "COMPLETE", "COMPLETE"]
    assert study.trials[0].user_attrs["error"] == "RuntimeError: injected failure"


def test_a_diverging_trial_fails_alone(digits):
    train, val, _ = digits
    space = {
        "params": {
            "learning_rate": {"type": "float", "low": 0.1, "high": 1e9, "grid": [1e9, 0.5]},
            "hidden_activation": "linear",
            "epochs": 2,
        }
    }
    study = run_worker(
        space,
        train,
        val,
        study_name="div",
        n_trials=None,
        sampler="grid",
        seed=0,
        pruning=False,
        verbose=False,
    )
    by_lr = {t.params["learning_rate"]: t for t in study.trials}
    assert by_lr[1e9].state.name == "FAIL"
    assert "DivergenceError" in by_lr[1e9].user_attrs["error"]
    assert by_lr[0.5].state.name == "COMPLETE"


def test_a_nan_objective_fails_the_trial(digits, monkeypatch):
    import nndl.search.objective as objective_mod

    class _NanHistory:
        def __getitem__(self, key):
            return [math.nan]

        def __len__(self):
            return 1

    monkeypatch.setattr(
        objective_mod, "train_with_options", lambda *a, **k: (None, _NanHistory(), math.nan)
    )
    train, val, _ = digits
    study = optuna.create_study(direction="maximize")
    study.optimize(Objective(SPACE, train, val), n_trials=2, catch=(Exception,))
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL"]
    assert "val_accuracy is nan" in study.trials[0].user_attrs["error"]


# ------------------------------------------------------ study, storage
def test_study_is_created_once_and_checks_its_space(tmp_path):
    path = tmp_path / "study.journal"
    a = create_study("s", make_storage(path), SPACE)
    b = create_study("s", make_storage(f"journal:{path}"), SPACE)
    assert a._study_id == b._study_id
    other = {"params": {**SPACE["params"], "epochs": 4}}
    with pytest.raises(ValueError, match="exists with a different search space"):
        create_study("s", make_storage(path), other)


def test_rdb_storage_has_a_heartbeat(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    storage = make_storage(url, heartbeat_interval=5, grace_period=11, max_retry=2)
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert storage.heartbeat_interval == 5 and storage.grace_period == 11
    assert storage.failed_trial_callback is not None
    assert make_storage(None) is None
    with pytest.raises(ValueError, match="storage is empty"):
        make_storage("  ")


def test_the_documented_postgresql_url_has_its_driver():
    """README's postgresql://user@host/db needs the driver SQLAlchemy picks for it
    (psycopg 3), which the postgres extra (in dev) installs."""
    from pathlib import Path

    from nndl.search.storage import _database_url

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "postgresql://user@host/db" in readme
    url, shown = _database_url("postgresql://user@host/db")
    assert url.get_dialect().import_dbapi() is not None
    assert shown == "postgresql://user@host/db"
    _, shown = _database_url("postgresql://user:secret@host/db")
    assert "secret" not in shown


def _refused_in_one_line(storage, tmp_path):
    """The message of the error make_storage gives for ``storage``, checked to be one line."""
    with pytest.raises((ValueError, ImportError, OSError)) as info:
        make_storage(storage)
    assert type(info.value).__module__ == "builtins"  # not SQLAlchemy's, not Optuna's
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    return message


def test_storage_urls_that_cannot_work_are_refused_in_one_line(tmp_path):
    message = _refused_in_one_line("bogus://x", tmp_path)
    assert "'bogus://x'" in message and "unknown database 'bogus'" in message
    assert "postgresql://user@host/db" in message and "journal file" in message
    assert "not a database URL" in _refused_in_one_line("not a url://x", tmp_path)
    import importlib.util

    if importlib.util.find_spec("MySQLdb") is None:
        message = _refused_in_one_line("mysql://u:pw@db.example/x", tmp_path)
        assert "needs the database driver 'mysqldb'" in message
        assert "pip install mysqlclient" in message and "mysql+pymysql://" in message
        assert "pw" not in message  # the password is hidden
    if importlib.util.find_spec("psycopg") is not None:
        # Nothing listens on port 1: refused at once, with the driver's reason.
        message = _refused_in_one_line("postgresql://u@127.0.0.1:1/db", tmp_path)
        assert message.startswith("cannot open storage 'postgresql://u@127.0.0.1:1/db'")
    afile = tmp_path / "afile"
    afile.write_text("")
    message = _refused_in_one_line(str(afile / "study.journal"), tmp_path)
    assert message.startswith(f"cannot write the journal file {afile / 'study.journal'}")
    message = _refused_in_one_line(f"journal:{tmp_path}", tmp_path)  # a folder
    assert "cannot write the journal file" in message
    message = _refused_in_one_line(f"sqlite:///{afile}/db.sqlite", tmp_path)
    assert "cannot create its folder" in message


def test_a_sqlite_file_in_a_missing_folder_is_created(tmp_path):
    url = f"sqlite:///{tmp_path / 'new' / 'folder' / 'db.sqlite'}"
    create_study("s", make_storage(url), SPACE)
    assert (tmp_path / "new" / "folder" / "db.sqlite").exists()


def test_search_command_refuses_a_bad_storage_before_loading_data(tmp_path):
    from click.testing import CliRunner

    from nndl.cli.search import search

    space = tmp_path / "space.toml"
    space.write_text("[params]\nlearning_rate = [0.5]\nepochs = 1\n")
    res = CliRunner().invoke(
        search, ["--config", str(space), "--dataset", "digits", "--storage", "bogus://x"]
    )
    assert res.exit_code == 1
    assert "Traceback" not in res.output and "data:" not in res.output
    (line,) = res.output.strip().splitlines()
    assert "unknown database 'bogus'" in line


def test_an_in_memory_database_is_refused_for_several_workers(digits):
    train, val, _ = digits
    for url in ("sqlite://", "sqlite:///", "sqlite:///:memory:"):
        with pytest.raises(ValueError, match="in-memory database, which worker processes"):
            run_search(SPACE, train, val, storage=url, workers=2, n_trials=0, report=False)
    with pytest.raises(ValueError, match="names no journal file"):
        make_storage("journal:")


def test_sqlite_with_several_workers_warns(digits, tmp_path):
    train, val, _ = digits
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with pytest.warns(UserWarning, match="SQLite does not handle several writers"):
        run_search(
            SPACE, train, val, storage=url, workers=2, n_trials=0, report=False, verbose=False
        )


def test_dashboard_command():
    assert dashboard_command("postgresql://u@h/db") == "optuna-dashboard postgresql://u@h/db"
    assert dashboard_command("journal:/x/s.journal") == "optuna-dashboard /x/s.journal"
    assert dashboard_command(None) is None


def test_best_config_is_a_run_configuration():
    from nndl.config import normalize

    doc = best_config(
        {"learning_rate": 0.3, "hidden_sizes": [20]},
        64,
        10,
        data={"dataset": "digits", "train_size": None},
    )
    assert doc["format"] == "nndl-run-config"
    sections = normalize(doc)
    assert sections["network"]["sizes"] == [64, 20, 10]
    assert sections["data"] == {"dataset": "digits"}


# ------------------------------------------------------------------ CLI
def test_search_command(tmp_path):
    data = pytest.importorskip("nndl.data")
    if not hasattr(data, "load_dataset"):
        pytest.skip("nndl.data.load_dataset is not available")
    from click.testing import CliRunner

    from nndl.cli.search import search

    space = tmp_path / "space.toml"
    space.write_text(
        '[params]\nlearning_rate = {type = "float", low = 0.1, high = 3.0, log = true}\n'
        "epochs = 2\nhidden_sizes = [10]\n"
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        search,
        [
            "--config",
            str(space),
            "--dataset",
            "digits",
            "--n-trials",
            "3",
            "--sampler",
            "random",
            "--seed",
            "0",
            "--out",
            str(out),
            "--train-size",
            "300",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "test accuracy of the best configuration" in res.output
    assert res.output.count("COMPLETE") + res.output.count("PRUNED") >= 3
    doc = json.loads((out / "best_config.json").read_text())
    assert doc["data"] == {"dataset": "digits", "train_size": 300}
    bad = tmp_path / "bad.toml"
    bad.write_text("[params]\nlearning_rte = 1.0\n")
    res = CliRunner().invoke(search, ["--config", str(bad), "--dataset", "digits"])
    assert res.exit_code == 1
    assert "unknown search space option 'learning_rte'" in res.output
    assert "Traceback" not in res.output


def test_search_command_takes_jobs_with_workers_and_n_jobs_as_other_names(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from click.testing import CliRunner

    import nndl.search
    from nndl.cli.search import search

    asked = {}

    def fake_search(*args, **kwargs):
        asked.update(kwargs)
        return SimpleNamespace(summary=lambda: "done", files={}, best_value=0.5)

    monkeypatch.setattr(nndl.search, "run_search", fake_search)
    space = tmp_path / "space.toml"
    space.write_text("[params]\nlearning_rate = [0.5]\nepochs = 1\n")
    cases = [(["--jobs", "3"], 3), (["--workers", "2"], 2), (["--n-jobs", "4"], 4), ([], 1)]
    for args, workers in cases:
        res = CliRunner().invoke(search, ["--config", str(space), "--dataset", "digits", *args])
        assert res.exit_code == 0, res.output
        assert asked["workers"] == workers  # 1 by default: only one worker repeats a seed
        assert f"on {workers} worker(s)" in res.output
    res = CliRunner().invoke(search, ["--config", str(space), "--jobs", "0"])
    assert res.exit_code == 2 and "Invalid value for '--jobs'" in res.output
    assert "only one worker repeats a seeded search" in " ".join(
        CliRunner().invoke(search, ["--help"]).output.split()
    )


def _blas_threads_of_this_worker(study, trial):
    """A study callback, in a worker process: write its BLAS libraries' thread counts."""
    import os
    from pathlib import Path

    from threadpoolctl import threadpool_info

    folder = Path(os.environ["NNDL_TEST_BLAS_THREADS"])
    counts = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    (folder / f"{os.getpid()}.json").write_text(json.dumps(counts))


def test_each_worker_process_has_one_blas_thread(digits, tmp_path, monkeypatch):
    pytest.importorskip("threadpoolctl")
    train, val, _ = digits
    # Even where the environment asks for more, as the job layer's workers.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("NNDL_TEST_BLAS_THREADS", str(tmp_path))
    space = {"params": {"learning_rate": [0.5], "epochs": 1, "hidden_sizes": [[8]]}}
    run_search(
        space,
        train,
        val,
        storage=tmp_path / "study.journal",
        workers=2,
        n_trials=2,
        sampler="random",
        report=False,
        verbose=False,
        study_callbacks=[_blas_threads_of_this_worker],
    )
    counts = [json.loads(f.read_text()) for f in tmp_path.glob("*.json")]
    assert len(counts) == 2 and all(counts)  # two workers, each with its BLAS library
    assert all(n == 1 for worker in counts for n in worker)


def test_early_stopping_option(digits, tmp_path):
    import warnings

    train, val, _ = digits
    space = {
        "params": {"learning_rate": [0.5], "epochs": 30, "early_stopping": 2, "hidden_sizes": [10]}
    }
    study = run_worker(
        space, train, val, study_name="es", n_trials=1, sampler="grid", pruning=False, verbose=False
    )
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE"
    # stopped early, and the value is the best epoch's (restored) accuracy
    assert trial.user_attrs["epochs_run"] < 30
    assert trial.value == pytest.approx(max(trial.intermediate_values.values()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        doc = best_config(trial.user_attrs["options"], 64, 10)
    assert doc["control"] == {"early_stopping": 2}
    # nndl train reads it back, early stopping included.
    from nndl.callbacks import control_callbacks
    from nndl.cli import resolve_run_config

    cfg = resolve_run_config({}, _write_json(tmp_path / "best.json", doc))
    (stopper,) = control_callbacks(cfg["control"])
    assert type(stopper).__name__ == "EarlyStopping" and stopper.patience == 2


def _write_json(path, doc):
    path.write_text(json.dumps(doc))
    return path
