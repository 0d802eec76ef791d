"""Compare this checkout's trainer with another revision's: same weights, same speed.

Run:  python benchmarks/compare_revisions.py --base PATH-OR-REV [--repeats 5] [--threads 1]

``--base`` is either the ``src`` folder (or checkout) of another copy of nndl,
for example a worktree made with ``git worktree add /tmp/nndl-base HEAD``, or
a git revision, for which a temporary worktree is made and removed. The other
revision's package is imported under the name ``nndl_base`` in this process,
next to the ``nndl`` that Python finds here, so both run on the same machine
at the same moment.

Two checks:

1. Weights. Each optimizer (sgd, momentum, Nesterov) with no penalty, L2, L1,
   dropout and all three, in float64 and float32, trains a small network for
   two epochs from the same seed under both revisions; the weights must be
   equal bit for bit.
2. Speed. Full epochs of the set-ups of ``bench_train.py`` ([784, 30, 10] and
   [784, 100, 10], eta 0.5, lambda 5.0, mini-batch 10 and 100, float64 and
   float32), the two revisions alternating (which goes first alternates
   too), the median of the repeats of each, and the ratio new/old.

The exit status is 1 when a weight differs or a ratio exceeds ``--tolerance``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import nndl

#: (label, l2, l1, dropout) of the weight check.
PENALTIES = [
    ("none", 0.0, 0.0, 0.0),
    ("l2", 5.0, 0.0, 0.0),
    ("l1", 0.0, 2.0, 0.0),
    ("dropout", 0.0, 0.0, 0.3),
    ("l2+l1+dropout", 5.0, 2.0, 0.3),
]
OPTIMIZERS = [("sgd", 0.0), ("momentum", 0.9), ("nesterov", 0.9)]


def import_revision(src: Path, name: str = "nndl_base"):
    """Import the package in ``src/nndl`` under another name (its imports are relative)."""
    init = src / "nndl" / "__init__.py"
    if not init.is_file():
        raise SystemExit(f"no nndl package in {src}")
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(init.parent)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def base_source(base: str):
    """The ``src`` folder of ``base``: a folder as given, or a temporary worktree of a revision."""
    path = Path(base)
    if path.is_dir():
        yield path / "src" if (path / "src" / "nndl").is_dir() else path
        return
    with tempfile.TemporaryDirectory(prefix="nndl-base-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), base], check=True)
        try:
            yield tree / "src"
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=True)


def train(package, X, y, *, sizes, dtype, optimizer, momentum, l2, l1, dropout, epochs, m):
    net = package.Network(sizes, dtype=dtype, dropout=dropout, seed=3)
    package.fit(
        net,
        X,
        y,
        epochs=epochs,
        mini_batch_size=m,
        learning_rate=0.5,
        l2=l2,
        l1=l1,
        optimizer=optimizer,
        momentum=momentum,
        seed=7,
        monitor=[],
    )
    return net.weights + net.biases


def check_weights(old, new) -> list[str]:
    """Train each case under both revisions; return the cases whose weights differ."""
    rng = np.random.default_rng(0)
    X = rng.random((600, 64))
    y = rng.integers(0, 10, 600)
    differ = []
    for (opt, mu), (label, l2, l1, p), dtype in (
        (o, c, d) for o in OPTIMIZERS for c in PENALTIES for d in ("float64", "float32")
    ):
        kw = dict(sizes=[64, 20, 10], dtype=dtype, optimizer=opt, momentum=mu)
        kw.update(l2=l2, l1=l1, dropout=p, epochs=2, m=10)
        a, b = train(old, X, y, **kw), train(new, X, y, **kw)
        same = all(
            u.dtype == v.dtype and u.tobytes() == v.tobytes() for u, v in zip(a, b, strict=True)
        )
        case = f"{opt:<9}{label:<15}{dtype}"
        print(f"  {case}  {'bitwise equal' if same else 'DIFFERENT'}")
        if not same:
            differ.append(case)
    return differ


def time_epochs(packages, sizes, X, y, m, dtype, optimizer, momentum, repeats, clock):
    """Median seconds of one epoch for each package, the packages alternating."""
    trainers = []
    for package in packages:
        net = package.Network(sizes, dtype=dtype, seed=0)
        trainer = package.Trainer(
            net,
            epochs=1,
            mini_batch_size=m,
            learning_rate=0.5,
            l2=5.0,
            optimizer=optimizer,
            momentum=momentum,
            seed=0,
            monitor=[],
        )
        trainers.append((trainer, net.check_X(X)))
    times = [[] for _ in packages]
    for r in range(repeats):
        order = range(len(packages)) if r % 2 == 0 else reversed(range(len(packages)))
        for i in order:
            trainer, Xc = trainers[i]
            t0 = clock()
            trainer.fit(Xc, y)
            times[i].append(clock() - t0)
    return [statistics.median(t) for t in times]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="src folder, checkout or git revision")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n", type=int, default=50_000, help="training examples per epoch")
    ap.add_argument(
        "--optimizers",
        default="sgd",
        help="comma-separated optimizers to time (sgd, momentum, nesterov)",
    )
    ap.add_argument("--tolerance", type=float, default=1.05, help="largest new/old time ratio")
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or this process's CPU time (steadier on a busy machine; with --threads 1)",
    )
    ap.add_argument("--no-speed", action="store_true", help="check the weights only")
    ap.add_argument(
        "--threads", type=int, default=None, help="limit BLAS threads (needs threadpoolctl)"
    )
    ap.add_argument(
        "--engine",
        choices=("numpy", "numba"),
        default="numpy",
        help="the trainer's path in both revisions (NNDL_KERNEL; revisions before the "
        "compiled loop always take the NumPy path)",
    )
    args = ap.parse_args(argv)
    os.environ["NNDL_KERNEL"] = args.engine
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)

    with base_source(args.base) as src:
        old = import_revision(src)
        print(f"old: {Path(old.__file__).parent}\nnew: {Path(nndl.__file__).parent}")
        print("weights after two epochs, old against new:")
        differ = check_weights(old, nndl)
        slow = []
        if not args.no_speed:
            rng = np.random.default_rng(0)
            X = rng.random((args.n, 784))
            y = rng.integers(0, 10, args.n)
            clock = time.perf_counter if args.clock == "wall" else time.process_time
            print(
                f"one epoch of {args.n} examples, median of {args.repeats} ({args.clock} time), "
                "the revisions alternating:"
            )
            print(
                f"{'optimizer':<10}{'sizes':<16}{'mb':>5}{'dtype':>9}"
                f"{'old ex/s':>12}{'new ex/s':>12}{'new/old time':>14}"
            )
            for opt in args.optimizers.split(","):
                mu = 0.0 if opt == "sgd" else 0.9
                for sizes in ([784, 30, 10], [784, 100, 10]):
                    for m in (10, 100):
                        for dtype in ("float64", "float32"):
                            t_old, t_new = time_epochs(
                                [old, nndl], sizes, X, y, m, dtype, opt, mu, args.repeats, clock
                            )
                            ratio = t_new / t_old
                            print(
                                f"{opt:<10}{sizes!s:<16}{m:>5}{dtype:>9}{args.n / t_old:>12,.0f}"
                                f"{args.n / t_new:>12,.0f}{ratio:>14.3f}"
                            )
                            if ratio > args.tolerance:
                                slow.append(f"{opt} {sizes} mb {m} {dtype}: {ratio:.3f}")
    if differ:
        print(f"weights differ in {len(differ)} case(s): {differ}")
    if slow:
        print(f"slower than {args.tolerance:g} x old: {slow}")
    return 1 if differ or slow else 0


if __name__ == "__main__":
    sys.exit(main())
