"""Trials cut by ``limits.max_runtime`` continue from their checkpoints on a resume that gives
a longer max_runtime (issue 19 item 2: one rule, a resume continues stopped trials)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from conftest import job_spec, job_trials, run_job
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.errors import SpecError
from tunelab.executors.simulated import SimulatedExecutor
from tunelab.space import ParamValue
from tunelab.store import Store
from tunelab.trial import TrialState
from tunelab.tuner import Tuner

STEPS = 12


def slow(params: Mapping[str, ParamValue], step: int, path: object) -> dict[str, float]:
    time.sleep(0.1)  # wall time passes, so max_runtime cuts the trials mid-training
    return {"loss": (float(params["x"]) - 0.5) ** 2 + 1.0 / step}


def fast(params: Mapping[str, ParamValue], step: int, path: object) -> dict[str, float]:
    return {"loss": (float(params["x"]) - 0.5) ** 2 + 1.0 / step}


def test_a_resume_with_a_longer_max_runtime_continues_the_cut_trials(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    try:
        first = SimulatedExecutor(2, slow, max_steps=STEPS)
        spec = job_spec("cut", limits={"max_trials": 2, "max_parallel": 2, "max_runtime": 0.6})
        status, job, trials = run_job(store, spec, executor=first)
        assert status == "completed" and job.status_reason.startswith("max_runtime (")
        cut = {n: t.last_step for n, t in trials.items()}
        assert all(t.state is TrialState.STOPPED for t in trials.values())
        assert all(0 < (s or 0) < STEPS for s in cut.values())

        with pytest.raises(SpecError, match="longer --max-runtime"):
            Tuner.resume("cut", store)  # ended at its limit: said, not resumed in vain
        with pytest.raises(SpecError, match="more than the"):
            Tuner.resume("cut", store, max_runtime=0.1)

        again = SimulatedExecutor(2, fast, max_steps=STEPS, checkpoints=first.checkpoints)
        assert Tuner.resume("cut", store, max_runtime=3600, executor=again).run() == "completed"
        job, trials = job_trials(store, "cut")
        assert sorted(trials) == sorted(cut)  # the same trials, no new ones
        for n, t in trials.items():
            assert t.state is TrialState.COMPLETED and t.last_step == STEPS
            steps = [r.step for r in store.read().trials(job.id, ids=[t.id])[0].reports]
            resumed_at = steps[steps.index(cut[n]) + 1]  # continued, not restarted at step 1
            assert resumed_at == (cut[n] or 0) + 1, steps
        assert job.spec["limits"]["max_runtime"] == 3600  # recorded in the job's spec
    finally:
        store.close()


def test_resume_says_how_to_continue_a_job_ended_by_max_runtime(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    try:
        spec = job_spec("cut", limits={"max_trials": 1, "max_parallel": 1, "max_runtime": 0.5})
        run_job(store, spec, executor=SimulatedExecutor(1, slow, max_steps=STEPS))
    finally:
        store.close()
    res = CliRunner().invoke(app, ["resume", "cut", "--store", str(tmp_path / "store"),
                                   "--json"])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert text.startswith("error: job 'cut' ended: max_runtime (") and "--max-runtime" in text
    assert "Traceback" not in res.output
