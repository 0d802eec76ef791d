"""Epoch-only learning-rate schedules against tables of expected values."""

import itertools

import numpy as np
import pytest

from nndl import Network, Trainer
from nndl.callbacks import ScheduleCallback
from nndl.schedules import (
    SCHEDULES,
    Constant,
    ExponentialDecay,
    Schedule,
    StepDecay,
    get_schedule,
    parse_schedule,
)

# (schedule, [eta(0), eta(1), ...]) worked out by hand.
TABLE = [
    (Constant(initial=0.5), [0.5, 0.5, 0.5, 0.5]),
    (StepDecay(every=3, factor=0.5, initial=1.0), [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]),
    (StepDecay(every=1, factor=0.1, initial=2.0), [2.0, 0.2, 0.02, 0.002]),
    (StepDecay(every=10, initial=0.5), [0.5] * 10 + [0.25]),
    (ExponentialDecay(gamma=0.5, initial=1.0), [1.0, 0.5, 0.25, 0.125, 0.0625]),
    (ExponentialDecay(gamma=0.9, initial=0.1), [0.1, 0.09, 0.081, 0.0729]),
    (ExponentialDecay(gamma=1.0, initial=0.3), [0.3, 0.3, 0.3]),
]


@pytest.mark.parametrize(("schedule", "expected"), TABLE, ids=lambda v: repr(v)[:40])
def test_schedule_table(schedule, expected):
    got = [schedule(e) for e in range(len(expected))]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("spec", "cls", "params"),
    [
        ("constant", Constant, {}),
        ("step:10", StepDecay, {"every": 10, "factor": 0.5}),
        ("step:5:0.1", StepDecay, {"every": 5, "factor": 0.1}),
        ("STEP:2:0.25", StepDecay, {"every": 2, "factor": 0.25}),
        ("exp:0.95", ExponentialDecay, {"gamma": 0.95}),
        ("exponential:0.5", ExponentialDecay, {"gamma": 0.5}),
    ],
)
def test_parse_schedule(spec, cls, params):
    s = parse_schedule(spec, initial=0.5)
    assert type(s) is cls
    assert s.initial == 0.5
    for k, v in params.items():
        assert getattr(s, k) == v


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("plateau", "PlateauSchedule"),
        ("cosine", "unknown schedule 'cosine'"),
        ("step:x", "every must be a number"),
        ("step:0", r"every must be an integer >= 1"),
        ("step:2.5", "every must be an integer"),
        ("step:3:1.5", r"factor must be a finite number > 0(\.0)? and <= 1"),
        ("step:3:0", r"factor must be"),
        ("exp", "exp:GAMMA"),
        ("exp:0", "gamma must be"),
        ("exp:0.5:2", "exp:GAMMA"),
        ("", "non-empty"),
    ],
)
def test_bad_specs_are_refused_clearly(spec, match):
    with pytest.raises((ValueError, TypeError), match=match):
        parse_schedule(spec, initial=0.5)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Constant(initial=-1.0), "initial learning rate must be"),
        (lambda: Constant(initial=float("nan")), "initial learning rate must be"),
        (lambda: StepDecay(every=-2, initial=1.0), "every must be"),
        (lambda: ExponentialDecay(gamma=1.2, initial=1.0), "gamma must be"),
        (lambda: get_schedule("step", 1.0, gamma=0.5), r"unknown parameter\(s\) \['gamma'\]"),
        (lambda: get_schedule(3), "schedule must be a name"),
        (lambda: Constant(initial=1.0)(-1), "epoch must be an integer >= 0"),
        (lambda: Constant(initial=1.0)(1.5), "epoch must be an integer"),
    ],
)
def test_bad_parameters_are_refused_clearly(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_schedule_without_initial_says_how_to_fix_it():
    with pytest.raises(ValueError, match="no initial learning rate"):
        StepDecay(every=2)(0)
    assert StepDecay(every=2).bind(0.4)(2) == pytest.approx(0.2)
    assert StepDecay(every=2, initial=1.0).bind(0.4)(0) == 1.0  # an explicit eta_0 wins


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_registered_schedule_starts_at_eta0_and_never_grows(name):
    s = get_schedule(name, 0.7)
    assert isinstance(s, Schedule) and s.name == name
    rates = [s(e) for e in range(50)]
    assert rates[0] == 0.7
    assert all(b <= a for a, b in itertools.pairwise(rates))
    assert all(r > 0 for r in rates)
    again = get_schedule(s.to_dict())  # round trip through JSON-ready dicts
    assert again == s


def test_schedules_are_pure():
    s = StepDecay(every=2, factor=0.5, initial=1.0)
    assert [s(3), s(0), s(3)] == [0.5, 1.0, 0.5]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("step:2:0.5", [0.4, 0.4, 0.2, 0.2, 0.1]),
        (ExponentialDecay(gamma=0.5), [0.4, 0.2, 0.1, 0.05, 0.025]),
        (lambda epoch: 0.1 * (epoch + 1), [0.1, 0.2, 0.3, 0.4, 0.5]),
    ],
)
def test_schedule_callback_sets_the_rate_in_force_each_epoch(schedule, expected):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    trainer = Trainer(
        Network([4, 5, 3], seed=0),
        epochs=5,
        learning_rate=0.4,
        mini_batch_size=10,
        seed=0,
        callbacks=[ScheduleCallback(schedule)],
    )
    trainer.fit(X, y)
    np.testing.assert_allclose(trainer.history["learning_rate"], expected, rtol=1e-12)


def test_schedule_callback_refuses_a_bad_rate():
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    trainer = Trainer(Network([2, 2], seed=0), epochs=2, callbacks=[ScheduleCallback(lambda e: -1)])
    with pytest.raises(ValueError, match="learning rate from the schedule at epoch 0"):
        trainer.fit(X, y)
    with pytest.raises(TypeError, match="schedule must be"):
        ScheduleCallback(3)


def test_the_base_schedule_is_abstract():
    from nndl.schedules import Schedule

    with pytest.raises(TypeError, match="abstract"):
        Schedule(0.5)
