"""The one small runner every experiment shares.

An experiment is a function ``run(ctx)`` that trains what it needs through
the :class:`Context` it is given, records numbers (:meth:`Context.metric`),
draws figures (:meth:`Context.figure`) and states its verdicts against the
book (:meth:`Context.check_close`, :meth:`Context.check`). The runner does the
rest, the same way for every experiment:

- settings and seeds: ``--seeds K`` runs every configuration with seeds
  ``seed, seed + 1, ..., seed + K - 1``; every metric then holds one value per
  seed and is reported as a mean with its spread and a 95% confidence
  interval (Student t);
- timing: the wall time of the whole experiment and of every training run;
- files, written atomically: ``<out>/<name>/results.json`` (settings, seeds,
  per-epoch numbers, metrics, verdicts, wall time) and one PNG per figure;
- the printed table: our result, the book's result, and a verdict that names
  the tolerance it used.

``--quick`` runs the same code on a small slice with few epochs: a smoke test
that the experiment works and writes its files. Quick runs are never judged
against the book (their verdicts read "quick: not judged").

Comparisons between two techniques (:meth:`Context.compare`) use Welch's
t-test over the seeds: the difference is called larger than the noise only
when p < 0.05; with one seed per side the runner says it cannot tell.
"""

from __future__ import annotations

import io
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import numpy as np

from .._io import atomic_write_bytes, atomic_write_json
from .._validation import check_range
from ..network import Network
from ..training import DivergenceError, Trainer

__all__ = [
    "Check",
    "Context",
    "Settings",
    "TrainRun",
    "format_value",
    "summarize",
    "t_quantile",
    "welch_test",
]

#: Two-sided 95% quantiles of Student's t (0.975 quantile) for 1..30 degrees of
#: freedom; used when SciPy is not installed. Beyond 30 the normal 1.96 is close.
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)

DATA_SOURCES = ("auto", "mnist", "digits")


# --------------------------------------------------------------------- statistics
def t_quantile(df: float, q: float = 0.975) -> float:
    """The q-quantile of Student's t with ``df`` degrees of freedom.

    SciPy gives it exactly; without SciPy only q = 0.975 is supported, from a
    table (rounding df down, which widens the interval: the safe side).
    """
    if df <= 0:
        return math.inf
    try:
        from scipy import stats
    except ImportError:
        if q != 0.975:
            raise ValueError("without SciPy only the 0.975 quantile is available") from None
        k = math.floor(df)
        return _T975[k - 1] if k <= len(_T975) else 1.96
    return float(stats.t.ppf(q, df))


def summarize(values) -> dict:
    """Mean, sample standard deviation and 95% CI of the mean (Student t).

    With one value the spread and the interval are ``None``: one seed says
    nothing about the noise.
    """
    v = [float(x) for x in values]
    n = len(v)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95": None, "min": None, "max": None}
    mean = sum(v) / n
    out = {"n": n, "mean": mean, "std": None, "ci95": None, "min": min(v), "max": max(v)}
    if n >= 2:
        std = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
        half = t_quantile(n - 1) * std / math.sqrt(n)
        out["std"] = std
        out["ci95"] = [mean - half, mean + half]
    return out


def welch_test(a, b) -> dict:
    """Welch's t-test for a difference of means (unequal variances).

    Returns the difference mean(a) - mean(b), its 95% confidence interval,
    the t statistic, the Welch-Satterthwaite degrees of freedom and the
    two-sided p-value (``None`` without SciPy; ``significant`` is then decided
    by the tabulated critical value).
    """
    a = [float(x) for x in a]
    b = [float(x) for x in b]
    na, nb = len(a), len(b)
    ma, mb = sum(a) / na, sum(b) / nb
    diff = ma - mb
    if na < 2 or nb < 2:
        return {"diff": diff, "ci95": None, "t": None, "df": None, "p": None, "significant": None}
    va = sum((x - ma) ** 2 for x in a) / (na - 1)
    vb = sum((x - mb) ** 2 for x in b) / (nb - 1)
    se2 = va / na + vb / nb
    if se2 == 0:
        # Identical values on each side: any nonzero difference is exact.
        return {
            "diff": diff,
            "ci95": [diff, diff],
            "t": math.inf if diff else 0.0,
            "df": float(na + nb - 2),
            "p": 0.0 if diff else 1.0,
            "significant": diff != 0,
        }
    se = math.sqrt(se2)
    df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    t = diff / se
    crit = t_quantile(df)
    try:
        from scipy import stats

        p = float(2 * stats.t.sf(abs(t), df))
        significant = p < 0.05
    except ImportError:
        p = None
        significant = abs(t) > crit
    return {
        "diff": diff,
        "ci95": [diff - crit * se, diff + crit * se],
        "t": t,
        "df": df,
        "p": p,
        "significant": significant,
    }


def format_value(value, unit: str = "") -> str:
    """One number for the table: fractions as percent when ``unit == '%'``."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if unit == "%":
        return f"{100 * value:.2f}%"
    if isinstance(value, (int, np.integer)):
        return f"{value:d}"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.3g}"
    return f"{value:.4g}"


def _format_stats(s: dict, unit: str) -> str:
    if s["n"] == 0:
        return "-"
    if s["n"] == 1:
        return format_value(s["mean"], unit)
    scale = 100.0 if unit == "%" else 1.0
    sd = s["std"] * scale
    lo, hi = (format_value(x, unit) for x in s["ci95"])
    spread = f"{sd:.2f}" if unit == "%" else f"{sd:.3g}"
    return f"{format_value(s['mean'], unit)} ± {spread} (95% CI {lo} to {hi}, n={s['n']})"


def _json_safe(obj):
    """NaN and infinities become None (JSON has no such numbers); arrays become lists."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ----------------------------------------------------------------------- settings
@dataclass
class Settings:
    """How to run experiments (the command line's options).

    Parameters
    ----------
    quick : bool
        Small slice, few epochs: seconds per experiment, never judged.
    seeds : int
        How many seeds per configuration (K >= 1). ``None`` takes each
        experiment's default (1 for the book's experiments).
    seed : int
        The first seed; the others follow it.
    out : path
        Results go to ``out/<experiment>/``.
    data : "auto", "mnist" or "digits"
        ``auto`` is MNIST, except for quick runs without MNIST in the local
        cache, which use scikit-learn's 8x8 digits (no download).
    dtype : "float64" or "float32"
    options : dict
        Experiment-specific options, e.g. ``{"svm_max_size": 50000}``.
    stream : file, optional
        Where progress and the table are printed (default stdout); ``None``
        with ``verbose=False`` prints nothing.
    """

    quick: bool = False
    seeds: int | None = None
    seed: int = 0
    out: Path = Path("nndl-results")
    data: str = "auto"
    dtype: str = "float64"
    options: dict = field(default_factory=dict)
    verbose: bool = True
    stream: TextIO | None = None

    def validate(self) -> Settings:
        if self.seeds is not None:
            self.seeds = check_range("seeds", self.seeds, low=1, high=100, integer=True)
        self.seed = check_range("seed", self.seed, low=0, integer=True)
        if self.data not in DATA_SOURCES:
            raise ValueError(f"data must be one of {list(DATA_SOURCES)}, got {self.data!r}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        if not isinstance(self.options, dict):
            raise TypeError(f"options must be a dict, got {type(self.options).__name__}")
        self.out = Path(self.out)
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("stream")
        d.pop("verbose")
        d["out"] = str(self.out)
        return d


@dataclass
class Check:
    """One row of the table: what we measured against what the book says.

    ``passed`` is True or False for a judged verdict and None when there is
    nothing to judge (no figure in the book, or a quick run).
    """

    label: str
    ours: str
    book: str
    tolerance: str
    passed: bool | None

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return self.tolerance
        return ("PASS: " if self.passed else "FAIL: ") + self.tolerance


class TrainRun(NamedTuple):
    """What :meth:`Context.train` returns."""

    net: Network
    history: dict
    seconds: float
    diverged: str | None


# ----------------------------------------------------------------------- the data
_DATA_CACHE: dict[str, Any] = {}


def _mnist_in_cache() -> bool:
    """Whether MNIST can be loaded without a download (the local cache holds it)."""
    try:
        from ..data.fetch import data_dir
    except ImportError:  # pragma: no cover - the data package ships with nndl
        return False
    try:
        folder = data_dir()
    except (OSError, ValueError):
        return False
    return folder.is_dir() and any(p.name.startswith("mnist") for p in folder.iterdir())


def resolve_data_source(settings: Settings) -> str:
    """``"mnist"`` or ``"digits"``: what ``data="auto"`` means for these settings."""
    if settings.data != "auto":
        return settings.data
    return "digits" if settings.quick and not _mnist_in_cache() else "mnist"


def load_data(source: str):
    """The splits for ``"mnist"`` or ``"digits"``, kept in memory across experiments."""
    if source not in _DATA_CACHE:
        if source == "mnist":
            from ..data import load_mnist

            _DATA_CACHE[source] = load_mnist()
        elif source == "digits":
            from ..data import load_digits

            _DATA_CACHE[source] = load_digits(seed=0)
        else:
            raise ValueError(f"unknown data source {source!r}; expected 'mnist' or 'digits'")
    return _DATA_CACHE[source]


# --------------------------------------------------------------- background jobs
class BackgroundJob:
    """A function of ours run in a separate Python process, its result read as JSON.

    A plain subprocess (not multiprocessing): nothing is pickled and the
    caller's ``__main__`` is never re-imported. ``target`` is
    ``"package.module:function"``; the function takes the keyword arguments
    ``kwargs`` (JSON-able) and returns something JSON-able.
    """

    def __init__(self, target: str, kwargs: dict):
        import json
        import subprocess

        module, _, func = target.partition(":")
        code = (
            "import json, sys\n"
            f"from {module} import {func} as f\n"
            "r = f(**json.loads(sys.argv[1]))\n"
            "sys.stdout.write('\\n' + json.dumps(r) + '\\n')\n"
        )
        self.target = target
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(kwargs)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(self):
        """Wait for the process; its return value, or a RuntimeError with its stderr."""
        import json

        out, err = self.proc.communicate()
        if self.proc.returncode != 0:
            raise RuntimeError(
                f"background job {self.target} failed (exit {self.proc.returncode}): "
                f"{err.strip()[-1500:]}"
            )
        return json.loads(out.strip().splitlines()[-1])

    def cancel(self) -> None:
        """Stop the process if it still runs (it is ours: killed by its own id)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


_BACKGROUND: dict[str, BackgroundJob] = {}


def start_background(key: str, target: str, kwargs: dict) -> BackgroundJob:
    """Start a job once per key (``run all`` starts slow jobs early; the experiment takes them)."""
    if key not in _BACKGROUND:
        _BACKGROUND[key] = BackgroundJob(target, kwargs)
    return _BACKGROUND[key]


def take_background(key: str) -> BackgroundJob | None:
    """The job started under ``key``, removed from the pool, or None."""
    return _BACKGROUND.pop(key, None)


def cancel_background() -> None:
    """Stop every job nobody took (a run that failed or was interrupted)."""
    while _BACKGROUND:
        _, job = _BACKGROUND.popitem()
        job.cancel()


# ------------------------------------------------------------------------ context
class Context:
    """Everything an experiment needs: settings, seeds, data, training and records.

    Attributes
    ----------
    name : str
        The experiment's registry name (also its output folder).
    quick : bool
    seeds : list of int
    out : Path
        ``settings.out / name``.
    options : dict
    """

    def __init__(self, name: str, title: str, settings: Settings, *, default_seeds: int = 1):
        self.name = name
        self.title = title
        self.settings = settings
        self.quick = settings.quick
        k = settings.seeds if settings.seeds is not None else default_seeds
        self.seeds = [settings.seed + i for i in range(k)]
        self.out = Path(settings.out) / name
        self.options = dict(settings.options)
        self.dtype = settings.dtype
        self.runs: dict[str, list[dict]] = {}
        self.metrics: dict[str, dict] = {}
        self.checks: list[Check] = []
        self.comparisons: list[dict] = []
        self.figures: list[dict] = []
        self.notes: list[str] = []
        self.config: dict = {}
        self._data_source: str | None = None
        #: Set when the experiment raised: its results are then partial.
        self.error: str | None = None
        self._t0 = time.perf_counter()

    # ------------------------------------------------------------ small helpers
    def pick(self, full, quick):
        """``full`` normally, ``quick`` in a quick run."""
        return quick if self.quick else full

    def log(self, message: str) -> None:
        """A progress line (to the settings' stream)."""
        if self.settings.verbose:
            stream = self.settings.stream or sys.stdout
            print(f"[{self.name}] {message}", file=stream, flush=True)

    def note(self, text: str) -> None:
        """A sentence for the report (what was done differently, and why)."""
        self.notes.append(text)

    def set_config(self, **config) -> None:
        """Record the experiment's own settings (sizes, epochs, rates ...)."""
        self.config.update(config)

    # -------------------------------------------------------------------- data
    @property
    def data_source(self) -> str:
        """``"mnist"`` or ``"digits"``, resolved from the settings."""
        if self._data_source is None:
            self._data_source = resolve_data_source(self.settings)
        return self._data_source

    def data(self):
        """The :class:`~nndl.data.DataSplits` for this run (MNIST or digits).

        A quick run gets slices: at most 1,000 training images and 500 of
        each held-out set.
        """
        splits = load_data(self.data_source)
        if not self.quick:
            return splits
        from ..data.splits import DataSplits

        return DataSplits(
            splits.train.head(1000), splits.validation.head(500), splits.test.head(500)
        )

    def image_side(self, n_features: int) -> int:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(f"inputs of {n_features} features are not square images")
        return side

    # ---------------------------------------------------------------- training
    def train(
        self,
        label: str,
        sizes,
        X,
        y,
        *,
        seed: int,
        evaluation=None,
        monitor=(),
        callbacks=(),
        network: dict | None = None,
        init_params=None,
        catch_divergence: bool = False,
        **train,
    ) -> TrainRun:
        """Build a network, train it, record the run under ``label``.

        Parameters
        ----------
        label : str
            The configuration's name (runs of several seeds share it).
        sizes : list of int
        X, y : training data.
        seed : int
            Seeds both the initial weights and the trainer (shuffling, dropout),
            so two configurations with the same seed start from the same weights
            when their shapes agree: a paired comparison.
        evaluation : (X, y), optional
            The held-out data monitored as ``val_*``.
        monitor : list of str
            Only what the figures need: every evaluation costs time.
        network : dict
            Keyword arguments of :class:`~nndl.network.Network` (initializer,
            cost, hidden_activation, dropout, ...).
        init_params : list of arrays, optional
            Parameters to start from instead of the initializer's draw.
        catch_divergence : bool
            Record a :class:`~nndl.training.DivergenceError` instead of raising it
            (the broad-strategy walk-through expects some runs to blow up).
        **train
            :class:`~nndl.training.TrainConfig` fields (epochs, learning_rate, l2 ...).
        """
        net_kwargs = {"dtype": self.dtype, **(network or {})}
        net = Network(sizes, seed=seed, **net_kwargs)
        if init_params is not None:
            net.set_params(init_params)
        trainer = Trainer(net, callbacks=list(callbacks), seed=seed, monitor=list(monitor), **train)
        diverged = None
        t0 = time.perf_counter()
        try:
            trainer.fit(X, y, evaluation)
        except DivergenceError as exc:
            if not catch_divergence:
                raise
            diverged = str(exc)
        seconds = time.perf_counter() - t0
        history = trainer.history.to_dict()
        record = {
            "seed": seed,
            "seconds": seconds,
            "n_train": int(np.asarray(X).shape[0]),
            "n_eval": None if evaluation is None else int(np.asarray(evaluation[0]).shape[0]),
            "network": net.config.to_dict(),
            "train": trainer.config.to_dict(),
            "epochs_run": len(trainer.history),
            "diverged": diverged,
            "history": history,
        }
        self.runs.setdefault(label, []).append(record)
        what = f"diverged ({diverged.split(';')[0]})" if diverged else "done"
        self.log(
            f"{label} (seed {seed}): {len(trainer.history)} epochs on {record['n_train']} "
            f"examples in {seconds:.1f} s, {what}"
        )
        return TrainRun(net, history, seconds, diverged)

    def attach(self, label: str, key: str, values) -> None:
        """Add a per-epoch series of our own (e.g. the output a) to the last run of ``label``."""
        self.runs[label][-1]["history"][key] = [float(v) for v in values]

    def curves(self, label: str, key: str) -> np.ndarray:
        """Per-epoch values of ``key`` for every seed of ``label``: (n_seeds, n_epochs).

        Runs that stopped early are padded with nan.
        """
        rows = [r["history"].get(key, []) for r in self.runs.get(label, [])]
        if not rows:
            raise KeyError(f"no runs recorded under {label!r}")
        width = max(len(r) for r in rows)
        out = np.full((len(rows), width), np.nan)
        for i, r in enumerate(rows):
            out[i, : len(r)] = [np.nan if v is None else v for v in r]
        return out

    # ----------------------------------------------------------------- metrics
    def metric(self, key: str, value, *, unit: str = "", label: str | None = None) -> None:
        """Record one value of a scalar result (one call per seed).

        ``unit="%"`` marks a fraction shown as a percentage.
        """
        m = self.metrics.setdefault(key, {"label": label or key, "unit": unit, "values": []})
        m["values"].append(None if value is None else float(value))

    def value(self, key: str) -> float:
        """The mean of a metric over the seeds."""
        values = [v for v in self.metrics[key]["values"] if v is not None]
        return float(np.mean(values)) if values else math.nan

    def stats(self, key: str) -> dict:
        values = [v for v in self.metrics[key]["values"] if v is not None]
        return summarize(values)

    def shown(self, key: str) -> str:
        """A metric as the table shows it: mean, and with seeds spread and CI."""
        m = self.metrics[key]
        return _format_stats(self.stats(key), m["unit"])

    # ------------------------------------------------------------------ checks
    def check(self, label: str, *, ours: str, book: str, passed: bool | None, rule: str) -> Check:
        """A verdict stated in words. ``rule`` is the tolerance or criterion used.

        In a quick run the verdict is recorded as not judged.
        """
        if self.quick and passed is not None:
            c = Check(label, ours, book, f"quick: not judged ({rule})", None)
        else:
            c = Check(label, ours, book, rule, None if passed is None else bool(passed))
        self.checks.append(c)
        return c

    def check_close(
        self, label: str, key: str, book: float, tol: float, *, what: str = "", at_least=False
    ) -> Check:
        """Judge a metric's mean against the book's number with a tolerance.

        For percentages ``book`` and ``tol`` are in percentage points (95.49,
        1.0). ``at_least=True`` only fails when we fall short by more than
        ``tol`` (for "and still improving" claims).
        """
        m = self.metrics[key]
        scale = 100.0 if m["unit"] == "%" else 1.0
        mean = self.value(key) * scale
        unit = (" point" if tol == 1 else " points") if m["unit"] == "%" else ""
        digits = max(0, -math.floor(math.log10(tol))) if tol > 0 else 2
        book_txt = f"{book:.2f}%" if m["unit"] == "%" else f"{book:.{digits}f}"
        if at_least:
            passed = mean >= book - tol
            rule = f"no more than {tol:g}{unit} below the book's {book_txt}"
        else:
            passed = abs(mean - book) <= tol
            rule = f"within {tol:g}{unit} of the book's {book_txt}"
        if what:
            rule = f"{what} {rule}"
        if not math.isfinite(mean):
            passed = False
        return self.check(label, ours=self.shown(key), book=book_txt, passed=passed, rule=rule)

    def measured(self, label: str, key: str, book: str = "no figure in the book") -> Check:
        """A row with no verdict: the number we measured."""
        return self.check(label, ours=self.shown(key), book=book, passed=None, rule="measured")

    # ------------------------------------------------------------- comparisons
    def compare(self, label: str, key_a: str, key_b: str, *, higher_is_better: bool = True) -> dict:
        """Is metric A different from metric B beyond the seed-to-seed noise?

        Welch's t-test on the per-seed values; the verdict names the test.
        """
        a = [v for v in self.metrics[key_a]["values"] if v is not None]
        b = [v for v in self.metrics[key_b]["values"] if v is not None]
        unit = self.metrics[key_a]["unit"]
        scale, u = (100.0, " points") if unit == "%" else (1.0, "")
        res = welch_test(a, b) if a and b else {"diff": math.nan, "significant": None}
        diff = res["diff"] * scale
        better = (diff > 0) == higher_is_better
        name_a = self.metrics[key_a]["label"]
        name_b = self.metrics[key_b]["label"]
        head = f"{name_a} minus {name_b}: {diff:+.2f}{u}"
        if res.get("significant") is None:
            verdict = (
                f"{head}; one seed per side cannot separate this from noise "
                f"(run with --seeds 3 or more)"
            )
        else:
            ci = [x * scale for x in res["ci95"]]
            p = "p = n/a" if res["p"] is None else f"p = {res['p']:.3g}"
            if res["significant"]:
                side = "better" if better else "worse"
                verdict = (
                    f"{head} (95% CI {ci[0]:+.2f} to {ci[1]:+.2f}); {name_a} is {side}, "
                    f"larger than the noise (Welch t-test, {p}, {len(a)}+{len(b)} seeds)"
                )
            else:
                verdict = (
                    f"{head} (95% CI {ci[0]:+.2f} to {ci[1]:+.2f}); within the noise "
                    f"(Welch t-test, {p}, {len(a)}+{len(b)} seeds)"
                )
        entry = {
            "label": label,
            "a": key_a,
            "b": key_b,
            "higher_is_better": higher_is_better,
            "diff": res["diff"],
            "test": _json_safe(res),
            "verdict": verdict,
        }
        self.comparisons.append(entry)
        return entry

    # ----------------------------------------------------------------- figures
    def pyplot(self):
        """matplotlib.pyplot on the Agg backend (no display needed)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        return plt

    def figure(self, name: str, fig, caption: str = "") -> Path:
        """Save a matplotlib figure as ``<out>/<name>.png`` (atomically) and close it."""
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"figure names are letters, digits, - and _, got {name!r}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        self.pyplot().close(fig)
        path = self.out / f"{name}.png"
        atomic_write_bytes(path, buf.getvalue())
        self.figures.append({"file": path.name, "caption": caption})
        return path

    def plot_curves(self, ax, run: str, key: str, *, x0: int = 1, scale=1.0, **kw):
        """Plot ``key`` of the runs recorded as ``run``: the mean curve over the seeds,
        shading min..max when there are several. ``kw`` go to ``ax.plot`` (label, color ...).
        """
        arr = self.curves(run, key) * scale
        x = np.arange(x0, x0 + arr.shape[1])
        with np.errstate(all="ignore"):
            if arr.shape[0] > 1:
                mean = np.nanmean(arr, axis=0)
                line = ax.plot(x, mean, **kw)[0]
                ax.fill_between(
                    x,
                    np.nanmin(arr, axis=0),
                    np.nanmax(arr, axis=0),
                    alpha=0.2,
                    color=line.get_color(),
                    linewidth=0,
                )
            else:
                ax.plot(x, arr[0], **kw)
        return ax

    # ----------------------------------------------------------------- finish
    def result(self) -> dict:
        metrics = {}
        for k, m in self.metrics.items():
            metrics[k] = {**m, **summarize([v for v in m["values"] if v is not None])}
        judged = [c.passed for c in self.checks if c.passed is not None]
        return _json_safe(
            {
                "name": self.name,
                "title": self.title,
                "quick": self.quick,
                "data": self.data_source if self._data_source else None,
                "seeds": self.seeds,
                "settings": self.settings.to_dict(),
                "config": self.config,
                "wall_time_s": time.perf_counter() - self._t0,
                "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                "environment": {
                    "python": platform.python_version(),
                    "numpy": np.__version__,
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                "metrics": metrics,
                "checks": [asdict(c) | {"verdict": c.verdict} for c in self.checks],
                "comparisons": self.comparisons,
                "figures": self.figures,
                "notes": self.notes,
                "passed": all(judged) if judged else None,
                "error": self.error,
                "runs": self.runs,
            }
        )

    def finish(self) -> dict:
        """Write ``results.json`` atomically, print the table, return the result."""
        res = self.result()
        atomic_write_json(self.out / "results.json", res, indent=1)
        if self.settings.verbose:
            print(format_table(res), file=self.settings.stream or sys.stdout, flush=True)
        return res


# -------------------------------------------------------------------------- table
def _wrap_rows(rows: list[list[str]], widths: list[int]) -> list[str]:
    import textwrap

    lines = []
    for row in rows:
        cells = [textwrap.wrap(c, w) or [""] for c, w in zip(row, widths, strict=True)]
        for i in range(max(len(c) for c in cells)):
            parts = [
                (c[i] if i < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)
            ]
            lines.append("  ".join(parts).rstrip())
    return lines


def format_table(res: dict, width: int = 120) -> str:
    """The printed summary of one experiment: checks, comparisons, wall time."""
    head = f"== {res['name']}: {res['title']}"
    if res.get("error"):
        head += f" [FAILED, partial results: {res['error']}]"
    if res.get("quick"):
        head += " [quick run: not judged against the book]"
    lines = [head]
    w = [34, 30, 14, max(20, width - 34 - 30 - 14 - 6)]
    rows = [["result", "ours", "book", "verdict (tolerance)"]]
    rows += [[c["label"], c["ours"], c["book"], c["verdict"]] for c in res["checks"]]
    lines += _wrap_rows(rows, w)
    for comp in res.get("comparisons", []):
        lines += _wrap_rows([[f"- {comp['label']}: {comp['verdict']}"]], [width])
    seeds = res.get("seeds", [])
    lines.append(
        f"   seeds {seeds}, data {res.get('data')}, wall time {res['wall_time_s']:.1f} s; "
        f"{len(res.get('figures', []))} figure(s) in {Path(res['settings']['out']) / res['name']}"
    )
    return "\n".join(lines)
