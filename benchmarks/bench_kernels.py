"""The compiled training loop against the NumPy path and a plain NumPy loop, in one run.

Run:  python benchmarks/bench_kernels.py [--n 50000] [--repeats 5] [--clock cpu] [--markdown]

For [784, 30, 10] and [784, 100, 10] (sigmoid, cross-entropy, eta 0.5,
lambda 5.0, SGD), mini-batch 10 and 100, float64 and float32, it times one
epoch on MNIST-shaped random data three ways, round-robin so that a change
in the machine's load touches all three alike:

* ``numpy``: nndl's trainer on its NumPy path (``Trainer(engine="numpy")``);
* ``numba``: nndl's trainer on the compiled loop (``Trainer(engine="numba")``);
* ``plain``: the chapter's epoch as a plain twenty-line vectorized NumPy loop
  (:func:`plain_numpy_epoch`), the baseline a learner would write.

It prints the median epoch time of each and the ratios, measured in the
same process. ``--clock cpu`` measures the process's CPU time instead of
the wall clock, which is steadier on a machine shared with other work;
BLAS is limited to ``--threads`` threads (default 1: the compiled loop is
single-threaded, so every contender gets one core).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from nndl import Network, Trainer
from nndl.kernels import compiled_loop_available

ETA, LMBDA = 0.5, 5.0


def plain_numpy_epoch(params, X, Y, order, m, eta=ETA, lmbda=LMBDA):
    """One epoch of the chapter's SGD (sigmoid, cross-entropy, L2), vectorized over a mini-batch."""
    W1, b1, W2, b2 = params
    n = len(X)
    decay = 1.0 - eta * lmbda / n
    for start in range(0, n, m):
        idx = order[start : start + m]
        x, y = X[idx], Y[idx]
        a1 = 1.0 / (1.0 + np.exp(-(x @ W1.T + b1)))
        a2 = 1.0 / (1.0 + np.exp(-(a1 @ W2.T + b2)))
        d2 = (a2 - y) * (eta / len(idx))
        d1 = (d2 @ W2) * a1 * (1.0 - a1)
        W2 *= decay
        W2 -= d2.T @ a1
        b2 -= d2.sum(axis=0)
        W1 *= decay
        W1 -= d1.T @ x
        b1 -= d1.sum(axis=0)


def _contenders(sizes, m, dtype, X, Y):
    """Name -> function running one epoch, each on its own copy of the same network."""
    out = {}
    for engine in ("numpy", "numba"):
        net = Network(sizes, dtype=dtype, seed=0)
        trainer = Trainer(
            net,
            epochs=1,
            mini_batch_size=m,
            learning_rate=ETA,
            l2=LMBDA,
            seed=0,
            monitor=[],
            engine=engine,
        )
        out[engine] = lambda trainer=trainer: trainer.fit(X, Y)
    net = Network(sizes, dtype=dtype, seed=0)
    params = net.params()
    rng = np.random.default_rng(0)
    out["plain"] = lambda: plain_numpy_epoch(params, X, Y, rng.permutation(len(X)), m)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000, help="training examples per epoch")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall clock, or the process's CPU time (steadier on a shared machine)",
    )
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (needs threadpoolctl)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    if not compiled_loop_available():
        raise SystemExit('the compiled loop needs Numba: pip install "nndl[fast]"')
    import scipy.linalg.cython_blas  # noqa: F401  (load SciPy's BLAS, then limit it too)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    rng = np.random.default_rng(0)
    X64 = rng.random((args.n, 784))
    Y64 = np.eye(10)[rng.integers(0, 10, args.n)]
    rows = []
    for sizes in ([784, 30, 10], [784, 100, 10]):
        for m in (10, 100):
            for dtype in ("float64", "float32"):
                X, Y = X64.astype(dtype), Y64.astype(dtype)
                runs = _contenders(sizes, m, dtype, X[:1000], Y[:1000])
                for run in runs.values():  # compile (or load the cache) and warm up
                    run()
                runs = _contenders(sizes, m, dtype, X, Y)
                times: dict[str, list[float]] = {k: [] for k in runs}
                for _ in range(args.repeats):
                    for name, run in runs.items():
                        t0 = clock()
                        run()
                        times[name].append(clock() - t0)
                med = {k: statistics.median(v) for k, v in times.items()}
                rows.append((sizes, m, dtype, med))
                _print_row(rows[-1], args, header=len(rows) == 1)
    return rows


def _print_row(row, args, header=False):
    sizes, m, dtype, med = row
    rate = {k: args.n / v for k, v in med.items()}
    cells = [
        str(sizes),
        str(m),
        dtype,
        f"{rate['numpy']:,.0f}",
        f"{rate['numba']:,.0f}",
        f"{rate['plain']:,.0f}",
        f"{med['numpy'] / med['numba']:.2f}x",
        f"{med['plain'] / med['numba']:.2f}x",
        f"{med['plain'] / med['numpy']:.2f}x",
    ]
    names = [
        "network",
        "mini-batch",
        "dtype",
        "NumPy path ex/s",
        "compiled ex/s",
        "plain loop ex/s",
        "compiled / NumPy path",
        "compiled / plain",
        "NumPy path / plain",
    ]
    if args.markdown:
        if header:
            print("| " + " | ".join(names) + " |")
            print("|" + "---|" * len(names))
        print("| " + " | ".join(cells) + " |", flush=True)
    else:
        widths = [16, 11, 9, 16, 14, 16, 22, 17, 19]
        if header:
            print(f"clock: {args.clock}, BLAS threads: {args.threads}, n = {args.n:,}")
            print("".join(f"{h:>{w}}" for h, w in zip(names, widths, strict=True)))
        print("".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)), flush=True)


if __name__ == "__main__":
    main()
