"""What a segment's end does to its trial, and to the job: how the job is ending, once it is.

A segment ends with its objective's return (the trial COMPLETED, or FAILED when what it
returned or reported holds no usable objective), a failure or time-out (retried under
``limits.max_retries``, from the failed attempt's last checkpoint), the job's stop, or something
that is not the trial's fault: a full disk or a cluster gone (the trial LOST, the job stops and
``resume`` re-runs it), a node lost (the trial re-runs now). A trial the scheduler ended at a
report already has its decision recorded: its end only charges its device time.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunelab import restarts
from tunelab.executors.base import Event, EventKind
from tunelab.failures import no_success_reason
from tunelab.jobstate import JobState
from tunelab.outcome import finite_metrics, returned_value
from tunelab.recorder import Unit
from tunelab.restarts import Start, resume_point
from tunelab.segments import Segments
from tunelab.store import TrialRecord
from tunelab.store.artifacts import disk_full_error
from tunelab.trial import JobStatus, TrialState


@dataclass
class Ending:
    """Why the job is ending (None while it runs), the status it ends with, and where the disk
    filled up if it did."""

    reason: str | None = None
    status: JobStatus = JobStatus.COMPLETED
    disk_full: str | None = None

    def stop(self, reason: str, status: JobStatus) -> None:
        self.reason, self.status = reason, status

    def final(self, state: JobState) -> tuple[JobStatus, str | None]:
        """The status and reason recorded at the end: a job none of whose trials succeeded
        has failed, whatever ended it."""
        if self.status is JobStatus.COMPLETED:
            why = no_success_reason(state.trials.values())
            if why:
                self.reason = f"{self.reason}; {why}" if self.reason else why
                self.status = JobStatus.FAILED
        return self.status, self.reason


@dataclass
class SegmentEnds:
    """Records segment ends for job ``job`` (its objective ``metric``); retries and re-runs go
    to ``segments``' queue."""

    job: str
    metric: str
    max_retries: int
    state: JobState
    segments: Segments
    ending: Ending

    def __call__(self, u: Unit, tr: TrialRecord, ev: Event) -> None:
        secs = self.segments.ended(tr.id, ev.at)
        u.set_fields(tr, device_seconds=tr.device_seconds + secs, worker=ev.worker)
        if ev.kind is EventKind.ENDED or tr.state is not TrialState.RUNNING:
            return  # the decision that ended it was recorded at the report
        end = self.ending
        if ev.kind is EventKind.FINISHED:
            returned = finite_metrics(ev.metrics)  # kept whatever the outcome (never lose data)
            if returned:
                u.set_fields(tr, metrics=returned)
            value, error = returned_value(ev.value, tr.reports, self.metric, ev.seen)
            if value is not None:
                u.set_fields(tr, value=value)
            u.end(tr, TrialState.FAILED if error else TrialState.COMPLETED, ev.at, error=error)
        elif ev.kind is EventKind.DISK_FULL:
            # not the trial's fault: LOST, so `tunelab resume` re-runs it from its checkpoint;
            # the job stops (the loop stops the other running trials, which resume continues)
            u.set_state(tr, TrialState.LOST)
            if end.disk_full is None:
                assert self.segments.artifacts is not None
                end.disk_full = ev.error or self.segments.artifacts.root
                why = str(disk_full_error(end.disk_full, self.job))
                end.stop(why, JobStatus.STOPPED)
                u.event("disk_full", why, trial=tr.number)
        elif ev.kind is EventKind.LOST:  # its node died (Ray): re-run it from its checkpoint
            u.set_state(tr, TrialState.LOST)
            u.event("lost", f"{ev.error}; re-running", trial=tr.number)
            self.segments.ready.append(restarts.lost_start(self.state, tr))
        elif ev.kind is EventKind.CLUSTER_GONE:  # like a full disk: stop, resume re-runs it
            u.set_state(tr, TrialState.LOST)
            if end.status is not JobStatus.STOPPED or end.reason is None:
                why = ev.error or "the cluster went away"
                end.stop(why, JobStatus.STOPPED)
                u.event("cluster_gone", why, trial=tr.number)
        elif ev.kind is EventKind.STOPPED:
            u.end(tr, TrialState.STOPPED, ev.at, error=end.reason or "stopped")
        else:  # FAILED, TIMED_OUT
            state = TrialState.TIMED_OUT if ev.kind is EventKind.TIMED_OUT else TrialState.FAILED
            u.end(tr, state, ev.at, error=ev.error, tb=ev.traceback)
            self._maybe_retry(u, tr)

    def _maybe_retry(self, u: Unit, tr: TrialRecord) -> None:
        if self.ending.reason is not None or tr.attempt > self.max_retries:
            return
        first = tr.retry_of if tr.retry_of is not None else tr.number
        (rec,) = u.create_trials([tr.params], source=tr.source, attempt=tr.attempt + 1,
                                 retry_of=first)
        u.event("retry", f"attempt {rec.attempt} of trial {first}", trial=rec.number)
        # it continues from the last checkpoint of the attempt that failed (a killed worker)
        self.segments.ready.append(Start.at(rec, resume_point(self.state, rec)))
