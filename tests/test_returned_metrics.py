"""The metrics a training function returns are stored with its trial, not only its reports."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from conftest import job_spec, run_job

from tunelab.report.summary import job_summary, returned_metrics, trial_dict
from tunelab.store import ReportRecord, Store, TrialRecord
from tunelab.trial import TrialState


def _spec(name: str, fn: str, n: int = 2) -> dict[str, Any]:
    spec = job_spec(name, limits={"max_trials": n, "max_parallel": 1})
    spec["train"] = {"function": f"objectives_for_tests.returned:{fn}"}
    return spec


def test_returned_dict_is_stored_when_nothing_was_reported(sqlite_store: Any) -> None:
    status, _, trials = run_job(sqlite_store, _spec("ret-only", "returns_only"))
    assert status == "completed" and sorted(trials) == [0, 1]
    for t in trials.values():
        x = float(t.params["x"])
        assert t.state is TrialState.COMPLETED and t.reports == []
        assert t.metrics == pytest.approx({"loss": (x - 1.0) ** 2, "accuracy": 0.5 + x / 10,
                                           "f1": 0.25})
        assert t.value == pytest.approx(t.metrics["loss"])
    summary = job_summary(sqlite_store, "ret-only")
    for row in summary["trials"]:
        assert row["metrics"] == trials[row["number"]].metrics and row["last_metrics"] == {}
    from typer.testing import CliRunner

    from tunelab.cli import app

    res = CliRunner().invoke(app, ["show", "ret-only", "--store", sqlite_store.url, "--json"])
    assert res.exit_code == 0, res.output
    shown = {row["number"]: row["metrics"] for row in json.loads(res.stdout)["trials"]}
    assert shown == {n: t.metrics for n, t in trials.items()}


def test_reported_and_returned_metrics_are_both_kept(sqlite_store: Any) -> None:
    status, _, trials = run_job(sqlite_store, _spec("ret-and-rep", "reports_and_returns", 1))
    assert status == "completed"
    [t] = trials.values()
    x = float(t.params["x"])
    assert t.state is TrialState.COMPLETED
    # the objective value came from the last report; the returned metrics are kept anyway
    assert t.value == pytest.approx(x * x)
    assert [r.step for r in t.reports] == [1, 2]
    assert t.reports[-1].metrics == pytest.approx({"loss": x * x, "val_accuracy": 0.7})
    # finite numbers only: NaN and the string are not metrics
    assert t.metrics == {"test_accuracy": 0.8, "test_loss": 0.3}
    [row] = job_summary(sqlite_store, "ret-and-rep")["trials"]
    assert row["metrics"] == {"test_accuracy": 0.8, "test_loss": 0.3}
    assert row["last_metrics"] == pytest.approx({"loss": x * x, "val_accuracy": 0.7})


def test_a_returned_float_is_stored_as_the_objective_metric(sqlite_store: Any) -> None:
    status, _, trials = run_job(sqlite_store, _spec("ret-float", "returns_float", 1))
    [t] = trials.values()
    assert status == "completed" and t.metrics == {"loss": abs(float(t.params["x"]))}


def test_returned_metrics_are_kept_when_the_objective_is_missing(sqlite_store: Any) -> None:
    _, _, trials = run_job(sqlite_store, _spec("ret-no-obj", "returns_no_objective", 1))
    [t] = trials.values()
    assert t.state is TrialState.FAILED and "never reported or returned" in (t.error or "")
    assert t.metrics == {"accuracy": 0.9}


def test_the_store_round_trips_trial_metrics(store: Any) -> None:
    with store.transaction() as tx:
        job = tx.create_job("rt", {}, metric="loss", goal="minimize")
        a = tx.create_trial(job.id, 0, {"x": 1})
        b = tx.create_trial(job.id, 1, {"x": 2})
        tx.set_trial(a, metrics={"loss": 0.5, "acc": 1, "bad": math.inf, "nan": math.nan})
    by_number = {t.number: t for t in store.read().trials(job.id)}
    assert by_number[0].metrics == {"loss": 0.5, "acc": 1.0}
    assert by_number[1].metrics == {}  # never set: NULL reads as empty
    with store.transaction() as tx:  # only non-finite values: stored as NULL, read as empty
        tx.set_trial(b, metrics={"loss": math.nan})
    assert store.read().trials(job.id, ids=[b])[0].metrics == {}


def _record(metrics: dict[str, float], reports: list[dict[str, float]]) -> TrialRecord:
    return TrialRecord(
        id=1, number=0, attempt=1, retry_of=None, source="strategy", params={},
        state=TrialState.COMPLETED, value=0.1, last_step=len(reports) or None, segments=1,
        error=None, traceback=None, worker=None, created_at=0.0, started_at=0.0, ended_at=1.0,
        device_seconds=1.0, metrics=metrics,
        reports=[ReportRecord(i + 1, m.get("loss"), m, float(i)) for i, m in enumerate(reports)],
    )


def test_summary_metrics_fall_back_to_the_last_report() -> None:
    returned = _record({"loss": 0.1, "acc": 0.9}, [{"loss": 0.2}])
    assert trial_dict(returned)["metrics"] == {"loss": 0.1, "acc": 0.9}
    reported = _record({}, [{"loss": 0.3}, {"loss": 0.2, "acc": 0.8, "odd": math.nan}])
    assert returned_metrics(reported) == {"loss": 0.2, "acc": 0.8}
    assert trial_dict(_record({}, []))["metrics"] == {}


def test_tune_leaderboard_carries_returned_metrics(tmp_path: Path) -> None:
    from objectives_for_tests.returned import returns_only

    import tunelab
    from tunelab.space import Float

    result = tunelab.tune(returns_only, {"x": Float(-2.0, 2.0)}, max_trials=1,
                          store=tmp_path / "store", name="lb")
    [row] = result.leaderboard
    assert set(row["metrics"]) == {"loss", "accuracy", "f1"}
    st = Store.open(tmp_path / "store")
    try:
        [t] = st.read().trials(st.read().job("lb").id)
        assert row["metrics"] == t.metrics
    finally:
        st.close()
