"""Terminal output that fits 80 columns: names are never cut, parameter lists fold between
parameters (never inside a number), and a failure note ends with the actual error line."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from tunelab.report.render import failure_note, render_jobs, render_summary

PARAMS = {"learning_rate": 0.0031234, "weight_decay": 1.234e-05, "batch_size": 64,
          "dropout": 0.123456, "label_smoothing": 0.1, "hflip": True}
LONG_NAME = "photos-20261204-155515-quad-grid-search"
TRACE = ("command exited with code 1 (log: /runs/jobs/j/trial-0000/output-1.log). Last output "
         "lines:\nTraceback (most recent call last):\n  File \"train.py\", line 3, in <module>\n"
         "    main()\n" + "  noise line\n" * 20 + "ZeroDivisionError: division by zero")


def _summary(params: dict[str, Any]) -> dict[str, Any]:
    trials = [{"number": i, "state": "failed" if i == 3 else "completed",
               "value": None if i == 3 else 0.9 - i / 100, "params": params, "steps": 15,
               "device_seconds": 12.3, "error": TRACE if i == 3 else None, "attempt": 1}
              for i in range(4)]
    return {
        "name": LONG_NAME, "status": "completed", "status_reason": None,
        "objective": {"metric": "val_accuracy", "goal": "maximize"},
        "counts": {"completed": 3, "failed": 1}, "device_seconds": 50.0, "device_hours": 0.01,
        "trials": trials, "best": {"number": 0, "value": 0.9, "params": params},
        "static": {"epochs": 15}, "diagnosis": {}, "data": None,
        "decisions": [{"trial": 2, "step": 3, "action": "exploit", "donor": 0, "donor_step": 3,
                       "params": params, "reason": "bottom 1 of 4; copies trial 0 at step 3"}],
    }


def _render(fn: Any, *args: Any) -> list[str]:
    console = Console(width=80, record=True, color_system=None)
    fn(console, *args)
    lines: list[str] = console.export_text().splitlines()
    return lines


def test_every_line_fits_80_columns_and_no_number_is_split() -> None:
    lines = _render(render_summary, _summary(PARAMS))
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    # each name=value of the lineage and of the parameters stays whole on one line
    for k, v in (("learning_rate", "0.003123"), ("weight_decay", "1.234e-05"),
                 ("label_smoothing", "0.1")):
        assert f"{k}={v}" in text, k
    assert "PBT lineage" in text


def test_failure_note_ends_with_the_error_line_and_names_the_log() -> None:
    lines = _render(render_summary, _summary({"lr": 0.01}))
    joined = " ".join(" ".join(lines).split())
    assert "#3: command exited with code 1 (log: /runs/jobs/j/trial-0000/output-1.log)" in joined
    assert "ZeroDivisionError: division by zero" in joined
    note = failure_note(TRACE)
    assert note.endswith("ZeroDivisionError: division by zero")
    assert "noise line" not in note


def test_failure_note_of_one_long_line_keeps_its_end() -> None:
    msg = "RuntimeError: " + "x" * 300 + " the end"
    assert failure_note(msg).endswith("the end") and len(failure_note(msg)) < 200


def test_jobs_never_cuts_a_name() -> None:
    rows = [{"name": LONG_NAME + f"-{i}", "status": "completed", "strategy": "bayesian",
             "trials": 20, "best": 0.91234, "goal": "maximize", "metric": "val_accuracy",
             "created_at": 0.0} for i in range(3)]
    lines = _render(render_jobs, rows)
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    for i in range(3):
        assert f"{LONG_NAME}-{i}" in text
    assert "…" not in text
    assert "not shown at this width:" in " ".join(text.split())
