"""The chapter's hyper-parameter heuristics (nndl.tuning) on scripted oracles and real digits."""

import itertools
import json
import math

import numpy as np
import pytest

from nndl import Network
from nndl.tuning import (
    find_learning_rate_threshold,
    plot_cost_curves,
    rescale_lambda,
    subsample,
    subset_classes,
    tune_batch_size,
    tune_lambda,
)
from nndl.tuning.learning_rate import _threshold_search
from nndl.tuning.regularization import _lambda_search


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    X = X / 16.0
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    return (X[:800], y[:800]), (X[800:1100], y[800:1100])


# ------------------------------------------------------ scripted oracles
def _oracle(threshold, calls, rounds=None):
    """A round-at-a-time ``falls``: the cost falls below ``threshold``."""

    def falls(candidates):
        if rounds is not None:
            rounds.append([eta for eta, _ in candidates])
        calls.extend((stage, eta) for eta, stage in candidates)
        return [eta < threshold for eta, _ in candidates]

    return falls


def test_threshold_search_brackets_upwards_then_bisects():
    calls = []
    good, bad = _threshold_search(
        _oracle(0.37, calls), start=0.01, factor=10, refine_steps=3, max_trials=10
    )
    assert [eta for stage, eta in calls if stage == "bracket"] == pytest.approx([0.01, 0.1, 1.0])
    refine = [eta for stage, eta in calls if stage == "refine"]
    assert len(refine) == 3
    assert refine[0] == pytest.approx(math.sqrt(0.1 * 1.0))
    assert good < 0.37 <= bad
    # three bisections of one decade on a log scale: log10(bad/good) = 1/8
    assert math.log10(bad / good) == pytest.approx(1 / 8)


def test_threshold_search_goes_down_when_the_first_eta_is_too_large():
    calls = []
    good, bad = _threshold_search(
        _oracle(0.37, calls), start=10.0, factor=10, refine_steps=0, max_trials=10
    )
    assert [eta for _, eta in calls] == pytest.approx([10.0, 1.0, 0.1])
    assert (good, bad) == pytest.approx((0.1, 1.0))


def test_threshold_search_trains_lookahead_steps_per_round():
    rounds = []
    _threshold_search(
        _oracle(0.37, [], rounds), start=0.01, factor=10, refine_steps=3, max_trials=10,
        lookahead=2,
    )  # fmt: skip
    sizes = [len(r) for r in rounds]
    # bracket: (0.01, 0.1) then (1, 10); refine: two levels of bisections (3), then one
    assert sizes == [2, 2, 3, 1]
    assert rounds[0] == pytest.approx([0.01, 0.1]) and rounds[1] == pytest.approx([1.0, 10.0])
    # the bisection tree level by level: the midpoint, then the quarter points, low first
    assert rounds[2] == pytest.approx([10**-0.5, 10**-0.75, 10**-0.25])


@pytest.mark.parametrize("start", [1e-4, 0.01, 0.3, 10.0, 1e4])
@pytest.mark.parametrize("threshold", [0.0021, 0.037, 0.37, 0.99, 5.5])
def test_threshold_search_answer_does_not_depend_on_lookahead(threshold, start):
    answers = set()
    for lookahead in (1, 2, 3, 5):
        answers.add(
            _threshold_search(
                _oracle(threshold, []),
                start=start,
                factor=10,
                refine_steps=3,
                max_trials=12,
                lookahead=lookahead,
            )
        )
    assert len(answers) == 1


@pytest.mark.parametrize("lookahead", [1, 2, 3])
@pytest.mark.parametrize("threshold, start", [(1e9, 0.01), (1e-9, 0.01)])
def test_threshold_search_gives_up_with_a_clear_message(threshold, start, lookahead):
    calls = []
    with pytest.raises(ValueError, match=r"eta = .* after 4 trials"):
        _threshold_search(
            _oracle(threshold, calls),
            start=start,
            factor=10,
            refine_steps=0,
            max_trials=4,
            lookahead=lookahead,
        )


def _peaked(peak_log10, calls):
    def score(candidates):
        calls.extend((stage, lmbda) for lmbda, stage in candidates)
        return [-abs(math.log10(lmbda) - peak_log10) for lmbda, _ in candidates]

    return score


def test_lambda_search_moves_up_by_decades_while_it_improves():
    calls = []
    best = _lambda_search(_peaked(1.2, calls), start=1.0, factor=10, refine_steps=2, max_decades=6)
    decades = [v for stage, v in calls if stage == "decade"]
    assert decades == [1.0, 10.0, 100.0]  # 100 is worse than 10: stop
    assert best == pytest.approx(10**1.25)  # refined: 10 * 10^(1/4)
    assert all(stage in ("decade", "refine") for stage, _ in calls)


def test_lambda_search_moves_down_when_up_is_worse():
    calls = []
    _lambda_search(_peaked(-2.0, calls), start=1.0, factor=10, refine_steps=0, max_decades=6)
    assert [v for _, v in calls] == [1.0, 10.0, 0.1, 0.01, 0.001]


def test_lambda_search_stays_put_on_a_flat_score():
    calls = []
    best = _lambda_search(
        lambda cands: calls.extend(lm for lm, _ in cands) or [0.5] * len(cands),
        start=1.0,
        factor=10,
        refine_steps=1,
        max_decades=6,
    )
    assert best == 1.0
    assert calls[:3] == [1.0, 10.0, 0.1]


@pytest.mark.parametrize("peak", [-3.3, -0.7, 0.0, 0.4, 1.2, 2.6, 9.0])
def test_lambda_search_answer_does_not_depend_on_lookahead(peak):
    answers, rounds = set(), {}
    for lookahead in (1, 2, 4):
        sizes = []

        def score(cands, sizes=sizes):
            sizes.append(len(cands))
            return _peaked(peak, [])(cands)

        answers.add(
            _lambda_search(
                score, start=1.0, factor=10, refine_steps=2, max_decades=6, lookahead=lookahead
            )
        )
        rounds[lookahead] = sizes
    assert len(answers) == 1
    assert rounds[2][0] == 3  # start and two decades above it
    assert all(n == 2 for n in rounds[1][-2:])  # both candidates of a refinement step at once


# ----------------------------------------------------------- real data
def test_learning_rate_threshold_on_digits(digits, tmp_path):
    (X, y), _ = digits
    seen = []
    result = find_learning_rate_threshold(
        [64, 20, 10], X, y, epochs=3, refine_steps=2, on_trial=seen.append
    )
    assert seen == result.trials
    by_eta = {t.value: t for t in result.trials}
    assert by_eta[result.last_good].falling is True
    assert by_eta[result.first_bad].falling is False
    # the threshold lies between the last falling and the first non-falling eta
    assert result.last_good < result.threshold < result.first_bad
    assert result.recommended == pytest.approx(result.threshold / 2)
    bracket = [t.value for t in result.trials if t.stage == "bracket"]
    assert bracket[0] == 0.01
    assert np.allclose(np.diff(np.log10(bracket)), 1.0)  # factors of 10
    for t in result.trials:  # every label agrees with its own cost curve
        assert len(t.costs) == 4
        assert t.falling == all(b < a for a, b in zip(t.costs, t.costs[1:], strict=False))
    json.dumps(result.to_dict(), allow_nan=False)
    out = plot_cost_curves(result, tmp_path / "eta.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "threshold" in result.summary()


def test_trials_start_from_the_same_weights(digits):
    (X, y), _ = digits
    net = Network([64, 10, 10], seed=3)
    before = [p.copy() for p in net.get_params()]
    r1 = find_learning_rate_threshold(net, X[:200], y[:200], epochs=2, refine_steps=0)
    r2 = find_learning_rate_threshold(net, X[:200], y[:200], epochs=2, refine_steps=0)
    assert [t.costs for t in r1.trials] == [t.costs for t in r2.trials]
    assert all(np.array_equal(a, b) for a, b in zip(before, net.get_params(), strict=True))
    # all trials start at the untrained network's cost
    assert len({t.costs[0] for t in r1.trials}) == 1


def test_a_diverging_trial_counts_as_not_falling(digits):
    (X, y), _ = digits
    result = find_learning_rate_threshold(
        {"sizes": [64, 20, 10], "hidden_activation": "linear"},
        X[:300],
        y[:300],
        start=1e8,
        factor=1e4,
        epochs=2,
        refine_steps=0,
    )
    first = result.trials[0]
    assert first.value == 1e8 and first.falling is False
    assert first.diverged and "diverged" in first.error
    assert math.isinf(first.costs[-1])
    assert result.first_bad <= 1e8
    json.dumps(result.to_dict(), allow_nan=False)  # inf costs become null


def test_tune_lambda_on_digits(digits, tmp_path):
    (X, y), val = digits
    result = tune_lambda(  # one decade at a time: the walk's trials only
        [64, 20, 10], X, y, val, learning_rate=0.5, epochs=3, refine_steps=1, max_decades=3,
        lookahead=1,
    )  # fmt: skip
    assert result.trials[0].value == 0.0 and result.trials[0].stage == "baseline"
    assert result.baseline_accuracy == result.trials[0].score
    decades = [t for t in result.trials if t.stage == "decade"]
    assert decades[0].value == 1.0
    logs = np.log10([t.value for t in decades])
    assert np.allclose(logs, np.round(logs))  # lambda moves by decades
    # the walk in each direction continues only while accuracy improves
    up = [t for t in decades if t.value >= 1.0]
    steps = [b.score > a.score for a, b in itertools.pairwise(up)]
    assert all(steps[:-1]) and (len(up) == 4 or not steps[-1])  # 4: max_decades reached
    assert result.best_accuracy == max(t.score for t in result.trials)
    assert all(len(t.val_accuracy) == 4 for t in result.trials)
    plot_cost_curves(result, tmp_path / "lambda.svg")
    assert (tmp_path / "lambda.svg").read_text().lstrip().startswith("<?xml")


def test_tune_batch_size_on_digits(digits, tmp_path):
    (X, y), val = digits
    result = tune_batch_size(
        [64, 20, 10], X, y, val, batch_sizes=[5, 20, 100], learning_rate=0.5, epochs=2
    )
    assert [t.value for t in result.trials] == [5, 20, 100]
    for t in result.trials:
        assert t.times[0] == 0.0 and np.all(np.diff(t.times) > 0)
        assert len(t.val_accuracy) == len(t.times) == 3
    best_final = max(t.val_accuracy[-1] for t in result.trials)
    assert result.target == pytest.approx(0.95 * best_final)
    reached = {b: s for b, s in result.time_to_target.items() if math.isfinite(s)}
    assert reached, "the best size reaches 95% of its own accuracy"
    assert result.time_to_target[result.recommended] == min(reached.values())
    plot_cost_curves(result, tmp_path / "batch.png")
    json.dumps(result.to_dict(), allow_nan=False)


def test_tune_batch_size_with_a_target_nobody_reaches(digits):
    (X, y), val = digits
    result = tune_batch_size(
        [64, 10], X[:200], y[:200], val, batch_sizes=[10, 50], epochs=1, target=1.0
    )
    assert all(math.isinf(v) for v in result.time_to_target.values())
    assert result.recommended == 50  # ties go to the larger size
    assert "no mini-batch size reached the target" in result.summary()


def test_batch_size_summary_says_the_target_was_reached_and_with_which_eta(digits):
    (X, y), val = digits
    etas = {5: 0.25, 50: 1.0}
    result = tune_batch_size(
        [64, 10], X[:300], y[:300], val, batch_sizes=[5, 50], epochs=2, learning_rate=etas
    )
    assert result.learning_rates == etas
    assert result.to_dict()["learning_rates"] == {"5": 0.25, "50": 1.0}
    text = result.summary()
    b = result.recommended
    assert f"recommended mini-batch size {b} (eta {etas[b]:g})" in text
    assert f"reached the target validation accuracy {result.target:.4f}" in text
    final = next(t for t in result.trials if t.value == b).score
    assert f"it ended at {final:.4f}" in text


def _computed(trials):
    """What each trial computed, in order: everything but its wall times."""
    return [(t.value, t.stage, t.costs, t.val_accuracy, t.falling, t.diverged) for t in trials]


@pytest.mark.parametrize("procedure", ["eta", "lambda", "batch size"])
def test_the_trials_and_the_result_do_not_depend_on_n_jobs(digits, procedure):
    (X, y), val = digits
    X, y = X[:300], y[:300]
    runs = {}
    for n_jobs in (1, 2):
        seen = []
        common = {"on_trial": seen.append, "n_jobs": n_jobs, "epochs": 2}
        if procedure == "eta":
            r = find_learning_rate_threshold([64, 12, 10], X, y, refine_steps=3, **common)
            answer = (r.last_good, r.first_bad, r.recommended)
        elif procedure == "lambda":
            r = tune_lambda(
                [64, 12, 10], X, y, val, learning_rate=0.5, refine_steps=1, max_decades=3, **common
            )
            answer = (r.best, r.best_accuracy, r.baseline_accuracy)
        else:
            r = tune_batch_size(
                [64, 12, 10], X, y, val, batch_sizes=[2, 20, 60], learning_rate=0.5, **common
            )
            assert [t.value for t in r.trials] == [2, 20, 60]  # the slowest first, still first
            answer = (r.target,)  # the seconds, and so the choice, are measured: not compared
        assert seen == r.trials  # on_trial saw every trial, in the trials' order
        runs[n_jobs] = (_computed(r.trials), answer)
    assert runs[1] == runs[2]


def test_a_trial_that_raises_in_its_process_raises_here(digits):
    (X, y), val = digits
    with pytest.raises(ValueError, match=r"the trial at 5 \(size\) failed: .*labels"):
        # labels beyond the 10 outputs: the training itself refuses them
        tune_batch_size([64, 10], X[:50], y[:50] + 10, val, batch_sizes=[5], n_jobs=1)
    with pytest.raises(ValueError, match="n_jobs must be an integer >= 1"):
        tune_batch_size([64, 10], X, y, val, batch_sizes=[5], n_jobs=0)
    with pytest.raises(ValueError, match="optimizer"):  # refused before any process starts
        tune_lambda([64, 10], X, y, val, learning_rate=0.5, train_options={"optimizer": "x"})


def test_tune_lambda_says_when_no_lambda_helped():
    from nndl.tuning import LambdaResult, TuningTrial

    trials = [
        TuningTrial(value=v, stage=st, val_accuracy=[0.5, 0.8], costs=[], times=[0.0, 1.0])
        for v, st in [(0.0, "baseline"), (1.0, "decade"), (0.1, "decade"), (0.3, "refine")]
    ]
    tied = LambdaResult(trials, best=0.0, best_accuracy=0.8, baseline_accuracy=0.8,
                        learning_rate=0.5, epochs=2)  # fmt: skip
    assert not tied.helped
    assert tied.summary().startswith("no lambda helped: none of the 3 values tried (0.1 to 1)")
    better = LambdaResult(trials, best=1.0, best_accuracy=0.9, baseline_accuracy=0.8,
                          learning_rate=0.5, epochs=2)  # fmt: skip
    assert better.helped and better.summary().startswith("best lambda 1:")


# ------------------------------------------------------- broad strategy
def test_subset_classes_relabels_in_the_given_order():
    X = np.arange(12.0).reshape(6, 2)
    y = np.array([0, 1, 2, 1, 0, 2])
    Xs, ys = subset_classes(X, y, [2, 0])
    assert ys.tolist() == [1, 0, 1, 0]
    assert Xs.tolist() == [X[0].tolist(), X[2].tolist(), X[4].tolist(), X[5].tolist()]
    assert ys.dtype == np.int64
    Xs[0, 0] = -1
    assert X[0, 0] == 0  # a copy


@pytest.mark.parametrize(
    "classes, err, match",
    [
        ([1], ValueError, "at least two"),
        ([1, 1], ValueError, "repeated"),
        ([1, 7], ValueError, r"\[7\] do not occur"),
        ("01", TypeError, "list of labels"),
    ],
)
def test_subset_classes_refuses_bad_classes(classes, err, match):
    with pytest.raises(err, match=match):
        subset_classes(np.zeros((3, 2)), np.array([0, 1, 2]), classes)


def test_subsample_is_seeded_and_without_replacement():
    X = np.arange(100.0)[:, None]
    y = np.arange(100)
    Xa, ya = subsample(X, y, 30, rng=5)
    _Xb, yb = subsample(X, y, 30, rng=np.random.default_rng(5))
    assert np.array_equal(ya, yb) and np.array_equal(Xa[:, 0], ya)
    assert len(set(ya.tolist())) == 30
    with pytest.raises(ValueError, match="at most the number of examples 100"):
        subsample(X, y, 101)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        subsample(X, y, 0)


def test_rescale_lambda_keeps_the_weight_decay():
    # the chapter's example: lambda 1000 on 50,000 images is 20 on 1,000
    assert rescale_lambda(1000, 50_000, 1_000) == pytest.approx(20.0)
    eta, lmbda = 0.5, 5.0
    new = rescale_lambda(lmbda, 50_000, 5_000)
    assert eta * new / 5_000 == pytest.approx(eta * lmbda / 50_000)
    with pytest.raises(ValueError, match="lmbda"):
        rescale_lambda(-1.0, 10, 10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"start": -1.0}, "start must be a finite number > 0"),
        ({"factor": 1.0}, "factor must be a finite number > 1"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"fraction": 1.5}, "fraction must be a finite number > 0.0 and <= 1.0"),
        ({"train_options": {"learning_rate": 1.0}}, "must not set"),
    ],
)
def test_learning_rate_search_refuses_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        find_learning_rate_threshold([2, 2], np.zeros((2, 2)), np.array([0, 1]), **kwargs)


def test_other_procedures_refuse_bad_settings(digits):
    (X, y), val = digits
    with pytest.raises(ValueError, match="learning_rate"):
        tune_lambda([64, 10], X, y, val, learning_rate=0.0)
    with pytest.raises(ValueError, match="must not set l2"):
        tune_lambda([64, 10], X, y, val, learning_rate=0.5, train_options={"l2": 1.0})
    # A mini-batch size in train_options would be overridden without a word: refused.
    small = {"train_options": {"mini_batch_size": 4}}
    with pytest.raises(ValueError, match=r"must not set \['mini_batch_size'\]: give"):
        tune_lambda([64, 10], X, y, val, learning_rate=0.5, **small)
    with pytest.raises(ValueError, match="must not set"):
        find_learning_rate_threshold([64, 10], X, y, **small)
    with pytest.raises(ValueError, match="must not set"):
        tune_batch_size([64, 10], X, y, val, batch_sizes=[10, 20], **small)
    with pytest.raises(TypeError, match="validation_data must be a pair"):
        tune_lambda([64, 10], X, y, val[0], learning_rate=0.5)
    with pytest.raises(ValueError, match="repeated"):
        tune_batch_size([64, 10], X, y, val, batch_sizes=[10, 10])
    with pytest.raises(ValueError, match="no value for mini-batch size"):
        tune_batch_size([64, 10], X, y, val, batch_sizes=[10, 20], learning_rate={10: 0.5})
    with pytest.raises(TypeError, match="network must be"):
        tune_batch_size("64,10", X, y, val)
    with pytest.raises(TypeError, match="LearningRateResult"):
        plot_cost_curves(object(), "x.png")


# ------------------------------------------------------------------ CLI
def _runner():
    data = pytest.importorskip("nndl.data")
    if not hasattr(data, "load_dataset"):
        pytest.skip("nndl.data.load_dataset is not available")
    from click.testing import CliRunner

    return CliRunner()


def test_tune_commands_on_digits(tmp_path):
    from nndl.cli.tune import tune

    runner = _runner()
    res = runner.invoke(
        tune,
        [
            "eta",
            "--dataset",
            "digits",
            "--hidden",
            "10",
            "--epochs",
            "2",
            "--refine",
            "1",
            "--train-size",
            "300",
            "--l2",
            "5.0",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "learning-rate threshold about" in res.output
    assert "lambda 5 rescaled to" in res.output  # the broad strategy's rescaling
    doc = json.loads((tmp_path / "tune_eta.json").read_text())
    assert doc["kind"] == "learning_rate" and doc["trials"]
    assert (tmp_path / "tune_eta.png").exists()

    res = runner.invoke(
        tune,
        [
            "lambda",
            "--dataset",
            "digits",
            "--hidden",
            "10",
            "--epochs",
            "2",
            "--refine",
            "0",
            "--classes",
            "0,1,2",
            "--train-size",
            "200",
            "--eta",
            "1.0",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "classes [0, 1, 2]" in res.output
    assert "best lambda" in res.output or "no lambda helped" in res.output

    res = runner.invoke(
        tune,
        [
            "batch-size",
            "--dataset",
            "digits",
            "--hidden",
            "10",
            "--epochs",
            "1",
            "--batch-sizes",
            "10,40",
            "--scale-eta",
            "linear",
            "--plot",
            str(tmp_path / "b.png"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "recommended mini-batch size" in res.output
    # eta scaled with the size from the default mini-batch of 10, and shown per size
    assert "mini-batch 10    eta 0.5 " in res.output and "mini-batch 40    eta 2 " in res.output
    assert (tmp_path / "b.png").exists()


def test_tune_command_errors_are_one_line(tmp_path):
    from nndl.cli.tune import tune

    res = _runner().invoke(tune, ["eta", "--dataset", "digits", "--classes", "0,42"])
    assert res.exit_code == 1
    assert "Error: classes [42] do not occur in y" in res.output
    assert "Traceback" not in res.output


def test_tune_commands_take_jobs_and_print_the_same_trials_for_any(tmp_path):
    from nndl.cli.tune import _LOOKAHEAD, tune
    from nndl.tuning import LOOKAHEAD

    assert _LOOKAHEAD == LOOKAHEAD
    runner = _runner()
    data = ["--dataset", "digits", "--hidden", "10", "--epochs", "2", "--train-size", "300"]

    def trial_lines(output):
        return [line for line in output.splitlines() if line.startswith("  ")]

    for command, extra in [("eta", ["--refine", "2"]), ("lambda", ["--refine", "1"])]:
        printed, saved = {}, {}
        for jobs in ("1", "2"):
            out = tmp_path / f"{command}-{jobs}"
            args = [command, *data, *extra, "--jobs", jobs, "--out", str(out)]
            res = runner.invoke(tune, args)
            assert res.exit_code == 0, res.output
            printed[jobs] = [line for line in res.output.splitlines() if str(out) not in line]
            doc = json.loads((out / f"tune_{command}.json").read_text())
            for t in doc["trials"]:
                del t["times"]
            saved[jobs] = doc
        assert printed["1"] == printed["2"] and trial_lines("\n".join(printed["1"]))
        assert saved["1"] == saved["2"]
    res = runner.invoke(tune, ["batch-size", *data, "--batch-sizes", "5,40", "--jobs", "2"])
    assert res.exit_code == 0, res.output
    sizes = [line.split()[1] for line in trial_lines(res.output) if "final validation" in line]
    assert sizes == ["5", "40"]
    for command in ("eta", "lambda", "batch-size"):
        res = runner.invoke(tune, [command, "--jobs", "0"])
        assert res.exit_code == 2 and "--jobs" in res.output
        res = runner.invoke(tune, [command, "--help"])
        assert "never changes the" in res.output


def test_every_form_of_the_starting_network_gives_the_same_weights():
    from nndl.network import NetworkConfig
    from nndl.tuning.trials import _initial_network

    forms = [[4, 3, 2], {"sizes": [4, 3, 2]}, NetworkConfig(sizes=[4, 3, 2])]
    nets = [_initial_network(form, seed=5) for form in forms]
    for net in nets[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(net.weights, nets[0].weights, strict=True))
    start = nets[0]
    assert _initial_network(start, seed=9).weights[0] is not start.weights[0]  # a copy
    assert np.array_equal(_initial_network(start, seed=9).weights[0], start.weights[0])
