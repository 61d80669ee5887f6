"""`tunelab report`, `tunelab trials`, `tunelab ui` start-up errors, and `tunelab.load()`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import tunelab
from server.synth import synth_job
from tunelab.cli import app
from tunelab.store import Store

runner = CliRunner()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    st = Store.open(root)
    synth_job(st, "done", trials=6, steps=3)
    st.close()
    return root


def test_report_is_one_self_contained_file(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "r" / "report.html"
    res = runner.invoke(app, ["report", "done", "-o", str(out), "--store", str(store_path)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "<script src=" not in html and "<link " not in html  # nothing fetched
    assert "plotly.js v" in html or "plotly.js" in html  # the library itself is inside
    assert '"/jobs/done/curves?metric=val_accuracy"' in html and '"best_trial"' in html


def test_trials_export_csv_json_parquet_and_curves(store_path: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["trials", "done", "--store", str(store_path)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("number,state,value") and len(lines) == 1 + 6
    assert "params.lr" in lines[0] and "metrics.val_accuracy" in lines[0]
    res = runner.invoke(app, ["trials", "done", "--format", "json", "--store", str(store_path)])
    rows = json.loads(res.stdout)
    assert [r["number"] for r in rows] == list(range(6)) and rows[3]["state"] == "failed"
    pq = tmp_path / "t.parquet"
    res = runner.invoke(app, ["trials", "done", "--format", "parquet", "--curves", "-o", str(pq),
                              "--store", str(store_path)])
    assert res.exit_code == 0, res.output
    curves = pd.read_parquet(pq)
    assert list(curves.columns) == ["trial", "step", "metric", "value", "at"]
    assert len(curves) == (5 * 3 + 2) * 4  # trial 3 failed after 2 steps; 4 metrics each
    res = runner.invoke(app, ["trials", "done", "--format", "parquet", "--store",
                              str(store_path)])
    assert res.exit_code == 2 and "--out" in res.output
    res = runner.invoke(app, ["trials", "done", "--format", "xlsx", "--store", str(store_path)])
    assert res.exit_code == 2 and "csv, json, parquet" in res.output


def test_load_gives_data_frames(store_path: Path) -> None:
    job = tunelab.load("done", store=store_path)
    df = job.trials_dataframe()
    assert len(df) == 6 and df.loc[df["state"] == "failed", "number"].tolist() == [3]
    long = job.trials_dataframe(curves=True)
    best = job.summary().best
    assert best is not None
    got = long[(long.trial == best.number) & (long.metric == "val_accuracy")]
    assert got.sort_values("step")["value"].iloc[-1] == pytest.approx(best.value)
    job.close()
    with pytest.raises(tunelab.TunelabError, match="Known jobs: done"):
        tunelab.load("nope", store=store_path)


def test_ui_on_a_store_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["ui", "--store", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "there is no store at" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["ui", "--store", "postgresql://nobody:hunter2@127.0.0.1:1/none"])
    assert res.exit_code == 2 and "cannot open the store" in res.output
    assert "hunter2" not in res.output and "Traceback" not in res.output
    assert res.output.count("error:") == 1  # one message


def test_ui_with_a_missing_data_root_is_one_line(store_path: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["ui", "--store", str(store_path), "--data-root",
                              str(tmp_path / "nowhere")])
    assert res.exit_code == 2
    out = " ".join(res.output.split())
    assert out.startswith("error: `--data-root` must be an existing folder")
    assert "Traceback" not in res.output


@pytest.mark.postgres
def test_ui_on_postgresql_takes_the_artifact_folder_and_launches_with_it(
        postgres_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A PostgreSQL store keeps no folder of its own: `ui --artifacts` names the checkpoints'
    # folder, and the tuners the page launches get it (without it `tune` refuses to start).
    import uvicorn

    from tunelab.server.launcher import Launcher, default_launch_dir
    from tunelab.store.queries import Reader

    seen: list[Reader] = []
    real_create = __import__("tunelab.server.app", fromlist=["create_app"]).create_app

    def capture(reader: Reader, *args: object, **kwargs: object) -> object:
        seen.append(reader)
        return real_create(reader, *args, **kwargs)

    monkeypatch.setattr("tunelab.server.app.create_app", capture)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    arts = tmp_path / "artifacts"
    res = runner.invoke(app, ["ui", "--store", postgres_store.url, "--artifacts", str(arts)])
    assert res.exit_code == 0, res.output
    [reader] = seen
    assert reader.artifacts == arts.resolve() or reader.artifacts == arts
    launcher = Launcher(reader)
    assert launcher._store_args() == ["--store", postgres_store.url, "--artifacts",
                                      str(reader.artifacts)]
    assert default_launch_dir(reader) == Path(str(reader.artifacts)).parent / "ui-launches"
    # an object-storage location reaches the launched tuners too
    remote = Reader(reader.engine, reader.url, "s3://bucket/runs")
    assert Launcher(remote)._store_args() == ["--store", postgres_store.url, "--artifacts",
                                              "s3://bucket/runs"]
