"""The job layer (nndl.jobs): independent jobs in parallel with joblib or Dask."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from nndl.jobs import (
    BLAS_THREAD_VARIABLES,
    JobResult,
    JobsInterrupted,
    dask_scheduler_address,
    run_jobs,
)

pytest.importorskip("joblib")
pytest.importorskip("threadpoolctl")


def seeded_sum(seed: int, n: int = 1000) -> float:
    """A small job whose numbers depend only on its seed."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8))
    w = rng.standard_normal((8, 4))
    return float((x @ w).sum())


def array_kind(data: np.ndarray) -> dict:
    return {
        "memmap": isinstance(data, np.memmap),
        "writeable": bool(data.flags.writeable),
        "sum": float(data.sum()),
    }


def blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def fails_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("bad setting")
    return x * 10


def diverges_on_one(x: int) -> float:
    return float("nan") if x == 1 else float(x)


def sleeps(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def counts_out_loud(n: int) -> int:
    """A job that reports its progress, as a training does after every epoch."""
    from nndl.jobs import report

    report("begin", n)
    for step in range(1, n + 1):
        time.sleep(0.01)
        report("step", step)
    return n


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_events_a_job_reports_reach_the_caller_in_order_before_its_result(n_jobs):
    log = []
    results = run_jobs(
        [(counts_out_loud, (n,)) for n in (3, 5, 2)],
        n_jobs=n_jobs,
        on_event=lambda index, event: log.append((index, *event)),
        on_result=lambda result, done, total: log.append((result.index, "result")),
    )
    assert [r.value for r in results] == [3, 5, 2]
    for index, n in enumerate((3, 5, 2)):
        mine = [entry[1:] for entry in log if entry[0] == index]
        assert mine == [("begin", n), *[("step", k) for k in range(1, n + 1)], ("result",)]
    # Outside a job, or without on_event, reporting does nothing.
    assert counts_out_loud(1) == 1
    assert [r.value for r in run_jobs([(counts_out_loud, (2,))], n_jobs=2)] == [2]


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_events_from_reused_workers_reach_each_run_and_a_wrong_key_is_ignored(backend):
    """Workers outlive a run (joblib reuses them): each run's events reach that run's
    caller, however many runs a worker served, and nothing forks a process."""
    from multiprocessing import AuthenticationError
    from multiprocessing.connection import Client

    import nndl.jobs as jobs

    def processes_of_ours():  # joblib's own worker processes come and go
        return [p for p in multiprocessing.active_children() if "Loky" not in type(p).__name__]

    before = processes_of_ours()
    for run in range(3):
        log = []
        servers = []
        real = jobs._EventServer

        def keep(queue, _real=real, _servers=servers):
            server = _real(queue)
            _servers.append(server)
            with pytest.raises((AuthenticationError, OSError)):  # a stranger is refused
                Client(server.channel.address, authkey=b"not the key").close()
            return server

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(jobs, "_EventServer", keep)
            results = run_jobs(
                [(counts_out_loud, (n,)) for n in (2, 3, 1, 2)],
                n_jobs=2,
                backend=backend,
                on_event=lambda index, event, log=log: log.append((index, *event)),
            )
        assert [r.value for r in results] == [2, 3, 1, 2]
        assert len(servers) == 1, run
        for index, n in enumerate((2, 3, 1, 2)):
            mine = [entry[1:] for entry in log if entry[0] == index]
            assert mine == [("begin", n), *[("step", k) for k in range(1, n + 1)]], run
    assert processes_of_ours() == before


class Unrebuildable(Exception):
    """Pickles, but cannot be unpickled: its __init__ wants two arguments, args holds one."""

    def __init__(self, a, b):
        super().__init__(f"{a} {b}")


def test_the_event_channel_outlives_strangers_and_events_it_cannot_rebuild():
    """A connection that leaves mid-handshake (a worker killed while connecting) and an
    event this process cannot unpickle cost only themselves; closing never hangs."""
    import queue
    import socket
    from multiprocessing.connection import address_type

    import nndl.jobs as jobs

    events: queue.Queue = queue.Queue()
    server = jobs._EventServer(events)
    try:
        if address_type(server.channel.address) == "AF_UNIX":
            for _ in range(3):
                with socket.socket(socket.AF_UNIX) as stranger:
                    stranger.connect(server.channel.address)
        server.channel.put((0, ("step", 1)))
        server.channel.put((0, ("broken", Unrebuildable("a", "b"))))
        server.channel.put((0, ("step", 2)))
    finally:
        jobs._event_connections.close()
        start = time.monotonic()
        server.close()
        assert time.monotonic() - start < 3
    assert [events.get_nowait() for _ in range(events.qsize())] == [
        (0, ("step", 1)),
        (0, ("step", 2)),
    ]


def presses_ctrl_c() -> None:
    raise KeyboardInterrupt


def test_one_job_at_a_time_needs_no_joblib_and_stops_on_ctrl_c(monkeypatch):
    """One job at a time runs in this process, so the library works with NumPy alone
    (without joblib more jobs run one at a time, with a warning); Ctrl-C there keeps
    what finished, as with workers."""
    monkeypatch.setitem(sys.modules, "joblib", None)
    assert [r.value for r in run_jobs([(seeded_sum, (s,)) for s in range(3)], n_jobs=1)] == [
        seeded_sum(s) for s in range(3)
    ]
    with pytest.raises(JobsInterrupted) as info:
        run_jobs([(sleeps, (0.0,)), presses_ctrl_c, (sleeps, (0.0,))], n_jobs=1)
    assert [r.index for r in info.value.finished] == [0]
    with pytest.warns(UserWarning, match="joblib is not installed"):  # and the same results
        results = run_jobs([(seeded_sum, (s,)) for s in range(3)], n_jobs=2)
    assert [r.value for r in results] == [seeded_sum(s) for s in range(3)]


def test_results_identical_for_one_and_two_jobs_in_fixed_order():
    jobs = [(seeded_sum, (seed,)) for seed in range(6)]
    one = run_jobs(jobs, n_jobs=1)
    two = run_jobs(jobs, n_jobs=2)
    assert [r.index for r in two] == list(range(6))
    assert [r.value for r in one] == [r.value for r in two]
    assert all(r.ok for r in two)
    assert [r.value for r in two] == [seeded_sum(seed) for seed in range(6)]


def test_fixed_order_even_when_later_jobs_finish_first():
    results = run_jobs([(sleeps, (0.6,)), (sleeps, (0.0,)), (sleeps, (0.0,))], n_jobs=2)
    assert [r.value for r in results] == [0.6, 0.0, 0.0]


def starts_then_sleeps(seconds: float) -> float:
    """When the job started (the same clock in every process of this machine)."""
    started = time.monotonic()
    time.sleep(seconds)
    return started


@pytest.mark.parametrize("costs", [None, [1, 1, 5, 5]])
def test_the_costliest_jobs_start_first_and_results_keep_their_order(costs):
    jobs = [(starts_then_sleeps, (0.4,)) for _ in range(4)]
    started = [r.value for r in run_jobs(jobs, n_jobs=2, costs=costs)]
    first, last = (started[2:], started[:2]) if costs else (started[:2], started[2:])
    assert max(first) < min(last)
    with pytest.raises(ValueError, match="costs has 3 entries for 4 jobs: give one per job"):
        run_jobs(jobs, n_jobs=2, costs=[1, 2, 3])


def test_large_training_data_is_shared_by_memory_mapping_not_copied():
    data = np.arange(300_000, dtype=np.float64)  # 2.4 MB, above the 1 MB threshold
    results = run_jobs([(array_kind, (data,)) for _ in range(2)], n_jobs=2)
    for r in results:
        assert r.ok, r.error
        assert r.value["memmap"] is True
        assert r.value["writeable"] is False
        assert r.value["sum"] == float(data.sum())


def test_each_job_runs_with_one_blas_thread():
    results = run_jobs([blas_threads, blas_threads], n_jobs=2)
    for r in results:
        assert r.ok, r.error
        assert all(n == 1 for n in r.value)


def test_scipy_blas_loaded_first_in_the_job_has_one_thread_too(tmp_path):
    """The compiled loop's SciPy BLAS is often loaded inside the job, after the limit
    would be set: a fresh process, one job in it, importing SciPy only in the job."""
    pytest.importorskip("scipy")
    script = (
        "import json, sys\n"
        "from nndl.jobs import run_jobs\n"
        "def scipy_blas_threads():\n"
        "    import scipy.linalg.blas\n"
        "    from threadpoolctl import threadpool_info\n"
        "    return [p['num_threads'] for p in threadpool_info() if 'scipy' in p['filepath']]\n"
        "assert 'scipy' not in sys.modules\n"
        "print(json.dumps(run_jobs([scipy_blas_threads], n_jobs=1)[0].value))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARIABLES}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    threads = json.loads(done.stdout.strip().splitlines()[-1])
    assert threads and all(n == 1 for n in threads)


def test_a_failing_or_diverging_job_is_reported_alone():
    results = run_jobs([(fails_on_two, (x,)) for x in range(4)], n_jobs=2)
    assert [r.ok for r in results] == [True, True, False, True]
    assert [r.value for r in results if r.ok] == [0, 10, 30]
    assert results[2].error == "ValueError: bad setting"
    assert "fails_on_two" in results[2].details

    results = run_jobs([(diverges_on_one, (x,)) for x in range(3)], n_jobs=2)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error.startswith("diverged")


def test_ctrl_c_stops_every_job_and_keeps_what_finished():
    seen: list[JobResult] = []

    def interrupt_after_first(result, done, total):
        seen.append(result)
        if result.index == 0:
            raise KeyboardInterrupt

    jobs = [(sleeps, (0.0,)), (sleeps, (30.0,)), (sleeps, (30.0,)), (sleeps, (30.0,))]
    start = time.monotonic()
    with pytest.raises(JobsInterrupted) as info:
        run_jobs(jobs, n_jobs=2, on_result=interrupt_after_first)
    assert time.monotonic() - start < 20  # the 30 s jobs were stopped, not awaited
    assert isinstance(info.value, KeyboardInterrupt)
    assert [r.index for r in info.value.finished] == [0]
    assert info.value.finished[0].value == 0.0
    assert info.value.total == 4


def test_jobs_as_tuples_with_keyword_arguments_and_bad_jobs():
    results = run_jobs([(seeded_sum, (3,), {"n": 10})], n_jobs=1)
    assert results[0].value == seeded_sum(3, n=10)
    assert run_jobs([], n_jobs=2) == []
    with pytest.raises(TypeError):
        run_jobs([(1, 2)])
    with pytest.raises(ValueError):
        run_jobs([seeded_sum], n_jobs=0)


def test_dask_scheduler_address_from_option_or_environment(monkeypatch):
    monkeypatch.delenv("NNDL_DASK_SCHEDULER", raising=False)
    assert dask_scheduler_address(None) is None
    monkeypatch.setenv("NNDL_DASK_SCHEDULER", "tcp://host:8786")
    assert dask_scheduler_address(None) == "tcp://host:8786"
    assert dask_scheduler_address("tcp://other:1") == "tcp://other:1"


@pytest.mark.timeout(120)
def test_same_jobs_on_a_dask_local_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        jobs = [(seeded_sum, (seed,)) for seed in range(4)] + [(fails_on_two, (2,))]
        results = run_jobs(jobs, dask_scheduler=cluster.scheduler_address)
    assert [r.value for r in results[:4]] == [seeded_sum(seed) for seed in range(4)]
    assert [r.ok for r in results] == [True, True, True, True, False]
    assert results[4].error == "ValueError: bad setting"


# ------------------------------------------------------ nndl train --seeds
def _train_seeds(tmp_path, jobs: int, extra=()):
    from click.testing import CliRunner

    from nndl.cli import cli

    out = tmp_path / f"jobs-{jobs}"
    args = ["train", "--dataset", "digits", "--hidden", "10", "--epochs", "2", "--seed", "7"]
    args += ["--seeds", "3", "--jobs", str(jobs), "--no-plot", "--out", str(out), *extra]
    result = CliRunner().invoke(cli, args)
    return result, out


def test_train_seeds_same_numbers_for_one_and_two_jobs(tmp_path):
    one, out1 = _train_seeds(tmp_path, 1)
    two, out2 = _train_seeds(tmp_path, 2)
    assert one.exit_code == 0, one.output
    assert two.exit_code == 0, two.output
    doc1 = json.loads((out1 / "seeds.json").read_text())
    doc2 = json.loads((out2 / "seeds.json").read_text())
    assert doc1 == doc2
    assert [row["seed"] for row in doc1["seeds"]] == [7, 8, 9]
    for s in (7, 8, 9):  # each seed is a whole run in its folder
        run = out2 / f"seed-{s}"
        for name in ("model.json", "history.json", "history.csv", "config.json"):
            assert (run / name).is_file()
        assert json.loads((run / "config.json").read_text())["training"]["seed"] == s
    stats = doc2["validation_accuracy"]
    values = [row["validation_accuracy"] for row in doc2["seeds"]]
    assert stats["n"] == 3
    assert stats["mean"] == pytest.approx(sum(values) / 3)
    assert stats["ci95"][0] < stats["mean"] < stats["ci95"][1]
    assert "95% confidence interval" in two.output
    # the seeds differ: three runs, not one run three times
    assert len(set(values)) > 1


def test_train_seeds_loads_the_data_once_and_shows_one_progress(tmp_path, monkeypatch):
    """The caller loads (and would expand) the data once for every seed; the seeds'
    epochs show in one progress display for the whole run."""
    import nndl.cli.train as train_module

    loads = []
    load_data = train_module._load_data

    def counting(*args, **kwargs):
        loads.append(args)
        return load_data(*args, **kwargs)

    monkeypatch.setattr(train_module, "_load_data", counting)
    result, _ = _train_seeds(tmp_path, 1)  # one job: the seeds run in this process
    assert result.exit_code == 0, result.output
    assert len(loads) == 1
    for s in (7, 8, 9):
        assert f"[seeds] run (seed {s}): 2/2 epochs in " in result.output
    assert "[progress] run finished in " in result.output


def test_ctrl_c_in_a_seed_run_in_this_process_stops_every_seed(tmp_path, monkeypatch):
    """One job at a time, a seed's run catches Ctrl-C itself and exits 130: that stops
    the seeds after it too, and seeds.json keeps the one that finished."""
    import nndl.cli.train as train_module

    main = train_module.train.main

    def ctrl_c_in_seed_8(args, **kwargs):
        if args[args.index("--seed") + 1] == "8":
            return 130
        return main(args, **kwargs)

    monkeypatch.setattr(train_module.train, "main", ctrl_c_in_seed_8)
    result, out = _train_seeds(tmp_path, 1)
    assert result.exit_code == 130, result.output
    doc = json.loads((out / "seeds.json").read_text())
    assert doc["status"] == "interrupted"
    assert [row["seed"] for row in doc["seeds"]] == [7]
    assert not (out / "seed-9").exists()


def test_train_seeds_gives_each_run_the_data_in_the_network_dtype(tmp_path, monkeypatch):
    """Converted once by the caller (the data is float32, the network float64)."""
    import nndl.cli.train as train_module

    given = []
    one_seed = train_module._train_one_seed

    def spy(*args):
        given.append(args[-1])
        return one_seed(*args)

    monkeypatch.setattr(train_module, "_train_one_seed", spy)
    result, _ = _train_seeds(tmp_path, 1)
    assert result.exit_code == 0, result.output
    assert len(given) == 3 and all(splits is given[0] for splits in given)
    assert all(part.X.dtype == np.float64 for part in given[0])


def test_train_seeds_refuses_an_existing_summary_and_resume(tmp_path):
    first, out = _train_seeds(tmp_path, 1)
    assert first.exit_code == 0, first.output
    again, _ = _train_seeds(tmp_path, 1)
    assert again.exit_code == 2
    assert "--overwrite" in again.output
    checkpoint = out / "seed-7" / "checkpoint.npz"
    checkpoint.write_bytes(b"")
    resumed, _ = _train_seeds(tmp_path, 1, ["--resume", str(checkpoint), "--overwrite"])
    assert resumed.exit_code == 2
    assert "--resume" in resumed.output


# ------------------------------------------ experiments: ExperimentRun.train_many
def _train_many(tmp_path, jobs: int):
    from nndl.experiments.experiment_run import ExperimentRun, ExperimentSettings

    settings = ExperimentSettings(
        quick=True, data="digits", out=tmp_path / f"jobs-{jobs}", verbose=False, jobs=jobs
    ).validate()
    run = ExperimentRun("parallel", "parallel trainings", settings)
    splits = run.data()
    train, val = splits.train, splits.validation
    trainings = [
        {
            "label": f"eta {eta}",
            "sizes": [train.X.shape[1], 10, 10],
            "X": train.X,
            "y": train.y,
            "seed": seed,
            "evaluation": (val.X, val.y),
            "monitor": ["evaluation_accuracy"],
            "epochs": 2,
            "learning_rate": eta,
            "mini_batch_size": 10,
        }
        for eta in (0.1, 1.0)
        for seed in (0, 1)
    ]
    return run, run.train_many(trainings)


def test_experiment_trainings_identical_for_one_and_two_jobs(tmp_path):
    run1, out1 = _train_many(tmp_path, 1)
    run2, out2 = _train_many(tmp_path, 2)

    def numbers(history):  # all but the wall times
        return {k: v for k, v in history.items() if k != "time"}

    assert [numbers(r.history) for r in out1] == [numbers(r.history) for r in out2]
    assert "val_accuracy" in out2[0].history
    for a, b in zip(out1, out2, strict=True):
        for pa, pb in zip(a.net.get_params(), b.net.get_params(), strict=True):
            np.testing.assert_array_equal(pa, pb)
    assert list(run2.runs) == ["eta 0.1", "eta 1.0"]  # recorded in the order given
    assert [r["seed"] for r in run2.runs["eta 0.1"]] == [0, 1]

    def strip(runs):
        return {
            k: [{**r, "seconds": 0, "history": numbers(r["history"])} for r in v]
            for k, v in runs.items()
        }

    assert strip(run1.runs) == strip(run2.runs)


def test_experiment_trainings_give_their_work_so_the_longest_start_first(tmp_path, monkeypatch):
    import nndl.jobs

    given = []
    run_jobs = nndl.jobs.run_jobs

    def spy(jobs, *args, costs=None, **kwargs):
        given.append(costs)
        return run_jobs(jobs, *args, costs=costs, **kwargs)

    monkeypatch.setattr(nndl.jobs, "run_jobs", spy)
    from nndl.experiments.experiment_run import ExperimentRun, ExperimentSettings

    settings = ExperimentSettings(quick=True, data="digits", out=tmp_path, verbose=False, jobs=2)
    run = ExperimentRun("costs", "costs", settings.validate())
    train = run.data().train
    base = {"X": train.X, "y": train.y, "seed": 0, "mini_batch_size": 10, "learning_rate": 0.1}
    run.train_many(
        [
            {**base, "label": "small", "sizes": [64, 10, 10], "epochs": 2},
            {**base, "label": "wide", "sizes": [64, 30, 10], "epochs": 2},
            {**base, "label": "long", "sizes": [64, 10, 10], "epochs": 6},
        ]
    )
    (costs,) = given
    n = train.X.shape[0]
    assert costs == [2 * n * 740, 2 * n * 2220, 6 * n * 740]
    assert list(run.runs) == ["small", "wide", "long"]  # recorded in the order given


def test_experiment_keeps_the_trainings_that_finished_before_ctrl_c(tmp_path, monkeypatch):
    """Ctrl-C while an experiment's trainings run: those that finished are recorded."""
    import nndl.jobs
    from nndl.experiments.experiment_run import ExperimentRun

    real = nndl.jobs.run_jobs

    def interrupted_after_two(jobs, *args, costs=None, **kwargs):
        jobs = list(jobs)
        costs = None if costs is None else costs[:2]
        raise JobsInterrupted(real(jobs[:2], *args, costs=costs, **kwargs), len(jobs))

    recorded = []
    record = ExperimentRun._record

    def spy(self, label, seed, *rest):
        recorded.append((label, seed))
        return record(self, label, seed, *rest)

    monkeypatch.setattr(nndl.jobs, "run_jobs", interrupted_after_two)
    monkeypatch.setattr(ExperimentRun, "_record", spy)
    with pytest.raises(KeyboardInterrupt):
        _train_many(tmp_path, 2)
    assert recorded == [("eta 0.1", 0), ("eta 0.1", 1)]


def test_experiment_data_is_converted_once_and_shared_by_every_job(tmp_path, monkeypatch):
    """The float32 images become the network's float64 once, in the caller: every job
    gets that one array (one memory-mapped file), none converts its own copy."""
    import nndl.jobs

    given = []
    real = nndl.jobs.run_jobs

    def spy(jobs, *args, **kwargs):
        jobs = list(jobs)
        given.extend(jobs)
        return real(jobs, *args, **kwargs)

    monkeypatch.setattr(nndl.jobs, "run_jobs", spy)
    run, _ = _train_many(tmp_path, 1)
    assert run.data().train.X.dtype == np.float32
    inputs = [job[1][1] for job in given]
    evaluations = [job[2]["evaluation"][0] for job in given]
    assert len(given) == 4
    assert all(X is inputs[0] and X.dtype == np.float64 for X in inputs)
    assert all(X is evaluations[0] and X.dtype == np.float64 for X in evaluations)
