"""A command objective's child on a Ray actor is signalled before the actor is killed: SIGTERM
to its process group, SIGKILL after the executor's grace — on a job stop, a scheduler's STOP
and the tuner's shutdown (the actor's death alone would leave the child, which runs in a
session of its own, alive on the node)."""

from __future__ import annotations

from pathlib import Path

import pytest
from objectives_for_tests.stubborn import STOPS, assert_killed, run_and_stop

from on_ray.conftest import Cluster

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("how", sorted(STOPS))
def test_a_stopped_command_gets_sigterm_then_sigkill_in_a_ray_actor(
        ray_cluster: Cluster, tmp_path: Path, how: str) -> None:
    from tunelab.executors.ray_executor import RayExecutor

    ex = RayExecutor(ray_cluster.address, max_parallel=1, cpus_per_trial=1, grace=1.0)
    try:
        marker = run_and_stop(ex, tmp_path, how)
        assert_killed(marker)
    finally:
        ex.shutdown()
