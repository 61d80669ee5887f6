"""``show``, the leaderboard, ``jobs``, the progress bar and ``export`` tell one story.

- the best trial is the leaderboard's first, whatever its state (a trial stopped with the job
  keeps its partial result), and ``export`` (``api.best_checkpoint``) takes that trial's best
  checkpoint — also when no trial finished (issue 19 item 2);
- a retry is an attempt of its trial: counts, ``jobs`` and the progress bar count trials, not
  attempts, and failed attempts get no rank (issue 19 item 3).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tunelab import api
from tunelab.cli import app
from tunelab.executors.base import Checkpoint, Event, EventKind
from tunelab.executors.simulated import SimulatedExecutor, pure_curve
from tunelab.progress import Progress
from tunelab.report.summary import job_summary
from tunelab.space import ParamValue
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.tuner import Tuner


def curve(params: Mapping[str, ParamValue], step: int) -> dict[str, float]:
    return {"loss": float(params["x"]) / step}


def step_time(params: Mapping[str, ParamValue], step: int) -> float:
    return 0.1 if float(params["x"]) >= 1.0 else 0.4  # the good trial trains slowly


class FileCheckpoints(SimulatedExecutor):
    """Writes each reported checkpoint as a real file under ``root`` (the job's artifact
    root), recorded by its key, so ``export`` can verify it (no segment here restores one)."""

    def __init__(self, root: Path, **kw: Any) -> None:
        super().__init__(2, pure_curve(curve), max_steps=5, **kw)
        self.root = root

    def poll(self, timeout: float = 0.0) -> list[Event]:
        out = []
        for ev in super().poll(timeout):
            if ev.checkpoint is not None:
                key = f"job/trial-{ev.trial_id:04d}/ckpt-{ev.checkpoint.step:06d}.pt"
                data = f"{ev.trial_id}:{ev.checkpoint.step}".encode()
                (self.root / key).parent.mkdir(parents=True, exist_ok=True)
                (self.root / key).write_bytes(data)
                ev = replace(ev, checkpoint=Checkpoint(key, ev.checkpoint.step,
                                                       hashlib.sha256(data).hexdigest(),
                                                       len(data)))
            out.append(ev)
        return out


class StopAfterFirstFinish(FileCheckpoints):
    """Ctrl-C at the poll after the first trial finished."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, step_time=step_time)
        self.finished = False

    def poll(self, timeout: float = 0.0) -> list[Event]:
        if self.finished:
            self.finished = False
            raise KeyboardInterrupt
        events = super().poll(timeout)
        self.finished = any(e.kind is EventKind.FINISHED for e in events)
        return events


def spec(name: str, configs: list[dict[str, Any]], **limits: Any) -> Any:
    return spec_from_dict({
        "name": name, "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "objectives_for_tests.fns:quadratic"},
        "search_space": {"x": {"type": "float", "low": 0.1, "high": 5.0}},
        "strategy": {"type": "manual", "configs": configs},
        "limits": {"max_parallel": 2, **limits},
    })


def test_show_leaderboard_and_export_agree_on_a_stopped_best(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    store = Store.open(store_dir)
    job = spec("partial", [{"x": 2.0}, {"x": 0.3}])
    root = Path(store.artifacts_for().root)
    assert Tuner.create(job, store, executor=StopAfterFirstFinish(root)).run() == "stopped"
    s = job_summary(store, "partial")
    states = {t["number"]: t["state"] for t in s["trials"]}
    assert states == {0: "completed", 1: "stopped"}  # 2.0/5 = 0.4 done; 0.3 at step 1 = 0.3
    assert s["best"]["number"] == s["trials"][0]["number"] == 1
    assert s["trials"][0]["rank"] == 1
    params, checkpoint = api.best_checkpoint("partial", store=store_dir)
    tx = store.read()
    (stopped,) = [t for t in tx.trials(tx.job("partial").id) if t.number == 1]
    ck = stopped.checkpoint_at(1)
    assert ck is not None and params["x"] == 0.3 and checkpoint == root / ck.path


def test_export_works_when_no_trial_finished(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    store = Store.open(store_dir)

    class StopEarly(FileCheckpoints):
        def __init__(self, root: Path) -> None:
            super().__init__(root)
            self.polls = 0

        def poll(self, timeout: float = 0.0) -> list[Event]:
            self.polls += 1
            if self.polls == 6:  # both trials have reported twice or so
                raise KeyboardInterrupt
            return super().poll(timeout)

    assert Tuner.create(spec("cut", [{"x": 2.0}, {"x": 1.0}]), store,
                        executor=StopEarly(Path(store.artifacts_for().root))).run() == "stopped"
    s = job_summary(store, "cut")
    assert {t["state"] for t in s["trials"]} == {"stopped"}
    params, _checkpoint = api.best_checkpoint("cut", store=store_dir)
    assert params["x"] == 1.0 == s["best"]["params"]["x"]


def test_retries_are_attempts_of_one_trial_in_every_count(tmp_path: Path) -> None:
    failed: set[float] = set()

    def fail_once(params: Mapping[str, ParamValue], step: int) -> bool:
        x = float(params["x"])
        if step == 2 and x not in failed:
            failed.add(x)
            return True
        return False

    store_dir = tmp_path / "store"
    store = Store.open(store_dir)
    seen: list[Progress] = []
    ex = SimulatedExecutor(2, pure_curve(curve), max_steps=3, fail_at=fail_once)
    configs = [{"x": 1.0}, {"x": 2.0}, {"x": 3.0}]
    assert Tuner.create(spec("retried", configs, max_retries=1), store, executor=ex,
                        progress=seen.append).run() == "completed"
    s = job_summary(store, "retried")
    assert s["counts"] == {"completed": 3} and len(s["trials"]) == 6  # every attempt listed
    # the progress bar's last word: 3 of 3 done (not 6 of 3)
    last = seen[-1]
    assert sum(last.counts.values()) == 3 and last.max_trials == 3
    # failed attempts are listed, without a rank; the trials that completed are ranked 1..3
    ranks = {t["number"]: t["rank"] for t in s["trials"]}
    failed_attempts = [t["number"] for t in s["trials"] if t["state"] == "failed"]
    assert len(failed_attempts) == 3 and all(ranks[n] is None for n in failed_attempts)
    assert sorted(r for r in ranks.values() if r is not None) == [1, 2, 3]
    res = CliRunner().invoke(app, ["jobs", "--store", str(store_dir), "--json"])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert row["trials"] == 3 and row["best"] == s["best"]["value"]
