"""The tuner loop: one function that runs a tuning job to its end, crash-safely.

    poll executor events -> record them -> ask the scheduler for decisions -> act
    -> fill free slots (lost/exploit restarts, scheduler resumes, strategy suggestions)
    -> check limits and completion -> repeat

Every fact is written to the store before it is acted on. A restarted tuner rebuilds its state
from the store, marks trials that were running as LOST and re-runs them from their last
checkpoint; strategies and schedulers are functions of the history, so they continue where they
were.
"""

from __future__ import annotations

import math
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.composition import build_search
from tunelab.errors import JobBusyError, SpecError
from tunelab.executors.base import Event, EventKind, Executor, SegmentSpec
from tunelab.jobstate import JobState
from tunelab.objectives.function import FunctionObjective
from tunelab.schedulers.base import Resume, Scheduler
from tunelab.spec import JobSpec
from tunelab.store import Store, TrialRecord, Tx
from tunelab.strategies.base import Strategy
from tunelab.trial import Action, Decision, TrialState, transition

if TYPE_CHECKING:
    from tunelab.strategies.warm_start import ParentTrials

LEASE_TTL = 30.0
DEFAULT_MAX_TRIALS = 20


def dead_local_owner(owner: str | None) -> bool:
    """True if ``owner`` (``host:pid:tag``) is a tuner process on this host that has died
    (``kill -9``, a crash): its lease can be taken over at once instead of after the TTL.
    A pid reused by another process reads as alive, so the lease then runs out as usual."""
    if not owner:
        return False
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed child not yet reaped still has its pid: it is dead all the same (Linux)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress displays."""

    job: str
    counts: dict[str, int]
    max_trials: int | None
    best_value: float | None
    best_number: int | None
    elapsed: float
    remaining: float | None  # estimated seconds


ProgressFn = Callable[[Progress], None]


@dataclass
class _Start:
    trial: TrialRecord
    restore_from: str | None = None
    restore_step: int | None = None


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


class Tuner:
    """Runs one tuning job from the store. Build with :meth:`create` or :meth:`resume`."""

    def __init__(
        self, spec: JobSpec, store: Store, job_name: str, *,
        executor: Executor | None = None, progress: ProgressFn | None = None,
    ) -> None:
        self.spec = spec
        self.store = store
        self.name = job_name
        self.space = spec.space()
        self.static = spec.static_params()
        self.objective = spec.objective_spec()
        self.metric = spec.objective.metric
        self._executor = executor
        self._progress = progress
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.strategy: Strategy
        self.scheduler: Scheduler
        self.state: JobState
        self._ready: deque[_Start] = deque()
        self._seg_started: dict[int, float] = {}
        self._stopping: str | None = None  # reason, once the job is ending
        self._final_status = "completed"
        self._parents: list[ParentTrials] | None = None  # warm-start parents, once read

    # construction -----------------------------------------------------------------------------
    @classmethod
    def create(cls, spec: JobSpec, store: Store, **kw: Any) -> Tuner:
        # a warm-start parent that is missing, unfinished or optimises something else is refused
        # before anything is written, so the fixed spec can be run again under the same name
        parents = warm_start_parents(spec, store)
        with store.transaction() as tx:
            job = tx.create_job(spec.name, spec.to_dict(), metric=spec.objective.metric,
                                goal=spec.objective.goal)
            tx.add_event(job.id, "created", f"job {spec.name} created")
        tuner = cls(spec, store, spec.name, **kw)
        tuner._parents = parents  # run() need not read them again
        return tuner

    @classmethod
    def resume(cls, name: str, store: Store, **kw: Any) -> Tuner:
        from tunelab.spec import spec_from_dict

        job = store.read().job(name)
        if job.status == "completed":
            raise SpecError(
                f"job {name!r} already completed ({job.status_reason}); nothing to resume. "
                "Start a new job (optionally with warm_start from this one)."
            )
        return cls(spec_from_dict(job.spec), store, name, **kw)

    # the loop ---------------------------------------------------------------------------------
    def run(self) -> str:
        """Run the job to its end; returns the final job status."""
        if isinstance(self.objective, FunctionObjective):
            self.objective.resolve()  # a bad train.function fails here once, not in every trial
        self._acquire()
        executor = self._executor
        try:
            self._prepare()
            if executor is None:
                from tunelab.executors.local import LocalExecutor

                executor = LocalExecutor(self.spec.limits.max_parallel)
                executor.warm_up()  # worker start-up is not charged to the first trials
            self._loop(executor)
        except KeyboardInterrupt:
            self._stopping = self._stopping or "interrupted by Ctrl-C"
            self._final_status = "stopped"
            if executor is not None:
                self._drain_stop(executor)
            self._finish()
        finally:
            if executor is not None and self._executor is None:
                executor.shutdown()
            with self.store.transaction() as tx:
                tx.release_lease(self.state.job.id, self.owner)
        return self._final_status

    def _acquire(self) -> None:
        warm = self._warm_start()  # checked before the lease is taken: a refusal holds nothing
        with self.store.transaction() as tx:
            job = tx.job(self.name)
            dead = job.lease_owner if dead_local_owner(job.lease_owner) else None
            if not tx.acquire_lease(job.id, self.owner, LEASE_TTL, take_over=dead):
                left = (job.lease_until or 0) - time.time()
                raise JobBusyError(
                    f"job {self.name!r} is already running (held by {job.lease_owner}, lease "
                    f"valid {left:.0f}s more). Stop it with `tunelab stop {self.name}` or wait "
                    "for it to finish."
                )
            self.state = JobState.load(tx, job)
            self._recover(tx)
            prior = job.data.get("runtime_used", 0.0)
            tx.set_job(job.id, status="running", status_reason=None, stop_requested=False)
            took = f" (took over the lease of {dead}, which died)" if dead else ""
            tx.add_event(job.id, "resumed" if self.state.trials else "started",
                         f"tuner {self.owner}{took}")
        self._runtime_before = float(prior)
        self.strategy, self.scheduler = build_search(self.spec, self.space, warm_start=warm)
        if warm is not None:
            self._record_warm_start(warm)

    def _record_warm_start(self, warm: Any) -> None:
        """Say once, in the job's events, how many parent trials the search starts from."""
        from tunelab.strategies.bayes_encoding import SpaceEncoder
        from tunelab.strategies.warm_start import (
            coverage_dicts,
            coverage_message,
            parent_coverage,
        )

        with self.store.transaction() as tx:
            if tx.events(self.state.job.id, "warm_start"):
                return
            coverage = parent_coverage(warm.parents, SpaceEncoder(self.space).fits)
            tx.add_event(self.state.job.id, "warm_start", coverage_message(warm.type, coverage),
                         data={"parents": coverage_dicts(coverage)})

    def _prepare(self) -> None:
        """A built-in trainer's data is loaded (and cached) once before any trial: data no
        trial could use ends the job with that one error; what was found, skipped files
        included, goes in the job's events."""
        builtin = self.spec.train.builtin if self.spec.train is not None else None
        if builtin is None:
            return
        from tunelab.errors import TunelabError
        from tunelab.objectives.builtin import PREPARE, prepare_builtin

        if builtin not in PREPARE:
            return
        job_id = self.state.job.id
        try:
            message, facts = prepare_builtin(builtin, self.static)
        except TunelabError as e:
            with self.store.transaction() as tx:
                tx.set_job(job_id, status="failed", status_reason=str(e), ended_at=time.time())
                tx.add_event(job_id, "failed", str(e))
            self._final_status = "failed"
            raise
        with self.store.transaction() as tx:
            last = tx.events(job_id, "data")
            if not last or last[-1].message != message:
                tx.add_event(job_id, "data", message, data=facts)

    def _warm_start(self) -> Any:
        parents = self._parents or warm_start_parents(self.spec, self.store)
        if parents is None:
            return None
        from tunelab.strategies.warm_start import WarmStart

        assert self.spec.warm_start is not None
        return WarmStart(type=self.spec.warm_start.type, parents=parents)

    def _recover(self, tx: Tx) -> None:
        """After a crash: running trials are LOST and re-run from their last checkpoint;
        pending ones start again; a recorded exploit that never started is started."""
        for tr in sorted(self.state.trials.values(), key=lambda t: t.number):
            if tr.state is TrialState.RUNNING:
                tx.set_trial(tr.id, state=TrialState.LOST, current=tr.state)
                tr.state = TrialState.LOST
                tx.add_event(self.state.job.id, "lost", "tuner stopped while it ran; re-running",
                             trial_number=tr.number)
            d = self.state.last_decision(tr.number)
            if tr.state in (TrialState.LOST, TrialState.PAUSED) and d is not None \
                    and d.action == Action.EXPLOIT.value \
                    and not any(r.at > d.at for r in tr.reports):
                # an exploit decided (and maybe started) but not one report since: the copy
                # is not done, so it starts again from the donor's checkpoint of the decision
                self._queue_exploit(tr, d.donor, d.donor_step)
            elif tr.state in (TrialState.LOST, TrialState.PENDING):
                ck = tr.last_checkpoint()
                self._ready.append(_Start(tr, ck.path if ck else None, ck.step if ck else None))
        self.state.changed()

    def _loop(self, ex: Executor) -> None:
        t0 = time.monotonic()
        last_check = last_lease = last_progress = 0.0
        while True:
            running = len(self._seg_started)
            events = ex.poll(0.2 if running else 0.0)
            if events:
                self._handle(events, ex)
            now = time.monotonic()
            if now - last_check > 0.5:
                last_check = now
                self._check_external_stop(now - t0)
            if now - last_lease > LEASE_TTL / 3:
                last_lease = now
                self._renew(now - t0)
            if self._stopping is None:
                self._check_completion()
            if self._stopping is not None:
                for tid in list(self._seg_started):
                    ex.stop(tid, self._stopping)
                if not self._seg_started:
                    break
            else:
                self._fill(ex)
                if not self._seg_started and not self._ready:
                    self._stopping = self._exhausted_reason()
                    break
                if not self._seg_started and not any(
                    r.trial.id not in self._seg_started for r in self._ready
                ):
                    raise RuntimeError("tuner stalled: queued segments but nothing running")
            if self._progress is not None and now - last_progress > 0.25:
                last_progress = now
                self._report_progress(now - t0)
        self._runtime_total = self._runtime_before + (time.monotonic() - t0)
        self._finish()
        if self._progress is not None:
            self._report_progress(time.monotonic() - t0)

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
        with self.store.transaction() as tx:
            for ev in events:
                tr = self.state.by_id(ev.trial_id)
                if ev.kind is EventKind.REPORT:
                    replies.append((ev.trial_id, self._on_report(tx, tr, ev)))
                elif ev.kind is EventKind.STARTED:
                    continue
                else:
                    self._on_segment_end(tx, tr, ev)
                self.state.changed(tr)  # only this trial's record changed (retries are new)
        for tid, d in replies:
            ex.reply(tid, d)

    def _on_report(self, tx: Tx, tr: TrialRecord, ev: Event) -> Decision:
        from tunelab.store import CheckpointRecord, ReportRecord

        assert ev.step is not None
        job_id = self.state.job.id
        value = ev.metrics.get(self.metric)
        tx.add_report(tr.id, ev.step, value, ev.metrics, ev.at)
        tr.reports.append(ReportRecord(ev.step, value if value is None or math.isfinite(value)
                                       else None, dict(ev.metrics), ev.at))
        if ev.checkpoint is not None:
            ck = ev.checkpoint
            cid = tx.add_checkpoint(tr.id, ck.step, ck.path, ck.sha256, ck.size)
            tr.checkpoints.append(CheckpointRecord(cid, ck.step, ck.path, ck.sha256, ck.size))
        fields: dict[str, Any] = {"last_step": ev.step}
        if value is not None and math.isfinite(value):
            fields["value"] = value
            tr.value = value
        tr.last_step = ev.step
        tx.set_trial(tr.id, **fields)
        if tr.state is not TrialState.RUNNING:  # e.g. being stopped: let it end
            return Decision.stop("job is stopping")
        if value is not None and not math.isfinite(value):
            self._end(tx, tr, TrialState.FAILED, ev.at,
                      error=f"reported {value} for {self.metric!r} at step {ev.step}")
            return Decision.stop("non-finite objective")
        self.state.changed(tr)
        decision = self.scheduler.on_report(
            self.state.view(tr), ev.step, ev.metrics, self.state.history()
        )
        if decision.action is Action.CONTINUE:
            self._retain(tx, tr)
            return decision
        from tunelab.store import DecisionRow

        params = decision.params if decision.action is Action.EXPLOIT else None
        # stamped with the deciding report's time: later reports of this trial are after it
        tx.add_decision(job_id, tr.number, ev.step, decision.action.value,
                        reason=decision.reason, donor=decision.donor,
                        donor_step=decision.donor_step, params=params, at=ev.at)
        self.state.decisions.append(DecisionRow(
            tr.number, ev.step, decision.action.value, decision.reason, decision.donor,
            decision.donor_step, dict(params) if params else None, ev.at))
        if decision.action is Action.STOP:
            self._end(tx, tr, TrialState.PRUNED, ev.at, error=decision.reason or None)
        elif decision.action is Action.PAUSE:
            self._set_state(tx, tr, TrialState.PAUSED)
        elif decision.action is Action.EXPLOIT:
            assert decision.params is not None
            new = {**tr.params, **decision.params}
            tx.set_trial(tr.id, params=new)
            tr.params = new
            self._set_state(tx, tr, TrialState.PAUSED)
            self._queue_exploit(tr, decision.donor, decision.donor_step)
        self._retain(tx, tr)
        return decision

    def _on_segment_end(self, tx: Tx, tr: TrialRecord, ev: Event) -> None:
        started = self._seg_started.pop(tr.id, None)
        secs = max(0.0, ev.at - started) if started is not None else 0.0
        tr.device_seconds += secs
        tx.set_trial(tr.id, device_seconds=tr.device_seconds, worker=ev.worker)
        if ev.kind is EventKind.ENDED or tr.state is not TrialState.RUNNING:
            return  # the decision that ended it was recorded at the report
        if ev.kind is EventKind.FINISHED:
            # the metrics the function returned are kept whatever the outcome (never lose data)
            returned = {k: float(v) for k, v in ev.metrics.items() if math.isfinite(v)}
            if returned:
                tx.set_trial(tr.id, metrics=returned)
                tr.metrics = returned
            value = ev.value
            if value is None:  # a resumed segment may add no report: the last one stands
                value = next((r.value for r in reversed(tr.reports) if r.value is not None),
                             None)
            if value is None:
                self._end(tx, tr, TrialState.FAILED, ev.at, error=(
                    f"the objective metric {self.metric!r} was never reported or returned; "
                    f"metrics seen: {', '.join(ev.seen) or 'none'}"))
            elif not math.isfinite(value):
                self._end(tx, tr, TrialState.FAILED, ev.at,
                          error=f"returned {value} for {self.metric!r}")
            else:
                tr.value = value
                tx.set_trial(tr.id, value=value)
                self._end(tx, tr, TrialState.COMPLETED, ev.at)
        elif ev.kind is EventKind.STOPPED:
            self._end(tx, tr, TrialState.STOPPED, ev.at, error=self._stopping or "stopped")
        else:  # FAILED, TIMED_OUT
            state = TrialState.TIMED_OUT if ev.kind is EventKind.TIMED_OUT else TrialState.FAILED
            self._end(tx, tr, state, ev.at, error=ev.error, tb=ev.traceback)
            self._maybe_retry(tx, tr)

    def _set_state(self, tx: Tx, tr: TrialRecord, state: TrialState, **fields: Any) -> None:
        tx.set_trial(tr.id, state=state, current=tr.state, **fields)
        tr.state = transition(tr.state, state)

    def _end(self, tx: Tx, tr: TrialRecord, state: TrialState, at: float, *,
             error: str | None = None, tb: str | None = None) -> None:
        self._set_state(tx, tr, state, ended_at=at, error=error, traceback=tb)
        tr.ended_at, tr.error, tr.traceback = at, error, tb
        if state is not TrialState.COMPLETED:
            tx.add_event(self.state.job.id, state.value, error or "", trial_number=tr.number)

    def _maybe_retry(self, tx: Tx, tr: TrialRecord) -> None:
        if self._stopping is not None or tr.attempt > self.spec.limits.max_retries:
            return
        first = tr.retry_of if tr.retry_of is not None else tr.number
        number = tx.next_trial_number(self.state.job.id)
        tid = tx.create_trial(self.state.job.id, number, tr.params, source=tr.source,
                              attempt=tr.attempt + 1, retry_of=first)
        rec = tx.trials(self.state.job.id, with_reports=False, ids=[tid])[0]
        self.state.trials[number] = rec
        tx.add_event(self.state.job.id, "retry", f"attempt {rec.attempt} of trial {first}",
                     trial_number=number)
        self._ready.append(_Start(rec))

    def _queue_exploit(self, tr: TrialRecord, donor: int | None, donor_step: int | None) -> None:
        src = self.state.trials.get(donor) if donor is not None else None
        ck = src.checkpoint_at(donor_step) if src is not None and donor_step is not None else None
        self._ready.append(_Start(tr, ck.path if ck else None, ck.step if ck else None))

    # checkpoint retention -----------------------------------------------------------------------
    def _retain(self, tx: Tx, tr: TrialRecord) -> None:
        """Keep the last and the best checkpoint of a trial, plus any still needed."""
        live = tr.live_checkpoints()
        if len(live) <= 2:
            return
        keep = {live[-1].step}
        scored = [(r.value, r.step) for r in tr.reports if r.value is not None]
        have = {c.step for c in live}
        scored = [s for s in scored if s[1] in have]
        if scored:
            sign = 1.0 if self.state.goal == "minimize" else -1.0
            keep.add(min(scored, key=lambda s: (sign * s[0], -s[1]))[1])  # ties: the later
        protect = getattr(self.scheduler, "protected_checkpoints", None)
        if protect is not None:
            keep |= {step for (n, step) in protect(self.state.history()) if n == tr.number}
        for q in self._ready:
            if q.restore_from:
                keep |= {c.step for c in live if c.path == q.restore_from}
        for c in live:
            if c.step not in keep:
                tx.mark_checkpoint_deleted(c.id)
                c.deleted = True
                Path(c.path).unlink(missing_ok=True)

    # filling slots ------------------------------------------------------------------------------
    def max_trials(self) -> int:
        if self.spec.limits.max_trials is not None:
            return self.spec.limits.max_trials
        size = self.strategy.size()
        return size if size is not None else DEFAULT_MAX_TRIALS

    def _fill(self, ex: Executor) -> None:
        while ex.free_slots() > 0 and self._stopping is None:
            # a trial's next segment waits until its previous one has ended
            ready = next((r for r in self._ready if r.trial.id not in self._seg_started), None)
            if ready is not None:
                self._ready.remove(ready)
                self._start(ex, ready)
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
            n = min(left, ex.free_slots())
            if getattr(self.scheduler, "max_epochs", None) is not None:
                n = 1  # an epoch budget: each new trial must fit in what the others left
            configs = self.strategy.ask(hist, n)
            if not configs:
                return
            # create the trials and record the start of those that get a slot now: one commit
            free = ex.free_slots()
            with self.store.transaction() as tx:
                base = tx.next_trial_number(self.state.job.id)
                ids = [tx.create_trial(self.state.job.id, base + i, p)
                       for i, p in enumerate(configs)]
                recs = {t.id: t for t in tx.trials(self.state.job.id, with_reports=False,
                                                   ids=ids)}
                new = [_Start(recs[tid]) for tid in ids]
                now_starts = [(s, *self._record_start(tx, s)) for s in new[:free]]
            for s in new:
                self.state.trials[s.trial.number] = s.trial
            self._ready.extend(new[free:])
            for s, seg, now in now_starts:
                self._launch(ex, s.trial, seg, now)
            self.state.changed(*(s.trial for s in new))

    def _start_resume(self, ex: Executor, res: Resume) -> None:
        """Resume a paused trial; one from a donor's checkpoint (PBT) is an exploit decision,
        recorded as such (lineage, protected donor checkpoints) with the start, in one commit."""
        from tunelab.store import DecisionRow

        tr = self.state.trials[res.number]
        src = self.state.trials[res.donor] if res.donor is not None else tr
        ck = src.checkpoint_at(res.step)
        exploit = res.donor is not None
        action = Action.EXPLOIT.value if exploit else "resume"
        step = tr.last_step if exploit and tr.last_step is not None else res.step
        donor_step = res.step if exploit else None
        params = dict(res.params) if res.params else None
        start = _Start(tr, ck.path if ck else None, ck.step if ck else None)
        at = ex.now()  # the executor's clock, as the reports' (see _recover)
        with self.store.transaction() as tx:
            tx.add_decision(self.state.job.id, tr.number, step, action, reason=res.reason,
                            donor=res.donor, donor_step=donor_step, params=params, at=at)
            if params:
                tr.params = {**tr.params, **params}
                tx.set_trial(tr.id, params=tr.params)
            seg, now = self._record_start(tx, start)
        self.state.decisions.append(DecisionRow(tr.number, step, action, res.reason, res.donor,
                                                donor_step, params, at))
        self._launch(ex, tr, seg, now)

    def _start(self, ex: Executor, s: _Start) -> None:
        with self.store.transaction() as tx:
            seg, now = self._record_start(tx, s)
        self._launch(ex, s.trial, seg, now)

    def _record_start(self, tx: Tx, s: _Start) -> tuple[SegmentSpec, float]:
        """Write a segment's start (trial RUNNING); :meth:`_launch` runs it after the commit."""
        tr = s.trial
        limit = self.spec.limits.max_trial_runtime
        remaining = None if limit is None else max(1.0, limit - tr.device_seconds)
        seg = SegmentSpec(
            trial_id=tr.id, number=tr.number, attempt=tr.attempt, segment=tr.segments,
            params={**self.static, **tr.params}, objective=self.objective, metric=self.metric,
            checkpoint_dir=str(self.store.job_dir(self.name) / f"trial-{tr.number:04d}"),
            restore_from=s.restore_from, restore_step=s.restore_step, time_limit=remaining,
            seed=(self.spec.strategy.seed or 0) * 100_003 + tr.number,
        )
        now = time.time()
        self._set_state(tx, tr, TrialState.RUNNING, segments=tr.segments + 1,
                        started_at=tr.started_at or now)
        return seg, now

    def _launch(self, ex: Executor, tr: TrialRecord, seg: SegmentSpec, now: float) -> None:
        tr.segments += 1
        tr.started_at = tr.started_at or now
        self._seg_started[tr.id] = ex.now()
        self.state.changed(tr)
        ex.start(seg)

    # limits and completion ----------------------------------------------------------------------
    def _check_external_stop(self, elapsed: float) -> None:
        if self._stopping is not None:
            return
        job = self.store.read().job(self.name)
        if job.stop_requested:
            self._stopping, self._final_status = "stopped by the user", "stopped"
        limit = self.spec.limits.max_runtime
        if limit is not None and self._runtime_before + elapsed >= limit:
            self._stopping = f"max_runtime ({limit:.0f}s) reached"

    def _check_completion(self) -> None:
        c = self.spec.completion
        best = self.state.best()
        if c.target is not None and best is not None and best.value is not None:
            minimize = self.state.goal == "minimize"
            if best.value <= c.target if minimize else best.value >= c.target:
                self._stopping = f"target {c.target} reached by trial {best.number}"
                return
        if c.no_improvement_trials is not None and best is not None:
            if self.state.trials_since_improvement() >= c.no_improvement_trials:
                self._stopping = f"no improvement in the last {c.no_improvement_trials} trials"
                return
        if c.convergence:
            reason = self.strategy.converged(self.state.history())
            if reason:
                self._stopping = f"converged: {reason}"
                return
        reason = self.scheduler.finished(self.state.history())
        if reason:
            self._stopping = reason

    def _exhausted_reason(self) -> str:
        n = self.state.first_attempts()
        if n >= self.max_trials():
            return f"all {n} trials done"
        if not self.scheduler.accepts_new_trials(self.state.history()):
            return f"all {n} trials of the {self.scheduler.name} schedule done"
        return f"search space exhausted after {n} trials"

    def _renew(self, elapsed: float) -> None:
        with self.store.transaction() as tx:
            tx.acquire_lease(self.state.job.id, self.owner, LEASE_TTL)
            data = dict(self.state.job.data)
            data["runtime_used"] = self._runtime_before + elapsed
            tx.set_job(self.state.job.id, data=data)
            self.state.job.data = data

    def _finish(self) -> None:
        with self.store.transaction() as tx:
            if self._final_status == "completed":
                # paused trials the scheduler never resumed end here (ASHA: not promoted)
                for tr in self.state.trials.values():
                    if tr.state is TrialState.PAUSED:
                        self._end(tx, tr, TrialState.PRUNED, time.time(),
                                  error="paused by the scheduler and not resumed before the end")
            data = dict(self.state.job.data)
            data["runtime_used"] = getattr(self, "_runtime_total", data.get("runtime_used", 0.0))
            tx.set_job(self.state.job.id, status=self._final_status,
                       status_reason=self._stopping, ended_at=time.time(), data=data)
            tx.add_event(self.state.job.id, self._final_status, self._stopping or "")

    def _report_progress(self, elapsed: float) -> None:
        assert self._progress is not None
        best = self.state.best()
        counts = self.state.counts()
        done = sum(v for k, v in counts.items() if TrialState(k).is_terminal)
        total = self.max_trials()
        remaining = None
        if done:
            remaining = elapsed / done * max(0, total - done)
        self._progress(Progress(self.name, counts, total, best.value if best else None,
                                best.number if best else None, elapsed, remaining))
