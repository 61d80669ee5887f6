"""`tunelab show`: the PBT lineage table lists who copied whom; pauses and resumes are counted."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from tunelab.report.render import render_summary


def _summary(decisions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "j", "status": "completed", "status_reason": None,
        "objective": {"metric": "loss", "goal": "minimize"}, "counts": {"completed": 2},
        "device_seconds": 1.0, "device_hours": 0.0003, "epochs": 8, "checkpoint_bytes": 0,
        "trials": [], "best": None, "diagnosis": {}, "decisions": decisions, "data": None,
    }


def _text(s: dict[str, Any]) -> str:
    console = Console(record=True, width=200)
    render_summary(console, s)
    return " ".join(console.export_text().split())


def test_lineage_shows_exploits_and_counts_the_rest() -> None:
    decisions = [
        {"trial": 0, "step": 2, "action": "pause", "donor": None, "donor_step": None,
         "params": None, "reason": "waits"},
        {"trial": 0, "step": 2, "action": "resume", "donor": None, "donor_step": None,
         "params": None, "reason": "caught up"},
        {"trial": 1, "step": 4, "action": "exploit", "donor": 0, "donor_step": 4,
         "params": {"lr": 0.02}, "reason": "bottom 1 of 2; copies trial 0 at step 4"},
    ]
    text = _text(_summary(decisions))
    assert "scheduler decisions: 1 pause, 1 resume" in text
    assert "PBT lineage" in text and "#0@4" in text and "lr=0.02" in text
    assert "waits" not in text  # pauses are counted, not listed


def test_no_decisions_no_lineage() -> None:
    text = _text(_summary([]))
    assert "lineage" not in text and "scheduler decisions" not in text
