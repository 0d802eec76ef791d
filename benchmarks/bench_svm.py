"""The SVM baseline's prediction: libsvm's ``SVC.predict`` against nndl's kernel products.

Run:  python benchmarks/bench_svm.py [--sizes 10000 20000] [--repeats 3]

For each training-set size, fits scikit-learn's ``SVC`` as ``more_data``
does (MNIST, gamma 1/784) once, then predicts the 10,000 validation images
``--repeats`` times each way, alternating, in this process with one BLAS
thread (as in the run's SVM process). Prints the median seconds of each, their
ratio, and whether every label is the same; ``--json`` writes the record.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_jobs import cpu_model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    import numpy as np
    from sklearn.svm import SVC
    from threadpoolctl import threadpool_limits

    from nndl.experiments.data_source import load_splits
    from nndl.experiments.svm_baseline import SVM_GAMMA, svc_predict

    machine = cpu_model()
    print(f"machine: {machine}; load average before: {os.getloadavg()[0]:.2f}")
    splits = load_splits("mnist")
    Xv = np.asarray(splits.validation.X, dtype=np.float64)
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):
        for n in args.sizes:
            X = np.asarray(splits.train.X[:n], dtype=np.float64)
            t0 = time.perf_counter()
            clf = SVC(gamma=SVM_GAMMA, cache_size=1000).fit(X, splits.train.y[:n])
            fit_s = time.perf_counter() - t0
            libsvm, ours, same = [], [], True
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                expected = clf.predict(Xv)
                libsvm.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                labels, how = svc_predict(clf, Xv)
                ours.append(time.perf_counter() - t0)
                same = same and how == "kernel products" and np.array_equal(labels, expected)
            row = {
                "size": n,
                "support_vectors": int(clf.n_support_.sum()),
                "fit_s": fit_s,
                "svc_predict_s": statistics.median(libsvm),
                "kernel_products_s": statistics.median(ours),
                "same_labels": bool(same),
            }
            row["ratio"] = row["svc_predict_s"] / row["kernel_products_s"]
            rows.append(row)
            print(
                f"{n:>6,} images, {row['support_vectors']:,} support vectors (fit {fit_s:.1f} s): "
                f"SVC.predict {row['svc_predict_s']:.2f} s, kernel products "
                f"{row['kernel_products_s']:.2f} s, {row['ratio']:.1f}x; same labels: {same}"
            )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "result": rows}, indent=1))


if __name__ == "__main__":
    main()
