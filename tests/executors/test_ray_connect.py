"""``connect``'s handling of a failed ``ray.init`` (no cluster needed: a stand-in ``ray``)."""

from __future__ import annotations

from typing import Any

import pytest

from tunelab.errors import ClusterError
from tunelab.executors import ray_cluster


class FakeRay:
    """``ray.init`` fails with the given errors in turn, then succeeds."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.inits = 0
        self.shutdowns = 0

    def is_initialized(self) -> bool:
        return False

    def init(self, **_kw: Any) -> None:
        self.inits += 1
        if self.errors:
            raise self.errors.pop(0)

    def shutdown(self) -> None:
        self.shutdowns += 1


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    def use(*errors: BaseException) -> FakeRay:
        ray = FakeRay(*errors)
        monkeypatch.setattr(ray_cluster, "import_ray", lambda: ray)
        monkeypatch.setattr(ray_cluster, "gcs_reachable", lambda _hostport: True)
        monkeypatch.setattr("tunelab.executors.ray_cluster.time.sleep", lambda _s: None)
        return ray
    return use


def test_a_half_set_up_driver_is_reset_and_tried_again(fake: Any) -> None:
    ray = fake(AssertionError())  # Ray's own: its key-value client not initialised
    assert ray_cluster.connect("127.0.0.1:6380") is True
    assert ray.inits == 2 and ray.shutdowns == 1


def test_the_cluster_s_answer_is_one_line_at_once(fake: Any) -> None:
    ray = fake(ConnectionError("could not connect to the GCS\nmore"))
    with pytest.raises(ClusterError, match=r"no Ray cluster at '127.0.0.1:6380' \(could not "
                                           r"connect to the GCS\)"):
        ray_cluster.connect("127.0.0.1:6380")
    assert ray.inits == 1 and ray.shutdowns == 1  # reset, not retried


def test_a_race_twice_is_refused_in_one_line(fake: Any) -> None:
    ray = fake(AssertionError(), AssertionError())
    with pytest.raises(ClusterError, match="AssertionError"):
        ray_cluster.connect("127.0.0.1:6380")
    assert ray.inits == ray_cluster.CONNECT_ATTEMPTS
