"""Where a trial's next segment starts from: its own last checkpoint, a donor's, or nothing.

One rule for every interrupted trial: a trial cut off mid-segment — its tuner died (LOST), the
job was stopped (``tunelab stop``, Ctrl-C: STOPPED), or its worker was killed and it is retried
(``max_retries``) — continues from its last checkpoint, keeping its trial number (a retry is a
new attempt of the same trial), so it never counts against ``max_trials`` twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunelab.errors import ArtifactError
from tunelab.executors.base import SegmentSpec
from tunelab.jobstate import JobState
from tunelab.recorder import Unit
from tunelab.store import CheckpointRecord, TrialRecord
from tunelab.trial import Action, TrialState

if TYPE_CHECKING:
    from tunelab.store.artifacts import Artifacts


@dataclass
class Start:
    """A segment queued to start: its trial and the checkpoint it restores, if any."""

    trial: TrialRecord
    restore_from: str | None = None
    restore_step: int | None = None
    restore_sha256: str | None = None

    @classmethod
    def at(cls, trial: TrialRecord, ck: CheckpointRecord | None) -> Start:
        return cls(trial, ck.path if ck else None, ck.step if ck else None,
                   ck.sha256 if ck else None)

    def segment(self, *, static: dict[str, Any], objective: Any, metric: str,
                artifacts: Artifacts, job: str, max_trial_runtime: float | None,
                seed: int | None) -> SegmentSpec:
        """What the executor gets to run this segment (the trial's state as it stands); its
        checkpoints go to the trial's folder in the job's ``artifacts``."""
        tr, limit = self.trial, max_trial_runtime
        return SegmentSpec(
            trial_id=tr.id, number=tr.number, attempt=tr.attempt, segment=tr.segments,
            params={**static, **tr.params}, objective=objective, metric=metric,
            checkpoint_dir=artifacts.trial_dir(job, tr.number), artifact_root=artifacts.root,
            restore_from=self.restore_from, restore_step=self.restore_step,
            restore_sha256=self.restore_sha256,
            time_limit=None if limit is None else max(1.0, limit - tr.device_seconds),
            seed=(seed or 0) * 100_003 + tr.number,
        )


def verified_restore(u: Unit, artifacts: Artifacts, s: Start) -> Start:
    """``s`` with the checkpoint it will restore checked by hash first (resume of a lost or
    retried trial, an ASHA promotion, a PBT copy). A missing, changed or misplaced file is set
    aside (marked deleted, the file left as it is) with a ``checkpoint_corrupt`` event naming
    it, and the previous intact checkpoint of the same trial is used; none: a fresh start."""
    if s.restore_from is None or s.restore_step is None:
        return s
    state = u.state
    owners = [s.trial, *(t for t in state.trials.values() if t is not s.trial)]
    owner = next((t for t in owners if any(c.path == s.restore_from for c in t.checkpoints)),
                 None)
    if owner is None:
        return Start(s.trial)
    cands = sorted((c for c in owner.live_checkpoints() if c.step <= s.restore_step),
                   key=lambda c: -c.step)
    for c in cands:
        try:
            artifacts.verify(c.path, c.sha256)
            return Start.at(s.trial, c)
        except ArtifactError as e:
            u.tx.mark_checkpoint_deleted(c.id)
            c.deleted = True
            u.event("checkpoint_corrupt", str(e), trial=owner.number,
                    data={"path": c.path, "step": c.step, "for_trial": s.trial.number})
            state.changed(owner)
    return Start(s.trial)


def resume_point(state: JobState, tr: TrialRecord) -> CheckpointRecord | None:
    """The trial's last checkpoint; for a retry that has none yet, its latest earlier
    attempt's (the attempt a killed worker left behind)."""
    first = tr.retry_of if tr.retry_of is not None else tr.number
    attempts = sorted(
        (t for t in state.trials.values()
         if (t.number == first or t.retry_of == first) and t.attempt <= tr.attempt),
        key=lambda t: t.attempt, reverse=True)
    for t in attempts:
        ck = t.last_checkpoint()
        if ck is not None:
            return ck
    return None


def exploit_start(state: JobState, tr: TrialRecord, donor: int | None,
                  donor_step: int | None) -> Start:
    """A PBT copy: ``tr`` restarts from the donor's checkpoint at ``donor_step``."""
    src = state.trials.get(donor) if donor is not None else None
    return Start.at(tr, src.checkpoint_at(donor_step)
                    if src is not None and donor_step is not None else None)


def lost_start(state: JobState, tr: TrialRecord) -> Start:
    """Where a trial whose worker died mid-segment (its Ray node went down) continues: an
    exploit copy that has not reported since the decision starts again from the donor's
    checkpoint; any other trial from its own last checkpoint (as :func:`recover` does)."""
    d = state.last_decision(tr.number)
    if d is not None and d.action == Action.EXPLOIT.value \
            and not any(r.at > d.at for r in tr.reports):
        return exploit_start(state, tr, d.donor, d.donor_step)
    return Start.at(tr, resume_point(state, tr))


def recover(u: Unit) -> list[Start]:
    """What a starting tuner must run again (recorded in ``u``): the trials cut off and the
    pending ones in trial order, then the exploit copies that have not reported since their
    decision (queued when decided, after what was running then): a trial whose last report
    was recorded but not its end finishes first, as it did, and a copy does not train ahead of
    it and take it for a live donor.

    Trials that were running (their tuner died) and trials the job's stop cut off become LOST
    and continue from their checkpoint; pending ones start; a recorded exploit whose copy has
    not reported yet starts again from the donor's checkpoint of the decision.
    """
    state = u.state
    starts: list[Start] = []
    copies: list[Start] = []
    for tr in sorted(state.trials.values(), key=lambda t: t.number):
        if tr.state is TrialState.RUNNING:
            u.set_state(tr, TrialState.LOST)
            u.event("lost", "tuner stopped while it ran; re-running", trial=tr.number)
        elif tr.state is TrialState.STOPPED:
            ck = resume_point(state, tr)
            u.set_state(tr, TrialState.LOST, ended_at=None, error=None)
            u.event("continued", "stopped with the job; continuing from "
                    + (f"step {ck.step}" if ck else "the start"), trial=tr.number)
        d = state.last_decision(tr.number)
        if tr.state in (TrialState.LOST, TrialState.PAUSED) and d is not None \
                and d.action == Action.EXPLOIT.value \
                and not any(r.at > d.at for r in tr.reports):
            # an exploit decided (and maybe started) but not one report since: the copy
            # is not done, so it starts again from the donor's checkpoint of the decision
            copies.append(exploit_start(state, tr, d.donor, d.donor_step))
        elif tr.state in (TrialState.LOST, TrialState.PENDING):
            starts.append(Start.at(tr, resume_point(state, tr)))
    state.changed()
    return starts + copies
