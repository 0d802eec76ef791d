"""The SVM baseline of more_data: prediction by kernel products, and its result cache."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_digits
from sklearn.svm import SVC

import nndl.experiments.svm_baseline as svm_baseline
from nndl.experiments import ExperimentSettings, run_experiment
from nndl.experiments.svm_baseline import svc_predict, svm_accuracies


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.mark.parametrize("classes", [2, 3, 10])
@pytest.mark.parametrize("gamma", ["auto", 0.02])
def test_kernel_products_give_svc_predict_labels(digits, classes, gamma):
    X, y = digits
    keep = y < classes
    X, y = X[keep], y[keep]
    # Labels that are not 0..k-1, so that the classes' order matters.
    y = np.array([10, 30, 20, 40, 50, 60, 70, 80, 90, 99])[y]
    clf = SVC(gamma=gamma, C=0.5).fit(X[:300], y[:300])
    labels, how = svc_predict(clf, X[300:])
    assert how == "kernel products"
    np.testing.assert_array_equal(labels, clf.predict(X[300:]))


def test_prediction_votes_like_libsvm_on_ties():
    """Three classes in a circle: every image gets one vote each; the first class wins."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2))
    y = np.repeat([0, 1, 2], 30)
    clf = SVC(gamma=5.0, C=100.0).fit(X, y)
    probe = rng.normal(scale=3.0, size=(400, 2))
    labels, how = svc_predict(clf, probe)
    assert how == "kernel products"
    np.testing.assert_array_equal(labels, clf.predict(probe))


def test_a_label_that_differs_on_the_check_falls_back_to_svc_predict(digits, monkeypatch):
    X, y = digits
    clf = SVC(gamma="auto").fit(X[:200], y[:200])
    monkeypatch.setattr(
        svm_baseline,
        "_kernel_predict",
        lambda clf, X, gamma: (np.zeros(len(X), dtype=int), np.zeros(len(X), dtype=bool)),
    )
    labels, how = svc_predict(clf, X[200:400])
    assert how == "SVC.predict"
    np.testing.assert_array_equal(labels, clf.predict(X[200:400]))


def test_images_near_a_tie_are_predicted_by_svc_predict(digits, monkeypatch):
    """Past the checked rows, a wrong label marked as near a tie is replaced."""
    X, y = digits
    clf = SVC(gamma="auto").fit(X[:300], y[:300])
    kernel_predict = svm_baseline._kernel_predict

    def flipped_past_the_check(clf, X, gamma):
        labels, near = kernel_predict(clf, X, gamma)
        labels[150:] = (labels[150:] + 1) % 10
        near[150:] = True
        return labels, near

    monkeypatch.setattr(svm_baseline, "_kernel_predict", flipped_past_the_check)
    labels, how = svc_predict(clf, X[300:])
    assert how == "kernel products"
    np.testing.assert_array_equal(labels, clf.predict(X[300:]))


def test_predictions_span_several_blocks(digits, monkeypatch):
    X, y = digits
    clf = SVC(gamma="auto").fit(X[:400], y[:400])
    monkeypatch.setattr(svm_baseline, "_ROWS_PER_BLOCK", 7)
    labels, how = svc_predict(clf, X[400:])
    assert how == "kernel products"
    np.testing.assert_array_equal(labels, clf.predict(X[400:]))


def test_other_kernels_and_sparse_images_use_svc_predict(digits):
    from scipy import sparse

    X, y = digits
    clf = SVC(kernel="linear").fit(X[:200], y[:200])
    labels, how = svc_predict(clf, X[200:300])
    assert how == "SVC.predict"
    np.testing.assert_array_equal(labels, clf.predict(X[200:300]))
    clf = SVC(gamma="auto").fit(sparse.csr_matrix(X[:200]), y[:200])
    labels, how = svc_predict(clf, sparse.csr_matrix(X[200:300]))
    assert how == "SVC.predict"
    np.testing.assert_array_equal(labels, clf.predict(sparse.csr_matrix(X[200:300])))


# ------------------------------------------------------------------ cache
def _fits(monkeypatch) -> list[int]:
    """Count the SVC fits from here on."""
    fitted = []
    fit = SVC.fit

    def counted(self, X, y, *args, **kwargs):
        fitted.append(len(X))
        return fit(self, X, y, *args, **kwargs)

    monkeypatch.setattr(SVC, "fit", counted)
    return fitted


def test_results_are_cached_per_size_and_read_back(tmp_path, monkeypatch):
    fitted = _fits(monkeypatch)
    first = svm_accuracies("digits", True, [50, 100], cache_dir=tmp_path)
    assert fitted == [50, 100]
    assert all(r[3] is None for r in first.values())  # fitted now
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 2
    record = json.loads(files[0].read_text())
    assert record["format"] == "nndl-svm-result" and record["predicted_by"] == "kernel products"

    again = svm_accuracies("digits", True, [50, 100, 200], cache_dir=tmp_path)
    assert fitted == [50, 100, 200]  # only the new size was fitted
    assert again["50"][:3] == first["50"][:3] and again["50"][3] is not None
    assert again["200"][3] is None
    assert svm_baseline.uncached_sizes("digits", True, [50, 100, 200, 500], tmp_path) == [500]

    refit = svm_accuracies("digits", True, [50], cache_dir=tmp_path, read_cache=False)
    assert fitted[-1] == 50 and refit["50"][3] is None and refit["50"][0] == first["50"][0]


def test_a_cache_that_cannot_be_written_costs_only_the_cache(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    with pytest.warns(RuntimeWarning, match="cannot be cached") as caught:
        result = svm_accuracies("digits", True, [50, 100], cache_dir=blocked / "svm")
    assert 0.0 < result["100"][0] <= 1.0 and result["100"][3] is None
    assert len(caught) == 1  # once, not once per size
    assert "make that folder writable, or set NNDL_DATA_DIR" in str(caught[0].message)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_cache_the_svm_cannot_write_is_reported_once(tmp_path, monkeypatch, jobs):
    """In this process (--jobs 1) or the second one (--jobs 2), the SVM's warning reaches
    the log and the report, once."""
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setattr(svm_baseline, "svm_cache_dir", lambda cache_dir=None: blocked / "svm")
    stream = io.StringIO()
    settings = ExperimentSettings(
        quick=True, data="digits", out=tmp_path / "out", stream=stream, jobs=jobs
    )
    result = run_experiment("more_data", settings)
    notes = [n for n in result["notes"] if "RuntimeWarning: the SVM results cannot be cached" in n]
    assert len(notes) == 1, result["notes"]
    assert stream.getvalue().count("[more_data] SVM: RuntimeWarning: the SVM results cannot") == 1


def test_the_key_covers_the_data_and_the_settings(tmp_path, monkeypatch):
    svm_accuracies("digits", True, [50, 100], cache_dir=tmp_path)
    assert svm_baseline.uncached_sizes("digits", True, [50, 100], tmp_path) == []
    # One pixel of image 60 changed: size 100 is other data, size 50 is not. Likewise
    # another gamma, another scikit-learn or another cache version.
    from nndl.data import Dataset

    svm_data = svm_baseline._svm_data

    def one_pixel_changed(source, quick):
        train, Xv, yv = svm_data(source, quick)
        X = np.array(train.X)
        X[60, 10] += 0.5
        return Dataset(X, train.y), Xv, yv

    with monkeypatch.context() as m:
        m.setattr(svm_baseline, "_svm_data", one_pixel_changed)
        assert svm_baseline.uncached_sizes("digits", True, [50, 100], tmp_path) == [100]
    assert svm_baseline.uncached_sizes("digits", True, [100], tmp_path, gamma=0.5) == [100]
    import scipy
    import sklearn

    for module, name, value in (
        (sklearn, "__version__", "0.0.1"),
        (scipy, "__version__", "0.0.1"),
        (svm_baseline, "SVM_CACHE_VERSION", 99),
    ):
        with monkeypatch.context() as m:
            m.setattr(module, name, value)
            assert svm_baseline.uncached_sizes("digits", True, [100], tmp_path) == [100]
    assert svm_baseline.uncached_sizes("digits", True, [100], tmp_path) == []


@pytest.mark.parametrize(
    "damage",
    [
        "not json",
        '{"format": "nndl-svm-result", "size": 100}',
        '{"format": "other", "size": 100, "accuracy": 0.5, "fit_s": 1, "predict_s": 1,'
        ' "computed": "x"}',
        '{"format": "nndl-svm-result", "size": 100, "accuracy": 7, "fit_s": 1, "predict_s": 1,'
        ' "computed": "x"}',
        "[1, 2]",
    ],
)
def test_a_damaged_cache_file_is_fitted_again_and_replaced(tmp_path, monkeypatch, damage):
    good = svm_accuracies("digits", True, [100], cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.json")
    path.write_text(damage)
    fitted = _fits(monkeypatch)
    again = svm_accuracies("digits", True, [100], cache_dir=tmp_path)
    assert fitted == [100] and again["100"][0] == good["100"][0]
    assert json.loads(path.read_text())["accuracy"] == good["100"][0]


def test_more_data_reads_the_cache_on_its_second_run(tmp_path, monkeypatch):
    """No SVM process and no fit the second time; the same numbers, and the report says so."""
    import nndl.experiments.background as background

    def settings(name, **options):
        return ExperimentSettings(
            quick=True, data="digits", out=tmp_path / name, verbose=False, jobs=2, options=options
        )

    first = run_experiment("more_data", settings("first"))
    assert not any("read from the cache" in n for n in first["notes"])

    def refused(*args, **kwargs):
        raise AssertionError("a background process started with every size cached")

    monkeypatch.setattr(background, "BackgroundJob", refused)
    fitted = _fits(monkeypatch)
    second = run_experiment("more_data", settings("second"))
    assert fitted == []
    svm = {k: v for k, v in first["metrics"].items() if k.split()[0] == "svm" and k[4:].isdigit()}
    assert svm and all(second["metrics"][k] == v for k, v in svm.items())
    (note,) = [n for n in second["notes"] if "read from the cache" in n]
    assert "--no-svm-cache" in note
    assert all(s["cached_from"] for s in second["config"]["svm_seconds"].values())

    # svm_cache=False (--no-svm-cache) fits every size again, in this process at --jobs 1.
    third = run_experiment(
        "more_data",
        ExperimentSettings(
            quick=True,
            data="digits",
            out=tmp_path / "third",
            verbose=False,
            jobs=1,
            options={"svm_cache": False},
        ),
    )
    assert sorted(fitted) == sorted(int(k.split()[1]) for k in svm)
    assert not any("read from the cache" in n for n in third["notes"])
    # Fitted in a second process (--jobs 2) or in this one (--jobs 1): the same numbers.
    assert all(third["metrics"][k] == v for k, v in svm.items())


def test_cli_no_svm_cache_fits_again(tmp_path, monkeypatch):
    pytest.importorskip("click")
    from click.testing import CliRunner

    from nndl.cli import cli

    def run(*extra):
        args = ["experiment", "run", "more_data", "--quick", "--data", "digits"]
        args += ["--jobs", "1", "--out", str(tmp_path / "out"), *extra]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        return result.output

    first = run()
    assert "read from the cache" not in first
    # --jobs 1: each size as it is fitted (the run's time left counts trainings only)
    assert "SVM on 100 images: fitting ..." in first
    assert "SVM on 100 images: fitted in" in first
    assert "read from the cache" in run()
    fitted = _fits(monkeypatch)
    assert "read from the cache" not in run("--no-svm-cache")
    assert fitted


def test_a_prefetch_that_cannot_load_the_data_leaves_the_error_to_the_experiment(
    tmp_path, monkeypatch
):
    """run all still runs every other experiment, and more_data reports the error."""
    from nndl.experiments import run_all

    def broken(source, quick):
        raise OSError("the data could not be read")

    monkeypatch.setattr(svm_baseline, "_svm_data", broken)
    settings = ExperimentSettings(quick=True, data="digits", out=tmp_path, verbose=False, jobs=2)
    run = run_all(settings, ["more_data", "softmax"])
    assert "softmax" in run["results"]
    assert "could not be read" in str(run["errors"]["more_data"])


@pytest.mark.parametrize("read_cache", [True, False])
def test_waiting_for_the_svm_process_says_which_sizes_it_still_fits(tmp_path, read_cache):
    from nndl.experiments.more_data import _say_what_the_svm_has_left

    svm_accuracies("digits", True, [50, 100], cache_dir=tmp_path)
    said = []

    class Experiment:
        log = staticmethod(said.append)

    kwargs = {
        "source": "digits",
        "quick": True,
        "sizes": [50, 100, 200, 500],
        "cache_dir": str(tmp_path),
        "read_cache": read_cache,
    }
    _say_what_the_svm_has_left(Experiment, kwargs)
    if read_cache:
        assert said == ["SVM: waiting for the second process; sizes still to fit: 200, 500"]
    else:  # the process fits every size again: the cache says nothing of its progress
        assert said == ["SVM: waiting for the second process"]
