"""The device-hours estimate's arithmetic (tunelab.estimate): given measured costs, the formula,
the schedulers' expected epochs and the spec's trial count. No timing is measured here."""

from __future__ import annotations

from typing import Any

import pytest

from tunelab.estimate import (
    Budget,
    TrialCosts,
    device_seconds,
    estimate_spec,
    expected_budget,
    hyperband_epochs,
)
from tunelab.schedulers.asha import HyperbandScheduler
from tunelab.schedulers.base import FIFOScheduler
from tunelab.spec import spec_from_dict

COSTS = TrialCosts("CPU", startup_seconds=3.0, setup_seconds=0.5, epoch_seconds=2.0,
                   per_epoch_seconds=0.25, final_seconds=1.0)


def test_device_seconds_adds_every_per_trial_cost() -> None:
    full = Budget(epochs=5, segments=1, full_epochs=5)
    # 1 worker start (its first segment's set-up inside), 3 more set-ups, 20 epochs, 4 finals
    assert device_seconds(COSTS, full, trials=4, slots=1) == pytest.approx(
        3.0 + 3 * 0.5 + 20 * (2.0 + 0.25) + 4 * 1.0)
    # 2 slots: 2 worker starts, 2 warm set-ups
    assert device_seconds(COSTS, full, trials=4, slots=2) == pytest.approx(
        2 * 3.0 + 2 * 0.5 + 20 * 2.25 + 4.0)
    # more slots than trials: only as many workers as trials
    assert device_seconds(COSTS, full, trials=1, slots=8) == pytest.approx(3.0 + 5 * 2.25 + 1)
    # resumed segments each pay a set-up; a scheduler's epoch budget caps the epochs
    paused = Budget(epochs=5, segments=2.5, full_epochs=5)
    assert device_seconds(COSTS, paused, trials=4, slots=1, max_epochs=12) == pytest.approx(
        3.0 + (10 - 1) * 0.5 + 12 * 2.25 + 4.0)
    assert device_seconds(COSTS, full, trials=0, slots=1) == 0.0


def test_hyperband_expects_the_rungs_share_of_the_epochs() -> None:
    # every trial trains 1 epoch; 1/3 go on to 3 (2 more), 1/9 on to 9 (6 more)
    epochs, segments = hyperband_epochs([1, 3, 9], 3)
    assert epochs == pytest.approx(1 + 2 / 3 + 6 / 9)
    assert segments == pytest.approx(1 + 1 / 3 + 1 / 9)
    asha = expected_budget(HyperbandScheduler(min_resource=1, max_resource=9,
                                              reduction_factor=3), 9)
    assert asha.epochs == pytest.approx(epochs) and asha.full_epochs == 9
    # two brackets, weighted as Hyperband sizes them (s_max = 2): bracket 0 (rungs 1, 3, 9)
    # weight 3/3 * 3**2 = 9, bracket 1 (rungs 3, 9) weight 3/2 * 3 = 4.5
    two = expected_budget(HyperbandScheduler(min_resource=1, max_resource=9,
                                             reduction_factor=3, brackets=2), 9)
    b1 = 3 + 6 / 3
    assert two.epochs == pytest.approx((9 * epochs + 4.5 * b1) / 13.5)
    assert "hyperband" in two.note


def _spec(strategy: dict[str, Any], **train: Any) -> Any:
    return spec_from_dict({
        "name": "e", "train": {"builtin": "image-classifier", "data": "builtin:digits",
                               "epochs": 9, **train},
        "search_space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1,
                                           "scale": "log"}},
        "strategy": strategy, "limits": {"max_trials": 6, "max_parallel": 2}})


def test_a_spec_s_estimate_follows_its_strategy() -> None:
    rnd = estimate_spec(_spec({"type": "random"}), COSTS, slots=2)
    assert (rnd.trials, rnd.epochs, rnd.slots) == (6, 9, 2)
    assert rnd.device_hours * 3600 == pytest.approx(
        device_seconds(COSTS, Budget(9, 1, 9), trials=6, slots=2))
    hb = estimate_spec(_spec({"type": "hyperband", "max_resource": 9}), COSTS, slots=2)
    assert hb.budget is not None and hb.budget.epochs == pytest.approx(1 + 2 / 3 + 6 / 9)
    assert hb.device_hours < rnd.device_hours
    pbt = estimate_spec(_spec({"type": "pbt", "population": 6, "perturbation_interval": 3}),
                        COSTS, slots=2)
    # members train all 9 epochs; the bottom quarter restarts from a donor at steps 3 and 6
    assert pbt.budget is not None and pbt.budget.epochs == 9
    assert pbt.budget.segments == pytest.approx(1 + 0.25 * 2)
    stop = estimate_spec(_spec({"type": "random"}, early_stop=True), COSTS, slots=2)
    assert stop.device_hours == rnd.device_hours and "at most" in (stop.budget.note
                                                                    if stop.budget else "")
    d = rnd.to_dict()
    assert d["device_hours"] == rnd.device_hours and d["startup_seconds"] == 3.0
    assert "6 trials x 9 epochs" in rnd.describe() and "worker start" in rnd.describe()
    assert d["refit_hours"] == 0 and "refit" not in rnd.describe()
    # a refit after the search is one more full run of 9 epochs, on one slot
    js = _spec({"type": "random"}).model_copy(update={"refit": True})
    refit = estimate_spec(js, COSTS, slots=2)
    one = device_seconds(COSTS, Budget(9, 1, 9), trials=1, slots=1) / 3600
    assert refit.refit_hours == pytest.approx(one)
    assert refit.device_hours == pytest.approx(rnd.device_hours + one)
    assert "the refit of the best" in refit.describe()


def test_a_scheduler_without_early_stopping_spends_full_epochs() -> None:
    b = expected_budget(FIFOScheduler(), 7)
    assert (b.epochs, b.segments, b.full_epochs) == (7, 1, 7)
