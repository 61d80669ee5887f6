"""Where a trial's next segment starts from: its own last checkpoint, a donor's, or nothing.

One rule for every interrupted trial: a trial cut off mid-segment — its tuner died (LOST), the
job was stopped (``tunelab stop``, Ctrl-C: STOPPED), or its worker was killed and it is retried
(``max_retries``) — continues from its last checkpoint, keeping its trial number (a retry is a
new attempt of the same trial), so it never counts against ``max_trials`` twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.executors.base import SegmentSpec
from tunelab.jobstate import JobState
from tunelab.recorder import Unit
from tunelab.store import CheckpointRecord, TrialRecord
from tunelab.trial import Action, TrialState


@dataclass
class Start:
    """A segment queued to start: its trial and the checkpoint it restores, if any."""

    trial: TrialRecord
    restore_from: str | None = None
    restore_step: int | None = None

    @classmethod
    def at(cls, trial: TrialRecord, ck: CheckpointRecord | None) -> Start:
        return cls(trial, ck.path if ck else None, ck.step if ck else None)

    def segment(self, *, static: dict[str, Any], objective: Any, metric: str, job_dir: Path,
                max_trial_runtime: float | None, seed: int | None) -> SegmentSpec:
        """What the executor gets to run this segment (the trial's state as it stands)."""
        tr, limit = self.trial, max_trial_runtime
        return SegmentSpec(
            trial_id=tr.id, number=tr.number, attempt=tr.attempt, segment=tr.segments,
            params={**static, **tr.params}, objective=objective, metric=metric,
            checkpoint_dir=str(job_dir / f"trial-{tr.number:04d}"),
            restore_from=self.restore_from, restore_step=self.restore_step,
            time_limit=None if limit is None else max(1.0, limit - tr.device_seconds),
            seed=(seed or 0) * 100_003 + tr.number,
        )


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


def recover(u: Unit) -> list[Start]:
    """What a starting tuner must run again, in trial order (recorded in ``u``).

    Trials that were running (their tuner died) and trials the job's stop cut off become LOST
    and continue from their checkpoint; pending ones start; a recorded exploit whose copy has
    not reported yet starts again from the donor's checkpoint of the decision.
    """
    state = u.state
    starts: list[Start] = []
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
            starts.append(exploit_start(state, tr, d.donor, d.donor_step))
        elif tr.state in (TrialState.LOST, TrialState.PENDING):
            starts.append(Start.at(tr, resume_point(state, tr)))
    state.changed()
    return starts
