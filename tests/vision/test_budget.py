"""How ``tune --data`` spends its budget (:mod:`tunelab.vision.budget`): pure arithmetic."""

from __future__ import annotations

import itertools

import pytest

from tunelab.vision.budget import (
    BUDGET_FILL,
    MAX_EPOCH_FACTOR,
    MAX_POPULATION,
    MIN_POPULATION,
    TARGET_POPULATION,
    describe_plan,
    size_to_budget,
)


def test_a_budget_buys_a_longer_schedule_before_more_members() -> None:
    # 5,000 photos on 2 cores: 4.5 s a member's epoch, 4.8 s a refit epoch, one slot
    p = size_to_budget(900, epoch_seconds=4.5, refit_epoch_seconds=4.8, slots=1)
    assert (p.epochs, p.population) == (20, TARGET_POPULATION) and p.refit
    assert p.refit_seconds == pytest.approx(20 * 4.8)
    assert p.search_seconds == pytest.approx(900 - p.refit_seconds / BUDGET_FILL)
    # twice the time: the schedule grows to its cap, then the population
    p2 = size_to_budget(3600, epoch_seconds=4.5, refit_epoch_seconds=4.8, slots=1)
    assert p2.epochs == MAX_EPOCH_FACTOR * 10 and p2.population > TARGET_POPULATION
    # more slots: more members at the same time per member
    p4 = size_to_budget(900, epoch_seconds=4.5, refit_epoch_seconds=4.8, slots=4)
    assert p4.epochs > p.epochs or p4.population > p.population
    roomy = size_to_budget(10**7, epoch_seconds=1, refit_epoch_seconds=1, slots=1)
    assert (roomy.epochs, roomy.population) == (MAX_EPOCH_FACTOR * 10, MAX_POPULATION)


def test_search_and_refit_fit_the_budget_together() -> None:
    for budget, epoch_s, slots in itertools.product((60, 900, 3600), (0.05, 1.0, 4.5, 40.0),
                                                    (1, 2, 8)):
        p = size_to_budget(budget, epoch_seconds=epoch_s, refit_epoch_seconds=1.1 * epoch_s,
                           slots=slots)
        assert MIN_POPULATION <= p.population <= MAX_POPULATION and p.epochs >= 1
        assert p.search_seconds + p.refit_seconds <= budget
        if p.fits >= MIN_POPULATION:  # the members planned fit the search's share
            member_time = p.population * p.epochs * epoch_s / slots
            assert member_time + p.refit_seconds <= BUDGET_FILL * budget + 1e-6
        if p.refit:  # a refit never takes more than half of what the plan fills
            assert p.refit_seconds <= 0.5 * BUDGET_FILL * budget


def test_what_is_given_is_kept_and_tight_budgets_shorten_the_schedule() -> None:
    given = size_to_budget(900, epoch_seconds=4.5, refit_epoch_seconds=4.8, slots=1,
                           epochs=12)
    assert given.epochs == 12 and given.population == int(given.fits)
    fixed = size_to_budget(900, epoch_seconds=4.5, refit_epoch_seconds=4.8, slots=1,
                           population=5)
    assert (fixed.epochs, fixed.population) == (10, 5)
    # two members of 10 epochs do not fit: fewer epochs, so the schedule ends in time
    tight = size_to_budget(60, epoch_seconds=4.5, refit_epoch_seconds=4.8, slots=1)
    assert tight.shortened and tight.epochs < 10
    assert tight.population * tight.epochs * 4.5 + tight.refit_seconds <= BUDGET_FILL * 60
    # given epochs that do not fit are kept; the plan says the budget cuts them
    cut = size_to_budget(60, epoch_seconds=4.5, refit_epoch_seconds=4.8, slots=1, epochs=10)
    assert cut.epochs == 10 and cut.fits < MIN_POPULATION and not cut.shortened
    # a refit that would take more than half the budget is dropped; the search gets it all
    assert not cut.refit and cut.search_seconds == 60
    off = size_to_budget(900, epoch_seconds=4.5, refit_epoch_seconds=4.8, slots=1, refit=False)
    assert not off.refit and off.search_seconds == 900 and off.epochs > 20


def test_the_notice_names_what_the_budget_buys() -> None:
    p = size_to_budget(900, epoch_seconds=4.5, refit_epoch_seconds=4.8, slots=1)
    msg = describe_plan(p, budget_seconds=900, trial_seconds=81, device="CPU",
                        refit_images=5000)
    assert msg == ("budget 15 min: a trial of 20 epochs takes about 81 s here (CPU, measured), "
                   "so the population is 8; 13m16s of search, then about 1m36s to retrain the "
                   "best configuration on all 5,000 images (refit)")
