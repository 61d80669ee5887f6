"""How trials fail: exceptions, crashes, NaN/inf, missing metrics, time-outs, retries.

One job runs every way of failing side by side on two slots, so the worker start-up is paid once.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import job_spec, run_job

from tunelab.executors.local import LocalExecutor
from tunelab.trial import TrialState

MODES = ["ok", "raise", "segfault", "oom_kill", "nan_return", "inf_report", "no_metric", "ok"]


def _modes_spec(name: str, modes: list[str], **limits: Any) -> dict[str, Any]:
    return job_spec(
        name, "behave",
        search_space={"mode": {"type": "choice", "values": sorted(set(modes))}},
        strategy={"type": "manual", "configs": [{"mode": m} for m in modes]},
        limits={"max_parallel": 2, **limits},
    )


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, dict[int, Any]]:
    from tunelab.store import Store

    st = Store.open(tmp_path_factory.mktemp("failures") / "store")
    try:
        return run_job(st, _modes_spec("failures", MODES))
    finally:
        st.close()


def _pid(worker: str | None) -> int:
    assert worker is not None and worker.startswith("pid ")
    return int(worker.split()[1])


def test_the_job_goes_on_after_every_failure(failures: Any) -> None:
    status, job, trials = failures
    assert status == "completed" and job.status_reason == "all 8 trials done"
    assert [t.params["mode"] for t in trials.values()] == MODES
    assert trials[0].state is TrialState.COMPLETED and trials[7].state is TrialState.COMPLETED
    assert trials[7].value == 0.25
    assert all(t.state is TrialState.FAILED for n, t in trials.items() if n not in (0, 7))


def test_an_exception_is_recorded_with_its_traceback(failures: Any) -> None:
    t = failures[2][1]
    assert t.error == "ValueError: boom from the training function"
    assert t.traceback and "in behave" in t.traceback and "boom" in t.traceback


@pytest.mark.parametrize(("number", "signal_name"), [(2, "SIGSEGV"), (3, "SIGKILL")])
def test_a_crashed_worker_is_recorded_and_replaced(
    failures: Any, number: int, signal_name: str
) -> None:
    trials = failures[2]
    crashed = trials[number]
    assert crashed.error == f"worker process died: killed by {signal_name}" + (
        " (out of memory?)" if signal_name == "SIGKILL" else "")
    dead = _pid(crashed.worker)
    later = [t for n, t in trials.items() if n > number]
    assert dead not in {_pid(t.worker) for t in later}  # its slot got a new process


def test_non_finite_objective_values_fail_the_trial(failures: Any) -> None:
    trials = failures[2]
    assert trials[4].error == "returned nan for 'loss'" and trials[4].value is None
    assert trials[5].error == "reported inf for 'loss' at step 1" and trials[5].value is None


def test_a_metric_that_never_appears_names_the_metrics_seen(failures: Any) -> None:
    err = failures[2][6].error
    assert "'loss' was never reported" in err and "metrics seen: accuracy, val_accuracy" in err


@pytest.mark.timeout(90)
def test_a_trial_past_max_trial_runtime_is_timed_out(sqlite_store: Any) -> None:
    ex = LocalExecutor(2, grace=0.5)
    try:
        _, _, trials = run_job(
            sqlite_store,
            _modes_spec("timeouts", ["hang", "hang_ignoring_sigterm", "ok"],
                        max_trial_runtime=1),
            executor=ex,
        )
    finally:
        ex.shutdown()
    assert [t.state for t in trials.values()] == [
        TrialState.TIMED_OUT, TrialState.TIMED_OUT, TrialState.COMPLETED]
    # the second ignores SIGTERM: it only ends because SIGKILL follows after the grace period
    assert all("max_trial_runtime" in (trials[n].error or "") for n in (0, 1))
    assert trials[2].value == 0.25


def test_max_retries_reruns_failed_trials_linked_to_the_first(sqlite_store: Any) -> None:
    _, _, trials = run_job(sqlite_store, job_spec(
        "retries", "flaky",
        search_space={"mode": {"type": "choice", "values": ["flaky", "always"]}},
        strategy={"type": "manual", "configs": [{"mode": "flaky"}, {"mode": "always"}]},
        limits={"max_parallel": 1, "max_retries": 2},
    ))
    firsts = {n: t for n, t in trials.items() if t.attempt == 1}
    assert [t.params["mode"] for t in firsts.values()] == ["flaky", "always"]
    assert all(t.state is TrialState.FAILED and t.retry_of is None for t in firsts.values())
    flaky_n, always_n = sorted(firsts)

    def chain(first: int) -> list[Any]:
        return sorted((t for t in trials.values() if t.retry_of == first),
                      key=lambda t: t.attempt)

    (retry,) = chain(flaky_n)
    assert (retry.attempt, retry.state, retry.value) == (2, TrialState.COMPLETED, 2.0)
    assert retry.params == firsts[flaky_n].params
    always = chain(always_n)
    assert [(t.attempt, t.state) for t in always] == [
        (2, TrialState.FAILED), (3, TrialState.FAILED)]  # max_retries 2: no fourth attempt
    assert all(t.params == {"mode": "always"} for t in always)
    assert len(trials) == 5 and len(set(trials)) == 5


def test_a_function_path_that_does_not_import_fails_once_before_any_trial(
    sqlite_store: Any,
) -> None:
    from tunelab.errors import ObjectiveError
    from tunelab.spec import spec_from_dict
    from tunelab.tuner import Tuner

    spec = job_spec("bad-import")
    spec["train"] = {"function": "no_such_module_xyz:train"}
    with pytest.raises(ObjectiveError, match=r"`train\.function`.*'no_such_module_xyz'"):
        Tuner.create(spec_from_dict(spec), sqlite_store)
    assert sqlite_store.read().jobs() == []  # refused before the job is written
