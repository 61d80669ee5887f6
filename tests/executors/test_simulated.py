"""The simulated executor: virtual clock, synchronous reports, fake checkpoints, restores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from tunelab.executors.base import Event, EventKind, SegmentSpec
from tunelab.executors.simulated import SimulatedExecutor, pure_curve
from tunelab.space import ParamValue
from tunelab.trial import Decision


def seg(tid: int, params: Mapping[str, ParamValue], restore: str | None = None,
        step: int | None = None) -> SegmentSpec:
    return SegmentSpec(trial_id=tid, number=tid, attempt=1, segment=0, params=dict(params),
                       objective=None, metric="loss", checkpoint_dir="", restore_from=restore,
                       restore_step=step)


def path_curve(params: Mapping[str, ParamValue], step: int,
               path: Sequence[Mapping[str, ParamValue]]) -> dict[str, float]:
    # loss depends on the whole training path: the sum of the lr used at each step
    assert len(path) == step and path[-1] == params
    return {"loss": 1.0 / (1.0 + sum(float(p["lr"]) for p in path))}


def drain(ex: SimulatedExecutor, tid: int, decide: dict[int, Decision] | None = None
          ) -> list[Event]:
    """Run until ``tid``'s segment ends, replying CONTINUE unless ``decide[step]`` says else."""
    out: list[Event] = []
    while True:
        evs = ex.poll(0.0)
        assert evs, "no events while a segment runs"
        for ev in evs:
            out.append(ev)
            if ev.kind is EventKind.REPORT:
                assert ev.step is not None
                ex.reply(ev.trial_id, (decide or {}).get(ev.step, Decision.cont()))
            elif ev.trial_id == tid and ev.kind not in (EventKind.STARTED,):
                return out


def test_a_trial_runs_to_its_end_on_the_virtual_clock() -> None:
    ex = SimulatedExecutor(1, pure_curve(lambda p, s: {"loss": float(p["x"]) / s}),
                           step_time=2.5, max_steps=4)
    assert ex.free_slots() == 1
    ex.start(seg(7, {"x": 1.0}))
    assert ex.free_slots() == 0
    events = drain(ex, 7)
    kinds = [e.kind for e in events]
    assert kinds == [EventKind.STARTED] + [EventKind.REPORT] * 4 + [EventKind.FINISHED]
    reports = [e for e in events if e.kind is EventKind.REPORT]
    assert [e.step for e in reports] == [1, 2, 3, 4]
    assert [e.at for e in reports] == [2.5, 5.0, 7.5, 10.0]
    assert [e.metrics["loss"] for e in reports] == [1.0, 0.5, 1 / 3, 0.25]
    assert all(e.checkpoint is not None and e.checkpoint.step == e.step for e in reports)
    assert events[-1].value == 0.25 and events[-1].seen == ("loss",)
    assert ex.now() == 10.0 and ex.free_slots() == 1 and ex.steps_run == 4


def test_a_report_waits_for_its_reply_while_others_go_on() -> None:
    ex = SimulatedExecutor(2, pure_curve(lambda p, s: {"loss": 1.0}), max_steps=3,
                           step_time=lambda p, s: float(p["t"]))
    ex.start(seg(1, {"t": 1.0}))
    ex.start(seg(2, {"t": 3.0}))
    assert [e.kind for e in ex.poll(0)] == [EventKind.STARTED, EventKind.STARTED]
    (r1,) = ex.poll(0)
    assert (r1.trial_id, r1.at) == (1, 1.0)
    # trial 1 has not been answered: only trial 2 can progress
    (r2,) = ex.poll(0)
    assert (r2.trial_id, r2.at) == (2, 3.0)
    assert ex.poll(0) == []  # both wait for replies
    with pytest.raises(RuntimeError):
        ex.start(seg(3, {"t": 1.0}))
    ex.reply(1, Decision.cont())
    (r1b,) = ex.poll(0)
    assert (r1b.trial_id, r1b.step, r1b.at) == (1, 2, 4.0)  # its step restarted at the reply
    with pytest.raises(RuntimeError):
        ex.reply(3, Decision.cont())


def test_pause_ends_the_segment_and_resume_continues_the_same_curve() -> None:
    straight = SimulatedExecutor(1, path_curve, max_steps=5)
    straight.start(seg(1, {"lr": 0.5}))
    full = [e.metrics["loss"] for e in drain(straight, 1) if e.kind is EventKind.REPORT]

    ex = SimulatedExecutor(1, path_curve, max_steps=5)
    ex.start(seg(1, {"lr": 0.5}))
    first = drain(ex, 1, {3: Decision.pause("rung")})
    assert first[-1].kind is EventKind.ENDED and first[-1].step == 3
    ck = [e for e in first if e.kind is EventKind.REPORT][-1].checkpoint
    assert ck is not None and ck.path in ex.checkpoints
    ex.start(seg(1, {"lr": 0.5}, ck.path, ck.step))
    second = drain(ex, 1)
    reports = [e for e in first + second if e.kind is EventKind.REPORT]
    assert [e.step for e in reports] == [1, 2, 3, 4, 5]
    assert [e.metrics["loss"] for e in reports] == full


def test_an_exploit_continues_from_the_donors_state_with_new_params() -> None:
    ex = SimulatedExecutor(2, path_curve, max_steps=4)
    ex.start(seg(1, {"lr": 2.0}))
    donor = drain(ex, 1)
    ck = [e for e in donor if e.kind is EventKind.REPORT][1].checkpoint  # step 2
    assert ck is not None and ck.step == 2
    ex.start(seg(5, {"lr": 0.5}, ck.path, 2))
    rec = [e for e in drain(ex, 5) if e.kind is EventKind.REPORT]
    assert [e.step for e in rec] == [3, 4]
    # two steps at lr 2 from the donor, then lr 0.5 of its own
    assert rec[0].metrics["loss"] == pytest.approx(1 / (1 + 2 + 2 + 0.5))
    assert rec[1].metrics["loss"] == pytest.approx(1 / (1 + 2 + 2 + 0.5 + 0.5))


def test_a_missing_checkpoint_fails_the_segment() -> None:
    ex = SimulatedExecutor(1, path_curve, max_steps=3)
    ex.start(seg(1, {"lr": 1.0}, "sim://gone", 2))
    (ev,) = ex.poll(0)
    assert ev.kind is EventKind.FAILED and "not found" in (ev.error or "")
    assert ex.free_slots() == 1


def test_stop_and_failures() -> None:
    ex = SimulatedExecutor(2, pure_curve(lambda p, s: {"loss": 1.0}), max_steps=9,
                           fail_at=lambda p, s: p["bad"] is True and s == 2)
    ex.start(seg(1, {"bad": True}))
    ex.start(seg(2, {"bad": False}))
    ex.poll(0)
    for ev in ex.poll(0):
        ex.reply(ev.trial_id, Decision.cont())
    evs = ex.poll(0)
    assert [(e.trial_id, e.kind) for e in evs] == [(1, EventKind.FAILED), (2, EventKind.REPORT)]
    ex.stop(2, "max_runtime")
    (ev,) = ex.poll(0)
    assert (ev.trial_id, ev.kind, ev.error) == (2, EventKind.STOPPED, "max_runtime")
    assert ex.free_slots() == 2 and ex.poll(0) == []


def test_restored_at_the_end_finishes_with_the_restored_value() -> None:
    ex = SimulatedExecutor(1, path_curve, max_steps=2)
    ex.start(seg(1, {"lr": 1.0}))
    reports = [e for e in drain(ex, 1) if e.kind is EventKind.REPORT]
    ck = reports[-1].checkpoint
    assert ck is not None
    ex.start(seg(1, {"lr": 1.0}, ck.path, 2))
    evs = ex.poll(0)
    assert [e.kind for e in evs] == [EventKind.STARTED, EventKind.FINISHED]
    assert evs[-1].value == pytest.approx(reports[-1].metrics["loss"])


def test_epochs_come_from_the_params_by_default() -> None:
    ex = SimulatedExecutor(1, pure_curve(lambda p, s: {"loss": 0.0}))
    with pytest.raises(ValueError, match="epochs"):
        ex.start(seg(1, {"x": 1}))
    ex.start(seg(2, {"epochs": 2}))
    assert [e.step for e in drain(ex, 2) if e.kind is EventKind.REPORT] == [1, 2]


# the same seed gives the same decisions on the simulated and the local executor ------------------
def digits_like(params: Mapping[str, ParamValue], step: int) -> dict[str, float]:
    x = float(params["x"])
    return {"loss": (x - 0.3) ** 2 + 0.5 / step}


def train_curve(params: dict[str, ParamValue], trial: object) -> float:
    """A training function whose metrics are :func:`digits_like` (run by the local executor)."""
    from tunelab.objectives.context import TrialContext

    assert isinstance(trial, TrialContext)
    loss = 0.0
    for step in range(trial.start_step + 1, int(params["epochs"]) + 1):
        loss = digits_like(params, step)["loss"]
        trial.save_checkpoint({"step": step})
        trial.report(step=step, loss=loss)
    return loss


@pytest.mark.slow
def test_same_seed_same_decisions_on_simulated_and_local_executors(tmp_path: object) -> None:
    from pathlib import Path

    from tunelab.executors.local import LocalExecutor
    from tunelab.jobstate import JobState
    from tunelab.objectives.function import FunctionObjective
    from tunelab.spec import spec_from_dict
    from tunelab.store import Store
    from tunelab.tuner import Tuner

    assert isinstance(tmp_path, Path)
    target = FunctionObjective.from_callable(train_curve)
    decisions = {}
    for kind in ("simulated", "local"):
        spec = spec_from_dict({
            "name": f"same-{kind}", "objective": {"metric": "loss", "goal": "minimize"},
            "train": {"function": target.target}, "static": {"epochs": 9},
            "search_space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
            "strategy": {"type": "hyperband", "seed": 4, "min_resource": 1, "max_resource": 9},
            "limits": {"max_trials": 9, "max_parallel": 1},
        })
        st = Store.open(tmp_path / kind)
        ex = (SimulatedExecutor(1, pure_curve(digits_like)) if kind == "simulated"
              else LocalExecutor(1))
        try:
            tuner = Tuner.create(spec, st, executor=ex)
            tuner.objective = FunctionObjective(target.target, sys_path=target.sys_path)
            tuner.run()
            tx = st.read()
            state = JobState.load(tx, tx.job(spec.name))
            decisions[kind] = [(d.trial_number, d.step, d.action, d.donor)
                               for d in state.decisions]
        finally:
            ex.shutdown()
            st.close()
    assert decisions["simulated"] and any(d[2] == "pause" for d in decisions["simulated"])
    assert decisions["simulated"] == decisions["local"]
