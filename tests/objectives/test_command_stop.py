"""A stopped trial's command is signalled: SIGTERM to its process group, then SIGKILL after
the grace period — on a job stop (``executor.stop``), a scheduler's STOP decision and the
tuner's shutdown, on the local executor (``tests/on_ray/test_ray_command_stop.py``: on Ray
actors). The command (:mod:`objectives_for_tests.stubborn`) notes its SIGTERM in a marker file
and refuses to exit, and its child ignores SIGTERM: only the group's SIGKILL ends them."""

from __future__ import annotations

from pathlib import Path

import pytest
from objectives_for_tests.stubborn import STOPS, assert_killed, run_and_stop


@pytest.mark.parametrize("how", sorted(STOPS))
def test_a_stopped_command_gets_sigterm_then_sigkill_on_the_local_executor(
        tmp_path: Path, how: str) -> None:
    from tunelab.executors.local import LocalExecutor

    ex = LocalExecutor(1, threads=1, grace=1.5)  # the command's grace: 1.2 s
    try:
        marker = run_and_stop(ex, tmp_path, how)
        assert_killed(marker)
    finally:
        ex.shutdown()
