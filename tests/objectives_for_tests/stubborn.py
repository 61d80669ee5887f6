"""A command that resists being stopped, and the three ways an executor stops it, for the tests
of ``tests/objectives/test_command_stop.py`` (local executor) and
``tests/on_ray/test_ray_command_stop.py`` (Ray actors).

The command records the SIGTERM it gets in a marker file and then refuses to exit, and its own
child ignores SIGTERM: only a SIGKILL to the command's process group ends them both."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tunelab.executors.base import Event, EventKind, Executor, SegmentSpec
from tunelab.objectives.command import CommandObjective, MetricRegex
from tunelab.trial import Action, Decision

STUBBORN = r'''
import os, signal, subprocess, sys, time
marker = sys.argv[1]
child = subprocess.Popen([sys.executable, "-c",
                          "import signal, time\n"
                          "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                          "time.sleep(300)"])
def on_term(*_):
    with open(marker + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    os.replace(marker + ".tmp", marker)
signal.signal(signal.SIGTERM, on_term)   # noted, and ignored: only SIGKILL ends it
print("loss=1.0", flush=True)
while True:
    time.sleep(0.05)
'''


def stubborn_segment(tmp: Path, trial_id: int = 1) -> tuple[SegmentSpec, Path]:
    script = tmp / "stubborn.py"
    script.write_text(STUBBORN)
    marker = tmp / f"sigterm-{trial_id}"
    obj = CommandObjective(argv=(sys.executable, str(script), str(marker)),
                           metrics=(MetricRegex("loss", r"loss=([0-9.]+)"),))
    seg = SegmentSpec(trial_id=trial_id, number=trial_id, attempt=1, segment=0, params={},
                      objective=obj, metric="loss", checkpoint_dir=str(tmp / f"t{trial_id}"))
    return seg, marker


def wait_for(ex: Executor, kinds: set[EventKind], limit: float = 120.0) -> Event:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for ev in ex.poll(0.2):
            if ev.kind in kinds:
                return ev
    pytest.fail(f"no {sorted(k.value for k in kinds)} event within {limit} s")


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def assert_killed(marker: Path, limit: float = 20.0) -> None:
    """The command got SIGTERM (its marker), then it and its child died (SIGKILL)."""
    deadline = time.monotonic() + limit
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the command never got SIGTERM"
    pids = [int(p) for p in marker.read_text().split()]
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in pids), f"still running after the grace: {pids}"


def stop_by_executor(ex: Executor, trial_id: int) -> None:
    ex.stop(trial_id, "stopped")
    assert wait_for(ex, {EventKind.STOPPED}).trial_id == trial_id


def stop_by_scheduler(ex: Executor, trial_id: int) -> None:
    ex.reply(trial_id, Decision(Action.STOP, "the scheduler stopped it"))
    assert wait_for(ex, {EventKind.ENDED}).trial_id == trial_id


def stop_by_shutdown(ex: Executor, trial_id: int) -> None:
    ex.shutdown()


STOPS: dict[str, Callable[[Executor, int], None]] = {
    "job stop": stop_by_executor, "scheduler stop": stop_by_scheduler,
    "tuner shutdown": stop_by_shutdown}


def run_and_stop(ex: Executor, tmp: Path, how: str) -> Path:
    seg, marker = stubborn_segment(tmp)
    ex.start(seg)
    assert wait_for(ex, {EventKind.REPORT}).trial_id == seg.trial_id  # the command runs
    STOPS[how](ex, seg.trial_id)
    return marker
