"""Crash-safe scheduler decisions through the real :class:`~tunelab.tuner.Tuner` and store.

The tuner is made to die (an exception out of the executor's ``poll``, leaving the store as a
``kill -9`` would: trials RUNNING, decisions recorded) at chosen moments: between ASHA rungs, and
just before, during and after a PBT exploit's copy. A new tuner then resumes the job from the
store on a fresh simulated executor (the checkpoints survive, as files would). The resumed job
must take exactly the decisions, and report exactly the metrics, of an uninterrupted run; never
promote a trial twice; never spend more epochs than its budget; and every exploit must restore
the donor's checkpoint as of the decision, one that retention has not deleted.

The simulated curve depends on the training *path* (the params used at each step, carried in
checkpoints), so restoring the wrong checkpoint changes the metrics and fails the comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tunelab.executors.base import Event, SegmentSpec
from tunelab.executors.simulated import SimulatedExecutor
from tunelab.jobstate import JobState
from tunelab.space import ParamValue
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.tuner import Tuner

Params = Mapping[str, ParamValue]


def path_curve(params: Params, step: int, path: Sequence[Params]) -> dict[str, float]:
    """Loss falls with training; each step's lr and x leave a mark, so the path matters."""
    loss = 1.0
    for p in path:
        lr, x = float(p["lr"]), float(p["x"])
        loss *= 1.0 - min(0.5, lr) * (1.0 - abs(x - 0.3))
    return {"loss": loss}


class Crash(Exception):
    pass


class Sim(SimulatedExecutor):
    """A simulated executor that can die at a poll, and that records every restore."""

    def __init__(self, store: Store, job: str, checkpoints: dict[str, Any], *,
                 start_time: float = 0.0, crash: Callable[[Store, str], bool] | None = None,
                 restores: list[tuple[int, str, int, tuple[Any, ...]]] | None = None,
                 slots: int = 1) -> None:
        super().__init__(slots, path_curve, max_steps=9, checkpoints=checkpoints,
                         start_time=start_time)
        self.store, self.job, self.crash = store, job, crash
        self.restores = [] if restores is None else restores

    def poll(self, timeout: float = 0.0) -> list[Event]:
        events = super().poll(timeout)
        if self.crash is not None and self.crash(self.store, self.job):
            raise Crash
        return events

    def start(self, segment: SegmentSpec) -> None:
        if segment.restore_from is not None:
            tx = self.store.read()
            job = tx.job(self.job)
            live = {c.path for t in tx.trials(job.id) for c in t.live_checkpoints()}
            assert segment.restore_from in live, (
                f"trial {segment.number} restores {segment.restore_from}, which retention "
                "deleted")
            assert segment.restore_step is not None
            self.restores.append((segment.number, segment.restore_from, segment.restore_step,
                                  tuple(self.checkpoints[segment.restore_from])))
        super().start(segment)


def make_spec(name: str, strategy: dict[str, Any], **extra: Any) -> Any:
    return spec_from_dict({
        "name": name, "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "objectives_for_tests.fns:quadratic"}, **extra,
        "search_space": {"lr": {"type": "float", "low": 0.01, "high": 0.5, "scale": "log"},
                         "x": {"type": "float", "low": 0.0, "high": 1.0}},
        "strategy": strategy, "limits": {"max_trials": 12, "max_parallel": 1},
    })


ASHA = {"type": "hyperband", "seed": 3, "min_resource": 1, "max_resource": 9,
        "reduction_factor": 3, "max_epochs": 60}
PBT = {"type": "pbt", "seed": 5, "population": 4, "perturbation_interval": 2,
       "max_epochs": 30}
PBT_LOCKSTEP = {**PBT, "synchronous": True}
# asynchronous PBT copies less often (the leaders run ahead): a larger share copies here
PBT_ASYNC = {**PBT, "population": 8, "quantile": 0.5, "max_epochs": 60}


def outcome(store: Store, name: str) -> dict[str, Any]:
    tx = store.read()
    state = JobState.load(tx, tx.job(name))
    return {
        "decisions": [(d.trial_number, d.step, d.action, d.donor, d.donor_step,
                       tuple(sorted((d.params or {}).items()))) for d in state.decisions],
        # the metrics each trial reported, in order, once per step (a re-run after a crash
        # reports the steps after its last checkpoint again: keep the last of each)
        "reports": {n: sorted({r.step: r.value for r in t.reports}.items())
                    for n, t in state.trials.items()},
        "states": {n: t.state.value for n, t in state.trials.items()},
        "epochs": state.epochs_spent(),
        "status": state.job.status,
    }


def run(tmp: Path, strategy: dict[str, Any],
        crash: Callable[[Store, str], bool] | None = None) -> tuple[dict[str, Any], list[Any]]:
    store = Store.open(tmp / "store")
    name = "crashy"
    checkpoints: dict[str, Any] = {}
    restores: list[Any] = []
    try:
        ex = Sim(store, name, checkpoints, crash=crash, restores=restores)
        tuner = Tuner.create(make_spec(name, strategy), store, executor=ex)
        try:
            tuner.run()
            crashed = False
        except Crash:
            crashed = True
        if crash is not None:
            assert crashed, "the crash condition never held: the test would prove nothing"
            assert store.read().job(name).status == "running"
            ex2 = Sim(store, name, checkpoints, start_time=ex.now(), restores=restores)
            assert Tuner.resume(name, store, executor=ex2).run() == "completed"
        return outcome(store, name), restores
    finally:
        store.close()


def after(action: str, nth: int, polls: int) -> Callable[[Store, str], bool]:
    """Crash at the ``polls``-th poll after the ``nth`` decision ``action`` is in the store."""
    seen = {"polls": -1}

    def cond(store: Store, job: str) -> bool:
        tx = store.read()
        n = sum(1 for d in tx.decisions(tx.job(job).id) if d.action == action)
        if n < nth:
            return False
        seen["polls"] += 1
        return seen["polls"] >= polls

    return cond


def check_same(tmp: Path, strategy: dict[str, Any], crash: Callable[[Store, str], bool],
               budget: int) -> tuple[dict[str, Any], list[Any]]:
    ref, ref_restores = run(tmp / "ref", strategy)
    got, restores = run(tmp / "crash", strategy, crash)
    assert got["decisions"] == ref["decisions"]
    assert got["reports"] == ref["reports"]
    assert got["states"] == ref["states"]
    assert ref["epochs"] <= budget
    # epochs spent, counting the ones re-trained after the crash, stay within the budget
    assert got["epochs"] <= budget
    # every restore of the uninterrupted run happened, from a checkpoint with the same
    # contents; the crashed run adds only re-runs of lost trials from their own checkpoints
    # (or a copy started again from the same donor checkpoint)
    def key(r: Sequence[Any]) -> tuple[Any, Any, Any, str]:
        return (r[0], r[1], r[2], repr(r[3]))

    want, have = {key(r) for r in ref_restores}, {key(r) for r in restores}
    assert want <= have
    for n, path, _, _ in have - want:
        assert path.startswith(f"sim://trial-{n:04d}/"), (n, path)
    return ref, ref_restores


@pytest.mark.parametrize("polls", [0, 1, 2, 4])
def test_asha_crash_between_rungs_takes_the_same_decisions(tmp_path: Path, polls: int) -> None:
    ref, _ = check_same(tmp_path, ASHA, after("pause", 3, polls), budget=60)
    resumes = [(d[0], d[1]) for d in ref["decisions"] if d[2] == "resume"]
    assert resumes, "no promotion happened: the test would prove nothing"


def test_asha_crash_right_after_a_promotion_does_not_promote_twice(tmp_path: Path) -> None:
    _, _ = check_same(tmp_path, ASHA, after("resume", 1, 0), budget=60)
    store = Store.open(tmp_path / "crash" / "store")
    try:
        tx = store.read()
        resumes = [(d.trial_number, d.step) for d in tx.decisions(tx.job("crashy").id)
                   if d.action == "resume"]
    finally:
        store.close()
    assert resumes and len(resumes) == len(set(resumes))


@pytest.mark.parametrize("nth", [1, 2])
@pytest.mark.parametrize("polls", [0, 1, 2, 3])
@pytest.mark.parametrize("pbt", [PBT_LOCKSTEP, PBT_ASYNC], ids=["lockstep", "async"])
def test_pbt_crash_around_an_exploit_takes_the_same_decisions(
    tmp_path: Path, nth: int, polls: int, pbt: dict[str, Any]
) -> None:
    ref, restores = check_same(tmp_path, pbt, after("exploit", nth, polls),
                               budget=pbt["max_epochs"])
    exploits = [d for d in ref["decisions"] if d[2] == "exploit"]
    assert len(exploits) >= nth
    # each exploit restored its donor's checkpoint at the donor step of the decision
    for trial, _, _, donor, donor_step, _ in exploits:
        want = f"sim://trial-{donor:04d}/a1/ckpt-{donor_step:06d}"
        assert any(n == trial and path == want and s == donor_step
                   for n, path, s, _ in restores), (
            f"trial {trial} never restored trial {donor}'s checkpoint at step {donor_step}")


def test_pbt_exploits_taken_at_a_resume_are_recorded_with_donor_and_params(
    tmp_path: Path,
) -> None:
    """With fewer slots than members, PBT decides most exploits when a paused member resumes:
    they are in the store as exploits (lineage), with the donor step and the new params."""
    ref, _ = run(tmp_path, PBT)
    exploits = [d for d in ref["decisions"] if d[2] == "exploit"]
    assert exploits
    for trial, step, _, donor, donor_step, params in exploits:
        assert donor is not None and donor != trial
        assert step % PBT["perturbation_interval"] == 0  # taken at an interval
        assert donor_step is not None and donor_step >= 1
        assert dict(params).keys() == {"lr", "x"}
    assert not [d for d in ref["decisions"] if d[2] == "resume" and d[3] is not None]


@pytest.mark.parametrize("strategy", [ASHA, PBT], ids=["asha", "pbt"])
@pytest.mark.parametrize("budget", [7, 25])
def test_an_epoch_budget_holds_with_more_slots_than_it_has_epochs_left(
    tmp_path: Path, strategy: dict[str, Any], budget: int
) -> None:
    """New trials are created one at a time under an epoch budget: four free slots never start
    four trials when the budget has room for fewer."""
    store = Store.open(tmp_path / "store")
    try:
        spec = make_spec("budget", {**strategy, "max_epochs": budget})
        ex = Sim(store, "budget", {}, slots=4)
        assert Tuner.create(spec, store, executor=ex).run() == "completed"
        got = outcome(store, "budget")
    finally:
        store.close()
    assert got["epochs"] <= budget
    assert ex.steps_run <= budget  # the executor trained no epoch that was not recorded


def test_pbt_with_known_epochs_never_copies_into_a_member_that_will_not_train_again(
    tmp_path: Path,
) -> None:
    """``static: {epochs: 9}`` tells PBT the last step: every exploit is followed by training
    of the copy (so no trial ends with hyperparameters it never trained with)."""
    from tunelab.composition import build_search

    spec = make_spec("epochs", {**PBT, "max_epochs": 60, "perturbation_interval": 3},
                     static={"epochs": 9})
    assert getattr(build_search(spec, spec.space())[1], "max_steps", None) == 9
    store = Store.open(tmp_path / "store")
    try:
        ex = Sim(store, "epochs", {}, slots=2)
        assert Tuner.create(spec, store, executor=ex).run() == "completed"
        got = outcome(store, "epochs")
        tx = store.read()
        decisions = tx.decisions(tx.job("epochs").id)
        trials = {t.number: t for t in tx.trials(tx.job("epochs").id)}
    finally:
        store.close()
    exploits = [d for d in decisions if d.action == "exploit"]
    assert exploits, "no exploit happened: the test would prove nothing"
    for d in exploits:
        assert d.step < 9 and d.donor_step is not None and d.donor_step < 9
        after = [r for r in trials[d.trial_number].reports if r.at > d.at]
        assert after, f"trial {d.trial_number} exploited at {d.step} and never trained again"
    assert got["epochs"] <= 60
