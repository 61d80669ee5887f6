"""Command objectives: argv placeholders, TUNELAB_PARAMS_FILE, metrics parsed from the output."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import job_spec, run_job

from tunelab.trial import TrialState

TRAIN = r'''
import json, os, sys

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
x, mode, epochs = float(args["--x"]), args["--mode"], int(args["--epochs"])
with open(os.environ["TUNELAB_PARAMS_FILE"]) as f:
    params = json.load(f)
print(f"starting trial {os.environ['TUNELAB_TRIAL_NUMBER']} with {params}", flush=True)
if mode == "crash":
    print("loading data...", flush=True)
    print("IOError: disk full while writing shard 3", flush=True)
    sys.exit(3)
for epoch in range(1, epochs + 1):
    loss = (x - 1.0) ** 2 + 1.0 / epoch
    if mode == "ok":
        print(f"epoch {epoch}: acc={0.5 + 0.1 * epoch:.2f} file_x={params['x']} "
              f"file_epochs={params['epochs']} loss={loss:.6f}", flush=True)
    else:
        print(f"epoch {epoch}: acc={0.5 + 0.1 * epoch:.2f}", flush=True)
'''


@pytest.fixture(scope="module")
def command_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, dict[int, Any]]:
    from tunelab.store import Store

    root = tmp_path_factory.mktemp("command")
    script = root / "train.py"
    script.write_text(TRAIN)
    st = Store.open(root / "store")
    try:
        return run_job(st, job_spec(
            "command",
            train={
                "command": [sys.executable, str(script), "--x", "{x}", "--mode", "{mode}",
                            "--epochs", "{epochs}"],
                "metrics": [
                    {"name": "loss", "regex": r"loss=([0-9.eE+-]+)"},
                    {"name": "acc", "regex": r"acc=([0-9.]+)"},
                    {"name": "file_x", "regex": r"file_x=([0-9.eE+-]+)"},
                    {"name": "file_epochs", "regex": r"file_epochs=(\d+)"},
                ],
            },
            static={"epochs": 3},
            search_space={"x": {"type": "float", "low": -2.0, "high": 2.0},
                          "mode": {"type": "choice", "values": ["ok", "crash", "silent"]}},
            strategy={"type": "manual", "configs": [
                {"x": 0.5, "mode": "ok"}, {"x": 0.0, "mode": "crash"},
                {"x": 0.0, "mode": "silent"}]},
            limits={"max_parallel": 2},
        ))
    finally:
        st.close()


def test_metrics_are_parsed_and_reported_per_epoch(command_job: Any) -> None:
    _, _, trials = command_job
    ok = trials[0]
    assert ok.state is TrialState.COMPLETED
    assert [r.step for r in ok.reports] == [1, 2, 3]
    assert [r.value for r in ok.reports] == pytest.approx([1.25, 0.75, 0.25 + 1 / 3], abs=1e-6)
    assert ok.value == pytest.approx(0.25 + 1 / 3, abs=1e-6)
    assert ok.reports[-1].metrics["acc"] == pytest.approx(0.8)


def test_placeholders_and_the_params_file_carry_the_parameters(command_job: Any) -> None:
    _, _, trials = command_job
    metrics = trials[0].reports[-1].metrics
    # the loss was computed from --x (argv); file_x and file_epochs from TUNELAB_PARAMS_FILE
    assert metrics["file_x"] == 0.5 and metrics["file_epochs"] == 3


def test_a_failing_command_is_recorded_with_its_last_output_lines(command_job: Any) -> None:
    status, _, trials = command_job
    crash = trials[1]
    assert crash.state is TrialState.FAILED
    assert "exited with code 3" in crash.error
    assert "IOError: disk full while writing shard 3" in crash.error
    assert "loading data..." in crash.error
    assert status == "completed"  # the job went on


def test_a_metric_that_never_appears_names_the_metrics_seen(command_job: Any) -> None:
    silent = command_job[2][2]
    assert silent.state is TrialState.FAILED
    assert "'loss' never appeared" in silent.error and "['acc']" in silent.error


def test_the_output_is_kept_in_a_log_named_in_the_error(command_job: Any) -> None:
    silent = command_job[2][2]
    log = Path(silent.error.split("(log: ")[1].split(")")[0])
    assert "epoch 3: acc=0.80" in log.read_text()
