"""What a job checks and loads before its first trial: warm-start parents, a built-in
trainer's data. Each refusal comes before anything it would spoil is written."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tunelab.errors import SpecError, TunelabError
from tunelab.jobstate import JobState
from tunelab.recorder import JobRecorder
from tunelab.spec import JobSpec
from tunelab.store import Store
from tunelab.trial import JobStatus

if TYPE_CHECKING:
    from tunelab.space import SearchSpace
    from tunelab.strategies.warm_start import ParentTrials, WarmStart


def warm_start_parents(spec: JobSpec, store: Store) -> list[ParentTrials] | None:
    """The spec's warm-start parents with their trials, each checked (SageMaker's rules), or
    None without ``warm_start``. Raises :class:`SpecError` naming the parent at fault."""
    ws = spec.warm_start
    if ws is None:
        return None
    from tunelab.errors import JobNotFound
    from tunelab.report.summary import job_status
    from tunelab.strategies.warm_start import ParentTrials, check_parent

    tx = store.read()
    parents: list[ParentTrials] = []
    for parent in ws.parents:
        try:
            pj = tx.job(parent)
        except JobNotFound:
            known = sorted(j.name for j in tx.jobs())
            raise SpecError.field(
                "warm_start.parents", "names of finished jobs in this store", parent,
                f"Known jobs: {', '.join(known) or 'none'}. Check the name, or pass the store "
                "that holds it with --store.",
            ) from None
        check_parent(parent, job_status(pj), pj.metric, pj.goal, spec.objective.metric,
                     spec.objective.goal)
        pstate = JobState.load(tx, pj)
        parents.append(ParentTrials(parent, [pstate.view(t) for t in pstate.trials.values()]))
    return parents


def warm_start(spec: JobSpec, parents: list[ParentTrials] | None) -> WarmStart | None:
    """The strategy's warm start from checked ``parents`` (None without ``warm_start``)."""
    if parents is None or spec.warm_start is None:
        return None
    from tunelab.strategies.warm_start import WarmStart

    return WarmStart(type=spec.warm_start.type, parents=parents)


def record_warm_start(rec: JobRecorder, warm: WarmStart, space: SearchSpace) -> None:
    """Say once, in the job's ``warm_start`` event, how many parent trials the search starts
    from."""
    from tunelab.strategies.bayes_encoding import SpaceEncoder
    from tunelab.strategies.warm_start import coverage_dicts, coverage_message, parent_coverage

    with rec.unit() as u:
        if u.tx.events(u.job_id, "warm_start"):
            return
        coverage = parent_coverage(warm.parents, SpaceEncoder(space).fits)
        u.event("warm_start", coverage_message(warm.type, coverage),
                data={"parents": coverage_dicts(coverage)})


def prepare(spec: JobSpec, static: dict[str, Any], rec: JobRecorder) -> None:
    """Load a built-in trainer's data before any trial (see :func:`prepare_data`): a refusal
    fails the job with that one error; what was found goes in its ``data`` event."""
    try:
        found = prepare_data(spec, static)
    except TunelabError as e:
        with rec.unit() as u:
            u.set_job(status=JobStatus.FAILED, status_reason=str(e), ended_at=time.time())
            u.event("failed", str(e))
        raise
    if found is not None:
        message, facts = found
        with rec.unit() as u:
            last = u.tx.events(u.job_id, "data")
            if not last or last[-1].message != message:
                u.event("data", message, data=facts)


def prepare_data(spec: JobSpec, static: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """A built-in trainer's data, loaded (and cached) once before any trial: ``(message,
    facts)`` for the job's ``data`` event, or None for other trainers. Data no trial could use
    raises its one :class:`~tunelab.errors.TunelabError`."""
    builtin = spec.train.builtin if spec.train is not None else None
    if builtin is None:
        return None
    from tunelab.objectives.builtin import PREPARE, prepare_builtin

    if builtin not in PREPARE:
        return None
    return prepare_builtin(builtin, static)
