"""When a job ends: its trial budget and completion criteria, as plain functions of its state.

(Limits that need the clock or the store — ``max_runtime``, a stop request — stay in the loop.)
"""

from __future__ import annotations

from tunelab.errors import SpecError
from tunelab.jobstate import JobState
from tunelab.schedulers.base import Scheduler
from tunelab.spec import CompletionSpec, JobSpec, spec_from_dict
from tunelab.store import JobRecord
from tunelab.strategies.base import Strategy
from tunelab.trial import JobStatus

DEFAULT_MAX_TRIALS = 20


def max_trials(limit: int | None, strategy: Strategy) -> int:
    """``limits.max_trials``, else the strategy's size (a grid), else the default."""
    if limit is not None:
        return limit
    size = strategy.size()
    return size if size is not None else DEFAULT_MAX_TRIALS


def completion_reason(c: CompletionSpec, state: JobState, strategy: Strategy,
                      scheduler: Scheduler) -> str | None:
    """Why the job is complete now (target, no improvement, convergence, the scheduler's
    budget), or None."""
    best = state.best()
    if c.target is not None and best is not None and best.value is not None:
        minimize = state.goal == "minimize"
        if best.value <= c.target if minimize else best.value >= c.target:
            return f"target {c.target} reached by trial {best.number}"
    if c.no_improvement_trials is not None and best is not None:
        if state.trials_since_improvement() >= c.no_improvement_trials:
            return f"no improvement in the last {c.no_improvement_trials} trials"
    if c.convergence:
        reason = strategy.converged(state.history())
        if reason:
            return f"converged: {reason}"
    return scheduler.finished(state.history())


def runtime_reason(limit: float) -> str:
    """The job's reason when ``limits.max_runtime`` ends it (see :func:`cut_by_runtime`)."""
    return f"max_runtime ({limit:.0f}s) reached"


def cut_by_runtime(status: str, reason: str | None) -> bool:
    """True for a job that ended at its max_runtime: its trials cut mid-training continue,
    from their checkpoints, when it is resumed with a longer max_runtime."""
    return status == "completed" and (reason or "").startswith("max_runtime (")


def resume_spec(job: JobRecord, max_runtime: float | None) -> JobSpec:
    """The spec a resume of ``job`` runs, with ``max_runtime`` as the new total of
    ``limits.max_runtime`` if given; refuses (one line each) a completed job, one that ended
    at its max_runtime without a longer one, and a total it has already used."""
    spec = spec_from_dict(job.spec)
    used = float(job.data.get("runtime_used", 0.0))
    cut = cut_by_runtime(job.status, job.status_reason)
    if max_runtime is not None:
        if max_runtime <= used:
            raise SpecError.field("--max-runtime", f"more than the {used:.0f}s the job has used",
                                  f"{max_runtime:.0f}s", "Give a longer one.")
        return spec.model_copy(update={"limits": spec.limits.model_copy(
            update={"max_runtime": max_runtime})})
    if cut:
        raise SpecError(
            f"job {job.name!r} ended: {job.status_reason}. Resume it with a longer "
            "--max-runtime (a new total, e.g. --max-runtime 2h) to continue the trials it cut "
            "from their checkpoints.")
    if not JobStatus(job.status).resumable:
        raise SpecError(
            f"job {job.name!r} already completed ({job.status_reason}); nothing to resume. "
            "Start a new job (optionally with warm_start from this one).")
    return spec


def exhausted_reason(state: JobState, scheduler: Scheduler, max_n: int) -> str:
    """Why the job ended with nothing left to run."""
    n = state.first_attempts()
    if n >= max_n:
        return f"all {n} trials done"
    if not scheduler.accepts_new_trials(state.history()):
        return f"all {n} trials of the {scheduler.name} schedule done"
    return f"search space exhausted after {n} trials"
