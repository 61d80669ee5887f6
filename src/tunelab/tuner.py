"""The tuner loop: one function that runs a tuning job to its end, crash-safely.

    poll executor events -> record them -> ask the scheduler for decisions -> act
    -> fill free slots (queued restarts, scheduler resumes, strategy suggestions)
    -> check limits and completion -> repeat

Every fact is written to the store before it is acted on (through a
:class:`~tunelab.recorder.JobRecorder` unit, which also keeps the in-memory mirror). The
segments in flight are :mod:`tunelab.segments`'s, a segment's end is recorded by
:mod:`tunelab.segment_end`, the executor comes from :mod:`tunelab.executor_setup`. A restarted
tuner rebuilds its state from the store and re-runs what was cut off (:mod:`tunelab.restarts`);
strategies and schedulers are functions of the history, so they continue where they were.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from tunelab import limits, preflight, restarts, retention
from tunelab.composition import build_search
from tunelab.executor_setup import open_cluster, ready_executor
from tunelab.executors.base import Event, EventKind, Executor
from tunelab.failures import failure_limit_reason
from tunelab.jobstate import JobState
from tunelab.lease import Lease
from tunelab.objectives.function import FunctionObjective
from tunelab.preflight import warm_start, warm_start_parents
from tunelab.progress import Progress, ProgressFn, progress_of
from tunelab.recorder import JobRecorder, Unit
from tunelab.restarts import Start, exploit_start
from tunelab.schedulers.base import Resume, Scheduler
from tunelab.segment_end import Ending, SegmentEnds
from tunelab.segments import Segments
from tunelab.spec import JobSpec
from tunelab.store import Store, TrialRecord
from tunelab.store.artifacts import disk_full_error
from tunelab.strategies.base import Strategy
from tunelab.trial import Action, Decision, JobStatus, TrialState

if TYPE_CHECKING:
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
        self.spec, self.store, self.name = spec, store, job_name
        self._gpus = gpus  # --gpus: overrides limits.gpus (see tunelab.devices)
        self.space = spec.space()
        self.static = spec.static_params()
        self.objective = objective if objective is not None else spec.objective_spec()
        self.metric = spec.objective.metric
        self._executor, self._progress, self._search = executor, progress, search
        self.lease = Lease()
        self.owner = self.lease.owner
        self.strategy: Strategy
        self.scheduler: Scheduler
        self.state: JobState
        self.rec: JobRecorder
        self.segs = Segments(spec, job_name, self.objective, self.static)
        self.end = Ending()  # how the job is ending, once it is
        self._seg_end: SegmentEnds  # set when the lease is taken
        self._parents: list[ParentTrials] | None = None  # warm-start parents, once read
        self._runtime_before = 0.0
        self._runtime_total: float | None = None
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
        # no cluster, or a trial no node fits: nothing written
        opened = open_cluster(spec, store) if kw.get("executor") is None else None
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
            self._opened = open_cluster(self.spec, self.store, self.name)
        try:
            self._acquire()
        except BaseException:
            if self._opened is not None:
                self._opened.shutdown()
            raise
        executor = self._executor
        try:
            if self.end.reason is None:
                preflight.prepare(self.spec, self.static, self.rec)
            if executor is None:  # a cluster's (checked before the job was written) or local
                executor, self._opened = ready_executor(self.spec, self.rec, self._opened,
                                                        self._gpus), None
            self.segs.artifacts = self.rec.artifacts = executor.artifacts(
                self.rec.job_artifacts())
            self._loop(executor)
        except KeyboardInterrupt:
            self.end.stop(self.end.reason or "interrupted by Ctrl-C", JobStatus.STOPPED)
            if executor is not None:
                self._drain_stop(executor)
            self._finish()
        except Exception as e:
            full = self.rec.disk_full(e, self.end.disk_full)  # a commit failed for want of space
            if full is None:
                raise
            raise full from None
        finally:
            if executor is not None and self._executor is None:
                executor.shutdown()
            elif self._opened is not None:
                self._opened.shutdown()
            self.rec.release(self.lease)
        if self.end.disk_full is not None:
            raise disk_full_error(self.end.disk_full, self.name)
        return self.end.status.value

    def _acquire(self) -> None:
        parents = self._parents or warm_start_parents(self.spec, self.store)
        warm = warm_start(self.spec, parents)  # checked before the lease: a refusal holds nothing
        self.rec, again = JobRecorder.open(self.store, self.name, self.lease, restarts.recover)
        self.segs.ready.extend(again)
        self.state = self.rec.state
        self._seg_end = SegmentEnds(self.name, self.metric, self.spec.limits.max_retries,
                                    self.state, self.segs, self.end)
        if self.state.job.stop_requested:  # requested before the last tuner died: honour it
            self.end.stop("stopped by the user", JobStatus.STOPPED)
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
        segs, end = self.segs, self.end
        while True:
            events = ex.poll(0.2 if segs.running else 0.0)
            if events:
                self._handle(events, ex)
            now = time.monotonic()
            if now - last_check > 0.5:
                last_check = now
                self._check_external_stop(now - t0)
            if now - last_lease > self.lease.ttl / 3:
                last_lease = now
                self.rec.renew(self.lease, self._runtime_before + now - t0)
            if end.reason is None:
                failed = failure_limit_reason(self.spec, self.state.trials.values(),
                                              self.max_trials())
                if failed:  # limits.max_failures
                    end.stop(failed, JobStatus.FAILED)
                else:
                    end.reason = limits.completion_reason(
                        self.spec.completion, self.state, self.strategy, self.scheduler)
            if end.reason is not None:
                for tid in list(segs.running):
                    ex.stop(tid, end.reason)
                if not segs.running:
                    break
            else:
                self._fill(ex)
                if not segs.running and not segs.ready:
                    end.reason = limits.exhausted_reason(
                        self.state, self.scheduler, self.max_trials())
                    break
                if segs.stalled():
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
        for tid in list(self.segs.running):
            ex.stop(tid, self.end.reason or "stopped")
        deadline = time.monotonic() + 15
        while self.segs.running and time.monotonic() < deadline:
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
                    self._seg_end(u, tr, ev)
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
            self.segs.ready.append(exploit_start(self.state, tr, decision.donor,
                                                 decision.donor_step))
        if len(tr.live_checkpoints()) > 2:  # keep the last and the best, plus any still needed
            u.delete_checkpoints(tr, retention.unneeded(
                tr, self.state, self.scheduler, [q.restore_from for q in self.segs.ready]))
        return decision

    # filling slots ------------------------------------------------------------------------------
    def max_trials(self) -> int:
        return limits.max_trials(self.spec.limits.max_trials, self.strategy)

    def _fill(self, ex: Executor) -> None:
        segs = self.segs
        while ex.free_slots() > 0 and self.end.reason is None:
            ready = segs.next_ready()  # a trial's next segment waits for its previous one
            if ready is not None:
                with self.rec.unit() as u:
                    seg = segs.record_start(u, ready)
                segs.launch(ex, seg)
                continue
            hist = self.state.history()
            res: Resume | None = self.scheduler.next_resume(hist)
            if res is not None:
                if self.state.trials[res.number].id in segs.running:
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
                started = [segs.record_start(u, s) for s in new[:free]]
            segs.ready.extend(new[free:])
            for seg in started:
                segs.launch(ex, seg)

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
            seg = self.segs.record_start(u, Start.at(tr, ck))
        self.segs.launch(ex, seg)

    # limits and completion ----------------------------------------------------------------------
    def _check_external_stop(self, elapsed: float) -> None:
        if self.end.reason is not None:
            return
        if self.store.read().job(self.name).stop_requested:
            self.end.stop("stopped by the user", JobStatus.STOPPED)
        limit = self.spec.limits.max_runtime
        if limit is not None and self._runtime_before + elapsed >= limit:
            self.end.reason = limits.runtime_reason(limit)

    def _finish(self) -> None:
        self.rec.finish(*self.end.final(self.state), self._runtime_total)
