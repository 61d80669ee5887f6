"""What every executor must do (the local worker processes, the simulated clock; the Ray
executor runs these tests in ``tests/on_ray/test_ray_contract.py``, on a real cluster).

A segment's reports wait for the tuner's reply; CONTINUE lets it go on, PAUSE ends it
(ENDED); a segment that returns ends FINISHED with its value; ``stop`` ends it STOPPED; a slot
is busy from ``start`` to the segment's last event; the clock never goes back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tunelab.executors.base import Event, EventKind, Executor, SegmentSpec
from tunelab.executors.simulated import SimulatedExecutor, pure_curve
from tunelab.objectives.function import FunctionObjective
from tunelab.trial import Decision

EPOCHS = 3
ENDINGS = {EventKind.FINISHED, EventKind.ENDED, EventKind.STOPPED, EventKind.FAILED,
           EventKind.TIMED_OUT}


def _local() -> Executor:
    from tunelab.executors.local import LocalExecutor

    return LocalExecutor(1, threads=1, grace=2.0)


def _simulated() -> Executor:
    return SimulatedExecutor(1, pure_curve(lambda p, s: {"loss": float(p["x"]) / s}),
                             max_steps=None)


EXECUTORS: dict[str, Callable[[], Executor]] = {"local": _local, "simulated": _simulated}


@pytest.fixture(params=sorted(EXECUTORS))
def executor(request: pytest.FixtureRequest) -> Iterator[Executor]:
    ex = EXECUTORS[str(request.param)]()
    try:
        yield ex
    finally:
        ex.shutdown()


def segment(tmp: Path, trial_id: int, *, sleep: float = 0.0) -> SegmentSpec:
    return SegmentSpec(trial_id=trial_id, number=trial_id, attempt=1, segment=0,
                       params={"x": 6.0, "epochs": EPOCHS, "sleep": sleep},
                       objective=FunctionObjective("objectives_for_tests.fns:steps"),
                       metric="loss", checkpoint_dir=str(tmp / f"t{trial_id}"))


def drive(ex: Executor, trial_id: int, answer: Callable[[Event], Decision],
          limit: float = 120.0, until: EventKind | None = None) -> list[Event]:
    """Poll until the segment's last event, replying to each report with ``answer``; with
    ``until``, return at the first event of that kind instead, unanswered."""
    events: list[Event] = []
    clock = ex.now()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for ev in ex.poll(0.2):
            assert ev.trial_id == trial_id
            assert ex.now() >= clock
            clock = ex.now()
            events.append(ev)
            if ev.kind is until:
                return events
            if ev.kind is EventKind.REPORT:
                ex.reply(trial_id, answer(ev))
            if ev.kind in ENDINGS:
                return events
    pytest.fail(f"no ending event within {limit} s; got {[e.kind for e in events]}")


def test_a_segment_reports_waits_for_replies_and_finishes(executor: Executor,
                                                          tmp_path: Path) -> None:
    assert executor.slots == 1 and executor.free_slots() == 1
    executor.start(segment(tmp_path, 1))
    assert executor.free_slots() == 0
    events = drive(executor, 1, lambda ev: Decision.cont())
    reports = [e for e in events if e.kind is EventKind.REPORT]
    assert [(e.step, dict(e.metrics)) for e in reports] == [
        (s, {"loss": 6.0 / s}) for s in range(1, EPOCHS + 1)]
    assert events[-1].kind is EventKind.FINISHED and events[-1].value == 6.0 / EPOCHS
    assert executor.free_slots() == 1


def test_a_pause_ends_the_segment_at_that_report(executor: Executor, tmp_path: Path) -> None:
    executor.start(segment(tmp_path, 2))
    events = drive(executor, 2, lambda ev: Decision.pause("rung") if ev.step == 2
                   else Decision.cont())
    assert [e.step for e in events if e.kind is EventKind.REPORT] == [1, 2]
    assert events[-1].kind is EventKind.ENDED
    assert executor.free_slots() == 1


def test_stop_ends_a_running_segment(executor: Executor, tmp_path: Path) -> None:
    executor.start(segment(tmp_path, 3, sleep=0.5))
    first = drive(executor, 3, lambda ev: Decision.cont(), until=EventKind.REPORT)
    executor.reply(3, Decision.cont())
    executor.stop(3, "stopped by the user")  # as the tuner does: after replying, in its loop
    events = first + drive(executor, 3, lambda ev: Decision.cont())
    assert events[-1].kind in (EventKind.STOPPED, EventKind.FINISHED)  # FINISHED if it raced
    assert executor.free_slots() == 1
