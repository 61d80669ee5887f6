"""One rule for interrupted trials: they continue from their last checkpoint, as the same trial.

- a retry (``max_retries``) after a failure mid-trial — a killed worker — starts from the
  failed attempt's last checkpoint, as a LOST trial does (issue 16 item 4);
- a resume continues the trials that a stop (Ctrl-C, ``tunelab stop``) cut off, from their
  checkpoints, and they do not count against ``max_trials`` twice (issue 19 item 2).

Runs the real tuner and store on the simulated executor (checkpoints survive in a dict, as files
would), so every restore is seen exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunelab.executors.base import Event, SegmentSpec
from tunelab.executors.simulated import SimulatedExecutor, pure_curve
from tunelab.space import ParamValue
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.trial import TrialState
from tunelab.tuner import Tuner

STEPS = 5


def curve(params: Mapping[str, ParamValue], step: int) -> dict[str, float]:
    return {"loss": float(params["x"]) / step}


class Sim(SimulatedExecutor):
    """Records every segment start; raises KeyboardInterrupt once at ``interrupt_at`` reports."""

    def __init__(self, checkpoints: dict[str, Any], *, start_time: float = 0.0,
                 interrupt_at: int | None = None, **kw: Any) -> None:
        super().__init__(2, pure_curve(curve), max_steps=STEPS, checkpoints=checkpoints,
                         start_time=start_time, **kw)
        self.starts: list[SegmentSpec] = []
        self.reports = 0
        self.interrupt_at = interrupt_at

    def start(self, segment: SegmentSpec) -> None:
        self.starts.append(segment)
        super().start(segment)

    def poll(self, timeout: float = 0.0) -> list[Event]:
        events = super().poll(timeout)
        self.reports += sum(e.kind.value == "report" for e in events)
        if self.interrupt_at is not None and self.reports >= self.interrupt_at:
            self.interrupt_at = None
            raise KeyboardInterrupt  # Ctrl-C, as the tuner's main thread gets it
        return events


def spec(name: str, **limits: Any) -> Any:
    return spec_from_dict({
        "name": name, "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "objectives_for_tests.fns:quadratic"},
        "search_space": {"x": {"type": "float", "low": 1.0, "high": 2.0}},
        "strategy": {"type": "random", "seed": 1},
        "limits": {"max_trials": 4, "max_parallel": 2, **limits},
    })


def test_a_retry_continues_from_the_failed_attempts_last_checkpoint(tmp_path: Path) -> None:
    failed: set[float] = set()

    def fail_once_at_step_3(params: Mapping[str, ParamValue], step: int) -> bool:
        x = float(params["x"])  # the worker dies once per trial, at step 3
        if step == 3 and x not in failed:
            failed.add(x)
            return True
        return False

    store = Store.open(tmp_path / "store")
    ex = Sim({}, fail_at=fail_once_at_step_3)
    assert Tuner.create(spec("retry", max_retries=1), store, executor=ex).run() == "completed"
    tx = store.read()
    trials = {t.number: t for t in tx.trials(tx.job("retry").id)}
    retries = [t for t in trials.values() if t.attempt == 2]
    assert len(retries) == 4 and all(t.state is TrialState.COMPLETED for t in retries)
    for r in retries:
        assert r.retry_of is not None
        first = trials[r.retry_of]
        (seg,) = [s for s in ex.starts if s.number == r.number]
        # restored from the first attempt's checkpoint of step 2 (the last before it died)
        assert seg.restore_step == 2
        assert seg.restore_from == first.checkpoint_at(2).path  # type: ignore[union-attr]
        assert [rep.step for rep in r.reports] == [3, 4, 5]  # not from step 1 again
        assert r.value == curve(r.params, STEPS)["loss"]


def test_a_resume_continues_the_trials_a_stop_cut_off(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    checkpoints: dict[str, Any] = {}
    ex = Sim(checkpoints, interrupt_at=3)  # Ctrl-C while the first two trials train
    assert Tuner.create(spec("cut"), store, executor=ex).run() == "stopped"
    tx = store.read()
    job = tx.job("cut")
    stopped = {t.number: t for t in tx.trials(job.id) if t.state is TrialState.STOPPED}
    assert len(stopped) == 2 and all(t.last_step for t in stopped.values())
    last_ck = {n: t.last_checkpoint() for n, t in stopped.items()}

    ex2 = Sim(checkpoints, start_time=ex.now())
    assert Tuner.resume("cut", store, executor=ex2).run() == "completed"
    tx = store.read()
    trials = {t.number: t for t in tx.trials(job.id)}
    # the stopped trials went on as themselves, from their checkpoints ...
    for n, ck in last_ck.items():
        assert ck is not None
        first_start = next(s for s in ex2.starts if s.number == n)
        assert (first_start.restore_from, first_start.restore_step) == (ck.path, ck.step)
        assert trials[n].state is TrialState.COMPLETED
    # ... and max_trials counts them once: 4 trials in all, every one completed
    assert len(trials) == 4
    assert all(t.state is TrialState.COMPLETED and t.last_step == STEPS
               for t in trials.values())
    kinds = [e.kind for e in tx.events(job.id)]
    assert kinds.count("continued") == 2
