"""The segment runner works over any channel: here an in-memory one, no process, no pipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunelab.executors.base import SegmentSpec
from tunelab.executors.messages import Ended, Failed, Finished, Reply, Reported, Started
from tunelab.executors.runner import run_segment
from tunelab.objectives.function import FunctionObjective
from tunelab.trial import Decision


def three_steps(params: dict[str, Any], trial: Any) -> float:
    for step in range(1, 4):
        trial.report(step=step, loss=float(params["x"]) / step)
    return float(params["x"]) / 3


def broken(params: dict[str, Any], trial: Any) -> float:
    raise ValueError("bad x")


class ListChannel:
    """Records what the runner sends; answers each report with the next scripted decision."""

    def __init__(self, trial_id: int, decisions: list[Decision]) -> None:
        self.trial_id = trial_id
        self.decisions = decisions
        self.sent: list[Any] = []

    def send(self, msg: Any) -> None:
        self.sent.append(msg)

    def recv(self) -> Any:
        return Reply(self.trial_id, self.decisions.pop(0))


def _segment(tmp_path: Path, fn: str) -> SegmentSpec:
    return SegmentSpec(trial_id=7, number=1, attempt=1, segment=0, params={"x": 6.0},
                       objective=FunctionObjective(f"{__name__}:{fn}"), metric="loss",
                       checkpoint_dir=str(tmp_path))


def test_runner_sends_typed_messages_and_obeys_replies(tmp_path: Path) -> None:
    ch = ListChannel(7, [Decision.cont()] * 3)
    last = run_segment(_segment(tmp_path, "three_steps"), ch)
    assert isinstance(ch.sent[0], Started)
    reports = [m for m in ch.sent if isinstance(m, Reported)]
    assert [(r.step, dict(r.metrics)) for r in reports] == [
        (1, {"loss": 6.0}), (2, {"loss": 3.0}), (3, {"loss": 2.0})]
    assert last is ch.sent[-1] and isinstance(last, Finished)
    assert (last.value, last.seen) == (2.0, ("loss",))


def test_runner_ends_the_segment_on_a_pause(tmp_path: Path) -> None:
    ch = ListChannel(7, [Decision.cont(), Decision.pause("rung")])
    last = run_segment(_segment(tmp_path, "three_steps"), ch)
    assert isinstance(last, Ended) and last.action == "pause"
    assert sum(isinstance(m, Reported) for m in ch.sent) == 2


def test_runner_reports_a_failure_as_a_message(tmp_path: Path) -> None:
    ch = ListChannel(7, [])
    last = run_segment(_segment(tmp_path, "broken"), ch)
    assert isinstance(last, Failed) and last.error == "ValueError: bad x"
    assert "Traceback" in last.traceback
