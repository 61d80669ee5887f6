"""The tuner loop: one function that runs a tuning job to its end, crash-safely.

    poll executor events -> record them -> ask the scheduler for decisions -> act
    -> fill free slots (lost/exploit restarts, scheduler resumes, strategy suggestions)
    -> check limits and completion -> repeat

Every fact is written to the store before it is acted on (through a
:class:`~tunelab.recorder.JobRecorder` unit, which also keeps the in-memory mirror). A restarted
tuner rebuilds its state from the store, marks trials that were running as LOST and re-runs them
from their last checkpoint; strategies and schedulers are functions of the history, so they
continue where they were.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from tunelab import limits, preflight, restarts, retention
from tunelab.composition import build_search
from tunelab.executors.base import Event, EventKind, Executor, SegmentSpec
from tunelab.failures import failure_limit_reason, no_success_reason
from tunelab.jobstate import JobState
from tunelab.lease import Lease
from tunelab.objectives.function import FunctionObjective
from tunelab.outcome import finite_metrics, returned_value
from tunelab.preflight import warm_start, warm_start_parents
from tunelab.progress import Progress, ProgressFn, progress_of
from tunelab.recorder import JobRecorder, Unit
from tunelab.restarts import Start, exploit_start, resume_point, verified_restore
from tunelab.schedulers.base import Resume, Scheduler
from tunelab.spec import JobSpec
from tunelab.store import Store, TrialRecord
from tunelab.store.artifacts import disk_full_error
from tunelab.strategies.base import Strategy
from tunelab.trial import Action, Decision, JobStatus, TrialState

if TYPE_CHECKING:
    from tunelab.store.artifacts import Artifacts
    from tunelab.strategies.warm_start import ParentTrials

__all__ = ["Progress", "ProgressFn", "Tuner", "warm_start_parents"]


class Tuner:
    """Runs one tuning job from the store. Build with :meth:`create` or :meth:`resume`."""

    def __init__(
        self, spec: JobSpec, store: Store, job_name: str, *,
        executor: Executor | None = None, progress: ProgressFn | None = None,
        search: tuple[Strategy, Scheduler] | None = None,
        objective: FunctionObjective | None = None,
        gpus: str | list[int] | None = None,
    ) -> None:
        """``search``: a (strategy, scheduler) to use instead of building them from the spec
        (for schedulers and strategies with options no spec names; the contract tests).
        ``objective``: the training function to run instead of the spec's ``train.function``
        (one that :func:`tunelab.tune` sends by value)."""
        self.spec = spec
        self._gpus = gpus  # --gpus: overrides limits.gpus (see tunelab.devices)
        self.store = store
        self.name = job_name
        self.space = spec.space()
        self.static = spec.static_params()
        self.objective = objective if objective is not None else spec.objective_spec()
        self.metric = spec.objective.metric
        self._executor = executor
        self._progress = progress
        self._search = search
        self.lease = Lease()
        self.owner = self.lease.owner
        self.strategy: Strategy
        self.scheduler: Scheduler
        self.state: JobState
        self.rec: JobRecorder
        self._ready: deque[Start] = deque()
        self._seg_started: dict[int, float] = {}
        self._stopping: str | None = None  # reason, once the job is ending
        self._final_status = JobStatus.COMPLETED
        self._parents: list[ParentTrials] | None = None  # warm-start parents, once read
        self._runtime_before = 0.0
        self._runtime_total: float | None = None
        self.artifacts: Artifacts  # the job's checkpoint files (set when the lease is taken)
        self._disk_full: str | None = None  # where the disk filled up, once it has
        self._new_limit: float | None = None  # resume --max-runtime: recorded with the lease
        self._opened: Executor | None = None  # a cluster's executor opened by create()

    # construction -----------------------------------------------------------------------------
    @classmethod
    def create(cls, spec: JobSpec, store: Store, **kw: Any) -> Tuner:
        # a warm-start parent that is missing, unfinished or optimises something else is refused
        # before anything is written, so the fixed spec can be run again under the same name
        from tunelab.spec import check_runnable

        given = kw.get("objective")
        if given is None:
            check_runnable(spec)  # no train section, or one that does not import: nothing written
        else:
            given.resolve()  # a function passed by value (tunelab.tune) must load here too
        parents = warm_start_parents(spec, store)
        root = store.artifact_root()  # a PostgreSQL store without one is refused here
        opened = None
        if kw.get("executor") is None:  # no cluster, or a trial no node fits: nothing written
            from tunelab.executors.factory import open_for_spec

            opened = open_for_spec(spec, str(root))
        try:
            JobRecorder.create_job(store, spec, artifact_root=str(root))
            tuner = cls(spec, store, spec.name, **kw)
        except BaseException:
            if opened is not None:
                opened.shutdown()
            raise
        tuner._parents = parents  # run() need not read them again
        tuner._opened = opened
        return tuner

    @classmethod
    def resume(cls, name: str, store: Store, *, max_runtime: float | None = None,
               **kw: Any) -> Tuner:
        """``max_runtime``: a new total for ``limits.max_runtime`` (recorded in the job's
        spec); with it a job that ended at its max_runtime continues the trials it cut."""
        spec = limits.resume_spec(store.read().job(name), max_runtime)
        tuner = cls(spec, store, name, **kw)
        tuner._new_limit = max_runtime
        return tuner

    # the loop ---------------------------------------------------------------------------------
    def run(self) -> str:
        """Run the job to its end; returns the final job status."""
        if isinstance(self.objective, FunctionObjective):
            self.objective.resolve()  # a bad train.function fails here once, not in every trial
        if self._executor is None and self._opened is None:  # resume: the cluster before a write
            from tunelab.executors.factory import open_for_spec

            root = self.store.artifact_root(self.store.read().job(self.name))
            self._opened = open_for_spec(self.spec, str(root))
        try:
            self._acquire()
        except BaseException:
            if self._opened is not None:
                self._opened.shutdown()
            raise
        executor = self._executor
        try:
            preflight.prepare(self.spec, self.static, self.rec)
            if executor is None:  # a cluster's executor (checked before the job was written)
                from tunelab.executors.factory import record_executor

                executor = self._opened
                self._opened = None
                if executor is not None:
                    record_executor(self.rec, executor)
            if executor is None:
                from tunelab.devices import layout_for, slot_names
                from tunelab.executors.local import LocalExecutor

                layout = layout_for(self.spec.limits, self._gpus)
                with self.rec.unit() as u:  # device-hours are read back from this event
                    u.event("slots", layout.describe(),
                            data={"visible": layout.visible, "names": slot_names(layout),
                                  "gpus_per_trial": layout.gpus_per_trial})
                executor = LocalExecutor(layout.slots, devices=layout.visible)
                executor.warm_up()  # worker start-up is not charged to the first trials
            self.artifacts = self.rec.artifacts = executor.artifacts(self.artifacts)
            self._loop(executor)
        except KeyboardInterrupt:
            self._stopping = self._stopping or "interrupted by Ctrl-C"
            self._final_status = JobStatus.STOPPED
            if executor is not None:
                self._drain_stop(executor)
            self._finish()
        except Exception as e:
            full = self.rec.disk_full(e, self._disk_full)  # a commit failed for want of space
            if full is None:
                raise
            raise full from None
        finally:
            if executor is not None and self._executor is None:
                executor.shutdown()
            elif self._opened is not None:
                self._opened.shutdown()
            self.rec.release(self.lease)
        if self._disk_full is not None:
            raise disk_full_error(self._disk_full, self.name)
        return self._final_status.value

    def _acquire(self) -> None:
        parents = self._parents or warm_start_parents(self.spec, self.store)
        warm = warm_start(self.spec, parents)  # checked before the lease: a refusal holds nothing
        self.rec, again = JobRecorder.open(self.store, self.name, self.lease, restarts.recover)
        self._ready.extend(again)
        self.state, self.artifacts = self.rec.state, self.rec.job_artifacts()
        self._runtime_before = float(self.state.job.data.get("runtime_used", 0.0))
        if self._new_limit is not None:  # the spec is the setting's one home
            with self.rec.unit() as u:
                u.set_job(spec=self.spec.to_dict())
                u.event("max_runtime", f"max_runtime set to {self._new_limit:.0f}s on resume")
        self.strategy, self.scheduler = self._search or build_search(
            self.spec, self.space, warm_start=warm)
        if warm is not None:
            preflight.record_warm_start(self.rec, warm, self.space)

    def _loop(self, ex: Executor) -> None:
        t0 = time.monotonic()
        last_check = last_lease = last_progress = 0.0
        while True:
            events = ex.poll(0.2 if self._seg_started else 0.0)
            if events:
                self._handle(events, ex)
            now = time.monotonic()
            if now - last_check > 0.5:
                last_check = now
                self._check_external_stop(now - t0)
            if now - last_lease > self.lease.ttl / 3:
                last_lease = now
                self._renew(now - t0)
            if self._stopping is None:
                failed = failure_limit_reason(self.spec, self.state.trials.values(),
                                              self.max_trials())
                if failed:  # limits.max_failures
                    self._stopping, self._final_status = failed, JobStatus.FAILED
                else:
                    self._stopping = limits.completion_reason(
                        self.spec.completion, self.state, self.strategy, self.scheduler)
            if self._stopping is not None:
                for tid in list(self._seg_started):
                    ex.stop(tid, self._stopping)
                if not self._seg_started:
                    break
            else:
                self._fill(ex)
                if not self._seg_started and not self._ready:
                    self._stopping = limits.exhausted_reason(
                        self.state, self.scheduler, self.max_trials())
                    break
                if not self._seg_started and not any(
                    r.trial.id not in self._seg_started for r in self._ready
                ):
                    raise RuntimeError("tuner stalled: queued segments but nothing running")
            if self._progress is not None and now - last_progress > 0.25:
                last_progress = now
                self._progress(progress_of(self.name, self.state, self.max_trials(), now - t0))
        self._runtime_total = self._runtime_before + (time.monotonic() - t0)
        self._finish()
        if self._progress is not None:
            self._progress(progress_of(self.name, self.state, self.max_trials(),
                                       time.monotonic() - t0))

    def _drain_stop(self, ex: Executor) -> None:
        for tid in list(self._seg_started):
            ex.stop(tid, self._stopping or "stopped")
        deadline = time.monotonic() + 15
        while self._seg_started and time.monotonic() < deadline:
            events = ex.poll(0.2)
            if events:
                self._handle(events, ex)

    # events -----------------------------------------------------------------------------------
    def _handle(self, events: list[Event], ex: Executor) -> None:
        replies: list[tuple[int, Decision]] = []
        with self.rec.unit() as u:
            for ev in events:
                tr = self.state.by_id(ev.trial_id)
                if ev.kind is EventKind.REPORT:
                    replies.append((ev.trial_id, self._on_report(u, tr, ev)))
                elif ev.kind is not EventKind.STARTED:
                    self._on_segment_end(u, tr, ev)
        for tid, d in replies:
            ex.reply(tid, d)

    def _on_report(self, u: Unit, tr: TrialRecord, ev: Event) -> Decision:
        assert ev.step is not None
        value = ev.metrics.get(self.metric)
        u.report(tr, ev.step, ev.metrics, ev.at, ev.checkpoint, value)
        if tr.state is not TrialState.RUNNING:  # e.g. being stopped: let it end
            return Decision.stop("job is stopping")
        if value is not None and not math.isfinite(value):
            u.end(tr, TrialState.FAILED, ev.at,
                  error=f"reported {value} for {self.metric!r} at step {ev.step}")
            return Decision.stop("non-finite objective")
        decision = self.scheduler.on_report(
            self.state.view(tr), ev.step, ev.metrics, self.state.history()
        )
        if decision.action is not Action.CONTINUE:
            # stamped with the deciding report's time: later reports of this trial are after it
            u.decision(tr, ev.step, decision.action.value, reason=decision.reason,
                       donor=decision.donor, donor_step=decision.donor_step, at=ev.at,
                       params=decision.params if decision.action is Action.EXPLOIT else None)
        if decision.action is Action.STOP:
            u.end(tr, TrialState.PRUNED, ev.at, error=decision.reason or None)
        elif decision.action is Action.PAUSE:
            u.set_state(tr, TrialState.PAUSED)
        elif decision.action is Action.EXPLOIT:
            assert decision.params is not None
            u.set_state(tr, TrialState.PAUSED, params={**tr.params, **decision.params})
            self._ready.append(exploit_start(self.state, tr, decision.donor,
                                             decision.donor_step))
        self._retain(u, tr)
        return decision

    def _on_segment_end(self, u: Unit, tr: TrialRecord, ev: Event) -> None:
        started = self._seg_started.pop(tr.id, None)
        secs = max(0.0, ev.at - started) if started is not None else 0.0
        u.set_fields(tr, device_seconds=tr.device_seconds + secs, worker=ev.worker)
        if ev.kind is EventKind.ENDED or tr.state is not TrialState.RUNNING:
            return  # the decision that ended it was recorded at the report
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
            if self._disk_full is None:
                self._disk_full = ev.error or self.artifacts.root
                self._stopping = str(disk_full_error(self._disk_full, self.name))
                self._final_status = JobStatus.STOPPED
                u.event("disk_full", self._stopping, trial=tr.number)
        elif ev.kind is EventKind.LOST:  # its node died (Ray): re-run it from its checkpoint
            u.set_state(tr, TrialState.LOST)
            u.event("lost", f"{ev.error}; re-running", trial=tr.number)
            self._ready.append(restarts.lost_start(self.state, tr))
        elif ev.kind is EventKind.CLUSTER_GONE:  # like a full disk: stop, resume re-runs it
            u.set_state(tr, TrialState.LOST)
            if self._final_status is not JobStatus.STOPPED or self._stopping is None:
                self._stopping = ev.error or "the cluster went away"
                self._final_status = JobStatus.STOPPED
                u.event("cluster_gone", self._stopping, trial=tr.number)
        elif ev.kind is EventKind.STOPPED:
            u.end(tr, TrialState.STOPPED, ev.at, error=self._stopping or "stopped")
        else:  # FAILED, TIMED_OUT
            state = TrialState.TIMED_OUT if ev.kind is EventKind.TIMED_OUT else TrialState.FAILED
            u.end(tr, state, ev.at, error=ev.error, tb=ev.traceback)
            self._maybe_retry(u, tr)

    def _maybe_retry(self, u: Unit, tr: TrialRecord) -> None:
        if self._stopping is not None or tr.attempt > self.spec.limits.max_retries:
            return
        first = tr.retry_of if tr.retry_of is not None else tr.number
        (rec,) = u.create_trials([tr.params], source=tr.source, attempt=tr.attempt + 1,
                                 retry_of=first)
        u.event("retry", f"attempt {rec.attempt} of trial {first}", trial=rec.number)
        # it continues from the last checkpoint of the attempt that failed (a killed worker)
        self._ready.append(Start.at(rec, resume_point(self.state, rec)))

    def _retain(self, u: Unit, tr: TrialRecord) -> None:
        """Keep the last and the best checkpoint of a trial, plus any still needed."""
        if len(tr.live_checkpoints()) > 2:
            u.delete_checkpoints(tr, retention.unneeded(
                tr, self.state, self.scheduler, [q.restore_from for q in self._ready]))

    # filling slots ------------------------------------------------------------------------------
    def max_trials(self) -> int:
        return limits.max_trials(self.spec.limits.max_trials, self.strategy)

    def _fill(self, ex: Executor) -> None:
        while ex.free_slots() > 0 and self._stopping is None:
            # a trial's next segment waits until its previous one has ended
            ready = next((r for r in self._ready if r.trial.id not in self._seg_started), None)
            if ready is not None:
                self._ready.remove(ready)
                with self.rec.unit() as u:
                    seg = self._record_start(u, ready)
                self._launch(ex, seg)
                continue
            hist = self.state.history()
            res: Resume | None = self.scheduler.next_resume(hist)
            if res is not None:
                if self.state.trials[res.number].id in self._seg_started:
                    return  # its paused segment is still winding down; next poll
                self._start_resume(ex, res)
                continue
            left = self.max_trials() - self.state.first_attempts()
            if left <= 0 or not self.scheduler.accepts_new_trials(hist):
                return
            # with an epoch budget each new trial must fit in what the others left
            n = 1 if self.scheduler.max_epochs is not None else min(left, ex.free_slots())
            configs = self.strategy.ask(hist, n)
            if not configs:
                return
            # create the trials and record the start of those that get a slot now: one commit
            free = ex.free_slots()
            with self.rec.unit() as u:
                new = [Start(tr) for tr in u.create_trials(configs)]
                segs = [self._record_start(u, s) for s in new[:free]]
            self._ready.extend(new[free:])
            for seg in segs:
                self._launch(ex, seg)

    def _start_resume(self, ex: Executor, res: Resume) -> None:
        """Resume a paused trial; one from a donor's checkpoint (PBT) is an exploit decision,
        recorded as such (lineage, protected donor checkpoints) with the start, in one commit."""
        tr = self.state.trials[res.number]
        src = self.state.trials[res.donor] if res.donor is not None else tr
        ck = src.checkpoint_at(res.step)
        exploit = res.donor is not None
        step = tr.last_step if exploit and tr.last_step is not None else res.step
        params = dict(res.params) if res.params else None
        with self.rec.unit() as u:
            u.decision(tr, step, Action.EXPLOIT.value if exploit else "resume",
                       reason=res.reason, donor=res.donor, donor_step=res.step if exploit else None,
                       params=params, at=ex.now())  # the executor's clock, as the reports'
            if params:
                u.set_fields(tr, params={**tr.params, **params})
            seg = self._record_start(u, Start.at(tr, ck))
        self._launch(ex, seg)

    def _record_start(self, u: Unit, s: Start) -> SegmentSpec:
        """Write a segment's start (trial RUNNING); :meth:`_launch` runs it after the commit.
        The checkpoint it restores is checked by hash first (see :func:`verified_restore`)."""
        s = verified_restore(u, self.artifacts, s)
        seg = s.segment(static=self.static, objective=self.objective, metric=self.metric,
                        artifacts=self.artifacts, job=self.name,
                        max_trial_runtime=self.spec.limits.max_trial_runtime,
                        seed=self.spec.strategy.seed)
        u.start_segment(s.trial, time.time())
        return seg

    def _launch(self, ex: Executor, seg: SegmentSpec) -> None:
        self._seg_started[seg.trial_id] = ex.now()
        ex.start(seg)

    # limits and completion ----------------------------------------------------------------------
    def _check_external_stop(self, elapsed: float) -> None:
        if self._stopping is not None:
            return
        if self.store.read().job(self.name).stop_requested:
            self._stopping, self._final_status = "stopped by the user", JobStatus.STOPPED
        limit = self.spec.limits.max_runtime
        if limit is not None and self._runtime_before + elapsed >= limit:
            self._stopping = limits.runtime_reason(limit)

    def _renew(self, elapsed: float) -> None:
        self.rec.renew(self.lease, self._runtime_before + elapsed)

    def _finish(self) -> None:
        if self._final_status is JobStatus.COMPLETED:
            reason = no_success_reason(self.state.trials.values())
            if reason:  # a job none of whose trials succeeded has failed, whatever ended it
                self._stopping = f"{self._stopping}; {reason}" if self._stopping else reason
                self._final_status = JobStatus.FAILED
        self.rec.finish(self._final_status, self._stopping, self._runtime_total)
