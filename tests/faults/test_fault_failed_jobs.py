"""Fault injection: jobs whose trials fail (issue 16 item 7, the status part).

A job in which no trial succeeded ends ``failed`` (not ``completed``) and ``tunelab tune``
exits non-zero; ``limits.max_failures`` (a count, or a fraction of ``max_trials``) ends a job
early, with the reason in its status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import job_spec, run_job
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.errors import SpecError
from tunelab.trial import TrialState

runner = CliRunner()


def _modes(name: str, modes: list[str], **limits: Any) -> dict[str, Any]:
    return job_spec(
        name, "behave",
        search_space={"mode": {"type": "choice", "values": sorted(set(modes))}},
        strategy={"type": "manual", "configs": [{"mode": m} for m in modes]},
        limits={"max_parallel": 1, **limits},
    )


def test_a_job_where_every_trial_failed_is_failed_and_exits_non_zero(tmp_path: Path) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(_modes("all-fail", ["raise", "nan_return", "raise"])))
    store = str(tmp_path / "runs")
    res = runner.invoke(app, ["tune", str(p), "--store", store, "--json"])
    assert res.exit_code == 1, res.output
    from tunelab.store import Store

    st = Store.open(store)
    try:
        job = st.read().job("all-fail")
        trials = st.read().trials(job.id)
    finally:
        st.close()
    assert job.status == "failed"
    assert [t.state for t in trials] == [TrialState.FAILED] * 3
    assert job.status_reason is not None
    assert "no trial succeeded (3 failed)" in job.status_reason
    assert "trial 2: ValueError: boom from the training function" in job.status_reason


def test_one_success_among_failures_still_completes(sqlite_store: Any) -> None:
    status, job, _ = run_job(sqlite_store, _modes("one-ok", ["raise", "ok", "raise"]))
    assert status == "completed" and job.status == "completed"


def test_max_failures_count_ends_the_job_early_with_the_reason(sqlite_store: Any) -> None:
    status, job, trials = run_job(
        sqlite_store, _modes("max-fail", ["raise", "ok", "raise", "ok", "ok", "ok"],
                             max_failures=2))
    assert status == "failed" and job.status == "failed"
    assert job.status_reason is not None
    assert job.status_reason.startswith("limits.max_failures reached: 2 trials failed")
    assert len(trials) == 3  # the job stopped at the second failure; trials 3..5 never ran
    assert [t.state for t in trials.values()] == [
        TrialState.FAILED, TrialState.COMPLETED, TrialState.FAILED]


def test_max_failures_fraction_is_of_max_trials(sqlite_store: Any) -> None:
    # 0.3 of 6 trials -> the 2nd failure ends the job
    status, job, trials = run_job(
        sqlite_store, _modes("frac-fail", ["ok", "raise", "raise", "ok", "ok", "ok"],
                             max_failures=0.3))
    assert status == "failed" and len(trials) == 3
    assert job.status_reason is not None
    assert "the limit is 2 (0.3 of 6 trials)" in job.status_reason


@pytest.mark.parametrize("bad", [0, -1, 1.5, 0.0, True, "many"])
def test_max_failures_must_be_a_count_or_a_fraction(bad: Any) -> None:
    from tunelab.spec import spec_from_dict

    with pytest.raises(SpecError, match=r"`limits\.max_failures` must be a count"):
        spec_from_dict(job_spec("bad", limits={"max_failures": bad}))
