"""The executor contract (``tests/contracts/test_executor_contract.py``) on the Ray executor:
reports wait for replies, PAUSE ends the segment, ``stop`` stops it, the slot is freed.

The contract's test functions are loaded from its file and collected here, where the
``executor`` fixture is a :class:`RayExecutor` on the session's two-node cluster."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from on_ray.conftest import Cluster
from tunelab.executors.base import Executor

pytestmark = pytest.mark.slow


def _contract() -> Any:
    path = Path(__file__).resolve().parents[1] / "contracts" / "test_executor_contract.py"
    spec = importlib.util.spec_from_file_location("executor_contract_for_ray", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_c = _contract()
test_a_segment_reports_waits_for_replies_and_finishes = (
    _c.test_a_segment_reports_waits_for_replies_and_finishes)
test_a_pause_ends_the_segment_at_that_report = _c.test_a_pause_ends_the_segment_at_that_report
test_stop_ends_a_running_segment = _c.test_stop_ends_a_running_segment


@pytest.fixture
def executor(ray_cluster: Cluster) -> Iterator[Executor]:
    from tunelab.executors.ray_executor import RayExecutor

    ex = RayExecutor(ray_cluster.address, max_parallel=1, cpus_per_trial=1)
    try:
        yield ex
    finally:
        ex.shutdown()
