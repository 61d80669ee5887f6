"""What every scheduler must do, run through the real tuner loop and store.

Each scheduler in ``SCHEDULERS`` drives a job on the simulated executor (a virtual clock, so a
job takes well under a second of loop time) and must: end the job with every trial in a final
state; declare ``needs_checkpoints`` if it ever pauses or exploits; restore only checkpoints
that exist; keep within its ``max_epochs``; and take the same decisions when run again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tunelab.executors.base import SegmentSpec
from tunelab.executors.simulated import SimulatedExecutor, pure_curve
from tunelab.jobstate import JobState
from tunelab.schedulers import make_scheduler
from tunelab.schedulers.base import Scheduler
from tunelab.space import ParamValue, SearchSpace
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.strategies.random import RandomStrategy
from tunelab.trial import Action, TrialState
from tunelab.tuner import Tuner

STEPS = 9
SCHEDULERS: dict[str, Callable[[SearchSpace], Scheduler]] = {
    "fifo": lambda sp: make_scheduler("fifo", sp),
    "median": lambda sp: make_scheduler("median", sp, grace_period=2, min_trials=2,
                                        max_epochs=50),
    "hyperband": lambda sp: make_scheduler("hyperband", sp, seed=1, min_resource=1,
                                           max_resource=STEPS, reduction_factor=3, brackets=1,
                                           max_epochs=60),
    "pbt": lambda sp: make_scheduler("pbt", sp, seed=1, population=4, perturbation_interval=2,
                                     max_epochs=40),
    "pbt-lockstep": lambda sp: make_scheduler("pbt", sp, seed=1, population=4,
                                              perturbation_interval=2, max_epochs=40,
                                              synchronous=True),
}


def curve(params: Mapping[str, ParamValue], step: int) -> dict[str, float]:
    lr = float(params["lr"])
    return {"loss": (lr - 0.05) ** 2 + 1.0 / step}


class CheckedSim(SimulatedExecutor):
    """Fails the test when a segment restores a checkpoint the store no longer has."""

    def __init__(self, store: Store, job: str) -> None:
        super().__init__(2, pure_curve(curve), max_steps=STEPS)
        self.store, self.job = store, job

    def start(self, segment: SegmentSpec) -> None:
        if segment.restore_from is not None:
            tx = self.store.read()
            live = {c.path for t in tx.trials(tx.job(self.job).id) for c in t.live_checkpoints()}
            assert segment.restore_from in live, f"restores a deleted {segment.restore_from}"
        super().start(segment)


def run(tmp: Path, name: str) -> tuple[Scheduler, JobState]:
    spec = spec_from_dict({
        "name": "contract", "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "objectives_for_tests.fns:quadratic"},
        "search_space": {"lr": {"type": "float", "low": 0.001, "high": 0.3, "scale": "log"}},
        "strategy": {"type": "random", "seed": 3}, "limits": {"max_trials": 8},
    })
    store = Store.open(tmp)
    try:
        scheduler = SCHEDULERS[name](spec.space())
        strategy = RandomStrategy(spec.space(), seed=3)
        tuner = Tuner.create(spec, store, executor=CheckedSim(store, "contract"),
                             search=(strategy, scheduler))
        assert tuner.run() == "completed"
        tx = store.read()
        return scheduler, JobState.load(tx, tx.job("contract"))
    finally:
        store.close()


@pytest.fixture(params=sorted(SCHEDULERS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_scheduler_contract(tmp_path: Path, name: str) -> None:
    scheduler, state = run(tmp_path / "a", name)
    final = {TrialState.COMPLETED, TrialState.PRUNED}
    assert state.trials and all(t.state in final for t in state.trials.values())
    actions = {d.action for d in state.decisions}
    if actions & {Action.PAUSE.value, Action.EXPLOIT.value, "resume"}:
        assert scheduler.needs_checkpoints, "pauses or exploits without needs_checkpoints"
    if scheduler.max_epochs is not None:
        assert state.epochs_spent() <= scheduler.max_epochs
    # every protected checkpoint exists (nothing points at a deleted file)
    live = {(t.number, c.step) for t in state.trials.values() for c in t.live_checkpoints()}
    assert scheduler.protected_checkpoints(state.history()) <= live
    # decisions are a function of the history: a second run takes the same ones
    _, again = run(tmp_path / "b", name)
    assert [(d.trial_number, d.step, d.action, d.donor) for d in again.decisions] == [
        (d.trial_number, d.step, d.action, d.donor) for d in state.decisions]


def test_the_contract_sees_pauses(tmp_path: Path) -> None:
    """The suite would prove little if no scheduler here paused or copied."""
    _, asha = run(tmp_path / "h", "hyperband")
    _, pbt = run(tmp_path / "p", "pbt")
    assert "pause" in {d.action for d in asha.decisions}
    assert "exploit" in {d.action for d in pbt.decisions}


