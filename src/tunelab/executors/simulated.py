"""Simulated executor: trials are curves on a virtual clock, so scheduler tests take milliseconds.

A simulated trial is a function of its hyperparameters and its training *path*: the list of
parameter sets used for each step so far. A plain trial's path is its own params repeated; a
trial resumed from a checkpoint continues the path stored in that checkpoint, and a PBT exploit
continues the donor's path with the new params. ``curve_fn(params, step, path)`` returns the
metrics reported after ``step`` (``len(path) == step``, ``path[-1] == params``); use
:func:`pure_curve` to wrap a function of ``(params, step)`` alone.

    >>> ex = SimulatedExecutor(2, pure_curve(lambda p, s: {"loss": p["x"] / s}), max_steps=3)

Each step takes ``step_time`` virtual seconds; reports wait for :meth:`reply` exactly like the
local executor's, so a scheduler takes the same decisions here as on real workers. Checkpoints
are fake ``sim://`` paths kept in a dict (``checkpoints``), which outlives the executor so a
test can simulate a tuner crash by building a new executor on the same dict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tunelab.checkpoint import Checkpoint
from tunelab.errors import CheckpointCorrupt
from tunelab.executors.base import Event, EventKind, Executor, SegmentSpec
from tunelab.space import ParamValue
from tunelab.store.artifacts import Artifacts
from tunelab.trial import Action, Decision

Params = Mapping[str, ParamValue]
Path_ = tuple[Params, ...]
CurveFn = Callable[[Params, int, Sequence[Params]], Mapping[str, float]]


def pure_curve(fn: Callable[[Params, int], Mapping[str, float]]) -> CurveFn:
    """Adapt ``fn(params, step) -> metrics`` (no dependence on the path) to a :data:`CurveFn`."""

    def curve(params: Params, step: int, path: Sequence[Params]) -> Mapping[str, float]:
        return fn(params, step)

    return curve


@dataclass
class _Segment:
    spec: SegmentSpec
    path: list[Params]
    max_steps: int
    seq: int  # start order: breaks ties between reports due at the same time
    next_at: float | None  # virtual time of the next report; None while waiting for a reply
    last_metrics: Mapping[str, float]


class SimulatedExecutor(Executor):
    """An :class:`~tunelab.executors.base.Executor` on a virtual clock.

    Args:
        slots: segments that run at once.
        curve_fn: ``(params, step, path) -> metrics`` (see the module docstring).
        step_time: virtual seconds per step, or ``fn(params, step) -> seconds``.
        max_steps: steps after which a trial's objective returns (FINISHED): an int, a function
            of the params, or None to read ``params["epochs"]``.
        checkpoint_every: a checkpoint is saved every this many steps (and at the last step).
        fail_at: ``fn(params, step) -> bool``; True makes the trial fail at that step.
        checkpoints: fake path -> stored path; pass the same dict to a new executor to model a
            tuner restart with durable checkpoints.
    """

    def __init__(
        self,
        slots: int,
        curve_fn: CurveFn,
        *,
        step_time: float | Callable[[Params, int], float] = 1.0,
        max_steps: int | Callable[[Params], int] | None = None,
        checkpoint_every: int = 1,
        fail_at: Callable[[Params, int], bool] | None = None,
        checkpoints: dict[str, Path_] | None = None,
        start_time: float = 0.0,
    ) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1; got {slots}")
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1; got {checkpoint_every}")
        self._slots = slots
        self._curve = curve_fn
        self._step_time = step_time
        self._max_steps = max_steps
        self._every = checkpoint_every
        self._fail_at = fail_at
        self.checkpoints: dict[str, Path_] = {} if checkpoints is None else checkpoints
        self._clock = float(start_time)
        self._running: dict[int, _Segment] = {}  # by trial_id
        self._queued: list[Event] = []  # events ready for the next poll
        self._seq = 0
        self.steps_run = 0  # total steps trained, for budget checks in tests

    # Executor interface -------------------------------------------------------------------------
    @property
    def slots(self) -> int:
        return self._slots

    def free_slots(self) -> int:
        return self._slots - len(self._running)

    def now(self) -> float:
        return self._clock

    def start(self, segment: SegmentSpec) -> None:
        if self.free_slots() <= 0:
            raise RuntimeError("no free slot")
        if segment.trial_id in self._running:
            raise RuntimeError(f"trial id {segment.trial_id} already has a running segment")
        path: list[Params] = []
        if segment.restore_from is not None:
            stored = self.checkpoints.get(segment.restore_from)
            if stored is None:
                self._queued.append(Event(
                    EventKind.FAILED, segment.trial_id, self._clock,
                    error=f"checkpoint {segment.restore_from} not found",
                ))
                return
            if segment.restore_step is not None and segment.restore_step != len(stored):
                raise RuntimeError(
                    f"checkpoint {segment.restore_from} holds step {len(stored)}, "
                    f"not {segment.restore_step}"
                )
            path = list(stored)
        params = dict(segment.params)
        seg = _Segment(
            spec=segment, path=path, max_steps=self._steps_for(params), seq=self._seq,
            next_at=self._clock + self._duration(params, len(path) + 1), last_metrics={},
        )
        self._seq += 1
        self._running[segment.trial_id] = seg
        self._queued.append(Event(EventKind.STARTED, segment.trial_id, self._clock,
                                  step=len(path), worker="simulated"))
        if len(path) >= seg.max_steps:  # restored at (or past) the end: nothing left to train
            if path:  # the objective evaluates the restored state with its params and returns
                seg.last_metrics = {
                    k: float(v) for k, v in self._curve(params, len(path), (*path,)).items()
                }
            self._finish(seg)

    def reply(self, trial_id: int, decision: Decision) -> None:
        seg = self._running.get(trial_id)
        if seg is None or seg.next_at is not None:
            raise RuntimeError(f"trial id {trial_id} has no report waiting for a reply")
        if decision.action is Action.CONTINUE:
            if len(seg.path) >= seg.max_steps:
                self._finish(seg)
            else:
                seg.next_at = self._clock + self._duration(seg.spec.params, len(seg.path) + 1)
            return
        del self._running[trial_id]
        self._queued.append(Event(EventKind.ENDED, trial_id, self._clock, step=len(seg.path),
                                  error=decision.reason or decision.action.value))

    def stop(self, trial_id: int, reason: str = "") -> None:
        seg = self._running.pop(trial_id, None)
        if seg is None:
            return
        self._queued = [e for e in self._queued if e.trial_id != trial_id
                        or e.kind is EventKind.STARTED]
        self._queued.append(Event(EventKind.STOPPED, trial_id, self._clock, step=len(seg.path),
                                  error=reason or None))

    def poll(self, timeout: float = 0.0) -> list[Event]:
        """Events due next on the virtual clock (all of those at the earliest time).

        Never waits: ``timeout`` is ignored. Returns [] when every segment waits for a reply.
        """
        if self._queued:
            out, self._queued = self._queued, []
            return out
        due = [s for s in self._running.values() if s.next_at is not None]
        if not due:
            return []
        t = min(s.next_at for s in due if s.next_at is not None)
        self._clock = max(self._clock, t)
        out = []
        for seg in sorted((s for s in due if s.next_at == t), key=lambda s: s.seq):
            ev = self._advance(seg)
            out.append(ev)
        return out

    # internals --------------------------------------------------------------------------------
    def _advance(self, seg: _Segment) -> Event:
        params = dict(seg.spec.params)
        seg.path.append(params)
        step = len(seg.path)
        self.steps_run += 1
        tid = seg.spec.trial_id
        if self._fail_at is not None and self._fail_at(params, step):
            del self._running[tid]
            return Event(EventKind.FAILED, tid, self._clock, step=step,
                         error=f"simulated failure at step {step}")
        metrics = {k: float(v) for k, v in self._curve(params, step, tuple(seg.path)).items()}
        seg.last_metrics = metrics
        seg.next_at = None
        ck: Checkpoint | None = None
        if step % self._every == 0 or step >= seg.max_steps:
            path = f"sim://trial-{seg.spec.number:04d}/a{seg.spec.attempt}/ckpt-{step:06d}"
            self.checkpoints[path] = tuple(seg.path)
            ck = Checkpoint(path=path, step=step, sha256=_digest(path, seg.path), size=0)
        return Event(EventKind.REPORT, tid, self._clock, step=step, metrics=metrics,
                     checkpoint=ck, worker="simulated")

    def _finish(self, seg: _Segment) -> None:
        del self._running[seg.spec.trial_id]
        value = seg.last_metrics.get(seg.spec.metric)
        self._queued.append(Event(
            EventKind.FINISHED, seg.spec.trial_id, self._clock, step=len(seg.path),
            metrics=dict(seg.last_metrics), value=value, seen=tuple(sorted(seg.last_metrics)),
        ))

    def _steps_for(self, params: Params) -> int:
        if self._max_steps is None:
            if "epochs" not in params:
                raise ValueError(
                    "SimulatedExecutor needs max_steps, or an `epochs` entry in the params"
                )
            return int(params["epochs"])
        if callable(self._max_steps):
            return int(self._max_steps(params))
        return int(self._max_steps)

    def _duration(self, params: Params, step: int) -> float:
        if callable(self._step_time):
            return float(self._step_time(params, step))
        return float(self._step_time)

    def forget(self, path: str) -> None:
        """Delete a stored checkpoint (what checkpoint retention does to a file)."""
        self.checkpoints.pop(path, None)

    def artifacts(self, job_artifacts: Artifacts) -> Artifacts:
        """The fake checkpoints live in :attr:`checkpoints`: verified and deleted there."""
        return SimulatedArtifacts(self.checkpoints)


def _digest(path: str, stored: Sequence[Params]) -> str:
    return hashlib.sha256(repr((path, list(stored))).encode()).hexdigest()


class SimulatedArtifacts(Artifacts):
    """The artifact store of the simulated executor: ``sim://`` keys in a dict, each checked
    against the digest recorded with it (change a stored path to model a corrupt file)."""

    root = "sim://"

    def __init__(self, checkpoints: dict[str, Path_]) -> None:
        self.checkpoints = checkpoints

    def trial_dir(self, job: str, number: int) -> str:
        return f"sim://{job}/trial-{number:04d}"

    def verify(self, key: str, sha256: str) -> None:
        stored = self.checkpoints.get(key)
        if stored is None:
            raise CheckpointCorrupt(f"checkpoint {key} is missing", path=key)
        if _digest(key, stored) != sha256:
            raise CheckpointCorrupt(f"checkpoint {key} does not match its recorded sha256",
                                    path=key)

    def delete(self, key: str) -> None:
        self.checkpoints.pop(key, None)
