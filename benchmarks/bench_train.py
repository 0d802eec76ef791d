"""Training speed: examples per second for one epoch, against a per-example reference.

Run:  python benchmarks/bench_train.py [--repeats 5] [--n 50000] [--threads 1] [--engine numpy]

For each configuration it times full epochs of nndl's trainer ([784, 30, 10]
and [784, 100, 10], sigmoid + cross-entropy, eta 0.5, lambda 5.0, mini-batch
10 and 100, float64 and float32) on MNIST-shaped random data and prints the
median over the repeats. In the same process it times a plain per-example
implementation of the same algorithm (one backprop per example, column
vectors, as a textbook loop would do) on the smallest set-up, so the ratio is
measured on this machine at this moment rather than quoted.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy as np

from nndl import Network, Trainer


def per_example_epoch(sizes, X, Y, eta, lmbda, m, rng):
    """Reference: the same SGD + L2 epoch with one backprop per example."""
    weights = [rng.standard_normal((o, i)) / np.sqrt(i) for i, o in itertools.pairwise(sizes)]
    biases = [rng.standard_normal((o, 1)) for o in sizes[1:]]
    n = len(X)
    order = rng.permutation(n)
    for start in range(0, n, m):
        gw = [np.zeros_like(w) for w in weights]
        gb = [np.zeros_like(b) for b in biases]
        idx = order[start : start + m]
        for i in idx:
            a = X[i].reshape(-1, 1)
            acts, zs = [a], []
            for w, b in zip(weights, biases, strict=False):
                z = w @ a + b
                zs.append(z)
                a = 1 / (1 + np.exp(-z))
                acts.append(a)
            delta = acts[-1] - Y[i].reshape(-1, 1)
            for l in range(len(weights) - 1, -1, -1):
                gw[l] += delta @ acts[l].T
                gb[l] += delta
                if l:
                    s = acts[l]
                    delta = (weights[l].T @ delta) * s * (1 - s)
        k = len(idx)
        for l in range(len(weights)):
            weights[l] = (1 - eta * lmbda / n) * weights[l] - eta / k * gw[l]
            biases[l] = biases[l] - eta / k * gb[l]


def time_nndl(sizes, X, y, m, dtype, repeats, engine="numpy"):
    net = Network(sizes, dtype=dtype, seed=0)
    Xc = net.check_X(X)
    trainer = Trainer(
        net,
        epochs=1,
        mini_batch_size=m,
        learning_rate=0.5,
        l2=5.0,
        seed=0,
        monitor=[],
        engine=engine,
    )
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        trainer.fit(Xc, y)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n", type=int, default=50_000, help="training examples per epoch")
    ap.add_argument(
        "--reference-n",
        type=int,
        default=5_000,
        help="examples for the per-example reference (it is slow)",
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="limit BLAS threads (needs threadpoolctl)"
    )
    ap.add_argument(
        "--engine",
        choices=("numpy", "numba", "auto"),
        default="numpy",
        help="nndl's path (benchmarks/bench_kernels.py compares the two)",
    )
    args = ap.parse_args(argv)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)

    rng = np.random.default_rng(0)
    X = rng.random((args.n, 784))
    y = rng.integers(0, 10, args.n)
    Y = np.eye(10)[y]

    ref_times = []
    for _ in range(max(1, args.repeats // 2)):
        t0 = time.perf_counter()
        per_example_epoch(
            [784, 30, 10],
            X[: args.reference_n],
            Y[: args.reference_n],
            0.5,
            5.0,
            10,
            np.random.default_rng(1),
        )
        ref_times.append(time.perf_counter() - t0)
    ref_rate = args.reference_n / statistics.median(ref_times)
    print(f"reference per-example loop [784, 30, 10] mb 10 float64: {ref_rate:>10,.0f} ex/s")
    print(f"{'sizes':<16}{'mb':>5}{'dtype':>9}{'ex/s':>12}{'x reference':>13}")
    for sizes in ([784, 30, 10], [784, 100, 10]):
        for m in (10, 100):
            for dtype in ("float64", "float32"):
                t = time_nndl(sizes, X, y, m, dtype, args.repeats, args.engine)
                rate = args.n / t
                print(f"{sizes!s:<16}{m:>5}{dtype:>9}{rate:>12,.0f}{rate / ref_rate:>12.1f}x")


if __name__ == "__main__":
    main()
