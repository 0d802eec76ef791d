"""The experiments' shared modules, every experiment's quick run, and the CLI commands.

The quick runs use scikit-learn's 8x8 digits (no download): the same code
path as the full reproductions on a small slice with few epochs. They check
that every experiment runs, writes its JSON and PNG files and prints its
table; they never check the book's numbers (tests/test_experiments_full.py
does, marked slow).
"""

from __future__ import annotations

import io
import json
import math
import time

import numpy as np
import pytest

from nndl.experiments import (
    EXPERIMENTS,
    ExperimentRun,
    ExperimentSettings,
    Settings,
    availability,
    get_experiment,
    run_all,
    run_experiment,
    training_plan,
)
from nndl.experiments.background import BackgroundJob
from nndl.experiments.data_source import resolve_data_source
from nndl.experiments.more_data import fit_power_law, predict_power_law
from nndl.experiments.progress import RunProgress, format_duration
from nndl.experiments.statistics import summarize, t_quantile, welch_test
from nndl.experiments.tables import format_value

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
QUICK_DIR = "nndl-quick-results"


def quick_results(tmp_path_factory) -> tuple:
    """Every experiment's quick run, once per session (test_report.py reuses the folder)."""
    out = tmp_path_factory.getbasetemp() / QUICK_DIR
    log = out / "printed.txt"
    if not (out / "summary.json").exists():
        buf, progress_log = io.StringIO(), io.StringIO()
        progress = RunProgress(progress_log, terminal=False)
        settings = ExperimentSettings(
            quick=True, data="digits", seeds=1, out=out, stream=buf, progress=progress
        )
        run = run_all(settings)
        log.write_text(buf.getvalue(), encoding="utf-8")
        (out / "progress.txt").write_text(progress_log.getvalue(), encoding="utf-8")
        assert not run["errors"], run["errors"]
        assert not run["unavailable"], run["unavailable"]
    return out, log.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return quick_results(tmp_path_factory)


# ------------------------------------------------------------------ quick runs
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_quick_run_writes_results_figures_and_table(quick, name):
    out, printed = quick
    res = json.loads((out / name / "results.json").read_text())
    assert res["name"] == name and res["quick"] is True
    assert res["error"] is None
    assert res["checks"], "an experiment states at least one result"
    assert res["wall_time_s"] > 0
    assert res["settings"]["quick"] is True and res["seeds"] == [0]
    # Quick runs are never judged against the book.
    assert all(c["passed"] is None for c in res["checks"])
    assert res["figures"], "every experiment draws at least one figure"
    for fig in res["figures"]:
        data = (out / name / fig["file"]).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 2000
    # No temporary files left behind by the atomic writes.
    assert not [p for p in (out / name).iterdir() if p.name.endswith(".tmp")]
    # The printed table: a header per experiment and a row per check.
    assert f"== {name}: " in printed
    block = printed.split(f"== {name}: ", 1)[1]
    assert "verdict (tolerance)" in block.splitlines()[1]
    assert res["checks"][0]["label"].split()[0] in block


def test_run_all_summary(quick):
    out, _ = quick
    summary = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in summary["experiments"]] == list(EXPERIMENTS)
    assert summary["errors"] == {} and summary["wall_time_s"] > 0
    assert all(r["failed"] == 0 for r in summary["experiments"])


def test_training_runs_are_recorded_per_epoch(quick):
    out, _ = quick
    res = json.loads((out / "overfitting" / "results.json").read_text())
    (run,) = res["runs"]["no regularization"]
    h = run["history"]
    assert len(h["val_accuracy"]) == len(h["loss"]) == run["epochs_run"] == 6
    assert run["network"]["initializer"] == "large"
    assert run["train"]["learning_rate"] == 0.5 and run["seed"] == 0


def test_seeds_give_statistics_and_comparisons(tmp_path):
    buf = io.StringIO()
    res = run_experiment(
        "dropout",
        ExperimentSettings(quick=True, data="digits", seeds=3, seed=5, out=tmp_path, stream=buf),
    )
    assert res["seeds"] == [5, 6, 7]
    m = res["metrics"]["none"]
    assert m["n"] == 3 and m["std"] is not None
    lo, hi = m["ci95"]
    assert lo < m["mean"] < hi
    comp = res["comparisons"][0]
    assert "Welch t-test" in comp["verdict"] and comp["test"]["df"] is not None
    assert "95% CI" in buf.getvalue() and "n=3" in buf.getvalue()
    # The three seeds are different runs.
    finals = [r["history"]["test_accuracy_every"][-1] for r in res["runs"]["dropout 0.5"]]
    weights_differ = len({round(v, 6) for v in finals}) > 1 or m["std"] > 0
    assert weights_differ


def test_same_seed_same_result(tmp_path):
    a = run_experiment(
        "learning_rate",
        ExperimentSettings(quick=True, data="digits", out=tmp_path / "a", verbose=False),
    )
    b = run_experiment(
        "learning_rate",
        ExperimentSettings(quick=True, data="digits", out=tmp_path / "b", verbose=False),
    )
    assert a["metrics"] == b["metrics"]


#: The experiments that train networks (slowdown and softmax compute without training).
TRAINING_EXPERIMENTS = [n for n in EXPERIMENTS if n not in ("slowdown", "softmax")]


@pytest.mark.parametrize("name", TRAINING_EXPERIMENTS)
def test_every_training_is_a_job_and_the_numbers_do_not_depend_on_jobs(tmp_path, monkeypatch, name):
    """Every training goes through the job layer (nndl.jobs), independent ones in one
    batch, and one job or two give the same numbers, recorded in the same order."""
    import nndl.jobs

    batches = []
    run_jobs = nndl.jobs.run_jobs

    def counting(jobs, *args, **kwargs):
        jobs = list(jobs)
        batches.append(len(jobs))
        return run_jobs(jobs, *args, **kwargs)

    monkeypatch.setattr(nndl.jobs, "run_jobs", counting)
    results = [
        run_experiment(
            name,
            ExperimentSettings(
                quick=True, data="digits", out=tmp_path / str(jobs), verbose=False, jobs=jobs
            ),
        )
        for jobs in (1, 2)
    ]
    assert results[0]["metrics"] == results[1]["metrics"]
    assert list(results[0]["runs"]) == list(results[1]["runs"])
    trainings = sum(len(runs) for runs in results[0]["runs"].values())
    assert trainings > 0
    assert sum(batches) == 2 * trainings, "a training ran outside the job layer"
    if trainings > 1:
        assert max(batches) > 1, "independent trainings ran one batch at a time"


def test_failed_experiment_keeps_partial_results(tmp_path, monkeypatch):
    mod = get_experiment("softmax").load()

    def broken(experiment):
        experiment.metric("something", 0.5)
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(mod, "run", broken)
    with pytest.raises(ZeroDivisionError):
        run_experiment("softmax", ExperimentSettings(quick=True, out=tmp_path, verbose=False))
    res = json.loads((tmp_path / "softmax" / "results.json").read_text())
    assert res["error"] == "ZeroDivisionError: boom"
    assert res["metrics"]["something"]["values"] == [0.5]
    # run_all records the error and carries on with the others.
    run = run_all(
        ExperimentSettings(quick=True, data="digits", out=tmp_path, verbose=False),
        ["softmax", "slowdown"],
    )
    assert "boom" in run["errors"]["softmax"] and "slowdown" in run["results"]


def test_unavailable_experiment_is_reported_not_faked(tmp_path, monkeypatch):
    mod = get_experiment("techniques").load()
    monkeypatch.setattr(mod, "REQUIRES", ("numpy:no_such_function",), raising=False)
    ok, why = availability("techniques")
    assert not ok and "no_such_function" in why
    with pytest.raises(RuntimeError, match="unavailable"):
        run_experiment("techniques", ExperimentSettings(quick=True, out=tmp_path, verbose=False))
    monkeypatch.setattr(mod, "REQUIRES", ("no_such_module_xyz",))
    assert availability("techniques")[0] is False
    run = run_all(ExperimentSettings(quick=True, out=tmp_path, verbose=False), ["techniques"])
    assert "techniques" in run["unavailable"]


def test_bad_names_and_settings():
    with pytest.raises(ValueError, match=r"unknown experiment 'nope'.*overfitting"):
        get_experiment("nope")
    with pytest.raises(ValueError, match="seeds must be an integer >= 1"):
        ExperimentSettings(seeds=0).validate()
    with pytest.raises(ValueError, match="data must be one of"):
        ExperimentSettings(data="cifar").validate()
    with pytest.raises(ValueError, match="dtype"):
        ExperimentSettings(dtype="float16").validate()


def test_auto_data_source(tmp_path, monkeypatch):
    monkeypatch.setenv("NNDL_DATA_DIR", str(tmp_path / "empty-cache"))
    assert resolve_data_source(ExperimentSettings(quick=True)) == "digits"
    assert resolve_data_source(ExperimentSettings(quick=False)) == "mnist"
    assert resolve_data_source(ExperimentSettings(quick=True, data="mnist")) == "mnist"


# --------------------------------------------------------------- statistics
def test_summarize_mean_std_and_t_interval():
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert s["mean"] == 2.5 and s["n"] == 4
    assert s["std"] == pytest.approx(math.sqrt(5 / 3))
    half = 3.182446305284263 * s["std"] / 2  # t_{0.975, 3}
    assert s["ci95"] == pytest.approx([2.5 - half, 2.5 + half], rel=1e-9)
    one = summarize([0.9])
    assert one["std"] is None and one["ci95"] is None


def test_t_quantile_table_matches_scipy(monkeypatch):
    exact = [t_quantile(df) for df in (1, 2, 5, 10, 30)]
    import builtins

    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError("scipy hidden for this test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    table = [t_quantile(df) for df in (1, 2, 5, 10, 30)]
    assert table == pytest.approx(exact, abs=1e-3)
    assert t_quantile(2.7) == pytest.approx(4.303)  # rounds df down: the wider interval
    assert t_quantile(500) == 1.96
    res = welch_test([1.0, 1.1, 0.9], [2.0, 2.2, 1.9])
    assert res["p"] is None and res["significant"] is True


def test_welch_test_against_scipy():
    from scipy import stats

    a = [0.951, 0.948, 0.955, 0.950]
    b = [0.962, 0.958, 0.965]
    res = welch_test(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert res["t"] == pytest.approx(ref.statistic)
    assert res["p"] == pytest.approx(ref.pvalue)
    assert res["significant"] is True
    assert res["ci95"][0] < res["diff"] < res["ci95"][1] < 0
    noisy = welch_test([0.95, 0.96, 0.94], [0.951, 0.949, 0.955])
    assert noisy["significant"] is False
    assert welch_test([0.9], [0.8])["significant"] is None


def _experiment_run(tmp_path, quick=False):
    settings = ExperimentSettings(out=tmp_path, quick=quick, verbose=False)
    return ExperimentRun("unit", "unit test", settings)


def test_check_close_and_compare_verdicts(tmp_path):
    experiment = _experiment_run(tmp_path)
    for v in (0.9540, 0.9552, 0.9561):
        experiment.metric("acc", v, unit="%")
    ok = experiment.check_close("acc", "acc", 95.49, 0.5)
    assert ok.passed is True and "within 0.5 points of the book's 95.49%" in ok.verdict
    bad = experiment.check_close("acc", "acc", 97.0, 0.5)
    assert bad.passed is False and bad.verdict.startswith("FAIL")
    floor = experiment.check_close("acc", "acc", 96.2, 0.5, at_least=True)
    assert floor.passed is False and "no more than 0.5 points below" in floor.verdict
    for v in (0.9700, 0.9712, 0.9705):
        experiment.metric("better", v, unit="%")
    comp = experiment.compare("better vs acc", "better", "acc")
    assert "better is better" in comp["verdict"] and "larger than the noise" in comp["verdict"]
    for v in (0.9541, 0.9555, 0.9549):
        experiment.metric("same", v, unit="%")
    assert "within the noise" in experiment.compare("same vs acc", "same", "acc")["verdict"]
    # In a quick run nothing is judged.
    q = _experiment_run(tmp_path, quick=True)
    q.metric("acc", 0.5, unit="%")
    assert q.check_close("acc", "acc", 95.49, 0.5).passed is None


def test_results_json_has_no_nan(tmp_path):
    experiment = _experiment_run(tmp_path)
    experiment.metric("x", float("nan"))
    experiment.set_config(weird=[np.float64("inf"), np.int64(3), np.bool_(True)])
    res = experiment.finish()
    text = (tmp_path / "unit" / "results.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert res["config"]["weird"] == [None, 3, True]


def test_format_value():
    assert format_value(0.95492, "%") == "95.49%"
    assert format_value(12) == "12"
    assert format_value(None) == "-"
    assert format_value(2.5e-5) == "2.5e-05"


# ---------------------------------------------------------- power-law fit
def test_power_law_fit_recovers_known_curve():
    sizes = [100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000]
    true = {"a": 0.02, "b": 3.0, "c": 0.55}
    acc = 1 - (true["a"] + true["b"] * np.asarray(sizes, dtype=float) ** -true["c"])
    fit = fit_power_law(sizes, acc)
    assert fit["a"] == pytest.approx(0.02, abs=2e-3)
    assert fit["c"] == pytest.approx(0.55, abs=0.02)
    assert fit["asymptotic_accuracy"] == pytest.approx(0.98, abs=2e-3)
    assert predict_power_law(fit, [50_000])[0] == pytest.approx(acc[-1], abs=1e-3)
    with pytest.raises(ValueError, match="at least 3 sizes"):
        fit_power_law([100, 200], [0.5, 0.6])


# --------------------------------------------------------- background jobs
def test_one_job_runs_the_svm_in_the_experiment_itself(tmp_path, monkeypatch):
    """--jobs 1 is one process: no background process starts, the SVM fits run inline."""
    pytest.importorskip("sklearn")
    import nndl.experiments.background as background

    def refused(*args, **kwargs):
        raise AssertionError("a background process started with --jobs 1")

    monkeypatch.setattr(background, "BackgroundJob", refused)
    settings = ExperimentSettings(quick=True, data="digits", out=tmp_path, verbose=False, jobs=1)
    run = run_all(settings, ["more_data"])
    assert not run["errors"], run["errors"]
    metrics = run["results"]["more_data"]["metrics"]
    assert any(key.startswith("svm ") for key in metrics)


def test_trainings_share_the_cores_with_a_background_process_until_it_ends(tmp_path, monkeypatch):
    """While the SVM's process works, the trainings run in waves on the cores it leaves
    (it counts as one of the jobs); once it has finished, the rest of the batch gets
    every core at once. The numbers and their order do not change."""
    import nndl.experiments.experiment_run as experiment_run
    import nndl.jobs

    asked = []  # (n_jobs, jobs) of each call
    run_jobs = nndl.jobs.run_jobs

    def spy(jobs, *args, n_jobs=None, **kwargs):
        jobs = list(jobs)
        asked.append((n_jobs, len(jobs)))
        return run_jobs(jobs, *args, n_jobs=n_jobs, **kwargs)

    monkeypatch.setattr(nndl.jobs, "run_jobs", spy)
    metrics = {}
    # learning_rate trains three configurations. ``checks``: how many times the
    # background is still found at work (before the batch, then before each wave).
    for checks, jobs, expected in (
        (0, 3, [(3, 3)]),  # none: the batch at once
        (2, 2, [(1, 1), (2, 2)]),  # it ends after the first wave: the other two at once
        (99, 3, [(2, 2), (1, 1)]),  # it works throughout: waves on the two cores left
        (99, 1, [(1, 1)] * 3),
    ):
        left = [checks]

        def running(left=left):
            left[0] -= 1
            return int(left[0] >= 0)

        monkeypatch.setattr(experiment_run, "background_running", running)
        asked.clear()
        settings = ExperimentSettings(
            quick=True, data="digits", out=tmp_path / f"{checks}-{jobs}", verbose=False, jobs=jobs
        )
        metrics[checks, jobs] = run_experiment("learning_rate", settings)["metrics"]
        assert asked == expected, (checks, jobs)
    assert len({json.dumps(m, sort_keys=True) for m in metrics.values()}) == 1


def test_background_job_runs_with_one_blas_thread(monkeypatch):
    """It runs beside the trainings' jobs, each of which has one BLAS thread."""
    import os

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert BackgroundJob(os.getenv, {"key": "OPENBLAS_NUM_THREADS"}).result() == "1"


def test_background_job_hands_its_warnings_to_the_caller():
    import warnings

    job = BackgroundJob(warnings.warn, {"message": "the cache\nfolder is read-only"})
    assert job.result() is None
    assert job.warnings == ["UserWarning: the cache folder is read-only"]


def test_background_job_runs_in_another_process():
    job = BackgroundJob(
        fit_power_law, {"sizes": [100, 1000, 10_000], "accuracies": [0.7, 0.85, 0.93]}
    )
    assert job.target == "nndl.experiments.more_data:fit_power_law"
    assert job.proc.args[1:3] == ["-m", "nndl.experiments.background_worker"]
    res = job.result()
    assert 0.93 <= res["asymptotic_accuracy"] <= 1.0
    bad = BackgroundJob(fit_power_law, {"sizes": [1]})
    with pytest.raises(RuntimeError, match="failed"):
        bad.result()
    slow = BackgroundJob(time.sleep, {"secs": 30})
    slow.cancel()
    assert slow.proc.returncode is not None
    # Only a function that a new process can import by name.
    with pytest.raises(ValueError, match="module-level function"):
        BackgroundJob(lambda: 1, {})


def test_old_names_still_import():
    from nndl.experiments import runner

    assert Settings is ExperimentSettings and runner.Settings is ExperimentSettings
    assert runner.Context is ExperimentRun
    assert runner.Check.__name__ == "VerdictRow"
    assert runner.format_value is format_value


# ------------------------------------------------- quick runs say what they ran
def _stated(res: dict) -> str:
    """Everything a run states as its own: title, row labels, our values, rules, comparisons."""
    parts = [res["title"]]
    for c in res["checks"]:
        parts += [c["label"], c["ours"], c["tolerance"]]
    parts += [c["verdict"] for c in res.get("comparisons", [])]
    return "\n".join(parts)


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_quick_runs_state_the_settings_they_used(quick, name):
    """The digits have 64 inputs and the quick slice 1,000 training images: nothing a
    quick run states as its own may speak of MNIST's sizes."""
    out, printed = quick
    res = json.loads((out / name / "results.json").read_text())
    stated = _stated(res)
    for book_only in ("[784", "50,000", "250,000", "10,000", "on MNIST"):
        assert book_only not in stated, (book_only, stated)
    assert res["data"] is not None and "data None" not in printed


def test_quick_overfitting_says_what_it_ran(quick):
    out, _ = quick
    res = json.loads((out / "overfitting" / "results.json").read_text())
    assert res["title"] == "Overfitting on 200 training images of the 8x8 digits"
    assert res["config"]["n_train"] == 200 and res["config"]["epochs"] == 6
    labels = [c["label"] for c in res["checks"]]
    # 6 epochs say nothing about epoch 280 or 40: those statements are left out
    assert "test accuracy stops improving" not in labels
    assert not any("then ->" in c["ours"] for c in res["checks"])
    assert "after epoch 5" not in _stated(res)


def test_quick_runs_without_data_say_what_they_use(quick):
    out, printed = quick
    for name in ("slowdown", "softmax"):
        res = json.loads((out / name / "results.json").read_text())
        assert res["data"].startswith("none: ")
    assert "data none: one sigmoid neuron" in printed


def test_quick_learning_rate_judges_an_epoch_it_ran(quick):
    out, _ = quick
    res = json.loads((out / "learning_rate" / "results.json").read_text())
    assert res["config"]["epochs"] == 3
    assert "epoch 5" not in _stated(res) and "at epoch 3" in _stated(res)


def test_figure_titles_come_from_the_settings(tmp_path, monkeypatch):
    titles = []

    def record(self, name, fig, caption=""):
        titles.append(fig._suptitle.get_text() if fig._suptitle else "")
        titles.extend(ax.get_title() for ax in fig.axes)
        self.pyplot().close(fig)

    monkeypatch.setattr(ExperimentRun, "figure", record)
    settings = ExperimentSettings(quick=True, data="digits", out=tmp_path, verbose=False)
    run_experiment("overfitting", settings)
    assert titles[0] == (
        "Overfitting: [64, 30, 10] on 200 training images of the 8x8 digits, 6 epochs, "
        "eta 0.5, no regularization"
    )
    titles.clear()
    run_experiment("regularization", settings)
    titles[:] = [t for t in titles if t]
    assert titles[0] == "200 images: training cost, lambda 0.1"
    assert any(t.startswith("All 1,000 training images of the 8x8 digits") for t in titles)


# ------------------------------------------------------------------ progress
def test_progress_lines_name_every_configuration_with_time_left(quick):
    """Not on a terminal: one plain line per finished configuration, with elapsed and ETA."""
    out, _ = quick
    lines = (out / "progress.txt").read_text(encoding="utf-8").splitlines()
    assert "\r" not in "".join(lines) and "\x1b" not in "".join(lines)
    assert lines[-1].startswith("[progress] run finished in ")
    trained = []
    for name in EXPERIMENTS:
        res = json.loads((out / name / "results.json").read_text())
        for label, runs in res["runs"].items():
            for run in runs:
                trained.append(f"[{name}] {label} (seed {run['seed']}): ")
    assert sorted(line.split("): ")[0] + "): " for line in lines[:-1]) == sorted(trained)
    for line in lines[:-1]:
        assert " epochs in " in line and " elapsed, " in line and " left" in line
    assert lines[-2].split("run ")[1].startswith("100% done")


@pytest.mark.parametrize("name", [n for n in EXPERIMENTS if n not in ("slowdown", "softmax")])
def test_training_plan_matches_what_was_trained(quick, name):
    """The time left is estimated from the plan: it must be what the experiment trains."""
    out, _ = quick
    res = json.loads((out / name / "results.json").read_text())
    settings = ExperimentSettings(quick=True, data="digits", seeds=1, out=out)
    planned = sorted((e, n) for _, e, n in training_plan(name, settings))
    trained = sorted(
        (run["train"]["epochs"], run["n_train"]) for runs in res["runs"].values() for run in runs
    )
    assert planned == trained


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_redraws_one_line_on_a_terminal():
    clock, stream = _Clock(), io.StringIO()
    progress = RunProgress(stream, terminal=True, clock=clock, width=200)
    progress.plan("weight_init", [("a", 2, 100), ("b", 2, 100)])
    progress.plan("learning_rate", [("eta 0.25", 4, 100)])
    progress.begin("weight_init", "[784, 30, 10] large", 3, 2, 100)
    clock.now = 10.0
    progress.epoch_done(1)
    shown = stream.getvalue().split("\r")[-1]
    assert shown.startswith("weight_init 1/2: [784, 30, 10] large (seed 3) epoch 1/2 |")
    # 100 of 800 example-epochs in 10 s: 700 left at 10 per second
    assert "12%" in shown and "0:10 elapsed, 1:10 left" in shown
    assert "\n" not in stream.getvalue()  # redrawn in place, no new lines
    progress.write("a table", stream)  # other output clears the line, then it is redrawn
    assert "\r\x1b[Ka table\n\r" in stream.getvalue()
    progress.epoch_done(2)
    progress.end()
    progress.experiment_finished("weight_init")
    assert progress.work_left() == 400
    progress.close()
    assert stream.getvalue().endswith("\r\x1b[K")
    narrow = RunProgress(io.StringIO(), terminal=True, clock=clock, width=80)
    narrow.begin("expanded_data", "B: elastic distortions of a long label", 0, 30, 10_000)
    line = narrow.stream.getvalue().split("\r")[-1].replace("\x1b[K", "")
    assert len(line) < 80 and line.endswith("estimating") and "epoch 0/30" in line


def test_progress_of_trainings_that_run_at_once():
    """Jobs train at once: the line counts them, and the rate is that of all together."""
    clock, stream = _Clock(), io.StringIO()
    progress = RunProgress(stream, terminal=True, clock=clock, width=200)
    progress.plan("weight_init", [("a", 2, 100), ("b", 2, 100), ("c", 2, 100)])
    progress.begin("weight_init", "a", 0, 2, 100, key=0)
    progress.begin("weight_init", "b", 0, 2, 100, key=1)
    clock.now = 10.0
    progress.epoch_done(1, key=1)
    shown = stream.getvalue().split("\r")[-1]
    assert shown.startswith("weight_init: 2 training, 0 done; b (seed 0) epoch 1/2 |")
    progress.epoch_done(1, key=0)
    # 200 of 600 example-epochs in 10 s of training by two jobs: 400 left at 20 per second
    assert progress.seconds_left() == pytest.approx(20.0)
    progress.epoch_done(2, key=0)
    progress.end(key=0)
    shown = stream.getvalue().split("\r")[-1]
    assert shown.startswith("weight_init: b (seed 0) epoch 1/2 |")  # one left running
    progress.end(key=1)
    progress.end(key=1)  # a second end of the same training changes nothing
    assert progress.trainings_done == 2 and progress.running == 0
    assert progress.work_done() == 300
    clock.now = 50.0  # idle time (figures, tables) does not count as training time
    progress.begin("weight_init", "c", 0, 2, 100, key=2)
    progress.epoch_done(1, key=2)
    assert progress.rate() == pytest.approx(40.0)


def test_format_duration():
    assert format_duration(42.4) == "0:42"
    assert format_duration(725) == "12:05"
    assert format_duration(3729) == "1:02:09"


# ---------------------------------------------------------------------- CLI
@pytest.fixture
def cli():
    click = pytest.importorskip("click")
    from click.testing import CliRunner

    from nndl.cli.experiment import experiment, report

    @click.group()
    def group():
        pass

    group.add_command(experiment)
    group.add_command(report)
    return CliRunner(), group


def test_cli_list(cli):
    cli_runner, group = cli
    r = cli_runner.invoke(group, ["experiment", "list"])
    assert r.exit_code == 0
    lines = r.output.splitlines()
    for name in EXPERIMENTS:
        line = next(x for x in lines if x.startswith(name + " "))
        # the help promises whether each can run here: every line says so
        assert "[runs here]" in line or "[cannot run here: " in line


def test_cli_report_elsewhere_names_the_option(cli, tmp_path):
    cli_runner, group = cli
    (tmp_path / "res").mkdir()
    r = cli_runner.invoke(group, ["report", str(tmp_path / "res"), "-o", str(tmp_path / "x.html")])
    assert r.exit_code == 2
    assert "add --embed" in r.output and "embed=True" not in r.output


def test_cli_run_and_report(cli, tmp_path):
    cli_runner, group = cli
    out = tmp_path / "res"
    r = cli_runner.invoke(
        group,
        [
            "experiment",
            "run",
            "softmax",
            "slowdown",
            "--quick",
            "--data",
            "digits",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "== softmax: " in r.output and "== summary" in r.output
    # not a terminal: one plain progress line per trained configuration on stderr
    progress = [x for x in r.stderr.splitlines() if x.startswith("[slowdown] ")]
    assert len(progress) == 4 and all(" left" in x for x in progress)
    assert progress[0].startswith("[slowdown] quadratic from (0.6, 0.9) (seed 0): 300/300 epochs")
    assert "\r" not in r.stderr
    assert (out / "softmax" / "results.json").exists() and (out / "index.html").exists()
    (out / "index.html").unlink()
    r = cli_runner.invoke(group, ["report", str(out)])
    assert r.exit_code == 0 and (out / "index.html").exists()
    r = cli_runner.invoke(group, ["experiment", "run", "nope", "--out", str(out)])
    assert r.exit_code != 0 and "unknown experiment 'nope'" in r.output
    r = cli_runner.invoke(group, ["experiment", "run", "--quick", "--seeds", "0", "softmax"])
    assert r.exit_code != 0 and "--seeds" in r.output
    r = cli_runner.invoke(group, ["report", str(tmp_path / "missing")])
    assert r.exit_code != 0 and "does not exist" in r.output
