"""The tuner's unit of work: each write goes to the store and to the in-memory mirror together.

    with recorder.unit() as u:          # one transaction
        u.report(trial, step, metrics, at, checkpoint)
        u.end(trial, TrialState.PRUNED, at, error="below the median")
    # committed; checkpoint files whose deletion was recorded are removed now

Every method writes its row(s) in the unit's transaction and updates the
:class:`~tunelab.jobstate.JobState` (and marks the trial changed, so the next ``History`` shows
it). The mirror is updated as each write is issued, because a scheduler deciding at a report
must see that report; if the commit fails the tuner stops and its mirror goes with it. Files
are removed only after the commit, so the store never names a checkpoint that is gone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from tunelab.checkpoint import Checkpoint
from tunelab.jobstate import JobState
from tunelab.lease import Lease
from tunelab.retention import delete_checkpoint_files
from tunelab.store import CheckpointRecord, DecisionRow, ReportRecord, Store, TrialRecord, Tx
from tunelab.store.artifacts import disk_full_error, is_disk_full
from tunelab.trial import JobStatus, TrialState, transition

if TYPE_CHECKING:
    from tunelab.errors import DiskFullError
    from tunelab.spec import JobSpec
    from tunelab.store.artifacts import Artifacts

T = TypeVar("T")


class Unit:
    """One transaction of the tuner (see the module docstring)."""

    def __init__(self, tx: Tx, state: JobState) -> None:
        self.tx = tx
        self.state = state
        self.job_id = state.job.id
        self.deleted_files: list[str] = []

    # the job ------------------------------------------------------------------------------------
    def event(self, kind: str, message: str = "", *, trial: int | None = None,
              data: Mapping[str, Any] | None = None) -> None:
        self.tx.add_event(self.job_id, kind, message, trial_number=trial, data=data)

    def set_job(self, *, status: JobStatus | None = None, **fields: Any) -> None:
        """Update the job row (``status``, ``status_reason``, ``ended_at``, ``data``, ...)."""
        if status is not None:
            fields["status"] = status.value
        self.tx.set_job(self.job_id, **fields)
        for k, v in fields.items():
            setattr(self.state.job, k, v)

    def set_job_data(self, **items: Any) -> None:
        self.set_job(data={**self.state.job.data, **items})

    # trials -------------------------------------------------------------------------------------
    def create_trials(self, configs: Sequence[Mapping[str, Any]], *, source: str = "strategy",
                      attempt: int = 1, retry_of: int | None = None) -> list[TrialRecord]:
        """New PENDING trials with the next free numbers, in order."""
        base = self.tx.next_trial_number(self.job_id)
        ids = [self.tx.create_trial(self.job_id, base + i, p, source=source, attempt=attempt,
                                    retry_of=retry_of)
               for i, p in enumerate(configs)]
        recs = {t.id: t for t in self.tx.trials(self.job_id, with_reports=False, ids=ids)}
        out = [recs[i] for i in ids]
        for tr in out:
            self.state.trials[tr.number] = tr
        self.state.changed(*out)
        return out

    def set_state(self, tr: TrialRecord, state: TrialState, **fields: Any) -> None:
        """A legal state change (see :func:`~tunelab.trial.transition`) plus plain fields."""
        self.tx.set_trial(tr.id, state=state, current=tr.state, **fields)
        tr.state = transition(tr.state, state)
        self._mirror(tr, fields)

    def set_fields(self, tr: TrialRecord, **fields: Any) -> None:
        """Plain trial fields: ``params``, ``value``, ``metrics``, ``device_seconds``, ..."""
        self.tx.set_trial(tr.id, **fields)
        self._mirror(tr, fields)

    def start_segment(self, tr: TrialRecord, now: float) -> None:
        """The trial's next segment starts: RUNNING, one more segment."""
        self.set_state(tr, TrialState.RUNNING, segments=tr.segments + 1,
                       started_at=tr.started_at or now)

    def end(self, tr: TrialRecord, state: TrialState, at: float, *, error: str | None = None,
            tb: str | None = None) -> None:
        """The trial reaches ``state`` for good (or LOST/PAUSED callers use set_state); every
        ending but COMPLETED is also an event of the job."""
        self.set_state(tr, state, ended_at=at, error=error, traceback=tb)
        if state is not TrialState.COMPLETED:
            self.event(state.value, error or "", trial=tr.number)

    def report(self, tr: TrialRecord, step: int, metrics: Mapping[str, float], at: float,
               checkpoint: Checkpoint | None, value: float | None) -> None:
        """A report (with the checkpoint it carries); ``value`` is the objective metric in it."""
        finite = value is not None and math.isfinite(value)
        self.tx.add_report(tr.id, step, value, metrics, at)
        tr.reports.append(ReportRecord(step, value if finite else None, dict(metrics), at))
        if checkpoint is not None:
            ck = checkpoint
            cid = self.tx.add_checkpoint(tr.id, ck.step, ck.path, ck.sha256, ck.size)
            tr.checkpoints.append(CheckpointRecord(cid, ck.step, ck.path, ck.sha256, ck.size))
        fields: dict[str, Any] = {"last_step": step}
        if finite:
            fields["value"] = value
        self.set_fields(tr, **fields)

    def decision(self, tr: TrialRecord, step: int, action: str, *, reason: str = "",
                 donor: int | None = None, donor_step: int | None = None,
                 params: Mapping[str, Any] | None = None, at: float) -> None:
        """A scheduler decision acted on (``at``: the executor's clock, see the tuner)."""
        params = dict(params) if params else None
        self.tx.add_decision(self.job_id, tr.number, step, action, reason=reason, donor=donor,
                             donor_step=donor_step, params=params, at=at)
        self.state.add_decision(
            DecisionRow(tr.number, step, action, reason, donor, donor_step, params, at))

    def delete_checkpoints(self, tr: TrialRecord, checkpoints: Sequence[CheckpointRecord]) -> None:
        """Record the deletions; the files go once the unit has committed."""
        for c in checkpoints:
            self.tx.mark_checkpoint_deleted(c.id)
            c.deleted = True
            self.deleted_files.append(c.path)
        if checkpoints:
            self.state.changed(tr)

    def _mirror(self, tr: TrialRecord, fields: Mapping[str, Any]) -> None:
        for k, v in fields.items():
            setattr(tr, k, dict(v) if isinstance(v, Mapping) else v)
        self.state.changed(tr)


class JobRecorder:
    """Opens units of work on ``store`` for the job mirrored by ``state``; checkpoint files
    are deleted through ``artifacts`` (default: the job's artifact store)."""

    def __init__(self, store: Store, state: JobState, artifacts: Artifacts | None = None) -> None:
        self.store = store
        self.state = state
        self.artifacts = artifacts

    @classmethod
    def open(cls, store: Store, name: str, lease: Lease,
             recover: Callable[[Unit], list[T]]) -> tuple[JobRecorder, list[T]]:
        """Take job ``name``'s lease for a run, in one transaction: load its mirror, record
        its artifact root if it moved, ``recover`` what the last run left (returns what must
        run again, see :func:`tunelab.restarts.recover`), mark it running, say who took it.
        A stop requested under a lease whose tuner died without ending the job stays requested
        (the new run stops at once); one a run already ended with is cleared.
        Raises :class:`~tunelab.errors.JobBusyError` while another live tuner holds it."""
        with store.transaction() as tx:
            job = tx.job(name)
            dead = lease.acquire(tx, job)
            state = JobState.load(tx, job)
            rec = cls(store, state, store.artifact_store(job))
            u = Unit(tx, state)
            if job.artifact_root != rec.job_artifacts().root:  # an older job, or the share moved
                u.set_job(artifact_root=rec.job_artifacts().root)
            again = recover(u)
            # a stop request belongs to the run whose lease it was made under: a run that
            # ended answered it (a resume after it starts afresh); a run whose tuner died
            # without ending (still marked running) did not, so this run honours it
            pending = job.stop_requested and job.status == JobStatus.RUNNING.value
            u.set_job(status=JobStatus.RUNNING, status_reason=None, stop_requested=pending)
            took = f" (took over the lease of {dead}, which died)" if dead else ""
            u.event("resumed" if state.trials else "started", f"tuner {lease.owner}{took}")
            if pending:
                u.event("stop_requested", "a stop requested before the last tuner died is "
                        "honoured by this one")
        return rec, again

    def release(self, lease: Lease) -> None:
        """Give the lease back. On a full disk it is left: a dead tuner's lease is taken over
        at once by the next ``resume``."""
        try:
            with self.store.transaction() as tx:
                lease.release(tx, self.state.job.id)
        except Exception as e:
            if not is_disk_full(e):
                raise

    def disk_full(self, e: BaseException, where: str | None) -> DiskFullError | None:
        """The one-line error for a commit that failed for want of space (``where``: the
        place already known to be full, else the store's folder or the artifact root), or
        None for any other error. What was written stands: trials still RUNNING in the store
        become LOST on resume and re-run from their checkpoints."""
        if not is_disk_full(e):
            return None
        where = where or self.store.db_folder() or self.job_artifacts().root
        return disk_full_error(where, self.state.job.name)

    def job_artifacts(self) -> Artifacts:
        """The artifact store checkpoint files go through (the job's, unless one was given)."""
        if self.artifacts is None:
            self.artifacts = self.store.artifact_store(self.state.job)
        return self.artifacts

    @staticmethod
    def create_job(store: Store, spec: JobSpec, *, artifact_root: str | None = None) -> None:
        """Write a new job (status CREATED, its artifact root) and its ``created`` event."""
        with store.transaction() as tx:
            job = tx.create_job(spec.name, spec.to_dict(), metric=spec.objective.metric,
                                goal=spec.objective.goal, artifact_root=artifact_root)
            tx.add_event(job.id, "created", f"job {spec.name} created")

    def renew(self, lease: Lease, runtime_used: float) -> None:
        """Renew the job's lease and record the runtime used so far."""
        with self.unit() as u:
            lease.renew(u.tx, u.job_id)
            u.set_job_data(runtime_used=runtime_used)

    def finish(self, status: JobStatus, reason: str | None, runtime_used: float | None) -> None:
        """The job's end: its status and reason. A completed job's paused trials, which the
        scheduler never resumed (ASHA: not promoted), end PRUNED."""
        with self.unit() as u:
            if status is JobStatus.COMPLETED:
                for tr in self.state.trials.values():
                    if tr.state is TrialState.PAUSED:
                        u.end(tr, TrialState.PRUNED, time.time(),
                              error="paused by the scheduler and not resumed before the end")
            data = self.state.job.data
            u.set_job(status=status, status_reason=reason, ended_at=time.time(),
                      data={**data, "runtime_used": runtime_used if runtime_used is not None
                            else data.get("runtime_used", 0.0)})
            u.event(status.value, reason or "")

    @contextmanager
    def unit(self) -> Iterator[Unit]:
        with self.store.transaction() as tx:
            u = Unit(tx, self.state)
            yield u
        if u.deleted_files:
            refused = delete_checkpoint_files(self.job_artifacts(), u.deleted_files)
            if refused:  # retired in the store, the file left alone, and said so
                with self.store.transaction() as tx:
                    for path, why in refused:
                        tx.add_event(self.state.job.id, "unsafe_path", why, data={"path": path})
