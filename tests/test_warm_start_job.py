"""Warm start, convergence and crash-resume of a Bayesian job through the spec, the store and
the tuner.

The trials run on the simulated executor (a curve per parameter set), so the tuner, the store and
the strategy are the real ones and each job takes well under a second of training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import job_spec, job_trials, run_job
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.errors import SpecError
from tunelab.executors.simulated import SimulatedExecutor, pure_curve
from tunelab.spec import spec_from_dict
from tunelab.trial import TrialState
from tunelab.tuner import Progress, Tuner

runner = CliRunner()
SPACE = {"x": {"type": "float", "low": -2.0, "high": 2.0},
         "y": {"type": "float", "low": -2.0, "high": 2.0}}


def _loss(p: Any, step: int) -> dict[str, float]:
    return {"loss": (float(p["x"]) - 0.7) ** 2 + (float(p["y"]) + 0.4) ** 2}


def _executor() -> SimulatedExecutor:
    return SimulatedExecutor(1, pure_curve(_loss), max_steps=1)


def _spec(name: str, trials: int, seed: int, **sections: Any) -> dict[str, Any]:
    return job_spec(name, search_space=SPACE, strategy={"type": "bayesian", "seed": seed},
                    limits={"max_trials": trials, "max_parallel": 1}, **sections)


def _values(store: Any, name: str) -> list[float]:
    _, trials = job_trials(store, name)
    return [float(t.value) for _, t in sorted(trials.items()) if t.value is not None]


def test_identical_warm_start_informs_the_first_trials(sqlite_store: Any) -> None:
    status, _, _ = run_job(sqlite_store, _spec("parent", 12, 0), executor=_executor())
    assert status == "completed"
    ws = {"parents": ["parent"], "type": "identical_data_and_algorithm"}
    run_job(sqlite_store, _spec("warm", 3, 1, warm_start=ws), executor=_executor())
    run_job(sqlite_store, _spec("cold", 3, 1), executor=_executor())
    warm, cold, parent = (_values(sqlite_store, n) for n in ("warm", "cold", "parent"))
    # the cold job's first three trials are its Sobol design; the warm one starts from the
    # parent's 12 observations, so its very first suggestion already beats the parent's best
    assert min(warm[:3]) < min(cold[:3])
    assert warm[0] < min(parent)


def test_transfer_learning_uses_the_parents_inside_the_new_space(sqlite_store: Any) -> None:
    from tunelab.report.summary import job_summary

    run_job(sqlite_store, _spec("parent", 12, 0), executor=_executor())
    _, parent = job_trials(sqlite_store, "parent")
    inside = sum(1 for t in parent.values() if t.params["x"] >= 0.0)
    assert 0 < inside < 12  # the narrower space leaves some parent trials out
    spec = _spec("child", 3, 1, warm_start={"parents": ["parent"], "type": "transfer_learning"})
    spec["search_space"] = {**SPACE, "x": {"type": "float", "low": 0.0, "high": 2.0}}
    status, _, trials = run_job(sqlite_store, spec, executor=_executor())
    assert status == "completed"
    assert all(0.0 <= t.params["x"] <= 2.0 for t in trials.values())
    warm = job_summary(sqlite_store, "child")["warm_start"]
    assert warm["parents"] == [{"name": "parent", "used": inside, "finished": 12}]
    assert warm["message"].startswith("transfer_learning from 1 parent job(s)")


@pytest.mark.parametrize(
    ("change", "says"),
    [({"objective": {"metric": "loss", "goal": "maximize"}}, "same goal"),
     ({"objective": {"metric": "val_loss", "goal": "minimize"}}, "same objective metric")],
)
def test_a_parent_with_another_objective_is_refused_before_anything_is_written(
    sqlite_store: Any, change: dict[str, Any], says: str
) -> None:
    run_job(sqlite_store, _spec("parent", 4, 0), executor=_executor())
    ws = {"parents": ["parent"], "type": "identical_data_and_algorithm"}
    bad = {**_spec("child", 3, 1, warm_start=ws), **change}
    with pytest.raises(SpecError, match=says):
        Tuner.create(spec_from_dict(bad), sqlite_store)
    assert [j.name for j in sqlite_store.read().jobs()] == ["parent"]


def test_an_unfinished_or_missing_parent_is_refused(sqlite_store: Any) -> None:
    Tuner.create(spec_from_dict(_spec("busy", 4, 0)), sqlite_store)  # created, never run
    for parent, says in (("busy", "a finished job"), ("nosuch", "Known jobs: busy")):
        ws = {"parents": [parent], "type": "identical_data_and_algorithm"}
        with pytest.raises(SpecError, match=says) as err:
            Tuner.create(spec_from_dict(_spec("child", 3, 1, warm_start=ws)), sqlite_store)
        assert "warm_start.parents" in str(err.value)
    assert [j.name for j in sqlite_store.read().jobs()] == ["busy"]
    # with the parent fixed, the same name runs: the refused attempts left nothing behind
    run_job(sqlite_store, _spec("busy2", 4, 0), executor=_executor())
    ws = {"parents": ["busy2"], "type": "identical_data_and_algorithm"}
    status, _, _ = run_job(sqlite_store, _spec("child", 3, 1, warm_start=ws),
                           executor=_executor())
    assert status == "completed"


def test_convergence_ends_the_job_and_says_so(sqlite_store: Any) -> None:
    spec = _spec("conv", 60, 0, completion={"convergence": True})
    status, job, trials = run_job(sqlite_store, spec, executor=_executor())
    assert status == "completed"
    assert job.status_reason.startswith("converged: the best expected improvement")
    done = [t for t in trials.values() if t.state is TrialState.COMPLETED]
    assert 8 <= len(done) < 60  # stopped well before max_trials
    # near the optimum (0); one suggestion in eight keeps exploring (issue 23), so not closer
    assert min(float(t.value) for t in done) < 2e-3


class _Crash(Exception):
    """The tuner process dying mid-job (kill -9 is tests/test_resume.py's, in a subprocess)."""


def test_a_crashed_and_resumed_job_suggests_what_an_uninterrupted_one_does(
    sqlite_store: Any,
) -> None:
    # the strategy is rebuilt from the store on resume: the same seed and history must give the
    # same suggestions, so a crash halfway changes none of the trials' parameters
    def crash(p: Progress) -> None:
        if p.counts.get("completed", 0) >= 6:
            raise _Crash

    tuner = Tuner.create(spec_from_dict(_spec("halves", 12, 3)), sqlite_store,
                         executor=_executor(), progress=crash)
    with pytest.raises(_Crash):
        tuner.run()
    with sqlite_store.transaction() as tx:  # the dead tuner's lease runs out
        tx.release_lease(tx.job("halves").id, tuner.owner)
    _, before = job_trials(sqlite_store, "halves")
    assert 6 <= sum(t.state is TrialState.COMPLETED for t in before.values()) < 12
    assert any(t.state is TrialState.RUNNING for t in before.values())  # cut off mid-trial
    assert Tuner.resume("halves", sqlite_store, executor=_executor()).run() == "completed"
    run_job(sqlite_store, _spec("whole", 12, 3), executor=_executor())
    _, resumed = job_trials(sqlite_store, "halves")
    _, whole = job_trials(sqlite_store, "whole")
    assert sorted(resumed) == sorted(whole) == list(range(12))
    assert all(t.state is TrialState.COMPLETED for t in resumed.values())
    # the Sobol design is max(5, 2 + 1) = 5 trials, all done before the crash: the trials the
    # resumed job asked for came from a GP refitted on the stored history, and match
    assert [resumed[n].params for n in range(12)] == [whole[n].params for n in range(12)]


def test_plan_checks_the_parents_and_writes_nothing(tmp_path: Path) -> None:
    from tunelab.store import Store

    runs = tmp_path / "runs"
    st = Store.open(runs)
    try:
        run_job(st, _spec("parent", 12, 0), executor=_executor())
        _, parent = job_trials(st, "parent")
    finally:
        st.close()
    inside = sum(1 for t in parent.values() if t.params["x"] >= 0.0)
    child = _spec("child", 3, 1, warm_start={"parents": ["parent"],
                                             "type": "transfer_learning"})
    child["search_space"] = {**SPACE, "x": {"type": "float", "low": 0.0, "high": 2.0}}
    path = tmp_path / "child.yaml"
    path.write_text(yaml.safe_dump(child))
    res = runner.invoke(app, ["plan", str(path), "--store", str(runs), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["warm_start"] == [
        {"name": "parent", "used": inside, "finished": 12}]
    # a store that is not there is named, not created; a missing parent lists the known jobs
    res = runner.invoke(app, ["plan", str(path), "--store", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "There is no store at" in res.output
    assert not (tmp_path / "nowhere").exists()
    child["warm_start"]["parents"] = ["nosuch"]
    path.write_text(yaml.safe_dump(child))
    res = runner.invoke(app, ["plan", str(path), "--store", str(runs)])
    assert res.exit_code == 2 and "Known jobs: parent" in res.output
    st = Store.open(runs)
    try:
        assert [j.name for j in st.read().jobs()] == ["parent"]
    finally:
        st.close()
