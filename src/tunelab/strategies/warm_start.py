"""Warm start for the Bayesian strategy: finished parent jobs inform a new job's first suggestions.

The rules follow SageMaker's warm-start tuning jobs:

* at most :data:`MAX_PARENTS` (5) parent jobs, each finished (completed, stopped or failed);
* every parent optimises the same objective metric with the same goal;
* ``identical_data_and_algorithm``: same data, same training code -- the parents' observations
  are used as they are (where their parameters lie inside the new space);
* ``transfer_learning``: other data or code -- observations are used where the spaces overlap,
  only their *ranking* is kept (each parent separately), and they are down-weighted as prior
  knowledge that the new job's own observations override.

The tuner loads the parents' trials from the store, calls :func:`check_parent` for each, and
passes ``warm_start=WarmStart(...)`` to the strategy. This module does no I/O and does not
import torch.

    >>> check_parent("jobA", "completed", "val_loss", "minimize", "val_loss", "minimize")
    >>> ws = WarmStart("identical_data_and_algorithm", [ParentTrials("jobA", [])])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from tunelab.errors import SpecError
from tunelab.space import ParamValue
from tunelab.trial import TrialView

WarmStartType = Literal["identical_data_and_algorithm", "transfer_learning"]
WARM_START_TYPES: tuple[str, ...] = get_args(WarmStartType)
MAX_PARENTS = 5
#: job statuses that count as finished for a parent (SageMaker: Completed, Stopped, Failed)
FINISHED_STATUSES = frozenset({"completed", "stopped", "failed"})


def check_parent(
    name: str,
    status: str,
    metric: str,
    goal: str,
    child_metric: str,
    child_goal: str,
) -> None:
    """Raise :class:`SpecError` unless job ``name`` may be a warm-start parent of this job.

    A parent must be finished and optimise the same objective metric with the same goal.
    """
    where = f"warm_start.parents[{name!r}]"
    st = str(status).lower()
    if st not in FINISHED_STATUSES:
        raise SpecError.field(
            f"{where}.status",
            f"a finished job ({', '.join(sorted(FINISHED_STATUSES))})",
            status,
            f"Wait until job {name!r} has finished (or stop it), or remove it from "
            "warm_start.parents.",
        )
    if metric != child_metric:
        raise SpecError.field(
            f"{where}.objective.metric",
            f"the same objective metric as this job ({child_metric!r})",
            metric,
            f"Warm start only from jobs that optimise {child_metric!r}, or remove {name!r} "
            "from warm_start.parents.",
        )
    if goal != child_goal:
        raise SpecError.field(
            f"{where}.objective.goal",
            f"the same goal as this job ({child_goal!r})",
            goal,
            f"Warm start only from jobs that {child_goal} {child_metric!r}, or remove "
            f"{name!r} from warm_start.parents.",
        )


def parent_coverage(
    parents: Sequence[ParentTrials], fits: Callable[[Mapping[str, ParamValue]], bool]
) -> list[tuple[str, int, int]]:
    """Per parent: (name, finished trials with a value whose parameters ``fits`` the new
    space, finished trials with a value) -- what a warm start can use.

        >>> parent_coverage([ParentTrials("a", [])], lambda p: True)
        [('a', 0, 0)]
    """
    out = []
    for parent in parents:
        finished = [t for t in parent.trials if t.state.is_finished_ok and t.value is not None
                    and math.isfinite(t.value)]
        out.append((parent.name, sum(1 for t in finished if fits(t.params)), len(finished)))
    return out


def coverage_message(kind: str, coverage: Sequence[tuple[str, int, int]]) -> str:
    """One line for ``tunelab plan`` and the job's events, from :func:`parent_coverage`.

        >>> coverage_message("transfer_learning", [("a", 3, 5)])
        'transfer_learning from 1 parent job(s) — a: 3 of 5 trials inside this search space'
    """
    parts = "; ".join(f"{name}: {used} of {total} trials" for name, used, total in coverage)
    return f"{kind} from {len(coverage)} parent job(s) — {parts} inside this search space"


def coverage_dicts(coverage: Sequence[tuple[str, int, int]]) -> list[dict[str, object]]:
    """:func:`parent_coverage` as JSON-ready records (``show``/``plan --json``)."""
    return [{"name": name, "used": used, "finished": total} for name, used, total in coverage]


@dataclass(frozen=True)
class ParentTrials:
    """The trials of one finished parent job, as loaded from the store (any states)."""

    name: str
    trials: Sequence[TrialView]


@dataclass(frozen=True)
class WarmStart:
    """What a warm-started Bayesian strategy knows about its parent jobs.

    ``type`` is ``identical_data_and_algorithm`` or ``transfer_learning``; ``parents`` holds up to
    five :class:`ParentTrials`. The parents' values are in the metric's own units and share the
    child's goal (checked with :func:`check_parent` before this is built).
    """

    type: WarmStartType
    parents: Sequence[ParentTrials]

    def __post_init__(self) -> None:
        if self.type not in WARM_START_TYPES:
            raise SpecError.field(
                "warm_start.type", " or ".join(WARM_START_TYPES), self.type,
                "Use identical_data_and_algorithm when data and training code are unchanged, "
                "else transfer_learning.",
            )
        object.__setattr__(self, "parents", tuple(self.parents))
        if len(self.parents) > MAX_PARENTS:
            raise SpecError.field(
                "warm_start.parents", f"at most {MAX_PARENTS} jobs",
                [p.name for p in self.parents], "Keep the most relevant five.",
            )
        names = [p.name for p in self.parents]
        if len(set(names)) != len(names):
            raise SpecError.field(
                "warm_start.parents", "a list without duplicates", names,
                "List each parent job once.",
            )

    @property
    def transfer(self) -> bool:
        return self.type == "transfer_learning"
