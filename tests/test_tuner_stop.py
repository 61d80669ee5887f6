"""A stop request and a resume: which run answers it.

A stop belongs to the run whose lease it was made under. A run that ended (here: stopped by the
request) answered it, so an explicit ``resume`` afterwards runs. A run whose tuner died without
ending the job (``kill -9``: the job is still marked running, its lease still live, so the
request was accepted) did not answer it, so the tuner that takes the lease next stops at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from tunelab.executors.base import Event
from tunelab.executors.simulated import SimulatedExecutor, pure_curve
from tunelab.space import ParamValue
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.store.queries import Reader
from tunelab.tuner import Tuner

SPEC = spec_from_dict({
    "name": "stoppable", "objective": {"metric": "loss", "goal": "minimize"},
    "train": {"function": "objectives_for_tests.fns:quadratic"},
    "search_space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
    "strategy": {"type": "random", "seed": 0}, "limits": {"max_trials": 6},
})


def loss(p: Mapping[str, ParamValue], step: int) -> dict[str, float]:
    return {"loss": float(p["x"]) / step}


class Died(Exception):
    pass


class Sim(SimulatedExecutor):
    """Requests a stop (as ``tunelab stop`` does) after ``stop_after`` reports, and dies at the
    poll after it when ``die`` is set (the stop never seen, the job left running)."""

    def __init__(self, store: Path, *, stop_after: int | None = None, die: bool = False) -> None:
        super().__init__(2, pure_curve(loss), max_steps=5)
        self.store, self.stop_after, self.die, self.reports = store, stop_after, die, 0
        self.asked = False

    def stop(self, trial_id: int, reason: str = "") -> None:
        self.asked = False
        super().stop(trial_id, reason)

    def poll(self, timeout: float = 0.0) -> list[Event]:
        if self.stop_after is not None and self.reports >= self.stop_after:
            self.stop_after, self.asked = None, True
            with Reader.open(self.store) as r:
                r.request_stop("stoppable")
            if self.die:
                raise Died
        if self.asked:  # the trials wait (a real poll would) until the tuner stops them
            time.sleep(timeout)
            return []
        events = super().poll(timeout)
        self.reports += sum(1 for e in events if e.kind.value == "report")
        return events


def reports(store: Store) -> int:
    tx = store.read()
    return sum(len(t.reports) for t in tx.trials(tx.job("stoppable").id))


def test_a_resume_after_a_run_the_stop_ended_runs_the_job(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        assert Tuner.create(SPEC, store, executor=Sim(tmp_path, stop_after=3)).run() \
            == "stopped"
        assert store.read().job("stoppable").stop_requested  # the request, answered
        before = reports(store)
        assert Tuner.resume("stoppable", store, executor=Sim(tmp_path)).run() == "completed"
        assert reports(store) > before
        assert not store.read().job("stoppable").stop_requested
    finally:
        store.close()


def test_a_stop_made_while_the_tuner_was_dead_stops_the_next_one_at_once(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path)
    try:
        try:
            Tuner.create(SPEC, store, executor=Sim(tmp_path, stop_after=3, die=True)).run()
        except Died:
            pass
        job = store.read().job("stoppable")
        assert job.status == "running" and job.stop_requested  # never seen by the dead tuner
        before = reports(store)
        assert Tuner.resume("stoppable", store, executor=Sim(tmp_path)).run() == "stopped"
        assert reports(store) == before  # not one more step trained
        tx = store.read()
        kinds = [e.kind for e in tx.events(tx.job("stoppable").id)]
        assert kinds[-3:] == ["resumed", "stop_requested", "stopped"]
        # that stop is answered now: the next resume runs the job to its end
        assert Tuner.resume("stoppable", store, executor=Sim(tmp_path)).run() == "completed"
    finally:
        store.close()
