"""Fault injection: `--json` output must be valid JSON whatever a trial reported (issue 16
item 11): a NaN or infinite metric becomes ``null``, never a bare ``NaN``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from conftest import job_spec
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.store import Store
from tunelab.trial import TrialState

runner = CliRunner()


def _strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"bare {name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_show_and_jobs_json_never_print_bare_nan(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    st = Store.open(store)
    with st.transaction() as tx:
        job = tx.create_job("nan-job", job_spec("nan-job"), metric="loss", goal="minimize")
        tid = tx.create_trial(job.id, 0, {"x": 0.5})
        tx.set_trial(tid, state=TrialState.RUNNING, current=TrialState.PENDING)
        tx.add_report(tid, 1, 0.25, {"loss": 0.25, "grad_norm": math.nan,
                                     "lr": math.inf}, 1.0)
        tx.set_trial(tid, state=TrialState.COMPLETED, current=TrialState.RUNNING, value=0.25,
                     ended_at=2.0)
        tx.set_job(job.id, status="completed")
    st.close()
    res = runner.invoke(app, ["show", "nan-job", "--store", str(store), "--json"])
    assert res.exit_code == 0, res.output
    assert "NaN" not in res.stdout and "Infinity" not in res.stdout
    summary = _strict(res.stdout)
    (trial,) = summary["trials"]
    assert trial["value"] == 0.25
    assert trial["last_metrics"] == {"loss": 0.25, "grad_norm": None, "lr": None}
    res = runner.invoke(app, ["jobs", "--store", str(store), "--json"])
    assert res.exit_code == 0 and _strict(res.stdout)[0]["name"] == "nan-job"


def test_dumps_keeps_finite_values_and_nulls_the_rest() -> None:
    from tunelab.jsonout import dumps

    text = dumps({"a": [1.5, -math.inf, {"b": math.nan}], "c": (2, "x"), "d": Path("p")})
    assert _strict(text) == {"a": [1.5, None, {"b": None}], "c": [2, "x"], "d": "p"}
