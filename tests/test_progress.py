"""The live view tells the truth: a time left only from measured epoch times (none before),
and each running trial's epoch."""

from __future__ import annotations

from typing import Any

from conftest import job_spec, run_job

from tunelab.progress import Progress, epochs_per_trial


def test_eta_comes_from_measured_epochs_and_running_trials_show_their_epoch(
        sqlite_store: Any) -> None:
    seen: list[Progress] = []
    spec = job_spec("eta", "steps", static={"epochs": 4, "sleep": 0.2},
                    limits={"max_trials": 3, "max_parallel": 1})
    status, _job, trials = run_job(sqlite_store, spec, progress=seen.append)
    assert status == "completed" and len(trials) == 3
    # nothing measured yet (no trial has reported two epochs): no estimate, not a guess
    first_pair = next(i for i, p in enumerate(seen)
                      if any(done >= 2 for _n, done, _e in p.running)
                      or p.counts.get("completed"))
    assert all(p.remaining is None for p in seen[:first_pair])
    # while the first trial trains, the view names its epoch out of 4
    assert any((0, 2, 4) in p.running or (0, 3, 4) in p.running for p in seen)
    # once epochs are measured there is an estimate, and it shrinks to nothing by the end
    later = [p.remaining for p in seen[first_pair:] if p.remaining is not None]
    assert later and later[-1] <= later[0]
    # 3 trials x 4 epochs at >= 0.2 s each: the first estimate covers most of that work
    assert later[0] >= 0.2 * 4


def test_epochs_per_trial_reads_the_scheduler_then_static() -> None:
    assert epochs_per_trial({"strategy": {"type": "pbt", "max_steps": 9},
                             "static": {"epochs": 3}}) == 9
    assert epochs_per_trial({"static": {"epochs": 3}}) == 3
    assert epochs_per_trial({"train": {"builtin": "image-classifier", "epochs": 7}}) == 7
    assert epochs_per_trial({"train": {"function": "m:f"}}) is None
