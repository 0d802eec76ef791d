"""More training data: accuracy against training-set size, network and SVM.

The network: [784, 30, 10], eta 0.5, mini-batch 10, default initialization,
trained on the first n training images for 30 * 50,000 / n epochs (the same
1.5 million examples seen whatever n) with lambda = 5.0 * n / 50,000 (the
same weight decay per example), for n = 100, 200, 500, 1,000, 2,000, 5,000,
10,000, 20,000 and 50,000; accuracy on the validation data, as in the book's
program.

The SVM: scikit-learn's ``SVC`` (RBF kernel, C = 1) with gamma = 1/784, the
default of the scikit-learn release the book used (today's default,
gamma = "scale", scores about 3 points higher at 50,000); see
:mod:`~nndl.experiments.svm_baseline`. Its fit grows faster than linearly
with n: 50,000 images take several minutes. It runs in a second process, in
parallel with the network's training; its results are cached, so a later run
reads them (option ``svm_cache``, command line ``--no-svm-cache``: fit
again). The largest size is capped by the option ``svm_max_size`` (command
line: ``--svm-max-size``; default 50,000; 0 skips the SVM).

The chapter's research problem: extrapolate to unlimited data. We fit the
error rate with a power law e(n) = a + b n^-c over the sizes from 1,000 up
(least squares on relative residuals, c on a grid, a and b linear) and read
the asymptote a: the accuracy 1 - a the method would reach with unlimited
data of this kind, if the trend held.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings

import numpy as np

from . import svm_baseline
from .background import start_background, take_background
from .data_source import resolve_data_source
from .experiment_run import ExperimentRun

TITLE = "More training data: network and SVM against training-set size"
BOOK = (
    "both rise with the training-set size; the network reaches 93.24% at 5,000 images, "
    "the SVM 94.48% at 50,000; a fitted curve extrapolates to unlimited data"
)

SIZES = (100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000)
QUICK_SIZES = (50, 100, 200, 500, 1000)
BUDGET = 1_500_000  # examples seen by every run: 30 epochs of 50,000
QUICK_BUDGET = 3_000
ETA = 0.5
SVM_DEFAULT_MAX = 50_000
#: The power law is fitted from this size up: below it the SVM (25% at 100
#: images) and the network are in another regime that the curve cannot follow.
FIT_MIN_SIZE, QUICK_FIT_MIN_SIZE = 1000, 100


def fit_power_law(sizes, accuracies) -> dict:
    """Fit the error rate e(n) = a + b n^-c; return a, b, c and the asymptotic accuracy.

    c runs over a grid in (0, 2]; for each c, a and b are linear least
    squares with a >= 0 (an error rate cannot go below zero). Residuals are
    relative, (model - e) / e, so that the small errors of the large sizes,
    which decide the asymptote, weigh as much as the large errors of the
    small sizes. The c with the smallest sum of squared relative residuals
    wins.
    """
    n = np.asarray(sizes, dtype=float)
    e = 1.0 - np.asarray(accuracies, dtype=float)
    if n.size < 3:
        raise ValueError(f"fitting a power law needs at least 3 sizes, got {n.size}")
    if np.any(e <= 0):
        raise ValueError("a power law of the error rate needs accuracies below 100%")
    w = 1.0 / e
    best = None
    for c in np.linspace(0.02, 2.0, 397):
        x = n**-c
        A = np.column_stack([w, w * x])
        (a, b), *_ = np.linalg.lstsq(A, np.ones_like(e), rcond=None)
        if a < 0:  # constrain the asymptote to a valid error rate
            a = 0.0
            wx = w * x
            b = float(wx.sum() / (wx @ wx))
        sse = float(np.sum(((a + b * x - e) * w) ** 2))
        if best is None or sse < best["sse"]:
            best = {"a": float(a), "b": float(b), "c": float(c), "sse": sse}
    best["asymptotic_accuracy"] = 1.0 - best["a"]
    model = best["a"] + best["b"] * n ** -best["c"]
    best["rmse"] = math.sqrt(float(np.mean((model - e) ** 2)))
    return best


def predict_power_law(fit: dict, sizes) -> np.ndarray:
    n = np.asarray(sizes, dtype=float)
    return 1.0 - (fit["a"] + fit["b"] * n ** -fit["c"])


def _svm_job_arguments(settings) -> tuple[str, dict] | None:
    """The SVM job's key and arguments for these settings, or None (no SVM)."""
    sizes = QUICK_SIZES if settings.quick else SIZES
    svm_max = int(settings.options.get("svm_max_size", SVM_DEFAULT_MAX))
    svm_sizes = [n for n in sizes if n <= svm_max]
    if not svm_sizes:
        return None
    kwargs = {
        "source": resolve_data_source(settings),
        "quick": settings.quick,
        "sizes": svm_sizes,
        "cache_dir": str(svm_baseline.svm_cache_dir()),
        "read_cache": bool(settings.options.get("svm_cache", True)),
    }
    return f"more_data-svm-{kwargs}", kwargs


def _all_cached(kwargs: dict) -> bool:
    """Whether an earlier run cached every size of this SVM job (nothing to fit)."""
    if not kwargs["read_cache"]:
        return False
    return not svm_baseline.uncached_sizes(
        kwargs["source"], kwargs["quick"], kwargs["sizes"], kwargs["cache_dir"]
    )


def _have_sklearn() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def prefetch(settings) -> None:
    """Start the SVM fits in a second process now (``run all`` calls this first).

    The fits then overlap every experiment that runs before this one, on a
    core of their own, instead of only this experiment's training. With
    ``--jobs 1``, or when an earlier run cached every size, nothing starts:
    :func:`run` fits or reads them itself.
    """
    svm_job = _svm_job_arguments(settings)
    if svm_job is None or not _have_sklearn() or settings.n_jobs == 1:
        return
    key, kwargs = svm_job
    try:
        cached = _all_cached(kwargs)
    except Exception:
        # The data did not load. prefetch runs outside run_all's per-experiment
        # error handling: more_data meets the same error in run() and reports it there.
        return
    if not cached:
        start_background(key, svm_baseline.svm_accuracies, kwargs)


def training_plan(experiment: ExperimentRun) -> list[tuple[str, int, int]]:
    """(configuration, epochs, examples) of each network run, every seed (not the SVM)."""
    n_max = experiment.data().train.X.shape[0]
    sizes = [n for n in experiment.pick(SIZES, QUICK_SIZES) if n <= n_max]
    budget = experiment.pick(BUDGET, QUICK_BUDGET)
    return [(f"n = {n}", max(1, budget // n), n) for n in sizes] * len(experiment.seeds)


def run(experiment: ExperimentRun) -> None:
    splits = experiment.data()
    sizes = [n for n in experiment.pick(SIZES, QUICK_SIZES) if n <= splits.train.X.shape[0]]
    budget = experiment.pick(BUDGET, QUICK_BUDGET)
    n_in = splits.train.X.shape[1]
    svm_max = int(experiment.options.get("svm_max_size", SVM_DEFAULT_MAX))
    svm_sizes = [n for n in sizes if n <= svm_max]
    experiment.set_config(
        sizes=list(sizes),
        examples_per_run=budget,
        learning_rate=ETA,
        lambda_rule="5.0 * n / 50,000",
        network=f"[{n_in}, 30, 10]",
        initializer="default",
        evaluation="validation data",
        svm={
            "model": "sklearn.svm.SVC",
            "C": 1.0,
            "gamma": "auto (1/n_features)",
            "sizes": svm_sizes,
            "svm_max_size": svm_max,
        },
    )
    svm_job = _svm_job_arguments(experiment.settings)
    job = None
    if svm_job is not None and not _have_sklearn():
        experiment.note(
            "scikit-learn is not installed: the SVM baseline was skipped (pip install 'nndl[svm]')."
        )
        svm_job = None
    elif svm_job is not None:
        # A process that prefetch started; else one of our own while the networks train,
        # unless --jobs 1 (one process) or the cache holds every size (nothing to fit).
        key, kwargs = svm_job
        job = take_background(key)
        if job is None and experiment.settings.n_jobs > 1 and not _all_cached(kwargs):
            start_background(key, svm_baseline.svm_accuracies, kwargs)
            job = take_background(key)
    val = splits.validation
    svm = {}
    try:
        # Every (seed, size) is an independent training: they run at once, in processes
        # of their own beside the SVM's, and are recorded seed after seed as before.
        # Each size's slice is made once, so that every seed's job gets the same array.
        heads = {n: splits.train.head(n) for n in sizes}
        plan = [(seed, n) for seed in experiment.seeds for n in sizes]
        runs = experiment.train_many(
            {
                "label": f"n = {n}",
                "sizes": [n_in, 30, 10],
                "X": heads[n].X,
                "y": heads[n].y,
                "seed": seed,
                "epochs": max(1, budget // n),
                "mini_batch_size": 10,
                "learning_rate": ETA,
                "l2": 5.0 * n / 50_000,
            }
            for seed, n in plan
        )
        for (_, n), r in zip(plan, runs, strict=True):
            experiment.metric(
                f"network {n}",
                r.net.accuracy(val.X, val.y),
                unit="%",
                label=f"network, {n} images",
            )
        if job is not None:
            t0 = time.perf_counter()
            if job.running():
                _say_what_the_svm_has_left(experiment, svm_job[1])
            svm = {int(k): v for k, v in job.result().items()}
            _report_warnings(experiment, job.warnings)
            experiment.log(
                f"SVM: waited {time.perf_counter() - t0:.1f} s for the second process "
                f"(started {time.perf_counter() - job.started:.0f} s ago)"
            )
            job = None
        elif svm_job is not None:
            # --jobs 1 (one process does everything, one thing after another), or all cached.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("default")  # recorded (each once), not raised
                results = svm_baseline.svm_accuracies(**svm_job[1], log=experiment.log)
            _report_warnings(experiment, [f"{w.category.__name__}: {w.message}" for w in caught])
            svm = {int(k): v for k, v in results.items()}
    finally:
        if job is not None:
            job.cancel()
    for n, (acc, *_) in svm.items():
        experiment.metric(f"svm {n}", acc, unit="%", label=f"SVM, {n} images")
    # The SVM's times go with its settings, not among the metrics: the metrics are the
    # same from one run to the next, whatever the number of jobs; a time is not.
    if svm:
        experiment.set_config(
            svm_seconds={
                n: {"fit": fit_s, "predict": pred_s, "cached_from": when}
                for n, (_, fit_s, pred_s, when) in svm.items()
            }
        )
        _note_cached(experiment, svm, svm_job[1]["cache_dir"])

    net_acc = [experiment.value(f"network {n}") for n in sizes]
    svm_n = sorted(svm)
    svm_acc = [svm[n][0] for n in svm_n]
    _state_verdicts(experiment, sizes, net_acc, svm_n, svm_acc, svm_max)
    fits = {}
    fit_min = experiment.pick(FIT_MIN_SIZE, QUICK_FIT_MIN_SIZE)
    for name, all_ns, all_accs in (("network", sizes, net_acc), ("svm", svm_n, svm_acc)):
        ns = [n for n in all_ns if n >= fit_min]
        accs = [a for n, a in zip(all_ns, all_accs, strict=True) if n >= fit_min]
        if len(ns) >= 3 and max(accs) < 1.0:
            fit = fit_power_law(ns, accs)
            fit["min_size"] = fit_min
            fits[name] = fit
            experiment.metric(
                f"{name} unlimited",
                fit["asymptotic_accuracy"],
                unit="%",
                label=f"{name}: extrapolated to unlimited data",
            )
            experiment.metric(
                f"{name} at 1,000,000", float(predict_power_law(fit, [1e6])[0]), unit="%"
            )
            experiment.check(
                f"{name}: fitted curve, unlimited data",
                ours=f"{experiment.shown(f'{name} unlimited')} (error {fit['a']:.4f} + "
                f"{fit['b']:.3g} n^-{fit['c']:.2f}, rmse {100 * fit['rmse']:.2f} points)",
                book="research problem",
                passed=fit["asymptotic_accuracy"] >= max(accs) - 0.002
                and fit["asymptotic_accuracy"] <= 1.0,
                rule="asymptote at or above the best measured accuracy and at most 100%",
            )
    experiment.set_config(fits=fits)
    _figures(experiment, sizes, net_acc, svm_n, svm_acc, fits)


def _report_warnings(experiment, warnings_: list[str]) -> None:
    """The SVM's warnings (a cache folder it could not write), in the log and the report,
    whether it ran in this process or in the second one."""
    for warning in warnings_:
        text = " ".join(warning.split())
        experiment.log(f"SVM: {text}")
        experiment.note(f"SVM: {text}")


def _say_what_the_svm_has_left(experiment, kwargs: dict) -> None:
    """Log which sizes the SVM's process still fits (those not in the cache yet):
    the run's time left counts trainings only, and the run now waits for it."""
    message = "SVM: waiting for the second process"
    if kwargs["read_cache"]:  # else the cache may hold sizes it fits again
        try:
            left = svm_baseline.uncached_sizes(
                kwargs["source"], kwargs["quick"], kwargs["sizes"], kwargs["cache_dir"]
            )
        except Exception:  # only a message: the job's own result says what went wrong
            left = None
        if left is not None:
            message += f"; sizes still to fit: {', '.join(f'{n:,}' for n in left) or 'none'}"
    experiment.log(message)


def _note_cached(experiment, svm: dict, cache_dir: str) -> None:
    """Say, in the report and the log, which SVM results came from the cache, if any."""
    cached = sorted(n for n, (*_, when) in svm.items() if when is not None)
    if not cached:
        return
    dates = sorted({svm[n][3][:10] for n in cached})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    text = (
        f"SVM: {len(cached)} of {len(svm)} sizes ({', '.join(f'{n:,}' for n in cached)}) were "
        f"read from the cache in {cache_dir}, fitted on {when} with the same data, settings "
        "and versions of scikit-learn, SciPy and NumPy; --no-svm-cache fits them again."
    )
    experiment.note(text)
    experiment.log(text)


def _state_verdicts(experiment, sizes, net_acc, svm_n, svm_acc, svm_max) -> None:
    if 5000 in sizes:
        experiment.check_close("network at 5,000 images", "network 5000", 93.24, 1.0)
    if 50_000 in svm_n:
        experiment.check_close("SVM at 50,000 images", "svm 50000", 94.48, 0.3)
    elif not experiment.quick:
        experiment.check(
            "SVM at 50,000 images",
            ours="not run",
            book="94.48%",
            passed=None,
            rule=f"skipped: SVM sizes capped at {svm_max} (run with --svm-max-size 50000)",
        )
    for name, accs in (("network", net_acc), ("SVM", svm_acc)):
        if len(accs) < 2:
            continue
        drops = [100 * (a - b) for a, b in itertools.pairwise(accs)]
        rise = 100 * (accs[-1] - accs[0])
        experiment.check(
            f"{name}: rises with the training-set size",
            ours=f"{100 * accs[0]:.2f}% -> {100 * accs[-1]:.2f}%; largest drop between sizes "
            f"{max(0.0, max(drops)):.2f} points",
            book="rises",
            passed=rise > 10 and max(drops) < 1.0,
            rule="over 10 points in all, never 1 point or more down from one size to the next",
        )


def _figures(experiment, sizes, net_acc, svm_n, svm_acc, fits) -> None:
    plt = experiment.pyplot()
    net_pct = 100 * np.asarray(net_acc)
    n_in = experiment.data().train.X.shape[1]
    fit_min = experiment.pick(FIT_MIN_SIZE, QUICK_FIT_MIN_SIZE)
    for name, log in (("accuracy_linear", False), ("accuracy_log", True)):
        fig, ax = plt.subplots(figsize=(7, 4.3))
        ax.plot(sizes, net_pct, marker="o", label=f"network [{n_in}, 30, 10]")
        if log:
            ax.set_xscale("log")
        ax.set_xlabel("training-set size")
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3, which="both")
        ax.set_title(
            f"The network against training-set size ({'log' if log else 'linear'} scale), "
            f"{experiment.data_name}",
            fontsize=10,
        )
        fig.tight_layout()
        experiment.figure(
            name, fig, f"Network accuracy against size, {'log' if log else 'linear'} axis."
        )

    fig, ax = plt.subplots(figsize=(7, 4.3))
    ax.plot(sizes, net_pct, marker="o", label=f"network [{n_in}, 30, 10]")
    if svm_n:
        ax.plot(svm_n, 100 * np.asarray(svm_acc), marker="s", label="SVM (SVC, gamma 1/784)")
    ax.set_xscale("log")
    ax.set_xlabel("training-set size")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right")
    ax.set_title("Network and SVM", fontsize=10)
    fig.tight_layout()
    experiment.figure("combined", fig, "Network and SVM against training-set size (log axis).")

    if fits:
        fig, ax = plt.subplots(figsize=(7, 4.3))
        grid = np.logspace(math.log10(min(f["min_size"] for f in fits.values())), 7, 200)
        for i, (name, ns, accs) in enumerate(
            (("network", sizes, net_acc), ("svm", svm_n, svm_acc))
        ):
            if name not in fits:
                continue
            fit = fits[name]
            ax.plot(ns, 100 * np.asarray(accs), "o", color=f"C{i}", label=f"{name}: measured")
            ax.plot(
                grid,
                100 * predict_power_law(fit, grid),
                "-",
                color=f"C{i}",
                label=f"{name}: fit, unlimited data {100 * fit['asymptotic_accuracy']:.2f}%",
            )
            ax.axhline(100 * fit["asymptotic_accuracy"], ls=":", color=f"C{i}", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("training-set size")
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title(
            f"Extrapolating: error = a + b n^-c, fitted from {fit_min:,} images up", fontsize=10
        )
        if not experiment.quick:
            ax.set_ylim(60, 100)
        fig.tight_layout()
        experiment.figure(
            "extrapolated", fig, "Power-law fits of the error rate, extended to 10^7 images."
        )
