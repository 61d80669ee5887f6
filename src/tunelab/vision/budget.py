"""How ``tunelab tune --data`` spends a wall-clock budget: epochs, population and a refit.

A budget buys member-epochs. Spent on more members of a short schedule, the search compares
more configurations that all stop early; spent on a longer schedule, each member learns more
(on a 5,000-photo CIFAR-10 subset the hand-written recipe goes from 60 % at 10 epochs to 66 %
at 20 and 69 % at 30). :func:`size_to_budget` keeps the population near
:data:`TARGET_POPULATION` (enough for PBT's top and bottom quarters to hold two members each)
and gives what is left to the epochs, up to :data:`MAX_EPOCH_FACTOR` times the default. When
the search is planned with a refit (the best configuration retrained on the training and
validation images together, :mod:`tunelab.vision.refit`), the refit's own time is set aside
first, so that search and refit together end within the budget.

    >>> p = size_to_budget(900, epoch_seconds=4.5, refit_epoch_seconds=4.8, slots=1)
    >>> (p.epochs, p.population, round(p.search_seconds))
    (20, 8, 796)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_POPULATION, MAX_POPULATION = 2, 16
#: The population the budget is first sized for; members beyond it come only once the epochs
#: reach :data:`MAX_EPOCH_FACTOR` times the default.
TARGET_POPULATION = 8
#: The longest schedule a budget buys, as a multiple of the default epochs.
MAX_EPOCH_FACTOR = 3
#: The share of the budget the plan fills; the rest absorbs what the probe does not see
#: (worker start-up, checkpoints, a slower stretch of the machine).
BUDGET_FILL = 0.92


@dataclass(frozen=True)
class BudgetPlan:
    """What a budget buys: ``population`` members of ``epochs`` each, searched within
    ``search_seconds`` (the job's ``max_runtime``), then a refit of about ``refit_seconds``
    (0: none planned). ``fits`` is how many full members the search time holds (below
    :data:`MIN_POPULATION`: the budget cuts them); ``shortened``: the epochs were lowered below
    the default so that two members' schedules end within the budget."""

    epochs: int
    population: int
    search_seconds: float
    refit_seconds: float
    fits: float
    shortened: bool = False

    @property
    def refit(self) -> bool:
        return self.refit_seconds > 0


def size_to_budget(budget_seconds: float, *, epoch_seconds: float, refit_epoch_seconds: float,
                   slots: int, default_epochs: int = 10, epochs: int | None = None,
                   population: int | None = None, refit: bool = True) -> BudgetPlan:
    """Plan ``budget_seconds`` of wall clock on ``slots`` worker slots, one member's epoch
    taking ``epoch_seconds`` (training and validation) and a refit epoch
    ``refit_epoch_seconds`` (training on both; it runs alone, after the search).

    ``epochs`` or ``population`` given are kept (and with either, the epochs are the given or
    the default ones). Otherwise the epochs grow from ``default_epochs`` (up to
    :data:`MAX_EPOCH_FACTOR` times it) while :data:`TARGET_POPULATION` members and the refit
    still fit, and the population takes the rest (:data:`MIN_POPULATION` to
    :data:`MAX_POPULATION`); when not even two members of ``default_epochs`` fit, the epochs
    shrink so that two do (a one-cycle schedule cut at its peak wastes the run). The refit is
    dropped when it would leave the search less than half the budget."""
    usable = BUDGET_FILL * budget_seconds
    slots = max(1, slots)
    e_s = max(epoch_seconds, 1e-9)
    r_s = max(refit_epoch_seconds, 0.0) if refit else 0.0

    def epochs_for(m: int) -> int:  # the most epochs m members and the refit fit in
        return int(usable / (e_s * m / slots + r_s))

    n = epochs if epochs is not None else default_epochs
    if epochs is None and population is None:
        n = max(default_epochs, min(MAX_EPOCH_FACTOR * default_epochs,
                                    epochs_for(TARGET_POPULATION)))
    shortened = False
    if epochs is None and population is None and epochs_for(MIN_POPULATION) < n:
        n = max(1, epochs_for(MIN_POPULATION))
        shortened = True
    if r_s * n > 0.5 * usable:  # the refit would crowd out the search: search alone
        return size_to_budget(budget_seconds, epoch_seconds=epoch_seconds,
                              refit_epoch_seconds=0.0, slots=slots,
                              default_epochs=default_epochs, epochs=epochs,
                              population=population, refit=False)
    refit_s = r_s * n
    fits = (usable - refit_s) * slots / (e_s * n)
    pop = population if population is not None else \
        max(MIN_POPULATION, min(MAX_POPULATION, int(fits)))
    # the search may run until the refit's time (with the same margin) is all that is left
    search_s = budget_seconds - refit_s / BUDGET_FILL
    return BudgetPlan(n, pop, max(search_s, 1.0) if refit_s else float(budget_seconds),
                      refit_s, fits, shortened)


def describe_plan(plan: BudgetPlan, *, budget_seconds: float, trial_seconds: float,
                  device: str, refit_images: int) -> str:
    """The notice ``tune --data`` prints: what one member costs and what the budget buys."""
    s = "s" if plan.epochs != 1 else ""
    msg = (f"budget {budget_seconds / 60:g} min: a trial of {plan.epochs} epoch{s} takes about "
           f"{trial_seconds:.0f} s here ({device}, measured), so the population is "
           f"{plan.population}")
    if plan.refit:
        from tunelab.report.plan import fmt_duration

        msg += (f"; {fmt_duration(plan.search_seconds)} of search, then about "
                f"{fmt_duration(math.ceil(plan.refit_seconds))} to retrain the best "
                f"configuration on all {refit_images:,} images (refit)")
    return msg
