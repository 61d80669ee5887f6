"""Issue 16 item 1 for ASHA promotions and PBT copies: the checkpoint a segment restores is
checked by hash first; a corrupt one is set aside with a `checkpoint_corrupt` event and the
previous intact checkpoint (or a fresh start) is used. Runs the real tuner and store on the
simulated executor, whose fake checkpoints are corrupted in place (the stored training path
changed under its recorded digest, as a flipped byte changes a file)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tunelab.executors.base import Event, SegmentSpec
from tunelab.executors.simulated import SimulatedExecutor
from tunelab.space import ParamValue
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.tuner import Tuner

Params = Mapping[str, ParamValue]


def curve(params: Params, step: int, path: Sequence[Params]) -> dict[str, float]:
    loss = 1.0
    for p in path:
        loss *= 1.0 - min(0.5, float(p["lr"])) * (1.0 - abs(float(p["x"]) - 0.3))
    return {"loss": loss}


class Corrupting(SimulatedExecutor):
    """Corrupts every checkpoint written at ``bad_step``; records every restore's key."""

    def __init__(self, bad_step: int | None) -> None:
        super().__init__(2, curve, max_steps=9)
        self.bad_step = bad_step
        self.corrupted: set[str] = set()
        self.restores: list[str] = []

    def poll(self, timeout: float = 0.0) -> list[Event]:
        events = super().poll(timeout)
        for ev in events:
            ck = ev.checkpoint
            if ck is not None and ck.step == self.bad_step:
                self.checkpoints[ck.path] = (*self.checkpoints[ck.path], {"lr": 0.0, "x": 9.0})
                self.corrupted.add(ck.path)
        return events

    def start(self, segment: SegmentSpec) -> None:
        if segment.restore_from is not None:
            self.restores.append(segment.restore_from)
        super().start(segment)


ASHA = {"type": "hyperband", "seed": 3, "min_resource": 1, "max_resource": 9,
        "reduction_factor": 3, "max_epochs": 60}
PBT = {"type": "pbt", "seed": 5, "population": 4, "perturbation_interval": 2,
       "max_epochs": 30}


def run(tmp: Path, strategy: dict[str, Any], bad_step: int | None) -> tuple[Store, Corrupting]:
    store = Store.open(tmp / "store")
    spec = spec_from_dict({
        "name": "j", "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "objectives_for_tests.fns:quadratic"},
        "search_space": {"lr": {"type": "float", "low": 0.01, "high": 0.5, "scale": "log"},
                         "x": {"type": "float", "low": 0.0, "high": 1.0}},
        "strategy": strategy, "limits": {"max_trials": 12, "max_parallel": 2},
    })
    ex = Corrupting(bad_step)
    assert Tuner.create(spec, store, executor=ex).run() == "completed"
    return store, ex


@pytest.mark.parametrize(("strategy", "bad_step", "action"),
                         [(ASHA, 3, "resume"), (PBT, 2, "exploit")])
def test_a_corrupt_checkpoint_is_never_restored_and_is_named(
        tmp_path: Path, strategy: dict[str, Any], bad_step: int, action: str) -> None:
    store, ex = run(tmp_path, strategy, bad_step)
    try:
        tx = store.read()
        job = tx.job("j")
        corrupt = tx.events(job.id, "checkpoint_corrupt")
        acted = [d for d in tx.decisions(job.id) if d.action == action]
        assert acted and corrupt, "no promotion/copy from a corrupted checkpoint: proves nothing"
        assert not set(ex.restores) & ex.corrupted
        for ev in corrupt:
            assert ev.data is not None and ev.data["path"] in ex.corrupted
            assert ev.data["path"] in (ev.message or "") and ev.data["step"] == bad_step
        # each was set aside once: marked deleted, never offered again
        assert len({ev.data["path"] for ev in corrupt if ev.data}) == len(corrupt)
    finally:
        store.close()


def test_no_corruption_no_event(tmp_path: Path) -> None:
    store, ex = run(tmp_path, ASHA, None)
    try:
        tx = store.read()
        assert ex.restores and not tx.events(tx.job("j").id, "checkpoint_corrupt")
    finally:
        store.close()
