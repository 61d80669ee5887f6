"""GPU slots without a GPU: a fake device list laid out over worker slots (tunelab.devices)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import job_spec, run_job

from tunelab import devices
from tunelab.devices import device_hours_by_type, gpus_option, layout_for, parse_gpus, plan_slots
from tunelab.errors import SpecError
from tunelab.report.summary import job_summary
from tunelab.spec import LimitsSpec


def test_one_gpu_per_trial_by_default_and_one_slot_per_gpu() -> None:
    layout = plan_slots(gpus=[0, 1, 2], gpus_per_trial=None, max_parallel=None)
    assert layout.visible == ["0", "1", "2"] and layout.gpus_per_trial == 1.0
    assert layout.describe() == "3 slots: slot 0 GPU 0; slot 1 GPU 1; slot 2 GPU 2"


def test_no_gpus_means_cpu_slots_and_max_parallel_default_one() -> None:
    assert plan_slots(gpus=[], gpus_per_trial=None, max_parallel=None).visible == [""]
    cpu = plan_slots(gpus=[], gpus_per_trial=None, max_parallel=3)
    assert cpu.visible == ["", "", ""] and cpu.describe() == "3 slots on the CPU"
    # GPUs asked for on a machine without any: the trials train on the CPU
    assert plan_slots(gpus=[], gpus_per_trial=1, max_parallel=2).visible == ["", ""]
    # gpus_per_trial 0 keeps trials on the CPU even with GPUs present
    assert plan_slots(gpus=[0, 1], gpus_per_trial=0, max_parallel=2).visible == ["", ""]


def test_fractions_pack_trials_on_a_gpu_spread_over_gpus_first() -> None:
    layout = plan_slots(gpus=[0, 2], gpus_per_trial=0.25, max_parallel=None)
    assert layout.visible == ["0", "2"] * 4
    assert layout.describe() == "8 slots: 4 per GPU on GPUs 0, 2 (gpus_per_trial 0.25)"
    assert plan_slots(gpus=[0, 2], gpus_per_trial=0.5, max_parallel=3).visible == ["0", "2", "0"]


def test_several_gpus_per_trial() -> None:
    layout = plan_slots(gpus=[0, 1, 2, 3, 4], gpus_per_trial=2, max_parallel=None)
    assert layout.visible == ["0,1", "2,3"]  # the fifth GPU is left over
    with pytest.raises(SpecError, match="gpus_per_trial"):
        plan_slots(gpus=[0], gpus_per_trial=2, max_parallel=None)
    with pytest.raises(SpecError, match="whole number"):
        plan_slots(gpus=[0, 1], gpus_per_trial=1.5, max_parallel=None)


def test_more_parallel_trials_than_gpu_slots_is_a_clear_error() -> None:
    with pytest.raises(SpecError, match=r"max_parallel.*at most 2.*gpus_per_trial: 0.5"):
        plan_slots(gpus=[0, 1], gpus_per_trial=1, max_parallel=3)


def test_gpus_option_and_ids_checked_against_those_found() -> None:
    assert gpus_option("all") == "all" and gpus_option("none") == "none"
    assert gpus_option("0,2") == [0, 2] and gpus_option(None) is None
    with pytest.raises(SpecError, match="--gpus"):
        gpus_option("first")
    assert parse_gpus("all", [0, 1, 2]) == [0, 1, 2]
    assert parse_gpus([2, 0], [0, 1, 2]) == [0, 2]
    with pytest.raises(SpecError, match=r"GPU ids this machine has \(0, 1\)"):
        parse_gpus([0, 5], [0, 1])


def _fake_gpus(monkeypatch: pytest.MonkeyPatch, ids: list[int]) -> None:
    monkeypatch.setattr(devices, "_gpu_driver_present", lambda: True)
    monkeypatch.setattr(devices, "detect_gpus", lambda: list(ids))


def test_layout_from_a_jobs_limits_with_a_fake_device_list(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    _fake_gpus(monkeypatch, [0, 1, 2, 3])
    assert layout_for(LimitsSpec()).visible == ["0", "1", "2", "3"]
    assert layout_for(LimitsSpec(gpus=[1, 3])).visible == ["1", "3"]
    assert layout_for(LimitsSpec(), [2]).visible == ["2"]  # --gpus wins over limits.gpus
    assert layout_for(LimitsSpec(gpus="none", max_parallel=2)).visible == ["", ""]
    assert layout_for(LimitsSpec(max_parallel=2, gpus_per_trial=0.5)).visible == ["0", "1"]


def test_each_worker_slot_gets_its_own_cuda_visible_devices(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.store import Store

    _fake_gpus(monkeypatch, [0, 1])
    st = Store.open(tmp_path / "store")
    try:
        status, job, trials = run_job(st, job_spec(
            "gpus", "ignored", train={"function": "objectives_for_tests.devices:where"},
            limits={"max_trials": 6, "gpus_per_trial": 0.5}))
        events = [e for e in st.read().events(job.id) if e.kind == "slots"]
        summary = job_summary(st, "gpus")
    finally:
        st.close()
    assert status == "completed"
    assert set(summary["device_hours_by_type"]) == {"GPU"}  # no nvidia-smi here to name it
    # each trial on half a GPU counts half its hours
    assert summary["device_hours_by_type"]["GPU"] == pytest.approx(
        summary["device_hours"] * 0.5, abs=1e-5)
    by_slot: dict[float, set[float]] = {}
    for t in trials.values():
        m: dict[str, Any] = t.reports[-1].metrics
        assert m["cuda"] == 1.0
        by_slot.setdefault(m["slot"], set()).add(m["gpu"])
    # four slots (two per GPU), slot i on GPU i mod 2, each always on its own GPU
    assert by_slot and all(gpus == {slot % 2} for slot, gpus in by_slot.items())
    assert set(by_slot) <= {0.0, 1.0, 2.0, 3.0}
    assert events and events[0].message == "4 slots: 2 per GPU on GPUs 0, 1 (gpus_per_trial 0.5)"


def test_cpu_jobs_keep_their_slots_and_hide_gpus(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.store import Store

    _fake_gpus(monkeypatch, [0])
    st = Store.open(tmp_path / "store")
    try:
        status, _job, trials = run_job(st, job_spec(
            "cpu", "ignored", train={"function": "objectives_for_tests.devices:where"},
            limits={"max_trials": 2, "max_parallel": 2, "gpus_per_trial": 0}))
    finally:
        st.close()
    assert status == "completed"
    assert {t.reports[-1].metrics["gpu"] for t in trials.values()} == {-1.0}
    assert {t.reports[-1].metrics["cuda"] for t in trials.values()} == {0.0}


def test_device_hours_per_device_type() -> None:
    slots = {"visible": ["0", "1", ""], "names": ["NVIDIA H200", "NVIDIA A100", "CPU"],
             "gpus_per_trial": 2.0}
    hours = device_hours_by_type([(3600.0, "pid 1 slot 0"), (1800.0, "pid 2 slot 1"),
                                  (7200.0, "pid 3 slot 2"), (0.0, None)], slots)
    assert hours == {"CPU": 2.0, "NVIDIA A100": 1.0, "NVIDIA H200": 2.0}
    assert device_hours_by_type([(3600.0, "pid 1 slot 0")], None) == {"unrecorded": 1.0}


def test_thread_env_sleeps_waiting_threads_unless_the_user_chose(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.devices import thread_env

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert thread_env(3) == {"OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3",
                             "OMP_WAIT_POLICY": "PASSIVE"}
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # inherited by the workers as it is
    assert "OMP_WAIT_POLICY" not in thread_env(3)
