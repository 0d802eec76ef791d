"""Parallel jobs on this machine: one seed against several at once, and the chapter's run.

Run:  python benchmarks/bench_jobs.py seeds [--repeats 3] [--jobs 2]
      python benchmarks/bench_jobs.py chapter [--jobs 1 2] [--quick]

``seeds`` times ``nndl train`` (the README's default run: [784, 100, 10] on
MNIST, 30 epochs) for one seed, and ``nndl train --seeds N --jobs N``, one
after the other, ``--repeats`` times, and prints the median of each and
their ratio (the issue's target: at most 1.3 for two seeds on two cores).

``chapter`` times ``nndl experiment run all`` at each ``--jobs`` count, one
after the other, and prints the wall time of each, the ratio to the first,
and whether every experiment reached the same verdicts (a verdict is the
pass/fail of one row of an experiment's table). ``--no-svm-cache`` fits
``more_data``'s SVM baseline in every run, as on a fresh machine; without
it a run reads the SVM results an earlier run cached.

Each command runs in a fresh process with its own output folder in a
temporary directory, as a user would run it; both print the CPU model and
core count they ran on, with a JSON record of the results (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU's name as the system reports it, with the cores this process may use."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {len(os.sched_getaffinity(0))} cores"


def timed(args: list[str], log: Path) -> float:
    """Run ``nndl ARGS`` to completion; its wall time in seconds (a failure raises)."""
    command = [sys.executable, "-m", "nndl.cli", *args]
    start = time.perf_counter()
    with log.open("w") as out:
        status = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed (exit {status}); see {log}")
    return seconds


def bench_seeds(repeats: int, jobs: int, work: Path) -> dict:
    base = ["train", "--seed", "1", "--no-plot", "--quiet"]
    one, many = [], []
    for r in range(repeats):  # alternated, so that a change of load touches both
        one.append(timed([*base, "--out", str(work / f"one-{r}")], work / f"one-{r}.log"))
        out = work / f"many-{r}"
        args = [*base, "--seeds", str(jobs), "--jobs", str(jobs), "--out", str(out)]
        many.append(timed(args, work / f"many-{r}.log"))
        print(f"repeat {r + 1}: one seed {one[-1]:.1f} s, {jobs} seeds {many[-1]:.1f} s")
    result = {
        "one_seed_s": one,
        "seeds_s": many,
        "jobs": jobs,
        "median_one_seed_s": statistics.median(one),
        "median_seeds_s": statistics.median(many),
    }
    result["ratio"] = result["median_seeds_s"] / result["median_one_seed_s"]
    print(
        f"median: one seed {result['median_one_seed_s']:.1f} s; --seeds {jobs} --jobs {jobs} "
        f"{result['median_seeds_s']:.1f} s; ratio {result['ratio']:.2f}"
    )
    return result


def verdicts(folder: Path) -> dict:
    """Every experiment's verdicts: {name: [(row, passed), ...]}."""
    summary = json.loads((folder / "summary.json").read_text())
    out = {}
    for row in summary["experiments"]:
        res = json.loads((folder / row["name"] / "results.json").read_text())
        out[row["name"]] = [(c["label"], c["passed"]) for c in res["checks"]]
    return out


def svm_seconds(folder: Path) -> dict:
    """more_data's SVM: fit and predict seconds per size, and whether it came from the cache."""
    path = folder / "more_data" / "results.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text())["config"].get("svm_seconds", {})


def svm_state(seconds: dict) -> str:
    """What the run did with the SVM: fitted, read from the cache, partly cached, not run."""
    cached = [v.get("cached_from") is not None for v in seconds.values()]
    if not cached:
        return "not run"
    if not any(cached):
        return "fitted"
    return "read from the cache" if all(cached) else "partly cached"


def bench_chapter(job_counts: list[int], quick: bool, work: Path, svm_cache: bool) -> dict:
    runs = {}
    for jobs in job_counts:
        out = work / f"chapter-jobs-{jobs}"
        args = ["experiment", "run", "all", "--jobs", str(jobs), "--out", str(out)]
        args += ["--quick"] if quick else []
        args += [] if svm_cache else ["--no-svm-cache"]
        seconds = timed(args, work / f"chapter-jobs-{jobs}.log")
        summary = json.loads((out / "summary.json").read_text())
        runs[jobs] = {
            "wall_s": seconds,
            "experiments_s": {r["name"]: r["wall_time_s"] for r in summary["experiments"]},
            "verdicts": verdicts(out),
            "errors": summary["errors"],
            "svm_seconds": svm_seconds(out),
        }
        runs[jobs]["svm"] = svm_state(runs[jobs]["svm_seconds"])
        print(f"--jobs {jobs}: {seconds:.0f} s ({seconds / 60:.1f} min); SVM {runs[jobs]['svm']}")
    first = job_counts[0]
    for jobs in job_counts[1:]:
        same = runs[jobs]["verdicts"] == runs[first]["verdicts"]
        ratio = runs[jobs]["wall_s"] / runs[first]["wall_s"]
        runs[jobs]["ratio_to_first"] = ratio
        runs[jobs]["same_verdicts"] = same
        print(f"--jobs {jobs} / --jobs {first}: {ratio:.2f}; same verdicts: {same}")
        if runs[jobs]["svm"] != runs[first]["svm"]:
            print(
                f"  not comparable: the SVM was {runs[first]['svm']} in one run and "
                f"{runs[jobs]['svm']} in the other (--no-svm-cache fits it in every run)"
            )
        if not same:
            for name, rows in runs[jobs]["verdicts"].items():
                if rows != runs[first]["verdicts"].get(name):
                    print(f"  {name}: {rows} vs {runs[first]['verdicts'].get(name)}")
    return {str(k): v for k, v in runs.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    seeds = sub.add_parser("seeds", help="one seed against --seeds N --jobs N")
    seeds.add_argument("--repeats", type=int, default=3)
    seeds.add_argument("--jobs", type=int, default=2)
    chapter = sub.add_parser("chapter", help="experiment run all at each job count")
    chapter.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    chapter.add_argument("--quick", action="store_true", help="the quick runs (a smoke test)")
    chapter.add_argument(
        "--no-svm-cache",
        dest="svm_cache",
        action="store_false",
        help="fit the SVM in every run, as on a fresh machine (default: read what an earlier "
        "run cached)",
    )
    for p in (seeds, chapter):
        p.add_argument("--json", type=Path, help="write the results here")
        p.add_argument("--keep", type=Path, help="keep the runs' folders and logs here")
    args = parser.parse_args(argv)
    machine = cpu_model()
    print(f"machine: {machine}; load average before: {os.getloadavg()[0]:.2f}")
    work = Path(tempfile.mkdtemp(prefix="nndl-bench-jobs-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.what == "seeds":
            result = bench_seeds(args.repeats, args.jobs, work)
        else:
            result = bench_chapter(args.jobs, args.quick, work, args.svm_cache)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    record = {"machine": machine, "benchmark": args.what, "result": result}
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
